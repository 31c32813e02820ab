/*
 * stages/headers/headers_msg.c - the header section of a raw message: fields,
 * the From mailbox and the Date.
 *
 * Everything here reads hostile bytes: lengths are carried, no NUL is assumed,
 * limits are HEADERS_FIELDS_MAX and HEADERS_SECTION_MAX, and a malformed field
 * gives "no answer", never a crash. Slices borrow the caller's message.
 * Tests: tests/unit/test_headers_msg.c, tests/fuzz/fuzz_headers_msg.c
 */
#include "headers.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* s_is_ftext - a byte of a field name (RFC 5322 3.6.8: printable except colon). */
static bool
s_is_ftext(unsigned char c)
{
    return c >= 33 && c <= 126 && c != ':';
}

static void
s_add_field(headers_msg_t *msg, size_t *cap, const char *start, size_t name_len,
            const char *colon, const char *end)
{
    if (msg->count == *cap) {
        *cap = *cap ? *cap * 2 : 32;
        msg->fields = sl_xrealloc(msg->fields, *cap * sizeof *msg->fields);
    }
    headers_field_t *f = &msg->fields[msg->count++];
    f->name = (sl_slice_t){.ptr = start, .len = name_len};
    f->field = (sl_slice_t){.ptr = start, .len = (size_t) (end - start)};
    f->value = (sl_slice_t){.ptr = colon + 1, .len = (size_t) (end - colon - 1)};
}

void
headers_msg_parse(const char *p, size_t len, headers_msg_t *out)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0, pos = 0;
    bool in_field = false; /* a continuation line extends the last field */
    if (len >= 5 && memcmp(p, "From ", 5) == 0) { /* mbox separator, not a field */
        const char *nl = memchr(p, '\n', len);
        pos = nl ? (size_t) (nl - p) + 1 : len;
    }
    while (pos < len) {
        const char *line = p + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t end = nl ? (size_t) (nl - p) : len; /* index of the LF, or of the end */
        size_t next = nl ? end + 1 : len;
        size_t stop = (end > pos && p[end - 1] == '\r') ? end - 1 : end;
        if (stop == pos) { /* the empty line */
            out->body = (sl_slice_t){.ptr = p + next, .len = len - next};
            return;
        }
        if (line[0] == ' ' || line[0] == '\t') {
            if (in_field) {
                headers_field_t *f = &out->fields[out->count - 1];
                f->field.len = stop - (size_t) (f->field.ptr - p);
                f->value.len = stop - (size_t) (f->value.ptr - p);
            } else if (!out->truncated) {
                out->bad_lines++;
            }
            pos = next;
            continue;
        }
        size_t name_len = 0;
        while (pos + name_len < stop && s_is_ftext((unsigned char) line[name_len]))
            name_len++;
        size_t colon = name_len;
        while (pos + colon < stop && (line[colon] == ' ' || line[colon] == '\t'))
            colon++; /* obs-optional: blanks before the colon */
        if (name_len == 0 || pos + colon >= stop || line[colon] != ':') {
            /* not a field: the body starts here, as Postfix decides */
            out->bad_lines++;
            out->body = (sl_slice_t){.ptr = line, .len = len - pos};
            return;
        }
        if (out->count >= HEADERS_FIELDS_MAX || stop > HEADERS_SECTION_MAX) {
            out->truncated = true;
            in_field = false;
        } else {
            s_add_field(out, &cap, line, name_len, line + colon, p + stop);
            in_field = true;
        }
        pos = next;
    }
}

void
headers_msg_clear(headers_msg_t *msg)
{
    free(msg->fields);
    memset(msg, 0, sizeof *msg);
}

static bool
s_name_is(const headers_field_t *f, const char *name)
{
    size_t n = strlen(name);
    return f->name.len == n && strncasecmp(f->name.ptr, name, n) == 0;
}

const headers_field_t *
headers_msg_find(const headers_msg_t *msg, const char *name, size_t nth)
{
    for (size_t i = 0; i < msg->count; i++)
        if (s_name_is(&msg->fields[i], name) && nth-- == 0)
            return &msg->fields[i];
    return NULL;
}

