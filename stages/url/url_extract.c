/*
 * stages/url/url_extract.c - URLs out of decoded text and HTML, normalised.
 *
 * Finds http, https and ftp URLs, their defanged forms (hxxp, [.]) and bare
 * www. names in text; href, src and action attributes in HTML, with the host
 * an <a> element's text shows. Normalising lower-cases scheme and host,
 * drops user@, undoes %-encoding in the host, writes hex, octal and decimal
 * IPv4 forms as dotted quads, turns IDN hosts into punycode (libidn2) and
 * flags labels that mix Latin with Cyrillic or Greek look-alikes. All input
 * is untrusted; lengths are carried, nothing is read past LEN.
 * Tests: tests/unit/test_url_extract.c
 */
#include "url_extract.h"
#include "sl_mem.h"
#include "sl_text.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_fail(const char **why, const char *text)
{
    if (why)
        *why = text;
    return -1;
}

static char
s_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int
s_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = s_lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* --- IPv4 in the forms inet_aton takes: 1-4 parts, decimal, 0x hex or 0 octal --- */

static bool
s_ipv4_part(const char *p, size_t len, uint64_t *out)
{
    unsigned base = 10;
    if (len > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        base = 16, p += 2, len -= 2;
    else if (len > 1 && p[0] == '0')
        base = 8, p++, len--;
    if (len == 0 || len > 12)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        int d = s_hex(p[i]);
        if (d < 0 || (unsigned)d >= base)
            return false;
        v = v * base + (unsigned)d;
    }
    *out = v;
    return true;
}

/* s_ipv4 - HOST as an IPv4 address in any inet_aton form into DOTTED. */
static bool
s_ipv4(const char *host, char *dotted, size_t size)
{
    uint64_t parts[4];
    size_t n = 0;
    const char *p = host;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 4 || !s_ipv4_part(p, len, &parts[n++]))
            return false;
        if (dot == NULL)
            break;
        p = dot + 1;
    }
    uint64_t addr = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (parts[i] > 255)
            return false;
        addr |= parts[i] << (8 * (3 - i));
    }
    uint64_t last_max = n == 1 ? 0xffffffffu : n == 2 ? 0xffffffu : n == 3 ? 0xffffu : 0xffu;
    if (parts[n - 1] > last_max)
        return false;
    addr |= parts[n - 1];
    int w =
        snprintf(dotted, size, "%u.%u.%u.%u", (unsigned)(addr >> 24) & 255,
                 (unsigned)(addr >> 16) & 255, (unsigned)(addr >> 8) & 255, (unsigned)addr & 255);
    return w > 0 && (size_t)w < size;
}

bool
url_host_is_ip(const char *host)
{
    if (host[0] == '[')
        return true;
    struct in_addr a;
    return inet_pton(AF_INET, host, &a) == 1;
}

/* --- homographs --- */

/* s_utf8_next - next code point of S (NUL-terminated, valid UTF-8 from libidn2). */
static uint32_t
s_utf8_next(const unsigned char **s)
{
    const unsigned char *p = *s;
    uint32_t c = p[0];
    size_t n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if (n > 1)
        c &= n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07;
    for (size_t i = 1; i < n && p[i]; i++)
        c = c << 6 | (p[i] & 0x3f);
    for (size_t i = 0; i < n && **s; i++)
        (*s)++;
    return c;
}

/* Cyrillic letters drawn like Latin ones: а е о р с у х і ј ѕ ԁ ӏ һ ԛ ԝ. */
static bool
s_cyrillic_lookalike(uint32_t c)
{
    static const uint32_t set[] = {0x430, 0x435, 0x43e, 0x440, 0x441, 0x443, 0x445, 0x456,
                                   0x458, 0x455, 0x501, 0x4cf, 0x4bb, 0x51b, 0x51d};
    for (size_t i = 0; i < sizeof set / sizeof set[0]; i++)
        if (set[i] == c)
            return true;
    return false;
}

/* s_homograph - whether a label of UNICODE (a host in UTF-8) mixes Latin
 * letters with Cyrillic or Greek ones, or is spelt wholly in Cyrillic
 * look-alikes of Latin letters (аррӏе.com). */
