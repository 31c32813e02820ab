/*
 * smtpd/smtpd_queue.c - spooled messages on their way through the broker.
 *
 * Every spool entry not yet released is in this list: either in flight (a
 * request id and a deadline) or waiting (a time to submit again). A result
 * with status OK releases the entry (unlink, or archive with the final
 * envelope); busy, tempfail, error or silence past the deadline mean "again
 * later" with exponential back-off: the spool is the truth and nothing leaves
 * it without a result. Also routes connect/rcpt results to their sessions.
 * Tests: tests/e2e/test_smtpd_spool.py
 */
#include "smtpd.h"

#include "sl_log.h"
#include "smtpd_spool.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_BUCKETS 4096           /* request map buckets */
#define S_BACKOFF_MIN_MS 500     /* first retry after busy/tempfail/no answer */
#define S_BACKOFF_MAX_MS 15000   /* cap: a restarted broker gets the mail soon */
#define S_ERROR_RETRY_MS 300000  /* refused request (bad graph...): the operator must act */
#define S_DRAIN_MAX 10000        /* results per drain, for fairness */
#define S_ARCHIVE_SWEEP_MS 60000 /* archive retention check interval */

enum { S_WATCH_SESSION, S_WATCH_ENTRY };

typedef struct s_entry {
    struct s_entry *prev, *next;
    char id[SL_ENV_ID_MAX + 1]; /* queue id = spool file name */
    uint64_t req;               /* request in flight, 0 when waiting */
    uint64_t due;               /* mono ms: deadline in flight, next submit when waiting */
    unsigned attempts;          /* submissions so far */
    bool inband;                /* the broker refused its body file: send the body */
} s_entry_t;

typedef struct s_watch {
    struct s_watch *next;
    uint64_t req;
    int kind;  /* S_WATCH_* */
    void *ptr; /* smtpd_session_t or s_entry_t */
} s_watch_t;

struct smtpd_queue {
    smtpd_t *srv;
    s_entry_t *head, *tail;        /* oldest first */
    size_t count;                  /* entries */
    size_t inflight;               /* entries with a request out */
    size_t inflight_max;           /* cap, the broker's own max_messages */
    uint64_t deadline_ms;          /* how long a content request may stay silent */
    s_watch_t *buckets[S_BUCKETS]; /* request id -> owner */
    uint64_t next_sweep;           /* mono ms of the next archive sweep */
    bool by_file;                  /* broker on this host: bodies go as spool file ranges */
    char *abs_dir;                 /* the spool dir as an absolute path, once known */
};

static void
s_watch_put(smtpd_queue_t *self, uint64_t req, int kind, void *ptr)
{
    s_watch_t *w = sl_xmalloc(sizeof *w);
    *w = (s_watch_t){.next = self->buckets[req % S_BUCKETS], .req = req, .kind = kind, .ptr = ptr};
    self->buckets[req % S_BUCKETS] = w;
}

static s_watch_t *
s_watch_take(smtpd_queue_t *self, uint64_t req)
{
    for (s_watch_t **pp = &self->buckets[req % S_BUCKETS]; *pp; pp = &(*pp)->next) {
        if ((*pp)->req == req) {
            s_watch_t *w = *pp;
            *pp = w->next;
            return w;
        }
    }
    return NULL;
}

void
smtpd_queue_watch(smtpd_queue_t *self, uint64_t req, smtpd_session_t *s)
{
    s_watch_put(self, req, S_WATCH_SESSION, s);
}

void
smtpd_queue_unwatch(smtpd_queue_t *self, uint64_t req)
{
    free(s_watch_take(self, req));
}

smtpd_queue_t *
smtpd_queue_new(smtpd_t *srv)
{
    smtpd_queue_t *self = sl_xcalloc(1, sizeof *self);
    self->srv = srv;
    int max = srv->conf->broker.max_messages;
    self->inflight_max = max > 0 ? (size_t)max : 1000;
    int timeout = srv->conf->broker.message_timeout_ms;
    self->deadline_ms = (uint64_t)(timeout > 0 ? timeout : 60000) + 10000;
    self->by_file = sl_client_same_host(srv->conf->broker.frontend);
    return self;
}

void
smtpd_queue_destroy(smtpd_queue_t **self_p)
{
    smtpd_queue_t *self = *self_p;
    if (self == NULL)
        return;
    for (s_entry_t *e = self->head; e;) {
        s_entry_t *next = e->next;
        free(e);
        e = next;
    }
    for (size_t i = 0; i < S_BUCKETS; i++)
        for (s_watch_t *w = self->buckets[i]; w;) {
            s_watch_t *next = w->next;
            free(w);
            w = next;
        }
    free(self->abs_dir);
    free(self);
    *self_p = NULL;
}

