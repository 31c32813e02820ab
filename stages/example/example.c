/*
 * stages/example/example.c - flags mail with a null envelope sender.
 *
 * The shape of every C stage: one scan function on top of sl_stage. It asks
 * for the envelope only, so the broker never sends it the body (unless the
 * graph's command line says --needs body, as the benchmarks do).
 * Options (after the command in sluice.yaml), for tests and benchmarks:
 *   --record FILE   append "queue-id\n" per message: counts what reached this stage
 *   --score X       add symbol EXAMPLE_SCORE with score X to every message
 *   --sleep MS      take MS milliseconds per message (holds messages in flight)
 *   --crash         abort on every message (a stage that always crashes)
 *   --crc           add field body_crc32: the CRC-32 of the body as received
 *                   (zlib's, so a test compares it with Python's zlib.crc32)
 * Tests: tests/e2e/test_pipeline.py
 */
#include "sl_stage.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int record_fd; /* -1 when not recording */
    double score;  /* EXAMPLE_SCORE, 0 = none */
    long sleep_ms; /* per message */
    int crash;     /* abort on every message */
    int crc;       /* report body_crc32 */
} example_t;

/* s_crc32 - the CRC-32 of zlib and PNG (reflected, polynomial 0xEDB88320). */
static uint32_t
s_crc32(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static int
s_init(void **ctx, sl_cfg_t *cfg, const sl_cfg_node_t *section, int argc, char **argv)
{
    (void) cfg;
    (void) section;
    example_t *ex = sl_xcalloc(1, sizeof *ex);
    ex->record_fd = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--record") == 0 && i + 1 < argc) {
            ex->record_fd = open(argv[++i], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (ex->record_fd < 0) {
                sl_log_error(NULL, "cannot open record file %s", argv[i]);
                free(ex);
                return -1;
            }
        } else if (strcmp(a, "--score") == 0 && i + 1 < argc) {
            ex->score = strtod(argv[++i], NULL);
        } else if (strcmp(a, "--sleep") == 0 && i + 1 < argc) {
            ex->sleep_ms = strtol(argv[++i], NULL, 10);
        } else if (strcmp(a, "--crash") == 0) {
            ex->crash = 1;
        } else if (strcmp(a, "--crc") == 0) {
            ex->crc = 1;
        } else {
            sl_log_error(NULL, "unknown option %s", a);
            free(ex);
            return -1;
        }
    }
    *ctx = ex;
    return 0;
}

static void
s_fini(void *ctx)
{
    example_t *ex = ctx;
    if (ex->record_fd >= 0)
        close(ex->record_fd);
    free(ex);
}

static int
s_scan(const sl_msg_t *msg, sl_verdict_t *verdict, void *ctx)
{
    example_t *ex = ctx;
    const sl_env_t *env = sl_msg_env(msg);
    if (ex->crash)
        abort();
    if (ex->sleep_ms > 0) {
        struct timespec ts = {ex->sleep_ms / 1000, (ex->sleep_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    sl_slice_t body = sl_msg_body(msg);
    sl_verdict_field_bool(verdict, "got_body", body.len > 0);
    sl_verdict_field_int(verdict, "body_bytes", (int64_t) body.len);
    if (ex->crc)
        sl_verdict_field_int(verdict, "body_crc32",
                             (int64_t) s_crc32((const unsigned char *) body.ptr, body.len));
    if (sl_env_mail_from(env)[0] == '\0' &&
        sl_verdict_symbol(verdict, "EXAMPLE_NULL_SENDER", 0.1, "bounce or DSN") != 0)
        return -1;
    if (ex->score != 0 &&
        sl_verdict_symbol(verdict, "EXAMPLE_SCORE", ex->score, "fixed score from --score") != 0)
        return -1;
    if (ex->record_fd >= 0) {
        char line[SL_ENV_ID_MAX + 2];
        int n = snprintf(line, sizeof line, "%s\n", sl_msg_id(msg));
        if (n < 0 || (size_t) n >= sizeof line || write(ex->record_fd, line, (size_t) n) != n)
            return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    static const sl_stage_def_t def = {
        .name = "example",
        .version = "example/1.0",
        .needs = SL_NEED_ENVELOPE,
        .scan = s_scan,
        .init = s_init,
        .fini = s_fini,
    };
    return sl_stage_main(argc, argv, &def);
}
