/*
 * Unit tests for gateway/gw_ircmsg.c: the IRC line parser, the serializer
 * and the UTF-8 helpers.
 *
 * The tables below carry the public test vectors of ircdocs/parser-tests
 * (tests/msg-split.yaml and tests/msg-join.yaml, CC0), the examples of the
 * Modern IRC document (modern.ircdocs.horse, "Message Format") and of the
 * IRCv3 message-tags specification. The YAML strings are written as C
 * literals; YAML and C share the \\ \n \r \t escapes, and a YAML "\x03"
 * followed by a hex digit is split into two C literals so that C does not
 * read the digit into the escape.
 */
#include "gw_ircmsg.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#define NPARAMS (GW_IRC_PARAMS_MAX + 1)
#define NTAGS   8
#define OUT_MAX (GW_IRC_WIRE_MAX + 1)

struct kv {
    const char *key;
    const char *value;
};

/* One parsed line: params and tags end at the first NULL. */
struct split_vec {
    const char *input;
    const char *source;
    const char *verb;
    const char *params[NPARAMS];
    struct kv tags[NTAGS];
};

/* ircdocs/parser-tests tests/msg-split.yaml */
static const struct split_vec msg_split[] = {
    {.input = "foo bar baz asdf",
     .verb = "foo",
     .params = {"bar", "baz", "asdf"}},
    {.input = ":coolguy foo bar baz asdf",
     .source = "coolguy",
     .verb = "foo",
     .params = {"bar", "baz", "asdf"}},
    {.input = "foo bar baz :asdf quux",
     .verb = "foo",
     .params = {"bar", "baz", "asdf quux"}},
    {.input = "foo bar baz :", .verb = "foo", .params = {"bar", "baz", ""}},
    {.input = "foo bar baz ::asdf",
     .verb = "foo",
     .params = {"bar", "baz", ":asdf"}},
    {.input = ":coolguy foo bar baz :asdf quux",
     .source = "coolguy",
     .verb = "foo",
     .params = {"bar", "baz", "asdf quux"}},
    {.input = ":coolguy foo bar baz :  asdf quux ",
     .source = "coolguy",
     .verb = "foo",
     .params = {"bar", "baz", "  asdf quux "}},
    {.input = ":coolguy PRIVMSG bar :lol :) ",
     .source = "coolguy",
     .verb = "PRIVMSG",
     .params = {"bar", "lol :) "}},
    {.input = ":coolguy foo bar baz :",
     .source = "coolguy",
     .verb = "foo",
     .params = {"bar", "baz", ""}},
    {.input = ":coolguy foo bar baz :  ",
     .source = "coolguy",
     .verb = "foo",
     .params = {"bar", "baz", "  "}},
    {.input = "@a=b;c=32;k;rt=ql7 foo",
     .verb = "foo",
     .tags = {{"a", "b"}, {"c", "32"}, {"k", ""}, {"rt", "ql7"}}},
    {.input = "@a=b\\\\and\\nk;c=72\\s45;d=gh\\:764 foo",
     .verb = "foo",
     .tags = {{"a", "b\\and\nk"}, {"c", "72 45"}, {"d", "gh;764"}}},
    {.input = "@c;h=;a=b :quux ab cd",
     .source = "quux",
     .verb = "ab",
     .params = {"cd"},
     .tags = {{"c", ""}, {"h", ""}, {"a", "b"}}},
    {.input = ":src JOIN #chan",
     .source = "src",
     .verb = "JOIN",
     .params = {"#chan"}},
    {.input = ":src JOIN :#chan",
     .source = "src",
     .verb = "JOIN",
     .params = {"#chan"}},
    {.input = ":src AWAY", .source = "src", .verb = "AWAY"},
    {.input = ":src AWAY ", .source = "src", .verb = "AWAY"},
    {.input = ":cool\tguy foo bar baz",
     .source = "cool\tguy",
     .verb = "foo",
     .params = {"bar", "baz"}},
    {.input = ":coolguy!ag@net\x03"
              "5w\x03"
              "ork.admin PRIVMSG foo :bar baz",
     .source = "coolguy!ag@net\x03"
               "5w\x03"
               "ork.admin",
     .verb = "PRIVMSG",
     .params = {"foo", "bar baz"}},
    {.input = ":coolguy!~ag@n\x02"
              "et\x03"
              "05w\x0f"
              "ork.admin PRIVMSG foo :bar baz",
     .source = "coolguy!~ag@n\x02"
               "et\x03"
               "05w\x0f"
               "ork.admin",
     .verb = "PRIVMSG",
     .params = {"foo", "bar baz"}},
    {.input = "@tag1=value1;tag2;vendor1/tag3=value2;vendor2/tag4= "
              ":irc.example.com COMMAND param1 param2 :param3 param3",
     .source = "irc.example.com",
     .verb = "COMMAND",
     .params = {"param1", "param2", "param3 param3"},
     .tags = {{"tag1", "value1"},
              {"tag2", ""},
              {"vendor1/tag3", "value2"},
              {"vendor2/tag4", ""}}},
    {.input = ":irc.example.com COMMAND param1 param2 :param3 param3",
     .source = "irc.example.com",
     .verb = "COMMAND",
     .params = {"param1", "param2", "param3 param3"}},
    {.input = "@tag1=value1;tag2;vendor1/tag3=value2;vendor2/tag4 COMMAND "
              "param1 param2 :param3 param3",
     .verb = "COMMAND",
     .params = {"param1", "param2", "param3 param3"},
     .tags = {{"tag1", "value1"},
              {"tag2", ""},
              {"vendor1/tag3", "value2"},
              {"vendor2/tag4", ""}}},
    {.input = "COMMAND", .verb = "COMMAND"},
    {.input = "@foo=\\\\\\\\\\:\\\\s\\s\\r\\n COMMAND",
     .verb = "COMMAND",
     .tags = {{"foo", "\\\\;\\s \r\n"}}},
    {.input = ":gravel.mozilla.org 432  #momo :Erroneous Nickname: Illegal "
              "characters",
     .source = "gravel.mozilla.org",
     .verb = "432",
     .params = {"#momo", "Erroneous Nickname: Illegal characters"}},
    {.input = ":gravel.mozilla.org MODE #tckk +n ",
     .source = "gravel.mozilla.org",
     .verb = "MODE",
     .params = {"#tckk", "+n"}},
    {.input = ":services.esper.net MODE #foo-bar +o foobar  ",
     .source = "services.esper.net",
     .verb = "MODE",
     .params = {"#foo-bar", "+o", "foobar"}},
    {.input = "@tag1=value\\\\ntest COMMAND",
     .verb = "COMMAND",
     .tags = {{"tag1", "value\\ntest"}}},
    {.input = "@tag1=value\\1 COMMAND",
     .verb = "COMMAND",
     .tags = {{"tag1", "value1"}}},
    {.input = "@tag1=value1\\ COMMAND",
     .verb = "COMMAND",
     .tags = {{"tag1", "value1"}}},
    {.input = "@tag1=1;tag2=3;tag3=4;tag1=5 COMMAND",
     .verb = "COMMAND",
     .tags = {{"tag1", "5"}, {"tag2", "3"}, {"tag3", "4"}}},
    {.input = "@tag1=1;tag2=3;tag3=4;tag1=5;vendor/tag2=8 COMMAND",
     .verb = "COMMAND",
     .tags =
         {{"tag1", "5"}, {"tag2", "3"}, {"tag3", "4"}, {"vendor/tag2", "8"}}},
    {.input = ":SomeOp MODE #channel :+i",
     .source = "SomeOp",
     .verb = "MODE",
     .params = {"#channel", "+i"}},
    {.input = ":SomeOp MODE #channel +oo SomeUser :AnotherUser",
     .source = "SomeOp",
     .verb = "MODE",
     .params = {"#channel", "+oo", "SomeUser", "AnotherUser"}},
};

/*
 * Modern IRC, "Message Format": the complete example messages and the
 * parameter examples. The two tag examples are shown there as bare tag
 * sections; a command is appended here so that they are whole lines.
 */
static const struct split_vec modern[] = {
    {.input = ":irc.example.com CAP LS * :multi-prefix extended-join sasl",
     .source = "irc.example.com",
     .verb = "CAP",
     .params = {"LS", "*", "multi-prefix extended-join sasl"}},
    {.input = "@id=234AB :dan!d@localhost PRIVMSG #chan :Hey what's up!",
     .source = "dan!d@localhost",
     .verb = "PRIVMSG",
     .params = {"#chan", "Hey what's up!"},
     .tags = {{"id", "234AB"}}},
    {.input = "CAP REQ :sasl", .verb = "CAP", .params = {"REQ", "sasl"}},
    {.input = "@id=123AB;rose TAGMSG #chan",
     .verb = "TAGMSG",
     .params = {"#chan"},
     .tags = {{"id", "123AB"}, {"rose", ""}}},
    {.input = "@url=;netsplit=tur,ty TAGMSG #chan",
     .verb = "TAGMSG",
     .params = {"#chan"},
     .tags = {{"url", ""}, {"netsplit", "tur,ty"}}},
    {.input = ":irc.example.com CAP * LIST :",
     .source = "irc.example.com",
     .verb = "CAP",
     .params = {"*", "LIST", ""}},
    {.input = "CAP * LS :multi-prefix sasl",
     .verb = "CAP",
     .params = {"*", "LS", "multi-prefix sasl"}},
    {.input = "CAP REQ :sasl message-tags foo",
     .verb = "CAP",
     .params = {"REQ", "sasl message-tags foo"}},
    {.input = ":dan!d@localhost PRIVMSG #chan :Hey!",
     .source = "dan!d@localhost",
     .verb = "PRIVMSG",
     .params = {"#chan", "Hey!"}},
    {.input = ":dan!d@localhost PRIVMSG #chan Hey!",
     .source = "dan!d@localhost",
     .verb = "PRIVMSG",
     .params = {"#chan", "Hey!"}},
    {.input = ":dan!d@localhost PRIVMSG #chan ::-)",
     .source = "dan!d@localhost",
     .verb = "PRIVMSG",
     .params = {"#chan", ":-)"}},
};

