/*
 * stages/headers/headers_run.c - the headers stage's checks in order, and
 * what they become: symbols with scores, verdict fields and the
 * Authentication-Results text (RFC 8601) the action stage adds.
 *
 * Order matters: SPF and DKIM first, DMARC from their results, then the
 * sanity checks, which need to know whether the From domain authenticated.
 * Settings come from the stage's options: map (README.md lists them).
 * Tests: tests/unit/test_headers_run.c, tests/e2e/test_headers.py
 */
#include "headers.h"

#include <ctype.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_PSL_FILE "/usr/share/publicsuffix/public_suffix_list.dat" /* Debian publicsuffix */

/* Every symbol the stage adds, with its default score (options: scores: overrides). */
static const struct {
    const char *name;
    double score;
} s_symbols[] = {
    {"SPF_PASS", 0.0},          {"SPF_FAIL", 2.0},           {"SPF_SOFTFAIL", 1.0},
    {"SPF_NEUTRAL", 0.0},       {"SPF_NONE", 0.0},           {"SPF_TEMPERROR", 0.0},
    {"SPF_PERMERROR", 0.5},     {"SPF_HELO_PASS", 0.0},      {"SPF_HELO_FAIL", 1.0},
    {"SPF_HELO_SOFTFAIL", 0.5}, {"SPF_HELO_NEUTRAL", 0.0},   {"SPF_HELO_NONE", 0.0},
    {"SPF_HELO_TEMPERROR", 0.0}, {"SPF_HELO_PERMERROR", 0.2}, {"DKIM_PASS", 0.0},
    {"DKIM_INVALID", 1.0},      {"DKIM_TEMPERROR", 0.0},     {"DKIM_PERMERROR", 0.5},
    {"DKIM_NONE", 0.0},         {"DMARC_PASS", 0.0},         {"DMARC_POLICY_REJECT", 5.0},
    {"DMARC_POLICY_QUARANTINE", 3.0}, {"DMARC_POLICY_NONE", 0.5}, {"DMARC_NONE", 0.0},
    {"DMARC_TEMPERROR", 0.0},   {"DMARC_PERMERROR", 0.0},    {"HEADERS_FORGED_INTERNAL", 5.0},
    {"HEADERS_DISPLAY_SPOOF", 3.0}, {"HEADERS_DATE_FUTURE", 1.0}, {"HEADERS_DATE_PAST", 0.5},
    {"HEADERS_DATE_MISSING", 0.5}, {"HEADERS_DATE_INVALID", 0.5}, {"HEADERS_FROM_MISSING", 1.0},
    {"HEADERS_FROM_MULTIPLE", 1.0}, {"HEADERS_FROM_INVALID", 1.0},
};
#define S_SYMBOLS (sizeof s_symbols / sizeof s_symbols[0])

struct headers_ctx {
    headers_resolver_t resolver;  /* every DNS question goes here */
    headers_dkim_lib_t *dkim;     /* libopendkim */
    headers_dmarc_lib_t *dmarc;   /* libopendmarc + libpsl */
    headers_sanity_opts_t sanity; /* protected domains, Date limits */
    char hostname[HEADERS_DOMAIN_MAX]; /* authserv-id */
    bool spf_helo;                /* check the HELO identity too */
    bool dmarc_enforce;           /* set dmarc_action for the action stage */
    double scores[S_SYMBOLS];     /* by s_symbols index */
};

static const char *const s_option_keys[] = {
    "hostname", "protected_domains", "date_future", "date_past", "psl_file",
    "dmarc_enforce", "spf_helo", "scores", NULL,
};

