/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stdio.c - streams on managed files. The C library's streams read and
 * write through internal calls a preload cannot see, so a stream on a
 * managed file is built with fopencookie on the library's own read, write,
 * lseek and close: stdio sees and makes the same bytes as read and write.
 * fileno() of such a stream is its descriptor. dprintf, which writes
 * past the wrappers too, formats here on a managed descriptor.
 */
#include "interpose/real.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/fdtable.h"
#include "core/ops.h"
#include "os/critical.h"

/* open(2) flags for an fopen mode, or -1 for a mode fopen rejects. */
static int mode_flags(const char *mode)
{
    int flags;
    switch (mode[0]) {
    case 'r':
        flags = O_RDONLY;
        break;
    case 'w':
        flags = O_WRONLY | O_CREAT | O_TRUNC;
        break;
    case 'a':
        flags = O_WRONLY | O_CREAT | O_APPEND;
        break;
    default:
        return -1;
    }
    for (const char *m = mode + 1; *m && *m != ','; m++) {
        if (*m == '+')
            flags = (flags & ~O_ACCMODE) | O_RDWR;
        else if (*m == 'x')
            flags |= O_EXCL;
        else if (*m == 'e')
            flags |= O_CLOEXEC;
    }
    return flags;
}

/* The stream of each descriptor that has a managed one (the cookie is the
 * descriptor; the write callback needs the stream). */
static pthread_mutex_t streams_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE **streams;
static char **buffers; /* each stream's buffer (managed_stream), freed at its close */
static int streams_cap;

static void set_stream(int fd, FILE *fp, char *buf)
{
    nv_mutex_lock(&streams_lock);
    if (fd >= streams_cap && fp) {
        int cap = streams_cap ? streams_cap : 64;
        while (cap <= fd)
            cap *= 2;
        FILE **n = realloc(streams, (size_t)cap * sizeof(*n));
        if (n)
            streams = n;
        char **b = n ? realloc(buffers, (size_t)cap * sizeof(*b)) : NULL;
        if (b) {
            buffers = b;
            memset(n + streams_cap, 0, (size_t)(cap - streams_cap) * sizeof(*n));
            memset(b + streams_cap, 0, (size_t)(cap - streams_cap) * sizeof(*b));
            __atomic_store_n(&streams_cap, cap, __ATOMIC_RELAXED);
        }
    }
    if (fd < streams_cap) {
        streams[fd] = fp;
        buffers[fd] = buf;
    }
    nv_mutex_unlock(&streams_lock);
}

static ssize_t cookie_read(void *c, char *buf, size_t n)
{
    return read((int)(intptr_t)c, buf, n);
}

static ssize_t cookie_write(void *c, const char *buf, size_t n)
{
    int fd = (int)(intptr_t)c;
    ssize_t w = write(fd, buf, n);
    /* glibc's cookie streams keep the offset they had before the write (a
     * later ftell or relative seek would be off by the bytes written):
     * make the stream ask again. */
    nv_mutex_lock(&streams_lock);
    if (fd < streams_cap && streams[fd])
        streams[fd]->_offset = -1;
    nv_mutex_unlock(&streams_lock);
    return w < 0 ? 0 : w; /* a cookie writer reports failure as 0 */
}

static int cookie_seek(void *c, off64_t *pos, int whence)
{
    off64_t r = lseek64((int)(intptr_t)c, *pos, whence);
    if (r < 0)
        return -1;
    *pos = r;
    return 0;
}

static int cookie_close(void *c)
{
    int fd = (int)(intptr_t)c;
    nv_mutex_lock(&streams_lock);
    FILE *fp = fd < streams_cap ? streams[fd] : NULL;
    char *buf = fd < streams_cap ? buffers[fd] : NULL;
    nv_mutex_unlock(&streams_lock);
    if (fp)
        nv_wide_forget(fp);
    set_stream(fd, NULL, NULL);
    /* The C library is done with the buffer once it closes the cookie
     * (fclose flushed it first, and forgets it after). */
    free(buf);
    return close(fd);
}

