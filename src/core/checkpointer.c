/*
 * checkpointer.c - the background checkpoint thread (see checkpointer.h).
 *
 * Files wait in a FIFO under queue_lock. The thread takes one, marks it busy,
 * drops queue_lock, takes the file's write lock and checkpoints it. A file
 * being freed first calls nvckpt_forget, which waits out a busy mark.
 */
#include "core/checkpointer.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#include "core/debug.h"
#include "core/nvfile.h"

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
static struct nvfile *head, *tail;
static bool running;

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
        while (!head)
            pthread_cond_wait(&queue_cond, &queue_lock);
        struct nvfile *f = take_next();
        pthread_mutex_unlock(&queue_lock);
        pthread_rwlock_wrlock(&f->lock);
        int rc = nvfile_checkpoint(f);
        pthread_rwlock_unlock(&f->lock);
        if (rc < 0)
            nv_debug("background checkpoint failed: error %d; retried at the next commit", -rc);
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
    if (!running)
        running = start_thread();
    if (!running) {
        pthread_mutex_unlock(&queue_lock);
        /* No thread: the caller holds the lock, so checkpoint right here. */
        nvfile_checkpoint(f);
        return;
    }
    if (!f->ckpt_queued) {
        f->ckpt_queued = true;
        f->ckpt_next = NULL;
        if (tail)
            tail->ckpt_next = f;
        else
            head = f;
        tail = f;
        pthread_cond_signal(&queue_cond);
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
    pthread_cond_init(&queue_cond, NULL);
    pthread_cond_init(&idle_cond, NULL);
    pthread_mutex_unlock(&queue_lock);
}
