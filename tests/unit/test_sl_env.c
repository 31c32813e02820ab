/*
 * tests/unit/test_sl_env.c - the envelope and verdict codec, table-driven.
 *
 * Byte tables hold good, bad and hostile encodings with the exact reason a
 * refusal must give; builders make the inputs too long for a literal (limits,
 * depth bombs). Round trips, verdict merging, queue ids and JSON follow.
 */
#include "sl_env.h"

#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define S(lit) lit, sizeof(lit) - 1 // a literal and its exact length, NULs included

/* The smallest valid envelope, and its head with room for one more pair. */
#define ENV_MIN                                                                                    \
    "\x82\xa1v\x01\xa2id\xa1"                                                                      \
    "A"
#define ENV3                                                                                       \
    "\x83\xa1v\x01\xa2id\xa1"                                                                      \
    "A"
/* An envelope whose verdicts map holds stage "a" with one more pair in it. */
#define ENV_V                                                                                      \
    ENV3 "\xa8verdicts\x81\xa1"                                                                    \
         "a\x81"
/* The smallest valid verdict, and its head with room for one more pair. */
#define VER_MIN                                                                                    \
    "\x81\xa5stage\xa1"                                                                            \
    "a"
#define VER2                                                                                       \
    "\x82\xa5stage\xa1"                                                                            \
    "a"

typedef struct {
    const char *label; /* names the case in a failure */
    const char *in;    /* encoded input */
    size_t len;        /* bytes in in */
    int rc;            /* 0 accepted, -1 refused */
    const char *why;   /* exact reason when refused */
} codec_case_t;

