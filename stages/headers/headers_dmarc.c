/*
 * stages/headers/headers_dmarc.c - DMARC (RFC 7489) with libopendmarc.
 *
 * We look the record up ourselves through the headers_resolver_t (at
 * _dmarc.FROM, then at the organizational domain that libpsl finds with the
 * public suffix list) and hand it to opendmarc_policy_store_dmarc, so
 * libopendmarc never queries DNS. It parses the record and decides alignment
 * and policy; pct sampling (which libopendmarc leaves to the caller) is done
 * here, by the next-least-strict rule of RFC 7489 6.6.4.
 * A DMARC failure where an identifier could not be checked for now (SPF or
 * DKIM temperror) is reported as temperror: no policy is applied on a DNS
 * hiccup.
 * Tests: tests/unit/test_headers_dmarc.c, tests/e2e/test_headers.py
 */
#include "headers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpsl.h>
#include <opendmarc/dmarc.h>

struct headers_dmarc_lib {
    psl_ctx_t *psl;      /* public suffix list, read-only after load */
    OPENDMARC_LIB_T lib; /* libopendmarc's settings (its TLD list is global) */
};

headers_dmarc_lib_t *
headers_dmarc_new(const char *psl_file, const char **why)
{
    psl_ctx_t *psl = psl_load_file(psl_file);
    if (psl == NULL) {
        sl_fail(why, "cannot read the public suffix list");
        return NULL;
    }
    headers_dmarc_lib_t *self = sl_xcalloc(1, sizeof *self);
    self->psl = psl;
    self->lib.tld_type = OPENDMARC_TLD_TYPE_MOZILLA;
    if (sl_strlcpy((char *) self->lib.tld_source_file, psl_file,
                   sizeof self->lib.tld_source_file) >= sizeof self->lib.tld_source_file ||
        opendmarc_policy_library_init(&self->lib) != DMARC_PARSE_OKAY) {
        psl_free(psl);
        free(self);
        sl_fail(why, "opendmarc_policy_library_init failed");
        return NULL;
    }
    return self;
}

void
headers_dmarc_destroy(headers_dmarc_lib_t **self_p)
{
    headers_dmarc_lib_t *self = *self_p;
    if (self == NULL)
        return;
    opendmarc_policy_library_shutdown(&self->lib);
    psl_free(self->psl);
    free(self);
    *self_p = NULL;
}

int
headers_dmarc_org_domain(const headers_dmarc_lib_t *self, const char *domain, char *out,
                         size_t size)
{
    const char *org = psl_registrable_domain(self->psl, domain);
    if (org == NULL || sl_strlcpy(out, org, size) >= size) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}

/* s_fetch - the one DMARC record at _dmarc.DOMAIN into OUT: 1 found, 0 none
 * (also for several: RFC 7489 6.6.3), -1 temporary failure. */
static int
s_fetch(const headers_resolver_t *resolver, const char *domain, char *out, size_t size)
{
    char name[HEADERS_DOMAIN_MAX + 8];
    int n = snprintf(name, sizeof name, "_dmarc.%s", domain);
    if (n < 0 || (size_t) n >= sizeof name)
        return 0;
    sl_dns_answer_t answer;
    memset(&answer, 0, sizeof answer);
    sl_dns_status_t st = resolver->query(resolver->arg, name, SL_DNS_TXT, &answer);
    int found = 0;
    for (size_t i = 0; st == SL_DNS_OK && i < answer.count; i++) {
        const char *t = answer.rr[i].text;
        size_t len = answer.rr[i].len;
        if (t == NULL || len < 8 || memcmp(t, "v=DMARC1", 8) != 0 ||
            (len > 8 && t[8] != ';' && t[8] != ' ' && t[8] != '\t'))
            continue;
        if (++found == 1 && (memchr(t, '\0', len) || sl_strlcpy(out, t, size) >= size))
            found = 2; /* unusable: treated as several */
    }
    resolver->clear(resolver->arg, &answer);
    if (st == SL_DNS_TEMPFAIL)
        return -1;
    return found == 1;
}

static const char *
s_policy_name(int p)
{
    return p == DMARC_RECORD_P_REJECT ? "reject" : p == DMARC_RECORD_P_QUARANTINE ? "quarantine" : "none";
}

static void
s_result(headers_dmarc_t *out, const char *result, const char *why)
{
    snprintf(out->result, sizeof out->result, "%s", result);
    snprintf(out->why, sizeof out->why, "%s", why);
}

/* s_same_org - A and B have the same organizational domain (relaxed alignment). */
static bool
s_same_org(const headers_dmarc_lib_t *self, const char *a, const char *b)
{
    char oa[HEADERS_DOMAIN_MAX], ob[HEADERS_DOMAIN_MAX];
    if (headers_dmarc_org_domain(self, a, oa, sizeof oa) != 0 ||
        headers_dmarc_org_domain(self, b, ob, sizeof ob) != 0)
        return strcasecmp(a, b) == 0;
    return strcasecmp(oa, ob) == 0;
}

