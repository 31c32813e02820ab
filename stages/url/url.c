/*
 * stages/url/url.c - URL intelligence: phishing tricks, shorteners, URI blocklists.
 *
 * Reads the text parts mime decoded (HTML or plain, already UTF-8) and the
 * raw header's From: line, extracts and normalises URLs (url_extract.c),
 * finds each host's registered domain with libpsl, then checks: link text
 * showing another site than the href, homograph IDNs, shorteners, bare IPs,
 * defanged or encoded hosts, user@host tricks, a brand's name in From with
 * a login link elsewhere, local block lists and DNS URI blocklists (domain
 * and IP lists, SURBL-style bitmasks, one parallel batch). Options, symbols
 * and fields: stages/url/README.md.
 * Tests: tests/unit/test_url_extract.c, tests/e2e/test_url.py
 */
#include "sl_dns.h"
#include "sl_mem.h"
#include "sl_mp.h"
#include "sl_stage.h"
#include "url_extract.h"
#include "url_redirect.h"
#include "url_symbols.h" /* generated from symbols.tsv: URL_SYMBOLS(X) */

#include <libpsl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define URL_VERSION "1.0"
#define URL_LISTS_MAX 32            /* DNS lists */
#define URL_BITS_MAX 8              /* named bits of one SURBL-style list */
#define URL_NAMES_MAX 256           /* entries of one local list (block, shorteners, brands) */
#define URL_QUERIES_MAX 128         /* DNS names asked per message, over all lists */
#define URL_FIELD_URLS_MAX 50       /* URLs shown in the verdict's urls field */
#define URL_TIMEOUT_DEFAULT_MS 2000 /* one batch of lookups */
#define URL_PSL_DEFAULT "/usr/share/publicsuffix/public_suffix_list.dat"

typedef struct {
    char zone[181];                   /* "multi.surbl.example" */
    char symbol[SL_ENV_NAME_MAX + 1]; /* when no bits are named */
    bool ip;                          /* an IP list: reversed host addresses, not domains */
    double weight;                    /* per symbol */
    size_t bit_count;                 /* named bits */
    struct {
        char symbol[SL_ENV_NAME_MAX + 1]; /* URL_SURBL_PH */
        uint32_t mask;                    /* bits of the answer's last octets */
    } bits[URL_BITS_MAX];
} url_dnsbl_t;

typedef struct {
    char name[64];     /* "paypal", lower case: matched in From and hosts */
    char *domains[16]; /* its registered domains */
    size_t domain_count;
} url_brand_t;

typedef struct {
    psl_ctx_t *psl;  /* read-only after init */
    sl_dns_t *dns;   /* NULL without lists */
    int timeout_ms;  /* DNS batch */
    size_t max_urls; /* URLs kept per message */
    size_t list_count;
    url_dnsbl_t lists[URL_LISTS_MAX];
    char *block[URL_NAMES_MAX]; /* local block list (registered domains or hosts) */
    size_t block_count;
    char *shorteners[URL_NAMES_MAX]; /* shortener domains */
    size_t shortener_count;
    url_brand_t brands[32];
    size_t brand_count;
    url_redirect_t redirectors; /* click trackers: URL_REDIRECTOR, not URL_PHISHING */
    bool own_trackers;          /* a tracker under the From: domain is URL_REDIRECTOR too */
} url_stage_t;

/* Symbols and default scores (from symbols.tsv, the one place they are
 * written); `scores:` in the options overrides them. */
#define S_SCORE_ROW(name, weight) {name, weight},
static struct {
    const char *name;
    double score;
} s_scores[] = {URL_SYMBOLS(S_SCORE_ROW)};

static const char *const s_default_shorteners[] = {
    "bit.ly",  "tinyurl.com", "goo.gl",  "t.co",        "ow.ly",   "is.gd",
    "buff.ly", "rebrand.ly",  "cutt.ly", "shorturl.at", "tiny.cc", "rb.gy",
    "t.ly",    "s.id",        "v.gd",    "bl.ink",      NULL};