static const codec_case_t env_cases[] = {
    {"minimal", S(ENV_MIN), 0, NULL},
    {"unknown key skipped", S(ENV3 "\xa3zzz\x93\x01\xc0\x81\x01\x02"), 0, NULL},
    {"non-string key skipped", S(ENV3 "\x01\xa4size"), 0, NULL},
    {"unknown key with bad-typed known name inside", S(ENV3 "\xa1x\x81\xa4size\xa1x"), 0, NULL},
    {"size from int64 type", S(ENV3 "\xa4size\xd3\0\0\0\0\0\0\0\x05"), 0, NULL},
    {"size as integral float", S(ENV3 "\xa4size\xcb\x40\x45\0\0\0\0\0\0"), 0, NULL},
    {"score as int", S(ENV3 "\xa5score\x05"), 0, NULL},
    {"score as negative fixint", S(ENV3 "\xa5score\xfb"), 0, NULL},
    {"score as float32", S(ENV3 "\xa5score\xca\x3d\xcc\xcc\xcd"), 0, NULL},
    {"client ipv6",
     S(ENV3 "\xa6"
            "client\x81\xa2ip\xab"
            "2001:db8::7"),
     0, NULL},
    {"null sender", S(ENV3 "\xa9mail_from\xa0"), 0, NULL},
    {"verdict stage from key", S(ENV_V "\xa2ms\x01"), 0, NULL},
    {"empty input", S(""), -1, "msgpack is truncated"},
    {"not a map", S("\x93\x01\x02\x03"), -1, "envelope is not a map"},
    {"trailing bytes", S(ENV_MIN "\xc0"), -1, "msgpack has trailing bytes"},
    {"truncated", S("\x82\xa1v\x01\xa2id\xa1"), -1, "msgpack is truncated"},
    {"truncated string",
     S("\x82\xa1v\x01\xa2id\xa5"
       "A"),
     -1, "msgpack is truncated"},
    {"reserved byte", S(ENV3 "\xa3zzz\xc1"), -1, "msgpack has the reserved byte 0xc1"},
    {"huge declared map", S("\xdf\xff\xff\xff\xff\x01\x02"), -1,
     "msgpack declares more items than bytes left"},
    {"huge declared rcpts", S(ENV3 "\xa5rcpts\xdd\xff\xff\xff\xff"), -1,
     "msgpack declares more items than bytes left"},
    {"huge declared bin", S(ENV3 "\xa3zzz\xc6\xff\xff\xff\xff\x00"), -1, "msgpack is truncated"},
    {"huge declared ext", S(ENV3 "\xa3zzz\xc9\x7f\xff\xff\xff\x01\x00"), -1,
     "msgpack is truncated"},
    {"v 2",
     S("\x82\xa1v\x02\xa2id\xa1"
       "A"),
     -1, "v is not 1: unknown envelope version"},
    {"v as string",
     S("\x82\xa1v\xa1\x31\xa2id\xa1"
       "A"),
     -1, "v is not 1: unknown envelope version"},
    {"no v",
     S("\x81\xa2id\xa1"
       "A"),
     -1, "envelope has no v"},
    {"no id", S("\x81\xa1v\x01"), -1, "envelope has no id"},
    {"id with slash",
     S("\x82\xa1v\x01\xa2id\xa3"
       "a/b"),
     -1, "id is not 1..64 bytes of [0-9A-Za-z._-]"},
    {"id empty", S("\x82\xa1v\x01\xa2id\xa0"), -1, "id is not 1..64 bytes of [0-9A-Za-z._-]"},
    {"duplicate key",
     S(ENV3 "\xa2id\xa1"
            "B"),
     -1, "envelope has a duplicate key"},
    {"size as string",
     S(ENV3 "\xa4size\xa3"
            "abc"),
     -1, "size is not an unsigned integer"},
    {"size negative", S(ENV3 "\xa4size\xff"), -1, "size is not an unsigned integer"},
    {"size fractional", S(ENV3 "\xa4size\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a"), -1,
     "size is not an unsigned integer"},
    {"received_at nil", S(ENV3 "\xabreceived_at\xc0"), -1,
     "received_at is not an unsigned integer"},
    {"direction both",
     S(ENV3 "\xa9"
            "direction\xa4"
            "both"),
     -1, "direction is not \"in\" or \"out\""},
    {"direction as bin",
     S(ENV3 "\xa9"
            "direction\xc4\x02in"),
     -1, "direction is not \"in\" or \"out\""},
    {"client not a map",
     S(ENV3 "\xa6"
            "client\x90"),
     -1, "client is not a map"},
    {"client ip short",
     S(ENV3 "\xa6"
            "client\x81\xa2ip\xa5"
            "1.2.3"),
     -1, "client ip is not an IPv4 or IPv6 address"},
    {"client ip with NUL",
     S(ENV3 "\xa6"
            "client\x81\xa2ip\xa8"
            "1.2.3.4\0"),
     -1, "client ip is not an IPv4 or IPv6 address"},
    {"client port 70000",
     S(ENV3 "\xa6"
            "client\x81\xa4port\xce\x00\x01\x11\x70"),
     -1, "client port is not an integer 0..65535"},
    {"client duplicate helo",
     S(ENV3 "\xa6"
            "client\x82\xa4helo\xa0\xa4helo\xa0"),
     -1, "client has a duplicate key"},
    {"mail_from with NUL",
     S(ENV3 "\xa9mail_from\xa3"
            "a\0b"),
     -1, "mail_from is not a string of at most 512 bytes without NUL"},
    {"mail_from as number", S(ENV3 "\xa9mail_from\x07"), -1,
     "mail_from is not a string of at most 512 bytes without NUL"},
    {"rcpts not array",
     S(ENV3 "\xa5rcpts\xa1"
            "a"),
     -1, "rcpts is not an array"},
    {"rcpt empty", S(ENV3 "\xa5rcpts\x91\xa0"), -1,
     "rcpt is not a string of 1..512 bytes without NUL"},
    {"rcpt number", S(ENV3 "\xa5rcpts\x91\x01"), -1,
     "rcpt is not a string of 1..512 bytes without NUL"},
    {"score NaN", S(ENV3 "\xa5score\xcb\x7f\xf8\0\0\0\0\0\0"), -1, "score is not a finite number"},
    {"score float32 infinity", S(ENV3 "\xa5score\xca\x7f\x80\0\0"), -1,
     "score is not a finite number"},
    {"score as string",
     S(ENV3 "\xa5score\xa1"
            "1"),
     -1, "score is not a finite number"},
    {"classification with space",
     S(ENV3 "\xae"
            "classification\xa3"
            "a b"),
     -1, "classification is not a name of [0-9A-Za-z._-]"},
    {"actions without rcpts",
     S(ENV3 "\xa7"
            "actions\x91\xa7"
            "deliver"),
     -1, "actions and rcpts differ in length"},
    {"actions not array",
     S(ENV3 "\xa7"
            "actions\xc0"),
     -1, "actions is not an array"},
    {"verdicts not map", S(ENV3 "\xa8verdicts\x90"), -1, "verdicts is not a map"},
    {"verdicts key bad", S(ENV3 "\xa8verdicts\x81\xa1/\x80"), -1,
     "verdicts key is not a stage name of [0-9A-Za-z._-]"},
    {"verdicts duplicate stage",
     S(ENV3 "\xa8verdicts\x82\xa1"
            "a\x80\xa1"
            "a\x80"),
     -1, "verdicts has a duplicate stage"},
    {"verdict stage differs from key",
     S(ENV_V "\xa5stage\xa1"
             "b"),
     -1, "verdict stage differs from its key in verdicts"},
    {"verdict not map",
     S(ENV3 "\xa8verdicts\x81\xa1"
            "a\x90"),
     -1, "verdict is not a map"},
    {"verdict symbol NaN", S(ENV_V "\xa7symbols\x81\xa1X\x81\xa5score\xcb\xff\xf8\0\0\0\0\0\0"), -1,
     "symbol score is not a finite number"},
    {"parts not array", S(ENV3 "\xa5parts\x80"), -1, "parts is not an array"},
    {"part without size",
     S(ENV3 "\xa5parts\x91\x81\xa4path\xa1"
            "1"),
     -1, "part metadata lacks path or size"},
    {"part not a map",
     S(ENV3 "\xa5parts\x91\xa1"
            "1"),
     -1, "part metadata is not a map"},
};