/* IRCv3 message-tags specification, "Examples". */
static const struct split_vec msgtags[] = {
    {.input = ":nick!ident@host.com PRIVMSG me :Hello",
     .source = "nick!ident@host.com",
     .verb = "PRIVMSG",
     .params = {"me", "Hello"}},
    {.input = "@aaa=bbb;ccc;example.com/ddd=eee :nick!ident@host.com PRIVMSG "
              "me :Hello",
     .source = "nick!ident@host.com",
     .verb = "PRIVMSG",
     .params = {"me", "Hello"},
     .tags = {{"aaa", "bbb"}, {"ccc", ""}, {"example.com/ddd", "eee"}}},
    {.input = "@example-tag=example-value PRIVMSG #channel :Message",
     .verb = "PRIVMSG",
     .params = {"#channel", "Message"},
     .tags = {{"example-tag", "example-value"}}},
    {.input = "@+example-client-tag=example-value PRIVMSG #channel :Message",
     .verb = "PRIVMSG",
     .params = {"#channel", "Message"},
     .tags = {{"+example-client-tag", "example-value"}}},
    {.input = ":nick!user@example.com PRIVMSG #channel "
              ":https://example.com/a-news-story",
     .source = "nick!user@example.com",
     .verb = "PRIVMSG",
     .params = {"#channel", "https://example.com/a-news-story"}},
    {.input = "@+icon=https://example.com/favicon.png "
              ":url_bot!bot@example.com PRIVMSG #channel :Example.com: A "
              "News Story",
     .source = "url_bot!bot@example.com",
     .verb = "PRIVMSG",
     .params = {"#channel", "Example.com: A News Story"},
     .tags = {{"+icon", "https://example.com/favicon.png"}}},
    {.input = "@+example.com/foo=bar :irc.example.com NOTICE #channel :A "
              "vendor-prefixed client-only tagged message",
     .source = "irc.example.com",
     .verb = "NOTICE",
     .params = {"#channel", "A vendor-prefixed client-only tagged message"},
     .tags = {{"+example.com/foo", "bar"}}},
    {.input = "@+example=raw+:=,escaped\\:\\s\\\\ :irc.example.com NOTICE "
              "#channel :Message",
     .source = "irc.example.com",
     .verb = "NOTICE",
     .params = {"#channel", "Message"},
     .tags = {{"+example", "raw+:=,escaped; \\"}}},
    {.input = "@+example-client-tag=example-value TAGMSG #channel",
     .verb = "TAGMSG",
     .params = {"#channel"},
     .tags = {{"+example-client-tag", "example-value"}}},
    {.input = "@+example-client-tag=example-value TAGMSG @#channel",
     .verb = "TAGMSG",
     .params = {"@#channel"},
     .tags = {{"+example-client-tag", "example-value"}}},
    {.input = "@label=123;+example-client-tag=example-value TAGMSG #channel",
     .verb = "TAGMSG",
     .params = {"#channel"},
     .tags = {{"label", "123"}, {"+example-client-tag", "example-value"}}},
    {.input = "@label=123;msgid=abc;+example-client-tag=example-value "
              ":nick!user@example.com TAGMSG #channel",
     .source = "nick!user@example.com",
     .verb = "TAGMSG",
     .params = {"#channel"},
     .tags = {{"label", "123"},
              {"msgid", "abc"},
              {"+example-client-tag", "example-value"}}},
    {.input = "@msgid=abc;+example-client-tag=example-value "
              ":nick!user@example.com TAGMSG #channel",
     .source = "nick!user@example.com",
     .verb = "TAGMSG",
     .params = {"#channel"},
     .tags = {{"msgid", "abc"}, {"+example-client-tag", "example-value"}}},
    {.input = "@unknown-tag TAGMSG #channel",
     .verb = "TAGMSG",
     .params = {"#channel"},
     .tags = {{"unknown-tag", ""}}},
    {.input = ":server.example.com 417 nick :Input line was too long",
     .source = "server.example.com",
     .verb = "417",
     .params = {"nick", "Input line was too long"}},
};

/* ircdocs/parser-tests tests/msg-join.yaml: atoms and accepted lines. */
struct join_vec {
    const char *desc;
    const char *source;
    const char *verb;
    const char *params[NPARAMS];
    struct kv tags[NTAGS];
    const char *matches[5];
};

static const struct join_vec msg_join[] = {
    {.desc = "Simple test with verb and params.",
     .verb = "foo",
     .params = {"bar", "baz", "asdf"},
     .matches = {"foo bar baz asdf", "foo bar baz :asdf"}},
    {.desc = "Simple test with source and no params.",
     .source = "src",
     .verb = "AWAY",
     .matches = {":src AWAY"}},
    {.desc = "Simple test with source and empty trailing param.",
     .source = "src",
     .verb = "AWAY",
     .params = {""},
     .matches = {":src AWAY :"}},
    {.desc = "Simple test with source.",
     .source = "coolguy",
     .verb = "foo",
     .params = {"bar", "baz", "asdf"},
     .matches = {":coolguy foo bar baz asdf", ":coolguy foo bar baz :asdf"}},
    {.desc = "Simple test with trailing param.",
     .verb = "foo",
     .params = {"bar", "baz", "asdf quux"},
     .matches = {"foo bar baz :asdf quux"}},
    {.desc = "Simple test with empty trailing param.",
     .verb = "foo",
     .params = {"bar", "baz", ""},
     .matches = {"foo bar baz :"}},
    {.desc = "Simple test with trailing param containing colon.",
     .verb = "foo",
     .params = {"bar", "baz", ":asdf"},
     .matches = {"foo bar baz ::asdf"}},
    {.desc = "Test with source and trailing param.",
     .source = "coolguy",
     .verb = "foo",
     .params = {"bar", "baz", "asdf quux"},
     .matches = {":coolguy foo bar baz :asdf quux"}},
    {.desc = "Test with trailing containing beginning+end whitespace.",
     .source = "coolguy",
     .verb = "foo",
     .params = {"bar", "baz", "  asdf quux "},
     .matches = {":coolguy foo bar baz :  asdf quux "}},
    {.desc = "Test with trailing containing what looks like another "
             "trailing param.",
     .source = "coolguy",
     .verb = "PRIVMSG",
     .params = {"bar", "lol :) "},
     .matches = {":coolguy PRIVMSG bar :lol :) "}},
    {.desc = "Simple test with source and empty trailing.",
     .source = "coolguy",
     .verb = "foo",
     .params = {"bar", "baz", ""},
     .matches = {":coolguy foo bar baz :"}},
    {.desc = "Trailing contains only spaces.",
     .source = "coolguy",
     .verb = "foo",
     .params = {"bar", "baz", "  "},
     .matches = {":coolguy foo bar baz :  "}},
    {.desc = "Param containing tab (tab is not considered SPACE for message "
             "splitting).",
     .source = "coolguy",
     .verb = "foo",
     .params = {"b\tar", "baz"},
     .matches = {":coolguy foo b\tar baz", ":coolguy foo b\tar :baz"}},
    {.desc = "Tag with empty value and space-filled trailing.",
     .source = "coolguy",
     .verb = "foo",
     .params = {"bar", "baz", "  "},
     .tags = {{"asd", ""}},
     .matches = {"@asd :coolguy foo bar baz :  ",
                 "@asd= :coolguy foo bar baz :  "}},
    {.desc = "Tag with no value and space-filled trailing.",
     .source = "coolguy",
     .verb = "foo",
     .params = {"bar", "baz", "  "},
     .tags = {{"asd", ""}},
     .matches = {"@asd :coolguy foo bar baz :  "}},
    {.desc = "Tags with escaped values.",
     .verb = "foo",
     .tags = {{"a", "b\\and\nk"}, {"d", "gh;764"}},
     .matches = {"@a=b\\\\and\\nk;d=gh\\:764 foo",
                 "@d=gh\\:764;a=b\\\\and\\nk foo"}},
    {.desc = "Tags with escaped values and params.",
     .verb = "foo",
     .params = {"par1", "par2"},
     .tags = {{"a", "b\\and\nk"}, {"d", "gh;764"}},
     .matches = {"@a=b\\\\and\\nk;d=gh\\:764 foo par1 par2",
                 "@a=b\\\\and\\nk;d=gh\\:764 foo par1 :par2",
                 "@d=gh\\:764;a=b\\\\and\\nk foo par1 par2",
                 "@d=gh\\:764;a=b\\\\and\\nk foo par1 :par2"}},
    {.desc = "Tag with long, strange values (including LF and newline).",
     .verb = "COMMAND",
     .tags = {{"foo", "\\\\;\\s \r\n"}},
     .matches = {"@foo=\\\\\\\\\\:\\\\s\\s\\r\\n COMMAND"}},
};

/* ---- helpers ---------------------------------------------------------- */

/*
 * Parse a copy of s[0..len) in a heap buffer of exactly len + 1 bytes, so
 * that ASan sees any access past the NUL the parser writes. The caller
 * frees *buf.
 */
static int parse_n(struct gw_irc_msg *m, const char *s, size_t len, char **buf)
{
    *buf = malloc(len + 1);
    ck_assert_ptr_nonnull(*buf);
    memcpy(*buf, s, len);
    (*buf)[len] = 'Z'; /* must be overwritten by the parser */
    return gw_ircmsg_parse(m, *buf, len);
}

