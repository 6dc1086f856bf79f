/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * recent.h - the library's mapping of a few files closed a moment ago,
 * kept for the next open of the same file in this process. Programs close
 * and open the same file over and over (SQLite opens its journal twice per
 * transaction in the TRUNCATE and PERSIST modes); each open would map the
 * file and each close unmap it, with its page tables. Only the mapping is
 * kept, no descriptor (a program at its descriptor limit gets back every
 * one it closes): the file is settled at its close as always, its log and
 * ownership go, and the next open reopens it, recovers, takes ownership
 * and reads the file's state as any open does.
 *
 * A kept mapping holds the inode: a file whose last link this process
 * removes is dropped at once (nvrecent_drop), and every entry goes after
 * RECENT_KEEP_NS (the helper thread sees to it), so a file another process
 * removes keeps its blocks that long at most.
 */
#ifndef NVMMIO_CORE_RECENT_H
#define NVMMIO_CORE_RECENT_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "pmem/persist.h"

#define RECENT_KEEP_NS 1000000000L

/* Keeps m, the mapping of a settled file of which fd is the library's
 * descriptor, for a later open: true when kept, and then it is the
 * module's, out of use (pm_map_idle) until taken. False when the file has
 * no link left: the caller unmaps it. `reopens`: how many times in a row
 * this process opened the file again a moment after closing it, serving
 * it alone (0 when others served it too), which the next open learns
 * (*reopens of nvrecent_take). */
bool nvrecent_keep(int fd, struct pm_map *m, unsigned reopens);

/* The kept mapping of the file the program opened, whose fstat is st; the
 * file must look as it did when kept (type, owner, mode). True when it is
 * the caller's now, still out of use: pm_map_resume or pm_unmap it; then
 * *reopens is what its keeper said. */
bool nvrecent_take(const struct stat *st, struct pm_map *m, unsigned *reopens);

/* True when some mapping is kept (read without the lock). */
bool nvrecent_any(void);

/* The file (dev, ino) lost its last link, or is leased: its entry goes. */
void nvrecent_drop(dev_t dev, ino_t ino);

/* Frees every entry. A kept mapping holds its file open for writing, so
 * an exec of it fails with ETXTBSY: before a fork, a spawn or an exec
 * (whose program may be a file just written and made executable). */
void nvrecent_drop_all(void);

/* Frees the entries kept longer than RECENT_KEEP_NS; true when some
 * remain (the helper thread comes back for them). */
bool nvrecent_expire(void);

/* Around a fork: every entry is freed first (nvrecent_drop_all), the lock
 * is held across it, and the child frees what was kept meanwhile (the
 * helper thread that would expire them is not its own). */
void nvrecent_before_fork(void);
void nvrecent_after_fork(bool child);

#endif
