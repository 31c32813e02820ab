/*
 * smtpd/smtpd_spool.c - the durable spool: one file per accepted message.
 *
 * Write to tmp/, fsync, rename, fsync the directory: the rename is the commit
 * point, so a reader never sees half a message and a crash leaves at most a
 * stray tmp file, removed on the next start. Format: smtpd_spool.h.
 * Tests: tests/unit/test_smtpd_spool.c
 */
#include "smtpd_spool.h"
#include "sl_fs.h"

#include "sl_env.h"
#include "sl_mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

int
smtpd_spool_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > SL_ENV_ID_MAX || id[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int
smtpd_spool_path(char *out, size_t size, const char *dir, const char *subdir, const char *id)
{
    int n = subdir ? snprintf(out, size, "%s/%s/%s", dir, subdir, id)
                   : snprintf(out, size, "%s/%s", dir, id);
    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

/* s_mkdir - the spool and its folders: private to the sluice user. */
static int
s_mkdir(const char *path)
{
    return sl_fs_mkdirs(path, 0700);
}

static void
s_clear_tmp(const char *id, void *ctx)
{
    smtpd_spool_remove((const char *)ctx, "tmp", id);
}

int
smtpd_spool_init(const char *dir, const char **why)
{
    char path[4096];
    if (s_mkdir(dir) != 0)
        return sl_fail(why, "cannot create spool directory");
    if (smtpd_spool_path(path, sizeof path, dir, NULL, "tmp") != 0 || s_mkdir(path) != 0)
        return sl_fail(why, "cannot create spool tmp directory");
    if (smtpd_spool_path(path, sizeof path, dir, NULL, "archive") != 0 || s_mkdir(path) != 0)
        return sl_fail(why, "cannot create spool archive directory");
    if (smtpd_spool_path(path, sizeof path, dir, NULL, "replica") != 0 || s_mkdir(path) != 0)
        return sl_fail(why, "cannot create spool replica directory");
    if (access(dir, W_OK) != 0)
        return sl_fail(why, "spool directory is not writable");
    smtpd_spool_each(dir, "tmp", s_clear_tmp, (void *)dir);
    return 0;
}

static void
s_put_be(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        p[i] = (unsigned char)(v & 0xff);
        v >>= 8;
    }
}

static uint64_t
s_get_be(const unsigned char *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = (v << 8) | p[i];
    return v;
}

void
smtpd_spool_header(unsigned char *out, size_t env_len, uint64_t body_len)
{
    memcpy(out, SMTPD_SPOOL_MAGIC, 8);
    s_put_be(out + 8, env_len, 4);
    s_put_be(out + 12, body_len, 8);
}

int
smtpd_spool_write(const char *dir, const char *subdir, const char *id, const void *env,
                  size_t env_len, const void *head, size_t head_len, const void *body,
                  size_t body_len, int sync, const char **why)
{
    char tmp[4096], final[4096], final_dir[4096];
    if (!smtpd_spool_id_ok(id))
        return sl_fail(why, "bad queue id");
    if (env_len > SL_ENV_BYTES_MAX || head_len > SIZE_MAX - body_len)
        return sl_fail(why, "envelope or body too large");
    if (smtpd_spool_path(tmp, sizeof tmp, dir, "tmp", id) != 0 ||
        smtpd_spool_path(final, sizeof final, dir, subdir, id) != 0 ||
        smtpd_spool_path(final_dir, sizeof final_dir, dir, NULL, subdir ? subdir : ".") != 0)
        return sl_fail(why, "spool path too long");
    unsigned char hdr[SMTPD_SPOOL_HEADER];
    smtpd_spool_header(hdr, env_len, (uint64_t)head_len + body_len);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return sl_fail(why, errno == ENOSPC ? "disk full" : "cannot create spool file");
    struct iovec iov[4] = {{hdr, sizeof hdr},
                           {(void *)env, env_len},
                           {(void *)head, head_len},
                           {(void *)body, body_len}};
    int iovcnt = 4, idx = 0;
    const char *fail = NULL;
    while (idx < iovcnt) {
        ssize_t n = writev(fd, iov + idx, iovcnt - idx);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail = errno == ENOSPC ? "disk full" : "spool write failed";
            break;
        }
        size_t left = (size_t)n;
        while (idx < iovcnt && left >= iov[idx].iov_len) {
            left -= iov[idx].iov_len;
            idx++;
        }
        if (idx < iovcnt) {
            iov[idx].iov_base = (char *)iov[idx].iov_base + left;
            iov[idx].iov_len -= left;
        }
    }
    if (fail == NULL && sync && fdatasync(fd) != 0)
        fail = errno == ENOSPC ? "disk full" : "fsync of spool file failed";
    if (close(fd) != 0 && fail == NULL)
        fail = "close of spool file failed";
    if (fail == NULL && rename(tmp, final) != 0)
        fail = "rename into spool failed";
    if (fail == NULL && sync && sl_fs_fsync_dir(final_dir) != 0)
        fail = "fsync of spool directory failed";
    if (fail != NULL) {
        unlink(tmp);
        return sl_fail(why, fail);
    }
    return 0;
}

