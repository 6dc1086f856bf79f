/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvfile.c - the open-file object's life: finding or making it for a file,
 * its identity, recovering the file from its log at open, the log's
 * lifetime, locking, and freeing it at the last close (see nvfile.h).
 */
#include "core/nvfile.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../include/libnvmmio.h"
#include "core/config.h"
#include "core/debug.h"
#include "core/filetable.h"
#include "core/helper.h"
#include "core/nvfile_internal.h"
#include "core/owner.h"
#include "core/recordlocks.h"
#include "core/recent.h"
#include "core/tx.h"
#include "log/policy.h"
#include "log/recovery.h"
#include "os/critical.h"
#include "os/keptfds.h"
#include "os/sys.h"

bool nvfile_sync_mode(int open_flags)
{
    return nv_config()->sync || (open_flags & (O_SYNC | O_DSYNC));
}

/* ---- identity and ownership ------------------------------------------- */

static int read_identity(int fd, struct nvfile *f)
{
    int rc = nvlog_identity_read(fd, &f->id, &f->real_size);
    if (rc < 0)
        return rc;
    f->dev = (dev_t)f->id.dev;
    f->ino = (ino_t)f->id.ino;
    return 0;
}

void nvfile_log_name(char *buf, size_t n, dev_t dev, ino_t ino)
{
    snprintf(buf, n, "%llx-%llx.log", (unsigned long long)dev, (unsigned long long)ino);
}

/* Whether (dev, ino) has a log in log_dir; its owner into *uid. */
static bool log_of(const char *log_dir, dev_t dev, ino_t ino, uid_t *uid)
{
    char name[64], log_path[PATH_MAX];
    struct statx stx;
    nvfile_log_name(name, sizeof(name), dev, ino);
    snprintf(log_path, sizeof(log_path), "%s/%s", log_dir, name);
    if (sys_statx(AT_FDCWD, log_path, AT_SYMLINK_NOFOLLOW, STATX_UID, &stx) < 0)
        return false;
    *uid = stx.stx_uid;
    return true;
}

bool nvfile_has_log(const char *log_dir, dev_t dev, ino_t ino)
{
    return log_of(log_dir, dev, ino, &(uid_t){0});
}

static int said_refused(const struct nvfile *f, int dirfd, const char *why)
{
    if (dirfd == -EACCES && why)
        nv_warn("refusing the log directory %s: %s", f->log_dir, why);
    return dirfd;
}

/* The log directory of f, checked (see nvlog_dir_open); a refusal is
 * reported. */
static int open_log_dir(const struct nvfile *f, bool create)
{
    const char *why = NULL;
    return said_refused(f, nvlog_dir_open(f->log_dir, f->uid, create, &why), why);
}

/* open_log_dir kept open (see nvlog_dir_kept), for making and removing a
 * log; looking for one (recovery, attaching another process's log) goes by
 * path, so a directory replaced since is never missed. */
static int kept_log_dir(const struct nvfile *f, bool create)
{
    const char *why = NULL;
    return said_refused(f, nvlog_dir_kept(f->log_dir, f->uid, create, &why), why);
}

/* Whether a process that opened the file before it was given to another
 * owner (chown) serves it still, under the lock of the owner it had then:
 * the file's log or share block is another owner's, whose lock is held
 * (or cannot be asked). The kernel serves the file in this process then;
 * recovering the live log would roll that process's writes back, and
 * making the share block anew would clear the one it uses. */
static bool served_by_former_owner(const struct nvfile *f, bool has_log, uid_t log_uid)
{
    uid_t uid;
    pid_t holder;
    if (has_log && log_uid != f->uid &&
        nvowner_probe(f->log_dir, log_uid, f->dev, f->ino, &holder) != 0)
        return true;
    return nvshare_block_owner(f, &uid) && uid != f->uid &&
           nvowner_probe(f->log_dir, uid, f->dev, f->ino, &holder) != 0;
}

/* Recovers the file from its log (owned by log_uid), if it has one: 1
 * when that changed the file, 0 when there was nothing to do, or a
 * negative errno. */
