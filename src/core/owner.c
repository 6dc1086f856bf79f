/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * owner.c - ownership locks of managed files (see owner.h). The lock files
 * stay open, close-on-exec: per log directory and user, `owners.UID` and
 * its shards `owners.UID.K`. The kernel walks every lock of a file to set
 * one, so thousands of files open at once would make each open and close
 * of a file cost thousands of steps with a single lock file; a file's lock
 * lives in one of NSHARDS files, chosen by its identity.
 */
#include "core/owner.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/debug.h"
#include "log/log.h"
#include "os/critical.h"
#include "os/keptfds.h"
#include "os/sys.h"

#define MAX_DIRS 64
#define NSHARDS  8

static pthread_mutex_t dirs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *dir;
    uid_t uid;
    int fd[NSHARDS]; /* -1 until opened */
} dirs[MAX_DIRS];
static int ndirs;

#define LOCK_OPEN_FLAGS (O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)

/* Makes the lock file `name` in dfd, mode 0600, given to uid: -EEXIST when
 * it is there already. */
static int create_in(int dfd, const char *name, uid_t uid)
{
    int fd = sys_openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | LOCK_OPEN_FLAGS, 0600);
    if (fd < 0)
        return fd;
    int rc = nvlog_file_give(fd, uid);
    if (rc == 0)
        return fd;
    sys_close(fd);
    sys_unlinkat(dfd, name, 0);
    return rc;
}

/* Opens the lock file that is there (read-write where this process may),
 * never through a link, and only when nvlog_file_check trusts it. */
static int open_existing(int dfd, const char *name, uid_t uid, const char **why)
{
    int fd = sys_openat(dfd, name, O_RDWR | LOCK_OPEN_FLAGS, 0);
    if (fd == -EACCES || fd == -EROFS)
        fd = sys_openat(dfd, name, O_RDONLY | LOCK_OPEN_FLAGS, 0);
    if (fd == -ELOOP) {
        *why = "it is a symbolic link";
        return -EACCES;
    }
    if (fd < 0)
        return fd;
    struct stat st;
    int rc = nvlog_file_check(fd, uid, &st, why);
    if (rc == 0)
        return fd;
    sys_close(fd);
    return rc;
}

/* Shard 0 is `owners.UID` itself. */
static void shard_name(char *buf, size_t n, uid_t uid, int shard)
{
    if (shard == 0)
        snprintf(buf, n, NVOWNER_LOCK_FILE_PREFIX "%u", (unsigned)uid);
    else
        snprintf(buf, n, NVOWNER_LOCK_FILE_PREFIX "%u.%d", (unsigned)uid, shard);
}

/* A refusal (why set) stays -EACCES; a directory or lock file this
 * process may not make is NVOWNER_NO_LOG_DIR. */
static int no_log_dir(int rc, const char *why)
{
    return !why && (rc == -EACCES || rc == -EPERM || rc == -EROFS) ? NVOWNER_NO_LOG_DIR : rc;
}

static int open_lock_file(const char *log_dir, uid_t uid, int shard, bool create)
{
    const char *why = NULL;
    int dfd = nvlog_dir_open(log_dir, uid, create, &why);
    if (dfd == -EACCES && why)
        nv_warn("refusing the log directory %s: %s", log_dir, why);
    if (dfd < 0)
        return no_log_dir(dfd, why);
    char name[32];
    shard_name(name, sizeof(name), uid, shard);
    int fd = create ? create_in(dfd, name, uid) : -EEXIST;
    if (fd == -EEXIST)
        fd = open_existing(dfd, name, uid, &why);
    if (fd == -EACCES && why)
        nv_warn("refusing the lock file %s/%s: %s", log_dir, name, why);
    sys_close(dfd);
    return no_log_dir(fd, why);
}

static uint64_t hash_of(dev_t dev, ino_t ino)
{
    return (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)dev * 0xC2B2AE3D27D4EB4Full;
}

