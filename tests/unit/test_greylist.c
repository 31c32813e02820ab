/*
 * tests/unit/test_greylist.c - greylisting decisions on a real SQLite store, time moved by hand.
 *
 * Compiles stages/greylist/greylist_db.c in (a stage is not a library). Each
 * test opens a fresh store file; "two workers" are two handles on one file,
 * as two greylist processes or two smtpd hosts sharing a store would be.
 */
#include "../../stages/greylist/greylist_db.c"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static const greylist_policy_t s_policy = {
    .delay_s = 300, .retry_window_s = 3600, .expiry_s = 86400, .auto_allow = 3};

typedef struct {
    char dir[64];
    char url[128];
    sl_store_t *a, *b; /* two workers on one store */
} s_fixture_t;

static sl_store_t *
s_open(const char *url)
{
    char err[256] = "";
    sl_store_t *store = sl_store_open(url, err, sizeof err);
    if (store == NULL)
        fail_msg("sl_store_open %s: %s", url, err);
    assert_int_equal(greylist_db_migrate(store), 0);
    return store;
}

static int
s_setup(void **state)
{
    s_fixture_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/sluice-greylist-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->url, sizeof f->url, "sqlite:%s/greylist.db", f->dir);
    f->a = s_open(f->url);
    f->b = s_open(f->url);
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    s_fixture_t *f = *state;
    sl_store_close(&f->a);
    sl_store_close(&f->b);
    char path[128];
    const char *names[] = {"greylist.db", "greylist.db-wal", "greylist.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", f->dir, names[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static greylist_result_t
s_check(sl_store_t *store, const char *net, const char *from, const char *to, int64_t now,
        int64_t *retry_in)
{
    greylist_result_t r;
    int64_t dummy;
    assert_int_equal(
        greylist_db_check(store, &s_policy, net, from, to, now, &r, retry_in ? retry_in : &dummy),
        0);
    return r;
}

#define T0 1700000000

/* One triplet through its life, steps in order, each labelled. */
static void
test_triplet_life(void **state)
{
    s_fixture_t *f = *state;
    static const struct {
        const char *label;
        int64_t at;
        greylist_result_t want;
        int64_t retry_in;
    } steps[] = {
        {"first attempt", T0, GREYLIST_DEFER, 300},
        {"retry too early", T0 + 120, GREYLIST_DEFER, 180},
        {"retry one second early", T0 + 299, GREYLIST_DEFER, 1},
        {"retry after the delay", T0 + 300, GREYLIST_PASS, 0},
        {"known from now on", T0 + 4000, GREYLIST_KNOWN, 0},
        {"still known within expiry", T0 + 4000 + 86000, GREYLIST_KNOWN, 0},
        {"unused past expiry: starts over", T0 + 4000 + 86000 + 86401, GREYLIST_DEFER, 300},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        int64_t retry = -1;
        greylist_result_t r =
            s_check(f->a, "192.0.2.0/24", "a@x.example", "b@y.example", steps[i].at, &retry);
        if (r != steps[i].want || retry != steps[i].retry_in)
            fail_msg("%s: %s retry %lld, want %s retry %lld", steps[i].label,
                     greylist_result_name(r), (long long)retry, greylist_result_name(steps[i].want),
                     (long long)steps[i].retry_in);
    }
}

static void
test_retry_after_window_starts_over(void **state)
{
    s_fixture_t *f = *state;
    int64_t retry;
    assert_int_equal(s_check(f->a, "n", "s", "r", T0, &retry), GREYLIST_DEFER);
    assert_int_equal(s_check(f->a, "n", "s", "r", T0 + 3601, &retry), GREYLIST_DEFER);
    assert_int_equal(retry, 300);
    assert_int_equal(s_check(f->a, "n", "s", "r", T0 + 3601 + 300, &retry), GREYLIST_PASS);
}

static void
test_triplet_parts_are_separate(void **state)
{
    s_fixture_t *f = *state;
    assert_int_equal(s_check(f->a, "n1", "s", "r", T0, NULL), GREYLIST_DEFER);
    assert_int_equal(s_check(f->a, "n1", "s", "r", T0 + 300, NULL), GREYLIST_PASS);
    assert_int_equal(s_check(f->a, "n2", "s", "r", T0 + 301, NULL), GREYLIST_DEFER);
    assert_int_equal(s_check(f->a, "n1", "s2", "r", T0 + 301, NULL), GREYLIST_DEFER);
    assert_int_equal(s_check(f->a, "n1", "s", "r2", T0 + 301, NULL), GREYLIST_DEFER);
}

static void
test_auto_allow(void **state)
{
    s_fixture_t *f = *state;
    /* Three triplets that passed make the network known good (auto_allow 3). */
    const char *rcpts[] = {"r1", "r2", "r3"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(s_check(f->a, "net", "s", rcpts[i], T0, NULL), GREYLIST_DEFER);
        assert_int_equal(s_check(f->a, "net", "s", rcpts[i], T0 + 300, NULL), GREYLIST_PASS);
    }
    assert_int_equal(s_check(f->a, "net", "new", "new", T0 + 301, NULL), GREYLIST_AUTO_ALLOW);
    /* Known good until unused for the expiry time. */
    assert_int_equal(s_check(f->a, "net", "n2", "n2", T0 + 301 + 86400, NULL), GREYLIST_AUTO_ALLOW);
    assert_int_equal(s_check(f->a, "net", "n3", "n3", T0 + 301 + 2 * 86400 + 1, NULL),
                     GREYLIST_DEFER);
    /* A retry of a triplet already passed does not count twice. */
    assert_int_equal(s_check(f->a, "other", "s", "r", T0, NULL), GREYLIST_DEFER);
    assert_int_equal(s_check(f->a, "other", "s", "r", T0 + 300, NULL), GREYLIST_PASS);
    for (int i = 0; i < 5; i++)
        assert_int_equal(s_check(f->a, "other", "s", "r", T0 + 400 + i, NULL), GREYLIST_KNOWN);
    assert_int_equal(s_check(f->a, "other", "s", "x", T0 + 500, NULL), GREYLIST_DEFER);
}

static void
test_two_workers_agree(void **state)
{
    s_fixture_t *f = *state;
    int64_t retry;
    /* Worker A sees the first attempt; worker B sees the retry. */
    assert_int_equal(s_check(f->a, "n", "s", "r", T0, &retry), GREYLIST_DEFER);
    assert_int_equal(s_check(f->b, "n", "s", "r", T0 + 100, &retry), GREYLIST_DEFER);
    assert_int_equal(retry, 200);
    assert_int_equal(s_check(f->b, "n", "s", "r", T0 + 300, &retry), GREYLIST_PASS);
    assert_int_equal(s_check(f->a, "n", "s", "r", T0 + 301, &retry), GREYLIST_KNOWN);
    /* Both see a new triplet "at once": the second does not restart the clock. */
    assert_int_equal(s_check(f->a, "m", "s", "r", T0 + 1000, &retry), GREYLIST_DEFER);
    assert_int_equal(s_check(f->b, "m", "s", "r", T0 + 1001, &retry), GREYLIST_DEFER);
    assert_int_equal(retry, 299);
}

static void
test_expire(void **state)
{
    s_fixture_t *f = *state;
    assert_int_equal(s_check(f->a, "n", "s", "r", T0, NULL), GREYLIST_DEFER);
    assert_int_equal(s_check(f->a, "n", "s", "r", T0 + 300, NULL), GREYLIST_PASS);
    assert_int_equal(greylist_db_expire(f->a, &s_policy, T0 + 1000), 0);
    /* the triplet and the client record */
    assert_int_equal(greylist_db_expire(f->a, &s_policy, T0 + 300 + 86401), 2);
    assert_int_equal(s_check(f->a, "n", "s", "r", T0 + 300 + 86402, NULL), GREYLIST_DEFER);
}

static int64_t
s_domain_passes(sl_store_t *store, const char *domain, int64_t now)
{
    int64_t passes = -1;
    assert_int_equal(greylist_db_domain_passes(store, &s_policy, domain, now, &passes), 0);
    return passes;
}

static void
test_domain_history(void **state)
{
    s_fixture_t *f = *state;
    assert_int_equal(s_domain_passes(f->a, "d.example", T0), 0);
    /* a deferral is no history; each first pass of a triplet is one, from any network */
    assert_int_equal(s_check(f->a, "n1", "a@d.example", "r1", T0, NULL), GREYLIST_DEFER);
    assert_int_equal(s_domain_passes(f->a, "d.example", T0 + 1), 0);
    assert_int_equal(s_check(f->a, "n1", "a@d.example", "r1", T0 + 300, NULL), GREYLIST_PASS);
    assert_int_equal(s_check(f->a, "n2", "b@d.example", "r2", T0 + 300, NULL), GREYLIST_DEFER);
    assert_int_equal(s_check(f->b, "n2", "b@d.example", "r2", T0 + 600, NULL), GREYLIST_PASS);
    /* a known triplet passing again adds nothing */
    assert_int_equal(s_check(f->a, "n1", "a@d.example", "r1", T0 + 700, NULL), GREYLIST_KNOWN);
    assert_int_equal(s_domain_passes(f->b, "d.example", T0 + 700), 2);
    assert_int_equal(s_domain_passes(f->a, "other.example", T0 + 700), 0);
    /* the null sender has no domain */
    assert_int_equal(s_check(f->a, "n3", "", "r", T0, NULL), GREYLIST_DEFER);
    assert_int_equal(s_check(f->a, "n3", "", "r", T0 + 300, NULL), GREYLIST_PASS);
    assert_int_equal(s_domain_passes(f->a, "", T0 + 700), 0);
    /* unused for the expiry: forgotten, and counting starts over */
    assert_int_equal(s_domain_passes(f->a, "d.example", T0 + 600 + 86401), 0);
    assert_int_equal(s_check(f->a, "n4", "c@d.example", "r", T0 + 86400 * 2, NULL), GREYLIST_DEFER);
    assert_int_equal(s_check(f->a, "n4", "c@d.example", "r", T0 + 86400 * 2 + 300, NULL),
                     GREYLIST_PASS);
    assert_int_equal(s_domain_passes(f->a, "d.example", T0 + 86400 * 2 + 300), 1);
}

static void
test_names(void **state)
{
    (void)state;
    assert_string_equal(greylist_result_name(GREYLIST_DEFER), "defer");
    assert_string_equal(greylist_result_name(GREYLIST_PASS), "pass");
    assert_string_equal(greylist_result_name(GREYLIST_KNOWN), "known");
    assert_string_equal(greylist_result_name(GREYLIST_AUTO_ALLOW), "auto-allow");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_triplet_life, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_retry_after_window_starts_over, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_triplet_parts_are_separate, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_auto_allow, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_two_workers_agree, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_expire, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_domain_history, s_setup, s_teardown),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests_name("greylist", tests, NULL, NULL);
}
