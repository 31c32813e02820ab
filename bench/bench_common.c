/*
 * bench/bench_common.c - options, test message, latency samples and the
 * result line shared by the two load generators (see bench_common.h).
 *
 * Input is our own command line only; still, numbers are parsed with bounds.
 * Tests: bench/pipeline.sh runs both binaries on every size and window.
 */
#include "bench_common.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t
bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

int
bench_parse_ulong(const char *text, unsigned long max, unsigned long *out)
{
    size_t len = strlen(text);
    if (len == 0 || len > 19)
        return -1;
    unsigned long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        unsigned long d = (unsigned long) (text[i] - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int
bench_parse_size(const char *text, size_t *out)
{
    char digits[24];
    size_t len = strlen(text);
    unsigned long unit = 1;
    if (len > 0 && strchr("kKmMgG", text[len - 1]) != NULL) {
        char u = text[len - 1];
        unit = (u == 'k' || u == 'K') ? 1024ul : (u == 'm' || u == 'M') ? 1024ul * 1024 : 1024ul << 20;
        len--;
    }
    if (len == 0 || len >= sizeof digits)
        return -1;
    memcpy(digits, text, len);
    digits[len] = '\0';
    unsigned long v = 0;
    if (bench_parse_ulong(digits, BENCH_SIZE_MAX, &v) != 0 || v > BENCH_SIZE_MAX / unit)
        return -1;
    *out = (size_t) (v * unit);
    return 0;
}

static int
s_value(int argc, char **argv, int i)
{
    if (i + 1 >= argc) {
        fprintf(stderr, "%s needs a value\n", argv[i]);
        return -1;
    }
    return 0;
}

static int
s_bad(const char *opt, const char *val)
{
    fprintf(stderr, "bad value for %s: %s\n", opt, val);
    return -1;
}

int
bench_opts_parse(int argc, char **argv, bench_opts_t *o,
                 int (*extra)(int argc, char **argv, int *i, void *ctx), void *ctx)
{
    unsigned long v = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--endpoint") == 0) {
            if (s_value(argc, argv, i) != 0)
                return -1;
            o->endpoint = argv[++i];
        } else if (strcmp(a, "--graph") == 0) {
            if (s_value(argc, argv, i) != 0)
                return -1;
            o->graph = argv[++i];
        } else if (strcmp(a, "--size") == 0) {
            if (s_value(argc, argv, i) != 0)
                return -1;
            if (bench_parse_size(argv[++i], &o->size) != 0)
                return s_bad(a, argv[i]);
        } else if (strcmp(a, "--count") == 0 || strcmp(a, "--warmup") == 0 ||
                   strcmp(a, "--window") == 0) {
            if (s_value(argc, argv, i) != 0)
                return -1;
            bool is_window = strcmp(a, "--window") == 0;
            unsigned long max = is_window ? BENCH_WINDOW_MAX : BENCH_COUNT_MAX;
            if (bench_parse_ulong(argv[++i], max, &v) != 0 || (v == 0 && strcmp(a, "--warmup")))
                return s_bad(a, argv[i]);
            if (is_window)
                o->window = (unsigned) v;
            else if (strcmp(a, "--count") == 0)
                o->count = v;
            else
                o->warmup = v;
        } else if (strcmp(a, "--seconds") == 0) {
            if (s_value(argc, argv, i) != 0)
                return -1;
            if (bench_parse_ulong(argv[++i], 86400, &v) != 0)
                return s_bad(a, argv[i]);
            o->seconds = (double) v;
        } else if (extra == NULL || extra(argc, argv, &i, ctx) != 0) {
            fprintf(stderr, "unknown option %s\n", a);
            return -1;
        }
    }
    return 0;
}

char *
bench_message(size_t size, size_t *len)
{
    static const char head[] =
        "Return-Path: <alice@example.net>\r\n"
        "Received: from mail.example.net (mail.example.net [192.0.2.7])\r\n"
        "\tby mx.example.com (Sluice) with ESMTPS id 01JB7Q3K9VBENCH\r\n"
        "\tfor <bob@example.com>; Mon, 23 Nov 2026 12:00:00 +0000\r\n"
        "From: Alice Example <alice@example.net>\r\n"
        "To: Bob Example <bob@example.com>\r\n"
        "Subject: Quarterly figures, as promised\r\n"
        "Date: Mon, 23 Nov 2026 11:59:58 +0000\r\n"
        "Message-ID: <bench.0001@mail.example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        "Hello Bob,\r\n\r\nhere are the figures we talked about on Friday.\r\n\r\n";
    static const char line[] =
        "The quick brown fox jumps over the lazy dog; 0123456789 and so on, padded.\r\n";
    size_t n = size > sizeof head - 1 ? size : sizeof head - 1;
    char *buf = malloc(n);
    if (buf == NULL) {
        fprintf(stderr, "out of memory for a %zu-byte message\n", n);
        exit(1);
    }
    memcpy(buf, head, sizeof head - 1);
    size_t used = sizeof head - 1;
    while (used < n) {
        size_t k = sizeof line - 1 < n - used ? sizeof line - 1 : n - used;
        memcpy(buf + used, line, k);
        used += k;
    }
    if (n >= sizeof head + 1) /* end on CRLF like a real message */
        memcpy(buf + n - 2, "\r\n", 2);
    *len = n;
    return buf;
}

