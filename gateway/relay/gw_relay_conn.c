/*
 * One relay connection: the server's name resolved with uv_getaddrinfo, a
 * TCP connection (and a TLS session over memory BIOs, gw_tls.c), and the
 * hop that libircclient talks through: a listener on 127.0.0.1 that
 * accepts only libircclient's own connection (its port is checked), whose
 * bytes we pump to the server and back. libircclient's socket is watched
 * with a uv_poll_t, for writing only while it has output waiting.
 *
 * On the way up we say CAP LS first and answer CAP and SASL ourselves:
 * libircclient sends NICK and USER as soon as its socket connects, and
 * cannot send anything before them. On the way down every line is parsed,
 * stripped of tags and re-made within 512 bytes, so libircclient (1 KiB
 * buffer, no tags) never sees what it cannot take.
 *
 * A connection is its own object with its own handles: it is freed when
 * the last of them is closed, and the relay is then told it is gone.
 */
#include "gw_relay_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>

#include <openssl/evp.h>

#include "gw_gateway.h"
#include "gw_ircmsg.h"
#include "gw_tls.h"

/* Largest read handed to us at once. */
#define READ_CHUNK 16384

struct relay_conn {
    struct gw_relay *rl;
    int handles;     /* open handles and pending requests */
    bool closing;    /* nothing more is processed */
    bool closed;     /* the handles are being closed */
    bool in_irc;     /* inside libircclient: dropping waits for the return */
    bool drop_after; /* ... and was asked for */
    char drop_why[300];
    uv_getaddrinfo_t gai;
    bool gai_active;
    struct addrinfo *addrs, *next_addr;
    bool want_next;        /* try the next address once the handle is closed */
    uv_timer_t quit_timer; /* a QUIT that does not go out in time */
    bool quit_timer_open;
    uv_connect_t connect_req;
    uv_tcp_t up; /* to the server */
    bool up_open, up_ready;
    uv_shutdown_t shutdown_req;
    uv_tcp_t listener; /* 127.0.0.1:port for libircclient */
    bool listener_open;
    uv_tcp_t hop; /* our end of libircclient's connection */
    bool hop_open, hop_ready;
    uv_poll_t poll; /* libircclient's socket */
    bool poll_open;
    int poll_events;
    irc_session_t *session;
    int irc_port; /* libircclient's local port: the only one accepted */
    bool hop_started;
    struct gw_tls_conn *tls;
    struct gw_buf plain; /* from the server, decrypted, a partial line */
    struct gw_buf early; /* for libircclient before its connection came */
    size_t up_pending, hop_pending; /* bytes handed to uv_write */
    bool caps_asked, sasl_asked;
    char caps_want[128];
    char rbuf[READ_CHUNK];
};

struct wreq {
    uv_write_t req;
    struct relay_conn *c;
    bool up;
    size_t len;
    char data[];
};

static void conn_close(struct relay_conn *c);

/* ---- small things ------------------------------------------------------- */

irc_session_t *gw_relay__session(struct gw_relay *rl)
{
    struct relay_conn *c = rl->conn;
    return c != NULL && !c->closing ? c->session : NULL;
}

bool gw_relay__tls_on(const struct gw_relay *rl)
{
    return rl->cfg.tls;
}

static void conn_free(struct relay_conn *c)
{
    struct gw_relay *rl = c->rl;
    if (c->addrs != NULL)
        uv_freeaddrinfo(c->addrs);
    gw_tls_conn_free(c->tls);
    gw_buf_free(&c->plain);
    gw_buf_free(&c->early);
    free(c);
    if (rl->conn == c)
        rl->conn = NULL;
    gw_relay__conn_gone(rl);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct relay_conn *c = h->data;
    if (--c->handles == 0)
        conn_free(c);
}

void gw_relay__drop(struct gw_relay *rl, const char *why)
{
    struct relay_conn *c = rl->conn;
    if (c == NULL || c->closing)
        return;
    if (c->in_irc) {
        /* libircclient is on the stack: its session must outlive it. */
        if (!c->drop_after)
            gw_strlcpy(c->drop_why, why, sizeof(c->drop_why));
        c->drop_after = true;
        return;
    }
    gw_relay__error(rl, "%s", why);
    conn_close(c);
}

