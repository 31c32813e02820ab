/*
 * lib/sl_store.h - the storage layer: one small SQL interface, two backends.
 *
 * Policy, greylist, Bayes tokens, message log and quarantine index all go
 * through this. The embedded default is SQLite (WAL, busy timeout) under the
 * data directory; a cluster names PostgreSQL with one config line, and the
 * second backend is an addition behind this header, not a rewrite.
 *
 * SQL portability rules for callers: placeholders are "?" (translated to $N
 * for PostgreSQL); parameters and results are text (NULL = SQL NULL); use
 * plain types (TEXT, INTEGER, REAL, BLOB via sl_store_exec_blob), "INSERT ...
 * ON CONFLICT (...) DO UPDATE/NOTHING" (both backends accept it), and no
 * backend-specific functions. Schema changes go through sl_store_migrate.
 *
 * A handle is used by one thread at a time; open one per thread.
 * Tests: tests/unit/test_sl_store.c
 */
#ifndef SL_STORE_H
#define SL_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_store sl_store_t;
typedef struct sl_rows sl_rows_t;

/* sl_store_open - URL "sqlite:PATH" (or a bare PATH) or "postgresql://..."
 * (not built yet: refused with a clear error). NULL with ERR on failure. */
sl_store_t *sl_store_open(const char *url, char *err, size_t errlen);
void sl_store_close(sl_store_t **self_p);

/* sl_store_exec - a statement that returns no rows. PARAMS: N texts (NULL
 * entries bind SQL NULL). 0, or -1 with the backend's reason in sl_store_error.
 * Returns -2 for a uniqueness conflict, so callers can tell "already there". */
int sl_store_exec(sl_store_t *self, const char *sql, const char *const *params, size_t n);
/* sl_store_changes - rows changed by the last exec. */
int64_t sl_store_changes(sl_store_t *self);
/* sl_store_query - a statement returning rows (all fetched; bounded by the caller's
 * LIMIT). NULL on error (sl_store_error says why); an empty result is not NULL. */
sl_rows_t *sl_store_query(sl_store_t *self, const char *sql, const char *const *params, size_t n);
void sl_rows_free(sl_rows_t **rows_p);
size_t sl_rows_count(const sl_rows_t *rows);
size_t sl_rows_columns(const sl_rows_t *rows);
/* sl_rows_get - text of row R, column C (borrowed until sl_rows_free); NULL for SQL NULL. */
const char *sl_rows_get(const sl_rows_t *rows, size_t r, size_t c);
/* sl_rows_int - row R column C as an integer, DEF when NULL or not a number. */
int64_t sl_rows_int(const sl_rows_t *rows, size_t r, size_t c, int64_t def);

/* Transactions: begin/commit/rollback; 0 or -1. */
int sl_store_begin(sl_store_t *self);
int sl_store_commit(sl_store_t *self);
int sl_store_rollback(sl_store_t *self);

/* sl_store_migrate - brings component COMPONENT's schema to the last of
 * STEPS (each an SQL script run once, in order, recorded in table
 * sl_schema_version). 0, or -1 with sl_store_error. */
int sl_store_migrate(sl_store_t *self, const char *component, const char *const *steps,
                     size_t n);

/* sl_store_error - the last error text (borrowed). */
const char *sl_store_error(const sl_store_t *self);
/* sl_store_backend - "sqlite" or "postgresql". */
const char *sl_store_backend(const sl_store_t *self);

#endif
