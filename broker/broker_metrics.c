/*
 * broker/broker_metrics.c - Prometheus /metrics from the broker (libmicrohttpd).
 *
 * Enabled by `metrics: {listen: "127.0.0.1:9710"}` in sluice.yaml. The poll
 * loop renders a text snapshot once a second (the broker's state is single
 * threaded); the HTTP thread only copies the snapshot under a mutex, so a
 * scrape never touches live state. Only GET /metrics is served.
 * Tests: tests/e2e/test_pipeline.py (test_metrics)
 */
#include "broker.h"
#include "sl_log.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_SNAPSHOT_MAX (256u << 10)

struct broker_metrics {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    char *text;            /* current snapshot, owned */
    size_t len;            /* its length */
    uint64_t rendered_at;  /* mono ms */
};

static enum MHD_Result
s_answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
         const char *version, const char *upload, size_t *upload_len, void **con_cls)
{
    (void) version;
    (void) upload;
    (void) upload_len;
    (void) con_cls;
    broker_metrics_t *m = cls;
    struct MHD_Response *resp;
    unsigned status = MHD_HTTP_OK;
    if (strcmp(method, "GET") != 0 || strcmp(url, "/metrics") != 0) {
        static const char nf[] = "not found: GET /metrics\n";
        resp = MHD_create_response_from_buffer(sizeof nf - 1, (void *) nf, MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_NOT_FOUND;
    } else {
        pthread_mutex_lock(&m->lock);
        resp = MHD_create_response_from_buffer(m->len, m->text, MHD_RESPMEM_MUST_COPY);
        pthread_mutex_unlock(&m->lock);
        MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
    }
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

broker_metrics_t *
broker_metrics_start(const char *listen)
{
    /* "IP:PORT" or "[IPv6]:PORT"; loopback is the sensible default. */
    char host[64];
    const char *colon = strrchr(listen, ':');
    if (colon == NULL || (size_t) (colon - listen) >= sizeof host)
        return NULL;
    long port = strtol(colon + 1, NULL, 10);
    if (port < 1 || port > 65535)
        return NULL;
    const char *h = listen;
    size_t hlen = (size_t) (colon - listen);
    if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
    if (inet_pton(AF_INET, host, &((struct sockaddr_in *) &ss)->sin_addr) == 1) {
        ((struct sockaddr_in *) &ss)->sin_family = AF_INET;
        ((struct sockaddr_in *) &ss)->sin_port = htons((uint16_t) port);
    } else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *) &ss)->sin6_addr) == 1) {
        ((struct sockaddr_in6 *) &ss)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *) &ss)->sin6_port = htons((uint16_t) port);
        flags |= MHD_USE_IPv6;
    } else {
        return NULL;
    }
    broker_metrics_t *m = sl_xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    m->text = sl_xstrdup("");
    m->daemon = MHD_start_daemon(flags, (uint16_t) port, NULL, NULL, s_answer, m,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &ss,
                                 MHD_OPTION_CONNECTION_LIMIT, 16u,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (m->daemon == NULL) {
        free(m->text);
        pthread_mutex_destroy(&m->lock);
        free(m);
        return NULL;
    }
    return m;
}

void
broker_metrics_stop(broker_metrics_t **m_p)
{
    broker_metrics_t *m = *m_p;
    if (m == NULL)
        return;
    MHD_stop_daemon(m->daemon);
    pthread_mutex_destroy(&m->lock);
    free(m->text);
    free(m);
    *m_p = NULL;
}

typedef struct {
    char *buf;
    size_t len, cap;
} s_text_t;

static void s_add(s_text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
s_add(s_text_t *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t) n < t->cap - t->len) {
            t->len += (size_t) n;
            return;
        }
        if (t->cap >= S_SNAPSHOT_MAX)
            return; /* never grow without bound; the tail is dropped */
        t->cap *= 2;
        t->buf = sl_xrealloc(t->buf, t->cap);
    }
}

