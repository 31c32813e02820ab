/*
 * lib/sl_cfg.h - the YAML config file as a tree of nodes that know their line.
 *
 * libyaml parses; this keeps maps, sequences and scalars with file:line so
 * that every consumer (broker, smtpd, delivery...) can explain a mistake as
 * "sluice.yaml:12: stages[2].workers: expected a whole number 1..64".
 * Typed getters record errors in the sl_cfg_t and return the default, so a
 * loader can read every key and report all mistakes at once.
 * Anchors/aliases are refused (no billion-laughs); depth and size are capped.
 * Tests: tests/unit/test_sl_cfg.c
 */
#ifndef SL_CFG_H
#define SL_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_CFG_BYTES_MAX (4u << 20)   /* config file size */
#define SL_CFG_DEPTH_MAX 32           /* nesting */
#define SL_CFG_NODES_MAX 100000       /* nodes in one file */
#define SL_CFG_ERRORS_MAX (64u << 10) /* error text kept; further errors are counted only */

typedef struct sl_cfg sl_cfg_t;
typedef struct sl_cfg_node sl_cfg_node_t;

typedef enum { SL_CFG_SCALAR, SL_CFG_MAP, SL_CFG_SEQ } sl_cfg_kind_t;

/* sl_cfg_load - parse FILE; NULL with a "file:line: reason" message in ERR on
 * a YAML syntax error or an unreadable file. */
sl_cfg_t *sl_cfg_load(const char *path, char *err, size_t errlen);
/* sl_cfg_parse - the same from a string; NAME stands for the file in messages. */
sl_cfg_t *sl_cfg_parse(const char *text, size_t len, const char *name, char *err, size_t errlen);
void sl_cfg_destroy(sl_cfg_t **self_p);

/* sl_cfg_root - the document's top node (a map for a valid sluice config). */
const sl_cfg_node_t *sl_cfg_root(const sl_cfg_t *self);
/* sl_cfg_path - the file name as given to load/parse. */
const char *sl_cfg_path(const sl_cfg_t *self);

sl_cfg_kind_t sl_cfg_kind(const sl_cfg_node_t *node);
/* sl_cfg_line - line to cite for NODE (1-based): its key's line when NODE is
 * a map value (a block list under "stages:" starts a line later), else the
 * line where it starts; 0 for NULL. */
int sl_cfg_line(const sl_cfg_node_t *node);
/* sl_cfg_scalar - text of a scalar node (borrowed), NULL for maps and sequences. */
const char *sl_cfg_scalar(const sl_cfg_node_t *node);
/* sl_cfg_count - entries in a map or sequence, 0 for a scalar. */
size_t sl_cfg_count(const sl_cfg_node_t *node);
/* sl_cfg_at - entry INDEX of a sequence or map (its value); NULL past the end. */
const sl_cfg_node_t *sl_cfg_at(const sl_cfg_node_t *node, size_t index);
/* sl_cfg_key_at - key of map entry INDEX (borrowed), NULL for non-maps. */
const char *sl_cfg_key_at(const sl_cfg_node_t *node, size_t index);
/* sl_cfg_get - value of KEY in a map, NULL when absent or NODE is not a map.
 * KEY may be a dotted path: "smtpd.listen". */
const sl_cfg_node_t *sl_cfg_get(const sl_cfg_node_t *node, const char *key);

/* Errors collected while reading, "file:line: what" one per line ("file: what"
 * when AT is NULL). */
void sl_cfg_error(sl_cfg_t *self, const sl_cfg_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
size_t sl_cfg_error_count(const sl_cfg_t *self);
/* sl_cfg_errors - all errors, newline-separated (borrowed; "" when none). */
const char *sl_cfg_errors(const sl_cfg_t *self);

/* Typed getters: value of KEY under MAP (a map node, or NULL for "absent").
 * Absent key: DEF. Present but wrong type or out of range: an error is
 * recorded (naming the key) and DEF is returned. */
const char *sl_cfg_get_str(sl_cfg_t *self, const sl_cfg_node_t *map, const char *key,
                           const char *def);
int64_t sl_cfg_get_int(sl_cfg_t *self, const sl_cfg_node_t *map, const char *key, int64_t def,
                       int64_t min, int64_t max);
double sl_cfg_get_double(sl_cfg_t *self, const sl_cfg_node_t *map, const char *key, double def,
                         double min, double max);
bool sl_cfg_get_bool(sl_cfg_t *self, const sl_cfg_node_t *map, const char *key, bool def);
/* sl_cfg_get_duration_ms - "250ms", "5s", "2m", "1h", "14d" or a bare number of ms. */
int64_t sl_cfg_get_duration_ms(sl_cfg_t *self, const sl_cfg_node_t *map, const char *key,
                               int64_t def, int64_t min, int64_t max);
/* sl_cfg_get_size - "10M", "512k", "1G" or bare bytes (powers of 1024). */
int64_t sl_cfg_get_size(sl_cfg_t *self, const sl_cfg_node_t *map, const char *key, int64_t def,
                        int64_t min, int64_t max);
/* sl_cfg_check_keys - records an error for every key of MAP not in the
 * NULL-terminated list ALLOWED (catches typos such as "wokers"). */
void sl_cfg_check_keys(sl_cfg_t *self, const sl_cfg_node_t *map, const char *const *allowed);

/* Key paths name a node as an operator sees it: "broker.heartbeat",
 * "stages[2].workers" (sequence indexes count from 0). A null value is a
 * plain empty scalar, "~" or "null": the typed getters above refuse it
 * ("found nothing"); a section or list left empty reads as absent. */

/* sl_cfg_is_null - true for a null scalar ("key:" with no value, ~, null). */
bool sl_cfg_is_null(const sl_cfg_node_t *node);
/* sl_cfg_node_path - key path of NODE into BUF ("" for the root); cut with
 * "..." when it does not fit. Returns BUF. */
const char *sl_cfg_node_path(const sl_cfg_node_t *node, char *buf, size_t size);
/* sl_cfg_expected - records "file:line: PATH: expected WHAT, found VALUE" for
 * NODE, WHAT formatted from FMT; the value is shown quoted and made printable. */
void sl_cfg_expected(sl_cfg_t *self, const sl_cfg_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* sl_cfg_get_map - value of KEY under MAP when it is a map (borrowed); NULL
 * when absent or null; otherwise an error is recorded and NULL returned. */
const sl_cfg_node_t *sl_cfg_get_map(sl_cfg_t *self, const sl_cfg_node_t *map, const char *key);
/* sl_cfg_get_seq - the same for a sequence (a YAML list). */
const sl_cfg_node_t *sl_cfg_get_seq(sl_cfg_t *self, const sl_cfg_node_t *map, const char *key);

#endif
