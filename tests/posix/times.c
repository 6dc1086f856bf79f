/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * times.c - file times, space and change notification of managed files,
 * against the kernel's own (libnvmmio preloaded, NVMMIO_PATH=MANAGED).
 *
 *   nvmmio_times diff SEED OPS MANAGED PLAIN
 *       a seeded random sequence of open (O_TRUNC, O_APPEND), close, write,
 *       pwrite (empty, sparse), read, ftruncate, fallocate, fsync,
 *       fdatasync, fstat, futimens, utimensat and utimes, applied to a
 *       managed and a plain file of each name. After every operation both
 *       are stat'ed: st_mtime and st_ctime must move (or not) alike and
 *       never go back unless set so, times set on purpose must be equal to
 *       the nanosecond until the next change of data, and sizes must agree.
 *       One difference is allowed: bytes cut below the last durability
 *       point stay in the file until the next one (a crash must bring them
 *       back), and giving them back then moves ctime alone.
 *   nvmmio_times space MANAGED PLAIN
 *       sparse files (10,000 bytes at 0 and 100 at 5 MiB, and others): after
 *       fsync, st_blocks and SEEK_HOLE/SEEK_DATA as the library reports them
 *       to the process, and after close the blocks the file keeps (raw
 *       system calls), equal to the kernel's.
 *   nvmmio_times watch MANAGED ROUNDS
 *       an inotify watcher of MANAGED sees IN_MODIFY before any
 *       IN_CLOSE_WRITE for every write that is closed (new file, O_TRUNC,
 *       same-size overwrite, append, fsync before close).
 *
 * Exit status 0 when all agree, 1 at the first difference (reported on
 * stdout), 2 on a usage or setup error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define NAMES     2
#define SLOTS     3
#define MAX_WRITE (256 * 1024)
#define MAX_OFF   (8 << 20)

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("times: ");
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    exit(1);
}

static uint64_t rng;
static uint64_t rnd(uint64_t n)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return n ? (z ^ (z >> 31)) % n : 0;
}

