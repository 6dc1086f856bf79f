/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * meta.c - wrappers of metadata calls that must agree with the library:
 * the stat family reports the logical size of files this process has open
 * (and their times, published first when the program changed them), the
 * calls that set times find the library's work done before them, unlink
 * and rename drop the log of a file that loses its last link, and truncate
 * by path goes through the epoch like ftruncate.
 */
#include "interpose/real.h"

#include <stdint.h>
#include <sys/sysmacros.h>

#include "core/ops.h"
#include "os/sys.h"

/* Whether the stat result of a managed file must be taken again (its
 * changes were just published); otherwise corrects it. */
#define STAT_AGAIN(st, may_publish)                                                                \
    (S_ISREG((st)->st_mode) &&                                                                     \
     nvops_fix_stat((st)->st_dev, (st)->st_ino, &(st)->st_size, &(st)->st_blocks, may_publish))

/* Evaluates `call`, and once more when the file's changes were published
 * by the first look, then corrects *st. */
#define FIX_STAT(call, st)                                                                         \
    do {                                                                                           \
        int r_ = (call);                                                                           \
        if (r_ == 0 && STAT_AGAIN(st, true) && (r_ = (call)) == 0)                                 \
            (void)STAT_AGAIN(st, false);                                                           \
        return r_;                                                                                 \
    } while (0)

/* The C library's stat calls are the kernel's fstatat; it answers for them
 * when a pointer they declare nonnull is NULL. */
static int kernel_fstatat(int dirfd, const char *path, void *st, int flags)
{
    return (int)nv_ret(sys_call6(SYS_newfstatat, dirfd, (long)path, (long)st, flags, 0, 0));
}

/* FIX_STAT of `call`, the C library's form of fstatat(dirfd, path, st,
 * flags). */
#define STAT_CALL(call, dirfd, path, st, flags)                                                    \
    FIX_STAT(nv_null(path) || nv_null(st) ? kernel_fstatat(dirfd, path, st, flags) : (call), st)

NV_EXPORT int stat(const char *path, struct stat *st)
{
    STAT_CALL(REAL(stat)(path, st), AT_FDCWD, path, st, 0);
}

NV_EXPORT int stat64(const char *path, struct stat64 *st)
{
    STAT_CALL(REAL(stat64)(path, st), AT_FDCWD, path, st, 0);
}

NV_EXPORT int lstat(const char *path, struct stat *st)
{
    STAT_CALL(REAL(lstat)(path, st), AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

NV_EXPORT int lstat64(const char *path, struct stat64 *st)
{
    STAT_CALL(REAL(lstat64)(path, st), AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

NV_EXPORT int fstat(int fd, struct stat *st)
{
    STAT_CALL(REAL(fstat)(fd, st), fd, "", st, AT_EMPTY_PATH);
}

NV_EXPORT int fstat64(int fd, struct stat64 *st)
{
    STAT_CALL(REAL(fstat64)(fd, st), fd, "", st, AT_EMPTY_PATH);
}

NV_EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    STAT_CALL(REAL(fstatat)(dirfd, path, st, flags), dirfd, path, st, flags);
}

NV_EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
    STAT_CALL(REAL(fstatat64)(dirfd, path, st, flags), dirfd, path, st, flags);
}

NV_EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
    FIX_STAT(REAL(__xstat)(ver, path, st), st);
}

NV_EXPORT int __xstat64(int ver, const char *path, struct stat64 *st)
{
    FIX_STAT(REAL(__xstat64)(ver, path, st), st);
}

NV_EXPORT int __lxstat(int ver, const char *path, struct stat *st)
{
    FIX_STAT(REAL(__lxstat)(ver, path, st), st);
}

NV_EXPORT int __lxstat64(int ver, const char *path, struct stat64 *st)
{
    FIX_STAT(REAL(__lxstat64)(ver, path, st), st);
}

NV_EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
    FIX_STAT(REAL(__fxstat)(ver, fd, st), st);
}

