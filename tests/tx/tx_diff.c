/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tx_diff.c - differential tester of transactions (libnvmmio.h).
 *
 * One seeded schedule of transactions runs on managed files (O_ATOMIC in
 * DIR/managed, or under the pmem root with --root) and on plain files of
 * the same names in DIR/plain, which the kernel serves. Each transaction
 * begins, makes a random number of calls across the files (write, pwrite,
 * writev, pwritev, ftruncate, truncate by name with --root, fallocate in
 * several modes, posix_fallocate, read, pread, lseek, fstat, fsync,
 * fdatasync, close and reopen with O_APPEND, O_TRUNC, O_DSYNC or another
 * access mode), then commits or aborts. Between transactions come calls
 * outside any, nvmmio_pwritev_atomic groups (some with one write that must
 * fail), and the rule errors (commit or abort without a transaction,
 * nested begin, nvmmio_sync_all and nvmmio_pwritev_atomic inside one).
 *
 * The plain side is the reference: it models the documented rules by a
 * copy of each plain file taken when the file joins the transaction (its
 * first change inside it that passes the argument checks), written back
 * on abort; O_TRUNC and truncate by name join no file (they fall into the
 * file's running epoch). Every call's return value and errno are compared,
 * sizes after every change, and every file's bytes and size after each
 * commit and abort and at the end, through the library and, for the files
 * that took part, read raw with system calls the library does not see (a
 * durability point was reached: the kernel's view must be the library's).
 *
 * A second phase runs two threads, each with its own transaction on its
 * own files and its own reference; while a file takes part in the other
 * thread's transaction, changes to it fail with EBUSY.
 *
 *   nvmmio_tx_diff --dir DIR --seed S --ops N [--thread-ops M] [--root]
 *                  [--trace] [--no-restore]
 *
 * --no-restore breaks the reference (an abort leaves the plain files as
 * they are): the tester must then report a mismatch, its own check.
 * Exit status: 0 all agreed, 1 first mismatch (with the seed that replays
 * it), 2 usage or setup error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libnvmmio.h>
#include <limits.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "oppick.h"

#define MAX_FILES   3           /* files of one worker */
#define FILE_MAX    (256 * KIB) /* dense writes keep files this long */
#define IO_MAX      (64 * KIB)  /* longest single read or write */
#define SPARSE_AT   (1 * MIB)   /* small far writes land in [1 MiB, 2 MiB) */
#define SPARSE_SPAN (1 * MIB)
#define WBUF_LEN    (VEC_MAX + MAX_IOV * 64 + IO_MAX)
#define CHUNK       (256 * KIB) /* read size of whole-file comparisons */
#define TX_OPS      12          /* most calls of one transaction */
#define GROUP_MAX   4           /* most writes of one pwritev_atomic */
#define HIST        12
#define DESC_LEN    200

enum { M = 0, P = 1 }; /* managed side, plain side */
static const char *const side_name[2] = {"managed", "plain"};

struct tfile {
    char path[2][PATH_MAX];
    int fd[2];
    int flags;           /* open flags of fd (the access mode, O_APPEND, O_DSYNC) */
    bool joined;         /* takes part in the worker's transaction */
    unsigned char *snap; /* the plain file's bytes when it joined */
    long long snap_size;
};

/* What a worker counts. */
struct counts {
    long long commits, aborts, groups, groups_failed, rules, busy;
};

/* Phase two: the two workers' files, and the lock under which a file
 * joins or leaves a transaction, so the other worker knows when its
 * change must fail with EBUSY. */
struct pair {
    pthread_mutex_t lock;
    struct worker *w[2];
};

struct worker {
    const char *name;
    uint64_t seed;
    struct pick pk;
    long long op, nops;
    int nf;
    struct tfile f[MAX_FILES];
    bool in_tx;
    unsigned char *wbuf, *rbuf[2];
    char desc[DESC_LEN];
    char hist[HIST][DESC_LEN + 32];
    long long nhist;
    struct counts n;
    struct pair *pair;      /* phase two only */
    int peer_fd[MAX_FILES]; /* phase two: the other worker's files, managed */
};

static uint64_t main_seed;
static bool root_mode, trace, no_restore;
static int foreign_fd = -1; /* a plain file: it cannot take part (EXDEV) */
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------- reporting */

__attribute__((format(printf, 2, 3))) static void set_desc(struct worker *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->desc, sizeof(w->desc), fmt, ap);
    va_end(ap);
    snprintf(w->hist[w->nhist % HIST], sizeof(w->hist[0]), "op %lld: %s", w->op, w->desc);
    w->nhist++;
    if (trace)
        fprintf(stderr, "%s op %lld: %s\n", w->name, w->op, w->desc);
}

static void print_history(const struct worker *w)
{
    printf("  recent calls of %s (oldest first):\n", w->name);
    for (long long i = w->nhist > HIST ? w->nhist - HIST : 0; i < w->nhist; i++)
        printf("    %s\n", w->hist[i % HIST]);
}

