/*
 * tests/unit/test_sl_dns.c - the resolver against tests/dns/dnsserver.py on loopback.
 *
 * One DNS server for the whole file (group setup); each test makes its own
 * resolver so caches do not leak between tests. Record parsing is checked
 * table-driven on hand-made rdata as well (good, bad and hostile), and
 * threads share one resolver as the stages do.
 */
#include "sl_cfg.h"
#include "sl_dns.h"
#include "sl_mem.h"

#include "../dns/sl_test_dns.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define S(lit) lit, sizeof(lit) - 1 // a literal and its exact length, NULs included

static const char s_zone[] = "$TTL 300\n"
                             "a.example A 192.0.2.1\n"
                             "a.example A 192.0.2.2\n"
                             "a.example AAAA 2001:db8::1\n"
                             "txt.example TXT \"v=spf1 -all\" \" second\"\n"
                             "mx.example MX 10 mail.example.\n"
                             "mx.example MX 20 backup.mail.example.\n"
                             "ptr.example PTR host.example.\n"
                             "alias.example CNAME a.example.\n"
                             "ns.example NS ns1.example.\n"
                             "_25._tcp.mx.example TLSA 3 1 1 0123456789abcdef\n"
                             "short.example 42 A 192.0.2.42\n"
                             "fail.example SERVFAIL\n"
                             "quiet.example TIMEOUT\n"
                             "slow.example DELAY 1000\n"
                             "slow.example A 192.0.2.9\n"
                             "raw.example RAW A 010203\n"
                             "many.example A 10.0.0.1\n"
                             "*.wild.example A 192.0.2.77\n"
                             "2.0.0.127.zen.example A 127.0.0.2\n"
                             "7.1.168.192.in-addr.arpa PTR lan-host.example.\n";

static test_dns_t s_server;

static int
s_group_setup(void **state)
{
    (void)state;
    return test_dns_start(&s_server, s_zone);
}

static int
s_group_teardown(void **state)
{
    (void)state;
    test_dns_stop(&s_server);
    return 0;
}

static sl_dns_t *
s_resolver(int timeout_ms)
{
    char err[256] = "";
    sl_dns_t *dns = sl_dns_new_forward(s_server.forward, timeout_ms, err, sizeof err);
    if (dns == NULL)
        fail_msg("sl_dns_new_forward: %s", err);
    return dns;
}

/* --- answers from the server --- */

static const struct {
    const char *label, *name;
    int type;
    sl_dns_status_t status;
    size_t count;
    const char *first; /* text of one record (any of them), NULL: not checked */
} s_cases[] = {
    {"A, two records", "a.example", SL_DNS_A, SL_DNS_OK, 2, "192.0.2.2"},
    {"AAAA", "a.example", SL_DNS_AAAA, SL_DNS_OK, 1, "2001:db8::1"},
    {"TXT strings joined", "txt.example", SL_DNS_TXT, SL_DNS_OK, 1, "v=spf1 -all second"},
    {"MX pref and host", "mx.example", SL_DNS_MX, SL_DNS_OK, 2, "20 backup.mail.example"},
    {"PTR", "ptr.example", SL_DNS_PTR, SL_DNS_OK, 1, "host.example"},
    {"CNAME asked for", "alias.example", SL_DNS_CNAME, SL_DNS_OK, 1, "a.example"},
    {"A through a CNAME", "alias.example", SL_DNS_A, SL_DNS_OK, 2, "192.0.2.1"},
    {"NS", "ns.example", SL_DNS_NS, SL_DNS_OK, 1, "ns1.example"},
    {"TLSA as hex", "_25._tcp.mx.example", SL_DNS_TLSA, SL_DNS_OK, 1, "0301010123456789abcdef"},
    {"wildcard", "x.y.wild.example", SL_DNS_A, SL_DNS_OK, 1, "192.0.2.77"},
    {"DNSBL listing", "2.0.0.127.zen.example", SL_DNS_A, SL_DNS_OK, 1, "127.0.0.2"},
    {"NXDOMAIN", "nothing.example", SL_DNS_A, SL_DNS_NXDOMAIN, 0, NULL},
    {"NODATA", "ptr.example", SL_DNS_A, SL_DNS_NODATA, 0, NULL},
    {"empty non-terminal is NODATA", "zen.example", SL_DNS_A, SL_DNS_NODATA, 0, NULL},
    {"SERVFAIL", "fail.example", SL_DNS_A, SL_DNS_TEMPFAIL, 0, NULL},
    {"3-byte A record", "raw.example", SL_DNS_A, SL_DNS_TEMPFAIL, 0, NULL},
    {"empty label", "a..example", SL_DNS_A, SL_DNS_NXDOMAIN, 0, NULL},
    {"label over 63", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
     SL_DNS_A, SL_DNS_NXDOMAIN, 0, NULL},
    {"empty name", "", SL_DNS_A, SL_DNS_NXDOMAIN, 0, NULL},
};

