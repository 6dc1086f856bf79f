/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * badinput.c - differential bad-input matrix for libnvmmio.
 *
 * Every case runs twice: on files in the managed directory (side A, a pmem
 * root when libnvmmio is preloaded) and on the same files in a plain
 * directory (side B, the kernel). Each case sets up two files, f and g, of
 * known bytes, makes its calls, and records each call's return value and
 * errno and the bytes it read; afterwards both files are read back through
 * the C library and with raw system calls. Every record and every file's
 * size and bytes must agree between the sides.
 *
 * The matrix: each data, position, size, durability, descriptor, copy,
 * stream and mapping call on each kind of bad descriptor (-1, closed, huge,
 * a directory, both ends of a pipe, a socket, O_PATH, the wrong access
 * mode, O_RDWR|O_WRONLY); NULL, huge and wrapping buffers; negative, huge
 * and overflowing offsets and lengths, offsets past the library's largest
 * mapped file; invalid whence, iovec counts, RWF_* and fallocate modes,
 * copy flags and overlapping copies; open flags (O_DIRECT, O_PATH,
 * O_TMPFILE, unknown bits); bad names and flags for the stat, unlink and
 * rename calls; a NULL path (or stat buffer, argument vector or limit) to
 * every call that takes one; exec and spawn that fail; EMFILE, EFBIG through
 * RLIMIT_FSIZE, and, given small file systems, ENOSPC and a read-only file
 * system; stdio on bad modes and streams; and invalid (PROT_NONE,
 * read-only) buffers: a read's whole or from a page on (EFAULT, or the
 * bytes before that page, as the kernel), a write's whole, where the
 * library faults instead of returning EFAULT (see the README, "Bad buffers
 * and EFAULT") and the file must still end up as the kernel leaves it.
 * Where the README documents a difference (how
 * much of a write fits on a full file system) each side is checked on its
 * own.
 *
 *   nvmmio_badinput MANAGED PLAIN [FULL_A FULL_B] [RO_A RO_B]
 *
 * FULL_A/FULL_B are small empty file systems (ENOSPC cases), RO_A/RO_B
 * read-only ones holding a file f (see run_badinput.sh); without them those
 * cases are skipped with a message. BADINPUT_ONLY=TEXT in the environment
 * runs only the cases whose name holds TEXT. Exit 0 when every case agrees,
 * 1 on any mismatch, 2 on a setup error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <spawn.h>
#include <linux/close_range.h>
#include <sys/time.h>
#include <unistd.h>
#include <utime.h>
#include <dlfcn.h>

#define FILE_LEN 10000
#define BUF_LEN  (64 * 1024)
#define EDGE     (64 * 1024) /* compared at each end of a file */
#define MAX_RES  32
#define OUT_LEN  256
#define NV_MAX   (1LL << 46) /* the library's largest mapped file */
#define HUGE_FD  (1 << 20)
#define SPARE_FD 300

ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
int __open_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);

enum { A, B };
static const char *const side_name[2] = {"managed", "plain"};

struct res {
    long long ret;
    int err;
};

/* What one side of a case did. */
struct out {
    struct res r[MAX_RES];
    int nres;
    unsigned char bytes[OUT_LEN];
    size_t nbytes;
};

/* The side a case runs on. */
struct env {
    int side;
    const char *dir;
    char f[PATH_MAX], g[PATH_MAX];
    int kind; /* matrix cases: the kind of descriptor */
};

static unsigned char wbuf[BUF_LEN], rbuf[BUF_LEN];
static int mismatches, cases;

/* ---- recording --------------------------------------------------------- */

static void rec(struct out *o, long long ret, int err)
{
    if (o->nres < MAX_RES)
        o->r[o->nres++] = (struct res){ret, ret < 0 ? err : 0};
}

/* Runs expr and records its result and errno. */
#define R(o, expr)                                                                                 \
    do {                                                                                           \
        errno = 0;                                                                                 \
        long long r_ = (long long)(expr);                                                          \
        rec(o, r_, errno);                                                                         \
    } while (0)

/* Records a descriptor-returning call as success or failure only (the
 * numbers may differ) and closes what it opened. */
#define RFD(o, expr)                                                                               \
    do {                                                                                           \
        errno = 0;                                                                                 \
        int fd_ = (int)(expr);                                                                     \
        rec(o, fd_ < 0 ? -1 : 0, errno);                                                           \
        if (fd_ >= 0)                                                                              \
            close(fd_);                                                                            \
    } while (0)

static void keep(struct out *o, const void *p, size_t n)
{
    if (n > OUT_LEN - o->nbytes)
        n = OUT_LEN - o->nbytes;
    memcpy(o->bytes + o->nbytes, p, n);
    o->nbytes += n;
}

/* ---- files ------------------------------------------------------------- */

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)((i * 131 + seed * 17) >> 3);
}

/* Writes a file with raw system calls (the library plays no part). */
static int make_file(const char *path, unsigned seed)
{
    static unsigned char data[FILE_LEN];
    fill(data, sizeof(data), seed);
    syscall(SYS_unlinkat, AT_FDCWD, path, 0);
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    long n = syscall(SYS_pwrite64, fd, data, sizeof(data), 0);
    syscall(SYS_close, fd);
    return n == (long)sizeof(data) ? 0 : -1;
}

/* A file's size and the bytes at both ends, raw or through the C library. */
struct image {
    long long size;
    int err;
    unsigned char head[EDGE], tail[EDGE];
};

static void read_image(const char *path, bool raw, struct image *im)
{
    memset(im, 0, sizeof(*im));
    int fd = raw ? (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY) : open(path, O_RDONLY);
    if (fd < 0) {
        im->err = errno;
        im->size = -1;
        return;
    }
    struct stat st;
    if ((raw ? syscall(SYS_fstat, fd, &st) : fstat(fd, &st)) == 0)
        im->size = st.st_size;
    long long tail_at = im->size > EDGE ? im->size - EDGE : 0;
    if (raw) {
        syscall(SYS_pread64, fd, im->head, EDGE, 0);
        syscall(SYS_pread64, fd, im->tail, EDGE, tail_at);
        syscall(SYS_close, fd);
    } else {
        if (pread(fd, im->head, EDGE, 0) < 0 || pread(fd, im->tail, EDGE, tail_at) < 0)
            im->err = errno;
        close(fd);
    }
}

static bool same_image(const char *what, const char *name_a, const char *name_b, bool raw)
{
    static struct image ia, ib;
    read_image(name_a, raw, &ia);
    read_image(name_b, raw, &ib);
    if (ia.size == ib.size && ia.err == ib.err && !memcmp(ia.head, ib.head, EDGE) &&
        !memcmp(ia.tail, ib.tail, EDGE))
        return true;
    printf("    file %s (%s): managed size %lld err %d, plain size %lld err %d%s\n", what,
           raw ? "raw" : "libc", ia.size, ia.err, ib.size, ib.err,
           ia.size == ib.size ? ", bytes differ" : "");
    return false;
}

/* ---- descriptors of every kind ----------------------------------------- */

enum kind {
    K_NEG,
    K_CLOSED,
    K_HUGE,
    K_DIR,
    K_PIPE_R,
    K_PIPE_W,
    K_SOCKET,
    K_PATH,
    K_RDONLY,
    K_WRONLY,
    K_ACC3, /* O_RDWR | O_WRONLY: neither read nor write */
    K_APPEND,
    K_RDWR,
    NKINDS
};
static const char *const kind_name[NKINDS] = {
    "fd-1",   "closed",   "huge",     "dir",  "pipe-r",   "pipe-w", "socket",
    "o_path", "o_rdonly", "o_wronly", "acc3", "o_append", "o_rdwr",
};

struct kfd {
    int fd;
    int extra[2]; /* closed with it */
};

static struct kfd open_kind(struct env *e, enum kind k)
{
    struct kfd d = {-1, {-1, -1}};
    int p[2];
    switch (k) {
    case K_NEG:
        break;
    case K_CLOSED:
        d.fd = open(e->f, O_RDWR);
        close(d.fd);
        break;
    case K_HUGE:
        d.fd = HUGE_FD;
        break;
    case K_DIR:
        d.extra[0] = d.fd = open(e->dir, O_RDONLY | O_DIRECTORY);
        break;
    case K_PIPE_R:
    case K_PIPE_W:
        if (pipe2(p, O_NONBLOCK) == 0) {
            d.fd = k == K_PIPE_R ? p[0] : p[1];
            d.extra[0] = p[0];
            d.extra[1] = p[1];
        }
        break;
    case K_SOCKET:
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p) == 0) {
            d.fd = p[0];
            d.extra[0] = p[0];
            d.extra[1] = p[1];
        }
        break;
    case K_PATH:
        d.extra[0] = d.fd = open(e->f, O_PATH);
        break;
    case K_RDONLY:
        d.extra[0] = d.fd = open(e->f, O_RDONLY);
        break;
    case K_WRONLY:
        d.extra[0] = d.fd = open(e->f, O_WRONLY);
        break;
    case K_ACC3:
        d.extra[0] = d.fd = open(e->f, O_RDWR | O_WRONLY);
        break;
    case K_APPEND:
        d.extra[0] = d.fd = open(e->f, O_WRONLY | O_APPEND);
        break;
    case K_RDWR:
        d.extra[0] = d.fd = open(e->f, O_RDWR);
        break;
    default:
        break;
    }
    return d;
}

static void close_kind(struct kfd *d)
{
    for (int i = 0; i < 2; i++)
        if (d->extra[i] >= 0)
            close(d->extra[i]);
}

/* ---- the matrix: every call on every kind of descriptor ----------------- */

