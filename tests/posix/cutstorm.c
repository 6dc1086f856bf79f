/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cutstorm.c - a file cut shorter again and again by a program without the
 * library while threads of this process read and write it.
 *
 * A writer thread writes whole 512-byte blocks at random offsets, every
 * byte of a block the same value, a function of the block's offset; two
 * reader threads read random ranges; meanwhile a process without the
 * library (this program again, started before any file is open and without
 * LD_PRELOAD) truncates the file to random sizes, shorter and longer, every
 * few hundred microseconds, with no lock. Through the kernel every byte a
 * read returns, and every byte of the file at the end, is either zero or
 * its block's value; so it must be under the library, whose process must
 * also live (a copy of its through the mapping past a cut raises SIGBUS).
 * run_cut.sh runs it on a plain directory and under the library, preloaded
 * or linked (NVMMIO_LINKED, for ThreadSanitizer).
 *
 * Usage: cutstorm DIR [SECONDS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FILE_MAX (4 << 20)
#define BLOCK    512

extern char **environ;

static char path[4096];
static int fd;
static atomic_int stop;
static atomic_long bad, reads, writes;

static unsigned char block_value(uint64_t off)
{
    return (unsigned char)(0x80 | ((off / BLOCK) * 37 % 127));
}

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void check(const unsigned char *p, uint64_t off, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] && p[i] != block_value(off + i)) {
            if (atomic_fetch_add(&bad, 1) < 5)
                fprintf(stderr, "cutstorm: %s: byte %llu is %#x, not 0 or %#x\n", what,
                        (unsigned long long)(off + i), p[i], block_value(off + i));
            return;
        }
}

static void *writer(void *arg)
{
    uint64_t s = (uintptr_t)arg;
    unsigned char buf[4 * BLOCK];
    while (!atomic_load(&stop)) {
        uint64_t off = next(&s) % (FILE_MAX / BLOCK) * BLOCK;
        size_t n = (1 + next(&s) % 4) * BLOCK;
        for (size_t i = 0; i < n; i++)
            buf[i] = block_value(off + i);
        if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n) {
            fprintf(stderr, "cutstorm: pwrite at %llu: %s\n", (unsigned long long)off,
                    strerror(errno));
            atomic_fetch_add(&bad, 1);
        }
        if (next(&s) % 64 == 0)
            fdatasync(fd);
        atomic_fetch_add(&writes, 1);
    }
    return NULL;
}

static void *reader(void *arg)
{
    uint64_t s = (uintptr_t)arg;
    static _Thread_local unsigned char buf[65536];
    while (!atomic_load(&stop)) {
        uint64_t off = next(&s) % FILE_MAX;
        size_t n = 1 + next(&s) % sizeof(buf);
        ssize_t r = pread(fd, buf, n, (off_t)off);
        if (r < 0) {
            fprintf(stderr, "cutstorm: pread at %llu: %s\n", (unsigned long long)off,
                    strerror(errno));
            atomic_fetch_add(&bad, 1);
            continue;
        }
        check(buf, off, (size_t)r, "a read");
        atomic_fetch_add(&reads, 1);
    }
    return NULL;
}

/* The program without the library: cuts until its standard input closes. */
static int cutter(const char *p)
{
    uint64_t s = (uint64_t)getpid() * 2654435761u + 1;
    int flags = fcntl(0, F_GETFL);
    fcntl(0, F_SETFL, flags | O_NONBLOCK);
    char c;
    while (read(0, &c, 1) < 0 && errno == EAGAIN) {
        truncate(p, (off_t)(next(&s) % FILE_MAX));
        usleep(200 + next(&s) % 800);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--cutter") == 0)
        return cutter(argv[2]);
    if (argc < 2) {
        fprintf(stderr, "usage: cutstorm DIR [SECONDS]\n");
        return 2;
    }
    int seconds = argc > 2 ? atoi(argv[2]) : 2;
    snprintf(path, sizeof(path), "%s/storm", argv[1]);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    close(fd);
    int pipefd[2];
    if (pipe(pipefd))
        return 1;
    pid_t pid = fork(); /* no file open: a fork hands open files to the kernel */
    if (pid == 0) {
        dup2(pipefd[0], 0);
        close(pipefd[1]);
        unsetenv("LD_PRELOAD");
        unsetenv("NVMMIO_PATH"); /* a build linked with the library manages nothing then */
        unsetenv("PMEM_PATH");
        char *args[] = {"cutstorm", "--cutter", path, NULL};
        execve("/proc/self/exe", args, environ);
        _exit(127);
    }
    close(pipefd[0]);
    fd = open(path, O_RDWR);
    pthread_t t[3];
    pthread_create(&t[0], NULL, writer, (void *)(uintptr_t)0x9e3779b97f4a7c15ull);
    pthread_create(&t[1], NULL, reader, (void *)(uintptr_t)0xd1b54a32d192ed03ull);
    pthread_create(&t[2], NULL, reader, (void *)(uintptr_t)0x8cb92ba72f3d8dd7ull);
    struct timespec d = {seconds, 0};
    nanosleep(&d, NULL);
    close(pipefd[1]);
    int st;
    waitpid(pid, &st, 0);
    atomic_store(&stop, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    if (fsync(fd) || close(fd)) {
        perror("fsync, close");
        return 1;
    }
    static unsigned char buf[65536];
    int in = open(path, O_RDONLY);
    uint64_t off = 0;
    ssize_t r;
    while ((r = read(in, buf, sizeof(buf))) > 0) {
        check(buf, off, (size_t)r, "the file at the end");
        off += (uint64_t)r;
    }
    close(in);
    printf("cutstorm: %ld reads and %ld writes under cuts, %ld bad; the file %llu bytes\n",
           atomic_load(&reads), atomic_load(&writes), atomic_load(&bad), (unsigned long long)off);
    return atomic_load(&bad) ? 1 : 0;
}
