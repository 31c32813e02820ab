/*
 * schema/sl_env.c - the envelope v1: fields, verdict merging, queue ids and
 * the msgpack codec (wire format: schema/README.md, "envelope").
 *
 * Encoded envelopes come from sockets and are untrusted: decoding checks the
 * type and bound of every known key, skips unknown keys, refuses known keys
 * of the wrong type. Encoding is canonical: equal envelopes give equal bytes.
 * Tests: tests/unit/test_sl_env.c, tests/fuzz/fuzz_sl_env.c
 */
#include "sl_schema_int.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Longest textual IPv6 address, INET6_ADDRSTRLEN without its NUL. */
#define S_IP_MAX 45

struct sl_env {
    char id[SL_ENV_ID_MAX + 1];        /* queue id */
    sl_dir_t direction;                /* in or out */
    uint64_t uints[SL_ENV_UINT_COUNT]; /* received_at, client port, size */
    char *strs[SL_ENV_STR_COUNT];      /* NULL for "" */
    char **rcpts;                      /* envelope recipients, in RCPT order */
    size_t rcpt_count;                 /* used */
    char **actions;                    /* NULL, or one per rcpt (NULL entry: none yet) */
    bool has_score;                    /* score set */
    double score;                      /* total score */
    sl_verdict_t **verdicts;           /* one per stage, in the order added */
    size_t verdict_count;              /* used */
    sl_part_t *parts;                  /* metadata of decoded parts, frame order */
    size_t part_count;                 /* used */
};

/* String fields: where they sit on the wire and what they may hold. */
static const struct {
    const char *key; /* key in the envelope map, or in client when in_client */
    bool in_client;  /* lives in the client map */
    size_t max;      /* bytes */
    const char *why; /* refusal of a bad value */
} s_strs[SL_ENV_STR_COUNT] = {
    [SL_ENV_CLIENT_IP] = {"ip", true, S_IP_MAX, "client ip is not an IPv4 or IPv6 address"},
    [SL_ENV_CLIENT_RDNS] = {"rdns", true, SL_ENV_STR_MAX,
                            "client rdns is not a string of at most 1024 bytes without NUL"},
    [SL_ENV_HELO] = {"helo", true, SL_ENV_STR_MAX,
                     "client helo is not a string of at most 1024 bytes without NUL"},
    [SL_ENV_TLS_VERSION] = {"tls_version", true, SL_ENV_STR_MAX,
                            "client tls_version is not a string of at most 1024 bytes"},
    [SL_ENV_TLS_CIPHER] = {"tls_cipher", true, SL_ENV_STR_MAX,
                           "client tls_cipher is not a string of at most 1024 bytes"},
    [SL_ENV_AUTH_USER] = {"auth_user", true, SL_ENV_STR_MAX,
                          "client auth_user is not a string of at most 1024 bytes"},
    [SL_ENV_MAIL_FROM] = {"mail_from", false, SL_ENV_ADDR_MAX,
                          "mail_from is not a string of at most 512 bytes without NUL"},
    [SL_ENV_CLASSIFICATION] = {"classification", false, SL_ENV_NAME_MAX,
                               "classification is not a name of [0-9A-Za-z._-]"},
};

/* s_str_ok - whether LEN bytes at P may be string field FIELD ("" always may). */
static bool
s_str_ok(sl_env_str_t field, const char *p, size_t len)
{
    if (len == 0)
        return true;
    if (len > s_strs[field].max || memchr(p, '\0', len) != NULL)
        return false;
    if (field == SL_ENV_CLASSIFICATION)
        return sl_schema_is_name(p, len, SL_ENV_NAME_MAX);
    if (field == SL_ENV_CLIENT_IP) {
        char ip[S_IP_MAX + 1];
        unsigned char addr[16];
        memcpy(ip, p, len);
        ip[len] = '\0';
        return inet_pton(AF_INET, ip, addr) == 1 || inet_pton(AF_INET6, ip, addr) == 1;
    }
    return true;
}