typedef void (*fd_call)(struct env *e, int fd, struct out *o);

static void m_read(struct env *e, int fd, struct out *o)
{
    (void)e;
    R(o, read(fd, rbuf, 100));
    keep(o, rbuf, 100);
}

static void m_read_chk(struct env *e, int fd, struct out *o)
{
    (void)e;
    R(o, __read_chk(fd, rbuf, 100, sizeof(rbuf)));
    R(o, __pread_chk(fd, rbuf + 100, 100, 7, sizeof(rbuf) - 100));
    keep(o, rbuf, 200);
}

static void m_write(struct env *e, int fd, struct out *o)
{
    (void)e;
    R(o, write(fd, wbuf, 100));
}

static void m_pread(struct env *e, int fd, struct out *o)
{
    (void)e;
    R(o, pread(fd, rbuf, 100, 5));
    R(o, pread64(fd, rbuf + 100, 100, 9000));
    keep(o, rbuf, 200);
}

static void m_pwrite(struct env *e, int fd, struct out *o)
{
    (void)e;
    R(o, pwrite(fd, wbuf, 100, 5));
    R(o, pwrite64(fd, wbuf, 100, 12000));
}

static void m_readv(struct env *e, int fd, struct out *o)
{
    (void)e;
    struct iovec iov[2] = {{rbuf, 50}, {rbuf + 50, 60}};
    R(o, readv(fd, iov, 2));
    R(o, preadv(fd, iov, 2, 20));
    R(o, preadv2(fd, iov, 2, -1, 0));
    R(o, preadv2(fd, iov, 2, 30, RWF_HIPRI));
    keep(o, rbuf, 110);
}

static void m_writev(struct env *e, int fd, struct out *o)
{
    (void)e;
    struct iovec iov[2] = {{wbuf, 50}, {wbuf + 50, 60}};
    R(o, writev(fd, iov, 2));
    R(o, pwritev(fd, iov, 2, 20));
    R(o, pwritev2(fd, iov, 2, -1, 0));
    R(o, pwritev2(fd, iov, 2, 11000, RWF_DSYNC));
}

static void m_lseek(struct env *e, int fd, struct out *o)
{
    (void)e;
    R(o, lseek(fd, 5, SEEK_SET));
    R(o, lseek(fd, 3, SEEK_CUR));
    R(o, lseek(fd, -1, SEEK_END));
    R(o, lseek(fd, 0, SEEK_DATA));
    R(o, lseek(fd, 0, SEEK_HOLE));
    R(o, lseek64(fd, 0, 77));
}

static void m_sync(struct env *e, int fd, struct out *o)
{
    (void)e;
    R(o, fsync(fd));
    R(o, fdatasync(fd));
    R(o, sync_file_range(fd, 0, 100, SYNC_FILE_RANGE_WRITE));
    R(o, syncfs(fd));
}

static void m_ftruncate(struct env *e, int fd, struct out *o)
{
    (void)e;
    R(o, ftruncate(fd, 50));
    R(o, ftruncate64(fd, 20000));
}

static void m_fallocate(struct env *e, int fd, struct out *o)
{
    (void)e;
    R(o, fallocate(fd, 0, 0, 20000));
    R(o, fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 30000));
    R(o, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 5000));
    R(o, posix_fallocate(fd, 0, 25000));
}

static void m_fstat(struct env *e, int fd, struct out *o)
{
    (void)e;
    struct stat st;
    R(o, fstat(fd, &st));
    bool file = o->r[o->nres - 1].ret == 0 && S_ISREG(st.st_mode);
    rec(o, file ? (long long)st.st_size : 0, 0); /* directories differ: a root holds logs */
}

static void m_dup(struct env *e, int fd, struct out *o)
{
    (void)e;
    RFD(o, dup(fd));
    RFD(o, dup2(fd, SPARE_FD));
    RFD(o, dup3(fd, SPARE_FD + 1, O_CLOEXEC));
    RFD(o, fcntl(fd, F_DUPFD, SPARE_FD + 2));
    R(o, fcntl(fd, F_GETFL) & ~O_LARGEFILE);
    R(o, fcntl(fd, F_SETFL, O_APPEND));
    R(o, write(fd, wbuf, 10));
}

static void m_copy_in(struct env *e, int fd, struct out *o)
{
    int g = open(e->g, O_RDWR);
    R(o, copy_file_range(fd, NULL, g, NULL, 100, 0));
    loff_t off = 10;
    R(o, copy_file_range(fd, &off, g, NULL, 100, 0));
    R(o, off);
    R(o, sendfile(g, fd, NULL, 100));
    close(g);
}

static void m_copy_out(struct env *e, int fd, struct out *o)
{
    int g = open(e->g, O_RDWR);
    R(o, copy_file_range(g, NULL, fd, NULL, 100, 0));
    loff_t off = 10;
    R(o, copy_file_range(g, NULL, fd, &off, 100, 0));
    R(o, off);
    off_t soff = 20;
    R(o, sendfile(fd, g, &soff, 100));
    R(o, soff);
    R(o, syscall(SYS_copy_file_range, g, NULL, fd, NULL, 50, 0));
    close(g);
}

static void m_splice(struct env *e, int fd, struct out *o)
{
    int g = open(e->g, O_RDWR), p[2];
    if (pipe2(p, O_NONBLOCK) < 0)
        return;
    R(o, splice(fd, NULL, p[1], NULL, 100, 0));
    R(o, splice(g, NULL, fd, NULL, 100, 0));
    R(o, splice(p[0], NULL, fd, NULL, 100, 0));
    loff_t off = 3;
    R(o, splice(fd, &off, p[1], NULL, 100, 0));
    close(p[0]);
    close(p[1]);
    close(g);
}

static void m_mmap(struct env *e, int fd, struct out *o)
{
    (void)e;
    int prots[2] = {PROT_READ, PROT_READ | PROT_WRITE};
    for (int i = 0; i < 2; i++) {
        errno = 0;
        void *p = mmap(NULL, 4096, prots[i], MAP_SHARED, fd, 0);
        rec(o, p == MAP_FAILED ? -1 : 0, errno);
        if (p != MAP_FAILED)
            munmap(p, 4096);
    }
}

static void m_fdopen(struct env *e, int fd, struct out *o)
{
    (void)e;
    const char *modes[3] = {"r", "w", "a+"};
    for (int i = 0; i < 3; i++) {
        int d = fd >= 0 && fd < HUGE_FD ? dup(fd) : fd;
        errno = 0;
        FILE *fp = fdopen(d, modes[i]);
        rec(o, fp ? 0 : -1, errno);
        if (fp) {
            R(o, fread(rbuf, 1, 20, fp));
            R(o, ferror(fp));
            R(o, fclose(fp));
        } else if (d != fd) {
            close(d);
        }
    }
}

static void m_close(struct env *e, int fd, struct out *o)
{
    (void)e;
    int d = fd >= 0 && fd < HUGE_FD ? dup(fd) : fd;
    R(o, close(d));
    R(o, close(d));
}

struct matrix_call {
    const char *name;
    fd_call fn;
};

static const struct matrix_call matrix[] = {
    {"read", m_read},           {"read_chk", m_read_chk},   {"write", m_write},
    {"pread", m_pread},         {"pwrite", m_pwrite},       {"readv", m_readv},
    {"writev", m_writev},       {"lseek", m_lseek},         {"sync", m_sync},
    {"ftruncate", m_ftruncate}, {"fallocate", m_fallocate}, {"fstat", m_fstat},
    {"dup-fcntl", m_dup},       {"copy-in", m_copy_in},     {"copy-out", m_copy_out},
    {"splice", m_splice},       {"mmap", m_mmap},           {"fdopen", m_fdopen},
    {"close", m_close},
};

/* ---- running a case on both sides -------------------------------------- */

typedef void (*case_fn)(struct env *e, struct out *o);

static struct env envs[2];

static bool setup(struct env *e)
{
    return make_file(e->f, 1) == 0 && make_file(e->g, 2) == 0;
}

static void show(const struct out *o, int i)
{
    if (i < o->nres)
        printf("%lld%s%s", o->r[i].ret, o->r[i].err ? " " : "",
               o->r[i].err ? strerrorname_np(o->r[i].err) : "");
    else
        printf("(none)");
}

static bool same_out(const struct out *a, const struct out *b)
{
    bool same =
        a->nres == b->nres && a->nbytes == b->nbytes && !memcmp(a->bytes, b->bytes, a->nbytes);
    for (int i = 0; same && i < a->nres; i++)
        same = a->r[i].ret == b->r[i].ret && a->r[i].err == b->r[i].err;
    return same;
}

static void report(const char *name, const struct out *o, bool ok)
{
    printf("%s %s:", ok ? "ok      " : "MISMATCH", name);
    for (int i = 0; i < o[A].nres || i < o[B].nres; i++) {
        printf(" ");
        if (i >= o[A].nres || i >= o[B].nres || o[A].r[i].ret != o[B].r[i].ret ||
            o[A].r[i].err != o[B].r[i].err) {
            printf("[managed ");
            show(&o[A], i);
            printf(" | plain ");
            show(&o[B], i);
            printf("]");
        } else {
            show(&o[A], i);
        }
    }
    if (o[A].nbytes != o[B].nbytes || memcmp(o[A].bytes, o[B].bytes, o[A].nbytes))
        printf(" [bytes read differ]");
    printf("\n");
}

static bool same_files(void)
{
    bool ok = true;
    for (int raw = 0; raw < 2; raw++) {
        ok &= same_image("f", envs[A].f, envs[B].f, raw);
        ok &= same_image("g", envs[A].g, envs[B].g, raw);
    }
    return ok;
}

