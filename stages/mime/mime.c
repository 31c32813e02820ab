/*
 * stages/mime/mime.c - the mime stage: decodes every part, hands them downstream.
 *
 * Runs mime_scan on the raw message and turns its result into the verdict:
 * one symbol per finding, the class the worst finding asks for in field
 * class_hint, counters (parts_found, depth, decoded_bytes, limit_hits), and
 * every decoded part as a frame with its metadata map (path, declared_type,
 * true_type, name, size, sha256, depth, flags) for av-a, av-b, url and score.
 * Options: stages/mime/README.md. Tests: tests/e2e/test_content.py
 */
#include "mime.h"
#include "sl_stage.h"
#include "stage_opts.h"

#include <msgpack.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MIME_MAGIC_POOL_MAX 256 /* one libmagic handle per scan thread (sl_stage's capacity max)   \
                                 */

typedef struct {
    mime_limits_t lim;
    pthread_mutex_t lock;                     /* guards the magic pool */
    mime_magic_t *magic[MIME_MAGIC_POOL_MAX]; /* idle handles */
    size_t magic_idle;                        /* entries in magic */
} mime_stage_t;

static int
s_init(void **ctx, sl_cfg_t *cfg, const sl_cfg_node_t *section, int argc, char **argv)
{
    (void) cfg;
    mime_stage_t *st = sl_xcalloc(1, sizeof *st);
    mime_limits_t *l = &st->lim;
    mime_limits_default(l);
    const stage_opt_t opts[] = {
        {"depth_max", STAGE_OPT_INT, &l->depth_max, 1, 1000},
        {"containers_max", STAGE_OPT_INT, &l->containers_max, 1, 1000000},
        {"parts_max", STAGE_OPT_INT, &l->parts_max, 1, 10000},
        {"archive_depth_max", STAGE_OPT_INT, &l->archive_depth_max, 0, 100},
        {"archive_members_max", STAGE_OPT_INT, &l->archive_members_max, 1, 10000000},
        {"decoded_max", STAGE_OPT_SIZE, &l->decoded_max, 1024, 1LL << 32},
        {"part_max", STAGE_OPT_SIZE, &l->part_max, 1024, 1LL << 31},
        {"ratio_max", STAGE_OPT_INT, &l->ratio_max, 2, 1000000},
        {"ratio_floor", STAGE_OPT_SIZE, &l->ratio_floor, 0, 1LL << 32},
        {"time_max", STAGE_OPT_DURATION, &l->time_max_ms, 10, 3600000},
        {"banned_ext", STAGE_OPT_STR, &l->banned_ext, 0, 0},
        {"banned_types", STAGE_OPT_STR, &l->banned_types, 0, 0},
        {"macros", STAGE_OPT_STR, &l->macros, 0, 0},
        {"unscannable", STAGE_OPT_STR, &l->unscannable, 0, 0},
        {"encrypted", STAGE_OPT_STR, &l->encrypted, 0, 0},
        {"bad_header_class", STAGE_OPT_BOOL, &l->bad_header_class, 0, 0},
        {"smtputf8", STAGE_OPT_BOOL, &l->smtputf8, 0, 0},
    };
    char err[4096];
    const char *why = NULL;
    if (stage_opts_read(opts, sizeof opts / sizeof opts[0], section, argc, argv, err, sizeof err) !=
        0)
        why = err;
    else if (strcmp(l->macros, "any") != 0 && strcmp(l->macros, "autorun") != 0 &&
             strcmp(l->macros, "off") != 0)
        why = "options.macros: expected any, autorun or off";
    else if (strcmp(l->unscannable, "none") != 0 && mime_class_parse(l->unscannable) == 0)
        why = "options.unscannable: expected banned, virus, oversized, bad-header or none";
    else if (strcmp(l->encrypted, "none") != 0 && mime_class_parse(l->encrypted) == 0)
        why = "options.encrypted: expected banned, virus, oversized, bad-header or none";
    if (why != NULL) {
        sl_log_error(NULL, "mime: %s", why);
        mime_limits_free(l);
        free(st);
        return -1;
    }
    mime_global_init();
    mime_magic_t *first = mime_magic_new(&why);
    if (first == NULL) {
        sl_log_error(NULL, "mime: %s", why);
        mime_limits_free(l);
        free(st);
        return -1;
    }
    pthread_mutex_init(&st->lock, NULL);
    st->magic[st->magic_idle++] = first;
    *ctx = st;
    return 0;
}

static void
s_fini(void *ctx)
{
    mime_stage_t *st = ctx;
    for (size_t i = 0; i < st->magic_idle; i++)
        mime_magic_destroy(&st->magic[i]);
    pthread_mutex_destroy(&st->lock);
    mime_limits_free(&st->lim);
    free(st);
}

