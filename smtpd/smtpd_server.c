/*
 * smtpd/smtpd_server.c - listeners, TLS context, the broker client and the loop.
 *
 * Binds every smtpd.listen address, loads the TLS certificate (TLS 1.2 and
 * later only), connects the broker client and wires its ZMQ_FD into the
 * libevent loop. ZMQ_FD is edge-triggered, so results are drained until
 * empty on every wake-up and on a 100 ms tick as well (a send can consume
 * the edge). SIGTERM stops accepting and leaves; what was spooled stays
 * spooled and is submitted again on the next start.
 * Tests: tests/e2e/test_smtpd_*.py
 */
#include "smtpd.h"

#include "sl_log.h"
#include "smtpd_spool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define S_TICK_MS 100
#define S_LIMIT_SWEEP_MS 60000

static struct event *s_sigterm, *s_sigint;

static void
s_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    (void)l;
    smtpd_session_accept(arg, fd, sa, salen);
}

static void
s_accept_error_cb(struct evconnlistener *l, void *arg)
{
    (void)l, (void)arg;
    int err = EVUTIL_SOCKET_ERROR();
    sl_log_warn(NULL, "accept failed reason=\"%s\"", evutil_socket_error_to_string(err));
}

static SSL_CTX *
s_tls_ctx(const smtpd_conf_t *c)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    if (SSL_CTX_set_cipher_list(ctx, "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:!CAMELLIA:!ARIA") != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, c->tls_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, c->tls_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        char text[256];
        ERR_error_string_n(ERR_get_error(), text, sizeof text);
        sl_log_error(NULL, "tls setup failed cert=%s key=%s reason=\"%s\"", c->tls_cert, c->tls_key,
                     text);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int
s_listen(smtpd_t *self, const char *spec)
{
    char host[256];
    int port;
    if (smtpd_conf_split_hostport(spec, host, sizeof host, &port) != 0)
        return -1;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0) {
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_ANY);
        v4->sin_port = htons((uint16_t)port);
        len = sizeof *v4;
    } else if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        len = sizeof *v6;
    } else {
        sl_log_error(NULL, "listen address=%s reason=\"not a numeric address\"", spec);
        return -1;
    }
    struct evconnlistener *l =
        evconnlistener_new_bind(self->base, s_accept_cb, self,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                1024, (struct sockaddr *)&ss, (int)len);
    if (l == NULL) {
        sl_log_error(NULL, "listen address=%s reason=\"%s\"", spec, strerror(errno));
        return -1;
    }
    evconnlistener_set_error_cb(l, s_accept_error_cb);
    self->listeners[self->listener_count++] = l;
    sl_log_info(NULL, "listen address=%s", spec);
    return 0;
}

static void
s_client_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    smtpd_t *self = arg;
    smtpd_queue_drain(self->queue);
}

static void
s_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    static uint64_t next_sweep;
    smtpd_t *self = arg;
    smtpd_queue_drain(self->queue);
    smtpd_queue_tick(self->queue);
    smtpd_replica_tick(self->replica);
    uint64_t now = sl_mono_ms();
    if (now >= next_sweep) {
        next_sweep = now + S_LIMIT_SWEEP_MS;
        smtpd_limit_sweep(self->limit, now);
    }
}

static void
s_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    smtpd_t *self = arg;
    sl_log_info(NULL, "stop signal=%d connections=%zu unreleased=%zu", (int)sig, self->connections,
                smtpd_queue_count(self->queue));
    self->stopping = true;
    event_base_loopexit(self->base, NULL);
}

uint64_t
smtpd_server_submit(smtpd_t *self, const char *phase, const sl_env_t *env, const void *body,
                    size_t len, int free_body)
{
    if (self->client == NULL)
        return 0;
    uint64_t req =
        sl_client_submit(self->client, self->cfg.graph, phase, env, body, len, free_body);
    /* a send may have consumed the ZMQ_FD edge: look for results at once */
    event_active(self->client_ev, EV_READ, 0);
    return req;
}