/* s_is_action - "" (none yet) or a name. */
static bool
s_is_action(const char *p, size_t len)
{
    return len == 0 || sl_schema_is_name(p, len, SL_ENV_NAME_MAX);
}

sl_env_t *
sl_env_new(const char *id)
{
    size_t len = sl_schema_cname(id, SL_ENV_ID_MAX);
    if (len == 0)
        return NULL;
    sl_env_t *self = sl_xcalloc(1, sizeof *self);
    memcpy(self->id, id, len + 1);
    return self;
}

void
sl_env_destroy(sl_env_t **self_p)
{
    assert(self_p);
    sl_env_t *self = *self_p;
    if (self == NULL)
        return;
    for (size_t i = 0; i < SL_ENV_STR_COUNT; i++)
        free(self->strs[i]);
    for (size_t i = 0; i < self->rcpt_count; i++) {
        free(self->rcpts[i]);
        if (self->actions)
            free(self->actions[i]);
    }
    free(self->rcpts);
    free(self->actions);
    for (size_t i = 0; i < self->verdict_count; i++)
        sl_verdict_destroy(&self->verdicts[i]);
    free(self->verdicts);
    for (size_t i = 0; i < self->part_count; i++)
        sl_part_clear(&self->parts[i]);
    free(self->parts);
    free(self);
    *self_p = NULL;
}

sl_env_t *
sl_env_dup(const sl_env_t *self)
{
    assert(self);
    sl_env_t *copy = sl_xmemdup(self, sizeof *self);
    for (size_t i = 0; i < SL_ENV_STR_COUNT; i++)
        copy->strs[i] = sl_xstrdup(self->strs[i]);
    copy->rcpts = sl_schema_alloc(self->rcpt_count, sizeof *copy->rcpts);
    copy->actions = self->actions ? sl_xcalloc(self->rcpt_count, sizeof *copy->actions) : NULL;
    for (size_t i = 0; i < self->rcpt_count; i++) {
        copy->rcpts[i] = sl_xstrdup(self->rcpts[i]);
        if (self->actions)
            copy->actions[i] = sl_xstrdup(self->actions[i]);
    }
    copy->verdicts = sl_schema_alloc(self->verdict_count, sizeof *copy->verdicts);
    for (size_t i = 0; i < self->verdict_count; i++)
        copy->verdicts[i] = sl_verdict_dup(self->verdicts[i]);
    copy->parts = sl_schema_alloc(self->part_count, sizeof *copy->parts);
    for (size_t i = 0; i < self->part_count; i++)
        sl_part_copy(&copy->parts[i], &self->parts[i], false);
    return copy;
}

/* --- queue ids --- */

static pthread_mutex_t s_id_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t s_id_ms;        /* time part of the last id */
static uint8_t s_id_random[10]; /* random part of the last id */

/* s_random - fills BUF from getrandom(2); without entropy there are no ids. */
static void
s_random(uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0 && errno != EINTR)
            sl_panic("getrandom: %s", strerror(errno));
        if (n > 0)
            got += (size_t)n;
    }
}

void
sl_env_new_id(char *buf, size_t size)
{
    static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    if (buf == NULL || size < 27)
        sl_panic("sl_env_new_id: buffer of %zu bytes, needs 27", size);
    uint8_t ulid[16];
    uint64_t now = sl_now_ms() & ((UINT64_C(1) << 48) - 1);
    pthread_mutex_lock(&s_id_lock);
    if (now > s_id_ms) {
        s_id_ms = now;
        s_random(s_id_random, sizeof s_id_random);
    } else {
        /* Same millisecond or the clock went back: the last id plus one, so
         * ids stay strictly increasing within the process. */
        int i = (int)sizeof s_id_random - 1;
        while (i >= 0 && ++s_id_random[i] == 0)
            i--;
        if (i < 0)
            s_id_ms++;
    }
    for (int i = 0; i < 6; i++)
        ulid[i] = (uint8_t)(s_id_ms >> (40 - 8 * i));
    memcpy(ulid + 6, s_id_random, sizeof s_id_random);
    pthread_mutex_unlock(&s_id_lock);
    /* 128 bits as 26 base32 digits: two zero bits in front, then 5 bits each. */
    for (int c = 0; c < 26; c++) {
        unsigned digit = 0;
        for (int b = c * 5 - 2; b < c * 5 + 3; b++)
            digit = digit << 1 | (b < 0 ? 0u : (ulid[b / 8] >> (7 - b % 8)) & 1u);
        buf[c] = crockford[digit];
    }
    buf[26] = '\0';
}

