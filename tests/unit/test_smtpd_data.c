/*
 * tests/unit/test_smtpd_data.c - DATA/BDAT content: dot-unstuffing, the end of
 * data, and the smuggling payloads that must never end a message early.
 *
 * Each case is fed whole and then byte by byte (a terminator split across
 * reads must behave the same). Expected: where the message ends (bytes
 * consumed), the unstuffed content, and the refusal flags.
 */
#include "smtpd_data.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "sl_test.h"

static const struct {
    const char *label, *in;
    size_t len;
    int dot;         /* DATA (1) or BDAT (0) */
    int done;        /* terminator seen */
    size_t consumed; /* bytes eaten (all unless done) */
    const char *out; /* content when no flags, else NULL */
    unsigned flags;
} s_cases[] = {
    {"simple", S("Subject: x\r\n\r\nhi\r\n.\r\n"), 1, 1, 21, "Subject: x\r\n\r\nhi\r\n", 0},
    {"empty message", S(".\r\n"), 1, 1, 3, "", 0},
    {"dot-stuffed line", S("a\r\n..b\r\n.\r\n"), 1, 1, 11, "a\r\n.b\r\n", 0},
    {"lone stuffed dot", S("..\r\n.\r\n"), 1, 1, 7, ".\r\n", 0},
    {"stops at terminator", S("a\r\n.\r\nQUIT\r\n"), 1, 1, 6, "a\r\n", 0},
    {"unfinished", S("a\r\nb"), 1, 0, 4, NULL, 0},
    {"smuggle LF.LF", S("a\r\n\n.\nMAIL FROM:<x@y>\r\n.\r\n"), 1, 1, 26, NULL, SMTPD_DATA_BARE_LF},
    {"smuggle CR.CR", S("a\r\n\r.\rMAIL FROM:<x@y>\r\n.\r\n"), 1, 1, 26, NULL, SMTPD_DATA_BARE_CR},
    {"smuggle CRLF.LF", S("a\r\n.\nMAIL FROM:<x@y>\r\n.\r\n"), 1, 1, 25, NULL, SMTPD_DATA_BARE_LF},
    {"smuggle LF.CRLF", S("a\n.\r\nMAIL FROM:<x@y>\r\n.\r\n"), 1, 1, 25, NULL, SMTPD_DATA_BARE_LF},
    {"smuggle CR.CRLF", S("a\r.\r\nMAIL\r\n.\r\n"), 1, 1, 14, NULL, SMTPD_DATA_BARE_CR},
    {"smuggle CRLF.CR", S("a\r\n.\rMAIL\r\n.\r\n"), 1, 1, 14, NULL, SMTPD_DATA_BARE_CR},
    {"bare LF text", S("a\nb\r\n.\r\n"), 1, 1, 8, NULL, SMTPD_DATA_BARE_LF},
    {"CR CR LF", S("a\r\r\n.\r\n"), 1, 1, 7, NULL, SMTPD_DATA_BARE_CR},
    {"NUL", S("a\0b\r\n.\r\n"), 1, 1, 8, NULL, SMTPD_DATA_NUL},
    {"BDAT keeps dots", S("..a\r\n.\r\n"), 0, 0, 8, "..a\r\n.\r\n", 0},
    {"BDAT bare LF", S("a\nb\r\n"), 0, 0, 5, NULL, SMTPD_DATA_BARE_LF},
    {"8-bit text", S("\xc3\xa9t\xc3\xa9\r\n.\r\n"), 1, 1, 10, "\xc3\xa9t\xc3\xa9\r\n", 0},
};

static void
s_run(size_t i, int bytewise)
{
    const char *label = s_cases[i].label;
    smtpd_data_t d = {
        .line_max = 998, .header_lines_max = 100, .header_bytes_max = 10000, .size_max = 100000};
    smtpd_data_begin(&d, s_cases[i].dot);
    size_t used = 0;
    if (bytewise) {
        while (used < s_cases[i].len && !d.done)
            used += smtpd_data_feed(&d, s_cases[i].in + used, 1);
    } else {
        used = smtpd_data_feed(&d, s_cases[i].in, s_cases[i].len);
    }
    s_check(d.done == (s_cases[i].done != 0), label, "done=%d bytewise=%d", d.done, bytewise);
    s_check(used == s_cases[i].consumed, label, "consumed %zu bytewise=%d", used, bytewise);
    s_check(d.flags == s_cases[i].flags, label, "flags %#x bytewise=%d", d.flags, bytewise);
    if (s_cases[i].out != NULL) {
        size_t want = strlen(s_cases[i].out);
        s_check(d.len == want && (want == 0 || memcmp(d.buf, s_cases[i].out, want) == 0), label,
                "content \"%.*s\"", (int)d.len, d.buf);
    }
    smtpd_data_reset(&d);
}

static void
test_cases(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        s_run(i, 0);
        s_run(i, 1);
    }
}

static void
test_limits(void **state)
{
    (void)state;
    smtpd_data_t d = {
        .line_max = 10, .header_lines_max = 2, .header_bytes_max = 1000, .size_max = 30};
    smtpd_data_begin(&d, true);
    smtpd_data_feed(&d, S("0123456789A\r\n.\r\n"));
    assert_true(d.done);
    assert_int_equal(d.flags, SMTPD_DATA_LONG_LINE);
    assert_string_equal(smtpd_data_reply(&d),
                        "550 5.6.0 Message line too long (RFC 5321 4.5.3.1.6)");

    smtpd_data_begin(&d, true);
    smtpd_data_feed(&d, S("a: 1\r\nb: 2\r\nc: 3\r\n\r\n.\r\n"));
    assert_int_equal(d.flags, SMTPD_DATA_HEADERS);

    smtpd_data_begin(&d, true);
    smtpd_data_feed(&d, S("a: 1\r\n\r\n0123456789\r\n0123456789\r\n0123456789\r\n.\r\n"));
    assert_true(d.done);
    assert_int_equal(d.flags, SMTPD_DATA_OVERSIZED);
    assert_string_equal(smtpd_data_reply(&d), "552 5.3.4 Message size exceeds fixed limit");
    assert_true(d.len <= 30); /* stopped keeping bytes */

    smtpd_data_begin(&d, false); /* BDAT ending in a lone CR */
    smtpd_data_feed(&d, S("a\r"));
    smtpd_data_finish(&d);
    assert_int_equal(d.flags, SMTPD_DATA_BARE_CR);
    assert_null(smtpd_data_reply(&(smtpd_data_t){0}));
    smtpd_data_reset(&d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cases), cmocka_unit_test(test_limits)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
