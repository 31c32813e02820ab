/*
 * tests/unit/test_url_redirect.c - click-tracking redirectors
 * (stages/url/url_redirect.c): the shipped list, host matching, list files
 * and hostile entries, and the link-text check that sends trackers (listed
 * ones, and those under the From: header's own registered domain) to
 * URL_REDIRECTOR instead of URL_PHISHING.
 */
#include "url_redirect.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
test_shipped_list(void **state)
{
    (void)state;
    url_redirect_t list = {0};
    url_redirect_defaults(&list);
    assert_true(list.count >= 20);
    static const struct {
        const char *host;
        bool want;
    } hosts[] = {
        {"us1.list-manage.com", true},
        {"list-manage.com", true},
        {"click.mailchimp.com", true},
        {"u123.ct.sendgrid.net", true},
        {"mandrillapp.com", true},
        {"t.co", true},
        {"eur01.safelinks.protection.outlook.com", true},
        {"outlook.com", false}, /* only the rewriting host, not all of it */
        {"list-manage.com.evil.example", false},
        {"evillist-manage.com", false}, /* a suffix, not a parent domain */
        {"xt.co", false},
        {"click.evil.example", false},
        {"links.e.evil.example", false}, /* no host-name patterns */
        {"", false},
    };
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
        if (url_redirect_has(&list, hosts[i].host) != hosts[i].want)
            fail_msg("host \"%s\": expected %d", hosts[i].host, hosts[i].want);
    url_redirect_clear(&list);
    assert_int_equal(list.count, 0);
    assert_null(list.names);
}

static void
test_add(void **state)
{
    (void)state;
    static const struct {
        const char *label, *name;
        int rc;
    } cases[] = {
        {"plain", "Track.Example.COM", 0},
        {"trailing dot", "links.example.net.", 0},
        {"empty", "", -1},
        {"only a dot", ".", -1},
        {"leading dot", ".example.com", -1},
        {"empty label", "a..example", -1},
        {"space", "a b.example", -1},
        {"wildcard", "links.e.*", -1},
        {"slash", "example.com/x", -1},
        {"utf-8",
         "b\xc3\xbc"
         "cher.example",
         -1},
    };
    url_redirect_t list = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *why = NULL;
        int rc = url_redirect_add(&list, cases[i].name, &why);
        if (rc != cases[i].rc)
            fail_msg("case %s: rc %d", cases[i].label, rc);
        if (rc != 0 && why == NULL)
            fail_msg("case %s: no reason", cases[i].label);
    }
    assert_int_equal(list.count, 2);
    assert_true(url_redirect_has(&list, "track.example.com"));
    assert_true(url_redirect_has(&list, "a.links.example.net"));
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    const char *why;
    assert_int_equal(url_redirect_add(&list, longname, &why), -1);
    url_redirect_clear(&list);
}

static void
test_load(void **state)
{
    (void)state;
    char path[] = "/tmp/sluice-redirect-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("# site list\n\n  clicks.example.org  \r\ntrk.example.net\n", f);
    fclose(f);
    url_redirect_t list = {0};
    char err[256];
    assert_int_equal(url_redirect_load(&list, path, err, sizeof err), 0);
    assert_int_equal(list.count, 2);
    assert_string_equal(list.names[0], "clicks.example.org");

    f = fopen(path, "w");
    fputs("ok.example\nnot a domain\n", f);
    fclose(f);
    assert_int_equal(url_redirect_load(&list, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":2: "));

    f = fopen(path, "w");
    for (int i = 0; i < 300; i++)
        fputc('a', f);
    fputc('\n', f);
    fclose(f);
    assert_int_equal(url_redirect_load(&list, path, err, sizeof err), -1);
    assert_non_null(strstr(err, ":1: line longer"));
    unlink(path);
    assert_int_equal(url_redirect_load(&list, path, err, sizeof err), -1);
    url_redirect_clear(&list);
}

