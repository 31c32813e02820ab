/*
 * tests/unit/test_qr_token.c - digest release tokens (quarantine/qr_digest_token.c):
 * sign/verify round trip, and the tokens a forger or a broken mail client
 * would send: a flipped byte anywhere, another secret, expired, overlong,
 * non-canonical base64url, garbage.
 */
#include "qr_digest_token.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>
#include "sl_test.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char s_secret[32] = "0123456789abcdef0123456789abcdef";
static const unsigned char s_other[32] = "0123456789abcdef0123456789abcdeX";
#define NOW 1800000000ull

static void
s_sample(qr_token_t *t, const char *rcpt, uint64_t expiry_s)
{
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "01JB7Q3K9VABCDEFGHJKMNPQRS");
    snprintf(t->rcpt, sizeof t->rcpt, "%s", rcpt);
    t->expiry_s = expiry_s;
    qr_token_nonce(s_secret, sizeof s_secret, "digest-2026112308-0123456789abcdef", t);
}

static int
s_verify(const unsigned char *secret, const char *token, size_t len, qr_token_t *out)
{
    const char *why = NULL;
    int rc = qr_token_verify(secret, 32, token, len, NOW, out, &why);
    if (rc == -1)
        assert_non_null(why);
    return rc;
}

static void
test_round_trip(void **state)
{
    (void)state;
    static const char *const rcpts[] = {"u@example.com", "a|b@example.com", "x|y|z@example.org",
                                        "\xc3\xa9t\xc3\xa9@example.fr"};
    for (size_t i = 0; i < sizeof rcpts / sizeof rcpts[0]; i++) {
        qr_token_t t, back;
        s_sample(&t, rcpts[i], NOW + 3600);
        char tok[QR_TOKEN_MAX + 1];
        const char *why = NULL;
        s_check(qr_token_sign(s_secret, 32, &t, tok, sizeof tok, &why) == 0, rcpts[i], "sign: %s",
                why);
        for (const char *p = tok; *p; p++)
            s_check(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", *p),
                    rcpts[i], "character 0x%02x is not URL-safe", (unsigned char)*p);
        s_check(s_verify(s_secret, tok, strlen(tok), &back) == 0, rcpts[i], "verify");
        s_check(strcmp(back.id, t.id) == 0 && strcmp(back.rcpt, t.rcpt) == 0 &&
                    strcmp(back.nonce, t.nonce) == 0 && back.expiry_s == t.expiry_s,
                rcpts[i], "fields differ after the round trip");
        s_check(strlen(back.nonce) == QR_TOKEN_NONCE_HEX, rcpts[i], "nonce length");
    }
}

static void
test_nonce(void **state)
{
    (void)state;
    qr_token_t a, b, c;
    s_sample(&a, "u@example.com", NOW + 1);
    s_sample(&b, "u@example.com", NOW + 99); /* a rewrite: same digest, same message */
    s_sample(&c, "v@example.com", NOW + 1);
    assert_string_equal(a.nonce, b.nonce);
    assert_string_not_equal(a.nonce, c.nonce);
    qr_token_nonce(s_secret, 32, "digest-2026112408-0123456789abcdef", &b); /* next day */
    assert_string_not_equal(a.nonce, b.nonce);
}

/* Every byte of a good token changed to each of a few others: never valid. */
static void
test_flipped_byte(void **state)
{
    (void)state;
    qr_token_t t, back;
    s_sample(&t, "u@example.com", NOW + 3600);
    char tok[QR_TOKEN_MAX + 1];
    assert_int_equal(qr_token_sign(s_secret, 32, &t, tok, sizeof tok, NULL), 0);
    size_t len = strlen(tok);
    static const char subst[] = "AaB_-.0|=\x01";
    for (size_t i = 0; i < len; i++) {
        for (size_t k = 0; k < sizeof subst - 1; k++) {
            char bad[QR_TOKEN_MAX + 1];
            memcpy(bad, tok, len + 1);
            if (bad[i] == subst[k])
                continue;
            bad[i] = subst[k];
            char label[64];
            snprintf(label, sizeof label, "byte %zu -> 0x%02x", i, (unsigned char)subst[k]);
            s_check(s_verify(s_secret, bad, len, &back) == -1, label, "accepted");
        }
        char label[64];
        snprintf(label, sizeof label, "byte %zu dropped", i);
        char cut[QR_TOKEN_MAX + 1];
        memcpy(cut, tok, i);
        memcpy(cut + i, tok + i + 1, len - i);
        s_check(s_verify(s_secret, cut, len - 1, &back) == -1, label, "accepted");
    }
}

