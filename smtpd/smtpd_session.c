/*
 * smtpd/smtpd_session.c - one SMTP client: the ESMTP dialogue on a bufferevent.
 *
 * Commands are taken one at a time from the input buffer (PIPELINING comes
 * free: replies queue in order); while a phase result or a spool write is
 * pending, reading pauses and the input waits. Owns the connection's limits
 * slot, its TLS, and the transaction up to the spool commit; after the 250
 * the message belongs to smtpd_queue. Everything from the socket is untrusted.
 * A client in smtpd.outbound_networks gets direction "out" and no connect or
 * rcpt phase (smtpd_conf_outbound).
 * Tests: tests/e2e/test_smtpd_*.py (the parsers: tests/unit/test_smtpd_*.c)
 */
#include "smtpd_session.h"

#include "sl_log.h"
#include "smtpd_cmd.h"
#include "smtpd_data.h"
#include "smtpd_line.h"
#include "smtpd_spool.h"
#include "smtpd_verdict.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define S_OUT_MAX (64u << 10) /* pause reading while this much output waits */
#define S_ROUNDS 256          /* commands per turn of the loop, for fairness */

static void s_process(smtpd_session_t *s);

const char *
smtpd_session_id(const smtpd_session_t *s)
{
    return s->qid[0] ? s->qid : s->cid;
}

static void
s_kill(smtpd_session_t *s)
{
    s->dead = true;
    event_active(s->resume, 0, 0);
}

void
smtpd_session_write(smtpd_session_t *s, const char *text)
{
    bufferevent_write(s->bev, text, strlen(text));
    bufferevent_write(s->bev, "\r\n", 2);
}

void
smtpd_session_replyf(smtpd_session_t *s, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line)
        sl_panic("smtpd reply too long: %s", fmt);
    smtpd_session_write(s, line);
}

static void
s_under_write_cb(struct bufferevent *under, void *arg)
{
    if (evbuffer_get_length(bufferevent_get_output(under)) == 0)
        s_kill(arg);
}

static void
s_under_event_cb(struct bufferevent *under, short what, void *arg)
{
    (void)under, (void)what;
    s_kill(arg);
}

/* s_finish - the last reply has left our buffer; under TLS it may still sit
 * encrypted in the socket's buffer, so wait for that one to drain too. */
static void
s_finish(smtpd_session_t *s)
{
    struct bufferevent *under = bufferevent_get_underlying(s->bev);
    if (under != NULL && evbuffer_get_length(bufferevent_get_output(under)) > 0) {
        bufferevent_setcb(under, NULL, s_under_write_cb, s_under_event_cb, s);
        bufferevent_enable(under, EV_WRITE);
        return;
    }
    s_kill(s);
}

