/*
 * smtpd/smtpd_command.c - one SMTP command: checks, replies, state changes.
 *
 * EHLO/HELO, MAIL, RCPT (relay control, mailboxes, the rcpt phase), DATA,
 * BDAT, RSET, NOOP, QUIT, VRFY, EXPN, HELP, STARTTLS, AUTH and HTTP verbs.
 * Parsing is smtpd_cmd's; every refusal goes through smtpd_session_refuse
 * (reply, log line, error count). smtpd/README.md lists every reply.
 * Tests: tests/e2e/test_smtpd_protocol.py, tests/unit/test_smtpd_cmd.c
 */
#include "smtpd_session.h"

#include "sl_log.h"
#include "smtpd_cmd.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_ehlo(smtpd_session_t *s, const smtpd_cmd_t *cmd)
{
    sl_slice_t dom;
    const char *why;
    const char *name = cmd->verb == SMTPD_CMD_EHLO ? "EHLO" : "HELO";
    if (smtpd_cmd_helo(cmd->arg, &dom, &why) != 0) {
        smtpd_session_refuse(s, name, why, "bad hostname", cmd->arg.ptr, cmd->arg.len);
        return;
    }
    smtpd_session_reset(s);
    free(s->helo);
    s->helo = sl_xstrndup(dom.ptr, dom.len);
    s->esmtp = cmd->verb == SMTPD_CMD_EHLO;
    const smtpd_conf_t *c = &s->srv->cfg;
    if (!s->esmtp) {
        smtpd_session_replyf(s, "250 %s", c->hostname);
        return;
    }
    smtpd_session_replyf(s, "250-%s", c->hostname);
    smtpd_session_write(s, "250-PIPELINING");
    smtpd_session_replyf(s, "250-SIZE %llu", (unsigned long long)c->max_message_size);
    smtpd_session_write(s, "250-8BITMIME");
    smtpd_session_write(s, "250-ENHANCEDSTATUSCODES");
    if (s->srv->tls != NULL && !s->tls)
        smtpd_session_write(s, "250-STARTTLS");
    smtpd_session_write(s, "250-SMTPUTF8");
    smtpd_session_write(s, "250 CHUNKING");
}

static void
s_mail(smtpd_session_t *s, const smtpd_cmd_t *cmd)
{
    smtpd_path_t path;
    const char *why;
    if (s->helo == NULL) {
        smtpd_session_refuse(s, "MAIL", "503 5.5.1 Error: send HELO/EHLO first", "no HELO", NULL,
                             0);
        return;
    }
    if (s->in_mail) {
        smtpd_session_refuse(s, "MAIL", "503 5.5.1 Error: nested MAIL command", "nested MAIL", NULL,
                             0);
        return;
    }
    if (smtpd_cmd_mail(cmd->arg, s->esmtp, &path, &why) != 0) {
        smtpd_session_refuse(s, "MAIL", why, "bad syntax", cmd->arg.ptr, cmd->arg.len);
        return;
    }
    if (path.utf8 && !path.smtputf8) {
        smtpd_session_refuse(s, "MAIL", "553 5.6.7 Non-ASCII address needs the SMTPUTF8 parameter",
                             "UTF-8 without SMTPUTF8", cmd->arg.ptr, cmd->arg.len);
        return;
    }
    if (path.has_size && path.size > s->srv->cfg.max_message_size) {
        sl_log_info(smtpd_session_id(s),
                    "oversized client=%s declared=%llu limit=%llu classification=oversized", s->ip,
                    (unsigned long long)path.size,
                    (unsigned long long)s->srv->cfg.max_message_size);
        smtpd_session_refuse(s, "MAIL", "552 5.3.4 Message size exceeds fixed limit",
                             "SIZE over limit", cmd->arg.ptr, cmd->arg.len);
        return;
    }
    s->in_mail = true;
    s->smtputf8 = path.smtputf8;
    s->mail_from = sl_xstrndup(path.addr.ptr, path.addr.len);
    sl_env_new_id(s->qid, sizeof s->qid);
    char shown[160];
    sl_log_debug(s->qid, "mail client=%s conn=%s from=<%s>", s->ip, s->cid,
                 sl_log_str(path.addr.ptr, path.addr.len, shown, sizeof shown));
    smtpd_session_write(s, "250 2.1.0 Ok");
}

