/*
 * tests/fuzz/fuzz_qr_json.c - the quarantine API's request body parser
 * (qr_json_parse in quarantine/qr_json.c) on arbitrary bytes: no crash, no
 * read past the input; what it accepts is written back out as JSON and must
 * parse again.
 * Seeds: tests/fuzz/corpus/qr_json/
 */
#include "qr_json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_write(qr_jbuf_t *b, const qr_jval_t *v)
{
    switch (v->type) {
    case QR_J_NULL:
        qr_jbuf_raw(b, "null");
        break;
    case QR_J_BOOL:
        qr_jbuf_raw(b, v->b ? "true" : "false");
        break;
    case QR_J_NUM:
        qr_jbuf_printf(b, "%.17g", v->num);
        break;
    case QR_J_STR:
        qr_jbuf_str(b, v->str);
        break;
    case QR_J_ARR:
    case QR_J_OBJ:
        qr_jbuf_raw(b, v->type == QR_J_ARR ? "[" : "{");
        for (size_t i = 0; i < v->count; i++) {
            if (v->type == QR_J_OBJ)
                qr_jbuf_key(b, v->keys[i]);
            else if (i)
                qr_jbuf_raw(b, ",");
            s_write(b, v->items[i]);
        }
        qr_jbuf_raw(b, v->type == QR_J_ARR ? "]" : "}");
        break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1); /* exactly SIZE bytes: ASan sees overreads */
    if (text == NULL)
        return 0;
    if (size)
        memcpy(text, data, size);
    const char *why = NULL;
    qr_jval_t *v = qr_json_parse(text, size, &why);
    if (v) {
        qr_jbuf_t b = {0};
        s_write(&b, v);
        size_t len = 0;
        char *out = qr_jbuf_take(&b, &len);
        /* escaping may grow the text past the body limit; below it, it must parse */
        qr_jval_t *again = qr_json_parse(out, len, &why);
        if (again == NULL && len <= QR_JSON_BYTES_MAX)
            abort();
        qr_json_free(&again);
        free(out);
        qr_json_free(&v);
    }
    free(text);
    return 0;
}
