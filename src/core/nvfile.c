/*
 * nvfile.c - the open-file object: opening and recovering a managed file,
 * the data path (reads, writes, truncation through undo or redo logging),
 * durability points and settling at close (see nvfile.h).
 */
#include "core/nvfile.h"

#include <errno.h>
#include <limits.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "core/helper.h"
#include "core/config.h"
#include "core/debug.h"
#include "core/filetable.h"
#include "core/owner.h"
#include "log/checksum.h"
#include "log/policy.h"
#include "log/recovery.h"
#include "os/keptfds.h"
#include "os/sys.h"

#define PAGE           4096u
#define MIN_RESERVE    ((uint64_t)256 << 20)
#define STORAGE_CHUNK  ((uint64_t)2 << 20)
#define POPULATE_LIMIT ((uint64_t)1 << 30)
#define MIN_GROW_STEP  ((uint64_t)16 << 10)
#define MAX_GROW_STEP  ((uint64_t)64 << 20)
/* A redo commit that leaves more log than this copies the committed blocks
 * home at once: the log can only start over when nothing in it is live,
 * and right after a commit nothing of the new epoch is in it yet. Smaller
 * logs go home in the background. */
#define CHECKPOINT_BATCH      ((uint64_t)4 << 20)
#define CHECKPOINT_BACKGROUND ((uint64_t)256 << 10)
/* A file appended past AHEAD_FROM, on forced pmem, gets storage prepared
 * ahead of its end by the helper thread: the writer posts a window of a
 * quarter of the size (AHEAD_STEP to AHEAD) past what it needs, and the
 * thread allocates it by faults, AHEAD_PIECE at a time from the top, while
 * the writer faults in what it reaches first, AHEAD_WRITER_STEP ahead. */
#define AHEAD_FROM        ((uint64_t)1 << 20)
#define AHEAD             ((uint64_t)8 << 20)
#define AHEAD_STEP        ((uint64_t)1 << 20)
#define AHEAD_PIECE       ((uint64_t)64 << 10)
#define AHEAD_WRITER_STEP ((uint64_t)64 << 10)

static uint64_t round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static uint64_t round_down(uint64_t v, uint64_t a)
{
    return v & ~(a - 1);
}

bool nvfile_sync_mode(int open_flags)
{
    return nv_config()->sync || (open_flags & (O_SYNC | O_DSYNC));
}

/* Anything that moves the mapping or takes blocks away runs between these
 * (write lock held): it waits out the helper thread's work ahead of the
 * end, which then sees the generation change and drops what it did. */
static void layout_change_begin(struct nvfile *f)
{
    pthread_mutex_lock(&f->layout_lock);
    pthread_mutex_lock(&f->ahead_lock);
    f->ahead.gen++;
    f->ahead.lo = f->ahead.hi = f->ahead.floor = 0;
    pthread_mutex_unlock(&f->ahead_lock);
}

static void layout_change_end(struct nvfile *f)
{
    pthread_mutex_unlock(&f->layout_lock);
}

static int ensure_reserve(struct nvfile *f, uint64_t end)
{
    if (end <= f->map.reserved)
        return 0;
    layout_change_begin(f);
    int rc = pm_map_grow(f->fd, pm_reserve_for(end, MIN_RESERVE), &f->map);
    layout_change_end(f);
    return rc;
}

/* ---- storage: which 2 MiB chunks have blocks behind them ---------------- */

static bool chunk_known(const struct nvfile *f, uint64_t c)
{
    return c < f->chunk_bits && (f->chunks[c / 64] >> (c % 64) & 1);
}

/* Records that chunks [c0, c1) have blocks; `map` also maps them in (the
 * pages of appends are mapped already). */
static int mark_chunks(struct nvfile *f, uint64_t c0, uint64_t c1, bool map)
{
    if (c1 > f->chunk_bits) {
        uint64_t bits = f->chunk_bits ? f->chunk_bits : 64;
        while (bits < c1)
            bits *= 2;
        uint64_t *n = realloc(f->chunks, bits / 8);
        if (!n)
            return -ENOMEM;
        memset(n + f->chunk_bits / 64, 0, (bits - f->chunk_bits) / 8);
        f->chunks = n;
        f->chunk_bits = bits;
    }
    uint64_t fresh_from = UINT64_MAX, fresh_to = 0;
    for (uint64_t c = c0; c < c1; c++) {
        if (f->chunks[c / 64] >> (c % 64) & 1)
            continue;
        f->chunks_known++;
        f->chunks[c / 64] |= (uint64_t)1 << (c % 64);
        fresh_from = fresh_from < c ? fresh_from : c;
        fresh_to = c + 1;
    }
    /* Blocks just known to be there: map them in one go, up to a bound so
     * opening a huge file stays cheap (the rest fault in as used). */
    if (map && fresh_to > fresh_from && fresh_from * STORAGE_CHUNK < POPULATE_LIMIT) {
        uint64_t hi = fresh_to * STORAGE_CHUNK;
        hi = hi < POPULATE_LIMIT ? hi : POPULATE_LIMIT;
        hi = hi < f->real_size ? hi : f->real_size;
        if (hi > fresh_from * STORAGE_CHUNK)
            pm_populate(&f->map, fresh_from * STORAGE_CHUNK, hi - fresh_from * STORAGE_CHUNK);
    }
    return 0;
}

/* Forgets the chunks that [lo, hi) touches (some of their blocks went). */
static void forget_chunk_range(struct nvfile *f, uint64_t lo, uint64_t hi)
{
    uint64_t end = (hi + STORAGE_CHUNK - 1) / STORAGE_CHUNK;
    for (uint64_t c = lo / STORAGE_CHUNK; c < f->chunk_bits && c < end; c++) {
        f->chunks_known -= f->chunks[c / 64] >> (c % 64) & 1;
        f->chunks[c / 64] &= ~((uint64_t)1 << (c % 64));
    }
}

/* How far an append preallocates: a quarter of what the file has stored,
 * so a sparse file does not reserve much for a small write past its end. */
static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static uint64_t grow_step(const struct nvfile *f)
{
    uint64_t stored = f->chunks_known * STORAGE_CHUNK;
    uint64_t base = stored > f->alloc_prefix ? stored : f->alloc_prefix;
    /* After a trim while open (a publication), steps grow with what was
     * appended since, so a file synced after every few appends does not
     * hand back a large step each time. */
    uint64_t since = f->alloc_prefix > f->regrow_from ? f->alloc_prefix - f->regrow_from : 0;
    if (f->regrow_from && since < base)
        base = since;
    return clamp(base / 4, MIN_GROW_STEP, MAX_GROW_STEP);
}

/* The helper thread reads the allocated prefix without taking the lock.
 * The reserved tail stays the end of the prefix: the part of it that the
 * prefix no longer ends with joins the spare pages. */
static void set_alloc_prefix(struct nvfile *f, uint64_t v)
{
    uint64_t t = f->tail_lo, p = f->alloc_prefix;
    if (t < p && v != p) {
        uint64_t from = v > p ? t : t > v ? t : v; /* raised: all of it; lowered: above v */
        nvspare_add(&f->spare, from, p);
    }
    f->tail_lo = v > p || t > v ? v : t;
    f->alloc_prefix = v;
    __atomic_store_n(&f->append_front, v, __ATOMIC_RELAXED);
}

static int append_grew(struct nvfile *f, uint64_t hi)
{
    set_alloc_prefix(f, hi);
    return mark_chunks(f, 0, hi / STORAGE_CHUNK, false);
}

static struct nvfile_ahead read_window(struct nvfile *f)
{
    pthread_mutex_lock(&f->ahead_lock);
    struct nvfile_ahead w = f->ahead;
    pthread_mutex_unlock(&f->ahead_lock);
    return w;
}

/* Write lock held. A new window [alloc_prefix, hi) for the helper thread,
 * the real file extended over it. */
