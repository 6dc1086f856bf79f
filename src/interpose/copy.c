/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * copy.c - wrappers of the calls that copy between descriptors inside the
 * kernel: copy_file_range, sendfile, splice, and copy_file_range reached
 * through syscall(2). With a managed file on either side the kernel would
 * see stale bytes, so the copy is done through the library's own read and
 * write (the wrappers of this library, which serve both managed and plain
 * descriptors). syscall(2) also passes the calls that make, copy or close
 * descriptors (and openat2, which the C library does not wrap) to the
 * library's wrappers; any other call it makes on a managed file (Linux AIO
 * as libaio submits it among them) first hands the file to the kernel
 * (nvops_bare_call).
 */
#include "interpose/real.h"

#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
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

static ssize_t fail(int err)
{
    errno = err;
    return -1;
}

/* A pipe takes bytes into page-sized buffers, a fixed number of them: a
 * write waits once every buffer is used, however few bytes they hold. */
#define PIPE_PIECE ((size_t)4096)

/* Whether out is a pipe, and if so the bytes it can take now at most,
 * once it has a free buffer: waiting for one unless nonblock (or its
 * description is non-blocking), -EAGAIN then. The kernel's splice and
 * sendfile into a pipe wait the same way, then move what fits. */
static bool pipe_out(int out, bool nonblock, ssize_t *room)
{
    int size = fcntl(out, F_GETPIPE_SZ);
    if (size < 0)
        return false;
    nonblock = nonblock || (fcntl(out, F_GETFL) & O_NONBLOCK);
    struct pollfd p = {.fd = out, .events = POLLOUT};
    int ready;
    while ((ready = poll(&p, 1, nonblock ? 0 : -1)) < 0 && errno == EINTR) {
    }
    int queued;
    if (ready < 0)
        *room = -errno;
    else if (ready == 0)
        *room = -EAGAIN;
    else /* no reader left: the write says so */
        *room = ioctl(out, FIONREAD, &queued) < 0 || queued >= size ? size : size - queued;
    return true;
}

/* Writes buf into the pipe out a piece at a time, so no write waits: the
 * first piece has the free buffer pipe_out found, each later one goes only
 * while poll finds another. Returns the bytes written, or -1 and errno
 * when the first piece fails. */
static ssize_t pipe_put(int out, const char *buf, size_t n, bool *first)
{
    size_t put = 0;
    while (put < n) {
        struct pollfd p = {.fd = out, .events = POLLOUT};
        if (!*first && poll(&p, 1, 0) <= 0)
            break;
        ssize_t w = write(out, buf + put, n - put < PIPE_PIECE ? n - put : PIPE_PIECE);
        if (w <= 0)
            return put ? (ssize_t)put : w;
        *first = false;
        put += (size_t)w;
    }
    return (ssize_t)put;
}

/* Whether len bytes at pos reach past the largest offset (with pos < 0:
 * no position, a pipe), which the kernel refuses (EINVAL) in sendfile and
 * splice. */
static bool past_offsets(off64_t pos, size_t len)
{
    return len > SSIZE_MAX || (pos >= 0 && len > (uint64_t)(INT64_MAX - pos));
}

/* Whether a pipe in has bytes (or no writer left) now. */
static bool pipe_ready(int in)
{
    struct pollfd p = {.fd = in, .events = POLLIN};
    return poll(&p, 1, 0) != 0;
}

/* Copies up to len bytes from in (at *in_off, or its position) to out (at
 * *out_off, or its position). Files are read and written at explicit
 * offsets and positions moved once at the end, as the kernel does: in
 * first, then out, so the same description given twice moves once. Pipes
 * are read and written in order. Returns bytes copied, or -1 and errno
 * when nothing was copied. */
