/*
 * tests/fuzz/fuzz_qr_token.c - the digest link decoder (qr_token_verify in
 * quarantine/qr_digest_token.c) on arbitrary bytes: no crash, no read past
 * the input, and anything it accepts signs back to the same token.
 * Seeds: tests/fuzz/corpus/qr_token/
 */
#include "qr_digest_token.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char secret[32] = "fuzz-secret-fuzz-secret-fuzz-sec";
    /* A copy of exactly SIZE bytes, so ASan sees any read past the end. */
    char *token = malloc(size ? size : 1);
    if (token == NULL)
        return 0;
    if (size)
        memcpy(token, data, size);
    qr_token_t t;
    const char *why = NULL;
    int rc = qr_token_verify(secret, sizeof secret, token, size, 0, &t, &why);
    if (rc == 0 || rc == QR_TOKEN_EXPIRED) {
        char again[QR_TOKEN_MAX + 1];
        if (qr_token_sign(secret, sizeof secret, &t, again, sizeof again, &why) != 0 ||
            strlen(again) != size || memcmp(again, token, size) != 0)
            abort();
    }
    free(token);
    return 0;
}
