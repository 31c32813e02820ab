/*
 * lib/sl_quarstore.h - the simple quarantine store the action stage hands mail to.
 *
 * Files plus an index in sl_store; the layout is written down in
 * quarantine/README.md so that sluice-quarantine (a later issue) takes it
 * over as it is. One file per message, the original bytes unchanged:
 *   DIR/tmp/ID.eml   being written
 *   DIR/msg/ID.eml   durable (fsync'd, renamed, directory fsync'd)
 * and one index row per quarantined recipient (table quarantine).
 * Deduplicated by queue id: the same message quarantined twice is one file,
 * and one row per recipient.
 * Tests: tests/e2e/test_delivery.py, tests/e2e/test_quarantine.py
 */
#ifndef SL_QUARSTORE_H
#define SL_QUARSTORE_H

#include "sl_mem.h"
#include "sl_store.h"

#include <stdint.h>

typedef struct {
    const char *id;             /* queue id */
    const char *rcpt;           /* recipient whose copy is held */
    uint64_t time_ms;           /* when */
    const char *sender;         /* envelope sender */
    const char *subject;        /* Subject header, "" when none */
    const char *classification; /* why: virus, spam ... */
    double score;               /* the message's score */
    const char *reason;         /* virus names, symbols: what the user is shown */
    const char *path;           /* the message file */
} sl_quarstore_rec_t;

/* sl_quarstore_migrate - creates or updates the index table; 0 or -1. */
int sl_quarstore_migrate(sl_store_t *store);
/* sl_quarstore_write - writes BODY as DIR/msg/ID.eml durably (file and
 * directory fsync'd) unless it is already there; PATH gets its path.
 * 0, or -1 with *why. */
int sl_quarstore_write(const char *dir, const char *id, sl_slice_t body, char *path, size_t size,
                       const char **why);
#define SL_QUARSTORE_DOMAIN_MAX 256 /* rcpt_domain, NUL included (RFC 1035: 253) */

/* sl_quarstore_domain - the rcpt_domain column for RCPT: what follows its
 * last '@', ASCII lower case, cut to SIZE - 1 bytes; "" without an '@'. */
void sl_quarstore_domain(const char *rcpt, char *buf, size_t size);
/* sl_quarstore_index - the index row for one recipient (rcpt_domain derived
 * from rcpt); 0 or -1 (sl_store_error). */
int sl_quarstore_index(sl_store_t *store, const sl_quarstore_rec_t *rec);

#endif
