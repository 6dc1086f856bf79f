/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * files.c - wrappers of the calls that make and unmake descriptors: the
 * open family, close, dup and fcntl, the file locks (whose release and
 * taking are points of coherence with other processes), and descriptors
 * sent to another process (sendmsg). A managed file is
 * opened by the kernel
 * as usual (the program gets a real descriptor), then taken over.
 */
#include "interpose/real.h"

#include <limits.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <string.h>
#include <stdarg.h>
#include <sys/socket.h>

#include "core/canonpaths.h"
#include "core/ops.h"
#include "os/critical.h"
#include "os/keptfds.h"
#include "os/sys.h"

static bool needs_mode(int flags)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

#define MODE_ARG(flags, mode)                                                                      \
    do {                                                                                           \
        if (needs_mode(flags)) {                                                                   \
            va_list ap;                                                                            \
            va_start(ap, flags);                                                                   \
            mode = (mode_t)va_arg(ap, int);                                                        \
            va_end(ap);                                                                            \
        }                                                                                          \
    } while (0)

/* A call that makes a descriptor (-1 and errno on failure), tried again
 * while the library gives back descriptors of its own (nvops_make_room):
 * a program at its descriptor limit gets every number the library can do
 * without, as it would have them without the library. */
#define WITH_ROOM(call)                                                                            \
    ({                                                                                             \
        __typeof__(call) made_;                                                                    \
        while ((made_ = (call)) < 0 && errno == EMFILE && nvops_make_room())                       \
            ;                                                                                      \
        made_;                                                                                     \
    })

/* A NULL path names no file: the kernel's open answers for the C
 * library's, which declares it nonnull. */
#define OPEN_NULL(dirfd, path, flags, mode)                                                        \
    do {                                                                                           \
        if (nv_null(path))                                                                         \
            return (int)nv_ret(sys_openat(dirfd, path, flags, mode));                              \
    } while (0)

/* A path the kernel walks from the root through named directories only:
 * absolute, with no empty, "." or ".." component. */
static bool plain_absolute(const char *path)
{
    if (path[0] != '/' || strlen(path) >= PATH_MAX)
        return false;
    for (const char *c = path; *c;) {
        const char *name = c + 1;
        size_t len = strcspn(name, "/");
        if (len == 0 || (name[0] == '.' && (len == 1 || (len == 2 && name[1] == '.'))))
            return false;
        c = name + len;
    }
    return true;
}

/* Whether opens may walk straight to the kernel (see open_walk): 1 yes, 0
 * no, -1 not known yet. */
static int raw_walk = -1;

static bool may_walk_raw(void)
{
    int may = __atomic_load_n(&raw_walk, __ATOMIC_RELAXED);
    if (may < 0) {
        may = nv_real_is_libc(NV_REAL_openat);
        __atomic_store_n(&raw_walk, may, __ATOMIC_RELAXED);
    }
    return may;
}

/* The open, for a plain_absolute path as a walk that refuses symlinks
 * (openat2, RESOLVE_NO_SYMLINKS): when that walk succeeds, path is the
 * file's canonical path (*canonical), which the library then need not read
 * back from /proc. A symlink on the way (ELOOP), or a kernel or filter that
 * refuses openat2, and the open runs as asked. Only where the next open in
 * line is the C library's, so no other preloaded wrapper is passed over.
 * The raw call is no cancellation point: callers use it for opens that
 * make a file, which never wait, and for paths of managed files
 * (canonpaths.h). The descriptor, or -1 and errno. */
static int open_walk(int dirfd, const char *path, int flags, mode_t mode, bool *canonical)
{
    if (plain_absolute(path) && may_walk_raw()) {
        /* openat masks the mode and ignores unknown flags; openat2 refuses
         * both (EINVAL, then the open as asked). */
        struct open_how how = {.flags = (uint64_t)(unsigned)flags,
                               .mode = needs_mode(flags) ? mode & 07777 : 0,
                               .resolve = RESOLVE_NO_SYMLINKS};
        int fd = sys_openat2(AT_FDCWD, path, &how, sizeof(how));
        if (fd >= 0) {
            *canonical = true;
            return fd;
        }
        if (fd == -ENOSYS)
            __atomic_store_n(&raw_walk, 0, __ATOMIC_RELAXED);
        if (fd != -ELOOP && fd != -ENOSYS && fd != -EINVAL && fd != -EPERM && fd != -EAGAIN &&
            fd != -E2BIG)
            return (int)nv_ret(fd);
        int plain = REAL(openat)(dirfd, path, flags, mode);
        /* Refused by a filter (seccomp) that lets openat by: not tried
         * again. */
        if (fd == -EPERM && plain >= 0)
            __atomic_store_n(&raw_walk, 0, __ATOMIC_RELAXED);
        return plain;
    }
    return REAL(openat)(dirfd, path, flags, mode);
}

