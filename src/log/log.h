/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * log.h - the persistent log of one data file: creating, growing and
 * removing the log file, appending records, committing a state, and walking
 * the records back. What the records mean is the caller's business (the core
 * writes them, recovery.c and the checkpoint apply them).
 */
#ifndef NVMMIO_LOG_LOG_H
#define NVMMIO_LOG_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "log/format.h"
#include "log/index.h"
#include "pmem/persist.h"

/* A new log file's size: the superblock alone. Most logs never hold a
 * record (a new file's first epoch has nothing to undo), and the medium a
 * log takes is the pmem's (on tmpfs, memory) for as long as the file is
 * open; it grows at its first record and doubles as it fills (64 MiB
 * steps at most). */
#define NVLOG_INITIAL_SIZE ((uint64_t)NVLOG_HEADER_SIZE)

struct nvlog {
    bool attached; /* false while the data file has no log */
    /* Past the first few logs of a process, the log file is opened only
     * while it grows: dirfd (a descriptor of its directory the library
     * keeps, one per directory) and name find it again, dev and ino check
     * it is the same file. Otherwise fd stays open (else -1); counted:
     * one of the first few. */
    int fd, dirfd;
    bool counted;
    char name[64];
    dev_t dev;
    ino_t ino;
    uid_t uid;           /* the log file's owner: a spare serves that user's files only */
    struct pm_map map;   /* the whole log file */
    uint64_t size;       /* bytes allocated to the log file */
    uint64_t populated;  /* bytes of it mapped in ahead of use */
    uint64_t tail;       /* offset of the next record */
    uint64_t next_index; /* index of the next record in this generation */
    uint64_t live_from;  /* records before this offset are dead or home */
    uint64_t live_from_index;
    uint64_t open_from;      /* the first record written since the last commit */
    uint64_t open_index;     /* and its index */
    struct nvlog_slot state; /* the durable state, as last committed */
    /* The watch's current entry (magic 0: none), as this process last wrote
     * or read it: the mapping's copy is read back only when the log is
     * attached or another process's cursor taken in. Valid while
     * watch_cached; every use would otherwise check two checksums in lines
     * the flush just evicted. */
    struct nvlog_watch watch;
    bool watch_cached;
};

struct nvlog_rec {
    uint64_t off;   /* offset of the record header in the log */
    uint64_t index; /* position in the generation */
};

static inline bool nvlog_exists(const struct nvlog *log)
{
    return log->attached;
}

void nvlog_init(struct nvlog *log);

/* Whether the file at path is this log's (the same device and inode). */
bool nvlog_is_at(const struct nvlog *log, const char *path);

/* ---- trust ----------------------------------------------------------------
 * A log directory may be shared by several users (ROOT/.nvmmio, like /tmp):
 * the logs and lock files of a data file belong to that file's owner, mode
 * 0600, and nothing in the directory is taken on trust. Each check returns 0
 * or -EACCES with *why saying what failed. */

/* Opens the log directory `path` for the logs of files owned by `owner`,
 * creating it when asked (mode 0700 by an ordinary user, 01777 by root, who
 * shares it). Refused when it is a symbolic link or not a directory, when it
 * belongs to someone other than root, this process's user or `owner`, or
 * when others may write in it and it has no sticky bit. */
int nvlog_dir_open(const char *path, uid_t owner, bool create, const char **why);

/* nvlog_dir_open, kept open from the first call for `path` on: the caller
 * must not close it. A directory found gone since (-ENOENT from a call in
 * it) is forgotten with nvlog_dir_forget and opened again by path. */
int nvlog_dir_kept(const char *path, uid_t owner, bool create, const char **why);
void nvlog_dir_forget(const char *path);

/* Checks a file opened in a log directory: a regular file with one link,
 * owned by `owner` or root, that neither group nor others may write. Its
 * status is left in st. */
int nvlog_file_check(int fd, uid_t owner, struct stat *st, const char **why);

/* Gives a file this process just created in a log directory to `owner`:
 * root makes the logs of other users' files. */
int nvlog_file_give(int fd, uid_t owner);

/* Creates the log `name` in directory dirfd for a data file of the given
 * identity, owner and committed size, durably and atomically (a crash leaves
 * no half-made log under that name). Returns 0 or a negative errno. */
int nvlog_create(struct nvlog *log, int dirfd, const char *name, const struct nvlog_identity *id,
                 uid_t owner, uint64_t committed_size);

/* Opens an existing log of a file owned by `owner`, never through a
 * symbolic link. -ENOENT when there is none; -EACCES when the file fails
 * nvlog_file_check; -EBADMSG when neither commit slot is valid; *why says
 * what failed. On success log->state is the current slot and the tail is
 * not yet known (see nvlog_walk). */
