/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * storage.c - the blocks behind a managed file: what is known to be
 * stored, growing the real file, storage made ready ahead of appends by
 * the helper thread, and the pages the library reserved and the program
 * never wrote (see storage.h).
 */
#include "core/storage.h"

#include <errno.h>
#include <linux/falloc.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/config.h"
#include "core/helper.h"
#include "core/nvfile_internal.h"
#include "log/recovery.h"
#include "os/pages.h"
#include "os/sys.h"

#define MIN_GROW_STEP ((uint64_t)16 << 10)
#define MAX_GROW_STEP ((uint64_t)64 << 20)
/* A file appended past AHEAD_FROM, on forced pmem, gets storage prepared
 * ahead of its end by the helper thread: the writer posts a window of a
 * quarter of the size (AHEAD_STEP to AHEAD) past what it needs, and the
 * thread allocates it by faults, AHEAD_PIECE at a time from the top, while
 * the writer faults in what it reaches first, AHEAD_WRITER_STEP ahead: the
 * two never fault the same pages. */
#define AHEAD_FROM        ((uint64_t)1 << 20)
#define AHEAD             ((uint64_t)8 << 20)
#define AHEAD_STEP        ((uint64_t)1 << 20)
#define AHEAD_PIECE       ((uint64_t)64 << 10)
#define AHEAD_WRITER_STEP ((uint64_t)64 << 10)
/* Up to this size a file grows by what its appends need, no more, where a
 * step ahead would mostly be trimmed again at its next durability point (a
 * journal made or cut per transaction): on a medium of huge pages, where a
 * trim inside a huge page splits it, so the journal would take a fresh huge
 * page each time, cleared, rather than the one the last gave back whole;
 * and for appends by the kernel's write, where the step saves only a few
 * records of the watch and the trim costs more. */
#define GROW_EXACT ((uint64_t)64 << 10)

void nvstorage_init(struct nvstorage *s, long blksize)
{
    memset(s, 0, sizeof(*s));
    s->small_pages = (uint64_t)blksize <= PAGE;
    pthread_mutex_init(&s->layout_lock, NULL);
    pthread_mutex_init(&s->ahead_lock, NULL);
}

void nvstorage_destroy(struct nvstorage *s)
{
    pthread_mutex_destroy(&s->layout_lock);
    pthread_mutex_destroy(&s->ahead_lock);
    nv_pages_free(s->chunks, s->chunk_bits / 8);
    nvspare_destroy(&s->spare);
}

/* Anything that moves the mapping or takes blocks away runs between these
 * (write lock held): it waits out the helper thread's work ahead of the
 * end, which then sees the generation change and drops what it did. */
void nvstorage_layout_begin(struct nvfile *f)
{
    pthread_mutex_lock(&f->store.layout_lock);
    pthread_mutex_lock(&f->store.ahead_lock);
    f->store.ahead.gen++;
    f->store.ahead.lo = f->store.ahead.hi = f->store.ahead.floor = 0;
    pthread_mutex_unlock(&f->store.ahead_lock);
}

void nvstorage_layout_end(struct nvfile *f)
{
    pthread_mutex_unlock(&f->store.layout_lock);
}

int nvstorage_reserve_map(struct nvfile *f, uint64_t end)
{
    if (end <= f->map.reserved)
        return 0;
    /* A new mapping has no page mapped in: the watch waits for them to be
     * mapped again (nvstorage_map_in). */
    nvlog_watch_suspend(&f->journal.log, false);
    nvstorage_layout_begin(f);
    int rc = pm_map_grow(f->fd, nvfile_reserve_for(end), &f->map);
    if (rc == 0)
        f->store.mapped_to = 0;
    nvstorage_layout_end(f);
    return rc;
}

/* ---- storage: which 2 MiB chunks have blocks behind them ---------------- */

/* The pages from lo on just became known to have blocks. Those below
 * mapped_to may be unmapped still (nvstorage_map_in passes over what is
 * not known yet), and a store that maps one in moves the file's mtime
 * under a watch that vouches for it: they are mapped in with the next. */
static void newly_known(struct nvfile *f, uint64_t lo)
{
    lo = round_down(lo, PAGE);
    if (lo < f->store.mapped_to)
        f->store.mapped_to = lo;
}

static bool chunk_known(const struct nvfile *f, uint64_t c)
{
    return c < f->store.chunk_bits && (f->store.chunks[c / 64] >> (c % 64) & 1);
}

/* Records that chunks [c0, c1) have blocks; `map` also maps them in (the
 * pages of appends are mapped already). */