size_t
smtpd_queue_count(const smtpd_queue_t *self)
{
    return self->count;
}

static s_entry_t *
s_entry_new(smtpd_queue_t *self, const char *id)
{
    s_entry_t *e = sl_xcalloc(1, sizeof *e);
    sl_strlcpy(e->id, id, sizeof e->id);
    e->prev = self->tail;
    if (self->tail)
        self->tail->next = e;
    else
        self->head = e;
    self->tail = e;
    self->count++;
    return e;
}

static void
s_entry_free(smtpd_queue_t *self, s_entry_t *e)
{
    if (e->req) {
        free(s_watch_take(self, e->req));
        self->inflight--;
    }
    if (e->prev)
        e->prev->next = e->next;
    else
        self->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        self->tail = e->prev;
    self->count--;
    free(e);
}

static void
s_backoff(smtpd_queue_t *self, s_entry_t *e, uint64_t delay, const char *reason)
{
    if (e->req) {
        free(s_watch_take(self, e->req));
        self->inflight--;
        e->req = 0;
    }
    e->due = sl_mono_ms() + delay;
    sl_log_info(e->id, "retry reason=\"%s\" attempts=%u in_ms=%llu", reason, e->attempts,
                (unsigned long long)delay);
}

static uint64_t
s_delay(const s_entry_t *e)
{
    unsigned shift = e->attempts > 6 ? 6 : e->attempts;
    uint64_t d = (uint64_t)S_BACKOFF_MIN_MS << shift;
    return d > S_BACKOFF_MAX_MS ? S_BACKOFF_MAX_MS : d;
}

/* s_file_ref - E's body (LEN bytes at BODY_AT of its spool file; BODY_AT 0:
 * not known, read from the file's header) as a range of that file, for a
 * broker on this host (it reads the file where smtpd wrote it: no copy of the
 * body through the sockets); -1 when the body must go in the frame. */
static int
s_file_ref(smtpd_queue_t *self, const s_entry_t *e, uint64_t body_at, size_t len,
           sl_bodyfile_ref_t *ref)
{
    if (!self->by_file || e->inband)
        return -1;
    if (self->abs_dir == NULL) {
        self->abs_dir = realpath(self->srv->cfg.spool_dir, NULL);
        if (self->abs_dir == NULL) {
            sl_log_warn(NULL, "spool dir has no absolute path: bodies go in the frame dir=%s",
                        self->srv->cfg.spool_dir);
            self->by_file = false;
            return -1;
        }
    }
    const char *why = "path too long";
    if (smtpd_spool_path(ref->path, sizeof ref->path, self->abs_dir, NULL, e->id) != 0 ||
        (body_at == 0 &&
         smtpd_spool_body_range(ref->path, &body_at, &ref->length, &why) != 0)) {
        sl_log_warn(e->id, "body sent in the frame reason=\"%s\"", why);
        return -1;
    }
    ref->offset = body_at;
    ref->length = len;
    return 0;
}

/* s_submit - ENV and the body (LEN bytes, at BODY_AT of the spool file, 0
 * when not known) to the broker: by file, or in the frame. */
static void
s_submit(smtpd_queue_t *self, s_entry_t *e, const sl_env_t *env, const void *body, size_t len,
         uint64_t body_at)
{
    e->attempts++;
    /* Small bodies cost less in the frame than a file opened per stage. */
    if (len < self->srv->conf->broker.body_file_min)
        e->inband = true;
    sl_bodyfile_ref_t ref;
    uint64_t req = 0;
    if (self->srv->client && s_file_ref(self, e, body_at, len, &ref) == 0) {
        req = smtpd_server_submit_file(self->srv, "content", env, &ref);
    } else if (self->srv->client) {
        req = smtpd_server_submit(self->srv, "content", env, body, len, 0);
    }
    if (req == 0) {
        s_backoff(self, e, s_delay(e), "broker busy or unreachable");
        return;
    }
    e->req = req;
    e->due = sl_mono_ms() + self->deadline_ms;
    self->inflight++;
    s_watch_put(self, req, S_WATCH_ENTRY, e);
    sl_log_debug(e->id, "submitted graph=%s phase=content attempt=%u", self->srv->cfg.graph,
                 e->attempts);
}

