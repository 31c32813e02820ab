/*
 * lib/sl_log.c - stderr logger shared by every process.
 *
 * One write(2) per line so that lines from several processes sharing the
 * supervisor's stderr never interleave mid-line.
 */
#include "sl_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char s_program[64] = "sluice";
static sl_log_level_t s_level = SL_LOG_INFO;

void
sl_log_open(const char *program, sl_log_level_t level)
{
    snprintf(s_program, sizeof s_program, "%s", program ? program : "sluice");
    s_level = level;
}

void
sl_log_set_level(sl_log_level_t level)
{
    s_level = level;
}

int
sl_log_level_parse(const char *name)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (name && strcasecmp(name, names[i]) == 0)
            return i;
    return -1;
}

static void s_vlog(sl_log_level_t level, const char *id, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
s_vlog(sl_log_level_t level, const char *id, const char *fmt, va_list ap)
{
    static const char *tags[] = {"debug", "info", "warn", "error"};
    if (level < s_level)
        return;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s[%d]: %s%s%s%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int) (tv.tv_usec / 1000), s_program, (int) getpid(),
                     level == SL_LOG_INFO ? "" : tags[level], level == SL_LOG_INFO ? "" : ": ",
                     id ? id : "", id ? ": " : "");
    if (n < 0 || (size_t) n >= sizeof line)
        n = 0;
    int m = vsnprintf(line + n, sizeof line - (size_t) n - 1, fmt, ap);
    size_t len = (size_t) n + (m < 0 ? 0 : (size_t) m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void) w;
}

#define S_LOG_FN(fn, level)                                                                    \
    void fn(const char *id, const char *fmt, ...)                                              \
    {                                                                                          \
        va_list ap;                                                                            \
        va_start(ap, fmt);                                                                     \
        s_vlog(level, id, fmt, ap);                                                            \
        va_end(ap);                                                                            \
    }
S_LOG_FN(sl_log_debug, SL_LOG_DEBUG)
S_LOG_FN(sl_log_info, SL_LOG_INFO)
S_LOG_FN(sl_log_warn, SL_LOG_WARN)
S_LOG_FN(sl_log_error, SL_LOG_ERROR)

const char *
sl_log_str(const char *p, size_t len, char *buf, size_t size)
{
    if (size == 0)
        return buf;
    size_t out = 0, cap = size - 1;
    int cut = len > cap;
    if (cut && cap >= 3)
        cap -= 3;
    for (size_t i = 0; i < len && out < cap; i++) {
        unsigned char c = (unsigned char) p[i];
        buf[out++] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '?' : (char) c;
    }
    if (cut && size >= 4) {
        memcpy(buf + out, "...", 3);
        out += 3;
    }
    buf[out] = '\0';
    return buf;
}
