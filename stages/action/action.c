/*
 * stages/action/action.c - the last stage: per recipient policy -> deliver, tag, quarantine, drop.
 *
 * Reads every verdict and the score, classifies the message, looks up each
 * recipient's policy (mailbox, else domain, else defaults), splits the
 * recipients into groups that receive the same bytes, and makes each group
 * durable where it goes BEFORE answering: smtpd releases the spool entry
 * when the broker reports the result, so the answer means "handed over".
 * Run it with on_error: tempfail so that a failed handoff keeps the spool.
 * Writes the message log record per recipient and the verdict trail.
 * Options (options: map of its stages: entry, or after the command):
 *   store URL        policy/log store (default policy.store, else sqlite:DATA_DIR/sluice.db)
 *   queue_dir DIR    delivery queue (default delivery.queue_dir, else DATA_DIR/delivery)
 *   quarantine_dir DIR  quarantine store (default DATA_DIR/quarantine)
 * Tests: tests/e2e/test_delivery.py, tests/unit/test_action_msg.c
 */
#include "action_msg.h"
#include "sl_dqueue.h"
#include "sl_msglog.h"
#include "sl_policy.h"
#include "sl_quarstore.h"
#include "sl_stage.h"

#include <assert.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_TEXT_MAX 1024 /* subject, message-id, virus names kept for the log */

typedef struct {
    char store_url[PATH_MAX + 16]; /* policy and message log */
    char queue_dir[PATH_MAX];      /* sluice-delivery's queue */
    char quar_dir[PATH_MAX];       /* quarantine files */
    pthread_mutex_t lock;          /* one store handle shared by the scan threads */
    sl_store_t *store;             /* opened at init */
} action_t;

/* Classifications from the worst down (the priority of the conventions). */
static const char *const s_classes[] = {"virus", "banned", "bad-header", "oversized",
                                        "spam",  "clean",  NULL};
static const char *const s_severity[] = {"deliver", "tag", "quarantine", "drop", NULL};

static int
s_rank(const char *const *list, const char *name)
{
    for (int i = 0; name && list[i]; i++)
        if (strcmp(list[i], name) == 0)
            return i;
    return -1;
}

/* What the verdicts say about the message as a whole. */
typedef struct {
    double score;            /* envelope score, else the sum of all symbols */
    const char *hint;        /* worst class_hint (or envelope classification), NULL = none */
    char dmarc[16];          /* dmarc_action: reject, quarantine, "" */
    char virus[S_TEXT_MAX];  /* virus names */
    char banned[S_TEXT_MAX]; /* banned file names */
    char *symbols;           /* "NAME(1.50) ..." (owned) */
    action_hdr_t auth;       /* Authentication-Results lines */
} s_facts_t;

static void
s_append_list(char *buf, size_t size, const char *item)
{
    size_t len = strlen(buf);
    snprintf(buf + len, size - len, "%s%s", len ? " " : "", item);
}

