/*
 * lib/sl_batch.h - the batched worker messages JOBS and DONES: split, bounded.
 *
 * A batch carries several jobs (or answers) in one ZeroMQ message so that
 * small mail pays the per-message cost of ZeroMQ once per batch, not once
 * per message: after "SLW1" and the command come a count n (decimal,
 * 1..SL_BATCH_MAX) and, n times, a frame count k (decimal) followed by that
 * entry's k frames, exactly as a single JOB or DONE carries them after its
 * command. Broker and C stage runtime both split what they receive here;
 * nothing a peer declares is trusted. Protocol: broker/README.md.
 * Tests: tests/unit/test_sl_batch.c, tests/fuzz/fuzz_sl_batch.c
 */
#ifndef SL_BATCH_H
#define SL_BATCH_H

#include "sl_wire.h"

#define SL_BATCH_MAX 64 /* entries in one JOBS or DONES */

typedef struct {
    size_t first; /* index of the entry's first frame in the message */
    size_t count; /* its frames */
} sl_batch_entry_t;

/* sl_batch_split - FR from frame AT on: n, then n times (k, k frames), and
 * nothing after the last entry; n is 1..SL_BATCH_MAX and each k at least
 * MIN_FRAMES (and no more than the frames left). Fills OUT (room for
 * SL_BATCH_MAX entries) and returns n, or -1 with *WHY (a static text). */
int sl_batch_split(const sl_frames_t *fr, size_t at, size_t min_frames, sl_batch_entry_t *out,
                   const char **why);

/* sl_batch_send_count - sends the decimal N as one frame (the n and k frames). */
int sl_batch_send_count(void *sock, size_t n, int more);

#endif