static void
test_answers(void **state)
{
    (void)state;
    sl_dns_t *dns = s_resolver(3000);
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        sl_dns_answer_t a;
        sl_dns_status_t st = sl_dns_query(dns, s_cases[i].name, s_cases[i].type, &a);
        if (st != s_cases[i].status || a.count != s_cases[i].count)
            fail_msg("%s: status %d count %zu, want %d %zu (%s)", s_cases[i].label, st, a.count,
                     s_cases[i].status, s_cases[i].count, a.why);
        if (s_cases[i].first) {
            bool found = false;
            for (size_t r = 0; r < a.count; r++) {
                assert_int_equal(strlen(a.rr[r].text), a.rr[r].len);
                found |= strcmp(a.rr[r].text, s_cases[i].first) == 0;
            }
            if (!found)
                fail_msg("%s: no record \"%s\" (first \"%s\")", s_cases[i].label, s_cases[i].first,
                         a.count ? a.rr[0].text : "");
        }
        if (st == SL_DNS_TEMPFAIL && a.why[0] == '\0')
            fail_msg("%s: TEMPFAIL without a reason", s_cases[i].label);
        assert_false(a.secure);
        sl_dns_answer_clear(&a);
    }
    sl_dns_destroy(&dns);
    assert_null(dns);
}

static void
test_ttl_and_cache(void **state)
{
    (void)state;
    sl_dns_t *dns = s_resolver(3000);
    int before = test_dns_count(&s_server, "short.example");
    sl_dns_answer_t a;
    assert_int_equal(sl_dns_query(dns, "short.example", SL_DNS_A, &a), SL_DNS_OK);
    assert_true(a.ttl > 30 && a.ttl <= 42);
    sl_dns_answer_clear(&a);
    assert_int_equal(sl_dns_query(dns, "short.example", SL_DNS_A, &a), SL_DNS_OK);
    assert_string_equal(a.rr[0].text, "192.0.2.42");
    assert_true(a.ttl <= 42);
    sl_dns_answer_clear(&a);
    /* The second answer came from libunbound's cache, not the server. */
    assert_int_equal(test_dns_count(&s_server, "short.example") - before, 1);
    /* Negative answers are cached too (the server's SOA minimum, 60 s). */
    before = test_dns_count(&s_server, "neg.example");
    assert_int_equal(sl_dns_query(dns, "neg.example", SL_DNS_A, &a), SL_DNS_NXDOMAIN);
    assert_int_equal(sl_dns_query(dns, "neg.example", SL_DNS_A, &a), SL_DNS_NXDOMAIN);
    assert_int_equal(test_dns_count(&s_server, "neg.example") - before, 1);
    sl_dns_destroy(&dns);
}

static void
test_timeouts(void **state)
{
    (void)state;
    sl_dns_t *dns = s_resolver(600);
    sl_dns_answer_t a;
    uint64_t t0 = sl_mono_ms();
    assert_int_equal(sl_dns_query(dns, "quiet.example", SL_DNS_A, &a), SL_DNS_TEMPFAIL);
    assert_string_equal(a.why, "timeout");
    uint64_t spent = sl_mono_ms() - t0;
    assert_true(spent >= 590 && spent < 900);
    t0 = sl_mono_ms();
    assert_int_equal(sl_dns_query(dns, "slow.example", SL_DNS_A, &a), SL_DNS_TEMPFAIL);
    spent = sl_mono_ms() - t0;
    assert_true(spent < 900);
    /* The upstream is not taken for dead because one name never answers. */
    assert_int_equal(sl_dns_query(dns, "a.example", SL_DNS_A, &a), SL_DNS_OK);
    sl_dns_answer_clear(&a);
    sl_dns_destroy(&dns);
    /* With time enough, the slow name answers. */
    dns = s_resolver(8000); /* unbound retries a slow upstream with growing timeouts */
    assert_int_equal(sl_dns_query(dns, "slow.example", SL_DNS_A, &a), SL_DNS_OK);
    assert_string_equal(a.rr[0].text, "192.0.2.9");
    sl_dns_answer_clear(&a);
    sl_dns_destroy(&dns);
}

