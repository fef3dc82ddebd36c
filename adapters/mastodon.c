/*
 * Mastodon: notifications in (back-fill over REST, then the user stream over
 * SSE or polling), statuses and account actions out, OAuth out-of-band.
 *
 * The first half of this file is pure (JSON to events, reply composition,
 * URLs, error mapping) and exported through mastodon.h for the unit tests.
 * The second half is the per-account runtime behind mastodon_ops.
 *
 * Ids are never converted to numbers: Mastodon's are 18-20 decimal digits
 * (a double keeps 15), GoToSocial's are ULIDs, so they are read as strings
 * and ordered by mastodon_id_cmp().
 */
#include "mastodon.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

/* One page of notifications; the API's default, and half its maximum. */
#define PAGE_LIMIT  40
#define OOB_URI     "urn:ietf:wg:oauth:2.0:oob"
#define OOB_URI_ENC "urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob"
#define CURSOR_NAME "notifications"

/* Stock server values, used when /api/v2/instance does not say. */
#define DEFAULT_MAX_CHARS  500
#define DEFAULT_URL_WEIGHT 23

/* A line of !thread or !who; an IRC line holds about 400 bytes of text. */
#define LINE_BYTES           300
#define THREAD_ANCESTORS_MAX 20
#define THREAD_LINES_MAX     60
#define NOTE_LINES_MAX       10
#define ERROR_TEXT_BYTES     300

/* poll_seconds: below 5 s a poller spends the 300 requests / 5 min that
 * Mastodon grants an account on nothing but polling. */
#define POLL_MIN_S     5
#define POLL_MAX_S     86400
#define POLL_DEFAULT_S 60

#define BACKOFF_MIN_MS     5000
#define BACKOFF_MAX_MS     300000
#define RETRY_AFTER_MAX_MS 3600000L
/* A rate-limit hold without a reset time. */
#define HOLD_DEFAULT_MS 60000

/* Texts and JSON we build stay far below this; it only bounds gw_buf. */
#define TEXT_MAX (4 * 1024 * 1024)

/* ---- small helpers ---------------------------------------------------- */

static bool is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

static bool blank(const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    }
    return true;
}

/* Printable ASCII without spaces: tokens, codes, ids that go into headers
 * and forms, where CR or LF would split a header. */
static bool printable_word(const char *s, size_t max)
{
    size_t n = 0;
    if (s == NULL || *s == '\0')
        return false;
    for (; *s != '\0'; s++, n++) {
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    }
    return n <= max;
}

static void trim_in_place(char *s)
{
    size_t len = strlen(s);
    size_t start = 0;
    while (len > 0 && s[len - 1] == ' ')
        len--;
    while (start < len && s[start] == ' ')
        start++;
    memmove(s, s + start, len - start);
    s[len - start] = '\0';
}

/* Untrusted text as one sanitised, trimmed line. */
static char *clean_line(const char *s)
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
    trim_in_place(t);
    return t;
}

/* Cut s to at most max bytes at a UTF-8 boundary, ending with "…". */
static void truncate_utf8(char *s, size_t max)
{
    size_t len = strlen(s);
    if (len <= max || max < 4)
        return;
    size_t cut = max - 3;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
        cut--;
    memcpy(s + cut, "\xe2\x80\xa6", 4);
}

/*
 * Beyond ASCII, text that goes to IRC as it is (URLs, handles) must be what
 * gw_text_sanitize() leaves alone: UTF-8 without C1 controls. A server can
 * send any bytes, and Parley promises its clients UTF8ONLY.
 */
static bool non_ascii_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] >= 0x80) {
            char *t = gw_text_sanitize(s, len);
            bool same = strlen(t) == len && memcmp(t, s, len) == 0;
            free(t);
            return same;
        }
    }
    return true;
}

static bool url_ok(const char *s)
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
    return n <= 4096 && non_ascii_ok(s, n);
}

/* ---- JSON access that never trusts a type ----------------------------- */

/* cJSON_GetObjectItemCaseSensitive, with the first byte compared before
 * calling strcmp: a Status has some 25 keys, read about 20 times per post. */
static const cJSON *jget(const cJSON *o, const char *k)
{
    if (!cJSON_IsObject(o))
        return NULL;
    for (const cJSON *c = o->child; c != NULL && c->string != NULL; c = c->next)
        if (c->string[0] == k[0] && strcmp(c->string, k) == 0)
            return c;
    return NULL;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = jget(o, k);
    if (!cJSON_IsString(v) || v->valuestring == NULL)
        return NULL;
    return v->valuestring;
}

static const cJSON *jobj(const cJSON *o, const char *k)
{
    const cJSON *v = jget(o, k);
    return cJSON_IsObject(v) ? v : NULL;
}

static const cJSON *jarr(const cJSON *o, const char *k)
{
    const cJSON *v = jget(o, k);
    return cJSON_IsArray(v) ? v : NULL;
}

/* Counts and limits only; never ids. */
static long jlong(const cJSON *o, const char *k, long dflt, long min, long max)
{
    const cJSON *v = jget(o, k);
    if (!cJSON_IsNumber(v))
        return dflt;
    double d = v->valuedouble;
    if (!(d == d))
        return dflt;
    if (d < (double)min)
        return min;
    if (d > (double)max)
        return max;
    return (long)d;
}

static cJSON *parse_body(const struct gw_http_response *r)
{
    if (r == NULL || r->body == NULL || r->body_len == 0)
        return NULL;
    return cJSON_ParseWithLength(r->body, r->body_len);
}

/* ---- ids ---------------------------------------------------------------- */

bool mastodon_id_valid(const char *s)
{
    size_t n = 0;
    if (s == NULL || *s == '\0')
        return false;
    for (; *s != '\0'; s++, n++) {
        if (!is_alnum((unsigned char)*s) && *s != '_' && *s != '-')
            return false;
    }
    return n <= 64;
}

const char *mastodon_json_id(const cJSON *obj, const char *key)
{
    const char *s = jstr(obj, key);
    return mastodon_id_valid(s) ? s : NULL;
}

int mastodon_id_cmp(const char *a, const char *b)
{
    while (*a == '0')
        a++;
    while (*b == '0')
        b++;
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    int c = strcmp(a, b);
    return c < 0 ? -1 : c > 0;
}

struct page_item {
    const cJSON *item;
    const char *id;
};

static int page_item_cmp(const void *pa, const void *pb)
{
    const struct page_item *a = pa, *b = pb;
    return mastodon_id_cmp(a->id, b->id);
}

int mastodon_page_sorted(const cJSON *page, const cJSON ***items)
{
    *items = NULL;
    if (!cJSON_IsArray(page))
        return UV_EINVAL;
    int total = cJSON_GetArraySize(page);
    if (total <= 0)
        return 0;
    struct page_item *tmp = gw_xcalloc((size_t)total, sizeof(*tmp));
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, page)
    {
        const char *id = mastodon_json_id(it, "id");
        if (id == NULL)
            continue;
        tmp[n].item = it;
        tmp[n].id = id;
        n++;
    }
    if (n > 0) {
        qsort(tmp, (size_t)n, sizeof(*tmp), page_item_cmp);
        *items = gw_xcalloc((size_t)n, sizeof(**items));
        for (int i = 0; i < n; i++)
            (*items)[i] = tmp[i].item;
    }
    free(tmp);
    return n;
}

/* ---- handles ------------------------------------------------------------ */

static bool handle_char(unsigned char c, bool domain)
{
    if (c >= 0x80 || is_alnum(c) || c == '_' || c == '.' || c == '-')
        return true;
    return domain && c == ':';
}

bool mastodon_handle_valid(const char *h)
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
        return non_ascii_ok(h, ulen);
    const char *d = at + 1;
    size_t dlen = strlen(d);
    if (dlen == 0 || dlen > 253 || *d == '.' || *d == '-' || *d == ':')
        return false;
    for (size_t i = 0; i < dlen; i++) {
        if (!handle_char((unsigned char)d[i], true))
            return false;
    }
    return non_ascii_ok(h, ulen + 1 + dlen);
}

char *mastodon_handle_full(const char *h, const char *domain)
{
    if (!mastodon_handle_valid(h))
        return NULL;
    if (*h == '@')
        h++;
    if (strchr(h, '@') != NULL || domain == NULL || *domain == '\0')
        return gw_xstrdup(h);
    return gw_xasprintf("%s@%s", h, domain);
}

static bool mention_cont(unsigned char c)
{
    return c >= 0x80 || is_alnum(c) || c == '_' || c == '-' || c == '@';
}

/* Does text mention "@h" as a whole word? */
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

