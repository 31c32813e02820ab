/*
 * quarantine/qr_conf.c - the `quarantine:` section of sluice.yaml, and the
 * secret that signs digest links.
 *
 * The store and the delivery queue are the ones the action stage uses
 * (sl_policy_store_url, sl_dqueue_dir), so a release lands where delivery
 * looks. Mistakes are recorded in the config with file:line.
 * Tests: tests/e2e/test_quarantine.py
 */
#include "qr_core.h"
#include "sl_dqueue.h"
#include "sl_fs.h"
#include "sl_log.h"
#include "sl_mem.h"
#include "sl_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const s_keys[] = {
    "listen",          "dir",           "retention", "retention_domains", "purge_interval",
    "session_ttl",     "cookie_secure", "base_url",  "digest_link_ttl",   "digest_from",
    "digest_interval", "secret_file",   NULL,
};

/* s_secret - reads PATH (32 bytes), or creates it 0600 with random bytes. */
static int
s_secret(const char *path, unsigned char *out, const char **why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        char dir[PATH_MAX];
        sl_strlcpy(dir, path, sizeof dir);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            sl_fs_mkdirs(dir, 0750);
        }
        if (RAND_bytes(out, QR_SECRET_LEN) != 1)
            return sl_fail(why, "no random bytes for the secret");
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0)
            return sl_fail(why, "cannot create secret_file");
        if (sl_fs_write_all(fd, out, QR_SECRET_LEN) != 0 || fsync(fd) != 0) {
            close(fd);
            unlink(path);
            return sl_fail(why, "cannot write secret_file");
        }
        close(fd);
        return 0;
    }
    if (fd < 0)
        return sl_fail(why, "cannot open secret_file");
    ssize_t n = read(fd, out, QR_SECRET_LEN);
    close(fd);
    if (n != QR_SECRET_LEN)
        return sl_fail(why, "secret_file is shorter than 32 bytes");
    return 0;
}

/* s_bayes_url - the Bayes store the score stage uses: its options.bayes.store,
 * else DATA_DIR/bayes.db (as `sluice learn` finds it). */
static void
s_bayes_url(sl_cfg_t *cfg, const char *data_dir, char *buf, size_t size)
{
    snprintf(buf, size, "sqlite:%s/bayes.db", data_dir);
    const sl_cfg_node_t *stages = cfg ? sl_cfg_get(sl_cfg_root(cfg), "stages") : NULL;
    for (size_t i = 0; stages && i < sl_cfg_count(stages); i++) {
        const sl_cfg_node_t *entry = sl_cfg_at(stages, i);
        const char *name = sl_cfg_scalar(sl_cfg_get(entry, "name"));
        const char *s = sl_cfg_scalar(sl_cfg_get(entry, "options.bayes.store"));
        if (name && strcmp(name, "score") == 0 && s)
            sl_strlcpy(buf, s, size);
    }
}

/* s_dur - a duration key of MAP (NULL = absent) in ms. */
static uint64_t
s_dur(sl_cfg_t *cfg, const sl_cfg_node_t *map, const char *key, uint64_t def, uint64_t min,
      uint64_t max)
{
    if (map == NULL)
        return def;
    return (uint64_t)sl_cfg_get_duration_ms(cfg, map, key, (int64_t)def, (int64_t)min,
                                            (int64_t)max);
}

static void
s_copy(sl_cfg_t *cfg, const sl_cfg_node_t *at, const char *key, char *dst, size_t size,
       const char *value)
{
    if (sl_strlcpy(dst, value, size) >= size)
        sl_cfg_error(cfg, at, "quarantine.%s: too long", key);
}

