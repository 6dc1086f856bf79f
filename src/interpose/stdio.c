/*
 * stdio.c - streams on managed files. The C library's streams read and
 * write through internal calls a preload cannot see, so a stream on a
 * managed file is built with fopencookie on the library's own read, write,
 * lseek and close: stdio sees and makes the same bytes as read and write.
 * fileno() of such a stream is its descriptor.
 */
#include "interpose/real.h"

#include <stdint.h>
#include <string.h>

#include "core/ops.h"

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

static ssize_t cookie_read(void *c, char *buf, size_t n)
{
    return read((int)(intptr_t)c, buf, n);
}

static ssize_t cookie_write(void *c, const char *buf, size_t n)
{
    ssize_t w = write((int)(intptr_t)c, buf, n);
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
    return close((int)(intptr_t)c);
}

static FILE *managed_stream(int fd, const char *mode)
{
    cookie_io_functions_t io = {cookie_read, cookie_write, cookie_seek, cookie_close};
    FILE *fp = fopencookie((void *)(intptr_t)fd, mode, io);
    if (fp)
        fp->_fileno = fd;
    return fp;
}

static FILE *open_stream(const char *path, const char *mode,
                         FILE *(*real)(const char *, const char *))
{
    int flags = mode ? mode_flags(mode) : -1;
    if (flags < 0 || !nvops_may_manage(flags))
        return real(path, mode);
    int fd = open(path, flags, 0666);
    if (fd < 0)
        return NULL;
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

NV_EXPORT FILE *fdopen(int fd, const char *mode)
{
    struct nvofd *o = nvops_begin(fd);
    if (!o)
        return REAL(fdopen)(fd, mode);
    nvops_end(o);
    int want = mode ? mode_flags(mode) : -1;
    int have = fcntl(fd, F_GETFL);
    bool ok = want >= 0 && have >= 0 &&
              ((want & O_ACCMODE) == O_RDONLY   ? (have & O_ACCMODE) != O_WRONLY
               : (want & O_ACCMODE) == O_WRONLY ? (have & O_ACCMODE) != O_RDONLY
                                                : (have & O_ACCMODE) == O_RDWR);
    if (!ok) {
        errno = EINVAL;
        return NULL;
    }
    if ((want & O_APPEND) && !(have & O_APPEND))
        fcntl(fd, F_SETFL, have | O_APPEND);
    return managed_stream(fd, mode);
}
