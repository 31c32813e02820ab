/*
 * supervisor/sluice_replay.c - `sluice replay`: spooled or archived mail through the pipeline
 * again.
 *
 * Reads entries from smtpd's spool (not yet finished) and its archive
 * (finished, with their final envelope: spool.archive), selected by queue id
 * or by received time, and submits each to the broker's content phase of a
 * graph as a fresh envelope (connection and envelope fields only, no old
 * verdicts). With --dry-run the envelope carries a verdict "replay" with
 * dry_run=true that the action stage honours by acting on nothing; the output
 * shows, per message, the old and new classification, score and symbols and
 * what changed. Spool files are parsed with smtpd_spool (their lengths are
 * checked, the envelope goes through sl_env_decode).
 * Tests: tests/e2e/test_smtpd_replay.py
 */
#include "sluice_replay.h"

#include "sl_client.h"
#include "sl_conf.h"
#include "sl_log.h"
#include "smtpd_conf.h"
#include "smtpd_spool.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_WINDOW 64           /* requests in flight at once */
#define S_MESSAGES_MAX 100000 /* one replay run */

typedef struct {
    char id[SL_ENV_ID_MAX + 1]; /* queue id */
    const char *from;           /* "spool" or "archive" */
    sl_env_t *old;              /* envelope as stored */
    void *image;                /* file image; body points into it */
    const void *body;
    size_t body_len;
    uint64_t req; /* request in flight, 0 when not sent or done */
    bool done;    /* a result came back */
} s_item_t;

typedef struct {
    const char *config, *id, *since, *graph;
    bool dry_run;
    uint64_t since_ms; /* received_at lower bound */
    smtpd_conf_t smtpd;
    s_item_t *items;
    size_t count, cap;
    const char *subdir; /* for the collector callback */
    int failures;
} s_replay_t;

static int
s_usage(void)
{
    fprintf(stderr,
            "usage: sluice replay -c FILE [--id ID | --since TIME] [--graph NAME] [--dry-run]\n"
            "  TIME: 2026-11-23, 2026-11-23T08:00:00Z, epoch seconds, or an age: 90m, 2h, 3d\n");
    return 2;
}

/* s_parse_since - absolute time or an age ("2h" = two hours ago); ms since the epoch. */
static int
s_parse_since(const char *text, uint64_t *out)
{
    size_t n = strlen(text);
    if (n == 0 || n > 64)
        return -1;
    size_t digits = 0;
    while (digits < n && text[digits] >= '0' && text[digits] <= '9')
        digits++;
    if (digits > 0 && digits <= 12) {
        uint64_t v = strtoull(text, NULL, 10);
        uint64_t now = sl_now_ms();
        uint64_t unit = 0;
        if (digits == n)
            unit = 0; /* epoch seconds */
        else if (digits + 1 == n && text[digits] == 's')
            unit = 1000;
        else if (digits + 1 == n && text[digits] == 'm')
            unit = 60000;
        else if (digits + 1 == n && text[digits] == 'h')
            unit = 3600000;
        else if (digits + 1 == n && text[digits] == 'd')
            unit = 86400000;
        else
            goto absolute;
        if (unit == 0) {
            *out = v * 1000;
            return 0;
        }
        *out = v * unit > now ? 0 : now - v * unit;
        return 0;
    }
absolute:;
    static const char *const formats[] = {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S",
                                          "%Y-%m-%dT%H:%MZ",    "%Y-%m-%dT%H:%M",
                                          "%Y-%m-%d",           NULL};
    for (size_t i = 0; formats[i]; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(text, formats[i], &tm);
        if (end != NULL && *end == '\0') {
            time_t t = timegm(&tm);
            if (t < 0)
                return -1;
            *out = (uint64_t)t * 1000;
            return 0;
        }
    }
    return -1;
}

