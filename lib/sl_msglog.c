/*
 * lib/sl_msglog.c - the message log tables (see sl_msglog.h).
 *
 * Tables (component "msglog"): msglog (one row per id and recipient, indexed
 * by time and recipient for `sluice log`), msglog_trail (one JSON envelope per
 * message).
 * Tests: tests/e2e/test_delivery.py
 */
#include "sl_msglog.h"
#include "sl_mem.h"

#include <stdio.h>
#include <string.h>

static const char *const s_migrations[] = {
    "CREATE TABLE msglog (id TEXT NOT NULL, rcpt TEXT NOT NULL, time_ms INTEGER NOT NULL,"
    " size INTEGER, sender TEXT, relay_ip TEXT, message_id TEXT, subject TEXT, score REAL,"
    " classification TEXT, action TEXT, destination TEXT, virus TEXT, banned TEXT,"
    " symbols TEXT, delivery TEXT, delivery_reply TEXT, PRIMARY KEY (id, rcpt));"
    "CREATE INDEX msglog_time ON msglog (time_ms);"
    "CREATE INDEX msglog_rcpt ON msglog (rcpt, time_ms);"
    "CREATE TABLE msglog_trail (id TEXT PRIMARY KEY, time_ms INTEGER NOT NULL, json TEXT);",
    "ALTER TABLE msglog_trail ADD COLUMN summary TEXT;",
};

int
sl_msglog_migrate(sl_store_t *store)
{
    return sl_store_migrate(store, "msglog", s_migrations,
                            sizeof s_migrations / sizeof s_migrations[0]);
}

int
sl_msglog_put(sl_store_t *store, const sl_msglog_rec_t *rec)
{
    char t[24], size[24], score[32];
    snprintf(t, sizeof t, "%llu", (unsigned long long)rec->time_ms);
    snprintf(size, sizeof size, "%llu", (unsigned long long)rec->size);
    snprintf(score, sizeof score, "%.3f", rec->score);
    const char *p[] = {rec->id,
                       rec->rcpt,
                       t,
                       size,
                       rec->sender,
                       rec->relay_ip,
                       rec->message_id,
                       rec->subject,
                       score,
                       rec->classification,
                       rec->action,
                       rec->destination,
                       rec->virus,
                       rec->banned,
                       rec->symbols};
    return sl_store_exec(store,
                         "INSERT INTO msglog (id, rcpt, time_ms, size, sender, relay_ip,"
                         " message_id, subject, score, classification, action, destination,"
                         " virus, banned, symbols) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                         " ?, ?, ?) ON CONFLICT (id, rcpt) DO UPDATE SET"
                         " time_ms = excluded.time_ms, size = excluded.size,"
                         " sender = excluded.sender, relay_ip = excluded.relay_ip,"
                         " message_id = excluded.message_id, subject = excluded.subject,"
                         " score = excluded.score, classification = excluded.classification,"
                         " action = excluded.action, destination = excluded.destination,"
                         " virus = excluded.virus, banned = excluded.banned,"
                         " symbols = excluded.symbols",
                         p, 15) == 0
               ? 0
               : -1;
}

int
sl_msglog_put_trail(sl_store_t *store, const char *id, uint64_t time_ms, const char *json,
                    const char *summary)
{
    char t[24];
    snprintf(t, sizeof t, "%llu", (unsigned long long)time_ms);
    const char *p[] = {id, t, json, summary};
    return sl_store_exec(store,
                         "INSERT INTO msglog_trail (id, time_ms, json, summary) VALUES (?, ?, ?, ?)"
                         " ON CONFLICT (id) DO UPDATE SET time_ms = excluded.time_ms,"
                         " json = excluded.json, summary = excluded.summary",
                         p, 4) == 0
               ? 0
               : -1;
}

int
sl_msglog_action(sl_store_t *store, const char *id, const char *rcpt, char *buf, size_t size)
{
    const char *p[] = {id, rcpt};
    sl_rows_t *rows =
        sl_store_query(store, "SELECT action FROM msglog WHERE id = ? AND rcpt = ?", p, 2);
    if (rows == NULL)
        return -1;
    int found = sl_rows_count(rows) == 1 && sl_rows_get(rows, 0, 0) != NULL;
    if (found)
        snprintf(buf, size, "%s", sl_rows_get(rows, 0, 0));
    sl_rows_free(&rows);
    return found;
}

int
sl_msglog_set_delivery(sl_store_t *store, const char *id, const char *rcpt, const char *status,
                       const char *reply)
{
    /* An upsert: delivery can be faster than the action stage's log commit
     * (the queue file is durable first, on purpose); whichever comes second
     * fills in its own columns. Queue files of other origins (DSNs) have no
     * record: only rows with an action are ever listed as messages. */
    char t[24];
    snprintf(t, sizeof t, "%llu", (unsigned long long)sl_now_ms());
    const char *p[] = {id, rcpt, t, status, reply};
    return sl_store_exec(store,
                         "INSERT INTO msglog (id, rcpt, time_ms, delivery, delivery_reply)"
                         " VALUES (?, ?, ?, ?, ?) ON CONFLICT (id, rcpt) DO UPDATE SET"
                         " delivery = excluded.delivery, delivery_reply = excluded.delivery_reply",
                         p, 5) == 0
               ? 0
               : -1;
}

sl_rows_t *
sl_msglog_find(sl_store_t *store, uint64_t since_ms, const char *rcpt, const char *classification,
               const char *id, long limit)
{
    char since[24], lim[24], sql[1024];
    snprintf(since, sizeof since, "%llu", (unsigned long long)since_ms);
    snprintf(lim, sizeof lim, "%ld", limit > 0 ? limit : SL_MSGLOG_LIMIT_DEFAULT);
    const char *p[5];
    size_t n = 0;
    int len = snprintf(sql, sizeof sql,
                       "SELECT id, rcpt, time_ms, size, sender, relay_ip, message_id, subject,"
                       " score, classification, action, destination, virus, banned, symbols,"
                       " delivery, delivery_reply FROM msglog WHERE time_ms >= ?"
                       " AND action IS NOT NULL");
    p[n++] = since;
    if (rcpt) {
        len += snprintf(sql + len, sizeof sql - (size_t)len, " AND rcpt = ?");
        p[n++] = rcpt;
    }
    if (classification) {
        len += snprintf(sql + len, sizeof sql - (size_t)len, " AND classification = ?");
        p[n++] = classification;
    }
    if (id) {
        len += snprintf(sql + len, sizeof sql - (size_t)len, " AND id = ?");
        p[n++] = id;
    }
    snprintf(sql + len, sizeof sql - (size_t)len, " ORDER BY time_ms DESC, id, rcpt LIMIT ?");
    p[n++] = lim;
    return sl_store_query(store, sql, p, n);
}

sl_rows_t *
sl_msglog_trail(sl_store_t *store, const char *id)
{
    const char *p[] = {id};
    return sl_store_query(store, "SELECT time_ms, json, summary FROM msglog_trail WHERE id = ?", p,
                          1);
}
