/*
 * supervisor/sluice_start.c - `sluice start`: run and watch every process of the gateway.
 *
 * Like Postfix's master: one foreground process starts the broker, N workers
 * of every stage, and smtpd (and, when configured, delivery and quarantine),
 * restarts a child that dies with exponential back-off (250 ms doubling to
 * 30 s, reset after 30 s of good running), and on SIGTERM/SIGINT stops them
 * all (TERM, then KILL after 10 s). Children die with it (PR_SET_PDEATHSIG).
 * The PIDs are written to <run_dir>/pids ("name pid" lines) for operators
 * and tests. Tests: tests/e2e/test_pipeline.py
 */
#include "sluice.h"
#include "sl_conf.h"
#include "sl_fs.h"
#include "sl_log.h"
#include "sl_mem.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_BACKOFF_MIN_MS 250
#define S_BACKOFF_MAX_MS 30000
#define S_STABLE_MS 30000
#define S_STOP_GRACE_MS 10000

typedef struct {
    char label[96];     /* "broker", "stage example#1", "smtpd" */
    char **argv;        /* resolved command line, NULL-terminated */
    pid_t pid;          /* 0 when not running */
    uint64_t started_at; /* mono ms */
    uint64_t start_at;  /* mono ms of the next (re)start */
    uint64_t backoff_ms; /* next restart delay */
    unsigned restarts;  /* since sluice start */
} s_child_t;

static volatile sig_atomic_t s_stop;

static void
s_on_signal(int sig)
{
    (void) sig;
    s_stop = 1;
}

/* s_resolve - program NAME: a path as given, else next to the sluice binary, else PATH. */
static char *
s_resolve(const char *bindir, const char *name)
{
    if (strchr(name, '/'))
        return sl_xstrdup(name);
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", bindir, name);
    if (n > 0 && (size_t) n < sizeof path && access(path, X_OK) == 0)
        return sl_xstrdup(path);
    return sl_xstrdup(name); /* execvp searches PATH */
}

static s_child_t *
s_add(s_child_t **kids, size_t *n, const char *label)
{
    *kids = sl_xrealloc(*kids, (*n + 1) * sizeof **kids);
    s_child_t *c = &(*kids)[(*n)++];
    memset(c, 0, sizeof *c);
    snprintf(c->label, sizeof c->label, "%s", label);
    c->backoff_ms = S_BACKOFF_MIN_MS;
    return c;
}

static char **
s_argv(const char *const *words, size_t count)
{
    char **argv = sl_xcalloc(count + 1, sizeof *argv);
    for (size_t i = 0; i < count; i++)
        argv[i] = sl_xstrdup(words[i]);
    return argv;
}

static void
s_plan_stage(s_child_t **kids, size_t *n, const sl_conf_t *conf, const sl_conf_stage_t *st,
             const char *bindir, const char *config)
{
    char cap[16], hb[16];
    snprintf(cap, sizeof cap, "%d", st->capacity);
    snprintf(hb, sizeof hb, "%d", conf->broker.heartbeat_ms);
    for (int w = 0; w < st->workers; w++) {
        char label[96];
        snprintf(label, sizeof label, "stage %s#%d", st->name, w + 1);
        s_child_t *c = s_add(kids, n, label);
        size_t max = st->argc + 12, k = 0;
        c->argv = sl_xcalloc(max + 1, sizeof *c->argv);
        c->argv[k++] = s_resolve(bindir, st->argv[0]);
        const char *std[] = {"--broker", conf->broker.backend, "--name", st->name,
                             "--capacity", cap, "--heartbeat", hb};
        for (size_t i = 0; i < 8; i++)
            c->argv[k++] = sl_xstrdup(std[i]);
        if (config) {
            c->argv[k++] = sl_xstrdup("-c");
            c->argv[k++] = sl_xstrdup(config);
        }
        for (size_t i = 1; i < st->argc; i++)
            c->argv[k++] = sl_xstrdup(st->argv[i]);
    }
}

/* s_plan_daemon - PROGRAM -c CONFIG, when the config has SECTION (or always). */
static void
s_plan_daemon(s_child_t **kids, size_t *n, const sl_conf_t *conf, const char *section,
              const char *program, const char *bindir, const char *config)
{
    if (section && sl_cfg_get(sl_cfg_root(conf->cfg), section) == NULL)
        return;
    char *path = s_resolve(bindir, program);
    if (section && access(path, X_OK) != 0) {
        sl_log_warn(NULL, "section %s: is configured but %s is not built; skipped", section,
                    program);
        free(path);
        return;
    }
    s_child_t *c = s_add(kids, n, program + strlen("sluice-"));
    const char *words[] = {path, "-c", config};
    c->argv = s_argv(words, config ? 3 : 1);
    free(path);
}

static void
s_write_pids(const sl_conf_t *conf, const s_child_t *kids, size_t n)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    snprintf(path, sizeof path, "%s/pids", conf->run_dir);
    snprintf(tmp, sizeof tmp, "%s/pids.tmp", conf->run_dir);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return;
    fprintf(f, "supervisor %d\n", (int) getpid());
    for (size_t i = 0; i < n; i++)
        if (kids[i].pid > 0)
            fprintf(f, "%s %d\n", kids[i].label, (int) kids[i].pid);
    fclose(f);
    rename(tmp, path);
}