static void
s_collect(const char *id, void *ctx)
{
    s_replay_t *r = ctx;
    if (r->id != NULL && strcmp(r->id, id) != 0)
        return;
    for (size_t i = 0; i < r->count; i++)
        if (strcmp(r->items[i].id, id) == 0)
            return; /* in the spool and the archive at once: the spool copy wins */
    if (r->count >= S_MESSAGES_MAX)
        return;
    char path[4096];
    void *image = NULL;
    size_t len, env_len, body_len;
    const void *env_buf, *body;
    const char *why;
    sl_env_t *env = NULL;
    if (smtpd_spool_path(path, sizeof path, r->smtpd.spool_dir, r->subdir, id) != 0 ||
        smtpd_spool_load(path, &image, &len, &why) != 0 ||
        smtpd_spool_parse(image, len, &env_buf, &env_len, &body, &body_len, &why) != 0 ||
        sl_env_decode(env_buf, env_len, &env, &why) != 0) {
        fprintf(stderr, "sluice replay: %s/%s: skipped (%s)\n", r->subdir ? r->subdir : "spool", id,
                image ? "unreadable entry" : "cannot read");
        free(image);
        r->failures++;
        return;
    }
    if (r->since != NULL && sl_env_uint(env, SL_ENV_RECEIVED_AT) < r->since_ms) {
        sl_env_destroy(&env);
        free(image);
        return;
    }
    if (r->count == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->items = sl_xrealloc(r->items, r->cap * sizeof *r->items);
    }
    s_item_t *it = &r->items[r->count++];
    memset(it, 0, sizeof *it);
    sl_strlcpy(it->id, id, sizeof it->id);
    it->from = r->subdir ? "archive" : "spool";
    it->old = env;
    it->image = image;
    it->body = body;
    it->body_len = body_len;
}

/* s_fresh - the envelope to submit: connection and envelope fields only. */
static sl_env_t *
s_fresh(const sl_env_t *old, bool dry_run)
{
    sl_env_t *env = sl_env_new(sl_env_id(old));
    const char *why;
    for (int f = 0; f < SL_ENV_STR_COUNT; f++) {
        const char *v = sl_env_str(old, (sl_env_str_t)f);
        if (f != SL_ENV_CLASSIFICATION && v[0] != '\0')
            sl_env_set_str(env, (sl_env_str_t)f, v, &why);
    }
    for (int f = 0; f < SL_ENV_UINT_COUNT; f++)
        sl_env_set_uint(env, (sl_env_uint_t)f, sl_env_uint(old, (sl_env_uint_t)f));
    sl_env_set_direction(env, sl_env_direction(old));
    for (size_t i = 0; i < sl_env_rcpt_count(old); i++)
        sl_env_add_rcpt(env, sl_env_rcpt(old, i), &why);
    if (dry_run) {
        sl_verdict_t *v = sl_verdict_new("replay");
        sl_verdict_field_bool(v, "dry_run", true);
        sl_env_set_verdict(env, &v, &why);
    }
    return env;
}

/* s_symbols_diff - writes to OUT the symbols of A missing from B (MARK '-' or
 * '+'), and with '+' those whose score changed and stage errors. */
static void
s_symbols_diff(FILE *out, const sl_env_t *a, const sl_env_t *b, char mark)
{
    for (size_t i = 0; a && i < sl_env_verdict_count(a); i++) {
        const sl_verdict_t *v = sl_env_verdict_at(a, i);
        const char *stage = sl_verdict_stage(v);
        if (strcmp(stage, "replay") == 0)
            continue;
        const sl_verdict_t *w = b ? sl_env_verdict(b, stage) : NULL;
        for (size_t k = 0; k < sl_verdict_symbol_count(v); k++) {
            const char *name, *info;
            double score;
            if (sl_verdict_symbol_at(v, k, &name, &score, &info) != 0)
                continue;
            bool found = false;
            double other = 0;
            for (size_t m = 0; w && m < sl_verdict_symbol_count(w); m++) {
                const char *n2, *i2;
                double s2;
                if (sl_verdict_symbol_at(w, m, &n2, &s2, &i2) == 0 && strcmp(n2, name) == 0) {
                    found = true;
                    other = s2;
                }
            }
            if (!found)
                fprintf(out, "  %c %s.%s (%.2f)\n", mark, stage, name, score);
            else if (mark == '+' && other != score)
                fprintf(out, "  ~ %s.%s %.2f -> %.2f\n", stage, name, other, score);
        }
        const char *err = sl_verdict_error(v);
        if (mark == '+' && err[0] != '\0')
            fprintf(out, "  ! %s error: %s\n", stage, err);
    }
}

