/*
 * lib/sl_cfg.c - the YAML config file as a tree of nodes that know their line.
 *
 * libyaml does the parsing; this file builds the tree from its event stream
 * and refuses what a config file has no use for: anchors and aliases (no
 * billion laughs), explicit tags, complex keys, duplicate keys, a second
 * document, more than SL_CFG_BYTES_MAX bytes, SL_CFG_DEPTH_MAX levels or
 * SL_CFG_NODES_MAX nodes. The file is trusted no more than mail is: every
 * value shown back in a message goes through sl_log_str.
 * Every mistake becomes one line "file:line: key.path: expected X, found Y";
 * the typed getters that read values live in sl_cfg_get.c.
 * Tests: tests/unit/test_sl_cfg.c, tests/fuzz/fuzz_sl_cfg.c
 */
#include "sl_cfg.h"
#include "sl_log.h"
#include "sl_mem.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#define S_PATH_MAX 256  /* key path shown in a message */
#define S_FOUND_MAX 64  /* value shown in a message, quotes excluded */
#define S_LINE_MAX 1024 /* one error line */

struct sl_cfg_node {
    sl_cfg_kind_t kind;
    int line;                    /* 1-based line where the node starts */
    bool plain;                  /* scalar written without quotes or block style */
    char *text;                  /* scalar text; NULL for maps and sequences */
    const sl_cfg_node_t *parent; /* enclosing map or sequence; NULL for the root */
    size_t index;                /* position in the parent */
    size_t count;                /* entries of a map or sequence */
    size_t cap;                  /* entries allocated */
    sl_cfg_node_t **items;       /* values (map) or entries (sequence) */
    char **keys;                 /* map keys, parallel to items; NULL for sequences */
    int *key_lines;              /* line of each map key */
};

struct sl_cfg {
    char *path;          /* file name as given, for messages */
    sl_cfg_node_t *root; /* top node; NULL for an empty file */
    size_t node_count;   /* nodes and keys read, against SL_CFG_NODES_MAX */
    char *errors;        /* error lines, '\n' between them; NULL when none */
    size_t errors_len;   /* bytes in errors */
    size_t error_count;  /* errors recorded, shown or not */
    bool errors_full;    /* SL_CFG_ERRORS_MAX reached: later errors only counted */
};

/* ---- errors ---- */

/* s_vadd_error - one "file:line: text" line; line 0 leaves the line out. */
__attribute__((format(printf, 3, 0))) static void
s_vadd_error(sl_cfg_t *self, int line, const char *fmt, va_list ap)
{
    static const char more[] = "... further errors not shown";
    self->error_count++;
    if (self->errors_full)
        return;
    char text[S_LINE_MAX];
    int n = line > 0 ? snprintf(text, sizeof text, "%s:%d: ", self->path, line)
                     : snprintf(text, sizeof text, "%s: ", self->path);
    if (n < 0 || (size_t) n >= sizeof text)
        n = 0;
    int m = vsnprintf(text + n, sizeof text - (size_t) n, fmt, ap);
    if (m < 0)
        m = 0;
    if ((size_t) m >= sizeof text - (size_t) n)
        memcpy(text + sizeof text - 4, "...", 4);
    size_t len = strlen(text);
    if (self->errors == NULL)
        self->errors = sl_xmalloc(SL_CFG_ERRORS_MAX);
    /* A line goes in only if the closing notice still fits after it, so the
     * notice always has room: separator, line, separator, notice, NUL. */
    if (len + 2 + sizeof more > SL_CFG_ERRORS_MAX - self->errors_len) {
        memcpy(text, more, sizeof more);
        len = sizeof more - 1;
        self->errors_full = true;
    }
    if (self->errors_len > 0)
        self->errors[self->errors_len++] = '\n';
    memcpy(self->errors + self->errors_len, text, len);
    self->errors_len += len;
    self->errors[self->errors_len] = '\0';
}

__attribute__((format(printf, 3, 4))) static void
s_error_at(sl_cfg_t *self, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vadd_error(self, line, fmt, ap);
    va_end(ap);
}

