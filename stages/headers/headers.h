/*
 * stages/headers/headers.h - the headers stage's modules, shared by the stage,
 * the sluice-headers-check tool and the unit tests.
 *
 * headers_msg     split the raw header section; parse From and Date (hostile input)
 * headers_spf     SPF (RFC 7208) with libspf2 over a headers_resolver_t
 * headers_dkim    DKIM (RFC 6376, RFC 8463) with libopendkim, keys over the resolver
 * headers_dmarc   DMARC (RFC 7489) with libopendmarc, organizational domain from libpsl
 * headers_sanity  forged internal sender, Date far off, display-name spoofing
 * headers_run     options, the checks in order, the verdict and Authentication-Results
 *
 * Every check resolves through a headers_resolver_t: sl_dns in the stage
 * (headers_dns.c), a table in the unit tests, so no check ever reaches the
 * system resolver by itself.
 * Tests: tests/unit/test_headers_*.c, tests/fuzz/fuzz_headers_msg.c,
 *        tests/spf/, tests/dkim/, tests/e2e/test_headers*.py
 */
#ifndef HEADERS_H
#define HEADERS_H

#include "sl_cfg.h"
#include "sl_dns.h"
#include "sl_env.h"
#include "sl_log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Limits on what is read of one message; past them the rest is not looked at. */
#define HEADERS_FIELDS_MAX 1000          /* header fields (Postfix header_count-like cap) */
#define HEADERS_SECTION_MAX (1024u << 10) /* header section bytes; Postfix's default
                                           * header_size_limit is 100 kB per field */
#define HEADERS_DKIM_SIGS_MAX 16         /* signatures verified: each costs a DNS query and a
                                          * hash of the message, so more is an attack */
#define HEADERS_DOMAIN_MAX 256           /* 255 octets of a domain name (RFC 1035) + NUL */
#define HEADERS_TEXT_MAX 128             /* reasons and comments kept per result */
#define HEADERS_PROTECTED_MAX 256        /* protected_domains entries */
#define HEADERS_AUTHRES_MAX 8192         /* Authentication-Results text, folded */

/* --- DNS ---------------------------------------------------------------- */

/* headers_resolver_t - how the checks resolve: query fills *out (freed with
 * clear), like sl_dns_query. */
typedef struct {
    sl_dns_status_t (*query)(void *arg, const char *name, int type, sl_dns_answer_t *out);
    void (*clear)(void *arg, sl_dns_answer_t *answer);
    void *arg;
} headers_resolver_t;

/* headers_dns_resolver - the resolver backed by sl_dns (headers_dns.c: linked into
 * the stage and the check tool, not into the unit tests). */
headers_resolver_t headers_dns_resolver(sl_dns_t *dns);
/* headers_options_from_args - "--key value" pairs (ARGV[1..]) as an options map
 * in a new sl_cfg (caller destroys); NULL with ERR. */
sl_cfg_t *headers_options_from_args(int argc, char **argv, char *err, size_t errlen);

/* A table resolver (headers_table.c): records in memory, for the unit tests
 * and offline checks. Not thread safe. */
typedef struct headers_table headers_table_t;
headers_table_t *headers_table_new(void);
void headers_table_destroy(headers_table_t **self_p);
/* headers_table_add - record of TYPE at NAME, TEXT as sl_dns renders it (TXT
 * strings joined, MX "PREF HOST"); TEXT NULL: NAME exists, no such record. */
void headers_table_add(headers_table_t *self, const char *name, int type, const char *text);
/* headers_table_fail - every query for NAME answers STATUS (SL_DNS_TEMPFAIL...). */
void headers_table_fail(headers_table_t *self, const char *name, sl_dns_status_t status);
/* headers_table_resolver - a resolver answering from SELF (borrowed). */
headers_resolver_t headers_table_resolver(headers_table_t *self);
/* headers_table_queries - queries answered so far. */
size_t headers_table_queries(const headers_table_t *self);

/* --- the message's header section (headers_msg.c) ------------------------ */

