/*
 * stages/headers/headers_dns.c - the checks' resolver backed by sl_dns, and
 * options given on the command line.
 *
 * Kept apart from the other modules so that the unit tests link them with a
 * table resolver and never need a DNS server.
 * Tests: tests/e2e/test_headers.py, tests/spf/run_suite.py
 */
#include "headers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sl_dns_status_t
s_query(void *arg, const char *name, int type, sl_dns_answer_t *out)
{
    return sl_dns_query(arg, name, type, out);
}

static void
s_clear(void *arg, sl_dns_answer_t *answer)
{
    (void) arg;
    sl_dns_answer_clear(answer);
}

headers_resolver_t
headers_dns_resolver(sl_dns_t *dns)
{
    return (headers_resolver_t){.query = s_query, .clear = s_clear, .arg = dns};
}

sl_cfg_t *
headers_options_from_args(int argc, char **argv, char *err, size_t errlen)
{
    size_t size = 1;
    for (int i = 1; i < argc; i++)
        size += strlen(argv[i]) + 4;
    char *yaml = sl_xmalloc(size), *w = yaml;
    w[0] = '\0';
    for (int i = 1; i < argc; i += 2) {
        const char *key = argv[i];
        if (strncmp(key, "--", 2) != 0 || key[2] == '\0' || i + 1 >= argc) {
            snprintf(err, errlen, "options: expected --name value, found \"%s\"", key);
            free(yaml);
            return NULL;
        }
        for (const char *k = key + 2; *k; k++) /* --date-past and --date_past alike */
            *w++ = *k == '-' ? '_' : *k;
        w += sprintf(w, ": %s\n", argv[i + 1]); /* fits: size counted every byte */
    }
    sl_cfg_t *cfg = sl_cfg_parse(yaml, strlen(yaml), "(command line)", err, errlen);
    free(yaml);
    return cfg;
}