static FILE *managed_stream(int fd, const char *mode)
{
    cookie_io_functions_t io = {cookie_read, cookie_write, cookie_seek, cookie_close};
    FILE *fp = fopencookie((void *)(intptr_t)fd, mode, io);
    if (!fp)
        return NULL;
    fp->_fileno = fd;
    /* The file's block size, as the C library gives its own file streams
     * (a cookie stream would get BUFSIZ): another process sees the writes
     * in the same steps, and reads move the descriptor as far. */
    struct stat st;
    size_t size = fstat(fd, &st) == 0 && st.st_blksize > 0 ? (size_t)st.st_blksize : BUFSIZ;
    char *buf = malloc(size);
    if (buf && setvbuf(fp, buf, _IOFBF, size) != 0) {
        free(buf);
        buf = NULL;
    }
    set_stream(fd, fp, buf);
    return fp;
}

static FILE *open_stream(const char *path, const char *mode,
                         FILE *(*real)(const char *, const char *))
{
    int flags = mode ? mode_flags(mode) : -1;
    /* The C library's fopen takes a NULL path (the kernel refuses it), the
     * open below declares it nonnull. */
    if (flags < 0 || nv_null(path) || !nvops_may_manage(flags))
        return real(path, mode);
    int fd = open(path, flags, 0666);
    if (fd < 0)
        return NULL;
    /* As the C library's fopen: a write-only append stream ("a", not "a+")
     * starts at the end, where ftell finds it (its fdopen does not move a
     * descriptor that has O_APPEND already). */
    if ((flags & O_APPEND) && (flags & O_ACCMODE) == O_WRONLY)
        lseek64(fd, 0, SEEK_END);
    struct nvofd *o = nvops_begin(fd);
    if (!o)
        return REAL(fdopen)(fd, mode);
    nvops_end(o);
    FILE *fp = managed_stream(fd, mode);
    if (!fp) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return fp;
}

NV_EXPORT FILE *fopen(const char *path, const char *mode)
{
    return open_stream(path, mode, REAL(fopen));
}

NV_EXPORT FILE *fopen64(const char *path, const char *mode)
{
    return open_stream(path, mode, REAL(fopen64));
}

/* ---- dprintf: formatted output to a descriptor ------------------------ */

/* The C library's dprintf writes with its internal write, past the
 * wrappers: on a managed descriptor the output is formatted here and
 * written through the library. As the C library's, a failed write fails
 * the call, and the bytes written before it stay. */
static int print_to(int fd, const char *fmt, va_list ap)
{
    char *text;
    int n = vasprintf(&text, fmt, ap);
    if (n < 0)
        return -1;
    for (int done = 0; done < n;) {
        ssize_t w = write(fd, text + done, (size_t)(n - done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            free(text);
            return -1;
        }
        done += (int)w;
    }
    free(text);
    return n;
}

NV_EXPORT int vdprintf(int fd, const char *fmt, va_list ap)
{
    return nvfd_is_managed(fd) ? print_to(fd, fmt, ap) : REAL(vdprintf)(fd, fmt, ap);
}

NV_EXPORT int dprintf(int fd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vdprintf(fd, fmt, ap);
    va_end(ap);
    return n;
}

/* The _FORTIFY_SOURCE forms; the flag asks for checks of %n that the C
 * library's vasprintf makes under the same build anyway. */
NV_EXPORT int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap)
{
    return nvfd_is_managed(fd) ? print_to(fd, fmt, ap) : REAL(__vdprintf_chk)(fd, flag, fmt, ap);
}

NV_EXPORT int __dprintf_chk(int fd, int flag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = __vdprintf_chk(fd, flag, fmt, ap);
    va_end(ap);
    return n;
}

/* The descriptor of fp when fp is a stream of the library's, or -1. */
static int stream_fd(FILE *fp)
{
    int fd = -1;
    nv_mutex_lock(&streams_lock);
    for (int i = 0; i < streams_cap && fd < 0; i++)
        if (streams[i] == fp)
            fd = i;
    nv_mutex_unlock(&streams_lock);
    return fd;
}

