/*
 * broker/broker_msg.c - one message's walk through its graph.
 *
 * A step starts when every job of the previous step has answered (or failed
 * under its stage's on_error rule). Verdicts merge into the envelope; part
 * frames that a stage decoded are kept and sent on to stages that need them.
 * Tests: tests/e2e/test_pipeline.py
 */
#include "broker.h"
#include "sl_log.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void s_step_start(broker_t *b, broker_msg_t *m);

const char *const broker_class_names[BROKER_CLASSES] = {
    "clean", "spam", "virus", "banned", "bad-header", "oversized", "unclassified",
};

static void
s_msg_free(broker_t *b, broker_msg_t *m)
{
    if (m->prev)
        m->prev->next = m->next;
    else
        b->msgs = m->next;
    if (m->next)
        m->next->prev = m->prev;
    b->msg_count--;
    sl_env_destroy(&m->env);
    if (m->env_fresh)
        zmq_msg_close(&m->env_frame);
    zmq_msg_close(&m->body);
    if (m->ref) {
        zmq_msg_close(&m->ref_frame);
        free(m->ref);
    }
    if (m->body_fd >= 0)
        close(m->body_fd);
    for (size_t i = 0; i < m->part_count; i++)
        zmq_msg_close(&m->parts[i]);
    free(m->parts);
    free(m);
}

int
broker_msg_load_body(broker_msg_t *m)
{
    if (m->ref == NULL || m->body_loaded)
        return 0;
    const char *why = NULL;
    zmq_msg_close(&m->body);
    if (zmq_msg_init_size(&m->body, (size_t) m->ref->length) != 0)
        sl_panic("out of memory for a body");
    if (sl_bodyfile_read(m->body_fd, m->ref, zmq_msg_data(&m->body), &why) != 0) {
        zmq_msg_close(&m->body);
        zmq_msg_init(&m->body);
        sl_log_error(sl_env_id(m->env), "body file read failed path=%s reason=\"%s\"",
                     m->ref->path, why);
        return -1;
    }
    m->body_loaded = true;
    return 0;
}

static void
s_free_enc(void *data, void *hint)
{
    (void) hint;
    free(data);
}

zmq_msg_t *
broker_msg_encoded(broker_msg_t *m)
{
    if (!m->env_fresh) {
        size_t len = 0;
        void *enc = sl_env_encode(m->env, &len);
        if (zmq_msg_init_data(&m->env_frame, enc, len, s_free_enc, NULL) != 0)
            sl_panic("out of memory for an envelope frame");
        m->env_fresh = true;
    }
    return &m->env_frame;
}

static void
s_finish(broker_t *b, broker_msg_t *m)
{
    const char *status = m->tempfail ? "tempfail" : "ok";
    if (m->phase == SL_PHASE_CONTENT && !m->tempfail) {
        const char *cls = sl_env_str(m->env, SL_ENV_CLASSIFICATION);
        size_t k = 0;
        while (k < BROKER_CLASSES - 1 && strcmp(cls, broker_class_names[k]) != 0)
            k++;
        b->by_class[k]++;
    }
    zmq_msg_t *enc = broker_msg_encoded(m);
    uint64_t ms = b->now - m->started_at;
    sl_log_debug(sl_env_id(m->env), "result status=%s phase=%s verdicts=%zu ms=%llu", status,
                 sl_conf_phase_name(m->phase), sl_env_verdict_count(m->env),
                 (unsigned long long) ms);
    broker_send_result_frame(b, &m->client, m->req, m->req_len, status, enc);
    s_msg_free(b, m);
}

static size_t
s_stage_index(const broker_t *b, const char *name)
{
    for (size_t i = 0; i < b->stage_count; i++)
        if (strcmp(b->stages[i].conf->name, name) == 0)
            return i;
    sl_panic("graph names undefined stage %s", name); /* sl_conf validated this */
}

static void
s_step_start(broker_t *b, broker_msg_t *m)
{
    for (;;) {
        if (m->tempfail || m->step >= m->graph->step_count[m->phase]) {
            s_finish(b, m);
            return;
        }
        const sl_conf_step_t *st = &m->graph->steps[m->phase][m->step];
        m->pending = st->count;
        uint64_t now = b->now;
        for (size_t k = 0; k < st->count; k++) {
            broker_job_t *job = sl_xcalloc(1, sizeof *job);
            job->id = ++b->next_job_id;
            job->msg = m;
            job->stage = s_stage_index(b, st->stages[k]);
            job->queued_at = now;
            broker_enqueue(b, job, false);
        }
        if (m->pending > 0)
            return;
        m->step++;
    }
}

void
broker_msg_start(broker_t *b, broker_msg_t *m)
{
    m->next = b->msgs;
    if (b->msgs)
        b->msgs->prev = m;
    b->msgs = m;
    b->msg_count++;
    m->step = 0;
    s_step_start(b, m);
}

/* s_job_done - one job of the current step is over; maybe move on. */
static void
s_job_done(broker_t *b, broker_job_t *job)
{
    broker_msg_t *m = job->msg;
    free(job);
    if (--m->pending == 0) {
        m->step++;
        s_step_start(b, m);
    }
}

static void
s_add_verdict(broker_msg_t *m, sl_verdict_t **vp)
{
    const char *why = NULL;
    if (sl_env_set_verdict(m->env, vp, &why) != 0)
        sl_log_warn(sl_env_id(m->env), "verdict dropped reason=\"%s\"", why ? why : "?");
    if (m->env_fresh)
        zmq_msg_close(&m->env_frame); /* JOBs still queued keep their share */
    m->env_fresh = false;
}

