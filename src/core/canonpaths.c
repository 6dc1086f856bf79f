/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * canonpaths.c - the canonical paths of the files opened lately (see
 * canonpaths.h): a small table, the oldest entry replaced first. Fixed
 * buffers, no allocation: an open may come from a signal handler.
 */
#include "core/canonpaths.h"

#include <string.h>

#include "os/critical.h"

#define CANON_ENTRIES  8
#define CANON_PATH_MAX 256 /* longer paths are read back each time */

static struct {
    dev_t dev;
    ino_t ino;
    char path[CANON_PATH_MAX]; /* "" when free */
} entries[CANON_ENTRIES];
static unsigned next_entry;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

bool nvcanon_known(dev_t dev, ino_t ino, const char *path)
{
    bool known = false;
    nv_mutex_lock(&lock);
    for (unsigned i = 0; i < CANON_ENTRIES && !known; i++)
        known = entries[i].path[0] && entries[i].dev == dev && entries[i].ino == ino &&
                strcmp(entries[i].path, path) == 0;
    nv_mutex_unlock(&lock);
    return known;
}

void nvcanon_note(dev_t dev, ino_t ino, const char *canon)
{
    size_t len = strlen(canon);
    if (len >= CANON_PATH_MAX)
        return;
    nv_mutex_lock(&lock);
    unsigned slot = CANON_ENTRIES;
    for (unsigned i = 0; i < CANON_ENTRIES; i++)
        if (entries[i].path[0] && entries[i].dev == dev && entries[i].ino == ino)
            slot = i; /* one entry per file */
    if (slot == CANON_ENTRIES) {
        slot = next_entry;
        next_entry = (next_entry + 1) % CANON_ENTRIES;
    }
    entries[slot].dev = dev;
    entries[slot].ino = ino;
    memcpy(entries[slot].path, canon, len + 1);
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
