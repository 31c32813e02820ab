/*
 * quarantine/qr_api.c - the mailbox and admin endpoints of API.md: list and
 * search, view, raw download, release, report, delete, sender lists, digest
 * settings, message trace and statistics.
 *
 * Every id is looked up together with the user's scope (qr_find), so an id
 * outside it is 404 like an id that does not exist. Query arguments and
 * bodies are hostile: numbers are parsed strictly, texts are bounded.
 * Tests: tests/e2e/test_quarantine.py
 */
#include "qr_http.h"
#include "score_bayes.h"
#include "sl_log.h"
#include "sl_mem.h"
#include "sl_msglog.h"
#include "sl_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define S_PER_PAGE_MAX 200      /* API.md */
#define S_PER_PAGE_DEF 50       /* API.md */
#define S_ITEMS_MAX 500         /* items in one release/report/delete */
#define S_FILTER_MAX 256        /* a search text */
#define S_STATS_DAYS_MAX 366    /* /api/stats?days= */
#define S_PAGE_MAX 1000000      /* page numbers */
#define S_TOTAL_MAX 10000       /* rows counted for "total"; past it "more" is true */
#define S_SEARCH_TOTAL_MAX 1000 /* the same with a text filter (q, sender, subject) */

/* s_arg_int - query argument NAME as an integer in MIN..MAX: 1 set, 0 absent, -1 invalid. */
static int
s_arg_int(const qr_req_t *req, const char *name, int64_t min, int64_t max, int64_t *out)
{
    const char *v = qr_arg(req, name);
    if (v == NULL || v[0] == '\0')
        return 0;
    int64_t n = 0;
    size_t i = 0;
    bool neg = v[0] == '-';
    if (neg)
        i++;
    if (v[i] == '\0' || strlen(v) > 19)
        return -1;
    for (; v[i]; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        n = n * 10 + (v[i] - '0');
    }
    n = neg ? -n : n;
    if (n < min || n > max)
        return -1;
    *out = n;
    return 1;
}

/* s_arg_num - a decimal score: digits, one dot, optional minus. */
static int
s_arg_num(const qr_req_t *req, const char *name, char *buf, size_t size)
{
    const char *v = qr_arg(req, name);
    if (v == NULL || v[0] == '\0')
        return 0;
    size_t n = strlen(v), dots = 0;
    if (n >= size || n > 20)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '.')
            dots++;
        else if (!(v[i] >= '0' && v[i] <= '9') && !(i == 0 && v[i] == '-'))
            return -1;
    }
    if (dots > 1 || strcmp(v, "-") == 0 || strcmp(v, ".") == 0)
        return -1;
    memcpy(buf, v, n + 1);
    return 1;
}

/* s_like - "%TEXT%" lower-cased with LIKE's wildcards escaped. */
static int
s_like(const char *text, char *out, size_t size)
{
    size_t n = 0;
    out[n++] = '%';
    for (const char *p = text; *p; p++) {
        if (n + 4 > size)
            return -1;
        if (*p == '%' || *p == '_' || *p == '\\')
            out[n++] = '\\';
        out[n++] = *p >= 'A' && *p <= 'Z' ? (char)(*p + 32) : *p;
    }
    out[n++] = '%';
    out[n] = '\0';
    return 0;
}

/* s_cat_like - appends "PREFIX COLUMN LIKE ? ESCAPE '\'" with the
 * case-insensitive LIKE of the backend: SQLite's LIKE already ignores ASCII
 * case (a lower() per row would cost a million calls), PostgreSQL needs ILIKE. */
static void
s_cat_like(const qr_req_t *req, char *where, size_t size, const char *prefix, const char *column)
{
    bool pg = strcmp(sl_store_backend(req->ctx->store), "postgresql") == 0;
    size_t len = strlen(where);
    snprintf(where + len, size - len, "%s%s %s ? ESCAPE '\\'", prefix, column,
             pg ? "ILIKE" : "LIKE");
}

