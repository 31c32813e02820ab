/*
 * quarantine/qr_json.h - the small JSON the quarantine API speaks: a strict,
 * bounded parser for request bodies and a growing buffer that writes escaped
 * JSON for responses.
 *
 * Request bodies are hostile: size, depth, node count and string length are
 * capped; only RFC 8259 JSON is accepted (no comments, no trailing commas,
 * no NUL or invalid UTF-8 in strings, no duplicate-insensitive tricks: the
 * first of two equal keys wins).
 * Tests: tests/unit/test_qr_json.c, tests/fuzz/fuzz_qr_json.c
 */
#ifndef QR_JSON_H
#define QR_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QR_JSON_BYTES_MAX (64u << 10) /* request body limit (API.md: 413 above) */
#define QR_JSON_DEPTH_MAX 8           /* nesting: bodies are at most 3 deep */
#define QR_JSON_NODES_MAX 4096        /* values in one body (500 items x 3) */
#define QR_JSON_STR_MAX 4096          /* one string, decoded bytes */

typedef enum { QR_J_NULL, QR_J_BOOL, QR_J_NUM, QR_J_STR, QR_J_ARR, QR_J_OBJ } qr_jtype_t;

typedef struct qr_jval qr_jval_t;
struct qr_jval {
    qr_jtype_t type;   /* which of the fields below is set */
    bool b;            /* QR_J_BOOL */
    double num;        /* QR_J_NUM */
    char *str;         /* QR_J_STR: decoded, NUL-terminated (no NUL inside) */
    size_t count;      /* QR_J_ARR / QR_J_OBJ entries */
    char **keys;       /* QR_J_OBJ keys */
    qr_jval_t **items; /* entries */
};

/* qr_json_parse - parses TEXT/LEN; the value (free with qr_json_free) or NULL
 * with *why. */
qr_jval_t *qr_json_parse(const char *text, size_t len, const char **why);
void qr_json_free(qr_jval_t **val_p);
/* qr_json_get - value of KEY in object OBJ (borrowed), NULL when absent or OBJ not an object. */
const qr_jval_t *qr_json_get(const qr_jval_t *obj, const char *key);
/* qr_json_str - the string of KEY, NULL when absent or not a string. */
const char *qr_json_str(const qr_jval_t *obj, const char *key);
/* qr_json_bool - KEY as a bool, DEF when absent; -1 when present but not a bool. */
int qr_json_bool(const qr_jval_t *obj, const char *key, bool def);
/* qr_json_int - KEY as an integer in MIN..MAX into *out; 0, 1 when absent, -1 when invalid. */
int qr_json_int(const qr_jval_t *obj, const char *key, int64_t min, int64_t max, int64_t *out);

/* A response being written. */
typedef struct {
    char *buf;  /* NUL-terminated text */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
} qr_jbuf_t;

/* qr_jbuf_raw - appends TEXT as it is (syntax: braces, commas, numbers). */
void qr_jbuf_raw(qr_jbuf_t *b, const char *text);
void qr_jbuf_printf(qr_jbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* qr_jbuf_str - appends TEXT as a JSON string: quotes, every control
 * character, <, >, & and ' escaped, invalid UTF-8 bytes as U+FFFD; NULL as null. */
void qr_jbuf_str(qr_jbuf_t *b, const char *text);
void qr_jbuf_strn(qr_jbuf_t *b, const char *text, size_t len);
/* qr_jbuf_key - appends ,"KEY": (no comma when the last byte is { or [). */
void qr_jbuf_key(qr_jbuf_t *b, const char *key);
/* qr_jbuf_take - the text (caller frees); resets B. */
char *qr_jbuf_take(qr_jbuf_t *b, size_t *len);
void qr_jbuf_free(qr_jbuf_t *b);

#endif
