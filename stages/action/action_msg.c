/*
 * stages/action/action_msg.c - added headers, the subject tag, header values.
 *
 * All input is the untrusted message: scans stop at its length and at the
 * end of the header block (the first empty line), and a NUL byte is an
 * ordinary byte.
 * Tests: tests/unit/test_action_msg.c
 */
#include "action_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *
action_eol(sl_slice_t msg)
{
    const char *nl = msg.len ? memchr(msg.ptr, '\n', msg.len) : NULL;
    if (nl == NULL)
        return "\r\n";
    return (nl > msg.ptr && nl[-1] == '\r') ? "\r\n" : "\n";
}

/* s_line_end - end of the line starting at I (index of its LF, or LEN). */
static size_t
s_line_end(sl_slice_t msg, size_t i)
{
    const char *nl = memchr(msg.ptr + i, '\n', msg.len - i);
    return nl ? (size_t)(nl - msg.ptr) : msg.len;
}

/* s_is_blank - the line [i, end) is empty (only an optional CR). */
static bool
s_is_blank(sl_slice_t msg, size_t i, size_t end)
{
    return end == i || (end == i + 1 && msg.ptr[i] == '\r');
}

/* s_find - start of header NAME's line in the header block, or -1. */
static long
s_find(sl_slice_t msg, const char *name)
{
    size_t nlen = strlen(name), i = 0;
    while (i < msg.len) {
        size_t end = s_line_end(msg, i);
        if (s_is_blank(msg, i, end))
            return -1;
        if (end - i > nlen && strncasecmp(msg.ptr + i, name, nlen) == 0 && msg.ptr[i + nlen] == ':')
            return (long)i;
        i = end + 1;
    }
    return -1;
}

bool
action_header_value(sl_slice_t msg, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    long at = s_find(msg, name);
    if (at < 0)
        return false;
    size_t i = (size_t)at + strlen(name) + 1, n = 0;
    bool lead = true;
    while (i < msg.len && n + 1 < size) {
        char c = msg.ptr[i];
        if (c == '\n') {
            /* a continuation line starts with white space; anything else ends the value */
            if (i + 1 >= msg.len || (msg.ptr[i + 1] != ' ' && msg.ptr[i + 1] != '\t'))
                break;
            i++;
            continue;
        }
        i++;
        if (c == '\r')
            continue;
        if (lead && (c == ' ' || c == '\t'))
            continue;
        lead = false;
        out[n++] = ((unsigned char)c < ' ' && c != '\t') || c == 0x7f ? '?' : c;
    }
    out[n] = '\0';
    return true;
}

long
action_subject_at(sl_slice_t msg)
{
    long at = s_find(msg, "Subject");
    if (at < 0)
        return -1;
    size_t i = (size_t)at + strlen("Subject:");
    if (i < msg.len && (msg.ptr[i] == ' ' || msg.ptr[i] == '\t'))
        i++;
    return (long)i;
}

static void
s_append(action_hdr_t *h, const char *s, size_t len)
{
    if (h->len + len + 1 > h->cap) {
        h->cap = (h->len + len + 1) * 2;
        h->text = sl_xrealloc(h->text, h->cap);
    }
    memcpy(h->text + h->len, s, len);
    h->len += len;
    h->text[h->len] = '\0';
}

void
action_hdr_add(action_hdr_t *h, const char *name, const char *value, const char *eol)
{
    size_t nlen = strlen(name), room = ACTION_HEADER_LINE_MAX - nlen - 2, vlen = strlen(value);
    if (vlen > room)
        vlen = room;
    s_append(h, name, nlen);
    s_append(h, ": ", 2);
    for (size_t i = 0; i < vlen; i++) {
        char c = value[i];
        if ((unsigned char)c < ' ' || c == 0x7f)
            c = ' ';
        s_append(h, &c, 1);
    }
    s_append(h, eol, strlen(eol));
}

void
action_hdr_add_folded(action_hdr_t *h, const char *name, const char *words, const char *eol)
{
    size_t col = strlen(name) + 1;
    s_append(h, name, strlen(name));
    s_append(h, ":", 1);
    const char *p = words;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " ");
        if (w == 0)
            break;
        if (w > ACTION_HEADER_LINE_MAX - 2)
            w = ACTION_HEADER_LINE_MAX - 2; /* one absurd word still fits a line */
        if (col > 1 + strlen(name) && col + 1 + w > ACTION_FOLD_AT) {
            s_append(h, eol, strlen(eol));
            s_append(h, "\t", 1);
            col = 1;
        } else {
            s_append(h, " ", 1);
            col++;
        }
        for (size_t i = 0; i < w; i++) {
            char c = (unsigned char)p[i] < ' ' || p[i] == 0x7f ? '?' : p[i];
            s_append(h, &c, 1);
        }
        col += w;
        p += strcspn(p, " ");
    }
    s_append(h, eol, strlen(eol));
}

void
action_hdr_free(action_hdr_t *h)
{
    free(h->text);
    memset(h, 0, sizeof *h);
}

size_t
action_compose(const action_hdr_t *added, sl_slice_t msg, const char *tag_sp, sl_slice_t out[4])
{
    size_t n = 0;
    if (added->len)
        out[n++] = (sl_slice_t){.ptr = added->text, .len = added->len};
    long at = tag_sp && tag_sp[0] ? action_subject_at(msg) : -1;
    if (at < 0) {
        out[n++] = msg;
        return n;
    }
    out[n++] = (sl_slice_t){.ptr = msg.ptr, .len = (size_t)at};
    out[n++] = (sl_slice_t){.ptr = tag_sp, .len = strlen(tag_sp)};
    out[n++] = (sl_slice_t){.ptr = msg.ptr + at, .len = msg.len - (size_t)at};
    return n;
}
