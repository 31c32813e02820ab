/*
 * broker/broker.c - sluice-broker: sockets, the poll loop and the client protocol.
 *
 * Everything from either socket is untrusted; frames are counted and sized
 * before use and a malformed request is answered "error" (clients) or
 * ignored (workers). Protocol: broker/README.md. Tests: tests/e2e/test_pipeline.py
 */
#include "broker.h"
#include "sl_log.h"

#include <errno.h>
#include <msgpack.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile sig_atomic_t s_stop;

static void
s_on_signal(int sig)
{
    (void) sig;
    s_stop = 1;
}

/* s_result_head - identity SLC1 RESULT req status, each with ZMQ_SNDMORE. */
static int
s_result_head(broker_t *b, const broker_ident_t *client, const void *req, size_t req_len,
              const char *status)
{
    void *s = b->frontend;
    b->front_sent = true;
    if (sl_wire_send_mem(s, client->bytes, client->len, ZMQ_SNDMORE) != 0 ||
        sl_wire_send_str(s, SL_WIRE_CLIENT, ZMQ_SNDMORE) != 0 ||
        sl_wire_send_str(s, "RESULT", ZMQ_SNDMORE) != 0 ||
        sl_wire_send_mem(s, req, req_len, ZMQ_SNDMORE) != 0 ||
        sl_wire_send_str(s, status, ZMQ_SNDMORE) != 0)
        return -1;
    return 0;
}

void
broker_send_result(broker_t *b, const broker_ident_t *client, const void *req, size_t req_len,
                   const char *status, const void *last, size_t last_len)
{
    if (s_result_head(b, client, req, req_len, status) != 0 ||
        sl_wire_send_mem(b->frontend, last, last_len, 0) != 0)
        sl_log_warn(NULL, "result lost status=%s error=\"%s\"", status, zmq_strerror(errno));
}

void
broker_send_result_frame(broker_t *b, const broker_ident_t *client, const void *req,
                         size_t req_len, const char *status, zmq_msg_t *last)
{
    if (s_result_head(b, client, req, req_len, status) != 0 ||
        sl_wire_send_share(b->frontend, last, 0) != 0)
        sl_log_warn(NULL, "result lost status=%s error=\"%s\"", status, zmq_strerror(errno));
}

static void
s_refuse(broker_t *b, const broker_ident_t *client, sl_slice_t req, const char *status,
         const char *why)
{
    if (req.len > SL_WIRE_REQ_MAX)
        req.len = SL_WIRE_REQ_MAX;
    broker_send_result(b, client, req.ptr, req.len, status, why, strlen(why));
}

/* s_admit - is there room for one more message through PHASE of GRAPH? */
static const char *
s_admit(broker_t *b, const sl_conf_graph_t *g, sl_phase_t phase)
{
    if (b->msg_count >= (size_t) b->conf->broker.max_messages)
        return "broker at max_messages";
    for (size_t i = 0; i < g->step_count[phase]; i++) {
        const sl_conf_step_t *st = &g->steps[phase][i];
        for (size_t k = 0; k < st->count; k++) {
            for (size_t s = 0; s < b->stage_count; s++) {
                broker_stage_t *bs = &b->stages[s];
                if (strcmp(bs->conf->name, st->stages[k]) == 0 &&
                    bs->queued >= (size_t) bs->conf->queue_max)
                    return "stage queue full";
            }
        }
    }
    return NULL;
}

/* s_body_file_allowed - PATH lies inside one of broker.body_file_dirs, each
 * resolved with realpath once it exists (smtpd resolves its spool dir the
 * same way). The parser already refused ".." components. */
static bool
s_body_file_allowed(broker_t *b, const char *path)
{
    const sl_conf_broker_t *c = &b->conf->broker;
    if (b->body_dirs == NULL && c->body_file_dir_count > 0)
        b->body_dirs = sl_xcalloc(c->body_file_dir_count, sizeof *b->body_dirs);
    for (size_t i = 0; i < c->body_file_dir_count; i++) {
        if (b->body_dirs[i] == NULL)
            b->body_dirs[i] = realpath(c->body_file_dirs[i], NULL);
        const char *dir = b->body_dirs[i];
        if (dir == NULL)
            continue; /* not there (yet): nothing can lie in it */
        size_t n = strlen(dir);
        if (n == 1 || (strncmp(path, dir, n) == 0 && path[n] == '/'))
            return true;
    }
    return false;
}

