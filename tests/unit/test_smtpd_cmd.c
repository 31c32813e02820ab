/*
 * tests/unit/test_smtpd_cmd.c - the SMTP command parser and the line reader.
 *
 * Tables of labelled cases: commands, MAIL/RCPT paths and parameters, HELO
 * names, BDAT sizes, UTF-8; good, bad and hostile input in one table, each
 * with the exact reply a refusal must give. Line reader: CRLF, bare LF,
 * over-long lines split across reads.
 */
#include "smtpd_cmd.h"
#include "smtpd_line.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "sl_test.h"

static const struct {
    const char *label, *in;
    size_t len;
    smtpd_verb_t verb;
    const char *arg;   /* expected argument when parsed */
    const char *reply; /* NULL: parses */
} s_cmds[] = {
    {"EHLO", S("EHLO mx.example"), SMTPD_CMD_EHLO, "mx.example", NULL},
    {"lower case verb", S("ehlo mx.example"), SMTPD_CMD_EHLO, "mx.example", NULL},
    {"MAIL keeps FROM:", S("MAIL FROM:<a@b>"), SMTPD_CMD_MAIL, "FROM:<a@b>", NULL},
    {"trailing spaces trimmed", S("NOOP   "), SMTPD_CMD_NOOP, "", NULL},
    {"DATA", S("DATA"), SMTPD_CMD_DATA, "", NULL},
    {"BDAT", S("BDAT 10 LAST"), SMTPD_CMD_BDAT, "10 LAST", NULL},
    {"STARTTLS", S("STARTTLS"), SMTPD_CMD_STARTTLS, "", NULL},
    {"HTTP GET", S("GET / HTTP/1.1"), SMTPD_CMD_HTTP, "/ HTTP/1.1", NULL},
    {"unknown verb", S("XYZZY"), SMTPD_CMD_UNKNOWN, "",
     "500 5.5.2 Syntax error, command unrecognized"},
    {"verb prefix only", S("MAI FROM:<a@b>"), SMTPD_CMD_UNKNOWN, "",
     "500 5.5.2 Syntax error, command unrecognized"},
    {"leading space", S(" NOOP"), SMTPD_CMD_UNKNOWN, "",
     "500 5.5.2 Syntax error, command unrecognized"},
    {"empty line", S(""), SMTPD_CMD_UNKNOWN, "", "500 5.5.2 Syntax error, command unrecognized"},
    {"NUL inside", S("NOOP\0x"), SMTPD_CMD_UNKNOWN, "",
     "500 5.5.2 Syntax error: NUL byte in command"},
    {"bare CR inside", S("NOOP\rRSET"), SMTPD_CMD_UNKNOWN, "",
     "500 5.5.2 Syntax error: control character in command"},
    {"escape byte", S("NOOP \x1b[31m"), SMTPD_CMD_UNKNOWN, "",
     "500 5.5.2 Syntax error: control character in command"},
};

static void
test_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++) {
        smtpd_cmd_t cmd;
        const char *why = NULL;
        int rc = smtpd_cmd_parse(s_cmds[i].in, s_cmds[i].len, &cmd, &why);
        if (s_cmds[i].reply == NULL) {
            s_check(rc == 0, s_cmds[i].label, "refused: %s", why);
            s_check(cmd.verb == s_cmds[i].verb, s_cmds[i].label, "verb %d", cmd.verb);
            s_check(cmd.arg.len == strlen(s_cmds[i].arg) &&
                        memcmp(cmd.arg.ptr, s_cmds[i].arg, cmd.arg.len) == 0,
                    s_cmds[i].label, "arg %.*s", (int)cmd.arg.len, cmd.arg.ptr);
        } else {
            s_check(rc == -1, s_cmds[i].label, "taken");
            s_check(strcmp(why, s_cmds[i].reply) == 0, s_cmds[i].label, "reply %s", why);
        }
    }
}

