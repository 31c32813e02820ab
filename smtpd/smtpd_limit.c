/*
 * smtpd/smtpd_limit.c - per-client-IP connection limits: at once and per minute.
 *
 * Chained hash table (FNV-1a over the address text), grown at load 1. An
 * entry lives while it has connections or counts in the last two minutes;
 * smtpd_limit_sweep frees the rest, so a scan from many addresses costs
 * memory for two minutes only.
 * Tests: tests/unit/test_smtpd_limit.c
 */
#include "smtpd_limit.h"

#include "sl_mem.h"

#include <stdlib.h>
#include <string.h>

#define S_WINDOW_MS 60000

typedef struct s_entry {
    struct s_entry *next;
    size_t active;      /* connections now */
    uint64_t window;    /* start of the current minute window */
    size_t count, prev; /* connections in the current and previous window */
    char ip[46];        /* INET6_ADDRSTRLEN */
} s_entry_t;

struct smtpd_limit {
    size_t concurrent, rate;
    s_entry_t **buckets;
    size_t bucket_count, entry_count;
};

static uint64_t
s_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

smtpd_limit_t *
smtpd_limit_new(size_t concurrent, size_t rate)
{
    smtpd_limit_t *self = sl_xcalloc(1, sizeof *self);
    self->concurrent = concurrent;
    self->rate = rate;
    self->bucket_count = 256;
    self->buckets = sl_xcalloc(self->bucket_count, sizeof *self->buckets);
    return self;
}

void
smtpd_limit_destroy(smtpd_limit_t **self_p)
{
    smtpd_limit_t *self = *self_p;
    if (self == NULL)
        return;
    for (size_t i = 0; i < self->bucket_count; i++) {
        s_entry_t *e = self->buckets[i];
        while (e) {
            s_entry_t *next = e->next;
            free(e);
            e = next;
        }
    }
    free(self->buckets);
    free(self);
    *self_p = NULL;
}

static void
s_grow(smtpd_limit_t *self)
{
    size_t n = self->bucket_count * 2;
    s_entry_t **b = sl_xcalloc(n, sizeof *b);
    for (size_t i = 0; i < self->bucket_count; i++) {
        s_entry_t *e = self->buckets[i];
        while (e) {
            s_entry_t *next = e->next;
            size_t k = s_hash(e->ip) % n;
            e->next = b[k];
            b[k] = e;
            e = next;
        }
    }
    free(self->buckets);
    self->buckets = b;
    self->bucket_count = n;
}

static s_entry_t *
s_find(smtpd_limit_t *self, const char *ip, int create)
{
    size_t k = s_hash(ip) % self->bucket_count;
    for (s_entry_t *e = self->buckets[k]; e; e = e->next)
        if (strcmp(e->ip, ip) == 0)
            return e;
    if (!create)
        return NULL;
    if (self->entry_count >= self->bucket_count) {
        s_grow(self);
        k = s_hash(ip) % self->bucket_count;
    }
    s_entry_t *e = sl_xcalloc(1, sizeof *e);
    sl_strlcpy(e->ip, ip, sizeof e->ip);
    e->next = self->buckets[k];
    self->buckets[k] = e;
    self->entry_count++;
    return e;
}

static void
s_roll(s_entry_t *e, uint64_t now)
{
    if (now < e->window) /* clock went back: start over */
        e->window = now, e->count = e->prev = 0;
    uint64_t elapsed = now - e->window;
    if (elapsed >= 2 * S_WINDOW_MS) {
        e->prev = 0;
        e->count = 0;
        e->window = now - now % S_WINDOW_MS;
    } else if (elapsed >= S_WINDOW_MS) {
        e->prev = e->count;
        e->count = 0;
        e->window += S_WINDOW_MS;
    }
}

smtpd_limit_result_t
smtpd_limit_enter(smtpd_limit_t *self, const char *ip, uint64_t now_ms)
{
    s_entry_t *e = s_find(self, ip, 1);
    s_roll(e, now_ms);
    if (e->active >= self->concurrent)
        return SMTPD_LIMIT_CONCURRENT;
    uint64_t into = now_ms - e->window;
    /* estimate = prev * (remaining share of the previous window) + count */
    uint64_t estimate = e->prev * (S_WINDOW_MS - into) / S_WINDOW_MS + e->count;
    if (estimate >= self->rate)
        return SMTPD_LIMIT_RATE;
    e->count++;
    e->active++;
    return SMTPD_LIMIT_OK;
}

void
smtpd_limit_leave(smtpd_limit_t *self, const char *ip)
{
    s_entry_t *e = s_find(self, ip, 0);
    if (e != NULL && e->active > 0)
        e->active--;
}

size_t
smtpd_limit_sweep(smtpd_limit_t *self, uint64_t now_ms)
{
    for (size_t i = 0; i < self->bucket_count; i++) {
        s_entry_t **pp = &self->buckets[i];
        while (*pp) {
            s_entry_t *e = *pp;
            s_roll(e, now_ms);
            if (e->active == 0 && e->count == 0 && e->prev == 0) {
                *pp = e->next;
                free(e);
                self->entry_count--;
            } else {
                pp = &e->next;
            }
        }
    }
    return self->entry_count;
}