static void
s_spawn(s_child_t *c, pid_t parent)
{
    pid_t pid = fork();
    if (pid < 0) {
        sl_log_error(NULL, "fork failed child=\"%s\" error=\"%s\"", c->label, strerror(errno));
        c->start_at = sl_mono_ms() + c->backoff_ms;
        return;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1); /* the supervisor died between fork and prctl */
        setpgid(0, 0); /* a terminal's Ctrl-C reaches the supervisor, which decides */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execvp(c->argv[0], c->argv);
        fprintf(stderr, "sluice: cannot run %s: %s\n", c->argv[0], strerror(errno));
        _exit(127);
    }
    c->pid = pid;
    c->started_at = sl_mono_ms();
    sl_log_info(NULL, "started child=\"%s\" pid=%d", c->label, (int) pid);
}

static void
s_reap(s_child_t *kids, size_t n, bool stopping)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < n; i++) {
            s_child_t *c = &kids[i];
            if (c->pid != pid)
                continue;
            c->pid = 0;
            uint64_t now = sl_mono_ms();
            if (now - c->started_at > S_STABLE_MS)
                c->backoff_ms = S_BACKOFF_MIN_MS;
            char how[64];
            if (WIFSIGNALED(status))
                snprintf(how, sizeof how, "signal=%d", WTERMSIG(status));
            else
                snprintf(how, sizeof how, "exit=%d", WEXITSTATUS(status));
            if (stopping) {
                sl_log_info(NULL, "stopped child=\"%s\" pid=%d %s", c->label, (int) pid, how);
                break;
            }
            c->restarts++;
            c->start_at = now + c->backoff_ms;
            sl_log_warn(NULL, "child died child=\"%s\" pid=%d %s restart_in=%llums restarts=%u",
                        c->label, (int) pid, how, (unsigned long long) c->backoff_ms,
                        c->restarts);
            c->backoff_ms = c->backoff_ms * 2 > S_BACKOFF_MAX_MS ? S_BACKOFF_MAX_MS
                                                                 : c->backoff_ms * 2;
        }
    }
}

static void
s_stop_all(s_child_t *kids, size_t n)
{
    for (size_t i = n; i-- > 0;)
        if (kids[i].pid > 0)
            kill(kids[i].pid, SIGTERM);
    uint64_t deadline = sl_mono_ms() + S_STOP_GRACE_MS;
    for (;;) {
        s_reap(kids, n, true);
        size_t alive = 0;
        for (size_t i = 0; i < n; i++)
            alive += kids[i].pid > 0;
        if (alive == 0)
            return;
        if (sl_mono_ms() > deadline) {
            for (size_t i = 0; i < n; i++) {
                if (kids[i].pid > 0) {
                    sl_log_warn(NULL, "child ignored TERM; killing child=\"%s\" pid=%d",
                                kids[i].label, (int) kids[i].pid);
                    kill(kids[i].pid, SIGKILL);
                }
            }
            deadline = UINT64_MAX;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int
sluice_start_main(int argc, char **argv)
{
    const char *config = sluice_opt_config(argc, argv);
    char err[16384];
    sl_conf_t *conf = sl_conf_load(config, err, sizeof err);
    if (conf == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    sl_log_open("sluice", (sl_log_level_t) conf->log_level);
    sl_fs_mkdirs(conf->run_dir, 0755);
    sl_fs_mkdirs(conf->data_dir, 0755);
    char config_abs[PATH_MAX];
    if (config && realpath(config, config_abs) != NULL)
        config = config_abs;
    char bindir[PATH_MAX];
    sluice_bindir(bindir, sizeof bindir);

    s_child_t *kids = NULL;
    size_t n = 0;
    s_plan_daemon(&kids, &n, conf, NULL, "sluice-broker", bindir, config);
    for (size_t i = 0; i < conf->stage_count; i++)
        s_plan_stage(&kids, &n, conf, &conf->stages[i], bindir, config);
    s_plan_daemon(&kids, &n, conf, "smtpd", "sluice-smtpd", bindir, config);
    s_plan_daemon(&kids, &n, conf, "delivery", "sluice-delivery", bindir, config);
    s_plan_daemon(&kids, &n, conf, "quarantine", "sluice-quarantine", bindir, config);

    struct sigaction sa = {.sa_handler = s_on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sl_log_info(NULL, "sluice starting config=%s children=%zu", config ? config : "(embedded)",
                n);
    pid_t self = getpid();
    while (!s_stop) {
        uint64_t now = sl_mono_ms();
        bool changed = false;
        for (size_t i = 0; i < n; i++) {
            if (kids[i].pid == 0 && now >= kids[i].start_at) {
                s_spawn(&kids[i], self);
                changed = true;
            }
        }
        if (changed)
            s_write_pids(conf, kids, n);
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        s_reap(kids, n, false);
    }
    sl_log_info(NULL, "sluice stopping");
    s_stop_all(kids, n);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/pids", conf->run_dir);
    unlink(path);
    for (size_t i = 0; i < n; i++) {
        for (char **a = kids[i].argv; *a; a++)
            free(*a);
        free(kids[i].argv);
    }
    free(kids);
    sl_conf_destroy(&conf);
    sl_log_info(NULL, "sluice stopped");
    return 0;
}
