/*
 * lib/sl_dns.c - the one DNS resolver: libunbound, asynchronous, cached.
 *
 * One ub_ctx per sl_dns_t, resolving in libunbound's own background thread
 * (ub_ctx_async(ctx, 1)), so its cache is shared by every scan thread. Queries
 * go in with ub_resolve_async; answers come back through one pipe (ub_fd) and
 * are handed to their callbacks by ub_process. Whichever waiting thread is the
 * "poller" (leader/follower) sleeps on that pipe and runs ub_process under the
 * lock; the others sleep on a condition variable and are woken after each
 * round, so no answer waits for a thread that happens to be asleep elsewhere.
 * What is still unanswered at the deadline is cancelled (ub_cancel: its
 * callback never runs) and reported SL_DNS_TEMPFAIL "timeout".
 *
 * Record data comes from the network: every length is checked here, names
 * may not be compressed (libunbound hands rdata of these types uncompressed),
 * and a malformed record makes the whole answer SL_DNS_TEMPFAIL.
 * Tests: tests/unit/test_sl_dns.c, tests/fuzz/fuzz_sl_dns_rdata.c
 */
#include "sl_dns.h"
#include "sl_mem.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unbound.h>

#define SL_DNS_TIMEOUT_DEFAULT_MS 5000 /* per query batch when the config says nothing */
#define SL_DNS_TIMEOUT_MAX_MS 60000    /* a resolver that waits longer holds SMTP sessions */
#define SL_DNS_FORWARD_MAX 16          /* upstreams in dns.forward */
#define SL_DNS_POLL_SLICE_MS 250       /* the poller re-checks its own deadline this often */
#define SL_DNS_NAME_TEXT_MAX 1024      /* 255 wire octets, each at most "\DDD" */
#define SL_DNS_ROOT_KEY "/usr/share/dns/root.key" /* Debian's dns-root-data */

struct sl_dns {
    struct ub_ctx *ub;    /* libunbound context: cache, upstreams, background thread */
    int timeout_ms;       /* default wait for one query or batch */
    bool dnssec;          /* validation on */
    pthread_mutex_t lock; /* ub_process, callbacks and the batches they complete */
    pthread_cond_t wake;  /* broadcast after each ub_process round */
    bool polling;         /* one thread is waiting on ub_fd */
};

typedef struct {
    size_t pending; /* queries of this batch still unanswered */
} s_batch_t;

typedef struct {
    s_batch_t *batch;      /* the batch this query belongs to */
    sl_dns_answer_t *out;  /* where the answer goes */
    unsigned char *packet; /* optional copy of the reply packet */
    size_t packet_size;    /* bytes at packet */
    size_t *packet_len;    /* its length once answered */
    int async_id;          /* libunbound's id, for ub_cancel */
    bool dnssec;           /* the resolver validates: keep secure/bogus */
    bool done;             /* the callback ran */
} s_query_t;

static void s_why(sl_dns_answer_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
s_why(sl_dns_answer_t *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->why, sizeof out->why, fmt, ap);
    va_end(ap);
}

/* --- record data --- */

static const char s_hex[] = "0123456789abcdef";

/* s_name - uncompressed wire name at RDATA[*pos] as text into OUT (SL_DNS_NAME_TEXT_MAX + 1
 * bytes); dots and backslashes in labels and non-printable octets are escaped
 * (RFC 1035 5.1), the root is ".". Advances *pos past the name. */
static int
s_name(const uint8_t *rdata, size_t len, size_t *pos, char *out, const char **why)
{
    size_t at = *pos, wire = 0, n = 0;
    for (;;) {
        if (at >= len)
            return sl_fail(why, "name runs past the record");
        uint8_t label = rdata[at++];
        wire++;
        if ((label & 0xC0) != 0)
            return sl_fail(why, "compressed or extended label in record data");
        if (label == 0)
            break;
        if (label > len - at)
            return sl_fail(why, "label runs past the record");
        if (wire > 254 || label > 254 - wire) /* with the root label, 255 at most (RFC 1035 3.1) */
            return sl_fail(why, "name over 255 octets");
        wire += label;
        if (n > 0)
            out[n++] = '.';
        for (size_t i = 0; i < label; i++) {
            uint8_t c = rdata[at + i];
            if (c == '.' || c == '\\') {
                out[n++] = '\\';
                out[n++] = (char)c;
            } else if (c < 0x21 || c > 0x7e) {
                n += (size_t)snprintf(out + n, 5, "\\%03u", c);
            } else {
                out[n++] = (char)c;
            }
        }
        at += label;
    }
    if (n == 0)
        out[n++] = '.';
    out[n] = '\0';
    *pos = at;
    return 0;
}

