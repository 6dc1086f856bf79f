/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rw.c - the data calls on a managed descriptor: read, write, pread,
 * pwrite and the vectored forms, with the kernel's checks in its order,
 * the description's offset, O_APPEND, sync mode and a full file system.
 */
#include "core/ops.h"

#include <errno.h>
#include <limits.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>

#include "core/fdtable.h"
#include "core/nvfile.h"
#include "core/ops_internal.h"
#include "core/tx.h"
#include "mutants.h"
#include "os/mapfault.h"
#include "os/sys.h"

/* The most one read or write moves, as in the kernel. */
#define MAX_RW_COUNT ((size_t)0x7ffff000)

/* Buffers below this always lie in the user address space. */
#define USER_SPACE_SURE ((uintptr_t)1 << 46)

/* The highest address a user range may reach, as the kernel's access_ok
 * sees it (it depends on the paging mode and the CPU). Found once by asking
 * the kernel: a read of /dev/null checks the range and copies nothing. */
static uintptr_t user_space_end(void)
{
    static uintptr_t end; /* atomic; 0 until found */
    uintptr_t e = __atomic_load_n(&end, __ATOMIC_RELAXED);
    if (e)
        return e;
    int fd = sys_openat(AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return UINTPTR_MAX;
    uintptr_t lo = USER_SPACE_SURE, hi = UINTPTR_MAX;
    while (lo < hi) {
        uintptr_t mid = lo + (hi - lo) / 2 + 1;
        if (sys_call6(SYS_read, fd, 0, (long)mid, 0, 0, 0) == -EFAULT)
            hi = mid - 1;
        else
            lo = mid;
    }
    sys_close(fd);
    __atomic_store_n(&end, lo, __ATOMIC_RELAXED);
    return lo;
}

/* The kernel's access_ok: [buf, buf + n) lies in the user address space. */
static bool user_range(const void *buf, size_t n)
{
    uintptr_t end;
    if (__builtin_add_overflow((uintptr_t)buf, n, &end))
        return false;
    return end <= USER_SPACE_SURE || end <= user_space_end();
}

/* The checks of a read or write of n bytes at off, after the access mode,
 * in the kernel's order: the buffer's range, then off + n. */
static int check_rw(const void *buf, size_t n, uint64_t off)
{
    if (!user_range(buf, n))
        return -EFAULT;
    if (off + n > (uint64_t)INT64_MAX)
        return -EINVAL;
    return 0;
}

/* Tries of a read that keeps faulting before it gives up with EIO: a
 * program cutting the file over and over makes a few, a fault that no cut
 * explains (the medium's) all of them. */
#define CUT_TRIES 64

/* The buffers of a vectored read filled from *at on, with the shared lock
 * held; *at moves past what was read. NVFILE_CUT, with *at where it was,
 * when another program cut the file under any of them: the ones before
 * may have read bytes of its old last page, so all are read again. */
static ssize_t readv_holding(struct nvfile *f, const struct iovec *iov, int iovcnt, uint64_t *at)
{
    ssize_t done = 0;
    uint64_t pos = *at;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len && !iov[i].iov_base) {
            /* as read(): a NULL buffer fails when there are bytes for it */
            if (!done && pos < f->size)
                done = -EFAULT;
            break;
        }
        /* As read(): the bytes before the first page the program cannot
         * write, EFAULT when that is the first with bytes for it. */
        size_t len = iov[i].iov_len;
        size_t want = pos < f->size ? (size_t)(len < f->size - pos ? len : f->size - pos) : 0;
        size_t can = want ? nv_userbuf_writable(iov[i].iov_base, want) : 0;
        if (want && can == 0) {
            if (!done)
                done = -EFAULT;
            break;
        }
        bool cut_short = can < want;
        long got = nvfile_read(f, iov[i].iov_base, cut_short ? can : len, pos);
        if (got < 0)
            return got;
        pos += (uint64_t)got;
        done += got;
        if (cut_short || (size_t)got < len)
            break;
    }
    *at = pos;
    return done;
}