/* s_row_json - one quarantine row (QR_COLUMNS at R) as a JSON object, without the closing brace. */
static void
s_row_json(qr_req_t *req, qr_jbuf_t *b, const sl_rows_t *rows, size_t r)
{
    qr_jbuf_raw(b, "{");
    qr_jbuf_key(b, "id");
    qr_jbuf_str(b, sl_rows_get(rows, r, 0));
    qr_jbuf_key(b, "rcpt");
    qr_jbuf_str(b, sl_rows_get(rows, r, 1));
    qr_jbuf_key(b, "time_ms");
    qr_jbuf_printf(b, "%lld", (long long)sl_rows_int(rows, r, 2, 0));
    qr_jbuf_key(b, "sender");
    qr_jbuf_str(b, sl_rows_get(rows, r, 3) ? sl_rows_get(rows, r, 3) : "");
    qr_jbuf_key(b, "subject");
    qr_jbuf_str(b, sl_rows_get(rows, r, 4) ? sl_rows_get(rows, r, 4) : "");
    qr_jbuf_key(b, "classification");
    qr_jbuf_str(b, sl_rows_get(rows, r, 5) ? sl_rows_get(rows, r, 5) : "");
    qr_jbuf_key(b, "score");
    const char *score = sl_rows_get(rows, r, 6);
    qr_jbuf_printf(b, "%.2f", score ? strtod(score, NULL) : 0.0);
    qr_jbuf_key(b, "reason");
    qr_jbuf_str(b, sl_rows_get(rows, r, 7) ? sl_rows_get(rows, r, 7) : "");
    qr_jbuf_key(b, "released_ms");
    if (sl_rows_get(rows, r, 8))
        qr_jbuf_printf(b, "%lld", (long long)sl_rows_int(rows, r, 8, 0));
    else
        qr_jbuf_raw(b, "null");
    char path[4200];
    struct stat st;
    long long size = 0;
    if (qr_msg_path(req->ctx, sl_rows_get(rows, r, 0), path, sizeof path) == 0 &&
        stat(path, &st) == 0)
        size = (long long)st.st_size;
    qr_jbuf_key(b, "size");
    qr_jbuf_printf(b, "%lld", size);
}

/* s_page - page PAGE of COLUMNS from TABLE matching WHERE, newest first;
 * writes {"total": N, "more": B into OUT (the caller goes on). NULL on a
 * store error (OUT untouched). total is counted up to CAP rows only, so it
 * stays cheap on a million rows; past it "more" is true; after a short page
 * it is the rows before it plus the page, uncounted.
 * With KEYED (table quarantine, key (id, rcpt)) the page's keys come first
 * from an index that holds them in the listing's order (time_ms, id, rcpt,
 * the scope's column before them: lib/sl_quarstore.c), so an OFFSET walks
 * index entries, not table rows, and only the page's 50 rows are read by
 * primary key; the ORDER BY matches those indexes in every column, so
 * nothing is sorted but the page. A join on a derived table, not "(id,
 * rcpt) IN (SELECT ...)": SQLite ran that subquery more than once (61 ms
 * against 30 ms at OFFSET 150,000). Without KEYED (msglog) the plain
 * "ORDER BY time_ms DESC LIMIT OFFSET" on its (time_ms) index. */
