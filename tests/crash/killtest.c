/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * killtest.c - SIGKILL loop test for libnvmmio.
 *
 *   nvmmio_killtest --lib PATH|none --kills N --seed S [--sync] [--dir D]
 *
 * The parent (never preloaded) makes a fresh directory (mkdtemp under
 * /dev/shm, or under D with --dir) holding root/, the pmem root handed to
 * the library. Every iteration it starts a writer child (this program with
 * --child, LD_PRELOAD=lib, NVMMIO_PATH=root) that runs a long deterministic
 * sequence of writes, ftruncates and fsyncs on root/f, reporting "BEGIN k" /
 * "DONE k" around every durability point on a pipe, and kills it with
 * SIGKILL after a random delay. The parent replays the same sequence on an
 * in-memory model and computes the two states the file may legally show:
 * the one after the last completed durability point and the one after the
 * durability point that was in flight. A verifier process (--verify, under
 * the library) then opens root/f, reads it whole and sends it back; it must
 * equal one of the two, and the raw file read by the parent without the
 * library must equal the same state. That state starts the next iteration.
 * Sometimes a recovering process is killed first, to check that recovery
 * survives a crash of its own.
 *
 * Hidden debugging flags: --expect-plain (accept what a plain kernel file
 * shows after SIGKILL: every completed write, maybe a torn one; for
 * --lib none), --keep (keep the directory), --verbose (one line per
 * iteration), --all-ops (print every op on a violation), --no-recovery-kills.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <link.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILE       (8ull << 20)   /* the file never grows past this */
#define MAX_IO         (256ull << 10) /* longest single write */
#define SEQ_LEN        100000         /* ops per writer child */
#define VERIFY_CAP     (64ull << 20)  /* most bytes a verifier sends back */
#define START_TIMEOUT  60.0           /* seconds to wait for a child's first record */
#define VERIFY_TIMEOUT 120.0          /* seconds a verifier may take */
#define PIPE_SIZE      (1 << 20)
#define MAX_LISTED_OPS 400

/* ---------------------------------------------------------------------- */
/* Deterministic randomness                                                */

static uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static uint64_t rnd(uint64_t *s)
{
    *s += 0x9E3779B97F4A7C15ull;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t *s, uint64_t n)
{
    return n ? rnd(s) % n : 0;
}

/* Stream of one iteration: purpose 0 = the op sequence, 1 = the parent's choices. */
static uint64_t stream_seed(uint64_t seed, uint64_t iter, uint64_t purpose)
{
    return mix64(mix64(seed ^ 0x6E766D6D696F6B74ull) ^ mix64(iter * 4 + purpose));
}

/* The byte at file offset pos written by the op whose key is key. */
static void fill_data(uint8_t *dst, uint64_t key, uint64_t off, uint64_t len)
{
    uint64_t pos = off, end = off + len;
    while (pos < end) {
        uint64_t word = mix64(key ^ ((pos >> 3) * 0xD6E8FEB86659FD93ull));
        unsigned sh = (unsigned)(pos & 7);
        for (; sh < 8 && pos < end; sh++, pos++)
            *dst++ = (uint8_t)(word >> (8 * sh));
    }
}

/* ---------------------------------------------------------------------- */
/* The op sequence                                                          */

enum op_type {
    OP_PWRITE,    /* pwrite at off */
    OP_WRITE,     /* lseek(off, SEEK_SET) + write */
    OP_WRITE_CUR, /* write at the current file position (off) */
    OP_APPEND,    /* lseek(0, SEEK_END) (must return off) + write */
    OP_TRUNC,     /* ftruncate to off */
    OP_FSYNC,
    OP_FDATASYNC,
};

static const char *const op_names[] = {"pwrite",    "write", "write-cur", "append",
                                       "ftruncate", "fsync", "fdatasync"};

struct op {
    enum op_type type;
    uint64_t off; /* OP_TRUNC: the new size */
    uint64_t len;
    uint64_t key;
};

struct gen {
    uint64_t rng;
    uint64_t seed, iter;
    uint64_t k;    /* index of the next op */
    uint64_t size; /* file size the sequence believes in */
    uint64_t pos;  /* file position of the writer's descriptor */
    unsigned until_sync;
};

static void gen_init(struct gen *g, uint64_t seed, uint64_t iter, uint64_t size)
{
    g->rng = stream_seed(seed, iter, 0);
    g->seed = seed;
    g->iter = iter;
    g->k = 0;
    g->size = size;
    g->pos = 0;
    g->until_sync = 1 + (unsigned)rnd_below(&g->rng, 16);
}

static uint64_t gen_len(uint64_t *r)
{
    uint64_t c = rnd_below(r, 100);
    if (c < 30)
        return 1 + rnd_below(r, 64);
    if (c < 55)
        return 1 + rnd_below(r, 4096);
    if (c < 82)
        return 1 + rnd_below(r, 65536);
    return 1 + rnd_below(r, MAX_IO);
}

static bool is_durability_op(const struct op *op, bool sync_mode)
{
    return sync_mode || op->type == OP_FSYNC || op->type == OP_FDATASYNC;
}

static void gen_next(struct gen *g, struct op *op)
{
    uint64_t *r = &g->rng;
    uint64_t s = g->size;

    op->key = mix64(mix64(g->seed) ^ mix64(g->iter * 0x100000001B3ull) ^ g->k);
    op->off = 0;
    op->len = 0;
    g->k++;
    if (g->until_sync == 0) {
        op->type = rnd_below(r, 4) == 0 ? OP_FDATASYNC : OP_FSYNC;
        g->until_sync = 1 + (unsigned)rnd_below(r, 16);
        return;
    }
    g->until_sync--;

    uint64_t c = rnd_below(r, 100);
    if (c < 80) {
        uint64_t len = gen_len(r), off;
        bool aligned = rnd_below(r, 100) < 15;
        enum op_type t;
        if (c < 36) {
            t = OP_PWRITE;
            off = rnd_below(r, s);
        } else if (c < 50) {
            t = OP_WRITE;
            off = rnd_below(r, s);
        } else if (c < 58) {
            t = OP_WRITE_CUR;
            off = g->pos;
        } else if (c < 70) {
            t = OP_APPEND;
            off = s;
        } else if (c < 74) {
            t = OP_PWRITE; /* append with pwrite */
            off = s;
        } else {
            t = rnd_below(r, 2) ? OP_PWRITE : OP_WRITE; /* a hole past EOF */
            off = s + 1 + rnd_below(r, 128 << 10);
        }
        if (aligned) {
            len = (len + 4095) & ~4095ull;
            if (len > MAX_IO)
                len = MAX_IO;
            if (t == OP_PWRITE || t == OP_WRITE)
                off &= ~4095ull;
        }
        if (off + len > MAX_FILE) {
            t = OP_PWRITE;
            off = MAX_FILE - len;
        }
        op->type = t;
        op->off = off;
        op->len = len;
        if (off + len > g->size)
            g->size = off + len;
        if (t != OP_PWRITE)
            g->pos = off + len;
    } else {
        uint64_t ns;
        if (c < 86)
            ns = rnd_below(r, s); /* anywhere below */
        else if (c < 90)
            ns = s - rnd_below(r, (s < 65536 ? s : 65536) + 1); /* a little below */
        else if (c < 97)
            ns = s + 1 + rnd_below(r, 512 << 10); /* grow */
        else
            ns = s + 1 + rnd_below(r, 100); /* grow a little */
        if (rnd_below(r, 100) < 20)
            ns &= ~4095ull;
        if (ns > MAX_FILE)
            ns = MAX_FILE;
        op->type = OP_TRUNC;
        op->off = ns;
        g->size = ns;
    }
}

