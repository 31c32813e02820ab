/*
 * quarantine/qr_http.h - one HTTP request of sluice-quarantine as the
 * handlers see it, and the reply they fill in.
 *
 * qr_http.c owns the server (libmicrohttpd), sessions, CSRF and login
 * throttling; qr_api.c the mailbox and admin endpoints of API.md.
 */
#ifndef QR_HTTP_H
#define QR_HTTP_H

#include "qr_core.h"
#include "qr_json.h"

#include <microhttpd.h>

typedef struct {
    struct MHD_Connection *conn; /* for query arguments and headers */
    const char *method;          /* GET, POST, PUT ... */
    const char *url;             /* path, without the query */
    const char *body;            /* request body (NUL-terminated), "" when none */
    size_t body_len;             /* its length */
    qr_ctx_t *ctx;               /* this thread's context and store */
    qr_user_t user;              /* the session's user (when authed) */
    char csrf[72];               /* the session's CSRF token */
    char ip[64];                 /* client address */
} qr_req_t;

typedef struct {
    int status;              /* HTTP status */
    char *body;              /* malloc'd */
    size_t len;              /* body length */
    const char *type;        /* Content-Type */
    const char *static_body; /* instead of body: static bytes (embedded files) */
    char cookie[256];        /* Set-Cookie value, "" for none */
    long retry_after;        /* seconds for Retry-After, 0 = none */
    char disposition[160];   /* Content-Disposition, "" for none */
    bool html;               /* add the Content-Security-Policy */
} qr_resp_t;

/* qr_resp_json - takes B's text as a JSON reply with STATUS. */
void qr_resp_json(qr_resp_t *resp, int status, qr_jbuf_t *b);
/* qr_resp_error - {"error": TEXT} with STATUS. */
void qr_resp_error(qr_resp_t *resp, int status, const char *text);
/* qr_arg - query argument NAME (decoded, borrowed), NULL when absent. */
const char *qr_arg(const qr_req_t *req, const char *name);

/* Endpoints of qr_api.c; the request is authenticated (and CSRF-checked for
 * state changes) before they are called. REST is the path after "/api/". */
void qr_api_messages(qr_req_t *req, qr_resp_t *resp, const char *rest);
void qr_api_lists(qr_req_t *req, qr_resp_t *resp);
void qr_api_digest(qr_req_t *req, qr_resp_t *resp);
void qr_api_trace(qr_req_t *req, qr_resp_t *resp);
void qr_api_stats(qr_req_t *req, qr_resp_t *resp);

/* SQLite page cache of each of the daemon's store handles, in KiB as
 * PRAGMA cache_size wants it (negative): 32 MB, so the indexes a listing
 * walks stay in memory (the pool's S_THREADS handles and the housekeeping
 * one: at most 160 MB, used only as pages are read). */
#define QR_HTTP_CACHE_KB "-32768"
/* qr_http_store_tune - the daemon's settings on a fresh store handle
 * (cache_size; SQLite only: lib/sl_store has no hook for it). */
void qr_http_store_tune(sl_store_t *store);

/* qr_http_start - listens on CTX->listen; the template context is copied
 * per thread. 0 or -1 (logged). */
int qr_http_start(const qr_ctx_t *ctx);
void qr_http_stop(void);

/* An embedded dashboard file (generated from quarantine/web/ at build time). */
typedef struct {
    const char *name;          /* file name, e.g. "app.js" */
    const char *type;          /* Content-Type */
    const unsigned char *data; /* bytes */
    size_t len;                /* length */
} qr_web_file_t;
extern const qr_web_file_t qr_web_files[]; /* ends with a NULL name */

#endif
