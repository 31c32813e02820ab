/*
 * lib/sl_stage.c - the stage runtime: socket, heartbeats, credit, lanes (scan threads), signals.
 *
 * Each lane is one connection to the broker and one thread that scans its
 * jobs itself, inline, as it receives them: no thread hand-off on the path.
 * Capacity 1 (the common case) is one lane on the main thread; capacity N
 * runs N lanes in one process (one copy of the stage's engine, rules or
 * signatures), the main thread being lane 0, and the broker sees N
 * capacity-1 workers labelled host:pid/K. A small heartbeat thread keeps
 * the broker's liveness honest during a long scan: while a lane is inside
 * the scan function it has released its socket (a mutex; ZeroMQ allows a
 * socket to move between threads across a full memory barrier), and the
 * heartbeat thread sends HB on it when nothing was sent for one interval.
 * Every lane asks for batches (READY's batch frame, the stage's `batch:`):
 * it takes up to that many jobs as credit, in JOB or JOBS messages, scans
 * them one after another and answers them in one DONES.
 * (Until 2026-12 capacity N meant N scan threads behind one connection and
 * inproc PAIR sockets, one job at a time each: the hand-offs and the
 * missing batches made it half as fast as N processes on large mail.)
 * A lane waits on its DEALER's ZMQ_FD (and the stop pipe) with one poll()
 * and drains it with ZMQ_DONTWAIT (see sl_wire.h), reading the coarse clock
 * once per turn.
 * Protocol: broker/README.md. Tests: tests/e2e/test_pipeline.py, test_stage_inline.py, test_batch.py
 */
#include "sl_stage.h"
#include "sl_batch.h"
#include "sl_bodyfile.h"
#include "sl_client.h"
#include "sl_conf.h"
#include "sl_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SL_STAGE_CAPACITY_MAX 256
#define SL_STAGE_BATCH_DEFAULT 16 /* without a config: jobs per JOBS, per lane */
#define S_BODY_MAP_MAX ((size_t) 1 << 31) /* a body file range mapped at most */
#define SL_STAGE_FLUSH_MS 2       /* finished answers wait at most this long for the batch:
                                   * their credit brings the next jobs while the rest is scanned */

struct sl_msg {
    const char *id;        /* queue id (borrowed from env) */
    const char *phase;     /* borrowed from the JOB frame copy */
    sl_env_t *env;         /* decoded envelope */
    sl_slice_t body;       /* raw message, or empty */
    sl_slice_t *parts;     /* decoded part data */
    size_t part_count;     /* entries in parts */
};

typedef struct {
    const sl_stage_def_t *def;
    void *ctx;           /* the stage's own context */
    const char *name;    /* graph node served */
    char label[128];     /* host:pid */
    void *zctx;
} s_runtime_t;

static volatile sig_atomic_t s_stop;
static int s_stop_pipe[2] = {-1, -1}; /* written once on stop: wakes every lane */

static void
s_free_buf(void *data, void *hint)
{
    (void) hint;
    free(data);
}

/* s_stop_all - every lane stops (CODE 1: a signal; 2: the broker does not
 * know the stage). Async-signal-safe. */
static void
s_stop_all(int code)
{
    if (s_stop == 0 || code > s_stop)
        s_stop = code;
    if (s_stop_pipe[1] >= 0) {
        ssize_t w = write(s_stop_pipe[1], "x", 1);
        (void) w; /* full (already written) is as good */
    }
}

static void
s_on_signal(int sig)
{
    (void) sig;
    s_stop_all(1);
}

const sl_env_t *
sl_msg_env(const sl_msg_t *msg)
{
    return msg->env;
}

const char *
sl_msg_id(const sl_msg_t *msg)
{
    return msg->id;
}

sl_slice_t
sl_msg_body(const sl_msg_t *msg)
{
    return msg->body;
}

size_t
sl_msg_part_count(const sl_msg_t *msg)
{
    return msg->part_count;
}

sl_slice_t
sl_msg_part(const sl_msg_t *msg, size_t index)
{
    if (index >= msg->part_count)
        return (sl_slice_t){NULL, 0};
    return msg->parts[index];
}

