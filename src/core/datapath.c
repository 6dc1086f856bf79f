/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * datapath.c - reads and changes of a managed file's bytes and size inside
 * the running epoch: read, write (locked and in place), zeroing, truncate
 * and fallocate (see nvfile.h). The journal (log/journal.h) logs what a
 * change must log first; storage.c gives it blocks.
 */
#include <errno.h>
#include <linux/falloc.h>
#include <string.h>

#include "core/nvfile_internal.h"
#include "log/recovery.h"
#include "mutants.h"
#include "os/sys.h"

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
 * through the kernel, which reads holes as zeros for free. False when the
 * kernel's read met an end the library does not know: another program cut
 * the file shorter, as a load past it would have found (os/mapfault.h). */
static bool copy_home(struct nvfile *f, char *dst, uint64_t off, uint64_t n)
{
    while (n > 0) {
        uint64_t piece = STORAGE_CHUNK - (off & (STORAGE_CHUNK - 1));
        if (piece > n)
            piece = n;
        if (nvstorage_backed(f, off, off + piece)) {
            memcpy(dst, f->map.base + off, piece);
        } else {
            long got = sys_pread(nvpark_fd(f), dst, piece, (off_t)off);
            if (got < 0)
                got = 0;
            if ((uint64_t)got < piece && off + (uint64_t)got < f->real_size)
                return false;
            memset(dst + got, 0, piece - (uint64_t)got);
        }
        dst += piece;
        off += piece;
        n -= piece;
    }
    return true;
}

/* Copies [off, off+n) as the program sees it: log records first, then home,
 * zeros where bytes are known to be zero. False as copy_home. */
static bool copy_out(struct nvfile *f, char *dst, uint64_t off, uint64_t n)
{
    uint64_t zero = zeros_from(f);
    while (n > 0) {
        uint64_t chunk = n;
        if (off >= zero) {
            memset(dst, 0, n);
            return true;
        }
        if (off + chunk > zero)
            chunk = zero - off;
        if (f->journal.index.redo_live) {
            const char *redo = nvjournal_redo_bytes(&f->journal, off, &chunk);
            if (redo) {
                memcpy(dst, redo, chunk);
                goto next;
            }
        }
        if (!copy_home(f, dst, off, chunk))
            return false;
    next:
        dst += chunk;
        off += chunk;
        n -= chunk;
    }
    return true;
}

long nvfile_read(struct nvfile *f, void *buf, size_t len, uint64_t off)
{
    if (off >= f->size)
        return 0;
    if (len > f->size - off)
        len = (size_t)(f->size - off);
    uint64_t held = nvlock_range(&f->lock, off, off + len, false);
    bool shared = __atomic_load_n(&f->share.shared, __ATOMIC_RELAXED) && !MUTANT(24);
    uint64_t shared_held = shared ? nvshare_lock_range(f, off, off + len) : 0;
    long got = (long)len;
    struct nv_mapfault_catch c;
    nv_mapfault_catch(&c, &f->mapfault);
    if (sigsetjmp(c.env, 0) == 0) {
        if (!copy_out(f, buf, off, len))
            got = NVFILE_CUT;
        nv_mapfault_release(&c);
    } else {
        nv_mapfault_caught(&c);
        got = NVFILE_CUT;
    }
    nvshare_unlock_range(f, shared_held);
    nvlock_unrange(&f->lock, held);
    /* A count for the undo/redo policy, kept without a locked add: readers
     * racing may lose one. */
    __atomic_store_n(&f->reads, __atomic_load_n(&f->reads, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
    return got;
}

/* ---- writing ------------------------------------------------------------ */

/* Logs what [off, end) needs logged, then places the bytes of src (NULL:
 * zeros) in records or home. 0 or a negative errno with nothing changed. */
static int write_logged(struct nvfile *f, const char *src, uint64_t off, uint64_t end)
{
    int rc = nvstorage_ensure(f, off, end);
    if (rc < 0)
        return rc;
    struct nvjournal_home h = nvfile_home(f);
    struct nvjournal_plan p;
    uint64_t lo, hi;
    rc = nvjournal_plan(&f->journal, &h, src, off, end, &p);
    /* Blocks logged whole must have storage too (they go home later). */
    if (rc == 0 && nvjournal_plan_span(&p, &h, &lo, &hi))
        rc = nvstorage_ensure_span(f, lo, hi);
    h = nvfile_home(f);
    if (rc == 0)
        rc = nvjournal_write(&f->journal, &h, &p);
    if (rc == 0)
        nvstats_logged(&f->stats, f->journal.policy == NVLOG_REDO, p.n);
    nvjournal_plan_free(&p);
    return rc;
}

/* Bytes from off on need no record: past the committed size (a crash cuts
 * them off) and, with no redo record live, none of their blocks has one
 * that reads would take instead. They go home as they are. */
static bool unlogged_from(const struct nvfile *f, uint64_t off)
{
    return off >= f->committed_size && !f->journal.index.redo_live;
}

/* Changes [off, off+len) to the bytes of src (NULL: zeros) inside the
 * running epoch: storage first, then the records the change needs, then
 * the bytes; unlogged appends may go by the kernel's write instead
 * (nvstorage_write_appended). Returns len or a negative errno with nothing
 * changed. */
static long write_range(struct nvfile *f, const char *src, uint64_t off, uint64_t len)
{
    uint64_t end = off + len;
    int rc = nvfile_ensure_log(f);
    if (rc == 0 && unlogged_from(f, off))
        rc = nvstorage_write_appended(f, src, off, end);
    if (rc == 0) {
        f->library_wrote = true;
        rc = write_logged(f, src, off, end);
    }
    if (rc < 0)
        return rc;
    if (end > f->zero_from)
        f->zero_from = end;
    f->dirty = true;
    return (long)len;
}

static int zero_redo_block(void *arg, uint64_t lo, uint64_t hi)
{
    long rc = write_range(arg, NULL, lo, hi - lo);
    return rc < 0 ? (int)rc : 0;
}

/* Zeroes [a, b) through the log where it holds bytes: data extents of the
 * real file, and blocks whose bytes live in redo records. Holes are zero
 * already, so a gap over a sparse region costs nothing. */
static int zero_logged(struct nvfile *f, uint64_t a, uint64_t b)
{
    /* The real file has no data past its end: no call needed to see so. */
    uint64_t data_end = b < f->real_size ? b : f->real_size;
    for (uint64_t off = a; off < data_end;) {
        long data = sys_lseek(f->fd, (off_t)off, SEEK_DATA);
        if (data < 0 || (uint64_t)data >= data_end)
            break;
        long hole = sys_lseek(f->fd, data, SEEK_HOLE);
        uint64_t hi = hole < 0 || (uint64_t)hole > data_end ? data_end : (uint64_t)hole;
        long rc = write_range(f, NULL, (uint64_t)data, hi - (uint64_t)data);
        if (rc < 0)
            return (int)rc;
        off = hi;
    }
    return nvjournal_redo_blocks(&f->journal, a, b, zero_redo_block, f);
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
        nvlog_watch_suspend(&f->journal.log, false);
        nvstorage_layout_begin(f);
        rc = sys_fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)pa,
                           (off_t)(pb - pa));
        nvstorage_layout_end(f);
    }
    if (rc == -EOPNOTSUPP)
        return zero_logged(f, pa, pb);
    nvstorage_punched(f, pa, pb);
    if (rc == 0)
        nvfile_watch(f);
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
    if (f->journal.index.redo_live || logged_end > b)
        logged_end = b;
    int rc = 0;
    if (a < logged_end)
        rc = zero_logged(f, a, logged_end);
    if (rc == 0 && logged_end < b)
        rc = zero_unlogged(f, a > logged_end ? a : logged_end, b);
    return rc;
}

