/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pages.c - memory in whole pages from the kernel (see pages.h).
 *
 * Freed blocks of up to CACHED_MAX pages are kept for reuse, up to
 * CACHED_PAGES pages in all: a file opened and closed again and again
 * (a database's journal) would otherwise map and fault in fresh pages for
 * its index every time, and the first touch of a page is what costs. The
 * cache's lock is a spin lock (critical.h): a signal handler on the same
 * thread never waits for it.
 */
#include "os/pages.h"

#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "os/critical.h"
#include "os/sys.h"

#define PAGE_SIZE    4096u
#define CACHED_MAX   8   /* pages in the largest block kept */
#define CACHED_PAGES 256 /* pages kept in all */

struct free_block {
    struct free_block *next;
};

static struct free_block *cached[CACHED_MAX + 1]; /* by size in pages */
static size_t cached_pages;
static int cache_lock;

static size_t pages_of(size_t size)
{
    return (size + PAGE_SIZE - 1) / PAGE_SIZE;
}

static void lock_cache(void)
{
    nv_spin_lock(&cache_lock);
}

static void unlock_cache(void)
{
    nv_spin_unlock(&cache_lock);
}

/* A fork must not leave the child a cache locked by a thread it does not
 * have. */
__attribute__((constructor)) static void pages_load(void)
{
    pthread_atfork(lock_cache, unlock_cache, unlock_cache);
}

/* A cached block of n pages, or NULL. */
static void *take_cached(size_t n)
{
    if (n > CACHED_MAX)
        return NULL;
    lock_cache();
    struct free_block *b = cached[n];
    if (b) {
        cached[n] = b->next;
        cached_pages -= n;
    }
    unlock_cache();
    return b;
}

/* Keeps a block of n pages; false when the cache has no room. */
static bool keep_cached(void *p, size_t n)
{
    if (n > CACHED_MAX)
        return false;
    lock_cache();
    bool room = cached_pages + n <= CACHED_PAGES;
    if (room) {
        struct free_block *b = p;
        b->next = cached[n];
        cached[n] = b;
        cached_pages += n;
    }
    unlock_cache();
    return room;
}

void *nv_pages_alloc(size_t size)
{
    size_t n = pages_of(size);
    void *p = take_cached(n);
    if (p) {
        memset(p, 0, n * PAGE_SIZE);
        return p;
    }
    p = sys_mmap(NULL, n * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return sys_mmap_failed(p) ? NULL : p;
}

void *nv_pages_realloc(void *p, size_t old, size_t size)
{
    if (!p)
        return nv_pages_alloc(size);
    if (pages_of(old) == pages_of(size))
        return p;
    /* Anonymous pages the mapping grows by read as zero. */
    void *n = sys_mremap(p, pages_of(old) * PAGE_SIZE, pages_of(size) * PAGE_SIZE, MREMAP_MAYMOVE);
    return sys_mmap_failed(n) ? NULL : n;
}

void nv_pages_free(void *p, size_t size)
{
    if (p && !keep_cached(p, pages_of(size)))
        sys_munmap(p, pages_of(size) * PAGE_SIZE);
}
