/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * filetable.h - the process's managed files by identity (device, inode), so
 * that two opens of one file, through any name or hard link, share one
 * object, one mapping and one log.
 */
#ifndef NVMMIO_CORE_FILETABLE_H
#define NVMMIO_CORE_FILETABLE_H

#include <stdbool.h>
#include <sys/types.h>

struct nvfile;

/* Both under the table lock (see nvfile.c, which creates and frees). */
void nvtable_lock(void);
void nvtable_unlock(void);
/* Table lock held: waits, the lock dropped meanwhile, until another thread
 * calls nvtable_wake (nvfile.c: an object of a file it waits for is gone
 * for good). */
void nvtable_wait(void);
void nvtable_wake(void);
struct nvfile *nvtable_find(dev_t dev, ino_t ino);
void nvtable_insert(struct nvfile *f);
void nvtable_remove(struct nvfile *f);

/* Calls fn for every file, table lock held. */
void nvtable_for_each(void (*fn)(struct nvfile *f, void *arg), void *arg);

/* Empties the table, calling fn for every file (forked child). */
void nvtable_clear(void (*fn)(struct nvfile *f));

/* The object of (dev, ino) with one more user (nvfile_release drops it),
 * or NULL when this process does not have the file open. */
struct nvfile *nvtable_pin(dev_t dev, ino_t ino);
/* Logical size of the file (dev, ino) when this process has it open. */
bool nvtable_logical_size(dev_t dev, ino_t ino, off_t *size);

/* True when some file is in the table (read without the lock). */
bool nvtable_serving(void);

#endif