static void
test_wrong_secret_expired(void **state)
{
    (void)state;
    qr_token_t t, back;
    char tok[QR_TOKEN_MAX + 1];
    s_sample(&t, "u@example.com", NOW + 3600);
    assert_int_equal(qr_token_sign(s_secret, 32, &t, tok, sizeof tok, NULL), 0);
    assert_int_equal(s_verify(s_other, tok, strlen(tok), &back), -1);

    s_sample(&t, "u@example.com", NOW); /* expires at NOW: already too old */
    assert_int_equal(qr_token_sign(s_secret, 32, &t, tok, sizeof tok, NULL), 0);
    assert_int_equal(s_verify(s_secret, tok, strlen(tok), &back), QR_TOKEN_EXPIRED);
    assert_string_equal(back.rcpt, "u@example.com");
    /* expired AND forged: the signature is checked first, so "invalid" */
    assert_int_equal(s_verify(s_other, tok, strlen(tok), &back), -1);
}

static void
test_sign_refuses(void **state)
{
    (void)state;
    static const struct {
        const char *label, *id, *rcpt;
        uint64_t expiry;
    } cases[] = {
        {"id with bar", "01JB|X", "u@example.com", NOW},
        {"empty id", "", "u@example.com", NOW},
        {"rcpt with space", "01JB", "u @example.com", NOW},
        {"rcpt with CR", "01JB", "u\r@example.com", NOW},
        {"empty rcpt", "01JB", "", NOW},
        {"no expiry", "01JB", "u@example.com", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qr_token_t t;
        s_sample(&t, cases[i].rcpt, cases[i].expiry);
        snprintf(t.id, sizeof t.id, "%s", cases[i].id);
        char tok[QR_TOKEN_MAX + 1];
        const char *why = NULL;
        s_check(qr_token_sign(s_secret, 32, &t, tok, sizeof tok, &why) == -1, cases[i].label,
                "signed");
        s_check(why != NULL, cases[i].label, "no reason");
    }
    qr_token_t t;
    s_sample(&t, "u@example.com", NOW + 1);
    char small[40];
    assert_int_equal(qr_token_sign(s_secret, 32, &t, small, sizeof small, NULL), -1);
}

/* s_forge - a token signed with s_secret over an arbitrary PAYLOAD (the
 * signing side never makes these: only a holder of the secret could). */
static void s_forge(const char *payload, char *out, size_t size);

static void
test_garbage(void **state)
{
    (void)state;
    char overlong[QR_TOKEN_MAX + 2];
    memset(overlong, 'A', sizeof overlong - 1);
    overlong[sizeof overlong - 1] = '\0';
    char tok[QR_TOKEN_MAX + 1];
    qr_token_t t, back;
    s_sample(&t, "u@example.com", NOW + 3600);
    assert_int_equal(qr_token_sign(s_secret, 32, &t, tok, sizeof tok, NULL), 0);
    char padded[QR_TOKEN_MAX + 8];
    snprintf(padded, sizeof padded, "%s=", tok);
    char nul_inside[QR_TOKEN_MAX + 8];
    size_t tl = strlen(tok);
    memcpy(nul_inside, tok, tl);
    nul_inside[tl] = '\0';
    nul_inside[tl + 1] = 'A';

    static char forged[6][QR_TOKEN_MAX + 1];
    s_forge("01JB|u@example.com|1800003600", forged[0], sizeof forged[0]); /* 3 fields */
    s_forge("01JB|u@example.com|18000036x0|0123456789abcdef0123456789abcdef", forged[1],
            sizeof forged[1]);
    s_forge("01JB|u@example.com|99999999999999999999|0123456789abcdef0123456789abcdef", forged[2],
            sizeof forged[2]);
    s_forge("01JB|u@example.com|1800003600|0123456789ABCDEF0123456789abcdef", forged[3],
            sizeof forged[3]);
    s_forge("|u@example.com|1800003600|0123456789abcdef0123456789abcdef", forged[4],
            sizeof forged[4]);
    s_forge("01JB||1800003600|0123456789abcdef0123456789abcdef", forged[5], sizeof forged[5]);

    const struct {
        const char *label, *in;
        size_t len;
    } cases[] = {
        {"empty", S("")},
        {"dot only", S(".")},
        {"no dot", S("AAAA")},
        {"two dots", S("AAAA.AAAA.AAAA")},
        {"standard base64 alphabet", S("AA+/.AAAA")},
        {"short signature", S("MDFKQnx1QGV4YW1wbGUuY29t.AAAA")},
        {"length 4n+1", S("AAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")},
        {"NUL", S("AA\0A.AAAA")},
        {"spaces", S("   .   ")},
        {"high bytes", S("\xff\xfe.\x80")},
        {"overlong", overlong, sizeof overlong - 1},
        {"padding", padded, 0},
        {"NUL after the token", nul_inside, 0},
        {"three fields", forged[0], 0},
        {"expiry not a number", forged[1], 0},
        {"expiry overflows", forged[2], 0},
        {"nonce upper case", forged[3], 0},
        {"empty id", forged[4], 0},
        {"empty rcpt", forged[5], 0},
    };
    /* the forger works: a well-formed payload signed the same way verifies */
    char good[QR_TOKEN_MAX + 1];
    s_forge("01JB|u@example.com|1800003600|0123456789abcdef0123456789abcdef", good, sizeof good);
    assert_int_equal(s_verify(s_secret, good, strlen(good), &back), 0);
    assert_string_equal(back.id, "01JB");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
        if (cases[i].in == nul_inside)
            len = tl + 2;
        s_check(s_verify(s_secret, cases[i].in, len, &back) == -1, cases[i].label, "accepted");
    }
}

