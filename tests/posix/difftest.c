/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * difftest.c - differential POSIX tester for libnvmmio.
 *
 * Runs ONE seeded random sequence of file operations and applies every
 * operation twice: first on a file in the managed directory (side A, under
 * NVMMIO_PATH when libnvmmio is preloaded), then on the same-named file in a
 * plain directory (side B). After each operation the return values, errno
 * (when the call failed), the bytes read and the file sizes of both sides
 * must agree. Without the library both sides are plain libc and trivially
 * agree, which is the tester's self-check.
 *
 * Operations: open (O_APPEND, O_SYNC, O_DSYNC, O_CLOEXEC among the flags),
 * close, read, write, pread, pwrite, lseek, ftruncate, truncate, fsync,
 * fdatasync, fstat, stat, unlink, rename; vectored IO (readv, writev,
 * preadv, pwritev, preadv2, pwritev2 with per-call RWF_* flags); dup, dup2,
 * dup3, F_DUPFD(_CLOEXEC) into further slots that share the description
 * (offset, O_APPEND) with the original; fcntl F_GETFL/F_SETFL/F_GETFD/
 * F_SETFD; fallocate and posix_fallocate; copy_file_range and sendfile
 * between two slots of the same side; stdio streams (fopen, fdopen on a
 * dup, fread, fwrite, fgets, fputs, fseek, ftell, feof, ferror, fflush,
 * fclose; every burst of stream calls ends with fflush, so that streams and
 * descriptors interleave as POSIX allows); fork, the child working on the
 * same descriptors of both sides and reporting through a pipe (then
 * _exit(0), or exit(0) after opening and writing a file of its own); mapped
 * reads (the pages around a range of a slot's file mapped MAP_SHARED, read
 * up to the end of the page that holds the end of the file) and mapped
 * writes (stores through a writable MAP_SHARED mapping, then msync MS_SYNC,
 * MS_ASYNC or none, and munmap; a range past the end is first added with
 * ftruncate, so no store faults), together over a fifth of the operations,
 * some through a mapping a slot keeps across other operations. Fixed
 * sequences that once failed run before the random ones (see
 * run_regressions). Cases whose outcome is not a property of the file
 * system are kept out (see the comments there): where glibc's own stream
 * kinds differ from each other (large freads on a write-only stream or past
 * an end-of-file indicator, a non-append stream over an O_APPEND
 * descriptor), where the kernel's sendfile result within one file depends
 * on its copy chunking, and stores through a mapping past the end of the
 * file (they fault, or are lost, or not, as the file system has it).
 *
 *   nvmmio_difftest --seed S --ops N --managed DIR_A --plain DIR_B
 *                   [--max-file-mb M] [--alloc-slack-mb K] [--trace]
 *                   [--no-OP ...] [--no-CASE ...]
 *
 * --no-OP leaves out one kind of operation (OP as named in ops[] at the
 * bottom, e.g. --no-fork, --no-mmap) and --no-CASE one case within
 * operations (CASE as named in case_names[], e.g. --no-zero-range): for
 * exploring past a known mismatch; the CTest runs use none.
 *
 * Exit status: 0 all agreed, 1 first mismatch (reported on stdout), 2 usage
 * or setup error.
 *
 * All random choices come from one splitmix64 stream seeded by S and from
 * the state of the plain side, so a seed always replays the same sequence;
 * the stream and the length and offset choices are in oppick.h, shared
 * with the multi-process tester (mpdiff.c).
 * --trace prints every operation to stderr.
 *
 * Disk use is bounded: dense writes keep files within --max-file-mb (default
 * 64), only small writes land past it (sparse, beyond 4 GiB), and files that
 * grew large are truncated every SHRINK_EVERY operations. After every
 * operation an allocation guard reads, with raw system calls a preloaded
 * library cannot adjust, the space the kernel allocated for the files of
 * both sides, and fails like a mismatch when the managed side holds more
 * than twice the plain side plus --alloc-slack-mb (default 2048; 0 turns the
 * guard off): a library that fills holes densely stops the run at the first
 * such operation instead of filling /dev/shm.
 *
 * Adding an operation: write `static void op_xxx(struct ctx *c)` that picks
 * its parameters (rnd(), pick_slot(), pick_len(), ...), calls set_desc(),
 * runs the call on side A and then side B through CALL(), and checks the
 * outcome with check_res()/check_bytes()/check_stat(); then add a row to
 * ops[] at the bottom of the file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/falloc.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "oppick.h"

#define NFILES        4         /* pool of file names per side */
#define NSLOTS        8         /* descriptor slots per side */
#define NSTREAMS      2         /* stdio streams per side */
#define MAX_IO        (4 * MIB) /* largest single read or write */
#define SPARSE_BASE   (4 * GIB) /* sparse writes land in [4 GiB, 5 GiB) */
#define SPARSE_SPAN   (1 * GIB)
#define SHRINK_EVERY  5000        /* ops between shrinking large files */
#define VERIFY_EVERY  10000       /* ops between whole-file comparisons */
#define VERIFY_CHUNK  (1 * MIB)   /* read size of whole-file comparisons */
#define VERIFY_EDGE   (64 * MIB)  /* big files: compare head and tail this long */
#define VERIFY_MIDDLE (256 * MIB) /* big files: cap on the compared data extents */
#define HIST          16          /* recent operations shown on a mismatch */
#define DESC_LEN      240
#define COPY_MAX      (2 * MIB)  /* bytes of one copy_file_range or sendfile */
#define STREAM_IO     (64 * KIB) /* bytes of one fread or fwrite */
#define CHILD_OPS     4          /* most operations of a fork's child */
#define CHILD_IO      (64 * KIB) /* bytes of one read or write in a child */
#define MMAP_MAX      (1 * MIB)  /* length of one mmap */
#define KEEP_LEN      (1 * MIB)  /* length of a slot's kept mapping */
#define FRESH_FD      200        /* dup2/dup3 onto a free slot: 200 + slot (A), 232 + slot (B) */
#define MAX_OPS       64

enum { A = 0, B = 1 }; /* side A: managed, side B: plain */
static const char *const side_name[2] = {"managed", "plain"};

struct slot {
    bool open;
    int fd[2];    /* descriptors while open */
    int stale[2]; /* descriptor numbers of the last close (EBADF probes) */
    int flags;    /* open flags of the current (or last) open, O_APPEND kept
                     up to date through F_SETFL and fdopen */
    int name;     /* pool index the slot was opened with */
    int desc;     /* open file description: slots made by dup share it */
    /* A mapping of [0, KEEP_LEN) of the slot's file kept across operations
     * (NULL when none), with its protection. */
    unsigned char *kept[2];
    int kept_prot;
};

/* A stdio stream on each side. Every burst of calls on it ends with fflush,
 * so that no buffered state outlives an operation. */
struct stream {
    bool open;
    FILE *fp[2];
    char mode[4];
    int name; /* pool index for fopen, -1 for fdopen */
    int slot; /* fdopen: the slot whose descriptor was duplicated */
    int desc; /* fdopen: the description it shares with slots, else -1 */
    int dir;  /* 0 none, 1 reading, 2 writing: switching seeks first */
};

/* Cases within operations that --no-CASE leaves out (see usage()). */
enum {
    NO_ZERO_RANGE,     /* fallocate FALLOC_FL_ZERO_RANGE */
    NO_FALLOC_BADMODE, /* fallocate PUNCH_HOLE without KEEP_SIZE, unsupported modes */
    NO_RWF_EXTRA,      /* preadv2/pwritev2 RWF_NOAPPEND and unknown RWF_* bits */
    NO_COPY_OVERLAP,   /* copy_file_range within one file onto an overlapping range
                          or reading past its end, sendfile on one description */
    NO_FDOPEN_APPEND,  /* fdopen "a"/"a+" (it sets O_APPEND and moves the offset) */
    NO_SEEK_CUR_WRITE, /* fseeko SEEK_CUR with written bytes still buffered */
    NO_COPY_ERRORS,    /* copy_file_range/sendfile calls that must fail: unreadable,
                          unwritable or O_APPEND descriptors, negative offsets, flags */
    NO_FORK_CHANGES,   /* a fork's child changing inherited files or offsets */
    NCASES
};
static const char *const case_names[NCASES] = {
    [NO_ZERO_RANGE] = "zero-range",       [NO_FALLOC_BADMODE] = "falloc-badmode",
    [NO_RWF_EXTRA] = "rwf-extra",         [NO_COPY_OVERLAP] = "copy-overlap",
    [NO_FDOPEN_APPEND] = "fdopen-append", [NO_SEEK_CUR_WRITE] = "seek-cur-write",
    [NO_COPY_ERRORS] = "copy-errors",     [NO_FORK_CHANGES] = "fork-changes",
};

struct ctx {
    uint64_t seed;
    long long nops;
    long long alloc_slack; /* allocation guard: bytes managed may exceed 2 x plain */
    bool trace;
    struct pick pk; /* the random stream and the bounds of its choices */
    long long op;   /* index of the running operation */
    long long compared;
    char desc[DESC_LEN];
    char hist[HIST][DESC_LEN + 32];
    long long nhist;
    char path[2][NFILES][PATH_MAX];
    struct slot slots[NSLOTS];
    struct stream streams[NSTREAMS];
    int next_desc;
    bool skip[MAX_OPS];  /* --no-OP */
    bool no[NCASES];     /* --no-CASE */
    long long mapped[2]; /* mapped reads and mapped writes that got their mapping */
    unsigned char *wbuf;
    unsigned char *rbuf[2];
};

/* ---------------------------------------------------------------- random */

/* Fills the write buffer with bytes determined by (seed, op index, salt). */
static void fill_wbuf_salt(struct ctx *c, long long len, uint64_t salt)
{
    fill_bytes(c->wbuf, len, c->seed, c->op, salt);
}

static void fill_wbuf(struct ctx *c, long long len)
{
    fill_wbuf_salt(c, len, 0);
}

/* ------------------------------------------------------------- reporting */

static const char *flags_str(int flags, char *buf, size_t n)
{
    const char *acc = (flags & O_ACCMODE) == O_RDONLY   ? "O_RDONLY"
                      : (flags & O_ACCMODE) == O_WRONLY ? "O_WRONLY"
                                                        : "O_RDWR";
    snprintf(buf, n, "%s%s%s%s%s%s%s%s", acc, flags & O_CREAT ? "|O_CREAT" : "",
             flags & O_EXCL ? "|O_EXCL" : "", flags & O_TRUNC ? "|O_TRUNC" : "",
             flags & O_APPEND ? "|O_APPEND" : "",
             (flags & O_SYNC) == O_SYNC ? "|O_SYNC"
             : flags & O_DSYNC          ? "|O_DSYNC"
                                        : "",
             flags & O_NONBLOCK ? "|O_NONBLOCK" : "", flags & O_CLOEXEC ? "|O_CLOEXEC" : "");
    return buf;
}

static const char *whence_str(int whence)
{
    switch (whence) {
    case SEEK_SET:
        return "SEEK_SET";
    case SEEK_CUR:
        return "SEEK_CUR";
    case SEEK_END:
        return "SEEK_END";
    default:
        return "bad-whence";
    }
}

/* Describes the running operation; kept in a ring for mismatch reports. */
__attribute__((format(printf, 2, 3))) static void set_desc(struct ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->desc, sizeof(c->desc), fmt, ap);
    va_end(ap);
    snprintf(c->hist[c->nhist % HIST], sizeof(c->hist[0]), "op %lld: %s", c->op, c->desc);
    c->nhist++;
    if (c->trace)
        fprintf(stderr, "op %lld: %s\n", c->op, c->desc);
}

static void print_res(const char *side, struct res r)
{
    if (r.ret < 0)
        printf("  %-7s: ret=%lld errno=%d (%s)\n", side, r.ret, r.err, strerror(r.err));
    else
        printf("  %-7s: ret=%lld\n", side, r.ret);
}

static void report_head(struct ctx *c)
{
    fflush(stdout);
    printf("difftest: MISMATCH: seed %" PRIu64 " op %lld: %s\n", c->seed, c->op, c->desc);
}

__attribute__((noreturn)) static void report_tail(struct ctx *c)
{
    printf("  recent operations (oldest first):\n");
    for (long long i = c->nhist > HIST ? c->nhist - HIST : 0; i < c->nhist; i++)
        printf("    %s\n", c->hist[i % HIST]);
    printf("difftest: seed %" PRIu64 ": %lld ops compared, 1 mismatch\n", c->seed, c->compared);
    fflush(stdout);
    exit(1);
}

/* Reports the first mismatch with context and exits with status 1. */
__attribute__((format(printf, 2, 3), noreturn)) static void mismatch(struct ctx *c, const char *fmt,
                                                                     ...)
{
    va_list ap;
    report_head(c);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    report_tail(c);
}

static void check_res(struct ctx *c, struct res a, struct res b)
{
    if (a.ret == b.ret && (a.ret >= 0 || a.err == b.err))
        return;
    report_head(c);
    print_res(side_name[A], a);
    print_res(side_name[B], b);
    report_tail(c);
}

static void dump_bytes(const char *side, const unsigned char *p, long long n)
{
    printf("  %-7s:", side);
    for (long long i = 0; i < n; i++)
        printf(" %02x", p[i]);
    printf("\n");
}

/* Compares n bytes read on both sides; base is the file offset of byte 0. */
static void check_bytes(struct ctx *c, const unsigned char *a, const unsigned char *b, long long n,
                        long long base)
{
    if (n <= 0 || memcmp(a, b, (size_t)n) == 0)
        return;
    long long i = 0;
    while (a[i] == b[i])
        i++;
    long long show = min_ll(16, n - i);
    report_head(c);
    printf("  bytes differ: first at buffer offset %lld (file offset %lld) of %lld read\n", i,
           base >= 0 ? base + i : -1, n);
    dump_bytes(side_name[A], a + i, show);
    dump_bytes(side_name[B], b + i, show);
    report_tail(c);
}