static sl_rows_t *
s_page(qr_req_t *req, const char *table, const char *columns, bool keyed, const char *where,
       const char *const *params, size_t n, int64_t page, int64_t per_page, int cap, qr_jbuf_t *out)
{
    static const char order[] = "time_ms DESC, id DESC, rcpt DESC";
    char sql[4096];
    long long limit = (long long)per_page, offset = (long long)((page - 1) * per_page);
    if (keyed)
        snprintf(sql, sizeof sql,
                 "SELECT %s FROM (SELECT id AS page_id, rcpt AS page_rcpt FROM %s WHERE %s"
                 " ORDER BY %s LIMIT %lld OFFSET %lld) AS page JOIN %s ON id = page_id"
                 " AND rcpt = page_rcpt ORDER BY %s",
                 columns, table, where, order, limit, offset, table, order);
    else
        snprintf(sql, sizeof sql,
                 "SELECT %s FROM %s WHERE %s ORDER BY time_ms DESC LIMIT %lld OFFSET %lld", columns,
                 table, where, limit, offset);
    sl_rows_t *rows = sl_store_query(req->ctx->store, sql, params, n);
    if (rows == NULL)
        return NULL;
    /* A short page that is not past the end is the last one: the total is
     * known without counting (a search that matches nothing reads every row
     * in scope once, not twice). */
    long long got = (long long)sl_rows_count(rows), total = offset + got;
    if (got == limit || (got == 0 && page > 1)) {
        snprintf(sql, sizeof sql,
                 "SELECT COUNT(*) FROM (SELECT 1 FROM %s WHERE %s LIMIT %d) AS capped", table,
                 where, cap + 1);
        sl_rows_t *count = sl_store_query(req->ctx->store, sql, params, n);
        if (count == NULL) {
            sl_rows_free(&rows);
            return NULL;
        }
        total = sl_rows_int(count, 0, 0, 0);
        sl_rows_free(&count);
    }
    qr_jbuf_printf(out, "{\"total\":%lld,\"more\":%s", total > cap ? (long long)cap : total,
                   total > cap ? "true" : "false");
    return rows;
}

static void
s_list(qr_req_t *req, qr_resp_t *resp)
{
    char where[2048] = "1 = 1";
    const char *params[16];
    size_t n = 0;
    char scope_pat[QR_LOGIN_MAX * 2 + 4], q[S_FILTER_MAX * 2 + 4], snd[S_FILTER_MAX * 2 + 4],
        subj[S_FILTER_MAX * 2 + 4], mins[32], maxs[32], since[24], until[24];
    if (qr_scope_quarantine_sql(&req->user, where, sizeof where, params, &n, scope_pat,
                                sizeof scope_pat) != 0) {
        qr_resp_error(resp, 500, "scope");
        return;
    }
    const char *v;
    bool search = false; /* a text filter: LIKE '%x%' on every row in scope */
    if ((v = qr_arg(req, "q")) && v[0]) {
        search = true;
        if (strlen(v) > S_FILTER_MAX || s_like(v, q, sizeof q) != 0)
            goto bad;
        s_cat_like(req, where, sizeof where, " AND (", "sender");
        s_cat_like(req, where, sizeof where, " OR ", "subject");
        strcat(where, ")");
        params[n++] = q;
        params[n++] = q;
    }
    if ((v = qr_arg(req, "sender")) && v[0]) {
        search = true;
        if (strlen(v) > S_FILTER_MAX || s_like(v, snd, sizeof snd) != 0)
            goto bad;
        s_cat_like(req, where, sizeof where, " AND ", "sender");
        params[n++] = snd;
    }
    if ((v = qr_arg(req, "subject")) && v[0]) {
        search = true;
        if (strlen(v) > S_FILTER_MAX || s_like(v, subj, sizeof subj) != 0)
            goto bad;
        s_cat_like(req, where, sizeof where, " AND ", "subject");
        params[n++] = subj;
    }
    if ((v = qr_arg(req, "rcpt")) && v[0]) {
        if (strlen(v) > QR_LOGIN_MAX)
            goto bad;
        strcat(where, " AND rcpt = ?");
        params[n++] = v;
    }
    if ((v = qr_arg(req, "class")) && v[0]) {
        if (strlen(v) > 32)
            goto bad;
        strcat(where, " AND classification = ?");
        params[n++] = v;
    }
    int rc;
    if ((rc = s_arg_num(req, "min_score", mins, sizeof mins)) < 0)
        goto bad;
    if (rc > 0) {
        strcat(where, " AND score >= ?");
        params[n++] = mins;
    }
    if ((rc = s_arg_num(req, "max_score", maxs, sizeof maxs)) < 0)
        goto bad;
    if (rc > 0) {
        strcat(where, " AND score <= ?");
        params[n++] = maxs;
    }
    int64_t t, page = 1, per_page = S_PER_PAGE_DEF, released;
    if ((rc = s_arg_int(req, "since", 0, INT64_MAX / 2, &t)) < 0)
        goto bad;
    if (rc > 0) {
        snprintf(since, sizeof since, "%lld", (long long)t);
        strcat(where, " AND time_ms >= ?");
        params[n++] = since;
    }
    if ((rc = s_arg_int(req, "until", 0, INT64_MAX / 2, &t)) < 0)
        goto bad;
    if (rc > 0) {
        snprintf(until, sizeof until, "%lld", (long long)t);
        strcat(where, " AND time_ms < ?");
        params[n++] = until;
    }
    if ((rc = s_arg_int(req, "released", 0, 1, &released)) < 0)
        goto bad;
    if (rc > 0)
        strcat(where, released ? " AND released_ms IS NOT NULL" : " AND released_ms IS NULL");
    if (s_arg_int(req, "page", 1, S_PAGE_MAX, &page) < 0 ||
        s_arg_int(req, "per_page", 1, S_PER_PAGE_MAX, &per_page) < 0)
        goto bad;
    qr_jbuf_t b = {0};
    sl_rows_t *rows = s_page(req, "quarantine", QR_COLUMNS, true, where, params, n, page, per_page,
                             search ? S_SEARCH_TOTAL_MAX : S_TOTAL_MAX, &b);
    if (rows == NULL) {
        qr_resp_error(resp, 500, "store error");
        return;
    }
    qr_jbuf_printf(&b, ",\"page\":%lld,\"per_page\":%lld,\"messages\":[", (long long)page,
                   (long long)per_page);
    for (size_t r = 0; r < sl_rows_count(rows); r++) {
        if (r)
            qr_jbuf_raw(&b, ",");
        s_row_json(req, &b, rows, r);
        qr_jbuf_raw(&b, "}");
    }
    qr_jbuf_raw(&b, "]}");
    sl_rows_free(&rows);
    qr_resp_json(resp, 200, &b);
    return;
bad:
    qr_resp_error(resp, 400, "bad query argument");
}

