/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * model.c - the crash model (see model.h), and the persistence table that
 * reports to it: built into the crash checker's copies of the library in
 * place of src/pmem/libpmem.c.
 *
 * State of a model: its core, the files it has seen mapped (each with its
 * persisted image) and per thread the lines flushed but not yet fenced; and
 * per process, the live mappings (address -> file) and a descriptor of each
 * file of the core, so sizes, holes and current bytes can be read whatever
 * the library does with its descriptors. Current bytes are read with
 * pread: the page cache the mappings show.
 *
 * A shared model (nvmodel_new_shared) keeps its core in memory shared with
 * the processes forked after it was made, allocated from an arena there:
 * every process's flushes and fences change the same images, and a crash
 * point in any process sees the lines every thread of every process has in
 * flight. A process that lacks a descriptor of a file another one added
 * opens it through that process's /proc/PID/fd.
 *
 * Only one thread runs library code while a hook runs (the checker's
 * workloads pass a baton between their threads, and between processes), so
 * a hook sees a quiet model; the mutex only keeps the tables consistent.
 */
#include "model.h"

#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "os/sys.h"
#include "pmem/persist.h"
#include "pmem/seam.h"

#define PAGE        4096u
#define MAX_THREADS 16
#define MAX_HOLDERS 4                 /* processes that may open a file for another */
#define ARENA_SIZE  ((size_t)4 << 30) /* a shared core's address space (reserved) */
#define CLASSES     40
#define EMPTY_KEY   UINT64_MAX
#define LINE        NVMODEL_LINE

/* A process that holds a descriptor of the file: others open it through
 * /proc/PID/fd/FD. */
struct holder {
    pid_t pid;
    int fd;
};

struct mfile {
    uint64_t dev, ino;
    bool gone; /* unlinked: nothing of it can persist any more */
    struct holder holders[MAX_HOLDERS];
    uint8_t *img;
    size_t len, cap; /* len: the kernel's size at the last look */
    uint64_t version;
};

struct mapping {
    const char *base;
    size_t reserved;
    uint32_t file;
};

struct fline {
    uint64_t key; /* file << 40 | line number */
    uint64_t seq;
    const void *site;
    uint8_t data[LINE];
};

struct ftab {
    struct fline *e;
    size_t cap, n;
};

struct sitemap {
    uint64_t *keys;
    const void **sites;
    size_t cap, n;
};

struct tslot {
    pid_t tid;
    struct ftab tab;
};

/* The memory of a shared core: blocks of 2^k bytes (a 16-byte head
 * holding k, then the payload), bumped from the arena and kept on a list
 * per size once freed. */
struct arena {
    size_t size, used;
    void *free_list[CLASSES];
};

/* What every process of a model shares. */
struct mcore {
    pthread_mutex_t lock; /* process-shared in a shared core */
    struct arena *arena;  /* NULL: the core is on the heap */
    struct mfile *files;
    size_t nfiles, capfiles;
    struct tslot threads[MAX_THREADS];
    int nthreads;
    struct sitemap last_flush; /* line -> the last flush's caller */
    uint64_t seq;
    struct nvmodel_stats stats;
};

/* A process's view of a model. */
struct nvmodel {
    struct mcore *c;
    nvmodel_hook hook;
    void *hook_arg;
    struct mapping *maps;
    size_t nmaps, capmaps;
    int *fds; /* this process's descriptor of each file of the core, or -1 */
    size_t nfds;
};

/* ---- memory of the core -------------------------------------------------- */

#define HEAD 16u

static unsigned class_of(size_t n)
{
    unsigned k = 6;
    while (k < CLASSES && ((size_t)1 << k) < n + HEAD)
        k++;
    return k;
}

static void *m_alloc(struct nvmodel *m, size_t n)
{
    struct arena *a = m->c->arena;
    if (!a)
        return malloc(n);
    unsigned k = class_of(n);
    if (k >= CLASSES)
        return NULL;
    char *b = a->free_list[k];
    if (b) {
        memcpy(&a->free_list[k], b + HEAD, sizeof(void *));
    } else {
        if (a->used + ((size_t)1 << k) > a->size)
            return NULL;
        b = (char *)a + a->used;
        a->used += (size_t)1 << k;
    }
    *(size_t *)b = k;
    return b + HEAD;
}

static void m_free(struct nvmodel *m, void *p)
{
    struct arena *a = m->c->arena;
    if (!a || !p) {
        free(p);
        return;
    }
    char *b = (char *)p - HEAD;
    size_t k = *(size_t *)b;
    memcpy(p, &a->free_list[k], sizeof(void *));
    a->free_list[k] = b;
}

