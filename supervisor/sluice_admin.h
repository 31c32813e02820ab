/*
 * supervisor/sluice_admin.h - the admin subcommands of policy, message log and delivery queue.
 *
 *   sluice domain|mailbox|policy add|list|show|remove ...   (sluice_policy.c)
 *   sluice log [--since T] [--rcpt A] [--classification C] | --id ID   (sluice_log.c)
 *   sluice queue [list] | flush | delete ID                  (sluice_queue.c)
 * Each takes -c FILE like every other subcommand; argv[0] is the subcommand.
 * Tests: tests/e2e/test_delivery.py
 */
#ifndef SLUICE_ADMIN_H
#define SLUICE_ADMIN_H

#include "sl_conf.h"
#include "sl_store.h"

int sluice_domain_main(int argc, char **argv);
int sluice_mailbox_main(int argc, char **argv);
int sluice_policy_main(int argc, char **argv);
int sluice_log_main(int argc, char **argv);
int sluice_queue_main(int argc, char **argv);

/* sluice_admin_open - config (-c or the embedded default) and the store it
 * names, tables created; NULL after printing why. *conf_p gets the config. */
sl_store_t *sluice_admin_open(int argc, char **argv, sl_conf_t **conf_p);
/* sluice_admin_or - V when it is a non-empty text, else DEF (for printing store values). */
const char *sluice_admin_or(const char *v, const char *def);
/* sluice_admin_args - ARGV without "-c FILE"/"--config FILE" (a new array,
 * caller frees; the strings are borrowed); the count in *n. */
char **sluice_admin_args(int argc, char **argv, int *n);

#endif
