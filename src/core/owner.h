/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * owner.h - which process serves a managed file. One process at a time maps
 * a file with its log; the owner holds an OFD lock on one byte of the lock
 * file `owners.UID` in the log directory, UID being the data file's owner,
 * or of one of its shards `owners.UID.K` (see owner.c), at an offset and
 * in a shard drawn from the file's identity. The kernel drops the lock
 * when the holder dies, however it dies, so a crashed owner never blocks
 * recovery. The lock lives outside the data file so the program's own
 * record locks and flock never meet it. Each user has a lock file of its
 * own (mode 0600; root makes it for others and gives it to them): nobody
 * can hold the locks of another user's files.
 */
#ifndef NVMMIO_CORE_OWNER_H
#define NVMMIO_CORE_OWNER_H

#include <errno.h>
#include <stdbool.h>
#include <sys/types.h>

#define NVOWNER_LOCK_FILE_PREFIX "owners."

struct nvowner {
    int fd; /* the lock file, shared by every file of the directory; -1: none */
    off_t byte;
    bool exclusive; /* this process holds the byte's lock as F_WRLCK */
};

/* The log directory cannot be made, or the lock file made in it, by this
 * process (its user may not write there): the kernel serves the file. */
#define NVOWNER_NO_LOG_DIR (-EROFS)

/* Takes ownership of (dev, ino), owned by uid, whose logs live in log_dir:
 * exclusive for a writer, shared for a reader. 0, -EBUSY when another
 * process owns it, -EACCES when the directory or lock file may not be
 * trusted (reported on stderr), or another negative errno. A reader that
 * cannot create the lock file gets 0 without a lock (it cannot change the
 * file either). */
int nvowner_acquire(const char *log_dir, uid_t uid, dev_t dev, ino_t ino, bool exclusive,
                    struct nvowner *o);

void nvowner_release(struct nvowner *o);

/* Serving the file (dev, ino): its ownership lock, exclusively when no
 * other process serves it (*first: this process recovers and makes it
 * ready, then calls nvowner_share), else shared with the processes that
 * do; waits while a first process makes the file ready. A process that
 * may not write the file goes without the lock when it cannot have it.
 * 0 or a negative errno. */
int nvowner_serve(const char *log_dir, uid_t uid, dev_t dev, ino_t ino, bool writable,
                  struct nvowner *o, bool *first);

/* The file is ready: other processes may serve it too. */
void nvowner_share(struct nvowner *o);

/* Whether no other process serves the file; if so, this one holds the lock
 * exclusively from now on (and the next asks make no call: nobody can join
 * while it does). */
bool nvowner_alone(struct nvowner *o);

/* For a process that found others serving the file at its close: lets its
 * share of the lock go, then takes the lock exclusively if no process
 * serves the file any more (true: it is the last one out after all, and
 * holds the lock until nvowner_release). */
bool nvowner_last_out(struct nvowner *o);

/* Whether a process owns (dev, ino), changing nothing (the lock file is not
 * made when missing): 1 held, 0 free, or a negative errno. *pid is the
 * holder when the kernel tells it, else -1 (always -1 for OFD locks). */
int nvowner_probe(const char *log_dir, uid_t uid, dev_t dev, ino_t ino, pid_t *pid);

/* Marks: a process that holds slot `slot` (below NVOWNER_MARKS) of a
 * table in the share block of the file o serves marks it with an OFD lock
 * on a byte of the lock file drawn from the file's identity and the slot.
 * The kernel drops the mark when the process dies or execs, so others can
 * tell a live holder from a dead one (a zombie included) without its PID,
 * which means nothing in another PID namespace. nvowner_mark: 0, -EBUSY
 * when another process holds the mark, -EBADF without a lock file, or
 * another negative errno. nvowner_marked: 1 when another process holds
 * the mark, 0 when none does (this process's own marks do not count), or
 * a negative errno. */
#define NVOWNER_MARKS 32
int nvowner_mark(struct nvowner *o, int slot);
void nvowner_unmark(struct nvowner *o, int slot);
int nvowner_marked(struct nvowner *o, int slot);

/* In a forked child: the lock files are shared with the parent (OFD locks
 * belong to the open file), so the child closes its copies and opens its
 * own when it needs them. */
void nvowner_after_fork_child(void);

#endif
