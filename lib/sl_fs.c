/*
 * lib/sl_fs.c - mkdir -p, directory fsync, complete writes and whole-file reads (see sl_fs.h).
 */
#include "sl_fs.h"
#include "sl_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
sl_fs_mkdirs(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    int n = snprintf(buf, sizeof buf, "%s", path);
    if (n <= 0 || (size_t) n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, mode); /* an existing parent is fine; the last mkdir decides */
            *p = '/';
        }
    }
    if (mkdir(buf, mode) == 0)
        return 0;
    struct stat st;
    if (errno == EEXIST && stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    return -1;
}

int
sl_fs_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int
sl_fs_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t) w;
    }
    return 0;
}

char *
sl_fs_read_file(const char *path, size_t max, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    int e = 0;
    if (fstat(fd, &st) != 0)
        e = errno;
    else if (!S_ISREG(st.st_mode) || st.st_size < 0)
        e = EINVAL;
    else if ((uint64_t) st.st_size > max)
        e = EFBIG;
    if (e != 0) {
        close(fd);
        errno = e;
        return NULL;
    }
    size_t size = (size_t) st.st_size, got = 0;
    char *buf = sl_xmalloc(size + 1);
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t) n;
    }
    close(fd);
    if (got != size) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[size] = '\0';
    *len = size;
    return buf;
}
