/*
 * Posts out, and what X says back: the weighted length twitter-text
 * counts, request bodies, X's problem documents, OAuth 2.0 with PKCE, the
 * budget arithmetic and lines for !thread and !who. Pure: no state, no I/O
 * (except random bytes for a PKCE verifier).
 */
#include "x.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

/* ---- length -------------------------------------------------------------- */

/* twitter-text config/v3.json: scale 100, defaultWeight 200, and the
 * ranges that weigh 100. */
#define SCALE          100
#define DEFAULT_WEIGHT 200
static const struct {
    int32_t lo, hi;
} light[] = {
    {0, 4351},
    {8192, 8205},
    {8208, 8223},
    {8242, 8247},
};

static long weight(int32_t cp)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(light); i++)
        if (cp >= light[i].lo && cp <= light[i].hi)
            return SCALE;
    return DEFAULT_WEIGHT;
}

/* twitter-text's URL extractor leaves trailing punctuation out of a URL
 * ("see https://example.com." counts the full stop), and a closing
 * parenthesis unless the URL opened one. */
static size_t url_trim(const char *s, size_t n)
{
    while (n > 8) {
        char c = s[n - 1];
        if (strchr(".,:;!?'\"", c) != NULL) {
            n--;
        } else if (c == ')' && memchr(s, '(', n) == NULL) {
            n--;
        } else {
            break;
        }
    }
    return n;
}

/* An emoji sequence starting at s: a pictographic code point (text-style
 * ones inside the light ranges, such as (c), only with U+FE0F after them)
 * or a keycap (0-9 # * with U+20E3). 0 when none. */
static size_t emoji_at(const char *s, size_t len, int32_t cp, size_t cplen)
{
    int32_t next = -1, after = -1;
    size_t n2 = 0;
    if (cplen < len)
        n2 = gw_utf8_next(s + cplen, len - cplen, &next);
    if (n2 > 0 && cplen + n2 < len)
        (void)gw_utf8_next(s + cplen + n2, len - cplen - n2, &after);
    bool keycap = ((cp >= '0' && cp <= '9') || cp == '#' || cp == '*') &&
                  (next == 0x20E3 || (next == 0xFE0F && after == 0x20E3));
    if (!keycap && !gw_text_is_pictographic(cp))
        return 0;
    if (!keycap && weight(cp) == SCALE && next != 0xFE0F)
        return 0;
    return gw_text_grapheme(s, len, NULL);
}

long x_text_length(const char *s)
{
    char *n = gw_text_nfc(s);
    size_t len = strlen(n), i = 0;
    long w = 0;
    int32_t before = -1;
    while (i < len) {
        size_t u = gw_text_url_at(n + i, len - i, before);
        if (u > 0) {
            u = url_trim(n + i, u);
            w += (long)X_URL_WEIGHT * SCALE;
            i += u;
            before = (unsigned char)n[i - 1];
            continue;
        }
        int32_t cp;
        size_t k = gw_utf8_next(n + i, len - i, &cp);
        size_t e = emoji_at(n + i, len - i, cp, k);
        if (e > 0) {
            w += DEFAULT_WEIGHT;
            i += e;
            before = 0x1F600; /* not a word character */
            continue;
        }
        w += weight(cp);
        i += k;
        before = cp;
    }
    free(n);
    return w / SCALE;
}

int x_check_length(const char *text, bool long_posts, char *err, size_t errlen)
{
    if (text == NULL || gw_blank(text)) {
        snprintf(err, errlen, "nothing to post");
        return UV_EINVAL;
    }
    long n = x_text_length(text);
    long max = long_posts ? X_NOTE_MAX : X_MAX_WEIGHTED;
    if (n > max) {
        snprintf(err, errlen, "too long: %ld, X allows %ld%s", n, max,
                 long_posts ? ""
                            : " (set long_posts = yes if your account "
                              "has long posts)");
        return UV_EMSGSIZE;
    }
    return 0;
}

/* ---- composing ----------------------------------------------------------- */

void x_post_free(struct x_post *p)
{
    if (p == NULL)
        return;
    free(p->text);
    free(p->reply_to);
    free(p->quote_id);
    free(p->dm_conv);
    free(p->dm_user);
    free(p->dm_name);
    memset(p, 0, sizeof(*p));
}

