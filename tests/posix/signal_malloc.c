/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * signal_malloc.c - a signal handler that writes to a managed file while
 * its thread is inside malloc.
 *
 * write and pwrite are async-signal-safe: a handler may call them whatever
 * the thread it interrupted was doing, also allocating memory. The C
 * library's malloc is not reentrant (the interrupted call holds its arena's
 * lock), so the library must serve such a write without it. This program
 * wraps malloc, calloc, realloc and free, raises the signal from inside
 * the wrapper, and has the handler write to places that make the library
 * grow what it keeps of the file: new index regions far apart (new radix
 * tables), storage over holes (the chunk bitmap, the spare pages), and
 * writes of many blocks (a large plan). Any allocation the library makes
 * from the handler comes back through the wrappers while the outer one is
 * still in progress and is counted. The bytes are checked afterwards.
 *
 * It works in a fresh directory under /dev/shm, its root, and removes it.
 * Exit 0 when no allocation nested, 1 otherwise, 77 where it cannot run.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libnvmmio.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

#if !SANITIZED
#define ROUNDS    24
#define FAR_APART ((off_t)96 << 20) /* a new level-2 radix table every few */
#define BIG_WRITE (40 << 10)        /* ten 4 KiB blocks: more than a plan keeps on the stack */

void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

static volatile sig_atomic_t in_malloc, raise_next, nested, handled;
static int fd;
static char block[BIG_WRITE];

static off_t place(int round)
{
    return (off_t)round * FAR_APART + (round % 3) * 4096;
}

static void on_signal(int sig)
{
    (void)sig;
    int round = handled;
    memset(block, 'a' + round % 26, sizeof(block));
    size_t len = round % 2 ? BIG_WRITE : 4096;
    if (pwrite(fd, block, len, place(round)) != (ssize_t)len)
        nested += 1000; /* reported as a failure below */
    handled = round + 1;
}

/* Every entry: an allocation that starts while another is in progress
 * came from the handler. The one marked raises the signal half-way. */
static void enter(void)
{
    if (in_malloc)
        nested++;
    in_malloc = 1;
    if (raise_next) {
        raise_next = 0;
        raise(SIGUSR1);
    }
}

void *malloc(size_t n)
{
    enter();
    void *p = __libc_malloc(n);
    in_malloc = 0;
    return p;
}

void *calloc(size_t n, size_t size)
{
    enter();
    void *p = __libc_calloc(n, size);
    in_malloc = 0;
    return p;
}

void *realloc(void *old, size_t n)
{
    enter();
    void *p = __libc_realloc(old, n);
    in_malloc = 0;
    return p;
}

void free(void *p)
{
    enter();
    __libc_free(p);
    in_malloc = 0;
}

static int check_bytes(void)
{
    static char got[BIG_WRITE];
    for (int round = 0; round < ROUNDS; round++) {
        size_t len = round % 2 ? BIG_WRITE : 4096;
        if (pread(fd, got, len, place(round)) != (ssize_t)len) {
            fprintf(stderr, "signal_malloc: pread of round %d: %s\n", round, strerror(errno));
            return 1;
        }
        for (size_t i = 0; i < len; i++)
            if (got[i] != 'a' + round % 26) {
                fprintf(stderr, "signal_malloc: round %d: byte %zu differs\n", round, i);
                return 1;
            }
    }
    return 0;
}

static int run(const char *path)
{
    if (!nvmmio_is_managed(fd) || pwrite(fd, "x", 1, 0) != 1) {
        fprintf(stderr, "signal_malloc: %s is not a managed file\n", path);
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    for (int round = 0; round < ROUNDS; round++) {
        raise_next = 1;
        char *p = malloc(64);
        free(p);
        if (handled != round + 1) {
            fprintf(stderr, "signal_malloc: the handler did not run in round %d\n", round);
            return 1;
        }
        if (round % 4 == 3 && fsync(fd) != 0) /* new epochs: records again */
            return 1;
    }
    int rc = nested ? 1 : check_bytes();
    if (nested)
        fprintf(stderr,
                "signal_malloc: the library allocated %d times from a handler that "
                "interrupted malloc%s\n",
                nested % 1000, nested >= 1000 ? " (and a write failed)" : "");
    return rc;
}

#endif

int main(void)
{
#if SANITIZED
    puts("signal_malloc: skipped: the sanitizer's runtime owns malloc");
    return 77;
#else
    char dir[] = "/dev/shm/nvmmio-signal-malloc.XXXXXX", path[64];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    setenv("NVMMIO_PATH", dir, 1);
    snprintf(path, sizeof(path), "%s/file", dir);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int rc = fd < 0 ? 2 : run(path);
    if (fd >= 0)
        close(fd);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "signal_malloc: could not remove %s\n", dir);
    return rc;
#endif
}
