/*
 * quarantine/qr_digest_token.c - sign and verify digest release links (see
 * qr_digest_token.h). OpenSSL's HMAC, CRYPTO_memcmp for the comparison; the
 * base64url codec is strict (no padding, no other alphabet, zero spare bits).
 * Tests: tests/unit/test_qr_token.c, tests/fuzz/fuzz_qr_token.c
 */
#include "qr_digest_token.h"
#include "sl_mem.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define QR_TOKEN_MAC_LEN 32 /* SHA-256 */
/* The payload: id, "|", rcpt, "|", 20 digits, "|", nonce. */
#define QR_TOKEN_PAYLOAD_MAX (QR_TOKEN_ID_MAX + QR_TOKEN_RCPT_MAX + 24 + QR_TOKEN_NONCE_HEX)

static const char s_b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* s_b64_encode - LEN bytes as unpadded base64url at OUT; returns the length
 * written, or 0 when it would not fit in SIZE (with its NUL). */
static size_t
s_b64_encode(const unsigned char *in, size_t len, char *out, size_t size)
{
    size_t need = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
    if (need >= size)
        return 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        size_t chars = len - i >= 3 ? 4 : len - i + 1;
        for (size_t k = 0; k < chars; k++)
            out[o++] = s_b64url[(v >> (18 - 6 * k)) & 63];
    }
    out[o] = '\0';
    return o;
}

static int
s_b64_value(char c)
{
    const char *at = c ? memchr(s_b64url, c, 64) : NULL;
    return at ? (int)(at - s_b64url) : -1;
}

/* s_b64_decode - strict unpadded base64url of LEN chars into OUT (at most
 * SIZE bytes); the decoded length, or -1 for a bad character, a length no
 * encoder makes, spare bits set, or too much data. */
static long
s_b64_decode(const char *in, size_t len, unsigned char *out, size_t size)
{
    if (len % 4 == 1)
        return -1;
    size_t need = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (need > size)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = s_b64_value(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* spare bits of the last character must be zero */
        return -1;
    return (long)o;
}

static void
s_mac(const unsigned char *secret, size_t secret_len, const void *msg, size_t len,
      unsigned char mac[QR_TOKEN_MAC_LEN])
{
    unsigned int mac_len = QR_TOKEN_MAC_LEN;
    if (HMAC(EVP_sha256(), secret, (int)secret_len, msg, len, mac, &mac_len) == NULL ||
        mac_len != QR_TOKEN_MAC_LEN)
        sl_panic("HMAC-SHA256 failed");
}

static bool
s_id_ok(const char *s, size_t len)
{
    if (len == 0 || len >= QR_TOKEN_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            return false;
    }
    return true;
}

/* s_rcpt_ok - an address as the queue header may carry it: printable ASCII
 * or UTF-8, no spaces or controls (a '|' is fine: the fields around it are
 * found from both ends). */
static bool
s_rcpt_ok(const char *s, size_t len)
{
    if (len == 0 || len >= QR_TOKEN_RCPT_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f)
            return false;
    }
    return true;
}