void
sl_cfg_error(sl_cfg_t *self, const sl_cfg_node_t *at, const char *fmt, ...)
{
    assert(self);
    va_list ap;
    va_start(ap, fmt);
    s_vadd_error(self, sl_cfg_line(at), fmt, ap);
    va_end(ap);
}

size_t
sl_cfg_error_count(const sl_cfg_t *self)
{
    assert(self);
    return self->error_count;
}

const char *
sl_cfg_errors(const sl_cfg_t *self)
{
    assert(self);
    return self->errors ? self->errors : "";
}

/* s_copy_out - TEXT into the caller's ERR buffer, "..." marking a cut. */
static void
s_copy_out(char *err, size_t errlen, const char *text)
{
    if (err == NULL || errlen == 0)
        return;
    if (sl_strlcpy(err, text, errlen) >= errlen && errlen >= 4)
        memcpy(err + errlen - 4, "...", 4);
}

/* ---- key paths and shown values ---- */

/* s_add - appends TEXT to BUF of SIZE at *LEN; a cut ends with "...". */
static void
s_add(char *buf, size_t size, size_t *len, const char *text)
{
    if (*len + 1 >= size)
        return;
    size_t n = sl_strlcpy(buf + *len, text, size - *len);
    if (n >= size - *len) {
        *len = size - 1;
        if (size >= 4)
            memcpy(buf + size - 4, "...", 3);
    } else {
        *len += n;
    }
}

static void
s_add_key(char *buf, size_t size, size_t *len, const char *key)
{
    char shown[S_FOUND_MAX];
    if (*len > 0)
        s_add(buf, size, len, ".");
    s_add(buf, size, len, sl_log_str(key, strlen(key), shown, sizeof shown));
}

static void
s_add_path(const sl_cfg_node_t *node, char *buf, size_t size, size_t *len)
{
    const sl_cfg_node_t *parent = node->parent;
    if (parent == NULL)
        return;
    s_add_path(parent, buf, size, len);
    if (parent->kind == SL_CFG_MAP) {
        s_add_key(buf, size, len, parent->keys[node->index]);
    } else {
        char index[32];
        snprintf(index, sizeof index, "[%zu]", node->index);
        s_add(buf, size, len, index);
    }
}

const char *
sl_cfg_node_path(const sl_cfg_node_t *node, char *buf, size_t size)
{
    assert(buf && size > 0);
    size_t len = 0;
    buf[0] = '\0';
    if (node)
        s_add_path(node, buf, size, &len);
    return buf;
}

bool
sl_cfg_is_null(const sl_cfg_node_t *node)
{
    if (node == NULL || node->kind != SL_CFG_SCALAR || !node->plain)
        return false;
    const char *t = node->text;
    return t[0] == '\0' || strcmp(t, "~") == 0 || strcmp(t, "null") == 0 ||
           strcmp(t, "Null") == 0 || strcmp(t, "NULL") == 0;
}

/* s_found - NODE as a message shows it: "text", a map, a list, nothing. */
static const char *
s_found(const sl_cfg_node_t *node, char *buf, size_t size)
{
    if (node->kind == SL_CFG_MAP)
        return "a map";
    if (node->kind == SL_CFG_SEQ)
        return "a list";
    if (sl_cfg_is_null(node))
        return "nothing";
    char shown[S_FOUND_MAX];
    snprintf(buf, size, "\"%s\"", sl_log_str(node->text, strlen(node->text), shown, sizeof shown));
    return buf;
}

void
sl_cfg_expected(sl_cfg_t *self, const sl_cfg_node_t *node, const char *fmt, ...)
{
    assert(self && node);
    char what[S_LINE_MAX / 2], path[S_PATH_MAX], found[S_FOUND_MAX + 2];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (n < 0)
        what[0] = '\0';
    sl_cfg_node_path(node, path, sizeof path);
    s_error_at(self, sl_cfg_line(node), "%s: expected %s, found %s", path[0] ? path : "(top)", what,
               s_found(node, found, sizeof found));
}