typedef struct {
    sl_slice_t name;  /* field name, without the colon or trailing blanks */
    sl_slice_t field; /* the whole field with its folds, without the final line break */
    sl_slice_t value; /* what follows the colon, folds included */
} headers_field_t;

typedef struct {
    headers_field_t *fields; /* in message order; headers_msg_clear frees the array */
    size_t count;            /* fields */
    sl_slice_t body;         /* after the empty line; empty when there is none */
    bool truncated;          /* a limit cut the header section short */
    size_t bad_lines;        /* lines in the header section that are not fields */
} headers_msg_t;

/* headers_msg_parse - split the header section of the raw message P/LEN (CRLF or
 * bare LF). Slices borrow P. A non-field line ends the header section, as in
 * Postfix; a leading mbox "From " line is skipped. Never fails: hostile input
 * gives fewer fields. */
void headers_msg_parse(const char *p, size_t len, headers_msg_t *out);
void headers_msg_clear(headers_msg_t *msg);
/* headers_msg_find - the NTH (0-based) field named NAME, case-insensitive; NULL. */
const headers_field_t *headers_msg_find(const headers_msg_t *msg, const char *name, size_t nth);
/* headers_msg_count - fields named NAME. */
size_t headers_msg_count(const headers_msg_t *msg, const char *name);

typedef struct {
    size_t mailboxes;                /* addresses found in the field */
    char display[256];               /* display name of the first, unquoted, encoded-words
                                      * decoded, control bytes replaced; "" if none */
    char local[128];                 /* local part of the first address (cut at 127) */
    char domain[HEADERS_DOMAIN_MAX]; /* its domain, lower case; "" if none */
} headers_from_t;

/* headers_from_parse - the mailboxes of a From:-like field value (RFC 5322
 * 3.4): 0, or -1 with *why when no address with a domain is found. */
int headers_from_parse(sl_slice_t value, headers_from_t *out, const char **why);
/* headers_date_parse - RFC 5322 3.3 date-time (and the obsolete zones) to
 * seconds since the epoch: 0, or -1 with *why. */
int headers_date_parse(sl_slice_t value, int64_t *out, const char **why);
/* headers_domain_is_valid - LDH labels, dots, 1..253 bytes (underscores allowed). */
bool headers_domain_is_valid(const char *p, size_t len);

/* --- SPF (headers_spf.c) ------------------------------------------------- */

typedef enum {
    HEADERS_SPF_NONE,
    HEADERS_SPF_NEUTRAL,
    HEADERS_SPF_PASS,
    HEADERS_SPF_FAIL,
    HEADERS_SPF_SOFTFAIL,
    HEADERS_SPF_TEMPERROR,
    HEADERS_SPF_PERMERROR,
} headers_spf_result_t;

/* headers_spf_name - "pass", "fail" ... as RFC 7208 and RFC 8601 spell them. */
const char *headers_spf_name(headers_spf_result_t result);
/* headers_spf_init - once per process, before threads: libspf2's log hooks. */
void headers_spf_init(void);
/* headers_spf_check - SPF of SENDER ("local@domain"; "" checks the HELO identity
 * as postmaster@HELO, RFC 7208 2.3) for client IP with HELO; RECEIVER is our
 * host name (%{r}). COMMENT gets libspf2's explanation or reason. */
headers_spf_result_t headers_spf_check(const headers_resolver_t *resolver, const char *ip,
                                       const char *helo, const char *sender,
                                       const char *receiver, char *comment, size_t size);

/* --- DKIM (headers_dkim.c) ----------------------------------------------- */

typedef enum {
    HEADERS_DKIM_PASS,
    HEADERS_DKIM_FAIL,      /* signature or body hash does not match */
    HEADERS_DKIM_TEMPERROR, /* key lookup failed for now */
    HEADERS_DKIM_PERMERROR, /* unusable signature or key, no key, revoked, expired */
} headers_dkim_result_t;