/* A trailing https://x.com/USER/status/ID (or twitter.com, mobile., www.)
 * with nothing but a query after the id: ID, and its start in *at. */
static char *quote_tail(const char *text, size_t *at)
{
    const char *sp = strrchr(text, ' ');
    const char *u = sp != NULL ? sp + 1 : text;
    static const char *const hosts[] = {
        "https://x.com/",        "https://twitter.com/",
        "https://www.x.com/",    "https://www.twitter.com/",
        "https://mobile.x.com/", "https://mobile.twitter.com/",
    };
    const char *p = NULL;
    for (size_t i = 0; i < GW_ARRAY_LEN(hosts) && p == NULL; i++)
        if (gw_strncasecmp(u, hosts[i], strlen(hosts[i])) == 0)
            p = u + strlen(hosts[i]);
    if (p == NULL)
        return NULL;
    const char *slash = strchr(p, '/');
    if (slash == NULL || slash == p || strncmp(slash, "/status/", 8) != 0)
        return NULL;
    const char *id = slash + 8;
    size_t n = strspn(id, "0123456789");
    if (n == 0 || n > 32 || (id[n] != '\0' && id[n] != '?'))
        return NULL;
    *at = (size_t)(u - text);
    return gw_xstrndup(id, n);
}

int x_compose(const struct gw_action *a, bool long_posts, struct x_post *out,
              char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *text = a->text != NULL ? a->text : "";
    if (a->kind == GW_ACT_DM) {
        if (gw_blank(text)) {
            snprintf(err, errlen, "nothing to send");
            return UV_EINVAL;
        }
        long n = gw_text_graphemes(text);
        if (n > X_DM_MAX) {
            snprintf(err, errlen, "too long: %ld, X allows %d in a DM", n,
                     X_DM_MAX);
            return UV_EMSGSIZE;
        }
        const struct gw_post_ref *p = a->parent;
        if (p != NULL && x_conv_id_valid(p->conversation) &&
            strchr(p->conversation, '-') != NULL)
            out->dm_conv = gw_xstrdup(p->conversation);
        else if (p != NULL && x_conv_id_valid(p->conversation) &&
                 p->extra != NULL && strstr(p->extra, "sender_id") != NULL)
            out->dm_conv = gw_xstrdup(p->conversation); /* a group DM */
        if (out->dm_conv == NULL && p != NULL && x_id_valid(p->author_id) &&
            strcmp(p->author_id, "0") != 0)
            out->dm_user = gw_xstrdup(p->author_id);
        if (out->dm_conv == NULL && out->dm_user == NULL) {
            const char *h = a->handle;
            if (h != NULL && *h == '@')
                h++;
            if (x_id_valid(h)) {
                out->dm_user = gw_xstrdup(h);
            } else if (x_username_valid(h)) {
                out->dm_name = gw_xstrdup(h);
            } else {
                snprintf(err, errlen, "to whom? give an X username");
                x_post_free(out);
                return UV_EINVAL;
            }
        }
        out->text = gw_xstrdup(text);
        return 0;
    }
    if (a->kind == GW_ACT_REPLY) {
        if (a->parent == NULL || !x_id_valid(a->parent->id)) {
            snprintf(err, errlen, "a reply needs a post to answer");
            return UV_EINVAL;
        }
        out->reply_to = gw_xstrdup(a->parent->id);
    }
    size_t at = 0;
    char *qid = a->kind == GW_ACT_POST ? quote_tail(text, &at) : NULL;
    if (qid != NULL) {
        out->quote_id = qid;
        out->text = gw_xstrndup(text, at);
        gw_trim(out->text);
        if (*out->text == '\0')
            return 0; /* a quote with nothing added is a quote still */
    } else {
        out->text = gw_xstrdup(text);
    }
    int rc = x_check_length(out->text, long_posts, err, errlen);
    if (rc < 0)
        x_post_free(out);
    return rc;
}

char *x_post_json(const struct x_post *p)
{
    cJSON *o = cJSON_CreateObject();
    if (p->text != NULL && *p->text != '\0')
        cJSON_AddStringToObject(o, "text", p->text);
    if (p->reply_to != NULL) {
        cJSON *r = cJSON_AddObjectToObject(o, "reply");
        cJSON_AddStringToObject(r, "in_reply_to_tweet_id", p->reply_to);
    }
    if (p->quote_id != NULL)
        cJSON_AddStringToObject(o, "quote_tweet_id", p->quote_id);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

char *x_dm_json(const struct x_post *p)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "text", p->text != NULL ? p->text : "");
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Text as X gives it back, comparable with what was sent: links expanded,
 * entities decoded, NFC, ends trimmed. */
