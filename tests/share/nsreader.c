/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nsreader.c - a reader in another PID namespace is waited for. Processes
 * read a shared file without its lock, and a writer waits for the reads in
 * flight, forgetting those of a process that is gone (share.h); a PID means
 * nothing across namespaces (containers sharing a pmem mount), so a live
 * reader must never be taken for a dead one by its number.
 *
 * A writer under the library keeps an 8 MiB file open and rewrites all of
 * it, ROUNDS times, each time with a new pattern, with an fsync after
 * each. A reader under the library, in a PID namespace of its own and with
 * a PID that no process has in the test's namespace, reads the whole file
 * again and again and checks that each read shows one pattern throughout
 * (a read torn by a write shows two). Skipped (77) where a PID namespace
 * cannot be made (not root).
 *
 *   nsreader ROUNDS
 */
#include "share.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILE_SIZE (8u << 20)
#define SAMPLE    509 /* bytes between the bytes a read is checked at */

/* The pattern of the read: the key among 1..keys whose first bytes it
 * shows, then every SAMPLE-th byte checked against it; 0 when torn. */
static uint64_t pattern_of(const uint8_t *buf, uint64_t keys)
{
    uint8_t want[16];
    uint64_t key = 0;
    for (uint64_t k = 1; k <= keys && !key; k++) {
        fill(want, k, 0, sizeof(want));
        if (!memcmp(buf, want, sizeof(want)))
            key = k;
    }
    for (uint64_t off = SAMPLE; key && off < FILE_SIZE; off += SAMPLE) {
        fill(want, key, off, 1);
        if (buf[off] != want[0])
            return 0;
    }
    return key;
}

static _Noreturn void read_forever(const char *path, uint64_t keys)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        fatal("open %s: %s", path, strerror(errno));
    uint8_t *buf = xcalloc(1, FILE_SIZE);
    for (bool told = false;; told = true) {
        if (pread(fd, buf, FILE_SIZE, 0) != (ssize_t)FILE_SIZE)
            fatal("pread: %s", strerror(errno));
        if (!pattern_of(buf, keys)) {
            printf("T torn read in PID %d of its namespace\n", (int)getpid());
            exit(1);
        }
        if (!told)
            printf("R %d\n", (int)getpid());
        fflush(stdout);
    }
}

/* The namespace's first process: makes the next PID `pid` and starts the
 * reader with it; dies with its parent, which ends the namespace. */
static _Noreturn void namespace_init(const char *path, int pid, uint64_t keys)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    FILE *last = fopen("/proc/sys/kernel/ns_last_pid", "w");
    if (!last || fprintf(last, "%d", pid - 1) < 0 || fclose(last) != 0) {
        printf("S cannot choose a PID in the new namespace\n");
        exit(0);
    }
    pid_t reader = fork();
    if (reader == 0)
        read_forever(path, keys);
    int status;
    waitpid(reader, &status, 0);
    exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

int nsreader_child(int argc, char **argv)
{
    if (argc != 3)
        fatal("nsreader child: PATH PID KEYS");
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (unshare(CLONE_NEWPID) != 0) {
        printf("S unshare(CLONE_NEWPID): %s\n", strerror(errno));
        return 0;
    }
    pid_t init = fork();
    if (init < 0)
        fatal("fork: %s", strerror(errno));
    if (init == 0)
        namespace_init(argv[0], atoi(argv[1]), strtoull(argv[2], NULL, 10));
    int status;
    waitpid(init, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* A PID no process has here: the reader's, in its namespace. */
static int free_pid(void)
{
    for (int pid = 30000; pid > 1000; pid--)
        if (kill(pid, 0) != 0 && errno == ESRCH)
            return pid;
    fatal("no free PID below 30000");
}

int test_nsreader(int argc, char **argv)
{
    if (argc != 1)
        fatal("nsreader ROUNDS");
    int rounds = atoi(argv[0]);
    char *path = root_path("shared");
    struct child w, r;
    actor_start(&w, "the writer", true, -1);
    if (!actor_do(&w, NULL, "open 0 %s c", path) ||
        !actor_do(&w, NULL, "append 0 %u %llu", FILE_SIZE, 1ull))
        return 1;
    char pid[16], keys[24];
    snprintf(pid, sizeof(pid), "%d", free_pid());
    snprintf(keys, sizeof(keys), "%d", rounds + 1);
    char *args[] = {"nvmmio_share", "--child", "nsreader", path, pid, keys, NULL};
    child_start(&r, "the reader", true, args, -1);
    char line[128];
    if (!child_line(&r, line, sizeof(line), 60.0))
        fatal("the reader did not read the file");
    if (line[0] == 'S') {
        printf("nsreader: skipped: %s\n", line + 2);
        child_kill(&r);
        actor_do(&w, NULL, "close 0");
        child_finish(&w);
        free(path);
        return 77;
    }
    if (line[0] != 'R')
        fail("the reader: %s", line);
    for (int k = 0; k < rounds && run.failures == 0; k++) {
        if (!actor_do(&w, NULL, "pwrite 0 0 %u %llu", FILE_SIZE, 2ull + (unsigned)k) ||
            !actor_do(&w, NULL, "fsync 0"))
            fail("the writer's round %d failed", k + 1);
        if (child_line(&r, line, sizeof(line), 0.0))
            fail("the reader: %s", line);
    }
    if (run.failures == 0 && child_line(&r, line, sizeof(line), 0.5))
        fail("the reader: %s", line);
    child_kill(&r);
    actor_do(&w, NULL, "close 0");
    child_finish(&w);
    printf("nsreader: %d rewrites of %u bytes beside a reader in PID %s of its namespace\n", rounds,
           FILE_SIZE, pid);
    free(path);
    return 0;
}
