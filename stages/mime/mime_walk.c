/*
 * stages/mime/mime_walk.c - the MIME part tree with GMime, leaves decoded once.
 *
 * GMime parses and decodes (base64, quoted-printable, x-uuencode) and converts
 * text parts to UTF-8; this file walks the tree within the depth, part, size
 * and time limits, names each leaf by its path ("2/1" = first subpart of the
 * second part; message/rfc822 adds no number of its own) and hands leaves to
 * mime_add_part. GMime's parser recurses once per nesting level, so a message
 * declaring more containers than MIME_CONTAINERS_MAX never reaches it.
 * Tests: tests/unit/test_mime.c, tests/fuzz/fuzz_mime.c
 */
#include "mime.h"
#include "sl_mem.h"
#include "sl_text.h"

#include <glib.h>
#include <gmime/gmime.h>
#include <magic.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mime_magic {
    magic_t cookie; /* libmagic handle */
};

typedef struct {
    mime_result_t *res;
    const mime_limits_t *lim;
    mime_magic_t *magic;
    bool stopped; /* a limit ended the walk */
} s_walk_t;

static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void
s_init_once(void)
{
    g_mime_init();
}

void
mime_global_init(void)
{
    pthread_once(&s_once, s_init_once);
}

mime_magic_t *
mime_magic_new(const char **why)
{
    magic_t cookie = magic_open(MAGIC_MIME_TYPE | MAGIC_NO_CHECK_COMPRESS | MAGIC_ERROR);
    if (cookie == NULL || magic_load(cookie, NULL) != 0) {
        if (why)
            *why = "cannot load the libmagic database";
        if (cookie)
            magic_close(cookie);
        return NULL;
    }
    size_t bytes = 1u << 20; /* libmagic looks at no more than the first megabyte */
    magic_setparam(cookie, MAGIC_PARAM_BYTES_MAX, &bytes);
    mime_magic_t *self = sl_xcalloc(1, sizeof *self);
    self->cookie = cookie;
    return self;
}

void
mime_magic_destroy(mime_magic_t **self_p)
{
    if (*self_p == NULL)
        return;
    magic_close((*self_p)->cookie);
    free(*self_p);
    *self_p = NULL;
}

const char *
mime_magic_type(mime_magic_t *self, const void *data, size_t len)
{
    if (len == 0)
        return "application/x-empty";
    const char *t = magic_buffer(self->cookie, data, len);
    return t ? t : "application/octet-stream";
}

void
mime_limits_default(mime_limits_t *lim)
{
    *lim = (mime_limits_t){
        .depth_max = MIME_DEPTH_MAX,
        .containers_max = MIME_CONTAINERS_MAX,
        .parts_max = MIME_PARTS_MAX,
        .archive_depth_max = MIME_ARCHIVE_DEPTH_MAX,
        .archive_members_max = MIME_ARCHIVE_MEMBERS_MAX,
        .decoded_max = MIME_DECODED_MAX,
        .part_max = MIME_PART_MAX,
        .ratio_max = MIME_RATIO_MAX,
        .ratio_floor = MIME_RATIO_FLOOR,
        .time_max_ms = MIME_TIME_MAX_MS,
        .banned_ext = sl_xstrdup("ade,adp,app,bas,bat,chm,cmd,com,cpl,exe,hta,inf,ins,isp,jse,"
                                 "lnk,msc,msi,msp,mst,pif,ps1,reg,scr,sct,shb,shs,vb,vbe,vbs,"
                                 "wsc,wsf,wsh"),
        .banned_types = sl_xstrdup("application/x-dosexec,application/x-msdownload,"
                                   "application/vnd.microsoft.portable-executable,"
                                   "application/x-executable,application/x-pie-executable,"
                                   "application/x-mach-binary,application/x-ms-shortcut"),
        .macros = sl_xstrdup("any"),
        .unscannable = sl_xstrdup("banned"),
        .encrypted = sl_xstrdup("none"),
        .bad_header_class = true,
        .smtputf8 = false,
    };
}

void
mime_limits_free(mime_limits_t *lim)
{
    free(lim->banned_ext);
    free(lim->banned_types);
    free(lim->macros);
    free(lim->unscannable);
    free(lim->encrypted);
    memset(lim, 0, sizeof *lim);
}

mime_class_t
mime_class_parse(const char *name)
{
    static const char *const names[] = {"none", "oversized", "bad-header", "banned", "virus"};
    for (size_t i = 0; name && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return (mime_class_t) i;
    return MIME_CLASS_NONE;
}

const char *
mime_class_name(mime_class_t class_hint)
{
    static const char *const names[] = {"", "oversized", "bad-header", "banned", "virus"};
    return names[class_hint];
}

char *
mime_printable(const char *name, size_t len, size_t max)
{
    if (len > max)
        len = max;
    char *out = sl_xmalloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) name[i];
        out[i] = (c < 0x20 || c == 0x7f) ? '_' : (char) c;
    }
    out[len] = '\0';
    return out;
}