static int post_window(struct nvfile *f, uint64_t need, struct nvfile_ahead *w)
{
    uint64_t hi = round_up(need + clamp(f->size / 4, AHEAD_STEP, AHEAD), PAGE);
    int rc = ensure_reserve(f, hi);
    if (rc == 0 && hi > f->real_size)
        rc = sys_ftruncate(f->fd, (off_t)hi);
    if (rc < 0)
        return rc;
    if (hi > f->real_size)
        f->real_size = hi;
    pthread_mutex_lock(&f->ahead_lock);
    f->ahead.gen++;
    f->ahead.lo = f->alloc_prefix;
    f->ahead.hi = f->ahead.floor = hi;
    *w = f->ahead;
    pthread_mutex_unlock(&f->ahead_lock);
    nvhelper_prepare(f);
    return 0;
}

/* Write lock held. An append past the allocated prefix, helped by the
 * thread: pages it has allocated are taken as they are, the writer faults
 * in the ones below (which allocates them), and posts a new window when it
 * runs past the current one. Returns 0 or a negative errno (the caller then
 * reserves the storage itself). */
static int append_into_tail(struct nvfile *f, uint64_t end)
{
    uint64_t need = round_up(end, PAGE);
    struct nvfile_ahead w = read_window(f);
    /* The thread got down to the prefix: the whole window is there, and
     * the next one goes to the thread now, so it starts ahead of the
     * writer. */
    if (w.hi > f->alloc_prefix && w.floor <= f->alloc_prefix) {
        int rc = append_grew(f, w.hi);
        if (rc == 0)
            rc = post_window(f, w.hi, &w);
        if (rc < 0 || need <= f->alloc_prefix)
            return rc;
    }
    if (need > w.hi) {
        int rc = post_window(f, need, &w);
        if (rc < 0)
            return rc;
    }
    /* [floor, hi) is the thread's; below it, the writer's: reaching the
     * floor makes the whole window ready. */
    uint64_t top = need + AHEAD_WRITER_STEP < w.floor ? need + AHEAD_WRITER_STEP : w.floor;
    if (top > f->alloc_prefix) {
        int rc = pm_allocate(&f->map, f->alloc_prefix, top - f->alloc_prefix);
        if (rc < 0)
            return rc;
    }
    return append_grew(f, top == w.floor ? w.hi : top);
}

/* ---- space the library reserved and the program never wrote ------------ */

/* [off, end) is the program's now (written, or allocated by its fallocate):
 * its pages leave the reserved tail and the spare pages. A write past the
 * start of the tail leaves the pages it skipped spare. */
static void program_takes(struct nvfile *f, uint64_t off, uint64_t end)
{
    if (off < f->alloc_prefix && end > f->tail_lo) {
        uint64_t skipped = round_down(off, PAGE);
        if (skipped > f->tail_lo)
            nvspare_add(&f->spare, f->tail_lo, skipped);
        uint64_t lo = round_up(end, PAGE);
        f->tail_lo = lo < f->alloc_prefix ? lo : f->alloc_prefix;
    }
    if (!nvspare_empty(&f->spare))
        nvspare_take(&f->spare, off, end);
}

/* The prefix just grew from `from`, for a write ending at end, over a
 * real file of real_size bytes: the pages past the write, past every byte
 * the file held and past its end before are the library's reservation, its
 * tail. */
static void reserved_ahead(struct nvfile *f, uint64_t from, uint64_t real_size, uint64_t end)
{
    if (f->mapped_by_program || f->alloc_prefix <= from)
        return;
    uint64_t lo = end > f->zero_from ? end : f->zero_from;
    lo = round_up(lo > real_size ? lo : real_size, PAGE);
    if (lo < f->tail_lo)
        f->tail_lo = lo;
}

/* Blocks of [lo, hi) whose bytes wait in redo records look like holes at
 * home, but a checkpoint will write them there: they are not spare. */
static void take_redo_blocks(struct nvfile *f, uint64_t lo, uint64_t hi)
{
    for (uint64_t base = round_down(lo, NVIDX_REGION_SIZE); f->index.redo_live && base < hi;
         base += NVIDX_REGION_SIZE) {
        struct nvidx_region *r = nvidx_region(&f->index, base, false);
        if (!r || !r->redo_live)
            continue;
        uint64_t span = (uint64_t)1 << r->shift;
        for (uint64_t blk = base; blk < base + NVIDX_REGION_SIZE; blk += span) {
            struct nvidx_entry *e = nvidx_entry_at(r, blk);
            if (e->record && e->kind == NVLOG_REDO)
                nvspare_take(&f->spare, blk, blk + span);
        }
    }
}

/* The library is about to allocate [lo, hi) (page aligned) whole for a
 * write to [off, end): the pages of it that hold nothing now (holes, or
 * past the end of the real file) and that the write leaves alone become
 * spare. Without an answer from the kernel, pages are kept, never lost. */
static void reserve_spare(struct nvfile *f, uint64_t lo, uint64_t hi, uint64_t off, uint64_t end)
{
    if (f->mapped_by_program)
        return;
    uint64_t eof = round_up(f->real_size, PAGE);
    uint64_t at = lo;
    while (at < hi && at < eof) {
        long data = sys_lseek(f->fd, (off_t)at, SEEK_DATA);
        if (data < 0 && data != -ENXIO)
            return;
        uint64_t d = data < 0 || (uint64_t)data > eof ? eof : round_down((uint64_t)data, PAGE);
        if (d > at)
            nvspare_add(&f->spare, at, d < hi ? d : hi);
        if (d >= hi || d >= eof)
            break;
        long hole = sys_lseek(f->fd, (off_t)d, SEEK_HOLE);
        if (hole < 0)
            return;
        at = round_up((uint64_t)hole, PAGE);
    }
    if (eof < hi)
        nvspare_add(&f->spare, eof > lo ? eof : lo, hi);
    nvspare_take(&f->spare, off, end);
    take_redo_blocks(f, lo, hi);
}

/* Extends the real file so it holds [off, end): appends take a step ahead
 * so the next ones stay free of system calls (or the helper thread works
 * ahead of them); a write far past the end leaves a hole before it. */
static int grow_real_file(struct nvfile *f, uint64_t off, uint64_t end)
{
    /* An append extends the allocated prefix by pages; a write far past
     * the end allocates whole chunks there and leaves a hole before. */
    bool append = off <= f->alloc_prefix;
    /* Only where faults allocate cheaply: under MAP_SYNC every allocating
     * fault commits the file system's journal, so DAX files keep growing
     * by large fallocate steps. */
    bool helped =
        append && end >= AHEAD_FROM && f->map.kind == PM_KIND_FORCED && nvhelper_available();
    if (helped && append_into_tail(f, end) == 0)
        return 0;
    uint64_t align = append ? PAGE : STORAGE_CHUNK;
    uint64_t lo = round_down(append ? f->alloc_prefix : off, align);
    uint64_t exact = round_up(end, align);
    uint64_t hi =
        append ? round_up(end + (helped ? AHEAD_WRITER_STEP : grow_step(f)), PAGE) : exact;
    /* An append's step past the end of the file is its tail; below the
     * end (a sparse file filled from the front) it may cover holes. */
    uint64_t eof = round_up(f->real_size, PAGE);
    if (!append || round_up(end, PAGE) < eof)
        reserve_spare(f, append ? round_up(end, PAGE) : lo, append && hi > eof ? eof : hi, off,
                      end);
    int rc = ensure_reserve(f, hi);
    if (rc == 0)
        rc = sys_fallocate(f->fd, 0, (off_t)lo, (off_t)(hi - lo));
    if (rc < 0 && hi > exact) { /* the step did not fit; the write may */
        hi = exact;
        rc = sys_fallocate(f->fd, 0, (off_t)lo, (off_t)(hi - lo));
    }
    if (rc < 0)
        return rc == -EFBIG ? -ENOSPC : rc;
    if (hi > f->real_size)
        f->real_size = hi;
    if (!append)
        return mark_chunks(f, lo / STORAGE_CHUNK, hi / STORAGE_CHUNK, true);
    pm_populate(&f->map, lo, hi < POPULATE_LIMIT ? hi - lo : 0);
    return append_grew(f, hi);
}

