/*
 * stages/av-a/av-a.c - anti-virus engine A: libclamav on the raw message and every part.
 *
 * One compiled ClamAV engine per worker process, shared by its scan threads
 * (libclamav allows concurrent scans on a compiled engine) and reloaded
 * beside the old one when the signature directory changes (av_engine.c).
 * Each target is scanned from memory (cl_fmap_open_memory): no temporary file
 * for the message itself. Limits are ClamAV's own, set from options; with
 * CL_SCAN_HEURISTIC_EXCEEDS_MAX a target over a limit is reported by
 * libclamav as Heuristics.Limits.Exceeded.*, which this stage turns into
 * AV_A_UNSCANNABLE, never into clean.
 * Options: stages/av-a/README.md. Tests: tests/e2e/test_content.py
 */
#include "av_engine.h"
#include "av_report.h"
#include "sl_stage.h"
#include "stage_opts.h"

#include <clamav.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef AV_A_SIGS_DEFAULT
#define AV_A_SIGS_DEFAULT "/var/lib/sluice/sigs/clamav"
#endif
#define AV_A_RELOAD_CHECK_MS 5000       /* how often the signature directory is looked at */
#define AV_A_MAX_SCANSIZE (100LL << 20) /* bytes ClamAV reads from one target (clamd: 400M) */
#define AV_A_MAX_FILESIZE (50LL << 20)  /* largest file, or file inside an archive (clamd: 100M) */
#define AV_A_MAX_RECURSION 16           /* nested containers inside one target (clamd: 17) */
#define AV_A_MAX_FILES 10000            /* files inside one target (clamd: 10000) */
#define AV_A_MAX_SCANTIME_MS 30000      /* per target (clamd: 120000) */

typedef struct {
    char *sigs;              /* signature directory */
    int64_t reload_check_ms; /* 0 = never reload */
    int64_t max_scansize, max_filesize, max_recursion, max_files, max_scantime_ms;
    bool scan_raw;     /* scan the raw message too, not only mime's parts */
    bool cache;        /* libclamav's cache of clean objects (by hash), as clamd's default */
    char *unscannable; /* class_hint for a limit hit */
    char *tmpdir;      /* libclamav's scratch directory; NULL = its default */
} av_a_opts_t;

typedef struct {
    av_a_opts_t opt;
    av_holder_t *engines;
} av_a_t;

static _Thread_local char s_version[AV_VERSION_MAX]; /* rules_version of this thread's last scan */

/* s_load - av_load_fn: a compiled engine from every database in DIR. */
static void *
s_load(const char *dir, void *arg, char *version, size_t version_len, char *why, size_t whylen)
{
    const av_a_opts_t *o = arg;
    struct cl_engine *e = cl_engine_new();
    if (e == NULL) {
        snprintf(why, whylen, "cl_engine_new failed");
        return NULL;
    }
    cl_engine_set_num(e, CL_ENGINE_MAX_SCANSIZE, o->max_scansize);
    cl_engine_set_num(e, CL_ENGINE_MAX_FILESIZE, o->max_filesize);
    cl_engine_set_num(e, CL_ENGINE_MAX_RECURSION, o->max_recursion);
    cl_engine_set_num(e, CL_ENGINE_MAX_FILES, o->max_files);
    cl_engine_set_num(e, CL_ENGINE_MAX_SCANTIME, o->max_scantime_ms);
    if (!o->cache)
        cl_engine_set_num(e, CL_ENGINE_DISABLE_CACHE, 1);
    if (o->tmpdir)
        cl_engine_set_str(e, CL_ENGINE_TMPDIR, o->tmpdir);
    unsigned sigs = 0;
    cl_error_t rc = cl_load(dir, e, &sigs, CL_DB_STDOPT);
    if (rc == CL_SUCCESS && sigs == 0)
        rc = CL_EOPEN;
    if (rc == CL_SUCCESS)
        rc = cl_engine_compile(e);
    if (rc != CL_SUCCESS) {
        snprintf(why, whylen, "%s: %s", dir, sigs == 0 ? "no signatures" : cl_strerror(rc));
        cl_engine_free(e);
        return NULL;
    }
    unsigned db_version = (unsigned) cl_engine_get_num(e, CL_ENGINE_DB_VERSION, NULL);
    snprintf(version, version_len, "clamav-%s sigs=%u db=%u", cl_retver(), sigs, db_version);
    return e;
}

static void
s_free(void *engine, void *arg)
{
    (void) arg;
    cl_engine_free(engine);
}