static int mark_chunks(struct nvfile *f, uint64_t c0, uint64_t c1, bool map)
{
    if (c1 > f->store.chunk_bits) {
        uint64_t bits = f->store.chunk_bits ? f->store.chunk_bits : 64;
        while (bits < c1)
            bits *= 2;
        uint64_t *n = nv_pages_realloc(f->store.chunks, f->store.chunk_bits / 8, bits / 8);
        if (!n)
            return -ENOMEM;
        memset(n + f->store.chunk_bits / 64, 0, (bits - f->store.chunk_bits) / 8);
        f->store.chunks = n;
        f->store.chunk_bits = bits;
    }
    uint64_t fresh_from = UINT64_MAX, fresh_to = 0;
    for (uint64_t c = c0; c < c1; c++) {
        if (f->store.chunks[c / 64] >> (c % 64) & 1)
            continue;
        f->store.chunks_known++;
        f->store.chunks[c / 64] |= (uint64_t)1 << (c % 64);
        fresh_from = fresh_from < c ? fresh_from : c;
        fresh_to = c + 1;
    }
    if (fresh_to > fresh_from)
        newly_known(f, fresh_from * STORAGE_CHUNK);
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

/* The page that holds the end e of the real file has a block. */
static void set_eof_stored(struct nvfile *f, uint64_t e)
{
    f->store.eof_stored = e;
    newly_known(f, e);
}

/* The real file ends inside the page past the allocated prefix, and that
 * page has a block: [0, real_size) has blocks throughout. */
static bool eof_page_stored(const struct nvfile *f)
{
    uint64_t e = f->store.eof_stored;
    return e == f->real_size && e > f->store.alloc_prefix && e - f->store.alloc_prefix < PAGE;
}

/* Forgets the chunks that [lo, hi) touches (some of their blocks went). */
static void forget_chunk_range(struct nvfile *f, uint64_t lo, uint64_t hi)
{
    if (lo < f->store.eof_stored && hi > round_down(f->store.eof_stored, PAGE))
        f->store.eof_stored = 0;
    uint64_t end = (hi + STORAGE_CHUNK - 1) / STORAGE_CHUNK;
    for (uint64_t c = lo / STORAGE_CHUNK; c < f->store.chunk_bits && c < end; c++) {
        f->store.chunks_known -= f->store.chunks[c / 64] >> (c % 64) & 1;
        f->store.chunks[c / 64] &= ~((uint64_t)1 << (c % 64));
    }
}

void nvstorage_map_in(struct nvfile *f)
{
    uint64_t to = round_up(f->real_size, PAGE);
    uint64_t lo = f->store.mapped_to, hi = lo;
    /* The prefix, with the page that holds the end when it is stored. */
    uint64_t prefix = eof_page_stored(f) ? to : f->store.alloc_prefix;
    /* Runs of what is known to have blocks: the prefix, then whole chunks. */
    for (uint64_t at = lo; at < to;) {
        uint64_t c = at / STORAGE_CHUNK, next = (c + 1) * STORAGE_CHUNK;
        uint64_t end = at < prefix ? prefix : next;
        end = end < to ? end : to;
        if (at < prefix || chunk_known(f, c)) {
            if (at != hi) {
                pm_prefault(&f->map, lo, hi - lo);
                lo = at;
            }
            hi = end;
        }
        at = end;
    }
    pm_prefault(&f->map, lo, hi - lo);
    f->store.mapped_to = f->real_size;
}

bool nvstorage_backed(const struct nvfile *f, uint64_t off, uint64_t end)
{
    return end <= f->store.alloc_prefix || chunk_known(f, off / STORAGE_CHUNK) ||
           (end <= f->real_size && eof_page_stored(f));
}

/* How far an append preallocates: a quarter of what the file has stored,
 * so a sparse file does not reserve much for a small write past its end. */
static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static uint64_t grow_step(const struct nvfile *f)
{
    uint64_t stored = f->store.chunks_known * STORAGE_CHUNK;
    uint64_t base = stored > f->store.alloc_prefix ? stored : f->store.alloc_prefix;
    /* After a trim while open (a publication), steps grow with what was
     * appended since, so a file synced after every few appends does not
     * hand back a large step each time. */
    uint64_t since = f->store.alloc_prefix > f->store.regrow_from
                         ? f->store.alloc_prefix - f->store.regrow_from
                         : 0;
    /* Right after one, no step: the next publication would trim it again. */
    if (f->store.regrow_from && since < base)
        return clamp(since / 4, 0, MAX_GROW_STEP);
    /* A file with nothing stored reserves nothing ahead: most small files
     * never grow again, and a step would be most of their memory. */
    if (stored == 0 && f->store.alloc_prefix == 0)
        return 0;
    return clamp(base / 4, MIN_GROW_STEP, MAX_GROW_STEP);
}

/* The helper thread reads the allocated prefix without taking the lock.
 * The reserved tail stays the end of the prefix: the part of it that the
 * prefix no longer ends with joins the spare pages. */
static void set_alloc_prefix(struct nvfile *f, uint64_t v)
{
    uint64_t t = f->store.tail_lo, p = f->store.alloc_prefix;
    if (t < p && v != p) {
        uint64_t from = v > p ? t : t > v ? t : v; /* raised: all of it; lowered: above v */
        nvspare_add(&f->store.spare, from, p);
    }
    f->store.tail_lo = v > p || t > v ? v : t;
    if (v < p)
        f->store.eof_stored = 0;
    else if (v > p)
        newly_known(f, p);
    f->store.alloc_prefix = v;
    __atomic_store_n(&f->store.append_front, v, __ATOMIC_RELAXED);
}

int nvstorage_found(struct nvfile *f, uint64_t hole)
{
    /* A process serving the file may grow it after its size was read: that
     * size bounds what is known to be there. */
    if (hole > f->real_size)
        hole = f->real_size;
    set_alloc_prefix(f, round_down(hole, PAGE));
    /* No hole before the end: the page that holds an unaligned end has a
     * block, so a rewrite up to the end (a journal rewritten in place)
     * allocates nothing and leaves nothing to trim. */
    if (hole == f->real_size && hole % PAGE)
        set_eof_stored(f, hole);
    if (hole < STORAGE_CHUNK)
        return 0;
    /* Mapped for reading: populating for write would move the file's mtime
     * at a mere open. */
    uint64_t known = round_down(hole, STORAGE_CHUNK);
    int rc = mark_chunks(f, 0, known / STORAGE_CHUNK, false);
    if (rc == 0)
        pm_prefault(&f->map, 0, known < POPULATE_LIMIT ? known : POPULATE_LIMIT);
    return rc;
}

void nvstorage_punched(struct nvfile *f, uint64_t lo, uint64_t hi)
{
    forget_chunk_range(f, lo, hi);
    if (f->store.alloc_prefix > lo)
        set_alloc_prefix(f, lo);
}

void nvstorage_forget_reserved(struct nvfile *f)
{
    nvspare_clear(&f->store.spare);
    f->store.tail_lo = f->store.alloc_prefix;
}

static int append_grew(struct nvfile *f, uint64_t hi)
{
    set_alloc_prefix(f, hi);
    return mark_chunks(f, 0, hi / STORAGE_CHUNK, false);
}

/* The real file grew to size through another process: its blocks up to
 * the first hole are there, so the next append here goes on from their
 * end rather than allocating whole chunks. */
static int took_appended(struct nvfile *f, uint64_t size)
{
    long hole = sys_lseek(f->fd, (off_t)f->store.alloc_prefix, SEEK_HOLE);
    uint64_t end = hole < 0 ? 0 : round_down((uint64_t)hole < size ? (uint64_t)hole : size, PAGE);
    return end > f->store.alloc_prefix ? append_grew(f, end) : 0;
}

int nvstorage_resized_outside(struct nvfile *f, uint64_t size)
{
    nvstorage_layout_begin(f);
    nvstorage_forget_reserved(f);
    f->store.eof_stored = 0;
    int rc = 0;
    if (size < f->real_size)
        nvstorage_punched(f, round_down(size, PAGE), UINT64_MAX - STORAGE_CHUNK);
    else
        rc = took_appended(f, size);
    f->real_size = size;
    f->store.mapped_to = f->store.mapped_to < size ? f->store.mapped_to : size;
    f->store.regrow_from = size;
    nvstorage_layout_end(f);
    return rc < 0 ? rc : nvstorage_reserve_map(f, size);
}

static struct nvstorage_ahead read_window(struct nvfile *f)
{
    pthread_mutex_lock(&f->store.ahead_lock);
    struct nvstorage_ahead w = f->store.ahead;
    pthread_mutex_unlock(&f->store.ahead_lock);
    return w;
}

bool nvstorage_ahead_settled(struct nvfile *f)
{
    struct nvstorage_ahead w = read_window(f);
    return !f->store.kernel_writes &&
           w.floor <= __atomic_load_n(&f->store.append_front, __ATOMIC_RELAXED);
}

/* Write lock held. A new window [alloc_prefix, hi) for the helper thread,
 * the real file extended over it. */
static int post_window(struct nvfile *f, uint64_t need, struct nvstorage_ahead *w)
{
    uint64_t hi = round_up(need + clamp(f->size / 4, AHEAD_STEP, AHEAD), PAGE);
    int rc = nvstorage_reserve_map(f, hi);
    if (rc == 0 && hi > f->real_size)
        rc = sys_ftruncate(f->fd, (off_t)hi);
    if (rc < 0)
        return rc;
    if (hi > f->real_size)
        f->real_size = hi;
    pthread_mutex_lock(&f->store.ahead_lock);
    f->store.ahead.gen++;
    f->store.ahead.lo = f->store.alloc_prefix;
    f->store.ahead.hi = f->store.ahead.floor = hi;
    *w = f->store.ahead;
    pthread_mutex_unlock(&f->store.ahead_lock);
    nvhelper_prepare(f);
    return 0;
}

/* Write lock held. The whole window *w is there: the file takes it, and
 * the next one goes to the thread at once (unless `more` is false), so the
 * thread starts on it while the writer fills the top of this one. A window
 * that cannot be posted is left to the writer's next append past this one. */
static int take_window(struct nvfile *f, struct nvstorage_ahead *w, bool more)
{
    int rc = append_grew(f, w->hi);
    if (rc == 0 && more)
        (void)post_window(f, w->hi, w);
    return rc;
}

/* Write lock held. An append past the allocated prefix, helped by the
 * thread: pages it has allocated are taken as they are, the writer faults
 * in the ones below (which allocates them), and posts a new window when it
 * runs past the current one, unless the kernel's write takes the appends
 * from there (a leg of them, see below). Returns 0, 1 when the caller is
 * to reserve the storage itself, or a negative errno. */
static int append_into_tail(struct nvfile *f, uint64_t end)
{
    uint64_t need = round_up(end, PAGE);
    bool more = f->store.leg != LEG_KERNEL_NEXT && f->store.leg != LEG_KERNEL;
    struct nvstorage_ahead w = read_window(f);
    /* The thread got down to the prefix. */
    if (w.hi > f->store.alloc_prefix && w.floor <= f->store.alloc_prefix) {
        int rc = take_window(f, &w, more);
        if (rc < 0 || need <= f->store.alloc_prefix)
            return rc;
    }
    if (need > w.hi) {
        if (!more)
            return 1;
        int rc = post_window(f, need, &w);
        if (rc < 0)
            return rc;
    }
    /* [floor, hi) is the thread's; below it, the writer's: reaching the
     * floor makes the whole window ready. */
    uint64_t top = need + AHEAD_WRITER_STEP < w.floor ? need + AHEAD_WRITER_STEP : w.floor;
    if (top > f->store.alloc_prefix) {
        int rc = pm_allocate(&f->map, f->store.alloc_prefix, top - f->store.alloc_prefix);
        if (rc < 0)
            return rc;
    }
    return top == w.floor ? take_window(f, &w, more) : append_grew(f, top);
}

/* ---- space the library reserved and the program never wrote ------------ */

/* [off, end) is the program's now (written, or allocated by its fallocate):
 * its pages leave the reserved tail and the spare pages. A write past the
 * start of the tail leaves the pages it skipped spare. */
static void program_takes(struct nvfile *f, uint64_t off, uint64_t end)
{
    if (off < f->store.alloc_prefix && end > f->store.tail_lo) {
        uint64_t skipped = round_down(off, PAGE);
        if (skipped > f->store.tail_lo)
            nvspare_add(&f->store.spare, f->store.tail_lo, skipped);
        uint64_t lo = round_up(end, PAGE);
        f->store.tail_lo = lo < f->store.alloc_prefix ? lo : f->store.alloc_prefix;
    }
    if (!nvspare_empty(&f->store.spare))
        nvspare_take(&f->store.spare, off, end);
}

/* The prefix just grew from `from`, for a write ending at end, over a
 * real file of real_size bytes: the pages past the write, past every byte
 * the file held and past its end before are the library's reservation, its
 * tail. */
static void reserved_ahead(struct nvfile *f, uint64_t from, uint64_t real_size, uint64_t end)
{
    if (f->mapped_by_program || f->store.alloc_prefix <= from)
        return;
    uint64_t lo = end > f->zero_from ? end : f->zero_from;
    lo = round_up(lo > real_size ? lo : real_size, PAGE);
    if (lo < f->store.tail_lo)
        f->store.tail_lo = lo;
}

/* Blocks whose bytes wait in redo records look like holes at home, but a
 * checkpoint will write them there: they are not spare. */
static int take_redo_block(void *arg, uint64_t lo, uint64_t hi)
{
    struct nvfile *f = arg;
    nvspare_take(&f->store.spare, lo, hi);
    return 0;
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
            nvspare_add(&f->store.spare, at, d < hi ? d : hi);
        if (d >= hi || d >= eof)
            break;
        long hole = sys_lseek(f->fd, (off_t)d, SEEK_HOLE);
        if (hole < 0)
            return;
        at = round_up((uint64_t)hole, PAGE);
    }
    if (eof < hi)
        nvspare_add(&f->store.spare, eof > lo ? eof : lo, hi);
    nvspare_take(&f->store.spare, off, end);
    nvjournal_redo_blocks(&f->journal, lo, hi, take_redo_block, f);
}

