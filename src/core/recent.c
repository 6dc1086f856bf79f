/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * recent.c - the mappings of files closed a moment ago (see recent.h): a
 * few entries, oldest first, under one leaf lock.
 */
#include "core/recent.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "core/helper.h"
#include "os/critical.h"
#include "os/sys.h"

#define RECENT_MAX 4

struct recent {
    dev_t dev;
    ino_t ino;
    mode_t mode;
    uid_t uid;
    gid_t gid;
    struct pm_map map;
    unsigned reopens;
    uint64_t kept_at; /* CLOCK_MONOTONIC, ns */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct recent entries[RECENT_MAX];
static int count;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Entries taken out under the lock, freed once it is dropped: unmapping
 * may call out (the crash model's hooks), and must not do so with the lock
 * held. Room for every entry and one more. */
struct victims {
    struct recent e[RECENT_MAX + 1];
    int n;
};

static void free_victims(struct victims *v)
{
    for (int i = 0; i < v->n; i++)
        pm_unmap(&v->e[i].map);
    v->n = 0;
}

/* lock held. Takes entry i out (into v when given); the younger ones
 * move down. */
static void remove_at(int i, struct victims *v)
{
    if (v)
        v->e[v->n++] = entries[i];
    for (int j = i + 1; j < count; j++)
        entries[j - 1] = entries[j];
    count--;
}

/* lock held. Takes out the entries older than RECENT_KEEP_NS (every one
 * with all) into v; true when some remain. */
static bool expire_locked(bool all, uint64_t now, struct victims *v)
{
    while (count > 0 && (all || now - entries[0].kept_at >= (uint64_t)RECENT_KEEP_NS))
        remove_at(0, v);
    return count > 0;
}

/* lock held. The entry of (dev, ino), or -1. */
static int find(dev_t dev, ino_t ino)
{
    for (int i = 0; i < count; i++)
        if (entries[i].dev == dev && entries[i].ino == ino)
            return i;
    return -1;
}

bool nvrecent_keep(int fd, struct pm_map *m, unsigned reopens)
{
    struct stat st;
    /* An executable's mapping would hold it open for writing, and every
     * exec of it would fail with ETXTBSY (a script the program wrote and
     * runs next). */
    if (sys_fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink == 0 ||
        (st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
        return false;
    pm_map_idle(m);
    struct victims v = {.n = 0};
    nv_mutex_lock(&lock);
    uint64_t now = now_ns();
    bool was_empty = !expire_locked(false, now, &v);
    int same = find(st.st_dev, st.st_ino);
    if (same >= 0)
        remove_at(same, &v);
    if (count == RECENT_MAX)
        remove_at(0, &v);
    entries[count++] = (struct recent){.dev = st.st_dev,
                                       .ino = st.st_ino,
                                       .mode = st.st_mode,
                                       .uid = st.st_uid,
                                       .gid = st.st_gid,
                                       .map = *m,
                                       .reopens = reopens,
                                       .kept_at = now};
    nv_mutex_unlock(&lock);
    free_victims(&v);
    if (was_empty)
        nvhelper_expire_later(RECENT_KEEP_NS);
    return true;
}

bool nvrecent_take(const struct stat *st, struct pm_map *m, unsigned *reopens)
{
    struct victims v = {.n = 0};
    nv_mutex_lock(&lock);
    expire_locked(false, now_ns(), &v);
    int i = find(st->st_dev, st->st_ino);
    /* The kept mapping holds the inode: its number is this file's. A file
     * whose mode or owner changed since is mapped afresh, as an open now
     * would map it. */
    bool same = i >= 0 && entries[i].mode == st->st_mode && entries[i].uid == st->st_uid &&
                entries[i].gid == st->st_gid;
    if (same) {
        *m = entries[i].map;
        *reopens = entries[i].reopens;
    }
    if (i >= 0)
        remove_at(i, same ? NULL : &v);
    nv_mutex_unlock(&lock);
    free_victims(&v);
    return same;
}

bool nvrecent_any(void)
{
    return __atomic_load_n(&count, __ATOMIC_RELAXED) != 0;
}

void nvrecent_drop(dev_t dev, ino_t ino)
{
    struct victims v = {.n = 0};
    nv_mutex_lock(&lock);
    int i = find(dev, ino);
    if (i >= 0)
        remove_at(i, &v);
    nv_mutex_unlock(&lock);
    free_victims(&v);
}

bool nvrecent_expire(void)
{
    struct victims v = {.n = 0};
    nv_mutex_lock(&lock);
    bool left = expire_locked(false, now_ns(), &v);
    nv_mutex_unlock(&lock);
    free_victims(&v);
    return left;
}

void nvrecent_drop_all(void)
{
    struct victims v = {.n = 0};
    nv_mutex_lock(&lock);
    expire_locked(true, 0, &v);
    nv_mutex_unlock(&lock);
    free_victims(&v);
}

void nvrecent_before_fork(void)
{
    nvrecent_drop_all();
    nv_mutex_lock(&lock);
}

void nvrecent_after_fork(bool child)
{
    struct victims v = {.n = 0};
    if (child)
        expire_locked(true, 0, &v);
    nv_mutex_unlock(&lock);
    free_victims(&v);
}