static void
s_show(const s_item_t *it, const sl_env_t *now)
{
    const sl_env_t *old = it->old;
    bool processed = strcmp(it->from, "archive") == 0;
    char old_score[32] = "-", new_score[32] = "-";
    if (processed && sl_env_has_score(old))
        snprintf(old_score, sizeof old_score, "%.2f", sl_env_score(old));
    if (sl_env_has_score(now))
        snprintf(new_score, sizeof new_score, "%.2f", sl_env_score(now));
    const char *oc = processed ? sl_env_str(old, SL_ENV_CLASSIFICATION) : "";
    const char *nc = sl_env_str(now, SL_ENV_CLASSIFICATION);
    char *diff = NULL;
    size_t diff_len = 0;
    FILE *out = open_memstream(&diff, &diff_len);
    if (out == NULL)
        sl_panic("open_memstream failed");
    for (size_t i = 0; i < sl_env_rcpt_count(now); i++) {
        const char *oa = processed && i < sl_env_rcpt_count(old) ? sl_env_action(old, i) : "";
        const char *na = sl_env_action(now, i);
        if (strcmp(oa, na) != 0)
            fprintf(out, "  rcpt %s action %s -> %s\n", sl_env_rcpt(now, i), oa[0] ? oa : "none",
                    na[0] ? na : "none");
    }
    s_symbols_diff(out, now, processed ? old : NULL, '+');
    if (processed)
        s_symbols_diff(out, old, now, '-');
    fclose(out);
    bool same = strcmp(oc, nc) == 0 && strcmp(old_score, new_score) == 0 && diff_len == 0;
    printf("%s from=%s old: class=%s score=%s new: class=%s score=%s %s\n%s", it->id, it->from,
           processed ? (oc[0] ? oc : "none") : "(not processed yet)", old_score,
           nc[0] ? nc : "none", new_score, same ? "unchanged" : "CHANGED", diff);
    free(diff);
}

static int
s_run(s_replay_t *r, const sl_conf_t *conf)
{
    sl_client_t *client = sl_client_new(conf->broker.frontend);
    if (client == NULL) {
        fprintf(stderr, "sluice replay: cannot connect to %s\n", conf->broker.frontend);
        return 2;
    }
    uint64_t wait_ms = (uint64_t)conf->broker.message_timeout_ms + 10000;
    size_t next = 0, inflight = 0, finished = 0;
    uint64_t deadline = sl_mono_ms() + wait_ms;
    while (finished < r->count && sl_mono_ms() < deadline) {
        while (next < r->count && inflight < S_WINDOW) {
            s_item_t *it = &r->items[next++];
            sl_env_t *env = s_fresh(it->old, r->dry_run);
            it->req = sl_client_submit(client, r->graph, "content", env, it->body, it->body_len, 0);
            sl_env_destroy(&env);
            if (it->req == 0) {
                printf("%s from=%s not submitted: broker busy or unreachable\n", it->id, it->from);
                it->done = true;
                finished++;
                r->failures++;
                continue;
            }
            inflight++;
            deadline = sl_mono_ms() + wait_ms;
        }
        sl_result_t res;
        memset(&res, 0, sizeof res);
        int rc = sl_client_recv(client, 200, &res);
        if (rc != 1)
            continue;
        for (size_t i = 0; i < r->count; i++) {
            s_item_t *it = &r->items[i];
            if (it->req != res.req || it->done)
                continue;
            it->done = true;
            finished++;
            inflight--;
            if (res.status == SL_RESULT_OK && res.env != NULL) {
                s_show(it, res.env);
            } else {
                printf("%s from=%s failed: %s %s\n", it->id, it->from,
                       sl_result_status_name(res.status), res.why);
                r->failures++;
            }
            break;
        }
        sl_result_clear(&res);
    }
    for (size_t i = 0; i < r->count; i++) {
        if (!r->items[i].done) {
            printf("%s from=%s no result within %llu ms\n", r->items[i].id, r->items[i].from,
                   (unsigned long long)wait_ms);
            r->failures++;
        }
    }
    sl_client_destroy(&client);
    return r->failures ? 1 : 0;
}