static void
s_read_domains(headers_ctx_t *self, sl_cfg_t *cfg, const sl_cfg_node_t *options)
{
    const sl_cfg_node_t *seq = sl_cfg_get_seq(cfg, options, "protected_domains");
    size_t n = sl_cfg_count(seq);
    if (n > HEADERS_PROTECTED_MAX) {
        sl_cfg_expected(cfg, seq, "at most %d domains", HEADERS_PROTECTED_MAX);
        n = 0;
    }
    self->sanity.protected_domains = sl_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *d = sl_cfg_scalar(sl_cfg_at(seq, i));
        if (d == NULL || !headers_domain_is_valid(d, strlen(d))) {
            sl_cfg_expected(cfg, sl_cfg_at(seq, i), "a domain name");
            continue;
        }
        char *copy = sl_xstrdup(d);
        for (char *c = copy; *c; c++)
            *c = (char) tolower((unsigned char) *c);
        self->sanity.protected_domains[self->sanity.protected_count++] = copy;
    }
}

static void
s_read_scores(headers_ctx_t *self, sl_cfg_t *cfg, const sl_cfg_node_t *options)
{
    for (size_t i = 0; i < S_SYMBOLS; i++)
        self->scores[i] = s_symbols[i].score;
    const sl_cfg_node_t *map = sl_cfg_get_map(cfg, options, "scores");
    for (size_t k = 0; k < sl_cfg_count(map); k++) {
        const char *name = sl_cfg_key_at(map, k);
        size_t i = 0;
        while (i < S_SYMBOLS && strcmp(s_symbols[i].name, name) != 0)
            i++;
        if (i == S_SYMBOLS)
            sl_cfg_expected(cfg, sl_cfg_at(map, k), "a score of a headers symbol (%s is not one)",
                            name);
        else
            self->scores[i] = sl_cfg_get_double(cfg, map, name, s_symbols[i].score, -100, 100);
    }
}

headers_ctx_t *
headers_ctx_new(sl_cfg_t *cfg, const sl_cfg_node_t *options, const headers_resolver_t *resolver,
                const char **why)
{
    headers_ctx_t *self = sl_xcalloc(1, sizeof *self);
    self->resolver = *resolver;
    if (options)
        sl_cfg_check_keys(cfg, options, s_option_keys);
    char host[HEADERS_DOMAIN_MAX] = "localhost";
    if (gethostname(host, sizeof host) != 0)
        sl_strlcpy(host, "localhost", sizeof host);
    host[sizeof host - 1] = '\0';
    sl_strlcpy(self->hostname, sl_cfg_get_str(cfg, options, "hostname", host), sizeof self->hostname);
    s_read_domains(self, cfg, options);
    int64_t day = 86400000;
    self->sanity.date_future_s = sl_cfg_get_duration_ms(cfg, options, "date_future", 2 * 3600000, 0,
                                                        3650 * day) / 1000;
    self->sanity.date_past_s = sl_cfg_get_duration_ms(cfg, options, "date_past", 7 * day, 0,
                                                      3650 * day) / 1000;
    self->spf_helo = sl_cfg_get_bool(cfg, options, "spf_helo", true);
    self->dmarc_enforce = sl_cfg_get_bool(cfg, options, "dmarc_enforce", true);
    s_read_scores(self, cfg, options);
    headers_spf_init();
    self->dkim = headers_dkim_new(why);
    if (self->dkim)
        self->dmarc = headers_dmarc_new(sl_cfg_get_str(cfg, options, "psl_file", S_PSL_FILE), why);
    if (self->dkim == NULL || self->dmarc == NULL)
        headers_ctx_destroy(&self);
    return self;
}

void
headers_ctx_destroy(headers_ctx_t **self_p)
{
    headers_ctx_t *self = *self_p;
    if (self == NULL)
        return;
    headers_dkim_destroy(&self->dkim);
    headers_dmarc_destroy(&self->dmarc);
    for (size_t i = 0; i < self->sanity.protected_count; i++)
        free(self->sanity.protected_domains[i]);
    free(self->sanity.protected_domains);
    free(self);
    *self_p = NULL;
}

const char *
headers_ctx_hostname(const headers_ctx_t *self)
{
    return self->hostname;
}