const char *
sl_msg_phase(const sl_msg_t *msg)
{
    return msg->phase;
}

/* Answers made and not sent yet: each is job verdict [part...]. */
typedef struct {
    zmq_msg_t *frames;              /* every answer's frames, in order */
    size_t count, cap;              /* frames held, allocated */
    size_t sizes[2 * SL_BATCH_MAX]; /* frames of each answer */
    size_t answers;                 /* answers held */
    uint64_t since;                 /* sl_wire_clock_ms when the oldest was made */
} s_answers_t;

static zmq_msg_t *
s_answers_frame(s_answers_t *a)
{
    if (a->count == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->frames = sl_xrealloc(a->frames, a->cap * sizeof *a->frames);
    }
    return &a->frames[a->count++];
}

static void
s_answers_add_owned(s_answers_t *a, void *buf, size_t len)
{
    zmq_msg_t *m = s_answers_frame(a);
    if (zmq_msg_init_data(m, buf, len, s_free_buf, NULL) != 0)
        sl_panic("out of memory for an answer frame");
}

static void
s_answers_free(s_answers_t *a)
{
    for (size_t i = 0; i < a->count; i++)
        zmq_msg_close(&a->frames[i]);
    free(a->frames);
    *a = (s_answers_t){0};
}

/* s_send_frames - sends N frames (moved), the last with LAST_MORE. */
static void
s_send_frames(void *sock, zmq_msg_t *frames, size_t n, int last_more)
{
    for (size_t i = 0; i < n; i++)
        if (zmq_msg_send(&frames[i], sock, i + 1 < n ? ZMQ_SNDMORE : last_more) < 0)
            zmq_msg_close(&frames[i]);
}

/* s_map_body - the body frame *BODY is a file reference (the job said
 * body-file): maps its range and points *BODY at it. On failure the verdict
 * says SL_BODYFILE_ERROR, and the broker sends the body in the frame instead. */
static int
s_map_body(sl_slice_t *body, sl_bodyfile_map_t *map, sl_verdict_t *v)
{
    sl_bodyfile_ref_t ref;
    const char *why = NULL;
    if (sl_bodyfile_parse(body->ptr, body->len, &ref, &why) != 0 ||
        sl_bodyfile_map(&ref, S_BODY_MAP_MAX, map, &why) != 0) {
        char text[200];
        snprintf(text, sizeof text, "%s: %s", SL_BODYFILE_ERROR, why ? why : "?");
        sl_log_warn(NULL, "body file refused reason=\"%s\"", why ? why : "?");
        sl_verdict_set_error(v, text);
        return -1;
    }
    body->ptr = map->data;
    body->len = map->len;
    return 0;
}

/* s_scan_one - FR's frames FIRST..END-1 are one job: job phase needs env
 * [body] [parts...]. Appends its answer (job verdict [parts...]) to OUT.
 * LOCK (the lane's) is released around the scan function so that the
 * heartbeat thread may use the socket meanwhile. */
