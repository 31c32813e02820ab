/*
 * stages/greylist/greylist.c - greylisting at RCPT: defer the first attempt of a triplet.
 *
 * Envelope only, rcpt phase, one recipient per request (the envelope's only
 * rcpt). Bypasses first (authenticated sender, allow and provider networks,
 * a DNSWL listing in the rbl verdict, opted-out domains and mailboxes), then
 * an SPF pass for a sender domain with spf_history passed triplets (SPF by
 * the headers stage's headers_spf.c, when libspf2 is there), then
 * the triplet (client /24 or /64, sender, recipient) decides through
 * greylist_db on the shared store. A deferral asks smtpd for 451 4.7.1 with
 * the retry time (smtp_code, smtp_text, smtp_reply, classification tempfail).
 * A store failure is the stage's failure: the graph's on_error applies.
 * Options and verdict fields: stages/greylist/README.md.
 * Tests: tests/unit/test_greylist.c, tests/e2e/test_greylist.py,
 *        tests/e2e/test_greylist_smtp.py
 */
#include "greylist_db.h"
#include "sl_cidr.h"
#include "sl_mp.h"
#include "sl_stage.h"

#ifdef GREYLIST_SPF
#include "headers.h"
#endif

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GREYLIST_VERSION "1.0"
#define GREYLIST_OPTOUT_MAX 10000 /* opt-out domains and mailboxes, each */
#define GREYLIST_CLEANUP_S 3600   /* expired rows are deleted at most this often */

typedef struct {
    greylist_policy_t policy;            /* delays and counts */
    unsigned v4_bits, v6_bits;           /* client network: /24 and /64 by default */
    sl_cidr_list_t allow;                /* never greylisted */
    sl_cidr_list_t providers;            /* large senders retrying from many addresses */
    char **optout;                       /* lower-case domains and mailboxes never greylisted */
    size_t optout_count;                 /* entries in optout */
    char rbl_stage[SL_ENV_NAME_MAX + 1]; /* verdict whose "allowed" field means DNSWL */
    pthread_mutex_t lock;                /* one store handle, one scan thread at a time */
    sl_store_t *store;                   /* shared with every other worker and host */
    int64_t cleaned_at;                  /* last expiry sweep */
    int64_t spf_history;                 /* passed triplets of a domain for the SPF bypass */
    char hostname[256];                  /* SPF %{r} */
#ifdef GREYLIST_SPF
    sl_dns_t *dns; /* SPF lookups; shared by the scan threads */
#endif
} greylist_t;

/* --- options --- */