static double
s_score(const char *name)
{
    for (size_t i = 0; i < sizeof s_scores / sizeof s_scores[0]; i++)
        if (strcmp(s_scores[i].name, name) == 0)
            return s_scores[i].score;
    return 0.0;
}

/* --- options --- */

static size_t
s_read_names(sl_cfg_t *cfg, const sl_cfg_node_t *map, const char *key, char **names)
{
    const sl_cfg_node_t *seq = sl_cfg_get_seq(cfg, map, key);
    size_t n = 0;
    for (size_t i = 0; seq && i < sl_cfg_count(seq); i++) {
        const char *text = sl_cfg_scalar(sl_cfg_at(seq, i));
        if (text == NULL || text[0] == '\0' || strlen(text) > URL_HOST_MAX) {
            sl_cfg_expected(cfg, sl_cfg_at(seq, i), "a domain name");
            continue;
        }
        if (n == URL_NAMES_MAX) {
            sl_cfg_expected(cfg, sl_cfg_at(seq, i), "at most %d entries", URL_NAMES_MAX);
            break;
        }
        names[n] = sl_xstrdup(text);
        for (char *c = names[n]; *c; c++)
            *c = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;
        n++;
    }
    return n;
}

static void
s_read_list(sl_cfg_t *cfg, const sl_cfg_node_t *node, url_dnsbl_t *list)
{
    static const char *const keys[] = {"zone", "name", "type", "weight", "bits", NULL};
    if (sl_cfg_kind(node) != SL_CFG_MAP) {
        sl_cfg_expected(cfg, node, "a map with zone, type, weight, bits");
        return;
    }
    sl_cfg_check_keys(cfg, node, keys);
    const char *zone = sl_cfg_get_str(cfg, node, "zone", "");
    if (zone[0] == '\0' || strlen(zone) >= sizeof list->zone)
        sl_cfg_expected(cfg, node, "a zone of 1 to %zu octets", sizeof list->zone - 1);
    sl_strlcpy(list->zone, zone, sizeof list->zone);
    const char *type = sl_cfg_get_str(cfg, node, "type", "domain");
    list->ip = strcmp(type, "ip") == 0;
    if (!list->ip && strcmp(type, "domain") != 0)
        sl_cfg_expected(cfg, sl_cfg_get(node, "type"), "domain or ip");
    list->weight = sl_cfg_get_double(cfg, node, "weight", s_score("URL_BLOCKLISTED"), -1000, 1000);
    sl_symbol_name("URL_", sl_cfg_get_str(cfg, node, "name", zone), list->symbol,
                  sizeof list->symbol);
    const sl_cfg_node_t *bits = sl_cfg_get_map(cfg, node, "bits");
    for (size_t i = 0; bits && i < sl_cfg_count(bits); i++) {
        if (list->bit_count == URL_BITS_MAX) {
            sl_cfg_expected(cfg, bits, "at most %d bits", URL_BITS_MAX);
            break;
        }
        sl_symbol_name("", sl_cfg_key_at(bits, i), list->bits[list->bit_count].symbol,
                      sizeof list->bits[0].symbol);
        list->bits[list->bit_count].mask =
            (uint32_t)sl_cfg_get_int(cfg, bits, sl_cfg_key_at(bits, i), 0, 1, 0xffffff);
        list->bit_count++;
    }
}

static void
s_read_brands(sl_cfg_t *cfg, const sl_cfg_node_t *opts, url_stage_t *self)
{
    static const char *const keys[] = {"name", "domains", NULL};
    const sl_cfg_node_t *seq = sl_cfg_get_seq(cfg, opts, "brands");
    for (size_t i = 0; seq && i < sl_cfg_count(seq); i++) {
        const sl_cfg_node_t *node = sl_cfg_at(seq, i);
        if (self->brand_count == sizeof self->brands / sizeof self->brands[0]) {
            sl_cfg_expected(cfg, node, "at most 32 brands");
            break;
        }
        if (sl_cfg_kind(node) != SL_CFG_MAP) {
            sl_cfg_expected(cfg, node, "a map with name and domains");
            continue;
        }
        sl_cfg_check_keys(cfg, node, keys);
        url_brand_t *b = &self->brands[self->brand_count++];
        sl_strlcpy(b->name, sl_cfg_get_str(cfg, node, "name", ""), sizeof b->name);
        for (char *c = b->name; *c; c++)
            *c = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;
        const sl_cfg_node_t *doms = sl_cfg_get_seq(cfg, node, "domains");
        for (size_t k = 0; doms && k < sl_cfg_count(doms) && b->domain_count < 16; k++) {
            const char *d = sl_cfg_scalar(sl_cfg_at(doms, k));
            if (d != NULL)
                b->domains[b->domain_count++] = sl_xstrdup(d);
        }
        if (b->name[0] == '\0' || b->domain_count == 0)
            sl_cfg_expected(cfg, node, "a brand name and at least one domain");
    }
}

