/*
 * stages/mime/mime_archive.c - archive members as parts, with libarchive, bounded.
 *
 * Members are read from memory in chunks into buffers that grow as data
 * arrives (never sized by the header's claim), and every chunk is checked
 * against the per-part size, the per-message decoded budget, the member
 * count, the nesting depth, the compression ratio and the message's deadline:
 * a zip bomb or a 100,000-entry archive stops at the first limit it meets and
 * is reported MIME_UNSCANNABLE. Formats are enabled one by one: never mtree
 * (it reads files named inside it from our disk) nor filters that run
 * external programs (lrzip, grzip, lzop).
 * Tests: tests/unit/test_mime.c, tests/fuzz/fuzz_mime_archive.c
 */
#include "mime.h"
#include "sl_mem.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIME_ARCHIVE_CHUNK 65536 /* bytes read per archive_read_data call */

bool
mime_archive_type(const char *t)
{
    static const char *const exact[] = {
        "application/zip",
        "application/x-zip-compressed",
        "application/java-archive",
        "application/x-tar",
        "application/gzip",
        "application/x-gzip",
        "application/x-bzip2",
        "application/x-xz",
        "application/x-lzma",
        "application/zstd",
        "application/x-7z-compressed",
        "application/x-rar",
        "application/vnd.rar",
        "application/x-rar-compressed",
        "application/x-cpio",
        "application/vnd.ms-cab-compressed",
        "application/x-lha",
        "application/x-lzh-compressed",
        "application/x-iso9660-image",
        "application/x-archive",
        "application/x-compress",
        "application/x-lz4",
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(t, exact[i]) == 0)
            return true;
    /* Office Open XML and OpenDocument are zip files: their members carry macros. */
    static const char *const prefixes[] = {
        "application/vnd.openxmlformats-officedocument.",
        "application/vnd.ms-word.",
        "application/vnd.ms-excel.",
        "application/vnd.ms-powerpoint.",
        "application/vnd.oasis.opendocument.",
    };
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(t, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return false;
}

static struct archive *
s_open(const unsigned char *data, size_t size)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_bzip2(a);
    archive_read_support_filter_xz(a);
    archive_read_support_filter_lzma(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_lz4(a);
    archive_read_support_filter_compress(a);
    archive_read_support_format_zip(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_7zip(a);
    archive_read_support_format_rar(a);
    archive_read_support_format_rar5(a);
    archive_read_support_format_cpio(a);
    archive_read_support_format_cab(a);
    archive_read_support_format_lha(a);
    archive_read_support_format_iso9660(a);
    archive_read_support_format_ar(a);
    archive_read_support_format_raw(a); /* a lone .gz/.bz2/.xz: the decompressed file */
    if (archive_read_open_memory(a, data, size) != ARCHIVE_OK) {
        archive_read_free(a);
        return NULL;
    }
    return a;
}

/* s_label - short archive kind for part paths: "zip:invoice.exe". */
static const char *
s_label(struct archive *a)
{
    switch (archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) {
    case ARCHIVE_FORMAT_ZIP:
        return "zip";
    case ARCHIVE_FORMAT_TAR:
        return "tar";
    case ARCHIVE_FORMAT_7ZIP:
        return "7z";
    case ARCHIVE_FORMAT_RAR:
    case ARCHIVE_FORMAT_RAR_V5:
        return "rar";
    case ARCHIVE_FORMAT_CPIO:
        return "cpio";
    case ARCHIVE_FORMAT_CAB:
        return "cab";
    case ARCHIVE_FORMAT_ISO9660:
        return "iso";
    case ARCHIVE_FORMAT_RAW:
        return archive_filter_code(a, 0) == ARCHIVE_FILTER_BZIP2 ? "bz2"
               : archive_filter_code(a, 0) == ARCHIVE_FILTER_XZ  ? "xz"
                                                                 : "gz";
    default:
        return "arc";
    }
}

typedef struct {
    mime_result_t *res;
    const mime_limits_t *lim;
    const char *path; /* the archive's own path */
    size_t in_size;   /* compressed bytes of the archive */
    size_t out_total; /* bytes read from all its members */
} s_arc_t;

/* s_read_member - the current entry's data; NULL when a limit stopped reading
 * (already reported). *flags gets MIME_PART_TRUNCATED when cut at part_max. */
static unsigned char *
s_read_member(s_arc_t *arc, struct archive *a, const char *mpath, size_t *size, unsigned *flags)
{
    size_t len = 0, cap = 0;
    unsigned char *buf = NULL;
    for (;;) {
        if (sl_mono_ms() > arc->res->deadline_ms) {
            mime_limit_hit(arc->res, arc->lim, mpath, "time over time_max");
            free(buf);
            return NULL;
        }
        if (cap - len < MIME_ARCHIVE_CHUNK) {
            cap = cap ? cap * 2 : MIME_ARCHIVE_CHUNK * 2;
            buf = sl_xrealloc(buf, cap);
        }
        la_ssize_t n = archive_read_data(a, buf + len, MIME_ARCHIVE_CHUNK);
        if (n == 0)
            break;
        if (n < 0) {
            /* Damaged or unsupported data: keep what was read, flag it cut. */
            *flags |= MIME_PART_TRUNCATED;
            break;
        }
        size_t got = (size_t) n;
        arc->out_total += got;
        if ((size_t) arc->lim->decoded_max - arc->res->decoded < got) {
            mime_limit_hit(arc->res, arc->lim, mpath, "decoded bytes over decoded_max");
            free(buf);
            return NULL;
        }
        arc->res->decoded += got;
        if (arc->out_total > (size_t) arc->lim->ratio_floor &&
            arc->out_total / (arc->in_size ? arc->in_size : 1) > (size_t) arc->lim->ratio_max) {
            mime_limit_hit(arc->res, arc->lim, mpath, "compression ratio over ratio_max (bomb)");
            free(buf);
            return NULL;
        }
        len += got;
        if (len >= (size_t) arc->lim->part_max) {
            len = (size_t) arc->lim->part_max;
            *flags |= MIME_PART_TRUNCATED;
            break;
        }
    }
    *size = len;
    return buf ? buf : sl_xcalloc(1, 1);
}

void
mime_archive_expand(mime_result_t *res, const mime_limits_t *lim, mime_magic_t *magic,
                    const char *path, const unsigned char *data, size_t size, int depth,
                    int archive_depth)
{
    if (archive_depth > lim->archive_depth_max) {
        mime_limit_hit(res, lim, path, "archives nested over archive_depth_max");
        return;
    }
    struct archive *a = s_open(data, size);
    if (a == NULL)
        return; /* not an archive after all, or damaged: the part itself is scanned */
    s_arc_t arc = {.res = res, .lim = lim, .path = path, .in_size = size};
    struct archive_entry *entry;
    int rc;
    while ((rc = archive_read_next_header(a, &entry)) == ARCHIVE_OK || rc == ARCHIVE_WARN) {
        if (res->members >= (size_t) lim->archive_members_max) {
            mime_limit_hit(res, lim, path, "archive members over archive_members_max");
            break;
        }
        res->members++;
        if (archive_entry_filetype(entry) != AE_IFREG)
            continue;
        const char *raw_name = archive_entry_pathname(entry);
        char *name = mime_printable(raw_name ? raw_name : "", raw_name ? strlen(raw_name) : 0,
                                    MIME_NAME_MAX);
        char mpath[MIME_PATH_MAX];
        int n = snprintf(mpath, sizeof mpath, "%s/%s:%s", path, s_label(a), name);
        if (n < 0 || (size_t) n >= sizeof mpath) {
            mime_limit_hit(res, lim, path, "part path too long");
            free(name);
            break;
        }
        if (archive_entry_is_encrypted(entry)) {
            mime_finding(res, "MIME_ENCRYPTED_ARCHIVE", 2.0, mime_class_parse(lim->encrypted),
                         "%s: encrypted member, not scannable", mpath);
            free(name);
            continue;
        }
        unsigned flags = MIME_PART_MEMBER;
        size_t len = 0;
        unsigned char *member = s_read_member(&arc, a, mpath, &len, &flags);
        if (member == NULL) {
            free(name);
            break;
        }
        int added = len == 0 ? (free(member), 0)
                             : mime_add_part(res, lim, magic, mpath, "", name, "", member, len,
                                             depth, archive_depth, flags);
        free(name);
        if (added != 0)
            break;
    }
    if (rc == ARCHIVE_FATAL && archive_read_has_encrypted_entries(a) > 0)
        mime_finding(res, "MIME_ENCRYPTED_ARCHIVE", 2.0, mime_class_parse(lim->encrypted),
                     "%s: encrypted archive, not scannable", path);
    archive_read_free(a);
}
