/*
 * Graph JSON to events: comments, posts, mentions and messages of
 * Facebook Pages and Instagram, from the REST API and from webhooks. Pure:
 * see meta.h. Remote text is sanitised here (control characters, IRC
 * formatting); nothing from the network is trusted to have a type.
 */
#include "meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"
#include "gw_text.h"
#include "gw_util.h"

/* Remote text is cut here: a comment may hold 8,000 characters, and a
 * line of IRC is split anyway. */
#define TEXT_MAX 16384

static const char *keep(struct meta_event *e, const char *s)
{
    if (s == NULL || e->nstrs == META_EVENT_STRS)
        return NULL;
    e->strs[e->nstrs] = gw_xstrdup(s);
    return e->strs[e->nstrs++];
}

static const char *keep_own(struct meta_event *e, char *s)
{
    if (s == NULL)
        return NULL;
    if (e->nstrs == META_EVENT_STRS) {
        free(s);
        return NULL;
    }
    e->strs[e->nstrs] = s;
    return e->strs[e->nstrs++];
}

/* Remote text: sanitised, bounded. */
static const char *keep_text(struct meta_event *e, const char *s)
{
    if (s == NULL)
        s = "";
    /* Sanitised first: cutting needs valid UTF-8. */
    char *t = gw_text_sanitize(s, strlen(s));
    gw_text_truncate(t, TEXT_MAX);
    return keep_own(e, t);
}

static const char *keep_line(struct meta_event *e, const char *s)
{
    if (s == NULL)
        return NULL;
    char *one = gw_text_one_line(s);
    gw_text_truncate(one, 200);
    return keep_own(e, one);
}

/* A name to show: one clean line, never empty. */
static const char *keep_author(struct meta_event *e, const char *name,
                               const char *fallback)
{
    const char *k = keep_line(e, name);
    if (k == NULL || *k == '\0')
        k = keep_line(e, fallback);
    if (k == NULL || *k == '\0')
        k = keep(e, "someone");
    return k;
}

void meta_event_free(struct meta_event *e)
{
    for (int i = 0; i < e->nstrs; i++)
        free(e->strs[i]);
    memset(e, 0, sizeof(*e));
}

static void init(struct meta_event *out)
{
    memset(out, 0, sizeof(*out));
    out->ev.text = "";
    out->ev.audience = GW_AUD_PUBLIC;
}

bool meta_id_valid(const char *s)
{
    if (s == NULL)
        return false;
    size_t n = strlen(s);
    if (n == 0 || n > 96)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || c == '_' || c == '-' || c == '.' ||
              c == ':'))
            return false;
    }
    return true;
}

const char *meta_json_id(const cJSON *o, const char *key)
{
    const char *s = gw_json_str(o, key);
    return meta_id_valid(s) ? s : NULL;
}

int64_t meta_time_ms(const char *s)
{
    if (s == NULL || strlen(s) < 19 || strlen(s) > 40)
        return 0;
    char base[32];
    memcpy(base, s, 19);
    base[19] = 'Z';
    base[20] = '\0';
    int64_t ms = 0;
    if (gw_parse_time(base, &ms) < 0)
        return 0;
    /* Graph writes "+0000"; others "+00:00" or "Z"; a fraction may come
     * first. */
    const char *z = s + 19;
    if (*z == '.')
        while (*++z >= '0' && *z <= '9')
            ;
    if (*z == '+' || *z == '-') {
        int sign = *z == '+' ? 1 : -1;
        int hh = 0, mm = 0;
        if (sscanf(z + 1, "%2d:%2d", &hh, &mm) == 2 ||
            sscanf(z + 1, "%2d%2d", &hh, &mm) == 2)
            ms -= sign * ((int64_t)hh * 3600 + mm * 60) * 1000;
    }
    return ms;
}

/* "t" seconds (webhooks) or a Graph time string. */
static int64_t time_of(const cJSON *o, const char *key, int64_t fallback_s)
{
    const cJSON *t = gw_json_get(o, key);
    if (cJSON_IsString(t)) {
        int64_t ms = meta_time_ms(t->valuestring);
        if (ms > 0)
            return ms;
    }
    if (cJSON_IsNumber(t) && t->valuedouble > 0 && t->valuedouble < 1e13)
        return (int64_t)t->valuedouble * 1000;
    return fallback_s > 0 ? fallback_s * 1000 : 0;
}