static void format_op(char *buf, size_t n, uint64_t k, const struct op *op)
{
    switch (op->type) {
    case OP_TRUNC:
        snprintf(buf, n, "#%" PRIu64 " %s size=%" PRIu64, k, op_names[op->type], op->off);
        break;
    case OP_FSYNC:
    case OP_FDATASYNC:
        snprintf(buf, n, "#%" PRIu64 " %s", k, op_names[op->type]);
        break;
    default:
        snprintf(buf, n, "#%" PRIu64 " %s off=%" PRIu64 " len=%" PRIu64 " (end %" PRIu64 ")", k,
                 op_names[op->type], op->off, op->len, op->off + op->len);
        break;
    }
}

/* ---------------------------------------------------------------------- */
/* Progress records (writer child -> parent)                               */

enum rec_type {
    REC_START = 1, /* aux = size fstat showed after open */
    REC_BEGIN = 2,
    REC_DONE = 3,
    REC_ERR = 4,  /* aux = errno | code << 32 */
    REC_OPEN = 5, /* recovery victim: about to open */
};

struct rec {
    uint32_t type;
    uint32_t k;
    uint64_t aux;
};

static int g_rec_fd = -1;

static void send_rec(uint32_t type, uint64_t k, uint64_t aux)
{
    struct rec r = {.type = type, .k = (uint32_t)k, .aux = aux};
    ssize_t n;
    do {
        n = write(g_rec_fd, &r, sizeof(r));
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(r))
        _exit(7);
}

/* ---------------------------------------------------------------------- */
/* Writer child                                                             */

enum child_err {
    CERR_OPEN = 1,
    CERR_IO,
    CERR_SHORT,
    CERR_SEEK,
    CERR_SIZE,
};

static const char *const cerr_names[] = {"?",
                                         "open failed",
                                         "I/O call failed",
                                         "short write",
                                         "lseek returned an unexpected offset",
                                         "fstat size differs from the model after fsync"};

static void __attribute__((noreturn))
child_fail(enum child_err code, uint64_t k, const char *what, int err, uint64_t a, uint64_t b)
{
    fprintf(stderr, "killtest child: op #%" PRIu64 ": %s: %s (%s; %" PRIu64 " vs %" PRIu64 ")\n", k,
            cerr_names[code], what, strerror(err), a, b);
    send_rec(REC_ERR, k, (uint64_t)(uint32_t)err | (uint64_t)code << 32);
    _exit(3);
}

static void write_all(int fd, const struct op *op, uint64_t k, const uint8_t *buf, const char *what)
{
    ssize_t n;
    if (op->type == OP_PWRITE)
        n = pwrite(fd, buf, op->len, (off_t)op->off);
    else
        n = write(fd, buf, op->len);
    if (n < 0)
        child_fail(CERR_IO, k, what, errno, 0, 0);
    if ((uint64_t)n != op->len)
        child_fail(CERR_SHORT, k, what, 0, (uint64_t)n, op->len);
}

static int child_main(const char *path, uint64_t seed, uint64_t iter, uint64_t start_size,
                      bool sync_mode)
{
    uint8_t *buf = malloc(MAX_IO);
    if (!buf)
        _exit(4);
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0)
        child_fail(CERR_OPEN, 0, path, errno, 0, 0);
    struct stat st;
    if (fstat(fd, &st) != 0)
        child_fail(CERR_IO, 0, "fstat", errno, 0, 0);
    send_rec(REC_START, 0, (uint64_t)st.st_size);

    struct gen g;
    gen_init(&g, seed, iter, start_size);
    for (uint64_t k = 0; k < SEQ_LEN; k++) {
        struct op op;
        gen_next(&g, &op);
        bool dp = is_durability_op(&op, sync_mode);
        if (op.len)
            fill_data(buf, op.key, op.off, op.len);
        if (dp)
            send_rec(REC_BEGIN, k, 0);
        off_t r;
        switch (op.type) {
        case OP_PWRITE:
            write_all(fd, &op, k, buf, "pwrite");
            break;
        case OP_WRITE:
            r = lseek(fd, (off_t)op.off, SEEK_SET);
            if (r != (off_t)op.off)
                child_fail(CERR_SEEK, k, "lseek SEEK_SET", errno, (uint64_t)r, op.off);
            write_all(fd, &op, k, buf, "write");
            break;
        case OP_WRITE_CUR:
            r = lseek(fd, 0, SEEK_CUR);
            if (r != (off_t)op.off)
                child_fail(CERR_SEEK, k, "lseek SEEK_CUR", errno, (uint64_t)r, op.off);
            write_all(fd, &op, k, buf, "write");
            break;
        case OP_APPEND:
            r = lseek(fd, 0, SEEK_END);
            if (r != (off_t)op.off)
                child_fail(CERR_SEEK, k, "lseek SEEK_END", errno, (uint64_t)r, op.off);
            write_all(fd, &op, k, buf, "write");
            break;
        case OP_TRUNC:
            if (ftruncate(fd, (off_t)op.off) != 0)
                child_fail(CERR_IO, k, "ftruncate", errno, 0, 0);
            break;
        case OP_FSYNC:
            if (fsync(fd) != 0)
                child_fail(CERR_IO, k, "fsync", errno, 0, 0);
            break;
        case OP_FDATASYNC:
            if (fdatasync(fd) != 0)
                child_fail(CERR_IO, k, "fdatasync", errno, 0, 0);
            break;
        }
        if (dp)
            send_rec(REC_DONE, k, 0);
        if (op.type == OP_FSYNC || op.type == OP_FDATASYNC) {
            if (fstat(fd, &st) != 0)
                child_fail(CERR_IO, k, "fstat", errno, 0, 0);
            if ((uint64_t)st.st_size != g.size)
                child_fail(CERR_SIZE, k, "fstat", 0, (uint64_t)st.st_size, g.size);
        }
    }
    for (;;)
        pause();
}

/* ---------------------------------------------------------------------- */
/* Verifier and recovery victim                                            */

struct vhdr {
    int32_t status; /* 0 ok, 1 missing, 2 error */
    int32_t err;
    uint64_t st_size;
    uint64_t nread;
    uint32_t truncated;
    uint32_t step; /* 0 open, 1 fstat, 2 read */
};