/* smtpd_session_close - last reply, then the connection ends once the reply is out. */
void
smtpd_session_close(smtpd_session_t *s, const char *reply)
{
    if (s->state == SMTPD_ST_CLOSING)
        return;
    s->state = SMTPD_ST_CLOSING;
    if (reply != NULL)
        smtpd_session_write(s, reply);
    bufferevent_disable(s->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
        s_finish(s);
}

/* smtpd_session_refuse - an error reply with its log line; too many errors end the session. */
void
smtpd_session_refuse(smtpd_session_t *s, const char *cmd, const char *reply, const char *reason,
                     const char *arg, size_t arg_len)
{
    char shown[160];
    sl_log_info(smtpd_session_id(s),
                "reject client=%s cmd=%s reply=\"%.3s\" reason=\"%s\" arg=\"%s\"", s->ip, cmd,
                reply, reason, sl_log_str(arg ? arg : "", arg ? arg_len : 0, shown, sizeof shown));
    smtpd_session_write(s, reply);
    if (++s->errors >= s->srv->cfg.max_errors) {
        char bye[300];
        snprintf(bye, sizeof bye, "421 4.7.0 %s Error: too many errors", s->srv->cfg.hostname);
        sl_log_info(smtpd_session_id(s),
                    "disconnect client=%s reason=\"too many errors\" errors=%zu", s->ip, s->errors);
        smtpd_session_close(s, bye);
    }
}

void
smtpd_session_reset(smtpd_session_t *s)
{
    free(s->mail_from);
    s->mail_from = NULL;
    for (size_t i = 0; i < s->rcpt_count; i++)
        free(s->rcpts[i]);
    free(s->rcpts);
    s->rcpts = NULL;
    s->rcpt_count = 0;
    free(s->pending_rcpt);
    s->pending_rcpt = NULL;
    smtpd_data_reset(&s->data);
    s->in_mail = s->smtputf8 = s->bdat = false;
    s->qid[0] = '\0';
}

void
smtpd_session_timeout(smtpd_session_t *s, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    /* the write side too: a client that stops reading cannot pin a session */
    bufferevent_set_timeouts(s->bev, &tv, &tv);
}

static void
s_free(smtpd_session_t *s)
{
    sl_log_info(s->cid, "disconnect client=%s commands=%zu errors=%zu messages=%zu", s->ip,
                s->commands, s->errors, s->messages);
    if (s->phase_req)
        smtpd_queue_unwatch(s->srv->queue, s->phase_req);
    if (s->sync_job != NULL) { /* gone before the fsync finished: undone by smtpd_sync */
        smtpd_sync_cancel(s->srv->sync, s->sync_job);
        s->sync_job = NULL;
        sl_env_destroy(&s->commit_env);
    }
    if (s->commit_env != NULL) { /* gone before the 250: the message is not ours */
        smtpd_replica_cancel(s->srv->replica, s);
        smtpd_spool_remove(s->srv->cfg.spool_dir, NULL, s->qid);
        smtpd_replica_del(s->srv->replica, s->qid);
        sl_log_info(s->qid, "lost connection client=%s state=replica action=discarded", s->ip);
        sl_env_destroy(&s->commit_env);
        free(s->commit_msg);
    }
    if (s->limited)
        smtpd_limit_leave(s->srv->limit, s->ip);
    smtpd_session_reset(s);
    free(s->helo);
    if (s->greet_timer)
        event_free(s->greet_timer);
    if (s->phase_timer)
        event_free(s->phase_timer);
    event_free(s->resume);
    bufferevent_free(s->bev);
    s->srv->connections--;
    if (s->prev)
        s->prev->next = s->next;
    else
        s->srv->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
}

static void
s_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    smtpd_session_t *s = arg;
    if (s->dead)
        s_free(s);
    else
        s_process(s);
}

/* --- the envelope and the Received header --- */

static void
s_clean(char *out, size_t size, const char *in)
{
    size_t i = 0;
    for (; in[i] && i + 1 < size; i++) {
        unsigned char c = (unsigned char)in[i];
        out[i] = (c < 33 || c > 126) ? '?' : (char)c;
    }
    out[i] = '\0';
}

sl_env_t *
smtpd_session_env(smtpd_session_t *s, const char *id)
{
    sl_env_t *env = sl_env_new(id);
    if (env == NULL)
        sl_panic("sl_env_new refused id %s", id);
    const char *why;
    if (sl_env_set_str(env, SL_ENV_CLIENT_IP, s->ip, &why) != 0)
        sl_log_warn(smtpd_session_id(s), "envelope client_ip=%s refused: %s", s->ip, why);
    sl_env_set_uint(env, SL_ENV_CLIENT_PORT, (uint64_t)s->port);
    sl_env_set_direction(env, smtpd_conf_outbound(&s->srv->cfg, s->ip) ? SL_DIR_OUT : SL_DIR_IN);
    if (s->helo)
        sl_env_set_str(env, SL_ENV_HELO, s->helo, &why);
    if (s->tls) {
        sl_env_set_str(env, SL_ENV_TLS_VERSION, s->tls_version, &why);
        sl_env_set_str(env, SL_ENV_TLS_CIPHER, s->tls_cipher, &why);
    }
    if (s->mail_from)
        sl_env_set_str(env, SL_ENV_MAIL_FROM, s->mail_from, &why);
    return env;
}

