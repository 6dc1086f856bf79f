/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sys.h - the kernel calls the library makes for itself.
 *
 * The library exports open, close, fsync, ftruncate, stat and friends, so a
 * call to those names from inside the library would come back through its own
 * wrappers. Every layer below the interposer talks to the kernel through these
 * raw system calls instead: no wrappers, no errno, no cancellation points.
 * Each returns the kernel's result: a value >= 0, or a negative errno.
 */
#ifndef NVMMIO_OS_SYS_H
#define NVMMIO_OS_SYS_H

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#if defined(__x86_64__)
static inline long sys_call6(long n, long a, long b, long c, long d, long e, long f)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
static inline long sys_call6(long n, long a, long b, long c, long d, long e, long f)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc #0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
}
#else
/* libc's syscall() is no way out: the library exports it (a wrapper). */
#error "src/os/sys.h has raw system calls for x86-64 and aarch64 only"
#endif

static inline int sys_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    return (int)sys_call6(SYS_openat, dirfd, (long)path, flags, mode, 0, 0);
}
struct open_how;
static inline int sys_openat2(int dirfd, const char *path, const struct open_how *how, size_t size)
{
    return (int)sys_call6(SYS_openat2, dirfd, (long)path, (long)how, (long)size, 0, 0);
}
static inline int sys_close(int fd)
{
    return (int)sys_call6(SYS_close, fd, 0, 0, 0, 0, 0);
}
static inline int sys_fstat(int fd, struct stat *st)
{
    return (int)sys_call6(SYS_fstat, fd, (long)st, 0, 0, 0, 0);
}
static inline int sys_statx(int dirfd, const char *path, int flags, unsigned mask,
                            struct statx *stx)
{
    return (int)sys_call6(SYS_statx, dirfd, (long)path, flags, mask, (long)stx, 0);
}
static inline int sys_ftruncate(int fd, off_t len)
{
    return (int)sys_call6(SYS_ftruncate, fd, len, 0, 0, 0, 0);
}
/* tmpfs gives up allocating when a signal is pending; what it allocated
 * stays, so asking again finishes the job (the kernel's own writes are not
 * interrupted by signals either). */
static inline int sys_fallocate(int fd, int mode, off_t off, off_t len)
{
    long rc;
    do
        rc = sys_call6(SYS_fallocate, fd, mode, off, len, 0, 0);
    while (rc == -EINTR);
    return (int)rc;
}
static inline int sys_fsync(int fd)
{
    return (int)sys_call6(SYS_fsync, fd, 0, 0, 0, 0, 0);
}
static inline int sys_unlinkat(int dirfd, const char *path, int flags)
{
    return (int)sys_call6(SYS_unlinkat, dirfd, (long)path, flags, 0, 0, 0);
}
static inline int sys_renameat(int olddir, const char *old, int newdir, const char *new_path)
{
    return (int)sys_call6(SYS_renameat2, olddir, (long)old, newdir, (long)new_path, 0, 0);
}
static inline int sys_mkdirat(int dirfd, const char *path, mode_t mode)
{
    return (int)sys_call6(SYS_mkdirat, dirfd, (long)path, mode, 0, 0, 0);
}
static inline long sys_lseek(int fd, off_t off, int whence)
{
    return sys_call6(SYS_lseek, fd, off, whence, 0, 0, 0);
}
static inline int sys_fcntl(int fd, int cmd, long arg)
{
    return (int)sys_call6(SYS_fcntl, fd, cmd, arg, 0, 0, 0);
}
static inline long sys_readlinkat(int dirfd, const char *path, char *buf, size_t n)
{
    return sys_call6(SYS_readlinkat, dirfd, (long)path, (long)buf, (long)n, 0, 0);
}
static inline long sys_pread(int fd, void *buf, size_t n, off_t off)
{
    return sys_call6(SYS_pread64, fd, (long)buf, (long)n, off, 0, 0);
}
static inline long sys_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return sys_call6(SYS_pwrite64, fd, (long)buf, (long)n, off, 0, 0);
}
struct statfs;
struct sysinfo;
static inline int sys_fstatfs(int fd, struct statfs *st)
{
    return (int)sys_call6(SYS_fstatfs, fd, (long)st, 0, 0, 0, 0);
}
static inline int sys_sysinfo(struct sysinfo *info)
{
    return (int)sys_call6(SYS_sysinfo, (long)info, 0, 0, 0, 0, 0);
}
static inline int sys_utimensat(int dirfd, const char *path, const struct timespec times[2],
                                int flags)
{
    return (int)sys_call6(SYS_utimensat, dirfd, (long)path, (long)times, flags, 0, 0);
}
static inline long sys_write(int fd, const void *buf, size_t n)
{
    return sys_call6(SYS_write, fd, (long)buf, (long)n, 0, 0, 0);
}
static inline long sys_getdents64(int fd, void *buf, size_t n)
{
    return sys_call6(SYS_getdents64, fd, (long)buf, (long)n, 0, 0, 0);
}
/* Calls visit(name, arg) for each entry of the directory open as dir,
 * until one returns other than 0: that, or 0. */
