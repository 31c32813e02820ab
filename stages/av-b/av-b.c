/*
 * stages/av-b/av-b.c - anti-virus engine B: YARA rules on the raw message and every part.
 *
 * Every *.yar / *.yara file of the rules directory is compiled at start and
 * again, beside the old rules, when the directory changes (av_engine.c from
 * stages/av-a). libyara scans one compiled rule set from up to YR_MAX_THREADS
 * threads at once. A target larger than max_size, or a scan cut by the time
 * limit, is AV_B_UNSCANNABLE, never clean. A matching rule may carry
 * meta: sluice_ignore = true (a helper rule) or name = "..." (shown instead of
 * the rule identifier).
 * Options: stages/av-b/README.md. Tests: tests/e2e/test_content.py
 */
#include "av_engine.h"
#include "av_report.h"
#include "sl_stage.h"
#include "stage_opts.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yara.h>

#ifndef AV_B_RULES_DEFAULT
#define AV_B_RULES_DEFAULT "/var/lib/sluice/rules/yara"
#endif
#define AV_B_RELOAD_CHECK_MS 5000  /* how often the rules directory is looked at */
#define AV_B_MAX_SIZE (64LL << 20) /* largest target scanned; larger ones are unscannable */
#define AV_B_TIMEOUT_S 10          /* per target: yr_rules_scan_mem's timeout (seconds) */
/* Fast mode: a string is not searched again after its first hit, unless a
 * rule reads its count or offsets (libyara's compiler marks those strings),
 * so results are those of a full scan. Matching rules only: no callback
 * for every rule that did not match.
 * No try/catch: libyara would install SIGSEGV/SIGBUS handlers around every
 * scan (four sigaction calls) to survive a fault in an mmap'd file; we scan
 * memory we own, and a fault inside libyara is better a dead worker (the
 * broker re-dispatches, and blames a message that kills it repeatedly) than
 * a longjmp out of a half-updated scanner. */
#define AV_B_SCAN_FLAGS \
    (SCAN_FLAGS_FAST_MODE | SCAN_FLAGS_REPORT_RULES_MATCHING | SCAN_FLAGS_NO_TRYCATCH)

typedef struct {
    char *rules;             /* rules directory */
    int64_t reload_check_ms; /* 0 = never reload */
    int64_t max_size;        /* bytes */
    int64_t timeout_ms;      /* per target, rounded up to whole seconds for libyara */
    bool scan_raw;           /* scan the raw message too */
    char *unscannable;       /* class_hint for a limit hit */
} av_b_opts_t;

typedef struct {
    av_b_opts_t opt;
    av_holder_t *engines;
} av_b_t;

static _Thread_local char s_version[AV_VERSION_MAX];

/* One libyara scanner per scanning thread, kept while the rules stay the
 * same, as the yara command keeps one per thread: yr_rules_scan_mem would
 * create and free a scanner (its per-string match tables) for every target,
 * ~6% of av-b's time on 72 KB mail. The cache holds its own reference to the
 * rules it was made for, so they cannot go while it exists; it is remade at
 * the first scan after a reload and freed when its thread ends (pthread key)
 * or, for the main thread, in s_fini. */
typedef struct {
    av_b_t *av;
    av_ref_t *ref;       /* the cache's reference to RULES */
    YR_RULES *rules;
    YR_SCANNER *scanner;
} s_scanner_t;

static pthread_key_t s_scanner_key;
static pthread_once_t s_scanner_once = PTHREAD_ONCE_INIT;

static void
s_scanner_drop(void *arg)
{
    s_scanner_t *c = arg;
    if (c == NULL)
        return;
    yr_scanner_destroy(c->scanner);
    av_holder_release(c->av->engines, &c->ref);
    free(c);
}

static void
s_scanner_key_make(void)
{
    if (pthread_key_create(&s_scanner_key, s_scanner_drop) != 0)
        sl_panic("pthread_key_create failed");
}

/* s_scanner_for - this thread's scanner for RULES (made now if the rules
 * changed; it then takes the caller's reference *REF_P). NULL when libyara
 * cannot make one: the caller scans with yr_rules_scan_mem. */
static YR_SCANNER *
s_scanner_for(av_b_t *av, YR_RULES *rules, av_ref_t **ref_p)
{
    pthread_once(&s_scanner_once, s_scanner_key_make);
    s_scanner_t *c = pthread_getspecific(s_scanner_key);
    if (c && c->rules == rules)
        return c->scanner;
    s_scanner_drop(c);
    pthread_setspecific(s_scanner_key, NULL);
    YR_SCANNER *scanner = NULL;
    if (yr_scanner_create(rules, &scanner) != ERROR_SUCCESS)
        return NULL;
    c = sl_xmalloc(sizeof *c);
    *c = (s_scanner_t){.av = av, .ref = *ref_p, .rules = rules, .scanner = scanner};
    *ref_p = NULL;
    pthread_setspecific(s_scanner_key, c);
    return scanner;
}

