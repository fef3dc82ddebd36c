#include "gw_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>
#include <uv.h>

#include "gw_util.h"

/*
 * UTF-8 helpers. gw_ircmsg.h declares similar ones, but this file keeps its
 * own so that text conversion does not depend on the IRC parser.
 */

/*
 * Decode one code point from s[0..len), len > 0. Returns the bytes consumed
 * (at least 1). An ill-formed sequence yields *cp = -1 and consumes its
 * "maximal subpart" (Unicode 15, 3.9), so that one U+FFFD replaces what a
 * truncated character left behind and a stray byte never swallows the next
 * character. Overlongs (C0 8D for CR) and surrogates are ill-formed.
 */
size_t gw_utf8_next(const char *str, size_t len, int32_t *cp)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = s[0];
    size_t need;
    int32_t v;
    unsigned lo = 0x80, hi = 0xBF;

    if (c < 0x80) {
        *cp = (int32_t)c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        v = (int32_t)(c & 0x1F);
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        v = (int32_t)(c & 0x0F);
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        v = (int32_t)(c & 0x07);
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *cp = -1;
        return 1;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= len || s[i] < lo || s[i] > hi) {
            *cp = -1;
            return i;
        }
        lo = 0x80;
        hi = 0xBF;
        v = (v << 6) | (int32_t)(s[i] & 0x3F);
    }
    *cp = v;
    return need + 1;
}

/* Encode cp (a valid scalar value) into out[4]; returns the length. */
static size_t utf8_put(char *out, int32_t cp)
{
    uint32_t c = (uint32_t)cp;
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

#define REPLACEMENT_CHAR "\xEF\xBF\xBD"

/*
 * A growable output string. Every producer here writes at most a constant
 * factor more than it reads (plus what a mention callback returns), and its
 * input is already bounded by the caller (GW_HTTP_BODY_MAX, an IRC line),
 * so no separate ceiling is set.
 */
struct text_out {
    char *data;
    size_t len;
    size_t cap;
};

static void out_reserve(struct text_out *o, size_t extra)
{
    if (o->cap - o->len > extra)
        return;
    size_t cap = o->cap ? o->cap : 64;
    while (cap - o->len <= extra)
        cap *= 2;
    o->data = gw_xrealloc(o->data, cap);
    o->cap = cap;
    o->data[o->len] = '\0';
}

static void out_put(struct text_out *o, const char *p, size_t n)
{
    out_reserve(o, n);
    if (n)
        memcpy(o->data + o->len, p, n);
    o->len += n;
    o->data[o->len] = '\0';
}

static void out_byte(struct text_out *o, char c)
{
    out_put(o, &c, 1);
}

static char *out_steal(struct text_out *o)
{
    char *p = o->data ? o->data : gw_xstrdup("");
    o->data = NULL;
    o->len = o->cap = 0;
    return p;
}

/*
 * Entities.
 */

/* HTML 4's Latin-1 names, U+00A0 to U+00FF in order. */
static const char *const latin1_names[96] = {
    "nbsp",   "iexcl",  "cent",   "pound",  "curren", "yen",    "brvbar",
    "sect",   "uml",    "copy",   "ordf",   "laquo",  "not",    "shy",
    "reg",    "macr",   "deg",    "plusmn", "sup2",   "sup3",   "acute",
    "micro",  "para",   "middot", "cedil",  "sup1",   "ordm",   "raquo",
    "frac14", "frac12", "frac34", "iquest", "Agrave", "Aacute", "Acirc",
    "Atilde", "Auml",   "Aring",  "AElig",  "Ccedil", "Egrave", "Eacute",
    "Ecirc",  "Euml",   "Igrave", "Iacute", "Icirc",  "Iuml",   "ETH",
    "Ntilde", "Ograve", "Oacute", "Ocirc",  "Otilde", "Ouml",   "times",
    "Oslash", "Ugrave", "Uacute", "Ucirc",  "Uuml",   "Yacute", "THORN",
    "szlig",  "agrave", "aacute", "acirc",  "atilde", "auml",   "aring",
    "aelig",  "ccedil", "egrave", "eacute", "ecirc",  "euml",   "igrave",
    "iacute", "icirc",  "iuml",   "eth",    "ntilde", "ograve", "oacute",
    "ocirc",  "otilde", "ouml",   "divide", "oslash", "ugrave", "uacute",
    "ucirc",  "uuml",   "yacute", "thorn",  "yuml",
};

/* The markup-significant ones first (they are by far the most common), then
 * typography that shows up in pasted text. */
static const struct {
    const char *name;
    int32_t cp;
} other_names[] = {
    {"amp", 0x26},      {"lt", 0x3C},       {"gt", 0x3E},
    {"quot", 0x22},     {"apos", 0x27},     {"hellip", 0x2026},
    {"mdash", 0x2014},  {"ndash", 0x2013},  {"lsquo", 0x2018},
    {"rsquo", 0x2019},  {"sbquo", 0x201A},  {"ldquo", 0x201C},
    {"rdquo", 0x201D},  {"bdquo", 0x201E},  {"bull", 0x2022},
    {"euro", 0x20AC},   {"trade", 0x2122},  {"dagger", 0x2020},
    {"Dagger", 0x2021}, {"permil", 0x2030}, {"prime", 0x2032},
    {"Prime", 0x2033},  {"lsaquo", 0x2039}, {"rsaquo", 0x203A},
    {"ensp", 0x2002},   {"emsp", 0x2003},   {"thinsp", 0x2009},
    {"zwnj", 0x200C},   {"zwj", 0x200D},    {"lrm", 0x200E},
    {"rlm", 0x200F},    {"larr", 0x2190},   {"uarr", 0x2191},
    {"rarr", 0x2192},   {"darr", 0x2193},   {"harr", 0x2194},
    {"hearts", 0x2665}, {"minus", 0x2212},  {"OElig", 0x152},
    {"oelig", 0x153},   {"Scaron", 0x160},  {"scaron", 0x161},
    {"Yuml", 0x178},    {"fnof", 0x192},    {"circ", 0x2C6},
    {"tilde", 0x2DC},
};

/* HTML5 reads &#128; to &#159; as windows-1252, as browsers always did;
 * 0 marks the five bytes windows-1252 leaves undefined. */
static const uint16_t cp1252_c1[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017D, 0,
    0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178,
};

/* A linear look-up, but one that rejects on the first letter: it costs less
 * than the memchr that found the '&'. */
static bool name_eq(const char *known, const char *name, size_t n)
{
    return known[0] == name[0] && strncmp(known, name, n) == 0 &&
           known[n] == '\0';
}

static int32_t named_entity(const char *name, size_t n)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(other_names); i++) {
        if (name_eq(other_names[i].name, name, n))
            return other_names[i].cp;
    }
    for (size_t i = 0; i < GW_ARRAY_LEN(latin1_names); i++) {
        if (name_eq(latin1_names[i], name, n))
            return (int32_t)(0xA0 + i);
    }
    return -1;
}

