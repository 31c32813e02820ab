/*
 * smtpd/smtpd.h - the sluice-smtpd process: server, sessions, submission queue.
 *
 * One libevent loop owns everything: listeners, client sessions (plain or
 * OpenSSL bufferevents), the broker client's ZMQ_FD and the timers. The
 * spool is written (and released entries unlinked) on smtpd_sync's threads;
 * a 250 is only written after smtpd_spool_write returned 0.
 * Tests: tests/e2e/test_smtpd_*.py
 */
#ifndef SMTPD_H
#define SMTPD_H

#include "sl_client.h"
#include "sl_conf.h"
#include "smtpd_conf.h"
#include "smtpd_limit.h"

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>
#include <stdbool.h>

typedef struct smtpd_session smtpd_session_t;
typedef struct smtpd_queue smtpd_queue_t;
typedef struct smtpd_replica smtpd_replica_t;
typedef struct smtpd_sync smtpd_sync_t;

/* One durable spool write, handed to a worker thread (smtpd_sync.c); or, with REMOVE
 * set, the unlink of a released entry (no buffers, no done: nobody waits for it). */
typedef struct smtpd_sync_job {
    struct smtpd_sync_job *next;
    char id[SL_ENV_ID_MAX + 1]; /* queue id */
    void *env_buf;              /* encoded envelope (owned) */
    size_t env_len;
    char *msg; /* the message, Received header first (owned) */
    size_t len;
    int rc;                                   /* smtpd_spool_write's result */
    const char *why;                          /* its reason when rc != 0 */
    void (*done)(struct smtpd_sync_job *job); /* in the loop; takes the job */
    void *arg;                                /* the session */
    bool cancelled;                           /* the session went away: undo */
    bool remove;                              /* unlink spool entry ID, nothing else */
} smtpd_sync_job_t;
/* smtpd_replica_cb - the peer's answer to a PUT: OK set when its copy is durable. */
typedef void (*smtpd_replica_cb)(void *arg, int ok, const char *why);

typedef struct {
    struct event_base *base;   /* the loop */
    sl_conf_t *conf;           /* core config (broker, graphs) */
    smtpd_conf_t cfg;          /* smtpd: and spool: */
    SSL_CTX *tls;              /* NULL without tls_cert */
    smtpd_limit_t *limit;      /* per-IP limits */
    size_t connections;        /* sessions open */
    smtpd_session_t *sessions; /* every open session, for shutdown */
    struct evconnlistener *listeners[SMTPD_LISTEN_MAX];
    size_t listener_count;
    sl_client_t *client;        /* broker frontend */
    struct event *client_ev;    /* ZMQ_FD readable */
    struct event *tick_ev;      /* 100 ms housekeeping */
    bool phase[SL_PHASE_COUNT]; /* the graph has steps in this phase */
    smtpd_queue_t *queue;       /* spooled messages not yet released */
    smtpd_replica_t *replica;   /* link to the peer and/or the peer's listener; NULL for none */
    smtpd_sync_t *sync;         /* spool write threads */
    bool stopping;              /* SIGTERM seen */
} smtpd_t;

/* --- smtpd_server.c --- */
/* smtpd_server_open - TLS context, listeners, broker client; -1 on a fatal error (logged). */
int smtpd_server_open(smtpd_t *self);
/* smtpd_server_run - the loop, until SIGTERM/SIGINT. */
int smtpd_server_run(smtpd_t *self);
void smtpd_server_close(smtpd_t *self);
/* smtpd_server_submit - submit through the configured graph; 0 when the socket is full. */
uint64_t smtpd_server_submit(smtpd_t *self, const char *phase, const sl_env_t *env,
                             const void *body, size_t len, int free_body);
/* smtpd_server_submit_file - the same with the body left in the spool file
 * (REF: its range there), for a broker on this host. */
uint64_t smtpd_server_submit_file(smtpd_t *self, const char *phase, const sl_env_t *env,
                                  const sl_bodyfile_ref_t *ref);

/* --- smtpd_session.c --- */
/* smtpd_session_accept - a new client connection on FD (owned from now on). */
void smtpd_session_accept(smtpd_t *srv, evutil_socket_t fd, const struct sockaddr *sa, int salen);
/* smtpd_session_close_all - frees every session (shutdown); in-flight
 * transactions end without a reply: the client retries. */