static void
s_scan_one(s_runtime_t *rt, sl_frames_t *fr, size_t first, size_t end, pthread_mutex_t *lock,
           s_answers_t *out)
{
    char phase[16] = "";
    sl_slice_t ps = sl_frames_at(fr, first + 1), ns = sl_frames_at(fr, first + 2),
               es = sl_frames_at(fr, first + 3);
    if (ps.len < sizeof phase)
        memcpy(phase, ps.ptr, ps.len);
    bool body = ns.len >= 4 && memcmp(ns.ptr, "body", 4) == 0;
    bool by_file = ns.len >= 9 && memcmp(ns.ptr, "body-file", 9) == 0;
    size_t first_part = first + (body ? 5 : 4);
    sl_bodyfile_map_t map = {0};
    sl_msg_t msg = {.phase = phase};
    sl_verdict_t *v = sl_verdict_new(rt->name);
    const char *why = NULL;
    uint64_t t0 = sl_mono_us();
    if (sl_env_decode(es.ptr, es.len, &msg.env, &why) != 0) {
        char text[160];
        snprintf(text, sizeof text, "bad envelope: %s", why ? why : "?");
        sl_log_warn(NULL, "scan refused reason=\"%s\"", text);
        sl_verdict_set_error(v, text);
    } else {
        msg.id = sl_env_id(msg.env);
        if (body && first + 4 < end)
            msg.body = sl_frames_at(fr, first + 4);
        if (by_file && s_map_body(&msg.body, &map, v) != 0)
            goto answer;
        if (end > first_part) {
            msg.part_count = end - first_part;
            msg.parts = sl_xcalloc(msg.part_count, sizeof *msg.parts);
            for (size_t i = 0; i < msg.part_count; i++)
                msg.parts[i] = sl_frames_at(fr, first_part + i);
        }
        pthread_mutex_unlock(lock);
        int rc = rt->def->scan(&msg, v, rt->ctx);
        pthread_mutex_lock(lock);
        if (rc != 0 && sl_verdict_error(v)[0] == '\0')
            sl_verdict_set_error(v, "stage failed");
    }
answer:
    sl_bodyfile_unmap(&map);
    sl_verdict_set_ms(v, (double) (sl_mono_us() - t0) / 1000.0);
    sl_verdict_set_versions(v, rt->def->version ? rt->def->version : "0",
                            rt->def->rules_version ? rt->def->rules_version(rt->ctx) : "");
    sl_verdict_set_worker(v, rt->label);
    size_t vlen = 0;
    void *venc = sl_verdict_encode(v, &vlen);
    size_t nparts = sl_verdict_part_count(v);
    sl_slice_t job = sl_frames_at(fr, first);
    if (out->answers == 0)
        out->since = sl_wire_clock_ms();
    zmq_msg_t *idm = s_answers_frame(out);
    if (zmq_msg_init_size(idm, job.len) != 0)
        sl_panic("out of memory for an answer frame");
    if (job.len)
        memcpy(zmq_msg_data(idm), job.ptr, job.len);
    s_answers_add_owned(out, venc, vlen);
    for (size_t i = 0; i < nparts; i++) {
        size_t len = 0;
        void *data = sl_verdict_take_part_data(v, i, &len);
        s_answers_add_owned(out, data, len);
    }
    out->sizes[out->answers++] = 2 + nparts;
    sl_verdict_destroy(&v);
    free(msg.parts);
    sl_env_destroy(&msg.env);
}

/* One lane: a connection to the broker, with reconnect back-off, and the
 * thread that scans its jobs. */
typedef struct {
    s_runtime_t *rt;
    const char *endpoint;
    char label[160];        /* READY's worker label: host:pid, host:pid/K with lanes */
    int heartbeat_ms;
    unsigned batch;         /* jobs taken in one JOBS (1 = JOB only) */
    const char *needs;
    void *sock;
    int fd;                 /* its ZMQ_FD, -1 while disconnected */
    uint64_t last_recv, last_sent; /* sl_wire_clock_ms */
    uint64_t reconnect_at;  /* 0 = connected */
    uint64_t backoff_ms;
    pthread_t thread;       /* lanes 1..N-1 (lane 0 is the main thread) */
    int rc;                 /* the lane's exit code */
    /* The lane's thread holds LOCK except while it runs the scan function;
     * the heartbeat thread takes it (trylock) to send HB during a long scan. */
    pthread_mutex_t lock;
} s_link_t;

/* The heartbeat thread, for every lane of the process. */
typedef struct {
    s_link_t *links; /* every lane has the same heartbeat_ms */
    size_t n;
    pthread_t thread;
    pthread_mutex_t lock; /* guards quit, with cond */
    pthread_cond_t cond;
    bool quit;
} s_heart_t;

static void
s_send_cmd(s_link_t *l, const char *command, int more)
{
    sl_wire_send_str(l->sock, SL_WIRE_WORKER, ZMQ_SNDMORE);
    sl_wire_send_str(l->sock, command, more);
    l->last_sent = sl_wire_clock_ms();
}

