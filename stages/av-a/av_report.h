/*
 * stages/av-a/av_report.h - what an anti-virus stage scans and how it reports.
 *
 * The targets of one message are its raw bytes (path "(message)") and every
 * decoded part mime handed downstream (path from the part's metadata). The
 * report collects detections and unscannable objects and writes the verdict
 * every engine shares: a detection symbol and an unscannable symbol, class_hint,
 * viruses: [{engine, name, part}], and the per-engine accounting fields
 * detections, objects, bytes, limit_hits, timeouts, scan_ms.
 * Shared by stages/av-a and stages/av-b.
 * Tests: tests/e2e/test_content.py
 */
#ifndef AV_REPORT_H
#define AV_REPORT_H

#include "sl_stage.h"

#include <stdbool.h>
#include <stddef.h>

#define AV_REPORT_HITS_MAX 64 /* detections listed per message; more are only counted */

typedef struct {
    const char *path; /* "(message)" or the part's path (borrowed from the envelope) */
    sl_slice_t data;  /* borrowed from the runtime */
} av_target_t;

typedef struct {
    char *name, *path; /* virus or rule name, part path */
} av_hit_t;

typedef struct {
    const char *engine;             /* "clamav", "yara" */
    const char *hit_symbol;         /* "AV_A_VIRUS", "AV_B_YARA_MATCH" */
    const char *unscannable_symbol; /* "AV_A_UNSCANNABLE" */
    av_hit_t hits[AV_REPORT_HITS_MAX];
    size_t hit_count;      /* listed */
    size_t detections;     /* all, listed or not */
    char *unscannable;     /* first unscannable object and why */
    size_t limit_hits;     /* objects not fully scanned */
    size_t timeouts;       /* scans cut by the engine's time limit */
    size_t objects, bytes; /* scanned */
    double scan_ms;        /* inside the engine */
} av_report_t;

/* av_targets - the raw message (when SCAN_RAW) then every part; caller frees *out. */
size_t av_targets(const sl_msg_t *msg, bool scan_raw, av_target_t **out);
/* av_report_hit - records detection NAME in PATH. */
void av_report_hit(av_report_t *r, const char *name, const char *path);
/* av_report_unscannable - records that PATH could not be fully scanned: WHY. */
void av_report_unscannable(av_report_t *r, const char *path, const char *why);
/* av_report_verdict - symbols and fields into V; UNSCANNABLE_CLASS for a limit
 * hit without a detection ("" = none). 0, or -1 at a verdict limit. */
int av_report_verdict(const av_report_t *r, sl_verdict_t *v, const char *unscannable_class);
void av_report_free(av_report_t *r);
/* av_report_finish - ends one scan: on RC -1 sets ERROR_TEXT as the verdict's
 * error, else writes the verdict; logs detections; frees R and TARGETS.
 * Returns the scan function's result. */
int av_report_finish(av_report_t *r, sl_verdict_t *v, const sl_msg_t *msg, int rc,
                     const char *unscannable_class, const char *error_text, av_target_t *targets);

#endif
