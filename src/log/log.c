/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * log.c - the log file of one data file (see log.h).
 */
#include "log/log.h"

#include "log/checksum.h"
#include "mutants.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "os/critical.h"
#include "os/keptfds.h"
#include "os/sys.h"

#define LOG_MAX_GROW_STEP ((uint64_t)64 << 20)
#define LOG_MIN_RESERVE   ((uint64_t)1 << 30)

/* The watch entry as the mapping holds it now. */
static void watch_reload(struct nvlog *log)
{
    const struct nvlog_watch *w = nvlog_watch_current(log->map.base);
    log->watch = w ? *w : (struct nvlog_watch){0};
    log->watch_cached = true;
}

void nvlog_init(struct nvlog *log)
{
    memset(log, 0, sizeof(*log));
    log->fd = log->dirfd = -1;
}

/* ---- descriptors ----------------------------------------------------------
 * A log needs its file only to grow: it is mapped whole. So a log keeps no
 * descriptor of its own; the directories logs live in are kept open
 * instead, one descriptor each, and a log is opened again by name when it
 * grows. A program with thousands of managed files open thus pays no
 * descriptor for their logs. */

#define MAX_LOG_DIRS 64

static pthread_mutex_t dirs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    dev_t dev;
    ino_t ino;
    int fd;
} dirs[MAX_LOG_DIRS];
static int ndirs;

/* The library's own descriptor of the directory open as dirfd, kept from
 * now on; -1 when none can be kept. */
static int kept_dir(int dirfd)
{
    int fd = -1;
    /* One of them already (nvlog_dir_kept): nothing to look up. */
    nv_mutex_lock(&dirs_lock);
    for (int i = 0; i < ndirs && fd < 0; i++)
        if (dirs[i].fd == dirfd)
            fd = dirfd;
    nv_mutex_unlock(&dirs_lock);
    struct stat st;
    if (fd >= 0 || sys_fstat(dirfd, &st) < 0)
        return fd;
    nv_mutex_lock(&dirs_lock);
    for (int i = 0; i < ndirs && fd < 0; i++)
        if (dirs[i].dev == st.st_dev && dirs[i].ino == st.st_ino)
            fd = dirs[i].fd;
    if (fd < 0 && ndirs < MAX_LOG_DIRS) {
        fd = kept_fd(sys_fcntl(dirfd, F_DUPFD_CLOEXEC, 0));
        if (fd >= 0)
            dirs[ndirs++] = (typeof(dirs[0])){st.st_dev, st.st_ino, fd};
    }
    nv_mutex_unlock(&dirs_lock);
    return fd;
}

/* Logs that keep their descriptor, a few (atomic): a log
 * opened again by name is not found once the data file was unlinked by
 * another process sharing it (which removes its log), so the first ones
 * keep theirs and only a process with many logs goes by name. */
static int kept_logs;

static bool take_kept_log(void)
{
    static int most; /* a 128th of the descriptor limit, 2 to 16 */
    if (!__atomic_load_n(&most, __ATOMIC_RELAXED))
        __atomic_store_n(&most, kept_budget(128, 2, 16), __ATOMIC_RELAXED);
    if (__atomic_add_fetch(&kept_logs, 1, __ATOMIC_RELAXED) <=
        __atomic_load_n(&most, __ATOMIC_RELAXED))
        return true;
    __atomic_sub_fetch(&kept_logs, 1, __ATOMIC_RELAXED);
    return false;
}

/* Closes a descriptor of a log, kept or not. */
static void close_log_fd(int fd)
{
    if (kept_is(fd))
        kept_close(fd);
    else
        sys_close(fd);
}

/* The log is attached: open as fd, which it keeps when asked, while few
 * logs keep theirs, or when its directory cannot be kept instead. */
static void attached(struct nvlog *log, int fd, int dirfd, const char *name, const struct stat *st,
                     bool keep)
{
    log->attached = true;
    log->dev = st->st_dev;
    log->ino = st->st_ino;
    log->uid = st->st_uid;
    snprintf(log->name, sizeof(log->name), "%s", name);
    log->counted = !keep && take_kept_log();
    keep = keep || log->counted;
    log->dirfd = !keep && strlen(name) < sizeof(log->name) ? kept_dir(dirfd) : -1;
    if (log->dirfd >= 0) {
        close_log_fd(fd);
        log->fd = -1;
    } else {
        log->fd = kept_is(fd) ? fd : kept_fd(fd);
    }
}

