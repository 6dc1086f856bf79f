/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * helper.c - the helper thread (see helper.h).
 *
 * Three queues under queue_lock. Files waiting for storage ahead of their
 * end come first, at once: their writer is about to need it. Files whose
 * share block was put off are due a moment after their open (a file closed
 * by then never needs one). Files waiting for a checkpoint are due a moment
 * after the commit that queued them, and are checkpointed only if they went
 * idle: their lock is free and no epoch began or wrote since. A busy file
 * is left to its writer, whose next commit queues it again; checkpointing
 * under its feet would only make the two threads take turns at the lock.
 * The thread marks the file it works on busy; a file being freed first
 * calls nvhelper_forget, which takes it off the queues and waits out the
 * mark.
 */
#include "core/helper.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/debug.h"
#include "core/nvfile.h"
#include "core/recent.h"
#include "os/critical.h"
#include "os/sys.h"
#include "pmem/persist.h"

/* How long a file must stay idle after a commit before the thread copies
 * its redo blocks home. */
#define IDLE_DELAY_NS 20000000L

/* How long after its open a file gets its share block: a process that
 * opens the file meanwhile waits that long at most to join. */
#define SHARE_DELAY_NS 10000000L

struct queue {
    struct nvfile *head, *tail;
};

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond; /* on CLOCK_MONOTONIC, set up with the thread */
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t started_cond = PTHREAD_COND_INITIALIZER;
static bool started; /* the thread runs its loop */
static struct queue checkpoints, prepares, shares;
/* When the thread sleeps until a time, that time: a file due later needs
 * no wake-up (files opened and closed one after another then cost the
 * thread one wake-up per delay, not one each). */
static bool sleeps_timed;
static struct timespec sleeps_until;
static bool running;
/* The program's main thread ended with pthread_exit: the process ends when
 * its last thread does, which must not wait for this one. The thread looks
 * every LAST_LOOK_NS whether any other is alive, and when none is, it ends
 * for good (retired): the C library then runs the exit, in it. */
#define LAST_LOOK_NS 20000000L
static bool main_gone, retired;
/* When the entries of recent.h are next looked at, while expiring is set. */
static bool expiring;
static struct timespec expire_due;

/* The link of f in queue q. */
static struct nvfile **link_of(struct queue *q, struct nvfile *f)
{
    return q == &checkpoints ? &f->ckpt_next : q == &shares ? &f->share_next : &f->ahead_next;
}

static bool *queued_flag(struct queue *q, struct nvfile *f)
{
    return q == &checkpoints ? &f->ckpt_queued : q == &shares ? &f->share_queued : &f->ahead_queued;
}

/* The time d nanoseconds from now. */
static struct timespec from_now(long d)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += d / 1000000000L;
    t.tv_nsec += d % 1000000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static bool before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Appends f; true when the queue was empty. */
static bool push(struct queue *q, struct nvfile *f)
{
    bool was_empty = !q->head;
    *queued_flag(q, f) = true;
    *link_of(q, f) = NULL;
    if (q->tail)
        *link_of(q, q->tail) = f;
    else
        q->head = f;
    q->tail = f;
    return was_empty;
}

static struct nvfile *pop(struct queue *q)
{
    struct nvfile *f = q->head;
    q->head = *link_of(q, f);
    if (!q->head)
        q->tail = NULL;
    *link_of(q, f) = NULL;
    *queued_flag(q, f) = false;
    return f;
}

static void unlink_file(struct queue *q, struct nvfile *f)
{
    if (!*queued_flag(q, f))
        return;
    struct nvfile **p = &q->head, *prev = NULL;
    while (*p != f) {
        prev = *p;
        p = link_of(q, *p);
    }
    *p = *link_of(q, f);
    if (q->tail == f)
        q->tail = prev;
    *queued_flag(q, f) = false;
}

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
    return !before(&now, t);
}

/* Write lock held: has f been left alone since it was queued? */
static bool went_idle(const struct nvfile *f)
{
    return f->journal.epoch == f->ckpt_epoch && !f->dirty;
}

static void checkpoint_if_idle(struct nvfile *f)
{
    if (!nvfile_trylock(f))
        return;
    int rc = went_idle(f) ? nvfile_checkpoint(f) : 0;
    nvfile_unlock(f);
    if (rc < 0)
        nv_debug("background checkpoint failed: error %d; retried at the next commit", -rc);
}