/*
 * What a numeric reference stands for. Whatever a remote server writes, the
 * result is never NUL, CR or another control character: those become U+FFFD
 * (CR becomes LF, its meaning in text), as do surrogates and values past
 * U+10FFFF; C1 values are read as windows-1252 like HTML5 does.
 */
static int32_t numeric_value(uint32_t v)
{
    if (v == '\t' || v == '\n')
        return (int32_t)v;
    if (v == '\r')
        return '\n';
    if (v < 0x20 || v == 0x7F)
        return 0xFFFD;
    if (v >= 0x80 && v <= 0x9F)
        return cp1252_c1[v - 0x80] ? cp1252_c1[v - 0x80] : 0xFFFD;
    if ((v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF)
        return 0xFFFD;
    return (int32_t)v;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int is_alnum(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
}

/*
 * Parse an entity at s[0] == '&'. Returns the bytes it spans and its code
 * point in *cp, or 0 when s does not start a known, ';'-terminated entity
 * (then the '&' is text: "AT&T", "?a=1&copy=2" and "&foo;" stay as they
 * are).
 */
static size_t entity_parse(const char *s, size_t len, int32_t *cp)
{
    size_t i = 1;
    if (len < 3)
        return 0;
    if (s[1] == '#') {
        bool hex = false;
        uint32_t v = 0;
        size_t digits = 0;
        i = 2;
        if (s[i] == 'x' || s[i] == 'X') {
            hex = true;
            i++;
        }
        for (; i < len; i++, digits++) {
            int d = hex ? hex_digit(s[i])
                        : (s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1);
            if (d < 0)
                break;
            /* Saturate: any value past U+10FFFF is equally invalid. */
            if (v <= 0x10FFFF)
                v = v * (hex ? 16 : 10) + (uint32_t)d;
        }
        if (digits == 0 || i >= len || s[i] != ';')
            return 0;
        *cp = numeric_value(v);
        return i + 1;
    }
    /* The longest name we know is 6 letters; stop looking well past it. */
    while (i < len && i < 12 && is_alnum((unsigned char)s[i]))
        i++;
    if (i == 1 || i >= len || s[i] != ';')
        return 0;
    int32_t v = named_entity(s + 1, i - 1);
    if (v < 0)
        return 0;
    *cp = v;
    return i + 1;
}

char *gw_text_decode_entities(const char *s, size_t len)
{
    struct text_out o = {0};
    size_t i = 0;
    out_reserve(&o, len);
    while (s != NULL && i < len) {
        const char *amp = memchr(s + i, '&', len - i);
        size_t run = amp ? (size_t)(amp - (s + i)) : len - i;
        out_put(&o, s + i, run);
        i += run;
        if (i >= len)
            break;
        int32_t cp;
        size_t n = entity_parse(s + i, len - i, &cp);
        if (n == 0) {
            out_byte(&o, '&');
            i++;
        } else {
            char enc[4];
            size_t elen = utf8_put(enc, cp);
            out_put(&o, enc, elen);
            i += n;
        }
    }
    return out_steal(&o);
}

/*
 * Sanitising.
 */

char *gw_text_sanitize(const char *s, size_t len)
{
    /* Each ill-formed byte may become a 3-byte U+FFFD; nothing else grows. */
    char *out = gw_xmalloc(len * 3 + 1);
    size_t o = 0, i = 0;
    while (s != NULL && i < len) {
        /* Printable ASCII, most of any text, passes as it is: one copy per
         * run, not a decode and a copy per character. */
        size_t end = i;
        while (end < len && (unsigned char)s[end] >= 0x20 &&
               (unsigned char)s[end] < 0x7F)
            end++;
        if (end > i) {
            memcpy(out + o, s + i, end - i);
            o += end - i;
            i = end;
            continue;
        }
        int32_t cp;
        size_t n = gw_utf8_next(s + i, len - i, &cp);
        if (cp < 0) {
            memcpy(out + o, REPLACEMENT_CHAR, 3);
            o += 3;
        } else if (cp == '\r') {
            out[o++] = '\n';
            if (i + 1 < len && s[i + 1] == '\n')
                n++;
        } else if (cp == '\n' || cp == 0x2028 || cp == 0x2029) {
            out[o++] = '\n';
        } else if (cp == '\t') {
            out[o++] = ' ';
        } else if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
            /* NUL, IRC formatting, DEL, C1 (NEL too): dropped. */
        } else if ((cp >= 0x202A && cp <= 0x202E) ||
                   (cp >= 0x2066 && cp <= 0x2069)) {
            /* Bidi embeddings, overrides and isolates: one left open in a
             * stranger's text or name turns the rest of the client's line
             * (our nick, their tags) around. Clients lay out right-to-left
             * text without them. */
        } else {
            memcpy(out + o, s + i, n);
            o += n;
        }
        i += n;
    }
    out[o] = '\0';
    return out;
}

/*
 * HTML to text.
 *
 * A single forward pass over the (already sanitised) input: no tree, no
 * backtracking, so the work is linear in the input whatever its shape.
 * Whitespace in text collapses as a browser would (Android's
 * Html.fromHtml, which Tusky uses, does the same); <pre> keeps it. Block
 * elements ask for line breaks, which are only written when more text
 * follows, so leading and trailing breaks never appear and at most one blank
 * line separates anything.
 */

/* Nested quotes beyond this show as this many "> ": deep nesting must not
 * make the output grow quadratically. */
#define QUOTE_PREFIX_MAX 4

struct html {
    struct text_out main;
    unsigned nl_run;  /* newlines at the end of main (0..2) */
    unsigned want_nl; /* line breaks wanted before the next text */
    bool want_space;  /* collapsed whitespace before the next text */
    bool want_item;   /* "- " before the next text */
    unsigned pre;     /* <pre> depth: whitespace is kept */
    unsigned quote;   /* <blockquote> depth: lines get "> " */

    /* The <a> being read; its text is collected apart and decided on at
     * </a>. */
    bool in_link;
    bool link_shortened;
    bool link_want_space; /* whitespace inside the link text */
    bool link_lead_space; /* whitespace before any link text */
    char *href;
    char *cls;
    struct text_out link;
    size_t link_span_base;

    size_t span_depth;
    size_t invisible_at; /* span depth of an open class="invisible" or 0 */
    size_t ellipsis_at;  /* span depth of an open class="ellipsis" or 0 */

    gw_text_mention_cb cb;
    void *arg;
};

static bool is_html_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static void main_newline(struct html *h)
{
    if (h->nl_run >= 2)
        return;
    out_byte(&h->main, '\n');
    h->nl_run++;
}

static bool main_at_line_start(const struct html *h)
{
    return h->main.len == 0 || h->nl_run > 0;
}

/* Write what is pending before content: breaks, quote marks, list marks, a
 * collapsed space. */
static void main_flush(struct html *h)
{
    if (h->main.len == 0) {
        h->want_nl = 0;
    } else if (h->want_nl > 0) {
        while (h->nl_run < h->want_nl && h->nl_run < 2)
            main_newline(h);
        h->want_nl = 0;
        h->want_space = false;
    }
    if (main_at_line_start(h)) {
        h->want_space = false;
        for (unsigned i = 0; i < h->quote && i < QUOTE_PREFIX_MAX; i++)
            out_put(&h->main, "> ", 2);
    }
    if (h->want_item) {
        out_put(&h->main, "- ", 2);
        h->want_item = false;
        h->want_space = false;
    }
    if (h->want_space) {
        out_byte(&h->main, ' ');
        h->want_space = false;
    }
}

/* Content that is not whitespace, into the main text. */
static void main_put(struct html *h, const char *p, size_t n)
{
    if (n == 0)
        return;
    main_flush(h);
    out_put(&h->main, p, n);
    h->nl_run = 0;
}

/* Whitespace inside a link; at its edges it still separates the link from
 * the words around it. */
static void link_space(struct html *h)
{
    if (h->link.len == 0)
        h->link_lead_space = true;
    else
        h->link_want_space = true;
}

static void request_break(struct html *h, unsigned n)
{
    if (h->in_link) {
        link_space(h);
        return;
    }
    if (h->want_nl < n)
        h->want_nl = n;
}

static void hard_break(struct html *h)
{
    if (h->in_link) {
        link_space(h);
        return;
    }
    if (h->main.len == 0)
        return;
    if (h->want_nl > 0) {
        while (h->nl_run < h->want_nl && h->nl_run < 2)
            main_newline(h);
        h->want_nl = 0;
    }
    main_newline(h);
    h->want_space = false;
}

static bool hidden(const struct html *h)
{
    return h->invisible_at != 0;
}

/* One character of text (already decoded), routed to where it belongs. */
static void text_char(struct html *h, const char *p, size_t n)
{
    bool space = n == 1 && is_html_space(p[0]);
    if (hidden(h))
        return;
    if (h->in_link) {
        if (space) {
            link_space(h);
            return;
        }
        if (h->link_want_space) {
            out_byte(&h->link, ' ');
            h->link_want_space = false;
        }
        out_put(&h->link, p, n);
        return;
    }
    if (!space) {
        main_put(h, p, n);
    } else if (h->pre == 0) {
        h->want_space = true;
    } else if (p[0] == '\n') {
        hard_break(h);
    } else {
        main_flush(h);
        out_byte(&h->main, ' ');
        h->nl_run = 0;
    }
}

/* A literal string of inline content (no whitespace handling needed). */
static void inline_str(struct html *h, const char *s, size_t n)
{
    if (hidden(h) || n == 0)
        return;
    if (h->in_link) {
        if (h->link_want_space) {
            out_byte(&h->link, ' ');
            h->link_want_space = false;
        }
        out_put(&h->link, s, n);
        return;
    }
    main_put(h, s, n);
}

static void text_run(struct html *h, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (s[i] == '&') {
            int32_t cp;
            size_t n = entity_parse(s + i, len - i, &cp);
            if (n > 0) {
                char enc[4];
                size_t elen = utf8_put(enc, cp);
                text_char(h, enc, elen);
                i += n;
                continue;
            }
        }
        /* The input was sanitised, so this is a well-formed character. */
        int32_t cp;
        size_t n = gw_utf8_next(s + i, len - i, &cp);
        text_char(h, s + i, n);
        i += n;
    }
}

