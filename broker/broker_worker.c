/*
 * broker/broker_worker.c - workers: registration, credit dispatch, heartbeats, expiry.
 *
 * A worker holds at most its credit (capacity x batch); queued jobs go to the
 * live workers of their stage with the most free credit, several at once in
 * one JOBS to a worker that asked for batches, spread over the free workers.
 * A job's timeout runs from when the broker reckons the worker started it
 * (the worker works through what it holds in order, capacity at a time). A
 * worker silent for three heartbeat intervals is dead (and with it the other
 * lanes of its process): its jobs go back to the front of the queue, and a
 * job that has killed poison_limit workers fails with an error verdict.
 * Tests: tests/e2e/test_pipeline.py (kill -9 and crash cases), tests/e2e/test_batch.py,
 *        tests/e2e/test_stage_inline.py (lanes)
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

/* s_needs_name - NEEDS as READY and JOB spell them; FILE: the body as a reference. */
static const char *
s_needs_name(unsigned needs, bool file)
{
    bool body = needs & SL_NEED_BODY, parts = needs & SL_NEED_PARTS;
    return body && parts ? (file ? "body-file,parts" : "body,parts")
           : body        ? (file ? "body-file" : "body")
           : parts       ? "parts" : "envelope";
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
        else if (sl_wire_slice_eq(item, "body-file"))
            *needs |= SL_NEED_BODY | SL_NEED_FILE;
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
    /* SLW1 READY stage capacity needs version worker [batch] */
    char stage[SL_ENV_NAME_MAX + 1];
    sl_slice_t ss = sl_frames_at(fr, 2);
    long capacity = sl_wire_slice_uint(sl_frames_at(fr, 3));
    long batch = fr->count == 8 ? sl_wire_slice_uint(sl_frames_at(fr, 7)) : 1;
    unsigned needs = 0;
    if ((fr->count != 7 && fr->count != 8) || ss.len == 0 || ss.len > SL_ENV_NAME_MAX ||
        capacity < 1 || capacity > BROKER_CAPACITY_MAX || batch < 1 || batch > SL_BATCH_MAX ||
        s_parse_needs(sl_frames_at(fr, 4), &needs) != 0) {
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
    unsigned credit = (unsigned) (capacity * batch);
    if (credit > BROKER_CAPACITY_MAX)
        credit = BROKER_CAPACITY_MAX;
    if (w && w->stage != si)
        broker_worker_remove(b, w, false, "re-registered for another stage");
    else if (w) {
        /* A second READY from a live worker: keep its jobs, update its terms. */
        w->capacity = (unsigned) capacity;
        w->batch = (unsigned) batch;
        w->credit = credit;
        w->needs = needs;
        return;
    }
    w = sl_xcalloc(1, sizeof *w);
    w->ident = *id;
    w->stage = si;
    w->capacity = (unsigned) capacity;
    w->batch = (unsigned) batch;
    w->credit = credit;
    w->needs = needs;
    s_copy_text(w->version, sizeof w->version, sl_frames_at(fr, 5));
    s_copy_text(w->label, sizeof w->label, sl_frames_at(fr, 6));
    w->last_seen = w->last_sent = b->now;
    w->next = b->workers;
    b->workers = w;
    b->stages[si].workers++;
    sl_log_info(NULL, "worker ready stage=%s worker=%s capacity=%u batch=%u needs=%s version=%s",
                stage, w->label, w->capacity, w->batch,
                s_needs_name(needs, needs & SL_NEED_FILE), w->version);
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
    for (unsigned i = 0; i < w->slot_end; i++)
        if (w->held[i] != NULL && w->held[i]->id == id)
            return (long) i;
    return -1;
}

/* s_running - held jobs the broker counts as being scanned (abandoned ones too:
 * the worker is still at them). */
static unsigned
s_running(const broker_worker_t *w)
{
    unsigned n = 0;
    for (unsigned i = 0; i < w->slot_end; i++)
        n += w->held[i] != NULL && w->held[i]->started_at != 0;
    return n;
}

/* s_promote - a worker works through its jobs in the order they were sent,
 * CAPACITY at a time: when an answer frees a lane, the oldest waiting job's
 * clock starts now. */
static void
s_promote(broker_t *b, broker_worker_t *w)
{
    unsigned running = s_running(w);
    while (running < w->capacity) {
        broker_job_t *oldest = NULL;
        for (unsigned i = 0; i < w->slot_end; i++) {
            broker_job_t *j = w->held[i];
            if (j && j->started_at == 0 && (oldest == NULL || j->seq < oldest->seq))
                oldest = j;
        }
        if (oldest == NULL)
            return;
        oldest->started_at = b->now;
        running++;
    }
}

static void
s_release_slot(broker_t *b, broker_worker_t *w, long slot)
{
    w->bytes_held -= w->held[slot]->bytes;
    if (!w->abandoned[slot])
        b->stages[w->stage].in_flight--;
    else
        free(w->held[slot]); /* its message already moved on without it */
    w->held[slot] = NULL;
    w->abandoned[slot] = false;
    w->held_count--;
    if (w->held_count == 0)
        w->isolating = false;
}

/* s_answer - one answer: FR[first] job, FR[first+1] verdict, then part frames to END. */
static void
s_answer(broker_t *b, broker_worker_t *w, sl_frames_t *fr, size_t first, size_t end)
{
    long slot = s_held_index(w, sl_frames_at(fr, first));
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
    s_release_slot(b, w, slot); /* the job leaves the worker; the message owns it again */
    sl_slice_t vs = sl_frames_at(fr, first + 1);
    sl_verdict_t *v = NULL;
    const char *why = NULL;
    if (sl_verdict_decode(vs.ptr, vs.len, &v, &why) != 0) {
        sl_log_warn(sl_env_id(job->msg->env), "verdict refused stage=%s worker=%s reason=\"%s\"",
                    b->stages[w->stage].conf->name, w->label, why ? why : "?");
        broker_msg_fail(b, job, "stage sent a malformed verdict");
        return;
    }
    const char *err = sl_verdict_error(v);
    if (job->by_file && strncmp(err, SL_BODYFILE_ERROR, strlen(SL_BODYFILE_ERROR)) == 0) {
        /* The worker could not read the file (gone, another mount namespace):
         * the broker holds it open, so this message's body goes in the frame
         * from now on. Not an attempt: the scan never started. */
        sl_log_warn(sl_env_id(job->msg->env), "body file refused by worker stage=%s worker=%s "
                    "reason=\"%s\" resend=in-frame", b->stages[w->stage].conf->name, w->label, err);
        sl_verdict_destroy(&v);
        job->msg->ref_failed = true;
        job->attempts--;
        job->id = ++b->next_job_id;
        job->queued_at = b->now;
        broker_enqueue(b, job, true);
        return;
    }
    if (strcmp(sl_verdict_stage(v), b->stages[w->stage].conf->name) != 0) {
        /* A stage answers under its own graph name only. */
        sl_verdict_destroy(&v);
        broker_msg_fail(b, job, "verdict for another stage");
        return;
    }
    broker_msg_verdict(b, job, &v, fr, first + 2, end);
}

void
broker_worker_done(broker_t *b, const broker_ident_t *id, sl_frames_t *fr)
{
    /* SLW1 DONE job verdict [part...], or SLW1 DONES n (k job verdict [part...]){n} */
    bool batch = sl_frames_is(fr, 1, "DONES");
    broker_worker_t *w = broker_worker_seen(b, id);
    if (w == NULL) {
        sl_log_debug(NULL, "answer from an unknown worker ignored");
        return;
    }
    if (!batch) {
        if (fr->count < 4)
            sl_log_warn(NULL, "DONE ignored worker=%s reason=\"not a job it holds\"", w->label);
        else
            s_answer(b, w, fr, 2, fr->count);
        s_promote(b, w);
        return;
    }
    sl_batch_entry_t entry[SL_BATCH_MAX];
    const char *why = NULL;
    int n = sl_batch_split(fr, 2, 2, entry, &why);
    if (n < 0) {
        sl_log_warn(NULL, "DONES refused worker=%s reason=\"%s\" frames=%zu", w->label, why,
                    fr->count);
        broker_worker_remove(b, w, true, "malformed DONES");
        return;
    }
    for (int i = 0; i < n; i++)
        s_answer(b, w, fr, entry[i].first, entry[i].first + entry[i].count);
    s_promote(b, w);
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

/* s_free_credit - jobs W may take now: none while it isolates a suspect job,
 * or while every lane is stuck on a job that timed out (jobs sent now would
 * wait behind it with their clocks stopped). */
static bool
s_stuck(const broker_worker_t *w)
{
    unsigned stuck = 0;
    for (unsigned i = 0; i < w->slot_end; i++)
        stuck += w->held[i] != NULL && w->abandoned[i] && w->held[i]->started_at != 0;
    return stuck >= w->capacity;
}

static unsigned
s_free_credit(const broker_worker_t *w)
{
    if (w->isolating || w->held_count >= w->credit || s_stuck(w))
        return 0;
    if (w->held_count >= w->capacity && w->bytes_held >= BROKER_BATCH_BYTES)
        return 0;
    return w->credit - w->held_count;
}

/* s_pick - the live worker of STAGE with the most free credit (EMPTY: one
 * that holds nothing); *FREE_WORKERS counts those with any. */
static broker_worker_t *
s_pick(broker_t *b, size_t stage, bool empty, size_t *free_workers)
{
    broker_worker_t *best = NULL;
    unsigned best_free = 0;
    *free_workers = 0;
    for (broker_worker_t *w = b->workers; w; w = w->next) {
        if (w->stage != stage || (empty && w->held_count > 0))
            continue;
        unsigned free_credit = s_free_credit(w);
        if (free_credit == 0)
            continue;
        (*free_workers)++;
        if (free_credit > best_free) {
            best = w;
            best_free = free_credit;
        }
    }
    return best;
}

/* s_by_file - W gets M's body as a file reference (it said body-file, the
 * body is in a file, and no worker has failed to read that file yet). */
static bool
s_by_file(const broker_worker_t *w, const broker_msg_t *m)
{
    return (w->needs & SL_NEED_FILE) && m->ref != NULL && !m->ref_failed;
}

/* s_needs_load - W takes M's body in the frame, and the broker has it only in a file. */
static bool
s_needs_load(const broker_worker_t *w, const broker_msg_t *m)
{
    return (w->needs & SL_NEED_BODY) && m->ref != NULL && !m->body_loaded && !s_by_file(w, m);
}

/* s_job_bytes - body and part bytes JOB carries to W (a body file's range
 * counts as if it came in the frame: the worker maps it). */
static size_t
s_job_bytes(const broker_worker_t *w, const broker_job_t *job)
{
    broker_msg_t *m = job->msg;
    size_t n = !((w->needs & SL_NEED_BODY) && m->has_body) ? 0
               : m->ref != NULL ? (size_t) m->ref->length : zmq_msg_size(&m->body);
    for (size_t i = 0; (w->needs & SL_NEED_PARTS) && i < m->part_count; i++)
        n += zmq_msg_size(&m->parts[i]);
    return n;
}

/* s_job_frames - frames of JOB's entry for W: job phase needs env [body] [part...]. */
static size_t
s_job_frames(const broker_worker_t *w, const broker_job_t *job)
{
    const broker_msg_t *m = job->msg;
    bool body = (w->needs & SL_NEED_BODY) && m->has_body;
    bool parts = (w->needs & SL_NEED_PARTS) && m->part_count > 0;
    return 4 + (body ? 1 : 0) + (parts ? m->part_count : 0);
}

/* s_send_job - JOB's frames after the command; the last one with LAST_MORE. */
static void
s_send_job(broker_t *b, broker_worker_t *w, broker_job_t *job, int last_more)
{
    broker_msg_t *m = job->msg;
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long) job->id);
    bool body = (w->needs & SL_NEED_BODY) && m->has_body;
    bool parts = (w->needs & SL_NEED_PARTS) && m->part_count > 0;
    const char *needs = s_needs_name((body ? SL_NEED_BODY : 0) | (parts ? SL_NEED_PARTS : 0),
                                     job->by_file);
    zmq_msg_t *env = broker_msg_encoded(m);
    sl_wire_send_str(b->backend, hex, ZMQ_SNDMORE);
    sl_wire_send_str(b->backend, sl_conf_phase_name(m->phase), ZMQ_SNDMORE);
    sl_wire_send_str(b->backend, needs, ZMQ_SNDMORE);
    sl_wire_send_share(b->backend, env, (body || parts) ? ZMQ_SNDMORE : last_more);
    if (body)
        sl_wire_send_share(b->backend, job->by_file ? &m->ref_frame : &m->body,
                           parts ? ZMQ_SNDMORE : last_more);
    for (size_t i = 0; parts && i < m->part_count; i++)
        sl_wire_send_share(b->backend, &m->parts[i],
                           i + 1 < m->part_count ? ZMQ_SNDMORE : last_more);
}