int nvlog_attach(struct nvlog *log, int dirfd, const char *name, uid_t owner, const char **why);

/* The same, read-only: nothing in the log is changed (tools that inspect
 * logs). The log must not be committed to. */
int nvlog_attach_readonly(struct nvlog *log, int dirfd, const char *name, uid_t owner,
                          const char **why);

/* The identity a log names its data file by (device, inode, birth time),
 * read from the open file fd, with the file's size. */
int nvlog_identity_read(int fd, struct nvlog_identity *id, uint64_t *size);

/* Unmaps and forgets the log; the file stays. */
void nvlog_close(struct nvlog *log);

/* Detaches the log and removes its name `name` from dirfd: from then on the
 * data file has no log. The process may keep the file, mapped, under
 * another name to make its next new log from (see log.c, spare logs).
 * Returns 0 or a negative errno; with -EPERM or -EACCES (the process may
 * no longer remove it) the log stays attached. */
int nvlog_remove(struct nvlog *log, int dirfd, const char *name);

/* Removes the spare logs this process keeps: at its normal exit and exec. */
void nvlog_spares_drop(void);

/* The fork handlers: the locks of the kept directories and the spares are
 * held across a fork, so that neither process finds one taken by a thread
 * that the child does not have (its exit settles files and drops spares). */
void nvlog_before_fork(void);
void nvlog_after_fork(void);

/* A new name for a spare of this process, ".spare-PID-TOKEN-N" and suffix,
 * into buf: the PID tells a later process the spares of one that died;
 * TOKEN, random and made again in a forked child, keeps apart two
 * processes that have one PID in different PID namespaces; N counts the
 * process's spares. 0 or -ENAMETOOLONG. */
int nvlog_spare_name(char *buf, size_t n, const char *suffix);

/* Makes room for records totalling `bytes` (use nvlog_record_span) beyond
 * the tail, growing the file. Returns 0, -ENOSPC or another negative errno;
 * nothing changes on failure. */
int nvlog_reserve(struct nvlog *log, uint64_t bytes);

/* Takes the next record place of data_len bytes; room must be reserved. */
struct nvlog_rec nvlog_alloc(struct nvlog *log, uint64_t data_len);

static inline char *nvlog_data(struct nvlog *log, uint64_t rec_off)
{
    return log->map.base + rec_off + sizeof(struct nvlog_record);
}

/* Writes and flushes a record header, data_checksum being the CRC-32C of
 * its data; not fenced. A redo record's data may change until its epoch
 * commits: nvlog_seal_redo_data gives it its final checksum then. */
void nvlog_seal(struct nvlog *log, struct nvlog_rec rec, int kind, uint64_t epoch,
                uint64_t file_offset, uint64_t data_len, uint32_t data_checksum);

/* Seals the data checksum of every redo record written since the last
 * commit, headers flushed, not fenced: the commit's drain covers them. The
 * index's entries give the checksums they know (nvidx_entry.data_known);
 * the others are computed from the records. */
void nvlog_seal_redo_data(struct nvlog *log, struct nvidx *index);

/* Commits a new state durably; the state counts every record written so far
 * in the generation. With `reset`, every record becomes dead and the next
 * one goes to the start of the log (a new generation). The caller has
 * drained the records and data the state depends on. Returns 0 or a
 * negative errno. */
int nvlog_commit(struct nvlog *log, uint64_t committed_epoch, uint64_t applied_epoch,
                 uint64_t committed_size, bool reset);

/* Calls visit for every counting record from offset `from` (whose index is
 * from_index) up to `limit`, in log order, stopping at the first record that
 * does not count (its header fails its checks, or its block or length is
 * out of bounds). Stores where the walk ended. A non-zero return of visit
 * stops the walk and is returned. */
typedef int (*nvlog_visit_fn)(void *arg, const struct nvlog_record *r, const char *data);
int nvlog_walk(struct nvlog *log, uint64_t from, uint64_t from_index, uint64_t limit,
               nvlog_visit_fn visit, void *arg, struct nvlog_rec *end);

/* Where a log stands in the memory of the process appending to it: what
 * another process appending to the same log file must take over (the file
 * and its mapping are each process's own). */
struct nvlog_cursor {
    uint64_t size, tail, next_index, live_from, live_from_index, open_from, open_index;
    struct nvlog_slot state;
};
void nvlog_cursor_get(const struct nvlog *log, struct nvlog_cursor *c);
/* Takes the cursor over, mapping what the log file grew by. 0 or a
 * negative errno. */
int nvlog_cursor_set(struct nvlog *log, const struct nvlog_cursor *c);

/* Bytes of records between live_from and the tail. */
static inline uint64_t nvlog_used(const struct nvlog *log)
{
    return log->attached ? log->tail - NVLOG_HEADER_SIZE : 0;
}

#endif
