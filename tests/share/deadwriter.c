/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * deadwriter.c - a writer killed in the middle of a write in place of a
 * shared file leaves it whole. A process writes a shared file in place,
 * without the file's lock, once the blocks it writes are logged in the
 * running epoch (share.h): the next process to take the range must finish
 * a write that a dead process left half done.
 *
 * A process under the library (the keeper) keeps a 4 MiB file open. A
 * writer under the library writes the same 16 KiB again and again, across
 * a 2 MiB boundary (two range locks), each time every 8-byte word holding
 * the write's number; it is killed with SIGKILL at a random moment (most
 * of its time is spent inside a write). Then the keeper reads the file,
 * which must show one write's words over the whole 16 KiB and the keeper's
 * bytes elsewhere, and fsyncs; the kernel must show the same. KILLS rounds.
 *
 *   deadwriter KILLS
 */
#include "share.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FILE_SIZE  (4u << 20)
#define WRITE_OFF  ((2u << 20) - (8u << 10))
#define WRITE_SIZE (16u << 10)

int deadwriter_child(int argc, char **argv)
{
    if (argc != 1)
        fatal("deadwriter child: PATH");
    int fd = open(argv[0], O_RDWR);
    if (fd < 0)
        fatal("open %s: %s", argv[0], strerror(errno));
    uint64_t words[WRITE_SIZE / 8];
    for (uint64_t n = 1;; n++) {
        for (size_t i = 0; i < WRITE_SIZE / 8; i++)
            words[i] = n;
        if (pwrite(fd, words, WRITE_SIZE, WRITE_OFF) != (ssize_t)WRITE_SIZE)
            fatal("pwrite: %s", strerror(errno));
        if (n == 2 && (printf("W\n") < 0 || fflush(stdout) != 0))
            return 1;
    }
}

/* The write's words over [WRITE_OFF, +WRITE_SIZE) of buf are one write's:
 * its number into *n; the rest is the model's. */
static bool check_bytes(const struct model *m, uint8_t *buf, size_t size, uint64_t *n,
                        const char *when)
{
    if (size != m->size) {
        fail("%s: %zu bytes read, expected %zu", when, size, m->size);
        return false;
    }
    uint64_t first, w;
    memcpy(&first, buf + WRITE_OFF, 8);
    size_t at = words_differ_at(buf + WRITE_OFF, WRITE_SIZE);
    if (at) {
        memcpy(&w, buf + WRITE_OFF + at, 8);
        fail("%s: the write is torn: word %llu at +%zu, %llu at +0", when, (unsigned long long)w,
             at, (unsigned long long)first);
        return false;
    }
    *n = first;
    memcpy(buf + WRITE_OFF, m->buf + WRITE_OFF, WRITE_SIZE);
    return model_check(m, buf, size, when);
}

int test_deadwriter(int argc, char **argv)
{
    if (argc != 1)
        fatal("deadwriter KILLS");
    int kills = atoi(argv[0]);
    char *path = root_path("shared");
    struct child k;
    struct model m = {0};
    actor_start(&k, "the keeper", true, -1);
    if (!actor_do(&k, NULL, "open 0 %s c", path) ||
        !actor_do(&k, NULL, "append 0 %u %llu", FILE_SIZE, 1ull) || !actor_do(&k, NULL, "fsync 0"))
        return 1;
    model_write(&m, 0, FILE_SIZE, 1);
    uint64_t rng = run.seed, last = 0;
    for (int r = 0; r < kills && run.failures == 0; r++) {
        struct child w;
        char *args[] = {"nvmmio_share", "--child", "deadwriter", path, NULL};
        child_start(&w, "the writer", true, args, -1);
        char line[16];
        if (!child_line(&w, line, sizeof(line), 60.0)) {
            fail("the writer did not write the file");
            child_kill(&w);
            break;
        }
        struct timespec nap = {0, (long)(rnd(&rng) % 5000000)};
        nanosleep(&nap, NULL);
        child_kill(&w);
        char when[64];
        snprintf(when, sizeof(when), "after the writer's death in round %d", r + 1);
        long long v[3] = {0, 0, 0};
        if (!actor_do(&k, v, "view 0"))
            break;
        uint8_t *buf = xcalloc(1, (size_t)v[2] + 1);
        if (!child_bytes(&k, buf, (size_t)v[2], 60.0))
            fatal("the keeper did not send the file's bytes");
        check_bytes(&m, buf, (size_t)v[2], &last, when);
        if (!actor_do(&k, NULL, "fsync 0"))
            fail("%s: the keeper's fsync failed", when);
        free(buf);
        uint8_t *seen;
        size_t size = read_file(path, &seen);
        uint64_t n = 0;
        if (check_bytes(&m, seen, size, &n, "the kernel's view") && n != last)
            fail("%s: the kernel shows write %llu, the keeper read %llu", when,
                 (unsigned long long)n, (unsigned long long)last);
        free(seen);
    }
    actor_do(&k, NULL, "close 0");
    child_finish(&k);
    printf("deadwriter: %d writers killed\n", kills);
    free(m.buf);
    free(path);
    return run.failures ? 1 : 0;
}
