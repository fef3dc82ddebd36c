/*
 * Reading a Page's notifications: organizationalEntityNotifications is
 * polled over a time window (offset paging; LinkedIn keeps 60 days), each
 * new note's comment or post is read for its text and author, the author
 * is named (people and organizations, cached for a day), and the event is
 * delivered. Every note handled is remembered by notificationId in the
 * "window" cursor, stored with the events before it, so a restart in the
 * middle of a window reads nothing twice and loses nothing; the window
 * moves on only once all of it has been read.
 *
 * Notes from webhooks (linkedin__notes_take) go the same way.
 */
#include "linkedin_int.h"

#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

/* Notes asked for per page: LinkedIn's default is 10 and it documents no
 * maximum for this finder (a guess: 50). */
#define PAGE_COUNT 50
/* A notification may be indexed a little after its lastModifiedAt: each
 * window starts this much before the last one ended. */
#define OVERLAP_MS 300000
/* LinkedIn keeps notifications for 60 days. */
#define RETENTION_MS (60 * DAY_MS)
/* A new account starts with the last day. */
#define FIRST_WINDOW_MS DAY_MS

#define ACTIONS                                                                \
    "List(COMMENT,SHARE_MENTION,ADMIN_COMMENT,COMMENT_EDIT,COMMENT_DELETE)"

static void next_note(struct linkedin *m);

/* ---- people -------------------------------------------------------------- */

const struct linkedin_person *linkedin__person(const struct linkedin *m,
                                               const char *urn)
{
    int64_t now = gw_now_ms();
    for (int i = 0; urn != NULL && i < m->npeople; i++) {
        const struct person_slot *s = &m->people[i];
        long ttl = s->fallback ? NOBODY_TTL_MS : PEOPLE_TTL_MS;
        if (strcmp(s->p.urn, urn) == 0 && now - s->at < ttl)
            return &s->p;
    }
    return NULL;
}

static void person_copy(struct linkedin_person *dst,
                        const struct linkedin_person *src)
{
    dst->urn = gw_xstrdup(src->urn);
    dst->name = gw_xstrdup(src->name);
    dst->handle = gw_xstrdup(src->handle);
    dst->url = src->url != NULL ? gw_xstrdup(src->url) : NULL;
}

void linkedin__person_keep(struct linkedin *m, const struct linkedin_person *p,
                           bool fallback)
{
    struct person_slot *slot = NULL;
    for (int i = 0; i < m->npeople && slot == NULL; i++)
        if (strcmp(m->people[i].p.urn, p->urn) == 0)
            slot = &m->people[i];
    if (slot == NULL && m->npeople < PEOPLE_MAX)
        slot = &m->people[m->npeople++];
    if (slot == NULL) { /* full: the one learned longest ago goes */
        slot = &m->people[0];
        for (int i = 1; i < m->npeople; i++)
            if (m->people[i].at < slot->at)
                slot = &m->people[i];
    }
    linkedin_person_free(&slot->p);
    person_copy(&slot->p, p);
    slot->at = gw_now_ms();
    slot->fallback = fallback;
}

struct linkedin_mention *linkedin__mentions(const struct linkedin *m, int *n)
{
    struct linkedin_mention *out =
        gw_xcalloc((size_t)m->npeople + 1, sizeof(*out));
    *n = 0;
    int64_t now = gw_now_ms();
    for (int i = 0; i < m->npeople; i++) {
        /* Named by LinkedIn within the day its terms allow a cache. */
        if (m->people[i].fallback || now - m->people[i].at >= PEOPLE_TTL_MS)
            continue;
        out[*n].handle = m->people[i].p.handle;
        out[*n].name = m->people[i].p.name;
        out[*n].urn = m->people[i].p.urn;
        (*n)++;
    }
    return out;
}

/* ---- the run ------------------------------------------------------------- */

static void queue_free(struct linkedin *m)
{
    linkedin_notes_free(m->queue, m->nqueue);
    m->queue = NULL;
    m->nqueue = m->iqueue = 0;
    linkedin_item_free(&m->job);
}

