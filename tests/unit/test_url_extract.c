/*
 * tests/unit/test_url_extract.c - the url stage's extractor and normaliser
 * (stages/url/url_extract.c): good, obfuscated and hostile URLs, text and
 * HTML, link text hosts, limits. The stage end to end: tests/e2e/test_url.py.
 */
#include "url_extract.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include "sl_test.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const struct {
    const char *label, *in;
    size_t len;
    int rc;
    const char *url, *host;
    unsigned flags; /* flags that must be set */
} s_norm[] = {
    {"plain", S("http://Example.COM/Path?q=1"), 0, "http://example.com/Path?q=1", "example.com", 0},
    {"no path", S("https://www.example.org"), 0, "https://www.example.org/", "www.example.org", 0},
    {"www only", S("www.example.net/x"), 0, "http://www.example.net/x", "www.example.net", 0},
    {"hxxp", S("hxxp://malicious-site.com/phish"), 0, "http://malicious-site.com/phish",
     "malicious-site.com", URL_F_OBFUSCATED},
    {"bracket dots", S("hxxps://evil[.]example[.]com/a"), 0, "https://evil.example.com/a",
     "evil.example.com", URL_F_OBFUSCATED},
    {"decimal ip", S("http://3232235777/"), 0, "http://192.168.1.1/", "192.168.1.1",
     URL_F_IP | URL_F_OBFUSCATED},
    {"hex ip", S("http://0xC0A80101/login"), 0, "http://192.168.1.1/login", "192.168.1.1",
     URL_F_IP | URL_F_OBFUSCATED},
    {"octal dotted ip", S("http://0300.0250.01.01/"), 0, "http://192.168.1.1/", "192.168.1.1",
     URL_F_IP | URL_F_OBFUSCATED},
    {"dotted ip", S("http://192.0.2.7:8080/x"), 0, "http://192.0.2.7:8080/x", "192.0.2.7",
     URL_F_IP},
    {"ipv6", S("http://[2001:DB8::1]/"), 0, "http://[2001:db8::1]/", "[2001:db8::1]", URL_F_IP},
    {"percent host", S("http://%65xample.com/"), 0, "http://example.com/", "example.com",
     URL_F_OBFUSCATED},
    {"userinfo", S("http://www.bank.example@evil.example/"), 0, "http://evil.example/",
     "evil.example", URL_F_USERINFO},
    {"idn",
     S("http://b\xc3\xbc"
       "cher.example/"),
     0, "http://xn--bcher-kva.example/", "xn--bcher-kva.example", URL_F_IDN},
    {"cyrillic a in paypal", S("http://p\xd0\xb0ypal.com/"), 0, NULL, NULL,
     URL_F_IDN | URL_F_HOMOGRAPH},
    {"punycode homograph", S("http://xn--80ak6aa92e.com/"), 0, "http://xn--80ak6aa92e.com/",
     "xn--80ak6aa92e.com", URL_F_IDN | URL_F_HOMOGRAPH},
    {"whitespace trimmed", S("  http://example.com/a b\r\n"), 0, "http://example.com/ab",
     "example.com", 0},
    {"mailto refused", S("mailto:a@example.com"), -1, NULL, NULL, 0},
    {"javascript refused", S("javascript:alert(1)"), -1, NULL, NULL, 0},
    {"no dot", S("http://localhost/"), -1, NULL, NULL, 0},
    {"empty host", S("http:///x"), -1, NULL, NULL, 0},
    {"NUL in host", S("http://exa\0mple.com/"), -1, NULL, NULL, 0},
    {"encoded NUL in host", S("http://exa%00mple.com/"), -1, NULL, NULL, 0},
    {"bad port", S("http://example.com:80a/"), -1, NULL, NULL, 0},
    {"bad ipv6", S("http://[zz::1]/"), -1, NULL, NULL, 0},
    {"host over 253",
     S("http://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com/"),
     -1, NULL, NULL, 0},
    {"ip part over 255", S("http://256.1.1.1/"), -1, NULL, NULL, 0},
};

static void
test_normalise(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_norm / sizeof s_norm[0]; i++) {
        url_t u;
        const char *why = NULL;
        int rc = url_normalise(s_norm[i].in, s_norm[i].len, &u, &why);
        if (rc != s_norm[i].rc)
            fail_msg("%s: rc %d, want %d (%s)", s_norm[i].label, rc, s_norm[i].rc, why ? why : "");
        if (rc != 0)
            continue;
        if (s_norm[i].url && strcmp(u.url, s_norm[i].url) != 0)
            fail_msg("%s: url %s, want %s", s_norm[i].label, u.url, s_norm[i].url);
        if (s_norm[i].host && strcmp(u.host, s_norm[i].host) != 0)
            fail_msg("%s: host %s, want %s", s_norm[i].label, u.host, s_norm[i].host);
        if ((u.flags & s_norm[i].flags) != s_norm[i].flags)
            fail_msg("%s: flags %#x, want %#x", s_norm[i].label, u.flags, s_norm[i].flags);
        free(u.url);
    }
}

