/*
 * The process's share of the machine: open files and memory.
 *
 * Every streaming account holds a socket for as long as it runs, so the
 * usual soft limit of 1,024 open files caps a gateway at about a thousand
 * accounts. gw_res_raise_nofile() lifts the soft limit to the hard one at
 * start. When descriptors or memory still run short, the places that see
 * it (accepting IRC clients, curl opening a socket, the memory check) call
 * gw_res_note(), and the gateway says so where an operator looks: the log,
 * the control channel and `status`. Without that the shortage only showed
 * as sign-in retries that never said why.
 *
 * struct gw_res is plain data inside struct gateway; nothing to free.
 */
#ifndef GW_RES_H
#define GW_RES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gw_res_kind {
    GW_RES_FDS = 0,    /* EMFILE or ENFILE */
    GW_RES_MEMORY = 1, /* an allocation failed, or the machine is nearly out */
};
#define GW_RES_KINDS 2

/* One kind of shortage since start. */
struct gw_res_short {
    uint64_t count;   /* times seen */
    int64_t first_ms; /* 0: never */
    int64_t last_ms;
    int64_t told_ms; /* when it was last said aloud */
    char what[200];  /* the latest occurrence: where, and what failed */
};

struct gw_res {
    uint64_t nofile_was; /* soft limit found at start */
    uint64_t nofile;     /* soft limit in force */
    uint64_t nofile_max; /* hard limit */
    struct gw_res_short shortage[GW_RES_KINDS];
};

/* Raise RLIMIT_NOFILE's soft limit to its hard limit. msg (always set)
 * says what the limit was and what it is now, for the log. 0, or a negative
 * UV_* code when the limit could not be read or raised (it stays as it
 * was, and msg says so). */
int gw_res_raise_nofile(struct gw_res *res, char *msg, size_t size);

/* Record a shortage; `what` says where it happened. True when it should be
 * said aloud now: the first time, and then at most once per
 * GW_RES_TELL_MS, however often it recurs in between. */
bool gw_res_note(struct gw_res *res, enum gw_res_kind kind, const char *what,
                 int64_t now_ms);

/* Descriptors open now, or -1 when that cannot be told, or GW_RES_FDS_ALL
 * when reading /proc itself failed for want of one (every descriptor the
 * limit allows is open: the case `status` most needs to say). Reads /proc,
 * so it is for `status`, not for a hot path. */
#define GW_RES_FDS_ALL (-2)
int gw_res_open_fds(void);

/* The `status` line: descriptors in use of the limit, then any shortage
 * with when it was last seen and how often. */
void gw_res_status(const struct gw_res *res, int64_t now_ms, char *buf,
                   size_t size);

/* Does the machine look short of memory? free_b and total_b as from
 * uv_get_free_memory()/uv_get_total_memory(), limit_b from
 * uv_get_constrained_memory() (0: none), rss_b our resident size. why says
 * which test failed. Pure, for the unit tests. */
bool gw_res_memory_low(uint64_t free_b, uint64_t total_b, uint64_t limit_b,
                       uint64_t rss_b, char *why, size_t size);

/* Human name of a kind: "file descriptors", "memory". */
const char *gw_res_kind_name(enum gw_res_kind kind);

#endif
