/*
 * stages/av-a/av_engine.c - a signature engine that reloads itself when its directory changes.
 *
 * One mutex guards the current pointer and the reference counts; scans hold
 * it only to take or drop a reference, never while scanning or loading.
 * Tests: tests/e2e/test_content.py
 */
#include "av_engine.h"
#include "sl_log.h"
#include "sl_mem.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct av_ref {
    void *engine;                 /* what av_load_fn built */
    unsigned refs;                /* holder's own + one per scan in flight */
    char version[AV_VERSION_MAX]; /* rules_version text */
};

struct av_holder {
    char *name, *dir; /* log label, signature directory */
    int64_t check_ms; /* watcher period, 0 = no watcher */
    av_load_fn load;
    av_free_fn free_fn;
    void *arg;            /* passed to load and free_fn */
    pthread_mutex_t lock; /* guards current, refs, stop */
    pthread_cond_t wake;  /* wakes the watcher to stop */
    av_ref_t *current;    /* engine new scans get */
    bool stop;            /* watcher must exit */
    bool watching;        /* watcher thread started */
    pthread_t watcher;
    uint64_t loaded_print; /* fingerprint of the directory the current engine came from */
    uint64_t reloads;      /* engines loaded */
};

/* s_fingerprint - FNV-1a over names, sizes and mtimes of the files in DIR
 * (order-independent: entries are mixed with a sum); 0 when unreadable. */
static uint64_t
s_fingerprint(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    uint64_t sum = 1469598103934665603ULL;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (n < 0 || (size_t) n >= sizeof path || stat(path, &st) != 0)
            continue;
        uint64_t h = 1469598103934665603ULL;
        for (const char *p = e->d_name; *p; p++)
            h = (h ^ (unsigned char) *p) * 1099511628211ULL;
        uint64_t fields[3] = {(uint64_t) st.st_size, (uint64_t) st.st_mtim.tv_sec,
                              (uint64_t) st.st_mtim.tv_nsec};
        for (size_t i = 0; i < 3; i++)
            h = (h ^ fields[i]) * 1099511628211ULL;
        sum += h;
    }
    closedir(d);
    return sum;
}

static av_ref_t *
s_build(av_holder_t *self, char *err, size_t errlen)
{
    av_ref_t *ref = sl_xcalloc(1, sizeof *ref);
    ref->engine = self->load(self->dir, self->arg, ref->version, sizeof ref->version, err, errlen);
    if (ref->engine == NULL) {
        free(ref);
        return NULL;
    }
    ref->refs = 1;
    return ref;
}

/* s_unref - drops one reference under the lock; returns the ref to free, or NULL. */
static av_ref_t *
s_unref(av_ref_t *ref)
{
    return --ref->refs == 0 ? ref : NULL;
}

static void
s_free(av_holder_t *self, av_ref_t *ref)
{
    if (ref == NULL)
        return;
    self->free_fn(ref->engine, self->arg);
    free(ref);
}

static void *
s_watch(void *arg)
{
    av_holder_t *self = arg;
    uint64_t seen = self->loaded_print;
    pthread_mutex_lock(&self->lock);
    while (!self->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += self->check_ms / 1000;
        until.tv_nsec += (self->check_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&self->wake, &self->lock, &until);
        if (self->stop)
            break;
        pthread_mutex_unlock(&self->lock);
        uint64_t now = s_fingerprint(self->dir);
        bool settled = now != 0 && now == seen && now != self->loaded_print;
        seen = now;
        av_ref_t *fresh = NULL, *old = NULL;
        if (settled) {
            char err[512] = "";
            uint64_t t0 = sl_mono_ms();
            fresh = s_build(self, err, sizeof err);
            if (fresh == NULL)
                sl_log_warn(NULL, "%s: reload failed dir=%s reason=\"%s\"; keeping the old engine",
                            self->name, self->dir, err);
            else
                sl_log_info(NULL, "%s: reloaded dir=%s version=\"%s\" ms=%llu", self->name,
                            self->dir, fresh->version, (unsigned long long)(sl_mono_ms() - t0));
            self->loaded_print = now; /* a broken directory is retried when it changes again */
        }
        pthread_mutex_lock(&self->lock);
        if (fresh != NULL) {
            old = s_unref(self->current);
            self->current = fresh;
            self->reloads++;
        }
        if (old != NULL) {
            pthread_mutex_unlock(&self->lock);
            s_free(self, old);
            pthread_mutex_lock(&self->lock);
        }
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

av_holder_t *
av_holder_new(const char *name, const char *dir, int64_t check_ms, av_load_fn load,
              av_free_fn free_fn, void *arg, char *err, size_t errlen)
{
    av_holder_t *self = sl_xcalloc(1, sizeof *self);
    self->name = sl_xstrdup(name);
    self->dir = sl_xstrdup(dir);
    self->check_ms = check_ms;
    self->load = load;
    self->free_fn = free_fn;
    self->arg = arg;
    self->loaded_print = s_fingerprint(dir);
    self->current = s_build(self, err, errlen);
    if (self->current == NULL) {
        free(self->name);
        free(self->dir);
        free(self);
        return NULL;
    }
    self->reloads = 1;
    pthread_mutex_init(&self->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&self->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (check_ms > 0 && pthread_create(&self->watcher, NULL, s_watch, self) == 0)
        self->watching = true;
    return self;
}

void
av_holder_destroy(av_holder_t **self_p)
{
    av_holder_t *self = *self_p;
    if (self == NULL)
        return;
    pthread_mutex_lock(&self->lock);
    self->stop = true;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    if (self->watching)
        pthread_join(self->watcher, NULL);
    s_free(self, s_unref(self->current));
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self->name);
    free(self->dir);
    free(self);
    *self_p = NULL;
}

void *
av_holder_acquire(av_holder_t *self, av_ref_t **ref)
{
    pthread_mutex_lock(&self->lock);
    *ref = self->current;
    (*ref)->refs++;
    pthread_mutex_unlock(&self->lock);
    return (*ref)->engine;
}

void
av_holder_release(av_holder_t *self, av_ref_t **ref)
{
    if (*ref == NULL)
        return;
    pthread_mutex_lock(&self->lock);
    av_ref_t *dead = s_unref(*ref);
    pthread_mutex_unlock(&self->lock);
    s_free(self, dead);
    *ref = NULL;
}

const char *
av_ref_version(const av_ref_t *ref)
{
    return ref->version;
}

void
av_holder_version(av_holder_t *self, char *buf, size_t size)
{
    pthread_mutex_lock(&self->lock);
    sl_strlcpy(buf, self->current->version, size);
    pthread_mutex_unlock(&self->lock);
}

uint64_t
av_holder_reloads(av_holder_t *self)
{
    pthread_mutex_lock(&self->lock);
    uint64_t n = self->reloads;
    pthread_mutex_unlock(&self->lock);
    return n;
}