/* ---- writing ------------------------------------------------------------ */

static void on_written(uv_write_t *req, int status)
{
    struct wreq *w = gw_container_of(req, struct wreq, req);
    struct relay_conn *c = w->c;
    bool up = w->up;
    if (up)
        c->up_pending -= w->len;
    else
        c->hop_pending -= w->len;
    free(w);
    if (status < 0 && status != UV_ECANCELED && !c->closing) {
        char why[200];
        snprintf(why, sizeof(why), "cannot write to %s: %s",
                 up ? "the server" : "libircclient", uv_strerror(status));
        gw_relay__drop(c->rl, why);
    }
}

static int stream_write(struct relay_conn *c, bool up, const char *data,
                        size_t len)
{
    if (len == 0)
        return 0;
    size_t *pending = up ? &c->up_pending : &c->hop_pending;
    if (*pending + len > GW_RELAY_PUMP_MAX) {
        gw_relay__drop(c->rl, up ? "the server does not read what we send"
                                 : "libircclient does not read");
        return UV_ENOBUFS;
    }
    struct wreq *w = gw_xmalloc(sizeof(*w) + len);
    w->c = c;
    w->up = up;
    w->len = len;
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init(w->data, (unsigned int)len);
    int rc = uv_write(&w->req, (uv_stream_t *)(up ? &c->up : &c->hop), &b, 1,
                      on_written);
    if (rc < 0) {
        free(w);
        return rc;
    }
    *pending += len;
    return 0;
}

/* Bytes for the server: through TLS when it is on. */
static void up_send(struct relay_conn *c, const char *data, size_t len)
{
    if (c->closing || !c->up_ready)
        return;
    if (c->tls == NULL) {
        stream_write(c, true, data, len);
        return;
    }
    struct gw_buf out;
    gw_buf_init(&out, GW_RELAY_PUMP_MAX);
    int rc = gw_tls_write(c->tls, data, len, &out);
    stream_write(c, true, out.data, out.len);
    gw_buf_free(&out);
    if (rc < 0)
        gw_relay__drop(c->rl, gw_tls_error(c->tls));
}

static void up_sendf(struct relay_conn *c, const char *fmt, ...)
    GW_PRINTF(2, 3);

static void up_sendf(struct relay_conn *c, const char *fmt, ...)
{
    char line[GW_IRC_LINE_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(line) - 3)
        n = (int)sizeof(line) - 3;
    line[n++] = '\r';
    line[n++] = '\n';
    /* Servers count every command against the flood limit, CAP and
     * AUTHENTICATE included: so does the bucket. */
    gw_relay_bucket_charge(&c->rl->bucket, gw_now_ms());
    up_send(c, line, (size_t)n);
}

/* Bytes for libircclient, kept until its connection is there. */
static void hop_send(struct relay_conn *c, const char *data, size_t len)
{
    if (c->closing)
        return;
    if (!c->hop_ready) {
        if (gw_buf_append(&c->early, data, len) < 0)
            gw_relay__drop(c->rl, "libircclient did not connect");
        return;
    }
    stream_write(c, false, data, len);
}

/* ---- libircclient's socket ---------------------------------------------- */

static void on_poll(uv_poll_t *h, int status, int events);

void gw_relay__poll_update(struct gw_relay *rl)
{
    struct relay_conn *c = rl->conn;
    if (c == NULL || c->closing || !c->poll_open || c->session == NULL)
        return;
    fd_set in, out;
    int maxfd = 0;
    FD_ZERO(&in);
    FD_ZERO(&out);
    if (irc_add_select_descriptors(c->session, &in, &out, &maxfd) != 0)
        return;
    int ev = 0;
    for (int fd = 0; fd <= maxfd; fd++) {
        if (FD_ISSET(fd, &in))
            ev |= UV_READABLE;
        if (FD_ISSET(fd, &out))
            ev |= UV_WRITABLE;
    }
    if (ev == c->poll_events)
        return;
    c->poll_events = ev;
    if (ev == 0)
        uv_poll_stop(&c->poll);
    else
        uv_poll_start(&c->poll, ev, on_poll);
}

