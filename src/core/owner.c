/*
 * owner.c - ownership locks of managed files (see owner.h). The lock files
 * stay open, one per log directory, close-on-exec.
 */
#include "core/owner.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "os/critical.h"
#include "os/keptfds.h"
#include "os/sys.h"

#define LOCK_FILE_NAME "owners"
#define MAX_DIRS       64

static pthread_mutex_t dirs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *dir;
    int fd;
} dirs[MAX_DIRS];
static int ndirs;

static int open_lock_file(const char *log_dir, bool create)
{
    int dfd = sys_open_dir(log_dir, create);
    if (dfd < 0)
        return dfd;
    int fd = sys_openat(dfd, LOCK_FILE_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        fd = sys_openat(dfd, LOCK_FILE_NAME, O_RDONLY | O_CLOEXEC, 0);
    sys_close(dfd);
    return fd;
}

/* The lock file of log_dir, opened once. */
static int lock_file(const char *log_dir, bool create)
{
    nv_mutex_lock(&dirs_lock);
    int fd = -ENOENT;
    for (int i = 0; i < ndirs; i++) {
        if (!strcmp(dirs[i].dir, log_dir)) {
            fd = dirs[i].fd;
            goto out;
        }
    }
    fd = kept_fd(open_lock_file(log_dir, create));
    if (fd >= 0 && ndirs < MAX_DIRS) {
        char *copy = strdup(log_dir);
        if (copy) {
            dirs[ndirs].dir = copy;
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

int nvowner_acquire(const char *log_dir, dev_t dev, ino_t ino, bool exclusive, struct nvowner *o)
{
    o->fd = -1;
    int fd = lock_file(log_dir, exclusive);
    if (fd < 0)
        return exclusive ? fd : 0;
    struct flock fl = {
        .l_type = exclusive ? F_WRLCK : F_RDLCK,
        .l_whence = SEEK_SET,
        .l_start = byte_of(dev, ino),
        .l_len = 1,
    };
    int rc = sys_fcntl(fd, F_OFD_SETLK, (long)&fl);
    if (rc == -EBADF && !exclusive) /* a read-only lock file cannot hold F_WRLCK */
        return 0;
    if (rc < 0)
        return rc == -EAGAIN || rc == -EACCES ? -EBUSY : rc;
    o->fd = fd;
    o->byte = fl.l_start;
    return 0;
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
    struct flock fl = {
        .l_type = F_UNLCK,
        .l_whence = SEEK_SET,
        .l_start = o->byte,
        .l_len = 1,
    };
    sys_fcntl(o->fd, F_OFD_SETLK, (long)&fl);
    o->fd = -1;
}
