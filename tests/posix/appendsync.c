/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * appendsync.c - a log-like file under the library (preloaded,
 * NVMMIO_PATH=DIR): appends of every length followed by fsync or fdatasync
 * after every one or every few, mixed with rewrites of the last bytes,
 * truncations by a little (down, and up over a hole), writes past the end
 * and closing and opening again. At every durability point the file as the
 * kernel shows it (raw system calls, past the library) must have the
 * program's size exactly, no preallocated tail, and the program's bytes at
 * its end and at a random place; at the end the whole file is compared.
 *
 *   nvmmio_appendsync DIR SEED OPS
 *
 * Exit status 0 when all agree, 1 at the first difference (reported on
 * stdout), 2 on a setup error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_SIZE  (4 << 20)
#define MAX_WRITE 20000
#define TAIL_SPAN 8192

static uint64_t rng;
static unsigned char *expect; /* the file as the program wrote it */
static uint64_t size, op_no;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("appendsync: operation %llu: ", (unsigned long long)op_no);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    exit(1);
}

static uint64_t next(uint64_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return n ? rng % n : 0;
}

/* Append lengths as logs have them: mostly small records, some a page
 * or a little either side of one, a few large. */
static uint64_t append_len(void)
{
    switch (next(4)) {
    case 0:
        return 1 + next(64);
    case 1:
        return 64 + next(400);
    case 2:
        return 4095 + next(3);
    default:
        return 1 + next(MAX_WRITE);
    }
}

static uint64_t kernel_size(int fd)
{
    struct stat st;
    if (syscall(SYS_fstat, fd, &st) != 0)
        fail("raw fstat: %s", strerror(errno));
    return (uint64_t)st.st_size;
}

static void kernel_bytes_agree(int fd, uint64_t off, uint64_t n)
{
    static unsigned char got[MAX_WRITE > TAIL_SPAN ? MAX_WRITE : TAIL_SPAN];
    while (n > 0) {
        uint64_t piece = n < sizeof(got) ? n : sizeof(got);
        long r = syscall(SYS_pread64, fd, got, piece, (off_t)off);
        if (r != (long)piece)
            fail("raw pread of %llu at %llu gave %ld", (unsigned long long)piece,
                 (unsigned long long)off, r);
        for (uint64_t i = 0; i < piece; i++)
            if (got[i] != expect[off + i])
                fail("byte %llu is %d to the kernel, %d to the program",
                     (unsigned long long)(off + i), got[i], expect[off + i]);
        off += piece;
        n -= piece;
    }
}

/* A durability point: the kernel's view is the program's. */
static void durable(int fd)
{
    if ((next(2) ? fsync(fd) : fdatasync(fd)) != 0)
        fail("fsync: %s", strerror(errno));
    uint64_t k = kernel_size(fd);
    if (k != size)
        fail("size %llu to the kernel after a sync, %llu to the program", (unsigned long long)k,
             (unsigned long long)size);
    uint64_t tail = size < TAIL_SPAN ? size : TAIL_SPAN;
    kernel_bytes_agree(fd, size - tail, tail);
    if (size > 0) {
        uint64_t off = next(size);
        kernel_bytes_agree(fd, off, size - off < 4096 ? size - off : 4096);
    }
}

static void put(int fd, uint64_t off, uint64_t n)
{
    static unsigned char buf[MAX_WRITE];
    for (uint64_t i = 0; i < n; i++)
        buf[i] = (unsigned char)(1 + next(255));
    if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n)
        fail("pwrite of %llu at %llu: %s", (unsigned long long)n, (unsigned long long)off,
             strerror(errno));
    if (off > size)
        memset(expect + size, 0, off - size);
    memcpy(expect + off, buf, n);
    if (off + n > size)
        size = off + n;
}

static void cut(int fd, uint64_t to)
{
    if (ftruncate(fd, (off_t)to) != 0)
        fail("ftruncate to %llu: %s", (unsigned long long)to, strerror(errno));
    if (to > size)
        memset(expect + size, 0, to - size);
    size = to;
}

static int open_file(const char *path, int flags)
{
    int fd = open(path, O_RDWR | O_CREAT | flags, 0644);
    if (fd < 0)
        fail("open %s: %s", path, strerror(errno));
    return fd;
}

/* One step of the log's life; appends dominate, and a sync follows every
 * append or every few. */
static int step(int fd, const char *path)
{
    uint64_t what = next(100);
    if (what < 70) {
        uint64_t n = append_len();
        if (size + n > MAX_SIZE)
            cut(fd, 0);
        put(fd, size, n);
    } else if (what < 78 && size > 0) {
        uint64_t back = 1 + next(size < 300 ? size : 300);
        put(fd, size - back, 1 + next(back));
    } else if (what < 84) {
        uint64_t d = next(5000);
        cut(fd, size > d ? size - d : 0);
    } else if (what < 88 && size + 10000 < MAX_SIZE) {
        cut(fd, size + 1 + next(10000));
    } else if (what < 91 && size + 3 * MAX_WRITE < MAX_SIZE) {
        put(fd, size + 1 + next(2 * MAX_WRITE), 1 + next(MAX_WRITE));
    } else if (what < 93) {
        if (close(fd) != 0)
            fail("close: %s", strerror(errno));
        if (kernel_size(fd = open_file(path, 0)) != size)
            fail("size %llu to the kernel after close, %llu to the program",
                 (unsigned long long)kernel_size(fd), (unsigned long long)size);
    }
    if (next(3) != 0)
        durable(fd);
    return fd;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s DIR SEED OPS\n", argv[0]);
        return 2;
    }
    rng = strtoull(argv[2], NULL, 0) * 2654435761u + 1;
    uint64_t ops = strtoull(argv[3], NULL, 0);
    char path[4096];
    snprintf(path, sizeof(path), "%s/log", argv[1]);
    expect = calloc(1, MAX_SIZE + 3 * MAX_WRITE);
    if (!expect)
        return 2;
    int fd = open_file(path, O_TRUNC);
    for (op_no = 0; op_no < ops; op_no++)
        fd = step(fd, path);
    durable(fd);
    kernel_bytes_agree(fd, 0, size);
    if (close(fd) != 0)
        fail("close: %s", strerror(errno));
    free(expect);
    printf("appendsync: %llu operations, the kernel's view agreed at every sync\n",
           (unsigned long long)ops);
    return 0;
}
