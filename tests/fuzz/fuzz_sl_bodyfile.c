/*
 * tests/fuzz/fuzz_sl_bodyfile.c - sl_bodyfile_parse on hostile reference texts.
 *
 * Whatever it accepts must format back to a text that parses to the same
 * reference (offset, length, an absolute path with no NUL and no "/../").
 */
#include "sl_bodyfile.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_bodyfile_ref_t ref, back;
    if (sl_bodyfile_parse(data, size, &ref, NULL) != 0)
        return 0;
    if (ref.path[0] != '/' || strstr(ref.path, "/../") != NULL ||
        ref.offset > UINT64_MAX - ref.length)
        abort();
    char text[SL_BODYFILE_REF_MAX + 1];
    int n = sl_bodyfile_format(&ref, text, sizeof text);
    if (n < 0 || sl_bodyfile_parse(text, (size_t) n, &back, NULL) != 0 ||
        back.offset != ref.offset || back.length != ref.length ||
        strcmp(back.path, ref.path) != 0)
        abort();
    return 0;
}