/* s_read_redirectors - the shipped list, or the file `redirectors:` names,
 * then `redirectors_add:`. */
static void
s_read_redirectors(sl_cfg_t *cfg, const sl_cfg_node_t *opts, url_stage_t *self)
{
    const char *path = sl_cfg_get_str(cfg, opts, "redirectors", "");
    char err[512];
    if (path[0] == '\0')
        url_redirect_defaults(&self->redirectors);
    else if (url_redirect_load(&self->redirectors, path, err, sizeof err) != 0)
        sl_cfg_expected(cfg, sl_cfg_get(opts, "redirectors"), "a readable list (%s)", err);
    const sl_cfg_node_t *add = sl_cfg_get_seq(cfg, opts, "redirectors_add");
    for (size_t i = 0; add && i < sl_cfg_count(add); i++) {
        const char *name = sl_cfg_scalar(sl_cfg_at(add, i)), *why = "expected a domain name";
        if (name == NULL || url_redirect_add(&self->redirectors, name, &why) != 0)
            sl_cfg_expected(cfg, sl_cfg_at(add, i), "%s", why);
    }
}

static void
s_fini(void *ctx)
{
    url_stage_t *self = ctx;
    if (self == NULL)
        return;
    for (size_t i = 0; i < self->block_count; i++)
        free(self->block[i]);
    for (size_t i = 0; i < self->shortener_count; i++)
        free(self->shorteners[i]);
    for (size_t i = 0; i < self->brand_count; i++)
        for (size_t k = 0; k < self->brands[i].domain_count; k++)
            free(self->brands[i].domains[k]);
    url_redirect_clear(&self->redirectors);
    sl_dns_destroy(&self->dns);
    if (self->psl)
        psl_free(self->psl);
    free(self);
}

