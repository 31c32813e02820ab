/*
 * broker/broker_worker.c - workers: registration, credit dispatch, heartbeats, expiry.
 *
 * A worker holds at most its declared capacity; a job goes to the live
 * worker of its stage with the most free credit. A worker silent for three
 * heartbeat intervals is dead: its jobs go back to the front of the queue,
 * and a job that has killed poison_limit workers fails with an error verdict.
 * Tests: tests/e2e/test_pipeline.py (kill -9 and crash cases)
 */
#include "broker.h"
#include "sl_log.h"
#include "sl_stage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
s_ident_eq(const broker_ident_t *a, const broker_ident_t *b)
{
    return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

broker_worker_t *
broker_worker_seen(broker_t *b, const broker_ident_t *id)
{
    for (broker_worker_t *w = b->workers; w; w = w->next) {
        if (s_ident_eq(&w->ident, id)) {
            w->last_seen = b->now;
            return w;
        }
    }
    return NULL;
}

static void
s_send_header(broker_t *b, broker_worker_t *w, const char *command, int more)
{
    sl_wire_send_mem(b->backend, w->ident.bytes, w->ident.len, ZMQ_SNDMORE);
    sl_wire_send_str(b->backend, SL_WIRE_WORKER, ZMQ_SNDMORE);
    sl_wire_send_str(b->backend, command, more);
    w->last_sent = b->now;
    b->back_sent = true;
}

static void
s_copy_text(char *dst, size_t size, sl_slice_t s)
{
    size_t n = s.len < size - 1 ? s.len : size - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s.ptr[i];
        dst[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char) c;
    }
    dst[n] = '\0';
}

static int
s_parse_needs(sl_slice_t s, unsigned *needs)
{
    *needs = 0;
    size_t i = 0;
    while (i < s.len) {
        size_t j = i;
        while (j < s.len && s.ptr[j] != ',')
            j++;
        sl_slice_t item = {s.ptr + i, j - i};
        if (sl_wire_slice_eq(item, "body"))
            *needs |= SL_NEED_BODY;
        else if (sl_wire_slice_eq(item, "parts"))
            *needs |= SL_NEED_PARTS;
        else if (!sl_wire_slice_eq(item, "envelope"))
            return -1;
        i = j + 1;
    }
    return 0;
}

void
broker_worker_ready(broker_t *b, const broker_ident_t *id, sl_frames_t *fr)
{
    /* SLW1 READY stage capacity needs version worker */
    char stage[SL_ENV_NAME_MAX + 1];
    sl_slice_t ss = sl_frames_at(fr, 2);
    long capacity = sl_wire_slice_uint(sl_frames_at(fr, 3));
    unsigned needs = 0;
    if (fr->count != 7 || ss.len == 0 || ss.len > SL_ENV_NAME_MAX || capacity < 1 ||
        capacity > BROKER_CAPACITY_MAX || s_parse_needs(sl_frames_at(fr, 4), &needs) != 0) {
        sl_log_warn(NULL, "worker refused reason=\"malformed READY\" frames=%zu", fr->count);
        return;
    }
    s_copy_text(stage, sizeof stage, ss);
    size_t si = b->stage_count;
    for (size_t i = 0; i < b->stage_count; i++)
        if (strcmp(b->stages[i].conf->name, stage) == 0)
            si = i;
    broker_worker_t *w = broker_worker_seen(b, id);
    if (si == b->stage_count) {
        sl_log_warn(NULL, "worker refused reason=\"unknown stage\" stage=%s", stage);
        if (w)
            broker_worker_remove(b, w, false, "re-registered for an unknown stage");
        broker_worker_t tmp = {.ident = *id};
        s_send_header(b, &tmp, "BYE", ZMQ_SNDMORE);
        sl_wire_send_str(b->backend, "unknown stage", 0);
        return;
    }
    if (w && w->stage != si)
        broker_worker_remove(b, w, false, "re-registered for another stage");
    else if (w) {
        /* A second READY from a live worker: keep its jobs, update its terms. */
        w->capacity = (unsigned) capacity;
        w->needs = needs;
        return;
    }
    w = sl_xcalloc(1, sizeof *w);
    w->ident = *id;
    w->stage = si;
    w->capacity = (unsigned) capacity;
    w->needs = needs;
    s_copy_text(w->version, sizeof w->version, sl_frames_at(fr, 5));
    s_copy_text(w->label, sizeof w->label, sl_frames_at(fr, 6));
    w->last_seen = w->last_sent = b->now;
    w->next = b->workers;
    b->workers = w;
    b->stages[si].workers++;
    sl_log_info(NULL, "worker ready stage=%s worker=%s capacity=%u needs=%s version=%s", stage,
                w->label, w->capacity,
                needs == 0 ? "envelope" : needs == SL_NEED_BODY ? "body" :
                needs == SL_NEED_PARTS ? "parts" : "body,parts", w->version);
}

