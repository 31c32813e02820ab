/*
 * stages/headers/headers_dkim.c - verify every DKIM signature with libopendkim.
 *
 * Keys come through a key-lookup callback (dkim_set_key_lookup) that asks the
 * headers_resolver_t for the TXT record at SELECTOR._domainkey.DOMAIN. The
 * callback can only say "found" or "not found" without aborting the whole
 * message, so a lookup that failed for now is remembered in the per-message
 * context and the signature is reported as temperror, never as permerror.
 * rsa-sha256, rsa-sha1 and ed25519-sha256 (RFC 8463) are what the library
 * verifies; l= is honoured by it. Malformed signatures are kept
 * (DKIM_LIBFLAGS_BADSIGHANDLES) so that each one is reported.
 * Tests: tests/unit/test_headers_dkim.c, tests/dkim/
 */
#include "headers.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <opendkim/dkim.h>

struct headers_dkim_lib {
    DKIM_LIB *lib; /* shared by the scan threads; each message has its own DKIM handle */
};

/* Per message: the resolver and the keys whose lookup failed for now. */
typedef struct {
    const headers_resolver_t *resolver;
    size_t temp_count;                        /* entries in temp */
    char temp[HEADERS_DKIM_SIGS_MAX][HEADERS_DOMAIN_MAX * 2]; /* "selector._domainkey.domain" */
} s_lookup_t;

static const char *const s_names[] = {
    [HEADERS_DKIM_PASS] = "pass",
    [HEADERS_DKIM_FAIL] = "fail",
    [HEADERS_DKIM_TEMPERROR] = "temperror",
    [HEADERS_DKIM_PERMERROR] = "permerror",
};

const char *
headers_dkim_name(headers_dkim_result_t result)
{
    return (unsigned) result < sizeof s_names / sizeof s_names[0] ? s_names[result] : "permerror";
}

/* s_key_name - "selector._domainkey.domain" of SIG into OUT; false when unusable. */
static bool
s_key_name(DKIM_SIGINFO *sig, char *out, size_t size)
{
    const char *d = (const char *) dkim_sig_getdomain(sig);
    const char *s = (const char *) dkim_sig_getselector(sig);
    if (d == NULL || s == NULL)
        return false;
    int n = snprintf(out, size, "%s._domainkey.%s", s, d);
    return n > 0 && (size_t) n < size && headers_domain_is_valid(out, (size_t) n);
}

/* s_key_lookup - libopendkim's key lookup: the key record through our resolver. */
static DKIM_CBSTAT
s_key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
    s_lookup_t *ctx = dkim_get_user_context(dkim);
    char name[HEADERS_DOMAIN_MAX * 2];
    if (ctx == NULL || !s_key_name(sig, name, sizeof name))
        return DKIM_CBSTAT_NOTFOUND;
    sl_dns_answer_t answer;
    memset(&answer, 0, sizeof answer);
    sl_dns_status_t st = ctx->resolver->query(ctx->resolver->arg, name, SL_DNS_TXT, &answer);
    DKIM_CBSTAT rc = DKIM_CBSTAT_NOTFOUND;
    if (st == SL_DNS_TEMPFAIL) {
        if (ctx->temp_count < HEADERS_DKIM_SIGS_MAX)
            sl_strlcpy(ctx->temp[ctx->temp_count++], name, sizeof ctx->temp[0]);
    } else if (st == SL_DNS_OK && answer.count > 0 && answer.rr[0].text &&
               answer.rr[0].len < buflen && memchr(answer.rr[0].text, '\0', answer.rr[0].len) == NULL) {
        /* several records: RFC 6376 3.6.2.2 lets the verifier pick one; the first */
        memcpy(buf, answer.rr[0].text, answer.rr[0].len);
        buf[answer.rr[0].len] = '\0';
        rc = DKIM_CBSTAT_CONTINUE;
    }
    ctx->resolver->clear(ctx->resolver->arg, &answer);
    return rc;
}

headers_dkim_lib_t *
headers_dkim_new(const char **why)
{
    DKIM_LIB *lib = dkim_init(NULL, NULL);
    if (lib == NULL) {
        sl_fail(why, "dkim_init failed");
        return NULL;
    }
    unsigned int flags = DKIM_LIBFLAGS_BADSIGHANDLES | DKIM_LIBFLAGS_FIXCRLF;
    if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags) != DKIM_STAT_OK ||
        dkim_set_key_lookup(lib, s_key_lookup) != DKIM_STAT_OK) {
        dkim_close(lib);
        sl_fail(why, "dkim_options failed");
        return NULL;
    }
    headers_dkim_lib_t *self = sl_xcalloc(1, sizeof *self);
    self->lib = lib;
    return self;
}

void
headers_dkim_destroy(headers_dkim_lib_t **self_p)
{
    headers_dkim_lib_t *self = *self_p;
    if (self == NULL)
        return;
    dkim_close(self->lib);
    free(self);
    *self_p = NULL;
}

