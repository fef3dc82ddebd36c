#include "gw_tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <uv.h>

/*
 * Plaintext handed to SSL_write per call, and bytes moved per BIO_read:
 * one maximal TLS record, so the write BIO never holds more than a record
 * or two before we drain it into the caller's buffer.
 */
#define TLS_CHUNK 16384

/* A TLS record starts with its content type; a ClientHello is handshake. */
#define TLS_RECORD_HANDSHAKE 0x16

#define SESSION_ID_CONTEXT "parley-ircd"

#define TLS12_CIPHERS                                                          \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"               \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"               \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"               \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"                     \
    "DHE-RSA-CHACHA20-POLY1305"

struct gw_tls_ctx {
    SSL_CTX *ssl_ctx; /* current context; connections hold their own ref */
    char *cert;       /* PEM chain path, owned */
    char *key;        /* PEM key path, owned */
};

struct gw_tls_conn {
    SSL *ssl;            /* owns rbio and wbio (SSL_set_bio) */
    bool client;         /* we connected out (a relay), not a listener */
    BIO *rbio;           /* ciphertext from the peer, read by OpenSSL */
    BIO *wbio;           /* ciphertext from OpenSSL, drained into out */
    struct gw_buf early; /* plaintext not yet encrypted, bounded */
    bool started;        /* some input has been seen */
    bool done;           /* handshake complete */
    bool failed;         /* fatal error: everything fails from now on */
    bool eof;            /* peer sent close_notify */
    bool closed;         /* we sent close_notify */
    bool has_fp;
    char fp[2 * 32 + 1]; /* SHA-256 hex of the client certificate */
    char err[256];       /* last error, for logs and the ERROR line */
};

/*
 * The reason for the oldest error on OpenSSL's queue (the root cause: for
 * a missing file it is the system error, not "PEM lib"), then clear the
 * queue so it cannot be blamed on the next connection. Returns that packed
 * error code, 0 if the queue was empty.
 */
static unsigned long take_ssl_error(char *buf, size_t len, const char *dflt)
{
    unsigned long e = ERR_get_error();
    if (e != 0)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "%s", dflt);
    ERR_clear_error();
    return e;
}

/* Map an OpenSSL error to our convention: system errors keep their errno. */
static int ssl_error_code(unsigned long e)
{
    if (e != 0 && ERR_SYSTEM_ERROR(e)) {
        int sys = ERR_GET_REASON(e);
        if (sys > 0)
            return -sys;
    }
    return UV_EINVAL;
}

/*
 * Accept any client certificate: it is an identity to look up (CertFP for
 * SASL EXTERNAL), not something a CA vouches for. Proof of possession of
 * the key is still checked by OpenSSL independently of this callback.
 */
static int accept_any_cert(int preverify_ok, X509_STORE_CTX *store)
{
    (void)preverify_ok;
    (void)store;
    return 1;
}

static SSL_CTX *build_ctx(const char *cert, const char *key, int *rc, char *err,
                          size_t errlen)
{
    char reason[256];
    unsigned long e;

    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        e = take_ssl_error(reason, sizeof(reason), "out of memory");
        snprintf(err, errlen, "tls: SSL_CTX_new: %s", reason);
        *rc = e ? UV_EINVAL : UV_ENOMEM;
        return NULL;
    }
    /* TLS 1.0 and 1.1 are deprecated (RFC 8996). */
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
        goto internal;
    /*
     * Renegotiation only exists in 1.2, is a known DoS vector and buys an
     * IRC server nothing; compression invites CRIME and is off by default
     * in 3.0, but say so.
     */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    /*
     * TLS 1.2 suites: Mozilla's "intermediate" list, forward secret AEAD
     * only. All are strong, so the client's order is honoured (it knows
     * whether it has AES hardware). TLS 1.3 suites keep OpenSSL's default.
     */
    if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1)
        goto internal;
    /* DHE suites need parameters; let OpenSSL match them to the key. */
    if (SSL_CTX_set_dh_auto(ctx, 1) != 1)
        goto internal;
    /*
     * Idle IRC clients are the common case: release the record buffers
     * between reads. The write modes let a retried SSL_write come from our
     * own (moving) buffer.
     */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_cert);
    /*
     * With SSL_VERIFY_PEER set, a resumption attempt without a session id
     * context is a fatal handshake error ("session id context
     * uninitialized"), which would break every reconnecting client.
     */
    if (SSL_CTX_set_session_id_context(
            ctx, (const unsigned char *)SESSION_ID_CONTEXT,
            sizeof(SESSION_ID_CONTEXT) - 1) != 1)
        goto internal;

    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        e = take_ssl_error(reason, sizeof(reason), "cannot load");
        snprintf(err, errlen, "tls_cert %s: %s", cert, reason);
        *rc = ssl_error_code(e);
        goto fail;
    }
    ERR_clear_error();
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        e = take_ssl_error(reason, sizeof(reason), "cannot load");
        /* Loading the key already compares it with the certificate. */
        if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
            ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH)
            snprintf(err, errlen, "tls_key %s: does not match tls_cert %s: %s",
                     key, cert, reason);
        else
            snprintf(err, errlen, "tls_key %s: %s", key, reason);
        *rc = ssl_error_code(e);
        goto fail;
    }
    ERR_clear_error();
    if (SSL_CTX_check_private_key(ctx) != 1) {
        take_ssl_error(reason, sizeof(reason), "key mismatch");
        snprintf(err, errlen, "tls_key %s: does not match tls_cert %s: %s", key,
                 cert, reason);
        *rc = UV_EINVAL;
        goto fail;
    }
    return ctx;

