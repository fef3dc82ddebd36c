/*
 * X API v2 JSON to neutral events. Pure: no state, no I/O. Everything in a
 * response is untrusted: ids are checked strings, expansions may be
 * missing from includes (X names why in errors[] beside data), text may
 * hold anything.
 */
#include "x.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

/* ---- ids ----------------------------------------------------------------- */

#define ID_MAX   32
#define CONV_MAX 80

static bool digits(const char *s, size_t max, bool dash)
{
    size_t n = 0;
    if (s == NULL || *s == '\0')
        return false;
    for (; s[n] != '\0'; n++)
        if (n >= max || !((s[n] >= '0' && s[n] <= '9') ||
                          (dash && s[n] == '-' && n > 0 && s[n + 1] != '\0')))
            return false;
    return true;
}

bool x_id_valid(const char *s)
{
    return digits(s, ID_MAX, false);
}

bool x_conv_id_valid(const char *s)
{
    return digits(s, CONV_MAX, true);
}

const char *x_json_id(const cJSON *o, const char *k)
{
    const char *s = gw_json_str(o, k);
    return x_id_valid(s) ? s : NULL;
}

int x_id_cmp(const char *a, const char *b)
{
    while (*a == '0' && a[1] != '\0')
        a++;
    while (*b == '0' && b[1] != '\0')
        b++;
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    return strcmp(a, b);
}

bool x_username_valid(const char *s)
{
    if (s == NULL)
        return false;
    if (*s == '@')
        s++;
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= 15 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return n > 0;
}

/* ---- owned strings --------------------------------------------------------
 */

static const char *keep(struct x_event *e, char *s)
{
    return gw_strs_keep(&e->strs, s);
}

static const char *keep_dup(struct x_event *e, const char *s)
{
    return gw_strs_dup(&e->strs, s);
}

void x_event_free(struct x_event *e)
{
    if (e == NULL)
        return;
    gw_strs_free(&e->strs);
    free(e->media);
    free(e->mentions);
    memset(e, 0, sizeof(*e));
}

static void event_init(struct x_event *out)
{
    memset(out, 0, sizeof(*out));
    out->ev.text = "";
}

/* ---- includes and errors ------------------------------------------------- */

/* The object in includes[list] whose key field is id. */
static const cJSON *find_in(const cJSON *includes, const char *list,
                            const char *key, const char *id)
{
    const cJSON *arr = gw_json_arr(includes, list);
    const cJSON *it;
    if (id == NULL)
        return NULL;
    cJSON_ArrayForEach(it, arr)
    {
        const char *v = gw_json_str(it, key);
        if (v != NULL && strcmp(v, id) == 0)
            return it;
    }
    return NULL;
}

/* Why X left a resource out: the title of the problem in errors[] that
 * names it ("Not Found Error", "Authorization Error"), else "not sent". */
static const char *missing_why(const cJSON *errors, const char *id)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, errors)
    {
        const char *rid = gw_json_str(it, "resource_id");
        const char *val = gw_json_str(it, "value");
        if ((rid != NULL && id != NULL && strcmp(rid, id) == 0) ||
            (val != NULL && id != NULL && strcmp(val, id) == 0)) {
            const char *t = gw_json_str(it, "title");
            if (t != NULL && strstr(t, "Authorization") != NULL)
                return "protected";
            if (t != NULL && strstr(t, "Not Found") != NULL)
                return "deleted";
            if (t != NULL && strstr(t, "Unavailable") != NULL)
                return "unavailable";
            return t != NULL && gw_text_is_clean(t, strlen(t)) ? t
                                                               : "unavailable";
        }
    }
    return "not sent by X";
}

/* ---- text ---------------------------------------------------------------- */

static bool starts_ci(const char *s, const char *prefix, size_t n)
{
    return gw_strncasecmp(s, prefix, n) == 0;
}