static void after_irc(struct relay_conn *c)
{
    struct gw_relay *rl = c->rl;
    c->in_irc = false;
    if (c->drop_after) {
        c->drop_after = false;
        gw_relay__drop(rl, c->drop_why);
        return;
    }
    gw_relay__poll_update(rl);
    if (rl->send_blocked) {
        rl->send_blocked = false;
        gw_relay__pump(rl);
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct relay_conn *c = h->data;
    if (c->closing || c->session == NULL)
        return;
    int fd = -1;
    uv_fileno((uv_handle_t *)h, &fd);
    fd_set in, out;
    FD_ZERO(&in);
    FD_ZERO(&out);
    /* An error shows as both, so that libircclient reads and fails. */
    if ((events & UV_READABLE) || status < 0)
        FD_SET(fd, &in);
    if ((events & UV_WRITABLE) || status < 0)
        FD_SET(fd, &out);
    c->in_irc = true;
    int rc = irc_process_select_descriptors(c->session, &in, &out);
    if (rc != 0 && !c->drop_after) {
        char why[200];
        snprintf(why, sizeof(why), "libircclient: %s",
                 irc_strerror(irc_errno(c->session)));
        gw_strlcpy(c->drop_why, why, sizeof(c->drop_why));
        c->drop_after = true;
    }
    after_irc(c);
}

/* ---- CAP and SASL, before libircclient registers ----------------------- */

static bool cap_listed(const char *list, const char *cap)
{
    size_t n = strlen(cap);
    for (const char *p = list; *p;) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " =");
        if (w == n && strncmp(p, cap, n) == 0)
            return true;
        p += strcspn(p, " ");
    }
    return false;
}

static void cap_end(struct relay_conn *c)
{
    up_sendf(c, "CAP END");
}

/* CAP from the server: answered here, never shown to libircclient. */
static void on_cap(struct relay_conn *c, const struct gw_irc_msg *m)
{
    struct gw_relay *rl = c->rl;
    if (m->nparams < 3)
        return;
    const char *sub = m->params[1];
    const char *list = m->params[m->nparams - 1];
    bool more = m->nparams >= 4 && strcmp(m->params[2], "*") == 0;
    if (strcmp(sub, "LS") == 0 && !c->caps_asked) {
        static const char *const wanted[] = {"sasl", "extended-join",
                                             "account-notify"};
        for (size_t i = 0; i < GW_ARRAY_LEN(wanted); i++) {
            bool sasl = strcmp(wanted[i], "sasl") == 0;
            size_t have = strlen(c->caps_want);
            if ((!sasl || rl->cfg.sasl_user != NULL) &&
                cap_listed(list, wanted[i]) &&
                !cap_listed(c->caps_want, wanted[i]))
                snprintf(c->caps_want + have, sizeof(c->caps_want) - have,
                         "%s%s", have ? " " : "", wanted[i]);
        }
        if (more)
            return;
        c->caps_asked = true;
        if (rl->cfg.sasl_user != NULL && !cap_listed(c->caps_want, "sasl")) {
            gw_relay__drop(rl, "the server does not offer SASL, and "
                               "sasl_user is set: not signing in without it");
            return;
        }
        if (c->caps_want[0])
            up_sendf(c, "CAP REQ :%s", c->caps_want);
        else
            cap_end(c);
    } else if (strcmp(sub, "ACK") == 0) {
        if (cap_listed(list, "sasl") && rl->cfg.sasl_user != NULL &&
            !c->sasl_asked) {
            c->sasl_asked = true;
            up_sendf(c, "AUTHENTICATE PLAIN");
        } else if (!c->sasl_asked) {
            cap_end(c);
        }
    } else if (strcmp(sub, "NAK") == 0) {
        if (rl->cfg.sasl_user != NULL) {
            gw_relay__drop(rl, "the server refused CAP REQ sasl");
            return;
        }
        cap_end(c);
    }
}