/* extra: what answering this post needs later. */
static const char *extra(struct meta_event *e, const char *surface,
                         const char *a, const char *b, int64_t t_ms)
{
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "s", surface);
    if (a != NULL)
        cJSON_AddStringToObject(x, "a", a);
    if (b != NULL)
        cJSON_AddStringToObject(x, "b", b);
    char t[24];
    snprintf(t, sizeof(t), "%lld", (long long)t_ms);
    cJSON_AddStringToObject(x, "t", t);
    char *s = cJSON_PrintUnformatted(x);
    cJSON_Delete(x);
    const char *k = keep(e, s);
    cJSON_free(s);
    return k;
}

/*
 * An attachment: its URL as media when it has one, else a placeholder in
 * the text that sends people to the post itself.
 */
static void attachment(struct meta_event *e, const char *type, const char *url,
                       const char *permalink)
{
    const char *text = e->ev.text;
    char *t;
    if (url != NULL && gw_text_url_ok(url)) {
        e->media[0].url = keep(e, url);
        e->media[0].type = keep_line(e, type);
        e->ev.media = e->media;
        e->ev.nmedia = 1;
        return;
    }
    const char *where =
        permalink != NULL && gw_text_url_ok(permalink) ? permalink : "the post";
    if (*text != '\0')
        t = gw_xasprintf("%s [%s: see %s]", text, type ? type : "attachment",
                         where);
    else
        t = gw_xasprintf("[%s: see %s]", type ? type : "attachment", where);
    e->ev.text = keep_text(e, t);
    free(t);
}

static const char *url_of(const char *u)
{
    return u != NULL && gw_text_url_ok(u) ? u : NULL;
}

/* ---- Facebook -------------------------------------------------------- */

static int fb_comment_fill(const char *id, const char *parent,
                           const char *post_id, const cJSON *from,
                           const char *message, int64_t t_ms,
                           const char *permalink, const struct meta_me *me,
                           struct meta_event *out)
{
    const char *author_id = meta_json_id(from, "id");
    const char *name = gw_json_str(from, "name");
    if (id == NULL || post_id == NULL)
        return UV_EINVAL;
    bool mine =
        author_id != NULL && me->id != NULL && strcmp(author_id, me->id) == 0;
    out->ev.kind = mine ? GW_EV_OWN : GW_EV_REPLY;
    out->ev.id = keep(out, id);
    /* A commenter who has not allowed apps to see them comes without
     * "from": one person per comment is better than one for everybody. */
    if (author_id == NULL)
        author_id = id;
    out->ev.author_id = keep(out, author_id);
    out->ev.author = keep_author(out, name, mine ? me->handle : "someone");
    out->ev.author_name = keep_line(out, name);
    out->ev.text = keep_text(out, message);
    out->ev.url = keep(out, url_of(permalink));
    out->ev.in_reply_to = keep(out, parent != NULL ? parent : post_id);
    out->ev.conversation = keep(out, post_id);
    out->ev.created_ms = t_ms;
    out->ev.extra = extra(out, META_S_FB_COMMENT, post_id, NULL, t_ms);
    return 0;
}

int meta_fb_comment(const cJSON *c, const char *post_id,
                    const struct meta_me *me, struct meta_event *out)
{
    init(out);
    const char *id = meta_json_id(c, "id");
    if (!cJSON_IsObject(c) || id == NULL || !meta_id_valid(post_id))
        return UV_EINVAL;
    const char *parent = meta_json_id(gw_json_obj(c, "parent"), "id");
    const char *permalink = gw_json_str(c, "permalink_url");
    int rc = fb_comment_fill(id, parent, post_id, gw_json_obj(c, "from"),
                             gw_json_str(c, "message"),
                             time_of(c, "created_time", 0), permalink, me, out);
    if (rc < 0)
        return rc;
    const cJSON *att = gw_json_obj(c, "attachment");
    if (att != NULL) {
        const char *src =
            gw_json_str(gw_json_obj(gw_json_obj(att, "media"), "image"), "src");
        const char *type = gw_json_str(att, "type");
        attachment(out, type, src != NULL ? src : gw_json_str(att, "url"),
                   permalink);
    }
    return 0;
}