/* Compares two stat results: same outcome, both regular, same size. */
static void check_stat(struct ctx *c, struct res a, struct res b, const struct stat *sa,
                       const struct stat *sb)
{
    check_res(c, a, b);
    if (a.ret < 0)
        return;
    if (!S_ISREG(sa->st_mode) || !S_ISREG(sb->st_mode))
        mismatch(c, "  not both regular files: managed mode=%o plain mode=%o\n",
                 (unsigned)sa->st_mode, (unsigned)sb->st_mode);
    if (sa->st_size != sb->st_size)
        mismatch(c, "  st_size differs: managed=%lld plain=%lld\n", (long long)sa->st_size,
                 (long long)sb->st_size);
}

/* ----------------------------------------------------------------- slots */

static bool slot_readable(const struct slot *s)
{
    return s->open && (s->flags & O_ACCMODE) != O_WRONLY;
}

static bool slot_writable(const struct slot *s)
{
    return s->open && (s->flags & O_ACCMODE) != O_RDONLY;
}

/* The descriptor to use for a slot on one side. A closed slot yields its
 * last descriptor number if that number is still unused (a stale fd, to see
 * that the library forgot it), else -1; both must fail with EBADF. */
static int fd_for(struct ctx *c, int s, int side)
{
    struct slot *sl = &c->slots[s];
    if (sl->open)
        return sl->fd[side];
    int fd = sl->stale[side];
    if (fd > 2 && fcntl(fd, F_GETFD) == -1 && errno == EBADF)
        return fd;
    return -1;
}

static const char *slot_str(struct ctx *c, int s, char *buf, size_t n)
{
    struct slot *sl = &c->slots[s];
    char f[96];
    if (sl->open)
        snprintf(buf, n, "slot=%d(f%d d%d %s)", s, sl->name, sl->desc,
                 flags_str(sl->flags, f, sizeof(f)));
    else
        snprintf(buf, n, "slot=%d(closed)", s);
    return buf;
}

/* Mostly an open slot; sometimes any slot (closed ones give EBADF). */
static int pick_slot(struct ctx *c)
{
    int open[NSLOTS], n = 0;
    for (int i = 0; i < NSLOTS; i++)
        if (c->slots[i].open)
            open[n++] = i;
    if (n > 0 && !chance(&c->pk, 80))
        return open[rnd(&c->pk, (uint64_t)n)];
    return (int)rnd(&c->pk, NSLOTS);
}

/* Size of the slot's file as the plain side sees it; 0 for closed slots. */
static long long plain_size(struct ctx *c, int s)
{
    struct stat st;
    if (!c->slots[s].open || fstat(c->slots[s].fd[B], &st) != 0)
        return 0;
    return (long long)st.st_size;
}

/* File position of the slot on the plain side; 0 for closed slots. */
static long long plain_pos(struct ctx *c, int s)
{
    if (!c->slots[s].open)
        return 0;
    return max_ll(0, (long long)lseek(c->slots[s].fd[B], 0, SEEK_CUR));
}

/* Unmaps the slot's kept mapping, if any (its descriptor is going). */
static void drop_kept(struct slot *sl)
{
    for (int side = A; side <= B; side++)
        if (sl->kept[side])
            munmap(sl->kept[side], KEEP_LEN);
    sl->kept[A] = sl->kept[B] = NULL;
}

static void slot_closed(struct slot *sl)
{
    sl->stale[A] = sl->fd[A];
    sl->stale[B] = sl->fd[B];
    sl->fd[A] = sl->fd[B] = -1;
    sl->open = false;
}

/* ------------------------------------------------------------ operations */

static void close_slot(struct ctx *c, int s, const char *why)
{
    char sb[128];
    struct slot *sl = &c->slots[s];
    int fa = fd_for(c, s, A), fb = fd_for(c, s, B);
    drop_kept(sl);
    set_desc(c, "close %s%s", slot_str(c, s, sb, sizeof(sb)), why);
    struct res a = CALL(close(fa));
    struct res b = CALL(close(fb));
    if (sl->open)
        slot_closed(sl);
    check_res(c, a, b);
}

/* A free slot for a new descriptor; when all are taken, one (never
 * `keep`) is closed first. */
static int take_slot(struct ctx *c, int keep)
{
    int free_slots[NSLOTS], n = 0;
    for (int i = 0; i < NSLOTS; i++)
        if (!c->slots[i].open)
            free_slots[n++] = i;
    if (n > 0)
        return free_slots[rnd(&c->pk, (uint64_t)n)];
    int s;
    do
        s = (int)rnd(&c->pk, NSLOTS);
    while (s == keep);
    close_slot(c, s, " (to reopen)");
    return s;
}

static void op_open(struct ctx *c)
{
    int s = take_slot(c, -1);
    int name = (int)rnd(&c->pk, NFILES);
    unsigned k = (unsigned)rnd(&c->pk, 8);
    int flags = k < 2 ? O_RDONLY : k < 4 ? O_WRONLY : O_RDWR;
    if (chance(&c->pk, 700))
        flags |= O_CREAT;
    if ((flags & O_CREAT) && chance(&c->pk, 40))
        flags |= O_EXCL;
    if (chance(&c->pk, 100))
        flags |= O_TRUNC;
    if (chance(&c->pk, 350))
        flags |= O_APPEND;
    k = (unsigned)rnd(&c->pk, 100);
    if (k < 4)
        flags |= O_SYNC;
    else if (k < 8)
        flags |= O_DSYNC;
    if (chance(&c->pk, 100))
        flags |= O_CLOEXEC;
    char fb[96];
    set_desc(c, "open f%d %s mode=0644 -> slot=%d", name, flags_str(flags, fb, sizeof(fb)), s);
    struct res a = CALL(open(c->path[A][name], flags, 0644));
    struct res b = CALL(open(c->path[B][name], flags, 0644));
    struct slot *sl = &c->slots[s];
    if (a.ret >= 0 && b.ret >= 0) {
        sl->open = true;
        sl->fd[A] = (int)a.ret;
        sl->fd[B] = (int)b.ret;
        sl->flags = flags;
        sl->name = name;
        sl->desc = c->next_desc++;
    }
    /* descriptor numbers may differ between the sides: compare success */
    struct res na = {a.ret >= 0 ? 0 : -1, a.err}, nb = {b.ret >= 0 ? 0 : -1, b.err};
    check_res(c, na, nb);
}

static void op_close(struct ctx *c)
{
    close_slot(c, pick_slot(c), "");
}

static void op_write(struct ctx *c)
{
    char sb[128];
    int s = pick_slot(c);
    struct slot *sl = &c->slots[s];
    long long len = pick_len(&c->pk);
    if (slot_writable(sl)) {
        long long at = (sl->flags & O_APPEND) ? plain_size(c, s) : plain_pos(c, s);
        len = bound_len(&c->pk, at, min_ll(len, c->pk.max_file));
    }
    fill_wbuf(c, len);
    int fa = fd_for(c, s, A), fb = fd_for(c, s, B);
    set_desc(c, "write %s pos=%lld len=%lld", slot_str(c, s, sb, sizeof(sb)), plain_pos(c, s), len);
    struct res a = CALL(write(fa, c->wbuf, (size_t)len));
    struct res b = CALL(write(fb, c->wbuf, (size_t)len));
    check_res(c, a, b);
}

static void op_pwrite(struct ctx *c)
{
    char sb[128];
    int s = pick_slot(c);
    struct slot *sl = &c->slots[s];
    long long size = plain_size(c, s), len = pick_len(&c->pk), off;
    pick_write(&c->pk, size, &off, &len);
    if (slot_writable(sl) && (sl->flags & O_APPEND))
        len = bound_len(&c->pk, size, len); /* Linux appends, ignoring off */
    fill_wbuf(c, len);
    int fa = fd_for(c, s, A), fb = fd_for(c, s, B);
    set_desc(c, "pwrite %s off=%lld len=%lld (size %lld)", slot_str(c, s, sb, sizeof(sb)), off, len,
             size);
    struct res a = CALL(pwrite(fa, c->wbuf, (size_t)len, off));
    struct res b = CALL(pwrite(fb, c->wbuf, (size_t)len, off));
    check_res(c, a, b);
}

static void poison(struct ctx *c, long long len)
{
    memset(c->rbuf[A], 0xa5, (size_t)len);
    memset(c->rbuf[B], 0x5a, (size_t)len);
}

static void op_read(struct ctx *c)
{
    char sb[128];
    int s = pick_slot(c);
    long long len = pick_len(&c->pk), pos = plain_pos(c, s);
    poison(c, len);
    int fa = fd_for(c, s, A), fb = fd_for(c, s, B);
    set_desc(c, "read %s pos=%lld len=%lld (size %lld)", slot_str(c, s, sb, sizeof(sb)), pos, len,
             plain_size(c, s));
    struct res a = CALL(read(fa, c->rbuf[A], (size_t)len));
    struct res b = CALL(read(fb, c->rbuf[B], (size_t)len));
    check_res(c, a, b);
    check_bytes(c, c->rbuf[A], c->rbuf[B], a.ret, pos);
}

static void op_pread(struct ctx *c)
{
    char sb[128];
    int s = pick_slot(c);
    long long size = plain_size(c, s), len = pick_len(&c->pk);
    long long off = pick_read_off(&c->pk, size, len);
    poison(c, len);
    int fa = fd_for(c, s, A), fb = fd_for(c, s, B);
    set_desc(c, "pread %s off=%lld len=%lld (size %lld)", slot_str(c, s, sb, sizeof(sb)), off, len,
             size);
    struct res a = CALL(pread(fa, c->rbuf[A], (size_t)len, off));
    struct res b = CALL(pread(fb, c->rbuf[B], (size_t)len, off));
    check_res(c, a, b);
    check_bytes(c, c->rbuf[A], c->rbuf[B], a.ret, off);
}

static void op_lseek(struct ctx *c)
{
    static const int bad_whence[] = {5, 7, 100, -1};
    char sb[128];
    int s = pick_slot(c);
    long long size = plain_size(c, s), off;
    int whence;
    unsigned k = (unsigned)rnd(&c->pk, 100);
    if (k < 30) {
        whence = SEEK_SET;
        off = rnd_range(&c->pk, 0, size + 64 * KIB);
    } else if (k < 40) {
        whence = SEEK_SET;
        off = PAGE * rnd_range(&c->pk, 0, (size + 64 * KIB) / PAGE);
    } else if (k < 55) {
        whence = SEEK_CUR;
        off = rnd_range(&c->pk, -64 * KIB, 64 * KIB); /* may go negative: EINVAL */
    } else if (k < 70) {
        whence = SEEK_END;
        off = rnd_range(&c->pk, -(min_ll(size, MIB) + PAGE), 64 * KIB);
    } else if (k < 75) {
        whence = SEEK_SET;
        off = -rnd_range(&c->pk, 1, MIB);
    } else if (k < 80) {
        whence = bad_whence[rnd(&c->pk, sizeof(bad_whence) / sizeof(bad_whence[0]))];
        off = rnd_range(&c->pk, 0, size);
    } else if (k < 81) {
        whence = SEEK_SET;
        off = SPARSE_BASE + (long long)rnd(&c->pk, SPARSE_SPAN);
    } else if (k < 90) {
        whence = SEEK_CUR;
        off = 0;
    } else {
        whence = SEEK_END;
        off = 0;
    }
    int fa = fd_for(c, s, A), fb = fd_for(c, s, B);
    set_desc(c, "lseek %s off=%lld whence=%s(%d) (pos %lld size %lld)",
             slot_str(c, s, sb, sizeof(sb)), off, whence_str(whence), whence, plain_pos(c, s),
             size);
    struct res a = CALL(lseek(fa, off, whence));
    struct res b = CALL(lseek(fb, off, whence));
    check_res(c, a, b);
}

static void op_ftruncate(struct ctx *c)
{
    char sb[128];
    int s = pick_slot(c);
    long long size = plain_size(c, s), len = pick_trunc_len(&c->pk, size);
    int fa = fd_for(c, s, A), fb = fd_for(c, s, B);
    set_desc(c, "ftruncate %s len=%lld (size %lld)", slot_str(c, s, sb, sizeof(sb)), len, size);
    struct res a = CALL(ftruncate(fa, len));
    struct res b = CALL(ftruncate(fb, len));
    check_res(c, a, b);
}

static void op_truncate(struct ctx *c)
{
    struct stat st;
    int name = (int)rnd(&c->pk, NFILES);
    long long size = stat(c->path[B][name], &st) == 0 ? (long long)st.st_size : 0;
    long long len = pick_trunc_len(&c->pk, size);
    set_desc(c, "truncate f%d len=%lld (size %lld)", name, len, size);
    struct res a = CALL(truncate(c->path[A][name], len));
    struct res b = CALL(truncate(c->path[B][name], len));
    check_res(c, a, b);
}

static void op_fsync(struct ctx *c)
{
    char sb[128];
    int s = pick_slot(c);
    int fa = fd_for(c, s, A), fb = fd_for(c, s, B);
    set_desc(c, "fsync %s", slot_str(c, s, sb, sizeof(sb)));
    struct res a = CALL(fsync(fa));
    struct res b = CALL(fsync(fb));
    check_res(c, a, b);
}

static void op_fdatasync(struct ctx *c)
{
    char sb[128];
    int s = pick_slot(c);
    int fa = fd_for(c, s, A), fb = fd_for(c, s, B);
    set_desc(c, "fdatasync %s", slot_str(c, s, sb, sizeof(sb)));
    struct res a = CALL(fdatasync(fa));
    struct res b = CALL(fdatasync(fb));
    check_res(c, a, b);
}

static void op_fstat(struct ctx *c)
{
    char sb[128];
    struct stat sa, sbuf;
    int s = pick_slot(c);
    int fa = fd_for(c, s, A), fb = fd_for(c, s, B);
    set_desc(c, "fstat %s", slot_str(c, s, sb, sizeof(sb)));
    struct res a = CALL(fstat(fa, &sa));
    struct res b = CALL(fstat(fb, &sbuf));
    check_stat(c, a, b, &sa, &sbuf);
}

static void op_stat(struct ctx *c)
{
    struct stat sa, sb;
    int name = (int)rnd(&c->pk, NFILES);
    set_desc(c, "stat f%d", name);
    struct res a = CALL(stat(c->path[A][name], &sa));
    struct res b = CALL(stat(c->path[B][name], &sb));
    check_stat(c, a, b, &sa, &sb);
}