static int parse_str(struct gw_irc_msg *m, const char *s, char **buf)
{
    return parse_n(m, s, strlen(s), buf);
}

/* Parse s and return only the result code. */
static int parse_rc(const char *s)
{
    struct gw_irc_msg m;
    char *buf;
    int rc = parse_str(&m, s, &buf);

    free(buf);
    return rc;
}

static int count_params(const char *const *p)
{
    int n = 0;

    while (n < NPARAMS && p[n] != NULL) {
        n++;
    }
    return n;
}

static int count_tags(const struct kv *t)
{
    int n = 0;

    while (n < NTAGS && t[n].key != NULL) {
        n++;
    }
    return n;
}

static void check_atoms(const struct gw_irc_msg *m, const char *what,
                        const char *source, const char *verb,
                        const char *const *params, const struct kv *tags)
{
    int np = count_params(params);
    int nt = count_tags(tags);

    if (source == NULL) {
        ck_assert_msg(m->prefix == NULL, "%s: unexpected source '%s'", what,
                      m->prefix);
    } else {
        ck_assert_msg(m->prefix != NULL && strcmp(m->prefix, source) == 0,
                      "%s: source '%s', want '%s'", what,
                      m->prefix ? m->prefix : "(null)", source);
    }
    ck_assert_msg(m->command != NULL && strcmp(m->command, verb) == 0,
                  "%s: verb '%s', want '%s'", what,
                  m->command ? m->command : "(null)", verb);
    ck_assert_msg(m->nparams == np, "%s: %d params, want %d", what, m->nparams,
                  np);
    for (int i = 0; i < np; i++) {
        ck_assert_msg(strcmp(m->params[i], params[i]) == 0,
                      "%s: param %d '%s', want '%s'", what, i, m->params[i],
                      params[i]);
    }
    ck_assert_msg(m->ntags == nt, "%s: %d tags, want %d", what, m->ntags, nt);
    for (int i = 0; i < nt; i++) {
        const char *v = gw_ircmsg_tag(m, tags[i].key);

        ck_assert_msg(v != NULL && strcmp(v, tags[i].value) == 0,
                      "%s: tag %s='%s', want '%s'", what, tags[i].key,
                      v ? v : "(missing)", tags[i].value);
    }
}

/* Two messages are the same message (tags in the same order); b was
 * parsed, so its trailing flag says whether the last param had a ':'. */
static void check_same(const struct gw_irc_msg *a, const struct gw_irc_msg *b,
                       bool trailing, const char *what)
{
    ck_assert_msg((a->prefix == NULL) == (b->prefix == NULL), "%s: prefix",
                  what);
    if (a->prefix != NULL) {
        ck_assert_str_eq(a->prefix, b->prefix);
    }
    ck_assert_str_eq(a->command, b->command);
    ck_assert_int_eq(a->nparams, b->nparams);
    for (int i = 0; i < a->nparams; i++) {
        ck_assert_str_eq(a->params[i], b->params[i]);
    }
    ck_assert_msg(b->trailing == trailing, "%s: trailing flag", what);
    ck_assert_int_eq(a->ntags, b->ntags);
    for (int i = 0; i < a->ntags; i++) {
        ck_assert_str_eq(a->tags[i].key, b->tags[i].key);
        ck_assert_str_eq(a->tags[i].value, b->tags[i].value);
    }
}

/* Whether format must write the last param with a ':'. */
static bool needs_colon(const struct gw_irc_msg *m)
{
    const char *last;

    if (m->nparams == 0) {
        return false;
    }
    last = m->params[m->nparams - 1];
    return m->trailing || last[0] == '\0' || last[0] == ':' ||
           strchr(last, ' ') != NULL;
}

/* format(m), check the framing, parse it back and compare. */
static void check_round_trip(const struct gw_irc_msg *m, const char *what)
{
    char out[OUT_MAX];
    struct gw_irc_msg back;
    char *buf;
    int n = gw_ircmsg_format(out, sizeof(out), m);

    ck_assert_msg(n > 2, "%s: format returned %d", what, n);
    ck_assert_int_eq((int)strlen(out), n);
    ck_assert_msg(out[n - 2] == '\r' && out[n - 1] == '\n', "%s: no CRLF",
                  what);
    ck_assert_ptr_null(memchr(out, '\r', (size_t)n - 2));
    ck_assert_ptr_null(memchr(out, '\n', (size_t)n - 2));
    ck_assert_int_eq(parse_n(&back, out, (size_t)n - 2, &buf), 0);
    check_same(m, &back, needs_colon(m), what);
    free(buf);
}

static void check_split(const struct split_vec *v, const char *origin)
{
    struct gw_irc_msg m;
    char *buf;
    char what[600];
    int rc = parse_str(&m, v->input, &buf);

    snprintf(what, sizeof(what), "%s: %s", origin, v->input);
    ck_assert_msg(rc == 0, "%s: rc %d", what, rc);
    check_atoms(&m, what, v->source, v->verb, v->params, v->tags);
    check_round_trip(&m, what);
    free(buf);
}

/* A heap string of n copies of c. */
static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);

    ck_assert_ptr_nonnull(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* Concatenate up to four strings into a new heap string. */
static char *cat(const char *a, const char *b, const char *c, const char *d)
{
    const char *parts[4] = {a, b, c, d};
    size_t n = 0;
    char *s;

    for (int i = 0; i < 4; i++) {
        n += parts[i] ? strlen(parts[i]) : 0;
    }
    s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    n = 0;
    for (int i = 0; i < 4; i++) {
        if (parts[i] != NULL) {
            size_t k = strlen(parts[i]);

            memcpy(s + n, parts[i], k);
            n += k;
        }
    }
    s[n] = '\0';
    return s;
}

/* ---- vector tables ---------------------------------------------------- */

START_TEST(test_vec_msg_split)
{
    check_split(&msg_split[_i], "msg-split");
}
END_TEST

START_TEST(test_vec_modern)
{
    check_split(&modern[_i], "modern");
}
END_TEST

START_TEST(test_vec_msgtags)
{
    check_split(&msgtags[_i], "message-tags");
}
END_TEST

START_TEST(test_vec_msg_join)
{
    const struct join_vec *v = &msg_join[_i];
    struct gw_irc_msg m;
    char out[OUT_MAX];
    int n;
    bool found = false;

    memset(&m, 0, sizeof(m));
    m.prefix = v->source;
    m.command = v->verb;
    m.nparams = count_params(v->params);
    for (int i = 0; i < m.nparams; i++) {
        m.params[i] = v->params[i];
    }
    m.ntags = count_tags(v->tags);
    for (int i = 0; i < m.ntags; i++) {
        m.tags[i].key = v->tags[i].key;
        m.tags[i].value = v->tags[i].value;
    }
    n = gw_ircmsg_format(out, sizeof(out), &m);
    ck_assert_msg(n > 2, "%s: format returned %d", v->desc, n);
    ck_assert_msg(strcmp(out + n - 2, "\r\n") == 0, "%s: no CRLF", v->desc);
    out[n - 2] = '\0';
    for (int i = 0; i < 5 && v->matches[i] != NULL; i++) {
        found = found || strcmp(out, v->matches[i]) == 0;
    }
    ck_assert_msg(found, "%s: '%s' matches none", v->desc, out);

    /* Every accepted form must also parse back to the atoms. */
    for (int i = 0; i < 5 && v->matches[i] != NULL; i++) {
        struct gw_irc_msg p;
        char *buf;

        ck_assert_int_eq(parse_str(&p, v->matches[i], &buf), 0);
        check_atoms(&p, v->matches[i], v->source, v->verb, v->params, v->tags);
        free(buf);
    }
}
END_TEST

/* ---- parser ----------------------------------------------------------- */

START_TEST(test_parse_tag_forms)
{
    struct gw_irc_msg m;
    char *buf;

    ck_assert_int_eq(parse_str(&m, "@a;b=;c=d;e=f=g PING x", &buf), 0);
    ck_assert_int_eq(m.ntags, 4);
    ck_assert_str_eq(m.tags[0].key, "a");
    ck_assert_str_eq(m.tags[0].value, "");
    ck_assert_str_eq(m.tags[1].key, "b");
    ck_assert_str_eq(m.tags[1].value, "");
    ck_assert_str_eq(m.tags[2].value, "d");
    /* Only the first '=' separates: the rest belongs to the value. */
    ck_assert_str_eq(gw_ircmsg_tag(&m, "e"), "f=g");
    ck_assert_ptr_null(gw_ircmsg_tag(&m, "f"));
    ck_assert_ptr_null(gw_ircmsg_tag(&m, "A"));
    ck_assert_ptr_null(gw_ircmsg_tag(NULL, "a"));
    ck_assert_ptr_null(gw_ircmsg_tag(&m, NULL));
    ck_assert_str_eq(m.command, "PING");
    free(buf);
}
END_TEST

START_TEST(test_parse_tag_escapes)
{
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"@t=a\\:b PING", "a;b"},
        {"@t=a\\sb PING", "a b"},
        {"@t=a\\\\b PING", "a\\b"},
        {"@t=a\\rb PING", "a\rb"},
        {"@t=a\\nb PING", "a\nb"},
        {"@t=\\x\\y\\; PING", "xy"}, /* ';' ends the tag: "\" then */
        {"@t=\\a\\b\\= PING", "ab="},
        {"@t=end\\ PING", "end"},
        {"@t=\\ PING", ""},
        {"@t=\\\\\\ PING", "\\"},
        {"@t=\\\\s PING", "\\s"},
        {"@t=\\s\\s\\:\\:\\s PING", "  ;; "},
        {"@t=\xc3\xa9\\\xc3\xa9 PING", "\xc3\xa9\xc3\xa9"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct gw_irc_msg m;
        char *buf;

        ck_assert_int_eq(parse_str(&m, cases[i].in, &buf), 0);
        ck_assert_msg(strcmp(gw_ircmsg_tag(&m, "t"), cases[i].want) == 0,
                      "%s: got '%s'", cases[i].in, gw_ircmsg_tag(&m, "t"));
        free(buf);
    }
}
END_TEST

