/*
 * tests/unit/test_smtpd_conf.c - the smtpd: and spool: sections, relay decisions,
 * and the phase-result replies (smtpd_verdict).
 */
#include "sl_env.h"
#include "smtpd_conf.h"
#include "smtpd_verdict.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define S(lit) lit, sizeof(lit) - 1

static const char s_good[] = "smtpd:\n"
                             "  listen: [\"127.0.0.1:2525\", \"[::1]:2526\"]\n"
                             "  hostname: mx.example\n"
                             "  max_message_size: 10M\n"
                             "  idle_timeout: 30s\n"
                             "  relay_domains: [Example.COM, example.org]\n"
                             "  mailboxes:\n"
                             "    example.org: [alice, Bob]\n"
                             "  outbound_networks: [10.1.0.0/16, \"2001:db8::/32\"]\n"
                             "spool:\n"
                             "  archive: yes\n"
                             "  archive_retention: 2d\n";

static void
test_read(void **state)
{
    (void)state;
    char err[256];
    sl_cfg_t *cfg = sl_cfg_parse(s_good, sizeof s_good - 1, "t.yaml", err, sizeof err);
    assert_non_null(cfg);
    smtpd_conf_t c;
    assert_int_equal(smtpd_conf_read(&c, cfg, "/var/lib/sluice"), 0);
    assert_int_equal(c.listen_count, 2);
    assert_string_equal(c.listen[1], "[::1]:2526");
    assert_string_equal(c.hostname, "mx.example");
    assert_true(c.max_message_size == 10u << 20);
    assert_int_equal(c.idle_timeout_ms, 30000);
    assert_int_equal(c.max_recipients, 100); /* default */
    assert_string_equal(c.spool_dir, "/var/lib/sluice/spool");
    assert_true(c.archive);
    assert_true(c.archive_retention_ms == 2LL * 86400000);
    assert_null(c.tls_cert);
    assert_null(c.replica);
    assert_int_equal(c.replica_allow_count, 2); /* loopback by default */
    assert_true(c.replica_takeover_ms == 600000);

    sl_slice_t com = {S("example.com")}, org = {S("EXAMPLE.org")}, net = {S("example.net")};
    assert_int_equal(smtpd_conf_rcpt_check(&c, (sl_slice_t){S("anyone")}, com), SMTPD_RCPT_OK);
    assert_int_equal(smtpd_conf_rcpt_check(&c, (sl_slice_t){S("bob")}, org), SMTPD_RCPT_OK);
    assert_int_equal(smtpd_conf_rcpt_check(&c, (sl_slice_t){S("Postmaster")}, org), SMTPD_RCPT_OK);
    assert_int_equal(smtpd_conf_rcpt_check(&c, (sl_slice_t){S("carol")}, org),
                     SMTPD_RCPT_UNKNOWN_USER);
    assert_int_equal(smtpd_conf_rcpt_check(&c, (sl_slice_t){S("bob")}, net),
                     SMTPD_RCPT_RELAY_DENIED);
    assert_int_equal(
        smtpd_conf_rcpt_check(&c, (sl_slice_t){S("x")}, (sl_slice_t){S("sub.example.com")}),
        SMTPD_RCPT_RELAY_DENIED);

    static const struct {
        const char *ip;
        bool outbound;
    } clients[] = {
        {"10.1.2.3", true},           {"10.2.0.1", false},       {"2001:db8::25", true},
        {"::ffff:10.1.0.9", true},    {"2001:db9::1", false},    {"not-an-ip", false},
        {"", false},                  {"10.1.2.3 ", false},
    };
    for (size_t i = 0; i < sizeof clients / sizeof clients[0]; i++)
        if (smtpd_conf_outbound(&c, clients[i].ip) != clients[i].outbound)
            fail_msg("outbound_networks: client \"%s\"", clients[i].ip);
    smtpd_conf_free(&c);
    sl_cfg_destroy(&cfg);
}

static const struct {
    const char *label, *yaml;
} s_bad[] = {
    {"typo", "smtpd:\n  max_recipent: 5\n"},
    {"bad listen", "smtpd:\n  listen: [\"nowhere\"]\n"},
    {"port out of range", "smtpd:\n  listen: [\"127.0.0.1:70000\"]\n"},
    {"cert without key", "smtpd:\n  tls_cert: /x.pem\n"},
    {"mailboxes for unknown domain",
     "smtpd:\n  relay_domains: [a.example]\n  mailboxes:\n    b.example: [x]\n"},
    {"mailbox with @",
     "smtpd:\n  relay_domains: [a.example]\n  mailboxes:\n    a.example: [x@y]\n"},
    {"recipients zero", "smtpd:\n  max_recipients: 0\n"},
    {"spool typo", "spool:\n  archiv: yes\n"},
    {"bad replica", "spool:\n  replica: nothing\n"},
    {"bad replica_listen", "spool:\n  replica_listen: 127.0.0.1\n"},
    {"replica_allow not a list", "spool:\n  replica_allow: 127.0.0.1\n"},
    {"takeover too short", "spool:\n  replica_takeover: 1ms\n"},
    {"outbound host bits set", "smtpd:\n  outbound_networks: [10.1.2.3/16]\n"},
    {"outbound not a network", "smtpd:\n  outbound_networks: [intranet]\n"},
    {"outbound not a list", "smtpd:\n  outbound_networks: 10.0.0.0/8\n"},
};

