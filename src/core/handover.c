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
#include "core/tx.h"
#include "mutants.h"
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

int nvops_settle_all(void)
{
    int rc = for_every_file(nvfile_settle);
    /* the process ends, or its image does */
    nvlog_spares_drop();
    nvshare_spares_drop();
    return rc;
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

static void sync_offset(int fd, struct nvofd *o);

void nvops_hand_over(void)
{
    nvtx_abort_all(); /* the new image cannot commit them */
    nvops_settle_all();
    nvfd_for_each(sync_offset);
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
        o->pos = (uint64_t)pos;
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
    nvtx_abort_all(); /* the files go to the kernel */
    nvtable_lock();
    nvtable_for_each(lock_and_settle, NULL);
    nvfd_for_each(sync_offset_and_mark);
    nvhelper_before_fork();
    nvrecent_before_fork();
    nvcanon_before_fork();
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
        if (shared)
            nvkfd_add(fd, o->file->dev, o->file->ino);
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
    nvcanon_after_fork();
    nvrecent_after_fork(child);
    if (!child) {
        nvhelper_after_fork_parent();
        struct nvofd *detached = detach_shared();
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
    nvpark_after_fork_child();
    nvtable_clear(nvfile_abandon);
    nvfd_forget_all();
    nvowner_after_fork_child();
    nvtable_unlock();
}
