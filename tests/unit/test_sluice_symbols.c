/*
 * tests/unit/test_sluice_symbols.c - `sluice symbols` (supervisor/sluice_symbols.c):
 * every stage's table and the default rules beside the binary, weight
 * overrides from the config (score weights:, url and headers scores:, a
 * config-named symbol of a PREFIX* family), and refused input.
 */
#include "sluice_symbols.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* s_run - sluice_symbols_main(ARGV) with stdout captured into OUT. */
static int
s_run(char **argv, int argc, char *out, size_t size)
{
    char path[] = "/tmp/sluice-symbols-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    dup2(fd, STDOUT_FILENO);
    int rc = sluice_symbols_main(argc, argv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    ssize_t n = pread(fd, out, size - 1, 0);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return rc;
}

static void
test_lists_with_overrides(void **state)
{
    (void)state;
    const char *source = getenv("SLUICE_SOURCE");
    char rules[4096], cfg_path[] = "/tmp/sluice-symbols-cfg-XXXXXX";
    snprintf(rules, sizeof rules, "%s/stages/score/rules", source ? source : "../..");
    int fd = mkstemp(cfg_path);
    assert_true(fd >= 0);
    dprintf(fd,
            "stages:\n"
            "  - name: url\n    command: [sluice-stage-url]\n"
            "    options: {scores: {URL_SHORTENER: 0.9}}\n"
            "  - name: headers\n    command: [sluice-stage-headers]\n"
            "    options: {scores: {SPF_FAIL: 4}}\n"
            "  - name: score\n    command: [sluice-stage-score]\n"
            "    options:\n      rules: %s\n"
            "      weights: {URL_PHISHING: 7, SC_GTUBE: 500, RBL_EXAMPLE: 3}\n",
            rules);
    close(fd);
    static char out[1 << 18];
    char *argv[] = {"symbols", "-c", cfg_path};
    assert_int_equal(s_run(argv, 3, out, sizeof out), 0);
    unlink(cfg_path);
    /* Stage, then the line; a stage not built here (missing library) installs no table. */
    static const char *const want[][2] = {
        {"url", "URL_PHISHING                        7      5.0  url      Link text shows"},
        {"url", "URL_SHORTENER                     0.9      0.5  url"},
        {"score", "SC_GTUBE                          500     1000  score    GTUBE"},
        {"score", "SC_PHISH_LURE                       3        3  score    Account lure"},
        {"rbl", "RBL_EXAMPLE                         3        -  rbl      Client listed on a"},
        {"url", "URL_REDIRECTOR                    0.1      0.1  url      Link text shows one"},
        {"score", "SENDER_CORRESPONDENT             -3.0     -3.0  score    Every recipient"},
        {"headers", "SPF_FAIL                            4      2.0  headers  SPF fail"},
        {"mime", "MIME_BANNED_EXT                   6.0      6.0  mime     Attachment named"},
        {"av-a", "AV_A_VIRUS                       10.0     10.0  av-a     ClamAV signature"},
        {"av-b", "AV_B_YARA_MATCH                  10.0     10.0  av-b     A YARA rule"},
        {"greylist", "GREYLIST_DEFER                    0.0      0.0  greylist First delivery"},
    };
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char table[4200];
        snprintf(table, sizeof table, "%s/../share/sluice/symbols/%s.tsv", exe, want[i][0]);
        if (access(table, R_OK) != 0) {
            print_message("no table %s (stage not built): skipped\n", table);
            continue;
        }
        if (strstr(out, want[i][1]) == NULL)
            fail_msg("missing line '%s' in:\n%.4000s", want[i][1], out);
    }
}

static void
test_refuses(void **state)
{
    (void)state;
    static char out[4096];
    char *bad_arg[] = {"symbols", "--frobnicate"};
    assert_int_equal(s_run(bad_arg, 2, out, sizeof out), 2);
    char *no_cfg[] = {"symbols", "-c", "/nonexistent/sluice.yaml"};
    assert_int_equal(s_run(no_cfg, 3, out, sizeof out), 2);
    char *no_rules[] = {"symbols", "--rules", "/nonexistent/rules"};
    assert_int_equal(s_run(no_rules, 3, out, sizeof out), 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lists_with_overrides),
        cmocka_unit_test(test_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