static int write_full(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int verify_main(const char *path, int out)
{
    struct vhdr h = {0};
    uint8_t *data = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        h.status = errno == ENOENT ? 1 : 2;
        h.err = errno;
        h.step = 0;
    } else {
        struct stat st;
        if (fstat(fd, &st) != 0) {
            h.status = 2;
            h.err = errno;
            h.step = 1;
        } else {
            h.st_size = (uint64_t)st.st_size;
            size_t cap = VERIFY_CAP;
            data = malloc(cap);
            if (!data)
                return 4;
            size_t got = 0;
            for (;;) {
                size_t want = cap - got < (1u << 20) ? cap - got : (1u << 20);
                if (want == 0) {
                    h.truncated = 1;
                    break;
                }
                ssize_t n = read(fd, data + got, want);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0) {
                    h.status = 2;
                    h.err = errno;
                    h.step = 2;
                    break;
                }
                if (n == 0)
                    break;
                got += (size_t)n;
            }
            h.nread = got;
        }
        if (close(fd) != 0 && h.status == 0) {
            h.status = 2;
            h.err = errno;
            h.step = 3;
        }
    }
    if (write_full(out, &h, sizeof(h)) != 0 || (h.nread && write_full(out, data, h.nread) != 0))
        return 5;
    free(data);
    close(out);
    return 0;
}

/* Opens the file for writing (recovering it), reads some of it, closes it;
 * the parent kills it at a random moment after the REC_OPEN record. */
static int victim_main(const char *path)
{
    static uint8_t buf[1 << 16];
    send_rec(REC_OPEN, 0, 0);
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return errno == ENOENT ? 0 : 6;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    close(fd);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Parent: small helpers                                                   */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    g_stop = sig;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n, sz);
    if (!p) {
        perror("calloc");
        exit(2);
    }
    return p;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D)
        rmdir(p);
    else
        unlink(p);
    return 0;
}

static void remove_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

struct runtime_lib_search {
    char path[PATH_MAX];
};

static int find_asan_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct runtime_lib_search *s = data;
    const char *name = info->dlpi_name;
    if (name && (strstr(name, "/libasan.so") || strstr(name, "libclang_rt.asan"))) {
        snprintf(s->path, sizeof(s->path), "%s", name);
        return 1;
    }
    return 0;
}

/* The ASan runtime the preloaded library (or this program) needs first in
 * LD_PRELOAD; "" when none. */
static void find_asan_runtime(const char *lib, char *out, size_t n)
{
    out[0] = 0;
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "ldd '%s' 2>/dev/null", lib);
    FILE *p = popen(cmd, "r");
    if (p) {
        char line[PATH_MAX + 128];
        while (fgets(line, sizeof(line), p)) {
            if (!strstr(line, "libasan.so") && !strstr(line, "libclang_rt.asan"))
                continue;
            char *arrow = strstr(line, "=> ");
            if (!arrow)
                continue;
            char *start = arrow + 3, *end = start;
            while (*end && *end != ' ' && *end != '\n')
                end++;
            if (end > start && out[0] == 0 && *start == '/')
                snprintf(out, n, "%.*s", (int)(end - start), start);
        }
        pclose(p);
    }
    if (out[0] == 0) {
        struct runtime_lib_search s = {{0}};
        if (dl_iterate_phdr(find_asan_cb, &s))
            snprintf(out, n, "%s", s.path);
    }
}

/* ---------------------------------------------------------------------- */
/* Parent: configuration and spawning                                      */

struct config {
    const char *lib; /* NULL for none */
    uint64_t kills;
    uint64_t seed;
    bool sync_mode;
    const char *base_dir;
    bool expect_plain;
    bool keep;
    bool verbose;
    bool all_ops;
    bool recovery_kills;
};

static struct config cfg = {.recovery_kills = true};
static char g_self[PATH_MAX];
static char g_workdir[PATH_MAX];
static char g_root[PATH_MAX];
static char g_file[PATH_MAX];
static char **g_env;
static char **g_env_victim; /* g_env without leak checking at exit */

static void build_env(void)
{
    extern char **environ;
    size_t n = 0;
    while (environ[n])
        n++;
    g_env = xcalloc(n + 4, sizeof(char *));
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strncmp(environ[i], "LD_PRELOAD=", 11) || !strncmp(environ[i], "NVMMIO_PATH=", 12) ||
            !strncmp(environ[i], "NVMMIO_SYNC=", 12))
            continue;
        g_env[j++] = environ[i];
    }
    if (cfg.lib) {
        char asan[PATH_MAX];
        find_asan_runtime(cfg.lib, asan, sizeof(asan));
        size_t len = strlen(asan) + strlen(cfg.lib) + 16;
        char *pre = xcalloc(len, 1);
        if (asan[0])
            snprintf(pre, len, "LD_PRELOAD=%s:%s", asan, cfg.lib);
        else
            snprintf(pre, len, "LD_PRELOAD=%s", cfg.lib);
        g_env[j++] = pre;
    }
    size_t len = strlen(g_root) + 16;
    char *np = xcalloc(len, 1);
    snprintf(np, len, "NVMMIO_PATH=%s", g_root);
    g_env[j++] = np;
    if (cfg.sync_mode)
        g_env[j++] = "NVMMIO_SYNC=1";
    g_env[j] = NULL;

    /* The recovery victim may be killed while LeakSanitizer inspects its
     * threads at exit, which makes LSan print noise; it has no leak check. */
    g_env_victim = xcalloc(j + 2, sizeof(char *));
    const char *asan_opts = getenv("ASAN_OPTIONS");
    size_t olen = (asan_opts ? strlen(asan_opts) : 0) + 32;
    char *opts = xcalloc(olen, 1);
    snprintf(opts, olen, "ASAN_OPTIONS=%s%sdetect_leaks=0", asan_opts ? asan_opts : "",
             asan_opts && *asan_opts ? ":" : "");
    size_t m = 0;
    for (size_t i = 0; i < j; i++)
        if (strncmp(g_env[i], "ASAN_OPTIONS=", 13))
            g_env_victim[m++] = g_env[i];
    g_env_victim[m++] = opts;
    g_env_victim[m] = NULL;
}

/* fork+exec this program with args; fd_keep stays open (without CLOEXEC). */
static pid_t spawn(char *const args[], char *const env[], int fd_keep)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(9);
        if (fd_keep >= 0) {
            int fl = fcntl(fd_keep, F_GETFD);
            fcntl(fd_keep, F_SETFD, fl & ~FD_CLOEXEC);
        }
        signal(SIGPIPE, SIG_DFL);
        execve(g_self, args, env);
        _exit(127);
    }
    return pid;
}

static void describe_status(char *buf, size_t n, int status)
{
    if (WIFEXITED(status))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, n, "status 0x%x", status);
}

static int reap(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            perror("waitpid");
            return -1;
        }
    }
    return status;
}

/* ---------------------------------------------------------------------- */
/* Parent: record reader                                                   */

struct progress {
    bool started;
    uint64_t start_size;
    int64_t last_done;  /* op index of the last DONE, -1 if none */
    int64_t open_begin; /* op index of a BEGIN without DONE, -1 if none */
    uint64_t nbegin;
    bool opened; /* victim's REC_OPEN seen */
    bool err;
    uint32_t err_k;
    uint64_t err_aux;
    bool proto_err;
    char proto_msg[160];
    uint8_t carry[sizeof(struct rec)];
    size_t ncarry;
};

static void progress_init(struct progress *p)
{
    memset(p, 0, sizeof(*p));
    p->last_done = -1;
    p->open_begin = -1;
}

