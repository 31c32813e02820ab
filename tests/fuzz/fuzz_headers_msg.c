/*
 * tests/fuzz/fuzz_headers_msg.c - the headers stage's message parsers on any bytes.
 *
 * Every input is split as a message; every field is parsed as a From value
 * and as a Date, and the input as a whole too. Invariants: slices stay inside
 * the input, a parsed From has a valid lower-case domain, and the
 * Authentication-Results text built from what was parsed never holds a bare
 * line break. Seeds: tests/fuzz/corpus/headers_msg/.
 */
#include "headers.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CHECK - abort on a broken invariant, in every build type (assert may be off). */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_headers_msg: %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef SL_HEADERS_MISSING /* the stage's libraries are not installed: nothing to fuzz */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void) data;
    (void) size;
    return 0;
}
#else

static bool
s_inside(sl_slice_t s, const char *p, size_t len)
{
    return s.len == 0 || (s.ptr >= p && s.len <= len && (size_t) (s.ptr - p) <= len - s.len);
}

static void
s_value(sl_slice_t v)
{
    headers_from_t from;
    const char *why = NULL;
    if (headers_from_parse(v, &from, &why) == 0) {
        CHECK(from.mailboxes > 0);
        CHECK(headers_domain_is_valid(from.domain, strlen(from.domain)));
        for (const char *c = from.domain; *c; c++)
            CHECK(!(*c >= 'A' && *c <= 'Z'));
        headers_report_t r;
        memset(&r, 0, sizeof r);
        r.from = from;
        strcpy(r.dmarc.result, "none");
        sl_strlcpy(r.dmarc.domain, from.domain, sizeof r.dmarc.domain);
        sl_strlcpy(r.spf_comment, from.display, sizeof r.spf_comment);
        headers_input_t in = {.mail_from = from.local, .helo = from.display};
        char out[HEADERS_AUTHRES_MAX];
        if (headers_authres("mx.test", &in, &r, out, sizeof out) == 0)
            for (const char *c = strchr(out, '\n'); c; c = strchr(c + 1, '\n'))
                CHECK(c > out && c[-1] == '\r' && c[1] == '\t');
    } else {
        CHECK(why != NULL);
    }
    int64_t t;
    (void) headers_date_parse(v, &t, &why);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *) data;
    headers_msg_t msg;
    headers_msg_parse(p, size, &msg);
    CHECK(msg.count <= HEADERS_FIELDS_MAX);
    CHECK(s_inside(msg.body, p, size));
    for (size_t i = 0; i < msg.count; i++) {
        const headers_field_t *f = &msg.fields[i];
        CHECK(f->name.len > 0 && s_inside(f->field, p, size) && s_inside(f->value, p, size));
        CHECK(f->name.ptr == f->field.ptr && f->value.ptr > f->field.ptr);
        s_value(f->value);
    }
    s_value((sl_slice_t){.ptr = p, .len = size});
    headers_msg_clear(&msg);
    return 0;
}
#endif