int
sluice_replay_main(int argc, char **argv)
{
    s_replay_t r;
    memset(&r, 0, sizeof r);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && has)
            r.config = argv[++i];
        else if (strcmp(a, "--id") == 0 && has)
            r.id = argv[++i];
        else if (strcmp(a, "--since") == 0 && has)
            r.since = argv[++i];
        else if (strcmp(a, "--graph") == 0 && has)
            r.graph = argv[++i];
        else if (strcmp(a, "--dry-run") == 0)
            r.dry_run = true;
        else
            return s_usage();
    }
    if ((r.id == NULL) == (r.since == NULL))
        return s_usage();
    if (r.id != NULL && !smtpd_spool_id_ok(r.id)) {
        fprintf(stderr, "sluice replay: --id %s: not a queue id\n", r.id);
        return 2;
    }
    if (r.since != NULL && s_parse_since(r.since, &r.since_ms) != 0) {
        fprintf(stderr, "sluice replay: --since %s: not a time\n", r.since);
        return s_usage();
    }
    sl_log_open("sluice", SL_LOG_WARN);
    char err[8192];
    sl_conf_t *conf = sl_conf_load(r.config, err, sizeof err);
    if (conf == NULL) {
        fprintf(stderr, "sluice replay: %s\n", err);
        return 2;
    }
    int rc = 2;
    if (smtpd_conf_read(&r.smtpd, conf->cfg, conf->data_dir) != 0) {
        fprintf(stderr, "sluice replay: %s\n", sl_cfg_errors(conf->cfg));
        goto out;
    }
    if (r.graph == NULL)
        r.graph = r.smtpd.graph;
    if (sl_conf_graph(conf, r.graph) == NULL) {
        fprintf(stderr, "sluice replay: --graph %s: no such graph in %s\n", r.graph, conf->path);
        goto out;
    }
    r.subdir = NULL;
    long a = smtpd_spool_each(r.smtpd.spool_dir, NULL, s_collect, &r);
    r.subdir = "archive";
    long b = smtpd_spool_each(r.smtpd.spool_dir, "archive", s_collect, &r);
    if (a < 0 && b < 0) {
        fprintf(stderr, "sluice replay: cannot read spool %s\n", r.smtpd.spool_dir);
        goto out;
    }
    if (r.count == 0) {
        fprintf(stderr, "sluice replay: no message matches in %s\n", r.smtpd.spool_dir);
        rc = 1;
        goto out;
    }
    printf("replay messages=%zu graph=%s dry_run=%s\n", r.count, r.graph, r.dry_run ? "yes" : "no");
    fflush(stdout);
    rc = s_run(&r, conf);
out:
    for (size_t i = 0; i < r.count; i++) {
        sl_env_destroy(&r.items[i].old);
        free(r.items[i].image);
    }
    free(r.items);
    smtpd_conf_free(&r.smtpd);
    sl_conf_destroy(&conf);
    return rc;
}
