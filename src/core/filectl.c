/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * filectl.c - the calls on a managed descriptor besides reads and writes:
 * lseek (SEEK_DATA and SEEK_HOLE too), fallocate, ftruncate, fsync,
 * sync_file_range, the program's own mapping of the file and F_SETFL.
 */
#include "core/ops.h"

#include <errno.h>
#include <linux/falloc.h>

#include "core/fdtable.h"
#include "core/filetable.h"
#include "core/nvfile.h"
#include "core/ops_internal.h"
#include "core/tx.h"
#include "os/sys.h"

static off_t seek_data_or_hole(struct nvfile *f, off_t off, int whence)
{
    nvfile_lock(f, NULL);
    off_t r;
    if ((uint64_t)off >= f->size) {
        r = -ENXIO;
    } else if (nvfile_checkpoint(f) < 0 || nvfile_publish(f) < 0) {
        r = -EIO;
    } else {
        r = (off_t)sys_lseek(f->fd, off, whence);
        if (whence == SEEK_HOLE && (r < 0 || (uint64_t)r > f->size))
            r = (off_t)f->size;
        if (whence == SEEK_DATA && (r < 0 || (uint64_t)r >= f->size))
            r = -ENXIO;
    }
    nvfile_unlock(f);
    return r;
}

off_t nvops_lseek(struct nvofd *o, off_t off, int whence)
{
    struct nvfile *f = o->file;
    off_t moved;
    if (whence == SEEK_CUR && nvofd_pos_move(o, off, &moved))
        return moved;
    nvofd_pos_lock(o);
    off_t base;
    switch (whence) {
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = (off_t)o->pos;
        break;
    case SEEK_END:
        /* The end as the kernel has it now, as fstat and a read that
         * reaches the end take it: another program may have moved it. */
        nvfile_take_in_size(f);
        int held = nvfile_lock_shared(f);
        base = (off_t)f->size;
        nvfile_unlock_shared(f, held);
        break;
    case SEEK_DATA:
    case SEEK_HOLE:
        base = seek_data_or_hole(f, off, whence);
        if (base >= 0)
            o->pos = (uint64_t)base;
        nvofd_pos_unlock(o);
        return base;
    default:
        nvofd_pos_unlock(o);
        return -EINVAL;
    }
    off_t r;
    if (__builtin_add_overflow(base, off, &r))
        r = -EINVAL;
    else if (r < 0)
        r = -EINVAL;
    else
        o->pos = (uint64_t)r;
    nvofd_pos_unlock(o);
    return r;
}

/* Lock held. The end of a call that changes the file's size or blocks,
 * whose result is rc: the file changed, and in sync mode that is a
 * durability point. Releases the lock. */
static int size_changed(struct nvofd *o, long rc)
{
    struct nvfile *f = o->file;
    rc = beyond_mapping(rc);
    if (rc == 0)
        nvfile_changed(f);
    if (rc == 0 && nvfile_sync_mode(o->flags))
        rc = nvfile_commit(f);
    nvfile_unlock(f);
    return (int)rc;
}

int nvops_fallocate(struct nvofd *o, int mode, off_t off, off_t len)
{
    /* The kernel's checks, in its order. */
    const int known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_NO_HIDE_STALE |
                      FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_INSERT_RANGE |
                      FALLOC_FL_UNSHARE_RANGE;
    if (off < 0 || len <= 0)
        return -EINVAL;
    if ((mode & ~known) ||
        (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) ==
            (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE) ||
        ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE)))
        return -EOPNOTSUPP;
    if (!can_write(o))
        return -EBADF;
    off_t end;
    if (__builtin_add_overflow(off, len, &end))
        return -EFBIG;
    struct nvfile *f = o->file;
    int joined = nvtx_join(f);
    if (joined < 0)
        return joined;
    nvfile_lock(f, NULL);
    nvstats_count(&f->stats, NVSTAT_FALLOCATE, (uint64_t)len);
    return size_changed(o, nvfile_allocate(f, mode, (uint64_t)off, (uint64_t)len));
}

int nvops_share_mapping(struct nvofd *o)
{
    struct nvfile *f = o->file;
    nvtable_lock();
    int rc = nvfile_note_mapped(f->dev, f->ino);
    nvtable_unlock();
    nvfile_lock(f, NULL);
    nvstats_count(&f->stats, NVSTAT_MMAP, 0);
    int shared = nvfile_share_mapping(f);
    nvfile_unlock(f);
    return rc ? rc : shared;
}

int nvops_fsync(struct nvofd *o)
{
    struct nvfile *f = o->file;
    nvfile_lock(f, NULL);
    nvstats_count(&f->stats, NVSTAT_FSYNC, 0);
    int rc = nvfile_expose(f, true);
    nvfile_unlock(f);
    return rc;
}

/* Writing back a range is making it durable: the whole epoch commits,
 * after the kernel's checks of the arguments. */
int nvops_sync_range(struct nvofd *o, off_t off, off_t n, unsigned flags)
{
    const unsigned known =
        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
    off_t end;
    if ((flags & ~known) || off < 0 || n < 0 || __builtin_add_overflow(off, n, &end))
        return -EINVAL;
    return nvops_fsync(o);
}

int nvops_ftruncate(struct nvofd *o, off_t len)
{
    if (len < 0 || !can_write(o))
        return -EINVAL;
    struct nvfile *f = o->file;
    int joined = nvtx_join(f);
    if (joined < 0)
        return joined;
    nvfile_lock(f, NULL);
    nvstats_count(&f->stats, NVSTAT_TRUNCATE, 0);
    return size_changed(o, nvfile_truncate(f, (uint64_t)len));
}

void nvops_setfl(struct nvofd *o, int flags)
{
    /* F_SETFL changes only these; the access mode stays. */
    const int settable = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;
    pthread_mutex_lock(&o->pos_lock); /* the flags, not the position */
    o->flags = (o->flags & ~settable) | (flags & settable);
    pthread_mutex_unlock(&o->pos_lock);
}