/* Reports the first mismatch with the recent calls and ends the test. */
__attribute__((format(printf, 2, 3), noreturn)) static void mismatch(struct worker *w,
                                                                     const char *fmt, ...)
{
    pthread_mutex_lock(&report_lock);
    fflush(stdout);
    printf("tx_diff: MISMATCH: seed %" PRIu64 " %s op %lld: %s\n", main_seed, w->name, w->op,
           w->desc);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    print_history(w);
    if (w->pair) /* the other thread runs on: its recent calls as they stand */
        print_history(w->pair->w[w->pair->w[0] == w]);
    printf("tx_diff: replay with --seed %" PRIu64 "%s%s\n", main_seed, root_mode ? " --root" : "",
           no_restore ? " --no-restore" : "");
    fflush(stdout);
    exit(1);
}

static void setup_error(const char *what, const char *path)
{
    fprintf(stderr, "tx_diff: %s %s: %s\n", what, path, strerror(errno));
    exit(2);
}

static void check_res(struct worker *w, struct res a, struct res b)
{
    if (a.ret == b.ret && (a.ret >= 0 || a.err == b.err))
        return;
    mismatch(w, "  managed: ret=%lld errno=%d (%s)\n  plain  : ret=%lld errno=%d (%s)\n", a.ret,
             a.err, strerror(a.err), b.ret, b.err, strerror(b.err));
}

/* A call that has no libc counterpart: its result is the rules'. */
static void expect(struct worker *w, struct res a, long long ret, int err)
{
    check_res(w, a, (struct res){ret, err});
}

static void check_bytes(struct worker *w, const char *what, const unsigned char *a,
                        const unsigned char *b, long long n, long long base)
{
    if (n <= 0 || memcmp(a, b, (size_t)n) == 0)
        return;
    long long i = 0;
    while (a[i] == b[i])
        i++;
    mismatch(w, "  %s: bytes differ first at file offset %lld: %s %02x, plain %02x\n", what,
             base + i, side_name[M], a[i], b[i]);
}

/* ---------------------------------------------------------------- files */

static long long fd_size(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? (long long)st.st_size : -1;
}

static long long plain_size(struct worker *w, int i)
{
    return fd_size(w->f[i].fd[P]);
}

/* The side's open: managed files are O_ATOMIC unless the root serves them. */
static int open_side(const struct tfile *t, int side, int flags)
{
    if (side == M && !root_mode)
        flags |= O_ATOMIC;
    return open(t->path[side], flags | O_CREAT | O_CLOEXEC, 0644);
}

static void check_managed(struct worker *w, int i)
{
    for (int side = M; side <= P; side++)
        if (nvmmio_is_managed(w->f[i].fd[side]) != (side == M))
            mismatch(w, "  %s file %d is %smanaged\n", side_name[side], i, side == M ? "not " : "");
}

static bool can_read(int flags)
{
    return (flags & O_ACCMODE) != O_WRONLY;
}

/* Reads a whole file into buf (at most cap bytes) through fd, or through
 * a fresh descriptor when fd cannot read; returns the bytes read. */
static long long read_all(struct worker *w, const struct tfile *t, int side, unsigned char *buf,
                          long long cap)
{
    int fd = can_read(t->flags) ? t->fd[side] : open_side(t, side, O_RDONLY);
    if (fd < 0)
        mismatch(w, "  cannot open the %s file %s: %s\n", side_name[side], t->path[side],
                 strerror(errno));
    long long done = 0, r;
    while (done < cap && (r = pread(fd, buf + done, (size_t)min_ll(CHUNK, cap - done), done)) > 0)
        done += r;
    if (fd != t->fd[side])
        close(fd);
    return done;
}

/* ---------------------------------------------------------- the reference */

/* The plain file's bytes now: what an abort puts back. */
static void take_snapshot(struct worker *w, int i)
{
    struct tfile *t = &w->f[i];
    long long size = plain_size(w, i);
    free(t->snap);
    t->snap = malloc((size_t)max_ll(size, 1));
    if (!t->snap)
        setup_error("out of memory for a copy of", t->path[P]);
    t->snap_size = size;
    int fd = open(t->path[P], O_RDONLY | O_CLOEXEC);
    if (fd < 0 || pread(fd, t->snap, (size_t)size, 0) != size)
        setup_error("cannot copy", t->path[P]);
    close(fd);
}

static void restore_snapshot(struct tfile *t)
{
    int fd = open(t->path[P], O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ftruncate(fd, t->snap_size) != 0 ||
        pwrite(fd, t->snap, (size_t)t->snap_size, 0) != t->snap_size)
        setup_error("cannot restore", t->path[P]);
    close(fd);
}

static void lock_pair(struct worker *w)
{
    if (w->pair)
        pthread_mutex_lock(&w->pair->lock);
}

static void unlock_pair(struct worker *w)
{
    if (w->pair)
        pthread_mutex_unlock(&w->pair->lock);
}

/* ------------------------------------------------------- whole-file checks */

/* Compares file i through the library with the plain file. */
static void compare_file(struct worker *w, int i, const char *when)
{
    long long sm = fd_size(w->f[i].fd[M]), sp = plain_size(w, i);
    if (sm != sp)
        mismatch(w, "  %s: file %d size: managed %lld, plain %lld\n", when, i, sm, sp);
    long long cap = sp + PAGE; /* a longer managed file shows as a short read */
    unsigned char *a = malloc((size_t)cap), *b = malloc((size_t)cap);
    if (!a || !b)
        setup_error("out of memory comparing", w->f[i].path[M]);
    long long na = read_all(w, &w->f[i], M, a, cap), nb = read_all(w, &w->f[i], P, b, cap);
    if (na != nb)
        mismatch(w, "  %s: file %d read %lld bytes managed, %lld plain\n", when, i, na, nb);
    check_bytes(w, when, a, b, na, 0);
    free(a);
    free(b);
}

