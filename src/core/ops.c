/*
 * ops.c - POSIX semantics over the open-file object (see ops.h).
 */
#include "core/ops.h"

#include <dirent.h>
#include <linux/falloc.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sysmacros.h>

#include "../include/libnvmmio.h"
#include "core/helper.h"
#include "core/config.h"
#include "core/debug.h"
#include "core/fdtable.h"
#include "core/filetable.h"
#include "core/kernelfds.h"
#include "core/nvfile.h"
#include "core/owner.h"
#include "os/sys.h"
#include "pmem/persist.h"

/* The most one read or write moves, as in the kernel. */
#define MAX_RW_COUNT ((size_t)0x7ffff000)
#define LOG_DIR_NAME ".nvmmio"

bool nvops_may_manage(int flags)
{
    return (flags & O_ATOMIC) || nv_config()->nroots > 0;
}

/* O_TRUNC is held back from the kernel (the library truncates inside the
 * epoch) where the file may be managed and the open can truncate at all:
 * the kernel refuses it with O_PATH ignored, and with the fourth access
 * mode (O_RDWR | O_WRONLY) as EINVAL. */
static bool holds_trunc(int flags)
{
    return (flags & O_TRUNC) && nvops_may_manage(flags) && !(flags & O_PATH) &&
           (flags & O_ACCMODE) != O_ACCMODE;
}

int nvops_kernel_open_flags(int dirfd, const char *path, int flags)
{
    (void)dirfd;
    (void)path;
    if (holds_trunc(flags))
        flags &= ~O_TRUNC;
    return flags & ~O_ATOMIC;
}

/* ---- which files are managed -------------------------------------------- */

static int canonical_path(int kfd, char *out, size_t n)
{
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", kfd);
    long len = sys_readlinkat(AT_FDCWD, self, out, n - 1);
    if (len < 0 || (size_t)len >= n - 1)
        return len < 0 ? (int)len : -ENAMETOOLONG;
    out[len] = '\0';
    return out[0] == '/' ? 0 : -ENOENT; /* anonymous or deleted objects */
}

/* The directory that holds the logs of the file at canonical path, or ""
 * when the file is not managed. */
static int log_dir_of(const char *canon, int flags, char *out, size_t n)
{
    const char *root = nv_config_root_of(canon);
    int len;
    if (root) {
        size_t rl = strlen(root);
        const char *rest = canon + (rl == 1 ? 0 : rl);
        /* The logs themselves are never managed. */
        if (!strncmp(rest, "/" LOG_DIR_NAME "/", sizeof(LOG_DIR_NAME) + 1))
            return 0;
        len = snprintf(out, n, "%s/%s", rl == 1 ? "" : root, LOG_DIR_NAME);
    } else if (flags & O_ATOMIC) {
        const char *slash = strrchr(canon, '/');
        len = snprintf(out, n, "%.*s/%s", (int)(slash - canon), canon, LOG_DIR_NAME);
    } else {
        return 0;
    }
    return len < (int)n ? 0 : -ENAMETOOLONG;
}

/* An O_TRUNC held back from the kernel, for a file the library does not
 * manage. The kernel truncates regular files only. */
static int truncate_unmanaged(int kfd, int flags)
{
    struct stat st;
    int rc = sys_fstat(kfd, &st);
    if (rc < 0 || !S_ISREG(st.st_mode))
        return rc;
    if ((flags & O_ACCMODE) != O_RDONLY)
        return sys_ftruncate(kfd, 0);
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", kfd);
    int wfd = sys_openat(AT_FDCWD, self, O_WRONLY | O_CLOEXEC, 0);
    if (wfd < 0)
        return wfd;
    rc = sys_ftruncate(wfd, 0);
    sys_close(wfd);
    return rc;
}

/* Why the kernel would not truncate the file of kfd: the errno of opening
 * it for writing (EROFS, EACCES, ETXTBSY...). */
static int truncate_refusal(int kfd)
{
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", kfd);
    int wfd = sys_openat(AT_FDCWD, self, O_WRONLY | O_CLOEXEC, 0);
    if (wfd < 0)
        return wfd;
    sys_close(wfd);
    return -EACCES;
}