/* --- fields --- */

const char *
sl_env_id(const sl_env_t *self)
{
    return self->id;
}

const char *
sl_env_str(const sl_env_t *self, sl_env_str_t field)
{
    assert(field < SL_ENV_STR_COUNT);
    return self->strs[field] ? self->strs[field] : "";
}

const char *
sl_env_mail_from(const sl_env_t *self)
{
    return sl_env_str(self, SL_ENV_MAIL_FROM);
}

uint64_t
sl_env_uint(const sl_env_t *self, sl_env_uint_t field)
{
    assert(field < SL_ENV_UINT_COUNT);
    return self->uints[field];
}

sl_dir_t
sl_env_direction(const sl_env_t *self)
{
    return self->direction;
}

int
sl_env_set_str(sl_env_t *self, sl_env_str_t field, const char *value, const char **why)
{
    assert(field < SL_ENV_STR_COUNT);
    if (value == NULL)
        value = "";
    size_t len = strnlen(value, s_strs[field].max + 1);
    if (!s_str_ok(field, value, len))
        return sl_fail(why, s_strs[field].why);
    free(self->strs[field]);
    self->strs[field] = len ? sl_xstrndup(value, len) : NULL;
    return 0;
}

int
sl_env_set_uint(sl_env_t *self, sl_env_uint_t field, uint64_t value)
{
    assert(field < SL_ENV_UINT_COUNT);
    if (field == SL_ENV_CLIENT_PORT && value > 65535)
        return -1;
    self->uints[field] = value;
    return 0;
}

void
sl_env_set_direction(sl_env_t *self, sl_dir_t dir)
{
    assert(dir == SL_DIR_IN || dir == SL_DIR_OUT);
    self->direction = dir;
}

size_t
sl_env_rcpt_count(const sl_env_t *self)
{
    return self->rcpt_count;
}

const char *
sl_env_rcpt(const sl_env_t *self, size_t index)
{
    assert(index < self->rcpt_count);
    return self->rcpts[index];
}

/* s_rcpt_put - appends a checked recipient of LEN bytes. */
static void
s_rcpt_put(sl_env_t *self, const char *rcpt, size_t len)
{
    self->rcpts = sl_schema_grow(self->rcpts, self->rcpt_count, sizeof *self->rcpts);
    if (self->actions) {
        self->actions = sl_xrealloc(self->actions, (self->rcpt_count + 1) * sizeof *self->actions);
        self->actions[self->rcpt_count] = NULL;
    }
    self->rcpts[self->rcpt_count++] = sl_xstrndup(rcpt, len);
}

int
sl_env_add_rcpt(sl_env_t *self, const char *rcpt, const char **why)
{
    size_t len = strnlen(rcpt, SL_ENV_ADDR_MAX + 1);
    if (len == 0 || len > SL_ENV_ADDR_MAX)
        return sl_fail(why, "rcpt is not 1..512 bytes");
    if (self->rcpt_count == SL_ENV_RCPTS_MAX)
        return sl_fail(why, "envelope has 1000 rcpts already");
    s_rcpt_put(self, rcpt, len);
    return 0;
}

bool
sl_env_has_score(const sl_env_t *self)
{
    return self->has_score;
}

