/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fdtable.h - from a descriptor number to what the library knows of it.
 *
 * An nvofd is the library's side of an open file description: the offset,
 * the flags and the file. Descriptors made by dup share one. A lookup is one
 * array load, so unmanaged descriptors pay almost nothing; it is lock-free
 * and safe against a concurrent close (see fdtable.c).
 */
#ifndef NVMMIO_CORE_FDTABLE_H
#define NVMMIO_CORE_FDTABLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "os/critical.h"

struct nvfile;

struct nvofd {
    struct nvfile *file;
    pthread_mutex_t pos_lock; /* serialises calls that use and move pos */
    uint64_t pos;
    uint64_t pos_taken; /* pos as nvofd_pos_lock read it from the kernel */
    /* -1, or one of the program's descriptors of a description another
     * process shares (inherited at exec, or by a spawned program): its
     * position is the kernel's, moved by the kernel for each read and
     * write (nvofd_pos_claim), else read before a call that uses it and
     * written back after (nvofd_pos_lock). Atomic. */
    int kernel_fd;
    /* Handed to the kernel (atomic): a write that was in flight then, and
     * waited for the file's lock, goes to the kernel instead. */
    bool to_kernel;
    int flags; /* the open flags: access mode, O_APPEND, O_SYNC... */
    int calls; /* calls in progress (atomic) */
    int fds;   /* descriptors that refer to it (under the table lock) */
    struct nvofd *free_next;
    struct nvofd *held_next; /* held across a fork (nvfd_hold_positions) */
};

/* Takes the description's position for a call that uses or moves it
 * (pos_lock), from the kernel when it keeps it (kernel_fd). */
void nvofd_pos_lock(struct nvofd *o);
/* Gives it back, to the kernel too when it keeps it and the call moved
 * it: a call that did not (one handed to the kernel while it waited)
 * leaves the kernel's as it is, which another process may have moved. */
void nvofd_pos_unlock(struct nvofd *o);

/* For a call that moves the position of a description another process
 * shares (kernel_fd) by up to n bytes: the kernel moves it by n at once
 * (lseek SEEK_CUR, which holds the description's position lock as the
 * kernel's read and write do), so the n bytes from *from are this call's
 * alone and no other process's call takes them too. The position lock is
 * held until nvofd_pos_unclaim. Returns the kernel's descriptor, or -1
 * with nothing taken when the kernel does not keep the position or cannot
 * move it that far. */
int nvofd_pos_claim(struct nvofd *o, size_t n, uint64_t *from);
/* Ends a claim whose last `unused` bytes the call did not use: the
 * position goes back by as many, by the same kind of move (a claim made
 * meanwhile keeps its bytes, so a short call leaves a gap before them,
 * where the kernel's would not). */
void nvofd_pos_unclaim(struct nvofd *o, size_t unused);

/* lseek(SEEK_CUR) of a description another process shares: the kernel's
 * own, which moves the position at once. False when the kernel does not
 * keep the position; else *r is its answer (the new position or a
 * negative errno). */
bool nvofd_pos_move(struct nvofd *o, off_t by, off_t *r);

/* Another process shares o from now on (fd, one of its descriptors, was
 * inherited or sent): its position goes to the kernel, which keeps it. */
void nvofd_share_position(struct nvofd *o, int fd);

/* Around a fork: every description's position is taken (no call is
 * between reading and moving one while the fork hands them to the kernel),
 * and given back after, in the parent and in the child. */
void nvfd_hold_positions(void);
void nvfd_release_positions(void);

/* A new description for file f with the given flags; NULL without memory. */
struct nvofd *nvofd_new(struct nvfile *f, int flags);

/* Makes fd refer to o (one more descriptor on o). Any description fd
 * referred to before is returned (the caller drops it), else NULL. */
struct nvofd *nvfd_install(int fd, struct nvofd *o);

/* The description of fd with one more call in progress, or NULL when fd is
 * not managed. Pair with nvofd_end. A call in progress is a critical section
 * (os/critical.h): a close waits for it to end. */
struct nvofd *nvfd_begin(int fd);

static inline void nvofd_end(struct nvofd *o)
{
    __atomic_sub_fetch(&o->calls, 1, __ATOMIC_RELEASE);
    nv_critical_leave();
}

/* Detaches fd; returns its description when this was its last descriptor
 * (the caller then calls nvofd_free once done with o), else NULL. */
struct nvofd *nvfd_remove(int fd);

/* Waits out calls in progress and recycles the description. Returns the
 * file it referred to, for the caller to release. */
struct nvfile *nvofd_free(struct nvofd *o);

/* Calls fn for every managed descriptor (table lock held). */
void nvfd_for_each(void (*fn)(int fd, struct nvofd *o));

/* Forgets every descriptor (forked child: its copies of the parent's
 * descriptions are left to the parent). */
void nvfd_forget_all(void);

/* One more than the highest descriptor the table can hold. */
int nvfd_limit(void);

/* True when fd is managed. */
int nvfd_is_managed(int fd);

#endif
