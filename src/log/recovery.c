/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * recovery.c - rolling back, replaying and checkpointing (see recovery.h).
 */
#include "log/recovery.h"

#include <errno.h>
#include <stddef.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "log/txrecord.h"
#include "mutants.h"
#include "os/critical.h"
#include "os/sys.h"

struct apply_ctx {
    struct pm_map *data;
    uint64_t data_size;
    uint64_t committed; /* committed epoch */
    uint64_t applied;   /* applied epoch */
    bool undo;          /* roll back undo records of the open epoch */
    uint64_t undone, redone;
    uint64_t extent;     /* end of the furthest record that matters, in the file */
    bool measure_only;   /* check the records that matter and measure them */
    uint64_t records[2]; /* undo and redo records walked while measuring */
    const char *why;     /* the first record that failed its check */
    uint64_t bad_offset;
    struct nvlog *log;   /* checkpoint: the log walked, and */
    struct nvidx *index; /* the index whose entries go with the records */
};

static bool record_matters(const struct apply_ctx *c, const struct nvlog_record *r)
{
    if (r->kind == NVLOG_UNDO)
        return c->undo && r->epoch > c->committed;
    return r->epoch > c->applied && r->epoch <= c->committed;
}

static int apply_record(void *arg, const struct nvlog_record *r, const char *data)
{
    struct apply_ctx *c = arg;
    if (c->measure_only)
        c->records[r->kind == NVLOG_UNDO ? 0 : 1]++;
    if (!record_matters(c, r))
        return 0;
    if (c->index)
        nvidx_drop_redo(c->index, r->file_offset, (uint64_t)((const char *)r - c->log->map.base));
    if (c->measure_only) {
        if (!nvlog_record_data_valid(r, data)) {
            c->why = "a record's data fails its checksum";
            c->bad_offset = (uint64_t)((const char *)r - c->log->map.base);
            return 1;
        }
        if (r->kind == NVLOG_UNDO)
            c->undone++;
        else
            c->redone++;
        uint64_t end = r->file_offset + r->data_len;
        if (end > c->data_size)
            end = c->data_size;
        if (end > c->extent)
            c->extent = end;
        return 0;
    }
    /* A redo record goes home by the bytes its epoch wrote. */
    uint64_t lo = NVLOG_WRITTEN_LO(r->written), hi = NVLOG_WRITTEN_HI(r->written);
    if (r->kind != NVLOG_REDO || lo >= hi || hi > r->data_len) {
        lo = 0; /* undo, all of it (0), or out of bounds: the whole record */
        hi = r->data_len;
    }
    uint64_t at = r->file_offset + lo;
    if (at >= c->data_size)
        return 0;
    uint64_t n = hi - lo;
    if (n > c->data_size - at)
        n = c->data_size - at;
    pm_copy(c->data, at, data + lo, n);
    if (r->kind == NVLOG_UNDO)
        c->undone++;
    else
        c->redone++;
    return 0;
}

/* Checks every record recovery would apply, before it applies any, and
 * measures how far into the file they reach. 0 or -EBADMSG. */
static int check_records(struct nvlog *log, struct apply_ctx *c)
{
    struct nvlog_rec end;
    if (nvlog_walk(log, NVLOG_HEADER_SIZE, 0, log->size, apply_record, c, &end))
        return -EBADMSG;
    if (end.index < log->state.records) {
        /* The commit counts records that the scan did not reach. */
        c->why = "a committed record's header fails its checks";
        c->bad_offset = end.off;
        return -EBADMSG;
    }
    return 0;
}

/* Rolls back and replays the records that matter: every one passed
 * check_records. */
static int apply_records(struct nvlog *log, int data_fd, struct apply_ctx *c)
{
    struct pm_map data;
    int rc = pm_map_file(data_fd, 1, c->extent, &data);
    if (rc < 0)
        return rc;
    c->data = &data;
    c->measure_only = false;
    c->undone = c->redone = 0;
    nvlog_walk(log, NVLOG_HEADER_SIZE, 0, log->size, apply_record, c, NULL);
    if (MUTANT(9)) /* the records are retired before the replay is durable */
        nvlog_commit(log, log->state.committed_epoch, log->state.committed_epoch,
                     log->state.committed_size, true);
    rc = pm_drain(&data);
    pm_unmap(&data);
    return rc;
}

