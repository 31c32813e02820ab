/*
 * tests/unit/test_action_msg.c - the bytes the action stage hands to delivery.
 *
 * The byte-identical rule: the composed message is exactly the added header
 * text, then the original, with only the subject tag inserted. Hostile
 * messages (no header end, NUL bytes, bare LF, no Subject) included.
 */
#include "action_msg.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#define S(lit) lit, sizeof(lit) - 1 // a literal and its exact length, NULs included

static char *
s_join(const sl_slice_t *parts, size_t n, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += parts[i].len;
    char *out = malloc(total + 1);
    assert_non_null(out);
    *len = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(out + *len, parts[i].ptr, parts[i].len);
        *len += parts[i].len;
    }
    return out;
}

static const struct {
    const char *label, *msg;
    size_t len;
    const char *tag;  /* subject tag + space, "" = none */
    const char *want; /* composed, after the added "X-A: 1" line */
    size_t want_len;
} compose_cases[] = {
    {"crlf with subject", S("From: a\r\nSubject: hi\r\n\r\nbody\r\n"), "[S] ",
     S("X-A: 1\r\nFrom: a\r\nSubject: [S] hi\r\n\r\nbody\r\n")},
    {"no tag: untouched", S("Subject: hi\r\n\r\nSubject: body\r\n"), "",
     S("X-A: 1\r\nSubject: hi\r\n\r\nSubject: body\r\n")},
    {"subject in body only is not a header", S("From: a\r\n\r\nSubject: x\r\n"), "[S] ",
     S("X-A: 1\r\nFrom: a\r\n\r\nSubject: x\r\n")},
    {"lower-case subject, no space", S("subject:hi\n\nb\n"), "[S] ",
     S("X-A: 1\r\nsubject:[S] hi\n\nb\n")},
    {"folded subject keeps its fold", S("Subject: a\r\n b\r\n\r\n"), "[S] ",
     S("X-A: 1\r\nSubject: [S] a\r\n b\r\n\r\n")},
    {"NUL in header", S("X: \0\r\nSubject: z\r\n\r\n"), "[S] ",
     S("X-A: 1\r\nX: \0\r\nSubject: [S] z\r\n\r\n")},
    {"no header end", S("Subject: x"), "[S] ", S("X-A: 1\r\nSubject: [S] x")},
    {"empty message", S(""), "[S] ", S("X-A: 1\r\n")},
};

static void
test_compose(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof compose_cases / sizeof compose_cases[0]; i++) {
        action_hdr_t h = {0};
        action_hdr_add(&h, "X-A", "1", "\r\n");
        sl_slice_t msg = {compose_cases[i].msg, compose_cases[i].len}, parts[4];
        size_t n = action_compose(&h, msg, compose_cases[i].tag, parts), len;
        char *out = s_join(parts, n, &len);
        if (len != compose_cases[i].want_len || memcmp(out, compose_cases[i].want, len) != 0)
            fail_msg("case \"%s\": got \"%.*s\"", compose_cases[i].label, (int)len, out);
        free(out);
        action_hdr_free(&h);
    }
}

static void
test_header_value(void **state)
{
    (void)state;
    char buf[32];
    sl_slice_t m = {S("Message-ID:  <a@b>\r\nSubject: one\r\n two\r\n\r\nSubject: no\r\n")};
    assert_true(action_header_value(m, "message-id", buf, sizeof buf));
    assert_string_equal(buf, "<a@b>");
    assert_true(action_header_value(m, "Subject", buf, sizeof buf));
    assert_string_equal(buf, "one two");
    assert_false(action_header_value(m, "To", buf, sizeof buf));
    assert_string_equal(buf, "");
    sl_slice_t bad = {S("Subject: \x01\x7f"
                        "abcdefghijklmnopqrstuvwxyz0123456789\r\n\r\n")};
    assert_true(action_header_value(bad, "Subject", buf, sizeof buf));
    assert_int_equal(strlen(buf), sizeof buf - 1);
    assert_memory_equal(buf, "??abc", 5);
}

static void
test_eol_and_folding(void **state)
{
    (void)state;
    assert_string_equal(action_eol((sl_slice_t){S("a\nb")}), "\n");
    assert_string_equal(action_eol((sl_slice_t){S("a\r\nb")}), "\r\n");
    assert_string_equal(action_eol((sl_slice_t){S("")}), "\r\n");
    action_hdr_t h = {0};
    action_hdr_add(&h, "X-Evil", "a\r\nBcc: x", "\n");
    assert_string_equal(h.text, "X-Evil: a  Bcc: x\n"); /* no header injection */
    action_hdr_free(&h);
    char words[600] = ""; /* 30 words of 18 bytes */
    for (int i = 0; i < 30; i++)
        strcat(words, "SYMBOL_NAME(1.00) ");
    action_hdr_add_folded(&h, "X-Sluice-Status", words, "\r\n");
    for (char *line = h.text; *line;) {
        char *eol = strstr(line, "\r\n");
        assert_non_null(eol);
        assert_true(eol - line <= ACTION_FOLD_AT);
        line = eol + 2;
        if (*line)
            assert_int_equal(*line, '\t');
    }
    action_hdr_free(&h);
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    action_hdr_add(&h, "X-Long", big, "\r\n");
    assert_int_equal(h.len, ACTION_HEADER_LINE_MAX + 2);
    action_hdr_free(&h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compose),
        cmocka_unit_test(test_header_value),
        cmocka_unit_test(test_eol_and_folding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
