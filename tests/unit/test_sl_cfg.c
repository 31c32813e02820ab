/*
 * tests/unit/test_sl_cfg.c - the YAML tree and its typed getters.
 *
 * Tables of labelled cases: documents the parser takes or refuses (with the
 * exact "file:line: ..." it must say), and values each getter takes or
 * refuses. Hostile shapes included: anchors, aliases, tags, depth and node
 * bombs, NUL bytes, invalid UTF-8, oversized input.
 */
#include "sl_cfg.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "sl_test.h"

/* ---- documents: taken, or refused with these exact errors ---- */

static const struct {
    const char *label, *in;
    size_t len;
    const char *err; /* NULL: the parse succeeds; else the whole error text */
} s_docs[] = {
    {"flat map", S("a: 1\nb: two\n"), NULL},
    {"nested map and list", S("a:\n  b: [1, 2]\n  c:\n    - x: 1\n"), NULL},
    {"comments only", S("# nothing here\n"), NULL},
    {"empty input", S(""), NULL},
    {"explicit document markers", S("---\na: 1\n...\n"), NULL},
    {"quoted keys and values", S("'a b': \"c\\td\"\n"), NULL},
    {"anchor refused", S("a: &x 1\nb: 2\n"),
     "t.yaml:1: expected plain values, found an anchor &x (not supported)"},
    {"anchor and alias refused", S("a: &x 1\nb: *x\n"),
     "t.yaml:1: expected plain values, found an anchor &x (not supported)\n"
     "t.yaml:2: expected plain values, found an alias *x (not supported)"},
    {"anchor on a map refused", S("base: &b {x: 1}\n"),
     "t.yaml:1: expected plain values, found an anchor &b (not supported)"},
    {"billion laughs refused", S("a: &a [\"lol\",\"lol\"]\nb: &b [*a,*a]\nc: &c [*b,*b]\n"),
     "t.yaml:1: expected plain values, found an anchor &a (not supported)\n"
     "t.yaml:2: expected plain values, found an anchor &b (not supported)\n"
     "t.yaml:2: expected plain values, found an alias *a (not supported)\n"
     "t.yaml:2: expected plain values, found an alias *a (not supported)\n"
     "t.yaml:3: expected plain values, found an anchor &c (not supported)\n"
     "t.yaml:3: expected plain values, found an alias *b (not supported)\n"
     "t.yaml:3: expected plain values, found an alias *b (not supported)"},
    {"alias as key refused", S("a: &k x\n*k : 1\n"),
     "t.yaml:1: expected plain values, found an anchor &k (not supported)\n"
     "t.yaml:2: expected a plain key, found an alias *k (not supported)"},
    {"standard tag refused", S("a: !!str 1\n"),
     "t.yaml:1: expected plain values, found a tag tag:yaml.org,2002:str (not supported)"},
    {"local tag refused", S("a:\n  b: !secret x\n"),
     "t.yaml:2: expected plain values, found a tag !secret (not supported)"},
    {"duplicate key", S("a: 1\nb: 2\na: 3\n"),
     "t.yaml:3: a: expected each key once, found it again (first at line 1)"},
    {"duplicate key in a list entry", S("s:\n  - x: 1\n    y: 2\n    x: 3\n"),
     "t.yaml:4: s[0].x: expected each key once, found it again (first at line 2)"},
    {"duplicate key three times", S("k: 1\nk: 2\nk: 3\n"),
     "t.yaml:2: k: expected each key once, found it again (first at line 1)\n"
     "t.yaml:3: k: expected each key once, found it again (first at line 1)"},
    {"second document", S("a: 1\n---\nb: 2\n"),
     "t.yaml:2: expected one YAML document, found a second one (---)"},
    {"list as key", S("? [a]\n: 1\n"),
     "t.yaml:1: expected a plain key, found a list used as a key"},
    {"map as key", S("{a: 1}: 2\n"), "t.yaml:1: expected a plain key, found a map used as a key"},
    {"NUL escape", S("a: 1\nb: \"x\\0y\"\n"),
     "t.yaml:2: expected text, found a NUL character (\\0)"},
    {"raw NUL byte", S("a: 1\nb: x\0y\n"),
     "t.yaml:2: expected valid YAML, found a syntax error: control characters are not allowed"},
    {"invalid UTF-8", S("a: 1\n\nb: \xff\n"),
     "t.yaml:3: expected valid YAML, found a syntax error: invalid leading UTF-8 octet"},
    {"unclosed flow list", S("a: [1, 2\nb: 3\n"),
     "t.yaml:2: expected valid YAML, found a syntax error: did not find expected ',' or ']' "
     "(while parsing a flow sequence at line 1)"},
    {"bad indentation", S("a:\n  b: 1\n c: 2\n"),
     "t.yaml:3: expected valid YAML, found a syntax error: did not find expected key "
     "(while parsing a block mapping at line 1)"},
    {"tab indentation", S("a:\n\tb: 1\n"),
     "t.yaml:2: expected valid YAML, found a syntax error: found character that cannot start "
     "any token (while scanning for the next token at line 2)"},
};

