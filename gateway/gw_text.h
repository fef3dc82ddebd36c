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

/*
 * Length as Mastodon counts it: extended grapheme clusters (utf8proc),
 * every http:// or https:// URL counts as url_weight, a mention
 * "@user@domain" counts as "@user".
 */
long gw_text_mastodon_length(const char *s, long url_weight);

/* Extended grapheme clusters in a UTF-8 string. */
long gw_text_graphemes(const char *s);

#endif
