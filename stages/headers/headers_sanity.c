/*
 * stages/headers/headers_sanity.c - header sanity: forged internal sender,
 * Date far in the future or past, display-name spoofing of a protected domain,
 * From missing or repeated.
 *
 * Protected domains are the organisation's own (options: protected_domains).
 * Mail that claims one in From but arrives inbound, unauthenticated, and
 * without an SPF or DKIM pass for that domain is a forged internal sender.
 * A display name that names a protected domain ("ceo@corp.example",
 * "corp.example support") on mail from another domain is spoofing.
 * Tests: tests/unit/test_headers_sanity.c
 */
#include "headers.h"

#include <string.h>
#include <strings.h>

bool
headers_domain_matches(const char *domain, const char *parent)
{
    size_t d = strlen(domain), p = strlen(parent);
    if (p == 0 || d < p || strcasecmp(domain + d - p, parent) != 0)
        return false;
    return d == p || domain[d - p - 1] == '.';
}

const char *
headers_sanity_protected(const headers_sanity_opts_t *opts, const char *domain)
{
    for (size_t i = 0; domain && domain[0] && i < opts->protected_count; i++)
        if (headers_domain_matches(domain, opts->protected_domains[i]))
            return opts->protected_domains[i];
    return NULL;
}

/* s_names_domain - TEXT mentions DOMAIN as a whole name (not inside a longer one). */
static bool
s_names_domain(const char *text, const char *domain)
{
    size_t n = strlen(domain);
    for (const char *p = strcasestr(text, domain); p; p = strcasestr(p + 1, domain)) {
        char before = p == text ? ' ' : p[-1], after = p[n];
        bool word_before = (before >= 'a' && before <= 'z') || (before >= 'A' && before <= 'Z') ||
                           (before >= '0' && before <= '9') || before == '-' || before == '.';
        bool word_after = (after >= 'a' && after <= 'z') || (after >= 'A' && after <= 'Z') ||
                          (after >= '0' && after <= '9') || after == '-' ||
                          (after == '.' && p[n + 1] != '\0' && p[n + 1] != ' ');
        if (!word_before && !word_after)
            return true;
    }
    return false;
}

void
headers_sanity_check(const headers_sanity_opts_t *opts, const headers_msg_t *msg,
                     const headers_from_t *from, int64_t now_s, bool inbound,
                     bool authenticated, bool aligned_pass, headers_sanity_t *out)
{
    memset(out, 0, sizeof *out);
    size_t froms = headers_msg_count(msg, "From");
    out->from_missing = froms == 0;
    out->from_multiple = froms > 1 || (from && from->mailboxes > 1);
    out->from_invalid = froms > 0 && from == NULL;

    const headers_field_t *date = headers_msg_find(msg, "Date", 0);
    int64_t when = 0;
    const char *why = NULL;
    if (date == NULL) {
        out->date_missing = true;
    } else if (headers_date_parse(date->value, &when, &why) != 0) {
        out->date_invalid = true;
    } else {
        out->date_future = opts->date_future_s > 0 && when - now_s > opts->date_future_s;
        out->date_past = opts->date_past_s > 0 && now_s - when > opts->date_past_s;
    }

    if (from == NULL)
        return;
    const char *mine = headers_sanity_protected(opts, from->domain);
    if (mine && inbound && !authenticated && !aligned_pass) {
        out->forged_internal = true;
        sl_strlcpy(out->spoofed, mine, sizeof out->spoofed);
    }
    for (size_t i = 0; !mine && from->display[0] && i < opts->protected_count; i++) {
        if (s_names_domain(from->display, opts->protected_domains[i])) {
            out->display_spoof = true;
            sl_strlcpy(out->spoofed, opts->protected_domains[i], sizeof out->spoofed);
        }
    }
}
