/*
 * supervisor/sluice_symbols.c - `sluice symbols`: every symbol with its weight and description.
 *
 * Reads the symbol tables stages install (share/sluice/symbols/STAGE.tsv:
 * NAME<TAB>weight<TAB>description, "#" comments) and the score stage's rule
 * set (each rule's score and describe line), then applies the config's
 * overrides: the score stage's weights: (any symbol), the url and headers
 * stages' scores:. A table row named PREFIX* (RBL_*: weight set by config)
 * describes the symbols a config names with that prefix. Tables and rules are found beside the
 * binary (BIN/../share/sluice) unless --symbols, --rules or the score stage's rules: option say
 * otherwise. Tests: tests/unit/test_sluice_symbols.c
 */
#include "sluice_symbols.h"
#include "score_rules.h"
#include "sl_cfg.h"
#include "sl_mem.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SYMBOLS_MAX 8192 /* symbols listed */

typedef struct {
    char *name;     /* symbol */
    char *stage;    /* table or "score" */
    char *weight;   /* default as written ("5.0", "-") */
    char *describe; /* one line */
    bool override;  /* weight replaced by config */
    double used;    /* the override */
} symbols_row_t;

typedef struct {
    symbols_row_t *rows;
    size_t count;
    size_t cap;
} symbols_t;

static void
s_add(symbols_t *t, const char *name, const char *stage, const char *weight, const char *describe)
{
    if (t->count == SYMBOLS_MAX)
        return;
    if (t->count == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 128;
        t->rows = sl_xrealloc(t->rows, t->cap * sizeof *t->rows);
    }
    t->rows[t->count++] = (symbols_row_t){.name = sl_xstrdup(name),
                                          .stage = sl_xstrdup(stage),
                                          .weight = sl_xstrdup(weight),
                                          .describe = sl_xstrdup(describe)};
}

/* s_share - BIN/../share/sluice/WHAT for the running binary into OUT. */
static void
s_share(const char *what, char *out, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    int w = snprintf(out, size, "%s/../share/sluice/%s", n > 0 ? exe : "/usr/bin", what);
    if (w < 0 || (size_t)w >= size)
        snprintf(out, size, "/usr/share/sluice/%s", what);
}

/* s_table - one STAGE.tsv into T; -1 with a message when unreadable. */
static int
s_table(symbols_t *t, const char *dir, const char *file)
{
    char path[PATH_MAX], stage[64];
    int w = snprintf(path, sizeof path, "%s/%s", dir, file);
    if (w < 0 || (size_t)w >= sizeof path) {
        fprintf(stderr, "sluice symbols: %s: path too long\n", dir);
        return -1;
    }
    snprintf(stage, sizeof stage, "%.*s", (int)(strlen(file) - 4), file); /* files < 60 */
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "sluice symbols: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[1024];
    size_t lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char *weight = strchr(line, '\t');
        char *describe = weight ? strchr(weight + 1, '\t') : NULL;
        if (describe == NULL) {
            fprintf(stderr, "sluice symbols: %s:%zu: expected NAME<TAB>weight<TAB>description\n",
                    path, lineno);
            continue;
        }
        *weight++ = '\0';
        *describe++ = '\0';
        s_add(t, line, stage, weight, describe);
    }
    fclose(f);
    return 0;
}

static int
s_cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
s_tables(symbols_t *t, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "sluice symbols: no symbol tables in %s: %s\n", dir, strerror(errno));
        return 0; /* the rules may still be listed */
    }
    char *files[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < sizeof files / sizeof files[0]) {
        size_t l = strlen(e->d_name);
        if (l > 4 && l < 60 && strcmp(e->d_name + l - 4, ".tsv") == 0 && e->d_name[0] != '.')
            files[n++] = sl_xstrdup(e->d_name);
    }
    closedir(d);
    qsort(files, n, sizeof *files, s_cmp_name);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        rc |= s_table(t, dir, files[i]);
        free(files[i]);
    }
    return rc;
}

/* s_stage_options - the options: map of the stages: entry named NAME, or NULL. */
static const sl_cfg_node_t *
s_stage_options(sl_cfg_t *cfg, const char *name)
{
    const sl_cfg_node_t *stages = sl_cfg_get(sl_cfg_root(cfg), "stages");
    for (size_t i = 0; stages && i < sl_cfg_count(stages); i++) {
        const sl_cfg_node_t *entry = sl_cfg_at(stages, i);
        const char *n = sl_cfg_scalar(sl_cfg_get(entry, "name"));
        if (n && strcmp(n, name) == 0)
            return sl_cfg_get(entry, "options");
    }
    return NULL;
}

/* s_family - the row PREFIX* whose prefix NAME starts with (RBL_* for
 * RBL_ZEN), or NULL. */
