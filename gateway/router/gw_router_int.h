/*
 * Router internals shared by the router's files and nothing else:
 *   gw_router.c    lifecycle, front-ends, showing lines, group commit,
 *                  catching people up
 *   gw_accounts.c  accounts, their settings, the adapters' upcalls
 *   gw_people.c    nicks for the people of the networks
 *   gw_deliver.c   events from adapters: stored, then shown
 *   gw_outbox.c    actions: stored, composed, sent, reported
 *   gw_commands.c  what people type in account channels and queries
 *   gw_control.c   the control channel's commands
 */
#ifndef GW_ROUTER_INT_H
#define GW_ROUTER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "adapter.h"
#include "gw_frontend.h"
#include "gw_limits.h"
#include "gw_router.h"
#include "gw_runtime.h"

struct gw_store;
struct gw_post;

struct gw_setting {
    char *key;
    char *value;
};

/* One social account: its settings, its adapter instance, its channel. */
struct gw_account {
    struct gw_account *next;
    struct gw_router *r;
    char *name;
    char *network;
    char *channel;
    bool post_plain;
    bool enabled;
    bool from_config;
    bool running;
    const struct gw_adapter_ops *ops;
    struct gw_adapter ad;
    struct gw_setting *settings; /* effective: config, then store */
    int nsettings;
    char *cw_next; /* "!cw": content warning for the next post */
    int64_t last_event_ms;
    /* A cursor the adapter moved in the open group transaction, stored
     * when the group commits: a burst moves it once per event. */
    char *cursor_name, *cursor_value;
};

/* A person of a network with room for their strings. */
struct gw_who {
    struct gw_person p;
    char nick[GW_NICK_MAX + 1];
    char user[64];
    char host[128];
    char realname[256];
    char whois[1024];
    char prefix[256]; /* nick!user@host */
};

/* Something to show once the group transaction has committed. */
struct gw_show {
    const char *place;
    enum gw_place_kind kind;
    const char *account; /* NULL for none */
    const char *prefix;
    const char *from; /* NULL: the bot */
    bool notice;
    bool from_user;
    int64_t time_ms;           /* 0: now */
    const char *ref;           /* msgid of the first line ("a3"), or NULL */
    const struct gw_who *join; /* person to make present first, or NULL */
};

struct gw_pending;
struct gw_query;
struct gw_commit_wait;
struct gw_unmarked;
struct gw_people;

struct gw_router {
    struct gateway *gw;
    struct gw_frontend *fronts;
    struct gw_account *accounts;
    uv_timer_t outbox_timer;
    /* Outbox ids handed to an adapter and not yet done, and those sent
     * whose "sent" the store refused to record: both are never handed
     * over again. */
    int64_t *inflight;
    int ninflight, capinflight;
    struct gw_unmarked *unmarked;
    int nunmarked;
    struct gw_people *people; /* recently seen people, in memory */
    /* Read-only queries (!thread, !who) waiting for an adapter. */
    struct gw_query *queries;
    uint64_t next_query;
    /* Group commit: events of one loop iteration share a transaction, and
     * what they show waits until it is committed (before the loop sleeps). */
    uv_prepare_t group_prepare;
    uv_timer_t checkpoint_timer; /* WAL checkpoints off the message path */
    uv_timer_t prune_timer;      /* history past [irc] history_days goes */
    bool group_open;
    uint64_t group_since_ns;    /* uv_hrtime() when the group opened */
    int batch_depth;            /* adapters' batches open (gw_ad_batch_*) */
    int cursors_held;           /* accounts with a cursor to store */
    int64_t group_seen;         /* newest history id stored in the group */
    struct gw_pending *pending; /* shows waiting for the commit */
    struct gw_pending **pending_tail;
    struct gw_commit_wait *waits; /* after-commit callbacks */
    struct gw_commit_wait **waits_tail;
    struct gw_held *held; /* answers held by the double-answer guard */
    bool stopping;
};