static char *comparable(const cJSON *post)
{
    const cJSON *note = gw_json_obj(post, "note_tweet");
    const char *raw = gw_json_str(note, "text");
    const cJSON *ent = gw_json_obj(note, "entities");
    if (raw == NULL) {
        raw = gw_json_str(post, "text");
        ent = gw_json_obj(post, "entities");
    }
    if (raw == NULL)
        return NULL;
    char *t = gw_text_decode_entities(raw, strlen(raw));
    const cJSON *it;
    cJSON_ArrayForEach(it, gw_json_arr(ent, "urls"))
    {
        const char *url = gw_json_str(it, "url");
        const char *exp = gw_json_str(it, "expanded_url");
        char *hit = url != NULL && exp != NULL && *url ? strstr(t, url) : NULL;
        if (hit == NULL)
            continue;
        char *n =
            gw_xasprintf("%.*s%s%s", (int)(hit - t), t, exp, hit + strlen(url));
        free(t);
        t = n;
    }
    char *n = gw_text_nfc(t);
    free(t);
    gw_trim(n);
    return n;
}

const char *x_find_own(const cJSON *resp, const char *text, const char *parent)
{
    char *want = gw_text_nfc(text != NULL ? text : "");
    gw_trim(want);
    const char *found = NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, gw_json_arr(resp, "data"))
    {
        const char *id = x_json_id(it, "id");
        if (id == NULL)
            continue;
        const char *rep = NULL;
        const cJSON *r;
        cJSON_ArrayForEach(r, gw_json_arr(it, "referenced_tweets"))
        {
            const char *t = gw_json_str(r, "type");
            if (t != NULL && strcmp(t, "replied_to") == 0)
                rep = x_json_id(r, "id");
        }
        if ((parent == NULL) != (rep == NULL) ||
            (parent != NULL && strcmp(parent, rep) != 0))
            continue;
        char *got = comparable(it);
        bool same = got != NULL && strcmp(got, want) == 0;
        free(got);
        if (same) {
            found = id;
            break;
        }
    }
    free(want);
    return found;
}

/* ---- problems ------------------------------------------------------------ */

enum gw_action_status x_map_status(long status, int error)
{
    if (error != 0)
        return GW_ACT_RETRY;
    if (status >= 200 && status < 300)
        return GW_ACT_OK;
    if (status == 408 || status == 429 || status >= 500)
        return GW_ACT_RETRY;
    return GW_ACT_FAILED;
}

bool x_maybe_made(const struct gw_http_response *r)
{
    if (r->error == UV_ETIMEDOUT || r->error == UV_EIO ||
        r->error == UV_ECONNRESET || r->error == UV_E2BIG)
        return true;
    return r->error == 0 && r->status >= 500;
}

static cJSON *body_json(const struct gw_http_response *r)
{
    if (r == NULL || r->body == NULL || r->body_len == 0)
        return NULL;
    return cJSON_ParseWithLength(r->body, r->body_len);
}

static void add_part(struct gw_buf *b, const char *s)
{
    if (s == NULL || *s == '\0' || !gw_text_is_clean(s, strlen(s)))
        return;
    if (b->len > 0)
        (void)gw_buf_puts(b, ": ");
    (void)gw_buf_puts(b, s);
}

char *x_error_text(const struct gw_http_response *r)
{
    if (r->error != 0)
        return gw_xstrdup(r->errmsg != NULL && *r->errmsg ? r->errmsg
                                                          : "network error");
    cJSON *j = body_json(r);
    struct gw_buf b;
    gw_buf_init(&b, 2048);
    const cJSON *first = cJSON_GetArrayItem(gw_json_arr(j, "errors"), 0);
    if (gw_json_str(j, "title") != NULL || gw_json_str(j, "detail") != NULL) {
        add_part(&b, gw_json_str(j, "title"));
        add_part(&b, gw_json_str(j, "detail"));
        add_part(&b, gw_json_str(j, "reason"));
    } else if (first != NULL) {
        add_part(&b, gw_json_str(first, "message"));
        if (b.len == 0) {
            add_part(&b, gw_json_str(first, "title"));
            add_part(&b, gw_json_str(first, "detail"));
        }
    } else {
        add_part(&b, gw_json_str(j, "error"));
        add_part(&b, gw_json_str(j, "error_description"));
    }
    cJSON_Delete(j);
    if (b.len == 0)
        (void)gw_buf_printf(&b, "HTTP %ld", r->status);
    char *one = gw_text_one_line(b.data);
    gw_buf_free(&b);
    gw_text_truncate(one, 300);
    return one;
}

