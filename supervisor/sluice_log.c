/*
 * supervisor/sluice_log.c - `sluice log`: the message log and a message's verdict trail.
 *
 *   sluice log [-c FILE] [--since 2h|3d|2026-11-23[T12:00[:00]]] [--rcpt ADDRESS]
 *              [--classification CLASS] [--limit N] [--json]
 *   sluice log [-c FILE] --id QUEUE-ID [--json]
 * The list shows one line per message and recipient, newest first: time,
 * id, recipient, sender, classification, score, action, delivery, subject.
 * --id shows every field of the records and the verdict trail: each stage's
 * verdict with its time, code and rules versions and symbols.
 * Tests: tests/e2e/test_delivery.py
 */
#include "sl_env.h"
#include "sl_msglog.h"
#include "sluice.h"
#include "sluice_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* s_since - "90s", "30m", "2h", "3d" ago, or a UTC date "YYYY-MM-DD[THH:MM[:SS]]",
 * as ms since the epoch; -1 when unreadable. Operator input, NUL-terminated. */
static int64_t
s_since(const char *text)
{
    size_t len = strlen(text);
    if (len >= 2 && len < 12) {
        char unit = text[len - 1];
        int64_t mult = unit == 's'   ? 1000
                       : unit == 'm' ? 60000
                       : unit == 'h' ? 3600000
                       : unit == 'd' ? 86400000
                                     : 0;
        int64_t v = 0;
        bool digits = mult > 0;
        for (size_t i = 0; i + 1 < len && digits; i++) {
            digits = text[i] >= '0' && text[i] <= '9';
            v = v * 10 + (text[i] - '0');
        }
        if (digits)
            return (int64_t)sl_now_ms() - v * mult;
    }
    struct tm tm = {0};
    const char *end = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL || *end) {
        memset(&tm, 0, sizeof tm);
        end = strptime(text, "%Y-%m-%dT%H:%M", &tm);
    }
    if (end == NULL || *end) {
        memset(&tm, 0, sizeof tm);
        end = strptime(text, "%Y-%m-%d", &tm);
    }
    if (end == NULL || *end)
        return -1;
    return (int64_t)timegm(&tm) * 1000;
}