char *mastodon_mention_text(const char *text, const char *const *handles,
                            int nhandles, const char *me_acct)
{
    struct gw_buf b;
    const char **added = NULL;
    int nadded = 0;

    if (text == NULL)
        text = "";
    if (me_acct != NULL && *me_acct == '@')
        me_acct++;
    gw_buf_init(&b, TEXT_MAX);
    if (nhandles > 0)
        added = gw_xcalloc((size_t)nhandles, sizeof(*added));
    for (int i = 0; i < nhandles; i++) {
        const char *h = handles[i];
        if (!mastodon_handle_valid(h))
            continue;
        if (*h == '@')
            h++;
        if (me_acct != NULL && gw_strcasecmp(h, me_acct) == 0)
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

/* ---- visibility --------------------------------------------------------- */

static const char *const visibilities[] = {"public", "unlisted", "private",
                                           "direct"};

int mastodon_visibility_rank(const char *v)
{
    if (v == NULL)
        return -1;
    for (size_t i = 0; i < GW_ARRAY_LEN(visibilities); i++) {
        if (strcmp(v, visibilities[i]) == 0)
            return (int)i;
    }
    return -1;
}

const char *mastodon_visibility_narrow(const char *parent,
                                       const char *requested)
{
    int rp = mastodon_visibility_rank(parent);
    int rq = mastodon_visibility_rank(requested);
    /* Not knowing the parent's audience, stay off public timelines but
     * still reach everyone mentioned. */
    if (rp < 0)
        return rq >= 0 ? visibilities[rq] : "unlisted";
    if (rq > rp)
        return visibilities[rq];
    return visibilities[rp];
}

/* ---- events ------------------------------------------------------------- */

static const char *keep(struct mastodon_event *e, char *s)
{
    if (s == NULL)
        return NULL;
    if (e->nstrs == e->capstrs) {
        e->capstrs = e->capstrs > 0 ? e->capstrs * 2 : 16;
        e->strs = gw_xrealloc(e->strs, (size_t)e->capstrs * sizeof(*e->strs));
    }
    e->strs[e->nstrs++] = s;
    return s;
}

/* Non-empty clean line kept in e, or NULL. */
static const char *keep_line(struct mastodon_event *e, const char *s)
{
    if (s == NULL)
        return NULL;
    char *t = clean_line(s);
    if (*t == '\0') {
        free(t);
        return NULL;
    }
    return keep(e, t);
}

void mastodon_event_free(struct mastodon_event *e)
{
    if (e == NULL)
        return;
    for (int i = 0; i < e->nstrs; i++)
        free(e->strs[i]);
    free(e->strs);
    free(e->media);
    free(e->mentions);
    memset(e, 0, sizeof(*e));
}

/* Mention links of one status, for gw_text_from_html(). */
struct mention_map {
    int n;
    const char **url;  /* mention.url, may be NULL */
    const char **user; /* mention.username, may be NULL */
    char **full;       /* full handle */
};

static void mention_map_init(struct mention_map *mm, const cJSON *st,
                             const char *domain)
{
    const cJSON *arr = jarr(st, "mentions");
    int total = arr != NULL ? cJSON_GetArraySize(arr) : 0;
    memset(mm, 0, sizeof(*mm));
    if (total <= 0)
        return;
    mm->url = gw_xcalloc((size_t)total, sizeof(*mm->url));
    mm->user = gw_xcalloc((size_t)total, sizeof(*mm->user));
    mm->full = gw_xcalloc((size_t)total, sizeof(*mm->full));
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (mm->n >= total)
            break;
        char *full = mastodon_handle_full(jstr(it, "acct"), domain);
        if (full == NULL)
            continue;
        mm->url[mm->n] = jstr(it, "url");
        mm->user[mm->n] = jstr(it, "username");
        mm->full[mm->n] = full;
        mm->n++;
    }
}

static void mention_map_free(struct mention_map *mm)
{
    for (int i = 0; i < mm->n; i++)
        free(mm->full[i]);
    free(mm->url);
    free(mm->user);
    free(mm->full);
    memset(mm, 0, sizeof(*mm));
}

/* The last path segment of a URL without a leading '@' ("alice" from
 * https://host/@alice and https://host/users/alice). */
static const char *url_last_segment(const char *url)
{
    const char *slash = strrchr(url, '/');
    if (slash == NULL)
        return NULL;
    slash++;
    if (*slash == '@')
        slash++;
    return *slash != '\0' ? slash : NULL;
}

static const char *mention_cb(void *arg, const char *href)
{
    struct mention_map *mm = arg;
    if (href == NULL)
        return NULL;
    for (int i = 0; i < mm->n; i++) {
        if (mm->url[i] != NULL && strcmp(mm->url[i], href) == 0)
            return mm->full[i];
    }
    /* Some servers link the actor id rather than the profile URL: accept
     * the same host and the same user name. */
    const char *seg = url_last_segment(href);
    char *hhost = mastodon_url_host(href);
    const char *found = NULL;
    for (int i = 0; i < mm->n && seg != NULL && hhost != NULL && !found; i++) {
        if (mm->url[i] == NULL || mm->user[i] == NULL ||
            gw_strcasecmp(mm->user[i], seg) != 0)
            continue;
        char *mhost = mastodon_url_host(mm->url[i]);
        if (mhost != NULL && gw_strcasecmp(mhost, hhost) == 0)
            found = mm->full[i];
        free(mhost);
    }
    free(hhost);
    return found;
}

/* status.content as plain text, with the poll appended. */
static char *status_text(const cJSON *st, struct mention_map *mm)
{
    const char *content = jstr(st, "content");
    char *text;
    if (content != NULL)
        text = gw_text_from_html(content, strlen(content), mention_cb, mm);
    else
        text = gw_xstrdup("");

    const cJSON *options = jarr(jobj(st, "poll"), "options");
    if (options == NULL)
        return text;
    struct gw_buf b;
    gw_buf_init(&b, TEXT_MAX);
    const cJSON *opt;
    int n = 0;
    cJSON_ArrayForEach(opt, options)
    {
        const char *title = jstr(opt, "title");
        if (title == NULL)
            continue;
        char *t = clean_line(title);
        (void)gw_buf_printf(&b, "%s%s", b.len == 0 ? "[poll] " : " / ", t);
        free(t);
        n++;
    }
    if (n == 0) {
        gw_buf_free(&b);
        return text;
    }
    char *out = gw_xasprintf("%s%s%s", text, *text != '\0' ? "\n" : "", b.data);
    gw_buf_free(&b);
    free(text);
    return out;
}

static const char *status_url(const cJSON *st)
{
    const char *u = jstr(st, "url");
    if (url_ok(u))
        return u;
    u = jstr(st, "uri");
    return url_ok(u) ? u : NULL;
}

/* Author fields from an Account. UV_EINVAL when it has no usable acct. */
static int fill_author(struct mastodon_event *e, const cJSON *acc,
                       const char *domain)
{
    char *full = mastodon_handle_full(jstr(acc, "acct"), domain);
    if (full == NULL)
        return UV_EINVAL;
    e->ev.author = keep(e, full);
    e->ev.author_name = keep_line(e, jstr(acc, "display_name"));
    const char *u = jstr(acc, "url");
    e->ev.author_url = url_ok(u) ? keep(e, gw_xstrdup(u)) : NULL;
    return 0;
}

static int64_t json_time(const cJSON *o, const char *k)
{
    int64_t ms = 0;
    const char *s = jstr(o, k);
    if (s == NULL || gw_parse_time(s, &ms) < 0)
        return 0;
    return ms;
}

static void fill_media(struct mastodon_event *e, const cJSON *st)
{
    const cJSON *arr = jarr(st, "media_attachments");
    int total = arr != NULL ? cJSON_GetArraySize(arr) : 0;
    if (total <= 0)
        return;
    e->media = gw_xcalloc((size_t)total, sizeof(*e->media));
    const cJSON *it;
    int n = 0;
    cJSON_ArrayForEach(it, arr)
    {
        const char *u = jstr(it, "url");
        if (!url_ok(u))
            u = jstr(it, "remote_url");
        if (!url_ok(u))
            continue;
        e->media[n].url = keep(e, gw_xstrdup(u));
        e->media[n].alt = keep_line(e, jstr(it, "description"));
        e->media[n].type = keep_line(e, jstr(it, "type"));
        n++;
    }
    e->ev.media = e->media;
    e->ev.nmedia = n;
}

static void fill_extra(struct mastodon_event *e, const cJSON *st,
                       const cJSON *acc)
{
    cJSON *x = cJSON_CreateObject();
    if (x == NULL)
        return;
    if (e->ev.visibility != NULL)
        cJSON_AddStringToObject(x, "visibility", e->ev.visibility);
    if (e->ev.cw != NULL)
        cJSON_AddStringToObject(x, "cw", e->ev.cw);
    cJSON *arr = cJSON_AddArrayToObject(x, "mentions");
    for (int i = 0; arr != NULL && i < e->ev.nmentions; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(e->ev.mentions[i]));
    const char *aid = mastodon_json_id(acc, "id");
    if (aid != NULL)
        cJSON_AddStringToObject(x, "author_id", aid);
    const char *edited = jstr(st, "edited_at");
    if (edited != NULL && printable_word(edited, 64))
        cJSON_AddStringToObject(x, "edited_at", edited);
    char *p = cJSON_PrintUnformatted(x);
    if (p != NULL) {
        e->ev.extra = keep(e, gw_xstrdup(p));
        cJSON_free(p);
    }
    cJSON_Delete(x);
}

/*
 * Replies start with "@me@host": in my own inbox that says nothing, and on
 * every line it buries the text. Only the leading run goes; a mention of me
 * later in the text stays.
 */
static char *strip_self_mention(char *text, const char *me_acct)
{
    if (me_acct == NULL || *me_acct == '\0')
        return text;
    size_t ml = strlen(me_acct);
    char *p = text;
    while (p[0] == '@' && gw_strncasecmp(p + 1, me_acct, ml) == 0 &&
           (p[1 + ml] == ' ' || p[1 + ml] == '\n' || p[1 + ml] == '\0')) {
        p += 1 + ml;
        while (*p == ' ' || *p == '\n')
            p++;
    }
    if (p != text)
        memmove(text, p, strlen(p) + 1);
    return text;
}

/* The fields of a post from a Status; fallback_acc when it has no account
 * (a stream payload cut short). */
static int fill_post(struct mastodon_event *e, const cJSON *st,
                     const cJSON *fallback_acc, const struct mastodon_me *me)
{
    const char *domain = me != NULL ? me->domain : NULL;
    const char *me_acct = me != NULL ? me->acct : NULL;
    const char *id = mastodon_json_id(st, "id");
    if (id == NULL)
        return UV_EINVAL;
    const cJSON *acc = jobj(st, "account");
    if (acc == NULL)
        acc = fallback_acc;
    if (acc == NULL || fill_author(e, acc, domain) < 0)
        return UV_EINVAL;
    e->ev.id = keep(e, gw_xstrdup(id));
    const char *url = status_url(st);
    e->ev.url = url != NULL ? keep(e, gw_xstrdup(url)) : NULL;

    struct mention_map mm;
    mention_map_init(&mm, st, domain);
    if (mm.n > 0)
        e->mentions = gw_xcalloc((size_t)mm.n, sizeof(*e->mentions));
    for (int i = 0; i < mm.n; i++) {
        if (me_acct != NULL && gw_strcasecmp(mm.full[i], me_acct) == 0)
            continue;
        bool dup = false;
        for (int j = 0; j < e->ev.nmentions && !dup; j++)
            dup = gw_strcasecmp(e->mentions[j], mm.full[i]) == 0;
        if (!dup)
            e->mentions[e->ev.nmentions++] = keep(e, gw_xstrdup(mm.full[i]));
    }
    e->ev.mentions = e->mentions;
    e->ev.text = keep(e, strip_self_mention(status_text(st, &mm), me_acct));
    mention_map_free(&mm);

    e->ev.cw = keep_line(e, jstr(st, "spoiler_text"));
    const char *vis = jstr(st, "visibility");
    int rank = mastodon_visibility_rank(vis);
    if (rank >= 0)
        e->ev.visibility = visibilities[rank];
    else if (vis != NULL && mastodon_id_valid(vis))
        e->ev.visibility = keep(e, gw_xstrdup(vis)); /* "local" and such */
    const char *parent = mastodon_json_id(st, "in_reply_to_id");
    e->ev.in_reply_to = parent != NULL ? keep(e, gw_xstrdup(parent)) : NULL;
    e->ev.created_ms = json_time(st, "created_at");
    /* The core keys an edit by id and time: each edit its own time. */
    if (e->ev.kind == GW_EV_EDIT && json_time(st, "edited_at") != 0)
        e->ev.created_ms = json_time(st, "edited_at");
    fill_media(e, st);
    fill_extra(e, st, acc);
    return 0;
}

int mastodon_status_to_event(const cJSON *st, enum gw_event_kind kind,
                             const struct mastodon_me *me,
                             struct mastodon_event *out)
{
    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(st))
        return UV_EINVAL;
    out->ev.kind = kind;
    return fill_post(out, st, NULL, me);
}

int mastodon_notification_to_event(const cJSON *n, const struct mastodon_me *me,
                                   struct mastodon_event *out)
{
    memset(out, 0, sizeof(*out));
    const char *domain = me != NULL ? me->domain : NULL;
    const char *nid = mastodon_json_id(n, "id");
    const char *type = jstr(n, "type");
    if (nid == NULL || type == NULL)
        return UV_EINVAL;
    const cJSON *acc = jobj(n, "account");
    const cJSON *st = jobj(n, "status");

    if (strcmp(type, "mention") == 0 || strcmp(type, "quote") == 0 ||
        strcmp(type, "update") == 0) {
        if (st == NULL)
            return UV_EINVAL;
        if (strcmp(type, "update") == 0) {
            out->ev.kind = GW_EV_EDIT;
        } else if (strcmp(type, "quote") == 0) {
            out->ev.kind = GW_EV_QUOTE;
        } else {
            const char *vis = jstr(st, "visibility");
            const char *to = mastodon_json_id(st, "in_reply_to_account_id");
            if (vis != NULL && strcmp(vis, "direct") == 0)
                out->ev.kind = GW_EV_DM;
            else if (to != NULL && me != NULL && me->id != NULL &&
                     strcmp(to, me->id) == 0)
                out->ev.kind = GW_EV_REPLY;
            else
                out->ev.kind = GW_EV_MENTION;
        }
        int rc = fill_post(out, st, acc, me);
        if (rc < 0)
            return rc;
        if (out->ev.kind == GW_EV_QUOTE) {
            const cJSON *q = jobj(st, "quote");
            const char *qid = mastodon_json_id(jobj(q, "quoted_status"), "id");
            if (qid == NULL)
                qid = mastodon_json_id(q, "quoted_status_id");
            if (qid != NULL)
                out->ev.target_id = keep(out, gw_xstrdup(qid));
        }
        if (out->ev.created_ms == 0)
            out->ev.created_ms = json_time(n, "created_at");
        return 0;
    }

    enum gw_event_kind kind;
    if (strcmp(type, "favourite") == 0)
        kind = GW_EV_FAV;
    else if (strcmp(type, "reblog") == 0)
        kind = GW_EV_BOOST;
    else if (strcmp(type, "follow") == 0)
        kind = GW_EV_FOLLOW;
    else
        return MASTODON_IGNORED;

    out->ev.kind = kind;
    if (acc == NULL || fill_author(out, acc, domain) < 0)
        return UV_EINVAL;
    out->ev.id = keep(out, gw_xstrdup(nid));
    out->ev.created_ms = json_time(n, "created_at");
    if (kind == GW_EV_FOLLOW) {
        out->ev.text = "";
        return 0;
    }
    const char *sid = mastodon_json_id(st, "id");
    if (sid == NULL)
        return UV_EINVAL;
    out->ev.target_id = keep(out, gw_xstrdup(sid));
    struct mention_map mm;
    mention_map_init(&mm, st, domain);
    out->ev.text = keep(out, status_text(st, &mm));
    mention_map_free(&mm);
    const char *url = status_url(st);
    out->ev.url = url != NULL ? keep(out, gw_xstrdup(url)) : NULL;
    return 0;
}

/* ---- composing posts ---------------------------------------------------- */

void mastodon_post_free(struct mastodon_post *p)
{
    if (p == NULL)
        return;
    free(p->text);
    free(p->spoiler);
    free(p->in_reply_to);
    memset(p, 0, sizeof(*p));
}