static const symbols_row_t *
s_family(const symbols_t *t, const char *name)
{
    for (size_t k = 0; k < t->count; k++) {
        size_t n = strlen(t->rows[k].name);
        if (n > 1 && t->rows[k].name[n - 1] == '*' && strncmp(t->rows[k].name, name, n - 1) == 0)
            return &t->rows[k];
    }
    return NULL;
}

/* s_overrides - weights from MAP (SYMBOL: number) onto the rows; only for
 * stage STAGE when it is not NULL. */
static void
s_overrides(symbols_t *t, const sl_cfg_node_t *map, const char *stage)
{
    for (size_t i = 0; map && i < sl_cfg_count(map); i++) {
        const char *name = sl_cfg_key_at(map, i);
        const char *text = sl_cfg_scalar(sl_cfg_at(map, i));
        char *end;
        double v = text ? strtod(text, &end) : 0;
        if (text == NULL || *end != '\0')
            continue; /* sluice check-config reports it */
        bool found = false;
        for (size_t k = 0; k < t->count; k++) {
            if (strcmp(t->rows[k].name, name) == 0 &&
                (!stage || !strcmp(t->rows[k].stage, stage))) {
                t->rows[k].override = true;
                t->rows[k].used = v;
                found = true;
            }
        }
        if (!found && stage == NULL) {
            const symbols_row_t *family = s_family(t, name);
            if (family)
                s_add(t, name, family->stage, family->weight, family->describe);
            else
                s_add(t, name, "?", "-", "(weight set in config; no description installed)");
            t->rows[t->count - 1].override = true;
            t->rows[t->count - 1].used = v;
        }
    }
}

static int
s_usage(void)
{
    fprintf(stderr, "usage: sluice symbols [-c FILE] [--symbols DIR] [--rules PATH]\n");
    return 2;
}

int
sluice_symbols_main(int argc, char **argv)
{
    const char *config = NULL, *dir = NULL, *rules_path = NULL;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
            config = argv[++i];
        else if (strcmp(argv[i], "--symbols") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc)
            rules_path = argv[++i];
        else
            return s_usage();
    }
    sl_cfg_t *cfg = NULL;
    if (config) {
        char err[1024];
        cfg = sl_cfg_load(config, err, sizeof err);
        if (cfg == NULL) {
            fprintf(stderr, "sluice symbols: %s\n", err);
            return 2;
        }
    }
    const sl_cfg_node_t *score_opts = cfg ? s_stage_options(cfg, "score") : NULL;
    char share_symbols[PATH_MAX], share_rules[PATH_MAX];
    s_share("symbols", share_symbols, sizeof share_symbols);
    s_share("rules", share_rules, sizeof share_rules);
    if (rules_path == NULL && score_opts)
        rules_path = sl_cfg_scalar(sl_cfg_get(score_opts, "rules"));
    if (rules_path == NULL)
        rules_path = share_rules;

    symbols_t t = {0};
    int rc = s_tables(&t, dir ? dir : share_symbols) ? 2 : 0;
    char err[1024];
    score_rules_t *rules = score_rules_load(rules_path, err, sizeof err);
    if (rules == NULL) {
        fprintf(stderr, "sluice symbols: rules: %s\n", err);
        rc = 2;
    }
    for (size_t i = 0; rules && i < score_rules_count(rules); i++) {
        const char *name, *describe;
        double score;
        char weight[32];
        score_rules_at(rules, i, &name, &score, &describe);
        snprintf(weight, sizeof weight, "%g", score);
        s_add(&t, name, "score", weight, describe[0] ? describe : "(no description)");
    }
    score_rules_destroy(&rules);
    if (cfg) {
        s_overrides(&t, sl_cfg_get(s_stage_options(cfg, "url"), "scores"), "url");
        s_overrides(&t, sl_cfg_get(s_stage_options(cfg, "headers"), "scores"), "headers");
        s_overrides(&t, sl_cfg_get(score_opts, "weights"), NULL);
    }

    printf("%-28s %8s %8s  %-8s %s\n", "SYMBOL", "WEIGHT", "DEFAULT", "STAGE", "DESCRIPTION");
    for (size_t i = 0; i < t.count; i++) {
        const symbols_row_t *r = &t.rows[i];
        char used[32];
        if (r->override)
            snprintf(used, sizeof used, "%g", r->used);
        else
            snprintf(used, sizeof used, "%s", r->weight);
        printf("%-28s %8s %8s  %-8s %s\n", r->name, used, r->weight, r->stage, r->describe);
        free(r->name);
        free(r->stage);
        free(r->weight);
        free(r->describe);
    }
    free(t.rows);
    sl_cfg_destroy(&cfg);
    return rc;
}
