/*
 * gw_tls against a real OpenSSL client. The client is an SSL object with
 * its own memory BIOs, and pump() shuttles bytes between it and the server
 * connection the way the ircd shuttles them through libuv, so nothing here
 * needs a socket. Certificates are made at start-up with the openssl CLI
 * in a mkdtemp directory that is removed at the end.
 */
#include "gw_tls.h"

#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <uv.h>

#include "gw_util.h"

#define BIG     (1024 * 1024)
#define BUF_MAX (4 * 1024 * 1024)

static char tmpdir[256];

/* Path of a file in the temporary directory (static rotating buffers). */
static const char *tpath(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof(bufs[0]), "%s/%s", tmpdir, name);
    return b;
}

static int run(const char *cmd)
{
    int rc = system(cmd);
    return rc == 0 ? 0 : -1;
}

static int make_cert(const char *name, const char *cn)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt "
             "ec_paramgen_curve:prime256v1 -nodes -keyout %s/%s.key "
             "-out %s/%s.crt -days 2 -subj /CN=%s >/dev/null 2>&1",
             tmpdir, name, tmpdir, name, cn);
    return run(cmd);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    ck_assert_ptr_nonnull(in);
    FILE *out = fopen(to, "wb");
    ck_assert_ptr_nonnull(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* What `openssl x509 -fingerprint -sha256` says, lowercase, no colons. */
static void cli_fingerprint(const char *crt, char *out, size_t outlen)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "openssl x509 -in %s -noout -fingerprint -sha256", crt);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char line[512] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof(line), p));
    ck_assert_int_eq(pclose(p), 0);
    char *eq = strchr(line, '=');
    ck_assert_ptr_nonnull(eq);
    size_t j = 0;
    for (char *s = eq + 1; *s && *s != '\n' && j + 1 < outlen; s++) {
        if (*s != ':')
            out[j++] = (char)tolower((unsigned char)*s);
    }
    out[j] = '\0';
}

static struct gw_tls_ctx *server_ctx(const char *name)
{
    struct gw_tls_ctx *ctx = NULL;
    char err[512] = "";
    char crt[64], key[64];
    snprintf(crt, sizeof(crt), "%s.crt", name);
    snprintf(key, sizeof(key), "%s.key", name);
    int rc = gw_tls_ctx_new(&ctx, tpath(crt), tpath(key), err, sizeof(err));
    ck_assert_msg(rc == 0, "ctx_new: %s", err);
    ck_assert_ptr_nonnull(ctx);
    return ctx;
}

/* A client context; the cert is optional; minv < 1.2 needs level 0. */
static SSL_CTX *client_ctx(int minv, int maxv, const char *name)
{
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    ck_assert_ptr_nonnull(cctx);
    if (minv && minv < TLS1_2_VERSION)
        SSL_CTX_set_security_level(cctx, 0);
    if (minv)
        ck_assert_int_eq(SSL_CTX_set_min_proto_version(cctx, minv), 1);
    if (maxv)
        ck_assert_int_eq(SSL_CTX_set_max_proto_version(cctx, maxv), 1);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
    if (name) {
        char crt[64], key[64];
        snprintf(crt, sizeof(crt), "%s.crt", name);
        snprintf(key, sizeof(key), "%s.key", name);
        ck_assert_int_eq(
            SSL_CTX_use_certificate_file(cctx, tpath(crt), SSL_FILETYPE_PEM),
            1);
        ck_assert_int_eq(
            SSL_CTX_use_PrivateKey_file(cctx, tpath(key), SSL_FILETYPE_PEM), 1);
    }
    return cctx;
}

struct peer {
    struct gw_tls_conn *s;
    SSL *cl;
    BIO *cin;              /* client's read BIO: what the server sent */
    BIO *cout;             /* client's write BIO: what the server will get */
    struct gw_buf splain;  /* plaintext the server decrypted */
    struct gw_buf sout;    /* ciphertext the server produced */
    struct gw_buf cplain;  /* plaintext the client decrypted */
    size_t chunk;          /* feed size, like a libuv read; 0 = all */
    int srv_rc;            /* first non-zero gw_tls_feed result */
    int cl_err;            /* client's last SSL_get_error */
    size_t sent_to_server; /* ciphertext bytes fed */
};

static void peer_init(struct peer *p, struct gw_tls_ctx *ctx, SSL_CTX *cctx)
{
    memset(p, 0, sizeof(*p));
    p->s = gw_tls_conn_new(ctx);
    ck_assert_ptr_nonnull(p->s);
    p->cl = SSL_new(cctx);
    ck_assert_ptr_nonnull(p->cl);
    p->cin = BIO_new(BIO_s_mem());
    p->cout = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(p->cin, -1);
    BIO_set_mem_eof_return(p->cout, -1);
    SSL_set_bio(p->cl, p->cin, p->cout);
    SSL_set_connect_state(p->cl);
    gw_buf_init(&p->splain, BUF_MAX);
    gw_buf_init(&p->sout, BUF_MAX);
    gw_buf_init(&p->cplain, BUF_MAX);
}

static void peer_free(struct peer *p)
{
    gw_tls_conn_free(p->s);
    SSL_free(p->cl);
    gw_buf_free(&p->splain);
    gw_buf_free(&p->sout);
    gw_buf_free(&p->cplain);
}

static void client_step(struct peer *p)
{
    char tmp[16384];
    if (!SSL_is_init_finished(p->cl)) {
        int r = SSL_do_handshake(p->cl);
        p->cl_err = SSL_get_error(p->cl, r);
        ERR_clear_error();
        if (r != 1)
            return;
    }
    for (;;) {
        int r = SSL_read(p->cl, tmp, sizeof(tmp));
        if (r <= 0) {
            p->cl_err = SSL_get_error(p->cl, r);
            ERR_clear_error();
            return;
        }
        ck_assert_int_eq(gw_buf_append(&p->cplain, tmp, (size_t)r), 0);
    }
}

