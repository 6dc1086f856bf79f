/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * handover.c - the process's managed files as a whole: committing or
 * settling all of them, exposing and revalidating them around file locks, handing them over across
 * exec, spawn and fork, and adopting the descriptors a process inherited open.
 */
#include "core/ops.h"

#include <stdlib.h>

#include "core/config.h"
#include "core/fdtable.h"
#include "core/filetable.h"
#include "core/helper.h"
#include "core/kernelfds.h"
#include "core/nvfile.h"
#include "core/owner.h"
#include "core/ops_internal.h"
#include "core/canonpaths.h"
#include "core/recent.h"
#include "core/recordlocks.h"
#include "core/tx.h"
#include "mutants.h"
#include "os/keptfds.h"
#include "os/sys.h"

struct each_file {
    int (*op)(struct nvfile *f); /* called with the file's write lock */
    int rc;                      /* the first error */
};

static void apply_locked(struct nvfile *f, void *arg)
{
    struct each_file *e = arg;
    nvfile_lock(f, NULL);
    int r = e->op(f);
    nvfile_unlock(f);
    if (r < 0 && e->rc == 0)
        e->rc = r;
}

static int for_every_file(int (*op)(struct nvfile *f))
{
    struct each_file e = {op, 0};
    nvtable_lock();
    nvtable_for_each(apply_locked, &e);
    nvtable_unlock();
    return e.rc;
}

/* Settling takes the ownership lock alone while the log goes; a file that
 * others may join (it has a share block) is shared again after, or a
 * process that goes on serving it (after a spawn) would keep every other
 * one waiting out its patience at its open (nvowner_serve). */
static int settle_and_share(struct nvfile *f)
{
    int rc = nvfile_settle(f);
    if (f->share.block)
        nvowner_share(&f->owner);
    return rc;
}

int nvops_settle_all(void)
{
    int rc = for_every_file(settle_and_share);
    /* the process ends, or its image does */
    nvlog_spares_drop();
    nvshare_spares_drop();
    return rc;
}

void nvops_all_to_kernel(void)
{
    nvops_process_ending();
    for_every_file(nvops_expose_to_kernel);
    int limit = nvfd_limit();
    for (int fd = 0; fd < limit; fd++)
        nvops_descriptor_to_kernel(fd, NULL);
}

void nvops_main_thread_exits(void)
{
    nvhelper_main_thread_exits();
}

int nvops_commit_all(void)
{
    return for_every_file(nvfile_commit);
}

static int expose_lazily(struct nvfile *f)
{
    return nvfile_expose(f, true);
}

int nvops_lock_releasing(void)
{
    return MUTANT(21) ? 0 : for_every_file(expose_lazily);
}

int nvops_lock_taken(void)
{
    nvops_recover_orphans();
    if (!MUTANT(20))
        nvfile_all_unchecked();
    return 0;
}

void nvops_record_lock_taking(int fd)
{
    struct nvofd *o = nvfd_begin(fd);
    if (!o)
        return;
    struct nvfile *f = o->file;
    /* Marked, and open: no park closes it any more (it looks under the
     * exclusive lock). */
    if (__atomic_load_n(&f->record_locks, __ATOMIC_ACQUIRE) &&
        __atomic_load_n(&f->fd, __ATOMIC_ACQUIRE) >= 0) {
        nvofd_end(o);
        return;
    }
    /* Under the shared lock: a park, which takes the exclusive one, is
     * either over (the descriptor is gone: opened again below, before the
     * lock exists that closing its first number would drop) or sees the
     * mark and leaves the descriptor alone. */
    int held = nvfile_lock_shared(f);
    __atomic_store_n(&f->record_locks, true, __ATOMIC_RELEASE);
    bool parked = __atomic_load_n(&f->fd, __ATOMIC_ACQUIRE) < 0;
    nvfile_unlock_shared(f, held);
    if (parked) {
        nvfile_lock(f, NULL); /* opens it again */
        nvfile_unlock(f);
    }
    nvofd_end(o);
}

