/*
 * smtpd/smtpd_sync.c - durable spool writes on worker threads.
 *
 * An fsync costs milliseconds; done one at a time in the event loop it caps
 * smtpd at a few hundred messages per second, while many fsyncs in flight at
 * once share the file system's journal commits (ext4: 15x more per second
 * with 20 at once). So each commit is a job for a small thread pool; the
 * loop learns of finished jobs through an eventfd and answers the client
 * there. A job owns its buffers; a job whose session went away meanwhile is
 * undone (its spool file removed: the client never got a 250).
 * The unlink of a released entry is a job too, taken only when no write
 * waits: on ext4 an unlink can wait for the journal commit in progress
 * (measured: ~1% of them 1-7 ms at 300 msgs/s), and in the loop that wait
 * would hold every session's reply. Not done at a crash: the entry is
 * submitted again on restart (at least once, as before).
 * Tests: tests/e2e/test_smtpd_*.py (every accepted message passes here)
 */
#include "smtpd.h"

#include "sl_log.h"
#include "sl_mem.h"
#include "smtpd_spool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct smtpd_sync {
    smtpd_t *srv;
    pthread_t *threads;
    size_t thread_count;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    smtpd_sync_job_t *todo, *todo_tail; /* waiting for a thread */
    smtpd_sync_job_t *rm, *rm_tail;     /* unlinks, after the writes */
    smtpd_sync_job_t *done;             /* finished, for the loop */
    bool stopping;
    int efd;          /* eventfd: "done has jobs" */
    struct event *ev; /* efd readable */
};

/* s_push - appends JOB to the list HEAD/TAIL (lock held). */
static void
s_push(smtpd_sync_job_t **head, smtpd_sync_job_t **tail, smtpd_sync_job_t *job)
{
    job->next = NULL;
    if (*tail)
        (*tail)->next = job;
    else
        *head = job;
    *tail = job;
}

/* s_unlink - a remove job's work; frees the job. */
static void
s_unlink(smtpd_sync_t *self, smtpd_sync_job_t *job)
{
    if (smtpd_spool_remove(self->srv->cfg.spool_dir, NULL, job->id) != 0)
        sl_log_error(job->id, "spool unlink failed: the entry will be submitted again on restart");
    smtpd_sync_job_free(&job);
}

