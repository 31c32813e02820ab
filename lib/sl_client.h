/*
 * lib/sl_client.h - the submitting side of the broker: smtpd, sluice submit, replay.
 *
 * Asynchronous: submit many messages, collect results as they come. One
 * client is one DEALER socket and is used from one thread. The broker holds
 * no durable state: a submitter that gets no result within its own deadline
 * (broker restarted) simply submits again; stages are idempotent per queue id.
 * Protocol: broker/README.md ("client protocol").
 * Tests: tests/e2e (every e2e test submits through this).
 */
#ifndef SL_CLIENT_H
#define SL_CLIENT_H

#include "sl_bodyfile.h"
#include "sl_env.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct sl_client sl_client_t;

typedef enum {
    SL_RESULT_OK,       /* the graph ran; env holds every verdict and the results */
    SL_RESULT_BUSY,     /* the broker is saturated: try again later (smtpd: 451) */
    SL_RESULT_TEMPFAIL, /* a stage with on_error: tempfail failed: hold and retry later */
    SL_RESULT_ERROR,    /* the request was refused (bad graph, bad envelope): why says */
} sl_result_status_t;

typedef struct {
    uint64_t req;              /* the id sl_client_submit returned */
    sl_result_status_t status; /* see above */
    sl_env_t *env;             /* final envelope for OK and TEMPFAIL (caller's), else NULL */
    char why[256];             /* reason for BUSY, TEMPFAIL and ERROR */
} sl_result_t;

/* sl_client_new - connects to the broker's frontend ENDPOINT; NULL on a bad endpoint. */
sl_client_t *sl_client_new(const char *endpoint);
void sl_client_destroy(sl_client_t **self_p);

/* sl_client_submit - sends ENV (borrowed, encoded now) and BODY through phase
 * PHASE ("connect", "rcpt", "content") of graph GRAPH (NULL = "default").
 * BODY may be NULL for the connect and rcpt phases. With free_body set, the
 * client takes BODY (a malloc'd buffer) and frees it once sent, which avoids a
 * copy of large bodies. Returns the request id (>0), or 0 when the message
 * could not be queued (socket full: treat as busy). */
uint64_t sl_client_submit(sl_client_t *self, const char *graph, const char *phase,
                          const sl_env_t *env, const void *body, size_t body_len, int free_body);

/* sl_client_submit_file - as sl_client_submit, with the body left in a file
 * (REF: offset, length, absolute path; lib/sl_bodyfile.h) that stays as it is
 * until the result comes. Only for a broker on this host (sl_client_same_host):
 * the broker opens the file itself. 0 when it could not be queued. */
uint64_t sl_client_submit_file(sl_client_t *self, const char *graph, const char *phase,
                               const sl_env_t *env, const sl_bodyfile_ref_t *ref);

/* sl_client_same_host - true for an endpoint that can only reach this host
 * (ipc://, inproc://): a body may be handed over by file. */
bool sl_client_same_host(const char *endpoint);

/* sl_client_recv - waits up to TIMEOUT_MS (-1 forever, 0 poll) for the next
 * result. 1 with *out filled (free with sl_result_clear), 0 on timeout, -1 on
 * interrupt (EINTR) or a socket error. */
int sl_client_recv(sl_client_t *self, int timeout_ms, sl_result_t *out);
void sl_result_clear(sl_result_t *result);

/* sl_client_fd - a file descriptor that becomes readable when results may be
 * waiting (ZMQ_FD: edge-triggered, so drain with sl_client_recv(.., 0, ..)
 * until it returns 0 each time it fires). For libevent loops. */
int sl_client_fd(sl_client_t *self);

/* sl_client_status - the broker's per-stage statistics as a JSON text
 * (caller frees), NULL when the broker does not answer in TIMEOUT_MS. */
char *sl_client_status(sl_client_t *self, int timeout_ms);

/* sl_client_status_raw - the same statistics as the broker sent them, a msgpack
 * map (caller frees; length in *len), NULL on timeout. */
void *sl_client_status_raw(sl_client_t *self, int timeout_ms, size_t *len);

/* sl_result_status_name - "ok", "busy", "tempfail", "error". */
const char *sl_result_status_name(sl_result_status_t status);

#endif
