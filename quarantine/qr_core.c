/*
 * quarantine/qr_core.c - schema, scope, release, delete and retention of the
 * quarantine: what the daemon, the digest links and the CLI all go through.
 *
 * The file layout and the index are the action stage's (quarantine/README.md);
 * a message file is named by its queue id only after qr_id_ok, never by the
 * path column, so a damaged row cannot point us at another file.
 * Tests: tests/unit/test_qr_core.c, tests/e2e/test_quarantine.py
 */
#include "qr_core.h"
#include "sl_dqueue.h"
#include "sl_fs.h"
#include "sl_log.h"
#include "sl_mem.h"
#include "sl_msglog.h"
#include "sl_policy.h"
#include "sl_quarstore.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_PURGE_BATCH 2000                 /* rows selected and deleted per round */
#define S_ORPHAN_GRACE_MS (3600ull * 1000) /* a file may precede its index rows */

static const char *const s_migrations[] = {
    "CREATE TABLE quarantine_user (login TEXT PRIMARY KEY, role TEXT NOT NULL,"
    " scope TEXT NOT NULL, pw TEXT NOT NULL, digest TEXT NOT NULL DEFAULT 'off',"
    " digest_hour INTEGER NOT NULL DEFAULT 7, digest_wday INTEGER NOT NULL DEFAULT 1,"
    " last_digest_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE quarantine_session (token_hash TEXT PRIMARY KEY, login TEXT NOT NULL,"
    " csrf TEXT NOT NULL, expires_ms INTEGER NOT NULL);"
    "CREATE INDEX quarantine_session_exp ON quarantine_session (expires_ms);"
    "CREATE TABLE quarantine_fail (k TEXT NOT NULL, time_ms INTEGER NOT NULL);"
    "CREATE INDEX quarantine_fail_k ON quarantine_fail (k, time_ms);"
    "ALTER TABLE quarantine ADD COLUMN reported_ms INTEGER;",
};

int
qr_migrate(sl_store_t *store)
{
    if (sl_quarstore_migrate(store) != 0 || sl_policy_migrate(store) != 0 ||
        sl_msglog_migrate(store) != 0)
        return -1;
    return sl_store_migrate(store, "quarantine_service", s_migrations,
                            sizeof s_migrations / sizeof s_migrations[0]);
}

char *
qr_lower(char *s)
{
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}

bool
qr_id_ok(const char *id)
{
    size_t n = 0;
    for (; id[n]; n++)
        if (n >= QR_ID_MAX || !isalnum((unsigned char)id[n]))
            return false;
    return n > 0;
}

