/*
 * lib/sl_msglog.h - the message log: one record per message and recipient.
 *
 * The fields of the data-processing record (DESIGN.md section 0): time, size,
 * destination, classification, virus or banned-file information, recipient,
 * score, Message-ID, sender, relay IP, subject; plus the action taken, the
 * symbols, and what delivery made of it. Beside it, the verdict trail: the
 * final envelope of each message as JSON (every stage's verdict, time,
 * versions), shown by `sluice log --id ID`. Written by the action stage,
 * updated by sluice-delivery, read by `sluice log`. Through sl_store.
 * Tests: tests/e2e/test_delivery.py
 */
#ifndef SL_MSGLOG_H
#define SL_MSGLOG_H

#include "sl_store.h"

#include <stdint.h>

#define SL_MSGLOG_LIMIT_DEFAULT 100 /* records `sluice log` shows without --limit */

typedef struct {
    const char *id;             /* queue id */
    const char *rcpt;           /* recipient */
    uint64_t time_ms;           /* when the action was decided */
    uint64_t size;              /* message bytes */
    const char *sender;         /* envelope sender, "" = null sender */
    const char *relay_ip;       /* client IP that handed us the message */
    const char *message_id;     /* Message-ID header, "" when none */
    const char *subject;        /* Subject header (raw, capped), "" when none */
    double score;               /* the score the policy was applied to */
    const char *classification; /* clean, spam, virus, banned, bad-header, oversized */
    const char *action;         /* deliver, tag, quarantine, drop */
    const char *destination;    /* queue file, quarantine file, or "" for drop */
    const char *virus;          /* virus names, "" when none */
    const char *banned;         /* banned file names, "" when none */
    const char *symbols;        /* "NAME(score) ..." */
} sl_msglog_rec_t;

/* sl_msglog_migrate - creates or updates the tables; 0 or -1 (sl_store_error). */
int sl_msglog_migrate(sl_store_t *store);
/* sl_msglog_put - inserts REC; a second record for the same id and recipient
 * replaces the first (the pipeline may run a message twice). 0 or -1. */
int sl_msglog_put(sl_store_t *store, const sl_msglog_rec_t *rec);
/* sl_msglog_put_trail - the verdict trail of message ID: the final envelope as
 * JSON, and SUMMARY, one line per verdict for people. 0 or -1. */
int sl_msglog_put_trail(sl_store_t *store, const char *id, uint64_t time_ms, const char *json,
                        const char *summary);
/* sl_msglog_action - the action already logged for ID and RCPT, copied into
 * BUF: 1 when found, 0 when not, -1 when the store failed. */
int sl_msglog_action(sl_store_t *store, const char *id, const char *rcpt, char *buf, size_t size);
/* sl_msglog_set_delivery - what delivery made of it: STATUS "sent", "bounced",
 * "deferred", with the server's REPLY. 0 or -1. */
int sl_msglog_set_delivery(sl_store_t *store, const char *id, const char *rcpt, const char *status,
                           const char *reply);
/* sl_msglog_find - records newest first, filtered by SINCE_MS (0 = all),
 * RCPT and CLASSIFICATION (NULL = any), at most LIMIT. Columns: id, rcpt,
 * time_ms, size, sender, relay_ip, message_id, subject, score, classification,
 * action, destination, virus, banned, symbols, delivery, delivery_reply.
 * NULL on a store error. */
sl_rows_t *sl_msglog_find(sl_store_t *store, uint64_t since_ms, const char *rcpt,
                          const char *classification, const char *id, long limit);
/* sl_msglog_trail - the trail of ID: one row (time_ms, json, summary) or none. */
sl_rows_t *sl_msglog_trail(sl_store_t *store, const char *id);

#endif