int meta_fb_post(const cJSON *p, const struct meta_me *me,
                 struct meta_event *out)
{
    init(out);
    const char *id = meta_json_id(p, "id");
    const cJSON *from = gw_json_obj(p, "from");
    const char *author_id = meta_json_id(from, "id");
    if (!cJSON_IsObject(p) || id == NULL)
        return UV_EINVAL;
    if (author_id != NULL && me->id != NULL && strcmp(author_id, me->id) == 0)
        return META_IGNORED;
    int64_t t = time_of(p, "created_time", 0);
    out->ev.kind = GW_EV_MENTION;
    out->ev.id = keep(out, id);
    out->ev.author_id = keep(out, author_id != NULL ? author_id : id);
    const char *name = gw_json_str(from, "name");
    out->ev.author = keep_author(out, name, "someone");
    out->ev.author_name = keep_line(out, name);
    out->ev.text = keep_text(out, gw_json_str(p, "message"));
    out->ev.url = keep(out, url_of(gw_json_str(p, "permalink_url")));
    out->ev.conversation = out->ev.id;
    out->ev.created_ms = t;
    out->ev.extra = extra(out, META_S_FB_POST, id, NULL, t);
    return 0;
}

int meta_fb_change(const cJSON *change, int64_t time_s,
                   const struct meta_me *me, struct meta_event *out)
{
    init(out);
    const char *field = gw_json_str(change, "field");
    const cJSON *v = gw_json_obj(change, "value");
    if (field == NULL || v == NULL)
        return UV_EINVAL;
    const char *item = gw_json_str(v, "item");
    const char *verb = gw_json_str(v, "verb");
    if (strcmp(field, "mention") == 0) {
        /* Reference shape: {post_id, comment_id?, item, verb, sender_id,
         * sender_name, message?} (the reference is thin: see mock). */
        const char *cid = meta_json_id(v, "comment_id");
        const char *pid = meta_json_id(v, "post_id");
        if (pid == NULL || (verb != NULL && strcmp(verb, "add") != 0))
            return pid == NULL ? UV_EINVAL : META_IGNORED;
        int64_t t = time_of(v, "created_time", time_s);
        out->ev.kind = GW_EV_MENTION;
        out->ev.id = keep(out, cid != NULL ? cid : pid);
        const char *sid = meta_json_id(v, "sender_id");
        out->ev.author_id = keep(out, sid != NULL ? sid : out->ev.id);
        const char *sn = gw_json_str(v, "sender_name");
        out->ev.author = keep_author(out, sn, "someone");
        out->ev.author_name = keep_line(out, sn);
        out->ev.text = keep_text(out, gw_json_str(v, "message"));
        out->ev.conversation = keep(out, pid);
        out->ev.in_reply_to = cid != NULL ? out->ev.conversation : NULL;
        out->ev.created_ms = t;
        out->ev.extra =
            extra(out, cid != NULL ? META_S_FB_COMMENT : META_S_FB_POST, pid,
                  NULL, t);
        return 0;
    }
    if (strcmp(field, "feed") != 0 || item == NULL || verb == NULL)
        return field != NULL && strcmp(field, "feed") != 0 ? META_IGNORED
                                                           : UV_EINVAL;
    if (strcmp(item, "comment") == 0) {
        const char *cid = meta_json_id(v, "comment_id");
        const char *pid = meta_json_id(v, "post_id");
        const char *parent = meta_json_id(v, "parent_id");
        if (cid == NULL || pid == NULL)
            return UV_EINVAL;
        if (strcmp(verb, "remove") == 0) {
            out->ev.kind = GW_EV_DELETE;
            out->ev.id = keep(out, cid);
            out->ev.author = keep(out, "someone");
            out->ev.created_ms = time_s * 1000;
            return 0;
        }
        if (strcmp(verb, "add") != 0 && strcmp(verb, "edited") != 0)
            return META_IGNORED; /* hide, unhide: no line for those */
        /* A top-level comment's parent_id is the post itself. */
        if (parent != NULL && strcmp(parent, pid) == 0)
            parent = NULL;
        int rc = fb_comment_fill(
            cid, parent, pid, gw_json_obj(v, "from"), gw_json_str(v, "message"),
            time_of(v, "created_time", time_s),
            gw_json_str(gw_json_obj(v, "post"), "permalink_url"), me, out);
        if (rc < 0)
            return rc;
        if (strcmp(verb, "edited") == 0) {
            out->ev.kind = GW_EV_EDIT;
            /* Each edit is stored by id and time: the change's time. */
            out->ev.created_ms = time_s > 0 ? time_s * 1000 : gw_now_ms();
        }
        const char *photo = gw_json_str(v, "photo");
        if (photo != NULL)
            attachment(out, "photo", photo, NULL);
        return 0;
    }
    if ((strcmp(item, "post") == 0 || strcmp(item, "status") == 0 ||
         strcmp(item, "photo") == 0) &&
        strcmp(verb, "add") == 0) {
        const char *pid = meta_json_id(v, "post_id");
        if (pid == NULL)
            return UV_EINVAL;
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "id", pid);
        cJSON_AddItemToObject(p, "from",
                              cJSON_Duplicate(gw_json_obj(v, "from"), 1));
        const char *msg = gw_json_str(v, "message");
        cJSON_AddStringToObject(p, "message", msg != NULL ? msg : "");
        int rc = meta_fb_post(p, me, out);
        cJSON_Delete(p);
        if (rc == 0)
            out->ev.created_ms = time_of(v, "created_time", time_s);
        return rc;
    }
    return META_IGNORED; /* reactions, shares, likes: not conversation */
}