static void
s_family(s_text_t *t, const char *name, const char *type, const char *help)
{
    s_add(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
broker_metrics_render(broker_t *b, uint64_t now)
{
    broker_metrics_t *m = b->metrics;
    if (m == NULL || now - m->rendered_at < 1000)
        return;
    m->rendered_at = now;
    s_text_t t = {.buf = sl_xmalloc(16384), .cap = 16384};
    t.buf[0] = '\0';
    s_family(&t, "sluice_broker_messages", "gauge", "Messages inside the broker now.");
    s_add(&t, "sluice_broker_messages %zu\n", b->msg_count);
    s_family(&t, "sluice_messages_total", "counter",
             "Messages whose content phase finished, by classification.");
    for (size_t i = 0; i < BROKER_CLASSES; i++)
        s_add(&t, "sluice_messages_total{classification=\"%s\"} %llu\n", broker_class_names[i],
              (unsigned long long) b->by_class[i]);
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"sluice_stage_workers", "gauge", "Live worker processes of the stage."},
        {"sluice_stage_in_flight", "gauge", "Messages held by the stage's workers."},
        {"sluice_stage_queued", "gauge", "Messages waiting for a worker of the stage."},
        {"sluice_stage_done_total", "counter", "Verdicts the stage returned."},
        {"sluice_stage_errors_total", "counter", "Error verdicts (failures, timeouts, crashes)."},
        {"sluice_stage_timeouts_total", "counter", "Attempts that timed out."},
        {"sluice_stage_crashes_total", "counter", "Workers that died holding a message."},
        {"sluice_stage_seconds_total", "counter", "Scan time the stage reported, seconds."},
        {"sluice_stage_batched_total", "counter", "Jobs sent to workers inside a JOBS batch."},
    };
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        s_family(&t, fams[f].name, fams[f].type, fams[f].help);
        for (size_t i = 0; i < b->stage_count; i++) {
            broker_stage_t *s = &b->stages[i];
            const char *n = s->conf->name;
            switch (f) {
            case 0: s_add(&t, "%s{stage=\"%s\"} %zu\n", fams[f].name, n, s->workers); break;
            case 1: s_add(&t, "%s{stage=\"%s\"} %zu\n", fams[f].name, n, s->in_flight); break;
            case 2: s_add(&t, "%s{stage=\"%s\"} %zu\n", fams[f].name, n, s->queued); break;
            case 3: s_add(&t, "%s{stage=\"%s\"} %llu\n", fams[f].name, n, (unsigned long long) s->done); break;
            case 4: s_add(&t, "%s{stage=\"%s\"} %llu\n", fams[f].name, n, (unsigned long long) s->errors); break;
            case 5: s_add(&t, "%s{stage=\"%s\"} %llu\n", fams[f].name, n, (unsigned long long) s->timeouts); break;
            case 6: s_add(&t, "%s{stage=\"%s\"} %llu\n", fams[f].name, n, (unsigned long long) s->crashes); break;
            case 8: s_add(&t, "%s{stage=\"%s\"} %llu\n", fams[f].name, n, (unsigned long long) s->batched); break;
            default: s_add(&t, "%s{stage=\"%s\"} %.6f\n", fams[f].name, n, s->ms_total / 1000.0); break;
            }
        }
    }
    s_family(&t, "sluice_stage_counter_total", "counter",
             "Counters a stage declares in sluice.yaml (detections, limit hits...).");
    for (size_t i = 0; i < b->stage_count; i++)
        for (size_t k = 0; k < b->stages[i].conf->counter_count; k++)
            s_add(&t, "sluice_stage_counter_total{stage=\"%s\",counter=\"%s\"} %llu\n",
                  b->stages[i].conf->name, b->stages[i].conf->counters[k],
                  (unsigned long long) b->stages[i].counters[k]);
    pthread_mutex_lock(&m->lock);
    free(m->text);
    m->text = t.buf;
    m->len = t.len;
    pthread_mutex_unlock(&m->lock);
}
