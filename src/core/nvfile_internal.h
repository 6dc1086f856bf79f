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
#define SMALL_RESERVE  ((uint64_t)2 << 20)
#define MIN_RESERVE    ((uint64_t)256 << 20)

static inline uint64_t round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static inline uint64_t round_down(uint64_t v, uint64_t a)
{
    return v & ~(a - 1);
}

/* The address space a file's mapping reserves while it holds size bytes.
 * A small file (most never grow) takes one page table's worth: a cut of
 * the file or the unmap at its close zaps the mapping from the cut to the
 * reservation's end, page table by page table, and 256 MiB of them cost a
 * small file more than its own pages. A file that outgrows it goes to
 * 256 MiB at once, then doubles, so few files are ever mapped again. */
static inline uint64_t nvfile_reserve_for(uint64_t size)
{
    return 2 * size <= SMALL_RESERVE ? SMALL_RESERVE : pm_reserve_for(size, MIN_RESERVE);
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

/* Write lock held. The log's watch records the file as it is now (see
 * nvlog_watch_record): its mtime too when the file is small and private
 * enough to keep its pages mapped and no page waits to be mapped in by the
 * helper thread; then the pages known to have blocks are mapped in
 * (nvstorage_map_in). Called once the library's own change of the file is
 * done. Returns nvlog_watch_record's answer. */
int nvfile_watch(struct nvfile *f);

#endif