static void
test_link_check(void **state)
{
    (void)state;
    url_redirect_t list = {0};
    url_redirect_defaults(&list);
    static const struct {
        const char *label, *shown, *host, *domain, *url;
        url_link_t want;
    } cases[] = {
        {"same site", "example.com", "www.example.com", "example.com", "https://www.example.com/",
         URL_LINK_OK},
        {"same owner, other suffix", "example.com", "example.co.uk", "example.co.uk",
         "https://example.co.uk/", URL_LINK_OK},
        {"tracker naming the site in its query", "shop.example", "track.unknown.example",
         "unknown.example", "https://track.unknown.example/c?u=https%3A%2F%2Fshop.example",
         URL_LINK_OK},
        {"mailchimp tracker", "shop.example", "shop.us1.list-manage.com", "list-manage.com",
         "https://shop.us1.list-manage.com/track/click?u=1&id=2", URL_LINK_REDIRECTOR},
        {"sendgrid tracker", "news.example", "u1.ct.sendgrid.net", "sendgrid.net",
         "https://u1.ct.sendgrid.net/ls/click?upn=x", URL_LINK_REDIRECTOR},
        {"safelinks", "bank.example", "eur01.safelinks.protection.outlook.com", "outlook.com",
         "https://eur01.safelinks.protection.outlook.com/?url=x", URL_LINK_REDIRECTOR},
        {"phishing", "mybank.example", "login.evil.example", "evil.example",
         "http://login.evil.example/x", URL_LINK_MISMATCH},
        {"phishing on a look-alike host", "mybank.example", "click.evil.example", "evil.example",
         "http://click.evil.example/x", URL_LINK_MISMATCH},
        {"tracker name as a subdomain of evil", "mybank.example", "sendgrid.net.evil.example",
         "evil.example", "http://sendgrid.net.evil.example/", URL_LINK_MISMATCH},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        url_link_t got = url_link_check(&list, cases[i].shown, cases[i].host, cases[i].domain,
                                        cases[i].url, NULL);
        if (got != cases[i].want)
            fail_msg("case %s: got %d, expected %d", cases[i].label, got, cases[i].want);
    }
    /* Without the list, a tracker is a mismatch (the old behaviour). */
    url_redirect_t empty = {0};
    assert_int_equal(url_link_check(&empty, "shop.example", "shop.us1.list-manage.com",
                                    "list-manage.com", "https://shop.us1.list-manage.com/t", NULL),
                     URL_LINK_MISMATCH);
    url_redirect_clear(&list);
}

/* The sender's own tracker: the href under the From: header's registered
 * domain is URL_LINK_SENDER; anything else keeps its old answer. */
static void
test_link_check_sender(void **state)
{
    (void)state;
    url_redirect_t list = {0};
    url_redirect_defaults(&list);
    static const struct {
        const char *label, *shown, *host, *domain, *url, *sender;
        url_link_t want;
    } cases[] = {
        {"ZDNet Shopper tracker", "buy.com", "clickthru.online.com", "online.com",
         "http://clickthru.online.com/Click?q=8c-x", "online.com", URL_LINK_SENDER},
        {"Daily Dilbert tracker", "dilbert.com", "ummail4.unitedmedia.com", "unitedmedia.com",
         "http://ummail4.unitedmedia.com:80/Click?q=1", "unitedmedia.com", URL_LINK_SENDER},
        {"rule off (no sender)", "buy.com", "clickthru.online.com", "online.com",
         "http://clickthru.online.com/Click?q=1", NULL, URL_LINK_MISMATCH},
        {"empty sender", "buy.com", "clickthru.online.com", "online.com",
         "http://clickthru.online.com/Click?q=1", "", URL_LINK_MISMATCH},
        {"href elsewhere than the sender", "mybank.example", "login.evil.example", "evil.example",
         "http://login.evil.example/x", "sender.example", URL_LINK_MISMATCH},
        {"sender only a suffix of the href domain", "mybank.example", "x.notonline.com",
         "notonline.com", "http://x.notonline.com/", "online.com", URL_LINK_MISMATCH},
        {"href domain a suffix of the sender", "mybank.example", "com", "com", "http://com/",
         "online.com", URL_LINK_MISMATCH},
        {"bare IP equal to an IP sender", "mybank.example", "192.0.2.1", "192.0.2.1",
         "http://192.0.2.1/login", "192.0.2.1", URL_LINK_MISMATCH},
        {"listed redirector wins", "shop.example", "shop.us1.list-manage.com", "list-manage.com",
         "https://shop.us1.list-manage.com/t", "list-manage.com", URL_LINK_REDIRECTOR},
        {"same site stays ok", "online.com", "www.online.com", "online.com",
         "http://www.online.com/", "online.com", URL_LINK_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        url_link_t got = url_link_check(&list, cases[i].shown, cases[i].host, cases[i].domain,
                                        cases[i].url, cases[i].sender);
        if (got != cases[i].want)
            fail_msg("case %s: got %d, expected %d", cases[i].label, got, cases[i].want);
    }
    url_redirect_clear(&list);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_list),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_link_check),
        cmocka_unit_test(test_link_check_sender),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
