/*
 * smtpd/smtpd_limit.h - per-client-IP connection limits: at once and per minute.
 *
 * A small hash table keyed by the client address text. The rate is a
 * sliding estimate over two fixed one-minute windows (the previous window
 * weighted by how much of it still overlaps), as nginx's limit_req does.
 * Time is passed in, so tests need no clock.
 * Tests: tests/unit/test_smtpd_limit.c
 */
#ifndef SMTPD_LIMIT_H
#define SMTPD_LIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef struct smtpd_limit smtpd_limit_t;

typedef enum {
    SMTPD_LIMIT_OK,
    SMTPD_LIMIT_CONCURRENT, /* 421 4.7.0 too many connections from your address */
    SMTPD_LIMIT_RATE,       /* 421 4.7.0 too many connections per minute */
} smtpd_limit_result_t;

/* smtpd_limit_new - CONCURRENT connections at once, RATE new ones per minute, per IP. */
smtpd_limit_t *smtpd_limit_new(size_t concurrent, size_t rate);
void smtpd_limit_destroy(smtpd_limit_t **self_p);
/* smtpd_limit_enter - counts a new connection from IP at NOW_MS; when it is
 * refused nothing is held and smtpd_limit_leave must not be called. */
smtpd_limit_result_t smtpd_limit_enter(smtpd_limit_t *self, const char *ip, uint64_t now_ms);
/* smtpd_limit_leave - the connection from IP ended. */
void smtpd_limit_leave(smtpd_limit_t *self, const char *ip);
/* smtpd_limit_sweep - forgets idle addresses; returns addresses still tracked. */
size_t smtpd_limit_sweep(smtpd_limit_t *self, uint64_t now_ms);

#endif
