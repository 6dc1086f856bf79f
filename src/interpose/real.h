/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * real.h - the C library's own versions of the calls the library wraps,
 * found with dlsym(RTLD_NEXT) on first use. Resolution is lazy and
 * thread-safe, so a wrapper works even when it runs before the library's
 * constructor (from another library's constructor, say).
 */
#ifndef NVMMIO_INTERPOSE_REAL_H
#define NVMMIO_INTERPOSE_REAL_H

#include <aio.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <sys/uio.h>
#include <sys/mman.h>
#include <sys/file.h>
#include <sys/sendfile.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <spawn.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/time.h>
#include <utime.h>
#include <wchar.h>

#include "core/stats.h"
#include "core/tx.h"
#include "os/critical.h"

/* clang-format off */
#define NV_REAL_FUNCS(X)                                                                           \
    X(open) X(open64) X(openat) X(openat64) X(creat) X(creat64)                                    \
    X(__open_2) X(__open64_2) X(__openat_2) X(__openat64_2) X(close)                               \
    X(read) X(write) X(pread) X(pread64) X(pwrite) X(pwrite64)                                     \
    X(__read_chk) X(__pread_chk) X(__pread64_chk)                                                  \
    X(lseek) X(lseek64) X(fsync) X(fdatasync)                                                      \
    X(ftruncate) X(ftruncate64) X(truncate) X(truncate64)                                          \
    X(stat) X(stat64) X(lstat) X(lstat64) X(fstat) X(fstat64) X(fstatat) X(fstatat64) X(statx)     \
    X(__xstat) X(__xstat64) X(__lxstat) X(__lxstat64)                                              \
    X(__fxstat) X(__fxstat64) X(__fxstatat) X(__fxstatat64)                                        \
    X(unlink) X(unlinkat) X(rename) X(renameat) X(renameat2)                                       \
    X(utimensat) X(futimens) X(utimes) X(utime) X(futimes) X(futimesat) X(lutimes)                 \
    X(dup) X(dup2) X(dup3) X(fcntl) X(fcntl64) X(close_range) X(sendmsg) X(sendmmsg)              \
    X(pipe) X(pipe2) X(socket) X(socketpair) X(accept) X(accept4)                                  \
    X(eventfd) X(epoll_create) X(epoll_create1) X(memfd_create) X(signalfd) X(timerfd_create)      \
    X(flock) X(lockf) X(lockf64)                                                                   \
    X(readv) X(writev) X(preadv) X(preadv64) X(pwritev) X(pwritev64)                               \
    X(preadv2) X(preadv64v2) X(pwritev2) X(pwritev64v2)                                            \
    X(fallocate) X(fallocate64) X(posix_fallocate) X(posix_fallocate64)                            \
    X(sync_file_range) X(syncfs) X(sync)                                                           \
    X(copy_file_range) X(sendfile) X(sendfile64) X(splice) X(syscall)                             \
    X(mmap) X(mmap64)                                                                              \
    X(fopen) X(fopen64) X(fdopen) X(freopen) X(freopen64) X(vdprintf) X(__vdprintf_chk)            \
    X(execve) X(execvpe) X(fexecve) X(execveat) X(posix_spawn) X(posix_spawnp)                     \
    X(system) X(popen)                                                                             \
    X(fork) X(pthread_exit) X(_exit) X(_Exit)                                                      \
    X(mkstemp) X(mkstemp64) X(mkostemp) X(mkostemp64) X(mkstemps) X(mkstemps64)                    \
    X(mkostemps) X(mkostemps64) X(sigaction)                                                       \
    X(setuid) X(seteuid) X(setreuid) X(setresuid)                                                  \
    X(aio_read) X(aio_read64) X(aio_write) X(aio_write64) X(aio_fsync) X(aio_fsync64)              \
    X(lio_listio) X(lio_listio64)                                                                  \
    X(fwide) X(fputwc) X(putwc) X(fputwc_unlocked) X(putwc_unlocked) X(fputws)                     \
    X(fputws_unlocked) X(vfwprintf) X(__vfwprintf_chk) X(fgetwc) X(getwc) X(fgetwc_unlocked)       \
    X(getwc_unlocked) X(fgetws) X(fgetws_unlocked) X(ungetwc)
/* clang-format on */

/* The stat entry points of binaries built against glibc before 2.33 (and
 * of some sanitizer runtimes); current headers no longer declare them. */
int __xstat(int ver, const char *path, struct stat *st);
int __xstat64(int ver, const char *path, struct stat64 *st);
int __lxstat(int ver, const char *path, struct stat *st);
int __lxstat64(int ver, const char *path, struct stat64 *st);
int __fxstat(int ver, int fd, struct stat *st);
int __fxstat64(int ver, int fd, struct stat64 *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags);

int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags);
int __vfwprintf_chk(FILE *fp, int flag, const wchar_t *fmt, va_list ap);
int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap);
int __dprintf_chk(int fd, int flag, const char *fmt, ...);
int __fwprintf_chk(FILE *fp, int flag, const wchar_t *fmt, ...);

