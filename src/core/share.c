/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * share.c - the share block of a managed file and the protocol of serving
 * it from several processes at once (see share.h).
 */
#include "core/share.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "core/debug.h"
#include "core/filelock.h"
#include "core/nvfile_internal.h"
#include "core/owner.h"
#include "core/parking.h"
#include "log/log.h"
#include "log/recovery.h"
#include "mutants.h"
#include "os/critical.h"
#include "os/sys.h"

#define SHARE_MAGIC   0x6e766d6d73686134ull /* "nvmmsha4" */
#define SHARE_LANES   16
#define SHARE_READERS NVOWNER_MARKS /* processes that read without the lock */
#define SLOT_SAVES    4             /* writes in place a process makes at once */
/* The block file grows only as far as it is used: its medium is the
 * pmem's (or, on tmpfs, memory), and most files are never shared. A file
 * served alone uses the first page (the lock, the state, the lanes);
 * sharing it gives room to the rest of struct nvshare_block; its first
 * change while shared, to the bytes each process's writes in place
 * replace (SLOT_SAVES of NVSHARE_IN_PLACE_MAX a reader slot); each
 * change's saved bytes, to as much of the save area as they fill. */
#define BLOCK_FIRST   ((uint64_t)4096)
#define BLOCK_HEAD    ((uint64_t)64 << 10) /* room for struct nvshare_block */
#define SLOTS_OFFSET  BLOCK_HEAD
#define SLOTS_END     (SLOTS_OFFSET + (uint64_t)SHARE_READERS * SLOT_SAVES * NVSHARE_IN_PLACE_MAX)
#define SAVE_OFFSET   SLOTS_END
#define SAVE_CAPACITY ((uint64_t)64 << 20)
#define SAVE_STEP     ((uint64_t)1 << 20)
/* The block's address range, reserved whole at open: growing it maps more
 * of the file in place, so the lock never moves while anyone holds it. */
#define BLOCK_RESERVE (SAVE_OFFSET + SAVE_CAPACITY)
#define JOIN_PATIENCE 2000 /* ms a joiner waits for the server's calls in flight */

/* The file's state as the last call that changed it left it. */
struct share_state {
    uint64_t size, committed_size, real_size, zero_from;
    uint64_t epoch; /* the journal's running epoch */
    uint32_t dirty, times_stale;
    uint32_t policy, has_log;
    uint32_t mapped, pad; /* a process mapped the file itself: no byte is known to be zero */
    uint64_t log_serial;  /* counts the log files made for the file */
    uint64_t redo_live;   /* index entries holding redo records */
    struct nvlog_cursor log;
};

/* The change the lock holder is making: the bytes it replaces wait at
 * SAVE_OFFSET. */
struct share_inflight {
    uint64_t off, len;
};

/* The block's word: which of the two states is current, and whether a
 * change is in flight. One store publishes a new state and ends the
 * change, so a holder's death leaves either the change undone with the old
 * state, or the change made with the new one. */
#define WORD_STATE    1ull
#define WORD_INFLIGHT 2ull

struct share_lane {
    long inside; /* calls in flight on this CPU while the file is not shared */
} __attribute__((aligned(64)));

/* The bytes a write in place puts home, copied here first
 * (nvshare_begin_in_place): should the writer die, the next process to
 * take their range finishes the write. */
struct share_save {
    uint64_t off, len;
    uint32_t active; /* atomic: the bytes are saved, off and len set */
    uint32_t pad;
};

/* A process's reads and writes in place in flight while the file is
 * shared, which no holder of the lock may change the file under. */
struct nvshare_reader {
    int32_t pid; /* 0: free; else the holder as it sees itself (its mark tells whether it lives) */
    int32_t pad;
    long inside;
    struct share_save saves[SLOT_SAVES];
} __attribute__((aligned(64)));

/* A range lock of the shared file's bytes: robust, process-shared. */
struct share_stripe {
    pthread_mutex_t lock;
} __attribute__((aligned(64)));

struct nvshare_block {
    uint64_t magic;
    uint64_t token;       /* drawn when the block is made: tells it from one made anew */
    pthread_mutex_t lock; /* robust, process-shared */
    uint32_t shared;      /* atomic: the file is served by several processes */
    uint32_t want_undo;   /* a joiner waits for the server's redo epoch to end */
    uint64_t gen;         /* of the state (atomic) */
    uint64_t word;        /* WORD_* (atomic) */
    uint32_t writing;     /* atomic: the lock's holder may change the file */
    struct share_state states[2];
    struct share_inflight inflight;
    struct share_lane lanes[SHARE_LANES];
    /* Past the lanes, what only a shared file uses, set up when it is
     * first shared (make_shared): a file no second process joins touches
     * the block's first page only. */
    struct nvshare_reader readers[SHARE_READERS];
    struct share_stripe stripes[NVLOCK_STRIPES];
};

_Static_assert(sizeof(struct nvshare_block) <= BLOCK_HEAD, "the share block outgrew its place");
_Static_assert(offsetof(struct nvshare_block, readers) <= BLOCK_FIRST,
               "what a file served alone uses outgrew the block's first page");
/* The block file's size once the file is shared. */
#define BLOCK_SHARED ((sizeof(struct nvshare_block) + BLOCK_FIRST - 1) & ~(BLOCK_FIRST - 1))

/* ---- the block's file --------------------------------------------------- */

static void block_path(const struct nvfile *f, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%llx-%llx.share", f->log_dir, (unsigned long long)f->dev,
             (unsigned long long)f->ino);
}