typedef struct {
    headers_dkim_result_t result;
    char domain[HEADERS_DOMAIN_MAX];  /* d= */
    char selector[HEADERS_DOMAIN_MAX]; /* s= */
    char algorithm[32];               /* a= */
    char b[16];                       /* first 8 characters of b= (RFC 6008) */
    char why[HEADERS_TEXT_MAX];       /* libopendkim's reason when not a pass */
} headers_dkim_sig_t;

typedef struct {
    size_t count;                                 /* signatures looked at */
    size_t skipped;                               /* beyond HEADERS_DKIM_SIGS_MAX */
    headers_dkim_sig_t sigs[HEADERS_DKIM_SIGS_MAX]; /* in header order */
} headers_dkim_t;

typedef struct headers_dkim_lib headers_dkim_lib_t;

/* headers_dkim_new - libopendkim set up for verifying (x= and t= are checked
 * against the clock: its fixed-time option only affects signing). NULL with *why. */
headers_dkim_lib_t *headers_dkim_new(const char **why);
void headers_dkim_destroy(headers_dkim_lib_t **self_p);
const char *headers_dkim_name(headers_dkim_result_t result);
/* headers_dkim_verify - every DKIM-Signature of MSG; 0, or -1 when the
 * library failed (not when a signature did). ID names the message in logs. */
int headers_dkim_verify(headers_dkim_lib_t *self, const headers_resolver_t *resolver,
                        const headers_msg_t *msg, const char *id, headers_dkim_t *out);

/* --- DMARC (headers_dmarc.c) --------------------------------------------- */

typedef struct {
    char result[16];                    /* pass, fail, none, temperror, permerror */
    char policy[16];                    /* p= (or sp=) that applies: none, quarantine,
                                         * reject; "" without a record */
    char action[16];                    /* quarantine or reject after pct; "" otherwise */
    char domain[HEADERS_DOMAIN_MAX];    /* RFC5322.From domain */
    char org_domain[HEADERS_DOMAIN_MAX]; /* its organizational domain (public suffix list) */
    int pct;                            /* pct= (100 by default) */
    bool spf_aligned;                   /* an SPF pass aligned with From */
    bool dkim_aligned;                  /* a DKIM pass aligned with From */
    char why[HEADERS_TEXT_MAX];         /* reason for none/permerror/temperror */
} headers_dmarc_t;

typedef struct headers_dmarc_lib headers_dmarc_lib_t;

/* headers_dmarc_new - libopendmarc and libpsl with the public suffix list
 * PSL_FILE; once per process (libopendmarc keeps it globally). NULL with *why. */
headers_dmarc_lib_t *headers_dmarc_new(const char *psl_file, const char **why);
void headers_dmarc_destroy(headers_dmarc_lib_t **self_p);
/* headers_dmarc_org_domain - organizational domain of DOMAIN into OUT; -1 if none. */
int headers_dmarc_org_domain(const headers_dmarc_lib_t *self, const char *domain, char *out,
                             size_t size);
/* headers_dmarc_check - DMARC for FROM (the From domain; "" or NULL when the
 * message has none or several) from the SPF result for SPF_DOMAIN and the
 * DKIM results; SAMPLE (0..99) decides pct. */
void headers_dmarc_check(const headers_dmarc_lib_t *self, const headers_resolver_t *resolver,
                         const char *ip, const char *from, headers_spf_result_t spf,
                         const char *spf_domain, bool spf_is_helo, const headers_dkim_t *dkim,
                         unsigned sample, headers_dmarc_t *out);

/* --- header sanity (headers_sanity.c) ------------------------------------ */

typedef struct {
    char **protected_domains;    /* our own domains (lower case) */
    size_t protected_count;      /* entries */
    int64_t date_future_s;       /* Date later than arrival by more: HEADERS_DATE_FUTURE */
    int64_t date_past_s;         /* Date earlier than arrival by more: HEADERS_DATE_PAST */
} headers_sanity_opts_t;

