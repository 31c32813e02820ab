/*
 * stages/mime/mime.h - the mime stage's core: part tree, archives, policy.
 *
 * mime_scan turns one raw message into a flat list of decoded parts (MIME
 * leaves, inline uuencoded files, archive members, recursively) and a list of
 * findings (banned files, bad headers, limits hit). GMime parses MIME,
 * libarchive opens archives, libmagic names true types; this code checks what
 * goes in and comes out and enforces every limit. Everything it reads is
 * hostile. No sockets here: the stage (mime.c), the unit tests, the fuzz
 * targets and sluice-mime-scan all call mime_scan.
 * Tests: tests/unit/test_mime.c, tests/fuzz/fuzz_mime.c, tests/fuzz/fuzz_mime_archive.c,
 *        tests/e2e/test_content.py
 */
#ifndef MIME_H
#define MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Default limits; each has an option of the same name in lower case. */
#define MIME_DEPTH_MAX 30              /* nested multipart/message levels (Postfix: 100) */
#define MIME_CONTAINERS_MAX 2000       /* "multipart/" + "message/" mentions before GMime runs */
#define MIME_PARTS_MAX 1000            /* parts handed downstream per message */
#define MIME_ARCHIVE_DEPTH_MAX 5       /* archives inside archives */
#define MIME_ARCHIVE_MEMBERS_MAX 10000 /* entries read from one message's archives */
#define MIME_DECODED_MAX (256u << 20)  /* bytes decoded from one message, all parts */
#define MIME_PART_MAX (64u << 20)      /* bytes of one decoded part or member */
#define MIME_RATIO_MAX 100             /* member bytes / archive bytes (zip bombs) */
#define MIME_RATIO_FLOOR (1u << 20)    /* ratio applies once a member passes 1 MB */
#define MIME_TIME_MAX_MS 20000         /* wall time for one message */
#define MIME_HEADER_LINE_MAX 998       /* RFC 5322 2.1.1 */
#define MIME_NAME_MAX 255              /* file name bytes kept */
#define MIME_PATH_MAX 1024             /* part path bytes */

/* Part flags. */
#define MIME_PART_TEXT 0x01u       /* a text part, converted to UTF-8 */
#define MIME_PART_MEMBER 0x02u     /* came out of an archive */
#define MIME_PART_ENCRYPTED 0x04u  /* encrypted member: data not readable */
#define MIME_PART_TRUNCATED 0x08u  /* cut at a size limit: not fully scannable */
#define MIME_PART_UUENCODED 0x10u  /* inline uuencoded file in a text part */
#define MIME_PART_ATTACHMENT 0x20u /* Content-Disposition: attachment */

/* Classes a finding asks the action stage for, most severe first. */
typedef enum {
    MIME_CLASS_NONE = 0,
    MIME_CLASS_OVERSIZED,
    MIME_CLASS_BAD_HEADER,
    MIME_CLASS_BANNED,
    MIME_CLASS_VIRUS,
} mime_class_t;

typedef struct {
    int64_t depth_max, containers_max, parts_max, archive_depth_max, archive_members_max;
    int64_t decoded_max, part_max, ratio_max, ratio_floor, time_max_ms;
    char *banned_ext;      /* comma list of extensions, lower case, no dot */
    char *banned_types;    /* comma list of true MIME types */
    char *macros;          /* "any", "autorun" or "off" */
    char *unscannable;     /* class for a limit hit: banned, oversized, virus, none */
    char *encrypted;       /* class for an encrypted archive: none (flag only), banned ... */
    bool bad_header_class; /* header defects ask for class bad-header */
    bool smtputf8;         /* 8-bit UTF-8 headers are fine (SMTPUTF8 was offered) */
} mime_limits_t;

typedef struct {
    char *path;          /* "2/1/zip:invoice.exe" */
    char *declared_type; /* Content-Type as sent, lower case ("" inside archives) */
    char *true_type;     /* libmagic's MIME type */
    char *name;          /* file name as sent, made printable; "" when none */
    char *charset;       /* declared charset of text parts, "" otherwise */
    unsigned char *data; /* decoded bytes (UTF-8 for text parts) */
    size_t size;         /* bytes in data */
    char sha256[65];     /* hex of data */
    int depth;           /* MIME nesting + archive nesting */
    unsigned flags;      /* MIME_PART_* */
} mime_part_t;

