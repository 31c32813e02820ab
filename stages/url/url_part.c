/*
 * stages/url/url_part.c - what kind of text a decoded part holds, from its metadata.
 *
 * The url and score stages both pick text and HTML parts out of the parts
 * mime sends; the metadata map arrives over a socket and is checked
 * (depth, types) before use. Tests: tests/e2e/test_url.py, tests/e2e/test_score.py
 */
#include "sl_mp.h"
#include "url_extract.h"

#include <string.h>

void
url_part_kind(sl_slice_t meta, bool *text, bool *html)
{
    *text = *html = false;
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    if (sl_mp_unpack(meta.ptr, meta.len, SL_ENV_DEPTH_MAX, &up, NULL) == 0 &&
        up.data.type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < up.data.via.map.size; i++) {
            const msgpack_object_kv *kv = &up.data.via.map.ptr[i];
            sl_slice_t key, val;
            if (sl_mp_get_str(&kv->key, 64, &key) != 0)
                continue;
            if (key.len == 4 && memcmp(key.ptr, "text", 4) == 0 &&
                kv->val.type == MSGPACK_OBJECT_BOOLEAN)
                *text = kv->val.via.boolean;
            else if (((key.len == 13 && memcmp(key.ptr, "declared_type", 13) == 0) ||
                      (key.len == 9 && memcmp(key.ptr, "true_type", 9) == 0)) &&
                     sl_mp_get_str(&kv->val, 256, &val) == 0 && val.len >= 4 &&
                     memmem(val.ptr, val.len, "html", 4) != NULL)
                *html = true;
        }
    }
    msgpack_unpacked_destroy(&up);
}
