/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vector.c - wrappers of vectored IO: readv, writev, preadv, pwritev,
 * preadv2, pwritev2 and their 64-bit forms. A vectored write is one write:
 * atomic, and one durability point in sync mode.
 */
#include "interpose/real.h"

#include "core/ops.h"

/* preadv/pwritev reject a negative offset; the *2 forms take -1 as "the
 * file position". */
static off_t positional(off_t off)
{
    return off < 0 ? -2 : off;
}

NV_EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
    DISPATCH_POINT(fd, REAL(readv)(fd, iov, iovcnt), nvops_readv(o, iov, iovcnt, -1, 0));
}

NV_EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    DISPATCH_CHANGE_POINT(fd, REAL(writev)(fd, iov, iovcnt), nvops_writev(o, iov, iovcnt, -1, 0));
}

NV_EXPORT ssize_t preadv(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    DISPATCH_POINT(fd, REAL(preadv)(fd, iov, iovcnt, off),
                   nvops_readv(o, iov, iovcnt, positional(off), 0));
}

NV_EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int iovcnt, off64_t off)
{
    DISPATCH_POINT(fd, REAL(preadv64)(fd, iov, iovcnt, off),
                   nvops_readv(o, iov, iovcnt, positional(off), 0));
}

NV_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    DISPATCH_CHANGE_POINT(fd, REAL(pwritev)(fd, iov, iovcnt, off),
                          nvops_writev(o, iov, iovcnt, positional(off), 0));
}

NV_EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off64_t off)
{
    DISPATCH_CHANGE_POINT(fd, REAL(pwritev64)(fd, iov, iovcnt, off),
                          nvops_writev(o, iov, iovcnt, positional(off), 0));
}

NV_EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
    DISPATCH_POINT(fd, REAL(preadv2)(fd, iov, iovcnt, off, flags),
                   nvops_readv(o, iov, iovcnt, off, flags));
}

NV_EXPORT ssize_t preadv64v2(int fd, const struct iovec *iov, int iovcnt, off64_t off, int flags)
{
    DISPATCH_POINT(fd, REAL(preadv64v2)(fd, iov, iovcnt, off, flags),
                   nvops_readv(o, iov, iovcnt, off, flags));
}

NV_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
    DISPATCH_CHANGE_POINT(fd, REAL(pwritev2)(fd, iov, iovcnt, off, flags),
                          nvops_writev(o, iov, iovcnt, off, flags));
}

NV_EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int iovcnt, off64_t off, int flags)
{
    DISPATCH_CHANGE_POINT(fd, REAL(pwritev64v2)(fd, iov, iovcnt, off, flags),
                          nvops_writev(o, iov, iovcnt, off, flags));
}
