/*
 * smtpd/smtpd_conf.c - the smtpd: and spool: sections of sluice.yaml.
 *
 * Defaults follow RFC 5321 (line lengths, 5 minute idle and 3 minute data
 * timeouts, 100 recipients) and Postfix where the RFC is silent.
 * Tests: tests/unit/test_smtpd_conf.c
 */
#include "smtpd_conf.h"

#include "smtpd_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static char *
s_lower_dup(const char *s)
{
    char *out = sl_xstrdup(s);
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return out;
}

int
smtpd_conf_split_hostport(const char *spec, char *host, size_t host_size, int *port)
{
    const char *colon;
    const char *h = spec;
    size_t hlen;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        h = spec + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(spec, ':');
        if (colon == NULL)
            return -1;
        hlen = (size_t)(colon - spec);
    }
    if (hlen == 0 || hlen >= host_size)
        return -1;
    uint64_t v;
    const char *why;
    if (smtpd_cmd_number(colon + 1, strlen(colon + 1), &v, &why) != 0 || v == 0 || v > 65535)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)v;
    return 0;
}

static void
s_read_domains(smtpd_conf_t *self, sl_cfg_t *cfg, const sl_cfg_node_t *smtpd)
{
    const sl_cfg_node_t *relay = sl_cfg_get(smtpd, "relay_domains");
    const sl_cfg_node_t *boxes = sl_cfg_get(smtpd, "mailboxes");
    if (relay != NULL && sl_cfg_kind(relay) != SL_CFG_SEQ) {
        sl_cfg_error(cfg, relay, "smtpd.relay_domains: expected a list of domains");
        relay = NULL;
    }
    if (boxes != NULL && sl_cfg_kind(boxes) != SL_CFG_MAP) {
        sl_cfg_error(cfg, boxes, "smtpd.mailboxes: expected a map of domain: [local parts]");
        boxes = NULL;
    }
    size_t n = relay ? sl_cfg_count(relay) : 0;
    self->domains = sl_xcalloc(n ? n : 1, sizeof *self->domains);
    for (size_t i = 0; i < n; i++) {
        const sl_cfg_node_t *d = sl_cfg_at(relay, i);
        const char *name = sl_cfg_scalar(d);
        const char *why;
        sl_slice_t dom = {0};
        if (name == NULL || name[0] == '\0' ||
            smtpd_cmd_helo((sl_slice_t){name, strlen(name)}, &dom, &why) != 0) {
            sl_cfg_error(cfg, d, "smtpd.relay_domains[%zu]: expected a domain name", i);
            continue;
        }
        smtpd_domain_t *entry = &self->domains[self->domain_count++];
        entry->domain = s_lower_dup(name);
    }
    for (size_t i = 0; boxes && i < sl_cfg_count(boxes); i++) {
        const char *key = sl_cfg_key_at(boxes, i);
        const sl_cfg_node_t *list = sl_cfg_at(boxes, i);
        smtpd_domain_t *entry = NULL;
        for (size_t k = 0; k < self->domain_count; k++)
            if (strcasecmp(self->domains[k].domain, key) == 0)
                entry = &self->domains[k];
        if (entry == NULL) {
            sl_cfg_error(cfg, list, "smtpd.mailboxes.%s: domain is not in relay_domains", key);
            continue;
        }
        if (sl_cfg_kind(list) != SL_CFG_SEQ) {
            sl_cfg_error(cfg, list, "smtpd.mailboxes.%s: expected a list of local parts", key);
            continue;
        }
        size_t m = sl_cfg_count(list);
        entry->mailboxes = sl_xcalloc(m ? m : 1, sizeof *entry->mailboxes);
        for (size_t k = 0; k < m; k++) {
            const char *box = sl_cfg_scalar(sl_cfg_at(list, k));
            if (box == NULL || box[0] == '\0' || strchr(box, '@') != NULL) {
                sl_cfg_error(cfg, sl_cfg_at(list, k),
                             "smtpd.mailboxes.%s[%zu]: expected a local part (no @)", key, k);
                continue;
            }
            entry->mailboxes[entry->mailbox_count++] = s_lower_dup(box);
        }
    }
}

/* s_read_outbound - smtpd.outbound_networks: CIDRs of the organisation's own
 * senders (its mail server, its clients), for which Sluice is the smarthost. */