NV_EXPORT int __fxstat64(int ver, int fd, struct stat64 *st)
{
    FIX_STAT(REAL(__fxstat64)(ver, fd, st), st);
}

NV_EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
    FIX_STAT(REAL(__fxstatat)(ver, dirfd, path, st, flags), st);
}

NV_EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags)
{
    FIX_STAT(REAL(__fxstatat64)(ver, dirfd, path, st, flags), st);
}

static bool statx_again(struct statx *stx, bool may_publish)
{
    if (!S_ISREG(stx->stx_mode))
        return false;
    off_t size = (off_t)stx->stx_size;
    blkcnt_t blocks = (blkcnt_t)stx->stx_blocks;
    if (nvops_fix_stat(makedev(stx->stx_dev_major, stx->stx_dev_minor), stx->stx_ino, &size,
                       &blocks, may_publish))
        return true;
    stx->stx_size = (uint64_t)size;
    stx->stx_blocks = (uint64_t)blocks;
    return false;
}

/* The C library's statx is the kernel's, which answers for it when a
 * pointer it declares nonnull is NULL. */
static int real_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *stx)
{
    if (nv_null(path) || nv_null(stx))
        return (int)nv_ret(sys_statx(dirfd, path, flags, mask, stx));
    return REAL(statx)(dirfd, path, flags, mask, stx);
}

NV_EXPORT int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *stx)
{
    int r = real_statx(dirfd, path, flags, mask, stx);
    if (r == 0 && statx_again(stx, true) && (r = real_statx(dirfd, path, flags, mask, stx)) == 0)
        statx_again(stx, false);
    return r;
}

/* ---- setting times: the program's values stay as it set them ------------ */

/* Linux takes a NULL path to utimensat and futimesat as the descriptor
 * itself; the C library passes it on from futimesat, but its utimensat
 * refuses it. */
NV_EXPORT int utimensat(int dirfd, const char *path, const struct timespec times[2], int flags)
{
    if (nv_null(path)) {
        errno = EINVAL;
        return -1;
    }
    nvops_before_set_times(-1, dirfd, path, flags);
    return REAL(utimensat)(dirfd, path, times, flags);
}

NV_EXPORT int futimens(int fd, const struct timespec times[2])
{
    nvops_before_set_times(fd, -1, NULL, 0);
    return REAL(futimens)(fd, times);
}

NV_EXPORT int futimes(int fd, const struct timeval tv[2])
{
    nvops_before_set_times(fd, -1, NULL, 0);
    return REAL(futimes)(fd, tv);
}

/* The C library's utimes, lutimes and utime are its futimesat on the
 * working directory, which takes a NULL path: the kernel then refuses
 * invalid times (those of a utimbuf never are), then the path. */
NV_EXPORT int utimes(const char *path, const struct timeval tv[2])
{
    if (nv_null(path))
        return REAL(futimesat)(AT_FDCWD, path, tv);
    nvops_before_set_times(-1, AT_FDCWD, path, 0);
    return REAL(utimes)(path, tv);
}

NV_EXPORT int lutimes(const char *path, const struct timeval tv[2])
{
    if (nv_null(path))
        return REAL(futimesat)(AT_FDCWD, path, tv);
    nvops_before_set_times(-1, AT_FDCWD, path, AT_SYMLINK_NOFOLLOW);
    return REAL(lutimes)(path, tv);
}

NV_EXPORT int futimesat(int dirfd, const char *path, const struct timeval tv[2])
{
    nvops_before_set_times(nv_null(path) ? dirfd : -1, dirfd, path, 0);
    return REAL(futimesat)(dirfd, path, tv);
}

NV_EXPORT int utime(const char *path, const struct utimbuf *times)
{
    if (nv_null(path))
        return REAL(futimesat)(AT_FDCWD, path, NULL);
    nvops_before_set_times(-1, AT_FDCWD, path, 0);
    return REAL(utime)(path, times);
}