/* ---- the tree ---- */

static void
s_node_free(sl_cfg_node_t *node)
{
    if (node == NULL)
        return;
    for (size_t i = 0; i < node->count; i++) {
        s_node_free(node->items[i]);
        if (node->keys)
            free(node->keys[i]);
    }
    free(node->items);
    free(node->keys);
    free(node->key_lines);
    free(node->text);
    free(node);
}

void
sl_cfg_destroy(sl_cfg_t **self_p)
{
    assert(self_p);
    sl_cfg_t *self = *self_p;
    if (self == NULL)
        return;
    s_node_free(self->root);
    free(self->errors);
    free(self->path);
    free(self);
    *self_p = NULL;
}

const sl_cfg_node_t *
sl_cfg_root(const sl_cfg_t *self)
{
    assert(self);
    return self->root;
}

const char *
sl_cfg_path(const sl_cfg_t *self)
{
    assert(self);
    return self->path;
}

sl_cfg_kind_t
sl_cfg_kind(const sl_cfg_node_t *node)
{
    assert(node);
    return node->kind;
}

int
sl_cfg_line(const sl_cfg_node_t *node)
{
    if (node == NULL)
        return 0;
    /* A block map or list under a key starts on the next line; people look
     * for the key. */
    if (node->parent && node->parent->kind == SL_CFG_MAP)
        return node->parent->key_lines[node->index];
    return node->line;
}

const char *
sl_cfg_scalar(const sl_cfg_node_t *node)
{
    return node && node->kind == SL_CFG_SCALAR ? node->text : NULL;
}

size_t
sl_cfg_count(const sl_cfg_node_t *node)
{
    return node && node->kind != SL_CFG_SCALAR ? node->count : 0;
}

const sl_cfg_node_t *
sl_cfg_at(const sl_cfg_node_t *node, size_t index)
{
    if (node == NULL || node->kind == SL_CFG_SCALAR || index >= node->count)
        return NULL;
    return node->items[index];
}

const char *
sl_cfg_key_at(const sl_cfg_node_t *node, size_t index)
{
    if (node == NULL || node->kind != SL_CFG_MAP || index >= node->count)
        return NULL;
    return node->keys[index];
}

/* s_lookup - value of the key spelled by LEN bytes of KEY in MAP, or NULL. */
static const sl_cfg_node_t *
s_lookup(const sl_cfg_node_t *map, const char *key, size_t len)
{
    if (map == NULL || map->kind != SL_CFG_MAP)
        return NULL;
    for (size_t i = 0; i < map->count; i++)
        if (strncmp(map->keys[i], key, len) == 0 && map->keys[i][len] == '\0')
            return map->items[i];
    return NULL;
}

const sl_cfg_node_t *
sl_cfg_get(const sl_cfg_node_t *node, const char *key)
{
    assert(key);
    for (;;) {
        const char *dot = strchr(key, '.');
        size_t len = dot ? (size_t) (dot - key) : strlen(key);
        node = s_lookup(node, key, len);
        if (dot == NULL || node == NULL)
            return node;
        key = dot + 1;
    }
}

/* ---- building the tree from libyaml's events ---- */

typedef struct {
    sl_cfg_t *cfg;
    const char *text;                      /* input, for lines of reader errors */
    size_t len;                            /* input bytes */
    sl_cfg_node_t *open[SL_CFG_DEPTH_MAX]; /* maps and sequences not yet ended */
    size_t depth;                          /* entries in open */
    char *key[SL_CFG_DEPTH_MAX];           /* per open map: key waiting for its value */
    int key_line[SL_CFG_DEPTH_MAX];        /* line of that key */
    int documents;                         /* documents started */
    bool stop;                             /* a mistake that ends the parse */
} s_builder_t;

static int
s_event_line(const yaml_event_t *event)
{
    size_t line = event->start_mark.line;
    return line >= (size_t) INT_MAX ? INT_MAX : (int) line + 1;
}

