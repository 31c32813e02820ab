/*
 * tests/fuzz/fuzz_sl_env.c - the envelope and verdict decoders on any bytes.
 *
 * Every input is decoded as an envelope and as a verdict, and converted to
 * JSON. What decodes must re-encode, decode again to the same bytes, survive
 * sl_*_dup unchanged and convert to JSON; a verdict must also merge into an
 * envelope that then round-trips. Seeds: tests/fuzz/corpus/sl_env/.
 */
#include "sl_env.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CHECK - abort on a broken invariant, in every build type (assert may be off). */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_sl_env: %s:%d: %s\n", __FILE__, __LINE__, #cond);                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* s_same - frees A and B after checking they hold the same bytes. */
static void
s_same(void *a, size_t a_len, void *b, size_t b_len)
{
    CHECK(a_len == b_len && memcmp(a, b, a_len) == 0);
    free(a);
    free(b);
}

/* s_env_round_trip - ENV encodes, decodes to the same bytes, dups and JSONs. */
static void
s_env_round_trip(const sl_env_t *env)
{
    const char *why = NULL;
    size_t len1, len2, len3;
    void *enc1 = sl_env_encode(env, &len1);
    sl_env_t *again = NULL;
    CHECK(sl_env_decode(enc1, len1, &again, &why) == 0);
    void *enc2 = sl_env_encode(again, &len2);
    sl_env_t *copy = sl_env_dup(again);
    void *enc3 = sl_env_encode(copy, &len3);
    s_same(sl_xmemdup(enc1, len1), len1, enc3, len3);
    s_same(enc1, len1, enc2, len2);
    char *json = sl_env_to_json(again);
    CHECK(json != NULL && json[0] == '{');
    free(json);
    sl_env_destroy(&copy);
    sl_env_destroy(&again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *why = NULL;
    sl_env_t *env = NULL;
    if (sl_env_decode(data, size, &env, &why) == 0) {
        s_env_round_trip(env);
        sl_env_destroy(&env);
    } else {
        CHECK(env == NULL && why != NULL);
    }

    sl_verdict_t *verdict = NULL;
    why = NULL;
    if (sl_verdict_decode(data, size, &verdict, &why) == 0) {
        size_t len1, len2;
        void *enc1 = sl_verdict_encode(verdict, &len1);
        sl_verdict_t *again = NULL;
        CHECK(sl_verdict_decode(enc1, len1, &again, &why) == 0);
        void *enc2 = sl_verdict_encode(again, &len2);
        s_same(enc1, len1, enc2, len2);
        char *json = sl_json_from_msgpack(data, size);
        CHECK(json != NULL);
        free(json);
        /* Merge it into an envelope with two recipients. */
        env = sl_env_new("FUZZ");
        CHECK(sl_env_add_rcpt(env, "a@example.org", &why) == 0);
        CHECK(sl_env_add_rcpt(env, "b@example.org", &why) == 0);
        if (sl_env_set_verdict(env, &again, &why) == 0)
            s_env_round_trip(env);
        CHECK(again == NULL);
        sl_env_destroy(&env);
        sl_verdict_destroy(&verdict);
    } else {
        CHECK(verdict == NULL && why != NULL);
    }

    char *json = sl_json_from_msgpack(data, size);
    free(json);
    return 0;
}
