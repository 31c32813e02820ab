/*
 * quarantine/qr.h - what the parts of sluice-quarantine share: the context
 * (config, store handle, secret) and the one release function that the API,
 * the CLI and the digest links all go through.
 *
 * A qr_ctx_t's store handle belongs to the thread that calls with it (the
 * storage layer's rule): the daemon keeps one context per thread, copies of
 * the same configuration with their own handles.
 * Contract of the HTTP side: quarantine/API.md.
 */
#ifndef QR_H
#define QR_H

#include "sl_store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QR_SECRET_LEN 32
#define QR_RETENTION_DOMAINS_MAX 64 /* retention_domains entries */

typedef struct qr_ctx {
    sl_store_t *store;                  /* this thread's handle */
    char store_url[4096];               /* to open more handles */
    char quar_dir[4096];                /* quarantine files (DIR/msg/ID.eml) */
    char queue_dir[4096];               /* sluice-delivery's queue (releases, digests) */
    char base_url[1024];                /* e.g. http://127.0.0.1:9720 (digest links) */
    char digest_from[512];              /* envelope and From: of digests */
    char hostname[256];                 /* for Message-ID of digests */
    unsigned char secret[QR_SECRET_LEN]; /* HMAC key of digest links (secret_file) */
    uint64_t link_ttl_ms;               /* digest_link_ttl, default 7 days */
    uint64_t retention_ms;              /* retention, default 14 days */
    bool cookie_secure;                 /* Secure flag on the session cookie */
    uint64_t session_ttl_ms;            /* default 8 hours */
    /* Added by the daemon's engineer (qr_conf.c fills them): */
    char bayes_url[4096];               /* Bayes store (score stage's bayes.store) */
    char listen[256];                   /* host:port of the HTTP API */
    uint64_t purge_interval_ms;         /* retention sweep period, default 1 hour */
    uint64_t digest_interval_ms;        /* qr_digest_tick period, default 1 minute */
    size_t retention_domain_count;      /* entries in retention_domains */
    struct qr_retention {
        char domain[256];               /* lower case */
        uint64_t ms;                    /* retention of that domain's recipients */
    } retention_domains[QR_RETENTION_DOMAINS_MAX];
} qr_ctx_t;

/* qr_release - releases the copy of message ID held for RCPT: writes the
 * message file to the delivery queue for RCPT alone (sl_dqueue_write and
 * sl_dqueue_sync), then sets released_ms. 0; 1 when that row was already
 * released; -1 with *why (no such row, file missing, disk full). */
int qr_release(qr_ctx_t *ctx, const char *id, const char *rcpt, const char **why);

/* qr_digest_tick - sends every digest due at NOW_MS (each user of role
 * "user" whose schedule has come round and who has quarantined mail since
 * their last digest), then records last_digest_ms. Called every
 * digest_interval (default a minute) by the daemon's housekeeping thread.
 * Returns the number sent, or -1.
 * (quarantine/qr_digest.c) */
int qr_digest_tick(qr_ctx_t *ctx, uint64_t now_ms);

/* qr_digest_http - /r/TOKEN: METHOD "GET" shows a page with a release
 * button, "POST" redeems the token (once) and releases. Sets *STATUS and
 * *HTML (malloc'd, the caller frees). (quarantine/qr_digest.c) */
void qr_digest_http(qr_ctx_t *ctx, const char *method, const char *token, int *status,
                    char **html);

/* qr_digest_migrate - the tables the digests need (quarantine_token). 0 or -1. */
int qr_digest_migrate(sl_store_t *store);

#endif