/* BADINPUT_ONLY=TEXT runs only the cases whose name holds TEXT. */
static bool chosen(const char *name)
{
    const char *only = getenv("BADINPUT_ONLY");
    return !only || strstr(name, only);
}

static void run_case(const char *name, case_fn fn, int kind)
{
    static struct out o[2];
    if (!chosen(name))
        return;
    for (int s = A; s <= B; s++) {
        memset(&o[s], 0, sizeof(o[s]));
        if (!setup(&envs[s])) {
            printf("setup failed for %s on the %s side: %s\n", name, side_name[s], strerror(errno));
            exit(2);
        }
        envs[s].kind = kind;
        fill(wbuf, sizeof(wbuf), 3);
        memset(rbuf, 0, sizeof(rbuf));
        fn(&envs[s], &o[s]);
    }
    bool ok = same_out(&o[A], &o[B]);
    ok &= same_files();
    report(name, o, ok);
    cases++;
    mismatches += !ok;
}

static const struct matrix_call *matrix_now;

static void matrix_case(struct env *e, struct out *o)
{
    struct kfd d = open_kind(e, (enum kind)e->kind);
    matrix_now->fn(e, d.fd, o);
    close_kind(&d);
}

static void run_matrix(void)
{
    for (size_t c = 0; c < sizeof(matrix) / sizeof(matrix[0]); c++) {
        for (int k = 0; k < NKINDS; k++) {
            char name[96];
            snprintf(name, sizeof(name), "%s/%s", matrix[c].name, kind_name[k]);
            matrix_now = &matrix[c];
            run_case(name, matrix_case, k);
        }
    }
}

/* ---- buffers, offsets and lengths on a read-write file ------------------ */

static int open_f(struct env *e, int flags)
{
    return open(e->f, flags);
}

static void c_null_buffers(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    R(o, read(fd, NULL, 0));
    R(o, write(fd, NULL, 0));
    R(o, read(fd, NULL, 10));
    R(o, write(fd, NULL, 10));
    R(o, pread(fd, NULL, 10, 20000)); /* past the end: nothing to copy */
    R(o, pwrite(fd, NULL, 10, 20000));
    R(o, lseek(fd, 0, SEEK_END));
    R(o, read(fd, NULL, 10));
    R(o, pread(fd, NULL, 10, 100));
    R(o, lseek(fd, 0, SEEK_CUR));
    close(fd);
}

static void c_huge_lengths(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    R(o, read(fd, rbuf, SIZE_MAX));
    R(o, read(fd, rbuf, (size_t)1 << 62));
    R(o, pread(fd, rbuf, (size_t)1 << 48, 0));
    R(o, write(fd, wbuf, SIZE_MAX));
    R(o, pwrite(fd, wbuf, (size_t)1 << 62, 0));
    R(o, read(fd, (void *)-4096L, 8192)); /* wraps around */
    R(o, write(fd, (void *)-4096L, 8192));
    R(o, read(fd, rbuf, (size_t)1 << 36)); /* in range: the file is short */
    keep(o, rbuf, 64);
    R(o, lseek(fd, 0, SEEK_CUR));
    close(fd);
}

static void c_pread_offsets(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    long long offs[] = {-1,          LLONG_MIN, LLONG_MAX - 10, LLONG_MAX - 200,
                        NV_MAX - 10, NV_MAX,    NV_MAX + 4096,  1LL << 62};
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
        R(o, pread(fd, rbuf, 100, offs[i]));
    close(fd);
}

static void c_pwrite_negative(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    R(o, pwrite(fd, wbuf, 100, -1));
    R(o, pwrite(fd, wbuf, 100, LLONG_MIN));
    R(o, pwrite(fd, wbuf, 100, LLONG_MAX - 10)); /* offset + length overflows */
    R(o, pwrite(fd, wbuf, 0, -5));
    close(fd);
}

/* Writes beyond the library's largest mapped file: the kernel (tmpfs)
 * takes them. */
static void pwrite_far(struct env *e, struct out *o, long long off)
{
    int fd = open_f(e, O_RDWR);
    R(o, pwrite(fd, wbuf, 100, 500));
    R(o, pwrite(fd, wbuf + 100, 100, off));
    R(o, pread(fd, rbuf, 100, off));
    R(o, pread(fd, rbuf + 100, 100, 500));
    keep(o, rbuf, 200);
    R(o, pwrite(fd, wbuf + 200, 50, 20));
    struct stat st;
    R(o, fstat(fd, &st));
    rec(o, st.st_size, 0);
    R(o, ftruncate(fd, 30000));
    close(fd);
}

static void c_pwrite_at_max(struct env *e, struct out *o)
{
    pwrite_far(e, o, NV_MAX);
}

static void c_pwrite_across_max(struct env *e, struct out *o)
{
    pwrite_far(e, o, NV_MAX - 10);
}

static void c_pwrite_2_62(struct env *e, struct out *o)
{
    pwrite_far(e, o, 1LL << 62);
}

static void c_pwrite_near_llmax(struct env *e, struct out *o)
{
    pwrite_far(e, o, LLONG_MAX - 200);
}

static void c_write_at_far_pos(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    R(o, lseek(fd, NV_MAX + 100, SEEK_SET));
    R(o, read(fd, rbuf, 10));
    R(o, write(fd, wbuf, 10));
    R(o, lseek(fd, 0, SEEK_CUR));
    R(o, lseek(fd, 0, SEEK_END));
    R(o, write(fd, wbuf, 10));
    R(o, lseek(fd, 10, SEEK_SET));
    R(o, write(fd, wbuf, 10));
    close(fd);
}

static void c_ftruncate_far(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    R(o, ftruncate(fd, -1));
    R(o, ftruncate(fd, LLONG_MIN));
    R(o, ftruncate(fd, NV_MAX + 1));
    R(o, lseek(fd, 0, SEEK_END));
    R(o, pwrite(fd, wbuf, 10, 30));
    R(o, ftruncate(fd, 5000));
    close(fd);
    R(o, truncate(e->f, -1));
    R(o, truncate(e->f, 1LL << 50));
    R(o, truncate(e->f, 7000));
    R(o, truncate(e->dir, 10));
}

static void c_ftruncate_llmax(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    R(o, ftruncate(fd, LLONG_MAX));
    R(o, ftruncate(fd, 3000));
    close(fd);
}

static void c_lseek(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    R(o, lseek(fd, -1, SEEK_SET));
    R(o, lseek(fd, LLONG_MAX, SEEK_SET));
    R(o, lseek(fd, 1, SEEK_CUR));
    R(o, lseek(fd, LLONG_MIN, SEEK_CUR));
    R(o, lseek(fd, 100, SEEK_SET));
    R(o, lseek(fd, -200, SEEK_CUR));
    R(o, lseek(fd, -20000, SEEK_END));
    R(o, lseek(fd, LLONG_MAX, SEEK_END));
    R(o, lseek(fd, 20000, SEEK_DATA));
    R(o, lseek(fd, FILE_LEN, SEEK_DATA));
    R(o, lseek(fd, FILE_LEN, SEEK_HOLE));
    R(o, lseek(fd, 20000, SEEK_HOLE));
    R(o, lseek(fd, -1, SEEK_DATA));
    R(o, lseek(fd, -1, SEEK_HOLE));
    R(o, lseek(fd, 0, SEEK_CUR));
    R(o, lseek(fd, 0, 5));
    R(o, lseek(fd, 0, -1));
    R(o, lseek(fd, 0, INT_MAX));
    R(o, lseek(fd, 0, SEEK_CUR));
    close(fd);
}

static void c_lseek_far(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    R(o, lseek(fd, NV_MAX + 10, SEEK_SET));
    R(o, lseek(fd, NV_MAX, SEEK_CUR));
    R(o, lseek(fd, LLONG_MAX, SEEK_CUR));
    R(o, lseek(fd, NV_MAX * 2, SEEK_DATA));
    R(o, lseek(fd, NV_MAX * 2, SEEK_HOLE));
    R(o, read(fd, rbuf, 10));
    close(fd);
}

/* ---- vectored IO --------------------------------------------------------- */

static void c_iov_counts(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    struct iovec iov[IOV_MAX + 1];
    for (int i = 0; i <= IOV_MAX; i++)
        iov[i] = (struct iovec){rbuf + i, 1};
    R(o, readv(fd, iov, 0));
    R(o, writev(fd, iov, 0));
    R(o, readv(fd, iov, -1));
    R(o, writev(fd, iov, -1));
    R(o, readv(fd, iov, IOV_MAX + 1));
    R(o, writev(fd, iov, IOV_MAX + 1));
    R(o, preadv(fd, iov, INT_MIN, 0));
    R(o, pwritev2(fd, iov, IOV_MAX + 1, 0, 0));
    R(o, readv(fd, iov, IOV_MAX)); /* the most allowed */
    R(o, lseek(fd, 0, SEEK_CUR));
    R(o, readv(fd, NULL, 0));
    R(o, readv(fd, NULL, 1));
    R(o, writev(fd, NULL, 2));
    R(o, preadv(fd, NULL, 1, 0));
    close(fd);
}