/* s_hand - JOB (just unqueued) goes to W: a slot, its clock (running now if W
 * has a free lane, else waiting behind the jobs before it), counters. */
static void
s_hand(broker_t *b, broker_worker_t *w, broker_job_t *job)
{
    unsigned slot = 0;
    while (w->held[slot] != NULL)
        slot++;
    if (slot >= w->slot_end)
        w->slot_end = slot + 1;
    job->started_at = s_running(w) < w->capacity ? b->now : 0;
    job->seq = ++w->next_seq;
    job->by_file = s_by_file(w, job->msg);
    job->bytes = s_job_bytes(w, job);
    w->bytes_held += job->bytes;
    w->held[slot] = job;
    w->abandoned[slot] = false;
    w->held_count++;
    job->worker = w;
    job->attempts++;
    job->dispatched_at = b->now;
    b->stages[job->stage].in_flight++;
    if (job->suspect)
        w->isolating = true;
}

/* s_send_batch - up to TAKE jobs from the head of STAGE's queue to W: one JOB,
 * or one JOBS within the frame limit. A suspect job goes alone, to an empty worker. */
static void
s_send_batch(broker_t *b, broker_worker_t *w, broker_stage_t *st, unsigned take)
{
    broker_job_t *batch[SL_BATCH_MAX];
    size_t n = 0, frames = 3, bytes = w->bytes_held; /* SLW1 JOBS n */
    for (broker_job_t *job = st->head; job && n < take && n < SL_BATCH_MAX; job = job->next) {
        if (n > 0 && s_needs_load(w, job->msg) && broker_msg_load_body(job->msg) != 0)
            break; /* at the head of the queue next turn, it fails there */
        size_t k = s_job_frames(w, job), jb = s_job_bytes(w, job);
        if (n > 0 && (job->suspect || k + 1 > SL_WIRE_FRAMES_MAX - frames ||
                      jb > BROKER_BATCH_BYTES - (bytes < BROKER_BATCH_BYTES ? bytes
                                                 : BROKER_BATCH_BYTES)))
            break;
        batch[n++] = job;
        frames += 1 + k;
        bytes += jb;
        if (job->suspect)
            break;
    }
    for (size_t i = 0; i < n; i++) {
        broker_unqueue(b, batch[i]);
        s_hand(b, w, batch[i]);
    }
    if (n == 1) {
        s_send_header(b, w, "JOB", ZMQ_SNDMORE);
        s_send_job(b, w, batch[0], 0);
        return;
    }
    st->batched += n;
    s_send_header(b, w, "JOBS", ZMQ_SNDMORE);
    sl_batch_send_count(b->backend, n, ZMQ_SNDMORE);
    for (size_t i = 0; i < n; i++) {
        sl_batch_send_count(b->backend, s_job_frames(w, batch[i]), ZMQ_SNDMORE);
        s_send_job(b, w, batch[i], i + 1 < n ? ZMQ_SNDMORE : 0);
    }
}

