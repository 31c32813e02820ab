/*
 * stages/mime/stage_opts.h - a stage's own settings from its options: map or its command line.
 *
 * One table of keys per stage; each key is read from the stage's "options:"
 * map in sluice.yaml (the section sl_stage passes to init) and may be given
 * again after the command as "--key value" ("--max-depth 5" is key max_depth),
 * which wins. Both go through the sl_cfg typed getters, so a bad value reads
 * "options.max_depth: expected ..." wherever it came from.
 * Shared by stages/mime, stages/av-a and stages/av-b (a gap in lib/sl_stage:
 * it belongs there once the runtime grows an options table).
 * Tests: tests/unit/test_mime.c
 */
#ifndef STAGE_OPTS_H
#define STAGE_OPTS_H

#include "sl_cfg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    STAGE_OPT_INT,      /* int64_t, whole number MIN..MAX */
    STAGE_OPT_SIZE,     /* int64_t bytes: "10M", "512k" */
    STAGE_OPT_DURATION, /* int64_t ms: "250ms", "5s" */
    STAGE_OPT_DOUBLE,   /* double MIN..MAX */
    STAGE_OPT_BOOL,     /* bool */
    STAGE_OPT_STR,      /* char * (malloc'd copy; the caller frees; default may be NULL) */
} stage_opt_kind_t;

typedef struct {
    const char *key;       /* "max_depth" */
    stage_opt_kind_t kind; /* how to read it */
    void *target;          /* holds the default on entry, the value on return */
    int64_t min, max;      /* bounds for INT, SIZE, DURATION, DOUBLE */
} stage_opt_t;

/* stage_opts_read - fills every target from SECTION (may be NULL) then from
 * "--key value" pairs in ARGV[1..ARGC); 0, or -1 with every mistake in ERR. */
int stage_opts_read(const stage_opt_t *opts, size_t count, const sl_cfg_node_t *section, int argc,
                    char **argv, char *err, size_t errlen);

/* stage_opts_free - frees the strings of the STR targets. */
void stage_opts_free(const stage_opt_t *opts, size_t count);

#endif
