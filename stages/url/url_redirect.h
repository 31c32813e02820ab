/*
 * stages/url/url_redirect.h - known click-tracking redirectors, and the
 * link-text check that knows them.
 *
 * Newsletters send every link through a tracker (list-manage.com,
 * sendgrid.net, mandrillapp.com ...): the text shows the real site, the href
 * goes to the tracker. That is not phishing; url_link_check tells it apart
 * from a lie. The shipped list is stages/url/redirectors.txt, compiled in
 * (url_redirectors.h is generated from it); options replace or extend it.
 * A tracker under the From: header's own registered domain (clickthru.
 * online.com in mail from newsletter.online.com) is not a lie either.
 * Entries are domains: one matches that host and every host below it.
 * Tests: tests/unit/test_url_redirect.c
 */
#ifndef URL_REDIRECT_H
#define URL_REDIRECT_H

#include <stdbool.h>
#include <stddef.h>

#define URL_REDIRECT_MAX 10000    /* entries in one list (the shipped one has a few dozen) */
#define URL_REDIRECT_LINE_MAX 256 /* octets of one line of a list file */

typedef struct {
    char **names; /* lower-case domains, owned */
    size_t count; /* used */
    size_t cap;   /* allocated */
} url_redirect_t;

typedef enum {
    URL_LINK_OK,       /* the text shows the href's site (or one owner's, or it is in the query) */
    URL_LINK_MISMATCH, /* the text shows one site, the href goes to another: URL_PHISHING */
    URL_LINK_REDIRECTOR, /* ... through a known redirector: URL_REDIRECTOR */
    URL_LINK_SENDER,     /* ... through a host of the From: domain's own: URL_REDIRECTOR */
} url_link_t;

/* url_redirect_add - appends domain NAME (lower-cased; a trailing dot
 * dropped); 0, or -1 with *why (empty, too long, not a domain, list full). */
int url_redirect_add(url_redirect_t *self, const char *name, const char **why);
/* url_redirect_defaults - appends the shipped list (redirectors.txt). */
void url_redirect_defaults(url_redirect_t *self);
/* url_redirect_load - one domain per line from PATH ('#' comments, blank
 * lines); 0, or -1 with "path:line: reason" in ERR. */
int url_redirect_load(url_redirect_t *self, const char *path, char *err, size_t errlen);
/* url_redirect_has - true when HOST (lower case) is an entry or below one. */
bool url_redirect_has(const url_redirect_t *self, const char *host);
/* url_redirect_clear - frees the entries; the list is empty and reusable. */
void url_redirect_clear(url_redirect_t *self);

/* url_link_check - a link whose text shows registered domain SHOWN and whose
 * href URL goes to HOST with registered domain DOMAIN, in mail whose From:
 * header has registered domain SENDER (NULL or "" when there is none or the
 * own-domain rule is off): a mismatch whose href is under SENDER is the
 * sender's own click tracker (URL_LINK_SENDER), not another brand's site. */
url_link_t url_link_check(const url_redirect_t *self, const char *shown, const char *host,
                          const char *domain, const char *url, const char *sender);

#endif