/* The run ends, whichever way: notes of a webhook it did not handle are
 * not stored, and their POSTs learn it. */
static void run_end(struct linkedin *m)
{
    m->polling = false;
    m->poll_due = false;
    queue_free(m);
    linkedin__hooks_fail(m, "its notifications could not all be read");
}

void linkedin__poll_stop(struct linkedin *m)
{
    gw_ad_timer_clear(&m->t_poll);
    run_end(m);
}

static void on_t_poll(struct gw_adapter *ad, void *arg)
{
    (void)ad;
    struct linkedin *m = arg;
    m->t_poll = NULL;
    linkedin__poll_start(m);
}

void linkedin__poll_later(struct linkedin *m, long ms)
{
    gw_ad_timer_set(m->ad, &m->t_poll, (uint64_t)(ms > 0 ? ms : 0), on_t_poll,
                    m);
}

static void save_window(struct linkedin *m)
{
    char *json = linkedin_window_format(&m->win);
    if (gw_ad_cursor_set(m->ad, "window", json) < 0)
        gw_ad_detail(m->ad, "could not store the polling window");
    free(json);
}

/* The run stops where it is: nothing after this note is marked read, so
 * the next run starts again from it. */
static void run_failed(struct linkedin *m, const char *why)
{
    linkedin__poll_stop(m);
    m->poll_failures++;
    gw_ad_detail(m->ad, "cannot read notifications: %s", why);
    if ((m->poll_failures & (m->poll_failures - 1)) == 0)
        gw_ad_notice(m->ad, "cannot read notifications: %s; retrying", why);
    linkedin__poll_later(m, gw_backoff_next(&m->poll_backoff));
}

static void run_failed_http(struct linkedin *m,
                            const struct gw_http_response *r)
{
    char *err = linkedin_error_text(r);
    run_failed(m, err);
    free(err);
}

static void run_done(struct linkedin *m)
{
    bool webhook_only = m->poll_end == 0;
    if (!webhook_only) {
        /* The whole window is read: the next one starts where it ended
         * (less the overlap), and what came before the overlap cannot be
         * asked for again. */
        m->win.start = m->poll_end;
        linkedin_window_prune(&m->win, m->poll_end - 2 * OVERLAP_MS);
        save_window(m);
    }
    if (m->skipped > 0)
        gw_ad_notice(m->ad,
                     "%d notification%s could not be read and %s skipped "
                     "(see status)",
                     m->skipped, m->skipped == 1 ? "" : "s",
                     m->skipped == 1 ? "was" : "were");
    m->skipped = 0;
    gw_backoff_reset(&m->poll_backoff);
    if (m->poll_failures > 0) {
        m->poll_failures = 0;
        gw_ad_detail(m->ad, "%s", "");
    }
    if (!webhook_only) {
        linkedin__poll_stop(m);
        linkedin__poll_later(m, m->poll_ms);
        return;
    }
    /* Notes a webhook brought: the poll keeps its own schedule, so that
     * frequent deliveries do not put the safety net off for ever. */
    bool due = m->poll_due;
    run_end(m);
    if (due) {
        linkedin__poll_later(m, 0);
    } else if (m->t_poll == NULL) {
        linkedin__poll_later(m, m->poll_ms);
    }
}

static void fetch_page(struct linkedin *m);

static void note_done(struct linkedin *m)
{
    struct linkedin_note *n = &m->queue[m->iqueue];
    linkedin_window_add(&m->win, n->id, n->at);
    save_window(m);
    linkedin__hook_note_done(m, n->id);
    linkedin_item_free(&m->job);
    m->iqueue++;
    next_note(m);
}

static void skip_note(struct linkedin *m, const char *why)
{
    m->skipped++;
    gw_ad_detail(m->ad, "skipped notification %s: %s", m->queue[m->iqueue].id,
                 why);
    note_done(m);
}

/* ---- delivering ---------------------------------------------------------- */