static char *
s_hexdump(const uint8_t *rdata, size_t len, size_t *text_len)
{
    char *text = sl_xmalloc(len * 2 + 1);
    for (size_t i = 0; i < len; i++) {
        text[2 * i] = s_hex[rdata[i] >> 4];
        text[2 * i + 1] = s_hex[rdata[i] & 0x0f];
    }
    text[len * 2] = '\0';
    *text_len = len * 2;
    return text;
}

/* s_txt - character-strings joined; past SL_DNS_TXT_MAX the rest is dropped. */
static char *
s_txt(const uint8_t *rdata, size_t len, size_t *text_len, const char **why)
{
    if (len == 0) {
        sl_fail(why, "TXT record without a string");
        return NULL;
    }
    char *text = sl_xmalloc(SL_DNS_TXT_MAX + 1);
    size_t at = 0, n = 0;
    while (at < len) {
        size_t chunk = rdata[at++];
        if (chunk > len - at) {
            free(text);
            sl_fail(why, "TXT string runs past the record");
            return NULL;
        }
        size_t keep = chunk < SL_DNS_TXT_MAX - n ? chunk : SL_DNS_TXT_MAX - n;
        memcpy(text + n, rdata + at, keep);
        n += keep;
        at += chunk;
    }
    text[n] = '\0';
    *text_len = n;
    return text;
}

int
sl_dns_rdata_text(int type, const uint8_t *rdata, size_t len, char **text, size_t *text_len,
                  const char **why)
{
    assert(text && text_len);
    *text = NULL;
    *text_len = 0;
    if (rdata == NULL && len > 0)
        return sl_fail(why, "no record data");
    char buf[SL_DNS_NAME_TEXT_MAX + 16];
    size_t pos = 0;
    switch (type) {
    case SL_DNS_A:
    case SL_DNS_AAAA:
        if (len != (type == SL_DNS_A ? 4u : 16u))
            return sl_fail(why, "address record of the wrong length");
        if (inet_ntop(type == SL_DNS_A ? AF_INET : AF_INET6, rdata, buf, sizeof buf) == NULL)
            return sl_fail(why, "address not printable");
        break;
    case SL_DNS_TXT:
        *text = s_txt(rdata, len, text_len, why);
        return *text ? 0 : -1;
    case SL_DNS_MX: {
        if (len < 3)
            return sl_fail(why, "MX record too short");
        unsigned pref = (unsigned)rdata[0] << 8 | rdata[1];
        int n = snprintf(buf, sizeof buf, "%u ", pref);
        pos = 2;
        if (s_name(rdata, len, &pos, buf + n, why) != 0)
            return -1;
        break;
    }
    case SL_DNS_PTR:
    case SL_DNS_CNAME:
    case SL_DNS_NS:
        if (s_name(rdata, len, &pos, buf, why) != 0)
            return -1;
        break;
    case SL_DNS_TLSA:
        if (len < 3)
            return sl_fail(why, "TLSA record too short");
        *text = s_hexdump(rdata, len, text_len);
        return 0;
    default:
        /* Any other type: hex of the rdata, so callers can still see it. */
        *text = s_hexdump(rdata, len, text_len);
        return 0;
    }
    if ((type == SL_DNS_MX || type == SL_DNS_PTR || type == SL_DNS_CNAME || type == SL_DNS_NS) &&
        pos != len)
        return sl_fail(why, "bytes after the name in the record");
    *text_len = strlen(buf);
    *text = sl_xstrndup(buf, *text_len);
    return 0;
}

