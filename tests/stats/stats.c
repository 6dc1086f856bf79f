/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stats.c - a scripted run whose counters are known, linked with the
 * library (label stats, run by run_stats.sh).
 *
 *   nvmmio_stats counters DIR   checks nvmmio_get_stats after each step on
 *                               files opened with O_ATOMIC in DIR (policy
 *                               from NVMMIO_POLICY: undo or redo)
 *   nvmmio_stats script DIR     the run run_stats.sh checks the exit report
 *                               of: DIR/a gets 3 writes of 4096 bytes and
 *                               an fsync, is closed, opened again and read
 *                               once (one line for both opens); DIR/b is
 *                               opened and made descriptor 1 (a fallback);
 *                               a forked child (a fallback: a is shared
 *                               with it) writes 1 byte to DIR/c and exits,
 *                               reporting its own counters only
 *
 * Exit 0 when every check holds; each failed check prints a line.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libnvmmio.h"

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                        \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static char block[4096];

static int open_in(const char *dir, const char *name, int flags)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, flags, 0644);
    if (fd < 0) {
        perror(path);
        exit(2);
    }
    return fd;
}

static struct nvmmio_stats stats_of(int fd)
{
    struct nvmmio_stats st;
    memset(&st, 0xff, sizeof(st));
    CHECK(nvmmio_get_stats(fd, &st) == 0);
    return st;
}

static void write_three(int fd)
{
    for (int i = 0; i < 3; i++)
        CHECK(write(fd, block, sizeof(block)) == (ssize_t)sizeof(block));
}

/* 3 writes of 4096 bytes and an fsync: writes=3, 12288 bytes, an epoch. */
static void check_writes(int fd)
{
    write_three(fd);
    CHECK(fsync(fd) == 0);
    struct nvmmio_stats st = stats_of(fd);
    CHECK(st.writes == 3 && st.write_bytes == 12288);
    CHECK(st.fsyncs == 1);
    CHECK(st.epochs_committed >= 1 && st.commit_ns > 0);
    CHECK(st.reads == 0 && st.read_bytes == 0);
    CHECK(st.truncates == 0 && st.fallocates == 0 && st.mmaps == 0 && st.copies == 0);
}

/* Overwrites below the committed size are logged: undo records under
 * undo, redo records (copied home by the fsync) under redo. */
static void check_records(int fd, bool redo)
{
    CHECK(pwrite(fd, block, sizeof(block), 0) == (ssize_t)sizeof(block));
    CHECK(fsync(fd) == 0);
    struct nvmmio_stats st = stats_of(fd);
    if (redo) {
        CHECK(st.redo_records >= 1 && st.undo_records == 0);
        CHECK(st.checkpoints >= 1 && st.home_records >= 1);
    } else {
        CHECK(st.undo_records >= 1 && st.redo_records == 0);
    }
    CHECK(st.epochs_committed >= 2);
}

static void check_other_calls(int fd, int other)
{
    char buf[100];
    CHECK(pread(fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf));
    CHECK(ftruncate(fd, 20000) == 0);
    CHECK(fallocate(fd, 0, 0, 32768) == 0);
    loff_t off = 0;
    CHECK(copy_file_range(fd, &off, other, NULL, 5000, 0) == 5000);
    void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED);
    if (p != MAP_FAILED)
        munmap(p, 4096);
    struct nvmmio_stats st = stats_of(fd);
    CHECK(st.reads == 2 && st.read_bytes == 100 + 5000); /* the copy reads too */
    CHECK(st.truncates == 1);
    CHECK(st.fallocates == 1 && st.fallocate_bytes == 32768);
    CHECK(st.copies == 1 && st.copy_bytes == 5000);
    CHECK(st.mmaps == 1);
    struct nvmmio_stats o = stats_of(other);
    CHECK(o.copies == 1 && o.copy_bytes == 5000 && o.writes == 1 && o.write_bytes == 5000);
}

static int counters(const char *dir)
{
    const char *policy = getenv("NVMMIO_POLICY");
    bool redo = policy && !strcmp(policy, "redo");
    int fd = open_in(dir, "f", O_CREAT | O_RDWR | O_TRUNC | O_ATOMIC);
    int other = open_in(dir, "g", O_CREAT | O_RDWR | O_TRUNC | O_ATOMIC);
    check_writes(fd);
    check_records(fd, redo);
    check_other_calls(fd, other);
    close(other);
    close(fd);
    /* A new object starts from zero. */
    fd = open_in(dir, "f", O_RDWR | O_ATOMIC);
    struct nvmmio_stats st = stats_of(fd);
    CHECK(st.writes == 0 && st.reads == 0 && st.epochs_committed == 0);
    close(fd);
    return failures ? 1 : 0;
}

static int script(const char *dir)
{
    int fd = open_in(dir, "a", O_CREAT | O_RDWR | O_TRUNC | O_ATOMIC);
    write_three(fd);
    CHECK(fsync(fd) == 0);
    close(fd);
    fd = open_in(dir, "a", O_RDWR | O_ATOMIC);
    CHECK(read(fd, block, 10) == 10);
    int b = open_in(dir, "b", O_CREAT | O_RDWR | O_ATOMIC);
    fflush(stdout);
    CHECK(dup2(b, 1) == 1); /* a standard stream goes to the kernel */
    close(b);
    pid_t child = fork();
    if (child == 0) {
        int c = open_in(dir, "c", O_CREAT | O_RDWR | O_TRUNC | O_ATOMIC);
        CHECK(write(c, "c", 1) == 1);
        close(c);
        exit(failures ? 1 : 0); /* a normal exit: the child's report */
    }
    int status;
    CHECK(child > 0 && waitpid(child, &status, 0) == child && status == 0);
    return failures ? 1 : 0; /* a left open, reported at exit */
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "counters"))
        return counters(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "script"))
        return script(argv[2]);
    fprintf(stderr, "usage: nvmmio_stats counters|script DIR\n");
    return 2;
}
