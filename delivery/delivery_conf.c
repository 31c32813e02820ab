/*
 * delivery/delivery_conf.c - the delivery: section of sluice.yaml.
 *
 * Every key is documented in delivery/README.md; unknown keys and bad values
 * are reported with file:line, all at once.
 * Tests: tests/e2e/test_delivery.py
 */
#include "delivery.h"
#include "sl_mem.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const s_keys[] = {
    "queue_dir",       "hostname",     "default_route", "concurrency",   "connections",
    "rate_delay",      "retry_min",    "retry_max",     "max_lifetime",  "connect_timeout",
    "command_timeout", "idle_timeout", "tls_ca_file",   "scan_interval", "mx_port", NULL,
};

int
delivery_conf_read(const sl_conf_t *conf, delivery_conf_t *out)
{
    sl_cfg_t *cfg = conf->cfg;
    memset(out, 0, sizeof *out);
    const sl_cfg_node_t *sec = cfg ? sl_cfg_get_map(cfg, sl_cfg_root(cfg), "delivery") : NULL;
    size_t before = cfg ? sl_cfg_error_count(cfg) : 0;
    if (sec)
        sl_cfg_check_keys(cfg, sec, s_keys);
    out->cfg = cfg;
    char def[PATH_MAX];
    if (snprintf(def, sizeof def, "%s/delivery", conf->data_dir) >= (int)sizeof def ||
        snprintf(out->queue_dir, sizeof out->queue_dir, "%s",
                 sec ? sl_cfg_get_str(cfg, sec, "queue_dir", def) : def) >=
            (int)sizeof out->queue_dir)
        sl_cfg_error(cfg, sec, "delivery.queue_dir: path too long");
    sl_policy_store_url(cfg, conf->data_dir, out->store_url, sizeof out->store_url);
    snprintf(out->pid_file, sizeof out->pid_file, "%s/delivery.pid", conf->run_dir);
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    snprintf(out->hostname, sizeof out->hostname, "%s",
             sec ? sl_cfg_get_str(cfg, sec, "hostname", host) : host);
    const char *route = sec ? sl_cfg_get_str(cfg, sec, "default_route", "mx") : "mx";
    char rhost[SL_POLICY_ROUTE_MAX];
    int port;
    const char *why = NULL;
    if (sl_policy_route_parse(route, rhost, sizeof rhost, &port, &why) != 0)
        sl_cfg_error(cfg, sl_cfg_get(sec, "default_route"), "delivery.default_route: %s", why);
    snprintf(out->default_route, sizeof out->default_route, "%s", route);
    snprintf(out->tls_ca_file, sizeof out->tls_ca_file, "%s",
             sec ? sl_cfg_get_str(cfg, sec, "tls_ca_file", "") : "");
    out->concurrency = (int)sl_cfg_get_int(cfg, sec, "concurrency", 20, 1, DELIVERY_CONN_MAX);
    out->connections = (int)sl_cfg_get_int(cfg, sec, "connections", 50, 1, DELIVERY_CONN_MAX);
    out->mx_port = (int)sl_cfg_get_int(cfg, sec, "mx_port", 25, 1, 65535);
    out->rate_delay_ms = (int)sl_cfg_get_duration_ms(cfg, sec, "rate_delay", 0, 0, 3600000);
    out->retry_min_ms = sl_cfg_get_duration_ms(cfg, sec, "retry_min", 300000, 100, 86400000);
    out->retry_max_ms = sl_cfg_get_duration_ms(cfg, sec, "retry_max", 3600000, 100, 7 * 86400000LL);
    out->max_lifetime_ms =
        sl_cfg_get_duration_ms(cfg, sec, "max_lifetime", 5 * 86400000LL, 1000, 60 * 86400000LL);
    out->connect_timeout_ms =
        (int)sl_cfg_get_duration_ms(cfg, sec, "connect_timeout", 30000, 100, 600000);
    out->command_timeout_ms =
        (int)sl_cfg_get_duration_ms(cfg, sec, "command_timeout", 300000, 100, 3600000);
    out->idle_ms = (int)sl_cfg_get_duration_ms(cfg, sec, "idle_timeout", 2000, 0, 600000);
    out->scan_ms = (int)sl_cfg_get_duration_ms(cfg, sec, "scan_interval", 30000, 100, 3600000);
    if (out->retry_max_ms < out->retry_min_ms)
        out->retry_max_ms = out->retry_min_ms;
    if (out->connections < out->concurrency)
        out->connections = out->concurrency;
    return cfg && sl_cfg_error_count(cfg) > before ? -1 : 0;
}