static void op_unlink(struct ctx *c)
{
    int name = (int)rnd(&c->pk, NFILES);
    set_desc(c, "unlink f%d", name);
    struct res a = CALL(unlink(c->path[A][name]));
    struct res b = CALL(unlink(c->path[B][name]));
    check_res(c, a, b);
}

static void op_rename(struct ctx *c)
{
    int from = (int)rnd(&c->pk, NFILES), to = (int)rnd(&c->pk, NFILES);
    set_desc(c, "rename f%d -> f%d", from, to);
    struct res a = CALL(rename(c->path[A][from], c->path[A][to]));
    struct res b = CALL(rename(c->path[B][from], c->path[B][to]));
    check_res(c, a, b);
}

/* ---------------------------------------------------------- vectored IO */

static const char *vec_str(const struct vec *v, char *buf, size_t n)
{
    size_t at = (size_t)snprintf(buf, n, "iov=%d[", v->n);
    for (int i = 0; i < v->n && at < n; i++)
        at += (size_t)snprintf(buf + at, n - at, "%s%lld", i ? "," : "", v->len[i]);
    if (at < n)
        snprintf(buf + at, n - at, "]");
    return buf;
}

static const char *rwf_str(int rwf, char *buf, size_t n)
{
    if (rwf == 0) {
        snprintf(buf, n, "0");
        return buf;
    }
    snprintf(buf, n, "%s%s%s%s%s", rwf & RWF_DSYNC ? "|RWF_DSYNC" : "",
             rwf & RWF_SYNC ? "|RWF_SYNC" : "", rwf & RWF_APPEND ? "|RWF_APPEND" : "",
#ifdef RWF_NOAPPEND
             rwf & RWF_NOAPPEND ? "|RWF_NOAPPEND" : "",
#else
             "",
#endif
             rwf & ~(RWF_DSYNC | RWF_SYNC | RWF_APPEND | 0x20) ? "|unknown" : "");
    memmove(buf, buf + 1, strlen(buf));
    return buf;
}

static int pick_rwf_read(struct ctx *c)
{
    unsigned k = (unsigned)rnd(&c->pk, 100);
    if (k < 70)
        return 0;
    if (k < 85)
        return RWF_DSYNC;
    if (k < 95)
        return RWF_SYNC;
    return c->no[NO_RWF_EXTRA] ? 0 : 1 << 20; /* unknown: EOPNOTSUPP */
}

static int pick_rwf_write(struct ctx *c)
{
    unsigned k = (unsigned)rnd(&c->pk, 100);
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
    if (c->no[NO_RWF_EXTRA])
        return 0;
#ifdef RWF_NOAPPEND
    if (k < 96)
        return RWF_NOAPPEND; /* writes at the offset even with O_APPEND */
#endif
    return 1 << 20; /* unknown: EOPNOTSUPP */
}

/* Compares what a vectored read scattered: each iovec's share of the
 * returned count, and on the managed side that nothing was stored past it.
 * base is the file offset of the first byte, -1 when unknown. */
static void check_vec_read(struct ctx *c, const struct vec *v, long long got, long long base)
{
    long long done = 0;
    for (int i = 0; i < v->n; i++) {
        long long n = min_ll(max_ll(got - done, 0), v->len[i]);
        const unsigned char *pa = c->rbuf[A] + v->start[i], *pb = c->rbuf[B] + v->start[i];
        check_bytes(c, pa, pb, n, base >= 0 ? base + done : -1);
        for (long long j = n; j < v->len[i]; j++)
            if (pa[j] != 0xa5)
                mismatch(c,
                         "  managed side stored into iovec %d at byte %lld, past the %lld bytes "
                         "it returned\n",
                         i, j, got);
        done += n;
    }
}

enum { VEC_PLAIN, VEC_P, VEC_P2 }; /* readv/writev, preadv/pwritev, preadv2/pwritev2 */
static const char *const vec_read_name[] = {"readv", "preadv", "preadv2"};
static const char *const vec_write_name[] = {"writev", "pwritev", "pwritev2"};

static void vec_read(struct ctx *c, int kind)
{
    char sb[128], vb[160], fb[64];
    int s = pick_slot(c);
    struct vec v;
    pick_vec(&c->pk, &v);
    long long size = plain_size(c, s), pos = plain_pos(c, s), off = -1;
    int rwf = 0;
    if (kind == VEC_P)
        off = pick_read_off(&c->pk, size, v.total);
    else if (kind == VEC_P2) {
        off = chance(&c->pk, 400) ? -1 : pick_read_off(&c->pk, size, v.total);
        rwf = pick_rwf_read(c);
    }
    long long base = kind == VEC_PLAIN || off == -1 ? pos : off;
    struct iovec ia[MAX_IOV], ib[MAX_IOV];
    make_iov(&v, c->rbuf[A], ia);
    make_iov(&v, c->rbuf[B], ib);
    poison(c, v.span);
    int fa = fd_for(c, s, A), fb_ = fd_for(c, s, B);
    set_desc(c, "%s %s pos=%lld off=%lld flags=%s %s total=%lld (size %lld)", vec_read_name[kind],
             slot_str(c, s, sb, sizeof(sb)), pos, off, rwf_str(rwf, fb, sizeof(fb)),
             vec_str(&v, vb, sizeof(vb)), v.total, size);
    struct res a, b;
    if (kind == VEC_PLAIN) {
        a = CALL(readv(fa, ia, v.n));
        b = CALL(readv(fb_, ib, v.n));
    } else if (kind == VEC_P) {
        a = CALL(preadv(fa, ia, v.n, off));
        b = CALL(preadv(fb_, ib, v.n, off));
    } else {
        a = CALL(preadv2(fa, ia, v.n, off, rwf));
        b = CALL(preadv2(fb_, ib, v.n, off, rwf));
    }
    check_res(c, a, b);
    check_vec_read(c, &v, a.ret, base);
}

static void vec_write(struct ctx *c, int kind)
{
    char sb[128], vb[160], fb[64];
    int s = pick_slot(c);
    struct slot *sl = &c->slots[s];
    struct vec v;
    pick_vec(&c->pk, &v);
    long long size = plain_size(c, s), pos = plain_pos(c, s), off = -1, len = v.total;
    int rwf = 0;
    if (kind == VEC_P) {
        pick_write(&c->pk, size, &off, &len);
    } else if (kind == VEC_P2) {
        rwf = pick_rwf_write(c);
        if (chance(&c->pk, 400))
            off = -1;
        else
            pick_write(&c->pk, size, &off, &len);
    }
    if (slot_writable(sl)) {
        bool append = (sl->flags & O_APPEND) || (rwf & RWF_APPEND);
#ifdef RWF_NOAPPEND
        if (rwf & RWF_NOAPPEND)
            append = false;
#endif
        long long at = append ? size : off >= 0 ? off : pos;
        len = bound_len(&c->pk, at, min_ll(len, c->pk.max_file));
    }
    trim_vec(&v, len);
    fill_wbuf(c, v.span);
    struct iovec iov[MAX_IOV];
    make_iov(&v, c->wbuf, iov);
    int fa = fd_for(c, s, A), fb_ = fd_for(c, s, B);
    set_desc(c, "%s %s pos=%lld off=%lld flags=%s %s total=%lld (size %lld)", vec_write_name[kind],
             slot_str(c, s, sb, sizeof(sb)), pos, off, rwf_str(rwf, fb, sizeof(fb)),
             vec_str(&v, vb, sizeof(vb)), v.total, size);
    struct res a, b;
    if (kind == VEC_PLAIN) {
        a = CALL(writev(fa, iov, v.n));
        b = CALL(writev(fb_, iov, v.n));
    } else if (kind == VEC_P) {
        a = CALL(pwritev(fa, iov, v.n, off));
        b = CALL(pwritev(fb_, iov, v.n, off));
    } else {
        a = CALL(pwritev2(fa, iov, v.n, off, rwf));
        b = CALL(pwritev2(fb_, iov, v.n, off, rwf));
    }
    check_res(c, a, b);
}

static void op_readv(struct ctx *c)
{
    vec_read(c, VEC_PLAIN);
}

static void op_preadv(struct ctx *c)
{
    vec_read(c, VEC_P);
}

static void op_preadv2(struct ctx *c)
{
    vec_read(c, VEC_P2);
}

static void op_writev(struct ctx *c)
{
    vec_write(c, VEC_PLAIN);
}

static void op_pwritev(struct ctx *c)
{
    vec_write(c, VEC_P);
}

static void op_pwritev2(struct ctx *c)
{
    vec_write(c, VEC_P2);
}

/* ------------------------------------------------ duplicated descriptors */

/* Slot t becomes another descriptor of slot s's description. */
static void slot_dup_of(struct ctx *c, int t, int s, int fda, int fdb)
{
    struct slot *st = &c->slots[t], *ss = &c->slots[s];
    drop_kept(st);
    st->open = true;
    st->fd[A] = fda;
    st->fd[B] = fdb;
    st->flags = ss->flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC);
    st->name = ss->name;
    st->desc = ss->desc;
}

/* F_SETFL (or fdopen) changed the status flags of a description: every
 * slot on it follows. */
static void desc_setfl(struct ctx *c, int desc, int flags)
{
    const int settable = O_APPEND | O_NONBLOCK;
    for (int i = 0; i < NSLOTS; i++)
        if (c->slots[i].open && c->slots[i].desc == desc)
            c->slots[i].flags = (c->slots[i].flags & ~settable) | (flags & settable);
}

/* The number a new descriptor got on each side: each must be `want`
 * (any number when want < 0, at least `least` then). Success is compared. */
static void check_new_fd(struct ctx *c, struct res a, struct res b, const int want[2], long least)
{
    struct res r[2] = {a, b};
    for (int side = A; side <= B; side++) {
        if (r[side].ret < 0)
            continue;
        if (want[side] >= 0 && r[side].ret != want[side])
            mismatch(c, "  %s side returned descriptor %lld, not %d\n", side_name[side],
                     r[side].ret, want[side]);
        if (want[side] < 0 && r[side].ret < least)
            mismatch(c, "  %s side returned descriptor %lld, below %ld\n", side_name[side],
                     r[side].ret, least);
    }
    struct res na = {a.ret >= 0 ? 0 : -1, a.err}, nb = {b.ret >= 0 ? 0 : -1, b.err};
    check_res(c, na, nb);
}

/* dup, F_DUPFD, F_DUPFD_CLOEXEC into a free slot. */
static void dup_new(struct ctx *c, int s, int cmd)
{
    char sb[128];
    int t = take_slot(c, s);
    long least = 0;
    if (cmd) {
        unsigned k = (unsigned)rnd(&c->pk, 10);
        least = k < 3 ? 0 : k < 6 ? 3 : k < 8 ? 20 : k < 9 ? 100 : -(long)rnd_range(&c->pk, 1, 10);
    }
    int fa = fd_for(c, s, A), fb = fd_for(c, s, B);
    const char *name = cmd == F_DUPFD ? "fcntl(F_DUPFD)" : cmd ? "fcntl(F_DUPFD_CLOEXEC)" : "dup";
    set_desc(c, "%s %s min=%ld -> slot=%d", name, slot_str(c, s, sb, sizeof(sb)), least, t);
    struct res a = cmd ? CALL(fcntl(fa, cmd, (int)least)) : CALL(dup(fa));
    struct res b = cmd ? CALL(fcntl(fb, cmd, (int)least)) : CALL(dup(fb));
    const int any[2] = {-1, -1};
    check_new_fd(c, a, b, any, least);
    if (a.ret >= 0)
        slot_dup_of(c, t, s, (int)a.ret, (int)b.ret);
}

/* dup2 or dup3 onto another open slot's descriptor (closing it), onto the
 * slot's own descriptor, or onto a fresh number for a free slot. */
static void dup_onto(struct ctx *c, int s, bool three)
{
    char sb[128], tb[128];
    int others[NSLOTS], n = 0;
    for (int i = 0; i < NSLOTS; i++)
        if (i != s && c->slots[i].open)
            others[n++] = i;
    unsigned k = (unsigned)rnd(&c->pk, 100);
    int t, want[2];
    if (k < 55 && n > 0) {
        t = others[rnd(&c->pk, (uint64_t)n)];
        want[A] = c->slots[t].fd[A];
        want[B] = c->slots[t].fd[B];
    } else if (k < 70) {
        t = s;
        want[A] = fd_for(c, s, A);
        want[B] = fd_for(c, s, B);
    } else {
        t = take_slot(c, s);
        want[A] = FRESH_FD + t;
        want[B] = FRESH_FD + 32 + t;
    }
    int flags = 0;
    if (three) {
        k = (unsigned)rnd(&c->pk, 100);
        flags = k < 85 ? O_CLOEXEC : k < 95 ? 0 : O_NONBLOCK; /* O_NONBLOCK: EINVAL */
    }
    int fa = fd_for(c, s, A), fb = fd_for(c, s, B);
    snprintf(tb, sizeof(tb), "%s", t == s ? "itself" : "");
    if (t != s) {
        char x[128];
        snprintf(tb, sizeof(tb), "%s", slot_str(c, t, x, sizeof(x)));
    }
    if (three)
        set_desc(c, "dup3 %s onto %s (fd %d/%d) flags=%s", slot_str(c, s, sb, sizeof(sb)), tb,
                 want[A], want[B],
                 flags == O_CLOEXEC ? "O_CLOEXEC"
                 : flags            ? "O_NONBLOCK"
                                    : "0");
    else
        set_desc(c, "dup2 %s onto %s (fd %d/%d)", slot_str(c, s, sb, sizeof(sb)), tb, want[A],
                 want[B]);
    struct res a = three ? CALL(dup3(fa, want[A], flags)) : CALL(dup2(fa, want[A]));
    struct res b = three ? CALL(dup3(fb, want[B], flags)) : CALL(dup2(fb, want[B]));
    check_new_fd(c, a, b, want, 0);
    if (a.ret >= 0 && t != s)
        slot_dup_of(c, t, s, want[A], want[B]);
}

static void op_dup(struct ctx *c)
{
    int s = pick_slot(c);
    unsigned k = (unsigned)rnd(&c->pk, 100);
    if (k < 20)
        dup_new(c, s, 0);
    else if (k < 32)
        dup_new(c, s, F_DUPFD);
    else if (k < 42)
        dup_new(c, s, F_DUPFD_CLOEXEC);
    else if (k < 72)
        dup_onto(c, s, false);
    else
        dup_onto(c, s, true);
}