/* s_sample - 0..99 from the queue id (FNV-1a): the DMARC pct draw, repeatable on replay. */
static unsigned
s_sample(const char *id)
{
    uint32_t h = 2166136261u;
    for (const char *p = id ? id : ""; *p; p++)
        h = (h ^ (unsigned char) *p) * 16777619u;
    return h % 100;
}

/* s_aligned_pass - SPF or DKIM passed for a domain of the same organization as FROM. */
static bool
s_aligned_pass(const headers_ctx_t *self, const headers_report_t *r, const char *from)
{
    if (r->dmarc.spf_aligned || r->dmarc.dkim_aligned)
        return true;
    char org[HEADERS_DOMAIN_MAX], other[HEADERS_DOMAIN_MAX];
    if (headers_dmarc_org_domain(self->dmarc, from, org, sizeof org) != 0)
        return false;
    if (r->spf == HEADERS_SPF_PASS &&
        headers_dmarc_org_domain(self->dmarc, r->spf_domain, other, sizeof other) == 0 &&
        strcmp(org, other) == 0)
        return true;
    for (size_t i = 0; i < r->dkim.count; i++)
        if (r->dkim.sigs[i].result == HEADERS_DKIM_PASS &&
            headers_dmarc_org_domain(self->dmarc, r->dkim.sigs[i].domain, other, sizeof other) == 0 &&
            strcmp(org, other) == 0)
            return true;
    return false;
}

int
headers_run(const headers_ctx_t *self, const headers_input_t *in, headers_report_t *out)
{
    memset(out, 0, sizeof *out);
    headers_msg_t msg;
    headers_msg_parse(in->message.ptr, in->message.len, &msg);
    size_t froms = headers_msg_count(&msg, "From");
    const headers_field_t *from_field = headers_msg_find(&msg, "From", 0);
    const char *why = NULL;
    bool from_parsed = from_field && headers_from_parse(from_field->value, &out->from, &why) == 0;
    out->from_ok = from_parsed && froms == 1 && out->from.mailboxes == 1;

    const char *sender = in->mail_from ? in->mail_from : "";
    const char *at = strrchr(sender, '@');
    out->spf_is_helo = sender[0] == '\0';
    sl_strlcpy(out->spf_domain, out->spf_is_helo ? in->helo : at ? at + 1 : sender,
               sizeof out->spf_domain);
    for (char *c = out->spf_domain; *c; c++)
        *c = (char) tolower((unsigned char) *c);
    out->spf = headers_spf_check(&self->resolver, in->client_ip, in->helo, sender, self->hostname,
                                 out->spf_comment, sizeof out->spf_comment);
    if (self->spf_helo && !out->spf_is_helo && in->helo &&
        headers_domain_is_valid(in->helo, strlen(in->helo)) && strchr(in->helo, '.')) {
        char comment[HEADERS_TEXT_MAX];
        out->spf_helo = headers_spf_check(&self->resolver, in->client_ip, in->helo, "",
                                          self->hostname, comment, sizeof comment);
        out->spf_helo_checked = true;
    }
    int rc = headers_dkim_verify(self->dkim, &self->resolver, &msg, in->id, &out->dkim);

    headers_dmarc_check(self->dmarc, &self->resolver, in->client_ip,
                        out->from_ok ? out->from.domain : NULL, out->spf, out->spf_domain,
                        out->spf_is_helo, &out->dkim, s_sample(in->id), &out->dmarc);
    if (from_parsed && !out->from_ok) {
        snprintf(out->dmarc.result, sizeof out->dmarc.result, "permerror");
        snprintf(out->dmarc.why, sizeof out->dmarc.why, "several From fields or mailboxes");
    }
    bool aligned = from_parsed && s_aligned_pass(self, out, out->from.domain);
    headers_sanity_check(&self->sanity, &msg, from_parsed ? &out->from : NULL, in->received_s,
                         in->inbound, in->auth_user && in->auth_user[0], aligned, &out->sanity);
    headers_msg_clear(&msg);
    return rc;
}

