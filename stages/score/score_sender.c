/*
 * stages/score/score_sender.c - correspondents and per-sender reputation in
 * the storage layer (tables sender_pair and sender_rep, component "sender").
 *
 * sender_pair: (local sender, external recipient) -> count, last seen, from
 * outbound mail. sender_rep: (kind "addr" or "domain", key) -> messages, spam
 * messages, sum of scores, from inbound mail after scoring. Addresses are
 * envelope data (untrusted): over-long ones are ignored, all are lower-cased.
 * Tests: tests/unit/test_score_sender.c, tests/e2e/test_score_sender.py
 */
#include "score_sender.h"
#include "sl_mem.h"
#include "sl_store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct score_sender {
    sl_store_t *store;    /* one handle, used under lock */
    pthread_mutex_t lock; /* serialises the store between scan threads */
};

static const char *const s_steps[] = {
    "CREATE TABLE sender_pair (local TEXT NOT NULL, remote TEXT NOT NULL, "
    "count INTEGER NOT NULL, last_seen INTEGER NOT NULL, PRIMARY KEY (local, remote))",
    "CREATE TABLE sender_rep (kind TEXT NOT NULL, key TEXT NOT NULL, messages INTEGER NOT NULL, "
    "spam INTEGER NOT NULL, score_sum REAL NOT NULL, PRIMARY KEY (kind, key))",
};

score_sender_t *
score_sender_open(const char *url, char *err, size_t errlen)
{
    sl_store_t *store = sl_store_open(url, err, errlen);
    if (store == NULL)
        return NULL;
    if (sl_store_migrate(store, "sender", s_steps, sizeof s_steps / sizeof s_steps[0]) != 0) {
        snprintf(err, errlen, "sender schema: %s", sl_store_error(store));
        sl_store_close(&store);
        return NULL;
    }
    score_sender_t *self = sl_xcalloc(1, sizeof *self);
    self->store = store;
    pthread_mutex_init(&self->lock, NULL);
    return self;
}

