/*
 * lib/sl_cidr.c - IPv4 and IPv6 addresses and networks: parse, match, truncate.
 *
 * inet_pton does the parsing (it refuses leading zeros, zones and trailing
 * junk); the prefix length is read here digit by digit. Lists are scanned
 * linearly: local lists hold tens of networks, provider lists a few thousand,
 * checked once per connection or recipient.
 * Tests: tests/unit/test_sl_cidr.c
 */
#include "sl_cidr.h"
#include "sl_mem.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t s_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int
sl_ip_parse(const char *text, sl_ip_t *out)
{
    assert(out);
    memset(out, 0, sizeof *out);
    if (text == NULL || strnlen(text, SL_CIDR_TEXT_MAX) == SL_CIDR_TEXT_MAX)
        return -1;
    if (inet_pton(AF_INET, text, out->addr) == 1)
        return 0;
    uint8_t v6[16];
    if (inet_pton(AF_INET6, text, v6) != 1)
        return -1;
    if (memcmp(v6, s_mapped, sizeof s_mapped) == 0) {
        memcpy(out->addr, v6 + 12, 4);
        return 0;
    }
    memcpy(out->addr, v6, 16);
    out->v6 = true;
    return 0;
}

int
sl_ip_format(const sl_ip_t *ip, char *out, size_t size)
{
    char buf[INET6_ADDRSTRLEN];
    if (inet_ntop(ip->v6 ? AF_INET6 : AF_INET, ip->addr, buf, sizeof buf) == NULL)
        return -1;
    return sl_strlcpy(out, buf, size) < size ? 0 : -1;
}

/* s_mask - clears every bit of ADDR after the first BITS. */
static void
s_mask(uint8_t *addr, size_t bytes, unsigned bits)
{
    for (size_t i = 0; i < bytes; i++) {
        unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * (unsigned)i : 0;
        addr[i] &= (uint8_t)(0xff00u >> keep);
    }
}

int
sl_ip_network(const sl_ip_t *ip, unsigned bits, char *out, size_t size)
{
    sl_ip_t net = *ip;
    unsigned max = ip->v6 ? 128 : 32;
    if (bits > max)
        bits = max;
    s_mask(net.addr, ip->v6 ? 16 : 4, bits);
    char addr[INET6_ADDRSTRLEN];
    if (sl_ip_format(&net, addr, sizeof addr) != 0)
        return -1;
    int w = snprintf(out, size, "%s/%u", addr, bits);
    return w > 0 && (size_t)w < size ? 0 : -1;
}

int
sl_cidr_parse(const char *text, sl_cidr_t *out, const char **why)
{
    assert(out);
    memset(out, 0, sizeof *out);
    size_t len = text ? strnlen(text, SL_CIDR_TEXT_MAX) : 0;
    if (len == 0 || len == SL_CIDR_TEXT_MAX)
        return sl_fail(why, "network is empty or too long");
    char addr[SL_CIDR_TEXT_MAX];
    const char *slash = memchr(text, '/', len);
    size_t alen = slash ? (size_t)(slash - text) : len;
    memcpy(addr, text, alen);
    addr[alen] = '\0';
    if (sl_ip_parse(addr, &out->net) != 0)
        return sl_fail(why, "not an IPv4 or IPv6 address");
    unsigned max = out->net.v6 ? 128 : 32;
    /* An IPv4-mapped network (::ffff:192.0.2.0/120) counts its prefix in IPv6 bits. */
    bool mapped = !out->net.v6 && strchr(addr, ':') != NULL;
    unsigned bits = max;
    if (slash) {
        const char *p = slash + 1;
        size_t n = len - alen - 1;
        if (n == 0 || n > 3)
            return sl_fail(why, "prefix length is not a number");
        bits = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[i] < '0' || p[i] > '9')
                return sl_fail(why, "prefix length is not a number");
            bits = bits * 10 + (unsigned)(p[i] - '0');
        }
        if (mapped) {
            if (bits < 96 || bits > 128)
                return sl_fail(why, "prefix length out of range for an IPv4-mapped network");
            bits -= 96;
        }
        if (bits > max)
            return sl_fail(why, "prefix length out of range");
    }
    sl_ip_t masked = out->net;
    s_mask(masked.addr, max / 8, bits);
    if (memcmp(masked.addr, out->net.addr, sizeof masked.addr) != 0)
        return sl_fail(why, "address has bits set after the prefix length");
    out->bits = (uint8_t)bits;
    return 0;
}

bool
sl_cidr_contains(const sl_cidr_t *net, const sl_ip_t *ip)
{
    if (net->net.v6 != ip->v6)
        return false;
    sl_ip_t masked = *ip;
    s_mask(masked.addr, ip->v6 ? 16 : 4, net->bits);
    return memcmp(masked.addr, net->net.addr, ip->v6 ? 16 : 4) == 0;
}

int
sl_cidr_list_add(sl_cidr_list_t *list, const char *text, const char **why)
{
    sl_cidr_t net;
    if (sl_cidr_parse(text, &net, why) != 0)
        return -1;
    if (list->count == SL_CIDR_LIST_MAX)
        return sl_fail(why, "too many networks in one list");
    if (list->count == list->cap) {
        list->cap = list->cap ? list->cap * 2 : 16;
        list->nets = sl_xrealloc(list->nets, list->cap * sizeof *list->nets);
    }
    list->nets[list->count++] = net;
    return 0;
}

int
sl_cidr_list_load(sl_cidr_list_t *list, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[256];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, " \t\r\n#");
        if (n == 0)
            continue;
        p[n] = '\0';
        const char *why = NULL;
        if (sl_cidr_list_add(list, p, &why) != 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

bool
sl_cidr_list_contains(const sl_cidr_list_t *list, const sl_ip_t *ip)
{
    for (size_t i = 0; i < list->count; i++)
        if (sl_cidr_contains(&list->nets[i], ip))
            return true;
    return false;
}

void
sl_cidr_list_clear(sl_cidr_list_t *list)
{
    free(list->nets);
    memset(list, 0, sizeof *list);
}