bool nvshare_ever_joined(const struct nvfile *f)
{
    return __atomic_load_n(&f->share.block->shared, __ATOMIC_SEQ_CST) != 0;
}

bool nvshare_block_owner(const struct nvfile *f, uid_t *uid)
{
    char path[PATH_MAX];
    block_path(f, path, sizeof(path));
    struct statx stx;
    if (sys_statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_UID, &stx) < 0)
        return false;
    *uid = stx.stx_uid;
    return true;
}

/* block_path's last component. */
static const char *block_name(const char *path)
{
    return strrchr(path, '/') + 1;
}

/* The block file grown to size with its blocks allocated: a store through
 * the mapping must never fault for want of space (a full file system gives
 * ENOSPC here rather than SIGBUS there). */
static int size_block_file(int fd, uint64_t size)
{
    int rc = sys_fallocate(fd, 0, 0, (off_t)size);
    return rc == -EOPNOTSUPP ? sys_ftruncate(fd, (off_t)size) : rc;
}

static int open_block_file(struct nvfile *f, bool first)
{
    char path[PATH_MAX];
    block_path(f, path, sizeof(path));
    int flags = O_RDWR | O_NOFOLLOW | O_CLOEXEC | (first ? O_CREAT : 0);
    int fd = sys_openat(AT_FDCWD, path, flags, 0600);
    if (fd < 0)
        return fd;
    const char *why = NULL;
    struct stat st;
    int rc = first ? nvlog_file_give(fd, f->uid) : 0;
    if (rc == 0)
        rc = nvlog_file_check(fd, f->uid, &st, &why);
    if (rc == -EACCES && why)
        nv_warn("refusing the share block %s: %s", path, why);
    if (rc == 0 && first) /* a new block: nothing of an earlier one stays */
        rc = sys_ftruncate(fd, 0);
    bool sized = rc == 0 && first;
    if (sized)
        rc = size_block_file(fd, BLOCK_FIRST);
    if (rc == 0 && !first && (uint64_t)st.st_size < BLOCK_FIRST)
        rc = -ENOENT; /* the first process has not made it yet */
    if (rc < 0) {
        sys_close(fd);
        if (sized) /* no room for it: no block file stays */
            sys_unlinkat(AT_FDCWD, path, 0);
        return rc;
    }
    return fd;
}

/* count robust, process-shared mutexes at m: 0 or a positive errno. */
static int init_mutexes(pthread_mutex_t *m, size_t stride, int count)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    int rc = 0;
    for (int i = 0; i < count && !rc; i++)
        rc = pthread_mutex_init((pthread_mutex_t *)((char *)m + (size_t)i * stride), &a);
    pthread_mutexattr_destroy(&a);
    return rc;
}

/* A block whose bytes up to its reader slots are zero. */
static int init_block(struct nvshare_block *b)
{
    int rc = init_mutexes(&b->lock, 0, 1);
    if (rc)
        return -rc;
    if (sys_getrandom(&b->token, sizeof(b->token)) != (long)sizeof(b->token)) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        b->token = ((uint64_t)now.tv_sec << 32 ^ (uint64_t)now.tv_nsec) * 0x9E3779B97F4A7C15ull ^
                   (uint64_t)sys_getpid();
    }
    __atomic_store_n(&b->magic, SHARE_MAGIC, __ATOMIC_RELEASE);
    return 0;
}

static void put_state(struct nvfile *f);
static void end_change(struct nvshare_block *b, bool state);
static void claim_reader(struct nvfile *f);
static void settle_saves(struct nvfile *f, struct nvshare_reader *r);

/* The block file fd mapped whole, BLOCK_RESERVE bytes however long the
 * file is yet: it only grows, and the mapping covers what it grows to, so
 * a block is one mapping (a process's mappings are counted) and growing it
 * maps nothing. */
