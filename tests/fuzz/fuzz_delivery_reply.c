/*
 * tests/fuzz/fuzz_delivery_reply.c - the delivery client's SMTP reply parser.
 *
 * The input is what a hostile server could send: split at LF (a CR before
 * it dropped, as delivery_smtp.c does) and fed line by line until the reply
 * is done or refused; then again from the next line, so that every line of
 * the input is parsed. Seeds: tests/fuzz/corpus/delivery_reply/.
 */
#include "delivery_reply.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    delivery_reply_t r;
    delivery_reply_init(&r);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        const char *why = NULL;
        if (delivery_reply_feed(&r, p, n, &why) != 0 || r.done) {
            if (r.done && (r.code < 200 || r.code > 599 || strlen(r.text) >= sizeof r.text))
                __builtin_trap();
            delivery_reply_init(&r);
        }
        p = nl ? nl + 1 : end;
    }
    (void)delivery_reply_class(&r);
    return 0;
}
