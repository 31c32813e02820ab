/*
 * lib/sl_text.c - scanning untrusted bytes that are not NUL-terminated.
 *
 * Tests: tests/unit/test_sl_text.c; found by fuzz_score_rules (the copy of
 * sl_mime_containers in the score stage read two bytes past a body ending
 * in "multipar").
 */
#include "sl_text.h"

#include <string.h>

static unsigned char
s_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

bool
sl_text_casestarts(const void *p, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    if (n > len)
        return false;
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (s_lower(b[i]) != s_lower((unsigned char)lit[i]))
            return false;
    return true;
}

size_t
sl_mime_containers(const void *p, size_t len)
{
    const unsigned char *b = p;
    size_t n = 0;
    for (size_t i = 0; i + 8 <= len; i++) {
        if ((b[i] | 0x20) != 'm')
            continue;
        if (sl_text_casestarts(b + i, len - i, "multipart/") ||
            sl_text_casestarts(b + i, len - i, "message/"))
            n++;
    }
    return n;
}