enum nv_real_id {
#define NV_REAL_ENUM(name) NV_REAL_##name,
    NV_REAL_FUNCS(NV_REAL_ENUM)
#undef NV_REAL_ENUM
        NV_REAL_COUNT
};

void *nv_real_resolve(enum nv_real_id id);

/* Resolves every function now: dlsym is no call for a signal handler to
 * make, and a handler reaches the C library through these. */
void nv_real_resolve_all(void);

/* Whether the function id resolves to is the C library's own, not another
 * preloaded library's wrapper. */
bool nv_real_is_libc(enum nv_real_id id);

/* REAL(read) is the C library's read, typed as read. */
/* signals.c: the library's SIGBUS and SIGSEGV handler, put in place before
 * the first file the library may manage is opened (os/mapfault.h); and
 * those signals around an exec or a spawn, whose new image keeps an
 * ignored signal ignored but loses the library's handler (exec_returned:
 * the process goes on). */
void nv_signals_guard_faults(void);
void nv_signals_exec_begin(void);
void nv_signals_exec_returned(void);

#define REAL(name) ((__typeof__(&name))nv_real_resolve(NV_REAL_##name))

/* openat2, which the C library does not wrap, made through syscall(2):
 * the file taken over as an open's (files.c). The descriptor, or -1 and
 * errno. */
struct open_how;
long nv_openat2(int dirfd, const char *path, const struct open_how *how, size_t size);

/* Whether fp is a stream of the library's (stdio.c), and its wide
 * orientation forgotten when the stream goes (wstdio.c). */
bool nv_stdio_managed(FILE *fp);
void nv_wide_forget(FILE *fp);

/* The C convention from a negative-errno result. */
static inline long nv_ret(long r)
{
    if (r < 0) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

#define NV_EXPORT __attribute__((visibility("default")))

/* Whether p is NULL where the C library declares a pointer nonnull. Such a
 * NULL must not reach the C library's function (the sanitizer reports the
 * call, and the compiler may assume it away): the wrappers give the answer
 * the kernel gives for it instead. The wrappers inherit the declaration, so
 * the compiler must not know p when it is compared. */
static inline bool nv_null(const void *p)
{
    __asm__("" : "+r"(p));
    return p == NULL;
}

/* Runs `call` on the description of fd when it is managed (as `o`), else
 * returns `real`; a negative result of `call` becomes -1 and errno. A call
 * the library cannot serve (nvops_unservable) hands the file to the kernel
 * and returns `real`. */
#define DISPATCH(fd, real, call)                                                                   \
    do {                                                                                           \
        struct nvofd *o = nvops_begin(fd);                                                         \
        if (!o)                                                                                    \
            return real;                                                                           \
        long r_ = (long)(call);                                                                    \
        nvops_end(o);                                                                              \
        if (nvops_unservable(r_)) {                                                                \
            nvops_give_up(fd, r_);                                                                 \
            return real;                                                                           \
        }                                                                                          \
        return nv_ret(r_);                                                                         \
    } while (0)

/* DISPATCH for a call that changes a file: inside a transaction, a file
 * under a root that the kernel serves for this process cannot take part
 * (EXDEV). */
#define DISPATCH_CHANGE(fd, real, call)                                                            \
    do {                                                                                           \
        int tx_ = nvtx_refuse_kernel_fd(fd);                                                       \
        if (tx_ < 0)                                                                               \
            return nv_ret(tx_);                                                                    \
        DISPATCH(fd, real, call);                                                                  \
    } while (0)

/* DISPATCH and DISPATCH_CHANGE for a call that is a cancellation point of
 * the C library: a cancel pending at its entry acts there, before the
 * library changed anything (os/critical.h). */
#define DISPATCH_POINT(fd, real, call)                                                             \
    do {                                                                                           \
        nv_cancellation_point();                                                                   \
        DISPATCH(fd, real, call);                                                                  \
    } while (0)

#define DISPATCH_CHANGE_POINT(fd, real, call)                                                      \
    do {                                                                                           \
        nv_cancellation_point();                                                                   \
        DISPATCH_CHANGE(fd, real, call);                                                           \
    } while (0)

#endif
