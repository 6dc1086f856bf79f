/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * epoch.c - the durability points of a managed file: commit of the running
 * epoch, checkpoints that bring redo blocks home, publication of its times
 * and space to the kernel's view, and settling at close (see nvfile.h).
 */
#include <limits.h>
#include <stdio.h>
#include <time.h>

#include "core/config.h"
#include "core/helper.h"
#include "core/tx.h"
#include "core/nvfile_internal.h"
#include "log/policy.h"
#include "log/recovery.h"
#include "mutants.h"
#include "os/sys.h"

/* A redo commit that leaves more log than this copies the committed blocks
 * home at once: the log can only start over when nothing in it is live,
 * and right after a commit nothing of the new epoch is in it yet. Smaller
 * logs go home in the background. */
#define CHECKPOINT_BATCH      ((uint64_t)4 << 20)
#define CHECKPOINT_BACKGROUND ((uint64_t)256 << 10)

/* Writes below which an exposed epoch leaves the next one with undo. */
#define SHORT_EPOCH_WRITES 4

/* ---- durability --------------------------------------------------------- */

int nvfile_commit(struct nvfile *f)
{
    /* A transaction's file commits with the transaction. */
    if (!f->dirty || nvtx_holds(f))
        return 0;
    int ended = f->journal.policy;
    int next = f->mapped_by_program || nvshare_wants_undo(f)
                   ? NVLOG_UNDO
                   : nvpolicy_next(nv_config()->policy, ended, f->reads, f->writes);
    uint64_t t0 = nvstats_now();
    int rc = nvjournal_commit(&f->journal, &f->map, f->size, next);
    if (rc < 0)
        return rc;
    nvstats_committed(&f->stats, t0);
    f->committed_size = f->size;
    f->dirty = false;
    f->reads = f->writes = 0;
    if (nvlog_watch_improvable(&f->journal.log))
        nvfile_watch(f);
    if (ended == NVLOG_REDO) {
        /* Undo writes in place, so redo blocks must be home before it runs;
         * and a log that grew large is emptied now rather than later. */
        if (next == NVLOG_UNDO || nvlog_used(&f->journal.log) > CHECKPOINT_BATCH)
            return nvfile_checkpoint(f);
        /* Small logs wait for the next commit or the close: waking the
         * thread costs more than they hold. Larger ones go home in the
         * background once the file is left idle. */
        if (nvlog_used(&f->journal.log) > CHECKPOINT_BACKGROUND)
            nvhelper_checkpoint(f);
    }
    return 0;
}

struct home_run {
    struct nvfile *f;
    uint64_t lo, hi;
};

static void prefault_run(struct home_run *run)
{
    if (run->hi > run->lo)
        pm_prefault(&run->f->map, run->lo, run->hi - run->lo);
}

static int extend_run(void *arg, uint64_t lo, uint64_t hi)
{
    struct home_run *run = arg;
    if (lo != run->hi) {
        prefault_run(run);
        run->lo = lo;
    }
    run->hi = hi;
    return 0;
}

/* The checkpoint stores into home blocks, and a store that maps a page in
 * is a change of the file to the kernel (on tmpfs its mtime moves): the
 * blocks it will write are mapped for reading first, which is not. */
static void prefault_redo_home(struct nvfile *f)
{
    struct home_run run = {f, 0, 0};
    nvjournal_redo_blocks(&f->journal, 0, f->real_size, extend_run, &run);
    prefault_run(&run);
}

int nvfile_checkpoint(struct nvfile *f)
{
    if (!nvlog_exists(&f->journal.log))
        return 0;
    /* While the program's own changes wait for publication, moving the
     * times is no harm to the program: the publication moves them anyway;
     * but a watch that vouches for the mtime would no longer match. */
    if ((!nvfile_stale(f) || nvlog_watch_mtime_kept(&f->journal.log)) &&
        f->journal.log.state.applied_epoch < f->journal.log.state.committed_epoch)
        prefault_redo_home(f);
    long n = nvlog_checkpoint(&f->journal.log, &f->map, f->real_size, &f->journal.index);
    nvstats_checkpointed(&f->stats, n);
    return n < 0 ? (int)n : 0;
}

/* ---- publication: times and space as the kernel would show them --------- */

/* mtime and ctime to now, which is also what tells inotify watchers. A
 * file whose owner this process is not may refuse that (EPERM): one byte
 * written back as it is does the same then. */
