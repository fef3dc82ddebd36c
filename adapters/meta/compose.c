/*
 * Actions to Graph requests, and what Graph answers about limits: error
 * objects, usage headers, text limits per surface, the messaging window.
 * Pure: see meta.h.
 */
#include "meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"
#include "gw_text.h"
#include "gw_util.h"

/* Graph API version of the dialogs; the API base comes from base_url. */
#define DIALOG_FB "https://www.facebook.com/v25.0/dialog/oauth"
#define DIALOG_IG "https://www.instagram.com/oauth/authorize"

/* Facebook Login permissions: read and answer Page comments and
 * Messenger, list the Pages (for the Page token), read the linked
 * Instagram account's comments, mentions and messages. */
#define SCOPE_FB                                                               \
    "pages_show_list,pages_read_engagement,pages_read_user_content,"           \
    "pages_manage_engagement,pages_manage_metadata,pages_messaging,"           \
    "business_management"
#define SCOPE_FB_IG                                                            \
    "pages_show_list,pages_read_engagement,pages_manage_metadata,"             \
    "pages_messaging,instagram_basic,instagram_manage_comments,"               \
    "instagram_manage_messages,business_management"
#define SCOPE_IG                                                               \
    "instagram_business_basic,instagram_business_manage_comments,"             \
    "instagram_business_manage_messages"

/* Text limits per surface. Messenger and Instagram Direct are the
 * Messenger Platform's (2,000 characters; 1,000 bytes); Instagram's
 * comment reference says 300 characters; Page comments: 8,000 characters
 * (the limit Facebook's comment box enforces; the Graph reference names
 * none, so this is a guess, listed in the README). */
#define LIMIT_MESSENGER_CHARS 2000
#define LIMIT_IG_DM_BYTES     1000
#define LIMIT_FB_COMMENT      8000
#define LIMIT_IG_COMMENT      300

void meta_call_free(struct meta_call *c)
{
    free(c->path);
    free(c->body);
    memset(c, 0, sizeof(*c));
}

char *meta_urlencode(const char *s)
{
    struct gw_buf b;
    gw_buf_init(&b, 1 << 20);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
                     *p == '_' || *p == '~';
        if (plain)
            gw_buf_append(&b, p, 1);
        else
            gw_buf_printf(&b, "%%%02X", *p);
    }
    if (b.data == NULL)
        return gw_xstrdup("");
    return gw_buf_steal(&b);
}

/* ---- errors ---------------------------------------------------------- */

int meta_error_parse(const char *body, size_t len, struct meta_error *out)
{
    memset(out, 0, sizeof(*out));
    cJSON *j =
        body != NULL && len > 0 ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *e = gw_json_obj(j, "error");
    if (e == NULL) {
        cJSON_Delete(j);
        return UV_EINVAL;
    }
    out->code = gw_json_long(e, "code", 0, 0, 100000000);
    out->subcode = gw_json_long(e, "error_subcode", 0, 0, 100000000);
    out->transient = cJSON_IsTrue(gw_json_get(e, "is_transient"));
    const char *msg = gw_json_str(e, "error_user_msg");
    if (msg == NULL)
        msg = gw_json_str(e, "message");
    char *one = gw_text_one_line(msg != NULL ? msg : "");
    gw_text_truncate(one, sizeof(out->message) - 1);
    gw_strlcpy(out->message, one, sizeof(out->message));
    free(one);
    const char *tr = gw_json_str(e, "fbtrace_id");
    if (gw_printable_word(tr, sizeof(out->trace) - 1))
        gw_strlcpy(out->trace, tr, sizeof(out->trace));
    cJSON_Delete(j);
    return 0;
}

bool meta_error_throttle(long code)
{
    return code == 4 || code == 17 || code == 32 || code == 613 ||
           (code >= 80001 && code <= 80014);
}

bool meta_error_token(const struct meta_error *e)
{
    return e->code == 190 || e->code == 102 ||
           (e->code == 10 && e->subcode == 458);
}