void
smtpd_queue_add(smtpd_queue_t *self, const sl_env_t *env, char **msg_p, size_t len)
{
    s_entry_t *e = s_entry_new(self, sl_env_id(env));
    if (self->inflight < self->inflight_max)
        s_submit(self, e, env, *msg_p, len, 0);
    else
        e->due = 0; /* the tick submits it when a slot frees */
    free(*msg_p);
    *msg_p = NULL;
}

/* s_load_entry - reads the spool file of E; 0 with the decoded envelope and
 * the file image (body points into it). */
static int
s_load_entry(smtpd_queue_t *self, const char *subdir, const char *id, sl_env_t **env, void **image,
             const void **body, size_t *body_len, const char **why)
{
    char path[4096];
    size_t len, env_len;
    const void *env_buf;
    if (smtpd_spool_path(path, sizeof path, self->srv->cfg.spool_dir, subdir, id) != 0)
        return sl_fail(why, "path too long");
    if (smtpd_spool_load(path, image, &len, why) != 0)
        return -1;
    if (smtpd_spool_parse(*image, len, &env_buf, &env_len, body, body_len, why) != 0 ||
        sl_env_decode(env_buf, env_len, env, why) != 0) {
        free(*image);
        *image = NULL;
        return -1;
    }
    return 0;
}

static void
s_resubmit(smtpd_queue_t *self, s_entry_t *e)
{
    sl_env_t *env = NULL;
    void *image = NULL;
    const void *body;
    size_t body_len;
    const char *why;
    if (s_load_entry(self, NULL, e->id, &env, &image, &body, &body_len, &why) != 0) {
        if (strcmp(why, "no such spool entry") == 0) {
            sl_log_info(e->id, "released reason=\"spool entry gone\"");
            s_entry_free(self, e);
            return;
        }
        sl_log_error(e->id, "spool entry unreadable reason=\"%s\"", why);
        e->due = sl_mono_ms() + S_ERROR_RETRY_MS;
        return;
    }
    s_submit(self, e, env, body, body_len, (uint64_t)((const char *)body - (const char *)image));
    sl_env_destroy(&env);
    free(image);
}

static void
s_release(smtpd_queue_t *self, s_entry_t *e, const sl_env_t *final)
{
    const smtpd_conf_t *c = &self->srv->cfg;
    bool archived = false;
    if (c->archive) {
        sl_env_t *env = NULL;
        void *image = NULL;
        const void *body;
        size_t body_len, env_len;
        const char *why = "envelope encoding failed";
        if (s_load_entry(self, NULL, e->id, &env, &image, &body, &body_len, &why) == 0) {
            void *fin = sl_env_encode(final, &env_len);
            if (fin != NULL && smtpd_spool_write(c->spool_dir, "archive", e->id, fin, env_len, NULL,
                                                 0, body, body_len, 0, &why) == 0)
                archived = true;
            free(fin);
            sl_env_destroy(&env);
            free(image);
        }
        if (!archived)
            sl_log_warn(e->id, "archive failed reason=\"%s\"", why);
    }
    smtpd_sync_remove(self->srv->sync, e->id); /* on a thread: an unlink may wait for the journal */
    smtpd_replica_del(self->srv->replica, e->id);
    const char *cls = sl_env_str(final, SL_ENV_CLASSIFICATION);
    char failed[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < sl_env_verdict_count(final); i++) {
        const sl_verdict_t *v = sl_env_verdict_at(final, i);
        if (sl_verdict_error(v)[0] == '\0')
            continue;
        int n = snprintf(failed + used, sizeof failed - used, "%s%s", used ? "," : "",
                         sl_verdict_stage(v));
        if (n < 0 || (size_t)n >= sizeof failed - used)
            break;
        used += (size_t)n;
    }
    sl_log_info(e->id, "released status=ok classification=%s attempts=%u archived=%s%s%s",
                cls[0] ? cls : "none", e->attempts, archived ? "yes" : "no",
                used ? " failed_stages=" : "", failed);
    s_entry_free(self, e);
}

