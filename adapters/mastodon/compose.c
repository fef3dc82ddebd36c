/*
 * Mastodon out: the body of POST /api/v1/statuses from an action the core
 * composed, the length as the server counts it, what an HTTP answer means
 * for an action, and the URLs of the API and of OAuth. Pure.
 */
#include "mastodon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

#define ERROR_TEXT_BYTES 300
#define OOB_URI          "urn:ietf:wg:oauth:2.0:oob"

static bool is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

enum gw_action_status mastodon_map_status(long status, int error)
{
    if (error != 0 || status == 0)
        return GW_ACT_RETRY;
    if (status >= 200 && status < 300)
        return GW_ACT_OK;
    if (status == 408 || status == 429 || status >= 500)
        return GW_ACT_RETRY;
    return GW_ACT_FAILED;
}

char *mastodon_error_text(const struct gw_http_response *r)
{
    return gw_json_error_line(r, "error_description", ERROR_TEXT_BYTES);
}

/* ---- posts ----------------------------------------------------------------
 */

void mastodon_post_free(struct mastodon_post *p)
{
    if (p == NULL)
        return;
    free(p->text);
    free(p->spoiler);
    free(p->in_reply_to);
    memset(p, 0, sizeof(*p));
}

const char *mastodon_visibility(enum gw_audience a)
{
    switch (a) {
    case GW_AUD_PUBLIC:
        return "public";
    case GW_AUD_FOLLOWERS:
        return "private";
    case GW_AUD_MENTIONED:
        return "direct";
    case GW_AUD_UNLISTED:
    case GW_AUD_UNKNOWN:
        break;
    }
    return "unlisted";
}

static char *nonempty_dup(const char *s)
{
    return s != NULL && *s != '\0' ? gw_xstrdup(s) : NULL;
}

int mastodon_compose(const struct gw_action *a, struct mastodon_post *out,
                     char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *text = a->text != NULL ? a->text : "";
    if (gw_blank(text)) {
        snprintf(err, errlen, "nothing to send: the text is empty");
        return UV_EINVAL;
    }
    const struct gw_post_ref *p = a->parent;
    bool parent_ok = p != NULL && mastodon_id_valid(p->id);
    switch (a->kind) {
    case GW_ACT_POST:
        out->visibility = a->audience != GW_AUD_UNKNOWN
                              ? mastodon_visibility(a->audience)
                              : "public";
        break;
    case GW_ACT_REPLY:
        if (!parent_ok) {
            snprintf(err, errlen, "no post to reply to");
            return UV_EINVAL;
        }
        out->visibility = mastodon_visibility(a->audience);
        break;
    case GW_ACT_DM:
        /* A DM is a direct status that names its recipients (the core
         * put them in front of the text). */
        if (a->handle != NULL && *a->handle != '\0' &&
            !mastodon_handle_valid(a->handle)) {
            snprintf(err, errlen, "not a handle: %s", a->handle);
            return UV_EINVAL;
        }
        if ((a->handle == NULL || *a->handle == '\0') && !parent_ok) {
            snprintf(err, errlen, "no recipient for the direct message");
            return UV_EINVAL;
        }
        out->visibility = "direct";
        break;
    default:
        snprintf(err, errlen, "not a post");
        return UV_EINVAL;
    }
    out->text = gw_xstrdup(text);
    out->spoiler = nonempty_dup(a->cw);
    if (parent_ok && a->kind != GW_ACT_POST)
        out->in_reply_to = gw_xstrdup(p->id);
    return 0;
}

/* ---- length ----------------------------------------------------------------
 */

static bool is_user_char(char c)
{
    return is_alnum((unsigned char)c) || c == '_';
}

/*
 * A mention "@user@domain" at s[0] (Mastodon's MENTION_RE: not after a word
 * character, '/' or '='). Returns its length and the length of "user" in
 * *user_len, or 0 when there is no domain part (then it is counted as the
 * text it is anyway).
 */