static int open_truncate(struct nvfile *f, int kfd, int flags)
{
    nvfile_lock(f, NULL);
    int rc = f->writable ? nvfile_truncate(f, 0) : truncate_refusal(kfd);
    if (rc == 0)
        nvfile_changed(f);
    if (rc == 0 && nvfile_sync_mode(flags))
        rc = nvfile_commit(f);
    nvfile_unlock(f);
    return rc;
}

/* Hands a file to the kernel in this process: every descriptor of it is
 * left to the kernel with its offset, and the last one settles the file.
 * The C library's stdin, stdout and stderr read and write descriptors 0, 1
 * and 2 through internal calls a preload cannot see, so a file that becomes
 * one of them goes to the kernel; so does a file shared with a forked child. */
#define FIRST_MANAGED_FD 3

static void hand_to_kernel(struct nvfile *f)
{
    int limit = nvfd_limit();
    for (int fd = 0; fd < limit; fd++) {
        struct nvofd *o = nvfd_begin(fd);
        if (!o)
            continue;
        bool same = o->file == f;
        uint64_t pos = o->pos;
        nvofd_end(o);
        if (!same)
            continue;
        sys_lseek(fd, (off_t)pos, SEEK_SET);
        nvkfd_add(fd, f->dev, f->ino);
        struct nvofd *last = nvfd_remove(fd);
        if (last)
            nvops_close_finish(last);
    }
}

void nvops_to_kernel(int fd, const char *why)
{
    struct nvofd *o = nvfd_begin(fd);
    if (!o)
        return;
    struct nvfile *f = o->file;
    nvfile_pin(f);
    nvofd_end(o);
    nv_debug("descriptor %d %s: its file goes to the kernel", fd, why);
    hand_to_kernel(f);
    nvfile_release(f);
}

void nvops_standard_stream(int fd)
{
    nvops_to_kernel(fd, "is a standard stream now");
}

/* Why a file must stay with the kernel, or NULL: it is larger than the
 * library maps, or the process has a file size limit (RLIMIT_FSIZE), which
 * the kernel enforces on every write with EFBIG and SIGXFSZ, and which the
 * library's storage reserved ahead and its logs would run into first. */
static const char *kernel_only(const struct stat *st)
{
    struct rlimit rl;
    if ((uint64_t)st->st_size > NVFILE_MAX_SIZE)
        return "is larger than the library maps";
    if (sys_call6(SYS_getrlimit, RLIMIT_FSIZE, (long)&rl, 0, 0, 0, 0) == 0 &&
        rl.rlim_cur != RLIM_INFINITY)
        return "is opened under a file size limit";
    return NULL;
}

void nvops_file_size_limited(void)
{
    int limit = nvfd_limit();
    for (int fd = 0; fd < limit; fd++)
        nvops_to_kernel(fd, "is open when a file size limit is set");
}

