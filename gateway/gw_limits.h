/*
 * Every limit Parley enforces, in one place, each with the reason for its
 * value. Configuration may lower a limit; nothing removes one.
 */
#ifndef GW_LIMITS_H
#define GW_LIMITS_H

/* RFC 1459 / Modern IRC: 512 bytes for a message including CR LF. */
#define GW_IRC_LINE_MAX 512

/* IRCv3 message-tags: 8191 bytes of tag data including '@' and the space. */
#define GW_IRC_TAGS_MAX 8191

/*
 * IRCv3 message-tags: a client may send at most 4094 bytes of tag data (what
 * lies between '@' and the space); more is answered 417, never truncated.
 * The 8191 above is what we read before a line counts as junk, so that an
 * over-long tag section still gets its 417 instead of being skipped.
 */
#define GW_IRC_CLIENT_TAGS_MAX 4094

/* A whole line as it may arrive from a client: tags plus the message. */
#define GW_IRC_WIRE_MAX (GW_IRC_TAGS_MAX + GW_IRC_LINE_MAX)

/* Middle and trailing parameters; ngircd and RFC 2812 use 15. */
#define GW_IRC_PARAMS_MAX 15

/* Tags in one message; more is an abuse, not a use. */
#define GW_IRC_TAG_COUNT_MAX 64

/* Per-client read buffer: one maximal line plus room for the next one. */
#define GW_CLIENT_READBUF (GW_IRC_WIRE_MAX * 2)

/*
 * Output queue per client. Past the soft limit a clock starts and the client
 * is dropped if still over after the grace period; past the hard limit it is
 * dropped at once (redis client-output-buffer-limit). A channel burst of
 * history fits well under the soft limit.
 */
#define GW_CLIENT_SENDQ_SOFT     (256 * 1024)
#define GW_CLIENT_SENDQ_HARD     (1024 * 1024)
#define GW_CLIENT_SENDQ_GRACE_MS 10000
/*
 * The kernel's send buffer per client (SO_SNDBUF; Linux doubles it). Left
 * to autotuning it grows to tcp_wmem's maximum (4 MiB) for a client that
 * never reads: the output queue above then never fills, the slow reader is
 * never dropped and the kernel holds its megabytes instead. IRC lines are
 * small: 256 KiB in flight is plenty for any client that reads.
 */
#define GW_CLIENT_SOCKBUF (512 * 1024)

/*
 * Flood control (ngircd-style penalty, in microseconds): each command costs
 * this much time; a client may be this far ahead of the clock before its
 * reading pauses. Reading pauses instead of dropping, so a burst of 5,000
 * commands passes at once and more is slowed to 5,000/s, never lost.
 */
#define GW_FLOOD_PENALTY_US 200
#define GW_FLOOD_BURST_US   1000000

/* Connected clients, and clients still registering. */
#define GW_CLIENTS_MAX             4096
#define GW_REGISTRATION_TIMEOUT_MS 60000

/*
 * Connections that have not registered yet have a bound of their own
 * ([irc] max_unregistered, default 64): a thousand idle connections must
 * not use up max_clients and lock out every real client for the 60 s of
 * the registration timeout. When the bound is reached the oldest one goes,
 * so a real client always gets its turn; 64 is far more than people ever
 * take to type a password, and little enough to walk on each accept.
 */
#define GW_UNREGISTERED_DEFAULT 64

/*
 * Failed logins (a wrong PASS or SASL password) per source address: the
 * first GW_AUTH_FREE_FAILURES cost nothing (people mistype), then each
 * further verdict from that address waits 1 s, 2 s, 4 s ... up to 30 s
 * after the last failure; the connection waits rather than being refused,
 * so the right password still gets in. Waiting verdicts from parallel
 * connections are taken one at a time, so a flood of guesses gains nothing
 * from opening more connections. An address is forgotten 10 minutes after
 * its last failure; the table keeps the 256 most recent (the least recently
 * failed is forgotten first), about 20 KiB.
 */
#define GW_AUTH_FREE_FAILURES 3
#define GW_AUTH_DELAY_MIN_MS  1000
#define GW_AUTH_DELAY_MAX_MS  30000
#define GW_AUTH_FORGET_MS     (10 * 60 * 1000)
#define GW_AUTH_HOSTS_MAX     256
/* SASL attempts that fail (904) on one connection before it is closed. */
#define GW_SASL_FAILURES_MAX 3

/*
 * People kept as IRC users (puppets, about 250 bytes each). Beyond this the
 * one not heard from for longest quits, so memory does not grow with every
 * person who ever wrote, and a nick list stays one a person can read. The
 * nick stays theirs in the store and comes back when they speak again.
 */
#define GW_PUPPETS_MAX 4096

/* Nicknames and channel names we accept from clients. */
#define GW_NICK_MAX    30
#define GW_CHANNEL_MAX 50
#define GW_TOPIC_MAX   390
#define GW_AWAY_MAX    200

/* Real names (USER, SETNAME; ISUPPORT NAMELEN). */
#define GW_REALNAME_MAX 128

