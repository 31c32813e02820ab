/*
 * supervisor/sluice_policy.c - `sluice domain|mailbox|policy`: manage the policy store.
 *
 *   sluice domain add NAME [--route smtp:[host]:port|mx] [--tls none|may|encrypt|verify]
 *   sluice domain list | show NAME | remove NAME
 *   sluice mailbox add ADDRESS | list [DOMAIN] | show ADDRESS | remove ADDRESS
 *   sluice policy add TARGET [--tag-score X] [--quarantine-score X] [--drop-score X]
 *                 [--virus A] [--banned A] [--bad-header A] [--oversized A]
 *                 [--subject-tag TEXT] [--allow SENDER]... [--block SENDER]...
 *                 [--unset FIELD]... [--no-allow SENDER]... [--no-block SENDER]...
 *   sluice policy list | show TARGET | remove TARGET
 * TARGET is "default", a domain or a mailbox address. `policy show` of an
 * address prints the effective policy (mailbox, else domain, else defaults).
 * Changes apply to the next message: the action stage reads through.
 * Also: sluice_admin_open, shared by the log and queue commands.
 * Tests: tests/e2e/test_delivery.py
 */
#include "sl_msglog.h"
#include "sl_policy.h"
#include "sl_quarstore.h"
#include "sluice.h"
#include "sluice_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char **
sluice_admin_args(int argc, char **argv, int *n)
{
    char **out = sl_xcalloc((size_t)argc + 1, sizeof *out);
    *n = 0;
    for (int i = 0; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            i++;
            continue;
        }
        out[(*n)++] = argv[i];
    }
    return out;
}

sl_store_t *
sluice_admin_open(int argc, char **argv, sl_conf_t **conf_p)
{
    char err[16384];
    sl_conf_t *conf = sl_conf_load(sluice_opt_config(argc, argv), err, sizeof err);
    if (conf == NULL) {
        fprintf(stderr, "%s\n", err);
        return NULL;
    }
    char url[4200];
    sl_policy_store_url(conf->cfg, conf->data_dir, url, sizeof url);
    sl_store_t *store = sl_store_open(url, err, sizeof err);
    if (store == NULL || sl_policy_migrate(store) != 0 || sl_msglog_migrate(store) != 0 ||
        sl_quarstore_migrate(store) != 0) {
        fprintf(stderr, "sluice: store %s: %s\n", url, store ? sl_store_error(store) : err);
        sl_store_close(&store);
        sl_conf_destroy(&conf);
        return NULL;
    }
    *conf_p = conf;
    return store;
}

const char *
sluice_admin_or(const char *v, const char *def)
{
    return v && v[0] ? v : def;
}

static int
s_fail_msg(const char *cmd, const char *what, const char *why)
{
    fprintf(stderr, "sluice %s: %s: %s\n", cmd, what, why ? why : "failed");
    return 1;
}

static void
s_print_rows(const sl_rows_t *rows, const char *const *head)
{
    size_t cols = sl_rows_columns(rows);
    for (size_t c = 0; c < cols; c++)
        printf("%s%s", c ? "\t" : "", head[c]);
    printf("\n");
    for (size_t r = 0; r < sl_rows_count(rows); r++) {
        for (size_t c = 0; c < cols; c++)
            printf("%s%s", c ? "\t" : "", sluice_admin_or(sl_rows_get(rows, r, c), "-"));
        printf("\n");
    }
}

