/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tx_kill.c - a SIGKILL loop over transactions across two files.
 *
 * The writer (tx_kill writer DIR FD) updates files A and B of DIR in one
 * transaction per generation g: each file gets a size that depends on g
 * (appends, truncations) and every byte rewritten from g, so the state of
 * a file names the one generation it holds. After each commit it reports g
 * on descriptor FD, and the generation it found at its start first. The loop (tx_kill loop KILLS
 * SEED DIR) starts a writer, kills it with SIGKILL at a random moment (one time in eight right at
 * its start, while it opens and recovers the files), and then has one process open A and another B,
 * in turns in either order, each recovering its file alone: both must hold the same generation, the
 * last one reported or the next, and never one older than the generation seen before.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libnvmmio.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HEADER 8

static size_t size_of(int file, uint64_t g)
{
    return file == 0 ? 4096 + (g * 1237) % 30000 : 100 + (g * 7919) % 9000;
}

static void path_of(char *p, size_t n, const char *dir, int file)
{
    snprintf(p, n, "%s/%s", dir, file == 0 ? "A" : "B");
}

static int open_file(const char *dir, int file)
{
    char p[512];
    path_of(p, sizeof(p), dir, file);
    return open(p, O_RDWR | O_CREAT | O_ATOMIC, 0644);
}

/* The bytes of file `file` at generation g. */
static void image(int file, uint64_t g, char *buf, size_t n)
{
    memset(buf, (int)('a' + (g * 3 + (uint64_t)file) % 26), n);
    memcpy(buf, &g, HEADER);
}

/* The generation the file holds, or -1 when its bytes are no generation's. */
static int64_t generation(int fd)
{
    static char buf[64 << 10], want[64 << 10];
    ssize_t n = pread(fd, buf, sizeof(buf), 0);
    if (n == 0)
        return 0;
    if (n < HEADER)
        return -1;
    uint64_t g;
    memcpy(&g, buf, HEADER);
    if ((size_t)n != size_of(0, g) && (size_t)n != size_of(1, g))
        return -1;
    for (int file = 0; file < 2; file++) {
        if ((size_t)n != size_of(file, g))
            continue;
        image(file, g, want, (size_t)n);
        if (memcmp(buf, want, (size_t)n) == 0)
            return (int64_t)g;
    }
    return -1;
}

static int writer(const char *dir, int report)
{
    int fd[2] = {open_file(dir, 0), open_file(dir, 1)};
    if (fd[0] < 0 || fd[1] < 0 || !nvmmio_is_managed(fd[0]))
        return 2;
    int64_t g0 = generation(fd[0]);
    if (g0 < 0 || g0 != generation(fd[1]))
        return 3;
    /* The generation found, which may be the one a killed writer had in
     * flight, rolled forward. */
    if (write(report, &g0, sizeof(g0)) != sizeof(g0))
        return 7;
    static char buf[64 << 10];
    for (uint64_t g = (uint64_t)g0 + 1;; g++) {
        if (nvmmio_tx_begin() < 0)
            return 4;
        for (int file = 0; file < 2; file++) {
            size_t n = size_of(file, g);
            image(file, g, buf, n);
            if (ftruncate(fd[file], (off_t)n) < 0 || pwrite(fd[file], buf, n, 0) != (ssize_t)n)
                return 5;
        }
        if (nvmmio_tx_commit() < 0)
            return 6;
        if (write(report, &g, sizeof(g)) != sizeof(g))
            return 7;
    }
}

/* In a process of its own, opens the file (recovering it) and reads its
 * generation: the exit status says 0 (read, sent on the pipe) or failure. */
static int64_t check_file(const char *dir, int file)
{
    int p[2];
    if (pipe(p) < 0)
        return -2;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        int fd = open_file(dir, file);
        int64_t g = fd < 0 || !nvmmio_is_managed(fd) ? -2 : generation(fd);
        _exit(write(p[1], &g, sizeof(g)) == sizeof(g) ? 0 : 1);
    }
    close(p[1]);
    int64_t g = -2;
    int status;
    if (read(p[0], &g, sizeof(g)) != sizeof(g))
        g = -2;
    close(p[0]);
    waitpid(pid, &status, 0);
    return g;
}

static int loop(const char *self, const char *dir, int kills, unsigned seed)
{
    srand(seed);
    int64_t seen = 0;
    long committed_total = 0;
    for (int k = 0; k < kills; k++) {
        int p[2];
        if (pipe(p) < 0)
            return 2;
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            char fdarg[16];
            snprintf(fdarg, sizeof(fdarg), "%d", p[1]);
            execl(self, self, "writer", dir, fdarg, (char *)NULL);
            _exit(127);
        }
        close(p[1]);
        bool early = rand() % 8 == 0;
        struct timespec nap = {0, early ? rand() % 2000000 : 1000000 + rand() % 20000000};
        nanosleep(&nap, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status)) {
            fprintf(stderr, "kill %d: the writer ended by itself, status %d\n", k,
                    WEXITSTATUS(status));
            return 1;
        }
        int64_t reported = seen, g;
        long reports = 0;
        while (read(p[0], &g, sizeof(g)) == sizeof(g))
            reported = g, reports++;
        close(p[0]);
        committed_total += reports > 1 ? reports - 1 : 0;
        if (early && k % 2 == 0) { /* the next writer's open recovers */
            seen = reported;
            continue;
        }
        int first = k % 2;
        int64_t a = check_file(dir, first), b = check_file(dir, 1 - first);
        if (a < 0 || a != b || a < reported || a > reported + 1 || a < seen) {
            fprintf(stderr,
                    "kill %d (seed %u): %s holds generation %lld, %s %lld; last reported "
                    "%lld, seen before %lld\n",
                    k, seed, first ? "B" : "A", (long long)a, first ? "A" : "B", (long long)b,
                    (long long)reported, (long long)seen);
            return 1;
        }
        seen = a;
    }
    printf("tx_kill: %d kills, %ld transactions reported committed, both files always at one "
           "generation\n",
           kills, committed_total);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "writer") == 0)
        return writer(argv[2], atoi(argv[3]));
    if (argc == 5 && strcmp(argv[1], "loop") == 0)
        return loop(argv[0], argv[4], atoi(argv[2]), (unsigned)atoi(argv[3]));
    fprintf(stderr, "usage: tx_kill loop KILLS SEED DIR | tx_kill writer DIR FD\n");
    return 2;
}
