/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * seam.h - the one seam between persist.c and what makes its stores
 * persistent: a table of functions that persist.c calls and nothing else
 * does.
 *
 * The library fills it from libpmem, loaded at run time (libpmem.c). The
 * crash checker builds the library with another file in libpmem.c's place
 * (tests/crash/model/), whose table keeps a model of what a power failure
 * would leave: the build picks the variant, never a switch in the code.
 */
#ifndef NVMMIO_PMEM_SEAM_H
#define NVMMIO_PMEM_SEAM_H

#include <stdbool.h>
#include <stddef.h>

struct pm_map;

struct pm_table {
    /* libpmem's calls, with libpmem's signatures: the library calls them
     * straight from persist.c, with no layer in between. */
    void *(*memcpy_nodrain)(void *dst, const void *src, size_t n);
    void *(*memset_nodrain)(void *dst, int c, size_t n);
    void (*flush)(const void *addr, size_t n);
    void (*drain)(void);
    int (*msync)(const void *addr, size_t n);
    int (*is_pmem)(const void *addr, size_t n);
    /* What a model follows besides: the life of each mapping, and pages
     * about to be stored into by other means than the calls above. NULL
     * when nothing follows them (the library). */
    void (*on_map)(const struct pm_map *m, int fd);
    void (*on_unmap)(const struct pm_map *m);
    void (*before_store)(const struct pm_map *m, size_t off, size_t n);
    /* The kernel's write just put [off, off+n) of m's file there: flushed
     * but not fenced, as a copy through the mapping. */
    void (*wrote)(const struct pm_map *m, size_t off, size_t n);
    /* A model that follows one thread at a time through the library: the
     * library then starts no thread of its own. */
    bool one_thread;
};

/* Fills t, once, for persist.c: 0, or a negative errno with the reason in
 * error. */
int pm_table_load(struct pm_table *t, char *error, size_t size);

#endif
