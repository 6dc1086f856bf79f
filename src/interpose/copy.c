/*
 * copy.c - wrappers of the calls that copy between descriptors inside the
 * kernel: copy_file_range, sendfile, splice, and copy_file_range reached
 * through syscall(2). With a managed file on either side the kernel would
 * see stale bytes, so the copy is done through the library's own read and
 * write (the wrappers of this library, which serve both managed and plain
 * descriptors).
 */
#include "interpose/real.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>

#include "core/ops.h"

#define COPY_CHUNK ((size_t)1 << 20)

static bool involves_managed(int a, int b)
{
    struct nvofd *o = nvops_begin(a);
    if (!o)
        o = nvops_begin(b);
    if (o)
        nvops_end(o);
    return o != NULL;
}

/* Copies up to len bytes from in (at *in_off, or its position) to out (at
 * *out_off, or its position). Returns bytes copied, or -1 and errno when
 * nothing was copied. */
static ssize_t copy_through(int in, off64_t *in_off, int out, off64_t *out_off, size_t len)
{
    size_t cap = len < COPY_CHUNK ? len : COPY_CHUNK;
    char *buf = malloc(cap ? cap : 1);
    if (!buf) {
        errno = ENOMEM;
        return -1;
    }
    size_t done = 0;
    int err = 0;
    while (done < len) {
        size_t want = len - done < cap ? len - done : cap;
        ssize_t n = in_off ? pread64(in, buf, want, *in_off + (off64_t)done) : read(in, buf, want);
        if (n <= 0) {
            err = n < 0 ? errno : 0;
            break;
        }
        ssize_t put = 0;
        while (put < n) {
            ssize_t w = out_off ? pwrite64(out, buf + put, (size_t)(n - put),
                                           *out_off + (off64_t)(done + (size_t)put))
                                : write(out, buf + put, (size_t)(n - put));
            if (w <= 0) {
                err = w < 0 ? errno : EIO;
                break;
            }
            put += w;
        }
        done += (size_t)put;
        if (put < n) {
            /* Give back what was read but not written, when the input moves. */
            if (!in_off)
                lseek64(in, (off64_t)put - n, SEEK_CUR);
            break;
        }
        if ((size_t)n < want)
            break;
    }
    free(buf);
    if (in_off)
        *in_off += (off64_t)done;
    if (out_off)
        *out_off += (off64_t)done;
    if (done == 0 && err) {
        errno = err;
        return -1;
    }
    return (ssize_t)done;
}

static ssize_t copy_range(int in, off64_t *in_off, int out, off64_t *out_off, size_t len,
                          unsigned flags)
{
    if (flags != 0) {
        errno = EINVAL;
        return -1;
    }
    int out_flags = fcntl(out, F_GETFL);
    if (out_flags < 0 || fcntl(in, F_GETFL) < 0) {
        errno = EBADF;
        return -1;
    }
    if (out_flags & O_APPEND) { /* as the kernel */
        errno = EBADF;
        return -1;
    }
    return copy_through(in, in_off, out, out_off, len);
}

NV_EXPORT ssize_t copy_file_range(int in, off64_t *in_off, int out, off64_t *out_off, size_t len,
                                  unsigned int flags)
{
    if (!involves_managed(in, out))
        return REAL(copy_file_range)(in, in_off, out, out_off, len, flags);
    return copy_range(in, in_off, out, out_off, len, flags);
}

NV_EXPORT ssize_t sendfile(int out, int in, off_t *offset, size_t count)
{
    if (!involves_managed(in, out))
        return REAL(sendfile)(out, in, offset, count);
    off64_t off = offset ? *offset : 0;
    ssize_t r = copy_through(in, offset ? &off : NULL, out, NULL, count);
    if (offset)
        *offset = (off_t)off;
    return r;
}

NV_EXPORT ssize_t sendfile64(int out, int in, off64_t *offset, size_t count)
{
    if (!involves_managed(in, out))
        return REAL(sendfile64)(out, in, offset, count);
    return copy_through(in, offset, out, NULL, count);
}

NV_EXPORT ssize_t splice(int in, off64_t *in_off, int out, off64_t *out_off, size_t len,
                         unsigned int flags)
{
    if (!involves_managed(in, out))
        return REAL(splice)(in, in_off, out, out_off, len, flags);
    return copy_through(in, in_off, out, out_off, len);
}

/* Some programs (cp among them, on older glibc) call copy_file_range
 * through syscall(2); everything else passes straight on. */
NV_EXPORT long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_copy_file_range && involves_managed((int)a[0], (int)a[2]))
        return copy_range((int)a[0], (off64_t *)a[1], (int)a[2], (off64_t *)a[3], (size_t)a[4],
                          (unsigned)a[5]);
    return REAL(syscall)(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