static bool body_has(const struct gw_http_response *r, const char *needle)
{
    cJSON *j = body_json(r);
    bool hit = false;
    const char *fields[] = {"detail", "title", "type", "reason"};
    for (size_t i = 0; i < GW_ARRAY_LEN(fields) && !hit; i++) {
        const char *v = gw_json_str(j, fields[i]);
        hit = v != NULL && strstr(v, needle) != NULL;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, gw_json_arr(j, "errors"))
    {
        const char *m = gw_json_str(it, "message");
        const char *d = gw_json_str(it, "detail");
        hit = hit || (m != NULL && strstr(m, needle) != NULL) ||
              (d != NULL && strstr(d, needle) != NULL);
    }
    cJSON_Delete(j);
    return hit;
}

bool x_is_duplicate(const struct gw_http_response *r)
{
    return r->error == 0 && r->status == 403 &&
           body_has(r, "duplicate content");
}

bool x_is_tier_error(const struct gw_http_response *r)
{
    return r->error == 0 && r->status == 403 &&
           (body_has(r, "client-forbidden") ||
            body_has(r, "client-not-enrolled") || body_has(r, "access level") ||
            body_has(r, "access tier") || body_has(r, "subset of X API"));
}

char *x_oauth_error(const struct gw_http_response *r)
{
    cJSON *j = body_json(r);
    const char *e = gw_json_str(j, "error");
    char *out = e != NULL && gw_printable_word(e, 64) ? gw_xstrdup(e) : NULL;
    cJSON_Delete(j);
    return out;
}

/* ---- OAuth 2.0 with PKCE ------------------------------------------------- */

const char x_scopes[] = "tweet.read tweet.write users.read dm.read dm.write "
                        "like.write follows.write offline.access";

