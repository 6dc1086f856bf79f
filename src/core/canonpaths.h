/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * canonpaths.h - the canonical paths of the files opened lately. Whether
 * the library manages a file, and where its log lives, follows from the
 * file's canonical path, which the kernel gives back through /proc (a
 * readlink that costs about as much as the open itself). Programs open the
 * same file by the same path again and again (SQLite its journal twice a
 * transaction in the TRUNCATE and PERSIST modes): a path that was a file's
 * canonical path at an earlier open, and that leads to the same inode now,
 * is taken for its canonical path again.
 */
#ifndef NVMMIO_CORE_CANONPATHS_H
#define NVMMIO_CORE_CANONPATHS_H

#include <stdbool.h>
#include <sys/types.h>

/* Whether path was the canonical path of the file (dev, ino) at an open of
 * it noted with nvcanon_note. */
bool nvcanon_known(dev_t dev, ino_t ino, const char *path);

/* Notes canon as the canonical path of the file (dev, ino); the last few
 * are kept, short paths only. */
void nvcanon_note(dev_t dev, ino_t ino, const char *canon);

/* Around fork: the child must not find the table locked. */
void nvcanon_before_fork(void);
void nvcanon_after_fork(void);

#endif