static void
test_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_bad / sizeof s_bad[0]; i++) {
        char err[256];
        sl_cfg_t *cfg =
            sl_cfg_parse(s_bad[i].yaml, strlen(s_bad[i].yaml), "t.yaml", err, sizeof err);
        assert_non_null(cfg);
        smtpd_conf_t c;
        size_t n = smtpd_conf_read(&c, cfg, "/tmp");
        if (n == 0)
            fail_msg("case \"%s\": taken", s_bad[i].label);
        smtpd_conf_free(&c);
        sl_cfg_destroy(&cfg);
    }
}

static void
test_hostport(void **state)
{
    (void)state;
    char host[64];
    int port;
    assert_int_equal(smtpd_conf_split_hostport("0.0.0.0:25", host, sizeof host, &port), 0);
    assert_string_equal(host, "0.0.0.0");
    assert_int_equal(port, 25);
    assert_int_equal(smtpd_conf_split_hostport("[2001:db8::1]:587", host, sizeof host, &port), 0);
    assert_string_equal(host, "2001:db8::1");
    assert_int_equal(smtpd_conf_split_hostport(":25", host, sizeof host, &port), -1);
    assert_int_equal(smtpd_conf_split_hostport("a:0", host, sizeof host, &port), -1);
    assert_int_equal(smtpd_conf_split_hostport("a:2x", host, sizeof host, &port), -1);
}

static void
test_verdict(void **state)
{
    (void)state;
    assert_true(smtpd_reply_valid("554 5.7.1 Listed at zen.example"));
    assert_true(smtpd_reply_valid("451 4.7.1 Greylisted, try again"));
    assert_false(smtpd_reply_valid("554 4.7.1 class mismatch"));
    assert_false(smtpd_reply_valid("250 2.0.0 not a refusal"));
    assert_false(smtpd_reply_valid("554 5.7.1 "));
    assert_false(smtpd_reply_valid("554 5.7.1 line\r\nbreak"));
    assert_false(smtpd_reply_valid("554"));

    char buf[256];
    const char *stage;
    sl_env_t *env = sl_env_new("01TEST");
    assert_non_null(env);
    assert_null(smtpd_verdict_reply(env, false, buf, sizeof buf, &stage));

    sl_verdict_t *v = sl_verdict_new("greylist");
    sl_verdict_field_str(v, "smtp_reply", "451 4.7.1 Greylisted");
    const char *why;
    assert_int_equal(sl_env_set_verdict(env, &v, &why), 0);
    assert_string_equal(smtpd_verdict_reply(env, true, buf, sizeof buf, &stage),
                        "451 4.7.1 Greylisted");
    assert_string_equal(stage, "greylist");

    v = sl_verdict_new("rbl"); /* a permanent reply wins over a temporary one */
    sl_verdict_field_str(v, "smtp_reply", "554 5.7.1 Listed");
    assert_int_equal(sl_env_set_verdict(env, &v, &why), 0);
    assert_string_equal(smtpd_verdict_reply(env, false, buf, sizeof buf, &stage),
                        "554 5.7.1 Listed");
    sl_env_destroy(&env);

    env = sl_env_new("01TEST");
    v = sl_verdict_new("bad");
    sl_verdict_field_str(v, "smtp_reply", "554 5.7.1 evil\r\nMAIL FROM:<x>");
    assert_int_equal(sl_env_set_verdict(env, &v, &why), 0);
    assert_null(smtpd_verdict_reply(env, false, buf, sizeof buf, &stage));
    assert_int_equal(sl_env_set_str(env, SL_ENV_CLASSIFICATION, "reject", &why) == 0 ||
                         sl_env_set_str(env, SL_ENV_CLASSIFICATION, "reject", &why) == -1,
                     1);
    if (strcmp(sl_env_str(env, SL_ENV_CLASSIFICATION), "reject") == 0)
        assert_string_equal(smtpd_verdict_reply(env, false, buf, sizeof buf, &stage),
                            "554 5.7.1 Service refused by policy");
    sl_env_destroy(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_read), cmocka_unit_test(test_bad),
                                       cmocka_unit_test(test_hostport),
                                       cmocka_unit_test(test_verdict)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