/* Compares file i as the kernel holds it (system calls the library does
 * not see) with the plain file. */
static void compare_raw(struct worker *w, int i, const char *when)
{
    const struct tfile *t = &w->f[i];
    int fd = (int)syscall(SYS_openat, AT_FDCWD, t->path[M], O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || syscall(SYS_fstat, fd, &st) != 0)
        mismatch(w, "  %s: cannot read %s raw: %s\n", when, t->path[M], strerror(errno));
    long long sp = plain_size(w, i);
    if (st.st_size != sp)
        mismatch(w, "  %s: file %d raw size %lld, plain %lld\n", when, i, (long long)st.st_size,
                 sp);
    unsigned char *a = malloc((size_t)max_ll(sp, 1)), *b = malloc((size_t)max_ll(sp, 1));
    if (!a || !b)
        setup_error("out of memory comparing", t->path[M]);
    long long na = 0, r;
    while (na < sp && (r = syscall(SYS_pread64, fd, a + na, sp - na, na)) > 0)
        na += r;
    syscall(SYS_close, fd);
    long long nb = read_all(w, t, P, b, sp);
    if (na != nb)
        mismatch(w, "  %s: file %d read %lld bytes raw, %lld plain\n", when, i, na, nb);
    char what[64];
    snprintf(what, sizeof(what), "%s (raw)", when);
    check_bytes(w, what, a, b, na, 0);
    free(a);
    free(b);
}

static void check_size(struct worker *w, int i)
{
    long long sm = fd_size(w->f[i].fd[M]), sp = plain_size(w, i);
    if (sm != sp)
        mismatch(w, "  file %d size: managed %lld, plain %lld\n", i, sm, sp);
}

/* ---------------------------------------------------------------- changes */

/* Runs a change of file i on both sides. Inside a transaction a file not
 * yet taking part joins when the call passes the checks of its arguments:
 * when it succeeds, or fails later (checked: a fallocate mode the file
 * system lacks); the reference copies the plain file first. Phase two:
 * joining happens under the pair's lock. */
#define CHANGE_CHECKED(w, i, checked, expr_m, expr_p)                                              \
    do {                                                                                           \
        struct tfile *t_ = &(w)->f[i];                                                             \
        bool joining_ = (w)->in_tx && !t_->joined;                                                 \
        if (joining_) {                                                                            \
            take_snapshot(w, i);                                                                   \
            lock_pair(w);                                                                          \
        }                                                                                          \
        struct res a_ = CALL(expr_m);                                                              \
        struct res b_ = CALL(expr_p);                                                              \
        if (joining_) {                                                                            \
            t_->joined = a_.ret >= 0 || (checked);                                                 \
            unlock_pair(w);                                                                        \
        }                                                                                          \
        check_res(w, a_, b_);                                                                      \
        check_size(w, i);                                                                          \
    } while (0)

#define CHANGE(w, i, expr_m, expr_p) CHANGE_CHECKED(w, i, false, expr_m, expr_p)

/* Whether a write of no bytes joins is no rule: none is made to a file
 * that could join with it. */
static long long joining_len(const struct worker *w, int i, long long len)
{
    return len == 0 && w->in_tx && !w->f[i].joined ? 1 : len;
}

static void fill_wbuf(struct worker *w, long long len, uint64_t salt)
{
    fill_bytes(w->wbuf, len, w->seed, w->op, salt);
}

static void op_write(struct worker *w, int i)
{
    long long len = joining_len(w, i, min_ll(pick_len(&w->pk), IO_MAX));
    fill_wbuf(w, len, 0);
    set_desc(w, "write file %d len=%lld (size %lld)", i, len, plain_size(w, i));
    CHANGE(w, i, write(w->f[i].fd[M], w->wbuf, (size_t)len),
           write(w->f[i].fd[P], w->wbuf, (size_t)len));
}

static void op_pwrite(struct worker *w, int i)
{
    long long len = min_ll(pick_len(&w->pk), IO_MAX), off;
    pick_write(&w->pk, plain_size(w, i), &off, &len);
    len = joining_len(w, i, len);
    fill_wbuf(w, len, 0);
    set_desc(w, "pwrite file %d off=%lld len=%lld (size %lld)", i, off, len, plain_size(w, i));
    CHANGE(w, i, pwrite(w->f[i].fd[M], w->wbuf, (size_t)len, off),
           pwrite(w->f[i].fd[P], w->wbuf, (size_t)len, off));
}