double
sl_env_score(const sl_env_t *self)
{
    return self->score;
}

void
sl_env_set_score(sl_env_t *self, double score)
{
    assert(isfinite(score));
    self->has_score = true;
    self->score = score;
}

const char *
sl_env_action(const sl_env_t *self, size_t rcpt_index)
{
    assert(rcpt_index < self->rcpt_count);
    return self->actions && self->actions[rcpt_index] ? self->actions[rcpt_index] : "";
}

/* s_action_put - sets the action of a recipient; takes ACTION (NULL: none). */
static void
s_action_put(sl_env_t *self, size_t rcpt_index, char *action)
{
    if (self->actions == NULL)
        self->actions = sl_xcalloc(self->rcpt_count, sizeof *self->actions);
    free(self->actions[rcpt_index]);
    self->actions[rcpt_index] = action;
}

int
sl_env_set_action(sl_env_t *self, size_t rcpt_index, const char *action, const char **why)
{
    if (rcpt_index >= self->rcpt_count)
        return sl_fail(why, "no such rcpt");
    size_t len = sl_schema_cname(action, SL_ENV_NAME_MAX);
    if (len == 0)
        return sl_fail(why, "action is not a name of [0-9A-Za-z._-]");
    s_action_put(self, rcpt_index, sl_xstrndup(action, len));
    return 0;
}

/* --- verdicts and parts --- */

size_t
sl_env_verdict_count(const sl_env_t *self)
{
    return self->verdict_count;
}

const sl_verdict_t *
sl_env_verdict_at(const sl_env_t *self, size_t index)
{
    assert(index < self->verdict_count);
    return self->verdicts[index];
}

/* s_verdict_find - index of stage NAME's verdict, or verdict_count. */
static size_t
s_verdict_find(const sl_env_t *self, const char *stage, size_t len)
{
    size_t i = 0;
    while (i < self->verdict_count && !(strlen(self->verdicts[i]->stage) == len &&
                                        memcmp(self->verdicts[i]->stage, stage, len) == 0))
        i++;
    return i;
}

const sl_verdict_t *
sl_env_verdict(const sl_env_t *self, const char *stage)
{
    size_t i = s_verdict_find(self, stage, strlen(stage));
    return i < self->verdict_count ? self->verdicts[i] : NULL;
}

/* s_count_write - msgpack_packer callback that only counts bytes. */
static int
s_count_write(void *total, const char *bytes, size_t len)
{
    (void)bytes;
    *(size_t *)total += len;
    return 0;
}

static void s_pack(const sl_env_t *self, msgpack_packer *pk);

/* s_fits - whether adding verdict V keeps the encoding within SL_ENV_BYTES_MAX:
 * the envelope grows by at most V (under verdicts) plus V again (its parts and
 * results copied to the top level) plus the keys that name them. */
static bool
s_fits(const sl_env_t *self, const sl_verdict_t *v)
{
    size_t env = 0, verdict = 0;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &env, s_count_write);
    s_pack(self, &pk);
    msgpack_packer_init(&pk, &verdict, s_count_write);
    sl_verdict_pack(v, &pk);
    return env <= SL_ENV_BYTES_MAX - 256 && verdict <= (SL_ENV_BYTES_MAX - 256 - env) / 2;
}

