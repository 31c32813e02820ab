/*
 * tests/unit/test_qr_json.c - the quarantine API's JSON (quarantine/qr_json.c)
 * and the inert text of a message (qr_neutralise, qr_html_to_text in
 * quarantine/qr_view.c): good, bad and hostile inputs, one table each.
 */
#include "qr_core.h"
#include "qr_json.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "sl_test.h"

#include <stdlib.h>
#include <string.h>

static void
test_parse(void **state)
{
    (void)state;
    static const struct {
        const char *label, *in;
        size_t len;
        bool ok;
    } cases[] = {
        {"login body", S("{\"login\": \"a@b\", \"password\": \"p\"}"), true},
        {"nested items", S("{\"items\": [{\"id\": \"X\", \"rcpt\": \"r\"}], \"a\": true}"), true},
        {"escapes", S("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\""), true},
        {"numbers", S("[0, -1, 1.5, 2e3, -0.25E-2]"), true},
        {"literals", S("[true, false, null]"), true},
        {"whitespace", S(" \t\r\n{ } \n"), true},
        {"empty input", S(""), false},
        {"trailing comma", S("[1, 2,]"), false},
        {"trailing bytes", S("{} x"), false},
        {"single quotes", S("{'a': 1}"), false},
        {"leading zero", S("01"), false},
        {"bare minus", S("-"), false},
        {"lone high surrogate", S("\"\\ud800\""), false},
        {"lone low surrogate", S("\"\\udc00\""), false},
        {"escaped NUL", S("\"\\u0000\""), false},
        {"raw NUL in string", S("\"a\0b\""), false},
        {"control char", S("\"a\nb\""), false},
        {"invalid UTF-8", S("\"\xc3\x28\""), false},
        {"overlong UTF-8", S("\"\xc0\xaf\""), false},
        {"unterminated", S("{\"a\": \"b"), false},
        {"too deep", S("[[[[[[[[[[1]]]]]]]]]]"), false},
        {"missing colon", S("{\"a\" 1}"), false},
        {"number overflow", S("1e999"), false},
        {"bad escape", S("\"\\x41\""), false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *why = NULL;
        qr_jval_t *v = qr_json_parse(cases[i].in, cases[i].len, &why);
        s_check((v != NULL) == cases[i].ok, cases[i].label, "got %s (%s)", v ? "ok" : "error",
                why ? why : "");
        s_check(v != NULL || why != NULL, cases[i].label, "no reason given");
        qr_json_free(&v);
    }
}

static void
test_getters(void **state)
{
    (void)state;
    const char *why = NULL;
    static const char body[] = "{\"s\": \"x\", \"b\": true, \"n\": 7, \"f\": 1.5, \"s\": \"y\"}";
    qr_jval_t *v = qr_json_parse(body, sizeof body - 1, &why);
    assert_non_null(v);
    assert_string_equal(qr_json_str(v, "s"), "x"); /* the first of two equal keys */
    assert_null(qr_json_str(v, "b"));
    assert_int_equal(qr_json_bool(v, "b", false), 1);
    assert_int_equal(qr_json_bool(v, "s", false), -1);
    assert_int_equal(qr_json_bool(v, "absent", true), 1);
    int64_t n = 0;
    assert_int_equal(qr_json_int(v, "n", 0, 23, &n), 0);
    assert_int_equal(n, 7);
    assert_int_equal(qr_json_int(v, "n", 0, 6, &n), -1);
    assert_int_equal(qr_json_int(v, "f", 0, 6, &n), -1);
    assert_int_equal(qr_json_int(v, "absent", 0, 6, &n), 1);
    qr_json_free(&v);
    assert_null(v);
    /* the size limit */
    size_t big = QR_JSON_BYTES_MAX + 1;
    char *text = malloc(big);
    memset(text, ' ', big);
    text[0] = '1';
    assert_null(qr_json_parse(text, big, &why));
    free(text);
}

static void
test_writer(void **state)
{
    (void)state;
    static const struct {
        const char *label, *in;
        size_t len;
        const char *want;
    } cases[] = {
        {"plain", S("abc"), "\"abc\""},
        {"script tag", S("<script>alert(1)</script>"),
         "\"\\u003cscript\\u003ealert(1)\\u003c/script\\u003e\""},
        {"quotes", S("a\"b\\c'd&"), "\"a\\\"b\\\\c\\u0027d\\u0026\""},
        {"controls", S("\n\t\x01\x7f"), "\"\\u000a\\u0009\\u0001\\u007f\""},
        {"utf-8 kept", S("caf\xc3\xa9"), "\"caf\xc3\xa9\""},
        {"invalid byte",
         S("a\xff"
           "b"),
         "\"a\\ufffdb\""},
        {"truncated sequence", S("\xe2\x82"), "\"\\ufffd\\ufffd\""},
        {"NUL", S("a\0b"), "\"a\\u0000b\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qr_jbuf_t b = {0};
        qr_jbuf_strn(&b, cases[i].in, cases[i].len);
        char *out = qr_jbuf_take(&b, NULL);
        s_check(strcmp(out, cases[i].want) == 0, cases[i].label, "got %s", out);
        free(out);
    }
    qr_jbuf_t b = {0};
    qr_jbuf_raw(&b, "{");
    qr_jbuf_key(&b, "a");
    qr_jbuf_str(&b, NULL);
    qr_jbuf_key(&b, "b");
    qr_jbuf_printf(&b, "%d}", 5);
    char *out = qr_jbuf_take(&b, NULL);
    assert_string_equal(out, "{\"a\":null,\"b\":5}");
    free(out);
}

static void
test_neutralise(void **state)
{
    (void)state;
    static const struct {
        const char *label, *in, *want;
    } cases[] = {
        {"https", "go to https://evil.example/path?x=1 now", "go to [link: evil.example] now"},
        {"http with port", "http://Host.Example:8080/a", "[link: host.example]"},
        {"userinfo", "https://bank.example@evil.example/", "[link: evil.example]"},
        {"www", "visit www.shop.example/deal.", "visit [link: www.shop.example]"},
        {"ftp", "ftp://files.example", "[link: files.example]"},
        {"no host", "https:// x", "[link: ?] x"},
        {"inside a word", "xhttp://a.example", "xhttp://a.example"},
        {"in angle brackets", "<https://a.example/>", "<[link: a.example]>"},
        {"hostile host chars", "http://a\"b<c.example", "[link: a]\"b<c.example"},
        {"nothing", "plain text", "plain text"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = qr_neutralise(cases[i].in, strlen(cases[i].in));
        s_check(strcmp(out, cases[i].want) == 0, cases[i].label, "got \"%s\"", out);
        free(out);
    }
}

static void
test_html_to_text(void **state)
{
    (void)state;
    static const struct {
        const char *label, *in, *want;
    } cases[] = {
        {"tags", "<p>Hello <b>you</b></p>", "Hello you\n"},
        {"script dropped", "a<script>alert(1)</script>b", "ab"},
        {"style dropped", "<style>p{}</style>x", "x"},
        {"comment dropped", "a<!-- <b> -->b", "ab"},
        {"entities", "&lt;b&gt; &amp; &quot;", "<b> & \""},
        {"line breaks", "a<br>b<br/>c", "a\nb\nc"},
        {"unterminated tag", "a<b", "a"},
        {"unterminated script", "a<script>x", "a"},
        {"unknown entity", "&foo;", "&foo;"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = qr_html_to_text(cases[i].in, strlen(cases[i].in));
        s_check(strcmp(out, cases[i].want) == 0, cases[i].label, "got \"%s\"", out);
        free(out);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_writer),       cmocka_unit_test(test_neutralise),
        cmocka_unit_test(test_html_to_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