static void
test_documents(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof s_docs / sizeof s_docs[0]; i++) {
        char err[4096] = "untouched";
        sl_cfg_t *cfg = sl_cfg_parse(s_docs[i].in, s_docs[i].len, "t.yaml", err, sizeof err);
        if (s_docs[i].err == NULL) {
            s_check(cfg != NULL, s_docs[i].label, "refused: %s", err);
            s_check(err[0] == '\0', s_docs[i].label, "err not cleared: %s", err);
            s_check(sl_cfg_error_count(cfg) == 0, s_docs[i].label, "errors recorded");
        } else {
            s_check(cfg == NULL, s_docs[i].label, "taken, expected %s", s_docs[i].err);
            s_check(strcmp(err, s_docs[i].err) == 0, s_docs[i].label, "error\n  %s\nexpected\n  %s",
                    err, s_docs[i].err);
        }
        sl_cfg_destroy(&cfg);
        assert_null(cfg);
    }
}

/* s_repeat - PREFIX, then UNIT COUNT times, then SUFFIX (caller frees). */
static char *
s_repeat(const char *prefix, const char *unit, size_t count, const char *suffix)
{
    size_t ul = strlen(unit), pl = strlen(prefix), sl = strlen(suffix);
    char *text = malloc(pl + ul * count + sl + 1);
    assert_non_null(text);
    memcpy(text, prefix, pl);
    for (size_t i = 0; i < count; i++)
        memcpy(text + pl + i * ul, unit, ul);
    memcpy(text + pl + ul * count, suffix, sl + 1);
    return text;
}