static void
s_rcpt(smtpd_session_t *s, const smtpd_cmd_t *cmd)
{
    smtpd_path_t path;
    const char *why;
    const smtpd_conf_t *c = &s->srv->cfg;
    if (!s->in_mail) {
        smtpd_session_refuse(s, "RCPT", "503 5.5.1 Error: need MAIL command", "no MAIL", NULL, 0);
        return;
    }
    if (smtpd_cmd_rcpt(cmd->arg, s->esmtp, &path, &why) != 0) {
        smtpd_session_refuse(s, "RCPT", why, "bad syntax", cmd->arg.ptr, cmd->arg.len);
        return;
    }
    if (path.utf8 && !s->smtputf8) {
        smtpd_session_refuse(s, "RCPT", "553 5.6.7 Non-ASCII address needs MAIL FROM with SMTPUTF8",
                             "UTF-8 without SMTPUTF8", cmd->arg.ptr, cmd->arg.len);
        return;
    }
    if (s->rcpt_count >= c->max_recipients) {
        smtpd_session_refuse(s, "RCPT", "452 4.5.3 Error: too many recipients",
                             "too many recipients", cmd->arg.ptr, cmd->arg.len);
        return;
    }
    smtpd_rcpt_check_t check = smtpd_conf_rcpt_check(c, path.local, path.domain);
    if (check == SMTPD_RCPT_RELAY_DENIED && smtpd_conf_outbound(c, s->ip))
        check = SMTPD_RCPT_OK; /* outbound_networks: Sluice is their smarthost */
    switch (check) {
    case SMTPD_RCPT_RELAY_DENIED:
        smtpd_session_refuse(s, "RCPT", "550 5.7.1 Relay access denied", "relay access denied",
                             cmd->arg.ptr, cmd->arg.len);
        return;
    case SMTPD_RCPT_UNKNOWN_USER:
        smtpd_session_refuse(s, "RCPT", "550 5.1.1 Recipient address rejected: user unknown",
                             "unknown user", cmd->arg.ptr, cmd->arg.len);
        return;
    case SMTPD_RCPT_OK:
        break;
    }
    char rcpt[SL_SMTP_PATH_MAX + SL_SMTP_DOMAIN_MAX + 2];
    if (path.domain.len == 0) /* <postmaster> */
        snprintf(rcpt, sizeof rcpt, "postmaster@%s", c->hostname);
    else
        snprintf(rcpt, sizeof rcpt, "%.*s", (int)path.addr.len, path.addr.ptr);
    free(s->pending_rcpt);
    s->pending_rcpt = sl_xstrdup(rcpt);
    if (s->srv->phase[SL_PHASE_RCPT] && s->srv->client) {
        sl_env_t *env = smtpd_session_env(s, s->qid);
        sl_env_add_rcpt(env, rcpt, &why);
        int waiting = smtpd_session_phase_start(s, SMTPD_PH_RCPT, env);
        sl_env_destroy(&env);
        if (waiting) {
            s->state = SMTPD_ST_WAIT;
            return;
        }
    }
    smtpd_session_rcpt_accept(s);
}

static void
s_data(smtpd_session_t *s, const smtpd_cmd_t *cmd)
{
    if (cmd->arg.len != 0) {
        smtpd_session_refuse(s, "DATA", "501 5.5.4 Syntax: DATA", "argument", cmd->arg.ptr,
                             cmd->arg.len);
        return;
    }
    if (!s->in_mail) {
        smtpd_session_refuse(s, "DATA", "503 5.5.1 Error: need MAIL command", "no MAIL", NULL, 0);
        return;
    }
    if (s->bdat) {
        smtpd_session_refuse(s, "DATA", "503 5.5.1 Error: DATA after BDAT", "DATA after BDAT", NULL,
                             0);
        return;
    }
    if (s->rcpt_count == 0) {
        smtpd_session_refuse(s, "DATA", "554 5.5.1 Error: no valid recipients", "no recipients",
                             NULL, 0);
        return;
    }
    smtpd_session_write(s, "354 End data with <CR><LF>.<CR><LF>");
    smtpd_session_content_begin(s, true);
    s->state = SMTPD_ST_DATA;
}

static void
s_bdat(smtpd_session_t *s, const smtpd_cmd_t *cmd)
{
    uint64_t size;
    bool last;
    const char *why;
    if (smtpd_cmd_bdat(cmd->arg, &size, &last, &why) != 0) {
        /* without a size the stream cannot be resynchronised: end it */
        char shown[160];
        sl_log_info(smtpd_session_id(s),
                    "reject client=%s cmd=BDAT reply=\"501\" reason=\"bad syntax\" arg=\"%s\"",
                    s->ip, sl_log_str(cmd->arg.ptr, cmd->arg.len, shown, sizeof shown));
        smtpd_session_close(s, why);
        return;
    }
    s->bdat_left = size;
    s->bdat_last = last;
    s->state = SMTPD_ST_BDAT;
    if (!s->in_mail || s->rcpt_count == 0) {
        s->bdat_refuse = true;
    } else if (!s->bdat) {
        s->bdat = true;
        smtpd_session_content_begin(s, false);
    } else {
        smtpd_session_timeout(s, s->srv->cfg.data_timeout_ms);
    }
    smtpd_session_bdat_input(s);
}