static int recover(struct nvfile *f, const char *path, bool has_log, uid_t log_uid)
{
    if (!has_log)
        return 0;
    /* Neither the owner's nor root's (nor live: served_by_former_owner):
     * made by another user before the file had a log (anyone may make a
     * name in a log directory shared like /tmp), or its former owner's,
     * left by a crash before the file was given away. Never applied, and
     * no reason to lock the owner out of the file: the kernel serves it in
     * this process. */
    if (log_uid != f->uid && log_uid != 0) {
        nv_warn("refusing the log %s/%s of %s: it is not owned by the data file's owner; "
                "nothing applied, the kernel serves the file",
                f->log_dir, f->log_name, path);
        return NVFILE_FOREIGN_LOG;
    }
    int dirfd = open_log_dir(f, false);
    if (dirfd == -ENOENT)
        return 0;
    if (dirfd < 0)
        return dirfd;
    struct nvlog_recovery r;
    int rc = nvlog_recover(dirfd, f->log_name, f->fd, &f->id, f->uid, &r);
    sys_close(dirfd);
    if ((rc == -EBADMSG || rc == -EACCES) && r.why) {
        if (r.bad_offset)
            nv_warn("refusing the log %s/%s of %s: %s (record at log offset %llu); nothing "
                    "applied, the file is left as it is",
                    f->log_dir, f->log_name, path, r.why, (unsigned long long)r.bad_offset);
        else
            nv_warn("refusing the log %s/%s of %s: %s; nothing applied, the file is left as "
                    "it is",
                    f->log_dir, f->log_name, path, r.why);
        return rc == -EBADMSG ? -EIO : rc;
    }
    if (r.changed && rc == 0) {
        nv_warn("%s changed behind its log's back (%s): the log is kept aside as %s/%s; "
                "nothing applied, the file is left as it is",
                path, r.why ? r.why : "", f->log_dir, r.aside);
        return 0;
    }
    if (rc < 0)
        return rc;
    if (r.stale)
        nv_debug("%s: removed a stale log left by an earlier file with inode %lu", path,
                 (unsigned long)f->ino);
    else if (r.emptied)
        nv_debug("%s: removed a log with nothing to apply (the file changed since)", path);
    else if (r.had_log)
        nv_debug("%s: recovered to %llu bytes (%llu blocks rolled back, %llu replayed)", path,
                 (unsigned long long)r.size, (unsigned long long)r.undone,
                 (unsigned long long)r.redone);
    return r.had_log && !r.stale && !r.emptied;
}

static const char *persist_name(int kind)
{
    return kind == PM_KIND_MAP_SYNC ? "DAX with MAP_SYNC"
           : kind == PM_KIND_FORCED ? "forced pmem (PMEM_IS_PMEM_FORCE)"
                                    : "shared mapping with msync";
}

/* The library's own descriptor of the file open as kfd: read-write when the
 * caller may write, whatever mode the program asked for. Reopened through
 * /proc so it is the same inode even if the name changed; by path where
 * /proc is not mounted. */
static int reopen(int kfd, const char *path, int mode)
{
    int fd = sys_reopen(kfd, mode);
    if (fd == -ENOENT)
        fd = sys_openat(AT_FDCWD, path, mode | O_CLOEXEC, 0);
    return fd;
}

/* ---- files the program has mapped -------------------------------------- */

/* A program's mapping outlives the descriptors it was made through: a file
 * mapped, closed and opened again may still be mapped. The inodes this
 * process has mapped are kept here (under the table lock) for as long as
 * it lives, since unmapping is not followed; an object made for one of
 * them starts as mapped. */
struct mapped_inode {
    dev_t dev;
    ino_t ino;
};
static struct mapped_inode *mapped_inodes;
static size_t mapped_count, mapped_cap;

static bool was_mapped(dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < mapped_count; i++)
        if (mapped_inodes[i].dev == dev && mapped_inodes[i].ino == ino)
            return true;
    return false;
}