static int
s_received(smtpd_session_t *s, char *buf, size_t size)
{
    char date[64], helo[256], rcpt[300] = "";
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    s_clean(helo, sizeof helo, s->helo ? s->helo : "unknown");
    if (s->rcpt_count == 1) {
        char clean[280];
        s_clean(clean, sizeof clean, s->rcpts[0]);
        snprintf(rcpt, sizeof rcpt, "\r\n\tfor <%s>", clean);
    }
    const char *proto = s->smtputf8 ? (s->tls ? "UTF8SMTPS" : "UTF8SMTP")
                        : s->esmtp  ? (s->tls ? "ESMTPS" : "ESMTP")
                                    : "SMTP";
    char tls[200] = "";
    if (s->tls)
        snprintf(tls, sizeof tls, "\t(using %s with cipher %s)\r\n", s->tls_version, s->tls_cipher);
    int n = snprintf(buf, size,
                     "Received: from %s (%s%s%s)\r\n%s\tby %s (Sluice) with %s id %s%s; %s\r\n",
                     helo, strchr(s->ip, ':') ? "[IPv6:" : "[", s->ip, "]", tls,
                     s->srv->cfg.hostname, proto, s->qid, rcpt, date);
    if (n < 0 || (size_t)n >= size)
        return -1;
    return n;
}

/* --- end of content: refuse, or spool and answer 250 --- */

static void s_replica_cb(void *arg, int ok, const char *why);

/* s_commit_end - the message is safe (RC 0: spool, and replica when set) or
 * not (-1, WHY): answer, hand it to the queue, end the transaction. Takes ENV
 * and *MSG_P. */
static void
s_commit_end(smtpd_session_t *s, sl_env_t *env, char **msg_p, size_t total, int rc, const char *why)
{
    const char *cmd = s->bdat ? "BDAT" : "DATA";
    if (rc != 0) {
        sl_log_error(s->qid, "spool write failed client=%s reason=\"%s\"", s->ip, why);
        smtpd_session_refuse(s, cmd, "451 4.3.0 Error: queue file write error, try again later",
                             "spool write failed", NULL, 0);
    } else {
        smtpd_session_replyf(s, "250 2.0.0 Ok: queued as %s", s->qid);
        char from[160];
        sl_log_info(s->qid, "queued client=%s conn=%s from=<%s> nrcpt=%zu size=%zu tls=%s%s", s->ip,
                    s->cid, sl_log_str(s->mail_from, strlen(s->mail_from), from, sizeof from),
                    s->rcpt_count, total, s->tls ? s->tls_version : "none",
                    s->srv->cfg.replica ? " replica=yes" : "");
        s->messages++;
        smtpd_queue_add(s->srv->queue, env, msg_p, total);
    }
    free(*msg_p);
    *msg_p = NULL;
    sl_env_destroy(&env);
    smtpd_session_reset(s);
}

/* s_synced - the spool write finished (in the loop); next the replica, or the reply. */
static void
s_synced(smtpd_sync_job_t *job)
{
    smtpd_session_t *s = job->arg;
    s->sync_job = NULL;
    sl_env_t *env = s->commit_env;
    s->commit_env = NULL;
    char *msg = job->msg;
    size_t total = job->len;
    int rc = job->rc;
    const char *why = job->why;
    job->msg = NULL;
    if (s->state == SMTPD_ST_WAIT)
        s->state = SMTPD_ST_CMD;
    if (rc == 0 && s->srv->cfg.replica != NULL) {
        if (smtpd_replica_put(s->srv->replica, s->qid, job->env_buf, job->env_len, msg, total,
                              s_replica_cb, s) == 0) {
            smtpd_sync_job_free(&job);
            s->commit_env = env;
            s->commit_msg = msg;
            s->commit_len = total;
            s->state = SMTPD_ST_WAIT; /* the 250 waits for the peer's copy */
            return;
        }
        smtpd_spool_remove(s->srv->cfg.spool_dir, NULL, s->qid);
        rc = -1;
        why = "replica link down";
    }
    smtpd_sync_job_free(&job);
    s_commit_end(s, env, &msg, total, rc, why);
    event_active(s->resume, 0, 0);
}

