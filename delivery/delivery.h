/*
 * delivery/delivery.h - sluice-delivery: the durable outbound queue and its SMTP client.
 *
 * delivery_conf.c reads the delivery: section, delivery_queue.c owns the
 * queue (scan, schedule, retry, bounce, state), delivery_smtp.c speaks SMTP
 * to one destination, delivery_dsn.c writes bounces. README.md explains the
 * design (a thread per connection) and the configuration.
 */
#ifndef DELIVERY_H
#define DELIVERY_H

#include "delivery_reply.h"
#include "sl_conf.h"
#include "sl_policy.h"
#include "sl_store.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DELIVERY_CONN_MAX 512 /* connections at once, all destinations */

typedef struct {
    sl_cfg_t *cfg;                           /* the parsed file (borrowed): dns: for MX lookups */
    char queue_dir[PATH_MAX];                /* the delivery queue (sl_dqueue layout) */
    char store_url[PATH_MAX + 16];           /* delivery state, policy (routes), message log */
    char pid_file[PATH_MAX];                 /* RUN_DIR/delivery.pid, for `sluice queue flush` */
    char hostname[256];                      /* EHLO name and DSN Reporting-MTA */
    char default_route[SL_POLICY_ROUTE_MAX]; /* for domains not in the policy store */
    char tls_ca_file[PATH_MAX];              /* CA bundle for tls verify ("" = system default) */
    int mx_port;             /* port of MX hosts (25; tests point it elsewhere) */
    int connections;         /* worker threads = connections at once, all destinations */
    int concurrency;         /* connections per destination */
    int rate_delay_ms;       /* between two messages to one destination (0 = none) */
    int connect_timeout_ms;  /* TCP connect */
    int command_timeout_ms;  /* each reply; the data transfer gets the same per write */
    int idle_ms;             /* keep an idle connection open this long for more mail */
    int64_t retry_min_ms;    /* first retry after a deferral */
    int64_t retry_max_ms;    /* back-off doubles up to this */
    int64_t max_lifetime_ms; /* then bounce what is left */
    int scan_ms;             /* full rescan of the queue directory */
} delivery_conf_t;

/* delivery_conf_read - the delivery: section of CONF into OUT; every mistake
 * is recorded with file:line in conf->cfg. 0, or -1 (errors in the cfg). */
int delivery_conf_read(const sl_conf_t *conf, delivery_conf_t *out);

/* One destination: where a connection goes. */
typedef struct {
    char host[256];      /* host name or address to connect to; the domain for mx */
    bool mx;             /* look up HOST's MX records (RFC 5321 5.1) */
    int port;            /* TCP port */
    sl_tls_policy_t tls; /* the domain's TLS policy */
    char tls_name[256];  /* name the certificate must match (verify) */
} delivery_dest_t;

/* Result of one recipient in one attempt. */
typedef struct {
    const char *rcpt;                   /* borrowed */
    int code;                           /* SMTP code, 0 = not tried (connection failed) */
    char text[DELIVERY_REPLY_TEXT_MAX]; /* reply or failure reason */
} delivery_rcpt_result_t;

typedef struct delivery_conn delivery_conn_t;

/* delivery_smtp_open - connect to DEST, read the greeting, EHLO (HELO as a
 * fallback), STARTTLS per the TLS policy. NULL with WHY (code 4xx/5xx or 0
 * for a connection failure) filled in. */
delivery_conn_t *delivery_smtp_open(const delivery_conf_t *cf, const delivery_dest_t *dest,
                                    delivery_rcpt_result_t *why);
/* delivery_smtp_send - one transaction: MAIL FROM (FROM, "" = null sender),
 * RCPT TO for each of N recipients, DATA with the message MSG (dot-stuffed,
 * line endings made CRLF on the way). Pipelined when the server offers it.
 * Fills RESULTS[i] for each recipient. Returns 0 when the connection can be
 * used again, -1 when it must be closed (results say why). */
int delivery_smtp_send(delivery_conn_t *conn, const char *from, const char *msg, size_t len,
                       delivery_rcpt_result_t *results, size_t n);
/* delivery_smtp_close - QUIT (when POLITE) and free; nulls *conn_p. */
void delivery_smtp_close(delivery_conn_t **conn_p, bool polite);
/* delivery_smtp_tls - "TLSv1.3 TLS_AES_256_GCM_SHA384" or "" for plain text. */
const char *delivery_smtp_tls(const delivery_conn_t *conn);
/* delivery_smtp_init - process-wide OpenSSL setup; 0 or -1 with *why. */
int delivery_smtp_init(const delivery_conf_t *cf, const char **why);

/* delivery_dsn_write - a delivery status notification (RFC 3464,
 * multipart/report) to SENDER about the FAILED recipients of queue file
 * NAME (message MSG), written into the queue durably as a "dsn" file from
 * the null sender. 0, or -1 with *why. */
int delivery_dsn_write(const delivery_conf_t *cf, const char *name, const char *id,
                       const char *sender, const delivery_rcpt_result_t *failed, size_t n,
                       const char *msg, size_t len, const char **why);

/* delivery_queue_migrate - the delivery state tables (dlv_state, dlv_rcpt); 0 or -1. */
int delivery_queue_migrate(sl_store_t *store);

/* delivery_run - the queue manager and its connection threads until SIGTERM;
 * the process exit code. */
int delivery_run(const delivery_conf_t *cf);

#endif