/* s_domain - domain add|list|show|remove. */
static int
s_domain(sl_store_t *store, int n, char **a)
{
    const char *verb = n > 1 ? a[1] : "list", *why = NULL;
    if (strcmp(verb, "list") == 0) {
        sl_rows_t *rows = sl_store_query(
            store,
            "SELECT d.name, d.route, d.tls, (SELECT COUNT(*) FROM policy_mailbox m WHERE"
            " m.domain = d.name) FROM policy_domain d ORDER BY d.name",
            NULL, 0);
        if (rows == NULL)
            return s_fail_msg("domain", "list", sl_store_error(store));
        static const char *const head[] = {"domain", "route", "tls", "mailboxes"};
        s_print_rows(rows, head);
        sl_rows_free(&rows);
        return 0;
    }
    if (n < 3) {
        fprintf(stderr, "usage: sluice domain add NAME [--route R] [--tls T] | list | show NAME"
                        " | remove NAME\n");
        return 2;
    }
    const char *name = a[2];
    if (strcmp(verb, "add") == 0) {
        const char *route = NULL, *tls = NULL;
        for (int i = 3; i < n; i++) {
            if (strcmp(a[i], "--route") == 0 && i + 1 < n)
                route = a[++i];
            else if (strcmp(a[i], "--tls") == 0 && i + 1 < n)
                tls = a[++i];
            else
                return s_fail_msg("domain add", a[i], "unknown option");
        }
        if (sl_policy_domain_set(store, name, route, tls, &why) != 0)
            return s_fail_msg("domain add", name, why);
        printf("domain %s: saved\n", name);
        return 0;
    }
    if (strcmp(verb, "remove") == 0) {
        if (sl_policy_domain_remove(store, name, &why) != 0)
            return s_fail_msg("domain remove", name, why);
        printf("domain %s: removed\n", name);
        return 0;
    }
    if (strcmp(verb, "show") == 0) {
        sl_policy_t p;
        char addr[300];
        snprintf(addr, sizeof addr, "postmaster@%s", name);
        if (sl_policy_lookup(store, addr, "", &p) != 0)
            return s_fail_msg("domain show", name, sl_store_error(store));
        if (!p.domain_known)
            return s_fail_msg("domain show", name, "no such domain");
        printf("domain: %s\nroute: %s\ntls: %s\n", name,
               sluice_admin_or(p.route, "(delivery.default_route)"), sl_policy_tls_name(p.tls));
        return 0;
    }
    return s_fail_msg("domain", verb, "unknown verb (add, list, show, remove)");
}

static int
s_mailbox(sl_store_t *store, int n, char **a)
{
    const char *verb = n > 1 ? a[1] : "list", *why = NULL;
    if (strcmp(verb, "list") == 0) {
        const char *p[] = {n > 2 ? a[2] : NULL};
        sl_rows_t *rows = n > 2 ? sl_store_query(store,
                                                 "SELECT address, domain FROM policy_mailbox"
                                                 " WHERE domain = lower(?) ORDER BY address",
                                                 p, 1)
                                : sl_store_query(store,
                                                 "SELECT address, domain FROM policy_mailbox"
                                                 " ORDER BY address",
                                                 NULL, 0);
        if (rows == NULL)
            return s_fail_msg("mailbox", "list", sl_store_error(store));
        static const char *const head[] = {"mailbox", "domain"};
        s_print_rows(rows, head);
        sl_rows_free(&rows);
        return 0;
    }
    if (n < 3) {
        fprintf(stderr, "usage: sluice mailbox add ADDRESS | list [DOMAIN] | show ADDRESS |"
                        " remove ADDRESS\n");
        return 2;
    }
    if (strcmp(verb, "add") == 0) {
        if (sl_policy_mailbox_set(store, a[2], &why) != 0)
            return s_fail_msg("mailbox add", a[2], why);
        printf("mailbox %s: saved\n", a[2]);
        return 0;
    }
    if (strcmp(verb, "remove") == 0) {
        if (sl_policy_mailbox_remove(store, a[2], &why) != 0)
            return s_fail_msg("mailbox remove", a[2], why);
        printf("mailbox %s: removed\n", a[2]);
        return 0;
    }
    if (strcmp(verb, "show") == 0) {
        const char *p[] = {a[2]};
        sl_rows_t *rows = sl_store_query(
            store, "SELECT address, domain FROM policy_mailbox WHERE address = lower(?)", p, 1);
        if (rows == NULL || sl_rows_count(rows) == 0) {
            sl_rows_free(&rows);
            return s_fail_msg("mailbox show", a[2], "no such mailbox");
        }
        printf("mailbox: %s\ndomain: %s\n", sl_rows_get(rows, 0, 0), sl_rows_get(rows, 0, 1));
        sl_rows_free(&rows);
        return 0;
    }
    return s_fail_msg("mailbox", verb, "unknown verb (add, list, show, remove)");
}

