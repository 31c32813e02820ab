/*
 * smtpd/smtpd_cmd.c - parse one SMTP command line (RFC 5321, 1870, 3030, 6152, 6531).
 *
 * Input is a command line without its CRLF, already bounded by smtpd_line.
 * Paths follow RFC 5321 4.1.2 (dot-string or quoted local part, domain or
 * address literal, source routes accepted and dropped), widened by RFC 6531
 * for UTF-8. Every refusal is a complete reply with an enhanced status code.
 * Tests: tests/unit/test_smtpd_cmd.c, tests/fuzz/fuzz_smtpd_cmd.c
 */
#include "smtpd_cmd.h"
#include "sl_text.h"

#include <string.h>

static const struct {
    const char *name;
    smtpd_verb_t verb;
} s_verbs[] = {
    {"HELO", SMTPD_CMD_HELO},         {"EHLO", SMTPD_CMD_EHLO}, {"MAIL", SMTPD_CMD_MAIL},
    {"RCPT", SMTPD_CMD_RCPT},         {"DATA", SMTPD_CMD_DATA}, {"BDAT", SMTPD_CMD_BDAT},
    {"RSET", SMTPD_CMD_RSET},         {"NOOP", SMTPD_CMD_NOOP}, {"QUIT", SMTPD_CMD_QUIT},
    {"VRFY", SMTPD_CMD_VRFY},         {"EXPN", SMTPD_CMD_EXPN}, {"HELP", SMTPD_CMD_HELP},
    {"STARTTLS", SMTPD_CMD_STARTTLS}, {"AUTH", SMTPD_CMD_AUTH}, {"GET", SMTPD_CMD_HTTP},
    {"POST", SMTPD_CMD_HTTP},         {"HEAD", SMTPD_CMD_HTTP}, {"PUT", SMTPD_CMD_HTTP},
    {"CONNECT", SMTPD_CMD_HTTP},
};

static char
s_upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

bool
smtpd_slice_caseeq(sl_slice_t a, sl_slice_t b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (s_upper(a.ptr[i]) != s_upper(b.ptr[i]))
            return false;
    return true;
}

const char *
smtpd_cmd_verb_name(smtpd_verb_t verb)
{
    for (size_t i = 0; i < sizeof s_verbs / sizeof s_verbs[0]; i++)
        if (s_verbs[i].verb == verb)
            return s_verbs[i].name;
    return "?";
}

int
smtpd_cmd_parse(const char *line, size_t len, smtpd_cmd_t *out, const char **why)
{
    *out = (smtpd_cmd_t){.verb = SMTPD_CMD_UNKNOWN};
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (c == 0)
            return sl_fail(why, "500 5.5.2 Syntax error: NUL byte in command");
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return sl_fail(why, "500 5.5.2 Syntax error: control character in command");
    }
    size_t verb_len = 0;
    while (verb_len < len && line[verb_len] != ' ')
        verb_len++;
    if (verb_len == 0)
        return sl_fail(why, "500 5.5.2 Syntax error, command unrecognized");
    for (size_t i = 0; i < sizeof s_verbs / sizeof s_verbs[0]; i++) {
        if (strlen(s_verbs[i].name) == verb_len && sl_text_casestarts(line, len, s_verbs[i].name)) {
            out->verb = s_verbs[i].verb;
            break;
        }
    }
    size_t a = verb_len;
    while (a < len && line[a] == ' ')
        a++;
    size_t e = len;
    while (e > a && (line[e - 1] == ' ' || line[e - 1] == '\t'))
        e--;
    out->arg = (sl_slice_t){.ptr = line + a, .len = e - a};
    if (out->verb == SMTPD_CMD_UNKNOWN)
        return sl_fail(why, "500 5.5.2 Syntax error, command unrecognized");
    return 0;
}

bool
smtpd_utf8_valid(const char *p, size_t len)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, min = 0x10000;
        } else {
            return false;
        }
        if (n > len - i - 1)
            return false;
        unsigned cp = c & (0x3fu >> n);
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

