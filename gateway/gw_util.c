#include "gw_util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <uv.h>

static void oom(size_t n)
{
    fprintf(stderr, "parley: out of memory allocating %zu bytes\n", n);
    abort();
}

void *gw_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

void *gw_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        oom(n * size);
    return p;
}

void *gw_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

char *gw_xstrdup(const char *s)
{
    return gw_xstrndup(s, strlen(s));
}

char *gw_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = gw_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void gw_xreplace(char **slot, const char *value)
{
    char *v = value != NULL ? gw_xstrdup(value) : NULL;
    free(*slot);
    *slot = v;
}

/* FNV-1a over the ASCII-lowered name. */
static size_t name_hash(const char *name)
{
    size_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        unsigned char c = *p >= 'A' && *p <= 'Z' ? *p + 32 : *p;
        h = (h ^ c) * 16777619u;
    }
    return h;
}

void gw_names_add(struct gw_names *t, struct gw_name_link *l, const char *name)
{
    if (t->n + 1 > t->size) {
        size_t size = t->size ? t->size * 2 : 64;
        struct gw_name_link **b = gw_xcalloc(size, sizeof(*b));
        for (size_t i = 0; i < t->size; i++) {
            while (t->b[i] != NULL) {
                struct gw_name_link *q = t->b[i];
                t->b[i] = q->next;
                size_t k = name_hash(q->name) & (size - 1);
                q->next = b[k];
                b[k] = q;
            }
        }
        free(t->b);
        t->b = b;
        t->size = size;
    }
    l->name = name;
    size_t k = name_hash(name) & (t->size - 1);
    l->next = t->b[k];
    t->b[k] = l;
    t->n++;
}

void gw_names_del(struct gw_names *t, struct gw_name_link *l)
{
    if (t->size == 0)
        return;
    struct gw_name_link **pp = &t->b[name_hash(l->name) & (t->size - 1)];
    for (; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == l) {
            *pp = l->next;
            t->n--;
            return;
        }
    }
}

struct gw_name_link *gw_names_find(const struct gw_names *t, const char *name)
{
    if (t->size == 0)
        return NULL;
    struct gw_name_link *l = t->b[name_hash(name) & (t->size - 1)];
    for (; l != NULL; l = l->next)
        if (gw_strcasecmp(l->name, name) == 0)
            return l;
    return NULL;
}

void gw_names_free(struct gw_names *t)
{
    free(t->b);
    memset(t, 0, sizeof(*t));
}

int gw_setting_fail(char *err, size_t errlen, const char *msg)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", msg);
    return UV_EINVAL;
}

const char *gw_strs_keep(struct gw_strs *b, char *s)
{
    if (s == NULL)
        return NULL;
    if (b->n == b->cap) {
        b->cap = b->cap > 0 ? b->cap * 2 : 16;
        b->v = gw_xrealloc(b->v, (size_t)b->cap * sizeof(*b->v));
    }
    b->v[b->n++] = s;
    return s;
}

const char *gw_strs_dup(struct gw_strs *b, const char *s)
{
    return s != NULL ? gw_strs_keep(b, gw_xstrdup(s)) : NULL;
}

void gw_strs_free(struct gw_strs *b)
{
    for (int i = 0; i < b->n; i++)
        free(b->v[i]);
    free(b->v);
    b->v = NULL;
    b->n = b->cap = 0;
}

char *gw_xasprintf(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *p = gw_xmalloc((size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void gw_buf_init(struct gw_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static int buf_reserve(struct gw_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return UV_ENOBUFS;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    b->data = gw_xrealloc(b->data, cap);
    b->cap = cap;
    return 0;
}

int gw_buf_append(struct gw_buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int gw_buf_puts(struct gw_buf *b, const char *s)
{
    return gw_buf_append(b, s, strlen(s));
}

int gw_buf_vprintf(struct gw_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return UV_EINVAL;
    int rc = buf_reserve(b, (size_t)n);
    if (rc < 0)
        return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int gw_buf_printf(struct gw_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = gw_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void gw_buf_consume(struct gw_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = '\0';
}

void gw_buf_reset(struct gw_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void gw_buf_free(struct gw_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *gw_buf_steal(struct gw_buf *b)
{
    char *p = b->data ? b->data : gw_xstrdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

int gw_strcasecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = tolower((unsigned char)*a), cb = tolower((unsigned char)*b);
        if (ca != cb || ca == 0)
            return ca - cb;
    }
}

int gw_strncasecmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        int ca = tolower((unsigned char)*a), cb = tolower((unsigned char)*b);
        if (ca != cb || ca == 0)
            return ca - cb;
    }
    return 0;
}

void gw_strlower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

char *gw_next_word(char **s)
{
    char *p = *s;
    while (*p == ' ')
        p++;
    if (*p == '\0') {
        *s = p;
        return NULL;
    }
    char *w = p;
    while (*p && *p != ' ')
        p++;
    if (*p)
        *p++ = '\0';
    while (*p == ' ')
        p++;
    *s = p;
    return w;
}

size_t gw_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);
    if (size) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

int gw_parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    if (s == NULL || *s == '\0')
        return UV_EINVAL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end != '\0' || v < min || v > max)
        return UV_EINVAL;
    *out = v;
    return 0;
}

int64_t gw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void gw_format_time(int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int gw_parse_time(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, sec, n = 0;
    /* The form every server sends, read directly: sscanf was most of the
     * time spent on a post's timestamps. Any other form goes to sscanf. */
    static const char form[] = "dddd-dd-ddTdd:dd:dd";
    size_t k = 0;
    while (form[k] != '\0' &&
           (form[k] == 'd' ? isdigit((unsigned char)s[k]) : s[k] == form[k]))
        k++;
    if (form[k] == '\0') {
#define D2(i) ((s[i] - '0') * 10 + (s[i + 1] - '0'))
        y = D2(0) * 100 + D2(2);
        mo = D2(5);
        d = D2(8);
        h = D2(11);
        mi = D2(14);
        sec = D2(17);
#undef D2
        n = (int)k;
    } else if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi,
                      &sec, &n) != 6 ||
               n == 0) {
        return UV_EINVAL;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return UV_EINVAL;
    const char *p = s + n;
    int frac = 0, digits = 0;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            if (digits < 3) {
                frac = frac * 10 + (*p - '0');
                digits++;
            }
            p++;
        }
        while (digits < 3) {
            frac *= 10;
            digits++;
        }
    }
    int64_t off = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
            return UV_EINVAL;
        off = (int64_t)(oh * 60 + om) * 60000;
        if (*p == '+')
            off = -off;
        p += 6;
    }
    if (*p != '\0')
        return UV_EINVAL;
    int64_t days = days_from_civil(y, mo, d);
    *ms =
        ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)sec * 1000 + frac + off;
    return 0;
}

