/*
 * tests/unit/test_sl_batch.c - splitting JOBS and DONES messages: good, bad and hostile counts.
 */
#include "sl_batch.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_FRAMES_MAX 256

/* s_frames - an sl_frames_t from a '|'-separated text ("SLW1|DONES|1|2|id|v"). */
static void
s_frames(sl_frames_t *fr, const char *text)
{
    *fr = (sl_frames_t){.frames = calloc(S_FRAMES_MAX, sizeof(zmq_msg_t)), .cap = S_FRAMES_MAX};
    assert_non_null(fr->frames);
    const char *p = text;
    for (;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t) (bar - p) : strlen(p);
        assert_true(fr->count < S_FRAMES_MAX);
        zmq_msg_init_size(&fr->frames[fr->count], len);
        memcpy(zmq_msg_data(&fr->frames[fr->count]), p, len);
        fr->count++;
        if (bar == NULL)
            break;
        p = bar + 1;
    }
}

static const struct {
    const char *label, *frames;
    size_t min;
    int n;             /* entries, or -1 */
    size_t want[3][2]; /* first, count of the first entries */
} cases[] = {
    {"one answer", "SLW1|DONES|1|2|id|v", 2, 1, {{4, 2}}},
    {"two answers, parts", "SLW1|DONES|2|3|id|v|p|2|id|v", 2, 2, {{4, 3}, {8, 2}}},
    {"three jobs", "SLW1|JOBS|3|4|j|c|e|env|5|j|c|body|env|b|4|j|c|e|env", 4, 3,
     {{4, 4}, {9, 5}, {15, 4}}},
    {"count missing", "SLW1|DONES", 2, -1, {{0}}},
    {"count zero", "SLW1|DONES|0", 2, -1, {{0}}},
    {"count 65", "SLW1|DONES|65|2|id|v", 2, -1, {{0}}},
    {"count signed", "SLW1|DONES|+1|2|id|v", 2, -1, {{0}}},
    {"count empty", "SLW1|DONES||2|id|v", 2, -1, {{0}}},
    {"count huge", "SLW1|DONES|99999999999|2|id|v", 2, -1, {{0}}},
    {"fewer entries than count", "SLW1|DONES|2|2|id|v", 2, -1, {{0}}},
    {"entry too small", "SLW1|DONES|1|1|id", 2, -1, {{0}}},
    {"entry past the end", "SLW1|DONES|1|3|id|v", 2, -1, {{0}}},
    {"entry count not a number", "SLW1|DONES|1|2x|id|v", 2, -1, {{0}}},
    {"trailing frame", "SLW1|DONES|1|2|id|v|extra", 2, -1, {{0}}},
    {"job with too few frames", "SLW1|JOBS|1|3|j|c|e", 4, -1, {{0}}},
    {"entry count huge", "SLW1|DONES|1|999999999|id|v", 2, -1, {{0}}},
};

static void
test_split(void **state)
{
    (void) state;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sl_frames_t fr;
        s_frames(&fr, cases[c].frames);
        sl_batch_entry_t out[SL_BATCH_MAX];
        const char *why = NULL;
        int n = sl_batch_split(&fr, 2, cases[c].min, out, &why);
        if (n != cases[c].n)
            fail_msg("%s: got %d, want %d (%s)", cases[c].label, n, cases[c].n, why ? why : "");
        if (n < 0 && why == NULL)
            fail_msg("%s: no reason given", cases[c].label);
        for (int i = 0; i < n && i < 3; i++)
            if (out[i].first != cases[c].want[i][0] || out[i].count != cases[c].want[i][1])
                fail_msg("%s: entry %d is %zu+%zu", cases[c].label, i, out[i].first,
                         out[i].count);
        sl_frames_free(&fr);
    }
}

/* All 64 entries of a full batch are taken (65 is refused: see the table). */
static void
test_sixty_four(void **state)
{
    (void) state;
    char text[2048] = "SLW1|DONES|64";
    for (int i = 0; i < 64; i++)
        strcat(text, "|2|id|v");
    sl_frames_t fr;
    s_frames(&fr, text);
    sl_batch_entry_t out[SL_BATCH_MAX];
    assert_int_equal(sl_batch_split(&fr, 2, 2, out, NULL), 64);
    assert_int_equal(out[63].first, 3 + 63 * 3 + 1);
    sl_frames_free(&fr);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_sixty_four),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
