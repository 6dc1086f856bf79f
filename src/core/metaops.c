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

void nvops_doom(int dirfd, const char *path, struct nvops_doomed *d)
{
    d->valid = false;
    if (nv_config()->nroots == 0)
        return;
    struct stat st;
    int fd = sys_openat(dirfd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0)
        return;
    char canon[PATH_MAX], log_dir[PATH_MAX];
    log_dir[0] = '\0';
    if (sys_fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
        canonical_path(fd, canon, sizeof(canon)) == 0)
        log_dir_of(canon, 0, log_dir, sizeof(log_dir));
    sys_close(fd);
    if (!log_dir[0])
        return;
    int n = snprintf(d->log_path, sizeof(d->log_path), "%s/%llx-%llx.log", log_dir,
                     (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    d->valid = n < (int)sizeof(d->log_path);
    d->dev = st.st_dev;
    d->ino = st.st_ino;
}

void nvops_forget_log(const struct nvops_doomed *d)
{
    off_t size;
    /* An open file keeps its log until its last close settles it. */
    if (!d->valid || nvtable_logical_size(d->dev, d->ino, &size))
        return;
    sys_unlinkat(AT_FDCWD, d->log_path, 0);
}