static bool
s_homograph(const char *unicode)
{
    const unsigned char *p = (const unsigned char *)unicode;
    while (*p) {
        size_t latin = 0, other = 0, lookalike = 0;
        while (*p && *p != '.') {
            uint32_t c = s_utf8_next(&p);
            if ((c >= 'a' && c <= 'z') || (c >= 0xc0 && c <= 0x24f))
                latin++;
            else if ((c >= 0x370 && c <= 0x3ff) || (c >= 0x400 && c <= 0x52f)) {
                other++;
                lookalike += s_cyrillic_lookalike(c);
            }
        }
        if ((latin > 0 && other > 0) || (other > 1 && lookalike == other))
            return true;
        if (*p == '.')
            p++;
    }
    return false;
}

/* --- normalising --- */

static const struct {
    const char *prefix; /* lower case, as written */
    const char *scheme; /* normalised */
    unsigned flags;     /* URL_F_OBFUSCATED for defanged forms */
} s_schemes[] = {
    {"http://", "http", 0},
    {"https://", "https", 0},
    {"hxxp://", "http", URL_F_OBFUSCATED},
    {"hxxps://", "https", URL_F_OBFUSCATED},
    {"hxxp[:]//", "http", URL_F_OBFUSCATED},
    {"hxxps[:]//", "https", URL_F_OBFUSCATED},
    {"http[:]//", "http", URL_F_OBFUSCATED},
    {"https[:]//", "https", URL_F_OBFUSCATED},
    {"ftp://", "ftp", 0},
    {"//", "http", 0},
};

/* s_host - the raw host P/LEN (userinfo and port gone) into OUT->host. */
static int
s_host(const char *p, size_t len, url_t *out, const char **why)
{
    char raw[URL_HOST_MAX * 3 + 1];
    size_t n = 0;
    bool non_ascii = false;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (c == '%' && i + 2 < len + 0 && s_hex(p[i + 1]) >= 0 && s_hex(p[i + 2]) >= 0) {
            c = (char)(s_hex(p[i + 1]) << 4 | s_hex(p[i + 2]));
            i += 2;
            out->flags |= URL_F_OBFUSCATED;
        } else if ((c == '[' || c == '(') && i + 2 < len && p[i + 1] == '.' &&
                   (p[i + 2] == ']' || p[i + 2] == ')')) {
            c = '.';
            i += 2;
            out->flags |= URL_F_OBFUSCATED;
        }
        if (c == '\0')
            return s_fail(why, "NUL in host");
        if (n + 1 >= sizeof raw)
            return s_fail(why, "host too long");
        non_ascii |= (unsigned char)c >= 0x80;
        raw[n++] = s_lower(c);
    }
    while (n > 0 && raw[n - 1] == '.')
        n--;
    raw[n] = '\0';
    if (n == 0)
        return s_fail(why, "empty host");

    char *ascii = NULL, *unicode = NULL;
    if (non_ascii) {
        if (idn2_to_ascii_8z(raw, &ascii, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) != IDN2_OK)
            return s_fail(why, "host is not a valid IDN");
        out->flags |= URL_F_IDN;
        if (s_homograph(raw))
            out->flags |= URL_F_HOMOGRAPH;
    } else if (strstr(raw, "xn--") != NULL) {
        out->flags |= URL_F_IDN;
        if (idn2_to_unicode_8z8z(raw, &unicode, 0) == IDN2_OK && s_homograph(unicode))
            out->flags |= URL_F_HOMOGRAPH;
        idn2_free(unicode);
    }
    const char *host = ascii ? ascii : raw;
    size_t hlen = strlen(host);
    if (hlen > URL_HOST_MAX) {
        idn2_free(ascii);
        return s_fail(why, "host too long");
    }
    char dotted[16];
    bool numeric = strspn(host, "0123456789abcdefx.") == hlen && host[0] >= '0' && host[0] <= '9';
    if (numeric && s_ipv4(host, dotted, sizeof dotted)) {
        if (strcmp(dotted, host) != 0)
            out->flags |= URL_F_OBFUSCATED;
        out->flags |= URL_F_IP;
        sl_strlcpy(out->host, dotted, sizeof out->host);
        idn2_free(ascii);
        return 0;
    }
    if (numeric && strspn(host, "0123456789.") == hlen) {
        idn2_free(ascii);
        return s_fail(why, "bad IPv4 address");
    }
    bool dot = false;
    for (size_t i = 0; i < hlen; i++) {
        char c = host[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  (c == '.' && i > 0 && host[i - 1] != '.');
        if (!ok) {
            idn2_free(ascii);
            return s_fail(why, "bad character in host");
        }
        dot |= c == '.';
    }
    sl_strlcpy(out->host, host, sizeof out->host);
    idn2_free(ascii);
    if (!dot)
        return s_fail(why, "host without a dot");
    return 0;
}

