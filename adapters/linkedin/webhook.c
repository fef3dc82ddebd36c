/*
 * LinkedIn's webhooks, the parts that need no listener: the validation
 * answer, the signature of each POST, and its payload as the notes the
 * poller reads, so that pushed and polled notifications become the same
 * events (poll.c takes them from there). Pure.
 *
 * Source: learn.microsoft.com/linkedin/shared/api-guide/webhook-validation
 * (challengeResponse = Hex(HMACSHA256(challengeCode, clientSecret));
 * X-LI-Signature = Hex(HMACSHA256("hmacsha256=" + body, clientSecret))).
 */
#include "linkedin.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

char *linkedin_webhook_challenge(const char *challenge_code,
                                 const char *client_secret)
{
    if (!gw_printable_word(challenge_code, 256) || client_secret == NULL)
        return NULL;
    char hex[GW_HMAC_HEX_SIZE];
    gw_hmac_sha256_hex(client_secret, strlen(client_secret), challenge_code,
                       strlen(challenge_code), hex);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "challengeCode", challenge_code);
    cJSON_AddStringToObject(j, "challengeResponse", hex);
    char *json = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    char *out = json != NULL ? gw_xstrdup(json) : NULL;
    cJSON_free(json);
    return out;
}

bool linkedin_webhook_verify(const char *body, size_t len, const char *header,
                             const char *client_secret)
{
    static const char prefix[] = "hmacsha256=";
    if (header == NULL || client_secret == NULL || *client_secret == '\0' ||
        strlen(header) != GW_HMAC_HEX_SIZE - 1)
        return false;
    char got[GW_HMAC_HEX_SIZE];
    for (size_t i = 0; i < sizeof(got); i++)
        got[i] = (char)tolower((unsigned char)header[i]);
    /* The signed bytes are the prefix and the body exactly as received. */
    size_t n = sizeof(prefix) - 1 + len;
    char *msg = gw_xmalloc(n + 1);
    memcpy(msg, prefix, sizeof(prefix) - 1);
    if (len > 0)
        memcpy(msg + sizeof(prefix) - 1, body, len);
    char want[GW_HMAC_HEX_SIZE];
    gw_hmac_sha256_hex(client_secret, strlen(client_secret), msg, n, want);
    free(msg);
    return gw_secret_eq(got, want);
}

int linkedin_webhook_parse(const char *body, size_t len,
                           struct linkedin_note **notes, int *bad)
{
    *notes = NULL;
    *bad = 0;
    cJSON *j = body != NULL ? cJSON_ParseWithLength(body, len) : NULL;
    const char *type = gw_json_str(j, "type");
    if (type == NULL ||
        strcmp(type, "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS") != 0 ||
        gw_json_arr(j, "notifications") == NULL) {
        cJSON_Delete(j);
        return UV_EINVAL;
    }
    /* The same shape as a page of the pull API. */
    cJSON *page = cJSON_CreateObject();
    cJSON_AddItemReferenceToObject(page, "elements",
                                   cJSON_GetObjectItem(j, "notifications"));
    int elements = 0;
    int n = linkedin_notes_page(page, notes, &elements, bad);
    cJSON_Delete(page);
    cJSON_Delete(j);
    return n;
}

int linkedin_webhook_path(const char *account, bool several, char *buf,
                          size_t size)
{
    if (!several)
        return snprintf(buf, size, "/linkedin") < (int)size ? 0 : UV_EINVAL;
    size_t n = account != NULL ? strlen(account) : 0;
    if (n == 0 || n > 64 ||
        strspn(account, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789_-") != n)
        return UV_EINVAL;
    int w = snprintf(buf, size, "/linkedin/%s", account);
    return w > 0 && (size_t)w < size ? 0 : UV_EINVAL;
}