/* s_body_file - SUBMIT's body frame is empty and its file frame names where
 * the body is: parsed, bounded like a body frame, the file opened and held
 * (an unlink while the message is here changes nothing). 0, or -1 with *WHY. */
static int
s_body_file(broker_t *b, sl_frames_t *fr, sl_bodyfile_ref_t **ref_p, int *fd_p, const char **why)
{
    sl_slice_t rs = sl_frames_at(fr, 7);
    if (sl_frames_at(fr, 6).len != 0)
        return sl_fail(why, "body frame and body file both given");
    sl_bodyfile_ref_t *ref = sl_xcalloc(1, sizeof *ref);
    if (sl_bodyfile_parse(rs.ptr, rs.len, ref, why) != 0) {
        free(ref);
        return -1;
    }
    if (!s_body_file_allowed(b, ref->path)) {
        free(ref);
        return sl_fail(why, "body file: not inside broker.body_file_dirs");
    }
    if (b->conf->broker.max_frame_bytes > 0 &&
        ref->length > (uint64_t) b->conf->broker.max_frame_bytes) {
        free(ref);
        return sl_fail(why, "body file: range larger than broker.max_frame");
    }
    int fd = sl_bodyfile_open(ref, why);
    if (fd < 0) {
        free(ref);
        return -1;
    }
    *ref_p = ref;
    *fd_p = fd;
    return 0;
}

static void
s_submit(broker_t *b, const broker_ident_t *client, sl_frames_t *fr)
{
    /* SLC1 SUBMIT req graph phase env [body [file]] */
    sl_slice_t req = sl_frames_at(fr, 2);
    if (fr->count < 6 || fr->count > 8 || req.len == 0 || req.len > SL_WIRE_REQ_MAX) {
        sl_log_warn(NULL, "refuse submit reason=\"bad frame count or request id\" frames=%zu",
                    fr->count);
        if (fr->count >= 3)
            s_refuse(b, client, req, "error", "malformed SUBMIT");
        return;
    }
    char graph_name[SL_ENV_NAME_MAX + 1], phase_name[16];
    sl_slice_t gs = sl_frames_at(fr, 3), ps = sl_frames_at(fr, 4);
    if (gs.len > SL_ENV_NAME_MAX || ps.len >= sizeof phase_name) {
        s_refuse(b, client, req, "error", "graph or phase name too long");
        return;
    }
    memcpy(graph_name, gs.ptr, gs.len);
    graph_name[gs.len] = '\0';
    memcpy(phase_name, ps.ptr, ps.len);
    phase_name[ps.len] = '\0';
    const sl_conf_graph_t *g = sl_conf_graph(b->conf, gs.len ? graph_name : "default");
    int phase = sl_conf_phase_parse(phase_name);
    if (g == NULL || phase < 0) {
        s_refuse(b, client, req, "error", g == NULL ? "unknown graph" : "unknown phase");
        return;
    }
    sl_slice_t es = sl_frames_at(fr, 5);
    sl_env_t *env = NULL;
    const char *why = NULL;
    if (sl_env_decode(es.ptr, es.len, &env, &why) != 0) {
        char shown[128];
        snprintf(shown, sizeof shown, "bad envelope: %s", why ? why : "?");
        sl_log_warn(NULL, "refuse submit reason=\"%s\"", shown);
        s_refuse(b, client, req, "error", shown);
        return;
    }
    sl_bodyfile_ref_t *ref = NULL;
    int body_fd = -1;
    if (fr->count == 8 && s_body_file(b, fr, &ref, &body_fd, &why) != 0) {
        sl_log_warn(sl_env_id(env), "refuse submit reason=\"%s\"", why);
        s_refuse(b, client, req, strstr(why, "too many open files") ? "busy" : "error", why);
        sl_env_destroy(&env);
        return;
    }
    const char *full = s_admit(b, g, (sl_phase_t) phase);
    if (full) {
        if (ref) {
            close(body_fd);
            free(ref);
        }
        sl_log_info(sl_env_id(env), "busy reason=\"%s\" messages=%zu", full, b->msg_count);
        s_refuse(b, client, req, "busy", full);
        sl_env_destroy(&env);
        return;
    }
    broker_msg_t *m = sl_xcalloc(1, sizeof *m);
    m->client = *client;
    memcpy(m->req, req.ptr, req.len);
    m->req_len = req.len;
    m->graph = g;
    m->phase = (sl_phase_t) phase;
    m->env = env;
    m->body_fd = body_fd;
    if (ref) {
        b->body_files++;
        zmq_msg_init(&m->body);
        m->ref = ref;
        sl_frames_take(fr, 7, &m->ref_frame);
        m->has_body = true;
    } else if (fr->count == 7) {
        sl_frames_take(fr, 6, &m->body);
        m->has_body = true;
    } else {
        zmq_msg_init(&m->body);
    }
    m->started_at = b->now;
    broker_msg_start(b, m);
}