static void
s_ready(s_link_t *l)
{
    s_send_cmd(l, "READY", ZMQ_SNDMORE);
    sl_wire_send_str(l->sock, l->rt->name, ZMQ_SNDMORE);
    sl_wire_send_str(l->sock, "1", ZMQ_SNDMORE); /* a lane scans one job at a time */
    sl_wire_send_str(l->sock, l->needs, ZMQ_SNDMORE);
    sl_wire_send_str(l->sock, l->rt->def->version ? l->rt->def->version : "0", ZMQ_SNDMORE);
    sl_wire_send_str(l->sock, l->label, l->batch > 1 ? ZMQ_SNDMORE : 0);
    if (l->batch > 1)
        sl_batch_send_count(l->sock, l->batch, 0);
}

static void
s_connect(s_link_t *l)
{
    l->sock = zmq_socket(l->rt->zctx, ZMQ_DEALER);
    int linger = 0, hwm = 100000;
    int64_t maxmsg = 1LL << 30;
    zmq_setsockopt(l->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(l->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(l->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(l->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (zmq_connect(l->sock, l->endpoint) != 0)
        sl_log_error(NULL, "connect failed endpoint=%s error=\"%s\"", l->endpoint,
                     zmq_strerror(errno));
    l->fd = sl_wire_fd(l->sock);
    l->last_recv = sl_wire_clock_ms();
    l->reconnect_at = 0;
    s_ready(l);
}

static void
s_disconnect(s_link_t *l, uint64_t now)
{
    zmq_close(l->sock);
    l->sock = NULL;
    l->fd = -1;
    l->reconnect_at = now + l->backoff_ms;
    sl_log_warn(NULL, "broker silent; reconnecting in %llums", (unsigned long long) l->backoff_ms);
    l->backoff_ms = l->backoff_ms * 2 > 30000 ? 30000 : l->backoff_ms * 2;
}

/* s_heard - a message from the broker arrived: FR is well framed (true), or
 * it is logged and ignored (false). */
static bool
s_heard(s_link_t *l, const sl_frames_t *fr)
{
    l->last_recv = sl_wire_clock_ms();
    l->backoff_ms = 250;
    if (fr->truncated || !sl_frames_is(fr, 0, SL_WIRE_WORKER) || fr->count < 2) {
        sl_log_warn(NULL, "broker message ignored reason=\"bad framing\"");
        return false;
    }
    return true;
}

/* s_bye - the broker said BYE: register again, or stop for an unknown stage. */
static void
s_bye(s_link_t *l, const sl_frames_t *fr)
{
    sl_slice_t why = sl_frames_at(fr, 2);
    char shown[64];
    sl_log_warn(NULL, "broker said BYE reason=\"%s\"",
                sl_log_str(why.ptr, why.len, shown, sizeof shown));
    if (sl_wire_slice_eq(why, "unknown stage"))
        s_stop_all(2);
    else
        s_ready(l); /* the broker restarted and does not know us: register again */
}

/* s_wait_ms - how long the loop may sleep before a heartbeat is due or the
 * broker counts as silent. */
static int
s_wait_ms(const s_link_t *l, uint64_t now)
{
    uint64_t hb = (uint64_t) l->heartbeat_ms;
    uint64_t to_send = now - l->last_sent >= hb ? 0 : hb - (now - l->last_sent);
    uint64_t to_dead = now - l->last_recv > 3 * hb ? 0 : 3 * hb - (now - l->last_recv) + 1;
    uint64_t wait = to_send < to_dead ? to_send : to_dead;
    return wait < 1 ? 1 : wait > 1000 ? 1000 : (int) wait;
}

/* --- the heartbeat thread: HB on a lane's socket while it scans --- */

static void *
s_heartbeat_main(void *arg)
{
    s_heart_t *h = arg;
    long tick_ms = h->links[0].heartbeat_ms / 4 > 0 ? h->links[0].heartbeat_ms / 4 : 1;
    pthread_mutex_lock(&h->lock);
    while (!h->quit) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += tick_ms / 1000;
        ts.tv_nsec += (tick_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->cond, &h->lock, &ts);
        if (h->quit)
            break;
        for (size_t i = 0; i < h->n; i++) {
            s_link_t *l = &h->links[i];
            /* Free only while the lane is inside the scan function. */
            if (pthread_mutex_trylock(&l->lock) == 0) {
                if (l->sock && sl_wire_clock_ms() - l->last_sent >= (uint64_t) l->heartbeat_ms)
                    s_send_cmd(l, "HB", 0);
                pthread_mutex_unlock(&l->lock);
            }
        }
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

/* --- a lane: scan inline on the thread that owns the socket --- */

/* The jobs of the batch being worked on by one lane. */
typedef struct {
    sl_frames_t in[2 * SL_BATCH_MAX]; /* the messages that brought them */
    size_t in_count;                  /* entries of in used */
    struct {
        size_t in, first, end;        /* in[in] frames first..end-1 */
    } job[2 * SL_BATCH_MAX];
    size_t jobs;                      /* entries of job */
    s_answers_t out;                  /* answers not sent yet */
} s_inline_t;

/* s_collect - receives what the broker sent until EAGAIN (true) or until
 * l->batch jobs are here; JOB and JOBS add jobs, BYE is handled. */
static bool
s_collect(s_link_t *l, s_inline_t *st)
{
    while (st->jobs < l->batch && st->in_count < 2 * SL_BATCH_MAX) {
        sl_frames_t *fr = &st->in[st->in_count];
        if (sl_frames_recv(l->sock, fr, SL_WIRE_FRAMES_MAX, ZMQ_DONTWAIT) != 0)
            return true;
        if (!s_heard(l, fr)) {
            /* ignored */
        } else if (sl_frames_is(fr, 1, "JOB") && fr->count >= 6) {
            st->job[st->jobs].in = st->in_count;
            st->job[st->jobs].first = 2;
            st->job[st->jobs++].end = fr->count;
            st->in_count++;
            continue; /* keep the frames: the scan borrows them */
        } else if (sl_frames_is(fr, 1, "JOBS")) {
            sl_batch_entry_t entry[SL_BATCH_MAX];
            const char *why = NULL;
            int n = sl_batch_split(fr, 2, 4, entry, &why);
            if (n < 0 || (size_t) n > 2 * SL_BATCH_MAX - st->jobs) {
                sl_log_warn(NULL, "broker message ignored reason=\"%s\"",
                            n < 0 ? why : "more jobs than the batch");
            } else {
                for (int i = 0; i < n; i++) {
                    st->job[st->jobs].in = st->in_count;
                    st->job[st->jobs].first = entry[i].first;
                    st->job[st->jobs++].end = entry[i].first + entry[i].count;
                }
                st->in_count++;
                continue;
            }
        } else if (sl_frames_is(fr, 1, "BYE")) {
            s_bye(l, fr);
        }
        sl_frames_close(fr);
    }
    return false;
}

/* s_flush - sends the first N answers held: one DONE, or one DONES. */
static void
s_flush(s_link_t *l, s_answers_t *a, size_t n)
{
    size_t frames = 0;
    for (size_t i = 0; i < n; i++)
        frames += a->sizes[i];
    if (n == 1) {
        s_send_cmd(l, "DONE", ZMQ_SNDMORE);
        s_send_frames(l->sock, a->frames, frames, 0);
    } else {
        s_send_cmd(l, "DONES", ZMQ_SNDMORE);
        sl_batch_send_count(l->sock, n, ZMQ_SNDMORE);
        size_t at = 0;
        for (size_t i = 0; i < n; i++) {
            sl_batch_send_count(l->sock, a->sizes[i], ZMQ_SNDMORE);
            s_send_frames(l->sock, a->frames + at, a->sizes[i], i + 1 < n ? ZMQ_SNDMORE : 0);
            at += a->sizes[i];
        }
    }
    l->last_sent = sl_wire_clock_ms();
    memmove(a->frames, a->frames + frames, (a->count - frames) * sizeof *a->frames);
    memmove(a->sizes, a->sizes + n, (a->answers - n) * sizeof *a->sizes);
    a->count -= frames;
    a->answers -= n;
    a->since = l->last_sent;
}

/* s_work - scans the collected jobs one after another and answers them
 * together. Answers finished more than SL_STAGE_FLUSH_MS ago go out before
 * the next scan starts (the broker starts the next job's timeout clock when
 * it hears of the previous one), and no DONES grows past the frame limit. */
static void
s_work(s_link_t *l, s_inline_t *st)
{
    s_answers_t *out = &st->out;
    for (size_t i = 0; i < st->jobs; i++) {
        if (s_stop)
            break; /* SIGTERM: the BYE that follows hands the rest back to the broker */
        if (out->answers > 0 && sl_wire_clock_ms() - out->since >= SL_STAGE_FLUSH_MS)
            s_flush(l, out, out->answers);
        s_scan_one(l->rt, &st->in[st->job[i].in], st->job[i].first, st->job[i].end, &l->lock,
                   out);
        /* SLW1 DONES n, then (k, frames) per answer */
        size_t frames = 3 + out->answers + out->count;
        if (out->answers > 1 && frames > SL_WIRE_FRAMES_MAX)
            s_flush(l, out, out->answers - 1);
    }
    if (out->answers > 0)
        s_flush(l, out, out->answers);
    for (size_t i = 0; i < st->in_count; i++)
        sl_frames_close(&st->in[i]);
    st->in_count = st->jobs = 0;
}

/* s_drain_inline - every message the broker sent, its jobs scanned and
 * answered; true when the socket said EAGAIN after the last send (its fd
 * is armed again). */
static bool
s_drain_inline(s_link_t *l, s_inline_t *st)
{
    for (int k = 0; k < 1000 && !s_stop; k++) {
        bool again = s_collect(l, st);
        if (st->jobs == 0) {
            for (size_t i = 0; i < st->in_count; i++)
                sl_frames_close(&st->in[i]);
            st->in_count = 0;
            if (again)
                return true;
            continue;
        }
        s_work(l, st);
    }
    return false;
}

static int
s_loop_inline(s_link_t *l)
{
    s_inline_t *st = sl_xcalloc(1, sizeof *st);
    pthread_mutex_lock(&l->lock);
    s_connect(l);
    bool drained = false;
    while (!s_stop) {
        uint64_t now = sl_wire_clock_ms();
        if (l->sock == NULL) {
            if (now >= l->reconnect_at) {
                s_connect(l);
                drained = false;
            } else {
                uint64_t wait = l->reconnect_at - now;
                sl_wire_wait(-1, s_stop_pipe[0], wait > 1000 ? 1000 : (int) wait);
            }
            continue;
        }
        if (!drained) {
            drained = s_drain_inline(l, st);
            continue;
        }
        if (now - l->last_recv > 3 * (uint64_t) l->heartbeat_ms) {
            s_disconnect(l, now);
            continue;
        }
        if (now - l->last_sent >= (uint64_t) l->heartbeat_ms) {
            s_send_cmd(l, "HB", 0);
            drained = false; /* the send may have taken a wake-up: look again */
            continue;
        }
        int rc = sl_wire_wait(l->fd, s_stop_pipe[0], s_wait_ms(l, now));
        if (rc < 0 && errno != EINTR) {
            sl_log_error(NULL, "poll failed worker=%s error=\"%s\"", l->label, strerror(errno));
            s_stop_all(1);
            break;
        }
        if (rc > 0)
            drained = false;
    }
    if (l->sock) {
        s_send_cmd(l, "BYE", 0);
        zmq_close(l->sock);
        l->sock = NULL;
    }
    pthread_mutex_unlock(&l->lock);
    for (size_t i = 0; i < 2 * SL_BATCH_MAX; i++)
        sl_frames_free(&st->in[i]);
    s_answers_free(&st->out);
    free(st);
    return s_stop == 2 ? 1 : 0;
}

static void *
s_lane_main(void *arg)
{
    s_link_t *l = arg;
    l->rc = s_loop_inline(l);
    return NULL;
}

/* s_section - the stage's "options:" map in its stages: entry, or NULL. */
static const sl_cfg_node_t *
s_section(sl_conf_t *conf, const char *name)
{
    const sl_cfg_node_t *stages = sl_cfg_get(sl_cfg_root(conf->cfg), "stages");
    for (size_t i = 0; stages && i < sl_cfg_count(stages); i++) {
        const sl_cfg_node_t *st = sl_cfg_at(stages, i);
        const sl_cfg_node_t *nm = sl_cfg_get(st, "name");
        if (nm && sl_cfg_scalar(nm) && strcmp(sl_cfg_scalar(nm), name) == 0)
            return sl_cfg_get(st, "options");
    }
    return NULL;
}

static void
s_usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [-c sluice.yaml] [--broker ENDPOINT] [--name NAME] [--capacity N]\n"
            "       [--batch N (jobs per JOBS per lane, 1..64; default the stage's batch:,\n"
            "       else the stage's own: 16, 1 for rbl and greylist)]\n"
            "       [--needs envelope|body|parts|body,parts] [--body-inband] [--check]\n"
            "       [stage options...]\n"
            "--body-inband: take the body in the frame even on the broker's host\n"
            "(by default a stage on an ipc:// broker says body-file and maps it)\n"
            "--check: load the config, run the stage's set-up (its options, rules,\n"
            "signatures, stores) and exit 0, or 1 with what is wrong\n",
            prog);
}

int
sl_stage_main(int argc, char **argv, const sl_stage_def_t *def)
{
    const char *config = NULL, *broker = NULL, *name = def->name, *needs_arg = NULL;
    long capacity = 1, heartbeat_ms = 0, batch = 0;
    bool body_inband = false; /* --body-inband: never take the body as a file */
    bool check = false;
    char **rest = sl_xcalloc((size_t) argc + 1, sizeof *rest);
    int nrest = 0;
    rest[nrest++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && has_val)
            config = argv[++i];
        else if (strcmp(a, "--broker") == 0 && has_val)
            broker = argv[++i];
        else if (strcmp(a, "--name") == 0 && has_val)
            name = argv[++i];
        else if (strcmp(a, "--capacity") == 0 && has_val)
            capacity = strtol(argv[++i], NULL, 10);
        else if (strcmp(a, "--body-inband") == 0)
            body_inband = true;
        else if (strcmp(a, "--batch") == 0 && has_val)
            batch = strtol(argv[++i], NULL, 10);
        else if (strcmp(a, "--heartbeat") == 0 && has_val)
            heartbeat_ms = strtol(argv[++i], NULL, 10);
        else if (strcmp(a, "--needs") == 0 && has_val)
            needs_arg = argv[++i];
        else if (strcmp(a, "--check") == 0)
            check = true;
        else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            s_usage(argv[0]);
            free(rest);
            return 0;
        } else
            rest[nrest++] = argv[i];
    }
    char prog[96];
    snprintf(prog, sizeof prog, "sluice-stage-%s", name);
    sl_log_open(prog, SL_LOG_INFO);
    if (capacity < 1 || capacity > SL_STAGE_CAPACITY_MAX) {
        sl_log_error(NULL, "--capacity must be 1..%d", SL_STAGE_CAPACITY_MAX);
        free(rest);
        return 2;
    }
    char err[8192];
    sl_conf_t *conf = NULL;
    if (config || broker == NULL) {
        conf = sl_conf_load(config, err, sizeof err);
        if (conf == NULL) {
            fprintf(stderr, "%s\n", err);
            free(rest);
            return 1;
        }
        sl_log_set_level(check ? SL_LOG_WARN : (sl_log_level_t) conf->log_level);
    }
    if (batch == 0) {
        const sl_conf_stage_t *entry = conf ? sl_conf_stage(conf, name) : NULL;
        batch = entry && entry->batch > 0 ? entry->batch
                : def->batch > 0          ? (long) def->batch
                                          : SL_STAGE_BATCH_DEFAULT;
    }
    if (batch < 1 || batch > SL_BATCH_MAX) {
        sl_log_error(NULL, "--batch must be 1..%d", SL_BATCH_MAX);
        sl_conf_destroy(&conf);
        free(rest);
        return 2;
    }
    s_runtime_t rt = {.def = def, .name = name, .zctx = zmq_ctx_new()};
    char host[64] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(rt.label, sizeof rt.label, "%s:%d", host, (int) getpid());

    const char *needs = def->needs == 0 ? "envelope" : def->needs == SL_NEED_BODY ? "body" :
                        def->needs == SL_NEED_PARTS ? "parts" : "body,parts";
    if (needs_arg)
        needs = needs_arg;
    /* On the broker's host a body may come as a file reference (mapped, not
     * copied through two sockets): say so, unless told not to. */
    const char *endpoint = broker ? broker : conf->broker.backend;
    char needs_file[32];
    if (!body_inband && sl_client_same_host(endpoint) && strncmp(needs, "body", 4) == 0 &&
        strncmp(needs, "body-file", 9) != 0) {
        snprintf(needs_file, sizeof needs_file, "body-file%s", needs + 4);
        needs = needs_file;
    }
    s_link_t lane = {.rt = &rt, /* what every lane starts from */
                     .endpoint = endpoint,
                     .heartbeat_ms = heartbeat_ms > 0 ? (int) heartbeat_ms
                                     : conf ? conf->broker.heartbeat_ms : 1000,
                     .batch = (unsigned) batch,
                     .needs = needs,
                     .fd = -1,
                     .backoff_ms = 250};

    if (def->init && def->init(&rt.ctx, conf ? conf->cfg : NULL, conf ? s_section(conf, name) : NULL,
                               nrest, rest) != 0) {
        sl_log_error(NULL, "stage init failed");
        sl_conf_destroy(&conf);
        free(rest);
        zmq_ctx_term(rt.zctx);
        return 1;
    }
    if (check) { /* sluice check-config: the set-up worked, nothing else to do */
        if (def->fini)
            def->fini(rt.ctx);
        printf("stage %s: ok\n", name);
        sl_conf_destroy(&conf);
        free(rest);
        zmq_ctx_term(rt.zctx);
        return 0;
    }

    if (pipe2(s_stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        sl_panic("pipe: %s", strerror(errno));
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Lanes 1..N-1 and the heartbeat thread never see the signals: the main
     * thread (lane 0) takes them and the stop pipe wakes the others. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    size_t n = (size_t) capacity;
    s_link_t *links = sl_xcalloc(n, sizeof *links);
    s_heart_t heart = {.links = links, .n = n};
    for (size_t i = 0; i < n; i++) {
        links[i] = lane;
        if (n == 1)
            snprintf(links[i].label, sizeof links[i].label, "%s", rt.label);
        else
            snprintf(links[i].label, sizeof links[i].label, "%s/%zu", rt.label, i);
        pthread_mutex_init(&links[i].lock, NULL);
    }
    pthread_mutex_init(&heart.lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&heart.cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_create(&heart.thread, NULL, s_heartbeat_main, &heart);
    for (size_t i = 1; i < n; i++)
        pthread_create(&links[i].thread, NULL, s_lane_main, &links[i]);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    sl_log_info(NULL, "stage ready name=%s broker=%s capacity=%zu batch=%u needs=%s scan=inline",
                name, endpoint, n, lane.batch, needs);
    int rc = s_loop_inline(&links[0]);
    s_stop_all(rc ? 2 : 1); /* lane 0 is done: so are the others */
    for (size_t i = 1; i < n; i++) {
        pthread_join(links[i].thread, NULL);
        if (links[i].rc > rc)
            rc = links[i].rc;
    }
    pthread_mutex_lock(&heart.lock);
    heart.quit = true;
    pthread_cond_signal(&heart.cond);
    pthread_mutex_unlock(&heart.lock);
    pthread_join(heart.thread, NULL);
    pthread_cond_destroy(&heart.cond);
    pthread_mutex_destroy(&heart.lock);
    for (size_t i = 0; i < n; i++)
        pthread_mutex_destroy(&links[i].lock);
    free(links);
    if (def->fini)
        def->fini(rt.ctx);
    zmq_ctx_term(rt.zctx);
    sl_conf_destroy(&conf);
    free(rest);
    sl_log_info(NULL, "stage stopped name=%s", name);
    return rc;
}

void
sl_symbol_name(const char *prefix, const char *name, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "%s", prefix);
    if (n >= size)
        n = size - 1;
    for (size_t i = 0; name[i] && n + 1 < size; i++) {
        char c = name[i];
        out[n++] = c >= 'a' && c <= 'z'                               ? (char)(c - 'a' + 'A')
                   : (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ? c
                                                                      : '_';
    }
    out[n] = '\0';
}
