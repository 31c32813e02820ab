/*
 * tests/unit/test_smtpd_spool.c - spool file format, durable write, listing,
 * and the parser's refusal of truncated or inconsistent files.
 */
#include "smtpd_spool.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static char s_dir[256];

static int
s_setup(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof s_dir, "/tmp/test_smtpd_spool.XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int
s_teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void
s_count(const char *id, void *ctx)
{
    char *seen = ctx;
    strcat(seen, id);
    strcat(seen, ",");
}

static void
test_roundtrip(void **state)
{
    (void)state;
    char spool[300];
    const char *why = NULL;
    snprintf(spool, sizeof spool, "%s/spool", s_dir);
    assert_int_equal(smtpd_spool_init(spool, &why), 0);
    assert_int_equal(smtpd_spool_write(spool, NULL, "01B", "ENV", 3, "Received: x\r\n", 13,
                                       "body\r\n", 6, 1, &why),
                     0);
    assert_int_equal(smtpd_spool_write(spool, NULL, "01A", "E", 1, NULL, 0, "", 0, 1, &why), 0);
    assert_int_equal(smtpd_spool_write(spool, "archive", "01C", "E", 1, NULL, 0, "x", 1, 0, &why),
                     0);
    assert_int_equal(smtpd_spool_write(spool, NULL, "../evil", "E", 1, NULL, 0, "", 0, 1, &why),
                     -1);
    assert_string_equal(why, "bad queue id");

    char seen[256] = "";
    assert_int_equal(smtpd_spool_each(spool, NULL, s_count, seen), 2);
    assert_string_equal(seen, "01A,01B,"); /* oldest id first; tmp and archive skipped */
    seen[0] = '\0';
    assert_int_equal(smtpd_spool_each(spool, "archive", s_count, seen), 1);

    char path[512];
    void *buf;
    size_t len, env_len, body_len;
    const void *env, *body;
    assert_int_equal(smtpd_spool_path(path, sizeof path, spool, NULL, "01B"), 0);
    assert_int_equal(smtpd_spool_load(path, &buf, &len, &why), 0);
    assert_int_equal(len, SMTPD_SPOOL_HEADER + 3 + 13 + 6);
    assert_int_equal(smtpd_spool_parse(buf, len, &env, &env_len, &body, &body_len, &why), 0);
    assert_memory_equal(env, "ENV", 3);
    assert_int_equal(body_len, 19);
    assert_memory_equal(body, "Received: x\r\nbody\r\n", 19);
    /* every truncation is refused */
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(smtpd_spool_parse(buf, cut, &env, &env_len, &body, &body_len, &why), -1);
    ((unsigned char *)buf)[11] = 200; /* env_len beyond the file */
    assert_int_equal(smtpd_spool_parse(buf, len, &env, &env_len, &body, &body_len, &why), -1);
    assert_string_equal(why, "spool file lengths do not match its size");
    free(buf);

    assert_int_equal(smtpd_spool_remove(spool, NULL, "01B"), 0);
    assert_int_equal(smtpd_spool_remove(spool, NULL, "01B"), 0); /* gone already: fine */
    assert_int_equal(smtpd_spool_load(path, &buf, &len, &why), -1);
    assert_string_equal(why, "no such spool entry");

    /* a crash leftover in tmp/ is cleared by the next init */
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s/tmp/01Z", spool);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(smtpd_spool_init(spool, &why), 0);
    assert_int_not_equal(access(tmp, F_OK), 0);
}

static void
test_ids(void **state)
{
    (void)state;
    assert_true(smtpd_spool_id_ok("01M848G1GBVZRXPNSDSWFWRYRJ"));
    assert_false(smtpd_spool_id_ok(""));
    assert_false(smtpd_spool_id_ok(".hidden"));
    assert_false(smtpd_spool_id_ok("a/b"));
    assert_false(smtpd_spool_id_ok("a b"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_roundtrip),
                                       cmocka_unit_test(test_ids)};
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