void
mime_finding(mime_result_t *res, const char *symbol, double score, mime_class_t class_hint,
             const char *fmt, ...)
{
    /* One finding per symbol: the first part that raised it names it. */
    for (size_t i = 0; i < res->finding_count; i++) {
        if (strcmp(res->findings[i].symbol, symbol) == 0) {
            if (class_hint > res->findings[i].class_hint)
                res->findings[i].class_hint = class_hint;
            return;
        }
    }
    if (res->finding_count == res->finding_cap) {
        res->finding_cap = res->finding_cap ? res->finding_cap * 2 : 8;
        res->findings = sl_xrealloc(res->findings, res->finding_cap * sizeof *res->findings);
    }
    char info[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(info, sizeof info, fmt, ap);
    va_end(ap);
    if (n < 0)
        info[0] = '\0';
    res->findings[res->finding_count++] = (mime_finding_t){
        .symbol = symbol, .score = score, .info = sl_xstrdup(info), .class_hint = class_hint};
}

void
mime_limit_hit(mime_result_t *res, const mime_limits_t *lim, const char *path, const char *what)
{
    res->limit_hits++;
    mime_finding(res, "MIME_UNSCANNABLE", 5.0, mime_class_parse(lim->unscannable), "%s: %s",
                 path[0] ? path : "(message)", what);
}

static char *
s_lower(const char *s)
{
    char *out = sl_xstrdup(s ? s : "");
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char) (*p - 'A' + 'a');
    return out;
}

int
mime_add_part(mime_result_t *res, const mime_limits_t *lim, mime_magic_t *magic, const char *path,
              const char *declared, const char *name, const char *charset, unsigned char *data,
              size_t size, int depth, int archive_depth, unsigned flags)
{
    if (res->part_count >= (size_t) lim->parts_max) {
        free(data);
        mime_limit_hit(res, lim, path, "too many parts");
        return -1;
    }
    if (res->part_count == res->part_cap) {
        res->part_cap = res->part_cap ? res->part_cap * 2 : 16;
        res->parts = sl_xrealloc(res->parts, res->part_cap * sizeof *res->parts);
    }
    mime_part_t *p = &res->parts[res->part_count++];
    *p = (mime_part_t){
        .path = sl_xstrdup(path),
        .declared_type = s_lower(declared),
        .true_type = sl_xstrdup(mime_magic_type(magic, data, size)),
        .name = mime_printable(name ? name : "", name ? strlen(name) : 0, MIME_NAME_MAX),
        .charset = s_lower(charset),
        .data = data,
        .size = size,
        .depth = depth,
        .flags = flags,
    };
    if (depth > res->depth_seen)
        res->depth_seen = depth;
    gchar *hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data ? data : (guchar *)"", size);
    sl_strlcpy(p->sha256, hex, sizeof p->sha256);
    g_free(hex);
    if (flags & MIME_PART_TRUNCATED)
        mime_limit_hit(res, lim, path, "part cut at a size limit");
    /* Copy what the policy and the archive walk need: P moves when parts grow. */
    mime_part_t copy = *p;
    mime_policy_part(res, lim, &copy);
    if (mime_archive_type(copy.true_type))
        mime_archive_expand(res, lim, magic, copy.path, copy.data, copy.size, depth + 1,
                            archive_depth + 1);
    return 0;
}

/* s_budget - true when SIZE more decoded bytes fit; otherwise records the limit. */
static bool
s_budget(s_walk_t *w, const char *path, size_t size)
{
    if (size > (size_t) w->lim->decoded_max - w->res->decoded) {
        mime_limit_hit(w->res, w->lim, path, "decoded bytes over decoded_max");
        w->stopped = true;
        return false;
    }
    w->res->decoded += size;
    return true;
}

/* s_leaf_bytes - decoded content of a leaf; text parts in UTF-8. Caller frees. */
static unsigned char *
s_leaf_bytes(GMimePart *part, size_t *size, bool *is_text)
{
    *is_text = false;
    GMimeDataWrapper *content = g_mime_part_get_content(part);
    if (content == NULL) {
        *size = 0;
        return sl_xcalloc(1, 1);
    }
    if (GMIME_IS_TEXT_PART(part)) {
        char *text = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
        if (text != NULL) {
            *is_text = true;
            *size = strlen(text);
            unsigned char *out = sl_xmemdup(text, *size + 1);
            g_free(text);
            return out;
        }
    }
    GMimeStream *mem = g_mime_stream_mem_new();
    g_mime_data_wrapper_write_to_stream(content, mem);
    GByteArray *bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    *size = bytes->len;
    unsigned char *out = sl_xmalloc(bytes->len + 1);
    if (bytes->len > 0)
        memcpy(out, bytes->data, bytes->len);
    out[bytes->len] = '\0';
    g_object_unref(mem);
    return out;
}

static void s_walk(s_walk_t *w, GMimeObject *obj, const char *path, int depth);

