/*
 * lib/sl_dqueue.c - queue files: write durably, name deterministically, parse.
 *
 * The durable handoff is the simplest one that survives a crash at any
 * point: write to tmp/, fsync the file, rename into active/, fsync active/.
 * A reader never sees a half-written file; a writer that dies leaves only a
 * tmp/ file behind. Files are our own, but the parser is bounded anyway
 * (a damaged disk is not a reason to crash).
 * Tests: tests/unit/test_sl_dqueue.c
 */
#include "sl_dqueue.h"
#include "sl_cfg.h"
#include "sl_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

int
sl_dqueue_init(const char *dir, const char **why)
{
    char path[4096];
    /* Every missing parent too: the data directory may be fresh. */
    if (sl_fs_mkdirs(dir, 0750) != 0)
        return sl_fail(why, "cannot create the queue directory");
    static const char *const subs[] = {"tmp", "active"};
    for (size_t i = 0; i < 2; i++) {
        if (snprintf(path, sizeof path, "%s/%s", dir, subs[i]) >= (int)sizeof path ||
            sl_fs_mkdirs(path, 0750) != 0)
            return sl_fail(why, "cannot create the queue's tmp/ or active/");
    }
    return 0;
}

static uint64_t
s_fnv(uint64_t h, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

void
sl_dqueue_name(const char *id, const char *const *rcpts, size_t n, const char *variant, char *buf,
               size_t size)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++)
        h = s_fnv(h, rcpts[i], strlen(rcpts[i]) + 1); /* the NUL separates */
    h = s_fnv(h, variant ? variant : "", variant ? strlen(variant) : 0);
    snprintf(buf, size, "%s-%016llx", id, (unsigned long long)h);
}

static bool
s_header_safe(const char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r' || *s == ' ' || *s == '\0')
            return false;
    return true;
}

/* s_write_all - writev until done or an error (short writes are normal). */
static int
s_write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n > 1024 ? 1024 : n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        size_t left = (size_t)w;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

int
sl_dqueue_write(const char *dir, const char *name, const sl_dqueue_hdr_t *hdr,
                const sl_slice_t *parts, size_t n, const char **why)
{
    if (!s_header_safe(hdr->id) || (hdr->from[0] && !s_header_safe(hdr->from)) ||
        hdr->rcpt_count == 0)
        return sl_fail(why, "queue file header value is not safe to write");
    size_t cap = 256 + strlen(hdr->from), used = 0;
    for (size_t i = 0; i < hdr->rcpt_count; i++) {
        if (!s_header_safe(hdr->rcpts[i]))
            return sl_fail(why, "recipient is not safe to write");
        cap += strlen(hdr->rcpts[i]) + 8;
    }
    char *head = sl_xmalloc(cap);
    used = (size_t)snprintf(head, cap, "SLQ1\nid %s\nfrom %s\ncreated %llu\nkind %s\n", hdr->id,
                            hdr->from, (unsigned long long)hdr->created_ms,
                            hdr->kind[0] ? hdr->kind : "mail");
    for (size_t i = 0; i < hdr->rcpt_count; i++)
        used += (size_t)snprintf(head + used, cap - used, "rcpt %s\n", hdr->rcpts[i]);
    used += (size_t)snprintf(head + used, cap - used, "\n");

    char tmp[4096], final[4096];
    if (snprintf(tmp, sizeof tmp, "%s/tmp/%s", dir, name) >= (int)sizeof tmp ||
        snprintf(final, sizeof final, "%s/active/%s", dir, name) >= (int)sizeof final) {
        free(head);
        return sl_fail(why, "queue file path too long");
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        free(head);
        return sl_fail(why, "cannot create a queue file");
    }
    struct iovec *iov = sl_xcalloc(n + 1, sizeof *iov);
    iov[0] = (struct iovec){.iov_base = head, .iov_len = used};
    for (size_t i = 0; i < n; i++)
        iov[i + 1] = (struct iovec){.iov_base = (void *)parts[i].ptr, .iov_len = parts[i].len};
    int rc = s_write_all(fd, iov, (int)n + 1);
    free(iov);
    free(head);
    if (rc != 0 || fsync(fd) != 0) {
        close(fd);
        unlink(tmp);
        return sl_fail(why, "cannot write or fsync a queue file (disk full?)");
    }
    if (close(fd) != 0 || rename(tmp, final) != 0) {
        unlink(tmp);
        return sl_fail(why, "cannot move a queue file into active/");
    }
    return 0;
}

int
sl_dqueue_sync(const char *dir, const char **why)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/active", dir) >= (int)sizeof path)
        return sl_fail(why, "queue path too long");
    return sl_fs_fsync_dir(path) == 0 ? 0 : sl_fail(why, "cannot fsync the queue's active/");
}