static size_t mention_at(const char *s, size_t len, int32_t before,
                         size_t *user_len)
{
    if (s[0] != '@' || (before >= 0 && (gw_text_is_word_cp(before) ||
                                        before == '/' || before == '=')))
        return 0;
    size_t i = 1;
    if (i >= len || !is_user_char(s[i]))
        return 0;
    while (i < len && (is_user_char(s[i]) || s[i] == '.' || s[i] == '-'))
        i++;
    while (s[i - 1] == '.' || s[i - 1] == '-')
        i--;
    *user_len = i - 1;
    if (i + 1 >= len || s[i] != '@')
        return 0;
    size_t d = i + 1, end = d;
    bool sep_ok = false;
    while (d < len) {
        int32_t cp;
        size_t n = gw_utf8_next(s + d, len - d, &cp);
        if (gw_text_is_word_cp(cp)) {
            d += n;
            end = d;
            sep_ok = true;
        } else if ((cp == '.' || cp == '-') && sep_ok) {
            d += n;
            sep_ok = false;
        } else {
            break;
        }
    }
    return end > i + 1 ? end : 0;
}

long mastodon_text_length(const char *s, long url_weight)
{
    if (s == NULL)
        return 0;
    size_t len = strlen(s), i = 0;
    long count = 0;
    int32_t before = -1;
    while (i < len) {
        size_t n = gw_text_url_at(s + i, len - i, before), user_len = 0;
        if (n > 0) {
            count += url_weight;
        } else if ((n = mention_at(s + i, len - i, before, &user_len)) > 0) {
            count += 1 + (long)user_len;
        }
        if (n > 0) {
            i += n;
            before = 'x';
            continue;
        }
        i += gw_text_grapheme(s + i, len - i, &before);
        count++;
    }
    return count;
}

int mastodon_check_length(const struct mastodon_post *p, long max,
                          long url_weight, char *err, size_t errlen)
{
    if (max <= 0)
        return 0;
    char *all = gw_xasprintf("%s%s", p->spoiler != NULL ? p->spoiler : "",
                             p->text != NULL ? p->text : "");
    long n = mastodon_text_length(all, url_weight);
    free(all);
    if (n <= max)
        return 0;
    snprintf(err, errlen, "too long: %ld characters, the server allows %ld", n,
             max);
    return UV_EMSGSIZE;
}

/* ---- URLs --------------------------------------------------------------- */

char *mastodon_urlencode(const char *s)
{
    return gw_urlencode(s);
}

char *mastodon_authorize_url(const char *base, const char *client_id)
{
    char *id = mastodon_urlencode(client_id);
    char *url = gw_xasprintf("%s/oauth/authorize?response_type=code"
                             "&client_id=%s&redirect_uri=" OOB_URI
                             "&scope=read+write+follow",
                             base, id);
    free(id);
    return url;
}

static const char *after_scheme(const char *url)
{
    if (url == NULL)
        return NULL;
    if (gw_strncasecmp(url, "https://", 8) == 0)
        return url + 8;
    if (gw_strncasecmp(url, "http://", 7) == 0)
        return url + 7;
    return NULL;
}

char *mastodon_url_host(const char *url)
{
    const char *h = after_scheme(url);
    if (h == NULL)
        h = strstr(url != NULL ? url : "", "://");
    if (h == NULL)
        return NULL;
    if (strncmp(h, "://", 3) == 0)
        h += 3;
    size_t n = strcspn(h, "/?#");
    if (n == 0)
        return NULL;
    return gw_xstrndup(h, n);
}

char *mastodon_base_url(const char *url)
{
    const char *h = after_scheme(url);
    if (h == NULL)
        return NULL;
    size_t hostlen = strcspn(h, "/");
    if (hostlen == 0 || hostlen > 260)
        return NULL;
    for (size_t i = 0; i < hostlen; i++) {
        unsigned char c = (unsigned char)h[i];
        if (!is_alnum(c) && c != '.' && c != '-' && c != ':' && c != '[' &&
            c != ']')
            return NULL;
    }
    for (const char *p = h + hostlen; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c == 0x7f || c == '?' || c == '#' || c == '\\')
            return NULL;
    }
    char *out = gw_xstrdup(url);
    size_t len = strlen(out);
    size_t min = (size_t)(h - url) + hostlen;
    while (len > min && out[len - 1] == '/')
        out[--len] = '\0';
    return out;
}

char *mastodon_base_from_handle(const char *handle)
{
    if (!mastodon_handle_valid(handle))
        return NULL;
    const char *at = strchr(handle + (*handle == '@'), '@');
    if (at == NULL)
        return NULL;
    char *url = gw_xasprintf("https://%s", at + 1);
    char *base = mastodon_base_url(url);
    free(url);
    return base;
}
