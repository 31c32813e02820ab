/*
 * lib/sl_mem.h - allocation that never returns NULL, slices, bounded strings.
 *
 * Out of memory ends the process (logged, abort): it restarts, and nothing
 * unacknowledged is lost because the spool is the truth.
 * Tests: tests/unit/test_sl_mem.c
 */
#ifndef SL_MEM_H
#define SL_MEM_H

#include <stddef.h>
#include <stdint.h>

/* A borrowed run of bytes: pointer and length, never NUL-terminated by contract. */
typedef struct {
    const char *ptr; /* first byte; may be NULL when len is 0 */
    size_t len;      /* bytes */
} sl_slice_t;

/* sl_xmalloc - malloc that aborts on failure. */
void *sl_xmalloc(size_t size);
/* sl_xcalloc - calloc that aborts on failure or overflow. */
void *sl_xcalloc(size_t count, size_t size);
/* sl_xrealloc - realloc that aborts on failure. */
void *sl_xrealloc(void *ptr, size_t size);
/* sl_xstrdup - strdup that aborts on failure; NULL in gives NULL out. */
char *sl_xstrdup(const char *s);
/* sl_xstrndup - copy of LEN bytes plus a NUL; aborts on failure. */
char *sl_xstrndup(const char *s, size_t len);
/* sl_xmemdup - copy of LEN bytes; aborts on failure. */
void *sl_xmemdup(const void *p, size_t len);

/* sl_strlcpy - BSD strlcpy: copies at most size-1 bytes, always terminates;
 * returns strlen(src) so that truncation is ret >= size. */
size_t sl_strlcpy(char *dst, const char *src, size_t size);

/* sl_fail - sets *why (when why is not NULL) to TEXT and returns -1. */
int sl_fail(const char **why, const char *text);

/* sl_now_ms - wall clock, milliseconds since the epoch. */
uint64_t sl_now_ms(void);
/* sl_mono_ms - monotonic clock in milliseconds, for timeouts. */
uint64_t sl_mono_ms(void);
/* sl_mono_us - monotonic clock in microseconds, for stage timing. */
uint64_t sl_mono_us(void);

/* sl_panic - our own bug: log and abort (dumps core). */
void sl_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