static void
s_view(qr_req_t *req, qr_resp_t *resp, const char *id, bool raw)
{
    const char *rcpt = qr_arg(req, "rcpt");
    sl_rows_t *rows = qr_find(req->ctx, &req->user, id, rcpt);
    char path[4200];
    if (rows == NULL || qr_msg_path(req->ctx, id, path, sizeof path) != 0) {
        sl_rows_free(&rows);
        qr_resp_error(resp, 404, "no such message");
        return;
    }
    if (raw) {
        sl_rows_free(&rows);
        size_t len = 0;
        char *data = qr_read_file(path, &len);
        if (data == NULL) {
            qr_resp_error(resp, 404, "message file missing");
            return;
        }
        resp->status = 200;
        resp->body = data;
        resp->len = len;
        resp->type = "message/rfc822";
        snprintf(resp->disposition, sizeof resp->disposition, "attachment; filename=\"%s.eml\"",
                 id);
        return;
    }
    qr_jbuf_t b = {0};
    s_row_json(req, &b, rows, 0);
    sl_rows_free(&rows);
    if (qr_view_json(path, &b) != 0) {
        qr_jbuf_free(&b);
        qr_resp_error(resp, 404, "message file missing");
        return;
    }
    qr_jbuf_key(&b, "trail");
    sl_rows_t *trail = sl_msglog_trail(req->ctx->store, id);
    const char *json = trail && sl_rows_count(trail) == 1 ? sl_rows_get(trail, 0, 1) : NULL;
    qr_jbuf_raw(&b, json && json[0] == '{' ? json : "null");
    sl_rows_free(&trail);
    qr_jbuf_raw(&b, "}");
    qr_resp_json(resp, 200, &b);
}