static void *m_realloc(struct nvmodel *m, void *p, size_t n)
{
    if (!m->c->arena)
        return realloc(p, n);
    size_t room = p ? ((size_t)1 << *(size_t *)((char *)p - HEAD)) - HEAD : 0;
    if (p && n <= room)
        return p;
    void *q = m_alloc(m, n);
    if (q && p)
        memcpy(q, p, room);
    if (q)
        m_free(m, p);
    return q;
}

static struct nvmodel *active;

static struct nvmodel *current(void)
{
    return __atomic_load_n(&active, __ATOMIC_ACQUIRE);
}

struct nvmodel *nvmodel_activate(struct nvmodel *m)
{
    return __atomic_exchange_n(&active, m, __ATOMIC_ACQ_REL);
}

static __thread pid_t tid_cached;

/* A forked child's thread is another thread: its flushes are its own. */
static void forget_tid(void)
{
    tid_cached = 0;
}

static pid_t my_tid(void)
{
    if (!tid_cached)
        tid_cached = (pid_t)sys_call6(SYS_gettid, 0, 0, 0, 0, 0, 0);
    return tid_cached;
}

static uint64_t key_of(uint32_t file, uint64_t line)
{
    return (uint64_t)file << 40 | line;
}

static size_t hash_key(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k;
}

/* ---- tables ------------------------------------------------------------- */

static struct fline *ftab_find(struct ftab *t, uint64_t key)
{
    if (!t->cap)
        return NULL;
    for (size_t i = hash_key(key) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        if (t->e[i].key == key)
            return &t->e[i];
        if (t->e[i].key == EMPTY_KEY)
            return NULL;
    }
}

static struct fline *ftab_put(struct nvmodel *m, struct ftab *t, uint64_t key)
{
    if (2 * (t->n + 1) > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        struct fline *e = m_alloc(m, cap * sizeof(*e));
        if (!e)
            return NULL;
        for (size_t i = 0; i < cap; i++)
            e[i].key = EMPTY_KEY;
        struct ftab bigger = {e, cap, 0};
        for (size_t i = 0; i < t->cap; i++) {
            if (t->e[i].key == EMPTY_KEY)
                continue;
            struct fline *d = ftab_put(m, &bigger, t->e[i].key);
            *d = t->e[i];
        }
        m_free(m, t->e);
        *t = bigger;
    }
    size_t i = hash_key(key) & (t->cap - 1);
    while (t->e[i].key != EMPTY_KEY && t->e[i].key != key)
        i = (i + 1) & (t->cap - 1);
    if (t->e[i].key == EMPTY_KEY) {
        t->e[i].key = key;
        t->n++;
    }
    return &t->e[i];
}

static void ftab_clear(struct nvmodel *m, struct ftab *t)
{
    if (!t->n)
        return;
    if (t->cap > 4096) { /* give a big burst's memory back */
        m_free(m, t->e);
        memset(t, 0, sizeof(*t));
        return;
    }
    for (size_t i = 0; i < t->cap; i++)
        t->e[i].key = EMPTY_KEY;
    t->n = 0;
}

static void sitemap_put(struct nvmodel *m, struct sitemap *s, uint64_t key, const void *site)
{
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 1024;
        uint64_t *keys = m_alloc(m, cap * sizeof(*keys));
        const void **sites = m_alloc(m, cap * sizeof(*sites));
        if (!keys || !sites) {
            m_free(m, keys);
            m_free(m, (void *)sites);
            return;
        }
        for (size_t i = 0; i < cap; i++)
            keys[i] = EMPTY_KEY;
        for (size_t i = 0; i < s->cap; i++) {
            if (s->keys[i] == EMPTY_KEY)
                continue;
            size_t j = hash_key(s->keys[i]) & (cap - 1);
            while (keys[j] != EMPTY_KEY)
                j = (j + 1) & (cap - 1);
            keys[j] = s->keys[i];
            sites[j] = s->sites[i];
        }
        m_free(m, s->keys);
        m_free(m, (void *)s->sites);
        s->keys = keys;
        s->sites = sites;
        s->cap = cap;
    }
    size_t i = hash_key(key) & (s->cap - 1);
    while (s->keys[i] != EMPTY_KEY && s->keys[i] != key)
        i = (i + 1) & (s->cap - 1);
    if (s->keys[i] == EMPTY_KEY) {
        s->keys[i] = key;
        s->n++;
    }
    s->sites[i] = site;
}

static const void *sitemap_get(const struct sitemap *s, uint64_t key)
{
    if (!s->cap)
        return NULL;
    for (size_t i = hash_key(key) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (s->keys[i] == key)
            return s->sites[i];
        if (s->keys[i] == EMPTY_KEY)
            return NULL;
    }
}

