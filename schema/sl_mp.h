/*
 * schema/sl_mp.h - msgpack plumbing private to schema/: bounded checks before
 * msgpack-c sees untrusted bytes, typed getters, a growing output buffer.
 *
 * msgpack-c allocates every array and map by its declared count before it
 * reads the items, so nothing untrusted reaches msgpack_unpack_next without
 * sl_mp_check first: it walks the bytes without allocating, bounds nesting and
 * refuses any count larger than the bytes left. What msgpack-c then allocates
 * is proportional to the input actually received.
 * Tests: tests/unit/test_sl_env.c, tests/fuzz/fuzz_sl_env.c
 */
#ifndef SL_MP_H
#define SL_MP_H

#include "sl_mem.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest nesting sl_mp_check accepts: msgpack-c's own parse stack holds 32. */
#define SL_MP_DEPTH_LIMIT 31

/* A growing byte buffer; msgpack_packer writes into it through sl_mp_buf_write. */
typedef struct {
    char *ptr;  /* bytes, malloc'd; NULL while empty */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
} sl_mp_buf_t;

/* sl_mp_buf_write - msgpack_packer_write callback for an sl_mp_buf_t; never fails. */
int sl_mp_buf_write(void *buf, const char *bytes, size_t len);
/* sl_mp_buf_puts - appends the NUL-terminated text S. */
void sl_mp_buf_puts(sl_mp_buf_t *buf, const char *s);
/* sl_mp_packer - a packer writing into BUF. */
msgpack_packer sl_mp_packer(sl_mp_buf_t *buf);

/* sl_mp_check - walks the one msgpack value at P without allocating: complete,
 * no reserved byte, at most DEPTH_MAX nested containers, no container declaring
 * more items than bytes left. 0 with *used = its length, or -1 with *why. */
int sl_mp_check(const void *p, size_t len, unsigned depth_max, size_t *used, const char **why);
/* sl_mp_unpack - sl_mp_check of exactly LEN bytes, then msgpack-c parses them
 * into OUT (caller's: msgpack_unpacked_destroy); strings point into P. */
int sl_mp_unpack(const void *p, size_t len, unsigned depth_max, msgpack_unpacked *out,
                 const char **why);
/* sl_mp_canon - the value in P (exactly LEN bytes) re-encoded by msgpack-c in
 * its smallest forms and appended to OUT, so equal values give equal bytes. */
int sl_mp_canon(const void *p, size_t len, unsigned depth_max, sl_mp_buf_t *out, const char **why);
/* sl_mp_depth - containers nested in O (a scalar is 0); O was checked, so bounded. */
unsigned sl_mp_depth(const msgpack_object *o);

/* Getters: 0 when O has the wanted type and bound, else -1 (the caller names the field). */
/* sl_mp_get_str - borrows a string of at most MAX bytes. */
int sl_mp_get_str(const msgpack_object *o, size_t max, sl_slice_t *out);
/* sl_mp_get_cstr - copies a string of at most MAX bytes without NUL (caller frees *out). */
int sl_mp_get_cstr(const msgpack_object *o, size_t max, char **out);
/* sl_mp_get_uint - any integer or integral float from 0 to UINT64_MAX. */
int sl_mp_get_uint(const msgpack_object *o, uint64_t *out);
/* sl_mp_get_num - any integer or float, finite. */
int sl_mp_get_num(const msgpack_object *o, double *out);

/* sl_mp_key_fn - handles the value of the known key NAMES[index] of a map. */
typedef int (*sl_mp_key_fn)(void *ctx, size_t index, const msgpack_object *val, const char **why);
/* sl_mp_map_known - calls FN for each pair of map MAP whose key is one of the
 * COUNT strings in NAMES; other keys (strings or not) are skipped so the schema
 * can grow; a known key seen twice is refused with DUP_WHY. Stops at FN's -1. */
int sl_mp_map_known(const msgpack_object *map, const char *const *names, size_t count,
                    sl_mp_key_fn fn, void *ctx, const char *dup_why, const char **why);

/* sl_mp_pack_str - packs C string S (NULL packs ""). */
void sl_mp_pack_str(msgpack_packer *pk, const char *s);
/* sl_mp_pack_raw - appends LEN bytes of already encoded msgpack. */
void sl_mp_pack_raw(msgpack_packer *pk, const void *p, size_t len);

#endif