/* s_count - adds the stage's declared counter fields (non-negative integers) to its sums. */
static void
s_count(broker_stage_t *st, const sl_verdict_t *v)
{
    for (size_t i = 0; i < st->conf->counter_count; i++) {
        sl_slice_t raw = sl_verdict_field(v, st->conf->counters[i]);
        if (raw.len == 0)
            continue;
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        if (msgpack_unpack_next(&up, raw.ptr, raw.len, NULL) == MSGPACK_UNPACK_SUCCESS &&
            up.data.type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            st->counters[i] += up.data.via.u64;
        msgpack_unpacked_destroy(&up);
    }
}

void
broker_msg_verdict(broker_t *b, broker_job_t *job, sl_verdict_t **verdict_p, sl_frames_t *fr,
                   size_t first_part, size_t end)
{
    broker_msg_t *m = job->msg;
    broker_stage_t *st = &b->stages[job->stage];
    sl_verdict_t *v = *verdict_p;
    size_t nparts = end - first_part;
    if (sl_verdict_part_count(v) != nparts ||
        nparts > SL_ENV_PARTS_MAX - sl_env_part_count(m->env)) {
        sl_log_warn(sl_env_id(m->env), "verdict refused stage=%s reason=\"part frames do not "
                    "match the parts list\" frames=%zu listed=%zu",
                    st->conf->name, nparts, sl_verdict_part_count(v));
        sl_verdict_destroy(verdict_p);
        broker_msg_fail(b, job, "stage sent a malformed verdict");
        return;
    }
    if (nparts) {
        m->parts = sl_xrealloc(m->parts, (m->part_count + nparts) * sizeof *m->parts);
        for (size_t i = 0; i < nparts; i++)
            sl_frames_take(fr, first_part + i, &m->parts[m->part_count++]);
    }
    sl_verdict_set_attempts(v, job->attempts);
    st->done++;
    st->ms_total += sl_verdict_ms(v);
    s_count(st, v);
    if (sl_verdict_error(v)[0] != '\0') {
        /* The stage itself reported failure: its on_error rule applies too. */
        st->errors++;
        const sl_conf_stage_t *c = st->conf;
        if (c->on_error == SL_ONERR_TEMPFAIL)
            m->tempfail = true;
        else if (c->on_error == SL_ONERR_CLASSIFY)
            sl_verdict_set_classification(v, c->on_error_class);
    }
    s_add_verdict(m, verdict_p);
    s_job_done(b, job);
}

void
broker_msg_fail(broker_t *b, broker_job_t *job, const char *why)
{
    broker_msg_t *m = job->msg;
    broker_stage_t *st = &b->stages[job->stage];
    const sl_conf_stage_t *c = st->conf;
    st->errors++;
    sl_verdict_t *v = sl_verdict_new(c->name);
    sl_verdict_set_error(v, why);
    sl_verdict_set_attempts(v, job->attempts);
    sl_verdict_set_worker(v, "broker");
    const char *rule = "pass";
    if (c->on_error == SL_ONERR_TEMPFAIL) {
        m->tempfail = true;
        rule = "tempfail";
    } else if (c->on_error == SL_ONERR_CLASSIFY) {
        sl_verdict_set_classification(v, c->on_error_class);
        rule = c->on_error_class;
    }
    sl_log_warn(sl_env_id(m->env), "stage failed stage=%s reason=\"%s\" attempts=%u deaths=%u "
                "on_error=%s", c->name, why, job->attempts, job->deaths, rule);
    s_add_verdict(m, &v);
    s_job_done(b, job);
}

void
broker_msg_sweep(broker_t *b, uint64_t now)
{
    /* Jobs waiting for a stage that has no live worker at all. */
    for (size_t i = 0; i < b->stage_count; i++) {
        broker_stage_t *st = &b->stages[i];
        if (st->workers > 0)
            continue;
        while (st->head && now - st->head->queued_at > (uint64_t) st->conf->timeout_ms) {
            broker_job_t *job = st->head;
            broker_unqueue(b, job);
            broker_msg_fail(b, job, "no worker for the stage");
        }
    }
    /* Whole-message limit: fail what is still queued of an overdue message. */
    uint64_t limit = (uint64_t) b->conf->broker.message_timeout_ms;
    for (size_t i = 0; i < b->stage_count; i++) {
        broker_stage_t *st = &b->stages[i];
        broker_job_t *job = st->head;
        while (job) {
            broker_job_t *next = job->next;
            if (now - job->msg->started_at > limit) {
                broker_unqueue(b, job);
                broker_msg_fail(b, job, "message timeout");
            }
            job = next;
        }
    }
}

void
broker_free_all(broker_t *b)
{
    for (size_t i = 0; b->body_dirs && i < b->conf->broker.body_file_dir_count; i++)
        free(b->body_dirs[i]);
    free(b->body_dirs);
    b->body_dirs = NULL;
    while (b->workers) {
        broker_worker_t *w = b->workers;
        b->workers = w->next;
        for (unsigned i = 0; i < BROKER_CAPACITY_MAX; i++)
            free(w->held[i]);
        free(w);
    }
    for (size_t i = 0; i < b->stage_count; i++) {
        broker_stage_t *st = &b->stages[i];
        while (st->head) {
            broker_job_t *job = st->head;
            st->head = job->next;
            free(job);
        }
        st->tail = NULL;
    }
    while (b->msgs)
        s_msg_free(b, b->msgs);
}
