/*
 * stages/mime/mime_uu.c - inline uuencoded files inside text parts.
 *
 * Old mailers put "begin 644 name" ... "end" blocks in the body of a
 * text/plain part instead of an attachment; GMime decodes uuencode only as a
 * Content-Transfer-Encoding, so the blocks inside text are found here. Every
 * line is decoded within its own length (a line never yields more bytes than
 * it carries); a block without "end" is taken up to the end of the text.
 * Tests: tests/unit/test_mime.c, tests/fuzz/fuzz_mime.c
 */
#include "mime.h"
#include "sl_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIME_UU_BLOCKS_MAX 64 /* uuencoded files taken from one text part */

/* s_line - the line at TEXT[*pos] (without CR LF) and moves *pos past it. */
static size_t
s_line(const unsigned char *text, size_t len, size_t *pos, const unsigned char **line)
{
    size_t start = *pos, end = start;
    while (end < len && text[end] != '\n')
        end++;
    *pos = end < len ? end + 1 : len;
    *line = text + start;
    size_t n = end - start;
    if (n > 0 && text[start + n - 1] == '\r')
        n--;
    return n;
}

/* s_begin - true for "begin MODE NAME" (MODE 3-4 octal digits); NAME is borrowed. */
static bool
s_begin(const unsigned char *p, size_t n, const unsigned char **name, size_t *name_len)
{
    if (n < 10 || memcmp(p, "begin ", 6) != 0)
        return false;
    size_t i = 6, digits = 0;
    while (i < n && p[i] >= '0' && p[i] <= '7' && digits < 4) {
        i++;
        digits++;
    }
    if (digits < 3 || i >= n || p[i] != ' ')
        return false;
    *name = p + i + 1;
    *name_len = n - i - 1;
    return *name_len > 0;
}

/* s_decode_line - appends the bytes of one uuencoded line to OUT (room for
 * 3/4 of N is there); false for a line that is not uuencoded data. */
static bool
s_decode_line(const unsigned char *p, size_t n, unsigned char *out, size_t *out_len)
{
    if (n == 0)
        return false;
    size_t want = (size_t) ((p[0] - 0x20) & 0x3f);
    if (want == 0)
        return true; /* the "`" or " " line before "end" */
    size_t have = (n - 1) / 4 * 3;
    if (want > have)
        return false;
    for (size_t i = 1, got = 0; got < want; i += 4) {
        unsigned v[4];
        for (size_t k = 0; k < 4; k++) {
            if (p[i + k] < 0x20 || p[i + k] > 0x60)
                return false;
            v[k] = (unsigned) ((p[i + k] - 0x20) & 0x3f);
        }
        unsigned char b[3] = {(unsigned char) (v[0] << 2 | v[1] >> 4),
                              (unsigned char) (v[1] << 4 | v[2] >> 2),
                              (unsigned char) (v[2] << 6 | v[3])};
        for (size_t k = 0; k < 3 && got < want; k++, got++)
            out[(*out_len)++] = b[k];
    }
    return true;
}

void
mime_uu_extract(mime_result_t *res, const mime_limits_t *lim, mime_magic_t *magic, const char *path,
                const unsigned char *text, size_t len, int depth)
{
    size_t pos = 0;
    int blocks = 0;
    while (pos < len && blocks < MIME_UU_BLOCKS_MAX) {
        const unsigned char *line, *name;
        size_t n = s_line(text, len, &pos, &line), name_len;
        if (!s_begin(line, n, &name, &name_len))
            continue;
        blocks++;
        /* Decoded bytes never exceed the encoded text after the begin line. */
        unsigned char *out = sl_xmalloc(len - pos + 1);
        size_t out_len = 0;
        while (pos < len) {
            n = s_line(text, len, &pos, &line);
            if ((n == 3 && memcmp(line, "end", 3) == 0) || !s_decode_line(line, n, out, &out_len))
                break;
        }
        char *fname = mime_printable((const char *) name, name_len, MIME_NAME_MAX);
        char upath[MIME_PATH_MAX];
        int k = snprintf(upath, sizeof upath, "%s/uu:%s", path, fname);
        if (k < 0 || (size_t) k >= sizeof upath) {
            mime_limit_hit(res, lim, path, "part path too long");
            free(fname);
            free(out);
            return;
        }
        if ((size_t) lim->decoded_max - res->decoded < out_len) {
            mime_limit_hit(res, lim, upath, "decoded bytes over decoded_max");
            free(fname);
            free(out);
            return;
        }
        res->decoded += out_len;
        int rc = mime_add_part(res, lim, magic, upath, "", fname, "", out, out_len, depth, 0,
                               MIME_PART_UUENCODED);
        free(fname);
        if (rc != 0)
            return;
    }
}