static void
test_limits(void **state)
{
    (void) state;
    static const struct {
        const char *label, *prefix, *unit;
        size_t count;
        const char *suffix, *err; /* NULL: taken; else a prefix of the error */
    } cases[] = {
        {"32 levels of nesting", "", "- ", SL_CFG_DEPTH_MAX, "x\n", NULL},
        {"33 levels of nesting", "", "- ", SL_CFG_DEPTH_MAX + 1, "x\n",
         "t.yaml:1: expected at most 32 levels of nesting, found more"},
        {"depth bomb of a million", "", "[", 1000000, "",
         "t.yaml:1: expected at most 32 levels of nesting, found more"},
        {"block map depth bomb", "", "a:\n", 2000, "",
         "t.yaml:"}, /* block maps nest by indentation: refused one way or another */
        {"99,999 values", "[", "1,", SL_CFG_NODES_MAX - 1, "]", NULL},
        {"node bomb", "[", "1,", SL_CFG_NODES_MAX, "]",
         "t.yaml:1: expected at most 100000 values and keys, found more"},
        {"map node bomb", "{", "a: 1,", SL_CFG_NODES_MAX / 2, "}",
         "t.yaml:1: expected at most 100000 values and keys, found more"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = s_repeat(cases[i].prefix, cases[i].unit, cases[i].count, cases[i].suffix);
        char err[512] = "";
        sl_cfg_t *cfg = sl_cfg_parse(text, strlen(text), "t.yaml", err, sizeof err);
        if (cases[i].err == NULL)
            s_check(cfg != NULL, cases[i].label, "refused: %s", err);
        else
            s_check(cfg == NULL && strncmp(err, cases[i].err, strlen(cases[i].err)) == 0,
                    cases[i].label, "error \"%s\", expected \"%s\"", err, cases[i].err);
        sl_cfg_destroy(&cfg);
        free(text);
    }

    /* One byte over the size cap is refused before libyaml sees it. */
    size_t len = SL_CFG_BYTES_MAX + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, '#', len);
    char err[256];
    assert_null(sl_cfg_parse(big, len, "big.yaml", err, sizeof err));
    assert_string_equal(err, "big.yaml: expected at most 4194304 bytes, found 4194305");
    free(big);

    /* 20,000 mistakes: all counted, the text capped with a closing notice. */
    char *many = s_repeat("", "- &a 1\n", 20000, "");
    char *all = malloc(SL_CFG_ERRORS_MAX + 1);
    assert_non_null(all);
    assert_null(sl_cfg_parse(many, strlen(many), "t.yaml", all, SL_CFG_ERRORS_MAX + 1));
    assert_true(strlen(all) < SL_CFG_ERRORS_MAX);
    assert_true(strlen(all) > SL_CFG_ERRORS_MAX - 200);
    const char *tail = "\n... further errors not shown";
    assert_string_equal(all + strlen(all) - strlen(tail), tail);
    /* A small ERR buffer gets the first lines, marked as cut. */
    char small[64];
    assert_null(sl_cfg_parse(many, strlen(many), "t.yaml", small, sizeof small));
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_string_equal(small + sizeof small - 4, "...");
    free(all);
    free(many);
}

/* ---- the tree ---- */

static const char s_tree[] = "# a comment\n"
                             "smtpd:\n"
                             "  listen: [\"0.0.0.0:25\", \"[::]:25\"]\n"
                             "  limits:\n"
                             "    size: 10M\n"
                             "stages:\n"
                             "  - name: a\n"
                             "  - name: b\n"
                             "    workers: 2\n"
                             "empty:\n"
                             "tilde: ~\n"
                             "quoted: ''\n";