static void
s_gather(const sl_env_t *env, const char *eol, s_facts_t *f)
{
    double sum = 0;
    size_t cap = 256, len = 0;
    f->symbols = sl_xmalloc(cap);
    f->symbols[0] = '\0';
    const char *cls = sl_env_str(env, SL_ENV_CLASSIFICATION);
    if (cls[0] && s_rank(s_classes, cls) >= 0 && strcmp(cls, "clean") != 0)
        f->hint = s_classes[s_rank(s_classes, cls)];
    for (size_t v = 0; v < sl_env_verdict_count(env); v++) {
        const sl_verdict_t *vd = sl_env_verdict_at(env, v);
        for (size_t s = 0; s < sl_verdict_symbol_count(vd); s++) {
            const char *name, *info;
            double score;
            if (sl_verdict_symbol_at(vd, s, &name, &score, &info) != 0)
                continue;
            sum += score;
            char item[SL_ENV_NAME_MAX + 32];
            int n = snprintf(item, sizeof item, "%s%s(%.2f)", len ? " " : "", name, score);
            if (n > 0 && (size_t)n < sizeof item) {
                if (len + (size_t)n + 1 > cap) {
                    cap = (len + (size_t)n + 1) * 2;
                    f->symbols = sl_xrealloc(f->symbols, cap);
                }
                memcpy(f->symbols + len, item, (size_t)n + 1);
                len += (size_t)n;
            }
        }
        char *hint = sl_verdict_field_get_str(vd, "class_hint");
        int r = s_rank(s_classes, hint);
        if (r >= 0 && r < 4 && (f->hint == NULL || r < s_rank(s_classes, f->hint)))
            f->hint = s_classes[r];
        free(hint);
        char *ar = sl_verdict_field_get_str(vd, "auth_results");
        if (ar && ar[0])
            action_hdr_add(&f->auth, "Authentication-Results", ar, eol);
        free(ar);
        char *dmarc = sl_verdict_field_get_str(vd, "dmarc_action");
        if (dmarc && (strcmp(dmarc, "reject") == 0 || strcmp(dmarc, "quarantine") == 0))
            sl_strlcpy(f->dmarc, dmarc, sizeof f->dmarc);
        free(dmarc);
        static const char *const names[] = {"virus", "viruses"};
        for (size_t k = 0; k < 2; k++) {
            char *vn = sl_verdict_field_get_str(vd, names[k]);
            if (vn && vn[0])
                s_append_list(f->virus, sizeof f->virus, vn);
            free(vn);
        }
        char *bn = sl_verdict_field_get_str(vd, "banned");
        if (bn && bn[0])
            s_append_list(f->banned, sizeof f->banned, bn);
        free(bn);
    }
    f->score = sl_env_has_score(env) ? sl_env_score(env) : sum;
}

/* s_decide - classification and action of one recipient under policy P. */
static void
s_decide(const s_facts_t *f, const sl_policy_t *p, const char **cls, const char **action)
{
    *cls = f->hint ? f->hint : f->score >= p->tag_score ? "spam" : "clean";
    if (p->sender_blocked && strcmp(*cls, "clean") == 0)
        *cls = "spam";
    const char *a = "deliver";
    if (strcmp(*cls, "virus") == 0)
        a = p->virus;
    else if (strcmp(*cls, "banned") == 0)
        a = p->banned;
    else if (strcmp(*cls, "bad-header") == 0)
        a = p->bad_header;
    else if (strcmp(*cls, "oversized") == 0)
        a = p->oversized;
    else if (strcmp(*cls, "spam") == 0)
        a = p->has_drop_score && f->score >= p->drop_score ? "drop"
            : f->score >= p->quarantine_score              ? "quarantine"
                                                           : "tag";
    bool severe = strcmp(*cls, "virus") == 0 || strcmp(*cls, "banned") == 0;
    if (!severe && p->sender_allowed)
        a = "deliver"; /* an allow list overrides the score, never a virus */
    else if (!severe && p->sender_blocked && s_rank(s_severity, a) < 2)
        a = "quarantine";
    if (f->dmarc[0] && !p->sender_allowed && s_rank(s_severity, a) < 2)
        a = "quarantine"; /* after the queue, a DMARC reject can only be held */
    *action = s_severity[s_rank(s_severity, a) < 0 ? 0 : s_rank(s_severity, a)];
}

/* One set of recipients that receive the same bytes. */
typedef struct {
    const char *action;            /* deliver or tag */
    char tag[SL_POLICY_TAG_MAX];   /* subject tag ("" = none) */
    const char **rcpts;            /* borrowed from the envelope */
    size_t n;                      /* recipients */
    char name[SL_DQUEUE_NAME_MAX]; /* queue file */
} s_group_t;

typedef struct {
    const char *cls;          /* classification */
    const char *action;       /* action */
    bool done_before;         /* the log already has it: this is a second run */
    char dest[PATH_MAX + 16]; /* where it went */
    sl_policy_t policy;       /* effective policy */
} s_rcpt_t;

/* s_group_of - the group for ACTION and TAG, created on first use. */
static s_group_t *
s_group_of(s_group_t *groups, size_t *ng, const char *action, const char *tag, size_t max)
{
    for (size_t g = 0; g < *ng; g++)
        if (strcmp(groups[g].action, action) == 0 && strcmp(groups[g].tag, tag) == 0)
            return &groups[g];
    assert(*ng < max);
    s_group_t *gr = &groups[(*ng)++];
    memset(gr, 0, sizeof *gr);
    gr->action = action;
    sl_strlcpy(gr->tag, tag, sizeof gr->tag);
    gr->rcpts = sl_xcalloc(max, sizeof *gr->rcpts);
    return gr;
}