/* s_copy - a printable copy of hostile text (signature tags) into OUT. */
static void
s_copy(char *out, size_t size, const unsigned char *text)
{
    size_t n = 0;
    for (; text && text[n] && n + 1 < size; n++)
        out[n] = (text[n] < 0x21 || text[n] > 0x7e) ? '?' : (char) text[n];
    out[n] = '\0';
}

static void
s_sig(DKIM *dkim, DKIM_SIGINFO *sig, const s_lookup_t *ctx, headers_dkim_sig_t *out)
{
    memset(out, 0, sizeof *out);
    s_copy(out->domain, sizeof out->domain, dkim_sig_getdomain(sig));
    s_copy(out->selector, sizeof out->selector, dkim_sig_getselector(sig));
    s_copy(out->algorithm, sizeof out->algorithm, dkim_sig_getalgorithm(sig));
    u_char b[sizeof out->b];
    size_t blen = 9; /* 8 characters and the NUL */
    if (dkim_get_sigsubstring(dkim, sig, (char *) b, &blen) == DKIM_STAT_OK && blen < sizeof b) {
        b[blen] = '\0';
        s_copy(out->b, sizeof out->b, b);
    }
    unsigned flags = dkim_sig_getflags(sig);
    int bh = dkim_sig_getbh(sig);
    int err = dkim_sig_geterror(sig);
    char name[HEADERS_DOMAIN_MAX * 2];
    bool temp = false;
    for (size_t i = 0; i < ctx->temp_count && s_key_name(sig, name, sizeof name); i++)
        temp |= strcmp(ctx->temp[i], name) == 0;
    if ((flags & DKIM_SIGFLAG_PASSED) && bh == DKIM_SIGBH_MATCH) {
        out->result = HEADERS_DKIM_PASS;
        return;
    }
    if (temp || err == DKIM_SIGERROR_KEYFAIL) {
        out->result = HEADERS_DKIM_TEMPERROR;
        snprintf(out->why, sizeof out->why, "key lookup failed for now");
    } else if (err == DKIM_SIGERROR_BADSIG || bh == DKIM_SIGBH_MISMATCH) {
        out->result = HEADERS_DKIM_FAIL;
        snprintf(out->why, sizeof out->why, "%s",
                 bh == DKIM_SIGBH_MISMATCH ? "body hash mismatch" : "signature verification failed");
    } else {
        out->result = HEADERS_DKIM_PERMERROR;
        const char *text = err > 0 ? dkim_sig_geterrorstr(err) : NULL;
        snprintf(out->why, sizeof out->why, "%s",
                 text ? text : bh == DKIM_SIGBH_MISMATCH ? "body hash mismatch" : "not verified");
    }
}

int
headers_dkim_verify(headers_dkim_lib_t *self, const headers_resolver_t *resolver,
                    const headers_msg_t *msg, const char *id, headers_dkim_t *out)
{
    memset(out, 0, sizeof *out);
    if (headers_msg_find(msg, "DKIM-Signature", 0) == NULL)
        return 0;
    DKIM_STAT st;
    DKIM *dkim = dkim_verify(self->lib, (const u_char *) (id && id[0] ? id : "-"), NULL, &st);
    if (dkim == NULL)
        return -1;
    s_lookup_t *ctx = sl_xcalloc(1, sizeof *ctx);
    ctx->resolver = resolver;
    dkim_set_user_context(dkim, ctx);
    size_t signatures = 0;
    for (size_t i = 0; i < msg->count; i++) {
        const headers_field_t *f = &msg->fields[i];
        bool is_sig = f->name.len == 14 && strncasecmp(f->name.ptr, "DKIM-Signature", 14) == 0;
        if (is_sig && ++signatures > HEADERS_DKIM_SIGS_MAX) {
            out->skipped++;
            continue; /* more signatures than anyone legitimate sends: not verified */
        }
        /* libopendkim copies the field; the cast drops a const it does not need */
        st = dkim_header(dkim, (u_char *) (uintptr_t) f->field.ptr, f->field.len);
        if (st != DKIM_STAT_OK)
            sl_log_debug(id, "dkim_header: %s", dkim_getresultstr(st));
    }
    st = dkim_eoh(dkim);
    /* no body at all: libopendkim asserts on a NULL buffer, so none is given */
    if (st == DKIM_STAT_OK && msg->body.len > 0)
        st = dkim_body(dkim, (u_char *) (uintptr_t) msg->body.ptr, msg->body.len);
    if (st == DKIM_STAT_OK)
        st = dkim_eom(dkim, NULL);
    if (st != DKIM_STAT_OK)
        sl_log_debug(id, "dkim: %s (%s)", dkim_getresultstr(st), dkim_geterror(dkim));
    DKIM_SIGINFO **sigs = NULL;
    int nsigs = 0;
    if (dkim_getsiglist(dkim, &sigs, &nsigs) == DKIM_STAT_OK) {
        for (int i = 0; i < nsigs && out->count < HEADERS_DKIM_SIGS_MAX; i++)
            s_sig(dkim, sigs[i], ctx, &out->sigs[out->count++]);
    }
    dkim_free(dkim);
    free(ctx);
    return 0;
}