static void
test_tree(void **state)
{
    (void) state;
    char err[256];
    sl_cfg_t *cfg = sl_cfg_parse(s_tree, strlen(s_tree), "t.yaml", err, sizeof err);
    assert_non_null(cfg);
    assert_string_equal(sl_cfg_path(cfg), "t.yaml");
    assert_string_equal(sl_cfg_errors(cfg), "");
    const sl_cfg_node_t *root = sl_cfg_root(cfg);
    assert_int_equal(sl_cfg_kind(root), SL_CFG_MAP);
    assert_int_equal(sl_cfg_count(root), 5);
    assert_string_equal(sl_cfg_key_at(root, 0), "smtpd");
    assert_string_equal(sl_cfg_key_at(root, 4), "quoted");
    assert_null(sl_cfg_key_at(root, 5));
    assert_null(sl_cfg_at(root, 5));

    const sl_cfg_node_t *listen = sl_cfg_get(root, "smtpd.listen");
    assert_non_null(listen);
    assert_int_equal(sl_cfg_kind(listen), SL_CFG_SEQ);
    assert_int_equal(sl_cfg_line(listen), 3);
    assert_int_equal(sl_cfg_count(listen), 2);
    assert_string_equal(sl_cfg_scalar(sl_cfg_at(listen, 1)), "[::]:25");
    assert_null(sl_cfg_key_at(listen, 0));
    assert_null(sl_cfg_scalar(listen));

    const sl_cfg_node_t *size = sl_cfg_get(root, "smtpd.limits.size");
    assert_int_equal(sl_cfg_line(size), 5);
    assert_int_equal(sl_cfg_count(size), 0);
    assert_null(sl_cfg_get(root, "smtpd.limits.size.x"));
    assert_null(sl_cfg_get(root, "smtpd.nothing"));
    assert_null(sl_cfg_get(root, "smtp"));
    assert_null(sl_cfg_get(NULL, "smtpd"));

    char path[64];
    const sl_cfg_node_t *workers = sl_cfg_get(sl_cfg_at(sl_cfg_get(root, "stages"), 1), "workers");
    assert_int_equal(sl_cfg_line(workers), 9);
    assert_string_equal(sl_cfg_node_path(workers, path, sizeof path), "stages[1].workers");
    assert_string_equal(sl_cfg_node_path(sl_cfg_at(listen, 0), path, sizeof path),
                        "smtpd.listen[0]");
    assert_string_equal(sl_cfg_node_path(root, path, sizeof path), "");
    char tiny[8];
    assert_string_equal(sl_cfg_node_path(workers, tiny, sizeof tiny), "stag...");

    assert_true(sl_cfg_is_null(sl_cfg_get(root, "empty")));
    assert_true(sl_cfg_is_null(sl_cfg_get(root, "tilde")));
    assert_false(sl_cfg_is_null(sl_cfg_get(root, "quoted")));
    assert_false(sl_cfg_is_null(listen));
    assert_false(sl_cfg_is_null(NULL));

    /* Sections: a map or list, null reads as absent, anything else is a mistake. */
    assert_ptr_equal(sl_cfg_get_map(cfg, root, "smtpd"), sl_cfg_get(root, "smtpd"));
    assert_null(sl_cfg_get_map(cfg, root, "empty"));
    assert_null(sl_cfg_get_map(cfg, root, "absent"));
    assert_ptr_equal(sl_cfg_get_seq(cfg, root, "stages"), sl_cfg_get(root, "stages"));
    assert_int_equal(sl_cfg_error_count(cfg), 0);
    assert_null(sl_cfg_get_map(cfg, root, "stages"));
    assert_null(sl_cfg_get_seq(cfg, root, "quoted"));
    assert_string_equal(sl_cfg_errors(cfg), "t.yaml:6: stages: expected a map, found a list\n"
                                            "t.yaml:12: quoted: expected a list, found \"\"");

    sl_cfg_error(cfg, NULL, "no line %d", 1);
    sl_cfg_error(cfg, size, "custom");
    sl_cfg_expected(cfg, size, "a %s", "colour");
    assert_int_equal(sl_cfg_error_count(cfg), 5);
    assert_string_equal(strstr(sl_cfg_errors(cfg), "t.yaml: no line 1"),
                        "t.yaml: no line 1\nt.yaml:5: custom\n"
                        "t.yaml:5: smtpd.limits.size: expected a colour, found \"10M\"");
    sl_cfg_destroy(&cfg);
    sl_cfg_destroy(&cfg); /* harmless on NULL */
}

/* ---- typed getters ---- */

typedef enum { G_STR, G_INT, G_DOUBLE, G_BOOL, G_DURATION, G_SIZE } s_getter_t;