static void *
s_worker(void *arg)
{
    smtpd_sync_t *self = arg;
    pthread_mutex_lock(&self->lock);
    for (;;) {
        while (self->todo == NULL && self->rm == NULL && !self->stopping)
            pthread_cond_wait(&self->wake, &self->lock);
        if (self->stopping)
            break;
        if (self->todo == NULL) { /* every waiting unlink, for one wake-up */
            smtpd_sync_job_t *job = self->rm;
            self->rm = self->rm_tail = NULL;
            pthread_mutex_unlock(&self->lock);
            while (job) {
                smtpd_sync_job_t *next = job->next;
                s_unlink(self, job);
                job = next;
            }
            pthread_mutex_lock(&self->lock);
            continue;
        }
        smtpd_sync_job_t *job = self->todo;
        self->todo = job->next;
        if (self->todo == NULL)
            self->todo_tail = NULL;
        pthread_mutex_unlock(&self->lock);
        job->why = NULL;
        job->rc = smtpd_spool_write(self->srv->cfg.spool_dir, NULL, job->id, job->env_buf,
                                    job->env_len, NULL, 0, job->msg, job->len, 1, &job->why);
        pthread_mutex_lock(&self->lock);
        job->next = self->done;
        self->done = job;
        uint64_t one = 1;
        ssize_t w = write(self->efd, &one, sizeof one);
        (void)w; /* the counter only saturates; the loop drains the list anyway */
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

void
smtpd_sync_job_free(smtpd_sync_job_t **job_p)
{
    smtpd_sync_job_t *job = *job_p;
    if (job == NULL)
        return;
    free(job->env_buf);
    free(job->msg);
    free(job);
    *job_p = NULL;
}

static void
s_dispatch(smtpd_sync_t *self, smtpd_sync_job_t *job)
{
    if (job->cancelled) { /* the session is gone: no 250 was sent, so no message */
        if (job->rc == 0)
            smtpd_spool_remove(self->srv->cfg.spool_dir, NULL, job->id);
        smtpd_sync_job_free(&job);
        return;
    }
    job->done(job);
}

static void
s_event_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    smtpd_sync_t *self = arg;
    uint64_t n;
    ssize_t r = read(fd, &n, sizeof n);
    (void)r;
    pthread_mutex_lock(&self->lock);
    smtpd_sync_job_t *list = self->done;
    self->done = NULL;
    pthread_mutex_unlock(&self->lock);
    /* the list is newest first: answer in the order the writes finished */
    smtpd_sync_job_t *ordered = NULL;
    while (list) {
        smtpd_sync_job_t *next = list->next;
        list->next = ordered;
        ordered = list;
        list = next;
    }
    while (ordered) {
        smtpd_sync_job_t *next = ordered->next;
        s_dispatch(self, ordered);
        ordered = next;
    }
}

smtpd_sync_t *
smtpd_sync_new(smtpd_t *srv, size_t threads)
{
    smtpd_sync_t *self = sl_xcalloc(1, sizeof *self);
    self->srv = srv;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    self->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->efd < 0) {
        free(self);
        return NULL;
    }
    self->ev = event_new(srv->base, self->efd, EV_READ | EV_PERSIST, s_event_cb, self);
    event_add(self->ev, NULL);
    self->threads = sl_xcalloc(threads, sizeof *self->threads);
    for (size_t i = 0; i < threads; i++) {
        if (pthread_create(&self->threads[i], NULL, s_worker, self) != 0)
            break;
        self->thread_count++;
    }
    if (self->thread_count == 0) {
        smtpd_sync_destroy(&self);
        return NULL;
    }
    return self;
}

void
smtpd_sync_destroy(smtpd_sync_t **self_p)
{
    smtpd_sync_t *self = *self_p;
    if (self == NULL)
        return;
    pthread_mutex_lock(&self->lock);
    self->stopping = true;
    pthread_cond_broadcast(&self->wake);
    pthread_mutex_unlock(&self->lock);
    for (size_t i = 0; i < self->thread_count; i++)
        pthread_join(self->threads[i], NULL);
    /* written but never answered: not ours (the client retries); never written: nothing */
    for (smtpd_sync_job_t *job = self->done; job;) {
        smtpd_sync_job_t *next = job->next;
        if (job->rc == 0)
            smtpd_spool_remove(self->srv->cfg.spool_dir, NULL, job->id);
        smtpd_sync_job_free(&job);
        job = next;
    }
    for (smtpd_sync_job_t *job = self->todo; job;) {
        smtpd_sync_job_t *next = job->next;
        smtpd_sync_job_free(&job);
        job = next;
    }
    for (smtpd_sync_job_t *job = self->rm; job;) { /* released: unlink now */
        smtpd_sync_job_t *next = job->next;
        s_unlink(self, job);
        job = next;
    }
    if (self->ev)
        event_free(self->ev);
    close(self->efd);
    free(self->threads);
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

void
smtpd_sync_write(smtpd_sync_t *self, smtpd_sync_job_t *job)
{
    job->cancelled = false;
    pthread_mutex_lock(&self->lock);
    s_push(&self->todo, &self->todo_tail, job);
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
}

void
smtpd_sync_remove(smtpd_sync_t *self, const char *id)
{
    smtpd_sync_job_t *job = sl_xcalloc(1, sizeof *job);
    sl_strlcpy(job->id, id, sizeof job->id);
    job->remove = true;
    pthread_mutex_lock(&self->lock);
    bool first = self->rm == NULL; /* else a thread is woken already and takes them all */
    s_push(&self->rm, &self->rm_tail, job);
    if (first)
        pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
}

void
smtpd_sync_cancel(smtpd_sync_t *self, smtpd_sync_job_t *job)
{
    pthread_mutex_lock(&self->lock);
    job->cancelled = true;
    pthread_mutex_unlock(&self->lock);
}