bool meta_error_window(const struct meta_error *e)
{
    return (e->code == 10 && e->subcode == 2018278) ||
           (e->code == 551 && e->subcode == 1545041) || e->subcode == 2534022;
}

/* ---- usage headers --------------------------------------------------- */

static int pct_of(const cJSON *o)
{
    static const char *const keys[] = {"call_count", "total_cputime",
                                       "total_time"};
    int m = -1;
    for (size_t i = 0; i < GW_ARRAY_LEN(keys); i++) {
        long v = gw_json_long(o, keys[i], -1, -1, 100000);
        if (v > m)
            m = (int)v;
    }
    return m;
}

int meta_usage_parse(const char *app_usage, const char *buc_usage,
                     struct meta_usage *out)
{
    memset(out, 0, sizeof(*out));
    out->app_pct = out->buc_pct = -1;
    int found = UV_EINVAL;
    if (app_usage != NULL) {
        cJSON *j = cJSON_Parse(app_usage);
        if (cJSON_IsObject(j)) {
            out->app_pct = pct_of(j);
            found = 0;
        }
        cJSON_Delete(j);
    }
    if (buc_usage != NULL) {
        cJSON *j = cJSON_Parse(buc_usage);
        const cJSON *top = cJSON_IsObject(j) ? j : NULL;
        const cJSON *biz;
        /* {"<business or page id>": [{"type", "call_count", ...,
         *  "estimated_time_to_regain_access"}]} */
        cJSON_ArrayForEach(biz, top)
        {
            const cJSON *list = cJSON_IsArray(biz) ? biz : NULL;
            const cJSON *ent;
            cJSON_ArrayForEach(ent, list)
            {
                int p = pct_of(ent);
                long regain = gw_json_long(
                    ent, "estimated_time_to_regain_access", 0, 0, 10080);
                if (p > out->buc_pct) {
                    out->buc_pct = p;
                    const char *t = gw_json_str(ent, "type");
                    gw_strlcpy(out->buc_type, gw_printable_word(t, 31) ? t : "",
                               sizeof(out->buc_type));
                }
                if (regain > out->regain_min)
                    out->regain_min = regain;
                found = 0;
            }
        }
        cJSON_Delete(j);
    }
    return found;
}

/* ---- the messaging window -------------------------------------------- */

int meta_window_check(int64_t last_ms, int64_t now_ms, char *err, size_t errlen)
{
    if (last_ms <= 0) {
        snprintf(err, errlen,
                 "Meta lets a Page or an Instagram account message only "
                 "people who wrote to it first; answer in their query when "
                 "they do");
        return UV_EPERM;
    }
    if (now_ms - last_ms <= META_WINDOW_MS)
        return 0;
    char closed[40], until[40];
    gw_format_time(last_ms + META_WINDOW_MS, closed, sizeof(closed));
    closed[16] = '\0';
    closed[10] = ' ';
    if (now_ms - last_ms <= META_HUMAN_AGENT_MS) {
        gw_format_time(last_ms + META_HUMAN_AGENT_MS, until, sizeof(until));
        until[16] = '\0';
        until[10] = ' ';
        snprintf(err, errlen,
                 "not sent: the 24-hour messaging window closed at %s UTC; "
                 "after that Meta takes only messages tagged HUMAN_AGENT "
                 "(a person answering, until %s UTC, for apps approved for "
                 "it), which Parley does not send",
                 closed, until);
    } else {
        snprintf(err, errlen,
                 "not sent: the 24-hour messaging window closed at %s UTC "
                 "and even the HUMAN_AGENT tag's 7 days are over; they "
                 "have to write first",
                 closed);
    }
    return UV_EPERM;
}

/* ---- text limits ----------------------------------------------------- */

