/*
 * bench/bench_pipeline.c - sluice-bench-pipeline: load generator for a running gateway.
 *
 *   sluice-bench-pipeline --endpoint EP --size BYTES --count N --window W
 *                         [--graph G] [--seconds MAX] [--warmup N]
 *                         [--files LIST [--by-file [--by-file-min BYTES]] | --body-file PATH]
 *
 * Submits N messages of BYTES (one realistic RFC 5322 message padded to size,
 * a fresh envelope and queue id each) through phase "content" of graph G with
 * W in flight, over lib/sl_client.h exactly as smtpd does, and times each
 * request->result. Prints one line:
 *   msgs=N seconds=S msgs_per_s=X MB_per_s=Y p50_us=A p99_us=B errors=E body_hops=H
 * body_hops is the mean number of stages per message whose verdict says it
 * received the body (the example stage records got_body): it shows which
 * stages the broker sent the body to. Any result but "ok" is an error.
 * With --files LIST (one path a line) the messages are those files, in turn,
 * instead of the generated one (bench/content.sh: the same bytes as clamd and
 * yara get); MB/s then uses their mean size. With --by-file the files are not
 * read: each SUBMIT names the file instead of carrying it (sl_client_submit_file,
 * as smtpd hands over its spool file on one host), except files under
 * --by-file-min bytes (default 16384, smtpd's broker.body_file_min), which go
 * as bytes as smtpd sends them. --body-file PATH does the same for the
 * generated message: written once to PATH, then named by every SUBMIT (when
 * at least --by-file-min bytes).
 * Run by bench/pipeline.sh; see bench/README.md.
 */
#include "bench_common.h"
#include "sl_client.h"
#include "sl_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_FILES_MAX 200000           /* --files: messages read */
#define S_FILES_BYTES (2048ul << 20) /* --files: bytes read in all */

typedef struct {
    sl_client_t *client;
    const char *graph;      /* NULL = default */
    const char *body;       /* the message, sent by copy as smtpd sends a spooled file */
    size_t body_len;        /* its length */
    const char *files;      /* --files LIST, or NULL */
    char **file_data;       /* the files' bytes, or (--by-file, at least by_file_min
                             * bytes) their absolute paths */
    int by_file;            /* --by-file: submit file references */
    size_t by_file_min;     /* --by-file-min: smaller files go as bytes (smtpd's rule) */
    const char *body_file;  /* --body-file: the generated message is written here */
    char *body_path;        /* its absolute path once written, or NULL */
    size_t *file_len;       /* their lengths */
    size_t file_count;      /* entries */
    size_t next;            /* the file sent next */
    unsigned long got_body; /* verdicts that say the stage received the body */
    unsigned long results;  /* ok results inspected */
} pipeline_t;

static uint64_t
s_send(void *ctx)
{
    pipeline_t *p = ctx;
    char id[32];
    const char *why = NULL;
    sl_env_new_id(id, sizeof id);
    sl_env_t *env = sl_env_new(id);
    if (env == NULL || sl_env_set_str(env, SL_ENV_CLIENT_IP, "192.0.2.7", &why) != 0 ||
        sl_env_set_str(env, SL_ENV_HELO, "mail.example.net", &why) != 0 ||
        sl_env_set_str(env, SL_ENV_MAIL_FROM, "alice@example.net", &why) != 0 ||
        sl_env_add_rcpt(env, "bob@example.com", &why) != 0) {
        fprintf(stderr, "cannot build the envelope: %s\n", why ? why : "bad queue id");
        exit(1);
    }
    sl_env_set_uint(env, SL_ENV_CLIENT_PORT, 40000);
    sl_env_set_uint(env, SL_ENV_RECEIVED_AT, (uint64_t) time(NULL) * 1000);
    const char *body = p->body;
    size_t len = p->body_len;
    if (p->file_count > 0) {
        body = p->file_data[p->next];
        len = p->file_len[p->next];
        p->next = (p->next + 1) % p->file_count;
    }
    sl_env_set_uint(env, SL_ENV_SIZE, len);
    uint64_t req;
    const char *path = p->file_count > 0 && p->by_file ? body : p->body_path;
    if (path && len >= p->by_file_min) {
        sl_bodyfile_ref_t ref = {.offset = 0, .length = len};
        snprintf(ref.path, sizeof ref.path, "%s", path);
        req = sl_client_submit_file(p->client, p->graph, "content", env, &ref);
    } else {
        req = sl_client_submit(p->client, p->graph, "content", env, body, len, 0);
    }
    sl_env_destroy(&env);
    return req;
}

/* s_count_bodies - verdicts of ENV whose got_body field is msgpack true (0xc3). */
static unsigned long
s_count_bodies(const sl_env_t *env)
{
    unsigned long n = 0;
    for (size_t i = 0; i < sl_env_verdict_count(env); i++) {
        sl_slice_t f = sl_verdict_field(sl_env_verdict_at(env, i), "got_body");
        if (f.len == 1 && (unsigned char) f.ptr[0] == 0xc3)
            n++;
    }
    return n;
}

