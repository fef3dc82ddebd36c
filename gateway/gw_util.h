/*
 * Small helpers every subsystem uses: allocation that aborts on failure,
 * bounded growable buffers, and string helpers. Nothing here owns state.
 */
#ifndef GW_UTIL_H
#define GW_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define gw_container_of(ptr, type, member)                                     \
    ((type *)((char *)(ptr)-offsetof(type, member)))

#define GW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define GW_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define GW_PRINTF(f, a)
#endif

/* Out of memory is not recoverable for a daemon like this: log and abort. */
void *gw_xmalloc(size_t n);
void *gw_xcalloc(size_t n, size_t size);
void *gw_xrealloc(void *p, size_t n);
char *gw_xstrdup(const char *s);
char *gw_xstrndup(const char *s, size_t n);
/* printf into a new string; the caller frees it. */
char *gw_xasprintf(const char *fmt, ...) GW_PRINTF(1, 2);
/* Free *slot and put a copy of value there (NULL: nothing). value may be
 * *slot itself or point into it. */
void gw_xreplace(char **slot, const char *value);

/* An index by name, ASCII letters folded (IRC's CASEMAPPING=ascii). The
 * links live in their owners' structs (gw_container_of gets the owner
 * back); the index only chains them. Zeroed is empty. */
struct gw_name_link {
    struct gw_name_link *next;
    const char *name; /* the owner's; must not change while indexed */
};

struct gw_names {
    struct gw_name_link **b;
    size_t size, n;
};

void gw_names_add(struct gw_names *t, struct gw_name_link *l, const char *name);
void gw_names_del(struct gw_names *t, struct gw_name_link *l);
struct gw_name_link *gw_names_find(const struct gw_names *t, const char *name);
void gw_names_free(struct gw_names *t);

/* Write msg into err (NUL-terminated, cut to errlen) and return
 * UV_EINVAL: how a check of a setting refuses a value. */
int gw_setting_fail(char *err, size_t errlen, const char *msg);

/* Strings something owns while pointers borrow them (a converted event's
 * fields). Zeroed is empty. */
struct gw_strs {
    char **v;
    int n, cap;
};
/* Own s (which may be NULL) and return it. */
const char *gw_strs_keep(struct gw_strs *b, char *s);
/* Own a copy of s, or NULL for NULL. */
const char *gw_strs_dup(struct gw_strs *b, const char *s);
/* Free every string and the list; b is empty again. */
void gw_strs_free(struct gw_strs *b);

/*
 * A growable byte buffer with a ceiling set at init (curl's dynbuf): an
 * append past max fails with UV_ENOBUFS and leaves the buffer as it was.
 * data is always NUL-terminated (the NUL is not counted in len).
 */
struct gw_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
};

void gw_buf_init(struct gw_buf *b, size_t max);
int gw_buf_append(struct gw_buf *b, const void *p, size_t n);
int gw_buf_puts(struct gw_buf *b, const char *s);
int gw_buf_printf(struct gw_buf *b, const char *fmt, ...) GW_PRINTF(2, 3);
int gw_buf_vprintf(struct gw_buf *b, const char *fmt, va_list ap);
/* Drop the first n bytes. */
void gw_buf_consume(struct gw_buf *b, size_t n);
void gw_buf_reset(struct gw_buf *b);
void gw_buf_free(struct gw_buf *b);
/* Hand the data to the caller (who frees it) and reset the buffer. */
char *gw_buf_steal(struct gw_buf *b);

/* ASCII case-insensitive compare, as IRC casemapping=ascii does. */
int gw_strcasecmp(const char *a, const char *b);
int gw_strncasecmp(const char *a, const char *b, size_t n);
void gw_strlower(char *s);

/* Split the next space-separated word off *s in place (NUL-terminating it
 * and moving *s past the spaces after it); NULL when none is left. */
char *gw_next_word(char **s);

/* Only spaces, tabs and line breaks (or nothing, or NULL)? */
bool gw_blank(const char *s);
/* Printable ASCII without spaces, 1..max bytes: tokens, codes and ids that
 * go into headers and forms, where CR or LF would split a header. */
bool gw_printable_word(const char *s, size_t max);
/* Remove leading and trailing spaces in place. */
void gw_trim(char *s);

/* Percent-encoding of everything but RFC 3986 unreserved characters, for
 * query strings; the caller frees the result. */
char *gw_urlencode(const char *s);

/* Copy with truncation; always NUL-terminates when size > 0. */
size_t gw_strlcpy(char *dst, const char *src, size_t size);

/* Parse a whole decimal string into [min, max]; 0 or UV_EINVAL. */
int gw_parse_long(const char *s, long min, long max, long *out);

/* Wall-clock milliseconds since the epoch. */
int64_t gw_now_ms(void);

/* "2026-11-25T19:40:00.000Z" from epoch milliseconds; buf >= 25 bytes. */
void gw_format_time(int64_t ms, char *buf, size_t size);
/* Parse an ISO-8601 UTC time (fraction and Z optional) into epoch ms. */
int gw_parse_time(const char *s, int64_t *ms);

/* Base-36 lowercase for refs: 0 -> "0", 35 -> "z", 36 -> "10". */
void gw_base36(uint64_t v, char *buf, size_t size);

/* Fill buf with size-1 random hex characters (OpenSSL RAND_bytes). */
int gw_random_hex(char *buf, size_t size);
/* A random number in [0, n) (n > 0). */
uint32_t gw_random_below(uint32_t n);
/* Fill buf with n random bytes (OpenSSL RAND_bytes); 0 or UV_EIO. */
int gw_random_bytes(void *buf, size_t n);

/* SHA-256 of data[0..len) into out (32 bytes); OAuth PKCE needs it. */
void gw_sha256(const void *data, size_t len, unsigned char out[32]);
/* Base64url without padding (RFC 4648 section 5, as RFC 7636 uses it);
 * the caller frees the result. */
char *gw_base64url(const void *data, size_t len);

/*
 * HMAC-SHA256 of msg under key, as 64 lowercase hex characters and a NUL
 * in out (65 bytes): webhook signatures (LinkedIn's X-LI-Signature and
 * challengeResponse, Meta's X-Hub-Signature-256).
 */
#define GW_HMAC_HEX_SIZE 65
void gw_hmac_sha256_hex(const void *key, size_t keylen, const void *msg,
                        size_t msglen, char out[GW_HMAC_HEX_SIZE]);
/* Equal strings, compared in a time that does not depend on where they
 * differ (a received signature against the one computed). */
bool gw_secret_eq(const char *a, const char *b);
/* Is hex (64 hex digits, any case) the HMAC-SHA256 of data with key? The
 * comparison takes the same time wherever the first difference is, so a
 * forger learns nothing from how long a refusal takes. */
bool gw_hmac_sha256_ok(const char *key, const void *data, size_t len,
                       const char *hex);

/*
 * Exponential back-off with jitter: steps from min_ms doubling up to
 * max_ms, each delay drawn between 3/4 and 5/4 of its step, so that many
 * accounts that failed together do not all come back at the same moment.
 * A zeroed struct with min and max set is ready; reset after a success.
 */
struct gw_backoff {
    long min_ms, max_ms;
    long step_ms; /* the next step, 0 before the first */
};
long gw_backoff_next(struct gw_backoff *b);
void gw_backoff_reset(struct gw_backoff *b);

#endif