/* ---- Instagram ------------------------------------------------------- */

static int ig_comment_fill(const cJSON *c, const char *media_id, int64_t t_ms,
                           const struct meta_me *me, struct meta_event *out)
{
    const char *id = meta_json_id(c, "id");
    if (id == NULL || !meta_id_valid(media_id))
        return UV_EINVAL;
    const cJSON *from = gw_json_obj(c, "from");
    const char *uid = meta_json_id(from, "id");
    const char *user = gw_json_str(from, "username");
    if (user == NULL)
        user = gw_json_str(c, "username");
    bool mine = (uid != NULL && me->id != NULL && strcmp(uid, me->id) == 0) ||
                (uid == NULL && user != NULL && me->handle != NULL &&
                 gw_strcasecmp(user, me->handle) == 0);
    out->ev.kind = mine ? GW_EV_OWN : GW_EV_REPLY;
    out->ev.id = keep(out, id);
    /* The IG-scoped id when Meta gives one (it does to the media's
     * owner); else the username, which can change. */
    out->ev.author = keep_author(out, user, "someone");
    out->ev.author_id = keep(out, uid != NULL ? uid : out->ev.author);
    out->ev.text = keep_text(out, gw_json_str(c, "text"));
    if (user != NULL) {
        char *u = gw_xasprintf("https://www.instagram.com/%s/", user);
        if (gw_text_url_ok(u))
            out->ev.author_url = keep_own(out, u);
        else
            free(u);
    }
    const char *parent = meta_json_id(c, "parent_id");
    out->ev.in_reply_to = keep(out, parent != NULL ? parent : media_id);
    out->ev.conversation = keep(out, media_id);
    out->ev.created_ms = t_ms;
    out->ev.extra = extra(out, META_S_IG_COMMENT, media_id, NULL, t_ms);
    return 0;
}

int meta_ig_comment(const cJSON *c, const char *media_id,
                    const struct meta_me *me, struct meta_event *out)
{
    init(out);
    if (!cJSON_IsObject(c))
        return UV_EINVAL;
    return ig_comment_fill(c, media_id, time_of(c, "timestamp", 0), me, out);
}

