/*
 * tests/fuzz/fuzz_sl_dns_rdata.c - the resolver's record-data parser on arbitrary bytes.
 *
 * The first byte picks the record type (A, AAAA, TXT, MX, PTR, CNAME, NS,
 * TLSA or another type, printed as hex); the rest is the rdata as libunbound
 * would hand it over. The text must be NUL-terminated at its stated length
 * and within the bounds the header promises. Seeds: tests/fuzz/corpus/sl_dns_rdata/.
 */
#include "sl_dns.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int types[] = {SL_DNS_A,     SL_DNS_AAAA, SL_DNS_TXT,  SL_DNS_MX, SL_DNS_PTR,
                                SL_DNS_CNAME, SL_DNS_NS,   SL_DNS_TLSA, 99};
    if (size < 1)
        return 0;
    int type = types[data[0] % (sizeof types / sizeof types[0])];
    char *text = NULL;
    size_t len = 0;
    const char *why = NULL;
    if (sl_dns_rdata_text(type, data + 1, size - 1, &text, &len, &why) == 0) {
        assert(text != NULL && text[len] == '\0');
        if (type == SL_DNS_TXT)
            assert(len <= SL_DNS_TXT_MAX);
        else
            assert(strlen(text) == len);
        if (type == SL_DNS_PTR || type == SL_DNS_CNAME || type == SL_DNS_NS)
            assert(len <= 1020);
        free(text);
    } else {
        assert(text == NULL && why != NULL);
    }
    return 0;
}
