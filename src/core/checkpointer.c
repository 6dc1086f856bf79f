/*
 * checkpointer.c - the background checkpoint thread (see checkpointer.h).
 *
 * Files wait in a FIFO under queue_lock, each with the time it is due: a
 * moment after its last commit. The thread takes one when due, marks it
 * busy, drops queue_lock and checkpoints it only if the file went idle: its
 * lock is free and no epoch began or wrote since it was queued. A busy file
 * is left to its writer, whose next commit queues it again; checkpointing
 * under its feet would only make the two threads take turns at the lock. A
 * file being freed first calls nvckpt_forget, which waits out a busy mark.
 */
#include "core/checkpointer.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <time.h>

#include "core/debug.h"
#include "core/nvfile.h"

/* How long a file must stay idle after a commit before the thread copies
 * its redo blocks home. */
#define IDLE_DELAY_NS 20000000L

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond; /* on CLOCK_MONOTONIC, set up with the thread */
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
static struct nvfile *head, *tail;
static bool running;

static void init_queue_cond(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&queue_cond, &attr);
    pthread_condattr_destroy(&attr);
}

static bool due(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* Write lock held: has f been left alone since it was queued? */
static bool went_idle(const struct nvfile *f)
{
    return f->epoch == f->ckpt_epoch && !f->dirty;
}

static struct nvfile *take_next(void)
{
    struct nvfile *f = head;
    head = f->ckpt_next;
    if (!head)
        tail = NULL;
    f->ckpt_next = NULL;
    f->ckpt_queued = false;
    f->ckpt_busy = true;
    return f;
}

static void *checkpoint_loop(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&queue_lock);
    for (;;) {
        while (!head || !due(&head->ckpt_due)) {
            if (head)
                pthread_cond_timedwait(&queue_cond, &queue_lock, &head->ckpt_due);
            else
                pthread_cond_wait(&queue_cond, &queue_lock);
        }
        struct nvfile *f = take_next();
        pthread_mutex_unlock(&queue_lock);
        if (pthread_rwlock_trywrlock(&f->lock) == 0) {
            int rc = went_idle(f) ? nvfile_checkpoint(f) : 0;
            pthread_rwlock_unlock(&f->lock);
            if (rc < 0)
                nv_debug("background checkpoint failed: error %d; retried at the next commit", -rc);
        }
        pthread_mutex_lock(&queue_lock);
        f->ckpt_busy = false;
        pthread_cond_broadcast(&idle_cond);
    }
    return NULL;
}

static bool start_thread(void)
{
    pthread_t t;
    pthread_attr_t attr;
    sigset_t all, old;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* The program's signals are for the program's threads. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&t, &attr, checkpoint_loop, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return rc == 0;
}

void nvckpt_schedule(struct nvfile *f)
{
    pthread_mutex_lock(&queue_lock);
    if (!running) {
        init_queue_cond();
        running = start_thread();
    }
    if (!running) {
        pthread_mutex_unlock(&queue_lock);
        /* No thread: the caller holds the lock, so checkpoint right here. */
        nvfile_checkpoint(f);
        return;
    }
    f->ckpt_epoch = f->epoch;
    if (!f->ckpt_queued) {
        clock_gettime(CLOCK_MONOTONIC, &f->ckpt_due);
        f->ckpt_due.tv_nsec += IDLE_DELAY_NS;
        if (f->ckpt_due.tv_nsec >= 1000000000L) {
            f->ckpt_due.tv_sec++;
            f->ckpt_due.tv_nsec -= 1000000000L;
        }
        f->ckpt_queued = true;
        f->ckpt_next = NULL;
        if (tail) {
            tail->ckpt_next = f;
        } else {
            head = f;
            pthread_cond_signal(&queue_cond); /* the thread waits for work */
        }
        tail = f;
    }
    pthread_mutex_unlock(&queue_lock);
}

void nvckpt_forget(struct nvfile *f)
{
    pthread_mutex_lock(&queue_lock);
    if (f->ckpt_queued) {
        struct nvfile **p = &head, *prev = NULL;
        while (*p != f) {
            prev = *p;
            p = &(*p)->ckpt_next;
        }
        *p = f->ckpt_next;
        if (tail == f)
            tail = prev;
        f->ckpt_queued = false;
    }
    while (f->ckpt_busy)
        pthread_cond_wait(&idle_cond, &queue_lock);
    pthread_mutex_unlock(&queue_lock);
}

void nvckpt_before_fork(void)
{
    pthread_mutex_lock(&queue_lock);
}

void nvckpt_after_fork_parent(void)
{
    pthread_mutex_unlock(&queue_lock);
}

void nvckpt_after_fork_child(void)
{
    /* The queue's files are the parent's business now; the child's copies
     * start unqueued and the thread starts again on demand. */
    for (struct nvfile *f = head; f;) {
        struct nvfile *next = f->ckpt_next;
        f->ckpt_queued = false;
        f->ckpt_busy = false;
        f->ckpt_next = NULL;
        f = next;
    }
    head = tail = NULL;
    running = false;
    /* The parent's thread may have been waiting on the conditions: their
     * state counts a waiter that does not exist here. */
    init_queue_cond();
    pthread_cond_init(&idle_cond, NULL);
    pthread_mutex_unlock(&queue_lock);
}
