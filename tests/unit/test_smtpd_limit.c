/*
 * tests/unit/test_smtpd_limit.c - per-IP concurrent and per-minute limits,
 * with time passed in.
 */
#include "smtpd_limit.h"

#include <stdint.h>
#include <stdio.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static void
test_concurrent(void **state)
{
    (void)state;
    smtpd_limit_t *l = smtpd_limit_new(2, 1000);
    uint64_t t = 1000000;
    assert_int_equal(smtpd_limit_enter(l, "192.0.2.1", t), SMTPD_LIMIT_OK);
    assert_int_equal(smtpd_limit_enter(l, "192.0.2.1", t), SMTPD_LIMIT_OK);
    assert_int_equal(smtpd_limit_enter(l, "192.0.2.1", t), SMTPD_LIMIT_CONCURRENT);
    assert_int_equal(smtpd_limit_enter(l, "192.0.2.2", t), SMTPD_LIMIT_OK);
    smtpd_limit_leave(l, "192.0.2.1");
    assert_int_equal(smtpd_limit_enter(l, "192.0.2.1", t), SMTPD_LIMIT_OK);
    smtpd_limit_leave(l, "198.51.100.9"); /* unknown: harmless */
    smtpd_limit_destroy(&l);
    assert_null(l);
}

static void
test_rate(void **state)
{
    (void)state;
    smtpd_limit_t *l = smtpd_limit_new(100, 3);
    uint64_t t = 6000000; /* start of a minute window */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(smtpd_limit_enter(l, "2001:db8::1", t), SMTPD_LIMIT_OK);
        smtpd_limit_leave(l, "2001:db8::1");
    }
    assert_int_equal(smtpd_limit_enter(l, "2001:db8::1", t + 1000), SMTPD_LIMIT_RATE);
    /* half-way through the next minute the previous window still weighs half:
     * 3 * 1/2 rounds down to 1, so two more fit */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(smtpd_limit_enter(l, "2001:db8::1", t + 90000), SMTPD_LIMIT_OK);
        smtpd_limit_leave(l, "2001:db8::1");
    }
    assert_int_equal(smtpd_limit_enter(l, "2001:db8::1", t + 90000), SMTPD_LIMIT_RATE);
    /* two minutes later it is forgotten */
    assert_int_equal(smtpd_limit_sweep(l, t + 300000), 0);
    assert_int_equal(smtpd_limit_enter(l, "2001:db8::1", t + 300000), SMTPD_LIMIT_OK);
    smtpd_limit_destroy(&l);
}

static void
test_many(void **state)
{
    (void)state;
    smtpd_limit_t *l = smtpd_limit_new(1, 10);
    char ip[64];
    for (int i = 0; i < 5000; i++) { /* grows its table */
        snprintf(ip, sizeof ip, "10.0.%d.%d", i / 256, i % 256);
        assert_int_equal(smtpd_limit_enter(l, ip, 1000), SMTPD_LIMIT_OK);
    }
    assert_int_equal(smtpd_limit_enter(l, "10.0.0.7", 1000), SMTPD_LIMIT_CONCURRENT);
    assert_int_equal(smtpd_limit_sweep(l, 1000), 5000);
    smtpd_limit_destroy(&l);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_concurrent),
                                       cmocka_unit_test(test_rate), cmocka_unit_test(test_many)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