static const codec_case_t verdict_cases[] = {
    {"minimal", S(VER_MIN), 0, NULL},
    {"unknown key skipped",
     S(VER2 "\xa4"
            "zzzz\x82\x01\x02\x03\x04"),
     0, NULL},
    {"attempts as float",
     S(VER2 "\xa8"
            "attempts\xcb\x40\0\0\0\0\0\0\0"),
     0, NULL},
    {"ms as int", S(VER2 "\xa2ms\x07"), 0, NULL},
    {"symbol without info",
     S(VER2 "\xa7symbols\x81\xa3"
            "BAD\x81\xa5score\x01"),
     0, NULL},
    {"symbol unknown key",
     S(VER2 "\xa7symbols\x81\xa3"
            "BAD\x81\xa1x\xc0"),
     0, NULL},
    {"field of every type",
     S(VER2 "\xa6"
            "fields\x84\xa1n\xc0\xa1"
            "b\xc4\x01\x00\xa1"
            "e\xd4\x01\x02\xa1m\x81\x01\x02"),
     0, NULL},
    {"result unknown key", S(VER2 "\xa6result\x81\xa1x\x01"), 0, NULL},
    {"error text",
     S(VER2 "\xa5"
            "error\xa7timeout"),
     0, NULL},
    {"no stage", S("\x81\xa2ms\x01"), -1, "verdict has no stage"},
    {"stage bad",
     S("\x81\xa5stage\xa3"
       "a b"),
     -1, "verdict stage is not a name of [0-9A-Za-z._-]"},
    {"not a map",
     S("\xa1"
       "a"),
     -1, "verdict is not a map"},
    {"duplicate key",
     S(VER2 "\xa5stage\xa1"
            "b"),
     -1, "verdict has a duplicate key"},
    {"ms negative", S(VER2 "\xa2ms\xff"), -1, "verdict ms is not a finite number >= 0"},
    {"ms NaN", S(VER2 "\xa2ms\xcb\x7f\xf8\0\0\0\0\0\0"), -1,
     "verdict ms is not a finite number >= 0"},
    {"attempts 2^33",
     S(VER2 "\xa8"
            "attempts\xcf\0\0\0\x02\0\0\0\0"),
     -1, "verdict attempts is not an unsigned integer"},
    {"worker with NUL", S(VER2 "\xa6worker\xa2\0x"), -1,
     "verdict worker is not a string of at most 1024 bytes without NUL"},
    {"symbols not a map", S(VER2 "\xa7symbols\x90"), -1, "verdict symbols is not a map"},
    {"symbol lowercase",
     S(VER2 "\xa7symbols\x81\xa3"
            "bad\x80"),
     -1, "symbol name is not 1..64 bytes of [A-Z0-9_]"},
    {"symbol score as number", S(VER2 "\xa7symbols\x81\xa1X\x01"), -1, "symbol value is not a map"},
    {"symbol score string",
     S(VER2 "\xa7symbols\x81\xa1X\x81\xa5score\xa1"
            "1"),
     -1, "symbol score is not a finite number"},
    {"duplicate symbol", S(VER2 "\xa7symbols\x82\xa1X\x80\xa1X\x80"), -1,
     "verdict has a duplicate symbol"},
    {"symbol duplicate score", S(VER2 "\xa7symbols\x81\xa1X\x82\xa5score\x01\xa5score\x02"), -1,
     "symbol has a duplicate key"},
    {"fields not a map",
     S(VER2 "\xa6"
            "fields\x90"),
     -1, "verdict fields is not a map"},
    {"field key empty",
     S(VER2 "\xa6"
            "fields\x81\xa0\x01"),
     -1, "field key is not a string of 1..64 bytes without NUL"},
    {"field key number",
     S(VER2 "\xa6"
            "fields\x81\x01\x01"),
     -1, "field key is not a string of 1..64 bytes without NUL"},
    {"duplicate field key",
     S(VER2 "\xa6"
            "fields\x82\xa1k\x01\xa1k\x02"),
     -1, "verdict has a duplicate field key"},
    {"result not a map", S(VER2 "\xa6result\x90"), -1, "verdict result is not a map"},
    {"result score NaN", S(VER2 "\xa6result\x81\xa5score\xca\x7f\xc0\0\0"), -1,
     "result score is not a finite number"},
    {"result classification bad",
     S(VER2 "\xa6result\x81\xae"
            "classification\xa2?!"),
     -1, "result classification is not a name of [0-9A-Za-z._-]"},
    {"result actions not array",
     S(VER2 "\xa6result\x81\xa7"
            "actions\xa4"
            "drop"),
     -1, "result actions is not an array"},
    {"result action bad",
     S(VER2 "\xa6result\x81\xa7"
            "actions\x91\xa3"
            "a b"),
     -1, "result action is not \"\" or a name of [0-9A-Za-z._-]"},
    {"parts item no path", S(VER2 "\xa5parts\x91\x81\xa4size\x01"), -1,
     "part metadata lacks path or size"},
    {"part path with NUL",
     S(VER2 "\xa5parts\x91\x82\xa4path\xa2"
            "1\0\xa4size\x01"),
     -1, "part path is not a string of 1..1024 bytes without NUL"},
    {"part size negative",
     S(VER2 "\xa5parts\x91\x82\xa4path\xa1"
            "1\xa4size\xff"),
     -1, "part size is not an unsigned integer"},
    {"part duplicate path",
     S(VER2 "\xa5parts\x91\x83\xa4path\xa1"
            "1\xa4size\x01\xa4path\xa1"
            "2"),
     -1, "part metadata has a duplicate key"},
    {"huge declared fields",
     S(VER2 "\xa6"
            "fields\xdf\x7f\xff\xff\xff"),
     -1, "msgpack declares more items than bytes left"},
};

/* s_check_case - runs one table row through DECODE and reports by label. */
static void
s_check_case(const codec_case_t *c, bool envelope)
{
    const char *why = NULL;
    sl_env_t *env = NULL;
    sl_verdict_t *verdict = NULL;
    int rc = envelope ? sl_env_decode(c->in, c->len, &env, &why)
                      : sl_verdict_decode(c->in, c->len, &verdict, &why);
    if (rc != c->rc)
        fail_msg("%s: rc %d, want %d (why: %s)", c->label, rc, c->rc, why ? why : "-");
    if (c->rc != 0 && (why == NULL || strcmp(why, c->why) != 0))
        fail_msg("%s: why \"%s\", want \"%s\"", c->label, why ? why : "-", c->why);
    if (c->rc != 0 && (env || verdict))
        fail_msg("%s: refused but *out set", c->label);
    sl_env_destroy(&env);
    sl_verdict_destroy(&verdict);
}

static void
test_env_decode_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof env_cases / sizeof env_cases[0]; i++)
        s_check_case(&env_cases[i], true);
}

