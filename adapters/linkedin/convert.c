/*
 * LinkedIn in: notifications, comments, posts and people from JSON into
 * plain structs and events; what an HTTP answer means; OAuth token
 * answers; the poll window cursor. Pure: nothing here calls the core.
 *
 * Nothing from the network is trusted: every field is type-checked, ids
 * are never read through a double beyond 2^53, text is sanitised before
 * it can reach IRC.
 */
#include "linkedin.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

#define ERROR_TEXT_BYTES 300
/* Longest text taken from a comment or post: LinkedIn's own limits are a
 * few thousand characters; anything far beyond is cut with an ellipsis. */
#define TEXT_MAX (64 * 1024)
/* Integers a double holds exactly (notification ids, times). */
#define EXACT_MAX 9007199254740992.0

static char *dup_or_null(const char *s)
{
    return s != NULL ? gw_xstrdup(s) : NULL;
}

/* A whole non-negative number below 2^53, or digits in a string, as
 * decimal text into buf; false otherwise. */
static bool json_integer(const cJSON *v, char *buf, size_t size)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!(d >= 0 && d < EXACT_MAX) || floor(d) != d)
            return false;
        snprintf(buf, size, "%.0f", d);
        return true;
    }
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        size_t n = strlen(s);
        if (n == 0 || n >= size || n > 20)
            return false;
        for (size_t i = 0; i < n; i++)
            if (s[i] < '0' || s[i] > '9')
                return false;
        memcpy(buf, s, n + 1);
        return true;
    }
    return false;
}

static int64_t json_ms(const cJSON *o, const char *k)
{
    char buf[32];
    const cJSON *v = gw_json_get(o, k);
    if (!json_integer(v, buf, sizeof(buf)))
        return 0;
    int64_t ms = 0;
    for (const char *p = buf; *p != '\0' && ms < INT64_MAX / 10 - 10; p++)
        ms = ms * 10 + (*p - '0');
    return ms;
}

/* obj[k] when it is a valid URN, else NULL (borrowed). */
static const char *json_urn(const cJSON *o, const char *k)
{
    const char *s = gw_json_str(o, k);
    return linkedin_urn_valid(s) ? s : NULL;
}

static char *clean_text(const char *s)
{
    if (s == NULL)
        return gw_xstrdup("");
    size_t n = strlen(s);
    char *t = gw_text_sanitize(s, n > TEXT_MAX ? TEXT_MAX : n);
    if (n > TEXT_MAX)
        gw_text_truncate(t, TEXT_MAX);
    return t;
}

/* ---- notifications -------------------------------------------------------
 */

static enum linkedin_action action_of(const char *s)
{
    static const struct {
        const char *name;
        enum linkedin_action a;
    } map[] = {
        {"COMMENT", LINKEDIN_COMMENT},
        {"SHARE_MENTION", LINKEDIN_SHARE_MENTION},
        {"ADMIN_COMMENT", LINKEDIN_ADMIN_COMMENT},
        {"COMMENT_EDIT", LINKEDIN_COMMENT_EDIT},
        {"COMMENT_DELETE", LINKEDIN_COMMENT_DELETE},
    };
    for (size_t i = 0; s != NULL && i < GW_ARRAY_LEN(map); i++)
        if (strcmp(s, map[i].name) == 0)
            return map[i].a;
    return LINKEDIN_OTHER;
}

void linkedin_note_free(struct linkedin_note *n)
{
    if (n == NULL)
        return;
    free(n->id);
    free(n->org);
    free(n->source_post);
    free(n->activity);
    free(n->text);
    free(n->owner);
    memset(n, 0, sizeof(*n));
}

