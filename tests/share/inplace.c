/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * inplace.c - writes in place of a shared file are atomic to each other
 * and to reads. Processes under the library write a shared file without
 * its lock once the blocks they write are logged in the running epoch
 * (share.h); reads of other processes must never see part of one.
 *
 * A 4 MiB file of 16 KiB records, zeros at first, kept open by a process
 * under the library from the start to the end. Two writers under the library write
 * whole records at random (both over every record, so they meet), each
 * record's every 8-byte word holding the writer and its count, and fsync
 * now and then (a commit, which waits for the writes in place); a reader
 * under the library reads records at random, a record at a time and eight
 * at once. Every record read must be one write's words; at the end, so
 * must every record the kernel shows. SECONDS long.
 *
 *   inplace SECONDS
 */
#include "share.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILE_SIZE    (4u << 20)
#define RECORD       (16u << 10)
#define RECORDS      (FILE_SIZE / RECORD)
#define READ_AT_MOST 8 /* records */

/* Whether the record at rec is one write's words (the file's first zeros
 * included); where it is torn into *at when not. */
static bool record_whole(const uint8_t *rec, size_t *at)
{
    for (size_t i = 8; i < RECORD; i += 8) {
        if (memcmp(rec, rec + i, 8)) {
            *at = i;
            return false;
        }
    }
    return true;
}

/* inplace-writer ID PATH SECONDS, or inplace-reader PATH SECONDS: prints
 * its count of writes or reads, or the first torn record it read. */
int inplace_child(int argc, char **argv)
{
    bool writer = argc == 4 && !strcmp(argv[0], "writer");
    if (!writer && !(argc == 3 && !strcmp(argv[0], "reader")))
        fatal("inplace child: writer ID PATH SECONDS | reader PATH SECONDS");
    uint64_t id = writer ? (uint64_t)atoi(argv[1]) : 0;
    const char *path = argv[writer ? 2 : 1];
    double end = now_s() + atof(argv[writer ? 3 : 2]);
    int fd = open(path, writer ? O_RDWR : O_RDONLY);
    if (fd < 0)
        fatal("open %s: %s", path, strerror(errno));
    uint8_t *buf = xcalloc(READ_AT_MOST, RECORD);
    uint64_t rng = mix64(id + 1 + (uint64_t)getpid()), count = 0;
    while (now_s() < end) {
        uint64_t r = rnd(&rng) % RECORDS;
        if (writer) {
            uint64_t word = id << 48 | ++count;
            for (size_t i = 0; i < RECORD; i += 8)
                memcpy(buf + i, &word, 8);
            if (pwrite(fd, buf, RECORD, (off_t)(r * RECORD)) != RECORD)
                fatal("pwrite: %s", strerror(errno));
            if (count % 4096 == 0 && fsync(fd) != 0)
                fatal("fsync: %s", strerror(errno));
            continue;
        }
        uint64_t n = 1 + rnd(&rng) % READ_AT_MOST;
        if (r + n > RECORDS)
            n = RECORDS - r;
        if (pread(fd, buf, n * RECORD, (off_t)(r * RECORD)) != (ssize_t)(n * RECORD))
            fatal("pread: %s", strerror(errno));
        for (uint64_t k = 0; k < n; k++) {
            size_t at = 0;
            if (!record_whole(buf + k * RECORD, &at)) {
                printf("torn record %llu at +%zu\n", (unsigned long long)(r + k), at);
                return 0;
            }
        }
        count++;
    }
    printf("%llu\n", (unsigned long long)count);
    return 0;
}

int test_inplace(int argc, char **argv)
{
    if (argc != 1)
        fatal("inplace SECONDS");
    char *path = root_path("shared");
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
    if (fd < 0 || ftruncate(fd, FILE_SIZE) != 0 || close(fd) != 0)
        fatal("making %s: %s", path, strerror(errno));
    struct child k;
    actor_start(&k, "the keeper", true, -1);
    if (!actor_do(&k, NULL, "open 0 %s", path))
        return 1;
    struct child c[3];
    const char *names[3] = {"writer 1", "writer 2", "the reader"};
    for (int i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof(id), "%d", i + 1);
        char *wargs[] = {"nvmmio_share", "--child", "inplace", "writer", id, path, argv[0], NULL};
        char *rargs[] = {"nvmmio_share", "--child", "inplace", "reader", path, argv[0], NULL};
        child_start(&c[i], names[i], true, i < 2 ? wargs : rargs, -1);
    }
    for (int i = 0; i < 3; i++) {
        char line[128];
        if (!child_line(&c[i], line, sizeof(line), atof(argv[0]) + 60.0))
            fail("%s ended without its count", names[i]);
        else if (!strncmp(line, "torn", 4))
            fail("%s read a %s", names[i], line);
        else
            printf("inplace: %s: %s %s\n", names[i], line, i < 2 ? "writes" : "reads");
        int status = child_finish(&c[i]);
        if (status != 0) {
            describe_status(line, sizeof(line), status);
            fail("%s %s", names[i], line);
        }
    }
    if (!actor_do(&k, NULL, "fsync 0"))
        fail("the keeper's fsync failed");
    uint8_t *seen;
    size_t size = read_file(path, &seen);
    if (size != FILE_SIZE)
        fail("the kernel shows %zu bytes, expected %u", size, FILE_SIZE);
    for (uint64_t r = 0; r < RECORDS && r * RECORD + RECORD <= size; r++) {
        size_t at = 0;
        if (!record_whole(seen + r * RECORD, &at))
            fail("the kernel shows record %llu torn at +%zu", (unsigned long long)r, at);
    }
    free(seen);
    actor_do(&k, NULL, "close 0");
    child_finish(&k);
    free(path);
    return run.failures ? 1 : 0;
}