/* --- the verdict ------------------------------------------------------- */

static int
s_symbol(const headers_ctx_t *self, sl_verdict_t *verdict, const char *name, const char *info)
{
    for (size_t i = 0; i < S_SYMBOLS; i++)
        if (strcmp(s_symbols[i].name, name) == 0)
            return sl_verdict_symbol(verdict, name, self->scores[i], info);
    sl_panic("headers: symbol %s is not in s_symbols", name); /* our bug */
}

/* s_result_symbol - PREFIX + RESULT in capitals ("SPF_" + "softfail"). */
static int
s_result_symbol(const headers_ctx_t *self, sl_verdict_t *verdict, const char *prefix,
                const char *result, const char *info)
{
    char name[SL_ENV_NAME_MAX];
    int n = snprintf(name, sizeof name, "%s%s", prefix, result);
    if (n < 0 || (size_t) n >= sizeof name)
        return -1;
    for (char *c = name; *c; c++)
        *c = (char) toupper((unsigned char) *c);
    return s_symbol(self, verdict, name, info);
}

static void
s_pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void
s_pack_kv(msgpack_packer *pk, const char *key, const char *value)
{
    s_pack_str(pk, key);
    s_pack_str(pk, value);
}

/* s_fields - the stage fields spf, dkim and dmarc (msgpack maps and a list). */
static int
s_fields(const headers_report_t *r, sl_verdict_t *verdict)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc = 0;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    s_pack_kv(&pk, "result", headers_spf_name(r->spf));
    s_pack_kv(&pk, "domain", r->spf_domain);
    s_pack_kv(&pk, "helo", r->spf_helo_checked ? headers_spf_name(r->spf_helo) : "");
    s_pack_kv(&pk, "comment", r->spf_comment);
    rc |= sl_verdict_field_raw(verdict, "spf", sb.data, sb.size);

    msgpack_sbuffer_clear(&sb);
    msgpack_pack_array(&pk, r->dkim.count);
    for (size_t i = 0; i < r->dkim.count; i++) {
        const headers_dkim_sig_t *s = &r->dkim.sigs[i];
        msgpack_pack_map(&pk, 5);
        s_pack_kv(&pk, "result", headers_dkim_name(s->result));
        s_pack_kv(&pk, "domain", s->domain);
        s_pack_kv(&pk, "selector", s->selector);
        s_pack_kv(&pk, "algorithm", s->algorithm);
        s_pack_kv(&pk, "why", s->why);
    }
    rc |= sl_verdict_field_raw(verdict, "dkim", sb.data, sb.size);

    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 6);
    s_pack_kv(&pk, "result", r->dmarc.result);
    s_pack_kv(&pk, "policy", r->dmarc.policy);
    s_pack_kv(&pk, "domain", r->dmarc.domain);
    s_pack_kv(&pk, "action", r->dmarc.action);
    s_pack_str(&pk, "pct");
    msgpack_pack_int(&pk, r->dmarc.pct);
    s_pack_kv(&pk, "why", r->dmarc.why);
    rc |= sl_verdict_field_raw(verdict, "dmarc", sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc ? -1 : 0;
}

static int
s_dkim_symbols(const headers_ctx_t *self, const headers_report_t *r, sl_verdict_t *verdict)
{
    if (r->dkim.count == 0)
        return s_symbol(self, verdict, "DKIM_NONE", "no signature");
    static const char *const names[] = {
        [HEADERS_DKIM_PASS] = "DKIM_PASS", [HEADERS_DKIM_FAIL] = "DKIM_INVALID",
        [HEADERS_DKIM_TEMPERROR] = "DKIM_TEMPERROR", [HEADERS_DKIM_PERMERROR] = "DKIM_PERMERROR"};
    for (int kind = HEADERS_DKIM_PASS; kind <= HEADERS_DKIM_PERMERROR; kind++) {
        char info[SL_ENV_STR_MAX] = "";
        size_t used = 0;
        for (size_t i = 0; i < r->dkim.count; i++) {
            const headers_dkim_sig_t *s = &r->dkim.sigs[i];
            if ((int) s->result != kind || used >= sizeof info / 2)
                continue;
            int n = snprintf(info + used, sizeof info - used, "%sd=%s s=%s%s%s", used ? "; " : "",
                             s->domain, s->selector, s->why[0] ? ": " : "", s->why);
            used = n > 0 ? used + (size_t) n : used;
        }
        if (info[0] && s_symbol(self, verdict, names[kind], info) != 0)
            return -1;
    }
    return 0;
}

