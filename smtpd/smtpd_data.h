/*
 * smtpd/smtpd_data.h - message content from DATA (dot-stuffed) or BDAT chunks.
 *
 * Anti-smuggling rule: in DATA only <CRLF>.<CRLF> ends the message, and any
 * bare CR or bare LF anywhere in the content marks the message for refusal
 * (550 5.6.0) once its real end has been read. "\n.\n", "\r.\r", "\r\n.\n"
 * and friends are therefore never an end of data, and the message carrying
 * them is refused whole: nothing after them is ever read as a command.
 * The same checks run on BDAT content (which has no terminator to fool).
 * Also enforced: text line length, header line count and header size, message
 * size, NUL bytes. Output is the unstuffed content with CRLF line ends; it
 * stops growing once a refusal is certain.
 * Tests: tests/unit/test_smtpd_data.c
 */
#ifndef SMTPD_DATA_H
#define SMTPD_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Refusal flags, in the order they are reported. */
#define SMTPD_DATA_BARE_LF 0x01u   /* LF not preceded by CR */
#define SMTPD_DATA_BARE_CR 0x02u   /* CR not followed by LF */
#define SMTPD_DATA_NUL 0x04u       /* NUL byte */
#define SMTPD_DATA_LONG_LINE 0x08u /* a line over line_max */
#define SMTPD_DATA_HEADERS 0x10u   /* too many header lines or header section too big */
#define SMTPD_DATA_OVERSIZED 0x20u /* more than size_max bytes */

typedef struct {
    /* limits, set by the caller before the first feed */
    bool dot_mode;           /* DATA: dot-stuffing and terminator; false for BDAT */
    size_t line_max;         /* text line bytes without CRLF (998) */
    size_t header_lines_max; /* header lines, continuations included */
    size_t header_bytes_max; /* header section bytes */
    uint64_t size_max;       /* content bytes */
    /* state */
    int state;           /* s_BOL, s_TEXT, s_CR, s_DOT, s_DOT_CR */
    size_t line_len;     /* bytes in the current line so far */
    bool in_header;      /* still in the header section */
    size_t header_lines; /* header lines seen */
    size_t header_bytes; /* header bytes seen */
    uint64_t size;       /* content bytes seen (also those not kept) */
    unsigned flags;      /* SMTPD_DATA_* refusal reasons */
    bool done;           /* DATA terminator seen */
    /* output */
    char *buf;  /* unstuffed content (malloc'd, caller frees with smtpd_data_reset) */
    size_t len; /* bytes in buf */
    size_t cap; /* allocated */
} smtpd_data_t;

/* smtpd_data_begin - clears state and output, keeps the limits. */
void smtpd_data_begin(smtpd_data_t *self, bool dot_mode);
/* smtpd_data_feed - consumes bytes of P up to and including the DATA
 * terminator; returns bytes consumed (LEN unless the terminator came first). */
size_t smtpd_data_feed(smtpd_data_t *self, const char *p, size_t len);
/* smtpd_data_finish - end of the last BDAT chunk: a dangling CR is bare. */
void smtpd_data_finish(smtpd_data_t *self);
/* smtpd_data_reply - the reply for the first refusal flag set, NULL when none. */
const char *smtpd_data_reply(const smtpd_data_t *self);
/* smtpd_data_reason - short log text for the first refusal flag, "" when none. */
const char *smtpd_data_reason(const smtpd_data_t *self);
/* smtpd_data_take - hands the output buffer to the caller (who frees it). */
char *smtpd_data_take(smtpd_data_t *self, size_t *len);
/* smtpd_data_reset - frees the output. */
void smtpd_data_reset(smtpd_data_t *self);

#endif