/* What we know of a parent: from the ref, else from our own extra JSON. */
struct parent_info {
    const char *visibility;
    const char *cw;
    const char **mentions; /* borrowed strings, owned array */
    int nmentions;
    cJSON *extra;
};

static void parent_info_get(const struct gw_post_ref *p, struct parent_info *pi)
{
    memset(pi, 0, sizeof(*pi));
    if (p == NULL)
        return;
    if (p->extra != NULL)
        pi->extra = cJSON_Parse(p->extra);
    pi->visibility = p->visibility;
    if (pi->visibility == NULL)
        pi->visibility = jstr(pi->extra, "visibility");
    pi->cw = p->cw;
    if (pi->cw == NULL || *pi->cw == '\0')
        pi->cw = jstr(pi->extra, "cw");
    if (p->mentions != NULL && p->nmentions > 0) {
        pi->mentions = gw_xcalloc((size_t)p->nmentions, sizeof(char *));
        for (int i = 0; i < p->nmentions; i++)
            pi->mentions[pi->nmentions++] = p->mentions[i];
        return;
    }
    const cJSON *arr = jarr(pi->extra, "mentions");
    int total = arr != NULL ? cJSON_GetArraySize(arr) : 0;
    if (total <= 0)
        return;
    pi->mentions = gw_xcalloc((size_t)total, sizeof(char *));
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (pi->nmentions < total && cJSON_IsString(it) &&
            it->valuestring != NULL)
            pi->mentions[pi->nmentions++] = it->valuestring;
    }
}

static void parent_info_free(struct parent_info *pi)
{
    free(pi->mentions);
    cJSON_Delete(pi->extra);
    memset(pi, 0, sizeof(*pi));
}

static char *nonempty_dup(const char *s)
{
    return s != NULL && *s != '\0' ? gw_xstrdup(s) : NULL;
}

int mastodon_compose(const struct gw_action *a, const char *me_acct,
                     struct mastodon_post *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *text = a->text != NULL ? a->text : "";
    const char *req = a->visibility;
    if (req != NULL && *req == '\0')
        req = NULL;
    if (blank(text)) {
        snprintf(err, errlen, "nothing to send: the text is empty");
        return UV_EINVAL;
    }
    if (req != NULL && mastodon_visibility_rank(req) < 0) {
        snprintf(err, errlen,
                 "unknown visibility \"%s\" (public, unlisted, private or "
                 "direct)",
                 req);
        return UV_EINVAL;
    }
    const struct gw_post_ref *p = a->parent;
    bool parent_ok = p != NULL && mastodon_id_valid(p->id);

    switch (a->kind) {
    case GW_ACT_POST:
        out->text = gw_xstrdup(text);
        out->visibility =
            req != NULL ? mastodon_visibility_narrow(req, NULL) : "public";
        out->spoiler = nonempty_dup(a->cw);
        return 0;
    case GW_ACT_REPLY:
    case GW_ACT_DM: {
        if (a->kind == GW_ACT_REPLY && !parent_ok) {
            snprintf(err, errlen, "no post to reply to");
            return UV_EINVAL;
        }
        const char *handle = a->kind == GW_ACT_DM ? a->handle : NULL;
        if (handle != NULL && *handle != '\0' &&
            !mastodon_handle_valid(handle)) {
            snprintf(err, errlen, "not a handle: %s", handle);
            return UV_EINVAL;
        }
        if (handle != NULL && *handle == '\0')
            handle = NULL;
        if (a->kind == GW_ACT_DM && handle == NULL && !parent_ok) {
            snprintf(err, errlen, "no recipient for the direct message");
            return UV_EINVAL;
        }
        struct parent_info pi;
        parent_info_get(parent_ok ? p : NULL, &pi);
        int nh = 0;
        const char **hs = gw_xcalloc((size_t)pi.nmentions + 2, sizeof(*hs));
        if (handle != NULL)
            hs[nh++] = handle;
        if (parent_ok && p->author != NULL)
            hs[nh++] = p->author;
        for (int i = 0; i < pi.nmentions; i++)
            hs[nh++] = pi.mentions[i];
        out->text = mastodon_mention_text(text, hs, nh, me_acct);
        free(hs);
        if (a->kind == GW_ACT_DM)
            out->visibility = "direct";
        else
            out->visibility = mastodon_visibility_narrow(pi.visibility, req);
        out->spoiler = nonempty_dup(a->cw);
        if (out->spoiler == NULL)
            out->spoiler = nonempty_dup(pi.cw);
        if (parent_ok)
            out->in_reply_to = gw_xstrdup(p->id);
        parent_info_free(&pi);
        return 0;
    }
    default:
        snprintf(err, errlen, "not a post");
        return UV_EINVAL;
    }
}

int mastodon_check_length(const struct mastodon_post *p, long max,
                          long url_weight, char *err, size_t errlen)
{
    if (max <= 0)
        return 0;
    char *all = gw_xasprintf("%s%s", p->spoiler != NULL ? p->spoiler : "",
                             p->text != NULL ? p->text : "");
    long n = gw_text_mastodon_length(all, url_weight);
    free(all);
    if (n <= max)
        return 0;
    snprintf(err, errlen, "too long: %ld characters, the server allows %ld", n,
             max);
    return UV_EMSGSIZE;
}

/* ---- HTTP outcomes ------------------------------------------------------ */

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

long mastodon_retry_after_ms(const struct gw_http_response *r, int64_t now_ms)
{
    long ms = 0;
    if (r->retry_after_s >= 0) {
        ms = r->retry_after_s > RETRY_AFTER_MAX_MS / 1000
                 ? RETRY_AFTER_MAX_MS
                 : r->retry_after_s * 1000;
    } else if ((r->status == 429 || r->ratelimit_remaining == 0) &&
               r->ratelimit_reset_ms > now_ms) {
        int64_t d = r->ratelimit_reset_ms - now_ms;
        ms = d > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS : (long)d;
    }
    return ms;
}

char *mastodon_error_text(const struct gw_http_response *r)
{
    char *msg = NULL;
    if (r->error != 0) {
        msg = gw_xstrdup(r->errmsg != NULL && *r->errmsg != '\0'
                             ? r->errmsg
                             : "network error");
    } else {
        cJSON *j = parse_body(r);
        const char *e = jstr(j, "error");
        const char *d = jstr(j, "error_description");
        if (e != NULL && *e != '\0' && d != NULL && *d != '\0')
            msg = gw_xasprintf("%s: %s", e, d);
        else if (e != NULL && *e != '\0')
            msg = gw_xstrdup(e);
        else
            msg = gw_xasprintf("HTTP %ld", r->status);
        cJSON_Delete(j);
    }
    char *line = clean_line(msg);
    free(msg);
    truncate_utf8(line, ERROR_TEXT_BYTES);
    return line;
}

/* ---- URLs --------------------------------------------------------------- */

char *mastodon_urlencode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(s);
    char *out = gw_xmalloc(len * 3 + 1);
    char *w = out;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            *w++ = (char)c;
        } else {
            *w++ = '%';
            *w++ = hex[c >> 4];
            *w++ = hex[c & 15];
        }
    }
    *w = '\0';
    return out;
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

/* ---- instance ----------------------------------------------------------- */

void mastodon_instance_parse(const cJSON *inst, struct mastodon_instance *out)
{
    memset(out, 0, sizeof(*out));
    out->max_characters = DEFAULT_MAX_CHARS;
    out->url_weight = DEFAULT_URL_WEIGHT;
    if (!cJSON_IsObject(inst))
        return;
    const cJSON *conf = jobj(inst, "configuration");
    const cJSON *statuses = jobj(conf, "statuses");
    /* Pleroma-style servers say max_toot_chars at the top level. */
    long max = jlong(inst, "max_toot_chars", DEFAULT_MAX_CHARS, 1, 1000000);
    out->max_characters = jlong(statuses, "max_characters", max, 1, 1000000);
    out->url_weight = jlong(statuses, "characters_reserved_per_url",
                            DEFAULT_URL_WEIGHT, 0, 100000);
    const char *domain = jstr(inst, "domain");
    if (domain != NULL) {
        char *probe = gw_xasprintf("x@%s", domain);
        if (mastodon_handle_valid(probe))
            out->domain = gw_xstrdup(domain);
        free(probe);
    }
    const char *s = jstr(jobj(conf, "urls"), "streaming");
    if (s != NULL) {
        char *http = NULL;
        if (gw_strncasecmp(s, "wss://", 6) == 0)
            http = gw_xasprintf("https://%s", s + 6);
        else if (gw_strncasecmp(s, "ws://", 5) == 0)
            http = gw_xasprintf("http://%s", s + 5);
        else
            http = gw_xstrdup(s);
        out->streaming_base = mastodon_base_url(http);
        free(http);
    }
}

void mastodon_instance_free(struct mastodon_instance *in)
{
    if (in == NULL)
        return;
    free(in->domain);
    free(in->streaming_base);
    memset(in, 0, sizeof(*in));
}

/* ---- lines for !thread and !who ----------------------------------------- */

void mastodon_lines_free(char **lines, int n)
{
    for (int i = 0; lines != NULL && i < n; i++)
        free(lines[i]);
    free(lines);
}

struct lines {
    char **v;
    int n;
    int cap;
};

static void lines_add(struct lines *l, char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap > 0 ? l->cap * 2 : 8;
        l->v = gw_xrealloc(l->v, (size_t)l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = s;
}

static char *status_line(const cJSON *st, const char *domain)
{
    char *who = mastodon_handle_full(jstr(jobj(st, "account"), "acct"), domain);
    struct mention_map mm;
    mention_map_init(&mm, st, domain);
    char *text = status_text(st, &mm);
    mention_map_free(&mm);
    const char *cw = jstr(st, "spoiler_text");
    char *cwl = cw != NULL ? clean_line(cw) : gw_xstrdup("");
    char *raw = gw_xasprintf("%s: %s%s%s%s", who != NULL ? who : "?",
                             *cwl != '\0' ? "[CW: " : "", cwl,
                             *cwl != '\0' ? "] " : "", text);
    char *line = clean_line(raw);
    truncate_utf8(line, LINE_BYTES);
    free(raw);
    free(cwl);
    free(text);
    free(who);
    return line;
}

int mastodon_thread_lines(const cJSON *status, const cJSON *context,
                          const char *domain, char ***lines)
{
    struct lines l = {0};
    *lines = NULL;
    if (mastodon_json_id(status, "id") == NULL)
        return UV_EINVAL;
    const cJSON *anc = jarr(context, "ancestors");
    const cJSON *desc = jarr(context, "descendants");
    int nanc = anc != NULL ? cJSON_GetArraySize(anc) : 0;
    int ndesc = desc != NULL ? cJSON_GetArraySize(desc) : 0;
    int skip = nanc > THREAD_ANCESTORS_MAX ? nanc - THREAD_ANCESTORS_MAX : 0;
    if (skip > 0)
        lines_add(&l, gw_xasprintf("… %d earlier posts", skip));
    const cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, anc)
    {
        if (i++ >= skip && cJSON_IsObject(it))
            lines_add(&l, status_line(it, domain));
    }
    lines_add(&l, status_line(status, domain));
    i = 0;
    cJSON_ArrayForEach(it, desc)
    {
        if (l.n >= THREAD_LINES_MAX) {
            lines_add(&l, gw_xasprintf("… %d more replies", ndesc - i));
            break;
        }
        i++;
        if (cJSON_IsObject(it))
            lines_add(&l, status_line(it, domain));
    }
    *lines = l.v;
    return l.n;
}

struct note_lines {
    struct lines *l;
    int n;
};

static int note_line_cb(void *arg, const char *line, size_t len)
{
    struct note_lines *nl = arg;
    if (nl->n >= NOTE_LINES_MAX)
        return 1;
    char *raw = gw_xstrndup(line, len);
    char *s = clean_line(raw);
    free(raw);
    if (*s == '\0') {
        free(s);
        return 0;
    }
    truncate_utf8(s, LINE_BYTES);
    lines_add(nl->l, s);
    nl->n++;
    return 0;
}

