/*
 * delivery/delivery_queue.c - the queue manager: files -> jobs -> connections -> results.
 *
 * The main thread watches DIR/active (inotify, plus a full rescan every
 * scan_interval), loads each new file's header and recipient state, routes
 * every pending recipient (policy store: the domain's route and TLS policy,
 * else delivery.default_route) and queues one job per file and destination.
 * Connection threads (delivery.connections of them) take jobs: a thread that
 * holds a connection to a destination takes that destination's next job
 * first (connection reuse), and a destination never has more than
 * delivery.concurrency connections. Results per recipient: 2xx done, 5xx
 * bounced (one DSN per attempt, never for the null sender), 4xx and
 * connection failures deferred with exponential back-off from retry_min to
 * retry_max; past max_lifetime a deferral becomes a bounce.
 * State that must survive a restart is in sl_store: dlv_rcpt (recipients
 * already finished in a file that still has others) and dlv_state (attempts,
 * next attempt, last reason, for `sluice queue`). A file is removed when all
 * its recipients are finished: at-least-once, a kill -9 re-sends only what
 * was in flight. SIGUSR1 (`sluice queue flush`) retries every deferred job now.
 * Tests: tests/e2e/test_delivery.py
 */
#include "delivery.h"
#include "sl_dqueue.h"
#include "sl_log.h"
#include "sl_mem.h"
#include "sl_msglog.h"
#include "sl_store.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define S_BUCKETS 65536  /* name hash table of the files held */
#define S_TICK_MS 200    /* main loop wake-up: deferred jobs, flush, stop */
#define S_DESTS_MAX 4096 /* destinations known at once */

static const char *const s_migrations[] = {
    "CREATE TABLE dlv_state (name TEXT PRIMARY KEY, id TEXT, attempts INTEGER NOT NULL,"
    " next_at_ms INTEGER NOT NULL, reason TEXT);"
    "CREATE TABLE dlv_rcpt (name TEXT NOT NULL, rcpt TEXT NOT NULL, status TEXT NOT NULL,"
    " reply TEXT, PRIMARY KEY (name, rcpt));",
};

typedef struct s_file s_file_t;

typedef struct {
    char key[600];                       /* "host:port:tls" */
    delivery_dest_t dest;                /* where to connect */
    char why[SL_POLICY_ROUTE_MAX + 128]; /* set when the route cannot be used */
    int active;                          /* connections held or being opened */
    uint64_t next_start;                 /* rate delay: no new message before this (mono ms) */
    size_t queued;                       /* jobs waiting in q */
    struct s_job *head, *tail;           /* ready jobs, FIFO */
} s_dest_t;

typedef struct s_job {
    s_file_t *file;     /* the queue file */
    size_t dest;        /* index into s_dests */
    size_t n;           /* recipients */
    size_t *rcpt;       /* indexes into file->hdr.rcpts */
    uint64_t next_at;   /* wall ms of the next attempt (deferred jobs) */
    struct s_job *next; /* in a dest queue or the deferred list */
} s_job_t;

struct s_file {
    char name[SL_DQUEUE_NAME_MAX]; /* file name in active/ */
    sl_dqueue_hdr_t hdr;           /* id, sender, recipients */
    bool *done;                    /* per recipient: finished (sent or bounced) */
    int jobs;                      /* jobs not finished */
    int attempts;                  /* deferrals so far */
    bool has_state;                /* rows in the store to remove at the end */
    s_file_t *hnext;               /* hash chain */
};

static const delivery_conf_t *s_cf;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_wake = PTHREAD_COND_INITIALIZER;
static s_dest_t *s_dests[S_DESTS_MAX];
static size_t s_ndests;
static s_job_t *s_deferred; /* jobs waiting for their next_at */
static s_file_t *s_table[S_BUCKETS];
static size_t s_files; /* files held */
static volatile sig_atomic_t s_stop, s_flush;
static pthread_mutex_t s_store_lock = PTHREAD_MUTEX_INITIALIZER; /* one store writer */