static struct nvshare_block *map_block(int fd, int *err)
{
    void *p = sys_mmap(NULL, BLOCK_RESERVE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    *err = sys_mmap_failed(p) ? (int)(long)p : 0;
    return *err ? NULL : p;
}

/* ---- spare blocks ----------------------------------------------------------
 * Making a block (a file, its size, its mapping, its first page touched)
 * and removing it cost more than a small file's whole life through the
 * kernel. So the last process to close a file keeps its block, a few at a
 * time, under a name of its own in the log directory
 * (.spare-PID-TOKEN-N.share: nvlog_spare_name),
 * still mapped, and makes the next new block in that directory from it:
 * renamed in place, then cleared. Joiners come only once the first process
 * lets them (nvowner_share), after the block is made. A normal exit or an
 * exec removes the spares (nvshare_spares_drop); a killed process leaves
 * its few behind, which the next process to keep a spare log in that
 * directory removes (log.c). */

#define MAX_SPARES 4

struct spare_block {
    int dirfd;     /* the log directory, kept open (nvlog_dir_kept) */
    char name[64]; /* .spare-PID-TOKEN-N.share */
    uid_t uid;     /* its owner: it becomes a block of that owner's files only */
    struct nvshare_block *block;
};

static pthread_mutex_t spares_lock = PTHREAD_MUTEX_INITIALIZER;
static struct spare_block spares[MAX_SPARES];
static int nspares;
static int spares_pid;

/* spares_lock held: the spares a forked child inherited are its parent's;
 * the child only lets go of their mappings. */
static void spares_check_owner(void)
{
    if (!sys_owner_changed(&spares_pid))
        return;
    for (int i = 0; i < nspares; i++)
        sys_munmap(spares[i].block, BLOCK_RESERVE);
    nspares = 0;
}

/* f's log directory kept open, or a negative errno. */
static int kept_dir_of(const struct nvfile *f)
{
    const char *why = NULL;
    return nvlog_dir_kept(f->log_dir, f->uid, false, &why);
}

/* Keeps f's block, when the file was never shared (its block file is then
 * at its first size), as a spare in place of the block file `name` of the
 * log directory dirfd; true when kept. */
static bool keep_spare(struct nvfile *f, int dirfd, const char *name)
{
    if (__atomic_load_n(&f->share.block->shared, __ATOMIC_ACQUIRE) || dirfd < 0)
        return false;
    bool kept = false;
    pthread_mutex_lock(&spares_lock);
    spares_check_owner();
    if (nspares < MAX_SPARES) {
        struct spare_block *s = &spares[nspares];
        kept = nvlog_spare_name(s->name, sizeof(s->name), ".share") == 0 &&
               sys_renameat(dirfd, name, dirfd, s->name) == 0;
        if (kept) {
            s->dirfd = dirfd;
            s->uid = f->uid;
            s->block = f->share.block;
            nspares++;
        }
    }
    pthread_mutex_unlock(&spares_lock);
    return kept;
}

/* A block made from a spare of the log directory dirfd owned by uid,
 * renamed to `name` and cleared as a new one is; NULL when there is none. */
static struct nvshare_block *take_spare(int dirfd, uid_t uid, const char *name)
{
    struct spare_block s = {.block = NULL};
    pthread_mutex_lock(&spares_lock);
    spares_check_owner();
    for (int i = nspares - 1; i >= 0 && !s.block; i--) {
        if (spares[i].dirfd != dirfd || spares[i].uid != uid)
            continue;
        s = spares[i];
        spares[i] = spares[--nspares];
    }
    pthread_mutex_unlock(&spares_lock);
    if (!s.block)
        return NULL;
    if (sys_renameat(s.dirfd, s.name, dirfd, name) < 0) {
        sys_munmap(s.block, BLOCK_RESERVE);
        return NULL;
    }
    memset(s.block, 0, offsetof(struct nvshare_block, readers));
    return s.block;
}

void nvshare_before_fork(void)
{
    pthread_mutex_lock(&spares_lock);
}

void nvshare_after_fork(void)
{
    pthread_mutex_unlock(&spares_lock);
}

void nvshare_spares_drop(void)
{
    pthread_mutex_lock(&spares_lock);
    bool own = spares_pid == sys_getpid();
    for (int i = 0; i < nspares; i++) {
        sys_munmap(spares[i].block, BLOCK_RESERVE);
        if (own)
            sys_unlinkat(spares[i].dirfd, spares[i].name, 0);
    }
    nspares = 0;
    pthread_mutex_unlock(&spares_lock);
}

/* The first process's block made from a spare: 0, or -ENOENT when there is
 * none. */
static int open_spare(struct nvfile *f)
{
    char path[PATH_MAX];
    block_path(f, path, sizeof(path));
    int dirfd = kept_dir_of(f);
    struct nvshare_block *b = dirfd < 0 ? NULL : take_spare(dirfd, f->uid, block_name(path));
    if (!b)
        return -ENOENT;
    int rc = init_block(b);
    if (rc < 0) {
        sys_munmap(b, BLOCK_RESERVE);
        sys_unlinkat(dirfd, block_name(path), 0);
        return rc;
    }
    f->share.block = b;
    f->share.usable = BLOCK_FIRST;
    f->share.token = b->token;
    return 0;
}

int nvshare_open(struct nvfile *f, bool first)
{
    if (first && open_spare(f) == 0) {
        put_state(f);
        end_change(f->share.block, true);
        return 0;
    }
    int fd = open_block_file(f, first);
    if (fd < 0)
        return fd;
    struct stat st;
    int rc = sys_fstat(fd, &st);
    if (rc == 0 && (uint64_t)st.st_size > BLOCK_RESERVE)
        rc = -EFBIG;
    struct nvshare_block *b = rc == 0 ? map_block(fd, &rc) : NULL;
    sys_close(fd);
    if (rc == 0)
        rc = first ? init_block(b) : 0;
    if (rc == 0 && !first && __atomic_load_n(&b->magic, __ATOMIC_ACQUIRE) != SHARE_MAGIC)
        rc = -ENOENT;
    if (rc < 0) {
        if (b)
            sys_munmap(b, BLOCK_RESERVE);
        return rc;
    }
    f->share.block = b;
    f->share.usable = (uint64_t)st.st_size;
    f->share.token = b->token;
    if (first) {
        put_state(f);
        end_change(b, true);
    }
    return 0;
}

/* The block file, opened by its name with `mode`, its status into st: a
 * descriptor, or a negative errno. */
static int open_block_named(const struct nvfile *f, int mode, struct stat *st)
{
    char path[PATH_MAX];
    block_path(f, path, sizeof(path));
    int fd = sys_openat(AT_FDCWD, path, mode | O_NOFOLLOW | O_CLOEXEC, 0);
    int rc = fd < 0 ? fd : sys_fstat(fd, st);
    if (rc < 0 && fd >= 0)
        sys_close(fd);
    return rc < 0 ? rc : fd;
}

/* Lock held: the block file holds `need` bytes, grown to them when `grow`
 * (the save area grows as changes need it); its mapping covers them. 0 or
 * a negative errno. */
static int reach_through(struct nvfile *f, uint64_t need, bool grow)
{
    if (need <= f->share.usable)
        return 0;
    struct stat st;
    int fd = open_block_named(f, O_RDWR, &st);
    if (fd < 0)
        return fd;
    int rc = 0;
    uint64_t size = (uint64_t)st.st_size;
    if (size < need && grow) {
        /* The save area grows in steps, the rest as it is used. */
        size = need > SAVE_OFFSET ? (need + SAVE_STEP - 1) & ~(SAVE_STEP - 1) : need;
        if (size > BLOCK_RESERVE)
            size = BLOCK_RESERVE;
        rc = size_block_file(fd, size);
    }
    if (rc == 0 && size > BLOCK_RESERVE)
        size = BLOCK_RESERVE;
    sys_close(fd);
    if (rc < 0)
        return rc;
    f->share.usable = size;
    return size >= need ? 0 : -ENOENT;
}

void nvshare_leave_slot(struct nvfile *f)
{
    /* A forked child leaves the slot to its parent, whose it is. */
    if (f->share.reader &&
        __atomic_load_n(&f->share.reader->pid, __ATOMIC_ACQUIRE) == sys_getpid()) {
        __atomic_store_n(&f->share.reader->pid, 0, __ATOMIC_RELEASE);
        nvowner_unmark(&f->owner, (int)(f->share.reader - f->share.block->readers));
    }
    f->share.reader = NULL;
}

bool nvshare_still_ours(const struct nvfile *f)
{
    struct stat st;
    int fd = open_block_named(f, O_RDONLY, &st);
    if (fd < 0)
        return false;
    uint64_t token = 0;
    bool ours = (uint64_t)st.st_size >= BLOCK_SHARED &&
                sys_pread(fd, &token, sizeof(token), offsetof(struct nvshare_block, token)) ==
                    (long)sizeof(token) &&
                token == f->share.token;
    sys_close(fd);
    return ours;
}

void nvshare_remove(const struct nvfile *f)
{
    char path[PATH_MAX];
    block_path(f, path, sizeof(path));
    sys_unlinkat(AT_FDCWD, path, 0);
}

void nvshare_close(struct nvfile *f, bool last)
{
    if (!f->share.block)
        return;
    nvshare_leave_slot(f);
    f->share.reader_tried = false;
    __atomic_store_n(&f->share.shared, false, __ATOMIC_RELAXED);
    char path[PATH_MAX];
    block_path(f, path, sizeof(path));
    if (!last || !keep_spare(f, kept_dir_of(f), block_name(path))) {
        sys_munmap(f->share.block, BLOCK_RESERVE);
        if (last)
            sys_unlinkat(AT_FDCWD, path, 0);
    }
    f->share.block = NULL;
}

/* ---- the state ------------------------------------------------------------ */

static struct share_state *current_state(struct nvshare_block *b)
{
    return &b->states[__atomic_load_n(&b->word, __ATOMIC_ACQUIRE) & WORD_STATE];
}

/* Ends the change in flight, with the state it left when `state` (put by
 * put_state) or with the current one. */
static void end_change(struct nvshare_block *b, bool state)
{
    uint64_t cur = __atomic_load_n(&b->word, __ATOMIC_RELAXED) & WORD_STATE;
    __atomic_store_n(&b->word, state ? cur ^ WORD_STATE : cur, __ATOMIC_RELEASE);
}

/* Writes the file's state into the block's spare state (end_change makes
 * it current). */
static void put_state(struct nvfile *f)
{
    struct nvshare_block *b = f->share.block;
    struct share_state *s =
        &b->states[(__atomic_load_n(&b->word, __ATOMIC_RELAXED) & WORD_STATE) ^ WORD_STATE];
    s->size = f->size;
    s->committed_size = f->committed_size;
    s->real_size = f->real_size;
    s->zero_from = f->zero_from;
    s->epoch = f->journal.epoch;
    s->dirty = f->dirty;
    s->times_stale = nvfile_stale(f);
    s->mapped = f->mapped_by_program;
    s->policy = (uint32_t)f->journal.policy;
    s->redo_live = f->journal.index.redo_live;
    s->has_log = nvlog_exists(&f->journal.log);
    s->log_serial = f->share.log_serial;
    if (s->has_log)
        nvlog_cursor_get(&f->journal.log, &s->log);
}

static void forget_index(struct nvjournal *j)
{
    nvidx_destroy(&j->index);
    nvidx_init(&j->index);
}

/* The log as the state says it stands: attached when another process made
 * it, the records others appended taken into the index. */
static int take_log(struct nvfile *f, const struct share_state *s)
{
    struct nvjournal *j = &f->journal;
    if (!s->has_log) {
        if (nvlog_exists(&j->log))
            nvlog_close(&j->log);
        forget_index(j);
        j->epoch = s->epoch;
        return 0;
    }
    bool attached = !nvlog_exists(&j->log) || f->share.log_serial != s->log_serial;
    if (attached) {
        /* Another process made the log, maybe anew. */
        if (nvlog_exists(&j->log))
            nvlog_close(&j->log);
        int rc = nvfile_attach_log(f);
        if (rc < 0)
            return rc;
        f->share.log_serial = s->log_serial;
    }
    bool same_run = !attached && j->log.state.gen == s->log.state.gen && j->epoch == s->epoch &&
                    j->log.tail <= s->log.tail;
    uint64_t from = same_run ? j->log.tail : s->log.open_from;
    uint64_t from_index = same_run ? j->log.next_index : s->log.open_index;
    int rc = nvlog_cursor_set(&j->log, &s->log);
    if (rc < 0)
        return rc;
    if (!same_run)
        forget_index(j);
    j->epoch = s->epoch;
    return nvjournal_take_records(j, from, from_index);
}

static int take_state(struct nvfile *f)
{
    const struct share_state *s = current_state(f->share.block);
    int rc = s->real_size != f->real_size ? nvstorage_resized_outside(f, s->real_size) : 0;
    if (rc < 0)
        return rc;
    /* Pages this process reserved may hold another's bytes by now. */
    nvstorage_forget_reserved(f);
    f->size = s->size;
    f->committed_size = s->committed_size;
    f->zero_from = s->zero_from;
    f->dirty = s->dirty;
    /* Stores through another process's mapping may reach any byte. */
    if (s->mapped)
        f->mapped_by_program = true;
    if (s->times_stale)
        nvfile_changed(f);
    rc = take_log(f, s);
    if (rc < 0)
        return rc;
    f->journal.policy = NVLOG_UNDO;
    f->journal.small_blocks = true;
    __atomic_store_n(&f->share.seen, __atomic_load_n(&f->share.block->gen, __ATOMIC_ACQUIRE),
                     __ATOMIC_RELEASE);
    return 0;
}

/* ---- the lock ------------------------------------------------------------- */

/* The holder died with a change half made: its saved bytes go back, the
 * real file is cut to the state's size (what it grew by was the dead
 * change's) or keeps the trim it made, and a commit it completed stands. */
static void repair(struct nvfile *f)
{
    struct nvshare_block *b = f->share.block;
    struct share_state *s = current_state(b);
    if (s->has_log && nvlog_exists(&f->journal.log)) {
        const struct nvlog_slot *cur = nvlog_slot_current(f->journal.log.map.base);
        if (cur && cur->seq > s->log.state.seq) {
            /* Its commit is durable: the epoch it ended is over. */
            s->log.state = *cur;
            s->committed_size = cur->committed_size;
            s->epoch = cur->committed_epoch + 1;
            s->dirty = 0;
            s->log.tail = s->log.live_from = s->log.open_from = NVLOG_HEADER_SIZE;
            s->log.next_index = s->log.live_from_index = s->log.open_index = 0;
        }
    }
    __atomic_add_fetch(&b->gen, 1, __ATOMIC_SEQ_CST);
    bool inflight = __atomic_load_n(&b->word, __ATOMIC_ACQUIRE) & WORD_INFLIGHT;
    struct share_inflight in = b->inflight;
    uint64_t real_size = s->real_size;
    if (take_state(f) == 0 && inflight && in.len && in.off + in.len <= f->real_size &&
        reach_through(f, SAVE_OFFSET + in.len, false) == 0)
        memcpy(f->map.base + in.off, (char *)b + SAVE_OFFSET, in.len);
    /* What it grew the real file by was the dead change's; a trim it made
     * (nvstorage_give_back, never below the size) is kept instead. */
    struct statx stx;
    bool trimmed = false;
    if (sys_statx(nvpark_fd(f), "", AT_EMPTY_PATH, STATX_SIZE, &stx) == 0) {
        if (stx.stx_size > real_size)
            sys_ftruncate(f->fd, (off_t)real_size);
        else if (stx.stx_size < real_size && stx.stx_size >= f->size)
            trimmed = nvstorage_resized_outside(f, stx.stx_size) == 0;
    }
    if (trimmed)
        put_state(f);
    end_change(b, trimmed);
    nv_debug("a process serving this file died in a call; its change was undone");
}

/* A call holds the block's lock for a few microseconds: a process that
 * finds it taken tries again for about as long before it sleeps in the
 * kernel, which costs two context switches a turn when two processes write
 * one after the other. */
#define LOCK_SPINS 2000

static void lock_block(struct nvfile *f)
{
    struct nvshare_block *b = f->share.block;
    int rc = pthread_mutex_trylock(&b->lock);
    for (int spins = 0; rc == EBUSY && spins < LOCK_SPINS; spins++) {
        nv_cpu_relax();
        rc = pthread_mutex_trylock(&b->lock);
    }
    if (rc == EBUSY)
        rc = pthread_mutex_lock(&b->lock);
    if (rc == EOWNERDEAD) {
        if (!MUTANT(18))
            repair(f);
        pthread_mutex_consistent(&b->lock);
    }
}

/* Each thread keeps to one lane, dealt out in turn: threads at once mostly
 * count in lines of their own, without asking for the CPU at every call. */
static int lane_of_thread(void)
{
    static __thread int lane __attribute__((tls_model("initial-exec")));
    static unsigned dealt;
    if (!lane)
        lane = 1 + (int)(__atomic_fetch_add(&dealt, 1, __ATOMIC_RELAXED) % SHARE_LANES);
    return lane - 1;
}

#define LANE_NONE   (-1) /* no block */
#define LANE_LOCKED NVSHARE_LOCKED

/* Lock held: a slot among the block's readers for this process, taken
 * over from a process that is gone if need be, and marked (owner.h); none
 * when all are taken or the process has no lock file (its reads then take
 * the lock). Tried once per block: by a joiner as it joins, by the first
 * process when it first finds the file shared, since a mark is a lock in
 * the lock file that every lock set there walks past. */
static void claim_reader(struct nvfile *f)
{
    struct nvshare_block *b = f->share.block;
    if (f->share.reader_tried)
        return;
    f->share.reader_tried = true;
    for (int i = 0; i < SHARE_READERS && !f->share.reader; i++) {
        struct nvshare_reader *r = &b->readers[i];
        if (__atomic_load_n(&r->pid, __ATOMIC_ACQUIRE) != 0 && nvowner_marked(&f->owner, i) != 0)
            continue;
        if (nvowner_mark(&f->owner, i) < 0)
            continue;
        settle_saves(f, r); /* a process that is gone may have left some */
        __atomic_store_n(&r->inside, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&r->pid, sys_getpid(), __ATOMIC_RELEASE);
        f->share.reader = r;
    }
}

/* Lock held, by a call that may change the file: no reader of another
 * process starts from now on, and those in flight end first. A reader
 * whose process died (its mark is gone) is forgotten. */
static void exclude_readers(struct nvfile *f)
{
    struct nvshare_block *b = f->share.block;
    __atomic_store_n(&b->writing, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < SHARE_READERS; i++) {
        struct nvshare_reader *r = &b->readers[i];
        if (r == f->share.reader) /* this process's readers wait for its lock */
            continue;
        for (unsigned spins = 1; __atomic_load_n(&r->inside, __ATOMIC_SEQ_CST) > 0; spins++) {
            if (spins % 1024 == 0 && nvowner_marked(&f->owner, i) == 0) {
                settle_saves(f, r);
                __atomic_store_n(&r->inside, 0, __ATOMIC_RELEASE);
                break;
            }
            if (spins > 64)
                sched_yield();
        }
    }
}

#define LANE_READING NVSHARE_READING

/* The calls in flight while the file is served alone announce themselves
 * in a lane; -1 when the file is shared. */
static int enter_lane(struct nvfile *f)
{
    struct nvshare_block *b = f->share.block;
    if (__atomic_load_n(&f->share.shared, __ATOMIC_RELAXED))
        return -1;
    int lane = lane_of_thread();
    __atomic_add_fetch(&b->lanes[lane].inside, 1, __ATOMIC_SEQ_CST);
    if (!__atomic_load_n(&b->shared, __ATOMIC_SEQ_CST))
        return lane;
    __atomic_sub_fetch(&b->lanes[lane].inside, 1, __ATOMIC_SEQ_CST);
    return -1;
}

/* The block's lock, once the file is shared (a joiner that gave up leaves
 * it this process's alone again: a lane then). Kept out of line: the calls
 * of a file served alone take a lane and nothing of this. */
static __attribute__((noinline)) int enter_locked(struct nvfile *f, bool writer)
{
    struct nvshare_block *b = f->share.block;
    for (;;) {
        int lane = enter_lane(f);
        if (lane >= 0)
            return lane;
        lock_block(f);
        if (__atomic_load_n(&b->shared, __ATOMIC_SEQ_CST))
            break;
        pthread_mutex_unlock(&b->lock);
        __atomic_store_n(&f->share.shared, false, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&f->share.shared, true, __ATOMIC_RELAXED);
    claim_reader(f);
    if (writer)
        exclude_readers(f);
    /* A reader's descriptor of the file may be parked (parking.h). */
    if (__atomic_load_n(&f->share.seen, __ATOMIC_RELAXED) !=
            __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) &&
        (nvpark_fd(f) < 0 || take_state(f) < 0))
        nv_warn("could not take in another process's changes of a shared file");
    return LANE_LOCKED;
}

int nvshare_enter(struct nvfile *f)
{
    if (!f->share.block)
        return LANE_NONE;
    int lane = enter_lane(f);
    return lane >= 0 ? lane : enter_locked(f, true);
}

/* Counts a call in flight among this process's reads, when the file is
 * shared and no other process changed it since this one took its state
 * in: the state it holds is the file's while no holder of the lock may
 * change it. */
static bool enter_reading(struct nvfile *f)
{
    struct nvshare_block *b = f->share.block;
    struct nvshare_reader *r = f->share.reader;
    if (!r || !__atomic_load_n(&f->share.shared, __ATOMIC_RELAXED))
        return false;
    __atomic_add_fetch(&r->inside, 1, __ATOMIC_SEQ_CST);
    if (!__atomic_load_n(&b->writing, __ATOMIC_SEQ_CST) &&
        __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) ==
            __atomic_load_n(&f->share.seen, __ATOMIC_ACQUIRE))
        return true;
    __atomic_sub_fetch(&r->inside, 1, __ATOMIC_RELEASE);
    return false;
}