size_t
headers_msg_count(const headers_msg_t *msg, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < msg->count; i++)
        n += s_name_is(&msg->fields[i], name);
    return n;
}

bool
headers_domain_is_valid(const char *p, size_t len)
{
    if (len == 0 || len > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) p[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (isalnum(c) || c == '-' || c == '_') {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return label > 0;
}

/* --- From ------------------------------------------------------------- */

/* A text buffer that silently stops at its size (display names are advisory). */
typedef struct {
    char *buf;   /* output, NUL-terminated */
    size_t size; /* bytes of buf */
    size_t len;  /* used */
} s_text_t;

static void
s_text_put(s_text_t *t, unsigned char c)
{
    if (t->len + 1 < t->size)
        t->buf[t->len++] = (c < 0x20 || c == 0x7f) ? '?' : (char) c;
    t->buf[t->len] = '\0';
}

static int
s_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (unsigned char) tolower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

static int
s_b64(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* s_encoded_word - decode "=?cs?Q|B?text?=" at P (LEN left) into T; bytes used, 0 if not one. */
static size_t
s_encoded_word(const char *p, size_t len, s_text_t *t)
{
    if (len < 8 || p[0] != '=' || p[1] != '?')
        return 0;
    size_t i = 2;
    while (i < len && p[i] != '?' && p[i] != ' ')
        i++;
    if (i + 3 >= len || p[i] != '?' || p[i + 2] != '?')
        return 0;
    char enc = (char) toupper((unsigned char) p[i + 1]);
    size_t start = i + 3, end = start;
    while (end + 1 < len && !(p[end] == '?' && p[end + 1] == '='))
        end++;
    if (end + 1 >= len || (enc != 'Q' && enc != 'B'))
        return 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t k = start; k < end; k++) {
        unsigned char c = (unsigned char) p[k];
        if (enc == 'Q') {
            if (c == '_') {
                s_text_put(t, ' ');
            } else if (c == '=' && k + 2 < end && s_hex((unsigned char) p[k + 1]) >= 0 &&
                       s_hex((unsigned char) p[k + 2]) >= 0) {
                s_text_put(t, (unsigned char) (s_hex((unsigned char) p[k + 1]) * 16 +
                                               s_hex((unsigned char) p[k + 2])));
                k += 2;
            } else {
                s_text_put(t, c);
            }
        } else if (s_b64(c) >= 0) {
            acc = (acc << 6) | (unsigned) s_b64(c);
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                s_text_put(t, (unsigned char) ((acc >> bits) & 0xff));
            }
        }
    }
    return end + 2;
}

/* s_display - the display-name text P/LEN: quotes and escapes removed,
 * encoded-words decoded, blanks squeezed. */
static void
s_display(const char *p, size_t len, char *out, size_t size)
{
    s_text_t t = {.buf = out, .size = size};
    out[0] = '\0';
    bool quoted = false, blank = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) p[i];
        if (c == '"') {
            quoted = !quoted;
            continue;
        }
        if (c == '\\' && quoted && i + 1 < len) {
            c = (unsigned char) p[++i];
        } else {
            size_t before = t.len;
            if (blank && !quoted && len - i >= 8 && p[i] == '=' && p[i + 1] == '?')
                s_text_put(&t, ' ');
            size_t used = quoted ? 0 : s_encoded_word(p + i, len - i, &t);
            if (used) {
                i += used - 1;
                blank = false;
                continue;
            }
            t.len = before;
            t.buf[before] = '\0';
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                blank = t.len > 0;
                continue;
            }
        }
        if (blank)
            s_text_put(&t, ' ');
        blank = false;
        s_text_put(&t, c);
    }
}