static bool word_byte(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

/* Replace every occurrence of from by to in *s (a malloc'd string). */
static void replace_all(char **s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    if (fl == 0 || strstr(*s, from) == NULL)
        return;
    struct gw_buf b;
    gw_buf_init(&b, strlen(*s) * 2 + 4096 + tl * 8);
    const char *p = *s, *hit;
    while ((hit = strstr(p, from)) != NULL) {
        if (gw_buf_append(&b, p, (size_t)(hit - p)) < 0 ||
            gw_buf_append(&b, to, tl) < 0) {
            gw_buf_free(&b);
            return; /* past the ceiling: the t.co link stays */
        }
        p = hit + fl;
    }
    if (gw_buf_puts(&b, p) < 0) {
        gw_buf_free(&b);
        return;
    }
    free(*s);
    *s = gw_buf_steal(&b);
}

/* t.co links as their expanded URL; links to the post's own media go,
 * because the media are shown with their own addresses. */
static void expand_urls(char **text, const cJSON *entities)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, gw_json_arr(entities, "urls"))
    {
        const char *url = gw_json_str(it, "url");
        const char *exp = gw_json_str(it, "expanded_url");
        if (url == NULL || strncmp(url, "http", 4) != 0)
            continue;
        if (gw_json_str(it, "media_key") != NULL)
            replace_all(text, url, "");
        else if (exp != NULL && gw_text_url_ok(exp))
            replace_all(text, url, exp);
    }
}

/* The leading run of "@me" (every reply to me starts with one): in my own
 * inbox it says nothing. Mentions of others stay. */
static const char *skip_my_mentions(const char *t, const char *me)
{
    size_t ml = me != NULL ? strlen(me) : 0;
    if (ml == 0)
        return t;
    for (;;) {
        const char *p = t;
        while (*p == ' ')
            p++;
        if (*p == '@' && starts_ci(p + 1, me, ml) && !word_byte(p[1 + ml])) {
            t = p + 1 + ml;
            continue;
        }
        break;
    }
    while (*t == ' ')
        t++;
    return t;
}

/* The post's text as shown: long text, links, entities, withheld. */
static char *post_text(const cJSON *post, const char *me_name)
{
    const cJSON *note = gw_json_obj(post, "note_tweet");
    const char *raw = gw_json_str(note, "text");
    const cJSON *entities = gw_json_obj(note, "entities");
    if (raw == NULL) {
        raw = gw_json_str(post, "text");
        entities = gw_json_obj(post, "entities");
    }
    if (raw == NULL)
        return NULL;
    /* X escapes &, < and > in post text and nothing else. */
    char *t = gw_text_decode_entities(raw, strlen(raw));
    expand_urls(&t, entities);
    const char *shown = skip_my_mentions(t, me_name);
    struct gw_buf b;
    gw_buf_init(&b, strlen(t) + 1024);
    const cJSON *wh = gw_json_obj(post, "withheld");
    if (wh != NULL) {
        const cJSON *cc = gw_json_arr(wh, "country_codes");
        const cJSON *c;
        int n = 0;
        (void)gw_buf_puts(&b, "[withheld");
        if (cJSON_IsTrue(gw_json_get(wh, "copyright")))
            (void)gw_buf_puts(&b, " for copyright");
        cJSON_ArrayForEach(c, cc)
        {
            if (cJSON_IsString(c) && gw_printable_word(c->valuestring, 8))
                (void)gw_buf_printf(&b, "%s%s", n++ ? ", " : " in ",
                                    c->valuestring);
        }
        (void)gw_buf_puts(&b, *shown ? "] " : "]");
    }
    (void)gw_buf_puts(&b, shown);
    free(t);
    char *out = gw_text_sanitize(b.data, b.len);
    gw_buf_free(&b);
    gw_trim(out); /* a media link taken out leaves its space behind */
    return out;
}

/* ---- authors ------------------------------------------------------------- */

struct author {
    const char *id;
    const char *username; /* NULL: X did not send the user */
    const char *name;
    bool protected_;
    const char *why; /* when username is NULL */
};

