/*
 * LinkedIn out: the bodies of comments and reactions (mentions become
 * attribute ranges), the OAuth addresses and forms, what the user pasted
 * after signing in, and finding a reply that may have been made already.
 * Pure.
 */
#include "linkedin.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

/* ---- comments -------------------------------------------------------------
 */

static bool handle_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || c == '_' || c == '-' || c == '.';
}

static bool word_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

/* UTF-16 code units in s[0..len): LinkedIn counts as Java does. */
static long utf16_len(const char *s, size_t len)
{
    long n = 0;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        i += gw_utf8_next(s + i, len - i, &cp);
        n += cp >= 0x10000 ? 2 : 1;
    }
    return n;
}

long linkedin_text_length(const char *s)
{
    return s != NULL ? utf16_len(s, strlen(s)) : 0;
}

static const struct linkedin_mention *
known_handle(const char *s, size_t n, const struct linkedin_mention *known,
             int nknown)
{
    for (int i = 0; i < nknown; i++) {
        const char *h = known[i].handle;
        if (h != NULL && strlen(h) == n && gw_strncasecmp(h, s, n) == 0 &&
            known[i].name != NULL && *known[i].name != '\0' &&
            linkedin_urn_valid(known[i].urn))
            return &known[i];
    }
    return NULL;
}

static void add_attribute(cJSON *attrs, long start, long length,
                          const char *urn)
{
    char type[32];
    linkedin_urn_split(urn, type, sizeof(type));
    bool org = strcmp(type, "organization") == 0 ||
               strcmp(type, "organizationBrand") == 0;
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "start", (double)start);
    cJSON_AddNumberToObject(a, "length", (double)length);
    cJSON *value = cJSON_AddObjectToObject(a, "value");
    cJSON *entity = cJSON_AddObjectToObject(
        value, org ? "com.linkedin.common.CompanyAttributedEntity"
                   : "com.linkedin.common.MemberAttributedEntity");
    cJSON_AddStringToObject(entity, org ? "company" : "member", urn);
    cJSON_AddItemToArray(attrs, a);
}

/* text with every known "@handle" replaced by the name; the ranges go to
 * attrs. */
static char *with_mentions(const char *text,
                           const struct linkedin_mention *known, int nknown,
                           cJSON *attrs)
{
    struct gw_buf b;
    size_t len = strlen(text);
    gw_buf_init(&b, len * 4 + 4096);
    for (size_t i = 0; i < len;) {
        const struct linkedin_mention *m = NULL;
        size_t n = 0;
        if (text[i] == '@' &&
            (i == 0 || !word_byte((unsigned char)text[i - 1]))) {
            while (handle_char((unsigned char)text[i + 1 + n]))
                n++;
            /* "@jane." ends a sentence: the dot is not hers. */
            while (n > 0 && (text[i + n] == '.' || text[i + n] == '-'))
                n--;
            m = known_handle(text + i + 1, n, known, nknown);
        }
        if (m == NULL) {
            gw_buf_append(&b, text + i, 1);
            i++;
            continue;
        }
        long start = utf16_len(b.data != NULL ? b.data : "", b.len);
        gw_buf_puts(&b, m->name);
        add_attribute(attrs, start, utf16_len(m->name, strlen(m->name)),
                      m->urn);
        i += 1 + n;
    }
    return b.data != NULL ? gw_buf_steal(&b) : gw_xstrdup("");
}

char *linkedin_comment_body(const char *actor, const char *object,
                            const char *parent, const char *text,
                            const struct linkedin_mention *known, int nknown,
                            char **sent)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "actor", actor);
    cJSON_AddStringToObject(body, "object", object);
    cJSON *msg = cJSON_AddObjectToObject(body, "message");
    cJSON *attrs = cJSON_CreateArray();
    char *t = with_mentions(text != NULL ? text : "", known, nknown, attrs);
    cJSON_AddStringToObject(msg, "text", t);
    if (cJSON_GetArraySize(attrs) > 0)
        cJSON_AddItemToObject(msg, "attributes", attrs);
    else
        cJSON_Delete(attrs);
    if (parent != NULL)
        cJSON_AddStringToObject(body, "parentComment", parent);
    char *json = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    char *out = gw_xstrdup(json != NULL ? json : "{}");
    cJSON_free(json);
    if (sent != NULL)
        *sent = t;
    else
        free(t);
    return out;
}