static void c_iov_buffers(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    struct iovec null0[2] = {{NULL, 10}, {rbuf, 10}};
    struct iovec null1[2] = {{rbuf, 10}, {NULL, 10}};
    struct iovec wnull0[2] = {{NULL, 10}, {wbuf, 10}};
    struct iovec wnull1[2] = {{wbuf, 10}, {NULL, 10}};
    struct iovec nulllen0[2] = {{NULL, 0}, {rbuf, 10}};
    R(o, readv(fd, null0, 2));
    R(o, readv(fd, null1, 2));
    R(o, writev(fd, wnull0, 2));
    R(o, writev(fd, wnull1, 2));
    R(o, readv(fd, nulllen0, 2));
    R(o, pwritev(fd, wnull1, 2, 15000));
    R(o, preadv(fd, null1, 2, 9995));
    R(o, preadv(fd, null0, 2, 20000));
    R(o, lseek(fd, 0, SEEK_CUR));
    keep(o, rbuf, 40);
    close(fd);
}

static void c_iov_lengths(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    struct iovec neg[2] = {{rbuf, 10}, {rbuf, (size_t)-1}};
    struct iovec big[2] = {{rbuf, (size_t)1 << 62}, {rbuf, (size_t)1 << 62}};
    struct iovec sum[3] = {{rbuf, SSIZE_MAX / 2 + 1}, {rbuf, SSIZE_MAX / 2 + 1}, {rbuf, 1}};
    struct iovec clamp[2] = {{rbuf, 100}, {rbuf + 100, (size_t)1 << 36}};
    R(o, readv(fd, neg, 2));
    R(o, writev(fd, neg, 2));
    R(o, readv(fd, big, 2));
    R(o, writev(fd, big, 2));
    R(o, readv(fd, sum, 3));
    R(o, pwritev(fd, sum, 3, 0));
    R(o, readv(fd, clamp, 2));
    R(o, lseek(fd, 0, SEEK_CUR));
    struct iovec far = {wbuf, 100};
    R(o, pwritev(fd, &far, 1, LLONG_MAX - 10));
    R(o, preadv(fd, &far, 1, LLONG_MAX - 10));
    R(o, preadv(fd, &far, 1, -1));
    R(o, pwritev(fd, &far, 1, -1));
    R(o, preadv2(fd, &far, 1, -2, 0));
    R(o, pwritev2(fd, &far, 1, -2, 0));
    keep(o, rbuf, 64);
    close(fd);
}

static void c_rwf_flags(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    struct iovec r = {rbuf, 100}, w = {wbuf, 100};
    int flags[] = {
        RWF_NOWAIT, RWF_HIPRI, 0x40 /* RWF_ATOMIC */,   0x80 /* RWF_DONTCACHE */, 0x100,
        0x1000,     -1,        RWF_APPEND | RWF_NOWAIT, RWF_APPEND | 0x20 /* RWF_NOAPPEND */};
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        R(o, preadv2(fd, &r, 1, 0, flags[i]));
        R(o, pwritev2(fd, &w, 1, 50, flags[i]));
    }
    struct iovec none = {rbuf, 0};
    R(o, preadv2(fd, &none, 1, 0, 0x1000));
    R(o, pwritev2(fd, &none, 1, 0, 0x1000));
    close(fd);
}

/* ---- size calls --------------------------------------------------------- */

static void c_fallocate_args(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    R(o, fallocate(fd, 0, -1, 100));
    R(o, fallocate(fd, 0, 0, 0));
    R(o, fallocate(fd, 0, 0, -1));
    R(o, fallocate(fd, 0, LLONG_MAX - 10, 100));
    R(o, fallocate(fd, 0, 1, LLONG_MAX));
    R(o, fallocate(fd, 0x100, 0, 100));
    R(o, fallocate(fd, -1, 0, 100));
    R(o, fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 100));
    R(o, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 0, 100));
    R(o, fallocate(fd, FALLOC_FL_ZERO_RANGE, 0, 100));
    R(o, fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, 4096));
    R(o, fallocate(fd, FALLOC_FL_INSERT_RANGE, 0, 4096));
    R(o, fallocate(fd, FALLOC_FL_UNSHARE_RANGE, 0, 4096));
    R(o, fallocate(fd, FALLOC_FL_NO_HIDE_STALE, 0, 4096));
    R(o, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, -5, 100));
    R(o, posix_fallocate(fd, -1, 10));
    R(o, posix_fallocate(fd, 0, 0));
    R(o, posix_fallocate(fd, 0, -1));
    R(o, posix_fallocate(fd, LLONG_MAX - 10, 100));
    close(fd);
}

static void c_fallocate_far(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    R(o, fallocate(fd, FALLOC_FL_KEEP_SIZE, NV_MAX, 4096));
    R(o, fallocate(fd, 0, NV_MAX - 4096, 8192));
    struct stat st;
    R(o, fstat(fd, &st));
    rec(o, st.st_size, 0);
    R(o, pwrite(fd, wbuf, 10, 0));
    R(o, ftruncate(fd, 9000));
    close(fd);
}

static void c_sync_range(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    R(o, sync_file_range(fd, -1, 10, 0));
    R(o, sync_file_range(fd, 0, -1, 0));
    R(o, sync_file_range(fd, LLONG_MAX - 5, 10, 0));
    R(o, sync_file_range(fd, 0, 10, 0x100));
    R(o, sync_file_range(fd, 0, 10, ~0u));
    R(o, sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE));
    R(o, sync_file_range(fd, LLONG_MAX, 0, 0));
    close(fd);
}

/* ---- copies --------------------------------------------------------------- */

static void c_copy_args(struct env *e, struct out *o)
{
    int f = open_f(e, O_RDWR), g = open(e->g, O_RDWR);
    loff_t a = 0, b = 0;
    R(o, copy_file_range(f, NULL, g, NULL, 100, 1));
    R(o, copy_file_range(f, NULL, g, NULL, 100, ~0u));
    a = -1;
    R(o, copy_file_range(f, &a, g, NULL, 100, 0));
    a = 0, b = -1;
    R(o, copy_file_range(f, &a, g, &b, 100, 0));
    a = LLONG_MAX - 10, b = 0;
    R(o, copy_file_range(f, &a, g, &b, 100, 0));
    a = 0, b = LLONG_MAX - 10;
    R(o, copy_file_range(f, &a, g, &b, 100, 0));
    a = 50000, b = 0;
    R(o, copy_file_range(f, &a, g, &b, 100, 0));
    a = 9990, b = 0;
    R(o, copy_file_range(f, &a, g, &b, SIZE_MAX, 0));
    R(o, a);
    R(o, b);
    a = 0, b = NV_MAX;
    R(o, copy_file_range(f, &a, g, &b, 100, 0));
    R(o, b);
    R(o, copy_file_range(f, NULL, g, NULL, 0, 0));
    close(f);
    close(g);
}

static void c_copy_same_file(struct env *e, struct out *o)
{
    int f = open_f(e, O_RDWR), f2 = open_f(e, O_RDWR);
    loff_t a, b;
    a = 0, b = 50;
    R(o, copy_file_range(f, &a, f, &b, 100, 0)); /* overlap */
    a = 100, b = 0;
    R(o, copy_file_range(f, &a, f2, &b, 200, 0)); /* overlap, two descriptions */
    a = 0, b = 100;
    R(o, copy_file_range(f, &a, f, &b, 100, 0)); /* adjacent */
    a = 9950, b = 9900;
    R(o, copy_file_range(f, &a, f, &b, 100, 0)); /* overlap only past the end */
    a = 9000, b = 9950;
    R(o, copy_file_range(f, &a, f, &b, 10, 0));
    R(o, copy_file_range(f, NULL, f, NULL, 10, 0));
    off_t s = 500;
    R(o, sendfile(f, f2, &s, 0));
    s = -1;
    R(o, sendfile(f2, f, &s, 10));
    s = LLONG_MAX - 5;
    R(o, sendfile(f2, f, &s, 10));
    close(f);
    close(f2);
}

static void c_copy_modes(struct env *e, struct out *o)
{
    int ro = open_f(e, O_RDONLY), wo = open(e->g, O_WRONLY), ap = open(e->g, O_WRONLY | O_APPEND);
    int rw = open(e->g, O_RDWR);
    R(o, copy_file_range(ro, NULL, ap, NULL, 10, 0));
    R(o, copy_file_range(wo, NULL, rw, NULL, 10, 0));
    R(o, copy_file_range(ro, NULL, ro, NULL, 10, 0));
    R(o, sendfile(ap, ro, NULL, 10));
    R(o, sendfile(ro, rw, NULL, 10));
    R(o, sendfile(rw, wo, NULL, 10));
    R(o, splice(ro, NULL, rw, NULL, 10, 0)); /* no pipe */
    int p[2];
    if (pipe2(p, O_NONBLOCK) == 0) {
        loff_t off = 0;
        R(o, splice(ro, NULL, p[1], &off, 10, 0)); /* an offset for a pipe */
        off = -1;
        R(o, splice(ro, &off, p[1], NULL, 10, 0));
        R(o, splice(ro, NULL, p[1], NULL, 10, ~0u));
        R(o, splice(wo, NULL, p[1], NULL, 10, 0));
        R(o, splice(ro, NULL, p[1], NULL, 10, 0));
        R(o, splice(p[0], NULL, ap, NULL, 10, 0));
        R(o, splice(p[0], NULL, ro, NULL, 10, 0));
        R(o, read(p[0], rbuf, 100));
        keep(o, rbuf, 20);
        close(p[0]);
        close(p[1]);
    }
    close(ro);
    close(wo);
    close(ap);
    close(rw);
}

