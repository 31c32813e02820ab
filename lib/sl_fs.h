/*
 * lib/sl_fs.h - durable file system steps shared by the spool, the delivery
 * queue, the quarantine store and the supervisor.
 *
 * A file is durable once it is written, fsync'd, renamed into place and its
 * directory fsync'd; these are the pieces every writer of such files uses.
 * Tests: tests/unit/test_sl_fs.c
 */
#ifndef SL_FS_H
#define SL_FS_H

#include <stddef.h>
#include <sys/types.h>

/* sl_fs_mkdirs - creates PATH and any missing parents with MODE; 0 when it
 * exists afterwards (as a directory), -1 with errno otherwise. */
int sl_fs_mkdirs(const char *path, mode_t mode);
/* sl_fs_fsync_dir - fsyncs the directory PATH (makes renames in it durable). */
int sl_fs_fsync_dir(const char *path);
/* sl_fs_write_all - writes LEN bytes, retrying short writes and EINTR; 0 or -1. */
int sl_fs_write_all(int fd, const void *buf, size_t len);
/* sl_fs_read_file - the whole regular file PATH, at most MAX bytes, into a
 * malloc'd buffer with a NUL after the end (caller frees), its length in
 * *len. NULL with errno (ENOENT: gone, EFBIG: over MAX, EIO: short read). */
char *sl_fs_read_file(const char *path, size_t max, size_t *len);

#endif
