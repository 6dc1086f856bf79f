/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ranges.c - publication takes only the library's own changes home: two
 * processes write 100-byte records over disjoint halves of one file, each
 * under an fcntl lock of its own half, and fsync after each round under
 * that lock; the halves meet inside a 4 KiB block. At each round a
 * process finds its previous round's records in its half: a publication
 * that wrote back the block of the other half's last record whole (a redo
 * record holds a copy of the whole block) would put back the bytes that
 * half had when the record was made. Both under the library ("lib") or
 * one of them without it ("mixed").
 *
 *   ranges lib|mixed ROUNDS
 */
#include "share.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HALF   16000 /* 3 blocks and 3712 bytes: the halves share a block */
#define RECORD 100

static int lock_half(int fd, short type, int half)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = half * HALF, .l_len = HALF};
    return fcntl(fd, F_SETLKW, &fl);
}

/* The record that round r of half `half` writes at its offset `at`. */
static void record(char *rec, int half, long r, long at)
{
    memset(rec, 'a' + half, RECORD);
    snprintf(rec, RECORD, "half %d round %06ld at %05ld", half, r, at);
}

/* Where half's range differs from round r's records, or -1. */
static long first_wrong(const char *buf, int half, long r)
{
    char want[RECORD];
    for (long at = 0; at + RECORD <= HALF; at += RECORD) {
        record(want, half, r, at);
        if (memcmp(buf + at, want, RECORD))
            return at;
    }
    return -1;
}

/* The child: says "ready", waits for a byte on stdin, writes its rounds,
 * says "done" or what it found wrong. */
int ranges_child(int argc, char **argv)
{
    if (argc != 3)
        fatal("ranges child: HALF ROUNDS PATH");
    int half = atoi(argv[0]);
    long rounds = atol(argv[1]);
    int fd = child_ready(argv[2]);
    if (fd < 0)
        return 2;
    static char buf[HALF];
    for (long r = 0; r < rounds; r++) {
        if (lock_half(fd, F_WRLCK, half))
            fatal("lock: %s", strerror(errno));
        if (pread(fd, buf, HALF, half * HALF) != HALF)
            fatal("pread: %s", strerror(errno));
        long wrong = r ? first_wrong(buf, half, r - 1) : -1;
        if (wrong >= 0) {
            printf("round %ld found \"%.26s\" at %ld, its own round %ld's record lost\n", r,
                   buf + wrong, half * HALF + wrong, r - 1);
            return 1;
        }
        for (long at = 0; at + RECORD <= HALF; at += RECORD) {
            record(buf, half, r, at);
            if (pwrite(fd, buf, RECORD, half * HALF + at) != RECORD)
                fatal("pwrite: %s", strerror(errno));
        }
        if (fsync(fd))
            fatal("fsync: %s", strerror(errno));
        if (lock_half(fd, F_UNLCK, half))
            fatal("unlock: %s", strerror(errno));
        usleep(200);
    }
    close(fd);
    printf("done\n");
    return 0;
}

int test_ranges(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[0], "lib") && strcmp(argv[0], "mixed")))
        fatal("ranges lib|mixed ROUNDS");
    bool mixed = !strcmp(argv[0], "mixed");
    long rounds = atol(argv[1]);
    char *path = root_path("ranges");
    static char zeros[4 * HALF];
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
    if (fd < 0 || pwrite(fd, zeros, sizeof(zeros), 0) != (ssize_t)sizeof(zeros) || close(fd))
        fatal("creating %s: %s", path, strerror(errno));

    struct child c[2];
    for (int i = 0; i < 2; i++) {
        char half[8];
        snprintf(half, sizeof(half), "%d", i);
        char *args[] = {"nvmmio_share", "--child", "ranges", half, argv[1], path, NULL};
        bool lib = i == 0 || !mixed;
        child_start(&c[i], lib ? "a writer under the library" : "a writer without the library", lib,
                    args, -1);
    }
    if (!children_race(c, 2, 300))
        return 1;

    uint8_t *buf;
    size_t size = read_file(path, &buf);
    if (size != sizeof(zeros))
        fail("the file is %zu bytes, expected %zu", size, sizeof(zeros));
    for (int half = 0; half < 2 && size == sizeof(zeros); half++) {
        long wrong = first_wrong((const char *)buf + half * HALF, half, rounds - 1);
        if (wrong >= 0)
            fail("afterwards, half %d lacks its last round's record at %ld", half,
                 half * HALF + wrong);
    }
    free(buf);
    printf("ranges %s: %ld rounds a half\n", argv[0], rounds);
    free(path);
    return 0;
}
