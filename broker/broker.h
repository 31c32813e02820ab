/*
 * broker/broker.h - the broker's internal state, shared by its three files:
 *   broker.c        main, sockets, the poll loop, the client protocol
 *   broker_msg.c    a message's walk through its graph: steps, verdicts, errors
 *   broker_worker.c worker registry, credit dispatch, heartbeats, expiry
 * Protocol: broker/README.md. Tests: tests/e2e/test_pipeline.py, test_batch.py.
 */
#ifndef BROKER_H
#define BROKER_H

#include "sl_batch.h"
#include "sl_bodyfile.h"
#include "sl_conf.h"
#include "sl_env.h"
#include "sl_wire.h"

#include <stdbool.h>
#include <stdint.h>

#define BROKER_IDENTITY_MAX 256 /* ZeroMQ routing ids are at most 255 bytes */
#define BROKER_CAPACITY_MAX 256 /* jobs one worker may hold */
/* Beyond the jobs it scans at once, a batched worker gets more only while the
 * bodies and parts it holds stay under this: a batch of 16 large messages
 * would otherwise sit in one worker's memory. */
#define BROKER_BATCH_BYTES (4u << 20)

typedef struct broker broker_t;
typedef struct broker_msg broker_msg_t;
typedef struct broker_job broker_job_t;
typedef struct broker_worker broker_worker_t;
typedef struct broker_metrics broker_metrics_t;

/* Classifications counted for metrics; the last is "unclassified". */
#define BROKER_CLASSES 7
extern const char *const broker_class_names[BROKER_CLASSES];

typedef struct {
    unsigned char bytes[BROKER_IDENTITY_MAX]; /* routing id */
    size_t len;                               /* its length */
} broker_ident_t;

/* One stage's attempt at one message. */
struct broker_job {
    uint64_t id;             /* echoed by the worker; unique per attempt */
    broker_msg_t *msg;       /* the message (outlives every job of it) */
    size_t stage;            /* index into broker->stages */
    unsigned attempts;       /* dispatches so far (timeouts count) */
    unsigned deaths;         /* workers that died holding it */
    uint64_t queued_at;      /* mono ms when (re)queued */
    uint64_t dispatched_at;  /* mono ms when sent, 0 while queued */
    uint64_t started_at;     /* mono ms its scan began as far as the broker can tell
                              * (its timeout runs from here); 0 while it waits at the
                              * worker behind the jobs sent there before it */
    uint64_t seq;            /* dispatch order at its worker (the worker's FIFO) */
    size_t bytes;            /* body and part bytes sent with it to its worker */
    bool by_file;            /* sent with the body as a file reference */
    bool suspect;            /* was at a worker that died holding several jobs:
                              * goes alone to a worker holding nothing */
    broker_worker_t *worker; /* holder, NULL while queued */
    broker_job_t *next;      /* queue link */
};

/* A message inside the broker: from SUBMIT to RESULT. */
struct broker_msg {
    broker_ident_t client;   /* who submitted */
    unsigned char req[SL_WIRE_REQ_MAX]; /* client's request id */
    size_t req_len;          /* its length */
    const sl_conf_graph_t *graph; /* graph being run */
    sl_phase_t phase;        /* phase being run */
    size_t step;             /* current step index */
    size_t pending;          /* jobs of the current step not answered yet */
    bool tempfail;           /* a stage with on_error: tempfail failed */
    sl_env_t *env;           /* envelope with the verdicts so far */
    zmq_msg_t env_frame;     /* cached encoding of env, shared by every JOB and
                              * the RESULT without copies; valid while env_fresh */
    bool env_fresh;          /* env_frame holds the current encoding */
    zmq_msg_t body;          /* raw message, shared with workers without copies */
    bool has_body;           /* body frame was present (or a body file) */
    sl_bodyfile_ref_t *ref;  /* body file reference (SUBMIT's last frame), or NULL */
    zmq_msg_t ref_frame;     /* its text, shared by every JOB that carries it */
    int body_fd;             /* the file, open while the message is here; -1 */
    bool body_loaded;        /* body holds the file's bytes (for in-band workers) */
    bool ref_failed;         /* a worker could not read the file: in-band from now on */
    zmq_msg_t *parts;        /* decoded part frames, in envelope parts order */
    size_t part_count;       /* frames held */
    uint64_t started_at;     /* mono ms at SUBMIT */
    broker_msg_t *prev, *next; /* all messages, for the whole-message timeout */
};

/* A connected worker process. */
struct broker_worker {
    broker_ident_t ident;    /* routing id */
    size_t stage;            /* index into broker->stages */
    unsigned capacity;       /* jobs it scans at once (its lanes) */
    unsigned batch;          /* most jobs in one JOBS (1 = JOB only) */
    unsigned credit;         /* jobs it may hold: capacity x batch, capped */
    uint64_t next_seq;       /* dispatch counter, for the jobs' seq */
    bool isolating;          /* holds a suspect job: gets nothing more until empty */
    unsigned needs;          /* SL_NEED_* */
    char version[64];        /* stage code version */
    char label[128];         /* host:pid */
    broker_job_t *held[BROKER_CAPACITY_MAX]; /* jobs it holds; NULL = free slot */
    unsigned held_count;     /* non-NULL entries in held (incl. abandoned) */
    unsigned slot_end;       /* held[slot_end..] were never used: loops stop there */
    size_t bytes_held;       /* bytes of the jobs in held (abandoned too) */
    bool abandoned[BROKER_CAPACITY_MAX]; /* timed out: result ignored, slot busy */
    uint64_t last_seen;      /* mono ms of the last message from it */
    uint64_t last_sent;      /* mono ms of the last message to it */
    broker_worker_t *next;   /* list link */
};