static struct author author_of(const char *id, const cJSON *includes,
                               const cJSON *errors)
{
    struct author a;
    memset(&a, 0, sizeof(a));
    a.id = id;
    const cJSON *u = find_in(includes, "users", "id", id);
    const char *un = gw_json_str(u, "username");
    if (u != NULL && x_username_valid(un)) {
        a.username = un;
        const char *nm = gw_json_str(u, "name");
        a.name = nm != NULL && gw_text_is_clean(nm, strlen(nm)) ? nm : NULL;
        a.protected_ = cJSON_IsTrue(gw_json_get(u, "protected"));
    } else {
        a.why = missing_why(errors, id);
    }
    return a;
}

/* The handle an author goes by: the username, or, when X did not say, the
 * numeric id (the stable author id is that in any case). */
static void set_author(struct x_event *e, const struct author *a)
{
    e->ev.author_id = keep_dup(e, a->id);
    if (a->username != NULL) {
        e->ev.author = keep_dup(e, a->username);
        e->ev.author_name = keep_dup(e, a->name);
        e->ev.author_url =
            keep(e, gw_xasprintf("https://x.com/%s", a->username));
    } else {
        e->ev.author = keep_dup(e, a->id);
        e->ev.author_name =
            keep(e, gw_xasprintf("(an account X did not show: %s)", a->why));
        e->ev.author_url =
            keep(e, gw_xasprintf("https://x.com/i/user/%s", a->id));
    }
}

static void set_media(struct x_event *e, const cJSON *keys,
                      const cJSON *includes)
{
    int n = cJSON_GetArraySize(keys), k = 0;
    if (n <= 0)
        return;
    if (n > 16)
        n = 16; /* X allows 4 per post; a hostile list stays small */
    e->media = gw_xcalloc((size_t)n, sizeof(*e->media));
    for (int i = 0; i < n; i++) {
        const cJSON *key = cJSON_GetArrayItem(keys, i);
        if (!cJSON_IsString(key))
            continue;
        const cJSON *m =
            find_in(includes, "media", "media_key", key->valuestring);
        const char *url = gw_json_str(m, "url");
        if (url == NULL || !gw_text_url_ok(url))
            url = gw_json_str(m, "preview_image_url");
        if (url == NULL || !gw_text_url_ok(url))
            continue;
        const char *alt = gw_json_str(m, "alt_text");
        const char *type = gw_json_str(m, "type");
        e->media[k].url = keep_dup(e, url);
        e->media[k].alt = alt != NULL ? keep(e, gw_text_one_line(alt)) : NULL;
        e->media[k].type = type != NULL && gw_printable_word(type, 32)
                               ? keep_dup(e, type)
                               : NULL;
        k++;
    }
    e->ev.media = e->media;
    e->ev.nmedia = k;
}

static void set_mentions(struct x_event *e, const cJSON *post,
                         const char *me_name)
{
    const cJSON *ments = gw_json_arr(gw_json_obj(post, "entities"), "mentions");
    int n = cJSON_GetArraySize(ments), k = 0;
    if (n <= 0)
        return;
    if (n > 50)
        n = 50;
    e->mentions = gw_xcalloc((size_t)n, sizeof(*e->mentions));
    for (int i = 0; i < n; i++) {
        const char *u = gw_json_str(cJSON_GetArrayItem(ments, i), "username");
        if (!x_username_valid(u) ||
            (me_name != NULL && gw_strcasecmp(u, me_name) == 0))
            continue;
        bool dup = false;
        for (int j = 0; j < k; j++)
            dup = dup || gw_strcasecmp(e->mentions[j], u) == 0;
        if (!dup)
            e->mentions[k++] = keep_dup(e, u);
    }
    e->ev.mentions = e->mentions;
    e->ev.nmentions = k;
}