/* True when the space-separated class list cls contains tok. */
static bool has_class(const char *cls, const char *tok)
{
    size_t tl = strlen(tok);
    const char *p = cls;
    if (cls == NULL)
        return false;
    while (*p) {
        while (*p && is_html_space(*p))
            p++;
        const char *w = p;
        while (*p && !is_html_space(*p))
            p++;
        if ((size_t)(p - w) == tl && memcmp(w, tok, tl) == 0)
            return true;
    }
    return false;
}

static bool starts_with_ci(const char *s, const char *prefix)
{
    return gw_strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * An href worth showing to a reader: one with a scheme, except the ones
 * that run code or embed data.
 */
static bool href_showable(const char *href)
{
    const char *p = href;
    if (href == NULL || !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
        return false;
    while (is_alnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    if (*p != ':' || p[1] == '\0')
        return false;
    return !starts_with_ci(href, "javascript:") &&
           !starts_with_ci(href, "data:") && !starts_with_ci(href, "vbscript:");
}

/* The part of a URL a person would type: no scheme, no trailing '/'. */
static void url_core(const char *u, size_t len, const char **out, size_t *n)
{
    if (len >= 8 && gw_strncasecmp(u, "https://", 8) == 0) {
        u += 8;
        len -= 8;
    } else if (len >= 7 && gw_strncasecmp(u, "http://", 7) == 0) {
        u += 7;
        len -= 7;
    }
    while (len > 0 && u[len - 1] == '/')
        len--;
    *out = u;
    *n = len;
}

static bool same_url(const char *text, size_t tlen, const char *href)
{
    const char *a, *b;
    size_t an, bn;
    url_core(text, tlen, &a, &an);
    url_core(href, strlen(href), &b, &bn);
    return an == bn && memcmp(a, b, an) == 0;
}

static void link_open(struct html *h, char *href, char *cls)
{
    h->in_link = true;
    h->link_shortened = false;
    h->link_want_space = false;
    h->link_lead_space = false;
    h->href = href;
    h->cls = cls;
    h->link.len = 0;
    if (h->link.data)
        h->link.data[0] = '\0';
    h->link_span_base = h->span_depth;
}

/*
 * How a link reads on IRC. Mastodon shortens the text of long links with
 * invisible and ellipsis spans; on IRC there is no hover or click-through
 * preview, so the full href is what the reader needs. A link whose text is
 * something else entirely ("slides") keeps its text and shows the target
 * after it.
 */
static void link_close(struct html *h)
{
    const char *text, *href = h->href ? h->href : "";
    size_t tlen;

    if (!h->in_link)
        return;
    h->in_link = false;
    if (h->span_depth > h->link_span_base) {
        if (h->invisible_at > h->link_span_base)
            h->invisible_at = 0;
        if (h->ellipsis_at > h->link_span_base)
            h->ellipsis_at = 0;
        h->span_depth = h->link_span_base;
    }
    text = h->link.data ? h->link.data : "";
    tlen = h->link.len;
    while (tlen > 0 && text[tlen - 1] == ' ')
        tlen--;

    if (h->link_lead_space)
        h->want_space = true;
    bool mention = has_class(h->cls, "mention");
    bool hashtag = has_class(h->cls, "hashtag");
    const char *acct = NULL;
    if (mention && !hashtag && h->cb != NULL && h->href != NULL)
        acct = h->cb(h->arg, h->href);
    if (acct != NULL && *acct != '\0') {
        if (acct[0] == '@')
            acct++;
        inline_str(h, "@", 1);
        inline_str(h, acct, strlen(acct));
    } else if (mention || hashtag || !href_showable(href) ||
               (tlen > 0 && (text[0] == '#' || text[0] == '@'))) {
        inline_str(h, text, tlen);
    } else if (h->link_shortened || tlen == 0 || same_url(text, tlen, href)) {
        inline_str(h, href, strlen(href));
    } else {
        inline_str(h, text, tlen);
        inline_str(h, " <", 2);
        inline_str(h, href, strlen(href));
        inline_str(h, ">", 1);
    }
    if (h->link_want_space)
        h->want_space = true;
    free(h->href);
    free(h->cls);
    h->href = h->cls = NULL;
}

static void span_open(struct html *h, const char *cls)
{
    h->span_depth++;
    if (h->invisible_at == 0 && has_class(cls, "invisible")) {
        h->invisible_at = h->span_depth;
        h->link_shortened = true;
    }
    if (h->ellipsis_at == 0 && has_class(cls, "ellipsis")) {
        h->ellipsis_at = h->span_depth;
        h->link_shortened = true;
    }
}

static void span_close(struct html *h)
{
    if (h->span_depth == 0 ||
        (h->in_link && h->span_depth <= h->link_span_base))
        return;
    if (h->invisible_at == h->span_depth)
        h->invisible_at = 0;
    if (h->ellipsis_at == h->span_depth) {
        h->ellipsis_at = 0;
        inline_str(h, "\xE2\x80\xA6", 3);
    }
    h->span_depth--;
}

/* The attributes a tag handler looks at; others are parsed and skipped. */
struct tag {
    char name[16]; /* lowercase; "" when too long to be one we know */
    bool end;
    bool self_closing;
    bool incomplete; /* the input ended inside it */
    char *href;
    char *cls;
    char *alt;
};

static void tag_free(struct tag *t)
{
    free(t->href);
    free(t->cls);
    free(t->alt);
}

static bool name_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && gw_strncasecmp(name, want, n) == 0;
}

/*
 * Parse a tag starting after "<" or "</" at s[i]. Quoted attribute values
 * may contain '>'. Returns the index just past '>', or len when the input
 * ends inside the tag (then t->incomplete is set).
 */
static size_t tag_parse(const char *s, size_t len, size_t i, struct tag *t)
{
    t->incomplete = true;
    size_t n = 0;
    while (i < len && !is_html_space(s[i]) && s[i] != '/' && s[i] != '>') {
        if (n + 1 < sizeof(t->name)) {
            char c = s[i];
            t->name[n++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        } else {
            t->name[0] = '\0';
            n = sizeof(t->name);
        }
        i++;
    }
    if (n < sizeof(t->name))
        t->name[n] = '\0';
    for (;;) {
        while (i < len && (is_html_space(s[i]) || s[i] == '/')) {
            if (s[i] == '/' && i + 1 < len && s[i + 1] == '>')
                t->self_closing = true;
            i++;
        }
        if (i >= len)
            return len;
        if (s[i] == '>') {
            t->incomplete = false;
            return i + 1;
        }
        size_t an = i;
        /* A leading '=' belongs to the name, as in HTML5. */
        i++;
        while (i < len && !is_html_space(s[i]) && s[i] != '/' && s[i] != '>' &&
               s[i] != '=')
            i++;
        size_t alen = i - an;
        while (i < len && is_html_space(s[i]))
            i++;
        if (i >= len)
            return len;
        if (s[i] != '=')
            continue;
        i++;
        while (i < len && is_html_space(s[i]))
            i++;
        if (i >= len)
            return len;
        size_t vs, ve;
        if (s[i] == '"' || s[i] == '\'') {
            const char *q = memchr(s + i + 1, s[i], len - i - 1);
            if (q == NULL)
                return len;
            vs = i + 1;
            ve = (size_t)(q - s);
            i = ve + 1;
        } else {
            vs = i;
            while (i < len && !is_html_space(s[i]) && s[i] != '>')
                i++;
            ve = i;
        }
        char **slot = NULL;
        if (name_is(s + an, alen, "href"))
            slot = &t->href;
        else if (name_is(s + an, alen, "class"))
            slot = &t->cls;
        else if (name_is(s + an, alen, "alt"))
            slot = &t->alt;
        /* The first of a repeated attribute wins, as in HTML5. */
        if (slot != NULL && *slot == NULL && !t->end)
            *slot = gw_text_decode_entities(s + vs, ve - vs);
    }
}

/* Skip raw text up to and including "</name ...>"; returns the index after
 * it, or len when it never closes. */
static size_t skip_raw_text(const char *s, size_t len, size_t i,
                            const char *name)
{
    size_t nl = strlen(name);
    while (i < len) {
        const char *lt = memchr(s + i, '<', len - i);
        if (lt == NULL)
            return len;
        i = (size_t)(lt - s);
        if (i + 2 + nl <= len && s[i + 1] == '/' &&
            gw_strncasecmp(s + i + 2, name, nl) == 0 &&
            (i + 2 + nl == len || is_html_space(s[i + 2 + nl]) ||
             s[i + 2 + nl] == '/' || s[i + 2 + nl] == '>')) {
            struct tag t = {0};
            t.end = true;
            i = tag_parse(s, len, i + 2, &t);
            tag_free(&t);
            return i;
        }
        i++;
    }
    return len;
}

static bool is_one_of(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, list[i]) == 0)
            return true;
    return false;
}

/* Elements that sit on lines of their own, and those that also keep a blank
 * line around them. */
static const char *const line_blocks[] = {
    "div",     "li",      "tr",      "dt",         "dd",      "section",
    "article", "header",  "footer",  "figure",     "nav",     "aside",
    "main",    "details", "summary", "figcaption", "address", "caption",
};
static const char *const para_blocks[] = {
    "p",  "ul", "ol", "dl", "blockquote", "pre", "h1",
    "h2", "h3", "h4", "h5", "h6",         "hr",  "table",
};

static void tag_handle(struct html *h, struct tag *t)
{
    const char *n = t->name;
    if (n[0] == '\0')
        return;
    if (strcmp(n, "a") == 0) {
        if (t->end) {
            link_close(h);
        } else {
            /* Links do not nest: a new one ends the one before. */
            link_close(h);
            link_open(h, t->href, t->cls);
            t->href = t->cls = NULL;
            if (t->self_closing)
                link_close(h);
        }
        return;
    }
    if (strcmp(n, "span") == 0) {
        if (t->end)
            span_close(h);
        else if (!t->self_closing)
            span_open(h, t->cls);
        return;
    }
    if (strcmp(n, "br") == 0) {
        hard_break(h);
        return;
    }
    if (strcmp(n, "img") == 0) {
        if (!t->end && t->alt != NULL)
            text_run(h, t->alt, strlen(t->alt));
        return;
    }
    if (strcmp(n, "td") == 0 || strcmp(n, "th") == 0) {
        if (h->in_link)
            link_space(h);
        else
            h->want_space = true;
        return;
    }
    if (strcmp(n, "li") == 0) {
        request_break(h, 1);
        if (!t->end && !h->in_link)
            h->want_item = true;
        return;
    }
    if (strcmp(n, "blockquote") == 0) {
        request_break(h, 2);
        if (!t->end)
            h->quote++;
        else if (h->quote > 0)
            h->quote--;
        return;
    }
    if (strcmp(n, "pre") == 0) {
        request_break(h, 2);
        if (!t->end)
            h->pre++;
        else if (h->pre > 0)
            h->pre--;
        return;
    }
    if (is_one_of(n, para_blocks, GW_ARRAY_LEN(para_blocks)))
        request_break(h, 2);
    else if (is_one_of(n, line_blocks, GW_ARRAY_LEN(line_blocks)))
        request_break(h, 1);
}

/* Index of "-->" at or after i, or len. */
static size_t find_comment_end(const char *s, size_t len, size_t i)
{
    while (i + 3 <= len) {
        const char *d = memchr(s + i, '-', len - i);
        if (d == NULL)
            return len;
        i = (size_t)(d - s);
        if (i + 3 <= len && s[i + 1] == '-' && s[i + 2] == '>')
            return i + 3;
        i++;
    }
    return len;
}

static bool is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void html_convert(struct html *h, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const char *lt = memchr(s + i, '<', len - i);
        size_t run = lt ? (size_t)(lt - (s + i)) : len - i;
        text_run(h, s + i, run);
        i += run;
        if (i >= len)
            break;
        /* s[i] == '<' */
        if (i + 1 >= len) {
            text_run(h, "<", 1);
            break;
        }
        char c = s[i + 1];
        if (c == '!' && i + 3 < len && s[i + 2] == '-' && s[i + 3] == '-') {
            i = find_comment_end(s, len, i + 2);
        } else if (c == '!' || c == '?' ||
                   (c == '/' && i + 2 < len && !is_letter(s[i + 2]))) {
            /* Doctype, processing instruction, CDATA, "</ >": bogus
             * comments up to the next '>'. */
            const char *gt = memchr(s + i, '>', len - i);
            i = gt ? (size_t)(gt - s) + 1 : len;
        } else if (is_letter(c) || c == '/') {
            struct tag t = {0};
            t.end = c == '/';
            i = tag_parse(s, len, i + (t.end ? 2 : 1), &t);
            bool raw =
                strcmp(t.name, "script") == 0 || strcmp(t.name, "style") == 0;
            /* A tag cut off by the end of the input is dropped. */
            if (!t.incomplete && !t.end && raw)
                i = skip_raw_text(s, len, i, t.name);
            else if (!t.incomplete)
                tag_handle(h, &t);
            tag_free(&t);
        } else {
            /* "a < b": a lone '<' is text. */
            text_run(h, "<", 1);
            i++;
        }
    }
    link_close(h);
}