typedef struct {
    char *why; /* first compiler error */
    size_t whylen;
    int errors;
} s_compile_t;

static void
s_on_compile(int level, const char *file, int line, const YR_RULE *rule, const char *message,
             void *arg)
{
    (void) rule;
    s_compile_t *c = arg;
    if (level != YARA_ERROR_LEVEL_ERROR) {
        sl_log_warn(NULL, "av-b: rules warning file=%s line=%d: %s", file ? file : "?", line,
                    message);
        return;
    }
    if (c->errors++ == 0)
        snprintf(c->why, c->whylen, "%s:%d: %s", file ? file : "?", line, message);
}

static int
s_is_rules_file(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return e->d_name[0] != '.' && ((n > 4 && strcmp(e->d_name + n - 4, ".yar") == 0) ||
                                   (n > 5 && strcmp(e->d_name + n - 5, ".yara") == 0));
}

/* s_load - av_load_fn: every rules file of DIR compiled into one rule set. */
static void *
s_load(const char *dir, void *arg, char *version, size_t version_len, char *why, size_t whylen)
{
    (void) arg;
    struct dirent **names = NULL;
    int n = scandir(dir, &names, s_is_rules_file, alphasort);
    if (n <= 0) {
        snprintf(why, whylen, "%s: %s", dir, n == 0 ? "no .yar files" : "cannot read");
        free(names);
        return NULL;
    }
    YR_COMPILER *comp = NULL;
    YR_RULES *rules = NULL;
    s_compile_t c = {.why = why, .whylen = whylen};
    if (yr_compiler_create(&comp) != ERROR_SUCCESS) {
        snprintf(why, whylen, "yr_compiler_create failed");
        c.errors = 1;
    } else {
        yr_compiler_set_callback(comp, s_on_compile, &c);
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        int k = snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        FILE *f = c.errors == 0 && k > 0 && (size_t) k < sizeof path ? fopen(path, "r") : NULL;
        if (f != NULL) {
            yr_compiler_add_file(comp, f, NULL, path);
            fclose(f);
        } else if (c.errors++ == 0) {
            snprintf(why, whylen, "cannot read %s", path);
        }
        free(names[i]);
    }
    free(names);
    if (c.errors == 0 && yr_compiler_get_rules(comp, &rules) != ERROR_SUCCESS) {
        snprintf(why, whylen, "yr_compiler_get_rules failed");
        rules = NULL;
    }
    if (comp)
        yr_compiler_destroy(comp);
    if (c.errors > 0 || rules == NULL)
        return NULL;
    YR_RULE *rule;
    unsigned count = 0;
    yr_rules_foreach(rules, rule) count++;
    snprintf(version, version_len, "yara-%s rules=%u files=%d", YR_VERSION, count, n);
    return rules;
}

static void
s_free(void *engine, void *arg)
{
    (void) arg;
    yr_rules_destroy(engine);
}

static int
s_init(void **ctx, sl_cfg_t *cfg, const sl_cfg_node_t *section, int argc, char **argv)
{
    (void) cfg;
    av_b_t *av = sl_xcalloc(1, sizeof *av);
    av_b_opts_t *o = &av->opt;
    *o = (av_b_opts_t){.rules = sl_xstrdup(AV_B_RULES_DEFAULT),
                       .reload_check_ms = AV_B_RELOAD_CHECK_MS,
                       .max_size = AV_B_MAX_SIZE,
                       .timeout_ms = AV_B_TIMEOUT_S * 1000,
                       .scan_raw = true,
                       .unscannable = sl_xstrdup("banned")};
    const stage_opt_t opts[] = {
        {"rules", STAGE_OPT_STR, &o->rules, 0, 0},
        {"reload_check", STAGE_OPT_DURATION, &o->reload_check_ms, 0, 86400000},
        {"max_size", STAGE_OPT_SIZE, &o->max_size, 1024, 1LL << 32},
        {"timeout", STAGE_OPT_DURATION, &o->timeout_ms, 1000, 3600000},
        {"scan_raw", STAGE_OPT_BOOL, &o->scan_raw, 0, 0},
        {"unscannable", STAGE_OPT_STR, &o->unscannable, 0, 0},
    };
    size_t nopts = sizeof opts / sizeof opts[0];
    char err[4096];
    if (stage_opts_read(opts, nopts, section, argc, argv, err, sizeof err) != 0) {
        sl_log_error(NULL, "av-b: %s", err);
    } else if (yr_initialize() != ERROR_SUCCESS) {
        sl_log_error(NULL, "av-b: yr_initialize failed");
    } else {
        if (strcmp(o->unscannable, "none") == 0)
            o->unscannable[0] = '\0';
        av->engines =
            av_holder_new("av-b", o->rules, o->reload_check_ms, s_load, s_free, o, err, sizeof err);
        if (av->engines == NULL) {
            sl_log_error(NULL, "av-b: cannot compile rules: %s", err);
            yr_finalize();
        }
    }
    if (av->engines == NULL) {
        stage_opts_free(opts, nopts);
        free(av);
        return -1;
    }
    char version[AV_VERSION_MAX];
    av_holder_version(av->engines, version, sizeof version);
    sl_log_info(NULL, "av-b: rules ready dir=%s version=\"%s\"", o->rules, version);
    *ctx = av;
    return 0;
}