int nvops_adopt(int kfd, int dirfd, const char *path, int flags)
{
    (void)dirfd;
    bool held_trunc = holds_trunc(flags);
    struct stat st;
    char canon[PATH_MAX], log_dir[PATH_MAX];
    log_dir[0] = '\0';
    int rc = sys_fstat(kfd, &st);
    if (rc == 0 && S_ISREG(st.st_mode) && !(flags & O_PATH) &&
        canonical_path(kfd, canon, sizeof(canon)) == 0)
        rc = log_dir_of(canon, flags, log_dir, sizeof(log_dir));
    if (rc < 0)
        return rc;
    if (!log_dir[0])
        return held_trunc ? truncate_unmanaged(kfd, flags) : 0;
    /* Another user's file goes to the kernel, which says what this process
     * may do with it: its log and lock file are its owner's (or root's). */
    uid_t me = sys_geteuid();
    if (me != 0 && st.st_uid != me) {
        nv_debug("%s belongs to user %u; plain kernel IO", path, (unsigned)st.st_uid);
        return held_trunc ? truncate_unmanaged(kfd, flags) : 0;
    }

    /* A file this process reaches through the kernel stays there: every
     * descriptor of it is the kernel's, this one too. So do files the
     * library cannot serve as the kernel would (see kernel_only). */
    const char *why = kernel_only(&st);
    if (why || nvkfd_holds(st.st_dev, st.st_ino)) {
        nv_debug("%s %s; plain kernel IO", path,
                 why ? why : "is open through the kernel in this process");
        nvkfd_add(kfd, st.st_dev, st.st_ino);
        return held_trunc ? truncate_unmanaged(kfd, flags) : 0;
    }
    /* Before any lock: libpmem loads with the first managed file. */
    rc = pm_init();
    if (rc < 0) {
        nv_warn("%s: cannot serve it without libpmem (%s)", path, pm_init_error());
        return -EIO;
    }
    struct nvfile *f = nvfile_acquire(kfd, &st, canon, log_dir, &rc);
    /* Served by another process, or no descriptor left for the library's
     * own (the program's open succeeded: so must the call). */
    if (!f && (rc == -EBUSY || rc == -EMFILE || rc == -ENFILE)) {
        nv_debug("%s is served by another process or no descriptor is left; plain kernel IO here",
                 path);
        nvkfd_add(kfd, st.st_dev, st.st_ino);
        return held_trunc ? truncate_unmanaged(kfd, flags) : 0;
    }
    if (!f)
        return rc;
    if (kfd < FIRST_MANAGED_FD) {
        /* Recovered (by the acquire) and settled, then the kernel's. */
        nvkfd_add(kfd, st.st_dev, st.st_ino);
        hand_to_kernel(f);
        rc = nvfile_release(f);
        return rc == 0 && held_trunc ? truncate_unmanaged(kfd, flags) : rc;
    }
    if (held_trunc) {
        rc = open_truncate(f, kfd, flags);
        if (rc < 0) {
            nvfile_release(f);
            return rc;
        }
    }
    struct nvofd *o = nvofd_new(f, flags & ~(O_ATOMIC | O_TRUNC | O_CREAT | O_EXCL));
    if (!o) {
        nvfile_release(f);
        return -ENOMEM;
    }
    struct nvofd *stale = nvfd_install(kfd, o);
    if (stale) /* a descriptor closed behind the library's back */
        nvops_close_finish(stale);
    return 0;
}

/* ---- descriptors -------------------------------------------------------- */

struct nvofd *nvops_close_begin(int fd)
{
    nvkfd_forget(fd);
    return nvfd_remove(fd);
}

int nvops_close_finish(struct nvofd *o)
{
    struct nvfile *f = nvofd_free(o);
    nvfile_lock(f, NULL);
    int rc = nvfile_commit(f);
    if (rc == 0)
        rc = nvfile_publish(f);
    nvfile_unlock(f);
    int rc2 = nvfile_release(f);
    return rc < 0 ? rc : rc2;
}

void nvops_forget_range(unsigned first, unsigned last)
{
    nvkfd_forget_range(first, last);
    unsigned limit = (unsigned)nvfd_limit();
    for (unsigned fd = first; fd <= last && fd < limit; fd++) {
        struct nvofd *o = nvfd_remove((int)fd);
        if (o)
            nvops_close_finish(o);
    }
}

struct nvofd *nvops_dup(int oldfd, int newfd)
{
    nvkfd_forget(newfd);
    nvkfd_dup(oldfd, newfd);
    struct nvofd *o = nvfd_begin(oldfd);
    struct nvofd *old;
    if (o) {
        old = nvfd_install(newfd, o);
        nvofd_end(o);
    } else {
        old = nvfd_remove(newfd);
    }
    return old;
}

struct nvofd *nvops_begin(int fd)
{
    return nvfd_begin(fd);
}

void nvops_end(struct nvofd *o)
{
    nvofd_end(o);
}

/* ---- data calls --------------------------------------------------------- */

/* The access mode as the kernel reads it: O_RDONLY reads, O_WRONLY writes,
 * O_RDWR both, and the fourth mode (O_RDWR | O_WRONLY) neither. */
static bool can_read(const struct nvofd *o)
{
    int mode = o->flags & O_ACCMODE;
    return mode == O_RDONLY || mode == O_RDWR;
}

static bool can_write(const struct nvofd *o)
{
    int mode = o->flags & O_ACCMODE;
    return mode == O_WRONLY || mode == O_RDWR;
}

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

