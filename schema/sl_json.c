/*
 * schema/sl_json.c - any msgpack value as JSON, for logs, the admin CLI and
 * the quarantine dashboard.
 *
 * Input is untrusted (checked by sl_mp_check first). Strings are escaped;
 * bytes that are not valid UTF-8 become \u00XX of the byte, so nothing is
 * lost; bin is a base64 string, ext {"ext": type, "base64": data}; NaN and
 * infinities are null; map keys that are not strings become their JSON text,
 * except containers used as keys inside such a key, which become "[...]" or
 * "{...}": escaping text inside text doubles it per level.
 * Tests: tests/unit/test_sl_env.c, tests/fuzz/fuzz_sl_env.c
 */
#include "sl_env.h"
#include "sl_mp.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

size_t
sl_utf8_len(const unsigned char *p, size_t len)
{
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2;
    else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        lo = p[0] == 0xe0 ? 0xa0 : 0x80;
        hi = p[0] == 0xed ? 0x9f : 0xbf;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        lo = p[0] == 0xf0 ? 0x90 : 0x80;
        hi = p[0] == 0xf4 ? 0x8f : 0xbf;
    } else
        return 0;
    if (n > len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

static void
s_string(sl_mp_buf_t *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    char esc[8];
    sl_mp_buf_write(out, "\"", 1);
    for (size_t i = 0; i < len;) {
        size_t n = sl_utf8_len(p + i, len - i);
        if (n == 1 && p[i] == '"')
            sl_mp_buf_write(out, "\\\"", 2);
        else if (n == 1 && p[i] == '\\')
            sl_mp_buf_write(out, "\\\\", 2);
        else if (n == 1 && p[i] == '\n')
            sl_mp_buf_write(out, "\\n", 2);
        else if (n == 0 || p[i] < 0x20 || p[i] == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", p[i]);
            sl_mp_buf_write(out, esc, 6);
            n = 1;
        } else
            sl_mp_buf_write(out, s + i, n);
        i += n;
    }
    sl_mp_buf_write(out, "\"", 1);
}

static void
s_base64(sl_mp_buf_t *out, const char *s, size_t len)
{
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)s;
    sl_mp_buf_write(out, "\"", 1);
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        char quad[4] = {digits[v >> 18], digits[(v >> 12) & 63],
                        i + 1 < len ? digits[(v >> 6) & 63] : '=',
                        i + 2 < len ? digits[v & 63] : '='};
        sl_mp_buf_write(out, quad, 4);
    }
    sl_mp_buf_write(out, "\"", 1);
}

/* s_double - shortest of %.15g..%.17g that reads back as D; null when not finite. */
static void
s_double(sl_mp_buf_t *out, double d, bool single)
{
    char text[40];
    if (!isfinite(d)) {
        sl_mp_buf_puts(out, "null");
        return;
    }
    for (int digits = single ? 6 : 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, d);
        double back = strtod(text, NULL);
        if (single ? (float)back == (float)d : back == d)
            break;
    }
    sl_mp_buf_puts(out, text);
}

static void s_value(sl_mp_buf_t *out, const msgpack_object *o, bool in_key);

/* s_key - a map key: strings as they are, anything else as its JSON text;
 * IN_KEY when this map is itself part of a key. */
static void
s_key(sl_mp_buf_t *out, const msgpack_object *o, bool in_key)
{
    if (o->type == MSGPACK_OBJECT_STR) {
        s_string(out, o->via.str.ptr, o->via.str.size);
        return;
    }
    if (in_key && (o->type == MSGPACK_OBJECT_ARRAY || o->type == MSGPACK_OBJECT_MAP)) {
        sl_mp_buf_puts(out, o->type == MSGPACK_OBJECT_ARRAY ? "\"[...]\"" : "\"{...}\"");
        return;
    }
    sl_mp_buf_t text = {0};
    s_value(&text, o, true);
    s_string(out, text.ptr, text.len);
    free(text.ptr);
}

/* s_container - an array as [...], a map as {...}. */
static void
s_container(sl_mp_buf_t *out, const msgpack_object *o, bool in_key)
{
    bool map = o->type == MSGPACK_OBJECT_MAP;
    uint32_t count = map ? o->via.map.size : o->via.array.size;
    sl_mp_buf_puts(out, map ? "{" : "[");
    for (uint32_t i = 0; i < count; i++) {
        if (i)
            sl_mp_buf_puts(out, ",");
        if (map) {
            s_key(out, &o->via.map.ptr[i].key, in_key);
            sl_mp_buf_puts(out, ":");
        }
        s_value(out, map ? &o->via.map.ptr[i].val : &o->via.array.ptr[i], in_key);
    }
    sl_mp_buf_puts(out, map ? "}" : "]");
}

static void
s_value(sl_mp_buf_t *out, const msgpack_object *o, bool in_key)
{
    char num[32];
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        sl_mp_buf_puts(out, "null");
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        sl_mp_buf_puts(out, o->via.boolean ? "true" : "false");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        snprintf(num, sizeof num, "%" PRIu64, o->via.u64);
        sl_mp_buf_puts(out, num);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        snprintf(num, sizeof num, "%" PRId64, o->via.i64);
        sl_mp_buf_puts(out, num);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        s_double(out, o->via.f64, o->type == MSGPACK_OBJECT_FLOAT32);
        break;
    case MSGPACK_OBJECT_STR:
        s_string(out, o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        s_base64(out, o->via.bin.ptr, o->via.bin.size);
        break;
    case MSGPACK_OBJECT_EXT:
        snprintf(num, sizeof num, "{\"ext\":%d,\"base64\":", o->via.ext.type);
        sl_mp_buf_puts(out, num);
        s_base64(out, o->via.ext.ptr, o->via.ext.size);
        sl_mp_buf_puts(out, "}");
        break;
    case MSGPACK_OBJECT_ARRAY:
    case MSGPACK_OBJECT_MAP:
        s_container(out, o, in_key);
        break;
    }
}

char *
sl_json_from_msgpack(const void *buf, size_t len)
{
    msgpack_unpacked value;
    sl_mp_buf_t out = {0};
    if (sl_mp_unpack(buf, len, SL_MP_DEPTH_LIMIT, &value, NULL) == 0) {
        s_value(&out, &value.data, false);
        sl_mp_buf_write(&out, "", 1);
    }
    msgpack_unpacked_destroy(&value);
    return out.ptr;
}
