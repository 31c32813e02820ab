/*
 * tests/unit/test_sl_bodyfile.c - body file references: parse (good, bad and
 * hostile texts), format round trip, open/read/map against a real file.
 */
#include "sl_bodyfile.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *text;
    int ok;
    unsigned long long offset, length;
} s_cases[] = {
    {"0 10 /var/spool/sluice/ABC", 1, 0, 10},
    {"20 0 /x", 1, 20, 0},
    {"9999999999999999999 0 /x", 1, 9999999999999999999ull, 0},
    {"", 0, 0, 0},
    {"0 10", 0, 0, 0},
    {"0 10 ", 0, 0, 0},
    {"0 10 relative", 0, 0, 0},
    {"0  10 /x", 0, 0, 0},
    {" 0 10 /x", 0, 0, 0},
    {"-1 10 /x", 0, 0, 0},
    {"0x10 10 /x", 0, 0, 0},
    {"10000000000000000000 1 /x", 0, 0, 0},   /* 20 digits */
    {"18446744073709551615 1 /x", 0, 0, 0},   /* 20 digits too */
    {"9223372036854775807 9223372036854775807 /x", 1, 9223372036854775807ull,
     9223372036854775807ull},                 /* sums under 2^64: open refuses it */
    {"9999999999999999999 9999999999999999999 /x", 0, 0, 0}, /* sum over 2^64 */
    {"0 10 /a/../etc/passwd", 0, 0, 0},
    {"0 10 /a/..", 0, 0, 0},
    {"0 10 /a/..b", 1, 0, 10},
};

static void
test_parse(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        sl_bodyfile_ref_t ref;
        const char *why = NULL;
        int rc = sl_bodyfile_parse(s_cases[i].text, strlen(s_cases[i].text), &ref, &why);
        if (rc != (s_cases[i].ok ? 0 : -1))
            fail_msg("case %zu \"%s\": rc %d (%s)", i, s_cases[i].text, rc, why ? why : "");
        if (s_cases[i].ok) {
            assert_true(ref.offset == s_cases[i].offset);
            assert_true(ref.length == s_cases[i].length);
            assert_int_equal(ref.path[0], '/');
        } else {
            assert_non_null(why);
        }
    }
}

static void
test_hostile_bytes(void **state)
{
    (void) state;
    sl_bodyfile_ref_t ref;
    const char nul[] = "0 1 /a\0b";
    assert_int_equal(sl_bodyfile_parse(nul, sizeof nul - 1, &ref, NULL), -1);
    char *big = malloc(SL_BODYFILE_REF_MAX + 2);
    assert_non_null(big);
    memset(big, 'a', SL_BODYFILE_REF_MAX + 1);
    memcpy(big, "0 1 /", 5);
    assert_int_equal(sl_bodyfile_parse(big, SL_BODYFILE_REF_MAX + 1, &ref, NULL), -1);
    /* a path one byte over SL_BODYFILE_PATH_MAX */
    size_t n = 4 + SL_BODYFILE_PATH_MAX + 1;
    assert_int_equal(sl_bodyfile_parse(big, n, &ref, NULL), -1);
    assert_int_equal(sl_bodyfile_parse(big, n - 1, &ref, NULL), 0);
    assert_int_equal(strlen(ref.path), SL_BODYFILE_PATH_MAX);
    free(big);
}

static void
test_format_round_trip(void **state)
{
    (void) state;
    sl_bodyfile_ref_t ref = {.offset = 20, .length = 12345}, back;
    strcpy(ref.path, "/var/spool/sluice/0123456789AB");
    char text[SL_BODYFILE_REF_MAX + 1];
    int n = sl_bodyfile_format(&ref, text, sizeof text);
    assert_true(n > 0);
    assert_string_equal(text, "20 12345 /var/spool/sluice/0123456789AB");
    assert_int_equal(sl_bodyfile_parse(text, (size_t) n, &back, NULL), 0);
    assert_true(back.offset == 20 && back.length == 12345);
    assert_string_equal(back.path, ref.path);
    assert_int_equal(sl_bodyfile_format(&ref, text, 10), -1);
    strcpy(ref.path, "relative");
    assert_int_equal(sl_bodyfile_format(&ref, text, sizeof text), -1);
}