void smtpd_session_close_all(smtpd_t *srv);
/* smtpd_session_result - a connect/rcpt phase result for session S; takes RESULT's env. */
void smtpd_session_result(smtpd_session_t *s, sl_result_t *result);

/* --- smtpd_queue.c --- */
smtpd_queue_t *smtpd_queue_new(smtpd_t *srv);
void smtpd_queue_destroy(smtpd_queue_t **self_p);
/* smtpd_queue_load - every entry in the spool, due now; returns the count. */
long smtpd_queue_load(smtpd_queue_t *self);
/* smtpd_queue_add - a message just committed: submit now. Takes *msg_p (the
 * full message, Received header first) and nulls it. */
void smtpd_queue_add(smtpd_queue_t *self, const sl_env_t *env, char **msg_p, size_t len);
/* smtpd_queue_tick - resubmits what is due and expires what is overdue. */
void smtpd_queue_tick(smtpd_queue_t *self);
/* smtpd_queue_drain - reads every waiting broker result. */
void smtpd_queue_drain(smtpd_queue_t *self);
/* smtpd_queue_watch - route result REQ to session S (connect/rcpt phases). */
void smtpd_queue_watch(smtpd_queue_t *self, uint64_t req, smtpd_session_t *s);
/* smtpd_queue_unwatch - forget REQ (the session gave up or closed). */
void smtpd_queue_unwatch(smtpd_queue_t *self, uint64_t req);
/* smtpd_queue_adopt - an entry that appeared in the spool (replica takeover): submit it. */
void smtpd_queue_adopt(smtpd_queue_t *self, const char *id);
/* smtpd_queue_count - unreleased entries. */
size_t smtpd_queue_count(const smtpd_queue_t *self);

/* --- smtpd_sync.c --- */
/* smtpd_sync_new - THREADS writer threads; NULL when none can start. */
smtpd_sync_t *smtpd_sync_new(smtpd_t *srv, size_t threads);
/* smtpd_sync_destroy - joins the threads; unanswered written entries are removed. */
void smtpd_sync_destroy(smtpd_sync_t **self_p);
/* smtpd_sync_write - queues JOB (taken); job->done(job) runs later in the loop. */
void smtpd_sync_write(smtpd_sync_t *self, smtpd_sync_job_t *job);
/* smtpd_sync_remove - unlinks spool entry ID on a worker thread, after any waiting write:
 * an unlink can wait milliseconds for the file system's journal, and the loop must not. */
void smtpd_sync_remove(smtpd_sync_t *self, const char *id);
/* smtpd_sync_cancel - JOB's session is gone: done is not called, the write is undone. */
void smtpd_sync_cancel(smtpd_sync_t *self, smtpd_sync_job_t *job);
/* smtpd_sync_job_free - frees the job and its buffers; nulls *job_p. */
void smtpd_sync_job_free(smtpd_sync_job_t **job_p);

/* --- smtpd_replica.c --- */
/* smtpd_replica_new - per spool.replica / spool.replica_listen; NULL when neither
 * is set, or (logged) when the listener cannot bind. */
smtpd_replica_t *smtpd_replica_new(smtpd_t *srv);
void smtpd_replica_destroy(smtpd_replica_t **self_p);
/* smtpd_replica_put - sends a copy of spool entry ID; CB(ARG, ok, why) runs
 * later, from the loop (never inside this call). -1 when the link is down. */
int smtpd_replica_put(smtpd_replica_t *self, const char *id, const void *env, size_t env_len,
                      const void *body, size_t body_len, smtpd_replica_cb cb, void *arg);
/* smtpd_replica_cancel - ARG (a closing session) no longer wants its callbacks. */
void smtpd_replica_cancel(smtpd_replica_t *self, void *arg);
/* smtpd_replica_del - the message is released: the peer may drop its copy. */
void smtpd_replica_del(smtpd_replica_t *self, const char *id);
/* smtpd_replica_tick - reconnects, expires silent requests, takes over old copies. */
void smtpd_replica_tick(smtpd_replica_t *self);
/* smtpd_replica_up - the link to the peer is connected. */
bool smtpd_replica_up(const smtpd_replica_t *self);

#endif
