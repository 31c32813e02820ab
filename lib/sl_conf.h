/*
 * lib/sl_conf.h - the core of sluice.yaml: data directory, log, broker, stages, graphs.
 *
 * Read from a file with sl_cfg (file:line errors), or from the embedded
 * default when no file is given. Sections owned by other processes (smtpd:,
 * spool:, delivery:, quarantine: ...) are read by their owners from the
 * sl_cfg tree kept in conf->cfg.
 *
 * A graph has three phases, each an ordered list of steps; a step is one
 * stage or a parallel group of stages:
 *
 *   graphs:
 *     default:
 *       connect: [rbl]
 *       rcpt: [greylist]
 *       content: [mime, [av-a, av-b, url, headers], score, action]
 *
 * Tests: tests/unit/test_sl_conf.c
 */
#ifndef SL_CONF_H
#define SL_CONF_H

#include "sl_cfg.h"

#include <stdbool.h>
#include <stddef.h>

#define SL_CONF_STAGES_MAX 64
#define SL_CONF_GRAPHS_MAX 16
#define SL_CONF_STEPS_MAX 32
#define SL_CONF_GROUP_MAX 16
#define SL_CONF_ARGS_MAX 32
#define SL_CONF_COUNTERS_MAX 16

/* What a stage's failure, timeout or repeated crash means for the message. */
typedef enum {
    SL_ONERR_PASS,     /* continue without it (error verdict recorded) */
    SL_ONERR_TEMPFAIL, /* hold the message: submitter gets "tempfail" and retries later */
    SL_ONERR_CLASSIFY, /* continue, and set the classification to on_error_class */
} sl_onerr_t;

typedef enum { SL_PHASE_CONNECT, SL_PHASE_RCPT, SL_PHASE_CONTENT, SL_PHASE_COUNT } sl_phase_t;

typedef struct {
    char *name;          /* graph node name, unique: "av-a", "ex3" */
    char **argv;         /* command and arguments; argv[0] is a program name or path */
    size_t argc;         /* entries in argv (NULL-terminated as well) */
    int workers;         /* processes the supervisor runs (0 = external workers only) */
    int capacity;        /* messages one worker process scans at once (threads) */
    int batch;           /* jobs per JOBS message, per lane; 0 = not set: the stage's default */
    int timeout_ms;      /* per attempt, from dispatch to answer */
    int retries;         /* further attempts after a timeout */
    sl_onerr_t on_error; /* what failure means */
    char *on_error_class; /* classification for SL_ONERR_CLASSIFY, else NULL */
    int queue_max;       /* messages waiting for this stage before the broker says busy */
    char **counters;     /* integer verdict fields the broker sums for status and metrics */
    size_t counter_count; /* entries in counters (at most SL_CONF_COUNTERS_MAX) */
    int line;            /* config line, for messages */
} sl_conf_stage_t;

typedef struct {
    size_t count;  /* stages in the step: 1 = sequential, more = parallel group */
    char **stages; /* names, each defined in stages: */
} sl_conf_step_t;

typedef struct {
    char *name;                           /* "default", "replay-test" */
    size_t step_count[SL_PHASE_COUNT];    /* steps per phase */
    sl_conf_step_t *steps[SL_PHASE_COUNT]; /* ordered steps per phase */
} sl_conf_graph_t;

typedef struct {
    char *frontend;        /* endpoint smtpd and the CLI submit to */
    char *backend;         /* endpoint workers connect to */
    int heartbeat_ms;      /* heartbeat interval; 3 silent intervals = dead */
    int max_messages;      /* messages in the broker at once before busy */
    int poison_limit;      /* worker deaths holding one message before error verdict */
    int message_timeout_ms; /* whole-graph limit for one message */
    int max_frame_bytes;   /* ZMQ_MAXMSGSIZE on sockets facing peers */
    char **body_file_dirs; /* folders a SUBMIT's body file may lie in (broker/README.md) */
    size_t body_file_dir_count;
    size_t body_file_min;  /* smaller bodies go in the frame all the same */
} sl_conf_broker_t;

typedef struct {
    sl_cfg_t *cfg;         /* the parsed file, for sections other processes own */
    char *path;            /* config file, or "(embedded)" */
    char *data_dir;        /* spool, databases, quarantine */
    char *run_dir;         /* sockets, pid files */
    int log_level;         /* sl_log_level_t */
    sl_conf_broker_t broker;
    size_t stage_count;
    sl_conf_stage_t *stages;
    size_t graph_count;
    sl_conf_graph_t *graphs;
} sl_conf_t;

/* sl_conf_load - read and validate PATH (NULL = embedded default). On any
 * error returns NULL and writes every "file:line: reason" line into ERR. */
sl_conf_t *sl_conf_load(const char *path, char *err, size_t errlen);

/* sl_conf_daemon - the common start of a daemon PROG run as `PROG [-c FILE]`:
 * the log opened under PROG, the config loaded (no -c: the embedded default)
 * and its log level set. NULL with *RC = 2 (usage) or 1 (config errors,
 * written to stderr). */
sl_conf_t *sl_conf_daemon(int argc, char **argv, const char *prog, int *rc);
/* sl_conf_from_cfg - validate an already parsed tree; takes *cfg_p (nulls it). */
sl_conf_t *sl_conf_from_cfg(sl_cfg_t **cfg_p, char *err, size_t errlen);
void sl_conf_destroy(sl_conf_t **self_p);

/* sl_conf_default_yaml - the embedded default config text (static). */
const char *sl_conf_default_yaml(void);

const sl_conf_stage_t *sl_conf_stage(const sl_conf_t *self, const char *name);
const sl_conf_graph_t *sl_conf_graph(const sl_conf_t *self, const char *name);
/* sl_conf_phase_parse - "connect", "rcpt", "content"; -1 when unknown. */
int sl_conf_phase_parse(const char *name);
const char *sl_conf_phase_name(sl_phase_t phase);

#endif
