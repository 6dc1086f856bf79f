/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pages.c - memory in whole pages from the kernel (see pages.h).
 *
 * Blocks of up to SMALL_MAX pages are cut from arenas of ARENA_PAGES pages,
 * so that a process with many open files holds a few mappings for them,
 * not one each: the kernel caps a process's mappings (vm.max_map_count),
 * and every file already needs its data, log and share-block mappings.
 * Such a block goes back to a stack of free blocks of its size, never to
 * the kernel, so the arenas are never cut into more mappings; beyond
 * RESIDENT_PAGES pages kept as they are, a freed block's memory is given
 * back with MADV_DONTNEED (it reads as zero again, and only the address
 * space stays). A file opened and closed again and again (a database's
 * journal) thus finds its index's pages ready, and the first touch of a
 * page is what costs. Larger blocks are mappings of their own.
 *
 * The pool's lock is a spin lock (critical.h): a signal handler on the same
 * thread never waits for it.
 */
#include "os/pages.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "os/critical.h"
#include "os/sys.h"

#define PAGE_SIZE      4096u
#define SMALL_MAX      8   /* pages in the largest block cut from an arena */
#define ARENA_PAGES    512 /* 2 MiB */
#define RESIDENT_PAGES 256 /* pages of free blocks kept as they are */

/* Free blocks of one size. An entry with RELEASED set was given back to
 * the kernel and reads as zero; the stack itself is a mapping that grows
 * by doubling. */
#define RELEASED ((uintptr_t)1)
struct free_stack {
    uintptr_t *entries;
    size_t n, cap;
};

static struct free_stack free_blocks[SMALL_MAX + 1]; /* by size in pages */
static size_t resident_pages;                        /* free pages kept as they are */
static char *arena_next, *arena_end;                 /* what the newest arena has left */
static int pool_lock;

/* Pages for size bytes; a block of none takes one. */
static size_t pages_of(size_t size)
{
    return size ? (size + PAGE_SIZE - 1) / PAGE_SIZE : 1;
}

static void lock_pool(void)
{
    nv_spin_lock(&pool_lock);
}

static void unlock_pool(void)
{
    nv_spin_unlock(&pool_lock);
}

/* A fork must not leave the child a pool locked by a thread it does not
 * have. */
__attribute__((constructor)) static void pages_load(void)
{
    pthread_atfork(lock_pool, unlock_pool, unlock_pool);
}

static void *map_anonymous(size_t bytes)
{
    void *p = sys_mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return sys_mmap_failed(p) ? NULL : p;
}

/* Pool locked. Room for one more entry; false when none can be had. */
static bool stack_room(struct free_stack *s)
{
    if (s->n < s->cap)
        return true;
    size_t cap = s->cap ? 2 * s->cap : PAGE_SIZE / sizeof(*s->entries);
    void *p = s->entries ? sys_mremap(s->entries, s->cap * sizeof(*s->entries),
                                      cap * sizeof(*s->entries), MREMAP_MAYMOVE)
                         : map_anonymous(cap * sizeof(*s->entries));
    if (!p || sys_mmap_failed(p))
        return false;
    s->entries = p;
    s->cap = cap;
    return true;
}

/* Pool locked. n pages from the newest arena, or from a new one. */
static void *cut_from_arena(size_t n)
{
    size_t bytes = n * PAGE_SIZE;
    if ((size_t)(arena_end - arena_next) < bytes) {
        /* What the old arena has left is never touched: address space only. */
        char *a = map_anonymous((size_t)ARENA_PAGES * PAGE_SIZE);
        if (!a)
            return NULL;
        arena_next = a;
        arena_end = a + (size_t)ARENA_PAGES * PAGE_SIZE;
    }
    void *p = arena_next;
    arena_next += bytes;
    return p;
}

static void *alloc_small(size_t n)
{
    lock_pool();
    struct free_stack *s = &free_blocks[n];
    uintptr_t e = s->n ? s->entries[--s->n] : 0;
    if (e && !(e & RELEASED))
        resident_pages -= n;
    void *p = e ? (void *)(e & ~RELEASED) : cut_from_arena(n);
    unlock_pool();
    if (e && !(e & RELEASED))
        memset(p, 0, n * PAGE_SIZE);
    return p;
}

static void free_small(void *p, size_t n)
{
    lock_pool();
    struct free_stack *s = &free_blocks[n];
    if (!stack_room(s)) {
        /* No memory for the stack: the block leaves the pool for good. */
        unlock_pool();
        sys_madvise(p, n * PAGE_SIZE, MADV_DONTNEED);
        return;
    }
    bool keep = resident_pages + n <= RESIDENT_PAGES;
    if (!keep)
        sys_madvise(p, n * PAGE_SIZE, MADV_DONTNEED);
    else
        resident_pages += n;
    s->entries[s->n++] = (uintptr_t)p | (keep ? 0 : RELEASED);
    unlock_pool();
}

void *nv_pages_alloc(size_t size)
{
    size_t n = pages_of(size);
    return n <= SMALL_MAX ? alloc_small(n) : map_anonymous(n * PAGE_SIZE);
}

void *nv_pages_realloc(void *p, size_t old, size_t size)
{
    if (!p)
        return nv_pages_alloc(size);
    size_t from = pages_of(old), to = pages_of(size);
    if (from == to)
        return p;
    if (from > SMALL_MAX && to > SMALL_MAX) {
        /* Anonymous pages the mapping grows by read as zero. */
        void *n = sys_mremap(p, from * PAGE_SIZE, to * PAGE_SIZE, MREMAP_MAYMOVE);
        return sys_mmap_failed(n) ? NULL : n;
    }
    void *n = nv_pages_alloc(size);
    if (!n)
        return NULL;
    memcpy(n, p, (from < to ? from : to) * PAGE_SIZE);
    nv_pages_free(p, old);
    return n;
}

void nv_pages_free(void *p, size_t size)
{
    if (!p)
        return;
    size_t n = pages_of(size);
    if (n > SMALL_MAX)
        sys_munmap(p, n * PAGE_SIZE);
    else
        free_small(p, n);
}