bool nv_stdio_managed(FILE *fp)
{
    /* Most streams are the C library's: no lock while the library has
     * made none. */
    return __atomic_load_n(&streams_cap, __ATOMIC_RELAXED) && !nv_null(fp) && stream_fd(fp) >= 0;
}

/* The C library's stream flags that say which way a stream may go; its
 * ABI fixes them (libio.h, not installed). */
#define STREAM_NO_READS  0x0004
#define STREAM_NO_WRITES 0x0008

/* The C library's freopen takes a cookie stream for one of its own files
 * and breaks it (it resets the stream's functions and its wide data): the
 * library's streams are reopened here instead. The stream stays the same
 * object, on the same descriptor number, which is the cookie: the new
 * file's descriptor is moved onto it. NULL path: the same file, in the
 * new mode. As the C library's, the old file is closed even when the new
 * one cannot be opened, and then the stream too. */
static FILE *reopen_stream(const char *path, const char *mode, FILE *fp,
                           FILE *(*real)(const char *, const char *, FILE *))
{
    int fd = nv_null(fp) ? -1 : stream_fd(fp);
    if (fd < 0)
        return real(path, mode, fp);
    int flags = mode ? mode_flags(mode) : -1;
    if (flags < 0) {
        fclose(fp);
        errno = EINVAL;
        return NULL;
    }
    fflush(fp);
    char self[32];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    int nfd = path ? open(path, flags, 0666) : open(self, flags & ~(O_CREAT | O_EXCL), 0);
    if (nfd < 0 || dup3(nfd, fd, flags & O_CLOEXEC) < 0) {
        int saved = errno;
        if (nfd >= 0)
            close(nfd);
        fclose(fp);
        errno = saved;
        return NULL;
    }
    close(nfd);
    fp->_flags &= ~(STREAM_NO_READS | STREAM_NO_WRITES | _IO_EOF_SEEN | _IO_ERR_SEEN);
    if ((flags & O_ACCMODE) == O_RDONLY)
        fp->_flags |= STREAM_NO_WRITES;
    else if ((flags & O_ACCMODE) == O_WRONLY)
        fp->_flags |= STREAM_NO_READS;
    /* Whatever the stream read ahead was the old file's. */
    fseeko64(fp, 0, (flags & O_APPEND) ? SEEK_END : SEEK_SET);
    return fp;
}

NV_EXPORT FILE *freopen(const char *path, const char *mode, FILE *fp)
{
    return reopen_stream(path, mode, fp, REAL(freopen));
}

NV_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *fp)
{
    return reopen_stream(path, mode, fp, REAL(freopen64));
}

NV_EXPORT FILE *fdopen(int fd, const char *mode)
{
    struct nvofd *o = nvops_begin(fd);
    if (!o)
        return REAL(fdopen)(fd, mode);
    nvops_end(o);
    int want = mode ? mode_flags(mode) : -1;
    int have = fcntl(fd, F_GETFL);
    if (have < 0)
        return NULL;
    /* As the C library: refused only when the descriptor's mode excludes
     * the stream's (the fourth mode, O_RDWR | O_WRONLY, excludes nothing
     * here; its reads and writes fail later). */
    int want_mode = want & O_ACCMODE, have_mode = have & O_ACCMODE;
    if (want < 0 || (have_mode == O_RDONLY && want_mode != O_RDONLY) ||
        (have_mode == O_WRONLY && want_mode != O_WRONLY)) {
        errno = EINVAL;
        return NULL;
    }
    /* As the C library's fdopen: an append stream sets O_APPEND, and a
     * write-only one ("a", not "a+") also moves the offset to the end. */
    if ((want & O_APPEND) && !(have & O_APPEND)) {
        fcntl(fd, F_SETFL, have | O_APPEND);
        if ((want & O_ACCMODE) == O_WRONLY)
            lseek64(fd, 0, SEEK_END);
    }
    return managed_stream(fd, mode);
}