/* The buffers read from *at on, under the file's shared lock. When another
 * program cut the file shorter under the read (NVFILE_CUT), the new size
 * is taken in and the read made again from its start. */
static ssize_t read_vector(struct nvfile *f, const struct iovec *iov, int iovcnt, uint64_t *at)
{
    int held = nvfile_lock_shared(f), tries = 0;
    ssize_t done;
    while ((done = readv_holding(f, iov, iovcnt, at)) == NVFILE_CUT) {
        if (++tries == CUT_TRIES) {
            done = -EIO;
            break;
        }
        nvfile_unlock_shared(f, held);
        nvfile_take_in_size(f);
        held = nvfile_lock_shared(f);
    }
    nvstats_count_shared(&f->stats, NVSTAT_READ, done > 0 ? (uint64_t)done : 0);
    nvfile_unlock_shared(f, held);
    return done;
}

/* The read, under the file's shared lock. */
static ssize_t read_locked(struct nvfile *f, void *buf, size_t n, uint64_t off)
{
    struct iovec one = {buf, n};
    return read_vector(f, &one, 1, &off);
}

static ssize_t read_at(struct nvofd *o, void *buf, size_t n, uint64_t off)
{
    int rc = check_rw(buf, n, off);
    if (rc < 0)
        return rc;
    if (n > MAX_RW_COUNT)
        n = MAX_RW_COUNT;
    ssize_t got = read_locked(o->file, buf, n, off);
    /* A read that meets the end looks once whether another program
     * appended since (nvfile_take_in_size). */
    if (got >= 0 && (size_t)got < n && nvfile_take_in_size(o->file))
        got = read_locked(o->file, buf, n, off);
    return got;
}

/* n clamped as the kernel clamps a read or write. */
static size_t rw_count(size_t n)
{
    return n > MAX_RW_COUNT ? MAX_RW_COUNT : n;
}

ssize_t nvops_read(struct nvofd *o, void *buf, size_t n)
{
    if (!can_read(o))
        return -EBADF;
    uint64_t from;
    size_t count = rw_count(n);
    if (count > 0 && nvofd_pos_claim(o, count, &from) >= 0) {
        ssize_t r = read_at(o, buf, n, from);
        nvofd_pos_unclaim(o, count - (r > 0 ? (size_t)r : 0));
        return r;
    }
    nvofd_pos_lock(o);
    ssize_t r = read_at(o, buf, n, o->pos);
    if (r > 0)
        o->pos += (uint64_t)r;
    nvofd_pos_unlock(o);
    return r;
}

ssize_t nvops_pread(struct nvofd *o, void *buf, size_t n, off_t off)
{
    if (off < 0) /* the kernel checks the offset before the descriptor */
        return -EINVAL;
    if (!can_read(o))
        return -EBADF;
    return read_at(o, buf, n, (uint64_t)off);
}

/* Writers that keep waiting for the lock turn range locks on (filelock.h),
 * so writes to different parts of the file stop taking turns. */
static void lock_for_write(struct nvfile *f)
{
    bool contended;
    nvfile_lock(f, &contended);
    nvlock_note_writer(&f->lock, contended);
}

/* A write from a NULL buffer: EFAULT, after the kernel's file systems have
 * moved the size up to where it began (their write_end runs with nothing
 * copied). Exclusive lock held. */
static long write_from_null(struct nvfile *f, uint64_t off)
{
    long rc = off > f->size ? beyond_mapping(nvfile_truncate(f, off)) : 0;
    return rc < 0 ? rc : -EFAULT;
}

/* On a full file system the kernel writes what fits: the bytes up to the
 * first page it cannot allocate (ENOSPC when that is the first). The same
 * here, by halving over the pages the write reaches, with storage asked
 * for as fallocate would. Exclusive lock held; called after a write of
 * [off, off + n) failed with ENOSPC. */
