/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pages.h - memory for what the write path keeps of a file (the index of
 * its log, the chunk bitmap, the spare-page table, large plans), taken from
 * the kernel in whole pages and never from the C library's malloc.
 *
 * A program's signal handler may write to a managed file whatever the
 * thread it interrupted was doing (write is async-signal-safe), also while
 * that thread is inside malloc and holds its locks: what the library
 * allocates on that path must not wait for them. Pages come zeroed; the
 * caller remembers the size it asked for.
 */
#ifndef NVMMIO_OS_PAGES_H
#define NVMMIO_OS_PAGES_H

#include <stddef.h>

/* size zeroed bytes, or NULL. */
void *nv_pages_alloc(size_t size);

/* Moves p (old bytes, or NULL) to a block of size bytes: the first bytes
 * stay, the rest are zero. NULL leaves p as it was. */
void *nv_pages_realloc(void *p, size_t old, size_t size);

void nv_pages_free(void *p, size_t size);

#endif