static bool is_trim_space(char c)
{
    return c == ' ' || c == '\n';
}

char *gw_text_from_html(const char *html, size_t len, gw_text_mention_cb cb,
                        void *arg)
{
    struct html h = {0};
    h.cb = cb;
    h.arg = arg;
    /* Sanitising first repairs UTF-8 before tags are cut out, so stripping
     * a tag can never glue two halves of a bad sequence into a character. */
    char *clean = gw_text_sanitize(html, html ? len : 0);
    html_convert(&h, clean, strlen(clean));
    free(clean);
    free(h.href);
    free(h.cls);
    free(h.link.data);

    /* Entities and callback results may have brought in anything. */
    char *out = gw_text_sanitize(h.main.data ? h.main.data : "", h.main.len);
    free(h.main.data);
    size_t n = strlen(out), start = 0;
    while (start < n && is_trim_space(out[start]))
        start++;
    while (n > start && is_trim_space(out[n - 1]))
        n--;
    memmove(out, out + start, n - start);
    out[n - start] = '\0';
    return out;
}

/*
 * Splitting.
 */

static bool grapheme_break(int32_t prev, int32_t cp, int32_t *state)
{
    if (prev < 0 || cp < 0) {
        *state = 0;
        return true;
    }
    return utf8proc_grapheme_break_stateful(prev, cp, state);
}

