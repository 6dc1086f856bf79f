/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tx.c - transactions of a thread over several managed files (see tx.h):
 * the files that take part, the commit through a transaction record, the
 * abort, and the process's transactions as a whole (fork, exec, exit).
 *
 * Locks: a transaction's mutex, then the file table's, then files' locks.
 * The owning thread holds the mutex while it joins, commits or aborts; the
 * process takes it to abort every transaction. Each is held inside a
 * critical section (os/critical.h), so a signal handler that writes never
 * waits for its own thread.
 */
#include "core/tx.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/debug.h"
#include "core/fdtable.h"
#include "core/kernelfds.h"
#include "core/nvfile.h"
#include "log/recovery.h"
#include "log/txrecord.h"
#include "mutants.h"
#include "os/critical.h"
#include "os/sys.h"

enum tx_state {
    TX_NONE,     /* no transaction */
    TX_OPEN,     /* begun */
    TX_CANCELED, /* aborted by the process; the thread has not heard yet */
};

struct nvtx {
    pthread_mutex_t mutex;
    int state; /* enum tx_state: atomic, written under mutex */
    unsigned n;
    struct nvfile *files[NVTXREC_MAX]; /* pinned while they take part */
    struct nvtxrec rec;                /* the record file, made at the first need */
    char *rec_dir;                     /* its directory */
    struct nvtx *next;                 /* every transaction of the process */
};

/* Initial-exec: every write asks, and the general model costs a call. */
static __thread struct nvtx *current __attribute__((tls_model("initial-exec")));
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nvtx *all;
static pthread_key_t thread_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static int state_of(const struct nvtx *t)
{
    return __atomic_load_n(&t->state, __ATOMIC_ACQUIRE);
}

static void set_state(struct nvtx *t, int s)
{
    __atomic_store_n(&t->state, s, __ATOMIC_RELEASE);
}

/* ---- the files of a transaction ----------------------------------------- */

/* The first change to f inside t: what f holds so far is committed on its
 * own, and its next epoch, logged with undo so that an abort can put the
 * bytes back, is the transaction's. t's mutex held. */
static int add_file(struct nvtx *t, struct nvfile *f)
{
    if (t->n == NVTXREC_MAX)
        return -ENOSPC;
    if (t->n && strcmp(t->files[0]->log_dir, f->log_dir) != 0)
        return -EXDEV;
    nvfile_pin(f);
    nvfile_lock(f, NULL);
    int rc = f->tx ? -EBUSY : f->share.shared ? -EXDEV : 0;
    if (rc == 0)
        rc = nvfile_commit(f);
    if (rc == 0)
        rc = nvfile_checkpoint(f);
    if (rc == 0) {
        f->journal.policy = NVLOG_UNDO;
        __atomic_store_n(&f->tx, t, __ATOMIC_RELEASE);
        t->files[t->n++] = f;
    }
    nvfile_unlock(f);
    if (rc < 0)
        nvfile_release(f);
    return rc;
}

/* nvtx_join inside a transaction, out of line: every write asks, and
 * nearly always outside one. */
static __attribute__((noinline)) int join(struct nvtx *t, struct nvfile *f)
{
    if (state_of(t) != TX_OPEN || __atomic_load_n(&f->tx, __ATOMIC_ACQUIRE) == t)
        return 0;
    nv_mutex_lock(&t->mutex);
    int rc = state_of(t) == TX_OPEN ? add_file(t, f) : 0;
    nv_mutex_unlock(&t->mutex);
    return rc;
}

int nvtx_join(struct nvfile *f)
{
    struct nvtx *t = current;
    return t ? join(t, f) : 0;
}

struct nvtx *nvtx_step_out(void)
{
    struct nvtx *t = current;
    current = NULL;
    return t;
}

void nvtx_step_back(struct nvtx *t)
{
    current = t;
}

