/*
 * smtpd/smtpd_replica.c - a second copy of every message on a peer before the 250.
 *
 * Primary side (spool.replica: host:port): one TCP link to the peer; a
 * committed message goes out as "PUT ID LEN\r\n" followed by its spool file
 * image, and the session answers 250 only after the peer's "OK ID" (the peer
 * has fsync'd its copy). A released message is followed by "DEL ID". Replies
 * come in order, one per request. No link, "ERR", or no reply within
 * spool.replica_timeout: the PUT fails and the client gets 451 4.3.0.
 *
 * Peer side (spool.replica_listen: host:port): takes copies from the
 * addresses in spool.replica_allow into DIR/replica/, and processes a copy
 * itself (moves it into its own spool and submits it) once it has not been
 * released for spool.replica_takeover: the primary died with its disk.
 * Everything read from the link is checked: line length, id syntax, frame
 * size, the spool image's own lengths.
 * Tests: tests/e2e/test_smtpd_replica.py
 */
#include "smtpd.h"

#include "sl_log.h"
#include "smtpd_cmd.h"
#include "smtpd_spool.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_LINE_MAX 512           /* request and reply lines */
#define S_BACKOFF_MAX_MS 5000    /* reconnect back-off cap */
#define S_TAKEOVER_CHECK_MS 1000 /* how often the peer looks at its copies */

typedef struct s_op {
    struct s_op *next;
    char id[SL_ENV_ID_MAX + 1];
    bool put;            /* PUT (else DEL) */
    smtpd_replica_cb cb; /* PUT: result callback, NULL once cancelled */
    void *arg;
    uint64_t deadline; /* mono ms */
} s_op_t;

typedef struct {
    smtpd_replica_t *owner;
    struct bufferevent *bev;
    char ip[64];
    bool body;                  /* reading a PUT's image */
    char id[SL_ENV_ID_MAX + 1]; /* of the PUT being read */
    size_t want;                /* image bytes */
} s_peer_conn_t;

struct smtpd_replica {
    smtpd_t *srv;
    struct bufferevent *link; /* to the peer, NULL when down */
    bool up;                  /* connected */
    uint64_t next_connect;    /* mono ms */
    unsigned backoff_ms;
    s_op_t *head, *tail;             /* requests awaiting replies, in order */
    struct evconnlistener *listener; /* peer side */
    uint64_t next_takeover;          /* mono ms */
    size_t frame_max;                /* largest image accepted */
};

static void s_link_down(smtpd_replica_t *self, const char *why);

static int
s_sockaddr(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256];
    int port;
    if (smtpd_conf_split_hostport(spec, host, sizeof host, &port) != 0)
        return -1;
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof *v6;
        return 0;
    }
    return -1;
}

/* --- primary side --- */

static s_op_t *
s_op_pop(smtpd_replica_t *self)
{
    s_op_t *op = self->head;
    if (op) {
        self->head = op->next;
        if (self->head == NULL)
            self->tail = NULL;
    }
    return op;
}

static void
s_link_read_cb(struct bufferevent *bev, void *arg)
{
    smtpd_replica_t *self = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        size_t n;
        char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF_STRICT);
        if (line == NULL) {
            if (evbuffer_get_length(in) > S_LINE_MAX)
                s_link_down(self, "reply line too long");
            return;
        }
        s_op_t *op = s_op_pop(self);
        bool ok = n > 3 && strncmp(line, "OK ", 3) == 0;
        bool err = n > 4 && strncmp(line, "ERR ", 4) == 0;
        const char *rid = ok ? line + 3 : err ? line + 4 : "";
        size_t idlen = op ? strlen(op->id) : 0;
        if (op == NULL || (!ok && !err) || strncmp(rid, op->id, idlen) != 0 ||
            (rid[idlen] != '\0' && rid[idlen] != ' ')) {
            free(line);
            free(op);
            s_link_down(self, "unexpected reply");
            return;
        }
        if (op->put && op->cb)
            op->cb(op->arg, ok, ok ? "" : "peer refused the copy");
        if (err)
            sl_log_warn(op->id, "replica refused peer=%s request=%s reply=\"%.200s\"",
                        self->srv->cfg.replica, op->put ? "PUT" : "DEL", line);
        free(op);
        free(line);
        if (self->link == NULL) /* a callback may not close the link, but be safe */
            return;
    }
}