__attribute__((format(printf, 3, 4))) static void
s_fatal(s_builder_t *b, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vadd_error(b->cfg, line, fmt, ap);
    va_end(ap);
    b->stop = true;
}

/* s_count_node - one more node or key; false (and the parse ends) past the cap. */
static bool
s_count_node(s_builder_t *b, int line)
{
    if (b->cfg->node_count >= SL_CFG_NODES_MAX) {
        s_fatal(b, line, "expected at most %d values and keys, found more", SL_CFG_NODES_MAX);
        return false;
    }
    b->cfg->node_count++;
    return true;
}

/* s_refuse_extras - anchors and tags are recorded as mistakes; the node is kept. */
static void
s_refuse_extras(s_builder_t *b, int line, const yaml_char_t *anchor, const yaml_char_t *tag)
{
    char shown[S_FOUND_MAX];
    if (anchor) {
        const char *a = (const char *) anchor;
        s_error_at(b->cfg, line, "expected plain values, found an anchor &%s (not supported)",
                   sl_log_str(a, strlen(a), shown, sizeof shown));
    }
    if (tag) {
        const char *t = (const char *) tag;
        s_error_at(b->cfg, line, "expected plain values, found a tag %s (not supported)",
                   sl_log_str(t, strlen(t), shown, sizeof shown));
    }
}

/* s_attach - NODE becomes the root, the next sequence entry or the value of
 * the waiting key; takes NODE. */
static void
s_attach(s_builder_t *b, sl_cfg_node_t *node)
{
    if (b->depth == 0) {
        assert(b->cfg->root == NULL);
        b->cfg->root = node;
        return;
    }
    size_t level = b->depth - 1;
    sl_cfg_node_t *parent = b->open[level];
    if (parent->count == parent->cap) {
        parent->cap = parent->cap ? parent->cap * 2 : 4;
        parent->items = sl_xrealloc(parent->items, parent->cap * sizeof *parent->items);
        if (parent->kind == SL_CFG_MAP) {
            parent->keys = sl_xrealloc(parent->keys, parent->cap * sizeof *parent->keys);
            parent->key_lines =
                sl_xrealloc(parent->key_lines, parent->cap * sizeof *parent->key_lines);
        }
    }
    if (parent->kind == SL_CFG_MAP) {
        assert(b->key[level]);
        parent->keys[parent->count] = b->key[level];
        parent->key_lines[parent->count] = b->key_line[level];
        b->key[level] = NULL;
    }
    node->parent = parent;
    node->index = parent->count;
    parent->items[parent->count++] = node;
}

/* s_wants_key - true when the innermost open node is a map waiting for a key. */
static bool
s_wants_key(const s_builder_t *b)
{
    return b->depth > 0 && b->open[b->depth - 1]->kind == SL_CFG_MAP &&
           b->key[b->depth - 1] == NULL;
}

static sl_cfg_node_t *
s_node_new(sl_cfg_kind_t kind, int line)
{
    sl_cfg_node_t *node = sl_xcalloc(1, sizeof *node);
    node->kind = kind;
    node->line = line;
    return node;
}

static void
s_on_scalar(s_builder_t *b, const yaml_event_t *event)
{
    int line = s_event_line(event);
    const char *value = (const char *) event->data.scalar.value;
    size_t len = event->data.scalar.length;
    if (!s_count_node(b, line))
        return;
    s_refuse_extras(b, line, event->data.scalar.anchor, event->data.scalar.tag);
    if (memchr(value, '\0', len) != NULL) {
        /* "\0" in a double-quoted string: every consumer reads C strings. */
        s_error_at(b->cfg, line, "expected text, found a NUL character (\\0)");
        len = strlen(value);
    }
    if (s_wants_key(b)) {
        b->key[b->depth - 1] = sl_xstrndup(value, len);
        b->key_line[b->depth - 1] = line;
        return;
    }
    sl_cfg_node_t *node = s_node_new(SL_CFG_SCALAR, line);
    node->text = sl_xstrndup(value, len);
    node->plain = event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    s_attach(b, node);
}