int
qr_conf_load(qr_ctx_t *ctx, sl_cfg_t *cfg, const char *data_dir, bool want_secret, char *err,
             size_t errlen)
{
    size_t before = cfg ? sl_cfg_error_count(cfg) : 0;
    const sl_cfg_node_t *sec = cfg ? sl_cfg_get_map(cfg, sl_cfg_root(cfg), "quarantine") : NULL;
    if (sec)
        sl_cfg_check_keys(cfg, sec, s_keys);
    char def[PATH_MAX + 64];
    sl_policy_store_url(cfg, data_dir, ctx->store_url, sizeof ctx->store_url);
    if (sl_dqueue_dir(cfg, data_dir, ctx->queue_dir, sizeof ctx->queue_dir) != 0 && cfg)
        sl_cfg_error(cfg, NULL, "delivery.queue_dir: path too long");
    s_bayes_url(cfg, data_dir, ctx->bayes_url, sizeof ctx->bayes_url);
    s_copy(cfg, sec, "listen", ctx->listen, sizeof ctx->listen,
           sec ? sl_cfg_get_str(cfg, sec, "listen", "127.0.0.1:9720") : "127.0.0.1:9720");
    snprintf(def, sizeof def, "%s/quarantine", data_dir);
    s_copy(cfg, sec, "dir", ctx->quar_dir, sizeof ctx->quar_dir,
           sec ? sl_cfg_get_str(cfg, sec, "dir", def) : def);
    ctx->retention_ms = s_dur(cfg, sec, "retention", 14 * QR_DAY_MS, QR_DAY_MS, 3650 * QR_DAY_MS);
    if (ctx->retention_ms < 14 * QR_DAY_MS)
        sl_log_warn(NULL, "quarantine.retention is below 14 days retention_ms=%llu",
                    (unsigned long long)ctx->retention_ms);
    const sl_cfg_node_t *doms = sec ? sl_cfg_get_map(cfg, sec, "retention_domains") : NULL;
    ctx->retention_domain_count = 0;
    for (size_t i = 0; doms && i < sl_cfg_count(doms); i++) {
        if (i >= QR_RETENTION_DOMAINS_MAX) {
            sl_cfg_error(cfg, doms, "quarantine.retention_domains: at most %d entries",
                         QR_RETENTION_DOMAINS_MAX);
            break;
        }
        const char *dom = sl_cfg_key_at(doms, i);
        struct qr_retention *r = &ctx->retention_domains[ctx->retention_domain_count];
        if (dom == NULL || dom[0] == '\0' || strlen(dom) >= sizeof r->domain ||
            strpbrk(dom, "@ %_\\\t") != NULL) {
            char shown[64];
            sl_cfg_error(cfg, sl_cfg_at(doms, i),
                         "quarantine.retention_domains: expected a domain name as the key, "
                         "found \"%s\"",
                         sl_log_str(dom ? dom : "", dom ? strlen(dom) : 0, shown, sizeof shown));
            continue;
        }
        sl_strlcpy(r->domain, dom, sizeof r->domain);
        qr_lower(r->domain);
        r->ms = s_dur(cfg, doms, dom, 14 * QR_DAY_MS, QR_DAY_MS, 3650 * QR_DAY_MS);
        ctx->retention_domain_count++;
    }
    ctx->purge_interval_ms = s_dur(cfg, sec, "purge_interval", 3600 * 1000, 1000, 7 * QR_DAY_MS);
    ctx->digest_interval_ms = s_dur(cfg, sec, "digest_interval", 60000, 1000, 3600 * 1000);
    ctx->session_ttl_ms = s_dur(cfg, sec, "session_ttl", 8 * 3600 * 1000, 60000, 30 * QR_DAY_MS);
    ctx->link_ttl_ms =
        s_dur(cfg, sec, "digest_link_ttl", 7 * QR_DAY_MS, 3600 * 1000, 90 * QR_DAY_MS);
    ctx->cookie_secure = sec ? sl_cfg_get_bool(cfg, sec, "cookie_secure", false) : false;
    snprintf(def, sizeof def, "http://%s", ctx->listen);
    s_copy(cfg, sec, "base_url", ctx->base_url, sizeof ctx->base_url,
           sec ? sl_cfg_get_str(cfg, sec, "base_url", def) : def);
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    sl_strlcpy(ctx->hostname, host, sizeof ctx->hostname);
    snprintf(def, sizeof def, "postmaster@%s", host);
    s_copy(cfg, sec, "digest_from", ctx->digest_from, sizeof ctx->digest_from,
           sec ? sl_cfg_get_str(cfg, sec, "digest_from", def) : def);
    snprintf(def, sizeof def, "%s/quarantine/secret", data_dir);
    char secret_file[PATH_MAX];
    s_copy(cfg, sec, "secret_file", secret_file, sizeof secret_file,
           sec ? sl_cfg_get_str(cfg, sec, "secret_file", def) : def);
    if (cfg && sl_cfg_error_count(cfg) > before) {
        snprintf(err, errlen, "%s", sl_cfg_errors(cfg));
        return -1;
    }
    const char *why = NULL;
    if (want_secret && s_secret(secret_file, ctx->secret, &why) != 0) {
        snprintf(err, errlen, "%s: %s", secret_file, why);
        return -1;
    }
    return 0;
}
