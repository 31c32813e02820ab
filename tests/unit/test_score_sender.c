/*
 * tests/unit/test_score_sender.c - the score stage's sender behaviour
 * (stages/score/score_sender.c): correspondents from outbound pairs with a
 * time window, per-address and per-domain reputation with its thresholds,
 * the null sender and hostile addresses, and which headers verdicts count
 * as authentication.
 */
#include "score_sender.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char s_dir[64];
static char s_url[128];

static int
s_setup(void **state)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/sluice-sender-XXXXXX");
    if (mkdtemp(s_dir) == NULL)
        return -1;
    snprintf(s_url, sizeof s_url, "sqlite:%s/sender.db", s_dir);
    char err[256];
    *state = score_sender_open(s_url, err, sizeof err);
    return *state ? 0 : -1;
}

static int
s_teardown(void **state)
{
    score_sender_t *self = *state;
    score_sender_close(&self);
    assert_null(self);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void
test_correspondents(void **state)
{
    score_sender_t *self = *state;
    const char *out[] = {"bob@partner.example", "Carol@Other.Example"};
    assert_int_equal(score_sender_note_out(self, "Alice@Example.com", out, 2, 1000), 0);
    assert_int_equal(score_sender_note_out(self, "dave@example.com", out, 1, 5000), 0);

    static const struct {
        const char *label, *from, *rcpts[3];
        size_t n;
        int64_t since;
        size_t hits;
        const char *info;
    } cases[] = {
        {"known, one rcpt",
         "bob@partner.example",
         {"alice@example.com"},
         1,
         0,
         1,
         "alice@example.com"},
        {"case does not matter",
         "BOB@partner.example",
         {"ALICE@EXAMPLE.COM"},
         1,
         0,
         1,
         "alice@example.com"},
        {"stored lower-cased",
         "carol@other.example",
         {"alice@example.com"},
         1,
         0,
         1,
         "alice@example.com"},
        {"two of three know bob",
         "bob@partner.example",
         {"alice@example.com", "dave@example.com", "erin@example.com"},
         3,
         0,
         2,
         "alice@example.com dave@example.com"},
        {"window: only dave is recent",
         "bob@partner.example",
         {"alice@example.com", "dave@example.com"},
         2,
         2000,
         1,
         "dave@example.com"},
        {"stranger", "mallory@evil.example", {"alice@example.com"}, 1, 0, 0, ""},
        {"direction: bob never wrote to alice",
         "alice@example.com",
         {"bob@partner.example"},
         1,
         0,
         0,
         ""},
        {"null sender", "", {"alice@example.com"}, 1, 0, 0, ""},
        {"no domain", "bob", {"alice@example.com"}, 1, 0, 0, ""},
        {"no local part", "@partner.example", {"alice@example.com"}, 1, 0, 0, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t hits = 99;
        char info[256];
        print_message("case %s\n", cases[i].label);
        assert_int_equal(score_sender_correspondents(self, cases[i].from, cases[i].rcpts,
                                                     cases[i].n, cases[i].since, &hits, info,
                                                     sizeof info),
                         0);
        assert_int_equal(hits, cases[i].hits);
        assert_string_equal(info, cases[i].info);
    }
    /* A small info buffer cuts the list, never overflows. */
    size_t hits;
    char tiny[8];
    const char *two[] = {"alice@example.com", "dave@example.com"};
    assert_int_equal(score_sender_correspondents(self, "bob@partner.example", two, 2, 0, &hits,
                                                 tiny, sizeof tiny),
                     0);
    assert_int_equal(hits, 2);
    assert_true(strlen(tiny) < sizeof tiny);
}

static void
test_hostile_addresses(void **state)
{
    score_sender_t *self = *state;
    char huge[600];
    memset(huge, 'a', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    huge[10] = '@';
    const char *rcpts[] = {huge, "x@y.example"};
    /* Over-long addresses are ignored, not cut and stored. */
    assert_int_equal(score_sender_note_out(self, huge, rcpts, 2, 1), 0);
    assert_int_equal(score_sender_note_out(self, "a@b.example", rcpts, 2, 1), 0);
    size_t hits;
    char info[64];
    const char *local[] = {"a@b.example"};
    assert_int_equal(score_sender_correspondents(self, huge, local, 1, 0, &hits, info, sizeof info),
                     0);
    assert_int_equal(hits, 0);
    assert_int_equal(score_sender_note_in(self, huge, 10.0, true), 0);
    score_rep_t rep;
    assert_int_equal(score_sender_reputation(self, huge, true, &rep, info, sizeof info), 0);
    assert_int_equal(rep, SENDER_REP_NONE);
}

static score_rep_t
s_rep(score_sender_t *self, const char *from, bool auth, char *info, size_t size)
{
    score_rep_t rep = SENDER_REP_NONE;
    assert_int_equal(score_sender_reputation(self, from, auth, &rep, info, size), 0);
    return rep;
}

static void
test_reputation(void **state)
{
    score_sender_t *self = *state;
    char info[128];
    for (int i = 0; i < SENDER_GOOD_MIN; i++) {
        assert_int_equal(s_rep(self, "news@good.example", true, info, sizeof info),
                         SENDER_REP_NONE);
        assert_int_equal(score_sender_note_in(self, "news@good.example", 1.0, false), 0);
    }
    assert_int_equal(s_rep(self, "news@good.example", true, info, sizeof info), SENDER_REP_GOOD);
    assert_string_equal(info, "news@good.example messages=5 spam=0 mean=1.00");
    /* Not authenticated: no good reputation, whatever the history. */
    assert_int_equal(s_rep(self, "news@good.example", false, info, sizeof info), SENDER_REP_NONE);
    /* A new address of the domain borrows the domain's history. */
    assert_int_equal(s_rep(self, "other@GOOD.example", true, info, sizeof info), SENDER_REP_GOOD);
    assert_string_equal(info, "good.example messages=5 spam=0 mean=1.00");
    /* One spam in 6 is more than 5%: no longer good. */
    assert_int_equal(score_sender_note_in(self, "news@good.example", 9.0, true), 0);
    assert_int_equal(s_rep(self, "news@good.example", true, info, sizeof info), SENDER_REP_NONE);
    assert_string_equal(info, "news@good.example messages=6 spam=1 mean=2.33");

    /* Bad: 3 messages, all spam (> 80%). */
    for (int i = 0; i < SENDER_BAD_MIN; i++) {
        assert_int_equal(s_rep(self, "promo@bad.example", false, info, sizeof info),
                         SENDER_REP_NONE);
        assert_int_equal(score_sender_note_in(self, "promo@bad.example", 12.0, true), 0);
    }
    assert_int_equal(s_rep(self, "promo@bad.example", true, info, sizeof info), SENDER_REP_BAD);
    assert_int_equal(s_rep(self, "new@bad.example", false, info, sizeof info), SENDER_REP_BAD);
    /* 4 of 5 is 80%, not more: in between. */
    assert_int_equal(score_sender_note_in(self, "promo@bad.example", 0.0, false), 0);
    assert_int_equal(score_sender_note_in(self, "promo@bad.example", 6.0, true), 0);
    assert_int_equal(s_rep(self, "promo@bad.example", true, info, sizeof info), SENDER_REP_NONE);

    /* The null sender is never counted nor judged. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(score_sender_note_in(self, "", 0.0, false), 0);
    assert_int_equal(s_rep(self, "", true, info, sizeof info), SENDER_REP_NONE);
    assert_string_equal(info, "");
}

static sl_env_t *
s_env(const char *from, const char *symbol, const char *info)
{
    sl_env_t *env = sl_env_new("unit1");
    const char *why;
    assert_int_equal(sl_env_set_str(env, SL_ENV_MAIL_FROM, from, &why), 0);
    if (symbol) {
        sl_verdict_t *v = sl_verdict_new("headers");
        assert_int_equal(sl_verdict_symbol(v, symbol, 0.0, info), 0);
        assert_int_equal(sl_env_set_verdict(env, &v, &why), 0);
    }
    return env;
}

static void
test_authenticated(void **state)
{
    (void)state;
    static const struct {
        const char *label, *from, *symbol, *info;
        bool want;
    } cases[] = {
        {"spf pass", "news@good.example", "SPF_PASS", "good.example", true},
        {"dkim of the sender's domain", "news@good.example", "DKIM_PASS",
         "d=other.example s=a; d=GOOD.example s=b", true},
        {"dkim of another domain", "news@good.example", "DKIM_PASS", "d=other.example s=a", false},
        {"dkim of a longer domain", "news@good.example", "DKIM_PASS", "d=good.example.evil s=a",
         false},
        {"dkim of a parent suffix", "news@good.example", "DKIM_PASS", "d=xgood.example s=a", false},
        {"spf softfail", "news@good.example", "SPF_SOFTFAIL", "good.example", false},
        {"no headers verdict", "news@good.example", NULL, NULL, false},
        {"null sender with spf pass", "", "SPF_PASS", "helo.example", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("case %s\n", cases[i].label);
        sl_env_t *env = s_env(cases[i].from, cases[i].symbol, cases[i].info);
        assert_int_equal(score_sender_authenticated(env), cases[i].want);
        sl_env_destroy(&env);
    }
}

static void
test_open_bad_store(void **state)
{
    (void)state;
    char err[256] = "";
    score_sender_t *self = score_sender_open("sqlite:/nonexistent/dir/x.db", err, sizeof err);
    assert_null(self);
    assert_true(err[0] != '\0');
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_correspondents, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_hostile_addresses, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reputation, s_setup, s_teardown),
        cmocka_unit_test(test_authenticated),
        cmocka_unit_test(test_open_bad_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