/* s_fill - an answer from libunbound's result; takes nothing, frees nothing. */
static void
s_fill(sl_dns_answer_t *out, int err, const struct ub_result *res, bool dnssec)
{
    if (err != 0) {
        out->status = err == UB_SYNTAX ? SL_DNS_NXDOMAIN : SL_DNS_TEMPFAIL;
        out->rcode = -1;
        s_why(out, err == UB_SYNTAX ? "not a valid query name (%s)" : "resolver: %s",
              ub_strerror(err));
        return;
    }
    out->rcode = res->rcode;
    out->secure = dnssec && res->secure;
    out->bogus = dnssec && res->bogus;
    out->ttl = res->ttl > 0 ? (uint32_t)res->ttl : 0;
    if (out->bogus) {
        out->status = SL_DNS_TEMPFAIL;
        s_why(out, "DNSSEC bogus: %s", res->why_bogus ? res->why_bogus : "no reason given");
        return;
    }
    if (res->rcode == 3) {
        out->status = SL_DNS_NXDOMAIN;
        return;
    }
    if (res->rcode != 0) {
        out->status = SL_DNS_TEMPFAIL;
        char code[16];
        snprintf(code, sizeof code, "%d", res->rcode);
        s_why(out, "rcode %s", res->rcode == 2 ? "SERVFAIL" : res->rcode == 5 ? "REFUSED" : code);
        return;
    }
    if (!res->havedata || res->data == NULL || res->len == NULL || res->data[0] == NULL) {
        out->status = SL_DNS_NODATA;
        return;
    }
    size_t count = 0;
    for (size_t i = 0; res->data[i] != NULL && count < SL_DNS_RR_MAX; i++) {
        const char *why = NULL;
        if (res->len[i] < 0 ||
            sl_dns_rdata_text(res->qtype, (const uint8_t *)res->data[i], (size_t)res->len[i],
                              &out->rr[count].text, &out->rr[count].len, &why) != 0) {
            out->count = count;
            sl_dns_answer_clear(out);
            out->status = SL_DNS_TEMPFAIL;
            out->rcode = res->rcode;
            s_why(out, "malformed record: %s", why ? why : "negative length");
            return;
        }
        count++;
    }
    out->count = count;
    out->status = SL_DNS_OK;
}

/* s_on_answer - libunbound's callback, run inside ub_process under self->lock. */
static void
s_on_answer(void *arg, int err, struct ub_result *res)
{
    s_query_t *q = arg;
    s_fill(q->out, err, res, q->dnssec);
    if (q->packet && res && res->answer_packet && res->answer_len > 0) {
        if ((size_t)res->answer_len <= q->packet_size) {
            memcpy(q->packet, res->answer_packet, (size_t)res->answer_len);
            *q->packet_len = (size_t)res->answer_len;
        } else {
            sl_dns_answer_clear(q->out);
            q->out->status = SL_DNS_TEMPFAIL;
            s_why(q->out, "reply packet over the caller's buffer");
        }
    }
    if (res)
        ub_resolve_free(res);
    q->done = true;
    q->batch->pending--;
}

static struct timespec
s_abs_time(uint64_t deadline_mono_ms)
{
    struct timespec ts = {.tv_sec = (time_t)(deadline_mono_ms / 1000),
                          .tv_nsec = (long)(deadline_mono_ms % 1000) * 1000000L};
    return ts;
}