int
sl_env_set_verdict(sl_env_t *self, sl_verdict_t **verdict_p, const char **why)
{
    assert(verdict_p && *verdict_p);
    sl_verdict_t *v = *verdict_p;
    *verdict_p = NULL;
    size_t at = s_verdict_find(self, v->stage, strlen(v->stage));
    int rc = 0;
    if (at == self->verdict_count && self->verdict_count == SL_ENV_VERDICTS_MAX)
        rc = sl_fail(why, "envelope has 64 verdicts already");
    else if (v->part_count > SL_ENV_PARTS_MAX - self->part_count)
        rc = sl_fail(why, "envelope would have more than 10000 parts");
    else if (v->action_count > self->rcpt_count)
        rc = sl_fail(why, "verdict sets actions for rcpts the envelope lacks");
    else if (!s_fits(self, v))
        rc = sl_fail(why, "envelope would be larger than 4 MiB");
    if (rc != 0) {
        sl_verdict_destroy(&v);
        return -1;
    }
    if (v->has_score)
        sl_env_set_score(self, v->score);
    if (v->classification) {
        free(self->strs[SL_ENV_CLASSIFICATION]);
        self->strs[SL_ENV_CLASSIFICATION] = sl_xstrdup(v->classification);
    }
    for (size_t i = 0; i < v->action_count; i++)
        if (v->actions[i])
            s_action_put(self, i, sl_xstrdup(v->actions[i]));
    for (size_t i = 0; i < v->part_count; i++) {
        self->parts = sl_schema_grow(self->parts, self->part_count, sizeof *self->parts);
        sl_part_copy(&self->parts[self->part_count++], &v->parts[i], false);
    }
    if (at == self->verdict_count) {
        self->verdicts =
            sl_schema_grow(self->verdicts, self->verdict_count, sizeof *self->verdicts);
        self->verdicts[self->verdict_count++] = v;
    } else {
        sl_verdict_destroy(&self->verdicts[at]);
        self->verdicts[at] = v;
    }
    return 0;
}

size_t
sl_env_part_count(const sl_env_t *self)
{
    return self->part_count;
}

const char *
sl_env_part_path(const sl_env_t *self, size_t index)
{
    assert(index < self->part_count);
    return self->parts[index].path;
}

sl_slice_t
sl_env_part_meta(const sl_env_t *self, size_t index)
{
    assert(index < self->part_count);
    return (sl_slice_t){.ptr = self->parts[index].meta, .len = self->parts[index].meta_len};
}

/* --- codec --- */

static const char *const s_env_keys[] = {
    "v",    "id",       "received_at", "direction", "client",         "mail_from", "rcpts",
    "size", "verdicts", "parts",       "score",     "classification", "actions",
};
enum {
    S_E_V,
    S_E_ID,
    S_E_RECEIVED_AT,
    S_E_DIRECTION,
    S_E_CLIENT,
    S_E_MAIL_FROM,
    S_E_RCPTS,
    S_E_SIZE,
    S_E_VERDICTS,
    S_E_PARTS,
    S_E_SCORE,
    S_E_CLASSIFICATION,
    S_E_ACTIONS,
    S_E_COUNT
};

/* Client map keys: CLIENT_PORT is the one number among the strings. */
static const char *const s_client_keys[] = {"ip",          "port",       "rdns",     "helo",
                                            "tls_version", "tls_cipher", "auth_user"};
static const sl_env_str_t s_client_strs[] = {
    SL_ENV_CLIENT_IP,   SL_ENV_STR_COUNT,  SL_ENV_CLIENT_RDNS, SL_ENV_HELO,
    SL_ENV_TLS_VERSION, SL_ENV_TLS_CIPHER, SL_ENV_AUTH_USER,
};

/* Decoding state of one envelope map. */
typedef struct {
    sl_env_t *env;                 /* being filled */
    bool has_v, has_id;            /* required keys seen */
    const msgpack_object *actions; /* checked once rcpts are known */
} s_env_ctx_t;

static int
s_str_key(sl_env_t *self, sl_env_str_t field, const msgpack_object *val, const char **why)
{
    sl_slice_t s;
    if (sl_mp_get_str(val, s_strs[field].max, &s) != 0 || !s_str_ok(field, s.ptr, s.len))
        return sl_fail(why, s_strs[field].why);
    free(self->strs[field]);
    self->strs[field] = s.len ? sl_xstrndup(s.ptr, s.len) : NULL;
    return 0;
}

