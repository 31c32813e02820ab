/*
 * lib/sl_policy.c - the policy store over sl_store (see sl_policy.h).
 *
 * Tables (component "policy"): policy_domain (name, route, tls),
 * policy_mailbox (address, domain), policy_rule (target + one nullable
 * column per field), policy_sender (target, kind, sender). Values from the
 * CLI and the YAML are checked here before they reach the store; values read
 * back are our own.
 * Tests: tests/unit/test_sl_policy.c, tests/e2e/test_delivery.py
 */
#include "sl_policy.h"
#include "sl_mem.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const s_migrations[] = {
    "CREATE TABLE policy_domain (name TEXT PRIMARY KEY, route TEXT, tls TEXT);"
    "CREATE TABLE policy_mailbox (address TEXT PRIMARY KEY, domain TEXT NOT NULL);"
    "CREATE TABLE policy_rule (target TEXT PRIMARY KEY, tag_score REAL, quarantine_score REAL,"
    " drop_score REAL, virus TEXT, banned TEXT, bad_header TEXT, oversized TEXT,"
    " subject_tag TEXT);"
    "CREATE TABLE policy_sender (target TEXT NOT NULL, kind TEXT NOT NULL,"
    " sender TEXT NOT NULL, PRIMARY KEY (target, kind, sender));",
};

/* Field names as the CLI and YAML spell them; the column is the same name. */
const char *const sl_policy_fields[] = {
    "tag_score",  "quarantine_score", "drop_score",  "virus", "banned",
    "bad_header", "oversized",        "subject_tag", NULL,
};

static const char *const s_actions[] = {"deliver", "tag", "quarantine", "drop", NULL};
static const char *const s_tls_names[] = {"none", "may", "encrypt", "verify", NULL};

int
sl_policy_migrate(sl_store_t *store)
{
    return sl_store_migrate(store, "policy", s_migrations,
                            sizeof s_migrations / sizeof s_migrations[0]);
}

bool
sl_policy_is_action(const char *name)
{
    for (size_t i = 0; name && s_actions[i]; i++)
        if (strcmp(name, s_actions[i]) == 0)
            return true;
    return false;
}

int
sl_policy_tls_parse(const char *name)
{
    for (int i = 0; name && s_tls_names[i]; i++)
        if (strcmp(name, s_tls_names[i]) == 0)
            return i;
    return -1;
}

const char *
sl_policy_tls_name(sl_tls_policy_t tls)
{
    return (unsigned)tls < 4 ? s_tls_names[tls] : "may";
}

const char *
sl_policy_target_kind(const char *target)
{
    if (strcmp(target, "*") == 0)
        return "default";
    return strchr(target, '@') ? "mailbox" : "domain";
}

/* s_lower - lowercase copy of S into BUF; -1 when it does not fit. */
static int
s_lower(const char *s, char *buf, size_t size)
{
    size_t n = strlen(s);
    if (n >= size)
        return -1;
    for (size_t i = 0; i <= n; i++)
        buf[i] = (char)tolower((unsigned char)s[i]);
    return 0;
}