static void
s_link_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    smtpd_replica_t *self = arg;
    if (what & BEV_EVENT_CONNECTED) {
        self->up = true;
        self->backoff_ms = 0;
        sl_log_info(NULL, "replica link up peer=%s", self->srv->cfg.replica);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        s_link_down(self, (what & BEV_EVENT_EOF) ? "closed by peer" : "connection error");
}

static void
s_link_down(smtpd_replica_t *self, const char *why)
{
    if (self->link == NULL)
        return;
    sl_log_warn(NULL, "replica link down peer=%s reason=\"%s\"", self->srv->cfg.replica, why);
    bufferevent_free(self->link);
    self->link = NULL;
    self->up = false;
    self->backoff_ms = self->backoff_ms ? self->backoff_ms * 2 : 100;
    if (self->backoff_ms > S_BACKOFF_MAX_MS)
        self->backoff_ms = S_BACKOFF_MAX_MS;
    self->next_connect = sl_mono_ms() + self->backoff_ms;
    s_op_t *op;
    while ((op = s_op_pop(self)) != NULL) {
        if (op->put && op->cb)
            op->cb(op->arg, 0, why);
        free(op);
    }
}

static void
s_link_connect(smtpd_replica_t *self)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (s_sockaddr(self->srv->cfg.replica, &ss, &len) != 0)
        return;
    self->link = bufferevent_socket_new(self->srv->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (self->link == NULL)
        return;
    bufferevent_setcb(self->link, s_link_read_cb, NULL, s_link_event_cb, self);
    bufferevent_enable(self->link, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(self->link, (struct sockaddr *)&ss, (int)len) != 0) {
        bufferevent_free(self->link);
        self->link = NULL;
        self->backoff_ms = S_BACKOFF_MAX_MS;
        self->next_connect = sl_mono_ms() + self->backoff_ms;
    }
}

static void
s_op_push(smtpd_replica_t *self, const char *id, bool put, smtpd_replica_cb cb, void *arg)
{
    s_op_t *op = sl_xcalloc(1, sizeof *op);
    sl_strlcpy(op->id, id, sizeof op->id);
    op->put = put;
    op->cb = cb;
    op->arg = arg;
    op->deadline = sl_mono_ms() + (uint64_t)self->srv->cfg.replica_timeout_ms;
    if (self->tail)
        self->tail->next = op;
    else
        self->head = op;
    self->tail = op;
}

int
smtpd_replica_put(smtpd_replica_t *self, const char *id, const void *env, size_t env_len,
                  const void *body, size_t body_len, smtpd_replica_cb cb, void *arg)
{
    if (self == NULL || !self->up)
        return -1;
    unsigned char hdr[SMTPD_SPOOL_HEADER];
    smtpd_spool_header(hdr, env_len, body_len);
    char line[128];
    int n = snprintf(line, sizeof line, "PUT %s %zu\r\n", id, sizeof hdr + env_len + body_len);
    if (n < 0 || (size_t)n >= sizeof line)
        return -1;
    struct evbuffer *out = bufferevent_get_output(self->link);
    if (evbuffer_add(out, line, (size_t)n) != 0 || evbuffer_add(out, hdr, sizeof hdr) != 0 ||
        evbuffer_add(out, env, env_len) != 0 || evbuffer_add(out, body, body_len) != 0)
        return -1;
    s_op_push(self, id, true, cb, arg);
    return 0;
}

void
smtpd_replica_cancel(smtpd_replica_t *self, void *arg)
{
    for (s_op_t *op = self ? self->head : NULL; op; op = op->next)
        if (op->arg == arg)
            op->cb = NULL;
}

void
smtpd_replica_del(smtpd_replica_t *self, const char *id)
{
    if (self == NULL || self->srv->cfg.replica == NULL)
        return;
    if (!self->up) {
        sl_log_warn(id,
                    "replica release lost peer=%s reason=\"link down\": the peer will "
                    "process its copy after replica_takeover",
                    self->srv->cfg.replica);
        return;
    }
    char line[128];
    int n = snprintf(line, sizeof line, "DEL %s\r\n", id);
    if (n < 0 || (size_t)n >= sizeof line)
        return;
    bufferevent_write(self->link, line, (size_t)n);
    s_op_push(self, id, false, NULL, NULL);
}