int nvshare_enter_read(struct nvfile *f)
{
    if (!f->share.block)
        return LANE_NONE;
    if (enter_reading(f))
        return LANE_READING;
    int lane = enter_lane(f);
    return lane >= 0 ? lane : enter_locked(f, false);
}

/* nvshare_leave of a call that held the block's lock, out of line. */
static __attribute__((noinline)) void leave_locked(struct nvfile *f, bool changes)
{
    struct nvshare_block *b = f->share.block;
    if (changes) {
        put_state(f);
        /* A call that left the state as it was (a revalidation that found
         * nothing, bytes changed in place) sends no process to the lock to
         * take it in: the bytes are in the mapping they share. */
        changes = memcmp(&b->states[0], &b->states[1], sizeof(b->states[0])) != 0;
        /* Another process's commit must find these bytes durable. */
        if (!MUTANT(22)) {
            pm_drain(&f->map);
            if (nvlog_exists(&f->journal.log))
                pm_drain(&f->journal.log.map);
        }
    }
    end_change(b, changes);
    if (changes)
        __atomic_store_n(&f->share.seen, __atomic_add_fetch(&b->gen, 1, __ATOMIC_SEQ_CST),
                         __ATOMIC_RELEASE);
    __atomic_store_n(&b->writing, 0, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&b->lock);
}