/* True when every byte of [off, end) is known to have a block that the
 * program may store into (not one the library still counts as its own). */
static bool storage_known(const struct nvfile *f, uint64_t off, uint64_t end)
{
    if ((f->tail_lo < f->alloc_prefix && off < f->alloc_prefix && end > f->tail_lo) ||
        (!nvspare_empty(&f->spare) && nvspare_touches(&f->spare, off, end)))
        return false;
    if (end <= f->alloc_prefix)
        return true;
    if (end > f->real_size)
        return false;
    uint64_t c = (off < f->alloc_prefix ? f->alloc_prefix : off) / STORAGE_CHUNK;
    uint64_t c1 = (end + STORAGE_CHUNK - 1) / STORAGE_CHUNK;
    while (c < c1 && chunk_known(f, c))
        c++;
    return c == c1;
}

/* Makes sure [off, end) has blocks behind it, so stores through the mapping
 * cannot fault for want of space (ENOSPC comes back here instead), and the
 * real file reaches end. */
static int ensure_storage(struct nvfile *f, uint64_t off, uint64_t end)
{
    program_takes(f, off, end);
    if (storage_known(f, off, end))
        return 0;
    uint64_t c0 = off / STORAGE_CHUNK, c1 = (end + STORAGE_CHUNK - 1) / STORAGE_CHUNK;
    uint64_t prefix = f->alloc_prefix, real_size = f->real_size;
    int rc = ensure_reserve(f, end);
    if (rc == 0 && (end > f->real_size || (off <= f->alloc_prefix && end > f->alloc_prefix)))
        rc = grow_real_file(f, off, end);
    if (rc == 0)
        reserved_ahead(f, prefix, real_size, end);
    for (uint64_t c = c0; rc == 0 && c < c1 && !storage_known(f, off, end); c++) {
        if (chunk_known(f, c) || (c + 1) * STORAGE_CHUNK <= f->alloc_prefix)
            continue;
        uint64_t lo = c * STORAGE_CHUNK;
        uint64_t hi =
            lo + STORAGE_CHUNK < f->real_size ? lo + STORAGE_CHUNK : round_up(f->real_size, PAGE);
        reserve_spare(f, lo, hi, off, end);
        rc = sys_fallocate(f->fd, FALLOC_FL_KEEP_SIZE, (off_t)lo, (off_t)(hi - lo));
        if (rc == 0)
            rc = mark_chunks(f, c, c + 1, true);
    }
    return rc == -EFBIG ? -ENOSPC : rc;
}

void nvfile_prepare_ahead(struct nvfile *f)
{
    struct nvfile_ahead w = read_window(f);
    /* Holding the layout lock keeps the mapping where it is; a change of
     * layout or a new window bumps the generation, and the work stops. */
    pthread_mutex_lock(&f->layout_lock);
    for (uint64_t top = w.floor; top > w.lo;) {
        uint64_t front = __atomic_load_n(&f->append_front, __ATOMIC_RELAXED);
        if (front >= top)
            break;
        uint64_t bottom = top - w.lo > AHEAD_PIECE ? top - AHEAD_PIECE : w.lo;
        if (bottom < front)
            bottom = front;
        if (pm_allocate(&f->map, bottom, top - bottom) < 0)
            break; /* the writer meets the error itself */
        pthread_mutex_lock(&f->ahead_lock);
        bool same = f->ahead.gen == w.gen;
        if (same)
            f->ahead.floor = bottom;
        pthread_mutex_unlock(&f->ahead_lock);
        if (!same)
            break;
        top = bottom;
    }
    pthread_mutex_unlock(&f->layout_lock);
}

/* ---- identity and ownership ------------------------------------------- */

static int read_identity(int fd, struct nvfile *f)
{
    struct statx stx;
    int rc = sys_statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_BTIME | STATX_SIZE, &stx);
    if (rc < 0)
        return rc;
    f->dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    f->ino = stx.stx_ino;
    memset(&f->id, 0, sizeof(f->id));
    f->id.dev = f->dev;
    f->id.ino = f->ino;
    if (stx.stx_mask & STATX_BTIME) {
        f->id.btime_sec = stx.stx_btime.tv_sec;
        f->id.btime_nsec = stx.stx_btime.tv_nsec;
    }
    f->real_size = stx.stx_size;
    return 0;
}

static bool log_exists(const struct nvfile *f)
{
    char log_path[PATH_MAX];
    struct statx stx;
    snprintf(log_path, sizeof(log_path), "%s/%s", f->log_dir, f->log_name);
    return sys_statx(AT_FDCWD, log_path, 0, 0, &stx) == 0;
}

/* The log directory of f, checked (see nvlog_dir_open); a refusal is
 * reported. */
static int open_log_dir(const struct nvfile *f, bool create)
{
    const char *why = NULL;
    int dirfd = nvlog_dir_open(f->log_dir, f->uid, create, &why);
    if (dirfd == -EACCES && why)
        nv_warn("refusing the log directory %s: %s", f->log_dir, why);
    return dirfd;
}

/* Recovers the file from its log, if it has one: 1 when that changed the
 * file, 0 when there was nothing to do, or a negative errno. */
static int recover(struct nvfile *f, const char *path)
{
    /* Most files have no log: one look settles that. */
    if (!log_exists(f))
        return 0;
    int dirfd = open_log_dir(f, false);
    if (dirfd == -ENOENT)
        return 0;
    if (dirfd < 0)
        return dirfd;
    struct nvlog_recovery r;
    int rc = nvlog_recover(dirfd, f->log_name, f->fd, &f->id, f->uid, &r);
    sys_close(dirfd);
    if ((rc == -EBADMSG || rc == -EACCES) && r.why) {
        if (r.bad_offset)
            nv_warn("refusing the log %s/%s of %s: %s (record at log offset %llu); nothing "
                    "applied, the file is left as it is",
                    f->log_dir, f->log_name, path, r.why, (unsigned long long)r.bad_offset);
        else
            nv_warn("refusing the log %s/%s of %s: %s; nothing applied, the file is left as "
                    "it is",
                    f->log_dir, f->log_name, path, r.why);
        return rc == -EBADMSG ? -EIO : rc;
    }
    if (rc < 0)
        return rc;
    if (r.stale)
        nv_debug("%s: removed a stale log left by an earlier file with inode %lu", path,
                 (unsigned long)f->ino);
    else if (r.had_log)
        nv_debug("%s: recovered to %llu bytes (%llu blocks rolled back, %llu replayed)", path,
                 (unsigned long long)r.size, (unsigned long long)r.undone,
                 (unsigned long long)r.redone);
    return r.had_log && !r.stale;
}

static const char *persist_name(int kind)
{
    return kind == PM_KIND_MAP_SYNC ? "DAX with MAP_SYNC"
           : kind == PM_KIND_FORCED ? "forced pmem (PMEM_IS_PMEM_FORCE)"
                                    : "shared mapping with msync";
}

/* The library's own descriptor of the file open as kfd: read-write when the
 * caller may write, whatever mode the program asked for. Reopened through
 * /proc so it is the same inode even if the name changed; by path where
 * /proc is not mounted. */
static int reopen(int kfd, const char *path, int mode)
{
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", kfd);
    int fd = sys_openat(AT_FDCWD, self, mode | O_CLOEXEC, 0);
    if (fd == -ENOENT)
        fd = sys_openat(AT_FDCWD, path, mode | O_CLOEXEC, 0);
    return fd;
}

/* ---- files the program has mapped -------------------------------------- */

/* A program's mapping outlives the descriptors it was made through: a file
 * mapped, closed and opened again may still be mapped. The inodes this
 * process has mapped are kept here (under the table lock) for as long as
 * it lives, since unmapping is not followed; an object made for one of
 * them starts as mapped. */
struct mapped_inode {
    dev_t dev;
    ino_t ino;
};
static struct mapped_inode *mapped_inodes;
static size_t mapped_count, mapped_cap;

