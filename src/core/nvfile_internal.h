/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvfile_internal.h - what the files of the open-file object share among
 * themselves: nvfile.c (open, close, identity, the log's lifetime, locking),
 * storage.c (blocks), datapath.c (reads and changes) and epoch.c (commit,
 * checkpoint, publication, settling). Nothing else includes it.
 */
#ifndef NVMMIO_CORE_NVFILE_INTERNAL_H
#define NVMMIO_CORE_NVFILE_INTERNAL_H

#include "core/nvfile.h"

#define PAGE           NVSTORAGE_PAGE
#define STORAGE_CHUNK  NVSTORAGE_CHUNK
#define POPULATE_LIMIT ((uint64_t)1 << 30)
#define MIN_RESERVE    ((uint64_t)256 << 20)

static inline uint64_t round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static inline uint64_t round_down(uint64_t v, uint64_t a)
{
    return v & ~(a - 1);
}

/* The file as its journal sees it now. */
static inline struct nvjournal_home nvfile_home(struct nvfile *f)
{
    return (struct nvjournal_home){&f->map, f->committed_size, f->real_size};
}

/* Write lock held. Makes the file's log if it has none. 0 or a negative
 * errno. */
int nvfile_ensure_log(struct nvfile *f);

/* Write lock held. Closes and removes the file's log. */
int nvfile_remove_log(struct nvfile *f);

#endif
