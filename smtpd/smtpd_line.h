/*
 * smtpd/smtpd_line.h - find one SMTP command line in a byte buffer, bounded.
 *
 * Lines over the limit are consumed to the next LF and reported once as
 * SMTPD_LINE_TOO_LONG (reply 500 5.5.2); a line ending in a bare LF is
 * SMTPD_LINE_BARE_LF (reply 500 5.5.2). The reader never looks further than
 * the limit into the buffer, so a peer cannot make it buffer more.
 * Tests: tests/unit/test_smtpd_line.c
 */
#ifndef SMTPD_LINE_H
#define SMTPD_LINE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    SMTPD_LINE_MORE,     /* no complete line yet: read more (after removing *consumed) */
    SMTPD_LINE_OK,       /* a line of *line_len bytes (CRLF excluded) at the buffer start */
    SMTPD_LINE_TOO_LONG, /* an over-long line ended and was consumed */
    SMTPD_LINE_BARE_LF,  /* a line ended in LF without CR; consumed */
} smtpd_line_status_t;

typedef struct {
    bool skipping; /* inside an over-long line: discard up to the next LF */
} smtpd_line_t;

/* smtpd_line_next - looks at BUF[0..LEN) for the next line of at most MAX
 * bytes including CRLF. The caller removes *consumed bytes from its buffer
 * after using the line (always set, also for SMTPD_LINE_MORE). */
smtpd_line_status_t smtpd_line_next(smtpd_line_t *self, const char *buf, size_t len, size_t max,
                                    size_t *consumed, size_t *line_len);

#endif