static const struct {
    const char *label, *in;
    size_t len;
    int rcpt;          /* RCPT TO: rather than MAIL FROM: */
    int esmtp;         /* after EHLO */
    const char *addr;  /* expected mailbox when taken */
    const char *reply; /* NULL: taken */
    int utf8, smtputf8, body8;
    uint64_t size;
} s_paths[] = {
    {"plain", S("FROM:<a@example.com>"), 0, 1, "a@example.com", NULL, 0, 0, 0, 0},
    {"null sender", S("FROM:<>"), 0, 1, "", NULL, 0, 0, 0, 0},
    {"space after colon", S("FROM: <a@example.com>"), 0, 1, "a@example.com", NULL, 0, 0, 0, 0},
    {"lower-case from", S("from:<a@example.com>"), 0, 1, "a@example.com", NULL, 0, 0, 0, 0},
    {"SIZE", S("FROM:<a@b.c> SIZE=1000"), 0, 1, "a@b.c", NULL, 0, 0, 0, 1000},
    {"BODY=8BITMIME", S("FROM:<a@b.c> BODY=8BITMIME"), 0, 1, "a@b.c", NULL, 0, 0, 1, 0},
    {"BODY=7BIT", S("FROM:<a@b.c> body=7bit"), 0, 1, "a@b.c", NULL, 0, 0, 0, 0},
    {"SMTPUTF8", S("FROM:<ü@b.c> SMTPUTF8"), 0, 1, "ü@b.c", NULL, 1, 1, 0, 0},
    {"quoted local part", S("FROM:<\"a b\"@b.c>"), 0, 1, "\"a b\"@b.c", NULL, 0, 0, 0, 0},
    {"quoted with escaped quote", S("FROM:<\"a\\\"b\"@b.c>"), 0, 1, "\"a\\\"b\"@b.c", NULL, 0, 0, 0,
     0},
    {"source route dropped", S("TO:<@relay.example:a@b.c>"), 1, 1, "a@b.c", NULL, 0, 0, 0, 0},
    {"address literal", S("TO:<a@[192.0.2.1]>"), 1, 1, "a@[192.0.2.1]", NULL, 0, 0, 0, 0},
    {"postmaster", S("TO:<Postmaster>"), 1, 1, "Postmaster", NULL, 0, 0, 0, 0},
    {"no brackets", S("FROM:a@b.c"), 0, 1, NULL,
     "501 5.5.4 Syntax: address must be in angle brackets", 0, 0, 0, 0},
    {"missing close", S("FROM:<a@b.c"), 0, 1, NULL, "501 5.5.4 Syntax: missing '>'", 0, 0, 0, 0},
    {"no FROM:", S("TO:<a@b.c>"), 0, 1, NULL, "501 5.5.4 Syntax: MAIL FROM:<address>", 0, 0, 0, 0},
    {"junk after path", S("FROM:<a@b.c>x"), 0, 1, NULL, "501 5.5.4 Syntax: junk after address", 0,
     0, 0, 0},
    {"no domain", S("FROM:<ab>"), 0, 1, NULL, "501 5.1.3 Bad address syntax: missing domain", 0, 0,
     0, 0},
    {"empty rcpt", S("TO:<>"), 1, 1, NULL, "501 5.1.3 Bad recipient address syntax: empty path", 0,
     0, 0, 0},
    {"double dot", S("FROM:<a..b@c.d>"), 0, 1, NULL,
     "501 5.1.3 Bad address syntax: dot in local part", 0, 0, 0, 0},
    {"empty label", S("FROM:<a@b..c>"), 0, 1, NULL,
     "501 5.1.3 Bad address syntax: empty domain label", 0, 0, 0, 0},
    {"trailing dot", S("FROM:<a@b.c.>"), 0, 1, NULL,
     "501 5.1.3 Bad address syntax: empty domain label", 0, 0, 0, 0},
    {"space in domain", S("FROM:<a@b c>"), 0, 1, NULL,
     "501 5.1.3 Bad address syntax: character in domain", 0, 0, 0, 0},
    {"params need EHLO", S("FROM:<a@b.c> SIZE=10"), 0, 0, NULL, "555 5.5.4 Parameters need EHLO", 0,
     0, 0, 0},
    {"unknown param", S("FROM:<a@b.c> AUTH=<>"), 0, 1, NULL,
     "555 5.5.4 Unsupported MAIL FROM parameter", 0, 0, 0, 0},
    {"rcpt param", S("TO:<a@b.c> NOTIFY=NEVER"), 1, 1, NULL,
     "555 5.5.4 Unsupported RCPT TO parameter", 0, 0, 0, 0},
    {"SIZE not a number", S("FROM:<a@b.c> SIZE=12x"), 0, 1, NULL, "501 5.5.4 Syntax: SIZE=number",
     0, 0, 0, 0},
    {"SIZE 2^64", S("FROM:<a@b.c> SIZE=18446744073709551616"), 0, 1, NULL,
     "501 5.5.4 Syntax: SIZE=number", 0, 0, 0, 0},
    {"SIZE without value", S("FROM:<a@b.c> SIZE"), 0, 1, NULL, "501 5.5.4 Syntax: SIZE=number", 0,
     0, 0, 0},
    {"BODY=BINARYMIME", S("FROM:<a@b.c> BODY=BINARYMIME"), 0, 1, NULL,
     "555 5.5.4 Unsupported BODY type", 0, 0, 0, 0},
    {"bad UTF-8",
     S("FROM:<\xc3"
       "A@b.c> SMTPUTF8"),
     0, 1, NULL, "501 5.6.7 Bad address syntax: malformed UTF-8", 0, 0, 0, 0},
    {"overlong UTF-8", S("FROM:<\xc0\xaf@b.c> SMTPUTF8"), 0, 1, NULL,
     "501 5.6.7 Bad address syntax: malformed UTF-8", 0, 0, 0, 0},
    {"path too long",
     S("FROM:<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@b.c>"),
     0, 1, NULL, "501 5.1.3 Bad address syntax: path too long", 0, 0, 0, 0},
    {"unterminated quote", S("FROM:<\"ab@c.d>"), 0, 1, NULL, "501 5.5.4 Syntax: missing '>'", 0, 0,
     0, 0},
};

