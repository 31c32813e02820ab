/*
 * schema/sl_env.h - the envelope v1 and the stage verdict: types and msgpack codec.
 *
 * The envelope is the contract between smtpd, the broker and every stage, in
 * any language; schema/README.md documents it field by field. Everything that
 * arrives from a socket is untrusted: sl_env_decode and sl_verdict_decode check
 * the type and bound of every known field, skip unknown keys (so the schema
 * can grow) and refuse known keys of the wrong type.
 * Tests: tests/unit/test_sl_env.c, tests/fuzz/fuzz_sl_env.c
 */
#ifndef SL_ENV_H
#define SL_ENV_H

#include "sl_mem.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_ENV_VERSION 1

/* Limits; each refuses input beyond it. */
#define SL_ENV_BYTES_MAX (4u << 20)     /* one encoded envelope */
#define SL_VERDICT_BYTES_MAX (1u << 20) /* one encoded verdict */
#define SL_ENV_ID_MAX 64                /* queue id bytes */
#define SL_ENV_ADDR_MAX 512             /* mail_from, rcpt: RFC 5321 path 256 + slack */
#define SL_ENV_STR_MAX 1024             /* other strings: helo, rdns, tls, info texts */
#define SL_ENV_RCPTS_MAX 1000           /* recipients (RFC 5321 asks for 100 at least) */
#define SL_ENV_VERDICTS_MAX 64          /* stages that may add a verdict */
#define SL_VERDICT_SYMBOLS_MAX 512      /* symbols one stage may add */
#define SL_VERDICT_FIELDS_MAX 128       /* stage fields one stage may add */
#define SL_ENV_PARTS_MAX 10000          /* decoded parts travelling as frames */
#define SL_ENV_NAME_MAX 64              /* stage, symbol, field key, class, action */
#define SL_ENV_DEPTH_MAX 16             /* msgpack nesting inside stage fields */

typedef struct sl_env sl_env_t;
typedef struct sl_verdict sl_verdict_t;

typedef enum { SL_DIR_IN = 0, SL_DIR_OUT = 1 } sl_dir_t;

/* String fields of the envelope, all optional ("" when unset). */
typedef enum {
    SL_ENV_CLIENT_IP,      /* "192.0.2.7" or "2001:db8::7"; validated as an address */
    SL_ENV_CLIENT_RDNS,    /* verified reverse name, "" if none */
    SL_ENV_HELO,           /* HELO/EHLO argument */
    SL_ENV_TLS_VERSION,    /* "TLSv1.3", "" for plain text */
    SL_ENV_TLS_CIPHER,     /* "TLS_AES_256_GCM_SHA384" */
    SL_ENV_AUTH_USER,      /* SMTP AUTH identity, "" if none */
    SL_ENV_MAIL_FROM,      /* envelope sender without <>, "" for the null sender */
    SL_ENV_CLASSIFICATION, /* result: clean, spam, virus, banned, bad-header, oversized */
    SL_ENV_STR_COUNT
} sl_env_str_t;

/* Unsigned fields of the envelope (0 when unset). */
typedef enum {
    SL_ENV_RECEIVED_AT, /* ms since the epoch when smtpd accepted DATA */
    SL_ENV_CLIENT_PORT, /* client's TCP port */
    SL_ENV_SIZE,        /* raw message bytes */
    SL_ENV_UINT_COUNT
} sl_env_uint_t;

/* --- envelope --- */

/* sl_env_new - empty envelope for queue id ID; NULL if ID is malformed
 * (1..SL_ENV_ID_MAX bytes of [0-9A-Za-z._-]). */
sl_env_t *sl_env_new(const char *id);
/* sl_env_destroy - frees the envelope and all it owns; sets *self_p to NULL. */
void sl_env_destroy(sl_env_t **self_p);
/* sl_env_dup - deep copy. */
sl_env_t *sl_env_dup(const sl_env_t *self);

/* sl_env_new_id - writes a fresh time-sortable queue id (26 chars, Crockford
 * base32 ULID) into buf (at least 27 bytes). */
void sl_env_new_id(char *buf, size_t size);

/* sl_env_decode - parse an encoded envelope; 0 and *out set (caller's), or -1
 * with *why set to a static reason. */
