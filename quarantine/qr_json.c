/*
 * quarantine/qr_json.c - strict bounded JSON parser for request bodies, and
 * the escaped JSON writer of responses.
 *
 * Every input byte is untrusted: the parser checks bounds before each read,
 * caps depth, node count and string length, and refuses what RFC 8259 does
 * not allow. Numbers go through strtod on a bounded, validated copy.
 * Tests: tests/unit/test_qr_json.c, tests/fuzz/fuzz_qr_json.c
 */
#include "qr_json.h"
#include "sl_env.h"
#include "sl_mem.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p;   /* input */
    size_t len;      /* input length */
    size_t pos;      /* next byte */
    size_t nodes;    /* values made so far */
    const char *why; /* first error */
} s_parser_t;

static int
s_err(s_parser_t *ps, const char *why)
{
    if (ps->why == NULL)
        ps->why = why;
    return -1;
}

static void
s_ws(s_parser_t *ps)
{
    while (ps->pos < ps->len && (ps->p[ps->pos] == ' ' || ps->p[ps->pos] == '\t' ||
                                 ps->p[ps->pos] == '\n' || ps->p[ps->pos] == '\r'))
        ps->pos++;
}

static int
s_hex4(s_parser_t *ps, unsigned *out)
{
    if (ps->len - ps->pos < 4)
        return s_err(ps, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = ps->p[ps->pos++];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return s_err(ps, "bad \\u escape");
    }
    *out = v;
    return 0;
}

static int
s_put(char *out, size_t *n, const void *bytes, size_t k, s_parser_t *ps)
{
    if (k > QR_JSON_STR_MAX - *n)
        return s_err(ps, "string too long");
    memcpy(out + *n, bytes, k);
    *n += k;
    return 0;
}

/* s_string - a string at ps->pos (after the opening quote); malloc'd. */
static char *
s_string(s_parser_t *ps)
{
    char *out = sl_xmalloc(QR_JSON_STR_MAX + 1);
    size_t n = 0;
    for (;;) {
        if (ps->pos >= ps->len) {
            s_err(ps, "unterminated string");
            goto fail;
        }
        unsigned char c = (unsigned char)ps->p[ps->pos];
        if (c == '"') {
            ps->pos++;
            break;
        }
        if (c < 0x20) {
            s_err(ps, "control character in string");
            goto fail;
        }
        if (c == '\\') {
            ps->pos++;
            if (ps->pos >= ps->len) {
                s_err(ps, "unterminated string");
                goto fail;
            }
            char e = ps->p[ps->pos++];
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e != '\0' && e != 'u' && simple) {
                static const char map[] = "\"\\/\b\f\n\r\t";
                if (s_put(out, &n, &map[simple - "\"\\/bfnrt"], 1, ps) != 0)
                    goto fail;
                continue;
            }
            if (e != 'u') {
                s_err(ps, "bad escape");
                goto fail;
            }
            unsigned cp, lo;
            if (s_hex4(ps, &cp) != 0)
                goto fail;
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                s_err(ps, "lone low surrogate");
                goto fail;
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (ps->len - ps->pos < 2 || ps->p[ps->pos] != '\\' || ps->p[ps->pos + 1] != 'u') {
                    s_err(ps, "lone high surrogate");
                    goto fail;
                }
                ps->pos += 2;
                if (s_hex4(ps, &lo) != 0)
                    goto fail;
                if (lo < 0xdc00 || lo > 0xdfff) {
                    s_err(ps, "bad surrogate pair");
                    goto fail;
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp == 0) {
                s_err(ps, "NUL in string");
                goto fail;
            }
            unsigned char u[4];
            size_t k;
            if (cp < 0x80) {
                u[0] = (unsigned char)cp;
                k = 1;
            } else if (cp < 0x800) {
                u[0] = (unsigned char)(0xc0 | (cp >> 6));
                u[1] = (unsigned char)(0x80 | (cp & 0x3f));
                k = 2;
            } else if (cp < 0x10000) {
                u[0] = (unsigned char)(0xe0 | (cp >> 12));
                u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                u[2] = (unsigned char)(0x80 | (cp & 0x3f));
                k = 3;
            } else {
                u[0] = (unsigned char)(0xf0 | (cp >> 18));
                u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
                u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
                u[3] = (unsigned char)(0x80 | (cp & 0x3f));
                k = 4;
            }
            if (s_put(out, &n, u, k, ps) != 0)
                goto fail;
            continue;
        }
        size_t k = sl_utf8_len((const unsigned char *)ps->p + ps->pos, ps->len - ps->pos);
        if (k == 0) {
            s_err(ps, "invalid UTF-8");
            goto fail;
        }
        if (s_put(out, &n, ps->p + ps->pos, k, ps) != 0)
            goto fail;
        ps->pos += k;
    }
    out[n] = '\0';
    return out;
