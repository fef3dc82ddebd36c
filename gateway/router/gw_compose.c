#include "gw_compose.h"

#include <stdlib.h>
#include <string.h>

#include "gw_util.h"

/* Texts we build stay far below this; it only bounds gw_buf. */
#define TEXT_MAX (4 * 1024 * 1024)

static bool is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

static bool handle_char(unsigned char c, bool domain)
{
    if (c >= 0x80 || is_alnum(c) || c == '_' || c == '.' || c == '-')
        return true;
    return domain && c == ':';
}

bool gw_compose_handle_ok(const char *h)
{
    if (h == NULL)
        return false;
    if (*h == '@')
        h++;
    const char *at = strchr(h, '@');
    size_t ulen = at != NULL ? (size_t)(at - h) : strlen(h);
    if (ulen == 0 || ulen > 255)
        return false;
    for (size_t i = 0; i < ulen; i++) {
        if (!handle_char((unsigned char)h[i], false))
            return false;
    }
    if (at == NULL)
        return true;
    const char *d = at + 1;
    size_t dlen = strlen(d);
    if (dlen == 0 || dlen > 253 || *d == '.' || *d == '-' || *d == ':')
        return false;
    for (size_t i = 0; i < dlen; i++) {
        if (!handle_char((unsigned char)d[i], true))
            return false;
    }
    return true;
}

static bool mention_cont(unsigned char c)
{
    return c >= 0x80 || is_alnum(c) || c == '_' || c == '-' || c == '@';
}

/* Does text mention "@h" as a whole word? A longer handle ("@bob@x.org.uk"
 * for "bob@x.org") or an e-mail address is another mention. */
static bool text_mentions(const char *text, const char *h)
{
    size_t hl = strlen(h);
    for (const char *p = strchr(text, '@'); p != NULL; p = strchr(p + 1, '@')) {
        if (p > text && (mention_cont((unsigned char)p[-1]) || p[-1] == '.'))
            continue;
        if (gw_strncasecmp(p + 1, h, hl) != 0)
            continue;
        unsigned char nx = (unsigned char)p[1 + hl];
        if (mention_cont(nx) || nx == ':')
            continue;
        if (nx == '.' && handle_char((unsigned char)p[2 + hl], false) &&
            p[2 + hl] != '.')
            continue;
        return true;
    }
    return false;
}

char *gw_compose_mentions(const char *text, const char *const *handles,
                          int nhandles, const char *me)
{
    struct gw_buf b;
    const char **added = NULL;
    int nadded = 0;

    if (text == NULL)
        text = "";
    if (me != NULL && *me == '@')
        me++;
    gw_buf_init(&b, TEXT_MAX);
    if (nhandles > 0)
        added = gw_xcalloc((size_t)nhandles, sizeof(*added));
    for (int i = 0; i < nhandles; i++) {
        const char *h = handles[i];
        if (!gw_compose_handle_ok(h))
            continue;
        if (*h == '@')
            h++;
        if (me != NULL && gw_strcasecmp(h, me) == 0)
            continue;
        bool dup = false;
        for (int j = 0; j < nadded && !dup; j++)
            dup = gw_strcasecmp(added[j], h) == 0;
        if (dup || text_mentions(text, h))
            continue;
        added[nadded++] = h;
        (void)gw_buf_printf(&b, "@%s ", h);
    }
    free(added);
    if (*text == '\0' && b.len > 0)
        b.data[--b.len] = '\0';
    (void)gw_buf_puts(&b, text);
    if (b.data == NULL)
        return gw_xstrdup("");
    return gw_buf_steal(&b);
}

enum gw_audience gw_audience_narrow(enum gw_audience parent,
                                    enum gw_audience requested)
{
    if (parent == GW_AUD_UNKNOWN)
        return requested > GW_AUD_UNLISTED ? requested : GW_AUD_UNLISTED;
    return requested > parent ? requested : parent;
}

const char *gw_audience_name(enum gw_audience a)
{
    switch (a) {
    case GW_AUD_PUBLIC:
        return "public";
    case GW_AUD_UNLISTED:
        return "unlisted";
    case GW_AUD_FOLLOWERS:
        return "followers";
    case GW_AUD_MENTIONED:
        return "mentioned";
    case GW_AUD_UNKNOWN:
        break;
    }
    return NULL;
}