bool nvops_record_locks_going(int fd, dev_t *dev, ino_t *ino)
{
    struct nvofd *o = nvfd_begin(fd);
    if (o) {
        *dev = o->file->dev;
        *ino = o->file->ino;
        bool marked = __atomic_load_n(&o->file->record_locks, __ATOMIC_ACQUIRE);
        nvofd_end(o);
        return marked || nvrlocks_waiting_for(*dev, *ino);
    }
    struct stat st;
    if (!nvrlocks_waiting() || sys_fstat(fd, &st) < 0)
        return false;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return nvrlocks_waiting_for(*dev, *ino);
}

void nvops_record_locks_gone(dev_t dev, ino_t ino)
{
    struct nvfile *f = nvtable_pin(dev, ino);
    if (f) {
        __atomic_store_n(&f->record_locks, false, __ATOMIC_RELEASE);
        nvfile_release(f);
    }
    nvrlocks_gone(dev, ino);
}

int nvops_close_keeping_locks(int fd, dev_t dev, ino_t ino)
{
    struct nvofd *o = nvops_close_begin(fd);
    int rc = o ? nvops_close_finish(o) : 0;
    nvrlocks_close_later(fd, dev, ino, false);
    return rc;
}

static void sync_offset(int fd, struct nvofd *o);

/* A descriptor a spawned program inherits shares its description, and so
 * its position, with that program from now on: the kernel keeps it. */
static void sync_offset_and_share(int fd, struct nvofd *o)
{
    int fd_flags = sys_fcntl(fd, F_GETFD, 0);
    if (fd_flags >= 0 && !(fd_flags & FD_CLOEXEC))
        nvofd_share_position(o, fd);
    else
        sync_offset(fd, o);
}

void nvops_descriptor_sent(int fd)
{
    struct nvofd *o = nvfd_begin(fd);
    if (o) {
        nvofd_share_position(o, fd);
        nvofd_end(o);
    }
}

void nvops_hand_over(void)
{
    nvfile_let_go_all(false);
    nvtx_abort_all(); /* the new image cannot commit them */
    nvops_settle_all();
    /* Each description pinned in turn, not under the table's lock: a fork
     * of another thread holds every position and then takes that lock. */
    int limit = nvfd_limit();
    for (int fd = 0; fd < limit; fd++) {
        struct nvofd *o = nvfd_begin(fd);
        if (o) {
            sync_offset_and_share(fd, o);
            nvofd_end(o);
        }
    }
    nvrecent_drop_all();
}

struct inherited {
    int dir; /* /proc/self/fd */
    bool adopted;
};

/* Adopts the descriptor `name` of /proc/self/fd when it is of a managed
 * file the library does not know yet. */
static int adopt_entry(const char *name, void *arg)
{
    struct inherited *in = arg;
    char *end;
    long fd = strtol(name, &end, 10);
    if (*end || fd == in->dir || fd < FIRST_MANAGED_FD || nvfd_is_managed((int)fd))
        return 0;
    int flags = sys_fcntl((int)fd, F_GETFL, 0);
    long pos = sys_lseek((int)fd, 0, SEEK_CUR);
    if (flags < 0 || pos < 0 ||
        nvops_adopt((int)fd, AT_FDCWD, "(inherited)", flags & ~O_TRUNC, false) < 0)
        return 0;
    in->adopted = true;
    struct nvofd *o = nvfd_begin((int)fd);
    if (o) {
        /* Shared with the process it came from: the kernel keeps the
         * position (a dup of it inherited too shares it that way). */
        o->pos = (uint64_t)pos;
        __atomic_store_n(&o->kernel_fd, (int)fd, __ATOMIC_RELAXED);
        nvofd_end(o);
    }
    return 0;
}

bool nvops_adopt_inherited(void)
{
    /* Settings are read on first use; a process started without a root
     * (it may set one itself later) must not read them this early. */
    if (!getenv("NVMMIO_PATH") && !getenv("PMEM_PATH"))
        return false;
    if (nv_config()->nroots == 0)
        return false;
    struct inherited in = {
        sys_openat(AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0), false};
    if (in.dir < 0)
        return false;
    sys_dir_each(in.dir, adopt_entry, &in);
    sys_close(in.dir);
    return in.adopted;
}

/* Fork hands every managed file to a child that sees it through the kernel:
 * each is settled (durable, home, trimmed) under its lock, which stays held
 * across the fork, and the kernel's offsets are brought up to the
 * library's. The child then forgets the parent's objects. */
