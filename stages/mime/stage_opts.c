/*
 * stages/mime/stage_opts.c - a stage's own settings from its options: map or its command line.
 *
 * Command-line pairs are turned into a one-level YAML map ("key: 'value'")
 * and read with the same sl_cfg getters as the options: map, so both sources
 * obey one set of types, bounds and error messages.
 * Tests: tests/unit/test_mime.c
 */
#include "stage_opts.h"
#include "sl_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STAGE_OPTS_KEYS_MAX 64 /* keys one stage may declare */

/* s_read_map - every key of OPTS present in MAP into its target; errors go to CFG. */
static void
s_read_map(const stage_opt_t *opts, size_t count, sl_cfg_t *cfg, const sl_cfg_node_t *map)
{
    for (size_t i = 0; i < count; i++) {
        const stage_opt_t *o = &opts[i];
        if (sl_cfg_get(map, o->key) == NULL)
            continue;
        switch (o->kind) {
        case STAGE_OPT_INT:
            *(int64_t *) o->target =
                sl_cfg_get_int(cfg, map, o->key, *(int64_t *) o->target, o->min, o->max);
            break;
        case STAGE_OPT_SIZE:
            *(int64_t *) o->target =
                sl_cfg_get_size(cfg, map, o->key, *(int64_t *) o->target, o->min, o->max);
            break;
        case STAGE_OPT_DURATION:
            *(int64_t *) o->target =
                sl_cfg_get_duration_ms(cfg, map, o->key, *(int64_t *) o->target, o->min, o->max);
            break;
        case STAGE_OPT_DOUBLE:
            *(double *) o->target = sl_cfg_get_double(cfg, map, o->key, *(double *) o->target,
                                                     (double) o->min, (double) o->max);
            break;
        case STAGE_OPT_BOOL:
            *(bool *)o->target = sl_cfg_get_bool(cfg, map, o->key, *(bool *)o->target);
            break;
        case STAGE_OPT_STR: {
            char **s = o->target;
            const char *v = sl_cfg_get_str(cfg, map, o->key, NULL);
            if (v != NULL) {
                free(*s);
                *s = sl_xstrdup(v);
            }
            break;
        }
        }
    }
    const char *allowed[STAGE_OPTS_KEYS_MAX + 1];
    size_t n = 0;
    for (size_t i = 0; i < count && n < STAGE_OPTS_KEYS_MAX; i++)
        allowed[n++] = opts[i].key;
    allowed[n] = NULL;
    sl_cfg_check_keys(cfg, map, allowed);
}

/* s_append - appends TEXT to the growing buffer. */
static void
s_append(char **buf, size_t *len, size_t *cap, const char *text, size_t tlen)
{
    if (tlen > *cap - *len) {
        while (tlen > *cap - *len)
            *cap = *cap ? *cap * 2 : 256;
        *buf = sl_xrealloc(*buf, *cap);
    }
    memcpy(*buf + *len, text, tlen);
    *len += tlen;
}

/* s_argv_yaml - "--max-depth 5 --rules /x" as "max_depth: '5'\nrules: '/x'\n"
 * (caller frees); NULL with *why for a word that is not a "--key value" pair. */
static char *
s_argv_yaml(int argc, char **argv, size_t *len, const char **why)
{
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0' || i + 1 >= argc) {
            free(buf);
            *why = a;
            return NULL;
        }
        for (const char *p = a + 2; *p; p++) {
            char c = *p == '-' ? '_' : *p;
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
                free(buf);
                *why = a;
                return NULL;
            }
            s_append(&buf, len, &cap, &c, 1);
        }
        s_append(&buf, len, &cap, ": '", 3);
        for (const char *p = argv[++i]; *p; p++) {
            if (*p == '\'')
                s_append(&buf, len, &cap, "'", 1); /* YAML doubles a quote inside '' */
            s_append(&buf, len, &cap, p, 1);
        }
        s_append(&buf, len, &cap, "'\n", 2);
    }
    s_append(&buf, len, &cap, "", 1);
    (*len)--;
    return buf;
}

int
stage_opts_read(const stage_opt_t *opts, size_t count, const sl_cfg_node_t *section, int argc,
                char **argv, char *err, size_t errlen)
{
    char dummy[1];
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    /* A private sl_cfg collects the errors of both sources. */
    sl_cfg_t *errs = sl_cfg_parse("{}", 2, "options", err, errlen);
    if (errs == NULL)
        return -1;
    if (section != NULL && sl_cfg_kind(section) == SL_CFG_MAP)
        s_read_map(opts, count, errs, section);
    else if (section != NULL && !sl_cfg_is_null(section))
        sl_cfg_error(errs, section, "options: expected a map of settings");
    const char *bad = NULL;
    size_t ylen = 0;
    char *yaml = s_argv_yaml(argc, argv, &ylen, &bad);
    if (yaml == NULL) {
        sl_cfg_error(errs, NULL, "command line: expected --key value pairs, found \"%s\"", bad);
    } else if (ylen > 0) {
        sl_cfg_t *line = sl_cfg_parse(yaml, ylen, "command line", err, errlen);
        if (line == NULL)
            sl_cfg_error(errs, NULL, "command line: %s", err);
        else
            s_read_map(opts, count, errs, sl_cfg_root(line));
        sl_cfg_destroy(&line);
    }
    free(yaml);
    int rc = sl_cfg_error_count(errs) == 0 ? 0 : -1;
    if (rc != 0)
        snprintf(err, errlen, "%s", sl_cfg_errors(errs));
    sl_cfg_destroy(&errs);
    return rc;
}

void
stage_opts_free(const stage_opt_t *opts, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (opts[i].kind == STAGE_OPT_STR) {
            char **s = opts[i].target;
            free(*s);
            *s = NULL;
        }
    }
}