/* A vectored write, at the position (writev) or at an offset (pwritev). */
static void vec_write(struct worker *w, int i, bool at_offset)
{
    struct vec v;
    struct iovec iov[MAX_IOV];
    pick_vec(&w->pk, &v);
    long long len = v.total, off = -1;
    if (at_offset)
        pick_write(&w->pk, plain_size(w, i), &off, &len);
    else
        len = min_ll(len, IO_MAX);
    trim_vec(&v, len);
    if (joining_len(w, i, v.total) != v.total) {
        v = (struct vec){.n = 1, .len = {1}, .total = 1, .span = 1};
    }
    fill_wbuf(w, v.span, 0);
    make_iov(&v, w->wbuf, iov);
    set_desc(w, "%s file %d iovcnt=%d total=%lld off=%lld (size %lld)",
             at_offset ? "pwritev" : "writev", i, v.n, v.total, off, plain_size(w, i));
    if (at_offset)
        CHANGE(w, i, pwritev(w->f[i].fd[M], iov, v.n, off), pwritev(w->f[i].fd[P], iov, v.n, off));
    else
        CHANGE(w, i, writev(w->f[i].fd[M], iov, v.n), writev(w->f[i].fd[P], iov, v.n));
}

static void op_writev(struct worker *w, int i)
{
    vec_write(w, i, false);
}

static void op_pwritev(struct worker *w, int i)
{
    vec_write(w, i, true);
}

static void op_ftruncate(struct worker *w, int i)
{
    long long len = pick_trunc_len(&w->pk, plain_size(w, i));
    set_desc(w, "ftruncate file %d len=%lld (size %lld)", i, len, plain_size(w, i));
    CHANGE(w, i, ftruncate(w->f[i].fd[M], len), ftruncate(w->f[i].fd[P], len));
}

static int pick_falloc_mode(struct worker *w, long long *off, long long *len)
{
    unsigned k = (unsigned)rnd(&w->pk, 100);
    if (k < 25)
        return 0;
    if (k < 45)
        return FALLOC_FL_KEEP_SIZE;
    if (k < 70)
        return FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
    if (k < 80)
        return FALLOC_FL_ZERO_RANGE | (chance(&w->pk, 500) ? FALLOC_FL_KEEP_SIZE : 0);
    if (k < 85) {
        *len = 0; /* EINVAL */
        return 0;
    }
    if (k < 90) {
        *off = -rnd_range(&w->pk, 1, 4096); /* EINVAL */
        return FALLOC_FL_KEEP_SIZE;
    }
    if (k < 95)
        return FALLOC_FL_PUNCH_HOLE; /* without KEEP_SIZE: EOPNOTSUPP */
    return FALLOC_FL_COLLAPSE_RANGE;
}

/* Whether fallocate passes the checks of its arguments, which the
 * kernel makes before it asks the file system. */
static bool falloc_checked(int flags, int mode, long long off, long long len)
{
    bool punch = mode & FALLOC_FL_PUNCH_HOLE, zero = mode & FALLOC_FL_ZERO_RANGE;
    return off >= 0 && len > 0 && !(punch && zero) && !(punch && !(mode & FALLOC_FL_KEEP_SIZE)) &&
           (flags & O_ACCMODE) != O_RDONLY;
}

static void op_fallocate(struct worker *w, int i)
{
    long long off, len;
    pick_falloc(&w->pk, plain_size(w, i), &off, &len);
    int mode = pick_falloc_mode(w, &off, &len);
    set_desc(w, "fallocate file %d mode=%#x off=%lld len=%lld (size %lld)", i, mode, off, len,
             plain_size(w, i));
    CHANGE_CHECKED(w, i, falloc_checked(w->f[i].flags, mode, off, len),
                   fallocate(w->f[i].fd[M], mode, off, len),
                   fallocate(w->f[i].fd[P], mode, off, len));
}

/* posix_fallocate returns the error number: a result < 0 stands for it. */
static long long posix_result(int rc)
{
    errno = rc;
    return rc ? -1 : 0;
}

static void op_posix_fallocate(struct worker *w, int i)
{
    long long off, len;
    pick_falloc(&w->pk, plain_size(w, i), &off, &len);
    if (chance(&w->pk, 50))
        len = 0;
    set_desc(w, "posix_fallocate file %d off=%lld len=%lld (size %lld)", i, off, len,
             plain_size(w, i));
    CHANGE(w, i, posix_result(posix_fallocate(w->f[i].fd[M], off, len)),
           posix_result(posix_fallocate(w->f[i].fd[P], off, len)));
}

/* Truncation by name falls into the file's running epoch: it joins no
 * transaction (only under a root: an O_ATOMIC file's name is the
 * kernel's). */
static void op_truncate(struct worker *w, int i)
{
    if (!root_mode) {
        op_ftruncate(w, i);
        return;
    }
    long long len = pick_trunc_len(&w->pk, plain_size(w, i));
    set_desc(w, "truncate file %d len=%lld (size %lld, %s)", i, len, plain_size(w, i),
             w->f[i].joined ? "taking part" : "not taking part");
    struct res a = CALL(truncate(w->f[i].path[M], len));
    struct res b = CALL(truncate(w->f[i].path[P], len));
    check_res(w, a, b);
    check_size(w, i);
}

/* ------------------------------------------------------------ other calls */

static void check_read(struct worker *w, struct res a, struct res b, long long off)
{
    check_res(w, a, b);
    check_bytes(w, "read", w->rbuf[M], w->rbuf[P], a.ret, off);
}

