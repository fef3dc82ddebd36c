/*
 * Text between networks and IRC: HTML to plain text, entity decoding,
 * sanitising untrusted text for IRC, splitting long text into IRC-sized
 * lines, stripping IRC formatting from what users type, and counting
 * characters the way networks do. Pure functions; no state.
 *
 * Every returned char * is malloc'd and freed by the caller.
 */
#ifndef GW_TEXT_H
#define GW_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Resolve a link inside HTML: given the href of an <a> that looks like a
 * mention (class contains "mention" and not "hashtag"), return the full
 * handle without '@' ("alice@example.social") or NULL to keep the link text.
 * The returned string is borrowed (not freed by gw_text).
 */
typedef const char *(*gw_text_mention_cb)(void *arg, const char *href);

/*
 * Mastodon-style status HTML to plain text:
 *  - <p> paragraphs separated by a blank line ("\n\n"), <br> -> "\n";
 *  - entities decoded (named: amp lt gt quot apos nbsp and the common
 *    Latin-1 ones; numeric &#39; &#x27;), invalid ones kept literally;
 *  - <span class="invisible"> contents dropped from link text, and
 *    <span class="ellipsis"> contents followed by "…" — but since links are
 *    shown in full, an <a href> whose text was shortened is shown as its
 *    href;
 *  - mentions (<a class="... mention ...">) as "@" + cb(href) when cb
 *    returns non-NULL, else their text; hashtags as their text;
 *  - any other tag stripped; <script>/<style> dropped with their content;
 *  - the result is sanitised with gw_text_sanitize() and trimmed.
 * Invalid UTF-8 in the input is repaired (U+FFFD). Never returns NULL.
 */
char *gw_text_from_html(const char *html, size_t len, gw_text_mention_cb cb,
                        void *arg);

/* Decode HTML entities in s[0..len). */
char *gw_text_decode_entities(const char *s, size_t len);

/*
 * Make untrusted text safe for IRC: repair invalid UTF-8, turn CR LF, CR,
 * LF, U+2028, U+2029 into "\n"; drop NUL, other C0 controls (including IRC
 * formatting \x02 \x03 \x0f \x11 \x16 \x1d \x1e \x1f), DEL and C1 controls;
 * tab becomes a space; keep everything else. Never returns NULL.
 */
char *gw_text_sanitize(const char *s, size_t len);

/*
 * Split sanitised text into IRC message lines of at most max_bytes each:
 * first at "\n" (empty lines are skipped, runs of blank lines collapse),
 * then, for a line longer than max_bytes, at the last space within the
 * limit, or at a UTF-8 boundary when a word is longer than the limit.
 * Calls cb for each line (NUL-terminated, no newline); stops and returns
 * cb's value when it is non-zero. Returns 0 or that value.
 */
typedef int (*gw_text_line_cb)(void *arg, const char *line, size_t len);
int gw_text_split(const char *text, size_t max_bytes, gw_text_line_cb cb,
                  void *arg);

/* Remove IRC formatting codes (bold, colour with its digits, reset, ...)
 * from what an IRC user typed, before it reaches a network. */
char *gw_text_strip_formatting(const char *s);

/* Extended grapheme clusters in a UTF-8 string. */
long gw_text_graphemes(const char *s);

/* Untrusted text as one sanitised line: line breaks become spaces, runs of
 * spaces collapse, the ends are trimmed. */
char *gw_text_one_line(const char *s);
/* The longest prefix of s[0..len) of at most max bytes that does not end
 * inside a UTF-8 character (s is valid UTF-8). */
size_t gw_text_cut(const char *s, size_t len, size_t max);
/* Cut s in place to at most max bytes at a UTF-8 boundary, ending in an
 * ellipsis when it was cut. */
void gw_text_truncate(char *s, size_t max);
/* Is s[0..len) what gw_text_sanitize() leaves alone (valid UTF-8, no
 * control characters but line breaks)? A server can send any bytes, and
 * Parley promises its clients UTF8ONLY: text that goes to IRC as it is
 * (URLs, handles) must pass. */
bool gw_text_is_clean(const char *s, size_t len);
/* An http:// or https:// URL of printable characters, at most 4 KiB, and
 * clean beyond ASCII? */
bool gw_text_url_ok(const char *s);
/* A base address to put paths after: a copy of v without trailing '/',
 * or NULL when v is not such a URL with a host, or has a query or a
 * fragment. */
char *gw_text_base_url(const char *v);

/*
 * The pieces networks count text with (each adapter knows its own rules:
 * Mastodon weighs URLs 23 and "@user@domain" as "@user", X weighs CJK 2).
 *  - gw_utf8_next: decode one code point from s[0..len) (len > 0); the
 *    bytes consumed (at least 1); an ill-formed sequence gives *cp = -1;
 *  - gw_text_grapheme: the bytes of the extended grapheme cluster that
 *    starts at s (0 when len is 0), its last code point in *last_cp;
 *  - gw_text_url_at: the length of the http(s) URL at s[0] (up to the next
 *    whitespace), 0 when there is none or it is glued to the previous
 *    character (before: its code point, -1 at the start), as twitter-text
 *    decides;
 *  - gw_text_is_word_cp: a letter, mark or number (Unicode), or '_'.
 */
size_t gw_utf8_next(const char *s, size_t len, int32_t *cp);
size_t gw_text_grapheme(const char *s, size_t len, int32_t *last_cp);
size_t gw_text_url_at(const char *s, size_t len, int32_t before);
bool gw_text_is_word_cp(int32_t cp);
/*
 * More pieces for counting:
 *  - gw_text_nfc: s in Unicode Normalization Form C (X and Bluesky count
 *    after NFC); invalid UTF-8 is repaired first. Never NULL; the caller
 *    frees it;
 *  - gw_text_is_pictographic: an emoji code point (Extended_Pictographic
 *    or a regional indicator), which twitter-text weighs as a whole
 *    sequence.
 */
char *gw_text_nfc(const char *s);
bool gw_text_is_pictographic(int32_t cp);

#endif
