/*
 * quarantine/qr_digest_http.c - GET and POST /r/TOKEN: the release links of
 * quarantine digests (quarantine/API.md, "Digest links").
 *
 * GET only shows what the link would release, with a button: mail scanners
 * fetch links, and a fetch must not release. POST redeems: signature, then
 * expiry, then the nonce row in quarantine_token, marked used in the same
 * transaction that checks it, so two racing POSTs release once. The token
 * is the only authority here (no session); anything wrong with it is
 * "invalid", with no hint of which check failed. Pages are self-contained
 * HTML, no script; message-supplied text is HTML-escaped.
 * Tests: tests/e2e/test_quarantine_digest.py (tokens: tests/unit/test_qr_token.c)
 */
#include "qr.h"
#include "qr_digest.h"
#include "qr_digest_token.h"
#include "sl_log.h"
#include "sl_mem.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* s_page - a complete page: TITLE, then BODY (already HTML). */
static void
s_page(int code, const char *title, const char *body, int *status, char **html)
{
    qr_jbuf_t b = {0};
    qr_jbuf_raw(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                    "<meta name=\"robots\" content=\"noindex\"><title>");
    qr_digest_html(&b, title);
    qr_jbuf_raw(&b, " - Sluice quarantine</title></head>\n<body>\n<h1>");
    qr_digest_html(&b, title);
    qr_jbuf_raw(&b, "</h1>\n");
    qr_jbuf_raw(&b, body);
    qr_jbuf_raw(&b, "\n</body></html>\n");
    *status = code;
    *html = qr_jbuf_take(&b, NULL);
}

static void
s_say(int code, const char *title, const char *text, int *status, char **html)
{
    qr_jbuf_t b = {0};
    qr_jbuf_raw(&b, "<p>");
    qr_digest_html(&b, text);
    qr_jbuf_raw(&b, "</p>");
    s_page(code, title, b.buf, status, html);
    qr_jbuf_free(&b);
}

static void
s_invalid(int *status, char **html)
{
    s_say(400, "Invalid link",
          "This release link is not valid. Open the quarantine dashboard to release the message.",
          status, html);
}

static void
s_used(int *status, char **html)
{
    s_say(410, "Link already used", "This link was already used: each release link works once.",
          status, html);
}

/* s_token_row - the nonce's row, checked against the token: 1 unused, 0
 * used, -1 absent or not this token's (invalid), -2 store error. */
static int
s_token_row(qr_ctx_t *ctx, const qr_token_t *t)
{
    const char *p[] = {t->nonce};
    sl_rows_t *rows = sl_store_query(
        ctx->store, "SELECT id, rcpt, used_ms FROM quarantine_token WHERE nonce = ?", p, 1);
    if (rows == NULL)
        return -2;
    int rc = -1;
    if (sl_rows_count(rows) == 1) {
        const char *id = sl_rows_get(rows, 0, 0), *rcpt = sl_rows_get(rows, 0, 1);
        if (id && rcpt && strcmp(id, t->id) == 0 && strcmp(rcpt, t->rcpt) == 0)
            rc = sl_rows_get(rows, 0, 2) == NULL ? 1 : 0;
    }
    sl_rows_free(&rows);
    return rc;
}

/* s_held - the quarantine row the token names, (sender, subject), for the
 * caller to free; NULL when it is gone, already released or unreadable,
 * with the page saying so in *STATUS and *HTML. */
static sl_rows_t *
s_held(qr_ctx_t *ctx, const qr_token_t *t, int *status, char **html)
{
    const char *p[] = {t->id, t->rcpt};
    sl_rows_t *rows = sl_store_query(ctx->store,
                                     "SELECT sender, subject, released_ms FROM quarantine"
                                     " WHERE id = ? AND rcpt = ?",
                                     p, 2);
    if (rows == NULL)
        s_say(500, "Try again later", "The quarantine cannot be read just now.", status, html);
    else if (sl_rows_count(rows) != 1)
        s_say(410, "No longer held", "This message is no longer in quarantine.", status, html);
    else if (sl_rows_get(rows, 0, 2) != NULL)
        s_say(410, "Already released", "This message was already released.", status, html);
    else
        return rows;
    sl_rows_free(&rows);
    return NULL;
}