static int
s_recv(void *ctx, int timeout_ms, uint64_t *req, int *ok)
{
    pipeline_t *p = ctx;
    sl_result_t res;
    int rc = sl_client_recv(p->client, timeout_ms, &res);
    if (rc <= 0)
        return rc;
    *req = res.req;
    *ok = res.status == SL_RESULT_OK;
    if (*ok) {
        p->got_body += s_count_bodies(res.env);
        p->results++;
    } else if (p->results == 0 || res.status != SL_RESULT_BUSY) {
        fprintf(stderr, "result %s: %s\n", sl_result_status_name(res.status), res.why);
    }
    sl_result_clear(&res);
    return 1;
}

static void
s_usage(void)
{
    fprintf(stderr, "usage: sluice-bench-pipeline --endpoint EP --size BYTES --count N "
                    "--window W [--graph G] [--seconds MAX] [--warmup N] "
                    "[--files LIST [--by-file [--by-file-min BYTES]] | --body-file PATH]\n");
}

static int
s_extra_opt(int argc, char **argv, int *i, void *ctx)
{
    pipeline_t *p = ctx;
    if (strcmp(argv[*i], "--by-file") == 0) {
        p->by_file = 1;
        return 0;
    }
    if (strcmp(argv[*i], "--body-file") == 0 && *i + 1 < argc) {
        p->body_file = argv[++*i];
        return 0;
    }
    if (strcmp(argv[*i], "--by-file-min") == 0 && *i + 1 < argc) {
        p->by_file_min = strtoul(argv[++*i], NULL, 10);
        return 0;
    }
    if (strcmp(argv[*i], "--files") != 0 || *i + 1 >= argc)
        return -1;
    p->files = argv[++*i];
    return 0;
}

/* s_write_body - the generated message into --body-file, for SUBMITs that name it. */
static int
s_write_body(pipeline_t *p)
{
    FILE *f = fopen(p->body_file, "wb");
    if (f == NULL || fwrite(p->body, 1, p->body_len, f) != p->body_len || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", p->body_file);
        return -1;
    }
    p->body_path = realpath(p->body_file, NULL);
    return p->body_path ? 0 : -1;
}

/* s_load_files - the files LIST names, into P; their mean size, or 0 on error. */
static size_t
s_load_files(pipeline_t *p)
{
    FILE *f = fopen(p->files, "r");
    if (f == NULL) {
        fprintf(stderr, "cannot read %s\n", p->files);
        return 0;
    }
    p->file_data = calloc(S_FILES_MAX, sizeof *p->file_data);
    p->file_len = calloc(S_FILES_MAX, sizeof *p->file_len);
    char path[4096];
    size_t total = 0;
    while (p->file_data && p->file_len && p->file_count < S_FILES_MAX &&
           fgets(path, sizeof path, f) != NULL) {
        path[strcspn(path, "\n")] = '\0';
        FILE *m = path[0] ? fopen(path, "rb") : NULL;
        if (m == NULL)
            continue;
        fseek(m, 0, SEEK_END);
        long n = ftell(m);
        rewind(m);
        char *abs = p->by_file && n > 0 && (size_t) n >= p->by_file_min ? realpath(path, NULL)
                                                                           : NULL;
        if (abs) {
            p->file_data[p->file_count] = abs;
            p->file_len[p->file_count++] = (size_t) n;
            total += (size_t) n;
        } else if (n > 0 && total + (size_t) n <= S_FILES_BYTES) {
            char *buf = malloc((size_t) n);
            if (buf && fread(buf, 1, (size_t) n, m) == (size_t) n) {
                p->file_data[p->file_count] = buf;
                p->file_len[p->file_count++] = (size_t) n;
                total += (size_t) n;
            } else {
                free(buf);
            }
        }
        fclose(m);
    }
    fclose(f);
    return p->file_count ? total / p->file_count : 0;
}

int
main(int argc, char **argv)
{
    bench_opts_t o = {.size = 5000, .count = 1000, .window = 1};
    pipeline_t p = {.by_file_min = 16384};
    if (bench_opts_parse(argc, argv, &o, s_extra_opt, &p) != 0 || o.endpoint == NULL) {
        s_usage();
        return 2;
    }
    sl_log_open("sluice-bench-pipeline", SL_LOG_WARN);
    p.graph = o.graph;
    size_t mean = p.files ? s_load_files(&p) : 0;
    if (p.files && mean == 0) {
        fprintf(stderr, "no readable message in %s\n", p.files);
        return 2;
    }
    p.client = sl_client_new(o.endpoint);
    if (p.client == NULL)
        return 1;
    char *body = bench_message(o.size, &p.body_len);
    p.body = body;
    if (p.body_file && s_write_body(&p) != 0)
        return 2;
    bench_driver_t d = {.send = s_send, .recv = s_recv, .ctx = &p};
    bench_samples_t s = {0};
    unsigned long errors = 0;
    double seconds = 0;
    int rc = bench_run(&o, &d, &s, &errors, &seconds);
    char extra[64];
    snprintf(extra, sizeof extra, "body_hops=%.2f",
             p.results ? (double) p.got_body / (double) p.results : 0.0);
    bench_report(&s, p.files ? mean : p.body_len, seconds, errors, extra);
    bench_samples_free(&s);
    free(body);
    free(p.body_path);
    for (size_t i = 0; i < p.file_count; i++)
        free(p.file_data[i]);
    free(p.file_data);
    free(p.file_len);
    sl_client_destroy(&p.client);
    return rc == 0 && errors == 0 ? 0 : 1;
}