static void on_authenticate(struct relay_conn *c)
{
    struct gw_relay *rl = c->rl;
    const char *u = rl->cfg.sasl_user, *p = rl->cfg.sasl_password;
    if (u == NULL || p == NULL)
        return;
    char plain[600];
    size_t ul = strlen(u), pl = strlen(p);
    if (2 * ul + pl + 2 > sizeof(plain)) {
        gw_relay__drop(rl, "sasl_user or sasl_password is too long");
        return;
    }
    memcpy(plain, u, ul);
    plain[ul] = '\0';
    memcpy(plain + ul + 1, u, ul);
    plain[2 * ul + 1] = '\0';
    memcpy(plain + 2 * ul + 2, p, pl);
    unsigned char b64[820];
    int n = EVP_EncodeBlock(b64, (const unsigned char *)plain,
                            (int)(2 * ul + 2 + pl));
    memset(plain, 0, sizeof(plain));
    /* AUTHENTICATE takes 400 bytes a line; a last full chunk is followed
     * by "+". */
    for (int off = 0; off < n; off += 400) {
        int len = n - off < 400 ? n - off : 400;
        up_sendf(c, "AUTHENTICATE %.*s", len, (const char *)b64 + off);
    }
    if (n % 400 == 0)
        up_sendf(c, "AUTHENTICATE +");
    memset(b64, 0, sizeof(b64));
}

/*
 * One line from the server. What libircclient needs goes on to it,
 * without tags and within 512 bytes; CAP and SASL stop here.
 */
static void up_line(struct relay_conn *c, char *line, size_t len)
{
    struct gw_relay *rl = c->rl;
    rl->last_rx_ms = gw_now_ms();
    rl->ping_sent_ms = 0;
    char copy[GW_IRC_WIRE_MAX + 1];
    if (len > GW_IRC_WIRE_MAX)
        len = GW_IRC_WIRE_MAX;
    memcpy(copy, line, len);
    /* A message part too long for the parser is cut to what fits. */
    char *msgpart = copy;
    if (copy[0] == '@') {
        char *sp = memchr(copy, ' ', len);
        if (sp == NULL)
            return;
        msgpart = sp + 1;
        while (*msgpart == ' ')
            msgpart++;
    }
    size_t mlen = len - (size_t)(msgpart - copy);
    if (mlen > GW_IRC_LINE_MAX - 2)
        mlen = gw_utf8_cut(msgpart, GW_IRC_LINE_MAX - 2);
    struct gw_irc_msg m;
    if (gw_ircmsg_parse(&m, msgpart, mlen) < 0)
        return;
    m.ntags = 0;
    const char *cmd = m.command;
    if (strcmp(cmd, "CAP") == 0) {
        on_cap(c, &m);
        return;
    }
    if (strcmp(cmd, "AUTHENTICATE") == 0) {
        if (m.nparams >= 1 && strcmp(m.params[0], "+") == 0)
            on_authenticate(c);
        return;
    }
    if (strcmp(cmd, "903") == 0) {
        cap_end(c);
        return;
    }
    if (strcmp(cmd, "902") == 0 || strcmp(cmd, "904") == 0 ||
        strcmp(cmd, "905") == 0 || strcmp(cmd, "906") == 0 ||
        strcmp(cmd, "908") == 0) {
        char why[300];
        snprintf(why, sizeof(why), "SASL PLAIN as %s failed: %s %s",
                 rl->cfg.sasl_user ? rl->cfg.sasl_user : "?", cmd,
                 m.nparams ? m.params[m.nparams - 1] : "");
        gw_relay__drop(rl, why);
        return;
    }
    /* libircclient reads params[1] of these without looking. */
    if ((strcmp(cmd, "PRIVMSG") == 0 || strcmp(cmd, "NOTICE") == 0) &&
        (m.nparams < 2 || m.params[1][0] == '\0'))
        return;
    char out[GW_IRC_LINE_MAX + 1];
    int n = gw_ircmsg_format(out, sizeof(out), &m);
    if (n > 0)
        hop_send(c, out, (size_t)n);
}

/* Whole lines out of c->plain; a line that never ends is cut. */
static void up_lines(struct relay_conn *c)
{
    size_t start = 0;
    while (!c->closing && start < c->plain.len) {
        char *data = c->plain.data + start;
        size_t left = c->plain.len - start;
        char *nl = memchr(data, '\n', left);
        size_t len;
        if (nl != NULL)
            len = (size_t)(nl - data);
        else if (left > GW_IRC_WIRE_MAX)
            len = left;
        else
            break;
        size_t used = nl != NULL ? len + 1 : len;
        if (len > 0 && data[len - 1] == '\r')
            len--;
        if (len > 0)
            up_line(c, data, len);
        start += used;
    }
    gw_buf_consume(&c->plain, start);
}

