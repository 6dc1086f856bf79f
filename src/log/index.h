/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * index.h - the DRAM index of a file's log: which blocks have a record.
 *
 * The file is cut into 2 MiB regions found through a three-level radix tree
 * (9 bits a level, like x86 page tables, for offsets below 2^48). Each region
 * has one block size, 4 KiB to 2 MiB, chosen by the first request that logs a
 * block in it; the size stays while the region holds a live entry. An entry
 * says which record covers its block: the undo record of the running epoch,
 * or the newest redo record not yet copied home.
 */
#ifndef NVMMIO_LOG_INDEX_H
#define NVMMIO_LOG_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log/format.h"

#define NVIDX_REGION_SHIFT NVLOG_MAX_SHIFT
#define NVIDX_REGION_SIZE  ((uint64_t)1 << NVIDX_REGION_SHIFT)
#define NVIDX_MAX_BLOCKS   (1u << (NVLOG_MAX_SHIFT - NVLOG_MIN_SHIFT))
#define NVIDX_MAX_OFFSET   ((uint64_t)1 << 48)

struct nvidx_entry {
    uint64_t record; /* log offset of the record header; 0 = no record */
    uint64_t epoch;  /* epoch of that record */
    uint8_t kind;    /* enum nvlog_kind */
    /* A redo record's data checksum, known when a write replaced the whole
     * block since the record was made: the commit seals it without reading
     * the data back. */
    bool data_known;
    uint32_t data_checksum;
    /* A redo record's bytes that the running epoch wrote (as
     * nvlog_record.written; 0: none yet). Atomic: writers in place add to
     * it concurrently. */
    uint64_t written;
};

struct nvidx_region {
    uint64_t base;                  /* file offset of the region */
    uint8_t shift;                  /* block size of the region, log2 */
    uint64_t last_epoch;            /* newest epoch that logged a block here */
    uint32_t redo_live;             /* entries holding a redo record */
    struct nvidx_region *next_live; /* list of every region, for sweeps */
    struct nvidx_entry entries[NVIDX_MAX_BLOCKS];
};

struct nvidx {
    void **root;                  /* level-1 table, NULL while empty */
    struct nvidx_region *regions; /* every region allocated */
    uint64_t redo_live;           /* entries holding a redo record, all regions */
};

void nvidx_init(struct nvidx *ix);
void nvidx_destroy(struct nvidx *ix);

/* Region holding file offset off; created when create is set. NULL when
 * absent, or when memory runs out (create). */
struct nvidx_region *nvidx_region(struct nvidx *ix, uint64_t off, bool create);

/* The block size (log2) the region uses in epoch `epoch` for a request that
 * would like `wanted`: the region adopts it when it has no live entry. */
unsigned nvidx_region_shift(struct nvidx_region *r, uint64_t epoch, unsigned wanted);

/* Cuts the region's blocks down to 2^shift bytes, each new entry the one of
 * the block it was part of. For regions without redo entries (undo only). */
void nvidx_region_refine(struct nvidx_region *r, unsigned shift);

/* The entry of the block holding off; r must be off's region. */
static inline struct nvidx_entry *nvidx_entry_at(struct nvidx_region *r, uint64_t off)
{
    return &r->entries[(off - r->base) >> r->shift];
}

/* Records a redo record for an entry, keeping the redo counts right. */
void nvidx_set_redo(struct nvidx *ix, struct nvidx_region *r, struct nvidx_entry *e,
                    uint64_t record, uint64_t epoch);

/* Records the undo record of the running epoch for an entry. */
void nvidx_set_undo(struct nvidx *ix, struct nvidx_region *r, struct nvidx_entry *e,
                    uint64_t record, uint64_t epoch);

/* The redo record at log offset `record`, for the block at file offset
 * `off`, is home: its entry is dropped unless a newer record replaced it. */
void nvidx_drop_redo(struct nvidx *ix, uint64_t off, uint64_t record);

/* The running epoch wrote [lo, hi) of e's redo record (offsets in its
 * block of span bytes): its written range grows to hold them. */
void nvidx_add_written(struct nvidx_entry *e, uint64_t lo, uint64_t hi, uint64_t span);

/* Smallest block size (log2) that holds a request of len bytes. */
unsigned nvidx_shift_for(uint64_t len);

#endif
