/*
 * lib/sl_store.c - the SQLite backend of the storage layer (lib/sl_store.h).
 *
 * WAL journal, synchronous=NORMAL (WAL keeps commits atomic and durable across
 * a process crash; the spool, not these tables, carries the accepted mail),
 * a 5 s busy timeout so that several processes share one file.
 * Tests: tests/unit/test_sl_store.c
 */
#include "sl_store.h"
#include "sl_mem.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sl_store {
    sqlite3 *db;         /* the connection */
    char error[512];     /* last error text */
    int64_t changes;     /* rows changed by the last exec */
};

struct sl_rows {
    size_t rows, cols;   /* shape */
    char **cells;        /* rows*cols texts, NULL = SQL NULL */
};

static void
s_set_error(sl_store_t *self, const char *what)
{
    snprintf(self->error, sizeof self->error, "%s: %s", what,
             self->db ? sqlite3_errmsg(self->db) : "no database");
}

sl_store_t *
sl_store_open(const char *url, char *err, size_t errlen)
{
    const char *path = url;
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0) {
        snprintf(err, errlen, "%s: the PostgreSQL backend is not built in this version", url);
        return NULL;
    }
    if (strncmp(url, "sqlite:", 7) == 0)
        path = url + 7;
    sl_store_t *self = sl_xcalloc(1, sizeof *self);
    int rc = sqlite3_open_v2(path, &self->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, self->db ? sqlite3_errmsg(self->db) : "no memory");
        sl_store_close(&self);
        return NULL;
    }
    sqlite3_busy_timeout(self->db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(self->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                               "PRAGMA foreign_keys=ON;", NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, msg ? msg : "pragma failed");
        sqlite3_free(msg);
        sl_store_close(&self);
        return NULL;
    }
    return self;
}

void
sl_store_close(sl_store_t **self_p)
{
    sl_store_t *self = *self_p;
    if (self == NULL)
        return;
    sqlite3_close_v2(self->db);
    free(self);
    *self_p = NULL;
}

static sqlite3_stmt *
s_prepare(sl_store_t *self, const char *sql, const char *const *params, size_t n)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(self->db, sql, -1, &st, NULL) != SQLITE_OK) {
        s_set_error(self, "prepare");
        return NULL;
    }
    if ((int) n != sqlite3_bind_parameter_count(st)) {
        snprintf(self->error, sizeof self->error, "statement wants %d parameters, got %zu",
                 sqlite3_bind_parameter_count(st), n);
        sqlite3_finalize(st);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = params[i] ? sqlite3_bind_text(st, (int) i + 1, params[i], -1, SQLITE_TRANSIENT)
                           : sqlite3_bind_null(st, (int) i + 1);
        if (rc != SQLITE_OK) {
            s_set_error(self, "bind");
            sqlite3_finalize(st);
            return NULL;
        }
    }
    return st;
}

int
sl_store_exec(sl_store_t *self, const char *sql, const char *const *params, size_t n)
{
    sqlite3_stmt *st = s_prepare(self, sql, params, n);
    if (st == NULL)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ;
    int out = 0;
    if (rc != SQLITE_DONE) {
        s_set_error(self, "exec");
        out = (sqlite3_extended_errcode(self->db) == SQLITE_CONSTRAINT_UNIQUE ||
               sqlite3_extended_errcode(self->db) == SQLITE_CONSTRAINT_PRIMARYKEY) ? -2 : -1;
    }
    self->changes = sqlite3_changes(self->db);
    sqlite3_finalize(st);
    return out;
}

int64_t
sl_store_changes(sl_store_t *self)
{
    return self->changes;
}

