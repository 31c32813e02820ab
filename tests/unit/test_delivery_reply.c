/*
 * tests/unit/test_delivery_reply.c - SMTP reply parsing in the delivery client.
 *
 * Table-driven: each case is a whole reply (lines separated by \n, each
 * without CR LF as the client hands them over), what it must parse to, or
 * the line at which it must be refused.
 */
#include "delivery_reply.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#define S(lit) lit, sizeof(lit) - 1 // a literal and its exact length, NULs included

static const struct {
    const char *label, *in;
    size_t len;
    int rc;       /* 0: parses to a done reply; -1: refused */
    int code;     /* expected code */
    unsigned ext; /* expected EHLO flags */
    const char *text;
} cases[] = {
    {"plain 250", S("250 2.0.0 ok"), 0, 250, 0, "250 2.0.0 ok"},
    {"code only", S("250"), 0, 250, 0, "250"},
    {"multi-line ehlo",
     S("250-mx.example.com\n250-PIPELINING\n250-SIZE 1000\n250-STARTTLS\n"
       "250-ENHANCEDSTATUSCODES\n250 8BITMIME"),
     0, 250, 0x01u | 0x02u | 0x04u | 0x08u | 0x10u, "250 mx.example.com"},
    {"keyword case-insensitive", S("250-x\n250 pipelining"), 0, 250, 0x01u, "250 x"},
    {"keyword prefix is not a keyword", S("250-x\n250 PIPELININGX"), 0, 250, 0, "250 x"},
    {"451", S("451 4.3.0 try later"), 0, 451, 0, "451 4.3.0 try later"},
    {"554 multi", S("554-no\n554 really no"), 0, 554, 0, "554 no"},
    {"control bytes shown as ?", S("550 bad\x01text"), 0, 550, 0, "550 bad?text"},
    {"code changes mid-reply", S("250-a\n251 b"), -1, 0, 0, NULL},
    {"too short", S("25"), -1, 0, 0, NULL},
    {"letters", S("abc ok"), -1, 0, 0, NULL},
    {"600", S("600 what"), -1, 0, 0, NULL},
    {"199", S("199 what"), -1, 0, 0, NULL},
    {"bad separator", S("250_ok"), -1, 0, 0, NULL},
    {"NUL inside", S("250 o\0k"), -1, 0, 0, NULL},
    {"empty line", S(""), -1, 0, 0, NULL},
    {"line after last", S("250 a\n250 b"), -1, 0, 0, NULL},
};

static void
test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        delivery_reply_t r;
        delivery_reply_init(&r);
        const char *p = cases[i].in, *end = p + cases[i].len, *why = NULL;
        int rc = 0;
        do {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
            rc = delivery_reply_feed(&r, p, n, &why);
            p = nl ? nl + 1 : end;
        } while (rc == 0 && p < end);
        if (rc != cases[i].rc ||
            (rc == 0 && (!r.done || r.code != cases[i].code || r.ext != cases[i].ext ||
                         strcmp(r.text, cases[i].text) != 0)))
            fail_msg("case \"%s\": rc=%d code=%d ext=%#x text=\"%s\" why=%s", cases[i].label, rc,
                     r.code, r.ext, r.text, why ? why : "-");
        if (rc != 0 && why == NULL)
            fail_msg("case \"%s\": refused without a reason", cases[i].label);
    }
}

static void
test_line_limits(void **state)
{
    (void)state;
    delivery_reply_t r;
    char line[DELIVERY_REPLY_LINE_MAX + 2];
    memset(line, 'a', sizeof line);
    memcpy(line, "250-", 4);
    delivery_reply_init(&r);
    assert_int_equal(delivery_reply_feed(&r, line, DELIVERY_REPLY_LINE_MAX, NULL), 0);
    assert_int_equal(delivery_reply_feed(&r, line, DELIVERY_REPLY_LINE_MAX + 1, NULL), -1);
    assert_int_equal(strlen(r.text), DELIVERY_REPLY_TEXT_MAX - 1);
    delivery_reply_init(&r);
    for (int i = 0; i < DELIVERY_REPLY_LINES_MAX; i++)
        assert_int_equal(delivery_reply_feed(&r, "250-x", 5, NULL), 0);
    assert_int_equal(delivery_reply_feed(&r, "250 x", 5, NULL), -1);
    assert_int_equal(delivery_reply_class(&r), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_line_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
