/*
 * stages/mime/mime_policy.c - banned-file rules and bad-header checks.
 *
 * Files: banned extension, banned true type (libmagic, whatever the name
 * says), double extension ("invoice.pdf.exe", also with spaces or dots
 * between), executables inside archives, Office documents with VBA macros
 * (optionally only those with an auto-run entry point). Headers (RFC 5322
 * 3.6): From and Date once each, Message-ID, To, Cc, Subject... at most once,
 * parseable addresses, no 8-bit bytes unless UTF-8 under SMTPUTF8, lines of
 * at most 998 octets. Reads GMime's header list; checks the raw header block
 * itself for bytes and line lengths, which GMime has already normalised.
 * Tests: tests/unit/test_mime.c
 */
#include "mime.h"
#include "sl_mem.h"

#include <glib.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* s_in_list - true when WORD (LEN bytes, any case) is an item of comma list LIST. */
static bool
s_in_list(const char *list, const char *word, size_t len)
{
    if (len == 0 || list == NULL)
        return false;
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t) (end - p) : strlen(p);
        while (n > 0 && p[0] == ' ') {
            p++;
            n--;
        }
        if (n == len && g_ascii_strncasecmp(p, word, len) == 0)
            return true;
        if (end == NULL)
            break;
        p = end + 1;
    }
    return false;
}

/* s_ext - the last extension of NAME (after the last dot, trailing dots and
 * spaces ignored as Windows does); *rest_len = bytes before that dot. */
static const char *
s_ext(const char *name, size_t len, size_t *ext_len, size_t *rest_len)
{
    while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '.'))
        len--;
    for (size_t i = len; i > 0; i--) {
        if (name[i - 1] == '.') {
            *ext_len = len - i;
            *rest_len = i - 1;
            return name + i;
        }
        if (name[i - 1] == '/' || name[i - 1] == '\\')
            break;
    }
    *ext_len = 0;
    *rest_len = len;
    return NULL;
}

static bool
s_has_vba(const mime_part_t *part)
{
    static const unsigned char ole[8] = {0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1};
    static const char vba_w[] = "_\0V\0B\0A\0_\0P\0R\0O\0J\0E\0C\0T\0"; /* UTF-16LE stream name */
    const char *base = strrchr(part->name, '/');
    base = base ? base + 1 : part->name;
    if (g_ascii_strcasecmp(base, "vbaProject.bin") == 0)
        return true;
    return part->size >= 512 && memcmp(part->data, ole, sizeof ole) == 0 &&
           memmem(part->data, part->size, vba_w, sizeof vba_w - 1) != NULL;
}

/* s_autorun - the name of an auto-run entry point in the macro container, or NULL. */
static const char *
s_autorun(const mime_part_t *part)
{
    static const char *const names[] = {
        "AutoOpen", "Auto_Open",    "Document_Open", "Workbook_Open", "AutoExec",
        "AutoNew",  "Document_New", "Auto_Close",    "AutoClose",     "Document_Close"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (memmem(part->data, part->size, names[i], strlen(names[i])) != NULL)
            return names[i];
    return NULL;
}

void
mime_policy_part(mime_result_t *res, const mime_limits_t *lim, const mime_part_t *part)
{
    size_t name_len = strlen(part->name), ext_len, rest_len;
    const char *ext = s_ext(part->name, name_len, &ext_len, &rest_len);
    bool bad_ext = ext && s_in_list(lim->banned_ext, ext, ext_len);
    bool bad_type = s_in_list(lim->banned_types, part->true_type, strlen(part->true_type));
    if (bad_ext && (part->flags & MIME_PART_MEMBER))
        mime_finding(res, "MIME_BANNED_ARCHIVE_EXE", 6.0, MIME_CLASS_BANNED,
                     "%s: .%.*s file inside an archive", part->path, (int) ext_len, ext);
    else if (bad_type && (part->flags & MIME_PART_MEMBER))
        mime_finding(res, "MIME_BANNED_ARCHIVE_EXE", 6.0, MIME_CLASS_BANNED,
                     "%s: %s inside an archive", part->path, part->true_type);
    else if (bad_type)
        mime_finding(res, "MIME_BANNED_TYPE", 6.0, MIME_CLASS_BANNED, "%s: %s named \"%s\"",
                     part->path, part->true_type, part->name);
    if (bad_ext && !(part->flags & MIME_PART_MEMBER)) {
        size_t prev_len, prev_rest;
        const char *prev = s_ext(part->name, rest_len, &prev_len, &prev_rest);
        if (prev && prev_len >= 1 && prev_len <= 5)
            mime_finding(res, "MIME_BANNED_DOUBLE_EXT", 6.0, MIME_CLASS_BANNED,
                         "%s: double extension \"%s\"", part->path, part->name);
        else
            mime_finding(res, "MIME_BANNED_EXT", 6.0, MIME_CLASS_BANNED, "%s: .%.*s file",
                         part->path, (int) ext_len, ext);
    }
    if (strcmp(lim->macros, "off") != 0 && s_has_vba(part)) {
        const char *entry = s_autorun(part);
        if (entry || strcmp(lim->macros, "any") == 0)
            mime_finding(res, "MIME_BANNED_MACRO", 6.0, MIME_CLASS_BANNED, "%s: VBA macros%s%s",
                         part->path, entry ? ", auto-run " : "", entry ? entry : "");
    }
}

/* Headers RFC 5322 3.6 allows at most once (Resent-* and trace fields aside). */
static const char *const s_once_headers[] = {"From",       "Sender",  "Reply-To",   "To",
                                             "Cc",         "Bcc",     "Message-ID", "In-Reply-To",
                                             "References", "Subject", "Date"};
#define S_ONCE_COUNT (sizeof s_once_headers / sizeof s_once_headers[0])

/* s_bad_address - true when VALUE holds no mailbox or one without local@domain. */
static bool
s_bad_address(GMimeParserOptions *opts, const char *value)
{
    InternetAddressList *list = internet_address_list_parse(opts, value);
    if (list == NULL)
        return true;
    int n = internet_address_list_length(list);
    bool bad = n == 0;
    for (int i = 0; i < n && !bad; i++) {
        InternetAddress *ia = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
            const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia));
            const char *at = addr ? strrchr(addr, '@') : NULL;
            bad = at == NULL || at == addr || at[1] == '\0';
        }
    }
    g_object_unref(list);
    return bad;
}