int linkedin_note_parse(const cJSON *el, struct linkedin_note *out)
{
    memset(out, 0, sizeof(*out));
    char id[24];
    if (!cJSON_IsObject(el) ||
        !json_integer(gw_json_get(el, "notificationId"), id, sizeof(id)))
        return UV_EINVAL;
    out->id = gw_xstrdup(id);
    const cJSON *act = gw_json_get(el, "action");
    if (act != NULL && !cJSON_IsString(act))
        return UV_EINVAL;
    out->action = action_of(gw_json_str(el, "action"));
    out->at = json_ms(el, "lastModifiedAt");
    out->org = dup_or_null(json_urn(el, "organizationalEntity"));
    out->source_post = dup_or_null(json_urn(el, "sourcePost"));
    const char *ga = json_urn(el, "generatedActivity");
    if (out->action == LINKEDIN_OTHER)
        return 0; /* shown nowhere: only its id matters */
    bool comment = out->action != LINKEDIN_SHARE_MENTION;
    if (comment) {
        struct linkedin_comment_ref ref;
        if (ga == NULL || linkedin_comment_ref(ga, &ref) < 0)
            return UV_EINVAL;
        out->activity = ref.urn;
        ref.urn = NULL;
        linkedin_comment_ref_free(&ref);
        const cJSON *dc = gw_json_obj(
            gw_json_obj(el, "decoratedGeneratedActivity"), "comment");
        const char *text = gw_json_str(dc, "text");
        const char *owner = json_urn(dc, "owner");
        if (text != NULL && owner != NULL) {
            out->text = clean_text(text);
            out->owner = gw_xstrdup(owner);
        }
    } else {
        if (ga == NULL)
            return UV_EINVAL;
        out->activity = gw_xstrdup(ga);
    }
    return 0;
}

void linkedin_notes_free(struct linkedin_note *notes, int n)
{
    for (int i = 0; i < n; i++)
        linkedin_note_free(&notes[i]);
    free(notes);
}