/* The referenced post of a type ("replied_to", "quoted"), its id. */
static const char *referenced(const cJSON *post, const char *type)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, gw_json_arr(post, "referenced_tweets"))
    {
        const char *t = gw_json_str(it, "type");
        if (t != NULL && strcmp(t, type) == 0)
            return x_json_id(it, "id");
    }
    return NULL;
}

/* "[quote] @bob: text" from includes.tweets, or why it is missing. */
static char *quote_line(const char *qid, const cJSON *includes,
                        const cJSON *errors)
{
    const cJSON *q = find_in(includes, "tweets", "id", qid);
    if (q == NULL)
        return gw_xasprintf("[quote of a post X did not show: %s]",
                            missing_why(errors, qid));
    struct author a = author_of(x_json_id(q, "author_id"), includes, errors);
    char *t = post_text(q, NULL);
    char *one = gw_text_one_line(t != NULL ? t : "");
    char *line =
        gw_xasprintf("[quote] @%s: %s",
                     a.username ? a.username : (a.id ? a.id : "unknown"), one);
    free(one);
    free(t);
    gw_text_truncate(line, 400);
    return line;
}

int x_post_to_event(const cJSON *post, const cJSON *includes,
                    const cJSON *errors, const struct x_me *me, bool want_own,
                    struct x_event *out)
{
    event_init(out);
    const char *id = x_json_id(post, "id");
    if (id == NULL)
        return UV_EINVAL;
    const char *me_name = me != NULL ? me->username : NULL;
    const char *me_id = me != NULL ? me->id : NULL;
    char *text = post_text(post, want_own ? NULL : me_name);
    if (text == NULL)
        return UV_EINVAL;
    struct x_event *e = out;
    e->ev.id = keep_dup(e, id);
    const char *aid = x_json_id(post, "author_id");
    struct author a = author_of(aid, includes, errors);
    if (aid == NULL) {
        /* Not asked for, or hostile: the post still arrives, unsigned. */
        a.id = "0";
        a.why = "no author in the answer";
    }
    set_author(e, &a);
    const char *parent = referenced(post, "replied_to");
    const char *quoted = referenced(post, "quoted");
    const char *to_user = x_json_id(post, "in_reply_to_user_id");
    if (want_own) {
        e->ev.kind = GW_EV_OWN;
    } else if (parent != NULL && me_id != NULL && to_user != NULL &&
               strcmp(to_user, me_id) == 0) {
        e->ev.kind = GW_EV_REPLY;
    } else if (quoted != NULL && me_id != NULL &&
               (aid = x_json_id(find_in(includes, "tweets", "id", quoted),
                                "author_id")) != NULL &&
               strcmp(aid, me_id) == 0) {
        e->ev.kind = GW_EV_QUOTE;
        e->ev.target_id = keep_dup(e, quoted);
    } else {
        e->ev.kind = GW_EV_MENTION;
    }
    if (quoted != NULL) {
        char *q = quote_line(quoted, includes, errors);
        char *all = gw_xasprintf("%s%s%s", text, *text ? "\n" : "", q);
        free(q);
        free(text);
        text = all;
    }
    e->ev.text = keep(e, text);
    e->ev.in_reply_to = keep_dup(e, parent);
    const char *conv = x_json_id(post, "conversation_id");
    e->ev.conversation = keep_dup(e, conv != NULL ? conv : id);
    e->ev.audience = a.protected_ ? GW_AUD_FOLLOWERS : GW_AUD_PUBLIC;
    e->ev.url = keep(e, gw_xasprintf("https://x.com/%s/status/%s",
                                     a.username ? a.username : "i", id));
    int64_t ms = 0;
    const char *ca = gw_json_str(post, "created_at");
    if (ca != NULL && gw_parse_time(ca, &ms) == 0)
        e->ev.created_ms = ms;
    set_media(e, gw_json_arr(gw_json_obj(post, "attachments"), "media_keys"),
              includes);
    set_mentions(e, post, me_name);
    return 0;
}