static void
test_paths(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_paths / sizeof s_paths[0]; i++) {
        smtpd_path_t p;
        const char *why = NULL;
        sl_slice_t arg = {s_paths[i].in, s_paths[i].len};
        int rc = s_paths[i].rcpt ? smtpd_cmd_rcpt(arg, s_paths[i].esmtp, &p, &why)
                                 : smtpd_cmd_mail(arg, s_paths[i].esmtp, &p, &why);
        const char *label = s_paths[i].label;
        if (s_paths[i].reply != NULL) {
            s_check(rc == -1, label, "taken");
            s_check(strcmp(why, s_paths[i].reply) == 0, label, "reply %s", why);
            continue;
        }
        s_check(rc == 0, label, "refused: %s", why);
        s_check(p.addr.len == strlen(s_paths[i].addr) &&
                    memcmp(p.addr.ptr, s_paths[i].addr, p.addr.len) == 0,
                label, "addr %.*s", (int)p.addr.len, p.addr.ptr);
        s_check(p.utf8 == (s_paths[i].utf8 != 0), label, "utf8");
        s_check(p.smtputf8 == (s_paths[i].smtputf8 != 0), label, "smtputf8");
        s_check(p.body_8bit == (s_paths[i].body8 != 0), label, "body8");
        s_check(p.size == s_paths[i].size, label, "size");
    }
}

static void
test_helo_bdat(void **state)
{
    (void)state;
    sl_slice_t d;
    const char *why;
    assert_int_equal(smtpd_cmd_helo((sl_slice_t){S("mx.example")}, &d, &why), 0);
    assert_int_equal(smtpd_cmd_helo((sl_slice_t){S("[192.0.2.1]")}, &d, &why), 0);
    assert_int_equal(smtpd_cmd_helo((sl_slice_t){S("")}, &d, &why), -1);
    assert_string_equal(why, "501 5.5.4 Syntax: EHLO hostname");
    assert_int_equal(smtpd_cmd_helo((sl_slice_t){S("two words")}, &d, &why), -1);
    assert_int_equal(smtpd_cmd_helo((sl_slice_t){S("bad\xff")}, &d, &why), -1);

    uint64_t size;
    bool last;
    assert_int_equal(smtpd_cmd_bdat((sl_slice_t){S("100")}, &size, &last, &why), 0);
    assert_true(size == 100 && !last);
    assert_int_equal(smtpd_cmd_bdat((sl_slice_t){S("0 last")}, &size, &last, &why), 0);
    assert_true(size == 0 && last);
    assert_int_equal(
        smtpd_cmd_bdat((sl_slice_t){S("18446744073709551615 LAST")}, &size, &last, &why), 0);
    assert_true(size == UINT64_MAX);
    assert_int_equal(smtpd_cmd_bdat((sl_slice_t){S("18446744073709551616")}, &size, &last, &why),
                     -1);
    assert_int_equal(smtpd_cmd_bdat((sl_slice_t){S("-1")}, &size, &last, &why), -1);
    assert_int_equal(smtpd_cmd_bdat((sl_slice_t){S("")}, &size, &last, &why), -1);
    assert_int_equal(smtpd_cmd_bdat((sl_slice_t){S("10 LASTX")}, &size, &last, &why), -1);
    assert_string_equal(why, "501 5.5.4 Syntax: BDAT size [LAST]");
}