/* s_field_of - "--tag-score" -> "tag_score"; NULL when not a field option. */
static const char *
s_field_of(const char *opt)
{
    if (strncmp(opt, "--", 2) != 0)
        return NULL;
    char name[64];
    if (snprintf(name, sizeof name, "%s", opt + 2) >= (int)sizeof name)
        return NULL;
    for (char *p = name; *p; p++)
        if (*p == '-')
            *p = '_';
    for (size_t i = 0; sl_policy_fields[i]; i++)
        if (strcmp(name, sl_policy_fields[i]) == 0)
            return sl_policy_fields[i];
    return NULL;
}

static int
s_policy_add(sl_store_t *store, int n, char **a)
{
    const char *target = a[2], *why = NULL;
    if (sl_store_begin(store) != 0)
        return s_fail_msg("policy add", target, sl_store_error(store));
    int rc = 0;
    bool any = false;
    for (int i = 3; i < n && rc == 0; i++) {
        const char *field = s_field_of(a[i]);
        if (field && i + 1 < n)
            rc = sl_policy_rule_set(store, target, field, a[++i], &why);
        else if (strcmp(a[i], "--unset") == 0 && i + 1 < n)
            rc = sl_policy_rule_set(store, target, a[++i], NULL, &why);
        else if ((strcmp(a[i], "--allow") == 0 || strcmp(a[i], "--block") == 0) && i + 1 < n) {
            rc = sl_policy_sender_set(store, target, a[i] + 2, a[i + 1], true, &why);
            i++;
        } else if ((strcmp(a[i], "--no-allow") == 0 || strcmp(a[i], "--no-block") == 0) &&
                   i + 1 < n) {
            rc = sl_policy_sender_set(store, target, a[i] + 5, a[i + 1], false, &why);
            i++;
        } else {
            why = "unknown option or missing value";
            rc = -1;
        }
        any = true;
    }
    if (rc == 0 && !any)
        rc = sl_policy_rule_set(store, target, "subject_tag", NULL, &why); /* an empty rule */
    if (rc != 0) {
        sl_store_rollback(store);
        return s_fail_msg("policy add", target, why);
    }
    if (sl_store_commit(store) != 0)
        return s_fail_msg("policy add", target, sl_store_error(store));
    printf("policy %s: saved\n", target);
    return 0;
}