typedef struct {
    const char *symbol; /* "MIME_BANNED_DOUBLE_EXT" (static) */
    double score;       /* default score */
    char *info;         /* part path and why */
    mime_class_t class_hint;
} mime_finding_t;

typedef struct {
    mime_part_t *parts;
    size_t part_count, part_cap;
    mime_finding_t *findings;
    size_t finding_count, finding_cap;
    size_t decoded;       /* bytes decoded so far */
    size_t members;       /* archive entries seen */
    int depth_seen;       /* deepest nesting met */
    unsigned limit_hits;  /* limits that stopped decoding */
    uint64_t deadline_ms; /* sl_mono_ms() bound */
} mime_result_t;

/* mime_limits_default - limits and policy at their defaults (strings malloc'd). */
void mime_limits_default(mime_limits_t *lim);
/* mime_limits_free - frees the policy strings. */
void mime_limits_free(mime_limits_t *lim);

/* mime_global_init - GMime's one-time initialisation; call before any thread scans. */
void mime_global_init(void);

typedef struct mime_magic mime_magic_t;
/* mime_magic_new - a libmagic handle (not thread-safe: one per scanning thread);
 * NULL with *why when the magic database cannot be loaded. */
mime_magic_t *mime_magic_new(const char **why);
void mime_magic_destroy(mime_magic_t **self_p);
/* mime_magic_type - true MIME type of DATA, "application/octet-stream" when unknown
 * (borrowed until the next call). */
const char *mime_magic_type(mime_magic_t *self, const void *data, size_t len);

/* mime_scan - parts and findings of the raw message RAW; RES is the caller's
 * (mime_result_free). 0, or -1 when out of resources (never for bad input). */
int mime_scan(const void *raw, size_t len, const mime_limits_t *lim, mime_magic_t *magic,
              mime_result_t *res);
void mime_result_free(mime_result_t *res);

/* --- internals shared by the mime_*.c files --- */

/* mime_add_part - takes DATA (malloc'd); names the type, hashes, applies the
 * file policy, and opens archives. Returns 0, or -1 when a limit stopped it. */
int mime_add_part(mime_result_t *res, const mime_limits_t *lim, mime_magic_t *magic,
                  const char *path, const char *declared, const char *name, const char *charset,
                  unsigned char *data, size_t size, int depth, int archive_depth, unsigned flags);
/* mime_finding - adds a finding; INFO is formatted. */
void mime_finding(mime_result_t *res, const char *symbol, double score, mime_class_t class_hint,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* mime_limit_hit - MIME_UNSCANNABLE for a stopped decode, class per policy. */
void mime_limit_hit(mime_result_t *res, const mime_limits_t *lim, const char *path,
                    const char *what);
/* mime_class_parse - "banned" -> MIME_CLASS_BANNED; "none"/"" -> NONE. */
mime_class_t mime_class_parse(const char *name);
const char *mime_class_name(mime_class_t class_hint);
/* mime_archive_expand - members of the archive DATA as parts below PATH. */
void mime_archive_expand(mime_result_t *res, const mime_limits_t *lim, mime_magic_t *magic,
                         const char *path, const unsigned char *data, size_t size, int depth,
                         int archive_depth);
/* mime_archive_type - true when TRUE_TYPE is a container libarchive opens. */
bool mime_archive_type(const char *true_type);
/* mime_uu_extract - inline "begin NNN name" blocks of TEXT as parts below PATH. */
void mime_uu_extract(mime_result_t *res, const mime_limits_t *lim, mime_magic_t *magic,
                     const char *path, const unsigned char *text, size_t len, int depth);
/* mime_policy_part - banned-file rules for one part (name, true type, macros). */
void mime_policy_part(mime_result_t *res, const mime_limits_t *lim, const mime_part_t *part);
/* mime_policy_headers - bad-header checks on the top-level header block RAW. */
void mime_policy_headers(mime_result_t *res, const mime_limits_t *lim, const void *raw, size_t len,
                         void *gmime_message);
/* mime_printable - NAME made printable and cut to MAX bytes (caller frees). */
char *mime_printable(const char *name, size_t len, size_t max);

#endif
