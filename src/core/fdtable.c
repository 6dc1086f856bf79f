/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fdtable.c - descriptor table (see fdtable.h).
 *
 * The table is an array of description pointers indexed by descriptor,
 * replaced by a larger copy when a descriptor does not fit; old arrays are
 * kept (readers may still hold them; they add up to less than the current
 * one). Descriptions are never returned to malloc: freed ones are recycled,
 * so a reader that loaded a pointer just before a close can still touch it.
 * A reader counts itself in `calls` and then checks that the descriptor
 * still refers to the description; a closer waits for `calls` to drain
 * before recycling.
 */
#include "core/fdtable.h"
#include "os/sys.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

struct table {
    size_t cap;
    struct table *older; /* kept for readers that may still hold it */
    struct nvofd *slot[];
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct table *current;
static struct nvofd *free_list;

static struct table *load_table(void)
{
    return __atomic_load_n(&current, __ATOMIC_ACQUIRE);
}

static struct nvofd *load_slot(struct table *t, int fd)
{
    if (!t || fd < 0 || (size_t)fd >= t->cap)
        return NULL;
    return __atomic_load_n(&t->slot[fd], __ATOMIC_ACQUIRE);
}

struct nvofd *nvofd_new(struct nvfile *f, int flags)
{
    nv_mutex_lock(&table_lock);
    struct nvofd *o = free_list;
    if (o)
        free_list = o->free_next;
    nv_mutex_unlock(&table_lock);
    if (!o) {
        o = calloc(1, sizeof(*o));
        if (!o)
            return NULL;
        pthread_mutex_init(&o->pos_lock, NULL);
    }
    o->file = f;
    o->pos = 0;
    o->kernel_fd = -1;
    o->to_kernel = false;
    o->flags = flags;
    o->fds = 0;
    o->free_next = NULL;
    return o;
}

/* Table lock held. Grows the table to hold fd; 0 or -1 without memory. */
static int fit(int fd)
{
    struct table *t = current;
    if (t && (size_t)fd < t->cap)
        return 0;
    size_t cap = t ? t->cap : 256;
    while (cap <= (size_t)fd)
        cap *= 2;
    struct table *n = calloc(1, sizeof(*n) + cap * sizeof(n->slot[0]));
    if (!n)
        return -1;
    n->cap = cap;
    n->older = t;
    if (t)
        memcpy(n->slot, t->slot, t->cap * sizeof(t->slot[0]));
    __atomic_store_n(&current, n, __ATOMIC_RELEASE);
    return 0;
}

struct nvofd *nvfd_install(int fd, struct nvofd *o)
{
    nv_mutex_lock(&table_lock);
    struct nvofd *old = NULL;
    if (fit(fd) == 0) {
        old = current->slot[fd];
        __atomic_store_n(&current->slot[fd], o, __ATOMIC_RELEASE);
        o->fds++;
        if (old && --old->fds > 0)
            old = NULL;
    }
    nv_mutex_unlock(&table_lock);
    return old;
}

struct nvofd *nvfd_begin(int fd)
{
    for (;;) {
        struct nvofd *o = load_slot(load_table(), fd);
        if (!o)
            return NULL;
        /* Inside before counted: a handler that closed fd between the two
         * would wait for this call forever. */
        nv_critical_enter();
        __atomic_add_fetch(&o->calls, 1, __ATOMIC_ACQ_REL);
        if (load_slot(load_table(), fd) == o)
            return o;
        nvofd_end(o);
    }
}

struct nvofd *nvfd_remove(int fd)
{
    nv_mutex_lock(&table_lock);
    struct nvofd *o = load_slot(current, fd);
    if (o) {
        __atomic_store_n(&current->slot[fd], NULL, __ATOMIC_RELEASE);
        /* The kernel's position is read through another descriptor of
         * the description from now on; without one, the description's
         * calls in flight are the last (a descriptor handed to the kernel
         * stays open: they read its position). */
        if (__atomic_load_n(&o->kernel_fd, __ATOMIC_RELAXED) == fd) {
            for (size_t i = 0; i < current->cap; i++)
                if (current->slot[i] == o) {
                    __atomic_store_n(&o->kernel_fd, (int)i, __ATOMIC_RELAXED);
                    break;
                }
        }
        if (--o->fds > 0)
            o = NULL;
    }
    nv_mutex_unlock(&table_lock);
    return o;
}

static struct nvofd *held; /* by the fork's prepare handler */

void nvfd_hold_positions(void)
{
    nv_mutex_lock(&table_lock);
    struct table *t = current;
    nv_mutex_unlock(&table_lock);
    /* The slots as they were: a description closed meanwhile stays on the
     * list (its object is recycled, never freed) until it is given back. */
    for (size_t fd = 0; t && fd < t->cap; fd++) {
        struct nvofd *o = load_slot(t, (int)fd);
        if (!o || o->held_next) /* none, or held through another slot */
            continue;
        pthread_mutex_lock(&o->pos_lock);
        o->held_next = held ? held : o; /* the last points to itself */
        held = o;
    }
}

void nvfd_release_positions(void)
{
    while (held) {
        struct nvofd *o = held;
        held = o->held_next == o ? NULL : o->held_next;
        o->held_next = NULL;
        pthread_mutex_unlock(&o->pos_lock);
    }
}

void nvofd_share_position(struct nvofd *o, int fd)
{
    pthread_mutex_lock(&o->pos_lock);
    if (__atomic_load_n(&o->kernel_fd, __ATOMIC_RELAXED) < 0) {
        sys_lseek(fd, (off_t)o->pos, SEEK_SET);
        __atomic_store_n(&o->kernel_fd, fd, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&o->pos_lock);
}

void nvofd_pos_lock(struct nvofd *o)
{
    pthread_mutex_lock(&o->pos_lock);
    int kfd = __atomic_load_n(&o->kernel_fd, __ATOMIC_RELAXED);
    long pos = kfd >= 0 ? sys_lseek(kfd, 0, SEEK_CUR) : -1;
    if (pos >= 0)
        o->pos = (uint64_t)pos;
    o->pos_taken = o->pos;
}

void nvofd_pos_unlock(struct nvofd *o)
{
    int kfd = __atomic_load_n(&o->kernel_fd, __ATOMIC_RELAXED);
    if (kfd >= 0 && o->pos != o->pos_taken)
        sys_lseek(kfd, (off_t)o->pos, SEEK_SET);
    pthread_mutex_unlock(&o->pos_lock);
}

/* Whether the kernel keeps o's position: read once more under pos_lock,
 * since a fork or a descriptor sent may hand it over meanwhile. Asked
 * first without the lock, so a description no other process shares takes
 * pos_lock once per call, as before (nvofd_pos_lock). */
static bool kernel_keeps_pos(const struct nvofd *o)
{
    return __atomic_load_n(&o->kernel_fd, __ATOMIC_RELAXED) >= 0;
}

int nvofd_pos_claim(struct nvofd *o, size_t n, uint64_t *from)
{
    if (!kernel_keeps_pos(o))
        return -1;
    pthread_mutex_lock(&o->pos_lock);
    int kfd = __atomic_load_n(&o->kernel_fd, __ATOMIC_RELAXED);
    long end = kfd >= 0 && n <= INT64_MAX ? sys_lseek(kfd, (off_t)n, SEEK_CUR) : -1;
    if (end < 0) {
        pthread_mutex_unlock(&o->pos_lock);
        return -1;
    }
    *from = (uint64_t)end - n;
    o->pos = (uint64_t)end;
    return kfd;
}

bool nvofd_pos_move(struct nvofd *o, off_t by, off_t *r)
{
    if (!kernel_keeps_pos(o))
        return false;
    pthread_mutex_lock(&o->pos_lock);
    int kfd = __atomic_load_n(&o->kernel_fd, __ATOMIC_RELAXED);
    if (kfd >= 0) {
        *r = sys_lseek(kfd, by, SEEK_CUR);
        if (*r >= 0)
            o->pos = (uint64_t)*r;
    }
    pthread_mutex_unlock(&o->pos_lock);
    return kfd >= 0;
}

void nvofd_pos_unclaim(struct nvofd *o, size_t unused)
{
    int kfd = __atomic_load_n(&o->kernel_fd, __ATOMIC_RELAXED);
    if (unused > 0) {
        long pos = sys_lseek(kfd, -(off_t)unused, SEEK_CUR);
        if (pos >= 0)
            o->pos = (uint64_t)pos;
    }
    pthread_mutex_unlock(&o->pos_lock);
}

struct nvfile *nvofd_free(struct nvofd *o)
{
    while (__atomic_load_n(&o->calls, __ATOMIC_ACQUIRE) > 0)
        sched_yield();
    struct nvfile *f = o->file;
    o->file = NULL;
    nv_mutex_lock(&table_lock);
    o->free_next = free_list;
    free_list = o;
    nv_mutex_unlock(&table_lock);
    return f;
}

void nvfd_for_each(void (*fn)(int fd, struct nvofd *o))
{
    nv_mutex_lock(&table_lock);
    for (size_t fd = 0; current && fd < current->cap; fd++)
        if (current->slot[fd])
            fn((int)fd, current->slot[fd]);
    nv_mutex_unlock(&table_lock);
}

void nvfd_forget_all(void)
{
    pthread_mutex_init(&table_lock, NULL);
    /* Each description once (dup'ed ones stand in several slots), then the
     * recycled ones: the child has no use for any of them. */
    struct nvofd *gone = free_list;
    free_list = NULL;
    for (size_t fd = 0; current && fd < current->cap; fd++) {
        struct nvofd *o = current->slot[fd];
        current->slot[fd] = NULL;
        if (o && o->file) {
            o->file = NULL;
            o->free_next = gone;
            gone = o;
        }
    }
    while (gone) {
        struct nvofd *next = gone->free_next;
        pthread_mutex_destroy(&gone->pos_lock);
        free(gone);
        gone = next;
    }
}

int nvfd_limit(void)
{
    struct table *t = load_table();
    return t ? (int)t->cap : 0;
}

int nvfd_is_managed(int fd)
{
    return load_slot(load_table(), fd) != NULL;
}