/* Shuttle until nothing moves; returns the first non-zero server result. */
static int pump(struct peer *p)
{
    for (int round = 0; round < 100000; round++) {
        bool moved = false;
        client_step(p);
        size_t n = BIO_ctrl_pending(p->cout);
        if (n > 0) {
            char *tmp = gw_xmalloc(n);
            ck_assert_int_eq(BIO_read(p->cout, tmp, (int)n), (int)n);
            size_t step = p->chunk ? p->chunk : n;
            for (size_t off = 0; off < n && p->srv_rc == 0; off += step) {
                size_t len = n - off < step ? n - off : step;
                int rc =
                    gw_tls_feed(p->s, tmp + off, len, &p->splain, &p->sout);
                p->sent_to_server += len;
                if (rc != 0)
                    p->srv_rc = rc;
            }
            free(tmp);
            moved = true;
        }
        if (p->sout.len > 0) {
            ck_assert_int_eq(BIO_write(p->cin, p->sout.data, (int)p->sout.len),
                             (int)p->sout.len);
            gw_buf_reset(&p->sout);
            moved = true;
        }
        if (!moved)
            return p->srv_rc;
    }
    ck_abort_msg("pump did not settle");
    return -1;
}

static void client_write(struct peer *p, const void *data, size_t len)
{
    const char *d = data;
    size_t off = 0;
    while (off < len) {
        int r = SSL_write(p->cl, d + off, (int)(len - off));
        ck_assert_int_gt(r, 0);
        off += (size_t)r;
    }
}

static void connect_peer(struct peer *p)
{
    ck_assert_int_eq(pump(p), 0);
    ck_assert(gw_tls_handshake_done(p->s));
    ck_assert(SSL_is_init_finished(p->cl));
}

static void server_cn(struct peer *p, char *cn, size_t len)
{
    X509 *pc = SSL_get0_peer_certificate(p->cl);
    ck_assert_ptr_nonnull(pc);
    ck_assert_int_gt(X509_NAME_get_text_by_NID(X509_get_subject_name(pc),
                                               NID_commonName, cn, (int)len),
                     0);
}

static void fill_pattern(char *b, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (char)(x & 0xff);
    }
}

/* ---------------------------------------------------------------- */

START_TEST(test_ctx_errors)
{
    struct gw_tls_ctx *ctx = (struct gw_tls_ctx *)1;
    char err[512];
    char want[600];

    int rc = gw_tls_ctx_new(&ctx, tpath("nope.crt"), tpath("s1.key"), err,
                            sizeof(err));
    ck_assert_int_eq(rc, UV_ENOENT);
    ck_assert_ptr_null(ctx);
    snprintf(want, sizeof(want), "tls_cert %s: error:", tpath("nope.crt"));
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
    ck_assert_msg(strstr(err, "No such file") != NULL, "%s", err);

    rc = gw_tls_ctx_new(&ctx, tpath("s1.crt"), tpath("nope.key"), err,
                        sizeof(err));
    ck_assert_int_eq(rc, UV_ENOENT);
    ck_assert_ptr_null(ctx);
    snprintf(want, sizeof(want), "tls_key %s: error:", tpath("nope.key"));
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);

    /* A key that belongs to another certificate. */
    rc = gw_tls_ctx_new(&ctx, tpath("s1.crt"), tpath("s2.key"), err,
                        sizeof(err));
    ck_assert_int_eq(rc, UV_EINVAL);
    ck_assert_ptr_null(ctx);
    ck_assert_msg(strstr(err, "does not match") != NULL, "%s", err);
    snprintf(want, sizeof(want), "tls_key %s:", tpath("s2.key"));
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);

    /* Not PEM at all. */
    write_file(tpath("junk.crt"), "this is not a certificate\n");
    rc = gw_tls_ctx_new(&ctx, tpath("junk.crt"), tpath("s1.key"), err,
                        sizeof(err));
    ck_assert_int_eq(rc, UV_EINVAL);
    snprintf(want, sizeof(want), "tls_cert %s: error:", tpath("junk.crt"));
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);

    /* A certificate given as the key. */
    rc = gw_tls_ctx_new(&ctx, tpath("s1.crt"), tpath("s1.crt"), err,
                        sizeof(err));
    ck_assert_int_lt(rc, 0);
    ck_assert_msg(strncmp(err, "tls_key ", 8) == 0, "%s", err);

    rc = gw_tls_ctx_new(&ctx, NULL, tpath("s1.key"), err, sizeof(err));
    ck_assert_int_eq(rc, UV_EINVAL);
    ck_assert_ptr_null(ctx);
    rc = gw_tls_ctx_new(&ctx, "", "", err, sizeof(err));
    ck_assert_int_eq(rc, UV_EINVAL);

    /* A tiny error buffer is truncated, never overrun (ASan watches). */
    char small[8];
    rc = gw_tls_ctx_new(&ctx, tpath("nope.crt"), tpath("s1.key"), small,
                        sizeof(small));
    ck_assert_int_lt(rc, 0);
    ck_assert_uint_eq(strlen(small), sizeof(small) - 1);

    /* No stale errors left for the next caller. */
    ck_assert_uint_eq(ERR_peek_error(), 0);

    gw_tls_ctx_free(NULL);
    gw_tls_conn_free(NULL);
    ck_assert_ptr_null(gw_tls_conn_new(NULL));
}
END_TEST

static void check_handshake(int maxv, const char *version)
{
    struct gw_tls_ctx *ctx = server_ctx("s1");
    SSL_CTX *cctx = client_ctx(0, maxv, NULL);
    struct peer p;
    peer_init(&p, ctx, cctx);

    ck_assert(!gw_tls_handshake_done(p.s));
    ck_assert_str_eq(gw_tls_version(p.s), "");
    ck_assert_str_eq(gw_tls_error(p.s), "");
    ck_assert_ptr_null(gw_tls_peer_fingerprint(p.s));

    connect_peer(&p);
    ck_assert_str_eq(gw_tls_version(p.s), version);
    ck_assert_str_eq(SSL_get_version(p.cl), version);
    ck_assert_ptr_null(gw_tls_peer_fingerprint(p.s));
    ck_assert_str_eq(gw_tls_error(p.s), "");
    char cn[64];
    server_cn(&p, cn, sizeof(cn));
    ck_assert_str_eq(cn, "server1");
    ck_assert_uint_eq(p.splain.len, 0);

    peer_free(&p);
    SSL_CTX_free(cctx);
    gw_tls_ctx_free(ctx);
}

