/*
 * supervisor/sluice.h - the `sluice` command: subcommands and their shared helpers.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include "sl_conf.h"

#include <stddef.h>

/* Each subcommand: argv[0] is the subcommand name; returns the exit code. */
int sluice_start_main(int argc, char **argv);
int sluice_status_main(int argc, char **argv);
int sluice_submit_main(int argc, char **argv);
int sluice_check_config_main(int argc, char **argv);

/* sluice_check_stages - runs each Sluice C stage of CONF once with --check
 * (config CONFIG, NULL = embedded); the number whose set-up failed. */
int sluice_check_stages(const sl_conf_t *conf, const char *config);

/* sluice_opt_config - the value of -c/--config in ARGV, or NULL (embedded default). */
const char *sluice_opt_config(int argc, char **argv);
/* sluice_bindir - the folder of the running sluice binary (for sibling programs). */
void sluice_bindir(char *buf, size_t size);

#endif