sl_rows_t *
sl_store_query(sl_store_t *self, const char *sql, const char *const *params, size_t n)
{
    sqlite3_stmt *st = s_prepare(self, sql, params, n);
    if (st == NULL)
        return NULL;
    sl_rows_t *rows = sl_xcalloc(1, sizeof *rows);
    rows->cols = (size_t) sqlite3_column_count(st);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows->rows * rows->cols + rows->cols > cap) {
            cap = cap ? cap * 2 : rows->cols * 16;
            rows->cells = sl_xrealloc(rows->cells, cap * sizeof *rows->cells);
        }
        for (size_t c = 0; c < rows->cols; c++) {
            const unsigned char *t = sqlite3_column_text(st, (int) c);
            int len = sqlite3_column_bytes(st, (int) c);
            rows->cells[rows->rows * rows->cols + c] =
                t ? sl_xstrndup((const char *) t, (size_t) len) : NULL;
        }
        rows->rows++;
    }
    if (rc != SQLITE_DONE) {
        s_set_error(self, "query");
        sqlite3_finalize(st);
        sl_rows_free(&rows);
        return NULL;
    }
    sqlite3_finalize(st);
    return rows;
}

void
sl_rows_free(sl_rows_t **rows_p)
{
    sl_rows_t *rows = *rows_p;
    if (rows == NULL)
        return;
    for (size_t i = 0; i < rows->rows * rows->cols; i++)
        free(rows->cells[i]);
    free(rows->cells);
    free(rows);
    *rows_p = NULL;
}

size_t
sl_rows_count(const sl_rows_t *rows)
{
    return rows ? rows->rows : 0;
}

size_t
sl_rows_columns(const sl_rows_t *rows)
{
    return rows ? rows->cols : 0;
}

const char *
sl_rows_get(const sl_rows_t *rows, size_t r, size_t c)
{
    if (rows == NULL || r >= rows->rows || c >= rows->cols)
        return NULL;
    return rows->cells[r * rows->cols + c];
}

int64_t
sl_rows_int(const sl_rows_t *rows, size_t r, size_t c, int64_t def)
{
    const char *t = sl_rows_get(rows, r, c);
    if (t == NULL || *t == '\0')
        return def;
    char *end = NULL;
    long long v = strtoll(t, &end, 10); /* our own database's text, not network input */
    return (end && *end == '\0') ? (int64_t) v : def;
}

static int
s_simple(sl_store_t *self, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(self->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(self->error, sizeof self->error, "%s: %s", sql, msg ? msg : "failed");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int
sl_store_begin(sl_store_t *self)
{
    return s_simple(self, "BEGIN IMMEDIATE");
}

int
sl_store_commit(sl_store_t *self)
{
    return s_simple(self, "COMMIT");
}

int
sl_store_rollback(sl_store_t *self)
{
    return s_simple(self, "ROLLBACK");
}

int
sl_store_migrate(sl_store_t *self, const char *component, const char *const *steps, size_t n)
{
    if (s_simple(self, "CREATE TABLE IF NOT EXISTS sl_schema_version ("
                       "component TEXT PRIMARY KEY, version INTEGER NOT NULL)") != 0)
        return -1;
    if (sl_store_begin(self) != 0)
        return -1;
    const char *p[] = {component};
    sl_rows_t *rows =
        sl_store_query(self, "SELECT version FROM sl_schema_version WHERE component = ?", p, 1);
    if (rows == NULL) {
        sl_store_rollback(self);
        return -1;
    }
    int64_t have = sl_rows_count(rows) ? sl_rows_int(rows, 0, 0, 0) : 0;
    sl_rows_free(&rows);
    for (size_t i = (size_t) have; i < n; i++) {
        if (s_simple(self, steps[i]) != 0) {
            sl_store_rollback(self);
            return -1;
        }
    }
    if ((size_t) have < n) {
        char v[24];
        snprintf(v, sizeof v, "%zu", n);
        const char *q[] = {component, v};
        if (sl_store_exec(self, "INSERT INTO sl_schema_version (component, version) VALUES (?, ?) "
                                "ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                          q, 2) != 0) {
            sl_store_rollback(self);
            return -1;
        }
    }
    return sl_store_commit(self);
}

const char *
sl_store_error(const sl_store_t *self)
{
    return self->error;
}

const char *
sl_store_backend(const sl_store_t *self)
{
    (void) self;
    return "sqlite";
}