static void touch_times(struct nvfile *f)
{
    const struct timespec now[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    if (sys_utimensat(f->fd, NULL, now, 0) != -EPERM || f->mapped_by_program || f->size == 0 ||
        f->store.alloc_prefix == 0)
        return;
    sys_pwrite(f->fd, f->map.base, 1, 0);
}

/* The times to put back after the library's own calls, which move mtime
 * and ctime but never atime. */
static bool read_times(struct nvfile *f, struct timespec t[2])
{
    struct statx stx;
    if (sys_statx(f->fd, "", AT_EMPTY_PATH, STATX_MTIME, &stx) < 0)
        return false;
    t[0] = (struct timespec){0, UTIME_OMIT};
    t[1] = (struct timespec){stx.stx_mtime.tv_sec, stx.stx_mtime.tv_nsec};
    return true;
}

int nvfile_publish(struct nvfile *f)
{
    if (!f->writable)
        return 0;
    /* A trim must not cut what another process wrote past this one's
     * view of the file, and a cut another program made under the
     * checkpoint must be taken in while the changes it keeps are known. */
    if (f->real_size > f->size || nv_mapfault_cut_seen(&f->mapfault)) {
        int rc = nvfile_revalidate(f);
        if (rc < 0)
            return rc;
    }
    /* Every change is home (the callers checkpointed), and the kernel shows
     * the file as this process does from here on. */
    f->unpublished_end = 0;
    enum nvfile_times times = __atomic_load_n(&f->times, __ATOMIC_RELAXED);
    uint64_t keep = f->size > f->committed_size ? f->size : f->committed_size;
    /* Unchanged since the last publication, a file may still hold bytes
     * cut below its committed size, free once a commit moved it: giving
     * them back then puts mtime back as it was, and only ctime shows it.
     * Changed by the kernel's own writes only, it shows their times (an
     * in-place writer may have made them due since: that stays). */
    if (times != NVFILE_TIMES_DUE && !nvstorage_to_give_back(f, keep)) {
        __atomic_compare_exchange_n(&f->times, &times, NVFILE_TIMES_CLEAN, false, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED);
        return 0;
    }
    struct timespec saved[2];
    bool restore = times == NVFILE_TIMES_CLEAN && read_times(f, saved);
    nvlog_watch_suspend(&f->journal.log, false);
    int calls = nvstorage_give_back(f, keep);
    if (calls < 0)
        return calls;
    if (times == NVFILE_TIMES_DUE && calls == 0)
        touch_times(f);
    else if (restore && calls > 0)
        sys_utimensat(f->fd, NULL, saved, 0);
    __atomic_store_n(&f->times, NVFILE_TIMES_CLEAN, __ATOMIC_RELAXED);
    clock_gettime(CLOCK_MONOTONIC_COARSE, &f->published);
    nvfile_watch(f);
    return 0;
}

int nvfile_publish_lazily(struct nvfile *f)
{
    struct timespec now;
    /* Only the times wait: the kernel's size is the file's at once. */
    if (nvfile_stale(f) && f->real_size <= f->size) {
        clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
        if (now.tv_sec == f->published.tv_sec && now.tv_nsec == f->published.tv_nsec)
            return 0;
    }
    return nvfile_publish(f);
}

int nvfile_expose(struct nvfile *f, bool lazily)
{
    uint64_t writes = f->writes;
    int rc = nvfile_commit(f);
    if (MUTANT(7) && rc == 0 &&
        nvlog_exists(&f->journal.log)) { /* log freed before the checkpoint */
        char early[PATH_MAX];
        snprintf(early, sizeof(early), "%s/%s", f->log_dir, f->log_name);
        sys_unlinkat(AT_FDCWD, early, 0);
    }
    if (rc == 0)
        rc = nvfile_checkpoint(f);
    /* Its records go home now: redo pays for a block twice, which a short
     * epoch (a program that syncs every write or two) does not win back, so
     * the hybrid policy starts the next one (no record yet) with undo. */
    if (rc == 0 && !f->dirty && writes < SHORT_EPOCH_WRITES &&
        nv_config()->policy == NVPOLICY_HYBRID)
        f->journal.policy = NVLOG_UNDO;
    if (rc == 0)
        rc = lazily ? nvfile_publish_lazily(f) : nvfile_publish(f);
    return rc;
}

int nvfile_settle(struct nvfile *f)
{
    /* The log of a transaction's file stays until its commit or abort. */
    if (!f->writable || nvtx_holds(f))
        return 0;
    /* Other processes serve the file still: their log stays. */
    if (f->share.block && !nvowner_alone(&f->owner))
        return nvfile_expose(f, false);
    /* The log goes at the end: what the commit and the publication change
     * suspends its watch rather than being looked at again. */
    f->log_going = true;
    int rc = nvfile_revalidate(f);
    if (rc == 0)
        rc = nvfile_commit(f);
    if (rc == 0)
        rc = nvfile_checkpoint(f);
    uint64_t real_size = f->real_size;
    if (rc == 0)
        rc = nvfile_publish(f);
    /* The trimmed size must be durable before the log that records the
     * size goes away. */
    if (rc == 0 && f->real_size != real_size)
        rc = sys_fsync(f->fd);
    f->log_going = false;
    if (rc < 0)
        return rc;
    if (f->zero_from > f->size)
        f->zero_from = f->size;
    rc = nvfile_remove_log(f);
    /* The index speaks of the removed log's epochs. */
    nvidx_destroy(&f->journal.index);
    nvidx_init(&f->journal.index);
    return rc;
}

int nvfile_share_mapping(struct nvfile *f)
{
    f->mapped_by_program = true;
    nvlog_watch_suspend(&f->journal.log, true); /* its stores fault unseen */
    int rc = nvfile_commit(f);
    if (rc == 0)
        rc = nvfile_checkpoint(f);
    /* Stores through the program's mapping go unseen: no page is the
     * library's to give back from now on. */
    if (rc == 0)
        rc = nvfile_publish(f);
    nvstorage_forget_reserved(f);
    /* The epoch just begun has no record yet, so its policy may change. */
    f->journal.policy = NVLOG_UNDO;
    return rc;
}