static bool was_mapped(dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < mapped_count; i++)
        if (mapped_inodes[i].dev == dev && mapped_inodes[i].ino == ino)
            return true;
    return false;
}

int nvfile_note_mapped(dev_t dev, ino_t ino)
{
    if (was_mapped(dev, ino))
        return 0;
    if (mapped_count == mapped_cap) {
        size_t cap = mapped_cap ? 2 * mapped_cap : 8;
        struct mapped_inode *n = realloc(mapped_inodes, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        mapped_inodes = n;
        mapped_cap = cap;
    }
    mapped_inodes[mapped_count++] = (struct mapped_inode){dev, ino};
    return 0;
}

static int setup(struct nvfile *f, int kfd, const struct stat *st, const char *path)
{
    f->fd = reopen(kfd, path, O_RDWR);
    f->writable = f->fd >= 0;
    if (f->fd < 0)
        f->fd = reopen(kfd, path, O_RDONLY);
    if (f->fd < 0)
        return f->fd;
    f->fd = kept_fd(f->fd);
    int rc = read_identity(f->fd, f);
    if (rc == 0 && (f->dev != st->st_dev || f->ino != st->st_ino))
        rc = -ESTALE;
    f->uid = st->st_uid;
    if (rc == 0)
        rc = nvowner_acquire(f->log_dir, f->uid, f->dev, f->ino, f->writable, &f->owner);
    if (rc < 0)
        return rc;
    snprintf(f->log_name, sizeof(f->log_name), "%llx-%llx.log", (unsigned long long)f->dev,
             (unsigned long long)f->ino);
    if (f->writable) {
        rc = recover(f, path);
        if (rc > 0) /* the file changed */
            rc = read_identity(f->fd, f);
        if (rc < 0)
            return rc;
    } else if (log_exists(f)) {
        nv_warn("%s needs recovery but this process may not write it", path);
        return -EACCES;
    }
    f->size = f->committed_size = f->real_size;
    f->zero_from = f->real_size;
    if (was_mapped(f->dev, f->ino)) {
        f->mapped_by_program = true;
        f->policy = NVLOG_UNDO;
    }
    rc = pm_map_file(f->fd, f->writable, pm_reserve_for(f->real_size, MIN_RESERVE), &f->map);
    if (rc < 0)
        return rc;
    long hole = f->real_size ? sys_lseek(f->fd, 0, SEEK_HOLE) : 0;
    if (hole > 0)
        set_alloc_prefix(f, round_down((uint64_t)hole, PAGE));
    if (hole >= (long)STORAGE_CHUNK) {
        /* Mapped for reading: populating for write would move the file's
         * mtime at a mere open. */
        uint64_t known = round_down((uint64_t)hole, STORAGE_CHUNK);
        rc = mark_chunks(f, 0, known / STORAGE_CHUNK, false);
        if (rc < 0)
            return rc;
        pm_prefault(&f->map, 0, known < POPULATE_LIMIT ? known : POPULATE_LIMIT);
    }
    nv_debug("%s: managed, %llu bytes, %s", path, (unsigned long long)f->size,
             persist_name(f->map.kind));
    return 0;
}

static struct nvfile *create_object(int kfd, const struct stat *st, const char *path,
                                    const char *log_dir, int *err)
{
    struct nvfile *f = calloc(1, sizeof(*f));
    if (!f) {
        *err = -ENOMEM;
        return NULL;
    }
    f->fd = -1;
    f->owner.fd = -1;
    f->log_dir = strdup(log_dir);
    nvlog_init(&f->log);
    nvidx_init(&f->index);
    nvlock_init(&f->lock);
    pthread_mutex_init(&f->layout_lock, NULL);
    pthread_mutex_init(&f->ahead_lock, NULL);
    f->epoch = 1;
    f->policy = nv_config()->policy == NVPOLICY_REDO ? NVLOG_REDO : NVLOG_UNDO;
    int rc = f->log_dir ? setup(f, kfd, st, path) : -ENOMEM;
    if (rc < 0) {
        nvowner_release(&f->owner);
        pm_unmap(&f->map);
        if (f->fd >= 0)
            kept_close(f->fd);
        nvlock_destroy(&f->lock);
        pthread_mutex_destroy(&f->layout_lock);
        pthread_mutex_destroy(&f->ahead_lock);
        free(f->chunks);
        free(f->log_dir);
        free(f);
        *err = rc;
        return NULL;
    }
    return f;
}

struct nvfile *nvfile_acquire(int kfd, const struct stat *st, const char *path, const char *log_dir,
                              int *err)
{
    nvtable_lock();
    struct nvfile *f = nvtable_find(st->st_dev, st->st_ino);
    if (!f) {
        f = create_object(kfd, st, path, log_dir, err);
        if (f)
            nvtable_insert(f);
    }
    if (f)
        f->users++;
    nvtable_unlock();
    return f;
}

static int remove_log(struct nvfile *f)
{
    if (!nvlog_exists(&f->log))
        return 0;
    nvlog_close(&f->log);
    int dirfd = open_log_dir(f, false);
    if (dirfd < 0)
        return dirfd;
    int rc = sys_unlinkat(dirfd, f->log_name, 0);
    sys_close(dirfd);
    return rc == -ENOENT ? 0 : rc;
}

void nvfile_pin(struct nvfile *f)
{
    nvtable_lock();
    f->users++;
    nvtable_unlock();
}

/* Frees the object and everything it holds but the ownership lock. */
static void destroy(struct nvfile *f)
{
    nvlock_destroy(&f->lock);
    nvlog_close(&f->log);
    nvidx_destroy(&f->index);
    pm_unmap(&f->map);
    kept_close(f->fd);
    free(f->chunks);
    nvspare_destroy(&f->spare);
    free(f->log_dir);
    free(f);
}

int nvfile_release(struct nvfile *f)
{
    int rc = 0;
    nvtable_lock();
    if (--f->users > 0) {
        nvtable_unlock();
        return 0;
    }
    nvtable_remove(f);
    nvtable_unlock();
    nvhelper_forget(f);
    if (f->writable) {
        nvfile_lock(f, NULL);
        rc = nvfile_settle(f);
        nvfile_unlock(f);
    }
    pthread_mutex_destroy(&f->layout_lock);
    pthread_mutex_destroy(&f->ahead_lock);
    nvowner_release(&f->owner);
    destroy(f);
    return rc;
}

void nvfile_abandon(struct nvfile *f)
{
    destroy(f);
}

/* ---- storage ------------------------------------------------------------ */

static int ensure_log(struct nvfile *f)
{
    if (nvlog_exists(&f->log))
        return 0;
    int dirfd = open_log_dir(f, true);
    if (dirfd < 0)
        return dirfd;
    int rc = nvlog_create(&f->log, dirfd, f->log_name, &f->id, f->uid, f->committed_size);
    sys_close(dirfd);
    if (rc == 0)
        f->epoch = f->log.state.committed_epoch + 1;
    return rc;
}

/* ---- locking ------------------------------------------------------------ */

/* In-place writes made since the last exclusive hold are the running
 * epoch's. */
static void take_inplace_writes(struct nvfile *f, uint64_t writes)
{
    if (writes) {
        f->dirty = true;
        f->writes += writes;
    }
}

void nvfile_lock(struct nvfile *f, bool *contended)
{
    take_inplace_writes(f, nvlock_exclusive(&f->lock, contended));
}

bool nvfile_trylock(struct nvfile *f)
{
    uint64_t writes;
    if (!nvlock_try_exclusive(&f->lock, &writes))
        return false;
    take_inplace_writes(f, writes);
    return true;
}

/* ---- reading ------------------------------------------------------------ */

/* Where the bytes known to be zero begin (see nvfile.h): past the
 * library's own writes, unless the program maps the file; its stores can
 * land on any byte of the real file, now or once the file grows, so then
 * no byte is known to be zero. */
static uint64_t zeros_from(const struct nvfile *f)
{
    return f->mapped_by_program ? UINT64_MAX : f->zero_from;
}

/* Copies home bytes. Chunks not known to have blocks may hold holes, and a
 * load from a hole would allocate a page (tmpfs does): those are read
 * through the kernel, which reads holes as zeros for free. */
static void copy_home(struct nvfile *f, char *dst, uint64_t off, uint64_t n)
{
    while (n > 0) {
        uint64_t piece = STORAGE_CHUNK - (off & (STORAGE_CHUNK - 1));
        if (piece > n)
            piece = n;
        if (off + piece <= f->alloc_prefix || chunk_known(f, off / STORAGE_CHUNK)) {
            memcpy(dst, f->map.base + off, piece);
        } else {
            long got = sys_pread(f->fd, dst, piece, (off_t)off);
            if (got < 0)
                got = 0;
            memset(dst + got, 0, piece - (uint64_t)got);
        }
        dst += piece;
        off += piece;
        n -= piece;
    }
}

/* Copies [off, off+n) as the program sees it: log records first, then home,
 * zeros where bytes are known to be zero. */
static void copy_out(struct nvfile *f, char *dst, uint64_t off, uint64_t n)
{
    uint64_t zero = zeros_from(f);
    while (n > 0) {
        uint64_t chunk = n;
        if (off >= zero) {
            memset(dst, 0, n);
            return;
        }
        if (off + chunk > zero)
            chunk = zero - off;
        if (f->index.redo_live) {
            struct nvidx_region *r = nvidx_region(&f->index, off, false);
            if (r) {
                struct nvidx_entry *e = nvidx_entry_at(r, off);
                uint64_t bs = (uint64_t)1 << r->shift;
                uint64_t in_block = off & (bs - 1);
                if (chunk > bs - in_block)
                    chunk = bs - in_block;
                if (e->record && e->kind == NVLOG_REDO) {
                    memcpy(dst, nvlog_data(&f->log, e->record) + in_block, chunk);
                    goto next;
                }
            } else {
                uint64_t left = NVIDX_REGION_SIZE - (off & (NVIDX_REGION_SIZE - 1));
                if (chunk > left)
                    chunk = left;
            }
        }
        copy_home(f, dst, off, chunk);
    next:
        dst += chunk;
        off += chunk;
        n -= chunk;
    }
}

size_t nvfile_read(struct nvfile *f, void *buf, size_t len, uint64_t off)
{
    if (off >= f->size)
        return 0;
    if (len > f->size - off)
        len = (size_t)(f->size - off);
    uint64_t held = nvlock_range(&f->lock, off, off + len, false);
    copy_out(f, buf, off, len);
    nvlock_unrange(&f->lock, held);
    /* A count for the undo/redo policy, kept without a locked add: readers
     * racing may lose one. */
    __atomic_store_n(&f->reads, __atomic_load_n(&f->reads, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
    return len;
}

/* ---- writing ------------------------------------------------------------ */

/* A block that the write must log before it changes. */
struct logged_block {
    struct nvidx_region *region;
    struct nvidx_entry *entry;
    uint64_t start, len; /* the block, clamped to the real file */
    uint64_t span;       /* bytes of the block */
    bool covered;        /* the write replaces every byte of it */
    struct nvlog_rec rec;
    uint32_t data_checksum; /* of an undo record's data */
};

/* Does the block [start, start+span) with entry e need a record now? */
static bool needs_record(const struct nvfile *f, const struct nvidx_entry *e)
{
#if NVMMIO_MUTANT == 12 /* mutant 12: a later pre-image replaces the epoch's first */
    if (f->policy == NVLOG_UNDO)
        return true;
#endif
    return !(e->record && e->kind == f->policy && e->epoch == f->epoch);
}

/* Is the block logged at all in this epoch (as opposed to written home)? */
static bool block_is_logged(const struct nvfile *f, uint64_t start, const struct nvidx_entry *e)
{
    if (start < f->committed_size)
        return true;
    return e->record && e->kind == NVLOG_REDO;
}

/* Walks the blocks of [off, end) that are logged, calling fn for each. */
typedef int (*block_fn)(struct nvfile *f, struct nvidx_region *r, struct nvidx_entry *e,
                        uint64_t start, uint64_t span, void *arg);

static int for_logged_blocks(struct nvfile *f, uint64_t off, uint64_t end, unsigned want_shift,
                             block_fn fn, void *arg)
{
    while (off < end) {
        bool may_log = off < f->committed_size || f->index.redo_live;
        struct nvidx_region *r = may_log ? nvidx_region(&f->index, off, true) : NULL;
        if (may_log && !r)
            return -ENOMEM;
        if (!r) {
            off = round_down(off, NVIDX_REGION_SIZE) + NVIDX_REGION_SIZE;
            continue;
        }
        unsigned shift = nvidx_region_shift(r, f->epoch, want_shift);
        uint64_t span = (uint64_t)1 << shift;
        uint64_t start = round_down(off, span);
        struct nvidx_entry *e = nvidx_entry_at(r, start);
        if (block_is_logged(f, start, e)) {
            int rc = fn(f, r, e, start, span, arg);
            if (rc)
                return rc;
        }
        off = start + span;
    }
    return 0;
}

#define PLAN_ON_STACK 8

struct plan {
    struct logged_block *blocks; /* `local` until it outgrows it */
    size_t n, cap;
    uint64_t bytes;
    uint64_t off, end; /* the write */
    struct logged_block local[PLAN_ON_STACK];
};

static int plan_block(struct nvfile *f, struct nvidx_region *r, struct nvidx_entry *e,
                      uint64_t start, uint64_t span, void *arg)
{
    struct plan *p = arg;
    if (!needs_record(f, e))
        return 0;
    if (p->n == p->cap) {
        size_t cap = 2 * p->cap;
        struct logged_block *b =
            p->blocks == p->local ? malloc(cap * sizeof(*b)) : realloc(p->blocks, cap * sizeof(*b));
        if (!b)
            return -ENOMEM;
        if (p->blocks == p->local)
            memcpy(b, p->local, sizeof(p->local));
        p->blocks = b;
        p->cap = cap;
    }
    uint64_t len = span;
    if (f->policy == NVLOG_UNDO)
        len = start >= f->real_size ? 0 : start + span > f->real_size ? f->real_size - start : span;
    bool covered = p->off <= start && start + span <= p->end;
    p->blocks[p->n++] = (struct logged_block){r, e, start, len, span, covered, {0, 0}, 0};
    p->bytes += nvlog_record_span(len);
    return 0;
}

/* The block's current contents as the program sees them (a redo record of
 * an earlier epoch, or home), up to the real size; zeros beyond. */
static void snapshot_block(struct nvfile *f, const struct logged_block *b, char *dst)
{
    uint64_t home = b->start >= f->real_size            ? 0
                    : b->start + b->span > f->real_size ? f->real_size - b->start
                                                        : b->span;
    if (b->entry->record && b->entry->kind == NVLOG_REDO) {
        memcpy(dst, nvlog_data(&f->log, b->entry->record), b->span);
        return;
    }
    memcpy(dst, f->map.base + b->start, home);
    memset(dst + home, 0, b->span - home);
}

/* Writes the records of a plan: undo records are fenced twice (data, then
 * headers) before anything changes home; redo records need no fence until
 * the commit, which also seals their data checksums (their data changes
 * until then). A failure takes the plan's records back. */
static int write_records(struct nvfile *f, struct plan *p)
{
    uint64_t tail = f->log.tail, next_index = f->log.next_index;
    for (size_t i = 0; i < p->n; i++) {
        struct logged_block *b = &p->blocks[i];
        b->rec = nvlog_alloc(&f->log, b->len);
        if (f->policy == NVLOG_UNDO) {
            pm_copy(&f->log.map, b->rec.off + sizeof(struct nvlog_record), f->map.base + b->start,
                    b->len);
            b->data_checksum = nv_crc32c(0, f->map.base + b->start, b->len);
        } else if (!b->covered) { /* a covered block is written whole below */
            char *dst = nvlog_data(&f->log, b->rec.off);
            snapshot_block(f, b, dst);
#if NVMMIO_MUTANT != 1 /* mutant 1: the log data is not flushed */
            pm_flush(&f->log.map, b->rec.off + sizeof(struct nvlog_record), b->len);
#endif
        }
    }
    if (f->policy == NVLOG_UNDO && p->n) {
        int rc = pm_drain(&f->log.map);
        if (rc < 0) {
            f->log.tail = tail;
            f->log.next_index = next_index;
            return rc;
        }
    }
    for (size_t i = 0; i < p->n; i++) {
        struct logged_block *b = &p->blocks[i];
        nvlog_seal(&f->log, b->rec, f->policy, f->epoch, b->start, b->len, b->data_checksum);
        if (f->policy == NVLOG_UNDO)
            nvidx_set_undo(&f->index, b->region, b->entry, b->rec.off, f->epoch);
        else
            nvidx_set_redo(&f->index, b->region, b->entry, b->rec.off, f->epoch);
    }
    if (f->policy == NVLOG_UNDO && p->n)
        return pm_drain(&f->log.map);
    return 0;
}

struct put_ctx {
    const char *src; /* NULL: zeros */
    uint64_t off, end;
    uint64_t home_from; /* bytes before this went to the log */
};

static void put_bytes(struct pm_map *m, uint64_t at, const char *src, uint64_t n)
{
    if (src)
        pm_copy(m, at, src, n);
    else
        pm_fill(m, at, 0, n);
}

/* Redo: the part of the write that falls in a logged block goes to its
 * record; every other byte goes home. */
static int put_redo_block(struct nvfile *f, struct nvidx_region *r, struct nvidx_entry *e,
                          uint64_t start, uint64_t span, void *arg)
{
    (void)r;
    struct put_ctx *c = arg;
    uint64_t lo = start > c->off ? start : c->off;
    uint64_t hi = start + span < c->end ? start + span : c->end;
    if (lo > c->home_from)
        put_bytes(&f->map, c->home_from, c->src ? c->src + (c->home_from - c->off) : NULL,
                  lo - c->home_from);
    const char *src = c->src ? c->src + (lo - c->off) : NULL;
    put_bytes(&f->log.map, e->record + sizeof(struct nvlog_record) + (lo - start), src, hi - lo);
    /* The record's data checksum is sealed at the commit: taken from the
     * program's buffer, still in cache, when this write replaced the whole
     * block; read back from the record otherwise. */
    e->data_known = src && lo == start && hi == start + span;
    if (e->data_known)
        e->data_checksum = nv_crc32c(0, src, span);
    c->home_from = hi;
    return 0;
}

/* Places the bytes of [off, end) once every block they need logged has its
 * record: in place under undo; under redo into the blocks' records, and
 * home where no block is logged. */
static void put_data(struct nvfile *f, const char *src, uint64_t off, uint64_t end, unsigned want)
{
    if (f->policy == NVLOG_UNDO || !f->index.redo_live) {
        put_bytes(&f->map, off, src, end - off);
        return;
    }
    struct put_ctx c = {src, off, end, off};
    for_logged_blocks(f, off, end, want, put_redo_block, &c);
    if (c.home_from < end)
        put_bytes(&f->map, c.home_from, src ? src + (c.home_from - off) : NULL, end - c.home_from);
}

static long write_range(struct nvfile *f, const char *src, uint64_t off, uint64_t len)
{
    uint64_t end = off + len;
    unsigned want = nvidx_shift_for(len);
    int rc = ensure_log(f);
    if (rc == 0)
        rc = ensure_storage(f, off, end);
    if (rc < 0)
        return rc;
    struct plan p;
    p.blocks = p.local;
    p.n = 0;
    p.cap = PLAN_ON_STACK;
    p.bytes = 0;
    p.off = off;
    p.end = end;
    rc = for_logged_blocks(f, off, end, want, plan_block, &p);
    if (rc == 0 && p.n) {
        /* Blocks logged whole must have storage too (they go home later). */
        uint64_t lo = p.blocks[0].start, hi = p.blocks[p.n - 1].start + p.blocks[p.n - 1].span;
        if (hi > f->real_size)
            hi = f->real_size;
        if (lo < hi)
            rc = ensure_storage(f, lo, hi);
    }
    if (rc == 0)
        rc = nvlog_reserve(&f->log, p.bytes);
    if (rc == 0)
        rc = write_records(f, &p);
    if (p.blocks != p.local)
        free(p.blocks);
    if (rc < 0)
        return rc;
    put_data(f, src, off, end, want);
    if (end > f->zero_from)
        f->zero_from = end;
    f->dirty = true;
    return (long)len;
}

/* Zeroes [a, b) through the log where it holds bytes: data extents of the
 * real file, and blocks whose bytes live in redo records. Holes are zero
 * already, so a gap over a sparse region costs nothing. */
static int zero_logged(struct nvfile *f, uint64_t a, uint64_t b)
{
    for (uint64_t off = a; off < b;) {
        long data = sys_lseek(f->fd, (off_t)off, SEEK_DATA);
        if (data < 0 || (uint64_t)data >= b)
            break;
        long hole = sys_lseek(f->fd, data, SEEK_HOLE);
        uint64_t hi = hole < 0 || (uint64_t)hole > b ? b : (uint64_t)hole;
        long rc = write_range(f, NULL, (uint64_t)data, hi - (uint64_t)data);
        if (rc < 0)
            return (int)rc;
        off = hi;
    }
    for (struct nvidx_region *r = f->index.regions; r && f->index.redo_live; r = r->next_live) {
        if (!r->redo_live || r->base >= b || r->base + NVIDX_REGION_SIZE <= a)
            continue;
        uint64_t span = (uint64_t)1 << r->shift;
        for (uint64_t blk = r->base; blk < r->base + NVIDX_REGION_SIZE; blk += span) {
            struct nvidx_entry *e = nvidx_entry_at(r, blk);
            uint64_t lo = blk > a ? blk : a, hi = blk + span < b ? blk + span : b;
            if (lo < hi && e->record && e->kind == NVLOG_REDO) {
                long rc = write_range(f, NULL, lo, hi - lo);
                if (rc < 0)
                    return (int)rc;
            }
        }
    }
    return 0;
}

/* Zeroes [a, b), which lies past the committed size and in no redo block:
 * a crash truncates it away, so its blocks are simply given back. */
static int zero_unlogged(struct nvfile *f, uint64_t a, uint64_t b)
{
    uint64_t pa = round_up(a, PAGE), pb = round_down(b, PAGE);
    if (pa >= pb)
        return zero_logged(f, a, b);
    int rc = zero_logged(f, a, pa);
    if (rc == 0)
        rc = zero_logged(f, pb, b);
    if (rc == 0) {
        layout_change_begin(f);
        rc = sys_fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)pa,
                           (off_t)(pb - pa));
        layout_change_end(f);
    }
    if (rc == -EOPNOTSUPP)
        return zero_logged(f, pa, pb);
    forget_chunk_range(f, pa, pb);
    if (f->alloc_prefix > pa)
        set_alloc_prefix(f, pa);
    return rc;
}

/* Zeroes [a, b) of the file as the program sees it. Below the committed
 * size (rounded to whole index regions) and in redo blocks the old bytes are
 * logged first; beyond, blocks are given back. */
static int zero_range(struct nvfile *f, uint64_t a, uint64_t b)
{
    if (b > zeros_from(f))
        b = zeros_from(f);
    if (a >= b)
        return 0;
    uint64_t logged_end = round_up(f->committed_size, NVIDX_REGION_SIZE);
    if (f->index.redo_live || logged_end > b)
        logged_end = b;
    int rc = 0;
    if (a < logged_end)
        rc = zero_logged(f, a, logged_end);
    if (rc == 0 && logged_end < b)
        rc = zero_unlogged(f, a > logged_end ? a : logged_end, b);
    return rc;
}

/* Bytes between the size and a write or truncation beyond it must read as
 * zero; some of them may still hold bytes from before a truncation. */
static int zero_gap(struct nvfile *f, uint64_t to)
{
    return zero_range(f, f->size, to);
}

/* The rest of the page that holds the end of the file must read as zero as
 * well: a mapping of the file shows it, as the kernel keeps it. */
static int zero_page_tail(struct nvfile *f, uint64_t size)
{
    return zero_range(f, size, round_up(size, PAGE));
}

long nvfile_write(struct nvfile *f, const void *buf, size_t len, uint64_t off)
{
    if (len == 0)
        return 0;
    if (off >= NVFILE_MAX_SIZE || len > NVFILE_MAX_SIZE - off)
        return -EFBIG;
    if (!f->writable)
        return -EBADF;
    int rc = zero_gap(f, off);
    if (rc == 0 && off + len > f->size)
        rc = zero_page_tail(f, off + len);
    if (rc < 0)
        return rc;
    long n = write_range(f, buf, off, len);
    if (n < 0)
        return n;
    if (off + len > f->size)
        f->size = off + len;
    __atomic_add_fetch(&f->writes, 1, __ATOMIC_RELAXED);
    return n;
}

/* Can [off, end) be written with nothing but bytes changing? Every logged
 * block must have its record of the running epoch already (so the walk
 * that places the bytes finds every region and changes no block size),
 * and the storage, the size and the zeros beyond must stay as they are. */
static bool bytes_only(struct nvfile *f, uint64_t off, uint64_t end, unsigned want)
{
    if (f->map.kind == PM_KIND_MSYNC || !nvlog_exists(&f->log) || end > f->size ||
        end > zeros_from(f) || !storage_known(f, off, end))
        return false;
    while (off < end) {
        bool may_log = off < f->committed_size || f->index.redo_live;
        struct nvidx_region *r = may_log ? nvidx_region(&f->index, off, false) : NULL;
        if (may_log && !r)
            return false;
        if (!r) {
            off = round_down(off, NVIDX_REGION_SIZE) + NVIDX_REGION_SIZE;
            continue;
        }
        if (r->redo_live == 0 && r->last_epoch < f->epoch && r->shift != want)
            return false;
        uint64_t span = (uint64_t)1 << r->shift;
        uint64_t start = round_down(off, span);
        struct nvidx_entry *e = nvidx_entry_at(r, start);
        if (block_is_logged(f, start, e) && needs_record(f, e))
            return false;
        off = start + span;
    }
    return true;
}

long nvfile_write_in_place(struct nvfile *f, const void *buf, size_t len, uint64_t off)
{
    if (len == 0 || !f->writable || off >= NVFILE_MAX_SIZE || len > NVFILE_MAX_SIZE - off)
        return -EAGAIN;
    int lane;
    if (!nvlock_inplace_begin(&f->lock, &lane))
        return -EAGAIN;
    uint64_t end = off + len;
    unsigned want = nvidx_shift_for(len);
    uint64_t held = nvlock_range(&f->lock, off, end, true);
    long rc = -EAGAIN;
    if (bytes_only(f, off, end, want)) {
        put_data(f, buf, off, end, want);
        rc = (long)len;
    }
    nvlock_unrange(&f->lock, held);
    nvlock_inplace_end(&f->lock, lane, rc > 0);
    return rc;
}

int nvfile_truncate(struct nvfile *f, uint64_t len)
{
    if (len > NVFILE_MAX_SIZE)
        return -EFBIG;
    if (!f->writable)
        return -EINVAL;
    if (len == f->size)
        return 0;
    int rc = ensure_log(f);
    if (rc < 0)
        return rc;
    /* What a truncation cuts is zeroed when the file grows over it again
     * (zero_gap, through the end of the new last page), but the rest of the
     * new last page, which a mapping shows, at once. */
    rc = len < f->size ? zero_page_tail(f, len) : zero_gap(f, round_up(len, PAGE));
    if (rc == 0 && len > f->real_size) {
        rc = ensure_reserve(f, len);
        if (rc == 0)
            rc = sys_ftruncate(f->fd, (off_t)len);
        if (rc == 0)
            f->real_size = len;
    }
    if (rc < 0)
        return rc;
    f->size = len;
    f->dirty = true;
    return 0;
}

/* The library zeroes ranges itself, but answers as the file system would:
 * tmpfs, for one, has no FALLOC_FL_ZERO_RANGE. Asked once, past the end
 * of the real file where nothing can be harmed. */
static int zero_range_supported(struct nvfile *f)
{
    if (f->zero_range_answer == 0) {
        int rc = sys_fallocate(f->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                               (off_t)round_up(f->real_size, PAGE), PAGE);
        f->zero_range_answer = rc == -EOPNOTSUPP ? rc : 1;
    }
    return f->zero_range_answer < 0 ? f->zero_range_answer : 0;
}

int nvfile_allocate(struct nvfile *f, int mode, uint64_t off, uint64_t len)
{
    uint64_t end = off + len;
    if (end > NVFILE_MAX_SIZE || end < off)
        return -EFBIG;
    if (!f->writable)
        return -EBADF;
    bool keep_size = mode & FALLOC_FL_KEEP_SIZE;
    int rc = ensure_log(f);
    switch (mode & ~FALLOC_FL_KEEP_SIZE) {
    case 0:
        rc = rc ? rc : ensure_storage(f, off, end);
        break;
    case FALLOC_FL_PUNCH_HOLE:
        if (!keep_size)
            return -EOPNOTSUPP; /* as the kernel: punching needs KEEP_SIZE */
        /* fall through */
    case FALLOC_FL_ZERO_RANGE:
        if (!rc && !(mode & FALLOC_FL_PUNCH_HOLE))
            rc = zero_range_supported(f);
        rc = rc ? rc : zero_range(f, off, end < f->size ? end : f->size);
        break;
    default:
        return -EOPNOTSUPP;
    }
    if (rc == 0 && !keep_size && end > f->size)
        rc = nvfile_truncate(f, end);
    if (rc == 0)
        f->dirty = true;
    return rc;
}

int nvfile_share_mapping(struct nvfile *f)
{
    f->mapped_by_program = true;
    int rc = nvfile_commit(f);
    if (rc == 0)
        rc = nvfile_checkpoint(f);
    /* Stores through the program's mapping go unseen: no page is the
     * library's to give back from now on. */
    if (rc == 0)
        rc = nvfile_publish(f);
    nvspare_clear(&f->spare);
    f->tail_lo = f->alloc_prefix;
    /* The epoch just begun has no record yet, so its policy may change. */
    f->policy = NVLOG_UNDO;
    return rc;
}

/* ---- durability --------------------------------------------------------- */

int nvfile_commit(struct nvfile *f)
{
    if (!f->dirty)
        return 0;
    /* The running epoch's records are all of its policy: an undo epoch
     * sealed each one as it wrote it, and has nothing to walk here. */
    if (f->policy == NVLOG_REDO && nvlog_exists(&f->log))
        nvlog_seal_redo_data(&f->log, &f->index);
#if NVMMIO_MUTANT == 2 /* mutant 2: no fence before the commit */
    int rc = 0;
#else
    int rc = pm_drain(&f->map);
    if (rc == 0)
        rc = pm_drain(&f->log.map);
#endif
    if (rc < 0)
        return rc;
    uint64_t applied = f->log.state.applied_epoch;
    /* An undo epoch leaves nothing live once committed, unless redo blocks
     * of an earlier epoch still wait to go home. */
    bool reset = f->policy == NVLOG_UNDO && applied == f->log.state.committed_epoch;
    rc = nvlog_commit(&f->log, f->epoch, reset ? f->epoch : applied, f->size, reset);
    if (rc < 0)
        return rc;
    f->committed_size = f->size;
    f->dirty = false;
    int ended = f->policy;
    f->epoch++;
    f->policy = f->mapped_by_program
                    ? NVLOG_UNDO
                    : nvpolicy_next(nv_config()->policy, f->policy, f->reads, f->writes);
    f->reads = f->writes = 0;
    if (ended == NVLOG_REDO) {
        /* Undo writes in place, so redo blocks must be home before it runs;
         * and a log that grew large is emptied now rather than later. */
        if (f->policy == NVLOG_UNDO || nvlog_used(&f->log) > CHECKPOINT_BATCH)
            return nvfile_checkpoint(f);
        /* Small logs wait for the next commit or the close: waking the
         * thread costs more than they hold. Larger ones go home in the
         * background once the file is left idle. */
        if (nvlog_used(&f->log) > CHECKPOINT_BACKGROUND)
            nvhelper_checkpoint(f);
    }
    return 0;
}

/* The checkpoint stores into home blocks, and a store that maps a page in
 * is a change of the file to the kernel (on tmpfs its mtime moves): the
 * blocks it will write are mapped for reading first, which is not. */
static void prefault_redo_home(struct nvfile *f)
{
    uint64_t run_lo = 0, run_hi = 0;
    for (struct nvidx_region *r = f->index.regions; r && f->index.redo_live; r = r->next_live) {
        uint64_t span = (uint64_t)1 << r->shift;
        for (uint64_t blk = r->base;
             r->redo_live && blk < r->base + NVIDX_REGION_SIZE && blk < f->real_size; blk += span) {
            struct nvidx_entry *e = nvidx_entry_at(r, blk);
            if (!e->record || e->kind != NVLOG_REDO)
                continue;
            uint64_t hi = blk + span < f->real_size ? blk + span : f->real_size;
            if (blk != run_hi) {
                if (run_hi > run_lo)
                    pm_prefault(&f->map, run_lo, run_hi - run_lo);
                run_lo = blk;
            }
            run_hi = hi;
        }
    }
    if (run_hi > run_lo)
        pm_prefault(&f->map, run_lo, run_hi - run_lo);
}

int nvfile_checkpoint(struct nvfile *f)
{
    if (!nvlog_exists(&f->log))
        return 0;
    /* While the program's own changes wait for publication, moving the
     * times is no harm: the publication moves them anyway. */
    if (!nvfile_stale(f) && f->log.state.applied_epoch < f->log.state.committed_epoch)
        prefault_redo_home(f);
    long n = nvlog_checkpoint(&f->log, &f->map, f->real_size, &f->index);
    return n < 0 ? (int)n : 0;
}

/* ---- publication: times and space as the kernel would show them --------- */

struct given_back {
    struct nvfile *f;
    uint64_t lowest; /* the lowest page punched */
    int calls;       /* kernel calls that changed the file */
};

static int punch_spare(void *arg, uint64_t lo, uint64_t hi)
{
    struct given_back *g = arg;
    int rc = sys_fallocate(g->f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)lo,
                           (off_t)(hi - lo));
    if (rc == -EOPNOTSUPP) /* a file system that cannot punch keeps them */
        return 0;
    if (rc < 0)
        return rc;
    forget_chunk_range(g->f, lo, hi);
    g->lowest = lo < g->lowest ? lo : g->lowest;
    g->calls++;
    return 0;
}

