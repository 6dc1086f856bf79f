/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * persist.h - the only door to persistence.
 *
 * Owns the mapping of a file as persistent memory and every flush, fence and
 * non-temporal copy the library makes (tests/crash/model/README.md says how
 * the crash model checks them). A pm_map is either a
 * true pmem mapping (DAX with MAP_SYNC, or forced by PMEM_IS_PMEM_FORCE), where
 * copies are flushed as they are made and a drain is a fence, or an ordinary
 * shared mapping, where the module remembers the dirty range and a drain is
 * an msync of it. Callers never need to know which.
 */
#ifndef NVMMIO_PMEM_PERSIST_H
#define NVMMIO_PMEM_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pm_kind {
    PM_KIND_MAP_SYNC = 0, /* same values as enum nvmmio_persist_kind */
    PM_KIND_FORCED = 1,
    PM_KIND_MSYNC = 2,
};

struct pm_map {
    char *base;      /* start of the mapping; file offset 0 */
    size_t reserved; /* bytes of address space mapped to the file */
    int kind;        /* enum pm_kind */
    int writable;    /* mapped with PROT_WRITE */
    size_t dirty_lo; /* msync kind: dirty byte range not yet synced */
    size_t dirty_hi;
    int idle; /* out of use (pm_map_idle) */
};

/* Address space to reserve for a file of `size` bytes: a power of two of at
 * least `least` and twice the size, so growth seldom needs a new mapping. */
static inline uint64_t pm_reserve_for(uint64_t size, uint64_t least)
{
    uint64_t r = least;
    while (r < 2 * size)
        r <<= 1;
    return r;
}

/* Loads libpmem, once: 0, or a negative errno with the reason in
 * pm_init_error(). Mapping a file does it too; callers holding locks that
 * libpmem's start-up (which opens files) could need call it first. */
int pm_init(void);
const char *pm_init_error(void);

/* True when persistence is a model that follows one thread at a time
 * through the library (the crash checker's build): the library must then
 * run nothing on threads of its own. */
bool pm_follows_one_thread(void);

/* Maps reserve bytes of fd from offset 0 (pages past EOF are never touched).
 * Tries MAP_SYNC first. Returns 0 or a negative errno. */
int pm_map_file(int fd, int writable, size_t reserve, struct pm_map *m);

/* Replaces the mapping by a larger one of the same file; the caller must
 * hold every user of the old addresses off. Returns 0 or a negative errno. */
int pm_map_grow(int fd, size_t reserve, struct pm_map *m);

void pm_unmap(struct pm_map *m);

/* The mapping goes out of use while its file is closed, and comes back
 * into use (fd: the file) when it is opened again: what follows mappings
 * (the crash model) sees it unmapped and mapped again, and takes in what
 * happened to the file meanwhile. */
void pm_map_idle(struct pm_map *m);
void pm_map_resume(int fd, struct pm_map *m);

/* Sets up the page tables of [off, off+n) in one call, so first stores do
 * not fault page by page. A hint: failures are ignored. */
void pm_populate(struct pm_map *m, size_t off, size_t n);

/* Maps [off, off+n) in for reading: unlike populating for write, which
 * the kernel takes for a change of the file (its mtime moves), this leaves
 * the file's times alone. On tmpfs the entries take stores without
 * faulting again. A hint: failures are ignored. */
void pm_prefault(struct pm_map *m, size_t off, size_t n);

/* Allocates the file's storage under [off, off+n) by write faults, where
 * stores reach the file directly (MAP_SYNC or forced pmem): 0, -ENOSPC when
 * the file system has no room, -EOPNOTSUPP for an msync mapping (whose
 * faults do not allocate: use fallocate), or another negative errno. */
int pm_allocate(struct pm_map *m, size_t off, size_t n);

/* Copies n bytes to offset off of the mapping, flushed but not fenced. */
void pm_copy(struct pm_map *m, size_t off, const void *src, size_t n);

/* Copies n bytes to offset off of the file behind m with the kernel's
 * write on fd (a descriptor of that file), flushed but not fenced as
 * pm_copy's: on pmem the kernel's write makes flushing copies, elsewhere
 * the page cache is what the mapping shows. The kernel allocates what it
 * writes and moves the file's size and times as any write does. Returns
 * the bytes written (fewer on a full file system) or a negative errno. */
long pm_write(struct pm_map *m, int fd, size_t off, const void *src, size_t n);

/* Sets n bytes at offset off to c, flushed but not fenced. */
void pm_fill(struct pm_map *m, size_t off, int c, size_t n);

/* Flushes bytes the caller stored with plain stores; not fenced. */
void pm_flush(struct pm_map *m, size_t off, size_t n);

/* Fence: every copy, fill and flush made so far through m is persistent when
 * it returns. Returns 0 or a negative errno (msync failure). */
int pm_drain(struct pm_map *m);

/* Flush + drain of one range, for small metadata such as a commit slot. */
int pm_persist(struct pm_map *m, size_t off, size_t n);

#endif