/* s_replica_cb - the peer has (OK) or has not got its copy. */
static void
s_replica_cb(void *arg, int ok, const char *why)
{
    smtpd_session_t *s = arg;
    sl_env_t *env = s->commit_env;
    char *msg = s->commit_msg;
    s->commit_env = NULL;
    s->commit_msg = NULL;
    if (s->state == SMTPD_ST_WAIT)
        s->state = SMTPD_ST_CMD;
    if (!ok)
        smtpd_spool_remove(s->srv->cfg.spool_dir, NULL, s->qid);
    s_commit_end(s, env, &msg, s->commit_len, ok ? 0 : -1, ok ? NULL : why);
    event_active(s->resume, 0, 0);
}

static void
s_commit(smtpd_session_t *s)
{
    const char *cmd = s->bdat ? "BDAT" : "DATA";
    const char *reply = smtpd_data_reply(&s->data);
    if (reply != NULL) {
        if (s->data.flags & SMTPD_DATA_OVERSIZED)
            sl_log_info(s->qid, "oversized client=%s size=%llu limit=%llu classification=oversized",
                        s->ip, (unsigned long long)s->data.size,
                        (unsigned long long)s->srv->cfg.max_message_size);
        smtpd_session_refuse(s, cmd, reply, smtpd_data_reason(&s->data), NULL, 0);
        smtpd_session_reset(s);
        return;
    }
    char received[2048];
    int rlen = s_received(s, received, sizeof received);
    if (rlen < 0)
        sl_panic("Received header does not fit");
    size_t body_len;
    char *msg = smtpd_data_take(&s->data, &body_len);
    size_t total = (size_t)rlen + body_len;
    msg = sl_xrealloc(msg, total ? total : 1);
    memmove(msg + rlen, msg, body_len);
    memcpy(msg, received, (size_t)rlen);

    sl_env_t *env = smtpd_session_env(s, s->qid);
    const char *why = NULL;
    for (size_t i = 0; i < s->rcpt_count; i++)
        if (sl_env_add_rcpt(env, s->rcpts[i], &why) != 0)
            sl_log_warn(s->qid, "envelope rcpt refused: %s", why);
    sl_env_set_uint(env, SL_ENV_SIZE, total);
    sl_env_set_uint(env, SL_ENV_RECEIVED_AT, sl_now_ms());
    size_t env_len = 0;
    void *env_buf = sl_env_encode(env, &env_len);
    if (env_buf == NULL) {
        s_commit_end(s, env, &msg, total, -1, "envelope encoding failed");
        return;
    }
    smtpd_sync_job_t *job = sl_xcalloc(1, sizeof *job);
    sl_strlcpy(job->id, s->qid, sizeof job->id);
    job->env_buf = env_buf;
    job->env_len = env_len;
    job->msg = msg;
    job->len = total;
    job->done = s_synced;
    job->arg = s;
    s->sync_job = job;
    s->commit_env = env;
    s->state = SMTPD_ST_WAIT; /* the reply waits for the fsync */
    smtpd_sync_write(s->srv->sync, job);
}

static void
s_content_end(smtpd_session_t *s)
{
    s->state = SMTPD_ST_CMD;
    smtpd_session_timeout(s, s->srv->cfg.idle_timeout_ms);
    s_commit(s);
}

void
smtpd_session_content_begin(smtpd_session_t *s, bool dot_mode)
{
    const smtpd_conf_t *c = &s->srv->cfg;
    s->data.line_max = c->max_line_length;
    s->data.header_lines_max = c->max_header_lines;
    s->data.header_bytes_max = c->max_header_size;
    s->data.size_max = c->max_message_size;
    smtpd_data_begin(&s->data, dot_mode);
    smtpd_session_timeout(s, c->data_timeout_ms);
}

