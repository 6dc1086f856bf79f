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
 *   nvmmio_difftest --seed S --ops N --managed DIR_A --plain DIR_B
 *                   [--max-file-mb M] [--alloc-slack-mb K] [--trace]
 *
 * Exit status: 0 all agreed, 1 first mismatch (reported on stdout), 2 usage
 * or setup error.
 *
 * All random choices come from one splitmix64 stream seeded by S and from
 * the state of the plain side, so a seed always replays the same sequence.
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
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#define KIB (1024LL)
#define MIB (1024LL * KIB)
#define GIB (1024LL * MIB)

#define NFILES        4         /* pool of file names per side */
#define NSLOTS        6         /* descriptor slots per side */
#define PAGE          (4 * KIB) /* small alignment unit */
#define HUGE_PAGE     (2 * MIB) /* large alignment unit */
#define MAX_IO        (4 * MIB) /* largest single read or write */
#define SPARSE_BASE   (4 * GIB) /* sparse writes land in [4 GiB, 5 GiB) */
#define SPARSE_SPAN   (1 * GIB)
#define SPARSE_MAX_IO (64 * KIB)  /* sparse writes are small */
#define FAR_MAX_IO    (4 * KIB)   /* writes at a position past --max-file-mb */
#define SHRINK_EVERY  5000        /* ops between shrinking large files */
#define VERIFY_EVERY  10000       /* ops between whole-file comparisons */
#define VERIFY_CHUNK  (1 * MIB)   /* read size of whole-file comparisons */
#define VERIFY_EDGE   (64 * MIB)  /* big files: compare head and tail this long */
#define VERIFY_MIDDLE (256 * MIB) /* big files: cap on the compared data extents */
#define HIST          16          /* recent operations shown on a mismatch */
#define DESC_LEN      240

enum { A = 0, B = 1 }; /* side A: managed, side B: plain */
static const char *const side_name[2] = {"managed", "plain"};

struct res {
    long long ret;
    int err; /* errno, only when ret < 0 */
};

/*
 * Runs one call and captures its result and errno. The caller runs it for
 * side A and then side B and compares the two with check_res().
 */
#define CALL(expr)                                                                                 \
    ({                                                                                             \
        errno = 0;                                                                                 \
        long long r_ = (long long)(expr);                                                          \
        int e_ = errno;                                                                            \
        (struct res){r_, r_ < 0 ? e_ : 0};                                                         \
    })

struct slot {
    bool open;
    int fd[2];    /* descriptors while open */
    int stale[2]; /* descriptor numbers of the last close (EBADF probes) */
    int flags;    /* open flags of the current (or last) open */
    int name;     /* pool index the slot was opened with */
};

struct ctx {
    uint64_t seed;
    long long nops;
    long long max_file;    /* dense writes keep files at most this long */
    long long alloc_slack; /* allocation guard: bytes managed may exceed 2 x plain */
    bool trace;
    uint64_t rng;
    long long op; /* index of the running operation */
    long long compared;
    char desc[DESC_LEN];
    char hist[HIST][DESC_LEN + 32];
    long long nhist;
    char path[2][NFILES][PATH_MAX];
    struct slot slots[NSLOTS];
    unsigned char *wbuf;
    unsigned char *rbuf[2];
};

/* ---------------------------------------------------------------- random */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n); 0 when n is 0. */
static uint64_t rnd(struct ctx *c, uint64_t n)
{
    return n ? splitmix64(&c->rng) % n : 0;
}

/* Uniform in [lo, hi]; lo when hi < lo. */
static long long rnd_range(struct ctx *c, long long lo, long long hi)
{
    if (hi <= lo)
        return lo;
    return lo + (long long)rnd(c, (uint64_t)(hi - lo) + 1);
}

static bool chance(struct ctx *c, unsigned permille)
{
    return rnd(c, 1000) < permille;
}

static int log2ll(long long v)
{
    return 63 - __builtin_clzll((unsigned long long)v);
}

