/*
 * stages/action/action_msg.h - the delivered bytes: added headers, subject tag, header values.
 *
 * The byte-identical rule: a delivered message is the original bytes with
 * only added header lines at the top, and, when tagging with a subject
 * prefix, the prefix inserted after "Subject:". Nothing else is touched:
 * no line ending is rewritten, no header removed or re-folded.
 * The message is untrusted: every scan here is bounded by its length.
 * Tests: tests/unit/test_action_msg.c
 */
#ifndef ACTION_MSG_H
#define ACTION_MSG_H

#include "sl_mem.h"

#include <stdbool.h>
#include <stddef.h>

#define ACTION_HEADER_LINE_MAX 998 /* RFC 5322 2.1.1: a line is at most 998 octets */
#define ACTION_FOLD_AT 76          /* fold our own headers before this column */

/* action_eol - the message's line ending: "\r\n" when its first line ends in
 * CRLF (or there is no line at all), else "\n". Added lines use the same. */
const char *action_eol(sl_slice_t msg);

/* action_header_value - the first header NAME of the header block, unfolded
 * (CR/LF dropped, runs of white space kept), leading white space trimmed,
 * non-printable bytes replaced by '?', cut to SIZE-1 bytes. Returns true
 * when the header exists. */
bool action_header_value(sl_slice_t msg, const char *name, char *out, size_t size);

/* action_subject_at - offset just after "Subject:" and one following space or
 * tab of the first Subject header, or -1 when there is none in the header block. */
long action_subject_at(sl_slice_t msg);

/* action_hdr_t - a growing text of header lines we add. */
typedef struct {
    char *text; /* NUL-terminated (owned) */
    size_t len; /* bytes */
    size_t cap; /* allocated */
} action_hdr_t;

/* action_hdr_add - appends "NAME: VALUE" + EOL; VALUE's CR, LF and other
 * control bytes become spaces and it is cut so that the line fits 998 octets. */
void action_hdr_add(action_hdr_t *h, const char *name, const char *value, const char *eol);
/* action_hdr_add_folded - appends "NAME: w1 w2 ..." folding between WORDS
 * (space-separated) before ACTION_FOLD_AT columns with EOL + tab. */
void action_hdr_add_folded(action_hdr_t *h, const char *name, const char *words, const char *eol);
void action_hdr_free(action_hdr_t *h);

/* action_compose - the slices of the delivered message: ADDED header text,
 * then MSG, with TAG + " " inserted after "Subject:" when TAG is not empty
 * (a "Subject: TAG" line is added instead when the message has none; the
 * caller passes that in ADDED via action_hdr_add). Fills OUT (room for 4)
 * and returns the count. Slices borrow from ADDED, MSG and TAG_SP (TAG plus
 * one space, owned by the caller). */
size_t action_compose(const action_hdr_t *added, sl_slice_t msg, const char *tag_sp,
                      sl_slice_t out[4]);

#endif