/* A descriptor of the log file, to give back with put_fd. */
static int get_fd(const struct nvlog *log)
{
    if (log->fd >= 0)
        return log->fd;
    int fd;
    do
        fd = sys_openat(log->dirfd, log->name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    while (kept_retry(fd));
    struct stat st;
    if (fd >= 0 && (sys_fstat(fd, &st) < 0 || st.st_dev != log->dev || st.st_ino != log->ino)) {
        sys_close(fd);
        fd = -ESTALE; /* replaced behind the library's back */
    }
    return fd;
}

static void put_fd(const struct nvlog *log, int fd)
{
    if (fd >= 0 && fd != log->fd)
        sys_close(fd);
}

static void start_generation(struct nvlog *log)
{
    log->tail = NVLOG_HEADER_SIZE;
    log->next_index = 0;
    log->live_from = NVLOG_HEADER_SIZE;
    log->live_from_index = 0;
    log->open_from = NVLOG_HEADER_SIZE;
    log->open_index = 0;
}

static int refuse(const char **why, const char *what)
{
    *why = what;
    return -EACCES;
}

/* Whether a log directory of status st may hold the logs of files owned by
 * `owner` for this process's user me (see nvlog_dir_open). */
static int dir_trusted(const struct stat *st, uid_t me, uid_t owner, const char **why)
{
    if (st->st_uid != 0 && st->st_uid != me && st->st_uid != owner)
        return refuse(why, "it belongs to another user (a root shared by several users needs it "
                           "root's, mode 1777)");
    if ((st->st_mode & 0022) && !(st->st_mode & S_ISVTX))
        return refuse(why, "others may write in it and it has no sticky bit");
    return 0;
}

/* Opens the directory and reads its status into *st. */
static int dir_open(const char *path, uid_t me, bool create, struct stat *st, const char **why)
{
    int fd;
    do
        fd = sys_open_dir(path, !create ? 0 : me == 0 ? 01777 : 0700);
    while (kept_retry(fd));
    if (fd == -ELOOP || fd == -ENOTDIR)
        return refuse(why, "it is a symbolic link or not a directory");
    int rc = fd < 0 ? fd : sys_fstat(fd, st);
    if (rc < 0 && fd >= 0)
        sys_close(fd);
    return rc < 0 ? rc : fd;
}

int nvlog_dir_open(const char *path, uid_t owner, bool create, const char **why)
{
    uid_t me = sys_geteuid();
    struct stat st;
    int fd = dir_open(path, me, create, &st, why);
    int rc = fd < 0 ? fd : dir_trusted(&st, me, owner, why);
    if (rc < 0 && fd >= 0)
        sys_close(fd);
    return rc < 0 ? rc : fd;
}

/* Log directories kept open by path: making and removing a file's log
 * would otherwise walk the path and check the directory twice per file. */
static struct {
    char *path;
    int fd;
    struct stat st;
} by_path[MAX_LOG_DIRS];
static int nby_path;

int nvlog_dir_kept(const char *path, uid_t owner, bool create, const char **why)
{
    uid_t me = sys_geteuid();
    int fd = -1;
    struct stat st;
    nv_mutex_lock(&dirs_lock);
    for (int i = 0; i < nby_path && fd < 0; i++)
        if (strcmp(by_path[i].path, path) == 0) {
            fd = by_path[i].fd;
            st = by_path[i].st;
        }
    nv_mutex_unlock(&dirs_lock);
    if (fd >= 0)
        return dir_trusted(&st, me, owner, why) < 0 ? -EACCES : fd;
    int opened = dir_open(path, me, create, &st, why);
    if (opened < 0)
        return opened;
    int rc = dir_trusted(&st, me, owner, why);
    fd = rc < 0 ? rc : kept_dir(opened);
    sys_close(opened);
    if (fd < 0)
        return rc < 0 ? rc : -EMFILE;
    char *copy = strdup(path);
    nv_mutex_lock(&dirs_lock);
    if (copy && nby_path < MAX_LOG_DIRS) {
        by_path[nby_path++] = (typeof(by_path[0])){copy, fd, st};
        copy = NULL;
    }
    nv_mutex_unlock(&dirs_lock);
    free(copy);
    return fd;
}

void nvlog_dir_forget(const char *path)
{
    nv_mutex_lock(&dirs_lock);
    for (int i = 0; i < nby_path; i++)
        if (strcmp(by_path[i].path, path) == 0) {
            free(by_path[i].path);
            by_path[i] = by_path[--nby_path];
            break;
        }
    nv_mutex_unlock(&dirs_lock);
}

int nvlog_file_check(int fd, uid_t owner, struct stat *st, const char **why)
{
    int rc = sys_fstat(fd, st);
    if (rc < 0)
        return rc;
    if (!S_ISREG(st->st_mode))
        return refuse(why, "it is not a regular file");
    if (st->st_nlink != 1)
        return refuse(why, "it has other links");
    if (st->st_uid != owner && st->st_uid != 0)
        return refuse(why, "it is not owned by the data file's owner");
    if (st->st_mode & 0022)
        return refuse(why, "group or others may write it");
    return 0;
}

int nvlog_file_give(int fd, uid_t owner)
{
    return sys_geteuid() == 0 && owner != 0 ? sys_fchown(fd, owner, (gid_t)-1) : 0;
}

/* Makes the temporary file a log is built in, never through a link left in
 * its place. */
static int create_temp(int dirfd, const char *tmp)
{
    const int flags = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd;
    do
        fd = sys_openat(dirfd, tmp, flags, 0600);
    while (kept_retry(fd));
    if (fd == -EEXIST) { /* left by a crash during an earlier create */
        sys_unlinkat(dirfd, tmp, 0);
        fd = sys_openat(dirfd, tmp, flags, 0600);
    }
    return fd;
}

/* A number no earlier log of the file had: a transaction record names a
 * log by it (txrecord.h), and a log made anew restarts its epochs. */
static uint64_t log_instance(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return ((uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec) ^
           ((uint64_t)sys_gettid() << 48);
}

/* Writes the superblock of a new log for a data file of the given identity
 * and committed size, generation gen, and makes it durable. What an earlier
 * use of the file left in the superblock goes; its records, of older
 * generations, no longer count. */
static int write_superblock(struct nvlog *log, const struct nvlog_identity *id,
                            uint64_t committed_size, uint64_t gen, bool fresh)
{
    if (!fresh)
        pm_fill(&log->map, 0, 0, NVLOG_HEADER_SIZE);
    memset(&log->state, 0, sizeof(log->state));
    log->state.id = *id;
    log->state.committed_size = committed_size;
    log->state.gen = gen;
    log->state.instance = log_instance();
    start_generation(log);
    /* Both slots are written so a valid older slot can never outrank. */
    struct nvlog_slot s = log->state;
    s.seq = 0;
    nvlog_slot_seal(&s);
    memcpy(log->map.base + nvlog_slot_offset(0), &s, sizeof(s));
    s.seq = 1;
    nvlog_slot_seal(&s);
    memcpy(log->map.base + nvlog_slot_offset(1), &s, sizeof(s));
    log->state = s;
    log->watch = (struct nvlog_watch){0}; /* a fresh or cleared header has none */
    log->watch_cached = true;
    return pm_persist(&log->map, 0, fresh ? NVLOG_SLOT_STRIDE + sizeof(s) : NVLOG_HEADER_SIZE);
}

/* ---- spare logs -----------------------------------------------------------
 * Making a log (a file, its space, a mapping, its first page touched) and
 * removing it (unmapping, freeing the pages) cost many times what a small
 * file's whole life costs through the kernel. So a log that goes is kept by
 * its process instead, a few at a time: renamed to a name of that process
 * (.spare-PID-TOKEN-N, see nvlog_spare_name; neither recovery nor the
 * tools take it for a log),
 * still mapped, and made the next new log of a file in the same directory
 * by writing its superblock anew and renaming it back. A spare keeps its
 * owner and the records of its earlier life: it becomes the log of a file
 * of that owner only, so no user reads another's logged bytes. A normal exit or an
 * exec removes them (nvlog_spares_drop); a killed process leaves its few
 * behind, which the next process to keep a spare in that directory
 * removes (share blocks' too). */

#define MAX_SPARES     4
#define SPARE_MAX_SIZE ((uint64_t)256 << 10)

struct spare {
    int dirfd; /* kept descriptor of its directory */
    int fd;    /* kept descriptor of the spare, or -1: opened by name */
    char name[64];
    dev_t dev;
    ino_t ino;
    uid_t uid;
    struct pm_map map;
    uint64_t size, populated, gen;
};

static pthread_mutex_t spares_lock = PTHREAD_MUTEX_INITIALIZER;
static struct spare spares[MAX_SPARES];
static int nspares;
static int spares_pid;

/* spares_lock held: spares a forked child inherited are its parent's, whose
 * files they are; the child only lets go of their mappings. */
static void spares_check_owner(void)
{
    if (!sys_owner_changed(&spares_pid))
        return;
    for (int i = 0; i < nspares; i++) {
        pm_unmap(&spares[i].map);
        kept_close(spares[i].fd);
    }
    nspares = 0;
}

int nvlog_spare_name(char *buf, size_t n, const char *suffix)
{
    static uint64_t token;
    static int token_pid;
    static unsigned long serial;
    int me = sys_getpid();
    if (__atomic_load_n(&token_pid, __ATOMIC_ACQUIRE) != me) {
        uint64_t t;
        struct timespec now;
        if (sys_getrandom(&t, sizeof(t)) != (long)sizeof(t)) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            t = (uint64_t)now.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)now.tv_sec ^ (uint64_t)me;
        }
        __atomic_store_n(&token, t, __ATOMIC_RELAXED);
        __atomic_store_n(&token_pid, me, __ATOMIC_RELEASE);
    }
    int len = snprintf(buf, n, ".spare-%d-%016llx-%lu%s", me,
                       (unsigned long long)__atomic_load_n(&token, __ATOMIC_RELAXED),
                       __atomic_fetch_add(&serial, 1, __ATOMIC_RELAXED), suffix);
    return len > 0 && (size_t)len < n ? 0 : -ENAMETOOLONG;
}

