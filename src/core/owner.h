/*
 * owner.h - which process serves a managed file. One process at a time maps
 * a file with its log; the owner holds an OFD lock on one byte of the lock
 * file `owners` in the log directory, at an offset drawn from the file's
 * identity. The kernel drops the lock when the holder dies, however it dies,
 * so a crashed owner never blocks recovery. The lock lives outside the data
 * file so the program's own record locks and flock never meet it.
 */
#ifndef NVMMIO_CORE_OWNER_H
#define NVMMIO_CORE_OWNER_H

#include <stdbool.h>
#include <sys/types.h>

struct nvowner {
    int fd; /* the lock file, shared by every file of the directory; -1: none */
    off_t byte;
};

/* Takes ownership of (dev, ino) whose logs live in log_dir: exclusive for a
 * writer, shared for a reader. 0, -EBUSY when another process owns it, or
 * another negative errno. A reader that cannot create the lock file gets 0
 * without a lock (it cannot change the file either). */
int nvowner_acquire(const char *log_dir, dev_t dev, ino_t ino, bool exclusive, struct nvowner *o);

void nvowner_release(struct nvowner *o);

/* In a forked child: the lock files are shared with the parent (OFD locks
 * belong to the open file), so the child closes its copies and opens its
 * own when it needs them. */
void nvowner_after_fork_child(void);

#endif