static const struct {
    const char *label;
    s_getter_t getter;
    const char *value; /* YAML text after "key: "; NULL leaves the key out */
    int64_t min, max, want;
    const char *err; /* NULL: no error; else the whole error text */
} s_getters[] = {
    {"int", G_INT, "42", 0, 64, 42, NULL},
    {"int zero", G_INT, "0", 0, 64, 0, NULL},
    {"int negative", G_INT, "-7", -10, 10, -7, NULL},
    {"int quoted", G_INT, "'5'", 0, 64, 5, NULL},
    {"int absent", G_INT, NULL, 0, 64, -1, NULL},
    {"int max", G_INT, "9223372036854775807", 0, INT64_MAX, INT64_MAX, NULL},
    {"int min", G_INT, "-9223372036854775808", INT64_MIN, 0, INT64_MIN, NULL},
    {"int word", G_INT, "two", 0, 64, -1,
     "t.yaml:2: sect.key: expected a whole number 0..64, found \"two\""},
    {"int leading plus", G_INT, "+1", 0, 64, -1,
     "t.yaml:2: sect.key: expected a whole number 0..64, found \"+1\""},
    {"int hex", G_INT, "0x10", 0, 64, -1,
     "t.yaml:2: sect.key: expected a whole number 0..64, found \"0x10\""},
    {"int leading zero", G_INT, "010", 0, 64, -1,
     "t.yaml:2: sect.key: expected a whole number 0..64, found \"010\""},
    {"int exponent", G_INT, "1e3", 0, 10000, -1,
     "t.yaml:2: sect.key: expected a whole number 0..10000, found \"1e3\""},
    {"int underscore", G_INT, "1_000", 0, 10000, -1,
     "t.yaml:2: sect.key: expected a whole number 0..10000, found \"1_000\""},
    {"int minus only", G_INT, "'-'", -5, 5, -1,
     "t.yaml:2: sect.key: expected a whole number -5..5, found \"-\""},
    {"int above range", G_INT, "65", 0, 64, -1,
     "t.yaml:2: sect.key: expected a whole number 0..64, found \"65\""},
    {"int below range", G_INT, "-1", 0, 64, -1,
     "t.yaml:2: sect.key: expected a whole number 0..64, found \"-1\""},
    {"int 2^63", G_INT, "9223372036854775808", 0, INT64_MAX, -1,
     "t.yaml:2: sect.key: expected a whole number 0..9223372036854775807, "
     "found \"9223372036854775808\""},
    {"int minus zero", G_INT, "-0", -5, 5, 0, NULL},
    {"int below INT64_MIN", G_INT, "-9223372036854775809", INT64_MIN, 0, -1,
     "t.yaml:2: sect.key: expected a whole number -9223372036854775808..0, "
     "found \"-9223372036854775809\""},
    {"int 2^64", G_INT, "18446744073709551616", 0, 64, -1,
     "t.yaml:2: sect.key: expected a whole number 0..64, found \"18446744073709551616\""},
    {"int null", G_INT, "", 0, 64, -1,
     "t.yaml:2: sect.key: expected a whole number 0..64, found nothing"},
    {"int list", G_INT, "[1]", 0, 64, -1,
     "t.yaml:2: sect.key: expected a whole number 0..64, found a list"},
    {"int map", G_INT, "{a: 1}", 0, 64, -1,
     "t.yaml:2: sect.key: expected a whole number 0..64, found a map"},
    {"int hostile text shown safely", G_INT, "\"a\\\"b\\x01\"", 0, 64, -1,
     "t.yaml:2: sect.key: expected a whole number 0..64, found \"a?b?\""},

    {"duration ms", G_DURATION, "250ms", 10, 3600000, 250, NULL},
    {"duration s", G_DURATION, "5s", 10, 3600000, 5000, NULL},
    {"duration m", G_DURATION, "2m", 10, 3600000, 120000, NULL},
    {"duration h", G_DURATION, "1h", 10, 3600000, 3600000, NULL},
    {"duration d", G_DURATION, "14d", 0, INT64_MAX, 14 * 86400000LL, NULL},
    {"duration bare ms", G_DURATION, "1500", 10, 3600000, 1500, NULL},
    {"duration negative allowed", G_DURATION, "-5s", -10000, 0, -5000, NULL},
    {"duration zero", G_DURATION, "0s", 0, 1000, 0, NULL},
    {"duration unknown unit", G_DURATION, "5x", 10, 3600000, -1,
     "t.yaml:2: sect.key: expected a duration (ms, s, m, h or d; bare = ms) 10ms..1h, "
     "found \"5x\""},
    {"duration capital S", G_DURATION, "5S", 10, 3600000, -1,
     "t.yaml:2: sect.key: expected a duration (ms, s, m, h or d; bare = ms) 10ms..1h, "
     "found \"5S\""},
    {"duration fraction", G_DURATION, "1.5s", 10, 3600000, -1,
     "t.yaml:2: sect.key: expected a duration (ms, s, m, h or d; bare = ms) 10ms..1h, "
     "found \"1.5s\""},
    {"duration space", G_DURATION, "5 s", 10, 3600000, -1,
     "t.yaml:2: sect.key: expected a duration (ms, s, m, h or d; bare = ms) 10ms..1h, "
     "found \"5 s\""},
    {"duration negative", G_DURATION, "-1s", 0, 3600000, -1,
     "t.yaml:2: sect.key: expected a duration (ms, s, m, h or d; bare = ms) 0..1h, "
     "found \"-1s\""},
    {"duration unit only", G_DURATION, "s", 0, 3600000, -1,
     "t.yaml:2: sect.key: expected a duration (ms, s, m, h or d; bare = ms) 0..1h, "
     "found \"s\""},
    {"duration too long", G_DURATION, "2h", 10, 3600000, -1,
     "t.yaml:2: sect.key: expected a duration (ms, s, m, h or d; bare = ms) 10ms..1h, "
     "found \"2h\""},
    {"duration too short", G_DURATION, "5ms", 10, 90000, -1,
     "t.yaml:2: sect.key: expected a duration (ms, s, m, h or d; bare = ms) 10ms..90s, "
     "found \"5ms\""},
    {"duration d at the int64 edge", G_DURATION, "106751991167d", 0, INT64_MAX,
     9223372036828800000LL, NULL},
    {"duration overflows int64", G_DURATION, "106751991168d", 0, INT64_MAX, -1,
     "t.yaml:2: sect.key: expected a duration (ms, s, m, h or d; bare = ms) "
     "0..9223372036854775807ms, "
     "found \"106751991168d\""},

    {"size M", G_SIZE, "10M", 0, INT64_MAX, 10 << 20, NULL},
    {"size k", G_SIZE, "512k", 0, INT64_MAX, 512 << 10, NULL},
    {"size K", G_SIZE, "512K", 0, INT64_MAX, 512 << 10, NULL},
    {"size G", G_SIZE, "1G", 0, INT64_MAX, 1 << 30, NULL},
    {"size bare bytes", G_SIZE, "100", 0, INT64_MAX, 100, NULL},
    {"size T", G_SIZE, "1T", 4096, 1 << 30, -1,
     "t.yaml:2: sect.key: expected a size (k, M or G; bare = bytes) 4k..1G, found \"1T\""},
    {"size KB", G_SIZE, "1KB", 4096, 1 << 30, -1,
     "t.yaml:2: sect.key: expected a size (k, M or G; bare = bytes) 4k..1G, found \"1KB\""},
    {"size lowercase m", G_SIZE, "1m", 4096, 1 << 30, -1,
     "t.yaml:2: sect.key: expected a size (k, M or G; bare = bytes) 4k..1G, found \"1m\""},
    {"size too big", G_SIZE, "2G", 4096, 1 << 30, -1,
     "t.yaml:2: sect.key: expected a size (k, M or G; bare = bytes) 4k..1G, found \"2G\""},
    {"size odd bound", G_SIZE, "1", 1000, 1500, -1,
     "t.yaml:2: sect.key: expected a size (k, M or G; bare = bytes) 1000..1500, found \"1\""},
    {"size overflow", G_SIZE, "9007199254740992G", 0, INT64_MAX, -1,
     "t.yaml:2: sect.key: expected a size (k, M or G; bare = bytes) 0..9223372036854775807, "
     "found \"9007199254740992G\""},

    {"bool true", G_BOOL, "true", 0, 0, 1, NULL},
    {"bool yes", G_BOOL, "yes", 0, 0, 1, NULL},
    {"bool on", G_BOOL, "on", 0, 0, 1, NULL},
    {"bool TRUE", G_BOOL, "TRUE", 0, 0, 1, NULL},
    {"bool false", G_BOOL, "false", 0, 0, 0, NULL},
    {"bool no", G_BOOL, "no", 0, 0, 0, NULL},
    {"bool Off", G_BOOL, "Off", 0, 0, 0, NULL},
    {"bool absent", G_BOOL, NULL, 0, 0, 1, NULL},
    {"bool maybe", G_BOOL, "maybe", 0, 0, 1,
     "t.yaml:2: sect.key: expected true or false (or yes/no, on/off), found \"maybe\""},
    {"bool digit", G_BOOL, "1", 0, 0, 1,
     "t.yaml:2: sect.key: expected true or false (or yes/no, on/off), found \"1\""},

    /* Doubles are compared in thousandths. */
    {"double", G_DOUBLE, "0.5", 0, 1, 500, NULL},
    {"double negative", G_DOUBLE, "-1.25", -2, 2, -1250, NULL},
    {"double exponent", G_DOUBLE, "1e3", 0, 10000, 1000000, NULL},
    {"double whole", G_DOUBLE, "7", 0, 10, 7000, NULL},
    {"double huge", G_DOUBLE, "1e999", 0, 10, -1000,
     "t.yaml:2: sect.key: expected a number 0..10, found \"1e999\""},
    {"double leading dot", G_DOUBLE, ".5", 0, 10, -1000,
     "t.yaml:2: sect.key: expected a number 0..10, found \".5\""},
    {"double nan", G_DOUBLE, "nan", 0, 10, -1000,
     "t.yaml:2: sect.key: expected a number 0..10, found \"nan\""},
    {"double inf", G_DOUBLE, ".inf", 0, 10, -1000,
     "t.yaml:2: sect.key: expected a number 0..10, found \".inf\""},
    {"double comma", G_DOUBLE, "0,5", 0, 10, -1000,
     "t.yaml:2: sect.key: expected a number 0..10, found \"0,5\""},
    {"double out of range", G_DOUBLE, "10.5", 0, 10, -1000,
     "t.yaml:2: sect.key: expected a number 0..10, found \"10.5\""},

    /* Strings: want is 1 when the value is the default. */
    {"string", G_STR, "hello world", 0, 0, 0, NULL},
    {"string empty quoted", G_STR, "''", 0, 0, 0, NULL},
    {"string absent", G_STR, NULL, 0, 0, 1, NULL},
    {"string null", G_STR, "~", 0, 0, 1, "t.yaml:2: sect.key: expected a string, found nothing"},
    {"string list", G_STR, "[a]", 0, 0, 1, "t.yaml:2: sect.key: expected a string, found a list"},
};