static void op_pread(struct worker *w, int i)
{
    long long len = min_ll(pick_len(&w->pk), IO_MAX);
    long long off = pick_read_off(&w->pk, plain_size(w, i), len);
    set_desc(w, "pread file %d off=%lld len=%lld (size %lld)", i, off, len, plain_size(w, i));
    struct res a = CALL(pread(w->f[i].fd[M], w->rbuf[M], (size_t)len, off));
    struct res b = CALL(pread(w->f[i].fd[P], w->rbuf[P], (size_t)len, off));
    check_read(w, a, b, off);
}

static void op_read(struct worker *w, int i)
{
    long long len = min_ll(pick_len(&w->pk), IO_MAX);
    long long pos = lseek(w->f[i].fd[P], 0, SEEK_CUR);
    set_desc(w, "read file %d len=%lld (pos %lld size %lld)", i, len, pos, plain_size(w, i));
    struct res a = CALL(read(w->f[i].fd[M], w->rbuf[M], (size_t)len));
    struct res b = CALL(read(w->f[i].fd[P], w->rbuf[P], (size_t)len));
    check_read(w, a, b, pos);
}

static void op_lseek(struct worker *w, int i)
{
    long long size = plain_size(w, i), off;
    int whence;
    unsigned k = (unsigned)rnd(&w->pk, 100);
    if (k < 40) {
        whence = SEEK_SET;
        off = rnd_range(&w->pk, 0, size + 64 * KIB);
    } else if (k < 55) {
        whence = SEEK_CUR;
        off = rnd_range(&w->pk, -64 * KIB, 64 * KIB); /* may go negative: EINVAL */
    } else if (k < 85) {
        whence = SEEK_END;
        off = rnd_range(&w->pk, -min_ll(size, 64 * KIB), 16 * KIB);
    } else {
        whence = SEEK_SET;
        off = chance(&w->pk, 500) ? 0 : -1;
    }
    set_desc(w, "lseek file %d off=%lld whence=%d (size %lld)", i, off, whence, size);
    struct res a = CALL(lseek(w->f[i].fd[M], off, whence));
    struct res b = CALL(lseek(w->f[i].fd[P], off, whence));
    check_res(w, a, b);
}

static void op_fstat(struct worker *w, int i)
{
    set_desc(w, "fstat file %d", i);
    check_size(w, i);
}

/* fsync and fdatasync: 0 inside a transaction, whose commit is the
 * durability point; outside one the kernel's view is the library's. */
static void sync_file(struct worker *w, int i, bool data_only)
{
    set_desc(w, "%s file %d (%s)", data_only ? "fdatasync" : "fsync", i,
             w->in_tx ? "in a transaction" : "outside");
    struct res a = CALL(data_only ? fdatasync(w->f[i].fd[M]) : fsync(w->f[i].fd[M]));
    struct res b = CALL(data_only ? fdatasync(w->f[i].fd[P]) : fsync(w->f[i].fd[P]));
    check_res(w, a, b);
    if (!w->in_tx && a.ret == 0)
        compare_raw(w, i, "after fsync");
}

static void op_fsync(struct worker *w, int i)
{
    sync_file(w, i, chance(&w->pk, 300));
}

static int pick_open_flags(struct worker *w)
{
    unsigned k = (unsigned)rnd(&w->pk, 100);
    if (k < 55)
        return O_RDWR;
    if (k < 65)
        return O_RDWR | O_APPEND;
    if (k < 73)
        return O_RDONLY;
    if (k < 80)
        return O_WRONLY;
    if (k < 90)
        return O_RDWR | O_TRUNC; /* joins nothing: the file's running epoch */
    return O_RDWR | O_DSYNC;
}

static void open_both(struct worker *w, int i, int flags)
{
    struct tfile *t = &w->f[i];
    struct res a = CALL(t->fd[M] = open_side(t, M, flags));
    struct res b = CALL(t->fd[P] = open_side(t, P, flags));
    a.ret = a.ret < 0 ? -1 : 0; /* descriptor numbers differ */
    b.ret = b.ret < 0 ? -1 : 0;
    check_res(w, a, b);
    if (a.ret < 0)
        mismatch(w, "  both opens failed: %s\n", strerror(a.err));
    t->flags = flags & ~O_TRUNC;
    check_managed(w, i);
}

/* Closes and opens again: inside a transaction the last close keeps the
 * file taking part. */
static void op_reopen(struct worker *w, int i)
{
    struct tfile *t = &w->f[i];
    int flags = pick_open_flags(w);
    set_desc(w, "close and reopen file %d with %#x (%s, size %lld)", i, flags,
             t->joined ? "taking part" : "not taking part", plain_size(w, i));
    struct res a = CALL(close(t->fd[M]));
    struct res b = CALL(close(t->fd[P]));
    check_res(w, a, b);
    open_both(w, i, flags);
    check_size(w, i);
}

/* ---------------------------------------------------------- transactions */

static void begin_tx(struct worker *w)
{
    set_desc(w, "nvmmio_tx_begin");
    expect(w, CALL(nvmmio_tx_begin()), 0, 0);
    w->in_tx = true;
}

