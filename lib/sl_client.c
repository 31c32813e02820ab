/*
 * lib/sl_client.c - submitting side of the client protocol (broker/README.md).
 *
 * Results from the broker are untrusted too: frame count and the envelope
 * are checked before the caller sees them.
 * Tests: tests/e2e/test_pipeline.py (through sluice submit), smtpd tests.
 */
#include "sl_client.h"
#include "sl_log.h"
#include "sl_wire.h"

#include <errno.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sl_client {
    void *zctx;          /* own context: a client is self-contained */
    void *sock;          /* DEALER */
    int fd;              /* its ZMQ_FD: sl_client_recv waits on it with one poll() */
    uint64_t next_req;   /* request ids, from 1 */
    sl_frames_t frames;  /* receive buffer */
};

sl_client_t *
sl_client_new(const char *endpoint)
{
    sl_client_t *self = sl_xcalloc(1, sizeof *self);
    self->zctx = zmq_ctx_new();
    self->sock = zmq_socket(self->zctx, ZMQ_DEALER);
    int linger = 2000, hwm = 100000;
    int64_t maxmsg = 256 << 20;
    zmq_setsockopt(self->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(self->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(self->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(self->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (zmq_connect(self->sock, endpoint) != 0) {
        sl_log_error(NULL, "connect failed endpoint=%s error=\"%s\"", endpoint,
                     zmq_strerror(errno));
        sl_client_destroy(&self);
        return NULL;
    }
    self->fd = sl_wire_fd(self->sock);
    self->next_req = 1;
    return self;
}

void
sl_client_destroy(sl_client_t **self_p)
{
    sl_client_t *self = *self_p;
    if (self == NULL)
        return;
    if (self->sock)
        zmq_close(self->sock);
    zmq_ctx_term(self->zctx);
    sl_frames_free(&self->frames);
    free(self);
    *self_p = NULL;
}

/* s_submit_head - SLC1 SUBMIT req graph phase env, the envelope frame sent
 * with MORE; the request id, or 0 when the socket is full (nothing sent). */
static uint64_t
s_submit_head(sl_client_t *self, const char *graph, const char *phase, const sl_env_t *env,
              int more)
{
    size_t env_len = 0;
    void *enc = sl_env_encode(env, &env_len);
    /* The first frame decides: once it is queued, ZeroMQ takes the whole message. */
    if (zmq_send(self->sock, SL_WIRE_CLIENT, 4, ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0) {
        free(enc);
        return 0;
    }
    uint64_t req = self->next_req++;
    char reqs[24];
    snprintf(reqs, sizeof reqs, "%llu", (unsigned long long) req);
    sl_wire_send_str(self->sock, "SUBMIT", ZMQ_SNDMORE);
    sl_wire_send_str(self->sock, reqs, ZMQ_SNDMORE);
    sl_wire_send_str(self->sock, graph ? graph : "default", ZMQ_SNDMORE);
    sl_wire_send_str(self->sock, phase, ZMQ_SNDMORE);
    sl_wire_send_owned(self->sock, enc, env_len, more);
    return req;
}

uint64_t
sl_client_submit(sl_client_t *self, const char *graph, const char *phase, const sl_env_t *env,
                 const void *body, size_t body_len, int free_body)
{
    uint64_t req = s_submit_head(self, graph, phase, env, body ? ZMQ_SNDMORE : 0);
    if (req == 0) {
        if (free_body)
            free((void *) body);
        return 0;
    }
    if (body && free_body)
        sl_wire_send_owned(self->sock, (void *) body, body_len, 0);
    else if (body)
        sl_wire_send_mem(self->sock, body, body_len, 0);
    return req;
}

uint64_t
sl_client_submit_file(sl_client_t *self, const char *graph, const char *phase,
                      const sl_env_t *env, const sl_bodyfile_ref_t *ref)
{
    char text[SL_BODYFILE_REF_MAX + 1];
    int n = sl_bodyfile_format(ref, text, sizeof text);
    uint64_t req = n < 0 ? 0 : s_submit_head(self, graph, phase, env, ZMQ_SNDMORE);
    if (req == 0)
        return 0;
    sl_wire_send_mem(self->sock, "", 0, ZMQ_SNDMORE);  /* no body in the frame: */
    sl_wire_send_mem(self->sock, text, (size_t) n, 0); /* it is in the file */
    return req;
}

bool
sl_client_same_host(const char *endpoint)
{
    return strncmp(endpoint, "ipc://", 6) == 0 || strncmp(endpoint, "inproc://", 9) == 0;
}

static int
s_parse_u64(sl_slice_t s, uint64_t *out)
{
    if (s.len == 0 || s.len > 19)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return -1;
        v = v * 10 + (uint64_t) (s.ptr[i] - '0');
    }
    *out = v;
    return 0;
}

static void
s_copy_why(char *dst, size_t size, sl_slice_t s)
{
    sl_log_str(s.ptr, s.len, dst, size);
}

int
sl_client_recv(sl_client_t *self, int timeout_ms, sl_result_t *out)
{
    memset(out, 0, sizeof *out);
    uint64_t deadline = timeout_ms > 0 ? sl_wire_clock_ms() + (uint64_t) timeout_ms : 0;
    for (;;) {
        /* Receive first: an answer already here costs no poll. EAGAIN also
         * re-arms the edge-triggered ZMQ_FD (sl_wire.h) before we wait on it. */
        if (sl_frames_recv(self->sock, &self->frames, 8, ZMQ_DONTWAIT) != 0) {
            if (errno != EAGAIN)
                return -1;
            int wait = timeout_ms < 0 ? -1 : 0;
            if (timeout_ms > 0) {
                uint64_t now = sl_wire_clock_ms();
                if (now >= deadline)
                    return 0;
                wait = (int) (deadline - now);
            }
            if (wait == 0)
                return 0;
            if (sl_wire_wait(self->fd, -1, wait) < 0)
                return -1;
            continue;
        }
        sl_frames_t *fr = &self->frames;
        /* SLC1 RESULT req status last */
        if (fr->count != 5 || !sl_frames_is(fr, 0, SL_WIRE_CLIENT) ||
            !sl_frames_is(fr, 1, "RESULT") || s_parse_u64(sl_frames_at(fr, 2), &out->req) != 0) {
            sl_log_warn(NULL, "broker answer ignored reason=\"malformed\" frames=%zu", fr->count);
            continue;
        }
        sl_slice_t st = sl_frames_at(fr, 3), last = sl_frames_at(fr, 4);
        if (sl_wire_slice_eq(st, "ok") || sl_wire_slice_eq(st, "tempfail")) {
            out->status = sl_wire_slice_eq(st, "ok") ? SL_RESULT_OK : SL_RESULT_TEMPFAIL;
            const char *why = NULL;
            if (sl_env_decode(last.ptr, last.len, &out->env, &why) != 0) {
                out->status = SL_RESULT_ERROR;
                snprintf(out->why, sizeof out->why, "broker sent a bad envelope: %s",
                         why ? why : "?");
            } else if (out->status == SL_RESULT_TEMPFAIL) {
                snprintf(out->why, sizeof out->why, "a stage failed with on_error: tempfail");
            }
        } else if (sl_wire_slice_eq(st, "busy")) {
            out->status = SL_RESULT_BUSY;
            s_copy_why(out->why, sizeof out->why, last);
        } else {
            out->status = SL_RESULT_ERROR;
            s_copy_why(out->why, sizeof out->why, last);
        }
        sl_frames_close(fr);
        return 1;
    }
}

void
sl_result_clear(sl_result_t *result)
{
    sl_env_destroy(&result->env);
}

int
sl_client_fd(sl_client_t *self)
{
    int fd = -1;
    size_t len = sizeof fd;
    zmq_getsockopt(self->sock, ZMQ_FD, &fd, &len);
    return fd;
}

void *
sl_client_status_raw(sl_client_t *self, int timeout_ms, size_t *len)
{
    uint64_t req = self->next_req++;
    char reqs[24];
    snprintf(reqs, sizeof reqs, "%llu", (unsigned long long) req);
    sl_wire_send_str(self->sock, SL_WIRE_CLIENT, ZMQ_SNDMORE);
    sl_wire_send_str(self->sock, "STATUS", ZMQ_SNDMORE);
    sl_wire_send_str(self->sock, reqs, 0);
    uint64_t deadline = sl_mono_ms() + (uint64_t) timeout_ms;
    for (;;) {
        uint64_t now = sl_mono_ms();
        if (now >= deadline)
            return NULL;
        zmq_pollitem_t item = {self->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, (long) (deadline - now)) <= 0)
            continue;
        if (sl_frames_recv(self->sock, &self->frames, 8, ZMQ_DONTWAIT) != 0)
            continue;
        sl_frames_t *fr = &self->frames;
        uint64_t got = 0;
        if (fr->count == 4 && sl_frames_is(fr, 1, "STATUS") &&
            s_parse_u64(sl_frames_at(fr, 2), &got) == 0 && got == req) {
            sl_slice_t s = sl_frames_at(fr, 3);
            void *copy = sl_xmemdup(s.ptr, s.len);
            *len = s.len;
            sl_frames_close(fr);
            return copy;
        }
        sl_frames_close(fr);
    }
}

char *
sl_client_status(sl_client_t *self, int timeout_ms)
{
    size_t len = 0;
    void *raw = sl_client_status_raw(self, timeout_ms, &len);
    if (raw == NULL)
        return NULL;
    char *json = sl_json_from_msgpack(raw, len);
    free(raw);
    return json;
}

const char *
sl_result_status_name(sl_result_status_t status)
{
    switch (status) {
    case SL_RESULT_OK:
        return "ok";
    case SL_RESULT_BUSY:
        return "busy";
    case SL_RESULT_TEMPFAIL:
        return "tempfail";
    default:
        return "error";
    }
}