int nvfile_zero_gap(struct nvfile *f, uint64_t to)
{
    return zero_range(f, f->size, to);
}

/* The rest of the page that holds the end of the file must read as zero as
 * well: a mapping of the file shows it, as the kernel keeps it. */
static int zero_page_tail(struct nvfile *f, uint64_t size)
{
    return zero_range(f, size, round_up(size, PAGE));
}

/* A shared file's change first saves the bytes [lo, hi) it may rewrite
 * (share.h): the first save of a call covers all it does. Bytes past the
 * zeros need none. */
static int save_for_change(struct nvfile *f, uint64_t lo, uint64_t hi)
{
    uint64_t zeros = zeros_from(f);
    if (!f->share.shared)
        return 0;
    return nvshare_save(f, lo, hi < zeros ? hi : zeros > lo ? zeros : lo);
}

long nvfile_write(struct nvfile *f, const void *buf, size_t len, uint64_t off)
{
    if (len == 0)
        return 0;
    if (off >= NVFILE_MAX_SIZE || len > NVFILE_MAX_SIZE - off)
        return -EFBIG;
    if (!f->writable)
        return -EBADF;
    f->library_wrote = false;
    /* The first change since the file was published, past the end the
     * kernel had then: another program may have grown the file meanwhile,
     * and the growth this write makes would hide that from the trim at the
     * next publication, which would cut what it wrote. */
    if (off + len > f->real_size && __atomic_load_n(&f->unpublished_end, __ATOMIC_RELAXED) == 0) {
        int rc = nvfile_revalidate(f);
        if (rc < 0)
            return rc;
    }
    int rc = save_for_change(f, off < f->size ? off : f->size, round_up(off + len, PAGE));
    rc = rc ? rc : nvfile_zero_gap(f, off);
    if (rc == 0 && off + len > f->size)
        rc = zero_page_tail(f, off + len);
    if (rc < 0)
        return rc;
    long n = write_range(f, buf, off, len);
    if (n < 0)
        return n;
    if (off + len > f->size)
        f->size = off + len;
    nvfile_unpublished_to(f, off + len);
    __atomic_add_fetch(&f->writes, 1, __ATOMIC_RELAXED);
    return n;
}

/* Can [off, end) be written with nothing but bytes changing? Every logged
 * block must have its record of the running epoch already, and the
 * storage, the size and the zeros beyond must stay as they are. */
