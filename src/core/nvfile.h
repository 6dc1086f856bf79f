/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvfile.h - the open-file object: one per managed file (inode) in the
 * process, shared by every descriptor that refers to it.
 *
 * It owns the data mapping, the sizes, the file's lock, its log and index,
 * and the epoch: every change since the last durability point is one atomic
 * unit. Sizes kept apart:
 *   size            what the program sees (fstat, SEEK_END, EOF)
 *   committed_size  the size at the last durability point (what a crash
 *                   brings back); blocks below it are logged before change
 *   real_size       the kernel's size: at least size, with a preallocated
 *                   tail while the file is open, trimmed at close
 *   zero_from       every byte of the real file from here on is zero, as
 *                   far as the library's own writes go; once the program
 *                   maps the file, its stores may reach any byte of the
 *                   real file (the preallocated tail, ranges the file
 *                   grows into later), and no byte is known to be zero
 * All functions but nvfile_acquire/nvfile_release expect the caller to hold
 * the lock as their comment says.
 */
#ifndef NVMMIO_CORE_NVFILE_H
#define NVMMIO_CORE_NVFILE_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "core/filelock.h"
#include "core/owner.h"
#include "core/parking.h"
#include "core/share.h"
#include "core/stats.h"
#include "core/storage.h"
#include "log/journal.h"
#include "os/mapfault.h"
#include "pmem/persist.h"

/* Largest logical size served: offsets are indexed below 2^48, and the data
 * mapping must fit in the address space. */
#define NVFILE_MAX_SIZE ((uint64_t)1 << 46)

/* The file's times against the changes the program made. */
enum nvfile_times {
    NVFILE_TIMES_CLEAN, /* no change since the last publication */
    NVFILE_TIMES_MOVED, /* changed since, and only by the kernel's own writes */
    NVFILE_TIMES_DUE,   /* changed since, and the times do not show it */
};

struct nvfile {
    dev_t dev;
    ino_t ino;
    struct nvlog_identity id;
    int fd;        /* the library's own descriptor of the file; -1 parked (parking.h) */
    bool writable; /* fd is read-write */
    char *log_dir; /* directory that holds the log */
    char log_name[64];
    uid_t uid; /* the file's owner, whose log and lock file these are */
    gid_t gid;
    mode_t mode; /* st_mode when the object was made */
    struct nvowner owner;
    struct nvshare share; /* see share.h */
    int share_lane;       /* of the exclusive holder */

    struct nvlock lock; /* see filelock.h */
    struct pm_map map;
    struct nv_mapfault_area mapfault; /* map, for SIGBUS (os/mapfault.h) */
    uint64_t size;
    uint64_t committed_size;
    uint64_t real_size;
    uint64_t zero_from;
    /* Where this process's changes since the file was last published end
     * (atomic: writers in place raise it): a cut by another program does
     * not take them away (nvfile_revalidate). */
    uint64_t unpublished_end;
    /* Whether the program changed the file since its times were last
     * brought up (see nvfile_publish; atomic, in-place writers set it
     * without the lock), and the coarse clock then. */
    enum nvfile_times times;
    /* The last nvfile_write stored bytes through the mapping, not only by
     * the kernel's own write. */
    bool library_wrote;
    struct timespec published;
    struct nvstorage store;

    struct nvjournal journal;
    bool dirty; /* the running epoch changed the file */
    /* The first process to serve the file has not made its share block
     * yet (nvfile_share_now), and holds the ownership lock alone. */
    bool share_lazy;
    bool log_going; /* settling: the log goes once the file is published */
    /* The program mapped the file itself (now or, in this process, before
     * this object was made): its mapping sees home bytes only, so the file
     * is logged with undo (in place), and its stores may land anywhere, so
     * no byte past the library's writes is taken to be zero. */
    bool mapped_by_program;
    /* The file had a set-user-ID or set-group-ID bit when opened: the next
     * write asks the kernel to take it away (nvfile_remove_privs). */
    bool kill_privs;
    bool shared_with_child; /* a fork in progress hands it to the kernel */
    /* Handed to the kernel in this process (atomic; set under the write
     * lock once the kernel shows the file as the library does): a write
     * that gets the lock after goes through the kernel's descriptor. */
    bool to_kernel;
    /* The program may hold record locks on the file (atomic): closing any
     * descriptor of it would drop them, so the library's own is neither
     * parked nor closed until they are gone (core/recordlocks.h). */
    bool record_locks;
    struct nvtx *tx;       /* the transaction it takes part in (core/tx.h) */
    int zero_range_answer; /* FALLOC_FL_ZERO_RANGE: 0 not asked, 1, or -EOPNOTSUPP */
    uint64_t reads, writes;
    struct nvstats stats;
    /* The process's lock takes when the file last took in the kernel's
     * view (nvfile_revalidate; atomic, written with the write lock). */
    uint64_t taken_in;

