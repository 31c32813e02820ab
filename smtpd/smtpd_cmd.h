/*
 * smtpd/smtpd_cmd.h - parse one SMTP command line (RFC 5321, 1870, 3030, 6152, 6531).
 *
 * Pure functions over (pointer, length): no allocation, no NUL termination
 * assumed, results are slices into the caller's line. Everything here is
 * untrusted peer input; every refusal carries the reply the client gets.
 * Tests: tests/unit/test_smtpd_cmd.c, tests/fuzz/fuzz_smtpd_cmd.c
 */
#ifndef SMTPD_CMD_H
#define SMTPD_CMD_H

#include "sl_mem.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_SMTP_CMD_MAX 512    /* command line with CRLF (RFC 5321 4.5.3.1.4) */
#define SL_SMTP_TEXT_MAX 1000  /* text line with CRLF (RFC 5321 4.5.3.1.6) */
#define SL_SMTP_PATH_MAX 256   /* reverse/forward path with <> (RFC 5321 4.5.3.1.3) */
#define SL_SMTP_LOCAL_MAX 64   /* local part (RFC 5321 4.5.3.1.1) */
#define SL_SMTP_DOMAIN_MAX 255 /* domain (RFC 5321 4.5.3.1.2) */
#define SL_SMTP_PARAMS_MAX 16  /* ESMTP parameters on one MAIL/RCPT */

typedef enum {
    SMTPD_CMD_UNKNOWN,
    SMTPD_CMD_HELO,
    SMTPD_CMD_EHLO,
    SMTPD_CMD_MAIL,
    SMTPD_CMD_RCPT,
    SMTPD_CMD_DATA,
    SMTPD_CMD_BDAT,
    SMTPD_CMD_RSET,
    SMTPD_CMD_NOOP,
    SMTPD_CMD_QUIT,
    SMTPD_CMD_VRFY,
    SMTPD_CMD_EXPN,
    SMTPD_CMD_HELP,
    SMTPD_CMD_STARTTLS,
    SMTPD_CMD_AUTH,
    SMTPD_CMD_HTTP, /* GET/POST/CONNECT/...: a proxy abuser or web client, not SMTP */
} smtpd_verb_t;

/* One refusal: the full reply line without CRLF, e.g. "501 5.5.4 Syntax: ...". */
typedef struct {
    const char *reply; /* static text, "" when the parse succeeded */
} smtpd_refusal_t;

typedef struct {
    smtpd_verb_t verb; /* what the client asked for */
    sl_slice_t arg;    /* text after the verb and its separating space(s) */
} smtpd_cmd_t;

/* MAIL FROM / RCPT TO after parsing. */
typedef struct {
    sl_slice_t addr;   /* mailbox without <> and source route; empty for <> */
    sl_slice_t local;  /* local part (may be quoted) */
    sl_slice_t domain; /* domain or address literal; empty for "postmaster" */
    bool utf8;         /* addr has bytes >= 0x80 (valid UTF-8) */
    bool has_size;     /* SIZE= given */
    uint64_t size;     /* SIZE= value */
    bool body_8bit;    /* BODY=8BITMIME */
    bool smtputf8;     /* SMTPUTF8 parameter */
} smtpd_path_t;

/* smtpd_cmd_parse - split LINE (without CRLF) into verb and argument; 0, or
 * -1 with *why the reply for a line that is not a command at all. */
int smtpd_cmd_parse(const char *line, size_t len, smtpd_cmd_t *out, const char **why);

/* smtpd_cmd_verb_name - "MAIL", "RCPT"... for log lines ("?" for unknown). */
const char *smtpd_cmd_verb_name(smtpd_verb_t verb);

/* smtpd_cmd_helo - checks the HELO/EHLO argument: a domain or address
 * literal, printable ASCII (UTF-8 allowed), at most SL_SMTP_DOMAIN_MAX. */
int smtpd_cmd_helo(sl_slice_t arg, sl_slice_t *domain, const char **why);

/* smtpd_cmd_mail - parses "FROM:<path> params"; ESMTP params are refused
 * unless ESMTP is set (the client said EHLO). *why is a full reply. */
int smtpd_cmd_mail(sl_slice_t arg, bool esmtp, smtpd_path_t *out, const char **why);
/* smtpd_cmd_rcpt - parses "TO:<path>"; no parameters are supported. */
int smtpd_cmd_rcpt(sl_slice_t arg, bool esmtp, smtpd_path_t *out, const char **why);

/* smtpd_cmd_bdat - "SIZE [LAST]" (RFC 3030); size up to UINT64_MAX, overflow refused. */
int smtpd_cmd_bdat(sl_slice_t arg, uint64_t *size, bool *last, const char **why);

/* smtpd_cmd_number - 1*20DIGIT, overflow refused. */
int smtpd_cmd_number(const char *p, size_t len, uint64_t *out, const char **why);

/* smtpd_utf8_valid - true for well-formed UTF-8 (no overlongs, no surrogates). */
bool smtpd_utf8_valid(const char *p, size_t len);

/* smtpd_domain_eq - ASCII case-insensitive comparison of two slices. */
bool smtpd_slice_caseeq(sl_slice_t a, sl_slice_t b);

#endif