/* ---- the hop ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct relay_conn *c = h->data;
    *buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_hop_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct relay_conn *c = s->data;
    if (c->closing || n == 0)
        return;
    if (n < 0) {
        gw_relay__drop(c->rl, "libircclient closed its connection");
        return;
    }
    up_send(c, buf->base, (size_t)n);
}

static int local_port(int fd, bool peer)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
                  : getsockname(fd, (struct sockaddr *)&ss, &len);
    if (rc < 0 || ss.ss_family != AF_INET)
        return -1;
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void on_hop_connection(uv_stream_t *server, int status)
{
    struct relay_conn *c = server->data;
    if (c->closing || status < 0 || c->hop_open)
        return;
    uv_tcp_init(c->rl->gw->loop, &c->hop);
    c->hop.data = c;
    c->handles++;
    c->hop_open = true;
    int fd = -1;
    if (uv_accept(server, (uv_stream_t *)&c->hop) < 0 ||
        uv_fileno((uv_handle_t *)&c->hop, &fd) < 0 ||
        local_port(fd, true) != c->irc_port) {
        /* Someone else on this machine: not ours to serve. */
        c->hop_open = false;
        uv_close((uv_handle_t *)&c->hop, on_handle_closed);
        return;
    }
    /* Lines are small and interactive: no Nagle delay on either end. */
    uv_tcp_nodelay(&c->hop, 1);
    c->hop_ready = true;
    c->listener_open = false;
    uv_close((uv_handle_t *)&c->listener, on_handle_closed);
    uv_read_start((uv_stream_t *)&c->hop, on_alloc, on_hop_read);
    stream_write(c, false, c->early.data, c->early.len);
    gw_buf_reset(&c->early);
}

