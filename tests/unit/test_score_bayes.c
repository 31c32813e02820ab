/*
 * tests/unit/test_score_bayes.c - the score stage's Bayes classifier
 * (stages/score/score_bayes.c) and `sluice learn` (supervisor/sluice_learn.c):
 * tokens, the minimum before classifying, learning from a maildir and an
 * mbox, spam and ham told apart, stats, refused usage; the continuous
 * weight of bayes.weight: logodds (scale, clamp, the edges 0, 1 and NaN).
 */
#include "score_bayes.h"
#include "sluice_learn.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char s_dir[64];

static int
s_setup(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof s_dir, "/tmp/sluice-bayes-XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int
s_teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void
s_count(const char *token, void *arg)
{
    char *seen = arg;
    strcat(seen, token);
    strcat(seen, " ");
}

static void
test_tokens(void **state)
{
    (void)state;
    static const char msg[] = "Subject: FREE Money\r\nX-Other: other words\r\n"
                              "X-Spam-Status: Yes, score=99\r\n"
                              "Received: from mx.Example.NET ([192.0.2.7]) by us\r\n\r\n"
                              "Win win WIN a prize now\r\n"
                              "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9w\r\n";
    static char seen[4096];
    seen[0] = '\0';
    size_t n = score_bayes_tokens(msg, sizeof msg - 1, s_count, seen);
    assert_non_null(strstr(seen, "subject:free "));
    assert_non_null(strstr(seen, "h:x-other "));
    assert_non_null(strstr(seen, "x-other:words "));
    assert_non_null(strstr(seen, "received:mx.example.net "));
    assert_non_null(strstr(seen, "received:192.0.2.7 "));
    assert_non_null(strstr(seen, "part:text/plain "));
    assert_non_null(strstr(seen, "win "));
    assert_non_null(strstr(seen, "prize "));
    assert_null(strstr(seen, "x-spam")); /* another filter's verdict is no evidence */
    assert_null(strstr(seen, "qujd"));   /* base64-looking lines of a text part */
    assert_int_equal(n, 17);
}

/* Text parts count decoded: base64 and quoted-printable, charset to UTF-8;
 * other parts by type and extension. */
static void
test_tokens_decoded(void **state)
{
    (void)state;
    static const char msg[] =
        "From: a@example.com\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        "Q2hlYXAgcGlsbHMgb25saW5lIHRvZGF5\r\n" /* "Cheap pills online today" */
        "--b\r\nContent-Type: text/html; charset=iso-8859-1\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        "<b>caf=E9 gr=\r\neetings</b>\r\n"
        "--b\r\nContent-Type: application/octet-stream; name=\"run.exe\"\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b--\r\n";
    static char seen[4096];
    seen[0] = '\0';
    score_bayes_tokens(msg, sizeof msg - 1, s_count, seen);
    assert_non_null(strstr(seen, " pills ")); /* decoded base64 */
    assert_non_null(strstr(seen, "cheap "));
    assert_non_null(strstr(seen, "greetings ")); /* soft line break joined */
    assert_non_null(strstr(seen, "caf\xc3\xa9 ")); /* ISO-8859-1 to UTF-8 */
    assert_non_null(strstr(seen, "part:application/octet-stream "));
    assert_non_null(strstr(seen, "ext:exe "));
    assert_null(strstr(seen, "q2hl"));
}

static const char *const s_spam_words[] = {"viagra", "lottery", "winner", "bitcoin", "prize"};
static const char *const s_ham_words[] = {"meeting", "minutes", "project", "review", "lunch"};

static void
s_message(char *out, size_t size, bool spam, int i)
{
    const char *const *w = spam ? s_spam_words : s_ham_words;
    snprintf(out, size, "From: a%d@example.com\nSubject: %s %s\n\nhello %s and %s number%d\n", i,
             w[i % 5], w[(i + 1) % 5], w[(i + 2) % 5], w[(i + 3) % 5], i);
}

static void
test_learn_and_classify(void **state)
{
    (void)state;
    char url[128], err[256], msg[512];
    snprintf(url, sizeof url, "sqlite:%s/direct.db", s_dir);
    score_bayes_t *b = score_bayes_open(url, err, sizeof err);
    assert_non_null(b);
    double p = -1;
    s_message(msg, sizeof msg, true, 0);
    assert_int_equal(score_bayes_classify(b, msg, strlen(msg), &p), 0); /* nothing learned */
    assert_int_equal(score_bayes_begin(b), 0);
    for (int i = 0; i < BAYES_MIN_LEARNED + 5; i++) {
        s_message(msg, sizeof msg, true, i);
        assert_int_equal(score_bayes_learn(b, msg, strlen(msg), true), 0);
        s_message(msg, sizeof msg, false, i);
        assert_int_equal(score_bayes_learn(b, msg, strlen(msg), false), 0);
    }
    assert_int_equal(score_bayes_commit(b), 0);
    s_message(msg, sizeof msg, true, 1000);
    assert_int_equal(score_bayes_classify(b, msg, strlen(msg), &p), 1);
    assert_true(p > 0.95);
    s_message(msg, sizeof msg, false, 1000);
    assert_int_equal(score_bayes_classify(b, msg, strlen(msg), &p), 1);
    assert_true(p < 0.05);
    int64_t spam, ham, tokens;
    assert_int_equal(score_bayes_stats(b, &spam, &ham, &tokens), 0);
    assert_int_equal(spam, BAYES_MIN_LEARNED + 5);
    assert_int_equal(ham, BAYES_MIN_LEARNED + 5);
    assert_true(tokens > 10);
    score_bayes_close(&b);
    assert_null(b);
}

static void
test_learn_command(void **state)
{
    (void)state;
    char path[256], url[160], msg[512];
    /* spam as a maildir, ham as one mbox */
    snprintf(path, sizeof path, "%s/Maildir", s_dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/Maildir/cur", s_dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/Maildir/new", s_dir);
    mkdir(path, 0700);
    for (int i = 0; i < 30; i++) {
        snprintf(path, sizeof path, "%s/Maildir/%s/%d.eml", s_dir, i % 2 ? "cur" : "new", i);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        s_message(msg, sizeof msg, true, i);
        fputs(msg, f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/ham.mbox", s_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 25; i++) {
        s_message(msg, sizeof msg, false, i);
        fprintf(f, "From someone@example.com Mon Nov 23 12:00:00 2026\n%s\n", msg);
    }
    fclose(f);
    snprintf(url, sizeof url, "sqlite:%s/learn.db", s_dir);
    char maildir[256];
    snprintf(maildir, sizeof maildir, "%s/Maildir", s_dir);
    char *spam_argv[] = {"learn", "--store", url, "--spam", maildir};
    assert_int_equal(sluice_learn_main(5, spam_argv), 0);
    char *ham_argv[] = {"learn", "--store", url, "--ham", path};
    assert_int_equal(sluice_learn_main(5, ham_argv), 0);
    char err[256];
    score_bayes_t *b = score_bayes_open(url, err, sizeof err);
    assert_non_null(b);
    int64_t spam, ham, tokens;
    assert_int_equal(score_bayes_stats(b, &spam, &ham, &tokens), 0);
    assert_int_equal(spam, 30);
    assert_int_equal(ham, 25);
    score_bayes_close(&b);
    char *stats_argv[] = {"learn", "--store", url, "--stats"};
    assert_int_equal(sluice_learn_main(4, stats_argv), 0);

    char *no_mode[] = {"learn", "--store", url, path};
    assert_int_equal(sluice_learn_main(4, no_mode), 2);
    char *no_path[] = {"learn", "--spam"};
    assert_int_equal(sluice_learn_main(2, no_path), 2);
    char *missing[] = {"learn", "--store", url, "--ham", "/nonexistent/x.eml"};
    assert_int_equal(sluice_learn_main(5, missing), 1);
    char *bad_store[] = {"learn", "--store", "postgresql://nowhere/x", "--stats"};
    assert_int_equal(sluice_learn_main(4, bad_store), 2);
}

/* score_bayes_logodds - scale x log10(p / (1 - p)), clamped. */
static void
test_logodds(void **state)
{
    (void)state;
    static const struct {
        double p, scale, min, max, want;
    } cases[] = {
        {0.5, 2, -6, 8, 0.0},           {0.99, 2, -6, 8, 3.991},   {0.9, 2, -6, 8, 1.908},
        {0.01, 2, -6, 8, -3.991},       {0.9999, 2, -6, 8, 7.999}, {0.99999, 2, -6, 8, 8.0},
        {1.0, 2, -6, 8, 8.0},           {0.0, 2, -6, 8, -6.0},     {1e-5, 2, -6, 8, -6.0},
        {0.99999, 2, -100, 100, 9.999}, {1.0, 2, -100, 100, 24.0}, {0.0, 2, -100, 100, -24.0},
        {0.99, 1, -6, 8, 1.996},        {0.99, 0, -6, 8, 0.0},     {-0.5, 2, -6, 8, -6.0},
        {1.5, 2, -6, 8, 8.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = score_bayes_logodds(cases[i].p, cases[i].scale, cases[i].min, cases[i].max);
        if (fabs(got - cases[i].want) > 0.002)
            fail_msg("p=%g scale=%g [%g, %g]: got %.4f, expected %.4f", cases[i].p, cases[i].scale,
                     cases[i].min, cases[i].max, got, cases[i].want);
    }
    assert_true(fabs(score_bayes_logodds(NAN, 2, -6, 8)) < 1e-9); /* as 0.5 */
    /* Monotonic in p: a higher probability never weighs less. */
    double last = -1e9;
    for (int i = 0; i <= 1000; i++) {
        double w = score_bayes_logodds(i / 1000.0, 2, -6, 8);
        assert_true(w >= last);
        last = w;
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_tokens_decoded),
        cmocka_unit_test(test_learn_and_classify),
        cmocka_unit_test(test_learn_command),
        cmocka_unit_test(test_logodds),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
