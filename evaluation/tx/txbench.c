/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * txbench.c - the cost of updating two files together: one transaction
 * (nvmmio_tx_begin, a pwrite to each, nvmmio_tx_commit) against a pwrite
 * and an fsync of each file, and against the two pwrites alone.
 *
 * Usage: txbench MODE DIR SIZE ITERATIONS
 *   MODE  tx | fsync2 | nosync (files opened with O_ATOMIC: the library's)
 *         kernel-fsync2 (plain files: the kernel's, when DIR is no root)
 *   SIZE  bytes of each write (block-aligned offsets in 16 MiB files)
 * Prints the mean nanoseconds per update of both files.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <libnvmmio.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FILE_SIZE (16u << 20)

static int open_file(const char *dir, const char *name, int extra)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | extra, 0644);
    /* Written whole first: no write of the run fills a hole. */
    static char chunk[1 << 20];
    memset(chunk, 'f', sizeof(chunk));
    for (size_t off = 0; fd >= 0 && off < FILE_SIZE; off += sizeof(chunk))
        if (pwrite(fd, chunk, sizeof(chunk), (off_t)off) != (ssize_t)sizeof(chunk))
            fd = -1;
    if (fd < 0 || fsync(fd) < 0) {
        perror(p);
        exit(1);
    }
    if (extra && !nvmmio_is_managed(fd)) {
        fprintf(stderr, "%s is not managed by the library\n", p);
        exit(1);
    }
    return fd;
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void must(int ok, const char *what)
{
    if (!ok) {
        perror(what);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: txbench tx|fsync2|nosync|kernel-fsync2 DIR SIZE ITERATIONS\n");
        return 2;
    }
    const char *mode = argv[1];
    size_t size = strtoul(argv[3], NULL, 0);
    long iters = atol(argv[4]);
    int extra = strcmp(mode, "kernel-fsync2") ? O_ATOMIC : 0;
    bool tx = !strcmp(mode, "tx"), sync2 = strstr(mode, "fsync2") != NULL;
    int a = open_file(argv[2], "A", extra), b = open_file(argv[2], "B", extra);
    char *buf = malloc(size);
    memset(buf, 'x', size);
    uint64_t blocks = FILE_SIZE / size, seed = 88172645463325252ull;
    uint64_t t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        off_t oa = (off_t)((seed % blocks) * size), ob = (off_t)(((seed >> 32) % blocks) * size);
        buf[0] = (char)i;
        if (tx)
            must(nvmmio_tx_begin() == 0, "nvmmio_tx_begin");
        must(pwrite(a, buf, size, oa) == (ssize_t)size, "pwrite");
        if (sync2)
            must(fsync(a) == 0, "fsync");
        must(pwrite(b, buf, size, ob) == (ssize_t)size, "pwrite");
        if (sync2)
            must(fsync(b) == 0, "fsync");
        if (tx)
            must(nvmmio_tx_commit() == 0, "nvmmio_tx_commit");
    }
    uint64_t t1 = now_ns();
    printf("%.0f\n", (double)(t1 - t0) / (double)iters);
    close(a);
    close(b);
    return 0;
}