    /* Owned by the file table. */
    int users;
    struct nvfile *hash_next;
    /* Out of the table and being freed (nvfile.c's going list). */
    struct nvfile *going_next;
    /* Kept whole after its last close (nvfile.c), since then, in ns of
     * CLOCK_MONOTONIC. */
    bool lingering;
    uint64_t lingering_since;
    /* How many times in a row this process opened the file again a moment
     * after its last close, serving it alone (recent.h). */
    unsigned reopens;
    /* Owned by the helper thread's queues. */
    bool helper_busy;
    bool ckpt_queued;
    struct nvfile *ckpt_next;
    struct timespec ckpt_due;
    uint64_t ckpt_epoch; /* the running epoch when queued (file lock) */
    bool ahead_queued;
    struct nvfile *ahead_next;
    bool share_queued;
    struct nvfile *share_next;
    struct timespec share_due;
    /* Owned by parking.c: a program descriptor of the file, and whether
     * fd is never to be parked again. */
    int park_hint;
    bool park_done;
};

/* Finds or creates the object for the regular file open as kfd (whose
 * status is st and canonical path `path`, with logs in log_dir), recovering
 * the file first when it has a log; a file the open just created (created)
 * has none to apply. Returns the object with one more user, or NULL with
 * *err set to a negative errno; -EBUSY when another process holds the
 * file, NVFILE_FOREIGN_LOG when its log is neither its owner's nor root's
 * (refused, and said so: the kernel serves the file). */
#define NVFILE_FOREIGN_LOG (-EKEYREJECTED)
struct nvfile *nvfile_acquire(int kfd, const struct stat *st, const char *path, const char *log_dir,
                              bool created, int *err);

/* The name of the log of file (dev, ino) in its log directory. */
void nvfile_log_name(char *buf, size_t n, dev_t dev, ino_t ino);

/* Whether file (dev, ino) has a log in log_dir: one look. */
bool nvfile_has_log(const char *log_dir, dev_t dev, ino_t ino);

/* One more user of an object the caller reached through a descriptor. */
void nvfile_pin(struct nvfile *f);

/* Drops a user; the last one settles the file (see nvfile_settle) and frees
 * the object, or keeps it a moment for the next open (see below). Returns 0
 * or the negative errno of settling. */
int nvfile_release(struct nvfile *f);

/* nvfile_release for a descriptor closed: the close is a durability point
 * and a publication point (see nvfile_expose) even when other descriptors
 * of this process keep the object. */
int nvfile_close(struct nvfile *f);

/* Files closed a moment ago. A program that opens, changes and closes one
 * file over and over (a database's rollback journal in the TRUNCATE and
 * PERSIST modes, twice a transaction) would take and give back the file's
 * descriptor, ownership, log and mapping each time. So the last release of
 * a file this process writes alone exposes it as any close does and keeps
 * the object whole and unused, "lingering", for NVFILE_LINGER_NS at most:
 * an open meanwhile takes it up as a second open would. The helper thread
 * lets lingering files go as they age (nvfile_linger_expire), and so does
 * whatever needs the file closed for real: its last link removed, a fork,
 * exec or spawn (a descriptor open for writing makes exec fail with
 * ETXTBSY), a program short of descriptors, the process's end. */
#define NVFILE_LINGER_NS 20000000L

/* Lets go of the lingering files older than NVFILE_LINGER_NS; true when
 * some remain. */
bool nvfile_linger_expire(void);

/* Lets go of every lingering file, and when `for_good` keeps none from
 * now on (the process ends). Returns how many were let go. */
int nvfile_let_go_all(bool for_good);

/* Lets go of file (dev, ino) when it lingers. */
void nvfile_let_go(dev_t dev, ino_t ino);

/* Makes the share block of a file whose first process put it off, and
 * lets processes waiting to join in (see nvowner_serve). */
void nvfile_share_now(struct nvfile *f);

/* In a forked child: frees the parent's object without touching the file,
 * its log or the parent's ownership (the lock file is shared). */
