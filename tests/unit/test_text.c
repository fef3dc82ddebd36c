#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>
#include <uv.h>

#include "gw_json.h"
#include "gw_text.h"
#include "gw_util.h"

/* Emoji and friends, spelt out so the source stays ASCII. */
#define FAMILY                                                                 \
    "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7" \
    "\xE2\x80\x8D\xF0\x9F\x91\xA6"
#define FLAG_FR     "\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7"
#define THUMBS_SKIN "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD"
#define GRIN        "\xF0\x9F\x98\x80"
#define NIHON       "\xE6\x97\xA5\xE6\x9C\xAC"
#define ACUTE       "\xCC\x81" /* U+0301 COMBINING ACUTE ACCENT */
#define E_ACUTE     "\xC3\xA9"
#define FFFD        "\xEF\xBF\xBD"
#define ELLIPSIS    "\xE2\x80\xA6"

/* Well-formed UTF-8, checked with utf8proc rather than our own decoder. */
static bool valid_utf8(const char *s)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    utf8proc_ssize_t len = (utf8proc_ssize_t)strlen(s);
    while (len > 0) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, len, &cp);
        if (n <= 0 || cp < 0)
            return false;
        p += n;
        len -= n;
    }
    return true;
}

/* What may reach an IRC line: no CR, NUL, C0 other than LF, DEL, C1. */
static bool irc_safe(const char *s)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    utf8proc_ssize_t len = (utf8proc_ssize_t)strlen(s);
    if (!valid_utf8(s))
        return false;
    while (len > 0) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, len, &cp);
        if ((cp < 0x20 && cp != '\n') || (cp >= 0x7F && cp <= 0x9F))
            return false;
        p += n;
        len -= n;
    }
    return true;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* ---- sanitize ---- */

static void check_sanitize(const char *in, size_t len, const char *want)
{
    char *out = gw_text_sanitize(in, len);
    ck_assert_str_eq(out, want);
    ck_assert(irc_safe(out));
    free(out);
}

START_TEST(sanitize_line_breaks)
{
    check_sanitize("\r\nPRIVMSG #x :pwned", 19, "\nPRIVMSG #x :pwned");
    check_sanitize("a\rb", 3, "a\nb");
    check_sanitize("a\r\nb", 4, "a\nb");
    check_sanitize("a\n\rb", 4, "a\n\nb");
    check_sanitize("a\r", 2, "a\n");
    check_sanitize("a\xE2\x80\xA8"
                   "b\xE2\x80\xA9"
                   "c",
                   9, "a\nb\nc");
}
END_TEST

START_TEST(sanitize_controls)
{
    check_sanitize("a\0b", 3, "ab");
    check_sanitize("\0", 1, "");
    check_sanitize("\x03"
                   "04red\x02"
                   "bold\x0f\x16\x1d\x1e\x1f\x11!",
                   18, "04redbold!");
    check_sanitize("a\tb", 3, "a b");
    check_sanitize("del\x7f!", 5, "del!");
    check_sanitize("\x01"
                   "ACTION x\x01",
                   10, "ACTION x");
    check_sanitize("\x1b[31mred", 8, "[31mred");
    /* C1: NEL and CSI, as UTF-8. */
    check_sanitize("a\xC2\x85"
                   "b\xC2\x9B"
                   "c\xC2\x80",
                   9, "abc");
    /* Just past C1 stays. */
    check_sanitize("\xC2\xA0", 2, "\xC2\xA0");
}
END_TEST

/* Explicit bidi embeddings, overrides (U+202A..E) and isolates
 * (U+2066..9) go; marks that only hint a direction (LRM, RLM) stay. */
START_TEST(sanitize_bidi)
{
    check_sanitize("a\xE2\x80\xAE"
                   "evil\xE2\x80\xAC"
                   "b",
                   13, "aevilb");
    check_sanitize("\xE2\x80\xAA\xE2\x80\xAB\xE2\x80\xAD", 9, "");
    check_sanitize("x\xE2\x81\xA6"
                   "y\xE2\x81\xA7\xE2\x81\xA8\xE2\x81\xA9"
                   "z",
                   15, "xyz");
    /* Neighbours and the marks are kept. */
    check_sanitize("\xE2\x80\xA9", 3, "\n");
    check_sanitize("\xE2\x80\xAF\xE2\x81\xA5\xE2\x81\xAA", 9,
                   "\xE2\x80\xAF\xE2\x81\xA5\xE2\x81\xAA");
    check_sanitize("\xE2\x80\x8E\xE2\x80\x8F", 6, "\xE2\x80\x8E\xE2\x80\x8F");
    char *n = gw_text_one_line("Bob \xE2\x80\xAE"
                               "dlrow");
    ck_assert_str_eq(n, "Bob dlrow");
    free(n);
}
END_TEST