/* --- peer side --- */

static void
s_peer_close(s_peer_conn_t *c)
{
    bufferevent_free(c->bev);
    free(c);
}

static void
s_peer_reply(s_peer_conn_t *c, const char *verdict, const char *id, const char *why)
{
    char line[256];
    int n =
        snprintf(line, sizeof line, "%s %s%s%s\r\n", verdict, id, why ? " " : "", why ? why : "");
    if (n > 0 && (size_t)n < sizeof line)
        bufferevent_write(c->bev, line, (size_t)n);
}

static void
s_peer_put(s_peer_conn_t *c, const unsigned char *image)
{
    const smtpd_conf_t *cfg = &c->owner->srv->cfg;
    const void *env, *body;
    size_t env_len, body_len;
    const char *why;
    if (smtpd_spool_parse(image, c->want, &env, &env_len, &body, &body_len, &why) != 0 ||
        smtpd_spool_write(cfg->spool_dir, "replica", c->id, env, env_len, NULL, 0, body, body_len,
                          1, &why) != 0) {
        sl_log_warn(c->id, "replica copy refused client=%s reason=\"%s\"", c->ip, why);
        s_peer_reply(c, "ERR", c->id, why);
        return;
    }
    sl_log_debug(c->id, "replica copy stored client=%s size=%zu", c->ip, c->want);
    s_peer_reply(c, "OK", c->id, NULL);
}

static void
s_peer_read_cb(struct bufferevent *bev, void *arg)
{
    s_peer_conn_t *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        if (c->body) {
            if (evbuffer_get_length(in) < c->want)
                return;
            const unsigned char *image = evbuffer_pullup(in, (ssize_t)c->want);
            s_peer_put(c, image);
            evbuffer_drain(in, c->want);
            c->body = false;
            continue;
        }
        size_t n;
        char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF_STRICT);
        if (line == NULL) {
            if (evbuffer_get_length(in) > S_LINE_MAX) {
                sl_log_warn(NULL, "replica client=%s reason=\"line too long\"", c->ip);
                s_peer_close(c);
            }
            return;
        }
        char id[SL_ENV_ID_MAX + 1] = "";
        uint64_t len = 0;
        bool ok = n <= S_LINE_MAX;
        const char *sp = ok && strncmp(line, "PUT ", 4) == 0 ? strchr(line + 4, ' ') : NULL;
        const char *nwhy;
        if (sp != NULL && (size_t)(sp - (line + 4)) < sizeof id) {
            memcpy(id, line + 4, (size_t)(sp - (line + 4)));
            id[sp - (line + 4)] = '\0';
        }
        if (sp != NULL && smtpd_spool_id_ok(id) &&
            smtpd_cmd_number(sp + 1, strlen(sp + 1), &len, &nwhy) == 0 &&
            len >= SMTPD_SPOOL_HEADER && len <= c->owner->frame_max) {
            sl_strlcpy(c->id, id, sizeof c->id);
            c->want = (size_t)len;
            c->body = true;
        } else if (ok && strncmp(line, "DEL ", 4) == 0 && smtpd_spool_id_ok(line + 4)) {
            smtpd_spool_remove(c->owner->srv->cfg.spool_dir, "replica", line + 4);
            s_peer_reply(c, "OK", line + 4, NULL);
        } else {
            char shown[100];
            sl_log_warn(NULL, "replica client=%s reason=\"bad request\" line=\"%s\"", c->ip,
                        sl_log_str(line, n, shown, sizeof shown));
            free(line);
            s_peer_close(c);
            return;
        }
        free(line);
    }
}

static void
s_peer_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        s_peer_close(arg);
}

