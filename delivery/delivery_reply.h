/*
 * delivery/delivery_reply.h - SMTP replies as the delivery client reads them.
 *
 * Everything here comes from the remote server and is untrusted: a line is
 * taken as (pointer, length), a reply has at most DELIVERY_REPLY_LINES_MAX
 * lines, codes must be three digits of the RFC 5321 4.2 ranges and the same
 * on every line of a multi-line reply. The parser never allocates.
 * Tests: tests/unit/test_delivery_reply.c, tests/fuzz/fuzz_delivery_reply.c
 */
#ifndef DELIVERY_REPLY_H
#define DELIVERY_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#define DELIVERY_REPLY_LINE_MAX 2048 /* RFC 5321 4.5.3.1.5 says 512; be lenient, bounded */
#define DELIVERY_REPLY_LINES_MAX 100 /* lines in one multi-line reply (EHLO lists ~10) */
#define DELIVERY_REPLY_TEXT_MAX 512  /* reply text kept for logs, DSNs and `sluice queue` */

/* EHLO keywords the client uses. */
#define DELIVERY_EXT_PIPELINING 0x01u
#define DELIVERY_EXT_STARTTLS 0x02u
#define DELIVERY_EXT_SIZE 0x04u
#define DELIVERY_EXT_8BITMIME 0x08u
#define DELIVERY_EXT_ENHANCED 0x10u
#define DELIVERY_EXT_SMTPUTF8 0x20u

typedef struct {
    int code;                           /* 200..599 once the first line is in */
    bool done;                          /* the last line ("250 ok") has been read */
    size_t lines;                       /* lines so far */
    unsigned ext;                       /* DELIVERY_EXT_* seen in the lines (for EHLO) */
    char text[DELIVERY_REPLY_TEXT_MAX]; /* "250 2.0.0 ok" of the first line, printable */
} delivery_reply_t;

/* delivery_reply_init - an empty reply to feed lines into. */
void delivery_reply_init(delivery_reply_t *reply);

/* delivery_reply_feed - one line (without CR LF) of a reply. 0 with
 * reply->done set after the last line, or -1 with *why for a malformed
 * line (no code, code out of range, code changing mid-reply, too many lines,
 * a NUL byte): the caller drops the connection and defers. */
int delivery_reply_feed(delivery_reply_t *reply, const char *line, size_t len, const char **why);

/* delivery_reply_class - 2, 3, 4 or 5 (the first digit); 0 when not done. */
int delivery_reply_class(const delivery_reply_t *reply);

#endif
