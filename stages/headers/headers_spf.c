/*
 * stages/headers/headers_spf.c - SPF (RFC 7208) with libspf2, resolving
 * through a headers_resolver_t.
 *
 * libspf2 asks a chain of SPF_dns_server_t "layers" for records (see its
 * spf_dns_resolv.c and spf_dns_zone.c); ours is one layer whose lookup turns
 * an sl_dns answer into an SPF_dns_rr_t, so the checks never reach the system
 * resolver. Answers are untrusted: addresses are parsed with inet_pton, host
 * names lose their final dot, and anything unusable is skipped.
 * Each check builds its own small SPF_server_t: the scan threads share nothing.
 * Tests: tests/unit/test_headers_spf.c, tests/spf/ (the RFC 7208 suite)
 */
#include "headers.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <spf2/spf.h>

static const char *const s_names[] = {
    [HEADERS_SPF_NONE] = "none",         [HEADERS_SPF_NEUTRAL] = "neutral",
    [HEADERS_SPF_PASS] = "pass",         [HEADERS_SPF_FAIL] = "fail",
    [HEADERS_SPF_SOFTFAIL] = "softfail", [HEADERS_SPF_TEMPERROR] = "temperror",
    [HEADERS_SPF_PERMERROR] = "permerror",
};

const char *
headers_spf_name(headers_spf_result_t result)
{
    return (unsigned) result < sizeof s_names / sizeof s_names[0] ? s_names[result] : "none";
}

static void
s_spf_log(const char *file, int line, const char *text)
{
    (void) file;
    (void) line;
    char shown[256];
    sl_log_debug(NULL, "libspf2: %s", sl_log_str(text, strlen(text), shown, sizeof shown));
}

void
headers_spf_init(void)
{
    SPF_warning_handler = s_spf_log;
    SPF_info_handler = s_spf_log;
    SPF_debug_handler = s_spf_log;
}

/* s_rr_text - room for record CNT of RR and a copy of TEXT (LEN bytes, cut at a NUL). */
static bool
s_rr_text(SPF_dns_rr_t *rr, int cnt, const char *text, size_t len)
{
    const char *nul = memchr(text, '\0', len);
    if (nul)
        len = (size_t) (nul - text);
    if (SPF_dns_rr_buf_realloc(rr, cnt, len + 1) != SPF_E_SUCCESS)
        return false;
    memcpy(rr->rr[cnt]->txt, text, len);
    rr->rr[cnt]->txt[len] = '\0';
    return true;
}

/* s_rr_host - a host name record (MX "PREF HOST", PTR "HOST"), without its final dot. */
static bool
s_rr_host(SPF_dns_rr_t *rr, int cnt, const char *text, size_t len, bool mx)
{
    if (mx) {
        const char *sp = memchr(text, ' ', len);
        if (sp == NULL)
            return false;
        len -= (size_t) (sp + 1 - text);
        text = sp + 1;
    }
    if (len > 1 && text[len - 1] == '.')
        len--;
    return len > 0 && len < HEADERS_DOMAIN_MAX && s_rr_text(rr, cnt, text, len);
}

/* s_lookup - libspf2's lookup for our layer: one query through the resolver in the hook. */
static SPF_dns_rr_t *
s_lookup(SPF_dns_server_t *layer, const char *domain, ns_type type, int should_cache)
{
    (void) should_cache;
    const headers_resolver_t *resolver = layer->hook;
    if (type == ns_t_spf) /* RR type 99 is gone (RFC 7208 3.1): never published, never asked */
        return SPF_dns_rr_new_init(layer, domain, type, 0, NO_DATA);
    sl_dns_answer_t answer;
    memset(&answer, 0, sizeof answer);
    sl_dns_status_t st = resolver->query(resolver->arg, domain, (int) type, &answer);
    int herrno = st == SL_DNS_OK        ? NETDB_SUCCESS
                 : st == SL_DNS_NODATA  ? NO_DATA
                 : st == SL_DNS_NXDOMAIN ? HOST_NOT_FOUND
                                        : TRY_AGAIN;
    SPF_dns_rr_t *rr = SPF_dns_rr_new_init(layer, domain, type, (int) answer.ttl, herrno);
    if (rr == NULL)
        sl_panic("libspf2: out of memory");
    int cnt = 0;
    for (size_t i = 0; st == SL_DNS_OK && i < answer.count; i++) {
        const char *text = answer.rr[i].text;
        size_t len = answer.rr[i].len;
        bool ok = false;
        if (text == NULL)
            continue;
        switch (type) {
        case ns_t_a:
            ok = SPF_dns_rr_buf_realloc(rr, cnt, sizeof(struct in_addr)) == SPF_E_SUCCESS &&
                 inet_pton(AF_INET, text, &rr->rr[cnt]->a) == 1;
            break;
        case ns_t_aaaa:
            ok = SPF_dns_rr_buf_realloc(rr, cnt, sizeof(struct in6_addr)) == SPF_E_SUCCESS &&
                 inet_pton(AF_INET6, text, &rr->rr[cnt]->aaaa) == 1;
            break;
        case ns_t_mx:
            ok = s_rr_host(rr, cnt, text, len, true);
            break;
        case ns_t_ptr:
            ok = s_rr_host(rr, cnt, text, len, false);
            break;
        case ns_t_txt:
            ok = s_rr_text(rr, cnt, text, len);
            break;
        default:
            break;
        }
        cnt += ok;
    }
    rr->num_rr = cnt;
    if (st == SL_DNS_OK && cnt == 0)
        rr->herrno = NO_DATA;
    resolver->clear(resolver->arg, &answer);
    return rr;
}