START_TEST(test_handshake_tls13)
{
    check_handshake(0, "TLSv1.3");
}
END_TEST

START_TEST(test_handshake_tls12)
{
    check_handshake(TLS1_2_VERSION, "TLSv1.2");
}
END_TEST

/* Every ciphertext byte arrives in its own read. */
START_TEST(test_handshake_byte_by_byte)
{
    struct gw_tls_ctx *ctx = server_ctx("s1");
    SSL_CTX *cctx = client_ctx(0, _i ? TLS1_2_VERSION : 0, "cl");
    struct peer p;
    peer_init(&p, ctx, cctx);
    p.chunk = 1;
    connect_peer(&p);
    ck_assert_ptr_nonnull(gw_tls_peer_fingerprint(p.s));
    client_write(&p, "PING :abc\r\n", 11);
    ck_assert_int_eq(pump(&p), 0);
    ck_assert_str_eq(p.splain.data, "PING :abc\r\n");
    peer_free(&p);
    SSL_CTX_free(cctx);
    gw_tls_ctx_free(ctx);
}
END_TEST

START_TEST(test_client_fingerprint)
{
    int maxv = _i ? TLS1_2_VERSION : 0;
    struct gw_tls_ctx *ctx = server_ctx("s1");
    SSL_CTX *cctx = client_ctx(0, maxv, "cl");
    struct peer p;
    peer_init(&p, ctx, cctx);
    connect_peer(&p);
    ck_assert_str_eq(gw_tls_version(p.s), _i ? "TLSv1.2" : "TLSv1.3");

    char want[128];
    cli_fingerprint(tpath("cl.crt"), want, sizeof(want));
    ck_assert_uint_eq(strlen(want), 64);
    const char *fp = gw_tls_peer_fingerprint(p.s);
    ck_assert_ptr_nonnull(fp);
    ck_assert_str_eq(fp, want);
    for (const char *s = fp; *s; s++)
        ck_assert(isdigit((unsigned char)*s) || (*s >= 'a' && *s <= 'f'));

    /* Another client certificate gives another fingerprint. */
    char other[128];
    cli_fingerprint(tpath("s2.crt"), other, sizeof(other));
    ck_assert_str_ne(fp, other);

    peer_free(&p);
    SSL_CTX_free(cctx);
    gw_tls_ctx_free(ctx);
}
END_TEST

/*
 * A resumed session still carries the client certificate; without a
 * session id context OpenSSL would refuse the resumption outright.
 */
START_TEST(test_resumption_keeps_fingerprint)
{
    int maxv = _i ? TLS1_2_VERSION : 0;
    struct gw_tls_ctx *ctx = server_ctx("s1");
    SSL_CTX *cctx = client_ctx(0, maxv, "cl");
    struct peer p, q;
    peer_init(&p, ctx, cctx);
    connect_peer(&p);
    /* TLS 1.3 tickets arrive after the handshake; let the client read. */
    gw_tls_write(p.s, "x", 1, &p.sout);
    ck_assert_int_eq(pump(&p), 0);
    SSL_SESSION *sess = SSL_get1_session(p.cl);
    ck_assert_ptr_nonnull(sess);
    ck_assert_int_eq(SSL_SESSION_is_resumable(sess), 1);

    peer_init(&q, ctx, cctx);
    ck_assert_int_eq(SSL_set_session(q.cl, sess), 1);
    connect_peer(&q);
    ck_assert_int_eq(SSL_session_reused(q.cl), 1);
    ck_assert_ptr_nonnull(gw_tls_peer_fingerprint(q.s));
    ck_assert_str_eq(gw_tls_peer_fingerprint(q.s),
                     gw_tls_peer_fingerprint(p.s));

    SSL_SESSION_free(sess);
    peer_free(&p);
    peer_free(&q);
    SSL_CTX_free(cctx);
    gw_tls_ctx_free(ctx);
}
END_TEST

START_TEST(test_data_both_ways)
{
    struct gw_tls_ctx *ctx = server_ctx("s1");
    SSL_CTX *cctx = client_ctx(0, _i ? TLS1_2_VERSION : 0, NULL);
    struct peer p;
    peer_init(&p, ctx, cctx);
    connect_peer(&p);

    const char *hello = ":parley 001 x :Welcome\r\n";
    ck_assert_int_eq(gw_tls_write(p.s, hello, strlen(hello), &p.sout), 0);
    ck_assert_uint_gt(p.sout.len, strlen(hello)); /* encrypted, not copied */
    for (size_t i = 0; i + 7 <= p.sout.len; i++)
        ck_assert(memcmp(p.sout.data + i, "Welcome", 7) != 0);
    client_write(&p, "PRIVMSG #a :hi\r\n", 16);
    ck_assert_int_eq(pump(&p), 0);
    ck_assert_str_eq(p.cplain.data, hello);
    ck_assert_str_eq(p.splain.data, "PRIVMSG #a :hi\r\n");
    gw_buf_reset(&p.splain);
    gw_buf_reset(&p.cplain);

    /* 1 MiB each way, binary (NUL bytes too), in one call. */
    char *big = gw_xmalloc(BIG);
    fill_pattern(big, BIG, 7);
    ck_assert_int_eq(gw_tls_write(p.s, big, BIG, &p.sout), 0);
    ck_assert_uint_gt(p.sout.len, BIG);
    ck_assert_int_eq(pump(&p), 0);
    ck_assert_uint_eq(p.cplain.len, BIG);
    ck_assert(memcmp(p.cplain.data, big, BIG) == 0);

    fill_pattern(big, BIG, 8);
    client_write(&p, big, BIG);
    p.chunk = 65536; /* as libuv would read it */
    ck_assert_int_eq(pump(&p), 0);
    ck_assert_uint_eq(p.splain.len, BIG);
    ck_assert(memcmp(p.splain.data, big, BIG) == 0);

    /* And odd-sized reads that split records anywhere. */
    gw_buf_reset(&p.splain);
    fill_pattern(big, 100000, 9);
    client_write(&p, big, 100000);
    p.chunk = 997;
    ck_assert_int_eq(pump(&p), 0);
    ck_assert_uint_eq(p.splain.len, 100000);
    ck_assert(memcmp(p.splain.data, big, 100000) == 0);

    free(big);
    peer_free(&p);
    SSL_CTX_free(cctx);
    gw_tls_ctx_free(ctx);
}
END_TEST

