/*
 * lib/sl_quarstore.c - quarantine files and index (see sl_quarstore.h).
 *
 * Tests: tests/e2e/test_delivery.py
 */
#include "sl_quarstore.h"
#include "sl_fs.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const s_migrations[] = {
    "CREATE TABLE quarantine (id TEXT NOT NULL, rcpt TEXT NOT NULL, time_ms INTEGER NOT NULL,"
    " sender TEXT, subject TEXT, classification TEXT, score REAL, reason TEXT, path TEXT,"
    " released_ms INTEGER, PRIMARY KEY (id, rcpt));"
    "CREATE INDEX quarantine_rcpt ON quarantine (rcpt, time_ms);"
    "CREATE INDEX quarantine_time ON quarantine (time_ms);",
    /* 2: rcpt_domain (lower-case domain of rcpt, after its last '@'; "" when
     * none) for the domain admins' scope, filled for the rows already there
     * with functions both backends have; indexes that hold every column a
     * page's keys need, in the order of the listing (time_ms, id, rcpt). */
    "ALTER TABLE quarantine ADD COLUMN rcpt_domain TEXT;"
    "UPDATE quarantine SET rcpt_domain = CASE WHEN rcpt LIKE '%@%'"
    " THEN lower(substr(rcpt, length(rtrim(rcpt, replace(rcpt, '@', ''))) + 1)) ELSE '' END;"
    "CREATE INDEX quarantine_domain_time ON quarantine (rcpt_domain, time_ms, id, rcpt);"
    "CREATE INDEX quarantine_rcpt_time ON quarantine (rcpt, time_ms, id);"
    "CREATE INDEX quarantine_time_id ON quarantine (time_ms, id, rcpt);"
    "DROP INDEX quarantine_rcpt;"
    "DROP INDEX quarantine_time;",
};

int
sl_quarstore_migrate(sl_store_t *store)
{
    return sl_store_migrate(store, "quarantine", s_migrations,
                            sizeof s_migrations / sizeof s_migrations[0]);
}

int
sl_quarstore_write(const char *dir, const char *id, sl_slice_t body, char *path, size_t size,
                   const char **why)
{
    char tmp_dir[4096], msg_dir[4096], tmp[4096];
    if (snprintf(tmp_dir, sizeof tmp_dir, "%s/tmp", dir) >= (int)sizeof tmp_dir ||
        snprintf(msg_dir, sizeof msg_dir, "%s/msg", dir) >= (int)sizeof msg_dir ||
        snprintf(tmp, sizeof tmp, "%s/%s.eml", tmp_dir, id) >= (int)sizeof tmp ||
        snprintf(path, size, "%s/%s.eml", msg_dir, id) >= (int)size)
        return sl_fail(why, "quarantine path too long");
    if (sl_fs_mkdirs(tmp_dir, 0750) != 0 || sl_fs_mkdirs(msg_dir, 0750) != 0)
        return sl_fail(why, "cannot create the quarantine directories");
    if (access(path, F_OK) == 0)
        return 0; /* the same queue id: already held, durably */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return sl_fail(why, "cannot create a quarantine file");
    if (sl_fs_write_all(fd, body.ptr, body.len) != 0 || fsync(fd) != 0) {
        close(fd);
        unlink(tmp);
        return sl_fail(why, "cannot write or fsync a quarantine file (disk full?)");
    }
    if (close(fd) != 0 || rename(tmp, path) != 0 || sl_fs_fsync_dir(msg_dir) != 0) {
        unlink(tmp);
        return sl_fail(why, "cannot move a quarantine file into msg/");
    }
    return 0;
}

void
sl_quarstore_domain(const char *rcpt, char *buf, size_t size)
{
    const char *at = strrchr(rcpt, '@');
    size_t n = 0;
    if (size == 0)
        return;
    for (const char *p = at ? at + 1 : ""; *p && n + 1 < size; p++)
        buf[n++] = (char)tolower((unsigned char)*p);
    buf[n] = '\0';
}

int
sl_quarstore_index(sl_store_t *store, const sl_quarstore_rec_t *rec)
{
    char t[24], score[32], domain[SL_QUARSTORE_DOMAIN_MAX];
    sl_quarstore_domain(rec->rcpt, domain, sizeof domain);
    snprintf(t, sizeof t, "%llu", (unsigned long long)rec->time_ms);
    snprintf(score, sizeof score, "%.3f", rec->score);
    const char *p[] = {
        rec->id, rec->rcpt,   t,         rec->sender, rec->subject, rec->classification,
        score,   rec->reason, rec->path, domain};
    return sl_store_exec(store,
                         "INSERT INTO quarantine (id, rcpt, time_ms, sender, subject,"
                         " classification, score, reason, path, rcpt_domain)"
                         " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id, rcpt) DO NOTHING",
                         p, 10) == 0
               ? 0
               : -1;
}