static void
s_starttls(smtpd_session_t *s, const smtpd_cmd_t *cmd)
{
    if (s->srv->tls == NULL) {
        smtpd_session_refuse(s, "STARTTLS", "502 5.5.1 Error: command not implemented",
                             "no TLS configured", NULL, 0);
        return;
    }
    if (s->tls) {
        smtpd_session_refuse(s, "STARTTLS", "503 5.5.1 Error: TLS already active", "TLS active",
                             NULL, 0);
        return;
    }
    if (cmd->arg.len != 0) {
        smtpd_session_refuse(s, "STARTTLS", "501 5.5.4 Syntax: STARTTLS", "argument", cmd->arg.ptr,
                             cmd->arg.len);
        return;
    }
    struct evbuffer *in = bufferevent_get_input(s->bev);
    size_t extra = evbuffer_get_length(in);
    if (extra > 0) { /* CVE-2011-0411: plaintext pipelined after STARTTLS is never used */
        sl_log_warn(s->cid, "starttls client=%s discarded=%zu reason=\"data after STARTTLS\"",
                    s->ip, extra);
        evbuffer_drain(in, extra);
    }
    smtpd_session_write(s, "220 2.0.0 Ready to start TLS");
    SSL *ssl = SSL_new(s->srv->tls);
    if (ssl == NULL) {
        smtpd_session_close(s, "454 4.7.0 TLS not available due to local problem");
        return;
    }
    struct bufferevent *tb = bufferevent_openssl_filter_new(
        s->srv->base, s->bev, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (tb == NULL) {
        SSL_free(ssl);
        smtpd_session_close(s, "454 4.7.0 TLS not available due to local problem");
        return;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(tb, 1);
    s->bev = tb;
    smtpd_session_reset(s);
    free(s->helo);
    s->helo = NULL;
    s->esmtp = false;
    s->state = SMTPD_ST_TLS;
    bufferevent_setcb(tb, smtpd_session_read_cb, smtpd_session_write_cb, smtpd_session_tls_event_cb,
                      s);
    bufferevent_setwatermark(tb, EV_READ, 0, SMTPD_IN_MAX);
    smtpd_session_timeout(s, s->srv->cfg.idle_timeout_ms);
    bufferevent_enable(tb, EV_READ | EV_WRITE);
}

void
smtpd_command_run(smtpd_session_t *s, char *line, size_t len)
{
    smtpd_cmd_t cmd;
    const char *why;
    s->commands++;
    if (smtpd_cmd_parse(line, len, &cmd, &why) != 0) {
        smtpd_session_refuse(s, "?", why, "unrecognized command", line, len);
        return;
    }
    const smtpd_conf_t *c = &s->srv->cfg;
    switch (cmd.verb) {
    case SMTPD_CMD_HELO:
    case SMTPD_CMD_EHLO:
        s_ehlo(s, &cmd);
        break;
    case SMTPD_CMD_MAIL:
        s_mail(s, &cmd);
        break;
    case SMTPD_CMD_RCPT:
        s_rcpt(s, &cmd);
        break;
    case SMTPD_CMD_DATA:
        s_data(s, &cmd);
        break;
    case SMTPD_CMD_BDAT:
        s_bdat(s, &cmd);
        break;
    case SMTPD_CMD_RSET:
        if (cmd.arg.len != 0) {
            smtpd_session_refuse(s, "RSET", "501 5.5.4 Syntax: RSET", "argument", cmd.arg.ptr,
                                 cmd.arg.len);
            break;
        }
        smtpd_session_reset(s);
        smtpd_session_write(s, "250 2.0.0 Ok");
        break;
    case SMTPD_CMD_NOOP:
        smtpd_session_write(s, "250 2.0.0 Ok");
        break;
    case SMTPD_CMD_QUIT:
        smtpd_session_close(s, "221 2.0.0 Bye");
        break;
    case SMTPD_CMD_VRFY:
        if (cmd.arg.len == 0) {
            smtpd_session_refuse(s, "VRFY", "501 5.5.4 Syntax: VRFY address", "no argument", NULL,
                                 0);
            break;
        }
        smtpd_session_write(
            s, "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
        break;
    case SMTPD_CMD_EXPN:
        smtpd_session_refuse(s, "EXPN", "502 5.5.1 Error: command not implemented", "EXPN", NULL,
                             0);
        break;
    case SMTPD_CMD_HELP:
        smtpd_session_write(
            s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY STARTTLS");
        break;
    case SMTPD_CMD_STARTTLS:
        s_starttls(s, &cmd);
        break;
    case SMTPD_CMD_AUTH:
        smtpd_session_refuse(s, "AUTH", "502 5.5.1 Error: command not implemented", "AUTH", NULL,
                             0);
        break;
    case SMTPD_CMD_HTTP: {
        char bye[300];
        snprintf(bye, sizeof bye, "421 4.7.0 %s Error: this is an SMTP server", c->hostname);
        char shown[160];
        sl_log_info(smtpd_session_id(s),
                    "reject client=%s cmd=HTTP reply=\"421\" reason=\"HTTP command\" arg=\"%s\"",
                    s->ip, sl_log_str(line, len, shown, sizeof shown));
        smtpd_session_close(s, bye);
        break;
    }
    case SMTPD_CMD_UNKNOWN:
        smtpd_session_refuse(s, "?", "500 5.5.2 Error: command unrecognized",
                             "unrecognized command", line, len);
        break;
    }
}