/* Counts whose end passes the largest offset, from offset 5 (EINVAL). */
static void c_copy_far_counts(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDONLY), p[2];
    if (pipe2(p, O_NONBLOCK) == 0) {
        size_t counts[] = {SIZE_MAX, (size_t)1 << 63, INT64_MAX, INT64_MAX - 5};
        for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
            off_t s = 5;
            R(o, sendfile(p[1], fd, &s, counts[i]));
            R(o, s);
            loff_t off = 5;
            R(o, splice(fd, &off, p[1], NULL, counts[i], SPLICE_F_NONBLOCK));
            R(o, off);
            R(o, read(p[0], rbuf, 100));
        }
        close(p[0]);
        close(p[1]);
    }
    close(fd);
}

/* A pipe fills by its buffers, a page each, not by its bytes: a splice
 * into it waits for a free buffer (EAGAIN when non-blocking) however many
 * bytes are read out of a buffer still in use, and moves a page a buffer. */
static void c_splice_pipe_buffers(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDONLY), p[2];
    if (pipe(p) == 0) {
        R(o, fcntl(p[1], F_SETPIPE_SZ, 8192));
        R(o, splice(fd, NULL, p[1], NULL, FILE_LEN, 0));
        R(o, read(p[0], rbuf, 1000));
        R(o, splice(fd, NULL, p[1], NULL, FILE_LEN, SPLICE_F_NONBLOCK));
        fcntl(p[0], F_SETFL, O_NONBLOCK);
        R(o, read(p[0], rbuf, 8192));
        R(o, write(p[1], "0123456789", 10));
        R(o, lseek(fd, 0, SEEK_SET));
        R(o, splice(fd, NULL, p[1], NULL, FILE_LEN, 0));
        R(o, read(p[0], rbuf, 8192));
        keep(o, rbuf, 100);
        R(o, write(p[1], "0123456789", 10));
        R(o, sendfile(p[1], fd, NULL, FILE_LEN));
        R(o, read(p[0], rbuf, 8192));
        R(o, lseek(fd, 0, SEEK_CUR));
        close(p[0]);
        close(p[1]);
    }
    close(fd);
}

/* ---- open flags ---------------------------------------------------------- */

static void c_open_flags(struct env *e, struct out *o)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/new", e->dir);
    syscall(SYS_unlinkat, AT_FDCWD, path, 0);
    RFD(o, open(e->f, O_RDWR | O_DIRECT));
    RFD(o, open(path, O_RDWR | O_CREAT | O_DIRECT, 0644));
    RFD(o, open(e->f, O_RDWR | O_DIRECTORY));
    RFD(o, open(e->f, O_RDWR | O_CREAT | O_EXCL, 0644));
    RFD(o, open(e->dir, O_RDWR));
    RFD(o, open(e->dir, O_WRONLY | O_TRUNC));
    RFD(o, open(e->f, O_PATH | O_TRUNC | O_RDWR));
    RFD(o, open(e->f, 0x20000000 | O_RDWR));
    RFD(o, open(e->f, O_RDONLY | O_TRUNC | O_NONBLOCK));
    RFD(o, openat(-1, "f", O_RDONLY));
    RFD(o, openat(HUGE_FD, "f", O_RDONLY));
    RFD(o, open(NULL, O_RDONLY));
    RFD(o, open("", O_RDONLY));
    int fd = open(e->f, O_RDWR | O_WRONLY | O_TRUNC);
    rec(o, fd < 0 ? -1 : 0, errno);
    if (fd >= 0) {
        R(o, read(fd, rbuf, 10));
        R(o, write(fd, wbuf, 10));
        R(o, pwrite(fd, wbuf, 10, 0));
        R(o, ftruncate(fd, 10));
        R(o, fallocate(fd, 0, 0, 10));
        close(fd);
    }
}

static void c_o_path(struct env *e, struct out *o)
{
    int fd = open(e->f, O_PATH);
    R(o, read(fd, rbuf, 10));
    R(o, write(fd, wbuf, 10));
    R(o, lseek(fd, 0, SEEK_END));
    R(o, fsync(fd));
    struct stat st;
    R(o, fstat(fd, &st));
    rec(o, st.st_size, 0);
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    int rw = open(self, O_RDWR); /* reopening through an O_PATH descriptor */
    rec(o, rw < 0 ? -1 : 0, errno);
    R(o, pwrite(rw, wbuf, 10, 9995));
    R(o, pread(rw, rbuf, 30, 9990));
    keep(o, rbuf, 30);
    close(rw);
    close(fd);
}

static void c_o_tmpfile(struct env *e, struct out *o)
{
    int fd = open(e->dir, O_TMPFILE | O_RDWR, 0600);
    rec(o, fd < 0 ? -1 : 0, errno);
    R(o, pwrite(fd, wbuf, 5000, 100));
    R(o, pread(fd, rbuf, 200, 4950));
    keep(o, rbuf, 200);
    R(o, ftruncate(fd, 2000));
    struct stat st;
    R(o, fstat(fd, &st));
    rec(o, st.st_size, 0);
    char self[64], path[PATH_MAX];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
    snprintf(path, sizeof(path), "%s/linked", e->dir);
    syscall(SYS_unlinkat, AT_FDCWD, path, 0);
    R(o, linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW));
    R(o, write(fd, wbuf, 10));
    close(fd);
    static struct image im;
    read_image(path, true, &im);
    rec(o, im.size, im.err);
    keep(o, im.head, 100);
    syscall(SYS_unlinkat, AT_FDCWD, path, 0);
    RFD(o, open(e->dir, O_TMPFILE | O_RDONLY, 0600));
    RFD(o, open(e->f, O_TMPFILE | O_RDWR, 0600));
}

/* ---- names, metadata, descriptors, processes ------------------------------ */

static void c_names(struct env *e, struct out *o)
{
    char missing[PATH_MAX], sub[PATH_MAX];
    snprintf(missing, sizeof(missing), "%s/missing", e->dir);
    snprintf(sub, sizeof(sub), "%s/sub", e->dir);
    syscall(SYS_unlinkat, AT_FDCWD, sub, AT_REMOVEDIR);
    struct stat st;
    struct statx stx;
    R(o, stat("", &st));
    R(o, lstat(missing, &st));
    R(o, fstatat(-1, "f", &st, 0));
    R(o, fstatat(AT_FDCWD, e->f, &st, 0x40000000));
    R(o, statx(AT_FDCWD, e->f, 0x40000000, STATX_SIZE, &stx));
    R(o, statx(AT_FDCWD, e->f, 0, STATX__RESERVED, &stx));
    R(o, unlink(missing));
    R(o, unlink(e->dir));
    R(o, unlinkat(AT_FDCWD, e->f, 0x1000));
    R(o, mkdir(sub, 0755));
    R(o, rename(e->f, sub));
    R(o, rename(sub, e->f));
    R(o, rename(missing, e->g));
    R(o, renameat2(AT_FDCWD, e->f, AT_FDCWD, e->g, RENAME_NOREPLACE));
    R(o, renameat2(AT_FDCWD, e->f, AT_FDCWD, missing, 0x100));
    R(o, renameat2(AT_FDCWD, e->f, AT_FDCWD, missing, RENAME_EXCHANGE));
    R(o, renameat(-1, "f", AT_FDCWD, missing));
    R(o, truncate(missing, 10));
    R(o, rmdir(sub));
}

static void c_descriptors(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    R(o, dup2(fd, -1));
    R(o, dup2(fd, HUGE_FD * 4));
    R(o, dup3(fd, fd, 0));
    R(o, dup3(fd, SPARE_FD, 0x4));
    R(o, fcntl(fd, F_DUPFD, -1));
    R(o, fcntl(fd, 0x7777));
    R(o, fcntl(fd, F_SETFL, O_RDONLY | O_APPEND) >= 0);
    R(o, fcntl(fd, F_GETFL) & O_ACCMODE);
    R(o, write(fd, wbuf, 10)); /* F_SETFL cannot change the access mode */
    R(o, close_range(10, 5, 0));
    R(o, close_range(SPARE_FD, SPARE_FD + 5, 0x1000));
    R(o, close_range(SPARE_FD, SPARE_FD + 5, 0));
    R(o, write(fd, wbuf, 10));
    R(o, close(fd));
    R(o, close(fd));
}

/* Calls that hand every managed file to the kernel first (exec, spawn)
 * and then fail: the files must go on working. */
static void c_failed_exec(struct env *e, struct out *o)
{
    char missing[PATH_MAX];
    snprintf(missing, sizeof(missing), "%s/missing", e->dir);
    int fd = open_f(e, O_RDWR);
    R(o, pwrite(fd, wbuf, 100, 20));
    char *argv[] = {missing, NULL};
    R(o, execve(missing, argv, environ));
    R(o, execv(e->dir, argv));
    pid_t pid;
    R(o, -posix_spawn(&pid, missing, NULL, NULL, argv, environ));
    R(o, pwrite(fd, wbuf + 100, 100, 60));
    R(o, write(fd, wbuf, 10));
    R(o, pread(fd, rbuf, 200, 0));
    keep(o, rbuf, 200);
    R(o, close(fd));
}

/* ---- NULL where the C library declares a pointer nonnull ------------------ */

/* A NULL path is no side's, so under the library both sides would take
 * the same way: side B calls the C library's own functions instead, and
 * side A (the library, when preloaded) is compared with them. */
static void *libc_sym(const char *name)
{
    static void *libc;
    if (!libc)
        libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    void *fn = libc ? dlsym(libc, name) : NULL;
    if (!fn) {
        printf("cannot find the C library's %s\n", name);
        exit(2);
    }
    return fn;
}

#define SIDE(name) (e->side == B ? (__typeof__(&name))libc_sym(#name) : &name)

/* AddressSanitizer's own fopen and posix_spawn, which run before the
 * library's, read the name and vector first: those cases are left out of
 * its build. */
