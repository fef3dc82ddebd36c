/*
 * TLS for the IRC listener, server side only, over memory BIOs.
 *
 * OpenSSL never touches a socket: libuv owns the fd, reads ciphertext and
 * hands it to gw_tls_feed(); we hand back the plaintext and any ciphertext
 * that must go out (handshake messages, alerts, session tickets, key update
 * answers). Plaintext to send goes through gw_tls_write(), which appends
 * ciphertext to the caller's output buffer for libuv to write. This is how
 * h2o's uv binding does it, and it keeps every OpenSSL call on the loop
 * thread with no blocking I/O (style.md item 22).
 *
 * Ownership: a struct gw_tls_ctx belongs to the ircd (one per configured
 * certificate); a struct gw_tls_conn belongs to one client. A connection
 * holds its own reference to the SSL_CTX it was made from, so the context
 * may be reloaded or freed while connections are still open. Neither type
 * has any global state; both are used from one thread.
 *
 * Protocols: TLS 1.2 and 1.3 only; renegotiation is refused. A client may
 * present a certificate (never required, never chain-verified): we only
 * want its SHA-256 fingerprint for SASL EXTERNAL. The client still has to
 * prove it holds the key (CertificateVerify), which OpenSSL checks whatever
 * the verify callback says.
 *
 * Errors are negative libuv codes. After UV_EPROTO (or a UV_ENOBUFS on out)
 * the connection is dead: every later call fails the same way, and the
 * caller writes whatever is in out (an alert) and closes.
 */
#ifndef GW_TLS_H
#define GW_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "gw_limits.h"
#include "gw_util.h"

/*
 * Plaintext written before the handshake completes (the ircd may greet a
 * client at once), or while OpenSSL waits for input in the middle of a
 * write. 64 KiB holds any registration burst; more means the client is
 * not completing the handshake and can be dropped.
 */
#ifndef GW_TLS_PENDING_MAX
#define GW_TLS_PENDING_MAX (64 * 1024)
#endif

/*
 * Ciphertext received but not yet decrypted. It only accumulates when the
 * caller's plaintext buffer is full (UV_ENOBUFS) and the caller keeps
 * feeding; a few libuv reads' worth is plenty.
 */
#ifndef GW_TLS_INPUT_MAX
#define GW_TLS_INPUT_MAX (256 * 1024)
#endif

struct gw_tls_ctx;  /* SSL_CTX + the cert/key paths */
struct gw_tls_conn; /* one connection: SSL + its two memory BIOs */

/*
 * Load cert (PEM chain, leaf first) and key (PEM) into a new server
 * context; *out is freed with gw_tls_ctx_free(). The paths are copied and
 * kept for gw_tls_ctx_reload(). On failure *out is NULL and err gets
 * "tls_cert /path: reason" or "tls_key /path: reason" (reason is
 * ERR_error_string_n text of the first OpenSSL error, e.g. "error:80000002:
 * system library::No such file or directory"); the return value is
 * -errno when the root cause is a system error (UV_ENOENT, UV_EACCES),
 * UV_EINVAL otherwise (bad PEM, key does not match the certificate, NULL
 * path). Clients may present a certificate (SSL_VERIFY_PEER with a verify
 * callback that accepts any certificate: we only want its fingerprint for
 * SASL EXTERNAL), never required.
 */
int gw_tls_ctx_new(struct gw_tls_ctx **out, const char *cert, const char *key,
                   char *err, size_t errlen);
/*
 * SIGHUP: load the same paths again; on success new connections use the
 * new certificate, existing ones keep theirs (SSL_CTX is reference
 * counted); on failure the old one stays, err says why and the return
 * value is as for gw_tls_ctx_new(). Session tickets issued under the old
 * context are not accepted by the new one (those clients do a full
 * handshake).
 */
int gw_tls_ctx_reload(struct gw_tls_ctx *ctx, char *err, size_t errlen);
/* NULL-safe. Open connections stay valid and must be freed on their own. */
void gw_tls_ctx_free(struct gw_tls_ctx *ctx);

/*
 * A new server-side connection using ctx's current certificate; freed with
 * gw_tls_conn_free(). NULL if ctx is NULL or OpenSSL could not allocate
 * (the caller closes the socket).
 */
struct gw_tls_conn *gw_tls_conn_new(struct gw_tls_ctx *ctx);
/* NULL-safe. Sends nothing: call gw_tls_shutdown() first for a clean close. */
void gw_tls_conn_free(struct gw_tls_conn *c);