/* A port that ends the input: the URL is not NUL-terminated (found by
 * fuzz_url_extract; an exact-size heap copy makes ASan see a read past it),
 * and digits after LEN are not the port's. */
static void
test_port_at_end(void **state)
{
    (void)state;
    static const char text[] = "http://example.com:8080";
    char *exact = malloc(sizeof text - 1);
    memcpy(exact, text, sizeof text - 1);
    url_t u;
    assert_int_equal(url_normalise(exact, sizeof text - 1, &u, NULL), 0);
    assert_string_equal(u.url, "http://example.com:8080/");
    free(u.url);
    assert_int_equal(url_normalise(exact, sizeof text - 3, &u, NULL), 0); /* ":80" */
    assert_string_equal(u.url, "http://example.com:80/");
    free(u.url);
    free(exact);
    static const char six[] = "http://example.com:808012";
    assert_int_equal(url_normalise(six, sizeof six - 1, &u, NULL), -1); /* over 5 digits */
}

static const struct {
    const char *label, *in;
    size_t len;
    bool html;
    size_t count;          /* URLs found */
    const char *first;     /* first URL */
    const char *text_host; /* link text host of the first URL */
} s_lists[] = {
    {"sentence", S("See http://example.com/a, then https://example.org/b."), false, 2,
     "http://example.com/a", ""},
    {"parenthesis", S("(www.example.com)"), false, 1, "http://www.example.com/", ""},
    {"embedded word not a start", S("xhttp://example.com fooexample.com"), false, 0, NULL, ""},
    {"duplicates", S("http://example.com/ http://EXAMPLE.com/"), false, 1, "http://example.com/",
     ""},
    {"defanged in text", S("Check hxxp://malicious-site[.]com/phish now"), false, 1,
     "http://malicious-site.com/phish", ""},
    {"phishing anchor", S("lol <a href=\"http://www.example.net\">http://www.cnn.com</a>"), true, 2,
     "http://www.example.net/", "www.cnn.com"},
    {"entity in href", S("<a href='http://example.com/?a=1&amp;b=2'>click</a>"), true, 1,
     "http://example.com/?a=1&b=2", ""},
    {"image and form",
     S("<img src=http://img.example.com/p.png><form action=\"https://"
       "collect.example/post\">"),
     true, 2, "http://img.example.com/p.png", ""},
    {"text host with tags", S("<A HREF=\"https://evil.example/\"><b>www.bank.example</b></A>"),
     true, 2, "https://evil.example/", "www.bank.example"},
    {"unterminated tag", S("<a href=\"http://example.com/"), true, 0, NULL, ""},
    {"NUL inside", S("http://exa\0mple.com/ http://ok.example/"), false, 1, "http://ok.example/",
     ""},
};

static void
test_lists(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_lists / sizeof s_lists[0]; i++) {
        url_list_t list = {0};
        if (s_lists[i].html)
            url_list_add_html(&list, s_lists[i].in, s_lists[i].len);
        else
            url_list_add_text(&list, s_lists[i].in, s_lists[i].len);
        if (list.count != s_lists[i].count)
            fail_msg("%s: %zu URLs, want %zu", s_lists[i].label, list.count, s_lists[i].count);
        if (s_lists[i].first && strcmp(list.items[0].url, s_lists[i].first) != 0)
            fail_msg("%s: first %s, want %s", s_lists[i].label, list.items[0].url,
                     s_lists[i].first);
        if (list.count > 0 && strcmp(list.items[0].text_host, s_lists[i].text_host) != 0)
            fail_msg("%s: text host '%s', want '%s'", s_lists[i].label, list.items[0].text_host,
                     s_lists[i].text_host);
        url_list_clear(&list);
    }
}

static void
test_limit(void **state)
{
    (void)state;
    url_list_t list = {.max = 3};
    char text[64 * 40];
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "http://h%d.example/ ", i);
    url_list_add_text(&list, text, n);
    assert_int_equal(list.count, 3);
    assert_int_equal(list.dropped, 37);
    url_list_clear(&list);
    assert_int_equal(list.count, 0);
    assert_int_equal(list.max, 3);
}

static void
test_hostile(void **state)
{
    (void)state;
    /* Many '<' without '>' and an endless run of URL characters: bounded, no crash. */
    size_t len = 200000;
    char *p = malloc(len);
    assert_non_null(p);
    for (size_t i = 0; i < len; i++)
        p[i] = i % 3 == 0 ? '<' : 'a';
    url_list_t list = {0};
    url_list_add_html(&list, p, len);
    /* Anchors never closed: the search for </a> is bounded, so this is linear. */
    url_list_clear(&list);
    for (size_t i = 0; i + 10 <= len; i += 10)
        memcpy(p + i, "<a href=x>", 10);
    url_list_add_html(&list, p, len);
    assert_int_equal(list.count, 0);
    memcpy(p, "http://", 7);
    memset(p + 7, 'a', len - 7);
    url_list_add_text(&list, p, len);
    assert_true(list.count <= 1);
    url_list_clear(&list);
    free(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_port_at_end),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
