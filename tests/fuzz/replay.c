/*
 * tests/fuzz/replay.c - runs a fuzz target over files without libFuzzer.
 *
 * Linked with each fuzz_*.c in ordinary builds so that every seed (and every
 * crash reproducer added to tests/fuzz/corpus/) runs under ctest, ASan included.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
s_run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap);
            if (buf == NULL)
                abort();
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        if (n == 0)
            break;
        len += n;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

int
main(int argc, char **argv)
{
    int runs = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: missing\n", argv[i]);
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;
            while (d && (e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.')
                    continue;
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
                if (s_run_file(path) == 0)
                    runs++;
            }
            if (d)
                closedir(d);
        } else if (s_run_file(argv[i]) == 0) {
            runs++;
        }
    }
    /* Also a few generated inputs, so an empty seed folder still exercises the target. */
    uint8_t gen[256];
    for (unsigned seed = 0; seed < 2000; seed++) {
        srand(seed);
        size_t n = (size_t) (rand() % (int) sizeof gen);
        for (size_t i = 0; i < n; i++)
            gen[i] = (uint8_t) rand();
        LLVMFuzzerTestOneInput(gen, n);
        runs++;
    }
    printf("replay: %d inputs ran\n", runs);
    return 0;
}
