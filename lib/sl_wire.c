/*
 * lib/sl_wire.c - bounded multipart receive and zero-copy send helpers.
 *
 * Everything received is untrusted: frame count is capped while receiving,
 * before anything looks at the content. The loop helpers (sl_wire_fd,
 * sl_wire_wait) let the broker, the stage runtime and the client wait on a
 * socket's fd with one poll() instead of zmq_poll's ten-odd syscalls.
 */
#include "sl_wire.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int
sl_frames_recv(void *sock, sl_frames_t *fr, size_t max, int flags)
{
    sl_frames_close(fr);
    fr->truncated = false;
    for (;;) {
        if (fr->count == fr->cap) {
            size_t ncap = fr->cap ? fr->cap * 2 : 16;
            fr->frames = sl_xrealloc(fr->frames, ncap * sizeof *fr->frames);
            fr->cap = ncap;
        }
        zmq_msg_t *m = &fr->frames[fr->count];
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sock, flags) < 0) {
            int saved = errno;
            zmq_msg_close(m);
            if (fr->count == 0) {
                errno = saved;
                return -1;
            }
            /* A multipart message arrives whole; an error mid-way is a closed socket. */
            errno = saved;
            return -1;
        }
        int more = zmq_msg_more(m);
        if (fr->count < max) {
            fr->count++;
        } else {
            fr->truncated = true;
            zmq_msg_close(m);
        }
        if (!more)
            return 0;
        flags &= ~ZMQ_DONTWAIT; /* the rest of a multipart message is already here */
    }
}

void
sl_frames_close(sl_frames_t *fr)
{
    for (size_t i = 0; i < fr->count; i++)
        zmq_msg_close(&fr->frames[i]);
    fr->count = 0;
}

void
sl_frames_free(sl_frames_t *fr)
{
    sl_frames_close(fr);
    free(fr->frames);
    fr->frames = NULL;
    fr->cap = 0;
}

sl_slice_t
sl_frames_at(const sl_frames_t *fr, size_t index)
{
    if (index >= fr->count)
        return (sl_slice_t){NULL, 0};
    zmq_msg_t *m = &fr->frames[index];
    return (sl_slice_t){zmq_msg_data(m), zmq_msg_size(m)};
}

bool
sl_wire_slice_eq(sl_slice_t s, const char *text)
{
    size_t n = strlen(text);
    return s.len == n && (n == 0 || memcmp(s.ptr, text, n) == 0);
}

bool
sl_frames_is(const sl_frames_t *fr, size_t index, const char *s)
{
    return index < fr->count && sl_wire_slice_eq(sl_frames_at(fr, index), s);
}

void
sl_frames_take(sl_frames_t *fr, size_t index, zmq_msg_t *dst)
{
    zmq_msg_init(dst);
    if (index < fr->count)
        zmq_msg_move(dst, &fr->frames[index]);
}

long
sl_wire_slice_uint(sl_slice_t s)
{
    if (s.len == 0 || s.len > 9)
        return -1;
    long v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return -1;
        v = v * 10 + (s.ptr[i] - '0');
    }
    return v;
}

int
sl_wire_send_str(void *sock, const char *s, int more)
{
    return sl_wire_send_mem(sock, s, strlen(s), more);
}

int
sl_wire_send_mem(void *sock, const void *p, size_t len, int more)
{
    return zmq_send(sock, p, len, more) < 0 ? -1 : 0;
}

int
sl_wire_send_share(void *sock, zmq_msg_t *msg, int more)
{
    zmq_msg_t copy;
    zmq_msg_init(&copy);
    if (zmq_msg_copy(&copy, msg) != 0) {
        zmq_msg_close(&copy);
        return -1;
    }
    if (zmq_msg_send(&copy, sock, more) < 0) {
        zmq_msg_close(&copy);
        return -1;
    }
    return 0;
}

static void
s_free_buf(void *data, void *hint)
{
    (void) hint;
    free(data);
}

int
sl_wire_send_owned(void *sock, void *buf, size_t len, int more)
{
    zmq_msg_t m;
    if (zmq_msg_init_data(&m, buf, len, s_free_buf, NULL) != 0) {
        free(buf);
        return -1;
    }
    if (zmq_msg_send(&m, sock, more) < 0) {
        zmq_msg_close(&m); /* frees buf */
        return -1;
    }
    return 0;
}

int
sl_wire_fd(void *sock)
{
    int fd = -1;
    size_t len = sizeof fd;
    if (sock == NULL || zmq_getsockopt(sock, ZMQ_FD, &fd, &len) != 0)
        return -1;
    return fd;
}

int
sl_wire_wait(int fd, int wake, int timeout_ms)
{
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = wake, .events = POLLIN}};
    int rc = poll(p, 2, timeout_ms); /* a negative fd is not watched */
    return rc < 0 ? -1 : rc > 0 ? 1 : 0;
}

uint64_t
sl_wire_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}