int mastodon_who_lines(const cJSON *account, const char *domain, char ***lines)
{
    struct lines l = {0};
    *lines = NULL;
    char *full = mastodon_handle_full(jstr(account, "acct"), domain);
    if (full == NULL)
        return UV_EINVAL;
    const char *dn = jstr(account, "display_name");
    char *name = dn != NULL ? clean_line(dn) : gw_xstrdup("");
    const char *bot = cJSON_IsTrue(jget(account, "bot")) ? " [bot]" : "";
    char *first;
    if (*name != '\0')
        first = gw_xasprintf("%s (@%s)%s", name, full, bot);
    else
        first = gw_xasprintf("@%s%s", full, bot);
    truncate_utf8(first, LINE_BYTES);
    lines_add(&l, first);
    free(name);
    free(full);
    const char *url = jstr(account, "url");
    if (url_ok(url))
        lines_add(&l, gw_xstrdup(url));
    lines_add(&l,
              gw_xasprintf("%ld followers, %ld following, %ld posts",
                           jlong(account, "followers_count", 0, 0, LONG_MAX),
                           jlong(account, "following_count", 0, 0, LONG_MAX),
                           jlong(account, "statuses_count", 0, 0, LONG_MAX)));
    const char *note = jstr(account, "note");
    if (note != NULL) {
        char *text = gw_text_from_html(note, strlen(note), NULL, NULL);
        struct note_lines nl = {&l, 0};
        /* The split is only for newlines: LINE_BYTES cuts long ones. */
        (void)gw_text_split(text, TEXT_MAX, note_line_cb, &nl);
        free(text);
    }
    *lines = l.v;
    return l.n;
}

/* ======================================================================== */
/* The runtime: one struct mastodon per account.                            */
/* ======================================================================== */

struct mastodon;
struct mreq;

typedef void (*mreq_done_cb)(struct mastodon *m, struct mreq *q,
                             const struct gw_http_response *r);

/*
 * One HTTP request in flight. Owned by the list m->reqs until its callback
 * runs; stop() lets go of it (m = NULL) and cancels it, and the callback
 * then only frees it.
 */
struct mreq {
    struct mreq *next, *prev;
    struct mastodon *m;      /* NULL once stop() let go of it */
    struct gw_http_req *req; /* while in flight */
    mreq_done_cb done;
    unsigned gen;     /* session generation when sent */
    bool sessionless; /* login steps: valid across sessions */
    char *url;
    char *body;
    char *auth; /* "Authorization: Bearer ..." or NULL */
    char *idem; /* "Idempotency-Key: ..." or NULL */
    const char *hdrs[3];
    /* actions */
    bool is_action;
    uint64_t token;
    enum gw_action_kind kind;
    char *arg;     /* status id, account id or handle */
    bool searched; /* lookup fell back to /api/v2/search */
    cJSON *keep;   /* !thread: the status, until the context arrives */
};

/* One SSE stream. Retired streams are closed from a timer, never inside
 * their own callbacks. */
struct mstream {
    struct mstream *next; /* in m->retired */
    struct mastodon *m;
    struct gw_sse *sse;
    bool retired;
    char *url;
    char *auth;
    const char *hdrs[2];
};

/* An action outcome known before any request: reported from a timer, so
 * gw_ad_action_done() never runs inside act(). */
struct mdone {
    struct mdone *next;
    uint64_t token;
    enum gw_action_status status;
    char *msg;
    long retry_ms;
};

/* An action that arrived before the sign-in finished (it needs my handle
 * and the server's limits): a deep copy, carried out once signed in. */
struct held {
    struct held *next;
    struct gw_action a;
    struct gw_post_ref ref;
    const char **mentions; /* ref.mentions */
    char **strs;           /* every string above */
    int nstrs;
};

/* Per-account state, priv of the gw_adapter from start() to stop(). */
struct mastodon {
    struct gw_adapter *ad;
    char *base;        /* API base URL, no trailing '/' */
    char *domain;      /* domain of local handles */
    char *stream_base; /* streaming host when it differs, else NULL */
    char *token;       /* never logged, never in a notice */
    char *auth_hdr;    /* "Authorization: Bearer <token>" */
    char *ca_file;     /* tls_ca */
    bool insecure;     /* tls_verify = no */
    bool want_stream;  /* streaming = yes */
    long poll_ms;
    char *client_id, *client_secret, *app_base; /* OAuth app */

    char *me_id;   /* my account id */
    char *me_raw;  /* acct as verify_credentials gave it */
    char *me_acct; /* my full handle */
    long max_chars, url_weight;
    char *cursor; /* newest notification id handled */

    unsigned gen;    /* bumped on every new sign-in */
    bool signed_in;  /* verify_credentials answered */
    bool signed_out; /* no token, or it was refused: no retries */
    bool announce;   /* say "signed in as" when it happens */
    int signin_failures;
    long signin_backoff_ms;

    bool bf_running;    /* a back-fill is in progress */
    bool bf_again;      /* another one was asked for meanwhile */
    bool cursor_frozen; /* a stream event failed to store */
    long bf_backoff_ms;

    struct mstream *stream; /* current stream */
    struct mstream *retired;
    bool sse_connected;
    bool stream_off; /* streaming unavailable: polling */

    struct gw_ad_timer *t_signin, *t_backfill, *t_reap, *t_done;
    struct mreq *reqs;
    struct mdone *dones, **dones_tail;
    struct held *held, **held_tail;

    int64_t last_event_ms;
    long rl_remaining;
    int64_t hold_until_ms; /* no polling or back-fill before this */
    char detail[256];

    int depth; /* callbacks of ours on the stack */
    bool dead; /* stop() ran; free when depth drops to 0 */
};

static void signin_start(struct mastodon *m);
static void backfill_start(struct mastodon *m);
static void backfill_page(struct mastodon *m);
static int register_app(struct mastodon *m);
static void release_held(struct mastodon *m);
static void answer_held(struct mastodon *m, enum gw_action_status st,
                        const char *msg);

static const char *acct_name(const struct mastodon *m)
{
    return m->ad->name != NULL ? m->ad->name : "mastodon";
}

static void set_detail(struct mastodon *m, const char *fmt, ...)
    GW_PRINTF(2, 3);

static void set_detail(struct mastodon *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->detail, sizeof(m->detail), fmt, ap);
    va_end(ap);
}

static void replace(char **slot, const char *value)
{
    char *v = value != NULL ? gw_xstrdup(value) : NULL;
    free(*slot);
    *slot = v;
}

static struct mastodon_me my_me(const struct mastodon *m)
{
    struct mastodon_me me = {m->me_id, m->me_acct, m->domain};
    return me;
}

static long next_backoff(long *cur, long cap)
{
    long d = *cur < BACKOFF_MIN_MS ? BACKOFF_MIN_MS : *cur;
    if (d > cap)
        d = cap;
    *cur = d * 2 > cap ? cap : d * 2;
    return d;
}

/* ---- lifetime ----------------------------------------------------------- */

static void stream_free(struct mstream *st)
{
    if (st->sse != NULL)
        gw_sse_close(st->sse);
    free(st->url);
    free(st->auth);
    free(st);
}

static void req_free(struct mreq *q)
{
    free(q->url);
    free(q->body);
    free(q->auth);
    free(q->idem);
    free(q->arg);
    cJSON_Delete(q->keep);
    free(q);
}

static void req_unlink(struct mastodon *m, struct mreq *q)
{
    if (q->prev != NULL)
        q->prev->next = q->next;
    else if (m->reqs == q)
        m->reqs = q->next;
    if (q->next != NULL)
        q->next->prev = q->prev;
    q->next = q->prev = NULL;
}

static void timer_disarm(struct gw_ad_timer **slot)
{
    gw_ad_timer_stop(*slot);
    *slot = NULL;
}

static void timer_arm(struct mastodon *m, struct gw_ad_timer **slot,
                      uint64_t ms, gw_ad_timer_cb cb)
{
    if (m->dead)
        return;
    timer_disarm(slot);
    *slot = gw_ad_timer_start(m->ad, ms, cb, m);
}

static void held_free(struct held *h)
{
    for (int i = 0; i < h->nstrs; i++)
        free(h->strs[i]);
    free(h->strs);
    free(h->mentions);
    free(h);
}

/* Cancel everything; no upcall happens here (cancel callbacks find their
 * request let go of and only free it). */
static void teardown(struct mastodon *m)
{
    timer_disarm(&m->t_signin);
    timer_disarm(&m->t_backfill);
    timer_disarm(&m->t_reap);
    timer_disarm(&m->t_done);
    if (m->stream != NULL) {
        stream_free(m->stream);
        m->stream = NULL;
    }
    while (m->retired != NULL) {
        struct mstream *st = m->retired;
        m->retired = st->next;
        stream_free(st);
    }
    struct mreq *q = m->reqs;
    m->reqs = NULL;
    while (q != NULL) {
        struct mreq *next = q->next;
        q->next = q->prev = NULL;
        q->m = NULL;
        if (q->req != NULL)
            gw_http_cancel(q->req); /* its callback frees it */
        else
            req_free(q);
        q = next;
    }
    while (m->dones != NULL) {
        struct mdone *d = m->dones;
        m->dones = d->next;
        free(d->msg);
        free(d);
    }
    m->dones_tail = &m->dones;
    while (m->held != NULL) {
        struct held *h = m->held;
        m->held = h->next;
        held_free(h);
    }
    m->held_tail = &m->held;
}

static void priv_free(struct mastodon *m)
{
    free(m->base);
    free(m->domain);
    free(m->stream_base);
    free(m->token);
    free(m->auth_hdr);
    free(m->ca_file);
    free(m->client_id);
    free(m->client_secret);
    free(m->app_base);
    free(m->me_id);
    free(m->me_raw);
    free(m->me_acct);
    free(m->cursor);
    free(m);
}

/* End of one of our callbacks; true when m is gone. */
static bool leave(struct mastodon *m)
{
    if (--m->depth == 0 && m->dead) {
        priv_free(m);
        return true;
    }
    return false;
}

/* ---- requests ------------------------------------------------------------ */

static void note_limits(struct mastodon *m, const struct gw_http_response *r)
{
    if (r == NULL)
        return;
    int64_t now = gw_now_ms();
    if (r->ratelimit_remaining >= 0) {
        m->rl_remaining = r->ratelimit_remaining;
        if (r->ratelimit_remaining == 0 && r->ratelimit_reset_ms > now &&
            r->ratelimit_reset_ms > m->hold_until_ms)
            m->hold_until_ms = r->ratelimit_reset_ms;
    }
    if (r->status == 429) {
        long ms = mastodon_retry_after_ms(r, now);
        int64_t until = now + (ms > 0 ? ms : HOLD_DEFAULT_MS);
        if (until > m->hold_until_ms)
            m->hold_until_ms = until;
    }
}

static void on_http(void *arg, const struct gw_http_response *r)
{
    struct mreq *q = arg;
    struct mastodon *m = q->m;
    q->req = NULL;
    if (m == NULL) {
        req_free(q);
        return;
    }
    req_unlink(m, q);
    m->depth++;
    note_limits(m, r);
    /* A session's answers arriving after a new sign-in (a new token) are
     * stale: a 401 there says nothing about the new token. */
    if (q->is_action || q->sessionless || q->gen == m->gen)
        q->done(m, q, r);
    req_free(q);
    leave(m);
}

static struct mreq *req_new(mreq_done_cb done, char *url)
{
    struct mreq *q = gw_xcalloc(1, sizeof(*q));
    q->done = done;
    q->url = url;
    return q;
}

/* Send q. On failure q is not linked and still the caller's. */
static int req_send(struct mastodon *m, struct mreq *q, const char *method,
                    const char *content_type, bool auth)
{
    if (m->dead)
        return UV_ECANCELED;
    struct gw_http *h = gw_ad_http(m->ad);
    if (h == NULL)
        return UV_EINVAL;
    int nh = 0;
    if (auth && m->auth_hdr != NULL) {
        q->auth = gw_xstrdup(m->auth_hdr);
        q->hdrs[nh++] = q->auth;
    }
    if (q->idem != NULL)
        q->hdrs[nh++] = q->idem;
    q->hdrs[nh] = NULL;

    struct gw_http_opts o;
    memset(&o, 0, sizeof(o));
    o.method = method;
    o.url = q->url;
    o.headers = q->hdrs;
    o.body = q->body;
    o.body_len = q->body != NULL ? strlen(q->body) : 0;
    o.content_type = content_type;
    o.ca_file = m->ca_file;
    o.insecure = m->insecure;

    q->m = m;
    q->gen = m->gen;
    q->next = m->reqs;
    if (m->reqs != NULL)
        m->reqs->prev = q;
    m->reqs = q;
    int rc = gw_http_request(h, &o, on_http, q, &q->req);
    if (rc < 0) {
        req_unlink(m, q);
        q->m = NULL;
    }
    return rc;
}