typedef struct {
    bool from_missing;           /* no From: field */
    bool from_multiple;          /* several From: fields or mailboxes */
    bool from_invalid;           /* a From: without a usable address */
    bool date_missing;           /* no Date: field */
    bool date_invalid;           /* unparsable Date: */
    bool date_future;            /* Date: too far ahead */
    bool date_past;              /* Date: too far back */
    bool forged_internal;        /* From a protected domain, inbound, unauthenticated */
    bool display_spoof;          /* display name names a protected domain it is not from */
    char spoofed[HEADERS_DOMAIN_MAX]; /* the protected domain named or forged */
} headers_sanity_t;

/* headers_domain_matches - DOMAIN is PARENT or one of its subdomains. */
bool headers_domain_matches(const char *domain, const char *parent);
/* headers_sanity_protected - the protected domain DOMAIN belongs to, or NULL. */
const char *headers_sanity_protected(const headers_sanity_opts_t *opts, const char *domain);
/* headers_sanity_check - the checks on MSG: FROM is its parsed From (NULL when
 * absent or unparsable), NOW_S the arrival time, INBOUND and AUTHENTICATED from
 * the envelope, ALIGNED_PASS when SPF or DKIM passed for the From domain. */
void headers_sanity_check(const headers_sanity_opts_t *opts, const headers_msg_t *msg,
                          const headers_from_t *from, int64_t now_s, bool inbound,
                          bool authenticated, bool aligned_pass, headers_sanity_t *out);

/* --- the whole stage (headers_run.c) ------------------------------------- */

typedef struct headers_ctx headers_ctx_t;

/* What the checks need to know of one message. */
typedef struct {
    const char *id;          /* queue id, for logs and the pct sample */
    const char *client_ip;   /* "" when unknown: SPF is none */
    const char *helo;        /* HELO/EHLO argument */
    const char *mail_from;   /* envelope sender, "" for the null sender */
    const char *auth_user;   /* "" unless SMTP AUTH */
    bool inbound;            /* direction in */
    int64_t received_s;      /* arrival, seconds since the epoch */
    sl_slice_t message;      /* the raw message */
} headers_input_t;

typedef struct {
    headers_spf_result_t spf;        /* MAIL FROM identity (postmaster@HELO for <>) */
    char spf_domain[HEADERS_DOMAIN_MAX]; /* domain of that identity */
    bool spf_is_helo;                /* the null sender: the HELO identity was used */
    char spf_comment[HEADERS_TEXT_MAX]; /* libspf2's reason */
    headers_spf_result_t spf_helo;   /* HELO identity on its own */
    bool spf_helo_checked;           /* HELO was a domain and the check ran */
    headers_dkim_t dkim;
    headers_dmarc_t dmarc;
    headers_from_t from;             /* the From field, when one was parsed */
    bool from_ok;                    /* exactly one From with one usable mailbox */
    headers_sanity_t sanity;
} headers_report_t;

/* headers_ctx_new - the stage's settings from OPTIONS (its options: map, may be
 * NULL), errors recorded in CFG; RESOLVER is copied. NULL with *why when a
 * library cannot start. */
headers_ctx_t *headers_ctx_new(sl_cfg_t *cfg, const sl_cfg_node_t *options,
                               const headers_resolver_t *resolver, const char **why);
void headers_ctx_destroy(headers_ctx_t **self_p);
/* headers_ctx_hostname - authserv-id of our Authentication-Results (borrowed). */
const char *headers_ctx_hostname(const headers_ctx_t *self);
/* headers_run - every check on IN into *OUT; 0, or -1 when a library failed. */
int headers_run(const headers_ctx_t *self, const headers_input_t *in, headers_report_t *out);
/* headers_verdict - symbols, fields and auth_results of REPORT into VERDICT; 0 or -1. */
int headers_verdict(const headers_ctx_t *self, const headers_input_t *in,
                    const headers_report_t *report, sl_verdict_t *verdict);
/* headers_authres - the Authentication-Results text (RFC 8601) without the field
 * name, folded with CRLF TAB, into OUT; 0, or -1 when it does not fit. */
int headers_authres(const char *authserv_id, const headers_input_t *in,
                    const headers_report_t *report, char *out, size_t size);

#endif