static off_t byte_of(dev_t dev, ino_t ino)
{
    return (off_t)(hash_of(dev, ino) & (((uint64_t)1 << 62) - 1));
}

static int shard_of(dev_t dev, ino_t ino)
{
    return (int)(hash_of(dev, ino) >> 60) % NSHARDS;
}

/* dirs_lock held. The entry of (log_dir, uid), made when new; -1 when the
 * table is full or without memory. */
static int dir_entry(const char *log_dir, uid_t uid)
{
    for (int i = 0; i < ndirs; i++)
        if (dirs[i].uid == uid && !strcmp(dirs[i].dir, log_dir))
            return i;
    char *copy = ndirs < MAX_DIRS ? strdup(log_dir) : NULL;
    if (!copy)
        return -1;
    dirs[ndirs].dir = copy;
    dirs[ndirs].uid = uid;
    for (int k = 0; k < NSHARDS; k++)
        dirs[ndirs].fd[k] = -1;
    return ndirs++;
}

/* dirs_lock held. Shard `shard` of entry i (-1: no entry), opened once;
 * shard 0 first, so `owners.UID` is always made and checked. */
static int shard_fd(int i, const char *log_dir, uid_t uid, int shard, bool create)
{
    if (i >= 0 && dirs[i].fd[shard] >= 0)
        return dirs[i].fd[shard];
    if (shard != 0) {
        int fd0 = shard_fd(i, log_dir, uid, 0, create);
        if (fd0 < 0)
            return fd0;
        if (i < 0) /* not kept: the caller holds shard 0 alone */
            kept_close(fd0);
    }
    int fd = kept_fd(open_lock_file(log_dir, uid, shard, create));
    if (fd >= 0 && i >= 0)
        dirs[i].fd[shard] = fd;
    return fd;
}

/* The lock file of the file (dev, ino) of `uid` in log_dir, opened once. */
static int lock_file(const char *log_dir, uid_t uid, dev_t dev, ino_t ino, bool create)
{
    nv_mutex_lock(&dirs_lock);
    int fd = shard_fd(dir_entry(log_dir, uid), log_dir, uid, shard_of(dev, ino), create);
    nv_mutex_unlock(&dirs_lock);
    return fd;
}

/* Sets the lock on o's byte to `type`, without waiting. */
static int set_lock(struct nvowner *o, short type)
{
    struct flock fl = {
        .l_type = type,
        .l_whence = SEEK_SET,
        .l_start = o->byte,
        .l_len = 1,
    };
    int rc = sys_fcntl(o->fd, F_OFD_SETLK, (long)&fl);
    if (rc == 0)
        o->exclusive = type == F_WRLCK;
    return rc;
}

int nvowner_acquire(const char *log_dir, uid_t uid, dev_t dev, ino_t ino, bool exclusive,
                    struct nvowner *o)
{
    o->fd = -1;
    o->exclusive = false;
    int fd = lock_file(log_dir, uid, dev, ino, exclusive);
    if (fd < 0)
        return exclusive ? fd : 0;
    o->fd = fd;
    o->byte = byte_of(dev, ino);
    int rc = set_lock(o, exclusive ? F_WRLCK : F_RDLCK);
    if (rc < 0)
        o->fd = -1;
    if (rc == -EBADF && !exclusive) /* a read-only lock file cannot hold F_WRLCK */
        return 0;
    if (rc < 0)
        return rc == -EAGAIN || rc == -EACCES ? -EBUSY : rc;
    return 0;
}

#define SERVE_PATIENCE_MS 2000

