/*
 * supervisor/sluice_cmds.c - `sluice status`, `sluice submit`, `sluice check-config`.
 *
 * submit is the way to test the pipeline without SMTP: one raw message in,
 * the final envelope (every verdict, score, classification, actions) out as
 * JSON. Exit codes: 0 ok, 75 busy or tempfail (try again), 1 error.
 * Tests: tests/e2e/test_pipeline.py, tests/e2e/test_cli.py
 */
#include "sl_client.h"
#include "sl_conf.h"
#include "sl_log.h"
#include "sluice.h"
#ifdef SLUICE_HAVE_QUARANTINE
#include "sluice_quarantine.h"
#endif

#include <errno.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define S_SUBMIT_BYTES_MAX (256u << 20)

static int
s_has_flag(int argc, char **argv, const char *flag)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            return 1;
    return 0;
}

static sl_conf_t *
s_load(int argc, char **argv)
{
    char err[16384];
    sl_conf_t *conf = sl_conf_load(sluice_opt_config(argc, argv), err, sizeof err);
    if (conf == NULL)
        fprintf(stderr, "%s\n", err);
    return conf;
}

int
sluice_check_config_main(int argc, char **argv)
{
    const char *path = sluice_opt_config(argc, argv);
    bool stages = true;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-stages") == 0)
            stages = false;
        else if (path == NULL && argv[i][0] != '-')
            path = argv[i];
    }
    if (path == NULL) {
        fprintf(stderr, "usage: sluice check-config [--no-stages] FILE\n");
        return 2;
    }
    char err[65536];
    sl_conf_t *conf = sl_conf_load(path, err, sizeof err);
    if (conf == NULL) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
#ifdef SLUICE_HAVE_QUARANTINE
    if (sluice_quarantine_check(conf) != 0) { /* the quarantine: section's own keys */
        sl_conf_destroy(&conf);
        return 1;
    }
#endif
    /* each stage's own options: its set-up run once (--check) */
    if (stages && sluice_check_stages(conf, path) != 0) {
        fprintf(stderr, "%s: stage options are wrong (see above)\n", path);
        sl_conf_destroy(&conf);
        return 1;
    }
    size_t workers = 0;
    for (size_t i = 0; i < conf->stage_count; i++)
        workers += (size_t) conf->stages[i].workers;
    printf("%s: ok (%zu stages, %zu worker processes, %zu graphs)\n", path, conf->stage_count,
           workers, conf->graph_count);
    sl_conf_destroy(&conf);
    return 0;
}

