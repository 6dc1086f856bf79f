/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * storage.h - the blocks behind a managed file: which parts of the real file
 * are known to have storage (the allocated prefix and a bitmap of 2 MiB
 * chunks), how the real file grows (steps ahead of appends, storage made
 * ready ahead of them by the helper thread), and the pages the library
 * reserved that the program never wrote, given back at publication.
 *
 * All functions take the open-file object (nvfile.h), whose sizes, mapping
 * and descriptor they use, with its write lock held unless said otherwise.
 */
#ifndef NVMMIO_CORE_STORAGE_H
#define NVMMIO_CORE_STORAGE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/spare.h"

#define NVSTORAGE_PAGE  ((uint64_t)4096)
#define NVSTORAGE_CHUNK ((uint64_t)2 << 20)

struct nvfile;

struct nvstorage {
    uint64_t alloc_prefix; /* [0, alloc_prefix) is known to have blocks */
    uint64_t *chunks;      /* bitmap: 2 MiB chunks known to have blocks */
    uint64_t chunk_bits;
    uint64_t chunks_known; /* bits set */
    /* Pages the library reserved and the program never wrote: [tail_lo,
     * alloc_prefix) ahead of appends, and spare ones in chunks allocated
     * over holes; the size at the last trim while open, from which appends
     * take small steps again. */
    uint64_t tail_lo;
    struct nvspare spare;
    uint64_t regrow_from;
    /* The size of the real file when it ends inside the page just past the
     * allocated prefix and that page has a block (a trim to an unaligned
     * size keeps it): appends within it only move the size. Stale, and
     * ignored, once the size or the prefix is elsewhere. */
    uint64_t eof_stored;
    /* Held by the helper thread while it allocates ahead of the end
     * without the file lock; taken (under the file lock) by whatever moves
     * the mapping or takes blocks away, which also empties the window. */
    pthread_mutex_t layout_lock;
    /* The window the writer posts for the helper thread: [lo, hi), of which
     * the thread has allocated [floor, hi), working down from hi while the
     * writer works up from lo; gen changes with every window. */
    pthread_mutex_t ahead_lock;
    struct nvstorage_ahead {
        uint64_t gen, lo, hi, floor;
    } ahead;
    uint64_t append_front; /* alloc_prefix as appends left it (atomic) */
    /* The medium maps 4 KiB pages (st_blksize at open), where the kernel's
     * write may serve appends. */
    bool small_pages;
    /* The leg of appends under way, where both ways may serve them (see
     * storage.c): its way, where it started and when. */
    enum { LEG_NONE, LEG_KERNEL_NEXT, LEG_KERNEL, LEG_MAPPING } leg;
    uint64_t leg_from, leg_since_ns;
    /* Appends by the kernel's write may come without the watch being
     * suspended first: each moves the file's mtime. */
    bool kernel_writes;
    uint64_t mapped_to; /* the known pages of [0, mapped_to) are mapped in */
};

/* blksize: the file's st_blksize. */
void nvstorage_init(struct nvstorage *s, long blksize);
void nvstorage_destroy(struct nvstorage *s);

/* At open: the real file has blocks below its first hole, `hole`, as far
 * as its size (real_size, read before) goes. 0 or -ENOMEM. */
int nvstorage_found(struct nvfile *f, uint64_t hole);

/* Anything that moves the mapping or takes blocks away runs between these:
 * it waits out the helper thread's work ahead of the end. */
void nvstorage_layout_begin(struct nvfile *f);
void nvstorage_layout_end(struct nvfile *f);

/* True when nothing the library does for appends moves the file's mtime
 * on its own: the helper thread has no page left to map in ahead of them
 * (its faults would), and no append by the kernel's write may come before
 * the watch is suspended (nvstorage_write_appended). */
bool nvstorage_ahead_settled(struct nvfile *f);

/* Maps in (for reading) the pages of the real file known to have blocks,
 * so that no store of the library's faults one in for writing, which would
 * move the file's mtime (see nvlog_watch_record): a store anywhere else
 * goes through nvstorage_ensure first, which maps in what it allocates.
 * Only what the mapping may miss since the last call is walked. */
void nvstorage_map_in(struct nvfile *f);

/* The mapping reserves address space for at least end bytes. */
int nvstorage_reserve_map(struct nvfile *f, uint64_t end);

/* Makes sure [off, end) has blocks behind it, so stores through the mapping
 * cannot fault for want of space (ENOSPC comes back here instead), and the
 * real file reaches end; [off, end) becomes the program's. */
int nvstorage_ensure(struct nvfile *f, uint64_t off, uint64_t end);

/* The same for [lo, hi), the blocks a change's records log whole (their
 * bytes may go home later), of which the program writes only part: the
 * pages of it that were holes and that it leaves alone stay spare, given
 * back at the next publication. */
int nvstorage_ensure_span(struct nvfile *f, uint64_t lo, uint64_t hi);

/* Writes [off, end) from src with the kernel's write, when that serves
 * the file better than stores through its mapping (a medium of 4 KiB
 * pages, where a first store faults and zeroes a page) and is correct:
 * the caller logs nothing there (past the committed size, no redo
 * record), the file is served by this process alone and not mapped by the
 * program, and the bytes continue the allocated prefix. Returns 1 when
 * written, 0 when the mapping must take them, or a negative errno (ENOSPC
 * before any byte went: the caller writes what fits). */
int nvstorage_write_appended(struct nvfile *f, const char *src, uint64_t off, uint64_t end);

/* True when every byte of [off, end) is known to have a block that the
 * program may store into (not one the library still counts as its own). */
bool nvstorage_known(const struct nvfile *f, uint64_t off, uint64_t end);

/* True when [off, end), within one 2 MiB chunk, is known to have blocks:
 * a load from it cannot allocate a page. */
bool nvstorage_backed(const struct nvfile *f, uint64_t off, uint64_t end);

/* The blocks of [lo, hi) were punched. */
void nvstorage_punched(struct nvfile *f, uint64_t lo, uint64_t hi);

/* The program maps the file: its stores go unseen, so no page is the
 * library's to give back any more. */
void nvstorage_forget_reserved(struct nvfile *f);

/* The kernel's size became `size` through another process: no page is the
 * library's to give back, none past size is known to be there, and the
 * mapping reaches it. 0 or a negative errno. */
int nvstorage_resized_outside(struct nvfile *f, uint64_t size);

/* Is there a page to give back, or a real file longer than keep? */
bool nvstorage_to_give_back(const struct nvfile *f, uint64_t keep);

/* Trims the real file to keep and punches every page below it that the
 * library reserved and the program never wrote. Returns the number of
 * kernel calls that changed the file (each moved its times), or a negative
 * errno. */
int nvstorage_give_back(struct nvfile *f, uint64_t keep);

#endif