static void
s_walk_leaf(s_walk_t *w, GMimePart *part, const char *path, int depth)
{
    size_t size = 0;
    bool is_text = false;
    unsigned char *data = s_leaf_bytes(part, &size, &is_text);
    if (!s_budget(w, path, size)) {
        free(data);
        return;
    }
    unsigned flags = is_text ? MIME_PART_TEXT : 0;
    if (size > (size_t) w->lim->part_max) {
        size = (size_t) w->lim->part_max;
        flags |= MIME_PART_TRUNCATED;
    }
    GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(part));
    char *declared = ct ? g_mime_content_type_get_mime_type(ct) : g_strdup("text/plain");
    const char *disposition = g_mime_object_get_disposition(GMIME_OBJECT(part));
    if (disposition && g_ascii_strcasecmp(disposition, "attachment") == 0)
        flags |= MIME_PART_ATTACHMENT;
    const char *charset = is_text ? g_mime_text_part_get_charset(GMIME_TEXT_PART(part)) : NULL;
    const char *name = g_mime_part_get_filename(part);
    const char *leaf_path = path[0] ? path : "1";
    /* Text may carry inline uuencoded files (begin 644 name ... end). */
    if (is_text && size > 6 && memmem(data, size, "begin ", 6) != NULL) {
        unsigned char *copy = sl_xmemdup(data, size);
        mime_add_part(w->res, w->lim, w->magic, leaf_path, declared, name, charset, data, size,
                      depth, 0, flags);
        mime_uu_extract(w->res, w->lim, w->magic, leaf_path, copy, size, depth + 1);
        free(copy);
    } else if (mime_add_part(w->res, w->lim, w->magic, leaf_path, declared, name, charset, data,
                             size, depth, 0, flags) != 0) {
        w->stopped = true;
    }
    g_free(declared);
}

static void
s_walk(s_walk_t *w, GMimeObject *obj, const char *path, int depth)
{
    if (w->stopped)
        return;
    if (sl_mono_ms() > w->res->deadline_ms) {
        mime_limit_hit(w->res, w->lim, path, "time over time_max");
        w->stopped = true;
        return;
    }
    if (depth > w->lim->depth_max) {
        mime_limit_hit(w->res, w->lim, path, "MIME nesting over depth_max");
        w->stopped = true;
        return;
    }
    if (depth > w->res->depth_seen)
        w->res->depth_seen = depth;
    if (GMIME_IS_MULTIPART(obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        int n = g_mime_multipart_get_count(mp);
        for (int i = 0; i < n && !w->stopped; i++) {
            char sub[MIME_PATH_MAX];
            int len = snprintf(sub, sizeof sub, "%s%s%d", path, path[0] ? "/" : "", i + 1);
            if (len < 0 || (size_t) len >= sizeof sub) {
                mime_limit_hit(w->res, w->lim, path, "part path too long");
                w->stopped = true;
                return;
            }
            s_walk(w, g_mime_multipart_get_part(mp, i), sub, depth + 1);
        }
    } else if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        if (inner != NULL && g_mime_message_get_mime_part(inner) != NULL)
            s_walk(w, g_mime_message_get_mime_part(inner), path, depth + 1);
    } else if (GMIME_IS_PART(obj)) {
        s_walk_leaf(w, GMIME_PART(obj), path, depth);
    }
}

int
mime_scan(const void *raw, size_t len, const mime_limits_t *lim, mime_magic_t *magic,
          mime_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (raw == NULL)
        raw = ""; /* an empty body may come as (NULL, 0) */
    res->deadline_ms = sl_mono_ms() + (uint64_t) lim->time_max_ms;
    if (sl_mime_containers(raw, len) > (size_t) lim->containers_max) {
        mime_limit_hit(res, lim, "", "more multipart/message containers than containers_max");
        return 0;
    }
    GMimeStream *stream = g_mime_stream_mem_new_with_buffer(raw, len);
    GMimeParser *parser = g_mime_parser_new_with_stream(stream);
    g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
    GMimeParserOptions *opts = g_mime_parser_options_new();
    GMimeMessage *msg = g_mime_parser_construct_message(parser, opts);
    s_walk_t w = {.res = res, .lim = lim, .magic = magic};
    if (msg == NULL) {
        /* Not even a header block: scan it as one opaque part. */
        unsigned char *copy = sl_xcalloc(1, len + 1);
        memcpy(copy, raw, len);
        mime_add_part(res, lim, magic, "1", "", "", "", copy, len, 0, 0, 0);
    } else {
        mime_policy_headers(res, lim, raw, len, msg);
        GMimeObject *top = g_mime_message_get_mime_part(msg);
        if (top != NULL)
            s_walk(&w, top, "", 0);
        g_object_unref(msg);
    }
    g_mime_parser_options_free(opts);
    g_object_unref(parser);
    g_object_unref(stream);
    return 0;
}

void
mime_result_free(mime_result_t *res)
{
    for (size_t i = 0; i < res->part_count; i++) {
        mime_part_t *p = &res->parts[i];
        free(p->path);
        free(p->declared_type);
        free(p->true_type);
        free(p->name);
        free(p->charset);
        free(p->data);
    }
    free(res->parts);
    for (size_t i = 0; i < res->finding_count; i++)
        free(res->findings[i].info);
    free(res->findings);
    memset(res, 0, sizeof *res);
}