void
score_sender_close(score_sender_t **self_p)
{
    score_sender_t *self = *self_p;
    if (self == NULL)
        return;
    sl_store_close(&self->store);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

/* s_addr - ADDR lower-cased into OUT; false for the null sender, an
 * over-long address or one without a local part and a domain. */
static bool
s_addr(const char *addr, char out[SENDER_ADDR_MAX + 1])
{
    size_t len = addr ? strnlen(addr, SENDER_ADDR_MAX + 1) : 0;
    const char *at = len ? memchr(addr, '@', len) : NULL;
    if (len == 0 || len > SENDER_ADDR_MAX || at == NULL || at == addr || at == addr + len - 1)
        return false;
    for (size_t i = 0; i < len; i++)
        out[i] = addr[i] >= 'A' && addr[i] <= 'Z' ? (char)(addr[i] - 'A' + 'a') : addr[i];
    out[len] = '\0';
    return true;
}

static const char *
s_domain(const char *addr)
{
    return strrchr(addr, '@') + 1; /* s_addr made sure there is one */
}

/* s_begin - takes the lock and opens a transaction; 0, or -1 (still locked:
 * s_end unlocks). */
static int
s_begin(score_sender_t *self)
{
    pthread_mutex_lock(&self->lock);
    return sl_store_begin(self->store) == 0 ? 0 : -1;
}

/* s_end - commits when RC is 0, else rolls back; unlocks; 0 or -1. */
static int
s_end(score_sender_t *self, int rc)
{
    if (rc == 0)
        rc = sl_store_commit(self->store);
    else
        sl_store_rollback(self->store);
    pthread_mutex_unlock(&self->lock);
    return rc == 0 ? 0 : -1;
}

int
score_sender_note_out(score_sender_t *self, const char *from, const char *const *rcpts, size_t n,
                      int64_t now)
{
    char local[SENDER_ADDR_MAX + 1], remote[SENDER_ADDR_MAX + 1], when[24];
    if (!s_addr(from, local))
        return 0;
    snprintf(when, sizeof when, "%" PRId64, now);
    int rc = s_begin(self);
    for (size_t i = 0; rc == 0 && i < n && i < SENDER_RCPTS_MAX; i++) {
        if (!s_addr(rcpts[i], remote))
            continue;
        const char *params[] = {local, remote, when};
        rc = sl_store_exec(self->store,
                           "INSERT INTO sender_pair (local, remote, count, last_seen) "
                           "VALUES (?, ?, 1, ?) ON CONFLICT (local, remote) DO UPDATE SET "
                           "count = sender_pair.count + 1, last_seen = excluded.last_seen",
                           params, 3);
    }
    return s_end(self, rc);
}

int
score_sender_correspondents(score_sender_t *self, const char *from, const char *const *rcpts,
                            size_t n, int64_t since, size_t *hits, char *info, size_t info_size)
{
    char remote[SENDER_ADDR_MAX + 1], local[SENDER_ADDR_MAX + 1], when[24];
    *hits = 0;
    if (info_size > 0)
        info[0] = '\0';
    if (!s_addr(from, remote))
        return 0;
    snprintf(when, sizeof when, "%" PRId64, since);
    size_t used = 0;
    int rc = 0;
    pthread_mutex_lock(&self->lock);
    for (size_t i = 0; i < n && i < SENDER_RCPTS_MAX; i++) {
        if (!s_addr(rcpts[i], local))
            continue;
        const char *params[] = {local, remote, when};
        sl_rows_t *rows = sl_store_query(self->store,
                                         "SELECT count FROM sender_pair WHERE local = ? AND "
                                         "remote = ? AND last_seen >= ? LIMIT 1",
                                         params, 3);
        if (rows == NULL) {
            rc = -1;
            break;
        }
        if (sl_rows_count(rows) > 0) {
            (*hits)++;
            int w = snprintf(info + used, info_size - used, "%s%s", used ? " " : "", local);
            used = w > 0 && (size_t)w < info_size - used ? used + (size_t)w : used;
        }
        sl_rows_free(&rows);
    }
    pthread_mutex_unlock(&self->lock);
    return rc;
}

typedef struct {
    int64_t messages, spam; /* counted inbound messages, of which spam */
    double score_sum;       /* sum of their scores */
} s_counts_t;

/* s_counts - KIND/KEY's counters (zero when unknown) under the lock; 0 or -1. */
static int
s_counts(score_sender_t *self, const char *kind, const char *key, s_counts_t *out)
{
    const char *params[] = {kind, key};
    sl_rows_t *rows = sl_store_query(
        self->store, "SELECT messages, spam, score_sum FROM sender_rep WHERE kind = ? AND key = ?",
        params, 2);
    if (rows == NULL)
        return -1;
    *out = (s_counts_t){0};
    if (sl_rows_count(rows) > 0) {
        out->messages = sl_rows_int(rows, 0, 0, 0);
        out->spam = sl_rows_int(rows, 0, 1, 0);
        const char *sum = sl_rows_get(rows, 0, 2);
        out->score_sum = sum ? strtod(sum, NULL) : 0.0; /* our own column, not peer data */
    }
    sl_rows_free(&rows);
    return 0;
}

/* s_judge - the reputation COUNTS earn. */
static score_rep_t
s_judge(const s_counts_t *c, bool authenticated)
{
    if (c->messages >= SENDER_BAD_MIN && (double)c->spam > SENDER_BAD_RATIO * (double)c->messages)
        return SENDER_REP_BAD;
    if (authenticated && c->messages >= SENDER_GOOD_MIN &&
        (double)c->spam < SENDER_GOOD_RATIO * (double)c->messages)
        return SENDER_REP_GOOD;
    return SENDER_REP_NONE;
}

int
score_sender_reputation(score_sender_t *self, const char *from, bool authenticated,
                        score_rep_t *rep, char *info, size_t info_size)
{
    char addr[SENDER_ADDR_MAX + 1];
    *rep = SENDER_REP_NONE;
    if (info_size > 0)
        info[0] = '\0';
    if (!s_addr(from, addr))
        return 0;
    s_counts_t c;
    const char *key = addr;
    pthread_mutex_lock(&self->lock);
    int rc = s_counts(self, "addr", addr, &c);
    if (rc == 0) {
        *rep = s_judge(&c, authenticated);
        if (*rep == SENDER_REP_NONE && c.messages < SENDER_GOOD_MIN) {
            key = s_domain(addr);
            rc = s_counts(self, "domain", key, &c);
            *rep = rc == 0 ? s_judge(&c, authenticated) : SENDER_REP_NONE;
        }
    }
    pthread_mutex_unlock(&self->lock);
    if (rc == 0 && info_size > 0)
        snprintf(info, info_size, "%s messages=%" PRId64 " spam=%" PRId64 " mean=%.2f", key,
                 c.messages, c.spam, c.messages ? c.score_sum / (double)c.messages : 0.0);
    return rc;
}

int
score_sender_note_in(score_sender_t *self, const char *from, double score, bool spam)
{
    char addr[SENDER_ADDR_MAX + 1], value[32];
    if (!s_addr(from, addr))
        return 0;
    snprintf(value, sizeof value, "%.6f", score);
    const char *keys[][2] = {{"addr", addr}, {"domain", s_domain(addr)}};
    int rc = s_begin(self);
    for (size_t i = 0; rc == 0 && i < 2; i++) {
        const char *params[] = {keys[i][0], keys[i][1], spam ? "1" : "0", value};
        rc = sl_store_exec(self->store,
                           "INSERT INTO sender_rep (kind, key, messages, spam, score_sum) "
                           "VALUES (?, ?, 1, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET "
                           "messages = sender_rep.messages + 1, "
                           "spam = sender_rep.spam + excluded.spam, "
                           "score_sum = sender_rep.score_sum + excluded.score_sum",
                           params, 4);
    }
    return s_end(self, rc);
}

/* s_dkim_domain - true when INFO ("d=a.example s=sel; d=b.example s=sel2")
 * names exactly DOMAIN (case-insensitive) as a signing domain. */
static bool
s_dkim_domain(const char *info, const char *domain)
{
    size_t dlen = strlen(domain);
    for (const char *p = info; (p = strstr(p, "d=")) != NULL; p += 2) {
        bool starts = p == info || p[-1] == ' ';
        if (starts && strncasecmp(p + 2, domain, dlen) == 0 &&
            (p[2 + dlen] == ' ' || p[2 + dlen] == ';' || p[2 + dlen] == ':' || p[2 + dlen] == '\0'))
            return true;
    }
    return false;
}

bool
score_sender_authenticated(const sl_env_t *env)
{
    char addr[SENDER_ADDR_MAX + 1];
    const sl_verdict_t *headers = sl_env_verdict(env, "headers");
    if (headers == NULL || !s_addr(sl_env_mail_from(env), addr))
        return false;
    const char *sym, *info;
    double score;
    for (size_t i = 0; sl_verdict_symbol_at(headers, i, &sym, &score, &info) == 0; i++) {
        if (strcmp(sym, "SPF_PASS") == 0)
            return true; /* SPF checks exactly the MAIL FROM domain */
        if (strcmp(sym, "DKIM_PASS") == 0 && info && s_dkim_domain(info, s_domain(addr)))
            return true;
    }
    return false;
}
