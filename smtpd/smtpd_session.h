/*
 * smtpd/smtpd_session.h - the session of one SMTP client, shared by its two files.
 *
 * smtpd_session.c owns the connection (I/O, limits, phases, content, commit);
 * smtpd_command.c turns one command line into replies and state changes.
 * Internal to sluice-smtpd.
 */
#ifndef SMTPD_SESSION_H
#define SMTPD_SESSION_H

#include "smtpd.h"
#include "smtpd_data.h"
#include "smtpd_line.h"

#include <event2/bufferevent.h>

#define SMTPD_IN_MAX (256u << 10) /* stop reading the socket above this much input */

enum {
    SMTPD_ST_GREET,
    SMTPD_ST_CMD,
    SMTPD_ST_DATA,
    SMTPD_ST_BDAT,
    SMTPD_ST_WAIT,
    SMTPD_ST_TLS,
    SMTPD_ST_CLOSING
};
enum { SMTPD_PH_NONE, SMTPD_PH_CONNECT, SMTPD_PH_RCPT };

struct smtpd_session {
    smtpd_t *srv;
    smtpd_session_t *prev, *next;      /* srv->sessions */
    struct bufferevent *bev;           /* plain, or the TLS filter over it */
    struct event *resume;              /* deferred work: continue input, or free */
    struct event *greet_timer;         /* greeting delay */
    struct event *phase_timer;         /* connect/rcpt phase deadline */
    char cid[SL_ENV_ID_MAX + 1];       /* connection id */
    char ip[64];                       /* client address text */
    int port;                          /* client port */
    bool limited;                      /* holds a per-IP slot */
    bool dead;                         /* free at the next resume */
    int state;                         /* SMTPD_ST_* */
    unsigned waits;                    /* greeting waits for delay and/or connect phase */
    char greet_reply[512];             /* connect phase refusal, "" for the greeting */
    uint64_t phase_req;                /* connect/rcpt request in flight, 0 none */
    int phase;                         /* SMTPD_PH_* of phase_req */
    smtpd_line_t line;                 /* command line reader state */
    bool esmtp;                        /* EHLO, not HELO */
    char *helo;                        /* HELO/EHLO argument */
    bool tls;                          /* STARTTLS done */
    char tls_version[32];              /* "TLSv1.3" */
    char tls_cipher[128];              /* "TLS_AES_256_GCM_SHA384" */
    size_t errors, commands, messages; /* counters for limits and the disconnect line */
    /* the transaction */
    bool in_mail;                /* MAIL accepted */
    char qid[SL_ENV_ID_MAX + 1]; /* queue id, given at MAIL */
    char *mail_from;             /* "" for <> */
    bool smtputf8;               /* MAIL ... SMTPUTF8 */
    char **rcpts;                /* accepted recipients */
    size_t rcpt_count;
    char *pending_rcpt;         /* waiting for the rcpt phase */
    smtpd_data_t data;          /* content being received */
    bool bdat;                  /* BDAT chunks started */
    bool bdat_refuse;           /* consume the chunk, then 503 */
    uint64_t bdat_left;         /* bytes of the current chunk still to read */
    bool bdat_last;             /* current chunk is LAST */
    smtpd_sync_job_t *sync_job; /* spool write in flight on a worker thread */
    /* committed locally, waiting for the replica's acknowledgement */
    sl_env_t *commit_env; /* the envelope to submit */
    char *commit_msg;     /* the message to submit */
    size_t commit_len;
};

/* smtpd_session_id - the queue id during a transaction, else the connection id. */
const char *smtpd_session_id(const smtpd_session_t *s);
/* smtpd_session_write - one reply line (CRLF added). */
void smtpd_session_write(smtpd_session_t *s, const char *text);
void smtpd_session_replyf(smtpd_session_t *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* smtpd_session_refuse - an error reply and its log line; counts towards max_errors. */
void smtpd_session_refuse(smtpd_session_t *s, const char *cmd, const char *reply,
                          const char *reason, const char *arg, size_t arg_len);
/* smtpd_session_close - last reply (or NULL), then the connection ends. */
void smtpd_session_close(smtpd_session_t *s, const char *reply);
/* smtpd_session_reset - ends the transaction (RSET, EHLO, after DATA). */
void smtpd_session_reset(smtpd_session_t *s);
/* smtpd_session_env - an envelope ID with what the session knows (caller's). */
sl_env_t *smtpd_session_env(smtpd_session_t *s, const char *id);
/* smtpd_session_timeout - read and write timeout of MS milliseconds. */
void smtpd_session_timeout(smtpd_session_t *s, int ms);
/* smtpd_session_phase_start - submits phase PHASE for ENV (borrowed); 1 when waiting. */
int smtpd_session_phase_start(smtpd_session_t *s, int phase, sl_env_t *env);
/* smtpd_session_rcpt_accept - takes pending_rcpt and answers 250. */
void smtpd_session_rcpt_accept(smtpd_session_t *s);
/* smtpd_session_content_begin - DATA (DOT_MODE) or the first BDAT chunk. */
void smtpd_session_content_begin(smtpd_session_t *s, bool dot_mode);
/* smtpd_session_bdat_input - reads what is buffered of the current chunk. */
void smtpd_session_bdat_input(smtpd_session_t *s);
void smtpd_session_read_cb(struct bufferevent *bev, void *arg);
void smtpd_session_write_cb(struct bufferevent *bev, void *arg);
void smtpd_session_tls_event_cb(struct bufferevent *bev, short what, void *arg);

/* smtpd_command_run - one command LINE (LEN bytes, NUL-terminated copy). */
void smtpd_command_run(smtpd_session_t *s, char *line, size_t len);

#endif
