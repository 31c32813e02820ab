/*
 * quarantine/qr_digest.c - quarantine digests: which users are due, the
 * digest message itself, and its handoff to sluice-delivery.
 *
 * Once a day (or a week) at the hour the user chose, a user of role "user"
 * with new unreleased mail in quarantine gets one message listing it, each
 * row with a signed single-use release link (qr_digest_token.c; redeemed in
 * qr_digest_http.c). The digest is written to the delivery queue under a name
 * made of the mailbox and the schedule slot, and its tokens derive their
 * nonces from that name and their expiry from the slot: if the process dies
 * between the write and the record (tokens, last_digest_ms), the next tick
 * rewrites the same file with the same links instead of queueing a second,
 * different digest (if delivery took the first copy already, the user gets
 * it twice, with links that work in both).
 * Sender and subject come from mail (hostile): HTML-escaped in the html part,
 * control bytes replaced in the text part, and both parts quoted-printable so
 * no line exceeds RFC 5322's limit and no body line can forge the boundary.
 * Tests: tests/e2e/test_quarantine_digest.py
 */
#include "qr_digest.h"
#include "qr.h"
#include "qr_digest_token.h"
#include "sl_dqueue.h"
#include "sl_log.h"
#include "sl_mem.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QR_DIGEST_ROWS_MAX 200               /* rows listed; then "and N more" */
#define QR_DIGEST_ROWS_SQL "200"             /* the same, for LIMIT */
#define QR_DIGEST_FIRST_MS (7 * 86400000ull) /* a first digest looks back a week */
#define QR_DIGEST_USERS_BATCH 500            /* users read per query */
#define QR_DIGEST_USERS_SQL "500"            /* the same, for LIMIT */
#define QR_DIGEST_TOKEN_KEEP_MS 86400000ull  /* expired tokens kept a day, then deleted */
#define QR_DAY_MS 86400000ull

static const char *const s_migrations[] = {
    "CREATE TABLE quarantine_token (nonce TEXT PRIMARY KEY, id TEXT NOT NULL,"
    " rcpt TEXT NOT NULL, expires_ms INTEGER NOT NULL, used_ms INTEGER, digest TEXT);"
    "CREATE INDEX quarantine_token_expires ON quarantine_token (expires_ms);",
};

int
qr_digest_migrate(sl_store_t *store)
{
    return sl_store_migrate(store, "quarantine_token", s_migrations,
                            sizeof s_migrations / sizeof s_migrations[0]);
}

/* One listed row and its link. */
typedef struct {
    qr_token_t token;            /* id, rcpt, expiry, nonce */
    char link[QR_TOKEN_MAX + 1]; /* signed token; "" when it could not be made */
} s_entry_t;

/* What one digest is made of. */
typedef struct {
    const char *login;             /* quarantine_user.login */
    const char *mailbox;           /* the user's scope: recipient of the digest */
    uint64_t slot_ms;              /* the schedule slot this digest is for */
    uint64_t period_ms;            /* a day or a week: the next slot is slot + period */
    char qid[72];                  /* queue id of the digest: "digest-" + slot */
    char name[SL_DQUEUE_NAME_MAX]; /* queue file name */
    int64_t total;                 /* new rows in all */
    sl_rows_t *rows;               /* the listed ones, newest first */
    s_entry_t *entries;            /* one per listed row */
} s_digest_t;

/* s_safe_addr - an address that can go into a header and the queue file. */
static bool
s_safe_addr(const char *s)
{
    size_t len = strnlen(s, SL_DQUEUE_ADDR_MAX);
    if (len == 0 || len >= SL_DQUEUE_ADDR_MAX || strchr(s, '@') == NULL)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || s[i] == '<' || s[i] == '>')
            return false;
    return true;
}

/* s_slot_ms - the last moment at or before NOW_MS when the schedule came
 * round: HOUR:00 UTC every day, or on weekday WDAY (weekly). */
