/*
 * smtpd/smtpd_spool.h - the durable spool: one file per accepted message.
 *
 * File DIR/ID, written as DIR/tmp/ID, fsync'd, renamed into place and the
 * directory fsync'd: a file under DIR is complete and durable, or absent.
 * Format (all integers big-endian):
 *
 *   "SLSPOOL1"   8 bytes magic
 *   env_len      4 bytes, at most SL_ENV_BYTES_MAX
 *   body_len     8 bytes
 *   env          env_len bytes: the msgpack envelope (sl_env_encode)
 *   body         body_len bytes: the raw message, Received header first
 *
 * The archive (DIR/archive/ID) uses the same format with the final envelope;
 * DIR/replica/ID holds copies a primary smtpd sent us (smtpd_replica.c).
 * File contents are trusted no further than their lengths are checked.
 * Tests: tests/unit/test_smtpd_spool.c
 */
#ifndef SMTPD_SPOOL_H
#define SMTPD_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#define SMTPD_SPOOL_MAGIC "SLSPOOL1"
#define SMTPD_SPOOL_HEADER 20 /* magic + env_len + body_len */

/* smtpd_spool_header - the 20-byte file header for ENV_LEN and BODY_LEN into OUT. */
void smtpd_spool_header(unsigned char *out, size_t env_len, uint64_t body_len);

/* smtpd_spool_init - creates DIR, DIR/tmp, DIR/archive and DIR/replica (0700) and
 * empties DIR/tmp (half-written files of a crash); -1 with *why. */
int smtpd_spool_init(const char *dir, const char **why);

/* smtpd_spool_write - durably writes ENV and the body (HEAD then BODY, so a
 * Received header needs no copy of the message) as SUBDIR/ID under DIR
 * (SUBDIR NULL = the spool itself, "archive" for the archive). With SYNC the
 * file and the directory are fsync'd before it returns 0. -1 with *why
 * (disk full, I/O error): the message is not safe. */
int smtpd_spool_write(const char *dir, const char *subdir, const char *id, const void *env,
                      size_t env_len, const void *head, size_t head_len, const void *body,
                      size_t body_len, int sync, const char **why);

/* smtpd_spool_parse - checks a whole spool file image; 0 with the envelope
 * and body as pointers into BUF, or -1 with *why. */
int smtpd_spool_parse(const void *buf, size_t len, const void **env, size_t *env_len,
                      const void **body, size_t *body_len, const char **why);

/* smtpd_spool_body_range - where the body lies inside spool file PATH: its
 * header read and checked against the file's size, as smtpd_spool_parse
 * does. 0 with *OFFSET and *LENGTH, or -1 with *why. */
int smtpd_spool_body_range(const char *path, uint64_t *offset, uint64_t *length, const char **why);

/* smtpd_spool_load - reads file PATH whole; 0 with *buf (caller frees) and
 * *len, -1 with *why. Files over SIZE_MAX bytes are refused. */
int smtpd_spool_load(const char *path, void **buf, size_t *len, const char **why);

/* smtpd_spool_path - "DIR/ID" or "DIR/SUBDIR/ID" into OUT; -1 when it does not fit. */
int smtpd_spool_path(char *out, size_t size, const char *dir, const char *subdir, const char *id);

/* smtpd_spool_remove - unlinks SUBDIR/ID under DIR; 0 also when already gone. */
int smtpd_spool_remove(const char *dir, const char *subdir, const char *id);

/* smtpd_spool_each - calls FN for every entry (a valid queue id name) in
 * DIR/SUBDIR, oldest id first; returns entries seen or -1 when DIR is unreadable. */
typedef void (*smtpd_spool_fn)(const char *id, void *ctx);
long smtpd_spool_each(const char *dir, const char *subdir, smtpd_spool_fn fn, void *ctx);

/* smtpd_spool_id_ok - 1..64 bytes of [0-9A-Za-z._-], not starting with '.'. */
int smtpd_spool_id_ok(const char *id);

#endif
