/*
 * Mastodon JSON in: notifications and statuses to events, ids, handles,
 * the instance's limits, and the lines of !thread and !who. Pure: nothing
 * here calls the core or keeps state.
 *
 * Ids are never converted to numbers: Mastodon's are 18-20 decimal digits
 * (a double keeps 15), GoToSocial's are ULIDs, so they are read as strings
 * and ordered by mastodon_id_cmp().
 */
#include "mastodon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

/* A line of !thread or !who; an IRC line holds about 400 bytes of text. */
#define LINE_BYTES           300
#define THREAD_ANCESTORS_MAX 20
#define THREAD_LINES_MAX     60
#define NOTE_LINES_MAX       10

/* Stock server values, used when /api/v2/instance does not say. */
#define DEFAULT_MAX_CHARS  500
#define DEFAULT_URL_WEIGHT 23

/* Texts we build stay far below this; it only bounds gw_buf. */
#define TEXT_MAX (4 * 1024 * 1024)

static bool is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
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
    const char *s = gw_json_str(obj, key);
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
    if (h == NULL || strstr(h, "\xEF\xBF\xBD") != NULL)
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
        return gw_text_is_clean(h, ulen);
    const char *d = at + 1;
    size_t dlen = strlen(d);
    if (dlen == 0 || dlen > 253 || *d == '.' || *d == '-' || *d == ':')
        return false;
    for (size_t i = 0; i < dlen; i++) {
        if (!handle_char((unsigned char)d[i], true))
            return false;
    }
    return gw_text_is_clean(h, ulen + 1 + dlen);
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

/* ---- audiences ----------------------------------------------------------- */

enum gw_audience mastodon_audience(const char *visibility)
{
    static const char *const words[] = {"public", "unlisted", "private",
                                        "direct"};
    static const enum gw_audience auds[] = {GW_AUD_PUBLIC, GW_AUD_UNLISTED,
                                            GW_AUD_FOLLOWERS, GW_AUD_MENTIONED};
    for (size_t i = 0; visibility != NULL && i < GW_ARRAY_LEN(words); i++)
        if (strcmp(visibility, words[i]) == 0)
            return auds[i];
    return GW_AUD_UNKNOWN;
}

/* ---- events ------------------------------------------------------------- */

static const char *keep(struct mastodon_event *e, char *s)
{
    return gw_strs_keep(&e->strs, s);
}