typedef enum { S_RELEASE, S_REPORT, S_DELETE } s_bulk_t;

/* s_bulk - release, report or delete the items of the body. */
static void
s_bulk(qr_req_t *req, qr_resp_t *resp, s_bulk_t what)
{
    const char *why = NULL;
    qr_jval_t *body = qr_json_parse(req->body, req->body_len, &why);
    const qr_jval_t *items = qr_json_get(body, "items");
    int allow = qr_json_bool(body, "allow_sender", false);
    int ham = qr_json_bool(body, "learn_ham", false);
    if (items == NULL || items->type != QR_J_ARR || items->count > S_ITEMS_MAX || allow < 0 ||
        ham < 0) {
        qr_json_free(&body);
        qr_resp_error(resp, 400, why ? why : "expected {\"items\": [{\"id\", \"rcpt\"}, ...]}");
        return;
    }
    score_bayes_t *bayes = NULL;
    bool learn = what == S_REPORT || (what == S_RELEASE && ham);
    if (learn) {
        char err[1024];
        bayes = score_bayes_open(req->ctx->bayes_url, err, sizeof err);
        if (bayes == NULL)
            sl_log_warn(NULL, "bayes store unavailable: %s", err);
    }
    qr_jbuf_t errs = {0};
    qr_jbuf_raw(&errs, "[");
    long done = 0;
    for (size_t i = 0; i < items->count; i++) {
        const char *id = qr_json_str(items->items[i], "id");
        const char *rcpt = qr_json_str(items->items[i], "rcpt");
        const char *err = NULL;
        sl_rows_t *row = id ? qr_find(req->ctx, &req->user, id, rcpt) : NULL;
        char rc_rcpt[QR_LOGIN_MAX + 1] = "", sender[512] = "";
        if (row == NULL)
            err = "no such message";
        else {
            sl_strlcpy(rc_rcpt, sl_rows_get(row, 0, 1), sizeof rc_rcpt);
            const char *s = sl_rows_get(row, 0, 3);
            sl_strlcpy(sender, s ? s : "", sizeof sender);
        }
        sl_rows_free(&row);
        if (err == NULL && what == S_RELEASE) {
            int rc = qr_release(req->ctx, id, rc_rcpt, &why);
            err = rc == 1 ? "already released" : rc < 0 ? why : NULL;
            if (rc == 0 && allow && sender[0] &&
                sl_policy_sender_set(req->ctx->store, rc_rcpt, "allow", sender, true, &why) != 0)
                sl_log_warn(id, "allow_sender failed reason=\"%s\"", why);
        } else if (err == NULL && what == S_DELETE) {
            err = qr_delete(req->ctx, id, rc_rcpt, &why) == 0 ? NULL : why;
        } else if (err == NULL && what == S_REPORT) {
            err = qr_mark_reported(req->ctx, id, rc_rcpt, &why) == 0 ? NULL : why;
        }
        if (err == NULL && bayes) {
            char path[4200];
            size_t len = 0;
            char *data =
                qr_msg_path(req->ctx, id, path, sizeof path) == 0 ? qr_read_file(path, &len) : NULL;
            if (data && score_bayes_learn(bayes, data, len, what == S_REPORT) != 0)
                sl_log_warn(id, "bayes learn failed");
            free(data);
        }
        if (err) {
            qr_jbuf_raw(&errs, errs.len > 1 ? ",{" : "{");
            qr_jbuf_key(&errs, "id");
            qr_jbuf_str(&errs, id ? id : "");
            qr_jbuf_key(&errs, "rcpt");
            qr_jbuf_str(&errs, rcpt ? rcpt : "");
            qr_jbuf_key(&errs, "error");
            qr_jbuf_str(&errs, err);
            qr_jbuf_raw(&errs, "}");
        } else
            done++;
    }
    score_bayes_close(&bayes);
    qr_json_free(&body);
    qr_jbuf_raw(&errs, "]");
    static const char *const names[] = {"released", "reported", "deleted"};
    qr_jbuf_t b = {0};
    qr_jbuf_printf(&b, "{\"%s\":%ld,\"errors\":%s}", names[what], done, errs.buf);
    qr_jbuf_free(&errs);
    qr_resp_json(resp, 200, &b);
}