/* s_write_group - the bytes of group G into the delivery queue (not yet dir-synced). */
static int
s_write_group(action_t *ac, const sl_env_t *env, sl_slice_t body, const s_facts_t *f, s_group_t *g,
              const char *eol, const char **why)
{
    action_hdr_t added = {0};
    if (f->auth.len) { /* Authentication-Results go on every delivered copy */
        added.text = sl_xstrndup(f->auth.text, f->auth.len);
        added.len = f->auth.len;
        added.cap = f->auth.len + 1;
    }
    char tag_sp[SL_POLICY_TAG_MAX + 2] = "";
    if (strcmp(g->action, "tag") == 0) {
        char score[32];
        snprintf(score, sizeof score, "%.2f", f->score);
        action_hdr_add(&added, "X-Sluice-Score", score, eol);
        size_t size = strlen(f->symbols) + 128;
        char *status = sl_xmalloc(size);
        snprintf(status, size, "%s score=%.2f symbols: %s", f->hint ? f->hint : "spam", f->score,
                 f->symbols[0] ? f->symbols : "none");
        action_hdr_add_folded(&added, "X-Sluice-Status", status, eol);
        free(status);
        if (g->tag[0]) {
            snprintf(tag_sp, sizeof tag_sp, "%s ", g->tag);
            if (action_subject_at(body) < 0) {
                action_hdr_add(&added, "Subject", g->tag, eol);
                tag_sp[0] = '\0';
            }
        }
    }
    sl_slice_t parts[4];
    size_t n = action_compose(&added, body, tag_sp, parts);
    sl_dqueue_name(sl_env_id(env), g->rcpts, g->n, tag_sp, g->name, sizeof g->name);
    sl_dqueue_hdr_t hdr = {.created_ms = sl_now_ms()};
    sl_strlcpy(hdr.id, sl_env_id(env), sizeof hdr.id);
    sl_strlcpy(hdr.from, sl_env_mail_from(env), sizeof hdr.from);
    sl_strlcpy(hdr.kind, "mail", sizeof hdr.kind);
    hdr.rcpts = (char **)g->rcpts;
    hdr.rcpt_count = g->n;
    int rc = sl_dqueue_write(ac->queue_dir, g->name, &hdr, parts, n, why);
    action_hdr_free(&added);
    return rc;
}

/* s_trail_summary - one line per verdict: stage, versions, time, worker,
 * attempts, error and symbols (caller frees). */
static char *
s_trail_summary(const sl_env_t *env)
{
    size_t cap = 1024, len = 0;
    char *out = sl_xmalloc(cap);
    out[0] = '\0';
    for (size_t v = 0; v < sl_env_verdict_count(env); v++) {
        const sl_verdict_t *vd = sl_env_verdict_at(env, v);
        char line[2048];
        int n = snprintf(
            line, sizeof line, "%s version=%s rules=%s ms=%.2f worker=%s attempts=%u%s%s",
            sl_verdict_stage(vd), sl_verdict_version(vd)[0] ? sl_verdict_version(vd) : "-",
            sl_verdict_rules_version(vd)[0] ? sl_verdict_rules_version(vd) : "-", sl_verdict_ms(vd),
            sl_verdict_worker(vd)[0] ? sl_verdict_worker(vd) : "-", sl_verdict_attempts(vd),
            sl_verdict_error(vd)[0] ? " error=" : "", sl_verdict_error(vd));
        for (size_t s = 0; n > 0 && (size_t)n < sizeof line && s < sl_verdict_symbol_count(vd);
             s++) {
            const char *name, *info;
            double score;
            if (sl_verdict_symbol_at(vd, s, &name, &score, &info) == 0)
                n += snprintf(line + n, sizeof line - (size_t)n, " %s(%.2f)", name, score);
        }
        if (n < 0 || (size_t)n >= sizeof line)
            n = (int)strlen(line); /* cut: one verdict's line is for people, not parsers */
        if (len + (size_t)n + 2 > cap) {
            cap = (len + (size_t)n + 2) * 2;
            out = sl_xrealloc(out, cap);
        }
        memcpy(out + len, line, (size_t)n);
        len += (size_t)n;
        out[len++] = '\n';
        out[len] = '\0';
    }
    return out;
}