static void lock_and_settle(struct nvfile *f, void *arg)
{
    (void)arg;
    nvfile_lock(f, NULL);
    nvfile_settle(f);
}

static void unlock_file(struct nvfile *f, void *arg)
{
    (void)arg;
    nvfile_unlock(f);
}

static void sync_offset(int fd, struct nvofd *o)
{
    /* The kernel keeps a shared description's position itself. */
    if (__atomic_load_n(&o->kernel_fd, __ATOMIC_RELAXED) < 0)
        sys_lseek(fd, (off_t)o->pos, SEEK_SET);
}

/* The child shares every descriptor, offset included, until it execs, and
 * reaches the files through the kernel: the parent must use it too. */
static void sync_offset_and_mark(int fd, struct nvofd *o)
{
    sync_offset(fd, o);
    o->file->shared_with_child = true;
}

void nvops_before_fork(void)
{
    /* First: a call that has read a position may be waiting for a file's
     * lock, which the settle below takes. */
    nvfile_let_go_all(false);
    nvfd_hold_positions();
    nvtx_abort_all(); /* the files go to the kernel */
    nvtable_lock();
    nvtable_for_each(lock_and_settle, NULL);
    nvfd_for_each(sync_offset_and_mark);
    nvhelper_before_fork();
    nvrecent_before_fork();
    nvcanon_before_fork();
    /* Last, the leaf locks, innermost last: a child that settles the files
     * it opens (at its exit) takes them. */
    nvlog_before_fork();
    nvshare_before_fork();
    nvkfd_before_fork();
    kept_before_fork();
}

/* After a fork, in the parent: every descriptor goes to the kernel here too,
 * so both processes see one offset and one set of bytes. The offsets went
 * to the kernel before the fork; the child may be moving them already, so
 * they are not touched again. Called with the files still locked, so no
 * call of this process moves an offset in between. */
static struct nvofd *detach_shared(void)
{
    struct nvofd *detached = NULL;
    int limit = nvfd_limit();
    for (int fd = 0; fd < limit; fd++) {
        struct nvofd *o = nvfd_begin(fd);
        if (!o)
            continue;
        bool shared = o->file->shared_with_child;
        if (shared) {
            nvkfd_add(fd, o->file->dev, o->file->ino);
            /* A call of another thread waiting for the position takes
             * the kernel's, which the child may be moving now, and a
             * write goes to the kernel. */
            __atomic_store_n(&o->kernel_fd, fd, __ATOMIC_RELAXED);
            __atomic_store_n(&o->to_kernel, true, __ATOMIC_RELEASE);
        }
        nvstats_fallback_if(shared, NVSTAT_FB_FORK);
        nvofd_end(o);
        struct nvofd *last = shared ? nvfd_remove(fd) : NULL;
        if (last) {
            last->free_next = detached;
            detached = last;
        }
    }
    return detached;
}

void nvops_after_fork(bool child)
{
    kept_after_fork();
    nvkfd_after_fork();
    nvshare_after_fork();
    nvlog_after_fork();
    nvcanon_after_fork();
    nvrecent_after_fork(child);
    if (!child) {
        nvhelper_after_fork_parent();
        struct nvofd *detached = detach_shared();
        nvfd_release_positions();
        nvtable_for_each(unlock_file, NULL);
        nvtable_unlock();
        while (detached) {
            struct nvofd *next = detached->free_next;
            nvops_close_finish(detached);
            detached = next;
        }
        return;
    }
    nvhelper_after_fork_child();
    nvtx_forget_all();
    /* Every descriptor the child inherited reaches its file through the
     * kernel here; the file must not be managed beside them. */
    int limit = nvfd_limit();
    for (int fd = 0; fd < limit; fd++) {
        struct nvofd *o = nvfd_begin(fd);
        if (o) {
            nvkfd_add(fd, o->file->dev, o->file->ino);
            nvofd_end(o);
        }
    }
    nvstats_forget_all();
    nvfd_release_positions();
    nvpark_after_fork_child();
    nvrlocks_after_fork_child();
    nvtable_clear(nvfile_abandon);
    nvfile_forget_going();
    nvfd_forget_all();
    nvowner_after_fork_child();
    nvtable_unlock();
}