int
smtpd_cmd_number(const char *p, size_t len, uint64_t *out, const char **why)
{
    if (len == 0 || len > 20)
        return sl_fail(why, "number has a bad length");
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return sl_fail(why, "not a number");
        unsigned d = (unsigned)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return sl_fail(why, "number overflows");
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* RFC 5322 atext, plus UTF-8 bytes (checked as a whole later). */
static bool
s_atext(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80)
        return true;
    return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* s_domain - sub-domain *("." sub-domain), letters, digits, '-', '_' and UTF-8. */
static int
s_domain(const char *p, size_t len, const char **why)
{
    if (len == 0 || len > SL_SMTP_DOMAIN_MAX)
        return sl_fail(why, "501 5.1.3 Bad address syntax: domain length");
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '.') {
            if (label == 0)
                return sl_fail(why, "501 5.1.3 Bad address syntax: empty domain label");
            label = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c >= 0x80;
        if (!ok)
            return sl_fail(why, "501 5.1.3 Bad address syntax: character in domain");
        if (++label > 63)
            return sl_fail(why, "501 5.1.3 Bad address syntax: domain label too long");
    }
    if (label == 0)
        return sl_fail(why, "501 5.1.3 Bad address syntax: empty domain label");
    return 0;
}

/* s_literal - "[" 1*dcontent "]" (RFC 5321 4.1.3, general form). */
static int
s_literal(const char *p, size_t len, const char **why)
{
    if (len < 3 || len > SL_SMTP_DOMAIN_MAX || p[0] != '[' || p[len - 1] != ']')
        return sl_fail(why, "501 5.1.3 Bad address syntax: address literal");
    for (size_t i = 1; i + 1 < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 33 || c > 126 || c == '[' || c == ']' || c == '\\')
            return sl_fail(why, "501 5.1.3 Bad address syntax: address literal");
    }
    return 0;
}

/* s_local - Dot-string or Quoted-string; returns bytes used. */
static int
s_local(const char *p, size_t len, size_t *used, const char **why)
{
    size_t i = 0;
    if (len > 0 && p[0] == '"') {
        i = 1;
        for (;;) {
            if (i >= len)
                return sl_fail(why, "501 5.1.3 Bad address syntax: unterminated quoted string");
            unsigned char c = (unsigned char)p[i];
            if (c == '"')
                break;
            if (c == '\\') {
                if (i + 1 >= len || (unsigned char)p[i + 1] < 32 || (unsigned char)p[i + 1] > 126)
                    return sl_fail(why, "501 5.1.3 Bad address syntax: quoted pair");
                i += 2;
                continue;
            }
            if (c < 32 || c == 127)
                return sl_fail(why, "501 5.1.3 Bad address syntax: character in quoted string");
            i++;
        }
        *used = i + 1;
        return 0;
    }
    bool dot_ok = false;
    while (i < len && p[i] != '@') {
        unsigned char c = (unsigned char)p[i];
        if (c == '.') {
            if (!dot_ok)
                return sl_fail(why, "501 5.1.3 Bad address syntax: dot in local part");
            dot_ok = false;
        } else if (s_atext(c)) {
            dot_ok = true;
        } else {
            return sl_fail(why, "501 5.1.3 Bad address syntax: character in local part");
        }
        i++;
    }
    if (i == 0 || !dot_ok)
        return sl_fail(why, "501 5.1.3 Bad address syntax: local part");
    *used = i;
    return 0;
}

