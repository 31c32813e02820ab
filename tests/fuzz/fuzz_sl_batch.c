/*
 * tests/fuzz/fuzz_sl_batch.c - sl_batch_split on hostile JOBS/DONES messages.
 *
 * The input is a multipart message with frames separated by '|' (the seeds
 * in tests/fuzz/corpus/sl_batch read like the protocol). Every entry the
 * split returns must lie inside the message and the entries must tile it.
 */
#include "sl_batch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S_FRAMES_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_frames_t fr = {.frames = calloc(S_FRAMES_MAX, sizeof(zmq_msg_t)), .cap = S_FRAMES_MAX};
    if (fr.frames == NULL)
        abort();
    size_t start = 0;
    for (size_t i = 0; i <= size && fr.count < S_FRAMES_MAX; i++) {
        if (i < size && data[i] != '|')
            continue;
        zmq_msg_init_size(&fr.frames[fr.count], i - start);
        if (i > start)
            memcpy(zmq_msg_data(&fr.frames[fr.count]), data + start, i - start);
        fr.count++;
        start = i + 1;
    }
    sl_batch_entry_t out[SL_BATCH_MAX];
    for (size_t min = 2; min <= 4; min += 2) {
        int n = sl_batch_split(&fr, 2, min, out, NULL);
        if (n > SL_BATCH_MAX)
            abort();
        size_t next = 3;
        for (int i = 0; i < n; i++) {
            if (out[i].first != next + 1 || out[i].count < min ||
                out[i].first + out[i].count > fr.count)
                abort();
            next = out[i].first + out[i].count;
        }
        if (n > 0 && next != fr.count)
            abort();
    }
    sl_frames_free(&fr);
    return 0;
}