/* s_run - QS in parallel into OUT; at most TIMEOUT_MS. PACKETS optional. */
static void
s_run(sl_dns_t *self, const sl_dns_query_t *qs, size_t n, sl_dns_answer_t *out, int timeout_ms,
      s_query_t *q)
{
    assert(self && (n == 0 || (qs && out)));
    assert(n <= SL_DNS_BATCH_MAX);
    s_batch_t batch = {0};
    uint64_t deadline = sl_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : self->timeout_ms);

    pthread_mutex_lock(&self->lock);
    for (size_t i = 0; i < n; i++) {
        sl_dns_answer_t *a = &out[i];
        memset(a, 0, sizeof *a);
        a->status = SL_DNS_TEMPFAIL;
        q[i].batch = &batch;
        q[i].out = a;
        q[i].done = true;
        size_t len = strnlen(qs[i].name, sizeof qs[i].name);
        if (len == 0 || len == sizeof qs[i].name) {
            a->status = SL_DNS_NXDOMAIN;
            a->rcode = -1;
            s_why(a, "not a valid query name (%s)", len ? "over 255 octets" : "empty");
            continue;
        }
        if (qs[i].type <= 0 || qs[i].type > 65535) {
            a->rcode = -1;
            s_why(a, "not a query type");
            continue;
        }
        q[i].dnssec = self->dnssec;
        q[i].done = false;
        batch.pending++;
        int err = ub_resolve_async(self->ub, qs[i].name, qs[i].type, 1 /* IN */, &q[i], s_on_answer,
                                   &q[i].async_id);
        if (err != 0) {
            q[i].done = true;
            batch.pending--;
            s_fill(a, err, NULL, false);
        }
    }

    /* Leader/follower: one thread sleeps on ub_fd and runs ub_process; the
     * callbacks it runs may complete other threads' batches, so it wakes them. */
    while (batch.pending > 0) {
        uint64_t now = sl_mono_ms();
        if (now >= deadline)
            break;
        if (!self->polling) {
            self->polling = true;
            pthread_mutex_unlock(&self->lock);
            uint64_t left = deadline - now;
            struct pollfd pfd = {.fd = ub_fd(self->ub), .events = POLLIN};
            int ready =
                poll(&pfd, 1, (int)(left < SL_DNS_POLL_SLICE_MS ? left : SL_DNS_POLL_SLICE_MS));
            pthread_mutex_lock(&self->lock);
            if (ready > 0)
                ub_process(self->ub);
            self->polling = false;
            pthread_cond_broadcast(&self->wake);
        } else {
            struct timespec until = s_abs_time(deadline);
            pthread_cond_timedwait(&self->wake, &self->lock, &until);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (q[i].done)
            continue;
        /* After ub_cancel the callback never runs; the answer (if any) is dropped. */
        ub_cancel(self->ub, q[i].async_id);
        q[i].done = true;
        out[i].status = SL_DNS_TEMPFAIL;
        out[i].rcode = -1;
        s_why(&out[i], "timeout");
    }
    pthread_mutex_unlock(&self->lock);
}

void
sl_dns_query_many(sl_dns_t *self, const sl_dns_query_t *qs, size_t n, sl_dns_answer_t *out,
                  int timeout_ms)
{
    s_query_t *q = sl_xcalloc(n ? n : 1, sizeof *q);
    s_run(self, qs, n, out, timeout_ms, q);
    free(q);
}

sl_dns_status_t
sl_dns_query(sl_dns_t *self, const char *name, int type, sl_dns_answer_t *out)
{
    sl_dns_query_t one = {.type = type};
    if (sl_strlcpy(one.name, name, sizeof one.name) >= sizeof one.name)
        one.name[0] = '\0'; /* refused in s_run as not a valid name */
    s_query_t q = {0};
    s_run(self, &one, 1, out, 0, &q);
    return out->status;
}

sl_dns_status_t
sl_dns_query_packet(sl_dns_t *self, const char *name, int type, sl_dns_answer_t *out,
                    unsigned char *packet, size_t size, size_t *packet_len)
{
    assert(packet && packet_len);
    *packet_len = 0;
    sl_dns_query_t one = {.type = type};
    if (sl_strlcpy(one.name, name, sizeof one.name) >= sizeof one.name)
        one.name[0] = '\0';
    s_query_t q = {.packet = packet, .packet_size = size, .packet_len = packet_len};
    s_run(self, &one, 1, out, 0, &q);
    return out->status;
}

void
sl_dns_answer_clear(sl_dns_answer_t *answer)
{
    if (answer == NULL)
        return;
    for (size_t i = 0; i < answer->count && i < SL_DNS_RR_MAX; i++) {
        free(answer->rr[i].text);
        answer->rr[i].text = NULL;
        answer->rr[i].len = 0;
    }
    answer->count = 0;
}

/* --- construction --- */

static sl_dns_t *
s_fail_new(sl_dns_t *self, char *err, size_t errlen, const char *what, const char *detail)
{
    snprintf(err, errlen, "dns: %s%s%s", what, detail ? ": " : "", detail ? detail : "");
    sl_dns_destroy(&self);
    return NULL;
}

static int
s_option(sl_dns_t *self, const char *opt, const char *val, char *err, size_t errlen)
{
    int rc = ub_ctx_set_option(self->ub, opt, val);
    if (rc != 0)
        snprintf(err, errlen, "dns: libunbound refused %s %s: %s", opt, val, ub_strerror(rc));
    return rc == 0 ? 0 : -1;
}