static int note_cmp(const void *a, const void *b)
{
    const struct linkedin_note *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    /* Same time: the shorter id first, then the smaller (ids grow). */
    size_t lx = strlen(x->id), ly = strlen(y->id);
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Notes from an array of elements, oldest first. */
static int notes_from(const cJSON *arr, struct linkedin_note **notes, int *bad)
{
    int size = cJSON_GetArraySize(arr), n = 0;
    *notes = NULL;
    *bad = 0;
    if (size <= 0)
        return 0;
    *notes = gw_xcalloc((size_t)size, sizeof(**notes));
    const cJSON *el;
    cJSON_ArrayForEach(el, arr)
    {
        if (n >= size)
            break;
        if (linkedin_note_parse(el, &(*notes)[n]) == 0) {
            n++;
        } else {
            linkedin_note_free(&(*notes)[n]);
            (*bad)++;
        }
    }
    qsort(*notes, (size_t)n, sizeof(**notes), note_cmp);
    return n;
}

int linkedin_notes_page(const cJSON *page, struct linkedin_note **notes,
                        int *elements, int *bad)
{
    *notes = NULL;
    *elements = 0;
    *bad = 0;
    const cJSON *arr = gw_json_arr(page, "elements");
    if (arr == NULL)
        return UV_EINVAL;
    *elements = cJSON_GetArraySize(arr);
    return notes_from(arr, notes, bad);
}

/* ---- comments and posts --------------------------------------------------
 */

static size_t mention_template(const char *s, const char **name,
                               size_t *namelen);

void linkedin_item_free(struct linkedin_item *it)
{
    if (it == NULL)
        return;
    free(it->urn);
    free(it->object);
    free(it->parent);
    free(it->actor);
    free(it->text);
    memset(it, 0, sizeof(*it));
}

int linkedin_comment_parse(const cJSON *c, struct linkedin_item *out)
{
    memset(out, 0, sizeof(*out));
    struct linkedin_comment_ref ref;
    const char *urn = gw_json_str(c, "commentUrn");
    if (urn == NULL)
        urn = gw_json_str(c, "$URN");
    const char *actor = json_urn(c, "actor");
    const cJSON *msg = gw_json_obj(c, "message");
    const char *text = gw_json_str(msg, "text");
    if (urn == NULL || linkedin_comment_ref(urn, &ref) < 0)
        return UV_EINVAL;
    if (actor == NULL || text == NULL) {
        linkedin_comment_ref_free(&ref);
        return UV_EINVAL;
    }
    out->urn = ref.urn;
    /* "object" names the post; the URN's thread is the activity. */
    const char *object = json_urn(c, "object");
    out->object = gw_xstrdup(object != NULL ? object : ref.object);
    ref.urn = NULL;
    linkedin_comment_ref_free(&ref);
    const char *parent = gw_json_str(c, "parentComment");
    struct linkedin_comment_ref pref;
    if (parent != NULL && linkedin_comment_ref(parent, &pref) == 0) {
        out->parent = pref.urn;
        pref.urn = NULL;
        linkedin_comment_ref_free(&pref);
    }
    out->actor = gw_xstrdup(actor);
    out->text = clean_text(text);
    out->created_ms = json_ms(gw_json_obj(c, "created"), "time");
    out->modified_ms = json_ms(gw_json_obj(c, "lastModified"), "time");
    if (out->modified_ms == 0)
        out->modified_ms = out->created_ms;
    return 0;
}

/* commentary without a leading "@[...](me)" and the spaces after it. */
static const char *after_me(const char *s, const char *me)
{
    const char *name;
    size_t namelen, n;
    if (s == NULL || me == NULL ||
        (n = mention_template(s, &name, &namelen)) == 0)
        return s;
    size_t ml = strlen(me);
    const char *urn = s + 2 + namelen + 2; /* past "@[", the name, "](" */
    if ((size_t)(s + n - 1 - urn) != ml || strncmp(urn, me, ml) != 0)
        return s;
    s += n;
    while (*s == ' ' || *s == ',' || *s == ':')
        s++;
    return s;
}

int linkedin_post_parse(const cJSON *p, const char *me,
                        struct linkedin_item *out)
{
    memset(out, 0, sizeof(*out));
    const char *urn = json_urn(p, "id");
    const char *author = json_urn(p, "author");
    const cJSON *commentary = gw_json_get(p, "commentary");
    if (urn == NULL || author == NULL ||
        (commentary != NULL && !cJSON_IsString(commentary)))
        return UV_EINVAL;
    out->urn = gw_xstrdup(urn);
    out->object = gw_xstrdup(urn);
    out->actor = gw_xstrdup(author);
    char *plain =
        linkedin_little_text(after_me(gw_json_str(p, "commentary"), me));
    out->text = clean_text(plain);
    free(plain);
    out->created_ms = json_ms(p, "createdAt");
    if (out->created_ms == 0)
        out->created_ms = json_ms(p, "publishedAt");
    out->modified_ms = json_ms(p, "lastModifiedAt");
    if (out->modified_ms == 0)
        out->modified_ms = out->created_ms;
    return 0;
}

/* s[0..) is "@[Name](urn...)": its length and the name's span, else 0. */
static size_t mention_template(const char *s, const char **name,
                               size_t *namelen)
{
    if (s[0] != '@' || s[1] != '[')
        return 0;
    const char *close = strchr(s + 2, ']');
    if (close == NULL || close[1] != '(' || strncmp(close + 2, "urn:", 4) != 0)
        return 0;
    /* The URN may hold a tuple: take the parenthesis that balances. */
    int depth = 1;
    const char *p = close + 2;
    for (; *p != '\0' && depth > 0; p++) {
        if (*p == '(')
            depth++;
        else if (*p == ')')
            depth--;
    }
    if (depth != 0)
        return 0;
    *name = s + 2;
    *namelen = (size_t)(close - s - 2);
    return (size_t)(p - s);
}

/* s[0..) is "{hashtag|\#|tag}": its length and the tag's span, else 0. */
static size_t hashtag_template(const char *s, const char **tag, size_t *taglen)
{
    static const char open[] = "{hashtag|\\#|";
    if (strncmp(s, open, sizeof(open) - 1) != 0)
        return 0;
    const char *t = s + sizeof(open) - 1;
    const char *close = strchr(t, '}');
    if (close == NULL)
        return 0;
    *tag = t;
    *taglen = (size_t)(close - t);
    return (size_t)(close + 1 - s);
}

char *linkedin_little_text(const char *s)
{
    struct gw_buf b;
    gw_buf_init(&b, TEXT_MAX + 16);
    for (size_t i = 0; s != NULL && s[i] != '\0' && b.len < TEXT_MAX;) {
        const char *span;
        size_t spanlen, n;
        if ((n = mention_template(s + i, &span, &spanlen)) > 0) {
            gw_buf_append(&b, "@", 1);
            gw_buf_append(&b, span, spanlen);
            i += n;
        } else if ((n = hashtag_template(s + i, &span, &spanlen)) > 0) {
            gw_buf_append(&b, "#", 1);
            gw_buf_append(&b, span, spanlen);
            i += n;
        } else if (s[i] == '\\' && s[i + 1] != '\0') {
            gw_buf_append(&b, s + i + 1, 1);
            i += 2;
        } else {
            gw_buf_append(&b, s + i, 1);
            i++;
        }
    }
    return b.data != NULL ? gw_buf_steal(&b) : gw_xstrdup("");
}

/* ---- people ---------------------------------------------------------------
 */

void linkedin_person_free(struct linkedin_person *p)
{
    if (p == NULL)
        return;
    free(p->urn);
    free(p->name);
    free(p->handle);
    free(p->url);
    memset(p, 0, sizeof(*p));
}

/* A vanityName LinkedIn would put in a profile URL. */
static bool vanity_ok(const char *v)
{
    if (v == NULL || *v == '\0' || strlen(v) > 100)
        return false;
    for (const char *p = v; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

static bool is_org(const char *type)
{
    return strcmp(type, "organization") == 0 ||
           strcmp(type, "organizationBrand") == 0;
}

void linkedin_person_fallback(const char *urn, struct linkedin_person *out)
{
    memset(out, 0, sizeof(*out));
    char type[32];
    const char *id = linkedin_urn_split(urn, type, sizeof(type));
    bool org = id != NULL && is_org(type);
    out->urn = gw_xstrdup(urn != NULL ? urn : "");
    out->name = gw_xstrdup(org ? "LinkedIn Page" : "LinkedIn member");
    if (id != NULL && vanity_ok(id))
        out->handle = gw_xasprintf("%s-%s", org ? "org" : "person", id);
    else
        out->handle = gw_xstrdup(org ? "org" : "member");
}

/* The first value of a {"localized": {"en_US": "..."}} object. */
static const char *localized(const cJSON *o)
{
    const cJSON *loc = gw_json_obj(o, "localized");
    const cJSON *v;
    cJSON_ArrayForEach(v, loc)
    {
        if (cJSON_IsString(v) && v->valuestring[0] != '\0')
            return v->valuestring;
    }
    return NULL;
}

int linkedin_person_parse(const cJSON *j, const char *urn,
                          struct linkedin_person *out)
{
    memset(out, 0, sizeof(*out));
    char type[32];
    if (!cJSON_IsObject(j) ||
        linkedin_urn_split(urn, type, sizeof(type)) == NULL)
        return UV_EINVAL;
    bool org = is_org(type);
    const char *vanity = gw_json_str(j, "vanityName");
    char *name = NULL;
    if (org) {
        const char *n = gw_json_str(j, "localizedName");
        if (n == NULL)
            n = localized(gw_json_obj(j, "name"));
        if (n != NULL)
            name = gw_text_one_line(n);
    } else {
        const char *first = gw_json_str(j, "localizedFirstName");
        const char *last = gw_json_str(j, "localizedLastName");
        if (first == NULL)
            first = localized(gw_json_obj(j, "firstName"));
        if (last == NULL)
            last = localized(gw_json_obj(j, "lastName"));
        if (first != NULL || last != NULL) {
            char *both =
                gw_xasprintf("%s%s%s", first ? first : "",
                             first && last ? " " : "", last ? last : "");
            name = gw_text_one_line(both);
            free(both);
        }
    }
    if (name == NULL || *name == '\0') {
        free(name);
        return UV_EINVAL; /* {"id": "private"} and the like */
    }
    gw_text_truncate(name, 200);
    out->urn = gw_xstrdup(urn);
    out->name = name;
    if (vanity_ok(vanity)) {
        out->handle = gw_xstrdup(vanity);
        out->url = gw_xasprintf("https://www.linkedin.com/%s/%s/",
                                org ? "company" : "in", vanity);
    } else {
        struct linkedin_person fb;
        linkedin_person_fallback(urn, &fb);
        out->handle = fb.handle;
        fb.handle = NULL;
        linkedin_person_free(&fb);
    }
    return 0;
}

/* ---- events ---------------------------------------------------------------
 */

static const char *keep(struct linkedin_event *e, char *s)
{
    if (s == NULL)
        return NULL;
    if (e->nstrs == (int)GW_ARRAY_LEN(e->strs)) {
        free(s);
        return NULL;
    }
    e->strs[e->nstrs++] = s;
    return s;
}

void linkedin_event_free(struct linkedin_event *e)
{
    if (e == NULL)
        return;
    for (int i = 0; i < e->nstrs; i++)
        free(e->strs[i]);
    memset(e, 0, sizeof(*e));
}

static char *item_url(const struct linkedin_item *it)
{
    bool comment = strncmp(it->urn, "urn:li:comment:", 15) == 0;
    char *url =
        linkedin_restli("https://www.linkedin.com/feed/update/%u/", it->object);
    if (!comment)
        return url;
    char *full = linkedin_restli("%s?commentUrn=%u", url, it->urn);
    free(url);
    return full;
}

void linkedin_item_event(const struct linkedin_item *it,
                         enum gw_event_kind kind,
                         const struct linkedin_person *who,
                         struct linkedin_event *out)
{
    memset(out, 0, sizeof(*out));
    struct gw_event *ev = &out->ev;
    bool comment = strncmp(it->urn, "urn:li:comment:", 15) == 0;
    ev->kind = kind;
    ev->id = it->urn;
    ev->author_id = who->urn;
    ev->author = who->handle;
    ev->author_name = who->name;
    ev->author_url = who->url;
    ev->text = it->text;
    ev->url = keep(out, item_url(it));
    ev->in_reply_to = it->parent != NULL ? it->parent
                      : comment          ? it->object
                                         : NULL;
    ev->conversation = it->object;
    ev->audience = GW_AUD_PUBLIC;
    ev->created_ms = kind == GW_EV_EDIT ? it->modified_ms : it->created_ms;
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "object", it->object);
    if (comment)
        cJSON_AddStringToObject(x, "comment", it->urn);
    if (it->parent != NULL)
        cJSON_AddStringToObject(x, "parent", it->parent);
    cJSON_AddStringToObject(x, "actor", it->actor);
    char *json = cJSON_PrintUnformatted(x);
    cJSON_Delete(x);
    ev->extra = keep(out, gw_xstrdup(json != NULL ? json : "{}"));
    cJSON_free(json);
}

void linkedin_extra_free(struct linkedin_extra *x)
{
    if (x == NULL)
        return;
    free(x->object);
    free(x->comment);
    free(x->parent);
    free(x->actor);
    memset(x, 0, sizeof(*x));
}

int linkedin_extra_parse(const char *json, struct linkedin_extra *out)
{
    memset(out, 0, sizeof(*out));
    cJSON *j = json != NULL ? cJSON_Parse(json) : NULL;
    const char *object = json_urn(j, "object");
    if (object == NULL) {
        cJSON_Delete(j);
        return UV_EINVAL;
    }
    out->object = gw_xstrdup(object);
    out->comment = dup_or_null(json_urn(j, "comment"));
    out->parent = dup_or_null(json_urn(j, "parent"));
    out->actor = dup_or_null(json_urn(j, "actor"));
    cJSON_Delete(j);
    return 0;
}

/* ---- HTTP outcomes --------------------------------------------------------
 */

enum gw_action_status linkedin_map_status(const struct gw_http_response *r,
                                          bool creates)
{
    if (r->error != 0 || r->status == 0) {
        /* Refused before anything was sent: safe to send again. */
        bool unsent = r->error == UV_ECONNREFUSED ||
                      r->error == UV_EAI_NONAME || r->error == UV_EPROTO ||
                      r->error == UV_ENOSPC || r->error == UV_ECANCELED;
        return creates && !unsent ? GW_ACT_MAYBE : GW_ACT_RETRY;
    }
    long st = r->status;
    if (st >= 200 && st < 300)
        return GW_ACT_OK;
    if (st == 429 || st == 408)
        return GW_ACT_RETRY;
    if (st >= 500)
        return creates && st != 501 ? GW_ACT_MAYBE : GW_ACT_RETRY;
    return GW_ACT_FAILED;
}

static cJSON *body_json(const struct gw_http_response *r)
{
    if (r == NULL || r->error != 0 || r->body == NULL || r->body_len == 0)
        return NULL;
    return cJSON_ParseWithLength(r->body, r->body_len);
}

const char *linkedin_error_code(const struct gw_http_response *r, char *buf,
                                size_t size)
{
    cJSON *j = body_json(r);
    const char *code = gw_json_str(j, "code");
    gw_strlcpy(buf, code != NULL && gw_printable_word(code, 64) ? code : "",
               size);
    cJSON_Delete(j);
    return buf;
}

char *linkedin_error_text(const struct gw_http_response *r)
{
    char *msg = NULL;
    if (r->error != 0) {
        msg = gw_xstrdup(r->errmsg != NULL && *r->errmsg != '\0'
                             ? r->errmsg
                             : "network error");
    } else {
        cJSON *j = body_json(r);
        const char *m = gw_json_str(j, "message");
        const char *code = gw_json_str(j, "code");
        const char *e = gw_json_str(j, "error");
        const char *d = gw_json_str(j, "error_description");
        if (m != NULL && *m != '\0' && code != NULL && *code != '\0')
            msg = gw_xasprintf("%s (%s, HTTP %ld)", m, code, r->status);
        else if (m != NULL && *m != '\0')
            msg = gw_xasprintf("%s (HTTP %ld)", m, r->status);
        else if (e != NULL && *e != '\0' && d != NULL && *d != '\0')
            msg = gw_xasprintf("%s: %s", e, d);
        else if (e != NULL && *e != '\0')
            msg = gw_xstrdup(e);
        else
            msg = gw_xasprintf("HTTP %ld", r->status);
        cJSON_Delete(j);
    }
    char *line = gw_text_one_line(msg);
    free(msg);
    gw_text_truncate(line, ERROR_TEXT_BYTES);
    return line;
}

bool linkedin_version_refused(const struct gw_http_response *r)
{
    if (r->error != 0)
        return false;
    if (r->status == 426)
        return true;
    char code[64];
    linkedin_error_code(r, code, sizeof(code));
    return strcmp(code, "NONEXISTENT_VERSION") == 0 ||
           strcmp(code, "VERSION_MISSING") == 0;
}

bool linkedin_day_limit(const struct gw_http_response *r)
{
    if (r->error != 0 || r->status != 429)
        return false;
    cJSON *j = body_json(r);
    const char *m = gw_json_str(j, "message");
    bool day = m != NULL && strstr(m, "DAY limit") != NULL;
    cJSON_Delete(j);
    return day;
}

/* ---- OAuth ---------------------------------------------------------------
 */

void linkedin_token_free(struct linkedin_token *t)
{
    if (t == NULL)
        return;
    free(t->access);
    free(t->refresh);
    memset(t, 0, sizeof(*t));
}

int linkedin_token_parse(const cJSON *j, int64_t now_ms,
                         struct linkedin_token *out)
{
    memset(out, 0, sizeof(*out));
    const char *access = gw_json_str(j, "access_token");
    if (!gw_printable_word(access, 4096))
        return UV_EINVAL;
    out->access = gw_xstrdup(access);
    const char *refresh = gw_json_str(j, "refresh_token");
    if (gw_printable_word(refresh, 4096))
        out->refresh = gw_xstrdup(refresh);
    /* At most ten years: a longer promise is a wrong number. */
    long s = gw_json_long(j, "expires_in", 0, 0, 10L * 366 * 86400);
    long rs =
        gw_json_long(j, "refresh_token_expires_in", 0, 0, 10L * 366 * 86400);
    out->expires_ms = s > 0 ? now_ms + (int64_t)s * 1000 : 0;
    out->refresh_expires_ms =
        out->refresh != NULL && rs > 0 ? now_ms + (int64_t)rs * 1000 : 0;
    return 0;
}

/* ---- the poll window ------------------------------------------------------
 */

void linkedin_window_free(struct linkedin_window *w)
{
    if (w == NULL)
        return;
    free(w->seen);
    memset(w, 0, sizeof(*w));
}

bool linkedin_window_seen(const struct linkedin_window *w, const char *id)
{
    for (int i = 0; id != NULL && i < w->nseen; i++)
        if (strcmp(w->seen[i].id, id) == 0)
            return true;
    return false;
}

void linkedin_window_add(struct linkedin_window *w, const char *id, int64_t at)
{
    if (id == NULL || *id == '\0' || strlen(id) >= sizeof(w->seen[0].id) ||
        strspn(id, "0123456789") != strlen(id) || linkedin_window_seen(w, id))
        return;
    if (w->nseen == LINKEDIN_SEEN_MAX) {
        int old = 0;
        for (int i = 1; i < w->nseen; i++)
            if (w->seen[i].at < w->seen[old].at)
                old = i;
        w->seen[old] = w->seen[--w->nseen];
    }
    if (w->seen == NULL)
        w->seen = gw_xcalloc(LINKEDIN_SEEN_MAX, sizeof(*w->seen));
    gw_strlcpy(w->seen[w->nseen].id, id, sizeof(w->seen[0].id));
    w->seen[w->nseen].at = at;
    w->nseen++;
}

void linkedin_window_prune(struct linkedin_window *w, int64_t before_ms)
{
    for (int i = 0; i < w->nseen;) {
        if (w->seen[i].at < before_ms)
            w->seen[i] = w->seen[--w->nseen];
        else
            i++;
    }
}

int linkedin_window_parse(const char *json, struct linkedin_window *w)
{
    memset(w, 0, sizeof(*w));
    cJSON *j = json != NULL ? cJSON_Parse(json) : NULL;
    const cJSON *start = gw_json_get(j, "start");
    char buf[32];
    if (!json_integer(start, buf, sizeof(buf))) {
        cJSON_Delete(j);
        return UV_EINVAL;
    }
    w->start = json_ms(j, "start");
    const cJSON *it;
    cJSON_ArrayForEach(it, gw_json_arr(j, "seen"))
    {
        char id[24];
        const cJSON *at = cJSON_GetArrayItem(it, 1);
        if (cJSON_IsArray(it) &&
            json_integer(cJSON_GetArrayItem(it, 0), id, sizeof(id)) &&
            json_integer(at, buf, sizeof(buf)))
            linkedin_window_add(w, id, (int64_t)at->valuedouble);
    }
    cJSON_Delete(j);
    return 0;
}

char *linkedin_window_format(const struct linkedin_window *w)
{
    struct gw_buf b;
    gw_buf_init(&b, (size_t)LINKEDIN_SEEN_MAX * 64 + 64);
    gw_buf_printf(&b, "{\"start\":%" PRId64 ",\"seen\":[", w->start);
    for (int i = 0; i < w->nseen; i++)
        gw_buf_printf(&b, "%s[\"%s\",%" PRId64 "]", i > 0 ? "," : "",
                      w->seen[i].id, w->seen[i].at);
    gw_buf_puts(&b, "]}");
    return gw_buf_steal(&b);
}
