/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * filelock.h - the lock of an open file, in three modes:
 *
 *   exclusive   anything that changes more than bytes (size, storage, log,
 *               epoch, index): waits for every other user
 *   shared      readers, and whatever only looks at the file
 *   in place    writes that change nothing but bytes, once the file is
 *               `concurrent`: they exclude each other and readers only over
 *               the 2 MiB regions they touch (range locks)
 *
 * A file becomes concurrent when writers keep having to wait for the
 * exclusive lock: threads share it, and writes to different parts of it
 * should not take turns. Until then the range locks cost nothing.
 *
 * In-place writers do not touch the shared lock's word, which every thread
 * would otherwise pull to its own cache: each announces itself in a lane
 * picked by the CPU it runs on. The exclusive holder raises a flag, then
 * waits for the lanes to empty; a writer that sees the flag steps back.
 * Lanes also keep the writers' counts (which `nvlock_exclusive` hands over).
 *
 * Holding the lock in any mode is a critical section (os/critical.h): a
 * signal handler that calls the library never runs on a thread that holds
 * it. The range locks and lanes are taken only inside calls on a
 * descriptor, which are sections already.
 */
#ifndef NVMMIO_CORE_FILELOCK_H
#define NVMMIO_CORE_FILELOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "os/critical.h"

#define NVLOCK_STRIPES 64 /* range locks: 2 MiB region number modulo this */
#define NVLOCK_LANES   16 /* in-place writer lanes: CPU number modulo this */

struct nvlock_stripe {
    pthread_rwlock_t lock;
} __attribute__((aligned(64)));

struct nvlock_lane {
    long inside;     /* in-place writers in flight (atomic; may go negative
                        in one lane when a thread moves to another CPU) */
    uint64_t writes; /* in-place writes since the last exclusive hold */
} __attribute__((aligned(64)));

struct nvlock {
    pthread_rwlock_t rw;
    bool concurrent;        /* atomic; set for good, under the exclusive lock */
    bool exclusive_pending; /* atomic */
    unsigned contention;    /* exclusive held: see nvlock_note_writer */
    struct nvlock_stripe *stripes;
    struct nvlock_lane *lanes;
};

void nvlock_init(struct nvlock *l);
void nvlock_destroy(struct nvlock *l);

/* Exclusive. Returns the in-place writes made since the last exclusive
 * hold (0 while the file is not concurrent). contended, when given, says
 * whether the caller found it taken. */
uint64_t nvlock_exclusive(struct nvlock *l, bool *contended);

/* Exclusive without waiting: false when someone holds the lock. */
bool nvlock_try_exclusive(struct nvlock *l, uint64_t *inplace_writes);

void nvlock_unlock_exclusive(struct nvlock *l);

static inline void nvlock_shared(struct nvlock *l)
{
    nv_critical_enter();
    pthread_rwlock_rdlock(&l->rw);
}

static inline void nvlock_unlock_shared(struct nvlock *l)
{
    pthread_rwlock_unlock(&l->rw);
    nv_critical_leave();
}

static inline bool nvlock_is_concurrent(struct nvlock *l)
{
    return __atomic_load_n(&l->concurrent, __ATOMIC_ACQUIRE);
}

/* Exclusive held: range locks come into force. 0 or -ENOMEM. */
int nvlock_go_concurrent(struct nvlock *l);

/* Exclusive held by a writer, which had to wait for it or not: writers
 * that keep waiting make the file concurrent (without memory for the range
 * locks, they keep taking turns). */
void nvlock_note_writer(struct nvlock *l, bool contended);

/* An in-place write begins, on a concurrent file: false when an exclusive
 * holder is on its way (the writer then takes the exclusive lock). *lane
 * goes to nvlock_inplace_end. */
bool nvlock_inplace_begin(struct nvlock *l, int *lane);
void nvlock_inplace_end(struct nvlock *l, int lane, bool wrote);

/* The range-lock stripes that [off, end) reaches, one bit each. */
uint64_t nvlock_stripes_of(uint64_t off, uint64_t end);

/* Shared or in place: the range locks of [off, end) when the file is
 * concurrent (write: for an in-place writer). Returns what to unlock. */
uint64_t nvlock_range(struct nvlock *l, uint64_t off, uint64_t end, bool write);
void nvlock_unrange(struct nvlock *l, uint64_t held);

#endif