START_TEST(test_parse_tag_duplicates)
{
    struct gw_irc_msg m;
    char *buf;

    ck_assert_int_eq(parse_str(&m, "@a=1;b=2;a=3;a;+a=4;a=5 PING", &buf), 0);
    ck_assert_int_eq(m.ntags, 3);
    /* The first position is kept, the last value wins. */
    ck_assert_str_eq(m.tags[0].key, "a");
    ck_assert_str_eq(m.tags[0].value, "5");
    ck_assert_str_eq(gw_ircmsg_tag(&m, "b"), "2");
    /* A client-only tag is a different key from the plain one. */
    ck_assert_str_eq(gw_ircmsg_tag(&m, "+a"), "4");
    free(buf);

    /* A repeated key can also end up empty. */
    ck_assert_int_eq(parse_str(&m, "@a=1;a PING", &buf), 0);
    ck_assert_int_eq(m.ntags, 1);
    ck_assert_str_eq(gw_ircmsg_tag(&m, "a"), "");
    free(buf);
}
END_TEST

START_TEST(test_parse_tag_client_vendor)
{
    struct gw_irc_msg m;
    char *buf;

    ck_assert_int_eq(
        parse_str(&m,
                  "@+draft/reply=a3;example.com/key=v;+example.com/k2;"
                  "xn--e1afmkfd.org/foo=1;time=2026-11-25T19:40:00.000Z "
                  ":n!u@h PRIVMSG #c :hi",
                  &buf),
        0);
    ck_assert_int_eq(m.ntags, 5);
    ck_assert_str_eq(gw_ircmsg_tag(&m, "+draft/reply"), "a3");
    ck_assert_str_eq(gw_ircmsg_tag(&m, "example.com/key"), "v");
    ck_assert_str_eq(gw_ircmsg_tag(&m, "+example.com/k2"), "");
    ck_assert_str_eq(gw_ircmsg_tag(&m, "xn--e1afmkfd.org/foo"), "1");
    ck_assert_str_eq(gw_ircmsg_tag(&m, "time"), "2026-11-25T19:40:00.000Z");
    /* Keys are opaque: no lookup by the part after the vendor. */
    ck_assert_ptr_null(gw_ircmsg_tag(&m, "key"));
    ck_assert_ptr_null(gw_ircmsg_tag(&m, "draft/reply"));
    free(buf);
}
END_TEST

START_TEST(test_parse_tag_bad_keys_skipped)
{
    struct gw_irc_msg m;
    char *buf;

    /* Empty entries, empty keys and keys outside [+][A-Za-z0-9./-] are
     * skipped; the message itself stands (message-tags forbids rejecting
     * a message for its tag names). */
    ck_assert_int_eq(parse_str(&m,
                               "@;;=v;+;+=x;a_b=1;k\xc3\xa9=2;a\\b=3;"
                               "a!=4;ok=1; PING x",
                               &buf),
                     0);
    ck_assert_int_eq(m.ntags, 1);
    ck_assert_str_eq(m.tags[0].key, "ok");
    ck_assert_str_eq(m.tags[0].value, "1");
    ck_assert_str_eq(m.command, "PING");
    free(buf);

    /* An empty tag section is no tags. */
    ck_assert_int_eq(parse_str(&m, "@ PING x", &buf), 0);
    ck_assert_int_eq(m.ntags, 0);
    ck_assert_str_eq(m.params[0], "x");
    free(buf);
}
END_TEST

START_TEST(test_parse_tag_section_limit)
{
    struct gw_irc_msg m;
    char *buf;
    /* '@' + "a=" + value + ' ' == GW_IRC_TAGS_MAX exactly. */
    size_t vlen = GW_IRC_TAGS_MAX - 4;
    char *val = repeat('x', vlen);
    char *line = cat("@a=", val, " PING :x", NULL);

    ck_assert_int_eq(parse_str(&m, line, &buf), 0);
    ck_assert_uint_eq(strlen(gw_ircmsg_tag(&m, "a")), vlen);
    ck_assert_str_eq(m.command, "PING");
    free(buf);
    free(line);
    free(val);

    /* One byte over. */
    val = repeat('x', vlen + 1);
    line = cat("@a=", val, " PING :x", NULL);
    ck_assert_int_eq(parse_rc(line), GW_IRCMSG_ETAGS);
    free(line);

    /* Over, and no space at all. */
    line = cat("@a=", val, NULL, NULL);
    ck_assert_int_eq(parse_rc(line), GW_IRCMSG_ETAGS);
    free(line);
    free(val);

    /* Within the limit but no command after it. */
    val = repeat('x', vlen - 1);
    line = cat("@a=", val, NULL, NULL);
    ck_assert_int_eq(parse_rc(line), GW_IRCMSG_ENOCMD);
    free(line);
    free(val);

    /* Escapes count as sent: 8191 bytes of "\s" pairs, unescaped to half. */
    val = repeat('s', vlen);
    for (size_t i = 0; i + 1 < vlen; i += 2) {
        val[i] = '\\';
    }
    line = cat("@a=", val, " PING", NULL);
    ck_assert_int_eq(parse_str(&m, line, &buf), 0);
    ck_assert_uint_eq(strlen(gw_ircmsg_tag(&m, "a")), (vlen + 1) / 2);
    free(buf);
    free(line);
    free(val);
}
END_TEST

/* "@t0;t1;...;t<n-1> PING" */
static char *many_tags(int n, const char *extra)
{
    char *s = malloc((size_t)n * 8 + 64 + (extra ? strlen(extra) : 0));
    size_t len = 0;

    ck_assert_ptr_nonnull(s);
    s[len++] = '@';
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(s + len, 8, "%st%d", i ? ";" : "", i);
    }
    if (extra != NULL) {
        memcpy(s + len, extra, strlen(extra));
        len += strlen(extra);
    }
    memcpy(s + len, " PING", 6);
    return s;
}

START_TEST(test_parse_tag_count)
{
    struct gw_irc_msg m;
    char *buf;
    char *line = many_tags(GW_IRC_TAG_COUNT_MAX, NULL);

    ck_assert_int_eq(parse_str(&m, line, &buf), 0);
    ck_assert_int_eq(m.ntags, GW_IRC_TAG_COUNT_MAX);
    ck_assert_str_eq(m.tags[GW_IRC_TAG_COUNT_MAX - 1].key, "t63");
    free(buf);
    free(line);

    line = many_tags(GW_IRC_TAG_COUNT_MAX + 1, NULL);
    ck_assert_int_eq(parse_rc(line), GW_IRCMSG_ETAGS);
    free(line);

    /* Repeats do not take a slot of their own. */
    line = many_tags(GW_IRC_TAG_COUNT_MAX, ";t0=again;t5;t0=last");
    ck_assert_int_eq(parse_str(&m, line, &buf), 0);
    ck_assert_int_eq(m.ntags, GW_IRC_TAG_COUNT_MAX);
    ck_assert_str_eq(gw_ircmsg_tag(&m, "t0"), "last");
    free(buf);
    free(line);

    /* The IRCv3 example of a client sending 5000 tags. */
    line = many_tags(5000, NULL);
    ck_assert_int_eq(parse_rc(line), GW_IRCMSG_ETAGS);
    free(line);
}
END_TEST

START_TEST(test_parse_missing_command)
{
    static const char *const nocmd[] = {
        ":prefix",   ":prefix   ", ":",           "@a=b",    "@a=b   ", "@a :p",
        "@",         "@ ",         ":p :x",       "PRIV1 x", "12",      "1234",
        "12a",       "PRIV-MSG",   "\303\204B x", /* U+00C4 is not an ASCII
                                                     letter */
        "  @a PING", ":p 0x1",     "PRIV_MSG x"};

    for (size_t i = 0; i < sizeof(nocmd) / sizeof(nocmd[0]); i++) {
        ck_assert_msg(parse_rc(nocmd[i]) == GW_IRCMSG_ENOCMD, "'%s' gave %d",
                      nocmd[i], parse_rc(nocmd[i]));
    }
    ck_assert_int_eq(parse_rc(""), GW_IRCMSG_EEMPTY);
    ck_assert_int_eq(parse_rc(" "), GW_IRCMSG_EEMPTY);
    ck_assert_int_eq(parse_rc("      "), GW_IRCMSG_EEMPTY);
}
END_TEST

START_TEST(test_parse_commands)
{
    static const char *const ok[] = {"001",     "432",     "999",
                                     "000",     "PRIVMSG", "privmsg",
                                     "PrivMsg", "a",       "TAGMSG"};

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct gw_irc_msg m;
        char *buf;

        ck_assert_int_eq(parse_str(&m, ok[i], &buf), 0);
        /* Case is preserved; the dispatcher compares case-insensitively. */
        ck_assert_str_eq(m.command, ok[i]);
        ck_assert_int_eq(m.nparams, 0);
        ck_assert(!m.trailing);
        free(buf);
    }
}
END_TEST

