/*
 * lib/sl_dns.h - the one DNS resolver: libunbound, asynchronous, cached.
 *
 * Serves rbl, url and headers (SPF, DKIM, DMARC) and delivery (MX, TLSA).
 * Configured from sluice.yaml's `dns:` section: `forward` (list of
 * "IP" or "IP@PORT" upstreams; empty = the system's resolv.conf),
 * `timeout` (per query), `dnssec` (validate with the root trust anchor).
 * Tests point `forward` at a DNS server on a loopback port.
 *
 * One sl_dns_t is shared by every thread of a process (libunbound is thread
 * safe); sl_dns_query_many sends a batch at once and waits for all of it,
 * bounded by the timeout, so ten DNSBLs cost one round trip, not ten.
 * Answers from the network are untrusted: record data is length-checked and
 * TXT strings are capped; a malformed answer is SL_DNS_TEMPFAIL, never a crash.
 * Tests: tests/unit/test_sl_dns.c (against tests/dns/dnsserver.py)
 */
#ifndef SL_DNS_H
#define SL_DNS_H

#include "sl_cfg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_DNS_RR_MAX 64        /* records kept from one answer */
#define SL_DNS_TXT_MAX 4096     /* bytes of one TXT record (strings joined) */
#define SL_DNS_BATCH_MAX 256    /* queries in one sl_dns_query_many */

typedef struct sl_dns sl_dns_t;

typedef enum {
    SL_DNS_OK,       /* an answer with records */
    SL_DNS_NODATA,   /* the name exists, no record of the type */
    SL_DNS_NXDOMAIN, /* the name does not exist */
    SL_DNS_TEMPFAIL, /* timeout, SERVFAIL, malformed answer: try later, never "no" */
} sl_dns_status_t;

/* RR types callers use. */
#define SL_DNS_A 1
#define SL_DNS_NS 2
#define SL_DNS_CNAME 5
#define SL_DNS_PTR 12
#define SL_DNS_MX 15
#define SL_DNS_TXT 16
#define SL_DNS_AAAA 28
#define SL_DNS_TLSA 52

typedef struct {
    char name[256];     /* query name */
    int type;           /* SL_DNS_* */
} sl_dns_query_t;

typedef struct {
    sl_dns_status_t status;
    int rcode;          /* DNS rcode as answered */
    bool secure;        /* DNSSEC validated */
    bool bogus;         /* DNSSEC validation failed */
    uint32_t ttl;       /* smallest TTL of the answer */
    size_t count;       /* records in rr */
    struct {
        size_t len;     /* bytes */
        char *text;     /* A/AAAA: printable address; TXT: strings joined; MX: "PREF HOST";
                           PTR/CNAME/NS: host name; TLSA: hex of the rdata. NUL-terminated. */
    } rr[SL_DNS_RR_MAX];
    char why[128];      /* reason for TEMPFAIL */
} sl_dns_answer_t;

/* sl_dns_new - resolver from the `dns:` section (NULL = defaults); NULL with ERR. */
sl_dns_t *sl_dns_new(sl_cfg_t *cfg, const sl_cfg_node_t *section, char *err, size_t errlen);
/* sl_dns_new_forward - resolver sending everything to FORWARD ("127.0.0.1@5353"). */
sl_dns_t *sl_dns_new_forward(const char *forward, int timeout_ms, char *err, size_t errlen);
void sl_dns_destroy(sl_dns_t **self_p);
/* sl_dns_unblock_zone - asks the upstream for names under ZONE that
 * libunbound would otherwise answer itself: its built-in local zones (RFC
 * 6303: reverse zones of private, loopback and documentation networks, such
 * as 168.192.in-addr.arpa.) answer NXDOMAIN without a query. For an internal
 * resolver that serves the LAN's PTR records (dns.unblock_zones), and for
 * tests that serve such records. A ZONE that is not a local zone is
 * harmless. 0, or -1 with ERR. */
int sl_dns_unblock_zone(sl_dns_t *self, const char *zone, char *err, size_t errlen);

/* sl_dns_query - one query, waiting at most the resolver's timeout. Fills *out
 * (free with sl_dns_answer_clear). Returns out->status. A name that cannot
 * exist (empty, an empty label, a label over 63 or a name over 255 octets)
 * is SL_DNS_NXDOMAIN with rcode -1 and a why, without asking anyone. */
sl_dns_status_t sl_dns_query(sl_dns_t *self, const char *name, int type, sl_dns_answer_t *out);
/* sl_dns_query_many - N queries in parallel; all answers within TIMEOUT_MS
 * (<= 0: the resolver's timeout); late ones are SL_DNS_TEMPFAIL "timeout"
 * (rcode -1) and cancelled. Safe from any number of threads at once. */
void sl_dns_query_many(sl_dns_t *self, const sl_dns_query_t *qs, size_t n, sl_dns_answer_t *out,
                       int timeout_ms);
/* sl_dns_answer_clear - frees the record texts of ANSWER (harmless when empty). */
void sl_dns_answer_clear(sl_dns_answer_t *answer);

/* sl_dns_query_packet - sl_dns_query that also copies the whole reply as
 * libunbound assembled it (wire format, RFC 1035 4.1: header, question,
 * answer, authority) into PACKET (SIZE bytes), its length in *PACKET_LEN (0
 * when there is none, e.g. timeout), for libraries that parse replies
 * themselves (libopendkim, libspf2). A reply over SIZE is SL_DNS_TEMPFAIL. */
sl_dns_status_t sl_dns_query_packet(sl_dns_t *self, const char *name, int type,
                                    sl_dns_answer_t *out, unsigned char *packet, size_t size,
                                    size_t *packet_len);
/* sl_dns_timeout_ms - the resolver's default timeout (dns.timeout). */
int sl_dns_timeout_ms(const sl_dns_t *self);

/* sl_dns_rdata_text - the text form of one record's data, as in
 * sl_dns_answer_t.rr[].text: RDATA is LEN bytes of uncompressed wire-format
 * rdata of TYPE (untrusted). 0 with *TEXT (caller frees, NUL-terminated; a
 * TXT may hold NUL bytes: trust *TEXT_LEN) and *TEXT_LEN, or -1 with *WHY.
 * Names come out as served, without the final dot, "\." and "\DDD" for
 * dots and odd bytes inside labels, "." for the root; compressed names,
 * wrong address lengths and strings or labels running past LEN are refused;
 * TXT strings are joined and cut at SL_DNS_TXT_MAX bytes; types without a
 * text form here come out as hex. The parser behind every answer (fuzzed). */
int sl_dns_rdata_text(int type, const uint8_t *rdata, size_t len, char **text, size_t *text_len,
                      const char **why);

/* sl_dns_reverse_name - "2.0.0.127.in-addr.arpa"-style name of IP (v4 or v6)
 * under SUFFIX ("zen.spamhaus.org", or "in-addr.arpa"/"ip6.arpa" for PTR). */
int sl_dns_reverse_name(const char *ip, const char *suffix, char *out, size_t size);

#endif
