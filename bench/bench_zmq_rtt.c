/*
 * bench/bench_zmq_rtt.c - sluice-bench-zmq-rtt: the raw ZeroMQ round trip, the ceiling.
 *
 *   sluice-bench-zmq-rtt --size BYTES --count N --window W [--endpoint ipc://PATH]
 *                        [--seconds MAX] [--warmup N] [--reply BYTES] [--hop]
 *
 * No Sluice code on the path: a forked server process binds a ROUTER on the
 * endpoint (ipc, like the broker), receives [request id, BYTES] and answers
 * [request id, REPLY bytes] (256 by default, about a stage's verdict). The
 * client is one DEALER keeping W requests in flight; it sends the message by
 * copy (zmq_send), as sl_client does. Same message, timing and output line as
 * sluice-bench-pipeline:
 *   msgs=N seconds=S msgs_per_s=X MB_per_s=Y p50_us=A p99_us=B errors=E mode=M
 * --hop measures the floor of one stage hop: window 1 and, unless --size is
 * given, a 512-byte frame (an encoded envelope, what a JOB carries to an
 * envelope-only stage). The server is stopped by PID (SIGTERM) at the end and
 * dies with the client (PR_SET_PDEATHSIG).
 * Run by bench/pipeline.sh; see bench/README.md.
 */
#include "bench_common.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define RTT_HOP_SIZE 512   /* a JOB's envelope frame, about */
#define RTT_REPLY_SIZE 256 /* a stage's verdict, about */

typedef struct {
    size_t reply;  /* --reply bytes */
    bool hop;      /* --hop */
} rtt_opts_t;

typedef struct {
    void *sock;         /* DEALER */
    const char *body;   /* message */
    size_t body_len;    /* its length */
    uint64_t next_req;  /* from 1 */
} rtt_client_t;

static volatile sig_atomic_t s_stop;

static void
s_on_signal(int sig)
{
    (void) sig;
    s_stop = 1;
}

/* s_server - the child: answer every [id, req, payload] with [id, req, reply]. */
static int
s_server(const char *endpoint, size_t reply_len)
{
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    void *zctx = zmq_ctx_new();
    void *sock = zmq_socket(zctx, ZMQ_ROUTER);
    int hwm = 100000, linger = 0;
    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(sock, endpoint) != 0) {
        fprintf(stderr, "bind %s: %s\n", endpoint, zmq_strerror(errno));
        return 1;
    }
    char *reply = calloc(1, reply_len ? reply_len : 1);
    zmq_msg_t frame[3];
    while (!s_stop) {
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 100) <= 0)
            continue;
        size_t n = 0;
        for (;;) { /* identity, request id, payload; extra frames are dropped */
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                break;
            }
            int more = zmq_msg_more(&m);
            if (n < 3) {
                frame[n++] = m;
            } else {
                zmq_msg_close(&m);
            }
            if (!more)
                break;
        }
        if (n == 3) {
            zmq_msg_send(&frame[0], sock, ZMQ_SNDMORE);
            zmq_msg_send(&frame[1], sock, ZMQ_SNDMORE);
            zmq_send(sock, reply, reply_len, 0);
            zmq_msg_close(&frame[2]);
        } else {
            for (size_t i = 0; i < n; i++)
                zmq_msg_close(&frame[i]);
        }
    }
    free(reply);
    zmq_close(sock);
    zmq_ctx_term(zctx);
    return 0;
}

static uint64_t
s_send(void *ctx)
{
    rtt_client_t *c = ctx;
    uint64_t req = c->next_req++;
    if (zmq_send(c->sock, &req, sizeof req, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return 0;
    zmq_send(c->sock, c->body, c->body_len, 0);
    return req;
}

static int
s_recv(void *ctx, int timeout_ms, uint64_t *req, int *ok)
{
    rtt_client_t *c = ctx;
    zmq_pollitem_t item = {c->sock, 0, ZMQ_POLLIN, 0};
    int rc = zmq_poll(&item, 1, timeout_ms);
    if (rc <= 0)
        return rc < 0 && errno != EINTR ? -1 : 0;
    zmq_msg_t m;
    zmq_msg_init(&m);
    size_t n = 0;
    *ok = 0;
    for (;;) {
        if (zmq_msg_recv(&m, c->sock, 0) < 0) {
            zmq_msg_close(&m);
            return -1;
        }
        if (n++ == 0 && zmq_msg_size(&m) == sizeof *req) {
            memcpy(req, zmq_msg_data(&m), sizeof *req);
            *ok = 1;
        }
        if (!zmq_msg_more(&m))
            break;
    }
    zmq_msg_close(&m);
    *ok = *ok && n == 2;
    return 1;
}

static int
s_extra(int argc, char **argv, int *i, void *ctx)
{
    rtt_opts_t *r = ctx;
    if (strcmp(argv[*i], "--hop") == 0) {
        r->hop = true;
        return 0;
    }
    if (strcmp(argv[*i], "--reply") == 0 && *i + 1 < argc)
        return bench_parse_size(argv[++*i], &r->reply);
    return -1;
}

int
main(int argc, char **argv)
{
    bench_opts_t o = {.size = 0, .count = 1000, .window = 1};
    rtt_opts_t r = {.reply = RTT_REPLY_SIZE};
    if (bench_opts_parse(argc, argv, &o, s_extra, &r) != 0) {
        fprintf(stderr, "usage: sluice-bench-zmq-rtt --size BYTES --count N --window W "
                        "[--endpoint ipc://PATH] [--seconds MAX] [--warmup N] "
                        "[--reply BYTES] [--hop]\n");
        return 2;
    }
    if (o.size == 0)
        o.size = r.hop ? RTT_HOP_SIZE : 5000;
    if (r.hop)
        o.window = 1;
    char endpoint[128];
    if (o.endpoint == NULL) {
        snprintf(endpoint, sizeof endpoint, "ipc:///tmp/sluice-bench-rtt-%d.sock", (int) getpid());
        o.endpoint = endpoint;
    }
    fflush(stdout);
    pid_t server = fork();
    if (server < 0) {
        perror("fork");
        return 1;
    }
    if (server == 0)
        _exit(s_server(o.endpoint, r.reply));

    void *zctx = zmq_ctx_new();
    rtt_client_t c = {.sock = zmq_socket(zctx, ZMQ_DEALER), .next_req = 1};
    int hwm = 100000, linger = 0;
    zmq_setsockopt(c.sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(c.sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(c.sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(c.sock, o.endpoint); /* connects once the server has bound */
    char *body = bench_message(o.size, &c.body_len);
    c.body = body;
    if (o.size < c.body_len) /* the --hop frame is an envelope, not a message */
        c.body_len = o.size;
    bench_driver_t d = {.send = s_send, .recv = s_recv, .ctx = &c};
    bench_samples_t s = {0};
    unsigned long errors = 0;
    double seconds = 0;
    int rc = bench_run(&o, &d, &s, &errors, &seconds);
    bench_report(&s, c.body_len, seconds, errors, r.hop ? "mode=hop" : "mode=rtt");
    bench_samples_free(&s);
    free(body);
    zmq_close(c.sock);
    zmq_ctx_term(zctx);
    kill(server, SIGTERM);
    int status = 0;
    waitpid(server, &status, 0);
    if (strncmp(o.endpoint, "ipc://", 6) == 0)
        unlink(o.endpoint + 6);
    return rc == 0 && errors == 0 ? 0 : 1;
}