/* s_status - statistics as a msgpack map (see broker/README.md). */
static void
s_status(broker_t *b, const broker_ident_t *client, sl_frames_t *fr)
{
    sl_slice_t req = sl_frames_at(fr, 2);
    if (fr->count != 3 || req.len == 0 || req.len > SL_WIRE_REQ_MAX)
        return;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    msgpack_pack_str_with_body(&pk, "messages", 8);
    msgpack_pack_uint64(&pk, b->msg_count);
    msgpack_pack_str_with_body(&pk, "max_messages", 12);
    msgpack_pack_uint64(&pk, (uint64_t) b->conf->broker.max_messages);
    msgpack_pack_str_with_body(&pk, "body_files", 10);
    msgpack_pack_uint64(&pk, b->body_files);
    msgpack_pack_str_with_body(&pk, "stages", 6);
    msgpack_pack_array(&pk, b->stage_count);
    for (size_t i = 0; i < b->stage_count; i++) {
        broker_stage_t *s = &b->stages[i];
        unsigned capacity = 0;
        for (broker_worker_t *w = b->workers; w; w = w->next)
            if (w->stage == i)
                capacity += w->capacity;
        const char *keys[] = {"workers", "capacity", "in_flight", "queued", "done",
                              "errors",  "timeouts", "crashes",   "batched"};
        uint64_t vals[] = {s->workers, capacity,    s->in_flight, s->queued, s->done,
                           s->errors,  s->timeouts, s->crashes,   s->batched};
        msgpack_pack_map(&pk, 12);
        msgpack_pack_str_with_body(&pk, "name", 4);
        msgpack_pack_str_with_body(&pk, s->conf->name, strlen(s->conf->name));
        for (size_t k = 0; k < 9; k++) {
            msgpack_pack_str_with_body(&pk, keys[k], strlen(keys[k]));
            msgpack_pack_uint64(&pk, vals[k]);
        }
        msgpack_pack_str_with_body(&pk, "ms_total", 8);
        msgpack_pack_double(&pk, s->ms_total);
        msgpack_pack_str_with_body(&pk, "counters", 8);
        msgpack_pack_map(&pk, s->conf->counter_count);
        for (size_t k = 0; k < s->conf->counter_count; k++) {
            const char *name = s->conf->counters[k];
            msgpack_pack_str_with_body(&pk, name, strlen(name));
            msgpack_pack_uint64(&pk, s->counters[k]);
        }
    }
    void *s = b->frontend;
    sl_wire_send_mem(s, client->bytes, client->len, ZMQ_SNDMORE);
    sl_wire_send_str(s, SL_WIRE_CLIENT, ZMQ_SNDMORE);
    sl_wire_send_str(s, "STATUS", ZMQ_SNDMORE);
    sl_wire_send_mem(s, req.ptr, req.len, ZMQ_SNDMORE);
    sl_wire_send_mem(s, sb.data, sb.size, 0);
    b->front_sent = true;
    msgpack_sbuffer_destroy(&sb);
}

static int
s_ident(const sl_frames_t *fr, broker_ident_t *id)
{
    sl_slice_t s = sl_frames_at(fr, 0);
    if (s.len == 0 || s.len > BROKER_IDENTITY_MAX)
        return -1;
    memcpy(id->bytes, s.ptr, s.len);
    id->len = s.len;
    return 0;
}

