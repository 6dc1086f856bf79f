/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mpdiff.c - multi-process differential tester for libnvmmio.
 *
 * A coordinator runs two groups of W worker processes (this program again,
 * started with --worker) over the same few files of one directory each:
 * the managed group in the pmem root, where the first L workers run with
 * libnvmmio preloaded and the others without it, and the reference group
 * in a plain directory, every worker without the library. One seeded
 * schedule says which worker makes which operation next; the workers take
 * turns (the coordinator hands a token to one worker at a time through a
 * pipe), and every operation runs under whole-file fcntl F_SETLKW locks
 * (lock, operation, unlock), the points where the contract makes a library
 * process publish its writes to the kernel and take in other processes'.
 * Each operation runs first in the reference group's worker, which picks
 * the parameters from the state of its plain files, then with exactly those
 * parameters in the managed group's worker of the same number; every call's
 * return value and errno (the locks' too) and every byte read are compared.
 * Every VERIFY_EVERY operations one worker (in turn) reads every file whole
 * under a lock and the two groups' chunk hashes and sizes are compared; at
 * the end each worker closes its descriptors, each reads every file, the
 * workers exit (a durability point) and the coordinator compares both
 * directories, names, sizes and bytes, through the kernel.
 *
 * Operations (a worker keeps its descriptors across operations): open
 * (O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_SYNC, O_DSYNC), close, read,
 * write, pread, pwrite, lseek, ftruncate, truncate, fsync, fdatasync,
 * fstat (size), stat, unlink, rename, readv, writev, preadv, pwritev,
 * preadv2, pwritev2 (RWF_* flags), dup, fcntl F_GETFL/F_SETFL (O_APPEND,
 * O_NONBLOCK), fallocate (modes 0, KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE and
 * unsupported ones), posix_fallocate, copy_file_range between two of the
 * worker's descriptors, and the program's own mappings: mapped reads and
 * mapped writes (mmap, stores, msync MS_SYNC/MS_ASYNC/none, munmap, a range
 * past the end added with ftruncate first), all inside one operation.
 *
 * Left out of difftest's set, since across processes they cannot be
 * compared deterministically or are not about sharing: mappings kept
 * across operations (what another process's later writes look like in
 * them is the page cache's business, not a published state the contract
 * names), stdio streams (their buffers hold bytes across the lock
 * boundaries, so what they show is the C library's buffering), fork (the
 * workers already are separate processes; difftest covers children),
 * sendfile (its result within one file depends on the kernel's chunking),
 * lseek SEEK_DATA/SEEK_HOLE (where data lies is the file system's choice),
 * dup2/dup3 and stale descriptor numbers (the numbers a preloaded library
 * leaves free differ from a plain process's; closed slots use -1).
 *
 *   nvmmio_mpdiff --seed S --ops N --workers W --lib-workers L
 *                 --managed DIR_A --plain DIR_B [--preload LIBS]
 *                 [--max-file-mb M] [--trace] [--no-OP ...]
 *
 * --no-OP leaves out one kind of operation (OP as named in ops[], e.g.
 * --no-mmap), for narrowing a mismatch down; the CTest runs use none.
 * LIBS is the LD_PRELOAD value of the first L workers of the managed group
 * (none when empty); the coordinator itself must run without the library.
 * NVMMIO_* variables in the environment reach every worker. Exit status: 0
 * all agreed, 1 first mismatch (reported on stdout with the replay command),
 * 2 usage or setup error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/falloc.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "oppick.h"

#define NFILES       4          /* pool of file names */
#define NSLOTS       8          /* descriptor slots per worker */
#define MAX_WORKERS  8          /* per group */
#define MAX_IO       (1 * MIB)  /* largest single read or write */
#define COPY_MAX     (1 * MIB)  /* bytes of one copy_file_range */
#define MMAP_MAX     (1 * MIB)  /* length of one mmap */
#define DATA_MIN     (2 * MIB)  /* data area of the shared page: reads */
#define VERIFY_EVERY 5000       /* ops between whole-file comparisons */
#define VERIFY_CHUNK (64 * KIB) /* bytes per hash of a whole-file read */
#define MAX_CALLS    24         /* calls recorded per operation */
#define DESC_LEN     256
#define HIST         16     /* recent operations shown on a mismatch */
#define HANG_MS      120000 /* a worker silent this long is stuck */

enum { MANAGED = 0, PLAIN = 1, NGROUPS }; /* PLAIN is the reference group */
static const char *const group_name[NGROUPS] = {"managed", "plain"};

/* The parameters of one operation, chosen by the reference worker. */
struct args {
    int slot, slot2, name, name2;
    int flags;   /* open flags, F_SETFL value, RWF_* flags, fallocate mode */
    int how;     /* lseek whence, fcntl command, msync kind, dup kind */
    int closing; /* a slot is closed first to make room (open, dup) */
    bool use_in, use_out, read_back;
    long long off, len, off2, moff, mlen;
    struct vec v;
    long long cut[NFILES]; /* shrink: new lengths, -1 for none */
};

/* One call's outcome as the worker saw it. */
struct call {
    char what[16];
    long long ret;
    int err; /* errno when ret < 0 */
};

/* The page a worker shares with the coordinator: the command, the
 * parameters, and the outcome (calls, then nbytes of data). */
struct shared {
    long long op;
    int kind;
    bool pick; /* choose the parameters (reference) or take them as given */
    uint64_t opseed;
    struct args a;
    char desc[DESC_LEN];
    int ncalls;
    struct call calls[MAX_CALLS];
    long long nbytes;
    unsigned char data[];
};

/* ================================================================ worker */

struct slot {
    bool open;
    int fd;
    int flags; /* open flags, O_APPEND kept up to date through F_SETFL */
    int name;  /* pool index the slot was opened with */
    int desc;  /* open file description: slots made by dup share it */
};

struct worker {
    int id;
    uint64_t seed;
    struct pick pk;
    long long verify_max; /* bytes of a file a whole-file read covers */
    char path[NFILES][PATH_MAX];
    struct slot slots[NSLOTS];
    int next_desc;
    struct shared *sh;
    unsigned char *wbuf;
};

static void set_desc(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_desc(struct worker *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->sh->desc, DESC_LEN, fmt, ap);
    va_end(ap);
}

static void record(struct worker *w, const char *what, long long ret, int err)
{
    struct shared *sh = w->sh;
    if (sh->ncalls < MAX_CALLS) {
        struct call *cl = &sh->calls[sh->ncalls];
        snprintf(cl->what, sizeof(cl->what), "%s", what);
        cl->ret = ret;
        cl->err = ret < 0 ? err : 0;
    }
    sh->ncalls++;
}

/* Runs one call, records its result and errno, and yields the result. */
#define DO(w, what, expr)                                                                          \
    ({                                                                                             \
        errno = 0;                                                                                 \
        long long r_ = (long long)(expr);                                                          \
        record(w, what, r_, errno);                                                                \
        r_;                                                                                        \
    })

/* The descriptor of a slot; -1 (EBADF) for a closed one. */
static int fd_of(struct worker *w, int s)
{
    return w->slots[s].open ? w->slots[s].fd : -1;
}

static bool slot_readable(const struct slot *s)
{
    return s->open && (s->flags & O_ACCMODE) != O_WRONLY;
}

static bool slot_writable(const struct slot *s)
{
    return s->open && (s->flags & O_ACCMODE) != O_RDONLY;
}

static const char *flags_str(int flags, char *buf, size_t n)
{
    const char *acc = (flags & O_ACCMODE) == O_RDONLY   ? "O_RDONLY"
                      : (flags & O_ACCMODE) == O_WRONLY ? "O_WRONLY"
                                                        : "O_RDWR";
    snprintf(buf, n, "%s%s%s%s%s%s%s", acc, flags & O_CREAT ? "|O_CREAT" : "",
             flags & O_EXCL ? "|O_EXCL" : "", flags & O_TRUNC ? "|O_TRUNC" : "",
             flags & O_APPEND ? "|O_APPEND" : "",
             (flags & O_SYNC) == O_SYNC ? "|O_SYNC"
             : flags & O_DSYNC          ? "|O_DSYNC"
                                        : "",
             flags & O_NONBLOCK ? "|O_NONBLOCK" : "");
    return buf;
}

static const char *slot_str(struct worker *w, int s, char *buf, size_t n)
{
    struct slot *sl = &w->slots[s];
    char f[96];
    if (sl->open)
        snprintf(buf, n, "slot=%d(f%d d%d %s)", s, sl->name, sl->desc,
                 flags_str(sl->flags, f, sizeof(f)));
    else
        snprintf(buf, n, "slot=%d(closed)", s);
    return buf;
}

/* ------------------------------------------------------------- locking */

static int setlk(int fd, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    return fcntl(fd, F_SETLKW, &fl);
}

/* A whole-file lock on a slot's file: a write lock where the descriptor
 * can write, a read lock where it can only read (F_WRLCK needs a writable
 * descriptor). The coordinator's turns already order the operations; the
 * locks are the coherence points. */
static void lock_slot(struct worker *w, int s)
{
    struct slot *sl = &w->slots[s];
    DO(w, "lock", setlk(fd_of(w, s), slot_writable(sl) ? F_WRLCK : F_RDLCK));
}

static void unlock_slot(struct worker *w, int s)
{
    DO(w, "unlock", setlk(fd_of(w, s), F_UNLCK));
}

/* Path operations lock every file the worker holds open. */
static void lock_all(struct worker *w)
{
    for (int s = 0; s < NSLOTS; s++)
        if (w->slots[s].open)
            lock_slot(w, s);
}

static void unlock_all(struct worker *w)
{
    for (int s = 0; s < NSLOTS; s++)
        if (w->slots[s].open)
            unlock_slot(w, s);
}

/* --------------------------------------------------- the plain side's state */

/* Mostly an open slot; sometimes any slot (closed ones give EBADF). */
static int pick_slot(struct worker *w)
{
    int open[NSLOTS], n = 0;
    for (int i = 0; i < NSLOTS; i++)
        if (w->slots[i].open)
            open[n++] = i;
    if (n > 0 && !chance(&w->pk, 80))
        return open[rnd(&w->pk, (uint64_t)n)];
    return (int)rnd(&w->pk, NSLOTS);
}

/* Mostly an open slot that reads (acc O_RDONLY) or has access mode acc. */
static int pick_slot_for(struct worker *w, int acc)
{
    int fit[NSLOTS], n = 0;
    for (int i = 0; i < NSLOTS; i++) {
        struct slot *sl = &w->slots[i];
        if (acc == O_RDONLY ? slot_readable(sl) : sl->open && (sl->flags & O_ACCMODE) == acc)
            fit[n++] = i;
    }
    if (n > 0 && chance(&w->pk, 900))
        return fit[rnd(&w->pk, (uint64_t)n)];
    return pick_slot(w);
}

/* Size of the slot's file (the reference worker's plain view); 0 when
 * closed. */
static long long slot_size(struct worker *w, int s)
{
    struct stat st;
    if (!w->slots[s].open || fstat(w->slots[s].fd, &st) != 0)
        return 0;
    return (long long)st.st_size;
}

static long long slot_pos(struct worker *w, int s)
{
    if (!w->slots[s].open)
        return 0;
    return max_ll(0, (long long)lseek(w->slots[s].fd, 0, SEEK_CUR));
}

/* A free slot, or (a->closing) one to close first. */
static int pick_free_slot(struct worker *w, int keep, int *closing)
{
    int free_slots[NSLOTS], n = 0;
    for (int i = 0; i < NSLOTS; i++)
        if (!w->slots[i].open)
            free_slots[n++] = i;
    *closing = n == 0;
    if (n > 0)
        return free_slots[rnd(&w->pk, (uint64_t)n)];
    int s;
    do
        s = (int)rnd(&w->pk, NSLOTS);
    while (s == keep);
    return s;
}

static void close_slot(struct worker *w, int s)
{
    DO(w, "close", close(fd_of(w, s)));
    w->slots[s].open = false;
    w->slots[s].fd = -1;
}

/* ------------------------------------------------------------ operations */

static void op_open(struct worker *w, struct args *a, bool pick)
{
    char fb[96];
    if (pick) {
        struct pick *p = &w->pk;
        a->slot = pick_free_slot(w, -1, &a->closing);
        a->name = (int)rnd(p, NFILES);
        unsigned k = (unsigned)rnd(p, 8);
        int flags = k < 2 ? O_RDONLY : k < 4 ? O_WRONLY : O_RDWR;
        if (chance(p, 700))
            flags |= O_CREAT;
        if ((flags & O_CREAT) && chance(p, 40))
            flags |= O_EXCL;
        if (chance(p, 100))
            flags |= O_TRUNC;
        if (chance(p, 350))
            flags |= O_APPEND;
        k = (unsigned)rnd(p, 100);
        if (k < 4)
            flags |= O_SYNC;
        else if (k < 8)
            flags |= O_DSYNC;
        a->flags = flags;
    }
    set_desc(w, "open f%d %s -> slot=%d%s", a->name, flags_str(a->flags, fb, sizeof(fb)), a->slot,
             a->closing ? " (closing it first)" : "");
    lock_all(w);
    if (a->closing)
        close_slot(w, a->slot);
    errno = 0;
    int fd = open(w->path[a->name], a->flags, 0644);
    record(w, "open", fd < 0 ? -1 : 0, errno); /* numbers may differ: success */
    if (fd >= 0) {
        struct slot *sl = &w->slots[a->slot];
        sl->open = true;
        sl->fd = fd;
        sl->flags = a->flags;
        sl->name = a->name;
        sl->desc = w->next_desc++;
        lock_slot(w, a->slot);
    }
    unlock_all(w);
}

static void op_close(struct worker *w, struct args *a, bool pick)
{
    char sb[128];
    if (pick)
        a->slot = pick_slot(w);
    set_desc(w, "close %s", slot_str(w, a->slot, sb, sizeof(sb)));
    lock_slot(w, a->slot);
    close_slot(w, a->slot);
}

/* Runs body between a lock and an unlock of slot s's file. */
#define LOCKED(w, s, body)                                                                         \
    do {                                                                                           \
        lock_slot(w, s);                                                                           \
        body;                                                                                      \
        unlock_slot(w, s);                                                                         \
    } while (0)

static void op_write(struct worker *w, struct args *a, bool pick)
{
    char sb[128];
    if (pick) {
        a->slot = pick_slot(w);
        struct slot *sl = &w->slots[a->slot];
        a->len = pick_len(&w->pk);
        if (slot_writable(sl)) {
            long long at = (sl->flags & O_APPEND) ? slot_size(w, a->slot) : slot_pos(w, a->slot);
            a->len = bound_len(&w->pk, at, min_ll(a->len, w->pk.max_file));
        }
    }
    set_desc(w, "write %s len=%lld", slot_str(w, a->slot, sb, sizeof(sb)), a->len);
    fill_bytes(w->wbuf, a->len, w->seed, w->sh->op, 0);
    LOCKED(w, a->slot, DO(w, "write", write(fd_of(w, a->slot), w->wbuf, (size_t)a->len)));
}

static void op_pwrite(struct worker *w, struct args *a, bool pick)
{
    char sb[128];
    if (pick) {
        a->slot = pick_slot(w);
        struct slot *sl = &w->slots[a->slot];
        long long size = slot_size(w, a->slot);
        a->len = pick_len(&w->pk);
        pick_write(&w->pk, size, &a->off, &a->len);
        if (slot_writable(sl) && (sl->flags & O_APPEND))
            a->len = bound_len(&w->pk, size, a->len); /* Linux appends, ignoring off */
    }
    set_desc(w, "pwrite %s off=%lld len=%lld", slot_str(w, a->slot, sb, sizeof(sb)), a->off,
             a->len);
    fill_bytes(w->wbuf, a->len, w->seed, w->sh->op, 0);
    LOCKED(w, a->slot, DO(w, "pwrite", pwrite(fd_of(w, a->slot), w->wbuf, (size_t)a->len, a->off)));
}

/* Keeps the bytes a read returned for the comparison. */
static void keep_read(struct worker *w, long long got)
{
    w->sh->nbytes = max_ll(got, 0);
}

static void op_read(struct worker *w, struct args *a, bool pick)
{
    char sb[128];
    if (pick) {
        a->slot = pick_slot(w);
        a->len = pick_len(&w->pk);
    }
    set_desc(w, "read %s len=%lld", slot_str(w, a->slot, sb, sizeof(sb)), a->len);
    LOCKED(w, a->slot,
           keep_read(w, DO(w, "read", read(fd_of(w, a->slot), w->sh->data, (size_t)a->len))));
}

static void op_pread(struct worker *w, struct args *a, bool pick)
{
    char sb[128];
    if (pick) {
        a->slot = pick_slot(w);
        a->len = pick_len(&w->pk);
        a->off = pick_read_off(&w->pk, slot_size(w, a->slot), a->len);
    }
    set_desc(w, "pread %s off=%lld len=%lld", slot_str(w, a->slot, sb, sizeof(sb)), a->off, a->len);
    LOCKED(w, a->slot,
           keep_read(
               w, DO(w, "pread", pread(fd_of(w, a->slot), w->sh->data, (size_t)a->len, a->off))));
}

static void op_lseek(struct worker *w, struct args *a, bool pick)
{
    char sb[128];
    if (pick) {
        struct pick *p = &w->pk;
        a->slot = pick_slot(w);
        long long size = slot_size(w, a->slot);
        unsigned k = (unsigned)rnd(p, 100);
        if (k < 35) {
            a->how = SEEK_SET;
            a->off = rnd_range(p, 0, size + 64 * KIB);
        } else if (k < 50) {
            a->how = SEEK_CUR;
            a->off = rnd_range(p, -64 * KIB, 64 * KIB); /* may go negative: EINVAL */
        } else if (k < 65) {
            a->how = SEEK_END;
            a->off = rnd_range(p, -(min_ll(size, MIB) + PAGE), 64 * KIB);
        } else if (k < 70) {
            a->how = SEEK_SET;
            a->off = -rnd_range(p, 1, MIB);
        } else if (k < 75) {
            /* bad whence: EINVAL (SEEK_DATA and SEEK_HOLE are left out:
             * where they find data is the file system's choice) */
            a->how = k < 72 ? 5 : 100;
            a->off = rnd_range(p, 0, size);
        } else if (k < 87) {
            a->how = SEEK_CUR;
            a->off = 0;
        } else {
            a->how = SEEK_END;
            a->off = 0;
        }
    }
    set_desc(w, "lseek %s off=%lld whence=%d", slot_str(w, a->slot, sb, sizeof(sb)), a->off,
             a->how);
    LOCKED(w, a->slot, DO(w, "lseek", lseek(fd_of(w, a->slot), a->off, a->how)));
}

static void op_ftruncate(struct worker *w, struct args *a, bool pick)
{
    char sb[128];
    if (pick) {
        a->slot = pick_slot(w);
        a->len = pick_trunc_len(&w->pk, slot_size(w, a->slot));
    }
    set_desc(w, "ftruncate %s len=%lld", slot_str(w, a->slot, sb, sizeof(sb)), a->len);
    LOCKED(w, a->slot, DO(w, "ftruncate", ftruncate(fd_of(w, a->slot), a->len)));
}

static long long name_size(struct worker *w, int name)
{
    struct stat st;
    return stat(w->path[name], &st) == 0 ? (long long)st.st_size : 0;
}

static void op_truncate(struct worker *w, struct args *a, bool pick)
{
    if (pick) {
        a->name = (int)rnd(&w->pk, NFILES);
        a->len = pick_trunc_len(&w->pk, name_size(w, a->name));
    }
    set_desc(w, "truncate f%d len=%lld", a->name, a->len);
    lock_all(w);
    DO(w, "truncate", truncate(w->path[a->name], a->len));
    unlock_all(w);
}

static void op_fsync(struct worker *w, struct args *a, bool pick)
{
    char sb[128];
    if (pick) {
        a->slot = pick_slot(w);
        a->how = chance(&w->pk, 500);
    }
    set_desc(w, "%s %s", a->how ? "fdatasync" : "fsync", slot_str(w, a->slot, sb, sizeof(sb)));
    if (a->how)
        LOCKED(w, a->slot, DO(w, "fdatasync", fdatasync(fd_of(w, a->slot))));
    else
        LOCKED(w, a->slot, DO(w, "fsync", fsync(fd_of(w, a->slot))));
}

static void op_fstat(struct worker *w, struct args *a, bool pick)
{
    char sb[128];
    struct stat st;
    if (pick)
        a->slot = pick_slot(w);
    set_desc(w, "fstat %s (ret: st_size)", slot_str(w, a->slot, sb, sizeof(sb)));
    LOCKED(w, a->slot,
           DO(w, "fstat", fstat(fd_of(w, a->slot), &st) == 0 ? (long long)st.st_size : -1));
}

static void op_stat(struct worker *w, struct args *a, bool pick)
{
    struct stat st;
    if (pick)
        a->name = (int)rnd(&w->pk, NFILES);
    set_desc(w, "stat f%d (ret: st_size)", a->name);
    lock_all(w);
    DO(w, "stat", stat(w->path[a->name], &st) == 0 ? (long long)st.st_size : -1);
    unlock_all(w);
}

static void op_unlink(struct worker *w, struct args *a, bool pick)
{
    if (pick)
        a->name = (int)rnd(&w->pk, NFILES);
    set_desc(w, "unlink f%d", a->name);
    lock_all(w);
    DO(w, "unlink", unlink(w->path[a->name]));
    unlock_all(w);
}

static void op_rename(struct worker *w, struct args *a, bool pick)
{
    if (pick) {
        a->name = (int)rnd(&w->pk, NFILES);
        a->name2 = (int)rnd(&w->pk, NFILES);
    }
    set_desc(w, "rename f%d -> f%d", a->name, a->name2);
    lock_all(w);
    DO(w, "rename", rename(w->path[a->name], w->path[a->name2]));
    unlock_all(w);
}

/* ---------------------------------------------------------- vectored IO */

/* Packs what a vectored read scattered into the data area, iovec by iovec,
 * up to the count it returned. */
static void keep_vec_read(struct worker *w, const struct vec *v, const unsigned char *buf,
                          long long got)
{
    long long done = 0;
    for (int i = 0; i < v->n && done < got; i++) {
        long long n = min_ll(got - done, v->len[i]);
        memcpy(w->sh->data + done, buf + v->start[i], (size_t)n);
        done += n;
    }
    keep_read(w, got);
}

enum { VEC_PLAIN, VEC_P, VEC_P2 }; /* readv/writev, preadv/pwritev, preadv2/pwritev2 */
static const char *const vec_read_name[] = {"readv", "preadv", "preadv2"};
static const char *const vec_write_name[] = {"writev", "pwritev", "pwritev2"};

static int pick_rwf_read(struct pick *p)
{
    unsigned k = (unsigned)rnd(p, 100);
    return k < 70 ? 0 : k < 85 ? RWF_DSYNC : k < 95 ? RWF_SYNC : 1 << 20; /* unknown */
}

static int pick_rwf_write(struct pick *p)
{
    unsigned k = (unsigned)rnd(p, 100);
    if (k < 40)
        return 0;
    if (k < 58)
        return RWF_DSYNC;
    if (k < 78)
        return RWF_APPEND;
    if (k < 83)
        return RWF_SYNC;
    if (k < 91)
        return RWF_APPEND | RWF_DSYNC;
#ifdef RWF_NOAPPEND
    if (k < 96)
        return RWF_NOAPPEND;
#endif
    return 1 << 20; /* unknown: EOPNOTSUPP */
}

static void vec_read(struct worker *w, struct args *a, bool pick, int kind)
{
    char sb[128];
    if (pick) {
        a->slot = pick_slot(w);
        pick_vec(&w->pk, &a->v);
        a->off = -1;
        a->flags = 0;
        if (kind == VEC_P)
            a->off = pick_read_off(&w->pk, slot_size(w, a->slot), a->v.total);
        else if (kind == VEC_P2) {
            if (!chance(&w->pk, 400))
                a->off = pick_read_off(&w->pk, slot_size(w, a->slot), a->v.total);
            a->flags = pick_rwf_read(&w->pk);
        }
    }
    set_desc(w, "%s %s off=%lld flags=%#x iov=%d total=%lld", vec_read_name[kind],
             slot_str(w, a->slot, sb, sizeof(sb)), a->off, a->flags, a->v.n, a->v.total);
    struct iovec iov[MAX_IOV];
    make_iov(&a->v, w->wbuf, iov);
    int fd = fd_of(w, a->slot);
    lock_slot(w, a->slot);
    long long got = kind == VEC_PLAIN ? DO(w, "readv", readv(fd, iov, a->v.n))
                    : kind == VEC_P   ? DO(w, "preadv", preadv(fd, iov, a->v.n, a->off))
                                    : DO(w, "preadv2", preadv2(fd, iov, a->v.n, a->off, a->flags));
    unlock_slot(w, a->slot);
    keep_vec_read(w, &a->v, w->wbuf, got);
}

static void vec_write(struct worker *w, struct args *a, bool pick, int kind)
{
    char sb[128];
    if (pick) {
        struct pick *p = &w->pk;
        a->slot = pick_slot(w);
        struct slot *sl = &w->slots[a->slot];
        pick_vec(p, &a->v);
        long long size = slot_size(w, a->slot), len = a->v.total;
        a->off = -1;
        a->flags = 0;
        if (kind == VEC_P) {
            pick_write(p, size, &a->off, &len);
        } else if (kind == VEC_P2) {
            a->flags = pick_rwf_write(p);
            if (!chance(p, 400))
                pick_write(p, size, &a->off, &len);
        }
        if (slot_writable(sl)) {
            bool append = (sl->flags & O_APPEND) || (a->flags & RWF_APPEND);
#ifdef RWF_NOAPPEND
            if (a->flags & RWF_NOAPPEND)
                append = false;
#endif
            long long at = append ? size : a->off >= 0 ? a->off : slot_pos(w, a->slot);
            len = bound_len(p, at, min_ll(len, p->max_file));
        }
        trim_vec(&a->v, len);
    }
    set_desc(w, "%s %s off=%lld flags=%#x iov=%d total=%lld", vec_write_name[kind],
             slot_str(w, a->slot, sb, sizeof(sb)), a->off, a->flags, a->v.n, a->v.total);
    fill_bytes(w->wbuf, a->v.span, w->seed, w->sh->op, 0);
    struct iovec iov[MAX_IOV];
    make_iov(&a->v, w->wbuf, iov);
    int fd = fd_of(w, a->slot);
    lock_slot(w, a->slot);
    if (kind == VEC_PLAIN)
        DO(w, "writev", writev(fd, iov, a->v.n));
    else if (kind == VEC_P)
        DO(w, "pwritev", pwritev(fd, iov, a->v.n, a->off));
    else
        DO(w, "pwritev2", pwritev2(fd, iov, a->v.n, a->off, a->flags));
    unlock_slot(w, a->slot);
}

static void op_readv(struct worker *w, struct args *a, bool pick)
{
    vec_read(w, a, pick, VEC_PLAIN);
}

static void op_preadv(struct worker *w, struct args *a, bool pick)
{
    vec_read(w, a, pick, VEC_P);
}

static void op_preadv2(struct worker *w, struct args *a, bool pick)
{
    vec_read(w, a, pick, VEC_P2);
}

static void op_writev(struct worker *w, struct args *a, bool pick)
{
    vec_write(w, a, pick, VEC_PLAIN);
}

static void op_pwritev(struct worker *w, struct args *a, bool pick)
{
    vec_write(w, a, pick, VEC_P);
}

static void op_pwritev2(struct worker *w, struct args *a, bool pick)
{
    vec_write(w, a, pick, VEC_P2);
}

/* ------------------------------------------ descriptors and status flags */

static void op_dup(struct worker *w, struct args *a, bool pick)
{
    char sb[128];
    if (pick) {
        a->slot = pick_slot(w);
        a->slot2 = pick_free_slot(w, a->slot, &a->closing);
        a->how = chance(&w->pk, 500) ? F_DUPFD : 0;
    }
    set_desc(w, "%s %s -> slot=%d%s", a->how ? "fcntl(F_DUPFD, 10)" : "dup",
             slot_str(w, a->slot, sb, sizeof(sb)), a->slot2,
             a->closing ? " (closing it first)" : "");
    int fd = fd_of(w, a->slot);
    lock_slot(w, a->slot);
    if (a->closing)
        close_slot(w, a->slot2);
    errno = 0;
    int nfd = a->how ? fcntl(fd, F_DUPFD, 10) : dup(fd);
    record(w, "dup", nfd < 0 ? -1 : 0, errno);
    if (nfd >= 0) {
        w->slots[a->slot2] = w->slots[a->slot];
        w->slots[a->slot2].fd = nfd;
        w->slots[a->slot2].flags &= ~(O_CREAT | O_EXCL | O_TRUNC);
    }
    unlock_slot(w, a->slot);
}

#define FL_MASK (O_ACCMODE | O_APPEND | O_NONBLOCK | O_DSYNC | O_SYNC)

static void op_fcntl(struct worker *w, struct args *a, bool pick)
{
    char sb[128];
    if (pick) {
        a->slot = pick_slot(w);
        a->how = chance(&w->pk, 400) ? F_GETFL : F_SETFL;
        int cur = w->slots[a->slot].open ? fcntl(fd_of(w, a->slot), F_GETFL) : O_RDWR;
        if (cur < 0)
            cur = O_RDWR;
        a->flags = chance(&w->pk, 750) ? cur ^ O_APPEND : cur ^ O_NONBLOCK;
    }
    int fd = fd_of(w, a->slot);
    lock_slot(w, a->slot);
    if (a->how == F_GETFL) {
        set_desc(w, "fcntl(F_GETFL) %s", slot_str(w, a->slot, sb, sizeof(sb)));
        errno = 0;
        long long fl = fcntl(fd, F_GETFL);
        record(w, "F_GETFL", fl < 0 ? fl : fl & FL_MASK, errno);
    } else {
        char fb[96];
        set_desc(w, "fcntl(F_SETFL, %s) %s", flags_str(a->flags, fb, sizeof(fb)),
                 slot_str(w, a->slot, sb, sizeof(sb)));
        if (DO(w, "F_SETFL", fcntl(fd, F_SETFL, a->flags)) == 0) {
            const int settable = O_APPEND | O_NONBLOCK;
            int desc = w->slots[a->slot].desc;
            for (int i = 0; i < NSLOTS; i++)
                if (w->slots[i].open && w->slots[i].desc == desc)
                    w->slots[i].flags = (w->slots[i].flags & ~settable) | (a->flags & settable);
        }
    }
    unlock_slot(w, a->slot);
}

/* ------------------------------------------------------------ fallocate */

static void op_fallocate(struct worker *w, struct args *a, bool pick)
{
    static const int other_modes[] = {
        FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_UNSHARE_RANGE,
        FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0x100};
    char sb[128];
    if (pick) {
        struct pick *p = &w->pk;
        a->slot = pick_slot(w);
        pick_falloc(p, slot_size(w, a->slot), &a->off, &a->len);
        unsigned k = (unsigned)rnd(p, 100);
        if (k < 22)
            a->flags = 0;
        else if (k < 36)
            a->flags = FALLOC_FL_KEEP_SIZE;
        else if (k < 58)
            a->flags = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
        else if (k < 68)
            a->flags = FALLOC_FL_ZERO_RANGE;
        else if (k < 76)
            a->flags = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
        else if (k < 80) {
            a->flags = 0;
            a->len = 0; /* EINVAL */
        } else if (k < 84) {
            a->flags = FALLOC_FL_KEEP_SIZE;
            a->off = -rnd_range(p, 1, 4096); /* EINVAL */
        } else if (k < 92) {
            a->flags = FALLOC_FL_PUNCH_HOLE; /* without KEEP_SIZE: EOPNOTSUPP */
        } else {
            a->flags = other_modes[rnd(p, sizeof(other_modes) / sizeof(other_modes[0]))];
        }
        a->use_in = chance(p, 100); /* posix_fallocate instead */
    }
    set_desc(w, "%s %s mode=%#x off=%lld len=%lld", a->use_in ? "posix_fallocate" : "fallocate",
             slot_str(w, a->slot, sb, sizeof(sb)), a->use_in ? 0 : a->flags, a->off, a->len);
    int fd = fd_of(w, a->slot);
    lock_slot(w, a->slot);
    if (a->use_in) { /* returns the error number and leaves errno alone */
        int err = posix_fallocate(fd, a->off, a->len);
        record(w, "posix_falloc", err ? -1 : 0, err);
    } else {
        DO(w, "fallocate", fallocate(fd, a->flags, a->off, a->len));
    }
    unlock_slot(w, a->slot);
}

/* ------------------------------------------------------ copy_file_range */

static bool same_file(struct worker *w, int s1, int s2)
{
    struct stat x, y;
    return w->slots[s1].open && w->slots[s2].open && fstat(w->slots[s1].fd, &x) == 0 &&
           fstat(w->slots[s2].fd, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

static void op_copy_file_range(struct worker *w, struct args *a, bool pick)
{
    char ib[128], ob[128];
    if (pick) {
        struct pick *p = &w->pk;
        a->slot = pick_slot(w);
        a->slot2 = pick_slot(w);
        struct slot *out = &w->slots[a->slot2];
        long long isize = slot_size(w, a->slot), osize = slot_size(w, a->slot2);
        long long len = min_ll(pick_len(p), COPY_MAX);
        a->use_in = chance(p, 500);
        a->use_out = chance(p, 500);
        a->off = a->use_in ? pick_read_off(p, isize, len) : slot_pos(w, a->slot);
        a->off2 = slot_pos(w, a->slot2);
        if (a->use_out)
            pick_write(p, osize, &a->off2, &len);
        if (slot_writable(out) && a->off2 >= 0)
            len = bound_len(p, a->off2, min_ll(len, p->max_file));
        a->flags = chance(p, 20) ? 1 : 0; /* EINVAL */
        /* Within one file the kernel's result depends on its chunking when
         * the ranges overlap or the copy reads past the end it extends. */
        if (same_file(w, a->slot, a->slot2) && a->off >= 0 && a->off2 >= 0) {
            len = a->off >= isize ? 0 : min_ll(len, isize - a->off);
            if (a->off2 + len > a->off && a->off2 < a->off + len)
                len = a->off2 > a->off ? a->off2 - a->off : a->off - a->off2;
        }
        a->len = len;
    }
    set_desc(w, "copy_file_range in=%s %s=%lld out=%s %s=%lld len=%lld flags=%d",
             slot_str(w, a->slot, ib, sizeof(ib)), a->use_in ? "off" : "pos", a->off,
             slot_str(w, a->slot2, ob, sizeof(ob)), a->use_out ? "off" : "pos", a->off2, a->len,
             a->flags);
    off64_t in = a->off, out = a->off2;
    lock_slot(w, a->slot);
    lock_slot(w, a->slot2);
    DO(w, "copy",
       copy_file_range(fd_of(w, a->slot), a->use_in ? &in : NULL, fd_of(w, a->slot2),
                       a->use_out ? &out : NULL, (size_t)a->len, (unsigned)a->flags));
    unlock_slot(w, a->slot);
    unlock_slot(w, a->slot2);
    record(w, "in_off", a->use_in ? in : 0, 0);
    record(w, "out_off", a->use_out ? out : 0, 0);
}

/* ----------------------------------------------------------------- mmap */

static void on_sigbus(int sig)
{
    if (bus_armed) {
        bus_armed = 0;
        siglongjmp(bus_env, 1);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Where a mapped access starts: mostly inside the file, some near its
 * end, some (when past_end) beyond it. */
static long long pick_map_off(struct pick *p, long long size, bool past_end)
{
    long long dsize = min_ll(size, p->max_file);
    unsigned k = (unsigned)rnd(p, 100);
    if (k < 45)
        return rnd_range(p, 0, dsize);
    if (k < 65)
        return dsize - rnd_range(p, 0, min_ll(dsize, 64 * KIB));
    if (k < 80 && past_end)
        return dsize + rnd_range(p, 0, 64 * KIB);
    return PAGE * rnd_range(p, 0, dsize / PAGE);
}

/* Maps [a->moff, +a->mlen) of the slot's file; NULL (recorded) on failure. */
static unsigned char *map_slot(struct worker *w, struct args *a, int prot)
{
    errno = 0;
    void *m = mmap(NULL, (size_t)a->mlen, prot, MAP_SHARED, fd_of(w, a->slot), a->moff);
    record(w, "mmap", m == MAP_FAILED ? -1 : 0, errno);
    return m == MAP_FAILED ? NULL : m;
}

/* A mapped read: the pages around a range of the slot's file mapped
 * shared, the range (which may reach the end of the page holding the end
 * of the file, zero past it) read through the mapping. */
static void op_mmap(struct worker *w, struct args *a, bool pick)
{
    char sb[128];
    if (pick) {
        struct pick *p = &w->pk;
        a->slot = pick_slot_for(w, O_RDONLY);
        long long size = slot_size(w, a->slot), reach = page_up(size);
        a->off = min_ll(pick_map_off(p, size, false), max_ll(reach - 1, 0));
        a->len = size > 0 ? min_ll(log_uniform(p, 1, MMAP_MAX), reach - a->off) : 0;
        a->moff = a->off & ~(PAGE - 1);
        a->mlen = max_ll(a->off + a->len - a->moff, 1);
        a->flags = chance(p, 300) ? PROT_READ | PROT_WRITE : PROT_READ;
    }
    set_desc(w, "mapped read: mmap %s at %lld len %lld, read off=%lld len=%lld",
             slot_str(w, a->slot, sb, sizeof(sb)), a->moff, a->mlen, a->off, a->len);
    lock_slot(w, a->slot);
    unsigned char *m = map_slot(w, a, a->flags);
    if (m) {
        bool ok = guarded_copy(w->sh->data, m + (a->off - a->moff), a->len);
        record(w, "load", ok ? a->len : -1, EFAULT);
        keep_read(w, ok ? a->len : 0);
        DO(w, "munmap", munmap(m, (size_t)a->mlen));
    }
    unlock_slot(w, a->slot);
}

/* A mapped write: ftruncate first when the range reaches past the end,
 * stores into a shared writable mapping, msync (MS_SYNC, MS_ASYNC or
 * none), sometimes a pread of the range while mapped, munmap. */
static void op_mmap_write(struct worker *w, struct args *a, bool pick)
{
    char sb[128];
    if (pick) {
        struct pick *p = &w->pk;
        a->slot = pick_slot_for(w, O_RDWR);
        long long size = slot_size(w, a->slot);
        a->off = min_ll(pick_map_off(p, size, true), p->max_file - 1);
        a->len = min_ll(log_uniform(p, 1, MMAP_MAX), p->max_file - a->off);
        long long end = a->off + a->len;
        a->off2 = end > size && slot_writable(&w->slots[a->slot]) ? end : -1; /* ftruncate */
        if (a->off2 >= 0)
            size = end;
        a->moff = a->off & ~(PAGE - 1);
        a->mlen = end - a->moff;
        a->len = max_ll(min_ll(end, size) - a->off, 0); /* stores stay inside the file */
        unsigned k = (unsigned)rnd(p, 10);
        a->how = k < 6 ? MS_SYNC : k < 8 ? MS_ASYNC : 0;
        a->read_back = chance(p, 300);
    }
    set_desc(w, "mapped write: %s%s mmap at %lld len %lld, store off=%lld len=%lld, msync %s%s",
             slot_str(w, a->slot, sb, sizeof(sb)), a->off2 >= 0 ? " ftruncate to end," : "",
             a->moff, a->mlen, a->off, a->len,
             a->how == MS_SYNC    ? "MS_SYNC"
             : a->how == MS_ASYNC ? "MS_ASYNC"
                                  : "none",
             a->read_back ? ", pread while mapped" : "");
    int fd = fd_of(w, a->slot);
    lock_slot(w, a->slot);
    if (a->off2 >= 0)
        DO(w, "ftruncate", ftruncate(fd, a->off2));
    unsigned char *m = map_slot(w, a, PROT_READ | PROT_WRITE);
    if (m) {
        fill_bytes(w->wbuf, a->len, w->seed, w->sh->op, 0);
        bool ok = guarded_copy(m + (a->off - a->moff), w->wbuf, a->len);
        record(w, "store", ok ? a->len : -1, EFAULT);
        if (a->how)
            DO(w, "msync", msync(m, (size_t)a->mlen, a->how));
        if (a->read_back)
            keep_read(w, DO(w, "pread", pread(fd, w->sh->data, (size_t)a->len, a->off)));
        DO(w, "munmap", munmap(m, (size_t)a->mlen));
    }
    unlock_slot(w, a->slot);
}

/* ------------------------------------------------- checkpoints and end */

static long long verify_chunks(const struct worker *w)
{
    return w->verify_max / VERIFY_CHUNK;
}

/* Reads every pool file whole under a read lock on a descriptor of its
 * own: size and the hash of every VERIFY_CHUNK into the data area. */
static void op_verify(struct worker *w, struct args *a, bool pick)
{
    (void)a;
    (void)pick;
    set_desc(w, "verify: read every file whole");
    long long nch = verify_chunks(w);
    uint64_t *h = (uint64_t *)w->sh->data;
    memset(h, 0, (size_t)(NFILES * nch) * sizeof(*h));
    unsigned char *buf = w->wbuf;
    for (int i = 0; i < NFILES; i++) {
        errno = 0;
        int fd = open(w->path[i], O_RDONLY);
        record(w, "open", fd < 0 ? -1 : 0, errno);
        if (fd < 0)
            continue;
        struct stat st;
        DO(w, "lock", setlk(fd, F_RDLCK));
        DO(w, "fstat", fstat(fd, &st) == 0 ? (long long)st.st_size : -1);
        long long total = 0;
        for (long long c = 0; c < nch; c++) {
            long long got = 0, r = 0;
            while (got < VERIFY_CHUNK &&
                   (r = pread(fd, buf + got, (size_t)(VERIFY_CHUNK - got), total + got)) > 0)
                got += r;
            if (r < 0) {
                total = -errno;
                break;
            }
            h[i * nch + c] = hash_bytes(buf, got);
            total += got;
            if (got < VERIFY_CHUNK)
                break;
        }
        record(w, "read-all", total, -(int)total);
        DO(w, "unlock", setlk(fd, F_UNLCK));
        DO(w, "close", close(fd));
    }
    w->sh->nbytes = (long long)(NFILES * nch) * (long long)sizeof(*h);
}

/* Bounds disk use: truncates files that grew past max_file (sparse
 * writes) to a quarter of it or less. */
static void op_shrink(struct worker *w, struct args *a, bool pick)
{
    if (pick)
        for (int i = 0; i < NFILES; i++)
            a->cut[i] =
                name_size(w, i) > w->pk.max_file ? rnd_range(&w->pk, 0, w->pk.max_file / 4) : -1;
    set_desc(w, "shrink: truncate f0..f%d to %lld %lld %lld %lld", NFILES - 1, a->cut[0], a->cut[1],
             a->cut[2], a->cut[3]);
    lock_all(w);
    for (int i = 0; i < NFILES; i++)
        if (a->cut[i] >= 0)
            DO(w, "truncate", truncate(w->path[i], a->cut[i]));
    unlock_all(w);
}

static void op_finish(struct worker *w, struct args *a, bool pick)
{
    (void)a;
    (void)pick;
    set_desc(w, "finish: close every slot");
    for (int s = 0; s < NSLOTS; s++)
        if (w->slots[s].open) {
            lock_slot(w, s);
            close_slot(w, s);
        }
}

/* ------------------------------------------------------------ the table */

struct op {
    const char *name;
    unsigned weight;
    void (*fn)(struct worker *w, struct args *a, bool pick);
};

static const struct op ops[] = {
    {"open", 8, op_open},
    {"close", 5, op_close},
    {"write", 14, op_write},
    {"pwrite", 14, op_pwrite},
    {"read", 10, op_read},
    {"pread", 12, op_pread},
    {"lseek", 8, op_lseek},
    {"ftruncate", 4, op_ftruncate},
    {"truncate", 2, op_truncate},
    {"fsync", 2, op_fsync},
    {"fstat", 4, op_fstat},
    {"stat", 3, op_stat},
    {"unlink", 1, op_unlink},
    {"rename", 1, op_rename},
    {"readv", 3, op_readv},
    {"writev", 3, op_writev},
    {"preadv", 3, op_preadv},
    {"pwritev", 3, op_pwritev},
    {"preadv2", 2, op_preadv2},
    {"pwritev2", 3, op_pwritev2},
    {"dup", 2, op_dup},
    {"fcntl", 3, op_fcntl},
    {"fallocate", 6, op_fallocate},
    {"copy_file_range", 3, op_copy_file_range},
    {"mmap", 12, op_mmap},
    {"mmap-write", 12, op_mmap_write},
    /* not drawn at random: the checkpoints and the end */
    {"verify", 0, op_verify},
    {"shrink", 0, op_shrink},
    {"finish", 0, op_finish},
};
#define NOPS (sizeof(ops) / sizeof(ops[0]))
enum { K_VERIFY = NOPS - 3, K_SHRINK = NOPS - 2, K_FINISH = NOPS - 1 };

static bool read_token(int fd)
{
    char t;
    ssize_t r;
    while ((r = read(fd, &t, 1)) < 0 && errno == EINTR)
        ;
    return r == 1;
}

static bool write_token(int fd)
{
    char t = 1;
    ssize_t r;
    while ((r = write(fd, &t, 1)) < 0 && errno == EINTR)
        ;
    return r == 1;
}

/* The worker's loop: one operation per token until the pipe closes. */
static int worker_main(struct worker *w, int cmd_fd, int rep_fd)
{
    for (int s = 0; s < NSLOTS; s++)
        w->slots[s].fd = -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigbus;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
    while (read_token(cmd_fd)) {
        struct shared *sh = w->sh;
        sh->ncalls = 0;
        sh->nbytes = 0;
        if (sh->kind < 0 || sh->kind >= (int)NOPS)
            return 2;
        if (sh->pick) {
            memset(&sh->a, 0, sizeof(sh->a));
            w->pk.rng = sh->opseed;
        }
        ops[sh->kind].fn(w, &sh->a, sh->pick);
        if (!write_token(rep_fd))
            return 2;
    }
    for (int s = 0; s < NSLOTS; s++)
        if (w->slots[s].open)
            close(w->slots[s].fd);
    return 0;
}

/* =========================================================== coordinator */

struct proc {
    pid_t pid;
    int cmd_fd, rep_fd;
    struct shared *sh;
};

struct coord {
    uint64_t seed;
    long long nops;
    int nworkers, nlib;
    long long max_file;
    const char *preload;
    const char *dir[NGROUPS];
    const char *prog;
    bool trace;
    bool skip[NOPS]; /* --no-OP */
    uint64_t rng;
    size_t shm_size;
    struct proc p[NGROUPS][MAX_WORKERS];
    long long op, compared;
    char hist[HIST][DESC_LEN + 48];
    long long nhist;
    char **argv;
};

static long long verify_max_of(long long max_file)
{
    /* dense data up to max_file, sparse writes in [2, 3) x max_file */
    return (3 * max_file + SPARSE_MAX_IO + VERIFY_CHUNK) / VERIFY_CHUNK * VERIFY_CHUNK;
}

static size_t shm_size_of(long long max_file)
{
    long long hashes = NFILES * (verify_max_of(max_file) / VERIFY_CHUNK) * 8;
    return sizeof(struct shared) + (size_t)max_ll(DATA_MIN, hashes);
}

static void kill_workers(struct coord *c)
{
    for (int g = 0; g < NGROUPS; g++)
        for (int i = 0; i < c->nworkers; i++)
            if (c->p[g][i].pid > 0) {
                kill(c->p[g][i].pid, SIGKILL);
                waitpid(c->p[g][i].pid, NULL, 0);
                c->p[g][i].pid = 0;
            }
}

static bool is_lib(struct coord *c, int g, int i)
{
    return g == MANAGED && i < c->nlib && c->preload[0];
}

static void print_replay(struct coord *c)
{
    const char *replay = getenv("MPDIFF_REPLAY");
    if (replay) {
        printf("  replay: %s\n", replay);
    } else {
        printf("  replay:");
        for (char **a = c->argv; *a; a++)
            printf(" %s", *a);
        printf("\n");
    }
    printf("  (add --trace to print every operation)\n");
}

__attribute__((noreturn)) static void fail(struct coord *c)
{
    printf("  recent operations (oldest first):\n");
    for (long long i = c->nhist > HIST ? c->nhist - HIST : 0; i < c->nhist; i++)
        printf("    %s\n", c->hist[i % HIST]);
    print_replay(c);
    printf("mpdiff: seed %" PRIu64 ": %lld ops compared, 1 mismatch\n", c->seed, c->compared);
    fflush(stdout);
    kill_workers(c);
    exit(1);
}

static void setup_error(struct coord *c, const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", c->prog, what, strerror(errno));
    kill_workers(c);
    exit(2);
}

static void start_worker(struct coord *c, int g, int i)
{
    struct proc *pr = &c->p[g][i];
    int cmd[2], rep[2];
    /* close-on-exec everywhere, so that no other worker keeps this one's
     * pipes open; the child clears it on its own ends */
    int mfd = memfd_create("mpdiff", MFD_CLOEXEC);
    if (mfd < 0 || ftruncate(mfd, (off_t)c->shm_size) != 0)
        setup_error(c, "memfd");
    pr->sh = mmap(NULL, c->shm_size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    if (pr->sh == MAP_FAILED || pipe2(cmd, O_CLOEXEC) != 0 || pipe2(rep, O_CLOEXEC) != 0)
        setup_error(c, "mmap or pipe");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        setup_error(c, "fork");
    if (pid == 0) {
        char id[16], fds[64], seed[32], mf[32];
        snprintf(id, sizeof(id), "%d", i);
        snprintf(fds, sizeof(fds), "%d,%d,%d", mfd, cmd[0], rep[1]);
        snprintf(seed, sizeof(seed), "%" PRIu64, c->seed);
        snprintf(mf, sizeof(mf), "%lld", c->max_file / MIB);
        if (fcntl(mfd, F_SETFD, 0) != 0 || fcntl(cmd[0], F_SETFD, 0) != 0 ||
            fcntl(rep[1], F_SETFD, 0) != 0)
            _exit(127);
        if (is_lib(c, g, i))
            setenv("LD_PRELOAD", c->preload, 1);
        else
            unsetenv("LD_PRELOAD");
        execl("/proc/self/exe", c->prog, "--worker", id, "--fds", fds, "--seed", seed,
              "--max-file-mb", mf, "--dir", c->dir[g], (char *)NULL);
        _exit(127);
    }
    close(mfd);
    close(cmd[0]);
    close(rep[1]);
    pr->pid = pid;
    pr->cmd_fd = cmd[1];
    pr->rep_fd = rep[0];
}

static const char *worker_str(struct coord *c, int g, int i, char *buf, size_t n)
{
    snprintf(buf, n, "%s worker %d (%s)", group_name[g], i,
             is_lib(c, g, i) ? "library" : "no library");
    return buf;
}

/* Hands the token to one worker and waits for it back. */
static void transact(struct coord *c, int g, int i)
{
    char wb[64];
    struct proc *pr = &c->p[g][i];
    struct pollfd pf = {.fd = pr->rep_fd, .events = POLLIN};
    if (!write_token(pr->cmd_fd)) {
        printf("mpdiff: seed %" PRIu64 " op %lld: %s is gone\n", c->seed, c->op,
               worker_str(c, g, i, wb, sizeof(wb)));
        fail(c);
    }
    int r;
    while ((r = poll(&pf, 1, HANG_MS)) < 0 && errno == EINTR)
        ;
    if (r == 0 || !read_token(pr->rep_fd)) {
        int status = 0;
        if (r != 0) {
            waitpid(pr->pid, &status, 0);
            pr->pid = 0;
        }
        printf("mpdiff: MISMATCH: seed %" PRIu64 " op %lld: %s %s: %s\n", c->seed, c->op,
               worker_str(c, g, i, wb, sizeof(wb)),
               r == 0                ? "did not answer within the time limit (hung, on a lock?)"
               : WIFSIGNALED(status) ? "died of a signal"
                                     : "exited",
               pr->sh->desc);
        if (r != 0)
            printf("  status: %s %d\n", WIFSIGNALED(status) ? "signal" : "exit",
                   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        fail(c);
    }
}

static void print_calls(const char *side, const struct shared *sh)
{
    printf("  %s:", side);
    for (int i = 0; i < sh->ncalls && i < MAX_CALLS; i++) {
        const struct call *cl = &sh->calls[i];
        if (cl->ret < 0)
            printf(" %s=%lld(%s)", cl->what, cl->ret, strerror(cl->err));
        else
            printf(" %s=%lld", cl->what, cl->ret);
    }
    printf("\n");
}

static void report_head(struct coord *c, int w)
{
    char wb[64];
    fflush(stdout);
    printf("mpdiff: MISMATCH: seed %" PRIu64 " op %lld, %s: %s\n", c->seed, c->op,
           worker_str(c, MANAGED, w, wb, sizeof(wb)), c->p[PLAIN][w].sh->desc);
}

static void check_calls(struct coord *c, int w)
{
    const struct shared *m = c->p[MANAGED][w].sh, *p = c->p[PLAIN][w].sh;
    bool same = m->ncalls == p->ncalls;
    for (int i = 0; same && i < m->ncalls && i < MAX_CALLS; i++)
        same = strcmp(m->calls[i].what, p->calls[i].what) == 0 &&
               m->calls[i].ret == p->calls[i].ret && m->calls[i].err == p->calls[i].err;
    if (same)
        return;
    report_head(c, w);
    print_calls(group_name[MANAGED], m);
    print_calls(group_name[PLAIN], p);
    fail(c);
}

static void dump_bytes(const char *side, const unsigned char *b, long long n)
{
    printf("  %-7s:", side);
    for (long long i = 0; i < n; i++)
        printf(" %02x", b[i]);
    printf("\n");
}

static void check_data(struct coord *c, int w, int kind)
{
    const struct shared *m = c->p[MANAGED][w].sh, *p = c->p[PLAIN][w].sh;
    if (m->nbytes == p->nbytes && memcmp(m->data, p->data, (size_t)p->nbytes) == 0)
        return;
    report_head(c, w);
    if (m->nbytes != p->nbytes) {
        printf("  data lengths differ: managed %lld, plain %lld\n", m->nbytes, p->nbytes);
        fail(c);
    }
    long long i = 0;
    while (m->data[i] == p->data[i])
        i++;
    if (kind == K_VERIFY) {
        long long nch = verify_max_of(c->max_file) / VERIFY_CHUNK, ch = i / 8;
        printf("  whole-file read: f%lld differs in bytes [%lld, %lld)\n", ch / nch,
               ch % nch * VERIFY_CHUNK, (ch % nch + 1) * VERIFY_CHUNK);
    } else {
        printf("  bytes read differ: first at byte %lld of %lld\n", i, p->nbytes);
        dump_bytes(group_name[MANAGED], m->data + i, min_ll(16, p->nbytes - i));
        dump_bytes(group_name[PLAIN], p->data + i, min_ll(16, p->nbytes - i));
    }
    fail(c);
}

/* One operation: picked and run by the reference worker w, run with the
 * same parameters by the managed worker w, compared. */
static void step(struct coord *c, int w, int kind)
{
    struct shared *ref = c->p[PLAIN][w].sh, *man = c->p[MANAGED][w].sh;
    ref->op = man->op = c->op;
    ref->kind = man->kind = kind;
    ref->pick = true;
    ref->opseed = splitmix64(&c->rng);
    transact(c, PLAIN, w);
    man->pick = false;
    man->a = ref->a;
    snprintf(c->hist[c->nhist % HIST], sizeof(c->hist[0]), "op %lld worker %d: %s", c->op, w,
             ref->desc);
    c->nhist++;
    if (c->trace)
        fprintf(stderr, "op %lld worker %d: %s\n", c->op, w, ref->desc);
    transact(c, MANAGED, w);
    check_calls(c, w);
    check_data(c, w, kind);
    c->compared++;
}

/* An operation by weight; those left out with --no-OP are redrawn. */
static int pick_kind(struct coord *c)
{
    unsigned total = 0;
    for (size_t i = 0; i < NOPS; i++)
        total += ops[i].weight;
    for (;;) {
        unsigned k = (unsigned)(splitmix64(&c->rng) % total);
        size_t i = 0;
        while (k >= ops[i].weight)
            k -= ops[i++].weight;
        if (!c->skip[i])
            return (int)i;
    }
}

/* Reads a whole file through the kernel; its length, or -1. */
static long long slurp(const char *path, unsigned char **buf)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *buf = malloc((size_t)st.st_size + 1);
    long long got = 0, r = 0;
    while (*buf && got < st.st_size &&
           (r = pread(fd, *buf + got, (size_t)(st.st_size - got), got)) > 0)
        got += r;
    close(fd);
    return *buf && got == st.st_size ? got : -1;
}

/* After every worker exited: both directories hold the same names with
 * the same bytes, as the kernel shows them. */
static void compare_dirs(struct coord *c)
{
    for (int i = 0; i < NFILES; i++) {
        char pa[PATH_MAX], pb[PATH_MAX];
        unsigned char *ba = NULL, *bb = NULL;
        snprintf(pa, sizeof(pa), "%s/f%d", c->dir[MANAGED], i);
        snprintf(pb, sizeof(pb), "%s/f%d", c->dir[PLAIN], i);
        long long na = slurp(pa, &ba), nb = slurp(pb, &bb);
        bool same = na == nb && (na < 0 || memcmp(ba, bb, (size_t)na) == 0);
        if (!same) {
            long long j = 0;
            while (na >= 0 && nb >= 0 && j < min_ll(na, nb) && ba[j] == bb[j])
                j++;
            printf("mpdiff: MISMATCH: seed %" PRIu64 " after the end: f%d through the kernel: "
                   "managed %lld bytes, plain %lld bytes, first difference at %lld\n",
                   c->seed, i, na, nb, j);
            free(ba);
            free(bb);
            fail(c);
        }
        free(ba);
        free(bb);
    }
}

static void finish(struct coord *c)
{
    for (int w = 0; w < c->nworkers; w++)
        step(c, w, K_FINISH);
    for (int w = 0; w < c->nworkers; w++)
        step(c, w, K_VERIFY);
    for (int g = 0; g < NGROUPS; g++)
        for (int i = 0; i < c->nworkers; i++) {
            char wb[64];
            int status;
            close(c->p[g][i].cmd_fd);
            close(c->p[g][i].rep_fd);
            waitpid(c->p[g][i].pid, &status, 0);
            c->p[g][i].pid = 0;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                printf("mpdiff: MISMATCH: seed %" PRIu64 ": %s ended with %s %d\n", c->seed,
                       worker_str(c, g, i, wb, sizeof(wb)),
                       WIFEXITED(status) ? "exit status" : "signal",
                       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
                fail(c);
            }
        }
    compare_dirs(c);
}

static void run(struct coord *c)
{
    c->rng = c->seed ^ 0xbb67ae8584caa73bULL;
    for (int g = 0; g < NGROUPS; g++)
        for (int i = 0; i < c->nworkers; i++)
            start_worker(c, g, i);
    long long checks = 0;
    for (c->op = 0; c->op < c->nops; c->op++) {
        int w = (int)(splitmix64(&c->rng) % (uint64_t)c->nworkers);
        step(c, w, pick_kind(c));
        if ((c->op + 1) % VERIFY_EVERY == 0 && c->op + 1 < c->nops) {
            int v = (int)(checks++ % c->nworkers);
            step(c, v, K_VERIFY);
            step(c, v, K_SHRINK);
        }
    }
    finish(c);
}

/* ================================================================= main */

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s --seed S --ops N --workers W --lib-workers L --managed DIR_A "
            "--plain DIR_B [--preload LIBS] [--max-file-mb M] [--trace] [--no-OP ...]\n"
            "  OP is one of:",
            prog);
    for (size_t i = 0; i < NOPS; i++)
        if (ops[i].weight)
            fprintf(stderr, " %s", ops[i].name);
    fprintf(stderr, "\n");
    exit(2);
}

static void init_pick(struct pick *p, long long max_file)
{
    p->max_file = max_file;
    p->max_io = MAX_IO;
    p->sparse_base = 2 * max_file;
    p->sparse_span = max_file;
}

/* --worker ID --fds SHM,CMD,REP --seed S --max-file-mb M --dir DIR */
static int worker_entry(int argc, char **argv)
{
    static struct worker wk;
    struct worker *w = &wk;
    int mfd = -1, cmd = -1, rep = -1;
    const char *dir = NULL;
    long long max_file = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--worker") == 0)
            w->id = (int)parse_num(argv[0], a, v);
        else if (strcmp(a, "--fds") == 0 && sscanf(v, "%d,%d,%d", &mfd, &cmd, &rep) == 3)
            continue;
        else if (strcmp(a, "--seed") == 0)
            w->seed = parse_num(argv[0], a, v);
        else if (strcmp(a, "--max-file-mb") == 0)
            max_file = (long long)parse_num(argv[0], a, v) * MIB;
        else if (strcmp(a, "--dir") == 0)
            dir = v;
        else
            usage(argv[0]);
    }
    if (mfd < 0 || !dir || max_file <= 0)
        usage(argv[0]);
    init_pick(&w->pk, max_file);
    w->verify_max = verify_max_of(max_file);
    size_t size = shm_size_of(max_file);
    w->sh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    w->wbuf = malloc((size_t)max_ll(MAX_IO, VEC_MAX + MAX_IOV * 64));
    if (w->sh == MAP_FAILED || !w->wbuf)
        return 2;
    close(mfd);
    for (int i = 0; i < NFILES; i++)
        snprintf(w->path[i], PATH_MAX, "%s/f%d", dir, i);
    int rc = worker_main(w, cmd, rep);
    free(w->wbuf);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--worker") == 0)
        return worker_entry(argc, argv);
    static struct coord cd;
    struct coord *c = &cd;
    bool have_seed = false, have_ops = false;
    unsigned long long max_mb = 8;
    c->prog = argv[0];
    c->argv = argv;
    c->preload = "";
    c->nworkers = 3;
    c->nlib = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--trace") == 0) {
            c->trace = true;
            continue;
        }
        if (strncmp(a, "--no-", 5) == 0) {
            size_t k = 0;
            while (k < NOPS && (!ops[k].weight || strcmp(a + 5, ops[k].name) != 0))
                k++;
            if (k == NOPS)
                usage(c->prog);
            c->skip[k] = true;
            continue;
        }
        if (i + 1 >= argc)
            usage(c->prog);
        const char *v = argv[++i];
        if (strcmp(a, "--seed") == 0) {
            c->seed = parse_num(c->prog, a, v);
            have_seed = true;
        } else if (strcmp(a, "--ops") == 0) {
            c->nops = (long long)parse_num(c->prog, a, v);
            have_ops = true;
        } else if (strcmp(a, "--workers") == 0) {
            c->nworkers = (int)parse_num(c->prog, a, v);
        } else if (strcmp(a, "--lib-workers") == 0) {
            c->nlib = (int)parse_num(c->prog, a, v);
        } else if (strcmp(a, "--managed") == 0) {
            c->dir[MANAGED] = v;
        } else if (strcmp(a, "--plain") == 0) {
            c->dir[PLAIN] = v;
        } else if (strcmp(a, "--preload") == 0) {
            c->preload = v;
        } else if (strcmp(a, "--max-file-mb") == 0) {
            max_mb = parse_num(c->prog, a, v);
        } else {
            usage(c->prog);
        }
    }
    if (!have_seed || !have_ops || !c->dir[MANAGED] || !c->dir[PLAIN] || c->nworkers < 1 ||
        c->nworkers > MAX_WORKERS || c->nlib > c->nworkers || max_mb < 1 || max_mb > 256)
        usage(c->prog);
    if (getenv("LD_PRELOAD") && *getenv("LD_PRELOAD") && strstr(getenv("LD_PRELOAD"), "nvmmio")) {
        fprintf(stderr, "%s: the coordinator must run without the library (use --preload)\n",
                c->prog);
        return 2;
    }
    c->max_file = (long long)max_mb * MIB;
    c->shm_size = shm_size_of(c->max_file);
    signal(SIGPIPE, SIG_IGN);
    run(c);
    printf("mpdiff: seed %" PRIu64 ": %lld ops compared over %d workers (%d with the library), "
           "0 mismatches\n",
           c->seed, c->compared, c->nworkers, c->preload[0] ? c->nlib : 0);
    return 0;
}