static char *api_url(const struct mastodon *m, const char *path)
{
    return gw_xasprintf("%s%s", m->base, path);
}

/* ---- signing out --------------------------------------------------------- */

static void stream_retire(struct mastodon *m);

/* The token was refused: say so once and stop every retry. */
static void signed_out(struct mastodon *m, const struct gw_http_response *r)
{
    if (m->signed_out)
        return;
    char *err = mastodon_error_text(r);
    m->signed_out = true;
    m->signed_in = false;
    m->bf_running = false;
    m->bf_again = false;
    timer_disarm(&m->t_signin);
    timer_disarm(&m->t_backfill);
    stream_retire(m);
    set_detail(m, "the server refused the token (401): %s", err);
    char *msg = gw_xasprintf("the server refused the token; run account "
                             "login %s",
                             acct_name(m));
    answer_held(m, GW_ACT_FAILED, msg);
    free(msg);
    gw_ad_notice(m->ad,
                 "the server refused the token (401): %s; run account "
                 "login %s",
                 err, acct_name(m));
    free(err);
}

static bool is_401(const struct gw_http_response *r)
{
    return r->error == 0 && r->status == 401;
}

/* ---- streaming ----------------------------------------------------------- */

static void on_t_reap(void *arg)
{
    struct mastodon *m = arg;
    m->t_reap = NULL;
    while (m->retired != NULL) {
        struct mstream *st = m->retired;
        m->retired = st->next;
        stream_free(st);
    }
}

static void stream_retire(struct mastodon *m)
{
    struct mstream *st = m->stream;
    m->sse_connected = false;
    if (st == NULL)
        return;
    m->stream = NULL;
    st->retired = true;
    st->next = m->retired;
    m->retired = st;
    if (m->t_reap == NULL)
        timer_arm(m, &m->t_reap, 0, on_t_reap);
}

static bool held(const struct mastodon *m)
{
    return m->hold_until_ms > gw_now_ms();
}

static void on_t_backfill(void *arg)
{
    struct mastodon *m = arg;
    m->t_backfill = NULL;
    m->depth++;
    backfill_start(m);
    leave(m);
}

/* Bring the cursor forward to id (never back). */
static int cursor_move(struct mastodon *m, const char *id)
{
    if (m->cursor != NULL && mastodon_id_cmp(id, m->cursor) <= 0)
        return 0;
    int rc = gw_ad_cursor_set(m->ad, CURSOR_NAME, id);
    if (rc < 0)
        return rc;
    replace(&m->cursor, id);
    return 0;
}

/* A stream event failed to store: later stream events must not move the
 * cursor past it until a back-fill has fetched it again. */
static void stream_store_failed(struct mastodon *m)
{
    m->cursor_frozen = true;
    set_detail(m, "could not store an event; will fetch it again");
    if (m->bf_running)
        m->bf_again = true;
    else if (m->t_backfill == NULL)
        timer_arm(m, &m->t_backfill, BACKOFF_MIN_MS, on_t_backfill);
}

/* Deliver; true when m died meanwhile. *rc gets gw_ad_deliver's result. */
static bool deliver(struct mastodon *m, const struct gw_event *ev, int *rc)
{
    *rc = gw_ad_deliver(m->ad, ev);
    if (m->dead)
        return true;
    if (*rc == 0)
        m->last_event_ms = gw_now_ms();
    return false;
}

static void stream_notification(struct mastodon *m, const cJSON *j)
{
    const char *id = mastodon_json_id(j, "id");
    if (id == NULL)
        return;
    struct mastodon_me me = my_me(m);
    struct mastodon_event e;
    int rc = mastodon_notification_to_event(j, &me, &e);
    if (rc == 0) {
        int d;
        if (deliver(m, &e.ev, &d)) {
            mastodon_event_free(&e);
            return;
        }
        if (d < 0) {
            mastodon_event_free(&e);
            stream_store_failed(m);
            return;
        }
    }
    mastodon_event_free(&e);
    /* During a back-fill only the back-fill moves the cursor: it may still
     * be delivering older items. */
    if (!m->bf_running && !m->cursor_frozen)
        (void)cursor_move(m, id);
}

static void stream_status(struct mastodon *m, const cJSON *j, bool edit)
{
    const char *id = mastodon_json_id(j, "id");
    if (id == NULL)
        return;
    if (edit) {
        /* The home stream carries edits of every followed account's posts;
         * only those of posts we hold matter. */
        if (!gw_ad_seen(m->ad, id))
            return;
    } else {
        /* "update": new posts in my home timeline; I want only mine (made
         * elsewhere), not my boosts. */
        const char *aid = mastodon_json_id(jobj(j, "account"), "id");
        const char *vis = jstr(j, "visibility");
        const cJSON *reblog = jget(j, "reblog");
        if (m->me_id == NULL || aid == NULL || strcmp(aid, m->me_id) != 0 ||
            (reblog != NULL && !cJSON_IsNull(reblog)))
            return;
        /* An own post would be shown in the channel: never a DM. */
        if (vis == NULL || strcmp(vis, "direct") == 0)
            return;
    }
    struct mastodon_me me = my_me(m);
    struct mastodon_event e;
    if (mastodon_status_to_event(j, edit ? GW_EV_EDIT : GW_EV_OWN, &me, &e) ==
        0) {
        int d;
        (void)deliver(m, &e.ev, &d);
    }
    mastodon_event_free(&e);
}

static void stream_delete(struct mastodon *m, const char *data)
{
    char id[72];
    size_t len = strlen(data);
    while (len > 0 && (data[len - 1] == ' ' || data[len - 1] == '\n' ||
                       data[len - 1] == '"'))
        len--;
    while (len > 0 && (*data == ' ' || *data == '"')) {
        data++;
        len--;
    }
    if (len == 0 || len >= sizeof(id))
        return;
    memcpy(id, data, len);
    id[len] = '\0';
    if (!mastodon_id_valid(id) || !gw_ad_seen(m->ad, id))
        return;
    struct gw_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = GW_EV_DELETE;
    ev.id = id;
    ev.text = "";
    int d;
    (void)deliver(m, &ev, &d);
}

static void on_sse_event(void *arg, const struct gw_sse_event *ev)
{
    struct mstream *st = arg;
    struct mastodon *m = st->m;
    if (st->retired || m->dead || m->signed_out || ev == NULL ||
        ev->event == NULL || ev->data == NULL)
        return;
    m->depth++;
    if (strcmp(ev->event, "delete") == 0) {
        stream_delete(m, ev->data);
    } else if (strcmp(ev->event, "notifications_merged") == 0) {
        backfill_start(m);
    } else if (strcmp(ev->event, "notification") == 0 ||
               strcmp(ev->event, "update") == 0 ||
               strcmp(ev->event, "status.update") == 0) {
        cJSON *j = gw_json_parse(ev->data, strlen(ev->data));
        if (cJSON_IsObject(j)) {
            if (ev->event[0] == 'n')
                stream_notification(m, j);
            else
                stream_status(m, j, ev->event[0] == 's');
        }
        gw_json_free(j);
    }
    leave(m);
}

static void on_sse_state(void *arg, enum gw_sse_state state,
                         const struct gw_http_response *resp)
{
    struct mstream *st = arg;
    struct mastodon *m = st->m;
    if (st->retired || m->dead || m->signed_out)
        return;
    m->depth++;
    note_limits(m, resp);
    switch (state) {
    case GW_SSE_CONNECTED:
        m->sse_connected = true;
        m->detail[0] = '\0';
        /* Whatever arrived while the stream was down. */
        backfill_start(m);
        break;
    case GW_SSE_DISCONNECTED: {
        m->sse_connected = false;
        char *err = resp != NULL ? mastodon_error_text(resp)
                                 : gw_xstrdup("connection lost");
        set_detail(m, "stream dropped (%s); reconnecting", err);
        free(err);
        /* Keep fetching by polling until the stream is back. */
        if (!m->bf_running && m->t_backfill == NULL)
            timer_arm(m, &m->t_backfill, (uint64_t)m->poll_ms, on_t_backfill);
        break;
    }
    case GW_SSE_FAILED:
    default:
        if (resp != NULL && is_401(resp)) {
            signed_out(m, resp);
            break;
        }
        {
            char *err =
                resp != NULL ? mastodon_error_text(resp) : gw_xstrdup("failed");
            m->stream_off = true;
            stream_retire(m);
            set_detail(m, "streaming unavailable (%s); polling", err);
            gw_ad_notice(m->ad,
                         "streaming is not available (%s); polling every "
                         "%ld s instead",
                         err, m->poll_ms / 1000);
            free(err);
            backfill_start(m);
        }
        break;
    }
    leave(m);
}

static void open_stream(struct mastodon *m)
{
    if (m->dead || m->stream != NULL || m->stream_off)
        return;
    struct gw_http *h = gw_ad_http(m->ad);
    struct mstream *st = gw_xcalloc(1, sizeof(*st));
    st->m = m;
    st->url = gw_xasprintf("%s/api/v1/streaming/user",
                           m->stream_base != NULL ? m->stream_base : m->base);
    st->auth = gw_xstrdup(m->auth_hdr);
    st->hdrs[0] = st->auth;
    st->hdrs[1] = NULL;

    struct gw_sse_opts o;
    memset(&o, 0, sizeof(o));
    o.http.url = st->url;
    o.http.headers = st->hdrs;
    o.http.ca_file = m->ca_file;
    o.http.insecure = m->insecure;
    m->stream = st;
    int rc = h != NULL
                 ? gw_sse_open(h, &o, on_sse_event, on_sse_state, st, &st->sse)
                 : UV_EINVAL;
    if (rc < 0) {
        if (m->stream == st)
            m->stream = NULL;
        st->sse = NULL;
        stream_free(st);
        m->stream_off = true;
        set_detail(m, "streaming could not start; polling");
        gw_ad_notice(m->ad,
                     "streaming could not start (%s); polling every %ld s",
                     uv_strerror(rc), m->poll_ms / 1000);
    }
}

/* ---- back-fill ----------------------------------------------------------- */

static void backfill_end(struct mastodon *m, bool ok, long retry_ms)
{
    m->bf_running = false;
    if (m->dead || m->signed_out)
        return;
    if (ok) {
        m->bf_backoff_ms = 0;
        /* Recovered; a dropped stream keeps its own word. */
        if (m->stream == NULL || m->sse_connected)
            m->detail[0] = '\0';
        if (!m->bf_again)
            m->cursor_frozen = false;
    }
    if (m->bf_again) {
        m->bf_again = false;
        backfill_start(m);
        return;
    }
    if (m->want_stream && !m->stream_off && m->stream == NULL)
        open_stream(m);
    if (!ok) {
        long cap = m->poll_ms < BACKOFF_MAX_MS ? m->poll_ms : BACKOFF_MAX_MS;
        long d = next_backoff(&m->bf_backoff_ms, cap);
        if (retry_ms > d)
            d = retry_ms;
        timer_arm(m, &m->t_backfill, (uint64_t)d, on_t_backfill);
    } else if (!m->sse_connected) {
        timer_arm(m, &m->t_backfill, (uint64_t)m->poll_ms, on_t_backfill);
    }
}

static void on_backfill(struct mastodon *m, struct mreq *q,
                        const struct gw_http_response *r)
{
    (void)q;
    if (!m->bf_running)
        return;
    if (is_401(r)) {
        signed_out(m, r);
        return;
    }
    if (mastodon_map_status(r->status, r->error) != GW_ACT_OK) {
        char *err = mastodon_error_text(r);
        set_detail(m, "fetching notifications failed: %s", err);
        free(err);
        backfill_end(m, false, mastodon_retry_after_ms(r, gw_now_ms()));
        return;
    }
    cJSON *j = parse_body(r);
    const cJSON **items = NULL;
    int n = mastodon_page_sorted(j, &items);
    if (n < 0) {
        cJSON_Delete(j);
        set_detail(m, "fetching notifications: the answer is not a list");
        backfill_end(m, false, 0);
        return;
    }
    bool first = m->cursor == NULL;
    bool empty = cJSON_GetArraySize(j) == 0;
    char *prev = m->cursor != NULL ? gw_xstrdup(m->cursor) : NULL;
    bool failed = false;
    struct mastodon_me me = my_me(m);
    if (n > 0) {
        gw_ad_batch_begin(m->ad);
        for (int i = 0; i < n; i++) {
            const char *id = mastodon_json_id(items[i], "id");
            if (m->cursor != NULL && mastodon_id_cmp(id, m->cursor) <= 0)
                continue; /* a server that ignored min_id */
            struct mastodon_event e;
            int rc = mastodon_notification_to_event(items[i], &me, &e);
            if (rc == 0) {
                int d;
                if (deliver(m, &e.ev, &d)) {
                    mastodon_event_free(&e);
                    goto dead;
                }
                failed = d < 0;
            }
            mastodon_event_free(&e);
            /* Unknown types and malformed items are passed over too. */
            if (failed || cursor_move(m, id) < 0) {
                failed = true;
                break;
            }
        }
        gw_ad_batch_end(m->ad);
    }
    bool progress = m->cursor != NULL &&
                    (prev == NULL || mastodon_id_cmp(m->cursor, prev) > 0);
    free(prev);
    free(items);
    cJSON_Delete(j);
    if (failed) {
        set_detail(m, "could not store a notification; will retry");
        backfill_end(m, false, 0);
    } else if (first || n == 0 || !progress) {
        /* First start: the newest page only, no replay of all history.
         * With nothing at all yet, everything from now on is new: "0" is
         * below every id, so later back-fills page from the start. */
        if (first && empty && cursor_move(m, "0") < 0) {
            backfill_end(m, false, 0);
            return;
        }
        backfill_end(m, true, 0);
    } else if (held(m)) {
        m->bf_again = true;
        backfill_end(m, true, 0);
    } else {
        backfill_page(m);
    }
    return;
dead:
    free(prev);
    free(items);
    cJSON_Delete(j);
}

