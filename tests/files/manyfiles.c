/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * manyfiles many|crash|threads DIR - many managed files in one process, under a
 * descriptor limit of LIMIT (run under NVMMIO_PATH=DIR, linked with the
 * library).
 *
 * many: opens new files in DIR until EMFILE, which must come within a few
 * descriptors of the limit (the library's own descriptors stay within a
 * small budget, and those of its files are given back when the program
 * needs the numbers), writes each, keeps them open, fsyncs, overwrites (some
 * enough to grow their logs), reaches one file through a dup after its
 * first descriptor is closed, closes them all and reads every file back.
 *
 * crash: a child does the same with fewer files, fsyncs them, overwrites
 * them all and kills itself; every file must then read as it was fsynced.
 *
 * threads: threads write, fsync and read back files of their own, more
 * files than the library keeps descriptors for, so descriptors are parked
 * and opened again by one thread while others use their files.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libnvmmio.h"

#include "../check.h"

#define LIMIT 512
/* The library's own descriptors that it does not give back when the
 * program meets EMFILE: its first logs', lock shards, spares (its own and
 * its spare logs'), its log directory. Those of its files are parked. */
#define RESERVE 24
/* Its files' own, a 64th of the limit: given back at EMFILE, taken again
 * as numbers come free. */
#define PARKABLE (LIMIT / 64)
#define BIG      (64 << 10)
#define MAXFILES LIMIT

static const char *dir;
static int failures;

static void path_of(int i, char *buf, size_t n)
{
    snprintf(buf, n, "%s/f%d", dir, i);
}

/* The bytes of file i in version v at offset off. */
static char byte_at(int i, int v, size_t off)
{
    return (char)('a' + (i * 7 + v * 13 + (int)(off % 251)) % 26);
}

static void fill(char *buf, int i, int v, size_t off, size_t n)
{
    for (size_t k = 0; k < n; k++)
        buf[k] = byte_at(i, v, off + k);
}

static void put(int fd, int i, int v, size_t off, size_t n)
{
    static char buf[BIG];
    fill(buf, i, v, off, n);
    CHECK(pwrite(fd, buf, n, (off_t)off) == (ssize_t)n, "pwrite file %d: %s", i, strerror(errno));
}

/* File i reads as version v over [0, size), and is size bytes long. */
static void expect(int i, int v, size_t size)
{
    static char got[BIG + 1], want[BIG];
    char name[4096];
    path_of(i, name, sizeof(name));
    int fd = open(name, O_RDONLY);
    CHECK(fd >= 0, "open %s: %s", name, strerror(errno));
    if (fd < 0)
        return;
    ssize_t n = read(fd, got, sizeof(got));
    fill(want, i, v, 0, size);
    CHECK(n == (ssize_t)size && memcmp(got, want, size) == 0,
          "%s: %zd bytes, expected %zu of version %d", name, n, size, v);
    close(fd);
}

static void set_limit(void)
{
    struct rlimit rl = {LIMIT, LIMIT};
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        perror("setrlimit");
        exit(2);
    }
}

static int count_fds(void)
{
    int n = 0;
    char name[64];
    for (int fd = 0; fd < LIMIT; fd++) {
        snprintf(name, sizeof(name), "/proc/self/fd/%d", fd);
        struct stat st;
        n += lstat(name, &st) == 0;
    }
    return n;
}

/* Opens up to max new files, writing version 0 of `size` bytes to each;
 * returns how many. */
static int open_files(int *fds, int max, size_t size, int *stop)
{
    char name[4096];
    int n = 0;
    *stop = 0;
    for (; n < max; n++) {
        path_of(n, name, sizeof(name));
        fds[n] = open(name, O_RDWR | O_CREAT | O_EXCL, 0644);
        if (fds[n] < 0) {
            *stop = errno;
            break;
        }
        put(fds[n], n, 0, 0, size);
    }
    return n;
}

static size_t size_of(int i)
{
    return i % 16 == 0 ? BIG : 100;
}

/* The program's calls that make descriptors other than an open: each puts
 * what it made into out and returns how many (0 when it failed). */
static int make_pipe(int *out)
{
    return pipe(out) == 0 ? 2 : 0;
}

