/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * model.c - the crash model (see model.h), and the persistence table that
 * reports to it: built into the crash checker's copies of the library in
 * place of src/pmem/libpmem.c.
 *
 * State of a model: the files it has seen mapped (each with its own
 * descriptor, so sizes, holes and current bytes can be read whatever the
 * library does with its descriptors), the live mappings (address -> file),
 * and per thread the lines flushed but not yet fenced. Current bytes are
 * read with pread: the page cache the mapping shows.
 *
 * Only one thread runs library code while a hook runs (the checker's
 * workloads pass a baton between their threads), so a hook sees a quiet
 * model; the mutex only keeps the tables themselves consistent.
 */
#include "model.h"

#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "os/sys.h"
#include "pmem/persist.h"
#include "pmem/seam.h"

#define PAGE        4096u
#define MAX_THREADS 16
#define EMPTY_KEY   UINT64_MAX
#define LINE        NVMODEL_LINE

struct mfile {
    uint64_t dev, ino;
    int fd; /* the model's own descriptor; -1 once the file is gone */
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

struct nvmodel {
    pthread_mutex_t lock;
    nvmodel_hook hook;
    void *hook_arg;
    struct mfile *files;
    size_t nfiles, capfiles;
    struct mapping *maps;
    size_t nmaps, capmaps;
    struct tslot threads[MAX_THREADS];
    int nthreads;
    struct sitemap last_flush; /* line -> the last flush's caller */
    uint64_t seq;
    struct nvmodel_stats stats;
};

static struct nvmodel *active;

static struct nvmodel *current(void)
{
    return __atomic_load_n(&active, __ATOMIC_ACQUIRE);
}

struct nvmodel *nvmodel_activate(struct nvmodel *m)
{
    return __atomic_exchange_n(&active, m, __ATOMIC_ACQ_REL);
}

static pid_t my_tid(void)
{
    static __thread pid_t tid;
    if (!tid)
        tid = (pid_t)sys_call6(SYS_gettid, 0, 0, 0, 0, 0, 0);
    return tid;
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

static struct fline *ftab_put(struct ftab *t, uint64_t key)
{
    if (2 * (t->n + 1) > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        struct fline *e = malloc(cap * sizeof(*e));
        if (!e)
            return NULL;
        for (size_t i = 0; i < cap; i++)
            e[i].key = EMPTY_KEY;
        struct ftab bigger = {e, cap, 0};
        for (size_t i = 0; i < t->cap; i++) {
            if (t->e[i].key == EMPTY_KEY)
                continue;
            struct fline *d = ftab_put(&bigger, t->e[i].key);
            *d = t->e[i];
        }
        free(t->e);
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

static void ftab_clear(struct ftab *t)
{
    if (!t->n)
        return;
    if (t->cap > 4096) { /* give a big burst's memory back */
        free(t->e);
        memset(t, 0, sizeof(*t));
        return;
    }
    for (size_t i = 0; i < t->cap; i++)
        t->e[i].key = EMPTY_KEY;
    t->n = 0;
}

static void sitemap_put(struct sitemap *s, uint64_t key, const void *site)
{
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 1024;
        uint64_t *keys = malloc(cap * sizeof(*keys));
        const void **sites = malloc(cap * sizeof(*sites));
        if (!keys || !sites) {
            free(keys);
            free(sites);
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
        free(s->keys);
        free(s->sites);
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

static int file_reserve(struct mfile *f, size_t n)
{
    if (n <= f->cap)
        return 0;
    size_t cap = f->cap ? f->cap : 65536;
    while (cap < n)
        cap *= 2;
    uint8_t *img = realloc(f->img, cap);
    if (!img)
        return -ENOMEM;
    f->img = img;
    f->cap = cap;
    return 0;
}

static void file_drop(struct mfile *f)
{
    if (f->fd >= 0)
        sys_close(f->fd);
    f->fd = -1;
    free(f->img);
    f->img = NULL;
    f->len = f->cap = 0;
    f->version++;
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
    for (int t = 0; t < m->nthreads; t++) {
        struct ftab *tab = &m->threads[t].tab;
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
            struct fline *d = ftab_put(&keep, e->key);
            if (d)
                *d = *e;
        }
        if (dropped) {
            free(tab->e);
            *tab = keep;
        } else {
            free(keep.e);
        }
    }
}

/* Holes in [lo, hi) read as zeros and were made by the kernel (truncation,
 * hole punching): durable zeros, whatever was flushed there before. */
static void zero_holes(struct nvmodel *m, uint32_t fi, size_t lo, size_t hi)
{
    struct mfile *f = &m->files[fi];
    if (hi > f->len)
        hi = f->len;
    lo &= ~(size_t)(PAGE - 1);
    while (lo < hi) {
        long d = sys_lseek(f->fd, (off_t)lo, SEEK_DATA);
        size_t end = d < 0 ? hi : (size_t)d < hi ? (size_t)d : hi;
        if ((d >= 0 || d == -ENXIO) && end > lo) {
            zero_img(f, lo, end);
            forget_flushes(m, fi, lo, end);
        }
        if (d < 0 || (size_t)d >= hi)
            return;
        long h = sys_lseek(f->fd, d, SEEK_HOLE);
        if (h < 0 || (size_t)h <= (size_t)d)
            return;
        lo = (size_t)h;
    }
}

/* Follows the kernel's size: a file that shrank lost its tail, one that grew
 * reads zeros there. Returns false when the file is gone. */
static bool file_sync(struct nvmodel *m, uint32_t fi)
{
    struct mfile *f = &m->files[fi];
    if (f->fd < 0)
        return false;
    struct stat st;
    if (sys_fstat(f->fd, &st) < 0 || st.st_nlink == 0) {
        file_drop(f);
        return false;
    }
    size_t n = (size_t)st.st_size;
    if (n > f->len) {
        if (file_reserve(f, n) < 0)
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
    for (size_t i = 0; i < m->nfiles; i++)
        if (m->files[i].fd >= 0 && m->files[i].dev == dev && m->files[i].ino == ino)
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
    if (m->nfiles == m->capfiles) {
        size_t cap = m->capfiles ? 2 * m->capfiles : 8;
        struct mfile *f = realloc(m->files, cap * sizeof(*f));
        if (!f)
            return -1;
        m->files = f;
        m->capfiles = cap;
    }
    struct mfile *f = &m->files[m->nfiles];
    memset(f, 0, sizeof(*f));
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->fd = sys_fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (f->fd < 0)
        return -1;
    /* What the file holds when first mapped came through the kernel:
     * persistent. */
    size_t n = (size_t)st->st_size;
    if (file_reserve(f, n ? n : 1) < 0) {
        sys_close(f->fd);
        return -1;
    }
    read_at(f->fd, f->img, n, 0);
    f->len = n;
    return (int)m->nfiles++;
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
    for (int i = 0; i < m->nthreads; i++) {
        if (m->threads[i].tid == tid) {
            if (index)
                *index = i;
            return &m->threads[i].tab;
        }
    }
    if (m->nthreads == MAX_THREADS)
        return NULL;
    struct tslot *t = &m->threads[m->nthreads];
    memset(t, 0, sizeof(*t));
    t->tid = tid;
    if (index)
        *index = m->nthreads;
    m->nthreads++;
    return &t->tab;
}

/* Moves the thread's flushed lines into the persisted images. */
static void fence_locked(struct nvmodel *m)
{
    struct ftab *t = my_tab(m, NULL);
    if (!t || !t->n)
        return;
    for (size_t i = 0; i < m->nfiles; i++)
        file_sync(m, (uint32_t)i);
    for (size_t i = 0; i < t->cap; i++) {
        struct fline *e = &t->e[i];
        if (e->key == EMPTY_KEY)
            continue;
        struct mfile *f = &m->files[e->key >> 40];
        size_t off = (size_t)(e->key & (((uint64_t)1 << 40) - 1)) * LINE;
        if (f->fd < 0 || off >= f->len)
            continue;
        size_t n = f->len - off < LINE ? f->len - off : LINE;
        if (memcmp(f->img + off, e->data, n)) {
            memcpy(f->img + off, e->data, n);
            f->version++;
        }
    }
    ftab_clear(t);
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
    pthread_mutex_lock(&m->lock);
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
    pthread_mutex_unlock(&m->lock);
}

static void model_on_unmap(const struct pm_map *pm)
{
    struct nvmodel *m = current();
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    struct mapping *mp = mapping_of(m, pm->base);
    bool known = mp != NULL;
    if (mp)
        *mp = m->maps[--m->nmaps];
    if (known)
        m->stats.unmaps++;
    pthread_mutex_unlock(&m->lock);
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
    pthread_mutex_lock(&m->lock);
    store_locked(m, mapping_of(m, pm->base), off, n);
    pthread_mutex_unlock(&m->lock);
}

/* Records the lines of [addr, addr+n) as the calling thread flushed them. */
static void flush_lines(struct nvmodel *m, const void *addr, size_t n, const void *site)
{
    if (n == 0)
        return;
    pthread_mutex_lock(&m->lock);
    size_t off;
    struct mapping *mp = mapping_at(m, addr, &off);
    struct ftab *t = my_tab(m, NULL);
    if (mp && t && file_sync(m, mp->file)) {
        struct mfile *f = &m->files[mp->file];
        m->stats.flushes++;
        for (size_t line = off / LINE; line * LINE < off + n; line++) {
            size_t at = line * LINE;
            if (at >= f->len)
                break;
            struct fline *e = ftab_put(t, key_of(mp->file, line));
            if (!e)
                break;
            size_t k = f->len - at < LINE ? f->len - at : LINE;
            memcpy(e->data, mp->base + at, k);
            memset(e->data + k, 0, LINE - k);
            e->seq = ++m->seq;
            e->site = site;
            sitemap_put(&m->last_flush, key_of(mp->file, line), site);
            m->stats.lines_flushed++;
        }
    }
    pthread_mutex_unlock(&m->lock);
}

/* Before a copy or fill: what store_locked says, for an address. */
static void before_store_at(struct nvmodel *m, const void *addr, size_t n)
{
    pthread_mutex_lock(&m->lock);
    size_t off;
    struct mapping *mp = mapping_at(m, addr, &off);
    store_locked(m, mp, off, n);
    pthread_mutex_unlock(&m->lock);
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
    pthread_mutex_lock(&m->lock);
    m->stats.fences++;
    fence_locked(m);
    pthread_mutex_unlock(&m->lock);
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

struct nvmodel *nvmodel_new(nvmodel_hook hook, void *arg)
{
    struct nvmodel *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    pthread_mutex_init(&m->lock, NULL);
    m->hook = hook;
    m->hook_arg = arg;
    return m;
}

void nvmodel_free(struct nvmodel *m)
{
    if (!m)
        return;
    if (current() == m)
        nvmodel_activate(NULL);
    for (size_t i = 0; i < m->nfiles; i++)
        file_drop(&m->files[i]);
    for (int i = 0; i < m->nthreads; i++)
        free(m->threads[i].tab.e);
    free(m->last_flush.keys);
    free(m->last_flush.sites);
    free(m->files);
    free(m->maps);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void nvmodel_sync(struct nvmodel *m)
{
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nfiles; i++)
        if (file_sync(m, (uint32_t)i))
            zero_holes(m, (uint32_t)i, 0, m->files[i].len);
    pthread_mutex_unlock(&m->lock);
}

void nvmodel_fence_thread(struct nvmodel *m)
{
    pthread_mutex_lock(&m->lock);
    fence_locked(m);
    pthread_mutex_unlock(&m->lock);
}

void nvmodel_get_stats(const struct nvmodel *m, struct nvmodel_stats *st)
{
    *st = m->stats;
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
    for (int t = 0; t < m->nthreads; t++) {
        struct fline *e = ftab_find(&m->threads[t].tab, key);
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
    struct mfile *f = &m->files[i];
    for (int t = 0; t < m->nthreads; t++) {
        struct ftab *tab = &m->threads[t].tab;
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
        read_at(f->fd, buf, n, base);
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
                                     .site = sitemap_get(&m->last_flush, key),
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
    s->files = calloc(m->nfiles ? m->nfiles : 1, sizeof(*s->files));
    if (!buf || !s->files) {
        free(buf);
        free(s->files);
        s->files = NULL;
        return -ENOMEM;
    }
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nfiles && rc == 0; i++) {
        struct mfile *f = &m->files[i];
        if (!file_sync(m, (uint32_t)i))
            continue;
        zero_holes(m, (uint32_t)i, 0, f->len);
        struct nvmodel_file *o = &s->files[s->nfiles];
        char self[64];
        snprintf(self, sizeof(self), "/proc/self/fd/%d", f->fd);
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
    pthread_mutex_unlock(&m->lock);
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
    pthread_mutex_lock(&m->lock);
    int i = file_find(m, dev, ino);
    if (i >= 0 && file_sync(m, (uint32_t)i)) {
        zero_holes(m, (uint32_t)i, 0, m->files[i].len);
        file_units(m, (uint32_t)i, 0, &s, &ucap, buf, bufsize);
    }
    pthread_mutex_unlock(&m->lock);
    for (size_t k = 0; k < s.nunits; k++)
        if (!count++ || s.units[k].off < first->off)
            *first = s.units[k];
    free(s.units);
    free(buf);
    return count;
}
