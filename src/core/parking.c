/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * parking.c - the budget of the library's own descriptors of managed files
 * (see parking.h): the files whose descriptor is open and counted, in a
 * fixed table (no allocation: nvfile_lock may run in a signal handler),
 * and parking and reopening under one mutex.
 */
#include "core/parking.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "core/fdtable.h"
#include "core/nvfile.h"
#include "os/critical.h"
#include "os/keptfds.h"
#include "os/sys.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct nvfile *counted[NVPARK_BUDGET];
static unsigned hand; /* where the search for a file to park goes on */
static int budget;    /* slots in use: NVPARK_BUDGET or fewer under a low limit */

/* A 64th of the descriptor limit, 4 to NVPARK_BUDGET. */
static int budget_now(void)
{
    if (!budget)
        budget = kept_budget(64, 4, NVPARK_BUDGET);
    return budget;
}

/* lock held. The slot of f, or -1. */
static int slot_of(const struct nvfile *f)
{
    for (int i = 0; i < budget_now(); i++)
        if (counted[i] == f)
            return i;
    return -1;
}

/* lock held. Parks the file of slot i if nobody uses it: true then. */
static bool park(int i)
{
    struct nvfile *v = counted[i];
    if (!nvfile_trylock(v))
        return false;
    /* Closing it would drop the program's record locks on the file
     * (nvops_record_lock_taking marks it under the shared lock). */
    if (__atomic_load_n(&v->record_locks, __ATOMIC_ACQUIRE)) {
        nvfile_unlock(v);
        return false;
    }
    int fd = v->fd;
    /* -1 first: a fork between the two leaves the child a descriptor too
     * many rather than a number it might close twice. */
    __atomic_store_n(&v->fd, -1, __ATOMIC_RELEASE);
    kept_close(fd);
    counted[i] = NULL;
    nvfile_unlock(v);
    return true;
}

/* lock held. Counts f, parking another file when the budget is spent; a
 * file that finds every other one busy goes uncounted (over budget while
 * the others are in use). */
static void count(struct nvfile *f)
{
    if (f->park_done || slot_of(f) >= 0)
        return;
    int free_slot = slot_of(NULL);
    for (int tries = 0; free_slot < 0 && tries < budget_now(); tries++) {
        int i = (int)(hand++ % (unsigned)budget_now());
        if (counted[i] != f && park(i))
            free_slot = i;
    }
    if (free_slot >= 0)
        counted[free_slot] = f;
}

void nvpark_adopted(struct nvfile *f, int kfd)
{
    nv_mutex_lock(&lock);
    f->park_hint = kfd;
    if (__atomic_load_n(&f->fd, __ATOMIC_ACQUIRE) >= 0)
        count(f);
    nv_mutex_unlock(&lock);
}

/* A descriptor of f's file opened again through the program's descriptor
 * kfd: the same inode (fstat), with the access the library had. */
static int open_through(const struct nvfile *f, int kfd)
{
    int fd;
    do
        fd = sys_reopen(kfd, f->writable ? O_RDWR : O_RDONLY);
    while (kept_retry(fd));
    struct stat st;
    if (fd >= 0 && (sys_fstat(fd, &st) < 0 || st.st_dev != f->dev || st.st_ino != f->ino)) {
        sys_close(fd);
        fd = -ESTALE;
    }
    return fd;
}

/* lock held. Reopens f's file through the remembered descriptor, or any
 * other the program has of it. */
static int reopen(struct nvfile *f)
{
    int fd = f->park_hint >= 0 ? open_through(f, f->park_hint) : -EBADF;
    int limit = nvfd_limit();
    for (int kfd = 0; fd < 0 && fd != -EMFILE && kfd < limit; kfd++) {
        struct nvofd *o = nvfd_begin(kfd);
        bool same = o && o->file == f;
        if (o)
            nvofd_end(o);
        if (same && kfd != f->park_hint) {
            fd = open_through(f, kfd);
            if (fd >= 0)
                f->park_hint = kfd;
        }
    }
    return fd < 0 ? fd : kept_fd(fd);
}

/* nvpark_fd of a parked descriptor, out of line: a file's every locked
 * call asks, and nearly always finds it open. */
static __attribute__((noinline)) int unpark(struct nvfile *f)
{
    nv_mutex_lock(&lock);
    int fd = f->fd; /* another reader may have opened it meanwhile */
    if (fd < 0) {
        /* Room first, so the reopen finds a number even when the program
         * holds every other one. */
        count(f);
        fd = reopen(f);
        /* The program holds every other number: one more parked frees one. */
        for (int i = 0; fd == -EMFILE && i < budget_now(); i++)
            if (counted[i] && counted[i] != f && park(i))
                fd = reopen(f);
        if (fd >= 0) {
            __atomic_store_n(&f->fd, fd, __ATOMIC_RELEASE);
        } else {
            int i = slot_of(f);
            if (i >= 0)
                counted[i] = NULL;
        }
    }
    nv_mutex_unlock(&lock);
    return fd;
}

int nvpark_fd(struct nvfile *f)
{
    int fd = __atomic_load_n(&f->fd, __ATOMIC_ACQUIRE);
    return fd >= 0 ? fd : unpark(f);
}

/* Stops counting f, for good when `done`. */
static void uncount(struct nvfile *f, bool done)
{
    nv_mutex_lock(&lock);
    if (done)
        f->park_done = true;
    int i = slot_of(f);
    if (i >= 0)
        counted[i] = NULL;
    nv_mutex_unlock(&lock);
}

void nvpark_forget(struct nvfile *f)
{
    uncount(f, true);
}

void nvpark_idle(struct nvfile *f)
{
    uncount(f, false);
}

int nvpark_all(void)
{
    int parked = 0, limit = kept_limit();
    nv_mutex_lock(&lock);
    for (int i = 0; i < budget_now(); i++)
        parked +=
            counted[i] && __atomic_load_n(&counted[i]->fd, __ATOMIC_ACQUIRE) < limit && park(i);
    nv_mutex_unlock(&lock);
    return parked;
}

void nvpark_after_fork_child(void)
{
    pthread_mutex_init(&lock, NULL);
}