static inline int sys_dir_each(int dir, int (*visit)(const char *name, void *arg), void *arg)
{
    char buf[4096];
    long n;
    int rc = 0;
    while (rc == 0 && (n = sys_getdents64(dir, buf, sizeof(buf))) > 0) {
        for (long at = 0; rc == 0 && at < n;) {
            struct dirent64 *d = (struct dirent64 *)(buf + at);
            at += d->d_reclen;
            rc = visit(d->d_name, arg);
        }
    }
    return rc;
}
/* ThreadSanitizer forgets what threads did to memory when the C library's
 * mmap or munmap replaces or removes it; these calls bypass that, so it
 * would take an address the kernel hands out again for memory that another
 * thread touched before. Every call that may remove a mapping therefore
 * publishes to every mapping made after it. */
#if defined(__SANITIZE_THREAD__)
#define NV_THREAD_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NV_THREAD_SANITIZER 1
#endif
#endif
#ifdef NV_THREAD_SANITIZER
#include <sanitizer/tsan_interface.h>
__attribute__((weak, visibility("hidden"))) char nv_sys_mapping_order;
static inline void sys_mapping_removed(void)
{
    __tsan_release(&nv_sys_mapping_order);
}
static inline void sys_mapping_made(void)
{
    __tsan_acquire(&nv_sys_mapping_order);
}
#else
static inline void sys_mapping_removed(void) {}
static inline void sys_mapping_made(void) {}
#endif
static inline void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    sys_mapping_removed();
    void *p = (void *)sys_call6(SYS_mmap, (long)addr, (long)len, prot, flags, fd, off);
    sys_mapping_made();
    return p;
}
static inline int sys_madvise(void *addr, size_t len, int advice)
{
    return (int)sys_call6(SYS_madvise, (long)addr, (long)len, advice, 0, 0, 0);
}
static inline int sys_munmap(void *addr, size_t len)
{
    sys_mapping_removed();
    return (int)sys_call6(SYS_munmap, (long)addr, (long)len, 0, 0, 0, 0);
}
static inline void *sys_mremap(void *addr, size_t old_len, size_t len, int flags)
{
    sys_mapping_removed();
    void *p = (void *)sys_call6(SYS_mremap, (long)addr, (long)old_len, (long)len, flags, 0, 0);
    sys_mapping_made();
    return p;
}
/* Signal masks as the kernel keeps them: 64 bits, bit sig - 1. */
static inline int sys_sigprocmask(int how, const uint64_t *set, uint64_t *old)
{
    return (int)sys_call6(SYS_rt_sigprocmask, how, (long)set, (long)old, sizeof(*set), 0, 0);
}
static inline int sys_getpid(void)
{
    return (int)sys_call6(SYS_getpid, 0, 0, 0, 0, 0, 0);
}
/* Whether the calling process is another than *owner: a child forked by
 * any means (a raw clone runs no fork handler), or the first ask. It
 * becomes *owner then. */