fail:
    free(out);
    return NULL;
}

static int
s_number(s_parser_t *ps, double *out)
{
    size_t start = ps->pos;
    if (ps->pos < ps->len && ps->p[ps->pos] == '-')
        ps->pos++;
    if (ps->pos >= ps->len)
        return s_err(ps, "bad number");
    if (ps->p[ps->pos] == '0')
        ps->pos++;
    else if (ps->p[ps->pos] >= '1' && ps->p[ps->pos] <= '9')
        while (ps->pos < ps->len && ps->p[ps->pos] >= '0' && ps->p[ps->pos] <= '9')
            ps->pos++;
    else
        return s_err(ps, "bad number");
    if (ps->pos < ps->len && ps->p[ps->pos] == '.') {
        ps->pos++;
        size_t d = ps->pos;
        while (ps->pos < ps->len && ps->p[ps->pos] >= '0' && ps->p[ps->pos] <= '9')
            ps->pos++;
        if (ps->pos == d)
            return s_err(ps, "bad number");
    }
    if (ps->pos < ps->len && (ps->p[ps->pos] == 'e' || ps->p[ps->pos] == 'E')) {
        ps->pos++;
        if (ps->pos < ps->len && (ps->p[ps->pos] == '+' || ps->p[ps->pos] == '-'))
            ps->pos++;
        size_t d = ps->pos;
        while (ps->pos < ps->len && ps->p[ps->pos] >= '0' && ps->p[ps->pos] <= '9')
            ps->pos++;
        if (ps->pos == d)
            return s_err(ps, "bad number");
    }
    char buf[64];
    size_t n = ps->pos - start;
    if (n >= sizeof buf)
        return s_err(ps, "number too long");
    memcpy(buf, ps->p + start, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    if (!isfinite(*out))
        return s_err(ps, "number out of range");
    return 0;
}

static bool
s_word(s_parser_t *ps, const char *w)
{
    size_t n = strlen(w);
    if (ps->len - ps->pos < n || memcmp(ps->p + ps->pos, w, n) != 0)
        return false;
    ps->pos += n;
    return true;
}

static void
s_push(qr_jval_t *v, char *key, qr_jval_t *item, size_t *cap)
{
    if (v->count == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        v->items = sl_xrealloc(v->items, *cap * sizeof *v->items);
        if (v->type == QR_J_OBJ)
            v->keys = sl_xrealloc(v->keys, *cap * sizeof *v->keys);
    }
    if (v->type == QR_J_OBJ)
        v->keys[v->count] = key;
    v->items[v->count++] = item;
}

static qr_jval_t *
s_value(s_parser_t *ps, int depth)
{
    s_ws(ps);
    if (ps->pos >= ps->len) {
        s_err(ps, "unexpected end");
        return NULL;
    }
    if (++ps->nodes > QR_JSON_NODES_MAX) {
        s_err(ps, "too many values");
        return NULL;
    }
    qr_jval_t *v = sl_xcalloc(1, sizeof *v);
    char c = ps->p[ps->pos];
    if (c == '{' || c == '[') {
        if (depth >= QR_JSON_DEPTH_MAX) {
            s_err(ps, "nested too deep");
            goto fail;
        }
        bool obj = c == '{';
        char close = obj ? '}' : ']';
        v->type = obj ? QR_J_OBJ : QR_J_ARR;
        size_t cap = 0;
        ps->pos++;
        s_ws(ps);
        if (ps->pos < ps->len && ps->p[ps->pos] == close) {
            ps->pos++;
            return v;
        }
        for (;;) {
            char *key = NULL;
            if (obj) {
                s_ws(ps);
                if (ps->pos >= ps->len || ps->p[ps->pos] != '"') {
                    s_err(ps, "expected a key");
                    goto fail;
                }
                ps->pos++;
                if ((key = s_string(ps)) == NULL)
                    goto fail;
                s_ws(ps);
                if (ps->pos >= ps->len || ps->p[ps->pos] != ':') {
                    free(key);
                    s_err(ps, "expected ':'");
                    goto fail;
                }
                ps->pos++;
            }
            qr_jval_t *item = s_value(ps, depth + 1);
            if (item == NULL) {
                free(key);
                goto fail;
            }
            s_push(v, key, item, &cap);
            s_ws(ps);
            if (ps->pos >= ps->len) {
                s_err(ps, "unexpected end");
                goto fail;
            }
            if (ps->p[ps->pos] == ',') {
                ps->pos++;
                continue;
            }
            if (ps->p[ps->pos] == close) {
                ps->pos++;
                return v;
            }
            s_err(ps, "expected ',' or a closing bracket");
            goto fail;
        }
    }
    if (c == '"') {
        ps->pos++;
        v->type = QR_J_STR;
        if ((v->str = s_string(ps)) == NULL)
            goto fail;
        return v;
    }
    if (s_word(ps, "true") || s_word(ps, "false")) {
        v->type = QR_J_BOOL;
        v->b = c == 't';
        return v;
    }
    if (s_word(ps, "null"))
        return v;
    v->type = QR_J_NUM;
    if (s_number(ps, &v->num) != 0)
        goto fail;
    return v;
fail:
    qr_json_free(&v);
    return NULL;
}

qr_jval_t *
qr_json_parse(const char *text, size_t len, const char **why)
{
    if (len > QR_JSON_BYTES_MAX) {
        *why = "body too large";
        return NULL;
    }
    s_parser_t ps = {.p = text, .len = len};
    qr_jval_t *v = s_value(&ps, 0);
    if (v) {
        s_ws(&ps);
        if (ps.pos != ps.len) {
            s_err(&ps, "trailing bytes after the value");
            qr_json_free(&v);
        }
    }
    if (v == NULL)
        *why = ps.why ? ps.why : "invalid JSON";
    return v;
}

void
qr_json_free(qr_jval_t **val_p)
{
    assert(val_p);
    qr_jval_t *v = *val_p;
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->count; i++) {
        qr_json_free(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
    *val_p = NULL;
}

const qr_jval_t *
qr_json_get(const qr_jval_t *obj, const char *key)
{
    if (obj == NULL || obj->type != QR_J_OBJ)
        return NULL;
    for (size_t i = 0; i < obj->count; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->items[i];
    return NULL;
}

const char *
qr_json_str(const qr_jval_t *obj, const char *key)
{
    const qr_jval_t *v = qr_json_get(obj, key);
    return v && v->type == QR_J_STR ? v->str : NULL;
}

int
qr_json_bool(const qr_jval_t *obj, const char *key, bool def)
{
    const qr_jval_t *v = qr_json_get(obj, key);
    if (v == NULL)
        return def;
    return v->type == QR_J_BOOL ? v->b : -1;
}

int
qr_json_int(const qr_jval_t *obj, const char *key, int64_t min, int64_t max, int64_t *out)
{
    const qr_jval_t *v = qr_json_get(obj, key);
    if (v == NULL)
        return 1;
    if (v->type != QR_J_NUM || v->num != floor(v->num) || v->num < (double)min ||
        v->num > (double)max)
        return -1;
    *out = (int64_t)v->num;
    return 0;
}

/* ---- writer ---- */

static void
s_reserve(qr_jbuf_t *b, size_t more)
{
    if (b->cap - b->len > more)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= more)
        cap *= 2;
    b->buf = sl_xrealloc(b->buf, cap);
    b->cap = cap;
}

static void
s_append(qr_jbuf_t *b, const char *p, size_t n)
{
    s_reserve(b, n);
    memcpy(b->buf + b->len, p, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

void
qr_jbuf_raw(qr_jbuf_t *b, const char *text)
{
    s_append(b, text, strlen(text));
}

void
qr_jbuf_printf(qr_jbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert(n >= 0);
    s_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void
qr_jbuf_strn(qr_jbuf_t *b, const char *text, size_t len)
{
    if (text == NULL) {
        qr_jbuf_raw(b, "null");
        return;
    }
    s_append(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            s_append(b, esc, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&' || c == '\'') {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            s_append(b, esc, 6);
            i++;
        } else {
            size_t k = sl_utf8_len(p + i, len - i);
            if (k == 0) {
                s_append(b, "\\ufffd", 6);
                i++;
            } else {
                s_append(b, text + i, k);
                i += k;
            }
        }
    }
    s_append(b, "\"", 1);
}

void
qr_jbuf_str(qr_jbuf_t *b, const char *text)
{
    qr_jbuf_strn(b, text, text ? strlen(text) : 0);
}

void
qr_jbuf_key(qr_jbuf_t *b, const char *key)
{
    if (b->len > 0 && b->buf[b->len - 1] != '{' && b->buf[b->len - 1] != '[')
        s_append(b, ",", 1);
    qr_jbuf_str(b, key);
    s_append(b, ":", 1);
}

char *
qr_jbuf_take(qr_jbuf_t *b, size_t *len)
{
    if (b->buf == NULL)
        s_reserve(b, 1), b->buf[0] = '\0';
    char *out = b->buf;
    if (len)
        *len = b->len;
    *b = (qr_jbuf_t){0};
    return out;
}

void
qr_jbuf_free(qr_jbuf_t *b)
{
    free(b->buf);
    *b = (qr_jbuf_t){0};
}
