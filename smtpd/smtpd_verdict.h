/*
 * smtpd/smtpd_verdict.h - what a connect or rcpt phase result means for the dialogue.
 *
 * Stages speak to smtpd through the envelope they return (smtpd/README.md,
 * "Connect and rcpt phases"): a verdict field "smtp_reply" with a complete
 * reply ("554 5.7.1 Listed at zen.example"), the classification "reject" or
 * "tempfail", or (rcpt phase) the action of recipient 0. Stage output is
 * checked like peer input: a malformed smtp_reply is ignored and logged.
 * Tests: tests/unit/test_smtpd_verdict.c
 */
#ifndef SMTPD_VERDICT_H
#define SMTPD_VERDICT_H

#include "sl_env.h"

#include <stdbool.h>
#include <stddef.h>

#define SMTPD_REPLY_TEXT_MAX 480 /* reply text: a reply line is 512 with code and CRLF */

/* smtpd_reply_valid - "[45]xx [45].d{1,3}.d{1,3} text", class digits equal,
 * printable ASCII text of 1..SMTPD_REPLY_TEXT_MAX bytes. */
bool smtpd_reply_valid(const char *reply);

/* smtpd_verdict_reply - the reply a phase result asks for, written to BUF;
 * returns BUF, or NULL to go on. *stage names the verdict that decided ("" for
 * the envelope's results). RCPT selects rcpt-phase wording and codes. */
const char *smtpd_verdict_reply(const sl_env_t *env, bool rcpt, char *buf, size_t size,
                                const char **stage);

#endif