#ifdef __SANITIZE_ADDRESS__
#define ASAN_READS_NAMES 1
#else
#define ASAN_READS_NAMES 0
#endif

/* The kernel's answers: EFAULT for a NULL name or buffer, unless a flag or
 * length it checks first is bad; a NULL path with AT_EMPTY_PATH (and to
 * futimesat) is the descriptor itself, and a managed file's stat must show
 * what was written. */
static void c_null_stat(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    R(o, pwrite(fd, wbuf, 100, FILE_LEN)); /* a size only the library knows yet */
    struct stat st;
    struct stat64 st64;
    struct statx stx;
    R(o, SIDE(stat)(NULL, &st));
    R(o, SIDE(stat)(e->f, NULL));
    R(o, SIDE(stat64)(NULL, &st64));
    R(o, SIDE(lstat)(NULL, &st));
    R(o, SIDE(lstat)(e->f, NULL));
    R(o, SIDE(lstat64)(NULL, &st64));
    R(o, SIDE(fstat)(fd, NULL));
    R(o, SIDE(fstat)(-1, NULL));
    R(o, SIDE(fstat64)(fd, NULL));
    R(o, SIDE(fstatat)(AT_FDCWD, NULL, &st, 0));
    R(o, SIDE(fstatat)(fd, NULL, &st, 0x40000000));
    R(o, SIDE(fstatat)(AT_FDCWD, e->f, NULL, 0));
    R(o, SIDE(fstatat64)(AT_FDCWD, NULL, &st64, 0));
    st.st_size = -1;
    R(o, SIDE(fstatat)(fd, NULL, &st, AT_EMPTY_PATH));
    rec(o, st.st_size, 0);
    R(o, SIDE(statx)(AT_FDCWD, NULL, 0, STATX_SIZE, &stx));
    R(o, SIDE(statx)(AT_FDCWD, e->f, 0, STATX_SIZE, NULL));
    stx.stx_size = 0;
    R(o, SIDE(statx)(fd, NULL, AT_EMPTY_PATH, STATX_SIZE, &stx));
    rec(o, (long long)stx.stx_size, 0);
    close(fd);
}

static void c_null_names(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    R(o, pwrite(fd, wbuf, 100, 50));
    struct timeval bad[2] = {{0, 2000000}, {0, 0}};
    struct utimbuf ub = {0, 0};
    R(o, SIDE(utimensat)(AT_FDCWD, NULL, NULL, 0));
    R(o, SIDE(utimensat)(fd, NULL, NULL, 0));
    R(o, SIDE(utimes)(NULL, NULL));
    R(o, SIDE(utimes)(NULL, bad));
    R(o, SIDE(lutimes)(NULL, NULL));
    R(o, SIDE(lutimes)(NULL, bad));
    R(o, SIDE(futimesat)(AT_FDCWD, NULL, NULL));
    R(o, SIDE(futimesat)(fd, NULL, NULL));
    R(o, SIDE(utime)(NULL, NULL));
    R(o, SIDE(utime)(NULL, &ub));
    R(o, SIDE(utime)(e->f, NULL));
    R(o, SIDE(unlink)(NULL));
    R(o, SIDE(unlinkat)(AT_FDCWD, NULL, 0));
    R(o, SIDE(unlinkat)(AT_FDCWD, NULL, AT_REMOVEDIR));
    R(o, SIDE(unlinkat)(AT_FDCWD, NULL, 0x1000));
    R(o, SIDE(rename)(NULL, e->g));
    R(o, SIDE(rename)(e->f, NULL));
    R(o, SIDE(renameat)(AT_FDCWD, NULL, AT_FDCWD, e->g));
    R(o, SIDE(renameat2)(AT_FDCWD, e->f, AT_FDCWD, NULL, 0));
    R(o, SIDE(renameat2)(AT_FDCWD, NULL, AT_FDCWD, e->g, RENAME_NOREPLACE));
    R(o, SIDE(renameat2)(AT_FDCWD, e->f, AT_FDCWD, NULL, 0x100));
    R(o, SIDE(truncate)(NULL, 10));
    R(o, SIDE(truncate)(NULL, -1));
    R(o, SIDE(truncate64)(NULL, 10));
    R(o, pread(fd, rbuf, 200, 0));
    keep(o, rbuf, 200);
    close(fd);
}

static void c_null_open(struct env *e, struct out *o)
{
    RFD(o, SIDE(open)(NULL, O_RDWR | O_CREAT, 0644));
    RFD(o, SIDE(open)(NULL, O_RDWR | O_TRUNC));
    RFD(o, SIDE(open)(NULL, O_TMPFILE | O_RDONLY, 0600)); /* invalid flags come first */
    RFD(o, SIDE(open64)(NULL, O_RDONLY));
    RFD(o, SIDE(openat)(AT_FDCWD, NULL, O_RDWR));
    RFD(o, SIDE(openat)(-1, NULL, O_RDONLY));
    RFD(o, SIDE(openat64)(AT_FDCWD, NULL, O_WRONLY | O_CREAT, 0644));
    RFD(o, SIDE(creat)(NULL, 0644));
    RFD(o, SIDE(creat64)(NULL, 0644));
    RFD(o, SIDE(__open_2)(NULL, O_RDWR));
    RFD(o, SIDE(__openat_2)(AT_FDCWD, NULL, O_RDONLY));
#if !ASAN_READS_NAMES
    const char *modes[] = {"r", "r+", "w", "a+", "z"};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        errno = 0;
        FILE *fp = i % 2 ? SIDE(fopen64)(NULL, modes[i]) : SIDE(fopen)(NULL, modes[i]);
        rec(o, fp ? 0 : -1, errno);
        if (fp)
            fclose(fp);
    }
#endif
    (void)e;
}

/* A NULL new limit sets nothing; under a file size limit the files then
 * go on working. */
static void c_null_rlimit(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    R(o, SIDE(setrlimit)(RLIMIT_FSIZE, NULL));
    R(o, SIDE(setrlimit64)(RLIMIT_FSIZE, NULL));
    R(o, SIDE(setrlimit)(RLIMIT_NOFILE, NULL));
    R(o, SIDE(prlimit)(0, RLIMIT_FSIZE, NULL, NULL));
    struct rlimit now;
    R(o, getrlimit(RLIMIT_FSIZE, &now));
    rec(o, now.rlim_cur == old.rlim_cur && now.rlim_max == old.rlim_max, 0);
    R(o, pwrite(fd, wbuf, 100, FILE_LEN + 50));
    R(o, pread(fd, rbuf, 200, FILE_LEN - 50));
    keep(o, rbuf, 200);
    R(o, close(fd));
}

/* Exec and spawn that the kernel refuses for a NULL path; a NULL argument
 * vector is an empty one, and each of these fails on the file. */
static void c_null_exec(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    R(o, pwrite(fd, wbuf, 100, 20));
    char *argv[] = {"x", NULL};
    R(o, SIDE(execve)(NULL, argv, environ));
    R(o, SIDE(execve)(e->f, NULL, environ));
    R(o, SIDE(execv)(NULL, argv));
    R(o, SIDE(execv)(e->f, NULL));
    R(o, SIDE(execvp)(e->f, NULL));
    R(o, SIDE(execvpe)(e->f, NULL, environ));
    R(o, SIDE(execveat)(AT_FDCWD, NULL, argv, environ, 0));
    R(o, SIDE(execveat)(fd, NULL, argv, environ, AT_EMPTY_PATH));
    R(o, SIDE(execveat)(AT_FDCWD, e->f, NULL, environ, 0));
    R(o, SIDE(fexecve)(fd, NULL, environ));
    R(o, SIDE(execl)(NULL, "x", (char *)NULL));
    R(o, SIDE(execle)(NULL, "x", (char *)NULL, environ));
#if !ASAN_READS_NAMES
    pid_t pid;
    rec(o, SIDE(posix_spawn)(&pid, NULL, NULL, NULL, argv, environ), 0); /* errno unspecified */
#endif
    R(o, pwrite(fd, wbuf + 100, 100, 60));
    R(o, pread(fd, rbuf, 200, 0));
    keep(o, rbuf, 200);
    R(o, close(fd));
}

/* Calls where the C library itself faults on NULL (its path search, its
 * spawn counting a NULL vector, its temporary names): the library answers
 * as the kernel does. Each runs in a child; on the plain side a fault (or
 * a spawned child dying of one) passes too. */
static int null_fault_call(struct env *e, int which)
{
    char *argv[] = {"x", NULL}, missing[PATH_MAX];
    snprintf(missing, sizeof(missing), "%s/missing", e->dir);
    pid_t pid = 0;
    int r;
    errno = 0;
    switch (which) {
    case 0:
        return SIDE(execvp)(NULL, argv) == -1 && errno == EFAULT;
    case 1:
        return SIDE(execvpe)(NULL, argv, environ) == -1 && errno == EFAULT;
    case 2:
        return SIDE(execlp)(NULL, "x", (char *)NULL) == -1 && errno == EFAULT;
    case 3:
        return SIDE(mkstemp)(NULL) == -1 && errno == EFAULT;
    case 4:
        return SIDE(mkostemp)(NULL, O_CLOEXEC) == -1 && errno == EFAULT;
    case 5:
        return SIDE(mkstemps)(NULL, 2) == -1 && errno == EFAULT;
    case 6:
        return SIDE(mkostemps)(NULL, 2, 0) == -1 && errno == EFAULT;
    case 7:
        return SIDE(posix_spawn)(&pid, missing, NULL, NULL, NULL, environ) == ENOENT;
    case 8:
        return SIDE(posix_spawnp)(&pid, missing, NULL, NULL, NULL, environ) == ENOENT;
    default:
        r = SIDE(posix_spawnp)(&pid, NULL, NULL, NULL, argv, environ);
        if (r == 0) { /* the C library's: the spawned child faults */
            int status = 0;
            waitpid(pid, &status, 0);
            return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV ? 2 : 0;
        }
        return r == EFAULT;
    }
}