/* spares_lock held: the spares (of logs and share blocks) that processes
 * since killed left in the directory kept as dirfd are removed, once per
 * process and directory. */
static int reaped_dirs[MAX_LOG_DIRS];
static int nreaped;

/* Removes the spare `name` of the directory kept as *arg when the process
 * that named it is gone. */
static int reap_if_dead(const char *name, void *arg)
{
    int pid;
    if (sscanf(name, ".spare-%d-", &pid) == 1 && pid > 0 && pid != spares_pid &&
        !sys_process_exists(pid))
        sys_unlinkat(*(int *)arg, name, 0);
    return 0;
}

static void reap_dead_spares(int kept)
{
    for (int i = 0; i < nreaped; i++)
        if (reaped_dirs[i] == kept)
            return;
    if (nreaped < MAX_LOG_DIRS)
        reaped_dirs[nreaped++] = kept;
    int dir = sys_openat(kept, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dir < 0)
        return;
    sys_dir_each(dir, reap_if_dead, &kept);
    sys_close(dir);
}

/* Keeps the log, which is going, as a spare: 0 when it is kept (the name
 * gone and the log detached), or a negative errno when it is not. */
static int keep_spare(struct nvlog *log, int dirfd, const char *name)
{
    if (log->size > SPARE_MAX_SIZE)
        return -EFBIG;
    int kept = kept_dir(dirfd);
    if (kept < 0)
        return -EMFILE;
    nv_mutex_lock(&spares_lock);
    spares_check_owner();
    reap_dead_spares(kept);
    int rc = nspares < MAX_SPARES ? 0 : -ENOSPC;
    struct spare *s = &spares[nspares];
    if (rc == 0) {
        rc = nvlog_spare_name(s->name, sizeof(s->name), "");
        if (rc == 0)
            rc = sys_renameat(dirfd, name, kept, s->name);
    }
    if (rc == 0) {
        s->dirfd = kept;
        s->fd = log->fd;
        s->dev = log->dev;
        s->ino = log->ino;
        s->uid = log->uid;
        s->map = log->map;
        s->size = log->size;
        s->populated = log->populated;
        s->gen = log->state.gen;
        nspares++;
    }
    nv_mutex_unlock(&spares_lock);
    if (rc < 0)
        return rc;
    if (log->counted)
        __atomic_sub_fetch(&kept_logs, 1, __ATOMIC_RELAXED);
    nvlog_init(log);
    return 0;
}