uint64_t
smtpd_server_submit_file(smtpd_t *self, const char *phase, const sl_env_t *env,
                         const sl_bodyfile_ref_t *ref)
{
    if (self->client == NULL)
        return 0;
    uint64_t req = sl_client_submit_file(self->client, self->cfg.graph, phase, env, ref);
    event_active(self->client_ev, EV_READ, 0);
    return req;
}

int
smtpd_server_open(smtpd_t *self)
{
    signal(SIGPIPE, SIG_IGN);
    self->base = event_base_new();
    if (self->base == NULL)
        return -1;
    const sl_conf_graph_t *g = sl_conf_graph(self->conf, self->cfg.graph);
    if (g == NULL) {
        sl_log_error(NULL, "config graph=%s reason=\"smtpd.graph names no graph\"",
                     self->cfg.graph);
        return -1;
    }
    for (int p = 0; p < SL_PHASE_COUNT; p++)
        self->phase[p] = g->step_count[p] > 0;
    if (self->cfg.tls_cert != NULL && (self->tls = s_tls_ctx(&self->cfg)) == NULL)
        return -1;
    for (size_t i = 0; i < self->cfg.listen_count; i++)
        if (s_listen(self, self->cfg.listen[i]) != 0)
            return -1;
    self->limit = smtpd_limit_new(self->cfg.per_ip_connections, self->cfg.per_ip_rate);
    self->client = sl_client_new(self->conf->broker.frontend);
    if (self->client == NULL) {
        sl_log_error(NULL, "broker endpoint=%s reason=\"cannot create client\"",
                     self->conf->broker.frontend);
        return -1;
    }
    self->client_ev =
        event_new(self->base, sl_client_fd(self->client), EV_READ | EV_PERSIST, s_client_cb, self);
    event_add(self->client_ev, NULL);
    self->queue = smtpd_queue_new(self);
    if ((self->sync = smtpd_sync_new(self, self->cfg.sync_threads)) == NULL) {
        sl_log_error(NULL, "spool writer threads reason=\"cannot start\"");
        return -1;
    }
    if ((self->cfg.replica || self->cfg.replica_listen) &&
        (self->replica = smtpd_replica_new(self)) == NULL)
        return -1;
    self->tick_ev = event_new(self->base, -1, EV_PERSIST, s_tick_cb, self);
    struct timeval tick = {.tv_sec = 0, .tv_usec = S_TICK_MS * 1000};
    event_add(self->tick_ev, &tick);
    s_sigterm = evsignal_new(self->base, SIGTERM, s_signal_cb, self);
    s_sigint = evsignal_new(self->base, SIGINT, s_signal_cb, self);
    event_add(s_sigterm, NULL);
    event_add(s_sigint, NULL);
    return 0;
}

int
smtpd_server_run(smtpd_t *self)
{
    smtpd_queue_load(self->queue);
    sl_log_info(
        NULL, "ready hostname=%s graph=%s broker=%s spool=%s tls=%s connect_phase=%s rcpt_phase=%s",
        self->cfg.hostname, self->cfg.graph, self->conf->broker.frontend, self->cfg.spool_dir,
        self->tls ? "yes" : "no", self->phase[SL_PHASE_CONNECT] ? "yes" : "no",
        self->phase[SL_PHASE_RCPT] ? "yes" : "no");
    return event_base_dispatch(self->base) < 0 ? 1 : 0;
}

void
smtpd_server_close(smtpd_t *self)
{
    smtpd_session_close_all(self);
    smtpd_sync_destroy(&self->sync);
    for (size_t i = 0; i < self->listener_count; i++)
        evconnlistener_free(self->listeners[i]);
    self->listener_count = 0;
    if (s_sigterm)
        event_free(s_sigterm);
    if (s_sigint)
        event_free(s_sigint);
    s_sigterm = s_sigint = NULL;
    if (self->tick_ev)
        event_free(self->tick_ev);
    if (self->client_ev)
        event_free(self->client_ev);
    smtpd_replica_destroy(&self->replica);
    smtpd_queue_destroy(&self->queue);
    sl_client_destroy(&self->client);
    smtpd_limit_destroy(&self->limit);
    if (self->tls)
        SSL_CTX_free(self->tls);
    if (self->base)
        event_base_free(self->base);
    self->base = NULL;
}
