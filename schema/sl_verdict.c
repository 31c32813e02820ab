/*
 * schema/sl_verdict.c - one stage's verdict: symbols, fields, results, parts,
 * and its msgpack codec (wire format: schema/README.md, "verdict").
 *
 * Verdicts arrive from workers, which may be buggy or hostile: decoding checks
 * type and bound of every known key, skips unknown ones and refuses the rest.
 * Free-form stage fields and part metadata are kept as canonical msgpack.
 * Tests: tests/unit/test_sl_env.c, tests/fuzz/fuzz_sl_env.c
 */
#include "sl_schema_int.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void *
sl_schema_grow(void *ptr, size_t count, size_t elem)
{
    if (count != 0 && (count & (count - 1)) != 0)
        return ptr;
    size_t cap = count ? count * 2 : 1;
    assert(cap <= SIZE_MAX / elem);
    return sl_xrealloc(ptr, cap * elem);
}

void *
sl_schema_alloc(size_t count, size_t elem)
{
    size_t cap = 1;
    while (cap < count)
        cap *= 2;
    return sl_xcalloc(cap, elem);
}

char *
sl_schema_dup_text(const char *s)
{
    if (s == NULL || s[0] == '\0')
        return NULL;
    size_t n = strnlen(s, SL_ENV_STR_MAX + 1);
    if (n > SL_ENV_STR_MAX) {
        /* Step back over continuation bytes so no character is cut in two. */
        n = SL_ENV_STR_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    return sl_xstrndup(s, n);
}

bool
sl_schema_is_name(const char *p, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

size_t
sl_schema_cname(const char *s, size_t max)
{
    if (s == NULL)
        return 0;
    size_t len = strnlen(s, max + 1);
    return sl_schema_is_name(s, len, max) ? len : 0;
}

/* s_is_symbol - 1..SL_ENV_NAME_MAX bytes of [A-Z0-9_]. */
static bool
s_is_symbol(const char *p, size_t len)
{
    if (len == 0 || len > SL_ENV_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
            return false;
    return true;
}

/* s_is_field_key - 1..SL_ENV_NAME_MAX bytes, no NUL. */
static bool
s_is_field_key(const char *p, size_t len)
{
    return len > 0 && len <= SL_ENV_NAME_MAX && memchr(p, '\0', len) == NULL;
}

static const char *
s_text(const char *s)
{
    return s ? s : "";
}

/* --- part metadata --- */

static const char *const s_part_keys[] = {"path", "size"};

/* Decoding state of one metadata map. */
typedef struct {
    sl_part_t *part; /* being filled */
    bool has_size;   /* "size" seen */
} s_meta_ctx_t;

static int
s_part_key(void *ctx, size_t index, const msgpack_object *val, const char **why)
{
    s_meta_ctx_t *meta = ctx;
    uint64_t size;
    if (index == 0) {
        if (sl_mp_get_cstr(val, SL_ENV_STR_MAX, &meta->part->path) != 0 ||
            meta->part->path[0] == '\0')
            return sl_fail(why, "part path is not a string of 1..1024 bytes without NUL");
        return 0;
    }
    if (sl_mp_get_uint(val, &size) != 0)
        return sl_fail(why, "part size is not an unsigned integer");
    meta->has_size = true;
    return 0;
}

int
sl_part_from_object(sl_part_t *part, const msgpack_object *meta, const char **why)
{
    *part = (sl_part_t){0};
    if (meta->type != MSGPACK_OBJECT_MAP)
        return sl_fail(why, "part metadata is not a map");
    if (sl_mp_depth(meta) > SL_ENV_DEPTH_MAX)
        return sl_fail(why, "part metadata is nested too deep");
    s_meta_ctx_t ctx = {.part = part};
    int rc = sl_mp_map_known(meta, s_part_keys, 2, s_part_key, &ctx,
                             "part metadata has a duplicate key", why);
    if (rc == 0 && (part->path == NULL || !ctx.has_size))
        rc = sl_fail(why, "part metadata lacks path or size");
    if (rc != 0) {
        sl_part_clear(part);
        return -1;
    }
    sl_mp_buf_t buf = {0};
    msgpack_packer pk = sl_mp_packer(&buf);
    msgpack_pack_object(&pk, *meta);
    part->meta = buf.ptr;
    part->meta_len = buf.len;
    return 0;
}

void
sl_part_copy(sl_part_t *dst, const sl_part_t *src, bool with_data)
{
    *dst = (sl_part_t){
        .path = sl_xstrdup(src->path),
        .meta = sl_xmemdup(src->meta, src->meta_len),
        .meta_len = src->meta_len,
    };
    if (with_data && src->data) {
        dst->data = sl_xmemdup(src->data, src->data_len);
        dst->data_len = src->data_len;
    }
}

void
sl_part_clear(sl_part_t *part)
{
    free(part->path);
    free(part->meta);
    free(part->data);
    *part = (sl_part_t){0};
}

/* --- verdict --- */

sl_verdict_t *
sl_verdict_new(const char *stage)
{
    size_t len = sl_schema_cname(stage, SL_ENV_NAME_MAX);
    if (len == 0)
        return NULL;
    sl_verdict_t *self = sl_xcalloc(1, sizeof *self);
    memcpy(self->stage, stage, len + 1);
    return self;
}

void
sl_verdict_destroy(sl_verdict_t **self_p)
{
    assert(self_p);
    sl_verdict_t *self = *self_p;
    if (self == NULL)
        return;
    free(self->version);
    free(self->rules_version);
    free(self->worker);
    free(self->error);
    for (size_t i = 0; i < self->symbol_count; i++)
        free(self->symbols[i].info);
    free(self->symbols);
    for (size_t i = 0; i < self->field_count; i++)
        free(self->fields[i].value);
    free(self->fields);
    free(self->classification);
    for (size_t i = 0; i < self->action_count; i++)
        free(self->actions[i]);
    free(self->actions);
    for (size_t i = 0; i < self->part_count; i++)
        sl_part_clear(&self->parts[i]);
    free(self->parts);
    free(self);
    *self_p = NULL;
}

sl_verdict_t *
sl_verdict_dup(const sl_verdict_t *self)
{
    assert(self);
    sl_verdict_t *copy = sl_xmemdup(self, sizeof *self);
    copy->version = sl_xstrdup(self->version);
    copy->rules_version = sl_xstrdup(self->rules_version);
    copy->worker = sl_xstrdup(self->worker);
    copy->error = sl_xstrdup(self->error);
    copy->symbols = sl_schema_alloc(self->symbol_count, sizeof *self->symbols);
    if (self->symbol_count)
        memcpy(copy->symbols, self->symbols, self->symbol_count * sizeof *self->symbols);
    for (size_t i = 0; i < self->symbol_count; i++)
        copy->symbols[i].info = sl_xstrdup(self->symbols[i].info);
    copy->fields = sl_schema_alloc(self->field_count, sizeof *self->fields);
    if (self->field_count)
        memcpy(copy->fields, self->fields, self->field_count * sizeof *self->fields);
    for (size_t i = 0; i < self->field_count; i++)
        copy->fields[i].value = sl_xmemdup(self->fields[i].value, self->fields[i].len);
    copy->classification = sl_xstrdup(self->classification);
    copy->actions = sl_xcalloc(self->action_count, sizeof *copy->actions);
    for (size_t i = 0; i < self->action_count; i++)
        copy->actions[i] = sl_xstrdup(self->actions[i]);
    copy->parts = sl_schema_alloc(self->part_count, sizeof *copy->parts);
    for (size_t i = 0; i < self->part_count; i++)
        sl_part_copy(&copy->parts[i], &self->parts[i], true);
    return copy;
}

/* s_symbol_find - index of symbol NAME (LEN bytes), or symbol_count. */
static size_t
s_symbol_find(const sl_verdict_t *self, const char *name, size_t len)
{
    size_t i = 0;
    while (i < self->symbol_count &&
           !(strlen(self->symbols[i].name) == len && memcmp(self->symbols[i].name, name, len) == 0))
        i++;
    return i;
}

/* s_symbol_put - adds or replaces; NAME was checked; takes INFO. */
static int
s_symbol_put(sl_verdict_t *self, const char *name, size_t len, double score, char *info)
{
    size_t i = s_symbol_find(self, name, len);
    if (i == self->symbol_count) {
        if (self->symbol_count == SL_VERDICT_SYMBOLS_MAX) {
            free(info);
            return -1;
        }
        self->symbols = sl_schema_grow(self->symbols, self->symbol_count, sizeof *self->symbols);
        self->symbols[self->symbol_count++] = (sl_symbol_t){0};
        memcpy(self->symbols[i].name, name, len);
        self->symbols[i].name[len] = '\0';
    }
    free(self->symbols[i].info);
    self->symbols[i].score = score;
    self->symbols[i].info = info;
    return 0;
}

int
sl_verdict_symbol(sl_verdict_t *self, const char *name, double score, const char *info)
{
    assert(self && name);
    size_t len = strnlen(name, SL_ENV_NAME_MAX + 1);
    if (!s_is_symbol(name, len) || !isfinite(score))
        return -1;
    return s_symbol_put(self, name, len, score, sl_schema_dup_text(info));
}

size_t
sl_verdict_symbol_count(const sl_verdict_t *self)
{
    return self->symbol_count;
}

int
sl_verdict_symbol_at(const sl_verdict_t *self, size_t index, const char **name, double *score,
                     const char **info)
{
    if (index >= self->symbol_count)
        return -1;
    if (name)
        *name = self->symbols[index].name;
    if (score)
        *score = self->symbols[index].score;
    if (info)
        *info = s_text(self->symbols[index].info);
    return 0;
}

bool
sl_verdict_has_symbol(const sl_verdict_t *self, const char *name)
{
    return s_symbol_find(self, name, strlen(name)) < self->symbol_count;
}

const char *
sl_verdict_stage(const sl_verdict_t *self)
{
    return self->stage;
}

/* s_set_text - replaces *slot with a bounded copy of S. */
static void
s_set_text(char **slot, const char *s)
{
    free(*slot);
    *slot = sl_schema_dup_text(s);
}

void
sl_verdict_set_versions(sl_verdict_t *self, const char *stage_version, const char *rules_version)
{
    s_set_text(&self->version, stage_version);
    s_set_text(&self->rules_version, rules_version);
}

const char *
sl_verdict_version(const sl_verdict_t *self)
{
    return s_text(self->version);
}

const char *
sl_verdict_rules_version(const sl_verdict_t *self)
{
    return s_text(self->rules_version);
}

void
sl_verdict_set_ms(sl_verdict_t *self, double ms)
{
    assert(isfinite(ms) && ms >= 0);
    self->ms = ms;
}

double
sl_verdict_ms(const sl_verdict_t *self)
{
    return self->ms;
}

void
sl_verdict_set_worker(sl_verdict_t *self, const char *worker)
{
    s_set_text(&self->worker, worker);
}

const char *
sl_verdict_worker(const sl_verdict_t *self)
{
    return s_text(self->worker);
}

void
sl_verdict_set_attempts(sl_verdict_t *self, unsigned attempts)
{
    self->attempts = attempts;
}

unsigned
sl_verdict_attempts(const sl_verdict_t *self)
{
    return self->attempts;
}

void
sl_verdict_set_error(sl_verdict_t *self, const char *error)
{
    s_set_text(&self->error, error);
}

const char *
sl_verdict_error(const sl_verdict_t *self)
{
    return s_text(self->error);
}

/* --- stage fields --- */

static size_t
s_field_find(const sl_verdict_t *self, const char *key, size_t len)
{
    size_t i = 0;
    while (i < self->field_count &&
           !(strlen(self->fields[i].key) == len && memcmp(self->fields[i].key, key, len) == 0))
        i++;
    return i;
}

/* s_field_put - adds or replaces KEY (LEN bytes, checked) with the canonical
 * bytes in BUF, which it takes. */
static int
s_field_put(sl_verdict_t *self, const char *key, size_t len, sl_mp_buf_t *buf)
{
    size_t i = s_field_find(self, key, len);
    if (i == self->field_count) {
        if (self->field_count == SL_VERDICT_FIELDS_MAX) {
            free(buf->ptr);
            return -1;
        }
        self->fields = sl_schema_grow(self->fields, self->field_count, sizeof *self->fields);
        self->fields[self->field_count++] = (sl_field_t){0};
        memcpy(self->fields[i].key, key, len);
        self->fields[i].key[len] = '\0';
    }
    free(self->fields[i].value);
    self->fields[i].value = buf->ptr;
    self->fields[i].len = buf->len;
    return 0;
}

/* s_field_begin - checks KEY and starts a packer for its value. */
static int
s_field_begin(const char *key, size_t *len, sl_mp_buf_t *buf, msgpack_packer *pk)
{
    *len = strnlen(key, SL_ENV_NAME_MAX + 1);
    if (!s_is_field_key(key, *len))
        return -1;
    *buf = (sl_mp_buf_t){0};
    *pk = sl_mp_packer(buf);
    return 0;
}

/* One value of the typed sl_verdict_field_* setters. */
typedef struct {
    enum { S_FIELD_STR, S_FIELD_INT, S_FIELD_DOUBLE, S_FIELD_BOOL } type; /* which member */
    const char *s;                                                        /* S_FIELD_STR */
    int64_t i;                                                            /* S_FIELD_INT */
    double d;                                                             /* S_FIELD_DOUBLE */
    bool b;                                                               /* S_FIELD_BOOL */
} s_scalar_t;

static int
s_field_scalar(sl_verdict_t *self, const char *key, s_scalar_t value)
{
    sl_mp_buf_t buf;
    msgpack_packer pk;
    size_t len;
    if ((value.type == S_FIELD_STR && value.s == NULL) || s_field_begin(key, &len, &buf, &pk) != 0)
        return -1;
    switch (value.type) {
    case S_FIELD_STR:
        sl_mp_pack_str(&pk, value.s);
        break;
    case S_FIELD_INT:
        msgpack_pack_int64(&pk, value.i);
        break;
    case S_FIELD_DOUBLE:
        msgpack_pack_double(&pk, value.d);
        break;
    case S_FIELD_BOOL:
        value.b ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
        break;
    }
    return s_field_put(self, key, len, &buf);
}

int
sl_verdict_field_str(sl_verdict_t *self, const char *key, const char *value)
{
    return s_field_scalar(self, key, (s_scalar_t){.type = S_FIELD_STR, .s = value});
}

int
sl_verdict_field_int(sl_verdict_t *self, const char *key, int64_t value)
{
    return s_field_scalar(self, key, (s_scalar_t){.type = S_FIELD_INT, .i = value});
}

int
sl_verdict_field_double(sl_verdict_t *self, const char *key, double value)
{
    return s_field_scalar(self, key, (s_scalar_t){.type = S_FIELD_DOUBLE, .d = value});
}

int
sl_verdict_field_bool(sl_verdict_t *self, const char *key, bool value)
{
    return s_field_scalar(self, key, (s_scalar_t){.type = S_FIELD_BOOL, .b = value});
}

int
sl_verdict_field_raw(sl_verdict_t *self, const char *key, const void *msgpack, size_t len)
{
    sl_mp_buf_t buf;
    msgpack_packer pk;
    size_t key_len;
    if (msgpack == NULL || len > SL_VERDICT_BYTES_MAX ||
        s_field_begin(key, &key_len, &buf, &pk) != 0 ||
        sl_mp_canon(msgpack, len, SL_ENV_DEPTH_MAX, &buf, NULL) != 0) {
        free(buf.ptr);
        return -1;
    }
    return s_field_put(self, key, key_len, &buf);
}

sl_slice_t
sl_verdict_field(const sl_verdict_t *self, const char *key)
{
    size_t i = s_field_find(self, key, strlen(key));
    if (i == self->field_count)
        return (sl_slice_t){0};
    return (sl_slice_t){.ptr = self->fields[i].value, .len = self->fields[i].len};
}

char *
sl_verdict_field_get_str(const sl_verdict_t *self, const char *key)
{
    sl_slice_t raw = sl_verdict_field(self, key);
    msgpack_unpacked value;
    char *s = NULL;
    if (raw.len && sl_mp_unpack(raw.ptr, raw.len, SL_ENV_DEPTH_MAX, &value, NULL) == 0)
        sl_mp_get_cstr(&value.data, SIZE_MAX, &s);
    if (raw.len)
        msgpack_unpacked_destroy(&value);
    return s;
}

/* --- results --- */

void
sl_verdict_set_score(sl_verdict_t *self, double score)
{
    assert(isfinite(score));
    self->has_score = true;
    self->score = score;
}

int
sl_verdict_set_classification(sl_verdict_t *self, const char *classification)
{
    size_t len = sl_schema_cname(classification, SL_ENV_NAME_MAX);
    if (len == 0)
        return -1;
    free(self->classification);
    self->classification = sl_xstrndup(classification, len);
    return 0;
}

/* s_action_put - sets action INDEX (< SL_ENV_RCPTS_MAX); takes ACTION. */
static void
s_action_put(sl_verdict_t *self, size_t index, char *action)
{
    if (index >= self->action_count) {
        self->actions = sl_xrealloc(self->actions, (index + 1) * sizeof *self->actions);
        memset(self->actions + self->action_count, 0,
               (index + 1 - self->action_count) * sizeof *self->actions);
        self->action_count = index + 1;
    }
    free(self->actions[index]);
    self->actions[index] = action;
}

int
sl_verdict_set_action(sl_verdict_t *self, size_t rcpt_index, const char *action)
{
    size_t len = sl_schema_cname(action, SL_ENV_NAME_MAX);
    if (rcpt_index >= SL_ENV_RCPTS_MAX || len == 0)
        return -1;
    s_action_put(self, rcpt_index, sl_xstrndup(action, len));
    return 0;
}

/* --- parts --- */

int
sl_verdict_add_part(sl_verdict_t *self, const void *meta, size_t meta_len, const void *data,
                    size_t len)
{
    msgpack_unpacked value;
    sl_part_t part;
    if (self->part_count == SL_ENV_PARTS_MAX || meta == NULL || meta_len > SL_VERDICT_BYTES_MAX ||
        (data == NULL && len))
        return -1;
    int rc = sl_mp_unpack(meta, meta_len, SL_ENV_DEPTH_MAX, &value, NULL);
    if (rc == 0)
        rc = sl_part_from_object(&part, &value.data, NULL);
    msgpack_unpacked_destroy(&value);
    if (rc != 0)
        return -1;
    part.data = sl_xmemdup(data, len);
    part.data_len = len;
    self->parts = sl_schema_grow(self->parts, self->part_count, sizeof *self->parts);
    self->parts[self->part_count++] = part;
    return 0;
}

size_t
sl_verdict_part_count(const sl_verdict_t *self)
{
    return self->part_count;
}

sl_slice_t
sl_verdict_part_data(const sl_verdict_t *self, size_t index)
{
    assert(index < self->part_count);
    return (sl_slice_t){.ptr = self->parts[index].data, .len = self->parts[index].data_len};
}

void *
sl_verdict_take_part_data(sl_verdict_t *self, size_t index, size_t *len)
{
    assert(index < self->part_count);
    void *data = self->parts[index].data;
    *len = self->parts[index].data_len;
    self->parts[index].data = NULL;
    self->parts[index].data_len = 0;
    return data;
}

/* --- codec --- */

static const char *const s_verdict_keys[] = {
    "stage",   "version", "rules_version", "ms",     "worker", "attempts",
    "symbols", "error",   "fields",        "result", "parts",
};
enum {
    S_V_STAGE,
    S_V_VERSION,
    S_V_RULES_VERSION,
    S_V_MS,
    S_V_WORKER,
    S_V_ATTEMPTS,
    S_V_SYMBOLS,
    S_V_ERROR,
    S_V_FIELDS,
    S_V_RESULT,
    S_V_PARTS,
    S_V_COUNT
};

static const char *const s_symbol_keys[] = {"score", "info"};
static const char *const s_result_keys[] = {"score", "classification", "actions"};

/* s_text_key - an optional text of at most SL_ENV_STR_MAX bytes into *slot. */
static int
s_text_key(char **slot, const msgpack_object *val, const char *fail, const char **why)
{
    char *s;
    if (sl_mp_get_cstr(val, SL_ENV_STR_MAX, &s) != 0)
        return sl_fail(why, fail);
    free(*slot);
    *slot = s[0] ? s : NULL;
    if (*slot == NULL)
        free(s);
    return 0;
}

/* Decoding state of one symbol value. */
typedef struct {
    double score; /* "score" */
    char *info;   /* "info", NULL when absent or "" */
} s_symbol_ctx_t;

static int
s_symbol_key(void *ctx, size_t index, const msgpack_object *val, const char **why)
{
    s_symbol_ctx_t *sym = ctx;
    if (index == 0)
        return sl_mp_get_num(val, &sym->score) == 0
                   ? 0
                   : sl_fail(why, "symbol score is not a finite number");
    return s_text_key(&sym->info, val, "symbol info is not a string of at most 1024 bytes", why);
}

static int
s_decode_symbols(sl_verdict_t *self, const msgpack_object *map, const char **why)
{
    if (map->type != MSGPACK_OBJECT_MAP)
        return sl_fail(why, "verdict symbols is not a map");
    if (map->via.map.size > SL_VERDICT_SYMBOLS_MAX)
        return sl_fail(why, "verdict has more than 512 symbols");
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        sl_slice_t name;
        if (sl_mp_get_str(&kv->key, SL_ENV_NAME_MAX, &name) != 0 ||
            !s_is_symbol(name.ptr, name.len))
            return sl_fail(why, "symbol name is not 1..64 bytes of [A-Z0-9_]");
        if (s_symbol_find(self, name.ptr, name.len) < self->symbol_count)
            return sl_fail(why, "verdict has a duplicate symbol");
        if (kv->val.type != MSGPACK_OBJECT_MAP)
            return sl_fail(why, "symbol value is not a map");
        s_symbol_ctx_t sym = {0};
        if (sl_mp_map_known(&kv->val, s_symbol_keys, 2, s_symbol_key, &sym,
                            "symbol has a duplicate key", why) != 0) {
            free(sym.info);
            return -1;
        }
        s_symbol_put(self, name.ptr, name.len, sym.score, sym.info);
    }
    return 0;
}

static int
s_decode_fields(sl_verdict_t *self, const msgpack_object *map, const char **why)
{
    if (map->type != MSGPACK_OBJECT_MAP)
        return sl_fail(why, "verdict fields is not a map");
    if (map->via.map.size > SL_VERDICT_FIELDS_MAX)
        return sl_fail(why, "verdict has more than 128 fields");
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        sl_slice_t key;
        if (sl_mp_get_str(&kv->key, SL_ENV_NAME_MAX, &key) != 0 ||
            !s_is_field_key(key.ptr, key.len))
            return sl_fail(why, "field key is not a string of 1..64 bytes without NUL");
        if (s_field_find(self, key.ptr, key.len) < self->field_count)
            return sl_fail(why, "verdict has a duplicate field key");
        if (sl_mp_depth(&kv->val) > SL_ENV_DEPTH_MAX)
            return sl_fail(why, "field value is nested deeper than 16");
        sl_mp_buf_t buf = {0};
        msgpack_packer pk = sl_mp_packer(&buf);
        msgpack_pack_object(&pk, kv->val);
        s_field_put(self, key.ptr, key.len, &buf);
    }
    return 0;
}

static int
s_decode_actions(sl_verdict_t *self, const msgpack_object *array, const char **why)
{
    if (array->type != MSGPACK_OBJECT_ARRAY)
        return sl_fail(why, "result actions is not an array");
    if (array->via.array.size > SL_ENV_RCPTS_MAX)
        return sl_fail(why, "result has more than 1000 actions");
    for (uint32_t i = 0; i < array->via.array.size; i++) {
        sl_slice_t action;
        if (sl_mp_get_str(&array->via.array.ptr[i], SL_ENV_NAME_MAX, &action) != 0 ||
            (action.len && !sl_schema_is_name(action.ptr, action.len, SL_ENV_NAME_MAX)))
            return sl_fail(why, "result action is not \"\" or a name of [0-9A-Za-z._-]");
        s_action_put(self, i, action.len ? sl_xstrndup(action.ptr, action.len) : NULL);
    }
    return 0;
}

static int
s_result_key(void *ctx, size_t index, const msgpack_object *val, const char **why)
{
    sl_verdict_t *self = ctx;
    sl_slice_t class;
    switch (index) {
    case 0:
        if (sl_mp_get_num(val, &self->score) != 0)
            return sl_fail(why, "result score is not a finite number");
        self->has_score = true;
        return 0;
    case 1:
        if (sl_mp_get_str(val, SL_ENV_NAME_MAX, &class) != 0 ||
            (class.len && !sl_schema_is_name(class.ptr, class.len, SL_ENV_NAME_MAX)))
            return sl_fail(why, "result classification is not a name of [0-9A-Za-z._-]");
        if (class.len)
            self->classification = sl_xstrndup(class.ptr, class.len);
        return 0;
    default:
        return s_decode_actions(self, val, why);
    }
}

static int
s_decode_parts(sl_verdict_t *self, const msgpack_object *array, const char **why)
{
    if (array->type != MSGPACK_OBJECT_ARRAY)
        return sl_fail(why, "verdict parts is not an array");
    if (array->via.array.size > SL_ENV_PARTS_MAX)
        return sl_fail(why, "verdict has more than 10000 parts");
    for (uint32_t i = 0; i < array->via.array.size; i++) {
        self->parts = sl_schema_grow(self->parts, self->part_count, sizeof *self->parts);
        if (sl_part_from_object(&self->parts[self->part_count], &array->via.array.ptr[i], why) != 0)
            return -1;
        self->part_count++;
    }
    return 0;
}

/* Decoding state of one verdict map. */
typedef struct {
    sl_verdict_t *verdict;   /* being filled */
    const sl_slice_t *stage; /* key in the envelope's verdicts map, or NULL */
    bool has_stage;          /* "stage" seen */
} s_verdict_ctx_t;

static int
s_verdict_key(void *ctx, size_t index, const msgpack_object *val, const char **why)
{
    s_verdict_ctx_t *vc = ctx;
    sl_verdict_t *self = vc->verdict;
    sl_slice_t stage;
    uint64_t attempts;
    switch (index) {
    case S_V_STAGE:
        if (sl_mp_get_str(val, SL_ENV_NAME_MAX, &stage) != 0 ||
            !sl_schema_is_name(stage.ptr, stage.len, SL_ENV_NAME_MAX))
            return sl_fail(why, "verdict stage is not a name of [0-9A-Za-z._-]");
        if (vc->stage &&
            (vc->stage->len != stage.len || memcmp(vc->stage->ptr, stage.ptr, stage.len) != 0))
            return sl_fail(why, "verdict stage differs from its key in verdicts");
        memcpy(self->stage, stage.ptr, stage.len);
        self->stage[stage.len] = '\0';
        vc->has_stage = true;
        return 0;
    case S_V_VERSION:
        return s_text_key(&self->version, val,
                          "verdict version is not a string of at most 1024 bytes without NUL", why);
    case S_V_RULES_VERSION:
        return s_text_key(&self->rules_version, val,
                          "verdict rules_version is not a string of at most 1024 bytes without NUL",
                          why);
    case S_V_MS:
        if (sl_mp_get_num(val, &self->ms) != 0 || self->ms < 0)
            return sl_fail(why, "verdict ms is not a finite number >= 0");
        return 0;
    case S_V_WORKER:
        return s_text_key(&self->worker, val,
                          "verdict worker is not a string of at most 1024 bytes without NUL", why);
    case S_V_ATTEMPTS:
        if (sl_mp_get_uint(val, &attempts) != 0 || attempts > UINT_MAX)
            return sl_fail(why, "verdict attempts is not an unsigned integer");
        self->attempts = (unsigned)attempts;
        return 0;
    case S_V_SYMBOLS:
        return s_decode_symbols(self, val, why);
    case S_V_ERROR:
        return s_text_key(&self->error, val,
                          "verdict error is not a string of at most 1024 bytes without NUL", why);
    case S_V_FIELDS:
        return s_decode_fields(self, val, why);
    case S_V_RESULT:
        if (val->type != MSGPACK_OBJECT_MAP)
            return sl_fail(why, "verdict result is not a map");
        return sl_mp_map_known(val, s_result_keys, 3, s_result_key, self,
                               "verdict result has a duplicate key", why);
    default:
        return s_decode_parts(self, val, why);
    }
}

int
sl_verdict_from_object(const msgpack_object *o, const sl_slice_t *stage, sl_verdict_t **out,
                       const char **why)
{
    *out = NULL;
    if (o->type != MSGPACK_OBJECT_MAP)
        return sl_fail(why, "verdict is not a map");
    sl_verdict_t *self = sl_xcalloc(1, sizeof *self);
    s_verdict_ctx_t ctx = {.verdict = self, .stage = stage};
    if (stage) {
        /* The caller checked the key is a name. */
        memcpy(self->stage, stage->ptr, stage->len);
        ctx.has_stage = true;
    }
    if (sl_mp_map_known(o, s_verdict_keys, S_V_COUNT, s_verdict_key, &ctx,
                        "verdict has a duplicate key", why) != 0 ||
        (!ctx.has_stage && sl_fail(why, "verdict has no stage") != 0)) {
        sl_verdict_destroy(&self);
        return -1;
    }
    *out = self;
    return 0;
}

int
sl_verdict_decode(const void *buf, size_t len, sl_verdict_t **out, const char **why)
{
    msgpack_unpacked value;
    *out = NULL;
    if (len > SL_VERDICT_BYTES_MAX)
        return sl_fail(why, "verdict is larger than 1 MiB");
    int rc = sl_mp_unpack(buf, len, SL_SCHEMA_DEPTH_MAX, &value, why);
    if (rc == 0)
        rc = sl_verdict_from_object(&value.data, NULL, out, why);
    msgpack_unpacked_destroy(&value);
    return rc;
}

static void
s_pack_result(const sl_verdict_t *self, msgpack_packer *pk)
{
    msgpack_pack_map(pk, (size_t)self->has_score + (self->classification != NULL) +
                             (self->action_count > 0));
    if (self->has_score) {
        sl_mp_pack_str(pk, "score");
        msgpack_pack_double(pk, self->score);
    }
    if (self->classification) {
        sl_mp_pack_str(pk, "classification");
        sl_mp_pack_str(pk, self->classification);
    }
    if (self->action_count) {
        sl_mp_pack_str(pk, "actions");
        msgpack_pack_array(pk, self->action_count);
        for (size_t i = 0; i < self->action_count; i++)
            sl_mp_pack_str(pk, self->actions[i]);
    }
}

void
sl_verdict_pack(const sl_verdict_t *self, msgpack_packer *pk)
{
    bool has_result = self->has_score || self->classification || self->action_count;
    msgpack_pack_map(pk, 9 + (self->error != NULL) + has_result);
    sl_mp_pack_str(pk, "stage");
    sl_mp_pack_str(pk, self->stage);
    sl_mp_pack_str(pk, "version");
    sl_mp_pack_str(pk, self->version);
    sl_mp_pack_str(pk, "rules_version");
    sl_mp_pack_str(pk, self->rules_version);
    sl_mp_pack_str(pk, "ms");
    msgpack_pack_double(pk, self->ms);
    sl_mp_pack_str(pk, "worker");
    sl_mp_pack_str(pk, self->worker);
    sl_mp_pack_str(pk, "attempts");
    msgpack_pack_unsigned_int(pk, self->attempts);
    sl_mp_pack_str(pk, "symbols");
    msgpack_pack_map(pk, self->symbol_count);
    for (size_t i = 0; i < self->symbol_count; i++) {
        sl_mp_pack_str(pk, self->symbols[i].name);
        msgpack_pack_map(pk, 2);
        sl_mp_pack_str(pk, "score");
        msgpack_pack_double(pk, self->symbols[i].score);
        sl_mp_pack_str(pk, "info");
        sl_mp_pack_str(pk, self->symbols[i].info);
    }
    if (self->error) {
        sl_mp_pack_str(pk, "error");
        sl_mp_pack_str(pk, self->error);
    }
    sl_mp_pack_str(pk, "fields");
    msgpack_pack_map(pk, self->field_count);
    for (size_t i = 0; i < self->field_count; i++) {
        sl_mp_pack_str(pk, self->fields[i].key);
        sl_mp_pack_raw(pk, self->fields[i].value, self->fields[i].len);
    }
    if (has_result) {
        sl_mp_pack_str(pk, "result");
        s_pack_result(self, pk);
    }
    sl_mp_pack_str(pk, "parts");
    msgpack_pack_array(pk, self->part_count);
    for (size_t i = 0; i < self->part_count; i++)
        sl_mp_pack_raw(pk, self->parts[i].meta, self->parts[i].meta_len);
}

void *
sl_verdict_encode(const sl_verdict_t *self, size_t *len)
{
    sl_mp_buf_t buf = {0};
    msgpack_packer pk = sl_mp_packer(&buf);
    sl_verdict_pack(self, &pk);
    *len = buf.len;
    return buf.ptr;
}