void
qr_api_messages(qr_req_t *req, qr_resp_t *resp, const char *rest)
{
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    if (strcmp(rest, "messages") == 0) {
        if (get)
            s_list(req, resp);
        else
            qr_resp_error(resp, 405, "method not allowed");
        return;
    }
    const char *sub = rest + 9;
    static const char *const verbs[] = {"release", "report", "delete"};
    for (int v = 0; v < 3; v++) {
        if (strcmp(sub, verbs[v]) == 0) {
            if (post)
                s_bulk(req, resp, (s_bulk_t)v);
            else
                qr_resp_error(resp, 405, "method not allowed");
            return;
        }
    }
    char id[QR_ID_MAX + 1];
    const char *slash = strchr(sub, '/');
    size_t len = slash ? (size_t)(slash - sub) : strlen(sub);
    bool raw = slash && strcmp(slash, "/raw") == 0;
    if (len == 0 || len > QR_ID_MAX || (slash && !raw)) {
        qr_resp_error(resp, 404, "not found");
        return;
    }
    memcpy(id, sub, len);
    id[len] = '\0';
    if (!get)
        qr_resp_error(resp, 405, "method not allowed");
    else
        s_view(req, resp, id, raw);
}

/* s_list_target - the sender-list target of the user: mailbox, domain or "*". */
static const char *
s_list_target(const qr_req_t *req)
{
    return strcmp(req->user.role, "admin") == 0 ? "*" : req->user.scope;
}

static bool
s_address_ok(const char *a)
{
    size_t n = strlen(a);
    if (n == 0 || n > 254)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)a[i] <= ' ' || a[i] == 0x7f)
            return false;
    return true;
}

void
qr_api_lists(qr_req_t *req, qr_resp_t *resp)
{
    const char *target = s_list_target(req);
    if (strcmp(req->method, "POST") == 0) {
        const char *why = NULL;
        qr_jval_t *body = qr_json_parse(req->body, req->body_len, &why);
        const char *kind = qr_json_str(body, "kind"), *address = qr_json_str(body, "address");
        int add = qr_json_bool(body, "add", true);
        if (kind == NULL || address == NULL || add < 0 || !s_address_ok(address) ||
            (strcmp(kind, "allow") != 0 && strcmp(kind, "block") != 0)) {
            qr_json_free(&body);
            qr_resp_error(resp, 400, why ? why : "expected kind, address, add");
            return;
        }
        int rc = sl_policy_sender_set(req->ctx->store, target, kind, address, add, &why);
        qr_json_free(&body);
        if (rc != 0) {
            qr_resp_error(resp, 400, why);
            return;
        }
        qr_jbuf_t b = {0};
        qr_jbuf_raw(&b, "{\"ok\":true}");
        qr_resp_json(resp, 200, &b);
        return;
    }
    if (strcmp(req->method, "GET") != 0) {
        qr_resp_error(resp, 405, "method not allowed");
        return;
    }
    const char *p[] = {target};
    sl_rows_t *rows =
        sl_store_query(req->ctx->store,
                       "SELECT kind, sender FROM policy_sender WHERE target = ? ORDER BY sender"
                       " LIMIT 10000",
                       p, 1);
    if (rows == NULL) {
        qr_resp_error(resp, 500, "store error");
        return;
    }
    qr_jbuf_t b = {0};
    static const char *const kinds[] = {"allow", "block"};
    qr_jbuf_raw(&b, "{");
    for (int k = 0; k < 2; k++) {
        qr_jbuf_key(&b, kinds[k]);
        qr_jbuf_raw(&b, "[");
        bool first = true;
        for (size_t r = 0; r < sl_rows_count(rows); r++) {
            if (strcmp(sl_rows_get(rows, r, 0), kinds[k]) != 0)
                continue;
            if (!first)
                qr_jbuf_raw(&b, ",");
            first = false;
            qr_jbuf_str(&b, sl_rows_get(rows, r, 1));
        }
        qr_jbuf_raw(&b, "]");
    }
    qr_jbuf_raw(&b, "}");
    sl_rows_free(&rows);
    qr_resp_json(resp, 200, &b);
}

