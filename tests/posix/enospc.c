/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * enospc.c - running out of space is ENOSPC at the call, with the epoch
 * intact: every write that succeeded stays (the one that fills the file
 * system is short, as the kernel's), the failed one leaves no trace,
 * fsync and close still work, and the file reads back the same without the
 * library. Run on a small file system (see run_enospc.sh).
 *
 * Usage: nvmmio_enospc DIR   (DIR is a pmem root of a few MiB)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
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

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    char path[4096];
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
