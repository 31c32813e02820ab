/*
 * quarantine/qr_core.h - the parts of sluice-quarantine that the daemon and
 * the `sluice quarantine` CLI share (static library sluice-quarantine-core):
 * configuration, schema, scope rules, release/delete/purge, users and
 * password hashes, and the inert view of a message.
 * Tests: tests/e2e/test_quarantine.py, tests/unit/test_qr_core.c
 */
#ifndef QR_CORE_H
#define QR_CORE_H

#include "qr.h"
#include "qr_json.h"
#include "sl_cfg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QR_DAY_MS (24ull * 3600 * 1000)
#define QR_LOGIN_MAX 254              /* an address (RFC 5321 path limit less the brackets) */
#define QR_PASSWORD_MAX 1024          /* longer passwords are refused, not truncated */
#define QR_PW_HASH_MAX 256            /* "scrypt$N$r$p$salt$hash" */
#define QR_ID_MAX 64                  /* queue ids are ULIDs (26); anything longer is not ours */
#define QR_MSG_BYTES_MAX (256u << 20) /* a quarantined file we read into memory */

/* qr_conf_load - fills CTX from the `quarantine:` section of CFG (and the
 * policy store and delivery queue the other processes use). Mistakes are
 * recorded in CFG (file:line); WANT_SECRET reads or creates secret_file.
 * 0, or -1 with ERR. */
int qr_conf_load(qr_ctx_t *ctx, sl_cfg_t *cfg, const char *data_dir, bool want_secret, char *err,
                 size_t errlen);
/* qr_migrate - every table the service uses (quarantine, users, sessions,
 * throttling, digest tokens); 0 or -1 (sl_store_error). */
int qr_migrate(sl_store_t *store);
/* qr_id_ok - a queue id: 1..QR_ID_MAX letters and digits (it names a file). */
bool qr_id_ok(const char *id);
/* qr_msg_path - DIR/msg/ID.eml into BUF; -1 when ID is not a queue id or it does not fit. */
int qr_msg_path(const qr_ctx_t *ctx, const char *id, char *buf, size_t size);
/* qr_read_file - the whole file (caller frees), at most QR_MSG_BYTES_MAX; NULL on failure. */
char *qr_read_file(const char *path, size_t *len);

/* A user's view of the quarantine: role and scope (API.md "Users and scope"). */
typedef struct {
    char login[QR_LOGIN_MAX + 1]; /* lower case address */
    char role[8];                 /* user, domain, admin */
    char scope[QR_LOGIN_MAX + 1]; /* mailbox, domain, or "" for admin */
} qr_user_t;

/* qr_scope_sql - appends to SQL (size SIZE) " AND <rcpt condition>" for
 * USER (column COLUMN), the parameter into PARAMS[*n] (PAT, size PATSIZE,
 * holds the LIKE pattern). 0 or -1 when it does not fit. */
int qr_scope_sql(const qr_user_t *user, const char *column, char *sql, size_t size,
                 const char **params, size_t *n, char *pat, size_t patsize);
/* qr_scope_quarantine_sql - as qr_scope_sql for table quarantine: a domain
 * admin's condition is "rcpt_domain = ?" (indexed; BUF holds the lower-case
 * domain) instead of a LIKE no index serves. 0 or -1 when it does not fit. */
int qr_scope_quarantine_sql(const qr_user_t *user, char *sql, size_t size, const char **params,
                            size_t *n, char *buf, size_t bufsize);
/* qr_rcpt_in_scope - RCPT is visible to USER. */
bool qr_rcpt_in_scope(const qr_user_t *user, const char *rcpt);
/* qr_find - the row (id, rcpt) in USER's scope (RCPT may be NULL or "" when
 * the id has exactly one row in scope). Columns: id, rcpt, time_ms, sender,
 * subject, classification, score, reason, released_ms. NULL for none (or a
 * store error); the caller frees. */
sl_rows_t *qr_find(qr_ctx_t *ctx, const qr_user_t *user, const char *id, const char *rcpt);
#define QR_COLUMNS "id, rcpt, time_ms, sender, subject, classification, score, reason, released_ms"

/* qr_delete - removes row (ID, RCPT), then the file when no row names it. 0, or -1 with *why. */
int qr_delete(qr_ctx_t *ctx, const char *id, const char *rcpt, const char **why);
/* qr_report - marks (ID, RCPT) reported_ms. 0 or -1. */
int qr_mark_reported(qr_ctx_t *ctx, const char *id, const char *rcpt, const char **why);
/* qr_purge - deletes rows older than their domain's retention at NOW_MS,
 * then files in msg/ that no row names (older than an hour, so a file the
 * action stage has written but not yet indexed stays) and tmp/ files over a
 * day old. Returns rows deleted (files in *files), or -1. */
long qr_purge(qr_ctx_t *ctx, uint64_t now_ms, long *files);

/* qr_pw_hash - "scrypt$N$r$p$salt_b64$hash_b64" for PASSWORD into OUT. 0 or -1. */
int qr_pw_hash(const char *password, char *out, size_t size);
/* qr_pw_verify - PASSWORD matches HASH (constant-time compare); a NULL or
 * malformed HASH still costs one scrypt run and fails. */
bool qr_pw_verify(const char *password, const char *hash);
/* qr_user_add - creates or replaces LOGIN. ROLE user|domain|admin; SCOPE
 * NULL/"" picks the default (API.md). 0, or -1 with *why. */
int qr_user_add(sl_store_t *store, const char *login, const char *role, const char *scope,
                const char *password, const char **why);
int qr_user_del(sl_store_t *store, const char *login, const char **why);
int qr_user_passwd(sl_store_t *store, const char *login, const char *password, const char **why);
/* qr_user_get - USER and its password hash (PW, may be NULL) for LOGIN: 1 found, 0 not, -1 error.
 */
int qr_user_get(sl_store_t *store, const char *login, qr_user_t *user, char *pw, size_t pwsize);
/* qr_lower - ASCII lower case in place; returns S. */
char *qr_lower(char *s);

/* qr_view - the inert view of message file PATH as JSON members (appended
 * to OUT, an open object): "headers", "text", "attachments". URLs become
 * "[link: host]", HTML becomes text. 0, or -1 when the file is unreadable. */
int qr_view_json(const char *path, qr_jbuf_t *out);
/* qr_neutralise - TEXT with every URL replaced by "[link: host]" (caller frees). */
char *qr_neutralise(const char *text, size_t len);
/* qr_html_to_text - tags stripped, script/style dropped, a few entities decoded (caller frees). */
char *qr_html_to_text(const char *html, size_t len);

#endif