/* s_dispatch_stage - the queue's jobs to the stage's workers by credit. With
 * Q jobs waiting and W workers with free credit, each worker gets at most
 * ceil(Q / W) of them at once (and at most its batch), so batches spread over
 * the workers instead of filling the first one; a single job leaves at once,
 * alone. A suspect job waits for a worker that holds nothing. */
static void
s_dispatch_stage(broker_t *b, size_t s)
{
    broker_stage_t *st = &b->stages[s];
    size_t share = 0;
    while (st->head) {
        size_t free_workers = 0;
        broker_worker_t *w = s_pick(b, s, st->head->suspect, &free_workers);
        if (w == NULL)
            return;
        broker_job_t *head = st->head;
        if (s_needs_load(w, head->msg) && broker_msg_load_body(head->msg) != 0) {
            /* The file it was submitted with is unreadable now: nothing to scan.
             * The submitter keeps the message and tries again later. */
            broker_unqueue(b, head);
            head->msg->tempfail = true;
            broker_msg_fail(b, head, "body file unreadable at the broker");
            continue;
        }
        if (share == 0)
            share = (st->queued + free_workers - 1) / free_workers;
        unsigned take = s_free_credit(w);
        if (take > w->batch)
            take = w->batch;
        if (take > share)
            take = (unsigned) share;
        s_send_batch(b, w, st, take);
    }
}