static void
test_getters(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof s_getters / sizeof s_getters[0]; i++) {
        const char *label = s_getters[i].label;
        char text[256], err[256];
        if (s_getters[i].value)
            snprintf(text, sizeof text, "sect:\n  key: %s\n  other: 1\n", s_getters[i].value);
        else
            snprintf(text, sizeof text, "sect:\n  other: 1\n");
        sl_cfg_t *cfg = sl_cfg_parse(text, strlen(text), "t.yaml", err, sizeof err);
        s_check(cfg != NULL, label, "parse: %s", err);
        const sl_cfg_node_t *sect = sl_cfg_get(sl_cfg_root(cfg), "sect");
        int64_t min = s_getters[i].min, max = s_getters[i].max, got = 0;
        switch (s_getters[i].getter) {
        case G_STR: {
            const char *def = "default";
            const char *s = sl_cfg_get_str(cfg, sect, "key", def);
            got = s == def;
            if (!got && s_getters[i].value[0] != '\'')
                s_check(strcmp(s, s_getters[i].value) == 0, label, "got \"%s\"", s);
            break;
        }
        case G_INT:
            got = sl_cfg_get_int(cfg, sect, "key", -1, min, max);
            break;
        case G_DOUBLE:
            got = (int64_t) (sl_cfg_get_double(cfg, sect, "key", -1, (double) min, (double) max) *
                             1000);
            break;
        case G_BOOL:
            got = sl_cfg_get_bool(cfg, sect, "key", true);
            break;
        case G_DURATION:
            got = sl_cfg_get_duration_ms(cfg, sect, "key", -1, min, max);
            break;
        case G_SIZE:
            got = sl_cfg_get_size(cfg, sect, "key", -1, min, max);
            break;
        }
        s_check(got == s_getters[i].want, label, "got %lld, expected %lld", (long long) got,
                (long long) s_getters[i].want);
        const char *want_err = s_getters[i].err ? s_getters[i].err : "";
        s_check(strcmp(sl_cfg_errors(cfg), want_err) == 0, label, "errors\n  %s\nexpected\n  %s",
                sl_cfg_errors(cfg), want_err);
        s_check(sl_cfg_error_count(cfg) == (s_getters[i].err != NULL), label, "error count %zu",
                sl_cfg_error_count(cfg));
        sl_cfg_destroy(&cfg);
    }
}