static int
s_init(void **ctx, sl_cfg_t *cfg, const sl_cfg_node_t *section, int argc, char **argv)
{
    static const char *const keys[] = {"psl_file",
                                       "max_urls",
                                       "timeout",
                                       "lists",
                                       "block",
                                       "shorteners",
                                       "brands",
                                       "scores",
                                       "redirectors",
                                       "redirectors_add",
                                       "own_domain_trackers",
                                       NULL};
    if (argc > 1) {
        sl_log_error(NULL, "unknown argument %s (options go in the stage's options: map)", argv[1]);
        return -1;
    }
    url_stage_t *self = sl_xcalloc(1, sizeof *self);
    sl_cfg_t *own = NULL;
    if (cfg == NULL) { /* run by hand without -c: defaults only */
        char err[256];
        own = cfg = sl_cfg_parse("{}", 2, "defaults", err, sizeof err);
        section = NULL;
    }
    size_t errors = sl_cfg_error_count(cfg);
    const sl_cfg_node_t *opts = NULL;
    if (section && sl_cfg_kind(section) == SL_CFG_MAP) {
        sl_cfg_check_keys(cfg, section, keys);
        opts = section;
    } else if (section && !sl_cfg_is_null(section)) {
        sl_cfg_expected(cfg, section, "a map of url options");
    }
    const char *psl_file = sl_cfg_get_str(cfg, opts, "psl_file", URL_PSL_DEFAULT);
    self->psl = psl_load_file(psl_file);
    if (self->psl == NULL)
        sl_cfg_expected(cfg, sl_cfg_get(opts, "psl_file") ? sl_cfg_get(opts, "psl_file") : NULL,
                        "a readable public suffix list (%s)", psl_file);
    self->max_urls = (size_t)sl_cfg_get_int(cfg, opts, "max_urls", URL_COUNT_MAX, 1, 10000);
    self->timeout_ms =
        (int)sl_cfg_get_duration_ms(cfg, opts, "timeout", URL_TIMEOUT_DEFAULT_MS, 10, 60000);
    self->block_count = s_read_names(cfg, opts, "block", self->block);
    if (sl_cfg_get(opts, "shorteners") != NULL)
        self->shortener_count = s_read_names(cfg, opts, "shorteners", self->shorteners);
    else
        for (size_t i = 0; s_default_shorteners[i]; i++)
            self->shorteners[self->shortener_count++] = sl_xstrdup(s_default_shorteners[i]);
    s_read_brands(cfg, opts, self);
    s_read_redirectors(cfg, opts, self);
    self->own_trackers = sl_cfg_get_bool(cfg, opts, "own_domain_trackers", true);
    const sl_cfg_node_t *scores = sl_cfg_get_map(cfg, opts, "scores");
    for (size_t i = 0; scores && i < sl_cfg_count(scores); i++) {
        const char *name = sl_cfg_key_at(scores, i);
        size_t k = 0;
        while (k < sizeof s_scores / sizeof s_scores[0] && strcmp(s_scores[k].name, name) != 0)
            k++;
        if (k == sizeof s_scores / sizeof s_scores[0])
            sl_cfg_expected(cfg, sl_cfg_at(scores, i), "one of the url stage's symbols");
        else
            s_scores[k].score = sl_cfg_get_double(cfg, scores, name, 0, -1000, 1000);
    }
    const sl_cfg_node_t *lists = sl_cfg_get_seq(cfg, opts, "lists");
    for (size_t i = 0; lists && i < sl_cfg_count(lists); i++) {
        if (self->list_count == URL_LISTS_MAX) {
            sl_cfg_expected(cfg, sl_cfg_at(lists, i), "at most %d lists", URL_LISTS_MAX);
            break;
        }
        s_read_list(cfg, sl_cfg_at(lists, i), &self->lists[self->list_count++]);
    }
    char err[1024] = "";
    if (sl_cfg_error_count(cfg) == errors && self->list_count > 0) {
        self->dns = sl_dns_new(cfg, sl_cfg_get(sl_cfg_root(cfg), "dns"), err, sizeof err);
        if (self->dns == NULL)
            sl_log_error(NULL, "url: %s", err);
    }
    bool failed = sl_cfg_error_count(cfg) > errors || (self->list_count > 0 && !self->dns);
    if (sl_cfg_error_count(cfg) > errors)
        sl_log_error(NULL, "url options: %s", sl_cfg_errors(cfg));
    sl_cfg_destroy(&own);
    if (failed) {
        s_fini(self);
        return -1;
    }
    sl_log_info(NULL,
                "url lists=%zu block=%zu shorteners=%zu brands=%zu redirectors=%zu max_urls=%zu "
                "own_domain_trackers=%s",
                self->list_count, self->block_count, self->shortener_count, self->brand_count,
                self->redirectors.count, self->max_urls, self->own_trackers ? "yes" : "no");
    *ctx = self;
    return 0;
}

/* --- scanning --- */

static bool
s_in(char *const *names, size_t n, const char *host, const char *domain)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], domain) == 0 || strcmp(names[i], host) == 0)
            return true;
    return false;
}

/* s_domain - registered domain of HOST (the host itself for IPs and unknown suffixes). */
static const char *
s_domain(const url_stage_t *self, const char *host)
{
    if (url_host_is_ip(host))
        return host;
    const char *d = psl_registrable_domain(self->psl, host);
    return d ? d : host;
}

