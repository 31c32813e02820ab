/*
 * tests/unit/test_sl_policy.c - the policy store and the delivery queue files.
 *
 * Effective policy field by field (mailbox, else domain, else defaults,
 * else built in), sender lists, value checks, routes; queue file names are
 * stable per recipients and a written file parses back to what was written.
 */
#include "sl_dqueue.h"
#include "sl_policy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char s_dir[64];

static int
s_setup(void **state)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/sl_policy_test_%d", (int)getpid());
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", s_dir, s_dir);
    assert_int_equal(system(cmd), 0);
    char url[128], err[256];
    snprintf(url, sizeof url, "sqlite:%s/p.db", s_dir);
    sl_store_t *st = sl_store_open(url, err, sizeof err);
    assert_non_null(st);
    assert_int_equal(sl_policy_migrate(st), 0);
    assert_int_equal(sl_policy_migrate(st), 0); /* idempotent */
    *state = st;
    return 0;
}

static int
s_teardown(void **state)
{
    sl_store_t *st = *state;
    sl_store_close(&st);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void
test_inheritance(void **state)
{
    sl_store_t *st = *state;
    const char *why = NULL;
    sl_policy_t p;
    assert_int_equal(sl_policy_lookup(st, "x@nowhere.test", "", &p), 0);
    assert_true(p.tag_score == SL_POLICY_DEFAULT_TAG && !p.has_drop_score && !p.domain_known);
    assert_string_equal(p.virus, "quarantine");
    assert_int_equal(
        sl_policy_domain_set(st, "Example.COM", "smtp:[127.0.0.1]:2525", "verify", &why), 0);
    assert_int_equal(sl_policy_rule_set(st, "default", "quarantine_score", "8", &why), 0);
    assert_int_equal(sl_policy_rule_set(st, "example.com", "tag_score", "3.5", &why), 0);
    assert_int_equal(sl_policy_rule_set(st, "ceo@example.com", "virus", "drop", &why), 0);
    assert_int_equal(sl_policy_rule_set(st, "ceo@example.com", "drop_score", "20", &why), 0);
    assert_int_equal(sl_policy_lookup(st, "CEO@example.com", "", &p), 0);
    assert_true(p.domain_known);
    assert_true(p.tag_score == 3.5 && p.quarantine_score == 8 && p.has_drop_score &&
                p.drop_score == 20);
    assert_string_equal(p.virus, "drop");
    assert_string_equal(p.route, "smtp:[127.0.0.1]:2525");
    assert_int_equal(p.tls, SL_TLS_VERIFY);
    assert_string_equal(p.matched, "ceo@example.com");
    assert_int_equal(sl_policy_lookup(st, "bob@example.com", "", &p), 0);
    assert_string_equal(p.virus, "quarantine");
    assert_false(p.has_drop_score);
    /* unset goes back to inheriting */
    assert_int_equal(sl_policy_rule_set(st, "example.com", "tag_score", NULL, &why), 0);
    assert_int_equal(sl_policy_lookup(st, "bob@example.com", "", &p), 0);
    assert_true(p.tag_score == SL_POLICY_DEFAULT_TAG);
}

static void
test_senders(void **state)
{
    sl_store_t *st = *state;
    const char *why = NULL;
    sl_policy_t p;
    assert_int_equal(sl_policy_sender_set(st, "default", "allow", "Friend@Example.net", true, &why),
                     0);
    assert_int_equal(sl_policy_sender_set(st, "example.com", "block", "spam.test", true, &why), 0);
    assert_int_equal(sl_policy_lookup(st, "a@example.com", "friend@example.net", &p), 0);
    assert_true(p.sender_allowed && !p.sender_blocked);
    assert_int_equal(sl_policy_lookup(st, "a@example.com", "x@spam.test", &p), 0);
    assert_true(p.sender_blocked && !p.sender_allowed);
    assert_int_equal(sl_policy_lookup(st, "a@other.test", "x@spam.test", &p), 0);
    assert_false(p.sender_blocked);
    assert_int_equal(sl_policy_sender_set(st, "default", "maybe", "x.test", true, &why), -1);
}

static const struct {
    const char *label, *target, *field, *value;
    int rc;
} checks[] = {
    {"score", "default", "tag_score", "5", 0},
    {"negative score", "default", "tag_score", "-2.5", 0},
    {"score with junk", "default", "tag_score", "5x", -1},
    {"nan", "default", "tag_score", "nan", -1},
    {"huge", "default", "tag_score", "1e9", -1},
    {"empty score", "default", "tag_score", "", -1},
    {"action", "example.com", "banned", "tag", 0},
    {"bad action", "example.com", "banned", "bounce", -1},
    {"unknown field", "example.com", "colour", "red", -1},
    {"tag with newline", "example.com", "subject_tag", "[a]\r\nBcc: x", -1},
    {"bad target", "not a domain", "tag_score", "1", -1},
    {"bad mailbox", "@example.com", "tag_score", "1", -1},
};

static void
test_value_checks(void **state)
{
    sl_store_t *st = *state;
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        const char *why = NULL;
        int rc = sl_policy_rule_set(st, checks[i].target, checks[i].field, checks[i].value, &why);
        if (rc != checks[i].rc || (rc != 0 && why == NULL))
            fail_msg("case \"%s\": rc=%d why=%s", checks[i].label, rc, why ? why : "-");
    }
}