void
broker_dispatch(broker_t *b)
{
    for (size_t s = 0; s < b->stage_count; s++)
        if (b->stages[s].head)
            s_dispatch_stage(b, s);
}

/* s_requeue - JOB (held by W at SLOT) goes back to the front of its queue;
 * the worker's late answer to it is ignored (the slot stays busy until then). */
static void
s_requeue(broker_t *b, broker_worker_t *w, unsigned slot, const char *why)
{
    broker_job_t *job = w->held[slot];
    broker_stage_t *st = &b->stages[w->stage];
    st->in_flight--;
    broker_job_t *copy = sl_xmemdup(job, sizeof *job);
    copy->msg = NULL; /* the message may finish before the late answer comes */
    w->held[slot] = copy;
    w->abandoned[slot] = true;
    job->attempts--; /* it never started */
    job->id = ++b->next_job_id;
    job->queued_at = b->now;
    sl_log_info(sl_env_id(job->msg->env), "re-dispatch stage=%s worker=%s reason=\"%s\"",
                st->conf->name, w->label, why);
    broker_enqueue(b, job, true);
}

/* s_remove - W leaves; what it held goes back to the queue. DIED: it was
 * lost (its jobs count crashes), and BLAME: each job it held adds a death. */
static void
s_remove(broker_t *b, broker_worker_t *w, bool died, bool blame, const char *why)
{
    broker_stage_t *st = &b->stages[w->stage];
    sl_log_info(NULL, "worker gone stage=%s worker=%s reason=\"%s\" held=%u", st->conf->name,
                w->label, why, w->held_count);
    broker_worker_t **pp = &b->workers;
    while (*pp != w)
        pp = &(*pp)->next;
    *pp = w->next;
    st->workers--;
    for (unsigned i = 0; i < w->slot_end; i++) {
        broker_job_t *job = w->held[i];
        if (job == NULL)
            continue;
        if (w->abandoned[i]) {
            free(job);
            continue;
        }
        st->in_flight--;
        if (died) {
            st->crashes++;
            if (blame)
                job->deaths++;
            else
                job->suspect = true;
        }
        if (died && job->deaths >= (unsigned) b->conf->broker.poison_limit) {
            char text[128];
            snprintf(text, sizeof text, "poison message: %u workers died holding it", job->deaths);
            broker_msg_fail(b, job, text);
        } else {
            sl_log_info(sl_env_id(job->msg->env), "re-dispatch stage=%s reason=\"%s\"",
                        st->conf->name, why);
            if (job->started_at == 0)
                job->attempts--; /* it waited at the worker and never started */
            job->queued_at = b->now;
            broker_enqueue(b, job, true);
        }
    }
    free(w);
}