/* ---- files -------------------------------------------------------------- */

static int file_reserve(struct nvmodel *m, struct mfile *f, size_t n)
{
    if (n <= f->cap)
        return 0;
    size_t cap = f->cap ? f->cap : 65536;
    while (cap < n)
        cap *= 2;
    uint8_t *img = m_realloc(m, f->img, cap);
    if (!img)
        return -ENOMEM;
    f->img = img;
    f->cap = cap;
    return 0;
}

/* The file is gone for every process: its image goes. */
static void file_drop(struct nvmodel *m, struct mfile *f)
{
    f->gone = true;
    m_free(m, f->img);
    f->img = NULL;
    f->len = f->cap = 0;
    f->version++;
}

static int open_held(const struct mfile *f)
{
    for (int h = 0; h < MAX_HOLDERS && f->holders[h].pid; h++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/fd/%d", f->holders[h].pid, f->holders[h].fd);
        int fd = sys_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
        struct stat st;
        if (fd >= 0 && sys_fstat(fd, &st) == 0 && (uint64_t)st.st_dev == f->dev &&
            (uint64_t)st.st_ino == f->ino)
            return fd;
        if (fd >= 0)
            sys_close(fd);
    }
    return -1;
}

/* Records that this process holds descriptor fd of f. */
static void hold(struct mfile *f, int fd)
{
    for (int h = 0; h < MAX_HOLDERS; h++) {
        if (!f->holders[h].pid || f->holders[h].pid == sys_getpid()) {
            f->holders[h] = (struct holder){sys_getpid(), fd};
            return;
        }
    }
}

/* This process's descriptor of file fi (opened from another process's when
 * that one added it), or -1 when the file is gone or cannot be reached. */
static bool fds_reserve(struct nvmodel *m, uint32_t fi)
{
    if (fi < m->nfds)
        return true;
    size_t n = m->nfds ? 2 * m->nfds : 8;
    while (n <= fi)
        n *= 2;
    int *p = realloc(m->fds, n * sizeof(*p));
    if (!p)
        return false;
    for (size_t i = m->nfds; i < n; i++)
        p[i] = -1;
    m->fds = p;
    m->nfds = n;
    return true;
}

static int file_fd(struct nvmodel *m, uint32_t fi)
{
    struct mfile *f = &m->c->files[fi];
    if (!fds_reserve(m, fi))
        return -1;
    if (f->gone && m->fds[fi] >= 0) {
        sys_close(m->fds[fi]);
        m->fds[fi] = -1;
    }
    if (f->gone || m->fds[fi] >= 0)
        return f->gone ? -1 : m->fds[fi];
    m->fds[fi] = open_held(f);
    if (m->fds[fi] >= 0)
        hold(f, m->fds[fi]);
    return m->fds[fi];
}

static bool range_zero(const uint8_t *p, size_t n)
{
    static const uint8_t zeros[PAGE];
    for (; n >= PAGE; p += PAGE, n -= PAGE)
        if (memcmp(p, zeros, PAGE))
            return false;
    return !n || !memcmp(p, zeros, n);
}

static void zero_img(struct mfile *f, size_t lo, size_t hi)
{
    if (hi > f->len)
        hi = f->len;
    if (lo >= hi || range_zero(f->img + lo, hi - lo))
        return;
    memset(f->img + lo, 0, hi - lo);
    f->version++;
}

/* Forgets the flushed lines of file fi at or after byte lo and before hi:
 * the kernel dropped those bytes (a hole punched, the file shrunk), so what
 * was flushed there will never persist into the file. */
static void forget_flushes(struct nvmodel *m, uint32_t fi, size_t lo, size_t hi)
{
    for (int t = 0; t < m->c->nthreads; t++) {
        struct ftab *tab = &m->c->threads[t].tab;
        if (!tab->n)
            continue;
        struct ftab keep = {0};
        bool dropped = false;
        for (size_t i = 0; i < tab->cap; i++) {
            struct fline *e = &tab->e[i];
            if (e->key == EMPTY_KEY)
                continue;
            size_t off = (size_t)(e->key & (((uint64_t)1 << 40) - 1)) * LINE;
            if ((uint32_t)(e->key >> 40) == fi && off + LINE > lo && off < hi) {
                if (off >= lo && off + LINE <= hi) {
                    dropped = true;
                    continue;
                }
                /* a line across the edge keeps only its bytes outside */
                size_t a = lo > off ? lo - off : 0, b = hi < off + LINE ? hi - off : LINE;
                memset(e->data + a, 0, b - a);
            }
            struct fline *d = ftab_put(m, &keep, e->key);
            if (d)
                *d = *e;
        }
        if (dropped) {
            m_free(m, tab->e);
            *tab = keep;
        } else {
            m_free(m, keep.e);
        }
    }
}