/* The kernel's open, telling whether it made the file, and whether path is
 * its canonical path: O_CREAT without O_EXCL is tried as O_CREAT | O_EXCL
 * first; when the file exists, the open runs as asked. */
static int kernel_open(int dirfd, const char *path, int flags, mode_t mode, bool *created,
                       bool *canonical)
{
    bool exclusive = (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL);
    *canonical = *created = false;
    if (flags & O_CREAT) {
        int fd = open_walk(dirfd, path, flags | O_EXCL, mode, canonical);
        *created = fd >= 0;
        if (fd >= 0 || exclusive || errno != EEXIST)
            return fd;
    }
    if (nvcanon_known(path))
        return open_walk(dirfd, path, flags, mode, canonical);
    return REAL(openat)(dirfd, path, flags, mode);
}

/* The open of a file that may be managed. An open that fails after the
 * kernel made the file removes it again: a failed call leaves nothing. */
static __attribute__((noinline)) int open_and_adopt(int dirfd, const char *path, int flags,
                                                    mode_t mode)
{
    bool created, canonical;
    int fd = WITH_ROOM(kernel_open(dirfd, path, nvops_kernel_open_flags(dirfd, path, flags), mode,
                                   &created, &canonical));
    if (fd < 0)
        return fd;
    /* O_EXCL tells the library the open made the file. */
    int rc = nvops_adopt(fd, dirfd, path, created ? flags | O_EXCL : flags, canonical);
    if (rc < 0) {
        REAL(close)(fd);
        if (created)
            REAL(unlinkat)(dirfd, path, 0);
        return (int)nv_ret(rc);
    }
    return fd;
}

/* The open is a cancellation point at its entry; past it, it is taken
 * over whole or not at all. A cancel acts in this frame, which has no
 * local whose address is taken: a sanitizer's redzones in a frame that a
 * cancel unwinds would stay behind on the thread's stack. */
static int open_managed(int dirfd, const char *path, int flags, mode_t mode)
{
    nv_signals_guard_faults();
    nv_cancellation_point();
    int cancel = nv_cancel_hold();
    int fd = open_and_adopt(dirfd, path, flags, mode);
    nv_cancel_allow(cancel);
    return fd;
}

NV_EXPORT int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    OPEN_NULL(AT_FDCWD, path, flags, mode);
    if (!nvops_may_manage(flags))
        return WITH_ROOM(REAL(open)(path, flags, mode));
    return open_managed(AT_FDCWD, path, flags, mode);
}

NV_EXPORT int open64(const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    OPEN_NULL(AT_FDCWD, path, flags, mode);
    if (!nvops_may_manage(flags))
        return WITH_ROOM(REAL(open64)(path, flags, mode));
    return open_managed(AT_FDCWD, path, flags | O_LARGEFILE, mode);
}

NV_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    OPEN_NULL(dirfd, path, flags, mode);
    if (!nvops_may_manage(flags))
        return WITH_ROOM(REAL(openat)(dirfd, path, flags, mode));
    return open_managed(dirfd, path, flags, mode);
}

NV_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    OPEN_NULL(dirfd, path, flags, mode);
    if (!nvops_may_manage(flags))
        return WITH_ROOM(REAL(openat64)(dirfd, path, flags, mode));
    return open_managed(dirfd, path, flags | O_LARGEFILE, mode);
}

