/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * metaops.c - what the library adds to the metadata calls on a file it may
 * manage: the logical size in stat, times that stay as the program set
 * them, and the removal of a log whose file lost its last link.
 */
#include "core/ops.h"

#include <limits.h>
#include <stdio.h>
#include <sys/sysmacros.h>

#include "core/config.h"
#include "core/filetable.h"
#include "core/nvfile.h"
#include "core/ops_internal.h"
#include "core/recent.h"
#include "log/recovery.h"
#include "os/sys.h"

static void publish_locked(struct nvfile *f)
{
    nvfile_lock(f, NULL);
    nvfile_publish(f);
    nvfile_unlock(f);
}

bool nvops_fix_stat(dev_t dev, ino_t ino, off_t *size, blkcnt_t *blocks, bool may_publish)
{
    struct nvfile *f = nvtable_pin(dev, ino);
    if (!f)
        return false;
    nvfile_take_in(f);
    /* *size is the kernel's: another than this process left is a change
     * made without a lock (nvfile_take_in_size). */
    int held = nvfile_lock_shared(f);
    bool resized = (uint64_t)*size != f->real_size;
    nvfile_unlock_shared(f, held);
    if (resized)
        nvfile_take_in_size(f);
    bool again = may_publish && nvfile_stale(f);
    if (again) {
        publish_locked(f);
    } else {
        int held = nvfile_lock_shared(f);
        off_t logical = (off_t)f->size;
        nvfile_unlock_shared(f, held);
        *size = logical;
        /* Blocks the last publication could not give back yet: bytes cut
         * below the committed size wait for the next commit. */
        blkcnt_t most = (logical + 4095) / 4096 * 8;
        if (*blocks > most)
            *blocks = most;
    }
    nvfile_release(f);
    return again;
}

/* The program sets the file's times next: the log's watch stops vouching
 * for them until its next record. */
static void before_times(struct nvfile *f)
{
    nvfile_lock(f, NULL);
    nvfile_publish(f);
    nvlog_watch_suspend(&f->journal.log, false);
    nvfile_unlock(f);
}

void nvops_before_set_times(int fd, int dirfd, const char *path, int at_flags)
{
    if (fd >= 0) {
        struct nvofd *o = nvops_begin(fd);
        if (o) {
            before_times(o->file);
            nvops_end(o);
        }
        return;
    }
    struct statx stx;
    if (sys_statx(dirfd, path, at_flags & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH), STATX_INO, &stx) <
        0)
        return;
    struct nvfile *f = nvtable_pin(makedev(stx.stx_dev_major, stx.stx_dev_minor), stx.stx_ino);
    if (f) {
        before_times(f);
        nvfile_release(f);
    }
}

/* Each root's device, as 1 + the number (0: not looked up yet, since a
 * root may be made after the process starts), for the first
 * ROOTS_BY_DEVICE roots. */
#define ROOTS_BY_DEVICE 16
static uint64_t root_devices[ROOTS_BY_DEVICE];

static uint64_t root_device(const struct nv_config *c, size_t i)
{
    uint64_t d = __atomic_load_n(&root_devices[i], __ATOMIC_RELAXED);
    if (d)
        return d - 1;
    struct statx stx;
    if (sys_statx(AT_FDCWD, c->roots[i], 0, STATX_INO, &stx) < 0)
        return UINT64_MAX;
    d = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    __atomic_store_n(&root_devices[i], d + 1, __ATOMIC_RELAXED);
    return d;
}

/* The log directory for a file on device dev when exactly one root lies
 * on that device: no path needs reading then. A file of that device
 * outside the root can only have a log there under its inode's name if it
 * was moved out of the root, or if an earlier file had its number, and
 * either log goes with the file's last link. */
static bool log_dir_by_device(dev_t dev, char *out, size_t n)
{
    const struct nv_config *c = nv_config();
    if (c->nroots > ROOTS_BY_DEVICE)
        return false;
    size_t found = c->nroots;
    for (size_t i = 0; i < c->nroots; i++) {
        uint64_t d = root_device(c, i);
        if (d == UINT64_MAX)
            return false; /* a root not there yet might be on dev */
        if (d != dev)
            continue;
        if (found < c->nroots)
            return false;
        found = i;
    }
    return found < c->nroots && root_log_dir(c->roots[found], out, n) == 0;
}

void nvops_doom(int dirfd, const char *path, struct nvops_doomed *d)
{
    d->valid = d->last_link = false;
    if (nv_config()->nroots == 0)
        return;
    struct statx stx;
    if (sys_statx(dirfd, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_NLINK | STATX_INO, &stx) <
            0 ||
        !S_ISREG(stx.stx_mode) || stx.stx_nlink != 1)
        return;
    d->dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
    d->ino = stx.stx_ino;
    d->last_link = true;
    char log_dir[PATH_MAX];
    log_dir[0] = '\0';
    if (!log_dir_by_device(d->dev, log_dir, sizeof(log_dir))) {
        char canon[PATH_MAX];
        struct stat st;
        int fd = sys_openat(dirfd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
        if (fd < 0)
            return;
        /* The path is read from the file it names now, which must be the
         * one looked at. */
        if (sys_fstat(fd, &st) == 0 && st.st_dev == d->dev && st.st_ino == d->ino &&
            canonical_path(fd, canon, sizeof(canon)) == 0)
            log_dir_of(canon, 0, log_dir, sizeof(log_dir));
        sys_close(fd);
    }
    if (!log_dir[0])
        return;
    int n = snprintf(d->log_path, sizeof(d->log_path), "%s/%llx-%llx.log", log_dir,
                     (unsigned long long)d->dev, (unsigned long long)d->ino);
    d->valid = n < (int)sizeof(d->log_path);
}

void nvops_forget_log(const struct nvops_doomed *d)
{
    off_t size;
    /* A file closed a moment ago is let go, so its blocks come back now. */
    if (d->last_link) {
        nvfile_let_go(d->dev, d->ino);
        nvrecent_drop(d->dev, d->ino);
    }
    /* An open file keeps its log until its last close settles it. */
    if (!d->valid || nvtable_logical_size(d->dev, d->ino, &size))
        return;
    sys_unlinkat(AT_FDCWD, d->log_path, 0);
}