/* Holding one job, a worker that died died of it (or beside it): it counts
 * toward the poison limit. Holding several, nobody knows which one it was:
 * none is blamed, and each goes alone to a worker holding nothing, so that
 * a second death names the culprit. */
void
broker_worker_remove(broker_t *b, broker_worker_t *w, bool died, const char *why)
{
    s_remove(b, w, died, died && w->held_count == 1, why);
}

/* s_process_len - the length of LABEL's process part when it names a lane of
 * a process ("host:pid/K", lib/sl_stage.c), else 0. */
static size_t
s_process_len(const char *label)
{
    const char *slash = strrchr(label, '/');
    return slash ? (size_t) (slash - label) : 0;
}

/* s_lane_of - V is another lane of W's process that fell silent with it
 * (its last message at most two intervals after W's; a lane that reconnected
 * since is newer and is not). */
static bool
s_lane_of(const broker_worker_t *w, const broker_worker_t *v, uint64_t hb)
{
    size_t n = s_process_len(w->label);
    return v != w && n > 0 && v->stage == w->stage && s_process_len(v->label) == n &&
           memcmp(v->label, w->label, n) == 0 && v->last_seen < w->last_seen + 2 * hb;
}

/* s_process_lost - W fell silent: so did its process, and with it every lane
 * of that process (capacity N is N lanes, each a worker of its own). They
 * are gone together, and the poison rule counts the jobs of the process: a
 * capacity-8 process that dies holding 8 jobs, one per lane, blames none. */