/* s_addr - split the addr-spec P/LEN (comments and blanks dropped) into local and domain. */
static bool
s_addr(const char *p, size_t len, headers_from_t *out)
{
    char spec[512];
    size_t n = 0;
    int depth = 0;
    bool quoted = false;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (quoted) {
            if (c == '\\' && i + 1 < len)
                i++;
            else if (c == '"')
                quoted = false;
        } else if (depth > 0) {
            if (c == '\\' && i + 1 < len)
                i++;
            else
                depth += (c == '(') - (c == ')');
            continue;
        } else if (c == '(') {
            depth = 1;
            continue;
        } else if (c == '"') {
            quoted = true;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            continue;
        }
        if (n + 1 >= sizeof spec)
            return false;
        spec[n++] = c;
    }
    const char *at = NULL;
    quoted = false;
    for (size_t i = 0; i < n; i++) { /* the last @ outside a quoted local part */
        if (spec[i] == '"')
            quoted = !quoted;
        else if (spec[i] == '@' && !quoted)
            at = spec + i;
    }
    if (at == NULL)
        return false;
    size_t local_len = (size_t) (at - spec), dom_len = n - local_len - 1;
    const char *dom = at + 1;
    if (dom_len > 0 && dom[dom_len - 1] == '.')
        dom_len--;
    if (local_len == 0 || !headers_domain_is_valid(dom, dom_len) ||
        dom_len >= sizeof out->domain)
        return false;
    for (size_t i = 0; i < dom_len; i++)
        out->domain[i] = (char) tolower((unsigned char) dom[i]);
    out->domain[dom_len] = '\0';
    s_text_t t = {.buf = out->local, .size = sizeof out->local};
    for (size_t i = 0; i < local_len; i++)
        s_text_put(&t, (unsigned char) spec[i]);
    return true;
}

/* s_mailbox - one mailbox P/LEN: "display <addr>" or "addr (comment)". */
static bool
s_mailbox(const char *p, size_t len, headers_from_t *first, bool want)
{
    const char *lt = NULL, *gt = NULL;
    bool quoted = false;
    int depth = 0;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (c == '\\' && (quoted || depth) && i + 1 < len)
            i++;
        else if (quoted)
            quoted = c != '"';
        else if (depth)
            depth += (c == '(') - (c == ')');
        else if (c == '"')
            quoted = true;
        else if (c == '(')
            depth = 1;
        else if (c == '<' && lt == NULL)
            lt = p + i;
        else if (c == '>' && lt && gt == NULL)
            gt = p + i;
    }
    headers_from_t box = {0};
    const char *a = p, *a_end = p + len;
    if (lt && gt) {
        a = lt + 1;
        a_end = gt;
        const char *colon = memchr(a, ':', (size_t) (a_end - a)); /* obs-route "@a,@b:" */
        if (colon && a < a_end && *a == '@')
            a = colon + 1;
        s_display(p, (size_t) (lt - p), box.display, sizeof box.display);
    } else {
        const char *open = memchr(p, '(', len); /* old style: addr (Display Name) */
        if (open) {
            const char *close = memchr(open, ')', len - (size_t) (open - p));
            if (close)
                s_display(open + 1, (size_t) (close - open - 1), box.display, sizeof box.display);
        }
    }
    if (!s_addr(a, (size_t) (a_end - a), &box))
        return false;
    if (want)
        *first = box;
    return true;
}

int
headers_from_parse(sl_slice_t value, headers_from_t *out, const char **why)
{
    memset(out, 0, sizeof *out);
    const char *p = value.ptr;
    size_t len = value.len, start = 0;
    bool quoted = false;
    int depth = 0, angle = 0;
    for (size_t i = 0; i <= len; i++) {
        char c = i < len ? p[i] : ',';
        if (i < len && c == '\\' && (quoted || depth) && i + 1 < len) {
            i++;
            continue;
        }
        if (quoted) {
            quoted = c != '"';
        } else if (depth) {
            depth += (c == '(') - (c == ')');
        } else if (c == '"') {
            quoted = true;
        } else if (c == '(') {
            depth = 1;
        } else if (c == '<') {
            angle = 1;
        } else if (c == '>') {
            angle = 0;
        } else if (c == ':' && !angle) {
            start = i + 1; /* group: "name: a, b;" - the name is not a mailbox */
        } else if ((c == ',' || c == ';') && !angle) {
            if (s_mailbox(p + start, i - start, out, out->mailboxes == 0))
                out->mailboxes++;
            start = i + 1;
        }
    }
    if (out->mailboxes == 0)
        return sl_fail(why, "no address with a domain");
    return 0;
}