START_TEST(test_tls11_refused)
{
    struct gw_tls_ctx *ctx = server_ctx("s1");
    SSL_CTX *cctx = client_ctx(TLS1_1_VERSION, TLS1_1_VERSION, NULL);
    struct peer p;
    peer_init(&p, ctx, cctx);
    int rc = pump(&p);
    ck_assert_uint_gt(p.sent_to_server, 0); /* a hello was really sent */
    ck_assert_int_eq(rc, UV_EPROTO);
    ck_assert(!gw_tls_handshake_done(p.s));
    ck_assert(!SSL_is_init_finished(p.cl));
    ck_assert_msg(strstr(gw_tls_error(p.s), "unsupported protocol") != NULL,
                  "%s", gw_tls_error(p.s));
    ck_assert_str_eq(gw_tls_version(p.s), "");
    /* Dead for good. */
    ck_assert_int_eq(gw_tls_feed(p.s, "\x16", 1, &p.splain, &p.sout),
                     UV_EPROTO);
    ck_assert_int_eq(gw_tls_write(p.s, "x", 1, &p.sout), UV_EPROTO);
    peer_free(&p);
    SSL_CTX_free(cctx);
    gw_tls_ctx_free(ctx);
}
END_TEST

START_TEST(test_plaintext_client)
{
    struct gw_tls_ctx *ctx = server_ctx("s1");
    struct gw_tls_conn *c = gw_tls_conn_new(ctx);
    struct gw_buf plain, out;
    gw_buf_init(&plain, 65536);
    gw_buf_init(&out, 65536);

    const char *irc = "NICK x\r\nUSER x 0 * :x\r\n";
    ck_assert_int_eq(gw_tls_feed(c, irc, strlen(irc), &plain, &out), UV_EPROTO);
    ck_assert_uint_eq(plain.len, 0);
    ck_assert_msg(strstr(gw_tls_error(c), "plaintext") != NULL, "%s",
                  gw_tls_error(c));
    /* The user gets told, in words their client can show. */
    ck_assert_ptr_nonnull(out.data);
    ck_assert(strncmp(out.data, "ERROR :", 7) == 0);
    ck_assert(strstr(out.data, "TLS") != NULL);
    ck_assert(out.len >= 2 && strcmp(out.data + out.len - 2, "\r\n") == 0);

    size_t before = out.len;
    ck_assert_int_eq(gw_tls_feed(c, irc, strlen(irc), &plain, &out), UV_EPROTO);
    ck_assert_int_eq(gw_tls_feed(c, NULL, 0, &plain, &out), UV_EPROTO);
    ck_assert_int_eq(gw_tls_write(c, "x", 1, &out), UV_EPROTO);
    gw_tls_shutdown(c, &out);
    ck_assert_uint_eq(out.len, before);
    ck_assert(!gw_tls_handshake_done(c));
    gw_tls_conn_free(c);

    /* Even a single byte is enough to tell. */
    c = gw_tls_conn_new(ctx);
    gw_buf_reset(&out);
    ck_assert_int_eq(gw_tls_feed(c, "N", 1, &plain, &out), UV_EPROTO);
    gw_tls_conn_free(c);

    /* Binary junk: refused, but no text line (it is not a person). */
    c = gw_tls_conn_new(ctx);
    gw_buf_reset(&out);
    ck_assert_int_eq(gw_tls_feed(c, "\x80\x01\x02", 3, &plain, &out),
                     UV_EPROTO);
    ck_assert_uint_eq(out.len, 0);
    ck_assert_str_ne(gw_tls_error(c), "");
    gw_tls_conn_free(c);

    gw_buf_free(&plain);
    gw_buf_free(&out);
    gw_tls_ctx_free(ctx);
}
END_TEST

/* Looks like a handshake record, is not one. */
START_TEST(test_bogus_handshake)
{
    static const struct {
        const char *bytes;
        size_t len;
    } cases[] = {
        {"\x16\x03\x01\x00\x10"
         "0123456789abcdef",
         21},
        {"\x16\x03\x01\xff\xff", 5}, /* record longer than TLS allows */
        {"\x16\x03\x03\x00\x04\x01\x00\x00\x00", 9}, /* empty ClientHello */
        {"\x16\xfe\xff\x00\x01\x00", 6},             /* DTLS version */
    };
    struct gw_tls_ctx *ctx = server_ctx("s1");
    for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
        struct gw_tls_conn *c = gw_tls_conn_new(ctx);
        struct gw_buf plain, out;
        gw_buf_init(&plain, 65536);
        gw_buf_init(&out, 65536);
        int rc = gw_tls_feed(c, cases[i].bytes, cases[i].len, &plain, &out);
        ck_assert_msg(rc == UV_EPROTO, "case %zu: %d", i, rc);
        ck_assert_msg(strncmp(gw_tls_error(c), "TLS handshake failed: ", 22) ==
                          0,
                      "case %zu: %s", i, gw_tls_error(c));
        ck_assert_uint_eq(plain.len, 0);
        ck_assert_uint_eq(ERR_peek_error(), 0);
        gw_buf_free(&plain);
        gw_buf_free(&out);
        gw_tls_conn_free(c);
    }
    gw_tls_ctx_free(ctx);
}
END_TEST

