/*
 * stages/rbl/rbl.c - DNS block and allow lists, and local CIDR lists, at connect.
 *
 * Envelope only, connect phase: the client address is looked up in every
 * configured list at once (one sl_dns_query_many batch, bounded by the
 * stage's timeout, answers cached by their TTL in the resolver); listings
 * that count add their weight; allow lists (DNSWL) count negatively. At or
 * above the threshold the verdict asks smtpd for 554 (smtp_code, smtp_text,
 * smtp_reply). A list that times out or answers garbage counts as not listed
 * and is logged. Options and verdict fields: stages/rbl/README.md.
 * Tests: tests/e2e/test_rbl.py, tests/e2e/test_rbl_smtp.py, tests/unit/test_sl_cidr.c
 */
#include "sl_cidr.h"
#include "sl_dns.h"
#include "sl_mp.h"
#include "sl_stage.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RBL_VERSION "1.0"
#define RBL_LISTS_MAX 64            /* DNS lists one stage queries (one batch) */
#define RBL_ZONE_MAX 180            /* zone octets: 64 octets of IPv6 nibbles + 255 at most */
#define RBL_TIMEOUT_DEFAULT_MS 1500 /* the whole batch: under smtpd.phase_timeout (2 s) */
#define RBL_SMTP_TEXT_MAX 180       /* smtpd takes reply texts of 200 octets at most */

typedef struct {
    char zone[RBL_ZONE_MAX + 1];      /* "zen.spamhaus.org" */
    char symbol[SL_ENV_NAME_MAX + 1]; /* "RBL_ZEN_SPAMHAUS_ORG" */
    double weight;                    /* added when listed; negative for allow lists */
    bool allow;                       /* a DNSWL: listing means known good */
    bool ipv6;                        /* query for IPv6 clients too */
    sl_cidr_list_t codes;             /* answers that count; empty: any 127/8 but errors */
    uint32_t bitmask;                 /* answers that count: (answer & bitmask) != 0 */
} rbl_list_t;

typedef struct {
    sl_dns_t *dns;                   /* shared by the scan threads */
    int timeout_ms;                  /* one batch of lookups */
    double threshold;                /* sum at which smtpd answers 554 */
    size_t list_count;               /* entries in lists */
    rbl_list_t lists[RBL_LISTS_MAX]; /* DNS lists, in config order */
    sl_cidr_list_t block;            /* local networks always refused */
    sl_cidr_list_t allow;            /* local networks never refused, never looked up */
} rbl_t;

/* --- options --- */