/* --- Date -------------------------------------------------------------- */

/* s_days_from_civil - days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
s_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned) (y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t) doe - 719468;
}

/* s_number - 1..MAX digits at *P; -1 if none. */
static int64_t
s_number(const char **p, const char *end, int max)
{
    int64_t v = 0;
    int n = 0;
    while (*p < end && n < max && isdigit((unsigned char) **p)) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    return n ? v : -1;
}

static void
s_skip_blank(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t' || **p == '\r' || **p == '\n' || **p == ','))
        (*p)++;
}

int
headers_date_parse(sl_slice_t value, int64_t *out, const char **why)
{
    static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                         "jul", "aug", "sep", "oct", "nov", "dec"};
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    char text[256];
    size_t n = 0;
    int depth = 0;
    for (size_t i = 0; i < value.len && n + 1 < sizeof text; i++) { /* drop comments */
        char c = value.ptr[i];
        if (c == '(')
            depth++;
        else if (c == ')' && depth > 0)
            depth--;
        else if (depth == 0)
            text[n++] = c;
    }
    const char *p = text, *end = text + n;
    s_skip_blank(&p, end);
    if (end - p >= 3 && isalpha((unsigned char) *p)) { /* day-of-week: any 3 letters */
        while (p < end && isalpha((unsigned char) *p))
            p++;
        s_skip_blank(&p, end);
    }
    int64_t day = s_number(&p, end, 2);
    s_skip_blank(&p, end);
    int month = -1;
    for (int m = 0; m < 12 && end - p >= 3; m++)
        if (strncasecmp(p, months[m], 3) == 0)
            month = m;
    if (day < 1 || month < 0 || day > mdays[month])
        return sl_fail(why, "bad day or month");
    while (p < end && isalpha((unsigned char) *p))
        p++;
    s_skip_blank(&p, end);
    const char *ys = p;
    int64_t year = s_number(&p, end, 4);
    if (year < 0)
        return sl_fail(why, "bad year");
    if (p - ys == 2) /* obs-year (RFC 5322 4.3) */
        year += year < 50 ? 2000 : 1900;
    else if (p - ys == 3)
        year += 1900;
    s_skip_blank(&p, end);
    int64_t hour = s_number(&p, end, 2), min = -1, sec = 0;
    if (p < end && *p == ':') {
        p++;
        min = s_number(&p, end, 2);
    }
    if (p < end && *p == ':') {
        p++;
        sec = s_number(&p, end, 2);
    }
    if (year < 1900 || hour < 0 || hour > 23 || min < 0 || min > 59 || sec < 0 || sec > 60)
        return sl_fail(why, "bad year or time of day");
    if (month == 1 && day == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
        return sl_fail(why, "bad day or month");
    s_skip_blank(&p, end);
    int64_t offset = 0; /* obs-zone names and military letters count as +0000 */
    if (p < end && (*p == '+' || *p == '-')) {
        int sign = *p == '-' ? -1 : 1;
        p++;
        const char *zs = p;
        int64_t z = s_number(&p, end, 4);
        if (z < 0 || p - zs != 4 || z % 100 > 59)
            return sl_fail(why, "bad zone");
        offset = sign * ((z / 100) * 3600 + (z % 100) * 60);
    } else {
        static const struct {
            const char *name;
            int hours;
        } zones[] = {{"EDT", -4}, {"EST", -5}, {"CDT", -5}, {"CST", -6},
                     {"MDT", -6}, {"MST", -7}, {"PDT", -7}, {"PST", -8}};
        for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++)
            if (end - p >= 3 && strncasecmp(p, zones[z].name, 3) == 0)
                offset = zones[z].hours * 3600;
    }
    *out = s_days_from_civil(year, (unsigned) month + 1, (unsigned) day) * 86400 + hour * 3600 +
           min * 60 + sec - offset;
    return 0;
}
