/*
 * lib/sl_cfg_get.c - typed getters over the sl_cfg tree, and key checks.
 *
 * Getters never guess: numbers are decimal, without '+', leading zeros or
 * overflow; units are spelled out (5s, 64M); booleans are six words. A value
 * of the wrong type or range becomes one "file:line: key.path: expected X,
 * found Y" error and the default is returned, so a loader reads every key and
 * reports every mistake in one pass. Uses only the public sl_cfg.h API.
 * Tests: tests/unit/test_sl_cfg.c, tests/fuzz/fuzz_sl_cfg.c
 */
#include "sl_cfg.h"
#include "sl_mem.h"

#include <assert.h>
#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* s_value - the value a getter reads: NULL when MAP is absent or not a map,
 * or the key is absent. */
static const sl_cfg_node_t *
s_value(const sl_cfg_node_t *map, const char *key)
{
    assert(key);
    if (map == NULL || sl_cfg_kind(map) != SL_CFG_MAP)
        return NULL;
    return sl_cfg_get(map, key);
}

/* s_text - scalar text of NODE, or NULL for maps, sequences and null. */
static const char *
s_text(const sl_cfg_node_t *node)
{
    if (sl_cfg_is_null(node))
        return NULL;
    return sl_cfg_scalar(node);
}

const char *
sl_cfg_get_str(sl_cfg_t *self, const sl_cfg_node_t *map, const char *key, const char *def)
{
    assert(self);
    const sl_cfg_node_t *node = s_value(map, key);
    if (node == NULL)
        return def;
    const char *text = s_text(node);
    if (text == NULL) {
        sl_cfg_expected(self, node, "a string");
        return def;
    }
    return text;
}

/* s_digits - a decimal number of at least one digit, no sign, no leading
 * zero, no overflow; *END is set past the digits. */
static int
s_digits(const char *p, uint64_t *out, const char **end)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; p[i] >= '0' && p[i] <= '9'; i++) {
        unsigned d = (unsigned) (p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (i == 0 || (i > 1 && p[0] == '0'))
        return -1;
    *out = v;
    *end = p + i;
    return 0;
}

/* s_parse_double - "-"? digits ("." digits)? (e "-"? digits)?, finite, read in
 * the C locale whatever the process set. */
static int
s_parse_double(const char *text, double *out)
{
    const char *p = text + (text[0] == '-');
    size_t digits = strspn(p, "0123456789");
    if (digits == 0)
        return -1;
    p += digits;
    if (*p == '.') {
        digits = strspn(p + 1, "0123456789");
        if (digits == 0)
            return -1;
        p += 1 + digits;
    }
    if (*p == 'e' || *p == 'E') {
        p += 1 + (p[1] == '-' || p[1] == '+');
        digits = strspn(p, "0123456789");
        if (digits == 0)
            return -1;
        p += digits;
    }
    if (*p != '\0')
        return -1;
    locale_t c_locale = newlocale(LC_ALL_MASK, "C", (locale_t) 0);
    if (c_locale == (locale_t) 0)
        sl_panic("newlocale C: %s", strerror(errno));
    char *end;
    errno = 0;
    double v = strtod_l(text, &end, c_locale);
    int saved = errno;
    freelocale(c_locale);
    if (*end != '\0' || saved == ERANGE)
        return -1;
    *out = v;
    return 0;
}

double
sl_cfg_get_double(sl_cfg_t *self, const sl_cfg_node_t *map, const char *key, double def, double min,
                  double max)
{
    assert(self && min <= max);
    const sl_cfg_node_t *node = s_value(map, key);
    if (node == NULL)
        return def;
    const char *text = s_text(node);
    double v;
    if (text == NULL || s_parse_double(text, &v) != 0 || v < min || v > max) {
        sl_cfg_expected(self, node, "a number %g..%g", min, max);
        return def;
    }
    return v;
}

bool
sl_cfg_get_bool(sl_cfg_t *self, const sl_cfg_node_t *map, const char *key, bool def)
{
    assert(self);
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    const sl_cfg_node_t *node = s_value(map, key);
    if (node == NULL)
        return def;
    const char *text = s_text(node);
    for (size_t i = 0; text && i < 3; i++) {
        if (strcasecmp(text, yes[i]) == 0)
            return true;
        if (strcasecmp(text, no[i]) == 0)
            return false;
    }
    sl_cfg_expected(self, node, "true or false (or yes/no, on/off)");
    return def;
}

typedef struct {
    const char *suffix; /* as written after the digits; "" for the bare unit */
    int64_t factor;     /* base units per one */
} s_unit_t;

static const s_unit_t s_duration_units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {"", 1}, {NULL, 0},
};
static const s_unit_t s_int_units[] = {{"", 1}, {NULL, 0}};
/* Sizes in powers of 1024, as operators mean them for mail and frames. */
static const s_unit_t s_size_units[] = {
    {"k", 1 << 10}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"", 1}, {NULL, 0},
};

/* s_parse_scaled - "-"? digits and one suffix of UNITS, within int64. */
static int
s_parse_scaled(const char *text, const s_unit_t *units, int64_t *out)
{
    bool negative = text[0] == '-';
    uint64_t v;
    const char *end;
    if (s_digits(text + negative, &v, &end) != 0)
        return -1;
    for (const s_unit_t *u = units; u->suffix; u++) {
        if (strcmp(end, u->suffix) != 0)
            continue;
        uint64_t limit = (uint64_t) INT64_MAX + negative; /* |INT64_MIN| is one more */
        if (v > limit / (uint64_t) u->factor)
            return -1;
        v *= (uint64_t) u->factor;
        if (!negative)
            *out = (int64_t) v;
        else
            *out = v > (uint64_t) INT64_MAX ? INT64_MIN : -(int64_t) v;
        return 0;
    }
    return -1;
}

