/*
 * smtpd/smtpd_conf.h - the smtpd: and spool: sections of sluice.yaml.
 *
 * Read from the sl_cfg tree that sl_conf keeps (conf->cfg), with unknown keys
 * reported as errors. Every limit has its default here; smtpd/README.md
 * documents each key. Also the relay decision for one recipient.
 * Tests: tests/unit/test_smtpd_conf.c
 */
#ifndef SMTPD_CONF_H
#define SMTPD_CONF_H

#include "sl_cfg.h"
#include "sl_cidr.h"
#include "sl_mem.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMTPD_LISTEN_MAX 16

typedef struct {
    char *domain;     /* lower case */
    char **mailboxes; /* lower-case local parts; NULL = any local part */
    size_t mailbox_count;
} smtpd_domain_t;

typedef struct {
    /* smtpd: */
    size_t listen_count;
    char *listen[SMTPD_LISTEN_MAX]; /* "host:port" or "[v6]:port" */
    char *hostname;                 /* in the greeting, EHLO reply and Received header */
    char *tls_cert, *tls_key;       /* PEM paths; NULL = no STARTTLS */
    uint64_t max_message_size;      /* bytes (SIZE) */
    size_t max_recipients;          /* per message */
    size_t max_errors;              /* error replies before 421 and disconnect */
    size_t max_line_length;         /* text line bytes without CRLF */
    size_t max_header_lines;        /* header lines per message */
    size_t max_header_size;         /* header section bytes */
    int idle_timeout_ms;            /* between commands */
    int data_timeout_ms;            /* between reads of DATA/BDAT content */
    size_t max_connections;         /* at once, all clients */
    size_t per_ip_connections;      /* at once, one client IP */
    size_t per_ip_rate;             /* new connections per minute, one client IP */
    int greeting_delay_ms;          /* wait before the greeting; talkers are refused */
    int phase_timeout_ms;           /* connect and rcpt phases */
    char *graph;                    /* graph name for every phase */
    char *user;                     /* drop to this user when started as root */
    size_t domain_count;
    smtpd_domain_t *domains; /* relay_domains, with mailboxes when listed */
    sl_cidr_list_t outbound; /* outbound_networks: may relay anywhere, direction "out" */
    /* spool: */
    char *spool_dir;        /* spool; archive in spool_dir/archive */
    size_t sync_threads;    /* spool writes (fsync) in flight at once */
    char *replica;          /* "host:port" of the peer, NULL for none */
    int replica_timeout_ms; /* wait for the peer's acknowledgement */
    char *replica_listen;   /* "host:port" where we take copies, NULL for none */
    size_t replica_allow_count;
    char **replica_allow;         /* client addresses allowed to send copies */
    int64_t replica_takeover_ms;  /* a copy not released this long is ours to process */
    bool archive;                 /* keep finished messages */
    int64_t archive_retention_ms; /* how long */
} smtpd_conf_t;

typedef enum {
    SMTPD_RCPT_OK,
    SMTPD_RCPT_RELAY_DENIED, /* 550 5.7.1 */
    SMTPD_RCPT_UNKNOWN_USER, /* 550 5.1.1 */
} smtpd_rcpt_check_t;

/* smtpd_conf_read - fills SELF from CFG (smtpd: and spool: sections); DATA_DIR
 * gives the default spool dir. Errors are recorded in CFG; returns their count
 * (0 = usable). */
size_t smtpd_conf_read(smtpd_conf_t *self, sl_cfg_t *cfg, const char *data_dir);
void smtpd_conf_free(smtpd_conf_t *self);

/* smtpd_conf_rcpt_check - may mail for LOCAL@DOMAIN come in? */
smtpd_rcpt_check_t smtpd_conf_rcpt_check(const smtpd_conf_t *self, sl_slice_t local,
                                         sl_slice_t domain);

/* smtpd_conf_outbound - is client address IP (text, as accepted) in
 * outbound_networks? Its mail goes out (no relay refusal, direction "out",
 * no connect or rcpt phase). An unparsable address is not. */
bool smtpd_conf_outbound(const smtpd_conf_t *self, const char *ip);

/* smtpd_conf_split_hostport - "host:port" / "[v6]:port" -> host (copied into
 * HOST) and PORT; -1 when malformed. */
int smtpd_conf_split_hostport(const char *spec, char *host, size_t host_size, int *port);

#endif