/* Trims the real file to keep and punches every page below it that the
 * library reserved and the program never wrote. Returns the number of
 * kernel calls that changed the file (each moved its times), or a negative
 * errno. */
static int give_back(struct nvfile *f, uint64_t keep)
{
    struct given_back g = {f, UINT64_MAX, 0};
    layout_change_begin(f);
    int rc = f->real_size > keep ? sys_ftruncate(f->fd, (off_t)keep) : 0;
    if (rc == 0 && f->real_size > keep) {
        g.calls++;
        f->real_size = keep;
        /* zero_from stays: redo records not home yet may hold bytes past
         * keep, which must still be zeroed if the file grows back. */
        f->regrow_from = keep;
        forget_chunk_range(f, keep, UINT64_MAX - STORAGE_CHUNK);
        if (f->alloc_prefix > keep)
            set_alloc_prefix(f, round_down(keep, PAGE));
    }
    /* What is left of the tail lies below keep now. */
    uint64_t end = round_up(keep, PAGE);
    if (rc == 0 && f->tail_lo < f->alloc_prefix)
        rc = punch_spare(&g, f->tail_lo, f->alloc_prefix);
    if (rc == 0) {
        f->tail_lo = f->alloc_prefix;
        rc = nvspare_drain(&f->spare, end, punch_spare, &g);
    }
    if (g.lowest < f->alloc_prefix)
        set_alloc_prefix(f, g.lowest);
    layout_change_end(f);
    return rc < 0 ? rc : g.calls;
}