char *x_urlencode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = gw_xmalloc(n * 3 + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
            (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

char *x_pkce_challenge(const char *verifier)
{
    unsigned char d[32];
    gw_sha256(verifier, strlen(verifier), d);
    return gw_base64url(d, sizeof(d));
}

char *x_pkce_verifier(void)
{
    unsigned char raw[32];
    if (gw_random_bytes(raw, sizeof(raw)) < 0)
        return NULL;
    return gw_base64url(raw, sizeof(raw));
}

char *x_authorize_url(const char *authorize, const char *client_id,
                      const char *redirect_uri, const char *state,
                      const char *challenge)
{
    char *cid = x_urlencode(client_id);
    char *ru = x_urlencode(redirect_uri);
    char *sc = x_urlencode(x_scopes);
    char *st = x_urlencode(state);
    char *ch = x_urlencode(challenge);
    char *url = gw_xasprintf(
        "%s%sresponse_type=code&client_id=%s&redirect_uri=%s&scope=%s"
        "&state=%s&code_challenge=%s&code_challenge_method=S256",
        authorize, strchr(authorize, '?') != NULL ? "&" : "?", cid, ru, sc, st,
        ch);
    free(cid);
    free(ru);
    free(sc);
    free(st);
    free(ch);
    return url;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The decoded value of name in a query string (after '?', up to '#'). */
static char *query_param(const char *url, const char *name)
{
    const char *q = strchr(url, '?');
    size_t nl = strlen(name);
    for (const char *p = q != NULL ? q + 1 : NULL; p != NULL && *p;) {
        const char *end = p + strcspn(p, "&#");
        if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 &&
            p[nl] == '=') {
            const char *v = p + nl + 1;
            char *out = gw_xmalloc((size_t)(end - v) + 1), *o = out;
            for (; v < end; v++) {
                if (*v == '%' && v + 2 < end && hexval(v[1]) >= 0 &&
                    hexval(v[2]) >= 0) {
                    *o++ = (char)(hexval(v[1]) * 16 + hexval(v[2]));
                    v += 2;
                } else {
                    *o++ = *v == '+' ? ' ' : *v;
                }
            }
            *o = '\0';
            return out;
        }
        if (*end != '&')
            break;
        p = end + 1;
    }
    return NULL;
}

int x_code_parse(const char *input, char **code, char **state, char *err,
                 size_t errlen)
{
    *code = *state = NULL;
    char *in = gw_xstrdup(input != NULL ? input : "");
    gw_trim(in);
    if (strchr(in, '?') != NULL || strncmp(in, "http", 4) == 0) {
        char *e = query_param(in, "error");
        if (e != NULL) {
            snprintf(err, errlen, "X did not sign you in: %s",
                     gw_printable_word(e, 64) ? e : "error");
            free(e);
            free(in);
            return UV_EINVAL;
        }
        *code = query_param(in, "code");
        *state = query_param(in, "state");
    } else {
        *code = gw_xstrdup(in);
    }
    free(in);
    if (!gw_printable_word(*code, 1024) || strchr(*code, '&') != NULL) {
        snprintf(err, errlen,
                 "that is not an authorization code or the "
                 "address X sent you back to");
        free(*code);
        free(*state);
        *code = *state = NULL;
        return UV_EINVAL;
    }
    if (*state != NULL && !gw_printable_word(*state, 256)) {
        free(*state);
        *state = NULL;
    }
    return 0;
}

/* ---- the budget ---------------------------------------------------------- */

#define DAY_MS 86400000LL

/* Days since the epoch to a civil year and month (H. Hinnant's algorithm,
 * for the proleptic Gregorian calendar). */
static void civil(int64_t days, int64_t *y, int *m)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t days_from_civil(int64_t y, int m)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t month_of(int64_t day)
{
    int64_t y;
    int m;
    civil(day, &y, &m);
    return (y - 1970) * 12 + (m - 1);
}

static int64_t month_start_ms(int64_t month)
{
    int64_t y = 1970 + month / 12;
    int m = (int)(month % 12) + 1;
    return days_from_civil(y, m) * DAY_MS;
}

void x_budget_roll(struct x_budget *b, int64_t now_ms)
{
    int64_t day = now_ms / DAY_MS;
    if (day != b->day) {
        b->day = day;
        b->requests_today = 0;
    }
    int64_t month = month_of(day);
    if (month != b->month) {
        b->month = month;
        b->posts_month = 0;
    }
}

char *x_budget_save(const struct x_budget *b)
{
    return gw_xasprintf("{\"day\":%lld,\"requests\":%ld,\"month\":%lld,"
                        "\"posts\":%ld}",
                        (long long)b->day, b->requests_today,
                        (long long)b->month, b->posts_month);
}

void x_budget_load(struct x_budget *b, const char *json)
{
    cJSON *j = json != NULL ? cJSON_Parse(json) : NULL;
    b->day = gw_json_long(j, "day", 0, 0, 10000000);
    b->requests_today = gw_json_long(j, "requests", 0, 0, 1000000000);
    b->month = gw_json_long(j, "month", 0, 0, 1000000);
    b->posts_month = gw_json_long(j, "posts", 0, 0, 1000000000);
    cJSON_Delete(j);
}

int64_t x_budget_reset_ms(const struct x_budget *b, int64_t now_ms)
{
    int64_t next_day = (now_ms / DAY_MS + 1) * DAY_MS;
    if (b->max_posts_month > 0 && b->posts_month >= b->max_posts_month)
        return month_start_ms(month_of(now_ms / DAY_MS) + 1);
    return next_day;
}

long x_budget_interval(const struct x_budget *b, int64_t now_ms, long base_ms,
                       long requests_per_poll, long posts_per_poll, bool *low)
{
    double wait = (double)base_ms;
    *low = false;
    if (requests_per_poll < 1)
        requests_per_poll = 1;
    if (posts_per_poll < 1)
        posts_per_poll = 1;
    if (b->max_requests_day > 0) {
        long left = b->max_requests_day - b->requests_today;
        if (left < requests_per_poll)
            return -1;
        double until = (double)((now_ms / DAY_MS + 1) * DAY_MS - now_ms);
        double w = until * (double)requests_per_poll / (double)left;
        if (w > wait) {
            wait = w;
            *low = true;
        }
    }
    if (b->max_posts_month > 0) {
        long left = b->max_posts_month - b->posts_month;
        if (left <= 0)
            return -1;
        double until =
            (double)(month_start_ms(month_of(now_ms / DAY_MS) + 1) - now_ms);
        double w = until * (double)posts_per_poll / (double)left;
        if (w > wait) {
            wait = w;
            *low = true;
        }
    }
    if (wait > (double)DAY_MS)
        wait = (double)DAY_MS;
    return (long)wait;
}

long x_ratelimit_interval(long remaining, int64_t reset_ms, int64_t now_ms)
{
    if (remaining < 0 || reset_ms <= now_ms)
        return 0;
    int64_t span = reset_ms - now_ms;
    if (remaining == 0)
        return (long)(span > DAY_MS ? DAY_MS : span);
    /* Keep one request of the window for a wake-up after a reply. */
    long spread = remaining > 1 ? remaining - 1 : 1;
    return (long)(span / spread);
}

/* ---- lines --------------------------------------------------------------- */

void x_lines_free(char **lines, int n)
{
    for (int i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

int x_thread_lines(const cJSON *resp, const struct x_me *me, char ***lines)
{
    *lines = NULL;
    const cJSON *data = gw_json_get(resp, "data");
    cJSON *one = NULL;
    if (cJSON_IsObject(data)) {
        one = cJSON_CreateArray();
        cJSON_AddItemReferenceToArray(one, (cJSON *)data);
        data = one;
    }
    const cJSON **items = NULL;
    int n = x_items_sorted(data, &items);
    if (n < 0 || (data == NULL && gw_json_get(resp, "meta") == NULL)) {
        cJSON_Delete(one);
        free(items);
        return UV_EINVAL;
    }
    const cJSON *inc = gw_json_obj(resp, "includes");
    const cJSON *errs = gw_json_arr(resp, "errors");
    char **out = gw_xcalloc((size_t)n + 1, sizeof(*out));
    int k = 0;
    for (int i = 0; i < n; i++) {
        struct x_event e;
        if (x_post_to_event(items[i], inc, errs, me, false, &e) == 0) {
            char *t = gw_text_one_line(e.ev.text);
            out[k] = gw_xasprintf("@%s: %s", e.ev.author, t);
            gw_text_truncate(out[k], 300);
            k++;
            free(t);
        }
        x_event_free(&e);
    }
    if (k == 0)
        out[k++] = gw_xstrdup("(X found no posts of this thread in the last "
                              "7 days)");
    free(items);
    cJSON_Delete(one);
    *lines = out;
    return k;
}

int x_who_lines(const cJSON *resp, char ***lines)
{
    *lines = NULL;
    const cJSON *u = gw_json_obj(resp, "data");
    const char *un = gw_json_str(u, "username");
    const char *id = x_json_id(u, "id");
    if (!x_username_valid(un) || id == NULL)
        return UV_EINVAL;
    char **out = gw_xcalloc(5, sizeof(*out));
    int k = 0;
    char *name =
        gw_text_one_line(gw_json_str(u, "name") ? gw_json_str(u, "name") : "");
    out[k++] = gw_xasprintf(
        "%s (@%s)%s, https://x.com/%s", name, un,
        cJSON_IsTrue(gw_json_get(u, "protected")) ? ", protected" : "", un);
    free(name);
    const cJSON *pm = gw_json_obj(u, "public_metrics");
    if (pm != NULL)
        out[k++] =
            gw_xasprintf("%ld posts, %ld followers, %ld following",
                         gw_json_long(pm, "tweet_count", 0, 0, 1L << 40),
                         gw_json_long(pm, "followers_count", 0, 0, 1L << 40),
                         gw_json_long(pm, "following_count", 0, 0, 1L << 40));
    const char *ca = gw_json_str(u, "created_at");
    if (ca != NULL && gw_printable_word(ca, 40))
        out[k++] = gw_xasprintf("on X since %.10s", ca);
    const char *bio = gw_json_str(u, "description");
    if (bio != NULL && *bio) {
        char *b = gw_text_one_line(bio);
        gw_text_truncate(b, 400);
        out[k++] = b;
    }
    *lines = out;
    return k;
}