static ssize_t read_at(struct nvofd *o, void *buf, size_t n, uint64_t off)
{
    int rc = check_rw(buf, n, off);
    if (rc < 0)
        return rc;
    if (n > MAX_RW_COUNT)
        n = MAX_RW_COUNT;
    struct nvfile *f = o->file;
    nvlock_shared(&f->lock);
    /* As the kernel: a NULL buffer fails only when there are bytes to copy. */
    ssize_t got = !buf && n && off < f->size ? -EFAULT : (ssize_t)nvfile_read(f, buf, n, off);
    nvlock_unlock_shared(&f->lock);
    return got;
}

ssize_t nvops_read(struct nvofd *o, void *buf, size_t n)
{
    if (!can_read(o))
        return -EBADF;
    pthread_mutex_lock(&o->pos_lock);
    ssize_t r = read_at(o, buf, n, o->pos);
    if (r > 0)
        o->pos += (uint64_t)r;
    pthread_mutex_unlock(&o->pos_lock);
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

/* A change the file object cannot hold (past NVFILE_MAX_SIZE) goes to the
 * kernel, which gives its own answer: tmpfs, for one, takes larger files. */
static long beyond_mapping(long rc)
{
    return rc == -EFBIG ? NVOPS_TO_KERNEL : rc;
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
    if (buf && !(flags & O_APPEND) && !nvfile_sync_mode(flags) && nvlock_is_concurrent(&f->lock)) {
        long r = nvfile_write_in_place(f, buf, n, off);
        if (r != -EAGAIN) {
            if (r > 0)
                nvfile_changed(f);
            *at = off;
            return r;
        }
    }
    lock_for_write(f);
    if (flags & O_APPEND)
        off = f->size;
    long r = buf || !n ? beyond_mapping(nvfile_write(f, buf, n, off)) : write_from_null(f, off);
    if (r == -ENOSPC && n > 1)
        r = write_what_fits(f, buf, n, off);
    if (r > 0)
        nvfile_changed(f);
#if NVMMIO_MUTANT == 11 /* mutant 11: a sync-mode write returns before its commit */
    nvfile_unlock(f);
    *at = off;
    return r;
#endif
    if (r > 0 && nvfile_sync_mode(flags)) {
        int rc = nvfile_commit(f);
        if (rc < 0)
            r = rc;
    }
    nvfile_unlock(f);
    *at = off;
    return r;
}

/* Writes at off, or at the description's position (which then moves)
 * when off is -1. */
static ssize_t write_at_or_pos(struct nvofd *o, int flags, const void *buf, size_t n, off_t off)
{
    uint64_t at;
    if (off != -1)
        return write_at(o, flags, buf, n, (uint64_t)off, &at);
    pthread_mutex_lock(&o->pos_lock);
    ssize_t r = write_at(o, flags, buf, n, o->pos, &at);
    if (r > 0)
        o->pos = at + (uint64_t)r;
    pthread_mutex_unlock(&o->pos_lock);
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

static off_t seek_data_or_hole(struct nvfile *f, off_t off, int whence)
{
    nvfile_lock(f, NULL);
    off_t r;
    if ((uint64_t)off >= f->size) {
        r = -ENXIO;
    } else if (nvfile_checkpoint(f) < 0 || nvfile_publish(f) < 0) {
        r = -EIO;
    } else {
        r = (off_t)sys_lseek(f->fd, off, whence);
        if (whence == SEEK_HOLE && (r < 0 || (uint64_t)r > f->size))
            r = (off_t)f->size;
        if (whence == SEEK_DATA && (r < 0 || (uint64_t)r >= f->size))
            r = -ENXIO;
    }
    nvfile_unlock(f);
    return r;
}

off_t nvops_lseek(struct nvofd *o, off_t off, int whence)
{
    struct nvfile *f = o->file;
    pthread_mutex_lock(&o->pos_lock);
    off_t base;
    switch (whence) {
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = (off_t)o->pos;
        break;
    case SEEK_END:
        nvlock_shared(&f->lock);
        base = (off_t)f->size;
        nvlock_unlock_shared(&f->lock);
        break;
    case SEEK_DATA:
    case SEEK_HOLE:
        base = seek_data_or_hole(f, off, whence);
        if (base >= 0)
            o->pos = (uint64_t)base;
        pthread_mutex_unlock(&o->pos_lock);
        return base;
    default:
        pthread_mutex_unlock(&o->pos_lock);
        return -EINVAL;
    }
    off_t r;
    if (__builtin_add_overflow(base, off, &r))
        r = -EINVAL;
    else if (r < 0)
        r = -EINVAL;
    else
        o->pos = (uint64_t)r;
    pthread_mutex_unlock(&o->pos_lock);
    return r;
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
 * before anything is written. */
static int kernel_takes_rwf(const struct nvfile *f, bool write, int rwf_flags)
{
    char byte;
    struct iovec one = {write ? NULL : &byte, 1};
    long rc = sys_call6(write ? SYS_pwritev2 : SYS_preadv2, f->fd, (long)&one, 1, 0, 0,
                        rwf_flags & ~RWF_APPEND);
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
    if (use_pos)
        pthread_mutex_lock(&o->pos_lock);
    uint64_t at = use_pos ? o->pos : (uint64_t)off;
    struct nvfile *f = o->file;
    ssize_t done = 0;
    nvlock_shared(&f->lock);
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len && !iov[i].iov_base) {
            /* as read(): a NULL buffer fails when there are bytes for it */
            if (!done && at < f->size)
                done = -EFAULT;
            break;
        }
        size_t got = nvfile_read(f, iov[i].iov_base, iov[i].iov_len, at);
        at += got;
        done += (ssize_t)got;
        if (got < iov[i].iov_len)
            break;
    }
    nvlock_unlock_shared(&f->lock);
    if (use_pos) {
        if (done > 0)
            o->pos = at;
        pthread_mutex_unlock(&o->pos_lock);
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

int nvops_fallocate(struct nvofd *o, int mode, off_t off, off_t len)
{
    /* The kernel's checks, in its order. */
    const int known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_NO_HIDE_STALE |
                      FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_INSERT_RANGE |
                      FALLOC_FL_UNSHARE_RANGE;
    if (off < 0 || len <= 0)
        return -EINVAL;
    if ((mode & ~known) ||
        (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) ==
            (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE) ||
        ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE)))
        return -EOPNOTSUPP;
    if (!can_write(o))
        return -EBADF;
    off_t end;
    if (__builtin_add_overflow(off, len, &end))
        return -EFBIG;
    struct nvfile *f = o->file;
    nvfile_lock(f, NULL);
    int rc = (int)beyond_mapping(nvfile_allocate(f, mode, (uint64_t)off, (uint64_t)len));
    if (rc == 0)
        nvfile_changed(f);
    if (rc == 0 && nvfile_sync_mode(o->flags))
        rc = nvfile_commit(f);
    nvfile_unlock(f);
    return rc;
}

int nvops_share_mapping(struct nvofd *o)
{
    struct nvfile *f = o->file;
    nvtable_lock();
    int rc = nvfile_note_mapped(f->dev, f->ino);
    nvtable_unlock();
    nvfile_lock(f, NULL);
    int shared = nvfile_share_mapping(f);
    nvfile_unlock(f);
    return rc ? rc : shared;
}

int nvops_fsync(struct nvofd *o)
{
    struct nvfile *f = o->file;
    nvfile_lock(f, NULL);
    int rc = nvfile_commit(f);
    if (rc == 0)
        rc = nvfile_publish_lazily(f);
    nvfile_unlock(f);
    return rc;
}

/* Writing back a range is making it durable: the whole epoch commits,
 * after the kernel's checks of the arguments. */
int nvops_sync_range(struct nvofd *o, off_t off, off_t n, unsigned flags)
{
    const unsigned known =
        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
    off_t end;
    if ((flags & ~known) || off < 0 || n < 0 || __builtin_add_overflow(off, n, &end))
        return -EINVAL;
    return nvops_fsync(o);
}

int nvops_ftruncate(struct nvofd *o, off_t len)
{
    if (len < 0 || !can_write(o))
        return -EINVAL;
    struct nvfile *f = o->file;
    nvfile_lock(f, NULL);
    int rc = (int)beyond_mapping(nvfile_truncate(f, (uint64_t)len));
    if (rc == 0)
        nvfile_changed(f);
    if (rc == 0 && nvfile_sync_mode(o->flags))
        rc = nvfile_commit(f);
    nvfile_unlock(f);
    return rc;
}

void nvops_setfl(struct nvofd *o, int flags)
{
    /* F_SETFL changes only these; the access mode stays. */
    const int settable = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;
    pthread_mutex_lock(&o->pos_lock);
    o->flags = (o->flags & ~settable) | (flags & settable);
    pthread_mutex_unlock(&o->pos_lock);
}

/* ---- metadata ----------------------------------------------------------- */

static void publish_locked(struct nvfile *f)
{
    nvfile_lock(f, NULL);
    nvfile_publish(f);
    nvfile_unlock(f);
}

bool nvops_fix_stat(dev_t dev, ino_t ino, off_t *size, blkcnt_t *blocks, bool may_publish)
{
    struct nvfile *f = nvtable_pin(dev, ino);
    if (!f)
        return false;
    bool again = may_publish && nvfile_stale(f);
    if (again) {
        publish_locked(f);
    } else {
        nvlock_shared(&f->lock);
        off_t logical = (off_t)f->size;
        nvlock_unlock_shared(&f->lock);
        *size = logical;
        /* Blocks the last publication could not give back yet: bytes cut
         * below the committed size wait for the next commit. */
        blkcnt_t most = (logical + 4095) / 4096 * 8;
        if (*blocks > most)
            *blocks = most;
    }
    nvfile_release(f);
    return again;
}

void nvops_before_set_times(int fd, int dirfd, const char *path, int at_flags)
{
    if (fd >= 0) {
        struct nvofd *o = nvops_begin(fd);
        if (o) {
            publish_locked(o->file);
            nvops_end(o);
        }
        return;
    }
    struct statx stx;
    if (sys_statx(dirfd, path, at_flags & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH), STATX_INO, &stx) <
        0)
        return;
    struct nvfile *f = nvtable_pin(makedev(stx.stx_dev_major, stx.stx_dev_minor), stx.stx_ino);
    if (f) {
        publish_locked(f);
        nvfile_release(f);
    }
}