static void
s_entry_result(smtpd_queue_t *self, s_entry_t *e, const sl_result_t *r)
{
    e->req = 0;
    self->inflight--;
    switch (r->status) {
    case SL_RESULT_OK:
        if (r->env != NULL) {
            s_release(self, e, r->env);
            return;
        }
        s_backoff(self, e, s_delay(e), "result without envelope");
        return;
    case SL_RESULT_BUSY:
    case SL_RESULT_TEMPFAIL: {
        char reason[300];
        snprintf(reason, sizeof reason, "%s: %s", sl_result_status_name(r->status), r->why);
        s_backoff(self, e, s_delay(e), reason);
        return;
    }
    case SL_RESULT_ERROR:
        if (strncmp(r->why, "body file", 9) == 0 && !e->inband) {
            /* The broker could not open the spool file (another mount
             * namespace, say): send this one's body in the frame, at once. */
            sl_log_warn(e->id, "body file refused by broker reason=\"%s\" resend=in-frame",
                        r->why);
            e->inband = true;
            if (strstr(r->why, "not inside broker.body_file_dirs") && self->by_file) {
                sl_log_warn(NULL, "broker takes no body files from the spool dir=%s: bodies "
                            "go in the frame from now on (see broker.body_file_dirs)",
                            self->abs_dir ? self->abs_dir : self->srv->cfg.spool_dir);
                self->by_file = false;
            }
            s_backoff(self, e, 0, "body file refused by broker");
            return;
        }
        sl_log_error(e->id, "submission refused reason=\"%s\"", r->why);
        s_backoff(self, e, S_ERROR_RETRY_MS, "refused by broker");
        return;
    }
}

static void
s_result(smtpd_queue_t *self, sl_result_t *r)
{
    s_watch_t *w = s_watch_take(self, r->req);
    if (w != NULL) {
        int kind = w->kind;
        void *ptr = w->ptr;
        free(w);
        if (kind == S_WATCH_SESSION)
            smtpd_session_result(ptr, r); /* its unwatch finds nothing: harmless */
        else
            s_entry_result(self, ptr, r);
        return;
    }
    /* A late answer to a request we gave up on: still good news when OK. */
    if (r->status != SL_RESULT_OK || r->env == NULL)
        return;
    const char *id = sl_env_id(r->env);
    for (s_entry_t *e = self->head; e; e = e->next) {
        if (strcmp(e->id, id) == 0) {
            if (e->req) {
                free(s_watch_take(self, e->req));
                self->inflight--;
                e->req = 0;
            }
            s_release(self, e, r->env);
            return;
        }
    }
}

void
smtpd_queue_drain(smtpd_queue_t *self)
{
    if (self->srv->client == NULL)
        return;
    for (int i = 0; i < S_DRAIN_MAX; i++) {
        sl_result_t r;
        memset(&r, 0, sizeof r);
        int rc = sl_client_recv(self->srv->client, 0, &r);
        if (rc != 1)
            return;
        s_result(self, &r);
        sl_result_clear(&r);
    }
}

static void
s_archive_sweep_one(const char *id, void *ctx)
{
    smtpd_queue_t *self = ctx;
    char path[4096];
    struct stat st;
    const smtpd_conf_t *c = &self->srv->cfg;
    if (smtpd_spool_path(path, sizeof path, c->spool_dir, "archive", id) != 0 ||
        stat(path, &st) != 0)
        return;
    uint64_t age_ms = (sl_now_ms() / 1000 - (uint64_t)st.st_mtime) * 1000;
    if ((int64_t)age_ms > c->archive_retention_ms &&
        smtpd_spool_remove(c->spool_dir, "archive", id) == 0)
        sl_log_info(id, "archive expired");
}

void
smtpd_queue_tick(smtpd_queue_t *self)
{
    uint64_t now = sl_mono_ms();
    for (s_entry_t *e = self->head; e;) {
        s_entry_t *next = e->next;
        if (e->req && now >= e->due) {
            s_backoff(self, e, 0, "no result within deadline");
        } else if (!e->req && now >= e->due && self->inflight < self->inflight_max) {
            s_resubmit(self, e);
        }
        e = next;
    }
    if (now >= self->next_sweep) {
        self->next_sweep = now + S_ARCHIVE_SWEEP_MS;
        if (self->srv->cfg.archive)
            smtpd_spool_each(self->srv->cfg.spool_dir, "archive", s_archive_sweep_one, self);
    }
}

static void
s_load_one(const char *id, void *ctx)
{
    s_entry_t *e = s_entry_new(ctx, id);
    e->due = 0;
}

void
smtpd_queue_adopt(smtpd_queue_t *self, const char *id)
{
    s_load_one(id, self);
}

long
smtpd_queue_load(smtpd_queue_t *self)
{
    long n = smtpd_spool_each(self->srv->cfg.spool_dir, NULL, s_load_one, self);
    if (n > 0)
        sl_log_info(NULL, "spool entries=%ld action=resubmit", n);
    return n;
}