static int
s_uint_key(sl_env_t *self, sl_env_uint_t field, const msgpack_object *val, const char *fail,
           const char **why)
{
    uint64_t u;
    if (sl_mp_get_uint(val, &u) != 0 || sl_env_set_uint(self, field, u) != 0)
        return sl_fail(why, fail);
    return 0;
}

static int
s_client_key(void *ctx, size_t index, const msgpack_object *val, const char **why)
{
    if (s_client_strs[index] == SL_ENV_STR_COUNT)
        return s_uint_key(ctx, SL_ENV_CLIENT_PORT, val, "client port is not an integer 0..65535",
                          why);
    return s_str_key(ctx, s_client_strs[index], val, why);
}

static int
s_decode_rcpts(sl_env_t *self, const msgpack_object *array, const char **why)
{
    if (array->type != MSGPACK_OBJECT_ARRAY)
        return sl_fail(why, "rcpts is not an array");
    if (array->via.array.size > SL_ENV_RCPTS_MAX)
        return sl_fail(why, "envelope has more than 1000 rcpts");
    for (uint32_t i = 0; i < array->via.array.size; i++) {
        sl_slice_t rcpt;
        if (sl_mp_get_str(&array->via.array.ptr[i], SL_ENV_ADDR_MAX, &rcpt) != 0 || rcpt.len == 0 ||
            memchr(rcpt.ptr, '\0', rcpt.len) != NULL)
            return sl_fail(why, "rcpt is not a string of 1..512 bytes without NUL");
        s_rcpt_put(self, rcpt.ptr, rcpt.len);
    }
    return 0;
}

static int
s_decode_actions(sl_env_t *self, const msgpack_object *array, const char **why)
{
    if (array->type != MSGPACK_OBJECT_ARRAY)
        return sl_fail(why, "actions is not an array");
    if (array->via.array.size != self->rcpt_count)
        return sl_fail(why, "actions and rcpts differ in length");
    for (uint32_t i = 0; i < array->via.array.size; i++) {
        sl_slice_t action;
        if (sl_mp_get_str(&array->via.array.ptr[i], SL_ENV_NAME_MAX, &action) != 0 ||
            !s_is_action(action.ptr, action.len))
            return sl_fail(why, "action is not \"\" or a name of [0-9A-Za-z._-]");
        s_action_put(self, i, action.len ? sl_xstrndup(action.ptr, action.len) : NULL);
    }
    return 0;
}

static int
s_decode_verdicts(sl_env_t *self, const msgpack_object *map, const char **why)
{
    if (map->type != MSGPACK_OBJECT_MAP)
        return sl_fail(why, "verdicts is not a map");
    if (map->via.map.size > SL_ENV_VERDICTS_MAX)
        return sl_fail(why, "envelope has more than 64 verdicts");
    self->verdicts = sl_schema_alloc(map->via.map.size, sizeof *self->verdicts);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        sl_slice_t stage;
        if (sl_mp_get_str(&kv->key, SL_ENV_NAME_MAX, &stage) != 0 ||
            !sl_schema_is_name(stage.ptr, stage.len, SL_ENV_NAME_MAX))
            return sl_fail(why, "verdicts key is not a stage name of [0-9A-Za-z._-]");
        if (s_verdict_find(self, stage.ptr, stage.len) < self->verdict_count)
            return sl_fail(why, "verdicts has a duplicate stage");
        if (sl_verdict_from_object(&kv->val, &stage, &self->verdicts[i], why) != 0)
            return -1;
        self->verdict_count++;
    }
    return 0;
}

static int
s_decode_parts(sl_env_t *self, const msgpack_object *array, const char **why)
{
    if (array->type != MSGPACK_OBJECT_ARRAY)
        return sl_fail(why, "parts is not an array");
    if (array->via.array.size > SL_ENV_PARTS_MAX)
        return sl_fail(why, "envelope has more than 10000 parts");
    self->parts = sl_schema_alloc(array->via.array.size, sizeof *self->parts);
    for (uint32_t i = 0; i < array->via.array.size; i++) {
        if (sl_part_from_object(&self->parts[i], &array->via.array.ptr[i], why) != 0)
            return -1;
        self->part_count++;
    }
    return 0;
}