static void progress_rec(struct progress *p, const struct rec *r)
{
    switch (r->type) {
    case REC_START:
        p->started = true;
        p->start_size = r->aux;
        break;
    case REC_BEGIN:
        if (p->open_begin >= 0 || (int64_t)r->k <= p->last_done) {
            p->proto_err = true;
            snprintf(p->proto_msg, sizeof(p->proto_msg),
                     "BEGIN %u after BEGIN %" PRId64 " / DONE %" PRId64, r->k, p->open_begin,
                     p->last_done);
        }
        p->open_begin = r->k;
        p->nbegin++;
        break;
    case REC_DONE:
        if (p->open_begin != (int64_t)r->k) {
            p->proto_err = true;
            snprintf(p->proto_msg, sizeof(p->proto_msg), "DONE %u while BEGIN %" PRId64, r->k,
                     p->open_begin);
        }
        p->last_done = r->k;
        p->open_begin = -1;
        break;
    case REC_ERR:
        p->err = true;
        p->err_k = r->k;
        p->err_aux = r->aux;
        break;
    case REC_OPEN:
        p->opened = true;
        break;
    default:
        p->proto_err = true;
        snprintf(p->proto_msg, sizeof(p->proto_msg), "unknown record type %u", r->type);
        break;
    }
}

/* Reads what is available on the non-blocking fd. Returns 1 at EOF, 0 otherwise. */
static int progress_drain(int fd, struct progress *p)
{
    uint8_t buf[1 << 14];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return 0; /* EAGAIN */
        }
        if (n == 0)
            return 1;
        size_t i = 0;
        while (i < (size_t)n) {
            size_t take = sizeof(struct rec) - p->ncarry;
            if (take > (size_t)n - i)
                take = (size_t)n - i;
            memcpy(p->carry + p->ncarry, buf + i, take);
            p->ncarry += take;
            i += take;
            if (p->ncarry == sizeof(struct rec)) {
                struct rec r;
                memcpy(&r, p->carry, sizeof(r));
                progress_rec(p, &r);
                p->ncarry = 0;
            }
        }
    }
}

/* Waits for records until deadline (absolute, now_s) or until stop(p) holds.
 * Returns 1 if the pipe reached EOF, 0 otherwise. */
static int progress_wait(int fd, struct progress *p, double deadline,
                         bool (*stop)(struct progress *))
{
    for (;;) {
        if (progress_drain(fd, p))
            return 1;
        if ((stop && stop(p)) || g_stop)
            return 0;
        double left = deadline - now_s();
        if (left <= 0)
            return 0;
        struct timespec ts = {.tv_sec = (time_t)left,
                              .tv_nsec = (long)((left - (double)(time_t)left) * 1e9)};
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ppoll(&pfd, 1, &ts, NULL);
    }
}

static bool stop_started(struct progress *p)
{
    return p->started || p->err;
}

static bool stop_first_begin(struct progress *p)
{
    return p->nbegin > 0 || p->err;
}

static bool stop_opened(struct progress *p)
{
    return p->opened;
}

static int make_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) != 0) {
        perror("pipe2");
        return -1;
    }
    fcntl(fds[0], F_SETPIPE_SZ, PIPE_SIZE);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Parent: model                                                            */

struct state {
    uint8_t *buf; /* MAX_FILE bytes; zero beyond size */
    uint64_t size;
    bool exists;
    int64_t at; /* op index after which this state holds; -1 = iteration start */
};

static void state_alloc(struct state *s)
{
    s->buf = xcalloc(MAX_FILE, 1);
    s->size = 0;
    s->exists = false;
    s->at = -1;
}

static void state_copy(struct state *d, const struct state *s)
{
    uint64_t n = d->size > s->size ? d->size : s->size;
    memcpy(d->buf, s->buf, n);
    d->size = s->size;
    d->exists = s->exists;
    d->at = s->at;
}

static void state_apply(struct state *s, const struct op *op, int64_t k)
{
    s->exists = true;
    s->at = k;
    switch (op->type) {
    case OP_TRUNC:
        if (op->off < s->size)
            memset(s->buf + op->off, 0, s->size - op->off);
        s->size = op->off;
        break;
    case OP_FSYNC:
    case OP_FDATASYNC:
        break;
    default:
        fill_data(s->buf + op->off, op->key, op->off, op->len);
        if (op->off + op->len > s->size)
            s->size = op->off + op->len;
        break;
    }
}

struct observed {
    bool exists;
    uint64_t size; /* bytes actually read */
    uint64_t st_size;
    const uint8_t *buf;
};

/* Returns true when obs shows state s; *diff gets the first differing offset. */
static bool state_matches(const struct state *s, const struct observed *o, uint64_t *diff)
{
    *diff = 0;
    if (!o->exists)
        return !s->exists;
    if (o->st_size != o->size)
        return false;
    if (!s->exists)
        return o->size == 0;
    uint64_t n = s->size < o->size ? s->size : o->size;
    for (uint64_t i = 0; i < n; i += 4096) {
        uint64_t c = n - i < 4096 ? n - i : 4096;
        if (memcmp(s->buf + i, o->buf + i, c) != 0) {
            for (uint64_t j = i; j < i + c; j++) {
                if (s->buf[j] != o->buf[j]) {
                    *diff = j;
                    return false;
                }
            }
        }
    }
    *diff = n;
    return s->size == o->size;
}

/* --expect-plain: obs equals state s with the write op torn after some bytes. */
static bool torn_matches(const struct state *s, const struct op *op, const struct observed *o,
                         uint8_t *tmp)
{
    if (!o->exists || o->st_size != o->size || op->len == 0)
        return false;
    fill_data(tmp, op->key, op->off, op->len);
    uint64_t m = 0;
    while (m < op->len && op->off + m < o->size && o->buf[op->off + m] == tmp[m])
        m++;
    if (o->size > s->size) {
        if (o->size < op->off || o->size - op->off > m)
            return false;
        m = o->size - op->off;
    } else if (o->size != s->size) {
        return false;
    }
    if (memcmp(o->buf, s->buf, op->off < o->size ? op->off : o->size) != 0)
        return false;
    uint64_t e = op->off + m;
    if (e < o->size && memcmp(o->buf + e, s->buf + e, o->size - e) != 0)
        return false;
    return true;
}

/* ---------------------------------------------------------------------- */
/* Parent: one iteration                                                   */

enum kill_mode { KILL_SPAWN, KILL_FIRST_BEGIN, KILL_50MS, KILL_DELAY };
static const char *const kill_mode_names[] = {"0-5 ms after spawn", "right after the first BEGIN",
                                              "50 ms after start", "delay after start"};

struct stats {
    uint64_t kills, verified, inflight_seen, inflight_possible, ops_replayed;
    uint64_t recovery_kills;
};

static struct state st_start, st_done, st_infl, st_work;
static uint8_t *g_tmp;
static uint8_t *g_raw;

struct verify_result {
    bool ok; /* process worked */
    struct vhdr h;
    uint8_t *data;
    size_t cap;
    char msg[256];
};

