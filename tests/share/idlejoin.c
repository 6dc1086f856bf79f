/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * idlejoin.c - a process joins one that opened the file and then makes no
 * call. The first process to serve a file makes its share block a moment
 * after the open, from its helper thread, not at the open (README,
 * "Processes sharing a file"); a process that opens the file before or
 * after that moment must be served by the library as a sharer, never left
 * to the kernel, and see the other's writes at once, as threads do.
 *
 * Each round: actor A (under the library) makes a file and appends to it
 * without an fsync, then waits; actor B (under the library) opens the file,
 * at once in even rounds and after 50 ms in odd ones, must be served by the
 * library, and must see A's bytes and size (every fourth round, A first
 * starts a program with posix_spawn, which settles A's file); B writes,
 * and A must see B's bytes; both close, and the file as the kernel shows
 * it must hold both.
 *
 *   idlejoin ROUNDS
 */
#include "share.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void nap_ms(long ms)
{
    struct timespec t = {0, ms * 1000000L};
    nanosleep(&t, NULL);
}

static void round_once(struct child *a, struct child *b, int k)
{
    char name[32];
    snprintf(name, sizeof(name), "idle-%d", k);
    char *path = root_path(name);
    struct model m = {0};
    long long out[4];
    if (!actor_do(a, NULL, "open 0 %s c", path) ||
        !actor_do(a, NULL, "append 0 5000 %d", 2 * k + 1))
        goto done;
    model_write(&m, 0, 5000, (uint64_t)(2 * k + 1));
    if (k % 2)
        nap_ms(50);
    /* A program spawned meanwhile settles A's file (a hand-over), which
     * must leave it open to B still. */
    if (k % 4 == 3 && !actor_do(a, NULL, "spawn 0"))
        goto done;
    if (!actor_do(b, NULL, "open 0 %s", path) || !actor_do(b, out, "managed 0"))
        goto done;
    if (out[0] != 1)
        fail("round %d: the second process was left to the kernel", k);
    if (!actor_check_view(b, 0, &m, "the second process, after its open"))
        goto done;
    if (!actor_do(b, NULL, "pwrite 0 1000 3000 %d", 2 * k + 2))
        goto done;
    model_write(&m, 1000, 3000, (uint64_t)(2 * k + 2));
    if (!actor_check_view(a, 0, &m, "the first process, after the second one wrote"))
        goto done;
    actor_do(b, NULL, "close 0");
    actor_do(a, NULL, "close 0");
    model_check_kernel(&m, path, "after both closed");
done:
    free(m.buf);
    free(path);
}

int test_idlejoin(int argc, char **argv)
{
    if (argc != 1)
        fatal("idlejoin ROUNDS");
    int rounds = atoi(argv[0]);
    struct child a, b;
    actor_start(&a, "the first process", true, -1);
    actor_start(&b, "the second process", true, -1);
    for (int k = 0; k < rounds && run.failures == 0; k++)
        round_once(&a, &b, k);
    actor_do(&a, NULL, "exit");
    actor_do(&b, NULL, "exit");
    child_finish(&a);
    child_finish(&b);
    printf("idlejoin: %d rounds\n", rounds);
    return run.failures ? 1 : 0;
}
