/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * recordlocks.c - descriptors kept open while the program holds record
 * locks on their file (see recordlocks.h): a small array under a mutex,
 * skipped by an atomic count while it is empty.
 */
#include "core/recordlocks.h"

#include <pthread.h>
#include <stdlib.h>

#include "os/critical.h"
#include "os/keptfds.h"
#include "os/sys.h"

struct waiting {
    int fd;
    bool kept;
    dev_t dev;
    ino_t ino;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct waiting *list;
static size_t count, cap;
static size_t live; /* count, read without the lock */

static void close_one(const struct waiting *w)
{
    if (w->kept)
        kept_close(w->fd);
    else
        sys_close(w->fd);
}

void nvrlocks_close_later(int fd, dev_t dev, ino_t ino, bool kept)
{
    if (fd < 0)
        return;
    struct waiting w = {fd, kept, dev, ino};
    nv_mutex_lock(&lock);
    if (count == cap) {
        size_t n = cap ? 2 * cap : 8;
        struct waiting *grown = realloc(list, n * sizeof(*list));
        if (!grown) {
            /* Out of memory: the locks go, as they would have anyway. */
            nv_mutex_unlock(&lock);
            close_one(&w);
            return;
        }
        list = grown;
        cap = n;
    }
    list[count++] = w;
    __atomic_store_n(&live, count, __ATOMIC_RELEASE);
    nv_mutex_unlock(&lock);
}

bool nvrlocks_waiting(void)
{
    return __atomic_load_n(&live, __ATOMIC_ACQUIRE) != 0;
}

/* Lock held. The first entry of (dev, ino) from i on, or count. */
static size_t next_of(size_t i, dev_t dev, ino_t ino)
{
    while (i < count && (list[i].dev != dev || list[i].ino != ino))
        i++;
    return i;
}

bool nvrlocks_waiting_for(dev_t dev, ino_t ino)
{
    if (!nvrlocks_waiting())
        return false;
    nv_mutex_lock(&lock);
    bool found = next_of(0, dev, ino) < count;
    nv_mutex_unlock(&lock);
    return found;
}

void nvrlocks_gone(dev_t dev, ino_t ino)
{
    if (!nvrlocks_waiting())
        return;
    nv_mutex_lock(&lock);
    /* The last entry takes each closed one's place, and is looked at next. */
    for (size_t i = next_of(0, dev, ino); i < count; i = next_of(i, dev, ino)) {
        close_one(&list[i]);
        list[i] = list[--count];
    }
    __atomic_store_n(&live, count, __ATOMIC_RELEASE);
    nv_mutex_unlock(&lock);
}

void nvrlocks_after_fork_child(void)
{
    /* The child's copies: closing them drops nothing of the parent's. */
    for (size_t i = 0; i < count; i++)
        close_one(&list[i]);
    count = 0;
    __atomic_store_n(&live, 0, __ATOMIC_RELEASE);
    pthread_mutex_init(&lock, NULL);
}
