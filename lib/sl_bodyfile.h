/*
 * lib/sl_bodyfile.h - a message body handed over as a file reference.
 *
 * On one host the body need not cross sockets: smtpd has already written it,
 * fsync'd, into its spool file, and that file does not change until the
 * message is released. A submitter on the broker's host may send, instead of
 * the body, a reference "OFFSET LENGTH PATH" (decimal offset and length of
 * the body inside the file, then an absolute path); the broker keeps the file
 * open while the message is inside, passes the reference on to workers that
 * said `body-file` in READY, and reads the bytes itself for any other worker.
 * A worker maps the range read-only and scans it in place. Protocol:
 * broker/README.md "Body by file". The text is hostile input like any frame:
 * parsed with bounds, nothing past the range is ever read.
 * Tests: tests/unit/test_sl_bodyfile.c, tests/fuzz/fuzz_sl_bodyfile.c,
 * tests/e2e/test_body_file.py
 */
#ifndef SL_BODYFILE_H
#define SL_BODYFILE_H

#include <stddef.h>
#include <stdint.h>

#define SL_BODYFILE_PATH_MAX 1024 /* bytes of PATH */
#define SL_BODYFILE_REF_MAX (SL_BODYFILE_PATH_MAX + 48) /* a whole reference text */
/* A worker that cannot read the file answers the job with a verdict whose
 * error starts with this text; the broker then sends the body in the frame. */
#define SL_BODYFILE_READ_MAX ((size_t) 4 << 20) /* bodies up to this are read, not mapped */
#define SL_BODYFILE_ERROR "body file unreadable"

typedef struct {
    uint64_t offset;                     /* of the body inside the file */
    uint64_t length;                     /* of the body */
    char path[SL_BODYFILE_PATH_MAX + 1]; /* absolute, NUL-terminated */
} sl_bodyfile_ref_t;

/* sl_bodyfile_parse - REF (LEN bytes, not NUL-terminated) into OUT: two
 * decimal numbers of at most 19 digits each and an absolute path without NUL
 * or "/../", single spaces between. 0, or -1 with *WHY (a static text). */
int sl_bodyfile_parse(const void *ref, size_t len, sl_bodyfile_ref_t *out, const char **why);

/* sl_bodyfile_format - REF as text into OUT (SIZE bytes); its length, or -1
 * when it does not fit or the path is not absolute. */
int sl_bodyfile_format(const sl_bodyfile_ref_t *ref, char *out, size_t size);

/* sl_bodyfile_open - opens REF's file read-only and checks that it is a
 * regular file holding the whole range; the descriptor, or -1 with *WHY. */
int sl_bodyfile_open(const sl_bodyfile_ref_t *ref, const char **why);

/* sl_bodyfile_read - reads REF's range from FD (sl_bodyfile_open) into BUF
 * (REF->length bytes); 0, or -1 with *WHY when the file came up short. */
int sl_bodyfile_read(int fd, const sl_bodyfile_ref_t *ref, void *buf, const char **why);

/* A body range in memory: read into the calling thread's buffer (up to
 * SL_BODYFILE_READ_MAX bytes; valid until that thread's next call) or mapped
 * read-only (larger). */
typedef struct {
    void *base;        /* the mapping (page-aligned), NULL when read or empty */
    size_t map_len;    /* its length */
    const char *data;  /* the body inside it */
    size_t len;        /* body length */
} sl_bodyfile_map_t;

/* sl_bodyfile_map - REF's range into OUT (at most MAX_LEN bytes): read into
 * this thread's buffer, or mapped when larger than SL_BODYFILE_READ_MAX;
 * 0, or -1 with *WHY. The file is closed again at once (a mapping stays
 * valid after an unlink). An empty range maps nothing. */
int sl_bodyfile_map(const sl_bodyfile_ref_t *ref, size_t max_len, sl_bodyfile_map_t *out,
                    const char **why);
void sl_bodyfile_unmap(sl_bodyfile_map_t *map);

#endif