static void
s_data_input(smtpd_session_t *s)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    while (!s->data.done && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        size_t used = smtpd_data_feed(&s->data, v.iov_base, v.iov_len);
        evbuffer_drain(in, used);
    }
    if (s->data.done)
        s_content_end(s);
}

void
smtpd_session_bdat_input(smtpd_session_t *s)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    while (s->bdat_left > 0 && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        size_t n = v.iov_len;
        if ((uint64_t)n > s->bdat_left)
            n = (size_t)s->bdat_left;
        if (!s->bdat_refuse)
            smtpd_data_feed(&s->data, v.iov_base, n);
        evbuffer_drain(in, n);
        s->bdat_left -= n;
    }
    if (s->bdat_left > 0)
        return;
    s->state = SMTPD_ST_CMD;
    smtpd_session_timeout(s, s->srv->cfg.idle_timeout_ms);
    if (s->bdat_refuse) {
        s->bdat_refuse = false;
        smtpd_session_refuse(s, "BDAT", "503 5.5.1 Error: no valid transaction for BDAT",
                             "no transaction", NULL, 0);
        return;
    }
    if (s->bdat_last) {
        smtpd_data_finish(&s->data);
        s_commit(s);
        return;
    }
    if (s->data.flags != 0) { /* refuse now: the client must not send more chunks */
        s_commit(s);
        return;
    }
    smtpd_session_replyf(s, "250 2.0.0 %llu octets received", (unsigned long long)s->data.size);
}

/* --- connect and rcpt phases --- */

static void
s_greet(smtpd_session_t *s)
{
    if (s->greet_reply[0] != '\0') {
        sl_log_info(s->cid, "reject client=%s cmd=CONNECT reply=\"%.3s\" reason=\"connect phase\"",
                    s->ip, s->greet_reply);
        smtpd_session_close(s, s->greet_reply);
        return;
    }
    s->state = SMTPD_ST_CMD;
    smtpd_session_replyf(s, "220 %s ESMTP Sluice", s->srv->cfg.hostname);
    event_active(s->resume, 0, 0);
}

static void
s_wait_done(smtpd_session_t *s)
{
    if (s->waits > 0 && --s->waits == 0 && s->state == SMTPD_ST_GREET)
        s_greet(s);
}

static void
s_greet_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    s_wait_done(arg);
}

void
smtpd_session_rcpt_accept(smtpd_session_t *s)
{
    if (s->rcpt_count % 16 == 0)
        s->rcpts = sl_xrealloc(s->rcpts, (s->rcpt_count + 16) * sizeof *s->rcpts);
    s->rcpts[s->rcpt_count++] = s->pending_rcpt;
    s->pending_rcpt = NULL;
    smtpd_session_write(s, "250 2.1.5 Ok");
}