static inline bool sys_owner_changed(int *owner)
{
    int me = sys_getpid();
    if (*owner == me)
        return false;
    *owner = me;
    return true;
}
/* Whether process pid exists: kill(pid, 0). */
static inline bool sys_process_exists(int pid)
{
    return sys_call6(SYS_kill, pid, 0, 0, 0, 0, 0) != -ESRCH;
}
static inline long sys_getrandom(void *buf, size_t n)
{
    return sys_call6(SYS_getrandom, (long)buf, (long)n, 0, 0, 0, 0);
}
static inline int sys_gettid(void)
{
    return (int)sys_call6(SYS_gettid, 0, 0, 0, 0, 0, 0);
}
/* Queues sig with its siginfo on one thread of this process. */
static inline int sys_tgsigqueueinfo(int pid, int tid, int sig, const void *info)
{
    return (int)sys_call6(SYS_rt_tgsigqueueinfo, pid, tid, sig, (long)info, 0, 0);
}
static inline int sys_fchown(int fd, uid_t uid, gid_t gid)
{
    return (int)sys_call6(SYS_fchown, fd, uid, gid, 0, 0, 0);
}
static inline int sys_fchmod(int fd, mode_t mode)
{
    return (int)sys_call6(SYS_fchmod, fd, mode, 0, 0, 0, 0);
}
static inline uid_t sys_geteuid(void)
{
    return (uid_t)sys_call6(SYS_geteuid, 0, 0, 0, 0, 0, 0);
}
/* Copies n bytes of this process's memory at src into dst as the kernel
 * would copy them from a user pointer: false instead of a fault when src
 * is not readable. Where a filter forbids process_vm_readv, a plain copy. */
static inline bool sys_copy_own(void *dst, const void *src, size_t n)
{
    struct iovec local = {dst, n}, remote = {(void *)src, n};
    long r = sys_call6(SYS_process_vm_readv, sys_getpid(), (long)&local, 1, (long)&remote, 1, 0);
    if (r == -ENOSYS || r == -EPERM) {
        memcpy(dst, src, n);
        return true;
    }
    return r == (long)n;
}
/* Opens the file of descriptor fd again, through its link in /proc (the
 * same inode, whatever its name now), with flags (O_CLOEXEC added). */
static inline int sys_reopen(int fd, int flags)
{
    char self[32];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    return sys_openat(AT_FDCWD, self, flags | O_CLOEXEC, 0);
}
/* Reads a small file whole into buf (NUL-ended); false when it cannot. */
static inline bool sys_read_small(const char *path, char *buf, size_t cap)
{
    int fd = sys_openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC, 0);
    long n = fd < 0 ? -1 : sys_pread(fd, buf, cap - 1, 0);
    if (fd >= 0)
        sys_close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return n > 0;
}
/* Whether the process holds every capability of `mask` (bits 1 << CAP_...,
 * of the first 32) in its effective set. */
static inline bool sys_capable(uint32_t mask)
{
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    return sys_call6(SYS_capget, (long)&header, (long)data, 0, 0, 0, 0) == 0 &&
           (data[0].effective & mask) == mask;
}
/* Opens the directory `path` without following a symbolic link in its last
 * component. With create_mode non-zero a missing directory is made with
 * that mode exactly (whatever the umask). */
static inline int sys_open_dir(const char *path, mode_t create_mode)
{
    const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    int fd = sys_openat(AT_FDCWD, path, flags, 0);
    if (fd != -ENOENT || !create_mode)
        return fd;
    int rc = sys_mkdirat(AT_FDCWD, path, create_mode);
    if (rc < 0 && rc != -EEXIST)
        return rc;
    fd = sys_openat(AT_FDCWD, path, flags, 0);
    if (fd >= 0 && rc == 0)
        sys_fchmod(fd, create_mode);
    return fd;
}

/* mmap's result is an address or a negative errno in (-4096, 0). */
static inline int sys_mmap_failed(void *p)
{
    return (unsigned long)p > -4096UL;
}

#endif