/* s_format_scaled - V in the largest unit of UNITS that divides it ("5s", "64M"). */
static const char *
s_format_scaled(int64_t v, const s_unit_t *units, char *buf, size_t size)
{
    const s_unit_t *best = NULL;
    for (const s_unit_t *u = units; v > 0 && u->suffix; u++)
        if (v % u->factor == 0 && (best == NULL || u->factor > best->factor))
            best = u;
    if (best == NULL || best->suffix[0] == '\0')
        snprintf(buf, size, "%lld", (long long) v);
    else
        snprintf(buf, size, "%lld%s", (long long) (v / best->factor), best->suffix);
    return buf;
}

static int64_t
s_get_scaled(sl_cfg_t *self, const sl_cfg_node_t *map, const char *key, int64_t def, int64_t min,
             int64_t max, const s_unit_t *units, const char *what)
{
    assert(self && min <= max);
    const sl_cfg_node_t *node = s_value(map, key);
    if (node == NULL)
        return def;
    const char *text = s_text(node);
    int64_t v;
    if (text == NULL || s_parse_scaled(text, units, &v) != 0 || v < min || v > max) {
        char low[32], high[32];
        sl_cfg_expected(self, node, "%s %s..%s", what, s_format_scaled(min, units, low, sizeof low),
                        s_format_scaled(max, units, high, sizeof high));
        return def;
    }
    return v;
}

int64_t
sl_cfg_get_int(sl_cfg_t *self, const sl_cfg_node_t *map, const char *key, int64_t def, int64_t min,
               int64_t max)
{
    return s_get_scaled(self, map, key, def, min, max, s_int_units, "a whole number");
}

int64_t
sl_cfg_get_duration_ms(sl_cfg_t *self, const sl_cfg_node_t *map, const char *key, int64_t def,
                       int64_t min, int64_t max)
{
    return s_get_scaled(self, map, key, def, min, max, s_duration_units,
                        "a duration (ms, s, m, h or d; bare = ms)");
}

int64_t
sl_cfg_get_size(sl_cfg_t *self, const sl_cfg_node_t *map, const char *key, int64_t def, int64_t min,
                int64_t max)
{
    return s_get_scaled(self, map, key, def, min, max, s_size_units,
                        "a size (k, M or G; bare = bytes)");
}

/* s_get_kind - value of KEY when it is of KIND; null reads as absent. */
static const sl_cfg_node_t *
s_get_kind(sl_cfg_t *self, const sl_cfg_node_t *map, const char *key, sl_cfg_kind_t kind)
{
    assert(self);
    const sl_cfg_node_t *node = s_value(map, key);
    if (node == NULL || sl_cfg_is_null(node))
        return NULL;
    if (sl_cfg_kind(node) != kind) {
        sl_cfg_expected(self, node, "%s", kind == SL_CFG_MAP ? "a map" : "a list");
        return NULL;
    }
    return node;
}

const sl_cfg_node_t *
sl_cfg_get_map(sl_cfg_t *self, const sl_cfg_node_t *map, const char *key)
{
    return s_get_kind(self, map, key, SL_CFG_MAP);
}

const sl_cfg_node_t *
sl_cfg_get_seq(sl_cfg_t *self, const sl_cfg_node_t *map, const char *key)
{
    return s_get_kind(self, map, key, SL_CFG_SEQ);
}

/* s_distance - edit distance of two short keys counting a swap of neighbours
 * as one edit (optimal string alignment), for "did you mean". */
static size_t
s_distance(const char *a, const char *b)
{
    enum { MAX = 32 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= MAX || lb >= MAX)
        return SIZE_MAX;
    size_t d[MAX + 1][MAX + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

void
sl_cfg_check_keys(sl_cfg_t *self, const sl_cfg_node_t *map, const char *const *allowed)
{
    assert(self && allowed);
    if (map == NULL || sl_cfg_kind(map) != SL_CFG_MAP)
        return;
    for (size_t i = 0; i < sl_cfg_count(map); i++) {
        const char *key = sl_cfg_key_at(map, i);
        const char *guess = NULL;
        size_t guess_distance = 3; /* a typo is at most two edits away */
        size_t j = 0;
        for (; allowed[j]; j++) {
            if (strcmp(key, allowed[j]) == 0)
                break;
            size_t d = s_distance(key, allowed[j]);
            if (d < guess_distance) {
                guess = allowed[j];
                guess_distance = d;
            }
        }
        if (allowed[j])
            continue;
        char list[512] = "", path[256], hint[96] = "";
        for (size_t len = 0, k = 0; allowed[k]; k++) {
            int n = snprintf(list + len, sizeof list - len, "%s%s", k ? ", " : "", allowed[k]);
            if (n < 0 || (size_t) n >= sizeof list - len) {
                memcpy(list + sizeof list - 4, "...", 4);
                break;
            }
            len += (size_t) n;
        }
        if (guess)
            snprintf(hint, sizeof hint, "; did you mean %s?", guess);
        /* A value's line and path are its key's. */
        const sl_cfg_node_t *value = sl_cfg_at(map, i);
        sl_cfg_error(self, value, "%s: expected one of %s, found an unknown key%s",
                     sl_cfg_node_path(value, path, sizeof path), list, hint);
    }
}
