/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * counter.c - locks keep their meaning: two processes each add 1 to an
 * 8-byte counter N times (lock, pread, add, pwrite, unlock) with one kind
 * of lock (fcntl F_SETLKW, F_SETLK polled, OFD F_OFD_SETLKW, flock,
 * lockf), and fsync every 100 increments, under the lock (so the hybrid
 * policy turns to redo); both under the library ("lib") or one of them
 * without it ("mixed"). The counter must end at exactly 2N, as the kernel shows it and
 * as a process under the library reads it.
 *
 *   counter KIND lib|mixed N
 */
#include "share.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The child: opens the file, says "ready", waits for a byte on stdin,
 * counts, says "done". */
int counter_child(int argc, char **argv)
{
    if (argc != 3)
        fatal("counter child: KIND N PATH");
    int kind = lock_kind_of(argv[0]);
    long n = atol(argv[1]);
    int fd = child_ready(argv[2]);
    if (fd < 0)
        return 2;
    for (long i = 0; i < n; i++) {
        uint64_t v;
        int r = lock_take(fd, kind, true, 0, 8);
        if (r)
            fatal("lock: %s", strerror(-r));
        if (pread(fd, &v, 8, 0) != 8)
            fatal("pread: %s", strerror(errno));
        v++;
        if (pwrite(fd, &v, 8, 0) != 8)
            fatal("pwrite: %s", strerror(errno));
        if (i % 100 == 99 && fsync(fd))
            fatal("fsync: %s", strerror(errno));
        if ((r = lock_drop(fd, kind, 0, 8)))
            fatal("unlock: %s", strerror(-r));
    }
    close(fd);
    printf("done\n");
    return 0;
}

int test_counter(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "lib") && strcmp(argv[1], "mixed")))
        fatal("counter KIND lib|mixed N");
    const char *kind = argv[0];
    bool mixed = !strcmp(argv[1], "mixed");
    long n = atol(argv[2]);
    lock_kind_of(kind);
    char *path = root_path("counter");
    uint64_t zero = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
    if (fd < 0 || pwrite(fd, &zero, 8, 0) != 8 || close(fd))
        fatal("creating %s: %s", path, strerror(errno));

    struct child c[2];
    char count[32];
    snprintf(count, sizeof(count), "%ld", n);
    for (int i = 0; i < 2; i++) {
        char *args[] = {"nvmmio_share", "--child", "counter", (char *)kind, count, path, NULL};
        bool lib = i == 0 || !mixed;
        child_start(&c[i], lib ? "a counter under the library" : "a counter without the library",
                    lib, args, -1);
    }
    /* Both have opened the file before either counts. */
    if (!children_race(c, 2, 300))
        return 1;

    uint8_t *buf;
    size_t size = read_file(path, &buf);
    uint64_t v = 0;
    if (size != 8)
        fail("the counter file is %zu bytes, expected 8", size);
    else
        memcpy(&v, buf, 8);
    free(buf);
    if (v != (uint64_t)(2 * n))
        fail("%s locks, %s: the counter is %llu, expected %ld (%lld increments lost)", kind,
             mixed ? "one process with the library, one without" : "both under the library",
             (unsigned long long)v, 2 * n, (long long)(2 * n) - (long long)v);

    struct child a;
    struct model m = {0};
    uint64_t want = (uint64_t)(2 * n);
    model_truncate(&m, 8);
    memcpy(m.buf, &want, 8);
    actor_start(&a, "a reader under the library", true, -1);
    actor_do(&a, NULL, "open 0 %s r", path);
    actor_check_view(&a, 0, &m, "the counter read afterwards through the library");
    actor_do(&a, NULL, "exit");
    child_finish(&a);
    free(m.buf);
    printf("counter %s %s: %llu of %ld\n", kind, argv[1], (unsigned long long)v, 2 * n);
    free(path);
    return 0;
}
