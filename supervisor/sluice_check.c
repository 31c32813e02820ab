/*
 * supervisor/sluice_check.c - `sluice check-config`, second half: every stage's own options.
 *
 * The graph, stages, smtpd and quarantine sections are checked in-process;
 * a stage's `options:` only mean something to the stage. So each of our own
 * stages (a program named sluice-stage-*) is run once as `PROGRAM --check
 * --name NAME [-c FILE] [its arguments]`: it loads the config, runs its whole
 * set-up (options, rules, signatures, stores) and exits 0, or 1 after saying
 * what is wrong with file:line. Stages in other languages are listed as not
 * checked. Bounded: S_CHECK_SECONDS per stage, then the stage is killed.
 * Tests: tests/e2e/test_cli.py
 */
#include "sluice.h"

#include "sl_conf.h"
#include "sl_mem.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_CHECK_SECONDS 120 /* one stage's set-up (ClamAV loads its signatures) */

/* s_run - runs ARGV, waits at most S_CHECK_SECONDS; its exit code, or -1. */
static int
s_run(char *const *argv)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execv(argv[0], argv);
        fprintf(stderr, "sluice: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    for (int waited_ms = 0;; waited_ms += 50) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (r < 0 && errno != EINTR)
            return -1;
        if (waited_ms >= S_CHECK_SECONDS * 1000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "sluice: %s --check took over %d s; killed\n", argv[0],
                    S_CHECK_SECONDS);
            return -1;
        }
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int
sluice_check_stages(const sl_conf_t *conf, const char *config)
{
    char bindir[PATH_MAX];
    sluice_bindir(bindir, sizeof bindir);
    int failed = 0;
    for (size_t i = 0; i < conf->stage_count; i++) {
        const sl_conf_stage_t *st = &conf->stages[i];
        const char *prog = strrchr(st->argv[0], '/');
        prog = prog ? prog + 1 : st->argv[0];
        char path[PATH_MAX];
        int n = strchr(st->argv[0], '/') ? snprintf(path, sizeof path, "%s", st->argv[0])
                                         : snprintf(path, sizeof path, "%s/%s", bindir, prog);
        if (strncmp(prog, "sluice-stage-", 13) != 0) {
            printf("stage %s: options not checked (%s is not a Sluice C stage)\n", st->name,
                   st->argv[0]);
            continue;
        }
        if (n < 0 || (size_t) n >= sizeof path || access(path, X_OK) != 0) {
            printf("stage %s: options not checked (%s is not built here)\n", st->name, path);
            continue;
        }
        char **argv = sl_xcalloc(st->argc + 8, sizeof *argv);
        size_t k = 0;
        argv[k++] = path;
        argv[k++] = (char *) "--check";
        argv[k++] = (char *) "--name";
        argv[k++] = st->name;
        if (config) {
            argv[k++] = (char *) "-c";
            argv[k++] = (char *) config;
        }
        for (size_t a = 1; a < st->argc; a++)
            argv[k++] = st->argv[a];
        fflush(stdout);
        int rc = s_run(argv);
        free(argv);
        if (rc != 0) {
            fprintf(stderr, "stage %s: its set-up failed (exit %d); see above\n", st->name, rc);
            failed++;
        }
    }
    return failed;
}