static void
test_getter_maps(void **state)
{
    (void) state;
    static const char text[] = "a:\n  b:\n    c: 5s\nlist: [1, 2]\nscalar: x\n";
    sl_cfg_t *cfg = sl_cfg_parse(text, strlen(text), "t.yaml", NULL, 0);
    assert_non_null(cfg);
    const sl_cfg_node_t *root = sl_cfg_root(cfg);
    /* Dotted keys reach into maps, and the error still names the full path. */
    assert_int_equal(sl_cfg_get_duration_ms(cfg, root, "a.b.c", 0, 0, 1000), 0);
    assert_string_equal(sl_cfg_errors(cfg), "t.yaml:3: a.b.c: expected a duration "
                                            "(ms, s, m, h or d; bare = ms) 0..1s, found \"5s\"");
    /* An absent or non-map MAP gives the default without a second error. */
    assert_int_equal(sl_cfg_get_int(cfg, NULL, "x", 9, 0, 10), 9);
    assert_int_equal(sl_cfg_get_int(cfg, sl_cfg_get(root, "list"), "x", 9, 0, 10), 9);
    assert_int_equal(sl_cfg_get_int(cfg, sl_cfg_get(root, "scalar"), "x", 9, 0, 10), 9);
    assert_int_equal(sl_cfg_error_count(cfg), 1);
    sl_cfg_destroy(&cfg);
}

