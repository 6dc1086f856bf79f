/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kernelfds.c - descriptors handed to the kernel (see kernelfds.h). A small
 * array under a mutex; callers skip it entirely while it is empty.
 */
#include "core/kernelfds.h"

#include <pthread.h>
#include <stdlib.h>

#include "os/critical.h"

struct handed {
    int fd;
    dev_t dev;
    ino_t ino;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct handed *list;
static size_t count, cap;
static size_t live; /* atomic copy of count, read without the lock */

static void put(int fd, dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < count; i++) {
        if (list[i].fd == fd) {
            list[i].dev = dev;
            list[i].ino = ino;
            return;
        }
    }
    if (count == cap) {
        size_t n = cap ? 2 * cap : 16;
        struct handed *l = realloc(list, n * sizeof(*l));
        if (!l)
            return; /* without memory the file may be managed again: as before */
        list = l;
        cap = n;
    }
    list[count++] = (struct handed){fd, dev, ino};
    __atomic_store_n(&live, count, __ATOMIC_RELEASE);
}

void nvkfd_add(int fd, dev_t dev, ino_t ino)
{
    nv_mutex_lock(&lock);
    put(fd, dev, ino);
    nv_mutex_unlock(&lock);
}

void nvkfd_forget(int fd)
{
    if (__atomic_load_n(&live, __ATOMIC_ACQUIRE) == 0)
        return;
    nv_mutex_lock(&lock);
    for (size_t i = 0; i < count; i++) {
        if (list[i].fd == fd) {
            list[i] = list[--count];
            break;
        }
    }
    __atomic_store_n(&live, count, __ATOMIC_RELEASE);
    nv_mutex_unlock(&lock);
}

void nvkfd_forget_range(unsigned first, unsigned last)
{
    if (__atomic_load_n(&live, __ATOMIC_ACQUIRE) == 0)
        return;
    nv_mutex_lock(&lock);
    for (size_t i = 0; i < count;) {
        if ((unsigned)list[i].fd >= first && (unsigned)list[i].fd <= last)
            list[i] = list[--count];
        else
            i++;
    }
    __atomic_store_n(&live, count, __ATOMIC_RELEASE);
    nv_mutex_unlock(&lock);
}

void nvkfd_dup(int oldfd, int newfd)
{
    if (__atomic_load_n(&live, __ATOMIC_ACQUIRE) == 0)
        return;
    nv_mutex_lock(&lock);
    for (size_t i = 0; i < count; i++) {
        if (list[i].fd == oldfd) {
            put(newfd, list[i].dev, list[i].ino);
            break;
        }
    }
    nv_mutex_unlock(&lock);
}

bool nvkfd_holds(dev_t dev, ino_t ino)
{
    if (__atomic_load_n(&live, __ATOMIC_ACQUIRE) == 0)
        return false;
    bool found = false;
    nv_mutex_lock(&lock);
    for (size_t i = 0; i < count && !found; i++)
        found = list[i].dev == dev && list[i].ino == ino;
    nv_mutex_unlock(&lock);
    return found;
}