int nvfile_note_mapped(dev_t dev, ino_t ino)
{
    if (was_mapped(dev, ino))
        return 0;
    if (mapped_count == mapped_cap) {
        size_t cap = mapped_cap ? 2 * mapped_cap : 8;
        struct mapped_inode *n = realloc(mapped_inodes, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        mapped_inodes = n;
        mapped_cap = cap;
    }
    mapped_inodes[mapped_count++] = (struct mapped_inode){dev, ino};
    return 0;
}

/* The first process's share block, made; then others may join. Without a
 * share block the first serves the file alone. */
static void make_share_block(struct nvfile *f)
{
    int rc = nvshare_open(f, true);
    if (rc < 0)
        nv_debug("no share block (error %d): other processes use the kernel", -rc);
    nvowner_share(&f->owner);
}

void nvfile_share_now(struct nvfile *f)
{
    nvfile_lock(f, NULL);
    if (f->share_lazy) {
        f->share_lazy = false;
        make_share_block(f);
    }
    nvfile_unlock(f);
}

/* The first process makes the share block and lets others in; another
 * joins the processes that serve the file, or (-EBUSY) leaves the file to
 * the kernel in this process. A block costs a short-lived file more than
 * the rest of its life, and most files never have a second process: the
 * first puts it off, and the helper thread makes it a moment later
 * (nvhelper_share_later), while a process that opens the file meanwhile
 * waits for it. */
static int share(struct nvfile *f, bool first)
{
    if (first) {
        /* Set before the helper thread has the file (it clears it under
         * the file's lock, which this open does not hold), and not looked
         * at after. */
        f->share_lazy = f->owner.fd >= 0;
        if (f->share_lazy && nvhelper_share_later(f))
            return 0;
        f->share_lazy = false; /* the helper thread does not have it */
        make_share_block(f);
        return 0;
    }
    int rc = nvshare_open(f, false);
    if (rc == 0)
        rc = nvshare_join(f);
    if (rc < 0) {
        nvshare_close(f, false);
        return -EBUSY;
    }
    return 0;
}

/* The file's own descriptor by its canonical path, read-write, when that
 * still leads to the file open as kfd (st): a walk costs less than opening
 * kfd's link in /proc. Its identity is read into f. */
static int open_by_path(struct nvfile *f, const struct stat *st, const char *path)
{
    if (path[0] != '/')
        return -ENOENT;
    int fd = sys_openat(AT_FDCWD, path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0);
    if (fd >= 0 && (read_identity(fd, f) < 0 || f->dev != st->st_dev || f->ino != st->st_ino)) {
        sys_close(fd);
        return -ESTALE; /* renamed or removed since */
    }
    return fd;
}

/* The library's descriptor of the file open as kfd (st), its identity read
 * into f: read-write when the process may write, else read-only. */
static int open_own(struct nvfile *f, int kfd, const struct stat *st, const char *path)
{
    int fd = open_by_path(f, st, path);
    bool identified = fd >= 0;
    if (fd < 0)
        fd = reopen(kfd, path, O_RDWR);
    f->writable = fd >= 0;
    if (fd < 0)
        fd = reopen(kfd, path, O_RDONLY);
    if (fd < 0)
        return fd;
    f->fd = kept_fd(fd);
    return identified ? 0 : read_identity(f->fd, f);
}

/* A mapping covering the file: the one a close of the file a moment ago
 * left (recent.h, writable mappings only), or a new one. */
static int map_file(struct nvfile *f, const struct stat *st)
{
    size_t reserve = nvfile_reserve_for(f->real_size);
    unsigned reopens;
    if (!f->writable || !nvrecent_take(st, &f->map, &reopens))
        return pm_map_file(f->fd, f->writable, reserve, &f->map);
    f->reopens = reopens + 1;
    pm_map_resume(f->fd, &f->map);
    return reserve > f->map.reserved ? pm_map_grow(f->fd, reserve, &f->map) : 0;
}

static int setup(struct nvfile *f, int kfd, const struct stat *st, const char *path, bool created)
{
    int rc = open_own(f, kfd, st, path);
    if (rc == 0 && (f->dev != st->st_dev || f->ino != st->st_ino))
        rc = -ESTALE;
    f->uid = st->st_uid;
    f->gid = st->st_gid;
    f->mode = st->st_mode;
    bool first = false;
    if (rc == 0)
        rc = nvowner_serve(f->log_dir, f->uid, f->dev, f->ino, f->writable, &f->owner, &first);
    if (rc < 0)
        return rc;
    if (f->owner.fd < 0)
        first = true; /* no lock file, and this process may not make one */
    /* Most files have no log: one look settles that, for both uses. */
    uid_t log_uid = 0;
    bool has_log = first && !created && log_of(f->log_dir, f->dev, f->ino, &log_uid);
    if (first && !created && served_by_former_owner(f, has_log, log_uid))
        return -EBUSY;
    /* The size was read before the ownership lock: a process that served
     * the file while this one waited for the lock (and then closed it)
     * may have changed it since. */
    long end = first ? sys_lseek(f->fd, 0, SEEK_END) : -1;
    if (end >= 0)
        f->real_size = (uint64_t)end;
    nvfile_log_name(f->log_name, sizeof(f->log_name), f->dev, f->ino);
    if (!first || created) {
        /* Another process serves the file: its log is live. Or the open
         * made the file: a log of its inode number is an earlier file's,
         * which its own log replaces at the first write. */
    } else if (f->writable) {
        rc = recover(f, path, has_log, log_uid);
        if (rc > 0) /* the file changed */
            rc = read_identity(f->fd, f);
        if (rc < 0)
            return rc;
    } else if (has_log) {
        nv_warn("%s needs recovery but this process may not write it", path);
        return -EACCES;
    }
    f->size = f->committed_size = f->real_size;
    f->zero_from = f->real_size;
    f->kill_privs = st->st_mode & (S_ISUID | S_ISGID);
    if (was_mapped(f->dev, f->ino)) {
        f->mapped_by_program = true;
        f->journal.policy = NVLOG_UNDO;
    }
    rc = map_file(f, st);
    if (rc < 0)
        return rc;
    long hole = f->real_size ? sys_lseek(f->fd, 0, SEEK_HOLE) : 0;
    if (hole > 0)
        rc = nvstorage_found(f, (uint64_t)hole);
    if (rc < 0)
        return rc;
    nvstats_init(&f->stats, path);
    rc = share(f, first);
    if (rc < 0)
        return rc;
    nv_debug("%s: managed, %llu bytes, %s", path, (unsigned long long)f->size,
             persist_name(f->map.kind));
    return 0;
}

/* Frees the object and everything it holds but the ownership lock. */
static void destroy(struct nvfile *f)
{
    nvstats_retire(&f->stats);
    nvshare_close(f, false);
    nvpark_forget(f);
    nvlock_destroy(&f->lock);
    /* A forked child abandons the files its fork handlers hold locked. */
    nv_mapfault_disarm(&f->mapfault);
    nvjournal_destroy(&f->journal);
    pm_unmap(&f->map);
    if (__atomic_load_n(&f->record_locks, __ATOMIC_ACQUIRE))
        nvrlocks_close_later(f->fd, f->dev, f->ino, true);
    else
        kept_close(f->fd);
    nvstorage_destroy(&f->store);
    free(f->log_dir);
    free(f);
}

/* Lock takes of the process so far (see nvfile_all_unchecked). */
static uint64_t lock_takes = 1;

static struct nvfile *create_object(int kfd, const struct stat *st, const char *path,
                                    const char *log_dir, bool created, int *err)
{
    struct nvfile *f = calloc(1, sizeof(*f));
    if (!f) {
        *err = -ENOMEM;
        return NULL;
    }
    /* Its state is read from the kernel's file now. */
    f->taken_in = __atomic_load_n(&lock_takes, __ATOMIC_ACQUIRE);
    f->fd = f->park_hint = -1;
    f->owner.fd = -1;
    f->log_dir = strdup(log_dir);
    nvjournal_init(&f->journal, nv_config()->policy == NVPOLICY_REDO ? NVLOG_REDO : NVLOG_UNDO);
    nvlock_init(&f->lock);
    nv_mapfault_area_init(&f->mapfault, &f->map.base, &f->map.reserved, &f->fd);
    nvstorage_init(&f->store, st->st_blksize);
    int rc = f->log_dir ? setup(f, kfd, st, path, created) : -ENOMEM;
    if (rc < 0) {
        nvowner_release(&f->owner);
        destroy(f);
        *err = rc;
        return NULL;
    }
    return f;
}

static bool unlinger(struct nvfile *f);
static int let_go(struct nvfile *f, int rc);

/* ---- objects being freed ------------------------------------------------ */

/* Objects out of the table whose freeing is under way, under the table
 * lock. Until such an object has given up its file's ownership and put
 * its log away, no new object of the same file may be made: it would take
 * the ownership this process still holds (the lock file is one open
 * description, whose locks never conflict among themselves) and recover
 * the log being put away. An open of the file waits meanwhile. */
static struct nvfile *going;

/* Table lock held: takes f out of the table, onto the going list. The
 * thread is inside a critical section (os/critical.h) until f is gone: a
 * handler of the program's that opened the file on this thread meanwhile
 * would wait for itself. */
static void take_out(struct nvfile *f)
{
    nvtable_remove(f);
    f->going_next = going;
    going = f;
    nv_critical_enter();
}

/* Table lock held. */
static bool going_has(dev_t dev, ino_t ino)
{
    for (struct nvfile *g = going; g; g = g->going_next)
        if (g->dev == dev && g->ino == ino)
            return true;
    return false;
}

/* f gave its file up: the opens that wait for it go on. */
static void gone(struct nvfile *f)
{
    nvtable_lock();
    for (struct nvfile **p = &going; *p; p = &(*p)->going_next)
        if (*p == f) {
            *p = f->going_next;
            break;
        }
    nvtable_wake();
    nvtable_unlock();
    nv_critical_leave();
}

void nvfile_forget_going(void)
{
    going = NULL;
}

struct nvfile *nvfile_acquire(int kfd, const struct stat *st, const char *path, const char *log_dir,
                              bool created, int *err)
{
    nvtable_lock();
    struct nvfile *f;
    for (;;) {
        f = nvtable_find(st->st_dev, st->st_ino);
        if (!f && going_has(st->st_dev, st->st_ino)) {
            nvtable_wait();
            continue;
        }
        /* A file given to another owner or mode since it began to linger
         * is let go and opened afresh, as an open would find it (its
         * ownership lock is its owner's, recent.h). */
        if (f && f->lingering && f->users == 0 &&
            (f->uid != st->st_uid || f->gid != st->st_gid || f->mode != st->st_mode)) {
            unlinger(f);
            take_out(f);
            nvtable_unlock();
            let_go(f, 0);
            nvtable_lock();
            continue;
        }
        break;
    }
    bool lingered = f && unlinger(f);
    if (!f) {
        f = create_object(kfd, st, path, log_dir, created, err);
        if (f)
            nvtable_insert(f);
    }
    /* An open takes in what others changed through the kernel: a file
     * opened before (lingering since, too), or one whose state comes from
     * the process that serves it, which may have seen the kernel's file
     * last before that. */
    bool take_in = f && (f->users > 0 || f->share.shared || lingered);
    if (f)
        f->users++;
    nvtable_unlock();
    if (take_in) {
        nvfile_lock(f, NULL);
        int rc = nvfile_revalidate(f);
        nvfile_unlock(f);
        if (rc < 0) {
            nvfile_release(f);
            *err = rc;
            return NULL;
        }
    }
    return f;
}

/* A file this small has its pages mapped in for reading while its mtime
 * is watched (nvstorage_map_in), so no store of the library's faults one
 * in for writing, which would move the mtime; a larger file, or one the
 * program maps itself or another process serves too, is watched for its
 * size only. */
#define WATCH_MAPPED_LIMIT ((uint64_t)64 << 20)

static bool watch_mapped(const struct nvfile *f)
{
    return !f->mapped_by_program && !f->share.shared && f->real_size <= WATCH_MAPPED_LIMIT;
}

int nvfile_watch(struct nvfile *f)
{
    /* A suspended watch applies the log as it is, which a settled file
     * needs; a recorded one would cost a look at the file for nothing. */
    if (f->log_going) {
        nvlog_watch_suspend(&f->journal.log, false);
        return 0;
    }
    /* Pages the helper thread has yet to map in for the next appends
     * would move the mtime when it does: the size only, until it is done. */
    enum nvlog_mtime mtime = !watch_mapped(f)             ? NVLOG_MTIME_NEVER
                             : nvstorage_ahead_settled(f) ? NVLOG_MTIME_STEADY
                                                          : NVLOG_MTIME_NOT_YET;
    int rc = nvlog_watch_record(&f->journal.log, f->fd, mtime, &f->real_size);
    /* Nothing stores meanwhile (the write lock): mapping pages in for
     * reading does not move the mtime. */
    if (rc > 0)
        nvstorage_map_in(f);
    return rc;
}

int nvfile_ensure_log(struct nvfile *f)
{
    if (nvlog_exists(&f->journal.log))
        return 0;
    int rc = -ENOENT;
    /* A second try by path when the directory was removed since it was kept. */
    for (int tries = 0; rc == -ENOENT && tries < 2; tries++) {
        if (tries > 0)
            nvlog_dir_forget(f->log_dir);
        int dirfd = kept_log_dir(f, true);
        rc = dirfd < 0 ? dirfd
                       : nvjournal_create(&f->journal, dirfd, f->log_name, &f->id, f->uid,
                                          f->committed_size);
    }
    if (rc == 0) {
        nvfile_watch(f);
        nvshare_new_log(f);
    }
    return rc;
}

int nvfile_attach_log(struct nvfile *f)
{
    int dirfd = open_log_dir(f, false);
    if (dirfd < 0)
        return dirfd;
    const char *why = NULL;
    int rc = nvlog_attach(&f->journal.log, dirfd, f->log_name, f->uid, &why);
    sys_close(dirfd);
    if (rc < 0 && why)
        nv_warn("refusing the log %s/%s: %s", f->log_dir, f->log_name, why);
    return rc;
}

/* The log of a settled file that the process may no longer remove: it
 * made the log as root and gave root up since, and the log directory is
 * sticky. The log stays with no record and the file's size watched, so a
 * recovery (the owner's next open) applies nothing and removes it, even
 * after others have changed the file (see nvlog_recover). */
static int leave_log(struct nvfile *f)
{
    struct nvlog *log = &f->journal.log;
    uint64_t epoch = log->state.committed_epoch;
    int rc = nvlog_commit(log, epoch, epoch, f->committed_size, true);
    if (rc == 0)
        rc = nvlog_watch_record(log, f->fd, NVLOG_MTIME_NEVER, &f->real_size);
    nvlog_close(log);
    nv_debug("%s/%s: left for the file's owner to remove (%s)", f->log_dir, f->log_name,
             rc < 0 ? strerror(-rc) : "no record");
    return rc < 0 ? rc : 0;
}

int nvfile_remove_log(struct nvfile *f)
{
    if (!nvlog_exists(&f->journal.log))
        return 0;
    int dirfd = kept_log_dir(f, false);
    if (dirfd < 0) {
        nvlog_close(&f->journal.log);
        return dirfd;
    }
    int rc = nvlog_remove(&f->journal.log, dirfd, f->log_name);
    return rc == -EPERM || rc == -EACCES ? leave_log(f) : rc;
}

void nvfile_pin(struct nvfile *f)
{
    nvtable_lock();
    f->users++;
    nvtable_unlock();
}

/* Write lock held: takes in what other programs changed (a file they cut
 * short is not written past its new end), then exposes the file. */
static int take_in_and_expose(struct nvfile *f)
{
    int rc = nvfile_revalidate(f);
    return rc < 0 ? rc : nvfile_expose(f, false);
}

static int settle_locked(struct nvfile *f, bool alone)
{
    nvfile_lock(f, NULL);
    int rc = alone ? nvfile_settle(f) : take_in_and_expose(f);
    nvfile_unlock(f);
    /* The commit may have queued a checkpoint for the helper again. */
    nvhelper_forget(f);
    return rc;
}

/* f was exposed at its close, other processes serving it too. When they
 * closed it at the same moment, each found the others there: the last of
 * them to look again tidies what the last one out does (the log settled
 * and removed, the block removed). A process may have opened the file and
 * gone again meanwhile: as the first to serve it, it recovered the log
 * and may have made the block anew, perhaps dying half way. This process
 * settles through them only when both are still the ones it knows.
 * Returns the settle's error, if any. */
static int last_out(struct nvfile *f)
{
    /* Its slot while the block is surely the one it joined. */
    nvshare_leave_slot(f);
    if (!nvowner_last_out(&f->owner))
        return 0;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", f->log_dir, f->log_name);
    bool ours = nvshare_still_ours(f) &&
                (!nvlog_exists(&f->journal.log) || nvlog_is_at(&f->journal.log, path));
    int rc = 0;
    if (ours && f->writable)
        rc = settle_locked(f, true);
    else
        nvlog_close(&f->journal.log);
    nvshare_remove(f);
    return rc;
}

/* Frees f, which has no user left and is out of the table: settles it when
 * this process serves it alone, else exposes it (rc: an error of the close
 * so far, returned as the result). */
static int let_go(struct nvfile *f, int rc)
{
    nvpark_forget(f);
    nvhelper_forget(f);
    bool alone = f->owner.fd < 0 || nvowner_alone(&f->owner);
    if (f->writable) {
        int settled = settle_locked(f, alone);
        rc = rc < 0 ? rc : settled;
    }
    if (!alone && f->share.block) {
        int settled = last_out(f);
        rc = rc < 0 ? rc : settled;
    }
    nvshare_close(f, alone);
    nvowner_release(&f->owner);
    gone(f);
    /* Settled: its mapping may serve the next open. */
    if (rc == 0 && f->writable && f->fd >= 0 && f->map.base &&
        nvrecent_keep(f->fd, &f->map, f->share.shared ? 0 : f->reopens))
        f->map = (struct pm_map){0};
    destroy(f);
    return rc;
}

/* ---- lingering (see nvfile.h) ------------------------------------------- */

#define LINGER_MAX 4
/* Quick reopens in a row before a file lingers: SQLite's journal is opened
 * twice a transaction, a file opened once more to be read back only once. */
#define LINGER_AFTER_REOPENS 2

/* Oldest first, under the table lock; f->lingering says f is here. */
static struct nvfile *lingering[LINGER_MAX];
static int nlingering;
static bool linger_never; /* the process ends: nothing lingers any more */

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Table lock held. Takes the lingering file i off the list. */
static struct nvfile *unlinger_at(int i)
{
    struct nvfile *f = lingering[i];
    memmove(&lingering[i], &lingering[i + 1], (size_t)(nlingering - i - 1) * sizeof(*lingering));
    nlingering--;
    f->lingering = false;
    return f;
}

/* Table lock held. Takes f off the list; false when it was not there. */
static bool unlinger(struct nvfile *f)
{
    for (int i = 0; f->lingering && i < nlingering; i++)
        if (lingering[i] == f) {
            unlinger_at(i);
            return true;
        }
    return false;
}

/* Table lock held. Takes the lingering files that `pick` chooses, and
 * that nobody pinned meanwhile (nvtable_pin), off the list and out of the
 * table, into out. */
static int take_lingering(bool (*pick)(const struct nvfile *f, const void *arg), const void *arg,
                          struct nvfile **out)
{
    int n = 0;
    for (int i = 0; i < nlingering;) {
        struct nvfile *f = lingering[i];
        if (f->users == 0 && pick(f, arg)) {
            unlinger_at(i);
            take_out(f);
            out[n++] = f;
        } else {
            i++;
        }
    }
    return n;
}

static int let_go_each(struct nvfile **files, int n)
{
    for (int i = 0; i < n; i++)
        let_go(files[i], 0);
    return n;
}

static bool aged(const struct nvfile *f, const void *now)
{
    return *(const uint64_t *)now - f->lingering_since >= (uint64_t)NVFILE_LINGER_NS;
}

bool nvfile_linger_expire(void)
{
    struct nvfile *old[LINGER_MAX];
    uint64_t now = now_ns();
    nvtable_lock();
    int n = take_lingering(aged, &now, old);
    bool left = nlingering > 0;
    nvtable_unlock();
    let_go_each(old, n);
    return left;
}

static bool any(const struct nvfile *f, const void *arg)
{
    (void)f;
    (void)arg;
    return true;
}

int nvfile_let_go_all(bool for_good)
{
    struct nvfile *all[LINGER_MAX];
    nvtable_lock();
    if (for_good)
        __atomic_store_n(&linger_never, true, __ATOMIC_RELAXED);
    int n = take_lingering(any, NULL, all);
    nvtable_unlock();
    return let_go_each(all, n);
}

struct file_id {
    dev_t dev;
    ino_t ino;
};

static bool same_file(const struct nvfile *f, const void *arg)
{
    const struct file_id *id = arg;
    return f->dev == id->dev && f->ino == id->ino;
}

void nvfile_let_go(dev_t dev, ino_t ino)
{
    struct nvfile *one[LINGER_MAX];
    struct file_id id = {dev, ino};
    nvtable_lock();
    int n = take_lingering(same_file, &id, one);
    nvtable_unlock();
    let_go_each(one, n);
}

/* Whether no other process serves f: once its share block is made, the
 * block says so with no call (the ownership lock is shared by then, and
 * asking it would take it exclusively and give it back, two calls at every
 * close of a file that lingers). */
static bool served_alone(struct nvfile *f)
{
    return f->share.block ? !nvshare_ever_joined(f) : nvowner_alone(&f->owner);
}

/* Write lock held, f's last user going: whether f may linger.
 * - Only a file this process opened again a moment after closing it, twice
 *   in a row (its mapping came from recent.h), and served alone then: a
 *   file made, written and closed once or twice would pay for lingering
 *   and gain little, and one that others open too would have them join it
 *   at every turn.
 * - Only one this process writes and serves alone now, not handed to the
 *   kernel, with no record lock or transaction, and with the helper
 *   thread there to let it go.
 * - Not an executable: its descriptor open for writing would make every
 *   exec of it fail with ETXTBSY (as recent.c's mappings would); not a
 *   file with no link left, whose blocks it would hold. */
static bool may_linger(struct nvfile *f)
{
    struct stat st;
    return f->reopens >= LINGER_AFTER_REOPENS && f->writable && f->owner.fd >= 0 &&
           !f->share.shared && !__atomic_load_n(&f->to_kernel, __ATOMIC_ACQUIRE) &&
           !__atomic_load_n(&f->record_locks, __ATOMIC_ACQUIRE) && !nvtx_holds(f) && f->fd >= 0 &&
           !__atomic_load_n(&linger_never, __ATOMIC_RELAXED) && nvhelper_available() &&
           sys_fstat(f->fd, &st) == 0 && st.st_nlink > 0 &&
           !(st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) && served_alone(f);
}

/* Table lock held, f's last user going (f->users is 1): exposes f and keeps
 * it lingering, dropping the lock meanwhile. True when it lingers (the
 * table lock dropped, *rc the result of the close), false when f goes as
 * usual (the lock held again, *rc an error to report). */
static bool linger(struct nvfile *f, int *rc)
{
    nvtable_unlock();
    nvfile_lock(f, NULL);
    bool keep = may_linger(f);
    *rc = keep ? take_in_and_expose(f) : 0;
    /* Another process that opens the file meanwhile joins at once, not
     * wait for the ownership lock: one this process holds exclusively with
     * the share block made (a settle asked whether it was alone) is shared
     * again; a file whose block the helper thread has yet to make has it
     * shared then, as an open one. */
    if (keep && *rc == 0 && f->share.block && f->owner.exclusive)
        nvowner_share(&f->owner);
    nvfile_unlock(f);
    nvtable_lock();
    if (!keep || *rc < 0 || f->users > 1)
        return false;
    f->users = 0;
    struct nvfile *oldest = NULL;
    if (nlingering == LINGER_MAX) {
        oldest = unlinger_at(0);
        take_out(oldest);
    }
    /* The helper thread comes back while some linger (expire_aged): it is
     * told only when the first one begins. */
    bool first = nlingering == 0;
    f->lingering = true;
    f->lingering_since = now_ns();
    lingering[nlingering++] = f;
    nvtable_unlock();
    /* Not parked meanwhile: it has no descriptor of the program's to be
     * opened again through. */
    nvpark_idle(f);
    if (oldest)
        let_go(oldest, 0);
    if (first)
        nvhelper_expire_later(NVFILE_LINGER_NS);
    return true;
}

/* Drops a user; one that closes a descriptor first exposes the file unless
 * it is the last user, whose settling exposes it anyway, or who lets the
 * file linger. */
static int release(struct nvfile *f, bool closing)
{
    int rc = 0;
    nvtable_lock();
    if (closing && f->users > 1 && f->writable) {
        /* Still a user while it exposes: the object stays. */
        nvtable_unlock();
        nvfile_lock(f, NULL);
        rc = take_in_and_expose(f);
        nvfile_unlock(f);
        nvtable_lock();
    } else if (f->users == 1 && !f->lingering && linger(f, &rc)) {
        return rc;
    }
    if (--f->users > 0 || f->lingering) {
        /* A lingering file that was pinned (nvtable_pin) lingers on. */
        nvtable_unlock();
        return rc;
    }
    take_out(f);
    nvtable_unlock();
    return let_go(f, rc);
}

int nvfile_release(struct nvfile *f)
{
    return release(f, false);
}

int nvfile_close(struct nvfile *f)
{
    return release(f, true);
}

void nvfile_abandon(struct nvfile *f)
{
    /* A file that began to linger in another thread while the fork was
     * prepared: the child's list must not keep it (table lock held). */
    unlinger(f);
    /* The fork's prepare handler took the lock (nvops_before_fork), in
     * this very thread: a lock is never destroyed held. */
    nvlock_unlock_exclusive(&f->lock);
    /* The parent's record locks are not the child's to keep. */
    f->record_locks = false;
    destroy(f);
}

/* ---- locking ------------------------------------------------------------ */

/* In-place writes made since the last exclusive hold are the running
 * epoch's. */
static void take_inplace_writes(struct nvfile *f, uint64_t writes)
{
    if (writes) {
        f->dirty = true;
        f->writes += writes;
    }
}

void nvfile_lock(struct nvfile *f, bool *contended)
{
    take_inplace_writes(f, nvlock_exclusive(&f->lock, contended));
    nvpark_fd(f);
    nv_mapfault_arm(&f->mapfault);
    f->share_lane = nvshare_enter(f);
}

bool nvfile_trylock(struct nvfile *f)
{
    uint64_t writes;
    if (!nvlock_try_exclusive(&f->lock, &writes))
        return false;
    take_inplace_writes(f, writes);
    nvpark_fd(f);
    nv_mapfault_arm(&f->mapfault);
    f->share_lane = nvshare_enter(f);
    return true;
}

void nvfile_unlock(struct nvfile *f)
{
    /* A copy went on past a cut by another program (os/mapfault.h). */
    if (nv_mapfault_cut_seen(&f->mapfault)) {
        int rc = nvfile_revalidate(f);
        if (rc < 0)
            nv_debug("taking in a cut by another program: error %d", -rc);
    }
    nv_mapfault_disarm(&f->mapfault);
    nvshare_leave(f, f->share_lane, true);
    nvlock_unlock_exclusive(&f->lock);
}

int nvfile_lock_shared(struct nvfile *f)
{
    nvlock_shared(&f->lock);
    return nvshare_enter_read(f);
}

void nvfile_unlock_shared(struct nvfile *f, int held)
{
    nvshare_leave(f, held, false);
    nvlock_unlock_shared(&f->lock);
}

void nvfile_all_unchecked(void)
{
    __atomic_add_fetch(&lock_takes, 1, __ATOMIC_ACQ_REL);
}

int nvfile_take_in(struct nvfile *f)
{
    uint64_t now = __atomic_load_n(&lock_takes, __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&f->taken_in, __ATOMIC_ACQUIRE) == now)
        return 0;
    nvfile_lock(f, NULL);
    int rc = nvfile_revalidate(f);
    nvfile_unlock(f);
    return rc;
}

