/*
 * stages/score/score_rules.h - the score stage's rule engine: PCRE2 regex
 * rules over headers, decoded text, raw body and URIs, and boolean meta
 * rules over any symbols. File format: stages/score/README.md.
 * Tests: tests/unit/test_score_rules.c
 */
#ifndef SCORE_RULES_H
#define SCORE_RULES_H

#include <stdbool.h>
#include <stddef.h>

#define SCORE_RULES_MAX 4096      /* rules in one rule set */
#define SCORE_RULE_LINE_MAX 4096  /* octets of one rule-file line */
#define SCORE_META_TOKENS_MAX 256 /* names and operators in one meta expression */
#define SCORE_META_DEPTH_MAX 32   /* nested parentheses in one meta expression */
#define SCORE_MATCH_LIMIT 200000  /* PCRE2 match limit: a rule that backtracks more misses */
#define SCORE_DESCRIBE_MAX 200    /* octets of one description */

typedef struct score_rules score_rules_t;

/* What one message offers the rules; all borrowed for one score_rules_run. */
typedef struct {
    const char *header; /* raw header block, folded lines as received */
    size_t header_len;
    const char *const *texts; /* decoded, visible text of each text part (UTF-8) */
    const size_t *text_lens;
    size_t text_count;
    const char *raw_body; /* the message after the header, undecoded */
    size_t raw_body_len;
    const char *const *uris; /* normalised URLs (NUL-terminated) */
    size_t uri_count;
    /* has_symbol - whether another stage set symbol NAME (for meta rules). */
    bool (*has_symbol)(const char *name, void *arg);
    void *arg;
} score_input_t;

/* score_hit_fn - one rule matched: its NAME, SCORE and a short INFO (borrowed). */
typedef void (*score_hit_fn)(const char *name, double score, const char *info, void *arg);

/* score_rules_parse - rules from TEXT/LEN (NAME labels errors); NULL with ERR. */
score_rules_t *score_rules_parse(const char *text, size_t len, const char *name, char *err,
                                 size_t errlen);
/* score_rules_load - PATH, a rule file or a folder of *.rules files read in
 * name order as one set; NULL with ERR ("file:line: reason"). */
score_rules_t *score_rules_load(const char *path, char *err, size_t errlen);
/* score_rules_destroy - frees the set; sets *self_p to NULL; harmless on NULL. */
void score_rules_destroy(score_rules_t **self_p);

/* score_rules_count / score_rules_at - the rules, for `sluice symbols`;
 * NAME and DESCRIBE borrowed until the set is destroyed. */
size_t score_rules_count(const score_rules_t *self);
void score_rules_at(const score_rules_t *self, size_t index, const char **name, double *score,
                    const char **describe);

/* score_rules_run - every rule over IN; HIT for each match (regex rules
 * first, then meta rules in file order). Safe from several threads at once.
 * Returns the number of matches given up at SCORE_MATCH_LIMIT. */
size_t score_rules_run(const score_rules_t *self, const score_input_t *in, score_hit_fn hit,
                       void *arg);

#endif