static bool
s_zone_valid(const char *zone)
{
    size_t len = strlen(zone);
    if (len == 0 || len > RBL_ZONE_MAX || zone[0] == '.' || zone[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = zone[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || (c == '.' && zone[i + 1] != '.');
        if (!ok)
            return false;
    }
    return true;
}

static void
s_read_cidrs(sl_cfg_t *cfg, const sl_cfg_node_t *map, const char *key, sl_cidr_list_t *list,
             bool v4_only)
{
    const sl_cfg_node_t *seq = sl_cfg_get_seq(cfg, map, key);
    for (size_t i = 0; seq && i < sl_cfg_count(seq); i++) {
        const sl_cfg_node_t *item = sl_cfg_at(seq, i);
        const char *text = sl_cfg_scalar(item), *why = NULL;
        sl_cidr_t net;
        if (text == NULL || sl_cidr_parse(text, &net, &why) != 0)
            sl_cfg_expected(cfg, item, "an address or network (%s)", why ? why : "a string");
        else if (v4_only && net.net.v6)
            sl_cfg_expected(cfg, item, "an IPv4 answer code such as 127.0.0.2 or 127.0.0.4/30");
        else
            sl_cidr_list_add(list, text, &why);
    }
}

static void
s_read_list(sl_cfg_t *cfg, const sl_cfg_node_t *node, rbl_list_t *list)
{
    static const char *const keys[] = {"zone",    "name", "weight", "codes",
                                       "bitmask", "type", "ipv6",   NULL};
    if (sl_cfg_kind(node) != SL_CFG_MAP) {
        sl_cfg_expected(cfg, node, "a map with zone, weight, codes, bitmask, type");
        return;
    }
    sl_cfg_check_keys(cfg, node, keys);
    const char *zone = sl_cfg_get_str(cfg, node, "zone", "");
    if (!s_zone_valid(zone))
        sl_cfg_expected(cfg, sl_cfg_get(node, "zone") ? sl_cfg_get(node, "zone") : node,
                        "a DNS zone of at most %d octets", RBL_ZONE_MAX);
    sl_strlcpy(list->zone, zone, sizeof list->zone);
    const char *type = sl_cfg_get_str(cfg, node, "type", "block");
    if (strcmp(type, "allow") == 0)
        list->allow = true;
    else if (strcmp(type, "block") != 0)
        sl_cfg_expected(cfg, sl_cfg_get(node, "type"), "block or allow");
    double weight = sl_cfg_get_double(cfg, node, "weight", 1.0, -1000.0, 1000.0);
    /* An allow list lowers the sum whichever sign the operator wrote. */
    list->weight = list->allow ? -(weight < 0 ? -weight : weight) : weight;
    sl_symbol_name("RBL_", sl_cfg_get_str(cfg, node, "name", zone), list->symbol,
                   sizeof list->symbol);
    list->ipv6 = sl_cfg_get_bool(cfg, node, "ipv6", true);
    list->bitmask = (uint32_t)sl_cfg_get_int(cfg, node, "bitmask", 0, 0, UINT32_MAX);
    s_read_cidrs(cfg, node, "codes", &list->codes, true);
}

static void
s_fini(void *ctx)
{
    rbl_t *rbl = ctx;
    if (rbl == NULL)
        return;
    for (size_t i = 0; i < rbl->list_count; i++)
        sl_cidr_list_clear(&rbl->lists[i].codes);
    sl_cidr_list_clear(&rbl->block);
    sl_cidr_list_clear(&rbl->allow);
    sl_dns_destroy(&rbl->dns);
    free(rbl);
}

static int
s_init(void **ctx, sl_cfg_t *cfg, const sl_cfg_node_t *section, int argc, char **argv)
{
    static const char *const keys[] = {"lists", "threshold", "timeout", "block", "allow", NULL};
    if (argc > 1) {
        sl_log_error(NULL, "unknown argument %s (options go in the stage's options: map)", argv[1]);
        return -1;
    }
    if (cfg == NULL) {
        sl_log_error(NULL, "rbl needs a config file (-c) with its options");
        return -1;
    }
    rbl_t *rbl = sl_xcalloc(1, sizeof *rbl);
    size_t errors = sl_cfg_error_count(cfg);
    if (section && sl_cfg_kind(section) == SL_CFG_MAP)
        sl_cfg_check_keys(cfg, section, keys);
    else if (section)
        sl_cfg_expected(cfg, section, "a map of rbl options");
    const sl_cfg_node_t *opts = section && sl_cfg_kind(section) == SL_CFG_MAP ? section : NULL;
    rbl->threshold = sl_cfg_get_double(cfg, opts, "threshold", 1.0, 0.001, 1e6);
    rbl->timeout_ms =
        (int)sl_cfg_get_duration_ms(cfg, opts, "timeout", RBL_TIMEOUT_DEFAULT_MS, 10, 60000);
    s_read_cidrs(cfg, opts, "block", &rbl->block, false);
    s_read_cidrs(cfg, opts, "allow", &rbl->allow, false);
    const sl_cfg_node_t *lists = sl_cfg_get_seq(cfg, opts, "lists");
    for (size_t i = 0; lists && i < sl_cfg_count(lists); i++) {
        if (rbl->list_count == RBL_LISTS_MAX) {
            sl_cfg_expected(cfg, sl_cfg_at(lists, i), "at most %d lists", RBL_LISTS_MAX);
            break;
        }
        s_read_list(cfg, sl_cfg_at(lists, i), &rbl->lists[rbl->list_count++]);
    }
    char err[1024] = "";
    if (sl_cfg_error_count(cfg) == errors) {
        rbl->dns = sl_dns_new(cfg, sl_cfg_get(sl_cfg_root(cfg), "dns"), err, sizeof err);
        if (rbl->dns == NULL)
            sl_log_error(NULL, "rbl: %s", err);
    }
    if (sl_cfg_error_count(cfg) > errors || rbl->dns == NULL) {
        if (sl_cfg_error_count(cfg) > errors)
            sl_log_error(NULL, "rbl options: %s", sl_cfg_errors(cfg));
        s_fini(rbl);
        return -1;
    }
    sl_log_info(NULL, "rbl lists=%zu threshold=%g timeout=%dms block=%zu allow=%zu",
                rbl->list_count, rbl->threshold, rbl->timeout_ms, rbl->block.count,
                rbl->allow.count);
    *ctx = rbl;
    return 0;
}

/* --- scanning --- */

/* s_counts - whether answer ADDR (printable IPv4) is a listing LIST counts. */
static bool
s_counts(const rbl_list_t *list, const char *addr, bool *garbage)
{
    sl_ip_t ip;
    *garbage = sl_ip_parse(addr, &ip) != 0 || ip.v6 || ip.addr[0] != 127;
    if (*garbage)
        return false;
    bool has_filter = list->codes.count > 0 || list->bitmask != 0;
    if (!has_filter) /* 127.255.255.0/24: the list's own error codes (Spamhaus) */
        return !(ip.addr[1] == 255 && ip.addr[2] == 255);
    uint32_t value = (uint32_t)ip.addr[0] << 24 | (uint32_t)ip.addr[1] << 16 |
                     (uint32_t)ip.addr[2] << 8 | ip.addr[3];
    return sl_cidr_list_contains(&list->codes, &ip) || (value & list->bitmask) != 0;
}

/* s_field_names - verdict field KEY: a msgpack array of the N strings NAMES. */
static void
s_field_names(sl_verdict_t *verdict, const char *key, const char *const *names, size_t n)
{
    sl_mp_buf_t buf = {0};
    msgpack_packer pk = sl_mp_packer(&buf);
    msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_str(&pk, strlen(names[i]));
        msgpack_pack_str_body(&pk, names[i], strlen(names[i]));
    }
    sl_verdict_field_raw(verdict, key, buf.ptr, buf.len);
    free(buf.ptr);
}

/* s_reject - the fields smtpd turns into "554 5.7.1 ..." at connect. */
static void
s_reject(sl_verdict_t *verdict, const char *client, const char *by)
{
    char text[RBL_SMTP_TEXT_MAX + 1], reply[RBL_SMTP_TEXT_MAX + 8];
    int w = snprintf(text, sizeof text, "5.7.1 Service unavailable; client [%s] blocked using %s",
                     client, by);
    if (w < 0 || (size_t)w >= sizeof text)
        snprintf(text, sizeof text, "5.7.1 Service unavailable; client [%s] blocked", client);
    snprintf(reply, sizeof reply, "554 %s", text);
    sl_verdict_set_classification(verdict, "reject");
    sl_verdict_field_int(verdict, "smtp_code", 554);
    sl_verdict_field_str(verdict, "smtp_text", text);
    sl_verdict_field_str(verdict, "smtp_reply", reply);
}

static int
s_scan(const sl_msg_t *msg, sl_verdict_t *verdict, void *ctx)
{
    const rbl_t *rbl = ctx;
    const char *id = sl_msg_id(msg);
    const char *raw = sl_env_str(sl_msg_env(msg), SL_ENV_CLIENT_IP);
    sl_ip_t ip;
    char client[64];
    if (sl_ip_parse(raw, &ip) != 0 || sl_ip_format(&ip, client, sizeof client) != 0) {
        sl_verdict_field_str(verdict, "skipped", "no client address");
        return 0;
    }
    if (sl_cidr_list_contains(&rbl->allow, &ip)) {
        const char *local[] = {"local"};
        sl_verdict_symbol(verdict, "RBL_LOCAL_ALLOW", 0.0, "client in the local allow list");
        s_field_names(verdict, "allowed", local, 1);
        sl_log_info(id, "rbl client=%s local=allow", client);
        return 0;
    }
    if (sl_cidr_list_contains(&rbl->block, &ip)) {
        const char *local[] = {"local"};
        sl_verdict_symbol(verdict, "RBL_LOCAL_BLOCK", rbl->threshold,
                          "client in the local block list");
        s_field_names(verdict, "listed", local, 1);
        sl_verdict_field_double(verdict, "rbl_score", rbl->threshold);
        s_reject(verdict, client, "local policy");
        sl_log_info(id, "rbl client=%s local=block", client);
        return 0;
    }

    sl_dns_query_t qs[RBL_LISTS_MAX];
    sl_dns_answer_t out[RBL_LISTS_MAX];
    size_t index[RBL_LISTS_MAX], n = 0;
    for (size_t i = 0; i < rbl->list_count; i++) {
        if (ip.v6 && !rbl->lists[i].ipv6)
            continue;
        if (sl_dns_reverse_name(client, rbl->lists[i].zone, qs[n].name, sizeof qs[n].name) != 0)
            continue; /* cannot happen: zone length is bounded at init */
        qs[n].type = SL_DNS_A;
        index[n++] = i;
    }
    sl_dns_query_many(rbl->dns, qs, n, out, rbl->timeout_ms);

    const char *listed[RBL_LISTS_MAX] = {0}, *allowed[RBL_LISTS_MAX] = {0};
    const char *failed[RBL_LISTS_MAX] = {0};
    size_t nlisted = 0, nallowed = 0, nfailed = 0;
    double sum = 0.0;
    char by[RBL_SMTP_TEXT_MAX] = "";
    for (size_t k = 0; k < n; k++) {
        const rbl_list_t *list = &rbl->lists[index[k]];
        char codes[128] = "";
        size_t used = 0;
        if (out[k].status == SL_DNS_TEMPFAIL) {
            failed[nfailed++] = list->zone;
            sl_log_warn(id, "rbl client=%s zone=%s lookup failed, not listed: %s", client,
                        list->zone, out[k].why);
        }
        for (size_t r = 0; out[k].status == SL_DNS_OK && r < out[k].count; r++) {
            bool garbage = false;
            if (s_counts(list, out[k].rr[r].text, &garbage)) {
                int w = snprintf(codes + used, sizeof codes - used, "%s%s", used ? "," : "",
                                 out[k].rr[r].text);
                if (w > 0 && (size_t)w < sizeof codes - used)
                    used += (size_t)w;
            } else if (garbage) {
                char shown[64];
                sl_log_warn(id, "rbl client=%s zone=%s answer is not 127.0.0.0/8, ignored: %s",
                            client, list->zone,
                            sl_log_str(out[k].rr[r].text, out[k].rr[r].len, shown, sizeof shown));
            }
        }
        sl_dns_answer_clear(&out[k]);
        if (used == 0)
            continue;
        sum += list->weight;
        sl_verdict_symbol(verdict, list->symbol, list->weight, codes);
        if (list->allow) {
            allowed[nallowed++] = list->zone;
        } else {
            listed[nlisted++] = list->zone;
            size_t blen = strlen(by);
            int w = snprintf(by + blen, sizeof by - blen, "%s%s", blen ? ", " : "", list->zone);
            if (w < 0 || (size_t)w >= sizeof by - blen)
                by[blen] = '\0'; /* the reply names the lists that fit */
        }
    }
    s_field_names(verdict, "listed", listed, nlisted);
    s_field_names(verdict, "allowed", allowed, nallowed);
    if (nfailed)
        s_field_names(verdict, "failed", failed, nfailed);
    sl_verdict_field_double(verdict, "rbl_score", sum);
    bool reject = nlisted > 0 && sum >= rbl->threshold;
    if (reject)
        s_reject(verdict, client, by);
    sl_log_info(id, "rbl client=%s score=%g threshold=%g listed=%zu allowed=%zu failed=%zu%s",
                client, sum, rbl->threshold, nlisted, nallowed, nfailed, reject ? " reject" : "");
    return 0;
}

int
main(int argc, char **argv)
{
    static const sl_stage_def_t def = {
        .name = "rbl",
        .version = RBL_VERSION,
        .needs = SL_NEED_ENVELOPE,
        .scan = s_scan,
        .init = s_init,
        .fini = s_fini,
        .batch = 1, /* DNS waits while smtpd waits: nothing queued behind a slow answer */
    };
    return sl_stage_main(argc, argv, &def);
}