/* s_log_all - message log rows, quarantine index and the verdict trail, one transaction. */
static int
s_log_all(action_t *ac, const sl_env_t *env, sl_slice_t body, const s_facts_t *f,
          const s_rcpt_t *rs, const char *quar_path)
{
    char subject[S_TEXT_MAX], msgid[S_TEXT_MAX];
    action_header_value(body, "Subject", subject, sizeof subject);
    action_header_value(body, "Message-ID", msgid, sizeof msgid);
    uint64_t now = sl_now_ms();
    if (sl_store_begin(ac->store) != 0)
        return -1;
    for (size_t i = 0; i < sl_env_rcpt_count(env); i++) {
        if (rs[i].done_before)
            continue;
        sl_msglog_rec_t rec = {
            .id = sl_env_id(env),
            .rcpt = sl_env_rcpt(env, i),
            .time_ms = now,
            .size = body.len,
            .sender = sl_env_mail_from(env),
            .relay_ip = sl_env_str(env, SL_ENV_CLIENT_IP),
            .message_id = msgid,
            .subject = subject,
            .score = f->score,
            .classification = rs[i].cls,
            .action = rs[i].action,
            .destination = rs[i].dest,
            .virus = f->virus,
            .banned = f->banned,
            .symbols = f->symbols,
        };
        if (sl_msglog_put(ac->store, &rec) != 0)
            goto fail;
        if (strcmp(rs[i].action, "quarantine") == 0) {
            sl_quarstore_rec_t q = {
                .id = rec.id,
                .rcpt = rec.rcpt,
                .time_ms = now,
                .sender = rec.sender,
                .subject = subject,
                .classification = rs[i].cls,
                .score = f->score,
                .reason = f->virus[0]    ? f->virus
                          : f->banned[0] ? f->banned
                                         : f->symbols,
                .path = quar_path,
            };
            if (sl_quarstore_index(ac->store, &q) != 0)
                goto fail;
        }
    }
    char *json = sl_env_to_json(env), *summary = s_trail_summary(env);
    int rc = sl_msglog_put_trail(ac->store, sl_env_id(env), now, json, summary);
    free(summary);
    free(json);
    if (rc != 0 || sl_store_commit(ac->store) != 0)
        goto fail;
    return 0;
fail:
    sl_log_error(sl_env_id(env), "message log failed error=\"%s\"", sl_store_error(ac->store));
    sl_store_rollback(ac->store);
    return -1;
}

/* s_is_dry_run - `sluice replay --dry-run` put a verdict "replay" with
 * dry_run=true in the envelope: decide, but hand over and log nothing. */
static bool
s_is_dry_run(const sl_env_t *env)
{
    const sl_verdict_t *v = sl_env_verdict(env, "replay");
    if (v == NULL)
        return false;
    sl_slice_t raw = sl_verdict_field(v, "dry_run");
    return raw.len == 1 && (unsigned char) raw.ptr[0] == 0xc3; /* msgpack true */
}

/* s_handoff - decide per recipient, write every copy durably, log. Under ac->lock.
 * With DRY (a replay dry run) only the decisions are made. */
