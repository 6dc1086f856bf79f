/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * recordlocks.h - descriptors the library must not close yet. The kernel
 * drops every record lock (fcntl F_SETLK/F_SETLKW, lockf) that a process
 * holds on a file as soon as the process closes any descriptor of that
 * file, its own or not. So while the program may hold such locks on a
 * managed file (nvfile's record_locks), a descriptor of the library's that
 * it no longer needs (the file handed to the kernel after a fork, a change
 * of user or a file size limit) is kept open here, and closed once the
 * locks are gone: the program closed a descriptor of the file, or unlocked
 * it whole.
 */
#ifndef NVMMIO_CORE_RECORDLOCKS_H
#define NVMMIO_CORE_RECORDLOCKS_H

#include <stdbool.h>
#include <sys/types.h>

/* Keeps fd, a descriptor of (dev, ino), open until nvrlocks_gone for that
 * file. kept: a kept descriptor (os/keptfds.h), closed with kept_close. */
void nvrlocks_close_later(int fd, dev_t dev, ino_t ino, bool kept);

/* True when some descriptor waits: only then is a closed descriptor of
 * the program's worth a look at its file. */
bool nvrlocks_waiting(void);

/* True when a descriptor of (dev, ino) waits. */
bool nvrlocks_waiting_for(dev_t dev, ino_t ino);

/* The process holds no record lock on (dev, ino) any more: the descriptors
 * that waited for it are closed. */
void nvrlocks_gone(dev_t dev, ino_t ino);

/* In a forked child, which holds none of the parent's locks. */
void nvrlocks_after_fork_child(void);

#endif
