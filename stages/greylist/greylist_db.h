/*
 * stages/greylist/greylist_db.h - greylisting decisions on the shared store.
 *
 * A triplet is (client network, sender, recipient). The first attempt is
 * deferred; a retry after the delay and within the retry window passes and
 * marks the triplet passed; a passed triplet passes until it has been unused
 * for the expiry time. A client network with auto_allow passed triplets
 * passes at once for anything. Passed triplets are also counted per sender
 * domain (greylist_db_domain_passes). State lives in sl_store (SQLite by default,
 * PostgreSQL later), so every worker and every smtpd host sharing the store
 * agrees. Time is passed in by the caller (seconds), so tests can move it.
 * Tests: tests/unit/test_greylist.c
 */
#ifndef GREYLIST_DB_H
#define GREYLIST_DB_H

#include "sl_store.h"

#include <stdint.h>

typedef struct {
    int64_t delay_s;        /* first attempt to earliest accepted retry */
    int64_t retry_window_s; /* a retry later than this after the first attempt starts over */
    int64_t expiry_s;       /* unused passed triplets and client records are forgotten */
    int64_t auto_allow;     /* passed triplets after which the network passes at once; 0 off */
} greylist_policy_t;

typedef enum {
    GREYLIST_DEFER,      /* answer 451; retry_in says when */
    GREYLIST_PASS,       /* retried in time: passes now and from now on */
    GREYLIST_KNOWN,      /* a triplet that passed before */
    GREYLIST_AUTO_ALLOW, /* the client network is known good */
} greylist_result_t;

/* greylist_db_migrate - creates or updates the greylist tables; 0 or -1. */
int greylist_db_migrate(sl_store_t *store);

/* greylist_db_check - decision for the triplet at NOW (seconds); *retry_in
 * is the seconds until a retry can pass (DEFER only). -1 on a store error
 * (sl_store_error says why). */
int greylist_db_check(sl_store_t *store, const greylist_policy_t *policy, const char *network,
                      const char *sender, const char *rcpt, int64_t now, greylist_result_t *result,
                      int64_t *retry_in);

/* greylist_db_domain_passes - *PASSES: triplets of sender DOMAIN (lower case)
 * that passed a retry, while the domain has been seen within the expiry time
 * (the history the SPF bypass asks for). 0, or -1 on a store error. */
int greylist_db_domain_passes(sl_store_t *store, const greylist_policy_t *policy,
                              const char *domain, int64_t now, int64_t *passes);

/* greylist_db_expire - forgets what has been unused for the expiry time; rows removed or -1. */
int64_t greylist_db_expire(sl_store_t *store, const greylist_policy_t *policy, int64_t now);

/* greylist_result_name - "defer", "pass", "known", "auto-allow". */
const char *greylist_result_name(greylist_result_t result);

#endif