/* Delivery results for the message log, written by the main thread in batches. */
typedef struct {
    char *id, *rcpt, *status, *reply; /* owned */
} s_note_t;
static s_note_t *s_notes; /* under s_lock */
static size_t s_nnotes, s_notes_cap;
static int s_stopping; /* s_stop seen by the main thread; read under s_lock */

int
delivery_queue_migrate(sl_store_t *store)
{
    return sl_store_migrate(store, "delivery", s_migrations,
                            sizeof s_migrations / sizeof s_migrations[0]);
}

static void
s_on_signal(int sig)
{
    if (sig == SIGUSR1)
        s_flush = 1;
    else
        s_stop = 1;
}

static size_t
s_hash(const char *name)
{
    uint64_t h = 14695981039346656037ull;
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 1099511628211ull;
    return (size_t)(h % S_BUCKETS);
}

static s_file_t *
s_find(const char *name)
{
    for (s_file_t *f = s_table[s_hash(name)]; f; f = f->hnext)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static void
s_forget(s_file_t *f)
{
    s_file_t **pp = &s_table[s_hash(f->name)];
    while (*pp && *pp != f)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = f->hnext;
    s_files--;
    sl_dqueue_hdr_clear(&f->hdr);
    free(f->done);
    free(f);
}

static void
s_note_delivery(const char *id, const char *rcpt, const char *status, const char *reply)
{
    pthread_mutex_lock(&s_lock);
    if (s_nnotes == s_notes_cap) {
        s_notes_cap = s_notes_cap ? s_notes_cap * 2 : 256;
        s_notes = sl_xrealloc(s_notes, s_notes_cap * sizeof *s_notes);
    }
    s_notes[s_nnotes++] =
        (s_note_t){sl_xstrdup(id), sl_xstrdup(rcpt), sl_xstrdup(status), sl_xstrdup(reply)};
    pthread_mutex_unlock(&s_lock);
}

/* s_flush_notes - the batched delivery results into the message log, one transaction. */
static void
s_flush_notes(sl_store_t *store)
{
    pthread_mutex_lock(&s_lock);
    s_note_t *notes = s_notes;
    size_t n = s_nnotes;
    s_notes = NULL;
    s_nnotes = s_notes_cap = 0;
    pthread_mutex_unlock(&s_lock);
    if (n == 0)
        return;
    pthread_mutex_lock(&s_store_lock);
    bool ok = sl_store_begin(store) == 0;
    for (size_t i = 0; i < n; i++) {
        if (ok)
            sl_msglog_set_delivery(store, notes[i].id, notes[i].rcpt, notes[i].status,
                                   notes[i].reply);
        free(notes[i].id);
        free(notes[i].rcpt);
        free(notes[i].status);
        free(notes[i].reply);
    }
    if (!ok || sl_store_commit(store) != 0) {
        sl_log_warn(NULL, "message log not updated error=\"%s\"", sl_store_error(store));
        sl_store_rollback(store);
    }
    pthread_mutex_unlock(&s_store_lock);
    free(notes);
}

/* s_dest_for - the destination of recipient RCPT (under s_lock). */
static size_t
s_dest_for(sl_store_t *store, const char *rcpt)
{
    sl_policy_t p;
    char route[SL_POLICY_ROUTE_MAX];
    sl_tls_policy_t tls = SL_TLS_MAY;
    if (store && sl_policy_lookup(store, rcpt, "", &p) == 0) {
        snprintf(route, sizeof route, "%s", p.route[0] ? p.route : s_cf->default_route);
        tls = p.tls;
    } else {
        snprintf(route, sizeof route, "%s", s_cf->default_route);
    }
    delivery_dest_t d = {.tls = tls};
    char why[SL_POLICY_ROUTE_MAX + 128] = "";
    const char *err = NULL;
    if (sl_policy_route_parse(route, d.host, sizeof d.host, &d.port, &err) != 0) {
        snprintf(why, sizeof why, "bad route \"%s\": %s", route, err);
    } else if (d.host[0] == '\0') { /* mx: the worker looks the MX records up */
        const char *at = strrchr(rcpt, '@');
        d.mx = true;
        d.port = s_cf->mx_port;
        if (snprintf(d.host, sizeof d.host, "%s", at ? at + 1 : rcpt) >= (int)sizeof d.host)
            snprintf(why, sizeof why, "recipient domain too long");
    }
    snprintf(d.tls_name, sizeof d.tls_name, "%s", d.host);
    char key[600];
    snprintf(key, sizeof key, "%s%s:%d:%d%s", d.mx ? "mx:" : "", d.host, d.port, (int)d.tls,
             why[0] ? ":x" : "");
    for (size_t i = 0; i < s_ndests; i++)
        if (strcmp(s_dests[i]->key, key) == 0)
            return i;
    if (s_ndests == S_DESTS_MAX)
        return 0; /* absurdly many routes: share the first; logged once per load */
    s_dest_t *nd = sl_xcalloc(1, sizeof *nd);
    snprintf(nd->key, sizeof nd->key, "%s", key);
    nd->dest = d;
    snprintf(nd->why, sizeof nd->why, "%s", why);
    s_dests[s_ndests] = nd;
    return s_ndests++;
}

static void
s_push_ready(s_job_t *j)
{
    s_dest_t *d = s_dests[j->dest];
    j->next = NULL;
    if (d->tail)
        d->tail->next = j;
    else
        d->head = j;
    d->tail = j;
    d->queued++;
}

static void
s_push_deferred(s_job_t *j)
{
    j->next = s_deferred;
    s_deferred = j;
}

/* s_load - take queue file NAME into memory and queue its jobs. Main thread. */
static void
s_load(sl_store_t *store, const char *name)
{
    pthread_mutex_lock(&s_lock);
    bool known = s_find(name) != NULL;
    pthread_mutex_unlock(&s_lock);
    if (known || name[0] == '.')
        return;
    size_t len = 0;
    const char *why = NULL;
    char *buf = sl_dqueue_read(s_cf->queue_dir, name, &len, &why);
    if (buf == NULL)
        return; /* removed meanwhile (delivered DSN, sluice queue delete) */
    s_file_t *f = sl_xcalloc(1, sizeof *f);
    size_t body_off;
    if (sl_dqueue_parse(buf, len, &f->hdr, &body_off, &why) != 0) {
        sl_log_error(NULL, "damaged queue file name=%s error=\"%s\"; left in place", name, why);
        free(buf);
        free(f);
        return;
    }
    free(buf);
    snprintf(f->name, sizeof f->name, "%s", name);
    f->done = sl_xcalloc(f->hdr.rcpt_count, sizeof *f->done);
    uint64_t next_at = 0;
    const char *p[] = {name};
    sl_rows_t *rows = sl_store_query(store, "SELECT rcpt FROM dlv_rcpt WHERE name = ?", p, 1);
    for (size_t r = 0; rows && r < sl_rows_count(rows); r++) {
        for (size_t i = 0; i < f->hdr.rcpt_count; i++)
            if (strcmp(f->hdr.rcpts[i], sl_rows_get(rows, r, 0)) == 0)
                f->done[i] = true;
        f->has_state = true;
    }
    sl_rows_free(&rows);
    rows = sl_store_query(store, "SELECT attempts, next_at_ms FROM dlv_state WHERE name = ?", p, 1);
    if (rows && sl_rows_count(rows) == 1) {
        f->attempts = (int)sl_rows_int(rows, 0, 0, 0);
        next_at = (uint64_t)sl_rows_int(rows, 0, 1, 0);
        f->has_state = true;
    }
    sl_rows_free(&rows);

    pthread_mutex_lock(&s_lock);
    size_t *dest = sl_xcalloc(f->hdr.rcpt_count, sizeof *dest);
    for (size_t i = 0; i < f->hdr.rcpt_count; i++)
        dest[i] = s_dest_for(store, f->hdr.rcpts[i]);
    bool *taken = sl_xcalloc(f->hdr.rcpt_count, sizeof *taken);
    for (size_t i = 0; i < f->hdr.rcpt_count; i++) {
        if (f->done[i] || taken[i])
            continue;
        s_job_t *j = sl_xcalloc(1, sizeof *j);
        j->file = f;
        j->dest = dest[i];
        j->rcpt = sl_xcalloc(f->hdr.rcpt_count, sizeof *j->rcpt);
        for (size_t k = i; k < f->hdr.rcpt_count; k++) {
            if (!f->done[k] && !taken[k] && dest[k] == dest[i]) {
                j->rcpt[j->n++] = k;
                taken[k] = true;
            }
        }
        j->next_at = next_at;
        f->jobs++;
        if (next_at > sl_now_ms())
            s_push_deferred(j);
        else
            s_push_ready(j);
    }
    free(taken);
    free(dest);
    size_t b = s_hash(f->name);
    f->hnext = s_table[b];
    s_table[b] = f;
    s_files++;
    bool nothing = f->jobs == 0;
    pthread_mutex_unlock(&s_lock);
    if (nothing) { /* every recipient finished before a crash: only the removal was lost */
        char path[PATH_MAX + SL_DQUEUE_NAME_MAX + 16];
        snprintf(path, sizeof path, "%s/active/%s", s_cf->queue_dir, name);
        unlink(path);
        pthread_mutex_lock(&s_lock);
        s_forget(f);
        pthread_mutex_unlock(&s_lock);
        return;
    }
    pthread_cond_broadcast(&s_wake);
}

static void
s_scan_dir(sl_store_t *store)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/active", s_cf->queue_dir);
    DIR *d = opendir(path);
    if (d == NULL) {
        sl_log_error(NULL, "cannot read the queue dir=%s error=\"%s\"", path, strerror(errno));
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            s_load(store, e->d_name);
    closedir(d);
}

/* s_take - the next job for a thread holding a connection to HELD ((size_t)-1
 * when none): HELD's own queue first, else any destination with a free
 * connection slot. Reserves the slot. Under s_lock. */
static s_job_t *
s_take(size_t held)
{
    uint64_t now = sl_mono_ms();
    s_dest_t *d = NULL;
    if (held != (size_t)-1 && s_dests[held]->head && s_dests[held]->next_start <= now) {
        d = s_dests[held];
    } else {
        for (size_t i = 0; i < s_ndests && d == NULL; i++) {
            s_dest_t *c = s_dests[i];
            if (i != held && c->head && c->active < s_cf->concurrency && c->next_start <= now)
                d = c;
        }
        if (d == NULL)
            return NULL;
        d->active++; /* the caller gives up HELD's slot */
    }
    s_job_t *j = d->head;
    d->head = j->next;
    if (d->head == NULL)
        d->tail = NULL;
    d->queued--;
    j->next = NULL;
    if (s_cf->rate_delay_ms > 0)
        d->next_start = now + (uint64_t)s_cf->rate_delay_ms;
    return j;
}

static uint64_t
s_backoff(int attempts)
{
    uint64_t ms = (uint64_t)s_cf->retry_min_ms;
    for (int i = 1; i < attempts && ms < (uint64_t)s_cf->retry_max_ms; i++)
        ms *= 2;
    return ms > (uint64_t)s_cf->retry_max_ms ? (uint64_t)s_cf->retry_max_ms : ms;
}

typedef struct {
    sl_store_t *store;     /* this thread's handle */
    delivery_conn_t *conn; /* open connection, or NULL */
    size_t held;           /* its destination, (size_t)-1 when none */
    uint64_t idle_since;   /* mono ms the connection went idle */
    int index;             /* thread number, for logs */
} s_worker_t;

/* s_finish - apply the results of job J (recipient results R) outside the lock
 * where possible: DSN, store, file removal. */
static void
s_finish(s_worker_t *w, s_job_t *j, delivery_rcpt_result_t *r, const char *msg, size_t len,
         const char *tls)
{
    s_file_t *f = j->file;
    const char *id = f->hdr.id;
    uint64_t now = sl_now_ms();
    bool expired = now - f->hdr.created_ms > (uint64_t)s_cf->max_lifetime_ms;
    size_t nfail = 0, ndefer = 0;
    delivery_rcpt_result_t *failed = sl_xcalloc(j->n, sizeof *failed);
    for (size_t i = 0; i < j->n; i++) {
        int cls = r[i].code / 100;
        const char *dest = s_dests[j->dest]->key;
        if (cls == 2) {
            sl_log_info(id, "sent to=%s relay=%s tls=\"%s\" reply=\"%s\"", r[i].rcpt, dest, tls,
                        r[i].text);
            continue;
        }
        if (cls == 5 || expired) {
            failed[nfail] = r[i];
            if (cls != 5) {
                snprintf(failed[nfail].text, sizeof failed[nfail].text,
                         "gave up after %d attempts over the maximum queue lifetime: %s",
                         f->attempts + 1, r[i].text);
                failed[nfail].code = 0;
            }
            sl_log_info(id, "bounced to=%s relay=%s reply=\"%s\"", r[i].rcpt, dest,
                        failed[nfail].text);
            nfail++;
            continue;
        }
        ndefer++;
        sl_log_info(id, "deferred to=%s relay=%s attempt=%d reply=\"%s\"", r[i].rcpt, dest,
                    f->attempts + 1, r[i].text);
    }
    const char *why = NULL;
    if (nfail > 0 && f->hdr.from[0] && strcmp(f->hdr.kind, "dsn") != 0) {
        if (delivery_dsn_write(s_cf, f->name, id, f->hdr.from, failed, nfail, msg, len, &why) !=
            0) {
            /* Without the bounce on disk the failure is not final: try again later. */
            sl_log_error(id, "cannot write a DSN error=\"%s\"; deferring", why);
            for (size_t i = 0; i < j->n; i++)
                if (r[i].code / 100 == 5)
                    r[i].code = 0;
            ndefer += nfail;
            nfail = 0;
        }
    } else if (nfail > 0) {
        sl_log_info(id, "no DSN: %s", f->hdr.from[0] ? "the failed mail is a DSN" : "null sender");
    }

    pthread_mutex_lock(&s_lock);
    bool partial = !(f->jobs == 1 && ndefer == 0); /* the file stays: remember who finished */
    pthread_mutex_unlock(&s_lock);

    /* The message log's delivery column is written in batches by the main
     * thread; what a restart needs (finished recipients, retry state) is
     * written here, one writer at a time: SQLite's busy handler sleeps, and
     * twenty threads waiting on it would cost more than the SMTP dialogues. */
    bool state = (partial || ndefer > 0) && w->store != NULL;
    for (size_t i = 0; i < j->n; i++) {
        int cls = r[i].code / 100;
        s_note_delivery(id, r[i].rcpt,
                        cls == 2              ? "sent"
                        : cls == 5 || expired ? "bounced"
                                              : "deferred",
                        r[i].text);
    }
    if (state) {
        pthread_mutex_lock(&s_store_lock);
        sl_store_begin(w->store);
    }
    for (size_t i = 0; i < j->n && state; i++) {
        int cls = r[i].code / 100;
        bool final = cls == 2 || cls == 5 || (expired && cls != 2);
        if (!final)
            continue;
        const char *status = cls == 2 ? "sent" : "bounced";
        if (partial) {
            const char *p[] = {f->name, r[i].rcpt, status, r[i].text};
            sl_store_exec(w->store,
                          "INSERT INTO dlv_rcpt (name, rcpt, status, reply) VALUES (?, ?, ?, ?)"
                          " ON CONFLICT (name, rcpt) DO NOTHING",
                          p, 4);
        }
    }
    uint64_t next_at = 0;
    if (ndefer > 0) {
        char attempts[16], next[24], reason[DELIVERY_REPLY_TEXT_MAX + 64];
        next_at = now + s_backoff(f->attempts + 1);
        snprintf(attempts, sizeof attempts, "%d", f->attempts + 1);
        snprintf(next, sizeof next, "%llu", (unsigned long long)next_at);
        for (size_t i = 0; i < j->n; i++)
            if (r[i].code / 100 != 2 && r[i].code / 100 != 5)
                snprintf(reason, sizeof reason, "%s: %s", r[i].rcpt, r[i].text);
        const char *p[] = {f->name, id, attempts, next, reason};
        sl_store_exec(w->store,
                      "INSERT INTO dlv_state (name, id, attempts, next_at_ms, reason)"
                      " VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                      " attempts = excluded.attempts, next_at_ms = excluded.next_at_ms,"
                      " reason = excluded.reason",
                      p, 5);
    }
    if (state && sl_store_commit(w->store) != 0) {
        sl_log_warn(id, "delivery state not saved error=\"%s\"", sl_store_error(w->store));
        sl_store_rollback(w->store);
    }
    if (state)
        pthread_mutex_unlock(&s_store_lock);

    pthread_mutex_lock(&s_lock);
    size_t keep = 0;
    for (size_t i = 0; i < j->n; i++) {
        int cls = r[i].code / 100;
        if (cls == 2 || cls == 5 || expired)
            f->done[j->rcpt[i]] = true;
        else
            j->rcpt[keep++] = j->rcpt[i];
    }
    j->n = keep;
    if (keep > 0) {
        f->attempts++;
        f->has_state = true;
        j->next_at = next_at;
        s_push_deferred(j);
        j = NULL;
    } else {
        f->jobs--;
    }
    bool remove = f->jobs == 0;
    pthread_mutex_unlock(&s_lock);
    if (j) {
        free(j->rcpt);
        free(j);
    }
    if (remove) {
        char path[PATH_MAX + SL_DQUEUE_NAME_MAX + 16];
        snprintf(path, sizeof path, "%s/active/%s", s_cf->queue_dir, f->name);
        unlink(path);
        if (f->has_state && w->store) {
            const char *p[] = {f->name};
            pthread_mutex_lock(&s_store_lock);
            sl_store_exec(w->store, "DELETE FROM dlv_rcpt WHERE name = ?", p, 1);
            sl_store_exec(w->store, "DELETE FROM dlv_state WHERE name = ?", p, 1);
            pthread_mutex_unlock(&s_store_lock);
        }
        pthread_mutex_lock(&s_lock);
        s_forget(f);
        pthread_mutex_unlock(&s_lock);
    }
    free(failed);
}

/* s_drop_job - the file went away (sluice queue delete): forget the job. */
static void
s_drop_job(s_job_t *j)
{
    pthread_mutex_lock(&s_lock);
    s_file_t *f = j->file;
    bool remove = --f->jobs == 0;
    if (remove)
        s_forget(f);
    pthread_mutex_unlock(&s_lock);
    free(j->rcpt);
    free(j);
}

/* s_attempt - one delivery attempt of job J on W's connection (opened as needed). */
static void
s_attempt(s_worker_t *w, s_job_t *j)
{
    s_file_t *f = j->file;
    s_dest_t *d = s_dests[j->dest];
    size_t len = 0, off = 0;
    const char *why = NULL;
    char *buf = sl_dqueue_read(s_cf->queue_dir, f->name, &len, &why);
    sl_dqueue_hdr_t hdr;
    if (buf == NULL || sl_dqueue_parse(buf, len, &hdr, &off, &why) != 0) {
        sl_log_info(f->hdr.id, "queue file gone name=%s (%s); job dropped", f->name, why);
        free(buf);
        s_drop_job(j);
        return;
    }
    sl_dqueue_hdr_clear(&hdr);
    delivery_rcpt_result_t *r = sl_xcalloc(j->n, sizeof *r);
    for (size_t i = 0; i < j->n; i++)
        r[i].rcpt = f->hdr.rcpts[j->rcpt[i]];
    if (d->why[0]) {
        for (size_t i = 0; i < j->n; i++)
            snprintf(r[i].text, sizeof r[i].text, "%s", d->why);
    } else {
        if (w->conn == NULL) {
            delivery_rcpt_result_t fail = {0};
            w->conn = delivery_smtp_open(s_cf, &d->dest, &fail);
            if (w->conn == NULL)
                for (size_t i = 0; i < j->n; i++) {
                    r[i].code = fail.code; /* 0 (defer) but for a domain that cannot exist */
                    snprintf(r[i].text, sizeof r[i].text, "%s", fail.text);
                }
        }
        if (w->conn && delivery_smtp_send(w->conn, f->hdr.from, buf + off, len - off, r, j->n) != 0)
            delivery_smtp_close(&w->conn, false);
    }
    char tls[128];
    snprintf(tls, sizeof tls, "%s", w->conn ? delivery_smtp_tls(w->conn) : "");
    s_finish(w, j, r, buf + off, len - off, tls);
    free(r);
    free(buf);
}

static void *
s_worker_main(void *arg)
{
    s_worker_t *w = arg;
    char err[512];
    w->store = sl_store_open(s_cf->store_url, err, sizeof err);
    if (w->store == NULL)
        sl_log_error(NULL, "worker %d: store: %s (delivering without state)", w->index, err);
    w->held = (size_t)-1;
    pthread_mutex_lock(&s_lock);
    while (!s_stopping) {
        s_job_t *j = s_take(w->conn ? w->held : (size_t)-1);
        if (j == NULL) {
            uint64_t now = sl_mono_ms();
            if (w->conn && now - w->idle_since >= (uint64_t)s_cf->idle_ms) {
                s_dests[w->held]->active--;
                pthread_mutex_unlock(&s_lock);
                delivery_smtp_close(&w->conn, true);
                pthread_mutex_lock(&s_lock);
                w->held = (size_t)-1;
                continue;
            }
            if (w->conn == NULL && w->held != (size_t)-1) {
                s_dests[w->held]->active--; /* a failed open left the slot reserved */
                w->held = (size_t)-1;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&s_wake, &s_lock, &ts);
            continue;
        }
        size_t prev = w->held;
        bool switched = prev != j->dest;
        if (switched && prev != (size_t)-1)
            s_dests[prev]->active--;
        w->held = j->dest;
        pthread_mutex_unlock(&s_lock);
        if (switched && w->conn)
            delivery_smtp_close(&w->conn, true);
        if (w->store == NULL) {
            w->store = sl_store_open(s_cf->store_url, err, sizeof err);
        }
        s_attempt(w, j);
        w->idle_since = sl_mono_ms();
        pthread_mutex_lock(&s_lock);
        if (w->conn == NULL) {
            s_dests[w->held]->active--;
            w->held = (size_t)-1;
        }
    }
    if (w->held != (size_t)-1)
        s_dests[w->held]->active--;
    pthread_mutex_unlock(&s_lock);
    delivery_smtp_close(&w->conn, true);
    sl_store_close(&w->store);
    return NULL;
}

/* s_release_deferred - move deferred jobs that are due (all with FLUSH) to their queues. */
static void
s_release_deferred(bool flush)
{
    uint64_t now = sl_now_ms();
    size_t moved = 0;
    pthread_mutex_lock(&s_lock);
    s_job_t **pp = &s_deferred;
    while (*pp) {
        s_job_t *j = *pp;
        if (flush || j->next_at <= now) {
            *pp = j->next;
            s_push_ready(j);
            moved++;
        } else {
            pp = &j->next;
        }
    }
    pthread_mutex_unlock(&s_lock);
    if (moved)
        pthread_cond_broadcast(&s_wake);
    if (flush)
        sl_log_info(NULL, "flush: %zu deferred jobs released", moved);
}

static void
s_write_pid(void)
{
    FILE *f = fopen(s_cf->pid_file, "w");
    if (f) {
        fprintf(f, "%d\n", (int)getpid());
        fclose(f);
    }
}

int
delivery_run(const delivery_conf_t *cf)
{
    s_cf = cf;
    const char *why = NULL;
    char err[1024];
    if (sl_dqueue_init(cf->queue_dir, &why) != 0) {
        sl_log_error(NULL, "queue_dir=%s: %s", cf->queue_dir, why);
        return 1;
    }
    sl_store_t *store = sl_store_open(cf->store_url, err, sizeof err);
    if (store == NULL || sl_policy_migrate(store) != 0 || sl_msglog_migrate(store) != 0 ||
        delivery_queue_migrate(store) != 0) {
        sl_log_error(NULL, "store %s: %s", cf->store_url, store ? sl_store_error(store) : err);
        sl_store_close(&store);
        return 1;
    }
    if (delivery_smtp_init(cf, &why) != 0) {
        sl_log_error(NULL, "tls: %s", why);
        sl_store_close(&store);
        return 1;
    }
    int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    char active[PATH_MAX + 16];
    snprintf(active, sizeof active, "%s/active", cf->queue_dir);
    if (ino >= 0 && inotify_add_watch(ino, active, IN_MOVED_TO) < 0) {
        close(ino);
        ino = -1;
    }
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    s_write_pid();

    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    s_worker_t *ws = sl_xcalloc((size_t)cf->connections, sizeof *ws);
    pthread_t *th = sl_xcalloc((size_t)cf->connections, sizeof *th);
    for (int i = 0; i < cf->connections; i++) {
        ws[i].index = i;
        pthread_create(&th[i], NULL, s_worker_main, &ws[i]);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    sl_log_info(NULL,
                "delivery ready queue_dir=%s connections=%d concurrency=%d "
                "default_route=%s inotify=%s",
                cf->queue_dir, cf->connections, cf->concurrency, cf->default_route,
                ino >= 0 ? "yes" : "no");
    s_scan_dir(store);
    uint64_t next_scan = sl_mono_ms() + (uint64_t)cf->scan_ms;
    while (!s_stop) {
        struct pollfd p = {.fd = ino, .events = POLLIN};
        int n = poll(&p, ino >= 0 ? 1 : 0, S_TICK_MS);
        if (n > 0) {
            char evbuf[65536] __attribute__((aligned(8)));
            ssize_t got;
            while ((got = read(ino, evbuf, sizeof evbuf)) > 0) {
                for (char *e = evbuf; e < evbuf + got;) {
                    struct inotify_event *ev = (struct inotify_event *)(void *)e;
                    if (ev->mask & IN_Q_OVERFLOW)
                        next_scan = 0;
                    else if (ev->len > 0)
                        s_load(store, ev->name);
                    e += sizeof *ev + ev->len;
                }
            }
        }
        bool flush = s_flush != 0;
        s_flush = 0;
        s_flush_notes(store);
        s_release_deferred(flush);
        if (flush || sl_mono_ms() >= next_scan) {
            s_scan_dir(store);
            next_scan = sl_mono_ms() + (uint64_t)cf->scan_ms;
        }
    }
    sl_log_info(NULL, "delivery stopping");
    pthread_mutex_lock(&s_lock);
    s_stopping = 1;
    pthread_cond_broadcast(&s_wake);
    pthread_mutex_unlock(&s_lock);
    for (int i = 0; i < cf->connections; i++)
        pthread_join(th[i], NULL);
    free(th);
    free(ws);
    s_flush_notes(store);
    if (ino >= 0)
        close(ino);
    unlink(cf->pid_file);
    sl_store_close(&store);
    sl_log_info(NULL, "delivery stopped files_held=%zu", s_files);
    return 0;
}
