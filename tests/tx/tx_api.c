/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tx_api.c - the rules of nvmmio_tx_begin/commit/abort and
 * nvmmio_pwritev_atomic, checked on O_ATOMIC files in a fresh directory:
 * errors (no transaction, nesting, a descriptor that cannot take part),
 * abort putting back bytes and sizes of several files, commit, durability
 * points inside a transaction, a crash (a child that ends with exit_group)
 * before and after the commit, a normal exit without a commit, a file the
 * kernel serves (EXDEV), threads.
 * Usage: tx_api DIR (made and removed by the caller).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libnvmmio.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *dir;
static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s (errno %d)\n", __FILE__, __LINE__, #cond,     \
                    errno);                                                                        \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

/* -1 with this errno */
#define FAILS(call, err) CHECK((call) == -1 && errno == (err))

static char *path_of(const char *name)
{
    static char p[8][512];
    static int next;
    char *s = p[next++ % 8];
    snprintf(s, 512, "%s/%s", dir, name);
    return s;
}

static int open_file(const char *name)
{
    int fd = open(path_of(name), O_RDWR | O_CREAT | O_ATOMIC, 0644);
    if (fd < 0 || !nvmmio_is_managed(fd)) {
        fprintf(stderr, "cannot manage %s\n", name);
        exit(1);
    }
    return fd;
}

/* Makes name hold n bytes of c, durably. */
static void make_file(const char *name, char c, size_t n)
{
    int fd = open_file(name);
    char *buf = malloc(n);
    memset(buf, c, n);
    CHECK(ftruncate(fd, 0) == 0);
    CHECK(pwrite(fd, buf, n, 0) == (ssize_t)n);
    CHECK(fsync(fd) == 0);
    CHECK(close(fd) == 0);
    free(buf);
}

/* Whether name holds exactly n bytes of c (read through the library, so a
 * pending log is recovered first). */
static bool holds(const char *name, char c, size_t n)
{
    int fd = open_file(name);
    struct stat st;
    bool ok = fstat(fd, &st) == 0 && (size_t)st.st_size == n;
    char *buf = malloc(n + 1);
    ok = ok && pread(fd, buf, n + 1, 0) == (ssize_t)n;
    for (size_t i = 0; ok && i < n; i++)
        ok = buf[i] == c;
    free(buf);
    close(fd);
    return ok;
}

static void fill(int fd, char c, size_t n, off_t off)
{
    char *buf = malloc(n);
    memset(buf, c, n);
    CHECK(pwrite(fd, buf, n, off) == (ssize_t)n);
    free(buf);
}

static void errors(void)
{
    FAILS(nvmmio_tx_commit(), EINVAL);
    FAILS(nvmmio_tx_abort(), EINVAL);
    CHECK(nvmmio_tx_begin() == 0);
    FAILS(nvmmio_tx_begin(), EBUSY);
    FAILS(nvmmio_sync_all(), EBUSY);
    CHECK(nvmmio_tx_abort() == 0);
    FAILS(nvmmio_tx_abort(), EINVAL);
    CHECK(nvmmio_tx_begin() == 0);
    CHECK(nvmmio_tx_commit() == 0); /* an empty transaction */
    FAILS(nvmmio_tx_commit(), EINVAL);
    FAILS(nvmmio_pwritev_atomic(NULL, 1), EINVAL);
}

/* Overwrites, an append, a truncation and fallocate in two files, with
 * fsync and close inside: the abort takes every one back. */