static int make_eventfd(int *out)
{
    return (out[0] = eventfd(0, EFD_CLOEXEC)) >= 0;
}

static int make_epoll(int *out)
{
    return (out[0] = epoll_create1(EPOLL_CLOEXEC)) >= 0;
}

static int make_memfd(int *out)
{
    return (out[0] = memfd_create("manyfiles", MFD_CLOEXEC)) >= 0;
}

static int make_timerfd(int *out)
{
    return (out[0] = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) >= 0;
}

static int make_signalfd(int *out)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    return (out[0] = signalfd(-1, &set, SFD_CLOEXEC)) >= 0;
}

static const struct {
    const char *what;
    int (*make)(int *out);
} makers[] = {
    {"pipe", make_pipe},          {"eventfd", make_eventfd},        {"epoll_create1", make_epoll},
    {"memfd_create", make_memfd}, {"timerfd_create", make_timerfd}, {"signalfd", make_signalfd},
};

/* With PARKABLE files open (their descriptors kept by the library), the
 * program makes descriptors of one kind until EMFILE: the library's
 * descriptors of those files are given back for them as for an open. */
static void made_at_the_limit(int kind)
{
    static int fds[PARKABLE];
    int stop, files = open_files(fds, PARKABLE, 100, &stop);
    CHECK(files == PARKABLE, "only %d files opened: %s", files, strerror(stop));
    static int made[LIMIT + 2];
    int n = 0, got;
    while (n < LIMIT && (got = makers[kind].make(made + n)) > 0)
        n += got;
    CHECK(errno == EMFILE, "%s stopped with %s", makers[kind].what, strerror(errno));
    int programs = 3 + files + n;
    CHECK(programs >= LIMIT - RESERVE, "the program got only %d of %d descriptors (%d by %s)",
          programs, LIMIT, n, makers[kind].what);
    printf("%d descriptors by %s beside %d files under a limit of %d\n", n, makers[kind].what,
           files, LIMIT);
    for (int i = 0; i < n; i++)
        close(made[i]);
    for (int i = 0; i < files; i++) {
        put(fds[i], i, 0, 0, 100); /* the parked descriptor opened again */
        CHECK(close(fds[i]) == 0, "close file %d: %s", i, strerror(errno));
        expect(i, 0, 100);
        char name[4096];
        path_of(i, name, sizeof(name));
        unlink(name);
    }
}

static int many(void)
{
    static int fds[MAXFILES];
    set_limit();
    for (int kind = 0; kind < (int)(sizeof(makers) / sizeof(makers[0])); kind++)
        made_at_the_limit(kind);
    int stop;
    int n = open_files(fds, MAXFILES, 100, &stop);
    CHECK(stop == EMFILE, "opening stopped with %s", strerror(stop));
    CHECK(n >= LIMIT - 3 - RESERVE, "only %d files opened under a limit of %d", n, LIMIT);
    for (int i = 0; i < 4; i++) /* room for the checks and a dup */
        close(fds[--n]);
    int open_now = count_fds();
    CHECK(open_now <= n + 3 + RESERVE + PARKABLE, "%d descriptors open for %d files", open_now, n);
    int managed = 0;
    for (int i = 0; i < n; i++)
        managed += nvmmio_is_managed(fds[i]);
    CHECK(managed >= LIMIT - 3 - RESERVE - 8, "only %d of %d files managed", managed, n);
    printf("%d files open under a limit of %d (%d managed), %d descriptors in all\n", n, LIMIT,
           managed, open_now);

    /* Some grow, all become durable, then all are overwritten: the
     * library's descriptors are parked and found again meanwhile. */
    for (int i = 0; i < n; i += 16)
        put(fds[i], i, 0, 0, BIG);
    for (int i = 0; i < n; i++)
        CHECK(fsync(fds[i]) == 0, "fsync file %d: %s", i, strerror(errno));
    int alias = dup(fds[0]);
    CHECK(alias >= 0, "dup: %s", strerror(errno));
    CHECK(close(fds[0]) == 0, "close: %s", strerror(errno));
    fds[0] = alias;
    for (int i = 0; i < n; i++)
        put(fds[i], i, 1, 0, size_of(i)); /* the big ones grow their logs */
    for (int i = 0; i < n; i++)
        CHECK(close(fds[i]) == 0, "close file %d: %s", i, strerror(errno));
    for (int i = 0; i < n; i++)
        expect(i, 1, size_of(i));
    return failures ? 1 : 0;
}