static bool run_verifier(struct verify_result *v)
{
    int fds[2];
    v->ok = false;
    v->msg[0] = 0;
    if (make_pipe(fds) != 0)
        return false;
    char fdarg[16];
    snprintf(fdarg, sizeof(fdarg), "%d", fds[1]);
    char *args[] = {g_self, "--verify", "--file", g_file, "--out", fdarg, NULL};
    pid_t pid = spawn(args, g_env, fds[1]);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return false;
    }
    double deadline = now_s() + VERIFY_TIMEOUT;
    size_t got = 0, want = sizeof(struct vhdr);
    bool timed_out = false;
    for (;;) {
        if (got >= sizeof(struct vhdr)) {
            memcpy(&v->h, v->data, sizeof(struct vhdr));
            if (v->h.nread > VERIFY_CAP)
                v->h.nread = VERIFY_CAP;
            want = sizeof(struct vhdr) + v->h.nread;
        }
        if (got == want)
            break;
        double left = deadline - now_s();
        if (left <= 0 || g_stop) {
            timed_out = true;
            break;
        }
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (pr <= 0)
            continue;
        ssize_t n = read(fds[0], v->data + got, want - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fds[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int status = reap(pid);
    char sd[96];
    describe_status(sd, sizeof(sd), status);
    if (g_stop) {
        snprintf(v->msg, sizeof(v->msg), "stopped by a signal");
        return false;
    }
    if (timed_out) {
        snprintf(v->msg, sizeof(v->msg), "verifier hung for %.0f s (killed)", VERIFY_TIMEOUT);
        return false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(v->msg, sizeof(v->msg), "verifier %s", sd);
        return false;
    }
    if (got < sizeof(struct vhdr) || got != want) {
        snprintf(v->msg, sizeof(v->msg), "verifier sent %zu of %zu bytes", got, want);
        return false;
    }
    if (v->h.status == 2) {
        static const char *const steps[] = {"open", "fstat", "read", "close"};
        snprintf(v->msg, sizeof(v->msg), "verifier: %s(%.150s) failed: %s",
                 steps[v->h.step < 4 ? v->h.step : 0], g_file, strerror(v->h.err));
        return false;
    }
    v->ok = true;
    return true;
}

/* Reads the raw file without the library. */
static bool read_raw(struct observed *o, char *msg, size_t msgn)
{
    memset(o, 0, sizeof(*o));
    o->buf = g_raw;
    int fd = open(g_file, O_RDONLY);
    if (fd < 0) {
        if (errno == ENOENT)
            return true;
        snprintf(msg, msgn, "open(%.200s) without the library: %s", g_file, strerror(errno));
        return false;
    }
    o->exists = true;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(msg, msgn, "fstat: %s", strerror(errno));
        close(fd);
        return false;
    }
    o->st_size = (uint64_t)st.st_size;
    uint64_t got = 0;
    for (;;) {
        if (got == VERIFY_CAP)
            break;
        ssize_t n =
            read(fd, g_raw + got, VERIFY_CAP - got < (1 << 20) ? VERIFY_CAP - got : 1 << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(msg, msgn, "read: %s", strerror(errno));
            close(fd);
            return false;
        }
        if (n == 0)
            break;
        got += (uint64_t)n;
    }
    o->size = got;
    close(fd);
    return true;
}

static void describe_state(FILE *f, const char *name, const struct state *s)
{
    if (!s->exists)
        fprintf(f, "  %s: file not created yet (missing or empty accepted)", name);
    else
        fprintf(f, "  %s: size %" PRIu64, name, s->size);
    if (s->at < 0)
        fprintf(f, ", as verified before this iteration\n");
    else
        fprintf(f, ", after op #%" PRId64 "\n", s->at);
}

static void dump_bytes(FILE *f, const char *what, const uint8_t *b, uint64_t size, uint64_t at)
{
    fprintf(f, "    %-9s @%" PRIu64 ":", what, at);
    for (uint64_t i = at; i < at + 16 && i < size; i++)
        fprintf(f, " %02x", b[i]);
    if (at >= size)
        fprintf(f, " (past end, size %" PRIu64 ")", size);
    fprintf(f, "\n");
}

static bool op_touches(const struct op *op, uint64_t off)
{
    if (op->type == OP_TRUNC)
        return op->off <= off;
    return op->len && off >= op->off && off < op->off + op->len;
}

/* Among ops #0..#upto: the last one at or before #at that wrote or cut
 * offset off, and the first one after #at that did (-1 when none). */
static void touchers(uint64_t iter, int64_t upto, int64_t at, uint64_t off, int64_t *before,
                     int64_t *after)
{
    struct gen g;
    gen_init(&g, cfg.seed, iter, st_start.size);
    *before = *after = -1;
    for (int64_t k = 0; k <= upto; k++) {
        struct op op;
        gen_next(&g, &op);
        if (!op_touches(&op, off))
            continue;
        if (k <= at)
            *before = k;
        else if (*after < 0)
            *after = k;
    }
}

struct iter_info {
    uint64_t iter;
    enum kill_mode mode;
    double delay_ms;
    double killed_after_ms; /* since the START record, <0 if never started */
    bool recovery_killed;
    double recovery_delay_ms;
    int64_t list_upto;
};

static void report_violation(const struct iter_info *it, const struct progress *p,
                             const char *where, const struct observed *o,
                             const struct state *cand[], int ncand, const char *extra)
{
    FILE *f = stderr;
    fprintf(f, "\nkilltest: VIOLATION: seed %" PRIu64 " %s mode, iteration %" PRIu64 " (%s)\n",
            cfg.seed, cfg.sync_mode ? "sync" : "epoch", it->iter, where);
    if (extra && extra[0])
        fprintf(f, "  %s\n", extra);
    fprintf(f,
            "  rerun (kill timing varies): nvmmio_killtest --lib %s --seed %" PRIu64
            " --kills %" PRIu64 "%s\n",
            cfg.lib ? cfg.lib : "none", cfg.seed, it->iter + 1, cfg.sync_mode ? " --sync" : "");
    fprintf(f, "  kill: %s", kill_mode_names[it->mode]);
    if (it->mode == KILL_DELAY || it->mode == KILL_SPAWN)
        fprintf(f, " (%.3f ms)", it->delay_ms);
    if (it->killed_after_ms >= 0)
        fprintf(f, ", SIGKILL %.3f ms after the child's START", it->killed_after_ms);
    else
        fprintf(f, ", child never reported START");
    fprintf(f,
            "\n  child records: last DONE %" PRId64 ", in-flight BEGIN %" PRId64 ", %" PRIu64
            " BEGINs\n",
            p->last_done, p->open_begin, p->nbegin);
    if (it->recovery_killed)
        fprintf(f,
                "  a recovering process (open O_RDWR) was SIGKILLed %.3f ms after its open "
                "started, before the verifier ran\n",
                it->recovery_delay_ms);
    fprintf(f, "  allowed states:\n");
    for (int i = 0; i < ncand; i++)
        describe_state(f, i == 0 ? "last durable" : "in flight  ", cand[i]);
    if (o) {
        if (!o->exists)
            fprintf(f, "  seen: file missing\n");
        else
            fprintf(f, "  seen: fstat size %" PRIu64 ", %" PRIu64 " bytes read\n", o->st_size,
                    o->size);
        for (int i = 0; i < ncand && o->exists; i++) {
            uint64_t d;
            state_matches(cand[i], o, &d);
            uint64_t common = cand[i]->size < o->size ? cand[i]->size : o->size;
            if (d == common && cand[i]->size != o->size) {
                fprintf(f, "  vs %s: the first %" PRIu64 " bytes agree, sizes differ\n",
                        i == 0 ? "last durable" : "in flight", common);
                continue;
            }
            int64_t before, after;
            touchers(it->iter, it->list_upto, cand[i]->at, d, &before, &after);
            fprintf(f, "  vs %s: first differing offset %" PRIu64,
                    i == 0 ? "last durable" : "in flight", d);
            if (before >= 0)
                fprintf(f, "; last written or cut by op #%" PRId64, before);
            else
                fprintf(f, "; not written by this iteration's ops up to this state");
            if (after >= 0)
                fprintf(f, "; next written or cut by op #%" PRId64 " (after this state)", after);
            fprintf(f, "\n");
            dump_bytes(f, "expected", cand[i]->buf, cand[i]->size, d);
            dump_bytes(f, "seen", o->buf, o->size, d);
        }
    }
    fprintf(f, "  state at the iteration's start: ");
    if (st_start.exists)
        fprintf(f, "size %" PRIu64 "\n", st_start.size);
    else
        fprintf(f, "file not created yet\n");
    fprintf(f, "  ops since the last verified state (durability points marked *):\n");
    struct gen g;
    gen_init(&g, cfg.seed, it->iter, st_start.size);
    int64_t n = it->list_upto + 1;
    for (int64_t k = 0; k < n; k++) {
        struct op op;
        char line[160];
        gen_next(&g, &op);
        bool show = cfg.all_ops || n <= MAX_LISTED_OPS || k < 50 || k >= n - (MAX_LISTED_OPS - 50);
        if (!show) {
            if (k == 50)
                fprintf(f, "    ... %" PRId64 " ops left out (--all-ops lists them) ...\n",
                        n - MAX_LISTED_OPS);
            continue;
        }
        format_op(line, sizeof(line), (uint64_t)k, &op);
        const char *tag = "";
        if (k == p->last_done)
            tag = "   <- last DONE";
        else if (k == p->open_begin)
            tag = "   <- BEGIN, no DONE";
        else if (k > p->last_done && k > p->open_begin)
            tag = "   (maybe not executed)";
        fprintf(f, "   %s %s%s\n", is_durability_op(&op, cfg.sync_mode) ? "*" : " ", line, tag);
    }
}

/* Returns 0 on success, 1 on a violation, 2 on a harness failure. */
static int run_iteration(uint64_t iter, struct stats *stats, struct verify_result *vr)
{
    struct iter_info it = {.iter = iter, .killed_after_ms = -1, .list_upto = -1};
    uint64_t prng = stream_seed(cfg.seed, iter, 1);
    uint64_t c = rnd_below(&prng, 100);
    if (c < 5) {
        it.mode = KILL_SPAWN;
        it.delay_ms = (double)rnd_below(&prng, 5000) / 1000.0;
    } else if (c < 15) {
        it.mode = KILL_FIRST_BEGIN;
    } else if (c < 25) {
        it.mode = KILL_50MS;
        it.delay_ms = 50.0;
    } else {
        it.mode = KILL_DELAY;
        uint64_t base = 200ull << rnd_below(&prng, 7); /* 0.2 .. 12.8 ms */
        uint64_t us = base + rnd_below(&prng, base);
        it.delay_ms = (double)(us < 20000 ? us : 20000) / 1000.0;
    }
    bool kill_recovery = rnd_below(&prng, 100) < 10 && cfg.recovery_kills;
    double rec_delay_ms = rnd_below(&prng, 2) ? (double)rnd_below(&prng, 200) / 1000.0
                                              : (double)rnd_below(&prng, 3000) / 1000.0;

    /* The writer child. */
    int fds[2];
    if (make_pipe(fds) != 0)
        return 2;
    char fdarg[16], seedarg[24], iterarg[24], sizearg[24];
    snprintf(fdarg, sizeof(fdarg), "%d", fds[1]);
    snprintf(seedarg, sizeof(seedarg), "%" PRIu64, cfg.seed);
    snprintf(iterarg, sizeof(iterarg), "%" PRIu64, iter);
    snprintf(sizearg, sizeof(sizearg), "%" PRIu64, st_start.size);
    char *args[] = {g_self,
                    "--child",
                    "--file",
                    g_file,
                    "--pipe",
                    fdarg,
                    "--seed",
                    seedarg,
                    "--iter",
                    iterarg,
                    "--size",
                    sizearg,
                    cfg.sync_mode ? "--sync" : NULL,
                    NULL};
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    double t0 = now_s();
    pid_t pid = spawn(args, g_env, fds[1]);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return 2;
    }
    struct progress p;
    progress_init(&p);
    int eof = 0;
    double t_start = -1;
    if (it.mode == KILL_SPAWN) {
        eof = progress_wait(fds[0], &p, t0 + it.delay_ms / 1000.0, NULL);
    } else {
        eof = progress_wait(fds[0], &p, t0 + START_TIMEOUT, stop_started);
        if (p.started && !eof && !p.err) {
            t_start = now_s();
            if (it.mode == KILL_FIRST_BEGIN)
                eof = progress_wait(fds[0], &p, t_start + START_TIMEOUT, stop_first_begin);
            else
                eof = progress_wait(fds[0], &p, t_start + it.delay_ms / 1000.0, NULL);
        }
    }
    bool hung =
        !eof && !p.err && !g_stop &&
        ((it.mode != KILL_SPAWN && !p.started) || (it.mode == KILL_FIRST_BEGIN && p.nbegin == 0));
    kill(pid, SIGKILL);
    double t_kill = now_s();
    int status = reap(pid);
    progress_drain(fds[0], &p);
    close(fds[0]);
    if (g_stop)
        return 2;
    if (p.started && t_start < 0)
        t_start = t0; /* KILL_SPAWN: only approximate */
    it.killed_after_ms = p.started ? (t_kill - t_start) * 1000.0 : -1;
    stats->kills++;

    /* Figure out what the file may show. */
    int64_t max_k = p.last_done > p.open_begin ? p.last_done : p.open_begin;
    state_copy(&st_done, &st_start);
    st_done.at = -1;
    state_copy(&st_work, &st_start);
    struct gen g;
    gen_init(&g, cfg.seed, iter, st_start.size);
    struct op op;
    for (int64_t k = 0; k <= max_k; k++) {
        gen_next(&g, &op);
        state_apply(&st_work, &op, k);
        if (k == p.last_done)
            state_copy(&st_done, &st_work);
    }
    stats->ops_replayed += (uint64_t)(max_k + 1);
    const struct state *cand[2] = {&st_done, NULL};
    int ncand = 1;
    if (p.open_begin >= 0) {
        state_copy(&st_infl, &st_work);
        cand[ncand++] = &st_infl;
        stats->inflight_possible++;
    }
    /* How far the child may have got: up to the next durability point. */
    it.list_upto = max_k;
    if (p.open_begin < 0) {
        struct gen g2 = g;
        for (;;) {
            int64_t k = (int64_t)g2.k;
            gen_next(&g2, &op);
            if (is_durability_op(&op, cfg.sync_mode) || k >= SEQ_LEN - 1) {
                it.list_upto = k;
                break;
            }
        }
    }

    char extra[256] = "";
    if (p.proto_err) {
        snprintf(extra, sizeof(extra), "protocol error in the child's records: %s", p.proto_msg);
        report_violation(&it, &p, "harness", NULL, cand, ncand, extra);
        return 2;
    }
    if (p.err) {
        uint32_t code = (uint32_t)(p.err_aux >> 32);
        snprintf(extra, sizeof(extra), "the writer child failed at op #%u: %s (%s)", p.err_k,
                 cerr_names[code < 6 ? code : 0], strerror((int)(uint32_t)p.err_aux));
        it.list_upto = p.err_k;
        report_violation(&it, &p, "writer child error", NULL, cand, ncand, extra);
        return 1;
    }
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        char sd[96];
        describe_status(sd, sizeof(sd), status);
        snprintf(extra, sizeof(extra), "the writer child %s before it was killed", sd);
        report_violation(&it, &p, "writer child died", NULL, cand, ncand, extra);
        return 1;
    }
    if (hung) {
        snprintf(extra, sizeof(extra), "the writer child sent no %s within %.0f s",
                 p.started ? "BEGIN" : "START", START_TIMEOUT);
        report_violation(&it, &p, "writer child hung", NULL, cand, ncand, extra);
        return 1;
    }
    if (p.started && p.start_size != st_start.size) {
        snprintf(extra, sizeof(extra),
                 "the writer child's open+fstat showed size %" PRIu64
                 ", the verified state has %" PRIu64,
                 p.start_size, st_start.size);
        report_violation(&it, &p, "writer open", NULL, cand, ncand, extra);
        return 1;
    }

    /* Sometimes crash a recovery. */
    if (kill_recovery) {
        int vf[2];
        if (make_pipe(vf) != 0)
            return 2;
        fcntl(vf[0], F_SETFL, O_NONBLOCK);
        snprintf(fdarg, sizeof(fdarg), "%d", vf[1]);
        char *vargs[] = {g_self, "--victim", "--file", g_file, "--pipe", fdarg, NULL};
        pid_t vp = spawn(vargs, g_env_victim, vf[1]);
        close(vf[1]);
        if (vp < 0) {
            close(vf[0]);
            return 2;
        }
        struct progress vpr;
        progress_init(&vpr);
        progress_wait(vf[0], &vpr, now_s() + START_TIMEOUT, stop_opened);
        double to = now_s();
        if (vpr.opened)
            progress_wait(vf[0], &vpr, to + rec_delay_ms / 1000.0, NULL);
        kill(vp, SIGKILL);
        int vs = reap(vp);
        close(vf[0]);
        if (!vpr.opened && !g_stop) {
            char sd[96];
            describe_status(sd, sizeof(sd), vs);
            snprintf(extra, sizeof(extra), "recovery victim never reached open (%s)", sd);
            report_violation(&it, &p, "recovery victim", NULL, cand, ncand, extra);
            return 1;
        }
        if (WIFEXITED(vs) && WEXITSTATUS(vs) != 0) {
            char sd[96];
            describe_status(sd, sizeof(sd), vs);
            snprintf(extra, sizeof(extra), "recovery victim (open O_RDWR + read) %s", sd);
            report_violation(&it, &p, "recovery victim", NULL, cand, ncand, extra);
            return 1;
        }
        if (WIFSIGNALED(vs) && WTERMSIG(vs) == SIGKILL) {
            it.recovery_killed = true;
            it.recovery_delay_ms = rec_delay_ms;
            stats->recovery_kills++;
        }
    }

    /* Verify under the library. */
    if (!run_verifier(vr)) {
        if (g_stop)
            return 2;
        report_violation(&it, &p, "verifier", NULL, cand, ncand, vr->msg);
        return 1;
    }
    struct observed o = {.exists = vr->h.status == 0,
                         .size = vr->h.nread,
                         .st_size = vr->h.st_size,
                         .buf = vr->data + sizeof(struct vhdr)};
    if (vr->h.truncated) {
        snprintf(extra, sizeof(extra), "the file reads as more than %llu bytes",
                 (unsigned long long)VERIFY_CAP);
        report_violation(&it, &p, "verifier", &o, cand, ncand, extra);
        return 1;
    }
    const struct state *match = NULL;
    uint64_t d;
    for (int i = 0; i < ncand && !match; i++)
        if (state_matches(cand[i], &o, &d))
            match = cand[i];
    if (!match && cfg.expect_plain) {
        /* A plain file shows every completed write and maybe a torn one. */
        state_copy(&st_work, &st_done);
        struct gen g3;
        gen_init(&g3, cfg.seed, iter, st_start.size);
        for (int64_t k = 0; k <= it.list_upto; k++) {
            gen_next(&g3, &op);
            if (k <= p.last_done)
                continue;
            if (op.len && torn_matches(&st_work, &op, &o, g_tmp)) {
                match = &st_work;
                break;
            }
            state_apply(&st_work, &op, k);
            if (state_matches(&st_work, &o, &d)) {
                match = &st_work;
                break;
            }
        }
        if (match) {
            /* Adopt what was seen as the next start. */
            memcpy(st_work.buf, o.buf, o.size);
            if (st_work.size > o.size)
                memset(st_work.buf + o.size, 0, st_work.size - o.size);
            st_work.size = o.size;
        }
    }
    if (!match) {
        if (o.exists && o.st_size != o.size)
            snprintf(extra, sizeof(extra),
                     "fstat says %" PRIu64 " bytes but read() returned %" PRIu64 " bytes",
                     o.st_size, o.size);
        report_violation(&it, &p, "verifier, under the library", &o, cand, ncand, extra);
        return 1;
    }
    if (match == &st_infl)
        stats->inflight_seen++;

    /* The raw file must show the same state. */
    struct observed raw;
    if (!read_raw(&raw, extra, sizeof(extra))) {
        report_violation(&it, &p, "raw read", NULL, cand, ncand, extra);
        return 2;
    }
    if (!state_matches(match, &raw, &d) || raw.exists != o.exists) {
        const struct state *one[1] = {match};
        snprintf(extra, sizeof(extra),
                 "the verifier saw the %s state, but the raw file (read without the library after "
                 "the verifier closed it) differs",
                 match == &st_infl ? "in-flight" : "last durable");
        report_violation(&it, &p, "raw file", &raw, one, 1, extra);
        return 1;
    }
    stats->verified++;
    bool exists = o.exists;
    if (match != &st_start)
        state_copy(&st_start, match);
    st_start.exists = exists;
    st_start.at = -1;
    if (cfg.verbose)
        fprintf(stderr,
                "iter %" PRIu64 ": %s %.3f ms, last DONE %" PRId64 ", BEGIN %" PRId64
                ", saw %s, size %" PRIu64 "%s\n",
                iter, kill_mode_names[it.mode], it.killed_after_ms, p.last_done, p.open_begin,
                match == &st_infl ? "in-flight" : "durable", st_start.size,
                it.recovery_killed ? ", recovery killed" : "");
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Main                                                                     */

