/*
 * tests/unit/test_mime.c - the mime stage's core: parts, uuencode, policy, limits, options.
 *
 * Table-driven: each case is a small message (good, bad or hostile) and the
 * parts count, symbols and class mime_scan must give. Links sluice-mime-core
 * and sluice-stage-opts (tests/CMakeLists.txt, block at the end).
 */
#include "mime.h"
#include "sl_cfg.h"
#include "stage_opts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(lit) lit, sizeof(lit) - 1 // a literal and its exact length, NULs included

#define HDRS                                                                                       \
    "From: Alice <alice@example.net>\r\nTo: bob@example.com\r\nSubject: t\r\n"                     \
    "Date: Mon, 23 Nov 2026 12:00:00 +0000\r\nMessage-ID: <1@example.net>\r\n"
#define MP "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
#define ATT(name, cte, body)                                                                       \
    "--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "           \
    "filename=\"" name "\"\r\nContent-Transfer-Encoding: " cte "\r\n\r\n" body "\r\n"

static const struct {
    const char *label, *in;
    size_t len;
    size_t parts;       /* parts found */
    const char *symbol; /* must be among the findings, or NULL */
    const char *absent; /* must not be, or NULL */
    mime_class_t worst; /* class of the worst finding */
} cases[] = {
    {"plain text", S(HDRS "\r\nhello\r\n"), 1, NULL, "MIME_HDR_MISSING_FROM", MIME_CLASS_NONE},
    {"double extension",
     S(HDRS MP "--b\r\n\r\nx\r\n" ATT("invoice.pdf.exe", "7bit", "MZ") "--b--\r\n"), 2,
     "MIME_BANNED_DOUBLE_EXT", NULL, MIME_CLASS_BANNED},
    {"double extension, trailing dots and spaces",
     S(HDRS MP ATT("invoice.pdf.exe. . ", "7bit", "MZ") "--b--\r\n"), 1, "MIME_BANNED_DOUBLE_EXT",
     NULL, MIME_CLASS_BANNED},
    {"banned extension", S(HDRS MP ATT("setup.scr", "7bit", "x") "--b--\r\n"), 1, "MIME_BANNED_EXT",
     NULL, MIME_CLASS_BANNED},
    {"exe not banned as .exe.txt", S(HDRS MP ATT("notes.exe.txt", "7bit", "x") "--b--\r\n"), 1,
     NULL, "MIME_BANNED_DOUBLE_EXT", MIME_CLASS_NONE},
    {"base64 decoded", S(HDRS MP ATT("a.txt", "base64", "aGVsbG8gd29ybGQ=") "--b--\r\n"), 1, NULL,
     "MIME_UNSCANNABLE", MIME_CLASS_NONE},
    {"inline uuencode",
     S(HDRS "\r\ntext\r\nbegin 644 run.exe\r\n%:&5L;&\\@=V]R;&0`\r\n`\r\nend\r\n"), 2,
     "MIME_BANNED_EXT", NULL, MIME_CLASS_BANNED},
    {"uuencode line longer than it claims", S(HDRS "\r\nbegin 644 a.bin\r\nM:&5L\r\nend\r\n"), 2,
     NULL, NULL, MIME_CLASS_NONE},
    {"missing From", S("To: b@example.com\r\nSubject: x\r\n\r\nbody\r\n"), 1,
     "MIME_HDR_MISSING_FROM", NULL, MIME_CLASS_BAD_HEADER},
    {"duplicate From", S(HDRS "From: eve@example.org\r\n\r\nbody\r\n"), 1, "MIME_HDR_DUPLICATE",
     NULL, MIME_CLASS_BAD_HEADER},
    {"From without domain", S("From: alice\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\n\r\nb\r\n"),
     1, "MIME_HDR_BAD_ADDRESS", NULL, MIME_CLASS_BAD_HEADER},
    {"8-bit header not UTF-8", S(HDRS "X-Name: caf\xe9\r\n\r\nbody\r\n"), 1, "MIME_HDR_8BIT", NULL,
     MIME_CLASS_BAD_HEADER},
    {"NUL in body", S(HDRS "\r\nhel\0lo\r\n"), 1, NULL, NULL, MIME_CLASS_NONE},
    {"empty input: one opaque part", S(""), 1, NULL, NULL, MIME_CLASS_NONE},
    {"unterminated multipart", S(HDRS MP "--b\r\nContent-Type: text/plain\r\n\r\nhalf"), 1, NULL,
     NULL, MIME_CLASS_NONE},
};

static bool
s_has(const mime_result_t *res, const char *symbol)
{
    for (size_t i = 0; i < res->finding_count; i++)
        if (strcmp(res->findings[i].symbol, symbol) == 0)
            return true;
    return false;
}

static mime_class_t
s_worst(const mime_result_t *res)
{
    mime_class_t w = MIME_CLASS_NONE;
    for (size_t i = 0; i < res->finding_count; i++)
        if (res->findings[i].class_hint > w)
            w = res->findings[i].class_hint;
    return w;
}

static mime_magic_t *s_magic;

static int
s_setup(void **state)
{
    (void) state;
    mime_global_init();
    s_magic = mime_magic_new(NULL);
    return s_magic ? 0 : -1;
}

static int
s_teardown(void **state)
{
    (void) state;
    mime_magic_destroy(&s_magic);
    return 0;
}