START_TEST(test_garbage_after_handshake)
{
    struct gw_tls_ctx *ctx = server_ctx("s1");
    SSL_CTX *cctx = client_ctx(0, _i ? TLS1_2_VERSION : 0, NULL);

    /* Text where records should be. */
    struct peer p;
    peer_init(&p, ctx, cctx);
    connect_peer(&p);
    client_write(&p, "JOIN #a\r\n", 9);
    ck_assert_int_eq(pump(&p), 0);
    const char *junk = "PRIVMSG #a :oops, plaintext\r\n";
    int rc = gw_tls_feed(p.s, junk, strlen(junk), &p.splain, &p.sout);
    ck_assert_int_eq(rc, UV_EPROTO);
    ck_assert_str_eq(p.splain.data, "JOIN #a\r\n");
    ck_assert_msg(strncmp(gw_tls_error(p.s), "TLS read failed: error:", 23) ==
                      0,
                  "%s", gw_tls_error(p.s));
    ck_assert_int_eq(gw_tls_feed(p.s, junk, 3, &p.splain, &p.sout), UV_EPROTO);
    ck_assert_int_eq(gw_tls_write(p.s, "x", 1, &p.sout), UV_EPROTO);
    peer_free(&p);

    /* A genuine record with one bit flipped: the MAC must catch it. */
    peer_init(&p, ctx, cctx);
    connect_peer(&p);
    client_write(&p, "PRIVMSG #a :first\r\n", 19);
    ck_assert_int_eq(pump(&p), 0);
    client_write(&p, "PRIVMSG #a :second\r\n", 20);
    size_t n = BIO_ctrl_pending(p.cout);
    char rec[512];
    ck_assert_uint_lt(n, sizeof(rec));
    ck_assert_int_eq(BIO_read(p.cout, rec, (int)n), (int)n);
    rec[n - 3] ^= 0x20;
    gw_buf_reset(&p.sout);
    rc = gw_tls_feed(p.s, rec, n, &p.splain, &p.sout);
    ck_assert_int_eq(rc, UV_EPROTO);
    ck_assert_str_eq(p.splain.data, "PRIVMSG #a :first\r\n");
    ck_assert_uint_gt(p.sout.len, 0); /* an alert for the client */
    ck_assert_msg(strstr(gw_tls_error(p.s), "error:") != NULL, "%s",
                  gw_tls_error(p.s));
    ck_assert_uint_eq(ERR_peek_error(), 0);
    peer_free(&p);

    SSL_CTX_free(cctx);
    gw_tls_ctx_free(ctx);
}
END_TEST

START_TEST(test_close_notify_from_client)
{
    struct gw_tls_ctx *ctx = server_ctx("s1");
    SSL_CTX *cctx = client_ctx(0, _i ? TLS1_2_VERSION : 0, NULL);
    struct peer p;
    peer_init(&p, ctx, cctx);
    connect_peer(&p);

    /* Data and close_notify in the same read: the data still arrives. */
    client_write(&p, "QUIT :bye\r\n", 11);
    ck_assert_int_ge(SSL_shutdown(p.cl), 0);
    ck_assert_int_eq(pump(&p), UV_EOF);
    ck_assert_str_eq(p.splain.data, "QUIT :bye\r\n");
    /* We answered with our own close_notify. */
    ck_assert(SSL_get_shutdown(p.cl) & SSL_RECEIVED_SHUTDOWN);

    size_t before = p.sout.len;
    ck_assert_int_eq(gw_tls_feed(p.s, "\x17", 1, &p.splain, &p.sout), UV_EOF);
    ck_assert_int_eq(gw_tls_write(p.s, "x", 1, &p.sout), UV_EPIPE);
    gw_tls_shutdown(p.s, &p.sout);
    ck_assert_uint_eq(p.sout.len, before);
    peer_free(&p);
    SSL_CTX_free(cctx);
    gw_tls_ctx_free(ctx);
}
END_TEST

START_TEST(test_server_shutdown)
{
    struct gw_tls_ctx *ctx = server_ctx("s1");
    SSL_CTX *cctx = client_ctx(0, _i ? TLS1_2_VERSION : 0, NULL);
    struct peer p;
    peer_init(&p, ctx, cctx);
    connect_peer(&p);

    const char *bye = "ERROR :Closing link\r\n";
    ck_assert_int_eq(gw_tls_write(p.s, bye, strlen(bye), &p.sout), 0);
    gw_tls_shutdown(p.s, &p.sout);
    size_t after = p.sout.len;
    gw_tls_shutdown(p.s, &p.sout); /* idempotent */
    ck_assert_uint_eq(p.sout.len, after);
    ck_assert_int_eq(gw_tls_write(p.s, "x", 1, &p.sout), UV_EPIPE);
    pump(&p);
    ck_assert_str_eq(p.cplain.data, bye);
    ck_assert_int_eq(p.cl_err, SSL_ERROR_ZERO_RETURN);
    peer_free(&p);

    /* Before the handshake there is nothing to close politely. */
    struct gw_tls_conn *c = gw_tls_conn_new(ctx);
    struct gw_buf out;
    gw_buf_init(&out, 1024);
    ck_assert_int_eq(gw_tls_write(c, "x", 1, &out), 0);
    gw_tls_shutdown(c, &out);
    ck_assert_uint_eq(out.len, 0);
    ck_assert_int_eq(gw_tls_write(c, "x", 1, &out), UV_EPIPE);
    gw_buf_free(&out);
    gw_tls_conn_free(c);

    SSL_CTX_free(cctx);
    gw_tls_ctx_free(ctx);
}
END_TEST

static void exchange(struct peer *p, const char *tag)
{
    char line[64];
    int n = snprintf(line, sizeof(line), "PING :%s\r\n", tag);
    gw_buf_reset(&p->splain);
    gw_buf_reset(&p->cplain);
    client_write(p, line, (size_t)n);
    ck_assert_int_eq(gw_tls_write(p->s, line, (size_t)n, &p->sout), 0);
    ck_assert_int_eq(pump(p), 0);
    ck_assert_str_eq(p->splain.data, line);
    ck_assert_str_eq(p->cplain.data, line);
}

