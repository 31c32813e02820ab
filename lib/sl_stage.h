/*
 * lib/sl_stage.h - the stage runtime: a C stage is one scan function.
 *
 * sl_stage_main connects to the broker, declares the stage's name, capacity
 * and needs, keeps heartbeats both ways, takes work by credit, runs the scan
 * function (on the main thread at capacity 1; capacity N adds N-1 threads,
 * each with its own connection: "lanes"), times it, fills in version and
 * timing, and answers. SIGTERM
 * finishes what is held, says goodbye and exits. Heartbeats go on during a
 * long scan. The scan function may be called from several threads at once:
 * CTX is shared, so a stage keeps per-message state on the stack.
 *
 * Command line every stage accepts (the supervisor passes them):
 *   --broker ENDPOINT   broker backend (default from -c, else the embedded default)
 *   -c, --config FILE   sluice.yaml, for the broker endpoint and the stage's own section
 *   --name NAME         graph node this process serves (default: def->name)
 *   --capacity N        messages scanned at once: N lanes, each a thread with its own
 *                       connection, scanning inline (default 1: the main thread only)
 *   --batch N           jobs a lane takes in one JOBS message and answers in one
 *                       DONES, 1..64 (default the stage's batch: in the config, else
 *                       def->batch, else 16)
 *   --heartbeat MS      heartbeat interval (default broker.heartbeat from -c, else 1000)
 *   --needs LIST        override what the broker sends: envelope, body, parts (comma list)
 * Tests: tests/e2e/test_pipeline.py
 */
#ifndef SL_STAGE_H
#define SL_STAGE_H

#include "sl_cfg.h"
#include "sl_env.h"
#include "sl_log.h"

/* What a stage needs besides the envelope, declared to the broker. */
#define SL_NEED_ENVELOPE 0u /* envelope only: rbl and greylist never get the body */
#define SL_NEED_BODY 1u     /* the raw message */
#define SL_NEED_PARTS 2u    /* the decoded parts mime produced */
#define SL_NEED_FILE 4u     /* takes the body as a file reference ("body-file") */

typedef struct sl_msg sl_msg_t;

/* Lent to the scan function for one call; the runtime frees them. */
const sl_env_t *sl_msg_env(const sl_msg_t *msg);
const char *sl_msg_id(const sl_msg_t *msg);
/* sl_msg_body - the raw message; empty when the stage did not ask for it. */
sl_slice_t sl_msg_body(const sl_msg_t *msg);
/* sl_msg_part_count / sl_msg_part - decoded part data (metadata: sl_env_part_*). */
size_t sl_msg_part_count(const sl_msg_t *msg);
sl_slice_t sl_msg_part(const sl_msg_t *msg, size_t index);
/* sl_msg_phase - "connect", "rcpt" or "content". */
const char *sl_msg_phase(const sl_msg_t *msg);

/* sl_scan_fn - fill VERDICT; return 0, or -1 when the stage failed (the
 * runtime records an error verdict and the graph's on_error applies). */
typedef int (*sl_scan_fn)(const sl_msg_t *msg, sl_verdict_t *verdict, void *ctx);

typedef struct {
    const char *name;    /* default graph node name */
    const char *version; /* stage code version, in every verdict */
    unsigned needs;      /* SL_NEED_* bits */
    sl_scan_fn scan;     /* required */
    /* init - optional: called once before work starts with the parsed config
     * (NULL when none) and the stage's own section "stages.NAME" when present;
     * unknown arguments after "--" are passed in argc/argv. Sets *ctx. */
    int (*init)(void **ctx, sl_cfg_t *cfg, const sl_cfg_node_t *section, int argc, char **argv);
    void (*fini)(void *ctx);
    /* rules_version - optional: version of the rules or signatures in use now. */
    const char *(*rules_version)(void *ctx);
    /* batch - jobs a lane takes at once when neither the config's `batch:`
     * nor --batch says (0 = 16). 1 for a stage that waits on the network
     * while smtpd waits on it (rbl, greylist): a slow answer then holds up
     * no job queued behind it at the same lane. */
    unsigned batch;
} sl_stage_def_t;

/* sl_stage_main - runs the stage until SIGTERM/SIGINT; the process exit code. */
int sl_stage_main(int argc, char **argv, const sl_stage_def_t *def);

/* sl_symbol_name - a symbol name made from configured text: PREFIX, then
 * NAME upper-cased with every byte that is not a letter or digit as '_'
 * ("zen.example" -> "RBL_ZEN_EXAMPLE" with prefix "RBL_"); cut to SIZE-1. */
void sl_symbol_name(const char *prefix, const char *name, char *out, size_t size);

#endif