/* Holes in [lo, hi) read as zeros and were made by the kernel (truncation,
 * hole punching): durable zeros, whatever was flushed there before. */
static void zero_holes(struct nvmodel *m, uint32_t fi, size_t lo, size_t hi)
{
    struct mfile *f = &m->c->files[fi];
    int fd = file_fd(m, fi);
    if (hi > f->len)
        hi = f->len;
    lo &= ~(size_t)(PAGE - 1);
    while (fd >= 0 && lo < hi) {
        long d = sys_lseek(fd, (off_t)lo, SEEK_DATA);
        size_t end = d < 0 ? hi : (size_t)d < hi ? (size_t)d : hi;
        if ((d >= 0 || d == -ENXIO) && end > lo) {
            zero_img(f, lo, end);
            forget_flushes(m, fi, lo, end);
        }
        if (d < 0 || (size_t)d >= hi)
            return;
        long h = sys_lseek(fd, d, SEEK_HOLE);
        if (h < 0 || (size_t)h <= (size_t)d)
            return;
        lo = (size_t)h;
    }
}

/* Follows the kernel's size: a file that shrank lost its tail, one that grew
 * reads zeros there. Returns false when the file is gone. */
static bool file_sync(struct nvmodel *m, uint32_t fi)
{
    struct mfile *f = &m->c->files[fi];
    int fd = file_fd(m, fi);
    if (fd < 0)
        return false;
    struct stat st;
    if (sys_fstat(fd, &st) < 0 || st.st_nlink == 0) {
        file_drop(m, f);
        file_fd(m, fi);
        return false;
    }
    size_t n = (size_t)st.st_size;
    if (n > f->len) {
        if (file_reserve(m, f, n) < 0)
            return true;
        memset(f->img + f->len, 0, n - f->len);
        f->version++;
    } else if (n < f->len) {
        forget_flushes(m, fi, n, SIZE_MAX);
        f->version++;
    }
    f->len = n;
    return true;
}

static int file_find(struct nvmodel *m, uint64_t dev, uint64_t ino)
{
    for (size_t i = 0; i < m->c->nfiles; i++)
        if (!m->c->files[i].gone && m->c->files[i].dev == dev && m->c->files[i].ino == ino)
            return (int)i;
    return -1;
}

/* Reads n bytes at offset off into buf; short reads leave zeros. */
static void read_at(int fd, uint8_t *buf, size_t n, size_t off)
{
    size_t done = 0;
    while (done < n) {
        long got = sys_pread(fd, buf + done, n - done, (off_t)(off + done));
        if (got <= 0)
            break;
        done += (size_t)got;
    }
    memset(buf + done, 0, n - done);
}

static int file_add(struct nvmodel *m, int fd, const struct stat *st)
{
    if (m->c->nfiles == m->c->capfiles) {
        size_t cap = m->c->capfiles ? 2 * m->c->capfiles : 8;
        struct mfile *f = m_realloc(m, m->c->files, cap * sizeof(*f));
        if (!f)
            return -1;
        m->c->files = f;
        m->c->capfiles = cap;
    }
    struct mfile *f = &m->c->files[m->c->nfiles];
    memset(f, 0, sizeof(*f));
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    int own = sys_fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0)
        return -1;
    /* What the file holds when first mapped came through the kernel:
     * persistent. */
    size_t n = (size_t)st->st_size;
    if (file_reserve(m, f, n ? n : 1) < 0) {
        sys_close(own);
        return -1;
    }
    read_at(own, f->img, n, 0);
    f->len = n;
    uint32_t fi = (uint32_t)m->c->nfiles;
    if (!fds_reserve(m, fi)) {
        sys_close(own);
        m_free(m, f->img);
        return -1;
    }
    m->fds[fi] = own;
    hold(f, own);
    m->c->nfiles++;
    return (int)fi;
}

static struct mapping *mapping_of(struct nvmodel *m, const void *base)
{
    for (size_t i = 0; i < m->nmaps; i++)
        if (m->maps[i].base == base)
            return &m->maps[i];
    return NULL;
}

/* The mapping that holds addr; *off gets addr's offset in it. */
static struct mapping *mapping_at(struct nvmodel *m, const void *addr, size_t *off)
{
    for (size_t i = 0; i < m->nmaps; i++) {
        struct mapping *mp = &m->maps[i];
        if ((const char *)addr >= mp->base && (const char *)addr < mp->base + mp->reserved) {
            *off = (size_t)((const char *)addr - mp->base);
            return mp;
        }
    }
    return NULL;
}

