/*
 * lib/sl_bodyfile.c - parse, open, read and map a body file reference.
 *
 * The reference text comes from a peer: digits are counted, the sum of
 * offset and length is checked for overflow and against the file's size
 * before any byte is read or mapped. Tests: tests/unit/test_sl_bodyfile.c,
 * tests/fuzz/fuzz_sl_bodyfile.c
 */
#include "sl_bodyfile.h"
#include "sl_mem.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* s_number - decimal digits at *P (before END) up to a space; at most 19. */
static int
s_number(const char **p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    size_t n = 0;
    while (*p < end && **p >= '0' && **p <= '9') {
        if (++n > 19)
            return -1;
        v = v * 10 + (uint64_t) (**p - '0');
        (*p)++;
    }
    if (n == 0 || *p >= end || **p != ' ')
        return -1;
    (*p)++;
    *out = v;
    return 0;
}

int
sl_bodyfile_parse(const void *ref, size_t len, sl_bodyfile_ref_t *out, const char **why)
{
    const char *p = ref, *end = p + len;
    if (len == 0 || len > SL_BODYFILE_REF_MAX)
        return sl_fail(why, "body file reference empty or too long");
    if (s_number(&p, end, &out->offset) != 0 || s_number(&p, end, &out->length) != 0)
        return sl_fail(why, "body file reference: OFFSET LENGTH PATH expected");
    if (out->offset > UINT64_MAX - out->length)
        return sl_fail(why, "body file reference: range overflows");
    size_t plen = (size_t) (end - p);
    if (plen == 0 || plen > SL_BODYFILE_PATH_MAX || p[0] != '/')
        return sl_fail(why, "body file reference: absolute path expected");
    if (memchr(p, '\0', plen) != NULL)
        return sl_fail(why, "body file reference: NUL in path");
    memcpy(out->path, p, plen);
    out->path[plen] = '\0';
    if (strstr(out->path, "/../") != NULL ||
        (plen >= 3 && strcmp(out->path + plen - 3, "/..") == 0))
        return sl_fail(why, "body file reference: \"..\" in path");
    return 0;
}

int
sl_bodyfile_format(const sl_bodyfile_ref_t *ref, char *out, size_t size)
{
    if (ref->path[0] != '/')
        return -1;
    int n = snprintf(out, size, "%llu %llu %s", (unsigned long long) ref->offset,
                     (unsigned long long) ref->length, ref->path);
    return n < 0 || (size_t) n >= size ? -1 : n;
}

int
sl_bodyfile_open(const sl_bodyfile_ref_t *ref, const char **why)
{
    int fd = open(ref->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
    if (fd < 0)
        return sl_fail(why, errno == ENOENT ? "body file: no such file"
                            : errno == EMFILE || errno == ENFILE ? "body file: too many open files"
                            : errno == ELOOP ? "body file: a symbolic link"
                            : "body file: cannot open");
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sl_fail(why, "body file: not a regular file");
    }
    if (ref->offset + ref->length > (uint64_t) st.st_size) {
        close(fd);
        return sl_fail(why, "body file: range past the end of the file");
    }
    return fd;
}

int
sl_bodyfile_read(int fd, const sl_bodyfile_ref_t *ref, void *buf, const char **why)
{
    size_t done = 0;
    while (done < ref->length) {
        ssize_t n = pread(fd, (char *) buf + done, (size_t) ref->length - done,
                          (off_t) (ref->offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return sl_fail(why, "body file: short read");
        done += (size_t) n;
    }
    return 0;
}

/* The read buffer of each thread (pthread key: freed when the thread ends). */
typedef struct {
    size_t cap;
    char data[];
} s_buffer_t;

static pthread_key_t s_buffer_key;
static pthread_once_t s_buffer_once = PTHREAD_ONCE_INIT;

static void
s_buffer_key_make(void)
{
    if (pthread_key_create(&s_buffer_key, free) != 0)
        sl_panic("pthread_key_create failed");
}

/* s_thread_buffer - this thread's buffer, grown to at least LEN bytes. */
static char *
s_thread_buffer(size_t len)
{
    pthread_once(&s_buffer_once, s_buffer_key_make);
    s_buffer_t *b = pthread_getspecific(s_buffer_key);
    if (b == NULL || b->cap < len) {
        size_t cap = b ? b->cap : 65536;
        while (cap < len)
            cap *= 2;
        free(b);
        b = sl_xmalloc(sizeof *b + cap);
        b->cap = cap;
        pthread_setspecific(s_buffer_key, b);
    }
    return b->data;
}

int
sl_bodyfile_map(const sl_bodyfile_ref_t *ref, size_t max_len, sl_bodyfile_map_t *out,
                const char **why)
{
    memset(out, 0, sizeof *out);
    if (ref->length > max_len)
        return sl_fail(why, "body file: range larger than a body may be");
    int fd = sl_bodyfile_open(ref, why);
    if (fd < 0)
        return -1;
    if (ref->length == 0) {
        close(fd);
        out->data = "";
        return 0;
    }
    if (ref->length <= SL_BODYFILE_READ_MAX) {
        /* One pread into a buffer this thread keeps: cheaper than a mapping
         * for mail-sized bodies (no page faults, no TLB shootdown at munmap
         * in a process with several threads), and the bytes arrive in cache. */
        char *buf = s_thread_buffer((size_t) ref->length);
        int rc = sl_bodyfile_read(fd, ref, buf, why);
        close(fd);
        if (rc != 0)
            return -1;
        out->data = buf;
        out->len = (size_t) ref->length;
        return 0;
    }
    long page = sysconf(_SC_PAGESIZE);
    uint64_t start = ref->offset - ref->offset % (uint64_t) (page > 0 ? page : 4096);
    size_t skip = (size_t) (ref->offset - start);
    size_t map_len = skip + (size_t) ref->length;
    void *base = mmap(NULL, map_len, PROT_READ, MAP_PRIVATE, fd, (off_t) start);
    close(fd);
    if (base == MAP_FAILED)
        return sl_fail(why, "body file: cannot map");
    out->base = base;
    out->map_len = map_len;
    out->data = (const char *) base + skip;
    out->len = (size_t) ref->length;
    return 0;
}

void
sl_bodyfile_unmap(sl_bodyfile_map_t *map)
{
    if (map->base)
        munmap(map->base, map->map_len);
    memset(map, 0, sizeof *map);
}
