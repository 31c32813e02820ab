/*
 * lib/sl_cidr.h - IPv4 and IPv6 addresses and networks: parse, match, truncate.
 *
 * Shared by the rbl stage (local block and allow lists) and the greylist
 * stage (allow and provider networks, the client's /24 or /64). Written as a
 * lib/ module and kept here until it moves to lib/ (greylist compiles it from
 * this folder). Addresses and networks come from config and from the
 * envelope: both are checked, never trusted; an IPv4-mapped IPv6 address
 * (::ffff:192.0.2.7) is taken as the IPv4 address it carries.
 * Tests: tests/unit/test_sl_cidr.c
 */
#ifndef SL_CIDR_H
#define SL_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_CIDR_TEXT_MAX 64     /* "ffff:...:ffff/128" with room */
#define SL_CIDR_LIST_MAX 100000 /* networks in one list (a provider list is a few thousand) */

typedef struct {
    uint8_t addr[16]; /* IPv4 in the first 4 bytes */
    bool v6;          /* family */
} sl_ip_t;

typedef struct {
    sl_ip_t net;  /* network address, host bits zero */
    uint8_t bits; /* prefix length: 0..32 or 0..128 */
} sl_cidr_t;

typedef struct {
    size_t count;    /* networks in nets */
    size_t cap;      /* allocated */
    sl_cidr_t *nets; /* owned */
} sl_cidr_list_t;

/* sl_ip_parse - "192.0.2.7" or "2001:db8::7" (no zone, no brackets); 0 or -1. */
int sl_ip_parse(const char *text, sl_ip_t *out);
/* sl_ip_format - printable address into OUT; 0, or -1 when SIZE is too small. */
int sl_ip_format(const sl_ip_t *ip, char *out, size_t size);
/* sl_ip_network - IP's network of BITS (clamped to the family) as "192.0.2.0/24". */
int sl_ip_network(const sl_ip_t *ip, unsigned bits, char *out, size_t size);

/* sl_cidr_parse - "192.0.2.0/24", "2001:db8::/32", or a bare address (a host
 * network); host bits set below the prefix are refused (a typo, usually). */
int sl_cidr_parse(const char *text, sl_cidr_t *out, const char **why);
/* sl_cidr_contains - true when IP is inside NET (families must match). */
bool sl_cidr_contains(const sl_cidr_t *net, const sl_ip_t *ip);

/* sl_cidr_list_add - parses TEXT and appends it; 0 or -1 with *why. */
int sl_cidr_list_add(sl_cidr_list_t *list, const char *text, const char **why);
/* sl_cidr_list_load - one network per line from PATH ('#' comments, blank
 * lines); 0, or -1 with a "path:line: reason" message in ERR. */
int sl_cidr_list_load(sl_cidr_list_t *list, const char *path, char *err, size_t errlen);
/* sl_cidr_list_contains - true when any network of LIST holds IP. */
bool sl_cidr_list_contains(const sl_cidr_list_t *list, const sl_ip_t *ip);
/* sl_cidr_list_clear - frees the networks; the list is empty and reusable. */
void sl_cidr_list_clear(sl_cidr_list_t *list);

#endif