static enum gw_event_kind kind_of(const struct linkedin *m,
                                  const struct linkedin_note *n,
                                  const struct linkedin_item *it)
{
    switch (n->action) {
    case LINKEDIN_SHARE_MENTION:
        return GW_EV_MENTION;
    case LINKEDIN_COMMENT_EDIT:
        return GW_EV_EDIT;
    case LINKEDIN_ADMIN_COMMENT:
        return GW_EV_OWN;
    default:
        return strcmp(it->actor, m->org) == 0 ? GW_EV_OWN : GW_EV_REPLY;
    }
}

static void deliver_job(struct linkedin *m, const struct linkedin_person *who)
{
    const struct linkedin_note *n = &m->queue[m->iqueue];
    enum gw_event_kind kind = kind_of(m, n, &m->job);
    struct linkedin_event e;
    linkedin_item_event(&m->job, kind, who, &e);
    int rc = gw_ad_deliver(m->ad, &e.ev);
    linkedin_event_free(&e);
    if (rc < 0) {
        run_failed(m, "the store did not take an event");
        return;
    }
    note_done(m);
}

static int deliver_deleted(struct linkedin *m, const struct linkedin_note *n)
{
    struct gw_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = GW_EV_DELETE;
    ev.id = n->activity;
    ev.created_ms = n->at;
    return gw_ad_deliver(m->ad, &ev);
}

/* ---- naming the author --------------------------------------------------- */

static void on_person(struct linkedin *m, struct lcall *c,
                      const struct gw_http_response *r);

static void ask_person(struct linkedin *m, const char *url)
{
    struct lcall *c = linkedin__call(on_person);
    c->s[0] = gw_xstrdup(url);
    if (linkedin__send(m, c, FAM_READ, "GET", url, NULL) < 0)
        run_failed(m, "could not start a request");
}

static void on_person(struct linkedin *m, struct lcall *c,
                      const struct gw_http_response *r)
{
    if (!m->polling)
        return;
    if (linkedin__account_trouble(m, c, r)) {
        if (r->status == 429)
            ask_person(m, c->s[0]); /* waits for the next probe */
        return;
    }
    const char *urn = m->job.actor;
    if (r->error != 0 || r->status >= 500) {
        run_failed_http(m, r);
        return;
    }
    struct linkedin_person p;
    cJSON *j = r->status >= 200 && r->status < 300 ? linkedin__body(r) : NULL;
    /* Not allowed to see them (403), gone (404), private: shown all the
     * same, under what their URN says. */
    bool fallback = linkedin_person_parse(j, urn, &p) < 0;
    cJSON_Delete(j);
    if (fallback) {
        linkedin_person_free(&p);
        linkedin_person_fallback(urn, &p);
    }
    linkedin__person_keep(m, &p, fallback);
    deliver_job(m, linkedin__person(m, urn));
    linkedin_person_free(&p);
}

static void name_author(struct linkedin *m)
{
    const char *urn = m->job.actor;
    const struct linkedin_person *p = linkedin__person(m, urn);
    if (p != NULL) {
        deliver_job(m, p);
        return;
    }
    char type[32];
    const char *id = linkedin_urn_split(urn, type, sizeof(type));
    char *url = NULL;
    if (strcmp(type, "person") == 0)
        url = linkedin_restli("%s/rest/people/(id:%u)", m->api, id);
    else if (strcmp(type, "organization") == 0)
        url = linkedin_restli("%s/rest/organizations/%u", m->api, id);
    if (url == NULL) {
        struct linkedin_person fb;
        linkedin_person_fallback(urn, &fb);
        linkedin__person_keep(m, &fb, true);
        linkedin_person_free(&fb);
        deliver_job(m, linkedin__person(m, urn));
        return;
    }
    ask_person(m, url);
    free(url);
}

/* ---- reading the comment or post ----------------------------------------- */

static void on_item(struct linkedin *m, struct lcall *c,
                    const struct gw_http_response *r);

static void ask_item(struct linkedin *m, const char *url)
{
    struct lcall *c = linkedin__call(on_item);
    c->s[0] = gw_xstrdup(url);
    if (linkedin__send(m, c, FAM_READ, "GET", url, NULL) < 0)
        run_failed(m, "could not start a request");
}

