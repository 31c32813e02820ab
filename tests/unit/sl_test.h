/*
 * tests/unit/sl_test.h - what the table-driven cmocka tests share.
 *
 * Include after <cmocka.h>. S() gives a literal and its exact length (NULs
 * included); s_check fails the test naming the table case that broke.
 */
#ifndef SL_TEST_H
#define SL_TEST_H

#define S(lit) lit, sizeof(lit) - 1 // a literal and its exact length, NULs included

/* s_check - fails the test naming the case when COND is false. */
#define s_check(cond, label, ...)                                                                  \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            print_error("case \"%s\": ", label);                                                   \
            print_error(__VA_ARGS__);                                                              \
            print_error("\n");                                                                     \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

#endif
