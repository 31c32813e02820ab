/*
 * stages/headers/headers_table.c - a resolver answering from records in
 * memory: the unit tests' DNS, so that SPF, DKIM and DMARC logic is tested
 * without a server. Names compare without case and without a final dot.
 * Tests: tests/unit/test_headers_*.c
 */
#include "headers.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    char *name;            /* owner name, no final dot */
    int type;              /* SL_DNS_*, 0 for a failure marker */
    char *text;            /* record text; NULL: the name exists without this type */
    sl_dns_status_t fail;  /* for failure markers */
} s_entry_t;

struct headers_table {
    s_entry_t *entries; /* in order added */
    size_t count;       /* entries used */
    size_t cap;         /* entries allocated */
    size_t queries;     /* answered */
};

headers_table_t *
headers_table_new(void)
{
    return sl_xcalloc(1, sizeof(headers_table_t));
}

void
headers_table_destroy(headers_table_t **self_p)
{
    headers_table_t *self = *self_p;
    if (self == NULL)
        return;
    for (size_t i = 0; i < self->count; i++) {
        free(self->entries[i].name);
        free(self->entries[i].text);
    }
    free(self->entries);
    free(self);
    *self_p = NULL;
}

static s_entry_t *
s_add(headers_table_t *self, const char *name)
{
    if (self->count == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 16;
        self->entries = sl_xrealloc(self->entries, self->cap * sizeof *self->entries);
    }
    s_entry_t *e = &self->entries[self->count++];
    memset(e, 0, sizeof *e);
    size_t n = strlen(name);
    e->name = sl_xstrndup(name, n > 1 && name[n - 1] == '.' ? n - 1 : n);
    return e;
}

void
headers_table_add(headers_table_t *self, const char *name, int type, const char *text)
{
    s_entry_t *e = s_add(self, name);
    e->type = type;
    e->text = text ? sl_xstrdup(text) : NULL;
}

void
headers_table_fail(headers_table_t *self, const char *name, sl_dns_status_t status)
{
    s_add(self, name)->fail = status;
}

static bool
s_same(const char *entry, const char *name)
{
    size_t n = strlen(name);
    if (n > 1 && name[n - 1] == '.')
        n--;
    return strlen(entry) == n && strncasecmp(entry, name, n) == 0;
}

static sl_dns_status_t
s_query(void *arg, const char *name, int type, sl_dns_answer_t *out)
{
    headers_table_t *self = arg;
    memset(out, 0, sizeof *out);
    self->queries++;
    bool exists = false;
    for (size_t i = 0; i < self->count; i++) {
        const s_entry_t *e = &self->entries[i];
        if (!s_same(e->name, name))
            continue;
        if (e->type == 0) {
            out->status = e->fail;
            return out->status;
        }
        exists = true;
        if (e->type == type && e->text && out->count < SL_DNS_RR_MAX) {
            out->rr[out->count].len = strlen(e->text);
            out->rr[out->count++].text = sl_xstrdup(e->text);
        }
    }
    out->ttl = 300;
    out->status = out->count ? SL_DNS_OK : exists ? SL_DNS_NODATA : SL_DNS_NXDOMAIN;
    out->rcode = out->status == SL_DNS_NXDOMAIN ? 3 : 0;
    return out->status;
}

static void
s_clear(void *arg, sl_dns_answer_t *answer)
{
    (void) arg;
    for (size_t i = 0; i < answer->count; i++)
        free(answer->rr[i].text);
    memset(answer, 0, sizeof *answer);
}

headers_resolver_t
headers_table_resolver(headers_table_t *self)
{
    return (headers_resolver_t){.query = s_query, .clear = s_clear, .arg = self};
}

size_t
headers_table_queries(const headers_table_t *self)
{
    return self->queries;
}