/* Another program cut the file shorter, and a copy of this process's
 * went past the cut (os/mapfault.h), a change's or the checkpoint's just
 * made: the file came back to the end of that copy's page. Changes of
 * this process not yet published stay, as a write-back cache's would, and
 * nothing else the cut took comes back: the file ends at the cut or at the
 * furthest of those changes. *end: the size the kernel reported. */
static int keep_unpublished(struct nvfile *f, long *end)
{
    uint64_t cut = nv_mapfault_take_cut(&f->mapfault);
    if (cut == NV_MAPFAULT_NO_CUT)
        return 0;
    uint64_t keep = cut < (uint64_t)*end ? cut : (uint64_t)*end;
    uint64_t changed = __atomic_load_n(&f->unpublished_end, __ATOMIC_RELAXED);
    if (changed > keep)
        keep = changed;
    int rc = sys_ftruncate(f->fd, (off_t)keep);
    if (rc == 0)
        *end = (long)keep;
    return rc;
}

static int revalidate(struct nvfile *f)
{
    /* The size alone: lseek costs less than a stat (no path, no copy out).
     * The library's own descriptor has no offset anyone reads. */
    long end = sys_lseek(f->fd, 0, SEEK_END);
    int rc = end < 0 ? (int)end : 0;
    /* Another program may have written any byte inside the file, where a
     * regrowth left bytes known to be zero: none of them is any more. Past
     * the logical size the kernel shows a tail this process added since it
     * last published the file (every durability point, close and lock
     * release trims it): a program that takes the same locks, or opens the
     * file after a close, cannot have written there. */
    if (rc == 0 && f->zero_from < f->size)
        f->zero_from = f->real_size;
    if (rc < 0 || ((uint64_t)end == f->real_size && !nv_mapfault_cut_seen(&f->mapfault)))
        return rc;
    /* This process's changes were made before the lock was taken, so
     * before the ones found now: they are home first. */
    if (f->writable) {
        uint64_t left = f->real_size;
        rc = nvfile_commit(f);
        if (rc == 0)
            rc = nvfile_checkpoint(f);
        if (rc == 0)
            rc = keep_unpublished(f, &end);
        /* Another program grew the file past the end this process left
         * the kernel. Up to that end, past this process's size, lie bytes
         * of its own: a cut kept for a crash until its next durability
         * point, or room reserved ahead (nothing another program wrote:
         * see above). The growth leaves them a gap, which reads as zero,
         * as after the kernel's own cut; the cut bytes never come back.
         * An append with O_APPEND in between lands at that end, where
         * the kernel would have put it at the cut. */
        if (rc == 0 && (uint64_t)end > left)
            rc = nvfile_zero_gap(f, left);
        if (rc < 0)
            return rc;
    }
    rc = nvstorage_resized_outside(f, (uint64_t)end);
    if (rc < 0)
        return rc;
    f->size = f->zero_from = (uint64_t)end;
    /* A crash must bring back the size found, not the one the log has. */
    if (nvlog_exists(&f->journal.log)) {
        f->dirty = true;
        return nvfile_commit(f);
    }
    f->committed_size = f->size;
    return 0;
}

