/*
 * quarantine/qr_digest.h - what the digest files share between them
 * (qr_digest.c writes digests, qr_digest_http.c serves their links): text
 * from mail made safe for HTML and for plain text.
 * Tests: tests/e2e/test_quarantine_digest.py
 */
#ifndef QR_DIGEST_H
#define QR_DIGEST_H

#include "qr_json.h"

/* qr_digest_html - appends TEXT (NULL as "") with &, <, >, " and ' as
 * entities and control bytes as '?': safe in element text and quoted attributes. */
void qr_digest_html(qr_jbuf_t *b, const char *text);
/* qr_digest_plain - appends TEXT (NULL as "") with control bytes, line
 * breaks included, as '?'. */
void qr_digest_plain(qr_jbuf_t *b, const char *text);

#endif