/* ---- the watch --------------------------------------------------------- */

static uint8_t boot_id_bytes[16];
static bool boot_id_known;
static pthread_once_t boot_id_once = PTHREAD_ONCE_INIT;

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void read_boot_id(void)
{
    char text[40];
    int fd = sys_openat(AT_FDCWD, "/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return;
    long n = sys_pread(fd, text, sizeof(text), 0);
    sys_close(fd);
    int nibbles = 0;
    for (long i = 0; i < n && nibbles < 32; i++) {
        int d = hex_digit(text[i]);
        if (d >= 0)
            boot_id_bytes[nibbles / 2] |= (uint8_t)(d << (nibbles % 2 ? 0 : 4));
        nibbles += d >= 0;
    }
    boot_id_known = nibbles == 32;
}

/* The kernel's boot id. Only entries written in this boot are compared: a
 * machine crash may have lost the file's last size and times with its file
 * system's journal. False when it cannot be read. */
static bool boot_id(uint8_t id[16])
{
    pthread_once(&boot_id_once, read_boot_id);
    memcpy(id, boot_id_bytes, sizeof(boot_id_bytes));
    return boot_id_known;
}

/* Whether the line of /proc/self/mountinfo in line[0, n) is the mount of
 * device `dev` with huge pages (its super options, after " - TYPE SOURCE "). */
static int mount_line_huge(char *line, size_t n, const char *dev)
{
    line[n] = '\0';
    const char *sep = strstr(line, " - ");
    if (!strstr(line, dev) || !sep || strstr(line, dev) > sep)
        return -1;
    const char *opts = strrchr(sep, ' ');
    const char *huge = opts ? strstr(opts, "huge=") : NULL;
    return huge && strncmp(huge, "huge=never", 10) != 0;
}

/* Whether tmpfs pages of device dev may come in huge pages, which the
 * kernel's khugepaged may collapse from small ones (mapped again by the
 * next fault). True when it cannot tell. */
static bool huge_tmpfs(dev_t dev)
{
    char buf[4096], id[32];
    if (sys_read_small("/sys/kernel/mm/transparent_hugepage/shmem_enabled", buf, sizeof(buf))) {
        if (strstr(buf, "[force]"))
            return true;
        if (strstr(buf, "[deny]"))
            return false;
    }
    snprintf(id, sizeof(id), " %u:%u ", major(dev), minor(dev));
    int fd = sys_openat(AT_FDCWD, "/proc/self/mountinfo", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return true;
    int found = -1;
    size_t have = 0;
    for (off_t off = 0; found < 0;) {
        long n = sys_pread(fd, buf + have, sizeof(buf) - 1 - have, off);
        if (n <= 0)
            break;
        off += n;
        have += (size_t)n;
        char *line = buf, *end;
        while (found < 0 && (end = memchr(line, '\n', have - (size_t)(line - buf)))) {
            found = mount_line_huge(line, (size_t)(end - line), id);
            line = end + 1;
        }
        have -= (size_t)(line - buf);
        memmove(buf, line, have);
        if (have == sizeof(buf) - 1) /* a line longer than the buffer */
            break;
    }
    sys_close(fd);
    return found != 0;
}

/* Whether the data file open as fd, on device dev, is on a tmpfs without
 * huge pages, asked once per device: reading the mount table costs more
 * than the rest of making a log. A remount that changes `huge=` is seen by
 * the next process. */
static bool plain_tmpfs_cached(int fd, dev_t dev)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static struct {
        dev_t dev;
        bool plain;
    } known[16];
    static unsigned nknown;
    nv_mutex_lock(&lock);
    for (unsigned i = 0; i < nknown && i < 16; i++) {
        if (known[i].dev == dev) {
            bool plain = known[i].plain;
            nv_mutex_unlock(&lock);
            return plain;
        }
    }
    nv_mutex_unlock(&lock);
    struct statfs fs;
    if (sys_fstatfs(fd, &fs) < 0)
        return false;
    bool plain = fs.f_type == TMPFS_MAGIC && !huge_tmpfs(dev);
    nv_mutex_lock(&lock);
    known[nknown++ % 16] = (typeof(known[0])){dev, plain};
    nv_mutex_unlock(&lock);
    return plain;
}

/* Whether the machine has no swap, asked at most once a second: swap
 * turned on since makes recovery, which asks again (changed_behind), trust
 * the size only. */
static bool no_swap(void)
{
    static struct {
        int64_t asked_sec; /* CLOCK_MONOTONIC_COARSE; 0: never */
        bool none;
    } swap;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    if (__atomic_load_n(&swap.asked_sec, __ATOMIC_ACQUIRE) != (int64_t)now.tv_sec) {
        struct sysinfo si;
        __atomic_store_n(&swap.none, sys_sysinfo(&si) == 0 && si.totalswap == 0, __ATOMIC_RELAXED);
        __atomic_store_n(&swap.asked_sec, (int64_t)now.tv_sec, __ATOMIC_RELEASE);
    }
    return __atomic_load_n(&swap.none, __ATOMIC_RELAXED);
}

/* A page of tmpfs, once mapped into a shared mapping, stays writable there
 * and takes stores without a fault; a fault for writing moves the file's
 * mtime. Other file systems (DAX ones included) write-protect pages again
 * when they write back; swap unmaps tmpfs pages, and so does khugepaged
 * when it collapses them into a huge page. */
static bool stores_keep_mtime(int fd, dev_t dev)
{
    return plain_tmpfs_cached(fd, dev) && no_swap();
}

/* The current entry: the copy this process keeps, unless another process
 * sharing the log wrote a later one since (a higher seq in either slot,
 * read without its checksum: a torn one only costs the full look). */
static const struct nvlog_watch *watch_now(const struct nvlog *log)
{
    if (log->watch_cached) {
        const char *base = log->map.base;
        uint64_t a = __atomic_load_n(
            (const uint64_t *)(base + nvlog_watch_offset(0) + offsetof(struct nvlog_watch, seq)),
            __ATOMIC_RELAXED);
        uint64_t b = __atomic_load_n(
            (const uint64_t *)(base + nvlog_watch_offset(1) + offsetof(struct nvlog_watch, seq)),
            __ATOMIC_RELAXED);
        if (a <= log->watch.seq && b <= log->watch.seq)
            return log->watch.magic ? &log->watch : NULL;
    }
    return nvlog_watch_current(log->map.base);
}

/* Writes w as the next entry. A kill needs only the store; it is persisted
 * too, so no durability point leaves a line of the log unflushed. */
static int watch_write(struct nvlog *log, struct nvlog_watch *w)
{
    const struct nvlog_watch *cur = watch_now(log);
    w->seq = cur ? cur->seq + 1 : 1;
    nvlog_watch_seal(w);
    size_t off = nvlog_watch_offset(w->seq);
    memcpy(log->map.base + off, w, sizeof(*w));
    log->watch = *w;
    log->watch_cached = true;
    return pm_persist(&log->map, off, sizeof(*w));
}

int nvlog_watch_record(struct nvlog *log, int data_fd, enum nvlog_mtime mtime, const uint64_t *size)
{
    if (!nvlog_exists(log))
        return 0;
    const struct nvlog_watch *cur = watch_now(log);
    struct nvlog_watch w = {.flags = cur ? cur->flags & NVLOG_WATCH_MTIME_LOST : 0};
    /* The size alone needs no look at the file when the caller knows it;
     * the first entry asks the file system what it may vouch for. */
    struct statx stx = {.stx_size = size ? *size : 0};
    int rc = size && cur && mtime != NVLOG_MTIME_STEADY
                 ? 0
                 : sys_statx(data_fd, "", AT_EMPTY_PATH, STATX_SIZE | STATX_MTIME, &stx);
    if (rc < 0)
        return rc;
    if (!boot_id(w.boot_id))
        return 0;
    w.size = stx.stx_size;
    w.mtime_sec = stx.stx_mtime.tv_sec;
    w.mtime_nsec = stx.stx_mtime.tv_nsec;
    w.flags |= NVLOG_WATCH_SIZE;
    /* The file system is asked once per log; a later record keeps its answer. */
    if (mtime == NVLOG_MTIME_NEVER ||
        (!cur && !stores_keep_mtime(data_fd, makedev(stx.stx_dev_major, stx.stx_dev_minor))))
        w.flags |= NVLOG_WATCH_MTIME_LOST;
    else if (mtime == NVLOG_MTIME_STEADY && !(w.flags & NVLOG_WATCH_MTIME_LOST))
        w.flags |= NVLOG_WATCH_MTIME;
    rc = watch_write(log, &w);
    return rc < 0 ? rc : (w.flags & NVLOG_WATCH_MTIME) != 0;
}

void nvlog_watch_suspend(struct nvlog *log, bool for_good)
{
    if (!nvlog_exists(log))
        return;
    const struct nvlog_watch *cur = watch_now(log);
    if (!cur)
        return;
    uint32_t flags =
        (cur->flags & NVLOG_WATCH_MTIME_LOST) | (for_good ? NVLOG_WATCH_MTIME_LOST : 0);
    if (cur->flags == flags)
        return;
    struct nvlog_watch w = {.flags = flags};
    /* A persist that fails leaves the entry in the mapping, which is all a
     * kill needs; entries of an earlier boot are never compared. */
    (void)watch_write(log, &w);
}

bool nvlog_watch_suspended(const struct nvlog *log)
{
    if (!nvlog_exists(log))
        return false;
    const struct nvlog_watch *cur = watch_now(log);
    return cur && !(cur->flags & (NVLOG_WATCH_SIZE | NVLOG_WATCH_MTIME));
}

bool nvlog_watch_mtime_kept(const struct nvlog *log)
{
    if (!nvlog_exists(log))
        return false;
    const struct nvlog_watch *cur = watch_now(log);
    return cur && !(cur->flags & NVLOG_WATCH_MTIME_LOST);
}

bool nvlog_watch_improvable(const struct nvlog *log)
{
    if (!nvlog_exists(log))
        return false;
    const struct nvlog_watch *cur = watch_now(log);
    return cur && (!(cur->flags & (NVLOG_WATCH_SIZE | NVLOG_WATCH_MTIME)) ||
                   !(cur->flags & (NVLOG_WATCH_MTIME | NVLOG_WATCH_MTIME_LOST)));
}

/* How the data file (status st) differs from what the log's watch saw, or
 * NULL when it does not, or the watch cannot tell. */
static const char *changed_behind(const struct nvlog *log, const struct stat *st)
{
    const struct nvlog_watch *w = watch_now(log);
    uint8_t boot[16];
    if (!w || !(w->flags & (NVLOG_WATCH_SIZE | NVLOG_WATCH_MTIME)) || !boot_id(boot) ||
        memcmp(boot, w->boot_id, sizeof(boot)) != 0)
        return NULL;
    if ((w->flags & NVLOG_WATCH_SIZE) && (uint64_t)st->st_size != w->size)
        return "another program changed its size";
    struct sysinfo si;
    if ((w->flags & NVLOG_WATCH_MTIME) &&
        (st->st_mtim.tv_sec != w->mtime_sec || (uint32_t)st->st_mtim.tv_nsec != w->mtime_nsec) &&
        sys_sysinfo(&si) == 0 && si.totalswap == 0)
        return "another program wrote it";
    return NULL;
}

/* Renames the log NAME.aside-TIMESTAMP (UTC), durably, so it is never
 * applied and stays for whoever wants to see what it held. */
static int keep_aside(int dirfd, const char *name, struct nvlog_recovery *out)
{
    struct timespec now;
    struct tm tm;
    char stamp[32];
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
    if (snprintf(out->aside, sizeof(out->aside), "%s.aside-%s.%09ldZ", name, stamp, now.tv_nsec) >=
        (int)sizeof(out->aside))
        return -ENAMETOOLONG;
    int rc = sys_renameat(dirfd, name, dirfd, out->aside);
    return rc < 0 ? rc : sys_fsync(dirfd);
}

/* The log names the file it belongs to: the same device and inode number
 * with another birth time is an earlier file that died with a log left
 * behind (stale, removed); another inode is a log that was moved or planted
 * under this name (refused). */
static bool belongs_elsewhere(const struct nvlog *log, const struct nvlog_identity *id)
{
    return log->state.id.dev != id->dev || log->state.id.ino != id->ino;
}

/* Checks an attached log against the data file (identity, st: its status)
 * and checks every record recovery would apply, counting them in out and
 * c. 0, 1 when the log is stale, 2 when the file changed behind its back
 * (out->changed), or -EBADMSG with out->why. */
static int examine(struct nvlog *log, const struct nvlog_identity *id, const struct stat *st,
                   struct apply_ctx *c, struct nvlog_recovery *out)
{
    out->had_log = true;
    if (belongs_elsewhere(log, id)) {
        out->why = "it belongs to another file";
        return -EBADMSG;
    }
    if (!nvlog_identity_equal(&log->state.id, id)) {
        out->stale = true;
        return 1;
    }
    /* mutant 14: the watch is ignored */
    const char *changed = MUTANT(14) ? NULL : changed_behind(log, st);
    uint64_t size = log->state.committed_size;
    if (size > (uint64_t)INT64_MAX) {
        out->why = "its committed size is out of range";
        return -EBADMSG;
    }
    *c = (struct apply_ctx){
        .data_size = (uint64_t)st->st_size > size ? (uint64_t)st->st_size : size,
        .committed = log->state.committed_epoch,
        .applied = log->state.applied_epoch,
        .undo = true,
        .measure_only = true,
        .log = log,
    };
    int rc = check_records(log, c);
    if (changed && rc == 0 && c->records[0] + c->records[1] == 0 && size == watch_now(log)->size) {
        /* Not a record since the library last left the file as committed:
         * the log knew nothing but that file (one another process left
         * after publishing it, for one), so it has nothing to keep and goes
         * as a stale one does. */
        out->emptied = true;
        return 1;
    }
    if (changed) {
        out->why = changed;
        out->changed = true;
        return 2;
    }
    out->size = size;
    out->undone = c->undone;
    out->redone = c->redone;
    out->logged[0] = c->records[0];
    out->logged[1] = c->records[1];
    if (rc < 0) {
        out->why = c->why;
        out->bad_offset = c->bad_offset;
    }
    return rc;
}

int nvlog_recover(int dirfd, const char *name, int data_fd, const struct nvlog_identity *id,
                  uid_t owner, struct nvlog_recovery *out)
{
    memset(out, 0, sizeof(*out));
    struct nvlog log;
    nvlog_init(&log);
    int rc = nvlog_attach(&log, dirfd, name, owner, &out->why);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    struct stat st;
    rc = sys_fstat(data_fd, &st);
    struct apply_ctx c;
    if (rc == 0)
        rc = examine(&log, id, &st, &c, out);
    /* A transaction's record may commit the open epoch (txrecord.h). */
    if (rc == 0 && !MUTANT(16)) { /* mutant 16: the record is not consulted */
        rc = nvtxrec_complete(dirfd, &log, owner);
        if (rc > 0)
            rc = examine(&log, id, &st, &c, out);
    }
    if (rc == 1) {
        nvlog_close(&log);
        return sys_unlinkat(dirfd, name, 0);
    }
    if (rc == 2) {
        nvlog_close(&log);
        return keep_aside(dirfd, name, out);
    }
    if (rc < 0)
        goto out;
    /* Recovery changes the file next: a crash during it leaves a log to be
     * applied again, not one that finds its file changed. */
    nvlog_watch_suspend(&log, true);
    uint64_t size = out->size;
    /* Committed bytes may lie past the file's end (the file was shortened
     * behind the library's back): grow it first so none is clipped. */
    if ((uint64_t)st.st_size < size) {
        rc = sys_ftruncate(data_fd, (off_t)size);
        if (rc < 0)
            goto out;
        st.st_size = (off_t)size;
    }
    if (c.extent > 0) {
        rc = apply_records(&log, data_fd, &c);
        if (rc < 0)
            goto out;
    }
    if (!MUTANT(10) && (uint64_t)st.st_size != size) { /* mutant 10: the size is not restored */
        rc = sys_ftruncate(data_fd, (off_t)size);
        if (rc < 0)
            goto out;
    }
    rc = sys_fsync(data_fd);
    if (rc < 0)
        goto out;
    /* Everything is home: retire every record before the log goes. */
    rc = nvlog_commit(&log, log.state.committed_epoch, log.state.committed_epoch, size, true);
    if (rc < 0)
        goto out;
    out->undone = c.undone;
    out->redone = c.redone;
    nvlog_close(&log);
    return sys_unlinkat(dirfd, name, 0);
out:
    nvlog_close(&log);
    return rc;
}

int nvlog_inspect(int dirfd, const char *name, const struct stat *data_st,
                  const struct nvlog_identity *id, uid_t owner, struct nvlog_recovery *out,
                  struct nvlog_slot *state)
{
    memset(out, 0, sizeof(*out));
    struct nvlog log;
    nvlog_init(&log);
    int rc = nvlog_attach_readonly(&log, dirfd, name, owner, &out->why);
    if (rc == -ENOENT)
        return 0;
    if (rc < 0)
        return rc;
    /* As recovery would, the epoch a transaction's record commits counts
     * as committed. */
    struct nvtxrec_entry e;
    if (!MUTANT(16) && nvtxrec_find(dirfd, &log.state, owner, &e) > 0)
        nvtxrec_apply(&log.state, &e);
    *state = log.state;
    struct apply_ctx c;
    rc = examine(&log, id, data_st, &c, out);
    nvlog_close(&log);
    return rc < 0 ? rc : 0;
}

long nvlog_roll_back(struct nvlog *log, struct pm_map *data, uint64_t data_size)
{
    uint64_t committed = log->state.committed_epoch;
    struct apply_ctx c = {
        .data = data,
        .data_size = data_size,
        .committed = committed,
        .applied = committed,
        .undo = true,
        .log = log,
    };
    nvlog_walk(log, log->open_from, log->open_index, log->tail, apply_record, &c, NULL);
    int rc = pm_drain(data);
    return rc < 0 ? rc : (long)c.undone;
}

static int find_open_epoch(void *arg, const struct nvlog_record *r, const char *data)
{
    (void)data;
    struct apply_ctx *c = arg;
    return r->epoch > c->committed;
}

long nvlog_checkpoint(struct nvlog *log, struct pm_map *data, uint64_t data_size,
                      struct nvidx *index)
{
    uint64_t committed = log->state.committed_epoch;
    if (log->state.applied_epoch >= committed)
        return 0;
    struct apply_ctx c = {
        .data = data,
        .data_size = data_size,
        .committed = committed,
        .applied = log->state.applied_epoch,
        .log = log,
        .index = index,
    };
    if (MUTANT(3)) /* the checkpoint commits before its data is home */
        nvlog_commit(log, committed, committed, log->state.committed_size, false);
    nvlog_walk(log, log->live_from, log->live_from_index, log->tail, apply_record, &c, NULL);
    int rc = MUTANT(5) ? 0 : pm_drain(data); /* mutant 5: no drain after the copies */
    if (rc < 0)
        return rc;
    /* Records from the first one of an uncommitted epoch on stay live. */
    struct nvlog_rec open_from;
    nvlog_walk(log, log->live_from, log->live_from_index, log->tail, find_open_epoch, &c,
               &open_from);
    bool empty = open_from.off >= log->tail;
    rc = nvlog_commit(log, committed, committed, log->state.committed_size, empty);
    if (rc < 0)
        return rc;
    if (!empty) {
        log->live_from = open_from.off;
        log->live_from_index = open_from.index;
    }
    return (long)c.redone;
}
