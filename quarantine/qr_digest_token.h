/*
 * quarantine/qr_digest_token.h - the signed release links of quarantine digests.
 *
 * Token = base64url(id "|" rcpt "|" expiry_s "|" nonce) "." base64url(HMAC-
 * SHA256(secret, payload)), no padding (quarantine/API.md, "Digest links").
 * The token arrives from anyone on the network: it is refused on length
 * before it is decoded, decoded strictly (canonical base64url only, so no two
 * spellings of one token), and its signature is compared in constant time
 * before a byte of the payload is believed. Single use is the caller's job
 * (table quarantine_token, quarantine/qr_digest.c).
 * Tests: tests/unit/test_qr_token.c, tests/fuzz/fuzz_qr_token.c
 */
#ifndef QR_DIGEST_TOKEN_H
#define QR_DIGEST_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define QR_TOKEN_MAX 2048     /* bytes of a whole token; longer is refused unread */
#define QR_TOKEN_ID_MAX 72    /* queue id, as sl_dqueue_hdr_t.id */
#define QR_TOKEN_RCPT_MAX 512 /* as SL_DQUEUE_ADDR_MAX */
#define QR_TOKEN_NONCE_HEX 32 /* 16 bytes as lower-case hex */
#define QR_TOKEN_EXPIRED (-2) /* qr_token_verify: well signed, but too old */

typedef struct {
    char id[QR_TOKEN_ID_MAX];           /* queue id of the held message */
    char rcpt[QR_TOKEN_RCPT_MAX];       /* whose copy the link releases */
    uint64_t expiry_s;                  /* seconds since the epoch */
    char nonce[QR_TOKEN_NONCE_HEX + 1]; /* primary key in quarantine_token */
} qr_token_t;

/* qr_token_sign - writes the token for T, signed with SECRET, into BUF (NUL
 * terminated). 0, or -1 with *why when a field is malformed or BUF too small. */
int qr_token_sign(const unsigned char *secret, size_t secret_len, const qr_token_t *t, char *buf,
                  size_t size, const char **why);

/* qr_token_verify - checks TOKEN (LEN bytes, untrusted) against SECRET and
 * fills *OUT. 0 when valid at NOW_S; QR_TOKEN_EXPIRED when well signed but
 * past its expiry (*OUT filled); -1 with *why for anything else. */
int qr_token_verify(const unsigned char *secret, size_t secret_len, const char *token, size_t len,
                    uint64_t now_s, qr_token_t *out, const char **why);

/* qr_token_nonce - T->nonce for T's id and rcpt in the digest queued as
 * DIGEST: 16 bytes of HMAC-SHA256(secret, "nonce", DIGEST, id, rcpt) as hex.
 * Unguessable without the secret, and the same when a digest is rewritten
 * after a crash, so a copy already handed to delivery keeps working links. */
void qr_token_nonce(const unsigned char *secret, size_t secret_len, const char *digest,
                    qr_token_t *t);

#endif