static struct ftab *my_tab(struct nvmodel *m, int *index)
{
    pid_t tid = my_tid();
    for (int i = 0; i < m->c->nthreads; i++) {
        if (m->c->threads[i].tid == tid) {
            if (index)
                *index = i;
            return &m->c->threads[i].tab;
        }
    }
    if (m->c->nthreads == MAX_THREADS)
        return NULL;
    struct tslot *t = &m->c->threads[m->c->nthreads];
    memset(t, 0, sizeof(*t));
    t->tid = tid;
    if (index)
        *index = m->c->nthreads;
    m->c->nthreads++;
    return &t->tab;
}

/* Moves the thread's flushed lines into the persisted images. */
static void fence_locked(struct nvmodel *m)
{
    struct ftab *t = my_tab(m, NULL);
    if (!t || !t->n)
        return;
    for (size_t i = 0; i < m->c->nfiles; i++)
        file_sync(m, (uint32_t)i);
    for (size_t i = 0; i < t->cap; i++) {
        struct fline *e = &t->e[i];
        if (e->key == EMPTY_KEY)
            continue;
        struct mfile *f = &m->c->files[e->key >> 40];
        size_t off = (size_t)(e->key & (((uint64_t)1 << 40) - 1)) * LINE;
        if (f->gone || off >= f->len)
            continue;
        size_t n = f->len - off < LINE ? f->len - off : LINE;
        if (memcmp(f->img + off, e->data, n)) {
            memcpy(f->img + off, e->data, n);
            f->version++;
        }
    }
    ftab_clear(m, t);
}

/* The call stack from persist.c's frame out: ret is the return address of
 * a table entry, into persist.c (which the checker builds without sibling
 * calls, so its frame is always there). Found by address, since a sanitizer
 * adds frames of its own below. Returns how many frames out got. */
static int stack_from(const void *ret, void **out, int max)
{
    void *frames[NVMODEL_FRAMES + 8];
    int n = backtrace(frames, NVMODEL_FRAMES + 8);
    for (int i = 0; i < n; i++) {
        if (frames[i] == ret) {
            int k = n - i < max ? n - i : max;
            memcpy(out, frames + i, (size_t)k * sizeof(*out));
            return k;
        }
    }
    return 0;
}

/* The code that called persist.c, from a table entry's return address. */
static const void *persist_caller(const void *ret)
{
    void *frames[2];
    return stack_from(ret, frames, 2) == 2 ? frames[1] : NULL;
}

static void emit(struct nvmodel *m, int event, const void *ret)
{
    if (!m->hook)
        return;
    struct nvmodel_point p = {.event = event};
    p.nframes = stack_from(ret, p.frames, NVMODEL_FRAMES);
    struct nvmodel *was = nvmodel_activate(NULL);
    m->hook(m->hook_arg, &p);
    nvmodel_activate(was);
}

/* ---- the persistence table ---------------------------------------------- */

static void model_on_map(const struct pm_map *pm, int fd)
{
    struct nvmodel *m = current();
    struct stat st;
    if (!m || sys_fstat(fd, &st) < 0)
        return;
    pthread_mutex_lock(&m->c->lock);
    int i = file_find(m, st.st_dev, st.st_ino);
    if (i >= 0)
        file_sync(m, (uint32_t)i);
    else
        i = file_add(m, fd, &st);
    if (i >= 0 && m->nmaps == m->capmaps) {
        size_t cap = m->capmaps ? 2 * m->capmaps : 8;
        struct mapping *p = realloc(m->maps, cap * sizeof(*p));
        if (p) {
            m->maps = p;
            m->capmaps = cap;
        }
    }
    if (i >= 0 && m->nmaps < m->capmaps)
        m->maps[m->nmaps++] = (struct mapping){pm->base, pm->reserved, (uint32_t)i};
    pthread_mutex_unlock(&m->c->lock);
}

static void model_on_unmap(const struct pm_map *pm)
{
    struct nvmodel *m = current();
    if (!m)
        return;
    pthread_mutex_lock(&m->c->lock);
    struct mapping *mp = mapping_of(m, pm->base);
    bool known = mp != NULL;
    if (mp)
        *mp = m->maps[--m->nmaps];
    if (known)
        m->c->stats.unmaps++;
    pthread_mutex_unlock(&m->c->lock);
    if (known)
        emit(m, NVMODEL_UNMAP, __builtin_return_address(0));
}

/* Before stores into [off, off+n) of mapping mp: holes the kernel punched
 * there are zeros in the persisted image (a later store must not resurrect
 * older bytes). Call with the lock held. */