/* s_mp_get - value of KEY in msgpack map M, or NULL. */
static const msgpack_object *
s_mp_get(const msgpack_object *m, const char *key)
{
    if (m->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t klen = strlen(key);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
            memcmp(k->via.str.ptr, key, klen) == 0)
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

static unsigned long long
s_mp_uint(const msgpack_object *m, const char *key)
{
    const msgpack_object *v = s_mp_get(m, key);
    return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (unsigned long long) v->via.u64 : 0;
}

int
sluice_status_main(int argc, char **argv)
{
    sl_conf_t *conf = s_load(argc, argv);
    if (conf == NULL)
        return 1;
    sl_client_t *client = sl_client_new(conf->broker.frontend);
    size_t len = 0;
    void *raw = client ? sl_client_status_raw(client, 3000, &len) : NULL;
    int rc = 0;
    if (raw == NULL) {
        fprintf(stderr, "sluice: the broker at %s does not answer (is `sluice start` running?)\n",
                conf->broker.frontend);
        rc = 1;
    } else if (s_has_flag(argc, argv, "--json")) {
        char *json = sl_json_from_msgpack(raw, len);
        printf("%s\n", json ? json : "{}");
        free(json);
    } else {
        msgpack_unpacked up;
        msgpack_unpacked_init(&up);
        if (msgpack_unpack_next(&up, raw, len, NULL) == MSGPACK_UNPACK_SUCCESS) {
            const msgpack_object *root = &up.data;
            printf("messages in the broker: %llu (max %llu); bodies handed over by file "
                   "since start: %llu\n", s_mp_uint(root, "messages"),
                   s_mp_uint(root, "max_messages"), s_mp_uint(root, "body_files"));
            printf("%-16s %7s %8s %9s %7s %10s %7s %8s %7s %8s\n", "stage", "workers",
                   "capacity", "in_flight", "queued", "done", "errors", "timeouts", "crashes",
                   "avg_ms");
            const msgpack_object *stages = s_mp_get(root, "stages");
            for (uint32_t i = 0; stages && stages->type == MSGPACK_OBJECT_ARRAY &&
                                 i < stages->via.array.size;
                 i++) {
                const msgpack_object *s = &stages->via.array.ptr[i];
                const msgpack_object *nm = s_mp_get(s, "name");
                const msgpack_object *ms = s_mp_get(s, "ms_total");
                unsigned long long done = s_mp_uint(s, "done");
                double avg = ms && ms->type == MSGPACK_OBJECT_FLOAT64 && done ? ms->via.f64 / (double) done : 0;
                printf("%-16.*s %7llu %8llu %9llu %7llu %10llu %7llu %8llu %7llu %8.2f\n",
                       nm && nm->type == MSGPACK_OBJECT_STR ? (int) nm->via.str.size : 1,
                       nm && nm->type == MSGPACK_OBJECT_STR ? nm->via.str.ptr : "?",
                       s_mp_uint(s, "workers"), s_mp_uint(s, "capacity"),
                       s_mp_uint(s, "in_flight"), s_mp_uint(s, "queued"), done,
                       s_mp_uint(s, "errors"), s_mp_uint(s, "timeouts"), s_mp_uint(s, "crashes"),
                       avg);
            }
            /* Counters the stages declare (detections, limit hits...), one line per stage. */
            for (uint32_t i = 0; stages && stages->type == MSGPACK_OBJECT_ARRAY &&
                                 i < stages->via.array.size;
                 i++) {
                const msgpack_object *s = &stages->via.array.ptr[i];
                const msgpack_object *nm = s_mp_get(s, "name");
                const msgpack_object *cs = s_mp_get(s, "counters");
                if (cs == NULL || cs->type != MSGPACK_OBJECT_MAP || cs->via.map.size == 0 ||
                    nm == NULL || nm->type != MSGPACK_OBJECT_STR)
                    continue;
                printf("%.*s:", (int) nm->via.str.size, nm->via.str.ptr);
                for (uint32_t k = 0; k < cs->via.map.size; k++) {
                    const msgpack_object *key = &cs->via.map.ptr[k].key;
                    const msgpack_object *val = &cs->via.map.ptr[k].val;
                    if (key->type == MSGPACK_OBJECT_STR && val->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                        printf(" %.*s=%llu", (int) key->via.str.size, key->via.str.ptr,
                               (unsigned long long) val->via.u64);
                }
                printf("\n");
            }
        }
        msgpack_unpacked_destroy(&up);
    }
    free(raw);
    sl_client_destroy(&client);
    sl_conf_destroy(&conf);
    return rc;
}

static char *
s_read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = sl_xmalloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap >= S_SUBMIT_BYTES_MAX) {
                free(buf);
                buf = NULL;
                errno = EFBIG;
                break;
            }
            cap *= 2;
            buf = sl_xrealloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0)
            break;
        n += got;
    }
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

/* s_header_addr - first address in header NAME of the message's header block
 * ("<a@b>" or a bare a@b), copied into OUT; "" when none. Bounded scan. */
static void
s_header_addr(const char *msg, size_t len, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    size_t nlen = strlen(name), i = 0;
    while (i < len) {
        size_t eol = i;
        while (eol < len && msg[eol] != '\n')
            eol++;
        size_t line_len = eol - i;
        if (line_len == 0 || (line_len == 1 && msg[i] == '\r'))
            return; /* end of the header block */
        if (line_len > nlen && strncasecmp(msg + i, name, nlen) == 0 && msg[i + nlen] == ':') {
            const char *p = msg + i + nlen + 1, *end = msg + eol;
            const char *lt = memchr(p, '<', (size_t) (end - p));
            const char *start = lt ? lt + 1 : p, *stop = start;
            while (start < end && (*start == ' ' || *start == '\t'))
                start++;
            stop = start;
            while (stop < end && *stop != '>' && *stop != ' ' && *stop != ',' && *stop != '\r')
                stop++;
            size_t n = (size_t) (stop - start);
            if (n > 0 && n < size && memchr(start, '@', n)) {
                memcpy(out, start, n);
                out[n] = '\0';
            }
            return;
        }
        i = eol + 1;
    }
}

