/*
 * supervisor/sluice_learn.c - `sluice learn`: train the score stage's Bayes classifier.
 *
 * Reads messages from files, mboxes ("From " lines split messages) and
 * maildirs or folders of files, and counts their tokens as spam or ham in
 * the store the score stage reads (its bayes.store option, else
 * sqlite:DATA_DIR/bayes.db). Learning is in transactions of
 * LEARN_BATCH messages. Messages over LEARN_MESSAGE_MAX are skipped.
 * Tests: tests/e2e/test_score.py (learn, then classify)
 */
#include "sluice_learn.h"
#include "score_bayes.h"
#include "sl_cfg.h"
#include "sl_mem.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LEARN_BATCH 500               /* messages per transaction */
#define LEARN_MESSAGE_MAX (32u << 20) /* one message file */
#define LEARN_MBOX_MAX (1u << 30)     /* one mbox file */

typedef struct {
    score_bayes_t *bayes;
    bool spam;
    size_t learned;  /* messages counted */
    size_t failed;   /* unreadable or store errors */
    size_t in_batch; /* since the last commit */
} learn_t;

static void
s_one(learn_t *l, const char *msg, size_t len)
{
    if (l->in_batch == 0)
        score_bayes_begin(l->bayes);
    if (score_bayes_learn(l->bayes, msg, len, l->spam) == 0)
        l->learned++;
    else
        l->failed++;
    if (++l->in_batch == LEARN_BATCH) {
        score_bayes_commit(l->bayes);
        l->in_batch = 0;
    }
}

/* s_read - the whole file PATH (caller frees), at most MAX octets; NULL on error. */
static char *
s_read(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        fclose(f);
        return NULL;
    }
    char *buf = sl_xmalloc((size_t)st.st_size + 1);
    *len = fread(buf, 1, (size_t)st.st_size, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void
s_file(learn_t *l, const char *path)
{
    size_t len;
    char *buf = s_read(path, LEARN_MBOX_MAX, &len);
    if (buf == NULL) {
        fprintf(stderr, "sluice learn: %s: cannot read (or too large)\n", path);
        l->failed++;
        return;
    }
    if (len >= 5 && memcmp(buf, "From ", 5) == 0) { /* mbox: split at "\nFrom " */
        size_t start = 0;
        while (start < len) {
            const char *next = NULL;
            for (const char *p = buf + start; (p = memchr(p, '\n', len - (size_t)(p - buf))); p++) {
                if ((size_t)(p - buf) + 6 <= len && memcmp(p + 1, "From ", 5) == 0) {
                    next = p + 1;
                    break;
                }
            }
            size_t end = next ? (size_t)(next - buf) : len;
            const char *body = memchr(buf + start, '\n', end - start); /* skip the From_ line */
            if (body && end - start <= LEARN_MESSAGE_MAX)
                s_one(l, body + 1, end - (size_t)(body + 1 - buf));
            start = end;
        }
    } else if (len <= LEARN_MESSAGE_MAX) {
        s_one(l, buf, len);
    }
    free(buf);
}

static int
s_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* s_dir - every regular file of DIR (maildir: of DIR/cur and DIR/new), in name order. */
static void
s_dir(learn_t *l, const char *dir, bool top)
{
    char sub[PATH_MAX];
    struct stat st;
    if (top && snprintf(sub, sizeof sub, "%s/cur", dir) < (int)sizeof sub && stat(sub, &st) == 0 &&
        S_ISDIR(st.st_mode)) {
        s_dir(l, sub, false);
        snprintf(sub, sizeof sub, "%s/new", dir);
        if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            s_dir(l, sub, false);
        return;
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "sluice learn: %s: %s\n", dir, strerror(errno));
        l->failed++;
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            names = sl_xrealloc(names, cap * sizeof *names);
        }
        names[n++] = sl_xstrdup(e->d_name);
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof *names, s_cmp);
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(sub, sizeof sub, "%s/%s", dir, names[i]);
        if (w > 0 && (size_t)w < sizeof sub && stat(sub, &st) == 0 && S_ISREG(st.st_mode))
            s_file(l, sub);
        free(names[i]);
    }
    free(names);
}

static int
s_usage(void)
{
    fprintf(stderr, "usage: sluice learn [-c FILE] [--store URL] --spam|--ham PATH...\n"
                    "       sluice learn [-c FILE] [--store URL] --stats\n");
    return 2;
}

int
sluice_learn_main(int argc, char **argv)
{
    const char *config = NULL, *store = NULL;
    int mode = 0; /* 1 spam, 2 ham, 3 stats */
    int first_path = argc;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
            config = argv[++i];
        else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc)
            store = argv[++i];
        else if (mode == 0 && strcmp(argv[i], "--spam") == 0)
            mode = 1;
        else if (mode == 0 && strcmp(argv[i], "--ham") == 0)
            mode = 2;
        else if (mode == 0 && strcmp(argv[i], "--stats") == 0)
            mode = 3;
        else if (argv[i][0] != '-' && (mode == 1 || mode == 2)) {
            first_path = i;
            break;
        } else
            return s_usage();
    }
    if (mode == 0 || (mode != 3 && first_path == argc))
        return s_usage();
    char url[PATH_MAX + 16] = "sqlite:/var/lib/sluice/bayes.db", err[1024];
    sl_cfg_t *cfg = NULL;
    if (config) {
        cfg = sl_cfg_load(config, err, sizeof err);
        if (cfg == NULL) {
            fprintf(stderr, "sluice learn: %s\n", err);
            return 2;
        }
        const char *data_dir = sl_cfg_scalar(sl_cfg_get(sl_cfg_root(cfg), "data_dir"));
        if (data_dir)
            snprintf(url, sizeof url, "sqlite:%s/bayes.db", data_dir);
        const sl_cfg_node_t *stages = sl_cfg_get(sl_cfg_root(cfg), "stages");
        for (size_t i = 0; stages && i < sl_cfg_count(stages); i++) {
            const sl_cfg_node_t *entry = sl_cfg_at(stages, i);
            const char *name = sl_cfg_scalar(sl_cfg_get(entry, "name"));
            const char *s = sl_cfg_scalar(sl_cfg_get(entry, "options.bayes.store"));
            if (name && strcmp(name, "score") == 0 && s)
                sl_strlcpy(url, s, sizeof url);
        }
    }
    if (store)
        sl_strlcpy(url, store, sizeof url);
    sl_cfg_destroy(&cfg);
    learn_t l = {.bayes = score_bayes_open(url, err, sizeof err), .spam = mode == 1};
    if (l.bayes == NULL) {
        fprintf(stderr, "sluice learn: %s\n", err);
        return 2;
    }
    int rc = 0;
    if (mode == 3) {
        int64_t spam, ham, tokens;
        if (score_bayes_stats(l.bayes, &spam, &ham, &tokens) != 0) {
            fprintf(stderr, "sluice learn: cannot read %s\n", url);
            rc = 2;
        } else {
            printf("store %s\nspam %lld\nham %lld\ntokens %lld\n", url, (long long)spam,
                   (long long)ham, (long long)tokens);
        }
    } else {
        for (int i = first_path; i < argc; i++) {
            struct stat st;
            if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
                s_dir(&l, argv[i], true);
            else
                s_file(&l, argv[i]);
        }
        if (l.in_batch > 0)
            score_bayes_commit(l.bayes);
        printf("learned %zu %s messages%s\n", l.learned, l.spam ? "spam" : "ham",
               l.failed ? " (some failed)" : "");
        rc = l.failed ? 1 : 0;
    }
    score_bayes_close(&l.bayes);
    return rc;
}