/* s_path - "<" [A-d-l ":"] Mailbox ">" or "<>"; returns bytes used. */
static int
s_path(const char *p, size_t len, bool allow_null, bool is_rcpt, smtpd_path_t *out, size_t *used,
       const char **why)
{
    if (len == 0 || p[0] != '<')
        return sl_fail(why, "501 5.5.4 Syntax: address must be in angle brackets");
    size_t close = 1;
    bool quoted = false;
    while (close < len && (quoted || p[close] != '>')) {
        if (p[close] == '\\' && quoted && close + 1 < len)
            close++;
        else if (p[close] == '"')
            quoted = !quoted;
        close++;
    }
    if (close >= len)
        return sl_fail(why, "501 5.5.4 Syntax: missing '>'");
    if (close + 1 > SL_SMTP_PATH_MAX)
        return sl_fail(why, "501 5.1.3 Bad address syntax: path too long");
    *used = close + 1;
    const char *a = p + 1;
    size_t alen = close - 1;
    if (alen == 0) {
        if (!allow_null)
            return sl_fail(why, "501 5.1.3 Bad recipient address syntax: empty path");
        out->addr = out->local = out->domain = (sl_slice_t){.ptr = a, .len = 0};
        return 0;
    }
    if (a[0] == '@') { /* source route: accepted and ignored (RFC 5321 4.1.2, C.) */
        size_t colon = 0;
        while (colon < alen && a[colon] != ':')
            colon++;
        if (colon == alen)
            return sl_fail(why, "501 5.1.3 Bad address syntax: source route");
        a += colon + 1;
        alen -= colon + 1;
    }
    if (is_rcpt && smtpd_slice_caseeq((sl_slice_t){a, alen}, (sl_slice_t){"postmaster", 10})) {
        out->addr = out->local = (sl_slice_t){.ptr = a, .len = alen};
        out->domain = (sl_slice_t){.ptr = a + alen, .len = 0};
        return 0;
    }
    size_t lused = 0;
    if (s_local(a, alen, &lused, why) != 0)
        return -1;
    if (lused >= alen || a[lused] != '@')
        return sl_fail(why, "501 5.1.3 Bad address syntax: missing domain");
    const char *d = a + lused + 1;
    size_t dlen = alen - lused - 1;
    if (dlen > 0 && d[0] == '[') {
        if (s_literal(d, dlen, why) != 0)
            return -1;
    } else if (s_domain(d, dlen, why) != 0) {
        return -1;
    }
    out->addr = (sl_slice_t){.ptr = a, .len = alen};
    out->local = (sl_slice_t){.ptr = a, .len = lused};
    out->domain = (sl_slice_t){.ptr = d, .len = dlen};
    for (size_t i = 0; i < alen; i++)
        if ((unsigned char)a[i] >= 0x80)
            out->utf8 = true;
    if (out->utf8 && !smtpd_utf8_valid(a, alen))
        return sl_fail(why, "501 5.6.7 Bad address syntax: malformed UTF-8");
    return 0;
}

/* s_params - SP-separated esmtp-keyword ["=" esmtp-value] (RFC 5321 4.1.2). */
static int
s_params(const char *p, size_t len, bool esmtp, bool is_rcpt, smtpd_path_t *out, const char **why)
{
    size_t i = 0, count = 0;
    while (i < len) {
        while (i < len && p[i] == ' ')
            i++;
        if (i == len)
            break;
        if (!esmtp)
            return sl_fail(why, "555 5.5.4 Parameters need EHLO");
        if (++count > SL_SMTP_PARAMS_MAX)
            return sl_fail(why, "555 5.5.4 Too many parameters");
        size_t k = i;
        while (k < len && p[k] != ' ' && p[k] != '=')
            k++;
        const char *key = p + i;
        size_t key_len = k - i;
        const char *val = NULL;
        size_t val_len = 0;
        if (k < len && p[k] == '=') {
            val = p + k + 1;
            size_t v = k + 1;
            while (v < len && p[v] != ' ')
                v++;
            val_len = v - k - 1;
            k = v;
        }
        i = k;
        if (key_len == 0)
            return sl_fail(why, "555 5.5.4 Syntax: empty parameter name");
        sl_slice_t name = {.ptr = key, .len = key_len};
        if (is_rcpt)
            return sl_fail(why, "555 5.5.4 Unsupported RCPT TO parameter");
        if (smtpd_slice_caseeq(name, (sl_slice_t){"SIZE", 4})) {
            const char *nwhy;
            if (val == NULL || smtpd_cmd_number(val, val_len, &out->size, &nwhy) != 0)
                return sl_fail(why, "501 5.5.4 Syntax: SIZE=number");
            out->has_size = true;
        } else if (smtpd_slice_caseeq(name, (sl_slice_t){"BODY", 4})) {
            if (val == NULL)
                return sl_fail(why, "501 5.5.4 Syntax: BODY=7BIT or BODY=8BITMIME");
            sl_slice_t v = {.ptr = val, .len = val_len};
            if (smtpd_slice_caseeq(v, (sl_slice_t){"8BITMIME", 8}))
                out->body_8bit = true;
            else if (!smtpd_slice_caseeq(v, (sl_slice_t){"7BIT", 4}))
                return sl_fail(why, "555 5.5.4 Unsupported BODY type");
        } else if (smtpd_slice_caseeq(name, (sl_slice_t){"SMTPUTF8", 8})) {
            if (val != NULL)
                return sl_fail(why, "501 5.5.4 Syntax: SMTPUTF8 takes no value");
            out->smtputf8 = true;
        } else {
            return sl_fail(why, "555 5.5.4 Unsupported MAIL FROM parameter");
        }
    }
    return 0;
}