static int
s_handoff(action_t *ac, const sl_msg_t *msg, const s_facts_t *f, const char *eol, s_rcpt_t *rs,
          bool dry)
{
    const sl_env_t *env = sl_msg_env(msg);
    sl_slice_t body = sl_msg_body(msg);
    size_t nr = sl_env_rcpt_count(env), ng = 0;
    s_group_t *groups = sl_xcalloc(nr ? nr : 1, sizeof *groups);
    bool quarantine = false;
    const char *why = NULL;
    int rc = -1;
    for (size_t i = 0; i < nr; i++) {
        const char *rcpt = sl_env_rcpt(env, i);
        char before[SL_POLICY_ACTION_MAX];
        int seen = sl_msglog_action(ac->store, sl_env_id(env), rcpt, before, sizeof before);
        if (seen < 0 ||
            sl_policy_lookup(ac->store, rcpt, sl_env_mail_from(env), &rs[i].policy) != 0) {
            why = sl_store_error(ac->store);
            goto out;
        }
        s_decide(f, &rs[i].policy, &rs[i].cls, &rs[i].action);
        if (!dry && seen == 1 && sl_policy_is_action(before)) {
            /* Handed over by an earlier run (dedup by queue id and recipient). */
            rs[i].action = s_severity[s_rank(s_severity, before)];
            rs[i].done_before = true;
            continue;
        }
        if (strcmp(rs[i].action, "quarantine") == 0)
            quarantine = true;
        if (strcmp(rs[i].action, "deliver") == 0 || strcmp(rs[i].action, "tag") == 0) {
            s_group_t *g =
                s_group_of(groups, &ng, rs[i].action,
                           strcmp(rs[i].action, "tag") == 0 ? rs[i].policy.subject_tag : "", nr);
            g->rcpts[g->n++] = rcpt;
        }
    }
    if (dry) {
        rc = 0;
        goto out;
    }
    for (size_t g = 0; g < ng; g++)
        if (s_write_group(ac, env, body, f, &groups[g], eol, &why) != 0)
            goto out;
    if (ng > 0 && sl_dqueue_sync(ac->queue_dir, &why) != 0)
        goto out;
    char quar_path[PATH_MAX] = "";
    if (quarantine && sl_quarstore_write(ac->quar_dir, sl_env_id(env), body, quar_path,
                                         sizeof quar_path, &why) != 0)
        goto out;
    for (size_t i = 0; i < nr; i++) {
        const char *a = rs[i].action;
        if (rs[i].done_before)
            continue;
        if (strcmp(a, "quarantine") == 0)
            snprintf(rs[i].dest, sizeof rs[i].dest, "quarantine:%s", quar_path);
        for (size_t g = 0; g < ng; g++)
            for (size_t k = 0; k < groups[g].n; k++)
                if (groups[g].rcpts[k] == sl_env_rcpt(env, i))
                    snprintf(rs[i].dest, sizeof rs[i].dest, "queue:%s", groups[g].name);
    }
    if (s_log_all(ac, env, body, f, rs, quar_path) != 0) {
        why = "message log write failed";
        goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        sl_log_error(sl_env_id(env), "handoff failed error=\"%s\"", why ? why : "?");
    for (size_t g = 0; g < ng; g++)
        free(groups[g].rcpts);
    free(groups);
    return rc;
}

static int
s_scan(const sl_msg_t *msg, sl_verdict_t *verdict, void *ctx)
{
    action_t *ac = ctx;
    const sl_env_t *env = sl_msg_env(msg);
    sl_slice_t body = sl_msg_body(msg);
    size_t nr = sl_env_rcpt_count(env);
    const char *eol = action_eol(body);
    s_facts_t f = {0};
    s_gather(env, eol, &f);
    s_rcpt_t *rs = sl_xcalloc(nr ? nr : 1, sizeof *rs);
    bool dry = s_is_dry_run(env);
    pthread_mutex_lock(&ac->lock);
    int rc = s_handoff(ac, msg, &f, eol, rs, dry);
    pthread_mutex_unlock(&ac->lock);
    if (dry)
        sl_verdict_field_bool(verdict, "dry_run", true);
    if (rc == 0) {
        const char *worst = "clean";
        for (size_t i = 0; i < nr; i++) {
            if (s_rank(s_classes, rs[i].cls) < s_rank(s_classes, worst))
                worst = rs[i].cls;
            if (sl_verdict_set_action(verdict, i, rs[i].action) != 0)
                rc = -1;
            sl_log_info(
                sl_env_id(env), "%s rcpt=%s from=%s class=%s score=%.2f action=%s dest=%s%s",
                dry ? "dry-run action" : "action", sl_env_rcpt(env, i), sl_env_mail_from(env), rs[i].cls, f.score, rs[i].action,
                rs[i].dest[0] ? rs[i].dest : "-", rs[i].done_before ? " dedup=yes" : "");
        }
        sl_verdict_set_classification(verdict, worst);
        sl_verdict_set_score(verdict, f.score);
        if (f.symbols[0])
            sl_verdict_field_str(verdict, "symbols", f.symbols);
    }
    free(rs);
    free(f.symbols);
    action_hdr_free(&f.auth);
    return rc;
}

/* s_opt - option NAME: from the command line (--name VALUE), else the
 * options: map, else DEF. */
static const char *
s_opt(sl_cfg_t *cfg, const sl_cfg_node_t *section, int argc, char **argv, const char *flag,
      const char *key, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            return argv[i + 1];
    if (cfg && section)
        return sl_cfg_get_str(cfg, section, key, def);
    return def;
}

static int
s_init(void **ctx, sl_cfg_t *cfg, const sl_cfg_node_t *section, int argc, char **argv)
{
    static const char *const keys[] = {"store", "queue_dir", "quarantine_dir", NULL};
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc ||
            (strcmp(argv[i], "--store") != 0 && strcmp(argv[i], "--queue-dir") != 0 &&
             strcmp(argv[i], "--quarantine-dir") != 0)) {
            sl_log_error(NULL,
                         "unknown option %s (known: --store, --queue-dir, "
                         "--quarantine-dir)",
                         argv[i]);
            return -1;
        }
    }
    if (cfg && section)
        sl_cfg_check_keys(cfg, section, keys);
    const sl_cfg_node_t *root = cfg ? sl_cfg_root(cfg) : NULL;
    const char *data_dir =
        cfg ? sl_cfg_get_str(cfg, root, "data_dir", "/var/lib/sluice") : "/var/lib/sluice";
    action_t *ac = sl_xcalloc(1, sizeof *ac);
    char def[PATH_MAX + 16];
    sl_policy_store_url(cfg, data_dir, def, sizeof def);
    /* Truncation is failure: a cut path would put mail somewhere else. */
    bool cut = sl_strlcpy(ac->store_url, s_opt(cfg, section, argc, argv, "--store", "store", def),
                          sizeof ac->store_url) >= sizeof ac->store_url;
    char qdir[PATH_MAX];
    cut |= sl_dqueue_dir(cfg, data_dir, qdir, sizeof qdir) != 0;
    cut |= sl_strlcpy(ac->queue_dir,
                      s_opt(cfg, section, argc, argv, "--queue-dir", "queue_dir", qdir),
                      sizeof ac->queue_dir) >= sizeof ac->queue_dir;
    snprintf(def, sizeof def, "%s/quarantine", data_dir);
    cut |= sl_strlcpy(ac->quar_dir,
                      s_opt(cfg, section, argc, argv, "--quarantine-dir", "quarantine_dir", def),
                      sizeof ac->quar_dir) >= sizeof ac->quar_dir;
    char err[8192];
    const char *why = NULL;
    if (cut) {
        sl_log_error(NULL, "action: store, queue_dir or quarantine_dir is too long");
        goto fail;
    }
    if (cfg && sl_cfg_error_count(cfg) > 0) {
        sl_log_error(NULL, "config: %s", sl_cfg_errors(cfg));
        goto fail;
    }
    if (sl_dqueue_init(ac->queue_dir, &why) != 0) {
        sl_log_error(NULL, "queue_dir=%s: %s", ac->queue_dir, why);
        goto fail;
    }
    ac->store = sl_store_open(ac->store_url, err, sizeof err);
    if (ac->store == NULL) {
        sl_log_error(NULL, "store: %s", err);
        goto fail;
    }
    if (sl_policy_migrate(ac->store) != 0 || sl_msglog_migrate(ac->store) != 0 ||
        sl_quarstore_migrate(ac->store) != 0) {
        sl_log_error(NULL, "store migration failed: %s", sl_store_error(ac->store));
        goto fail;
    }
    if (root && sl_policy_seed(ac->store, cfg, sl_cfg_get(root, "policy"), err, sizeof err) != 0) {
        sl_log_error(NULL, "policy: %s", err);
        goto fail;
    }
    pthread_mutex_init(&ac->lock, NULL);
    sl_log_info(NULL, "action ready store=%s queue_dir=%s quarantine_dir=%s", ac->store_url,
                ac->queue_dir, ac->quar_dir);
    *ctx = ac;
    return 0;
fail:
    sl_store_close(&ac->store);
    free(ac);
    return -1;
}

static void
s_fini(void *ctx)
{
    action_t *ac = ctx;
    pthread_mutex_destroy(&ac->lock);
    sl_store_close(&ac->store);
    free(ac);
}

int
main(int argc, char **argv)
{
    static const sl_stage_def_t def = {
        .name = "action",
        .version = "action/1.0",
        .needs = SL_NEED_BODY,
        .scan = s_scan,
        .init = s_init,
        .fini = s_fini,
    };
    return sl_stage_main(argc, argv, &def);
}