static void
s_read_outbound(smtpd_conf_t *self, sl_cfg_t *cfg, const sl_cfg_node_t *smtpd)
{
    const sl_cfg_node_t *nets = sl_cfg_get_seq(cfg, smtpd, "outbound_networks");
    size_t n = nets ? sl_cfg_count(nets) : 0;
    if (n > SL_CIDR_LIST_MAX) {
        sl_cfg_expected(cfg, nets, "at most %d networks", SL_CIDR_LIST_MAX);
        n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        const char *text = sl_cfg_scalar(sl_cfg_at(nets, i)), *why = "expected a network";
        if (text == NULL || sl_cidr_list_add(&self->outbound, text, &why) != 0)
            sl_cfg_error(cfg, sl_cfg_at(nets, i), "smtpd.outbound_networks[%zu]: %s", i, why);
    }
}

size_t
smtpd_conf_read(smtpd_conf_t *self, sl_cfg_t *cfg, const char *data_dir)
{
    static const char *const smtpd_keys[] = {"listen",
                                             "hostname",
                                             "tls_cert",
                                             "tls_key",
                                             "max_message_size",
                                             "max_recipients",
                                             "max_errors",
                                             "max_line_length",
                                             "max_header_lines",
                                             "max_header_size",
                                             "idle_timeout",
                                             "data_timeout",
                                             "max_connections",
                                             "per_ip_connections",
                                             "per_ip_rate",
                                             "greeting_delay",
                                             "phase_timeout",
                                             "graph",
                                             "user",
                                             "relay_domains",
                                             "mailboxes",
                                             "outbound_networks",
                                             NULL};
    static const char *const spool_keys[] = {
        "dir",           "sync_threads",     "replica", "replica_timeout",   "replica_listen",
        "replica_allow", "replica_takeover", "archive", "archive_retention", NULL};
    memset(self, 0, sizeof *self);
    size_t before = sl_cfg_error_count(cfg);
    const sl_cfg_node_t *root = sl_cfg_root(cfg);
    const sl_cfg_node_t *smtpd = sl_cfg_get(root, "smtpd");
    const sl_cfg_node_t *spool = sl_cfg_get(root, "spool");
    if (smtpd != NULL && sl_cfg_kind(smtpd) != SL_CFG_MAP) {
        sl_cfg_error(cfg, smtpd, "smtpd: expected a map");
        smtpd = NULL;
    }
    if (spool != NULL && sl_cfg_kind(spool) != SL_CFG_MAP) {
        sl_cfg_error(cfg, spool, "spool: expected a map");
        spool = NULL;
    }
    if (smtpd)
        sl_cfg_check_keys(cfg, smtpd, smtpd_keys);
    if (spool)
        sl_cfg_check_keys(cfg, spool, spool_keys);

    const sl_cfg_node_t *listen = sl_cfg_get(smtpd, "listen");
    if (listen == NULL) {
        self->listen[self->listen_count++] = sl_xstrdup("127.0.0.1:2525");
    } else if (sl_cfg_kind(listen) == SL_CFG_SCALAR) {
        self->listen[self->listen_count++] = sl_xstrdup(sl_cfg_scalar(listen));
    } else if (sl_cfg_kind(listen) == SL_CFG_SEQ) {
        for (size_t i = 0; i < sl_cfg_count(listen); i++) {
            const char *s = sl_cfg_scalar(sl_cfg_at(listen, i));
            if (self->listen_count == SMTPD_LISTEN_MAX) {
                sl_cfg_error(cfg, listen, "smtpd.listen: at most %d addresses", SMTPD_LISTEN_MAX);
                break;
            }
            if (s == NULL) {
                sl_cfg_error(cfg, sl_cfg_at(listen, i), "smtpd.listen[%zu]: expected host:port", i);
                continue;
            }
            self->listen[self->listen_count++] = sl_xstrdup(s);
        }
    } else {
        sl_cfg_error(cfg, listen, "smtpd.listen: expected a list of host:port");
    }
    for (size_t i = 0; i < self->listen_count; i++) {
        char host[256];
        int port;
        if (smtpd_conf_split_hostport(self->listen[i], host, sizeof host, &port) != 0)
            sl_cfg_error(cfg, listen, "smtpd.listen: \"%s\" is not host:port", self->listen[i]);
    }

    char host[256] = "localhost";
    if (gethostname(host, sizeof host) != 0)
        sl_strlcpy(host, "localhost", sizeof host);
    host[sizeof host - 1] = '\0';
    self->hostname = sl_xstrdup(sl_cfg_get_str(cfg, smtpd, "hostname", host));
    const char *cert = sl_cfg_get_str(cfg, smtpd, "tls_cert", "");
    const char *key = sl_cfg_get_str(cfg, smtpd, "tls_key", "");
    if ((cert[0] == '\0') != (key[0] == '\0'))
        sl_cfg_error(cfg, smtpd, "smtpd: tls_cert and tls_key go together");
    else if (cert[0] != '\0') {
        self->tls_cert = sl_xstrdup(cert);
        self->tls_key = sl_xstrdup(key);
    }
    self->max_message_size =
        (uint64_t)sl_cfg_get_size(cfg, smtpd, "max_message_size", 25 << 20, 1024, 1LL << 31);
    self->max_recipients = (size_t)sl_cfg_get_int(cfg, smtpd, "max_recipients", 100, 1, 1000);
    self->max_errors = (size_t)sl_cfg_get_int(cfg, smtpd, "max_errors", 10, 1, 1000);
    self->max_line_length = (size_t)sl_cfg_get_int(cfg, smtpd, "max_line_length", 998, 78, 1 << 20);
    self->max_header_lines =
        (size_t)sl_cfg_get_int(cfg, smtpd, "max_header_lines", 1000, 10, 100000);
    self->max_header_size =
        (size_t)sl_cfg_get_size(cfg, smtpd, "max_header_size", 256 << 10, 1024, 64 << 20);
    self->idle_timeout_ms =
        (int)sl_cfg_get_duration_ms(cfg, smtpd, "idle_timeout", 300000, 100, 3600000);
    self->data_timeout_ms =
        (int)sl_cfg_get_duration_ms(cfg, smtpd, "data_timeout", 180000, 100, 3600000);
    self->max_connections =
        (size_t)sl_cfg_get_int(cfg, smtpd, "max_connections", 10000, 1, 1000000);
    self->per_ip_connections =
        (size_t)sl_cfg_get_int(cfg, smtpd, "per_ip_connections", 50, 1, 1000000);
    self->per_ip_rate = (size_t)sl_cfg_get_int(cfg, smtpd, "per_ip_rate", 600, 1, 100000000);
    self->greeting_delay_ms =
        (int)sl_cfg_get_duration_ms(cfg, smtpd, "greeting_delay", 0, 0, 60000);
    self->phase_timeout_ms =
        (int)sl_cfg_get_duration_ms(cfg, smtpd, "phase_timeout", 2000, 10, 60000);
    self->graph = sl_xstrdup(sl_cfg_get_str(cfg, smtpd, "graph", "default"));
    self->user = sl_xstrdup(sl_cfg_get_str(cfg, smtpd, "user", "sluice"));
    s_read_domains(self, cfg, smtpd);
    s_read_outbound(self, cfg, smtpd);

    char dflt[4096];
    if (snprintf(dflt, sizeof dflt, "%s/spool", data_dir ? data_dir : ".") >= (int)sizeof dflt)
        sl_cfg_error(cfg, spool, "spool.dir: data_dir too long");
    self->spool_dir = sl_xstrdup(sl_cfg_get_str(cfg, spool, "dir", dflt));
    self->sync_threads = (size_t)sl_cfg_get_int(cfg, spool, "sync_threads", 16, 1, 256);
    const char *replica = sl_cfg_get_str(cfg, spool, "replica", "");
    if (replica[0] != '\0') {
        char rhost[256];
        int rport;
        if (smtpd_conf_split_hostport(replica, rhost, sizeof rhost, &rport) != 0)
            sl_cfg_error(cfg, sl_cfg_get(spool, "replica"), "spool.replica: expected host:port");
        self->replica = sl_xstrdup(replica);
    }
    self->replica_timeout_ms =
        (int)sl_cfg_get_duration_ms(cfg, spool, "replica_timeout", 10000, 10, 600000);
    const char *rlisten = sl_cfg_get_str(cfg, spool, "replica_listen", "");
    if (rlisten[0] != '\0') {
        char rhost[256];
        int rport;
        if (smtpd_conf_split_hostport(rlisten, rhost, sizeof rhost, &rport) != 0)
            sl_cfg_error(cfg, sl_cfg_get(spool, "replica_listen"),
                         "spool.replica_listen: expected host:port");
        self->replica_listen = sl_xstrdup(rlisten);
    }
    const sl_cfg_node_t *allow = sl_cfg_get(spool, "replica_allow");
    if (allow == NULL) {
        self->replica_allow = sl_xcalloc(2, sizeof *self->replica_allow);
        self->replica_allow[self->replica_allow_count++] = sl_xstrdup("127.0.0.1");
        self->replica_allow[self->replica_allow_count++] = sl_xstrdup("::1");
    } else if (sl_cfg_kind(allow) != SL_CFG_SEQ) {
        sl_cfg_error(cfg, allow, "spool.replica_allow: expected a list of addresses");
    } else {
        size_t n = sl_cfg_count(allow);
        self->replica_allow = sl_xcalloc(n ? n : 1, sizeof *self->replica_allow);
        for (size_t i = 0; i < n; i++) {
            const char *a = sl_cfg_scalar(sl_cfg_at(allow, i));
            if (a == NULL || a[0] == '\0')
                sl_cfg_error(cfg, sl_cfg_at(allow, i),
                             "spool.replica_allow[%zu]: expected an address", i);
            else
                self->replica_allow[self->replica_allow_count++] = sl_xstrdup(a);
        }
    }
    self->replica_takeover_ms =
        sl_cfg_get_duration_ms(cfg, spool, "replica_takeover", 600000, 100, 30LL * 86400000);
    self->archive = sl_cfg_get_bool(cfg, spool, "archive", false);
    self->archive_retention_ms = sl_cfg_get_duration_ms(cfg, spool, "archive_retention",
                                                        14LL * 86400000, 60000, 3650LL * 86400000);
    return sl_cfg_error_count(cfg) - before;
}