/* s_frontend - handles what submitters sent; true when the socket said EAGAIN. */
static bool
s_frontend(broker_t *b)
{
    for (int n = 0; n < 1000; n++) {
        if (sl_frames_recv(b->frontend, &b->frames, SL_WIRE_FRAMES_MAX, ZMQ_DONTWAIT) != 0)
            return true;
        broker_ident_t client;
        /* frames: identity, version, command, ... (shifted by one for the identity) */
        if (s_ident(&b->frames, &client) != 0 || b->frames.truncated ||
            !sl_frames_is(&b->frames, 1, SL_WIRE_CLIENT)) {
            sl_log_warn(NULL, "client message ignored reason=\"bad framing\" frames=%zu",
                        b->frames.count);
            continue;
        }
        /* Drop the identity frame so indexes match broker/README.md. */
        zmq_msg_close(&b->frames.frames[0]);
        memmove(&b->frames.frames[0], &b->frames.frames[1],
                (b->frames.count - 1) * sizeof b->frames.frames[0]);
        b->frames.count--;
        if (sl_frames_is(&b->frames, 1, "SUBMIT"))
            s_submit(b, &client, &b->frames);
        else if (sl_frames_is(&b->frames, 1, "STATUS"))
            s_status(b, &client, &b->frames);
        else
            sl_log_warn(NULL, "client message ignored reason=\"unknown command\"");
        sl_frames_close(&b->frames);
        broker_dispatch(b); /* the new job leaves now, not after another poll */
    }
    return false;
}

/* s_backend - handles what workers sent; true when the socket said EAGAIN. */
static bool
s_backend(broker_t *b)
{
    for (int n = 0; n < 1000; n++) {
        if (sl_frames_recv(b->backend, &b->frames, SL_WIRE_FRAMES_MAX, ZMQ_DONTWAIT) != 0)
            return true;
        broker_ident_t id;
        if (s_ident(&b->frames, &id) != 0 || b->frames.truncated ||
            !sl_frames_is(&b->frames, 1, SL_WIRE_WORKER) || b->frames.count < 3) {
            sl_log_warn(NULL, "worker message ignored reason=\"bad framing\" frames=%zu",
                        b->frames.count);
            broker_worker_t *w = broker_worker_seen(b, &id);
            if (w)
                broker_worker_remove(b, w, true, "malformed message");
            sl_frames_close(&b->frames);
            continue;
        }
        zmq_msg_close(&b->frames.frames[0]);
        memmove(&b->frames.frames[0], &b->frames.frames[1],
                (b->frames.count - 1) * sizeof b->frames.frames[0]);
        b->frames.count--;
        if (sl_frames_is(&b->frames, 1, "READY")) {
            broker_worker_ready(b, &id, &b->frames);
        } else if (sl_frames_is(&b->frames, 1, "DONE") || sl_frames_is(&b->frames, 1, "DONES")) {
            broker_worker_done(b, &id, &b->frames);
        } else if (sl_frames_is(&b->frames, 1, "HB")) {
            if (broker_worker_seen(b, &id) == NULL) {
                /* Unknown (the broker restarted): ask it to register again. */
                sl_wire_send_mem(b->backend, id.bytes, id.len, ZMQ_SNDMORE);
                sl_wire_send_str(b->backend, SL_WIRE_WORKER, ZMQ_SNDMORE);
                sl_wire_send_str(b->backend, "BYE", ZMQ_SNDMORE);
                sl_wire_send_str(b->backend, "unknown worker", 0);
                b->back_sent = true;
            }
        } else if (sl_frames_is(&b->frames, 1, "BYE")) {
            broker_worker_t *w = broker_worker_seen(b, &id);
            if (w)
                broker_worker_remove(b, w, false, "said goodbye");
        } else {
            broker_worker_t *w = broker_worker_seen(b, &id);
            if (w)
                broker_worker_remove(b, w, true, "unknown command");
        }
        sl_frames_close(&b->frames);
        /* A DONE freed credit and maybe started the next step: dispatch before
         * the next receive, so the JOB leaves in this turn. */
        broker_dispatch(b);
    }
    return false;
}

