/*
 * smtpd/smtpd_main.c - sluice-smtpd: options, config, log, privileges, then the loop.
 *
 * Usage: sluice-smtpd [-c FILE] [--check]
 * Started by `sluice start` when the config has an smtpd: section. Binds its
 * ports, loads the TLS key, then drops to smtpd.user (when started as root)
 * before it reads a byte from a client. Operator documentation: smtpd/README.md.
 */
#include "smtpd.h"

#include "sl_log.h"
#include "smtpd_spool.h"

#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
s_chown_spool(const smtpd_conf_t *c, uid_t uid, gid_t gid)
{
    static const char *const subs[] = {".", "tmp", "archive", "replica"};
    for (size_t i = 0; i < 4; i++) {
        char path[4096];
        if (smtpd_spool_path(path, sizeof path, c->spool_dir, NULL, subs[i]) == 0 &&
            chown(path, uid, gid) != 0)
            sl_log_warn(NULL, "chown spool path=%s failed", path);
    }
}

/* s_drop - become smtpd.user when root; a missing user keeps root, loudly. */
static int
s_drop(const smtpd_conf_t *c)
{
    if (geteuid() != 0)
        return 0;
    if (strcmp(c->user, "root") == 0) {
        sl_log_warn(NULL, "running as root user=root");
        return 0;
    }
    struct passwd *pw = getpwnam(c->user);
    if (pw == NULL) {
        sl_log_warn(NULL, "privileges user=%s reason=\"no such user: staying root\"", c->user);
        return 0;
    }
    s_chown_spool(c, pw->pw_uid, pw->pw_gid);
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        sl_log_error(NULL, "privileges user=%s reason=\"cannot drop root\"", c->user);
        return -1;
    }
    sl_log_info(NULL, "privileges user=%s uid=%d", c->user, (int)pw->pw_uid);
    return 0;
}

static void
s_usage(void)
{
    fprintf(stderr, "usage: sluice-smtpd [-c FILE] [--check]\n");
}

int
main(int argc, char **argv)
{
    const char *path = NULL;
    int check = 0;
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--check") == 0) {
            check = 1;
        } else {
            s_usage();
            return 2;
        }
    }
    sl_log_open("sluice-smtpd", SL_LOG_INFO);
    char err[8192];
    smtpd_t srv;
    memset(&srv, 0, sizeof srv);
    srv.conf = sl_conf_load(path, err, sizeof err);
    if (srv.conf == NULL) {
        fprintf(stderr, "sluice-smtpd: %s\n", err);
        return 2;
    }
    sl_log_set_level((sl_log_level_t)srv.conf->log_level);
    int rc = 2;
    if (smtpd_conf_read(&srv.cfg, srv.conf->cfg, srv.conf->data_dir) != 0) {
        fprintf(stderr, "sluice-smtpd: %s\n", sl_cfg_errors(srv.conf->cfg));
        goto out;
    }
    rc = 0;
    if (check)
        goto out;
    const char *why;
    rc = 1;
    if (smtpd_spool_init(srv.cfg.spool_dir, &why) != 0) {
        sl_log_error(NULL, "spool dir=%s reason=\"%s\"", srv.cfg.spool_dir, why);
        goto out;
    }
    if (smtpd_server_open(&srv) == 0 && s_drop(&srv.cfg) == 0)
        rc = smtpd_server_run(&srv);
    smtpd_server_close(&srv);
out:
    smtpd_conf_free(&srv.cfg);
    sl_conf_destroy(&srv.conf);
    return rc;
}