/* Takes a spare of the directory dirfd owned by owner, opened as *fd;
 * false when there is none. */
static bool take_spare(int dirfd, uid_t owner, struct spare *out, int *fd)
{
    int kept = kept_dir(dirfd);
    bool found = false;
    nv_mutex_lock(&spares_lock);
    spares_check_owner();
    for (int i = nspares - 1; i >= 0 && !found; i--) {
        if (spares[i].dirfd != kept || spares[i].uid != owner)
            continue;
        *out = spares[i];
        spares[i] = spares[--nspares];
        found = true;
    }
    nv_mutex_unlock(&spares_lock);
    if (!found)
        return false;
    *fd = out->fd;
    if (*fd >= 0)
        return true;
    *fd = sys_openat(out->dirfd, out->name, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
    struct stat st;
    if (*fd >= 0 && sys_fstat(*fd, &st) == 0 && st.st_dev == out->dev && st.st_ino == out->ino &&
        st.st_uid == owner)
        return true;
    /* Replaced behind the library's back: not a log of this process. */
    if (*fd >= 0)
        sys_close(*fd);
    pm_unmap(&out->map);
    return false;
}

void nvlog_before_fork(void)
{
    nv_mutex_lock(&dirs_lock);
    nv_mutex_lock(&spares_lock);
}

void nvlog_after_fork(void)
{
    nv_mutex_unlock(&spares_lock);
    nv_mutex_unlock(&dirs_lock);
}

void nvlog_spares_drop(void)
{
    nv_mutex_lock(&spares_lock);
    bool own = spares_pid == sys_getpid();
    for (int i = 0; i < nspares; i++) {
        pm_unmap(&spares[i].map);
        kept_close(spares[i].fd);
        if (own)
            sys_unlinkat(spares[i].dirfd, spares[i].name, 0);
    }
    nspares = 0;
    nv_mutex_unlock(&spares_lock);
}

/* The status of `name` in dirfd, which must be the file open as fd: a
 * spare kept open is renamed by its name, which another process may have
 * removed (taking this one for dead) and another file taken since. */
static int named_status(int dirfd, const char *name, int fd, struct stat *st)
{
    struct statx stx;
    int rc = sys_fstat(fd, st);
    if (rc == 0)
        rc = sys_statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_INO, &stx);
    if (rc == 0 &&
        (stx.stx_ino != st->st_ino || makedev(stx.stx_dev_major, stx.stx_dev_minor) != st->st_dev))
        rc = -ESTALE;
    return rc;
}