internal:
    take_ssl_error(reason, sizeof(reason), "internal error");
    snprintf(err, errlen, "tls: cannot set up context: %s", reason);
    *rc = UV_EINVAL;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

int gw_tls_ctx_new(struct gw_tls_ctx **out, const char *cert, const char *key,
                   char *err, size_t errlen)
{
    *out = NULL;
    if (cert == NULL || key == NULL || *cert == '\0' || *key == '\0') {
        snprintf(err, errlen, "tls: tls_cert and tls_key are both required");
        return UV_EINVAL;
    }
    int rc = 0;
    SSL_CTX *ssl_ctx = build_ctx(cert, key, &rc, err, errlen);
    if (ssl_ctx == NULL)
        return rc;
    struct gw_tls_ctx *ctx = gw_xcalloc(1, sizeof(*ctx));
    ctx->ssl_ctx = ssl_ctx;
    ctx->cert = gw_xstrdup(cert);
    ctx->key = gw_xstrdup(key);
    *out = ctx;
    return 0;
}

int gw_tls_ctx_reload(struct gw_tls_ctx *ctx, char *err, size_t errlen)
{
    int rc = 0;
    SSL_CTX *fresh = build_ctx(ctx->cert, ctx->key, &rc, err, errlen);
    if (fresh == NULL)
        return rc;
    /* Drops only our reference: each open SSL keeps the old one alive. */
    SSL_CTX_free(ctx->ssl_ctx);
    ctx->ssl_ctx = fresh;
    return 0;
}

void gw_tls_ctx_free(struct gw_tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx->cert);
    free(ctx->key);
    free(ctx);
}

/* An SSL with its two memory BIOs, for either side. NULL on failure. */
static struct gw_tls_conn *conn_make(struct gw_tls_ctx *ctx, bool client)
{
    if (ctx == NULL)
        return NULL;
    ERR_clear_error();
    SSL *ssl = SSL_new(ctx->ssl_ctx);
    BIO *rbio = BIO_new(BIO_s_mem());
    BIO *wbio = BIO_new(BIO_s_mem());
    if (ssl == NULL || rbio == NULL || wbio == NULL) {
        SSL_free(ssl);
        BIO_free(rbio);
        BIO_free(wbio);
        ERR_clear_error();
        return NULL;
    }
    /* An empty read BIO means "no more yet" (retry), never end of stream. */
    BIO_set_mem_eof_return(rbio, -1);
    BIO_set_mem_eof_return(wbio, -1);
    SSL_set_bio(ssl, rbio, wbio);
    if (client)
        SSL_set_connect_state(ssl);
    else
        SSL_set_accept_state(ssl);

    struct gw_tls_conn *c = gw_xcalloc(1, sizeof(*c));
    c->ssl = ssl;
    c->rbio = rbio;
    c->wbio = wbio;
    c->client = client;
    gw_buf_init(&c->early, GW_TLS_PENDING_MAX);
    return c;
}

struct gw_tls_conn *gw_tls_conn_new(struct gw_tls_ctx *ctx)
{
    return conn_make(ctx, false);
}

void gw_tls_conn_free(struct gw_tls_conn *c)
{
    if (c == NULL)
        return;
    SSL_free(c->ssl);
    gw_buf_free(&c->early);
    free(c);
}