static void
s_on_alias(s_builder_t *b, const yaml_event_t *event)
{
    int line = s_event_line(event);
    const char *anchor = (const char *) event->data.alias.anchor;
    char shown[S_FOUND_MAX];
    if (s_wants_key(b)) {
        s_fatal(b, line, "expected a plain key, found an alias *%s (not supported)",
                sl_log_str(anchor, strlen(anchor), shown, sizeof shown));
        return;
    }
    if (!s_count_node(b, line))
        return;
    s_error_at(b->cfg, line, "expected plain values, found an alias *%s (not supported)",
               sl_log_str(anchor, strlen(anchor), shown, sizeof shown));
    /* Keep the shape of the document so that later mistakes are still found. */
    sl_cfg_node_t *node = s_node_new(SL_CFG_SCALAR, line);
    node->text = sl_xstrdup("");
    node->plain = true;
    s_attach(b, node);
}

static void
s_on_start(s_builder_t *b, const yaml_event_t *event, sl_cfg_kind_t kind)
{
    int line = s_event_line(event);
    const char *what = kind == SL_CFG_MAP ? "a map" : "a list";
    if (s_wants_key(b)) {
        s_fatal(b, line, "expected a plain key, found %s used as a key", what);
        return;
    }
    if (b->depth == SL_CFG_DEPTH_MAX) {
        s_fatal(b, line, "expected at most %d levels of nesting, found more", SL_CFG_DEPTH_MAX);
        return;
    }
    if (!s_count_node(b, line))
        return;
    if (kind == SL_CFG_MAP)
        s_refuse_extras(b, line, event->data.mapping_start.anchor, event->data.mapping_start.tag);
    else
        s_refuse_extras(b, line, event->data.sequence_start.anchor, event->data.sequence_start.tag);
    sl_cfg_node_t *node = s_node_new(kind, line);
    s_attach(b, node);
    b->key[b->depth] = NULL;
    b->open[b->depth++] = node;
}

typedef struct {
    const char *key; /* borrowed from the map */
    size_t index;    /* entry in the map */
} s_key_ref_t;

static int
s_key_ref_cmp(const void *a, const void *b)
{
    const s_key_ref_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c != 0)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* s_check_duplicates - each repeated key of MAP is a mistake, reported in file
 * order; sorting keeps a 100,000-key map from costing n^2 comparisons. */
static void
s_check_duplicates(sl_cfg_t *cfg, const sl_cfg_node_t *map)
{
    if (map->count < 2)
        return;
    s_key_ref_t *refs = sl_xcalloc(map->count, sizeof *refs);
    size_t *first = sl_xcalloc(map->count, sizeof *first); /* 1 + first index, 0 = unique */
    for (size_t i = 0; i < map->count; i++)
        refs[i] = (s_key_ref_t){.key = map->keys[i], .index = i};
    qsort(refs, map->count, sizeof *refs, s_key_ref_cmp);
    size_t run = 0;
    for (size_t i = 1; i < map->count; i++) {
        if (strcmp(refs[i].key, refs[run].key) != 0)
            run = i;
        else
            first[refs[i].index] = refs[run].index + 1;
    }
    for (size_t i = 0; i < map->count; i++) {
        if (first[i] == 0)
            continue;
        char path[S_PATH_MAX];
        s_error_at(
            cfg, map->key_lines[i], "%s: expected each key once, found it again (first at line %d)",
            sl_cfg_node_path(map->items[i], path, sizeof path), map->key_lines[first[i] - 1]);
    }
    free(first);
    free(refs);
}

static void
s_on_end(s_builder_t *b)
{
    assert(b->depth > 0);
    sl_cfg_node_t *node = b->open[--b->depth];
    free(b->key[b->depth]);
    b->key[b->depth] = NULL;
    if (node->kind == SL_CFG_MAP)
        s_check_duplicates(b->cfg, node);
}