static void
test_cases(void **state)
{
    (void) state;
    mime_limits_t lim;
    mime_limits_default(&lim);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mime_result_t res;
        assert_int_equal(mime_scan(cases[i].in, cases[i].len, &lim, s_magic, &res), 0);
        char label[160];
        snprintf(label, sizeof label, "case \"%s\"", cases[i].label);
        if (res.part_count != cases[i].parts)
            fail_msg("%s: %zu parts, want %zu", label, res.part_count, cases[i].parts);
        if (cases[i].symbol && !s_has(&res, cases[i].symbol))
            fail_msg("%s: no %s", label, cases[i].symbol);
        if (cases[i].absent && s_has(&res, cases[i].absent))
            fail_msg("%s: unexpected %s", label, cases[i].absent);
        if (s_worst(&res) != cases[i].worst)
            fail_msg("%s: class %d, want %d", label, s_worst(&res), cases[i].worst);
        mime_result_free(&res);
    }
    mime_limits_free(&lim);
}

static void
test_uu_bytes(void **state)
{
    (void) state;
    mime_limits_t lim;
    mime_limits_default(&lim);
    mime_result_t res;
    static const char msg[] = HDRS "\r\nbegin 644 a.txt\r\n+:&5L;&\\@=V]R;&0`\r\n`\r\nend\r\n";
    assert_int_equal(mime_scan(msg, sizeof msg - 1, &lim, s_magic, &res), 0);
    assert_int_equal(res.part_count, 2);
    assert_string_equal(res.parts[1].path, "1/uu:a.txt");
    assert_int_equal(res.parts[1].size, 11);
    assert_memory_equal(res.parts[1].data, "hello world", 11);
    mime_result_free(&res);
    mime_limits_free(&lim);
}

static void
test_limits(void **state)
{
    (void) state;
    mime_limits_t lim;
    mime_limits_default(&lim);
    static const char three[] = HDRS MP ATT("a.txt", "7bit", "1") ATT("b.txt", "7bit", "2")
        ATT("c.txt", "7bit", "3") "--b--\r\n";
    static const struct {
        const char *label;
        int64_t parts_max, depth_max, containers_max;
        size_t parts;
        bool unscannable;
    } lims[] = {
        {"within limits", 10, 10, 10, 3, false},
        {"parts_max 2", 2, 10, 10, 2, true},
        {"depth_max 0", 10, 0, 10, 0, true},
        {"containers_max 0", 10, 10, 0, 0, true},
    };
    for (size_t i = 0; i < sizeof lims / sizeof lims[0]; i++) {
        lim.parts_max = lims[i].parts_max;
        lim.depth_max = lims[i].depth_max;
        lim.containers_max = lims[i].containers_max;
        mime_result_t res;
        assert_int_equal(mime_scan(three, sizeof three - 1, &lim, s_magic, &res), 0);
        if (res.part_count != lims[i].parts ||
            s_has(&res, "MIME_UNSCANNABLE") != lims[i].unscannable)
            fail_msg("limit \"%s\": %zu parts, unscannable %d", lims[i].label, res.part_count,
                     s_has(&res, "MIME_UNSCANNABLE"));
        if (lims[i].unscannable && s_worst(&res) != MIME_CLASS_BANNED)
            fail_msg("limit \"%s\": not classified banned", lims[i].label);
        mime_result_free(&res);
    }
    mime_limits_free(&lim);
}

static void
test_options(void **state)
{
    (void) state;
    static const char yaml[] = "options:\n  depth_max: 7\n  macros: autorun\n  part_max: 1M\n";
    char err[1024];
    sl_cfg_t *cfg = sl_cfg_parse(yaml, sizeof yaml - 1, "t.yaml", err, sizeof err);
    assert_non_null(cfg);
    const sl_cfg_node_t *section = sl_cfg_get(sl_cfg_root(cfg), "options");
    static const struct {
        const char *label;
        const char *argv[5];
        int argc, rc;
        int64_t depth, part_max;
    } argvs[] = {
        {"section only", {"prog"}, 1, 0, 7, 1 << 20},
        {"command line wins", {"prog", "--depth-max", "9"}, 3, 0, 9, 1 << 20},
        {"size with unit", {"prog", "--part_max", "2M"}, 3, 0, 7, 2 << 20},
        {"out of range", {"prog", "--depth-max", "0"}, 3, -1, 0, 0},
        {"unknown key", {"prog", "--depht-max", "3"}, 3, -1, 0, 0},
        {"missing value", {"prog", "--depth-max"}, 2, -1, 0, 0},
        {"quote in value", {"prog", "--macros", "a'b"}, 3, 0, 7, 1 << 20},
    };
    for (size_t i = 0; i < sizeof argvs / sizeof argvs[0]; i++) {
        int64_t depth = 30, part_max = 5;
        char *macros = strdup("any");
        const stage_opt_t opts[] = {
            {"depth_max", STAGE_OPT_INT, &depth, 1, 100},
            {"part_max", STAGE_OPT_SIZE, &part_max, 1, 1LL << 30},
            {"macros", STAGE_OPT_STR, &macros, 0, 0},
        };
        int rc = stage_opts_read(opts, 3, section, argvs[i].argc, (char **)argvs[i].argv, err,
                                 sizeof err);
        if (rc != argvs[i].rc)
            fail_msg("options \"%s\": rc %d (%s)", argvs[i].label, rc, err);
        if (rc == 0 && (depth != argvs[i].depth || part_max != argvs[i].part_max))
            fail_msg("options \"%s\": depth %lld part_max %lld", argvs[i].label, (long long)depth,
                     (long long)part_max);
        stage_opts_free(opts, 3);
    }
    sl_cfg_destroy(&cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_uu_bytes),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_options),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