static int
s_init(void **ctx, sl_cfg_t *cfg, const sl_cfg_node_t *section, int argc, char **argv)
{
    (void) cfg;
    av_a_t *av = sl_xcalloc(1, sizeof *av);
    av_a_opts_t *o = &av->opt;
    *o = (av_a_opts_t){.sigs = sl_xstrdup(AV_A_SIGS_DEFAULT),
                       .reload_check_ms = AV_A_RELOAD_CHECK_MS,
                       .max_scansize = AV_A_MAX_SCANSIZE,
                       .max_filesize = AV_A_MAX_FILESIZE,
                       .max_recursion = AV_A_MAX_RECURSION,
                       .max_files = AV_A_MAX_FILES,
                       .max_scantime_ms = AV_A_MAX_SCANTIME_MS,
                       .scan_raw = true,
                       .cache = true,
                       .unscannable = sl_xstrdup("banned")};
    const stage_opt_t opts[] = {
        {"sigs", STAGE_OPT_STR, &o->sigs, 0, 0},
        {"reload_check", STAGE_OPT_DURATION, &o->reload_check_ms, 0, 86400000},
        {"max_scansize", STAGE_OPT_SIZE, &o->max_scansize, 1024, 1LL << 32},
        {"max_filesize", STAGE_OPT_SIZE, &o->max_filesize, 1024, 1LL << 32},
        {"max_recursion", STAGE_OPT_INT, &o->max_recursion, 1, 100},
        {"max_files", STAGE_OPT_INT, &o->max_files, 1, 1000000},
        {"max_scantime", STAGE_OPT_DURATION, &o->max_scantime_ms, 10, 3600000},
        {"scan_raw", STAGE_OPT_BOOL, &o->scan_raw, 0, 0},
        {"cache", STAGE_OPT_BOOL, &o->cache, 0, 0},
        {"unscannable", STAGE_OPT_STR, &o->unscannable, 0, 0},
        {"tmpdir", STAGE_OPT_STR, &o->tmpdir, 0, 0},
    };
    size_t nopts = sizeof opts / sizeof opts[0];
    char err[4096];
    if (stage_opts_read(opts, nopts, section, argc, argv, err, sizeof err) != 0) {
        sl_log_error(NULL, "av-a: %s", err);
    } else if (cl_init(CL_INIT_DEFAULT) != CL_SUCCESS) {
        sl_log_error(NULL, "av-a: cl_init failed");
    } else {
        if (strcmp(o->unscannable, "none") == 0)
            o->unscannable[0] = '\0';
        av->engines =
            av_holder_new("av-a", o->sigs, o->reload_check_ms, s_load, s_free, o, err, sizeof err);
        if (av->engines == NULL)
            sl_log_error(NULL, "av-a: cannot load signatures: %s", err);
    }
    if (av->engines == NULL) {
        stage_opts_free(opts, nopts);
        free(av);
        return -1;
    }
    char version[AV_VERSION_MAX];
    av_holder_version(av->engines, version, sizeof version);
    sl_log_info(NULL, "av-a: engine ready sigs=%s version=\"%s\"", o->sigs, version);
    *ctx = av;
    return 0;
}

static void
s_fini(void *ctx)
{
    av_a_t *av = ctx;
    av_holder_destroy(&av->engines);
    free(av->opt.sigs);
    free(av->opt.unscannable);
    free(av->opt.tmpdir);
    free(av);
}

/* s_scan_one - one target through libclamav; 0, or -1 when the environment failed. */
static int
s_scan_one(const struct cl_engine *e, const av_target_t *t, av_report_t *r)
{
    struct cl_scan_options so = {
        .general = CL_SCAN_GENERAL_HEURISTICS,
        .parse = ~0u,
        .heuristic = CL_SCAN_HEURISTIC_EXCEEDS_MAX,
    };
    cl_fmap_t *map = cl_fmap_open_memory(t->data.ptr, t->data.len);
    if (map == NULL)
        return -1;
    const char *virname = NULL;
    unsigned long scanned = 0;
    uint64_t t0 = sl_mono_us();
    cl_error_t rc = cl_scanmap_callback(map, t->path, &virname, &scanned, e, &so, NULL);
    r->scan_ms += (double) (sl_mono_us() - t0) / 1000.0;
    cl_fmap_close(map);
    r->objects++;
    r->bytes += t->data.len;
    if (rc == CL_VIRUS && virname && strncmp(virname, "Heuristics.Limits.Exceeded", 26) == 0) {
        if (strstr(virname, "MaxScanTime") != NULL)
            r->timeouts++;
        av_report_unscannable(r, t->path, virname);
    } else if (rc == CL_VIRUS) {
        av_report_hit(r, virname ? virname : "unnamed", t->path);
    } else if (rc == CL_EMEM) {
        return -1;
    } else if (rc != CL_CLEAN) {
        if (rc == CL_ETIMEOUT)
            r->timeouts++;
        av_report_unscannable(r, t->path, cl_strerror(rc));
    }
    return 0;
}

static int
s_scan(const sl_msg_t *msg, sl_verdict_t *verdict, void *ctx)
{
    av_a_t *av = ctx;
    av_target_t *targets = NULL;
    size_t n = av_targets(msg, av->opt.scan_raw, &targets);
    av_ref_t *ref = NULL;
    const struct cl_engine *e = av_holder_acquire(av->engines, &ref);
    sl_strlcpy(s_version, av_ref_version(ref), sizeof s_version);
    av_report_t r = {
        .engine = "clamav", .hit_symbol = "AV_A_VIRUS", .unscannable_symbol = "AV_A_UNSCANNABLE"};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = s_scan_one(e, &targets[i], &r);
    av_holder_release(av->engines, &ref);
    return av_report_finish(&r, verdict, msg, rc, av->opt.unscannable, "libclamav out of memory",
                            targets);
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
        .name = "av-a",
        .version = "av-a/1.0",
        .needs = SL_NEED_BODY | SL_NEED_PARTS,
        .scan = s_scan,
        .init = s_init,
        .fini = s_fini,
        .rules_version = s_rules_version,
    };
    return sl_stage_main(argc, argv, &def);
}
