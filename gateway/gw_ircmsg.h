/*
 * IRC line parser and serializer with IRCv3 message tags.
 *
 * Parsing is done in place: gw_ircmsg_parse() splits a caller-owned,
 * NUL-terminated line (without CR LF) into a struct gw_irc_msg whose pointers
 * point into that line; tag values are unescaped in place. Nothing is
 * allocated, so the message lives exactly as long as the line buffer.
 *
 * Serializing writes one wire line, CR LF included, into a caller buffer,
 * escaping tag values and refusing (or truncating, where the caller asks)
 * output that would exceed the protocol limits.
 */
#ifndef GW_IRCMSG_H
#define GW_IRCMSG_H

#include <stdbool.h>
#include <stddef.h>

#include "gw_limits.h"

struct gw_irc_tag {
    const char *key;   /* "time", "+draft/reply", "example.com/x" */
    const char *value; /* unescaped; "" when the tag has no value */
};

struct gw_irc_msg {
    struct gw_irc_tag tags[GW_IRC_TAG_COUNT_MAX];
    int ntags;
    const char *prefix;  /* without the ':'; NULL when absent */
    const char *command; /* as sent (case preserved); never NULL once parsed */
    const char *params[GW_IRC_PARAMS_MAX];
    int nparams;
    bool trailing; /* the last param was given with ':' */
};

/* Parser errors: negative, distinct from each other. */
enum {
    GW_IRCMSG_EEMPTY = -1001,   /* nothing but spaces */
    GW_IRCMSG_ETAGS = -1002,    /* tag section too long or malformed */
    GW_IRCMSG_ETOOLONG = -1003, /* message part longer than 510 bytes */
    GW_IRCMSG_ENUL = -1004,     /* NUL byte inside the line */
    GW_IRCMSG_ENOCMD = -1005,   /* prefix without command, bad command */
    GW_IRCMSG_EPARAMS = -1006,  /* more than GW_IRC_PARAMS_MAX params */
};

/*
 * Parse line[0..len) in place. line must have room for a NUL at line[len]
 * (it is written). Rules (Modern IRC, IRCv3 message-tags):
 *  - leading '@': tags up to the first space, at most GW_IRC_TAGS_MAX bytes
 *    including '@'; "key", "key=", "key=value"; values unescaped
 *    (\: ; \s space, \\ \, \r CR, \n LF, \ followed by anything else is that
 *    character, a trailing lone \ is dropped); a repeated key: last one wins;
 *  - then ':' prefix up to a space;
 *  - the command: letters or exactly three digits;
 *  - params separated by one or more spaces; ':' starts the trailing param;
 *    more than GW_IRC_PARAMS_MAX params is GW_IRCMSG_EPARAMS;
 *  - the message part after the tags is at most GW_IRC_LINE_MAX - 2 bytes;
 *  - a NUL in [0, len) is GW_IRCMSG_ENUL; a lone CR or LF inside is treated
 *    as a line end by the reader, never seen here.
 * Invalid UTF-8 is not a parse error; callers check with gw_utf8_valid().
 */
int gw_ircmsg_parse(struct gw_irc_msg *m, char *line, size_t len);

/* Value of tag key or NULL. */
const char *gw_ircmsg_tag(const struct gw_irc_msg *m, const char *key);

/* Escape a tag value into out (NUL-terminated); returns the length or
 * UV_ENOBUFS when it does not fit. */
int gw_ircmsg_escape_tag(char *out, size_t size, const char *value);

/*
 * Serialize into out[size] as "@tags :prefix COMMAND p1 p2 :last\r\n".
 * The last param gets ':' when it is empty, contains a space, starts with
 * ':' or when m->trailing is set. Tags whose serialized size would push the
 * tag section over GW_IRC_TAGS_MAX are dropped (client-only tags first is not
 * required: in order). If the message part would exceed GW_IRC_LINE_MAX
 * bytes (CR LF included), the last param is cut at a UTF-8 boundary to fit.
 * Middle params containing a space or starting with ':' (or empty) are a
 * caller bug: return UV_EINVAL. Returns bytes written (excluding the NUL) or
 * a negative code.
 */
int gw_ircmsg_format(char *out, size_t size, const struct gw_irc_msg *m);

/* True if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
bool gw_utf8_valid(const char *s, size_t len);

/*
 * Copy src to dst replacing every ill-formed sequence by U+FFFD. dst holds
 * at most size-1 bytes plus NUL and is cut at a character boundary. Returns
 * the length written.
 */
size_t gw_utf8_repair(char *dst, size_t size, const char *src, size_t len);

/* Largest n <= len such that s[0..n) does not end inside a UTF-8 char. */
size_t gw_utf8_cut(const char *s, size_t len);

#endif
