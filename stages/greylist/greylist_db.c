/*
 * stages/greylist/greylist_db.c - greylisting decisions on the shared store.
 *
 * Every decision is one transaction (BEGIN IMMEDIATE on SQLite), so two
 * workers or two smtpd hosts that see the same triplet at once agree on its
 * first attempt: the insert that starts (or restarts) a triplet is one
 * upsert, and whoever comes second reads what the first wrote. SQL follows
 * the portability rules of lib/sl_store.h (PostgreSQL accepts it as is).
 * Tests: tests/unit/test_greylist.c
 */
#include "greylist_db.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *const s_steps[] = {
    "CREATE TABLE greylist_triplet (network TEXT NOT NULL, sender TEXT NOT NULL, "
    "rcpt TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, "
    "passed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (network, sender, rcpt))",
    "CREATE INDEX greylist_triplet_last_seen ON greylist_triplet (last_seen)",
    "CREATE TABLE greylist_client (network TEXT PRIMARY KEY, passes INTEGER NOT NULL, "
    "last_seen INTEGER NOT NULL)",
    "CREATE TABLE greylist_domain (domain TEXT PRIMARY KEY, passes INTEGER NOT NULL, "
    "last_seen INTEGER NOT NULL)",
};

int
greylist_db_migrate(sl_store_t *store)
{
    return sl_store_migrate(store, "greylist", s_steps, sizeof s_steps / sizeof s_steps[0]);
}

const char *
greylist_result_name(greylist_result_t result)
{
    switch (result) {
    case GREYLIST_DEFER:
        return "defer";
    case GREYLIST_PASS:
        return "pass";
    case GREYLIST_KNOWN:
        return "known";
    case GREYLIST_AUTO_ALLOW:
        return "auto-allow";
    }
    return "?";
}

static int
s_abort(sl_store_t *store)
{
    sl_store_rollback(store);
    return -1;
}