void gw_base36(uint64_t v, char *buf, size_t size)
{
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
        v /= 36;
    } while (v && n < sizeof(tmp));
    size_t i = 0;
    for (; i < n && i + 1 < size; i++)
        buf[i] = tmp[n - 1 - i];
    if (size)
        buf[i] = '\0';
}

int gw_random_hex(char *buf, size_t size)
{
    unsigned char raw[64];
    size_t want = (size - 1 + 1) / 2;
    if (size == 0)
        return UV_EINVAL;
    if (want > sizeof(raw))
        want = sizeof(raw);
    if (RAND_bytes(raw, (int)want) != 1)
        return UV_EIO;
    size_t i;
    for (i = 0; i + 1 < size && i / 2 < want; i++)
        buf[i] = "0123456789abcdef"[(raw[i / 2] >> (i % 2 ? 0 : 4)) & 15];
    buf[i] = '\0';
    return 0;
}

char *gw_urlencode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(s);
    char *out = gw_xmalloc(len * 3 + 1);
    char *w = out;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
            (c >= 'A' && c <= 'Z') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
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

bool gw_hmac_sha256_ok(const char *key, const void *data, size_t len,
                       const char *hex)
{
    char want[65];
    if (hex == NULL || strlen(hex) != 64 || key == NULL ||
        (data == NULL && len > 0))
        return false;
    gw_hmac_sha256_hex(key, strlen(key), data, len, want);
    char got[64];
    /* Hex case is not part of the secret: compare lowercase. */
    for (int i = 0; i < 64; i++)
        got[i] = (char)tolower((unsigned char)hex[i]);
    return CRYPTO_memcmp(got, want, 64) == 0;
}

uint32_t gw_random_below(uint32_t n)
{
    uint32_t v = 0;
    if (n <= 1 || RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
        return 0;
    return v % n;
}

int gw_random_bytes(void *buf, size_t n)
{
    if (n > INT32_MAX || RAND_bytes(buf, (int)n) != 1)
        return UV_EIO;
    return 0;
}

void gw_sha256(const void *data, size_t len, unsigned char out[32])
{
    SHA256(data, len, out);
}

char *gw_base64url(const void *data, size_t len)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        "0123456789-_";
    const unsigned char *p = data;
    char *out = gw_xmalloc(len / 3 * 4 + 5);
    size_t j = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        size_t n = len - i < 3 ? len - i : 3;
        if (n > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (n > 2)
            v |= p[i + 2];
        out[j++] = abc[(v >> 18) & 63];
        out[j++] = abc[(v >> 12) & 63];
        if (n > 1)
            out[j++] = abc[(v >> 6) & 63];
        if (n > 2)
            out[j++] = abc[v & 63];
    }
    out[j] = '\0';
    return out;
}

void gw_hmac_sha256_hex(const void *key, size_t keylen, const void *msg,
                        size_t msglen, char out[GW_HMAC_HEX_SIZE])
{
    static const unsigned char none = 0;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (key == NULL || keylen == 0) /* an empty key is a key */
        key = &none;
    if (msg == NULL)
        msg = &none;
    /* HMAC() fails only without memory or a digest, which aborts like any
     * other allocation failure. */
    if (HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, mac, &n) == NULL ||
        n != 32)
        oom(msglen);
    for (unsigned int i = 0; i < n; i++) {
        out[2 * i] = "0123456789abcdef"[mac[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[mac[i] & 15];
    }
    out[2 * n] = '\0';
}

bool gw_secret_eq(const char *a, const char *b)
{
    size_t n = a != NULL ? strlen(a) : 0;
    if (a == NULL || b == NULL || strlen(b) != n)
        return false;
    return CRYPTO_memcmp(a, b, n) == 0;
}

long gw_backoff_next(struct gw_backoff *b)
{
    long step = b->step_ms < b->min_ms ? b->min_ms : b->step_ms;
    if (step > b->max_ms)
        step = b->max_ms;
    b->step_ms = step > b->max_ms / 2 ? b->max_ms : step * 2;
    long spread = step / 2;
    return step - step / 4 +
           (spread > 0 ? (long)gw_random_below((uint32_t)spread + 1) : 0);
}

void gw_backoff_reset(struct gw_backoff *b)
{
    b->step_ms = 0;
}

bool gw_blank(const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    }
    return true;
}

bool gw_printable_word(const char *s, size_t max)
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

void gw_trim(char *s)
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