/* The connection is dead from here on; every later call says so. */
static int fail(struct gw_tls_conn *c, int rc, const char *why)
{
    c->failed = true;
    snprintf(c->err, sizeof(c->err), "%s", why);
    return rc;
}

/*
 * Move everything OpenSSL wrote into out. All or nothing: if it does not
 * fit, the connection is dead, since a missing record cannot be resent.
 */
static int drain(struct gw_tls_conn *c, struct gw_buf *out)
{
    size_t pending = BIO_ctrl_pending(c->wbio);
    if (pending == 0)
        return 0;
    if (pending > out->max || out->len > out->max - pending) {
        /* After a TLS error, keep that error as the reason. */
        if (c->failed)
            return UV_ENOBUFS;
        return fail(c, UV_ENOBUFS, "TLS output buffer full");
    }
    char tmp[TLS_CHUNK];
    while (pending > 0) {
        int n = BIO_read(c->wbio, tmp, (int)sizeof(tmp));
        if (n <= 0)
            break;
        int rc = gw_buf_append(out, tmp, (size_t)n);
        if (rc < 0) /* cannot happen after the check above */
            return fail(c, rc, "TLS output buffer full");
        pending -= (size_t)n;
    }
    return 0;
}

/*
 * A fatal error from SSL_*: record the reason, and still hand out the
 * alert OpenSSL queued for the peer (it tells the client why).
 */
static int fail_ssl(struct gw_tls_conn *c, int sslerr, const char *what,
                    struct gw_buf *out)
{
    char reason[200];
    const char *dflt =
        sslerr == SSL_ERROR_SYSCALL ? "unexpected end of stream" : "error";
    take_ssl_error(reason, sizeof(reason), dflt);
    c->failed = true;
    long v = c->client ? SSL_get_verify_result(c->ssl) : X509_V_OK;
    if (v != X509_V_OK)
        snprintf(c->err, sizeof(c->err),
                 "TLS %s failed: the server's certificate is not accepted: "
                 "%s",
                 what, X509_verify_cert_error_string(v));
    else
        snprintf(c->err, sizeof(c->err), "TLS %s failed: %s", what, reason);
    (void)drain(c, out);
    return UV_EPROTO;
}

static void compute_fingerprint(struct gw_tls_conn *c)
{
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    static const char hex[] = "0123456789abcdef";

    if (peer == NULL)
        return;
    ERR_clear_error();
    if (X509_digest(peer, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32) {
        ERR_clear_error();
        return;
    }
    for (unsigned int i = 0; i < mdlen; i++) {
        c->fp[2 * i] = hex[md[i] >> 4];
        c->fp[2 * i + 1] = hex[md[i] & 0xf];
    }
    c->fp[2 * mdlen] = '\0';
    c->has_fp = true;
}

static int handshake(struct gw_tls_conn *c, struct gw_buf *out)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    int e = SSL_get_error(c->ssl, r);
    if (r == 1) {
        c->done = true;
        compute_fingerprint(c);
        return drain(c, out);
    }
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return drain(c, out);
    return fail_ssl(c, e, "handshake", out);
}

/*
 * Encrypt up to len bytes into out. *done_len says how much was consumed;
 * less than len without an error means OpenSSL wants input first (a write
 * cannot proceed until a read happens), and the caller keeps the rest.
 */
static int tls_encrypt(struct gw_tls_conn *c, const char *p, size_t len,
                       size_t *done_len, struct gw_buf *out)
{
    size_t off = 0;
    int rc = 0;

    while (off < len) {
        size_t n = len - off < TLS_CHUNK ? len - off : TLS_CHUNK;
        ERR_clear_error();
        int r = SSL_write(c->ssl, p + off, (int)n);
        int e = SSL_get_error(c->ssl, r);
        if (r > 0) {
            off += (size_t)r;
            rc = drain(c, out);
            if (rc < 0)
                break;
            continue;
        }
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
            ERR_clear_error();
            rc = drain(c, out);
            break;
        }
        rc = fail_ssl(c, e, "write", out);
        break;
    }
    *done_len = off;
    return rc;
}

/* Encrypt what was queued before the handshake (or a stalled write). */
static int flush_early(struct gw_tls_conn *c, struct gw_buf *out)
{
    if (!c->done || c->early.len == 0 || c->closed)
        return 0;
    size_t n = 0;
    int rc = tls_encrypt(c, c->early.data, c->early.len, &n, out);
    gw_buf_consume(&c->early, n);
    return rc;
}

