/*
 * stages/url/url_redirect.c - known click-tracking redirectors and the
 * link-text check (see url_redirect.h).
 *
 * List files and options are operator input, checked all the same: bounded
 * lines, names of domain characters only.
 * Tests: tests/unit/test_url_redirect.c
 */
#include "url_redirect.h"
#include "sl_mem.h"
#include "url_extract.h"
#include "url_redirectors.h" /* generated from redirectors.txt: url_redirectors_default */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
url_redirect_add(url_redirect_t *self, const char *name, const char **why)
{
    size_t len = strnlen(name, URL_HOST_MAX + 2);
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > URL_HOST_MAX) {
        *why = "expected a domain name of 1..253 characters";
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_')) {
            *why = "expected a domain name (letters, digits, '-', '.'; IDNs as xn--)";
            return -1;
        }
    }
    if (name[0] == '.' || strstr(name, "..") != NULL) {
        *why = "expected a domain name without empty labels";
        return -1;
    }
    if (self->count == URL_REDIRECT_MAX) {
        *why = "too many redirector domains";
        return -1;
    }
    if (self->count == self->cap) {
        self->cap = self->cap ? self->cap * 2 : 64;
        self->names = sl_xrealloc(self->names, self->cap * sizeof *self->names);
    }
    char *copy = sl_xstrndup(name, len);
    for (char *c = copy; *c; c++)
        *c = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;
    self->names[self->count++] = copy;
    return 0;
}

void
url_redirect_defaults(url_redirect_t *self)
{
    const char *why;
    for (size_t i = 0; url_redirectors_default[i] != NULL; i++)
        if (url_redirect_add(self, url_redirectors_default[i], &why) != 0)
            abort(); /* our own list is checked by the unit test */
}

int
url_redirect_load(url_redirect_t *self, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[URL_REDIRECT_LINE_MAX + 2];
    int rc = 0;
    for (size_t no = 1; rc == 0 && fgets(line, sizeof line, f) != NULL; no++) {
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            snprintf(err, errlen, "%s:%zu: line longer than %d octets", path, no,
                     URL_REDIRECT_LINE_MAX);
            rc = -1;
            break;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                           line[len - 1] == '\t'))
            line[--len] = '\0';
        const char *name = line + strspn(line, " \t");
        if (name[0] == '\0' || name[0] == '#')
            continue;
        const char *why;
        if (url_redirect_add(self, name, &why) != 0) {
            snprintf(err, errlen, "%s:%zu: %s", path, no, why);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

bool
url_redirect_has(const url_redirect_t *self, const char *host)
{
    size_t hlen = strlen(host);
    for (size_t i = 0; i < self->count; i++) {
        size_t n = strlen(self->names[i]);
        if (hlen == n ? memcmp(host, self->names[i], n) == 0
                      : hlen > n && host[hlen - n - 1] == '.' &&
                            memcmp(host + hlen - n, self->names[i], n) == 0)
            return true;
    }
    return false;
}

void
url_redirect_clear(url_redirect_t *self)
{
    for (size_t i = 0; i < self->count; i++)
        free(self->names[i]);
    free(self->names);
    *self = (url_redirect_t){0};
}

/* s_same_label - whether registered domains A and B differ only in their
 * public suffix (example.com, example.co.za): one owner's sites, as rspamd's
 * phishing check also holds. */
static bool
s_same_label(const char *a, const char *b)
{
    size_t la = strcspn(a, "."), lb = strcspn(b, ".");
    return la == lb && la > 0 && memcmp(a, b, la) == 0;
}

url_link_t
url_link_check(const url_redirect_t *self, const char *shown, const char *host, const char *domain,
               const char *url, const char *sender)
{
    if (strcmp(shown, domain) == 0 || s_same_label(shown, domain))
        return URL_LINK_OK;
    const char *query = strchr(url, '?');
    if (query != NULL && strstr(query, shown) != NULL)
        return URL_LINK_OK; /* a redirector naming the shown site in its query is not a lie */
    if (url_redirect_has(self, host))
        return URL_LINK_REDIRECTOR;
    /* The href stays with the sender (who owns the From: domain, forged or
     * not): it names no other party's site, so this is the mailer's tracker.
     * Bare IPs never count: they are nobody's registered domain. */
    if (sender != NULL && sender[0] != '\0' && !url_host_is_ip(host) && strcmp(domain, sender) == 0)
        return URL_LINK_SENDER;
    return URL_LINK_MISMATCH;
}
