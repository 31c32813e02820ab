/*
 * lib/sl_dqueue.h - the delivery queue on disk: the durable handoff to sluice-delivery.
 *
 * The action stage writes, sluice-delivery reads and removes, `sluice queue`
 * lists. Layout under the queue directory (delivery.queue_dir, default
 * DATA_DIR/delivery):
 *   tmp/NAME      being written (never read; left-overs are removed on start)
 *   active/NAME   durable and ready: written, fsync'd, renamed, directory fsync'd
 * A file is a small text header, an empty line, then the message exactly as
 * it will be sent (the original bytes with the added header lines on top):
 *   SLQ1
 *   id 01JB7Q3K9V...         queue id of the inbound message
 *   from sender@example.net  envelope sender, empty for the null sender
 *   created 1732363200000    ms since the epoch (for the maximum lifetime)
 *   kind mail                mail, or dsn for a bounce we generated
 *   rcpt a@example.com       one line per recipient
 *   (empty line)
 * NAME is "ID-HASH": HASH covers the recipients and the variant, so that a
 * message the pipeline runs twice (re-dispatch, restart) lands in the same
 * file instead of a second copy: deduplication by queue id and recipient.
 * Tests: tests/unit/test_sl_dqueue.c
 */
#ifndef SL_DQUEUE_H
#define SL_DQUEUE_H

#include "sl_mem.h"

#include <stddef.h>
#include <stdint.h>

#define SL_DQUEUE_NAME_MAX 96           /* "ID-HASH" */
#define SL_DQUEUE_RCPTS_MAX 1000        /* as SL_ENV_RCPTS_MAX */
#define SL_DQUEUE_HEADER_MAX (1u << 20) /* the text header of one file */
#define SL_DQUEUE_ADDR_MAX 512          /* as SL_ENV_ADDR_MAX */

typedef struct {
    char id[72];                   /* inbound queue id */
    char from[SL_DQUEUE_ADDR_MAX]; /* envelope sender, "" = null sender */
    uint64_t created_ms;           /* when the message entered the queue */
    char kind[8];                  /* "mail" or "dsn" */
    size_t rcpt_count;             /* entries in rcpts */
    char **rcpts;                  /* recipients (owned; sl_dqueue_hdr_clear frees) */
} sl_dqueue_hdr_t;

/* sl_dqueue_init - creates DIR, DIR/tmp and DIR/active; 0 or -1 with *why. */
int sl_dqueue_init(const char *dir, const char **why);

/* sl_dqueue_name - "ID-HASH" for queue id ID, the recipients and VARIANT
 * (a text telling two versions of the bytes apart, e.g. the subject tag). */
void sl_dqueue_name(const char *id, const char *const *rcpts, size_t n, const char *variant,
                    char *buf, size_t size);

/* sl_dqueue_write - writes header HDR and the message (N slices, in order)
 * to DIR/tmp/NAME, fsyncs it and renames it to DIR/active/NAME. The caller
 * fsyncs DIR/active (sl_dqueue_sync) once after its last write, before it
 * reports the message as handed over. 0, or -1 with *why (disk full...). */
int sl_dqueue_write(const char *dir, const char *name, const sl_dqueue_hdr_t *hdr,
                    const sl_slice_t *parts, size_t n, const char **why);
/* sl_dqueue_sync - fsync of DIR/active: makes the renames durable. */
int sl_dqueue_sync(const char *dir, const char **why);

/* sl_dqueue_parse - reads the header of a queue file's bytes into HDR (clear
 * it with sl_dqueue_hdr_clear) and sets *body_off to where the message
 * starts. 0, or -1 with *why for a damaged file. */
int sl_dqueue_parse(const char *buf, size_t len, sl_dqueue_hdr_t *hdr, size_t *body_off,
                    const char **why);
void sl_dqueue_hdr_clear(sl_dqueue_hdr_t *hdr);
/* sl_dqueue_hdr_add_rcpt - appends a copy of RCPT. */
void sl_dqueue_hdr_add_rcpt(sl_dqueue_hdr_t *hdr, const char *rcpt);

/* sl_dqueue_read - the whole file DIR/active/NAME into a malloc'd buffer
 * (caller frees), its length in *len; NULL with *why. */
char *sl_dqueue_read(const char *dir, const char *name, size_t *len, const char **why);

struct sl_cfg;
/* sl_dqueue_dir - the queue directory a config names: delivery.queue_dir,
 * else DATA_DIR/delivery (CFG may be NULL). The one place writers (action
 * stage, sluice-quarantine) find it. 0, or -1 when it does not fit in BUF. */
int sl_dqueue_dir(struct sl_cfg *cfg, const char *data_dir, char *buf, size_t size);

#endif