/* s_is_domain - a plausible domain: 1..253 of [a-z0-9.-], no leading dot. */
static bool
s_is_domain(const char *d)
{
    size_t n = strlen(d);
    if (n == 0 || n > 253 || d[0] == '.' || d[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d[i];
        if (!(isalnum(c) || c == '.' || c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* s_is_address - local@domain with a printable local part of 1..64 bytes. */
static bool
s_is_address(const char *a)
{
    const char *at = strrchr(a, '@');
    if (at == NULL || at == a || at - a > 64)
        return false;
    for (const char *p = a; p < at; p++)
        if (*p <= ' ' || *p == 0x7f || *p == '<' || *p == '>')
            return false;
    return s_is_domain(at + 1);
}

/* s_norm_target - "default"/"*" -> "*", else a lowercased domain or address. */
static int
s_norm_target(const char *target, char *buf, size_t size, const char **why)
{
    if (strcmp(target, "default") == 0 || strcmp(target, "*") == 0) {
        sl_strlcpy(buf, "*", size);
        return 0;
    }
    if (s_lower(target, buf, size) != 0)
        return sl_fail(why, "target too long");
    if (strchr(buf, '@') ? !s_is_address(buf) : !s_is_domain(buf))
        return sl_fail(why, "target is not \"default\", a domain or an address");
    return 0;
}

int
sl_policy_route_parse(const char *route, char *host, size_t size, int *port, const char **why)
{
    host[0] = '\0';
    *port = 25;
    if (strcmp(route, "mx") == 0)
        return 0;
    if (strncmp(route, "smtp:", 5) != 0)
        return sl_fail(why, "route is not \"mx\" or \"smtp:[host]:port\"");
    const char *p = route + 5, *end;
    if (*p == '[') {
        end = strchr(p, ']');
        if (end == NULL)
            return sl_fail(why, "route has no closing ]");
        p++;
    } else {
        end = strrchr(p, ':');
        if (end == NULL)
            end = p + strlen(p);
    }
    size_t n = (size_t)(end - p);
    if (n == 0 || n >= size)
        return sl_fail(why, "route host is empty or too long");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (!(isalnum(c) || c == '.' || c == '-' || c == ':' || c == '_'))
            return sl_fail(why, "route host has a bad character");
    }
    memcpy(host, p, n);
    host[n] = '\0';
    const char *rest = *end == ']' ? end + 1 : end;
    if (*rest == '\0')
        return 0;
    if (*rest != ':' || rest[1] == '\0' || strlen(rest + 1) > 5)
        return sl_fail(why, "route port must be 1..65535");
    long v = 0;
    for (const char *q = rest + 1; *q; q++) {
        if (*q < '0' || *q > '9')
            return sl_fail(why, "route port must be 1..65535");
        v = v * 10 + (*q - '0');
    }
    if (v < 1 || v > 65535)
        return sl_fail(why, "route port must be 1..65535");
    *port = (int)v;
    return 0;
}

/* s_score_value - a score: a finite decimal number, strictly parsed. */
static int
s_score_value(const char *text, const char **why)
{
    char *end = NULL;
    double v = strtod(text, &end); /* operator input, NUL-terminated, fully checked */
    if (text[0] == '\0' || end == NULL || *end != '\0' || !isfinite(v) || v < -1000 || v > 1000)
        return sl_fail(why, "score must be a number -1000..1000");
    return 0;
}

static int
s_check_field(const char *field, const char *value, const char **why)
{
    if (value == NULL)
        return 0;
    if (strstr(field, "_score"))
        return s_score_value(value, why);
    if (strcmp(field, "subject_tag") == 0) {
        if (strlen(value) >= SL_POLICY_TAG_MAX)
            return sl_fail(why, "subject_tag is too long (max 127 bytes)");
        for (const char *p = value; *p; p++)
            if ((unsigned char)*p < ' ' || *p == 0x7f)
                return sl_fail(why, "subject_tag has a control character");
        return 0;
    }
    if (!sl_policy_is_action(value))
        return sl_fail(why, "action must be deliver, tag, quarantine or drop");
    return 0;
}

static int
s_store_fail(sl_store_t *store, const char **why)
{
    return sl_fail(why, sl_store_error(store));
}

int
sl_policy_domain_set(sl_store_t *store, const char *name, const char *route, const char *tls,
                     const char **why)
{
    char dom[256], host[SL_POLICY_ROUTE_MAX];
    int port;
    if (s_lower(name, dom, sizeof dom) != 0 || !s_is_domain(dom))
        return sl_fail(why, "not a domain name");
    if (route && (strlen(route) >= SL_POLICY_ROUTE_MAX ||
                  sl_policy_route_parse(route, host, sizeof host, &port, why) != 0))
        return why && *why ? -1 : sl_fail(why, "route too long");
    if (tls && sl_policy_tls_parse(tls) < 0)
        return sl_fail(why, "tls must be none, may, encrypt or verify");
    const char *p[] = {dom, route, tls};
    /* COALESCE keeps what the caller did not name ("domain add x --tls verify"). */
    if (sl_store_exec(store,
                      "INSERT INTO policy_domain (name, route, tls) VALUES (?, ?, ?) "
                      "ON CONFLICT (name) DO UPDATE SET "
                      "route = COALESCE(excluded.route, policy_domain.route), "
                      "tls = COALESCE(excluded.tls, policy_domain.tls)",
                      p, 3) != 0)
        return s_store_fail(store, why);
    return 0;
}

/* s_delete - runs SQL (one parameter: KEY lowercased); MISSING when no row went. */
static int
s_delete(sl_store_t *store, const char *sql, const char *key, const char *missing, const char **why)
{
    char lower[SL_POLICY_TARGET_MAX];
    if (s_lower(key, lower, sizeof lower) != 0)
        return sl_fail(why, missing);
    const char *p[] = {lower};
    if (sl_store_exec(store, sql, p, 1) != 0)
        return s_store_fail(store, why);
    return sl_store_changes(store) == 0 ? sl_fail(why, missing) : 0;
}

int
sl_policy_domain_remove(sl_store_t *store, const char *name, const char **why)
{
    return s_delete(store, "DELETE FROM policy_domain WHERE name = ?", name, "no such domain", why);
}

int
sl_policy_mailbox_set(sl_store_t *store, const char *address, const char **why)
{
    char addr[SL_POLICY_TARGET_MAX];
    if (s_lower(address, addr, sizeof addr) != 0 || !s_is_address(addr))
        return sl_fail(why, "not a mailbox address");
    const char *p[] = {addr, strrchr(addr, '@') + 1};
    if (sl_store_exec(store,
                      "INSERT INTO policy_mailbox (address, domain) VALUES (?, ?) "
                      "ON CONFLICT (address) DO NOTHING",
                      p, 2) != 0)
        return s_store_fail(store, why);
    return 0;
}

int
sl_policy_mailbox_remove(sl_store_t *store, const char *address, const char **why)
{
    return s_delete(store, "DELETE FROM policy_mailbox WHERE address = ?", address,
                    "no such mailbox", why);
}

int
sl_policy_rule_set(sl_store_t *store, const char *target, const char *field, const char *value,
                   const char **why)
{
    char t[SL_POLICY_TARGET_MAX];
    if (s_norm_target(target, t, sizeof t, why) != 0)
        return -1;
    const char *col = NULL;
    for (size_t i = 0; sl_policy_fields[i]; i++)
        if (strcmp(field, sl_policy_fields[i]) == 0)
            col = sl_policy_fields[i];
    if (col == NULL)
        return sl_fail(why, "unknown policy field");
    if (s_check_field(col, value, why) != 0)
        return -1;
    char sql[256];
    /* COL comes from the fixed list above, never from the caller's text. */
    snprintf(sql, sizeof sql,
             "INSERT INTO policy_rule (target, %s) VALUES (?, ?) "
             "ON CONFLICT (target) DO UPDATE SET %s = excluded.%s",
             col, col, col);
    const char *p[] = {t, value};
    if (sl_store_exec(store, sql, p, 2) != 0)
        return s_store_fail(store, why);
    return 0;
}

int
sl_policy_rule_remove(sl_store_t *store, const char *target, const char **why)
{
    char t[SL_POLICY_TARGET_MAX];
    if (s_norm_target(target, t, sizeof t, why) != 0)
        return -1;
    const char *p[] = {t};
    if (sl_store_exec(store, "DELETE FROM policy_rule WHERE target = ?", p, 1) != 0)
        return s_store_fail(store, why);
    int64_t n = sl_store_changes(store);
    if (sl_store_exec(store, "DELETE FROM policy_sender WHERE target = ?", p, 1) != 0)
        return s_store_fail(store, why);
    if (n + sl_store_changes(store) == 0)
        return sl_fail(why, "no policy for this target");
    return 0;
}

int
sl_policy_sender_set(sl_store_t *store, const char *target, const char *kind, const char *sender,
                     bool add, const char **why)
{
    char t[SL_POLICY_TARGET_MAX], s[SL_POLICY_TARGET_MAX];
    if (s_norm_target(target, t, sizeof t, why) != 0)
        return -1;
    if (strcmp(kind, "allow") != 0 && strcmp(kind, "block") != 0)
        return sl_fail(why, "list must be allow or block");
    if (s_lower(sender, s, sizeof s) != 0 || (strchr(s, '@') ? !s_is_address(s) : !s_is_domain(s)))
        return sl_fail(why, "sender must be an address or a domain");
    const char *p[] = {t, kind, s};
    int rc =
        add ? sl_store_exec(store,
                            "INSERT INTO policy_sender (target, kind, sender) VALUES (?, ?, ?) "
                            "ON CONFLICT (target, kind, sender) DO NOTHING",
                            p, 3)
            : sl_store_exec(store,
                            "DELETE FROM policy_sender WHERE target = ? AND kind = ? AND "
                            "sender = ?",
                            p, 3);
    return rc == 0 ? 0 : s_store_fail(store, why);
}

static void
s_copy_action(char *dst, const char *value)
{
    if (value && sl_policy_is_action(value))
        sl_strlcpy(dst, value, SL_POLICY_ACTION_MAX);
}

int
sl_policy_lookup(sl_store_t *store, const char *rcpt, const char *sender, sl_policy_t *out)
{
    char addr[SL_POLICY_TARGET_MAX] = "", from[SL_POLICY_TARGET_MAX] = "";
    memset(out, 0, sizeof *out);
    out->tag_score = SL_POLICY_DEFAULT_TAG;
    out->quarantine_score = SL_POLICY_DEFAULT_QUARANTINE;
    sl_strlcpy(out->virus, "quarantine", sizeof out->virus);
    sl_strlcpy(out->banned, "quarantine", sizeof out->banned);
    sl_strlcpy(out->bad_header, "tag", sizeof out->bad_header);
    sl_strlcpy(out->oversized, "deliver", sizeof out->oversized);
    out->tls = SL_TLS_MAY;
    if (s_lower(rcpt, addr, sizeof addr) != 0)
        addr[0] = '\0'; /* too long to be a target: defaults only */
    const char *at = strrchr(addr, '@');
    const char *domain = at ? at + 1 : addr;

    const char *pd[] = {domain};
    sl_rows_t *rows =
        sl_store_query(store, "SELECT route, tls FROM policy_domain WHERE name = ?", pd, 1);
    if (rows == NULL)
        return -1;
    if (sl_rows_count(rows) == 1) {
        out->domain_known = true;
        const char *route = sl_rows_get(rows, 0, 0), *tls = sl_rows_get(rows, 0, 1);
        if (route)
            sl_strlcpy(out->route, route, sizeof out->route);
        if (tls && sl_policy_tls_parse(tls) >= 0)
            out->tls = (sl_tls_policy_t)sl_policy_tls_parse(tls);
    }
    sl_rows_free(&rows);

    /* Rules most general first, so that each more specific one overrides. */
    const char *pr[] = {addr, domain};
    rows = sl_store_query(store,
                          "SELECT target, tag_score, quarantine_score, drop_score, virus, banned,"
                          " bad_header, oversized, subject_tag FROM policy_rule"
                          " WHERE target IN ('*', ?, ?)"
                          " ORDER BY CASE WHEN target = '*' THEN 0"
                          " WHEN target LIKE '%@%' THEN 2 ELSE 1 END",
                          pr, 2);
    if (rows == NULL)
        return -1;
    for (size_t r = 0; r < sl_rows_count(rows); r++) {
        const char *v;
        sl_strlcpy(out->matched, sl_rows_get(rows, r, 0), sizeof out->matched);
        if ((v = sl_rows_get(rows, r, 1)))
            out->tag_score = strtod(v, NULL); /* our own store's numbers */
        if ((v = sl_rows_get(rows, r, 2)))
            out->quarantine_score = strtod(v, NULL);
        if ((v = sl_rows_get(rows, r, 3))) {
            out->drop_score = strtod(v, NULL);
            out->has_drop_score = true;
        }
        s_copy_action(out->virus, sl_rows_get(rows, r, 4));
        s_copy_action(out->banned, sl_rows_get(rows, r, 5));
        s_copy_action(out->bad_header, sl_rows_get(rows, r, 6));
        s_copy_action(out->oversized, sl_rows_get(rows, r, 7));
        if ((v = sl_rows_get(rows, r, 8)))
            sl_strlcpy(out->subject_tag, v, sizeof out->subject_tag);
    }
    sl_rows_free(&rows);

    if (sender[0] == '\0' || s_lower(sender, from, sizeof from) != 0)
        return 0;
    const char *fat = strrchr(from, '@');
    const char *ps[] = {addr, domain, from, fat ? fat + 1 : from};
    rows = sl_store_query(store,
                          "SELECT DISTINCT kind FROM policy_sender WHERE target IN ('*', ?, ?)"
                          " AND sender IN (?, ?)",
                          ps, 4);
    if (rows == NULL)
        return -1;
    for (size_t r = 0; r < sl_rows_count(rows); r++) {
        const char *kind = sl_rows_get(rows, r, 0);
        if (kind && strcmp(kind, "allow") == 0)
            out->sender_allowed = true;
        if (kind && strcmp(kind, "block") == 0)
            out->sender_blocked = true;
    }
    sl_rows_free(&rows);
    return 0;
}

const char *
sl_policy_store_url(sl_cfg_t *cfg, const char *data_dir, char *buf, size_t size)
{
    const sl_cfg_node_t *section = cfg ? sl_cfg_get(sl_cfg_root(cfg), "policy") : NULL;
    const char *url = section && sl_cfg_kind(section) == SL_CFG_MAP
                          ? sl_cfg_get_str(cfg, section, "store", NULL)
                          : NULL;
    if (url)
        snprintf(buf, size, "%s", url);
    else
        snprintf(buf, size, "sqlite:%s/sluice.db", data_dir);
    return buf;
}

/* --- seeding from the policy: section --- */

static const char *const s_seed_keys[] = {"store", "defaults", "domains", "allow", "block", NULL};
static const char *const s_domain_keys[] = {"name",      "route", "tls",   "policy",
                                            "mailboxes", "allow", "block", NULL};
static const char *const s_mailbox_keys[] = {"address", "policy", "allow", "block", NULL};

/* s_seed_rule - a "policy:"-style map of fields for TARGET. */
static int
s_seed_rule(sl_store_t *store, sl_cfg_t *cfg, const sl_cfg_node_t *map, const char *target)
{
    if (map == NULL)
        return 0;
    sl_cfg_check_keys(cfg, map, sl_policy_fields);
    int rc = 0;
    for (size_t i = 0; sl_policy_fields[i]; i++) {
        const sl_cfg_node_t *v = sl_cfg_get(map, sl_policy_fields[i]);
        if (v == NULL)
            continue;
        const char *text = sl_cfg_scalar(v), *why = NULL;
        if (text == NULL || sl_cfg_is_null(v)) {
            sl_cfg_expected(cfg, v, "a value");
            rc = -1;
            continue;
        }
        if (sl_policy_rule_set(store, target, sl_policy_fields[i], text, &why) != 0) {
            sl_cfg_error(cfg, v, "policy %s.%s: %s", target, sl_policy_fields[i], why);
            rc = -1;
        }
    }
    return rc;
}

/* s_seed_senders - "allow:" and "block:" lists of TARGET under MAP. */
static int
s_seed_senders(sl_store_t *store, sl_cfg_t *cfg, const sl_cfg_node_t *map, const char *target)
{
    static const char *const kinds[] = {"allow", "block"};
    int rc = 0;
    for (size_t k = 0; k < 2; k++) {
        const sl_cfg_node_t *seq = sl_cfg_get_seq(cfg, map, kinds[k]);
        for (size_t i = 0; seq && i < sl_cfg_count(seq); i++) {
            const sl_cfg_node_t *v = sl_cfg_at(seq, i);
            const char *text = sl_cfg_scalar(v), *why = NULL;
            if (text == NULL ||
                sl_policy_sender_set(store, target, kinds[k], text, true, &why) != 0) {
                sl_cfg_error(cfg, v, "%s list entry: %s", kinds[k],
                             why ? why : "expected an address or a domain");
                rc = -1;
            }
        }
    }
    return rc;
}

static int
s_seed_domain(sl_store_t *store, sl_cfg_t *cfg, const sl_cfg_node_t *d)
{
    if (sl_cfg_kind(d) != SL_CFG_MAP) {
        sl_cfg_expected(cfg, d, "a map with name:, route:, tls:");
        return -1;
    }
    sl_cfg_check_keys(cfg, d, s_domain_keys);
    const char *name = sl_cfg_get_str(cfg, d, "name", NULL);
    const char *route = sl_cfg_get_str(cfg, d, "route", NULL);
    const char *tls = sl_cfg_get_str(cfg, d, "tls", NULL);
    const char *why = NULL;
    if (name == NULL) {
        sl_cfg_error(cfg, d, "domain entry without name:");
        return -1;
    }
    if (sl_policy_domain_set(store, name, route, tls, &why) != 0) {
        sl_cfg_error(cfg, d, "domain %s: %s", name, why);
        return -1;
    }
    int rc = s_seed_rule(store, cfg, sl_cfg_get_map(cfg, d, "policy"), name);
    rc |= s_seed_senders(store, cfg, d, name);
    const char *dom_lower = name;
    const sl_cfg_node_t *boxes = sl_cfg_get_seq(cfg, d, "mailboxes");
    for (size_t i = 0; boxes && i < sl_cfg_count(boxes); i++) {
        const sl_cfg_node_t *m = sl_cfg_at(boxes, i);
        const char *addr = sl_cfg_kind(m) == SL_CFG_SCALAR ? sl_cfg_scalar(m) : NULL;
        if (sl_cfg_kind(m) == SL_CFG_MAP) {
            sl_cfg_check_keys(cfg, m, s_mailbox_keys);
            addr = sl_cfg_get_str(cfg, m, "address", NULL);
        }
        const char *at = addr ? strrchr(addr, '@') : NULL;
        if (at == NULL || strcasecmp(at + 1, dom_lower) != 0) {
            sl_cfg_error(cfg, m, "mailbox must be an address in %s", name);
            rc = -1;
            continue;
        }
        if (sl_policy_mailbox_set(store, addr, &why) != 0) {
            sl_cfg_error(cfg, m, "mailbox %s: %s", addr, why);
            rc = -1;
            continue;
        }
        if (sl_cfg_kind(m) == SL_CFG_MAP) {
            rc |= s_seed_rule(store, cfg, sl_cfg_get_map(cfg, m, "policy"), addr);
            rc |= s_seed_senders(store, cfg, m, addr);
        }
    }
    return rc;
}

int
sl_policy_seed(sl_store_t *store, sl_cfg_t *cfg, const sl_cfg_node_t *section, char *err,
               size_t errlen)
{
    err[0] = '\0';
    if (section == NULL)
        return 0;
    size_t before = sl_cfg_error_count(cfg);
    if (sl_cfg_kind(section) != SL_CFG_MAP) {
        sl_cfg_expected(cfg, section, "a map");
        snprintf(err, errlen, "%s", sl_cfg_errors(cfg));
        return -1;
    }
    sl_cfg_check_keys(cfg, section, s_seed_keys);
    if (sl_store_begin(store) != 0) {
        snprintf(err, errlen, "policy store: %s", sl_store_error(store));
        return -1;
    }
    int rc = s_seed_rule(store, cfg, sl_cfg_get_map(cfg, section, "defaults"), "*");
    rc |= s_seed_senders(store, cfg, section, "*");
    const sl_cfg_node_t *domains = sl_cfg_get_seq(cfg, section, "domains");
    for (size_t i = 0; domains && i < sl_cfg_count(domains); i++)
        rc |= s_seed_domain(store, cfg, sl_cfg_at(domains, i));
    if (rc != 0 || sl_cfg_error_count(cfg) > before) {
        sl_store_rollback(store);
        snprintf(err, errlen, "%s", sl_cfg_errors(cfg));
        return -1;
    }
    if (sl_store_commit(store) != 0) {
        snprintf(err, errlen, "policy store: %s", sl_store_error(store));
        return -1;
    }
    return 0;
}
