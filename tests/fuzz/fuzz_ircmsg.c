/*
 * libFuzzer target for gateway/gw_ircmsg.c.
 *
 * Each input is one line as the reader would hand it over (but may hold
 * any byte). It is parsed; a line that parses is serialized, and the
 * output must be a well-framed line that parses back to the same message.
 * The UTF-8 helpers get the same bytes: repair must always yield valid
 * UTF-8, leave valid input alone, and cut must never grow a string.
 *
 * Built and run by `make fuzz` (longer: make fuzz FUZZ_SECONDS=600).
 */
#include "gw_ircmsg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_MAX (GW_IRC_WIRE_MAX + 1)

static void check(int ok)
{
    if (!ok) {
        abort();
    }
}

static int same_str(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return strcmp(a, b) == 0;
}

static void round_trip(const struct gw_irc_msg *m)
{
    static char out[OUT_MAX];
    struct gw_irc_msg back;
    const char *msg;
    char *copy;
    int n;

    n = gw_ircmsg_format(out, sizeof(out), m);
    /* Whatever the parser accepts, the serializer must write. */
    check(n > 2);
    check((size_t)n == strlen(out));
    check(out[n - 2] == '\r' && out[n - 1] == '\n');
    check(memchr(out, '\r', (size_t)n - 2) == NULL);
    check(memchr(out, '\n', (size_t)n - 2) == NULL);
    msg = out;
    if (out[0] == '@') {
        msg = strchr(out, ' ');
        check(msg != NULL);
        msg++;
        check((size_t)(msg - out) <= GW_IRC_TAGS_MAX);
    }
    check(strlen(msg) <= GW_IRC_LINE_MAX);

    /* Parse a heap copy so ASan sees reads past the end. */
    copy = malloc((size_t)n - 1);
    check(copy != NULL);
    memcpy(copy, out, (size_t)n - 2);
    check(gw_ircmsg_parse(&back, copy, (size_t)n - 2) == 0);

    check(same_str(m->prefix, back.prefix));
    check(same_str(m->command, back.command));
    check(m->nparams == back.nparams);
    check(m->trailing == back.trailing);
    for (int i = 0; i < m->nparams; i++) {
        check(same_str(m->params[i], back.params[i]));
    }
    check(m->ntags == back.ntags);
    for (int i = 0; i < m->ntags; i++) {
        check(same_str(m->tags[i].key, back.tags[i].key));
        check(same_str(m->tags[i].value, back.tags[i].value));
        check(gw_ircmsg_tag(&back, m->tags[i].key) == back.tags[i].value);
    }
    free(copy);
}

static void utf8(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    /* Each input byte becomes at most 3 output bytes. */
    size_t cap = size * 3 + 1;
    char *dst = malloc(cap);
    size_t n;
    size_t cut;

    check(dst != NULL);
    n = gw_utf8_repair(dst, cap, s, size);
    check(n < cap && dst[n] == '\0');
    check(gw_utf8_valid(dst, n));
    if (gw_utf8_valid(s, size)) {
        check(n == size && memcmp(dst, s, size) == 0);
    }
    /* A smaller buffer yields a prefix of the full repair. */
    if (cap > 8) {
        size_t m =
            gw_utf8_repair(dst + n + 1, cap - n - 1 < 8 ? 0 : 8, s, size);
        check(m <= 7);
        check(m <= n && memcmp(dst + n + 1, dst, m) == 0);
    }
    cut = gw_utf8_cut(s, size);
    check(cut <= size && size - cut <= 3);
    if (gw_utf8_valid(s, size)) {
        check(cut == size);
    }
    if (gw_utf8_valid(s, cut) && cut < size) {
        check(!gw_utf8_valid(s, size));
    }
    free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_irc_msg m;
    char *line;

    utf8(data, size);

    /* Exactly size + 1 bytes: the parser writes the NUL at line[size]. */
    line = malloc(size + 1);
    check(line != NULL);
    if (size > 0) {
        memcpy(line, data, size);
    }
    if (gw_ircmsg_parse(&m, line, size) == 0) {
        check(m.command != NULL);
        check(m.nparams >= 0 && m.nparams <= GW_IRC_PARAMS_MAX);
        check(m.ntags >= 0 && m.ntags <= GW_IRC_TAG_COUNT_MAX);
        round_trip(&m);
    } else {
        check(m.command == NULL && m.nparams == 0 && m.ntags == 0);
    }
    free(line);
    return 0;
}