static void *
s_bind(broker_t *b, const char *endpoint)
{
    void *s = zmq_socket(b->zctx, ZMQ_ROUTER);
    int64_t maxmsg = b->conf->broker.max_frame_bytes;
    int hwm = 100000, linger = 0;
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (strncmp(endpoint, "ipc://", 6) == 0)
        unlink(endpoint + 6); /* a stale socket file from a killed broker */
    if (zmq_bind(s, endpoint) != 0) {
        sl_log_error(NULL, "bind failed endpoint=%s error=\"%s\"", endpoint, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    return s;
}

static int
s_run(broker_t *b)
{
    b->frontend = s_bind(b, b->conf->broker.frontend);
    b->backend = s_bind(b, b->conf->broker.backend);
    if (b->frontend == NULL || b->backend == NULL)
        return 1;
    sl_log_info(NULL, "broker ready frontend=%s backend=%s stages=%zu", b->conf->broker.frontend,
                b->conf->broker.backend, b->stage_count);
    /* The loop waits on both sockets' ZMQ_FD with one poll() and drains a
     * socket with ZMQ_DONTWAIT until EAGAIN before it waits again; a socket
     * sent on after its EAGAIN is drained once more first (sl_wire.h). */
    struct pollfd fds[2] = {{.fd = sl_wire_fd(b->frontend), .events = POLLIN},
                            {.fd = sl_wire_fd(b->backend), .events = POLLIN}};
    int tick_ms = b->conf->broker.heartbeat_ms / 4;
    if (tick_ms < 10)
        tick_ms = 10;
    if (tick_ms > 100)
        tick_ms = 100;
    bool front_ready = true, back_ready = true;
    b->now = sl_wire_clock_ms();
    uint64_t next_tick = b->now;
    while (!s_stop) {
        if (!front_ready && !back_ready) {
            uint64_t wait = next_tick > b->now ? next_tick - b->now : 0;
            int rc = poll(fds, 2, (int) wait);
            if (rc < 0 && errno != EINTR) {
                sl_log_error(NULL, "poll failed error=\"%s\"", strerror(errno));
                break;
            }
            front_ready = rc > 0 && (fds[0].revents & POLLIN);
            back_ready = rc > 0 && (fds[1].revents & POLLIN);
        }
        b->now = sl_wire_clock_ms();
        if (back_ready) {
            back_ready = !s_backend(b);
            b->back_sent = false; /* its sends came before the EAGAIN */
        }
        if (front_ready || b->front_sent) {
            b->front_sent = false;
            front_ready = !s_frontend(b);
            b->front_sent = false;
        }
        if (b->now >= next_tick) {
            broker_worker_tick(b, b->now);
            broker_msg_sweep(b, b->now);
            broker_metrics_render(b, b->now);
            broker_dispatch(b);
            next_tick = b->now + (uint64_t) tick_ms;
        }
        /* Sent on a socket after it said EAGAIN: its fd may not wake us. */
        front_ready = front_ready || b->front_sent;
        back_ready = back_ready || b->back_sent;
        b->front_sent = b->back_sent = false;
    }
    sl_log_info(NULL, "broker stopping messages=%zu", b->msg_count);
    return 0;
}

int
main(int argc, char **argv)
{
    int rc = 0;
    sl_conf_t *conf = sl_conf_daemon(argc, argv, "sluice-broker", &rc);
    if (conf == NULL)
        return rc;
    mkdir(conf->run_dir, 0755);

    struct sigaction sa = {.sa_handler = s_on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Each message submitted with a body file holds that file open: allow as
     * many descriptors as the hard limit does (past it, SUBMIT answers busy). */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }

    broker_t b = {.conf = conf, .next_job_id = sl_now_ms() << 16};
    b.zctx = zmq_ctx_new();
    b.stage_count = conf->stage_count;
    b.stages = sl_xcalloc(conf->stage_count, sizeof *b.stages);
    for (size_t i = 0; i < conf->stage_count; i++) {
        b.stages[i].conf = &conf->stages[i];
        b.stages[i].counters = sl_xcalloc(conf->stages[i].counter_count + 1, sizeof(uint64_t));
    }
    const char *listen = sl_cfg_get_str(conf->cfg, sl_cfg_get(sl_cfg_root(conf->cfg), "metrics"),
                                        "listen", NULL);
    if (listen && listen[0]) {
        b.metrics = broker_metrics_start(listen);
        if (b.metrics == NULL)
            sl_log_error(NULL, "metrics server not started listen=%s", listen);
        else
            sl_log_info(NULL, "metrics listen=%s path=/metrics", listen);
    }
    rc = s_run(&b);
    broker_metrics_stop(&b.metrics);
    /* Messages still here are re-submitted by their submitters: the spool is the truth. */
    broker_free_all(&b);
    if (b.frontend)
        zmq_close(b.frontend);
    if (b.backend)
        zmq_close(b.backend);
    zmq_ctx_term(b.zctx);
    sl_frames_free(&b.frames);
    for (size_t i = 0; i < b.stage_count; i++)
        free(b.stages[i].counters);
    free(b.stages);
    sl_conf_destroy(&conf);
    return rc;
}