static void abort_restores(void)
{
    make_file("a", 'a', 10000);
    make_file("b", 'b', 5000);
    int a = open_file("a"), b = open_file("b"), b2 = open_file("b");
    CHECK(nvmmio_tx_begin() == 0);
    fill(a, 'x', 4096, 100);
    fill(a, 'y', 3000, 10000); /* append */
    CHECK(fsync(a) == 0);      /* the transaction's durability point is its commit */
    CHECK(ftruncate(b, 100) == 0);
    fill(b, 'z', 200, 50);
    CHECK(fallocate(b, 0, 0, 20000) == 0);
    CHECK(close(b2) == 0);
    struct stat st;
    CHECK(fstat(b, &st) == 0 && st.st_size == 20000);
    CHECK(nvmmio_tx_abort() == 0);
    CHECK(fstat(a, &st) == 0 && st.st_size == 10000);
    CHECK(fstat(b, &st) == 0 && st.st_size == 5000);
    close(a);
    close(b);
    CHECK(holds("a", 'a', 10000));
    CHECK(holds("b", 'b', 5000));
}

static void commit_keeps(void)
{
    make_file("a", 'a', 10000);
    make_file("b", 'b', 5000);
    int a = open_file("a"), b = open_file("b");
    CHECK(nvmmio_tx_begin() == 0);
    fill(a, 'c', 12000, 0);
    CHECK(ftruncate(b, 0) == 0);
    fill(b, 'c', 7000, 0);
    CHECK(nvmmio_tx_commit() == 0);
    /* After the commit the files are ordinary again. */
    fill(a, 'q', 10, 0);
    CHECK(ftruncate(a, 12000) == 0);
    CHECK(nvmmio_tx_abort() == -1);
    fill(a, 'c', 10, 0);
    close(a);
    close(b);
    CHECK(holds("a", 'c', 12000));
    CHECK(holds("b", 'c', 7000));
}

/* Changes made before the begin are not the transaction's: they are
 * committed when the file joins it. */
static void before_begin(void)
{
    make_file("a", 'a', 4096);
    int a = open_file("a");
    fill(a, 'p', 4096, 0);
    CHECK(nvmmio_tx_begin() == 0);
    fill(a, 'x', 8192, 0);
    CHECK(nvmmio_tx_abort() == 0);
    close(a);
    CHECK(holds("a", 'p', 4096));
}

/* A child that dies (the exit_group call, past the library, whose _exit
 * is a normal end) in the middle of a transaction, after its commit, or
 * that exits normally without one. */
enum child_end { CRASH_OPEN, CRASH_COMMITTED, EXIT_OPEN };