/*
 * Where to end the piece of s[0..len) (len > max) that goes on this line:
 * before the last space that leaves at most max bytes, else at the last
 * grapheme cluster boundary within max (so "e" and its accent stay
 * together), else at the last character boundary (a cluster longer than a
 * line). One forward scan of at most max bytes.
 */
static size_t split_point(const char *s, size_t len, size_t max)
{
    size_t q = 0, last_space = 0, last_break = 0, last_char = 0;
    int32_t prev = -1, state = 0;
    while (q < len) {
        int32_t cp;
        size_t n = gw_utf8_next(s + q, len - q, &cp);
        if (q > 0) {
            bool brk = grapheme_break(prev, cp, &state);
            if (q > max)
                break;
            last_char = q;
            if (brk)
                last_break = q;
            if (s[q] == ' ')
                last_space = q;
        }
        prev = cp;
        q += n;
    }
    if (last_space > 0)
        return last_space;
    if (last_break > 0)
        return last_break;
    if (last_char > 0)
        return last_char;
    return max;
}

static int emit_line(const char *s, size_t len, char *buf, gw_text_line_cb cb,
                     void *arg)
{
    while (len > 0 && s[len - 1] == ' ')
        len--;
    if (len == 0)
        return 0;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return cb(arg, buf, len);
}