/* The new log, open as fd and complete and durable when rc is 0, renamed
 * from `from` in from_dir to `name` in dirfd, and attached: the name must
 * not appear before the file is complete and durable. On failure (or when
 * rc is an error) the log goes, file and all. */
static int give_name(struct nvlog *log, int fd, int rc, int from_dir, const char *from, int dirfd,
                     const char *name)
{
    if (rc == 0)
        rc = sys_renameat(from_dir, from, dirfd, name);
    if (rc == 0)
        rc = sys_fsync(dirfd);
    struct stat st;
    if (rc == 0)
        rc = named_status(dirfd, name, fd, &st);
    if (rc < 0) {
        nvlog_close(log);
        close_log_fd(fd);
        sys_unlinkat(from_dir, from, 0);
        return rc;
    }
    attached(log, fd, dirfd, name, &st, false);
    return 0;
}

/* The new log made from a spare; as nvlog_create. */
static int create_from_spare(struct nvlog *log, int dirfd, const char *name,
                             const struct nvlog_identity *id, uid_t owner, uint64_t committed_size)
{
    struct spare s;
    int fd;
    if (!take_spare(dirfd, owner, &s, &fd))
        return -ENOENT;
    log->attached = true; /* for nvlog_close on failure */
    log->map = s.map;
    log->size = s.size;
    log->populated = s.populated;
    int rc = write_superblock(log, id, committed_size, s.gen + 1, false);
    return give_name(log, fd, rc, s.dirfd, s.name, dirfd, name);
}