static void
test_verdict_decode_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof verdict_cases / sizeof verdict_cases[0]; i++)
        s_check_case(&verdict_cases[i], false);
}

/* --- generated inputs: too long for a literal --- */

/* s_env_head - packs the minimal envelope's pairs into a map of PAIRS pairs. */
static void
s_env_head(msgpack_packer *pk, size_t pairs)
{
    msgpack_pack_map(pk, pairs);
    msgpack_pack_str_with_body(pk, "v", 1);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_str_with_body(pk, "id", 2);
    msgpack_pack_str_with_body(pk, "A", 1);
}

/* s_env_key - the minimal envelope plus KEY, whose value the caller packs. */
static void
s_env_key(msgpack_packer *pk, const char *key)
{
    s_env_head(pk, 3);
    msgpack_pack_str_with_body(pk, key, strlen(key));
}

static void
s_pack_filler(msgpack_packer *pk, size_t len)
{
    char *text = malloc(len);
    assert_non_null(text);
    memset(text, 'x', len);
    msgpack_pack_str_with_body(pk, text, len);
    free(text);
}

static void
build_rcpts_1001(msgpack_packer *pk, unsigned n)
{
    s_env_key(pk, "rcpts");
    msgpack_pack_array(pk, n);
    for (unsigned i = 0; i < n; i++)
        msgpack_pack_str_with_body(pk, "a@b", 3);
}

static void
build_helo_long(msgpack_packer *pk, unsigned n)
{
    s_env_key(pk, "client");
    msgpack_pack_map(pk, 1);
    msgpack_pack_str_with_body(pk, "helo", 4);
    s_pack_filler(pk, n);
}

static void
build_mail_from_long(msgpack_packer *pk, unsigned n)
{
    s_env_key(pk, "mail_from");
    s_pack_filler(pk, n);
}

/* s_verdict_key - the envelope head, then verdicts {"a": {KEY: <value to come>}}. */
static void
s_verdict_key(msgpack_packer *pk, const char *key)
{
    s_env_key(pk, "verdicts");
    msgpack_pack_map(pk, 1);
    msgpack_pack_str_with_body(pk, "a", 1);
    msgpack_pack_map(pk, 1);
    msgpack_pack_str_with_body(pk, key, strlen(key));
}

/* s_pack_nest - N arrays, each holding the next; the innermost is empty. */
static void
s_pack_nest(msgpack_packer *pk, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        msgpack_pack_array(pk, i + 1 < n ? 1 : 0);
}

/* build_field_depth - verdict "a" with field k nested N arrays deep. */
static void
build_field_depth(msgpack_packer *pk, unsigned n)
{
    s_verdict_key(pk, "fields");
    msgpack_pack_map(pk, 1);
    msgpack_pack_str_with_body(pk, "k", 1);
    s_pack_nest(pk, n);
}

/* build_unknown_depth - N nested arrays under an unknown key. */
static void
build_unknown_depth(msgpack_packer *pk, unsigned n)
{
    s_env_key(pk, "zzz");
    s_pack_nest(pk, n);
}

static void
build_symbols(msgpack_packer *pk, unsigned n)
{
    s_verdict_key(pk, "symbols");
    msgpack_pack_map(pk, n);
    for (unsigned i = 0; i < n; i++) {
        char name[16];
        int len = snprintf(name, sizeof name, "S%u", i);
        msgpack_pack_str_with_body(pk, name, (size_t)len);
        msgpack_pack_map(pk, 0);
    }
}

static void
build_big(msgpack_packer *pk, unsigned n)
{
    s_env_key(pk, "zzz");
    msgpack_pack_bin(pk, n);
    for (unsigned i = 0; i < n; i += 4096) {
        static const char zero[4096];
        msgpack_pack_bin_body(pk, zero, n - i < 4096 ? n - i : 4096);
    }
}

static const struct {
    const char *label;                         /* names the case */
    void (*build)(msgpack_packer *, unsigned); /* writes the input */
    unsigned n;                                /* size parameter */
    int rc;                                    /* 0 accepted, -1 refused */
    const char *why;                           /* exact reason when refused */
} built_cases[] = {
    {"1000 rcpts", build_rcpts_1001, 1000, 0, NULL},
    {"1001 rcpts", build_rcpts_1001, 1001, -1, "envelope has more than 1000 rcpts"},
    {"helo 1024 bytes", build_helo_long, 1024, 0, NULL},
    {"helo 1025 bytes", build_helo_long, 1025, -1,
     "client helo is not a string of at most 1024 bytes without NUL"},
    {"mail_from 512 bytes", build_mail_from_long, 512, 0, NULL},
    {"mail_from 513 bytes", build_mail_from_long, 513, -1,
     "mail_from is not a string of at most 512 bytes without NUL"},
    {"field depth 16", build_field_depth, 16, 0, NULL},
    {"field depth 17", build_field_depth, 17, -1, "field value is nested deeper than 16"},
    {"depth bomb 100000", build_field_depth, 100000, -1, "msgpack is nested too deep"},
    {"unknown key depth bomb", build_unknown_depth, 25, -1, "msgpack is nested too deep"},
    {"512 symbols", build_symbols, 512, 0, NULL},
    {"513 symbols", build_symbols, 513, -1, "verdict has more than 512 symbols"},
    {"envelope over 4 MiB", build_big, 4u << 20, -1, "envelope is larger than 4 MiB"},
};

static void
test_env_decode_built(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof built_cases / sizeof built_cases[0]; i++) {
        msgpack_sbuffer sbuf;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sbuf);
        msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
        built_cases[i].build(&pk, built_cases[i].n);
        codec_case_t c = {built_cases[i].label, sbuf.data, sbuf.size, built_cases[i].rc,
                          built_cases[i].why};
        s_check_case(&c, true);
        msgpack_sbuffer_destroy(&sbuf);
    }
}

