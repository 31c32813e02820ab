/*
 * lib/sl_text.h - scanning untrusted bytes that are not NUL-terminated.
 *
 * Every function here takes a pointer and a length and reads nothing past
 * the length: message bodies arrive as slices of a frame or of a read buffer,
 * and the byte after the last one belongs to somebody else.
 * Tests: tests/unit/test_sl_text.c
 */
#ifndef SL_TEXT_H
#define SL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* sl_text_casestarts - true when the LEN bytes at P begin with the
 * NUL-terminated LIT, ASCII letters compared without case. */
bool sl_text_casestarts(const void *p, size_t len, const char *lit);

/* sl_mime_containers - how often "multipart/" or "message/" (any case) occurs
 * in the LEN bytes at P: a bound on the nesting a MIME parser would meet,
 * counted before a recursive parser (GMime) is given the bytes. */
size_t sl_mime_containers(const void *p, size_t len);

#endif