START_TEST(test_parse_spaces)
{
    struct gw_irc_msg m;
    char *buf;

    ck_assert_int_eq(parse_str(&m, "PRIVMSG   #a    b   :c  d ", &buf), 0);
    ck_assert_int_eq(m.nparams, 3);
    ck_assert_str_eq(m.params[0], "#a");
    ck_assert_str_eq(m.params[1], "b");
    ck_assert_str_eq(m.params[2], "c  d ");
    ck_assert(m.trailing);
    free(buf);

    /* Leading spaces before the prefix or command are skipped. */
    ck_assert_int_eq(parse_str(&m, "   PING x", &buf), 0);
    ck_assert_str_eq(m.command, "PING");
    ck_assert_str_eq(m.params[0], "x");
    ck_assert_ptr_null(m.prefix);
    free(buf);
    ck_assert_int_eq(parse_str(&m, "  :src   NOTICE  x ", &buf), 0);
    ck_assert_str_eq(m.prefix, "src");
    ck_assert_str_eq(m.command, "NOTICE");
    ck_assert_int_eq(m.nparams, 1);
    ck_assert(!m.trailing);
    free(buf);
    ck_assert_int_eq(parse_str(&m, "@a=1    :src  PING  ", &buf), 0);
    ck_assert_str_eq(m.prefix, "src");
    ck_assert_int_eq(m.nparams, 0);
    free(buf);

    /* Only SPACE separates; tabs and other whitespace are data. */
    ck_assert_int_eq(parse_str(&m, "PING a\tb\vc", &buf), 0);
    ck_assert_int_eq(m.nparams, 1);
    ck_assert_str_eq(m.params[0], "a\tb\vc");
    free(buf);
}
END_TEST

START_TEST(test_parse_trailing)
{
    struct gw_irc_msg m;
    char *buf;

    ck_assert_int_eq(parse_str(&m, "PRIVMSG #c ::a :b: c :", &buf), 0);
    ck_assert_int_eq(m.nparams, 2);
    ck_assert_str_eq(m.params[1], ":a :b: c :");
    ck_assert(m.trailing);
    free(buf);

    ck_assert_int_eq(parse_str(&m, "PRIVMSG #c :", &buf), 0);
    ck_assert_int_eq(m.nparams, 2);
    ck_assert_str_eq(m.params[1], "");
    ck_assert(m.trailing);
    free(buf);

    ck_assert_int_eq(parse_str(&m, "PRIVMSG #c:x y:z", &buf), 0);
    ck_assert_int_eq(m.nparams, 2);
    ck_assert_str_eq(m.params[0], "#c:x");
    ck_assert_str_eq(m.params[1], "y:z");
    ck_assert(!m.trailing);
    free(buf);

    /* An empty prefix is an empty string, not an absent one. */
    ck_assert_int_eq(parse_str(&m, ": PING", &buf), 0);
    ck_assert_ptr_nonnull(m.prefix);
    ck_assert_str_eq(m.prefix, "");
    free(buf);
    ck_assert_int_eq(parse_str(&m, "::x PING", &buf), 0);
    ck_assert_str_eq(m.prefix, ":x");
    free(buf);
}
END_TEST

/* "CMD p1 ... pn" followed by tail. */
static char *many_params(int n, const char *tail)
{
    char *s = malloc((size_t)n * 5 + 16 + strlen(tail));
    size_t len = 3;

    ck_assert_ptr_nonnull(s);
    memcpy(s, "CMD", 3);
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(s + len, 6, " p%d", i + 1);
    }
    memcpy(s + len, tail, strlen(tail) + 1);
    return s;
}

START_TEST(test_parse_param_count)
{
    static const struct {
        int middles;
        const char *tail;
        int rc;
        int nparams;
    } cases[] = {
        {15, "", 0, 15},
        {15, "    ", 0, 15},
        {14, " :last one", 0, 15},
        {14, " :", 0, 15},
        {16, "", GW_IRCMSG_EPARAMS, 0},
        {15, " :x", GW_IRCMSG_EPARAMS, 0},
        {15, " :", GW_IRCMSG_EPARAMS, 0},
        {15, " x", GW_IRCMSG_EPARAMS, 0},
        {40, "", GW_IRCMSG_EPARAMS, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct gw_irc_msg m;
        char *buf;
        char *line = many_params(cases[i].middles, cases[i].tail);

        ck_assert_msg(parse_str(&m, line, &buf) == cases[i].rc, "%s", line);
        ck_assert_int_eq(m.nparams, cases[i].nparams);
        if (cases[i].rc == 0) {
            ck_assert_str_eq(m.params[0], "p1");
            ck_assert_str_eq(m.params[13], "p14");
        }
        free(buf);
        free(line);
    }
}
END_TEST

START_TEST(test_parse_length)
{
    struct gw_irc_msg m;
    char *buf;
    const char *head = "PRIVMSG #c :";
    size_t fill = GW_IRC_LINE_MAX - 2 - strlen(head);
    char *text = repeat('x', fill);
    char *line = cat(head, text, NULL, NULL);
    char *tagged;

    ck_assert_uint_eq(strlen(line), 510);
    ck_assert_int_eq(parse_str(&m, line, &buf), 0);
    ck_assert_uint_eq(strlen(m.params[1]), fill);
    free(buf);

    /* The tag section does not count against the 510 bytes. */
    tagged = cat("@time=2026-11-25T19:40:00.000Z ", line, NULL, NULL);
    ck_assert_int_eq(parse_rc(tagged), 0);
    free(tagged);
    free(line);
    free(text);

    text = repeat('x', fill + 1);
    line = cat(head, text, NULL, NULL);
    ck_assert_int_eq(parse_rc(line), GW_IRCMSG_ETOOLONG);
    tagged = cat("@a=b ", line, NULL, NULL);
    ck_assert_int_eq(parse_rc(tagged), GW_IRCMSG_ETOOLONG);
    free(tagged);
    free(line);

    /* Leading spaces are part of the message part. */
    free(text);
    text = repeat('x', fill);
    line = cat(" ", head, text, NULL);
    ck_assert_int_eq(parse_rc(line), GW_IRCMSG_ETOOLONG);
    free(line);
    free(text);

    /* A maximal wire line: full tag section and full message part. */
    {
        char *val = repeat('v', GW_IRC_TAGS_MAX - 4);

        text = repeat('y', fill);
        line = cat("@a=", val, " ", head);
        tagged = cat(line, text, NULL, NULL);
        ck_assert_uint_eq(strlen(tagged), GW_IRC_WIRE_MAX - 2);
        ck_assert_int_eq(parse_str(&m, tagged, &buf), 0);
        ck_assert_uint_eq(strlen(m.params[1]), fill);
        free(buf);
        free(tagged);
        free(line);
        free(text);
        free(val);
    }

    /* Hostile sizes do not crash: 64 KiB of a single token. */
    text = repeat('A', 65536);
    ck_assert_int_eq(parse_rc(text), GW_IRCMSG_ETOOLONG);
    text[0] = '@';
    ck_assert_int_eq(parse_rc(text), GW_IRCMSG_ETAGS);
    text[0] = ':';
    ck_assert_int_eq(parse_rc(text), GW_IRCMSG_ETOOLONG);
    free(text);
}
END_TEST

START_TEST(test_parse_nul_and_crlf)
{
    static const struct {
        const char *s;
        size_t len;
    } cases[] = {
        {"\0PING", 5},     {"PI\0NG x", 7},   {"PING x\0", 7},
        {"@a=\0 PING", 9}, {"PING :a\0b", 9}, {"PING :a\rb", 9},
        {"PING :a\nb", 9}, {"PING x\r", 7},   {"\n", 1},
        {"\0", 1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct gw_irc_msg m;
        char *buf;

        ck_assert_msg(parse_n(&m, cases[i].s, cases[i].len, &buf) ==
                          GW_IRCMSG_ENUL,
                      "case %zu", i);
        free(buf);
    }
}
END_TEST

START_TEST(test_parse_in_place)
{
    struct gw_irc_msg m;
    char line[] = "@k=v\\sw :n!u@h PRIVMSG #c :hello there";
    char *end = line + sizeof(line);

    ck_assert_int_eq(gw_ircmsg_parse(&m, line, strlen(line)), 0);
    ck_assert(m.prefix >= line && m.prefix < end);
    ck_assert(m.command >= line && m.command < end);
    ck_assert(m.params[0] >= line && m.params[1] < end);
    ck_assert(m.tags[0].key >= line && m.tags[0].value < end);
    ck_assert_str_eq(m.tags[0].value, "v w");
}
END_TEST

START_TEST(test_parse_writes_nul_at_len)
{
    struct gw_irc_msg m;
    char line[] = "PING abcdef :rest";

    /* Only the first 6 bytes are the line; byte 6 becomes its NUL. */
    ck_assert_int_eq(gw_ircmsg_parse(&m, line, 6), 0);
    ck_assert_int_eq(line[6], '\0');
    ck_assert_int_eq(m.nparams, 1);
    ck_assert_str_eq(m.params[0], "a");
}
END_TEST

START_TEST(test_parse_error_resets)
{
    struct gw_irc_msg m;
    char *buf;

    ck_assert_int_eq(parse_str(&m, "@a=1 :p PRIVMSG #c :x", &buf), 0);
    free(buf);
    /* Fails after tags, prefix, command and 15 params were read. */
    ck_assert_int_eq(parse_str(&m,
                               "@a=1 :p CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 "
                               "14 15 16",
                               &buf),
                     GW_IRCMSG_EPARAMS);
    ck_assert_int_eq(m.ntags, 0);
    ck_assert_int_eq(m.nparams, 0);
    ck_assert_ptr_null(m.prefix);
    ck_assert_ptr_null(m.command);
    ck_assert(!m.trailing);
    free(buf);
}
END_TEST

START_TEST(test_parse_error_codes_distinct)
{
    const int codes[] = {GW_IRCMSG_EEMPTY, GW_IRCMSG_ETAGS,  GW_IRCMSG_ETOOLONG,
                         GW_IRCMSG_ENUL,   GW_IRCMSG_ENOCMD, GW_IRCMSG_EPARAMS};

    for (size_t i = 0; i < 6; i++) {
        ck_assert_int_lt(codes[i], 0);
        for (size_t j = i + 1; j < 6; j++) {
            ck_assert_int_ne(codes[i], codes[j]);
        }
    }
}
END_TEST

START_TEST(test_parse_invalid_utf8_is_not_an_error)
{
    struct gw_irc_msg m;
    char *buf;

    ck_assert_int_eq(
        parse_str(&m, "@t=\xff\xfe PRIVMSG #c :\xc0\x80\xed\xa0\x80", &buf), 0);
    ck_assert_str_eq(gw_ircmsg_tag(&m, "t"), "\xff\xfe");
    ck_assert(!gw_utf8_valid(m.params[1], strlen(m.params[1])));
    free(buf);
}
END_TEST

/* ---- escape and format ------------------------------------------------ */

START_TEST(test_escape_tag)
{
    char out[64];

    ck_assert_int_eq(gw_ircmsg_escape_tag(out, sizeof(out), "plain"), 5);
    ck_assert_str_eq(out, "plain");
    /* The message-tags example: raw+:=,escaped; \ */
    ck_assert_int_eq(
        gw_ircmsg_escape_tag(out, sizeof(out), "raw+:=,escaped; \\"), 20);
    ck_assert_str_eq(out, "raw+:=,escaped\\:\\s\\\\");
    ck_assert_int_eq(gw_ircmsg_escape_tag(out, sizeof(out), "\r\n"), 4);
    ck_assert_str_eq(out, "\\r\\n");
    ck_assert_int_eq(gw_ircmsg_escape_tag(out, sizeof(out), ""), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(gw_ircmsg_escape_tag(out, sizeof(out), NULL), 0);
    ck_assert_str_eq(out, "");

    /* "a b" escapes to 4 bytes: 5 are needed with the NUL. */
    ck_assert_int_eq(gw_ircmsg_escape_tag(out, 5, "a b"), 4);
    ck_assert_int_eq(gw_ircmsg_escape_tag(out, 4, "a b"), UV_ENOBUFS);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(gw_ircmsg_escape_tag(out, 1, "a"), UV_ENOBUFS);
    ck_assert_int_eq(gw_ircmsg_escape_tag(out, 1, ""), 0);
    ck_assert_int_eq(gw_ircmsg_escape_tag(NULL, 0, "a"), UV_ENOBUFS);
}
END_TEST

START_TEST(test_escape_round_trip_all_bytes)
{
    char value[256];
    char esc[600];
    char *line;
    struct gw_irc_msg m;
    char *buf;
    int n;

    for (int i = 1; i < 256; i++) {
        value[i - 1] = (char)i;
    }
    value[255] = '\0';
    n = gw_ircmsg_escape_tag(esc, sizeof(esc), value);
    ck_assert_int_eq(n, 255 + 5); /* five bytes get a backslash */
    ck_assert_ptr_null(strpbrk(esc, " ;\r\n"));
    line = cat("@k=", esc, " PING", NULL);
    ck_assert_int_eq(parse_str(&m, line, &buf), 0);
    ck_assert_str_eq(gw_ircmsg_tag(&m, "k"), value);
    free(buf);
    free(line);
}
END_TEST

static void msg_init(struct gw_irc_msg *m, const char *cmd)
{
    memset(m, 0, sizeof(*m));
    m->command = cmd;
}

static void add_param(struct gw_irc_msg *m, const char *p)
{
    m->params[m->nparams++] = p;
}

static void add_tag(struct gw_irc_msg *m, const char *k, const char *v)
{
    m->tags[m->ntags].key = k;
    m->tags[m->ntags++].value = v;
}

START_TEST(test_format_basic)
{
    struct gw_irc_msg m;
    char out[OUT_MAX];
    const char *want = "@time=2026-11-25T19:40:00.000Z;+draft/reply=a3;k;"
                       "n;e=a\\:b\\sc\\\\d\\r\\ne :nick!u@h PRIVMSG #chan "
                       ":hello world\r\n";

    msg_init(&m, "PRIVMSG");
    add_tag(&m, "time", "2026-11-25T19:40:00.000Z");
    add_tag(&m, "+draft/reply", "a3");
    add_tag(&m, "k", "");
    add_tag(&m, "n", NULL);
    add_tag(&m, "e", "a;b c\\d\r\ne");
    m.prefix = "nick!u@h";
    add_param(&m, "#chan");
    add_param(&m, "hello world");
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), (int)strlen(want));
    ck_assert_str_eq(out, want);

    msg_init(&m, "001");
    add_param(&m, "nick");
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), 10);
    ck_assert_str_eq(out, "001 nick\r\n");

    msg_init(&m, "PING");
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), 6);
    ck_assert_str_eq(out, "PING\r\n");
}
END_TEST

