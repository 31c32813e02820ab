/*
 * lib/sl_wire.h - ZeroMQ multipart framing shared by broker, client and stage runtime.
 *
 * Frames are kept as zmq_msg_t so that a body received once can be sent on
 * to several workers without a copy (zmq_msg_copy shares the buffer).
 * The protocol itself is written down in broker/README.md.
 */
#ifndef SL_WIRE_H
#define SL_WIRE_H

#include "sl_mem.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define SL_WIRE_CLIENT "SLC1"
#define SL_WIRE_WORKER "SLW1"
#define SL_WIRE_FRAMES_MAX 10008 /* SL_ENV_PARTS_MAX part frames + header frames */
#define SL_WIRE_REQ_MAX 64       /* client request id bytes */

typedef struct {
    zmq_msg_t *frames; /* received frames, owned */
    size_t count;      /* frames held */
    size_t cap;        /* allocated */
    bool truncated;    /* the peer sent more than the limit: the rest was drained */
} sl_frames_t;

/* sl_frames_recv - receive one whole multipart message (at most MAX frames
 * kept; more are drained and flagged). 0 on success, -1 with errno (EAGAIN
 * when FLAGS has ZMQ_DONTWAIT and nothing waits). Clears FR first. */
int sl_frames_recv(void *sock, sl_frames_t *fr, size_t max, int flags);
/* sl_frames_close - closes every frame (keeps the array for reuse). */
void sl_frames_close(sl_frames_t *fr);
/* sl_frames_free - closes every frame and frees the array. */
void sl_frames_free(sl_frames_t *fr);
/* sl_frames_at - borrowed bytes of frame INDEX, empty past the end. */
sl_slice_t sl_frames_at(const sl_frames_t *fr, size_t index);
/* sl_frames_is - frame INDEX equals the text S exactly. */
bool sl_frames_is(const sl_frames_t *fr, size_t index, const char *s);
/* sl_frames_take - moves frame INDEX into DST (initialised by the call);
 * the frame in FR becomes empty. */
void sl_frames_take(sl_frames_t *fr, size_t index, zmq_msg_t *dst);

/* Sending: MORE is ZMQ_SNDMORE or 0. Return 0, or -1 with errno. */
int sl_wire_send_str(void *sock, const char *s, int more);
int sl_wire_send_mem(void *sock, const void *p, size_t len, int more);
/* sl_wire_send_share - sends a frame sharing MSG's buffer (MSG stays valid). */
int sl_wire_send_share(void *sock, zmq_msg_t *msg, int more);
/* sl_wire_send_owned - sends BUF without copying and frees it with free()
 * once ZeroMQ is done; takes BUF whatever happens. */
int sl_wire_send_owned(void *sock, void *buf, size_t len, int more);

/* Event loops without zmq_poll: a socket's ZMQ_FD is edge-triggered. Drain a
 * socket with ZMQ_DONTWAIT until EAGAIN before waiting on its fd, and after
 * sending on it, receive (or drain) once more before waiting: a send may take
 * the wake-up of a message that arrived meanwhile. */
/* sl_wire_fd - the socket's ZMQ_FD, or -1. */
int sl_wire_fd(void *sock);
/* sl_wire_wait - waits up to TIMEOUT_MS (-1 = no limit) for FD or WAKE to
 * be readable (either -1: not watched; both: just sleeps); 1 when one was,
 * 0 on timeout, -1 with errno (EINTR for a signal). WAKE is for a pipe that
 * tells a thread to stop. */
int sl_wire_wait(int fd, int wake, int timeout_ms);
/* sl_wire_clock_ms - coarse monotonic milliseconds (CLOCK_MONOTONIC_COARSE,
 * a few ms resolution, never a syscall): heartbeats and timeouts. */
uint64_t sl_wire_clock_ms(void);

/* sl_wire_slice_eq - slice equals the text S exactly. */
bool sl_wire_slice_eq(sl_slice_t s, const char *text);
/* sl_wire_slice_uint - decimal 1..9 digits, no sign; -1 when malformed. */
long sl_wire_slice_uint(sl_slice_t s);

#endif