static bool
s_nonce_ok(const char *s, size_t len)
{
    if (len != QR_TOKEN_NONCE_HEX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

int
qr_token_sign(const unsigned char *secret, size_t secret_len, const qr_token_t *t, char *buf,
              size_t size, const char **why)
{
    if (!s_id_ok(t->id, strnlen(t->id, sizeof t->id)) ||
        !s_rcpt_ok(t->rcpt, strnlen(t->rcpt, sizeof t->rcpt)) ||
        !s_nonce_ok(t->nonce, strnlen(t->nonce, sizeof t->nonce)) || t->expiry_s == 0)
        return sl_fail(why, "token field malformed");
    char payload[QR_TOKEN_PAYLOAD_MAX];
    int n = snprintf(payload, sizeof payload, "%s|%s|%llu|%s", t->id, t->rcpt,
                     (unsigned long long)t->expiry_s, t->nonce);
    if (n < 0 || (size_t)n >= sizeof payload)
        return sl_fail(why, "token payload too long");
    unsigned char mac[QR_TOKEN_MAC_LEN];
    s_mac(secret, secret_len, payload, (size_t)n, mac);
    size_t used = s_b64_encode((const unsigned char *)payload, (size_t)n, buf, size);
    if (used == 0 || size - used < 2)
        return sl_fail(why, "token buffer too small");
    buf[used++] = '.';
    if (s_b64_encode(mac, sizeof mac, buf + used, size - used) == 0)
        return sl_fail(why, "token buffer too small");
    return 0;
}

/* s_parse_payload - id|rcpt|expiry_s|nonce; the rcpt is what lies between
 * the first '|' and the last two. */
static int
s_parse_payload(const char *p, size_t len, qr_token_t *out, const char **why)
{
    const char *first = memchr(p, '|', len);
    size_t bars[2] = {0, 0}, found = 0;
    for (size_t i = len; i > 0 && found < 2; i--)
        if (p[i - 1] == '|')
            bars[found++] = i - 1; /* bars[0]: last, bars[1]: second last */
    if (first == NULL || found < 2 || (size_t)(first - p) >= bars[1])
        return sl_fail(why, "token payload malformed");
    size_t id_len = (size_t)(first - p), rcpt_off = id_len + 1;
    size_t rcpt_len = bars[1] - rcpt_off;
    size_t exp_off = bars[1] + 1, exp_len = bars[0] - exp_off;
    size_t nonce_off = bars[0] + 1, nonce_len = len - nonce_off;
    if (!s_id_ok(p, id_len) || !s_rcpt_ok(p + rcpt_off, rcpt_len) ||
        !s_nonce_ok(p + nonce_off, nonce_len) || exp_len == 0 || exp_len > 20)
        return sl_fail(why, "token payload malformed");
    uint64_t expiry = 0;
    for (size_t i = 0; i < exp_len; i++) {
        char c = p[exp_off + i];
        if (c < '0' || c > '9')
            return sl_fail(why, "token expiry is not a number");
        unsigned d = (unsigned)(c - '0');
        if (expiry > (UINT64_MAX - d) / 10)
            return sl_fail(why, "token expiry overflows");
        expiry = expiry * 10 + d;
    }
    memcpy(out->id, p, id_len);
    out->id[id_len] = '\0';
    memcpy(out->rcpt, p + rcpt_off, rcpt_len);
    out->rcpt[rcpt_len] = '\0';
    memcpy(out->nonce, p + nonce_off, nonce_len);
    out->nonce[nonce_len] = '\0';
    out->expiry_s = expiry;
    return 0;
}

int
qr_token_verify(const unsigned char *secret, size_t secret_len, const char *token, size_t len,
                uint64_t now_s, qr_token_t *out, const char **why)
{
    if (len == 0 || len > QR_TOKEN_MAX)
        return sl_fail(why, "token length out of bounds");
    const char *dot = memchr(token, '.', len);
    if (dot == NULL)
        return sl_fail(why, "token without signature");
    size_t pay_len = (size_t)(dot - token), sig_len = len - pay_len - 1;
    unsigned char payload[QR_TOKEN_PAYLOAD_MAX], sig[QR_TOKEN_MAC_LEN + 3];
    long pn = s_b64_decode(token, pay_len, payload, sizeof payload);
    long sn = s_b64_decode(dot + 1, sig_len, sig, sizeof sig);
    if (pn <= 0 || sn != QR_TOKEN_MAC_LEN)
        return sl_fail(why, "token encoding malformed");
    unsigned char mac[QR_TOKEN_MAC_LEN];
    s_mac(secret, secret_len, payload, (size_t)pn, mac);
    if (CRYPTO_memcmp(mac, sig, sizeof mac) != 0)
        return sl_fail(why, "token signature mismatch");
    if (s_parse_payload((const char *)payload, (size_t)pn, out, why) != 0)
        return -1;
    if (out->expiry_s <= now_s)
        return QR_TOKEN_EXPIRED;
    return 0;
}

void
qr_token_nonce(const unsigned char *secret, size_t secret_len, const char *digest, qr_token_t *t)
{
    /* NUL-separated fields: no two (digest, id, rcpt) give the same input. */
    char msg[16 + 128 + QR_TOKEN_ID_MAX + QR_TOKEN_RCPT_MAX];
    size_t n = 0;
    const char *fields[] = {"sluice-nonce", digest, t->id, t->rcpt};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        size_t l = strnlen(fields[i], 511);
        if (l + 1 > sizeof msg - n)
            sl_panic("qr_token_nonce: fields too long");
        memcpy(msg + n, fields[i], l + 1);
        n += l + 1;
    }
    unsigned char mac[QR_TOKEN_MAC_LEN];
    s_mac(secret, secret_len, msg, n, mac);
    for (size_t i = 0; i < QR_TOKEN_NONCE_HEX / 2; i++)
        snprintf(t->nonce + 2 * i, 3, "%02x", mac[i]);
}