int nvtx_refuse_kernel_fd(int fd)
{
    struct stat st;
    if (!nvtx_open() || nvfd_is_managed(fd) || sys_fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    return nvkfd_holds(st.st_dev, st.st_ino) ? -EXDEV : 0;
}

bool nvtx_holds(const struct nvfile *f)
{
    return __atomic_load_n(&f->tx, __ATOMIC_ACQUIRE) != NULL;
}

bool nvtx_open(void)
{
    return current && state_of(current) == TX_OPEN;
}

/* Lets the files go: the transaction's pins are dropped (the last one
 * settles the file, as a close would). */
static void release_files(struct nvtx *t)
{
    for (unsigned i = 0; i < t->n; i++)
        nvfile_release(t->files[i]);
    t->n = 0;
}

static void lock_files(struct nvtx *t)
{
    for (unsigned i = 0; i < t->n; i++)
        nvfile_lock(t->files[i], NULL);
}

static void unlock_files(struct nvtx *t)
{
    for (unsigned i = 0; i < t->n; i++)
        nvfile_unlock(t->files[i]);
}

/* ---- commit --------------------------------------------------------------- */

/* The record file in the files' log directory, made at the first commit
 * there. */
static int record_file(struct nvtx *t, const struct nvfile *f)
{
    if (t->rec.fd >= 0 && strcmp(t->rec_dir, f->log_dir) == 0)
        return 0;
    const char *why = NULL;
    int dirfd = nvlog_dir_open(f->log_dir, f->uid, false, &why);
    if (dirfd < 0)
        return dirfd;
    if (t->rec.fd >= 0) {
        int old = sys_open_dir(t->rec_dir, 0);
        nvtxrec_close(&t->rec, old);
        if (old >= 0)
            sys_close(old);
    }
    free(t->rec_dir);
    t->rec_dir = strdup(f->log_dir);
    int rc = t->rec_dir ? nvtxrec_create(&t->rec, dirfd) : -ENOMEM;
    sys_close(dirfd);
    return rc;
}

/* The commit point: every changed file's records and bytes drained, then
 * the record that names the epoch each one commits. Before it returns,
 * nothing of the transaction is committed. Files locked. */
static int write_record(struct nvtx *t, struct nvfile **changed, unsigned n)
{
    struct nvtxrec_entry e[NVTXREC_MAX];
    int rc = record_file(t, changed[0]);
    for (unsigned i = 0; rc == 0 && i < n; i++) {
        struct nvfile *f = changed[i];
        rc = nvjournal_prepare(&f->journal, &f->map);
        if (rc == 0)
            rc = nvtxrec_entry_fill(&e[i], &f->journal.log, f->log_name, f->journal.epoch, f->size,
                                    nvjournal_commit_resets(&f->journal));
    }
    if (rc == 0 && MUTANT(15)) { /* a file commits before the record is durable */
        __atomic_store_n(&changed[0]->tx, NULL, __ATOMIC_RELEASE);
        rc = nvfile_commit(changed[0]);
    }
    return rc == 0 ? nvtxrec_write(&t->rec, e, n) : rc;
}

/* Files locked. Past the record the transaction is committed whatever
 * happens (*ended): each file's own commit follows it, and a crash in
 * between is completed by recovery from the record. An error before it
 * leaves the transaction open. */
static int commit_files(struct nvtx *t, bool *ended)
{
    struct nvfile *changed[NVTXREC_MAX];
    unsigned n = 0;
    for (unsigned i = 0; i < t->n; i++)
        if (t->files[i]->dirty)
            changed[n++] = t->files[i];
    /* One changed file commits alone, as at any durability point. */
    int rc = n > 1 ? write_record(t, changed, n) : 0;
    if (rc < 0)
        return rc;
    *ended = true;
    for (unsigned i = 0; i < t->n; i++) {
        struct nvfile *f = t->files[i];
        __atomic_store_n(&f->tx, NULL, __ATOMIC_RELEASE);
        /* The files' durability point: the kernel's view becomes theirs,
         * as at an fsync. */
        int r = nvfile_expose(f, true);
        if (r < 0 && rc == 0)
            rc = r;
    }
    if (rc < 0)
        nv_warn("a transaction passed its commit point, but a file's own commit failed (%s): "
                "recovery completes it",
                strerror(-rc));
    return rc < 0 ? -EIO : 0;
}

int nvtx_commit(void)
{
    struct nvtx *t = current;
    if (!t)
        return -EINVAL;
    nv_mutex_lock(&t->mutex);
    int state = state_of(t);
    int rc = state == TX_NONE ? -EINVAL : state == TX_CANCELED ? -ECANCELED : 0;
    bool ended = state == TX_CANCELED;
    if (rc == 0) {
        lock_files(t);
        rc = commit_files(t, &ended);
        unlock_files(t);
        if (ended)
            release_files(t);
    }
    if (ended)
        set_state(t, TX_NONE);
    nv_mutex_unlock(&t->mutex);
    return rc;
}

/* ---- abort ---------------------------------------------------------------- */

/* The bytes the epoch's undo records saved go back, the size to the
 * committed one, and the epoch commits as it began. The end of the
 * transaction is the file's durability point: the kernel's view becomes
 * the file's, as at an fsync. File locked. */
static int abort_file(struct nvfile *f)
{
    __atomic_store_n(&f->tx, NULL, __ATOMIC_RELEASE);
    if (f->dirty) {
        long undone = nvlog_exists(&f->journal.log)
                          ? nvlog_roll_back(&f->journal.log, &f->map, f->real_size)
                          : 0;
        if (undone < 0)
            return (int)undone;
        f->size = f->committed_size;
        nvfile_changed(f);
    }
    return nvfile_expose(f, true);
}

static int abort_files(struct nvtx *t)
{
    int rc = 0;
    for (unsigned i = 0; i < t->n; i++) {
        struct nvfile *f = t->files[i];
        nvfile_lock(f, NULL);
        int r = abort_file(f);
        nvfile_unlock(f);
        if (r < 0 && rc == 0)
            rc = r;
    }
    release_files(t);
    return rc;
}

int nvtx_abort(void)
{
    struct nvtx *t = current;
    if (!t)
        return -EINVAL;
    nv_mutex_lock(&t->mutex);
    int rc = state_of(t) == TX_NONE ? -EINVAL : 0;
    if (state_of(t) == TX_OPEN)
        rc = abort_files(t);
    if (rc != -EINVAL)
        set_state(t, TX_NONE);
    nv_mutex_unlock(&t->mutex);
    return rc;
}

/* ---- a thread's transaction object -------------------------------------- */

static void close_record(struct nvtx *t)
{
    if (t->rec.fd < 0)
        return;
    int dirfd = sys_open_dir(t->rec_dir, 0);
    nvtxrec_close(&t->rec, dirfd);
    if (dirfd >= 0)
        sys_close(dirfd);
}

/* A thread that ends with a transaction open aborts it. */
static void thread_gone(void *arg)
{
    struct nvtx *t = arg;
    nv_mutex_lock(&all_lock);
    for (struct nvtx **p = &all; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            break;
        }
    nv_mutex_unlock(&all_lock);
    if (state_of(t) == TX_OPEN)
        abort_files(t);
    close_record(t);
    free(t->rec_dir);
    pthread_mutex_destroy(&t->mutex);
    free(t);
    current = NULL;
}

static void make_key(void)
{
    pthread_key_create(&thread_key, thread_gone);
}

int nvtx_begin(void)
{
    struct nvtx *t = current;
    if (!t) {
        pthread_once(&key_once, make_key);
        t = calloc(1, sizeof(*t));
        if (!t)
            return -ENOMEM;
        pthread_mutex_init(&t->mutex, NULL);
        nvtxrec_init(&t->rec);
        nv_mutex_lock(&all_lock);
        t->next = all;
        all = t;
        nv_mutex_unlock(&all_lock);
        pthread_setspecific(thread_key, t);
        current = t;
    }
    nv_mutex_lock(&t->mutex);
    int rc = state_of(t) == TX_OPEN ? -EBUSY : 0;
    if (rc == 0)
        set_state(t, TX_OPEN);
    nv_mutex_unlock(&t->mutex);
    return rc;
}

/* ---- the process's transactions ----------------------------------------- */

void nvtx_abort_all(void)
{
    nv_mutex_lock(&all_lock);
    for (struct nvtx *t = all; t; t = t->next) {
        nv_mutex_lock(&t->mutex);
        if (state_of(t) == TX_OPEN) {
            abort_files(t);
            set_state(t, TX_CANCELED);
        }
        close_record(t);
        nv_mutex_unlock(&t->mutex);
    }
    nv_mutex_unlock(&all_lock);
}

void nvtx_forget_all(void)
{
    for (struct nvtx *t = all, *next; t; t = next) {
        next = t->next;
        nvtxrec_close(&t->rec, -1);
        free(t->rec_dir);
        free(t);
    }
    all = NULL;
    if (current)
        pthread_setspecific(thread_key, NULL);
    current = NULL;
    pthread_mutex_init(&all_lock, NULL);
}
