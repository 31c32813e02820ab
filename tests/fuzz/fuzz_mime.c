/*
 * tests/fuzz/fuzz_mime.c - the mime stage's decoder on arbitrary bytes as a message.
 *
 * Drives mime_scan (GMime tree walk, inline uuencode, libarchive members,
 * libmagic, banned-file and header policy) with tight limits so that one
 * input stays fast; every part must come back within those limits.
 * Seeds: tests/fuzz/corpus/mime/. Code: stages/mime/mime_walk.c, mime_uu.c
 */
#include "mime.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static mime_magic_t *s_magic;
static mime_limits_t s_lim;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (s_magic == NULL) {
        mime_global_init();
        s_magic = mime_magic_new(NULL);
        if (s_magic == NULL)
            abort();
        mime_limits_default(&s_lim);
        s_lim.parts_max = 64;
        s_lim.decoded_max = 4 << 20;
        s_lim.part_max = 1 << 20;
        s_lim.archive_members_max = 64;
        s_lim.time_max_ms = 2000;
    }
    mime_result_t res;
    if (mime_scan(data, size, &s_lim, s_magic, &res) != 0)
        abort();
    if (res.part_count > (size_t) s_lim.parts_max || res.decoded > (size_t) s_lim.decoded_max)
        abort();
    for (size_t i = 0; i < res.part_count; i++)
        if (res.parts[i].size > (size_t) s_lim.part_max || strlen(res.parts[i].sha256) != 64)
            abort();
    mime_result_free(&res);
    return 0;
}