void
qr_api_digest(qr_req_t *req, qr_resp_t *resp)
{
    if (strcmp(req->method, "PUT") != 0) {
        qr_resp_error(resp, 405, "method not allowed");
        return;
    }
    const char *why = NULL;
    qr_jval_t *body = qr_json_parse(req->body, req->body_len, &why);
    const char *digest = qr_json_str(body, "digest");
    int64_t hour = 7, wday = 1;
    int rh = qr_json_int(body, "digest_hour", 0, 23, &hour);
    int rw = qr_json_int(body, "digest_wday", 0, 6, &wday);
    bool ok = digest &&
              (strcmp(digest, "off") == 0 || strcmp(digest, "daily") == 0 ||
               strcmp(digest, "weekly") == 0) &&
              rh >= 0 && rw >= 0;
    char h[8], w[8], d[8];
    if (ok) {
        sl_strlcpy(d, digest, sizeof d);
        snprintf(h, sizeof h, "%d", (int)hour);
        snprintf(w, sizeof w, "%d", (int)wday);
    }
    qr_json_free(&body);
    if (!ok) {
        qr_resp_error(resp, 400,
                      why ? why
                          : "expected digest off|daily|weekly, hour 0-23, "
                            "wday 0-6");
        return;
    }
    const char *p[] = {d, h, w, req->user.login};
    if (sl_store_exec(req->ctx->store,
                      "UPDATE quarantine_user SET digest = ?, digest_hour = ?, digest_wday = ?"
                      " WHERE login = ?",
                      p, 4) != 0) {
        qr_resp_error(resp, 500, "store error");
        return;
    }
    qr_jbuf_t b = {0};
    qr_jbuf_raw(&b, "{\"ok\":true}");
    qr_resp_json(resp, 200, &b);
}

void
qr_api_trace(qr_req_t *req, qr_resp_t *resp)
{
    char where[2048] = "1 = 1", pat[QR_LOGIN_MAX * 2 + 4], since[24], until[24];
    const char *params[12];
    size_t n = 0;
    qr_scope_sql(&req->user, "rcpt", where, sizeof where, params, &n, pat, sizeof pat);
    static const char *const exact[] = {"id", "sender", "rcpt"};
    for (int i = 0; i < 3; i++) {
        const char *v = qr_arg(req, exact[i]);
        if (v && v[0]) {
            if (strlen(v) > QR_LOGIN_MAX) {
                qr_resp_error(resp, 400, "bad query argument");
                return;
            }
            char cond[32];
            snprintf(cond, sizeof cond, " AND %s = ?", exact[i]);
            strcat(where, cond);
            params[n++] = v;
        }
    }
    int64_t t, page = 1, per_page = S_PER_PAGE_DEF;
    int rs = s_arg_int(req, "since", 0, INT64_MAX / 2, &t);
    if (rs > 0) {
        snprintf(since, sizeof since, "%lld", (long long)t);
        strcat(where, " AND time_ms >= ?");
        params[n++] = since;
    }
    int ru = s_arg_int(req, "until", 0, INT64_MAX / 2, &t);
    if (ru > 0) {
        snprintf(until, sizeof until, "%lld", (long long)t);
        strcat(where, " AND time_ms < ?");
        params[n++] = until;
    }
    if (rs < 0 || ru < 0 || s_arg_int(req, "page", 1, S_PAGE_MAX, &page) < 0 ||
        s_arg_int(req, "per_page", 1, S_PER_PAGE_MAX, &per_page) < 0) {
        qr_resp_error(resp, 400, "bad query argument");
        return;
    }
    qr_jbuf_t b = {0};
    sl_rows_t *rows = s_page(
        req, "msglog", "id, rcpt, time_ms, sender, action, classification, score, destination",
        false, where, params, n, page, per_page, S_TOTAL_MAX, &b);
    if (rows == NULL) {
        qr_resp_error(resp, 500, "store error");
        return;
    }
    qr_jbuf_raw(&b, ",\"rows\":[");
    static const char *const cols[] = {"id",     "rcpt",           "time_ms", "sender",
                                       "action", "classification", "score",   "destination"};
    for (size_t r = 0; r < sl_rows_count(rows); r++) {
        qr_jbuf_raw(&b, r ? ",{" : "{");
        for (size_t c = 0; c < 8; c++) {
            qr_jbuf_key(&b, cols[c]);
            const char *v = sl_rows_get(rows, r, c);
            if (c == 2)
                qr_jbuf_printf(&b, "%lld", (long long)sl_rows_int(rows, r, c, 0));
            else if (c == 6)
                qr_jbuf_printf(&b, "%.2f", v ? strtod(v, NULL) : 0.0);
            else
                qr_jbuf_str(&b, v ? v : "");
        }
        qr_jbuf_raw(&b, "}");
    }
    qr_jbuf_raw(&b, "]}");
    sl_rows_free(&rows);
    qr_resp_json(resp, 200, &b);
}