/* s_syntax_error - libyaml's complaint, with the line it points at. */
static void
s_syntax_error(s_builder_t *b, const yaml_parser_t *parser)
{
    size_t line0 = parser->problem_mark.line;
    if (parser->error == YAML_READER_ERROR) {
        /* Reader errors carry a byte offset, not a mark. */
        size_t end = parser->problem_offset < b->len ? parser->problem_offset : b->len;
        line0 = 0;
        for (size_t i = 0; i < end; i++)
            line0 += b->text[i] == '\n';
    }
    int line = line0 >= (size_t) INT_MAX ? INT_MAX : (int) line0 + 1;
    const char *problem = parser->problem ? parser->problem : "unknown error";
    if (parser->error == YAML_MEMORY_ERROR)
        problem = "out of memory";
    if (parser->context)
        s_fatal(b, line, "expected valid YAML, found a syntax error: %s (%s at line %zu)", problem,
                parser->context, parser->context_mark.line + 1);
    else
        s_fatal(b, line, "expected valid YAML, found a syntax error: %s", problem);
}

static void
s_on_event(s_builder_t *b, const yaml_event_t *event)
{
    switch (event->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (b->documents++ > 0)
            s_fatal(b, s_event_line(event), "expected one YAML document, found a second one (---)");
        break;
    case YAML_SCALAR_EVENT:
        s_on_scalar(b, event);
        break;
    case YAML_ALIAS_EVENT:
        s_on_alias(b, event);
        break;
    case YAML_MAPPING_START_EVENT:
        s_on_start(b, event, SL_CFG_MAP);
        break;
    case YAML_SEQUENCE_START_EVENT:
        s_on_start(b, event, SL_CFG_SEQ);
        break;
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        s_on_end(b);
        break;
    default: /* stream start and end, document end */
        break;
    }
}

sl_cfg_t *
sl_cfg_parse(const char *text, size_t len, const char *name, char *err, size_t errlen)
{
    assert(text || len == 0);
    sl_cfg_t *self = sl_xcalloc(1, sizeof *self);
    self->path = sl_xstrdup(name ? name : "(string)");
    if (len > SL_CFG_BYTES_MAX) {
        s_error_at(self, 0, "expected at most %u bytes, found %zu", SL_CFG_BYTES_MAX, len);
        s_copy_out(err, errlen, sl_cfg_errors(self));
        sl_cfg_destroy(&self);
        return NULL;
    }
    s_builder_t b = {.cfg = self, .text = text, .len = len};
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        sl_panic("yaml_parser_initialize: out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *) (text ? text : ""), len);
    for (bool done = false; !done && !b.stop;) {
        yaml_event_t event;
        if (!yaml_parser_parse(&parser, &event)) {
            s_syntax_error(&b, &parser);
            break;
        }
        s_on_event(&b, &event);
        done = event.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&parser);
    for (size_t i = 0; i < SL_CFG_DEPTH_MAX; i++)
        free(b.key[i]);
    if (self->error_count > 0) {
        s_copy_out(err, errlen, sl_cfg_errors(self));
        sl_cfg_destroy(&self);
        return NULL;
    }
    s_copy_out(err, errlen, "");
    return self;
}

sl_cfg_t *
sl_cfg_load(const char *path, char *err, size_t errlen)
{
    assert(path);
    char reason[512], why[64];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(reason, sizeof reason, "%s: cannot open: %s", path,
                 strerror_r(errno, why, sizeof why));
        s_copy_out(err, errlen, reason);
        return NULL;
    }
    /* Read one byte past the cap so that an over-long file is refused, not cut. */
    size_t cap = SL_CFG_BYTES_MAX + 1, len = 0;
    char *text = sl_xmalloc(cap);
    while (len < cap) {
        ssize_t n = read(fd, text + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(reason, sizeof reason, "%s: cannot read: %s", path,
                     strerror_r(errno, why, sizeof why));
            s_copy_out(err, errlen, reason);
            free(text);
            close(fd);
            return NULL;
        }
        if (n == 0)
            break;
        len += (size_t) n;
    }
    close(fd);
    sl_cfg_t *self = sl_cfg_parse(text, len, path, err, errlen);
    free(text);
    return self;
}