int sl_env_decode(const void *buf, size_t len, sl_env_t **out, const char **why);
/* sl_env_encode - msgpack encoding; returns a malloc'd buffer (caller frees),
 * its length in *len. */
void *sl_env_encode(const sl_env_t *self, size_t *len);
/* sl_env_to_json - the envelope as one JSON object (caller frees). */
char *sl_env_to_json(const sl_env_t *self);

/* Borrowed until the envelope is destroyed or the field is set again. */
const char *sl_env_id(const sl_env_t *self);
const char *sl_env_str(const sl_env_t *self, sl_env_str_t field);
/* sl_env_mail_from - shorthand for sl_env_str(self, SL_ENV_MAIL_FROM). */
const char *sl_env_mail_from(const sl_env_t *self);
uint64_t sl_env_uint(const sl_env_t *self, sl_env_uint_t field);
sl_dir_t sl_env_direction(const sl_env_t *self);

/* Setters return 0, or -1 with *why when the value breaks a bound or format. */
int sl_env_set_str(sl_env_t *self, sl_env_str_t field, const char *value, const char **why);
int sl_env_set_uint(sl_env_t *self, sl_env_uint_t field, uint64_t value);
void sl_env_set_direction(sl_env_t *self, sl_dir_t dir);

size_t sl_env_rcpt_count(const sl_env_t *self);
const char *sl_env_rcpt(const sl_env_t *self, size_t index);
int sl_env_add_rcpt(sl_env_t *self, const char *rcpt, const char **why);

/* Results. */
bool sl_env_has_score(const sl_env_t *self);
double sl_env_score(const sl_env_t *self);
void sl_env_set_score(sl_env_t *self, double score);
/* sl_env_action - action decided for recipient INDEX ("deliver", "tag",
 * "quarantine", "drop", "reject", "tempfail"), "" when none yet. */
const char *sl_env_action(const sl_env_t *self, size_t rcpt_index);
int sl_env_set_action(sl_env_t *self, size_t rcpt_index, const char *action, const char **why);

/* Verdicts, one per stage, in the order they were added. */
size_t sl_env_verdict_count(const sl_env_t *self);
const sl_verdict_t *sl_env_verdict_at(const sl_env_t *self, size_t index);
/* sl_env_verdict - the verdict of stage NAME, or NULL. */
const sl_verdict_t *sl_env_verdict(const sl_env_t *self, const char *stage);
/* sl_env_set_verdict - takes *verdict_p, success or not, and sets it to NULL;
 * replaces an earlier verdict of the same stage. Copies the verdict's results
 * (score, classification, actions) into the envelope and appends its part
 * metadata to the envelope's parts list (not the part data). -1 with *why when
 * the envelope is at a limit. */
int sl_env_set_verdict(sl_env_t *self, sl_verdict_t **verdict_p, const char **why);

/* Decoded parts: metadata travels in the envelope, data as frames beside it. */
size_t sl_env_part_count(const sl_env_t *self);
/* sl_env_part_path - the part's "path" (e.g. "2/1/zip:invoice.exe"). */
const char *sl_env_part_path(const sl_env_t *self, size_t index);
/* sl_env_part_meta - the part's whole metadata map, msgpack-encoded (borrowed). */
sl_slice_t sl_env_part_meta(const sl_env_t *self, size_t index);

/* --- verdict --- */

/* sl_verdict_new - empty verdict of stage STAGE; NULL if the name is malformed
 * (1..SL_ENV_NAME_MAX bytes of [0-9A-Za-z._-]). */
sl_verdict_t *sl_verdict_new(const char *stage);
void sl_verdict_destroy(sl_verdict_t **self_p);
sl_verdict_t *sl_verdict_dup(const sl_verdict_t *self);

int sl_verdict_decode(const void *buf, size_t len, sl_verdict_t **out, const char **why);
/* sl_verdict_encode - msgpack encoding (part data excluded); caller frees. */
void *sl_verdict_encode(const sl_verdict_t *self, size_t *len);

/* sl_verdict_symbol - adds symbol NAME ([A-Z0-9_], up to SL_ENV_NAME_MAX) with
 * SCORE and an optional INFO text; 0, or -1 at a limit or for a bad name. A
 * second call with the same name replaces the first. */