int nvowner_serve(const char *log_dir, uid_t uid, dev_t dev, ino_t ino, bool writable,
                  struct nvowner *o, bool *first)
{
    o->fd = -1;
    o->exclusive = false;
    *first = false;
    int fd = lock_file(log_dir, uid, dev, ino, writable);
    if (fd < 0)
        return writable ? fd : 0;
    o->fd = fd;
    o->byte = byte_of(dev, ino);
    int rc = set_lock(o, F_WRLCK);
    if (rc == 0) {
        *first = true;
        return 0;
    }
    if (rc != -EAGAIN && rc != -EACCES && rc != -EBADF) {
        o->fd = -1;
        return rc;
    }
    /* Served already, or being made ready by the first process: wait a
     * while for it to share (recovery may take long: then the file goes
     * to the kernel in this process), then see whether it is still there. */
    for (int waited = 0; (rc = set_lock(o, F_RDLCK)) == -EAGAIN; waited++) {
        if (waited == SERVE_PATIENCE_MS)
            break;
        nv_nap(1000 * 1000);
    }
    if (rc < 0) {
        o->fd = -1;
        return rc == -EAGAIN || rc == -EACCES ? -EBUSY : rc;
    }
    *first = set_lock(o, F_WRLCK) == 0;
    return 0;
}

void nvowner_share(struct nvowner *o)
{
    if (o->fd >= 0)
        set_lock(o, F_RDLCK);
}

bool nvowner_alone(struct nvowner *o)
{
    return o->fd >= 0 && (o->exclusive || set_lock(o, F_WRLCK) == 0);
}

bool nvowner_last_out(struct nvowner *o)
{
    if (o->fd < 0 || set_lock(o, F_UNLCK) < 0)
        return false;
    return set_lock(o, F_WRLCK) == 0;
}

/* The byte of a mark: past every ownership byte (below 2^62), 32 to a
 * file. Two files whose identities agree in the bits kept share marks: a
 * mark then only looks held, never free. */
static off_t mark_byte(const struct nvowner *o, int slot)
{
    return ((off_t)1 << 62) + ((o->byte & (((off_t)1 << 55) - 1)) << 5) + slot;
}

static int set_mark(struct nvowner *o, int slot, short type, int cmd)
{
    struct flock fl = {
        .l_type = type,
        .l_whence = SEEK_SET,
        .l_start = mark_byte(o, slot),
        .l_len = 1,
    };
    if (o->fd < 0)
        return -EBADF;
    int rc = sys_fcntl(o->fd, cmd, (long)&fl);
    if (rc < 0)
        return rc == -EAGAIN || rc == -EACCES ? -EBUSY : rc;
    return cmd == F_OFD_GETLK ? fl.l_type != F_UNLCK : 0;
}

int nvowner_mark(struct nvowner *o, int slot)
{
    return set_mark(o, slot, F_WRLCK, F_OFD_SETLK);
}

void nvowner_unmark(struct nvowner *o, int slot)
{
    set_mark(o, slot, F_UNLCK, F_OFD_SETLK);
}

int nvowner_marked(struct nvowner *o, int slot)
{
    return set_mark(o, slot, F_WRLCK, F_OFD_GETLK);
}

int nvowner_probe(const char *log_dir, uid_t uid, dev_t dev, ino_t ino, pid_t *pid)
{
    int fd = open_lock_file(log_dir, uid, shard_of(dev, ino), false);
    if (fd == -ENOENT)
        return 0;
    if (fd < 0)
        return fd;
    struct flock fl = {
        .l_type = F_WRLCK,
        .l_whence = SEEK_SET,
        .l_start = byte_of(dev, ino),
        .l_len = 1,
    };
    int rc = sys_fcntl(fd, F_OFD_GETLK, (long)&fl);
    sys_close(fd);
    if (rc < 0)
        return rc;
    *pid = fl.l_pid;
    return fl.l_type != F_UNLCK;
}

void nvowner_after_fork_child(void)
{
    pthread_mutex_init(&dirs_lock, NULL);
    for (int i = 0; i < ndirs; i++) {
        for (int k = 0; k < NSHARDS; k++)
            kept_close(dirs[i].fd[k]);
        free(dirs[i].dir);
    }
    ndirs = 0;
}

void nvowner_release(struct nvowner *o)
{
    if (o->fd < 0)
        return;
    set_lock(o, F_UNLCK);
    o->fd = -1;
}