/* Whether writes into holes get blocks for their own pages only: on a
 * medium of 4 KiB pages a chunk is of no use whole, and reserving one
 * costs 512 pages allocated, cleared and mapped in, then read and punched
 * back at the next publication (random 4 KiB writes into a sparse file
 * took over 3 ms each, the kernel's 4 µs). Not under MAP_SYNC, where each
 * store into a fresh extent commits the file system's journal. */
static bool by_page(const struct nvfile *f)
{
    return f->store.small_pages && f->map.kind != PM_KIND_MAP_SYNC;
}

/* An append past the end of the real file, right after a publication
 * trimmed it, grows it to the byte the append ends at and no further: the
 * next durability point has nothing to trim then, and a program that syncs
 * after every append or two pays one call per append rather than a trim
 * and a regrow. Within the page that holds the end, already stored, only
 * the size moves. */
static int grow_exactly(struct nvfile *f, uint64_t end)
{
    uint64_t lo = f->store.alloc_prefix;
    int rc = eof_page_stored(f) && end <= round_up(f->real_size, PAGE)
                 ? sys_ftruncate(f->fd, (off_t)end)
                 : sys_fallocate(f->fd, 0, (off_t)lo, (off_t)(end - lo));
    if (rc < 0)
        return rc == -EFBIG ? -ENOSPC : rc;
    f->real_size = end;
    rc = append_grew(f, round_down(end, PAGE));
    set_eof_stored(f, end);
    return rc;
}