static int
s_env_key(void *ctx, size_t index, const msgpack_object *val, const char **why)
{
    s_env_ctx_t *ec = ctx;
    sl_env_t *self = ec->env;
    sl_slice_t s;
    switch (index) {
    case S_E_V:
        ec->has_v = true;
        if (val->type != MSGPACK_OBJECT_POSITIVE_INTEGER || val->via.u64 != SL_ENV_VERSION)
            return sl_fail(why, "v is not 1: unknown envelope version");
        return 0;
    case S_E_ID:
        ec->has_id = true;
        if (sl_mp_get_str(val, SL_ENV_ID_MAX, &s) != 0 ||
            !sl_schema_is_name(s.ptr, s.len, SL_ENV_ID_MAX))
            return sl_fail(why, "id is not 1..64 bytes of [0-9A-Za-z._-]");
        memcpy(self->id, s.ptr, s.len);
        self->id[s.len] = '\0';
        return 0;
    case S_E_RECEIVED_AT:
        return s_uint_key(self, SL_ENV_RECEIVED_AT, val, "received_at is not an unsigned integer",
                          why);
    case S_E_DIRECTION:
        if (sl_mp_get_str(val, 3, &s) != 0 || (!(s.len == 2 && memcmp(s.ptr, "in", 2) == 0) &&
                                               !(s.len == 3 && memcmp(s.ptr, "out", 3) == 0)))
            return sl_fail(why, "direction is not \"in\" or \"out\"");
        self->direction = s.len == 2 ? SL_DIR_IN : SL_DIR_OUT;
        return 0;
    case S_E_CLIENT:
        if (val->type != MSGPACK_OBJECT_MAP)
            return sl_fail(why, "client is not a map");
        return sl_mp_map_known(val, s_client_keys, 7, s_client_key, self,
                               "client has a duplicate key", why);
    case S_E_MAIL_FROM:
        return s_str_key(self, SL_ENV_MAIL_FROM, val, why);
    case S_E_RCPTS:
        return s_decode_rcpts(self, val, why);
    case S_E_SIZE:
        return s_uint_key(self, SL_ENV_SIZE, val, "size is not an unsigned integer", why);
    case S_E_VERDICTS:
        return s_decode_verdicts(self, val, why);
    case S_E_PARTS:
        return s_decode_parts(self, val, why);
    case S_E_SCORE:
        if (sl_mp_get_num(val, &self->score) != 0)
            return sl_fail(why, "score is not a finite number");
        self->has_score = true;
        return 0;
    case S_E_CLASSIFICATION:
        return s_str_key(self, SL_ENV_CLASSIFICATION, val, why);
    default:
        ec->actions = val;
        return 0;
    }
}

int
sl_env_decode(const void *buf, size_t len, sl_env_t **out, const char **why)
{
    msgpack_unpacked value;
    *out = NULL;
    if (len > SL_ENV_BYTES_MAX)
        return sl_fail(why, "envelope is larger than 4 MiB");
    int rc = sl_mp_unpack(buf, len, SL_SCHEMA_DEPTH_MAX, &value, why);
    if (rc == 0 && value.data.type != MSGPACK_OBJECT_MAP)
        rc = sl_fail(why, "envelope is not a map");
    sl_env_t *self = sl_xcalloc(1, sizeof *self);
    s_env_ctx_t ctx = {.env = self};
    if (rc == 0)
        rc = sl_mp_map_known(&value.data, s_env_keys, S_E_COUNT, s_env_key, &ctx,
                             "envelope has a duplicate key", why);
    if (rc == 0 && !ctx.has_v)
        rc = sl_fail(why, "envelope has no v");
    if (rc == 0 && !ctx.has_id)
        rc = sl_fail(why, "envelope has no id");
    if (rc == 0 && ctx.actions)
        rc = s_decode_actions(self, ctx.actions, why);
    msgpack_unpacked_destroy(&value);
    if (rc != 0) {
        sl_env_destroy(&self);
        return -1;
    }
    *out = self;
    return 0;
}