/* s_show - GET: what the link releases, and the button (a form posting to this URL). */
static void
s_show(qr_ctx_t *ctx, const qr_token_t *t, int *status, char **html)
{
    sl_rows_t *rows = s_held(ctx, t, status, html);
    if (rows == NULL)
        return;
    const char *sender = sl_rows_get(rows, 0, 0);
    qr_jbuf_t b = {0};
    qr_jbuf_raw(&b, "<p>Release this message from quarantine to ");
    qr_digest_html(&b, t->rcpt);
    qr_jbuf_raw(&b, "?</p>\n<table>\n<tr><th>From</th><td>");
    qr_digest_html(&b, sender && sender[0] ? sender : "<>");
    qr_jbuf_raw(&b, "</td></tr>\n<tr><th>Subject</th><td>");
    qr_digest_html(&b, sl_rows_get(rows, 0, 1));
    qr_jbuf_raw(&b, "</td></tr>\n</table>\n<form method=\"post\">"
                    "<button type=\"submit\">Release</button></form>");
    s_page(200, "Release message", b.buf, status, html);
    qr_jbuf_free(&b);
    sl_rows_free(&rows);
}

/* s_redeem - POST: marks the nonce used (checked in the same transaction),
 * then releases; a release that fails for a passing reason gives the link back. */
static void
s_redeem(qr_ctx_t *ctx, const qr_token_t *t, int *status, char **html)
{
    char now[24];
    snprintf(now, sizeof now, "%llu", (unsigned long long)sl_now_ms());
    if (sl_store_begin(ctx->store) != 0)
        goto store_error;
    int row = s_token_row(ctx, t);
    if (row != 1) {
        sl_store_rollback(ctx->store);
        if (row == -2)
            goto store_error;
        if (row == 0)
            s_used(status, html);
        else
            s_invalid(status, html);
        return;
    }
    sl_rows_t *held = s_held(ctx, t, status, html); /* gone or released: the link stays */
    if (held == NULL) {
        sl_store_rollback(ctx->store);
        return;
    }
    sl_rows_free(&held);
    const char *p[] = {now, t->nonce};
    if (sl_store_exec(ctx->store,
                      "UPDATE quarantine_token SET used_ms = ? WHERE nonce = ? AND used_ms IS NULL",
                      p, 2) != 0) {
        sl_store_rollback(ctx->store);
        goto store_error;
    }
    if (sl_store_changes(ctx->store) != 1) {
        sl_store_rollback(ctx->store);
        s_used(status, html);
        return;
    }
    if (sl_store_commit(ctx->store) != 0) {
        sl_store_rollback(ctx->store);
        goto store_error;
    }
    const char *why = NULL;
    int rc = qr_release(ctx, t->id, t->rcpt, &why);
    if (rc == 0) {
        sl_log_info(t->id, "digest link release rcpt=%s nonce=%s", t->rcpt, t->nonce);
        s_say(200, "Released", "The message was released and is on its way to your inbox.", status,
              html);
    } else if (rc == 1) {
        s_say(410, "Already released", "This message was already released.", status, html);
    } else {
        sl_log_warn(t->id, "digest link release failed rcpt=%s reason=\"%s\"", t->rcpt,
                    why ? why : "?");
        const char *q[] = {t->nonce};
        sl_store_exec(ctx->store, "UPDATE quarantine_token SET used_ms = NULL WHERE nonce = ?", q,
                      1);
        s_say(500, "Not released",
              "The message could not be released just now; try the link "
              "again later or use the quarantine dashboard.",
              status, html);
    }
    return;
store_error:
    sl_log_error(t->id, "digest link store error=\"%s\"", sl_store_error(ctx->store));
    s_say(500, "Try again later", "The quarantine cannot be reached just now.", status, html);
}

void
qr_digest_http(qr_ctx_t *ctx, const char *method, const char *token, int *status, char **html)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (!get && strcmp(method, "POST") != 0) {
        s_say(405, "Method not allowed", "Use the button on the release page.", status, html);
        return;
    }
    size_t len = strnlen(token, QR_TOKEN_MAX + 1);
    qr_token_t t;
    const char *why = NULL;
    int rc = len > QR_TOKEN_MAX ? -1
                                : qr_token_verify(ctx->secret, sizeof ctx->secret, token, len,
                                                  sl_now_ms() / 1000, &t, &why);
    if (rc == QR_TOKEN_EXPIRED) {
        s_say(410, "Link expired",
              "This release link has expired. Open the quarantine dashboard to release the "
              "message.",
              status, html);
        return;
    }
    if (rc != 0) {
        char shown[64];
        sl_log_info(NULL, "digest link refused method=%s reason=\"%s\" token=\"%s\"", method,
                    why ? why : "token too long", sl_log_str(token, len, shown, sizeof shown));
        s_invalid(status, html);
        return;
    }
    if (!get) {
        s_redeem(ctx, &t, status, html);
        return;
    }
    int row = s_token_row(ctx, &t);
    if (row == 1)
        s_show(ctx, &t, status, html);
    else if (row == 0)
        s_used(status, html);
    else if (row == -1)
        s_invalid(status, html);
    else
        s_say(500, "Try again later", "The quarantine cannot be reached just now.", status, html);
}