START_TEST(sanitize_invalid_utf8)
{
    check_sanitize("a\xFF"
                   "b",
                   3, "a" FFFD "b");
    /* An overlong CR must not turn into CR. */
    check_sanitize("\xC0\x8D", 2, FFFD FFFD);
    check_sanitize("\xE0\x80\x8D", 3, FFFD FFFD FFFD);
    check_sanitize("\xF0\x80\x80\x8A", 4, FFFD FFFD FFFD FFFD);
    check_sanitize("\xC1\x8A", 2, FFFD FFFD);
    /* Surrogates, beyond U+10FFFF, truncated sequences. */
    check_sanitize("\xED\xA0\x80", 3, FFFD FFFD FFFD);
    check_sanitize("\xF4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD);
    check_sanitize("\xE2\x82", 2, FFFD);
    check_sanitize("\xE2\x82"
                   "a",
                   3, FFFD "a");
    check_sanitize("\xF0\x9F\x98", 3, FFFD);
    check_sanitize("\x80\x80", 2, FFFD FFFD);
    /* Length is honoured: a sequence cut by len is truncated. */
    check_sanitize(GRIN, 2, FFFD);
}
END_TEST

START_TEST(sanitize_keeps_text)
{
    const char *s = "h" E_ACUTE "llo " FAMILY " " NIHON " e" ACUTE " " FLAG_FR
                    " \xEF\xBB\xBF \xF4\x8F\xBF\xBF ~";
    check_sanitize(s, strlen(s), s);
    check_sanitize("", 0, "");
    char *out = gw_text_sanitize(NULL, 0);
    ck_assert_str_eq(out, "");
    free(out);
}
END_TEST

START_TEST(sanitize_random_bytes)
{
    static const unsigned char pool[] = {
        0x00, 0x01, 0x03, 0x09, 0x0A, 0x0D, 0x1F, 0x20, 0x41, 0x7F,
        0x80, 0x85, 0x8D, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF,
        0xE0, 0xE2, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF,
    };
    char in[64];
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = rng() % sizeof(in);
        for (size_t i = 0; i < len; i++)
            in[i] = (char)(rng() % 3 ? pool[rng() % sizeof(pool)] : rng());
        char *out = gw_text_sanitize(in, len);
        ck_assert(irc_safe(out));
        char *again = gw_text_sanitize(out, strlen(out));
        ck_assert_str_eq(again, out);
        free(again);
        free(out);
    }
}
END_TEST

/* ---- entities ---- */

static void check_decode(const char *in, const char *want)
{
    char *out = gw_text_decode_entities(in, strlen(in));
    ck_assert_str_eq(out, want);
    free(out);
}

START_TEST(entities_named)
{
    check_decode("&amp; &lt; &gt; &quot; &#39; &#x27; &apos; &nbsp;",
                 "& < > \" ' ' ' \xC2\xA0");
    check_decode("caf&eacute; &copy; &Auml;&yuml; &hellip;&euro;&mdash;",
                 "caf" E_ACUTE " \xC2\xA9 \xC3\x84\xC3\xBF " ELLIPSIS
                 "\xE2\x82\xAC\xE2\x80\x94");
    check_decode("AT&T &foo; &amp &; & ;&#; &#x; &AMP; &ampx;",
                 "AT&T &foo; &amp &; & ;&#; &#x; &AMP; &ampx;");
    check_decode("?a=1&copy=2", "?a=1&copy=2");
    check_decode("&&amp;&", "&&&");
    check_decode("", "");
    /* Only len bytes are read. */
    char *out = gw_text_decode_entities("&amp;", 3);
    ck_assert_str_eq(out, "&am");
    free(out);
    out = gw_text_decode_entities(NULL, 0);
    ck_assert_str_eq(out, "");
    free(out);
}
END_TEST

START_TEST(entities_numeric)
{
    check_decode("&#65;&#x42;&#X43;&#0000000068;", "ABCD");
    check_decode("&#x1F600;&#128512;", GRIN GRIN);
    check_decode("&#1114111;", "\xF4\x8F\xBF\xBF");
    /* Invalid references become U+FFFD, never a control or a surrogate. */
    check_decode("&#0;", FFFD);
    check_decode("&#xD800;", FFFD);
    check_decode("&#99999999;", FFFD);
    check_decode("&#x110000;", FFFD);
    check_decode("&#99999999999999999999999999999;", FFFD);
    check_decode("&#1;&#3;&#27;&#127;", FFFD FFFD FFFD FFFD);
    check_decode("&#13;", "\n");
    check_decode("&#10;&#9;", "\n\t");
    /* C1 numbers mean windows-1252, as in HTML5. */
    check_decode("&#150;&#146;&#128;", "\xE2\x80\x93\xE2\x80\x99\xE2\x82\xAC");
    check_decode("&#129;&#x9D;", FFFD FFFD);
    /* Without ';' it is text. */
    check_decode("&#65 &#x41", "&#65 &#x41");
}
END_TEST

/* ---- HTML ---- */

struct mention_map {
    int calls;
    char last_href[256];
};

static const char *map_mention(void *arg, const char *href)
{
    struct mention_map *m = arg;
    m->calls++;
    gw_strlcpy(m->last_href, href, sizeof(m->last_href));
    if (strcmp(href, "https://example.social/@alice") == 0)
        return "alice@example.social";
    if (strcmp(href, "https://mastodon.example/@gw") == 0)
        return "gw@mastodon.example";
    if (strcmp(href, "https://at.example/@carol") == 0)
        return "@carol@at.example";
    if (strcmp(href, "https://evil.example/@x") == 0)
        return "x\r\nQUIT :bye\x03"
               "4";
    return NULL;
}