int x_dm_to_event(const cJSON *dm, const cJSON *includes, const cJSON *errors,
                  const struct x_me *me, struct x_event *out)
{
    event_init(out);
    const char *id = x_json_id(dm, "id");
    const char *type = gw_json_str(dm, "event_type");
    if (id == NULL || type == NULL)
        return UV_EINVAL;
    if (strcmp(type, "MessageCreate") != 0)
        return X_IGNORED;
    const char *sender = x_json_id(dm, "sender_id");
    const char *conv = gw_json_str(dm, "dm_conversation_id");
    const char *raw = gw_json_str(dm, "text");
    if (sender == NULL || !x_conv_id_valid(conv))
        return UV_EINVAL;
    if (me != NULL && me->id != NULL && strcmp(sender, me->id) == 0)
        return X_IGNORED; /* mine, sent from elsewhere */
    struct x_event *e = out;
    struct author a = author_of(sender, includes, errors);
    set_author(e, &a);
    e->ev.kind = GW_EV_DM;
    e->ev.id = keep_dup(e, id);
    e->ev.conversation = keep_dup(e, conv);
    e->ev.audience = GW_AUD_MENTIONED;
    char *t = gw_text_decode_entities(raw != NULL ? raw : "",
                                      raw != NULL ? strlen(raw) : 0);
    expand_urls(&t, gw_json_obj(dm, "entities"));
    struct gw_buf b;
    gw_buf_init(&b, strlen(t) + 4096);
    (void)gw_buf_puts(&b, t);
    free(t);
    const cJSON *it;
    cJSON_ArrayForEach(it, gw_json_arr(dm, "referenced_tweets"))
    {
        const char *pid = x_json_id(it, "id");
        if (pid != NULL)
            (void)gw_buf_printf(&b, "%shttps://x.com/i/status/%s",
                                b.len ? "\n" : "", pid);
    }
    e->ev.text = keep(e, gw_text_sanitize(b.data, b.len));
    gw_buf_free(&b);
    int64_t ms = 0;
    const char *ca = gw_json_str(dm, "created_at");
    if (ca != NULL && gw_parse_time(ca, &ms) == 0)
        e->ev.created_ms = ms;
    set_media(e, gw_json_arr(gw_json_obj(dm, "attachments"), "media_keys"),
              includes);
    cJSON *extra = cJSON_CreateObject();
    cJSON_AddStringToObject(extra, "sender_id", sender);
    char *js = cJSON_PrintUnformatted(extra);
    cJSON_Delete(extra);
    if (js != NULL) {
        e->ev.extra = keep_dup(e, js);
        cJSON_free(js);
    }
    return 0;
}

/* ---- pages --------------------------------------------------------------- */

static int cmp_items(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a;
    const cJSON *y = *(const cJSON *const *)b;
    return x_id_cmp(x_json_id(x, "id"), x_json_id(y, "id"));
}

int x_items_sorted(const cJSON *data, const cJSON ***items)
{
    *items = NULL;
    if (data == NULL)
        return 0;
    if (!cJSON_IsArray(data))
        return UV_EINVAL;
    int n = cJSON_GetArraySize(data), k = 0;
    if (n == 0)
        return 0;
    const cJSON **arr = gw_xcalloc((size_t)n, sizeof(*arr));
    const cJSON *it;
    cJSON_ArrayForEach(it, data)
    {
        if (x_json_id(it, "id") != NULL)
            arr[k++] = it;
    }
    qsort(arr, (size_t)k, sizeof(*arr), cmp_items);
    if (k == 0) {
        free(arr);
        arr = NULL;
    }
    *items = arr;
    return k;
}

long x_posts_in(const cJSON *resp)
{
    long n = 0;
    const cJSON *data = gw_json_get(resp, "data");
    if (cJSON_IsArray(data))
        n += cJSON_GetArraySize(data);
    else if (cJSON_IsObject(data))
        n += 1;
    n += cJSON_GetArraySize(
        gw_json_arr(gw_json_obj(resp, "includes"), "tweets"));
    return n;
}
