/*
 * smtpd/smtpd_data.c - message content from DATA (dot-stuffed) or BDAT chunks.
 *
 * A byte-at-a-time state machine, so that a terminator or a bare CR split
 * across reads is seen exactly as if it had arrived in one piece; a run of
 * plain text (no CR, LF or NUL) inside a line is copied in one go, exactly
 * as the same bytes one at a time would be. Only <CRLF>.<CRLF> ends DATA
 * (RFC 5321 4.1.1.4); every bare CR or LF is flagged and the message
 * refused: see smtpd_data.h for why. All input is untrusted.
 * Tests: tests/unit/test_smtpd_data.c
 */
#include "smtpd_data.h"

#include "sl_mem.h"

#include <stdlib.h>
#include <string.h>

enum { s_BOL, s_TEXT, s_CR, s_DOT, s_DOT_CR };

void
smtpd_data_begin(smtpd_data_t *self, bool dot_mode)
{
    smtpd_data_reset(self);
    self->dot_mode = dot_mode;
    self->state = s_BOL;
    self->line_len = 0;
    self->in_header = true;
    self->header_lines = 0;
    self->header_bytes = 0;
    self->size = 0;
    self->flags = 0;
    self->done = false;
}

void
smtpd_data_reset(smtpd_data_t *self)
{
    free(self->buf);
    self->buf = NULL;
    self->len = self->cap = 0;
}

static void
s_put(smtpd_data_t *self, const char *p, size_t n)
{
    if (n > UINT64_MAX - self->size || self->size + n > self->size_max)
        self->flags |= SMTPD_DATA_OVERSIZED;
    self->size += n;
    if (self->flags != 0)
        return; /* refused anyway: stop keeping bytes */
    if (n > self->cap - self->len) {
        size_t want = self->cap ? self->cap : 4096;
        while (want - self->len < n)
            want *= 2;
        self->buf = sl_xrealloc(self->buf, want);
        self->cap = want;
    }
    memcpy(self->buf + self->len, p, n);
    self->len += n;
}

static void
s_text(smtpd_data_t *self, char c)
{
    if (c == '\0')
        self->flags |= SMTPD_DATA_NUL;
    if (++self->line_len > self->line_max)
        self->flags |= SMTPD_DATA_LONG_LINE;
    s_put(self, &c, 1);
}

/* s_plain - how many bytes from P on are ordinary text: no CR, LF or NUL. */
static size_t
s_plain(const char *p, size_t len)
{
    size_t n = 0;
    while (n < len && p[n] != '\r' && p[n] != '\n' && p[n] != '\0')
        n++;
    return n;
}

/* s_text_run - N ordinary bytes at once: the same flags and bytes as N calls of s_text
 * (the limits only grow, so a limit crossed inside the run is crossed at its end). */
static void
s_text_run(smtpd_data_t *self, const char *p, size_t n)
{
    self->line_len += n;
    if (self->line_len > self->line_max)
        self->flags |= SMTPD_DATA_LONG_LINE;
    s_put(self, p, n);
}

static void
s_line_end(smtpd_data_t *self)
{
    s_put(self, "\r\n", 2);
    if (self->in_header) {
        if (self->line_len == 0) {
            self->in_header = false;
        } else {
            self->header_lines++;
            self->header_bytes += self->line_len + 2;
            if (self->header_lines > self->header_lines_max ||
                self->header_bytes > self->header_bytes_max)
                self->flags |= SMTPD_DATA_HEADERS;
        }
    }
    self->line_len = 0;
    self->state = s_BOL;
}

size_t
smtpd_data_feed(smtpd_data_t *self, const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        switch (self->state) {
        case s_BOL:
            if (c == '.' && self->dot_mode) {
                self->state = s_DOT;
                self->line_len++;
                break;
            }
            /* fall through */
        case s_TEXT:
        case s_DOT:
            if (c == '\r') {
                self->state = self->state == s_DOT ? s_DOT_CR : s_CR;
            } else if (c == '\n') {
                self->flags |= SMTPD_DATA_BARE_LF;
                self->state = s_TEXT; /* not a line end: "\n.\n" ends nothing */
                s_text(self, c);
            } else if (c == '\0') {
                self->state = s_TEXT;
                s_text(self, c);
            } else { /* the rest of the line's text in one go (a leading dot was dropped) */
                self->state = s_TEXT;
                size_t n = s_plain(p + i, len - i);
                s_text_run(self, p + i, n);
                i += n - 1;
            }
            break;
        case s_DOT_CR:
            if (c == '\n') {
                self->done = true;
                return i + 1;
            }
            /* ".\r" then not LF is a bare CR, as below */
            /* fall through */
        case s_CR:
            if (c == '\n') {
                s_line_end(self);
            } else {
                self->flags |= SMTPD_DATA_BARE_CR;
                s_text(self, '\r');
                if (c == '\r') {
                    self->state = s_CR;
                } else {
                    self->state = s_TEXT;
                    s_text(self, c);
                }
            }
            break;
        }
    }
    return len;
}

void
smtpd_data_finish(smtpd_data_t *self)
{
    if (self->state == s_CR || self->state == s_DOT_CR)
        self->flags |= SMTPD_DATA_BARE_CR;
}

static const struct {
    unsigned flag;
    const char *reply, *reason;
} s_refusals[] = {
    {SMTPD_DATA_OVERSIZED, "552 5.3.4 Message size exceeds fixed limit", "message too big"},
    {SMTPD_DATA_BARE_LF, "550 5.6.0 Bare <LF> received; lines must end in <CR><LF>",
     "bare LF in content"},
    {SMTPD_DATA_BARE_CR, "550 5.6.0 Bare <CR> received; lines must end in <CR><LF>",
     "bare CR in content"},
    {SMTPD_DATA_NUL, "550 5.6.0 NUL byte in message content", "NUL in content"},
    {SMTPD_DATA_LONG_LINE, "550 5.6.0 Message line too long (RFC 5321 4.5.3.1.6)",
     "text line too long"},
    {SMTPD_DATA_HEADERS, "552 5.3.4 Message header section too large", "header limit"},
};

const char *
smtpd_data_reply(const smtpd_data_t *self)
{
    for (size_t i = 0; i < sizeof s_refusals / sizeof s_refusals[0]; i++)
        if (self->flags & s_refusals[i].flag)
            return s_refusals[i].reply;
    return NULL;
}

const char *
smtpd_data_reason(const smtpd_data_t *self)
{
    for (size_t i = 0; i < sizeof s_refusals / sizeof s_refusals[0]; i++)
        if (self->flags & s_refusals[i].flag)
            return s_refusals[i].reason;
    return "";
}

char *
smtpd_data_take(smtpd_data_t *self, size_t *len)
{
    char *out = self->buf;
    *len = self->len;
    self->buf = NULL;
    self->len = self->cap = 0;
    return out;
}