static long write_what_fits(struct nvfile *f, const void *buf, size_t n, uint64_t off)
{
    const uint64_t page = 4096; /* the smallest page size */
    uint64_t first_end = (off | (page - 1)) + 1, end = off + n;
    uint64_t fit = 0, fail = (end - first_end + page - 1) / page + 1; /* pages */
    while (fail - fit > 1) {
        uint64_t mid = fit + (fail - fit) / 2;
        uint64_t e = first_end + (mid - 1) * page;
        if (nvfile_allocate(f, FALLOC_FL_KEEP_SIZE, off, (e < end ? e : end) - off) == 0)
            fit = mid;
        else
            fail = mid;
    }
    if (fit == 0)
        return -ENOSPC;
    uint64_t e = first_end + (fit - 1) * page;
    return nvfile_write(f, buf, (size_t)((e < end ? e : end) - off), off);
}

/* Writes at off, or at the end with O_APPEND (as Linux does for pwrite
 * too); *at gets where the bytes went. */
static ssize_t write_at(struct nvofd *o, int flags, const void *buf, size_t n, uint64_t off,
                        uint64_t *at)
{
    int check = check_rw(buf, n, off);
    if (check < 0)
        return check;
    if (n > MAX_RW_COUNT)
        n = MAX_RW_COUNT;
    struct nvfile *f = o->file;
    int joined = nvtx_join(f);
    if (joined < 0)
        return joined;
    if (buf && !(flags & O_APPEND) && !nvfile_sync_mode(flags) &&
        !__atomic_load_n(&f->kill_privs, __ATOMIC_RELAXED) && nvfile_writes_in_place(f)) {
        long r = nvfile_write_in_place(f, buf, n, off);
        if (r != -EAGAIN) {
            nvstats_count_shared(&f->stats, NVSTAT_WRITE, r > 0 ? (uint64_t)r : 0);
            if (r > 0)
                nvfile_changed(f);
            *at = off;
            return r;
        }
    }
    lock_for_write(f);
    /* Handed to the kernel while this write waited (a fork of another
     * thread, the process's exit): the kernel's descriptor writes it,
     * where the kernel's position is now. */
    if (__atomic_load_n(&o->to_kernel, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&f->to_kernel, __ATOMIC_ACQUIRE)) {
        nvfile_unlock(f);
        return NVOPS_HANDED;
    }
    if (n)
        nvfile_remove_privs(f);
    /* As the kernel: at the end the file has now, which another program
     * may have moved without a lock (a log rotated by copytruncate). */
    if (flags & O_APPEND) {
        int rc = nvfile_revalidate(f);
        if (rc < 0) {
            nvfile_unlock(f);
            return rc;
        }
        off = f->size;
    }
    long r = buf || !n ? beyond_mapping(nvfile_write(f, buf, n, off)) : write_from_null(f, off);
    if (r == -ENOSPC && n > 1)
        r = write_what_fits(f, buf, n, off);
    nvstats_count(&f->stats, NVSTAT_WRITE, r > 0 ? (uint64_t)r : 0);
    if (r > 0 && f->library_wrote)
        nvfile_changed(f);
    else if (r > 0)
        nvfile_changed_by_kernel(f);
    if (MUTANT(11)) { /* a sync-mode write returns before its commit */
        nvfile_unlock(f);
        *at = off;
        return r;
    }
    if (r > 0 && nvfile_sync_mode(flags)) {
        int rc = nvfile_commit(f);
        if (rc < 0)
            r = rc;
    }
    nvfile_unlock(f);
    *at = off;
    return r;
}

/* Writes at the count bytes the call claimed from the position of a
 * description another process shares (nvofd_pos_claim, kfd its kernel
 * descriptor). */
static ssize_t write_claimed(struct nvofd *o, int kfd, int flags, const void *buf, size_t n,
                             size_t count, uint64_t from)
{
    uint64_t at;
    ssize_t r = write_at(o, flags, buf, n, from, &at);
    /* Handed to the kernel while it waited: the kernel's write goes where
     * the claim is (its own would go where the position is now). Other
     * calls the kernel makes instead give the claim back first. */
    if (r == NVOPS_HANDED)
        r = sys_pwrite(kfd, buf, count, (off_t)from);
    nvofd_pos_unclaim(o, r > 0 ? count - (size_t)r : count);
    return r;
}

