/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * persist.c - mapping files as persistent memory, and every flush, fence and
 * non-temporal copy of the library (see persist.h), made through the
 * persistence table (seam.h).
 */
#include "pmem/persist.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include "os/critical.h"
#include "os/sys.h"
#include "pmem/seam.h"

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

static struct pm_table pmem; /* filled once, by pm_init (seam.h) */
static int load_state;       /* 0 not tried, 1 loaded, or a negative errno (atomic) */
static char load_error[256];
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread bool loading;

int pm_init(void)
{
    int s = __atomic_load_n(&load_state, __ATOMIC_ACQUIRE);
    if (s == 0) {
        /* libpmem's own start-up opens files; one of them could be under
         * the library's root and come back here. */
        if (loading)
            return -EAGAIN;
        nv_mutex_lock(&load_lock);
        s = load_state;
        if (s == 0) {
            loading = true;
            s = pm_table_load(&pmem, load_error, sizeof(load_error));
            s = s < 0 ? s : 1;
            loading = false;
            __atomic_store_n(&load_state, s, __ATOMIC_RELEASE);
        }
        nv_mutex_unlock(&load_lock);
    }
    return s > 0 ? 0 : s;
}

const char *pm_init_error(void)
{
    return load_error;
}

bool pm_follows_one_thread(void)
{
    return pm_init() == 0 && pmem.one_thread;
}

static int map_fd(int fd, int writable, size_t reserve, struct pm_map *m)
{
    int rc = pm_init();
    if (rc < 0)
        return rc;
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    void *p = sys_mmap(NULL, reserve, prot, MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0);
    int kind = PM_KIND_MAP_SYNC;
    if (sys_mmap_failed(p)) {
        if ((long)p != -EOPNOTSUPP && (long)p != -EINVAL)
            return (int)(long)p;
        p = sys_mmap(NULL, reserve, prot, MAP_SHARED, fd, 0);
        if (sys_mmap_failed(p))
            return (int)(long)p;
        kind = pmem.is_pmem(p, reserve) ? PM_KIND_FORCED : PM_KIND_MSYNC;
    }
    m->base = p;
    m->reserved = reserve;
    m->kind = kind;
    m->writable = writable;
    m->dirty_lo = SIZE_MAX;
    m->dirty_hi = 0;
    m->idle = 0;
    if (pmem.on_map)
        pmem.on_map(m, fd);
    return 0;
}

int pm_map_file(int fd, int writable, size_t reserve, struct pm_map *m)
{
    return map_fd(fd, writable, reserve, m);
}

int pm_map_grow(int fd, size_t reserve, struct pm_map *m)
{
    struct pm_map bigger;
    int rc = map_fd(fd, m->writable, reserve, &bigger);
    if (rc < 0)
        return rc;
    /* Whatever was dirty in the old mapping is dirty in the same file pages. */
    bigger.dirty_lo = m->dirty_lo;
    bigger.dirty_hi = m->dirty_hi;
    pm_unmap(m);
    *m = bigger;
    return 0;
}

void pm_map_idle(struct pm_map *m)
{
    if (m->base && !m->idle && pmem.on_unmap)
        pmem.on_unmap(m);
    m->idle = 1;
}

void pm_map_resume(int fd, struct pm_map *m)
{
    m->idle = 0;
    if (pmem.on_map)
        pmem.on_map(m, fd);
}