NV_EXPORT int creat(const char *path, mode_t mode)
{
    OPEN_NULL(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    return open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}

NV_EXPORT int creat64(const char *path, mode_t mode)
{
    OPEN_NULL(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    return open64(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}

/* The fortified forms, called when the flags are not known at compile
 * time; they take no mode. */
NV_EXPORT int __open_2(const char *path, int flags)
{
    OPEN_NULL(AT_FDCWD, path, flags, 0);
    if (!nvops_may_manage(flags))
        return WITH_ROOM(REAL(__open_2)(path, flags));
    return open_managed(AT_FDCWD, path, flags, 0);
}

NV_EXPORT int __open64_2(const char *path, int flags)
{
    OPEN_NULL(AT_FDCWD, path, flags, 0);
    if (!nvops_may_manage(flags))
        return WITH_ROOM(REAL(__open64_2)(path, flags));
    return open_managed(AT_FDCWD, path, flags | O_LARGEFILE, 0);
}

NV_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
    OPEN_NULL(dirfd, path, flags, 0);
    if (!nvops_may_manage(flags))
        return WITH_ROOM(REAL(__openat_2)(dirfd, path, flags));
    return open_managed(dirfd, path, flags, 0);
}

NV_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
    OPEN_NULL(dirfd, path, flags, 0);
    if (!nvops_may_manage(flags))
        return WITH_ROOM(REAL(__openat64_2)(dirfd, path, flags));
    return open_managed(dirfd, path, flags | O_LARGEFILE, 0);
}

static __attribute__((noinline)) int close_descriptor(int fd)
{
    dev_t dev;
    ino_t ino;
    bool locked = nvops_record_locks_going(fd, &dev, &ino);
    struct nvofd *o = nvops_close_begin(fd);
    /* Committed and published before the kernel closes the descriptor: a
     * watcher woken by IN_CLOSE_WRITE finds the file as the program left it. */
    int r = o ? nvops_close_finish(o) : 0;
    int rc = REAL(close)(fd);
    /* Even a failed close (but EBADF) frees the number, and the locks. */
    if (locked && (rc == 0 || errno != EBADF))
        nvops_record_locks_gone(dev, ino);
    if (rc == 0 && r < 0)
        return (int)nv_ret(r);
    return rc;
}

NV_EXPORT int close(int fd)
{
    if (kept_is(fd)) { /* not the program's to close: it never opened it */
        errno = EBADF;
        return -1;
    }
    /* As open_managed: a cancellation point at the entry, whole after. */
    nv_cancellation_point();
    int cancel = nv_cancel_hold();
    int rc = close_descriptor(fd);
    nv_cancel_allow(cancel);
    return rc;
}

/* After the kernel made newfd a copy of oldfd. */
static int dup_done(int oldfd, int newfd)
{
    if (newfd < 0)
        return newfd;
    int saved = errno;
    struct nvofd *replaced = nvops_dup(oldfd, newfd);
    if (replaced)
        nvops_close_finish(replaced);
    if (newfd <= STDERR_FILENO)
        nvops_standard_stream(newfd);
    errno = saved;
    return newfd;
}

NV_EXPORT int dup(int oldfd)
{
    return dup_done(oldfd, WITH_ROOM(REAL(dup)(oldfd)));
}

NV_EXPORT int dup2(int oldfd, int newfd)
{
    int r = REAL(dup2)(oldfd, newfd);
    return oldfd == newfd ? r : dup_done(oldfd, r);
}

NV_EXPORT int dup3(int oldfd, int newfd, int flags)
{
    return dup_done(oldfd, REAL(dup3)(oldfd, newfd, flags));
}

/* The program's other calls that make descriptors: room as for its opens. */
NV_EXPORT int pipe(int fds[2])
{
    return WITH_ROOM(REAL(pipe)(fds));
}

NV_EXPORT int pipe2(int fds[2], int flags)
{
    return WITH_ROOM(REAL(pipe2)(fds, flags));
}

NV_EXPORT int socket(int domain, int type, int protocol)
{
    return WITH_ROOM(REAL(socket)(domain, type, protocol));
}

NV_EXPORT int socketpair(int domain, int type, int protocol, int fds[2])
{
    return WITH_ROOM(REAL(socketpair)(domain, type, protocol, fds));
}

NV_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    return WITH_ROOM(REAL(accept)(fd, addr, len));
}

NV_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    return WITH_ROOM(REAL(accept4)(fd, addr, len, flags));
}

NV_EXPORT int eventfd(unsigned int count, int flags)
{
    return WITH_ROOM(REAL(eventfd)(count, flags));
}

