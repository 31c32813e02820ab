/*
 * tests/unit/test_sl_store.c - the SQLite backend of the storage layer.
 */
#include "sl_store.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char s_path[64];

static int
s_setup(void **state)
{
    snprintf(s_path, sizeof s_path, "/tmp/sl_store_test_%d.db", (int) getpid());
    unlink(s_path);
    char err[256];
    sl_store_t *st = sl_store_open(s_path, err, sizeof err);
    assert_non_null(st);
    *state = st;
    return 0;
}

static int
s_teardown(void **state)
{
    sl_store_t *st = *state;
    sl_store_close(&st);
    assert_null(st);
    char p[80];
    unlink(s_path);
    snprintf(p, sizeof p, "%s-wal", s_path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", s_path);
    unlink(p);
    return 0;
}

static const char *const s_steps[] = {
    "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT, n INTEGER)",
    "ALTER TABLE kv ADD COLUMN extra TEXT",
};

static void
test_migrate_exec_query(void **state)
{
    sl_store_t *st = *state;
    assert_int_equal(sl_store_migrate(st, "kv", s_steps, 2), 0);
    /* a second run applies nothing and succeeds */
    assert_int_equal(sl_store_migrate(st, "kv", s_steps, 2), 0);
    const char *a[] = {"alpha", "one", "1"};
    assert_int_equal(sl_store_exec(st, "INSERT INTO kv (k, v, n) VALUES (?, ?, ?)", a, 3), 0);
    assert_int_equal(sl_store_changes(st), 1);
    /* duplicate primary key is reported as a conflict (-2), not a failure */
    assert_int_equal(sl_store_exec(st, "INSERT INTO kv (k, v, n) VALUES (?, ?, ?)", a, 3), -2);
    const char *b[] = {"beta", NULL, "x"};
    assert_int_equal(sl_store_exec(st, "INSERT INTO kv (k, v, n) VALUES (?, ?, ?)", b, 3), 0);
    sl_rows_t *rows = sl_store_query(st, "SELECT k, v, n FROM kv ORDER BY k", NULL, 0);
    assert_non_null(rows);
    assert_int_equal(sl_rows_count(rows), 2);
    assert_int_equal(sl_rows_columns(rows), 3);
    assert_string_equal(sl_rows_get(rows, 0, 0), "alpha");
    assert_int_equal(sl_rows_int(rows, 0, 2, -1), 1);
    assert_null(sl_rows_get(rows, 1, 1));          /* SQL NULL */
    assert_int_equal(sl_rows_int(rows, 1, 2, -7), -7); /* not a number */
    assert_null(sl_rows_get(rows, 9, 0));          /* out of range */
    sl_rows_free(&rows);
    assert_null(rows);
    /* hostile text is data, never SQL */
    const char *c[] = {"x'); DROP TABLE kv; --", "v", "0"};
    assert_int_equal(sl_store_exec(st, "INSERT INTO kv (k, v, n) VALUES (?, ?, ?)", c, 3), 0);
    rows = sl_store_query(st, "SELECT count(*) FROM kv", NULL, 0);
    assert_int_equal(sl_rows_int(rows, 0, 0, 0), 3);
    sl_rows_free(&rows);
}

static void
test_errors_and_transactions(void **state)
{
    sl_store_t *st = *state;
    assert_int_equal(sl_store_migrate(st, "kv", s_steps, 1), 0);
    assert_null(sl_store_query(st, "SELECT nope FROM missing", NULL, 0));
    assert_non_null(strstr(sl_store_error(st), "missing"));
    const char *one[] = {"a"};
    /* wrong parameter count is refused before running */
    assert_int_equal(sl_store_exec(st, "INSERT INTO kv (k, v) VALUES (?, ?)", one, 1), -1);
    assert_int_equal(sl_store_begin(st), 0);
    const char *a[] = {"t", "v"};
    assert_int_equal(sl_store_exec(st, "INSERT INTO kv (k, v) VALUES (?, ?)", a, 2), 0);
    assert_int_equal(sl_store_rollback(st), 0);
    sl_rows_t *rows = sl_store_query(st, "SELECT count(*) FROM kv", NULL, 0);
    assert_int_equal(sl_rows_int(rows, 0, 0, -1), 0);
    sl_rows_free(&rows);
    char err[256];
    assert_null(sl_store_open("postgresql://localhost/sluice", err, sizeof err));
    assert_non_null(strstr(err, "PostgreSQL"));
    assert_string_equal(sl_store_backend(st), "sqlite");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_exec_query, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_errors_and_transactions, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