static void end_tx(struct worker *w, bool commit)
{
    set_desc(w, "nvmmio_tx_%s", commit ? "commit" : "abort");
    lock_pair(w);
    struct res r = CALL(commit ? nvmmio_tx_commit() : nvmmio_tx_abort());
    bool took_part[MAX_FILES];
    for (int i = 0; i < w->nf; i++) {
        took_part[i] = w->f[i].joined;
        w->f[i].joined = false;
    }
    unlock_pair(w);
    w->in_tx = false;
    expect(w, r, 0, 0);
    for (int i = 0; i < w->nf; i++)
        if (took_part[i] && !commit && !no_restore)
            restore_snapshot(&w->f[i]);
    const char *when = commit ? "after commit" : "after abort";
    for (int i = 0; i < w->nf; i++) {
        compare_file(w, i, when);
        if (took_part[i])
            compare_raw(w, i, when);
    }
    if (commit)
        w->n.commits++;
    else
        w->n.aborts++;
}

/* ------------------------------------------------------------ phase two */

/* A change to a file that takes part in the other worker's transaction,
 * through a descriptor of this worker's: EBUSY, nothing changed. */
static void op_busy(struct worker *w)
{
    struct pair *p = w->pair;
    struct worker *peer = p->w[p->w[0] == w];
    int i = (int)rnd(&w->pk, (uint64_t)peer->nf), kind = (int)rnd(&w->pk, 4);
    long long off = rnd_range(&w->pk, 0, FILE_MAX), len = rnd_range(&w->pk, 1, 8 * KIB);
    fill_wbuf(w, len, 1);
    pthread_mutex_lock(&p->lock);
    if (!peer->f[i].joined) {
        pthread_mutex_unlock(&p->lock);
        return; /* it would join this transaction */
    }
    set_desc(w, "change %d to the other worker's file %d, taking part in its transaction", kind, i);
    int fd = w->peer_fd[i];
    struct res r = kind == 0   ? CALL(pwrite(fd, w->wbuf, (size_t)len, off))
                   : kind == 1 ? CALL(ftruncate(fd, off))
                   : kind == 2 ? CALL(fallocate(fd, 0, off, len))
                               : CALL(posix_result(posix_fallocate(fd, off, len)));
    pthread_mutex_unlock(&p->lock);
    expect(w, r, -1, EBUSY);
    w->n.busy++;
}

/* ----------------------------------------------------- the schedule */

struct op {
    void (*run)(struct worker *w, int i);
    unsigned weight;
};

static const struct op ops[] = {
    {op_write, 12},    {op_pwrite, 18},  {op_writev, 5},    {op_pwritev, 10},
    {op_ftruncate, 9}, {op_truncate, 3}, {op_fallocate, 9}, {op_posix_fallocate, 3},
    {op_pread, 10},    {op_read, 5},     {op_lseek, 6},     {op_fstat, 2},
    {op_fsync, 5},     {op_reopen, 5},
};

static void random_call(struct worker *w)
{
    unsigned total = 0;
    for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
        total += ops[k].weight;
    unsigned x = (unsigned)rnd(&w->pk, total);
    size_t k = 0;
    while (x >= ops[k].weight)
        x -= ops[k++].weight;
    ops[k].run(w, (int)rnd(&w->pk, (uint64_t)w->nf));
    w->op++;
}

/* The rules inside a transaction: a nested begin, nvmmio_sync_all and a
 * one-shot transaction are EBUSY (the latter writes nothing). */
static void rules_inside(struct worker *w)
{
    unsigned k = (unsigned)rnd(&w->pk, 3);
    if (k == 0) {
        set_desc(w, "nvmmio_tx_begin inside a transaction");
        expect(w, CALL(nvmmio_tx_begin()), -1, EBUSY);
    } else if (k == 1) {
        set_desc(w, "nvmmio_sync_all inside a transaction");
        expect(w, CALL(nvmmio_sync_all()), -1, EBUSY);
    } else {
        int i = (int)rnd(&w->pk, (uint64_t)w->nf);
        char x[64];
        memset(x, 'x', sizeof(x));
        struct iovec v = {x, sizeof(x)};
        struct nvmmio_write one = {w->f[i].fd[M], 0, &v, 1};
        set_desc(w, "nvmmio_pwritev_atomic inside a transaction, file %d", i);
        expect(w, CALL(nvmmio_pwritev_atomic(&one, 1)), -1, EBUSY);
        check_size(w, i);
    }
    w->n.rules++;
    w->op++;
}

static void rules_outside(struct worker *w)
{
    unsigned k = (unsigned)rnd(&w->pk, 4);
    struct nvmmio_write none = {w->f[0].fd[M], 0, NULL, 0};
    set_desc(w, "rule %u outside a transaction", k);
    struct res r = k == 0   ? CALL(nvmmio_tx_commit())
                   : k == 1 ? CALL(nvmmio_tx_abort())
                   : k == 2 ? CALL(nvmmio_pwritev_atomic(NULL, 1))
                            : CALL(nvmmio_pwritev_atomic(&none, 0));
    expect(w, r, -1, EINVAL);
    w->n.rules++;
    w->op++;
}

static void transaction(struct worker *w)
{
    begin_tx(w);
    w->op++;
    long long n = rnd_range(&w->pk, 0, TX_OPS);
    for (long long k = 0; k < n; k++) {
        if (chance(&w->pk, 40))
            rules_inside(w);
        else if (w->pair && chance(&w->pk, 100)) {
            op_busy(w);
            w->op++;
        } else
            random_call(w);
    }
    end_tx(w, chance(&w->pk, 550));
    w->op++;
}

