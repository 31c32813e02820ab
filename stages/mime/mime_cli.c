/*
 * stages/mime/mime_cli.c - sluice-mime-scan: the mime stage's decoder on files, no broker.
 *
 * Usage: sluice-mime-scan [-v] FILE...   one line per file:
 *   FILE parts=N depth=D decoded=B members=M limits=L ms=T symbols=A,B class=C
 * and with -v one indented line per part (path, true type, size, name).
 * For the corpus table in tests/e2e/test_content.py and bench/content.sh, and
 * for an operator asking "what does mime see in this message?". Exit 0 when
 * every file was read, 1 otherwise.
 */
#include "mime.h"
#include "sl_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *
s_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 65536;
    unsigned char *buf = sl_xmalloc(cap);
    *len = 0;
    size_t n;
    while ((n = fread(buf + *len, 1, cap - *len, f)) > 0) {
        *len += n;
        if (*len == cap) {
            cap *= 2;
            buf = sl_xrealloc(buf, cap);
        }
    }
    fclose(f);
    return buf;
}

int
main(int argc, char **argv)
{
    int verbose = 0, failed = 0;
    mime_limits_t lim;
    mime_limits_default(&lim);
    mime_global_init();
    const char *why = NULL;
    mime_magic_t *magic = mime_magic_new(&why);
    if (magic == NULL) {
        fprintf(stderr, "sluice-mime-scan: %s\n", why);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            verbose = 1;
            continue;
        }
        size_t len = 0;
        unsigned char *raw = s_slurp(argv[i], &len);
        if (raw == NULL) {
            fprintf(stderr, "sluice-mime-scan: cannot read %s\n", argv[i]);
            failed = 1;
            continue;
        }
        uint64_t t0 = sl_mono_us();
        mime_result_t res;
        mime_scan(raw, len, &lim, magic, &res);
        double ms = (double) (sl_mono_us() - t0) / 1000.0;
        mime_class_t worst = MIME_CLASS_NONE;
        printf("%s parts=%zu depth=%d decoded=%zu members=%zu limits=%u ms=%.2f symbols=", argv[i],
               res.part_count, res.depth_seen, res.decoded, res.members, res.limit_hits, ms);
        for (size_t k = 0; k < res.finding_count; k++) {
            printf("%s%s", k ? "," : "", res.findings[k].symbol);
            if (res.findings[k].class_hint > worst)
                worst = res.findings[k].class_hint;
        }
        printf(" class=%s\n", worst ? mime_class_name(worst) : "none");
        for (size_t k = 0; verbose && k < res.part_count; k++)
            printf("  %s %s %zu \"%s\"\n", res.parts[k].path, res.parts[k].true_type,
                   res.parts[k].size, res.parts[k].name);
        for (size_t k = 0; verbose && k < res.finding_count; k++)
            printf("  ! %s %s\n", res.findings[k].symbol, res.findings[k].info);
        mime_result_free(&res);
        free(raw);
    }
    mime_magic_destroy(&magic);
    mime_limits_free(&lim);
    return failed;
}
