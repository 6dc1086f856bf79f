/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kernelfds.c - descriptors handed to the kernel (see kernelfds.h). A small
 * array under a mutex; callers skip it entirely while it is empty.
 */
#include "core/kernelfds.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "os/critical.h"

struct handed {
    int fd;
    dev_t dev;
    ino_t ino;
    /* Set while another process serves the file (see kernelfds.h). */
    char *path, *log_dir;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct handed *list;
static size_t count, cap;
static size_t live; /* atomic copy of count, read without the lock */

static void drop(struct handed *h)
{
    free(h->path);
    free(h->log_dir);
    h->path = h->log_dir = NULL;
}

static struct handed *put(int fd, dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < count; i++) {
        if (list[i].fd == fd) {
            drop(&list[i]);
            list[i].dev = dev;
            list[i].ino = ino;
            return &list[i];
        }
    }
    if (count == cap) {
        size_t n = cap ? 2 * cap : 16;
        struct handed *l = realloc(list, n * sizeof(*l));
        if (!l)
            return NULL; /* without memory the file may be managed again: as before */
        list = l;
        cap = n;
    }
    list[count++] = (struct handed){fd, dev, ino, NULL, NULL};
    __atomic_store_n(&live, count, __ATOMIC_RELEASE);
    return &list[count - 1];
}

/* Keeps where the file of h is served from; without memory it is simply
 * not recovered here. */
static void note_served(struct handed *h, const char *path, const char *log_dir)
{
    if (!h || !path)
        return;
    h->path = strdup(path);
    h->log_dir = strdup(log_dir);
    if (!h->path || !h->log_dir)
        drop(h);
}

void nvkfd_add(int fd, dev_t dev, ino_t ino)
{
    nv_mutex_lock(&lock);
    put(fd, dev, ino);
    nv_mutex_unlock(&lock);
}

void nvkfd_add_served_elsewhere(int fd, dev_t dev, ino_t ino, const char *path, const char *log_dir)
{
    nv_mutex_lock(&lock);
    note_served(put(fd, dev, ino), path, log_dir);
    nv_mutex_unlock(&lock);
}

static bool listed(const struct nvkfd_served *s, size_t n, dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < n; i++)
        if (s[i].dev == dev && s[i].ino == ino)
            return true;
    return false;
}

struct nvkfd_served *nvkfd_served_elsewhere(size_t *n)
{
    *n = 0;
    if (__atomic_load_n(&live, __ATOMIC_ACQUIRE) == 0)
        return NULL;
    nv_mutex_lock(&lock);
    struct nvkfd_served *s = calloc(count, sizeof(*s));
    for (size_t i = 0; s && i < count; i++) {
        struct handed *h = &list[i];
        if (!h->path || listed(s, *n, h->dev, h->ino))
            continue;
        s[*n] = (struct nvkfd_served){h->fd, h->dev, h->ino, strdup(h->path), strdup(h->log_dir)};
        if (s[*n].path && s[*n].log_dir) {
            ++*n;
        } else {
            free(s[*n].path);
            free(s[*n].log_dir);
        }
    }
    nv_mutex_unlock(&lock);
    return s;
}

void nvkfd_served_free(struct nvkfd_served *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].path);
        free(s[i].log_dir);
    }
    free(s);
}

void nvkfd_forget(int fd)
{
    if (__atomic_load_n(&live, __ATOMIC_ACQUIRE) == 0)
        return;
    nv_mutex_lock(&lock);
    for (size_t i = 0; i < count; i++) {
        if (list[i].fd == fd) {
            drop(&list[i]);
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
        if ((unsigned)list[i].fd >= first && (unsigned)list[i].fd <= last) {
            drop(&list[i]);
            list[i] = list[--count];
        } else
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
            struct handed old = list[i]; /* put may move the array */
            note_served(put(newfd, old.dev, old.ino), old.path, old.log_dir);
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

void nvkfd_before_fork(void)
{
    nv_mutex_lock(&lock);
}

void nvkfd_after_fork(void)
{
    nv_mutex_unlock(&lock);
}