static int
s_mail_or_rcpt(sl_slice_t arg, const char *prefix, bool esmtp, bool is_rcpt, smtpd_path_t *out,
               const char **why)
{
    *out = (smtpd_path_t){0};
    size_t plen = strlen(prefix);
    if (!sl_text_casestarts(arg.ptr, arg.len, prefix))
        return sl_fail(why, is_rcpt ? "501 5.5.4 Syntax: RCPT TO:<address>"
                                    : "501 5.5.4 Syntax: MAIL FROM:<address>");
    const char *p = arg.ptr + plen;
    size_t len = arg.len - plen;
    while (len > 0 && *p == ' ') { /* "MAIL FROM: <a@b>": common, harmless */
        p++;
        len--;
    }
    size_t used = 0;
    if (s_path(p, len, !is_rcpt, is_rcpt, out, &used, why) != 0)
        return -1;
    if (used < len && p[used] != ' ')
        return sl_fail(why, "501 5.5.4 Syntax: junk after address");
    return s_params(p + used, len - used, esmtp, is_rcpt, out, why);
}

int
smtpd_cmd_mail(sl_slice_t arg, bool esmtp, smtpd_path_t *out, const char **why)
{
    return s_mail_or_rcpt(arg, "FROM:", esmtp, false, out, why);
}

int
smtpd_cmd_rcpt(sl_slice_t arg, bool esmtp, smtpd_path_t *out, const char **why)
{
    return s_mail_or_rcpt(arg, "TO:", esmtp, true, out, why);
}

int
smtpd_cmd_helo(sl_slice_t arg, sl_slice_t *domain, const char **why)
{
    if (arg.len == 0)
        return sl_fail(why, "501 5.5.4 Syntax: EHLO hostname");
    if (arg.len > SL_SMTP_DOMAIN_MAX)
        return sl_fail(why, "501 5.5.4 Syntax: hostname too long");
    for (size_t i = 0; i < arg.len; i++) {
        unsigned char c = (unsigned char)arg.ptr[i];
        if (c <= 32 || c == 127)
            return sl_fail(why, "501 5.5.4 Syntax: EHLO hostname");
    }
    if (!smtpd_utf8_valid(arg.ptr, arg.len))
        return sl_fail(why, "501 5.5.4 Syntax: hostname is not UTF-8");
    *domain = arg;
    return 0;
}

int
smtpd_cmd_bdat(sl_slice_t arg, uint64_t *size, bool *last, const char **why)
{
    size_t n = 0;
    while (n < arg.len && arg.ptr[n] != ' ')
        n++;
    const char *nwhy;
    if (smtpd_cmd_number(arg.ptr, n, size, &nwhy) != 0)
        return sl_fail(why, "501 5.5.4 Syntax: BDAT size [LAST]");
    *last = false;
    size_t i = n;
    while (i < arg.len && arg.ptr[i] == ' ')
        i++;
    if (i == arg.len)
        return 0;
    if (smtpd_slice_caseeq((sl_slice_t){arg.ptr + i, arg.len - i}, (sl_slice_t){"LAST", 4})) {
        *last = true;
        return 0;
    }
    return sl_fail(why, "501 5.5.4 Syntax: BDAT size [LAST]");
}
