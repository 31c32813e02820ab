/*
 * tests/unit/test_score_rules.c - the score stage's rule engine
 * (stages/score/score_rules.c): rule-file errors with file:line, header,
 * body, rawbody and uri rules, meta rules over our own and other stages'
 * symbols, the match limit, and the shipped default rule set.
 * The stage end to end: tests/e2e/test_score.py.
 */
#include "score_rules.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include "sl_test.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const struct {
    const char *label, *text;
    size_t len;
    const char *err; /* substring of the error, NULL = loads */
} s_files[] = {
    {"empty", S(""), NULL},
    {"comments", S("# a\n   # b\n\n"), NULL},
    {"good body", S("body A /x/i\nscore A 2\ndescribe A an x\n"), NULL},
    {"unknown keyword", S("bodyx A /x/\n"), "t:1: unknown keyword"},
    {"lower-case name", S("body a /x/\n"), "t:1: expected a rule name"},
    {"no pattern", S("body A\n"), "t:1: body A: nothing after the name"},
    {"no slashes", S("body A x\n"), "expected /pattern/flags"},
    {"bad flag", S("body A /x/q\n"), "unknown regex flag 'q'"},
    {"bad regex", S("body A /(x/\n"), "t:1: regex error"},
    {"duplicate", S("body A /x/\nbody A /y/\n"), "t:2: rule A defined twice"},
    {"score before rule", S("score A 1\n"), "score for A, which is not defined above"},
    {"score not a number", S("body A /x/\nscore A lots\n"), "t:2: score A: expected a number"},
    {"score nan", S("body A /x/\nscore A nan\n"), "expected a number"},
    {"header without op", S("header A Subject /x/\n"), "expected Header-Name =~"},
    {"header exists", S("header A exists:X-Spam\n"), NULL},
    {"meta good", S("meta M (A || B) && !C\n"), NULL},
    {"meta unbalanced", S("meta M (A || B\n"), "missing )"},
    {"meta trailing", S("meta M A B\n"), "unexpected text"},
    {"meta empty operand", S("meta M A &&\n"), "expected a symbol name"},
    {"meta too deep",
     S("meta M ((((((((((((((((((((((((((((((((((A))))))))))))))))))))))))))))))))))\n"),
     "nested too deep"},
    {"NUL in line", S("body A /x\0/\n"), "t:1: NUL byte"},
};

static void
test_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_files / sizeof s_files[0]; i++) {
        char err[512] = "";
        score_rules_t *r = score_rules_parse(s_files[i].text, s_files[i].len, "t", err, sizeof err);
        if (s_files[i].err == NULL && r == NULL)
            fail_msg("%s: refused: %s", s_files[i].label, err);
        if (s_files[i].err != NULL && (r != NULL || strstr(err, s_files[i].err) == NULL))
            fail_msg("%s: error '%s', want '%s'", s_files[i].label, err, s_files[i].err);
        score_rules_destroy(&r);
        assert_null(r);
    }
}

typedef struct {
    char names[4096];
    size_t count;
} hits_t;

static void
s_hit(const char *name, double score, const char *info, void *arg)
{
    hits_t *h = arg;
    (void)score;
    (void)info;
    size_t n = strlen(h->names);
    snprintf(h->names + n, sizeof h->names - n, "%s ", name);
    h->count++;
}

static bool
s_other(const char *name, void *arg)
{
    (void)arg;
    return strcmp(name, "SPF_FAIL") == 0;
}

static const char s_rules[] = "header SUBJ_FREE Subject =~ /\\bfree\\b/i\n"
                              "header FOLDED X-Long =~ /alpha beta/\n"
                              "header NO_MSGID Message-ID !~ /@/\n"
                              "header HAS_LIST exists:List-Id\n"
                              "header ALL_HDR ALL =~ /^Received: from evil/m\n"
                              "body BODY_WIN /you\\s+won/i\n"
                              "rawbody RAW_B64 /^Q29udGVudA==$/m\n"
                              "uri URI_EXE /\\.exe$/\n"
                              "meta META_OWN SUBJ_FREE && BODY_WIN\n"
                              "meta META_OTHER SPF_FAIL && !HAS_LIST\n"
                              "meta META_MISSING NOT_SET_ANYWHERE || URI_EXE\n"
                              "meta META_OF_META META_OWN && META_OTHER\n";

