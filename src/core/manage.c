/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * manage.c - which files the library manages and which descriptors are its:
 * the flags an open shows the kernel, the adoption of a descriptor the
 * kernel opened (or the hand-over of its file to the kernel), and close and
 * dup of managed descriptors.
 */
#include "core/ops.h"

#include <errno.h>
#include <limits.h>
#include <linux/aio_abi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "../include/libnvmmio.h"
#include "core/canonpaths.h"
#include "core/config.h"
#include "core/debug.h"
#include "core/fdtable.h"
#include "core/kernelfds.h"
#include "core/nvfile.h"
#include "core/ops_internal.h"
#include "core/recent.h"
#include "core/filetable.h"
#include "core/owner.h"
#include "core/share.h"
#include "log/log.h"
#include "os/keptfds.h"
#include "os/sys.h"
#include "pmem/persist.h"

/* Set once the process ends (nvops_all_to_kernel): no open is taken over
 * after the exit's settle, which would be the last. */
static int process_ending;

bool nvops_may_manage(int flags)
{
    if (__atomic_load_n(&process_ending, __ATOMIC_ACQUIRE))
        return false;
    return (flags & O_ATOMIC) || nv_config()->nroots > 0;
}

void nvops_process_ending(void)
{
    __atomic_store_n(&process_ending, 1, __ATOMIC_SEQ_CST);
    nvfile_let_go_all(true);
}

/* O_TRUNC is held back from the kernel (the library truncates inside the
 * epoch) where the file may be managed and the open can truncate at all:
 * the kernel refuses it with O_PATH ignored, and with the fourth access
 * mode (O_RDWR | O_WRONLY) as EINVAL. */
static bool holds_trunc(int flags)
{
    return (flags & O_TRUNC) && nvops_may_manage(flags) && !(flags & O_PATH) &&
           (flags & O_ACCMODE) != O_ACCMODE;
}

int nvops_kernel_open_flags(int dirfd, const char *path, int flags)
{
    (void)dirfd;
    (void)path;
    if (holds_trunc(flags))
        flags &= ~O_TRUNC;
    return flags & ~O_ATOMIC;
}

/* An O_TRUNC held back from the kernel, for a file the library does not
 * manage. The kernel truncates regular files only. */
static int truncate_unmanaged(int kfd, int flags)
{
    struct stat st;
    int rc = sys_fstat(kfd, &st);
    if (rc < 0 || !S_ISREG(st.st_mode))
        return rc;
    if ((flags & O_ACCMODE) != O_RDONLY)
        return sys_ftruncate(kfd, 0);
    int wfd = sys_reopen(kfd, O_WRONLY);
    if (wfd < 0)
        return wfd;
    rc = sys_ftruncate(wfd, 0);
    sys_close(wfd);
    return rc;
}

/* Why the kernel would not truncate the file of kfd: the errno of opening
 * it for writing (EROFS, EACCES, ETXTBSY...). */
static int truncate_refusal(int kfd)
{
    int wfd = sys_reopen(kfd, O_WRONLY);
    if (wfd < 0)
        return wfd;
    sys_close(wfd);
    return -EACCES;
}

static int open_truncate(struct nvfile *f, int kfd, int flags)
{
    nvfile_lock(f, NULL);
    int rc = f->writable ? nvfile_truncate(f, 0) : truncate_refusal(kfd);
    if (rc == 0)
        nvfile_changed(f);
    if (rc == 0 && nvfile_sync_mode(flags))
        rc = nvfile_commit(f);
    nvfile_unlock(f);
    return rc;
}

/* The open kfd of the file st goes to the kernel: a lingering object of the
 * file (nvfile.h) must not stay beside it, to be settled over what the
 * kernel's descriptor writes. */
static void kernel_serves(int kfd, const struct stat *st)
{
    nvfile_let_go(st->st_dev, st->st_ino);
    nvkfd_add(kfd, st->st_dev, st->st_ino);
}