void
sl_dqueue_hdr_add_rcpt(sl_dqueue_hdr_t *hdr, const char *rcpt)
{
    hdr->rcpts = sl_xrealloc(hdr->rcpts, (hdr->rcpt_count + 1) * sizeof *hdr->rcpts);
    hdr->rcpts[hdr->rcpt_count++] = sl_xstrdup(rcpt);
}

void
sl_dqueue_hdr_clear(sl_dqueue_hdr_t *hdr)
{
    for (size_t i = 0; i < hdr->rcpt_count; i++)
        free(hdr->rcpts[i]);
    free(hdr->rcpts);
    memset(hdr, 0, sizeof *hdr);
}

/* s_copy_value - VALUE (LEN bytes) into DST of SIZE; -1 when it does not fit. */
static int
s_copy_value(char *dst, size_t size, const char *value, size_t len)
{
    if (len >= size)
        return -1;
    memcpy(dst, value, len);
    dst[len] = '\0';
    return 0;
}

int
sl_dqueue_parse(const char *buf, size_t len, sl_dqueue_hdr_t *hdr, size_t *body_off,
                const char **why)
{
    memset(hdr, 0, sizeof *hdr);
    if (len < 5 || memcmp(buf, "SLQ1\n", 5) != 0)
        return sl_fail(why, "not a queue file (no SLQ1 line)");
    size_t i = 5, limit = len < SL_DQUEUE_HEADER_MAX ? len : SL_DQUEUE_HEADER_MAX;
    while (i < limit) {
        const char *nl = memchr(buf + i, '\n', limit - i);
        if (nl == NULL)
            break;
        size_t line_len = (size_t)(nl - (buf + i));
        const char *line = buf + i;
        i += line_len + 1;
        if (line_len == 0) {
            if (hdr->id[0] == '\0' || hdr->rcpt_count == 0) {
                sl_dqueue_hdr_clear(hdr);
                return sl_fail(why, "queue file without id or recipients");
            }
            *body_off = i;
            return 0;
        }
        const char *sp = memchr(line, ' ', line_len);
        if (sp == NULL)
            continue; /* unknown or damaged line: skip, the schema may grow */
        size_t klen = (size_t)(sp - line), vlen = line_len - klen - 1;
        const char *v = sp + 1;
        int bad = 0;
        if (klen == 2 && memcmp(line, "id", 2) == 0)
            bad = s_copy_value(hdr->id, sizeof hdr->id, v, vlen);
        else if (klen == 4 && memcmp(line, "from", 4) == 0)
            bad = s_copy_value(hdr->from, sizeof hdr->from, v, vlen);
        else if (klen == 4 && memcmp(line, "kind", 4) == 0)
            bad = s_copy_value(hdr->kind, sizeof hdr->kind, v, vlen);
        else if (klen == 7 && memcmp(line, "created", 7) == 0) {
            uint64_t t = 0;
            for (size_t k = 0; k < vlen && !bad; k++) {
                if (v[k] < '0' || v[k] > '9' || t > UINT64_MAX / 10 - 9)
                    bad = 1;
                else
                    t = t * 10 + (uint64_t)(v[k] - '0');
            }
            hdr->created_ms = t;
        } else if (klen == 4 && memcmp(line, "rcpt", 4) == 0) {
            if (vlen == 0 || vlen >= SL_DQUEUE_ADDR_MAX || hdr->rcpt_count >= SL_DQUEUE_RCPTS_MAX)
                bad = 1;
            else {
                char *r = sl_xstrndup(v, vlen);
                sl_dqueue_hdr_add_rcpt(hdr, r);
                free(r);
            }
        }
        if (bad) {
            sl_dqueue_hdr_clear(hdr);
            return sl_fail(why, "queue file header value out of bounds");
        }
    }
    sl_dqueue_hdr_clear(hdr);
    return sl_fail(why, "queue file header has no end");
}

char *
sl_dqueue_read(const char *dir, const char *name, size_t *len, const char **why)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/active/%s", dir, name) >= (int)sizeof path) {
        sl_fail(why, "queue path too long");
        return NULL;
    }
    char *buf = sl_fs_read_file(path, SIZE_MAX - 1, len);
    if (buf == NULL)
        sl_fail(why, errno == ENOENT ? "queue file is gone"
                     : errno == EIO  ? "short read of a queue file"
                                     : "cannot open a queue file");
    return buf;
}

int
sl_dqueue_dir(sl_cfg_t *cfg, const char *data_dir, char *buf, size_t size)
{
    char def[4096];
    if (snprintf(def, sizeof def, "%s/delivery", data_dir) >= (int)sizeof def)
        return -1;
    const sl_cfg_node_t *delivery = cfg ? sl_cfg_get(sl_cfg_root(cfg), "delivery") : NULL;
    if (delivery && sl_cfg_kind(delivery) != SL_CFG_MAP)
        delivery = NULL;
    const char *dir = delivery ? sl_cfg_get_str(cfg, delivery, "queue_dir", def) : def;
    return sl_strlcpy(buf, dir, size) >= size ? -1 : 0;
}