/* s_from - lower-cased From: header of the raw message BODY into OUT ("" if none). */
static void
s_from(sl_slice_t body, char *out, size_t size)
{
    out[0] = '\0';
    const char *p = body.ptr;
    size_t len = body.len, i = 0;
    while (i < len) {
        size_t eol = i;
        while (eol < len && p[eol] != '\n')
            eol++;
        size_t line = eol - i - (eol > i && p[eol - 1] == '\r');
        if (line == 0)
            return; /* end of the header */
        if (line > 5 && strncasecmp(p + i, "from:", 5) == 0) {
            size_t n = 0;
            for (size_t k = i + 5; k < i + line && n + 1 < size; k++)
                out[n++] = p[k] >= 'A' && p[k] <= 'Z' ? (char)(p[k] - 'A' + 'a') : p[k];
            out[n] = '\0';
            return;
        }
        i = eol + 1;
    }
}

/* s_from_domain - domain after the last '@' in FROM into OUT. */
static void
s_from_domain(const char *from, char *out, size_t size)
{
    const char *at = strrchr(from, '@');
    out[0] = '\0';
    if (at == NULL)
        return;
    size_t n = strspn(at + 1, "abcdefghijklmnopqrstuvwxyz0123456789.-");
    if (n >= size)
        return;
    memcpy(out, at + 1, n);
    out[n] = '\0';
}

static bool
s_login_page(const char *url)
{
    static const char *const words[] = {"login",   "signin", "sign-in",  "logon", "verify",
                                        "account", "secure", "password", "auth",  "webscr"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasestr(url, words[i]) != NULL)
            return true;
    return false;
}

/* s_claimed_brand - the brand From names (display name or domain), or NULL. */
static const url_brand_t *
s_claimed_brand(const url_stage_t *self, const char *from, const char *from_domain)
{
    for (size_t i = 0; i < self->brand_count; i++) {
        const url_brand_t *b = &self->brands[i];
        if (strstr(from, b->name) != NULL)
            return b;
        for (size_t k = 0; k < b->domain_count; k++)
            if (strcmp(b->domains[k], from_domain) == 0)
                return b;
    }
    return NULL;
}

/* s_brand_site - whether registered domain DOMAIN is one of a configured brand's. */
static bool
s_brand_site(const url_stage_t *self, const char *domain)
{
    for (size_t i = 0; i < self->brand_count; i++)
        if (s_in(self->brands[i].domains, self->brands[i].domain_count, domain, domain))
            return true;
    return false;
}

/* s_once - symbol NAME with INFO (cut to what a verdict holds) unless *DONE. */
static void
s_once(sl_verdict_t *verdict, bool *done, const char *name, const char *info)
{
    if (*done)
        return;
    *done = true;
    char cut[SL_ENV_STR_MAX];
    sl_strlcpy(cut, info, sizeof cut);
    sl_verdict_symbol(verdict, name, s_score(name), cut);
}

/* Symbols a normalisation flag sets; INFO shows the URL or its host. */
static const struct {
    unsigned flag;      /* URL_F_* */
    const char *symbol; /* set once per message */
    bool show_url;      /* info is the whole URL, not the host */
} s_flag_symbols[] = {
    {URL_F_HOMOGRAPH, "URL_HOMOGRAPH", false},  {URL_F_IP, "URL_NUMERIC_IP", false},
    {URL_F_OBFUSCATED, "URL_OBFUSCATED", true}, {URL_F_USERINFO, "URL_USERINFO", false},
    {URL_F_FORM, "URL_FORM_ACTION", false},
};