void
smtpd_conf_free(smtpd_conf_t *self)
{
    for (size_t i = 0; i < self->listen_count; i++)
        free(self->listen[i]);
    for (size_t i = 0; i < self->domain_count; i++) {
        for (size_t k = 0; k < self->domains[i].mailbox_count; k++)
            free(self->domains[i].mailboxes[k]);
        free(self->domains[i].mailboxes);
        free(self->domains[i].domain);
    }
    free(self->domains);
    sl_cidr_list_clear(&self->outbound);
    free(self->hostname);
    free(self->tls_cert);
    free(self->tls_key);
    free(self->graph);
    free(self->user);
    free(self->spool_dir);
    free(self->replica);
    free(self->replica_listen);
    for (size_t i = 0; i < self->replica_allow_count; i++)
        free(self->replica_allow[i]);
    free(self->replica_allow);
    memset(self, 0, sizeof *self);
}

bool
smtpd_conf_outbound(const smtpd_conf_t *self, const char *ip)
{
    sl_ip_t addr;
    return self->outbound.count > 0 && sl_ip_parse(ip, &addr) == 0 &&
           sl_cidr_list_contains(&self->outbound, &addr);
}

smtpd_rcpt_check_t
smtpd_conf_rcpt_check(const smtpd_conf_t *self, sl_slice_t local, sl_slice_t domain)
{
    if (domain.len == 0) /* <postmaster> (RFC 5321 4.5.1): always taken */
        return SMTPD_RCPT_OK;
    for (size_t i = 0; i < self->domain_count; i++) {
        const smtpd_domain_t *d = &self->domains[i];
        if (!smtpd_slice_caseeq(domain, (sl_slice_t){d->domain, strlen(d->domain)}))
            continue;
        if (d->mailboxes == NULL)
            return SMTPD_RCPT_OK;
        if (smtpd_slice_caseeq(local, (sl_slice_t){"postmaster", 10}))
            return SMTPD_RCPT_OK;
        for (size_t k = 0; k < d->mailbox_count; k++)
            if (smtpd_slice_caseeq(local, (sl_slice_t){d->mailboxes[k], strlen(d->mailboxes[k])}))
                return SMTPD_RCPT_OK;
        return SMTPD_RCPT_UNKNOWN_USER;
    }
    return SMTPD_RCPT_RELAY_DENIED;
}