/* Non-empty clean line kept in e, or NULL. */
static const char *keep_line(struct mastodon_event *e, const char *s)
{
    if (s == NULL)
        return NULL;
    char *t = gw_text_one_line(s);
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
    gw_strs_free(&e->strs);
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
    const cJSON *arr = gw_json_arr(st, "mentions");
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
        char *full = mastodon_handle_full(gw_json_str(it, "acct"), domain);
        if (full == NULL)
            continue;
        mm->url[mm->n] = gw_json_str(it, "url");
        mm->user[mm->n] = gw_json_str(it, "username");
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

struct mention_key {
    const char *full;
    int i;
};

static int mention_key_cmp(const void *a, const void *b)
{
    const struct mention_key *x = a, *y = b;
    int c = gw_strcasecmp(x->full, y->full);
    return c != 0 ? c : (x->i > y->i) - (x->i < y->i);
}

/*
 * dup[i]: mention i names someone an earlier one did. Sorted, not compared
 * pairwise: a post that reaches a hundred of our accounts names a hundred
 * people, and is converted once for each of them.
 */
static bool *mention_dups(const struct mention_map *mm)
{
    bool *dup = gw_xcalloc((size_t)mm->n + 1, sizeof(*dup));
    if (mm->n < 2)
        return dup;
    struct mention_key *k = gw_xcalloc((size_t)mm->n, sizeof(*k));
    for (int i = 0; i < mm->n; i++)
        k[i] = (struct mention_key){mm->full[i], i};
    qsort(k, (size_t)mm->n, sizeof(*k), mention_key_cmp);
    for (int i = 1; i < mm->n; i++)
        if (gw_strcasecmp(k[i - 1].full, k[i].full) == 0)
            dup[k[i].i] = true;
    free(k);
    return dup;
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
    const char *content = gw_json_str(st, "content");
    char *text;
    if (content != NULL)
        text = gw_text_from_html(content, strlen(content), mention_cb, mm);
    else
        text = gw_xstrdup("");

    const cJSON *options = gw_json_arr(gw_json_obj(st, "poll"), "options");
    if (options == NULL)
        return text;
    struct gw_buf b;
    gw_buf_init(&b, TEXT_MAX);
    const cJSON *opt;
    int n = 0;
    cJSON_ArrayForEach(opt, options)
    {
        const char *title = gw_json_str(opt, "title");
        if (title == NULL)
            continue;
        char *t = gw_text_one_line(title);
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
    const char *u = gw_json_str(st, "url");
    if (gw_text_url_ok(u))
        return u;
    u = gw_json_str(st, "uri");
    return gw_text_url_ok(u) ? u : NULL;
}

static int bad(struct mastodon_event *e, const char *why)
{
    e->why = why;
    return UV_EINVAL;
}

/*
 * The author's full handle. One that Mastodon would not make ("a b", "x:y",
 * "#m") is still shown, as it is (the core derives a nick from any text):
 * a post must not vanish for its author's name. One that holds a control
 * character or a NUL (seen as U+FFFD) is refused: it could pass for the
 * account whose name it is cut to.
 */
static char *author_full(const char *acct, const char *domain, const char **why)
{
    if (acct == NULL || *acct == '\0') {
        *why = "the account has no name (acct)";
        return NULL;
    }
    size_t n = strlen(acct);
    if (n > 255 || !gw_text_is_clean(acct, n) || strchr(acct, '\n') ||
        strstr(acct, "\xEF\xBF\xBD") != NULL) {
        *why = "the account's name (acct) holds a control character, a NUL "
               "or invalid UTF-8";
        return NULL;
    }
    char *full = mastodon_handle_full(acct, domain);
    if (full != NULL)
        return full;
    if (*acct == '@')
        acct++;
    if (strchr(acct, '@') != NULL || domain == NULL || *domain == '\0')
        return gw_xstrdup(acct);
    return gw_xasprintf("%s@%s", acct, domain);
}

/* Author fields from an Account. UV_EINVAL when it has no usable acct. */
static int fill_author(struct mastodon_event *e, const cJSON *acc,
                       const char *domain)
{
    if (acc == NULL)
        return bad(e, "no account");
    const char *why = NULL;
    char *full = author_full(gw_json_str(acc, "acct"), domain, &why);
    if (full == NULL)
        return bad(e, why);
    /* The acct is the fediverse-wide identity: account ids are local to the
     * server asked, so the same person has another on another server. */
    e->ev.author = keep(e, full);
    char *id = gw_xstrdup(full);
    gw_strlower(id);
    e->ev.author_id = keep(e, id);
    e->ev.author_name = keep_line(e, gw_json_str(acc, "display_name"));
    const char *u = gw_json_str(acc, "url");
    e->ev.author_url = gw_text_url_ok(u) ? keep(e, gw_xstrdup(u)) : NULL;
    return 0;
}

static int64_t json_time(const cJSON *o, const char *k)
{
    int64_t ms = 0;
    const char *s = gw_json_str(o, k);
    if (s == NULL || gw_parse_time(s, &ms) < 0)
        return 0;
    return ms;
}

static void fill_media(struct mastodon_event *e, const cJSON *st)
{
    const cJSON *arr = gw_json_arr(st, "media_attachments");
    int total = arr != NULL ? cJSON_GetArraySize(arr) : 0;
    if (total <= 0)
        return;
    e->media = gw_xcalloc((size_t)total, sizeof(*e->media));
    const cJSON *it;
    int n = 0;
    cJSON_ArrayForEach(it, arr)
    {
        const char *u = gw_json_str(it, "url");
        if (!gw_text_url_ok(u))
            u = gw_json_str(it, "remote_url");
        if (!gw_text_url_ok(u))
            continue;
        e->media[n].url = keep(e, gw_xstrdup(u));
        e->media[n].alt = keep_line(e, gw_json_str(it, "description"));
        e->media[n].type = keep_line(e, gw_json_str(it, "type"));
        n++;
    }
    e->ev.media = e->media;
    e->ev.nmedia = n;
}

/*
 * What the core does not keep for itself, as JSON: the server's own
 * visibility word when it is not one of the four ("local" and such), and
 * the time of an edit. Usually nothing: a tree built and printed per post
 * was a fifth of this file's work per mention. Both values are checked
 * words (an id, an ISO time), so no escaping is needed.
 */
static void fill_extra(struct mastodon_event *e, const cJSON *st)
{
    const char *vis = gw_json_str(st, "visibility");
    const char *edited = gw_json_str(st, "edited_at");
    int64_t ms;
    bool odd_vis = vis != NULL && mastodon_id_valid(vis) &&
                   mastodon_audience(vis) == GW_AUD_UNKNOWN;
    bool edit = edited != NULL && strlen(edited) <= 64 &&
                gw_printable_word(edited, 64) && strchr(edited, '"') == NULL &&
                strchr(edited, '\\') == NULL && gw_parse_time(edited, &ms) == 0;
    if (!odd_vis && !edit)
        return;
    e->ev.extra = keep(e, gw_xasprintf("{%s%s%s%s%s%s%s}",
                                       odd_vis ? "\"visibility\":\"" : "",
                                       odd_vis ? vis : "", odd_vis ? "\"" : "",
                                       odd_vis && edit ? "," : "",
                                       edit ? "\"edited_at\":\"" : "",
                                       edit ? edited : "", edit ? "\"" : ""));
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
        return bad(e, "the status has no valid id");
    const cJSON *acc = gw_json_obj(st, "account");
    if (acc == NULL)
        acc = fallback_acc;
    if (fill_author(e, acc, domain) < 0)
        return UV_EINVAL;
    e->ev.id = keep(e, gw_xstrdup(id));
    const char *url = status_url(st);
    e->ev.url = url != NULL ? keep(e, gw_xstrdup(url)) : NULL;

    struct mention_map mm;
    mention_map_init(&mm, st, domain);
    if (mm.n > 0)
        e->mentions = gw_xcalloc((size_t)mm.n, sizeof(*e->mentions));
    bool *dup = mention_dups(&mm);
    for (int i = 0; i < mm.n; i++) {
        if (dup[i] ||
            (me_acct != NULL && gw_strcasecmp(mm.full[i], me_acct) == 0))
            continue;
        e->mentions[e->ev.nmentions++] = keep(e, gw_xstrdup(mm.full[i]));
    }
    free(dup);
    e->ev.mentions = e->mentions;
    e->ev.text = keep(e, strip_self_mention(status_text(st, &mm), me_acct));
    mention_map_free(&mm);

    e->ev.cw = keep_line(e, gw_json_str(st, "spoiler_text"));
    e->ev.audience = mastodon_audience(gw_json_str(st, "visibility"));
    const char *parent = mastodon_json_id(st, "in_reply_to_id");
    e->ev.in_reply_to = parent != NULL ? keep(e, gw_xstrdup(parent)) : NULL;
    e->ev.created_ms = json_time(st, "created_at");
    /* The core keys an edit by id and time: each edit its own time. */
    if (e->ev.kind == GW_EV_EDIT && json_time(st, "edited_at") != 0)
        e->ev.created_ms = json_time(st, "edited_at");
    fill_media(e, st);
    fill_extra(e, st);
    return 0;
}

int mastodon_status_to_event(const cJSON *st, enum gw_event_kind kind,
                             const struct mastodon_me *me,
                             struct mastodon_event *out)
{
    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(st))
        return bad(out, "the status is not an object");
    out->ev.kind = kind;
    return fill_post(out, st, NULL, me);
}

int mastodon_notification_to_event(const cJSON *n, const struct mastodon_me *me,
                                   struct mastodon_event *out)
{
    memset(out, 0, sizeof(*out));
    const char *domain = me != NULL ? me->domain : NULL;
    const char *nid = mastodon_json_id(n, "id");
    const char *type = gw_json_str(n, "type");
    if (nid == NULL || type == NULL)
        return bad(out, "the notification has no valid id or type");
    const cJSON *acc = gw_json_obj(n, "account");
    const cJSON *st = gw_json_obj(n, "status");

    if (strcmp(type, "mention") == 0 || strcmp(type, "quote") == 0 ||
        strcmp(type, "update") == 0) {
        if (st == NULL)
            return bad(out, "the notification has no status");
        if (strcmp(type, "update") == 0) {
            out->ev.kind = GW_EV_EDIT;
        } else if (strcmp(type, "quote") == 0) {
            out->ev.kind = GW_EV_QUOTE;
        } else {
            const char *vis = gw_json_str(st, "visibility");
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
            const cJSON *q = gw_json_obj(st, "quote");
            const char *qid =
                mastodon_json_id(gw_json_obj(q, "quoted_status"), "id");
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
    if (fill_author(out, acc, domain) < 0)
        return UV_EINVAL;
    out->ev.id = keep(out, gw_xstrdup(nid));
    out->ev.created_ms = json_time(n, "created_at");
    if (kind == GW_EV_FOLLOW) {
        out->ev.text = "";
        return 0;
    }
    const char *sid = mastodon_json_id(st, "id");
    if (sid == NULL)
        return bad(out, "the notification's status has no valid id");
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
/* ---- instance ----------------------------------------------------------- */

void mastodon_instance_parse(const cJSON *inst, struct mastodon_instance *out)
{
    memset(out, 0, sizeof(*out));
    out->max_characters = DEFAULT_MAX_CHARS;
    out->url_weight = DEFAULT_URL_WEIGHT;
    if (!cJSON_IsObject(inst))
        return;
    const cJSON *conf = gw_json_obj(inst, "configuration");
    const cJSON *statuses = gw_json_obj(conf, "statuses");
    /* Pleroma-style servers say max_toot_chars at the top level. */
    long max =
        gw_json_long(inst, "max_toot_chars", DEFAULT_MAX_CHARS, 1, 1000000);
    out->max_characters =
        gw_json_long(statuses, "max_characters", max, 1, 1000000);
    out->url_weight = gw_json_long(statuses, "characters_reserved_per_url",
                                   DEFAULT_URL_WEIGHT, 0, 100000);
    const char *domain = gw_json_str(inst, "domain");
    if (domain != NULL) {
        char *probe = gw_xasprintf("x@%s", domain);
        if (mastodon_handle_valid(probe))
            out->domain = gw_xstrdup(domain);
        free(probe);
    }
    const char *s = gw_json_str(gw_json_obj(conf, "urls"), "streaming");
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

void mastodon_thread_free(struct mastodon_thread *t)
{
    for (int i = 0; i < t->nposts; i++)
        mastodon_event_free(&t->posts[i]);
    free(t->posts);
    free(t->items);
    for (size_t i = 0; i < GW_ARRAY_LEN(t->notes); i++)
        free(t->notes[i]);
    memset(t, 0, sizeof(*t));
}

/* One more item: the post st, or a note when it is no post. */
static void thread_add(struct mastodon_thread *t, const cJSON *st,
                       const struct mastodon_me *me, int cap)
{
    struct mastodon_event *e = &t->posts[t->nposts];
    if (t->n >= cap)
        return;
    if (mastodon_status_to_event(st, GW_EV_CONTEXT, me, e) == 0) {
        t->items[t->n++] = e->ev;
        t->nposts++;
        return;
    }
    mastodon_event_free(e);
}

static void thread_note(struct mastodon_thread *t, char *text)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(t->notes); i++) {
        if (t->notes[i] == NULL) {
            t->notes[i] = text;
            memset(&t->items[t->n], 0, sizeof(t->items[0]));
            t->items[t->n].kind = GW_EV_CONTEXT;
            t->items[t->n++].text = text;
            return;
        }
    }
    free(text);
}

int mastodon_thread(const cJSON *status, const cJSON *context,
                    const struct mastodon_me *me, struct mastodon_thread *out)
{
    memset(out, 0, sizeof(*out));
    if (mastodon_json_id(status, "id") == NULL)
        return UV_EINVAL;
    const cJSON *anc = gw_json_arr(context, "ancestors");
    const cJSON *desc = gw_json_arr(context, "descendants");
    int nanc = anc != NULL ? cJSON_GetArraySize(anc) : 0;
    int ndesc = desc != NULL ? cJSON_GetArraySize(desc) : 0;
    int skip = nanc > THREAD_ANCESTORS_MAX ? nanc - THREAD_ANCESTORS_MAX : 0;
    /* Room for every post shown and the two notes. */
    int cap = THREAD_LINES_MAX + 3;
    out->posts = gw_xcalloc((size_t)cap, sizeof(*out->posts));
    out->items = gw_xcalloc((size_t)cap, sizeof(*out->items));
    if (skip > 0)
        thread_note(out, gw_xasprintf("\xe2\x80\xa6 %d earlier posts", skip));
    const cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, anc)
    {
        if (i++ >= skip)
            thread_add(out, it, me, cap);
    }
    thread_add(out, status, me, cap);
    i = 0;
    cJSON_ArrayForEach(it, desc)
    {
        if (out->n >= THREAD_LINES_MAX) {
            thread_note(
                out, gw_xasprintf("\xe2\x80\xa6 %d more replies", ndesc - i));
            break;
        }
        i++;
        thread_add(out, it, me, cap);
    }
    return out->n;
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
    char *s = gw_text_one_line(raw);
    free(raw);
    if (*s == '\0') {
        free(s);
        return 0;
    }
    gw_text_truncate(s, LINE_BYTES);
    lines_add(nl->l, s);
    nl->n++;
    return 0;
}

int mastodon_who_lines(const cJSON *account, const char *domain, char ***lines)
{
    struct lines l = {0};
    *lines = NULL;
    char *full = mastodon_handle_full(gw_json_str(account, "acct"), domain);
    if (full == NULL)
        return UV_EINVAL;
    const char *dn = gw_json_str(account, "display_name");
    char *name = dn != NULL ? gw_text_one_line(dn) : gw_xstrdup("");
    const char *bot = cJSON_IsTrue(gw_json_get(account, "bot")) ? " [bot]" : "";
    char *first;
    if (*name != '\0')
        first = gw_xasprintf("%s (@%s)%s", name, full, bot);
    else
        first = gw_xasprintf("@%s%s", full, bot);
    gw_text_truncate(first, LINE_BYTES);
    lines_add(&l, first);
    free(name);
    free(full);
    const char *url = gw_json_str(account, "url");
    if (gw_text_url_ok(url))
        lines_add(&l, gw_xstrdup(url));
    lines_add(&l, gw_xasprintf(
                      "%ld followers, %ld following, %ld posts",
                      gw_json_long(account, "followers_count", 0, 0, LONG_MAX),
                      gw_json_long(account, "following_count", 0, 0, LONG_MAX),
                      gw_json_long(account, "statuses_count", 0, 0, LONG_MAX)));
    const char *note = gw_json_str(account, "note");
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
