/*
 * lib/sl_log.h - one event, one line, key=value, queue id first.
 *
 * Lines go to stderr as "TIME PROGRAM[PID]: ID: text". The supervisor passes
 * its children's stderr through, so one terminal or journal shows them all.
 * Peer text goes through sl_log_str (non-printable bytes replaced, capped).
 */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stddef.h>

typedef enum { SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR } sl_log_level_t;

/* sl_log_open - names the program in every line and sets the lowest level shown. */
void sl_log_open(const char *program, sl_log_level_t level);
/* sl_log_level_parse - "debug", "info", "warn", "error"; -1 when unknown. */
int sl_log_level_parse(const char *name);
/* sl_log_set_level - changes the lowest level shown. */
void sl_log_set_level(sl_log_level_t level);

/* ID is the queue or connection id the line is about, or NULL. */
void sl_log_debug(const char *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sl_log_info(const char *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sl_log_warn(const char *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sl_log_error(const char *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* sl_log_str - printable copy of untrusted bytes for a log line: non-printable
 * bytes and quotes become '?', the copy is cut at size-1 bytes with "..." marking
 * the cut. Returns BUF. */
const char *sl_log_str(const char *p, size_t len, char *buf, size_t size);

#endif