void nvshare_leave(struct nvfile *f, int lane, bool changes)
{
    if (MUTANT(19))
        changes = false;
    if (lane >= 0) {
        struct nvshare_block *b = f->share.block;
        if (changes) {
            put_state(f);
            end_change(b, true);
        }
        __atomic_sub_fetch(&b->lanes[lane].inside, 1, __ATOMIC_SEQ_CST);
    } else if (lane == LANE_READING) {
        __atomic_sub_fetch(&f->share.reader->inside, 1, __ATOMIC_RELEASE);
    } else if (lane == LANE_LOCKED) {
        leave_locked(f, changes);
    }
}

int nvshare_save(struct nvfile *f, uint64_t off, uint64_t end)
{
    struct nvshare_block *b = f->share.block;
    /* Room for the saves of writes in place: with none, they take the lock. */
    if (f->share.usable < SLOTS_END)
        reach_through(f, SLOTS_END, true);
    if (__atomic_load_n(&b->word, __ATOMIC_RELAXED) & WORD_INFLIGHT)
        return 0; /* the call saved what it changes already */
    if (end > f->real_size)
        end = f->real_size;
    uint64_t len = off < end ? end - off : 0;
    if (len > SAVE_CAPACITY)
        len = SAVE_CAPACITY; /* past it, a change torn by a death stays torn */
    if (len && reach_through(f, SAVE_OFFSET + len, true) < 0)
        len = 0; /* without room, such a change stays torn too */
    if (len)
        memcpy((char *)b + SAVE_OFFSET, f->map.base + off, len);
    b->inflight.off = off;
    b->inflight.len = len;
    __atomic_or_fetch(&b->word, WORD_INFLIGHT, __ATOMIC_RELEASE);
    return 0;
}