NV_EXPORT int epoll_create(int size)
{
    return WITH_ROOM(REAL(epoll_create)(size));
}

NV_EXPORT int epoll_create1(int flags)
{
    return WITH_ROOM(REAL(epoll_create1)(flags));
}

NV_EXPORT int memfd_create(const char *name, unsigned int flags)
{
    return WITH_ROOM(REAL(memfd_create)(name, flags));
}

NV_EXPORT int signalfd(int fd, const sigset_t *mask, int flags)
{
    return WITH_ROOM(REAL(signalfd)(fd, mask, flags));
}

NV_EXPORT int timerfd_create(int clockid, int flags)
{
    return WITH_ROOM(REAL(timerfd_create)(clockid, flags));
}

/* ---- locks: coherence with other processes ------------------------------
 *
 * Releasing a lock exposes every managed file first (the next holder, with
 * or without the library, must find them as this process leaves them);
 * taking one revalidates them after (what the last holder changed through
 * the kernel is taken in). A failure of either is the call's. */

enum lock_change { LOCK_KEPT, LOCK_RELEASE, LOCK_TAKE };

static int lock_call_begin(enum lock_change change)
{
    return change == LOCK_RELEASE ? nvops_lock_releasing() : 0;
}

static int lock_call_end(enum lock_change change, int r, int exposed)
{
    if (r < 0)
        return r;
    if (exposed < 0)
        return (int)nv_ret(exposed);
    int rc = change == LOCK_TAKE ? nvops_lock_taken() : 0;
    return rc < 0 ? (int)nv_ret(rc) : r;
}

static enum lock_change fcntl_lock_change(int cmd, const struct flock *fl)
{
    switch (cmd) {
    case F_SETLK:
    case F_SETLKW:
    case F_OFD_SETLK:
    case F_OFD_SETLKW:
        if (nv_null(fl))
            return LOCK_KEPT;
        return fl->l_type == F_UNLCK ? LOCK_RELEASE : LOCK_TAKE;
    default:
        return LOCK_KEPT;
    }
}

NV_EXPORT int flock(int fd, int op)
{
    enum lock_change change = op & LOCK_UN               ? LOCK_RELEASE
                              : op & (LOCK_SH | LOCK_EX) ? LOCK_TAKE
                                                         : LOCK_KEPT;
    int exposed = lock_call_begin(change);
    return lock_call_end(change, REAL(flock)(fd, op), exposed);
}

static int lockf_common(int (*real)(int, int, off_t), int fd, int cmd, off_t len)
{
    enum lock_change change = cmd == F_ULOCK                    ? LOCK_RELEASE
                              : cmd == F_LOCK || cmd == F_TLOCK ? LOCK_TAKE
                                                                : LOCK_KEPT;
    if (change == LOCK_TAKE)
        nvops_record_lock_taking(fd);
    int exposed = lock_call_begin(change);
    return lock_call_end(change, real(fd, cmd, len), exposed);
}

NV_EXPORT int lockf(int fd, int cmd, off_t len)
{
    return lockf_common(REAL(lockf), fd, cmd, len);
}

NV_EXPORT int lockf64(int fd, int cmd, off64_t len)
{
    return lockf_common(REAL(lockf64), fd, cmd, len);
}

/* A record lock (not OFD, not flock) lives as long as every descriptor of
 * its file in the process: see nvops_record_lock_taking. */
static bool record_lock_cmd(int cmd)
{
    return cmd == F_SETLK || cmd == F_SETLKW;
}

/* A record unlock of the whole file releases every record lock of the
 * process on it. */
static bool unlocks_whole(int cmd, const struct flock *fl)
{
    return record_lock_cmd(cmd) && fl->l_type == F_UNLCK && fl->l_whence == SEEK_SET &&
           fl->l_start == 0 && fl->l_len == 0;
}

static int lock_call(int (*real)(int, int, ...), int fd, int cmd, struct flock *fl,
                     enum lock_change change)
{
    dev_t dev;
    ino_t ino;
    if (change == LOCK_TAKE && record_lock_cmd(cmd))
        nvops_record_lock_taking(fd);
    bool whole = unlocks_whole(cmd, fl) && nvops_record_locks_going(fd, &dev, &ino);
    int exposed = lock_call_begin(change);
    int r = real(fd, cmd, fl);
    if (r == 0 && whole)
        nvops_record_locks_gone(dev, ino);
    return lock_call_end(change, r, exposed);
}