static void usage(void)
{
    fprintf(stderr, "usage: nvmmio_killtest --lib PATH|none --kills N --seed S [--sync] [--dir D]\n"
                    "  --dir D   make the scratch directory under D instead of /dev/shm\n");
    exit(2);
}

static uint64_t parse_u64(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || !*s)
        usage();
    return v;
}

int main(int argc, char **argv)
{
    enum { PARENT, CHILD, VERIFY, VICTIM } role = PARENT;
    const char *file = NULL;
    int fd = -1;
    uint64_t iter = 0, size = 0;
    bool have_kills = false, have_seed = false;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_ARG()                                                                                 \
    do {                                                                                           \
        if (!v)                                                                                    \
            usage();                                                                               \
        i++;                                                                                       \
    } while (0)
        if (!strcmp(a, "--child")) {
            role = CHILD;
        } else if (!strcmp(a, "--verify")) {
            role = VERIFY;
        } else if (!strcmp(a, "--victim")) {
            role = VICTIM;
        } else if (!strcmp(a, "--sync")) {
            cfg.sync_mode = true;
        } else if (!strcmp(a, "--expect-plain")) {
            cfg.expect_plain = true;
        } else if (!strcmp(a, "--keep")) {
            cfg.keep = true;
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            cfg.verbose = true;
        } else if (!strcmp(a, "--all-ops")) {
            cfg.all_ops = true;
        } else if (!strcmp(a, "--no-recovery-kills")) {
            cfg.recovery_kills = false;
        } else if (!strcmp(a, "--lib")) {
            NEED_ARG();
            cfg.lib = strcmp(v, "none") ? v : NULL;
        } else if (!strcmp(a, "--kills")) {
            NEED_ARG();
            cfg.kills = parse_u64(v);
            have_kills = true;
        } else if (!strcmp(a, "--seed")) {
            NEED_ARG();
            cfg.seed = parse_u64(v);
            have_seed = true;
        } else if (!strcmp(a, "--dir")) {
            NEED_ARG();
            cfg.base_dir = v;
        } else if (!strcmp(a, "--file")) {
            NEED_ARG();
            file = v;
        } else if (!strcmp(a, "--pipe") || !strcmp(a, "--out")) {
            NEED_ARG();
            fd = (int)parse_u64(v);
        } else if (!strcmp(a, "--iter")) {
            NEED_ARG();
            iter = parse_u64(v);
        } else if (!strcmp(a, "--size")) {
            NEED_ARG();
            size = parse_u64(v);
        } else {
            fprintf(stderr, "nvmmio_killtest: unknown argument %s\n", a);
            usage();
        }
#undef NEED_ARG
    }

    if (role != PARENT) {
        if (!file || fd < 0)
            usage();
        g_rec_fd = fd;
        if (role == CHILD)
            return child_main(file, cfg.seed, iter, size, cfg.sync_mode);
        if (role == VERIFY)
            return verify_main(file, fd);
        return victim_main(file);
    }

    if (!have_kills || !have_seed)
        usage();
    bool lib_given = false;
    for (int i = 1; i < argc; i++)
        lib_given |= !strcmp(argv[i], "--lib");
    if (!lib_given)
        usage();
    static char libpath[PATH_MAX];
    if (cfg.lib) {
        if (!realpath(cfg.lib, libpath)) {
            fprintf(stderr, "nvmmio_killtest: library %s: %s\n", cfg.lib, strerror(errno));
            return 2;
        }
        cfg.lib = libpath;
    }
    ssize_t n = readlink("/proc/self/exe", g_self, sizeof(g_self) - 1);
    if (n <= 0) {
        perror("readlink /proc/self/exe");
        return 2;
    }
    g_self[n] = 0;

    char base[PATH_MAX];
    if (cfg.base_dir) {
        if (!realpath(cfg.base_dir, base)) {
            fprintf(stderr, "nvmmio_killtest: --dir %s: %s\n", cfg.base_dir, strerror(errno));
            return 2;
        }
    } else {
        snprintf(base, sizeof(base), "/dev/shm");
    }
    if (snprintf(g_workdir, sizeof(g_workdir), "%s/nvmmio-killtest.XXXXXX", base) >=
            (int)sizeof(g_workdir) - 8 ||
        !mkdtemp(g_workdir)) {
        fprintf(stderr, "nvmmio_killtest: mkdtemp %s: %s\n", g_workdir, strerror(errno));
        return 2;
    }
    if (snprintf(g_root, sizeof(g_root), "%s/root", g_workdir) >= (int)sizeof(g_root) ||
        snprintf(g_file, sizeof(g_file), "%s/f", g_root) >= (int)sizeof(g_file) ||
        mkdir(g_root, 0755) != 0) {
        fprintf(stderr, "nvmmio_killtest: mkdir %s: %s\n", g_root, strerror(errno));
        remove_tree(g_workdir);
        return 2;
    }

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    build_env();
    state_alloc(&st_start);
    state_alloc(&st_done);
    state_alloc(&st_infl);
    state_alloc(&st_work);
    g_tmp = xcalloc(MAX_IO, 1);
    g_raw = xcalloc(VERIFY_CAP, 1);
    struct verify_result vr = {0};
    vr.cap = sizeof(struct vhdr) + VERIFY_CAP;
    vr.data = xcalloc(vr.cap, 1);

    struct stats stats = {0};
    double t0 = now_s();
    int rc = 0;
    for (uint64_t i = 0; i < cfg.kills && rc == 0; i++) {
        rc = run_iteration(i, &stats, &vr);
        if (g_stop) {
            fprintf(stderr, "nvmmio_killtest: stopped by signal %d at iteration %" PRIu64 "\n",
                    (int)g_stop, i);
            rc = 2;
        }
    }
    double secs = now_s() - t0;
    const char *mode = cfg.sync_mode ? "sync" : "epoch";
    if (rc == 0) {
        printf("killtest: seed %" PRIu64 " %s mode: %" PRIu64 " kills, %" PRIu64
               " recoveries verified, 0 violations (in-flight state seen %" PRIu64 " of %" PRIu64
               " times it was allowed, %" PRIu64 " recoveries killed, %" PRIu64
               " ops replayed, %.1f s)\n",
               cfg.seed, mode, stats.kills, stats.verified, stats.inflight_seen,
               stats.inflight_possible, stats.recovery_kills, stats.ops_replayed, secs);
    } else {
        printf("killtest: seed %" PRIu64 " %s mode: %s after %" PRIu64 " kills, %" PRIu64
               " recoveries verified, %d violation%s\n",
               cfg.seed, mode, g_stop ? "INTERRUPTED" : "FAILED", stats.kills, stats.verified,
               rc == 1 ? 1 : 0, rc == 1 ? "" : "s");
    }
    fflush(stdout);
    if (cfg.keep || (rc != 0 && getenv("NVMMIO_KILLTEST_KEEP")))
        fprintf(stderr, "nvmmio_killtest: kept %s\n", g_workdir);
    else
        remove_tree(g_workdir);
    free(vr.data);
    free(g_raw);
    free(g_tmp);
    free(st_start.buf);
    free(st_done.buf);
    free(st_infl.buf);
    free(st_work.buf);
    return rc == 0 ? 0 : 1;
}