void
qr_api_stats(qr_req_t *req, qr_resp_t *resp)
{
    int64_t days = 14;
    if (s_arg_int(req, "days", 1, S_STATS_DAYS_MAX, &days) < 0) {
        qr_resp_error(resp, 400, "bad query argument");
        return;
    }
    uint64_t now = sl_now_ms();
    uint64_t first_day = now / QR_DAY_MS - (uint64_t)(days - 1);
    char where[1024] = "time_ms >= ?", pat[QR_LOGIN_MAX * 2 + 4], since[24];
    snprintf(since, sizeof since, "%llu", (unsigned long long)(first_day * QR_DAY_MS));
    const char *params[4] = {since};
    size_t n = 1;
    qr_scope_sql(&req->user, "rcpt", where, sizeof where, params, &n, pat, sizeof pat);
    char sql[2048];
    /* the day by integer division: portable SQL, no date functions */
    snprintf(sql, sizeof sql,
             "SELECT time_ms / 86400000 AS day, classification, COUNT(*) FROM msglog WHERE %s"
             " GROUP BY time_ms / 86400000, classification ORDER BY day",
             where);
    sl_rows_t *rows = sl_store_query(req->ctx->store, sql, params, n);
    if (rows == NULL) {
        qr_resp_error(resp, 500, "store error");
        return;
    }
    qr_jbuf_t b = {0};
    qr_jbuf_raw(&b, "{\"days\":[");
    for (int64_t d = 0; d < days; d++) {
        int64_t day = (int64_t)first_day + d;
        time_t secs = (time_t)(day * 86400);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char ymd[16];
        strftime(ymd, sizeof ymd, "%Y-%m-%d", &tm);
        qr_jbuf_printf(&b, "%s{\"day\":\"%s\",\"counts\":{", d ? "," : "", ymd);
        bool first = true;
        for (size_t r = 0; r < sl_rows_count(rows); r++) {
            if (sl_rows_int(rows, r, 0, -1) != day)
                continue;
            const char *cls = sl_rows_get(rows, r, 1);
            if (!first)
                qr_jbuf_raw(&b, ",");
            first = false;
            qr_jbuf_str(&b, cls ? cls : "");
            qr_jbuf_printf(&b, ":%lld", (long long)sl_rows_int(rows, r, 2, 0));
        }
        qr_jbuf_raw(&b, "}}");
    }
    qr_jbuf_raw(&b, "]}");
    sl_rows_free(&rows);
    qr_resp_json(resp, 200, &b);
}
