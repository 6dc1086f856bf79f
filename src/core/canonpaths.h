/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * canonpaths.h - the canonical paths of the managed files opened lately.
 * Whether the library manages a file, and where its log lives, follows
 * from the file's canonical path, which the kernel gives back through /proc
 * (a readlink that costs about as much as the open itself). An open whose
 * kernel walk meets no symlink and no "." or ".." has its own path for the
 * canonical one, and the interposer opens that way (openat2 with
 * RESOLVE_NO_SYMLINKS) whenever it makes a file, or opens one by a path
 * noted here: programs open the same file by the same path again and again
 * (SQLite its journal twice a transaction in the TRUNCATE and PERSIST
 * modes).
 */
#ifndef NVMMIO_CORE_CANONPATHS_H
#define NVMMIO_CORE_CANONPATHS_H

#include <stdbool.h>

/* Whether path was the canonical path of a managed file opened lately. */
bool nvcanon_known(const char *path);

/* Notes canon, the canonical path of a managed file just opened; the last
 * few are kept, short ones only. */
void nvcanon_note(const char *canon);

/* Around fork: the child must not find the table locked. */
void nvcanon_before_fork(void);
void nvcanon_after_fork(void);

#endif