static long
s_held_index(const broker_worker_t *w, sl_slice_t job_id)
{
    /* 16 lower-case hex digits, as s_send_job wrote them. */
    if (job_id.len != 16)
        return -1;
    uint64_t id = 0;
    for (size_t i = 0; i < 16; i++) {
        char c = job_id.ptr[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned) (c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned) (c - 'a' + 10) : 16;
        if (d == 16)
            return -1;
        id = id << 4 | d;
    }
    for (unsigned i = 0; i < BROKER_CAPACITY_MAX; i++)
        if (w->held[i] != NULL && w->held[i]->id == id)
            return (long) i;
    return -1;
}

static void
s_release_slot(broker_t *b, broker_worker_t *w, long slot)
{
    if (!w->abandoned[slot])
        b->stages[w->stage].in_flight--;
    else
        free(w->held[slot]); /* its message already moved on without it */
    w->held[slot] = NULL;
    w->abandoned[slot] = false;
    w->held_count--;
}

void
broker_worker_done(broker_t *b, const broker_ident_t *id, sl_frames_t *fr)
{
    /* SLW1 DONE job verdict [part...] */
    broker_worker_t *w = broker_worker_seen(b, id);
    if (w == NULL) {
        sl_log_debug(NULL, "DONE from an unknown worker ignored");
        return;
    }
    long slot = fr->count >= 4 ? s_held_index(w, sl_frames_at(fr, 2)) : -1;
    if (slot < 0) {
        sl_log_warn(NULL, "DONE ignored worker=%s reason=\"not a job it holds\"", w->label);
        return;
    }
    broker_job_t *job = w->held[slot];
    if (w->abandoned[slot]) {
        sl_log_info(NULL, "late answer ignored stage=%s worker=%s job=%016llx",
                    b->stages[w->stage].conf->name, w->label, (unsigned long long) job->id);
        s_release_slot(b, w, slot);
        return;
    }
    w->held[slot] = NULL; /* the job leaves the worker; the slot frees below */
    w->held_count--;
    b->stages[w->stage].in_flight--;
    sl_slice_t vs = sl_frames_at(fr, 3);
    sl_verdict_t *v = NULL;
    const char *why = NULL;
    if (sl_verdict_decode(vs.ptr, vs.len, &v, &why) != 0) {
        sl_log_warn(sl_env_id(job->msg->env), "verdict refused stage=%s worker=%s reason=\"%s\"",
                    b->stages[w->stage].conf->name, w->label, why ? why : "?");
        broker_msg_fail(b, job, "stage sent a malformed verdict");
        return;
    }
    if (strcmp(sl_verdict_stage(v), b->stages[w->stage].conf->name) != 0) {
        /* A stage answers under its own graph name only. */
        sl_verdict_destroy(&v);
        broker_msg_fail(b, job, "verdict for another stage");
        return;
    }
    broker_msg_verdict(b, job, &v, fr, 4);
}

void
broker_enqueue(broker_t *b, broker_job_t *job, bool front)
{
    broker_stage_t *st = &b->stages[job->stage];
    job->worker = NULL;
    job->dispatched_at = 0;
    if (front) {
        job->next = st->head;
        st->head = job;
        if (st->tail == NULL)
            st->tail = job;
    } else {
        job->next = NULL;
        if (st->tail)
            st->tail->next = job;
        else
            st->head = job;
        st->tail = job;
    }
    st->queued++;
}

void
broker_unqueue(broker_t *b, broker_job_t *job)
{
    broker_stage_t *st = &b->stages[job->stage];
    broker_job_t **pp = &st->head, *prev = NULL;
    while (*pp && *pp != job) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp == NULL)
        sl_panic("job %llx not in its queue", (unsigned long long) job->id);
    *pp = job->next;
    if (st->tail == job)
        st->tail = prev;
    job->next = NULL;
    st->queued--;
}

static broker_worker_t *
s_pick(broker_t *b, size_t stage)
{
    broker_worker_t *best = NULL;
    unsigned best_free = 0;
    for (broker_worker_t *w = b->workers; w; w = w->next) {
        if (w->stage != stage || w->held_count >= w->capacity)
            continue;
        unsigned free_credit = w->capacity - w->held_count;
        if (free_credit > best_free) {
            best = w;
            best_free = free_credit;
        }
    }
    return best;
}