int nvlog_create(struct nvlog *log, int dirfd, const char *name, const struct nvlog_identity *id,
                 uid_t owner, uint64_t committed_size)
{
    char tmp[256];
    if (snprintf(tmp, sizeof(tmp), ".%s.tmp", name) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    if (create_from_spare(log, dirfd, name, id, owner, committed_size) == 0)
        return 0;
    int fd = create_temp(dirfd, tmp);
    if (fd < 0)
        return fd;
    int rc = nvlog_file_give(fd, owner);
    if (rc == 0)
        rc = sys_fallocate(fd, 0, 0, NVLOG_INITIAL_SIZE);
    if (rc == 0)
        rc = pm_map_file(fd, 1, pm_reserve_for(NVLOG_INITIAL_SIZE, LOG_MIN_RESERVE), &log->map);
    if (rc < 0) {
        sys_close(fd);
        sys_unlinkat(dirfd, tmp, 0);
        return rc;
    }
    log->attached = true; /* for nvlog_close on failure */
    log->size = NVLOG_INITIAL_SIZE;
    /* The header now, records' pages as they come (nvlog_reserve): a
     * log that never holds a record costs one page. */
    pm_populate(&log->map, 0, NVLOG_HEADER_SIZE);
    log->populated = NVLOG_HEADER_SIZE;
    rc = write_superblock(log, id, committed_size, 1, true);
    if (rc == 0)
        rc = sys_fsync(fd);
    return give_name(log, fd, rc, dirfd, tmp, dirfd, name);
}

bool nvlog_is_at(const struct nvlog *log, const char *path)
{
    struct statx stx;
    return log->attached && sys_statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_INO, &stx) == 0 &&
           makedev(stx.stx_dev_major, stx.stx_dev_minor) == log->dev && stx.stx_ino == log->ino;
}

int nvlog_remove(struct nvlog *log, int dirfd, const char *name)
{
    if (keep_spare(log, dirfd, name) == 0)
        return 0;
    int rc = sys_unlinkat(dirfd, name, 0);
    if (rc == -EPERM || rc == -EACCES)
        return rc;
    nvlog_close(log);
    return rc == -ENOENT ? 0 : rc;
}

/* Opens and maps the log, read-write or read-only, and finds its state. */
static int attach(struct nvlog *log, int dirfd, const char *name, uid_t owner, bool writable,
                  const char **why)
{
    int mode = writable ? O_RDWR : O_RDONLY;
    int fd;
    do
        fd = sys_openat(dirfd, name, mode | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    while (kept_retry(fd));
    if (fd == -ELOOP)
        return refuse(why, "it is a symbolic link");
    if (fd < 0)
        return fd;
    struct stat st;
    int rc = nvlog_file_check(fd, owner, &st, why);
    if (rc == 0 && (uint64_t)st.st_size < NVLOG_HEADER_SIZE) {
        *why = "it is shorter than its header";
        rc = -EBADMSG;
    }
    if (rc == 0)
        rc = pm_map_file(fd, writable, pm_reserve_for((uint64_t)st.st_size, LOG_MIN_RESERVE),
                         &log->map);
    if (rc < 0) {
        sys_close(fd);
        return rc;
    }
    attached(log, fd, dirfd, name, &st, true);
    log->size = log->populated = (uint64_t)st.st_size;
    const struct nvlog_slot *cur = nvlog_slot_current(log->map.base);
    if (!cur) {
        *why = "neither commit slot is valid";
        nvlog_close(log);
        return -EBADMSG;
    }
    log->state = *cur;
    watch_reload(log);
    start_generation(log);
    return 0;
}

int nvlog_attach(struct nvlog *log, int dirfd, const char *name, uid_t owner, const char **why)
{
    int rc = attach(log, dirfd, name, owner, true, why);
    if (rc < 0)
        return rc;
    /* The other slot may hold a torn commit, and the next commit goes
     * there: torn again, the old and new words could add up to that
     * earlier commit, checksum and all. Clear it first. */
    size_t other = nvlog_slot_offset(log->state.seq + 1);
    const struct nvlog_slot *o = (const void *)(log->map.base + other);
    if (!nvlog_slot_valid(o)) {
        pm_fill(&log->map, other, 0, sizeof(*o));
        rc = pm_drain(&log->map);
        if (rc < 0) {
            nvlog_close(log);
            return rc;
        }
    }
    return 0;
}

int nvlog_attach_readonly(struct nvlog *log, int dirfd, const char *name, uid_t owner,
                          const char **why)
{
    return attach(log, dirfd, name, owner, false, why);
}

int nvlog_identity_read(int fd, struct nvlog_identity *id, uint64_t *size)
{
    struct statx stx;
    int rc = sys_statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_BTIME | STATX_SIZE, &stx);
    if (rc < 0)
        return rc;
    memset(id, 0, sizeof(*id));
    id->dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    id->ino = stx.stx_ino;
    if (stx.stx_mask & STATX_BTIME) {
        id->btime_sec = stx.stx_btime.tv_sec;
        id->btime_nsec = stx.stx_btime.tv_nsec;
    }
    *size = stx.stx_size;
    return 0;
}

