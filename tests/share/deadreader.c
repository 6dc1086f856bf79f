/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * deadreader.c - a reader killed in the middle of a read of a shared file
 * holds up no writer. Processes read a shared file without its lock, and a
 * writer waits for the reads in flight (share.h): one whose process died,
 * or is a zombie its parent has not reaped yet, must not be waited for.
 *
 * A writer under the library keeps a 16 MiB file open; a reader under the
 * library reads all of it again and again. The reader is killed with
 * SIGKILL at a random moment (most of its time is spent inside a read)
 * and left unreaped while the writer overwrites a page and fsyncs, which
 * must end within the actor's reply wait (a hang fails the test); then the
 * reader is reaped. KILLS rounds; at the end the kernel's view of the file
 * must be the writer's.
 *
 *   deadreader KILLS
 */
#include "share.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FILE_SIZE (16u << 20)

int deadreader_child(int argc, char **argv)
{
    if (argc != 1)
        fatal("deadreader child: PATH");
    int fd = open(argv[0], O_RDONLY);
    if (fd < 0)
        fatal("open %s: %s", argv[0], strerror(errno));
    uint8_t *buf = xcalloc(1, FILE_SIZE);
    for (bool told = false;; told = true) {
        if (pread(fd, buf, FILE_SIZE, 0) != (ssize_t)FILE_SIZE)
            fatal("pread: %s", strerror(errno));
        if (!told && printf("R\n") < 0)
            return 1;
        fflush(stdout);
    }
}

int test_deadreader(int argc, char **argv)
{
    if (argc != 1)
        fatal("deadreader KILLS");
    int kills = atoi(argv[0]);
    char *path = root_path("shared");
    struct child w;
    struct model m = {0};
    actor_start(&w, "the writer", true, -1);
    if (!actor_do(&w, NULL, "open 0 %s c", path) ||
        !actor_do(&w, NULL, "append 0 %u %llu", FILE_SIZE, 1ull))
        return 1;
    model_write(&m, 0, FILE_SIZE, 1);
    uint64_t rng = run.seed;
    for (int k = 0; k < kills && run.failures == 0; k++) {
        struct child r;
        char *args[] = {"nvmmio_share", "--child", "deadreader", path, NULL};
        child_start(&r, "the reader", true, args, -1);
        char line[16];
        if (!child_line(&r, line, sizeof(line), 60.0)) {
            fail("the reader did not read the file");
            child_kill(&r);
            break;
        }
        struct timespec nap = {0, (long)(rnd(&rng) % 20000000)};
        nanosleep(&nap, NULL);
        kill(r.pid, SIGKILL); /* not reaped: a zombie while the writer writes */
        uint64_t off = (rnd(&rng) % (FILE_SIZE / 4096)) * 4096, key = 2 + (uint64_t)k;
        if (!actor_do(&w, NULL, "pwrite 0 %llu 4096 %llu", (unsigned long long)off,
                      (unsigned long long)key) ||
            !actor_do(&w, NULL, "fsync 0"))
            fail("after the reader's death in round %d, the writer's write failed", k + 1);
        model_write(&m, off, 4096, key);
        child_kill(&r);
    }
    model_check_kernel(&m, path, "after the readers' deaths");
    actor_do(&w, NULL, "close 0");
    child_finish(&w);
    printf("deadreader: %d readers killed\n", kills);
    free(m.buf);
    free(path);
    return 0;
}
