/*
 * lib/sl_mem.c - aborting allocators, sl_strlcpy, clocks, sl_panic.
 *
 * Tests: tests/unit/test_sl_mem.c
 */
#include "sl_mem.h"
#include "sl_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
s_oom(size_t size)
{
    sl_log_error(NULL, "out of memory size=%zu", size);
    abort();
}

void *
sl_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        s_oom(size);
    return p;
}

void *
sl_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL)
        s_oom(count * size);
    return p;
}

void *
sl_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL)
        s_oom(size);
    return p;
}

char *
sl_xstrdup(const char *s)
{
    if (s == NULL)
        return NULL;
    return sl_xstrndup(s, strlen(s));
}

char *
sl_xstrndup(const char *s, size_t len)
{
    char *p = sl_xmalloc(len + 1);
    if (len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void *
sl_xmemdup(const void *p, size_t len)
{
    void *q = sl_xmalloc(len);
    if (len)
        memcpy(q, p, len);
    return q;
}

size_t
sl_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = strlen(src);
    if (size) {
        size_t c = n < size - 1 ? n : size - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

int
sl_fail(const char **why, const char *text)
{
    if (why)
        *why = text;
    return -1;
}

uint64_t
sl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

uint64_t
sl_mono_ms(void)
{
    return sl_mono_us() / 1000u;
}

uint64_t
sl_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

void
sl_panic(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    sl_log_error(NULL, "panic: %s", line);
    abort();
}