/* ---- writes in place ------------------------------------------------------
 * A change of bytes only (every block it reaches has its record of the
 * running epoch) takes no block lock: it counts itself among its process's
 * reads in flight, so no holder of the lock changes the file under it,
 * takes the range locks of the bytes (which readers take too), copies the
 * new bytes into one of its slot's saves, and writes them home from there.
 * A process that dies in the middle holds the range locks still: the next
 * process to take one (EOWNERDEAD) finishes the write of every save left
 * active over it, so the write happened whole. A holder of the lock that
 * waits for the dead process's reads, or a process that takes its slot
 * over, takes the range locks of its saves first for the same end. (The
 * new bytes are saved rather than the old: the program's buffer is in
 * the cache, the file's bytes of a random write mostly are not.) */

static char *save_bytes(struct nvshare_block *b, const struct nvshare_reader *r, int save)
{
    size_t slot = (size_t)(r - b->readers) * SLOT_SAVES + (size_t)save;
    return (char *)b + SLOTS_OFFSET + slot * NVSHARE_IN_PLACE_MAX;
}

static uint64_t save_stripes(const struct share_save *s)
{
    return nvlock_stripes_of(s->off, s->off + s->len);
}

/* Range lock `stripe` just taken from a process that died holding it: the
 * writes in place it left half done over the range are finished. */