/* s_new - resolver with FORWARDS (N of them; 0 = resolv.conf). */
static sl_dns_t *
s_new(const char *const *forwards, size_t n, int timeout_ms, bool dnssec, const char *anchor,
      char *err, size_t errlen)
{
    sl_dns_t *self = sl_xcalloc(1, sizeof *self);
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : SL_DNS_TIMEOUT_DEFAULT_MS;
    self->dnssec = dnssec;
    pthread_mutex_init(&self->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&self->wake, &attr);
    pthread_condattr_destroy(&attr);
    self->ub = ub_ctx_create();
    if (self->ub == NULL)
        return s_fail_new(self, err, errlen, "cannot create a libunbound context", NULL);
    int rc = ub_ctx_async(self->ub, 1);
    if (rc != 0)
        return s_fail_new(self, err, errlen, "no resolver thread", ub_strerror(rc));
    /* Upstreams on loopback (a local cache, the test server) are allowed;
     * unbound refuses them by default. A timeout from one name must not mark
     * the upstream down for all others: keep probing it. Without DNSSEC the
     * validator module is not loaded at all. Answers keep the upstream's
     * record order (libunbound would rotate each RRset by a random offset):
     * a check that reads only the first N records, as SPF's ptr does with
     * ten names, gives the same verdict every time, and a replay too. */
    if (s_option(self, "do-not-query-localhost:", "no", err, errlen) != 0 ||
        s_option(self, "infra-keep-probing:", "yes", err, errlen) != 0 ||
        s_option(self, "rrset-roundrobin:", "no", err, errlen) != 0 ||
        s_option(self, "module-config:", dnssec ? "validator iterator" : "iterator", err, errlen) !=
            0) {
        sl_dns_destroy(&self);
        return NULL;
    }
    if (dnssec) {
        rc = ub_ctx_add_ta_file(self->ub, anchor ? anchor : SL_DNS_ROOT_KEY);
        if (rc != 0)
            return s_fail_new(self, err, errlen, "cannot read the DNSSEC trust anchor",
                              anchor ? anchor : SL_DNS_ROOT_KEY);
    }
    for (size_t i = 0; i < n; i++) {
        rc = ub_ctx_set_fwd(self->ub, forwards[i]);
        if (rc != 0) {
            char detail[320];
            snprintf(detail, sizeof detail, "\"%s\" (%s)", forwards[i], ub_strerror(rc));
            return s_fail_new(self, err, errlen, "bad forward address, expected IP or IP@PORT",
                              detail);
        }
    }
    if (n == 0) {
        rc = ub_ctx_resolvconf(self->ub, NULL);
        if (rc != 0)
            return s_fail_new(self, err, errlen, "cannot read /etc/resolv.conf", ub_strerror(rc));
    }
    return self;
}

sl_dns_t *
sl_dns_new_forward(const char *forward, int timeout_ms, char *err, size_t errlen)
{
    const char *one[] = {forward};
    return s_new(one, forward && forward[0] ? 1 : 0, timeout_ms, false, NULL, err, errlen);
}