static void check_html_cb(const char *in, const char *want,
                          struct mention_map *m)
{
    char *out = gw_text_from_html(in, strlen(in), map_mention, m);
    ck_assert_str_eq(out, want);
    ck_assert(irc_safe(out));
    free(out);
}

static void check_html(const char *in, const char *want)
{
    struct mention_map m = {0};
    check_html_cb(in, want, &m);
}

#define ALICE_MENTION                                                          \
    "<span class=\"h-card\"><a href=\"https://example.social/@alice\" "        \
    "class=\"u-url mention\">@<span>alice</span></a></span>"
#define LONG_LINK                                                              \
    "<a href=\"https://example.com/a/very/long/path\" rel=\"nofollow "         \
    "noopener\" target=\"_blank\"><span class=\"invisible\">https://</span>"   \
    "<span class=\"ellipsis\">example.com/a/very/lo</span><span "              \
    "class=\"invisible\">ng/path</span></a>"

START_TEST(html_mentions)
{
    struct mention_map m = {0};
    check_html_cb(ALICE_MENTION, "@alice@example.social", &m);
    ck_assert_int_eq(m.calls, 1);
    ck_assert_str_eq(m.last_href, "https://example.social/@alice");

    check_html("<p>" ALICE_MENTION " hi!</p>", "@alice@example.social hi!");

    /* Unknown to the callback, or no callback: the link text. */
    check_html("<a href=\"https://other.example/@bob\" class=\"u-url "
               "mention\">@<span>bob</span></a> yo",
               "@bob yo");
    char *out =
        gw_text_from_html(ALICE_MENTION, strlen(ALICE_MENTION), NULL, NULL);
    ck_assert_str_eq(out, "@alice");
    free(out);

    /* The example from the API notes. */
    const char *ex = "<p><span class=\"h-card\"><a "
                     "href=\"https://mastodon.example/@gw\" class=\"u-url "
                     "mention\">@<span>gw</span></a></span> is the bridge "
                     "up?</p>";
    check_html(ex, "@gw@mastodon.example is the bridge up?");

    /* Whatever the callback returns is sanitised too. */
    check_html("<a href=\"https://evil.example/@x\" class=\"mention\">@x</a>",
               "@x\nQUIT :bye4");

    /* A handle given with its '@' is not doubled. */
    check_html("<a href=\"https://at.example/@carol\" class=\"mention\">"
               "@carol</a>",
               "@carol@at.example");
    /* A repeated attribute: the first one counts, as in browsers. */
    check_html("<a href=\"https://example.social/@alice\" class=\"mention\" "
               "href=\"https://ignored\" class=\"x\">@alice</a>",
               "@alice@example.social");
}
END_TEST

START_TEST(html_links)
{
    check_html(LONG_LINK, "https://example.com/a/very/long/path");
    check_html("<p>see " LONG_LINK " now</p>",
               "see https://example.com/a/very/long/path now");
    /* A short link Mastodon did not need an ellipsis for. */
    check_html("<a href=\"https://example.com/\"><span "
               "class=\"invisible\">https://</span><span "
               "class=\"\">example.com/</span><span "
               "class=\"invisible\"></span></a>",
               "https://example.com/");
    /* Link text that is the URL. */
    check_html("<a href=\"https://x.org/?a=1&amp;b=2\">https://x.org/?a=1&amp;"
               "b=2</a>",
               "https://x.org/?a=1&b=2");
    /* Link text that says something else keeps the target visible. */
    check_html("<p><a href=\"https://example.com/slides\">my slides</a>!</p>",
               "my slides <https://example.com/slides>!");
    /* Script links are never shown as targets. */
    check_html("<a href=\"javascript:alert(1)\">click</a>", "click");
    check_html("<a href=\" JavaScript:alert(1)\">click</a>", "click");
    /* An empty link shows its target. */
    check_html("<a href=\"https://e.org/x\"></a>", "https://e.org/x");
    /* Hashtags: their text, and the callback is not asked. */
    struct mention_map m = {0};
    check_html_cb("<a href=\"https://x/tags/foo\" class=\"mention hashtag\" "
                  "rel=\"tag\">#<span>foo</span></a>",
                  "#foo", &m);
    ck_assert_int_eq(m.calls, 0);
    check_html("<a class=\"hashtag\" data-tag=\"bar\" "
               "href=\"https://pleroma.example/tag/bar\">#bar</a>",
               "#bar");
    /* Links do not nest; an unclosed one is still shown. */
    check_html("<a href=\"https://a.example/\">one<a "
               "href=\"https://b.example/\">two</a>",
               "one <https://a.example/>two <https://b.example/>");
    check_html("x <a href='https://x.y'>link", "x link <https://x.y>");
    /* Whitespace at the edges of a link still separates words. */
    check_html("a<a href='https://e.org/x'> x </a>b",
               "a x <https://e.org/x> b");
    check_html("a<a href='https://e.org/x'>x<br></a>b",
               "ax <https://e.org/x> b");
    check_html("<p><a href='https://e.org/x'> </a></p>", "https://e.org/x");
    check_html("</a></span></a>text", "text");
    /* Ellipsis outside a link: the text and "...". */
    check_html("<span class=\"ellipsis\">abc</span>", "abc" ELLIPSIS);
    check_html("a<span class=\"invisible\">hidden</span>b", "ab");
}
END_TEST