/* Extends the real file so it holds [off, end): appends take a step ahead
 * so the next ones stay free of system calls (or the helper thread works
 * ahead of them); a write far past the end leaves a hole before it. */
static int grow_real_file(struct nvfile *f, uint64_t off, uint64_t end)
{
    /* An append extends the allocated prefix by pages; a write far past
     * the end allocates whole chunks there and leaves a hole before. A
     * write into the page past the prefix (where a trim to an unaligned
     * size leaves the end of the file) still appends. */
    bool append = off < round_down(f->store.alloc_prefix, PAGE) + PAGE;
    /* Only where faults allocate cheaply: under MAP_SYNC every allocating
     * fault commits the file system's journal, so DAX files keep growing
     * by large fallocate steps. Nor right after a trim (a step below the
     * minimum): the next publication would give the window back. Nor while
     * a file on a medium of huge pages is small (GROW_EXACT). */
    uint64_t step = grow_step(f);
    if (append && end > f->real_size &&
        ((f->store.regrow_from && step < PAGE) || (!f->store.small_pages && end <= GROW_EXACT)))
        return grow_exactly(f, end);
    bool helped = append && end >= AHEAD_FROM && f->map.kind == PM_KIND_FORCED &&
                  step >= MIN_GROW_STEP && nvhelper_available();
    if (helped && append_into_tail(f, end) == 0)
        return 0;
    uint64_t align = append || by_page(f) ? PAGE : STORAGE_CHUNK;
    uint64_t lo = round_down(append ? f->store.alloc_prefix : off, align);
    uint64_t exact = round_up(end, align);
    uint64_t hi = append ? round_up(end + (helped ? AHEAD_WRITER_STEP : step), PAGE) : exact;
    /* An append's step past the end of the file is its tail; below the
     * end (a sparse file filled from the front) it may cover holes. */
    uint64_t eof = round_up(f->real_size, PAGE);
    if (!append || round_up(end, PAGE) < eof)
        reserve_spare(f, append ? round_up(end, PAGE) : lo, append && hi > eof ? eof : hi, off,
                      end);
    int rc = nvstorage_reserve_map(f, hi);
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
    if (!append && !by_page(f))
        return mark_chunks(f, lo / STORAGE_CHUNK, hi / STORAGE_CHUNK, true);
    pm_populate(&f->map, lo, hi < POPULATE_LIMIT ? hi - lo : 0);
    if (!append)
        return 0;
    return append_grew(f, hi);
}

