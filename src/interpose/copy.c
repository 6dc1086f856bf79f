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
#include <sys/stat.h>
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
 * *out_off, or its position). Files are read and written at explicit
 * offsets and positions moved once at the end, as the kernel does: in
 * first, then out, so the same description given twice moves once. Pipes
 * are read and written in order. Returns bytes copied, or -1 and errno
 * when nothing was copied. */
static ssize_t copy_through(int in, off64_t *in_off, int out, off64_t *out_off, size_t len)
{
    off64_t in_pos = in_off ? *in_off : lseek64(in, 0, SEEK_CUR);
    off64_t out_pos = out_off ? *out_off : lseek64(out, 0, SEEK_CUR);
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
        ssize_t n =
            in_pos >= 0 ? pread64(in, buf, want, in_pos + (off64_t)done) : read(in, buf, want);
        if (n <= 0) {
            err = n < 0 ? errno : 0;
            break;
        }
        ssize_t put = 0;
        while (put < n) {
            ssize_t w = out_pos >= 0 ? pwrite64(out, buf + put, (size_t)(n - put),
                                                out_pos + (off64_t)(done + (size_t)put))
                                     : write(out, buf + put, (size_t)(n - put));
            if (w <= 0) {
                err = w < 0 ? errno : EIO;
                break;
            }
            put += w;
        }
        done += (size_t)put;
        if (put < n || (size_t)n < want)
            break;
    }
    free(buf);
    if (in_off)
        *in_off += (off64_t)done;
    else if (in_pos >= 0)
        lseek64(in, in_pos + (off64_t)done, SEEK_SET);
    if (out_off)
        *out_off += (off64_t)done;
    else if (out_pos >= 0)
        lseek64(out, out_pos + (off64_t)done, SEEK_SET);
    if (done == 0 && err) {
        errno = err;
        return -1;
    }
    return (ssize_t)done;
}

static ssize_t fail(int err)
{
    errno = err;
    return -1;
}

/* The checks of the kernel, in its order: in readable, out writable. */
static int check_access(int in, int out)
{
    int in_flags = fcntl(in, F_GETFL), out_flags = fcntl(out, F_GETFL);
    if (in_flags < 0 || out_flags < 0 || (in_flags & O_ACCMODE) == O_WRONLY ||
        (out_flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    return out_flags;
}

/* copy_file_range's checks, in the kernel's order. */
static ssize_t copy_range(int in, off64_t *in_off, int out, off64_t *out_off, size_t len,
                          unsigned flags)
{
    int in_flags = fcntl(in, F_GETFL), out_flags = fcntl(out, F_GETFL);
    if (in_flags < 0 || out_flags < 0)
        return fail(EBADF);
    if (flags != 0)
        return fail(EINVAL);
    struct stat si, so;
    if (fstat(in, &si) < 0 || fstat(out, &so) < 0)
        return -1;
    if (S_ISDIR(si.st_mode) || S_ISDIR(so.st_mode))
        return fail(EISDIR);
    if (!S_ISREG(si.st_mode) || !S_ISREG(so.st_mode))
        return fail(EINVAL);
    if ((in_flags & O_ACCMODE) == O_WRONLY || (out_flags & O_ACCMODE) == O_RDONLY ||
        (out_flags & O_APPEND))
        return fail(EBADF);
    off64_t pin = in_off ? *in_off : lseek64(in, 0, SEEK_CUR);
    off64_t pout = out_off ? *out_off : lseek64(out, 0, SEEK_CUR);
    if (pin < 0 || pout < 0) /* certain to fail: the kernel says how */
        return REAL(copy_file_range)(in, in_off, out, out_off, len, flags);
    /* Only what the input holds counts, also for the overlap check. */
    off64_t count = pin >= si.st_size ? 0 : si.st_size - pin;
    if ((off64_t)len < count)
        count = (off64_t)len;
    if (si.st_dev == so.st_dev && si.st_ino == so.st_ino && pout + count > pin &&
        pout < pin + count)
        return fail(EINVAL);
    if (count == 0)
        return 0;
    return copy_through(in, in_off, out, out_off, (size_t)count);
}

NV_EXPORT ssize_t copy_file_range(int in, off64_t *in_off, int out, off64_t *out_off, size_t len,
                                  unsigned int flags)
{
    if (!involves_managed(in, out))
        return REAL(copy_file_range)(in, in_off, out, out_off, len, flags);
    return copy_range(in, in_off, out, out_off, len, flags);
}

/* sendfile's checks, in the kernel's order: access, then no output in
 * append mode. */
static bool refuse_sendfile(int out, int in)
{
    int out_flags = check_access(in, out);
    if (out_flags < 0 || (out_flags & O_APPEND)) {
        errno = out_flags < 0 ? -out_flags : EINVAL;
        return true;
    }
    return false;
}

NV_EXPORT ssize_t sendfile(int out, int in, off_t *offset, size_t count)
{
    if (!involves_managed(in, out) || (offset && *offset < 0))
        return REAL(sendfile)(out, in, offset, count);
    if (refuse_sendfile(out, in))
        return -1;
    off64_t off = offset ? *offset : 0;
    ssize_t r = copy_through(in, offset ? &off : NULL, out, NULL, count);
    if (offset)
        *offset = (off_t)off;
    return r;
}

NV_EXPORT ssize_t sendfile64(int out, int in, off64_t *offset, size_t count)
{
    if (!involves_managed(in, out) || (offset && *offset < 0))
        return REAL(sendfile64)(out, in, offset, count);
    if (refuse_sendfile(out, in))
        return -1;
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