static uint64_t
s_slot_ms(bool weekly, int hour, int wday, uint64_t now_ms)
{
    uint64_t day = now_ms / QR_DAY_MS * QR_DAY_MS;
    uint64_t slot = day + (uint64_t)hour * 3600000ull;
    if (weekly) {
        int today = (int)((now_ms / QR_DAY_MS + 4) % 7); /* 1970-01-01 was a Thursday */
        slot -= (uint64_t)((today - wday + 7) % 7) * QR_DAY_MS;
        if (slot > now_ms)
            slot -= 7 * QR_DAY_MS;
    } else if (slot > now_ms) {
        slot -= QR_DAY_MS;
    }
    return slot;
}

/* The ways a time is shown: in a list, in a Date: header, in a queue id. */
typedef enum { S_TIME_LIST, S_TIME_HEADER, S_TIME_SLOT } s_time_fmt_t;

static void
s_utc(uint64_t ms, s_time_fmt_t how, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = how == S_TIME_HEADER ? strftime(buf, size, "%a, %d %b %Y %H:%M:%S +0000", &tm)
               : how == S_TIME_SLOT ? strftime(buf, size, "%Y%m%d%H", &tm)
                                    : strftime(buf, size, "%Y-%m-%d %H:%M UTC", &tm);
    if (n == 0)
        buf[0] = '\0';
}

void
qr_digest_html(qr_jbuf_t *b, const char *text)
{
    char one[2] = {0, 0};
    for (const char *p = text ? text : ""; *p; p++) {
        const char *ent = *p == '&'    ? "&amp;"
                          : *p == '<'  ? "&lt;"
                          : *p == '>'  ? "&gt;"
                          : *p == '"'  ? "&quot;"
                          : *p == '\'' ? "&#39;"
                                       : NULL;
        if (ent == NULL) {
            one[0] = ((unsigned char)*p < ' ' || *p == 0x7f) ? '?' : *p;
            ent = one;
        }
        qr_jbuf_raw(b, ent);
    }
}

void
qr_digest_plain(qr_jbuf_t *b, const char *text)
{
    char one[2] = {0, 0};
    for (const char *p = text ? text : ""; *p; p++) {
        one[0] = ((unsigned char)*p < ' ' || *p == 0x7f) ? '?' : *p;
        qr_jbuf_raw(b, one);
    }
}

/* s_qp - appends TEXT ('\n' separated lines) quoted-printable (RFC 2045
 * 6.7) with CRLF line ends and soft breaks before column 76. */
static void
s_qp(qr_jbuf_t *out, const char *text, size_t len)
{
    size_t col = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n') {
            qr_jbuf_raw(out, "\r\n");
            col = 0;
            continue;
        }
        bool line_end = i + 1 == len || text[i + 1] == '\n';
        bool literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !line_end);
        char enc[4];
        if (literal) {
            enc[0] = (char)c;
            enc[1] = '\0';
        } else {
            snprintf(enc, sizeof enc, "=%02X", c);
        }
        size_t w = strlen(enc);
        if (col + w > 75) {
            qr_jbuf_raw(out, "=\r\n");
            col = 0;
        }
        qr_jbuf_raw(out, enc);
        col += w;
    }
}

/* The columns of a listed row, as both parts show them (after the date). */
static const struct {
    const char *label; /* heading */
    size_t col;        /* column of the row query */
} s_fields[] = {{"From", 2}, {"Subject", 3}, {"Classification", 4}, {"Score", 5}};

/* s_parts - the text/plain and text/html alternatives (before
 * quoted-printable), written side by side from one pass over the rows. The
 * html is one table: no script, no remote content. */