START_TEST(html_blocks)
{
    check_html("<p>a</p><p>b</p>", "a\n\nb");
    check_html("<P>a</P>\n<P>b</P>", "a\n\nb");
    check_html("a<br>b", "a\nb");
    check_html("a<br/>b", "a\nb");
    check_html("a<br />b", "a\nb");
    check_html("a<BR>b", "a\nb");
    check_html("a<br><br>b", "a\n\nb");
    check_html("a<br><br><br><br>b", "a\n\nb");
    check_html("<p>a<br></p><p>b</p>", "a\n\nb");
    check_html("<br><p></p><p>a</p><br>", "a");
    check_html("<p>  a \n\t b  </p>", "a b");
    check_html("<div>a</div><div>b</div>", "a\nb");
    check_html("<p>list:</p><ul><li>one</li><li>two</li></ul><p>end</p>",
               "list:\n\n- one\n- two\n\nend");
    check_html("<ol>\n <li> x </li>\n</ol>", "- x");
    check_html("<blockquote><p>quoted</p></blockquote><p>reply</p>",
               "> quoted\n\nreply");
    check_html("<blockquote>a<br>b</blockquote>", "> a\n> b");
    check_html("<pre>int x;\n  y();</pre>", "int x;\n  y();");
    check_html("<p>use <code>make  test</code> now</p>", "use make test now");
    check_html("<h1>Title</h1>body", "Title\n\nbody");
    check_html("<img src=\"x.png\" alt=\":blobcat:\"> hi", ":blobcat: hi");
    check_html("<table><tr><td>a</td><td>b</td></tr></table>", "a b");
}
END_TEST

START_TEST(html_entities_and_text)
{
    check_html("<p>&amp; &lt;b&gt; &quot;q&quot; &#39;s&#x27; &apos; "
               "x&nbsp;y</p>",
               "& <b> \"q\" 's' ' x\xC2\xA0y");
    check_html("&foo; &bogus", "&foo; &bogus");
    check_html("&#0;&#xD800;&#99999999;", FFFD FFFD FFFD);
    check_html("a &lt;script&gt;alert(1)&lt;/script&gt;",
               "a <script>alert(1)</script>");
    check_html("a < b > c", "a < b > c");
    check_html("x<", "x<");
    check_html("", "");
    char *out = gw_text_from_html(NULL, 0, NULL, NULL);
    ck_assert_str_eq(out, "");
    free(out);
}
END_TEST

START_TEST(html_dropped)
{
    check_html("a<script>alert(1)</script>b", "ab");
    check_html("<SCRIPT type=x>var a = '</p>';</SCRIPT >x", "x");
    check_html("<script>document.write('</scr' + 'ipt>')</script>ok", "ok");
    check_html("<style>p { color: red }</style>t", "t");
    check_html("a<script>never closed <p>b</p>", "a");
    check_html("a<!-- hidden -->b", "ab");
    check_html("a<!-- x > y -->b", "ab");
    check_html("a<!---->b<!-->c", "abc");
    check_html("a<!-- never closed", "a");
    check_html("<!DOCTYPE html><?xml x?>a<![CDATA[b]]>c", "ac");
    check_html("a</ >b", "ab");
    check_html("<span title=\"a>b\" data-x='c>d'>text</span>", "text");
    check_html("<a href=\"https://e.org/?q=a>b\">https://e.org/?q=a&gt;b</a>",
               "https://e.org/?q=a>b");
}
END_TEST

START_TEST(html_truncated)
{
    check_html("abc<a href=\"x", "abc");
    check_html("abc<p", "abc");
    check_html("abc</p", "abc");
    check_html("abc</", "abc");
    check_html("abc<a href=", "abc");
    check_html("abc<a href='x' class", "abc");
    check_html("abc&am", "abc&am");
    check_html("abc&#x1F6", "abc&#x1F6");
    check_html("<span><span><span>deep", "deep");
}
END_TEST

START_TEST(html_hostile)
{
    check_html("a\r\nPRIVMSG #x :pwned", "a PRIVMSG #x :pwned");
    check_html("a&#13;&#10;PRIVMSG #x :pwned", "a PRIVMSG #x :pwned");
    check_html("<pre>a\r\nPRIVMSG #x :pwned</pre>", "a\nPRIVMSG #x :pwned");
    check_html("\x03"
               "4red &#3;\x02",
               "4red " FFFD);
    check_html("a\xFF"
               "b",
               "a" FFFD "b");
    /* Stripping a tag never joins the halves of a broken character. */
    check_html("\xE2<b>\x80\xA6", FFFD FFFD FFFD);
    check_html("x\xC0\x8Dy", "x" FFFD FFFD "y");
    check_html("<p>\xE2\x80\xA8</p>ok", "ok");
}
END_TEST

static const char *const fragments[] = {
    "<p>",
    "</p>",
    "<br>",
    "<br/>",
    "<a href=\"https://x.y/z\">",
    "</a>",
    "<a class=\"u-url mention\" href=\"https://example.social/@alice\">",
    "<span class=\"invisible\">",
    "<span class=\"ellipsis\">",
    "</span>",
    "<span>",
    "<script>",
    "</script>",
    "<style>",
    "<!--",
    "-->",
    "<pre>",
    "</pre>",
    "<li>",
    "<blockquote>",
    "</blockquote>",
    "&amp;",
    "&#0;",
    "&#x0d;",
    "&#13;",
    "&",
    "<",
    ">",
    "\"",
    "'",
    "=",
    " ",
    "\n",
    "\r",
    "\t",
    "\x03"
    "4",
    "",
    "\xFF",
    "\xC0\x8D",
    "\xE2\x80",
    "\xE2\x80\xA8",
    "word",
    NIHON,
    FAMILY,
    "@bob@host",
    "<a href=",
    "<img alt=\"x\r\ny\">",
    "<!x>",
};