static void child_case(enum child_end how)
{
    make_file("c", 'c', 9000);
    make_file("d", 'd', 3000);
    pid_t pid = fork();
    if (pid == 0) {
        int c = open_file("c"), d = open_file("d");
        if (nvmmio_tx_begin() < 0)
            _exit(2);
        fill(c, 'n', 20000, 0);
        fill(d, 'n', 20000, 0);
        fsync(c);
        if (how == CRASH_COMMITTED && nvmmio_tx_commit() < 0)
            _exit(3);
        if (how == EXIT_OPEN)
            exit(0);
        syscall(SYS_exit_group, 0);
        _exit(1); /* not reached */
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    bool committed = how == CRASH_COMMITTED;
    /* One file recovered before the other, each by its own open. */
    CHECK(holds("d", committed ? 'n' : 'd', committed ? 20000 : 3000));
    CHECK(holds("c", committed ? 'n' : 'c', committed ? 20000 : 9000));
}

static void one_shot(void)
{
    make_file("a", 'a', 100);
    make_file("b", 'b', 100);
    int a = open_file("a"), b = open_file("b"), p[2];
    CHECK(pipe(p) == 0);
    char x[300], y[50];
    memset(x, 'x', sizeof(x));
    memset(y, 'y', sizeof(y));
    struct iovec xv[2] = {{x, 150}, {x + 150, 150}}, yv = {y, sizeof(y)};
    struct nvmmio_write w[3] = {{a, 0, xv, 2}, {b, 100, &yv, 1}, {p[1], 0, &yv, 1}};
    FAILS(nvmmio_pwritev_atomic(w, 3), EXDEV); /* a pipe is no managed file */
    w[2].fd = -1;
    FAILS(nvmmio_pwritev_atomic(w, 3), EBADF);
    CHECK(holds("a", 'a', 100));
    CHECK(holds("b", 'b', 100));
    CHECK(nvmmio_pwritev_atomic(w, 2) == 0);
    CHECK(holds("a", 'x', 300));
    CHECK(nvmmio_tx_begin() == 0);
    FAILS(nvmmio_pwritev_atomic(w, 2), EBUSY);
    CHECK(nvmmio_tx_abort() == 0);
    close(a);
    close(b);
    close(p[0]);
    close(p[1]);
}

/* A file the kernel serves for this process (one of its descriptors became
 * standard input) cannot take part: EXDEV, and nothing written. */
static void kernel_served(void)
{
    make_file("e", 'e', 100);
    int e = open_file("e"), saved = dup(0);
    CHECK(dup2(e, 0) == 0);
    CHECK(!nvmmio_is_managed(e));
    char x[10] = "xxxxxxxxx";
    struct iovec v = {x, sizeof(x)};
    CHECK(nvmmio_tx_begin() == 0);
    FAILS(pwrite(e, x, sizeof(x), 0), EXDEV);
    FAILS(write(e, x, sizeof(x)), EXDEV);
    FAILS(pwritev(e, &v, 1, 0), EXDEV);
    FAILS(ftruncate(e, 0), EXDEV);
    FAILS(fallocate(e, 0, 0, 4096), EXDEV);
    CHECK(posix_fallocate(e, 0, 4096) == EXDEV);
    CHECK(nvmmio_tx_abort() == 0);
    struct nvmmio_write w = {e, 0, &v, 1};
    FAILS(nvmmio_pwritev_atomic(&w, 1), EXDEV);
    CHECK(dup2(saved, 0) == 0);
    close(saved);
    close(e);
    CHECK(holds("e", 'e', 100));
}

/* ---- threads ------------------------------------------------------------ */

struct baton {
    pthread_mutex_t m;
    pthread_cond_t cv;
    int step;
};

static struct baton bt = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

static void wait_step(int s)
{
    pthread_mutex_lock(&bt.m);
    while (bt.step < s)
        pthread_cond_wait(&bt.cv, &bt.m);
    pthread_mutex_unlock(&bt.m);
}

static void go_step(int s)
{
    pthread_mutex_lock(&bt.m);
    bt.step = s;
    pthread_cond_broadcast(&bt.cv);
    pthread_mutex_unlock(&bt.m);
}

static int shared_fd, own_fd;

/* Holds a transaction on "a" while the main thread tries it, then aborts. */
static void *other_thread(void *arg)
{
    (void)arg;
    CHECK(nvmmio_tx_begin() == 0); /* transactions are per thread */
    fill(shared_fd, 't', 4096, 0);
    go_step(1);
    wait_step(2);
    CHECK(nvmmio_tx_abort() == 0);
    go_step(3);
    return NULL;
}

static void threads(void)
{
    make_file("a", 'a', 4096);
    make_file("b", 'b', 4096);
    shared_fd = open_file("a");
    own_fd = open_file("b");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, other_thread, NULL) == 0);
    wait_step(1);
    CHECK(nvmmio_tx_begin() == 0);
    char buf[16];
    errno = 0;
    CHECK(pwrite(shared_fd, buf, sizeof(buf), 0) == -1 && errno == EBUSY);
    fill(own_fd, 'm', 4096, 0);
    CHECK(nvmmio_tx_commit() == 0);
    go_step(2);
    wait_step(3);
    CHECK(pthread_join(t, NULL) == 0);
    close(shared_fd);
    close(own_fd);
    CHECK(holds("a", 'a', 4096));
    CHECK(holds("b", 'm', 4096));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: tx_api DIR\n");
        return 2;
    }
    dir = argv[1];
    errors();
    abort_restores();
    commit_keeps();
    before_begin();
    child_case(CRASH_OPEN);
    child_case(CRASH_COMMITTED);
    child_case(EXIT_OPEN);
    one_shot();
    kernel_served();
    threads();
    if (failures)
        fprintf(stderr, "tx_api: %d checks failed\n", failures);
    return failures != 0;
}
