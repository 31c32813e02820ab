/*
 * stages/headers/headers_authres.c - the Authentication-Results text (RFC 8601).
 *
 *   mx.example.org;
 *   	spf=pass (comment) smtp.mailfrom=alice@example.net;
 *   	spf=none smtp.helo=mail.example.net;
 *   	dkim=pass header.d=example.net header.s=sel header.a=rsa-sha256 header.b=AbCdEfGh;
 *   	dmarc=pass (p=reject dis=none) header.from=example.net
 *
 * Folded with CRLF TAB before each result, without the field name. Every
 * value comes from the message or from DNS, so it is written as a token when
 * it is one and as a quoted-string otherwise; comments lose their parentheses,
 * backslashes and control bytes: nothing can end the field or forge a result.
 * Tests: tests/unit/test_headers_run.c
 */
#include "headers.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    char *buf;   /* output */
    size_t size; /* bytes of buf */
    size_t len;  /* used */
    bool full;   /* something did not fit */
} s_out_t;

static void s_put(s_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
s_put(s_out_t *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= o->size - o->len)
        o->full = true;
    else
        o->len += (size_t) n;
}

/* s_is_token - RFC 2045 token, plus '@' and '.' for addresses (RFC 8601 pvalue). */
static bool
s_is_token(const char *v)
{
    if (v[0] == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *) v; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || strchr("()<>,;:\\\"/[]?=", *p))
            return false;
    return true;
}

/* s_value - " NAME=VALUE", VALUE as a token or a quoted-string. */
static void
s_value(s_out_t *o, const char *name, const char *value)
{
    if (s_is_token(value)) {
        s_put(o, " %s=%s", name, value);
        return;
    }
    char q[2 * HEADERS_DOMAIN_MAX + 3];
    size_t n = 0;
    q[n++] = '"';
    for (const unsigned char *p = (const unsigned char *) value; *p && n + 3 < sizeof q; p++) {
        if (*p < 0x20 || *p == 0x7f)
            continue;
        if (*p == '"' || *p == '\\')
            q[n++] = '\\';
        q[n++] = (char) *p;
    }
    q[n++] = '"';
    q[n] = '\0';
    s_put(o, " %s=%s", name, q);
}

/* s_comment - " (TEXT)" made harmless and cut to 80 bytes; nothing when empty. */
static void
s_comment(s_out_t *o, const char *text)
{
    char c[84];
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *) text; *p && n < 80; p++)
        if (*p >= 0x20 && *p != 0x7f && *p != '(' && *p != ')' && *p != '\\')
            c[n++] = (char) *p;
    c[n] = '\0';
    if (n)
        s_put(o, " (%s)", c);
}

int
headers_authres(const char *authserv_id, const headers_input_t *in, const headers_report_t *r,
                char *out, size_t size)
{
    s_out_t o = {.buf = out, .size = size};
    out[0] = '\0';
    s_put(&o, "%s", authserv_id);
    s_put(&o, ";\r\n\tspf=%s", headers_spf_name(r->spf));
    s_comment(&o, r->spf_comment);
    if (r->spf_is_helo) {
        s_value(&o, "smtp.helo", in->helo ? in->helo : "");
    } else {
        s_value(&o, "smtp.mailfrom", in->mail_from);
        if (r->spf_helo_checked) {
            s_put(&o, ";\r\n\tspf=%s", headers_spf_name(r->spf_helo));
            s_value(&o, "smtp.helo", in->helo);
        }
    }
    if (r->dkim.count == 0)
        s_put(&o, ";\r\n\tdkim=none");
    for (size_t i = 0; i < r->dkim.count; i++) {
        const headers_dkim_sig_t *s = &r->dkim.sigs[i];
        s_put(&o, ";\r\n\tdkim=%s", headers_dkim_name(s->result));
        s_comment(&o, s->why);
        s_value(&o, "header.d", s->domain);
        s_value(&o, "header.s", s->selector);
        if (s->algorithm[0])
            s_value(&o, "header.a", s->algorithm);
        if (s->b[0])
            s_value(&o, "header.b", s->b);
    }
    s_put(&o, ";\r\n\tdmarc=%s", r->dmarc.result);
    if (r->dmarc.policy[0]) {
        char c[64];
        snprintf(c, sizeof c, "p=%s dis=%s", r->dmarc.policy,
                 r->dmarc.action[0] ? r->dmarc.action : "none");
        s_comment(&o, c);
    } else {
        s_comment(&o, r->dmarc.why);
    }
    if (r->dmarc.domain[0])
        s_value(&o, "header.from", r->dmarc.domain);
    return o.full ? -1 : 0;
}