void nvlog_close(struct nvlog *log)
{
    if (!log->attached)
        return;
    pm_unmap(&log->map);
    kept_close(log->fd);
    log->fd = -1;
    log->attached = false;
    log->watch_cached = false;
    if (log->counted)
        __atomic_sub_fetch(&kept_logs, 1, __ATOMIC_RELAXED);
    log->counted = false;
}

int nvlog_reserve(struct nvlog *log, uint64_t bytes)
{
    uint64_t need = log->tail + bytes;
    if (need <= log->populated)
        return 0;
    if (need <= log->size) {
        uint64_t to = (need + 4095) & ~(uint64_t)4095;
        pm_populate(&log->map, log->populated, to - log->populated);
        log->populated = to;
        return 0;
    }
    uint64_t step = log->size < LOG_MAX_GROW_STEP ? log->size : LOG_MAX_GROW_STEP;
    uint64_t want = log->size + step;
    if (want < need)
        want = need;
    want = (want + 4095) & ~(uint64_t)4095;
    int fd = get_fd(log);
    if (fd < 0)
        return fd;
    int rc = sys_fallocate(fd, 0, (off_t)log->size, (off_t)(want - log->size));
    if (rc < 0 && want > need) {
        /* The generous step did not fit; the exact need may. */
        want = (need + 4095) & ~(uint64_t)4095;
        rc = sys_fallocate(fd, 0, (off_t)log->size, (off_t)(want - log->size));
    }
    if (rc == -EFBIG)
        rc = -ENOSPC;
    if (rc == 0 && want > log->map.reserved)
        rc = pm_map_grow(fd, pm_reserve_for(want, LOG_MIN_RESERVE), &log->map);
    put_fd(log, fd);
    if (rc < 0)
        return rc;
    pm_populate(&log->map, log->populated, want - log->populated);
    log->size = log->populated = want;
    return 0;
}

void nvlog_cursor_get(const struct nvlog *log, struct nvlog_cursor *c)
{
    *c = (struct nvlog_cursor){
        log->size,      log->tail,       log->next_index, log->live_from, log->live_from_index,
        log->open_from, log->open_index, log->state};
}

int nvlog_cursor_set(struct nvlog *log, const struct nvlog_cursor *c)
{
    if (c->size > log->map.reserved) {
        int fd = get_fd(log);
        int rc = fd < 0 ? fd : pm_map_grow(fd, pm_reserve_for(c->size, LOG_MIN_RESERVE), &log->map);
        put_fd(log, fd);
        if (rc < 0)
            return rc;
    }
    log->size = log->populated = c->size;
    log->tail = c->tail;
    log->next_index = c->next_index;
    log->live_from = c->live_from;
    log->live_from_index = c->live_from_index;
    log->open_from = c->open_from;
    log->open_index = c->open_index;
    log->state = c->state;
    watch_reload(log); /* the other process may have written entries */
    return 0;
}

struct nvlog_rec nvlog_alloc(struct nvlog *log, uint64_t data_len)
{
    struct nvlog_rec rec = {log->tail, log->next_index};
    log->tail += nvlog_record_span(data_len);
    log->next_index++;
    return rec;
}

void nvlog_seal(struct nvlog *log, struct nvlog_rec rec, int kind, uint64_t epoch,
                uint64_t file_offset, uint64_t data_len, uint32_t data_checksum)
{
    struct nvlog_record r = {
        .kind = (uint8_t)kind,
        .gen = log->state.gen,
        .index = rec.index,
        .epoch = epoch,
        .file_offset = file_offset,
        .data_len = data_len,
        .data_checksum = data_checksum,
    };
    nvlog_record_seal(&r);
    memcpy(log->map.base + rec.off, &r, sizeof(r));
    pm_flush(&log->map, rec.off, sizeof(r));
}