static void
s_parts(qr_jbuf_t *text, qr_jbuf_t *html, const qr_ctx_t *ctx, const s_digest_t *d)
{
    size_t n = sl_rows_count(d->rows);
    char intro[128];
    snprintf(intro, sizeof intro, "%lld new message%s held in quarantine for ", (long long)d->total,
             d->total == 1 ? " is" : "s are");
    qr_jbuf_raw(text, intro);
    qr_digest_plain(text, d->mailbox);
    qr_jbuf_raw(text, ".\nA release link delivers the message to your inbox; each works once.\n");
    qr_jbuf_raw(html, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                      "<title>Quarantine digest</title></head>\n<body>\n<p>");
    qr_jbuf_raw(html, intro);
    qr_digest_html(html, d->mailbox);
    qr_jbuf_raw(html,
                ". A release link delivers the message to your inbox; each works once.</p>\n"
                "<table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">\n<tr><th>Date</th>");
    for (size_t f = 0; f < sizeof s_fields / sizeof s_fields[0]; f++)
        qr_jbuf_printf(html, "<th>%s</th>", s_fields[f].label);
    qr_jbuf_raw(html, "<th></th></tr>\n");
    for (size_t r = 0; r < n; r++) {
        char when[32];
        s_utc((uint64_t)sl_rows_int(d->rows, r, 1, 0), S_TIME_LIST, when, sizeof when);
        qr_jbuf_printf(text, "\n%-15s %s\n", "Date:", when);
        qr_jbuf_printf(html, "<tr><td>%s</td>", when);
        for (size_t f = 0; f < sizeof s_fields / sizeof s_fields[0]; f++) {
            const char *v = sl_rows_get(d->rows, r, s_fields[f].col);
            if (s_fields[f].col == 2 && (v == NULL || v[0] == '\0'))
                v = "<>"; /* the null sender */
            qr_jbuf_printf(text, "%s:%*s", s_fields[f].label, (int)(15 - strlen(s_fields[f].label)),
                           "");
            qr_digest_plain(text, v);
            qr_jbuf_raw(text, "\n");
            qr_jbuf_raw(html, "<td>");
            qr_digest_html(html, v);
            qr_jbuf_raw(html, "</td>");
        }
        qr_jbuf_raw(text, "Release:        ");
        qr_jbuf_raw(html, "\n<td>");
        if (d->entries[r].link[0]) {
            qr_jbuf_t url = {0};
            qr_jbuf_printf(&url, "%s/r/%s", ctx->base_url, d->entries[r].link);
            qr_jbuf_raw(text, url.buf);
            qr_jbuf_raw(html, "<a href=\"");
            qr_digest_html(html, url.buf);
            qr_jbuf_raw(html, "\">Release</a>");
            qr_jbuf_free(&url);
        } else {
            qr_jbuf_raw(text, "(from the dashboard)");
        }
        qr_jbuf_raw(text, "\n");
        qr_jbuf_raw(html, "</td></tr>\n");
    }
    qr_jbuf_raw(html, "</table>\n");
    if ((int64_t)n < d->total) {
        long long more = (long long)(d->total - (int64_t)n);
        qr_jbuf_printf(text, "\n... and %lld more: %s/\n", more, ctx->base_url);
        qr_jbuf_printf(html, "<p>... and %lld more: <a href=\"", more);
        qr_digest_html(html, ctx->base_url);
        qr_jbuf_raw(html, "/\">open the quarantine</a></p>\n");
    }
    qr_jbuf_raw(html, "</body></html>\n");
}

/* s_compose - the whole RFC 5322 message (CRLF line ends) into OUT. The
 * boundary contains "=_", which quoted-printable never produces. */
static void
s_compose(qr_jbuf_t *out, const qr_ctx_t *ctx, const s_digest_t *d, uint64_t now_ms)
{
    char date[64];
    s_utc(now_ms, S_TIME_HEADER, date, sizeof date);
    const char *host = ctx->hostname[0] ? ctx->hostname : "localhost";
    qr_jbuf_printf(out,
                   "From: %s\r\nTo: %s\r\nSubject: Quarantine digest: %lld new message%s\r\n"
                   "Date: %s\r\nMessage-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n"
                   "Auto-Submitted: auto-generated\r\n"
                   "Content-Type: multipart/alternative; boundary=\"=_sluice_%s\"\r\n\r\n",
                   ctx->digest_from, d->mailbox, (long long)d->total, d->total == 1 ? "" : "s",
                   date, d->name, host, d->name);
    qr_jbuf_t parts[2] = {{0}, {0}}; /* text, html */
    s_parts(&parts[0], &parts[1], ctx, d);
    for (int html = 0; html < 2; html++) {
        qr_jbuf_printf(out,
                       "--=_sluice_%s\r\nContent-Type: text/%s; charset=utf-8\r\n"
                       "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
                       d->name, html ? "html" : "plain");
        s_qp(out, parts[html].buf, parts[html].len);
        qr_jbuf_raw(out, "\r\n");
        qr_jbuf_free(&parts[html]);
    }
    qr_jbuf_printf(out, "--=_sluice_%s--\r\n", d->name);
}

/* s_make_links - a token per listed row. Nonce and expiry depend only on
 * the digest (its name, slot and period) and the config, never on the
 * clock, so a rewrite after a crash carries the very same links. A link is
 * valid for digest_link_ttl counted from the schedule slot, and at least
 * until an hour after the next slot: the digest goes out before the next
 * slot (s_slot_ms), so even a very late one (the daemon was down) leaves
 * more than an hour to use its links. */
static void
s_make_links(const qr_ctx_t *ctx, s_digest_t *d)
{
    size_t n = sl_rows_count(d->rows);
    d->entries = sl_xcalloc(n ? n : 1, sizeof *d->entries);
    uint64_t expiry_ms = d->slot_ms + ctx->link_ttl_ms;
    uint64_t floor_ms = d->slot_ms + d->period_ms + 3600000ull;
    if (expiry_ms < floor_ms)
        expiry_ms = floor_ms;
    for (size_t r = 0; r < n; r++) {
        s_entry_t *e = &d->entries[r];
        const char *id = sl_rows_get(d->rows, r, 0);
        const char *why = NULL;
        if (sl_strlcpy(e->token.id, id ? id : "", sizeof e->token.id) >= sizeof e->token.id ||
            sl_strlcpy(e->token.rcpt, d->mailbox, sizeof e->token.rcpt) >= sizeof e->token.rcpt) {
            sl_log_warn(id, "digest no link rcpt=%s reason=\"field too long\"", d->mailbox);
            continue;
        }
        e->token.expiry_s = expiry_ms / 1000;
        qr_token_nonce(ctx->secret, sizeof ctx->secret, d->name, &e->token);
        if (qr_token_sign(ctx->secret, sizeof ctx->secret, &e->token, e->link, sizeof e->link,
                          &why) != 0) {
            e->link[0] = '\0';
            sl_log_warn(id, "digest no link rcpt=%s reason=\"%s\"", d->mailbox, why);
        }
    }
}

/* s_record - the tokens of the written digest and the user's last_digest_ms,
 * in one transaction. */
static int
s_record(qr_ctx_t *ctx, const s_digest_t *d, uint64_t now_ms)
{
    char now[24];
    snprintf(now, sizeof now, "%llu", (unsigned long long)now_ms);
    if (sl_store_begin(ctx->store) != 0)
        return -1;
    for (size_t r = 0; d->entries && r < sl_rows_count(d->rows); r++) {
        const s_entry_t *e = &d->entries[r];
        if (e->link[0] == '\0')
            continue;
        char exp[24];
        snprintf(exp, sizeof exp, "%llu", (unsigned long long)e->token.expiry_s * 1000);
        const char *p[] = {e->token.nonce, e->token.id, e->token.rcpt, exp, d->name};
        if (sl_store_exec(ctx->store,
                          "INSERT INTO quarantine_token (nonce, id, rcpt, expires_ms, digest)"
                          " VALUES (?, ?, ?, ?, ?) ON CONFLICT (nonce) DO NOTHING",
                          p, 5) != 0)
            goto fail;
    }
    const char *p[] = {now, d->login};
    if (sl_store_exec(ctx->store, "UPDATE quarantine_user SET last_digest_ms = ? WHERE login = ?",
                      p, 2) != 0 ||
        sl_store_commit(ctx->store) != 0)
        goto fail;
    return 0;
fail:
    sl_log_error(d->qid, "digest record failed login=%s error=\"%s\"", d->login,
                 sl_store_error(ctx->store));
    sl_store_rollback(ctx->store);
    return -1;
}

/* s_send - composes digest D and hands it to the delivery queue. */
static int
s_send(qr_ctx_t *ctx, s_digest_t *d, uint64_t now_ms)
{
    s_make_links(ctx, d);
    qr_jbuf_t msg = {0};
    s_compose(&msg, ctx, d, now_ms);
    sl_dqueue_hdr_t hdr = {.created_ms = now_ms};
    sl_strlcpy(hdr.id, d->qid, sizeof hdr.id);
    sl_strlcpy(hdr.from, ctx->digest_from, sizeof hdr.from);
    sl_strlcpy(hdr.kind, "mail", sizeof hdr.kind);
    sl_dqueue_hdr_add_rcpt(&hdr, d->mailbox);
    sl_slice_t body = {.ptr = msg.buf, .len = msg.len};
    const char *why = NULL;
    int rc = sl_dqueue_write(ctx->queue_dir, d->name, &hdr, &body, 1, &why);
    if (rc == 0)
        rc = sl_dqueue_sync(ctx->queue_dir, &why);
    sl_dqueue_hdr_clear(&hdr);
    qr_jbuf_free(&msg);
    if (rc != 0) {
        sl_log_error(d->qid, "digest not queued login=%s reason=\"%s\"", d->login, why);
        return -1;
    }
    sl_log_info(d->qid, "digest queued login=%s rcpt=%s messages=%lld listed=%zu name=%s", d->login,
                d->mailbox, (long long)d->total, sl_rows_count(d->rows), d->name);
    return s_record(ctx, d, now_ms);
}

/* s_user - row R of the user query: sends that user's digest when due.
 * 1 sent, 0 nothing due, -1 failed. */
static int
s_user(qr_ctx_t *ctx, const sl_rows_t *users, size_t r, uint64_t now_ms)
{
    s_digest_t d = {.login = sl_rows_get(users, r, 0), .mailbox = sl_rows_get(users, r, 1)};
    const char *kind = sl_rows_get(users, r, 2);
    int64_t hour = sl_rows_int(users, r, 3, -1), wday = sl_rows_int(users, r, 4, 0);
    int64_t last = sl_rows_int(users, r, 5, 0);
    bool weekly = kind && strcmp(kind, "weekly") == 0;
    if (d.mailbox == NULL || !s_safe_addr(d.mailbox) || hour < 0 || hour > 23 || wday < 0 ||
        wday > 6) {
        sl_log_warn(NULL, "digest skipped login=%s reason=\"bad scope or schedule\"", d.login);
        return -1;
    }
    uint64_t slot = s_slot_ms(weekly, (int)hour, (int)wday, now_ms);
    if (last > 0 && (uint64_t)last >= slot)
        return 0;
    d.slot_ms = slot;
    d.period_ms = weekly ? 7 * QR_DAY_MS : QR_DAY_MS;
    uint64_t since = now_ms > QR_DIGEST_FIRST_MS ? now_ms - QR_DIGEST_FIRST_MS : 0;
    if (last > 0 && (uint64_t)last > since)
        since = (uint64_t)last;
    char since_s[24], now_s[24];
    snprintf(since_s, sizeof since_s, "%llu", (unsigned long long)since);
    snprintf(now_s, sizeof now_s, "%llu", (unsigned long long)now_ms);
    const char *p[] = {d.mailbox, since_s, now_s};
    sl_rows_t *count = sl_store_query(ctx->store,
                                      "SELECT COUNT(*) FROM quarantine WHERE rcpt = ? AND"
                                      " released_ms IS NULL AND time_ms > ? AND time_ms <= ?",
                                      p, 3);
    if (count == NULL)
        goto fail;
    d.total = sl_rows_count(count) ? sl_rows_int(count, 0, 0, 0) : 0;
    sl_rows_free(&count);
    if (d.total == 0) {
        /* Nothing new at this slot: the next digest is at the next one. */
        const char *q[] = {now_s, d.login};
        return sl_store_exec(ctx->store,
                             "UPDATE quarantine_user SET last_digest_ms = ? WHERE login = ?", q,
                             2) == 0
                   ? 0
                   : -1;
    }
    d.rows = sl_store_query(ctx->store,
                            "SELECT id, time_ms, sender, subject, classification, score FROM"
                            " quarantine WHERE rcpt = ? AND released_ms IS NULL AND time_ms > ?"
                            " AND time_ms <= ? ORDER BY time_ms DESC, id DESC"
                            " LIMIT " QR_DIGEST_ROWS_SQL,
                            p, 3);
    if (d.rows == NULL)
        goto fail;
    char when[16];
    s_utc(slot, S_TIME_SLOT, when, sizeof when);
    snprintf(d.qid, sizeof d.qid, "digest-%s", when);
    const char *rcpts[] = {d.mailbox};
    sl_dqueue_name(d.qid, rcpts, 1, "quarantine-digest", d.name, sizeof d.name);
    int rc = s_send(ctx, &d, now_ms);
    sl_rows_free(&d.rows);
    free(d.entries);
    return rc == 0 ? 1 : -1;
fail:
    sl_log_error(NULL, "digest query failed login=%s error=\"%s\"", d.login,
                 sl_store_error(ctx->store));
    return -1;
}

int
qr_digest_tick(qr_ctx_t *ctx, uint64_t now_ms)
{
    char horizon[24];
    uint64_t keep = now_ms > QR_DIGEST_TOKEN_KEEP_MS ? now_ms - QR_DIGEST_TOKEN_KEEP_MS : 0;
    snprintf(horizon, sizeof horizon, "%llu", (unsigned long long)keep);
    const char *hp[] = {horizon};
    if (sl_store_exec(ctx->store, "DELETE FROM quarantine_token WHERE expires_ms < ?", hp, 1) != 0)
        sl_log_warn(NULL, "digest token cleanup failed error=\"%s\"", sl_store_error(ctx->store));

    if (!s_safe_addr(ctx->digest_from)) {
        sl_log_error(NULL, "digests not sent: quarantine.digest_from is not a plain address");
        return -1;
    }
    int sent = 0;
    char after[1024] = "";
    for (;;) {
        const char *p[] = {after};
        sl_rows_t *users = sl_store_query(
            ctx->store,
            "SELECT login, scope, digest, digest_hour, digest_wday, last_digest_ms"
            " FROM quarantine_user WHERE role = 'user' AND digest IN ('daily', 'weekly')"
            " AND login > ? ORDER BY login LIMIT " QR_DIGEST_USERS_SQL,
            p, 1);
        if (users == NULL) {
            sl_log_error(NULL, "digest users query failed error=\"%s\"",
                         sl_store_error(ctx->store));
            return -1;
        }
        size_t n = sl_rows_count(users);
        for (size_t r = 0; r < n; r++)
            if (s_user(ctx, users, r, now_ms) == 1)
                sent++;
        bool more = n == QR_DIGEST_USERS_BATCH &&
                    sl_strlcpy(after, sl_rows_get(users, n - 1, 0), sizeof after) < sizeof after;
        sl_rows_free(&users);
        if (!more)
            break;
    }
    return sent;
}