/* The earlier of two times, either of which may be NULL. */
static const struct timespec *earlier(const struct timespec *a, const struct timespec *b)
{
    return !a || (b && before(b, a)) ? b : a;
}

/* queue_lock held: when the first timed task is due; NULL when there is
 * none. */
static const struct timespec *next_due(void)
{
    const struct timespec *c = checkpoints.head ? &checkpoints.head->ckpt_due : NULL;
    const struct timespec *s = shares.head ? &shares.head->share_due : NULL;
    return earlier(earlier(c, s), expiring ? &expire_due : NULL);
}

/* queue_lock held. Looks at what ages again delay_ns from now, or sooner
 * when due sooner already. */
static void expire_in(long delay_ns)
{
    struct timespec due = from_now(delay_ns);
    if (!expiring || before(&due, &expire_due))
        expire_due = due;
    expiring = true;
}

/* queue_lock held, and dropped meanwhile: frees the recent entries and
 * lets go of the lingering files that aged, and comes back for the rest a
 * quarter of their time later. */
static void expire_aged(void)
{
    expiring = false;
    nv_mutex_unlock(&queue_lock);
    bool recent_left = nvrecent_expire();
    bool lingering_left = nvfile_linger_expire();
    nv_mutex_lock(&queue_lock);
    if (recent_left)
        expire_in(RECENT_KEEP_NS / 4);
    if (lingering_left)
        expire_in(NVFILE_LINGER_NS / 4);
}

/* 1 when the task `name` of the process is a thread other than `self`
 * that has not ended (one that ended and is not reaped yet, the main one
 * among them, is a zombie). */
static int live_other(const char *name, void *self)
{
    pid_t tid = (pid_t)atoi(name);
    if (tid <= 0 || tid == *(pid_t *)self)
        return 0;
    char path[64], stat[512];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    if (!sys_read_small(path, stat, sizeof(stat)))
        return 0; /* gone meanwhile */
    const char *end = strrchr(stat, ')');
    return !end || (end[2] != 'Z' && end[2] != 'X');
}

/* Whether every other thread of the process has ended. */
static bool alone(void)
{
    int dir = sys_openat(AT_FDCWD, "/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dir < 0)
        return false;
    pid_t self = sys_gettid();
    bool others = sys_dir_each(dir, live_other, &self) != 0;
    sys_close(dir);
    return !others;
}

static void *helper_loop(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "nvmmio-helper");
    nv_mutex_lock(&queue_lock);
    started = true;
    pthread_cond_broadcast(&started_cond);
    for (;;) {
        struct nvfile *f = NULL;
        struct queue *q = prepares.head                                          ? &prepares
                          : shares.head && due(&shares.head->share_due)          ? &shares
                          : checkpoints.head && due(&checkpoints.head->ckpt_due) ? &checkpoints
                                                                                 : NULL;
        if (q)
            f = pop(q);
        if (!f && expiring && due(&expire_due)) {
            expire_aged();
            continue;
        }
        if (!f && main_gone && alone()) {
            retired = true;
            running = false;
            nv_mutex_unlock(&queue_lock);
            return NULL;
        }
        if (!f) {
            const struct timespec *next = next_due();
            struct timespec look = from_now(LAST_LOOK_NS);
            if (main_gone)
                next = earlier(next, &look);
            if (next) {
                sleeps_timed = true;
                sleeps_until = *next;
                pthread_cond_timedwait(&queue_cond, &queue_lock, &sleeps_until);
                sleeps_timed = false;
            } else {
                pthread_cond_wait(&queue_cond, &queue_lock);
            }
            continue;
        }
        f->helper_busy = true;
        nv_mutex_unlock(&queue_lock);
        if (q == &prepares)
            nvfile_prepare_ahead(f);
        else if (q == &shares)
            nvfile_share_now(f);
        else
            checkpoint_if_idle(f);
        nv_mutex_lock(&queue_lock);
        f->helper_busy = false;
        pthread_cond_broadcast(&idle_cond);
    }
    return NULL;
}

/* queue_lock held. Starts the thread and waits until it runs its loop: a
 * process that exits at once must not find it half made (the sanitizers'
 * runtimes deadlock there). */