static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
    enum lock_change change = fcntl_lock_change(cmd, arg);
    if (change != LOCK_KEPT)
        return lock_call(real, fd, cmd, arg, change);
    /* The kernel grants a lease only while no other descriptor may write
     * the file (a read lease) or none is open at all (a write lease): the
     * library's own would refuse every one. */
    if (cmd == F_SETLEASE && (long)arg != F_UNLCK)
        nvops_lease_taking(fd);
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        return dup_done(fd, WITH_ROOM(real(fd, cmd, arg)));
    int r = real(fd, cmd, arg);
    switch (cmd) {
    case F_SETFL:
        if (r == 0) {
            struct nvofd *o = nvops_begin(fd);
            if (o) {
                nvops_setfl(o, (int)(long)arg);
                nvops_end(o);
            }
        }
        return r;
    default:
        return r;
    }
}

NV_EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_common(REAL(fcntl), fd, cmd, arg);
}

NV_EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_common(REAL(fcntl64), fd, cmd, arg);
}

/* close_range around the library's own descriptors. */
static int close_range_around_kept(unsigned first, unsigned last, int flags)
{
    int kept;
    while ((kept = kept_first_in(first, last)) >= 0) {
        if ((unsigned)kept > first) {
            int rc = REAL(close_range)(first, (unsigned)kept - 1, flags);
            if (rc < 0)
                return rc;
        }
        if ((unsigned)kept == last)
            return 0;
        first = (unsigned)kept + 1;
    }
    return REAL(close_range)(first, last, flags);
}

NV_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
    int rc = close_range_around_kept(first, last, flags);
    if (rc < 0 || (flags & CLOSE_RANGE_CLOEXEC))
        return rc;
    /* Descriptors the kernel closed: finish those the library served. */
    int saved = errno;
    nvops_forget_range(first, last);
    errno = saved;
    return rc;
}

/* The C library's closefrom closes with its internal close_range, which
 * would close the library's own descriptors and leave its table stale. */
NV_EXPORT void closefrom(int lowfd)
{
    unsigned first = lowfd < 0 ? 0 : (unsigned)lowfd;
    if (close_range(first, ~0U, 0) == 0)
        return;
    /* A kernel without close_range (before 5.9): one at a time. */
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = first; fd < max; fd++)
        if (!kept_is((int)fd) && REAL(fcntl)((int)fd, F_GETFD) >= 0)
            close((int)fd);
}

long nv_openat2(int dirfd, const char *path, const struct open_how *how, size_t size)
{
    if (size != sizeof(struct open_how) || nv_null(how) || nv_null(path) || how->flags > INT_MAX ||
        !nvops_may_manage((int)how->flags))
        return nv_ret(sys_openat2(dirfd, path, how, size));
    int flags = (int)how->flags;
    struct open_how asked = *how;
    asked.flags = (uint64_t)(unsigned)nvops_kernel_open_flags(dirfd, path, flags);
    /* Tried as O_CREAT | O_EXCL first, as kernel_open does, to tell
     * whether the open made the file. */
    bool created = false;
    int fd;
    if ((flags & O_CREAT) && !(flags & O_EXCL)) {
        struct open_how exclusive = asked;
        exclusive.flags |= O_EXCL;
        fd = sys_openat2(dirfd, path, &exclusive, sizeof(exclusive));
        created = fd >= 0;
        if (fd == -EEXIST)
            fd = sys_openat2(dirfd, path, &asked, sizeof(asked));
    } else {
        fd = sys_openat2(dirfd, path, &asked, sizeof(asked));
        created = fd >= 0 && (flags & O_CREAT);
    }
    if (fd < 0)
        return nv_ret(fd);
    nv_signals_guard_faults();
    int rc = nvops_adopt(fd, dirfd, path, created ? flags | O_EXCL : flags, false);
    if (rc < 0) {
        REAL(close)(fd);
        if (created)
            REAL(unlinkat)(dirfd, path, 0);
        return nv_ret(rc);
    }
    return fd;
}