/* Per stage: queue and counters. */
typedef struct {
    const sl_conf_stage_t *conf; /* from the config */
    broker_job_t *head, *tail;   /* waiting jobs, FIFO */
    size_t queued;               /* jobs waiting */
    size_t in_flight;            /* jobs held by workers (not abandoned) */
    size_t workers;              /* live workers */
    uint64_t done, errors, timeouts, crashes; /* counters since start */
    uint64_t batched;            /* jobs sent inside a JOBS (not alone in a JOB) */
    double ms_total;             /* sum of stage-reported ms of done jobs */
    uint64_t *counters;          /* sums of conf->counters verdict fields, same order */
} broker_stage_t;

struct broker {
    sl_conf_t *conf;
    void *zctx;
    void *frontend;          /* ROUTER for submitters */
    void *backend;           /* ROUTER for workers */
    broker_stage_t *stages;  /* one per conf stage */
    size_t stage_count;
    broker_worker_t *workers; /* live workers */
    broker_msg_t *msgs;      /* messages in the broker */
    size_t msg_count;
    uint64_t next_job_id;
    uint64_t body_files;     /* messages submitted with a body file, since start */
    char **body_dirs;        /* broker.body_file_dirs resolved (NULL: not yet there) */
    sl_frames_t frames;      /* receive buffer */
    uint64_t by_class[BROKER_CLASSES]; /* finished content phases by classification */
    broker_metrics_t *metrics; /* /metrics server, NULL when off */
    uint64_t now;            /* sl_wire_clock_ms, read once per loop turn */
    bool front_sent;         /* sent on frontend since it last said EAGAIN */
    bool back_sent;          /* sent on backend since it last said EAGAIN */
};

/* broker_msg.c */
/* broker_msg_start - begins phase PHASE of GRAPH for a new message; takes *env_p
 * and BODY (moved). Sends the result at once when the phase is empty. */
void broker_msg_start(broker_t *b, broker_msg_t *m);

/* broker_msg_load_body - for a message whose body is in a file: reads it into
 * m->body once (for workers that take it in the frame); 0, or -1 logged. */
int broker_msg_load_body(broker_msg_t *m);
/* broker_msg_verdict - a worker answered job J: VERDICT (taken) and the part
 * frames FIRST_PART..END-1 of FR (moved out of FR). */
void broker_msg_verdict(broker_t *b, broker_job_t *job, sl_verdict_t **verdict_p,
                        sl_frames_t *fr, size_t first_part, size_t end);
/* broker_msg_fail - job J failed (timeout, crashes, no worker): error verdict
 * with WHY, then the stage's on_error. Frees the job. */
void broker_msg_fail(broker_t *b, broker_job_t *job, const char *why);
/* broker_free_all - at exit: every worker, job and message. */
void broker_free_all(broker_t *b);
/* broker_msg_sweep - whole-message timeouts and no-worker queue timeouts. */
void broker_msg_sweep(broker_t *b, uint64_t now);
/* broker_msg_encoded - the envelope's current encoding as a frame (cached;
 * send it with sl_wire_send_share). */
zmq_msg_t *broker_msg_encoded(broker_msg_t *m);
/* broker_send_result - RESULT to the submitter; frees nothing. */
void broker_send_result(broker_t *b, const broker_ident_t *client, const void *req, size_t req_len,
                        const char *status, const void *last, size_t last_len);
/* broker_send_result_frame - the same with the last frame shared from LAST. */
void broker_send_result_frame(broker_t *b, const broker_ident_t *client, const void *req,
                              size_t req_len, const char *status, zmq_msg_t *last);

/* broker_worker.c */
void broker_worker_ready(broker_t *b, const broker_ident_t *id, sl_frames_t *fr);
/* broker_worker_done - a DONE, or a DONES: every answer in it, or the worker
 * dropped (jobs re-dispatched) when its counts do not add up. */
void broker_worker_done(broker_t *b, const broker_ident_t *id, sl_frames_t *fr);
/* broker_worker_seen - any message from ID: refresh liveness; NULL if unknown. */
broker_worker_t *broker_worker_seen(broker_t *b, const broker_ident_t *id);
/* broker_worker_remove - the worker left or died: re-dispatch what it held. */
void broker_worker_remove(broker_t *b, broker_worker_t *w, bool died, const char *why);
/* broker_enqueue - job waits for a worker; FRONT for re-dispatch. */
void broker_enqueue(broker_t *b, broker_job_t *job, bool front);
/* broker_dispatch - hands queued jobs to workers with free credit. */
void broker_dispatch(broker_t *b);
/* broker_worker_tick - heartbeats out, expiry, job timeouts. */
void broker_worker_tick(broker_t *b, uint64_t now);
/* broker_unqueue - removes JOB from its stage queue (it is there). */
void broker_unqueue(broker_t *b, broker_job_t *job);

/* broker_metrics.c */
/* broker_metrics_start - serve GET /metrics on LISTEN ("127.0.0.1:9710"); NULL on failure. */
broker_metrics_t *broker_metrics_start(const char *listen);
void broker_metrics_stop(broker_metrics_t **m_p);
/* broker_metrics_render - refresh the snapshot (at most once a second). */
void broker_metrics_render(broker_t *b, uint64_t now);

#endif
