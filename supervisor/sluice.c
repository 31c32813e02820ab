/*
 * supervisor/sluice.c - `sluice`: the one command operators run.
 *
 * Dispatches to the subcommands; each lives in its own file. The names and
 * flags here are an interface that outside checks use: keep them.
 */
#include "sluice.h"
#include "sl_log.h"
#ifdef SLUICE_HAVE_REPLAY
#include "sluice_replay.h"
#endif
#ifdef SLUICE_HAVE_ADMIN
#include "sluice_admin.h"
#endif
#ifdef SLUICE_HAVE_SCORE
#include "sluice_learn.h"
#include "sluice_symbols.h"
#endif
#ifdef SLUICE_HAVE_QUARANTINE
#include "sluice_quarantine.h"
#endif

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *
sluice_opt_config(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0)
            return argv[i + 1];
    return NULL;
}

void
sluice_bindir(char *buf, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    if (n <= 0) {
        snprintf(buf, size, ".");
        return;
    }
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
}

static int
s_usage(FILE *out)
{
    fprintf(out,
            "usage: sluice COMMAND [options]\n"
            "  start -c FILE                 run the gateway in the foreground\n"
            "  status -c FILE [--json]       workers, in flight, queued, done per stage\n"
            "  submit -c FILE MESSAGE.eml [--from A] [--to B]... [--graph G] [--phase P]\n"
            "                                run one message through the pipeline, print JSON\n"
            "  check-config FILE             validate a config, explain errors with file:line\n"
#ifdef SLUICE_HAVE_REPLAY
            "  replay -c FILE [--id ID | --since TIME] [--graph NAME] [--dry-run]\n"
            "                                send spooled or archived mail through again\n"
#endif
#ifdef SLUICE_HAVE_ADMIN
            "  domain|mailbox|policy add|list|show|remove ...  the policy store\n"
            "  log -c FILE [--since T] [--rcpt A] [--classification C] | --id ID\n"
            "  queue -c FILE [list | flush | delete ID]    the delivery queue\n"
#endif
#ifdef SLUICE_HAVE_SCORE
            "  symbols [-c FILE]             every symbol with its weight and description\n"
            "  learn [-c FILE] --spam|--ham PATH...  train Bayes (file, maildir or mbox);\n"
            "                                --stats shows what it knows\n"
#endif
#ifdef SLUICE_HAVE_QUARANTINE
            "  quarantine -c FILE list|show|release|delete|user ...  held mail and\n"
            "                                dashboard users (quarantine/API.md)\n"
#endif
            "Without -c, the embedded default configuration is used.\n");
    return out == stderr ? 2 : 0;
}

int
main(int argc, char **argv)
{
    sl_log_open("sluice", SL_LOG_INFO);
    if (argc < 2)
        return s_usage(stderr);
    const char *cmd = argv[1];
    argc--;
    argv++;
    if (strcmp(cmd, "start") == 0)
        return sluice_start_main(argc, argv);
    if (strcmp(cmd, "status") == 0)
        return sluice_status_main(argc, argv);
    if (strcmp(cmd, "submit") == 0)
        return sluice_submit_main(argc, argv);
    if (strcmp(cmd, "check-config") == 0)
        return sluice_check_config_main(argc, argv);
#ifdef SLUICE_HAVE_REPLAY
    if (strcmp(cmd, "replay") == 0)
        return sluice_replay_main(argc, argv);
#endif
#ifdef SLUICE_HAVE_ADMIN
    if (strcmp(cmd, "domain") == 0)
        return sluice_domain_main(argc, argv);
    if (strcmp(cmd, "mailbox") == 0)
        return sluice_mailbox_main(argc, argv);
    if (strcmp(cmd, "policy") == 0)
        return sluice_policy_main(argc, argv);
    if (strcmp(cmd, "log") == 0)
        return sluice_log_main(argc, argv);
    if (strcmp(cmd, "queue") == 0)
        return sluice_queue_main(argc, argv);
#endif
#ifdef SLUICE_HAVE_SCORE
    if (strcmp(cmd, "symbols") == 0)
        return sluice_symbols_main(argc, argv);
    if (strcmp(cmd, "learn") == 0)
        return sluice_learn_main(argc, argv);
#endif
#ifdef SLUICE_HAVE_QUARANTINE
    if (strcmp(cmd, "quarantine") == 0)
        return sluice_quarantine_main(argc, argv);
#endif
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return s_usage(stdout);
    fprintf(stderr, "sluice: unknown command \"%s\"\n", cmd);
    return s_usage(stderr);
}