static void
s_send_job(broker_t *b, broker_worker_t *w, broker_job_t *job)
{
    broker_msg_t *m = job->msg;
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long) job->id);
    bool body = (w->needs & SL_NEED_BODY) && m->has_body;
    bool parts = (w->needs & SL_NEED_PARTS) && m->part_count > 0;
    const char *needs = body && parts ? "body,parts" : body ? "body" : parts ? "parts" : "envelope";
    zmq_msg_t *env = broker_msg_encoded(m);
    s_send_header(b, w, "JOB", ZMQ_SNDMORE);
    sl_wire_send_str(b->backend, hex, ZMQ_SNDMORE);
    sl_wire_send_str(b->backend, sl_conf_phase_name(m->phase), ZMQ_SNDMORE);
    sl_wire_send_str(b->backend, needs, ZMQ_SNDMORE);
    sl_wire_send_share(b->backend, env, (body || parts) ? ZMQ_SNDMORE : 0);
    if (body)
        sl_wire_send_share(b->backend, &m->body, parts ? ZMQ_SNDMORE : 0);
    for (size_t i = 0; parts && i < m->part_count; i++)
        sl_wire_send_share(b->backend, &m->parts[i], i + 1 < m->part_count ? ZMQ_SNDMORE : 0);
}

void
broker_dispatch(broker_t *b)
{
    for (size_t s = 0; s < b->stage_count; s++) {
        broker_stage_t *st = &b->stages[s];
        while (st->head) {
            broker_worker_t *w = s_pick(b, s);
            if (w == NULL)
                break;
            broker_job_t *job = st->head;
            broker_unqueue(b, job);
            unsigned slot = 0;
            while (w->held[slot] != NULL)
                slot++;
            w->held[slot] = job;
            w->abandoned[slot] = false;
            w->held_count++;
            job->worker = w;
            job->attempts++;
            job->dispatched_at = b->now;
            st->in_flight++;
            s_send_job(b, w, job);
        }
    }
}

void
broker_worker_remove(broker_t *b, broker_worker_t *w, bool died, const char *why)
{
    broker_stage_t *st = &b->stages[w->stage];
    sl_log_info(NULL, "worker gone stage=%s worker=%s reason=\"%s\" held=%u", st->conf->name,
                w->label, why, w->held_count);
    broker_worker_t **pp = &b->workers;
    while (*pp != w)
        pp = &(*pp)->next;
    *pp = w->next;
    st->workers--;
    for (unsigned i = 0; i < BROKER_CAPACITY_MAX; i++) {
        broker_job_t *job = w->held[i];
        if (job == NULL)
            continue;
        if (w->abandoned[i]) {
            free(job);
            continue;
        }
        st->in_flight--;
        if (died) {
            job->deaths++;
            st->crashes++;
        }
        if (died && job->deaths >= (unsigned) b->conf->broker.poison_limit) {
            char text[128];
            snprintf(text, sizeof text, "poison message: %u workers died holding it", job->deaths);
            broker_msg_fail(b, job, text);
        } else {
            sl_log_info(sl_env_id(job->msg->env), "re-dispatch stage=%s reason=\"%s\"",
                        st->conf->name, why);
            job->queued_at = b->now;
            broker_enqueue(b, job, true);
        }
    }
    free(w);
}

void
broker_worker_tick(broker_t *b, uint64_t now)
{
    uint64_t hb = (uint64_t) b->conf->broker.heartbeat_ms;
    broker_worker_t *w = b->workers;
    while (w) {
        broker_worker_t *next = w->next;
        if (now - w->last_seen > 3 * hb) {
            broker_worker_remove(b, w, true, "heartbeat lost");
            w = next;
            continue;
        }
        broker_stage_t *st = &b->stages[w->stage];
        for (unsigned i = 0; i < BROKER_CAPACITY_MAX; i++) {
            broker_job_t *job = w->held[i];
            if (job == NULL || w->abandoned[i] ||
                now - job->dispatched_at <= (uint64_t) st->conf->timeout_ms)
                continue;
            /* The worker keeps the slot busy until it answers; the message moves on. */
            st->timeouts++;
            st->in_flight--;
            broker_job_t *copy = sl_xmemdup(job, sizeof *job);
            copy->msg = NULL; /* the message may finish before the late answer comes */
            w->held[i] = copy;
            w->abandoned[i] = true;
            if (job->attempts <= (unsigned) st->conf->retries) {
                sl_log_info(sl_env_id(job->msg->env), "timeout stage=%s worker=%s attempt=%u "
                            "retry=yes", st->conf->name, w->label, job->attempts);
                job->id = ++b->next_job_id;
                job->queued_at = now;
                broker_enqueue(b, job, true);
            } else {
                broker_msg_fail(b, job, "timeout");
            }
        }
        if (now - w->last_sent >= hb)
            s_send_header(b, w, "HB", 0);
        w = next;
    }
}