void nvops_descriptor_to_kernel(int fd, const struct nvfile *f)
{
    struct nvofd *o = nvfd_begin(fd);
    if (!o)
        return;
    bool same = !f || o->file == f;
    uint64_t pos = o->pos;
    bool kernel_pos = __atomic_load_n(&o->kernel_fd, __ATOMIC_RELAXED) >= 0;
    dev_t dev = o->file->dev;
    ino_t ino = o->file->ino;
    if (same)
        __atomic_store_n(&o->to_kernel, true, __ATOMIC_RELEASE);
    nvofd_end(o);
    if (!same)
        return;
    if (!kernel_pos)
        sys_lseek(fd, (off_t)pos, SEEK_SET);
    nvkfd_add(fd, dev, ino);
    struct nvofd *last = nvfd_remove(fd);
    if (last)
        nvops_close_finish(last);
}

int nvops_expose_to_kernel(struct nvfile *f)
{
    int rc = nvfile_expose(f, false);
    __atomic_store_n(&f->to_kernel, true, __ATOMIC_RELEASE);
    return rc;
}

/* Hands a file to the kernel in this process: every descriptor of it. A
 * file that becomes a standard stream (below FIRST_MANAGED_FD) goes to
 * the kernel; so does a file shared with a forked child. */
static void hand_to_kernel(struct nvfile *f)
{
    nvfile_lock(f, NULL);
    nvops_expose_to_kernel(f);
    nvfile_unlock(f);
    int limit = nvfd_limit();
    for (int fd = 0; fd < limit; fd++)
        nvops_descriptor_to_kernel(fd, f);
}

void nvops_to_kernel(int fd, const char *why)
{
    struct nvofd *o = nvfd_begin(fd);
    if (!o)
        return;
    struct nvfile *f = o->file;
    nvfile_pin(f);
    nvofd_end(o);
    nv_debug("descriptor %d %s: its file goes to the kernel", fd, why);
    hand_to_kernel(f);
    nvfile_release(f);
}

/* A file served by another process that ended (killed) and left its log:
 * recovered here, as its next open would, before this process goes on, so
 * the log is never applied later over what this process writes now. */
static void recover_orphan(const struct nvkfd_served *s)
{
    if (!nvfile_has_log(s->log_dir, s->dev, s->ino))
        return;
    struct stat st;
    pid_t holder;
    if (sys_fstat(s->fd, &st) < 0 || st.st_dev != s->dev || st.st_ino != s->ino ||
        nvowner_probe(s->log_dir, st.st_uid, s->dev, s->ino, &holder) != 0)
        return; /* served still, or cannot tell */
    int rc;
    struct nvfile *f = nvfile_acquire(s->fd, &st, s->path, s->log_dir, false, &rc);
    if (!f)
        return; /* refused (and said so) */
    nv_debug("%s: the process that served it is gone; recovered here", s->path);
    nvfile_release(f);
}

void nvops_recover_orphans(void)
{
    size_t n;
    struct nvkfd_served *s = nvkfd_served_elsewhere(&n);
    for (size_t i = 0; i < n; i++)
        recover_orphan(&s[i]);
    nvkfd_served_free(s, n);
}

bool nvops_serving(void)
{
    return nvtable_serving();
}

void nvops_lease_taking(int fd)
{
    if (nvfd_is_managed(fd)) {
        nvstats_fallback_fd(fd, NVSTAT_FB_LEASE);
        nvops_to_kernel(fd, "takes a lease");
    }
    /* The mapping kept from the library's last close of the file (that
     * one, or an earlier one) holds it open for writing too. */
    struct stat st;
    if (nvrecent_any() && sys_fstat(fd, &st) == 0)
        nvrecent_drop(st.st_dev, st.st_ino);
}

void nvops_standard_stream(int fd)
{
    nvstats_fallback_fd(fd, NVSTAT_FB_STD_STREAM);
    nvops_to_kernel(fd, "is a standard stream now");
}

/* Why a file must stay with the kernel, or NULL: it is larger than the
 * library maps, or the process has a file size limit (RLIMIT_FSIZE), which
 * the kernel enforces on every write with EFBIG and SIGXFSZ, and which the
 * library's storage reserved ahead and its logs would run into first. */