START_TEST(test_reload_new_cert)
{
    copy_file(tpath("s1.crt"), tpath("r.crt"));
    copy_file(tpath("s1.key"), tpath("r.key"));
    struct gw_tls_ctx *ctx = server_ctx("r");
    SSL_CTX *cctx = client_ctx(0, 0, NULL);
    struct peer a, b, mid;
    char cn[64], err[512] = "";

    peer_init(&a, ctx, cctx);
    connect_peer(&a);
    server_cn(&a, cn, sizeof(cn));
    ck_assert_str_eq(cn, "server1");
    /* One connection is mid-handshake when the reload happens. */
    peer_init(&mid, ctx, cctx);

    copy_file(tpath("s2.crt"), tpath("r.crt"));
    copy_file(tpath("s2.key"), tpath("r.key"));
    ck_assert_msg(gw_tls_ctx_reload(ctx, err, sizeof(err)) == 0, "%s", err);

    peer_init(&b, ctx, cctx);
    connect_peer(&b);
    server_cn(&b, cn, sizeof(cn));
    ck_assert_str_eq(cn, "server2");

    /* The old connection goes on with its old certificate. */
    exchange(&a, "old");
    server_cn(&a, cn, sizeof(cn));
    ck_assert_str_eq(cn, "server1");
    /* The one created before the reload finishes with the old one. */
    connect_peer(&mid);
    server_cn(&mid, cn, sizeof(cn));
    ck_assert_str_eq(cn, "server1");

    /* Connections outlive the context itself. */
    gw_tls_ctx_free(ctx);
    exchange(&a, "after-free-a");
    exchange(&b, "after-free-b");
    exchange(&mid, "after-free-mid");

    peer_free(&a);
    peer_free(&b);
    peer_free(&mid);
    SSL_CTX_free(cctx);
}
END_TEST

START_TEST(test_reload_failure_keeps_old)
{
    copy_file(tpath("s1.crt"), tpath("f.crt"));
    copy_file(tpath("s1.key"), tpath("f.key"));
    struct gw_tls_ctx *ctx = server_ctx("f");
    SSL_CTX *cctx = client_ctx(0, 0, NULL);
    struct peer p;
    char cn[64], err[512] = "", want[600];

    /* The key file has gone. */
    ck_assert_int_eq(unlink(tpath("f.key")), 0);
    ck_assert_int_eq(gw_tls_ctx_reload(ctx, err, sizeof(err)), UV_ENOENT);
    snprintf(want, sizeof(want), "tls_key %s: ", tpath("f.key"));
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
    peer_init(&p, ctx, cctx);
    connect_peer(&p);
    server_cn(&p, cn, sizeof(cn));
    ck_assert_str_eq(cn, "server1");
    exchange(&p, "still");
    peer_free(&p);

    /* Half-replaced: new certificate, old key. */
    copy_file(tpath("s1.key"), tpath("f.key"));
    copy_file(tpath("s2.crt"), tpath("f.crt"));
    ck_assert_int_eq(gw_tls_ctx_reload(ctx, err, sizeof(err)), UV_EINVAL);
    ck_assert_msg(strstr(err, "does not match") != NULL, "%s", err);
    peer_init(&p, ctx, cctx);
    connect_peer(&p);
    server_cn(&p, cn, sizeof(cn));
    ck_assert_str_eq(cn, "server1");
    peer_free(&p);

    /* The cert file has gone. */
    ck_assert_int_eq(unlink(tpath("f.crt")), 0);
    ck_assert_int_eq(gw_tls_ctx_reload(ctx, err, sizeof(err)), UV_ENOENT);
    snprintf(want, sizeof(want), "tls_cert %s: ", tpath("f.crt"));
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s", err);
    peer_init(&p, ctx, cctx);
    connect_peer(&p);
    peer_free(&p);

    SSL_CTX_free(cctx);
    gw_tls_ctx_free(ctx);
}
END_TEST

START_TEST(test_write_before_handshake)
{
    struct gw_tls_ctx *ctx = server_ctx("s1");
    SSL_CTX *cctx = client_ctx(0, _i ? TLS1_2_VERSION : 0, NULL);
    struct peer p;
    peer_init(&p, ctx, cctx);

    const char *a = ":parley NOTICE * :*** Looking up your hostname\r\n";
    const char *b = ":parley NOTICE * :*** Checking ident\r\n";
    const char *c = ":parley 001 x :Welcome\r\n";
    ck_assert_int_eq(gw_tls_write(p.s, a, strlen(a), &p.sout), 0);
    ck_assert_uint_eq(p.sout.len, 0); /* nothing can be sent yet */

    /* The client hello arrives; the handshake is still under way. */
    client_step(&p);
    size_t n = BIO_ctrl_pending(p.cout);
    char hello[4096];
    ck_assert_uint_lt(n, sizeof(hello));
    ck_assert_int_eq(BIO_read(p.cout, hello, (int)n), (int)n);
    ck_assert_int_eq(gw_tls_feed(p.s, hello, n, &p.splain, &p.sout), 0);
    ck_assert(!gw_tls_handshake_done(p.s));
    ck_assert_int_eq(gw_tls_write(p.s, b, strlen(b), &p.sout), 0);

    ck_assert_int_eq(pump(&p), 0);
    ck_assert(gw_tls_handshake_done(p.s));
    ck_assert_int_eq(gw_tls_write(p.s, c, strlen(c), &p.sout), 0);
    ck_assert_int_eq(pump(&p), 0);

    char want[256];
    snprintf(want, sizeof(want), "%s%s%s", a, b, c);
    ck_assert_str_eq(p.cplain.data, want);
    peer_free(&p);
    SSL_CTX_free(cctx);
    gw_tls_ctx_free(ctx);
}
END_TEST

/*
 * TLS 1.3 lets a client send Finished, a line and close_notify in one
 * flight: what we queued before the handshake still goes out first.
 */
