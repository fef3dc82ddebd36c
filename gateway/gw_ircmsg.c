/*
 * IRC line parser and serializer; see gw_ircmsg.h for the contract.
 *
 * Where the header leaves room, the choices follow ergo (irc-go's ircmsg)
 * and solanum: the tag section is at most 8191 bytes counting the '@' and
 * the space after it, tags whose key is not [+][A-Za-z0-9./-]+ are skipped
 * rather than rejected (the message-tags spec forbids rejecting a message
 * for an unknown key), and parts may be separated by runs of spaces.
 */
#include "gw_ircmsg.h"

#include <assert.h>
#include <limits.h>
#include <string.h>

#include <uv.h>

/* The message part without its CR LF. */
#define MSG_MAX (GW_IRC_LINE_MAX - 2)

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

enum utf8_status { UTF8_OK, UTF8_BAD, UTF8_SHORT };

/*
 * Decode one character at s[0] (len >= 1) per Unicode Table 3-7 and return
 * how many bytes it spans. For an ill-formed sequence that count is its
 * maximal subpart (at least 1), which is what U+FFFD replaces. UTF8_SHORT
 * means the input ended inside an otherwise well-formed sequence.
 */
static size_t utf8_next(const unsigned char *s, size_t len,
                        enum utf8_status *st)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    size_t need;

    if (c < 0x80) {
        *st = UTF8_OK;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c == 0xE0) {
        need = 2;
        lo = 0xA0; /* below is an overlong */
    } else if (c == 0xED) {
        need = 2;
        hi = 0x9F; /* above are the surrogates */
    } else if (c >= 0xE1 && c <= 0xEF) {
        need = 2;
    } else if (c == 0xF0) {
        need = 3;
        lo = 0x90; /* below is an overlong */
    } else if (c >= 0xF1 && c <= 0xF3) {
        need = 3;
    } else if (c == 0xF4) {
        need = 3;
        hi = 0x8F; /* above is past U+10FFFF */
    } else {
        *st = UTF8_BAD;
        return 1;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= len) {
            *st = UTF8_SHORT;
            return i;
        }
        if (s[i] < lo || s[i] > hi) {
            *st = UTF8_BAD;
            return i;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    *st = UTF8_OK;
    return need + 1;
}

bool gw_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        enum utf8_status st;
        size_t n = utf8_next(p + i, len - i, &st);

        if (st != UTF8_OK) {
            return false;
        }
        i += n;
    }
    return true;
}

size_t gw_utf8_repair(char *dst, size_t size, const char *src, size_t len)
{
    const unsigned char *p = (const unsigned char *)src;
    size_t i = 0;
    size_t out = 0;

    if (size == 0) {
        return 0;
    }
    while (i < len) {
        enum utf8_status st;
        size_t n = utf8_next(p + i, len - i, &st);
        const char *piece = st == UTF8_OK ? src + i : replacement;
        size_t plen = st == UTF8_OK ? n : sizeof(replacement) - 1;

        /* Stop rather than skip: a later, shorter character that would
         * still fit must not appear after a dropped one. */
        if (plen > size - 1 - out) {
            break;
        }
        memcpy(dst + out, piece, plen);
        out += plen;
        i += n;
    }
    dst[out] = '\0';
    return out;
}

size_t gw_utf8_cut(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t j = len;
    enum utf8_status st;

    /* A well-formed but unfinished character has at most 3 bytes, so its
     * lead byte is within the last 3. */
    while (j > 0 && len - j < 3 && (p[j - 1] & 0xC0) == 0x80) {
        j--;
    }
    if (j == 0) {
        return len;
    }
    utf8_next(p + j - 1, len - (j - 1), &st);
    return st == UTF8_SHORT ? j - 1 : len;
}

static bool is_letter(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* ergo's validateTagName: lenient about '.', '/' and '-' anywhere. */
static bool valid_tag_key(const char *k, size_t n)
{
    size_t i = 0;

    if (n > 0 && k[0] == '+') {
        i = 1;
    }
    if (i == n) {
        return false;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)k[i];

        if (!is_letter(c) && !is_digit(c) && c != '-' && c != '.' && c != '/') {
            return false;
        }
    }
    return true;
}

