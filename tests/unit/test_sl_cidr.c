/*
 * tests/unit/test_sl_cidr.c - addresses and networks (stages/rbl/sl_cidr.c, compiled in).
 */
#include "sl_cidr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

static void
test_parse_and_match(void **state)
{
    (void)state;
    static const struct {
        const char *label, *net, *ip;
        int rc;
        bool inside;
    } cases[] = {
        {"v4 /24 inside", "192.0.2.0/24", "192.0.2.200", 0, true},
        {"v4 /24 outside", "192.0.2.0/24", "192.0.3.1", 0, false},
        {"v4 host", "192.0.2.7", "192.0.2.7", 0, true},
        {"v4 host other", "192.0.2.7", "192.0.2.8", 0, false},
        {"v4 /0 holds all v4", "0.0.0.0/0", "203.0.113.1", 0, true},
        {"v4 /0 holds no v6", "0.0.0.0/0", "2001:db8::1", 0, false},
        {"v4 /30 code range", "127.0.0.4/30", "127.0.0.7", 0, true},
        {"v4 /30 code range end", "127.0.0.4/30", "127.0.0.8", 0, false},
        {"v6 /48", "2001:db8:bad::/48", "2001:db8:bad:1::25", 0, true},
        {"v6 /48 outside", "2001:db8:bad::/48", "2001:db8:bae::1", 0, false},
        {"v6 odd prefix", "2001:db8::/29", "2001:dbf::1", 0, true},
        {"mapped client is v4", "192.0.2.0/24", "::ffff:192.0.2.9", 0, true},
        {"mapped network", "::ffff:192.0.2.0/120", "192.0.2.9", 0, true},
        {"host bits set", "192.0.2.1/24", "192.0.2.1", -1, false},
        {"prefix too long", "192.0.2.0/33", "192.0.2.1", -1, false},
        {"prefix not a number", "192.0.2.0/2x", "192.0.2.1", -1, false},
        {"prefix empty", "192.0.2.0/", "192.0.2.1", -1, false},
        {"prefix negative", "192.0.2.0/-1", "192.0.2.1", -1, false},
        {"not an address", "example.com/24", "192.0.2.1", -1, false},
        {"leading zeros", "192.000.002.000/24", "192.0.2.1", -1, false},
        {"empty", "", "192.0.2.1", -1, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sl_cidr_t net;
        sl_ip_t ip;
        const char *why = NULL;
        int rc = sl_cidr_parse(cases[i].net, &net, &why);
        if (rc != cases[i].rc)
            fail_msg("%s: rc %d (%s)", cases[i].label, rc, why ? why : "");
        if (rc == 0) {
            assert_int_equal(sl_ip_parse(cases[i].ip, &ip), 0);
            if (sl_cidr_contains(&net, &ip) != cases[i].inside)
                fail_msg("%s: wrong match", cases[i].label);
        } else if (why == NULL) {
            fail_msg("%s: refused without a reason", cases[i].label);
        }
    }
}

static void
test_network(void **state)
{
    (void)state;
    static const struct {
        const char *ip;
        unsigned bits;
        const char *want;
    } cases[] = {
        {"192.0.2.77", 24, "192.0.2.0/24"},
        {"192.0.2.77", 32, "192.0.2.77/32"},
        {"192.0.2.77", 99, "192.0.2.77/32"},
        {"::ffff:192.0.2.77", 24, "192.0.2.0/24"},
        {"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"},
        {"2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sl_ip_t ip;
        char out[SL_CIDR_TEXT_MAX];
        assert_int_equal(sl_ip_parse(cases[i].ip, &ip), 0);
        assert_int_equal(sl_ip_network(&ip, cases[i].bits, out, sizeof out), 0);
        assert_string_equal(out, cases[i].want);
    }
    sl_ip_t ip;
    assert_int_equal(sl_ip_parse("192.0.2.1 ", &ip), -1);
    assert_int_equal(sl_ip_parse("fe80::1%eth0", &ip), -1);
    assert_int_equal(sl_ip_parse(NULL, &ip), -1);
    char small[8];
    assert_int_equal(sl_ip_parse("192.0.2.1", &ip), 0);
    assert_int_equal(sl_ip_network(&ip, 24, small, sizeof small), -1);
}

static void
test_list(void **state)
{
    (void)state;
    sl_cidr_list_t list = {0};
    const char *why = NULL;
    assert_int_equal(sl_cidr_list_add(&list, "10.0.0.0/8", &why), 0);
    assert_int_equal(sl_cidr_list_add(&list, "2001:db8::/32", &why), 0);
    assert_int_equal(sl_cidr_list_add(&list, "nonsense", &why), -1);
    for (int i = 0; i < 40; i++) {
        char net[32];
        snprintf(net, sizeof net, "172.16.%d.0/24", i);
        assert_int_equal(sl_cidr_list_add(&list, net, &why), 0);
    }
    sl_ip_t ip;
    sl_ip_parse("172.16.39.1", &ip);
    assert_true(sl_cidr_list_contains(&list, &ip));
    sl_ip_parse("172.16.40.1", &ip);
    assert_false(sl_cidr_list_contains(&list, &ip));
    sl_ip_parse("2001:db8:ffff::1", &ip);
    assert_true(sl_cidr_list_contains(&list, &ip));

    char path[] = "/tmp/sluice-cidr-XXXXXX", err[256];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "# providers\n198.51.100.0/24   # a provider\n\n  203.0.113.0/25\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    assert_int_equal(sl_cidr_list_load(&list, path, err, sizeof err), 0);
    sl_ip_parse("203.0.113.100", &ip);
    assert_true(sl_cidr_list_contains(&list, &ip));
    sl_ip_parse("203.0.113.200", &ip);
    assert_false(sl_cidr_list_contains(&list, &ip));
    FILE *f = fopen(path, "a");
    fputs("198.51.100.1/24\n", f);
    fclose(f);
    assert_int_equal(sl_cidr_list_load(&list, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":5: address has bits set"));
    unlink(path);
    assert_int_equal(sl_cidr_list_load(&list, path, err, sizeof err), -1);
    sl_cidr_list_clear(&list);
    assert_int_equal(list.count, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_and_match),
        cmocka_unit_test(test_network),
        cmocka_unit_test(test_list),
    };
    return cmocka_run_group_tests_name("sl_cidr", tests, NULL, NULL);
}