void nvfile_abandon(struct nvfile *f);

/* In a forked child: forgets the objects other threads of the parent were
 * freeing at the fork (left as they are: nobody in the child frees them). */
void nvfile_forget_going(void);

/* Takes the file's lock exclusively (see filelock.h); in-place writes made
 * since the last hold become the running epoch's. contended, when given,
 * says whether the caller found it taken. */
void nvfile_lock(struct nvfile *f, bool *contended);
bool nvfile_trylock(struct nvfile *f);

/* Takes in a cut another program made under this process's changes
 * (os/mapfault.h) at the way out. */
void nvfile_unlock(struct nvfile *f);

/* A change of this process reached end. */
static inline void nvfile_unpublished_to(struct nvfile *f, uint64_t end)
{
    uint64_t now = __atomic_load_n(&f->unpublished_end, __ATOMIC_RELAXED);
    while (now < end && !__atomic_compare_exchange_n(&f->unpublished_end, &now, end, true,
                                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

/* The file's lock shared (readers); returns what nvfile_unlock_shared
 * takes back. */
int nvfile_lock_shared(struct nvfile *f);
void nvfile_unlock_shared(struct nvfile *f, int held);

/* Write lock held. Opens the log another process made for the file. */
int nvfile_attach_log(struct nvfile *f);

/* What nvfile_read returns when another program cut the file shorter
 * under the copy (os/mapfault.h); never seen by the program. */
#define NVFILE_CUT (-ESTALE)

/* Read lock held. Copies up to len bytes at off into buf; returns the count
 * (0 at or past EOF), or NVFILE_CUT with part of buf copied. */
long nvfile_read(struct nvfile *f, void *buf, size_t len, uint64_t off);

/* Write lock held. The bytes between the size and `to` (a write or a
 * truncation beyond the size, or another program's growth of the file)
 * read as zero from now on; some may still hold bytes from before a
 * truncation. 0 or a negative errno. */
int nvfile_zero_gap(struct nvfile *f, uint64_t to);

/* Write lock held. Writes len bytes at off; returns len or a negative errno
 * (-ENOSPC, -EFBIG, -ENOMEM, -EIO) with nothing changed. Sets
 * library_wrote. */
long nvfile_write(struct nvfile *f, const void *buf, size_t len, uint64_t off);

/* Before a write, exclusive lock held: takes the set-user-ID bit (and the
 * set-group-ID bit of a group-executable file) away as the kernel's write
 * would, unless the process may keep them (CAP_FSETID). Once a file open. */
void nvfile_remove_privs(struct nvfile *f);

/* No lock held. Writes len bytes at off in place when that changes
 * nothing but bytes: within the size, on storage known to be there, and
 * every logged block already has its record of the running epoch. Only
 * once the file is concurrent (filelock.h) or shared between processes
 * (share.h). Returns len, or -EAGAIN when the write needs the exclusive
 * lock. */
long nvfile_write_in_place(struct nvfile *f, const void *buf, size_t len, uint64_t off);

/* Whether nvfile_write_in_place may serve a write now: what it first checks,
 * inline, so a file that has neither mode pays no call. */
static inline bool nvfile_writes_in_place(struct nvfile *f)
{
    return __atomic_load_n(&f->share.shared, __ATOMIC_RELAXED) || nvlock_is_concurrent(&f->lock);
}

/* Write lock held. Sets the logical size. 0 or a negative errno. */
int nvfile_truncate(struct nvfile *f, uint64_t len);

/* Write lock held. fallocate(2) inside the epoch: mode 0 and KEEP_SIZE
 * reserve blocks (and extend the size), PUNCH_HOLE|KEEP_SIZE and ZERO_RANGE
 * zero a range; other modes give -EOPNOTSUPP. */
int nvfile_allocate(struct nvfile *f, int mode, uint64_t off, uint64_t len);

/* Write lock held. The program maps the file: commit, bring every redo
 * block home and keep logging in place, so both views stay one. */
int nvfile_share_mapping(struct nvfile *f);

/* Table lock held (filetable.h). The program maps the file (dev, ino); its
 * mapping may outlive every descriptor of it, so an object made for the
 * file later in this process starts as mapped. 0 or -ENOMEM. */
int nvfile_note_mapped(dev_t dev, ino_t ino);

/* Write lock held. Durability point: commits the running epoch. */
int nvfile_commit(struct nvfile *f);

/* Write lock held. Copies committed redo blocks home. */
int nvfile_checkpoint(struct nvfile *f);

/* Write lock held. Commit, checkpoint, trim the real file to the logical
 * size and remove the log: the file is as a program without the library
 * should see it, its times as the program left them (see nvfile_publish). */
int nvfile_settle(struct nvfile *f);

/* Any lock or none. The program changed the file's bytes or size: its
 * mtime and ctime are due, as the kernel's call would have set them. */
static inline void nvfile_changed(struct nvfile *f)
{
    if (__atomic_load_n(&f->times, __ATOMIC_RELAXED) != NVFILE_TIMES_DUE)
        __atomic_store_n(&f->times, NVFILE_TIMES_DUE, __ATOMIC_RELAXED);
}

/* Write lock held. The program changed the file by the kernel's own write,
 * which moved the times as it does: unless an earlier change waits for
 * them, none is due. */
static inline void nvfile_changed_by_kernel(struct nvfile *f)
{
    enum nvfile_times clean = NVFILE_TIMES_CLEAN;
    __atomic_compare_exchange_n(&f->times, &clean, NVFILE_TIMES_MOVED, false, __ATOMIC_RELAXED,
                                __ATOMIC_RELAXED);
}

/* Changed since the last publication. */
static inline bool nvfile_stale(struct nvfile *f)
{
    return __atomic_load_n(&f->times, __ATOMIC_RELAXED) != NVFILE_TIMES_CLEAN;
}

/* Write lock held. A publication point (fsync, close, a stat or a
 * SEEK_DATA/SEEK_HOLE of the file, a program about to set its times or map
 * it): when the program changed the file since the last one, the kernel's
 * view becomes what the kernel itself would show. Pages the library
 * reserved and the program never wrote go back (punched, the preallocated
 * tail trimmed, down to the committed size: the bytes below it must survive
 * a crash), and mtime and ctime move, by those calls or else by one
 * utimensat, which also tells inotify watchers (IN_MODIFY). Errors of the
 * times are not reported; 0 or a negative errno of giving space back. */
int nvfile_publish(struct nvfile *f);

/* Write lock held. nvfile_publish at most once per tick of the kernel's
 * coarse clock (the granularity of its timestamps), for fsync: a program
 * that syncs after every write pays no system call for it. */
int nvfile_publish_lazily(struct nvfile *f);

/* Write lock held. A point where a process without the library must find
 * the file as this one sees it (fsync, close, a lock on it released): the
 * running epoch commits, redo blocks go home and the kernel's size becomes
 * the file's (nvfile_publish; its times lazily when asked). */
int nvfile_expose(struct nvfile *f, bool lazily);

/* Write lock held. A point where this process takes in what others changed
 * through the kernel (a lock on the file taken): when the kernel's size is
 * not the one this process left, the file's sizes start again from the
 * kernel's, committed as such, and no block past it is known to be there.
 * 0 or a negative errno. */
int nvfile_revalidate(struct nvfile *f);

/* The process took a lock (fcntl, OFD, flock, lockf): every file is to
 * take in what others changed through the kernel before its next call
 * (nvfile_take_in), rather than each one at the lock at once. */
void nvfile_all_unchecked(void);

/* No lock held. Revalidates the file when a lock was taken since it last
 * took in the kernel's view; a file nobody calls costs nothing. 0 or a
 * negative errno (the file stays to be taken in at its next call). */
int nvfile_take_in(struct nvfile *f);

/* No lock held. After a read that met the end of the file, or a stat that
 * found another size than this process left: another program may have
 * appended to or cut the file without a lock, which is taken in as at a
 * lock (nvfile_revalidate), so a reader polling the end (tail -f) sees
 * what a program without the library appends. True when the size this
 * process shows changed. */
bool nvfile_take_in_size(struct nvfile *f);

/* Called by the helper thread, no lock held: allocates and maps storage
 * ahead of the end of a file being appended (on forced pmem, where faults
 * allocate), a step at a time, so appends find it ready. Gives up when the
 * file changes shape under it. */
void nvfile_prepare_ahead(struct nvfile *f);

/* Fills what nvmmio_get_stats reports of the file (but sync_mode, which
 * belongs to the descriptor); takes the read lock. */
struct nvmmio_stats;
void nvfile_stats(struct nvfile *f, struct nvmmio_stats *st);

/* True when writes to the file are durability points of their own. */
bool nvfile_sync_mode(int open_flags);

#endif