START_TEST(html_random)
{
    char buf[2048];
    struct mention_map m = {0};
    for (int iter = 0; iter < 5000; iter++) {
        size_t len = 0;
        int parts = (int)(rng() % 40);
        for (int i = 0; i < parts; i++) {
            size_t k = rng() % GW_ARRAY_LEN(fragments);
            /* "" stands for a NUL byte. */
            size_t fl = fragments[k][0] ? strlen(fragments[k]) : 1;
            if (len + fl >= sizeof(buf))
                break;
            memcpy(buf + len, fragments[k], fl);
            len += fl;
        }
        char *out = gw_text_from_html(buf, len, map_mention, &m);
        ck_assert(irc_safe(out));
        size_t n = strlen(out);
        if (n > 0) {
            ck_assert(out[0] != ' ' && out[0] != '\n');
            ck_assert(out[n - 1] != ' ' && out[n - 1] != '\n');
        }
        ck_assert_ptr_null(strstr(out, "\n\n\n"));
        free(out);
    }
}
END_TEST

/* Big inputs must finish (linear time); the timing itself is not asserted,
 * but a quadratic path would blow the test case's timeout. */
static void convert_big(const char *unit, const char *want_start)
{
    size_t ul = strlen(unit), total = 1024 * 1024;
    char *big = gw_xmalloc(total + 1);
    size_t len = 0;
    while (len + ul <= total) {
        memcpy(big + len, unit, ul);
        len += ul;
    }
    big[len] = '\0';
    struct mention_map m = {0};
    char *out = gw_text_from_html(big, len, map_mention, &m);
    ck_assert(irc_safe(out));
    ck_assert_msg(strncmp(out, want_start, strlen(want_start)) == 0,
                  "unit %s gave %.40s", unit, out);
    free(out);
    free(big);
}

START_TEST(html_big_inputs)
{
    convert_big("<p>" ALICE_MENTION " look at " LONG_LINK
                " &amp; tell me <a href=\"https://x/tags/foo\" "
                "class=\"mention hashtag\">#<span>foo</span></a></p>",
                "@alice@example.social look at https://example.com/a/very/");
    convert_big("<span>", "");
    convert_big("<span class=\"invisible\">x", "");
    convert_big("</span>y", "yy");
    convert_big("<a href=\"https://e.org/\">", "");
    convert_big("<blockquote>a<br>", "> a\n\n> > a");
    convert_big("&amp;", "&&&");
    convert_big("&#x1F600;", GRIN GRIN);
    convert_big("<!--", "");
    convert_big("<li>", "");
    convert_big("<", "<<<");
    convert_big("<a href=\"", "");
    convert_big("<a href=\"https://e.org/\">x", "x <https://e.org/>x");
    convert_big("\xFF", FFFD FFFD);
}
END_TEST

/* ---- split ---- */

struct lines {
    char **v;
    size_t n;
    size_t max;
    size_t stop_at; /* return 7 from this call (1-based); 0 = never */
};