static ssize_t copy_through(int in, off64_t *in_off, int out, off64_t *out_off, size_t len,
                            bool nonblock)
{
    off64_t in_pos = in_off ? *in_off : lseek64(in, 0, SEEK_CUR);
    off64_t out_pos = out_off ? *out_off : lseek64(out, 0, SEEK_CUR);
    if (past_offsets(in_pos, len) || past_offsets(out_pos, len))
        return fail(EINVAL);
    /* A pipe: as much as it has room for now, once it has any (or EAGAIN);
     * read from, only what it holds once it holds anything. */
    ssize_t room = 0;
    bool to_pipe = out_pos < 0 && pipe_out(out, nonblock, &room), first = true;
    if (room < 0)
        return fail((int)-room);
    if (to_pipe && (size_t)room < len)
        len = (size_t)room;
    if (in_pos < 0 && nonblock && !pipe_ready(in))
        return fail(EAGAIN);
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
            size_t rest = (size_t)(n - put);
            ssize_t w = out_pos >= 0 ? pwrite64(out, buf + put, rest,
                                                out_pos + (off64_t)(done + (size_t)put))
                        : to_pipe    ? pipe_put(out, buf + put, rest, &first)
                                     : write(out, buf + put, rest);
            if (w <= 0) {
                err = w < 0 ? errno : EIO;
                break;
            }
            put += w;
            if (to_pipe && (size_t)w < rest)
                break; /* the pipe is full */
        }
        done += (size_t)put;
        if (put < n || (size_t)n < want)
            break;
    }
    free(buf);
    nvstats_copied(in, out, done);
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

/* The access mode as the kernel reads it: the fourth mode (O_RDWR |
 * O_WRONLY) neither reads nor writes. */
static bool readable(int flags)
{
    return (flags & O_ACCMODE) == O_RDONLY || (flags & O_ACCMODE) == O_RDWR;
}

static bool writable(int flags)
{
    return (flags & O_ACCMODE) == O_WRONLY || (flags & O_ACCMODE) == O_RDWR;
}

/* The status flags of fd, or -1 when the kernel's copy calls see no file
 * there: no descriptor, or an O_PATH one. */
static int flags_of(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 || (flags & O_PATH) ? -1 : flags;
}

/* The file type of fd, or 0 when fstat fails. */
static mode_t type_of(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? st.st_mode & S_IFMT : 0;
}

/* copy_file_range's checks, in the kernel's order. */
static ssize_t copy_range(int in, off64_t *in_off, int out, off64_t *out_off, size_t len,
                          unsigned flags)
{
    int in_flags = flags_of(in), out_flags = flags_of(out);
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
    if (!readable(in_flags) || !writable(out_flags) || (out_flags & O_APPEND))
        return fail(EBADF);
    off64_t pin = in_off ? *in_off : lseek64(in, 0, SEEK_CUR);
    off64_t pout = out_off ? *out_off : lseek64(out, 0, SEEK_CUR);
    if ((uint64_t)pin + len < (uint64_t)pin || (uint64_t)pout + len < (uint64_t)pout)
        return fail(EOVERFLOW);
    if (pin < 0 || pout < 0) /* certain to fail: the kernel says how */
        return REAL(copy_file_range)(in, in_off, out, out_off, len, flags);
    /* Only what the input holds counts, also for the overlap check, and
     * no more than the output may grow to. */
    off64_t count = pin >= si.st_size ? 0 : si.st_size - pin;
    if ((uint64_t)len < (uint64_t)count)
        count = (off64_t)len;
    if (count > INT64_MAX - pout)
        count = INT64_MAX - pout;
    if (si.st_dev == so.st_dev && si.st_ino == so.st_ino && pout + count > pin &&
        pout < pin + count)
        return fail(EINVAL);
    if (count == 0)
        return 0;
    /* Between file systems the kernel copies nothing: the caller falls
     * back to reading and writing itself. */
    if (si.st_dev != so.st_dev)
        return fail(EXDEV);
    return copy_through(in, in_off, out, out_off, (size_t)count, false);
}

NV_EXPORT ssize_t copy_file_range(int in, off64_t *in_off, int out, off64_t *out_off, size_t len,
                                  unsigned int flags)
{
    if (!involves_managed(in, out))
        return REAL(copy_file_range)(in, in_off, out, out_off, len, flags);
    return copy_range(in, in_off, out, out_off, len, flags);
}

/* sendfile's checks, in the kernel's order: the input readable (and
 * seekable when given an offset, which must not be negative), the output
 * writable; then, unless the output is a pipe, no output in append mode
 * and an input that is a regular file. */
static bool refuse_sendfile(int out, int in, const off64_t *offset)
{
    int in_flags = flags_of(in), out_flags = flags_of(out);
    mode_t in_type = in_flags < 0 ? 0 : type_of(in);
    int err = 0;
    if (in_flags < 0 || !readable(in_flags))
        err = EBADF;
    else if (offset && (in_type == S_IFIFO || in_type == S_IFSOCK))
        err = ESPIPE;
    else if (offset && *offset < 0)
        err = EINVAL;
    else if (out_flags < 0 || !writable(out_flags))
        err = EBADF;
    else if (type_of(out) != S_IFIFO && ((out_flags & O_APPEND) || in_type != S_IFREG))
        err = EINVAL;
    errno = err;
    return err != 0;
}