/* Writes at off, or at the description's position (which then moves)
 * when off is -1. */
static ssize_t write_at_or_pos(struct nvofd *o, int flags, const void *buf, size_t n, off_t off)
{
    uint64_t at;
    if (off != -1)
        return write_at(o, flags, buf, n, (uint64_t)off, &at);
    size_t count = rw_count(n);
    int kfd = !(flags & O_APPEND) && count > 0 ? nvofd_pos_claim(o, count, &at) : -1;
    if (kfd >= 0)
        return write_claimed(o, kfd, flags, buf, n, count, at);
    nvofd_pos_lock(o);
    ssize_t r = write_at(o, flags, buf, n, o->pos, &at);
    if (r > 0)
        o->pos = at + (uint64_t)r;
    nvofd_pos_unlock(o);
    return r;
}

ssize_t nvops_write(struct nvofd *o, const void *buf, size_t n)
{
    if (!can_write(o))
        return -EBADF;
    return write_at_or_pos(o, o->flags, buf, n, -1);
}

ssize_t nvops_pwrite(struct nvofd *o, const void *buf, size_t n, off_t off)
{
    if (off < 0)
        return -EINVAL;
    if (!can_write(o))
        return -EBADF;
    return write_at_or_pos(o, o->flags, buf, n, off);
}

static size_t iov_total(const struct iovec *iov, int iovcnt)
{
    size_t n = 0;
    for (int i = 0; i < iovcnt; i++)
        n += iov[i].iov_len;
    return n;
}

/* The iovecs as one buffer in *buf: gathered into a copy unless there is
 * one. As the kernel, the write stops at the first buffer that is NULL;
 * when that is the first one with bytes, *buf is NULL (EFAULT) and *total
 * its length. 0 or -ENOMEM. */
static int gather(const struct iovec *iov, int iovcnt, const char **buf, size_t *total, char **copy)
{
    size_t n = 0;
    int count = 0;
    for (; count < iovcnt && (iov[count].iov_base || !iov[count].iov_len); count++)
        n += iov[count].iov_len;
    *copy = NULL;
    *buf = NULL;
    if (n == 0 && count < iovcnt) {
        *total = iov[count].iov_len;
        return 0;
    }
    *total = n > MAX_RW_COUNT ? MAX_RW_COUNT : n;
    if (count == 1) {
        *buf = iov[0].iov_base;
        return 0;
    }
    *copy = malloc(*total ? *total : 1);
    if (!*copy)
        return -ENOMEM;
    size_t at = 0;
    for (int i = 0; i < count && at < *total; i++) {
        size_t take = iov[i].iov_len < *total - at ? iov[i].iov_len : *total - at;
        memcpy(*copy + at, iov[i].iov_base, take);
        at += take;
    }
    *buf = *copy;
    return 0;
}

#ifndef RWF_NOAPPEND
#define RWF_NOAPPEND 0x20
#endif
/* preadv2/pwritev2 flags the library serves without asking. The kernel
 * takes or refuses the others (RWF_NOWAIT, RWF_NOAPPEND, RWF_ATOMIC,
 * RWF_DONTCACHE, unknown bits...) by file system and kernel version. */
#define PLAIN_RWF (RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_APPEND)

/* 0 when the kernel takes these flags for this file, else its errno.
 * Asked on the library's own descriptor: by a read of one byte, or by a
 * write from a NULL buffer, which fails after the flags are checked and
 * before anything is written. RWF_APPEND is left out of the question but
 * beside RWF_NOAPPEND, a pair the kernel may refuse. */
