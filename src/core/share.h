/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * share.h - a managed file served by several processes at once.
 *
 * Every process that serves a file maps its share block, a small file next
 * to the log (ROOT/.nvmmio/DEV-INO.share, the file owner's, mode 0600).
 * While one process serves the file alone, the block costs it little: its
 * calls announce themselves in per-CPU lanes, and each call that changed
 * the file leaves a copy of the file's state there (sizes, epoch, where the
 * log stands). A second process that opens the file makes it shared: it
 * raises the block's flag, waits for the lanes to empty and takes the
 * state over. From then on every call of every sharer holds the block's
 * lock (a robust, process-shared mutex: it survives its holder's death),
 * first takes in the state when another process changed it (the records
 * others appended to the log included, so no block gets a second
 * pre-image), and leaves the state it made; reads go on at once without
 * the lock (nvshare_enter_read). Shared files log with undo in
 * 4 KiB blocks, so home bytes are always the file's and every index agrees
 * on blocks. A change saves the bytes it replaces in the block before it
 * makes them: should its process die in the middle, the next holder puts
 * them back, and the call never happened.
 *
 * The first process that opens the file (it holds the ownership lock
 * exclusively, owner.h) makes the block anew: whatever an earlier boot or
 * a dead process left there is stale.
 */
#ifndef NVMMIO_CORE_SHARE_H
#define NVMMIO_CORE_SHARE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct nvfile;
struct nvshare_block;
struct nvshare_reader;

struct nvshare {
    struct nvshare_block *block;   /* NULL: the file has no share block */
    uint64_t usable;               /* bytes of it the file is known to hold */
    uint64_t token;                /* the block's, drawn when it was made */
    bool shared;                   /* this process saw the file shared */
    uint64_t seen;                 /* the state generation this process holds */
    uint64_t log_serial;           /* of the log file this process has open */
    struct nvshare_reader *reader; /* this process's slot among the block's readers */
    bool reader_tried;             /* a slot was asked for (claim_reader) */
    unsigned saves_busy;           /* atomic: the slot's saves in use (writes in place) */
};

/* Maps the file's share block, made anew when `first`. 0 or a negative
 * errno. */
int nvshare_open(struct nvfile *f, bool first);

/* Whether f has a share block file; its owner into *uid. */
bool nvshare_block_owner(const struct nvfile *f, uid_t *uid);

/* Whether a second process ever joined the file's share block (its flag
 * stays up until the block goes): without one, the file is served by this
 * process alone, as a call to the ownership lock would tell. */
bool nvshare_ever_joined(const struct nvfile *f);

/* Unmaps it; removes it too when `last` (no other process serves the
 * file). */
void nvshare_close(struct nvfile *f, bool last);

/* Gives this process's reader slot back, while the process still serves
 * the file (nvshare_close does it too). */
void nvshare_leave_slot(struct nvfile *f);

/* For the last process out (nvowner_last_out), which another process may
 * have come and gone before, making the block anew: whether the block
 * file is still the one f maps, shared (not made anew since), read
 * through its name, so nothing of the mapping is touched. */
bool nvshare_still_ours(const struct nvfile *f);

/* Removes the block file by its name. */
void nvshare_remove(const struct nvfile *f);

/* Removes the spare blocks this process keeps (share.c): at its normal
 * exit and exec. */
void nvshare_spares_drop(void);

/* The fork handlers: the spares' lock is held across a fork (as
 * nvlog_before_fork). */
void nvshare_before_fork(void);
void nvshare_after_fork(void);

/* The file is served by another process already: makes it shared and takes
 * its state over. 0, -EAGAIN when that process's running epoch holds redo
 * records (it goes undo at its next commit; the caller uses the kernel
 * this time), or another negative errno. */
int nvshare_join(struct nvfile *f);

/* Around every call on the file, inside the file's own lock: returns a
 * lane to give back to nvshare_leave (NVSHARE_LOCKED: the file is shared
 * and the block's lock held). A call that may change the file's state
 * passes `changes`. */
#define NVSHARE_LOCKED (-2)
int nvshare_enter(struct nvfile *f);
void nvshare_leave(struct nvfile *f, int lane, bool changes);

/* The same around a call that only reads the file. Once the file is
 * shared, processes read at once without the lock: a call that may change
 * the file waits for the reads in flight, and none starts meanwhile. A
 * process reads without the lock as long as no other process changed the
 * file since it last took the state in. */
int nvshare_enter_read(struct nvfile *f);

/* What nvshare_enter and nvshare_enter_read return for a call counted
 * among its process's reads of a shared file, without the lock. */
#define NVSHARE_READING (-3)

/* The range locks of [off, end) of a shared file (taken in order), held by
 * every read of its bytes and every write in place; returns what to
 * unlock. A range lock taken from a process that died holding it first
 * undoes that process's write in place (below). */
uint64_t nvshare_lock_range(struct nvfile *f, uint64_t off, uint64_t end);
void nvshare_unlock_range(struct nvfile *f, uint64_t held);

/* Writes in place of a shared file: a write that changes nothing but bytes
 * (every block it reaches has its record of the running epoch) goes on
 * without the block's lock, so processes writing different parts of a
 * file do so at once. nvshare_enter_in_place counts the call among the
 * process's reads (true: go on, then nvshare_leave with NVSHARE_READING).
 * nvshare_begin_in_place takes the range locks of [off, end) (at most
 * NVSHARE_IN_PLACE_MAX bytes) and copies the new bytes from buf into one
 * of the process's saves in the block, which it returns for the caller to
 * write home from; NULL when every save is in use (the write then takes
 * the lock). Should the process die before nvshare_end_in_place (which
 * fences the stores and lets go), the next process to take the range
 * finishes the write. */
#define NVSHARE_IN_PLACE_MAX ((uint64_t)16 << 10)
struct nvshare_in_place {
    uint64_t stripes;
    int save;
};
bool nvshare_enter_in_place(struct nvfile *f);
const char *nvshare_begin_in_place(struct nvfile *f, const void *buf, uint64_t off, uint64_t end,
                                   struct nvshare_in_place *w);
void nvshare_end_in_place(struct nvfile *f, const struct nvshare_in_place *w);

/* Shared file, lock held: a change is about to replace [off, end) of the
 * file's bytes (and maybe its size). 0 or a negative errno. */
int nvshare_save(struct nvfile *f, uint64_t off, uint64_t end);

/* Write lock held: this process made a new log file for the file. */
void nvshare_new_log(struct nvfile *f);

/* Whether the file's next epoch must log with undo: it is shared, or a
 * process waits to share it. */
bool nvshare_wants_undo(const struct nvfile *f);

#endif