NV_EXPORT ssize_t sendfile(int out, int in, off_t *offset, size_t count)
{
    if (!involves_managed(in, out))
        return REAL(sendfile)(out, in, offset, count);
    off64_t off = offset ? *offset : 0;
    if (refuse_sendfile(out, in, offset ? &off : NULL))
        return -1;
    ssize_t r = copy_through(in, offset ? &off : NULL, out, NULL, count, false);
    if (offset)
        *offset = (off_t)off;
    return r;
}

NV_EXPORT ssize_t sendfile64(int out, int in, off64_t *offset, size_t count)
{
    if (!involves_managed(in, out))
        return REAL(sendfile64)(out, in, offset, count);
    if (refuse_sendfile(out, in, offset))
        return -1;
    return copy_through(in, offset, out, NULL, count, false);
}

/* splice's checks, in the kernel's order: 0 to go on, or an errno. One
 * side must be a pipe, which takes no offset; the other side's offset must
 * not be negative, and an output file must not be in append mode. */
static int check_splice(int in, const off64_t *in_off, int out, const off64_t *out_off,
                        unsigned flags)
{
    const unsigned known = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT;
    if (flags & ~known)
        return EINVAL;
    int in_flags = flags_of(in), out_flags = flags_of(out);
    if (in_flags < 0 || out_flags < 0)
        return EBADF;
    bool in_pipe = type_of(in) == S_IFIFO, out_pipe = type_of(out) == S_IFIFO;
    if ((in_pipe && in_off) || (out_pipe && out_off))
        return ESPIPE;
    if (!readable(in_flags) || !writable(out_flags))
        return EBADF;
    if (in_pipe && !out_pipe)
        return (out_flags & O_APPEND) || (out_off && *out_off < 0) ? EINVAL : 0;
    if (out_pipe && !in_pipe)
        return in_off && *in_off < 0 ? EINVAL : 0;
    return EINVAL; /* two pipes never involve a managed file */
}

NV_EXPORT ssize_t splice(int in, off64_t *in_off, int out, off64_t *out_off, size_t len,
                         unsigned int flags)
{
    if (!involves_managed(in, out))
        return REAL(splice)(in, in_off, out, out_off, len, flags);
    if (len == 0)
        return 0;
    int err = check_splice(in, in_off, out, out_off, flags);
    return err ? fail(err) : copy_through(in, in_off, out, out_off, len, flags & SPLICE_F_NONBLOCK);
}

/* Some programs (cp among them, on older glibc) call copy_file_range
 * through syscall(2); everything else passes on, once the files it names
 * are the kernel's (nvops_bare_call). Like the C
 * library's own, it takes six arguments whatever the caller passed: the
 * sixth comes from the caller's stack, where a caller with fewer has
 * whatever lies there, which AddressSanitizer would report as an
 * underflow of the caller's frame. */
NV_EXPORT __attribute__((no_sanitize("address"))) long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    switch (number) {
    case SYS_copy_file_range:
        if (involves_managed((int)a[0], (int)a[2]))
            return copy_range((int)a[0], (off64_t *)a[1], (int)a[2], (off64_t *)a[3], (size_t)a[4],
                              (unsigned)a[5]);
        break;
    /* What makes, copies or closes descriptors goes through the library's
     * wrappers, whose table would otherwise go stale: a closed number
     * taken again by a pipe, say, would still be served as the file. */
    case SYS_close:
        return close((int)a[0]);
    case SYS_close_range:
        return close_range((unsigned)a[0], (unsigned)a[1], (int)a[2]);
    case SYS_dup:
        return dup((int)a[0]);
#ifdef SYS_dup2
    case SYS_dup2:
        return dup2((int)a[0], (int)a[1]);
#endif
    case SYS_dup3:
        return dup3((int)a[0], (int)a[1], (int)a[2]);
    case SYS_fcntl:
        return fcntl((int)a[0], (int)a[1], a[2]);
    case SYS_openat2:
        return nv_openat2((int)a[0], (const char *)a[1], (const struct open_how *)a[2],
                          (size_t)a[3]);
    default:
        break;
    }
    nvops_bare_call(number, a);
    return REAL(syscall)(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