static void c_null_glibc_faults(struct env *e, struct out *o)
{
    bool preloaded = dlsym(RTLD_DEFAULT, "nvmmio_is_managed") != NULL;
    bool may_fault = e->side == B || !preloaded;
    for (int which = 0; which < (ASAN_READS_NAMES ? 7 : 10); which++) {
        pid_t pid = fork();
        if (pid == 0) {
            signal(SIGSEGV, SIG_DFL);
            _exit(4 + null_fault_call(e, which));
        }
        int status = 0;
        waitpid(pid, &status, 0);
        bool kernel = WIFEXITED(status) && WEXITSTATUS(status) == 5;
        bool faulted = (WIFEXITED(status) && WEXITSTATUS(status) == 6) ||
                       (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
        rec(o, kernel || (may_fault && faulted) ? 0 : -1, 0);
    }
}

/* ---- limits ---------------------------------------------------------------- */

/* Opens f until the descriptor limit. The library's own descriptors count
 * against the limit too (README, "Bad input"), so only the outcome is
 * compared, not how many opens fit. */
static void c_emfile(struct env *e, struct out *o)
{
    struct rlimit old, low;
    getrlimit(RLIMIT_NOFILE, &old);
    int fds[64], n = 0;
    fds[n++] = open_f(e, O_RDWR);
    R(o, pwrite(fds[0], wbuf, 100, 50));
    low = old;
    low.rlim_cur = 40;
    R(o, setrlimit(RLIMIT_NOFILE, &low));
    for (;;) {
        errno = 0;
        int fd = open(e->f, O_RDWR);
        if (fd < 0 || n == 63) {
            rec(o, fd < 0 ? -1 : 0, errno);
            if (fd >= 0)
                close(fd);
            break;
        }
        fds[n++] = fd;
    }
    rec(o, n > 1, 0);
    RFD(o, dup(fds[0]));
    R(o, pwrite(fds[n - 1], wbuf, 100, 500));
    R(o, pwrite(fds[0], wbuf, 100, 12000));
    R(o, close(fds[--n]));
    int g = open(e->g, O_RDWR); /* the last descriptor */
    rec(o, g < 0 ? -1 : 0, errno);
    R(o, pwrite(g, wbuf, 100, 700));
    R(o, pread(g, rbuf, 200, 650));
    keep(o, rbuf, 200);
    close(g);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    R(o, setrlimit(RLIMIT_NOFILE, &old));
}

static void c_efbig(struct env *e, struct out *o)
{
    struct rlimit old, low;
    getrlimit(RLIMIT_FSIZE, &old);
    int fd = open_f(e, O_RDWR);
    low = old;
    low.rlim_cur = 20000;
    R(o, setrlimit(RLIMIT_FSIZE, &low));
    R(o, pwrite(fd, wbuf, 100, 100));     /* an overwrite */
    R(o, pwrite(fd, wbuf, 1000, 12000));  /* an append within the limit */
    R(o, pwrite(fd, wbuf, 10000, 15000)); /* across the limit: short */
    R(o, pwrite(fd, wbuf, 10, 20000));    /* at the limit */
    R(o, pwrite(fd, wbuf, 10, 40000));
    R(o, ftruncate(fd, 30000));
    R(o, ftruncate(fd, 20000));
    R(o, fallocate(fd, 0, 0, 30000));
    R(o, lseek(fd, 19990, SEEK_SET));
    R(o, write(fd, wbuf, 100));
    R(o, write(fd, wbuf, 100));
    R(o, fsync(fd));
    R(o, setrlimit(RLIMIT_FSIZE, &old));
    close(fd);
}

/* Fills the file system of dir with a file of its own, made with raw
 * system calls: what is left is less than a page. */
static void fill_up(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/filler", dir);
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    long long at = 0;
    for (long long step = 1 << 20; step >= 4096; step /= 2)
        while (syscall(SYS_fallocate, fd, 0, at, step) == 0)
            at += step;
    syscall(SYS_close, fd);
}

static void c_enospc(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    R(o, pwrite(fd, wbuf, 100, 50)); /* before the file system is full */
    R(o, fsync(fd));
    fill_up(e->dir);
    R(o, pwrite(fd, wbuf, 100, 1000));   /* an overwrite needs no new blocks */
    R(o, pwrite(fd, wbuf, 8192, 40960)); /* new blocks: none left */
    R(o, ftruncate(fd, 1 << 20));        /* a hole needs no blocks */
    R(o, ftruncate(fd, FILE_LEN));
    R(o, fallocate(fd, 0, 0, 1 << 20));
    R(o, posix_fallocate(fd, 1 << 20, 8192));
    struct iovec iov[2] = {{wbuf, 4096}, {wbuf, 8192}};
    R(o, pwritev(fd, iov, 2, 81920));
    R(o, fsync(fd));
    R(o, close(fd));
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/newfile", e->dir);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    rec(o, fd < 0 ? -1 : 0, errno);
    R(o, write(fd, wbuf, 8192));
    R(o, close(fd));
    snprintf(path, sizeof(path), "%s/filler", e->dir);
    syscall(SYS_unlinkat, AT_FDCWD, path, 0);
}

/* A write larger than the room left: the kernel writes what fits, page by
 * page. The library writes what fits too, but its room is not the
 * kernel's: it reserves storage ahead of appends and keeps a log (README,
 * "Bad input"). So each side is checked on its own: ENOSPC or a short
 * count, and the file holds exactly what the call says it wrote. */
static void c_enospc_short(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDWR);
    R(o, pwrite(fd, wbuf, 100, 50));
    fill_up(e->dir);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/filler", e->dir);
    int filler = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDWR);
    syscall(SYS_fallocate, filler, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4 * 4096);
    syscall(SYS_close, filler);
    errno = 0;
    long r = pwrite(fd, wbuf, BUF_LEN, FILE_LEN);
    int err = errno;
    R(o, close(fd));
    long long wrote = r > 0 ? r : 0;
    struct stat st;
    int raw = (int)syscall(SYS_openat, AT_FDCWD, e->f, O_RDONLY);
    bool same = syscall(SYS_fstat, raw, &st) == 0 && st.st_size == FILE_LEN + wrote &&
                syscall(SYS_pread64, raw, rbuf, BUF_LEN, FILE_LEN) == wrote &&
                !memcmp(rbuf, wbuf, (size_t)wrote);
    syscall(SYS_close, raw);
    bool sane = (r == -1 && err == ENOSPC) || (r > 0 && r < BUF_LEN);
    rec(o, sane && same ? 0 : -1, 0);
    printf("    %s: %ld%s%s\n", side_name[e->side], r, r < 0 ? " " : "",
           r < 0 ? strerrorname_np(err) : "");
    syscall(SYS_unlinkat, AT_FDCWD, path, 0);
}

static void c_read_only_fs(struct env *e, struct out *o)
{
    int fd = open_f(e, O_RDONLY);
    rec(o, fd < 0 ? -1 : 0, errno);
    R(o, pread(fd, rbuf, 200, 9900));
    keep(o, rbuf, 200);
    R(o, write(fd, wbuf, 10));
    R(o, ftruncate(fd, 10));
    R(o, fallocate(fd, 0, 0, 10));
    R(o, fsync(fd));
    R(o, lseek(fd, 0, SEEK_END));
    errno = 0;
    void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    rec(o, p == MAP_FAILED ? -1 : 0, errno);
    if (p != MAP_FAILED) {
        keep(o, p, 16);
        munmap(p, 4096);
    }
    close(fd);
    RFD(o, open(e->f, O_RDWR));
    RFD(o, open(e->f, O_WRONLY | O_TRUNC));
    RFD(o, open(e->f, O_RDONLY | O_TRUNC));
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/new", e->dir);
    RFD(o, open(path, O_RDWR | O_CREAT, 0644));
    R(o, truncate(e->f, 10));
    errno = 0;
    FILE *fp = fopen(e->f, "r+");
    rec(o, fp ? 0 : -1, errno);
    if (fp)
        fclose(fp);
    fp = fopen(e->f, "r");
    rec(o, fp ? 0 : -1, errno);
    if (fp) {
        R(o, fread(rbuf, 1, 100, fp));
        keep(o, rbuf, 100);
        fclose(fp);
    }
}

/* ---- streams ------------------------------------------------------------- */

