/*
 * lib/sl_batch.c - split a JOBS or DONES message into its entries, bounded.
 *
 * Counts come from a peer: each is parsed with sl_wire_slice_uint (digits
 * only, no sign, at most nine of them) and checked against the frames that
 * really arrived before any entry is used. Tests: tests/unit/test_sl_batch.c,
 * tests/fuzz/fuzz_sl_batch.c
 */
#include "sl_batch.h"

#include <stdio.h>

static int
s_fail(const char **why, const char *text)
{
    if (why)
        *why = text;
    return -1;
}

int
sl_batch_split(const sl_frames_t *fr, size_t at, size_t min_frames, sl_batch_entry_t *out,
               const char **why)
{
    if (at >= fr->count)
        return s_fail(why, "batch count missing");
    long n = sl_wire_slice_uint(sl_frames_at(fr, at));
    if (n < 1 || n > SL_BATCH_MAX)
        return s_fail(why, "batch count not 1..64");
    size_t next = at + 1;
    for (long i = 0; i < n; i++) {
        if (next >= fr->count)
            return s_fail(why, "batch shorter than its count");
        long k = sl_wire_slice_uint(sl_frames_at(fr, next));
        if (k < 0 || (size_t) k < min_frames)
            return s_fail(why, "entry frame count malformed or too small");
        size_t left = fr->count - next - 1; /* frames after the k frame */
        if ((size_t) k > left)
            return s_fail(why, "entry frame count past the end");
        out[i] = (sl_batch_entry_t){.first = next + 1, .count = (size_t) k};
        next += 1 + (size_t) k;
    }
    if (next != fr->count)
        return s_fail(why, "frames after the last entry");
    return (int) n;
}

int
sl_batch_send_count(void *sock, size_t n, int more)
{
    char text[24];
    int len = snprintf(text, sizeof text, "%zu", n);
    return sl_wire_send_mem(sock, text, (size_t) len, more);
}