/*
 * Feed ciphertext read from the socket. Decrypted bytes are appended to
 * plain (a bounded struct gw_buf from gw_util.h: UV_ENOBUFS if it would
 * overflow — then stop and let the caller close). Any ciphertext the
 * handshake or alerts produce is appended to out. Returns 0, or a negative
 * UV_* code on a fatal TLS error (UV_EPROTO) with a human reason available
 * from gw_tls_error(c), or UV_EOF after a close_notify.
 *
 * Details:
 * - Write out to the socket whatever the return value: after UV_EPROTO it
 *   holds the alert, after UV_EOF our own close_notify.
 * - plain may have grown even when the return value is negative: data that
 *   preceded a close_notify or a corrupt record is delivered first.
 * - UV_ENOBUFS on plain leaves plain exactly full and keeps the rest inside
 *   the connection, undamaged. A caller that would rather pause than close
 *   may consume from plain and call gw_tls_feed(c, NULL, 0, plain, out) to
 *   continue. Undecrypted input is capped at GW_TLS_INPUT_MAX; past that
 *   the feed fails with UV_ENOBUFS and the connection is dead.
 * - Plaintext written before the handshake completed is encrypted into out
 *   as soon as it does.
 * - A plaintext client on the TLS port (first byte is not a TLS handshake
 *   record) fails at once with UV_EPROTO; if it looks like text (an IRC
 *   client with TLS turned off) out also gets a plaintext
 *   "ERROR :..." line telling the user to turn TLS on.
 * - Input after UV_EPROTO returns UV_EPROTO; after UV_EOF returns UV_EOF.
 */
int gw_tls_feed(struct gw_tls_conn *c, const char *cipher, size_t len,
                struct gw_buf *plain, struct gw_buf *out);
/*
 * Encrypt plaintext; ciphertext is appended to out. Before the handshake
 * completes, plaintext is buffered internally (bounded, GW_TLS_PENDING_MAX)
 * and flushed into out as soon as it completes (from gw_tls_feed).
 * Returns 0; UV_ENOBUFS if the internal buffer is full (nothing of this
 * call is kept; the connection survives) or if out would overflow (the
 * connection is dead: part of a record may be missing); UV_EPIPE after
 * gw_tls_shutdown() or a close_notify from the peer; UV_EPROTO after a
 * fatal error.
 */
int gw_tls_write(struct gw_tls_conn *c, const char *plain, size_t len,
                 struct gw_buf *out);
/*
 * Queue a close_notify into out (after any plaintext still buffered, if
 * the handshake is done). Before the handshake completes there is nothing
 * to close politely, so nothing is queued and pending plaintext is
 * dropped. Idempotent; later writes return UV_EPIPE.
 */
void gw_tls_shutdown(struct gw_tls_conn *c, struct gw_buf *out);
bool gw_tls_handshake_done(const struct gw_tls_conn *c);
/*
 * SHA-256 of the client's certificate (DER) as lowercase hex (64 chars,
 * no colons: what `openssl x509 -fingerprint -sha256` prints, lowercased
 * and without the colons) or NULL when the client sent none or the
 * handshake is not done. Also set for resumed sessions. The string lives
 * as long as c.
 */
const char *gw_tls_peer_fingerprint(const struct gw_tls_conn *c);
/* "TLSv1.3" or "TLSv1.2"; "" until the handshake is done. Static string. */
const char *gw_tls_version(const struct gw_tls_conn *c);
/* The last error ("" if none); lives as long as c. */
const char *gw_tls_error(const struct gw_tls_conn *c);

/*
 * The client side, for relays into other IRC networks: a context that
 * trusts the system's CAs and ca (a PEM file, or NULL), verifying the
 * server unless verify is false. Same ownership as the server context.
 * On failure err says why ("tls_ca /path: ...").
 */
int gw_tls_client_ctx_new(struct gw_tls_ctx **out, const char *ca, bool verify,
                          char *err, size_t errlen);
/*
 * A connection to host (a name, sent as SNI and checked against the
 * certificate, or an IP address checked as one). NULL on allocation
 * failure. Freed with gw_tls_conn_free(); fed and written as a server
 * connection is. A certificate that is refused fails the handshake with
 * gw_tls_error() naming why ("certificate is not accepted: self-signed
 * certificate", "... hostname mismatch").
 */
struct gw_tls_conn *gw_tls_client_new(struct gw_tls_ctx *ctx, const char *host);
/* The ClientHello into out: call once, after the TCP connection is up. */
int gw_tls_client_start(struct gw_tls_conn *c, struct gw_buf *out);

#endif