static void
test_run(void **state)
{
    (void)state;
    char err[512];
    score_rules_t *r = score_rules_parse(s_rules, sizeof s_rules - 1, "t", err, sizeof err);
    assert_non_null(r);
    static const char header[] = "Received: from evil.example\r\nSubject: Get it FREE now\r\n"
                                 "X-Long: alpha\r\n beta\r\n\r\n";
    const char *texts[] = {"first part", "and YOU  won it"};
    size_t lens[] = {10, 15};
    const char *uris[] = {"http://a.example/", "http://b.example/setup.exe"};
    score_input_t in = {.header = header,
                        .header_len = sizeof header - 1,
                        .texts = texts,
                        .text_lens = lens,
                        .text_count = 2,
                        .raw_body = "x\nQ29udGVudA==\n",
                        .raw_body_len = 15,
                        .uris = uris,
                        .uri_count = 2,
                        .has_symbol = s_other};
    hits_t h = {0};
    assert_int_equal(score_rules_run(r, &in, s_hit, &h), 0);
    assert_string_equal(h.names, "SUBJ_FREE FOLDED NO_MSGID ALL_HDR BODY_WIN RAW_B64 URI_EXE "
                                 "META_OWN META_OTHER META_MISSING META_OF_META ");

    /* The opposite message: nothing but NO_MSGID's absence and HAS_LIST. */
    static const char header2[] = "Subject: freedom\r\nMessage-ID: <a@b>\r\nList-Id: x\r\n\r\n";
    score_input_t in2 = {.header = header2, .header_len = sizeof header2 - 1};
    memset(&h, 0, sizeof h);
    score_rules_run(r, &in2, s_hit, &h);
    assert_string_equal(h.names, "HAS_LIST ");
    score_rules_destroy(&r);
}

static void
test_match_limit(void **state)
{
    (void)state;
    static const char rules[] = "body SLOW /(a+)+$/\n";
    char err[512];
    score_rules_t *r = score_rules_parse(rules, sizeof rules - 1, "t", err, sizeof err);
    assert_non_null(r);
    char text[64];
    memset(text, 'a', sizeof text - 1);
    text[sizeof text - 2] = 'b';
    text[sizeof text - 1] = '\0';
    const char *texts[] = {text};
    size_t lens[] = {sizeof text - 1};
    score_input_t in = {.texts = texts, .text_lens = lens, .text_count = 1};
    hits_t h = {0};
    assert_int_equal(score_rules_run(r, &in, s_hit, &h), 1); /* given up, not a hit */
    assert_int_equal(h.count, 0);
    score_rules_destroy(&r);
}

static void
test_invalid_utf8(void **state)
{
    (void)state;
    static const char rules[] = "body WORD /caf\xc3\xa9/i\n";
    char err[512];
    score_rules_t *r = score_rules_parse(rules, sizeof rules - 1, "t", err, sizeof err);
    assert_non_null(r);
    const char *texts[] = {"\xff\xfe broken \xc3 then CAF\xc3\x89 ok"};
    size_t lens[] = {strlen(texts[0])};
    score_input_t in = {.texts = texts, .text_lens = lens, .text_count = 1};
    hits_t h = {0};
    score_rules_run(r, &in, s_hit, &h);
    assert_string_equal(h.names, "WORD ");
    score_rules_destroy(&r);
}

static void
test_default_rules(void **state)
{
    (void)state;
    const char *source = getenv("SLUICE_SOURCE");
    char path[4096];
    snprintf(path, sizeof path, "%s/stages/score/rules", source ? source : "../..");
    char err[512] = "";
    score_rules_t *r = score_rules_load(path, err, sizeof err);
    if (r == NULL)
        fail_msg("default rules: %s", err);
    assert_true(score_rules_count(r) >= 30);
    for (size_t i = 0; i < score_rules_count(r); i++) {
        const char *name, *describe;
        double score;
        score_rules_at(r, i, &name, &score, &describe);
        if (describe[0] == '\0')
            fail_msg("%s has no describe line", name);
    }
    static const char gtube[] =
        "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";
    score_input_t in = {.header = "Message-ID: <a@b>\nDate: 1\n\n",
                        .header_len = 27,
                        .raw_body = gtube,
                        .raw_body_len = sizeof gtube - 1};
    hits_t h = {0};
    score_rules_run(r, &in, s_hit, &h);
    assert_string_equal(h.names, "SC_GTUBE ");
    score_rules_destroy(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files),         cmocka_unit_test(test_run),
        cmocka_unit_test(test_match_limit),   cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_default_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