static int collect(void *arg, const char *line, size_t len)
{
    struct lines *l = arg;
    /* One check per line: Check records every passing assert. */
    bool ok = strlen(line) == len && len <= l->max && len > 0 &&
              valid_utf8(line) && line[len - 1] != ' ' &&
              strpbrk(line, "\r\n") == NULL;
    if (!ok)
        ck_abort_msg("bad line (%zu bytes, max %zu): '%s'", len, l->max, line);
    l->v = gw_xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = gw_xstrdup(line);
    if (l->stop_at && l->n == l->stop_at)
        return 7;
    return 0;
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static char *lines_join(const struct lines *l, const char *sep)
{
    struct gw_buf b;
    gw_buf_init(&b, SIZE_MAX / 2);
    for (size_t i = 0; i < l->n; i++) {
        ck_assert_int_eq(gw_buf_puts(&b, l->v[i]), 0);
        if (i + 1 < l->n)
            ck_assert_int_eq(gw_buf_puts(&b, sep), 0);
    }
    return gw_buf_steal(&b);
}

static void check_split(const char *text, size_t max, const char *want_joined,
                        size_t want_n)
{
    struct lines l = {.max = max};
    ck_assert_int_eq(gw_text_split(text, max, collect, &l), 0);
    char *j = lines_join(&l, "|");
    ck_assert_str_eq(j, want_joined);
    ck_assert_uint_eq(l.n, want_n);
    free(j);
    lines_free(&l);
}

START_TEST(split_lines)
{
    check_split("a\nb\n\n\nc", 400, "a|b|c", 3);
    check_split("a\r\nb\rc\n", 400, "a|b|c", 3);
    check_split("\n\n  \n \nx\n   \n", 400, "x", 1);
    check_split("", 400, "", 0);
    check_split("  indented code", 400, "  indented code", 1);
    check_split("trailing   ", 400, "trailing", 1);
    check_split("hello world foo", 11, "hello world|foo", 2);
    check_split("hello world foo", 10, "hello|world foo", 2);
    check_split("aaa     bbb", 5, "aaa|bbb", 2);
    check_split("exactly-10", 10, "exactly-10", 1);
    check_split("exactly-10 more", 10, "exactly-10|more", 2);
    check_split("abcdefghij", 4, "abcd|efgh|ij", 3);
    check_split("ab cdefghijkl", 5, "ab|cdefg|hijkl", 3);
}
END_TEST

START_TEST(split_multibyte)
{
    /* Three-byte CJK with a limit that falls inside the third character. */
    check_split(NIHON NIHON NIHON, 8, NIHON "|" NIHON "|" NIHON, 3);
    /* Four-byte emoji after two ASCII bytes: never cut inside one. */
    check_split("aa" GRIN GRIN GRIN, 5, "aa|" GRIN "|" GRIN "|" GRIN, 4);
    /* A decomposed e-acute (3 bytes) stays whole: no line starts with a
     * lone combining mark. */
    check_split("e" ACUTE "e" ACUTE "e" ACUTE, 5,
                "e" ACUTE "|e" ACUTE "|e" ACUTE, 3);
    /* Flags are two regional indicators: kept together. */
    check_split(FLAG_FR FLAG_FR, 12, FLAG_FR "|" FLAG_FR, 2);
    /* A cluster longer than a line is cut between code points. */
    struct lines l = {.max = 10};
    ck_assert_int_eq(gw_text_split(FAMILY, 10, collect, &l), 0);
    ck_assert_uint_gt(l.n, 1);
    char *j = lines_join(&l, "");
    ck_assert_str_eq(j, FAMILY);
    free(j);
    lines_free(&l);
}
END_TEST

START_TEST(split_long_word)
{
    size_t n = 100 * 1024;
    char *word = gw_xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        word[i] = (char)('a' + i % 26);
    word[n] = '\0';
    struct lines l = {.max = 400};
    ck_assert_int_eq(gw_text_split(word, 400, collect, &l), 0);
    ck_assert_uint_eq(l.n, (n + 399) / 400);
    for (size_t i = 0; i + 1 < l.n; i++)
        ck_assert_uint_eq(strlen(l.v[i]), 400);
    char *j = lines_join(&l, "");
    ck_assert_str_eq(j, word);
    free(j);
    lines_free(&l);

    /* The same with multibyte characters, cut at a limit no character
     * boundary falls on. */
    struct gw_buf b;
    gw_buf_init(&b, SIZE_MAX / 2);
    while (b.len < n)
        ck_assert_int_eq(gw_buf_puts(&b, NIHON GRIN "e" ACUTE FAMILY E_ACUTE),
                         0);
    char *mb = gw_buf_steal(&b);
    l.max = 401;
    ck_assert_int_eq(gw_text_split(mb, 401, collect, &l), 0);
    j = lines_join(&l, "");
    ck_assert_str_eq(j, mb);
    free(j);
    lines_free(&l);
    free(mb);
    free(word);
}
END_TEST

START_TEST(split_random_words)
{
    static const char *const words[] = {
        "a",
        "word",
        "longerword",
        NIHON,
        GRIN,
        FAMILY,
        ("e" ACUTE),
        FLAG_FR,
        "https://example.com/a/very/long/path/that/goes/on",
        "\xE2\x80\x94",
    };
    char text[4096];
    for (int iter = 0; iter < 2000; iter++) {
        size_t len = 0, max = 4 + rng() % 60;
        while (len + 64 < sizeof(text)) {
            const char *w = words[rng() % GW_ARRAY_LEN(words)];
            memcpy(text + len, w, strlen(w));
            len += strlen(w);
            if (rng() % 20 == 0)
                break;
            text[len++] = rng() % 8 ? ' ' : '\n';
        }
        text[len] = '\0';
        struct lines l = {.max = max};
        ck_assert_int_eq(gw_text_split(text, max, collect, &l), 0);
        /* Nothing is lost: all non-space bytes come back in order. */
        char *j = lines_join(&l, "");
        size_t a = 0, b = 0;
        for (;; a++, b++) {
            while (text[a] == ' ' || text[a] == '\n')
                a++;
            while (j[b] == ' ')
                b++;
            if (text[a] != j[b])
                ck_abort_msg("lost text: '%s' became '%s'", text, j);
            if (text[a] == '\0')
                break;
        }
        free(j);
        lines_free(&l);
    }
}
END_TEST

START_TEST(split_stop_and_errors)
{
    struct lines l = {.max = 400, .stop_at = 2};
    ck_assert_int_eq(gw_text_split("a\nb\nc\nd", 400, collect, &l), 7);
    ck_assert_uint_eq(l.n, 2);
    lines_free(&l);
    ck_assert_int_eq(gw_text_split("a b", 3, collect, &l), UV_EINVAL);
    ck_assert_int_eq(gw_text_split("a b", 0, collect, &l), UV_EINVAL);
    ck_assert_uint_eq(l.n, 0);
    l.max = 4;
    l.stop_at = 0;
    ck_assert_int_eq(gw_text_split(GRIN GRIN, 4, collect, &l), 0);
    ck_assert_uint_eq(l.n, 2);
    lines_free(&l);
}
END_TEST

/* ---- formatting ---- */

static void check_strip(const char *in, const char *want)
{
    char *out = gw_text_strip_formatting(in);
    ck_assert_str_eq(out, want);
    free(out);
}

START_TEST(strip_codes)
{
    check_strip("\x02"
                "bold\x02 \x1d"
                "it\x1d \x1f"
                "un\x1f \x1e"
                "st\x1e "
                "\x11"
                "mono\x11 \x16"
                "rev\x16 reset\x0f",
                "bold it un st mono rev reset");
    check_strip("\x03"
                "4red",
                "red");
    check_strip("\x03"
                "04red",
                "red");
    check_strip("\x03"
                "04,12x",
                "x");
    check_strip("\x03"
                "4,5x",
                "x");
    check_strip("\x03"
                "4,05x",
                "x");
    check_strip("\x03"
                "123",
                "3");
    check_strip("\x03"
                "05,123",
                "3");
    check_strip("\x03"
                ",5x",
                ",5x");
    check_strip("\x03"
                "5,x",
                ",x");
    check_strip("\x03"
                "x",
                "x");
    check_strip("a\x03", "a");
    check_strip("a\x03"
                "1",
                "a");
    check_strip("a\x03"
                "1,",
                "a,");
    check_strip("\x04"
                "FF00AAtext",
                "text");
    check_strip("\x04"
                "ff00aa,00ff00x",
                "x");
    check_strip("\x04"
                "abcdef,12x",
                ",12x");
    check_strip("\x04"
                "12345",
                "12345");
    check_strip("\x04"
                "abcdefg",
                "g");
    check_strip("\x04", "");
    check_strip("\x02"
                "h" E_ACUTE "llo " GRIN "\x0f",
                "h" E_ACUTE "llo " GRIN);
    /* Not formatting: CTCP delimiters are the IRC layer's business. */
    check_strip("\x01"
                "ACTION waves\x01",
                "\x01"
                "ACTION waves\x01");
    check_strip("", "");
    char *out = gw_text_strip_formatting(NULL);
    ck_assert_str_eq(out, "");
    free(out);
}
END_TEST

/* ---- counting ---- */

START_TEST(count_graphemes)
{
    ck_assert_int_eq(gw_text_graphemes(""), 0);
    ck_assert_int_eq(gw_text_graphemes("abc"), 3);
    ck_assert_int_eq(gw_text_graphemes("h" E_ACUTE "llo"), 5);
    ck_assert_int_eq(gw_text_graphemes("he" ACUTE "llo"), 5);
    ck_assert_int_eq(gw_text_graphemes(FAMILY), 1);
    ck_assert_int_eq(gw_text_graphemes(FLAG_FR), 1);
    ck_assert_int_eq(gw_text_graphemes(FLAG_FR FLAG_FR), 2);
    ck_assert_int_eq(gw_text_graphemes(THUMBS_SKIN), 1);
    ck_assert_int_eq(gw_text_graphemes(NIHON), 2);
    ck_assert_int_eq(gw_text_graphemes("\r\n"), 1);
    /* Hangul jamo L V T form one syllable. */
    ck_assert_int_eq(gw_text_graphemes("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"),
                     1);
    ck_assert_int_eq(gw_text_graphemes("\xFF\xFE"), 2);
    ck_assert_int_eq(gw_text_graphemes("a\xE2\x82"), 2);
    ck_assert_int_eq(gw_text_graphemes(NULL), 0);
}
END_TEST

/* Query strings: unreserved characters stay, every other byte is %XX. */
START_TEST(urlencode_query_values)
{
    char *s = gw_urlencode("at://did:plc:x/a.b/3k?c=1&d= \xC3\xA9~_.-Z9");
    ck_assert_str_eq(s, "at%3A%2F%2Fdid%3Aplc%3Ax%2Fa.b%2F3k%3Fc%3D1%26d%3D"
                        "%20%C3%A9~_.-Z9");
    free(s);
    s = gw_urlencode("");
    ck_assert_str_eq(s, "");
    free(s);
}
END_TEST

/* A failed answer as one line: "error: detail", either alone, the status,
 * or the transport's words; never longer than asked. */
START_TEST(json_error_line)
{
    struct gw_http_response r;
    memset(&r, 0, sizeof(r));
    r.status = 400;
    r.body = "{\"message\":\"only the detail\"}";
    r.body_len = strlen(r.body);
    char *t = gw_json_error_line(&r, "message", 300);
    ck_assert_str_eq(t, "only the detail");
    free(t);
    r.body = "{\"error\":\"Name\",\"message\":\"a\\r\\nb\"}";
    r.body_len = strlen(r.body);
    t = gw_json_error_line(&r, "message", 300);
    ck_assert_str_eq(t, "Name: a b");
    free(t);
    t = gw_json_error_line(&r, "message", 8);
    ck_assert_uint_le(strlen(t), 8);
    free(t);
    r.body = "not json";
    r.body_len = strlen(r.body);
    t = gw_json_error_line(&r, "message", 300);
    ck_assert_str_eq(t, "HTTP 400");
    free(t);
    r.error = -110;
    r.errmsg = "";
    t = gw_json_error_line(&r, "message", 300);
    ck_assert_str_eq(t, "network error");
    free(t);
}
END_TEST

/* Base addresses: trailing slashes go; no host, a query, a fragment or
 * another scheme is refused. */
START_TEST(base_url)
{
    char *b = gw_text_base_url("https://api.example.org/rest//");
    ck_assert_str_eq(b, "https://api.example.org/rest");
    free(b);
    b = gw_text_base_url("http://127.0.0.1:8080");
    ck_assert_str_eq(b, "http://127.0.0.1:8080");
    free(b);
    ck_assert_ptr_null(gw_text_base_url("https://"));
    ck_assert_ptr_null(gw_text_base_url("https:///x"));
    ck_assert_ptr_null(gw_text_base_url("https://a.org/?x=1"));
    ck_assert_ptr_null(gw_text_base_url("https://a.org/#top"));
    ck_assert_ptr_null(gw_text_base_url("ftp://a.org"));
    ck_assert_ptr_null(gw_text_base_url(NULL));
}
END_TEST

START_TEST(nfc_and_pictographic)
{
    char *n = gw_text_nfc("he" ACUTE "llo");
    ck_assert_str_eq(n, "h" E_ACUTE "llo");
    free(n);
    n = gw_text_nfc("a\xFF");
    ck_assert_str_eq(n, "a" FFFD);
    free(n);
    n = gw_text_nfc(NULL);
    ck_assert_str_eq(n, "");
    free(n);
    /* Hangul jamo compose into one syllable U+AC01. */
    n = gw_text_nfc("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8");
    ck_assert_str_eq(n, "\xEA\xB0\x81");
    free(n);
    ck_assert(gw_text_is_pictographic(0x1F600));
    ck_assert(gw_text_is_pictographic(0x1F1EB)); /* regional indicator F */
    ck_assert(gw_text_is_pictographic(0x2764));  /* heavy black heart */
    ck_assert(!gw_text_is_pictographic('a'));
    ck_assert(!gw_text_is_pictographic(0x65E5)); /* CJK */
    ck_assert(!gw_text_is_pictographic(-1));
    ck_assert(!gw_text_is_pictographic(0x110000));
}
END_TEST

START_TEST(sha256_base64url)
{
    /* RFC 7636 appendix B: the verifier and its S256 challenge. */
    const char *verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    unsigned char d[32];
    gw_sha256(verifier, strlen(verifier), d);
    char *c = gw_base64url(d, sizeof(d));
    ck_assert_str_eq(c, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    free(c);
    /* RFC 4648 test vectors, unpadded, with the URL alphabet. */
    c = gw_base64url("", 0);
    ck_assert_str_eq(c, "");
    free(c);
    c = gw_base64url("f", 1);
    ck_assert_str_eq(c, "Zg");
    free(c);
    c = gw_base64url("fo", 2);
    ck_assert_str_eq(c, "Zm8");
    free(c);
    c = gw_base64url("foobar", 6);
    ck_assert_str_eq(c, "Zm9vYmFy");
    free(c);
    c = gw_base64url("\xfb\xff", 2);
    ck_assert_str_eq(c, "-_8");
    free(c);
    unsigned char r1[32], r2[32];
    ck_assert_int_eq(gw_random_bytes(r1, sizeof(r1)), 0);
    ck_assert_int_eq(gw_random_bytes(r2, sizeof(r2)), 0);
    ck_assert(memcmp(r1, r2, sizeof(r1)) != 0);
}
END_TEST

static Suite *text_suite(void)
{
    Suite *s = suite_create("text");
    TCase *tc = tcase_create("sanitize");
    tcase_add_test(tc, sanitize_line_breaks);
    tcase_add_test(tc, urlencode_query_values);
    tcase_add_test(tc, base_url);
    tcase_add_test(tc, json_error_line);
    tcase_add_test(tc, sanitize_controls);
    tcase_add_test(tc, sanitize_invalid_utf8);
    tcase_add_test(tc, sanitize_bidi);
    tcase_add_test(tc, sanitize_keeps_text);
    tcase_add_test(tc, sanitize_random_bytes);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("entities");
    tcase_add_test(tc, entities_named);
    tcase_add_test(tc, entities_numeric);
    suite_add_tcase(s, tc);

    tc = tcase_create("html");
    tcase_add_test(tc, html_mentions);
    tcase_add_test(tc, html_links);
    tcase_add_test(tc, html_blocks);
    tcase_add_test(tc, html_entities_and_text);
    tcase_add_test(tc, html_dropped);
    tcase_add_test(tc, html_truncated);
    tcase_add_test(tc, html_hostile);
    tcase_add_test(tc, html_random);
    tcase_add_test(tc, html_big_inputs);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);

    tc = tcase_create("split");
    tcase_add_test(tc, split_lines);
    tcase_add_test(tc, split_multibyte);
    tcase_add_test(tc, split_long_word);
    tcase_add_test(tc, split_random_words);
    tcase_add_test(tc, split_stop_and_errors);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("format");
    tcase_add_test(tc, strip_codes);
    suite_add_tcase(s, tc);

    tc = tcase_create("count");
    tcase_add_test(tc, count_graphemes);
    tcase_add_test(tc, nfc_and_pictographic);
    tcase_add_test(tc, sha256_base64url);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(text_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