/* True when every byte of [off, end) is known to have a block that the
 * program may store into (not one the library still counts as its own). */
bool nvstorage_known(const struct nvfile *f, uint64_t off, uint64_t end)
{
    if ((f->store.tail_lo < f->store.alloc_prefix && off < f->store.alloc_prefix &&
         end > f->store.tail_lo) ||
        (!nvspare_empty(&f->store.spare) && nvspare_touches(&f->store.spare, off, end)))
        return false;
    if (end <= f->store.alloc_prefix)
        return true;
    if (end > f->real_size)
        return false;
    if (eof_page_stored(f))
        return true;
    uint64_t c = (off < f->store.alloc_prefix ? f->store.alloc_prefix : off) / STORAGE_CHUNK;
    uint64_t c1 = (end + STORAGE_CHUNK - 1) / STORAGE_CHUNK;
    while (c < c1 && chunk_known(f, c))
        c++;
    return c == c1;
}

/* The pages of [off, end) below the end of the real file get blocks, and
 * are mapped in for writing (a store's fault would move the mtime under
 * the watch). They are not remembered as known (the bitmap is per chunk):
 * a later write there asks again, a call that allocates nothing. With
 * `programs` false, those that were holes become spare. */
static int allocate_pages(struct nvfile *f, uint64_t off, uint64_t end, bool programs)
{
    uint64_t lo = round_down(off, PAGE), hi = round_up(end, PAGE);
    uint64_t eof = round_up(f->real_size, PAGE);
    hi = hi < eof ? hi : eof;
    if (lo >= hi)
        return 0;
    if (!programs)
        reserve_spare(f, lo, hi, 0, 0);
    int rc = sys_fallocate(f->fd, FALLOC_FL_KEEP_SIZE, (off_t)lo, (off_t)(hi - lo));
    if (rc == 0)
        pm_populate(&f->map, lo, hi - lo);
    return rc;
}

/* Makes sure [off, end) has blocks behind it, so stores through the mapping
 * cannot fault for want of space (ENOSPC comes back here instead), and the
 * real file reaches end. */