char *linkedin_reaction_body(const char *root)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "root", root);
    cJSON_AddStringToObject(body, "reactionType", "LIKE");
    char *json = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    char *out = gw_xstrdup(json != NULL ? json : "{}");
    cJSON_free(json);
    return out;
}

int linkedin_find_comment(const cJSON *page, const char *actor,
                          const char *parent, const char *text,
                          struct linkedin_item *out)
{
    memset(out, 0, sizeof(*out));
    const cJSON *c;
    cJSON_ArrayForEach(c, gw_json_arr(page, "elements"))
    {
        struct linkedin_item it;
        if (linkedin_comment_parse(c, &it) < 0) {
            linkedin_item_free(&it);
            continue;
        }
        bool same_parent = parent == NULL ? it.parent == NULL
                                          : it.parent != NULL &&
                                                strcmp(it.parent, parent) == 0;
        if (strcmp(it.actor, actor) == 0 && same_parent &&
            strcmp(it.text, text) == 0) {
            *out = it;
            return 0;
        }
        linkedin_item_free(&it);
    }
    return UV_ENOENT;
}

/* ---- OAuth ---------------------------------------------------------------
 */

char *linkedin_authorize_url(const char *oauth_base, const char *client_id,
                             const char *redirect_uri, const char *state)
{
    return linkedin_restli("%s/oauth/v2/authorization?response_type=code"
                           "&client_id=%u&redirect_uri=%u&state=%u&scope=%u",
                           oauth_base, client_id, redirect_uri, state,
                           LINKEDIN_SCOPES);
}

char *linkedin_code_form(const char *code, const char *client_id,
                         const char *client_secret, const char *redirect_uri)
{
    return linkedin_restli("grant_type=authorization_code&code=%u"
                           "&redirect_uri=%u&client_id=%u&client_secret=%u",
                           code, redirect_uri, client_id, client_secret);
}

char *linkedin_refresh_form(const char *refresh, const char *client_id,
                            const char *client_secret)
{
    return linkedin_restli("grant_type=refresh_token&refresh_token=%u"
                           "&client_id=%u&client_secret=%u",
                           refresh, client_id, client_secret);
}

/* A query parameter's value, percent- and '+'-decoded; NULL when absent. */
static char *query_param(const char *query, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = query; p != NULL && *p != '\0';) {
        const char *end = p + strcspn(p, "&#");
        if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 &&
            p[nl] == '=') {
            const char *v = p + nl + 1;
            char *out = gw_xmalloc((size_t)(end - v) + 1);
            size_t j = 0;
            for (const char *q = v; q < end; q++) {
                if (*q == '%' && end - q > 2 && isxdigit((unsigned char)q[1]) &&
                    isxdigit((unsigned char)q[2])) {
                    char hex[3] = {q[1], q[2], '\0'};
                    out[j++] = (char)strtol(hex, NULL, 16);
                    q += 2;
                } else {
                    out[j++] = *q == '+' ? ' ' : *q;
                }
            }
            out[j] = '\0';
            return out;
        }
        if (*end != '&')
            break;
        p = end + 1;
    }
    return NULL;
}

int linkedin_code_from_paste(const char *paste, char **code, char **state,
                             char *err, size_t errlen)
{
    *code = NULL;
    *state = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (paste == NULL)
        return UV_EINVAL;
    const char *q = strchr(paste, '?');
    if (q == NULL) {
        if (!gw_printable_word(paste, 2048))
            return UV_EINVAL;
        *code = gw_xstrdup(paste);
        return 0;
    }
    char *error = query_param(q + 1, "error");
    if (error != NULL) {
        char *desc = query_param(q + 1, "error_description");
        char *line = gw_text_one_line(desc != NULL ? desc : "");
        snprintf(err, errlen, "%s%s%s", error, *line ? ": " : "", line);
        free(line);
        free(desc);
        free(error);
        return UV_EINVAL;
    }
    char *c = query_param(q + 1, "code");
    if (!gw_printable_word(c, 2048)) {
        free(c);
        return UV_EINVAL;
    }
    *code = c;
    char *s = query_param(q + 1, "state");
    if (gw_printable_word(s, 256))
        *state = s;
    else
        free(s);
    return 0;
}