static void
test_check_keys(void **state)
{
    (void) state;
    static const char text[] = "broker:\n"
                               "  heartbeat: 1s\n"
                               "  hartbeat: 2s\n"
                               "  zzz: 1\n"
                               "  \"bad\\u0007key\": 1\n";
    static const char *const allowed[] = {"frontend", "heartbeat", NULL};
    sl_cfg_t *cfg = sl_cfg_parse(text, strlen(text), "t.yaml", NULL, 0);
    assert_non_null(cfg);
    sl_cfg_check_keys(cfg, sl_cfg_get(sl_cfg_root(cfg), "broker"), allowed);
    sl_cfg_check_keys(cfg, NULL, allowed);
    assert_string_equal(sl_cfg_errors(cfg),
                        "t.yaml:3: broker.hartbeat: expected one of frontend, heartbeat, found an "
                        "unknown key; did you mean heartbeat?\n"
                        "t.yaml:4: broker.zzz: expected one of frontend, heartbeat, found an "
                        "unknown key\n"
                        "t.yaml:5: broker.bad?key: expected one of frontend, heartbeat, found an "
                        "unknown key");
    sl_cfg_destroy(&cfg);
}

static void
test_load(void **state)
{
    (void) state;
    char path[] = "/tmp/test_sl_cfg.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char text[] = "a: 1\nb:\n  c: [x]\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);
    char err[512] = "x";
    sl_cfg_t *cfg = sl_cfg_load(path, err, sizeof err);
    assert_non_null(cfg);
    assert_string_equal(err, "");
    assert_string_equal(sl_cfg_path(cfg), path);
    assert_int_equal(sl_cfg_line(sl_cfg_get(sl_cfg_root(cfg), "b.c")), 3);
    sl_cfg_destroy(&cfg);
    unlink(path);

    assert_null(sl_cfg_load("/nonexistent/sluice.yaml", err, sizeof err));
    assert_string_equal(err, "/nonexistent/sluice.yaml: cannot open: No such file or directory");
    assert_null(sl_cfg_load("/", err, sizeof err));
    assert_string_equal(err, "/: cannot read: Is a directory");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documents),   cmocka_unit_test(test_limits),
        cmocka_unit_test(test_tree),        cmocka_unit_test(test_getters),
        cmocka_unit_test(test_getter_maps), cmocka_unit_test(test_check_keys),
        cmocka_unit_test(test_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
