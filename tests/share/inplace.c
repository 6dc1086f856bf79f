/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * inplace.c - writes in place of a shared file are atomic to each other
 * and to reads. Processes under the library write a shared file without
 * its lock once the blocks they write are logged in the running epoch
 * (share.h); reads of other processes must never see part of one.
 *
 * A 4 MiB file of 16 KiB records, zeros at first, kept open by a process
 * under the library from the start to the end. Two writers under the
 * library, one of six threads (more than a process's saves: some of its
 * writes take the lock) and one of one, write whole records at random (all
 * over every record, so they meet), each record's every 8-byte word
 * holding the writer, its thread and its count, and fsync
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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILE_SIZE    (4u << 20)
#define RECORD       (16u << 10)
#define RECORDS      (FILE_SIZE / RECORD)
#define READ_AT_MOST 8 /* records */

struct inplace_run {
    int fd;
    uint64_t id; /* the writer's, and its thread's in the low bits */
    double end;
    uint64_t count;
    char torn[96]; /* the first torn record a reader read */
};

static void *inplace_loop(void *arg)
{
    struct inplace_run *w = arg;
    uint8_t *buf = xcalloc(READ_AT_MOST, RECORD);
    uint64_t rng = mix64(w->id + 1 + (uint64_t)getpid());
    while (now_s() < w->end && !w->torn[0]) {
        uint64_t r = rnd(&rng) % RECORDS;
        if (w->id) {
            uint64_t word = w->id << 40 | ++w->count;
            for (size_t i = 0; i < RECORD; i += 8)
                memcpy(buf + i, &word, 8);
            if (pwrite(w->fd, buf, RECORD, (off_t)(r * RECORD)) != RECORD)
                fatal("pwrite: %s", strerror(errno));
            if (w->count % 4096 == 0 && fsync(w->fd) != 0)
                fatal("fsync: %s", strerror(errno));
            continue;
        }
        uint64_t n = 1 + rnd(&rng) % READ_AT_MOST;
        if (r + n > RECORDS)
            n = RECORDS - r;
        if (pread(w->fd, buf, n * RECORD, (off_t)(r * RECORD)) != (ssize_t)(n * RECORD))
            fatal("pread: %s", strerror(errno));
        for (uint64_t k = 0; k < n; k++) {
            size_t at = words_differ_at(buf + k * RECORD, RECORD);
            if (at)
                snprintf(w->torn, sizeof(w->torn), "torn record %llu at +%zu",
                         (unsigned long long)(r + k), at);
        }
        w->count++;
    }
    free(buf);
    return NULL;
}

/* inplace writer ID THREADS PATH SECONDS, or inplace reader PATH SECONDS:
 * prints its count of writes or reads, or the first torn record it read. */
int inplace_child(int argc, char **argv)
{
    bool writer = argc == 5 && !strcmp(argv[0], "writer");
    if (!writer && !(argc == 3 && !strcmp(argv[0], "reader")))
        fatal("inplace child: writer ID THREADS PATH SECONDS | reader PATH SECONDS");
    int threads = writer ? atoi(argv[2]) : 1;
    const char *path = argv[writer ? 3 : 1];
    int fd = open(path, writer ? O_RDWR : O_RDONLY);
    if (fd < 0 || threads < 1 || threads > 16)
        fatal("open %s: %s", path, fd < 0 ? strerror(errno) : "1 to 16 threads");
    struct inplace_run w[16];
    pthread_t t[16];
    uint64_t count = 0;
    for (int i = 0; i < threads; i++) {
        w[i] = (struct inplace_run){fd, writer ? (uint64_t)atoi(argv[1]) << 8 | (uint64_t)i : 0,
                                    now_s() + atof(argv[writer ? 4 : 2]), 0, ""};
        if (pthread_create(&t[i], NULL, inplace_loop, &w[i]))
            fatal("pthread_create failed");
    }
    const char *torn = NULL;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        count += w[i].count;
        torn = torn ? torn : w[i].torn[0] ? w[i].torn : NULL;
    }
    if (torn)
        printf("%s\n", torn);
    else
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
        /* Writer 1 runs six threads: more writes in place at once than a
         * process has saves, so some take the lock. */
        char *wargs[] = {"nvmmio_share", "--child", "inplace", "writer", id,
                         i ? "1" : "6",  path,      argv[0],   NULL};
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
        size_t at = words_differ_at(seen + r * RECORD, RECORD);
        if (at)
            fail("the kernel shows record %llu torn at +%zu", (unsigned long long)r, at);
    }
    free(seen);
    actor_do(&k, NULL, "close 0");
    child_finish(&k);
    free(path);
    return run.failures ? 1 : 0;
}
