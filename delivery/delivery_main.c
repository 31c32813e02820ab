/*
 * delivery/delivery_main.c - sluice-delivery: options, config, log, then the queue manager.
 *
 * Usage: sluice-delivery [-c sluice.yaml]. `sluice start` runs it when the
 * config has a delivery: section. The loop lives in delivery_queue.c.
 * Tests: tests/e2e/test_delivery.py
 */
#include "delivery.h"
#include "sl_log.h"

#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
            config = argv[++i];
        else {
            fprintf(stderr, "usage: sluice-delivery [-c sluice.yaml]\n");
            return 2;
        }
    }
    sl_log_open("sluice-delivery", SL_LOG_INFO);
    char err[16384];
    sl_conf_t *conf = sl_conf_load(config, err, sizeof err);
    if (conf == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    sl_log_set_level((sl_log_level_t)conf->log_level);
    delivery_conf_t cf;
    if (delivery_conf_read(conf, &cf) != 0) {
        fprintf(stderr, "%s\n", sl_cfg_errors(conf->cfg));
        sl_conf_destroy(&conf);
        return 1;
    }
    int rc = delivery_run(&cf);
    sl_conf_destroy(&conf);
    return rc;
}
