/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * filelock.c - the three-mode lock of an open file (see filelock.h).
 */
#include "core/filelock.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "log/index.h"

/* Hold times are short: a thread that finds the lock taken spins a while
 * before it sleeps. */
#define SPINS 1000

void nvlock_init(struct nvlock *l)
{
    memset(l, 0, sizeof(*l));
    pthread_rwlock_init(&l->rw, NULL);
}

void nvlock_destroy(struct nvlock *l)
{
    pthread_rwlock_destroy(&l->rw);
    if (l->stripes) {
        for (int i = 0; i < NVLOCK_STRIPES; i++)
            pthread_rwlock_destroy(&l->stripes[i].lock);
    }
    free(l->stripes);
    free(l->lanes);
}

/* Exclusive held, file concurrent: waits out the in-place writers in
 * flight and takes their counts. */
static uint64_t drain_lanes(struct nvlock *l)
{
    __atomic_store_n(&l->exclusive_pending, true, __ATOMIC_SEQ_CST);
    for (int spins = 0;; spins++) {
        long inside = 0;
        for (int i = 0; i < NVLOCK_LANES; i++)
            inside += __atomic_load_n(&l->lanes[i].inside, __ATOMIC_SEQ_CST);
        if (inside == 0)
            break;
        /* A writer in flight may have lost its CPU. */
        if (spins < SPINS)
            nv_cpu_relax();
        else
            sched_yield();
    }
    /* No writer is in flight: the counts can be read and cleared without a
     * locked instruction per lane. */
    uint64_t writes = 0;
    for (int i = 0; i < NVLOCK_LANES; i++) {
        uint64_t w = __atomic_load_n(&l->lanes[i].writes, __ATOMIC_ACQUIRE);
        if (w) {
            writes += w;
            __atomic_store_n(&l->lanes[i].writes, 0, __ATOMIC_RELAXED);
        }
    }
    return writes;
}

uint64_t nvlock_exclusive(struct nvlock *l, bool *contended)
{
    nv_critical_enter();
    int tries = 0;
    while (pthread_rwlock_trywrlock(&l->rw) != 0) {
        if (++tries == SPINS) {
            pthread_rwlock_wrlock(&l->rw);
            break;
        }
        nv_cpu_relax();
    }
    if (contended)
        *contended = tries > 0;
    return nvlock_is_concurrent(l) ? drain_lanes(l) : 0;
}

bool nvlock_try_exclusive(struct nvlock *l, uint64_t *inplace_writes)
{
    nv_critical_enter();
    if (pthread_rwlock_trywrlock(&l->rw) != 0) {
        nv_critical_leave();
        return false;
    }
    *inplace_writes = nvlock_is_concurrent(l) ? drain_lanes(l) : 0;
    return true;
}

void nvlock_unlock_exclusive(struct nvlock *l)
{
    if (nvlock_is_concurrent(l))
        __atomic_store_n(&l->exclusive_pending, false, __ATOMIC_RELEASE);
    pthread_rwlock_unlock(&l->rw);
    nv_critical_leave();
}

int nvlock_go_concurrent(struct nvlock *l)
{
    if (l->concurrent)
        return 0;
    struct nvlock_stripe *stripes = aligned_alloc(64, NVLOCK_STRIPES * sizeof(*stripes));
    struct nvlock_lane *lanes = aligned_alloc(64, NVLOCK_LANES * sizeof(*lanes));
    if (!stripes || !lanes) {
        free(stripes);
        free(lanes);
        return -ENOMEM;
    }
    for (int i = 0; i < NVLOCK_STRIPES; i++)
        pthread_rwlock_init(&stripes[i].lock, NULL);
    memset(lanes, 0, NVLOCK_LANES * sizeof(*lanes));
    l->stripes = stripes;
    l->lanes = lanes;
    __atomic_store_n(&l->concurrent, true, __ATOMIC_RELEASE);
    return 0;
}

/* Each writer that waited adds WAIT_WEIGHT, each that did not takes one
 * away: writers of several threads soon pass CONCURRENT_SCORE, a lone
 * writer that met the helper thread or a reader now and then does not. */
#define WAIT_WEIGHT      16
#define CONCURRENT_SCORE 64

void nvlock_note_writer(struct nvlock *l, bool contended)
{
    if (l->concurrent)
        return;
    if (!contended) {
        l->contention -= l->contention > 0;
        return;
    }
    l->contention += WAIT_WEIGHT;
    if (l->contention >= CONCURRENT_SCORE)
        nvlock_go_concurrent(l);
}

bool nvlock_inplace_begin(struct nvlock *l, int *lane)
{
    int cpu = sched_getcpu();
    int i = (cpu < 0 ? 0 : cpu) % NVLOCK_LANES;
    __atomic_add_fetch(&l->lanes[i].inside, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&l->exclusive_pending, __ATOMIC_SEQ_CST)) {
        __atomic_sub_fetch(&l->lanes[i].inside, 1, __ATOMIC_RELEASE);
        return false;
    }
    *lane = i;
    return true;
}

void nvlock_inplace_end(struct nvlock *l, int lane, bool wrote)
{
    /* A count for the undo/redo policy: a lost update when two threads
     * share a lane costs nothing, a locked add on every write would. */
    if (wrote) {
        uint64_t *w = &l->lanes[lane].writes;
        __atomic_store_n(w, __atomic_load_n(w, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
    }
    __atomic_sub_fetch(&l->lanes[lane].inside, 1, __ATOMIC_RELEASE);
}

uint64_t nvlock_stripes_of(uint64_t off, uint64_t end)
{
    if (end <= off)
        return 0;
    uint64_t r0 = off >> NVIDX_REGION_SHIFT, r1 = (end - 1) >> NVIDX_REGION_SHIFT;
    uint64_t stripes = 0;
    for (uint64_t r = r0; r <= r1 && ~stripes; r++)
        stripes |= (uint64_t)1 << (r % NVLOCK_STRIPES);
    return stripes;
}

uint64_t nvlock_range(struct nvlock *l, uint64_t off, uint64_t end, bool write)
{
    if (!nvlock_is_concurrent(l))
        return 0;
    uint64_t held = nvlock_stripes_of(off, end);
    for (uint64_t left = held; left; left &= left - 1) {
        int i = __builtin_ctzll(left);
        if (write)
            pthread_rwlock_wrlock(&l->stripes[i].lock);
        else
            pthread_rwlock_rdlock(&l->stripes[i].lock);
    }
    return held;
}

void nvlock_unrange(struct nvlock *l, uint64_t held)
{
    for (; held; held &= held - 1)
        pthread_rwlock_unlock(&l->stripes[__builtin_ctzll(held)].lock);
}
