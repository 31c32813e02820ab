/*
 * tests/unit/test_sl_text.c - scanning bytes that are not NUL-terminated (lib/sl_text.c).
 *
 * Each case is copied into a heap block of exactly its length, so under ASan
 * a read past the end fails the test (the score stage's own copy of
 * sl_mime_containers did, on a body ending in "multipar").
 */
#include "sl_text.h"

#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "sl_test.h"

/* s_exact - a heap copy of LEN bytes with nothing after them. */
static char *
s_exact(const char *p, size_t len)
{
    char *b = malloc(len ? len : 1);
    assert_non_null(b);
    memcpy(b, p, len);
    return b;
}

static void
test_containers(void **state)
{
    (void)state;
    static const struct {
        const char *label, *text;
        size_t len, want;
    } cases[] = {
        {"none", S("Subject: hi\r\n\r\nplain text\r\n"), 0},
        {"one of each", S("Content-Type: multipart/mixed\r\n\r\nContent-Type: message/rfc822\r\n"),
         2},
        {"any case", S("MULTIPART/Alternative MeSsAgE/partial"), 2},
        {"ends in multipar", S("text then multipar"), 0},
        {"ends in multipart", S("text then multipart"), 0},
        {"ends in message/", S("message/"), 1},
        {"ends in multipart/", S("xx multipart/"), 1},
        {"ends in messag", S("messag"), 0},
        {"NUL inside", S("multi\0part/ message/\0"), 1},
        {"empty", S(""), 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *b = s_exact(cases[i].text, cases[i].len);
        size_t got = sl_mime_containers(b, cases[i].len);
        s_check(got == cases[i].want, cases[i].label, "got %zu, want %zu", got, cases[i].want);
        free(b);
    }
}

static void
test_casestarts(void **state)
{
    (void)state;
    char *b = s_exact(S("From: a"));
    assert_true(sl_text_casestarts(b, 7, "from:"));
    assert_true(sl_text_casestarts(b, 7, "FROM: A"));
    assert_false(sl_text_casestarts(b, 7, "from: ab")); /* longer than the bytes */
    assert_false(sl_text_casestarts(b, 4, "from:"));
    assert_true(sl_text_casestarts(b, 0, ""));
    free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_containers),
        cmocka_unit_test(test_casestarts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
