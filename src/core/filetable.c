/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * filetable.c - managed files by (device, inode) (see filetable.h). A small
 * chained hash table under one mutex: it is touched by open, close and stat,
 * never by reads or writes.
 */
#include "core/filetable.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "core/nvfile.h"
#include "os/critical.h"

#define BUCKETS 256

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t table_changed = PTHREAD_COND_INITIALIZER;
static struct nvfile *buckets[BUCKETS];
/* The buckets that hold a file: every file lock taken or released visits
 * each managed file, and a process has few. */
static uint64_t used[BUCKETS / 64];
static int open_files; /* atomic: lets stat skip the lock while none is open */

static unsigned bucket_of(dev_t dev, ino_t ino)
{
    return (unsigned)((ino * 0x9E3779B97F4A7C15ull) ^ dev) % BUCKETS;
}

void nvtable_lock(void)
{
    nv_mutex_lock(&table_lock);
}

void nvtable_unlock(void)
{
    nv_mutex_unlock(&table_lock);
}

void nvtable_wait(void)
{
    nv_cond_wait(&table_changed, &table_lock);
}

void nvtable_wake(void)
{
    pthread_cond_broadcast(&table_changed);
}

struct nvfile *nvtable_find(dev_t dev, ino_t ino)
{
    for (struct nvfile *f = buckets[bucket_of(dev, ino)]; f; f = f->hash_next)
        if (f->dev == dev && f->ino == ino)
            return f;
    return NULL;
}

void nvtable_insert(struct nvfile *f)
{
    unsigned b = bucket_of(f->dev, f->ino);
    f->hash_next = buckets[b];
    buckets[b] = f;
    used[b / 64] |= (uint64_t)1 << (b % 64);
    __atomic_add_fetch(&open_files, 1, __ATOMIC_RELEASE);
}

void nvtable_remove(struct nvfile *f)
{
    unsigned b = bucket_of(f->dev, f->ino);
    for (struct nvfile **p = &buckets[b]; *p; p = &(*p)->hash_next) {
        if (*p == f) {
            *p = f->hash_next;
            if (!buckets[b])
                used[b / 64] &= ~((uint64_t)1 << (b % 64));
            __atomic_sub_fetch(&open_files, 1, __ATOMIC_RELEASE);
            return;
        }
    }
}

void nvtable_for_each(void (*fn)(struct nvfile *f, void *arg), void *arg)
{
    for (unsigned w = 0; w < BUCKETS / 64; w++)
        for (uint64_t bits = used[w]; bits; bits &= bits - 1)
            for (struct nvfile *f = buckets[w * 64 + (unsigned)__builtin_ctzll(bits)]; f;
                 f = f->hash_next)
                fn(f, arg);
}

void nvtable_clear(void (*fn)(struct nvfile *f))
{
    for (unsigned b = 0; b < BUCKETS; b++) {
        struct nvfile *f = buckets[b];
        buckets[b] = NULL;
        while (f) {
            struct nvfile *next = f->hash_next;
            fn(f);
            f = next;
        }
    }
    memset(used, 0, sizeof(used));
    __atomic_store_n(&open_files, 0, __ATOMIC_RELEASE);
}

bool nvtable_serving(void)
{
    return __atomic_load_n(&open_files, __ATOMIC_ACQUIRE) != 0;
}

struct nvfile *nvtable_pin(dev_t dev, ino_t ino)
{
    if (__atomic_load_n(&open_files, __ATOMIC_ACQUIRE) == 0)
        return NULL;
    nvtable_lock();
    struct nvfile *f = nvtable_find(dev, ino);
    if (f)
        f->users++;
    nvtable_unlock();
    return f;
}

bool nvtable_logical_size(dev_t dev, ino_t ino, off_t *size)
{
    if (__atomic_load_n(&open_files, __ATOMIC_ACQUIRE) == 0)
        return false;
    nvtable_lock();
    struct nvfile *f = nvtable_find(dev, ino);
    if (f) {
        int held = nvfile_lock_shared(f);
        *size = (off_t)f->size;
        nvfile_unlock_shared(f, held);
    }
    nvtable_unlock();
    return f != NULL;
}