static void
s_add_optout(greylist_t *gl, const char *text)
{
    char *copy = sl_xstrdup(text);
    for (char *p = copy; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    gl->optout = sl_xrealloc(gl->optout, (gl->optout_count + 1) * sizeof *gl->optout);
    gl->optout[gl->optout_count++] = copy;
}

static void
s_read_strings(sl_cfg_t *cfg, const sl_cfg_node_t *opts, const char *key, greylist_t *gl)
{
    const sl_cfg_node_t *seq = sl_cfg_get_seq(cfg, opts, key);
    for (size_t i = 0; seq && i < sl_cfg_count(seq); i++) {
        const char *text = sl_cfg_scalar(sl_cfg_at(seq, i));
        if (text == NULL || text[0] == '\0' || strlen(text) > SL_ENV_ADDR_MAX)
            sl_cfg_expected(cfg, sl_cfg_at(seq, i), "a domain or a mailbox");
        else if (gl->optout_count == GREYLIST_OPTOUT_MAX)
            sl_cfg_expected(cfg, sl_cfg_at(seq, i), "at most %d entries", GREYLIST_OPTOUT_MAX);
        else
            s_add_optout(gl, text);
    }
}

static void
s_read_cidrs(sl_cfg_t *cfg, const sl_cfg_node_t *opts, const char *key, sl_cidr_list_t *list)
{
    const sl_cfg_node_t *seq = sl_cfg_get_seq(cfg, opts, key);
    for (size_t i = 0; seq && i < sl_cfg_count(seq); i++) {
        const char *why = "a string";
        const char *text = sl_cfg_scalar(sl_cfg_at(seq, i));
        if (text == NULL || sl_cidr_list_add(list, text, &why) != 0)
            sl_cfg_expected(cfg, sl_cfg_at(seq, i), "an address or network (%s)", why);
    }
}

static void
s_fini(void *ctx)
{
    greylist_t *gl = ctx;
    if (gl == NULL)
        return;
    sl_store_close(&gl->store);
#ifdef GREYLIST_SPF
    sl_dns_destroy(&gl->dns);
#endif
    sl_cidr_list_clear(&gl->allow);
    sl_cidr_list_clear(&gl->providers);
    for (size_t i = 0; i < gl->optout_count; i++)
        free(gl->optout[i]);
    free(gl->optout);
    pthread_mutex_destroy(&gl->lock);
    free(gl);
}

static int
s_init(void **ctx, sl_cfg_t *cfg, const sl_cfg_node_t *section, int argc, char **argv)
{
    static const char *const keys[] = {"delay",
                                       "retry_window",
                                       "expiry",
                                       "auto_allow",
                                       "network_v4",
                                       "network_v6",
                                       "allow",
                                       "providers",
                                       "providers_file",
                                       "optout_domains",
                                       "optout_mailboxes",
                                       "rbl_stage",
                                       "store",
                                       "spf_history",
                                       "hostname",
                                       NULL};
    if (argc > 1) {
        sl_log_error(NULL, "unknown argument %s (options go in the stage's options: map)", argv[1]);
        return -1;
    }
    if (cfg == NULL) {
        sl_log_error(NULL, "greylist needs a config file (-c)");
        return -1;
    }
    greylist_t *gl = sl_xcalloc(1, sizeof *gl);
    pthread_mutex_init(&gl->lock, NULL);
    size_t errors = sl_cfg_error_count(cfg);
    const sl_cfg_node_t *opts = section && sl_cfg_kind(section) == SL_CFG_MAP ? section : NULL;
    if (opts)
        sl_cfg_check_keys(cfg, opts, keys);
    else if (section)
        sl_cfg_expected(cfg, section, "a map of greylist options");
    const int64_t day = 86400000;
    gl->policy.delay_s = sl_cfg_get_duration_ms(cfg, opts, "delay", 300000, 0, day) / 1000;
    gl->policy.retry_window_s =
        sl_cfg_get_duration_ms(cfg, opts, "retry_window", 2 * day, 1000, 30 * day) / 1000;
    gl->policy.expiry_s =
        sl_cfg_get_duration_ms(cfg, opts, "expiry", 35 * day, 1000, 3650 * day) / 1000;
    gl->policy.auto_allow = sl_cfg_get_int(cfg, opts, "auto_allow", 5, 0, 1000000);
    gl->v4_bits = (unsigned)sl_cfg_get_int(cfg, opts, "network_v4", 24, 8, 32);
    gl->v6_bits = (unsigned)sl_cfg_get_int(cfg, opts, "network_v6", 64, 16, 128);
    if (gl->policy.retry_window_s <= gl->policy.delay_s)
        sl_cfg_expected(cfg,
                        sl_cfg_get(opts, "retry_window") ? sl_cfg_get(opts, "retry_window") : opts,
                        "a retry window longer than the delay");
    s_read_cidrs(cfg, opts, "allow", &gl->allow);
    s_read_cidrs(cfg, opts, "providers", &gl->providers);
    s_read_strings(cfg, opts, "optout_domains", gl);
    s_read_strings(cfg, opts, "optout_mailboxes", gl);
    gl->spf_history = sl_cfg_get_int(cfg, opts, "spf_history", 3, 0, 1000000);
    char host[256] = "localhost";
    if (gethostname(host, sizeof host) != 0)
        sl_strlcpy(host, "localhost", sizeof host);
    host[sizeof host - 1] = '\0';
    sl_strlcpy(gl->hostname, sl_cfg_get_str(cfg, opts, "hostname", host), sizeof gl->hostname);
    sl_strlcpy(gl->rbl_stage, sl_cfg_get_str(cfg, opts, "rbl_stage", "rbl"), sizeof gl->rbl_stage);
    const char *file = sl_cfg_get_str(cfg, opts, "providers_file", "");
    char err[1024] = "";
    if (file[0] && sl_cidr_list_load(&gl->providers, file, err, sizeof err) != 0)
        sl_cfg_error(cfg, sl_cfg_get(opts, "providers_file"), "%s", err);

    const char *data_dir = sl_cfg_get_str(cfg, sl_cfg_root(cfg), "data_dir", "/var/lib/sluice");
    char url[4096];
    const char *store = sl_cfg_get_str(cfg, opts, "store", "");
    if (store[0] == '\0') {
        if (mkdir(data_dir, 0750) != 0 && errno != EEXIST)
            sl_log_warn(NULL, "greylist: cannot create %s: %s", data_dir, strerror(errno));
        snprintf(url, sizeof url, "sqlite:%s/greylist.db", data_dir);
        store = url;
    }
    if (sl_cfg_error_count(cfg) > errors) {
        sl_log_error(NULL, "greylist options: %s", sl_cfg_errors(cfg));
        s_fini(gl);
        return -1;
    }
#ifdef GREYLIST_SPF
    if (gl->spf_history > 0) {
        headers_spf_init();
        gl->dns = sl_dns_new(cfg, sl_cfg_get(sl_cfg_root(cfg), "dns"), err, sizeof err);
        if (gl->dns == NULL) {
            sl_log_error(NULL, "greylist: dns: %s", err);
            s_fini(gl);
            return -1;
        }
    }
#else
    if (gl->spf_history > 0)
        sl_log_warn(NULL, "greylist: built without libspf2: no SPF bypass");
#endif
    gl->store = sl_store_open(store, err, sizeof err);
    if (gl->store == NULL || greylist_db_migrate(gl->store) != 0) {
        sl_log_error(NULL, "greylist: store %s: %s", store,
                     gl->store ? sl_store_error(gl->store) : err);
        s_fini(gl);
        return -1;
    }
    sl_log_info(NULL,
                "greylist store=%s delay=%" PRId64 "s retry_window=%" PRId64 "s expiry=%" PRId64
                "s auto_allow=%" PRId64 " spf_history=%" PRId64,
                store, gl->policy.delay_s, gl->policy.retry_window_s, gl->policy.expiry_s,
                gl->policy.auto_allow, gl->spf_history);
    *ctx = gl;
    return 0;
}

/* --- scanning --- */

/* s_sender - lower case, without a BATV tag (prvs=TAG=user@domain changes on every retry). */
static void
s_address_key(const char *from, char *out, size_t size)
{
    if (strncasecmp(from, "prvs=", 5) == 0) {
        const char *eq = strchr(from + 5, '=');
        const char *at = strchr(from, '@');
        if (eq && at && eq < at)
            from = eq + 1;
    }
    size_t n = 0;
    for (; from[n] && n + 1 < size; n++)
        out[n] = from[n] >= 'A' && from[n] <= 'Z' ? (char)(from[n] - 'A' + 'a') : from[n];
    out[n] = '\0';
}

static bool
s_opted_out(const greylist_t *gl, const char *rcpt)
{
    const char *at = strrchr(rcpt, '@');
    for (size_t i = 0; i < gl->optout_count; i++)
        if (strcmp(gl->optout[i], rcpt) == 0 || (at && strcmp(gl->optout[i], at + 1) == 0))
            return true;
    return false;
}

/* s_dnswl - the rbl verdict of this connection lists the client on an allow list. */
static bool
s_dnswl(const greylist_t *gl, const sl_env_t *env)
{
    const sl_verdict_t *rbl = sl_env_verdict(env, gl->rbl_stage);
    if (rbl == NULL)
        return false;
    sl_slice_t allowed = sl_verdict_field(rbl, "allowed");
    msgpack_unpacked up;
    const char *why = NULL;
    if (allowed.len == 0 || sl_mp_unpack(allowed.ptr, allowed.len, 2, &up, &why) != 0)
        return false;
    bool listed = up.data.type == MSGPACK_OBJECT_ARRAY && up.data.via.array.size > 0;
    msgpack_unpacked_destroy(&up);
    return listed;
}

static const char *
s_bypass(const greylist_t *gl, const sl_env_t *env, const sl_ip_t *ip, const char *rcpt)
{
    if (sl_env_str(env, SL_ENV_AUTH_USER)[0])
        return "authenticated";
    if (sl_cidr_list_contains(&gl->allow, ip))
        return "allow";
    if (sl_cidr_list_contains(&gl->providers, ip))
        return "provider";
    if (s_dnswl(gl, env))
        return "dnswl";
    if (s_opted_out(gl, rcpt))
        return "optout";
    return NULL;
}

#ifdef GREYLIST_SPF
/* s_is_loopback - 127.0.0.0/8 or ::1: libspf2 passes these whatever the record says. */
static bool
s_is_loopback(const sl_ip_t *ip)
{
    static const uint8_t v6_loopback[16] = {[15] = 1};
    return ip->v6 ? memcmp(ip->addr, v6_loopback, sizeof v6_loopback) == 0 : ip->addr[0] == 127;
}
#endif

/* s_spf_known - the sender's domain has spf_history passed triplets and SPF
 * passes for this client (never a loopback client). -1 on a store error.
 * Only the store is under the lock; the SPF lookups run in parallel. */
static int
s_spf_known(greylist_t *gl, const sl_env_t *env, const sl_ip_t *ip, const char *sender, int64_t now)
{
#ifdef GREYLIST_SPF
    const char *at = strrchr(sender, '@');
    if (gl->spf_history == 0 || at == NULL || at[1] == '\0' || s_is_loopback(ip))
        return 0;
    int64_t passes = 0;
    pthread_mutex_lock(&gl->lock);
    int rc = greylist_db_domain_passes(gl->store, &gl->policy, at + 1, now, &passes);
    if (rc != 0)
        sl_log_error(sl_env_id(env), "greylist store failed: %s", sl_store_error(gl->store));
    pthread_mutex_unlock(&gl->lock);
    if (rc != 0)
        return -1;
    if (passes < gl->spf_history)
        return 0;
    headers_resolver_t resolver = headers_dns_resolver(gl->dns);
    char comment[HEADERS_TEXT_MAX] = "";
    headers_spf_result_t spf = headers_spf_check(
        &resolver, sl_env_str(env, SL_ENV_CLIENT_IP), sl_env_str(env, SL_ENV_HELO),
        sl_env_mail_from(env), gl->hostname, comment, sizeof comment);
    sl_log_debug(sl_env_id(env), "greylist spf=%s domain=%s passes=%" PRId64 " (%s)",
                 headers_spf_name(spf), at + 1, passes, comment);
    return spf == HEADERS_SPF_PASS;
#else
    (void)gl;
    (void)env;
    (void)ip;
    (void)sender;
    (void)now;
    return 0;
#endif
}

static int
s_scan(const sl_msg_t *msg, sl_verdict_t *verdict, void *ctx)
{
    greylist_t *gl = ctx;
    const sl_env_t *env = sl_msg_env(msg);
    const char *id = sl_msg_id(msg);
    sl_ip_t ip;
    char rcpt[SL_ENV_ADDR_MAX + 1], sender[SL_ENV_ADDR_MAX + 1], network[SL_CIDR_TEXT_MAX];
    if (sl_env_rcpt_count(env) == 0 || sl_ip_parse(sl_env_str(env, SL_ENV_CLIENT_IP), &ip) != 0) {
        sl_verdict_field_str(verdict, "skipped", "no recipient or no client address");
        return 0;
    }
    s_address_key(sl_env_rcpt(env, 0), rcpt, sizeof rcpt);
    s_address_key(sl_env_mail_from(env), sender, sizeof sender);
    sl_ip_network(&ip, ip.v6 ? gl->v6_bits : gl->v4_bits, network, sizeof network);
    const char *bypass = s_bypass(gl, env, &ip, rcpt);
    if (bypass) {
        sl_verdict_field_str(verdict, "greylist", "bypass");
        sl_verdict_field_str(verdict, "reason", bypass);
        return 0;
    }

    int64_t now = (int64_t)time(NULL), retry_in = 0;
    int spf = s_spf_known(gl, env, &ip, sender, now);
    if (spf < 0)
        return -1;
    if (spf > 0) {
        sl_verdict_field_str(verdict, "greylist", "bypass");
        sl_verdict_field_str(verdict, "reason", "spf");
        sl_log_info(id, "greylist bypass reason=spf network=%s", network);
        return 0;
    }

    greylist_result_t result;
    pthread_mutex_lock(&gl->lock);
    int rc =
        greylist_db_check(gl->store, &gl->policy, network, sender, rcpt, now, &result, &retry_in);
    if (rc == 0 && now - gl->cleaned_at >= GREYLIST_CLEANUP_S) {
        gl->cleaned_at = now;
        int64_t removed = greylist_db_expire(gl->store, &gl->policy, now);
        if (removed > 0)
            sl_log_info(id, "greylist expired rows=%" PRId64, removed);
    }
    if (rc != 0)
        sl_log_error(id, "greylist store failed: %s", sl_store_error(gl->store));
    pthread_mutex_unlock(&gl->lock);
    if (rc != 0)
        return -1;

    sl_verdict_field_str(verdict, "greylist", greylist_result_name(result));
    sl_verdict_field_str(verdict, "network", network);
    if (result == GREYLIST_DEFER) {
        char text[96], reply[104];
        snprintf(text, sizeof text, "4.7.1 Greylisted, try again in %" PRId64 " seconds", retry_in);
        snprintf(reply, sizeof reply, "451 %s", text);
        sl_verdict_symbol(verdict, "GREYLIST_DEFER", 0.0, network);
        sl_verdict_set_classification(verdict, "tempfail");
        sl_verdict_field_int(verdict, "retry_in", retry_in);
        sl_verdict_field_int(verdict, "smtp_code", 451);
        sl_verdict_field_str(verdict, "smtp_text", text);
        sl_verdict_field_str(verdict, "smtp_reply", reply);
    }
    sl_log_info(id, "greylist %s network=%s retry_in=%" PRId64, greylist_result_name(result),
                network, retry_in);
    return 0;
}

int
main(int argc, char **argv)
{
    static const sl_stage_def_t def = {
        .name = "greylist",
        .version = GREYLIST_VERSION,
        .needs = SL_NEED_ENVELOPE,
        .scan = s_scan,
        .init = s_init,
        .fini = s_fini,
        .batch = 1, /* DNS waits while smtpd waits: nothing queued behind a slow answer */
    };
    return sl_stage_main(argc, argv, &def);
}
