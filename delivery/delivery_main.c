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
    int rc = 0;
    sl_conf_t *conf = sl_conf_daemon(argc, argv, "sluice-delivery", &rc);
    if (conf == NULL)
        return rc;
    delivery_conf_t cf;
    if (delivery_conf_read(conf, &cf) != 0) {
        fprintf(stderr, "%s\n", sl_cfg_errors(conf->cfg));
        sl_conf_destroy(&conf);
        return 1;
    }
    rc = delivery_run(&cf);
    sl_conf_destroy(&conf);
    return rc;
}