static bool ts_eq(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static bool ts_lt(struct timespec a, struct timespec b)
{
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

/* ---- diff ----------------------------------------------------------------- */

struct side_file {
    bool exists;
    struct stat st;
};

static struct {
    char path[2][NAMES][4096];
    int fd[2][SLOTS];
    int name[SLOTS];
    struct side_file last[2][NAMES];
    bool pinned[NAMES];   /* times set on purpose, no change of data since */
    off_t durable[NAMES]; /* the size at the last durability point */
    bool set_times_op;    /* the running operation set times backwards */
    char desc[256];
    long long op;
} d;

static char buf[MAX_WRITE];

static void res(long a, long b, int ea, int eb)
{
    if (a != b || (a < 0 && ea != eb))
        fail("op %lld %s: managed %ld (errno %d), plain %ld (errno %d)", d.op, d.desc, a, ea, b,
             eb);
}

/* Runs one call on the managed side (i = 0) and the plain side (i = 1),
 * with `i` in scope, and compares the results. */
#define BOTH(expr)                                                                                 \
    do {                                                                                           \
        long r_[2];                                                                                \
        int e_[2];                                                                                 \
        for (int i = 0; i < 2; i++) {                                                              \
            errno = 0;                                                                             \
            r_[i] = (long)(expr);                                                                  \
            e_[i] = errno;                                                                         \
        }                                                                                          \
        res(r_[0], r_[1], e_[0], e_[1]);                                                           \
    } while (0)

static int pick_open_slot(void)
{
    int s = (int)rnd(SLOTS);
    for (int k = 0; k < SLOTS; k++, s = (s + 1) % SLOTS)
        if (d.fd[0][s] >= 0)
            return s;
    return -1;
}

/* Durability point of name n: bytes cut below the last one may go now. */
static bool durable_op;
static int durable_name = -1;

static void op_open(void)
{
    int s = (int)rnd(SLOTS), n = (int)rnd(NAMES);
    if (d.fd[0][s] >= 0)
        return;
    static const int acc[] = {O_RDWR, O_WRONLY, O_RDONLY};
    int flags = acc[rnd(3)] | O_CREAT | (rnd(4) == 0 ? O_TRUNC : 0) | (rnd(5) == 0 ? O_APPEND : 0);
    snprintf(d.desc, sizeof(d.desc), "open f%d flags %#x -> slot %d", n, flags, s);
    int fds[2];
    for (int i = 0; i < 2; i++)
        fds[i] = open(d.path[i][n], flags, 0644);
    res(fds[0] >= 0 ? 0 : -1, fds[1] >= 0 ? 0 : -1, errno, errno);
    d.fd[0][s] = fds[0];
    d.fd[1][s] = fds[1];
    d.name[s] = n;
}

static void op_close(void)
{
    int s = pick_open_slot();
    if (s < 0)
        return;
    snprintf(d.desc, sizeof(d.desc), "close slot %d (f%d)", s, d.name[s]);
    BOTH(close(d.fd[i][s]));
    d.fd[0][s] = d.fd[1][s] = -1;
    durable_op = true;
    durable_name = d.name[s];
}

static void op_write(void)
{
    int s = pick_open_slot();
    if (s < 0)
        return;
    size_t len = rnd(10) == 0 ? 0 : rnd(MAX_WRITE);
    off_t off = rnd(4) == 0 ? (off_t)rnd(MAX_OFF) : -1;
    memset(buf, (int)(d.op & 0xff) | 1, len);
    snprintf(d.desc, sizeof(d.desc), "%s slot %d off %lld len %zu", off < 0 ? "write" : "pwrite", s,
             (long long)off, len);
    if (off < 0)
        BOTH(write(d.fd[i][s], buf, len));
    else
        BOTH(pwrite(d.fd[i][s], buf, len, off));
}

static void op_read(void)
{
    int s = pick_open_slot();
    if (s < 0)
        return;
    off_t off = (off_t)rnd(MAX_OFF / 4);
    snprintf(d.desc, sizeof(d.desc), "read slot %d off %lld", s, (long long)off);
    BOTH(pread(d.fd[i][s], buf, MAX_WRITE / 4, off));
}

static void op_ftruncate(void)
{
    int s = pick_open_slot();
    if (s < 0)
        return;
    struct stat st;
    off_t len = fstat(d.fd[1][s], &st) == 0 && rnd(4) == 0 ? st.st_size : (off_t)rnd(MAX_OFF);
    snprintf(d.desc, sizeof(d.desc), "ftruncate slot %d len %lld", s, (long long)len);
    BOTH(ftruncate(d.fd[i][s], len));
}

static void op_fallocate(void)
{
    int s = pick_open_slot();
    if (s < 0)
        return;
    static const int modes[] = {0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE};
    int mode = modes[rnd(3)];
    off_t off = (off_t)rnd(MAX_OFF / 2), len = (off_t)rnd(MAX_WRITE) + 1;
    snprintf(d.desc, sizeof(d.desc), "fallocate slot %d mode %d off %lld len %lld", s, mode,
             (long long)off, (long long)len);
    BOTH(fallocate(d.fd[i][s], mode, off, len));
}

static void op_sync(void)
{
    int s = pick_open_slot();
    if (s < 0)
        return;
    bool data = rnd(2);
    snprintf(d.desc, sizeof(d.desc), "%s slot %d", data ? "fdatasync" : "fsync", s);
    BOTH(data ? fdatasync(d.fd[i][s]) : fsync(d.fd[i][s]));
    durable_op = true;
    durable_name = d.name[s];
}

static void op_fstat(void)
{
    int s = pick_open_slot();
    if (s < 0)
        return;
    struct stat st[2];
    snprintf(d.desc, sizeof(d.desc), "fstat slot %d", s);
    BOTH(fstat(d.fd[i][s], &st[i]));
    if (st[0].st_size != st[1].st_size)
        fail("op %lld %s: size managed %lld plain %lld", d.op, d.desc, (long long)st[0].st_size,
             (long long)st[1].st_size);
}

/* futimens, utimensat or utimes: explicit times, now, or one of them left. */
static void op_set_times(void)
{
    int n = (int)rnd(NAMES), s = pick_open_slot(), how = (int)rnd(3);
    /* In the past, so that later changes move mtime forward from it. */
    time_t past = time(NULL) - 86400;
    struct timespec t[2] = {{past - (time_t)rnd(1000000000), (long)rnd(1000000000)},
                            {past - (time_t)rnd(1000000000), (long)rnd(1000000000)}};
    int kind = (int)rnd(4);
    if (kind == 1)
        t[0].tv_nsec = UTIME_OMIT;
    if (kind == 2)
        t[1].tv_nsec = UTIME_NOW;
    if (kind == 3)
        t[0].tv_nsec = t[1].tv_nsec = UTIME_NOW;
    if (how == 0 && s >= 0) {
        n = d.name[s];
        snprintf(d.desc, sizeof(d.desc), "futimens slot %d kind %d", s, kind);
        BOTH(futimens(d.fd[i][s], t));
    } else if (how == 1) {
        snprintf(d.desc, sizeof(d.desc), "utimensat f%d kind %d", n, kind);
        BOTH(utimensat(AT_FDCWD, d.path[i][n], t, 0));
    } else {
        struct timeval tv[2] = {{t[0].tv_sec, 0}, {t[1].tv_sec, 0}};
        kind = 0;
        snprintf(d.desc, sizeof(d.desc), "utimes f%d", n);
        BOTH(utimes(d.path[i][n], tv));
    }
    d.set_times_op = true;
    d.pinned[n] = kind <= 1;
}

/* After every operation: the times of each name moved alike on both sides. */
static void check_times(void)
{
    for (int n = 0; n < NAMES; n++) {
        struct side_file now[2];
        for (int i = 0; i < 2; i++)
            now[i].exists = stat(d.path[i][n], &now[i].st) == 0;
        if (now[0].exists != now[1].exists)
            fail("op %lld %s: f%d exists on one side only", d.op, d.desc, n);
        bool fresh = now[1].exists && !d.last[1][n].exists;
        if (now[1].exists && !fresh) {
            bool ch[2][2];
            for (int i = 0; i < 2; i++) {
                ch[i][0] = !ts_eq(now[i].st.st_mtim, d.last[i][n].st.st_mtim);
                ch[i][1] = !ts_eq(now[i].st.st_ctim, d.last[i][n].st.st_ctim);
                if (!d.set_times_op && (ts_lt(now[i].st.st_mtim, d.last[i][n].st.st_mtim) ||
                                        ts_lt(now[i].st.st_ctim, d.last[i][n].st.st_ctim)))
                    fail("op %lld %s: f%d %s times went back: mtime %lld.%09ld -> %lld.%09ld, "
                         "ctime %lld.%09ld -> %lld.%09ld",
                         d.op, d.desc, n, i ? "plain" : "managed",
                         (long long)d.last[i][n].st.st_mtim.tv_sec, d.last[i][n].st.st_mtim.tv_nsec,
                         (long long)now[i].st.st_mtim.tv_sec, now[i].st.st_mtim.tv_nsec,
                         (long long)d.last[i][n].st.st_ctim.tv_sec, d.last[i][n].st.st_ctim.tv_nsec,
                         (long long)now[i].st.st_ctim.tv_sec, now[i].st.st_ctim.tv_nsec);
            }
            /* Bytes cut below the last durability point go back at this
             * one: that moves the managed side's ctime alone. */
            bool cut = durable_op && durable_name == n && now[1].st.st_size < d.durable[n] &&
                       !ch[0][0] && !ch[1][0] && ch[0][1] && !ch[1][1];
            if (!cut && (ch[0][0] != ch[1][0] || ch[0][1] != ch[1][1]))
                fail("op %lld %s: f%d mtime %s/%s, ctime %s/%s (managed/plain)", d.op, d.desc, n,
                     ch[0][0] ? "moved" : "kept", ch[1][0] ? "moved" : "kept",
                     ch[0][1] ? "moved" : "kept", ch[1][1] ? "moved" : "kept");
            if (ch[1][0] && !d.set_times_op)
                d.pinned[n] = false;
            if (d.pinned[n] && !ts_eq(now[0].st.st_mtim, now[1].st.st_mtim))
                fail("op %lld %s: f%d mtime set on purpose: managed %lld.%09ld plain %lld.%09ld",
                     d.op, d.desc, n, (long long)now[0].st.st_mtim.tv_sec,
                     now[0].st.st_mtim.tv_nsec, (long long)now[1].st.st_mtim.tv_sec,
                     now[1].st.st_mtim.tv_nsec);
            if (now[0].st.st_size != now[1].st.st_size)
                fail("op %lld %s: f%d size managed %lld plain %lld", d.op, d.desc, n,
                     (long long)now[0].st.st_size, (long long)now[1].st.st_size);
        }
        if (fresh)
            d.pinned[n] = false;
        if (now[1].exists && (fresh || (durable_op && durable_name == n)))
            d.durable[n] = now[1].st.st_size;
        for (int i = 0; i < 2; i++)
            d.last[i][n] = now[i];
    }
}

static int run_diff(uint64_t seed, long long ops, const char *managed, const char *plain)
{
    rng = seed;
    for (int n = 0; n < NAMES; n++) {
        snprintf(d.path[0][n], sizeof(d.path[0][n]), "%s/f%d", managed, n);
        snprintf(d.path[1][n], sizeof(d.path[1][n]), "%s/f%d", plain, n);
    }
    for (int s = 0; s < SLOTS; s++)
        d.fd[0][s] = d.fd[1][s] = -1;
    static void (*const ops_of[])(void) = {
        op_open, op_open,  op_close,     op_write,     op_write, op_write,     op_write,
        op_read, op_fstat, op_ftruncate, op_fallocate, op_sync,  op_set_times,
    };
    for (d.op = 0; d.op < ops; d.op++) {
        d.desc[0] = '\0';
        d.set_times_op = durable_op = false;
        durable_name = -1;
        ops_of[rnd(sizeof(ops_of) / sizeof(ops_of[0]))]();
        check_times();
    }
    printf("times diff: seed %" PRIu64 ": %lld operations, 0 differences\n", seed, ops);
    return 0;
}

/* ---- space ---------------------------------------------------------------- */

struct layout {
    const char *name;
    struct {
        off_t off;
        size_t len;
    } w[4];
    off_t truncate_to; /* after the writes, when not 0 */
};

static long raw_blocks(const char *path)
{
    struct stat st;
    return syscall(SYS_newfstatat, AT_FDCWD, path, &st, 0) == 0 ? (long)st.st_blocks : -1;
}

static void check_layout(const struct layout *l, const char *managed, const char *plain)
{
    char path[2][4096];
    snprintf(path[0], sizeof(path[0]), "%s/%s", managed, l->name);
    snprintf(path[1], sizeof(path[1]), "%s/%s", plain, l->name);
    int fd[2];
    struct stat st[2];
    long answers[2][4];
    for (int i = 0; i < 2; i++) {
        fd[i] = open(path[i], O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (fd[i] < 0)
            fail("%s: open: %s", path[i], strerror(errno));
        for (int k = 0; k < 4 && l->w[k].len; k++) {
            memset(buf, 'a' + k, l->w[k].len);
            if (pwrite(fd[i], buf, l->w[k].len, l->w[k].off) != (ssize_t)l->w[k].len)
                fail("%s: pwrite: %s", path[i], strerror(errno));
        }
        if (l->truncate_to && ftruncate(fd[i], l->truncate_to) < 0)
            fail("%s: ftruncate: %s", path[i], strerror(errno));
        if (fsync(fd[i]) < 0 || fstat(fd[i], &st[i]) < 0)
            fail("%s: fsync/fstat: %s", path[i], strerror(errno));
        answers[i][0] = (long)lseek(fd[i], 0, SEEK_HOLE);
        answers[i][1] = (long)lseek(fd[i], answers[i][0], SEEK_DATA);
        answers[i][2] = (long)lseek(fd[i], 4096, SEEK_HOLE);
        answers[i][3] = (long)lseek(fd[i], st[i].st_size / 2, SEEK_DATA);
    }
    if (st[0].st_blocks != st[1].st_blocks)
        fail("%s after fsync: st_blocks managed %ld plain %ld", l->name, (long)st[0].st_blocks,
             (long)st[1].st_blocks);
    for (int k = 0; k < 4; k++)
        if (answers[0][k] != answers[1][k])
            fail("%s after fsync: SEEK_HOLE/SEEK_DATA answer %d: managed %ld plain %ld", l->name, k,
                 answers[0][k], answers[1][k]);
    for (int i = 0; i < 2; i++)
        close(fd[i]);
    long raw[2] = {raw_blocks(path[0]), raw_blocks(path[1])};
    if (raw[0] != raw[1])
        fail("%s after close: the file keeps %ld blocks, the kernel's %ld", l->name, raw[0],
             raw[1]);
    printf("times space: %s: %ld blocks, hole at %ld\n", l->name, (long)st[1].st_blocks,
           answers[1][0]);
}

static int run_space(const char *managed, const char *plain)
{
    static const struct layout layouts[] = {
        {"sparse", {{0, 10000}, {5 << 20, 100}}, 0},
        {"appended_then_far", {{0, 4096}, {4096, 6000}, {3 << 20, 4096}}, 0},
        {"far_first", {{7 << 20, 5000}, {0, 100}}, 0},
        {"grown_by_truncate", {{0, 20000}}, 9 << 20},
        {"shrunk", {{0, 200000}, {1 << 20, 10}}, 70000},
    };
    for (size_t k = 0; k < sizeof(layouts) / sizeof(layouts[0]); k++)
        check_layout(&layouts[k], managed, plain);
    return 0;
}

/* ---- watch ---------------------------------------------------------------- */

/* The events on `name` since the last call, IN_MODIFY as 'M' and
 * IN_CLOSE_WRITE as 'C', in order. */
static void events_of(int in, const char *name, char *out, size_t n)
{
    char ev[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    size_t at = 0;
    ssize_t got;
    while ((got = read(in, ev, sizeof(ev))) > 0) {
        for (char *p = ev; p < ev + got;) {
            struct inotify_event *e = (struct inotify_event *)p;
            if (e->len && !strcmp(e->name, name) && at + 1 < n) {
                if (e->mask & IN_MODIFY)
                    out[at++] = 'M';
                if (e->mask & IN_CLOSE_WRITE && at + 1 < n)
                    out[at++] = 'C';
            }
            p += sizeof(*e) + e->len;
        }
    }
    out[at] = '\0';
}

static int run_watch(const char *managed, int rounds)
{
    int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (in < 0 || inotify_add_watch(in, managed, IN_MODIFY | IN_CLOSE_WRITE) < 0)
        fail("inotify: %s", strerror(errno));
    static const char *const kinds[] = {"new file", "O_TRUNC", "same-size overwrite", "append",
                                        "fsync, then close"};
    for (int r = 0; r < rounds; r++) {
        int kind = r % 5;
        char name[64], path[4096];
        snprintf(name, sizeof(name), "w%d", r % 7);
        snprintf(path, sizeof(path), "%s/%s", managed, name);
        char seen[256];
        if (kind == 0) {
            /* The library's mapping of the removed file goes with its last
             * link: that close's IN_CLOSE_WRITE is not the new file's. */
            unlink(path);
            events_of(in, name, seen, sizeof(seen));
        }
        if (kind == 2) { /* the file as the overwrite will leave it, events drained */
            int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || pwrite(fd, buf, 8192, 0) != 8192 || close(fd) < 0)
                fail("%s: %s", path, strerror(errno));
            events_of(in, name, seen, sizeof(seen));
        }
        int flags = kind == 1   ? O_WRONLY | O_CREAT | O_TRUNC
                    : kind == 3 ? O_WRONLY | O_CREAT | O_APPEND
                                : O_RDWR | O_CREAT;
        int fd = open(path, flags, 0644);
        if (fd < 0)
            fail("%s: open: %s", path, strerror(errno));
        memset(buf, 'a' + r % 26, 8192);
        if (pwrite(fd, buf, 8192, 0) != 8192 && write(fd, buf, 8192) != 8192)
            fail("%s: write: %s", path, strerror(errno));
        if (kind == 4 && fsync(fd) < 0)
            fail("%s: fsync: %s", path, strerror(errno));
        if (close(fd) < 0)
            fail("%s: close: %s", path, strerror(errno));
        events_of(in, name, seen, sizeof(seen));
        /* Before the first IN_CLOSE_WRITE: a watcher woken by it must find
         * the write done. */
        if (seen[0] != 'M' || !strchr(seen, 'C'))
            fail("round %d (%s): events %s (M: IN_MODIFY, C: IN_CLOSE_WRITE): want IN_MODIFY "
                 "first",
                 r, kinds[kind], seen[0] ? seen : "none");
    }
    printf("times watch: %d closed writes, each seen as IN_MODIFY, then IN_CLOSE_WRITE\n", rounds);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && !strcmp(argv[1], "diff"))
        return run_diff(strtoull(argv[2], NULL, 0), atoll(argv[3]), argv[4], argv[5]);
    if (argc == 4 && !strcmp(argv[1], "space"))
        return run_space(argv[2], argv[3]);
    if (argc == 4 && !strcmp(argv[1], "watch"))
        return run_watch(argv[2], atoi(argv[3]));
    fprintf(stderr,
            "usage: %s diff SEED OPS MANAGED PLAIN | space MANAGED PLAIN | watch "
            "MANAGED ROUNDS\n",
            argv[0]);
    return 2;
}