/* ------------------------------------------------------- one-shot groups */

enum fault { NO_FAULT, BAD_OFFSET, BAD_FD, FOREIGN_FD, NFAULTS };

/* nvmmio_pwritev_atomic of up to GROUP_MAX writes across the files; the
 * reference runs each pwritev in turn and puts every file back when one
 * fails. One write in six groups is made to fail. */
static void atomic_group(struct worker *w)
{
    struct nvmmio_write wr[GROUP_MAX];
    struct iovec iov[GROUP_MAX][MAX_IOV];
    struct vec v[GROUP_MAX];
    int file[GROUP_MAX], n = (int)rnd_range(&w->pk, 1, GROUP_MAX);
    int bad = chance(&w->pk, 170) ? (int)rnd(&w->pk, (uint64_t)n) : -1;
    enum fault fault = bad >= 0 ? (enum fault)rnd_range(&w->pk, 1, NFAULTS - 1) : NO_FAULT;
    long long used = 0;
    for (int k = 0; k < n; k++) {
        file[k] = (int)rnd(&w->pk, (uint64_t)w->nf);
        pick_vec(&w->pk, &v[k]);
        long long len = min_ll(v[k].total, IO_MAX), off;
        pick_write(&w->pk, plain_size(w, file[k]), &off, &len);
        if (off < 0)
            off = 0; /* a negative offset is a fault of its own */
        trim_vec(&v[k], len);
        fill_bytes(w->wbuf + used, v[k].span, w->seed, w->op, (uint64_t)k + 2);
        make_iov(&v[k], w->wbuf + used, iov[k]);
        used += v[k].span;
        wr[k] = (struct nvmmio_write){w->f[file[k]].fd[M], off, iov[k], v[k].n};
        if (used + VEC_MAX + MAX_IOV * 64 > WBUF_LEN)
            n = k + 1;
    }
    if (bad >= n)
        bad = n - 1;
    if (bad >= 0)
        wr[bad].offset = fault == BAD_OFFSET ? -rnd_range(&w->pk, 1, 4096) : wr[bad].offset;
    if (fault == BAD_FD)
        wr[bad].fd = -1;
    if (fault == FOREIGN_FD)
        wr[bad].fd = foreign_fd;
    set_desc(w, "nvmmio_pwritev_atomic of %d writes (fault %d at %d)", n, fault, bad);
    for (int i = 0; i < w->nf; i++)
        take_snapshot(w, i);
    struct res a = CALL(nvmmio_pwritev_atomic(wr, n));
    struct res b = {0, 0};
    bool took_part[MAX_FILES] = {false};
    for (int k = 0; k < n && b.ret == 0; k++) {
        struct res r = k == bad && fault == BAD_FD ? (struct res){-1, EBADF}
                       : k == bad && fault == FOREIGN_FD
                           ? (struct res){-1, EXDEV}
                           : CALL(pwritev(w->f[file[k]].fd[P], iov[k], v[k].n, wr[k].offset));
        if (r.ret < 0)
            b = r;
        else if (r.ret > 0) /* a write of no bytes may join or not */
            took_part[file[k]] = true;
    }
    if (b.ret < 0)
        for (int i = 0; i < w->nf; i++)
            restore_snapshot(&w->f[i]);
    check_res(w, a, b);
    for (int i = 0; i < w->nf; i++) {
        compare_file(w, i, "after nvmmio_pwritev_atomic");
        if (took_part[i])
            compare_raw(w, i, "after nvmmio_pwritev_atomic");
    }
    w->n.groups++;
    w->n.groups_failed += b.ret < 0;
    w->op++;
}

/* Calls outside any transaction. */
static void outside(struct worker *w)
{
    long long n = rnd_range(&w->pk, 1, 4);
    for (long long k = 0; k < n; k++)
        random_call(w);
}

static void run_worker(struct worker *w)
{
    while (w->op < w->nops) {
        unsigned k = (unsigned)rnd(&w->pk, 100);
        if (k < 72)
            transaction(w);
        else if (k < 86)
            outside(w);
        else if (k < 95)
            atomic_group(w);
        else
            rules_outside(w);
    }
}

/* ---------------------------------------------------------- setup, end */

static void init_worker(struct worker *w, const char *name, uint64_t seed, long long nops,
                        const char *dir, int nf)
{
    memset(w, 0, sizeof(*w));
    w->name = name;
    w->seed = seed;
    w->nops = nops;
    w->nf = nf;
    w->pk = (struct pick){.rng = seed,
                          .max_file = FILE_MAX,
                          .max_io = IO_MAX,
                          .sparse_base = SPARSE_AT,
                          .sparse_span = SPARSE_SPAN};
    w->wbuf = malloc(WBUF_LEN);
    w->rbuf[M] = malloc(IO_MAX);
    w->rbuf[P] = malloc(IO_MAX);
    if (!w->wbuf || !w->rbuf[M] || !w->rbuf[P])
        setup_error("out of memory for", name);
    for (int i = 0; i < nf; i++) {
        struct tfile *t = &w->f[i];
        for (int side = M; side <= P; side++)
            snprintf(t->path[side], sizeof(t->path[side]), "%s/%s/%s-%d", dir,
                     side == M ? "managed" : "plain", name, i);
        open_both(w, i, O_RDWR | O_TRUNC);
    }
}

