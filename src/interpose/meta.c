/*
 * meta.c - wrappers of metadata calls that must agree with the library:
 * the stat family reports the logical size of files this process has open,
 * unlink and rename drop the log of a file that loses its last link, and
 * truncate by path goes through the epoch like ftruncate.
 */
#include "interpose/real.h"

#include <stdint.h>
#include <sys/sysmacros.h>

#include "core/ops.h"

/* Evaluates `call` once, then corrects *st. */
#define FIX_STAT(call, st)                                                                         \
    do {                                                                                           \
        int r_ = (call);                                                                           \
        if (r_ == 0 && S_ISREG((st)->st_mode))                                                     \
            nvops_fix_stat((st)->st_dev, (st)->st_ino, &(st)->st_size, &(st)->st_blocks);          \
        return r_;                                                                                 \
    } while (0)

NV_EXPORT int stat(const char *path, struct stat *st)
{
    FIX_STAT(REAL(stat)(path, st), st);
}

NV_EXPORT int stat64(const char *path, struct stat64 *st)
{
    FIX_STAT(REAL(stat64)(path, st), st);
}

NV_EXPORT int lstat(const char *path, struct stat *st)
{
    FIX_STAT(REAL(lstat)(path, st), st);
}

NV_EXPORT int lstat64(const char *path, struct stat64 *st)
{
    FIX_STAT(REAL(lstat64)(path, st), st);
}

NV_EXPORT int fstat(int fd, struct stat *st)
{
    FIX_STAT(REAL(fstat)(fd, st), st);
}

NV_EXPORT int fstat64(int fd, struct stat64 *st)
{
    FIX_STAT(REAL(fstat64)(fd, st), st);
}

NV_EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
    FIX_STAT(REAL(fstatat)(dirfd, path, st, flags), st);
}

NV_EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
    FIX_STAT(REAL(fstatat64)(dirfd, path, st, flags), st);
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

NV_EXPORT int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *stx)
{
    int r = REAL(statx)(dirfd, path, flags, mask, stx);
    if (r == 0 && S_ISREG(stx->stx_mode)) {
        off_t size = (off_t)stx->stx_size;
        blkcnt_t blocks = (blkcnt_t)stx->stx_blocks;
        nvops_fix_stat(makedev(stx->stx_dev_major, stx->stx_dev_minor), stx->stx_ino, &size,
                       &blocks);
        stx->stx_size = (uint64_t)size;
        stx->stx_blocks = (uint64_t)blocks;
    }
    return r;
}

NV_EXPORT int unlinkat(int dirfd, const char *path, int flags)
{
    struct nvops_doomed d;
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
    if (d->valid && REAL(fstatat)(olddir, old, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        st.st_dev == d->dev && st.st_ino == d->ino)
        d->valid = false;
}

NV_EXPORT int renameat2(int olddir, const char *old, int newdir, const char *new_path,
                        unsigned flags)
{
    struct nvops_doomed d = {.valid = false};
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
 * the close ends: atomic and durable like any other change. */
static int truncate_path(const char *path, off_t len, int (*real)(const char *, off_t))
{
    if (len < 0) {
        errno = EINVAL;
        return -1;
    }
    if (!nvops_may_manage(0))
        return real(path, len);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = ftruncate(fd, len);
    int saved = errno;
    int c = close(fd);
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