/* Temporary files: the C library creates them with its internal open, so
 * the library takes over the descriptor afterwards (write-then-rename
 * programs such as sed -i make their new file this way). When that fails
 * the file simply stays with the kernel. */
static int adopt_temp(int fd, const char *path, int flags)
{
    if (fd >= 0 && nvops_may_manage(0)) {
        int saved = errno;
        nv_signals_guard_faults();
        nvops_adopt(fd, AT_FDCWD, path, O_RDWR | O_CREAT | O_EXCL | flags, false);
        errno = saved;
    }
    return fd;
}

/* The C library faults on a NULL template, which it declares nonnull; the
 * kernel's answer for a bad name is EFAULT. */
#define TEMP_FILE(call, tmpl, flags)                                                               \
    do {                                                                                           \
        if (nv_null(tmpl)) {                                                                       \
            errno = EFAULT;                                                                        \
            return -1;                                                                             \
        }                                                                                          \
        return adopt_temp(call, tmpl, flags);                                                      \
    } while (0)

NV_EXPORT int mkstemp(char *tmpl)
{
    TEMP_FILE(REAL(mkstemp)(tmpl), tmpl, 0);
}

NV_EXPORT int mkstemp64(char *tmpl)
{
    TEMP_FILE(REAL(mkstemp64)(tmpl), tmpl, 0);
}

NV_EXPORT int mkostemp(char *tmpl, int flags)
{
    TEMP_FILE(REAL(mkostemp)(tmpl, flags), tmpl, flags);
}

NV_EXPORT int mkostemp64(char *tmpl, int flags)
{
    TEMP_FILE(REAL(mkostemp64)(tmpl, flags), tmpl, flags);
}

NV_EXPORT int mkstemps(char *tmpl, int suffixlen)
{
    TEMP_FILE(REAL(mkstemps)(tmpl, suffixlen), tmpl, 0);
}

NV_EXPORT int mkstemps64(char *tmpl, int suffixlen)
{
    TEMP_FILE(REAL(mkstemps64)(tmpl, suffixlen), tmpl, 0);
}

NV_EXPORT int mkostemps(char *tmpl, int suffixlen, int flags)
{
    TEMP_FILE(REAL(mkostemps)(tmpl, suffixlen, flags), tmpl, flags);
}

NV_EXPORT int mkostemps64(char *tmpl, int suffixlen, int flags)
{
    TEMP_FILE(REAL(mkostemps64)(tmpl, suffixlen, flags), tmpl, flags);
}

/* ---- descriptors sent to another process --------------------------------
 *
 * A descriptor sent with SCM_RIGHTS shares its description, position
 * included, with the process that receives it: the kernel keeps the
 * position of a managed one from then on. A process that serves no file
 * sends as it would; otherwise the message is read as the kernel reads it, so a bad pointer is the
 * kernel's EFAULT, not a fault here; rights past the first 4 KiB of control data are not looked at.
 */
static void rights_leaving(const struct msghdr *msg)
{
    struct msghdr m;
    if (nv_null(msg) || !sys_copy_own(&m, msg, sizeof(m)) || !m.msg_control ||
        m.msg_controllen < sizeof(struct cmsghdr))
        return;
    union {
        struct cmsghdr align;
        char bytes[4096];
    } control;
    size_t len = m.msg_controllen < sizeof(control) ? m.msg_controllen : sizeof(control);
    if (!sys_copy_own(control.bytes, m.msg_control, len))
        return;
    m.msg_control = control.bytes;
    m.msg_controllen = len;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
            nvops_descriptor_sent(fd);
        }
    }
}

NV_EXPORT ssize_t sendmsg(int sock, const struct msghdr *msg, int flags)
{
    if (nvops_serving())
        rights_leaving(msg);
    return REAL(sendmsg)(sock, msg, flags);
}

NV_EXPORT int sendmmsg(int sock, struct mmsghdr *vec, unsigned int vlen, int flags)
{
    struct mmsghdr one;
    for (unsigned int i = 0; nvops_serving() && !nv_null(vec) && i < vlen && i < UIO_MAXIOV; i++)
        if (sys_copy_own(&one, &vec[i], sizeof(one)))
            rights_leaving(&one.msg_hdr);
    return REAL(sendmmsg)(sock, vec, vlen, flags);
}