static int kernel_takes_rwf(const struct nvfile *f, bool write, int rwf_flags)
{
    char byte;
    struct iovec one = {write ? NULL : &byte, 1};
    if (!(rwf_flags & RWF_NOAPPEND))
        rwf_flags &= ~RWF_APPEND;
    long rc = sys_call6(write ? SYS_pwritev2 : SYS_preadv2, f->fd, (long)&one, 1, 0, 0, rwf_flags);
    return rc == -EOPNOTSUPP || rc == -EINVAL ? (int)rc : 0;
}

/* The kernel's import of an iovec array: the count, then every length
 * (none may be negative), then every buffer's range. */
static int check_iov(const struct iovec *iov, int iovcnt)
{
    if (iovcnt < 0 || iovcnt > IOV_MAX)
        return -EINVAL;
    if (iovcnt && !user_range(iov, (size_t)iovcnt * sizeof(*iov)))
        return -EFAULT;
    if (iovcnt && !iov)
        return -EFAULT;
    for (int i = 0; i < iovcnt; i++)
        if ((ssize_t)iov[i].iov_len < 0)
            return -EINVAL;
    for (int i = 0; i < iovcnt; i++)
        if (!user_range(iov[i].iov_base, iov[i].iov_len))
            return -EFAULT;
    return 0;
}

/* The checks of a vectored call, in the kernel's order: a negative errno,
 * 0 when there is nothing to move, 1 to go on. */
static int check_vectored(const struct nvofd *o, bool write, const struct iovec *iov, int iovcnt,
                          off_t off, int rwf_flags)
{
    if (off < -1)
        return -EINVAL;
    if (!(write ? can_write(o) : can_read(o)))
        return -EBADF;
    int rc = check_iov(iov, iovcnt);
    if (rc < 0)
        return rc;
    size_t total = iov_total(iov, iovcnt);
    if (total == 0)
        return 0;
    uint64_t at = off >= 0 ? (uint64_t)off : o->pos;
    if (at + (total > MAX_RW_COUNT ? MAX_RW_COUNT : total) > (uint64_t)INT64_MAX)
        return -EINVAL;
    rc = rwf_flags & ~PLAIN_RWF ? kernel_takes_rwf(o->file, write, rwf_flags) : 0;
    return rc < 0 ? rc : 1;
}

ssize_t nvops_readv(struct nvofd *o, const struct iovec *iov, int iovcnt, off_t off, int rwf_flags)
{
    int rc = check_vectored(o, false, iov, iovcnt, off, rwf_flags);
    if (rc <= 0)
        return rc;
    bool use_pos = off == -1;
    uint64_t at = (uint64_t)off;
    size_t total = iov_total(iov, iovcnt);
    if (use_pos && total > 0 && total <= MAX_RW_COUNT && nvofd_pos_claim(o, total, &at) >= 0) {
        ssize_t done = read_vector(o->file, iov, iovcnt, &at);
        nvofd_pos_unclaim(o, total - (done > 0 ? (size_t)done : 0));
        return done;
    }
    if (use_pos) {
        nvofd_pos_lock(o);
        at = o->pos;
    }
    ssize_t done = read_vector(o->file, iov, iovcnt, &at);
    if (use_pos) {
        if (done > 0)
            o->pos = at;
        nvofd_pos_unlock(o);
    }
    return done;
}

ssize_t nvops_writev(struct nvofd *o, const struct iovec *iov, int iovcnt, off_t off, int rwf_flags)
{
    int rc = check_vectored(o, true, iov, iovcnt, off, rwf_flags);
    if (rc <= 0)
        return rc;
    size_t total;
    char *copy;
    const char *buf;
    if (gather(iov, iovcnt, &buf, &total, &copy) < 0)
        return -ENOMEM;
    int flags = o->flags | ((rwf_flags & RWF_APPEND) ? O_APPEND : 0) |
                ((rwf_flags & (RWF_DSYNC | RWF_SYNC)) ? O_DSYNC : 0);
    if (rwf_flags & RWF_NOAPPEND)
        flags &= ~O_APPEND;
    ssize_t r = write_at_or_pos(o, flags, buf, total, off);
    free(copy);
    return r;
}