static void
s_pack(const sl_env_t *self, msgpack_packer *pk)
{
    msgpack_pack_map(pk, 10 + (size_t)self->has_score +
                             (self->strs[SL_ENV_CLASSIFICATION] != NULL) + (self->actions != NULL));
    sl_mp_pack_str(pk, "v");
    msgpack_pack_unsigned_int(pk, SL_ENV_VERSION);
    sl_mp_pack_str(pk, "id");
    sl_mp_pack_str(pk, self->id);
    sl_mp_pack_str(pk, "received_at");
    msgpack_pack_uint64(pk, self->uints[SL_ENV_RECEIVED_AT]);
    sl_mp_pack_str(pk, "direction");
    sl_mp_pack_str(pk, self->direction == SL_DIR_OUT ? "out" : "in");
    sl_mp_pack_str(pk, "client");
    msgpack_pack_map(pk, 7);
    for (size_t i = 0; i < 7; i++) {
        sl_mp_pack_str(pk, s_client_keys[i]);
        if (s_client_strs[i] == SL_ENV_STR_COUNT)
            msgpack_pack_uint64(pk, self->uints[SL_ENV_CLIENT_PORT]);
        else
            sl_mp_pack_str(pk, self->strs[s_client_strs[i]]);
    }
    sl_mp_pack_str(pk, "mail_from");
    sl_mp_pack_str(pk, self->strs[SL_ENV_MAIL_FROM]);
    sl_mp_pack_str(pk, "rcpts");
    msgpack_pack_array(pk, self->rcpt_count);
    for (size_t i = 0; i < self->rcpt_count; i++)
        sl_mp_pack_str(pk, self->rcpts[i]);
    sl_mp_pack_str(pk, "size");
    msgpack_pack_uint64(pk, self->uints[SL_ENV_SIZE]);
    sl_mp_pack_str(pk, "verdicts");
    msgpack_pack_map(pk, self->verdict_count);
    for (size_t i = 0; i < self->verdict_count; i++) {
        sl_mp_pack_str(pk, self->verdicts[i]->stage);
        sl_verdict_pack(self->verdicts[i], pk);
    }
    sl_mp_pack_str(pk, "parts");
    msgpack_pack_array(pk, self->part_count);
    for (size_t i = 0; i < self->part_count; i++)
        sl_mp_pack_raw(pk, self->parts[i].meta, self->parts[i].meta_len);
    if (self->has_score) {
        sl_mp_pack_str(pk, "score");
        msgpack_pack_double(pk, self->score);
    }
    if (self->strs[SL_ENV_CLASSIFICATION]) {
        sl_mp_pack_str(pk, "classification");
        sl_mp_pack_str(pk, self->strs[SL_ENV_CLASSIFICATION]);
    }
    if (self->actions) {
        sl_mp_pack_str(pk, "actions");
        msgpack_pack_array(pk, self->rcpt_count);
        for (size_t i = 0; i < self->rcpt_count; i++)
            sl_mp_pack_str(pk, self->actions[i]);
    }
}

void *
sl_env_encode(const sl_env_t *self, size_t *len)
{
    sl_mp_buf_t buf = {0};
    msgpack_packer pk = sl_mp_packer(&buf);
    s_pack(self, &pk);
    *len = buf.len;
    return buf.ptr;
}

char *
sl_env_to_json(const sl_env_t *self)
{
    size_t len;
    char *packed = sl_env_encode(self, &len);
    char *json = sl_json_from_msgpack(packed, len);
    free(packed);
    assert(json);
    return json;
}
