/*
 * supervisor/sluice_queue.c - `sluice queue`: the delivery queue for operators.
 *
 *   sluice queue [-c FILE] [list] [--json]   every queued file: id, age, sender,
 *                                            recipients, attempts, next try, last reason
 *   sluice queue [-c FILE] flush             sluice-delivery retries every deferred job now
 *                                            (SIGUSR1 to RUN_DIR/delivery.pid)
 *   sluice queue [-c FILE] delete ID         removes queue files of queue id ID (or one
 *                                            file by its full name); no bounce is sent
 * Tests: tests/e2e/test_delivery.py
 */
#include "delivery.h"
#include "sl_dqueue.h"
#include "sluice.h"
#include "sluice_admin.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
s_list(sl_store_t *store, const delivery_conf_t *cf, bool json)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/active", cf->queue_dir);
    DIR *d = opendir(path);
    if (d == NULL) {
        if (errno == ENOENT) {
            printf(json ? "[]\n" : "queue is empty\n");
            return 0;
        }
        fprintf(stderr, "sluice queue: %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t count = 0;
    uint64_t now = sl_now_ms();
    struct dirent *e;
    if (json)
        printf("[");
    else
        printf("%-44s %-6s %-28s %-8s %-8s %s\n", "name", "age", "sender", "attempts", "next",
               "recipients / reason");
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t len = 0, off = 0;
        const char *why = NULL;
        char *buf = sl_dqueue_read(cf->queue_dir, e->d_name, &len, &why);
        sl_dqueue_hdr_t hdr;
        if (buf == NULL || sl_dqueue_parse(buf, len, &hdr, &off, &why) != 0) {
            free(buf);
            continue; /* delivered meanwhile, or damaged (delivery logs it) */
        }
        free(buf);
        const char *p[] = {e->d_name};
        sl_rows_t *st = sl_store_query(
            store, "SELECT attempts, next_at_ms, reason FROM dlv_state WHERE name = ?", p, 1);
        bool has = st && sl_rows_count(st) == 1;
        long attempts = has ? (long)sl_rows_int(st, 0, 0, 0) : 0;
        int64_t next = has ? sl_rows_int(st, 0, 1, 0) : 0;
        const char *reason = has ? sluice_admin_or(sl_rows_get(st, 0, 2), "") : "";
        long age_s = (long)((now - hdr.created_ms) / 1000);
        long next_s = next > (int64_t)now ? (long)((next - (int64_t)now) / 1000) : 0;
        if (json) {
            printf("%s{\"name\":\"%s\",\"id\":\"%s\",\"from\":\"%s\",\"kind\":\"%s\","
                   "\"age_s\":%ld,\"attempts\":%ld,\"next_s\":%ld,\"rcpts\":[",
                   count ? "," : "", e->d_name, hdr.id, hdr.from, hdr.kind, age_s, attempts,
                   next_s);
            for (size_t i = 0; i < hdr.rcpt_count; i++)
                printf("%s\"%s\"", i ? "," : "", hdr.rcpts[i]);
            printf("],\"reason\":\"");
            for (const char *q = reason; *q; q++)
                printf(*q == '"' || *q == '\\' ? "\\%c" : "%c", *q);
            printf("\"}");
        } else {
            char next_text[16];
            snprintf(next_text, sizeof next_text, has ? "%lds" : "now", next_s);
            printf("%-44s %-6ld %-28s %-8ld %-8s", e->d_name, age_s,
                   sluice_admin_or(hdr.from, "<>"), attempts, next_text);
            for (size_t i = 0; i < hdr.rcpt_count; i++)
                printf(" %s", hdr.rcpts[i]);
            printf("\n");
            if (reason[0])
                printf("%44s reason: %s\n", "", reason);
        }
        count++;
        sl_rows_free(&st);
        sl_dqueue_hdr_clear(&hdr);
    }
    closedir(d);
    if (json)
        printf("]\n");
    else
        printf("%zu queued\n", count);
    return 0;
}

/* s_delivery_pid - sluice-delivery's pid from its pid file, else <run_dir>/pids. */
static pid_t
s_delivery_pid(const sl_conf_t *conf, const delivery_conf_t *cf)
{
    long pid = 0;
    FILE *f = fopen(cf->pid_file, "r");
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    if (pid > 0)
        return (pid_t)pid;
    char path[PATH_MAX + 16], label[128];
    snprintf(path, sizeof path, "%s/pids", conf->run_dir);
    f = fopen(path, "r");
    while (f && fscanf(f, "%127s %ld", label, &pid) == 2)
        if (strcmp(label, "delivery") == 0) {
            fclose(f);
            return (pid_t)pid;
        }
    if (f)
        fclose(f);
    return 0;
}

static int
s_delete(sl_store_t *store, const delivery_conf_t *cf, const char *id)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/active", cf->queue_dir);
    DIR *d = opendir(path);
    if (d == NULL) {
        fprintf(stderr, "sluice queue delete: %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t idlen = strlen(id), removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *nm = e->d_name;
        bool match = strcmp(nm, id) == 0 || (strncmp(nm, id, idlen) == 0 && nm[idlen] == '-');
        if (!match)
            continue;
        char file[PATH_MAX + 300];
        snprintf(file, sizeof file, "%s/%s", path, nm);
        if (unlink(file) == 0) {
            const char *p[] = {nm};
            sl_store_exec(store, "DELETE FROM dlv_rcpt WHERE name = ?", p, 1);
            sl_store_exec(store, "DELETE FROM dlv_state WHERE name = ?", p, 1);
            printf("deleted %s\n", nm);
            removed++;
        }
    }
    closedir(d);
    if (removed == 0) {
        fprintf(stderr, "sluice queue delete: nothing queued for %s\n", id);
        return 1;
    }
    return 0;
}

int
sluice_queue_main(int argc, char **argv)
{
    int n;
    char **a = sluice_admin_args(argc, argv, &n);
    const char *verb = n > 1 && a[1][0] != '-' ? a[1] : "list";
    bool json = n > 1 && strcmp(a[n - 1], "--json") == 0;
    const char *id = n > 2 ? a[2] : NULL;
    bool known = strcmp(verb, "list") == 0 || strcmp(verb, "flush") == 0 ||
                 (strcmp(verb, "delete") == 0 && id);
    free(a);
    if (!known) {
        fprintf(stderr, "usage: sluice queue [-c FILE] [list [--json] | flush | delete ID]\n");
        return 2;
    }
    sl_conf_t *conf = NULL;
    sl_store_t *store = sluice_admin_open(argc, argv, &conf);
    if (store == NULL)
        return 1;
    delivery_conf_t cf;
    int rc = 0;
    if (delivery_conf_read(conf, &cf) != 0) {
        fprintf(stderr, "%s\n", sl_cfg_errors(conf->cfg));
        rc = 1;
    } else if (delivery_queue_migrate(store) != 0) {
        fprintf(stderr, "sluice queue: %s\n", sl_store_error(store));
        rc = 1;
    } else if (strcmp(verb, "list") == 0) {
        rc = s_list(store, &cf, json);
    } else if (strcmp(verb, "flush") == 0) {
        pid_t pid = s_delivery_pid(conf, &cf);
        if (pid <= 0 || kill(pid, SIGUSR1) != 0) {
            fprintf(stderr, "sluice queue flush: sluice-delivery is not running (%s)\n",
                    cf.pid_file);
            rc = 1;
        } else {
            printf("flush requested from sluice-delivery (pid %d)\n", (int)pid);
        }
    } else {
        rc = s_delete(store, &cf, id);
    }
    sl_store_close(&store);
    sl_conf_destroy(&conf);
    return rc;
}
