/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * io.c - wrappers of the data calls: read, write, their positional and
 * fortified forms, lseek, fsync, fdatasync and ftruncate. An unmanaged
 * descriptor costs one table lookup before the C library's own call. The
 * calls that are cancellation points in the C library stay ones
 * (DISPATCH_POINT).
 */
#include "interpose/real.h"

#include "core/ops.h"

NV_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    DISPATCH_POINT(fd, REAL(read)(fd, buf, n), nvops_read(o, buf, n));
}

NV_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    DISPATCH_CHANGE_POINT(fd, REAL(write)(fd, buf, n), nvops_write(o, buf, n));
}

NV_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    DISPATCH_POINT(fd, REAL(pread)(fd, buf, n, off), nvops_pread(o, buf, n, off));
}

NV_EXPORT ssize_t pread64(int fd, void *buf, size_t n, off64_t off)
{
    DISPATCH_POINT(fd, REAL(pread64)(fd, buf, n, off), nvops_pread(o, buf, n, off));
}

NV_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    DISPATCH_CHANGE_POINT(fd, REAL(pwrite)(fd, buf, n, off), nvops_pwrite(o, buf, n, off));
}

NV_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    DISPATCH_CHANGE_POINT(fd, REAL(pwrite64)(fd, buf, n, off), nvops_pwrite(o, buf, n, off));
}

/* _FORTIFY_SOURCE forms: the C library checks the buffer size first. */
NV_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    DISPATCH_POINT(fd, REAL(__read_chk)(fd, buf, n, buflen),
                   n > buflen ? REAL(__read_chk)(-1, buf, n, buflen) : nvops_read(o, buf, n));
}

NV_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
    DISPATCH_POINT(fd, REAL(__pread_chk)(fd, buf, n, off, buflen),
                   n > buflen ? REAL(__pread_chk)(-1, buf, n, off, buflen)
                              : nvops_pread(o, buf, n, off));
}

NV_EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen)
{
    DISPATCH_POINT(fd, REAL(__pread64_chk)(fd, buf, n, off, buflen),
                   n > buflen ? REAL(__pread64_chk)(-1, buf, n, off, buflen)
                              : nvops_pread(o, buf, n, off));
}

NV_EXPORT off_t lseek(int fd, off_t off, int whence)
{
    DISPATCH(fd, REAL(lseek)(fd, off, whence), nvops_lseek(o, off, whence));
}

NV_EXPORT off64_t lseek64(int fd, off64_t off, int whence)
{
    DISPATCH(fd, REAL(lseek64)(fd, off, whence), nvops_lseek(o, off, whence));
}

NV_EXPORT int fsync(int fd)
{
    DISPATCH_POINT(fd, REAL(fsync)(fd), nvops_fsync(o));
}

NV_EXPORT int fdatasync(int fd)
{
    DISPATCH_POINT(fd, REAL(fdatasync)(fd), nvops_fsync(o));
}

NV_EXPORT int ftruncate(int fd, off_t len)
{
    DISPATCH_CHANGE(fd, REAL(ftruncate)(fd, len), nvops_ftruncate(o, len));
}

NV_EXPORT int ftruncate64(int fd, off64_t len)
{
    DISPATCH_CHANGE(fd, REAL(ftruncate64)(fd, len), nvops_ftruncate(o, len));
}

NV_EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
    DISPATCH_CHANGE_POINT(fd, REAL(fallocate)(fd, mode, off, len),
                          nvops_fallocate(o, mode, off, len));
}

NV_EXPORT int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
    DISPATCH_CHANGE_POINT(fd, REAL(fallocate64)(fd, mode, off, len),
                          nvops_fallocate(o, mode, off, len));
}

/* posix_fallocate returns the error number instead of setting errno. */
static int posix_allocate(int fd, off64_t off, off64_t len)
{
    struct nvofd *o = nvops_begin(fd);
    if (!o)
        return nvtx_refuse_kernel_fd(fd) < 0 ? EXDEV : -1;
    int rc = nvops_fallocate(o, 0, off, len);
    nvops_end(o);
    if (nvops_unservable(rc)) {
        nvops_give_up(fd, rc);
        return -1;
    }
    return -rc;
}

NV_EXPORT int posix_fallocate(int fd, off_t off, off_t len)
{
    int rc = posix_allocate(fd, off, len);
    return rc >= 0 ? rc : REAL(posix_fallocate)(fd, off, len);
}

NV_EXPORT int posix_fallocate64(int fd, off64_t off, off64_t len)
{
    int rc = posix_allocate(fd, off, len);
    return rc >= 0 ? rc : REAL(posix_fallocate64)(fd, off, len);
}

NV_EXPORT int sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags)
{
    DISPATCH_POINT(fd, REAL(sync_file_range)(fd, off, n, flags),
                   nvops_sync_range(o, off, n, flags));
}

NV_EXPORT int syncfs(int fd)
{
    int rc = nvops_commit_all();
    int r = REAL(syncfs)(fd);
    return r == 0 && rc < 0 ? (int)nv_ret(rc) : r;
}

NV_EXPORT void sync(void)
{
    nvops_commit_all();
    REAL(sync)();
}