static int
s_sanity_symbols(const headers_ctx_t *self, const headers_report_t *r, sl_verdict_t *verdict)
{
    const headers_sanity_t *s = &r->sanity;
    char info[SL_ENV_STR_MAX];
    snprintf(info, sizeof info, "From %s@%s names protected domain %s", r->from.local,
             r->from.domain, s->spoofed);
    const struct {
        bool on;
        const char *name, *info;
    } checks[] = {
        {s->forged_internal, "HEADERS_FORGED_INTERNAL", info},
        {s->display_spoof, "HEADERS_DISPLAY_SPOOF", info},
        {s->date_future, "HEADERS_DATE_FUTURE", "Date is in the future"},
        {s->date_past, "HEADERS_DATE_PAST", "Date is in the past"},
        {s->date_missing, "HEADERS_DATE_MISSING", "no Date field"},
        {s->date_invalid, "HEADERS_DATE_INVALID", "Date cannot be parsed"},
        {s->from_missing, "HEADERS_FROM_MISSING", "no From field"},
        {s->from_multiple, "HEADERS_FROM_MULTIPLE", "several From fields or mailboxes"},
        {s->from_invalid, "HEADERS_FROM_INVALID", "From has no usable address"},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        if (checks[i].on && s_symbol(self, verdict, checks[i].name, checks[i].info) != 0)
            return -1;
    return 0;
}

int
headers_verdict(const headers_ctx_t *self, const headers_input_t *in,
                const headers_report_t *r, sl_verdict_t *verdict)
{
    char info[SL_ENV_STR_MAX];
    snprintf(info, sizeof info, "%s: %s", r->spf_domain, r->spf_comment);
    if (s_result_symbol(self, verdict, "SPF_", headers_spf_name(r->spf), info) != 0)
        return -1;
    if (r->spf_helo_checked &&
        s_result_symbol(self, verdict, "SPF_HELO_", headers_spf_name(r->spf_helo), in->helo) != 0)
        return -1;
    if (s_dkim_symbols(self, r, verdict) != 0)
        return -1;
    const char *dmarc = strcmp(r->dmarc.result, "fail") == 0 ? r->dmarc.policy : r->dmarc.result;
    snprintf(info, sizeof info, "%s: %s%s%s", r->dmarc.domain, r->dmarc.result,
             r->dmarc.why[0] ? ", " : "", r->dmarc.why);
    if (s_result_symbol(self, verdict,
                        strcmp(r->dmarc.result, "fail") == 0 ? "DMARC_POLICY_" : "DMARC_", dmarc,
                        info) != 0)
        return -1;
    if (s_sanity_symbols(self, r, verdict) != 0 || s_fields(r, verdict) != 0)
        return -1;
    /* the action stage applies it; only to mail from outside (RFC 7489 is about inbound) */
    if (self->dmarc_enforce && r->dmarc.action[0] && in->inbound &&
        !(in->auth_user && in->auth_user[0]) &&
        sl_verdict_field_str(verdict, "dmarc_action", r->dmarc.action) != 0)
        return -1;
    char text[HEADERS_AUTHRES_MAX];
    if (headers_authres(self->hostname, in, r, text, sizeof text) != 0)
        return -1;
    return sl_verdict_field_str(verdict, "auth_results", text);
}
