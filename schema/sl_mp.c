/*
 * schema/sl_mp.c - msgpack plumbing for the envelope codec: the allocation-free
 * pre-check of untrusted bytes, canonical re-encoding, typed getters, buffers.
 *
 * Everything handed to sl_mp_check is untrusted: reads are bounds-checked
 * against what is left, never against what the bytes declare.
 * Tests: tests/unit/test_sl_env.c, tests/fuzz/fuzz_sl_env.c
 */
#include "sl_mp.h"

#include <assert.h>
#include <math.h>
#include <string.h>

int
sl_mp_buf_write(void *buf, const char *bytes, size_t len)
{
    sl_mp_buf_t *self = buf;
    if (len > self->cap - self->len) {
        size_t cap = self->cap ? self->cap : 256;
        while (len > cap - self->len) {
            assert(cap <= SIZE_MAX / 2);
            cap *= 2;
        }
        self->ptr = sl_xrealloc(self->ptr, cap);
        self->cap = cap;
    }
    if (len)
        memcpy(self->ptr + self->len, bytes, len);
    self->len += len;
    return 0;
}

void
sl_mp_buf_puts(sl_mp_buf_t *buf, const char *s)
{
    sl_mp_buf_write(buf, s, strlen(s));
}

msgpack_packer
sl_mp_packer(sl_mp_buf_t *buf)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, buf, sl_mp_buf_write);
    return pk;
}

/* s_be - big-endian unsigned of N (1, 2, 4, 8) bytes. */
static uint64_t
s_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* s_head - decodes the header at P[*pos] and steps over its payload: how many
 * values it contains (*items: 2 per map pair) and whether it is a container. */
static int
s_head(const uint8_t *p, size_t len, size_t *pos, uint64_t *items, bool *container,
       const char **why)
{
    /* Width of the length field, payload size or extra type byte for 0xc4..0xdf. */
    static const struct {
        uint8_t len_bytes; /* big-endian length that follows the byte */
        uint8_t fixed;     /* payload bytes when there is no length field */
        uint8_t kind;      /* 0 bytes, 1 array, 2 map */
    } wide[] = {
        [0xc4 - 0xc4] = {1, 0, 0}, [0xc5 - 0xc4] = {2, 0, 0}, [0xc6 - 0xc4] = {4, 0, 0},
        [0xc7 - 0xc4] = {1, 1, 0}, [0xc8 - 0xc4] = {2, 1, 0}, [0xc9 - 0xc4] = {4, 1, 0},
        [0xca - 0xc4] = {0, 4, 0}, [0xcb - 0xc4] = {0, 8, 0}, [0xcc - 0xc4] = {0, 1, 0},
        [0xcd - 0xc4] = {0, 2, 0}, [0xce - 0xc4] = {0, 4, 0}, [0xcf - 0xc4] = {0, 8, 0},
        [0xd0 - 0xc4] = {0, 1, 0}, [0xd1 - 0xc4] = {0, 2, 0}, [0xd2 - 0xc4] = {0, 4, 0},
        [0xd3 - 0xc4] = {0, 8, 0}, [0xd4 - 0xc4] = {0, 2, 0}, [0xd5 - 0xc4] = {0, 3, 0},
        [0xd6 - 0xc4] = {0, 5, 0}, [0xd7 - 0xc4] = {0, 9, 0}, [0xd8 - 0xc4] = {0, 17, 0},
        [0xd9 - 0xc4] = {1, 0, 0}, [0xda - 0xc4] = {2, 0, 0}, [0xdb - 0xc4] = {4, 0, 0},
        [0xdc - 0xc4] = {2, 0, 1}, [0xdd - 0xc4] = {4, 0, 1}, [0xde - 0xc4] = {2, 0, 2},
        [0xdf - 0xc4] = {4, 0, 2},
    };
    if (*pos >= len)
        return sl_fail(why, "msgpack is truncated");
    uint8_t b = p[(*pos)++];
    uint64_t skip = 0;
    *items = 0;
    *container = (b >= 0x80 && b <= 0x9f) || (b >= 0xdc && b <= 0xdf);
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0;
    if (b == 0xc1)
        return sl_fail(why, "msgpack has the reserved byte 0xc1");
    if (b <= 0x8f)
        *items = 2 * (uint64_t)(b & 0x0f);
    else if (b <= 0x9f)
        *items = b & 0x0f;
    else if (b <= 0xbf)
        skip = b & 0x1f;
    else {
        unsigned n = wide[b - 0xc4].len_bytes;
        if (n > len - *pos)
            return sl_fail(why, "msgpack is truncated");
        uint64_t count = s_be(p + *pos, n);
        *pos += n;
        switch (wide[b - 0xc4].kind) {
        case 1:
            *items = count;
            break;
        case 2:
            *items = 2 * count;
            break;
        default:
            skip = n ? count + wide[b - 0xc4].fixed : wide[b - 0xc4].fixed;
        }
    }
    if (skip > len - *pos)
        return sl_fail(why, "msgpack is truncated");
    /* Every item takes at least one byte: a larger count is a lie. */
    if (*items > len - *pos)
        return sl_fail(why, "msgpack declares more items than bytes left");
    *pos += (size_t)skip;
    return 0;
}