/* --- setters --- */

static void
test_setters(void **state)
{
    (void)state;
    const char *why = NULL;
    static const struct {
        const char *label, *id;
        bool ok;
    } ids[] = {
        {"ulid", "01JB7Q3K9V0000000000000000", true},
        {"dots", "a.b-c_d", true},
        {"empty", "", false},
        {"space", "a b", false},
        {"slash", "a/b", false},
        {"65 bytes", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", false},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        sl_env_t *env = sl_env_new(ids[i].id);
        if ((env != NULL) != ids[i].ok)
            fail_msg("sl_env_new %s: got %p", ids[i].label, (void *)env);
        sl_env_destroy(&env);
    }
    static const struct {
        const char *label;
        sl_env_str_t field;
        const char *value;
        int rc;
    } strs[] = {
        {"ipv4", SL_ENV_CLIENT_IP, "192.0.2.7", 0},
        {"ipv6", SL_ENV_CLIENT_IP, "2001:db8::7", 0},
        {"ip unset", SL_ENV_CLIENT_IP, "", 0},
        {"ip host name", SL_ENV_CLIENT_IP, "mx.example", -1},
        {"ip with port", SL_ENV_CLIENT_IP, "192.0.2.7:25", -1},
        {"class spam", SL_ENV_CLASSIFICATION, "spam", 0},
        {"class space", SL_ENV_CLASSIFICATION, "sp am", -1},
        {"helo utf-8", SL_ENV_HELO, "m\xc3\xa4il.example", 0},
    };
    sl_env_t *env = sl_env_new("A");
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (sl_env_set_str(env, strs[i].field, strs[i].value, &why) != strs[i].rc)
            fail_msg("sl_env_set_str %s: wrong rc", strs[i].label);
    assert_int_equal(sl_env_set_uint(env, SL_ENV_CLIENT_PORT, 65536), -1);
    assert_int_equal(sl_env_set_uint(env, SL_ENV_CLIENT_PORT, 25), 0);
    assert_int_equal(sl_env_set_action(env, 0, "deliver", &why), -1);
    for (int i = 0; i < SL_ENV_RCPTS_MAX; i++)
        assert_int_equal(sl_env_add_rcpt(env, "u@example.org", &why), 0);
    assert_int_equal(sl_env_add_rcpt(env, "u@example.org", &why), -1);
    assert_string_equal(why, "envelope has 1000 rcpts already");
    assert_int_equal(sl_env_set_action(env, 999, "deliver", &why), 0);
    assert_string_equal(sl_env_action(env, 999), "deliver");
    assert_string_equal(sl_env_action(env, 0), "");
    sl_env_destroy(&env);
    assert_null(env);

    sl_verdict_t *v = sl_verdict_new("rbl");
    assert_null(sl_verdict_new("r b"));
    assert_int_equal(sl_verdict_symbol(v, "RBL_LISTED", 2.5, "zen"), 0);
    assert_int_equal(sl_verdict_symbol(v, "RBL_LISTED", 3.0, NULL), 0);
    assert_int_equal(sl_verdict_symbol(v, "rbl_listed", 1, NULL), -1);
    assert_int_equal(sl_verdict_symbol(v, "NAN", NAN, NULL), -1);
    assert_int_equal(sl_verdict_symbol(v, "INF", INFINITY, NULL), -1);
    assert_int_equal(sl_verdict_symbol_count(v), 1);
    double score;
    const char *info;
    assert_int_equal(sl_verdict_symbol_at(v, 0, NULL, &score, &info), 0);
    assert_true(score == 3.0);
    assert_string_equal(info, "");
    assert_int_equal(sl_verdict_symbol_at(v, 1, NULL, NULL, NULL), -1);
    assert_int_equal(sl_verdict_field_raw(v, "k", "\x91\x91", 2), -1); /* truncated */
    assert_int_equal(sl_verdict_field_raw(v, "k", "\x01\x02", 2), -1); /* trailing */
    assert_int_equal(sl_verdict_field_raw(v, "k", "\xd0\x05", 2), 0);  /* int8 5 */
    assert_memory_equal(sl_verdict_field(v, "k").ptr, "\x05", 1);      /* made canonical */
    assert_int_equal(sl_verdict_field(v, "nope").len, 0);
    assert_int_equal(sl_verdict_field_str(v, "s", "text"), 0);
    char *text = sl_verdict_field_get_str(v, "s");
    assert_string_equal(text, "text");
    free(text);
    assert_null(sl_verdict_field_get_str(v, "k"));
    assert_int_equal(sl_verdict_set_action(v, SL_ENV_RCPTS_MAX, "drop"), -1);
    assert_int_equal(sl_verdict_set_classification(v, ""), -1);
    assert_int_equal(sl_verdict_add_part(v,
                                         S("\x81\xa4path\xa1"
                                           "1"),
                                         "x", 1),
                     -1);
    char *long_text = malloc(3000);
    memset(long_text, 'e', 3000);
    long_text[2999] = '\0';
    sl_verdict_set_error(v, long_text);
    assert_int_equal(strlen(sl_verdict_error(v)), SL_ENV_STR_MAX);
    free(long_text);
    sl_verdict_destroy(&v);
    assert_null(v);
    sl_verdict_destroy(&v);
}

/* --- round trip --- */

/* s_full_env - an envelope with every field set and two verdicts merged. */
static sl_env_t *
s_full_env(void)
{
    const char *why = NULL;
    sl_env_t *env = sl_env_new("01JB7Q3K9VABCDEFGHJKMNPQRS");
    assert_non_null(env);
    assert_int_equal(sl_env_set_str(env, SL_ENV_CLIENT_IP, "192.0.2.7", &why), 0);
    assert_int_equal(sl_env_set_str(env, SL_ENV_CLIENT_RDNS, "mx.example.net", &why), 0);
    assert_int_equal(sl_env_set_str(env, SL_ENV_HELO, "mx.example.net", &why), 0);
    assert_int_equal(sl_env_set_str(env, SL_ENV_TLS_VERSION, "TLSv1.3", &why), 0);
    assert_int_equal(sl_env_set_str(env, SL_ENV_TLS_CIPHER, "TLS_AES_256_GCM_SHA384", &why), 0);
    assert_int_equal(sl_env_set_str(env, SL_ENV_AUTH_USER, "alice", &why), 0);
    assert_int_equal(sl_env_set_str(env, SL_ENV_MAIL_FROM, "bob@example.net", &why), 0);
    assert_int_equal(sl_env_set_uint(env, SL_ENV_RECEIVED_AT, 1730000000123), 0);
    assert_int_equal(sl_env_set_uint(env, SL_ENV_CLIENT_PORT, 50123), 0);
    assert_int_equal(sl_env_set_uint(env, SL_ENV_SIZE, 12345), 0);
    sl_env_set_direction(env, SL_DIR_OUT);
    assert_int_equal(sl_env_add_rcpt(env, "carol@example.org", &why), 0);
    assert_int_equal(sl_env_add_rcpt(env, "dave@example.org", &why), 0);

    sl_verdict_t *mime = sl_verdict_new("mime");
    sl_verdict_set_versions(mime, "0.1.0", "");
    sl_verdict_set_ms(mime, 1.25);
    sl_verdict_set_worker(mime, "host:123");
    sl_verdict_set_attempts(mime, 1);
    assert_int_equal(sl_verdict_add_part(mime,
                                         S("\x82\xa4path\xa1"
                                           "1\xa4size\x03"),
                                         "abc", 3),
                     0);
    assert_int_equal(sl_verdict_add_part(mime,
                                         S("\x83\xa4path\xa3"
                                           "2/1\xa4size\x00\xa4type\xa4text"),
                                         NULL, 0),
                     0);
    assert_int_equal(sl_verdict_field_int(mime, "depth", -2), 0);
    assert_int_equal(sl_verdict_field_bool(mime, "encrypted", false), 0);
    assert_int_equal(sl_verdict_field_double(mime, "ratio", 0.1), 0);
    assert_int_equal(sl_verdict_field_raw(mime, "list",
                                          S("\x92\xa1"
                                            "a\xc4\x01\xff")),
                     0);
    assert_int_equal(sl_env_set_verdict(env, &mime, &why), 0);
    assert_null(mime);

    sl_verdict_t *score = sl_verdict_new("score");
    assert_int_equal(sl_verdict_symbol(score, "BAYES_SPAM", 4.5, "99%"), 0);
    assert_int_equal(sl_verdict_symbol(score, "HTML_ONLY", -0.5, NULL), 0);
    sl_verdict_set_score(score, 4.0);
    assert_int_equal(sl_verdict_set_classification(score, "spam"), 0);
    assert_int_equal(sl_verdict_set_action(score, 1, "quarantine"), 0);
    sl_verdict_set_error(score, "dns \"timeout\"\n");
    assert_int_equal(sl_env_set_verdict(env, &score, &why), 0);
    return env;
}

static void
test_round_trip(void **state)
{
    (void)state;
    const char *why = NULL;
    sl_env_t *env = s_full_env();
    size_t len1, len2, len3;
    void *enc1 = sl_env_encode(env, &len1);
    sl_env_t *back = NULL;
    assert_int_equal(sl_env_decode(enc1, len1, &back, &why), 0);
    void *enc2 = sl_env_encode(back, &len2);
    assert_int_equal(len1, len2);
    assert_memory_equal(enc1, enc2, len1);
    sl_env_t *copy = sl_env_dup(back);
    void *enc3 = sl_env_encode(copy, &len3);
    assert_int_equal(len1, len3);
    assert_memory_equal(enc1, enc3, len1);

    /* What came back reads the same through the API. */
    assert_string_equal(sl_env_id(back), "01JB7Q3K9VABCDEFGHJKMNPQRS");
    assert_string_equal(sl_env_str(back, SL_ENV_CLIENT_IP), "192.0.2.7");
    assert_string_equal(sl_env_str(back, SL_ENV_TLS_CIPHER), "TLS_AES_256_GCM_SHA384");
    assert_string_equal(sl_env_mail_from(back), "bob@example.net");
    assert_true(sl_env_uint(back, SL_ENV_RECEIVED_AT) == 1730000000123);
    assert_true(sl_env_uint(back, SL_ENV_CLIENT_PORT) == 50123);
    assert_int_equal(sl_env_direction(back), SL_DIR_OUT);
    assert_int_equal(sl_env_rcpt_count(back), 2);
    assert_string_equal(sl_env_rcpt(back, 1), "dave@example.org");
    assert_true(sl_env_has_score(back) && sl_env_score(back) == 4.0);
    assert_string_equal(sl_env_str(back, SL_ENV_CLASSIFICATION), "spam");
    assert_string_equal(sl_env_action(back, 0), "");
    assert_string_equal(sl_env_action(back, 1), "quarantine");
    assert_int_equal(sl_env_part_count(back), 2);
    assert_string_equal(sl_env_part_path(back, 1), "2/1");
    assert_int_equal(sl_env_verdict_count(back), 2);
    const sl_verdict_t *mime = sl_env_verdict(back, "mime");
    assert_non_null(mime);
    assert_ptr_equal(sl_env_verdict_at(back, 0), mime);
    assert_true(sl_verdict_ms(mime) == 1.25);
    assert_string_equal(sl_verdict_worker(mime), "host:123");
    assert_string_equal(sl_verdict_version(mime), "0.1.0");
    assert_int_equal(sl_verdict_attempts(mime), 1);
    assert_memory_equal(sl_verdict_field(mime, "depth").ptr, "\xfe", 1);
    const sl_verdict_t *score = sl_env_verdict(back, "score");
    assert_true(sl_verdict_has_symbol(score, "BAYES_SPAM"));
    assert_false(sl_verdict_has_symbol(score, "BAYES"));
    assert_string_equal(sl_verdict_error(score), "dns \"timeout\"\n");
    assert_null(sl_env_verdict(back, "none"));

    /* A standalone verdict round-trips too, without its part data. */
    sl_verdict_t *v = sl_verdict_dup(sl_env_verdict(env, "mime")), *v2 = NULL;
    void *venc1 = sl_verdict_encode(v, &len1);
    assert_int_equal(sl_verdict_decode(venc1, len1, &v2, &why), 0);
    void *venc2 = sl_verdict_encode(v2, &len2);
    assert_int_equal(len1, len2);
    assert_memory_equal(venc1, venc2, len1);
    assert_int_equal(sl_verdict_part_count(v2), 2);
    assert_int_equal(sl_verdict_part_data(v2, 0).len, 0);
    assert_int_equal(sl_verdict_part_data(v, 0).len, 3);
    size_t taken_len;
    void *taken = sl_verdict_take_part_data(v, 0, &taken_len);
    assert_int_equal(taken_len, 3);
    assert_memory_equal(taken, "abc", 3);
    assert_int_equal(sl_verdict_part_data(v, 0).len, 0);
    free(taken);

    free(enc1);
    free(enc2);
    free(enc3);
    free(venc1);
    free(venc2);
    sl_verdict_destroy(&v);
    sl_verdict_destroy(&v2);
    sl_env_destroy(&copy);
    sl_env_destroy(&back);
    sl_env_destroy(&env);
}

static void
test_canonical_encoding(void **state)
{
    (void)state;
    const char *why = NULL;
    /* The same envelope in non-canonical forms (str8 key, uint64 v, int64
     * size, float32 score) encodes to the same bytes as the plain one. */
    static const char wide[] = "\x84\xd9\x01v\xcf\0\0\0\0\0\0\0\x01\xa2id\xa1"
                               "A"
                               "\xa4size\xd3\0\0\0\0\0\0\0\x05\xa5score\xca\x3f\xc0\0\0";
    static const char plain[] = "\x84\xa1v\x01\xa2id\xa1"
                                "A\xa4size\x05\xa5score\x01";
    sl_env_t *a = NULL, *b = NULL;
    assert_int_equal(sl_env_decode(wide, sizeof wide - 1, &a, &why), 0);
    assert_int_equal(sl_env_decode(plain, sizeof plain - 1, &b, &why), 0);
    assert_true(sl_env_score(a) == 1.5);
    sl_env_set_score(b, 1.5);
    size_t la, lb;
    void *ea = sl_env_encode(a, &la), *eb = sl_env_encode(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(ea, eb, la);
    free(ea);
    free(eb);
    sl_env_destroy(&a);
    sl_env_destroy(&b);
}

/* --- merging verdicts --- */

static void
test_set_verdict(void **state)
{
    (void)state;
    const char *why = NULL;
    sl_env_t *env = s_full_env();
    assert_int_equal(sl_env_part_count(env), 2);

    /* Replacing a stage's verdict keeps its place and count. */
    sl_verdict_t *again = sl_verdict_new("mime");
    sl_verdict_set_score(again, -1.0);
    assert_int_equal(sl_verdict_set_action(again, 0, "deliver"), 0);
    assert_int_equal(sl_verdict_add_part(again,
                                         S("\x82\xa4path\xa1"
                                           "3\xa4size\x00"),
                                         "", 0),
                     0);
    assert_int_equal(sl_env_set_verdict(env, &again, &why), 0);
    assert_null(again);
    assert_int_equal(sl_env_verdict_count(env), 2);
    assert_ptr_equal(sl_env_verdict_at(env, 0), sl_env_verdict(env, "mime"));
    assert_int_equal(sl_verdict_part_count(sl_env_verdict(env, "mime")), 1);
    assert_true(sl_env_score(env) == -1.0);
    assert_string_equal(sl_env_action(env, 0), "deliver");
    assert_string_equal(sl_env_action(env, 1), "quarantine"); /* untouched */
    assert_string_equal(sl_env_str(env, SL_ENV_CLASSIFICATION), "spam");
    assert_int_equal(sl_env_part_count(env), 3); /* parts are appended */
    assert_string_equal(sl_env_part_path(env, 2), "3");
    sl_slice_t meta = sl_env_part_meta(env, 2);
    assert_memory_equal(meta.ptr,
                        "\x82\xa4path\xa1"
                        "3\xa4size\x00",
                        meta.len);

    /* Actions for recipients the envelope lacks: refused, verdict consumed. */
    sl_verdict_t *bad = sl_verdict_new("action");
    assert_int_equal(sl_verdict_set_action(bad, 2, "drop"), 0);
    assert_int_equal(sl_env_set_verdict(env, &bad, &why), -1);
    assert_null(bad);
    assert_string_equal(why, "verdict sets actions for rcpts the envelope lacks");
    assert_null(sl_env_verdict(env, "action"));

    /* At most SL_ENV_VERDICTS_MAX stages. */
    for (int i = 2; i < SL_ENV_VERDICTS_MAX; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%d", i);
        sl_verdict_t *v = sl_verdict_new(name);
        assert_int_equal(sl_env_set_verdict(env, &v, &why), 0);
    }
    sl_verdict_t *extra = sl_verdict_new("one-too-many");
    assert_int_equal(sl_env_set_verdict(env, &extra, &why), -1);
    assert_string_equal(why, "envelope has 64 verdicts already");
    sl_verdict_t *same = sl_verdict_new("s5");
    assert_int_equal(sl_env_set_verdict(env, &same, &why), 0);
    sl_env_destroy(&env);
}

/* --- queue ids --- */

static void
test_new_id(void **state)
{
    (void)state;
    char prev[27] = "", id[27];
    for (int i = 0; i < 20000; i++) {
        sl_env_new_id(id, sizeof id);
        assert_int_equal(strlen(id), 26);
        assert_int_equal(strspn(id, "0123456789ABCDEFGHJKMNPQRSTVWXYZ"), 26);
        if (strcmp(prev, id) >= 0)
            fail_msg("ids not increasing: %s then %s", prev, id);
        memcpy(prev, id, sizeof id);
    }
    sl_env_t *env = sl_env_new(id);
    assert_non_null(env);
    sl_env_destroy(&env);
    /* The first ten digits are the time in ms. */
    uint64_t ms = 0;
    const char *digits = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    for (int i = 0; i < 10; i++)
        ms = ms * 32 + (uint64_t)(strchr(digits, id[i]) - digits);
    assert_true(ms <= sl_now_ms() + 1000 && ms + 60000 >= sl_now_ms());
}

/* --- JSON --- */

static const struct {
    const char *label; /* names the case */
    const char *in;    /* msgpack */
    size_t len;        /* bytes in in */
    const char *json;  /* expected text, NULL when refused */
} json_cases[] = {
    {"string", S("\xa5hello"), "\"hello\""},
    {"escapes", S("\xa6q\"b\\\n\x01"), "\"q\\\"b\\\\\\n\\u0001\""},
    {"utf-8 kept", S("\xa3\xc3\xa9!"), "\"\xc3\xa9!\""},
    {"invalid byte",
     S("\xa2\xff"
       "A"),
     "\"\\u00ffA\""},
    {"overlong NUL", S("\xa2\xc0\x80"), "\"\\u00c0\\u0080\""},
    {"surrogate", S("\xa3\xed\xa0\x80"), "\"\\u00ed\\u00a0\\u0080\""},
    {"cut sequence", S("\xa2\xe2\x82"), "\"\\u00e2\\u0082\""},
    {"four-byte", S("\xa4\xf0\x9f\x93\xa7"), "\"\xf0\x9f\x93\xa7\""},
    {"bin base64",
     S("\xc4\x04"
       "abcd"),
     "\"YWJjZA==\""},
    {"ext", S("\xd4\x05\x41"), "{\"ext\":5,\"base64\":\"QQ==\"}"},
    {"ints", S("\x94\x00\xff\xcf\xff\xff\xff\xff\xff\xff\xff\xff\xd3\x80\0\0\0\0\0\0\0"),
     "[0,-1,18446744073709551615,-9223372036854775808]"},
    {"float64 0.1", S("\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a"), "0.1"},
    {"float32 0.1", S("\xca\x3d\xcc\xcc\xcd"), "0.1"},
    {"float NaN", S("\xcb\x7f\xf8\0\0\0\0\0\0"), "null"},
    {"nil and bools", S("\x93\xc0\xc2\xc3"), "[null,false,true]"},
    {"int key", S("\x81\x01\xc3"), "{\"1\":true}"},
    {"array key", S("\x81\x92\x01\xa1x\x00"), "{\"[1,\\\"x\\\"]\":0}"},
    {"key in key", S("\x81\x81\x91\x01\x02\x00"), "{\"{\\\"[...]\\\":2}\":0}"},
    {"empty containers",
     S("\x82\xa1"
       "a\x90\xa1"
       "b\x80"),
     "{\"a\":[],\"b\":{}}"},
    {"truncated", S("\x92\x01"), NULL},
    {"trailing", S("\x01\x02"), NULL},
    {"empty", S(""), NULL},
};

static void
test_json(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof json_cases / sizeof json_cases[0]; i++) {
        char *json = sl_json_from_msgpack(json_cases[i].in, json_cases[i].len);
        if (json_cases[i].json == NULL ? json != NULL
                                       : json == NULL || strcmp(json, json_cases[i].json) != 0)
            fail_msg("%s: got %s, want %s", json_cases[i].label, json ? json : "NULL",
                     json_cases[i].json ? json_cases[i].json : "NULL");
        free(json);
    }
    sl_env_t *env = s_full_env();
    char *json = sl_env_to_json(env);
    assert_non_null(strstr(json, "\"id\":\"01JB7Q3K9VABCDEFGHJKMNPQRS\""));
    assert_non_null(strstr(json, "\"error\":\"dns \\\"timeout\\\"\\n\""));
    assert_non_null(strstr(json, "\"actions\":[\"\",\"quarantine\"]"));
    assert_non_null(strstr(json, "\"list\":[\"a\",\"/w==\"]"));
    free(json);
    sl_env_destroy(&env);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_decode_table),
        cmocka_unit_test(test_verdict_decode_table),
        cmocka_unit_test(test_env_decode_built),
        cmocka_unit_test(test_setters),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_canonical_encoding),
        cmocka_unit_test(test_set_verdict),
        cmocka_unit_test(test_new_id),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