/* s_dnsbl - every list over the registered domains (or IPs) in LIST, one batch. */
static void
s_dnsbl(const url_stage_t *self, const char *id, const url_list_t *urls, sl_verdict_t *verdict)
{
    sl_dns_query_t *q = sl_xcalloc(URL_QUERIES_MAX, sizeof *q);
    sl_dns_answer_t *a = sl_xcalloc(URL_QUERIES_MAX, sizeof *a);
    size_t list_of[URL_QUERIES_MAX], url_of[URL_QUERIES_MAX], n = 0;
    for (size_t l = 0; l < self->list_count; l++) {
        const url_dnsbl_t *list = &self->lists[l];
        for (size_t i = 0; i < urls->count && n < URL_QUERIES_MAX; i++) {
            const url_t *u = &urls->items[i];
            bool ip = (u->flags & URL_F_IP) != 0;
            if (ip != list->ip || u->host[0] == '[')
                continue;
            char name[256];
            int w = 0;
            if (ip) {
                if (sl_dns_reverse_name(u->host, list->zone, name, sizeof name) != 0)
                    continue;
            } else {
                w = snprintf(name, sizeof name, "%s.%s", s_domain(self, u->host), list->zone);
                if (w < 0 || (size_t)w >= sizeof name)
                    continue;
            }
            bool dup = false;
            for (size_t k = 0; k < n && !dup; k++)
                dup = strcmp(q[k].name, name) == 0;
            if (dup)
                continue;
            sl_strlcpy(q[n].name, name, sizeof q[n].name);
            q[n].type = SL_DNS_A;
            url_of[n] = i;
            list_of[n++] = l;
        }
    }
    if (n > 0)
        sl_dns_query_many(self->dns, q, n, a, self->timeout_ms);
    bool hit[URL_LISTS_MAX][URL_BITS_MAX + 1] = {{false}};
    for (size_t k = 0; k < n; k++) {
        const url_dnsbl_t *list = &self->lists[list_of[k]];
        if (a[k].status == SL_DNS_TEMPFAIL)
            sl_log_warn(id, "url query=%s lookup failed, not listed: %s", q[k].name, a[k].why);
        for (size_t r = 0; a[k].status == SL_DNS_OK && r < a[k].count; r++) {
            unsigned o[4];
            char extra;
            if (sscanf(a[k].rr[r].text, "%u.%u.%u.%u%c", &o[0], &o[1], &o[2], &o[3], &extra) != 4 ||
                o[0] != 127 || o[1] > 255 || o[2] > 255 || o[3] > 255)
                continue; /* only 127/8 answers are listings */
            uint32_t value = o[1] << 16 | o[2] << 8 | o[3];
            char info[300];
            const char *host = urls->items[url_of[k]].host;
            snprintf(info, sizeof info, "%s listed on %s (%s)",
                     list->ip ? host : s_domain(self, host), list->zone, a[k].rr[r].text);
            if (list->bit_count == 0 && !hit[list_of[k]][0]) {
                hit[list_of[k]][0] = true;
                sl_verdict_symbol(verdict, list->symbol, list->weight, info);
            }
            for (size_t b = 0; b < list->bit_count; b++) {
                if ((value & list->bits[b].mask) != 0 && !hit[list_of[k]][b + 1]) {
                    hit[list_of[k]][b + 1] = true;
                    sl_verdict_symbol(verdict, list->bits[b].symbol, list->weight, info);
                }
            }
        }
        sl_dns_answer_clear(&a[k]);
    }
    free(q);
    free(a);
}

static void
s_field_urls(sl_verdict_t *verdict, const url_list_t *urls)
{
    size_t n = urls->count < URL_FIELD_URLS_MAX ? urls->count : URL_FIELD_URLS_MAX;
    sl_mp_buf_t buf = {0};
    msgpack_packer pk = sl_mp_packer(&buf);
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(urls->items[i].url);
        if (len > SL_ENV_STR_MAX)
            len = SL_ENV_STR_MAX;
        msgpack_pack_str(&pk, len);
        msgpack_pack_str_body(&pk, urls->items[i].url, len);
    }
    sl_verdict_field_raw(verdict, "urls", buf.ptr, buf.len);
    free(buf.ptr);
}