static void
test_query_many(void **state)
{
    (void)state;
    sl_dns_t *dns = s_resolver(3000);
    enum { N = 40 };
    sl_dns_query_t qs[N];
    sl_dns_answer_t out[N];
    for (size_t i = 0; i < N; i++) {
        memset(&qs[i], 0, sizeof qs[i]);
        snprintf(qs[i].name, sizeof qs[i].name, "n%zu.wild.example", i);
        qs[i].type = SL_DNS_A;
    }
    sl_strlcpy(qs[5].name, "slow.example", sizeof qs[5].name);
    sl_strlcpy(qs[6].name, "quiet.example", sizeof qs[6].name);
    sl_strlcpy(qs[7].name, "fail.example", sizeof qs[7].name);
    sl_strlcpy(qs[8].name, "nothing.example", sizeof qs[8].name);
    uint64_t t0 = sl_mono_ms();
    sl_dns_query_many(dns, qs, N, out, 800);
    uint64_t spent = sl_mono_ms() - t0;
    /* One round trip for all, bounded by the batch's own timeout. */
    assert_true(spent >= 790 && spent < 1200);
    for (size_t i = 0; i < N; i++) {
        sl_dns_status_t want = i == 5 || i == 6 || i == 7 ? SL_DNS_TEMPFAIL
                               : i == 8                   ? SL_DNS_NXDOMAIN
                                                          : SL_DNS_OK;
        if (out[i].status != want)
            fail_msg("query %zu %s: status %d, want %d (%s)", i, qs[i].name, out[i].status, want,
                     out[i].why);
        if (want == SL_DNS_OK)
            assert_string_equal(out[i].rr[0].text, "192.0.2.77");
        sl_dns_answer_clear(&out[i]);
    }
    assert_string_equal(out[5].why, "timeout");
    assert_string_equal(out[7].why, "rcode SERVFAIL");
    /* An empty batch returns at once. */
    sl_dns_query_many(dns, qs, 0, out, 800);
    sl_dns_destroy(&dns);
}

typedef struct {
    sl_dns_t *dns;
    int index;
    int bad;
} s_worker_t;

static void *
s_worker(void *arg)
{
    s_worker_t *w = arg;
    for (int i = 0; i < 50; i++) {
        sl_dns_query_t qs[3] = {{.type = SL_DNS_A}, {.type = SL_DNS_TXT}, {.type = SL_DNS_A}};
        snprintf(qs[0].name, sizeof qs[0].name, "t%d-%d.wild.example", w->index, i);
        sl_strlcpy(qs[1].name, "txt.example", sizeof qs[1].name);
        sl_strlcpy(qs[2].name, i % 25 == 0 ? "quiet.example" : "a.example", sizeof qs[2].name);
        sl_dns_answer_t out[3];
        sl_dns_query_many(w->dns, qs, 3, out, 1500);
        if (out[0].status != SL_DNS_OK || strcmp(out[0].rr[0].text, "192.0.2.77") != 0 ||
            out[1].status != SL_DNS_OK || strcmp(out[1].rr[0].text, "v=spf1 -all second") != 0 ||
            out[2].status != (i % 25 == 0 ? SL_DNS_TEMPFAIL : SL_DNS_OK)) {
            w->bad++;
            fprintf(stderr, "thread %d round %d: %d %d %d (%s / %s / %s)\n", w->index, i,
                    out[0].status, out[1].status, out[2].status, out[0].why, out[1].why,
                    out[2].why);
        }
        for (size_t k = 0; k < 3; k++)
            sl_dns_answer_clear(&out[k]);
    }
    return NULL;
}