START_TEST(test_format_last_param_colon)
{
    static const struct {
        const char *last;
        bool trailing;
        const char *want;
    } cases[] = {
        {"hi", false, "PRIVMSG #c hi\r\n"},
        {"hi", true, "PRIVMSG #c :hi\r\n"},
        {"", false, "PRIVMSG #c :\r\n"},
        {"a b", false, "PRIVMSG #c :a b\r\n"},
        {" ", false, "PRIVMSG #c : \r\n"},
        {":)", false, "PRIVMSG #c ::)\r\n"},
        {"a:b", false, "PRIVMSG #c a:b\r\n"},
        {"a\tb", false, "PRIVMSG #c a\tb\r\n"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct gw_irc_msg m;
        char out[128];

        msg_init(&m, "PRIVMSG");
        add_param(&m, "#c");
        add_param(&m, cases[i].last);
        m.trailing = cases[i].trailing;
        ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m),
                         (int)strlen(cases[i].want));
        ck_assert_str_eq(out, cases[i].want);
        check_round_trip(&m, cases[i].want);
    }
}
END_TEST

START_TEST(test_format_invalid)
{
    struct gw_irc_msg m;
    char out[256];
    static const char *const bad_middle[] = {"a b", ":a", "", "a\r", "a\nb"};
    static const char *const bad_cmd[] = {"",     "PRIV MSG", "12",  "1234",
                                          "P1",   "PRIV\r",   "01a", " PING",
                                          "P-NG", "\xc3\x84"};
    static const char *const bad_key[] = {
        "", "+", "a b", "a=b", "a;b", "k\xc3\xa9", "a\\b", "a_b", "a\r"};

    for (size_t i = 0; i < sizeof(bad_middle) / sizeof(bad_middle[0]); i++) {
        msg_init(&m, "PRIVMSG");
        add_param(&m, bad_middle[i]);
        add_param(&m, "x");
        ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), UV_EINVAL);
    }
    for (size_t i = 0; i < sizeof(bad_cmd) / sizeof(bad_cmd[0]); i++) {
        msg_init(&m, bad_cmd[i]);
        ck_assert_msg(gw_ircmsg_format(out, sizeof(out), &m) == UV_EINVAL,
                      "command '%s'", bad_cmd[i]);
    }
    for (size_t i = 0; i < sizeof(bad_key) / sizeof(bad_key[0]); i++) {
        msg_init(&m, "PING");
        add_tag(&m, bad_key[i], "v");
        ck_assert_msg(gw_ircmsg_format(out, sizeof(out), &m) == UV_EINVAL,
                      "key '%s'", bad_key[i]);
    }

    /* CR or LF anywhere would start a new line on the wire. */
    msg_init(&m, "PRIVMSG");
    add_param(&m, "#c");
    add_param(&m, "hi\r\nQUIT :bye");
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), UV_EINVAL);
    m.params[1] = "hi\nthere";
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), UV_EINVAL);
    m.params[1] = "ok";
    m.prefix = "n!u@h\r\nQUIT";
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), UV_EINVAL);
    m.prefix = "n u";
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), UV_EINVAL);
    m.prefix = NULL;
    m.params[1] = NULL;
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), UV_EINVAL);
    m.params[1] = "ok";

    /* Counts out of range. */
    m.nparams = -1;
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), UV_EINVAL);
    m.nparams = GW_IRC_PARAMS_MAX + 1;
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), UV_EINVAL);
    m.nparams = 2;
    m.ntags = -1;
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), UV_EINVAL);
    m.ntags = GW_IRC_TAG_COUNT_MAX + 1;
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), UV_EINVAL);
    m.ntags = 1;
    m.tags[0].key = NULL;
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), UV_EINVAL);
    m.ntags = 0;
    m.command = NULL;
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), UV_EINVAL);
    ck_assert_int_eq(gw_ircmsg_format(NULL, 10, &m), UV_EINVAL);
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), NULL), UV_EINVAL);

    /* A middle param with tab or a colon inside is fine. */
    msg_init(&m, "PRIVMSG");
    add_param(&m, "a\tb:c");
    add_param(&m, "x");
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), 17);
    ck_assert_str_eq(out, "PRIVMSG a\tb:c x\r\n");
}
END_TEST

START_TEST(test_format_enobufs)
{
    struct gw_irc_msg m;
    char out[64];
    const char *want = "@a=b :p NOTICE x :y z\r\n";
    int n = (int)strlen(want);

    msg_init(&m, "NOTICE");
    add_tag(&m, "a", "b");
    m.prefix = "p";
    add_param(&m, "x");
    add_param(&m, "y z");
    for (int size = 0; size <= n; size++) {
        memset(out, 'Q', sizeof(out));
        ck_assert_int_eq(gw_ircmsg_format(out, (size_t)size, &m), UV_ENOBUFS);
        if (size > 0) {
            ck_assert_int_eq(out[0], '\0');
        }
        /* Nothing is written past size. */
        ck_assert_int_eq(out[size], 'Q');
    }
    ck_assert_int_eq(gw_ircmsg_format(out, (size_t)n + 1, &m), n);
    ck_assert_str_eq(out, want);
}
END_TEST