static void
test_utf8(void **state)
{
    (void)state;
    assert_true(smtpd_utf8_valid(S("plain")));
    assert_true(smtpd_utf8_valid(S("\xe2\x82\xac")));      /* euro sign */
    assert_true(smtpd_utf8_valid(S("\xf0\x9f\x98\x80")));  /* emoji */
    assert_false(smtpd_utf8_valid(S("\xed\xa0\x80")));     /* surrogate */
    assert_false(smtpd_utf8_valid(S("\xe2\x82")));         /* truncated */
    assert_false(smtpd_utf8_valid(S("\xf4\x90\x80\x80"))); /* > U+10FFFF */
    assert_false(smtpd_utf8_valid(S("\xe0\x80\x80")));     /* overlong */
}

/* ---- line reader ---- */

static void
test_line(void **state)
{
    (void)state;
    smtpd_line_t lr = {0};
    size_t used, len;
    assert_int_equal(smtpd_line_next(&lr, S("NOOP\r\nQUIT\r\n"), 512, &used, &len), SMTPD_LINE_OK);
    assert_int_equal(used, 6);
    assert_int_equal(len, 4);
    assert_int_equal(smtpd_line_next(&lr, S("NOO"), 512, &used, &len), SMTPD_LINE_MORE);
    assert_int_equal(used, 0);
    assert_int_equal(smtpd_line_next(&lr, S("NOOP\n"), 512, &used, &len), SMTPD_LINE_BARE_LF);
    assert_int_equal(used, 5);
    assert_int_equal(smtpd_line_next(&lr, S("\n"), 512, &used, &len), SMTPD_LINE_BARE_LF);

    /* 600 bytes without LF, then the rest of the line in a second read */
    char big[600];
    memset(big, 'A', sizeof big);
    assert_int_equal(smtpd_line_next(&lr, big, sizeof big, 512, &used, &len), SMTPD_LINE_MORE);
    assert_int_equal(used, 512);
    assert_true(lr.skipping);
    assert_int_equal(smtpd_line_next(&lr, big, 88, 512, &used, &len), SMTPD_LINE_MORE);
    assert_int_equal(used, 88);
    assert_int_equal(smtpd_line_next(&lr, S("AAA\r\nNOOP\r\n"), 512, &used, &len),
                     SMTPD_LINE_TOO_LONG);
    assert_int_equal(used, 5);
    assert_false(lr.skipping);
    assert_int_equal(smtpd_line_next(&lr, S("NOOP\r\n"), 512, &used, &len), SMTPD_LINE_OK);

    /* exactly 512 bytes with CRLF is allowed, 513 is not */
    char edge[513];
    memset(edge, 'B', sizeof edge);
    memcpy(edge + 510, "\r\n", 2);
    assert_int_equal(smtpd_line_next(&lr, edge, 512, 512, &used, &len), SMTPD_LINE_OK);
    assert_int_equal(len, 510);
    memset(edge, 'B', sizeof edge);
    memcpy(edge + 511, "\r\n", 2);
    assert_int_equal(smtpd_line_next(&lr, edge, 512, 512, &used, &len), SMTPD_LINE_MORE);
    assert_true(lr.skipping);
    assert_int_equal(smtpd_line_next(&lr, "\n", 1, 512, &used, &len), SMTPD_LINE_TOO_LONG);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),     cmocka_unit_test(test_paths),
        cmocka_unit_test(test_helo_bdat), cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
