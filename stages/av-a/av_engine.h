/*
 * stages/av-a/av_engine.h - a signature engine that reloads itself when its directory changes.
 *
 * Holds one compiled engine (libclamav's, libyara's rules...) behind a
 * reference count. A watcher thread looks at the directory every CHECK_MS
 * (names, sizes and mtimes of its files); when it changed and then stayed
 * the same for one more look (so a half-written file is never loaded), it
 * builds the new engine beside the old one and swaps the pointer. Scans in
 * flight keep the engine they started with, which is freed when the last of
 * them releases it: no message is dropped or scanned by a half-built engine.
 * A load that fails keeps the old engine and logs why.
 * Shared by stages/av-a and stages/av-b.
 * Tests: tests/e2e/test_content.py (reload under load)
 */
#ifndef AV_ENGINE_H
#define AV_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#define AV_VERSION_MAX 128 /* engine version text: "clamav-1.4.6 sigs=3 dir=5f0c..." */

/* av_load_fn - builds an engine from DIR; NULL with a reason in WHY (static
 * or in WHYBUF) on failure. VERSION gets the text shown as rules_version. */
typedef void *(*av_load_fn)(const char *dir, void *arg, char *version, size_t version_len,
                            char *whybuf, size_t whylen);
/* av_free_fn - frees an engine av_load_fn built. */
typedef void (*av_free_fn)(void *engine, void *arg);

typedef struct av_holder av_holder_t;
typedef struct av_ref av_ref_t;

/* av_holder_new - loads DIR once (NULL with ERR when that fails) and, when
 * CHECK_MS > 0, starts the watcher. NAME labels log lines ("av-a"). */
av_holder_t *av_holder_new(const char *name, const char *dir, int64_t check_ms, av_load_fn load,
                           av_free_fn free_fn, void *arg, char *err, size_t errlen);
/* av_holder_destroy - stops the watcher and frees the engine; all refs must be released. */
void av_holder_destroy(av_holder_t **self_p);
/* av_holder_acquire - the current engine for one scan; release *ref after. */
void *av_holder_acquire(av_holder_t *self, av_ref_t **ref);
void av_holder_release(av_holder_t *self, av_ref_t **ref);
/* av_ref_version - version text of the engine REF holds (valid while held). */
const char *av_ref_version(const av_ref_t *ref);
/* av_holder_version - copies the current engine's version text into BUF. */
void av_holder_version(av_holder_t *self, char *buf, size_t size);
/* av_holder_reloads - engines loaded since start, the first one included. */
uint64_t av_holder_reloads(av_holder_t *self);

#endif