static bool space_to_give_back(const struct nvfile *f, uint64_t keep)
{
    return f->real_size > keep || f->tail_lo < f->alloc_prefix || !nvspare_empty(&f->spare);
}

/* mtime and ctime to now, which is also what tells inotify watchers. A
 * file whose owner this process is not may refuse that (EPERM): one byte
 * written back as it is does the same then. */
static void touch_times(struct nvfile *f)
{
    const struct timespec now[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    if (sys_utimensat(f->fd, NULL, now, 0) != -EPERM || f->mapped_by_program || f->size == 0 ||
        f->alloc_prefix == 0)
        return;
    sys_pwrite(f->fd, f->map.base, 1, 0);
}

/* The times to put back after the library's own calls, which move mtime
 * and ctime but never atime. */
static bool read_times(struct nvfile *f, struct timespec t[2])
{
    struct statx stx;
    if (sys_statx(f->fd, "", AT_EMPTY_PATH, STATX_MTIME, &stx) < 0)
        return false;
    t[0] = (struct timespec){0, UTIME_OMIT};
    t[1] = (struct timespec){stx.stx_mtime.tv_sec, stx.stx_mtime.tv_nsec};
    return true;
}

int nvfile_publish(struct nvfile *f)
{
    bool stale = nvfile_stale(f);
    uint64_t keep = f->size > f->committed_size ? f->size : f->committed_size;
    /* Unchanged since the last publication, a file may still hold bytes
     * cut below its committed size, free once a commit moved it: giving
     * them back then puts mtime back as it was, and only ctime shows it. */
    if (!f->writable || (!stale && !space_to_give_back(f, keep)))
        return 0;
    struct timespec saved[2];
    bool restore = !stale && read_times(f, saved);
    int calls = give_back(f, keep);
    if (calls < 0)
        return calls;
    if (stale && calls == 0)
        touch_times(f);
    else if (restore && calls > 0)
        sys_utimensat(f->fd, NULL, saved, 0);
    __atomic_store_n(&f->times_stale, false, __ATOMIC_RELAXED);
    clock_gettime(CLOCK_MONOTONIC_COARSE, &f->published);
    return 0;
}

int nvfile_publish_lazily(struct nvfile *f)
{
    struct timespec now;
    if (nvfile_stale(f)) {
        clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
        if (now.tv_sec == f->published.tv_sec && now.tv_nsec == f->published.tv_nsec)
            return 0;
    }
    return nvfile_publish(f);
}

int nvfile_settle(struct nvfile *f)
{
    if (!f->writable)
        return 0;
    int rc = nvfile_commit(f);
#if NVMMIO_MUTANT == 7 /* mutant 7: the log is freed before the checkpoint is fenced */
    char early[PATH_MAX];
    snprintf(early, sizeof(early), "%s/%s", f->log_dir, f->log_name);
    if (rc == 0 && nvlog_exists(&f->log))
        sys_unlinkat(AT_FDCWD, early, 0);
#endif
    if (rc == 0)
        rc = nvfile_checkpoint(f);
    if (rc < 0)
        return rc;
    uint64_t real_size = f->real_size;
    rc = nvfile_publish(f);
    /* The trimmed size must be durable before the log that records the
     * size goes away. */
    if (rc == 0 && f->real_size != real_size)
        rc = sys_fsync(f->fd);
    if (rc < 0)
        return rc;
    if (f->zero_from > f->size)
        f->zero_from = f->size;
    rc = remove_log(f);
    /* The index speaks of the removed log's epochs. */
    nvidx_destroy(&f->index);
    nvidx_init(&f->index);
    return rc;
}