int meta_ig_change(const cJSON *change, int64_t time_s,
                   const struct meta_me *me, struct meta_event *out)
{
    init(out);
    const char *field = gw_json_str(change, "field");
    const cJSON *v = gw_json_obj(change, "value");
    if (field == NULL || v == NULL)
        return UV_EINVAL;
    if (strcmp(field, "comments") != 0 && strcmp(field, "live_comments") != 0)
        return META_IGNORED;
    const char *media = meta_json_id(gw_json_obj(v, "media"), "id");
    return ig_comment_fill(v, media, time_of(v, "timestamp", time_s), me, out);
}

int meta_ig_mention_ids(const cJSON *change, const char **media_id,
                        const char **comment_id)
{
    const char *field = gw_json_str(change, "field");
    const cJSON *v = gw_json_obj(change, "value");
    *media_id = meta_json_id(v, "media_id");
    *comment_id = meta_json_id(v, "comment_id");
    if (field == NULL || strcmp(field, "mentions") != 0 || *media_id == NULL)
        return UV_EINVAL;
    return 0;
}

static const char *ig_media_placeholder(struct meta_event *e, const cJSON *m)
{
    const char *type = gw_json_str(m, "media_type");
    const char *permalink = url_of(gw_json_str(m, "permalink"));
    if (type == NULL || permalink == NULL)
        return e->ev.text;
    /* IMAGE, VIDEO, CAROUSEL_ALBUM: IRC shows none of them; the post's
     * address does. */
    char *lower = gw_xstrdup(type);
    gw_strlower(lower);
    attachment(e, lower, NULL, permalink);
    free(lower);
    return e->ev.text;
}

int meta_ig_mentioned(const cJSON *answer, const char *media_id,
                      const char *comment_id, const struct meta_me *me,
                      struct meta_event *out)
{
    init(out);
    (void)me;
    const cJSON *o = gw_json_obj(
        answer, comment_id != NULL ? "mentioned_comment" : "mentioned_media");
    if (o == NULL)
        return UV_EINVAL;
    const char *id = meta_json_id(o, "id");
    if (id == NULL)
        id = comment_id != NULL ? comment_id : media_id;
    if (!meta_id_valid(id) || !meta_id_valid(media_id))
        return UV_EINVAL;
    const char *user = gw_json_str(o, "username");
    int64_t t = time_of(o, "timestamp", 0);
    out->ev.kind = GW_EV_MENTION;
    out->ev.id = keep(out, id);
    out->ev.author = keep_author(out, user, "someone");
    out->ev.author_id = out->ev.author;
    out->ev.text =
        keep_text(out, gw_json_str(o, comment_id != NULL ? "text" : "caption"));
    const cJSON *media = gw_json_obj(o, "media");
    const char *permalink =
        gw_json_str(comment_id != NULL ? media : o, "permalink");
    out->ev.url = keep(out, url_of(permalink));
    out->ev.conversation = keep(out, media_id);
    out->ev.created_ms = t;
    if (comment_id == NULL)
        ig_media_placeholder(out, o);
    out->ev.extra =
        extra(out, comment_id != NULL ? META_S_IG_MENTION : META_S_IG_CAPTION,
              media_id, comment_id, t);
    return 0;
}

int meta_ig_tagged(const cJSON *media, const struct meta_me *me,
                   struct meta_event *out)
{
    init(out);
    const char *id = meta_json_id(media, "id");
    if (id == NULL)
        return UV_EINVAL;
    const char *user = gw_json_str(media, "username");
    if (user != NULL && me->handle != NULL &&
        gw_strcasecmp(user, me->handle) == 0)
        return META_IGNORED;
    int64_t t = time_of(media, "timestamp", 0);
    out->ev.kind = GW_EV_MENTION;
    out->ev.id = keep(out, id);
    out->ev.author = keep_author(out, user, "someone");
    out->ev.author_id = out->ev.author;
    out->ev.text = keep_text(out, gw_json_str(media, "caption"));
    out->ev.url = keep(out, url_of(gw_json_str(media, "permalink")));
    out->ev.conversation = out->ev.id;
    out->ev.created_ms = t;
    ig_media_placeholder(out, media);
    out->ev.extra = extra(out, META_S_IG_CAPTION, id, NULL, t);
    return 0;
}

/* ---- messages -------------------------------------------------------- */