int
url_normalise(const char *p, size_t len, url_t *out, const char **why)
{
    memset(out, 0, sizeof *out);
    while (len > 0 && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++, len--;
    while (len > 0 &&
           (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r' || p[len - 1] == '\n'))
        len--;
    const char *scheme = NULL;
    for (size_t i = 0; i < sizeof s_schemes / sizeof s_schemes[0]; i++) {
        if (sl_text_casestarts(p, len, s_schemes[i].prefix)) {
            size_t skip = strlen(s_schemes[i].prefix);
            scheme = s_schemes[i].scheme;
            out->flags |= s_schemes[i].flags;
            p += skip, len -= skip;
            break;
        }
    }
    if (scheme == NULL && sl_text_casestarts(p, len, "www."))
        scheme = "http";
    if (scheme == NULL)
        return s_fail(why, "not a web URL");

    size_t auth = 0;
    while (auth < len && p[auth] != '/' && p[auth] != '?' && p[auth] != '#' && p[auth] != '\\')
        auth++;
    const char *host = p;
    size_t hlen = auth;
    for (size_t i = auth; i > 0; i--) {
        if (p[i - 1] == '@') {
            out->flags |= URL_F_USERINFO;
            host = p + i;
            hlen = auth - i;
            break;
        }
    }
    const char *port = NULL;
    size_t plen = 0;
    if (hlen > 0 && host[0] == '[') {
        const char *end = memchr(host, ']', hlen);
        char v6[64];
        struct in6_addr a6;
        size_t n = end ? (size_t)(end - host - 1) : 0;
        if (end == NULL || n == 0 || n >= sizeof v6)
            return s_fail(why, "bad IPv6 literal");
        memcpy(v6, host + 1, n);
        v6[n] = '\0';
        if (inet_pton(AF_INET6, v6, &a6) != 1)
            return s_fail(why, "bad IPv6 literal");
        char shown[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &a6, shown, sizeof shown);
        snprintf(out->host, sizeof out->host, "[%s]", shown);
        out->flags |= URL_F_IP;
        if ((size_t)(end - host) + 1 < hlen && end[1] == ':')
            port = end + 2, plen = hlen - (size_t)(end - host) - 2;
    } else {
        for (size_t i = hlen; i > 0; i--) {
            if (host[i - 1] == ':') {
                port = host + i;
                plen = hlen - i;
                hlen = i - 1;
                break;
            }
        }
        if (s_host(host, hlen, out, why) != 0)
            return -1;
    }
    size_t digits = 0; /* P is not NUL-terminated: count within plen only */
    while (port && digits < plen && port[digits] >= '0' && port[digits] <= '9')
        digits++;
    if (port && (plen == 0 || plen > 5 || digits < plen))
        return s_fail(why, "bad port");

    char buf[URL_LEN_MAX + 1];
    int w = snprintf(buf, sizeof buf, "%s://%s%s%.*s", scheme, out->host, port ? ":" : "",
                     (int)plen, port ? port : "");
    if (w < 0 || (size_t)w >= sizeof buf)
        return s_fail(why, "URL too long");
    size_t n = (size_t)w;
    const char *rest = p + auth;
    size_t rlen = len - auth;
    if (rlen == 0)
        buf[n++] = '/';
    for (size_t i = 0; i < rlen && n < URL_LEN_MAX; i++) {
        unsigned char c = (unsigned char)rest[i];
        if (c > 0x20 && c != 0x7f) /* whitespace and controls inside a URL are dropped */
            buf[n++] = (char)(c == '\\' ? '/' : c);
    }
    buf[n] = '\0';
    out->url = sl_xstrndup(buf, n);
    return 0;
}

/* --- lists --- */

static void
s_add(url_list_t *list, const char *p, size_t len, unsigned flags, const char *text_host)
{
    url_t u;
    if (url_normalise(p, len, &u, NULL) != 0)
        return;
    u.flags |= flags;
    for (size_t i = 0; i < list->count; i++) {
        if (strcmp(list->items[i].url, u.url) == 0) {
            if (list->items[i].text_host[0] == '\0' && text_host)
                sl_strlcpy(list->items[i].text_host, text_host, sizeof u.text_host);
            list->items[i].flags |= u.flags;
            free(u.url);
            return;
        }
    }
    size_t max = list->max ? list->max : URL_COUNT_MAX;
    if (list->count >= max) {
        list->dropped++;
        free(u.url);
        return;
    }
    if (list->count == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 16;
        list->items = sl_xrealloc(list->items, list->cap * sizeof *list->items);
    }
    if (text_host)
        sl_strlcpy(u.text_host, text_host, sizeof u.text_host);
    list->items[list->count++] = u;
}

void
url_list_clear(url_list_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i].url);
    free(list->items);
    size_t max = list->max;
    memset(list, 0, sizeof *list);
    list->max = max;
}

static bool
s_url_char(unsigned char c)
{
    return c > 0x20 && c != 0x7f && !strchr("<>\"'`{}|^", c);
}

/* s_find - offset of the next URL start in P/LEN at or after FROM, or LEN. */
static size_t
s_find(const char *p, size_t len, size_t from)
{
    static const char *const starts[] = {"http://",   "https://",   "hxxp://", "hxxps://",
                                         "hxxp[:]//", "hxxps[:]//", "ftp://",  "www."};
    for (size_t i = from; i < len; i++) {
        char c = s_lower(p[i]);
        if (c != 'h' && c != 'f' && c != 'w')
            continue;
        char before = i > 0 ? s_lower(p[i - 1]) : ' ';
        if ((before >= 'a' && before <= 'z') || (before >= '0' && before <= '9') || before == '.' ||
            before == '/' || before == '-' || before == '@')
            continue;
        for (size_t k = 0; k < sizeof starts / sizeof starts[0]; k++)
            if (sl_text_casestarts(p + i, len - i, starts[k]))
                return i;
    }
    return len;
}

/* s_url_end - end of the URL starting at P[START], trailing punctuation off. */
static size_t
s_url_end(const char *p, size_t len, size_t start)
{
    size_t end = start;
    while (end < len && end - start < URL_LEN_MAX &&
           (s_url_char((unsigned char)p[end]) || (end > start && p[end] == '[' && end + 2 < len &&
                                                  p[end + 1] == '.' && p[end + 2] == ']')))
        end++;
    while (end > start && strchr(".,;:!?)]'", p[end - 1]) &&
           !(p[end - 1] == ']' && end - start >= 3 && p[end - 2] == '.' && p[end - 3] == '['))
        end--;
    return end;
}

void
url_list_add_text(url_list_t *list, const char *p, size_t len)
{
    size_t i = 0;
    while ((i = s_find(p, len, i)) < len) {
        size_t end = s_url_end(p, len, i);
        s_add(list, p + i, end - i, 0, NULL);
        i = end > i ? end : i + 1;
    }
}

/* --- HTML --- */

/* s_entities - P/LEN with &amp; &lt; &gt; &quot; &#N; &#xH; decoded into OUT. */
static size_t
s_entities(const char *p, size_t len, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 4 < size; i++) {
        if (p[i] != '&') {
            out[n++] = p[i];
            continue;
        }
        static const struct {
            const char *name;
            char c;
        } named[] = {
            {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&nbsp;", ' '}};
        bool done = false;
        for (size_t k = 0; k < sizeof named / sizeof named[0] && !done; k++) {
            if (sl_text_casestarts(p + i, len - i, named[k].name)) {
                out[n++] = named[k].c;
                i += strlen(named[k].name) - 1;
                done = true;
            }
        }
        if (!done && i + 2 < len && p[i + 1] == '#') {
            bool hex = p[i + 2] == 'x' || p[i + 2] == 'X';
            size_t j = i + 2 + hex;
            uint32_t v = 0;
            size_t digits = 0;
            while (j < len && digits < 7 && (hex ? s_hex(p[j]) >= 0 : p[j] >= '0' && p[j] <= '9'))
                v = v * (hex ? 16 : 10) + (uint32_t)s_hex(p[j++]), digits++;
            if (digits > 0 && v > 0 && v < 0x80) {
                out[n++] = (char)v;
                i = j < len && p[j] == ';' ? j : j - 1;
                done = true;
            }
        }
        if (!done)
            out[n++] = '&';
    }
    out[n] = '\0';
    return n;
}

/* s_attr - value of attribute NAME in tag body P/LEN (entities decoded) into OUT. */
static bool
s_attr(const char *p, size_t len, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    size_t i = 0;
    while (i < len) {
        while (i < len &&
               (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n' || p[i] == '/'))
            i++;
        size_t k = i;
        while (i < len && p[i] != '=' && p[i] != ' ' && p[i] != '\t' && p[i] != '\r' &&
               p[i] != '\n' && p[i] != '/')
            i++;
        bool match = i - k == nlen && sl_text_casestarts(p + k, len - k, name);
        while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
            i++;
        if (i >= len || p[i] != '=') {
            if (i == k)
                i++;
            continue;
        }
        i++;
        while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
            i++;
        size_t v = i, vend;
        if (i < len && (p[i] == '"' || p[i] == '\'')) {
            char q = p[i];
            v = ++i;
            while (i < len && p[i] != q)
                i++;
            vend = i++;
        } else {
            while (i < len && p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
                i++;
            vend = i;
        }
        if (match) {
            s_entities(p + v, vend - v, out, size);
            return true;
        }
    }
    return false;
}

/* s_text_host - the host a link's text P/LEN shows ("www.bank.com", "https://bank.com/x"). */
static bool
s_text_host(const char *p, size_t len, char *host, size_t size)
{
    char text[URL_TEXT_MAX + 1];
    size_t n = 0;
    bool in_tag = false;
    for (size_t i = 0; i < len && n + 1 < sizeof text; i++) {
        if (p[i] == '<')
            in_tag = true;
        else if (p[i] == '>')
            in_tag = false;
        else if (!in_tag)
            text[n++] = p[i];
    }
    char decoded[URL_TEXT_MAX + 1];
    n = s_entities(text, n, decoded, sizeof decoded);
    size_t s = 0;
    while (s < n && strchr(" \t\r\n", decoded[s]))
        s++;
    size_t e = n;
    while (e > s && strchr(" \t\r\n", decoded[e - 1]))
        e--;
    if (e == s || memchr(decoded + s, ' ', e - s) != NULL)
        return false; /* prose, not an address */
    url_t u;
    char with_scheme[URL_TEXT_MAX + 16];
    int w =
        snprintf(with_scheme, sizeof with_scheme, "%s%.*s",
                 s_find(decoded + s, e - s, 0) == 0 ? "" : "http://", (int)(e - s), decoded + s);
    if (w < 0 || (size_t)w >= sizeof with_scheme)
        return false;
    if (url_normalise(with_scheme, (size_t)w, &u, NULL) != 0)
        return false;
    sl_strlcpy(host, u.host, size);
    free(u.url);
    return true;
}

void
url_list_add_html(url_list_t *list, const char *p, size_t len)
{
    static const struct {
        const char *tag, *attr;
        unsigned flags;
    } links[] = {{"a", "href", 0},
                 {"area", "href", 0},
                 {"img", "src", 0},
                 {"iframe", "src", 0},
                 {"form", "action", URL_F_FORM},
                 {"frame", "src", 0},
                 {"link", "href", 0}};
    char value[URL_LEN_MAX + 1];
    size_t text_from = 0; /* text between tags is searched for written URLs */
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '<')
            continue;
        url_list_add_text(list, p + text_from, i - text_from);
        size_t t = i + 1, te = t;
        while (te < len && ((p[te] >= 'a' && p[te] <= 'z') || (p[te] >= 'A' && p[te] <= 'Z')))
            te++;
        const char *gt = memchr(p + te, '>', len - te);
        if (gt == NULL) {
            text_from = len;
            break;
        }
        size_t tag_end = (size_t)(gt - p);
        for (size_t k = 0; k < sizeof links / sizeof links[0]; k++) {
            if (te - t != strlen(links[k].tag) || !sl_text_casestarts(p + t, te - t, links[k].tag))
                continue;
            if (!s_attr(p + te, tag_end - te, links[k].attr, value, sizeof value))
                break;
            char shown[URL_HOST_MAX + 1];
            bool has_text = false;
            if (strcmp(links[k].tag, "a") == 0) {
                /* Only URL_TEXT_MAX octets of link text count, so the search
                 * for </a> stops there: anchors never closed stay linear. */
                size_t close = tag_end + 1;
                size_t stop = len - close > URL_TEXT_MAX ? close + URL_TEXT_MAX : len;
                while (close < stop && !sl_text_casestarts(p + close, len - close, "</a"))
                    close++;
                size_t tlen = close - tag_end - 1;
                has_text = s_text_host(p + tag_end + 1, tlen, shown, sizeof shown);
            }
            s_add(list, value, strlen(value), URL_F_HTML | links[k].flags, has_text ? shown : NULL);
            break;
        }
        i = tag_end;
        text_from = tag_end + 1;
    }
    if (text_from < len)
        url_list_add_text(list, p + text_from, len - text_from);
}