struct seal_ctx {
    struct nvlog *log;
    struct nvidx *index;
};

/* The index entry of the redo record r at log offset off, when it has
 * one (the record is its block's newest), or NULL. */
static const struct nvidx_entry *redo_entry(struct seal_ctx *c, const struct nvlog_record *r,
                                            uint64_t off)
{
    struct nvidx_region *region = nvidx_region(c->index, r->file_offset, false);
    if (!region || r->data_len != (uint64_t)1 << region->shift)
        return NULL;
    const struct nvidx_entry *e = nvidx_entry_at(region, r->file_offset);
    return e->record == off && e->kind == NVLOG_REDO ? e : NULL;
}

static int seal_redo_data(void *arg, const struct nvlog_record *r, const char *data)
{
    struct seal_ctx *c = arg;
    if (r->kind != NVLOG_REDO)
        return 0;
    uint64_t off = (uint64_t)((const char *)r - c->log->map.base);
    const struct nvidx_entry *e = redo_entry(c, r, off);
    /* The entry knows the checksum when a write replaced the whole block. */
    uint32_t sum = e && e->data_known ? e->data_checksum : nv_crc32c(0, data, (size_t)r->data_len);
    uint64_t written = e ? __atomic_load_n(&e->written, __ATOMIC_RELAXED) : r->written;
    /* All of the block is 0, as a header sealed when a write covered it
     * says: such a header is not written again. */
    if (written == NVLOG_WRITTEN(0, r->data_len))
        written = 0;
    if (sum == r->data_checksum && written == r->written)
        return 0;
    struct nvlog_record sealed = *r;
    sealed.data_checksum = sum;
    sealed.written = written;
    nvlog_record_seal(&sealed);
    memcpy(c->log->map.base + off, &sealed, sizeof(sealed));
    pm_flush(&c->log->map, off, sizeof(sealed));
    return 0;
}

void nvlog_seal_redo_data(struct nvlog *log, struct nvidx *index)
{
    struct seal_ctx c = {log, index};
    nvlog_walk(log, log->open_from, log->open_index, log->tail, seal_redo_data, &c, NULL);
}

int nvlog_commit(struct nvlog *log, uint64_t committed_epoch, uint64_t applied_epoch,
                 uint64_t committed_size, bool reset)
{
    struct nvlog_slot s = log->state;
    s.seq++;
    s.committed_epoch = committed_epoch;
    s.applied_epoch = applied_epoch;
    s.committed_size = committed_size;
    s.records = reset ? 0 : log->next_index;
    if (reset)
        s.gen++;
    nvlog_slot_seal(&s);
    size_t off = nvlog_slot_offset(s.seq);
    memcpy(log->map.base + off, &s, sizeof(s));
    int rc;
    if (MUTANT(4)) { /* the commit is flushed but never fenced */
        pm_flush(&log->map, off, sizeof(s));
        rc = 0;
    } else if (MUTANT(6)) { /* the commit record is not flushed */
        rc = pm_drain(&log->map);
    } else {
        rc = pm_persist(&log->map, off, sizeof(s));
    }
    if (rc < 0)
        return rc;
    bool epoch_ended = s.committed_epoch != log->state.committed_epoch;
    log->state = s;
    if (reset) {
        start_generation(log);
    } else if (epoch_ended) { /* a checkpoint leaves the open epoch open */
        log->open_from = log->tail;
        log->open_index = log->next_index;
    }
    return 0;
}

int nvlog_walk(struct nvlog *log, uint64_t from, uint64_t from_index, uint64_t limit,
               nvlog_visit_fn visit, void *arg, struct nvlog_rec *end)
{
    uint64_t off = from, index = from_index;
    int rc = 0;
    if (limit > log->size)
        limit = log->size;
    while (off + sizeof(struct nvlog_record) <= limit) {
        const struct nvlog_record *r = (const void *)(log->map.base + off);
        if (!nvlog_record_valid(r, log->state.gen, index))
            break;
        if (!nvlog_record_bounded(r) || nvlog_record_span(r->data_len) > limit - off)
            break;
        uint64_t span = nvlog_record_span(r->data_len);
        rc = visit(arg, r, (const char *)r + sizeof(*r));
        if (rc)
            break;
        off += span;
        index++;
    }
    if (end) {
        end->off = off;
        end->index = index;
    }
    return rc;
}
