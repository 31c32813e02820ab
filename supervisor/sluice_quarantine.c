/*
 * supervisor/sluice_quarantine.c - `sluice quarantine`: list, show, release
 * and delete held mail, and manage the dashboard's users.
 *
 * An operator at the shell is an admin: every row is in scope. The shared
 * work (release, delete, users, password hashes, the inert view) is in
 * quarantine/ (sluice-quarantine-core).
 * Tests: tests/e2e/test_quarantine.py
 */
#include "sluice_quarantine.h"
#include "qr_core.h"
#include "sl_conf.h"
#include "sl_mem.h"
#include "sluice.h"

#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_LIMIT_DEFAULT 100 /* rows `list` shows without --limit */

static int
s_usage(void)
{
    fprintf(stderr,
            "usage: sluice quarantine [-c FILE] list [--rcpt R] [--limit N]\n"
            "       sluice quarantine [-c FILE] show|release|delete ID [--rcpt R]\n"
            "       sluice quarantine [-c FILE] user add LOGIN --role user|domain|admin "
            "[--scope S] [--password-file F | --password-stdin]\n"
            "       sluice quarantine [-c FILE] user del LOGIN | user list |\n"
            "                         user passwd LOGIN --password-file F | --password-stdin\n");
    return 2;
}

/* s_opt - value of option NAME in ARGV (after FIRST), NULL when absent. */
static const char *
s_opt(int argc, char **argv, int first, const char *name)
{
    for (int i = first; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

static bool
s_flag(int argc, char **argv, int first, const char *name)
{
    for (int i = first; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return true;
    return false;
}

/* s_password - from --password-file F (first line) or --password-stdin; malloc'd or NULL. */
static char *
s_password(int argc, char **argv, int first)
{
    const char *file = s_opt(argc, argv, first, "--password-file");
    FILE *f = file                                            ? fopen(file, "r")
              : s_flag(argc, argv, first, "--password-stdin") ? stdin
                                                              : NULL;
    if (f == NULL) {
        fprintf(stderr, "sluice quarantine: give --password-file F or --password-stdin\n");
        return NULL;
    }
    char buf[QR_PASSWORD_MAX + 2];
    char *line = fgets(buf, sizeof buf, f);
    if (f != stdin)
        fclose(f);
    if (line == NULL) {
        fprintf(stderr, "sluice quarantine: no password read\n");
        return NULL;
    }
    buf[strcspn(buf, "\r\n")] = '\0';
    return sl_xstrdup(buf);
}

static int
s_user(qr_ctx_t *ctx, int argc, char **argv, int at)
{
    if (at >= argc)
        return s_usage();
    const char *verb = argv[at], *why = NULL;
    if (strcmp(verb, "list") == 0) {
        sl_rows_t *rows = sl_store_query(
            ctx->store, "SELECT login, role, scope, digest FROM quarantine_user ORDER BY login",
            NULL, 0);
        if (rows == NULL) {
            fprintf(stderr, "sluice quarantine: %s\n", sl_store_error(ctx->store));
            return 1;
        }
        printf("login\trole\tscope\tdigest\n");
        for (size_t r = 0; r < sl_rows_count(rows); r++)
            printf("%s\t%s\t%s\t%s\n", sl_rows_get(rows, r, 0), sl_rows_get(rows, r, 1),
                   sl_rows_get(rows, r, 2)[0] ? sl_rows_get(rows, r, 2) : "*",
                   sl_rows_get(rows, r, 3));
        sl_rows_free(&rows);
        return 0;
    }
    if (at + 1 >= argc)
        return s_usage();
    const char *login = argv[at + 1];
    int rc;
    if (strcmp(verb, "del") == 0)
        rc = qr_user_del(ctx->store, login, &why);
    else if (strcmp(verb, "add") == 0 || strcmp(verb, "passwd") == 0) {
        const char *role = s_opt(argc, argv, at + 2, "--role");
        if (strcmp(verb, "add") == 0 && role == NULL)
            return s_usage();
        char *pw = s_password(argc, argv, at + 2);
        if (pw == NULL)
            return 2;
        rc = strcmp(verb, "add") == 0 ? qr_user_add(ctx->store, login, role,
                                                    s_opt(argc, argv, at + 2, "--scope"), pw, &why)
                                      : qr_user_passwd(ctx->store, login, pw, &why);
        free(pw);
    } else
        return s_usage();
    if (rc != 0) {
        fprintf(stderr, "sluice quarantine user %s %s: %s\n", verb, login, why);
        return 1;
    }
    printf("ok\n");
    return 0;
}

static int
s_list(qr_ctx_t *ctx, int argc, char **argv, int at)
{
    const char *rcpt = s_opt(argc, argv, at, "--rcpt"), *lim = s_opt(argc, argv, at, "--limit");
    long limit = S_LIMIT_DEFAULT;
    if (lim) {
        char *end;
        limit = strtol(lim, &end, 10);
        if (*end || limit < 1 || limit > 1000000)
            return s_usage();
    }
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT " QR_COLUMNS " FROM quarantine%s ORDER BY time_ms DESC, id DESC LIMIT %ld",
             rcpt ? " WHERE rcpt = ?" : "", limit);
    const char *p[] = {rcpt};
    sl_rows_t *rows = sl_store_query(ctx->store, sql, p, rcpt ? 1 : 0);
    if (rows == NULL) {
        fprintf(stderr, "sluice quarantine: %s\n", sl_store_error(ctx->store));
        return 1;
    }
    printf("id\trcpt\ttime\tsender\tclassification\tscore\treleased\tsubject\n");
    for (size_t r = 0; r < sl_rows_count(rows); r++) {
        time_t t = (time_t)(sl_rows_int(rows, r, 2, 0) / 1000);
        struct tm tm;
        char when[32];
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        const char *s = sl_rows_get(rows, r, 3);
        printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sl_rows_get(rows, r, 0), sl_rows_get(rows, r, 1),
               when, s && s[0] ? s : "<>", sl_rows_get(rows, r, 5) ? sl_rows_get(rows, r, 5) : "",
               sl_rows_get(rows, r, 6) ? sl_rows_get(rows, r, 6) : "",
               sl_rows_get(rows, r, 8) ? "yes" : "no",
               sl_rows_get(rows, r, 4) ? sl_rows_get(rows, r, 4) : "");
    }
    sl_rows_free(&rows);
    return 0;
}

/* s_rows_of - every row of ID (only RCPT's when given). */
static sl_rows_t *
s_rows_of(qr_ctx_t *ctx, const char *id, const char *rcpt)
{
    const char *p[] = {id, rcpt};
    return sl_store_query(ctx->store,
                          rcpt ? "SELECT " QR_COLUMNS " FROM quarantine WHERE id = ? AND rcpt = ?"
                               : "SELECT " QR_COLUMNS " FROM quarantine WHERE id = ? ORDER BY rcpt",
                          p, rcpt ? 2 : 1);
}

static int
s_one(qr_ctx_t *ctx, const char *verb, int argc, char **argv, int at)
{
    if (at >= argc || argv[at][0] == '-')
        return s_usage();
    const char *id = argv[at], *rcpt = s_opt(argc, argv, at + 1, "--rcpt");
    sl_rows_t *rows = qr_id_ok(id) ? s_rows_of(ctx, id, rcpt) : NULL;
    if (rows == NULL || sl_rows_count(rows) == 0) {
        sl_rows_free(&rows);
        fprintf(stderr, "sluice quarantine %s: %s: no such message\n", verb, id);
        return 1;
    }
    int rc = 0;
    if (strcmp(verb, "show") == 0) {
        static const char *const names[] = {"id",     "rcpt",    "time_ms",
                                            "sender", "subject", "classification",
                                            "score",  "reason",  "released_ms"};
        for (size_t r = 0; r < sl_rows_count(rows); r++) {
            for (size_t c = 0; c < 9; c++)
                printf("%s: %s\n", names[c],
                       sl_rows_get(rows, r, c) ? sl_rows_get(rows, r, c) : "-");
            printf("\n");
        }
        char path[4200];
        qr_jbuf_t b = {0};
        qr_jbuf_raw(&b, "{");
        if (qr_msg_path(ctx, id, path, sizeof path) != 0 || qr_view_json(path, &b) != 0) {
            fprintf(stderr, "sluice quarantine show: %s: message file missing\n", id);
            rc = 1;
        } else {
            qr_jbuf_raw(&b, "}");
            printf("%s\n", b.buf);
        }
        qr_jbuf_free(&b);
    }
    for (size_t r = 0; strcmp(verb, "show") != 0 && r < sl_rows_count(rows); r++) {
        const char *to = sl_rows_get(rows, r, 1), *why = NULL;
        int one = strcmp(verb, "release") == 0 ? qr_release(ctx, id, to, &why)
                                               : qr_delete(ctx, id, to, &why);
        if (one == 0)
            printf("%s %s %sd\n", id, to, verb);
        else {
            fprintf(stderr, "sluice quarantine %s: %s %s: %s\n", verb, id, to,
                    one == 1 ? "already released" : why);
            rc = 1;
        }
    }
    sl_rows_free(&rows);
    return rc;
}

int
sluice_quarantine_check(sl_conf_t *conf)
{
    static qr_ctx_t ctx;
    char err[16384];
    if (qr_conf_load(&ctx, conf->cfg, conf->data_dir, false, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

int
sluice_quarantine_main(int argc, char **argv)
{
    /* argv without -c FILE */
    char **args = sl_xcalloc((size_t)argc + 1, sizeof *args);
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            i++;
            continue;
        }
        args[n++] = argv[i];
    }
    if (n < 2) {
        free(args);
        return s_usage();
    }
    char err[16384];
    sl_conf_t *conf = sl_conf_load(sluice_opt_config(argc, argv), err, sizeof err);
    if (conf == NULL) {
        fprintf(stderr, "%s\n", err);
        free(args);
        return 1;
    }
    static qr_ctx_t ctx;
    int rc = 1;
    if (qr_conf_load(&ctx, conf->cfg, conf->data_dir, false, err, sizeof err) != 0) {
        fprintf(stderr, "sluice quarantine: %s\n", err);
        goto out;
    }
    ctx.store = sl_store_open(ctx.store_url, err, sizeof err);
    if (ctx.store == NULL || qr_migrate(ctx.store) != 0) {
        fprintf(stderr, "sluice quarantine: store %s: %s\n", ctx.store_url,
                ctx.store ? sl_store_error(ctx.store) : err);
        goto out;
    }
    g_mime_init();
    const char *cmd = args[1];
    if (strcmp(cmd, "list") == 0)
        rc = s_list(&ctx, n, args, 2);
    else if (strcmp(cmd, "show") == 0 || strcmp(cmd, "release") == 0 || strcmp(cmd, "delete") == 0)
        rc = s_one(&ctx, cmd, n, args, 2);
    else if (strcmp(cmd, "user") == 0)
        rc = s_user(&ctx, n, args, 2);
    else
        rc = s_usage();
    g_mime_shutdown();
out:
    sl_store_close(&ctx.store);
    sl_conf_destroy(&conf);
    free(args);
    return rc;
}