/* The spare bits of the signature's last base64url character: a second
 * spelling of the same bytes must not verify (one token, one spelling). */
static void
test_non_canonical(void **state)
{
    (void)state;
    qr_token_t t, back;
    char tok[QR_TOKEN_MAX + 1];
    s_sample(&t, "u@example.com", NOW + 3600);
    assert_int_equal(qr_token_sign(s_secret, 32, &t, tok, sizeof tok, NULL), 0);
    size_t len = strlen(tok);
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int accepted = 0;
    for (size_t k = 0; k < 64; k++) {
        tok[len - 1] = alphabet[k];
        if (s_verify(s_secret, tok, len, &back) == 0)
            accepted++;
    }
    assert_int_equal(accepted, 1);
}

/* s_b64url - OpenSSL's base64 turned into unpadded base64url (an
 * encoder independent of the one under test). */
static size_t
s_b64url(const unsigned char *in, size_t len, char *out, size_t size)
{
    assert_true(size > (len + 2) / 3 * 4);
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (int i = 0; i < n; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    return (size_t)n;
}

static void
s_forge(const char *payload, char *out, size_t size)
{
    size_t n = s_b64url((const unsigned char *)payload, strlen(payload), out, size);
    out[n++] = '.';
    unsigned char mac[32];
    unsigned int mac_len = sizeof mac;
    assert_non_null(HMAC(EVP_sha256(), s_secret, 32, (const unsigned char *)payload,
                         strlen(payload), mac, &mac_len));
    s_b64url(mac, 32, out + n, size - n);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),    cmocka_unit_test(test_nonce),
        cmocka_unit_test(test_flipped_byte),  cmocka_unit_test(test_wrong_secret_expired),
        cmocka_unit_test(test_sign_refuses),  cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_non_canonical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