static void c_stdio(struct env *e, struct out *o)
{
    errno = 0;
    FILE *fp = fopen(e->f, "z");
    rec(o, fp ? 0 : -1, errno);
    if (fp)
        fclose(fp);
    fp = fopen(e->dir, "w");
    rec(o, fp ? 0 : -1, errno);
    if (fp)
        fclose(fp);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/missing", e->dir);
    fp = fopen(path, "r");
    rec(o, fp ? 0 : -1, errno);
    if (fp)
        fclose(fp);
    errno = 0;
    fp = fdopen(-1, "r");
    rec(o, fp ? 0 : -1, errno);
    int ro = open_f(e, O_RDONLY);
    errno = 0;
    fp = fdopen(ro, "w");
    rec(o, fp ? 0 : -1, errno);
    close(ro);

    fp = fopen(e->f, "r");
    errno = 0;
    R(o, fwrite(wbuf, 1, 10, fp));
    R(o, fflush(fp));
    R(o, ferror(fp));
    clearerr(fp);
    R(o, fseek(fp, -1, SEEK_SET));
    R(o, fseek(fp, 0, 9));
    R(o, fseeko(fp, LLONG_MAX, SEEK_CUR));
    R(o, ftello(fp));
    R(o, fseeko(fp, 20000, SEEK_SET));
    R(o, fread(rbuf, 1, 10, fp));
    R(o, feof(fp));
    R(o, fread(NULL, 1, 0, fp));
    R(o, fclose(fp));

    fp = fopen(e->g, "a");
    errno = 0;
    R(o, fread(rbuf, 1, 10, fp));
    R(o, ferror(fp));
    R(o, fseeko(fp, -5, SEEK_END));
    R(o, fwrite(wbuf, 1, 10, fp));
    R(o, fclose(fp));

    fp = fopen(e->g, "w+");
    R(o, fseeko(fp, NV_MAX + 100, SEEK_SET));
    R(o, fwrite(wbuf, 1, 10, fp));
    R(o, fflush(fp));
    R(o, ftello(fp));
    R(o, fseeko(fp, 0, SEEK_SET));
    R(o, fwrite(wbuf, 1, 10, fp));
    R(o, fclose(fp));
}

/* ---- bad buffers ---------------------------------------------------------- */

/* The file a fault handler looks at (kind 11). */
static const char *stat_path;

/* A program's handler of a fault that looks at the file and ends. Raised
 * inside the library's write, it must get an answer, not wait for the
 * file's lock that its own thread holds. */
static void stat_then_exit(int sig)
{
    (void)sig;
    struct stat st;
    _exit(stat(stat_path, &st) == 0 ? 7 : 6);
}

/* The exit status of a program whose call `which` has a bad buffer
 * (PROT_NONE, or a read-only page to read into), whole or from some byte
 * on: 4 for EFAULT, 10 + the count the call returned. The file must then
 * be what the kernel leaves: the bad call changed nothing, and what came
 * before it was durable. */
static void bad_buffer_child(struct env *e, int which)
{
    signal(SIGSEGV, SIG_DFL);
    char *none = mmap(NULL, 8192, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    /* a good page, then one that is not (no access; read only) */
    char *half = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *half_ro = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mprotect(half + 4096, 4096, PROT_NONE) || mprotect(half_ro + 4096, 4096, PROT_READ))
        _exit(3);
    int fd = open_f(e, O_RDWR);
    if (pwrite(fd, wbuf, 300, 100) != 300 || fsync(fd) != 0)
        _exit(3);
    off_t end = lseek(fd, 0, SEEK_END);
    struct iovec iov = {which == 6 ? ro : none, 100};
    struct iovec three[3] = {{rbuf, 10}, {half + 4090, 100}, {rbuf, 10}};
    long r = which == 0    ? pwrite(fd, none, 4000, 200)
             : which == 1  ? write(fd, none, 8192)
             : which == 2  ? pwrite(fd, none, 100, 9950) /* across the end */
             : which == 3  ? pwritev(fd, &iov, 1, 50)
             : which == 4  ? pread(fd, none, 100, 0)
             : which == 5  ? read(fd, ro, 100)
             : which == 6  ? preadv(fd, &iov, 1, 0)
             : which == 7  ? pread(fd, half + 4000, 200, 0)
             : which == 8  ? preadv(fd, three, 3, 0)
             : which == 9  ? pread(fd, half + 4090, 200, end - 50) /* 6 of 50 */
             : which == 10 ? pread(fd, half_ro + 4000, 200, 0)
                           : (signal(SIGSEGV, stat_then_exit), pwrite(fd, none, 100, 0));
    _exit(r < 0 ? (errno == EFAULT ? 4 : 5) : 10 + (int)(r > 200 ? 200 : r));
}

/* The writes (kinds 0 to 3, and 11 with the program's handler of the
 * fault) are EFAULT from the kernel and a fault in the library, whose copy
 * does not look at the buffer first (README, "Bad buffers and EFAULT");
 * the reads get the kernel's answer. */
static void c_bad_buffers(struct env *e, struct out *o)
{
    stat_path = e->f;
    for (int which = 0; which < 12; which++) {
        pid_t pid = fork();
        if (pid == 0)
            bad_buffer_child(e, which);
        int status = 0, waited = 0;
        /* A child that waits for itself is ended after 10 s. */
        while (waitpid(pid, &status, WNOHANG) == 0) {
            if (++waited == 1000)
                kill(pid, SIGKILL);
            usleep(10000);
        }
        int got = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        /* a write's fault (kinds 0 to 3, and 11 whose handler answered) */
        bool faulted = (which < 4 && got == -SIGSEGV) || (which == 11 && got == 7);
        rec(o, faulted ? 4 : got, 0);
    }
}

/* ---- main ------------------------------------------------------------------- */

struct named_case {
    const char *name;
    case_fn fn;
};

static const struct named_case singles[] = {
    {"null-buffers", c_null_buffers},
    {"huge-lengths", c_huge_lengths},
    {"pread-offsets", c_pread_offsets},
    {"pwrite-negative", c_pwrite_negative},
    {"pwrite-at-2^46", c_pwrite_at_max},
    {"pwrite-across-2^46", c_pwrite_across_max},
    {"pwrite-at-2^62", c_pwrite_2_62},
    {"pwrite-near-llong-max", c_pwrite_near_llmax},
    {"write-at-far-position", c_write_at_far_pos},
    {"ftruncate-far", c_ftruncate_far},
    {"ftruncate-llong-max", c_ftruncate_llmax},
    {"lseek", c_lseek},
    {"lseek-far", c_lseek_far},
    {"iov-counts", c_iov_counts},
    {"iov-buffers", c_iov_buffers},
    {"iov-lengths", c_iov_lengths},
    {"rwf-flags", c_rwf_flags},
    {"fallocate-args", c_fallocate_args},
    {"fallocate-far", c_fallocate_far},
    {"sync-file-range", c_sync_range},
    {"copy-args", c_copy_args},
    {"copy-same-file", c_copy_same_file},
    {"copy-modes", c_copy_modes},
    {"copy-far-counts", c_copy_far_counts},
    {"splice-pipe-buffers", c_splice_pipe_buffers},
    {"open-flags", c_open_flags},
    {"names", c_names},
    {"descriptors", c_descriptors},
    {"failed-exec", c_failed_exec},
    {"null-path-stat", c_null_stat},
    {"null-path-names", c_null_names},
    {"null-path-open", c_null_open},
    {"null-path-exec", c_null_exec},
    {"null-rlimit", c_null_rlimit},
    {"o-path", c_o_path},
    {"o-tmpfile", c_o_tmpfile},
    {"emfile", c_emfile},
    {"efbig-rlimit-fsize", c_efbig},
    {"stdio", c_stdio},
    {"bad-buffers", c_bad_buffers},
};

static void set_dirs(const char *a, const char *b)
{
    const char *d[2] = {a, b};
    for (int s = A; s <= B; s++) {
        envs[s].side = s;
        envs[s].dir = d[s];
        snprintf(envs[s].f, sizeof(envs[s].f), "%s/f", d[s]);
        snprintf(envs[s].g, sizeof(envs[s].g), "%s/g", d[s]);
    }
}

/* A case whose sides may differ as documented: each side checks itself. */
static void run_own_case(const char *name, case_fn fn)
{
    static struct out o[2];
    if (!chosen(name))
        return;
    bool ok = true;
    for (int s = A; s <= B; s++) {
        memset(&o[s], 0, sizeof(o[s]));
        ok &= setup(&envs[s]);
        fn(&envs[s], &o[s]);
        for (int i = 0; i < o[s].nres; i++)
            ok &= o[s].r[i].ret >= 0;
    }
    printf("%s %s (each side on its own)\n", ok ? "ok      " : "MISMATCH", name);
    cases++;
    mismatches += !ok;
}

/* A case on a read-only file system: its files are made beforehand. */
static void run_case_as_is(const char *name, case_fn fn)
{
    static struct out o[2];
    if (!chosen(name))
        return;
    for (int s = A; s <= B; s++) {
        memset(&o[s], 0, sizeof(o[s]));
        fn(&envs[s], &o[s]);
    }
    bool ok = same_out(&o[A], &o[B]) && same_image("f", envs[A].f, envs[B].f, true) &&
              same_image("f", envs[A].f, envs[B].f, false);
    report(name, o, ok);
    cases++;
    mismatches += !ok;
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 5 && argc != 7) {
        fprintf(stderr, "usage: %s MANAGED PLAIN [FULL_A FULL_B] [RO_A RO_B]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
    set_dirs(argv[1], argv[2]);
    run_matrix();
    for (size_t i = 0; i < sizeof(singles) / sizeof(singles[0]); i++)
        run_case(singles[i].name, singles[i].fn, -1);
    run_own_case("null-path-glibc-faults", c_null_glibc_faults);
    if (argc >= 5) {
        set_dirs(argv[3], argv[4]);
        run_case("enospc", c_enospc, -1);
        run_own_case("enospc-short-write", c_enospc_short);
    } else {
        printf("SKIP enospc: no small file systems given (see run_badinput.sh)\n");
    }
    if (argc == 7) {
        set_dirs(argv[5], argv[6]);
        run_case_as_is("read-only-fs", c_read_only_fs);
    } else {
        printf("SKIP read-only-fs: no read-only file systems given (see run_badinput.sh)\n");
    }
    printf("bad-input matrix: %d cases, %d mismatches\n", cases, mismatches);
    printf("%d passed, %d failed\n", cases - mismatches, mismatches);
    return mismatches ? 1 : 0;
}
