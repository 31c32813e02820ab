/*
 * schema/sl_schema_int.h - insides of the verdict and part metadata, private to
 * schema/: sl_env.c merges verdicts into envelopes and packs them inside its
 * own encoding, so it sees what sl_verdict.c keeps. Nothing outside schema/
 * includes this file.
 * Tests: tests/unit/test_sl_env.c
 */
#ifndef SL_SCHEMA_INT_H
#define SL_SCHEMA_INT_H

#include "sl_env.h"
#include "sl_mp.h"

/* Nesting the whole encoded envelope may have: envelope, verdicts, verdict,
 * fields or parts, then a free-form value of up to SL_ENV_DEPTH_MAX; one more
 * so that a value just too deep gets the precise reason. */
#define SL_SCHEMA_DEPTH_MAX (SL_ENV_DEPTH_MAX + 5)

/* One decoded part: metadata (in envelope and verdict) and data (verdict only). */
typedef struct {
    char *path;      /* the metadata's "path" */
    char *meta;      /* the metadata map, canonical msgpack */
    size_t meta_len; /* bytes in meta */
    char *data;      /* part bytes; NULL in an envelope or once taken */
    size_t data_len; /* bytes in data */
} sl_part_t;

typedef struct {
    char name[SL_ENV_NAME_MAX + 1]; /* [A-Z0-9_] */
    double score;                   /* finite */
    char *info;                     /* text, NULL for none */
} sl_symbol_t;

typedef struct {
    char key[SL_ENV_NAME_MAX + 1]; /* field name */
    char *value;                   /* canonical msgpack of one value */
    size_t len;                    /* bytes in value */
} sl_field_t;

struct sl_verdict {
    char stage[SL_ENV_NAME_MAX + 1]; /* graph node that produced it */
    char *version;                   /* stage code version, NULL for "" */
    char *rules_version;             /* rules or signatures version, NULL for "" */
    char *worker;                    /* worker identity, NULL for "" */
    char *error;                     /* why the stage failed, NULL when it did not */
    double ms;                       /* time spent, >= 0 */
    unsigned attempts;               /* dispatches it took */
    sl_symbol_t *symbols;            /* in the order added */
    size_t symbol_count;             /* used */
    sl_field_t *fields;              /* in the order added */
    size_t field_count;              /* used */
    bool has_score;                  /* result.score set */
    double score;                    /* result.score */
    char *classification;            /* result.classification, NULL when unset */
    char **actions;                  /* result.actions, NULL entries unset */
    size_t action_count;             /* 1 + highest recipient index set; 0 = unset */
    sl_part_t *parts;                /* in frame order */
    size_t part_count;               /* used */
};

/* sl_schema_grow - PTR (holding COUNT items of ELEM bytes) with room for one
 * more; capacity doubles at powers of two, so no capacity field is needed. */
void *sl_schema_grow(void *ptr, size_t count, size_t elem);
/* sl_schema_alloc - zeroed array for COUNT items that sl_schema_grow can grow. */
void *sl_schema_alloc(size_t count, size_t elem);
/* sl_schema_dup_text - copy of S cut to SL_ENV_STR_MAX bytes at a UTF-8
 * character boundary; NULL (meaning "") for NULL or "". */
char *sl_schema_dup_text(const char *s);
/* sl_schema_is_name - 1..MAX bytes of [0-9A-Za-z._-]: ids, stages, classes, actions. */
bool sl_schema_is_name(const char *p, size_t len, size_t max);
/* sl_schema_cname - strlen of S when it is such a name, else 0 (also for NULL). */
size_t sl_schema_cname(const char *s, size_t max);

/* sl_part_from_object - checks a metadata map (depth, "path", "size") and
 * fills PART's path and canonical meta; 0, or -1 with *why. */
int sl_part_from_object(sl_part_t *part, const msgpack_object *meta, const char **why);
/* sl_part_copy - deep copy of SRC's metadata into DST (data when WITH_DATA). */
void sl_part_copy(sl_part_t *dst, const sl_part_t *src, bool with_data);
/* sl_part_clear - frees what PART owns. */
void sl_part_clear(sl_part_t *part);

/* sl_verdict_from_object - a verdict from a checked msgpack map; STAGE, when
 * not NULL, is the key it sat under in an envelope and must match. */
int sl_verdict_from_object(const msgpack_object *o, const sl_slice_t *stage, sl_verdict_t **out,
                           const char **why);
/* sl_verdict_pack - writes the verdict map (no part data). */
void sl_verdict_pack(const sl_verdict_t *self, msgpack_packer *pk);

#endif