void nvops_doom(int dirfd, const char *path, struct nvops_doomed *d)
{
    d->valid = false;
    if (nv_config()->nroots == 0)
        return;
    struct stat st;
    int fd = sys_openat(dirfd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0)
        return;
    char canon[PATH_MAX], log_dir[PATH_MAX];
    log_dir[0] = '\0';
    if (sys_fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
        canonical_path(fd, canon, sizeof(canon)) == 0)
        log_dir_of(canon, 0, log_dir, sizeof(log_dir));
    sys_close(fd);
    if (!log_dir[0])
        return;
    int n = snprintf(d->log_path, sizeof(d->log_path), "%s/%llx-%llx.log", log_dir,
                     (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    d->valid = n < (int)sizeof(d->log_path);
    d->dev = st.st_dev;
    d->ino = st.st_ino;
}

void nvops_forget_log(const struct nvops_doomed *d)
{
    off_t size;
    /* An open file keeps its log until its last close settles it. */
    if (!d->valid || nvtable_logical_size(d->dev, d->ino, &size))
        return;
    sys_unlinkat(AT_FDCWD, d->log_path, 0);
}

/* ---- process ------------------------------------------------------------ */

struct each_file {
    int (*op)(struct nvfile *f); /* called with the file's write lock */
    int rc;                      /* the first error */
};

static void apply_locked(struct nvfile *f, void *arg)
{
    struct each_file *e = arg;
    nvfile_lock(f, NULL);
    int r = e->op(f);
    nvfile_unlock(f);
    if (r < 0 && e->rc == 0)
        e->rc = r;
}

static int for_every_file(int (*op)(struct nvfile *f))
{
    struct each_file e = {op, 0};
    nvtable_lock();
    nvtable_for_each(apply_locked, &e);
    nvtable_unlock();
    return e.rc;
}

int nvops_settle_all(void)
{
    return for_every_file(nvfile_settle);
}

int nvops_commit_all(void)
{
    return for_every_file(nvfile_commit);
}

static void sync_offset(int fd, struct nvofd *o);

void nvops_hand_over(void)
{
    nvops_settle_all();
    nvfd_for_each(sync_offset);
}

void nvops_adopt_inherited(void)
{
    /* Settings are read on first use; a process started without a root
     * (it may set one itself later) must not read them this early. */
    if (!getenv("NVMMIO_PATH") && !getenv("PMEM_PATH"))
        return;
    if (nv_config()->nroots == 0)
        return;
    int dir = sys_openat(AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dir < 0)
        return;
    char buf[4096];
    long n;
    while ((n = sys_getdents64(dir, buf, sizeof(buf))) > 0) {
        for (long at = 0; at < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + at);
            at += d->d_reclen;
            char *end;
            long fd = strtol(d->d_name, &end, 10);
            if (*end || fd == dir || fd < FIRST_MANAGED_FD || nvfd_is_managed((int)fd))
                continue;
            int flags = sys_fcntl((int)fd, F_GETFL, 0);
            long pos = sys_lseek((int)fd, 0, SEEK_CUR);
            if (flags < 0 || pos < 0 ||
                nvops_adopt((int)fd, AT_FDCWD, "(inherited)", flags & ~O_TRUNC) < 0)
                continue;
            struct nvofd *o = nvfd_begin((int)fd);
            if (o) {
                o->pos = (uint64_t)pos;
                nvofd_end(o);
            }
        }
    }
    sys_close(dir);
}

/* Fork hands every managed file to a child that sees it through the kernel:
 * each is settled (durable, home, trimmed) under its lock, which stays held
 * across the fork, and the kernel's offsets are brought up to the
 * library's. The child then forgets the parent's objects. */
static void lock_and_settle(struct nvfile *f, void *arg)
{
    (void)arg;
    nvfile_lock(f, NULL);
    nvfile_settle(f);
}

static void unlock_file(struct nvfile *f, void *arg)
{
    (void)arg;
    nvfile_unlock(f);
}

static void sync_offset(int fd, struct nvofd *o)
{
    sys_lseek(fd, (off_t)o->pos, SEEK_SET);
}

/* The child shares every descriptor, offset included, until it execs, and
 * reaches the files through the kernel: the parent must use it too. */
static void sync_offset_and_mark(int fd, struct nvofd *o)
{
    sync_offset(fd, o);
    o->file->shared_with_child = true;
}

void nvops_before_fork(void)
{
    nvtable_lock();
    nvtable_for_each(lock_and_settle, NULL);
    nvfd_for_each(sync_offset_and_mark);
    nvhelper_before_fork();
}

/* After a fork, in the parent: every descriptor goes to the kernel here too,
 * so both processes see one offset and one set of bytes. The offsets went
 * to the kernel before the fork; the child may be moving them already, so
 * they are not touched again. Called with the files still locked, so no
 * call of this process moves an offset in between. */
static struct nvofd *detach_shared(void)
{
    struct nvofd *detached = NULL;
    int limit = nvfd_limit();
    for (int fd = 0; fd < limit; fd++) {
        struct nvofd *o = nvfd_begin(fd);
        if (!o)
            continue;
        bool shared = o->file->shared_with_child;
        if (shared)
            nvkfd_add(fd, o->file->dev, o->file->ino);
        nvofd_end(o);
        struct nvofd *last = shared ? nvfd_remove(fd) : NULL;
        if (last) {
            last->free_next = detached;
            detached = last;
        }
    }
    return detached;
}

void nvops_after_fork(bool child)
{
    if (!child) {
        nvhelper_after_fork_parent();
        struct nvofd *detached = detach_shared();
        nvtable_for_each(unlock_file, NULL);
        nvtable_unlock();
        while (detached) {
            struct nvofd *next = detached->free_next;
            nvops_close_finish(detached);
            detached = next;
        }
        return;
    }
    nvhelper_after_fork_child();
    /* Every descriptor the child inherited reaches its file through the
     * kernel here; the file must not be managed beside them. */
    int limit = nvfd_limit();
    for (int fd = 0; fd < limit; fd++) {
        struct nvofd *o = nvfd_begin(fd);
        if (o) {
            nvkfd_add(fd, o->file->dev, o->file->ino);
            nvofd_end(o);
        }
    }
    nvtable_clear(nvfile_abandon);
    nvfd_forget_all();
    nvowner_after_fork_child();
    nvtable_unlock();
}