static bool valid_command(const char *s, size_t n)
{
    if (n == 0) {
        return false;
    }
    if (is_digit((unsigned char)s[0])) {
        return n == 3 && is_digit((unsigned char)s[1]) &&
               is_digit((unsigned char)s[2]);
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_letter((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

/* Unescaping never lengthens a value, so it can be done in place. */
static void unescape_value(char *v)
{
    char *r = v;
    char *w = v;

    while (*r != '\0') {
        if (*r != '\\') {
            *w++ = *r++;
            continue;
        }
        r++;
        switch (*r) {
        case '\0':
            /* A lone trailing backslash produces nothing (message-tags). */
            continue;
        case ':':
            *w++ = ';';
            break;
        case 's':
            *w++ = ' ';
            break;
        case 'r':
            *w++ = '\r';
            break;
        case 'n':
            *w++ = '\n';
            break;
        default:
            *w++ = *r;
            break;
        }
        r++;
    }
    *w = '\0';
}

/* s is the NUL-terminated tag data between '@' and the space. */
static int parse_tags(struct gw_irc_msg *m, char *s)
{
    while (s != NULL) {
        char *next = strchr(s, ';');
        char *eq;
        char *value;
        int i;

        if (next != NULL) {
            *next++ = '\0';
        }
        eq = strchr(s, '=');
        if (eq != NULL) {
            *eq = '\0';
            value = eq + 1;
            unescape_value(value);
        } else {
            value = s + strlen(s);
        }
        if (!valid_tag_key(s, strlen(s))) {
            s = next;
            continue;
        }
        for (i = 0; i < m->ntags; i++) {
            if (strcmp(m->tags[i].key, s) == 0) {
                break;
            }
        }
        if (i == m->ntags) {
            /* Counted after de-duplication: the limit is on what a
             * handler has to look at, not on bytes (bounded already). */
            if (m->ntags == GW_IRC_TAG_COUNT_MAX) {
                return GW_IRCMSG_ETAGS;
            }
            m->tags[m->ntags++].key = s;
        }
        m->tags[i].value = value;
        s = next;
    }
    return 0;
}

static int parse(struct gw_irc_msg *m, char *line, size_t len)
{
    char *p = line;
    char *end = line + len;
    bool had_tags = false;
    char *cmd;

    if (memchr(line, '\0', len) != NULL) {
        return GW_IRCMSG_ENUL;
    }
    /* The reader splits lines on CR and LF, so one here means the caller
     * framed the line wrongly; letting it through would let a parameter
     * start a line of its own when relayed. */
    if (memchr(line, '\r', len) != NULL || memchr(line, '\n', len) != NULL) {
        return GW_IRCMSG_ENUL;
    }
    line[len] = '\0';

    if (len > 0 && line[0] == '@') {
        char *sp = memchr(line, ' ', len);
        int rc;

        /* The tag section, '@' and space included, is sp - line + 1. */
        if (sp == NULL) {
            return len >= GW_IRC_TAGS_MAX ? GW_IRCMSG_ETAGS : GW_IRCMSG_ENOCMD;
        }
        if ((size_t)(sp - line) + 1 > GW_IRC_TAGS_MAX) {
            return GW_IRCMSG_ETAGS;
        }
        *sp = '\0';
        rc = parse_tags(m, line + 1);
        if (rc < 0) {
            return rc;
        }
        had_tags = true;
        p = sp + 1;
    }
    if ((size_t)(end - p) > MSG_MAX) {
        return GW_IRCMSG_ETOOLONG;
    }

    while (*p == ' ') {
        p++;
    }
    if (*p == '\0') {
        return had_tags ? GW_IRCMSG_ENOCMD : GW_IRCMSG_EEMPTY;
    }
    if (*p == ':') {
        char *sp = strchr(p, ' ');

        if (sp == NULL) {
            return GW_IRCMSG_ENOCMD;
        }
        *sp = '\0';
        m->prefix = p + 1;
        p = sp + 1;
        while (*p == ' ') {
            p++;
        }
    }

    cmd = p;
    while (*p != '\0' && *p != ' ') {
        p++;
    }
    if (!valid_command(cmd, (size_t)(p - cmd))) {
        return GW_IRCMSG_ENOCMD;
    }
    if (*p != '\0') {
        *p++ = '\0';
    }
    m->command = cmd;

    for (;;) {
        while (*p == ' ') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        if (m->nparams == GW_IRC_PARAMS_MAX) {
            return GW_IRCMSG_EPARAMS;
        }
        if (*p == ':') {
            m->params[m->nparams++] = p + 1;
            m->trailing = true;
            break;
        }
        m->params[m->nparams++] = p;
        while (*p != '\0' && *p != ' ') {
            p++;
        }
        if (*p != '\0') {
            *p++ = '\0';
        }
    }
    return 0;
}

static void msg_reset(struct gw_irc_msg *m)
{
    m->ntags = 0;
    m->prefix = NULL;
    m->command = NULL;
    m->nparams = 0;
    m->trailing = false;
}

int gw_ircmsg_parse(struct gw_irc_msg *m, char *line, size_t len)
{
    int rc;

    assert(m != NULL && line != NULL);
    msg_reset(m);
    rc = parse(m, line, len);
    if (rc < 0) {
        /* Never hand back half a message. */
        msg_reset(m);
    }
    return rc;
}

const char *gw_ircmsg_tag(const struct gw_irc_msg *m, const char *key)
{
    if (m == NULL || key == NULL) {
        return NULL;
    }
    for (int i = 0; i < m->ntags; i++) {
        if (strcmp(m->tags[i].key, key) == 0) {
            return m->tags[i].value;
        }
    }
    return NULL;
}

/* The escape for c, or NULL when c goes out as itself. */
static const char *tag_escape(char c)
{
    switch (c) {
    case ';':
        return "\\:";
    case ' ':
        return "\\s";
    case '\\':
        return "\\\\";
    case '\r':
        return "\\r";
    case '\n':
        return "\\n";
    default:
        return NULL;
    }
}

static size_t escaped_len(const char *v)
{
    size_t n = 0;

    for (; *v != '\0'; v++) {
        n += tag_escape(*v) != NULL ? 2 : 1;
    }
    return n;
}

/* A bounded writer that remembers whether anything did not fit. */
struct out {
    char *buf;
    size_t size; /* > 0: room for the NUL is kept */
    size_t len;
    bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->full || n > o->size - 1 - o->len) {
        o->full = true;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void put_escaped(struct out *o, const char *v)
{
    for (; *v != '\0'; v++) {
        const char *e = tag_escape(*v);

        if (e != NULL) {
            put(o, e, 2);
        } else {
            put(o, v, 1);
        }
    }
}

int gw_ircmsg_escape_tag(char *out, size_t size, const char *value)
{
    struct out o = {out, size, 0, false};
    size_t n;

    if (value == NULL) {
        value = "";
    }
    n = escaped_len(value);
    if (size == 0 || n > INT_MAX || n >= size) {
        if (size > 0) {
            out[0] = '\0';
        }
        return UV_ENOBUFS;
    }
    put_escaped(&o, value);
    out[o.len] = '\0';
    return (int)o.len;
}

static bool has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

/* Everything the parser could not read back, or could read differently. */
static int validate(const struct gw_irc_msg *m)
{
    if (m->ntags < 0 || m->ntags > GW_IRC_TAG_COUNT_MAX || m->nparams < 0 ||
        m->nparams > GW_IRC_PARAMS_MAX) {
        return UV_EINVAL;
    }
    if (m->command == NULL || !valid_command(m->command, strlen(m->command))) {
        return UV_EINVAL;
    }
    if (m->prefix != NULL &&
        (strchr(m->prefix, ' ') != NULL || has_crlf(m->prefix))) {
        return UV_EINVAL;
    }
    for (int i = 0; i < m->ntags; i++) {
        const char *k = m->tags[i].key;

        if (k == NULL || !valid_tag_key(k, strlen(k))) {
            return UV_EINVAL;
        }
    }
    for (int i = 0; i < m->nparams; i++) {
        const char *p = m->params[i];

        if (p == NULL || has_crlf(p)) {
            return UV_EINVAL;
        }
        if (i < m->nparams - 1 &&
            (p[0] == '\0' || p[0] == ':' || strchr(p, ' ') != NULL)) {
            return UV_EINVAL;
        }
    }
    return 0;
}

static void put_tags(struct out *o, const struct gw_irc_msg *m)
{
    bool keep[GW_IRC_TAG_COUNT_MAX];
    size_t section = 2; /* '@' and ' ' */
    int kept = 0;

    for (int i = 0; i < m->ntags; i++) {
        const char *v = m->tags[i].value;
        /* Empty values go out as bare keys, which read back the same. */
        size_t entry = strlen(m->tags[i].key) +
                       (v != NULL && *v != '\0' ? 1 + escaped_len(v) : 0);
        size_t add = entry + (kept > 0 ? 1 : 0);

        keep[i] = add <= GW_IRC_TAGS_MAX - section;
        if (keep[i]) {
            section += add;
            kept++;
        }
    }
    if (kept == 0) {
        return;
    }
    put(o, "@", 1);
    kept = 0;
    for (int i = 0; i < m->ntags; i++) {
        const char *v = m->tags[i].value;

        if (!keep[i]) {
            continue;
        }
        if (kept++ > 0) {
            put(o, ";", 1);
        }
        put(o, m->tags[i].key, strlen(m->tags[i].key));
        if (v != NULL && *v != '\0') {
            put(o, "=", 1);
            put_escaped(o, v);
        }
    }
    put(o, " ", 1);
}

int gw_ircmsg_format(char *out, size_t size, const struct gw_irc_msg *m)
{
    struct out o = {out, size, 0, false};
    size_t fixed = 0;
    const char *last = NULL;
    size_t lastlen = 0;
    bool colon = false;
    int rc;

    if (out == NULL || m == NULL) {
        return UV_EINVAL;
    }
    rc = validate(m);
    if (rc < 0) {
        return rc;
    }
    if (size == 0) {
        return UV_ENOBUFS;
    }

    /* Measure the message part first: only the last param may give way. */
    if (m->prefix != NULL) {
        fixed += strlen(m->prefix) + 2;
    }
    fixed += strlen(m->command);
    for (int i = 0; i < m->nparams - 1; i++) {
        fixed += 1 + strlen(m->params[i]);
    }
    if (m->nparams > 0) {
        last = m->params[m->nparams - 1];
        lastlen = strlen(last);
        colon = m->trailing || lastlen == 0 || last[0] == ':' ||
                strchr(last, ' ') != NULL;
        fixed += 1;
    }
    if (fixed + colon + lastlen > MSG_MAX) {
        if (last == NULL || fixed + 1 > MSG_MAX) {
            return UV_EMSGSIZE;
        }
        /* A cut text may end in a space or be empty; ':' keeps it one
         * param either way. */
        colon = true;
        lastlen = gw_utf8_cut(last, MSG_MAX - fixed - 1);
    }

    put_tags(&o, m);
    if (m->prefix != NULL) {
        put(&o, ":", 1);
        put(&o, m->prefix, strlen(m->prefix));
        put(&o, " ", 1);
    }
    put(&o, m->command, strlen(m->command));
    for (int i = 0; i < m->nparams - 1; i++) {
        put(&o, " ", 1);
        put(&o, m->params[i], strlen(m->params[i]));
    }
    if (last != NULL) {
        put(&o, colon ? " :" : " ", colon ? 2 : 1);
        put(&o, last, lastlen);
    }
    put(&o, "\r\n", 2);
    if (o.full || o.len > INT_MAX) {
        out[0] = '\0';
        return UV_ENOBUFS;
    }
    out[o.len] = '\0';
    return (int)o.len;
}