/* Lines one CHATHISTORY request may return (ISUPPORT CHATHISTORY). */
#define GW_CHATHISTORY_MAX 100

/* Targets in one PRIVMSG/NOTICE/KICK (ISUPPORT TARGMAX). */
#define GW_TARGETS_MAX 4

/* Mode changes with a nick (+o, +v) in one MODE (ISUPPORT MODES): clients
 * split longer lists by it; more would need more parameters than 15. */
#define GW_MODES_MAX 4

/*
 * WHO replies to one mask: with 4,096 people and 4,096 clients a "WHO *"
 * would be a megabyte and close the asker for its SendQ; 1,000 lines are
 * about 120 KiB, under the soft limit.
 */
#define GW_WHO_REPLIES_MAX 1000

/*
 * History retention ([irc] history_days): old lines are deleted from a
 * timer, this many per statement, so a first prune of years of history
 * never holds the loop for long.
 */
#define GW_HISTORY_PRUNE_BATCH 500

/* SASL: AUTHENTICATE chunks are 400 bytes; a PLAIN blob is small. */
#define GW_SASL_MAX 1024

/* HTTP response bodies and SSE events (a Mastodon page of 80 statuses). */
#define GW_HTTP_BODY_MAX (8 * 1024 * 1024)
#define GW_SSE_EVENT_MAX (1024 * 1024)

/* Outbox: give up on an action after this many attempts. */
#define GW_OUTBOX_ATTEMPTS_MAX 50

/* One post of !thread on one line: what an IRC line holds after the bot's
 * prefix and the target, with room to spare. */
#define GW_CONTEXT_LINE_MAX 300
/* Webhooks ([webhook], gateway/webhook/). A body is held whole in memory
 * until it is committed; Meta batches at most 1,000 changes in one POST,
 * each well under 512 bytes, so 512 KiB is room for any honest batch and
 * a bound on what a stranger can make us hold. A larger body gets 413. */
#define GW_WEBHOOK_BODY_MAX (512 * 1024)
/* Requests waiting for a commit before they are answered; past this a new
 * one gets 503 and is sent again by the network. */
#define GW_WEBHOOK_PENDING_MAX 256
/* Open connections; past this new ones are closed at once. */
#define GW_WEBHOOK_CONNS_MAX 256
/* Headers copied per request (the rest are not looked at), and handlers
 * that may share one path. */
#define GW_WEBHOOK_HEADERS_MAX 64
#define GW_WEBHOOK_TAKERS_MAX  16
/* A connection that sends no complete request in this long is closed, and
 * a stop waits no longer than this for one. */
#define GW_WEBHOOK_REQ_TIMEOUT_MS 5000
/* Refusals (403) are logged at most once per this long, with a count. */
#define GW_WEBHOOK_LOG_EVERY_MS 60000

/*
 * Relays (gateway/relay): what the bot sends is paced by a token bucket
 * of flood_lines lines, refilled at flood_lines per flood_seconds. The
 * defaults stay under InspIRCd's default (1 command a second after a
 * penalty threshold of 10, "Excess Flood" past it) with room for the
 * PONGs, JOINs and ISONs that share the budget, and under ngircd's
 * (which throttles a client to a few commands a second and drops one
 * whose receive buffer fills).
 */
#define GW_RELAY_FLOOD_LINES   5
#define GW_RELAY_FLOOD_SECONDS 6
/* Lines waiting for the bucket, per relay. Past this they are counted and
 * one summary line says how many (the store has them all, !pending
 * lists what is open). Sized for a burst of a few hundred mentions. */
#define GW_RELAY_QUEUE_MAX 1000
/* Answers to one person (NOTICEs), waiting ahead of channel lines. */
#define GW_RELAY_TELL_MAX 100
/* A line from the upstream server longer than this is cut before
 * libircclient sees it: its buffer is 1 KiB and a longer line without an
 * end would stall it. 512 bytes is what RFC 1459 allows without tags. */
#define GW_RELAY_LINE_MAX 512
/* Bytes of upstream input waiting for libircclient to read them, and of
 * its output waiting for the upstream connection: a stalled side closes
 * the connection instead of growing. */
#define GW_RELAY_PUMP_MAX (256 * 1024)

/* A shortage of descriptors or memory is said aloud (log and control
 * channel) the first time and then at most once per this long: often
 * enough that an operator who joins later hears it, rarely enough that a
 * thousand failing sign-ins do not bury the channel. `status` always
 * shows it with a count. */
#define GW_RES_TELL_MS 60000
/* How often the gateway asks the kernel how much memory is left. */
#define GW_RES_CHECK_MS 10000
/* The machine counts as short of memory below this much available, or
 * below 1/GW_RES_MEM_FREE_DIV of it, whichever is larger, or when our own
 * resident size passes GW_RES_MEM_CGROUP_PCT % of a cgroup's limit. */
#define GW_RES_MEM_FREE_MIN   ((uint64_t)64 * 1024 * 1024)
#define GW_RES_MEM_FREE_DIV   50
#define GW_RES_MEM_CGROUP_PCT 90

#endif