#define CRASH_FILES 200

static int crash(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        static int fds[CRASH_FILES];
        set_limit();
        int stop;
        int n = open_files(fds, CRASH_FILES, 100, &stop);
        if (n != CRASH_FILES)
            _exit(3);
        for (int i = 0; i < n; i += 16)
            put(fds[i], i, 0, 0, BIG);
        for (int i = 0; i < n; i++)
            if (fsync(fds[i]) != 0)
                _exit(4);
        for (int i = 0; i < n; i++) {
            put(fds[i], i, 1, 0, size_of(i));
            put(fds[i], i, 1, size_of(i), 100); /* and longer */
        }
        if (failures)
            _exit(5);
        kill(getpid(), SIGKILL);
        _exit(6);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid: %s", strerror(errno));
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the child ended with status %#x",
          status);
    for (int i = 0; i < CRASH_FILES; i++)
        expect(i, 0, size_of(i));
    return failures ? 1 : 0;
}

#define THREADS          4
#define FILES_PER_THREAD 40
#define ROUNDS           30

static int thread_failures; /* atomic */

static void *thread_main(void *arg)
{
    int t = (int)(long)arg;
    int fds[FILES_PER_THREAD];
    char name[4096], buf[100], got[100];
    for (int i = 0; i < FILES_PER_THREAD; i++) {
        path_of(t * FILES_PER_THREAD + i, name, sizeof(name));
        fds[i] = open(name, O_RDWR | O_CREAT | O_EXCL, 0644);
        if (fds[i] < 0) {
            __atomic_add_fetch(&thread_failures, 1, __ATOMIC_RELAXED);
            return NULL;
        }
    }
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < FILES_PER_THREAD; i++) {
            int id = t * FILES_PER_THREAD + i;
            fill(buf, id, r, 0, sizeof(buf));
            bool ok = pwrite(fds[i], buf, sizeof(buf), (off_t)r * 100) == (ssize_t)sizeof(buf);
            if (r % 5 == 4)
                ok = ok && fsync(fds[i]) == 0;
            ok = ok && pread(fds[i], got, sizeof(got), (off_t)r * 100) == (ssize_t)sizeof(got) &&
                 memcmp(got, buf, sizeof(buf)) == 0;
            if (!ok)
                __atomic_add_fetch(&thread_failures, 1, __ATOMIC_RELAXED);
        }
    }
    for (int i = 0; i < FILES_PER_THREAD; i++)
        if (close(fds[i]) != 0)
            __atomic_add_fetch(&thread_failures, 1, __ATOMIC_RELAXED);
    return NULL;
}

static int threads(void)
{
    set_limit();
    pthread_t th[THREADS];
    for (long t = 0; t < THREADS; t++)
        CHECK(pthread_create(&th[t], NULL, thread_main, (void *)t) == 0, "pthread_create");
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    CHECK(thread_failures == 0, "%d calls failed or read back wrong bytes", thread_failures);
    char want[ROUNDS * 100], got[ROUNDS * 100 + 1];
    for (int id = 0; id < THREADS * FILES_PER_THREAD; id++) {
        char name[4096];
        path_of(id, name, sizeof(name));
        int fd = open(name, O_RDONLY);
        ssize_t n = fd < 0 ? -1 : read(fd, got, sizeof(got));
        for (int r = 0; r < ROUNDS; r++)
            fill(want + r * 100, id, r, 0, 100);
        CHECK(n == (ssize_t)sizeof(want) && memcmp(got, want, sizeof(want)) == 0,
              "%s: %zd bytes, not what its thread wrote", name, n);
        if (fd >= 0)
            close(fd);
    }
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: manyfiles many|crash|threads DIR\n");
        return 2;
    }
    dir = argv[2];
    if (!strcmp(argv[1], "many"))
        return many();
    if (!strcmp(argv[1], "crash"))
        return crash();
    if (!strcmp(argv[1], "threads"))
        return threads();
    return 2;
}