/* The peer closed: answer with our own close_notify, as TLS asks. */
static int peer_closed(struct gw_tls_conn *c, struct gw_buf *out)
{
    c->eof = true;
    snprintf(c->err, sizeof(c->err), "TLS connection closed by peer");
    if (!c->closed) {
        c->closed = true;
        ERR_clear_error();
        int r = SSL_shutdown(c->ssl);
        (void)SSL_get_error(c->ssl, r);
        ERR_clear_error();
        (void)drain(c, out);
    }
    return UV_EOF;
}

/*
 * Something that is not a TLS handshake record arrived first. Most likely
 * an IRC client with TLS turned off: tell its user in words (nginx does
 * the same for plain HTTP on an HTTPS port), since an alert would only
 * show up as garbage.
 */
static int not_tls(struct gw_tls_conn *c, unsigned char first,
                   struct gw_buf *out)
{
    if (first >= 0x20 && first < 0x7f) {
        (void)gw_buf_puts(out, "ERROR :Closing link: this port expects TLS; "
                               "turn TLS on in your client or use the "
                               "plaintext port\r\n");
        return fail(c, UV_EPROTO,
                    "TLS handshake failed: client sent plaintext (an IRC "
                    "client without TLS?)");
    }
    snprintf(c->err, sizeof(c->err),
             "TLS handshake failed: first record is not a handshake "
             "(type 0x%02x)",
             first);
    c->failed = true;
    return UV_EPROTO;
}

int gw_tls_feed(struct gw_tls_conn *c, const char *cipher, size_t len,
                struct gw_buf *plain, struct gw_buf *out)
{
    if (c->failed)
        return UV_EPROTO;
    if (c->eof)
        return UV_EOF;

    if (len > 0) {
        if (!c->started && !c->client) {
            c->started = true;
            /*
             * OpenSSL would also refuse this, but it waits for a whole
             * 5-byte record header first and then reports "wrong version
             * number"; checking the first byte is immediate and clear.
             */
            if ((unsigned char)cipher[0] != TLS_RECORD_HANDSHAKE)
                return not_tls(c, (unsigned char)cipher[0], out);
        }
        size_t queued = BIO_ctrl_pending(c->rbio);
        if (len > GW_TLS_INPUT_MAX || queued > GW_TLS_INPUT_MAX - len)
            return fail(c, UV_ENOBUFS, "TLS input backlog over its limit");
        /* Cannot fail short on a memory BIO except on OOM. */
        if (BIO_write(c->rbio, cipher, (int)len) != (int)len) {
            ERR_clear_error();
            return fail(c, UV_ENOMEM, "TLS input: out of memory");
        }
    }

    int rc;
    if (!c->done) {
        rc = handshake(c, out);
        if (rc < 0 || !c->done)
            return rc;
    }
    rc = flush_early(c, out);
    if (rc < 0)
        return rc;

    char tmp[TLS_CHUNK];
    for (;;) {
        bool full = plain->len >= plain->max;
        size_t room = full ? 0 : plain->max - plain->len;
        size_t want = room < sizeof(tmp) ? room : sizeof(tmp);
        int r, e;
        ERR_clear_error();
        /*
         * With plain full, peek so that records which carry no data (a
         * session ticket, a key update, close_notify) are still handled,
         * and so we know whether the caller really has to wait.
         */
        if (full)
            r = SSL_peek(c->ssl, tmp, 1);
        else
            r = SSL_read(c->ssl, tmp, (int)want);
        e = SSL_get_error(c->ssl, r);
        if (r > 0) {
            if (full) {
                snprintf(c->err, sizeof(c->err), "TLS plaintext buffer full");
                rc = drain(c, out);
                return rc < 0 ? rc : UV_ENOBUFS;
            }
            rc = gw_buf_append(plain, tmp, (size_t)r);
            if (rc < 0) /* cannot happen: we asked for at most room */
                return fail(c, rc, "TLS plaintext buffer full");
            continue;
        }
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            break;
        if (e == SSL_ERROR_ZERO_RETURN)
            return peer_closed(c, out);
        return fail_ssl(c, e, "read", out);
    }
    ERR_clear_error();
    /*
     * Reading can produce output too (the warning that refuses a TLS 1.2
     * renegotiation), and a write that stalled for input may now go.
     */
    rc = drain(c, out);
    if (rc < 0)
        return rc;
    return flush_early(c, out);
}