int
sl_mp_check(const void *p, size_t len, unsigned depth_max, size_t *used, const char **why)
{
    assert(depth_max <= SL_MP_DEPTH_LIMIT);
    uint64_t left[SL_MP_DEPTH_LIMIT + 2]; /* values still to read at each open level */
    unsigned depth = 0;
    size_t pos = 0;
    left[0] = 1;
    for (;;) {
        while (left[depth] == 0) {
            if (depth == 0) {
                *used = pos;
                return 0;
            }
            depth--;
        }
        left[depth]--;
        uint64_t items = 0;
        bool container = false;
        if (s_head(p, len, &pos, &items, &container, why) != 0)
            return -1;
        if (container) {
            if (depth == depth_max)
                return sl_fail(why, "msgpack is nested too deep");
            left[++depth] = items;
        }
    }
}

int
sl_mp_unpack(const void *p, size_t len, unsigned depth_max, msgpack_unpacked *out, const char **why)
{
    size_t used = 0, off = 0;
    msgpack_unpacked_init(out);
    if (sl_mp_check(p, len, depth_max, &used, why) != 0)
        return -1;
    if (used != len)
        return sl_fail(why, "msgpack has trailing bytes");
    if (msgpack_unpack_next(out, p, len, &off) != MSGPACK_UNPACK_SUCCESS)
        return sl_fail(why, "msgpack is malformed");
    return 0;
}

int
sl_mp_canon(const void *p, size_t len, unsigned depth_max, sl_mp_buf_t *out, const char **why)
{
    msgpack_unpacked value;
    int rc = sl_mp_unpack(p, len, depth_max, &value, why);
    if (rc == 0) {
        msgpack_packer pk = sl_mp_packer(out);
        msgpack_pack_object(&pk, value.data);
    }
    msgpack_unpacked_destroy(&value);
    return rc;
}

unsigned
sl_mp_depth(const msgpack_object *o)
{
    if (o->type != MSGPACK_OBJECT_ARRAY && o->type != MSGPACK_OBJECT_MAP)
        return 0;
    bool map = o->type == MSGPACK_OBJECT_MAP;
    uint32_t count = map ? o->via.map.size : o->via.array.size;
    unsigned deepest = 0, d;
    for (uint32_t i = 0; i < count; i++) {
        d = map ? sl_mp_depth(&o->via.map.ptr[i].key) : 0;
        if (d > deepest)
            deepest = d;
        d = sl_mp_depth(map ? &o->via.map.ptr[i].val : &o->via.array.ptr[i]);
        if (d > deepest)
            deepest = d;
    }
    return deepest + 1;
}

int
sl_mp_get_str(const msgpack_object *o, size_t max, sl_slice_t *out)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > max)
        return -1;
    *out = (sl_slice_t){.ptr = o->via.str.ptr, .len = o->via.str.size};
    return 0;
}

int
sl_mp_get_cstr(const msgpack_object *o, size_t max, char **out)
{
    sl_slice_t s;
    if (sl_mp_get_str(o, max, &s) != 0 || (s.len && memchr(s.ptr, '\0', s.len) != NULL))
        return -1;
    *out = sl_xstrndup(s.ptr, s.len);
    return 0;
}

int
sl_mp_get_uint(const msgpack_object *o, uint64_t *out)
{
    double d;
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *out = o->via.u64;
        return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        /* 2^64 is exact as a double; floor() == d also rules out NaN. */
        d = o->via.f64;
        if (!(d >= 0 && d < 18446744073709551616.0 && floor(d) == d))
            return -1;
        *out = (uint64_t)d;
        return 0;
    default:
        return -1;
    }
}

int
sl_mp_get_num(const msgpack_object *o, double *out)
{
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *out = (double)o->via.u64;
        return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *out = (double)o->via.i64;
        return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64))
            return -1;
        *out = o->via.f64;
        return 0;
    default:
        return -1;
    }
}

int
sl_mp_map_known(const msgpack_object *map, const char *const *names, size_t count, sl_mp_key_fn fn,
                void *ctx, const char *dup_why, const char **why)
{
    uint64_t seen = 0;
    assert(map->type == MSGPACK_OBJECT_MAP && count <= 64);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *key = &map->via.map.ptr[i].key;
        if (key->type != MSGPACK_OBJECT_STR)
            continue;
        for (size_t k = 0; k < count; k++) {
            if (strlen(names[k]) != key->via.str.size ||
                memcmp(names[k], key->via.str.ptr, key->via.str.size) != 0)
                continue;
            if (seen & (UINT64_C(1) << k))
                return sl_fail(why, dup_why);
            seen |= UINT64_C(1) << k;
            if (fn(ctx, k, &map->via.map.ptr[i].val, why) != 0)
                return -1;
            break;
        }
    }
    return 0;
}

void
sl_mp_pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s ? s : "", n);
}

void
sl_mp_pack_raw(msgpack_packer *pk, const void *p, size_t len)
{
    pk->callback(pk->data, p, len);
}
