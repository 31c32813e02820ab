/*
 * stages/headers/headers.c - the headers stage: SPF, DKIM, DMARC and header
 * sanity on the raw message; symbols, the fields spf, dkim, dmarc, and the
 * Authentication-Results text in auth_results (dmarc_action for the action
 * stage when DMARC says reject or quarantine).
 *
 * Settings: the stage's options: map in sluice.yaml, or the same keys as
 * "--key value" after the command; DNS: the top-level dns: section.
 * The checks live in headers_run.c and the modules it calls; this file is the
 * stage's plumbing only.
 * Tests: tests/e2e/test_headers.py (and what headers.h lists)
 */
#include "headers.h"
#include "sl_stage.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    sl_dns_t *dns;       /* shared by the scan threads */
    headers_ctx_t *ctx;  /* settings and libraries */
} headers_stage_t;

static void
s_destroy(headers_stage_t *st)
{
    headers_ctx_destroy(&st->ctx);
    sl_dns_destroy(&st->dns);
    free(st);
}

static int
s_init(void **ctx, sl_cfg_t *cfg, const sl_cfg_node_t *section, int argc, char **argv)
{
    char err[512];
    sl_cfg_t *own = NULL; /* options from the command line, or an empty map */
    if (argc > 1)
        own = headers_options_from_args(argc, argv, err, sizeof err);
    else if (cfg == NULL)
        own = sl_cfg_parse("{}", 2, "(defaults)", err, sizeof err);
    if ((argc > 1 || cfg == NULL) && own == NULL) {
        sl_log_error(NULL, "%s", err);
        return -1;
    }
    sl_cfg_t *opts_cfg = own ? own : cfg;
    const sl_cfg_node_t *options = own ? sl_cfg_root(own) : section;
    headers_stage_t *st = sl_xcalloc(1, sizeof *st);
    st->dns = sl_dns_new(cfg, cfg ? sl_cfg_get(sl_cfg_root(cfg), "dns") : NULL, err, sizeof err);
    if (st->dns == NULL) {
        sl_log_error(NULL, "dns: %s", err);
        s_destroy(st);
        sl_cfg_destroy(&own);
        return -1;
    }
    headers_resolver_t resolver = headers_dns_resolver(st->dns);
    const char *why = NULL;
    st->ctx = headers_ctx_new(opts_cfg, options, &resolver, &why);
    if (st->ctx == NULL || sl_cfg_error_count(opts_cfg) > 0) {
        sl_log_error(NULL, "headers: %s", st->ctx ? sl_cfg_errors(opts_cfg) : why);
        s_destroy(st);
        sl_cfg_destroy(&own);
        return -1;
    }
    sl_cfg_destroy(&own);
    *ctx = st;
    return 0;
}

static void
s_fini(void *ctx)
{
    s_destroy(ctx);
}

static int
s_scan(const sl_msg_t *msg, sl_verdict_t *verdict, void *ctx)
{
    headers_stage_t *st = ctx;
    const sl_env_t *env = sl_msg_env(msg);
    uint64_t at = sl_env_uint(env, SL_ENV_RECEIVED_AT);
    headers_input_t in = {
        .id = sl_msg_id(msg),
        .client_ip = sl_env_str(env, SL_ENV_CLIENT_IP),
        .helo = sl_env_str(env, SL_ENV_HELO),
        .mail_from = sl_env_mail_from(env),
        .auth_user = sl_env_str(env, SL_ENV_AUTH_USER),
        .inbound = sl_env_direction(env) == SL_DIR_IN,
        .received_s = at ? (int64_t) (at / 1000) : (int64_t) time(NULL),
        .message = sl_msg_body(msg),
    };
    headers_report_t *report = sl_xmalloc(sizeof *report); /* ~15 kB: not on a scan stack */
    int rc = headers_run(st->ctx, &in, report);
    if (rc == 0)
        rc = headers_verdict(st->ctx, &in, report, verdict);
    size_t pass = 0;
    for (size_t i = 0; i < report->dkim.count; i++)
        pass += report->dkim.sigs[i].result == HEADERS_DKIM_PASS;
    sl_log_info(in.id, "headers spf=%s dkim=%zu/%zu dmarc=%s policy=%s action=%s rc=%d",
                headers_spf_name(report->spf), pass, report->dkim.count, report->dmarc.result,
                report->dmarc.policy[0] ? report->dmarc.policy : "-",
                report->dmarc.action[0] ? report->dmarc.action : "-", rc);
    free(report);
    return rc;
}

int
main(int argc, char **argv)
{
    static const sl_stage_def_t def = {
        .name = "headers",
        .version = "headers/1.0",
        .needs = SL_NEED_BODY,
        .scan = s_scan,
        .init = s_init,
        .fini = s_fini,
    };
    return sl_stage_main(argc, argv, &def);
}