NV_EXPORT int unlinkat(int dirfd, const char *path, int flags)
{
    struct nvops_doomed d;
    if (nv_null(path))
        return (int)nv_ret(sys_unlinkat(dirfd, path, flags));
    if (flags & AT_REMOVEDIR)
        return REAL(unlinkat)(dirfd, path, flags);
    nvops_doom(dirfd, path, &d);
    int r = REAL(unlinkat)(dirfd, path, flags);
    if (r == 0)
        nvops_forget_log(&d);
    return r;
}

NV_EXPORT int unlink(const char *path)
{
    struct nvops_doomed d;
    if (nv_null(path))
        return (int)nv_ret(sys_unlinkat(AT_FDCWD, path, 0));
    nvops_doom(AT_FDCWD, path, &d);
    int r = REAL(unlink)(path);
    if (r == 0)
        nvops_forget_log(&d);
    return r;
}

/* A rename drops the file it replaces, unless both names are one file. */
static void doom_target(int olddir, const char *old, int newdir, const char *new_path,
                        struct nvops_doomed *d)
{
    nvops_doom(newdir, new_path, d);
    struct stat st;
    if (d->valid && kernel_fstatat(olddir, old, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        st.st_dev == d->dev && st.st_ino == d->ino)
        d->valid = d->last_link = false;
}

NV_EXPORT int renameat2(int olddir, const char *old, int newdir, const char *new_path,
                        unsigned flags)
{
    struct nvops_doomed d = {.last_link = false, .valid = false};
    if (!(flags & RENAME_EXCHANGE))
        doom_target(olddir, old, newdir, new_path, &d);
    int r = REAL(renameat2)(olddir, old, newdir, new_path, flags);
    if (r == 0)
        nvops_forget_log(&d);
    return r;
}

NV_EXPORT int renameat(int olddir, const char *old, int newdir, const char *new_path)
{
    struct nvops_doomed d;
    doom_target(olddir, old, newdir, new_path, &d);
    int r = REAL(renameat)(olddir, old, newdir, new_path);
    if (r == 0)
        nvops_forget_log(&d);
    return r;
}

NV_EXPORT int rename(const char *old, const char *new_path)
{
    struct nvops_doomed d;
    doom_target(AT_FDCWD, old, AT_FDCWD, new_path, &d);
    int r = REAL(rename)(old, new_path);
    if (r == 0)
        nvops_forget_log(&d);
    return r;
}

/* truncate(path) of a managed file is an ftruncate inside an epoch that
 * the close ends: atomic and durable like any other change. It joins no
 * transaction: it falls into the file's running epoch, which is the
 * transaction's only when the file takes part already. */
static int truncate_path(const char *path, off_t len, int (*real)(const char *, off_t))
{
    if (nv_null(path))
        return (int)nv_ret(sys_call6(SYS_truncate, (long)path, len, 0, 0, 0, 0));
    if (len < 0) {
        errno = EINVAL;
        return -1;
    }
    if (!nvops_may_manage(0))
        return real(path, len);
    struct nvtx *tx = nvtx_step_out();
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int r = fd < 0 ? -1 : ftruncate(fd, len);
    int saved = errno;
    /* The kernel's truncate keeps the process's record locks on the file,
     * which closing the descriptor opened for it would drop. */
    dev_t dev;
    ino_t ino;
    int c = fd < 0 ? 0
            : nvops_record_locks_going(fd, &dev, &ino)
                ? (int)nv_ret(nvops_close_keeping_locks(fd, dev, ino))
                : close(fd);
    nvtx_step_back(tx);
    if (r == 0 && c < 0)
        return -1;
    errno = saved;
    return r;
}

NV_EXPORT int truncate(const char *path, off_t len)
{
    return truncate_path(path, len, REAL(truncate));
}

NV_EXPORT int truncate64(const char *path, off64_t len)
{
    return truncate_path(path, len, REAL(truncate64));
}
