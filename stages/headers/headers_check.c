/*
 * stages/headers/headers_check.c - sluice-headers-check: the headers stage's
 * checks on message files, without the pipeline.
 *
 * For operators ("why did this message fail DMARC?"), for the conformance
 * drivers (tests/spf, tests/dkim) and for bench/bench_headers.sh. It runs the
 * very code the stage runs (headers_run, headers_verdict) and prints the
 * stage's verdict as one JSON line per message.
 *
 *   sluice-headers-check [--dns IP@PORT] [--unblock-zone ZONE]... [--timeout MS]
 *       [-c sluice.yaml] [--ip IP] [--helo NAME] [--from SENDER] [--auth USER] [--outbound]
 *       [--id ID] [--time UNIX] [--set KEY=VALUE]... [--repeat N] FILE...
 *   sluice-headers-check --spf-lines [--dns ...]   (stdin: "IP<TAB>HELO<TAB>SENDER"
 *       per line; stdout: "RESULT<TAB>COMMENT" per line)
 * Tests: tests/spf/run_suite.py, tests/dkim/compare.py, tests/e2e/test_headers.py
 */
#include "headers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_SETS_MAX 64          /* --set options */
#define S_ZONES_MAX 32         /* --unblock-zone options (sl_dns_unblock_zone) */
#define S_MESSAGE_MAX (64u << 20) /* message file size, as the broker's default max_frame */

typedef struct {
    const char *ip, *helo, *from, *auth, *id; /* the envelope to pretend */
    bool outbound;                            /* direction out */
    int64_t time_s;                           /* arrival; 0 = now */
    long repeat;                              /* bench: runs over the files, no output */
} s_args_t;

static void
s_usage(void)
{
    fprintf(stderr,
            "usage: sluice-headers-check [--dns IP@PORT] [--unblock-zone ZONE]... [--timeout MS]\n"
            "       [-c sluice.yaml] [--ip IP] [--helo NAME] [--from SENDER] [--auth USER] [--outbound]\n"
            "       [--id ID] [--time UNIX] [--set KEY=VALUE]... [--repeat N] FILE...\n"
            "   or: sluice-headers-check --spf-lines [--dns IP@PORT] < lines\n");
}

static char *
s_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = sl_xmalloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            if (cap >= S_MESSAGE_MAX) {
                fclose(f);
                free(buf);
                errno = EFBIG;
                return NULL;
            }
            cap *= 2;
            buf = sl_xrealloc(buf, cap);
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

/* s_spf_lines - the SPF conformance driver's mode: one check per stdin line. */
static int
s_spf_lines(const headers_resolver_t *resolver)
{
    char line[2048];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *f[3] = {line, "", ""};
        for (int i = 1; i < 3; i++) {
            char *tab = strchr(f[i - 1], '\t');
            if (tab == NULL)
                break;
            *tab = '\0';
            f[i] = tab + 1;
        }
        char comment[HEADERS_TEXT_MAX];
        headers_spf_result_t r = headers_spf_check(resolver, f[0], f[1], f[2], "receiver.example",
                                                   comment, sizeof comment);
        for (char *c = comment; *c; c++) /* one printable line, whatever DNS said */
            if ((unsigned char) *c < 0x20 || (unsigned char) *c > 0x7e)
                *c = '?';
        printf("%s\t%s\n", headers_spf_name(r), comment);
        fflush(stdout);
    }
    return 0;
}

static int
s_check_file(const headers_ctx_t *ctx, const s_args_t *a, const char *path, bool print)
{
    size_t len = 0;
    char *body = s_read_file(path, &len);
    if (body == NULL) {
        fprintf(stderr, "sluice-headers-check: %s: %s\n", path, strerror(errno));
        return -1;
    }
    headers_input_t in = {
        .id = a->id, .client_ip = a->ip, .helo = a->helo, .mail_from = a->from,
        .auth_user = a->auth, .inbound = !a->outbound,
        .received_s = a->time_s ? a->time_s : (int64_t) time(NULL),
        .message = {.ptr = body, .len = len},
    };
    headers_report_t *report = sl_xmalloc(sizeof *report);
    sl_verdict_t *verdict = sl_verdict_new("headers");
    int rc = headers_run(ctx, &in, report);
    if (rc == 0)
        rc = headers_verdict(ctx, &in, report, verdict);
    if (rc == 0 && print) {
        size_t n = 0;
        void *mp = sl_verdict_encode(verdict, &n);
        char *json = sl_json_from_msgpack(mp, n);
        printf("{\"file\": \"");
        for (const char *p = path; *p; p++) {
            if (*p == '"' || *p == '\\')
                putchar('\\');
            putchar((unsigned char) *p < 0x20 ? '?' : *p);
        }
        printf("\", \"verdict\": %s}\n", json ? json : "null");
        free(json);
        free(mp);
    }
    sl_verdict_destroy(&verdict);
    free(report);
    free(body);
    return rc;
}

