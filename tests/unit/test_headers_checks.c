/*
 * tests/unit/test_headers_checks.c - the headers stage's SPF, DMARC, sanity
 * and verdict logic over a table resolver (stages/headers/headers_table.c):
 * no DNS server, every answer chosen by the test, failures included.
 * DKIM signing and verification: tests/e2e/test_headers_dkim.py.
 */
#include "headers.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SL_HEADERS_MISSING
int
main(void)
{
    printf("skip: the headers stage's libraries are not installed\n");
    return 77;
}
#else

#define S_OPTIONS                                                                          \
    "hostname: mx.test\nprotected_domains: [corp.example]\n"                                  \
    "psl_file: /usr/share/publicsuffix/public_suffix_list.dat\n"                              \
    "scores: {DMARC_POLICY_REJECT: 9.5}\n"

static headers_table_t *s_table;
static headers_resolver_t s_resolver;

static int
s_setup(void **state)
{
    (void) state;
    s_table = headers_table_new();
    headers_table_add(s_table, "pass.example", SL_DNS_TXT, "v=spf1 ip4:192.0.2.0/24 -all");
    headers_table_add(s_table, "soft.example", SL_DNS_TXT, "v=spf1 ~all");
    headers_table_add(s_table, "neutral.example", SL_DNS_TXT, "v=spf1 ?all");
    headers_table_add(s_table, "two.example", SL_DNS_TXT, "v=spf1 -all");
    headers_table_add(s_table, "two.example", SL_DNS_TXT, "v=spf1 +all");
    headers_table_add(s_table, "bad.example", SL_DNS_TXT, "v=spf1 ip4:1.2.3.4/33 -all");
    headers_table_add(s_table, "mx.example", SL_DNS_TXT, "v=spf1 mx -all");
    headers_table_add(s_table, "mx.example", SL_DNS_MX, "10 mail.mx.example.");
    headers_table_add(s_table, "mail.mx.example", SL_DNS_A, "192.0.2.77");
    headers_table_add(s_table, "helo.pass.example", SL_DNS_TXT, "v=spf1 a -all");
    headers_table_add(s_table, "helo.pass.example", SL_DNS_A, "192.0.2.9");
    headers_table_add(s_table, "other.example", SL_DNS_TXT, "not spf");
    headers_table_fail(s_table, "slow.example", SL_DNS_TEMPFAIL);
    headers_table_add(s_table, "_dmarc.pass.example", SL_DNS_TXT, "v=DMARC1; p=reject");
    headers_table_add(s_table, "_dmarc.soft.example", SL_DNS_TXT, "v=DMARC1; p=quarantine; pct=50");
    headers_table_add(s_table, "_dmarc.org.example", SL_DNS_TXT, "v=DMARC1; p=none; sp=reject");
    headers_table_add(s_table, "_dmarc.twice.example", SL_DNS_TXT, "v=DMARC1; p=reject");
    headers_table_add(s_table, "_dmarc.twice.example", SL_DNS_TXT, "v=DMARC1; p=none");
    headers_table_add(s_table, "_dmarc.broken.example", SL_DNS_TXT, "v=DMARC1; p=maybe");
    headers_table_fail(s_table, "_dmarc.slowdmarc.example", SL_DNS_TEMPFAIL);
    s_resolver = headers_table_resolver(s_table);
    return 0;
}

static int
s_teardown(void **state)
{
    (void) state;
    headers_table_destroy(&s_table);
    assert_null(s_table);
    return 0;
}