/* s_phase_end - the phase answered (RESULT) or timed out (NULL). */
static void
s_phase_end(smtpd_session_t *s, sl_result_t *result)
{
    int phase = s->phase;
    smtpd_queue_unwatch(s->srv->queue, s->phase_req);
    s->phase_req = 0;
    s->phase = SMTPD_PH_NONE;
    evtimer_del(s->phase_timer);
    if (s->state == SMTPD_ST_CLOSING)
        return;
    const char *name = phase == SMTPD_PH_CONNECT ? "connect" : "rcpt";
    char reply[512];
    const char *use = NULL, *stage = "";
    if (result == NULL) {
        sl_log_warn(smtpd_session_id(s), "phase timeout client=%s phase=%s action=fail-open", s->ip,
                    name);
    } else if (result->status != SL_RESULT_OK || result->env == NULL) {
        sl_log_warn(smtpd_session_id(s),
                    "phase failed client=%s phase=%s status=%s reason=\"%s\" action=fail-open",
                    s->ip, name, sl_result_status_name(result->status), result->why);
    } else {
        use = smtpd_verdict_reply(result->env, phase == SMTPD_PH_RCPT, reply, sizeof reply, &stage);
    }
    if (phase == SMTPD_PH_CONNECT) {
        if (use) {
            sl_strlcpy(s->greet_reply, use, sizeof s->greet_reply);
            sl_log_info(s->cid, "connect phase client=%s stage=%s reply=\"%s\"", s->ip, stage, use);
        }
        s_wait_done(s);
        return;
    }
    s->state = SMTPD_ST_CMD;
    if (use) {
        char shown[160];
        sl_log_info(
            s->qid,
            "reject client=%s cmd=RCPT reply=\"%.3s\" reason=\"rcpt phase\" stage=%s to=<%s>",
            s->ip, use, stage,
            sl_log_str(s->pending_rcpt, strlen(s->pending_rcpt), shown, sizeof shown));
        free(s->pending_rcpt);
        s->pending_rcpt = NULL;
        smtpd_session_write(s, use);
        if (++s->errors >= s->srv->cfg.max_errors)
            smtpd_session_close(s, "421 4.7.0 Error: too many errors");
    } else {
        smtpd_session_rcpt_accept(s);
    }
    event_active(s->resume, 0, 0);
}

static void
s_phase_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    s_phase_end(arg, NULL);
}

void
smtpd_session_result(smtpd_session_t *s, sl_result_t *result)
{
    s_phase_end(s, result);
}

/* smtpd_session_phase_start - 1 when a request went out and the session waits for it. */
int
smtpd_session_phase_start(smtpd_session_t *s, int phase, sl_env_t *env)
{
    const char *name = phase == SMTPD_PH_CONNECT ? "connect" : "rcpt";
    if (sl_env_direction(env) == SL_DIR_OUT)
        return 0; /* outbound_networks: DNSBLs and greylisting judge senders from outside */
    uint64_t req = smtpd_server_submit(s->srv, name, env, NULL, 0, 0);
    if (req == 0) {
        sl_log_warn(
            smtpd_session_id(s),
            "phase skipped client=%s phase=%s reason=\"broker busy or down\" action=fail-open",
            s->ip, name);
        return 0;
    }
    s->phase_req = req;
    s->phase = phase;
    smtpd_queue_watch(s->srv->queue, req, s);
    int ms = s->srv->cfg.phase_timeout_ms;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    evtimer_add(s->phase_timer, &tv);
    return 1;
}

static void
s_process(smtpd_session_t *s)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    for (int round = 0; round < S_ROUNDS; round++) {
        if (s->dead || s->state == SMTPD_ST_CLOSING || s->state == SMTPD_ST_WAIT ||
            s->state == SMTPD_ST_TLS)
            return;
        if (evbuffer_get_length(bufferevent_get_output(s->bev)) > S_OUT_MAX)
            return; /* the client is not reading its replies: the write callback resumes */
        size_t avail = evbuffer_get_length(in);
        if (avail == 0)
            return;
        if (s->state == SMTPD_ST_GREET) {
            char shown[64];
            char first[32];
            size_t n = evbuffer_copyout(in, first, sizeof first);
            sl_log_info(s->cid,
                        "reject client=%s cmd=PREGREET reply=\"554\" reason=\"data before "
                        "greeting\" arg=\"%s\"",
                        s->ip, sl_log_str(first, n, shown, sizeof shown));
            smtpd_session_close(
                s, "554 5.5.1 Error: SMTP protocol violation: data sent before greeting");
            return;
        }
        if (s->state == SMTPD_ST_DATA) {
            s_data_input(s);
            continue;
        }
        if (s->state == SMTPD_ST_BDAT) {
            smtpd_session_bdat_input(s);
            continue;
        }
        size_t look = avail < SL_SMTP_CMD_MAX ? avail : SL_SMTP_CMD_MAX;
        const char *p = (const char *)evbuffer_pullup(in, (ssize_t)look);
        size_t consumed, len;
        smtpd_line_status_t st =
            smtpd_line_next(&s->line, p, look, SL_SMTP_CMD_MAX, &consumed, &len);
        char line[SL_SMTP_CMD_MAX + 1];
        if (st == SMTPD_LINE_OK)
            memcpy(line, p, len);
        evbuffer_drain(in, consumed);
        switch (st) {
        case SMTPD_LINE_MORE:
            if (consumed == 0)
                return;
            break;
        case SMTPD_LINE_TOO_LONG:
            s->commands++;
            smtpd_session_refuse(s, "?", "500 5.5.2 Error: line too long", "command line too long",
                                 NULL, 0);
            break;
        case SMTPD_LINE_BARE_LF:
            s->commands++;
            smtpd_session_refuse(s, "?",
                                 "500 5.5.2 Error: bare <LF> received; commands end in <CR><LF>",
                                 "bare LF in command", NULL, 0);
            break;
        case SMTPD_LINE_OK:
            line[len] = '\0';
            smtpd_command_run(s, line, len);
            break;
        }
    }
    event_active(s->resume, 0, 0); /* more waiting: continue after other clients */
}