/* Format m and return the parsed result's last param (heap, freed by the
 * caller) after checking the message part is within 512 bytes. */
static char *format_and_last(const struct gw_irc_msg *m, int *wire_len)
{
    char out[OUT_MAX];
    int n = gw_ircmsg_format(out, sizeof(out), m);
    const char *msg = out;
    struct gw_irc_msg back;
    char *buf;
    char *last;

    ck_assert_int_gt(n, 0);
    *wire_len = n;
    if (out[0] == '@') {
        msg = strchr(out, ' ') + 1;
    }
    ck_assert_uint_le(strlen(msg), GW_IRC_LINE_MAX);
    ck_assert_int_eq(parse_n(&back, out, (size_t)n - 2, &buf), 0);
    ck_assert_int_eq(back.nparams, m->nparams);
    last = strdup(back.params[back.nparams - 1]);
    free(buf);
    return last;
}

START_TEST(test_format_truncate_ascii)
{
    /* "PRIVMSG #chan " is 14 bytes; a ':' costs one more. */
    static const struct {
        size_t len;  /* of the last param */
        size_t kept; /* of it after formatting */
        int wire;    /* bytes written */
    } cases[] = {
        {600, 495, 512}, /* cut, with ':' */
        {497, 495, 512}, /* one over without ':': cut, then ':' is due */
        {496, 496, 512}, /* exactly 510 without ':' */
        {495, 495, 511}, {0, 0, 17},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct gw_irc_msg m;
        char *text = repeat('a', cases[i].len);
        char *last;
        int n;

        msg_init(&m, "PRIVMSG");
        add_param(&m, "#chan");
        add_param(&m, text);
        last = format_and_last(&m, &n);
        ck_assert_int_eq(n, cases[i].wire);
        ck_assert_uint_eq(strlen(last), cases[i].kept);
        ck_assert_int_eq(strncmp(last, text, cases[i].kept), 0);
        free(last);
        free(text);
    }

    /* The tag section is extra; the prefix counts against the 512. */
    {
        struct gw_irc_msg m;
        char *text = repeat('a', 600);
        const char *tags = "@time=2026-11-25T19:40:00.000Z ";
        char *last;
        int n;

        msg_init(&m, "PRIVMSG");
        add_tag(&m, "time", "2026-11-25T19:40:00.000Z");
        m.prefix = "nick!user@host";
        add_param(&m, "#chan");
        add_param(&m, text);
        last = format_and_last(&m, &n);
        ck_assert_uint_eq(strlen(last), 495 - strlen(":nick!user@host "));
        ck_assert_int_eq(n, 512 + (int)strlen(tags));
        free(last);
        free(text);
    }
}
END_TEST

START_TEST(test_format_truncate_utf8)
{
    static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac",
                                        "\xf0\x9f\x98\x80"};

    for (size_t c = 0; c < 3; c++) {
        size_t clen = strlen(chars[c]);

        /* Shift the characters so the cut lands at every offset. */
        for (size_t shift = 0; shift < 4; shift++) {
            char text[1400];
            struct gw_irc_msg m;
            char *last;
            size_t len = shift;
            int n;

            memset(text, 'a', shift);
            while (len + clen < 1300) {
                memcpy(text + len, chars[c], clen);
                len += clen;
            }
            text[len] = '\0';
            msg_init(&m, "PRIVMSG");
            add_param(&m, "#chan");
            add_param(&m, text);
            last = format_and_last(&m, &n);
            ck_assert(gw_utf8_valid(last, strlen(last)));
            ck_assert_int_eq(strncmp(last, text, strlen(last)), 0);
            /* At most one partial character was given up. */
            ck_assert_int_le(n, 512);
            ck_assert_int_gt(n, 512 - (int)clen);
            free(last);
        }
    }
}
END_TEST

START_TEST(test_format_emsgsize)
{
    struct gw_irc_msg m;
    char out[OUT_MAX];
    /* 510 - strlen("PRIVMSG ") - strlen(" :") */
    char *big = repeat('x', 500);
    char *cmd = repeat('Q', 600);

    /* The middle params alone do not fit: nothing can be cut. */
    msg_init(&m, "PRIVMSG");
    add_param(&m, big);
    add_param(&m, big);
    add_param(&m, "last");
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), UV_EMSGSIZE);

    msg_init(&m, cmd);
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), UV_EMSGSIZE);
    msg_init(&m, "PING");
    m.prefix = cmd;
    add_param(&m, "x");
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), UV_EMSGSIZE);

    /* Room for " :" but not a single byte of text: an empty last param. */
    msg_init(&m, "PRIVMSG");
    add_param(&m, big);
    add_param(&m, "text");
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), 512);
    ck_assert_str_eq(out + 508, " :\r\n");
    free(big);
    free(cmd);
}
END_TEST

START_TEST(test_format_tag_budget)
{
    struct gw_irc_msg m;
    char out[OUT_MAX];
    struct gw_irc_msg back;
    char *buf;
    char *exact = repeat('x', GW_IRC_TAGS_MAX - 4);
    char *over = repeat('x', GW_IRC_TAGS_MAX - 3);
    char *big = repeat('b', 8000);
    char *mid = repeat('m', 200);
    int n;

    /* "@a=" value " " is exactly GW_IRC_TAGS_MAX bytes: kept. */
    msg_init(&m, "PING");
    add_tag(&m, "a", exact);
    n = gw_ircmsg_format(out, sizeof(out), &m);
    ck_assert_int_eq(n, GW_IRC_TAGS_MAX + 6);
    ck_assert_int_eq(out[GW_IRC_TAGS_MAX - 1], ' ');

    /* One byte more: dropped, and with it the whole section. */
    m.tags[0].value = over;
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), 6);
    ck_assert_str_eq(out, "PING\r\n");

    /* In order: a tag that does not fit is dropped, later ones may fit. */
    msg_init(&m, "PRIVMSG");
    add_tag(&m, "a", big);
    add_tag(&m, "b", mid);
    add_tag(&m, "c", "3");
    add_param(&m, "#c");
    add_param(&m, "hi");
    n = gw_ircmsg_format(out, sizeof(out), &m);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_le((size_t)(strchr(out, ' ') - out) + 1, GW_IRC_TAGS_MAX);
    ck_assert_int_eq(parse_n(&back, out, (size_t)n - 2, &buf), 0);
    ck_assert_int_eq(back.ntags, 2);
    ck_assert_str_eq(gw_ircmsg_tag(&back, "a"), big);
    ck_assert_ptr_null(gw_ircmsg_tag(&back, "b"));
    ck_assert_str_eq(gw_ircmsg_tag(&back, "c"), "3");
    free(buf);

    /* The budget is for escaped bytes: 4093 spaces escape to 8186. */
    free(mid);
    mid = repeat(' ', 4093);
    msg_init(&m, "PING");
    add_tag(&m, "a", mid);
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), 3 + 8186 + 1 + 6);
    free(mid);
    mid = repeat(' ', 4094);
    m.tags[0].value = mid;
    ck_assert_int_eq(gw_ircmsg_format(out, sizeof(out), &m), 6);

    /* Many tags: each fitting prefix is kept. */
    msg_init(&m, "PING");
    for (int i = 0; i < GW_IRC_TAG_COUNT_MAX; i++) {
        add_tag(&m, "k", big + 7800);
    }
    n = gw_ircmsg_format(out, sizeof(out), &m);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_le((size_t)(strchr(out, ' ') - out) + 1, GW_IRC_TAGS_MAX);

    free(exact);
    free(over);
    free(big);
    free(mid);
}
END_TEST

START_TEST(test_format_round_trip_built)
{
    struct gw_irc_msg m;
    char value[256];

    for (int i = 1; i < 256; i++) {
        value[i - 1] = (char)i;
    }
    value[255] = '\0';

    msg_init(&m, "PRIVMSG");
    add_tag(&m, "+draft/reply", "a3");
    add_tag(&m, "all", value);
    add_tag(&m, "empty", "");
    add_tag(&m, "x.example/y-z", "\\");
    m.prefix = "";
    for (int i = 0; i < GW_IRC_PARAMS_MAX - 1; i++) {
        add_param(&m, "p:q");
    }
    add_param(&m, " :lead, trail: ");
    check_round_trip(&m, "built");

    /* A cleared tag value reads back as empty (NULL is written bare). */
    msg_init(&m, "TAGMSG");
    add_tag(&m, "a", "1");
    add_param(&m, "#c");
    m.trailing = true;
    check_round_trip(&m, "trailing single param");
}
END_TEST

/* ---- UTF-8 ------------------------------------------------------------ */