/* gw_router.c */
struct gw_store *gw__store(struct gw_router *r);
/* Open the group transaction if it is not open yet. */
int gw__group_begin(struct gw_router *r);
/* Commit the group and show what it holds. */
void gw__group_flush(struct gw_router *r);
/* Commit the group first if it has been open for long (see gw_router.c);
 * only where no adapter's batch is open. */
void gw__group_slice(struct gw_router *r);
/* Record text (split into lines) in the open group; shown after the
 * commit. < 0 when it could not be stored (nothing is shown then). */
int gw__show(struct gw_router *r, const struct gw_show *s, const char *text);
/* A line from the bot, kept in history, to a place (bot lines in a query
 * with a person are NOTICEs there). */
void gw__bot_line(struct gw_router *r, const char *place, bool notice,
                  const char *fmt, ...) GW_PRINTF(4, 5);
/* Say something in the control channel. */
void gw__control_say(struct gw_router *r, const char *fmt, ...) GW_PRINTF(2, 3);
/* The bot tells one speaker, where they spoke. */
void gw__tell(const struct gw_speaker *sp, const char *place, const char *fmt,
              ...) GW_PRINTF(3, 4);
void gw__bot_prefix(struct gw_router *r, char *buf, size_t size);
enum gw_place_kind gw__place_kind(struct gw_router *r, const char *place);
void gw__place_open(struct gw_router *r, const char *place,
                    enum gw_place_kind kind, const char *topic);
void gw__place_close(struct gw_router *r, const char *place,
                     const char *reason);
bool gw__nick_taken(struct gw_router *r, const char *nick);
void gw__person_known(struct gw_router *r, const struct gw_who *w);

/* gw_accounts.c */
struct gw_account *gw__account(struct gw_router *r, const char *name);
struct gw_account *gw__account_by_channel(struct gw_router *r,
                                          const char *channel);
const struct gw_adapter_ops *gw__network(struct gw_router *r,
                                         const char *network);
/* Build the effective settings again and restart the adapter if it runs. */
void gw__account_refresh(struct gw_account *a, bool restart);
/* Create from the store (account add) or drop (account del). */
struct gw_account *gw__account_load(struct gw_router *r, const char *name);
void gw__account_drop(struct gw_account *a);
void gw__account_start(struct gw_account *a);
void gw__account_stop(struct gw_account *a);
const char *gw__account_setting(const struct gw_account *a, const char *key);
/* Where config defined the key, the line; 0 otherwise. */
int gw__account_config_line(const struct gw_account *a, const char *key);
void gw__accounts_load(struct gw_router *r);
bool gw__account_ready(const struct gw_account *a);
int gw__cursor_write(struct gw_account *a);

/* gw_people.c */
/* The nick people know a person by (their handle when they have none). */
void gw__nick_of(struct gw_router *r, const char *network,
                 const char *author_id, const char *handle, char *out,
                 size_t size);
void gw__people_forget(struct gw_router *r);
/* The owner of a (now signed-in) account claims their handle's nick. */
int gw__people_owner(struct gw_account *a, const char *me_id,
                     const char *handle);
/* The person behind an event's author, with their nick (derived once per
 * (network, author id), then kept). */
int gw__person_for(struct gw_account *a, const char *author_id,
                   const char *handle, const char *name, const char *url,
                   struct gw_who *out);
/* The user and host a person's prefix carries (nick!user@host). */
void gw__person_ident(const char *handle, const char *network, char *user,
                      size_t usize, char *host, size_t hsize);
/*
 * The person behind a nick the gateway gave out: their handle, the account
 * that last saw them (by their latest post in the query or the account's
 * channel; the only account when there is one; else NULL) and, when post
 * is given, that post. UV_ENOENT when the nick was never a person's.
 */
int gw__person_by_nick(struct gw_router *r, const char *nick, char **handle,
                       char **author_id, struct gw_account **acct,
                       struct gw_post *post);

/* gw_deliver.c */
int gw__deliver_post(struct gw_account *a, const struct gw_event *ev);
int gw__keep_context(struct gw_account *a, const struct gw_event *ev, char *ref,
                     size_t refsize, char *nick, size_t nicksize);
/* Run the after-commit callbacks of what has committed (rc < 0: failed). */
void gw__commit_waits_run(struct gw_router *r, int rc);
void gw__commit_waits_drop(struct gw_router *r, struct gw_account *a);