/* s_raw_block - 8-bit bytes and over-long lines in the raw header block. */
static void
s_raw_block(mime_result_t *res, const mime_limits_t *lim, const unsigned char *p, size_t len,
            mime_class_t bad)
{
    size_t line = 0, longest = 0;
    bool eight_bit = false;
    size_t end = 0;
    for (; end < len; end++) {
        if (p[end] == '\n') {
            size_t n = line > 0 && p[end - 1] == '\r' ? line - 1 : line;
            if (n == 0)
                break; /* the blank line ends the header */
            if (n > longest)
                longest = n;
            line = 0;
            continue;
        }
        line++;
        eight_bit |= p[end] >= 0x80;
    }
    if (longest > MIME_HEADER_LINE_MAX)
        mime_finding(res, "MIME_HDR_LONG_LINE", 1.0, MIME_CLASS_NONE,
                     "header line of %zu octets (RFC 5322 limit 998)", longest);
    if (eight_bit) {
        bool utf8 = g_utf8_validate((const char *) p, (gssize) end, NULL);
        if (!utf8 || !lim->smtputf8)
            mime_finding(res, "MIME_HDR_8BIT", utf8 ? 1.0 : 2.0, utf8 ? MIME_CLASS_NONE : bad,
                         "8-bit bytes in the header%s", utf8 ? " (UTF-8)" : ", not UTF-8");
    }
}

void
mime_policy_headers(mime_result_t *res, const mime_limits_t *lim, const void *raw, size_t len,
                    void *gmime_message)
{
    mime_class_t bad = lim->bad_header_class ? MIME_CLASS_BAD_HEADER : MIME_CLASS_NONE;
    GMimeHeaderList *list = g_mime_object_get_header_list(GMIME_OBJECT(gmime_message));
    int count = g_mime_header_list_get_count(list);
    unsigned seen[S_ONCE_COUNT] = {0};
    /* GMime's strict address mode leaks on some malformed lists (GMime 3.2.13):
     * parse loosely and check local@domain ourselves. */
    GMimeParserOptions *opts = g_mime_parser_options_new();
    for (int i = 0; i < count; i++) {
        GMimeHeader *h = g_mime_header_list_get_header_at(list, i);
        const char *name = g_mime_header_get_name(h);
        for (size_t k = 0; name && k < S_ONCE_COUNT; k++) {
            if (g_ascii_strcasecmp(name, s_once_headers[k]) != 0)
                continue;
            seen[k]++;
            const char *value = g_mime_header_get_raw_value(h);
            if (k <= 4 && seen[k] == 1 && value && s_bad_address(opts, value))
                mime_finding(res, "MIME_HDR_BAD_ADDRESS", 2.0, k == 0 ? bad : MIME_CLASS_NONE,
                             "%s: no valid address", s_once_headers[k]);
        }
    }
    g_mime_parser_options_free(opts);
    if (seen[0] == 0)
        mime_finding(res, "MIME_HDR_MISSING_FROM", 2.0, bad, "no From header");
    if (seen[10] == 0)
        mime_finding(res, "MIME_HDR_MISSING_DATE", 1.0, MIME_CLASS_NONE, "no Date header");
    if (seen[6] == 0)
        mime_finding(res, "MIME_HDR_MISSING_MSGID", 0.5, MIME_CLASS_NONE, "no Message-ID header");
    for (size_t k = 0; k < S_ONCE_COUNT; k++) {
        if (seen[k] > 1) {
            bool grave =
                k == 0 || k == 10 || k == 6 || k == 9; /* From, Date, Message-ID, Subject */
            mime_finding(res, "MIME_HDR_DUPLICATE", grave ? 2.0 : 1.0,
                         grave ? bad : MIME_CLASS_NONE, "%s header %u times", s_once_headers[k],
                         seen[k]);
        }
    }
    s_raw_block(res, lim, raw, len, bad);
}