int
smtpd_spool_parse(const void *buf, size_t len, const void **env, size_t *env_len, const void **body,
                  size_t *body_len, const char **why)
{
    const unsigned char *p = buf;
    if (len < SMTPD_SPOOL_HEADER || memcmp(p, SMTPD_SPOOL_MAGIC, 8) != 0)
        return sl_fail(why, "not a spool file");
    uint64_t el = s_get_be(p + 8, 4), bl = s_get_be(p + 12, 8);
    size_t rest = len - SMTPD_SPOOL_HEADER;
    if (el > SL_ENV_BYTES_MAX || el > rest || bl != rest - el)
        return sl_fail(why, "spool file lengths do not match its size");
    *env = p + SMTPD_SPOOL_HEADER;
    *env_len = (size_t)el;
    *body = p + SMTPD_SPOOL_HEADER + el;
    *body_len = (size_t)bl;
    return 0;
}

int
smtpd_spool_body_range(const char *path, uint64_t *offset, uint64_t *length, const char **why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sl_fail(why, errno == ENOENT ? "no such spool entry" : "cannot open spool file");
    unsigned char h[SMTPD_SPOOL_HEADER];
    struct stat st;
    ssize_t n = pread(fd, h, sizeof h, 0);
    int ok = n == (ssize_t)sizeof h && fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    if (!ok || memcmp(h, SMTPD_SPOOL_MAGIC, 8) != 0)
        return sl_fail(why, "not a spool file");
    uint64_t el = s_get_be(h + 8, 4), bl = s_get_be(h + 12, 8);
    uint64_t rest = (uint64_t)st.st_size - SMTPD_SPOOL_HEADER;
    if (el > SL_ENV_BYTES_MAX || el > rest || bl != rest - el)
        return sl_fail(why, "spool file lengths do not match its size");
    *offset = SMTPD_SPOOL_HEADER + el;
    *length = bl;
    return 0;
}

int
smtpd_spool_load(const char *path, void **buf, size_t *len, const char **why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sl_fail(why, errno == ENOENT ? "no such spool entry" : "cannot open spool file");
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > SIZE_MAX / 2) {
        close(fd);
        return sl_fail(why, "spool entry is not a regular file");
    }
    size_t want = (size_t)st.st_size, got = 0;
    char *data = sl_xmalloc(want ? want : 1);
    while (got < want) {
        ssize_t n = read(fd, data + got, want - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got != want) {
        free(data);
        return sl_fail(why, "short read of spool file");
    }
    *buf = data;
    *len = got;
    return 0;
}

int
smtpd_spool_remove(const char *dir, const char *subdir, const char *id)
{
    char path[4096];
    if (!smtpd_spool_id_ok(id) || smtpd_spool_path(path, sizeof path, dir, subdir, id) != 0)
        return -1;
    if (unlink(path) != 0 && errno != ENOENT)
        return -1;
    return 0;
}

static int
s_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

long
smtpd_spool_each(const char *dir, const char *subdir, smtpd_spool_fn fn, void *ctx)
{
    char path[4096];
    if (smtpd_spool_path(path, sizeof path, dir, NULL, subdir ? subdir : ".") != 0)
        return -1;
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!smtpd_spool_id_ok(e->d_name) || strcmp(e->d_name, "tmp") == 0 ||
            strcmp(e->d_name, "archive") == 0 || strcmp(e->d_name, "replica") == 0)
            continue;
        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            names = sl_xrealloc(names, cap * sizeof *names);
        }
        names[count++] = sl_xstrdup(e->d_name);
    }
    closedir(d);
    if (count > 0)
        qsort(names, count, sizeof *names, s_cmp);
    for (size_t i = 0; i < count; i++) {
        fn(names[i], ctx);
        free(names[i]);
    }
    free(names);
    return (long)count;
}