static void message_attachments(struct meta_event *e, const cJSON *atts)
{
    const cJSON *a;
    cJSON_ArrayForEach(a, atts)
    {
        const cJSON *payload = gw_json_obj(a, "payload");
        const char *url = gw_json_str(payload, "url");
        if (url == NULL)
            url = gw_json_str(gw_json_obj(a, "image_data"), "url");
        if (url == NULL)
            url = gw_json_str(gw_json_obj(a, "video_data"), "url");
        if (url == NULL)
            url = gw_json_str(a, "file_url");
        const char *type = gw_json_str(a, "type");
        if (type == NULL)
            type = gw_json_str(a, "mime_type");
        if (e->ev.nmedia == 0) {
            attachment(e, type != NULL ? type : "attachment", url, NULL);
        } else if (url_of(url) != NULL) {
            char *t = gw_xasprintf("%s %s", e->ev.text, url);
            e->ev.text = keep_text(e, t);
            free(t);
        }
    }
}

static void dm_fill(struct meta_event *e, const char *mid, const char *uid,
                    const char *name, const char *text, const char *conv,
                    int64_t t_ms, const struct meta_me *me)
{
    e->ev.kind = GW_EV_DM;
    e->ev.id = keep(e, mid);
    e->ev.author_id = keep(e, uid);
    e->ev.author = keep_author(e, name, uid);
    e->ev.author_name = keep_line(e, name);
    e->ev.text = keep_text(e, text);
    e->ev.conversation = keep(e, conv);
    e->ev.audience = GW_AUD_MENTIONED;
    e->ev.created_ms = t_ms;
    e->ev.extra =
        extra(e, META_S_DM, uid,
              me->net == META_INSTAGRAM ? "instagram" : "messenger", t_ms);
}

int meta_message(const cJSON *msg, const char *conv_id,
                 const struct meta_me *me, struct meta_event *out)
{
    init(out);
    const char *mid = meta_json_id(msg, "id");
    const cJSON *from = gw_json_obj(msg, "from");
    const char *uid = meta_json_id(from, "id");
    if (mid == NULL || uid == NULL)
        return UV_EINVAL;
    if (me->id != NULL && strcmp(uid, me->id) == 0)
        return META_IGNORED;
    const char *name = gw_json_str(from, "name");
    if (name == NULL)
        name = gw_json_str(from, "username");
    dm_fill(out, mid, uid, name, gw_json_str(msg, "message"),
            meta_id_valid(conv_id) ? conv_id : NULL,
            time_of(msg, "created_time", 0), me);
    message_attachments(out,
                        gw_json_arr(gw_json_obj(msg, "attachments"), "data"));
    return 0;
}

int meta_messaging(const cJSON *item, const char *sender_name,
                   const struct meta_me *me, struct meta_event *out)
{
    init(out);
    const char *uid = meta_json_id(gw_json_obj(item, "sender"), "id");
    const cJSON *m = gw_json_obj(item, "message");
    if (m == NULL)
        return uid != NULL ? META_IGNORED : UV_EINVAL; /* reads, ... */
    const char *mid = meta_json_id(m, "mid");
    if (uid == NULL || mid == NULL)
        return UV_EINVAL;
    const cJSON *echo = gw_json_get(m, "is_echo");
    if (cJSON_IsTrue(echo) || (me->id != NULL && strcmp(uid, me->id) == 0))
        return META_IGNORED;
    const cJSON *ts = gw_json_get(item, "timestamp");
    int64_t t =
        cJSON_IsNumber(ts) && ts->valuedouble > 0 && ts->valuedouble < 1e15
            ? (int64_t)ts->valuedouble
            : 0;
    if (cJSON_IsTrue(gw_json_get(m, "is_deleted"))) {
        out->ev.kind = GW_EV_DELETE;
        out->ev.id = keep(out, mid);
        out->ev.author = keep(out, uid);
        out->ev.created_ms = t;
        return 0;
    }
    dm_fill(out, mid, uid, sender_name, gw_json_str(m, "text"), NULL, t, me);
    message_attachments(out, gw_json_arr(m, "attachments"));
    return 0;
}