/* Gone before it could be read: what the notification itself said, when
 * it said enough, else a notice that it was deleted. */
static void item_gone(struct linkedin *m)
{
    const struct linkedin_note *n = &m->queue[m->iqueue];
    struct linkedin_comment_ref ref;
    if (n->text != NULL && n->owner != NULL && n->action != LINKEDIN_OTHER &&
        linkedin_comment_ref(n->activity, &ref) == 0) {
        struct linkedin_item *it = &m->job;
        linkedin_item_free(it);
        it->urn = ref.urn;
        it->object = ref.object;
        ref.urn = ref.object = NULL;
        linkedin_comment_ref_free(&ref);
        it->actor = gw_xstrdup(n->owner);
        it->text = gw_xstrdup(n->text);
        it->created_ms = it->modified_ms = n->at;
        name_author(m);
        return;
    }
    if (deliver_deleted(m, n) < 0) {
        run_failed(m, "the store did not take an event");
        return;
    }
    note_done(m);
}

static void on_item(struct linkedin *m, struct lcall *c,
                    const struct gw_http_response *r)
{
    if (!m->polling)
        return;
    if (linkedin__account_trouble(m, c, r)) {
        if (r->status == 429)
            ask_item(m, c->s[0]);
        return;
    }
    if (r->error != 0 || r->status >= 500) {
        run_failed_http(m, r);
        return;
    }
    if (r->status == 404 || r->status == 410) {
        item_gone(m);
        return;
    }
    if (r->status < 200 || r->status >= 300) {
        char *err = linkedin_error_text(r);
        skip_note(m, err);
        free(err);
        return;
    }
    const struct linkedin_note *n = &m->queue[m->iqueue];
    cJSON *j = linkedin__body(r);
    int rc = n->action == LINKEDIN_SHARE_MENTION
                 ? linkedin_post_parse(j, m->org, &m->job)
                 : linkedin_comment_parse(j, &m->job);
    cJSON_Delete(j);
    if (rc < 0) {
        linkedin_item_free(&m->job);
        skip_note(m, "LinkedIn's answer was not a comment or post");
        return;
    }
    name_author(m);
}

/* 1: handled here; 0: a request is on its way. */
static int start_note(struct linkedin *m, const struct linkedin_note *n)
{
    char *url = NULL;
    switch (n->action) {
    case LINKEDIN_OTHER:
        return 1;
    case LINKEDIN_COMMENT_DELETE:
        if (deliver_deleted(m, n) < 0) {
            run_failed(m, "the store did not take an event");
            return 0;
        }
        return 1;
    case LINKEDIN_SHARE_MENTION:
        url = linkedin_restli("%s/rest/posts/%u", m->api, n->activity);
        break;
    default: {
        struct linkedin_comment_ref ref;
        if (linkedin_comment_ref(n->activity, &ref) < 0)
            return 1; /* linkedin_note_parse() let none of these through */
        url = linkedin_restli("%s/rest/socialActions/%u/comments/%u", m->api,
                              ref.object, ref.id);
        linkedin_comment_ref_free(&ref);
    }
    }
    ask_item(m, url);
    free(url);
    return 0;
}

static void next_note(struct linkedin *m)
{
    while (m->polling && m->iqueue < m->nqueue) {
        struct linkedin_note *n = &m->queue[m->iqueue];
        if (linkedin_window_seen(&m->win, n->id)) {
            linkedin__hook_note_done(m, n->id);
            m->iqueue++;
            continue;
        }
        if (start_note(m, n) == 0)
            return;
        if (!m->polling)
            return;
        linkedin_window_add(&m->win, n->id, n->at);
        save_window(m);
        linkedin__hook_note_done(m, n->id);
        m->iqueue++;
    }
    if (!m->polling)
        return;
    if (m->more_pages) {
        m->page_start += PAGE_COUNT;
        fetch_page(m);
        return;
    }
    run_done(m);
}

/* ---- pages --------------------------------------------------------------- */

