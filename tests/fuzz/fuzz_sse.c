/*
 * libFuzzer target for the SSE field parser (gw_sse_parser_*, in
 * gateway/http/gw_sse.c). Bytes from the network arrive cut wherever TCP
 * and curl cut them, so the parser must give the same events, and report
 * the same drops, whether a stream comes whole or in pieces. Every event
 * must also respect the parser's cap and the line structure of SSE.
 *
 * The first input byte picks the cap on one event (small ones reach the
 * drop paths), the second seeds the chunk sizes; the rest is the stream.
 * Built and run by `make fuzz` (longer: make fuzz FUZZ_SECONDS=600).
 */
#include "gw_http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_limits.h"
#include "gw_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every event a feed produced, as "len:event len:data len:id;" so that any
 * byte in a field stays unambiguous. */
struct run {
    size_t max_event;
    struct gw_buf log;
    int dropped; /* feeds that returned UV_ENOBUFS */
};

static void check(int ok)
{
    if (!ok)
        abort();
}

static void on_event(void *arg, const struct gw_sse_event *ev)
{
    struct run *r = arg;
    size_t el = strlen(ev->event), dl = strlen(ev->data), il = strlen(ev->id);

    check(el > 0);
    /* Fields are line contents: no line ends in them, except the LF that
     * joins data lines. */
    check(strpbrk(ev->event, "\r\n") == NULL);
    check(strpbrk(ev->id, "\r\n") == NULL);
    check(strchr(ev->data, '\r') == NULL);
    /* The cap covers data and event name together; the id on its own. */
    check(dl + (strcmp(ev->event, "message") == 0 ? 0 : el) <= r->max_event);
    check(il <= r->max_event);
    check(gw_buf_printf(&r->log, "%zu:%s %zu:%s %zu:%s;", el, ev->event, dl,
                        ev->data, il, ev->id) == 0);
}

static void feed(struct run *r, struct gw_sse_parser *p, const char *s,
                 size_t n)
{
    int rc = gw_sse_parser_feed(p, s, n);
    check(rc == 0 || rc == UV_ENOBUFS);
    r->dropped += rc == UV_ENOBUFS;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    /* 0 is the default cap (GW_SSE_EVENT_MAX); else 1..127 bytes. */
    size_t max_event = data[0] < 128 ? data[0] : 0;
    unsigned seed = data[1];
    const char *s = (const char *)data + 2;
    size_t len = size - 2;

    struct run whole = {.max_event = max_event ? max_event : GW_SSE_EVENT_MAX};
    struct run cut = whole;
    gw_buf_init(&whole.log, (size_t)64 << 20);
    gw_buf_init(&cut.log, (size_t)64 << 20);

    struct gw_sse_parser *p = gw_sse_parser_new(max_event, on_event, &whole);
    check(p != NULL);
    feed(&whole, p, s, len);
    gw_sse_parser_free(p);

    p = gw_sse_parser_new(max_event, on_event, &cut);
    size_t i = 0;
    unsigned x = seed * 2654435761u + 1;
    while (i < len) {
        x = x * 1103515245u + 12345u;
        /* Mostly short pieces, where the cuts fall inside fields, CRLF
         * pairs and the BOM; now and then an empty feed. */
        size_t n = (x >> 16) % 9;
        if (n > len - i)
            n = len - i;
        feed(&cut, p, s + i, n);
        i += n;
    }
    gw_sse_parser_free(p);

    check(whole.log.len == cut.log.len);
    check(whole.log.len == 0 ||
          memcmp(whole.log.data, cut.log.data, whole.log.len) == 0);
    /* A drop is reported by the feed in which it happens: whole or in
     * pieces, the same stream drops something or nothing. */
    check((whole.dropped > 0) == (cut.dropped > 0));
    gw_buf_free(&whole.log);
    gw_buf_free(&cut.log);
    return 0;
}
