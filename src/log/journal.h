/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * journal.h - the undo/redo record protocol of one file: its log, the
 * index of the log, and the running epoch.
 *
 * Core says what a call changes ([off, end) of the file) and where the file
 * stands (struct nvjournal_home); the journal decides which blocks need a
 * record, writes them in the order a crash needs (undo data, then headers,
 * fenced before home changes; redo data fenced with the commit), places the
 * program's bytes in records or home, and commits. Recovery and checkpoints
 * (recovery.h) read what it wrote.
 */
#ifndef NVMMIO_LOG_JOURNAL_H
#define NVMMIO_LOG_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "log/index.h"
#include "log/log.h"
#include "pmem/persist.h"

struct nvjournal {
    struct nvlog log;
    struct nvidx index;
    uint64_t epoch; /* the running epoch: committed_epoch + 1 */
    int policy;     /* NVLOG_UNDO or NVLOG_REDO for the running epoch */
    /* A redo record of the running epoch may have a header whose data
     * checksum is not its data's: the commit seals them all (atomic; set
     * by writers in place). */
    bool headers_stale;
    /* Every block is 4 KiB: the file is shared by processes, each with its
     * own index of the one log, and the indexes must agree on blocks. */
    bool small_blocks;
};

/* The file as the journal needs to see it at a call: its home bytes, the
 * size a crash brings back (blocks below it are logged before they
 * change), and the kernel's size (home bytes past it read as zero). */
struct nvjournal_home {
    struct pm_map *map;
    uint64_t committed_size;
    uint64_t real_size;
};

void nvjournal_init(struct nvjournal *j, int policy);
void nvjournal_destroy(struct nvjournal *j);

/* Makes the log (see nvlog_create); the running epoch follows the last
 * committed one. 0 or a negative errno. */
int nvjournal_create(struct nvjournal *j, int dirfd, const char *name,
                     const struct nvlog_identity *id, uid_t owner, uint64_t committed_size);

/* A block that a change must log before it changes. */
struct nvjournal_block {
    struct nvidx_region *region;
    struct nvidx_entry *entry;
    uint64_t start, len; /* the block, clamped to the real file (undo) */
    uint64_t span;       /* bytes of the block */
    bool covered;        /* the change replaces every byte of it */
    struct nvlog_rec rec;
    uint32_t data_checksum; /* of an undo record's data */
};

/* The blocks a change of [off, end) must log first, planned by
 * nvjournal_plan and written by nvjournal_write, then released. */
#define NVJOURNAL_PLAN_ON_STACK 8
struct nvjournal_plan {
    struct nvjournal_block *blocks; /* `local` until it outgrows it */
    size_t n, cap;
    uint64_t bytes;    /* of log the records take */
    const char *src;   /* the change's bytes; NULL: zeros */
    uint64_t off, end; /* the change */
    unsigned want;     /* block size (log2) the change would like */
    struct nvjournal_block local[NVJOURNAL_PLAN_ON_STACK];
};

/* Plans the records of a change of [off, end) to the bytes of src (NULL:
 * zeros). Blocks logged whole go home later, so they need storage too:
 * nvjournal_plan_span says where. 0 or -ENOMEM. */
int nvjournal_plan(struct nvjournal *j, const struct nvjournal_home *h, const char *src,
                   uint64_t off, uint64_t end, struct nvjournal_plan *p);

/* Makes the planned change: reserves log space, writes the records and
 * places the bytes (as nvjournal_put). A negative errno leaves the log and
 * the file as they were. */
int nvjournal_write(struct nvjournal *j, const struct nvjournal_home *h, struct nvjournal_plan *p);

void nvjournal_plan_free(struct nvjournal_plan *p);

/* The blocks of a plan, [*lo, *hi), clamped to the real size; false when
 * the plan has none there. */
bool nvjournal_plan_span(const struct nvjournal_plan *p, const struct nvjournal_home *h,
                         uint64_t *lo, uint64_t *hi);

/* Places the bytes of [off, end) from src (NULL: zeros) when every block
 * they need logged has its record already (see nvjournal_placed_only):
 * home under undo; under redo into the blocks' records, and home where no
 * block is logged. Writers in place may call it concurrently on disjoint
 * ranges. */
void nvjournal_put(struct nvjournal *j, const struct nvjournal_home *h, const char *src,
                   uint64_t off, uint64_t end);

/* Could [off, end) be placed by nvjournal_put with no record written and no
 * block size changed? (Every logged block of it already has its record of
 * the running epoch.) Takes no memory. */
bool nvjournal_placed_only(struct nvjournal *j, const struct nvjournal_home *h, uint64_t off,
                           uint64_t end);

/* The bytes of the file at off as the program sees them when they wait in
 * a redo record, or NULL when they are home. *n is cut to what the answer
 * covers (the rest of the block, or of an unlogged region). */
const char *nvjournal_redo_bytes(struct nvjournal *j, uint64_t off, uint64_t *n);

/* Calls fn(arg, lo, hi) for each block holding a redo record that [lo, hi)
 * touches, clipped to [lo, hi), in no set order; a non-zero return stops the
 * walk and is returned. fn may log more blocks. */
typedef int (*nvjournal_range_fn)(void *arg, uint64_t lo, uint64_t hi);
int nvjournal_redo_blocks(struct nvjournal *j, uint64_t lo, uint64_t hi, nvjournal_range_fn fn,
                          void *arg);

/* Another process appended records to the log from offset `from` (whose
 * index is from_index) to the log's tail: the index learns which blocks
 * the running epoch's undo records among them cover (small_blocks set), so
 * no block gets a second pre-image. 0 or -ENOMEM. */
int nvjournal_take_records(struct nvjournal *j, uint64_t from, uint64_t from_index);

/* The first half of a commit: seals and fences the running epoch's records
 * and the home bytes they guard, so that only the commit slot is left to
 * write (a transaction's record goes in between, see txrecord.h). */
int nvjournal_prepare(struct nvjournal *j, struct pm_map *home);

/* Whether the commit of the running epoch retires every record. */
bool nvjournal_commit_resets(const struct nvjournal *j);

/* Durability point: seals and fences the running epoch's records and the
 * home bytes they guard, then commits the epoch with the file's size. The
 * running epoch moves on, with `next_policy`. 0 or a negative errno. */
int nvjournal_commit(struct nvjournal *j, struct pm_map *home, uint64_t size, int next_policy);

#endif