void
smtpd_session_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    s_process(arg);
}

void
smtpd_session_write_cb(struct bufferevent *bev, void *arg)
{
    smtpd_session_t *s = arg;
    if (s->state == SMTPD_ST_CLOSING) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            s_finish(s);
        return;
    }
    if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
        s_process(s);
}

static void
s_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    smtpd_session_t *s = arg;
    if (s->dead)
        return;
    if ((what & BEV_EVENT_TIMEOUT) && ((what & BEV_EVENT_WRITING) || s->state == SMTPD_ST_TLS)) {
        /* replies not read, or a handshake never finished: nothing more to say */
        sl_log_info(smtpd_session_id(s), "timeout client=%s during=%s action=drop", s->ip,
                    s->state == SMTPD_ST_TLS ? "STARTTLS" : "reply");
        s_kill(s);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        if (s->state == SMTPD_ST_WAIT || s->state == SMTPD_ST_GREET ||
            s->state == SMTPD_ST_CLOSING) {
            bufferevent_enable(s->bev, EV_READ); /* waiting on us, not on the client */
            return;
        }
        const char *during = s->state == SMTPD_ST_DATA   ? "DATA"
                             : s->state == SMTPD_ST_BDAT ? "BDAT"
                             : s->state == SMTPD_ST_TLS  ? "STARTTLS"
                                                         : "command";
        sl_log_info(smtpd_session_id(s), "timeout client=%s during=%s", s->ip, during);
        char bye[300];
        snprintf(bye, sizeof bye, "421 4.4.2 %s Error: timeout exceeded", s->srv->cfg.hostname);
        smtpd_session_close(s, bye);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (s->state != SMTPD_ST_CLOSING && (s->in_mail || s->state == SMTPD_ST_TLS))
            sl_log_info(smtpd_session_id(s), "lost connection client=%s state=%s", s->ip,
                        s->state == SMTPD_ST_TLS   ? "STARTTLS"
                        : s->state == SMTPD_ST_CMD ? "transaction"
                                                   : "content");
        if (what & BEV_EVENT_ERROR) {
            unsigned long e = bufferevent_get_openssl_error(s->bev);
            if (e != 0) {
                char text[256];
                ERR_error_string_n(e, text, sizeof text);
                sl_log_info(s->cid, "tls error client=%s reason=\"%s\"", s->ip, text);
            }
        }
        s_kill(s);
    }
}

void
smtpd_session_tls_event_cb(struct bufferevent *bev, short what, void *arg)
{
    smtpd_session_t *s = arg;
    if ((what & BEV_EVENT_CONNECTED) && s->state == SMTPD_ST_TLS) {
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        sl_strlcpy(s->tls_version, SSL_get_version(ssl), sizeof s->tls_version);
        sl_strlcpy(s->tls_cipher, SSL_get_cipher_name(ssl), sizeof s->tls_cipher);
        s->tls = true;
        s->state = SMTPD_ST_CMD;
        sl_log_info(s->cid, "starttls client=%s version=%s cipher=%s", s->ip, s->tls_version,
                    s->tls_cipher);
        event_active(s->resume, 0, 0);
        return;
    }
    s_event_cb(bev, what, arg);
}