int nvfile_revalidate(struct nvfile *f)
{
    /* Read before the kernel's view: a lock taken meanwhile asks again. */
    uint64_t now = __atomic_load_n(&lock_takes, __ATOMIC_ACQUIRE);
    int rc = revalidate(f);
    if (rc == 0)
        __atomic_store_n(&f->taken_in, now, __ATOMIC_RELEASE);
    return rc;
}

bool nvfile_take_in_size(struct nvfile *f)
{
    nvfile_lock(f, NULL);
    uint64_t before = f->size;
    bool changed = nvfile_revalidate(f) == 0 && f->size != before;
    nvfile_unlock(f);
    return changed;
}

/* ---- what the file reports ---------------------------------------------- */

void nvfile_stats(struct nvfile *f, struct nvmmio_stats *st)
{
    memset(st, 0, sizeof(*st));
    int held = nvfile_lock_shared(f);
    st->logical_size = f->size;
    st->committed_size = f->committed_size;
    st->epoch = f->journal.log.state.committed_epoch;
    st->log_bytes = nvlog_used(&f->journal.log);
    st->redo_pending = f->journal.index.redo_live;
    st->policy = f->journal.policy == NVLOG_REDO ? NVMMIO_POLICY_REDO : NVMMIO_POLICY_UNDO;
    st->persist = (uint32_t)f->map.kind;
    nvfile_unlock_shared(f, held);
}

void nvfile_remove_privs(struct nvfile *f)
{
    if (!__atomic_load_n(&f->kill_privs, __ATOMIC_RELAXED))
        return;
    __atomic_store_n(&f->kill_privs, false, __ATOMIC_RELAXED);
    /* A truncate to the size the file has makes the kernel decide as its
     * write would (the bits, the process's capabilities and groups), and
     * changes nothing else that a write would not. */
    sys_ftruncate(f->fd, (off_t)f->real_size);
}
