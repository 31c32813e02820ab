/*
 * tests/unit/test_headers_msg.c - the headers stage's header-section parser,
 * From mailbox and Date parsing (stages/headers/headers_msg.c): good, bad and
 * hostile input in one table each.
 */
#include "headers.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SL_HEADERS_MISSING
int
main(void)
{
    printf("skip: the headers stage's libraries are not installed\n");
    return 77;
}
#else

#define S(lit) lit, sizeof(lit) - 1 // a literal and its exact length, NULs included

static void
test_split(void **state)
{
    (void) state;
    static const struct {
        const char *label, *in;
        size_t len;
        size_t fields;     /* fields found */
        const char *last;  /* the last field's whole text */
        size_t last_len;   /* its length */
        const char *body;  /* the body */
        size_t bad;        /* bad lines */
    } cases[] = {
        {"crlf", S("A: 1\r\nB: 2\r\n\r\nbody\r\n"), 2, S("B: 2"), "body\r\n", 0},
        {"bare lf", S("A: 1\nB: 2\n\nbody\n"), 2, S("B: 2"), "body\n", 0},
        {"folded", S("A: 1\r\nSubject: a\r\n\tb\r\n c\r\n\r\nx"), 2, S("Subject: a\r\n\tb\r\n c"), "x", 0},
        {"no body", S("A: 1\r\nB: 2\r\n"), 2, S("B: 2"), "", 0},
        {"no final newline", S("A: 1\r\nB: 2"), 2, S("B: 2"), "", 0},
        {"mbox From line", S("From a@b Mon Jan 1\nA: 1\n\nx"), 1, S("A: 1"), "x", 0},
        {"not a field ends headers", S("A: 1\r\nnot a field\r\nB: 2\r\n\r\nx"), 1, S("A: 1"),
         "not a field\r\nB: 2\r\n\r\nx", 1},
        {"space before colon", S("A : 1\r\n\r\n"), 1, S("A : 1"), "", 0},
        {"leading fold is bad", S(" x\r\nA: 1\r\n\r\n"), 1, S("A: 1"), "", 1},
        {"empty colon name", S(": 1\r\n\r\nx"), 0, NULL, 0, ": 1\r\n\r\nx", 1},
        {"NUL inside value", S("A: 1\0 2\r\n\r\n"), 1, S("A: 1\0 2"), "", 0},
        {"empty message", S(""), 0, NULL, 0, "", 0},
        {"only blank line", S("\r\n"), 0, NULL, 0, "", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        headers_msg_t msg;
        headers_msg_parse(cases[i].in, cases[i].len, &msg);
        if (msg.count != cases[i].fields || msg.bad_lines != cases[i].bad)
            fail_msg("%s: %zu fields, %zu bad", cases[i].label, msg.count, msg.bad_lines);
        if (cases[i].last) {
            const sl_slice_t f = msg.fields[msg.count - 1].field;
            size_t want = cases[i].last_len;
            if (f.len != want || memcmp(f.ptr, cases[i].last, want) != 0)
                fail_msg("%s: last field %.*s", cases[i].label, (int) f.len, f.ptr);
        }
        if (msg.body.len != strlen(cases[i].body) ||
            memcmp(msg.body.ptr ? msg.body.ptr : "", cases[i].body, msg.body.len) != 0)
            fail_msg("%s: body %.*s", cases[i].label, (int) msg.body.len, msg.body.ptr);
        headers_msg_clear(&msg);
    }
}

static void
test_find_and_limits(void **state)
{
    (void) state;
    headers_msg_t msg;
    headers_msg_parse(S("from: a\r\nTo: b\r\nFROM: c\r\n\r\n"), &msg);
    assert_int_equal(headers_msg_count(&msg, "From"), 2);
    const headers_field_t *f = headers_msg_find(&msg, "From", 1);
    assert_non_null(f);
    assert_int_equal(f->value.len, 2);
    assert_memory_equal(f->value.ptr, " c", 2);
    assert_null(headers_msg_find(&msg, "From", 2));
    headers_msg_clear(&msg);

    /* more fields than HEADERS_FIELDS_MAX: the rest is not kept, the body is still found */
    size_t n = HEADERS_FIELDS_MAX + 10, len = 0;
    char *big = malloc(n * 8 + 16);
    for (size_t i = 0; i < n; i++)
        len += (size_t) sprintf(big + len, "X: %03zu\r\n", i % 1000);
    len += (size_t) sprintf(big + len, "\r\nbody");
    headers_msg_parse(big, len, &msg);
    assert_int_equal(msg.count, HEADERS_FIELDS_MAX);
    assert_true(msg.truncated);
    assert_int_equal(msg.body.len, 4);
    headers_msg_clear(&msg);
    free(big);
}

static void
test_from(void **state)
{
    (void) state;
    static const struct {
        const char *label, *in;
        int rc;
        size_t boxes;
        const char *display, *local, *domain;
    } cases[] = {
        {"bare", " alice@Example.COM", 0, 1, "", "alice", "example.com"},
        {"angle", " Alice <alice@example.com>", 0, 1, "Alice", "alice", "example.com"},
        {"quoted display", " \"Smith, Bob\" <bob@example.com>", 0, 1, "Smith, Bob", "bob",
         "example.com"},
        {"quoted escape", " \"a \\\"b\\\" c\" <x@example.com>", 0, 1, "a \"b\" c", "x", "example.com"},
        {"comment display", " bob@example.com (Bob Smith)", 0, 1, "Bob Smith", "bob", "example.com"},
        {"two boxes", " a@one.example, B <b@two.example>", 0, 2, "", "a", "one.example"},
        {"comma in quotes", " \"x, y\" <z@example.org>", 0, 1, "x, y", "z", "example.org"},
        {"encoded word q", " =?utf-8?q?ceo=40corp.example?= <evil@bad.example>", 0, 1,
         "ceo@corp.example", "evil", "bad.example"},
        {"encoded word b", " =?UTF-8?B?Q0VPIGNvcnAuZXhhbXBsZQ==?= <e@bad.example>", 0, 1,
         "CEO corp.example", "e", "bad.example"},
        {"route", " <@relay.example:a@example.net>", 0, 1, "", "a", "example.net"},
        {"trailing dot", " a@example.net.", 0, 1, "", "a", "example.net"},
        {"group", " team: a@x.example, b@y.example;", 0, 2, "", "a", "x.example"},
        {"at in display", " \"a@spoof.example\" <a@real.example>", 0, 1, "a@spoof.example", "a",
         "real.example"},
        {"no domain", " alice", -1, 0, "", "", ""},
        {"empty", "", -1, 0, "", "", ""},
        {"bad domain", " a@exa mple..com", -1, 0, "", "", ""},
        {"unclosed angle", " A <a@example.com", -1, 0, "", "", ""},
        {"control bytes", " \"a\x01\x7f\" <a@example.com>", 0, 1, "a??", "a", "example.com"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        headers_from_t f;
        const char *why = NULL;
        sl_slice_t v = {.ptr = cases[i].in, .len = strlen(cases[i].in)};
        int rc = headers_from_parse(v, &f, &why);
        if (rc != cases[i].rc || f.mailboxes != cases[i].boxes)
            fail_msg("%s: rc %d boxes %zu", cases[i].label, rc, f.mailboxes);
        if (rc == 0 && (strcmp(f.display, cases[i].display) != 0 ||
                        strcmp(f.local, cases[i].local) != 0 ||
                        strcmp(f.domain, cases[i].domain) != 0))
            fail_msg("%s: display '%s' local '%s' domain '%s'", cases[i].label, f.display, f.local,
                     f.domain);
        if (rc != 0 && why == NULL)
            fail_msg("%s: no reason", cases[i].label);
    }
}

static void
test_date(void **state)
{
    (void) state;
    static const struct {
        const char *label, *in;
        int rc;
        int64_t want;
    } cases[] = {
        {"rfc 5322", "Fri, 21 Nov 1997 09:55:06 -0600", 0, 880127706},
        {"no weekday", "21 Nov 1997 09:55:06 -0600", 0, 880127706},
        {"no seconds", "Fri, 21 Nov 1997 09:55 -0600", 0, 880127700},
        {"comment zone", "Mon, 23 Nov 2026 12:00:00 +0000 (UTC)", 0, 1795435200},
        {"obs zone EST", "Fri, 21 Nov 1997 10:55:06 EST", 0, 880127706},
        {"obs zone GMT", "Thu, 1 Jan 1970 00:00:00 GMT", 0, 0},
        {"two-digit year", "1 Jan 70 00:00:00 +0000", 0, 0},
        {"leap day", "29 Feb 2024 00:00:00 +0000", 0, 1709164800},
        {"not leap", "29 Feb 2023 00:00:00 +0000", -1, 0},
        {"day 32", "32 Jan 2020 00:00:00 +0000", -1, 0},
        {"bad month", "1 Foo 2020 00:00:00 +0000", -1, 0},
        {"hour 24", "1 Jan 2020 24:00:00 +0000", -1, 0},
        {"bad zone", "1 Jan 2020 00:00:00 +2", -1, 0},
        {"empty", "", -1, 0},
        {"garbage", "yesterday at noon", -1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t t = -1;
        const char *why = NULL;
        int rc = headers_date_parse((sl_slice_t){cases[i].in, strlen(cases[i].in)}, &t, &why);
        if (rc != cases[i].rc || (rc == 0 && t != cases[i].want))
            fail_msg("%s: rc %d t %lld", cases[i].label, rc, (long long) t);
    }
}

static void
test_domain_valid(void **state)
{
    (void) state;
    assert_true(headers_domain_is_valid(S("example.com")));
    assert_true(headers_domain_is_valid(S("_dmarc.x-y.example")));
    assert_false(headers_domain_is_valid(S("")));
    assert_false(headers_domain_is_valid(S("a..b")));
    assert_false(headers_domain_is_valid(S(".a")));
    assert_false(headers_domain_is_valid(S("a b")));
    assert_false(headers_domain_is_valid(S("a\0b")));
    char label[80];
    memset(label, 'a', 64);
    label[64] = '\0';
    assert_false(headers_domain_is_valid(label, 64));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),         cmocka_unit_test(test_find_and_limits),
        cmocka_unit_test(test_from),          cmocka_unit_test(test_date),
        cmocka_unit_test(test_domain_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