void
smtpd_session_accept(smtpd_t *srv, evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
    smtpd_session_t *s = sl_xcalloc(1, sizeof *s);
    s->srv = srv;
    s->state = SMTPD_ST_GREET;
    sl_env_new_id(s->cid, sizeof s->cid);
    char port[16] = "0";
    if (getnameinfo(sa, (socklen_t)salen, s->ip, sizeof s->ip, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        sl_strlcpy(s->ip, "unknown", sizeof s->ip);
    if (strncmp(s->ip, "::ffff:", 7) == 0 && strchr(s->ip, '.'))
        memmove(s->ip, s->ip + 7, strlen(s->ip + 7) + 1);
    s->port = atoi(port);
    s->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (s->bev == NULL) {
        evutil_closesocket(fd);
        free(s);
        return;
    }
    srv->connections++;
    s->next = srv->sessions;
    if (srv->sessions)
        srv->sessions->prev = s;
    srv->sessions = s;
    s->resume = event_new(srv->base, -1, 0, s_resume_cb, s);
    s->greet_timer = evtimer_new(srv->base, s_greet_timer_cb, s);
    s->phase_timer = evtimer_new(srv->base, s_phase_timer_cb, s);
    bufferevent_setcb(s->bev, smtpd_session_read_cb, smtpd_session_write_cb, s_event_cb, s);
    bufferevent_setwatermark(s->bev, EV_READ, 0, SMTPD_IN_MAX);
    smtpd_session_timeout(s, srv->cfg.idle_timeout_ms);
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
    sl_log_info(s->cid, "connect client=%s port=%d", s->ip, s->port);

    char bye[300];
    if (srv->stopping || srv->connections > srv->cfg.max_connections) {
        snprintf(bye, sizeof bye, "421 4.3.2 %s Error: too many connections, try again later",
                 srv->cfg.hostname);
        sl_log_info(s->cid,
                    "reject client=%s cmd=CONNECT reply=\"421\" reason=\"server connection limit\"",
                    s->ip);
        smtpd_session_close(s, bye);
        return;
    }
    smtpd_limit_result_t lim = smtpd_limit_enter(srv->limit, s->ip, sl_mono_ms());
    if (lim != SMTPD_LIMIT_OK) {
        const char *reason = lim == SMTPD_LIMIT_CONCURRENT
                                 ? "too many connections from your address"
                                 : "too many connections per minute from your address";
        snprintf(bye, sizeof bye, "421 4.7.0 %s Error: %s", srv->cfg.hostname, reason);
        sl_log_info(s->cid, "reject client=%s cmd=CONNECT reply=\"421\" reason=\"%s\"", s->ip,
                    reason);
        smtpd_session_close(s, bye);
        return;
    }
    s->limited = true;
    if (srv->cfg.greeting_delay_ms > 0) {
        int ms = srv->cfg.greeting_delay_ms;
        struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
        s->waits++;
        evtimer_add(s->greet_timer, &tv);
    }
    if (srv->phase[SL_PHASE_CONNECT] && srv->client) {
        sl_env_t *env = smtpd_session_env(s, s->cid);
        if (smtpd_session_phase_start(s, SMTPD_PH_CONNECT, env))
            s->waits++;
        sl_env_destroy(&env);
    }
    if (s->waits == 0)
        s_greet(s);
}

void
smtpd_session_close_all(smtpd_t *srv)
{
    while (srv->sessions != NULL) {
        smtpd_session_t *s = srv->sessions;
        if (s->state != SMTPD_ST_CLOSING && s->state != SMTPD_ST_GREET)
            smtpd_session_write(s, "421 4.3.2 Service shutting down");
        s_free(s);
    }
}