START_TEST(test_write_before_handshake_then_close)
{
    struct gw_tls_ctx *ctx = server_ctx("s1");
    SSL_CTX *cctx = client_ctx(0, 0, NULL);
    struct peer p;
    peer_init(&p, ctx, cctx);
    const char *greet = ":parley NOTICE * :hello\r\n";
    ck_assert_int_eq(gw_tls_write(p.s, greet, strlen(greet), &p.sout), 0);

    char buf[8192];
    client_step(&p); /* ClientHello */
    size_t n = BIO_ctrl_pending(p.cout);
    ck_assert_uint_lt(n, sizeof(buf));
    ck_assert_int_eq(BIO_read(p.cout, buf, (int)n), (int)n);
    ck_assert_int_eq(gw_tls_feed(p.s, buf, n, &p.splain, &p.sout), 0);
    ck_assert_int_eq(BIO_write(p.cin, p.sout.data, (int)p.sout.len),
                     (int)p.sout.len);
    gw_buf_reset(&p.sout);
    client_step(&p); /* Finished */
    ck_assert(SSL_is_init_finished(p.cl));
    ck_assert(!gw_tls_handshake_done(p.s));
    client_write(&p, "QUIT\r\n", 6);
    ck_assert_int_ge(SSL_shutdown(p.cl), 0);

    ck_assert_int_eq(pump(&p), UV_EOF);
    ck_assert(gw_tls_handshake_done(p.s));
    ck_assert_str_eq(p.splain.data, "QUIT\r\n");
    ck_assert_ptr_nonnull(p.cplain.data);
    ck_assert_str_eq(p.cplain.data, greet);
    ck_assert(SSL_get_shutdown(p.cl) & SSL_RECEIVED_SHUTDOWN);
    peer_free(&p);
    SSL_CTX_free(cctx);
    gw_tls_ctx_free(ctx);
}
END_TEST

START_TEST(test_pending_limit)
{
    struct gw_tls_ctx *ctx = server_ctx("s1");
    SSL_CTX *cctx = client_ctx(0, 0, NULL);
    struct peer p;
    peer_init(&p, ctx, cctx);

    char *blob = gw_xmalloc(GW_TLS_PENDING_MAX);
    fill_pattern(blob, GW_TLS_PENDING_MAX, 3);
    ck_assert_int_eq(gw_tls_write(p.s, blob, GW_TLS_PENDING_MAX - 1, &p.sout),
                     0);
    ck_assert_int_eq(
        gw_tls_write(p.s, blob + GW_TLS_PENDING_MAX - 1, 2, &p.sout),
        UV_ENOBUFS);
    ck_assert_int_eq(
        gw_tls_write(p.s, blob + GW_TLS_PENDING_MAX - 1, 1, &p.sout), 0);
    /* The refused write cost nothing: the rest is delivered whole. */
    connect_peer(&p);
    ck_assert_uint_eq(p.cplain.len, GW_TLS_PENDING_MAX);
    ck_assert(memcmp(p.cplain.data, blob, GW_TLS_PENDING_MAX) == 0);
    exchange(&p, "ok");
    free(blob);
    peer_free(&p);
    SSL_CTX_free(cctx);
    gw_tls_ctx_free(ctx);
}
END_TEST