static void finish_dead_writes(struct nvfile *f, int stripe)
{
    struct nvshare_block *b = f->share.block;
    for (int i = 0; i < SHARE_READERS; i++) {
        struct nvshare_reader *r = &b->readers[i];
        for (int k = 0; k < SLOT_SAVES; k++) {
            struct share_save *s = &r->saves[k];
            if (!__atomic_load_n(&s->active, __ATOMIC_ACQUIRE) ||
                !(save_stripes(s) & ((uint64_t)1 << stripe)))
                continue;
            if (!MUTANT(23) && s->off + s->len <= f->real_size) {
                pm_copy(&f->map, s->off, save_bytes(b, r, k), s->len);
                pm_drain(&f->map);
            }
            __atomic_store_n(&s->active, 0, __ATOMIC_RELEASE);
            nv_debug("a process died writing a shared file in place; its write was finished");
        }
    }
}

/* Takes the range locks `stripes`, in order. Returns them. */
static uint64_t lock_stripes(struct nvfile *f, uint64_t stripes)
{
    struct nvshare_block *b = f->share.block;
    for (uint64_t left = stripes; left; left &= left - 1) {
        int i = __builtin_ctzll(left);
        if (pthread_mutex_lock(&b->stripes[i].lock) == EOWNERDEAD) {
            finish_dead_writes(f, i);
            pthread_mutex_consistent(&b->stripes[i].lock);
        }
    }
    return stripes;
}

uint64_t nvshare_lock_range(struct nvfile *f, uint64_t off, uint64_t end)
{
    return lock_stripes(f, nvlock_stripes_of(off, end));
}

void nvshare_unlock_range(struct nvfile *f, uint64_t held)
{
    for (; held; held &= held - 1)
        pthread_mutex_unlock(&f->share.block->stripes[__builtin_ctzll(held)].lock);
}

/* The saves a process that is gone left active: their range locks taken
 * and let go, which finishes their writes. */
static void settle_saves(struct nvfile *f, struct nvshare_reader *r)
{
    uint64_t stripes = 0;
    for (int k = 0; k < SLOT_SAVES; k++)
        if (__atomic_load_n(&r->saves[k].active, __ATOMIC_ACQUIRE))
            stripes |= save_stripes(&r->saves[k]);
    nvshare_unlock_range(f, lock_stripes(f, stripes));
}