static void store_locked(struct nvmodel *m, struct mapping *mp, size_t off, size_t n)
{
    if (mp && file_sync(m, mp->file))
        zero_holes(m, mp->file, off, (off + n + PAGE - 1) & ~(size_t)(PAGE - 1));
}

static void model_before_store(const struct pm_map *pm, size_t off, size_t n)
{
    struct nvmodel *m = current();
    if (!m)
        return;
    pthread_mutex_lock(&m->c->lock);
    store_locked(m, mapping_of(m, pm->base), off, n);
    pthread_mutex_unlock(&m->c->lock);
}

/* Records the lines of [addr, addr+n) as the calling thread flushed them. */
static void flush_lines(struct nvmodel *m, const void *addr, size_t n, const void *site)
{
    if (n == 0)
        return;
    pthread_mutex_lock(&m->c->lock);
    size_t off;
    struct mapping *mp = mapping_at(m, addr, &off);
    struct ftab *t = my_tab(m, NULL);
    if (mp && t && file_sync(m, mp->file)) {
        struct mfile *f = &m->c->files[mp->file];
        m->c->stats.flushes++;
        for (size_t line = off / LINE; line * LINE < off + n; line++) {
            size_t at = line * LINE;
            if (at >= f->len)
                break;
            struct fline *e = ftab_put(m, t, key_of(mp->file, line));
            if (!e)
                break;
            size_t k = f->len - at < LINE ? f->len - at : LINE;
            memcpy(e->data, mp->base + at, k);
            memset(e->data + k, 0, LINE - k);
            e->seq = ++m->c->seq;
            e->site = site;
            sitemap_put(m, &m->c->last_flush, key_of(mp->file, line), site);
            m->c->stats.lines_flushed++;
        }
    }
    pthread_mutex_unlock(&m->c->lock);
}

/* Before a copy or fill: what store_locked says, for an address. */
static void before_store_at(struct nvmodel *m, const void *addr, size_t n)
{
    pthread_mutex_lock(&m->c->lock);
    size_t off;
    struct mapping *mp = mapping_at(m, addr, &off);
    store_locked(m, mp, off, n);
    pthread_mutex_unlock(&m->c->lock);
}

/* Copies and fills are plain stores, flushed at once, as libpmem's. */
static void *model_memcpy_nodrain(void *dst, const void *src, size_t n)
{
    struct nvmodel *m = current();
    if (m)
        before_store_at(m, dst, n);
    memcpy(dst, src, n);
    if (m)
        flush_lines(m, dst, n, persist_caller(__builtin_return_address(0)));
    return dst;
}

static void *model_memset_nodrain(void *dst, int c, size_t n)
{
    struct nvmodel *m = current();
    if (m)
        before_store_at(m, dst, n);
    memset(dst, c, n);
    if (m)
        flush_lines(m, dst, n, persist_caller(__builtin_return_address(0)));
    return dst;
}

/* The kernel's write makes flushing copies on pmem: as a copy through the
 * mapping, whose pages show what it wrote. */
static void model_wrote(const struct pm_map *pm, size_t off, size_t n)
{
    struct nvmodel *m = current();
    if (m)
        flush_lines(m, pm->base + off, n, persist_caller(__builtin_return_address(0)));
}

static void model_flush(const void *addr, size_t n)
{
    struct nvmodel *m = current();
    if (m)
        flush_lines(m, addr, n, persist_caller(__builtin_return_address(0)));
}

/* A fence orders every flush of the thread, whatever the mapping. */
static void model_drain(void)
{
    struct nvmodel *m = current();
    if (!m)
        return;
    emit(m, NVMODEL_FENCE, __builtin_return_address(0));
    pthread_mutex_lock(&m->c->lock);
    m->c->stats.fences++;
    fence_locked(m);
    pthread_mutex_unlock(&m->c->lock);
}

/* Every mapping is pmem to the model, so msync is never called. */
static int model_is_pmem(const void *addr, size_t n)
{
    (void)addr;
    (void)n;
    return 1;
}

int pm_table_load(struct pm_table *t, char *error, size_t size)
{
    (void)error;
    (void)size;
    *t = (struct pm_table){.memcpy_nodrain = model_memcpy_nodrain,
                           .memset_nodrain = model_memset_nodrain,
                           .flush = model_flush,
                           .drain = model_drain,
                           .is_pmem = model_is_pmem,
                           .on_map = model_on_map,
                           .on_unmap = model_on_unmap,
                           .before_store = model_before_store,
                           .wrote = model_wrote,
                           .one_thread = true};
    return 0;
}