/* s_result - ours from libspf2's result and the error its query returned: when
 * the record could not be fetched or compiled, libspf2 1.2.10 leaves the
 * result INVALID and only the error code tells a DNS failure from a bad record. */
static headers_spf_result_t
s_result(SPF_result_t r, SPF_errcode_t err)
{
    if (r == SPF_RESULT_INVALID)
        return err == SPF_E_DNS_ERROR ? HEADERS_SPF_TEMPERROR : HEADERS_SPF_PERMERROR;
    switch (r) {
    case SPF_RESULT_PASS:
        return HEADERS_SPF_PASS;
    case SPF_RESULT_FAIL:
        return HEADERS_SPF_FAIL;
    case SPF_RESULT_SOFTFAIL:
        return HEADERS_SPF_SOFTFAIL;
    case SPF_RESULT_NEUTRAL:
        return HEADERS_SPF_NEUTRAL;
    case SPF_RESULT_NONE:
        return HEADERS_SPF_NONE;
    case SPF_RESULT_PERMERROR:
        return HEADERS_SPF_PERMERROR;
    default:
        return HEADERS_SPF_TEMPERROR;
    }
}

static headers_spf_result_t
s_none(char *comment, size_t size, const char *why)
{
    snprintf(comment, size, "%s", why);
    return HEADERS_SPF_NONE;
}

headers_spf_result_t
headers_spf_check(const headers_resolver_t *resolver, const char *ip, const char *helo,
                  const char *sender, const char *receiver, char *comment, size_t size)
{
    comment[0] = '\0';
    if (ip == NULL || ip[0] == '\0')
        return s_none(comment, size, "no client address");
    bool helo_ok = helo && helo[0] && headers_domain_is_valid(helo, strlen(helo));
    if ((sender == NULL || sender[0] == '\0') && !helo_ok)
        return s_none(comment, size, "null sender and no HELO domain");

    SPF_dns_server_t layer = {
        .lookup = s_lookup, .name = "sluice", .hook = (void *) resolver, /* destroy NULL: ours */
    };
    SPF_server_t *server = SPF_server_new_dns(&layer, 0);
    if (server == NULL)
        sl_panic("libspf2: out of memory");
    if (receiver && receiver[0])
        SPF_server_set_rec_dom(server, receiver);
    /* libspf2's default explanation sends people to the defunct openspf.org */
    SPF_response_t *exp = NULL;
    SPF_server_set_explanation(server, "%{o} does not designate %{i} as permitted sender", &exp);
    if (exp)
        SPF_response_free(exp);
    SPF_request_t *req = SPF_request_new(server);
    headers_spf_result_t result = HEADERS_SPF_NONE;
    SPF_errcode_t err = strchr(ip, ':') ? SPF_request_set_ipv6_str(req, ip)
                                        : SPF_request_set_ipv4_str(req, ip);
    if (err != SPF_E_SUCCESS) {
        s_none(comment, size, "client address is not an IP address");
    } else {
        if (helo && helo[0]) /* as given: %{h} expands to it even when it is no domain */
            SPF_request_set_helo_dom(req, helo);
        /* the null sender: the HELO identity, postmaster@HELO (RFC 7208 2.4) */
        err = SPF_request_set_env_from(req, sender && sender[0] ? sender : helo);
        SPF_response_t *resp = NULL;
        if (err == SPF_E_SUCCESS)
            err = SPF_request_query_mailfrom(req, &resp);
        if (resp == NULL) {
            result = HEADERS_SPF_PERMERROR; /* RFC 7208 4.3: malformed sender domain */
            snprintf(comment, size, "sender is not a mailbox with a domain");
        } else {
            result = s_result(SPF_response_result(resp), err);
            const char *text = SPF_response_get_header_comment(resp);
            if (text == NULL && SPF_response_messages(resp) > 0) /* the first error, the cause */
                text = SPF_error_message(SPF_response_message(resp, 0));
            if (result == HEADERS_SPF_FAIL && SPF_response_get_explanation(resp))
                text = SPF_response_get_explanation(resp);
            if (text)
                snprintf(comment, size, "%s", text);
            SPF_response_free(resp);
        }
    }
    SPF_request_free(req);
    SPF_server_free(server);
    return result;
}