static void
s_evaluate(const headers_dmarc_lib_t *self, DMARC_POLICY_T *pctx, const char *spf_domain,
           headers_spf_result_t spf, bool spf_is_helo, const headers_dkim_t *dkim,
           bool from_org, unsigned sample, headers_dmarc_t *out)
{
    if (spf_domain && spf_domain[0]) {
        int outcome = spf == HEADERS_SPF_PASS        ? DMARC_POLICY_SPF_OUTCOME_PASS
                      : spf == HEADERS_SPF_TEMPERROR ? DMARC_POLICY_SPF_OUTCOME_TMPFAIL
                      : spf == HEADERS_SPF_FAIL || spf == HEADERS_SPF_SOFTFAIL
                          ? DMARC_POLICY_SPF_OUTCOME_FAIL
                          : DMARC_POLICY_SPF_OUTCOME_NONE;
        opendmarc_policy_store_spf(pctx, (u_char *) spf_domain, outcome,
                                   spf_is_helo ? DMARC_POLICY_SPF_ORIGIN_HELO
                                               : DMARC_POLICY_SPF_ORIGIN_MAILFROM,
                                   NULL);
    }
    bool temp = spf == HEADERS_SPF_TEMPERROR && spf_domain && s_same_org(self, spf_domain, out->domain);
    for (size_t i = 0; dkim && i < dkim->count; i++) {
        const headers_dkim_sig_t *s = &dkim->sigs[i];
        int outcome = s->result == HEADERS_DKIM_PASS        ? DMARC_POLICY_DKIM_OUTCOME_PASS
                      : s->result == HEADERS_DKIM_TEMPERROR ? DMARC_POLICY_DKIM_OUTCOME_TMPFAIL
                                                            : DMARC_POLICY_DKIM_OUTCOME_FAIL;
        if (s->domain[0])
            opendmarc_policy_store_dkim(pctx, (u_char *) s->domain, (u_char *) s->selector,
                                        outcome, NULL);
        temp |= s->result == HEADERS_DKIM_TEMPERROR && s_same_org(self, s->domain, out->domain);
    }
    OPENDMARC_STATUS_T policy = opendmarc_get_policy_to_enforce(pctx);
    int da = 0, sa = 0, p = 0, sp = 0, pct = 100;
    opendmarc_policy_fetch_alignment(pctx, &da, &sa);
    opendmarc_policy_fetch_p(pctx, &p);
    opendmarc_policy_fetch_sp(pctx, &sp);
    opendmarc_policy_fetch_pct(pctx, &pct);
    out->dkim_aligned = da == DMARC_POLICY_DKIM_ALIGNMENT_PASS;
    out->spf_aligned = sa == DMARC_POLICY_SPF_ALIGNMENT_PASS;
    out->pct = pct;
    snprintf(out->policy, sizeof out->policy, "%s",
             s_policy_name(from_org && sp != DMARC_RECORD_P_UNSPECIFIED ? sp : p));
    switch (policy) {
    case DMARC_POLICY_PASS:
        s_result(out, "pass", "");
        return;
    case DMARC_POLICY_REJECT:
    case DMARC_POLICY_QUARANTINE:
    case DMARC_POLICY_NONE:
        break;
    default:
        s_result(out, "permerror", opendmarc_policy_status_to_str(policy));
        return;
    }
    if (temp) {
        s_result(out, "temperror", "an identifier could not be checked for now");
        return;
    }
    s_result(out, "fail", "no aligned SPF or DKIM pass");
    bool sampled = sample < (unsigned) pct;
    const char *action = "";
    if (policy == DMARC_POLICY_REJECT)
        action = sampled ? "reject" : "quarantine";
    else if (policy == DMARC_POLICY_QUARANTINE)
        action = sampled ? "quarantine" : "";
    snprintf(out->action, sizeof out->action, "%s", action);
}

void
headers_dmarc_check(const headers_dmarc_lib_t *self, const headers_resolver_t *resolver,
                    const char *ip, const char *from, headers_spf_result_t spf,
                    const char *spf_domain, bool spf_is_helo, const headers_dkim_t *dkim,
                    unsigned sample, headers_dmarc_t *out)
{
    memset(out, 0, sizeof *out);
    out->pct = 100;
    if (from == NULL || from[0] == '\0') {
        s_result(out, "none", "no From domain");
        return;
    }
    snprintf(out->domain, sizeof out->domain, "%s", from);
    if (headers_dmarc_org_domain(self, from, out->org_domain, sizeof out->org_domain) != 0)
        snprintf(out->org_domain, sizeof out->org_domain, "%s", from);
    char record[SL_DNS_TXT_MAX + 1];
    bool from_org = false;
    int found = s_fetch(resolver, from, record, sizeof record);
    if (found == 0 && strcmp(out->org_domain, from) != 0) {
        found = s_fetch(resolver, out->org_domain, record, sizeof record);
        from_org = true;
    }
    if (found < 0) {
        s_result(out, "temperror", "DMARC record lookup failed for now");
        return;
    }
    if (found == 0) {
        s_result(out, "none", "no DMARC record");
        return;
    }
    bool v6 = ip && strchr(ip, ':');
    DMARC_POLICY_T *pctx =
        opendmarc_policy_connect_init((u_char *) (ip && ip[0] ? ip : "0.0.0.0"), v6);
    if (pctx == NULL)
        sl_panic("libopendmarc: out of memory");
    OPENDMARC_STATUS_T st = opendmarc_policy_store_from_domain(pctx, (u_char *) from);
    if (st == DMARC_PARSE_OKAY)
        st = opendmarc_policy_store_dmarc(pctx, (u_char *) record, (u_char *) from,
                                          from_org ? (u_char *) out->org_domain : NULL);
    if (st != DMARC_PARSE_OKAY)
        s_result(out, "permerror", opendmarc_policy_status_to_str(st));
    else
        s_evaluate(self, pctx, spf_domain, spf, spf_is_helo, dkim, from_org, sample, out);
    opendmarc_policy_connect_shutdown(pctx);
}
