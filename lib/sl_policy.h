/*
 * lib/sl_policy.h - the policy store: domains, mailboxes, per-recipient policy.
 *
 * Shared by the action stage (thresholds, actions), sluice-delivery (route,
 * TLS policy) and the `sluice domain|mailbox|policy` commands; built as the
 * static library sluice-policy next to delivery (it moves to lib/ unchanged
 * when the lead wants it there). Everything goes through sl_store, so the
 * PostgreSQL backend is an addition. Readers read through on every message:
 * a change made with the CLI applies to the next message, without restart.
 *
 * A policy rule belongs to a target: "*" (the defaults), a domain
 * ("example.com") or a mailbox ("ceo@example.com"). Each field of a rule may
 * be unset; the effective policy of a recipient takes each field from the
 * mailbox rule, else the domain rule, else the defaults rule, else the
 * built-in default (SL_POLICY_DEFAULT_*).
 * Tests: tests/unit/test_sl_policy.c, tests/e2e/test_delivery.py
 */
#ifndef SL_POLICY_H
#define SL_POLICY_H

#include "sl_cfg.h"
#include "sl_store.h"

#include <stdbool.h>
#include <stddef.h>

#define SL_POLICY_ROUTE_MAX 256     /* "smtp:[host]:port" or "mx" */
#define SL_POLICY_ACTION_MAX 16     /* "quarantine" */
#define SL_POLICY_TAG_MAX 128       /* subject tag text */
#define SL_POLICY_TARGET_MAX 320    /* a mailbox: 64 local part + @ + 255 domain */
#define SL_POLICY_SENDERS_MAX 10000 /* allow/block entries per target (list output bound) */

/* Built-in defaults, used when no rule sets a field. */
#define SL_POLICY_DEFAULT_TAG 5.0         /* spam threshold: tag and classify as spam */
#define SL_POLICY_DEFAULT_QUARANTINE 10.0 /* quarantine at this score */
/* drop: never unless a rule sets drop_score */

typedef enum { SL_TLS_NONE, SL_TLS_MAY, SL_TLS_ENCRYPT, SL_TLS_VERIFY } sl_tls_policy_t;

/* The effective policy of one recipient. */
typedef struct {
    double tag_score;                      /* >= : classify spam, action tag */
    double quarantine_score;               /* >= : action quarantine */
    double drop_score;                     /* >= : action drop; has_drop_score false = never */
    bool has_drop_score;                   /* a rule set drop_score */
    char virus[SL_POLICY_ACTION_MAX];      /* action for virus: deliver, tag, quarantine, drop */
    char banned[SL_POLICY_ACTION_MAX];     /* action for a banned file */
    char bad_header[SL_POLICY_ACTION_MAX]; /* action for a bad header */
    char oversized[SL_POLICY_ACTION_MAX];  /* action for an oversized message */
    char subject_tag[SL_POLICY_TAG_MAX];   /* prefix put on the subject when tagging; "" = none */
    bool sender_allowed;                   /* the sender is on an allow list of a target */
    bool sender_blocked;                   /* the sender is on a block list (wins over allow) */
    bool domain_known;                     /* the recipient's domain is in the store */
    char route[SL_POLICY_ROUTE_MAX];       /* the domain's route, "" = delivery's default */
    sl_tls_policy_t tls;                   /* the domain's TLS policy (default may) */
    char matched[SL_POLICY_TARGET_MAX];    /* most specific target with a rule, "*" or "" */
} sl_policy_t;

/* Policy fields a rule may set, by their CLI/YAML names. */
extern const char *const sl_policy_fields[];

/* sl_policy_migrate - creates or updates the policy tables; 0 or -1 (sl_store_error). */
int sl_policy_migrate(sl_store_t *store);

/* sl_policy_lookup - the effective policy of recipient RCPT for mail from
 * SENDER ("" for the null sender). SL_OK-style: 0, or -1 when the store
 * failed (a temporary failure: the message must be held, not guessed at). */
int sl_policy_lookup(sl_store_t *store, const char *rcpt, const char *sender, sl_policy_t *out);

/* sl_policy_route_parse - "smtp:[host]:port", "smtp:host:port", "smtp:host"
 * (port 25) or "mx"; fills HOST (empty for mx) and *PORT. 0, or -1 with *why. */
int sl_policy_route_parse(const char *route, char *host, size_t size, int *port, const char **why);
/* sl_policy_tls_parse - "none", "may", "encrypt", "verify"; -1 when unknown. */
int sl_policy_tls_parse(const char *name);
const char *sl_policy_tls_name(sl_tls_policy_t tls);
/* sl_policy_is_action - deliver, tag, quarantine or drop. */
bool sl_policy_is_action(const char *name);

/* Management (the CLI and the YAML seed). Names are lowercased. Each returns
 * 0, or -1 with *why (a static text, or the store's error). */
int sl_policy_domain_set(sl_store_t *store, const char *name, const char *route, const char *tls,
                         const char **why);
int sl_policy_domain_remove(sl_store_t *store, const char *name, const char **why);
int sl_policy_mailbox_set(sl_store_t *store, const char *address, const char **why);
int sl_policy_mailbox_remove(sl_store_t *store, const char *address, const char **why);
/* sl_policy_rule_set - sets field FIELD (one of sl_policy_fields) of TARGET's
 * rule to VALUE, or unsets it when VALUE is NULL. */
int sl_policy_rule_set(sl_store_t *store, const char *target, const char *field, const char *value,
                       const char **why);
/* sl_policy_rule_remove - the whole rule and the sender lists of TARGET. */
int sl_policy_rule_remove(sl_store_t *store, const char *target, const char **why);
/* sl_policy_sender_set - KIND "allow" or "block": adds (ADD) or removes
 * SENDER (an address or a domain) on TARGET's list. */
int sl_policy_sender_set(sl_store_t *store, const char *target, const char *kind,
                         const char *sender, bool add, const char **why);

/* sl_policy_seed - applies the `policy:` section of sluice.yaml (defaults,
 * domains with their mailboxes and rules, allow/block lists) to the store:
 * entries the file names are set to what it says; others are left alone.
 * Mistakes are recorded in CFG with file:line; returns 0, or -1 when the
 * section has errors or the store failed (ERR says which). */
int sl_policy_seed(sl_store_t *store, sl_cfg_t *cfg, const sl_cfg_node_t *section, char *err,
                   size_t errlen);

/* sl_policy_store_url - the store URL for the config: policy.store, else
 * "sqlite:DATA_DIR/sluice.db". Writes into BUF; returns BUF. */
const char *sl_policy_store_url(sl_cfg_t *cfg, const char *data_dir, char *buf, size_t size);

/* sl_policy_target_kind - "default" for "*", "mailbox" with an @, else "domain". */
const char *sl_policy_target_kind(const char *target);

#endif
