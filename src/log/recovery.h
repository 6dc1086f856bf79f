/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * recovery.h - applying a log to its data file: after a crash, when the file
 * is next opened (roll back the uncommitted epoch's undo records, replay the
 * committed redo records, restore the committed size), and in a running
 * process, when committed redo records are copied home (the checkpoint);
 * and the watch, which lets recovery tell a file that another program
 * changed since the log's last look at it.
 */
#ifndef NVMMIO_LOG_RECOVERY_H
#define NVMMIO_LOG_RECOVERY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "log/format.h"
#include "log/index.h"
#include "log/log.h"
#include "pmem/persist.h"

struct nvlog_recovery {
    bool had_log;        /* a log was found */
    bool stale;          /* it belonged to an earlier file with this inode number */
    uint64_t size;       /* the committed size the file was brought to */
    uint64_t undone;     /* undo records rolled back */
    uint64_t redone;     /* redo records replayed */
    const char *why;     /* a refused log: what failed */
    uint64_t bad_offset; /* and where in the log, when a record failed (else 0) */
    uint64_t logged[2];  /* nvlog_inspect: undo and redo records the check walked */
    bool changed;        /* the file changed behind the log's back: not applied (why says how) */
    bool emptied;        /* it changed, but the log held nothing to apply: removed */
    char aside[96];      /* nvlog_recover: the name the log was kept aside under */
};

/* Recovers the data file open read-write as data_fd, whose identity is id
 * and whose owner is `owner`, from the log `name` in dirfd, then removes the
 * log. Every record the recovery would apply is checked (header, bounds,
 * data checksum) before any is applied. Idempotent: a crash at any point
 * leaves a log that recovers to the same state. Returns 0 (also when there
 * is no log); -EACCES when the log's file may not be trusted (a link, an
 * owner other than the file's or root, writable by others), -EBADMSG when
 * its contents fail their checks or it names another file: then nothing is
 * applied, the log is left in place and out->why says why; or another
 * negative errno. A file that changed behind the log's back (the watch, see
 * nvlog_watch_record) is left as it is and the log is renamed NAME.aside-
 * TIMESTAMP in dirfd, never to be applied: 0 with out->changed, out->why
 * and out->aside. */
int nvlog_recover(int dirfd, const char *name, int data_fd, const struct nvlog_identity *id,
                  uid_t owner, struct nvlog_recovery *out);

/* What nvlog_recover would do, changing nothing: the log `name` in dirfd is
 * opened read-only and checked as recovery checks it, against the data file
 * of identity id whose status is data_st. Fills out (undone and redone count
 * the records recovery would apply, size the committed size; stale, why and
 * bad_offset as nvlog_recover sets them) and state (the log's current commit
 * slot). Returns 0 (also when there is no log: out->had_log is false),
 * -EACCES or -EBADMSG as nvlog_recover would refuse, or another negative
 * errno. */
int nvlog_inspect(int dirfd, const char *name, const struct stat *data_st,
                  const struct nvlog_identity *id, uid_t owner, struct nvlog_recovery *out,
                  struct nvlog_slot *state);

/* Copies every committed redo record not yet home to the data mapping,
 * drains, and commits the new applied epoch; resets the log when nothing in
 * it is live any more. data_size bounds the copies (the file's real size).
 * The index, when given, drops the entries of the records that went home.
 * Returns the number of records copied, or a negative errno. */
long nvlog_checkpoint(struct nvlog *log, struct pm_map *data, uint64_t data_size,
                      struct nvidx *index);

/* Puts back the home bytes of every undo record of the log's open epoch
 * (a running process abandoning it), bounded by data_size, and drains.
 * Returns the number of records applied, or a negative errno. */
long nvlog_roll_back(struct nvlog *log, struct pm_map *data, uint64_t data_size);

/* ---- the watch ------------------------------------------------------------
 * The log notes how the data file looked when the library last changed it
 * itself, so that recovery can tell when another program changed it since:
 * its size, always, and its mtime where the library's own stores through
 * its mapping cannot move it (tmpfs without swap, every page mapped in
 * before the first store: a store that faults a page in for writing moves
 * mtime, and on a DAX file system every store after a writeback does).
 * Around each of its own calls that change the file's size or times, the
 * library suspends the watch first and records it again afterwards. */

/* How far a record vouches for the data file's mtime. */
enum nvlog_mtime {
    NVLOG_MTIME_STEADY, /* the library's stores cannot move it from now on (its pages are mapped) */
    NVLOG_MTIME_NOT_YET, /* they may, for a while (storage being mapped in): the size only, this
                            time */
    NVLOG_MTIME_NEVER,   /* they may at any time: the size only, for the rest of the log */
};

/* Records the data file (open as data_fd) as it is now, vouching for its
 * mtime as `mtime` says. Returns 1 when the mtime is watched, 0 when only
 * the size is, or a negative errno (the watch then stays suspended). A
 * caller that knows the file's size gives it (else NULL): a record of the
 * size only then looks at nothing. */
int nvlog_watch_record(struct nvlog *log, int data_fd, enum nvlog_mtime mtime,
                       const uint64_t *size);

/* The library is about to change the file's size or times itself; for_good:
 * or to store where its mapping may fault, so its mtime is not watched
 * again in this log. */
void nvlog_watch_suspend(struct nvlog *log, bool for_good);

/* True when the log has a watch that is suspended. */
bool nvlog_watch_suspended(const struct nvlog *log);

/* True when the log's watch may vouch for the mtime, now or after its
 * next record: the library's stores must not fault pages in meanwhile. */
bool nvlog_watch_mtime_kept(const struct nvlog *log);

/* True when a record now could vouch for more than the watch in force
 * does: it is suspended, or vouches for the size only while the mtime is
 * not lost for good. */
bool nvlog_watch_improvable(const struct nvlog *log);

#endif