static int
s_policy_show(sl_store_t *store, const char *target)
{
    const char *t = strcmp(target, "default") == 0 ? "*" : target;
    const char *p[] = {t};
    sl_rows_t *rows = sl_store_query(store,
                                     "SELECT tag_score, quarantine_score, drop_score, virus,"
                                     " banned, bad_header, oversized, subject_tag FROM"
                                     " policy_rule WHERE target = lower(?)",
                                     p, 1);
    if (rows == NULL)
        return s_fail_msg("policy show", target, sl_store_error(store));
    printf("target: %s (%s)\n", target, sl_policy_target_kind(t));
    printf("rule:%s\n", sl_rows_count(rows) ? "" : " none (inherits everything)");
    for (size_t c = 0; sl_rows_count(rows) && sl_policy_fields[c]; c++)
        printf("  %s: %s\n", sl_policy_fields[c],
               sluice_admin_or(sl_rows_get(rows, 0, c), "(inherited)"));
    sl_rows_free(&rows);
    rows = sl_store_query(store,
                          "SELECT kind, sender FROM policy_sender WHERE target = lower(?)"
                          " ORDER BY kind, sender",
                          p, 1);
    for (size_t r = 0; rows && r < sl_rows_count(rows); r++)
        printf("  %s: %s\n", sl_rows_get(rows, r, 0), sl_rows_get(rows, r, 1));
    sl_rows_free(&rows);
    if (strcmp(t, "*") == 0)
        return 0;
    char addr[400];
    snprintf(addr, sizeof addr, "%s%s", strchr(t, '@') ? "" : "postmaster@", t);
    sl_policy_t e;
    if (sl_policy_lookup(store, addr, "", &e) != 0)
        return s_fail_msg("policy show", target, sl_store_error(store));
    printf("effective for %s (most specific rule: %s):\n", addr,
           sluice_admin_or(e.matched, "none"));
    printf("  tag_score: %.2f\n  quarantine_score: %.2f\n", e.tag_score, e.quarantine_score);
    if (e.has_drop_score)
        printf("  drop_score: %.2f\n", e.drop_score);
    else
        printf("  drop_score: never\n");
    printf("  virus: %s\n  banned: %s\n  bad_header: %s\n  oversized: %s\n  subject_tag: %s\n",
           e.virus, e.banned, e.bad_header, e.oversized, sluice_admin_or(e.subject_tag, "(none)"));
    printf("  route: %s\n  tls: %s\n", sluice_admin_or(e.route, "(delivery.default_route)"),
           sl_policy_tls_name(e.tls));
    return 0;
}

static int
s_policy(sl_store_t *store, int n, char **a)
{
    const char *verb = n > 1 ? a[1] : "list", *why = NULL;
    if (strcmp(verb, "list") == 0) {
        sl_rows_t *rows = sl_store_query(
            store,
            "SELECT CASE WHEN target = '*' THEN 'default' ELSE target END, tag_score,"
            " quarantine_score, drop_score, virus, banned, bad_header, oversized, subject_tag,"
            " (SELECT COUNT(*) FROM policy_sender s WHERE s.target = r.target)"
            " FROM policy_rule r ORDER BY target = '*' DESC, target",
            NULL, 0);
        if (rows == NULL)
            return s_fail_msg("policy", "list", sl_store_error(store));
        static const char *const head[] = {
            "target", "tag_score",  "quarantine_score", "drop_score",  "virus",
            "banned", "bad_header", "oversized",        "subject_tag", "senders"};
        s_print_rows(rows, head);
        sl_rows_free(&rows);
        return 0;
    }
    if (n < 3) {
        fprintf(stderr, "usage: sluice policy add TARGET [--FIELD VALUE]... | list | show TARGET"
                        " | remove TARGET\n");
        return 2;
    }
    if (strcmp(verb, "add") == 0 || strcmp(verb, "set") == 0)
        return s_policy_add(store, n, a);
    if (strcmp(verb, "show") == 0)
        return s_policy_show(store, a[2]);
    if (strcmp(verb, "remove") == 0) {
        if (sl_policy_rule_remove(store, a[2], &why) != 0)
            return s_fail_msg("policy remove", a[2], why);
        printf("policy %s: removed\n", a[2]);
        return 0;
    }
    return s_fail_msg("policy", verb, "unknown verb (add, list, show, remove)");
}

typedef int (*s_cmd_fn)(sl_store_t *store, int n, char **a);

static int
s_run(int argc, char **argv, s_cmd_fn fn)
{
    sl_conf_t *conf = NULL;
    sl_store_t *store = sluice_admin_open(argc, argv, &conf);
    if (store == NULL)
        return 1;
    int n;
    char **a = sluice_admin_args(argc, argv, &n);
    int rc = fn(store, n, a);
    free(a);
    sl_store_close(&store);
    sl_conf_destroy(&conf);
    return rc;
}

int
sluice_domain_main(int argc, char **argv)
{
    return s_run(argc, argv, s_domain);
}

int
sluice_mailbox_main(int argc, char **argv)
{
    return s_run(argc, argv, s_mailbox);
}

int
sluice_policy_main(int argc, char **argv)
{
    return s_run(argc, argv, s_policy);
}