#define FL_MASK (O_ACCMODE | O_APPEND | O_NONBLOCK | O_DSYNC | O_SYNC)

static void op_fcntl(struct ctx *c)
{
    char sb[128], fb[96];
    int s = pick_slot(c);
    int fa = fd_for(c, s, A), fb_ = fd_for(c, s, B);
    unsigned k = (unsigned)rnd(&c->pk, 100);
    struct res a, b;
    if (k < 35) {
        set_desc(c, "fcntl(F_GETFL) %s", slot_str(c, s, sb, sizeof(sb)));
        a = CALL(fcntl(fa, F_GETFL));
        b = CALL(fcntl(fb_, F_GETFL));
        if (a.ret >= 0)
            a.ret &= FL_MASK;
        if (b.ret >= 0)
            b.ret &= FL_MASK;
        check_res(c, a, b);
    } else if (k < 75) {
        int cur = c->slots[s].open ? fcntl(fb_, F_GETFL) : O_RDWR;
        if (cur < 0)
            cur = O_RDWR;
        k = (unsigned)rnd(&c->pk, 100);
        int nf = k < 75 ? cur ^ O_APPEND : k < 90 ? cur ^ O_NONBLOCK : cur | O_DSYNC;
        /* O_APPEND stays as it is under a stream (see stdio_open) */
        for (int t = 0; t < NSTREAMS; t++)
            if (c->streams[t].open && c->slots[s].open && c->streams[t].desc == c->slots[s].desc)
                nf = (nf & ~O_APPEND) | (cur & O_APPEND);
        set_desc(c, "fcntl(F_SETFL, %s) %s", flags_str(nf, fb, sizeof(fb)),
                 slot_str(c, s, sb, sizeof(sb)));
        a = CALL(fcntl(fa, F_SETFL, nf));
        b = CALL(fcntl(fb_, F_SETFL, nf));
        check_res(c, a, b);
        if (b.ret == 0 && c->slots[s].open)
            desc_setfl(c, c->slots[s].desc, nf);
    } else if (k < 90) {
        set_desc(c, "fcntl(F_GETFD) %s", slot_str(c, s, sb, sizeof(sb)));
        a = CALL(fcntl(fa, F_GETFD));
        b = CALL(fcntl(fb_, F_GETFD));
        check_res(c, a, b);
    } else {
        int v = chance(&c->pk, 500) ? FD_CLOEXEC : 0;
        set_desc(c, "fcntl(F_SETFD, %d) %s", v, slot_str(c, s, sb, sizeof(sb)));
        a = CALL(fcntl(fa, F_SETFD, v));
        b = CALL(fcntl(fb_, F_SETFD, v));
        check_res(c, a, b);
    }
}

/* -------------------------------------------------------------- fallocate */

static const char *falloc_str(int mode, char *buf, size_t n)
{
    if (mode == 0) {
        snprintf(buf, n, "0");
        return buf;
    }
    snprintf(buf, n, "%s%s%s%s%s%s%s", mode & FALLOC_FL_KEEP_SIZE ? "|KEEP_SIZE" : "",
             mode & FALLOC_FL_PUNCH_HOLE ? "|PUNCH_HOLE" : "",
             mode & FALLOC_FL_ZERO_RANGE ? "|ZERO_RANGE" : "",
             mode & FALLOC_FL_COLLAPSE_RANGE ? "|COLLAPSE_RANGE" : "",
             mode & FALLOC_FL_INSERT_RANGE ? "|INSERT_RANGE" : "",
             mode & FALLOC_FL_UNSHARE_RANGE ? "|UNSHARE_RANGE" : "",
             mode & ~0x7f ? "|unknown" : "");
    memmove(buf, buf + 1, strlen(buf));
    return buf;
}

static void op_fallocate(struct ctx *c)
{
    static const int other_modes[] = {
        FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_UNSHARE_RANGE,
        FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0x100};
    char sb[128], mb[96];
    int s = pick_slot(c);
    long long size = plain_size(c, s), off, len;
    pick_falloc(&c->pk, size, &off, &len);
    int mode;
    unsigned k = (unsigned)rnd(&c->pk, 100);
    if (k < 22)
        mode = 0;
    else if (k < 36)
        mode = FALLOC_FL_KEEP_SIZE;
    else if (k < 58)
        mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
    else if (k < 68)
        mode = FALLOC_FL_ZERO_RANGE;
    else if (k < 76)
        mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
    else if (k < 80) {
        mode = chance(&c->pk, 500) ? 0 : FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
        len = 0; /* EINVAL */
    } else if (k < 84) {
        mode = chance(&c->pk, 500) ? 0 : FALLOC_FL_KEEP_SIZE;
        off = -rnd_range(&c->pk, 1, 4096); /* EINVAL */
    } else if (k < 87) {
        mode = 0;
        len = -rnd_range(&c->pk, 1, 4096); /* EINVAL */
    } else if (k < 92) {
        mode = FALLOC_FL_PUNCH_HOLE; /* without KEEP_SIZE: EOPNOTSUPP */
    } else {
        mode = other_modes[rnd(&c->pk, sizeof(other_modes) / sizeof(other_modes[0]))];
    }
    if ((c->no[NO_ZERO_RANGE] && (mode & FALLOC_FL_ZERO_RANGE)) ||
        (c->no[NO_FALLOC_BADMODE] && k >= 87))
        mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
    int fa = fd_for(c, s, A), fb = fd_for(c, s, B);
    set_desc(c, "fallocate %s mode=%s off=%lld len=%lld (size %lld)",
             slot_str(c, s, sb, sizeof(sb)), falloc_str(mode, mb, sizeof(mb)), off, len, size);
    struct res a = CALL(fallocate(fa, mode, off, len));
    struct res b = CALL(fallocate(fb, mode, off, len));
    check_res(c, a, b);
}

static void op_posix_fallocate(struct ctx *c)
{
    char sb[128];
    int s = pick_slot(c);
    long long size = plain_size(c, s), off, len;
    pick_falloc(&c->pk, size, &off, &len);
    unsigned k = (unsigned)rnd(&c->pk, 100);
    if (k < 4)
        len = 0;
    else if (k < 8)
        off = -rnd_range(&c->pk, 1, 4096);
    else if (k < 10)
        len = -rnd_range(&c->pk, 1, 4096);
    int fa = fd_for(c, s, A), fb = fd_for(c, s, B);
    set_desc(c, "posix_fallocate %s off=%lld len=%lld (size %lld)", slot_str(c, s, sb, sizeof(sb)),
             off, len, size);
    /* returns the error number; errno is not part of the result */
    struct res a = {posix_fallocate(fa, off, len), 0};
    struct res b = {posix_fallocate(fb, off, len), 0};
    check_res(c, a, b);
}

/* --------------------------------------------- copies between descriptors */

