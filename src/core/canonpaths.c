/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * canonpaths.c - the canonical paths of the managed files opened lately
 * (see canonpaths.h): a small table, the oldest entry replaced first. Fixed
 * buffers, no allocation: an open may come from a signal handler.
 */
#include "core/canonpaths.h"

#include <pthread.h>
#include <string.h>

#include "os/critical.h"

#define CANON_ENTRIES  8
#define CANON_PATH_MAX 256 /* longer paths are read back each time */

static char paths[CANON_ENTRIES][CANON_PATH_MAX]; /* "" when free */
static unsigned next_entry;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int find(const char *path)
{
    for (int i = 0; i < CANON_ENTRIES; i++)
        if (paths[i][0] && strcmp(paths[i], path) == 0)
            return i;
    return -1;
}

bool nvcanon_known(const char *path)
{
    nv_mutex_lock(&lock);
    bool known = find(path) >= 0;
    nv_mutex_unlock(&lock);
    return known;
}

void nvcanon_note(const char *canon)
{
    size_t len = strlen(canon);
    if (len >= CANON_PATH_MAX)
        return;
    nv_mutex_lock(&lock);
    if (find(canon) < 0) {
        memcpy(paths[next_entry], canon, len + 1);
        next_entry = (next_entry + 1) % CANON_ENTRIES;
    }
    nv_mutex_unlock(&lock);
}

void nvcanon_before_fork(void)
{
    nv_mutex_lock(&lock);
}

void nvcanon_after_fork(void)
{
    nv_mutex_unlock(&lock);
}