static int split_line(const char *s, size_t len, size_t max, char *buf,
                      gw_text_line_cb cb, void *arg)
{
    for (;;) {
        while (len > 0 && s[len - 1] == ' ')
            len--;
        if (len <= max)
            return emit_line(s, len, buf, cb, arg);
        size_t cut = split_point(s, len, max);
        int rc = emit_line(s, cut, buf, cb, arg);
        if (rc != 0)
            return rc;
        s += cut;
        len -= cut;
        while (len > 0 && s[0] == ' ') {
            s++;
            len--;
        }
    }
}

int gw_text_split(const char *text, size_t max_bytes, gw_text_line_cb cb,
                  void *arg)
{
    /* Below 4 bytes some characters fit on no line at all. */
    if (text == NULL || cb == NULL || max_bytes < 4)
        return UV_EINVAL;
    size_t total = strlen(text);
    char *buf = gw_xmalloc((total < max_bytes ? total : max_bytes) + 1);
    const char *p = text, *end = text + total;
    int rc = 0;
    while (p < end && rc == 0) {
        /* CR is a line end too, in case unsanitised text gets here. */
        size_t n = strcspn(p, "\r\n");
        rc = split_line(p, n, max_bytes, buf, cb, arg);
        p += n;
        if (p < end)
            p++;
    }
    free(buf);
    return rc;
}