static void
s_time(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *const s_cols[] = {
    "id",         "rcpt",    "time_ms", "size",           "sender",         "relay_ip",
    "message_id", "subject", "score",   "classification", "action",         "destination",
    "virus",      "banned",  "symbols", "delivery",       "delivery_reply",
};

/* s_json_str - TEXT as a JSON string on stdout. */
static void
s_json_str(const char *text)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)(text ? text : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void
s_print_json(const sl_rows_t *rows, const char *trail)
{
    printf("{\"records\":[");
    for (size_t r = 0; r < sl_rows_count(rows); r++) {
        printf("%s{", r ? "," : "");
        for (size_t c = 0; c < sl_rows_columns(rows); c++) {
            printf("%s\"%s\":", c ? "," : "", s_cols[c]);
            const char *v = sl_rows_get(rows, r, c);
            if (v && (c == 2 || c == 3 || c == 8))
                printf("%s", v);
            else if (v)
                s_json_str(v);
            else
                printf("null");
        }
        printf("}");
    }
    printf("]");
    if (trail)
        printf(",\"trail\":%s", trail);
    printf("}\n");
}

/* s_print_trail - one line per stage's verdict, then the whole envelope. */
static void
s_print_trail(const char *summary, const char *json)
{
    printf("verdict trail:\n");
    for (const char *p = summary ? summary : ""; *p;) {
        size_t n = strcspn(p, "\n");
        printf("  %.*s\n", (int)n, p);
        p += n + (p[n] == '\n');
    }
    printf("final envelope (JSON):\n%s\n", json);
}

int
sluice_log_main(int argc, char **argv)
{
    const char *rcpt = NULL, *cls = NULL, *id = NULL;
    int64_t since = 0;
    long limit = SL_MSGLOG_LIMIT_DEFAULT;
    bool json = false;
    int n;
    char **a = sluice_admin_args(argc, argv, &n);
    for (int i = 1; i < n; i++) {
        bool has = i + 1 < n;
        if (strcmp(a[i], "--since") == 0 && has) {
            since = s_since(a[++i]);
            if (since < 0) {
                fprintf(stderr, "sluice log: --since wants 2h, 3d or 2026-11-23[T12:00]\n");
                free(a);
                return 2;
            }
        } else if (strcmp(a[i], "--rcpt") == 0 && has)
            rcpt = a[++i];
        else if (strcmp(a[i], "--classification") == 0 && has)
            cls = a[++i];
        else if (strcmp(a[i], "--id") == 0 && has)
            id = a[++i];
        else if (strcmp(a[i], "--limit") == 0 && has)
            limit = strtol(a[++i], NULL, 10);
        else if (strcmp(a[i], "--json") == 0)
            json = true;
        else {
            fprintf(stderr, "usage: sluice log [-c FILE] [--since T] [--rcpt A] "
                            "[--classification C] [--limit N] [--json] | --id ID\n");
            free(a);
            return 2;
        }
    }
    free(a);
    sl_conf_t *conf = NULL;
    sl_store_t *store = sluice_admin_open(argc, argv, &conf);
    if (store == NULL)
        return 1;
    int rc = 0;
    sl_rows_t *rows =
        sl_msglog_find(store, (uint64_t)since, rcpt, cls, id, id ? SL_ENV_RCPTS_MAX : limit);
    sl_rows_t *trail = id ? sl_msglog_trail(store, id) : NULL;
    const char *trail_json = trail && sl_rows_count(trail) ? sl_rows_get(trail, 0, 1) : NULL;
    if (rows == NULL) {
        fprintf(stderr, "sluice log: %s\n", sl_store_error(store));
        rc = 1;
    } else if (id && sl_rows_count(rows) == 0 && trail_json == NULL) {
        fprintf(stderr, "sluice log: no message with id %s\n", id);
        rc = 1;
    } else if (json) {
        s_print_json(rows, trail_json);
    } else if (id) {
        for (size_t r = 0; r < sl_rows_count(rows); r++) {
            char t[32];
            s_time(sl_rows_int(rows, r, 2, 0), t, sizeof t);
            printf("record %zu:\n  time: %s\n", r + 1, t);
            for (size_t c = 0; c < sl_rows_columns(rows); c++)
                if (c != 2)
                    printf("  %s: %s\n", s_cols[c], sluice_admin_or(sl_rows_get(rows, r, c), "-"));
        }
        if (trail_json)
            s_print_trail(sl_rows_get(trail, 0, 2), trail_json);
    } else {
        printf("%-20s %-26s %-28s %-28s %-10s %7s %-10s %-9s %s\n", "time", "id", "rcpt", "sender",
               "class", "score", "action", "delivery", "subject");
        for (size_t r = 0; r < sl_rows_count(rows); r++) {
            char t[32];
            s_time(sl_rows_int(rows, r, 2, 0), t, sizeof t);
            printf("%-20s %-26s %-28s %-28s %-10s %7s %-10s %-9s %s\n", t, sl_rows_get(rows, r, 0),
                   sl_rows_get(rows, r, 1), sluice_admin_or(sl_rows_get(rows, r, 4), "<>"),
                   sluice_admin_or(sl_rows_get(rows, r, 9), "-"),
                   sluice_admin_or(sl_rows_get(rows, r, 8), "-"),
                   sluice_admin_or(sl_rows_get(rows, r, 10), "-"),
                   sluice_admin_or(sl_rows_get(rows, r, 15), "-"),
                   sluice_admin_or(sl_rows_get(rows, r, 7), ""));
        }
    }
    sl_rows_free(&rows);
    sl_rows_free(&trail);
    sl_store_close(&store);
    sl_conf_destroy(&conf);
    return rc;
}