static int ensure(struct nvfile *f, uint64_t off, uint64_t end, bool programs)
{
    if (programs)
        program_takes(f, off, end);
    if (nvstorage_known(f, off, end))
        return 0;
    /* The file grows or gets blocks: the watch is recorded again once they
     * are mapped in (or, when the helper thread maps them in later, for
     * the size only). */
    nvlog_watch_suspend(&f->journal.log, false);
    uint64_t c0 = off / STORAGE_CHUNK, c1 = (end + STORAGE_CHUNK - 1) / STORAGE_CHUNK;
    uint64_t prefix = f->store.alloc_prefix, real_size = f->real_size;
    int rc = nvstorage_reserve_map(f, end);
    if (rc == 0 &&
        (end > f->real_size || (off <= f->store.alloc_prefix && end > f->store.alloc_prefix)))
        rc = grow_real_file(f, off, end);
    if (rc == 0)
        reserved_ahead(f, prefix, real_size, end);
    bool pages = by_page(f);
    if (rc == 0 && pages && !nvstorage_known(f, off, end))
        rc = allocate_pages(f, off, end, programs);
    for (uint64_t c = c0; rc == 0 && !pages && c < c1 && !nvstorage_known(f, off, end); c++) {
        if (chunk_known(f, c) || (c + 1) * STORAGE_CHUNK <= f->store.alloc_prefix)
            continue;
        uint64_t lo = c * STORAGE_CHUNK;
        uint64_t hi =
            lo + STORAGE_CHUNK < f->real_size ? lo + STORAGE_CHUNK : round_up(f->real_size, PAGE);
        reserve_spare(f, lo, hi, off, end);
        rc = sys_fallocate(f->fd, FALLOC_FL_KEEP_SIZE, (off_t)lo, (off_t)(hi - lo));
        if (rc == 0)
            rc = mark_chunks(f, c, c + 1, true);
    }
    if (rc == 0)
        nvfile_watch(f);
    return rc == -EFBIG ? -ENOSPC : rc;
}

int nvstorage_ensure(struct nvfile *f, uint64_t off, uint64_t end)
{
    return ensure(f, off, end, true);
}

int nvstorage_ensure_span(struct nvfile *f, uint64_t lo, uint64_t hi)
{
    return ensure(f, lo, hi, false);
}

void nvfile_prepare_ahead(struct nvfile *f)
{
    /* Another process may write where the window lies. */
    if (__atomic_load_n(&f->share.shared, __ATOMIC_RELAXED))
        return;
    struct nvstorage_ahead w = read_window(f);
    /* Holding the layout lock keeps the mapping where it is; a change of
     * layout or a new window bumps the generation, and the work stops. */
    pthread_mutex_lock(&f->store.layout_lock);
    for (uint64_t top = w.floor; top > w.lo;) {
        uint64_t front = __atomic_load_n(&f->store.append_front, __ATOMIC_RELAXED);
        if (front >= top)
            break;
        uint64_t bottom = top - w.lo > AHEAD_PIECE ? top - AHEAD_PIECE : w.lo;
        if (bottom < front)
            bottom = front;
        if (pm_allocate(&f->map, bottom, top - bottom) < 0)
            break; /* the writer meets the error itself */
        pthread_mutex_lock(&f->store.ahead_lock);
        bool same = f->store.ahead.gen == w.gen;
        if (same)
            f->store.ahead.floor = bottom;
        pthread_mutex_unlock(&f->store.ahead_lock);
        if (!same)
            break;
        top = bottom;
    }
    pthread_mutex_unlock(&f->store.layout_lock);
}

/* ---- appends written by the kernel -------------------------------------- */

/* On a medium of 4 KiB pages the first store to a fresh page of the
 * mapping faults, and the fault allocates and zeroes the page; the
 * kernel's write allocates page-cache pages with no fault, and zeroes
 * nothing it overwrites whole. A tmpfs that takes huge pages says so in
 * st_blksize: one fault there maps 2 MiB, which the mapping does better.
 * Only on forced pmem: under MAP_SYNC (DAX) the blocks a write allocates
 * and the size it moves wait in the file system's journal for an fsync,
 * where an allocating fault commits them at once; and an msync mapping's
 * drain writes back only what went through the mapping. */
static bool kernel_serves_appends(struct nvfile *f)
{
    return f->map.kind == PM_KIND_FORCED && nv_config()->kernel_appends && f->store.small_pages;
}

/* Past AHEAD_FROM, where the kernel's write may serve appends, two ways
 * compete: the kernel's write allocates each page on the writer's CPU
 * without a fault, while stores through the mapping have the helper thread
 * allocate much of each window on another CPU. Which is faster depends on
 * whether that CPU is free, so appends go in legs of LEG_WINDOWS windows'
 * worth, each timed, and the way that was faster takes the next leg; the
 * slower way is timed again after RETRY_LEGS legs. The times are the
 * process's, shared by its files, since the machine's load is. */
#define LEG_WINDOWS 2
#define RETRY_LEGS  8

/* Hints only, so no lock (atomic, relaxed): a leg may be chosen on times
 * a moment old. */
static struct {
    uint64_t ns_per_mib[2]; /* by the kernel, through the mapping; 0: not timed */
    uint64_t timed_at[2];   /* what legs counted when they were */
    uint64_t legs;
} pace;