/* Log-distributed in [lo, hi], 1 <= lo <= hi. */
static long long log_uniform(struct ctx *c, long long lo, long long hi)
{
    int e = (int)rnd_range(c, log2ll(lo), log2ll(hi));
    long long a = 1LL << e, b = (a << 1) - 1;
    if (a < lo)
        a = lo;
    if (b > hi)
        b = hi;
    return rnd_range(c, a, b);
}

static long long min_ll(long long a, long long b)
{
    return a < b ? a : b;
}

static long long max_ll(long long a, long long b)
{
    return a > b ? a : b;
}

/* Fills the write buffer with bytes determined by (seed, op index). */
static void fill_wbuf(struct ctx *c, long long len)
{
    uint64_t s = c->seed * 0xd1342543de82ef95ULL ^ (uint64_t)c->op * 0x9e3779b97f4a7c15ULL;
    long long i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v = splitmix64(&s);
        memcpy(c->wbuf + i, &v, 8);
    }
    if (i < len) {
        uint64_t v = splitmix64(&s);
        memcpy(c->wbuf + i, &v, (size_t)(len - i));
    }
}

/* ------------------------------------------------------------- reporting */

static const char *flags_str(int flags, char *buf, size_t n)
{
    const char *acc = (flags & O_ACCMODE) == O_RDONLY   ? "O_RDONLY"
                      : (flags & O_ACCMODE) == O_WRONLY ? "O_WRONLY"
                                                        : "O_RDWR";
    snprintf(buf, n, "%s%s%s%s%s", acc, flags & O_CREAT ? "|O_CREAT" : "",
             flags & O_EXCL ? "|O_EXCL" : "", flags & O_TRUNC ? "|O_TRUNC" : "",
             flags & O_APPEND ? "|O_APPEND" : "");
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
    char f[64];
    if (sl->open)
        snprintf(buf, n, "slot=%d(f%d %s)", s, sl->name, flags_str(sl->flags, f, sizeof(f)));
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
    if (n > 0 && !chance(c, 80))
        return open[rnd(c, (uint64_t)n)];
    return (int)rnd(c, NSLOTS);
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

static void slot_closed(struct slot *sl)
{
    sl->stale[A] = sl->fd[A];
    sl->stale[B] = sl->fd[B];
    sl->fd[A] = sl->fd[B] = -1;
    sl->open = false;
}

/* -------------------------------------------------------------- sizes */

/* Length of one read or write: mostly small, some page multiples, a few up
 * to MAX_IO. */
static long long pick_len(struct ctx *c)
{
    unsigned k = (unsigned)rnd(c, 100);
    if (k < 1)
        return 0;
    if (k < 48)
        return log_uniform(c, 1, PAGE);
    if (k < 63)
        return PAGE * rnd_range(c, 1, 16);
    if (k < 88)
        return log_uniform(c, PAGE, 256 * KIB);
    if (k < 97)
        return log_uniform(c, 256 * KIB, 2 * MIB);
    return log_uniform(c, 2 * MIB, MAX_IO);
}

/* Bounds a dense write at position `at` so the file stays within max_file;
 * past max_file (a sparse region) only small writes are allowed. */
static long long bound_len(struct ctx *c, long long at, long long len)
{
    if (at + len <= c->max_file)
        return len;
    if (at >= c->max_file)
        return min_ll(len, FAR_MAX_IO);
    return c->max_file - at;
}

/* Offset and length of a pwrite given the current (plain) size. */
static void pick_write(struct ctx *c, long long size, long long *offp, long long *lenp)
{
    long long len = min_ll(*lenp, c->max_file), off;
    long long dsize = min_ll(size, c->max_file);
    unsigned k = (unsigned)rnd(c, 1000);
    if (k < 5) { /* sparse, far past 4 GiB */
        off = SPARSE_BASE + (long long)rnd(c, SPARSE_SPAN);
        if (chance(c, 500))
            off &= ~(PAGE - 1);
        *offp = off;
        *lenp = min_ll(len, SPARSE_MAX_IO);
        return;
    }
    if (k < 10) { /* negative offset: EINVAL */
        *offp = -rnd_range(c, 1, 4096);
        *lenp = min_ll(len, 4096);
        return;
    }
    if (k < 110) { /* across a page or 2 MiB boundary */
        long long unit = chance(c, 500) ? PAGE : HUGE_PAGE;
        long long nb = c->max_file / unit;
        long long bound = unit * rnd_range(c, 1, max_ll(1, nb - 1));
        len = max_ll(len, 2);
        off = bound - rnd_range(c, 1, len - 1);
    } else if (k < 500) {
        off = rnd_range(c, 0, dsize);
    } else if (k < 620) {
        off = dsize - rnd_range(c, 0, min_ll(dsize, 64 * KIB));
    } else if (k < 720) {
        off = dsize + rnd_range(c, 1, 64 * KIB); /* leaves a hole */
    } else if (k < 850) {
        off = PAGE * rnd_range(c, 0, dsize / PAGE);
    } else {
        off = rnd_range(c, 0, c->max_file);
    }
    len = min_ll(len, c->max_file);
    if (off < 0)
        off = 0;
    if (off + len > c->max_file) {
        if (off < c->max_file && chance(c, 500))
            len = c->max_file - off;
        else
            off = rnd_range(c, 0, c->max_file - len);
    }
    *offp = off;
    *lenp = len;
}

/* Offset of a pread given the current (plain) size. */
static long long pick_read_off(struct ctx *c, long long size, long long len)
{
    unsigned k = (unsigned)rnd(c, 100);
    if (k < 50)
        return rnd_range(c, 0, size + 64 * KIB);
    if (k < 70)
        return max_ll(0, size - rnd_range(c, 0, len));
    if (k < 80)
        return size + rnd_range(c, 0, 64 * KIB);
    if (k < 90)
        return PAGE * rnd_range(c, 0, size / PAGE);
    if (k < 97)
        return max_ll(0, HUGE_PAGE * rnd_range(c, 0, size / HUGE_PAGE) - rnd_range(c, 0, len));
    if (k < 98)
        return -rnd_range(c, 1, 4096);
    return SPARSE_BASE + (long long)rnd(c, SPARSE_SPAN);
}

/* Length for ftruncate/truncate given the current (plain) size. */
static long long pick_trunc_len(struct ctx *c, long long size)
{
    long long dsize = min_ll(size, c->max_file);
    unsigned k = (unsigned)rnd(c, 1000);
    if (k < 300)
        return rnd_range(c, 0, dsize);
    if (k < 450)
        return min_ll(c->max_file, dsize + rnd_range(c, 1, 64 * KIB));
    if (k < 550)
        return PAGE * rnd_range(c, 0, dsize / PAGE);
    if (k < 650)
        return rnd_range(c, 0, c->max_file);
    if (k < 720)
        return dsize;
    if (k < 790)
        return 0;
    if (k < 900)
        return dsize - rnd_range(c, 0, min_ll(dsize, PAGE));
    if (k < 985)
        return -rnd_range(c, 1, MIB);
    return SPARSE_BASE + (long long)rnd(c, SPARSE_SPAN);
}

/* ------------------------------------------------------------ operations */

static void close_slot(struct ctx *c, int s, const char *why)
{
    char sb[96];
    struct slot *sl = &c->slots[s];
    int fa = fd_for(c, s, A), fb = fd_for(c, s, B);
    set_desc(c, "close %s%s", slot_str(c, s, sb, sizeof(sb)), why);
    struct res a = CALL(close(fa));
    struct res b = CALL(close(fb));
    if (sl->open)
        slot_closed(sl);
    check_res(c, a, b);
}

static void op_open(struct ctx *c)
{
    int s = -1, free_slots[NSLOTS], n = 0;
    for (int i = 0; i < NSLOTS; i++)
        if (!c->slots[i].open)
            free_slots[n++] = i;
    if (n > 0) {
        s = free_slots[rnd(c, (uint64_t)n)];
    } else {
        s = (int)rnd(c, NSLOTS);
        close_slot(c, s, " (to reopen)");
    }
    int name = (int)rnd(c, NFILES);
    unsigned k = (unsigned)rnd(c, 8);
    int flags = k < 2 ? O_RDONLY : k < 4 ? O_WRONLY : O_RDWR;
    if (chance(c, 700))
        flags |= O_CREAT;
    if ((flags & O_CREAT) && chance(c, 40))
        flags |= O_EXCL;
    if (chance(c, 100))
        flags |= O_TRUNC;
    if (chance(c, 200))
        flags |= O_APPEND;
    char fb[64];
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
    char sb[96];
    int s = pick_slot(c);
    struct slot *sl = &c->slots[s];
    long long len = pick_len(c);
    if (slot_writable(sl)) {
        long long at = (sl->flags & O_APPEND) ? plain_size(c, s) : plain_pos(c, s);
        len = bound_len(c, at, min_ll(len, c->max_file));
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
    char sb[96];
    int s = pick_slot(c);
    struct slot *sl = &c->slots[s];
    long long size = plain_size(c, s), len = pick_len(c), off;
    pick_write(c, size, &off, &len);
    if (slot_writable(sl) && (sl->flags & O_APPEND))
        len = bound_len(c, size, len); /* Linux appends, ignoring off */
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
    char sb[96];
    int s = pick_slot(c);
    long long len = pick_len(c), pos = plain_pos(c, s);
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
    char sb[96];
    int s = pick_slot(c);
    long long size = plain_size(c, s), len = pick_len(c);
    long long off = pick_read_off(c, size, len);
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
    char sb[96];
    int s = pick_slot(c);
    long long size = plain_size(c, s), off;
    int whence;
    unsigned k = (unsigned)rnd(c, 100);
    if (k < 30) {
        whence = SEEK_SET;
        off = rnd_range(c, 0, size + 64 * KIB);
    } else if (k < 40) {
        whence = SEEK_SET;
        off = PAGE * rnd_range(c, 0, (size + 64 * KIB) / PAGE);
    } else if (k < 55) {
        whence = SEEK_CUR;
        off = rnd_range(c, -64 * KIB, 64 * KIB); /* may go negative: EINVAL */
    } else if (k < 70) {
        whence = SEEK_END;
        off = rnd_range(c, -(min_ll(size, MIB) + PAGE), 64 * KIB);
    } else if (k < 75) {
        whence = SEEK_SET;
        off = -rnd_range(c, 1, MIB);
    } else if (k < 80) {
        whence = bad_whence[rnd(c, sizeof(bad_whence) / sizeof(bad_whence[0]))];
        off = rnd_range(c, 0, size);
    } else if (k < 81) {
        whence = SEEK_SET;
        off = SPARSE_BASE + (long long)rnd(c, SPARSE_SPAN);
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
    char sb[96];
    int s = pick_slot(c);
    long long size = plain_size(c, s), len = pick_trunc_len(c, size);
    int fa = fd_for(c, s, A), fb = fd_for(c, s, B);
    set_desc(c, "ftruncate %s len=%lld (size %lld)", slot_str(c, s, sb, sizeof(sb)), len, size);
    struct res a = CALL(ftruncate(fa, len));
    struct res b = CALL(ftruncate(fb, len));
    check_res(c, a, b);
}

static void op_truncate(struct ctx *c)
{
    struct stat st;
    int name = (int)rnd(c, NFILES);
    long long size = stat(c->path[B][name], &st) == 0 ? (long long)st.st_size : 0;
    long long len = pick_trunc_len(c, size);
    set_desc(c, "truncate f%d len=%lld (size %lld)", name, len, size);
    struct res a = CALL(truncate(c->path[A][name], len));
    struct res b = CALL(truncate(c->path[B][name], len));
    check_res(c, a, b);
}

static void op_fsync(struct ctx *c)
{
    char sb[96];
    int s = pick_slot(c);
    int fa = fd_for(c, s, A), fb = fd_for(c, s, B);
    set_desc(c, "fsync %s", slot_str(c, s, sb, sizeof(sb)));
    struct res a = CALL(fsync(fa));
    struct res b = CALL(fsync(fb));
    check_res(c, a, b);
}

static void op_fdatasync(struct ctx *c)
{
    char sb[96];
    int s = pick_slot(c);
    int fa = fd_for(c, s, A), fb = fd_for(c, s, B);
    set_desc(c, "fdatasync %s", slot_str(c, s, sb, sizeof(sb)));
    struct res a = CALL(fdatasync(fa));
    struct res b = CALL(fdatasync(fb));
    check_res(c, a, b);
}

static void op_fstat(struct ctx *c)
{
    char sb[96];
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
    int name = (int)rnd(c, NFILES);
    set_desc(c, "stat f%d", name);
    struct res a = CALL(stat(c->path[A][name], &sa));
    struct res b = CALL(stat(c->path[B][name], &sb));
    check_stat(c, a, b, &sa, &sb);
}

static void op_unlink(struct ctx *c)
{
    int name = (int)rnd(c, NFILES);
    set_desc(c, "unlink f%d", name);
    struct res a = CALL(unlink(c->path[A][name]));
    struct res b = CALL(unlink(c->path[B][name]));
    check_res(c, a, b);
}

static void op_rename(struct ctx *c)
{
    int from = (int)rnd(c, NFILES), to = (int)rnd(c, NFILES);
    set_desc(c, "rename f%d -> f%d", from, to);
    struct res a = CALL(rename(c->path[A][from], c->path[A][to]));
    struct res b = CALL(rename(c->path[B][from], c->path[B][to]));
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
    char sbuf[96];
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
    char sbuf[96];
    for (int i = 0; i < NFILES; i++) {
        struct stat st;
        if (stat(c->path[B][i], &st) != 0)
            continue;
        if ((long long)st.st_size <= c->max_file &&
            (long long)st.st_blocks * 512 <= c->max_file / 2)
            continue;
        long long len = rnd_range(c, 0, c->max_file / 4);
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
        if ((long long)st.st_size <= c->max_file &&
            (long long)st.st_blocks * 512 <= c->max_file / 2)
            continue;
        long long len = rnd_range(c, 0, c->max_file / 4);
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
    {"open", 8, op_open},      {"close", 5, op_close},         {"write", 14, op_write},
    {"pwrite", 14, op_pwrite}, {"read", 10, op_read},          {"pread", 12, op_pread},
    {"lseek", 8, op_lseek},    {"ftruncate", 4, op_ftruncate}, {"truncate", 2, op_truncate},
    {"fsync", 1, op_fsync},    {"fdatasync", 1, op_fdatasync}, {"fstat", 4, op_fstat},
    {"stat", 3, op_stat},      {"unlink", 2, op_unlink},       {"rename", 2, op_rename},
};
#define NOPS (sizeof(ops) / sizeof(ops[0]))

static const struct op *pick_op(struct ctx *c)
{
    unsigned total = 0;
    for (size_t i = 0; i < NOPS; i++)
        total += ops[i].weight;
    unsigned k = (unsigned)rnd(c, total);
    for (size_t i = 0; i < NOPS; i++) {
        if (k < ops[i].weight)
            return &ops[i];
        k -= ops[i].weight;
    }
    return &ops[NOPS - 1];
}

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s --seed S --ops N --managed DIR_A --plain DIR_B [--max-file-mb M] "
            "[--alloc-slack-mb K] [--trace]\n",
            prog);
    exit(2);
}

static unsigned long long parse_num(const char *prog, const char *opt, const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
        fprintf(stderr, "%s: bad number for %s: %s\n", prog, opt, s);
        exit(2);
    }
    return v;
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
    c->max_file = (long long)max_mb * MIB;
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
    c->rng = c->seed ^ 0x6a09e667f3bcc908ULL;

    for (c->op = 0; c->op < c->nops; c->op++) {
        pick_op(c)->fn(c);
        c->compared++;
        check_alloc(c);
        if ((c->op + 1) % SHRINK_EVERY == 0)
            shrink_large(c);
        if ((c->op + 1) % VERIFY_EVERY == 0 && c->op + 1 < c->nops)
            verify_all(c, "periodic");
    }
    verify_all(c, "final");
    for (int s = 0; s < NSLOTS; s++)
        if (c->slots[s].open)
            close_slot(c, s, " (final)");

    free(c->wbuf);
    free(c->rbuf[A]);
    free(c->rbuf[B]);
    printf("difftest: seed %" PRIu64 ": %lld ops compared, 0 mismatches\n", c->seed, c->compared);
    return 0;
}