static int
s_scan(const sl_msg_t *msg, sl_verdict_t *verdict, void *ctx)
{
    const url_stage_t *self = ctx;
    const sl_env_t *env = sl_msg_env(msg);
    const char *id = sl_msg_id(msg);
    url_list_t urls = {.max = self->max_urls};
    size_t parts = sl_msg_part_count(msg);
    for (size_t i = 0; i < parts && i < sl_env_part_count(env); i++) {
        bool text, html;
        url_part_kind(sl_env_part_meta(env, i), &text, &html);
        sl_slice_t data = sl_msg_part(msg, i);
        if (!text)
            continue;
        if (html)
            url_list_add_html(&urls, data.ptr, data.len);
        else
            url_list_add_text(&urls, data.ptr, data.len);
    }
    char from[512], from_domain[URL_HOST_MAX + 1];
    s_from(sl_msg_body(msg), from, sizeof from);
    s_from_domain(from, from_domain, sizeof from_domain);
    const url_brand_t *brand = s_claimed_brand(self, from, from_domain);
    char sender[URL_HOST_MAX + 1] = ""; /* From:'s registered domain, for its own trackers */
    if (self->own_trackers && from_domain[0] != '\0')
        sl_strlcpy(sender, s_domain(self, from_domain), sizeof sender);

    bool phish = false, redirector = false, shortener = false, brand_hit = false, block = false;
    bool flag_done[sizeof s_flag_symbols / sizeof s_flag_symbols[0]] = {false};
    char info[SL_ENV_STR_MAX];
    for (size_t i = 0; i < urls.count; i++) {
        const url_t *u = &urls.items[i];
        char domain[URL_HOST_MAX + 1];
        sl_strlcpy(domain, s_domain(self, u->host), sizeof domain);
        if (u->text_host[0] != '\0') {
            char shown[URL_HOST_MAX + 1];
            sl_strlcpy(shown, s_domain(self, u->text_host), sizeof shown);
            /* A link showing a configured brand's site keeps URL_PHISHING even
             * through the sender's own host: that is the lie that matters. */
            url_link_t link = url_link_check(&self->redirectors, shown, u->host, domain, u->url,
                                             s_brand_site(self, shown) ? NULL : sender);
            if (link != URL_LINK_OK) {
                snprintf(info, sizeof info, "text shows %s, link goes to %s%s", u->text_host,
                         u->host, link == URL_LINK_SENDER ? " (the From: domain's own)" : "");
                if (link == URL_LINK_REDIRECTOR || link == URL_LINK_SENDER)
                    s_once(verdict, &redirector, "URL_REDIRECTOR", info);
                else
                    s_once(verdict, &phish, "URL_PHISHING", info);
            }
        }
        for (size_t k = 0; k < sizeof s_flag_symbols / sizeof s_flag_symbols[0]; k++)
            if (u->flags & s_flag_symbols[k].flag)
                s_once(verdict, &flag_done[k], s_flag_symbols[k].symbol,
                       s_flag_symbols[k].show_url ? u->url : u->host);
        if (s_in(self->shorteners, self->shortener_count, u->host, domain))
            s_once(verdict, &shortener, "URL_SHORTENER", u->host);
        if (s_in(self->block, self->block_count, u->host, domain)) {
            snprintf(info, sizeof info, "%s in the local block list", domain);
            s_once(verdict, &block, "URL_BLOCKLISTED", info);
        }
        if (brand && s_login_page(u->url) &&
            !s_in(brand->domains, brand->domain_count, u->host, domain)) {
            snprintf(info, sizeof info, "From names %s, login link at %s", brand->name, domain);
            s_once(verdict, &brand_hit, "URL_BRAND_MISMATCH", info);
        }
    }
    if (urls.dropped > 0) {
        snprintf(info, sizeof info, "%zu URLs over the limit of %zu ignored", urls.dropped,
                 self->max_urls);
        sl_verdict_symbol(verdict, "URL_TOO_MANY", s_score("URL_TOO_MANY"), info);
    }
    if (self->list_count > 0 && urls.count > 0)
        s_dnsbl(self, id, &urls, verdict);
    sl_verdict_field_int(verdict, "url_count", (int64_t)(urls.count + urls.dropped));
    s_field_urls(verdict, &urls);
    sl_log_info(id, "url urls=%zu dropped=%zu symbols=%zu", urls.count, urls.dropped,
                sl_verdict_symbol_count(verdict));
    url_list_clear(&urls);
    return 0;
}

int
main(int argc, char **argv)
{
    static const sl_stage_def_t def = {
        .name = "url",
        .version = URL_VERSION,
        .needs = SL_NEED_BODY | SL_NEED_PARTS,
        .init = s_init,
        .fini = s_fini,
        .scan = s_scan,
    };
    return sl_stage_main(argc, argv, &def);
}