sl_dns_t *
sl_dns_new(sl_cfg_t *cfg, const sl_cfg_node_t *section, char *err, size_t errlen)
{
    static const char *const keys[] = {"forward",      "timeout",       "dnssec",
                                       "trust_anchor", "unblock_zones", NULL};
    if (cfg == NULL || section == NULL)
        return s_new(NULL, 0, SL_DNS_TIMEOUT_DEFAULT_MS, false, NULL, err, errlen);
    size_t errors = sl_cfg_error_count(cfg);
    if (sl_cfg_kind(section) != SL_CFG_MAP) {
        sl_cfg_expected(cfg, section,
                        "a map (forward, timeout, dnssec, trust_anchor, unblock_zones)");
    } else {
        sl_cfg_check_keys(cfg, section, keys);
    }
    const char *forwards[SL_DNS_FORWARD_MAX];
    size_t n = 0;
    const sl_cfg_node_t *fwd = sl_cfg_get(section, "forward");
    if (fwd && sl_cfg_kind(fwd) == SL_CFG_SCALAR && !sl_cfg_is_null(fwd)) {
        forwards[n++] = sl_cfg_scalar(fwd);
    } else if (fwd && sl_cfg_kind(fwd) == SL_CFG_SEQ) {
        for (size_t i = 0; i < sl_cfg_count(fwd); i++) {
            const sl_cfg_node_t *one = sl_cfg_at(fwd, i);
            if (sl_cfg_kind(one) != SL_CFG_SCALAR || sl_cfg_is_null(one))
                sl_cfg_expected(cfg, one, "an address, IP or IP@PORT");
            else if (n == SL_DNS_FORWARD_MAX)
                sl_cfg_expected(cfg, one, "at most %d upstreams", SL_DNS_FORWARD_MAX);
            else
                forwards[n++] = sl_cfg_scalar(one);
        }
    } else if (fwd && !sl_cfg_is_null(fwd)) {
        sl_cfg_expected(cfg, fwd, "an address or a list of addresses (IP or IP@PORT)");
    }
    int64_t timeout = sl_cfg_get_duration_ms(cfg, section, "timeout", SL_DNS_TIMEOUT_DEFAULT_MS, 10,
                                             SL_DNS_TIMEOUT_MAX_MS);
    bool dnssec = sl_cfg_get_bool(cfg, section, "dnssec", false);
    const char *anchor = sl_cfg_get_str(cfg, section, "trust_anchor", SL_DNS_ROOT_KEY);
    const sl_cfg_node_t *unblock = sl_cfg_get(section, "unblock_zones");
    if (unblock && !sl_cfg_is_null(unblock) && sl_cfg_kind(unblock) != SL_CFG_SEQ)
        sl_cfg_expected(cfg, unblock, "a list of zone names");
    if (sl_cfg_error_count(cfg) > errors) {
        snprintf(err, errlen, "%s", sl_cfg_errors(cfg));
        return NULL;
    }
    sl_dns_t *self = s_new(forwards, n, (int)timeout, dnssec, anchor, err, errlen);
    size_t zones = unblock && sl_cfg_kind(unblock) == SL_CFG_SEQ ? sl_cfg_count(unblock) : 0;
    for (size_t i = 0; self && i < zones; i++) {
        const sl_cfg_node_t *zone = sl_cfg_at(unblock, i);
        bool named = sl_cfg_kind(zone) == SL_CFG_SCALAR && !sl_cfg_is_null(zone);
        if (!named)
            snprintf(err, errlen, "dns: unblock_zones: a zone name expected");
        if (!named || sl_dns_unblock_zone(self, sl_cfg_scalar(zone), err, errlen) != 0)
            sl_dns_destroy(&self);
    }
    return self;
}

int
sl_dns_unblock_zone(sl_dns_t *self, const char *zone, char *err, size_t errlen)
{
    assert(self && zone);
    size_t len = strlen(zone);
    if (len == 0 || len > 254) {
        snprintf(err, errlen, "dns: unblock_zones: \"%.64s\" is not a zone name", zone);
        return -1;
    }
    char name[256];
    snprintf(name, sizeof name, "%s%s", zone, zone[len - 1] == '.' ? "" : ".");
    int rc = ub_ctx_zone_remove(self->ub, name);
    if (rc != 0 && rc != UB_NOERROR) {
        snprintf(err, errlen, "dns: unblock_zones: %s: %s", name, ub_strerror(rc));
        return -1;
    }
    return 0;
}

void
sl_dns_destroy(sl_dns_t **self_p)
{
    assert(self_p);
    sl_dns_t *self = *self_p;
    if (self == NULL)
        return;
    if (self->ub)
        ub_ctx_delete(self->ub);
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

int
sl_dns_timeout_ms(const sl_dns_t *self)
{
    assert(self);
    return self->timeout_ms;
}

/* --- names --- */

int
sl_dns_reverse_name(const char *ip, const char *suffix, char *out, size_t size)
{
    assert(ip && out);
    unsigned char addr[16];
    char rev[80];
    size_t n = 0;
    if (inet_pton(AF_INET, ip, addr) == 1) {
        int w = snprintf(rev, sizeof rev, "%u.%u.%u.%u", addr[3], addr[2], addr[1], addr[0]);
        n = (size_t)w;
    } else if (inet_pton(AF_INET6, ip, addr) == 1) {
        for (int i = 15; i >= 0; i--) {
            rev[n++] = s_hex[addr[i] & 0x0f];
            rev[n++] = '.';
            rev[n++] = s_hex[addr[i] >> 4];
            rev[n++] = '.';
        }
        rev[--n] = '\0'; /* no dot after the last nibble */
    } else {
        return -1;
    }
    int w = suffix && suffix[0] ? snprintf(out, size, "%s.%s", rev, suffix)
                                : snprintf(out, size, "%s", rev);
    if (w < 0 || (size_t)w >= size)
        return -1;
    return 0;
}