static void backfill_page(struct mastodon *m)
{
    char *url;
    if (m->cursor != NULL)
        url = gw_xasprintf("%s/api/v1/notifications?min_id=%s&limit=%d",
                           m->base, m->cursor, PAGE_LIMIT);
    else
        url = gw_xasprintf("%s/api/v1/notifications?limit=%d", m->base,
                           PAGE_LIMIT);
    struct mreq *q = req_new(on_backfill, url);
    if (req_send(m, q, "GET", NULL, true) < 0) {
        req_free(q);
        set_detail(m, "could not start a request");
        backfill_end(m, false, 0);
    }
}

static void backfill_start(struct mastodon *m)
{
    if (m->dead || m->signed_out || !m->signed_in)
        return;
    if (m->bf_running) {
        m->bf_again = true;
        return;
    }
    int64_t now = gw_now_ms();
    if (m->hold_until_ms > now) {
        set_detail(m, "rate limited; waiting %lld s",
                   (long long)((m->hold_until_ms - now) / 1000));
        timer_arm(m, &m->t_backfill, (uint64_t)(m->hold_until_ms - now) + 1000,
                  on_t_backfill);
        return;
    }
    timer_disarm(&m->t_backfill);
    m->bf_running = true;
    backfill_page(m);
}

/* ---- signing in ---------------------------------------------------------- */

static void on_t_signin(void *arg)
{
    struct mastodon *m = arg;
    m->t_signin = NULL;
    m->depth++;
    signin_start(m);
    leave(m);
}

static void signin_retry(struct mastodon *m, const char *why)
{
    m->signin_failures++;
    set_detail(m, "cannot sign in: %s", why);
    answer_held(m, GW_ACT_RETRY, m->detail);
    /* Loud at first (someone may be watching), then ever more rarely. */
    if ((m->signin_failures & (m->signin_failures - 1)) == 0)
        gw_ad_notice(m->ad, "cannot sign in: %s; retrying", why);
    long d = next_backoff(&m->signin_backoff_ms, BACKOFF_MAX_MS);
    timer_arm(m, &m->t_signin, (uint64_t)d, on_t_signin);
}

static void on_instance(struct mastodon *m, struct mreq *q,
                        const struct gw_http_response *r)
{
    (void)q;
    if (is_401(r)) {
        signed_out(m, r);
        return;
    }
    /* Old servers lack /api/v2/instance: the defaults do. */
    cJSON *j = NULL;
    if (mastodon_map_status(r->status, r->error) == GW_ACT_OK)
        j = parse_body(r);
    struct mastodon_instance in;
    mastodon_instance_parse(j, &in);
    cJSON_Delete(j);
    m->max_chars = in.max_characters;
    m->url_weight = in.url_weight;
    if (in.domain != NULL)
        replace(&m->domain, in.domain);
    free(m->stream_base);
    m->stream_base = NULL;
    if (in.streaming_base != NULL) {
        char *sh = mastodon_url_host(in.streaming_base);
        char *bh = mastodon_url_host(m->base);
        /* Same host: keep our own scheme and port (a proxy in front). */
        if (sh != NULL && bh != NULL && gw_strcasecmp(sh, bh) != 0)
            m->stream_base = gw_xstrdup(in.streaming_base);
        free(sh);
        free(bh);
    }
    mastodon_instance_free(&in);

    free(m->me_acct);
    m->me_acct = mastodon_handle_full(m->me_raw, m->domain);
    m->signed_in = true;
    m->detail[0] = '\0';
    if (m->announce || m->signin_failures > 0)
        gw_ad_notice(m->ad, "signed in as @%s",
                     m->me_acct != NULL ? m->me_acct : "?");
    m->announce = false;
    m->signin_failures = 0;
    m->signin_backoff_ms = 0;
    release_held(m);
    backfill_start(m);
}

static void on_verify(struct mastodon *m, struct mreq *q,
                      const struct gw_http_response *r)
{
    (void)q;
    if (is_401(r)) {
        signed_out(m, r);
        return;
    }
    if (mastodon_map_status(r->status, r->error) != GW_ACT_OK) {
        char *err = mastodon_error_text(r);
        signin_retry(m, err);
        free(err);
        return;
    }
    cJSON *j = parse_body(r);
    const char *id = mastodon_json_id(j, "id");
    const char *acct = jstr(j, "acct");
    if (id == NULL || !mastodon_handle_valid(acct)) {
        cJSON_Delete(j);
        signin_retry(m, "unexpected answer to verify_credentials");
        return;
    }
    replace(&m->me_id, id);
    replace(&m->me_raw, acct + (*acct == '@'));
    cJSON_Delete(j);
    struct mreq *iq = req_new(on_instance, api_url(m, "/api/v2/instance"));
    if (req_send(m, iq, "GET", NULL, true) < 0) {
        req_free(iq);
        signin_retry(m, "could not start a request");
    }
}

static void signin_start(struct mastodon *m)
{
    if (m->dead || m->signed_out)
        return;
    timer_disarm(&m->t_signin);
    struct mreq *q =
        req_new(on_verify, api_url(m, "/api/v1/accounts/verify_credentials"));
    if (req_send(m, q, "GET", NULL, true) < 0) {
        req_free(q);
        signin_retry(m, "could not start a request");
    }
}

static void set_token(struct mastodon *m, const char *token)
{
    replace(&m->token, token);
    free(m->auth_hdr);
    m->auth_hdr = gw_xasprintf("Authorization: Bearer %s", token);
}

/* A new token: drop everything of the old session and sign in again. */
static void session_restart(struct mastodon *m)
{
    m->gen++;
    timer_disarm(&m->t_signin);
    timer_disarm(&m->t_backfill);
    stream_retire(m);
    m->signed_in = false;
    m->signed_out = false;
    m->stream_off = !m->want_stream;
    m->bf_running = false;
    m->bf_again = false;
    m->signin_failures = 0;
    m->signin_backoff_ms = 0;
    m->bf_backoff_ms = 0;
    m->detail[0] = '\0';
    signin_start(m);
}

/* ---- actions ------------------------------------------------------------- */

static void on_t_done(void *arg)
{
    struct mastodon *m = arg;
    m->t_done = NULL;
    m->depth++;
    while (!m->dead && m->dones != NULL) {
        struct mdone *d = m->dones;
        m->dones = d->next;
        if (m->dones == NULL)
            m->dones_tail = &m->dones;
        struct gw_action_result res;
        memset(&res, 0, sizeof(res));
        res.status = d->status;
        res.message = d->msg;
        res.retry_after_ms = d->retry_ms;
        gw_ad_action_done(m->ad, d->token, &res);
        free(d->msg);
        free(d);
    }
    leave(m);
}

static void act_later(struct mastodon *m, uint64_t token,
                      enum gw_action_status status, const char *msg,
                      long retry_ms)
{
    struct mdone *d = gw_xcalloc(1, sizeof(*d));
    d->token = token;
    d->status = status;
    d->msg = msg != NULL ? gw_xstrdup(msg) : NULL;
    d->retry_ms = retry_ms;
    *m->dones_tail = d;
    m->dones_tail = &d->next;
    if (m->t_done == NULL)
        timer_arm(m, &m->t_done, 0, on_t_done);
}

static void act_result(struct mastodon *m, struct mreq *q,
                       enum gw_action_status status, const char *msg,
                       long retry_ms, const char *result_id,
                       const struct gw_event *created, const char *const *lines,
                       int nlines)
{
    struct gw_action_result res;
    memset(&res, 0, sizeof(res));
    res.status = status;
    res.message = msg;
    res.retry_after_ms = retry_ms;
    res.result_id = result_id;
    res.created = created;
    res.lines = lines;
    res.nlines = nlines;
    gw_ad_action_done(m->ad, q->token, &res);
}

/* Report a response that is not 2xx (or a transport error). */
static void act_fail(struct mastodon *m, struct mreq *q,
                     const struct gw_http_response *r)
{
    enum gw_action_status st = mastodon_map_status(r->status, r->error);
    if (st == GW_ACT_OK)
        st = GW_ACT_FAILED; /* a 2xx we could not use */
    char *msg = mastodon_error_text(r);
    long retry = 0;
    if (is_401(r)) {
        if (q->gen == m->gen && !m->signed_out) {
            signed_out(m, r);
        } else if (q->gen != m->gen) {
            st = GW_ACT_RETRY; /* sent with a token replaced since */
        }
    }
    if (st == GW_ACT_RETRY)
        retry = mastodon_retry_after_ms(r, gw_now_ms());
    act_result(m, q, st, msg, retry, NULL, NULL, NULL, 0);
    free(msg);
}

static struct mreq *act_req(const struct gw_action *a, mreq_done_cb done,
                            char *url)
{
    struct mreq *q = req_new(done, url);
    q->is_action = true;
    q->token = a->token;
    q->kind = a->kind;
    return q;
}

static void act_send(struct mastodon *m, struct mreq *q, const char *method,
                     const char *content_type)
{
    uint64_t token = q->token;
    if (req_send(m, q, method, content_type, true) < 0) {
        req_free(q);
        act_later(m, token, GW_ACT_RETRY, "could not start the request", 0);
    }
}

static void on_post_done(struct mastodon *m, struct mreq *q,
                         const struct gw_http_response *r)
{
    if (mastodon_map_status(r->status, r->error) != GW_ACT_OK) {
        act_fail(m, q, r);
        return;
    }
    cJSON *j = parse_body(r);
    struct mastodon_me me = my_me(m);
    struct mastodon_event e;
    if (mastodon_status_to_event(j, GW_EV_OWN, &me, &e) == 0)
        act_result(m, q, GW_ACT_OK, NULL, 0, e.ev.id, &e.ev, NULL, 0);
    else
        act_result(m, q, GW_ACT_OK,
                   "posted; the server's answer was not a "
                   "status",
                   0, NULL, NULL, NULL, 0);
    mastodon_event_free(&e);
    cJSON_Delete(j);
}

static void act_post(struct mastodon *m, const struct gw_action *a)
{
    struct mastodon_post p;
    char err[256];
    if (mastodon_compose(a, m->me_acct, &p, err, sizeof(err)) < 0 ||
        mastodon_check_length(&p, m->max_chars, m->url_weight, err,
                              sizeof(err)) < 0) {
        mastodon_post_free(&p);
        act_later(m, a->token, GW_ACT_FAILED, err, 0);
        return;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "status", p.text);
    cJSON_AddStringToObject(body, "visibility", p.visibility);
    if (p.spoiler != NULL)
        cJSON_AddStringToObject(body, "spoiler_text", p.spoiler);
    if (p.in_reply_to != NULL)
        cJSON_AddStringToObject(body, "in_reply_to_id", p.in_reply_to);
    char *json = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    mastodon_post_free(&p);
    if (json == NULL) {
        act_later(m, a->token, GW_ACT_RETRY, "out of memory", 0);
        return;
    }
    struct mreq *q = act_req(a, on_post_done, api_url(m, "/api/v1/statuses"));
    q->body = gw_xstrdup(json);
    cJSON_free(json);
    /* The key makes a retried post come back as the one already made. */
    if (a->idem_key != NULL && printable_word(a->idem_key, 200))
        q->idem = gw_xasprintf("Idempotency-Key: %s", a->idem_key);
    act_send(m, q, "POST", "application/json");
}