int
bench_slot_put(bench_slot_t *slots, unsigned n, uint64_t req, uint64_t start_ns)
{
    for (unsigned i = 0; i < n; i++) {
        if (slots[i].req == 0) {
            slots[i].req = req;
            slots[i].start_ns = start_ns;
            return 0;
        }
    }
    return -1;
}

uint64_t
bench_slot_take(bench_slot_t *slots, unsigned n, uint64_t req)
{
    for (unsigned i = 0; i < n; i++) {
        if (slots[i].req == req) {
            slots[i].req = 0;
            return slots[i].start_ns;
        }
    }
    return 0;
}

void
bench_samples_add(bench_samples_t *s, uint64_t ns)
{
    if (s->count == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 4096;
        uint64_t *p = realloc(s->ns, ncap * sizeof *p);
        if (p == NULL) {
            fprintf(stderr, "out of memory for samples\n");
            exit(1);
        }
        s->ns = p;
        s->cap = ncap;
    }
    s->ns[s->count++] = ns;
}

void
bench_samples_free(bench_samples_t *s)
{
    free(s->ns);
    *s = (bench_samples_t){0};
}

static int
s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

/* s_pct - nearest-rank percentile P (0..1] of sorted V[N], in microseconds. */
static double
s_pct(const uint64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t) (p * (double) n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return (double) v[rank - 1] / 1000.0;
}

void
bench_report(bench_samples_t *s, size_t size, double seconds, unsigned long errors,
             const char *extra)
{
    qsort(s->ns, s->count, sizeof *s->ns, s_cmp_u64);
    double rate = seconds > 0 ? (double) s->count / seconds : 0;
    printf("msgs=%zu seconds=%.3f msgs_per_s=%.1f MB_per_s=%.2f p50_us=%.1f p99_us=%.1f "
           "errors=%lu%s%s\n",
           s->count, seconds, rate, rate * (double) size / 1e6, s_pct(s->ns, s->count, 0.50),
           s_pct(s->ns, s->count, 0.99), errors, extra ? " " : "", extra ? extra : "");
    fflush(stdout);
}

/* s_phase - N requests with the window full; samples only when S is set. */
static int
s_phase(const bench_opts_t *o, const bench_driver_t *d, unsigned long n, bench_samples_t *s,
        unsigned long *errors, double *seconds)
{
    bench_slot_t *slots = calloc(o->window, sizeof *slots);
    if (slots == NULL) {
        fprintf(stderr, "out of memory for the window\n");
        exit(1);
    }
    unsigned long sent = 0;
    unsigned inflight = 0;
    int rc = 0;
    uint64_t t0 = bench_now_ns(), last = t0;
    uint64_t deadline = o->seconds > 0 ? t0 + (uint64_t) (o->seconds * 1e9) : 0;
    for (;;) {
        uint64_t now = bench_now_ns();
        bool stop_sending = sent >= n || (deadline && now >= deadline);
        while (!stop_sending && inflight < o->window) {
            uint64_t start = bench_now_ns();
            uint64_t req = d->send(d->ctx);
            sent++;
            if (req == 0 || bench_slot_put(slots, o->window, req, start) != 0) {
                (*errors)++; /* socket full: the submitter would answer busy */
                break;
            }
            inflight++;
            stop_sending = sent >= n;
        }
        if (inflight == 0 && stop_sending)
            break;
        uint64_t req = 0;
        int ok = 0;
        int got = d->recv(d->ctx, 100, &req, &ok);
        if (got < 0) {
            *errors += inflight;
            rc = -1;
            break;
        }
        uint64_t t = bench_now_ns();
        if (got == 0) {
            if (t - last > (uint64_t) BENCH_DRAIN_MS * 1000000u) {
                fprintf(stderr, "no answer for %d ms; %u requests lost\n", BENCH_DRAIN_MS,
                        inflight);
                *errors += inflight;
                break;
            }
            continue;
        }
        uint64_t start = bench_slot_take(slots, o->window, req);
        if (start == 0)
            continue; /* not ours (a late answer from the warm-up) */
        inflight--;
        last = t;
        if (!ok)
            (*errors)++;
        else if (s)
            bench_samples_add(s, t - start);
    }
    *seconds = (double) (last - t0) / 1e9;
    free(slots);
    return rc;
}

int
bench_run(const bench_opts_t *o, const bench_driver_t *d, bench_samples_t *s,
          unsigned long *errors, double *seconds)
{
    unsigned long warm_errors = 0;
    double warm_seconds = 0;
    *errors = 0;
    if (o->warmup > 0) {
        bench_opts_t w = *o;
        w.seconds = 0;
        if (s_phase(&w, d, o->warmup, NULL, &warm_errors, &warm_seconds) != 0)
            return -1;
        if (warm_errors > 0)
            fprintf(stderr, "warm-up: %lu errors\n", warm_errors);
    }
    return s_phase(o, d, o->count, s, errors, seconds);
}