int
greylist_db_check(sl_store_t *store, const greylist_policy_t *policy, const char *network,
                  const char *sender, const char *rcpt, int64_t now, greylist_result_t *result,
                  int64_t *retry_in)
{
    char now_s[24], stale_s[24], late_s[24];
    snprintf(now_s, sizeof now_s, "%" PRId64, now);
    snprintf(stale_s, sizeof stale_s, "%" PRId64, now - policy->expiry_s);
    snprintf(late_s, sizeof late_s, "%" PRId64, now - policy->retry_window_s);
    *retry_in = 0;
    if (sl_store_begin(store) != 0)
        return -1;

    if (policy->auto_allow > 0) {
        const char *p[] = {network, stale_s};
        sl_rows_t *rows = sl_store_query(
            store, "SELECT passes FROM greylist_client WHERE network = ? AND last_seen >= ?", p, 2);
        if (rows == NULL)
            return s_abort(store);
        int64_t passes = sl_rows_count(rows) ? sl_rows_int(rows, 0, 0, 0) : 0;
        sl_rows_free(&rows);
        if (passes >= policy->auto_allow) {
            const char *u[] = {now_s, network};
            if (sl_store_exec(store, "UPDATE greylist_client SET last_seen = ? WHERE network = ?",
                              u, 2) != 0)
                return s_abort(store);
            *result = GREYLIST_AUTO_ALLOW;
            return sl_store_commit(store);
        }
    }

    /* New triplet, or one to start over: unused past the expiry, or never
     * passed and retried after the window. */
    const char *ins[] = {network, sender, rcpt, now_s, now_s, stale_s, late_s};
    if (sl_store_exec(store,
                      "INSERT INTO greylist_triplet (network, sender, rcpt, first_seen, last_seen, "
                      "passed) VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (network, sender, rcpt) "
                      "DO UPDATE SET first_seen = excluded.first_seen, "
                      "last_seen = excluded.last_seen, passed = 0 "
                      "WHERE greylist_triplet.last_seen < ? "
                      "OR (greylist_triplet.passed = 0 AND greylist_triplet.first_seen < ?)",
                      ins, 7) != 0)
        return s_abort(store);
    if (sl_store_changes(store) > 0) {
        *result = GREYLIST_DEFER;
        *retry_in = policy->delay_s;
        return sl_store_commit(store);
    }

    const char *key[] = {network, sender, rcpt};
    sl_rows_t *rows = sl_store_query(store,
                                     "SELECT first_seen, passed FROM greylist_triplet "
                                     "WHERE network = ? AND sender = ? AND rcpt = ?",
                                     key, 3);
    if (rows == NULL || sl_rows_count(rows) != 1) {
        sl_rows_free(&rows);
        return s_abort(store);
    }
    int64_t first = sl_rows_int(rows, 0, 0, now);
    bool passed = sl_rows_int(rows, 0, 1, 0) != 0;
    sl_rows_free(&rows);
    if (!passed && now - first < policy->delay_s) {
        *result = GREYLIST_DEFER;
        *retry_in = policy->delay_s - (now - first);
        return sl_store_commit(store);
    }
    const char *upd[] = {now_s, network, sender, rcpt};
    if (sl_store_exec(store,
                      "UPDATE greylist_triplet SET passed = 1, last_seen = ? "
                      "WHERE network = ? AND sender = ? AND rcpt = ?",
                      upd, 4) != 0)
        return s_abort(store);
    const char *at = strrchr(sender, '@');
    if (!passed && at && at[1]) {
        const char *dom[] = {at + 1, now_s, stale_s};
        if (sl_store_exec(store,
                          "INSERT INTO greylist_domain (domain, passes, last_seen) "
                          "VALUES (?, 1, ?) ON CONFLICT (domain) DO UPDATE SET "
                          "passes = CASE WHEN greylist_domain.last_seen < ? THEN 1 "
                          "ELSE greylist_domain.passes + 1 END, last_seen = excluded.last_seen",
                          dom, 3) != 0)
            return s_abort(store);
    }
    if (!passed) {
        const char *cl[] = {network, now_s, stale_s};
        if (sl_store_exec(store,
                          "INSERT INTO greylist_client (network, passes, last_seen) "
                          "VALUES (?, 1, ?) ON CONFLICT (network) DO UPDATE SET "
                          "passes = CASE WHEN greylist_client.last_seen < ? THEN 1 "
                          "ELSE greylist_client.passes + 1 END, last_seen = excluded.last_seen",
                          cl, 3) != 0)
            return s_abort(store);
    }
    *result = passed ? GREYLIST_KNOWN : GREYLIST_PASS;
    return sl_store_commit(store);
}

int64_t
greylist_db_expire(sl_store_t *store, const greylist_policy_t *policy, int64_t now)
{
    char stale_s[24];
    snprintf(stale_s, sizeof stale_s, "%" PRId64, now - policy->expiry_s);
    const char *p[] = {stale_s};
    if (sl_store_exec(store, "DELETE FROM greylist_triplet WHERE last_seen < ?", p, 1) != 0)
        return -1;
    int64_t removed = sl_store_changes(store);
    if (sl_store_exec(store, "DELETE FROM greylist_client WHERE last_seen < ?", p, 1) != 0)
        return -1;
    removed += sl_store_changes(store);
    if (sl_store_exec(store, "DELETE FROM greylist_domain WHERE last_seen < ?", p, 1) != 0)
        return -1;
    return removed + sl_store_changes(store);
}

int
greylist_db_domain_passes(sl_store_t *store, const greylist_policy_t *policy, const char *domain,
                          int64_t now, int64_t *passes)
{
    char stale_s[24];
    snprintf(stale_s, sizeof stale_s, "%" PRId64, now - policy->expiry_s);
    const char *p[] = {domain, stale_s};
    sl_rows_t *rows = sl_store_query(
        store, "SELECT passes FROM greylist_domain WHERE domain = ? AND last_seen >= ?", p, 2);
    if (rows == NULL)
        return -1;
    *passes = sl_rows_count(rows) ? sl_rows_int(rows, 0, 0, 0) : 0;
    sl_rows_free(&rows);
    return 0;
}