static bool same_file(struct ctx *c, int s1, int s2)
{
    struct stat x, y;
    return c->slots[s1].open && c->slots[s2].open && fstat(c->slots[s1].fd[B], &x) == 0 &&
           fstat(c->slots[s2].fd[B], &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* For --no-copy-errors: slots a copy can work between, if there are any. */
static bool pick_copy_fds(struct ctx *c, int *si, int *so)
{
    for (int i = 0; i < 50; i++) {
        if (slot_readable(&c->slots[*si]) && slot_writable(&c->slots[*so]) &&
            !(c->slots[*so].flags & O_APPEND))
            return true;
        *si = pick_slot(c);
        *so = pick_slot(c);
    }
    set_desc(c, "copy: no slots to copy between (--no-copy-errors)");
    return false;
}

static void op_copy_file_range(struct ctx *c)
{
    char ib[128], ob[128];
    int si = pick_slot(c), so = pick_slot(c);
    if (c->no[NO_COPY_ERRORS] && !pick_copy_fds(c, &si, &so))
        return;
    struct slot *out = &c->slots[so];
    long long isize = plain_size(c, si), osize = plain_size(c, so);
    long long ipos = plain_pos(c, si), opos = plain_pos(c, so);
    long long len = min_ll(pick_len(&c->pk), COPY_MAX);
    bool use_in = chance(&c->pk, 500), use_out = chance(&c->pk, 500);
    long long in_off = use_in ? pick_read_off(&c->pk, isize, len) : ipos;
    long long out_off = opos;
    if (use_out)
        pick_write(&c->pk, osize, &out_off, &len);
    if (slot_writable(out) && out_off >= 0)
        len = bound_len(&c->pk, out_off, min_ll(len, c->pk.max_file));
    unsigned flags = chance(&c->pk, 20) ? 1 : 0; /* EINVAL */
    if (c->no[NO_COPY_ERRORS]) {
        in_off = max_ll(in_off, 0);
        out_off = max_ll(out_off, 0);
        flags = 0;
    }
    if (c->no[NO_COPY_OVERLAP] && same_file(c, si, so) && in_off >= 0 && out_off >= 0) {
        long long n = in_off >= isize ? 0 : min_ll(len, isize - in_off);
        len = n; /* nor past the end the copy itself extends */
        if (out_off + n > in_off && out_off < in_off + n)
            len = out_off > in_off ? out_off - in_off : in_off - out_off;
    }
    int ia = fd_for(c, si, A), ib_ = fd_for(c, si, B);
    int oa = fd_for(c, so, A), ob_ = fd_for(c, so, B);
    set_desc(c, "copy_file_range in=%s %s=%lld out=%s %s=%lld len=%lld flags=%u (sizes %lld %lld)",
             slot_str(c, si, ib, sizeof(ib)), use_in ? "off" : "pos", in_off,
             slot_str(c, so, ob, sizeof(ob)), use_out ? "off" : "pos", out_off, len, flags, isize,
             osize);
    off64_t ina = in_off, inb = in_off, outa = out_off, outb = out_off;
    struct res a = CALL(
        copy_file_range(ia, use_in ? &ina : NULL, oa, use_out ? &outa : NULL, (size_t)len, flags));
    struct res b = CALL(copy_file_range(ib_, use_in ? &inb : NULL, ob_, use_out ? &outb : NULL,
                                        (size_t)len, flags));
    check_res(c, a, b);
    if (ina != inb || outa != outb)
        mismatch(c, "  offsets after the copy: managed in=%lld out=%lld, plain in=%lld out=%lld\n",
                 (long long)ina, (long long)outa, (long long)inb, (long long)outb);
}

static void op_sendfile(struct ctx *c)
{
    char ib[128], ob[128];
    int si = pick_slot(c), so = pick_slot(c);
    if (c->no[NO_COPY_ERRORS] && !pick_copy_fds(c, &si, &so))
        return;
    struct slot *out = &c->slots[so];
    long long isize = plain_size(c, si), ipos = plain_pos(c, si), opos = plain_pos(c, so);
    long long count = min_ll(pick_len(&c->pk), COPY_MAX);
    bool use_off = chance(&c->pk, 500);
    long long off = use_off ? pick_read_off(&c->pk, isize, count) : ipos;
    /* One description for both ends: reading from its offset and writing
     * at it are the same range */
    if (c->no[NO_COPY_OVERLAP] && c->slots[si].open && c->slots[so].open &&
        c->slots[si].desc == c->slots[so].desc)
        use_off = true;
    if (slot_writable(out) && !(out->flags & O_APPEND))
        count = bound_len(&c->pk, opos, min_ll(count, c->pk.max_file));
    if (c->no[NO_COPY_ERRORS])
        off = max_ll(off, 0);
    /* Within one file, what the kernel's copy reads after it wrote (onto
     * the range it has yet to read, or past the end it extended) depends on
     * its chunking: the copy stops short of both. */
    if (same_file(c, si, so) && off >= 0) {
        count = min_ll(count, max_ll(isize - off, 0));
        if (off < opos && opos < off + count)
            count = opos - off;
    }
    int ia = fd_for(c, si, A), ib_ = fd_for(c, si, B);
    int oa = fd_for(c, so, A), ob_ = fd_for(c, so, B);
    set_desc(c, "sendfile out=%s (pos %lld) in=%s %s=%lld count=%lld (size %lld)",
             slot_str(c, so, ob, sizeof(ob)), opos, slot_str(c, si, ib, sizeof(ib)),
             use_off ? "off" : "pos", off, count, isize);
    off_t offa = off, offb = off;
    struct res a = CALL(sendfile(oa, ia, use_off ? &offa : NULL, (size_t)count));
    struct res b = CALL(sendfile(ob_, ib_, use_off ? &offb : NULL, (size_t)count));
    check_res(c, a, b);
    if (offa != offb)
        mismatch(c, "  offset after sendfile: managed %lld, plain %lld\n", (long long)offa,
                 (long long)offb);
}

/* ---------------------------------------------------------------- stdio */

/* Compares results whose errno matters even when ret is not negative (the
 * caller sets err only when the call failed by its own rules). */
static void check_full(struct ctx *c, struct res a, struct res b)
{
    if (a.ret == b.ret && a.err == b.err)
        return;
    report_head(c);
    printf("  %-7s: ret=%lld errno=%d (%s)\n", side_name[A], a.ret, a.err, strerror(a.err));
    printf("  %-7s: ret=%lld errno=%d (%s)\n", side_name[B], b.ret, b.err, strerror(b.err));
    report_tail(c);
}

static const char *stream_str(struct ctx *c, int t, char *buf, size_t n)
{
    struct stream *st = &c->streams[t];
    if (st->name >= 0)
        snprintf(buf, n, "stream=%d(f%d \"%s\")", t, st->name, st->mode);
    else
        snprintf(buf, n, "stream=%d(fdopen of slot %d \"%s\")", t, st->slot, st->mode);
    return buf;
}

static void stdio_close(struct ctx *c, int t, const char *why)
{
    char tb[96];
    struct stream *st = &c->streams[t];
    set_desc(c, "fclose %s%s", stream_str(c, t, tb, sizeof(tb)), why);
    errno = 0;
    int ra = fclose(st->fp[A]);
    int ea = errno;
    errno = 0;
    int rb = fclose(st->fp[B]);
    int eb = errno;
    st->open = false;
    struct res a = {ra, ra == EOF ? ea : 0}, b = {rb, rb == EOF ? eb : 0};
    check_full(c, a, b);
}

static void stdio_open(struct ctx *c)
{
    static const char *const modes[] = {"r", "r+", "w", "w+", "a", "a+"};
    char sb[128];
    int t = -1;
    for (int i = 0; i < NSTREAMS && t < 0; i++)
        if (!c->streams[i].open)
            t = i;
    if (t < 0) {
        t = (int)rnd(&c->pk, NSTREAMS);
        stdio_close(c, t, " (to reopen)");
    }
    struct stream *st = &c->streams[t];
    const char *mode = modes[rnd(&c->pk, sizeof(modes) / sizeof(modes[0]))];
    int open_slots[NSLOTS], n = 0;
    for (int i = 0; i < NSLOTS; i++)
        if (c->slots[i].open)
            open_slots[n++] = i;
    FILE *fp[2] = {NULL, NULL};
    int err[2] = {0, 0};
    st->dir = 0;
    int s = n > 0 && chance(&c->pk, 250) ? open_slots[rnd(&c->pk, (uint64_t)n)] : -1;
    /* A stream over an O_APPEND descriptor is opened for appending: glibc's
     * file streams track their offset as if writes landed where the stream
     * stood, which the kernel does not do. */
    if (s >= 0 && (c->slots[s].flags & O_APPEND))
        mode = strchr(mode, '+') ? "a+" : "a";
    /* ... and fdopen "a" would set O_APPEND under the other stream */
    for (int u = 0; u < NSTREAMS && s >= 0; u++)
        if (u != t && c->streams[u].open && c->streams[u].desc == c->slots[s].desc &&
            !(c->slots[s].flags & O_APPEND) && mode[0] == 'a')
            mode = mode[1] ? "r+" : "w";
    if (s >= 0 && c->no[NO_FDOPEN_APPEND] && mode[0] == 'a')
        s = -1;
    snprintf(st->mode, sizeof(st->mode), "%s", mode);
    if (s >= 0) {
        st->name = -1;
        st->slot = s;
        st->desc = c->slots[s].desc;
        set_desc(c, "fdopen(dup(%s), \"%s\") -> stream=%d", slot_str(c, s, sb, sizeof(sb)), mode,
                 t);
        for (int side = A; side <= B; side++) {
            int d = dup(c->slots[s].fd[side]);
            if (d < 0)
                mismatch(c, "  dup failed on the %s side: %s\n", side_name[side], strerror(errno));
            errno = 0;
            fp[side] = fdopen(d, mode);
            err[side] = errno;
            if (!fp[side])
                close(d);
        }
        if (fp[B] && mode[0] == 'a')
            desc_setfl(c, c->slots[s].desc, c->slots[s].flags | O_APPEND);
    } else {
        int name = (int)rnd(&c->pk, NFILES);
        st->name = name;
        st->slot = -1;
        st->desc = -1;
        set_desc(c, "fopen f%d \"%s\" -> stream=%d", name, mode, t);
        for (int side = A; side <= B; side++) {
            errno = 0;
            fp[side] = fopen(c->path[side][name], mode);
            err[side] = errno;
        }
    }
    struct res a = {fp[A] ? 0 : -1, fp[A] ? 0 : err[A]};
    struct res b = {fp[B] ? 0 : -1, fp[B] ? 0 : err[B]};
    if (fp[A] && fp[B]) {
        st->open = true;
        st->fp[A] = fp[A];
        st->fp[B] = fp[B];
    }
    check_res(c, a, b);
}

/* A stream call whose failure is ret == fail (or ret < 0 when fail is 0). */
#define SCALL(expr, failed)                                                                        \
    ({                                                                                             \
        errno = 0;                                                                                 \
        long long r_ = (long long)(expr);                                                          \
        int e_ = errno;                                                                            \
        (struct res){r_, (failed) ? e_ : 0};                                                       \
    })

/* Compares the error indicators (and errno, when set) after a transfer. */
static void check_stream_error(struct ctx *c, int t, struct res a, struct res b)
{
    struct stream *st = &c->streams[t];
    int ea = ferror(st->fp[A]) != 0, eb = ferror(st->fp[B]) != 0;
    if (ea != eb)
        mismatch(c, "  ferror after the call: managed %d, plain %d\n", ea, eb);
    if (ea && a.err != b.err)
        mismatch(c, "  errno after a failed transfer: managed %d (%s), plain %d (%s)\n", a.err,
                 strerror(a.err), b.err, strerror(b.err));
}

static long long stream_size(struct ctx *c, int t)
{
    struct stat st;
    if (fstat(fileno(c->streams[t].fp[B]), &st) != 0)
        return 0;
    return (long long)st.st_size;
}

static void stdio_seek(struct ctx *c, int t, long long off, int whence)
{
    char tb[96];
    struct stream *st = &c->streams[t];
    if (c->no[NO_SEEK_CUR_WRITE] && whence == SEEK_CUR && st->dir == 2) {
        set_desc(c, "fflush %s (before fseeko SEEK_CUR)", stream_str(c, t, tb, sizeof(tb)));
        struct res a = SCALL(fflush(st->fp[A]), r_ == EOF);
        struct res b = SCALL(fflush(st->fp[B]), r_ == EOF);
        check_full(c, a, b);
    }
    set_desc(c, "fseeko %s off=%lld whence=%s", stream_str(c, t, tb, sizeof(tb)), off,
             whence_str(whence));
    struct res a = SCALL(fseeko(st->fp[A], off, whence), r_ != 0);
    struct res b = SCALL(fseeko(st->fp[B], off, whence), r_ != 0);
    check_full(c, a, b);
    st->dir = 0;
}

/* Reading after writing, or writing after reading, needs a positioning call
 * in between (C11 7.21.5.3). Before a read, an end-of-file indicator is
 * cleared: glibc keeps it sticky for reads through the buffer but not for
 * the direct reads of large freads on a file stream, so a stream built
 * otherwise (fopencookie) may differ there by design. */
static void stdio_direction(struct ctx *c, int t, int dir)
{
    char tb[96];
    struct stream *st = &c->streams[t];
    if (st->dir != 0 && st->dir != dir)
        stdio_seek(c, t, 0, SEEK_CUR);
    st->dir = dir;
    int ea = feof(st->fp[A]) != 0, eb = feof(st->fp[B]) != 0;
    if (dir == 1 && (ea || eb)) {
        set_desc(c, "feof %s (before a read)", stream_str(c, t, tb, sizeof(tb)));
        check_res(c, (struct res){ea, 0}, (struct res){eb, 0});
        set_desc(c, "clearerr %s (end-of-file indicator set)", stream_str(c, t, tb, sizeof(tb)));
        clearerr(st->fp[A]);
        clearerr(st->fp[B]);
    }
}

static void stdio_step(struct ctx *c, int t)
{
    char tb[96];
    struct stream *st = &c->streams[t];
    FILE *fa = st->fp[A], *fb = st->fp[B];
    unsigned k = (unsigned)rnd(&c->pk, 100);
    struct res a, b;
    if (k < 22) {
        long long n = chance(&c->pk, 20) ? 0 : log_uniform(&c->pk, 1, STREAM_IO);
        /* On a write-only stream glibc fails small reads (through the
         * buffer) but lets large ones reach a readable descriptor; only
         * the failure is common to every kind of stream. */
        if (strcmp(st->mode, "w") == 0 || strcmp(st->mode, "a") == 0)
            n = min_ll(n, PAGE - 1);
        long long size = chance(&c->pk, 200) ? rnd_range(&c->pk, 2, 16) : 1, nmemb = n / size;
        stdio_direction(c, t, 1);
        poison(c, n);
        set_desc(c, "fread %s size=%lld nmemb=%lld", stream_str(c, t, tb, sizeof(tb)), size, nmemb);
        a = SCALL(fread(c->rbuf[A], (size_t)size, (size_t)nmemb, fa), r_ < nmemb);
        b = SCALL(fread(c->rbuf[B], (size_t)size, (size_t)nmemb, fb), r_ < nmemb);
        check_res(c, a, b);
        check_bytes(c, c->rbuf[A], c->rbuf[B], a.ret * size, -1);
        check_stream_error(c, t, a, b);
    } else if (k < 40) {
        long long n = log_uniform(&c->pk, 1, STREAM_IO);
        stdio_direction(c, t, 2);
        fill_wbuf(c, n);
        set_desc(c, "fwrite %s len=%lld", stream_str(c, t, tb, sizeof(tb)), n);
        a = SCALL(fwrite(c->wbuf, 1, (size_t)n, fa), r_ < n);
        b = SCALL(fwrite(c->wbuf, 1, (size_t)n, fb), r_ < n);
        check_res(c, a, b);
        check_stream_error(c, t, a, b);
    } else if (k < 50) {
        int n = (int)rnd_range(&c->pk, 1, 600);
        stdio_direction(c, t, 1);
        memset(c->rbuf[A], 0xcc, (size_t)n);
        memset(c->rbuf[B], 0xcc, (size_t)n);
        set_desc(c, "fgets %s n=%d", stream_str(c, t, tb, sizeof(tb)), n);
        a = SCALL(fgets((char *)c->rbuf[A], n, fa) != NULL, r_ == 0);
        b = SCALL(fgets((char *)c->rbuf[B], n, fb) != NULL, r_ == 0);
        check_res(c, a, b);
        check_bytes(c, c->rbuf[A], c->rbuf[B], n, -1);
        check_stream_error(c, t, a, b);
    } else if (k < 60) {
        char str[320];
        int n = (int)rnd_range(&c->pk, 0, (long long)sizeof(str) - 1);
        for (int i = 0; i < n; i++)
            str[i] = chance(&c->pk, 30) ? '\n' : (char)(' ' + rnd(&c->pk, 95));
        str[n] = '\0';
        stdio_direction(c, t, 2);
        set_desc(c, "fputs %s len=%d", stream_str(c, t, tb, sizeof(tb)), n);
        a = SCALL(fputs(str, fa), r_ == EOF);
        b = SCALL(fputs(str, fb), r_ == EOF);
        check_res(c, a, b);
        check_stream_error(c, t, a, b);
    } else if (k < 72) {
        long long size = stream_size(c, t), off;
        int whence;
        unsigned j = (unsigned)rnd(&c->pk, 100);
        if (j < 40) {
            whence = SEEK_SET;
            off = rnd_range(&c->pk, 0, size + 4 * KIB);
        } else if (j < 55) {
            whence = SEEK_CUR;
            off = rnd_range(&c->pk, -4 * KIB, 4 * KIB);
        } else if (j < 75) {
            whence = SEEK_END;
            off = rnd_range(&c->pk, -min_ll(size, 64 * KIB), 4 * KIB);
        } else if (j < 85) {
            whence = SEEK_SET;
            off = 0;
        } else if (j < 90) {
            whence = SEEK_SET;
            off = -rnd_range(&c->pk, 1, 4096); /* EINVAL */
        } else {
            whence = SEEK_END;
            off = 0;
        }
        stdio_seek(c, t, off, whence);
    } else if (k < 80) {
        set_desc(c, "ftello %s", stream_str(c, t, tb, sizeof(tb)));
        a = SCALL(ftello(fa), r_ < 0);
        b = SCALL(ftello(fb), r_ < 0);
        check_full(c, a, b);
    } else if (k < 86) {
        set_desc(c, "feof %s", stream_str(c, t, tb, sizeof(tb)));
        a = (struct res){feof(fa) != 0, 0};
        b = (struct res){feof(fb) != 0, 0};
        check_res(c, a, b);
    } else if (k < 92) {
        set_desc(c, "ferror %s", stream_str(c, t, tb, sizeof(tb)));
        a = (struct res){ferror(fa) != 0, 0};
        b = (struct res){ferror(fb) != 0, 0};
        check_res(c, a, b);
    } else if (k < 97) {
        set_desc(c, "fflush %s", stream_str(c, t, tb, sizeof(tb)));
        a = SCALL(fflush(fa), r_ == EOF);
        b = SCALL(fflush(fb), r_ == EOF);
        check_full(c, a, b);
        st->dir = 0;
    } else {
        set_desc(c, "clearerr %s", stream_str(c, t, tb, sizeof(tb)));
        clearerr(fa);
        clearerr(fb);
    }
}

/* Opens a stream, closes one, or runs a burst of calls on one; a burst
 * ends with fflush, which writes out or drops what the stream buffered. */
static void op_stdio(struct ctx *c)
{
    char tb[96];
    int open[NSTREAMS], n = 0;
    for (int i = 0; i < NSTREAMS; i++)
        if (c->streams[i].open)
            open[n++] = i;
    unsigned k = (unsigned)rnd(&c->pk, 100);
    if (n == 0 || k < 15) {
        stdio_open(c);
        return;
    }
    int t = open[rnd(&c->pk, (uint64_t)n)];
    if (k < 25) {
        stdio_close(c, t, "");
        return;
    }
    int steps = (int)rnd_range(&c->pk, 1, 4);
    for (int i = 0; i < steps; i++)
        stdio_step(c, t);
    struct stream *st = &c->streams[t];
    set_desc(c, "fflush %s (end of burst)", stream_str(c, t, tb, sizeof(tb)));
    struct res a = SCALL(fflush(st->fp[A]), r_ == EOF);
    struct res b = SCALL(fflush(st->fp[B]), r_ == EOF);
    check_full(c, a, b);
    st->dir = 0;
}

/* ----------------------------------------------------------------- fork */

/* What a fork's child saw on both sides, sent to the parent. */
struct child_rec {
    char desc[DESC_LEN];
    struct res r[2];
    uint64_t hash[2]; /* of the bytes read, when a.ret > 0 */
};

/* One operation of the child on the descriptors both sides inherited. */
static void child_step(struct ctx *c, int step, struct child_rec *rec)
{
    char sb[128];
    int s = pick_slot(c);
    struct slot *sl = &c->slots[s];
    int fa = fd_for(c, s, A), fb = fd_for(c, s, B);
    long long size = plain_size(c, s), pos = plain_pos(c, s);
    long long len = log_uniform(&c->pk, 1, CHILD_IO), off;
    unsigned k = (unsigned)rnd(&c->pk, 100);
    if (c->no[NO_FORK_CHANGES] && (k < 55 || (k >= 68 && k < 80) || k >= 95))
        k = 60; /* pread */
    slot_str(c, s, sb, sizeof(sb));
    if (k < 30) {
        pick_write(&c->pk, size, &off, &len);
        len = min_ll(len, CHILD_IO);
        if (slot_writable(sl) && (sl->flags & O_APPEND))
            len = bound_len(&c->pk, size, len);
        fill_wbuf_salt(c, len, (uint64_t)step + 1);
        snprintf(rec->desc, DESC_LEN, "pwrite %s off=%lld len=%lld (size %lld)", sb, off, len,
                 size);
        rec->r[A] = CALL(pwrite(fa, c->wbuf, (size_t)len, off));
        rec->r[B] = CALL(pwrite(fb, c->wbuf, (size_t)len, off));
    } else if (k < 55) {
        if (slot_writable(sl))
            len = bound_len(&c->pk, (sl->flags & O_APPEND) ? size : pos, len);
        fill_wbuf_salt(c, len, (uint64_t)step + 1);
        snprintf(rec->desc, DESC_LEN, "write %s pos=%lld len=%lld (size %lld)", sb, pos, len, size);
        rec->r[A] = CALL(write(fa, c->wbuf, (size_t)len));
        rec->r[B] = CALL(write(fb, c->wbuf, (size_t)len));
    } else if (k < 80) {
        bool positional = k < 68;
        off = positional ? pick_read_off(&c->pk, size, len) : pos;
        poison(c, len);
        snprintf(rec->desc, DESC_LEN, "%s %s off=%lld len=%lld (size %lld)",
                 positional ? "pread" : "read", sb, off, len, size);
        if (positional) {
            rec->r[A] = CALL(pread(fa, c->rbuf[A], (size_t)len, off));
            rec->r[B] = CALL(pread(fb, c->rbuf[B], (size_t)len, off));
        } else {
            rec->r[A] = CALL(read(fa, c->rbuf[A], (size_t)len));
            rec->r[B] = CALL(read(fb, c->rbuf[B], (size_t)len));
        }
        for (int side = A; side <= B; side++)
            if (rec->r[side].ret > 0)
                rec->hash[side] = hash_bytes(c->rbuf[side], rec->r[side].ret);
    } else if (k < 88) {
        snprintf(rec->desc, DESC_LEN, "lseek %s 0 SEEK_CUR", sb);
        rec->r[A] = CALL(lseek(fa, 0, SEEK_CUR));
        rec->r[B] = CALL(lseek(fb, 0, SEEK_CUR));
    } else if (k < 95) {
        struct stat st;
        snprintf(rec->desc, DESC_LEN, "fstat %s (st_size as ret)", sb);
        rec->r[A] = CALL(fstat(fa, &st) == 0 ? st.st_size : -1);
        rec->r[B] = CALL(fstat(fb, &st) == 0 ? st.st_size : -1);
    } else {
        len = pick_trunc_len(&c->pk, size);
        snprintf(rec->desc, DESC_LEN, "ftruncate %s len=%lld (size %lld)", sb, len, size);
        rec->r[A] = CALL(ftruncate(fa, len));
        rec->r[B] = CALL(ftruncate(fb, len));
    }
}

/* The child of exit(0) also opens a pool file itself and writes it without
 * closing: its exit must leave the bytes in the file. */
static void child_open_write(struct ctx *c, struct child_rec *rec)
{
    int name = (int)rnd(&c->pk, NFILES);
    long long off = rnd_range(&c->pk, 0, 256 * KIB), len = log_uniform(&c->pk, 1, CHILD_IO);
    fill_wbuf_salt(c, len, 99);
    snprintf(rec->desc, DESC_LEN,
             "open f%d O_RDWR|O_CREAT, pwrite off=%lld len=%lld, no close (ret: pwrite)", name, off,
             len);
    for (int side = A; side <= B; side++) {
        int fd = open(c->path[side][name], O_RDWR | O_CREAT, 0644);
        rec->r[side] =
            fd < 0 ? (struct res){-1, errno} : CALL(pwrite(fd, c->wbuf, (size_t)len, off));
    }
}

__attribute__((noreturn)) static void fork_child(struct ctx *c, int wfd, int nsteps, bool use_exit)
{
    static struct child_rec recs[CHILD_OPS + 1];
    int n = 0;
    for (; n < nsteps; n++)
        child_step(c, n, &recs[n]);
    if (use_exit && !c->no[NO_FORK_CHANGES])
        child_open_write(c, &recs[n++]);
    const char *p = (const char *)recs;
    size_t left = sizeof(recs[0]) * (size_t)n;
    if (write(wfd, &n, sizeof(n)) != (ssize_t)sizeof(n))
        _exit(3);
    while (left > 0) {
        ssize_t w = write(wfd, p, left);
        if (w <= 0)
            _exit(3);
        p += w;
        left -= (size_t)w;
    }
    close(wfd);
    if (use_exit)
        exit(0);
    _exit(0);
}

static void read_full(struct ctx *c, int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            mismatch(c, "  the child's report was cut short\n");
        p += r;
        n -= (size_t)r;
    }
}

/* After a fork: every open slot's offset and size still agree. */
static void check_slots(struct ctx *c, const char *when)
{
    char sb[128];
    for (int s = 0; s < NSLOTS; s++) {
        struct slot *sl = &c->slots[s];
        struct stat sa, sbuf;
        if (!sl->open)
            continue;
        set_desc(c, "%s: lseek %s 0 SEEK_CUR", when, slot_str(c, s, sb, sizeof(sb)));
        struct res a = CALL(lseek(sl->fd[A], 0, SEEK_CUR));
        struct res b = CALL(lseek(sl->fd[B], 0, SEEK_CUR));
        check_res(c, a, b);
        set_desc(c, "%s: fstat %s", when, slot_str(c, s, sb, sizeof(sb)));
        a = CALL(fstat(sl->fd[A], &sa));
        b = CALL(fstat(sl->fd[B], &sbuf));
        check_stat(c, a, b, &sa, &sbuf);
    }
}

static void op_fork(struct ctx *c)
{
    bool use_exit = chance(&c->pk, 300);
    int nsteps = (int)rnd_range(&c->pk, 1, CHILD_OPS);
    uint64_t child_rng = splitmix64(&c->pk.rng);
    set_desc(c, "fork: the child runs %d operation(s), then %s", nsteps,
             use_exit ? "exit(0)" : "_exit(0)");
    int p[2];
    if (pipe(p) != 0)
        mismatch(c, "  pipe: %s\n", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        mismatch(c, "  fork: %s\n", strerror(errno));
    if (pid == 0) {
        close(p[0]);
        c->pk.rng = child_rng;
        fork_child(c, p[1], nsteps, use_exit);
    }
    close(p[1]);
    static struct child_rec recs[CHILD_OPS + 1];
    int n = 0;
    if (read(p[0], &n, sizeof(n)) != (ssize_t)sizeof(n) || n < 0 || n > CHILD_OPS + 1)
        n = -1;
    else
        read_full(c, p[0], recs, sizeof(recs[0]) * (size_t)n);
    close(p[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            mismatch(c, "  waitpid: %s\n", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n < 0)
        mismatch(c, "  the child did not report and exit cleanly: %s %d\n",
                 WIFEXITED(status) ? "exit status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    for (int i = 0; i < n; i++) {
        set_desc(c, "fork child op %d: %s", i, recs[i].desc);
        check_res(c, recs[i].r[A], recs[i].r[B]);
        if (recs[i].r[A].ret > 0 && recs[i].hash[A] != recs[i].hash[B])
            mismatch(c,
                     "  the child read different bytes (hash %016" PRIx64 " vs %016" PRIx64 ")\n",
                     recs[i].hash[A], recs[i].hash[B]);
    }
    check_slots(c, use_exit ? "after fork (child exit)" : "after fork (child _exit)");
}

/* ----------------------------------------------------------------- mmap */

static struct ctx *fatal_ctx;

static void on_sigbus(int sig)
{
    if (bus_armed) {
        bus_armed = 0;
        siglongjmp(bus_env, 1);
    }
    if (fatal_ctx) {
        char msg[DESC_LEN + 96];
        int n = snprintf(msg, sizeof(msg), "difftest: signal %d in op %lld: %s\n", sig,
                         fatal_ctx->op, fatal_ctx->desc);
        ssize_t w =
            n > 0 ? write(STDOUT_FILENO, msg, (size_t)min_ll(n, (long long)sizeof(msg) - 1)) : 0;
        (void)w;
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Maps [moff, moff+mlen) of fd[A] and fd[B] shared with prot and compares
 * the outcome; true when both are mapped (m[A], m[B]). */
static bool map_both(struct ctx *c, const int fd[2], int prot, long long moff, long long mlen,
                     unsigned char *m[2])
{
    struct res r[2];
    for (int side = A; side <= B; side++) {
        errno = 0;
        void *p = mmap(NULL, (size_t)mlen, prot, MAP_SHARED, fd[side], moff);
        r[side] = (struct res){p == MAP_FAILED ? -1 : 0, p == MAP_FAILED ? errno : 0};
        m[side] = p == MAP_FAILED ? NULL : p;
    }
    if (r[A].ret != r[B].ret)
        for (int side = A; side <= B; side++)
            if (m[side])
                munmap(m[side], (size_t)mlen);
    check_res(c, r[A], r[B]);
    return r[A].ret == 0;
}

static void unmap_both(struct ctx *c, unsigned char *m[2], long long mlen)
{
    struct res a = CALL(munmap(m[A], (size_t)mlen));
    struct res b = CALL(munmap(m[B], (size_t)mlen));
    check_res(c, a, b);
}

/* Reads [off, off+len) through both mappings, which start at file offset
 * moff, and compares the bytes. */
static void check_mapped(struct ctx *c, unsigned char *m[2], long long moff, long long off,
                         long long len)
{
    bool ok_a = guarded_copy(c->rbuf[A], m[A] + (off - moff), len);
    bool ok_b = guarded_copy(c->rbuf[B], m[B] + (off - moff), len);
    if (!ok_a || !ok_b)
        mismatch(c, "  SIGBUS reading the mapping: managed %s, plain %s\n",
                 ok_a ? "fine" : "SIGBUS", ok_b ? "fine" : "SIGBUS");
    check_bytes(c, c->rbuf[A], c->rbuf[B], len, off);
}

/* Stores len bytes of the write buffer at file offset off through both
 * mappings, which start at moff. */
static void store_mapped(struct ctx *c, unsigned char *m[2], long long moff, long long off,
                         long long len)
{
    bool ok_a = guarded_copy(m[A] + (off - moff), c->wbuf, len);
    bool ok_b = guarded_copy(m[B] + (off - moff), c->wbuf, len);
    if (!ok_a || !ok_b)
        mismatch(c, "  SIGBUS storing through the mapping: managed %s, plain %s\n",
                 ok_a ? "fine" : "SIGBUS", ok_b ? "fine" : "SIGBUS");
}

static const char *msync_str(int how)
{
    return how == MS_SYNC ? "MS_SYNC" : how == MS_ASYNC ? "MS_ASYNC" : "none";
}

static void msync_both(struct ctx *c, unsigned char *m[2], long long mlen, int how)
{
    struct res a = CALL(msync(m[A], (size_t)mlen, how));
    struct res b = CALL(msync(m[B], (size_t)mlen, how));
    check_res(c, a, b);
}

/* Mostly an open slot whose access mode is `acc` (or either mode that reads
 * when acc is O_RDONLY); otherwise any slot, for the errors. */
static int pick_slot_for(struct ctx *c, int acc)
{
    int fit[NSLOTS], n = 0;
    for (int i = 0; i < NSLOTS; i++) {
        struct slot *sl = &c->slots[i];
        if (acc == O_RDONLY ? slot_readable(sl) : sl->open && (sl->flags & O_ACCMODE) == acc)
            fit[n++] = i;
    }
    if (n > 0 && chance(&c->pk, 900))
        return fit[rnd(&c->pk, (uint64_t)n)];
    return pick_slot(c);
}

/* Where a mapped access starts, given the (plain) size: mostly inside the
 * file, some near its end, some (when past_end) beyond it. */
static long long pick_map_off(struct ctx *c, long long size, bool past_end)
{
    long long dsize = min_ll(size, c->pk.max_file);
    unsigned k = (unsigned)rnd(&c->pk, 100);
    if (k < 45)
        return rnd_range(&c->pk, 0, dsize);
    if (k < 65)
        return dsize - rnd_range(&c->pk, 0, min_ll(dsize, 64 * KIB));
    if (k < 80 && past_end)
        return dsize + rnd_range(&c->pk, 0, 64 * KIB);
    return PAGE * rnd_range(&c->pk, 0, dsize / PAGE);
}

/* The mapping a mapped read or write of slot s uses for a range that ends
 * at `end`: half of the time the slot's kept mapping, if it covers the
 * range with protection `prot`, so that mappings also live through the
 * truncations, writes and hole punches of other operations; NULL for a
 * fresh mapping. Now and then a slot gets a kept mapping, or loses it. */
static unsigned char **kept_for(struct ctx *c, int s, long long end, int prot)
{
    char sb[128];
    struct slot *sl = &c->slots[s];
    if (sl->open && !sl->kept[A] && chance(&c->pk, 100)) {
        int fd[2] = {sl->fd[A], sl->fd[B]};
        sl->kept_prot = (sl->flags & O_ACCMODE) == O_RDWR ? PROT_READ | PROT_WRITE : PROT_READ;
        set_desc(c, "keep a mapping: mmap %s MAP_SHARED %s len %lld",
                 sl->kept_prot & PROT_WRITE ? "PROT_READ|PROT_WRITE" : "PROT_READ",
                 slot_str(c, s, sb, sizeof(sb)), KEEP_LEN);
        if (!map_both(c, fd, sl->kept_prot, 0, KEEP_LEN, sl->kept))
            sl->kept[A] = sl->kept[B] = NULL;
    } else if (sl->kept[A] && chance(&c->pk, 50)) {
        set_desc(c, "drop the kept mapping: munmap %s len %lld", slot_str(c, s, sb, sizeof(sb)),
                 KEEP_LEN);
        unmap_both(c, sl->kept, KEEP_LEN);
        sl->kept[A] = sl->kept[B] = NULL;
    }
    if (sl->kept[A] && end <= KEEP_LEN && (sl->kept_prot & prot) == prot && chance(&c->pk, 500))
        return sl->kept;
    return NULL;
}

/* A mapped read: the pages covering a range of the slot's file are mapped
 * (sometimes writable too) and the range is read through the mapping. The
 * range may reach the end of the page that holds the end of the file,
 * which must read as zero past it. */
static void op_mmap(struct ctx *c)
{
    char sb[128];
    int s = pick_slot_for(c, O_RDONLY);
    int fd[2] = {fd_for(c, s, A), fd_for(c, s, B)};
    long long size = plain_size(c, s);
    long long reach = page_up(size); /* readable without SIGBUS */
    long long off = min_ll(pick_map_off(c, size, false), max_ll(reach - 1, 0));
    long long len = min_ll(log_uniform(&c->pk, 1, MMAP_MAX), max_ll(reach - off, 1));
    unsigned char *m[2], **kept = kept_for(c, s, off + len, PROT_READ);
    long long moff = kept ? 0 : off & ~(PAGE - 1), mlen = off + len - moff;
    int prot = chance(&c->pk, 300) ? PROT_READ | PROT_WRITE : PROT_READ;
    set_desc(c, "mapped read: %s %s %s at %lld len %lld, read off=%lld len=%lld (size %lld)",
             kept ? "the kept mapping" : "mmap MAP_SHARED",
             kept                ? ""
             : prot & PROT_WRITE ? "PROT_READ|PROT_WRITE"
                                 : "PROT_READ",
             slot_str(c, s, sb, sizeof(sb)), moff, mlen, off, len, size);
    if (kept) {
        m[A] = kept[A];
        m[B] = kept[B];
    } else if (!map_both(c, fd, prot, moff, mlen, m)) {
        return;
    }
    c->mapped[0]++;
    if (size > 0) /* an empty file maps, but any access faults */
        check_mapped(c, m, moff, off, len);
    if (!kept)
        unmap_both(c, m, mlen);
}

/* A mapped write: the program's own stores into a shared writable mapping
 * of the slot's file, then msync (MS_SYNC, MS_ASYNC or none) and munmap.
 * A range past the end is first made part of the file with ftruncate, so
 * the stores never fault; sometimes the range is read back through the
 * descriptor while the mapping is still there. */
static void op_mmap_write(struct ctx *c)
{
    char sb[128];
    int s = pick_slot_for(c, O_RDWR);
    int fd[2] = {fd_for(c, s, A), fd_for(c, s, B)};
    long long size = plain_size(c, s);
    long long off = min_ll(pick_map_off(c, size, true), c->pk.max_file - 1);
    long long len = min_ll(log_uniform(&c->pk, 1, MMAP_MAX), c->pk.max_file - off), end = off + len;
    if (end > size && slot_writable(&c->slots[s])) {
        set_desc(c, "mapped write: ftruncate %s len=%lld (size %lld)",
                 slot_str(c, s, sb, sizeof(sb)), end, size);
        struct res a = CALL(ftruncate(fd[A], end));
        struct res b = CALL(ftruncate(fd[B], end));
        check_res(c, a, b);
        size = plain_size(c, s);
    }
    unsigned char *m[2], **kept = kept_for(c, s, end, PROT_WRITE);
    long long moff = kept ? 0 : off & ~(PAGE - 1), mlen = end - moff;
    long long n = min_ll(end, size) - off; /* stores stay inside the file */
    int how = (int)rnd(&c->pk, 10);
    how = how < 6 ? MS_SYNC : how < 8 ? MS_ASYNC : 0;
    bool read_back = chance(&c->pk, 300);
    set_desc(c,
             "mapped write: %s %s at %lld len %lld, store off=%lld len=%lld, msync %s%s (size "
             "%lld)",
             kept ? "the kept mapping" : "mmap PROT_READ|PROT_WRITE MAP_SHARED",
             slot_str(c, s, sb, sizeof(sb)), moff, mlen, off, max_ll(n, 0), msync_str(how),
             read_back ? ", pread while mapped" : "", size);
    if (kept) {
        m[A] = kept[A];
        m[B] = kept[B];
    } else if (!map_both(c, fd, PROT_READ | PROT_WRITE, moff, mlen, m)) {
        return;
    }
    c->mapped[1]++;
    if (n > 0) {
        fill_wbuf(c, n);
        store_mapped(c, m, moff, off, n);
    }
    if (how)
        msync_both(c, m, mlen, how);
    if (n > 0 && read_back) {
        poison(c, n);
        struct res a = CALL(pread(fd[A], c->rbuf[A], (size_t)n, off));
        struct res b = CALL(pread(fd[B], c->rbuf[B], (size_t)n, off));
        check_res(c, a, b);
        check_bytes(c, c->rbuf[A], c->rbuf[B], a.ret, off);
    }
    if (!kept)
        unmap_both(c, m, mlen);
}

/* -------------------------------------------------- regression sequences */

/* Fixed sequences on f0 that once went wrong: the program's own stores
 * met truncation and extension. Each runs as is and with an fsync before
 * the size changes (so the truncated bytes lie below the committed size),
 * before the random operations, and is compared like them. */

static char seq_name[32]; /* the running sequence, for set_desc */

static void seq_open(struct ctx *c, int fd[2], int trunc)
{
    set_desc(c, "%s: open f0 O_RDWR|O_CREAT%s", seq_name, trunc ? "|O_TRUNC" : "");
    struct res a = CALL(open(c->path[A][0], O_RDWR | O_CREAT | trunc, 0644));
    struct res b = CALL(open(c->path[B][0], O_RDWR | O_CREAT | trunc, 0644));
    if (a.ret < 0 || b.ret < 0)
        mismatch(c, "  cannot open f0: managed %s, plain %s\n", strerror(a.err), strerror(b.err));
    fd[A] = (int)a.ret;
    fd[B] = (int)b.ret;
}

static void seq_close(struct ctx *c, const int fd[2])
{
    set_desc(c, "%s: close f0", seq_name);
    struct res a = CALL(close(fd[A]));
    struct res b = CALL(close(fd[B]));
    check_res(c, a, b);
}

static void seq_pwrite(struct ctx *c, const int fd[2], long long off, long long len)
{
    set_desc(c, "%s: pwrite off=%lld len=%lld", seq_name, off, len);
    fill_wbuf_salt(c, len, (uint64_t)off);
    struct res a = CALL(pwrite(fd[A], c->wbuf, (size_t)len, off));
    struct res b = CALL(pwrite(fd[B], c->wbuf, (size_t)len, off));
    check_res(c, a, b);
}

static void seq_ftruncate(struct ctx *c, const int fd[2], long long len)
{
    set_desc(c, "%s: ftruncate len=%lld", seq_name, len);
    struct res a = CALL(ftruncate(fd[A], len));
    struct res b = CALL(ftruncate(fd[B], len));
    check_res(c, a, b);
}

static void seq_fsync(struct ctx *c, const int fd[2], bool fsync_too)
{
    if (!fsync_too)
        return;
    set_desc(c, "%s: fsync", seq_name);
    struct res a = CALL(fsync(fd[A]));
    struct res b = CALL(fsync(fd[B]));
    check_res(c, a, b);
}

/* Stores bytes at [off, off+len) through a mapping, msync, munmap. */
static void seq_store(struct ctx *c, const int fd[2], long long off, long long len)
{
    unsigned char *m[2];
    long long moff = off & ~(PAGE - 1);
    set_desc(c, "%s: mmap at %lld len %lld, store off=%lld len=%lld, msync, munmap", seq_name, moff,
             off + len - moff, off, len);
    if (!map_both(c, fd, PROT_READ | PROT_WRITE, moff, off + len - moff, m))
        mismatch(c, "  mmap failed on both sides: %s\n", strerror(errno));
    fill_wbuf_salt(c, len, (uint64_t)off + 1);
    store_mapped(c, m, moff, off, len);
    msync_both(c, m, off + len - moff, MS_SYNC);
    unmap_both(c, m, off + len - moff);
}

/* Reads [0, len) through a fresh mapping (len may reach past the end into
 * the file's last page). */
static void seq_map_read(struct ctx *c, const int fd[2], long long len)
{
    unsigned char *m[2];
    set_desc(c, "%s: mmap PROT_READ len %lld, read it all, munmap", seq_name, len);
    if (!map_both(c, fd, PROT_READ, 0, len, m))
        mismatch(c, "  mmap failed on both sides: %s\n", strerror(errno));
    check_mapped(c, m, 0, 0, len);
    unmap_both(c, m, len);
}

static void seq_pread(struct ctx *c, const int fd[2], long long len)
{
    set_desc(c, "%s: pread off=0 len=%lld", seq_name, len);
    poison(c, len);
    struct res a = CALL(pread(fd[A], c->rbuf[A], (size_t)len, 0));
    struct res b = CALL(pread(fd[B], c->rbuf[B], (size_t)len, 0));
    check_res(c, a, b);
    check_bytes(c, c->rbuf[A], c->rbuf[B], a.ret, 0);
}

static void run_regressions(struct ctx *c)
{
    int fd[2];
    for (int sync = 0; sync <= 1; sync++) {
        /* 1. Extended by ftruncate, stored through a mapping: read() must
         * return the stored bytes, not zeros. */
        snprintf(seq_name, sizeof(seq_name), "regression 1 (fsync %d)", sync);
        seq_open(c, fd, O_TRUNC);
        seq_pwrite(c, fd, 0, 1000);
        seq_fsync(c, fd, sync);
        seq_ftruncate(c, fd, 3 * PAGE + 100);
        seq_store(c, fd, 1500, 3 * PAGE - 1400);
        seq_pread(c, fd, 4 * PAGE);
        seq_close(c, fd);

        /* 2. Stored through a mapping, cut by ftruncate, extended by a
         * write: the cut range must read as zeros, not the old bytes. */
        snprintf(seq_name, sizeof(seq_name), "regression 2 (fsync %d)", sync);
        seq_open(c, fd, O_TRUNC);
        seq_pwrite(c, fd, 0, 3 * PAGE);
        seq_store(c, fd, 100, 3 * PAGE - 107);
        seq_fsync(c, fd, sync);
        seq_ftruncate(c, fd, 200);
        seq_pwrite(c, fd, 2 * PAGE + 10, 100);
        seq_pread(c, fd, 3 * PAGE);
        seq_close(c, fd);

        /* 3. Stored through a mapping, cut by ftruncate, mapped again: the
         * rest of the last page must be zero. */
        snprintf(seq_name, sizeof(seq_name), "regression 3 (fsync %d)", sync);
        seq_open(c, fd, O_TRUNC);
        seq_ftruncate(c, fd, 2 * PAGE + 300);
        seq_store(c, fd, 0, 2 * PAGE + 300);
        seq_fsync(c, fd, sync);
        seq_ftruncate(c, fd, PAGE + 123);
        seq_map_read(c, fd, 2 * PAGE);
        seq_close(c, fd);

        /* 4. A mapping kept while its file is closed and opened again:
         * its stores and the library's writes must still meet. */
        snprintf(seq_name, sizeof(seq_name), "regression 4 (fsync %d)", sync);
        seq_open(c, fd, O_TRUNC);
        seq_pwrite(c, fd, 0, 2 * PAGE);
        unsigned char *m[2];
        set_desc(c, "%s: mmap PROT_READ|PROT_WRITE len %lld", seq_name, 4 * PAGE);
        if (!map_both(c, fd, PROT_READ | PROT_WRITE, 0, 4 * PAGE, m))
            mismatch(c, "  mmap failed on both sides: %s\n", strerror(errno));
        seq_close(c, fd);
        seq_open(c, fd, 0);
        seq_fsync(c, fd, sync);
        seq_ftruncate(c, fd, 4 * PAGE);
        set_desc(c, "%s: store off=%lld len=%lld through the kept mapping", seq_name, PAGE + 5,
                 2 * PAGE);
        fill_wbuf_salt(c, 2 * PAGE, 4);
        store_mapped(c, m, 0, PAGE + 5, 2 * PAGE);
        seq_pread(c, fd, 4 * PAGE);
        seq_pwrite(c, fd, 10, 3 * PAGE);
        set_desc(c, "%s: read the kept mapping", seq_name);
        check_mapped(c, m, 0, 0, 4 * PAGE);
        set_desc(c, "%s: munmap", seq_name);
        unmap_both(c, m, 4 * PAGE);
        seq_close(c, fd);
    }
    set_desc(c, "regressions: unlink f0");
    struct res a = CALL(unlink(c->path[A][0]));
    struct res b = CALL(unlink(c->path[B][0]));
    check_res(c, a, b);
}

/* ------------------------------------------------------ whole-file checks */

/*
 * Compares [off, off+len) of two descriptors in VERIFY_CHUNK pieces. With
 * use_pread the file positions are left alone; otherwise both are first
 * positioned with lseek and read with read(), and when expect_eof is set a
 * final read must return 0 on both.
 */
static void compare_range(struct ctx *c, int fa, int fb, long long off, long long len,
                          bool use_pread, bool expect_eof)
{
    if (!use_pread) {
        struct res a = CALL(lseek(fa, off, SEEK_SET));
        struct res b = CALL(lseek(fb, off, SEEK_SET));
        check_res(c, a, b);
    }
    long long done = 0;
    while (done < len || (expect_eof && !use_pread)) {
        long long n = done < len ? min_ll(VERIFY_CHUNK, len - done) : VERIFY_CHUNK;
        poison(c, n);
        struct res a, b;
        if (use_pread) {
            a = CALL(pread(fa, c->rbuf[A], (size_t)n, off + done));
            b = CALL(pread(fb, c->rbuf[B], (size_t)n, off + done));
        } else {
            a = CALL(read(fa, c->rbuf[A], (size_t)n));
            b = CALL(read(fb, c->rbuf[B], (size_t)n));
        }
        check_res(c, a, b);
        if (a.ret < 0)
            mismatch(c, "  whole-file read failed on both sides at %lld: %s\n", off + done,
                     strerror(a.err));
        check_bytes(c, c->rbuf[A], c->rbuf[B], a.ret, off + done);
        if (a.ret == 0) {
            if (done < len)
                mismatch(c, "  both sides hit EOF at %lld, before size %lld\n", off + done,
                         off + len);
            break;
        }
        done += a.ret;
    }
}

/* Compares a whole file. Files longer than 2 * VERIFY_EDGE (sparse ones)
 * compare head, tail and the data extents the plain side reports. */
static void compare_file(struct ctx *c, int fa, int fb, long long size, bool use_pread)
{
    if (size <= 2 * VERIFY_EDGE) {
        compare_range(c, fa, fb, 0, size, use_pread, true);
        return;
    }
    compare_range(c, fa, fb, 0, VERIFY_EDGE, use_pread, false);
    long long saved = lseek(fb, 0, SEEK_CUR);
    long long pos = VERIFY_EDGE, end = size - VERIFY_EDGE, budget = VERIFY_MIDDLE;
    while (pos < end && budget > 0) {
        long long d = lseek(fb, pos, SEEK_DATA);
        if (d < 0 || d >= end)
            break;
        long long h = lseek(fb, d, SEEK_HOLE);
        if (h < 0)
            break;
        long long n = min_ll(min_ll(h, end) - d, budget);
        if (n > 0)
            compare_range(c, fa, fb, d, n, true, false);
        budget -= n;
        pos = max_ll(h, d + 1);
    }
    if (saved >= 0)
        lseek(fb, saved, SEEK_SET);
    compare_range(c, fa, fb, size - VERIFY_EDGE, VERIFY_EDGE, use_pread, true);
}

/* Compares every pool file (by name) and every unlinked file still open
 * for reading in a slot. */
static void verify_all(struct ctx *c, const char *when)
{
    char sbuf[128];
    for (int i = 0; i < NFILES; i++) {
        struct stat sa, sb;
        set_desc(c, "verify(%s) f%d: open O_RDONLY", when, i);
        struct res a = CALL(open(c->path[A][i], O_RDONLY));
        struct res b = CALL(open(c->path[B][i], O_RDONLY));
        struct res na = {a.ret >= 0 ? 0 : -1, a.err}, nb = {b.ret >= 0 ? 0 : -1, b.err};
        if (na.ret != nb.ret || na.err != nb.err) {
            if (a.ret >= 0)
                close((int)a.ret);
            if (b.ret >= 0)
                close((int)b.ret);
        }
        check_res(c, na, nb);
        if (a.ret < 0)
            continue;
        int fa = (int)a.ret, fb = (int)b.ret;
        set_desc(c, "verify(%s) f%d: fstat", when, i);
        struct res ra = CALL(fstat(fa, &sa));
        struct res rb = CALL(fstat(fb, &sb));
        check_stat(c, ra, rb, &sa, &sb);
        set_desc(c, "verify(%s) f%d: compare %lld bytes", when, i, (long long)sb.st_size);
        compare_file(c, fa, fb, (long long)sb.st_size, false);
        set_desc(c, "verify(%s) f%d: close", when, i);
        ra = CALL(close(fa));
        rb = CALL(close(fb));
        check_res(c, ra, rb);
    }
    for (int s = 0; s < NSLOTS; s++) {
        struct slot *sl = &c->slots[s];
        struct stat sa, sb;
        if (!slot_readable(sl) || fstat(sl->fd[B], &sb) != 0 || sb.st_nlink != 0)
            continue;
        set_desc(c, "verify(%s) unlinked %s: fstat", when, slot_str(c, s, sbuf, sizeof(sbuf)));
        struct res ra = CALL(fstat(sl->fd[A], &sa));
        struct res rb = CALL(fstat(sl->fd[B], &sb));
        check_stat(c, ra, rb, &sa, &sb);
        set_desc(c, "verify(%s) unlinked %s: compare %lld bytes", when,
                 slot_str(c, s, sbuf, sizeof(sbuf)), (long long)sb.st_size);
        compare_file(c, sl->fd[A], sl->fd[B], (long long)sb.st_size, true);
    }
}

/* Bounds disk use: truncates files that grew past max_file (sparse ones)
 * or hold more than half of it. Compared like any operation. */
static void shrink_large(struct ctx *c)
{
    char sbuf[128];
    for (int i = 0; i < NFILES; i++) {
        struct stat st;
        if (stat(c->path[B][i], &st) != 0)
            continue;
        if ((long long)st.st_size <= c->pk.max_file &&
            (long long)st.st_blocks * 512 <= c->pk.max_file / 2)
            continue;
        long long len = rnd_range(&c->pk, 0, c->pk.max_file / 4);
        set_desc(c, "shrink: truncate f%d len=%lld (size %lld)", i, len, (long long)st.st_size);
        struct res a = CALL(truncate(c->path[A][i], len));
        struct res b = CALL(truncate(c->path[B][i], len));
        check_res(c, a, b);
    }
    for (int s = 0; s < NSLOTS; s++) {
        struct slot *sl = &c->slots[s];
        struct stat st;
        if (!slot_writable(sl) || fstat(sl->fd[B], &st) != 0 || st.st_nlink != 0)
            continue;
        if ((long long)st.st_size <= c->pk.max_file &&
            (long long)st.st_blocks * 512 <= c->pk.max_file / 2)
            continue;
        long long len = rnd_range(&c->pk, 0, c->pk.max_file / 4);
        set_desc(c, "shrink: ftruncate unlinked %s len=%lld (size %lld)",
                 slot_str(c, s, sbuf, sizeof(sbuf)), len, (long long)st.st_size);
        struct res a = CALL(ftruncate(sl->fd[A], len));
        struct res b = CALL(ftruncate(sl->fd[B], len));
        check_res(c, a, b);
    }
}

/* ------------------------------------------------------ allocation guard */

/* Bytes the kernel allocated for one side's files: the pool names and the
 * unlinked files still open in slots. Raw system calls, so that a preloaded
 * library cannot adjust st_blocks; -1 where that is not available. */
static long long side_alloc(struct ctx *c, int side)
{
#if defined(SYS_newfstatat) && defined(SYS_fstat) && defined(__LP64__)
    long long total = 0;
    struct stat st;
    for (int i = 0; i < NFILES; i++)
        if (syscall(SYS_newfstatat, AT_FDCWD, c->path[side][i], &st, 0) == 0)
            total += (long long)st.st_blocks * 512;
    for (int s = 0; s < NSLOTS; s++)
        if (c->slots[s].open && syscall(SYS_fstat, c->slots[s].fd[side], &st) == 0 &&
            st.st_nlink == 0)
            total += (long long)st.st_blocks * 512;
    return total;
#else
    (void)c;
    (void)side;
    return -1;
#endif
}

/* Fails when the last operation left the managed files holding far more
 * disk space than their plain copies. */
static void check_alloc(struct ctx *c)
{
    if (c->alloc_slack <= 0)
        return;
    long long a = side_alloc(c, A);
    if (a <= c->alloc_slack)
        return;
    long long b = side_alloc(c, B);
    if (b < 0 || a <= 2 * b + c->alloc_slack)
        return;
    mismatch(c,
             "  allocation: managed files hold %lld bytes on disk, their plain copies %lld "
             "(limit 2 x plain + %lld)\n",
             a, b, c->alloc_slack);
}

/* ------------------------------------------------------------------ main */

struct op {
    const char *name;
    unsigned weight;
    void (*fn)(struct ctx *c);
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
    {"fsync", 1, op_fsync},
    {"fdatasync", 1, op_fdatasync},
    {"fstat", 4, op_fstat},
    {"stat", 3, op_stat},
    {"unlink", 2, op_unlink},
    {"rename", 2, op_rename},
    {"readv", 3, op_readv},
    {"writev", 3, op_writev},
    {"preadv", 3, op_preadv},
    {"pwritev", 3, op_pwritev},
    {"preadv2", 2, op_preadv2},
    {"pwritev2", 3, op_pwritev2},
    {"dup", 3, op_dup},
    {"fcntl", 3, op_fcntl},
    {"fallocate", 5, op_fallocate},
    {"posix_fallocate", 1, op_posix_fallocate},
    {"copy_file_range", 3, op_copy_file_range},
    {"sendfile", 2, op_sendfile},
    {"stdio", 4, op_stdio},
    {"fork", 1, op_fork},
    {"mmap", 20, op_mmap},
    {"mmap-write", 22, op_mmap_write},
};
#define NOPS (sizeof(ops) / sizeof(ops[0]))
_Static_assert(NOPS <= MAX_OPS, "raise MAX_OPS");

/* An operation by weight; those left out with --no-OP are redrawn, so the
 * sequence of the others stays a function of the seed. */
static const struct op *pick_op(struct ctx *c)
{
    unsigned total = 0;
    for (size_t i = 0; i < NOPS; i++)
        total += ops[i].weight;
    for (;;) {
        unsigned k = (unsigned)rnd(&c->pk, total);
        size_t i = 0;
        while (i + 1 < NOPS && k >= ops[i].weight)
            k -= ops[i++].weight;
        if (!c->skip[i])
            return &ops[i];
    }
}

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s --seed S --ops N --managed DIR_A --plain DIR_B [--max-file-mb M] "
            "[--alloc-slack-mb K] [--trace] [--no-OP ...] [--no-CASE ...]\n"
            "  OP is one of:",
            prog);
    for (size_t i = 0; i < NOPS; i++)
        fprintf(stderr, " %s", ops[i].name);
    fprintf(stderr, "\n  CASE is one of:");
    for (size_t i = 0; i < NCASES; i++)
        fprintf(stderr, " %s", case_names[i]);
    fprintf(stderr, "\n");
    exit(2);
}

static void make_paths(struct ctx *c, int side, const char *dir, const char *prog)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: %s is not a directory\n", prog, dir);
        exit(2);
    }
    for (int i = 0; i < NFILES; i++) {
        int n = snprintf(c->path[side][i], PATH_MAX, "%s/f%d", dir, i);
        if (n < 0 || n >= PATH_MAX) {
            fprintf(stderr, "%s: path too long: %s\n", prog, dir);
            exit(2);
        }
        if (unlink(c->path[side][i]) != 0 && errno != ENOENT) {
            fprintf(stderr, "%s: cannot remove %s: %s\n", prog, c->path[side][i], strerror(errno));
            exit(2);
        }
    }
}

int main(int argc, char **argv)
{
    static struct ctx ctx;
    struct ctx *c = &ctx;
    const char *prog = argv[0], *dir[2] = {NULL, NULL};
    bool have_seed = false, have_ops = false;
    unsigned long long max_mb = 64, slack_mb = 2048;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--trace") == 0) {
            c->trace = true;
            continue;
        }
        if (strncmp(a, "--no-", 5) == 0) {
            size_t i = 0, j = 0;
            while (i < NOPS && strcmp(a + 5, ops[i].name) != 0)
                i++;
            while (j < NCASES && strcmp(a + 5, case_names[j]) != 0)
                j++;
            if (i < NOPS)
                c->skip[i] = true;
            else if (j < NCASES)
                c->no[j] = true;
            else
                usage(prog);
            continue;
        }
        if (i + 1 >= argc)
            usage(prog);
        const char *v = argv[++i];
        if (strcmp(a, "--seed") == 0) {
            c->seed = parse_num(prog, a, v);
            have_seed = true;
        } else if (strcmp(a, "--ops") == 0) {
            c->nops = (long long)parse_num(prog, a, v);
            have_ops = true;
        } else if (strcmp(a, "--managed") == 0) {
            dir[A] = v;
        } else if (strcmp(a, "--plain") == 0) {
            dir[B] = v;
        } else if (strcmp(a, "--max-file-mb") == 0) {
            max_mb = parse_num(prog, a, v);
        } else if (strcmp(a, "--alloc-slack-mb") == 0) {
            slack_mb = parse_num(prog, a, v);
        } else {
            usage(prog);
        }
    }
    if (!have_seed || !have_ops || !dir[A] || !dir[B] || c->nops < 0 || max_mb < 1 || max_mb > 1024)
        usage(prog);
    if (slack_mb > (1ULL << 30))
        usage(prog);
    c->pk.max_file = (long long)max_mb * MIB;
    c->pk.max_io = MAX_IO;
    c->pk.sparse_base = SPARSE_BASE;
    c->pk.sparse_span = SPARSE_SPAN;
    c->alloc_slack = (long long)slack_mb * MIB;
    make_paths(c, A, dir[A], prog);
    make_paths(c, B, dir[B], prog);
    for (int s = 0; s < NSLOTS; s++) {
        c->slots[s].fd[A] = c->slots[s].fd[B] = -1;
        c->slots[s].stale[A] = c->slots[s].stale[B] = -1;
    }
    c->wbuf = malloc(MAX_IO);
    c->rbuf[A] = malloc(MAX_IO);
    c->rbuf[B] = malloc(MAX_IO);
    if (!c->wbuf || !c->rbuf[A] || !c->rbuf[B]) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return 2;
    }
    c->pk.rng = c->seed ^ 0x6a09e667f3bcc908ULL;
    bool any = false;
    for (size_t i = 0; i < NOPS; i++)
        any = any || (!c->skip[i] && ops[i].weight > 0);
    if (!any)
        usage(prog);
    fatal_ctx = c;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigbus;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);

    c->op = -1;
    run_regressions(c);
    for (c->op = 0; c->op < c->nops; c->op++) {
        pick_op(c)->fn(c);
        c->compared++;
        check_alloc(c);
        if ((c->op + 1) % SHRINK_EVERY == 0)
            shrink_large(c);
        if ((c->op + 1) % VERIFY_EVERY == 0 && c->op + 1 < c->nops)
            verify_all(c, "periodic");
    }
    for (int t = 0; t < NSTREAMS; t++)
        if (c->streams[t].open)
            stdio_close(c, t, " (final)");
    verify_all(c, "final");
    for (int s = 0; s < NSLOTS; s++)
        if (c->slots[s].open)
            close_slot(c, s, " (final)");

    free(c->wbuf);
    free(c->rbuf[A]);
    free(c->rbuf[B]);
    printf("difftest: seed %" PRIu64 ": %lld ops compared, 0 mismatches; %lld mapped reads, "
           "%lld mapped writes (%.1f%% of the ops)\n",
           c->seed, c->compared, c->mapped[0], c->mapped[1],
           c->compared ? 100.0 * (double)(c->mapped[0] + c->mapped[1]) / (double)c->compared : 0.0);
    return 0;
}