static long codepoints(const char *s)
{
    long n = 0;
    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static const char *surface_of(const struct gw_action *a, char *buf, size_t len)
{
    buf[0] = '\0';
    if (a->parent == NULL || a->parent->extra == NULL)
        return buf;
    cJSON *x = cJSON_Parse(a->parent->extra);
    const char *s = gw_json_str(x, "s");
    if (s != NULL)
        gw_strlcpy(buf, s, len);
    cJSON_Delete(x);
    return buf;
}

int meta_check_length(enum meta_net net, const struct gw_action *a, char *err,
                      size_t errlen)
{
    const char *text = a->text != NULL ? a->text : "";
    bool dm = a->kind == GW_ACT_DM;
    if (!dm && a->kind != GW_ACT_REPLY && a->kind != GW_ACT_POST)
        return 0;
    long n, max;
    const char *unit = "characters", *what;
    if (dm && net == META_INSTAGRAM) {
        n = (long)strlen(text);
        max = LIMIT_IG_DM_BYTES;
        unit = "bytes";
        what = "an Instagram message";
    } else if (dm) {
        n = codepoints(text);
        max = LIMIT_MESSENGER_CHARS;
        what = "a Messenger message";
    } else if (net == META_INSTAGRAM) {
        n = codepoints(text);
        max = LIMIT_IG_COMMENT;
        what = "an Instagram comment";
    } else {
        n = codepoints(text);
        max = LIMIT_FB_COMMENT;
        what = "a Facebook comment";
    }
    if (n <= max)
        return 0;
    snprintf(err, errlen, "too long: %ld %s, %s takes at most %ld", n, unit,
             what, max);
    return UV_EMSGSIZE;
}

/* ---- compose --------------------------------------------------------- */

static char *form_message(const char *text)
{
    char *t = meta_urlencode(text);
    char *f = gw_xasprintf("message=%s", t);
    free(t);
    return f;
}

static int fail(char *err, size_t errlen, int rc, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return rc;
}

static int compose_dm(const struct meta_ids *ids, const struct gw_action *a,
                      struct meta_call *out, char *err, size_t errlen)
{
    const char *to = a->parent != NULL ? a->parent->author_id : NULL;
    if (ids->dm_from == NULL)
        return fail(err, errlen, UV_ENOTSUP,
                    "Instagram messages through Facebook Login need the "
                    "linked Page: set page_id");
    if (!meta_id_valid(to))
        return fail(err, errlen, UV_EINVAL,
                    "Meta lets a Page or an Instagram account message only "
                    "people who wrote to it first; answer in their query");
    cJSON *b = cJSON_CreateObject();
    cJSON *r = cJSON_AddObjectToObject(b, "recipient");
    cJSON_AddStringToObject(r, "id", to);
    /* Instagram Login's endpoint takes no messaging_type; Messenger's
     * requires it, and RESPONSE is what an answer within the window is. */
    if (ids->net == META_FACEBOOK || strcmp(ids->dm_from, ids->me) != 0)
        cJSON_AddStringToObject(b, "messaging_type", "RESPONSE");
    cJSON *m = cJSON_AddObjectToObject(b, "message");
    cJSON_AddStringToObject(m, "text", a->text);
    char *s = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    out->method = "POST";
    out->path = gw_xasprintf("/%s/messages", ids->dm_from);
    out->body = gw_xstrdup(s);
    cJSON_free(s);
    out->json = true;
    out->sends = true;
    return 0;
}

static int compose_reply(const struct meta_ids *ids, const struct gw_action *a,
                         struct meta_call *out, char *err, size_t errlen)
{
    char surface[32];
    surface_of(a, surface, sizeof(surface));
    const char *id = a->parent->id;
    out->method = "POST";
    out->sends = true;
    if (strcmp(surface, META_S_DM) == 0)
        return compose_dm(ids, a, out, err, errlen);
    if (ids->net == META_FACEBOOK) {
        out->path = gw_xasprintf("/%s/comments", id);
        out->body = form_message(a->text);
        return 0;
    }
    if (strcmp(surface, META_S_IG_COMMENT) == 0) {
        out->path = gw_xasprintf("/%s/replies", id);
        out->body = form_message(a->text);
        return 0;
    }
    if (strcmp(surface, META_S_IG_MENTION) == 0 ||
        strcmp(surface, META_S_IG_CAPTION) == 0) {
        cJSON *x = cJSON_Parse(a->parent->extra);
        const char *media = meta_json_id(x, "a");
        const char *comment = meta_json_id(x, "b");
        if (media == NULL) {
            cJSON_Delete(x);
            return fail(err, errlen, UV_EINVAL,
                        "this mention has no media id to answer on");
        }
        char *msg = form_message(a->text);
        out->path = gw_xasprintf("/%s/mentions", ids->me);
        if (comment != NULL)
            out->body = gw_xasprintf("media_id=%s&comment_id=%s&%s", media,
                                     comment, msg);
        else
            out->body = gw_xasprintf("media_id=%s&%s", media, msg);
        free(msg);
        cJSON_Delete(x);
        return 0;
    }
    return fail(err, errlen, UV_ENOTSUP,
                "Instagram takes replies to comments and mentions only");
}

int meta_compose(const struct meta_ids *ids, const struct gw_action *a,
                 struct meta_call *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    bool needs_parent = a->kind != GW_ACT_POST && a->kind != GW_ACT_DM;
    if (needs_parent && (a->parent == NULL || !meta_id_valid(a->parent->id)))
        return fail(err, errlen, UV_EINVAL, "no such post");
    if ((a->kind == GW_ACT_REPLY || a->kind == GW_ACT_DM) &&
        (a->text == NULL || gw_blank(a->text)))
        return fail(err, errlen, UV_EINVAL, "nothing to send");
    switch (a->kind) {
    case GW_ACT_REPLY:
        return compose_reply(ids, a, out, err, errlen);
    case GW_ACT_DM:
        return compose_dm(ids, a, out, err, errlen);
    case GW_ACT_DELETE:
        out->method = "DELETE";
        out->path = gw_xasprintf("/%s", a->parent->id);
        return 0;
    case GW_ACT_COMMAND: {
        /* !hide and !unhide: a comment stays, seen only by its author and
         * their friends (Facebook) or by its author (Instagram). */
        char surface[32];
        surface_of(a, surface, sizeof(surface));
        bool hide = a->command != NULL && strcmp(a->command, "hide") == 0;
        if (a->command == NULL || (!hide && strcmp(a->command, "unhide") != 0))
            break;
        if (strcmp(surface, META_S_FB_COMMENT) != 0 &&
            strcmp(surface, META_S_IG_COMMENT) != 0)
            return fail(err, errlen, UV_ENOTSUP,
                        "only comments on your own posts can be hidden");
        out->method = "POST";
        out->path = gw_xasprintf("/%s", a->parent->id);
        out->body = gw_xasprintf(
            "%s=%s", ids->net == META_FACEBOOK ? "is_hidden" : "hide",
            hide ? "true" : "false");
        return 0;
    }
    case GW_ACT_FAV:
    case GW_ACT_UNFAV:
        if (ids->net != META_FACEBOOK)
            break;
        out->method = a->kind == GW_ACT_FAV ? "POST" : "DELETE";
        out->path = gw_xasprintf("/%s/likes", a->parent->id);
        return 0;
    default:
        break;
    }
    return fail(err, errlen, UV_ENOTSUP,
                ids->net == META_FACEBOOK
                    ? "Facebook Pages take replies, DMs, likes, hides and "
                      "deletes"
                    : "Instagram takes replies, DMs, hides and deletes");
}

char *meta_login_url(enum meta_net net, bool instagram_login,
                     const char *app_id, const char *redirect_uri)
{
    char *id = meta_urlencode(app_id != NULL ? app_id : "");
    char *ru = meta_urlencode(redirect_uri != NULL ? redirect_uri : "");
    char *url;
    if (instagram_login)
        url = gw_xasprintf("%s?client_id=%s&redirect_uri=%s"
                           "&response_type=code&scope=%s",
                           DIALOG_IG, id, ru, SCOPE_IG);
    else
        url = gw_xasprintf("%s?client_id=%s&redirect_uri=%s"
                           "&response_type=code&scope=%s",
                           DIALOG_FB, id, ru,
                           net == META_FACEBOOK ? SCOPE_FB : SCOPE_FB_IG);
    free(id);
    free(ru);
    return url;
}
