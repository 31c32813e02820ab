/*
 * stages/score/score_sender.h - sender behaviour: correspondents learned from
 * outbound mail and per-sender reputation, kept in the storage layer.
 *
 * Outbound mail records (local sender -> external recipient) pairs; inbound
 * mail asks whether every local recipient has written to the sender. After an
 * inbound message is scored, counters per sender address and per sender
 * domain are updated; the next message from that sender is judged on them.
 * Addresses come from the envelope (untrusted): length-checked, lower-cased.
 * One handle may be shared by scan threads (a mutex serialises the store).
 * Tests: tests/unit/test_score_sender.c, tests/e2e/test_score_sender.py
 */
#ifndef SCORE_SENDER_H
#define SCORE_SENDER_H

#include "sl_env.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SENDER_ADDR_MAX 320    /* octets of an address kept (RFC 5321 path 256 + slack) */
#define SENDER_RCPTS_MAX 100   /* recipients looked up per message */
#define SENDER_GOOD_MIN 5      /* messages before a sender can be good */
#define SENDER_GOOD_RATIO 0.05 /* ... with a spam ratio below this */
#define SENDER_BAD_MIN 3       /* messages before a sender can be bad */
#define SENDER_BAD_RATIO 0.80  /* ... with a spam ratio above this */

typedef struct score_sender score_sender_t;

typedef enum {
    SENDER_REP_NONE, /* too little history, or in between */
    SENDER_REP_GOOD, /* >= SENDER_GOOD_MIN messages, spam ratio < SENDER_GOOD_RATIO */
    SENDER_REP_BAD,  /* >= SENDER_BAD_MIN messages, spam ratio > SENDER_BAD_RATIO */
} score_rep_t;

/* score_sender_open - store at URL (sl_store_open form), tables migrated
 * (component "sender"); NULL with ERR. */
score_sender_t *score_sender_open(const char *url, char *err, size_t errlen);
void score_sender_close(score_sender_t **self_p);

/* score_sender_note_out - outbound FROM wrote to RCPTS (N of them) at NOW
 * (unix seconds): count and last-seen per pair. 0, or -1 on a store error.
 * A null or over-long sender records nothing. */
int score_sender_note_out(score_sender_t *self, const char *from, const char *const *rcpts,
                          size_t n, int64_t now);

/* score_sender_correspondents - inbound FROM to RCPTS: how many recipients
 * wrote to FROM at or after SINCE (unix seconds) into *hits, their addresses
 * (space separated, cut at INFO_SIZE) into INFO. 0, or -1 on a store error. */
int score_sender_correspondents(score_sender_t *self, const char *from, const char *const *rcpts,
                                size_t n, int64_t since, size_t *hits, char *info,
                                size_t info_size);

/* score_sender_reputation - FROM's reputation from its address counters, or
 * its domain's when the address has fewer than SENDER_GOOD_MIN messages and
 * no verdict of its own. GOOD only when AUTHENTICATED; the null sender is
 * always NONE. INFO gets "key messages=N spam=N mean=X". -1 on a store error. */
int score_sender_reputation(score_sender_t *self, const char *from, bool authenticated,
                            score_rep_t *rep, char *info, size_t info_size);

/* score_sender_note_in - counts one inbound message from FROM with SCORE,
 * as spam when SPAM, for its address and its domain. Null sender: nothing. */
int score_sender_note_in(score_sender_t *self, const char *from, double score, bool spam);

/* score_sender_authenticated - true when the headers stage's verdict in ENV
 * says SPF passed for the MAIL FROM domain (SPF_PASS) or a DKIM signature of
 * exactly that domain passed (DKIM_PASS d=DOMAIN). */
bool score_sender_authenticated(const sl_env_t *env);

#endif