/*
 * IRC formatting.
 */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex6(const char *s)
{
    for (int i = 0; i < 6; i++)
        if (hex_digit(s[i]) < 0)
            return false;
    return true;
}

char *gw_text_strip_formatting(const char *s)
{
    if (s == NULL)
        return gw_xstrdup("");
    size_t len = strlen(s), o = 0;
    char *out = gw_xmalloc(len + 1);
    for (size_t i = 0; i < len;) {
        char c = s[i];
        if (c == '\x02' || c == '\x1d' || c == '\x1f' || c == '\x1e' ||
            c == '\x11' || c == '\x16' || c == '\x0f') {
            i++;
        } else if (c == '\x03') {
            /* ^C, ^C5, ^C05, ^C5,12; a comma without a foreground or
             * without digits after it is text. */
            i++;
            int d = 0;
            while (d < 2 && is_digit(s[i])) {
                i++;
                d++;
            }
            if (d > 0 && s[i] == ',' && is_digit(s[i + 1])) {
                i += 2;
                if (is_digit(s[i]))
                    i++;
            }
        } else if (c == '\x04') {
            /* Hex colour: ^D RRGGBB[,RRGGBB]; strlen bounds the reads,
             * since is_hex6 stops at the NUL. */
            i++;
            if (is_hex6(s + i)) {
                i += 6;
                if (s[i] == ',' && is_hex6(s + i + 1))
                    i += 7;
            }
        } else {
            out[o++] = c;
            i++;
        }
    }
    out[o] = '\0';
    return out;
}

