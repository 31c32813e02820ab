/*
 * quarantine/qr_main.c - sluice-quarantine: the quarantine service.
 *
 * Options and config, then the HTTP API (qr_http.c) and a housekeeping loop
 * on this thread with its own store handle: the retention purge every
 * purge_interval, digests every digest_interval (a minute), expired
 * sessions and login failures dropped. SIGTERM/SIGINT stop it cleanly.
 * Tests: tests/e2e/test_quarantine.py
 */
#include "qr_http.h"
#include "sl_conf.h"
#include "sl_log.h"
#include "sl_mem.h"

#include <gmime/gmime.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define S_TICK_MS 200 /* how often the loop looks at the clock and signals */

static volatile sig_atomic_t s_stop;

static void
s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

/* s_housekeeping - one pass of the periodic work due at NOW. */
static void
s_housekeeping(qr_ctx_t *ctx, uint64_t now, uint64_t *next_purge, uint64_t *next_digest)
{
    if (now >= *next_purge) {
        *next_purge = now + ctx->purge_interval_ms;
        long files = 0;
        long rows = qr_purge(ctx, now, &files);
        if (rows < 0)
            sl_log_error(NULL, "purge failed: %s", sl_store_error(ctx->store));
        else if (rows > 0 || files > 0)
            sl_log_info(NULL, "purge rows=%ld files=%ld", rows, files);
        else
            sl_log_debug(NULL, "purge rows=0 files=0");
        char t[24], old[24];
        snprintf(t, sizeof t, "%llu", (unsigned long long)now);
        snprintf(old, sizeof old, "%llu", (unsigned long long)(now - 15 * 60000));
        const char *p1[] = {t}, *p2[] = {old};
        sl_store_exec(ctx->store, "DELETE FROM quarantine_session WHERE expires_ms <= ?", p1, 1);
        sl_store_exec(ctx->store, "DELETE FROM quarantine_fail WHERE time_ms <= ?", p2, 1);
    }
    if (now >= *next_digest) {
        *next_digest = now + ctx->digest_interval_ms;
        int sent = qr_digest_tick(ctx, now);
        if (sent > 0)
            sl_log_info(NULL, "digests sent=%d", sent);
        else if (sent < 0)
            sl_log_error(NULL, "digest tick failed");
    }
}

int
main(int argc, char **argv)
{
    int rc = 0;
    sl_conf_t *conf = sl_conf_daemon(argc, argv, "sluice-quarantine", &rc);
    if (conf == NULL)
        return rc;
    char err[16384];
    static qr_ctx_t ctx; /* large: not on the stack */
    if (qr_conf_load(&ctx, conf->cfg, conf->data_dir, true, err, sizeof err) != 0) {
        sl_log_error(NULL, "config: %s", err);
        sl_conf_destroy(&conf);
        return 1;
    }
    sl_conf_destroy(&conf);
    g_mime_init();
    ctx.store = sl_store_open(ctx.store_url, err, sizeof err);
    if (ctx.store == NULL || qr_migrate(ctx.store) != 0 || qr_digest_migrate(ctx.store) != 0) {
        sl_log_error(NULL, "store %s: %s", ctx.store_url,
                     ctx.store ? sl_store_error(ctx.store) : err);
        sl_store_close(&ctx.store);
        return 1;
    }
    qr_http_store_tune(ctx.store);
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (qr_http_start(&ctx) != 0) {
        sl_store_close(&ctx.store);
        return 1;
    }
    sl_log_info(NULL, "quarantine ready listen=%s dir=%s queue_dir=%s store=%s retention_ms=%llu",
                ctx.listen, ctx.quar_dir, ctx.queue_dir, ctx.store_url,
                (unsigned long long)ctx.retention_ms);
    uint64_t next_purge = sl_now_ms(), next_digest = sl_now_ms() + ctx.digest_interval_ms;
    while (!s_stop) {
        s_housekeeping(&ctx, sl_now_ms(), &next_purge, &next_digest);
        struct timespec ts = {0, S_TICK_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    sl_log_info(NULL, "quarantine stopping");
    qr_http_stop();
    sl_store_close(&ctx.store);
    g_mime_shutdown();
    return 0;
}
