/*
 * bench/bench_common.h - what both load generators share: options, the test
 * message, latency samples and the one output line.
 *
 * Both sluice-bench-pipeline and sluice-bench-zmq-rtt keep WINDOW requests in
 * flight, time each request->answer with CLOCK_MONOTONIC and print
 *   msgs=N seconds=S msgs_per_s=X MB_per_s=Y p50_us=A p99_us=B errors=E
 * (MB = 10^6 bytes of message payload), so pipeline.sh compares like with like.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_SIZE_MAX (64u << 20)   /* largest message a run may ask for */
#define BENCH_COUNT_MAX 10000000ul   /* messages per run */
#define BENCH_WINDOW_MAX 4096        /* requests in flight */
#define BENCH_DRAIN_MS 15000         /* after the last submit: wait this long for answers */

typedef struct {
    const char *endpoint; /* --endpoint */
    size_t size;          /* --size: message bytes */
    unsigned long count;  /* --count: measured messages */
    unsigned long warmup; /* --warmup: messages sent and awaited before timing */
    unsigned window;      /* --window: requests in flight */
    double seconds;       /* --seconds: stop submitting after this long (0 = no limit) */
    const char *graph;    /* --graph (pipeline only) */
} bench_opts_t;

/* Latency samples of one run, in nanoseconds. */
typedef struct {
    uint64_t *ns;   /* one per answered request */
    size_t count;   /* filled */
    size_t cap;     /* allocated */
} bench_samples_t;

/* One in-flight request: id and start time. */
typedef struct {
    uint64_t req;      /* 0 = free slot */
    uint64_t start_ns; /* monotonic */
} bench_slot_t;

/* How a load generator talks to what it measures. */
typedef struct {
    /* send - starts one request: its id (>0), or 0 when it could not be queued. */
    uint64_t (*send)(void *ctx);
    /* recv - waits up to TIMEOUT_MS for one answer: 1 with *req and *ok set,
     * 0 on timeout, -1 on a socket error. */
    int (*recv)(void *ctx, int timeout_ms, uint64_t *req, int *ok);
    void *ctx; /* theirs */
} bench_driver_t;

/* bench_run - O->warmup requests untimed, then O->count timed ones with
 * O->window in flight, submitting for at most O->seconds; an answer missing
 * BENCH_DRAIN_MS after the last one counts as an error. Fills S, *errors and
 * *seconds (first timed send to last answer). 0, or -1 on a socket error. */
int bench_run(const bench_opts_t *o, const bench_driver_t *d, bench_samples_t *s,
              unsigned long *errors, double *seconds);

/* bench_now_ns - CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* bench_opts_parse - the common options into O (defaults first); an option it
 * does not know goes to EXTRA (may be NULL), which consumes argv[*i] and any
 * value and returns 0, or -1 for an unknown option. 0, or -1 after printing why. */
int bench_opts_parse(int argc, char **argv, bench_opts_t *o,
                     int (*extra)(int argc, char **argv, int *i, void *ctx), void *ctx);

/* bench_parse_size - "5000", "5k", "1M" (powers of 1024); 0 and *out set, or -1. */
int bench_parse_size(const char *text, size_t *out);
/* bench_parse_ulong - plain decimal, 1..MAX; 0 and *out set, or -1. */
int bench_parse_ulong(const char *text, unsigned long max, unsigned long *out);

/* bench_message - an RFC 5322 message of exactly SIZE bytes (headers, a text
 * body, padded with 78-column lines); caller frees. SIZE below the headers'
 * length gives the headers alone. */
char *bench_message(size_t size, size_t *len);

/* bench_slot_put - remembers REQ started at START_NS in a free slot; -1 if none. */
int bench_slot_put(bench_slot_t *slots, unsigned n, uint64_t req, uint64_t start_ns);
/* bench_slot_take - START_NS of REQ and frees its slot; 0 when REQ is unknown. */
uint64_t bench_slot_take(bench_slot_t *slots, unsigned n, uint64_t req);

/* bench_samples_add - appends one latency (grows as needed). */
void bench_samples_add(bench_samples_t *s, uint64_t ns);
void bench_samples_free(bench_samples_t *s);

/* bench_report - prints the one result line (plus EXTRA, may be NULL) to stdout. */
void bench_report(bench_samples_t *s, size_t size, double seconds, unsigned long errors,
                  const char *extra);

#endif