/* s_temp_file - a new file under /tmp (a name of this process's, created
 * exclusively) holding LEN bytes of DATA; its path in PATH. */
static void
s_temp_file(const void *data, size_t len, char *path, size_t size)
{
    static unsigned serial;
    snprintf(path, size, "/tmp/sl-bodyfile-%ld-%u", (long) getpid(), serial++);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_true(write(fd, data, len) == (ssize_t) len);
    close(fd);
}

static void
test_open_read_map(void **state)
{
    (void) state;
    /* 5000 bytes of head (the range starts past a page), the body, a tail */
    static char data[5000 + 26 + 3];
    memset(data, 'H', 5000);
    memcpy(data + 5000, "abcdefghijklmnopqrstuvwxyz", 26);
    memcpy(data + 5026, "TTT", 3);
    char path[64];
    s_temp_file(data, sizeof data, path, sizeof path);
    int fd;

    sl_bodyfile_ref_t ref = {.offset = 5000, .length = 26};
    strcpy(ref.path, path);
    const char *why = NULL;
    fd = sl_bodyfile_open(&ref, &why);
    assert_true(fd >= 0);
    char buf[26];
    assert_int_equal(sl_bodyfile_read(fd, &ref, buf, &why), 0);
    assert_memory_equal(buf, "abcdefghijklmnopqrstuvwxyz", 26);
    close(fd);

    sl_bodyfile_map_t map;
    assert_int_equal(sl_bodyfile_map(&ref, 1 << 20, &map, &why), 0);
    assert_int_equal(map.len, 26);
    assert_memory_equal(map.data, "abcdefghijklmnopqrstuvwxyz", 26);
    unlink(path); /* the mapping outlives the name */
    assert_memory_equal(map.data, "abcdefghijklmnopqrstuvwxyz", 26);
    sl_bodyfile_unmap(&map);
    assert_null(map.base);

    /* gone, past the end, over the caller's limit, not a regular file */
    assert_int_equal(sl_bodyfile_open(&ref, &why), -1);
    assert_string_equal(why, "body file: no such file");
    s_temp_file(data, 100, path, sizeof path); /* a short file */
    strcpy(ref.path, path);
    assert_int_equal(sl_bodyfile_map(&ref, 1 << 20, &map, &why), -1);
    assert_string_equal(why, "body file: range past the end of the file");
    ref.offset = 0;
    assert_int_equal(sl_bodyfile_map(&ref, 10, &map, &why), -1);
    assert_string_equal(why, "body file: range larger than a body may be");
    ref.length = 0;
    assert_int_equal(sl_bodyfile_map(&ref, 10, &map, &why), 0);
    assert_int_equal(map.len, 0);
    sl_bodyfile_unmap(&map);
    unlink(path);
    strcpy(ref.path, "/tmp");
    assert_int_equal(sl_bodyfile_open(&ref, &why), -1);
    assert_string_equal(why, "body file: not a regular file");
    ref.offset = UINT64_MAX - 5; /* overflow guard: offset + length stays in range */
    ref.length = 5;
    strcpy(ref.path, "/dev/null");
    assert_int_equal(sl_bodyfile_open(&ref, &why), -1);
}

/* Past SL_BODYFILE_READ_MAX the range is mapped, from an offset that is not
 * page-aligned, and stays readable after the file is unlinked. */
static void
test_large_range_is_mapped(void **state)
{
    (void) state;
    size_t head = 4099, len = SL_BODYFILE_READ_MAX + 12345;
    char *data = malloc(head + len);
    assert_non_null(data);
    for (size_t i = 0; i < head + len; i++)
        data[i] = (char) (i * 7 + i / 4096);
    char path[64];
    s_temp_file(data, head + len, path, sizeof path);
    sl_bodyfile_ref_t ref = {.offset = head, .length = len};
    strcpy(ref.path, path);
    sl_bodyfile_map_t map;
    const char *why = NULL;
    assert_int_equal(sl_bodyfile_map(&ref, SIZE_MAX, &map, &why), 0);
    assert_non_null(map.base); /* mapped, not read */
    assert_int_equal(map.len, len);
    unlink(path);
    assert_memory_equal(map.data, data + head, len);
    sl_bodyfile_unmap(&map);
    assert_null(map.base);
    free(data);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_hostile_bytes),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_open_read_map),
        cmocka_unit_test(test_large_range_is_mapped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