static const char *kernel_only(const struct stat *st)
{
    struct rlimit rl;
    if ((uint64_t)st->st_size > NVFILE_MAX_SIZE)
        return "is larger than the library maps";
    if (sys_call6(SYS_getrlimit, RLIMIT_FSIZE, (long)&rl, 0, 0, 0, 0) == 0 &&
        rl.rlim_cur != RLIM_INFINITY)
        return "is opened under a file size limit";
    return NULL;
}

void nvops_give_up(int fd, long code)
{
    if (code == NVOPS_NO_MEMORY) {
        nvstats_fallback(NVSTAT_FB_NO_MEMORY);
        nvops_to_kernel(fd, "finds no memory or address space left for the library");
    } else if (code == NVOPS_NO_DESCRIPTOR) {
        nvstats_fallback(NVSTAT_FB_NO_DESCRIPTOR);
        nvops_to_kernel(fd, "finds no descriptor left for the library's log");
    } else if (code == NVOPS_HANDED) {
        nvops_to_kernel(fd, "was handed to the kernel while a write waited");
    } else {
        nvstats_fallback(NVSTAT_FB_TOO_LARGE);
        nvops_to_kernel(fd, "grows past the largest mapped file");
    }
}

void nvops_file_size_limited(void)
{
    int limit = nvfd_limit();
    for (int fd = 0; fd < limit; fd++) {
        nvstats_fallback_fd(fd, NVSTAT_FB_FSIZE_LIMIT);
        nvops_to_kernel(fd, "is open when a file size limit is set");
    }
}

void nvops_user_changing(uid_t euid)
{
    nvfile_let_go_all(false);
    int limit = nvfd_limit();
    for (int fd = 0; fd < limit; fd++) {
        struct nvofd *o = nvfd_begin(fd);
        if (!o)
            continue;
        bool other = o->file->uid != euid;
        nvofd_end(o);
        if (!other)
            continue;
        nvstats_fallback_fd(fd, NVSTAT_FB_OTHER_USER);
        nvops_to_kernel(fd, "belongs to another user than the one the process becomes");
    }
    /* Made as root: the new user could not rename or remove them. */
    nvlog_spares_drop();
    nvshare_spares_drop();
}

static void bare_to_kernel(int fd)
{
    nvstats_fallback_fd(fd, NVSTAT_FB_BARE_CALL);
    nvops_to_kernel(fd, "is reached by a bare system call");
}

void nvops_bare_call(long number, const long args[6])
{
    switch (number) {
    case SYS_read:
    case SYS_write:
    case SYS_pread64:
    case SYS_pwrite64:
    case SYS_readv:
    case SYS_writev:
    case SYS_preadv:
    case SYS_pwritev:
    case SYS_preadv2:
    case SYS_pwritev2:
    case SYS_lseek:
    case SYS_fstat:
    case SYS_ftruncate:
    case SYS_fallocate:
    case SYS_fsync:
    case SYS_fdatasync:
    case SYS_sync_file_range:
        bare_to_kernel((int)args[0]);
        break;
    case SYS_sendfile:
        bare_to_kernel((int)args[0]);
        bare_to_kernel((int)args[1]);
        break;
    case SYS_splice:
        bare_to_kernel((int)args[0]);
        bare_to_kernel((int)args[2]);
        break;
    case SYS_io_submit: {
        /* Linux AIO: the kernel reads and writes the files of the iocbs.
         * Read as the kernel reads them: a bad pointer is its EFAULT. */
        const struct iocb *const *iocbs = (const struct iocb *const *)args[2];
        struct iocb *cb;
        uint32_t fd;
        for (long i = 0; i < args[1] && sys_copy_own(&cb, &iocbs[i], sizeof(cb)) &&
                         sys_copy_own(&fd, &cb->aio_fildes, sizeof(fd));
             i++)
            bare_to_kernel((int)fd);
        break;
    }
    default:
        break;
    }
}

/* Whether the library may open the file of kfd for reading, as it must to
 * map it: a program may write a file it made with mode 0200, or hold a
 * descriptor of a file whose mode changed since, that the library cannot
 * open again. Asked only after an open of the library's failed. */