static void
test_threads_share_one_resolver(void **state)
{
    (void)state;
    sl_dns_t *dns = s_resolver(3000);
    enum { T = 4 };
    pthread_t th[T];
    s_worker_t w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (s_worker_t){.dns = dns, .index = i};
        assert_int_equal(pthread_create(&th[i], NULL, s_worker, &w[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        if (w[i].bad)
            fail_msg("thread %d: %d wrong answers", i, w[i].bad);
    }
    sl_dns_destroy(&dns);
}

static void
test_packet(void **state)
{
    (void)state;
    sl_dns_t *dns = s_resolver(3000);
    unsigned char packet[4096];
    size_t len = 0;
    sl_dns_answer_t a;
    assert_int_equal(
        sl_dns_query_packet(dns, "txt.example", SL_DNS_TXT, &a, packet, sizeof packet, &len),
        SL_DNS_OK);
    assert_true(len > 12);
    assert_int_equal(packet[3] & 0x0f, 0);           /* rcode */
    assert_int_equal(packet[6] << 8 | packet[7], 1); /* one answer record */
    assert_non_null(memmem(packet, len, "v=spf1 -all", 11));
    sl_dns_answer_clear(&a);
    assert_int_equal(sl_dns_query_packet(dns, "txt.example", SL_DNS_TXT, &a, packet, 20, &len),
                     SL_DNS_TEMPFAIL);
    assert_int_equal(len, 0);
    assert_int_equal(a.count, 0);
    sl_dns_destroy(&dns);
}

static void
test_config(void **state)
{
    (void)state;
    char text[512], err[1024] = "";
    snprintf(text, sizeof text, "dns:\n  forward: [\"%s\"]\n  timeout: 750ms\n", s_server.forward);
    sl_cfg_t *cfg = sl_cfg_parse(text, strlen(text), "t.yaml", err, sizeof err);
    assert_non_null(cfg);
    sl_dns_t *dns = sl_dns_new(cfg, sl_cfg_get(sl_cfg_root(cfg), "dns"), err, sizeof err);
    assert_non_null(dns);
    assert_int_equal(sl_dns_timeout_ms(dns), 750);
    sl_dns_answer_t a;
    assert_int_equal(sl_dns_query(dns, "a.example", SL_DNS_AAAA, &a), SL_DNS_OK);
    sl_dns_answer_clear(&a);
    sl_dns_destroy(&dns);
    sl_cfg_destroy(&cfg);

    static const struct {
        const char *label, *yaml, *want;
    } bad[] = {
        {"not an address", "dns:\n  forward: [\"nowhere@53\"]\n", "bad forward address"},
        {"unknown key", "dns:\n  forwrd: 127.0.0.1\n", "forwrd"},
        {"timeout too long", "dns:\n  timeout: 2m\n", "timeout"},
        {"forward a map", "dns:\n  forward: {a: b}\n", "forward"},
        {"unblock_zones a map", "dns:\n  unblock_zones: {a: b}\n", "unblock_zones"},
        {"unblock_zones empty name", "dns:\n  unblock_zones: [\"\"]\n", "unblock_zones"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        cfg = sl_cfg_parse(bad[i].yaml, strlen(bad[i].yaml), "t.yaml", err, sizeof err);
        assert_non_null(cfg);
        dns = sl_dns_new(cfg, sl_cfg_get(sl_cfg_root(cfg), "dns"), err, sizeof err);
        if (dns != NULL || strstr(err, bad[i].want) == NULL)
            fail_msg("%s: accepted or wrong message \"%s\"", bad[i].label, err);
        sl_cfg_destroy(&cfg);
    }
}

/* libunbound answers 168.192.in-addr.arpa. itself (RFC 6303) until the
 * zone is unblocked; then the question reaches the server. */
static void
test_unblock_zones(void **state)
{
    (void)state;
    sl_dns_t *dns = s_resolver(2000);
    sl_dns_answer_t a;
    assert_int_equal(sl_dns_query(dns, "7.1.168.192.in-addr.arpa", SL_DNS_PTR, &a),
                     SL_DNS_NXDOMAIN);
    sl_dns_answer_clear(&a);
    sl_dns_destroy(&dns);

    char text[512], err[1024] = "";
    snprintf(text, sizeof text,
             "dns:\n  forward: [\"%s\"]\n  unblock_zones: [168.192.in-addr.arpa]\n",
             s_server.forward);
    sl_cfg_t *cfg = sl_cfg_parse(text, strlen(text), "t.yaml", err, sizeof err);
    assert_non_null(cfg);
    dns = sl_dns_new(cfg, sl_cfg_get(sl_cfg_root(cfg), "dns"), err, sizeof err);
    if (dns == NULL)
        fail_msg("sl_dns_new: %s", err);
    assert_int_equal(sl_dns_query(dns, "7.1.168.192.in-addr.arpa", SL_DNS_PTR, &a), SL_DNS_OK);
    assert_string_equal(a.rr[0].text, "lan-host.example");
    sl_dns_answer_clear(&a);
    sl_dns_destroy(&dns);
    sl_cfg_destroy(&cfg);
}

/* --- names and record data, no server --- */

static void
test_reverse_name(void **state)
{
    (void)state;
    static const struct {
        const char *label, *ip, *suffix, *want;
        size_t size;
    } cases[] = {
        {"v4 under a list", "127.0.0.2", "zen.example", "2.0.0.127.zen.example", 256},
        {"v4 PTR", "192.0.2.7", "in-addr.arpa", "7.2.0.192.in-addr.arpa", 256},
        {"v4 no suffix", "192.0.2.7", "", "7.2.0.192", 256},
        {"v6", "2001:db8::1", "ip6.arpa",
         "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", 256},
        {"v4-mapped v6 stays v6", "::ffff:192.0.2.1", "x",
         "1.0.2.0.0.0.0.c.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.x", 256},
        {"not an address", "192.0.2", "x", NULL, 256},
        {"hostile", "1.2.3.4; rm", "x", NULL, 256},
        {"buffer too small", "192.0.2.7", "in-addr.arpa", NULL, 22},
        {"buffer just right", "192.0.2.7", "in-addr.arpa", "7.2.0.192.in-addr.arpa", 23},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[256];
        int rc = sl_dns_reverse_name(cases[i].ip, cases[i].suffix, out, cases[i].size);
        if (cases[i].want == NULL) {
            if (rc != -1)
                fail_msg("%s: accepted", cases[i].label);
        } else if (rc != 0 || strcmp(out, cases[i].want) != 0) {
            fail_msg("%s: rc %d \"%s\"", cases[i].label, rc, rc == 0 ? out : "");
        }
    }
}

static void
test_rdata_text(void **state)
{
    (void)state;
    static const struct {
        const char *label;
        int type;
        const char *rdata;
        size_t len;
        int rc;
        const char *want;
        size_t want_len;
    } cases[] = {
        {"A", SL_DNS_A, S("\x7f\x00\x00\x02"), 0, S("127.0.0.2")},
        {"A of 3 bytes", SL_DNS_A, S("\x7f\x00\x00"), -1, S("")},
        {"A of 5 bytes", SL_DNS_A, S("\x7f\x00\x00\x02\x00"), -1, S("")},
        {"AAAA of 4 bytes", SL_DNS_AAAA, S("\x20\x01\x0d\xb8"), -1, S("")},
        {"TXT two strings", SL_DNS_TXT,
         S("\x03"
           "abc"
           "\x02"
           "de"),
         0, S("abcde")},
        {"TXT empty string", SL_DNS_TXT, S("\x00"), 0, S("")},
        {"TXT no string", SL_DNS_TXT, S(""), -1, S("")},
        {"TXT string past end", SL_DNS_TXT,
         S("\x05"
           "abc"),
         -1, S("")},
        {"TXT with NUL", SL_DNS_TXT,
         S("\x03"
           "a\0b"),
         0, S("a\0b")},
        {"MX", SL_DNS_MX, S("\x00\x0a\x04mail\x04test\x00"), 0, S("10 mail.test")},
        {"MX root", SL_DNS_MX, S("\x00\x00\x00"), 0, S("0 .")},
        {"MX no name", SL_DNS_MX, S("\x00\x0a"), -1, S("")},
        {"MX pointer", SL_DNS_MX, S("\x00\x0a\xc0\x0c"), -1, S("")},
        {"PTR", SL_DNS_PTR,
         S("\x04host\x07"
           "example\x00"),
         0, S("host.example")},
        {"PTR label past end", SL_DNS_PTR, S("\x09host\x00"), -1, S("")},
        {"PTR no final label", SL_DNS_PTR, S("\x04host"), -1, S("")},
        {"PTR trailing bytes", SL_DNS_PTR, S("\x04host\x00zz"), -1, S("")},
        {"PTR odd bytes escaped", SL_DNS_PTR,
         S("\x03"
           "a.\x01\x00"),
         0, S("a\\.\\001")},
        {"PTR 0x40 label type", SL_DNS_PTR,
         S("\x41"
           "a\x00"),
         -1, S("")},
        {"CNAME", SL_DNS_CNAME,
         S("\x01"
           "a\x04test\x00"),
         0, S("a.test")},
        {"NS empty", SL_DNS_NS, S(""), -1, S("")},
        {"TLSA", SL_DNS_TLSA, S("\x03\x01\x01\xab"), 0, S("030101ab")},
        {"TLSA short", SL_DNS_TLSA, S("\x03\x01"), -1, S("")},
        {"other type as hex", 99, S("\x01\xff"), 0, S("01ff")},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = NULL;
        size_t len = 0;
        const char *why = NULL;
        int rc = sl_dns_rdata_text(cases[i].type, (const uint8_t *)cases[i].rdata, cases[i].len,
                                   &text, &len, &why);
        if (rc != cases[i].rc)
            fail_msg("%s: rc %d, want %d (%s)", cases[i].label, rc, cases[i].rc, why ? why : "");
        if (rc == 0 &&
            (len != cases[i].want_len || memcmp(text, cases[i].want, len) != 0 || text[len]))
            fail_msg("%s: got \"%s\" (%zu)", cases[i].label, text, len);
        if (rc != 0 && (why == NULL || text != NULL))
            fail_msg("%s: refused without a reason, or left text", cases[i].label);
        free(text);
    }
}

static void
test_rdata_limits(void **state)
{
    (void)state;
    /* A name of 127 one-letter labels is 255 octets: the longest there is. */
    uint8_t name[300];
    size_t n = 0;
    for (int i = 0; i < 127; i++) {
        name[n++] = 1;
        name[n++] = 'a';
    }
    name[n++] = 0;
    char *text = NULL;
    size_t len = 0;
    const char *why = NULL;
    assert_int_equal(sl_dns_rdata_text(SL_DNS_PTR, name, n, &text, &len, &why), 0);
    assert_int_equal(len, 253);
    free(text);
    /* One label more is one too many. */
    memmove(name + 2, name, n);
    name[0] = 1;
    name[1] = 'b';
    assert_int_equal(sl_dns_rdata_text(SL_DNS_PTR, name, n + 2, &text, &len, &why), -1);
    /* TXT over SL_DNS_TXT_MAX is cut there. */
    uint8_t *big = sl_xmalloc(40 * 256);
    size_t at = 0;
    for (int i = 0; i < 40; i++) {
        big[at++] = 255;
        memset(big + at, 'x', 255);
        at += 255;
    }
    assert_int_equal(sl_dns_rdata_text(SL_DNS_TXT, big, at, &text, &len, &why), 0);
    assert_int_equal(len, SL_DNS_TXT_MAX);
    assert_int_equal(text[len], '\0');
    free(text);
    free(big);
}

int
main(void)
{
    const struct CMUnitTest server[] = {
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_ttl_and_cache),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_query_many),
        cmocka_unit_test(test_threads_share_one_resolver),
        cmocka_unit_test(test_packet),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_unblock_zones),
    };
    const struct CMUnitTest local[] = {
        cmocka_unit_test(test_reverse_name),
        cmocka_unit_test(test_rdata_text),
        cmocka_unit_test(test_rdata_limits),
    };
    int failed = cmocka_run_group_tests_name("sl_dns (no server)", local, NULL, NULL);
    failed += cmocka_run_group_tests_name("sl_dns", server, s_group_setup, s_group_teardown);
    return failed;
}