/* ---- the checker's side ------------------------------------------------- */

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, forget_tid);
}

static struct nvmodel *model_new(struct mcore *c, nvmodel_hook hook, void *arg)
{
    pthread_once(&atfork_once, register_atfork);
    struct nvmodel *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->c = c;
    m->hook = hook;
    m->hook_arg = arg;
    return m;
}

struct nvmodel *nvmodel_new(nvmodel_hook hook, void *arg)
{
    struct mcore *c = calloc(1, sizeof(*c));
    struct nvmodel *m = c ? model_new(c, hook, arg) : NULL;
    if (!m) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    return m;
}

struct nvmodel *nvmodel_new_shared(nvmodel_hook hook, void *arg)
{
    void *p = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    struct arena *a = p;
    a->size = ARENA_SIZE;
    a->used = (sizeof(*a) + 63) & ~(size_t)63;
    struct mcore *c = (struct mcore *)((char *)p + a->used);
    a->used += (sizeof(*c) + 63) & ~(size_t)63;
    c->arena = a;
    struct nvmodel *m = model_new(c, hook, arg);
    if (!m) {
        munmap(p, ARENA_SIZE);
        return NULL;
    }
    pthread_mutexattr_t at;
    pthread_mutexattr_init(&at);
    pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&c->lock, &at);
    pthread_mutexattr_destroy(&at);
    return m;
}

void nvmodel_set_hook(struct nvmodel *m, nvmodel_hook hook, void *arg)
{
    m->hook = hook;
    m->hook_arg = arg;
}