static void queue_add(struct linkedin *m, struct linkedin_note *notes, int n)
{
    /* What was handled before this page stays handled. */
    int keep = m->nqueue - m->iqueue;
    struct linkedin_note *q = gw_xcalloc((size_t)(keep + n) + 1, sizeof(*q));
    if (keep > 0)
        memcpy(q, m->queue + m->iqueue, sizeof(*q) * (size_t)keep);
    for (int i = 0; i < m->iqueue; i++)
        linkedin_note_free(&m->queue[i]);
    free(m->queue);
    if (n > 0)
        memcpy(q + keep, notes, sizeof(*q) * (size_t)n);
    free(notes);
    m->queue = q;
    m->nqueue = keep + n;
    m->iqueue = 0;
}

static void on_page(struct linkedin *m, struct lcall *c,
                    const struct gw_http_response *r)
{
    if (!m->polling)
        return;
    if (linkedin__account_trouble(m, c, r)) {
        if (r->status == 429) {
            /* The probe is a new run: its window ends when it is sent. */
            int64_t until = linkedin__held_until(m, FAM_NOTES);
            linkedin__poll_stop(m);
            linkedin__poll_later(m, (long)(until - gw_now_ms()));
        }
        return;
    }
    if (r->error != 0 || r->status < 200 || r->status >= 300) {
        run_failed_http(m, r);
        return;
    }
    cJSON *j = linkedin__body(r);
    struct linkedin_note *notes = NULL;
    int elements = 0, bad = 0;
    int n = linkedin_notes_page(j, &notes, &elements, &bad);
    cJSON_Delete(j);
    if (n < 0) {
        run_failed(m, "LinkedIn's answer had no notifications list");
        return;
    }
    m->skipped += bad;
    if (bad > 0)
        gw_ad_detail(m->ad, "skipped %d malformed notification%s", bad,
                     bad == 1 ? "" : "s");
    m->more_pages = elements >= PAGE_COUNT;
    queue_add(m, notes, n);
    next_note(m);
}

static void fetch_page(struct linkedin *m)
{
    int64_t from = m->win.start - OVERLAP_MS;
    char *url =
        linkedin_restli("%s/rest/organizationalEntityNotifications?q=criteria"
                        "&organizationalEntity=%u&actions=" ACTIONS
                        "&timeRange=(start:%l,end:%l)&start=%l&count=%l",
                        m->api, m->org, from, m->poll_end,
                        (int64_t)m->page_start, (int64_t)PAGE_COUNT);
    if (linkedin__send(m, linkedin__call(on_page), FAM_NOTES, "GET", url,
                       NULL) < 0)
        run_failed(m, "could not start a request");
    free(url);
}

void linkedin__poll_start(struct linkedin *m)
{
    if (m->polling && m->poll_end == 0) {
        m->poll_due = true; /* after the webhook's notes */
        return;
    }
    if (!m->signed_in || m->signed_out || m->version_bad || m->polling)
        return;
    gw_ad_timer_clear(&m->t_poll);
    int64_t now = gw_now_ms();
    int64_t oldest = now - RETENTION_MS + 60000;
    if (m->win.start == 0) {
        m->win.start = now - FIRST_WINDOW_MS;
    } else if (m->win.start - OVERLAP_MS < oldest) {
        char day[16];
        linkedin_format_day(m->win.start, day, sizeof(day));
        gw_ad_notice(m->ad,
                     "LinkedIn keeps notifications for 60 days; those "
                     "since %s that are older are gone",
                     day);
        m->win.start = oldest + OVERLAP_MS;
    }
    m->polling = true;
    m->poll_end = now;
    m->page_start = 0;
    m->more_pages = false;
    m->skipped = 0;
    fetch_page(m);
}

void linkedin__notes_take(struct linkedin *m, struct linkedin_note *notes,
                          int n)
{
    if (!m->signed_in) {
        /* The next poll reads them (LinkedIn keeps them for 60 days). */
        linkedin_notes_free(notes, n);
        return;
    }
    bool idle = !m->polling;
    if (idle) {
        m->polling = true;
        m->poll_end = 0; /* not a window: it does not move */
        m->more_pages = false;
    }
    queue_add(m, notes, n);
    if (idle)
        next_note(m);
}