static bool start_thread(void)
{
    pthread_t t;
    pthread_attr_t attr;
    sigset_t all, old;
    init_queue_cond();
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* The program's signals are for the program's threads. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    started = false;
    int rc = pthread_create(&t, &attr, helper_loop, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    /* The crash model's build runs no thread of the library's (a thread
     * merely slow is a legal schedule): nothing to wait for there. */
    while (rc == 0 && !started && !pm_follows_one_thread())
        nv_cond_wait(&started_cond, &queue_lock);
    return rc == 0;
}

/* queue_lock held. */
static bool ensure_running(void)
{
    if (!running && !retired)
        running = start_thread();
    return running;
}

/* Lets go of the queue lock, then wakes the thread if `wake`: woken while
 * the lock is still held, it would only wait for it. */
static void unlock_waking(bool wake)
{
    nv_mutex_unlock(&queue_lock);
    if (wake)
        pthread_cond_signal(&queue_cond);
}

void nvhelper_main_thread_exits(void)
{
    nv_mutex_lock(&queue_lock);
    main_gone = true;
    unlock_waking(running);
}

void nvhelper_checkpoint(struct nvfile *f)
{
    nv_mutex_lock(&queue_lock);
    if (!ensure_running()) {
        nv_mutex_unlock(&queue_lock);
        /* No thread: the caller holds the lock, so checkpoint right here. */
        nvfile_checkpoint(f);
        return;
    }
    f->ckpt_epoch = f->journal.epoch;
    bool wake = false;
    if (!f->ckpt_queued) {
        f->ckpt_due = from_now(IDLE_DELAY_NS);
        /* A thread asleep with work queued wakes when it is due anyway. */
        wake = push(&checkpoints, f) && !prepares.head;
    }
    unlock_waking(wake);
}

bool nvhelper_available(void)
{
    if (pm_follows_one_thread())
        return false;
    nv_mutex_lock(&queue_lock);
    bool ok = ensure_running();
    nv_mutex_unlock(&queue_lock);
    return ok;
}

void nvhelper_prepare(struct nvfile *f)
{
    nv_mutex_lock(&queue_lock);
    unlock_waking(ensure_running() && !f->ahead_queued && push(&prepares, f));
}

bool nvhelper_share_later(struct nvfile *f)
{
    if (pm_follows_one_thread())
        return false;
    nv_mutex_lock(&queue_lock);
    bool ok = ensure_running();
    if (ok) {
        f->share_due = from_now(SHARE_DELAY_NS);
        push(&shares, f);
    }
    unlock_waking(ok && (!sleeps_timed || before(&f->share_due, &sleeps_until)));
    return ok;
}

void nvhelper_expire_later(long delay_ns)
{
    if (pm_follows_one_thread())
        return;
    nv_mutex_lock(&queue_lock);
    bool wake = false;
    if (ensure_running()) {
        expire_in(delay_ns);
        wake = !sleeps_timed || before(&expire_due, &sleeps_until);
    }
    unlock_waking(wake);
}

void nvhelper_forget(struct nvfile *f)
{
    nv_mutex_lock(&queue_lock);
    unlink_file(&checkpoints, f);
    unlink_file(&prepares, f);
    unlink_file(&shares, f);
    while (f->helper_busy)
        nv_cond_wait(&idle_cond, &queue_lock);
    nv_mutex_unlock(&queue_lock);
}

void nvhelper_before_fork(void)
{
    nv_mutex_lock(&queue_lock);
}

void nvhelper_after_fork_parent(void)
{
    nv_mutex_unlock(&queue_lock);
}

void nvhelper_after_fork_child(void)
{
    /* The queued files are the parent's business now; the child's copies
     * start unqueued and the thread starts again on demand. */
    struct queue *queues[] = {&checkpoints, &prepares, &shares};
    for (int i = 0; i < 3; i++) {
        while (queues[i]->head)
            pop(queues[i])->helper_busy = false;
    }
    running = false;
    sleeps_timed = false;
    expiring = false;
    /* The parent's thread may have been waiting on the conditions: their
     * state counts a waiter that does not exist here. */
    init_queue_cond();
    pthread_cond_init(&idle_cond, NULL);
    pthread_cond_init(&started_cond, NULL);
    nv_mutex_unlock(&queue_lock);
}
