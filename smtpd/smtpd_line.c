/*
 * smtpd/smtpd_line.c - find one SMTP command line in a byte buffer, bounded.
 *
 * Command lines must end in CRLF (RFC 5321 2.3.8); a bare LF is refused
 * rather than guessed at, so commands cannot be smuggled past a front end
 * that reads lines differently. Lines over the limit are skipped to the next
 * LF. All input here is untrusted.
 * Tests: tests/unit/test_smtpd_line.c
 */
#include "smtpd_line.h"

#include <string.h>

smtpd_line_status_t
smtpd_line_next(smtpd_line_t *self, const char *buf, size_t len, size_t max, size_t *consumed,
                size_t *line_len)
{
    *consumed = 0;
    *line_len = 0;
    if (self->skipping) {
        const char *lf = memchr(buf, '\n', len);
        if (lf == NULL) {
            *consumed = len;
            return SMTPD_LINE_MORE;
        }
        *consumed = (size_t)(lf - buf) + 1;
        self->skipping = false;
        return SMTPD_LINE_TOO_LONG;
    }
    size_t look = len < max ? len : max;
    const char *lf = memchr(buf, '\n', look);
    if (lf == NULL) {
        if (len >= max) {
            self->skipping = true;
            *consumed = max;
        }
        return SMTPD_LINE_MORE;
    }
    size_t at = (size_t)(lf - buf);
    *consumed = at + 1;
    if (at == 0 || buf[at - 1] != '\r')
        return SMTPD_LINE_BARE_LF;
    *line_len = at - 1;
    return SMTPD_LINE_OK;
}