int gw_tls_write(struct gw_tls_conn *c, const char *plain, size_t len,
                 struct gw_buf *out)
{
    if (c->failed)
        return UV_EPROTO;
    if (c->closed || c->eof)
        return UV_EPIPE;
    if (len == 0)
        return 0;
    if (!c->done)
        return gw_buf_append(&c->early, plain, len);
    /* Keep order: nothing may overtake bytes that are still queued. */
    int rc = flush_early(c, out);
    if (rc < 0)
        return rc;
    if (c->early.len > 0)
        return gw_buf_append(&c->early, plain, len);

    size_t n = 0;
    rc = tls_encrypt(c, plain, len, &n, out);
    if (rc < 0 || n == len)
        return rc;
    /*
     * OpenSSL needs to read before it can write more. Keep the rest for
     * the next feed; if it does not fit, the stream already has a prefix
     * of this write, so the connection cannot go on.
     */
    rc = gw_buf_append(&c->early, plain + n, len - n);
    if (rc < 0)
        return fail(c, rc, "TLS pending write buffer full");
    return 0;
}

void gw_tls_shutdown(struct gw_tls_conn *c, struct gw_buf *out)
{
    if (c->failed || c->closed)
        return;
    if (!c->done) {
        /* SSL_shutdown refuses mid-handshake; there is no session to end. */
        c->closed = true;
        gw_buf_reset(&c->early);
        return;
    }
    if (flush_early(c, out) < 0)
        return;
    c->closed = true;
    ERR_clear_error();
    int r = SSL_shutdown(c->ssl);
    (void)SSL_get_error(c->ssl, r);
    ERR_clear_error();
    (void)drain(c, out);
}

bool gw_tls_handshake_done(const struct gw_tls_conn *c)
{
    return c->done;
}

const char *gw_tls_peer_fingerprint(const struct gw_tls_conn *c)
{
    return c->has_fp ? c->fp : NULL;
}

const char *gw_tls_version(const struct gw_tls_conn *c)
{
    return c->done ? SSL_get_version(c->ssl) : "";
}

const char *gw_tls_error(const struct gw_tls_conn *c)
{
    return c->err;
}

/* ---- client side (relays) ----------------------------------------------- */

int gw_tls_client_ctx_new(struct gw_tls_ctx **out, const char *ca, bool verify,
                          char *err, size_t errlen)
{
    char reason[256];
    *out = NULL;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        take_ssl_error(reason, sizeof(reason), "out of memory");
        snprintf(err, errlen, "tls: SSL_CTX_new: %s", reason);
        return UV_ENOMEM;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_default_verify_paths(ctx) != 1) {
        take_ssl_error(reason, sizeof(reason), "internal error");
        snprintf(err, errlen, "tls: cannot set up context: %s", reason);
        SSL_CTX_free(ctx);
        return UV_EINVAL;
    }
    if (ca != NULL && SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        unsigned long e = take_ssl_error(reason, sizeof(reason), "cannot load");
        snprintf(err, errlen, "tls_ca %s: %s", ca, reason);
        SSL_CTX_free(ctx);
        return ssl_error_code(e);
    }
    /* No fallback to plain text, and no "accept anyway" unless asked:
     * tls_verify = no is for tests and for networks the user vouches for
     * themselves. */
    SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    struct gw_tls_ctx *t = gw_xcalloc(1, sizeof(*t));
    t->ssl_ctx = ctx;
    *out = t;
    return 0;
}

struct gw_tls_conn *gw_tls_client_new(struct gw_tls_ctx *ctx, const char *host)
{
    struct gw_tls_conn *c = conn_make(ctx, true);
    if (c == NULL)
        return NULL;
    /* The name checked is the one configured: an IP address must be in
     * the certificate as one, a name as a DNS name (and is sent as SNI). */
    unsigned char ip[16];
    X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);
    int ok;
    if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1)
        ok = X509_VERIFY_PARAM_set1_ip_asc(param, host);
    else
        ok = SSL_set_tlsext_host_name(c->ssl, host) == 1 &&
             X509_VERIFY_PARAM_set1_host(param, host, 0) == 1;
    if (ok != 1) {
        ERR_clear_error();
        gw_tls_conn_free(c);
        return NULL;
    }
    return c;
}

int gw_tls_client_start(struct gw_tls_conn *c, struct gw_buf *out)
{
    if (c->failed)
        return UV_EPROTO;
    return handshake(c, out);
}
