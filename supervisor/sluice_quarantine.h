/*
 * supervisor/sluice_quarantine.h - `sluice quarantine`: the quarantine from the shell.
 *
 *   sluice quarantine list [--rcpt R] [--limit N]
 *   sluice quarantine show|release|delete ID [--rcpt R]
 *   sluice quarantine user add LOGIN --role user|domain|admin [--scope S]
 *                          [--password-file F | --password-stdin]
 *   sluice quarantine user del LOGIN | list | passwd LOGIN --password-file F|--password-stdin
 * Takes -c FILE like every other subcommand. Release goes through qr_release,
 * the same function as the HTTP API and digest links.
 * Tests: tests/e2e/test_quarantine.py
 */
#ifndef SLUICE_QUARANTINE_H
#define SLUICE_QUARANTINE_H

#include "sl_conf.h"

int sluice_quarantine_main(int argc, char **argv);

/* sluice_quarantine_check - for `sluice check-config`: the quarantine:
 * section's keys and values; 0, or -1 after printing every file:line error. */
int sluice_quarantine_check(sl_conf_t *conf);

#endif