void nvmodel_free(struct nvmodel *m)
{
    if (!m)
        return;
    if (current() == m)
        nvmodel_activate(NULL);
    for (size_t i = 0; i < m->nfds; i++)
        if (m->fds[i] >= 0)
            sys_close(m->fds[i]);
    free(m->fds);
    free(m->maps);
    struct mcore *c = m->c;
    free(m);
    if (c->arena) { /* everything of the core is in it */
        munmap(c->arena, ARENA_SIZE);
        return;
    }
    for (size_t i = 0; i < c->nfiles; i++)
        free(c->files[i].img);
    for (int i = 0; i < c->nthreads; i++)
        free(c->threads[i].tab.e);
    free(c->last_flush.keys);
    free(c->last_flush.sites);
    free(c->files);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void nvmodel_sync(struct nvmodel *m)
{
    pthread_mutex_lock(&m->c->lock);
    for (size_t i = 0; i < m->c->nfiles; i++)
        if (file_sync(m, (uint32_t)i))
            zero_holes(m, (uint32_t)i, 0, m->c->files[i].len);
    pthread_mutex_unlock(&m->c->lock);
}

void nvmodel_fence_thread(struct nvmodel *m)
{
    pthread_mutex_lock(&m->c->lock);
    fence_locked(m);
    pthread_mutex_unlock(&m->c->lock);
}

void nvmodel_get_stats(const struct nvmodel *m, struct nvmodel_stats *st)
{
    *st = m->c->stats;
}

static int unit_push(struct nvmodel_snapshot *s, size_t *cap, const struct nvmodel_unit *u)
{
    if (s->nunits == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        struct nvmodel_unit *p = realloc(s->units, c * sizeof(*p));
        if (!p)
            return -ENOMEM;
        s->units = p;
        *cap = c;
    }
    s->units[s->nunits++] = *u;
    return 0;
}

/* Does some thread hold line `key` flushed with exactly these bytes? */
static bool flushed_as(struct nvmodel *m, uint64_t key, const uint8_t *data, size_t n)
{
    for (int t = 0; t < m->c->nthreads; t++) {
        struct fline *e = ftab_find(&m->c->threads[t].tab, key);
        if (e && !memcmp(e->data, data, n))
            return true;
    }
    return false;
}

static int unit_order(const void *a, const void *b)
{
    const struct nvmodel_unit *x = a, *y = b;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    if (x->file != y->file)
        return x->file < y->file ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* In-flight units of file i (snapshot index si): flushed lines that differ
 * from the persisted image, and dirty lines no flush accounts for. */
static int file_units(struct nvmodel *m, uint32_t i, uint32_t si, struct nvmodel_snapshot *s,
                      size_t *cap, uint8_t *buf, size_t bufsize)
{
    struct mfile *f = &m->c->files[i];
    for (int t = 0; t < m->c->nthreads; t++) {
        struct ftab *tab = &m->c->threads[t].tab;
        for (size_t k = 0; k < tab->cap && tab->n; k++) {
            struct fline *e = &tab->e[k];
            if (e->key == EMPTY_KEY || (uint32_t)(e->key >> 40) != i)
                continue;
            size_t off = (size_t)(e->key & (((uint64_t)1 << 40) - 1)) * LINE;
            if (off >= f->len)
                continue;
            size_t n = f->len - off < LINE ? f->len - off : LINE;
            if (!memcmp(f->img + off, e->data, n))
                continue;
            struct nvmodel_unit u = {.file = si,
                                     .len = (uint32_t)n,
                                     .off = off,
                                     .seq = e->seq,
                                     .site = e->site,
                                     .kind = NVMODEL_FLUSHED,
                                     .thread = t};
            memcpy(u.data, e->data, LINE);
            if (unit_push(s, cap, &u) < 0)
                return -ENOMEM;
        }
    }
    for (size_t base = 0; base < f->len; base += bufsize) {
        size_t n = f->len - base < bufsize ? f->len - base : bufsize;
        read_at(m->fds[i], buf, n, base);
        if (!memcmp(buf, f->img + base, n))
            continue;
        for (size_t o = 0; o < n; o += LINE) {
            size_t k = n - o < LINE ? n - o : LINE;
            if (!memcmp(buf + o, f->img + base + o, k))
                continue;
            uint64_t key = key_of(i, (base + o) / LINE);
            if (flushed_as(m, key, buf + o, k))
                continue;
            struct nvmodel_unit u = {.file = si,
                                     .len = (uint32_t)k,
                                     .off = base + o,
                                     .seq = UINT64_MAX,
                                     .site = sitemap_get(&m->c->last_flush, key),
                                     .kind = NVMODEL_DIRTY,
                                     .thread = -1};
            memcpy(u.data, buf + o, k);
            if (unit_push(s, cap, &u) < 0)
                return -ENOMEM;
        }
    }
    return 0;
}

int nvmodel_snapshot(struct nvmodel *m, struct nvmodel_snapshot *s)
{
    memset(s, 0, sizeof(*s));
    size_t bufsize = (size_t)1 << 20, ucap = 0;
    uint8_t *buf = malloc(bufsize);
    s->files = calloc(m->c->nfiles ? m->c->nfiles : 1, sizeof(*s->files));
    if (!buf || !s->files) {
        free(buf);
        free(s->files);
        s->files = NULL;
        return -ENOMEM;
    }
    int rc = 0;
    pthread_mutex_lock(&m->c->lock);
    for (size_t i = 0; i < m->c->nfiles && rc == 0; i++) {
        struct mfile *f = &m->c->files[i];
        if (!file_sync(m, (uint32_t)i))
            continue;
        zero_holes(m, (uint32_t)i, 0, f->len);
        struct nvmodel_file *o = &s->files[s->nfiles];
        char self[64];
        snprintf(self, sizeof(self), "/proc/self/fd/%d", m->fds[i]);
        long n = sys_readlinkat(AT_FDCWD, self, o->path, sizeof(o->path) - 1);
        o->path[n > 0 ? n : 0] = '\0';
        o->dev = f->dev;
        o->ino = f->ino;
        o->size = f->len;
        o->image = f->img;
        o->image_version = f->version;
        rc = file_units(m, (uint32_t)i, (uint32_t)s->nfiles, s, &ucap, buf, bufsize);
        s->nfiles++;
    }
    pthread_mutex_unlock(&m->c->lock);
    free(buf);
    if (rc == 0 && s->nunits)
        qsort(s->units, s->nunits, sizeof(*s->units), unit_order);
    if (rc < 0)
        nvmodel_snapshot_free(s);
    return rc;
}

void nvmodel_snapshot_free(struct nvmodel_snapshot *s)
{
    free(s->files);
    free(s->units);
    memset(s, 0, sizeof(*s));
}

size_t nvmodel_unclean(struct nvmodel *m, uint64_t dev, uint64_t ino, struct nvmodel_unit *first)
{
    size_t bufsize = (size_t)1 << 20, ucap = 0, count = 0;
    uint8_t *buf = malloc(bufsize);
    if (!buf)
        return 0;
    struct nvmodel_snapshot s = {0};
    pthread_mutex_lock(&m->c->lock);
    int i = file_find(m, dev, ino);
    if (i >= 0 && file_sync(m, (uint32_t)i)) {
        zero_holes(m, (uint32_t)i, 0, m->c->files[i].len);
        file_units(m, (uint32_t)i, 0, &s, &ucap, buf, bufsize);
    }
    pthread_mutex_unlock(&m->c->lock);
    for (size_t k = 0; k < s.nunits; k++)
        if (!count++ || s.units[k].off < first->off)
            *first = s.units[k];
    free(s.units);
    free(buf);
    return count;
}