static void
s_process_lost(broker_t *b, broker_worker_t *w, uint64_t hb)
{
    unsigned held = w->held_count;
    for (broker_worker_t *v = b->workers; v; v = v->next)
        if (s_lane_of(w, v, hb))
            held += v->held_count;
    broker_worker_t *v = b->workers;
    while (v) {
        broker_worker_t *next = v->next;
        if (s_lane_of(w, v, hb))
            s_remove(b, v, true, held == 1, "heartbeat lost by its process");
        v = next;
    }
    s_remove(b, w, true, held == 1, "heartbeat lost");
}

void
broker_worker_tick(broker_t *b, uint64_t now)
{
    uint64_t hb = (uint64_t) b->conf->broker.heartbeat_ms;
    broker_worker_t *w = b->workers;
    while (w) {
        broker_worker_t *next = w->next;
        if (now - w->last_seen > 3 * hb) {
            s_process_lost(b, w, hb);
            w = b->workers; /* lanes of it may have been anywhere in the list */
            continue;
        }
        broker_stage_t *st = &b->stages[w->stage];
        bool timed_out = false;
        for (unsigned i = 0; i < w->slot_end; i++) {
            broker_job_t *job = w->held[i];
            if (job == NULL || w->abandoned[i] || job->started_at == 0 ||
                now - job->started_at <= (uint64_t) st->conf->timeout_ms)
                continue;
            /* The worker keeps the slot busy until it answers; the message moves on. */
            timed_out = true;
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
        /* Jobs waiting behind a stuck lane would wait with their clocks stopped:
         * they go back to the queue, for another worker. */
        if (timed_out && s_stuck(w))
            for (unsigned i = 0; i < w->slot_end; i++)
                if (w->held[i] && !w->abandoned[i] && w->held[i]->started_at == 0)
                    s_requeue(b, w, i, "waited behind a job that timed out");
        if (now - w->last_sent >= hb)
            s_send_header(b, w, "HB", 0);
        w = next;
    }
}
