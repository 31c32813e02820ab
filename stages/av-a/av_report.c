/*
 * stages/av-a/av_report.c - what an anti-virus stage scans and how it reports.
 * Tests: tests/e2e/test_content.py
 */
#include "av_report.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t
av_targets(const sl_msg_t *msg, bool scan_raw, av_target_t **out)
{
    const sl_env_t *env = sl_msg_env(msg);
    size_t parts = sl_msg_part_count(msg);
    if (sl_env_part_count(env) < parts)
        parts = sl_env_part_count(env);
    *out = sl_xcalloc(parts + 1, sizeof **out);
    size_t n = 0;
    sl_slice_t body = sl_msg_body(msg);
    if (scan_raw && body.len > 0)
        (*out)[n++] = (av_target_t){.path = "(message)", .data = body};
    for (size_t i = 0; i < parts; i++)
        (*out)[n++] = (av_target_t){.path = sl_env_part_path(env, i), .data = sl_msg_part(msg, i)};
    return n;
}

void
av_report_hit(av_report_t *r, const char *name, const char *path)
{
    r->detections++;
    if (r->hit_count < AV_REPORT_HITS_MAX)
        r->hits[r->hit_count++] = (av_hit_t){sl_xstrdup(name), sl_xstrdup(path)};
}

void
av_report_unscannable(av_report_t *r, const char *path, const char *why)
{
    r->limit_hits++;
    if (r->unscannable == NULL) {
        char text[512];
        snprintf(text, sizeof text, "%s: %s", path, why);
        r->unscannable = sl_xstrdup(text);
    }
}

static void
s_pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

int
av_report_verdict(const av_report_t *r, sl_verdict_t *v, const char *unscannable_class)
{
    char info[SL_ENV_STR_MAX];
    int rc = 0;
    if (r->detections > 0) {
        size_t used = 0;
        info[0] = '\0';
        for (size_t i = 0; i < r->hit_count && used < sizeof info - 1; i++) {
            int n = snprintf(info + used, sizeof info - used, "%s%s in %s", i ? "; " : "",
                             r->hits[i].name, r->hits[i].path);
            if (n < 0)
                break;
            used += (size_t) n;
        }
        if (used >= sizeof info)
            memcpy(info + sizeof info - 4, "...", 4); /* cut, and says so */
        rc |= sl_verdict_symbol(v, r->hit_symbol, 10.0, info);
        rc |= sl_verdict_field_str(v, "class_hint", "virus");
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, r->hit_count);
        for (size_t i = 0; i < r->hit_count; i++) {
            msgpack_pack_map(&pk, 3);
            s_pack_str(&pk, "engine");
            s_pack_str(&pk, r->engine);
            s_pack_str(&pk, "name");
            s_pack_str(&pk, r->hits[i].name);
            s_pack_str(&pk, "part");
            s_pack_str(&pk, r->hits[i].path);
        }
        rc |= sl_verdict_field_raw(v, "viruses", sb.data, sb.size);
        msgpack_sbuffer_destroy(&sb);
    }
    if (r->unscannable != NULL) {
        rc |= sl_verdict_symbol(v, r->unscannable_symbol, 5.0, r->unscannable);
        if (r->detections == 0 && unscannable_class[0] != '\0')
            rc |= sl_verdict_field_str(v, "class_hint", unscannable_class);
    }
    rc |= sl_verdict_field_str(v, "engine", r->engine);
    rc |= sl_verdict_field_int(v, "detections", (int64_t) r->detections);
    rc |= sl_verdict_field_int(v, "objects", (int64_t) r->objects);
    rc |= sl_verdict_field_int(v, "bytes", (int64_t) r->bytes);
    rc |= sl_verdict_field_int(v, "limit_hits", (int64_t) r->limit_hits);
    rc |= sl_verdict_field_int(v, "timeouts", (int64_t) r->timeouts);
    rc |= sl_verdict_field_double(v, "scan_ms", r->scan_ms);
    return rc == 0 ? 0 : -1;
}

void
av_report_free(av_report_t *r)
{
    for (size_t i = 0; i < r->hit_count; i++) {
        free(r->hits[i].name);
        free(r->hits[i].path);
    }
    free(r->unscannable);
    r->hit_count = 0;
    r->unscannable = NULL;
}

int
av_report_finish(av_report_t *r, sl_verdict_t *v, const sl_msg_t *msg, int rc,
                 const char *unscannable_class, const char *error_text, av_target_t *targets)
{
    if (rc != 0)
        sl_verdict_set_error(v, error_text);
    else
        rc = av_report_verdict(r, v, unscannable_class);
    if (r->detections > 0)
        sl_log_info(sl_msg_id(msg), "%s detections=%zu first=\"%s\" part=\"%s\"", r->engine,
                    r->detections, r->hits[0].name, r->hits[0].path);
    av_report_free(r);
    free(targets);
    return rc;
}
