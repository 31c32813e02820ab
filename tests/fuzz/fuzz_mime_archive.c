/*
 * tests/fuzz/fuzz_mime_archive.c - archive expansion on arbitrary bytes.
 *
 * Feeds the input straight to mime_archive_expand (libarchive with the
 * formats and filters mime enables, member reading, ratio and count limits),
 * as if it were an attachment libmagic had called an archive.
 * Seeds: tests/fuzz/corpus/mime_archive/. Code: stages/mime/mime_archive.c
 */
#include "mime.h"
#include "sl_mem.h"

#include <stdint.h>
#include <stdlib.h>

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
        s_lim.decoded_max = 8 << 20;
        s_lim.part_max = 1 << 20;
        s_lim.archive_members_max = 256;
        s_lim.ratio_floor = 1 << 16;
        s_lim.time_max_ms = 2000;
    }
    mime_result_t res = {.deadline_ms = sl_mono_ms() + (uint64_t) s_lim.time_max_ms};
    mime_archive_expand(&res, &s_lim, s_magic, "1", data, size, 1, 1);
    if (res.part_count > (size_t) s_lim.parts_max || res.decoded > (size_t) s_lim.decoded_max)
        abort();
    mime_result_free(&res);
    return 0;
}