static void
s_peer_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                 void *arg)
{
    (void)l;
    smtpd_replica_t *self = arg;
    char ip[64] = "unknown";
    getnameinfo(sa, (socklen_t)salen, ip, sizeof ip, NULL, 0, NI_NUMERICHOST);
    bool allowed = false;
    for (size_t i = 0; i < self->srv->cfg.replica_allow_count; i++)
        if (strcmp(ip, self->srv->cfg.replica_allow[i]) == 0)
            allowed = true;
    if (!allowed) {
        sl_log_warn(NULL, "replica reject client=%s reason=\"not in spool.replica_allow\"", ip);
        evutil_closesocket(fd);
        return;
    }
    s_peer_conn_t *c = sl_xcalloc(1, sizeof *c);
    c->owner = self;
    sl_strlcpy(c->ip, ip, sizeof c->ip);
    c->bev = bufferevent_socket_new(self->srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        evutil_closesocket(fd);
        free(c);
        return;
    }
    bufferevent_setcb(c->bev, s_peer_read_cb, NULL, s_peer_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    sl_log_info(NULL, "replica client=%s connected", ip);
}

static void
s_takeover_one(const char *id, void *ctx)
{
    smtpd_replica_t *self = ctx;
    const smtpd_conf_t *cfg = &self->srv->cfg;
    char from[4096], to[4096];
    struct stat st;
    if (smtpd_spool_path(from, sizeof from, cfg->spool_dir, "replica", id) != 0 ||
        smtpd_spool_path(to, sizeof to, cfg->spool_dir, NULL, id) != 0 || stat(from, &st) != 0)
        return;
    int64_t age_ms = (int64_t)(sl_now_ms() / 1000 - (uint64_t)st.st_mtime) * 1000;
    if (age_ms < cfg->replica_takeover_ms)
        return;
    if (access(to, F_OK) == 0) { /* already ours */
        unlink(from);
        return;
    }
    if (rename(from, to) != 0) {
        sl_log_error(id, "replica takeover failed reason=\"%s\"", strerror(errno));
        return;
    }
    sl_log_info(id, "replica takeover age_ms=%lld reason=\"not released by the primary\"",
                (long long)age_ms);
    smtpd_queue_adopt(self->srv->queue, id);
}

void
smtpd_replica_tick(smtpd_replica_t *self)
{
    if (self == NULL)
        return;
    uint64_t now = sl_mono_ms();
    if (self->srv->cfg.replica != NULL) {
        if (self->link == NULL && now >= self->next_connect)
            s_link_connect(self);
        if (self->head != NULL && now >= self->head->deadline)
            s_link_down(self, "no reply within replica_timeout");
    }
    if (self->listener != NULL && now >= self->next_takeover) {
        self->next_takeover = now + S_TAKEOVER_CHECK_MS;
        smtpd_spool_each(self->srv->cfg.spool_dir, "replica", s_takeover_one, self);
    }
}

smtpd_replica_t *
smtpd_replica_new(smtpd_t *srv)
{
    const smtpd_conf_t *cfg = &srv->cfg;
    if (cfg->replica == NULL && cfg->replica_listen == NULL)
        return NULL;
    smtpd_replica_t *self = sl_xcalloc(1, sizeof *self);
    self->srv = srv;
    self->frame_max = (size_t)cfg->max_message_size + SL_ENV_BYTES_MAX + (64u << 10);
    if (cfg->replica_listen != NULL) {
        struct sockaddr_storage ss;
        socklen_t len;
        if (s_sockaddr(cfg->replica_listen, &ss, &len) == 0)
            self->listener = evconnlistener_new_bind(srv->base, s_peer_accept_cb, self,
                                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                                         LEV_OPT_CLOSE_ON_EXEC,
                                                     64, (struct sockaddr *)&ss, (int)len);
        if (self->listener == NULL) {
            sl_log_error(NULL, "replica listen address=%s reason=\"%s\"", cfg->replica_listen,
                         strerror(errno));
            free(self);
            return NULL;
        }
        sl_log_info(NULL, "replica listen address=%s takeover_ms=%lld", cfg->replica_listen,
                    (long long)cfg->replica_takeover_ms);
    }
    if (cfg->replica != NULL)
        s_link_connect(self);
    return self;
}

void
smtpd_replica_destroy(smtpd_replica_t **self_p)
{
    smtpd_replica_t *self = *self_p;
    if (self == NULL)
        return;
    s_link_down(self, "shutting down");
    s_op_t *op;
    while ((op = s_op_pop(self)) != NULL)
        free(op);
    if (self->listener)
        evconnlistener_free(self->listener);
    free(self);
    *self_p = NULL;
}

bool
smtpd_replica_up(const smtpd_replica_t *self)
{
    return self != NULL && self->up;
}
