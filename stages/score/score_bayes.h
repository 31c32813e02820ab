/*
 * stages/score/score_bayes.h - naive Bayes over message tokens (Robinson-Fisher),
 * token counts in the storage layer (lib/sl_store.h).
 *
 * The same tokenizer serves learning (`sluice learn`) and classifying (the
 * score stage): words of the raw message, header words prefixed by their
 * field, base64 blocks skipped. One handle may be shared by scan threads
 * (a mutex serialises the store). Tests: tests/unit/test_score_bayes.c
 */
#ifndef SCORE_BAYES_H
#define SCORE_BAYES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BAYES_TOKENS_MAX 3000    /* distinct tokens taken from one message */
#define BAYES_TOKEN_MAX 40       /* octets of one token; longer words are skipped */
#define BAYES_INTERESTING 20     /* tokens furthest from 0.5 that decide (default) */
#define BAYES_STRENGTH 0.45      /* Robinson's s (default; SpamBayes' value) */
#define BAYES_MIN_DEVIATION 0.1  /* tokens with |f(w) - 0.5| below this are ignored */
#define BAYES_MIN_LEARNED 20     /* messages of each class before classifying */
#define BAYES_SCAN_MAX (1 << 20) /* octets of a message tokenized */

typedef struct score_bayes score_bayes_t;

/* score_bayes_open - token store at URL (sl_store_open form), schema migrated;
 * NULL with ERR. */
score_bayes_t *score_bayes_open(const char *url, char *err, size_t errlen);
void score_bayes_close(score_bayes_t **self_p);

/* score_bayes_learn - counts MSG/LEN as spam or ham; 0, or -1 (store error).
 * Batches go faster inside score_bayes_begin / score_bayes_commit. */
int score_bayes_learn(score_bayes_t *self, const char *msg, size_t len, bool spam);
int score_bayes_begin(score_bayes_t *self);
int score_bayes_commit(score_bayes_t *self);

/* score_bayes_classify - spam probability of MSG/LEN in 0..1 into *p; 1 when
 * classified, 0 when too little has been learned, -1 on a store error. */
int score_bayes_classify(score_bayes_t *self, const char *msg, size_t len, double *p);

/* score_bayes_tune - Robinson's strength S (> 0) and the number of most
 * interesting tokens that decide (> 0); 0 keeps a default. Before use. */
void score_bayes_tune(score_bayes_t *self, double strength, size_t interesting);

/* score_bayes_logodds - the continuous Bayes weight SCALE x log10(P / (1 - P)),
 * clamped to [MIN, MAX]; P is held within [1e-12, 1 - 1e-12], so 0 and 1
 * (and NaN, as 0.5) stay finite. */
double score_bayes_logodds(double p, double scale, double min, double max);

/* score_bayes_stats - messages learned per class and distinct tokens; 0 or -1. */
int score_bayes_stats(score_bayes_t *self, int64_t *spam, int64_t *ham, int64_t *tokens);

/* score_bayes_tokens - the tokens of MSG/LEN (for tests): calls FN per
 * distinct token; returns their count. */
size_t score_bayes_tokens(const char *msg, size_t len, void (*fn)(const char *token, void *arg),
                          void *arg);

#endif