/*
 * Counting.
 */

long gw_text_graphemes(const char *s)
{
    if (s == NULL)
        return 0;
    size_t len = strlen(s), i = 0;
    long count = 0;
    int32_t prev = -1, state = 0;
    while (i < len) {
        int32_t cp;
        size_t n = gw_utf8_next(s + i, len - i, &cp);
        if (grapheme_break(prev, cp, &state))
            count++;
        prev = cp;
        i += n;
    }
    return count;
}

static bool is_space_cp(int32_t cp)
{
    if (cp < 0)
        return false;
    if (cp < 0x80)
        return cp == ' ' || (cp >= '\t' && cp <= '\r');
    utf8proc_category_t cat = utf8proc_category(cp);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
           cat == UTF8PROC_CATEGORY_ZP;
}

bool gw_text_is_word_cp(int32_t cp)
{
    if (cp < 0)
        return false;
    if (cp < 0x80)
        return is_alnum((int)cp) || cp == '_';
    utf8proc_category_t cat = utf8proc_category(cp);
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO);
}

/* Length of an http(s) URL at s[0], up to the next whitespace, or 0. Like
 * twitter-text, a URL glued to a word or to '@', '$', '#' is not one. */
size_t gw_text_url_at(const char *s, size_t len, int32_t before)
{
    size_t i;
    if (before >= 0 && (gw_text_is_word_cp(before) || before == '@' ||
                        before == '$' || before == '#'))
        return 0;
    if (len >= 8 && gw_strncasecmp(s, "https://", 8) == 0)
        i = 8;
    else if (len >= 7 && gw_strncasecmp(s, "http://", 7) == 0)
        i = 7;
    else
        return 0;
    size_t start = i;
    while (i < len) {
        int32_t cp;
        size_t n = gw_utf8_next(s + i, len - i, &cp);
        if (is_space_cp(cp))
            break;
        i += n;
    }
    return i > start ? i : 0;
}

char *gw_text_nfc(const char *s)
{
    /* What people type carries no controls but line breaks, which
     * sanitising keeps; it also repairs what utf8proc would refuse. */
    char *clean = gw_text_sanitize(s, s != NULL ? strlen(s) : 0);
    char *nfc = (char *)utf8proc_NFC((const utf8proc_uint8_t *)clean);
    if (nfc == NULL)
        return clean; /* out of memory inside utf8proc: counted unnormalised */
    free(clean);
    /* utf8proc allocates with malloc: the caller's free() matches. */
    return nfc;
}

bool gw_text_is_pictographic(int32_t cp)
{
    if (cp < 0 || cp > 0x10FFFF)
        return false;
    int bc = utf8proc_get_property(cp)->boundclass;
    return bc == UTF8PROC_BOUNDCLASS_EXTENDED_PICTOGRAPHIC ||
           bc == UTF8PROC_BOUNDCLASS_E_ZWG ||
           bc == UTF8PROC_BOUNDCLASS_REGIONAL_INDICATOR;
}

size_t gw_text_grapheme(const char *s, size_t len, int32_t *last_cp)
{
    int32_t prev = -1, state = 0, cp = -1;
    size_t i = 0;
    while (i < len) {
        size_t n = gw_utf8_next(s + i, len - i, &cp);
        if (i > 0 && grapheme_break(prev, cp, &state))
            break;
        prev = cp;
        i += n;
    }
    if (last_cp != NULL)
        *last_cp = prev;
    return i;
}

char *gw_text_one_line(const char *s)
{
    char *t = gw_text_sanitize(s, strlen(s));
    char *w = t;
    bool space = false;
    for (const char *p = t; *p != '\0'; p++) {
        char c = *p == '\n' ? ' ' : *p;
        if (c == ' ' && space)
            continue;
        space = c == ' ';
        *w++ = c;
    }
    *w = '\0';
    gw_trim(t);
    return t;
}

void gw_text_truncate(char *s, size_t max)
{
    size_t len = strlen(s);
    if (len <= max || max < 4)
        return;
    size_t cut = max - 3;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    memcpy(s + cut, "\xe2\x80\xa6", 4);
}

bool gw_text_is_clean(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c >= 0x80) {
            /* Only text beyond plain ASCII pays for the full check. */
            char *t = gw_text_sanitize(s, len);
            bool same = strlen(t) == len && memcmp(t, s, len) == 0;
            free(t);
            return same;
        }
    }
    return true;
}

bool gw_text_url_ok(const char *s)
{
    if (s == NULL)
        return false;
    if (gw_strncasecmp(s, "https://", 8) != 0 &&
        gw_strncasecmp(s, "http://", 7) != 0)
        return false;
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] == 0x7f)
            return false;
    }
    return n <= 4096 && gw_text_is_clean(s, n);
}

char *gw_text_base_url(const char *v)
{
    if (!gw_text_url_ok(v) || strchr(v, '?') != NULL || strchr(v, '#') != NULL)
        return NULL;
    const char *h = strstr(v, "://");
    if (h == NULL || h[3] == '\0' || h[3] == '/')
        return NULL;
    char *out = gw_xstrdup(v);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0';
    return out;
}

size_t gw_text_cut(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}