static uint64_t pace_get(const uint64_t *v)
{
    return __atomic_load_n(v, __ATOMIC_RELAXED);
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t leg_length(const struct nvfile *f)
{
    return LEG_WINDOWS * clamp(f->size / 4, AHEAD_STEP, AHEAD);
}

static void leg_start(struct nvfile *f, int leg, uint64_t at)
{
    f->store.leg = leg;
    f->store.leg_from = at;
    f->store.leg_since_ns = now_ns();
}

/* A new leg from `at`: the way not yet timed, or timed longest ago when
 * that was the slower one, or the faster. Through the mapping only while
 * the helper thread runs. A leg by the kernel starts its clock at its
 * first append by the kernel: the writer may first finish a window. */
static void leg_begin(struct nvfile *f, uint64_t at)
{
    uint64_t by_kernel = pace_get(&pace.ns_per_mib[0]), by_mapping = pace_get(&pace.ns_per_mib[1]);
    bool mapping;
    if (!by_kernel || !by_mapping) {
        mapping = by_kernel != 0;
    } else {
        int slower = by_mapping > by_kernel;
        mapping = pace_get(&pace.legs) - pace_get(&pace.timed_at[slower]) >= RETRY_LEGS ? slower
                                                                                        : !slower;
    }
    leg_start(f, mapping && nvhelper_available() ? LEG_MAPPING : LEG_KERNEL_NEXT, at);
}

static void leg_end(struct nvfile *f, uint64_t at)
{
    uint64_t kib = (at - f->store.leg_from) >> 10;
    uint64_t per_mib = ((now_ns() - f->store.leg_since_ns) << 10) / (kib ? kib : 1);
    int way = f->store.leg == LEG_MAPPING;
    __atomic_store_n(&pace.ns_per_mib[way], per_mib ? per_mib : 1, __ATOMIC_RELAXED);
    __atomic_store_n(&pace.timed_at[way], __atomic_add_fetch(&pace.legs, 1, __ATOMIC_RELAXED),
                     __ATOMIC_RELAXED);
    f->store.leg = LEG_NONE;
}

/* Whether the kernel's write may take a write at off: the legs apply to
 * appends past AHEAD_FROM; a write inside the file (past the committed
 * size still) leaves them as they are. */
static bool kernel_leg(struct nvfile *f, uint64_t off)
{
    if (off < AHEAD_FROM || off < f->size)
        return true;
    if (f->store.leg == LEG_KERNEL || f->store.leg == LEG_MAPPING) {
        if (off < f->store.leg_from)
            f->store.leg = LEG_NONE; /* not an append after the last */
        else if (off - f->store.leg_from >= leg_length(f))
            leg_end(f, off);
    }
    if (f->store.leg == LEG_NONE)
        leg_begin(f, off);
    return f->store.leg != LEG_MAPPING;
}

/* Before an append by the kernel's write: the real file reaches end. After
 * a trim, or while the file is small (GROW_EXACT), the write itself extends
 * it to end;
 * otherwise it is extended ahead, as a hole, by the step an append would
 * allocate, so the size the watch records stays true over the next
 * appends. */
static int extend_for_write(struct nvfile *f, uint64_t end)
{
    uint64_t step = grow_step(f);
    if (step < PAGE || end <= GROW_EXACT)
        return nvstorage_reserve_map(f, end);
    uint64_t hi = round_up(end + step, PAGE);
    int rc = nvstorage_reserve_map(f, hi);
    if (rc == 0)
        rc = sys_ftruncate(f->fd, (off_t)hi);
    if (rc == 0)
        f->real_size = hi;
    return rc == -EFBIG ? -ENOSPC : rc;
}

/* The kernel wrote [off, end), which continues the allocated prefix:
 * every page up to end has a block now. */
static int kernel_wrote(struct nvfile *f, uint64_t end)
{
    if (end > f->real_size)
        f->real_size = end;
    if (end > f->zero_from) /* a short write leaves bytes past the size */
        f->zero_from = end;
    uint64_t prefix = round_down(end, PAGE);
    int rc = prefix > f->store.alloc_prefix ? append_grew(f, prefix) : 0;
    if (end == f->real_size && end > prefix)
        set_eof_stored(f, end);
    return rc;
}

int nvstorage_write_appended(struct nvfile *f, const char *src, uint64_t off, uint64_t end)
{
    if (!src || f->mapped_by_program || __atomic_load_n(&f->share.shared, __ATOMIC_RELAXED) ||
        !kernel_serves_appends(f) || !kernel_leg(f, off) ||
        round_down(off, PAGE) > f->store.alloc_prefix || nvstorage_known(f, off, end) ||
        read_window(f).hi > f->store.alloc_prefix)
        return 0;
    if (f->store.leg == LEG_KERNEL_NEXT)
        leg_start(f, LEG_KERNEL, off);
    program_takes(f, off, end);
    /* Each write moves the mtime, and a growth the size: the watch is
     * suspended first, then records the size only while such writes may
     * come (nvstorage_ahead_settled), until a publication trims the file. */
    bool record = end > f->real_size || !f->store.kernel_writes;
    if (record)
        nvlog_watch_suspend(&f->journal.log, false);
    f->store.kernel_writes = true;
    int rc = end > f->real_size ? extend_for_write(f, end) : 0;
    long n = rc < 0 ? rc : pm_write(&f->map, f->fd, off, src, end - off);
    if (n > 0)
        rc = kernel_wrote(f, off + (uint64_t)n);
    if (record)
        nvfile_watch(f);
    if (n < 0)
        return n == -EFBIG ? -ENOSPC : (int)n;
    if (rc == 0 && (uint64_t)n < end - off)
        rc = -ENOSPC;
    return rc < 0 ? rc : 1;
}

/* ---- giving space back -------------------------------------------------- */

/* Spare pages are read this many at a time before they are punched. */
#define LOOK_BYTES ((uint64_t)64 << 10)

struct given_back {
    struct nvfile *f;
    uint64_t lowest; /* the lowest page punched */
    int calls;       /* kernel calls that changed the file */
    char *look;      /* LOOK_BYTES to read spare pages into, or NULL */
};

static int punch(struct given_back *g, uint64_t lo, uint64_t hi)
{
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

static bool all_zero(const char *p, uint64_t n)
{
    return p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

/* Gives back the spare pages of [lo, hi) that read as zeros. The others
 * hold another program's bytes: it wrote into what was a hole, under its
 * own lock on a range this process does not lock, after the library
 * reserved the page. Without a buffer to look with, pages are kept. */
static int punch_spare(void *arg, uint64_t lo, uint64_t hi)
{
    struct given_back *g = arg;
    if (!g->look && !(g->look = nv_pages_alloc(LOOK_BYTES)))
        return 0;
    uint64_t run = lo; /* start of the zero pages not punched yet */
    for (uint64_t at = lo; at < hi; at += LOOK_BYTES) {
        uint64_t n = hi - at < LOOK_BYTES ? hi - at : LOOK_BYTES;
        long got = sys_pread(g->f->fd, g->look, n, (off_t)at);
        if (got < 0)
            return 0;
        memset(g->look + got, 0, n - (uint64_t)got); /* past the end: nothing to lose */
        for (uint64_t p = 0; p < n; p += PAGE) {
            if (all_zero(g->look + p, PAGE))
                continue;
            int rc = run < at + p ? punch(g, run, at + p) : 0;
            if (rc < 0)
                return rc;
            run = at + p + PAGE;
        }
    }
    return run < hi ? punch(g, run, hi) : 0;
}

/* Trims the real file to keep and punches every page below it that the
 * library reserved and the program never wrote. Returns the number of
 * kernel calls that changed the file (each moved its times), or a negative
 * errno. */
int nvstorage_give_back(struct nvfile *f, uint64_t keep)
{
    struct given_back g = {f, UINT64_MAX, 0, NULL};
    nvstorage_layout_begin(f);
    int rc = f->real_size > keep ? sys_ftruncate(f->fd, (off_t)keep) : 0;
    /* A trim keeps the block of the page the new end lies in. */
    bool eof_stored = rc == 0 && f->real_size > keep && f->store.alloc_prefix > keep;
    if (rc == 0 && f->real_size > keep) {
        g.calls++;
        f->real_size = keep;
        f->store.mapped_to = f->store.mapped_to < keep ? f->store.mapped_to : keep;
        /* zero_from stays: redo records not home yet may hold bytes past
         * keep, which must still be zeroed if the file grows back. */
        f->store.regrow_from = keep;
        forget_chunk_range(f, keep, UINT64_MAX - STORAGE_CHUNK);
        if (f->store.alloc_prefix > keep)
            set_alloc_prefix(f, round_down(keep, PAGE));
    }
    /* What is left of the tail lies below keep now. */
    uint64_t end = round_up(keep, PAGE);
    if (rc == 0 && f->store.tail_lo < f->store.alloc_prefix)
        rc = punch_spare(&g, f->store.tail_lo, f->store.alloc_prefix);
    if (rc == 0) {
        f->store.tail_lo = f->store.alloc_prefix;
        rc = nvspare_drain(&f->store.spare, end, punch_spare, &g);
    }
    if (g.lowest < f->store.alloc_prefix)
        set_alloc_prefix(f, g.lowest);
    if (rc == 0 && eof_stored && g.lowest >= round_up(keep, PAGE))
        set_eof_stored(f, keep);
    /* The watch is recorded once the file is given back (a publication):
     * an append by the kernel's write after it suspends the watch first. */
    f->store.kernel_writes = false;
    nvstorage_layout_end(f);
    if (g.look)
        nv_pages_free(g.look, LOOK_BYTES);
    return rc < 0 ? rc : g.calls;
}

bool nvstorage_to_give_back(const struct nvfile *f, uint64_t keep)
{
    return f->real_size > keep || f->store.tail_lo < f->store.alloc_prefix ||
           !nvspare_empty(&f->store.spare);
}