/* s_magic_take - an idle libmagic handle, or a new one; NULL when none loads. */
static mime_magic_t *
s_magic_take(mime_stage_t *st)
{
    mime_magic_t *m = NULL;
    pthread_mutex_lock(&st->lock);
    if (st->magic_idle > 0)
        m = st->magic[--st->magic_idle];
    pthread_mutex_unlock(&st->lock);
    return m ? m : mime_magic_new(NULL);
}

static void
s_magic_give(mime_stage_t *st, mime_magic_t *m)
{
    pthread_mutex_lock(&st->lock);
    if (st->magic_idle < MIME_MAGIC_POOL_MAX) {
        st->magic[st->magic_idle++] = m;
        m = NULL;
    }
    pthread_mutex_unlock(&st->lock);
    mime_magic_destroy(&m);
}

static void
s_pack_kv(msgpack_packer *pk, const char *key, const char *value)
{
    msgpack_pack_str_with_body(pk, key, strlen(key));
    msgpack_pack_str_with_body(pk, value, strlen(value));
}

static void
s_pack_flag(msgpack_packer *pk, const char *key, bool on)
{
    msgpack_pack_str_with_body(pk, key, strlen(key));
    if (on)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

/* s_add_part - the part's metadata map and its data, handed downstream. */
static int
s_add_part(sl_verdict_t *v, const mime_part_t *p)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 12);
    s_pack_kv(&pk, "path", p->path);
    s_pack_kv(&pk, "declared_type", p->declared_type);
    s_pack_kv(&pk, "true_type", p->true_type);
    s_pack_kv(&pk, "name", p->name);
    msgpack_pack_str_with_body(&pk, "size", 4);
    msgpack_pack_uint64(&pk, p->size);
    s_pack_kv(&pk, "sha256", p->sha256);
    msgpack_pack_str_with_body(&pk, "depth", 5);
    msgpack_pack_int(&pk, p->depth);
    s_pack_kv(&pk, "charset", p->charset);
    s_pack_flag(&pk, "text", p->flags & MIME_PART_TEXT);
    s_pack_flag(&pk, "member", p->flags & MIME_PART_MEMBER);
    s_pack_flag(&pk, "truncated", p->flags & MIME_PART_TRUNCATED);
    s_pack_flag(&pk, "attachment", p->flags & MIME_PART_ATTACHMENT);
    int rc = sl_verdict_add_part(v, sb.data, sb.size, p->data, p->size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static int
s_scan(const sl_msg_t *msg, sl_verdict_t *verdict, void *ctx)
{
    mime_stage_t *st = ctx;
    sl_slice_t body = sl_msg_body(msg);
    mime_magic_t *magic = s_magic_take(st);
    if (magic == NULL) {
        sl_verdict_set_error(verdict, "cannot load the libmagic database");
        return -1;
    }
    mime_result_t res;
    int rc = mime_scan(body.ptr, body.len, &st->lim, magic, &res);
    s_magic_give(st, magic);
    mime_class_t worst = MIME_CLASS_NONE;
    for (size_t i = 0; rc == 0 && i < res.finding_count; i++) {
        const mime_finding_t *f = &res.findings[i];
        if (f->class_hint > worst)
            worst = f->class_hint;
        rc = sl_verdict_symbol(verdict, f->symbol, f->score, f->info);
    }
    for (size_t i = 0; rc == 0 && i < res.part_count; i++)
        rc = s_add_part(verdict, &res.parts[i]);
    if (rc == 0 && worst != MIME_CLASS_NONE)
        rc = sl_verdict_field_str(verdict, "class_hint", mime_class_name(worst));
    if (rc == 0)
        rc = sl_verdict_field_int(verdict, "parts_found", (int64_t) res.part_count) |
             sl_verdict_field_int(verdict, "depth", res.depth_seen) |
             sl_verdict_field_int(verdict, "decoded_bytes", (int64_t) res.decoded) |
             sl_verdict_field_int(verdict, "archive_members", (int64_t) res.members) |
             sl_verdict_field_int(verdict, "limit_hits", res.limit_hits);
    if (res.limit_hits > 0)
        sl_log_info(sl_msg_id(msg), "mime limit hits=%u parts=%zu", res.limit_hits, res.part_count);
    mime_result_free(&res);
    return rc == 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
    static const sl_stage_def_t def = {
        .name = "mime",
        .version = "mime/1.0",
        .needs = SL_NEED_BODY,
        .scan = s_scan,
        .init = s_init,
        .fini = s_fini,
    };
    return sl_stage_main(argc, argv, &def);
}