int sl_verdict_symbol(sl_verdict_t *self, const char *name, double score, const char *info);
size_t sl_verdict_symbol_count(const sl_verdict_t *self);
/* sl_verdict_symbol_at - borrowed name/info; 0, or -1 when index is out of range. */
int sl_verdict_symbol_at(const sl_verdict_t *self, size_t index, const char **name, double *score,
                         const char **info);
/* sl_verdict_has_symbol - true when the verdict carries symbol NAME. */
bool sl_verdict_has_symbol(const sl_verdict_t *self, const char *name);

const char *sl_verdict_stage(const sl_verdict_t *self);
/* Audit trail: which code and which rules produced the verdict, and how long it took. */
void sl_verdict_set_versions(sl_verdict_t *self, const char *stage_version,
                             const char *rules_version);
const char *sl_verdict_version(const sl_verdict_t *self);
const char *sl_verdict_rules_version(const sl_verdict_t *self);
void sl_verdict_set_ms(sl_verdict_t *self, double ms);
double sl_verdict_ms(const sl_verdict_t *self);
void sl_verdict_set_worker(sl_verdict_t *self, const char *worker);
const char *sl_verdict_worker(const sl_verdict_t *self);
void sl_verdict_set_attempts(sl_verdict_t *self, unsigned attempts);
unsigned sl_verdict_attempts(const sl_verdict_t *self);
/* sl_verdict_set_error - the stage failed, timed out or crashed: why. */
void sl_verdict_set_error(sl_verdict_t *self, const char *error);
/* sl_verdict_error - "" when the stage did not fail. */
const char *sl_verdict_error(const sl_verdict_t *self);

/* Stage fields (virus names, SPF result, parts list...): KEY -> value. */
int sl_verdict_field_str(sl_verdict_t *self, const char *key, const char *value);
int sl_verdict_field_int(sl_verdict_t *self, const char *key, int64_t value);
int sl_verdict_field_double(sl_verdict_t *self, const char *key, double value);
int sl_verdict_field_bool(sl_verdict_t *self, const char *key, bool value);
/* sl_verdict_field_raw - any msgpack value (validated: depth, size); copied. */
int sl_verdict_field_raw(sl_verdict_t *self, const char *key, const void *msgpack, size_t len);
/* sl_verdict_field - the value of KEY msgpack-encoded (borrowed); len 0 if absent. */
sl_slice_t sl_verdict_field(const sl_verdict_t *self, const char *key);
/* sl_verdict_field_get_str - KEY's value when it is a string, else NULL (caller frees). */
char *sl_verdict_field_get_str(const sl_verdict_t *self, const char *key);

/* Results a stage may set for the whole envelope (score, classification, actions). */
void sl_verdict_set_score(sl_verdict_t *self, double score);
int sl_verdict_set_classification(sl_verdict_t *self, const char *classification);
int sl_verdict_set_action(sl_verdict_t *self, size_t rcpt_index, const char *action);

/* Decoded parts a stage hands downstream: META is a msgpack map with at least
 * "path" (string) and "size" (uint); DATA travels as its own frame. Both copied. */
int sl_verdict_add_part(sl_verdict_t *self, const void *meta, size_t meta_len, const void *data,
                        size_t len);
size_t sl_verdict_part_count(const sl_verdict_t *self);
/* sl_verdict_part_data - borrowed bytes of part INDEX (as added). */
sl_slice_t sl_verdict_part_data(const sl_verdict_t *self, size_t index);
/* sl_verdict_take_part_data - hands the buffer of part INDEX to the caller
 * (who frees it); the verdict keeps an empty slice. For zero-copy sending. */
void *sl_verdict_take_part_data(sl_verdict_t *self, size_t index, size_t *len);

/* sl_json_from_msgpack - any msgpack value as JSON (caller frees); binary as
 * base64 strings, non-UTF-8 bytes escaped; NULL when the input is malformed. */
char *sl_json_from_msgpack(const void *buf, size_t len);
/* sl_utf8_len - length of the valid UTF-8 sequence at P (LEN > 0 bytes
 * available; RFC 3629: no overlongs, surrogates or code points past
 * U+10FFFF), or 0 when it is not one. (schema/sl_json.c) */
size_t sl_utf8_len(const unsigned char *p, size_t len);

#endif
