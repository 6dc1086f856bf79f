/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * enospc.c - running out of space is ENOSPC at the call, with the epoch
 * intact: every write that succeeded stays (the one that fills the file
 * system is short, as the kernel's), the failed one leaves no trace,
 * fsync and close still work, and the file reads back the same without the
 * library. Files that the library shares with another process need room
 * too (a share block, and its save area for writes in place): on a full
 * file system an open held a while and a shared file's write get ENOSPC
 * or succeed, never SIGBUS. Run on a small file system (see
 * run_enospc.sh).
 *
 * Usage: nvmmio_enospc DIR   (DIR is a pmem root of a few MiB)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libnvmmio.h"

#define CHUNK (128 * 1024)

static int check(int ok, const char *what)
{
    if (!ok)
        fprintf(stderr, "enospc: FAILED: %s (errno %d)\n", what, errno);
    return ok ? 0 : 1;
}

/* Reads the file through the kernel and compares it with the model. */
static int same_as(const char *path, const char *model, size_t size, int raw)
{
    int fd = raw ? (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY) : open(path, O_RDONLY);
    char *buf = malloc(size + 1);
    ssize_t n = raw ? syscall(SYS_pread64, fd, buf, size + 1, 0) : pread(fd, buf, size + 1, 0);
    int ok = fd >= 0 && buf && n == (ssize_t)size && memcmp(buf, model, size) == 0;
    free(buf);
    if (raw)
        syscall(SYS_close, fd);
    else
        close(fd);
    return ok;
}

#define SHARED_SIZE  (400 * 1000)
#define SHARED_WRITE (160 * 1000)

/* A child that keeps `path` open until told to go, so that the parent's
 * file is served by two processes; its pid, or -1. */
static pid_t keep_open_elsewhere(const char *path, int *go)
{
    int ready[2], wait_go[2];
    if (pipe(ready) || pipe(wait_go))
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(wait_go[1]); /* so that the parent's close ends the wait */
        int fd = open(path, O_RDWR);
        char c = fd >= 0 ? 'J' : 'E';
        if (write(ready[1], &c, 1) != 1 || read(wait_go[0], &c, 1) < 0)
            _exit(2);
        _exit(0);
    }
    char c = 0;
    close(ready[1]);
    close(wait_go[0]);
    if (pid < 0 || read(ready[0], &c, 1) != 1 || c != 'J')
        return -1;
    close(ready[0]);
    *go = wait_go[1];
    return pid;
}

static void nap_ms(long ms)
{
    struct timespec t = {0, ms * 1000000};
    nanosleep(&t, NULL);
}

/* The file system is full: a file opened and held past the moment its
 * share block is made, and a write in place of a file another process
 * serves (it saves the bytes it overwrites in the block), both work. */
static int shared_on_full(const char *held_path, int shared_fd, char *shared_model)
{
    char *buf = malloc(SHARED_WRITE);
    memset(buf, 'x', SHARED_WRITE);
    ssize_t n = pwrite(shared_fd, buf, SHARED_WRITE, SHARED_SIZE / 2);
    int bad = check(n == SHARED_WRITE || (n < 0 && errno == ENOSPC),
                    "a shared file's write on a full file system: done or ENOSPC");
    if (n == SHARED_WRITE)
        memcpy(shared_model + SHARED_SIZE / 2, buf, SHARED_WRITE);
    char *back = malloc(SHARED_SIZE);
    bad |= check(pread(shared_fd, back, SHARED_SIZE, 0) == SHARED_SIZE &&
                     memcmp(back, shared_model, SHARED_SIZE) == 0,
                 "the shared file reads back");
    int fd = open(held_path, O_RDWR);
    nap_ms(50);
    bad |= check(fd >= 0 && pread(fd, back, 4096, 0) == 4096 && back[0] == 'g' && back[4095] == 'g',
                 "a file held open on a full file system reads");
    close(fd);
    free(buf);
    free(back);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    char path[4096], held_path[4096], shared_path[4096];
    snprintf(held_path, sizeof(held_path), "%s/held", argv[1]);
    snprintf(shared_path, sizeof(shared_path), "%s/shared", argv[1]);
    char *shared_model = malloc(SHARED_SIZE);
    memset(shared_model, 'd', SHARED_SIZE);
    int gfd = open(held_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int sfd = open(shared_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    memset(path, 'g', 4096);
    if (gfd < 0 || sfd < 0 || write(gfd, path, 4096) != 4096 || close(gfd) ||
        write(sfd, shared_model, SHARED_SIZE) != SHARED_SIZE || fsync(sfd))
        return check(0, "setting up the shared files");
    int go = -1;
    pid_t keeper = keep_open_elsewhere(shared_path, &go);
    if (keeper < 0)
        return check(0, "a second process opening the shared file");
    snprintf(path, sizeof(path), "%s/f", argv[1]);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int bad = check(fd >= 0 && nvmmio_is_managed(fd), "managed open");
    if (bad)
        return 1;
    size_t cap = 64 << 20, size = 0;
    char *model = calloc(1, cap), *chunk = malloc(CHUNK);
    unsigned seed = 1;
    /* Append until the file system is full. */
    for (;;) {
        for (size_t i = 0; i < CHUNK; i++)
            chunk[i] = (char)(seed = seed * 1103515245 + 12345) >> 16;
        ssize_t n = write(fd, chunk, CHUNK);
        if (n < 0) {
            bad |= check(errno == ENOSPC, "append fails with ENOSPC");
            break;
        }
        /* As the kernel's, the write that fills the file system is short. */
        bad |= check(n > 0 && n <= CHUNK && size + CHUNK <= cap, "append writes what fits");
        memcpy(model + size, chunk, (size_t)n);
        size += (size_t)n;
        if (size % (8 * CHUNK) == 0)
            bad |= check(fsync(fd) == 0, "fsync while filling");
    }
    bad |= check(size > 0, "something was written before the file system filled");
    bad |= shared_on_full(held_path, sfd, shared_model);
    close(go);
    int status;
    bad |= check(waitpid(keeper, &status, 0) == keeper && WIFEXITED(status) &&
                     WEXITSTATUS(status) == 0,
                 "the second process ends well");
    bad |= check(close(sfd) == 0 && same_as(shared_path, shared_model, SHARED_SIZE, 1),
                 "the shared file after its close");
    free(shared_model);
    bad |= check(same_as(path, model, size, 0), "contents after the failed append");
    bad |= check(lseek(fd, 0, SEEK_END) == (off_t)size, "size after the failed append");
    /* Overwrites need log space too: each fails whole or succeeds whole. */
    for (size_t off = 0; off + CHUNK <= size; off += CHUNK) {
        memset(chunk, (int)(off / CHUNK) & 0xff, CHUNK);
        ssize_t n = pwrite(fd, chunk, CHUNK, (off_t)off);
        if (n < 0) {
            bad |= check(errno == ENOSPC, "overwrite fails with ENOSPC");
            continue;
        }
        bad |= check(n == CHUNK, "overwrite writes everything");
        memcpy(model + off, chunk, CHUNK);
    }
    bad |= check(same_as(path, model, size, 0), "contents after overwrites");
    bad |= check(fsync(fd) == 0, "fsync after ENOSPC");
    bad |= check(close(fd) == 0, "close after ENOSPC");
    bad |= check(same_as(path, model, size, 1), "raw contents after close");
    printf("enospc: %zu bytes written before the file system filled: %s\n", size,
           bad ? "FAILED" : "ok");
    free(model);
    free(chunk);
    return bad;
}