static bool bytes_only(struct nvfile *f, const struct nvjournal_home *h, uint64_t off, uint64_t end)
{
    return f->map.kind != PM_KIND_MSYNC && nvlog_exists(&f->journal.log) && end <= f->size &&
           end <= zeros_from(f) && nvstorage_known(f, off, end) &&
           nvjournal_placed_only(&f->journal, h, off, end);
}

/* nvfile_write_in_place of a shared file (share.h): this process's lock
 * shared, so no thread of it changes more than bytes meanwhile. */
static long write_in_place_shared(struct nvfile *f, const void *buf, size_t len, uint64_t off)
{
    if (len > NVSHARE_IN_PLACE_MAX) /* larger than a save: the lock */
        return -EAGAIN;
    uint64_t end = off + len;
    long rc = -EAGAIN;
    nvlock_shared(&f->lock);
    if (nvshare_enter_in_place(f)) {
        struct nvjournal_home h = nvfile_home(f);
        struct nvshare_in_place w;
        nv_mapfault_arm(&f->mapfault);
        const char *saved =
            bytes_only(f, &h, off, end) ? nvshare_begin_in_place(f, buf, off, end, &w) : NULL;
        if (saved) {
            nvjournal_put(&f->journal, &h, saved, off, end);
            nvshare_end_in_place(f, &w);
            nvfile_unpublished_to(f, end);
            __atomic_add_fetch(&f->writes, 1, __ATOMIC_RELAXED);
            rc = (long)len;
        }
        nv_mapfault_disarm(&f->mapfault);
        nvshare_leave(f, NVSHARE_READING, false);
    }
    nvlock_unlock_shared(&f->lock);
    return rc;
}

static long write_in_place(struct nvfile *f, const void *buf, size_t len, uint64_t off)
{
    if (len == 0 || !f->writable || off >= NVFILE_MAX_SIZE || len > NVFILE_MAX_SIZE - off)
        return -EAGAIN;
    if (__atomic_load_n(&f->share.shared, __ATOMIC_RELAXED))
        return write_in_place_shared(f, buf, len, off);
    int lane;
    if (!nvlock_is_concurrent(&f->lock) || !nvlock_inplace_begin(&f->lock, &lane))
        return -EAGAIN;
    int held = nvshare_enter(f);
    if (held == NVSHARE_LOCKED) { /* shared since: the exclusive path serves it */
        nvshare_leave(f, held, false);
        nvlock_inplace_end(&f->lock, lane, false);
        return -EAGAIN;
    }
    uint64_t end = off + len;
    uint64_t ranges = nvlock_range(&f->lock, off, end, true);
    struct nvjournal_home h = nvfile_home(f);
    long rc = -EAGAIN;
    if (bytes_only(f, &h, off, end)) {
        nv_mapfault_arm(&f->mapfault);
        nvjournal_put(&f->journal, &h, buf, off, end);
        nv_mapfault_disarm(&f->mapfault);
        nvfile_unpublished_to(f, end);
        rc = (long)len;
    }
    nvlock_unrange(&f->lock, ranges);
    nvshare_leave(f, held, false);
    nvlock_inplace_end(&f->lock, lane, rc > 0);
    return rc;
}

long nvfile_write_in_place(struct nvfile *f, const void *buf, size_t len, uint64_t off)
{
    long rc = write_in_place(f, buf, len, off);
    /* A copy went on past a cut by another program (os/mapfault.h): taken
     * in at the release of the write lock, as after a locked write. */
    if (nv_mapfault_cut_seen(&f->mapfault)) {
        nvfile_lock(f, NULL);
        nvfile_unlock(f);
    }
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
    int rc = nvfile_ensure_log(f);
    if (rc == 0)
        rc = len < f->size ? save_for_change(f, len, round_up(len, PAGE))
                           : save_for_change(f, f->size, round_up(len, PAGE));
    if (rc < 0)
        return rc;
    /* What a truncation cuts is zeroed when the file grows over it again
     * (nvfile_zero_gap, through the end of the new last page), but the rest of the
     * new last page, which a mapping shows, at once. */
    rc = len < f->size ? zero_page_tail(f, len) : nvfile_zero_gap(f, round_up(len, PAGE));
    if (rc == 0 && len > f->real_size) {
        nvlog_watch_suspend(&f->journal.log, false);
        rc = nvstorage_reserve_map(f, len);
        if (rc == 0)
            rc = sys_ftruncate(f->fd, (off_t)len);
        if (rc == 0) {
            f->real_size = len;
            nvfile_watch(f);
        }
    }
    if (rc < 0)
        return rc;
    f->size = len;
    f->unpublished_end = len;
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
    int rc = nvfile_ensure_log(f);
    if (rc == 0 && (mode & ~FALLOC_FL_KEEP_SIZE))
        rc = save_for_change(f, off, round_up(end, PAGE));
    else if (rc == 0 && !keep_size && end > f->size)
        rc = save_for_change(f, f->size, round_up(end, PAGE));
    switch (mode & ~FALLOC_FL_KEEP_SIZE) {
    case 0:
        rc = rc ? rc : nvstorage_ensure(f, off, end);
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
