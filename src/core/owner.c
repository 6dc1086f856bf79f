/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * owner.c - ownership locks of managed files (see owner.h). The lock files
 * stay open, one per log directory and user, close-on-exec.
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

static pthread_mutex_t dirs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *dir;
    uid_t uid;
    int fd;
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

static int open_lock_file(const char *log_dir, uid_t uid, bool create)
{
    const char *why = NULL;
    int dfd = nvlog_dir_open(log_dir, uid, create, &why);
    if (dfd == -EACCES && why)
        nv_warn("refusing the log directory %s: %s", log_dir, why);
    if (dfd < 0)
        return dfd;
    char name[32];
    snprintf(name, sizeof(name), NVOWNER_LOCK_FILE_PREFIX "%u", (unsigned)uid);
    int fd = create ? create_in(dfd, name, uid) : -EEXIST;
    if (fd == -EEXIST)
        fd = open_existing(dfd, name, uid, &why);
    if (fd == -EACCES && why)
        nv_warn("refusing the lock file %s/%s: %s", log_dir, name, why);
    sys_close(dfd);
    return fd;
}

/* The lock file of the files of `uid` in log_dir, opened once. */
static int lock_file(const char *log_dir, uid_t uid, bool create)
{
    nv_mutex_lock(&dirs_lock);
    int fd = -ENOENT;
    for (int i = 0; i < ndirs; i++) {
        if (dirs[i].uid == uid && !strcmp(dirs[i].dir, log_dir)) {
            fd = dirs[i].fd;
            goto out;
        }
    }
    fd = kept_fd(open_lock_file(log_dir, uid, create));
    if (fd >= 0 && ndirs < MAX_DIRS) {
        char *copy = strdup(log_dir);
        if (copy) {
            dirs[ndirs].dir = copy;
            dirs[ndirs].uid = uid;
            dirs[ndirs].fd = fd;
            ndirs++;
        }
    }
out:
    nv_mutex_unlock(&dirs_lock);
    return fd;
}

static off_t byte_of(dev_t dev, ino_t ino)
{
    uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)dev * 0xC2B2AE3D27D4EB4Full;
    return (off_t)(h & (((uint64_t)1 << 62) - 1));
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
    return sys_fcntl(o->fd, F_OFD_SETLK, (long)&fl);
}

int nvowner_acquire(const char *log_dir, uid_t uid, dev_t dev, ino_t ino, bool exclusive,
                    struct nvowner *o)
{
    o->fd = -1;
    int fd = lock_file(log_dir, uid, exclusive);
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
    *first = false;
    int fd = lock_file(log_dir, uid, writable);
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
    struct timespec nap = {0, 1000 * 1000};
    for (int waited = 0; (rc = set_lock(o, F_RDLCK)) == -EAGAIN; waited++) {
        if (waited == SERVE_PATIENCE_MS)
            break;
        nanosleep(&nap, NULL);
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
    return o->fd >= 0 && set_lock(o, F_WRLCK) == 0;
}

int nvowner_probe(const char *log_dir, uid_t uid, dev_t dev, ino_t ino, pid_t *pid)
{
    int fd = open_lock_file(log_dir, uid, false);
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
        kept_close(dirs[i].fd);
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