/* The server is reachable (and TLS is up): let libircclient in. */
static void start_hop(struct relay_conn *c)
{
    struct gw_relay *rl = c->rl;
    char why[300];
    c->hop_started = true;
    /* Before libircclient's NICK and USER: registration now waits for
     * CAP END, which we send. */
    up_sendf(c, "CAP LS 302");
    uv_tcp_init(rl->gw->loop, &c->listener);
    c->listener.data = c;
    c->handles++;
    c->listener_open = true;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    int fd = -1;
    int rc = uv_tcp_bind(&c->listener, (const struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&c->listener, 1, on_hop_connection);
    if (rc == 0)
        rc = uv_fileno((uv_handle_t *)&c->listener, &fd);
    int port = rc == 0 ? local_port(fd, false) : -1;
    if (port <= 0) {
        snprintf(why, sizeof(why), "cannot listen on 127.0.0.1: %s",
                 uv_strerror(rc < 0 ? rc : UV_EINVAL));
        gw_relay__drop(rl, why);
        return;
    }
    irc_callbacks_t cb;
    gw_relay__callbacks(&cb);
    c->session = irc_create_session(&cb);
    if (c->session == NULL) {
        gw_relay__drop(rl, "libircclient: cannot create a session");
        return;
    }
    irc_set_ctx(c->session, rl);
    /* libircclient's PASS, NICK and USER count too. */
    for (int i = rl->cfg.password != NULL ? 0 : 1; i < 3; i++)
        gw_relay_bucket_charge(&rl->bucket, gw_now_ms());
    if (irc_connect(c->session, "127.0.0.1", (unsigned short)port,
                    rl->cfg.password, rl->nick, "parley",
                    "Parley, a social inbox") != 0) {
        snprintf(why, sizeof(why), "libircclient: %s",
                 irc_strerror(irc_errno(c->session)));
        gw_relay__drop(rl, why);
        return;
    }
    fd_set in, out;
    int maxfd = -1;
    FD_ZERO(&in);
    FD_ZERO(&out);
    irc_add_select_descriptors(c->session, &in, &out, &maxfd);
    c->irc_port = maxfd >= 0 ? local_port(maxfd, false) : -1;
    if (c->irc_port <= 0 ||
        uv_poll_init_socket(rl->gw->loop, &c->poll, maxfd) < 0) {
        gw_relay__drop(rl, "libircclient: no socket to watch");
        return;
    }
    c->poll.data = c;
    c->handles++;
    c->poll_open = true;
    int one = 1;
    setsockopt(maxfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    gw_relay__poll_update(rl);
}

/* ---- the server --------------------------------------------------------- */

static void on_up_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct relay_conn *c = s->data;
    struct gw_relay *rl = c->rl;
    if (c->closing || n == 0)
        return;
    if (n < 0) {
        char why[200];
        snprintf(why, sizeof(why), "connection to %s closed%s%s",
                 rl->cfg.server, n == UV_EOF ? "" : ": ",
                 n == UV_EOF ? "" : uv_strerror((int)n));
        gw_relay__drop(rl, why);
        return;
    }
    if (c->tls == NULL) {
        if (gw_buf_append(&c->plain, buf->base, (size_t)n) < 0) {
            gw_relay__drop(rl, "the server sent too much at once");
            return;
        }
    } else {
        struct gw_buf out;
        gw_buf_init(&out, GW_RELAY_PUMP_MAX);
        int rc = gw_tls_feed(c->tls, buf->base, (size_t)n, &c->plain, &out);
        stream_write(c, true, out.data, out.len);
        gw_buf_free(&out);
        if (rc < 0 && rc != UV_EOF) {
            gw_relay__drop(rl, gw_tls_error(c->tls));
            return;
        }
        if (!c->hop_started && gw_tls_handshake_done(c->tls))
            start_hop(c);
        if (rc == UV_EOF) {
            up_lines(c);
            gw_relay__drop(rl, "the server closed the TLS connection");
            return;
        }
    }
    up_lines(c);
}

static void try_connect(struct relay_conn *c);

static void on_up_closed(uv_handle_t *h)
{
    struct relay_conn *c = h->data;
    c->handles--;
    if (!c->closing && c->want_next) {
        c->want_next = false;
        try_connect(c);
    } else if (c->handles == 0) {
        conn_free(c);
    }
}

static void on_connected(uv_connect_t *req, int status)
{
    struct relay_conn *c = req->data;
    struct gw_relay *rl = c->rl;
    if (c->closing)
        return;
    if (status < 0) {
        char why[300];
        snprintf(why, sizeof(why), "cannot connect to %s: %s", rl->cfg.server,
                 uv_strerror(status));
        gw_strlcpy(rl->last_error, why, sizeof(rl->last_error));
        if (c->next_addr == NULL) {
            gw_relay__drop(rl, why);
            return;
        }
        /* The next address, once this handle is closed. */
        c->up_open = false;
        c->want_next = true;
        uv_close((uv_handle_t *)&c->up, on_up_closed);
        return;
    }
    c->up_ready = true;
    uv_tcp_nodelay(&c->up, 1);
    uv_tcp_keepalive(&c->up, 1, 60);
    uv_read_start((uv_stream_t *)&c->up, on_alloc, on_up_read);
    if (rl->tls == NULL) {
        start_hop(c);
        return;
    }
    c->tls = gw_tls_client_new(rl->tls, rl->cfg.host);
    if (c->tls == NULL) {
        gw_relay__drop(rl, "TLS: cannot make a connection (out of memory?)");
        return;
    }
    struct gw_buf out;
    gw_buf_init(&out, GW_RELAY_PUMP_MAX);
    int rc = gw_tls_client_start(c->tls, &out);
    stream_write(c, true, out.data, out.len);
    gw_buf_free(&out);
    if (rc < 0)
        gw_relay__drop(rl, gw_tls_error(c->tls));
}

static void try_connect(struct relay_conn *c)
{
    struct addrinfo *ai = c->next_addr;
    c->next_addr = ai->ai_next;
    uv_tcp_init(c->rl->gw->loop, &c->up);
    c->up.data = c;
    c->handles++;
    c->up_open = true;
    c->connect_req.data = c;
    int rc = uv_tcp_connect(&c->connect_req, &c->up, ai->ai_addr, on_connected);
    if (rc < 0) {
        char why[300];
        snprintf(why, sizeof(why), "cannot connect to %s: %s",
                 c->rl->cfg.server, uv_strerror(rc));
        gw_relay__drop(c->rl, why);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct relay_conn *c = req->data;
    c->handles--;
    c->gai_active = false;
    if (c->closing) {
        if (res != NULL)
            uv_freeaddrinfo(res);
        if (c->handles == 0)
            conn_free(c);
        return;
    }
    if (status < 0 || res == NULL) {
        char why[300];
        snprintf(why, sizeof(why), "cannot resolve %s: %s", c->rl->cfg.host,
                 uv_strerror(status < 0 ? status : UV_EAI_NONAME));
        gw_relay__drop(c->rl, why);
        return;
    }
    c->addrs = c->next_addr = res;
    try_connect(c);
}

int gw_relay__connect(struct gw_relay *rl)
{
    struct relay_conn *c = gw_xcalloc(1, sizeof(*c));
    c->rl = rl;
    gw_buf_init(&c->plain, GW_RELAY_PUMP_MAX);
    gw_buf_init(&c->early, GW_RELAY_PUMP_MAX);
    rl->conn = c;
    char port[16];
    snprintf(port, sizeof(port), "%d", rl->cfg.port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    c->gai.data = c;
    c->handles++;
    c->gai_active = true;
    int rc = uv_getaddrinfo(rl->gw->loop, &c->gai, on_resolved, rl->cfg.host,
                            port, &hints);
    if (rc < 0) {
        c->handles--;
        rl->conn = NULL;
        gw_buf_free(&c->plain);
        gw_buf_free(&c->early);
        free(c);
        return rc;
    }
    return 0;
}

/* ---- closing ------------------------------------------------------------ */

static void conn_close(struct relay_conn *c)
{
    if (c->closed)
        return;
    c->closed = c->closing = true;
    if (c->quit_timer_open) {
        c->quit_timer_open = false;
        uv_close((uv_handle_t *)&c->quit_timer, on_handle_closed);
    }
    /* The poll handle first, while libircclient's fd is still open: libuv
     * takes it out of epoll on close. Then the session closes the fd. */
    if (c->poll_open) {
        c->poll_open = false;
        uv_close((uv_handle_t *)&c->poll, on_handle_closed);
    }
    if (c->session != NULL) {
        irc_destroy_session(c->session);
        c->session = NULL;
    }
    if (c->listener_open) {
        c->listener_open = false;
        uv_close((uv_handle_t *)&c->listener, on_handle_closed);
    }
    if (c->hop_open) {
        c->hop_open = false;
        uv_close((uv_handle_t *)&c->hop, on_handle_closed);
    }
    if (c->up_open) {
        c->up_open = false;
        uv_close((uv_handle_t *)&c->up, on_handle_closed);
    }
    /* A lookup still running finishes with UV_EAI_CANCELED (or not at
     * all cancellable: its callback frees then). */
    if (c->gai_active)
        uv_cancel((uv_req_t *)&c->gai);
    if (c->handles == 0)
        conn_free(c);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    struct relay_conn *c = req->data;
    conn_close(c);
}

static void on_quit_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

void gw_relay__quit(struct gw_relay *rl, const char *reason)
{
    struct relay_conn *c = rl->conn;
    if (c == NULL || c->closing)
        return;
    if (!c->up_ready || c->in_irc) {
        gw_relay__drop(rl, reason);
        return;
    }
    up_sendf(c, "QUIT :%s", reason);
    if (c->tls != NULL) {
        struct gw_buf out;
        gw_buf_init(&out, GW_RELAY_PUMP_MAX);
        gw_tls_shutdown(c->tls, &out);
        stream_write(c, true, out.data, out.len);
        gw_buf_free(&out);
    }
    /* Nothing more from libircclient; the QUIT goes out, then we close. */
    if (c->poll_open) {
        c->poll_open = false;
        uv_close((uv_handle_t *)&c->poll, on_handle_closed);
    }
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->up, on_shutdown) < 0) {
        conn_close(c);
        return;
    }
    c->closing = true;
    /* A server that does not read must not hold up a stop. */
    uv_timer_init(rl->gw->loop, &c->quit_timer);
    c->quit_timer.data = c;
    c->handles++;
    c->quit_timer_open = true;
    uv_timer_start(&c->quit_timer, on_quit_timeout, 2000, 0);
}