/* gw_outbox.c */
void gw__outbox_kick(struct gw_router *r);
int gw__outbox_retry(struct gw_router *r, int64_t id);
/* Handed to the network and not answered yet? */
bool gw__outbox_busy(struct gw_router *r, int64_t id);
void gw__outbox_dispatch_due(struct gw_router *r);
void gw__outbox_drop_account(struct gw_router *r, const char *account);
void gw__outbox_free(struct gw_router *r);
void gw__outbox_done(struct gw_router *r, int64_t id,
                     const struct gw_action_result *res);
void gw__queries_ready(struct gw_router *r, struct gw_account *a);
void gw__queries_drop(struct gw_router *r, const char *account,
                      const char *why);
void gw__query_done(struct gw_router *r, uint64_t token,
                    const struct gw_action_result *res);
bool gw__is_query_token(uint64_t token);
/* Store an action for account a (committed before this returns) and send
 * it when the account can. */
struct gw_enqueue {
    struct gw_account *a;
    const struct gw_speaker *sp;
    const char *origin; /* where it was asked: reports go there */
    enum gw_action_kind kind;
    const char *text;
    const char *handle;
    const char *parent_ref;
    const char *command; /* GW_ACT_COMMAND: the network's command name */
};
void gw__enqueue(const struct gw_enqueue *e);
/* !thread and !who: answered with lines, nothing stored. */
void gw__query(const struct gw_enqueue *e);
const char *gw__action_name(enum gw_action_kind k);
enum gw_action_kind gw__action_kind(const char *name);

/* gw_commands.c */
void gw__commands_said(struct gw_router *r, const struct gw_speaker *sp,
                       const struct gw_said *m);
/* A command being answered: who asked, where, for which account. */
struct gw_cmd {
    struct gw_router *r;
    const struct gw_speaker *sp;
    struct gw_account *a;
    const char *origin;    /* channel, or the person's nick for a query */
    const char *dm_handle; /* in a query: the person's handle */
};
/* The bot answers the one who asked, where they asked. */
void gw__cmd_tell(struct gw_cmd *x, const char *fmt, ...) GW_PRINTF(2, 3);
/* The post ref names on x's account, or false (and the asker told why). */
bool gw__cmd_post(struct gw_cmd *x, const char *ref, struct gw_post *p);

/* gw_inbox.c: the team inbox */
void gw__inbox_claim(struct gw_cmd *x, char *rest, bool force);
void gw__inbox_done(struct gw_cmd *x, char *rest);
void gw__inbox_pending(struct gw_cmd *x);
void gw__inbox_history(struct gw_cmd *x, char *rest);
/* Would this answer to p be a second one, made by someone else in the
 * last minutes or right now? Then it is held (kept for "!re! REF"), the
 * asker is told, and true is returned. */
bool gw__inbox_guard(struct gw_cmd *x, const struct gw_post *p,
                     const char *text);
/* The answer held for "!re! REF" without text, or NULL (caller frees). */
char *gw__inbox_take_held(struct gw_cmd *x, const char *ref);
/* An answer to parent went out: the post (and, for a DM, that person's
 * earlier open DMs) are answered, logged with the text, and the place
 * told. */
void gw__inbox_answered(struct gw_router *r, struct gw_account *a,
                        const struct gw_post *parent, const char *who,
                        const char *text, const char *origin);
/* After a restart: the people a channel's team may answer by name are
 * present again (those with open posts, and the recently heard from). */
void gw__inbox_seat(struct gw_router *r, struct gw_account *a,
                    struct gw_frontend *only);
void gw__inbox_free(struct gw_router *r);

/* gw_logins.c: "user list|add|passwd|del ..." (rest after "user"). */
void gw__users_command(struct gw_router *r, const struct gw_speaker *sp,
                       const char *place, char *rest);

/* gw_control.c: a command line typed in the control channel or a query
 * with the bot (place says which). */
void gw__control_command(struct gw_router *r, const struct gw_speaker *sp,
                         const char *place, const char *line);

#endif