static bool library_may_read(int kfd)
{
    int fd = sys_reopen(kfd, O_RDONLY);
    if (fd >= 0)
        sys_close(fd);
    return fd >= 0 || (fd != -EACCES && fd != -EPERM);
}

/* The overflow user when the process lives in a user namespace of its own
 * (a rootless container): a file whose owner the namespace does not map
 * shows as that user, to whom nothing can be given, and a mapped user of
 * that number cannot be told from it. -1 in the first namespace, which
 * maps every user. Read once. */
static uid_t unmapped_owner = (uid_t)-1;
static pthread_once_t unmapped_once = PTHREAD_ONCE_INIT;

static void read_unmapped_owner(void)
{
    char map[64], overflow[16];
    unsigned long first, lower, count;
    if (!sys_read_small("/proc/self/uid_map", map, sizeof(map)) ||
        (sscanf(map, "%lu %lu %lu", &first, &lower, &count) == 3 && first == 0 && lower == 0 &&
         count == 4294967295ul))
        return;
    if (sys_read_small("/proc/sys/kernel/overflowuid", overflow, sizeof(overflow)))
        unmapped_owner = (uid_t)strtoul(overflow, NULL, 10);
}

/* Whether the log directory exists and belongs to a user the process's user
 * namespace does not map (root's shared one, seen from a rootless
 * container): whose it is cannot be told, so it cannot be trusted, and the
 * kernel serves the files under it. */
static bool log_dir_unmapped(const char *log_dir)
{
    pthread_once(&unmapped_once, read_unmapped_owner);
    struct statx stx;
    return unmapped_owner != (uid_t)-1 &&
           sys_statx(AT_FDCWD, log_dir, AT_SYMLINK_NOFOLLOW, STATX_UID, &stx) == 0 &&
           stx.stx_uid == unmapped_owner;
}

/* Whether the process may serve the files of `owner`, another user's:
 * root, with what it takes to give their logs and lock files to their
 * owner (CAP_CHOWN), open those (CAP_DAC_OVERRIDE) and remove them from a
 * sticky directory (CAP_FOWNER), for an owner its namespace maps. A root
 * without them (a service with a bounded set) is an ordinary user here.
 * Asked at each open of another user's file. */
static bool serves_user(uid_t me, uid_t owner)
{
    pthread_once(&unmapped_once, read_unmapped_owner);
    return me == 0 && owner != unmapped_owner &&
           sys_capable(1u << CAP_CHOWN | 1u << CAP_DAC_OVERRIDE | 1u << CAP_FOWNER);
}

/* The canonical path of the file open as kfd: path itself when the kernel
 * walked it without a symlink, else read back from /proc. */
static int path_of(int kfd, const char *path, bool canonical, char *canon, size_t n)
{
    if (!canonical)
        return canonical_path(kfd, canon, n);
    size_t len = strlen(path);
    if (len >= n)
        return -ENAMETOOLONG;
    memcpy(canon, path, len + 1);
    return 0;
}

/* The open of kfd (flags) stays with the kernel, for `reason` (its
 * fallback in the statistics; `why` goes to the debug log after the
 * path): an O_TRUNC held back from the kernel is done now. */
static int left_to_kernel(int kfd, int flags, const char *path, const char *why,
                          enum nvstat_fallback reason)
{
    nv_debug("%s %s; plain kernel IO", path, why);
    nvstats_fallback(reason);
    return holds_trunc(flags) ? truncate_unmanaged(kfd, flags) : 0;
}

