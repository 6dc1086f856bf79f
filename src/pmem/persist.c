/*
 * persist.c - mapping files as persistent memory, and every flush, fence and
 * non-temporal copy of the library (see persist.h).
 */
#include "pmem/persist.h"

#include <dlfcn.h>
#include <errno.h>
#include <libpmem.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "os/critical.h"
#include "os/sys.h"
#ifdef NVMMIO_CRASH_MODEL
#include "pmem/model.h"
#endif

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

/* libpmem comes with the first file mapped, not with the process: a
 * program that never opens a managed file does not carry it, nor what it
 * pulls in (libndctl, libudev, libkmod, libcrypto: about 2 MB of memory and
 * a millisecond of start-up). */
static struct {
    __typeof__(&pmem_memcpy_nodrain) memcpy_nodrain;
    __typeof__(&pmem_memset_nodrain) memset_nodrain;
    __typeof__(&pmem_flush) flush;
    __typeof__(&pmem_drain) drain;
    __typeof__(&pmem_msync) msync;
    __typeof__(&pmem_is_pmem) is_pmem;
} pmem;
static int load_state; /* 0 not tried, 1 loaded, or a negative errno (atomic) */
static char load_error[256];
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread bool loading;

#define PMEM_LIBRARY "libpmem.so.1"

static int load_pmem(void)
{
    void *h = dlopen(PMEM_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(load_error, sizeof(load_error), "%s", e ? e : PMEM_LIBRARY ": cannot load");
        return -ENOENT;
    }
    const char *missing = NULL;
#define RESOLVE(field, name)                                                                       \
    if (!(pmem.field = (__typeof__(pmem.field))dlsym(h, #name)))                                   \
        missing = #name;
    RESOLVE(memcpy_nodrain, pmem_memcpy_nodrain)
    RESOLVE(memset_nodrain, pmem_memset_nodrain)
    RESOLVE(flush, pmem_flush)
    RESOLVE(drain, pmem_drain)
    RESOLVE(msync, pmem_msync)
    RESOLVE(is_pmem, pmem_is_pmem)
#undef RESOLVE
    if (missing) {
        snprintf(load_error, sizeof(load_error), PMEM_LIBRARY " has no %s", missing);
        return -ENOSYS;
    }
    return 1;
}

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
            s = load_pmem();
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
#ifdef NVMMIO_CRASH_MODEL
        kind = PM_KIND_FORCED; /* the crash model takes every mapping for pmem */
#else
        kind = pmem.is_pmem(p, reserve) ? PM_KIND_FORCED : PM_KIND_MSYNC;
#endif
    }
    m->base = p;
    m->reserved = reserve;
    m->kind = kind;
    m->writable = writable;
    m->dirty_lo = SIZE_MAX;
    m->dirty_hi = 0;
#ifdef NVMMIO_CRASH_MODEL
    nvmodel_on_map(m, fd);
#endif
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

void pm_unmap(struct pm_map *m)
{
#ifdef NVMMIO_CRASH_MODEL
    if (m->base)
        nvmodel_on_unmap(m, __builtin_return_address(0));
#endif
    if (m->base)
        sys_munmap(m->base, m->reserved);
    m->base = NULL;
    m->reserved = 0;
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
#ifdef NVMMIO_CRASH_MODEL
    nvmodel_before_store(m, lo, hi > lo ? hi - lo : 0); /* the holes it fills were zeros */
#endif
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
#ifdef NVMMIO_CRASH_MODEL
    nvmodel_before_store(m, lo, hi - lo);
#endif
    int rc = lo < hi ? sys_madvise(m->base + lo, hi - lo, MADV_POPULATE_WRITE) : 0;
    /* A fault that cannot allocate is a SIGBUS, which populating reports
     * as EFAULT. */
    return rc == -EFAULT ? -ENOSPC : rc;
}

#ifndef NVMMIO_CRASH_MODEL

static void mark_dirty(struct pm_map *m, size_t off, size_t n)
{
    if (off < m->dirty_lo)
        m->dirty_lo = off;
    if (off + n > m->dirty_hi)
        m->dirty_hi = off + n;
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
    if (m->kind != PM_KIND_MSYNC) {
        pmem.drain();
        return 0;
    }
    if (m->dirty_hi <= m->dirty_lo)
        return 0;
    size_t lo = m->dirty_lo, hi = m->dirty_hi;
    m->dirty_lo = SIZE_MAX;
    m->dirty_hi = 0;
    if (pmem.msync(m->base + lo, hi - lo) != 0)
        return -errno;
    return 0;
}

int pm_persist(struct pm_map *m, size_t off, size_t n)
{
    pm_flush(m, off, n);
    return pm_drain(m);
}

#else /* NVMMIO_CRASH_MODEL */

/* The crash-model build: plain stores, and every flush and fence reported to
 * the model, which keeps what a power failure would leave (model.h). */

void pm_copy(struct pm_map *m, size_t off, const void *src, size_t n)
{
    nvmodel_before_store(m, off, n);
    memcpy(m->base + off, src, n);
    nvmodel_on_flush(m, off, n, __builtin_return_address(0));
}

void pm_fill(struct pm_map *m, size_t off, int c, size_t n)
{
    nvmodel_before_store(m, off, n);
    memset(m->base + off, c, n);
    nvmodel_on_flush(m, off, n, __builtin_return_address(0));
}

void pm_flush(struct pm_map *m, size_t off, size_t n)
{
    nvmodel_on_flush(m, off, n, __builtin_return_address(0));
}

int pm_drain(struct pm_map *m)
{
    (void)m; /* a fence orders every flush of the thread, whatever the mapping */
    nvmodel_on_drain(__builtin_return_address(0));
    return 0;
}

int pm_persist(struct pm_map *m, size_t off, size_t n)
{
    nvmodel_on_flush(m, off, n, __builtin_return_address(0));
    nvmodel_on_drain(__builtin_return_address(0));
    return 0;
}

#endif
