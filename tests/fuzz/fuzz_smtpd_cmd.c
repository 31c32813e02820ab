/*
 * tests/fuzz/fuzz_smtpd_cmd.c - the SMTP command parser, line reader and DATA
 * decoder on arbitrary bytes.
 *
 * The input is split into lines by smtpd_line exactly as a session does; each
 * line goes through smtpd_cmd_parse and, by verb, the MAIL/RCPT/HELO/BDAT
 * parsers; the whole input also goes through the DATA and BDAT decoders in
 * two pieces. Results must point inside the input (ASan checks the rest).
 * Seeds: tests/fuzz/corpus/smtpd_cmd/
 */
#include "smtpd_cmd.h"
#include "smtpd_data.h"
#include "smtpd_line.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* s_assert - kept in every build type (NDEBUG would drop assert). */
#define s_assert(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static void
s_inside(sl_slice_t s, const char *base, size_t size)
{
    if (s.len > 0)
        s_assert(s.ptr >= base && s.ptr + s.len <= base + size);
}

static void
s_line(const char *p, size_t len, const char *base, size_t size)
{
    smtpd_cmd_t cmd;
    smtpd_path_t path;
    sl_slice_t dom;
    const char *why;
    uint64_t n;
    bool last;
    if (smtpd_cmd_parse(p, len, &cmd, &why) != 0) {
        s_assert(why && why[0] == '5');
        return;
    }
    s_inside(cmd.arg, base, size);
    switch (cmd.verb) {
    case SMTPD_CMD_MAIL:
        if (smtpd_cmd_mail(cmd.arg, true, &path, &why) == 0) {
            s_inside(path.addr, base, size);
            s_inside(path.local, base, size);
            s_inside(path.domain, base, size);
            s_assert(path.addr.len <= SL_SMTP_PATH_MAX);
        }
        smtpd_cmd_mail(cmd.arg, false, &path, &why);
        break;
    case SMTPD_CMD_RCPT:
        if (smtpd_cmd_rcpt(cmd.arg, true, &path, &why) == 0)
            s_inside(path.addr, base, size);
        break;
    case SMTPD_CMD_HELO:
    case SMTPD_CMD_EHLO:
        if (smtpd_cmd_helo(cmd.arg, &dom, &why) == 0)
            s_inside(dom, base, size);
        break;
    case SMTPD_CMD_BDAT:
        smtpd_cmd_bdat(cmd.arg, &n, &last, &why);
        break;
    default:
        break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *base = (const char *)data;
    smtpd_line_t lr = {0};
    size_t at = 0;
    while (at < size) {
        size_t used, len;
        smtpd_line_status_t st =
            smtpd_line_next(&lr, base + at, size - at, SL_SMTP_CMD_MAX, &used, &len);
        s_assert(used <= size - at);
        if (st == SMTPD_LINE_OK) {
            s_assert(len + 2 <= SL_SMTP_CMD_MAX);
            s_line(base + at, len, base, size);
        }
        if (used == 0)
            break;
        at += used;
    }
    smtpd_data_t d = {
        .line_max = 998, .header_lines_max = 50, .header_bytes_max = 4096, .size_max = 1 << 20};
    for (int dot = 0; dot < 2; dot++) {
        smtpd_data_begin(&d, dot);
        size_t half = size / 2;
        size_t used = smtpd_data_feed(&d, base, half);
        s_assert(used <= half);
        if (!d.done)
            used += smtpd_data_feed(&d, base + half, size - half);
        s_assert(used <= size);
        if (!dot)
            smtpd_data_finish(&d);
        s_assert(d.len <= d.size);
        smtpd_data_reply(&d);
    }
    smtpd_data_reset(&d);
    return 0;
}