static const struct {
    const char *s;
    size_t len;
    bool valid;
} utf8_cases[] = {
    {"", 0, true},
    {"ascii \x7f", 7, true},
    {"\0", 1, true},
    {"\xc2\x80", 2, true},         /* U+0080 */
    {"\xdf\xbf", 2, true},         /* U+07FF */
    {"\xe0\xa0\x80", 3, true},     /* U+0800 */
    {"\xed\x9f\xbf", 3, true},     /* U+D7FF */
    {"\xee\x80\x80", 3, true},     /* U+E000 */
    {"\xef\xbf\xbf", 3, true},     /* U+FFFF */
    {"\xf0\x90\x80\x80", 4, true}, /* U+10000 */
    {"\xf4\x8f\xbf\xbf", 4, true}, /* U+10FFFF */
    {"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, true},
    {"\xc0\x80", 2, false},         /* overlong NUL */
    {"\xc1\xbf", 2, false},         /* overlong */
    {"\xe0\x80\x80", 3, false},     /* overlong */
    {"\xe0\x9f\xbf", 3, false},     /* overlong U+07FF */
    {"\xf0\x8f\xbf\xbf", 4, false}, /* overlong U+FFFF */
    {"\xed\xa0\x80", 3, false},     /* U+D800 surrogate */
    {"\xed\xbf\xbf", 3, false},     /* U+DFFF surrogate */
    {"\xf4\x90\x80\x80", 4, false}, /* U+110000 */
    {"\xf5\x80\x80\x80", 4, false},
    {"\xf8\x88\x80\x80\x80", 5, false},
    {"\xff", 1, false},
    {"\xfe", 1, false},
    {"\x80", 1, false}, /* lone continuation */
    {"a\xbf", 2, false},
    {"\xc2", 1, false}, /* truncated */
    {"\xe2\x82", 2, false},
    {"\xf0\x9f\x98", 3, false},
    {"\xe2\x82x", 3, false},
    {"\xc2\xc2\x80", 3, false},
};

START_TEST(test_utf8_valid)
{
    ck_assert_msg(gw_utf8_valid(utf8_cases[_i].s, utf8_cases[_i].len) ==
                      utf8_cases[_i].valid,
                  "case %d", _i);
}
END_TEST

START_TEST(test_utf8_repair_tables)
{
    /* The Unicode Standard, chapter 3, "U+FFFD Substitution of Maximal
     * Subparts": Tables 3-8 to 3-11, and the example before them. */
#define R "\xef\xbf\xbd"
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64",
         "a" R R R "b" R "c" R R "d"},
        {"\xc0\xaf\xe0\x80\xbf\xf0\x81\x82\x41", R R R R R R R R "A"},
        {"\xed\xa0\x80\xed\xbf\xbf\xed\xaf\x41", R R R R R R R R "A"},
        {"\xf4\x91\x92\x93\xff\x41\x80\xbf\x42", R R R R R "A" R R "B"},
        {"\xe1\x80\xe2\xf0\x91\x92\xf1\xbf\x41", R R R R "A"},
        {"ok \xc3\xa9", "ok \xc3\xa9"},
        {"\xf4\x90\x80\x80", R R R R},
        {"tail\xf0\x9f\x98", "tail" R},
        {"\xe2\x82", R},
        {"\xc0\x80", R R},
    };
#undef R

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[64];
        size_t n =
            gw_utf8_repair(out, sizeof(out), cases[i].in, strlen(cases[i].in));

        ck_assert_msg(n == strlen(cases[i].want) &&
                          strcmp(out, cases[i].want) == 0,
                      "case %zu", i);
        ck_assert(gw_utf8_valid(out, n));
    }
}
END_TEST

START_TEST(test_utf8_repair_bounds)
{
    char out[16];
    const char *in = "ab\xc3\xa9\xff";
    const size_t inlen = 5;

    /* The output is cut at a character boundary, never mid-character. */
    memset(out, 'Q', sizeof(out));
    ck_assert_uint_eq(gw_utf8_repair(out, 4, in, inlen), 2);
    ck_assert_str_eq(out, "ab");
    ck_assert_int_eq(out[4], 'Q');
    ck_assert_uint_eq(gw_utf8_repair(out, 5, in, inlen), 4);
    ck_assert_str_eq(out, "ab\xc3\xa9");
    ck_assert_uint_eq(gw_utf8_repair(out, 7, in, inlen), 4);
    ck_assert_uint_eq(gw_utf8_repair(out, 8, in, inlen), 7);
    ck_assert_str_eq(out, "ab\xc3\xa9\xef\xbf\xbd");
    ck_assert_uint_eq(gw_utf8_repair(out, 1, in, inlen), 0);
    ck_assert_str_eq(out, "");
    memset(out, 'Q', sizeof(out));
    ck_assert_uint_eq(gw_utf8_repair(out, 0, in, inlen), 0);
    ck_assert_int_eq(out[0], 'Q');
    /* Only len bytes are read: no NUL needed in src. */
    ck_assert_uint_eq(gw_utf8_repair(out, sizeof(out), "abc", 2), 2);
    ck_assert_str_eq(out, "ab");
    /* An embedded NUL is a well-formed character and is kept. */
    ck_assert_uint_eq(gw_utf8_repair(out, sizeof(out), "a\0b", 3), 3);
    ck_assert_int_eq(memcmp(out, "a\0b", 4), 0);
}
END_TEST

static bool has_replacement(const char *s, size_t n)
{
    for (size_t i = 0; i + 3 <= n; i++) {
        if (memcmp(s + i, "\xef\xbf\xbd", 3) == 0) {
            return true;
        }
    }
    return false;
}

START_TEST(test_utf8_repair_valid_is_identity)
{
    char out[64];

    for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
        size_t n = gw_utf8_repair(out, sizeof(out), utf8_cases[i].s,
                                  utf8_cases[i].len);

        ck_assert(gw_utf8_valid(out, n));
        if (utf8_cases[i].valid) {
            ck_assert_uint_eq(n, utf8_cases[i].len);
            ck_assert_int_eq(memcmp(out, utf8_cases[i].s, n), 0);
        } else {
            ck_assert(has_replacement(out, n));
        }
    }
}
END_TEST

START_TEST(test_utf8_cut)
{
    /* "a" U+00E9 U+20AC U+1F600 "b": boundaries at 0 1 3 6 10 11. */
    const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"
                    "b";
    static const size_t want[] = {0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 11};

    for (size_t len = 0; len <= 11; len++) {
        ck_assert_msg(gw_utf8_cut(s, len) == want[len], "len %zu: %zu", len,
                      gw_utf8_cut(s, len));
    }
    /* Ill-formed tails are not "inside a character": nothing to cut. */
    ck_assert_uint_eq(gw_utf8_cut("a\x80", 2), 2);
    ck_assert_uint_eq(gw_utf8_cut("\x80\x80\x80\x80", 4), 4);
    ck_assert_uint_eq(gw_utf8_cut("a\xe0\x80", 3), 3);
    ck_assert_uint_eq(gw_utf8_cut("a\xed\xa0", 3), 3);
    ck_assert_uint_eq(gw_utf8_cut("a\xff", 2), 2);
    ck_assert_uint_eq(gw_utf8_cut("a\xf4\x90", 3), 3);
    /* Well-formed but unfinished sequences are cut. */
    ck_assert_uint_eq(gw_utf8_cut("a\xe0\xa0", 3), 1);
    ck_assert_uint_eq(gw_utf8_cut("a\xf4\x8f\xbf", 4), 1);
    ck_assert_uint_eq(gw_utf8_cut("\xc3", 1), 0);
    ck_assert_uint_eq(gw_utf8_cut("\xe2\x82\xac\xe2", 4), 3);
}
END_TEST

static Suite *ircmsg_suite(void)
{
    Suite *s = suite_create("ircmsg");
    TCase *vec = tcase_create("vectors");
    TCase *p = tcase_create("parse");
    TCase *f = tcase_create("format");
    TCase *u = tcase_create("utf8");

    tcase_add_loop_test(vec, test_vec_msg_split, 0,
                        (int)(sizeof(msg_split) / sizeof(msg_split[0])));
    tcase_add_loop_test(vec, test_vec_msg_join, 0,
                        (int)(sizeof(msg_join) / sizeof(msg_join[0])));
    tcase_add_loop_test(vec, test_vec_modern, 0,
                        (int)(sizeof(modern) / sizeof(modern[0])));
    tcase_add_loop_test(vec, test_vec_msgtags, 0,
                        (int)(sizeof(msgtags) / sizeof(msgtags[0])));
    suite_add_tcase(s, vec);

    tcase_add_test(p, test_parse_tag_forms);
    tcase_add_test(p, test_parse_tag_escapes);
    tcase_add_test(p, test_parse_tag_duplicates);
    tcase_add_test(p, test_parse_tag_client_vendor);
    tcase_add_test(p, test_parse_tag_bad_keys_skipped);
    tcase_add_test(p, test_parse_tag_section_limit);
    tcase_add_test(p, test_parse_tag_count);
    tcase_add_test(p, test_parse_missing_command);
    tcase_add_test(p, test_parse_commands);
    tcase_add_test(p, test_parse_spaces);
    tcase_add_test(p, test_parse_trailing);
    tcase_add_test(p, test_parse_param_count);
    tcase_add_test(p, test_parse_length);
    tcase_add_test(p, test_parse_nul_and_crlf);
    tcase_add_test(p, test_parse_in_place);
    tcase_add_test(p, test_parse_writes_nul_at_len);
    tcase_add_test(p, test_parse_error_resets);
    tcase_add_test(p, test_parse_error_codes_distinct);
    tcase_add_test(p, test_parse_invalid_utf8_is_not_an_error);
    suite_add_tcase(s, p);

    tcase_add_test(f, test_escape_tag);
    tcase_add_test(f, test_escape_round_trip_all_bytes);
    tcase_add_test(f, test_format_basic);
    tcase_add_test(f, test_format_last_param_colon);
    tcase_add_test(f, test_format_invalid);
    tcase_add_test(f, test_format_enobufs);
    tcase_add_test(f, test_format_truncate_ascii);
    tcase_add_test(f, test_format_truncate_utf8);
    tcase_add_test(f, test_format_emsgsize);
    tcase_add_test(f, test_format_tag_budget);
    tcase_add_test(f, test_format_round_trip_built);
    suite_add_tcase(s, f);

    tcase_add_loop_test(u, test_utf8_valid, 0,
                        (int)(sizeof(utf8_cases) / sizeof(utf8_cases[0])));
    tcase_add_test(u, test_utf8_repair_tables);
    tcase_add_test(u, test_utf8_repair_bounds);
    tcase_add_test(u, test_utf8_repair_valid_is_identity);
    tcase_add_test(u, test_utf8_cut);
    suite_add_tcase(s, u);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ircmsg_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