static void on_simple_done(struct mastodon *m, struct mreq *q,
                           const struct gw_http_response *r)
{
    if (mastodon_map_status(r->status, r->error) != GW_ACT_OK) {
        act_fail(m, q, r);
        return;
    }
    act_result(m, q, GW_ACT_OK, NULL, 0, q->arg, NULL, NULL, 0);
}

static void act_status_op(struct mastodon *m, const struct gw_action *a)
{
    const char *suffix = "";
    const char *method = "POST";
    switch (a->kind) {
    case GW_ACT_FAV:
        suffix = "/favourite";
        break;
    case GW_ACT_UNFAV:
        suffix = "/unfavourite";
        break;
    case GW_ACT_BOOST:
        suffix = "/reblog";
        break;
    case GW_ACT_UNBOOST:
        suffix = "/unreblog";
        break;
    default:
        method = "DELETE";
        break;
    }
    if (a->parent == NULL || !mastodon_id_valid(a->parent->id)) {
        act_later(m, a->token, GW_ACT_FAILED, "no such post", 0);
        return;
    }
    struct mreq *q = act_req(a, on_simple_done,
                             gw_xasprintf("%s/api/v1/statuses/%s%s", m->base,
                                          a->parent->id, suffix));
    q->arg = gw_xstrdup(a->parent->id);
    if (strcmp(method, "POST") == 0) {
        q->body = gw_xstrdup("{}");
        act_send(m, q, method, "application/json");
    } else {
        act_send(m, q, method, NULL);
    }
}

static void on_lookup(struct mastodon *m, struct mreq *q,
                      const struct gw_http_response *r);

static void lookup_send(struct mastodon *m, struct mreq *from, bool search)
{
    char *enc;
    char *url;
    if (search) {
        char *at = gw_xasprintf("@%s", from->arg);
        enc = mastodon_urlencode(at);
        free(at);
        url = gw_xasprintf("%s/api/v2/search?q=%s&type=accounts&resolve=true"
                           "&limit=1",
                           m->base, enc);
    } else {
        enc = mastodon_urlencode(from->arg);
        url = gw_xasprintf("%s/api/v1/accounts/lookup?acct=%s", m->base, enc);
    }
    free(enc);
    struct mreq *q = req_new(on_lookup, url);
    q->is_action = true;
    q->token = from->token;
    q->kind = from->kind;
    q->gen = from->gen;
    q->arg = gw_xstrdup(from->arg);
    q->searched = search;
    act_send(m, q, "GET", NULL);
}

static void on_lookup(struct mastodon *m, struct mreq *q,
                      const struct gw_http_response *r)
{
    /* Lookup knows only accounts the server has seen; search with
     * resolve=true asks the account's own server (WebFinger). */
    if (!q->searched && r->error == 0 && r->status == 404) {
        lookup_send(m, q, true);
        return;
    }
    if (mastodon_map_status(r->status, r->error) != GW_ACT_OK) {
        act_fail(m, q, r);
        return;
    }
    cJSON *j = parse_body(r);
    const cJSON *acc = j;
    if (q->searched) {
        acc = NULL;
        const cJSON *arr = jarr(j, "accounts");
        const cJSON *first = arr != NULL ? cJSON_GetArrayItem(arr, 0) : NULL;
        char *want = mastodon_handle_full(q->arg, m->domain);
        char *got = mastodon_handle_full(jstr(first, "acct"), m->domain);
        if (want != NULL && got != NULL && gw_strcasecmp(want, got) == 0)
            acc = first;
        free(want);
        free(got);
    }
    const char *id = mastodon_json_id(acc, "id");
    if (id == NULL) {
        char *msg = gw_xasprintf("no such account: @%s", q->arg);
        act_result(m, q, GW_ACT_FAILED, msg, 0, NULL, NULL, NULL, 0);
        free(msg);
        cJSON_Delete(j);
        return;
    }
    if (q->kind == GW_ACT_WHO) {
        char **lines = NULL;
        int n = mastodon_who_lines(acc, m->domain, &lines);
        if (n < 0)
            act_result(m, q, GW_ACT_FAILED, "unexpected answer", 0, NULL, NULL,
                       NULL, 0);
        else
            act_result(m, q, GW_ACT_OK, NULL, 0, id, NULL,
                       (const char *const *)lines, n);
        mastodon_lines_free(lines, n);
        cJSON_Delete(j);
        return;
    }
    struct mreq *f =
        req_new(on_simple_done,
                gw_xasprintf("%s/api/v1/accounts/%s/%s", m->base, id,
                             q->kind == GW_ACT_FOLLOW ? "follow" : "unfollow"));
    f->is_action = true;
    f->token = q->token;
    f->kind = q->kind;
    f->arg = gw_xstrdup(id);
    f->body = gw_xstrdup("{}");
    cJSON_Delete(j);
    act_send(m, f, "POST", "application/json");
}

static void act_lookup(struct mastodon *m, const struct gw_action *a)
{
    const char *h = a->handle;
    if ((h == NULL || *h == '\0') && a->parent != NULL)
        h = a->parent->author;
    if (h == NULL || *h == '\0') {
        act_later(m, a->token, GW_ACT_FAILED, "whom? give a handle", 0);
        return;
    }
    if (!mastodon_handle_valid(h)) {
        char *msg = gw_xasprintf("not a handle: %s", h);
        act_later(m, a->token, GW_ACT_FAILED, msg, 0);
        free(msg);
        return;
    }
    struct mreq proto;
    memset(&proto, 0, sizeof(proto));
    proto.token = a->token;
    proto.kind = a->kind;
    proto.gen = m->gen;
    proto.arg = gw_xstrdup(h + (*h == '@'));
    lookup_send(m, &proto, false);
    free(proto.arg);
}

static void on_context(struct mastodon *m, struct mreq *q,
                       const struct gw_http_response *r)
{
    if (mastodon_map_status(r->status, r->error) != GW_ACT_OK) {
        act_fail(m, q, r);
        return;
    }
    cJSON *ctx = parse_body(r);
    char **lines = NULL;
    int n = mastodon_thread_lines(q->keep, ctx, m->domain, &lines);
    if (n < 0)
        act_result(m, q, GW_ACT_FAILED, "unexpected answer", 0, NULL, NULL,
                   NULL, 0);
    else
        act_result(m, q, GW_ACT_OK, NULL, 0, q->arg, NULL,
                   (const char *const *)lines, n);
    mastodon_lines_free(lines, n);
    cJSON_Delete(ctx);
}

static void on_thread_status(struct mastodon *m, struct mreq *q,
                             const struct gw_http_response *r)
{
    if (mastodon_map_status(r->status, r->error) != GW_ACT_OK) {
        act_fail(m, q, r);
        return;
    }
    cJSON *st = parse_body(r);
    if (mastodon_json_id(st, "id") == NULL) {
        cJSON_Delete(st);
        act_result(m, q, GW_ACT_FAILED, "unexpected answer", 0, NULL, NULL,
                   NULL, 0);
        return;
    }
    struct mreq *c =
        req_new(on_context,
                gw_xasprintf("%s/api/v1/statuses/%s/context", m->base, q->arg));
    c->is_action = true;
    c->token = q->token;
    c->kind = q->kind;
    c->arg = gw_xstrdup(q->arg);
    c->keep = st;
    act_send(m, c, "GET", NULL);
}

static void act_thread(struct mastodon *m, const struct gw_action *a)
{
    if (a->parent == NULL || !mastodon_id_valid(a->parent->id)) {
        act_later(m, a->token, GW_ACT_FAILED, "no such post", 0);
        return;
    }
    struct mreq *q =
        act_req(a, on_thread_status,
                gw_xasprintf("%s/api/v1/statuses/%s", m->base, a->parent->id));
    q->arg = gw_xstrdup(a->parent->id);
    act_send(m, q, "GET", NULL);
}

/* ---- OAuth ----------------------------------------------------------------
 */

static void notice_authorize(struct mastodon *m)
{
    char *url = mastodon_authorize_url(m->base, m->client_id);
    gw_ad_notice(m->ad, "to sign in, open this address in a browser:");
    gw_ad_notice(m->ad, "%s", url);
    gw_ad_notice(m->ad, "then: account code %s <code>", acct_name(m));
    free(url);
}

static void store_setting(struct mastodon *m, const char *key,
                          const char *value)
{
    int rc = gw_ad_setting_store(m->ad, key, value);
    if (rc < 0)
        gw_ad_notice(m->ad, "could not store %s (%s)", key, uv_strerror(rc));
}

static void on_app(struct mastodon *m, struct mreq *q,
                   const struct gw_http_response *r)
{
    (void)q;
    if (mastodon_map_status(r->status, r->error) != GW_ACT_OK) {
        char *err = mastodon_error_text(r);
        set_detail(m, "app registration failed: %s", err);
        gw_ad_notice(m->ad, "could not register Parley with %s: %s", m->base,
                     err);
        free(err);
        return;
    }
    cJSON *j = parse_body(r);
    const char *id = jstr(j, "client_id");
    const char *secret = jstr(j, "client_secret");
    if (!printable_word(id, 1024) || !printable_word(secret, 1024)) {
        cJSON_Delete(j);
        gw_ad_notice(m->ad,
                     "could not register Parley with %s: unexpected "
                     "answer",
                     m->base);
        return;
    }
    replace(&m->client_id, id);
    replace(&m->client_secret, secret);
    replace(&m->app_base, m->base);
    cJSON_Delete(j);
    store_setting(m, "client_id", m->client_id);
    store_setting(m, "client_secret", m->client_secret);
    store_setting(m, "app_base_url", m->app_base);
    notice_authorize(m);
}

static int register_app(struct mastodon *m)
{
    struct mreq *q = req_new(on_app, api_url(m, "/api/v1/apps"));
    q->sessionless = true;
    q->body = gw_xstrdup("client_name=Parley&redirect_uris=" OOB_URI_ENC
                         "&scopes=read%20write%20follow");
    int rc = req_send(m, q, "POST", "application/x-www-form-urlencoded", false);
    if (rc < 0) {
        req_free(q);
        gw_ad_notice(m->ad, "could not reach %s (%s)", m->base,
                     uv_strerror(rc));
    }
    return rc;
}

static void forget_app(struct mastodon *m)
{
    replace(&m->client_id, NULL);
    replace(&m->client_secret, NULL);
    replace(&m->app_base, NULL);
    store_setting(m, "client_id", NULL);
    store_setting(m, "client_secret", NULL);
    store_setting(m, "app_base_url", NULL);
}

static void on_token(struct mastodon *m, struct mreq *q,
                     const struct gw_http_response *r)
{
    (void)q;
    cJSON *j = parse_body(r);
    if (mastodon_map_status(r->status, r->error) == GW_ACT_OK) {
        const char *tok = jstr(j, "access_token");
        if (!printable_word(tok, 4096)) {
            gw_ad_notice(m->ad, "the server's answer had no token");
        } else {
            set_token(m, tok);
            store_setting(m, "token", tok);
            m->announce = true;
            gw_ad_notice(m->ad, "signed in; connecting");
            session_restart(m);
        }
        cJSON_Delete(j);
        return;
    }
    const char *code = jstr(j, "error");
    char *err = mastodon_error_text(r);
    if (code != NULL && strcmp(code, "invalid_client") == 0) {
        /* Servers before 4.3 purge apps nobody signed in with. */
        gw_ad_notice(m->ad,
                     "the server no longer knows Parley's registration "
                     "(%s); registering again: open the new address and run "
                     "account code again",
                     err);
        forget_app(m);
        (void)register_app(m);
    } else {
        gw_ad_notice(m->ad,
                     "the server refused the code: %s; run account login "
                     "%s for a new one",
                     err, acct_name(m));
    }
    free(err);
    cJSON_Delete(j);
}

/* ---- settings ------------------------------------------------------------ */

static int yesno(const char *v)
{
    if (v == NULL)
        return -1;
    if (gw_strcasecmp(v, "yes") == 0)
        return 1;
    if (gw_strcasecmp(v, "no") == 0)
        return 0;
    return -1;
}

static int fail_setting(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", msg);
    return UV_EINVAL;
}