int
sluice_submit_main(int argc, char **argv)
{
    const char *file = NULL, *from = NULL, *graph = "default", *phase = "content";
    const char *tos[SL_ENV_RCPTS_MAX];
    size_t nto = 0;
    long timeout_s = 120;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && has)
            i++;
        else if (strcmp(a, "--from") == 0 && has)
            from = argv[++i];
        else if (strcmp(a, "--to") == 0 && has && nto < SL_ENV_RCPTS_MAX)
            tos[nto++] = argv[++i];
        else if (strcmp(a, "--graph") == 0 && has)
            graph = argv[++i];
        else if (strcmp(a, "--phase") == 0 && has)
            phase = argv[++i];
        else if (strcmp(a, "--timeout") == 0 && has)
            timeout_s = strtol(argv[++i], NULL, 10);
        else if (a[0] != '-' || strcmp(a, "-") == 0)
            file = a;
        else {
            fprintf(stderr, "sluice submit: unknown option %s\n", a);
            return 2;
        }
    }
    if (file == NULL) {
        fprintf(stderr, "usage: sluice submit -c FILE MESSAGE.eml [--from A] [--to B]... "
                        "[--graph G] [--phase P] [--timeout S]\n");
        return 2;
    }
    sl_conf_t *conf = s_load(argc, argv);
    if (conf == NULL)
        return 1;
    size_t len = 0;
    char *body = s_read_file(file, &len);
    if (body == NULL) {
        fprintf(stderr, "sluice submit: cannot read %s: %s\n", file, strerror(errno));
        sl_conf_destroy(&conf);
        return 1;
    }
    char id[32], hdr_from[SL_ENV_ADDR_MAX], hdr_to[SL_ENV_ADDR_MAX];
    sl_env_new_id(id, sizeof id);
    sl_env_t *env = sl_env_new(id);
    const char *why = NULL;
    if (from == NULL) {
        s_header_addr(body, len, "From", hdr_from, sizeof hdr_from);
        from = hdr_from;
    }
    if (nto == 0) {
        s_header_addr(body, len, "To", hdr_to, sizeof hdr_to);
        tos[nto++] = hdr_to[0] ? hdr_to : "postmaster@localhost";
    }
    int bad = sl_env_set_str(env, SL_ENV_MAIL_FROM, from, &why);
    for (size_t i = 0; i < nto && bad == 0; i++)
        bad = sl_env_add_rcpt(env, tos[i], &why);
    if (bad == 0)
        bad = sl_env_set_str(env, SL_ENV_CLIENT_IP, "127.0.0.1", &why);
    if (bad) {
        fprintf(stderr, "sluice submit: %s\n", why ? why : "bad envelope value");
        free(body);
        sl_env_destroy(&env);
        sl_conf_destroy(&conf);
        return 2;
    }
    sl_env_set_str(env, SL_ENV_HELO, "sluice-submit", NULL);
    sl_env_set_uint(env, SL_ENV_RECEIVED_AT, sl_now_ms());
    sl_env_set_uint(env, SL_ENV_SIZE, len);

    int rc = 1;
    sl_client_t *client = sl_client_new(conf->broker.frontend);
    uint64_t req = client ? sl_client_submit(client, graph, phase, env, body, len, 1) : 0;
    body = NULL; /* the client took it */
    sl_result_t res;
    int got = 0;
    uint64_t deadline = sl_mono_ms() + (uint64_t) timeout_s * 1000u;
    while (req && sl_mono_ms() < deadline) {
        got = sl_client_recv(client, 500, &res);
        if (got == 1 && res.req == req)
            break;
        if (got == 1)
            sl_result_clear(&res);
        got = 0;
    }
    if (req == 0 || got != 1) {
        fprintf(stderr, "sluice submit: no answer from the broker at %s within %lds\n",
                conf->broker.frontend, timeout_s);
    } else {
        if (res.env) {
            char *json = sl_env_to_json(res.env);
            printf("%s\n", json);
            free(json);
        }
        if (res.status != SL_RESULT_OK)
            fprintf(stderr, "sluice submit: %s: %s\n", sl_result_status_name(res.status),
                    res.why);
        rc = res.status == SL_RESULT_OK ? 0 : res.status == SL_RESULT_ERROR ? 1 : 75;
        sl_result_clear(&res);
    }
    sl_env_destroy(&env);
    sl_client_destroy(&client);
    sl_conf_destroy(&conf);
    return rc;
}