void pm_unmap(struct pm_map *m)
{
    pm_map_idle(m);
    if (m->base)
        sys_munmap(m->base, m->reserved);
    m->base = NULL;
    m->reserved = 0;
    m->idle = 0;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Maps in the pages of [off, off+n) with the given madvise advice. */
static void populate(struct pm_map *m, size_t off, size_t n, int advice)
{
    size_t lo = off & ~(size_t)4095, hi = (off + n + 4095) & ~(size_t)4095;
    if (hi > m->reserved)
        hi = m->reserved;
    if (pmem.before_store)
        pmem.before_store(m, lo, hi > lo ? hi - lo : 0); /* the holes it fills were zeros */
    if (lo < hi)
        sys_madvise(m->base + lo, hi - lo, advice);
}

void pm_populate(struct pm_map *m, size_t off, size_t n)
{
    /* Populating for write dirties every page, which an msync mapping would
     * then write back: those get read-only entries. */
    populate(m, off, n,
             m->writable && m->kind != PM_KIND_MSYNC ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
}

void pm_prefault(struct pm_map *m, size_t off, size_t n)
{
    populate(m, off, n, MADV_POPULATE_READ);
}

int pm_allocate(struct pm_map *m, size_t off, size_t n)
{
    if (!m->writable || m->kind == PM_KIND_MSYNC)
        return -EOPNOTSUPP;
    size_t lo = off & ~(size_t)4095, hi = (off + n + 4095) & ~(size_t)4095;
    if (hi > m->reserved)
        return -EINVAL;
    if (pmem.before_store)
        pmem.before_store(m, lo, hi - lo);
    int rc = lo < hi ? sys_madvise(m->base + lo, hi - lo, MADV_POPULATE_WRITE) : 0;
    /* A fault that cannot allocate is a SIGBUS, which populating reports
     * as EFAULT. */
    return rc == -EFAULT ? -ENOSPC : rc;
}

static void mark_dirty(struct pm_map *m, size_t off, size_t n)
{
    if (off < m->dirty_lo)
        m->dirty_lo = off;
    if (off + n > m->dirty_hi)
        m->dirty_hi = off + n;
}

/* The drain of an msync mapping: its dirty range written back. */
static int sync_dirty(struct pm_map *m)
{
    if (m->dirty_hi <= m->dirty_lo)
        return 0;
    size_t lo = m->dirty_lo, hi = m->dirty_hi;
    m->dirty_lo = SIZE_MAX;
    m->dirty_hi = 0;
    int cancel = nv_cancel_hold(); /* msync is a cancellation point */
    int rc = pmem.msync(m->base + lo, hi - lo) != 0 ? -errno : 0;
    nv_cancel_allow(cancel);
    return rc;
}

void pm_copy(struct pm_map *m, size_t off, const void *src, size_t n)
{
    if (m->kind == PM_KIND_MSYNC) {
        memcpy(m->base + off, src, n);
        mark_dirty(m, off, n);
    } else {
        pmem.memcpy_nodrain(m->base + off, src, n);
    }
}

long pm_write(struct pm_map *m, int fd, size_t off, const void *src, size_t n)
{
    if (pmem.before_store)
        pmem.before_store(m, off, n);
    size_t done = 0;
    long rc = 0;
    while (done < n) {
        rc = sys_pwrite(fd, (const char *)src + done, n - done, (off_t)(off + done));
        if (rc <= 0)
            break;
        done += (size_t)rc;
    }
    if (done > 0 && pmem.wrote)
        pmem.wrote(m, off, done);
    return done > 0 || rc == 0 ? (long)done : rc;
}

void pm_fill(struct pm_map *m, size_t off, int c, size_t n)
{
    if (m->kind == PM_KIND_MSYNC) {
        memset(m->base + off, c, n);
        mark_dirty(m, off, n);
    } else {
        pmem.memset_nodrain(m->base + off, c, n);
    }
}

void pm_flush(struct pm_map *m, size_t off, size_t n)
{
    if (m->kind == PM_KIND_MSYNC)
        mark_dirty(m, off, n);
    else
        pmem.flush(m->base + off, n);
}

int pm_drain(struct pm_map *m)
{
    if (m->kind == PM_KIND_MSYNC)
        return sync_dirty(m);
    pmem.drain();
    return 0;
}

/* Calls the table itself rather than pm_flush and pm_drain: a model names
 * the code that flushed or fenced by the frame above persist.c's. */
int pm_persist(struct pm_map *m, size_t off, size_t n)
{
    if (m->kind == PM_KIND_MSYNC) {
        mark_dirty(m, off, n);
        return sync_dirty(m);
    }
    pmem.flush(m->base + off, n);
    pmem.drain();
    return 0;
}