bool nvshare_enter_in_place(struct nvfile *f)
{
    return f->share.usable >= SLOTS_END && enter_reading(f);
}

const char *nvshare_begin_in_place(struct nvfile *f, const void *buf, uint64_t off, uint64_t end,
                                   struct nvshare_in_place *w)
{
    unsigned busy = __atomic_load_n(&f->share.saves_busy, __ATOMIC_RELAXED);
    int save;
    do {
        save = __builtin_ctz(~busy);
        if (save >= SLOT_SAVES)
            return NULL;
    } while (!__atomic_compare_exchange_n(&f->share.saves_busy, &busy, busy | (1u << save), true,
                                          __ATOMIC_ACQUIRE, __ATOMIC_RELAXED));
    w->save = save;
    w->stripes = nvshare_lock_range(f, off, end);
    struct nvshare_reader *r = f->share.reader;
    struct share_save *s = &r->saves[save];
    char *bytes = save_bytes(f->share.block, r, save);
    memcpy(bytes, buf, end - off);
    s->off = off;
    s->len = end - off;
    __atomic_store_n(&s->active, 1, __ATOMIC_RELEASE);
    return bytes;
}

void nvshare_end_in_place(struct nvfile *f, const struct nvshare_in_place *w)
{
    /* Another process's commit must find these bytes durable. */
    pm_drain(&f->map);
    __atomic_store_n(&f->share.reader->saves[w->save].active, 0, __ATOMIC_RELEASE);
    nvshare_unlock_range(f, w->stripes);
    __atomic_and_fetch(&f->share.saves_busy, ~(1u << w->save), __ATOMIC_RELEASE);
}

/* ---- joining -------------------------------------------------------------- */

static bool lanes_empty(struct nvshare_block *b)
{
    long inside = 0;
    for (int i = 0; i < SHARE_LANES; i++)
        inside += __atomic_load_n(&b->lanes[i].inside, __ATOMIC_SEQ_CST);
    return inside == 0;
}

static bool wait_lanes(struct nvshare_block *b)
{
    for (int waited = 0; waited < JOIN_PATIENCE * 10; waited++) {
        if (lanes_empty(b))
            return true;
        nv_nap(100 * 1000);
    }
    return false;
}

/* The server's epoch has redo records, or committed ones wait to go home:
 * home bytes are not the file's, and a shared file logs with undo. */
static bool redo_pending(const struct share_state *s)
{
    return s->redo_live ||
           (s->has_log && s->log.state.applied_epoch < s->log.state.committed_epoch);
}

/* Lock held, file not shared yet: raise the flag and wait for the server's
 * calls in flight; false (flag down again) when they do not end, or when
 * they left redo records behind. */
static bool make_shared(struct nvfile *f)
{
    struct nvshare_block *b = f->share.block;
    /* The reader slots and range locks, unused until now (a spare block
     * may hold those of a file it served before). */
    if (reach_through(f, BLOCK_SHARED, true) < 0)
        return false;
    memset(b->readers, 0, sizeof(b->readers));
    if (init_mutexes(&b->stripes[0].lock, sizeof(b->stripes[0]), NVLOCK_STRIPES))
        return false;
    __atomic_store_n(&b->shared, 1, __ATOMIC_SEQ_CST);
    if (wait_lanes(b) && !redo_pending(current_state(b)))
        return true;
    __atomic_store_n(&b->shared, 0, __ATOMIC_SEQ_CST);
    return false;
}

/* Lock held: the server's redo epoch is over, or patience ran out. Its
 * next commit goes undo and brings redo blocks home (want_undo). */
static bool wait_for_undo(struct nvfile *f)
{
    struct nvshare_block *b = f->share.block;
    for (int waited = 0; redo_pending(current_state(b)); waited++) {
        if (waited == JOIN_PATIENCE)
            return false;
        b->want_undo = 1;
        pthread_mutex_unlock(&b->lock);
        nv_nap(1000 * 1000);
        lock_block(f);
    }
    return true;
}

int nvshare_join(struct nvfile *f)
{
    struct nvshare_block *b = f->share.block;
    lock_block(f);
    if (!__atomic_load_n(&b->shared, __ATOMIC_SEQ_CST)) {
        if (!wait_for_undo(f) || !make_shared(f)) {
            b->want_undo = 1;
            pthread_mutex_unlock(&b->lock);
            return -EAGAIN;
        }
        /* The server's writes in place since its last exclusive call are
         * not in its state yet: the next durability point commits anyway
         * (a file without a log has none). */
        struct share_state *st = current_state(b);
        st->dirty = st->has_log;
        st->times_stale = 1;
        __atomic_add_fetch(&b->gen, 1, __ATOMIC_SEQ_CST);
    }
    f->share.shared = true;
    claim_reader(f);
    int rc = take_state(f);
    /* Another process's stores may move the file's mtime unseen: only its
     * size tells a change behind the log's back from now on. */
    if (rc == 0 && nvlog_exists(&f->journal.log))
        nvlog_watch_suspend(&f->journal.log, true);
    pthread_mutex_unlock(&b->lock);
    return rc;
}

void nvshare_new_log(struct nvfile *f)
{
    if (f->share.block)
        f->share.log_serial = current_state(f->share.block)->log_serial + 1;
}

bool nvshare_wants_undo(const struct nvfile *f)
{
    return f->share.block && (f->share.shared || f->share.block->want_undo);
}