static void
test_spf_results(void **state)
{
    (void) state;
    static const struct {
        const char *label, *ip, *helo, *sender;
        headers_spf_result_t want;
    } cases[] = {
        {"pass", "192.0.2.1", "mx.example", "a@pass.example", HEADERS_SPF_PASS},
        {"fail", "198.51.100.1", "mx.example", "a@pass.example", HEADERS_SPF_FAIL},
        {"softfail", "198.51.100.1", "mx.example", "a@soft.example", HEADERS_SPF_SOFTFAIL},
        {"neutral", "198.51.100.1", "mx.example", "a@neutral.example", HEADERS_SPF_NEUTRAL},
        {"none: no record", "198.51.100.1", "mx.example", "a@nxdomain.example", HEADERS_SPF_NONE},
        {"none: not spf", "198.51.100.1", "mx.example", "a@other.example", HEADERS_SPF_NONE},
        {"temperror", "198.51.100.1", "mx.example", "a@slow.example", HEADERS_SPF_TEMPERROR},
        {"permerror: two records", "198.51.100.1", "mx.example", "a@two.example",
         HEADERS_SPF_PERMERROR},
        {"permerror: bad cidr", "1.2.3.4", "mx.example", "a@bad.example", HEADERS_SPF_PERMERROR},
        {"mx", "192.0.2.77", "mx.example", "a@mx.example", HEADERS_SPF_PASS},
        {"ipv6 fail", "2001:db8::1", "mx.example", "a@pass.example", HEADERS_SPF_FAIL},
        {"null sender: HELO identity", "192.0.2.9", "helo.pass.example", "", HEADERS_SPF_PASS},
        {"null sender, HELO not a domain", "192.0.2.9", "[192.0.2.9]", "", HEADERS_SPF_NONE},
        {"no client address", "", "mx.example", "a@pass.example", HEADERS_SPF_NONE},
        {"client address garbage", "not-an-ip", "mx.example", "a@pass.example", HEADERS_SPF_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char comment[HEADERS_TEXT_MAX];
        headers_spf_result_t r = headers_spf_check(&s_resolver, cases[i].ip, cases[i].helo,
                                                   cases[i].sender, "mx.test", comment,
                                                   sizeof comment);
        if (r != cases[i].want)
            fail_msg("%s: %s (%s)", cases[i].label, headers_spf_name(r), comment);
    }
}

static headers_dmarc_lib_t *
s_dmarc(void)
{
    const char *psl = "/usr/share/publicsuffix/public_suffix_list.dat";
    const char *why = NULL;
    headers_dmarc_lib_t *lib = headers_dmarc_new(psl, &why);
    if (lib == NULL)
        fail_msg("headers_dmarc_new: %s", why);
    return lib;
}

static void
test_dmarc(void **state)
{
    (void) state;
    headers_dmarc_lib_t *lib = s_dmarc();
    headers_dkim_t pass_dkim = {.count = 1};
    pass_dkim.sigs[0].result = HEADERS_DKIM_PASS;
    strcpy(pass_dkim.sigs[0].domain, "mail.pass.example");
    headers_dkim_t temp_dkim = {.count = 1};
    temp_dkim.sigs[0].result = HEADERS_DKIM_TEMPERROR;
    strcpy(temp_dkim.sigs[0].domain, "pass.example");
    static const headers_dkim_t none = {0};
    const struct {
        const char *label, *from;
        headers_spf_result_t spf;
        const char *spf_domain;
        const headers_dkim_t *dkim;
        unsigned sample;
        const char *result, *policy, *action;
    } cases[] = {
        {"spf aligned", "pass.example", HEADERS_SPF_PASS, "pass.example", &none, 0, "pass",
         "reject", ""},
        {"spf relaxed", "pass.example", HEADERS_SPF_PASS, "bounce.pass.example", &none, 0, "pass",
         "reject", ""},
        {"dkim relaxed", "pass.example", HEADERS_SPF_FAIL, "pass.example", &pass_dkim, 0, "pass",
         "reject", ""},
        {"unaligned", "pass.example", HEADERS_SPF_PASS, "other.example", &none, 0, "fail",
         "reject", "reject"},
        {"fail reject", "pass.example", HEADERS_SPF_FAIL, "pass.example", &none, 0, "fail",
         "reject", "reject"},
        {"dkim temperror", "pass.example", HEADERS_SPF_FAIL, "pass.example", &temp_dkim, 0,
         "temperror", "reject", ""},
        {"quarantine sampled", "soft.example", HEADERS_SPF_FAIL, "soft.example", &none, 10,
         "fail", "quarantine", "quarantine"},
        {"quarantine not sampled", "soft.example", HEADERS_SPF_FAIL, "soft.example", &none, 60,
         "fail", "quarantine", ""},
        {"sp from org domain", "a.b.org.example", HEADERS_SPF_NONE, "x.example", &none, 0, "fail",
         "reject", "reject"},
        {"p for org itself", "org.example", HEADERS_SPF_NONE, "x.example", &none, 0, "fail",
         "none", ""},
        {"no record", "nothing.example", HEADERS_SPF_FAIL, "nothing.example", &none, 0, "none",
         "", ""},
        {"two records: none", "twice.example", HEADERS_SPF_FAIL, "x.example", &none, 0, "none", "",
         ""},
        {"bad record", "broken.example", HEADERS_SPF_FAIL, "x.example", &none, 0, "permerror", "",
         ""},
        {"lookup tempfail", "slowdmarc.example", HEADERS_SPF_FAIL, "x.example", &none, 0,
         "temperror", "", ""},
        {"no From", NULL, HEADERS_SPF_PASS, "pass.example", &none, 0, "none", "", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        headers_dmarc_t d;
        headers_dmarc_check(lib, &s_resolver, "198.51.100.1", cases[i].from, cases[i].spf,
                            cases[i].spf_domain, false, cases[i].dkim, cases[i].sample, &d);
        if (strcmp(d.result, cases[i].result) || strcmp(d.policy, cases[i].policy) ||
            strcmp(d.action, cases[i].action))
            fail_msg("%s: %s/%s/%s (%s)", cases[i].label, d.result, d.policy, d.action, d.why);
    }
    char org[HEADERS_DOMAIN_MAX];
    assert_int_equal(headers_dmarc_org_domain(lib, "a.b.example.co.uk", org, sizeof org), 0);
    assert_string_equal(org, "example.co.uk");
    assert_int_equal(headers_dmarc_org_domain(lib, "co.uk", org, sizeof org), -1);
    headers_dmarc_destroy(&lib);
    assert_null(lib);
}

static void
test_sanity(void **state)
{
    (void) state;
    char *protected[] = {"corp.example"};
    headers_sanity_opts_t opts = {protected, 1, 7200, 7 * 86400};
    const int64_t now = 1795435200; /* Mon, 23 Nov 2026 12:00:00 +0000 */
    static const struct {
        const char *label, *msg;
        bool inbound, authenticated, aligned;
        const char *want; /* flags set, in order: F=forged D=display f=future p=past
                           * m=date missing i=date invalid M=from missing 2=multiple */
    } cases[] = {
        {"clean", "From: a@other.example\r\nDate: Mon, 23 Nov 2026 11:00:00 +0000\r\n\r\n", true,
         false, false, ""},
        {"forged internal", "From: ceo@corp.example\r\nDate: Mon, 23 Nov 2026 11:00:00 +0000\r\n\r\n",
         true, false, false, "F"},
        {"internal subdomain", "From: ceo@hr.corp.example\r\nDate: Mon, 23 Nov 2026 11:00:00 +0000\r\n\r\n",
         true, false, false, "F"},
        {"internal authenticated", "From: ceo@corp.example\r\nDate: Mon, 23 Nov 2026 11:00:00 +0000\r\n\r\n",
         true, true, false, ""},
        {"internal aligned pass", "From: ceo@corp.example\r\nDate: Mon, 23 Nov 2026 11:00:00 +0000\r\n\r\n",
         true, false, true, ""},
        {"internal outbound", "From: ceo@corp.example\r\nDate: Mon, 23 Nov 2026 11:00:00 +0000\r\n\r\n",
         false, false, false, ""},
        {"lookalike is not ours", "From: ceo@corp.example.evil\r\nDate: Mon, 23 Nov 2026 11:00:00 +0000\r\n\r\n",
         true, false, false, ""},
        {"display spoof", "From: \"ceo@corp.example\" <x@evil.example>\r\nDate: Mon, 23 Nov 2026 11:00:00 +0000\r\n\r\n",
         true, false, false, "D"},
        {"display names our domain", "From: corp.example IT desk <x@evil.example>\r\nDate: Mon, 23 Nov 2026 11:00:00 +0000\r\n\r\n",
         true, false, false, "D"},
        {"display longer name", "From: notcorp.example <x@evil.example>\r\nDate: Mon, 23 Nov 2026 11:00:00 +0000\r\n\r\n",
         true, false, false, ""},
        {"future", "From: a@other.example\r\nDate: Tue, 24 Nov 2026 12:00:00 +0000\r\n\r\n", true,
         false, false, "f"},
        {"past", "From: a@other.example\r\nDate: Mon, 2 Nov 2026 12:00:00 +0000\r\n\r\n", true,
         false, false, "p"},
        {"date missing", "From: a@other.example\r\n\r\n", true, false, false, "m"},
        {"date invalid", "From: a@other.example\r\nDate: soon\r\n\r\n", true, false, false, "i"},
        {"from missing", "Date: Mon, 23 Nov 2026 11:00:00 +0000\r\n\r\n", true, false, false, "M"},
        {"two From", "From: a@x.example\r\nFrom: b@y.example\r\nDate: Mon, 23 Nov 2026 11:00:00 +0000\r\n\r\n",
         true, false, false, "2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        headers_msg_t msg;
        headers_msg_parse(cases[i].msg, strlen(cases[i].msg), &msg);
        const headers_field_t *f = headers_msg_find(&msg, "From", 0);
        headers_from_t from;
        const char *why;
        bool have = f && headers_from_parse(f->value, &from, &why) == 0;
        headers_sanity_t s;
        headers_sanity_check(&opts, &msg, have ? &from : NULL, now, cases[i].inbound,
                             cases[i].authenticated, cases[i].aligned, &s);
        char got[16] = "";
        size_t n = 0;
        const bool flags[] = {s.forged_internal, s.display_spoof, s.date_future, s.date_past,
                              s.date_missing,    s.date_invalid,  s.from_missing, s.from_multiple};
        for (size_t k = 0; k < sizeof flags; k++)
            if (flags[k])
                got[n++] = "FDfpmiM2"[k];
        got[n] = '\0';
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s: got \"%s\"", cases[i].label, got);
        headers_msg_clear(&msg);
    }
    assert_true(headers_domain_matches("a.corp.example", "corp.example"));
    assert_false(headers_domain_matches("acorp.example", "corp.example"));
}

static void
test_verdict_and_authres(void **state)
{
    (void) state;
    sl_cfg_t *cfg = sl_cfg_parse(S_OPTIONS, strlen(S_OPTIONS), "test", NULL, 0);
    assert_non_null(cfg);
    const char *why = NULL;
    headers_ctx_t *ctx = headers_ctx_new(cfg, sl_cfg_root(cfg), &s_resolver, &why);
    assert_non_null(ctx);
    assert_int_equal(sl_cfg_error_count(cfg), 0);
    assert_string_equal(headers_ctx_hostname(ctx), "mx.test");
    static const char raw[] = "From: Alice <alice@pass.example>\r\nTo: b@x.example\r\n"
                              "Date: Mon, 23 Nov 2026 11:00:00 +0000\r\nSubject: hi\r\n\r\nbody\r\n";
    headers_input_t in = {
        .id = "TEST1", .client_ip = "198.51.100.1", .helo = "helo.pass.example",
        .mail_from = "a\"b@pass.example", .auth_user = "", .inbound = true,
        .received_s = 1795435200, .message = {raw, sizeof raw - 1},
    };
    headers_report_t r;
    assert_int_equal(headers_run(ctx, &in, &r), 0);
    assert_int_equal(r.spf, HEADERS_SPF_FAIL);
    assert_true(r.spf_helo_checked);
    assert_int_equal(r.spf_helo, HEADERS_SPF_FAIL);
    assert_string_equal(r.dmarc.result, "fail");
    assert_string_equal(r.dmarc.action, "reject");
    sl_verdict_t *v = sl_verdict_new("headers");
    assert_int_equal(headers_verdict(ctx, &in, &r, v), 0);
    assert_true(sl_verdict_has_symbol(v, "SPF_FAIL"));
    assert_true(sl_verdict_has_symbol(v, "SPF_HELO_FAIL"));
    assert_true(sl_verdict_has_symbol(v, "DKIM_NONE"));
    assert_true(sl_verdict_has_symbol(v, "DMARC_POLICY_REJECT"));
    for (size_t i = 0; i < sl_verdict_symbol_count(v); i++) {
        const char *name, *info;
        double score;
        assert_int_equal(sl_verdict_symbol_at(v, i, &name, &score, &info), 0);
        if (strcmp(name, "DMARC_POLICY_REJECT") == 0)
            assert_true(score == 9.5); /* options: scores: */
    }
    char *action = sl_verdict_field_get_str(v, "dmarc_action");
    assert_string_equal(action, "reject");
    free(action);
    char *ar = sl_verdict_field_get_str(v, "auth_results");
    assert_non_null(ar);
    assert_non_null(strstr(ar, "mx.test;\r\n\tspf=fail"));
    assert_non_null(strstr(ar, "smtp.mailfrom=\"a\\\"b@pass.example\"")); /* quoted, escaped */
    assert_non_null(strstr(ar, "dkim=none"));
    assert_non_null(strstr(ar, "dmarc=fail (p=reject dis=reject) header.from=pass.example"));
    free(ar);
    sl_verdict_destroy(&v);

    /* authenticated: same failure, no action for the action stage */
    in.auth_user = "alice";
    assert_int_equal(headers_run(ctx, &in, &r), 0);
    v = sl_verdict_new("headers");
    assert_int_equal(headers_verdict(ctx, &in, &r, v), 0);
    assert_null(sl_verdict_field_get_str(v, "dmarc_action"));
    sl_verdict_destroy(&v);

    /* hostile text cannot break out of the Authentication-Results field */
    char out[HEADERS_AUTHRES_MAX];
    headers_report_t evil;
    memset(&evil, 0, sizeof evil);
    strcpy(evil.spf_comment, "x) ; dkim=pass (\r\nInjected: yes");
    evil.dkim.count = 1;
    strcpy(evil.dkim.sigs[0].domain, "a;b=c");
    strcpy(evil.dmarc.result, "none");
    headers_input_t ein = {.mail_from = "x@y.example\r\nBcc: z", .helo = "h"};
    assert_int_equal(headers_authres("mx.test", &ein, &evil, out, sizeof out), 0);
    assert_null(strstr(out, "\r\nInjected"));
    assert_null(strstr(out, "\r\nBcc"));
    assert_non_null(strstr(out, "header.d=\"a;b=c\""));
    assert_int_equal(headers_authres("mx.test", &ein, &evil, out, 20), -1);
    headers_ctx_destroy(&ctx);
    assert_null(ctx);
    sl_cfg_destroy(&cfg);
}

static void
test_options_are_checked(void **state)
{
    (void) state;
    static const char bad[] = "hostname: mx.test\nprotected_domains: [\"not a domain\"]\n"
                              "scores: {NO_SUCH_SYMBOL: 1}\ntypo: 1\n";
    sl_cfg_t *cfg = sl_cfg_parse(bad, sizeof bad - 1, "bad", NULL, 0);
    const char *why = NULL;
    headers_ctx_t *ctx = headers_ctx_new(cfg, sl_cfg_root(cfg), &s_resolver, &why);
    assert_non_null(ctx);
    assert_int_equal(sl_cfg_error_count(cfg), 3);
    headers_ctx_destroy(&ctx);
    sl_cfg_destroy(&cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spf_results),
        cmocka_unit_test(test_dmarc),
        cmocka_unit_test(test_sanity),
        cmocka_unit_test(test_verdict_and_authres),
        cmocka_unit_test(test_options_are_checked),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
#endif
