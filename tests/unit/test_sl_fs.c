/*
 * tests/unit/test_sl_fs.c - mkdir -p, directory fsync, complete writes, bounded reads.
 */
#include "sl_fs.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
test_mkdirs(void **state)
{
    (void) state;
    char base[] = "/tmp/sl_fs_XXXXXX";
    assert_non_null(mkdtemp(base));
    char deep[256], file[256];
    snprintf(deep, sizeof deep, "%s/a/b/c", base);
    assert_int_equal(sl_fs_mkdirs(deep, 0750), 0);        /* missing parents made */
    struct stat st;
    assert_int_equal(stat(deep, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(sl_fs_mkdirs(deep, 0750), 0);        /* existing: fine */
    snprintf(file, sizeof file, "%s/a/file", base);
    int fd = open(file, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    /* complete writes, then the directory made durable */
    static char big[1 << 20];
    memset(big, 'x', sizeof big);
    assert_int_equal(sl_fs_write_all(fd, big, sizeof big), 0);
    close(fd);
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_size, (off_t) sizeof big);
    assert_int_equal(sl_fs_fsync_dir(deep), 0);
    /* a file in the way is refused, as is a directory that cannot exist */
    assert_int_equal(sl_fs_mkdirs(file, 0750), -1);
    assert_int_equal(sl_fs_fsync_dir(file), -1);
    assert_int_equal(sl_fs_write_all(-1, "x", 1), -1);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    assert_int_equal(system(cmd), 0);
}

static void
test_read_file(void **state)
{
    (void) state;
    char base[] = "/tmp/sl_fs_XXXXXX";
    assert_non_null(mkdtemp(base));
    char file[256], missing[256];
    snprintf(file, sizeof file, "%s/msg.eml", base);
    snprintf(missing, sizeof missing, "%s/gone.eml", base);
    static const char body[] = "Subject: hi\r\n\r\nbody\0with a NUL\r\n";
    int fd = open(file, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(sl_fs_write_all(fd, body, sizeof body - 1), 0);
    close(fd);
    /* the whole file, NUL-terminated, embedded NUL kept; exactly MAX is allowed */
    size_t len = 0;
    char *got = sl_fs_read_file(file, sizeof body - 1, &len);
    assert_non_null(got);
    assert_int_equal(len, sizeof body - 1);
    assert_memory_equal(got, body, len);
    assert_int_equal(got[len], '\0');
    free(got);
    /* one byte over MAX: EFBIG, *len untouched */
    len = 7;
    errno = 0;
    assert_null(sl_fs_read_file(file, sizeof body - 2, &len));
    assert_int_equal(errno, EFBIG);
    assert_int_equal(len, 7);
    /* missing: ENOENT; a directory is not a regular file */
    errno = 0;
    assert_null(sl_fs_read_file(missing, 1 << 20, &len));
    assert_int_equal(errno, ENOENT);
    errno = 0;
    assert_null(sl_fs_read_file(base, 1 << 20, &len));
    assert_int_equal(errno, EINVAL);
    /* an empty file is an empty string */
    fd = open(missing, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    close(fd);
    got = sl_fs_read_file(missing, 0, &len);
    assert_non_null(got);
    assert_int_equal(len, 0);
    assert_string_equal(got, "");
    free(got);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", base);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_mkdirs),
                                       cmocka_unit_test(test_read_file)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