/* Closes every file, then compares them through the library (a fresh
 * open) and as the kernel holds them. */
static void finish_worker(struct worker *w)
{
    set_desc(w, "close every file and compare");
    for (int i = 0; i < w->nf; i++) {
        struct tfile *t = &w->f[i];
        struct res a = CALL(close(t->fd[M]));
        struct res b = CALL(close(t->fd[P]));
        check_res(w, a, b);
        t->flags = O_RDONLY;
        t->fd[P] = open_side(t, P, O_RDONLY);
        if (t->fd[P] < 0)
            setup_error("cannot open", t->path[P]);
        compare_raw(w, i, "at the end, closed");
        t->fd[M] = open_side(t, M, O_RDONLY);
        if (t->fd[M] < 0)
            mismatch(w, "  cannot open file %d again: %s\n", i, strerror(errno));
        compare_file(w, i, "at the end, opened again");
        close(t->fd[M]);
        close(t->fd[P]);
        free(t->snap);
    }
    free(w->wbuf);
    free(w->rbuf[M]);
    free(w->rbuf[P]);
}

static void *thread_main(void *arg)
{
    struct worker *w = arg;
    run_worker(w);
    return NULL;
}

/* Two threads, each with its own files and transactions. */
static void phase_two(const char *dir, long long nops, struct counts *sum, long long *ops)
{
    static struct pair p = {.lock = PTHREAD_MUTEX_INITIALIZER};
    static struct worker w[2];
    static const char *const names[2] = {"thread0", "thread1"};
    for (int k = 0; k < 2; k++) {
        init_worker(&w[k], names[k], main_seed * 0x9e3779b97f4a7c15ULL + (uint64_t)k + 1, nops, dir,
                    2);
        w[k].pair = &p;
        p.w[k] = &w[k];
    }
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < w[k].nf; i++) {
            w[k].peer_fd[i] = open_side(&w[1 - k].f[i], M, O_RDWR);
            if (w[k].peer_fd[i] < 0)
                setup_error("cannot open", w[1 - k].f[i].path[M]);
        }
    pthread_t t[2];
    for (int k = 0; k < 2; k++)
        if (pthread_create(&t[k], NULL, thread_main, &w[k]) != 0)
            setup_error("cannot start", names[k]);
    for (int k = 0; k < 2; k++)
        pthread_join(t[k], NULL);
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < w[k].nf; i++)
            close(w[k].peer_fd[i]);
        sum->commits += w[k].n.commits;
        sum->aborts += w[k].n.aborts;
        sum->groups += w[k].n.groups;
        sum->groups_failed += w[k].n.groups_failed;
        sum->rules += w[k].n.rules;
        sum->busy += w[k].n.busy;
        *ops += w[k].op;
    }
    for (int k = 0; k < 2; k++)
        finish_worker(&w[k]);
}

static void usage(void)
{
    fprintf(stderr, "usage: nvmmio_tx_diff --dir DIR --seed S --ops N [--thread-ops M] [--root] "
                    "[--trace] [--no-restore]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    long long nops = -1, thread_ops = -1;
    bool seeded = false;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        if (strcmp(a, "--root") == 0)
            root_mode = true;
        else if (strcmp(a, "--trace") == 0)
            trace = true;
        else if (strcmp(a, "--no-restore") == 0)
            no_restore = true;
        else if (k + 1 >= argc)
            usage();
        else if (strcmp(a, "--dir") == 0)
            dir = argv[++k];
        else if (strcmp(a, "--seed") == 0) {
            main_seed = parse_num("tx_diff", a, argv[++k]);
            seeded = true;
        } else if (strcmp(a, "--ops") == 0)
            nops = (long long)parse_num("tx_diff", a, argv[++k]);
        else if (strcmp(a, "--thread-ops") == 0)
            thread_ops = (long long)parse_num("tx_diff", a, argv[++k]);
        else
            usage();
    }
    if (!dir || !seeded || nops < 0)
        usage();
    if (thread_ops < 0)
        thread_ops = nops / 4;
    char path[PATH_MAX];
    for (int side = M; side <= P; side++) {
        snprintf(path, sizeof(path), "%s/%s", dir, side == M ? "managed" : "plain");
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            setup_error("cannot make", path);
    }
    snprintf(path, sizeof(path), "%s/plain/foreign", dir);
    foreign_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (foreign_fd < 0)
        setup_error("cannot open", path);

    static struct worker w;
    init_worker(&w, "main", main_seed, nops, dir, MAX_FILES);
    run_worker(&w);
    struct counts sum = w.n;
    long long total = w.op;
    finish_worker(&w);
    phase_two(dir, thread_ops, &sum, &total);
    close(foreign_fd);
    printf("tx_diff: seed %" PRIu64 "%s: %lld calls agreed (%lld in one thread, then two "
           "threads); %lld commits, %lld aborts, %lld nvmmio_pwritev_atomic (%lld failed), "
           "%lld rule errors, %lld EBUSY across threads\n",
           main_seed, root_mode ? " (root)" : "", total, w.op, sum.commits, sum.aborts, sum.groups,
           sum.groups_failed, sum.rules, sum.busy);
    return 0;
}