/* A full plaintext buffer loses nothing, and the caller may resume. */
START_TEST(test_plain_full)
{
    struct gw_tls_ctx *ctx = server_ctx("s1");
    SSL_CTX *cctx = client_ctx(0, 0, NULL);
    struct peer p;
    peer_init(&p, ctx, cctx);
    connect_peer(&p);

    char data[5000];
    fill_pattern(data, sizeof(data), 11);
    client_write(&p, data, sizeof(data));
    p.splain.max = 100;
    ck_assert_int_eq(pump(&p), UV_ENOBUFS);
    ck_assert_uint_eq(p.splain.len, 100);
    ck_assert(memcmp(p.splain.data, data, 100) == 0);
    ck_assert_str_eq(gw_tls_error(p.s), "TLS plaintext buffer full");

    struct gw_buf got;
    gw_buf_init(&got, sizeof(data));
    int rc = UV_ENOBUFS, rounds = 0;
    while (rc == UV_ENOBUFS && rounds++ < 1000) {
        ck_assert_int_eq(gw_buf_append(&got, p.splain.data, p.splain.len), 0);
        gw_buf_reset(&p.splain);
        rc = gw_tls_feed(p.s, NULL, 0, &p.splain, &p.sout);
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(gw_buf_append(&got, p.splain.data, p.splain.len), 0);
    ck_assert_uint_eq(got.len, sizeof(data));
    ck_assert(memcmp(got.data, data, sizeof(data)) == 0);

    /* The connection is fine afterwards. */
    p.splain.max = BUF_MAX;
    p.srv_rc = 0;
    exchange(&p, "resumed");

    /* A caller that keeps feeding into a full buffer hits the cap. */
    p.splain.max = p.splain.len; /* full */
    char *big = gw_xmalloc(BIG);
    fill_pattern(big, BIG, 12);
    client_write(&p, big, BIG);
    size_t n = BIO_ctrl_pending(p.cout);
    ck_assert_uint_gt(n, GW_TLS_INPUT_MAX);
    char *cipher = gw_xmalloc(n);
    ck_assert_int_eq(BIO_read(p.cout, cipher, (int)n), (int)n);
    size_t off = 0;
    rc = 0;
    while (off < n && rc != UV_EPROTO) {
        size_t len = n - off < 65536 ? n - off : 65536;
        rc = gw_tls_feed(p.s, cipher + off, len, &p.splain, &p.sout);
        ck_assert_msg(rc == UV_ENOBUFS || rc == UV_EPROTO, "%d", rc);
        if (rc == UV_ENOBUFS &&
            strcmp(gw_tls_error(p.s), "TLS input backlog over its limit") == 0)
            break;
        off += len;
    }
    ck_assert_uint_le(off, GW_TLS_INPUT_MAX + 65536);
    ck_assert_str_eq(gw_tls_error(p.s), "TLS input backlog over its limit");
    ck_assert_int_eq(gw_tls_feed(p.s, cipher, 10, &p.splain, &p.sout),
                     UV_EPROTO);
    free(cipher);

    free(big);
    gw_buf_free(&got);
    peer_free(&p);
    SSL_CTX_free(cctx);
    gw_tls_ctx_free(ctx);
}
END_TEST

START_TEST(test_out_full)
{
    struct gw_tls_ctx *ctx = server_ctx("s1");
    SSL_CTX *cctx = client_ctx(0, 0, NULL);
    struct peer p;
    peer_init(&p, ctx, cctx);
    connect_peer(&p);
    p.sout.max = 1000;
    char data[5000];
    fill_pattern(data, sizeof(data), 5);
    ck_assert_int_eq(gw_tls_write(p.s, data, sizeof(data), &p.sout),
                     UV_ENOBUFS);
    ck_assert_uint_le(p.sout.len, 1000);
    ck_assert_str_eq(gw_tls_error(p.s), "TLS output buffer full");
    ck_assert_int_eq(gw_tls_write(p.s, "x", 1, &p.sout), UV_EPROTO);
    peer_free(&p);

    /* A handshake that does not fit in out fails instead of truncating. */
    peer_init(&p, ctx, cctx);
    p.sout.max = 10;
    ck_assert_int_eq(pump(&p), UV_ENOBUFS);
    ck_assert_uint_eq(p.sout.len, 0);
    ck_assert(!gw_tls_handshake_done(p.s));
    peer_free(&p);

    SSL_CTX_free(cctx);
    gw_tls_ctx_free(ctx);
}
END_TEST

/* TLS 1.3 key update: the server must answer and keep decrypting. */
START_TEST(test_key_update)
{
    struct gw_tls_ctx *ctx = server_ctx("s1");
    SSL_CTX *cctx = client_ctx(0, 0, NULL);
    struct peer p;
    peer_init(&p, ctx, cctx);
    connect_peer(&p);
    ck_assert_int_eq(SSL_key_update(p.cl, SSL_KEY_UPDATE_REQUESTED), 1);
    exchange(&p, "after-update");
    exchange(&p, "and-again");
    peer_free(&p);
    SSL_CTX_free(cctx);
    gw_tls_ctx_free(ctx);
}
END_TEST

/* TLS 1.2 renegotiation is refused, and nothing breaks on our side. */
START_TEST(test_no_renegotiation)
{
    struct gw_tls_ctx *ctx = server_ctx("s1");
    SSL_CTX *cctx = client_ctx(0, TLS1_2_VERSION, NULL);
    struct peer p;
    peer_init(&p, ctx, cctx);
    connect_peer(&p);
    ck_assert_int_eq(SSL_renegotiate(p.cl), 1);
    int rc = pump(&p);
    /*
     * The server answers the new ClientHello with a no_renegotiation
     * warning, upon which an OpenSSL client gives up with a fatal alert.
     * Without that answer both sides would sit there waiting.
     */
    ck_assert_int_eq(rc, UV_EPROTO);
    ck_assert_msg(strstr(gw_tls_error(p.s), "alert") != NULL, "%s",
                  gw_tls_error(p.s));
    ck_assert_int_eq(SSL_renegotiate_pending(p.cl), 1); /* never happened */
    peer_free(&p);
    SSL_CTX_free(cctx);
    gw_tls_ctx_free(ctx);
}
END_TEST

/* Random bytes before and after the handshake: refused, never stuck. */
START_TEST(test_random_garbage)
{
    struct gw_tls_ctx *ctx = server_ctx("s1");
    SSL_CTX *cctx = client_ctx(0, 0, NULL);
    char junk[4096];
    int refused = 0;
    for (unsigned i = 0; i < 300; i++) {
        struct peer p;
        peer_init(&p, ctx, cctx);
        bool after = i % 2;
        if (after)
            connect_peer(&p);
        fill_pattern(junk, sizeof(junk), i + 100);
        if (i % 3 == 0)
            junk[0] = after ? 0x17 : 0x16;
        if (i % 6 == 0) {
            junk[1] = 0x03;
            junk[2] = 0x03;
        }
        size_t len = 1 + (i * 7919u) % sizeof(junk);
        int rc = gw_tls_feed(p.s, junk, len, &p.splain, &p.sout);
        ck_assert_msg(rc == 0 || rc == UV_EPROTO, "%u: %d", i, rc);
        if (rc == 0)
            rc = gw_tls_feed(p.s, junk, sizeof(junk), &p.splain, &p.sout);
        ck_assert_msg(rc == 0 || rc == UV_EPROTO, "%u: %d", i, rc);
        if (rc == UV_EPROTO) {
            refused++;
            ck_assert_str_ne(gw_tls_error(p.s), "");
        }
        ck_assert_uint_eq(p.splain.len, 0);
        ck_assert_uint_eq(ERR_peek_error(), 0);
        peer_free(&p);
    }
    /* Almost everything is refused at once; a few wait for a record. */
    ck_assert_int_gt(refused, 250);
    SSL_CTX_free(cctx);
    gw_tls_ctx_free(ctx);
}
END_TEST

static Suite *tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("tls");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_ctx_errors);
    tcase_add_test(tc, test_handshake_tls13);
    tcase_add_test(tc, test_handshake_tls12);
    tcase_add_loop_test(tc, test_handshake_byte_by_byte, 0, 2);
    tcase_add_loop_test(tc, test_client_fingerprint, 0, 2);
    tcase_add_loop_test(tc, test_resumption_keeps_fingerprint, 0, 2);
    tcase_add_loop_test(tc, test_data_both_ways, 0, 2);
    tcase_add_test(tc, test_tls11_refused);
    tcase_add_test(tc, test_plaintext_client);
    tcase_add_test(tc, test_bogus_handshake);
    tcase_add_loop_test(tc, test_garbage_after_handshake, 0, 2);
    tcase_add_loop_test(tc, test_close_notify_from_client, 0, 2);
    tcase_add_loop_test(tc, test_server_shutdown, 0, 2);
    tcase_add_test(tc, test_reload_new_cert);
    tcase_add_test(tc, test_reload_failure_keeps_old);
    tcase_add_loop_test(tc, test_write_before_handshake, 0, 2);
    tcase_add_test(tc, test_write_before_handshake_then_close);
    tcase_add_test(tc, test_pending_limit);
    tcase_add_test(tc, test_plain_full);
    tcase_add_test(tc, test_out_full);
    tcase_add_test(tc, test_key_update);
    tcase_add_test(tc, test_no_renegotiation);
    tcase_add_test(tc, test_random_garbage);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/parley-tls-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    if (make_cert("s1", "server1") < 0 || make_cert("s2", "server2") < 0 ||
        make_cert("cl", "client") < 0) {
        fprintf(stderr, "test_tls: cannot make certificates with openssl\n");
        return 1;
    }

    SRunner *sr = srunner_create(tls_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    (void)run(cmd);
    return failed == 0 ? 0 : 1;
}