int
main(int argc, char **argv)
{
    s_args_t a = {.ip = "", .helo = "", .from = "", .auth = "", .id = "check"};
    const char *forward = NULL, *config = NULL;
    long timeout_ms = 2000;
    bool spf_lines = false;
    char *sets[2 * S_SETS_MAX + 1] = {argv[0]};
    int nsets = 1, first_file = argc;
    const char *zones[S_ZONES_MAX];
    size_t nzones = 0;
    sl_log_open("sluice-headers-check", SL_LOG_WARN);
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        bool v = i + 1 < argc;
        if (strcmp(o, "--dns") == 0 && v)
            forward = argv[++i];
        else if (strcmp(o, "--unblock-zone") == 0 && v && nzones < S_ZONES_MAX)
            zones[nzones++] = argv[++i];
        else if (strcmp(o, "--timeout") == 0 && v)
            timeout_ms = strtol(argv[++i], NULL, 10);
        else if (strcmp(o, "-c") == 0 && v)
            config = argv[++i];
        else if (strcmp(o, "--ip") == 0 && v)
            a.ip = argv[++i];
        else if (strcmp(o, "--helo") == 0 && v)
            a.helo = argv[++i];
        else if (strcmp(o, "--from") == 0 && v)
            a.from = argv[++i];
        else if (strcmp(o, "--auth") == 0 && v)
            a.auth = argv[++i];
        else if (strcmp(o, "--id") == 0 && v)
            a.id = argv[++i];
        else if (strcmp(o, "--time") == 0 && v)
            a.time_s = strtoll(argv[++i], NULL, 10);
        else if (strcmp(o, "--repeat") == 0 && v)
            a.repeat = strtol(argv[++i], NULL, 10);
        else if (strcmp(o, "--outbound") == 0)
            a.outbound = true;
        else if (strcmp(o, "--spf-lines") == 0)
            spf_lines = true;
        else if (strcmp(o, "--set") == 0 && v && strchr(argv[i + 1], '=') && nsets < 2 * S_SETS_MAX) {
            char *kv = argv[++i], *eq = strchr(kv, '=');
            *eq = '\0';
            size_t n = strlen(kv) + 3;
            char *key = sl_xmalloc(n);
            snprintf(key, n, "--%s", kv);
            sets[nsets++] = key;
            sets[nsets++] = eq + 1;
        } else if (o[0] == '-' && o[1] != '\0') {
            s_usage();
            return 2;
        } else {
            first_file = i;
            break;
        }
    }
    char err[512];
    sl_cfg_t *cfg = config ? sl_cfg_load(config, err, sizeof err) : NULL;
    if (config && cfg == NULL) {
        fprintf(stderr, "sluice-headers-check: %s\n", err);
        return 2;
    }
    sl_dns_t *dns = forward ? sl_dns_new_forward(forward, (int) timeout_ms, err, sizeof err)
                            : sl_dns_new(cfg, cfg ? sl_cfg_get(sl_cfg_root(cfg), "dns") : NULL,
                                         err, sizeof err);
    for (size_t z = 0; dns && z < nzones; z++)
        if (sl_dns_unblock_zone(dns, zones[z], err, sizeof err) != 0)
            sl_dns_destroy(&dns);
    if (dns == NULL) {
        fprintf(stderr, "sluice-headers-check: dns: %s\n", err);
        return 2;
    }
    headers_resolver_t resolver = headers_dns_resolver(dns);
    int rc = 0;
    if (spf_lines) {
        headers_spf_init();
        rc = s_spf_lines(&resolver);
    } else {
        sl_cfg_t *opts = nsets > 1 ? headers_options_from_args(nsets, sets, err, sizeof err)
                                   : sl_cfg_parse("{}", 2, "(defaults)", err, sizeof err);
        const char *why = err;
        headers_ctx_t *ctx = opts ? headers_ctx_new(opts, sl_cfg_root(opts), &resolver, &why) : NULL;
        if (ctx == NULL || sl_cfg_error_count(opts) > 0) {
            fprintf(stderr, "sluice-headers-check: %s\n", ctx ? sl_cfg_errors(opts) : why);
            rc = 2;
        }
        uint64_t t0 = sl_mono_us();
        size_t done = 0;
        for (long r = 0; rc == 0 && r < (a.repeat > 0 ? a.repeat : 1); r++)
            for (int i = first_file; rc == 0 && i < argc; i++, done++)
                rc = s_check_file(ctx, &a, argv[i], a.repeat <= 0) ? 1 : 0;
        double s = (double) (sl_mono_us() - t0) / 1e6;
        if (a.repeat > 0 && rc == 0)
            printf("messages=%zu seconds=%.3f per_second=%.1f\n", done, s, s > 0 ? done / s : 0);
        headers_ctx_destroy(&ctx);
        sl_cfg_destroy(&opts);
    }
    for (int i = 1; i < nsets; i += 2)
        free(sets[i]);
    sl_dns_destroy(&dns);
    sl_cfg_destroy(&cfg);
    return rc;
}