int
qr_msg_path(const qr_ctx_t *ctx, const char *id, char *buf, size_t size)
{
    if (!qr_id_ok(id))
        return -1;
    int n = snprintf(buf, size, "%s/msg/%s.eml", ctx->quar_dir, id);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

char *
qr_read_file(const char *path, size_t *len)
{
    return sl_fs_read_file(path, QR_MSG_BYTES_MAX, len);
}

/* s_like_escape - "%@" + DOMAIN with LIKE's wildcards escaped by backslash. */
static int
s_domain_pattern(const char *domain, char *pat, size_t size)
{
    size_t n = 0;
    if (size < 3)
        return -1;
    pat[n++] = '%';
    pat[n++] = '@';
    for (const char *p = domain; *p; p++) {
        if (n + 3 > size)
            return -1;
        if (*p == '%' || *p == '_' || *p == '\\')
            pat[n++] = '\\';
        pat[n++] = *p;
    }
    pat[n] = '\0';
    return 0;
}

int
qr_scope_sql(const qr_user_t *user, const char *column, char *sql, size_t size, const char **params,
             size_t *n, char *pat, size_t patsize)
{
    size_t len = strlen(sql);
    int w;
    if (strcmp(user->role, "admin") == 0)
        return 0;
    if (strcmp(user->role, "domain") == 0) {
        if (s_domain_pattern(user->scope, pat, patsize) != 0)
            return -1;
        w = snprintf(sql + len, size - len, " AND %s LIKE ? ESCAPE '\\'", column);
        params[(*n)++] = pat;
    } else {
        w = snprintf(sql + len, size - len, " AND %s = ?", column);
        params[(*n)++] = user->scope;
    }
    return w < 0 || (size_t)w >= size - len ? -1 : 0;
}

int
qr_scope_quarantine_sql(const qr_user_t *user, char *sql, size_t size, const char **params,
                        size_t *n, char *buf, size_t bufsize)
{
    if (strcmp(user->role, "domain") != 0)
        return qr_scope_sql(user, "rcpt", sql, size, params, n, buf, bufsize);
    size_t len = strlen(sql);
    if (sl_strlcpy(buf, user->scope, bufsize) >= bufsize)
        return -1;
    qr_lower(buf);
    int w = snprintf(sql + len, size - len, " AND rcpt_domain = ?");
    params[(*n)++] = buf;
    return w < 0 || (size_t)w >= size - len ? -1 : 0;
}

bool
qr_rcpt_in_scope(const qr_user_t *user, const char *rcpt)
{
    if (strcmp(user->role, "admin") == 0)
        return true;
    if (strcmp(user->role, "domain") == 0) {
        const char *at = strrchr(rcpt, '@');
        return at && strcasecmp(at + 1, user->scope) == 0;
    }
    return strcasecmp(rcpt, user->scope) == 0;
}

sl_rows_t *
qr_find(qr_ctx_t *ctx, const qr_user_t *user, const char *id, const char *rcpt)
{
    if (!qr_id_ok(id))
        return NULL;
    char sql[512] = "SELECT " QR_COLUMNS " FROM quarantine WHERE id = ?";
    const char *params[4] = {id};
    size_t n = 1;
    char pat[QR_LOGIN_MAX * 2 + 4];
    if (rcpt && rcpt[0]) {
        strcat(sql, " AND rcpt = ?");
        params[n++] = rcpt;
    }
    if (qr_scope_quarantine_sql(user, sql, sizeof sql, params, &n, pat, sizeof pat) != 0)
        return NULL;
    strcat(sql, " LIMIT 2");
    sl_rows_t *rows = sl_store_query(ctx->store, sql, params, n);
    if (rows && sl_rows_count(rows) != 1)
        sl_rows_free(&rows); /* none, or ambiguous without rcpt */
    return rows;
}

/* s_drop_file_if_orphan - unlinks msg/ID.eml when no row names ID any more. */
static int
s_drop_file_if_orphan(qr_ctx_t *ctx, const char *id)
{
    const char *p[] = {id};
    sl_rows_t *rows =
        sl_store_query(ctx->store, "SELECT 1 FROM quarantine WHERE id = ? LIMIT 1", p, 1);
    if (rows == NULL)
        return -1;
    size_t left = sl_rows_count(rows);
    sl_rows_free(&rows);
    char path[PATH_MAX];
    if (left == 0 && qr_msg_path(ctx, id, path, sizeof path) == 0 && unlink(path) == 0)
        return 1;
    return 0;
}

int
qr_release(qr_ctx_t *ctx, const char *id, const char *rcpt, const char **why)
{
    char path[PATH_MAX];
    if (qr_msg_path(ctx, id, path, sizeof path) != 0)
        return sl_fail(why, "no such message");
    const char *p[] = {id, rcpt};
    sl_rows_t *rows = sl_store_query(
        ctx->store, "SELECT sender, released_ms FROM quarantine WHERE id = ? AND rcpt = ?", p, 2);
    if (rows == NULL)
        return sl_fail(why, "store error");
    if (sl_rows_count(rows) == 0) {
        sl_rows_free(&rows);
        return sl_fail(why, "no such message");
    }
    if (sl_rows_get(rows, 0, 1) != NULL) {
        sl_rows_free(&rows);
        return 1;
    }
    sl_dqueue_hdr_t hdr = {.created_ms = sl_now_ms()};
    sl_strlcpy(hdr.id, id, sizeof hdr.id);
    const char *sender = sl_rows_get(rows, 0, 0);
    bool sender_ok = sl_strlcpy(hdr.from, sender ? sender : "", sizeof hdr.from) < sizeof hdr.from;
    sl_rows_free(&rows);
    if (!sender_ok || strlen(rcpt) >= SL_DQUEUE_ADDR_MAX)
        return sl_fail(why, "address too long");
    sl_strlcpy(hdr.kind, "mail", sizeof hdr.kind);
    char *rcpts[1] = {(char *)rcpt};
    hdr.rcpts = rcpts;
    hdr.rcpt_count = 1;
    size_t len = 0;
    char *body = qr_read_file(path, &len);
    if (body == NULL)
        return sl_fail(why, "message file missing");
    char name[SL_DQUEUE_NAME_MAX];
    sl_dqueue_name(id, (const char *const *)rcpts, 1, "release", name, sizeof name);
    sl_slice_t part = {.ptr = body, .len = len};
    int rc = sl_dqueue_init(ctx->queue_dir, why);
    if (rc == 0)
        rc = sl_dqueue_write(ctx->queue_dir, name, &hdr, &part, 1, why);
    if (rc == 0)
        rc = sl_dqueue_sync(ctx->queue_dir, why);
    free(body);
    if (rc != 0)
        return -1;
    char now[24];
    snprintf(now, sizeof now, "%llu", (unsigned long long)sl_now_ms());
    const char *u[] = {now, id, rcpt};
    if (sl_store_exec(ctx->store,
                      "UPDATE quarantine SET released_ms = ? WHERE id = ? AND rcpt = ?"
                      " AND released_ms IS NULL",
                      u, 3) != 0)
        return sl_fail(why, "store error (the message is queued)");
    if (sl_store_changes(ctx->store) == 0)
        return 1; /* a concurrent release won; the queue file name is the same one */
    char shown[256];
    sl_log_info(id, "release rcpt=%s queue=%s", sl_log_str(rcpt, strlen(rcpt), shown, sizeof shown),
                name);
    return 0;
}

int
qr_delete(qr_ctx_t *ctx, const char *id, const char *rcpt, const char **why)
{
    const char *p[] = {id, rcpt};
    if (sl_store_exec(ctx->store, "DELETE FROM quarantine WHERE id = ? AND rcpt = ?", p, 2) != 0)
        return sl_fail(why, "store error");
    if (sl_store_changes(ctx->store) == 0)
        return sl_fail(why, "no such message");
    s_drop_file_if_orphan(ctx, id);
    char shown[256];
    sl_log_info(id, "delete rcpt=%s", sl_log_str(rcpt, strlen(rcpt), shown, sizeof shown));
    return 0;
}

int
qr_mark_reported(qr_ctx_t *ctx, const char *id, const char *rcpt, const char **why)
{
    char now[24];
    snprintf(now, sizeof now, "%llu", (unsigned long long)sl_now_ms());
    const char *p[] = {now, id, rcpt};
    if (sl_store_exec(ctx->store, "UPDATE quarantine SET reported_ms = ? WHERE id = ? AND rcpt = ?",
                      p, 3) != 0)
        return sl_fail(why, "store error");
    return 0;
}

/* s_purge_rows - deletes the rows matched by WHERE (with PARAMS) in
 * batches, and each file left without a row. Rows deleted, or -1. */
static long
s_purge_rows(qr_ctx_t *ctx, const char *where, const char *const *params, size_t n, long *files)
{
    char sql[8192];
    if (snprintf(sql, sizeof sql, "SELECT id, rcpt FROM quarantine WHERE %s LIMIT %d", where,
                 S_PURGE_BATCH) >= (int)sizeof sql)
        return -1;
    long total = 0;
    for (int round = 0; round < 1000000; round++) {
        sl_rows_t *rows = sl_store_query(ctx->store, sql, params, n);
        if (rows == NULL)
            return -1;
        size_t count = sl_rows_count(rows);
        sl_store_begin(ctx->store);
        for (size_t r = 0; r < count; r++) {
            const char *p[] = {sl_rows_get(rows, r, 0), sl_rows_get(rows, r, 1)};
            if (sl_store_exec(ctx->store, "DELETE FROM quarantine WHERE id = ? AND rcpt = ?", p,
                              2) == 0)
                total++;
        }
        if (sl_store_commit(ctx->store) != 0) {
            sl_store_rollback(ctx->store);
            sl_rows_free(&rows);
            return -1;
        }
        for (size_t r = 0; r < count; r++)
            if (s_drop_file_if_orphan(ctx, sl_rows_get(rows, r, 0)) == 1)
                (*files)++;
        sl_rows_free(&rows);
        if (count < S_PURGE_BATCH)
            break;
    }
    return total;
}

/* s_sweep_dir - unlinks files in DIR/SUB older than AGE_MS; with ORPHANS
 * only *.eml files whose id has no row. Files removed. */
static long
s_sweep_dir(qr_ctx_t *ctx, const char *sub, uint64_t now_ms, uint64_t age_ms, bool orphans)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof dir, "%s/%s", ctx->quar_dir, sub) >= (int)sizeof dir)
        return 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    long removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        struct stat st;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
            lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        uint64_t mtime = (uint64_t)st.st_mtime * 1000;
        if (mtime + age_ms > now_ms)
            continue;
        if (orphans) {
            char id[QR_ID_MAX + 8];
            size_t len = strlen(e->d_name);
            if (len < 5 || len - 4 > QR_ID_MAX || strcmp(e->d_name + len - 4, ".eml") != 0)
                continue;
            memcpy(id, e->d_name, len - 4);
            id[len - 4] = '\0';
            if (qr_id_ok(id) && s_drop_file_if_orphan(ctx, id) == 1)
                removed++;
        } else if (unlink(path) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

long
qr_purge(qr_ctx_t *ctx, uint64_t now_ms, long *files)
{
    *files = 0;
    long total = 0;
    char cut[QR_RETENTION_DOMAINS_MAX + 1][24];
    char pats[QR_RETENTION_DOMAINS_MAX][600];
    const char *params[QR_RETENTION_DOMAINS_MAX + 1];
    size_t nd = ctx->retention_domain_count;
    for (size_t i = 0; i < nd; i++) {
        const struct qr_retention *r = &ctx->retention_domains[i];
        snprintf(cut[i], sizeof cut[i], "%llu",
                 (unsigned long long)(now_ms > r->ms ? now_ms - r->ms : 0));
        if (s_domain_pattern(r->domain, pats[i], sizeof pats[i]) != 0)
            return -1;
        const char *p[] = {cut[i], pats[i]};
        long n = s_purge_rows(ctx, "time_ms < ? AND rcpt LIKE ? ESCAPE '\\'", p, 2, files);
        if (n < 0)
            return -1;
        total += n;
    }
    char where[8192] = "time_ms < ?";
    snprintf(cut[nd], sizeof cut[nd], "%llu",
             (unsigned long long)(now_ms > ctx->retention_ms ? now_ms - ctx->retention_ms : 0));
    params[0] = cut[nd];
    for (size_t i = 0; i < nd; i++) {
        strcat(where, " AND rcpt NOT LIKE ? ESCAPE '\\'");
        params[i + 1] = pats[i];
    }
    long n = s_purge_rows(ctx, where, params, nd + 1, files);
    if (n < 0)
        return -1;
    total += n;
    *files += s_sweep_dir(ctx, "msg", now_ms, S_ORPHAN_GRACE_MS, true);
    *files += s_sweep_dir(ctx, "tmp", now_ms, QR_DAY_MS, false);
    return total;
}