static int check_setting(const char *key, const char *value, char *err,
                         size_t errlen)
{
    if (key == NULL)
        return 0;
    if (value == NULL)
        value = "";
    if (strcmp(key, "base_url") == 0 || strcmp(key, "app_base_url") == 0) {
        char *b = mastodon_base_url(value);
        bool ok = b != NULL;
        free(b);
        if (!ok)
            return fail_setting(err, errlen,
                                "must be an http:// or https:// URL with a "
                                "host, e.g. https://mastodon.social");
    } else if (strcmp(key, "handle") == 0) {
        char *b = mastodon_base_from_handle(value);
        bool ok = b != NULL;
        free(b);
        if (!ok)
            return fail_setting(err, errlen,
                                "must be a handle with a server, e.g. "
                                "@me@mastodon.social");
    } else if (strcmp(key, "streaming") == 0 ||
               strcmp(key, "tls_verify") == 0) {
        if (yesno(value) < 0)
            return fail_setting(err, errlen, "must be yes or no");
    } else if (strcmp(key, "poll_seconds") == 0) {
        long v;
        if (gw_parse_long(value, POLL_MIN_S, POLL_MAX_S, &v) < 0)
            return fail_setting(err, errlen,
                                "must be a whole number of seconds from 5 "
                                "to 86400");
    } else if (strcmp(key, "token") == 0 || strcmp(key, "client_id") == 0 ||
               strcmp(key, "client_secret") == 0) {
        if (!printable_word(value, 4096))
            return fail_setting(err, errlen,
                                "must be printable characters without "
                                "spaces");
    } else if (strcmp(key, "tls_ca") == 0) {
        if (*value == '\0')
            return fail_setting(err, errlen, "must name a PEM file");
    }
    return 0;
}

/* ---- ops ----------------------------------------------------------------- */

static int mastodon_start(struct gw_adapter *ad)
{
    struct mastodon *m = gw_xcalloc(1, sizeof(*m));
    m->ad = ad;
    m->rl_remaining = -1;
    m->max_chars = DEFAULT_MAX_CHARS;
    m->url_weight = DEFAULT_URL_WEIGHT;
    m->dones_tail = &m->dones;
    m->held_tail = &m->held;

    const char *base = gw_ad_setting(ad, "base_url");
    const char *handle = gw_ad_setting(ad, "handle");
    if (base != NULL && *base != '\0')
        m->base = mastodon_base_url(base);
    else if (handle != NULL && *handle != '\0')
        m->base = mastodon_base_from_handle(handle);
    if (m->base == NULL) {
        gw_ad_notice(ad, "no server: set base_url (https://host) or handle "
                         "(@me@host)");
        free(m);
        return UV_EINVAL;
    }
    m->domain = mastodon_url_host(m->base);
    ad->priv = m;

    m->want_stream = yesno(gw_ad_setting(ad, "streaming")) != 0;
    long poll = POLL_DEFAULT_S;
    const char *ps = gw_ad_setting(ad, "poll_seconds");
    if (ps != NULL && gw_parse_long(ps, 1, POLL_MAX_S, &poll) < 0)
        poll = POLL_DEFAULT_S;
    if (poll < POLL_MIN_S)
        poll = POLL_MIN_S;
    m->poll_ms = poll * 1000;
    const char *ca = gw_ad_setting(ad, "tls_ca");
    if (ca != NULL && *ca != '\0')
        m->ca_file = gw_xstrdup(ca);
    m->insecure = yesno(gw_ad_setting(ad, "tls_verify")) == 0;
    m->stream_off = !m->want_stream;

    const char *cid = gw_ad_setting(ad, "client_id");
    const char *csec = gw_ad_setting(ad, "client_secret");
    const char *abase = gw_ad_setting(ad, "app_base_url");
    if (printable_word(cid, 1024) && printable_word(csec, 1024) &&
        abase != NULL) {
        m->client_id = gw_xstrdup(cid);
        m->client_secret = gw_xstrdup(csec);
        m->app_base = mastodon_base_url(abase);
    }

    char *cur = NULL;
    if (gw_ad_cursor_get(ad, CURSOR_NAME, &cur) == 0 && mastodon_id_valid(cur))
        m->cursor = cur;
    else
        free(cur);

    const char *token = gw_ad_setting(ad, "token");
    if (token == NULL || *token == '\0') {
        m->signed_out = true;
        set_detail(m, "not signed in");
        gw_ad_notice(ad, "not signed in; run \"account login %s\"",
                     acct_name(m));
        return 0;
    }
    if (!printable_word(token, 4096)) {
        m->signed_out = true;
        set_detail(m, "the configured token is not valid");
        gw_ad_notice(ad,
                     "the configured token has spaces or control "
                     "characters; run \"account login %s\"",
                     acct_name(m));
        return 0;
    }
    set_token(m, token);
    signin_start(m);
    return 0;
}

static void mastodon_stop(struct gw_adapter *ad)
{
    struct mastodon *m = ad->priv;
    if (m == NULL)
        return;
    ad->priv = NULL;
    m->dead = true;
    teardown(m);
    if (m->depth == 0)
        priv_free(m);
}

static void act_dispatch(struct mastodon *m, const struct gw_action *a);

static const char *held_dup(struct held *h, const char *s)
{
    if (s == NULL)
        return NULL;
    h->strs[h->nstrs] = gw_xstrdup(s);
    return h->strs[h->nstrs++];
}

static void hold_action(struct mastodon *m, const struct gw_action *a)
{
    const struct gw_post_ref *p = a->parent;
    int nm =
        p != NULL && p->mentions != NULL && p->nmentions > 0 ? p->nmentions : 0;
    struct held *h = gw_xcalloc(1, sizeof(*h));
    h->strs = gw_xcalloc((size_t)nm + 11, sizeof(*h->strs));
    h->a.token = a->token;
    h->a.kind = a->kind;
    h->a.text = held_dup(h, a->text);
    h->a.cw = held_dup(h, a->cw);
    h->a.visibility = held_dup(h, a->visibility);
    h->a.handle = held_dup(h, a->handle);
    h->a.idem_key = held_dup(h, a->idem_key);
    if (p != NULL) {
        h->ref.id = held_dup(h, p->id);
        h->ref.author = held_dup(h, p->author);
        h->ref.visibility = held_dup(h, p->visibility);
        h->ref.cw = held_dup(h, p->cw);
        h->ref.conversation = held_dup(h, p->conversation);
        h->ref.extra = held_dup(h, p->extra);
        if (nm > 0) {
            h->mentions = gw_xcalloc((size_t)nm, sizeof(*h->mentions));
            for (int i = 0; i < nm; i++)
                h->mentions[i] = held_dup(h, p->mentions[i]);
            h->ref.mentions = h->mentions;
            h->ref.nmentions = nm;
        }
        h->a.parent = &h->ref;
    }
    *m->held_tail = h;
    m->held_tail = &h->next;
}

/* Signed in: carry out what waited. */
static void release_held(struct mastodon *m)
{
    struct held *h = m->held;
    m->held = NULL;
    m->held_tail = &m->held;
    while (h != NULL) {
        struct held *next = h->next;
        act_dispatch(m, &h->a);
        held_free(h);
        h = next;
    }
}

/* Not signed in (yet, or any more): answer what waited. */
static void answer_held(struct mastodon *m, enum gw_action_status st,
                        const char *msg)
{
    struct held *h = m->held;
    m->held = NULL;
    m->held_tail = &m->held;
    while (h != NULL) {
        struct held *next = h->next;
        act_later(m, h->a.token, st, msg, 0);
        held_free(h);
        h = next;
    }
}

static int mastodon_act(struct gw_adapter *ad, const struct gw_action *a)
{
    struct mastodon *m = ad->priv;
    if (m == NULL || a == NULL || a->kind < GW_ACT_POST ||
        a->kind >= GW_ACT_KIND_MAX)
        return UV_EINVAL;
    if (m->token == NULL || m->signed_out) {
        char *msg = gw_xasprintf("%s is not signed in: run account login %s",
                                 acct_name(m), acct_name(m));
        act_later(m, a->token, GW_ACT_FAILED, msg, 0);
        free(msg);
        return 0;
    }
    if (!m->signed_in) {
        hold_action(m, a);
        return 0;
    }
    act_dispatch(m, a);
    return 0;
}

static void act_dispatch(struct mastodon *m, const struct gw_action *a)
{
    switch (a->kind) {
    case GW_ACT_POST:
    case GW_ACT_REPLY:
    case GW_ACT_DM:
        act_post(m, a);
        break;
    case GW_ACT_FAV:
    case GW_ACT_UNFAV:
    case GW_ACT_BOOST:
    case GW_ACT_UNBOOST:
    case GW_ACT_DELETE:
        act_status_op(m, a);
        break;
    case GW_ACT_FOLLOW:
    case GW_ACT_UNFOLLOW:
    case GW_ACT_WHO:
        act_lookup(m, a);
        break;
    case GW_ACT_THREAD:
        act_thread(m, a);
        break;
    default:
        break;
    }
}

static int mastodon_login(struct gw_adapter *ad)
{
    struct mastodon *m = ad->priv;
    if (m == NULL) {
        gw_ad_notice(ad, "set base_url (or handle @me@host) first");
        return UV_EINVAL;
    }
    if (m->client_id != NULL && m->client_secret != NULL &&
        m->app_base != NULL && strcmp(m->app_base, m->base) == 0) {
        notice_authorize(m);
        return 0;
    }
    return register_app(m);
}

static int mastodon_code(struct gw_adapter *ad, const char *code)
{
    struct mastodon *m = ad->priv;
    if (m == NULL) {
        gw_ad_notice(ad, "set base_url (or handle @me@host) first");
        return UV_EINVAL;
    }
    char *c = gw_xstrdup(code != NULL ? code : "");
    trim_in_place(c);
    if (!printable_word(c, 1024)) {
        free(c);
        gw_ad_notice(ad, "that is not an authorization code");
        return UV_EINVAL;
    }
    if (m->client_id == NULL || m->client_secret == NULL) {
        free(c);
        gw_ad_notice(ad, "run \"account login %s\" first", acct_name(m));
        return UV_EINVAL;
    }
    char *ec = mastodon_urlencode(c);
    char *eid = mastodon_urlencode(m->client_id);
    char *esec = mastodon_urlencode(m->client_secret);
    struct mreq *q = req_new(on_token, api_url(m, "/oauth/token"));
    q->sessionless = true;
    q->body = gw_xasprintf("grant_type=authorization_code&code=%s"
                           "&client_id=%s&client_secret=%s"
                           "&redirect_uri=%s&scope=read%%20write%%20follow",
                           ec, eid, esec, OOB_URI_ENC);
    free(ec);
    free(eid);
    free(esec);
    free(c);
    int rc = req_send(m, q, "POST", "application/x-www-form-urlencoded", false);
    if (rc < 0) {
        req_free(q);
        gw_ad_notice(ad, "could not reach %s (%s)", m->base, uv_strerror(rc));
    }
    return rc;
}

static void mastodon_status(struct gw_adapter *ad, struct gw_adapter_status *st)
{
    struct mastodon *m = ad->priv;
    memset(st, 0, sizeof(*st));
    st->ratelimit_remaining = -1;
    if (m == NULL) {
        gw_strlcpy(st->mode, "signed out", sizeof(st->mode));
        gw_strlcpy(st->detail, "no server configured", sizeof(st->detail));
        return;
    }
    const char *mode;
    if (m->signed_out)
        mode = "signed out";
    else if (!m->signed_in)
        mode = "connecting";
    else if (m->sse_connected)
        mode = "streaming";
    else if (!m->stream_off)
        mode = "connecting";
    else
        mode = "polling";
    gw_strlcpy(st->mode, mode, sizeof(st->mode));
    if (m->signed_in && m->me_acct != NULL)
        snprintf(st->signed_in_as, sizeof(st->signed_in_as), "@%s", m->me_acct);
    st->last_event_ms = m->last_event_ms;
    st->ratelimit_remaining = m->rl_remaining;
    gw_strlcpy(st->detail, m->detail, sizeof(st->detail));
}

static const char *const mastodon_keys[] = {
    "base_url",  "handle",        "token",        "tls_verify",
    "client_id", "client_secret", "app_base_url", NULL,
};

const struct gw_adapter_ops mastodon_ops = {
    .abi_version = GW_ADAPTER_ABI,
    .name = "mastodon",
    .caps =
        GW_CAP_STREAMING | GW_CAP_DM | GW_CAP_FAV | GW_CAP_BOOST | GW_CAP_OAUTH,
    .keys = mastodon_keys,
    .check_setting = check_setting,
    .start = mastodon_start,
    .stop = mastodon_stop,
    .act = mastodon_act,
    .login = mastodon_login,
    .code = mastodon_code,
    .status = mastodon_status,
};