int nvops_adopt(int kfd, int dirfd, const char *path, int flags, bool canonical)
{
    (void)dirfd;
    bool held_trunc = holds_trunc(flags);
    struct stat st;
    char canon[PATH_MAX], log_dir[PATH_MAX];
    log_dir[0] = '\0';
    int rc = sys_fstat(kfd, &st);
    if (rc == 0 && S_ISREG(st.st_mode) && !(flags & O_PATH) &&
        path_of(kfd, path, canonical, canon, sizeof(canon)) == 0)
        rc = log_dir_of(canon, flags, log_dir, sizeof(log_dir));
    if (rc < 0)
        return rc;
    if (!log_dir[0])
        return held_trunc ? truncate_unmanaged(kfd, flags) : 0;
    nvcanon_note(canon);
    /* Another user's file goes to the kernel, which says what this process
     * may do with it: its log and lock file are its owner's (or root's). */
    uid_t me = sys_geteuid();
    if (st.st_uid != me && !serves_user(me, st.st_uid))
        return left_to_kernel(kfd, flags, path, "belongs to another user", NVSTAT_FB_OTHER_USER);
    if (log_dir_unmapped(log_dir))
        return left_to_kernel(kfd, flags, path,
                              "has a log directory of a user this namespace does not map",
                              NVSTAT_FB_UNMAPPED_LOG_DIR);

    /* A file this process reaches through the kernel stays there: every
     * descriptor of it is the kernel's, this one too. So do files the
     * library cannot serve as the kernel would (see kernel_only). */
    const char *why = kernel_only(&st);
    if (why || nvkfd_holds(st.st_dev, st.st_ino)) {
        kernel_serves(kfd, &st);
        return left_to_kernel(
            kfd, flags, path, why ? why : "is open through the kernel in this process",
            nvstats_why_kernel_only(why != NULL, st.st_size > (off_t)NVFILE_MAX_SIZE));
    }
    /* An executable opened for reading only (a shell reads the script it
     * runs): the library's own descriptor of it may write, and while one
     * is open every exec of the file fails with ETXTBSY. A file this
     * process writes already is served as it is: that the kernel refuses
     * to run anyway. */
    if ((flags & O_ACCMODE) == O_RDONLY && (st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) &&
        !nvtable_logical_size(st.st_dev, st.st_ino, &(off_t){0})) {
        kernel_serves(kfd, &st);
        return left_to_kernel(kfd, flags, path, "is an executable opened for reading only",
                              NVSTAT_FB_EXECUTABLE);
    }
    /* A new file while the program holds nearly every descriptor: the
     * library would have no room for its log. */
    if (!kept_spares_held() && !nvtable_logical_size(st.st_dev, st.st_ino, &(off_t){0})) {
        kernel_serves(kfd, &st);
        return left_to_kernel(kfd, flags, path, "is new and nearly every descriptor is taken",
                              NVSTAT_FB_NO_DESCRIPTOR);
    }
    /* Before any lock: libpmem loads with the first managed file. Where it
     * cannot (no room for it under RLIMIT_AS or vm.max_map_count, or not
     * installed), the program's files are the kernel's, as they would be
     * without the library; said once. */
    if (pm_init() < 0) {
        static bool said;
        if (!__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
            nv_warn("cannot load libpmem (%s): managed files are served by the kernel",
                    pm_init_error());
        kernel_serves(kfd, &st);
        return left_to_kernel(kfd, flags, path, "finds no libpmem", NVSTAT_FB_NO_LIBPMEM);
    }
    /* O_CREAT | O_EXCL: the open made the file (see nvops_adopt). */
    bool created = (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL);
    struct nvfile *f = nvfile_acquire(kfd, &st, canon, log_dir, created, &rc);
    /* The program's open succeeded: so must the call, through the kernel,
     * when the library cannot open the file itself, another process
     * serves it, or no descriptor or mapping is left for the library's own
     * (vm.max_map_count). */
    if (!f && (rc == -EACCES || rc == -EPERM) && !library_may_read(kfd)) {
        kernel_serves(kfd, &st);
        return left_to_kernel(kfd, flags, path, "may not be opened by the library",
                              NVSTAT_FB_NO_ACCESS);
    }
    if (!f && rc == NVOWNER_NO_LOG_DIR) {
        static bool said;
        if (!__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
            nv_warn("%s: this user may not make logs in %s: its files there are served by the "
                    "kernel",
                    path, log_dir);
        kernel_serves(kfd, &st);
        return left_to_kernel(kfd, flags, path, "may have no log here", NVSTAT_FB_NO_LOG_DIR);
    }
    if (!f && rc == NVFILE_FOREIGN_LOG) {
        kernel_serves(kfd, &st);
        return left_to_kernel(kfd, flags, path, "has a log another user made",
                              NVSTAT_FB_FOREIGN_LOG);
    }
    if (!f && rc == -EBUSY) {
        nvkfd_add_served_elsewhere(kfd, st.st_dev, st.st_ino, canon, log_dir);
        return left_to_kernel(kfd, flags, path, "is served by another process",
                              NVSTAT_FB_OTHER_PROCESS);
    }
    if (!f && (rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM)) {
        kernel_serves(kfd, &st);
        return left_to_kernel(kfd, flags, path, "finds no descriptor or mapping left",
                              NVSTAT_FB_NO_DESCRIPTOR);
    }
    if (!f)
        return rc;
    /* A descriptor that may write a file the library may only read (made
     * by this open with a mode that denies writing, append-only...): the
     * kernel serves every descriptor of it, as it would a standard stream. */
    bool no_write = (flags & O_ACCMODE) != O_RDONLY && !f->writable;
    if (no_write) {
        nv_debug("%s: the library may not open it for writing; plain kernel IO", path);
        nvstats_fallback(NVSTAT_FB_NO_ACCESS);
    }
    if (kfd < FIRST_MANAGED_FD || no_write) {
        /* Recovered (by the acquire) and settled, then the kernel's. */
        kernel_serves(kfd, &st);
        hand_to_kernel(f);
        rc = nvfile_release(f);
        return rc == 0 && held_trunc ? truncate_unmanaged(kfd, flags) : rc;
    }
    if (held_trunc) {
        rc = open_truncate(f, kfd, flags);
        if (rc < 0) {
            nvfile_release(f);
            return rc;
        }
    }
    struct nvofd *o = nvofd_new(f, flags & ~(O_ATOMIC | O_TRUNC | O_CREAT | O_EXCL));
    if (!o) {
        nvfile_release(f);
        return -ENOMEM;
    }
    /* Handed to the kernel once, and kept alive since by the program's
     * mapping: no descriptor of it is the kernel's any more (nvkfd_holds
     * above), so the library serves it again. */
    __atomic_store_n(&f->to_kernel, false, __ATOMIC_RELEASE);
    struct nvofd *stale = nvfd_install(kfd, o);
    nvpark_adopted(f, kfd);
    if (stale) /* a descriptor closed behind the library's back */
        nvops_close_finish(stale);
    /* The process began to end while this open was taken over: the exit's
     * hand-over may have passed kfd before it was installed. Installed
     * first, then looked (a read-modify-write, a full barrier): the
     * hand-over sets the flag first, then looks at the descriptors, so one
     * of the two sees the other. */
    if (__atomic_fetch_add(&process_ending, 0, __ATOMIC_SEQ_CST))
        nvops_to_kernel(kfd, "was opened while the process ended");
    return 0;
}

/* ---- descriptors -------------------------------------------------------- */

struct nvofd *nvops_close_begin(int fd)
{
    nvkfd_forget(fd);
    return nvfd_remove(fd);
}

int nvops_close_finish(struct nvofd *o)
{
    return nvfile_close(nvofd_free(o));
}

bool nvops_make_room(void)
{
    int freed = nvfile_let_go_all(false);
    return nvpark_all() + freed > 0;
}

void nvops_forget_range(unsigned first, unsigned last)
{
    nvkfd_forget_range(first, last);
    unsigned limit = (unsigned)nvfd_limit();
    for (unsigned fd = first; fd <= last && fd < limit; fd++) {
        struct nvofd *o = nvfd_remove((int)fd);
        if (o)
            nvops_close_finish(o);
    }
}

struct nvofd *nvops_dup(int oldfd, int newfd)
{
    nvkfd_forget(newfd);
    nvkfd_dup(oldfd, newfd);
    struct nvofd *o = nvfd_begin(oldfd);
    struct nvofd *old;
    if (o) {
        old = nvfd_install(newfd, o);
        nvofd_end(o);
    } else {
        old = nvfd_remove(newfd);
    }
    return old;
}

struct nvofd *nvops_begin(int fd)
{
    struct nvofd *o = nvfd_begin(fd);
    /* What a lock taken since lets in comes before the call. */
    if (o)
        nvfile_take_in(o->file);
    return o;
}

void nvops_end(struct nvofd *o)
{
    nvofd_end(o);
}
