#include "gw_res.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <uv.h>

#include "gw_limits.h"
#include "gw_util.h"

const char *gw_res_kind_name(enum gw_res_kind kind)
{
    return kind == GW_RES_FDS ? "file descriptors" : "memory";
}

static void fmt_limit(uint64_t v, char *buf, size_t size)
{
    if (v == (uint64_t)RLIM_INFINITY)
        gw_strlcpy(buf, "unlimited", size);
    else
        snprintf(buf, size, "%llu", (unsigned long long)v);
}

int gw_res_raise_nofile(struct gw_res *res, char *msg, size_t size)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        int err = -errno;
        snprintf(msg, size, "open files: cannot read the limit: %s",
                 uv_strerror(err));
        return err;
    }
    res->nofile_was = res->nofile = (uint64_t)rl.rlim_cur;
    res->nofile_max = (uint64_t)rl.rlim_max;
    char was[32], max[32];
    fmt_limit(res->nofile_was, was, sizeof(was));
    fmt_limit(res->nofile_max, max, sizeof(max));
    if (rl.rlim_cur == rl.rlim_max) {
        snprintf(msg, size,
                 "open files: limit %s, already the hard limit (about one "
                 "per streaming account and per IRC client)",
                 was);
        return 0;
    }
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        int err = -errno;
        snprintf(msg, size,
                 "open files: limit %s; raising it to the hard limit %s "
                 "failed: %s",
                 was, max, uv_strerror(err));
        return err;
    }
    res->nofile = (uint64_t)rl.rlim_cur;
    snprintf(msg, size,
             "open files: limit raised from %s to %s (the hard "
             "limit)",
             was, max);
    return 0;
}

bool gw_res_note(struct gw_res *res, enum gw_res_kind kind, const char *what,
                 int64_t now_ms)
{
    struct gw_res_short *s = &res->shortage[kind];
    s->count++;
    if (s->first_ms == 0)
        s->first_ms = now_ms;
    s->last_ms = now_ms;
    gw_strlcpy(s->what, what ? what : "", sizeof(s->what));
    if (s->told_ms != 0 && now_ms - s->told_ms < GW_RES_TELL_MS)
        return false;
    s->told_ms = now_ms;
    return true;
}

int gw_res_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return errno == EMFILE ? GW_RES_FDS_ALL : -1;
    int n = 0;
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    /* Less the one opendir() itself holds. */
    return n > 0 ? n - 1 : 0;
}

void gw_res_status(const struct gw_res *res, int64_t now_ms, char *buf,
                   size_t size)
{
    char lim[32];
    fmt_limit(res->nofile, lim, sizeof(lim));
    int open = gw_res_open_fds();
    size_t len = 0;
    if (open == GW_RES_FDS_ALL)
        len = (size_t)snprintf(buf, size,
                               "resources: all %s file "
                               "descriptors allowed are open",
                               lim);
    else if (open >= 0)
        len = (size_t)snprintf(buf, size,
                               "resources: %d file descriptors "
                               "open of %s allowed",
                               open, lim);
    else
        len = (size_t)snprintf(buf, size,
                               "resources: %s file descriptors allowed", lim);
    bool any = false;
    for (int k = 0; k < GW_RES_KINDS && len < size; k++) {
        const struct gw_res_short *s = &res->shortage[k];
        if (s->count == 0)
            continue;
        int64_t ago = (now_ms - s->last_ms) / 1000;
        len +=
            (size_t)snprintf(buf + len, size - len,
                             "; SHORT OF %s: %llu time(s), last %llds ago (%s)",
                             k == GW_RES_FDS ? "FILE DESCRIPTORS" : "MEMORY",
                             (unsigned long long)s->count,
                             (long long)(ago < 0 ? 0 : ago), s->what);
        any = true;
    }
    if (!any && len < size)
        snprintf(buf + len, size - len, "; nothing has run short");
}

bool gw_res_memory_low(uint64_t free_b, uint64_t total_b, uint64_t limit_b,
                       uint64_t rss_b, char *why, size_t size)
{
    uint64_t floor = total_b / GW_RES_MEM_FREE_DIV;
    if (floor < GW_RES_MEM_FREE_MIN)
        floor = GW_RES_MEM_FREE_MIN;
    if (total_b > 0 && free_b < floor) {
        snprintf(why, size,
                 "the machine has %llu MiB available of %llu MiB; Parley "
                 "uses %llu MiB",
                 (unsigned long long)(free_b >> 20),
                 (unsigned long long)(total_b >> 20),
                 (unsigned long long)(rss_b >> 20));
        return true;
    }
    /* uv_get_constrained_memory() says UINT64_MAX or 0 when no cgroup
     * limit applies. */
    if (limit_b > 0 && limit_b < ((uint64_t)1 << 62) &&
        rss_b / GW_RES_MEM_CGROUP_PCT >= limit_b / 100) {
        snprintf(why, size,
                 "Parley uses %llu MiB of the %llu MiB its control group "
                 "allows",
                 (unsigned long long)(rss_b >> 20),
                 (unsigned long long)(limit_b >> 20));
        return true;
    }
    return false;
}