static void
s_fini(void *ctx)
{
    av_b_t *av = ctx;
    pthread_once(&s_scanner_once, s_scanner_key_make);
    s_scanner_drop(pthread_getspecific(s_scanner_key)); /* the main thread's (inline scans) */
    pthread_setspecific(s_scanner_key, NULL);
    av_holder_destroy(&av->engines);
    yr_finalize();
    free(av->opt.rules);
    free(av->opt.unscannable);
    free(av);
}

typedef struct {
    av_report_t *report;
    const char *path;
} s_match_t;

static int
s_on_match(YR_SCAN_CONTEXT *sc, int message, void *message_data, void *arg)
{
    (void) sc;
    if (message != CALLBACK_MSG_RULE_MATCHING)
        return CALLBACK_CONTINUE;
    s_match_t *m = arg;
    const YR_RULE *rule = message_data;
    const char *name = rule->identifier;
    const YR_META *meta;
    yr_rule_metas_foreach(rule, meta)
    {
        if (strcmp(meta->identifier, "sluice_ignore") == 0 && meta->integer)
            return CALLBACK_CONTINUE;
        if (strcmp(meta->identifier, "name") == 0 && meta->type == META_TYPE_STRING)
            name = meta->string;
    }
    av_report_hit(m->report, name, m->path);
    return CALLBACK_CONTINUE;
}

static int
s_scan(const sl_msg_t *msg, sl_verdict_t *verdict, void *ctx)
{
    av_b_t *av = ctx;
    av_target_t *targets = NULL;
    size_t n = av_targets(msg, av->opt.scan_raw, &targets);
    av_ref_t *ref = NULL;
    YR_RULES *rules = av_holder_acquire(av->engines, &ref);
    sl_strlcpy(s_version, av_ref_version(ref), sizeof s_version);
    YR_SCANNER *scanner = s_scanner_for(av, rules, &ref);
    av_report_t r = {.engine = "yara",
                     .hit_symbol = "AV_B_YARA_MATCH",
                     .unscannable_symbol = "AV_B_UNSCANNABLE"};
    int timeout_s = (int) ((av->opt.timeout_ms + 999) / 1000);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const av_target_t *t = &targets[i];
        if (t->data.len > (size_t) av->opt.max_size) {
            av_report_unscannable(&r, t->path, "larger than max_size");
            continue;
        }
        s_match_t m = {.report = &r, .path = t->path};
        uint64_t t0 = sl_mono_us();
        int yrc;
        if (scanner) {
            yr_scanner_set_callback(scanner, s_on_match, &m);
            yr_scanner_set_timeout(scanner, timeout_s);
            yr_scanner_set_flags(scanner, AV_B_SCAN_FLAGS);
            yrc = yr_scanner_scan_mem(scanner, (const uint8_t *)t->data.ptr, t->data.len);
        } else {
            yrc = yr_rules_scan_mem(rules, (const uint8_t *)t->data.ptr, t->data.len,
                                    AV_B_SCAN_FLAGS, s_on_match, &m, timeout_s);
        }
        r.scan_ms += (double) (sl_mono_us() - t0) / 1000.0;
        r.objects++;
        r.bytes += t->data.len;
        if (yrc == ERROR_SCAN_TIMEOUT) {
            r.timeouts++;
            av_report_unscannable(&r, t->path, "scan timed out");
        } else if (yrc == ERROR_INSUFFICIENT_MEMORY || yrc == ERROR_TOO_MANY_SCAN_THREADS) {
            rc = -1;
        } else if (yrc != ERROR_SUCCESS) {
            av_report_unscannable(&r, t->path, "libyara scan error");
        }
    }
    av_holder_release(av->engines, &ref);
    return av_report_finish(&r, verdict, msg, rc, av->opt.unscannable,
                            "libyara out of memory or scan threads", targets);
}

static const char *
s_rules_version(void *ctx)
{
    (void) ctx;
    return s_version; /* called on the scan thread right after s_scan */
}

int
main(int argc, char **argv)
{
    static const sl_stage_def_t def = {
        .name = "av-b",
        .version = "av-b/1.0",
        .needs = SL_NEED_BODY | SL_NEED_PARTS,
        .scan = s_scan,
        .init = s_init,
        .fini = s_fini,
        .rules_version = s_rules_version,
    };
    return sl_stage_main(argc, argv, &def);
}