static const struct {
    const char *label, *route, *host;
    int port, rc;
} routes[] = {
    {"bracketed", "smtp:[127.0.0.1]:2525", "127.0.0.1", 2525, 0},
    {"v6", "smtp:[::1]:26", "::1", 26, 0},
    {"name and port", "smtp:relay.example.com:587", "relay.example.com", 587, 0},
    {"default port", "smtp:relay.example.com", "relay.example.com", 25, 0},
    {"mx", "mx", "", 25, 0},
    {"port 0", "smtp:[h]:0", NULL, 0, -1},
    {"port too big", "smtp:[h]:65536", NULL, 0, -1},
    {"port letters", "smtp:[h]:2x", NULL, 0, -1},
    {"no closing bracket", "smtp:[h:25", NULL, 0, -1},
    {"other scheme", "lmtp:[h]:24", NULL, 0, -1},
    {"empty host", "smtp:[]:25", NULL, 0, -1},
    {"bad host char", "smtp:[h/x]:25", NULL, 0, -1},
};

static void
test_routes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        char host[256];
        int port = 0;
        const char *why = NULL;
        int rc = sl_policy_route_parse(routes[i].route, host, sizeof host, &port, &why);
        if (rc != routes[i].rc ||
            (rc == 0 && (strcmp(host, routes[i].host) != 0 || port != routes[i].port)))
            fail_msg("case \"%s\": rc=%d host=%s port=%d", routes[i].label, rc, host, port);
    }
}

static void
test_queue_files(void **state)
{
    (void)state;
    const char *why = NULL;
    char qdir[96];
    snprintf(qdir, sizeof qdir, "%s/q", s_dir);
    assert_int_equal(sl_dqueue_init(qdir, &why), 0);
    const char *r1[] = {"a@example.com", "b@example.com"};
    const char *r2[] = {"a@example.com"};
    char n1[SL_DQUEUE_NAME_MAX], n1b[SL_DQUEUE_NAME_MAX], n2[SL_DQUEUE_NAME_MAX];
    sl_dqueue_name("01ABC", r1, 2, "", n1, sizeof n1);
    sl_dqueue_name("01ABC", r1, 2, "", n1b, sizeof n1b);
    sl_dqueue_name("01ABC", r2, 1, "", n2, sizeof n2);
    assert_string_equal(n1, n1b);
    assert_string_not_equal(n1, n2);
    sl_dqueue_hdr_t h = {.created_ms = 1732363200000ull};
    strcpy(h.id, "01ABC");
    strcpy(h.kind, "mail");
    sl_dqueue_hdr_add_rcpt(&h, "a@example.com");
    sl_dqueue_hdr_add_rcpt(&h, "b@example.com");
    sl_slice_t parts[] = {{"X-A: 1\r\n", 8}, {"Subject: x\r\n\r\nbody\0nul\r\n", 24}};
    assert_int_equal(sl_dqueue_write(qdir, n1, &h, parts, 2, &why), 0);
    assert_int_equal(sl_dqueue_sync(qdir, &why), 0);
    size_t len = 0, off = 0;
    char *buf = sl_dqueue_read(qdir, n1, &len, &why);
    assert_non_null(buf);
    sl_dqueue_hdr_t back;
    assert_int_equal(sl_dqueue_parse(buf, len, &back, &off, &why), 0);
    assert_string_equal(back.id, "01ABC");
    assert_string_equal(back.from, "");
    assert_int_equal(back.created_ms, 1732363200000ull);
    assert_int_equal(back.rcpt_count, 2);
    assert_string_equal(back.rcpts[1], "b@example.com");
    assert_int_equal(len - off, 32);
    assert_memory_equal(buf + off, "X-A: 1\r\nSubject: x\r\n\r\nbody\0nul\r\n", 32);
    sl_dqueue_hdr_clear(&back);
    /* damaged files are refused, not trusted */
    assert_int_equal(sl_dqueue_parse(buf, off - 1, &back, &off, &why), -1);
    assert_int_equal(sl_dqueue_parse("SLQ1\nid x\n\n", 11, &back, &off, &why), -1);
    assert_int_equal(sl_dqueue_parse("SLQ1\nid x\ncreated 99999999999999999999\nrcpt a\n\n", 45,
                                     &back, &off, &why),
                     -1);
    free(buf);
    /* a recipient with a newline cannot forge header lines */
    sl_dqueue_hdr_add_rcpt(&h, "c@example.com\nrcpt evil@x");
    assert_int_equal(sl_dqueue_write(qdir, "bad", &h, parts, 2, &why), -1);
    sl_dqueue_hdr_clear(&h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inheritance),  cmocka_unit_test(test_senders),
        cmocka_unit_test(test_value_checks), cmocka_unit_test(test_routes),
        cmocka_unit_test(test_queue_files),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
