/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cut.c - a file cut shorter by another program, with no lock, while this
 * process has it open: reads and writes at offsets inside the size it knew
 * must do what the kernel's do (meet the new end; grow the file again,
 * with a hole), where a copy through a stale mapping would die of SIGBUS.
 * Also SIGBUS and SIGSEGV themselves as the program sees them (the library
 * handles both once a file is open): its own faults reach its handler, the
 * default and SIG_IGN still end the process, a sent signal reaches the
 * handler, and sigaction reports what the program set. And the other way
 * round: this process cuts a file and another program appends to it.
 *
 * The cutter is this program again, started before any file is open and
 * without LD_PRELOAD: a program without the library. Prints every result
 * and each file's size and checksum; run_cut.sh runs it plainly and under
 * the library and compares the two, and the files' bytes.
 *
 * Usage: cut DIR
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "filesum.h"

extern char **environ;

static char dir[4096];
static FILE *to_cutter, *from_cutter;

static void result(const char *what, long r)
{
    printf("%-52s %ld%s%s\n", what, r, r < 0 ? " " : "", r < 0 ? strerror(errno) : "");
}

static void summary(const char *what, const char *path)
{
    print_file_sum(what, 52, path);
}

/* FNV-1a of the first n bytes of buf: what a read returned. */
static void returned(const char *what, const unsigned char *buf, long n)
{
    uint64_t h = 14695981039346656037ull;
    for (long i = 0; i < n; i++)
        h = (h ^ buf[i]) * 1099511628211ull;
    printf("%-52s %ld bytes, fnv %016llx\n", what, n, (unsigned long long)h);
}

/* ---- the cutter: a process without the library ------------------------ */

#define APPENDED "NEW\n"

static int cutter_main(void)
{
    char path[4200];
    long long size;
    while (scanf("%4199s %lld", path, &size) == 2) {
        int err = 0;
        if (size >= 0) {
            err = truncate(path, size) == 0 ? 0 : errno;
        } else { /* appends APPENDED with O_APPEND */
            int fd = open(path, O_WRONLY | O_APPEND);
            err = fd < 0 ? errno : write(fd, APPENDED, 4) == 4 ? 0 : EIO;
            if (fd >= 0)
                close(fd);
        }
        printf("%d\n", err);
        fflush(stdout);
    }
    return 0;
}

static void start_cutter(void)
{
    int down[2], up[2];
    if (pipe(down) || pipe(up)) {
        perror("pipe");
        exit(1);
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        dup2(down[0], 0);
        dup2(up[1], 1);
        close(down[1]);
        close(up[0]);
        unsetenv("LD_PRELOAD");
        char *argv[] = {"cut", "--cutter", NULL};
        execve("/proc/self/exe", argv, environ);
        _exit(127);
    }
    close(down[0]);
    close(up[1]);
    to_cutter = fdopen(down[1], "w");
    from_cutter = fdopen(up[0], "r");
}

/* Another program cuts (or grows) the file to size; with size -1, appends
 * APPENDED to it with O_APPEND instead. */
static void cut(const char *path, long long size)
{
    int err = -1;
    fprintf(to_cutter, "%s %lld\n", path, size);
    fflush(to_cutter);
    if (fscanf(from_cutter, "%d", &err) != 1 || err) {
        fprintf(stderr, "cut: the cutter failed on %s: %d\n", path, err);
        exit(1);
    }
}

/* ---- files cut under this process -------------------------------------- */

static unsigned char big[1 << 17];

static int fresh(const char *name, size_t size, char *path, size_t n)
{
    snprintf(path, n, "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (unsigned char)(i * 7 + 3);
    if (fd < 0 || pwrite(fd, big, size, 0) != (ssize_t)size || fsync(fd)) {
        perror(path);
        exit(1);
    }
    return fd;
}

static void fill(unsigned char c)
{
    memset(big, c, sizeof(big));
}

/* Reads inside the old size after a cut meet the new end. */
static void reads_after_a_cut(void)
{
    char path[4200];
    int fd = fresh("reads", 65536, path, sizeof(path));
    cut(path, 100);
    fill(0);
    long r = pread(fd, big, 65536, 0);
    result("reads: pread 64 KiB at 0 after a cut to 100", r);
    returned("reads: its bytes", big, r);
    result("reads: pread 4 KiB at 16384", pread(fd, big, 4096, 16384));
    cut(path, 30000);
    result("reads: lseek 20000 after another program grew it", lseek(fd, 20000, SEEK_SET));
    fill(0);
    r = read(fd, big, 8192);
    result("reads: read 8 KiB", r);
    returned("reads: its bytes", big, r);
    cut(path, 2000);
    char a[3000], b[3000];
    struct iovec iov[2] = {{a, sizeof(a)}, {b, sizeof(b)}};
    memset(a, 0, sizeof(a));
    memset(b, 0, sizeof(b));
    r = preadv(fd, iov, 2, 0);
    result("reads: preadv 2 x 3000 at 0 after a cut to 2000", r);
    returned("reads: first buffer, up to the count", (unsigned char *)a, r);
    char out[4200];
    snprintf(out, sizeof(out), "%s/sent", dir);
    cut(path, 2500);
    int to = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    off_t at = 0;
    result("reads: sendfile 5000 from 0 after a cut to 2500", sendfile(to, fd, &at, 5000));
    close(to);
    summary("reads: what sendfile wrote", out);
    struct stat st;
    result("reads: fstat", fstat(fd, &st));
    result("reads: size", (long)st.st_size);
    result("reads: close", close(fd));
    summary("reads: the file", path);
}

/* Writes inside the old size after a cut grow the file again. */
static void writes_after_a_cut(void)
{
    char path[4200];
    int fd = fresh("writes", 65536, path, sizeof(path));
    cut(path, 100);
    fill('w');
    result("writes: pwrite 4 KiB at 32768 after a cut to 100", pwrite(fd, big, 4096, 32768));
    result("writes: fsync", fsync(fd));
    summary("writes: the file after the fsync", path);
    cut(path, 0);
    result("writes: pwrite 10 bytes at 0 after a cut to 0", pwrite(fd, "0123456789", 10, 0));
    result("writes: fdatasync", fdatasync(fd));
    summary("writes: the file after the fdatasync", path);
    result("writes: close", close(fd));
    summary("writes: the file", path);
}

/* Changes not yet published when the cut comes, then a write. The kernel
 * takes the changes away and keeps the write; the library may keep the
 * changes too (as a write-back cache does: README, Known gaps), but never
 * loses the write after the cut, nor brings back what the cut took. So
 * this checks what both must show, not the bytes. */
static bool all(const unsigned char *p, int c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != c)
            return false;
    return true;
}

static void unpublished_then_cut(void)
{
    char path[4200];
    int fd = fresh("pending", 131072, path, sizeof(path));
    fill('p');
    result("pending: pwrite 4 KiB at 40000", pwrite(fd, big, 4096, 40000));
    result("pending: pwrite 100 bytes at 90000", pwrite(fd, big, 100, 90000));
    cut(path, 100);
    fill('q');
    result("pending: pwrite 4 KiB at 32768 after a cut to 100", pwrite(fd, big, 4096, 32768));
    result("pending: fsync", fsync(fd));
    result("pending: close", close(fd));
    fd = open(path, O_RDONLY);
    fill(0);
    long r = pread(fd, big, sizeof(big), 0);
    close(fd);
    static unsigned char before[40000];
    for (size_t i = 0; i < sizeof(before); i++)
        before[i] = (unsigned char)(i * 7 + 3);
    result("pending: the file reaches the write", r >= 36864);
    result("pending: the first 100 bytes are the file's", r >= 100 && !memcmp(big, before, 100));
    result("pending: zeros from the cut to the write", r >= 32768 && all(big + 100, 0, 32668));
    result("pending: the write after the cut", r >= 36864 && all(big + 32768, 'q', 4096));
    /* Changes go home in whole blocks: the rest of a change's block may
     * hold the bytes it had before the cut. */
    result("pending: past it, zeros or what the file held before the cut",
           r < 40000 || all(big + 36864, 0, 3136) || !memcmp(big + 36864, before + 36864, 3136));
}

/* This process cuts a file, and before its next durability point another
 * program appends to it with O_APPEND (copytruncate, as logrotate does it,
 * beside a writer without the library). The kernel had the cut at once, so
 * the append lands right after it; the library keeps the cut bytes for a
 * crash until then, so the append lands past them, which then read as
 * zero: the cut bytes never come back, in this process or after. */
static void appended_after_our_cut(long long to)
{
    char path[4200], what[96];
    int fd = fresh(to ? "ourcut5" : "ourcut0", 8192, path, sizeof(path));
    unsigned char before[8192];
    memcpy(before, big, sizeof(before));
    snprintf(what, sizeof(what), "ourcut %lld: ftruncate", to);
    result(what, ftruncate(fd, to));
    cut(path, -1);
    for (int reopened = 0; reopened < 2; reopened++) {
        if (reopened) {
            close(fd);
            fd = open(path, O_RDONLY);
        }
        struct stat st;
        fill(0xee);
        long r = fstat(fd, &st) == 0 ? pread(fd, big, sizeof(big), 0) : -1;
        const char *when = reopened ? "after the close" : "in the process that cut";
        snprintf(what, sizeof(what), "ourcut %lld, %s: size is what read finds", to, when);
        result(what, r == st.st_size);
        snprintf(what, sizeof(what), "ourcut %lld, %s: the bytes kept are the file's", to, when);
        result(what, r >= to && !memcmp(big, before, (size_t)to));
        snprintf(what, sizeof(what), "ourcut %lld, %s: then zeros, none cut comes back", to, when);
        result(what, r >= to + 4 && all(big + to, 0, (size_t)(r - 4 - to)));
        snprintf(what, sizeof(what), "ourcut %lld, %s: the append ends the file", to, when);
        result(what, r >= to + 4 && !memcmp(big + r - 4, APPENDED, 4));
    }
    close(fd);
}

/* Files cut under changes not yet published when the process forks: the
 * fork handlers lock every managed file and settle each (its changes go
 * home, through pages past the cut), more files than a thread keeps armed
 * at once. The process must live, and each file show the change or not
 * have it at all. */
static void fork_after_cuts(void)
{
    enum { NFILES = 7 };
    char paths[NFILES][4200];
    int fds[NFILES];
    for (int i = 0; i < NFILES; i++) {
        char name[32];
        snprintf(name, sizeof(name), "forked%d", i);
        fds[i] = fresh(name, 65536, paths[i], sizeof(paths[i]));
        fill('f');
        if (pwrite(fds[i], big, 4096, 40000) != 4096)
            perror("pwrite");
        cut(paths[i], 100);
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    int st = -1;
    result("forked: the child exited", waitpid(pid, &st, 0) == pid && st == 0);
    int whole = 0;
    for (int i = 0; i < NFILES; i++) {
        fill(0);
        long r = pread(fds[i], big, 4096, 40000);
        whole += r == 0 || (r == 4096 && all(big, 'f', 4096));
        close(fds[i]);
    }
    result("forked: files with the change or without it", whole);
}

/* ---- SIGBUS and SIGSEGV as the program sees them ------------------------ */

static sigjmp_buf program_jump;
static volatile sig_atomic_t program_code;
static void *volatile program_addr;

static void program_handler(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    (void)context;
    program_code = info->si_code;
    program_addr = info->si_addr;
    siglongjmp(program_jump, 1);
}

/* The status a child that stores at `bad` under disp for sig dies of. */
static void child_touches(const char *what, int sig, char *bad, void (*disp)(int))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        signal(sig, disp);
        *(volatile char *)bad = 1;
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    result(what, WIFSIGNALED(st) ? WTERMSIG(st) : -WEXITSTATUS(st));
}

/* Exit status of this program started with posix_spawn to tell whether
 * sig is ignored in it (0: yes, 1: no), or -1. */
static int spawned_ignores(int sig)
{
    extern char **environ;
    pid_t pid;
    int status;
    char number[16];
    snprintf(number, sizeof(number), "%d", sig);
    char *const argv[] = {"cut", "--ignores", number, NULL};
    if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ) ||
        waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

#define FAULT_RESULT(what, v)                                                                      \
    do {                                                                                           \
        char line_[128];                                                                           \
        snprintf(line_, sizeof(line_), "%s: %s", name, what);                                      \
        result(line_, v);                                                                          \
    } while (0)

/* sig raised by a store at bad (the library's handler of it is in place
 * once a file is open) reaches the program as the kernel delivers it. */
static void program_fault(int sig, const char *name, char *bad)
{
    struct sigaction old;
    FAULT_RESULT("sigaction reports at the start", sigaction(sig, NULL, &old));
    FAULT_RESULT("handler is SIG_DFL", old.sa_handler == SIG_DFL);
    FAULT_RESULT("flags", old.sa_flags);
    char child_dfl[64], child_ign[64];
    snprintf(child_dfl, sizeof(child_dfl), "%s: a child's fault, SIG_DFL: killed by", name);
    snprintf(child_ign, sizeof(child_ign), "%s: a child's fault, SIG_IGN: killed by", name);
    child_touches(child_dfl, sig, bad, SIG_DFL);
    child_touches(child_ign, sig, bad, SIG_IGN);

    struct sigaction act = {.sa_sigaction = program_handler, .sa_flags = SA_SIGINFO};
    sigemptyset(&act.sa_mask);
    FAULT_RESULT("sigaction installs the program's handler", sigaction(sig, &act, NULL));
    FAULT_RESULT("sigaction reports it", sigaction(sig, NULL, &old));
    FAULT_RESULT("handler is the program's", old.sa_sigaction == program_handler);
    FAULT_RESULT("SA_SIGINFO kept", !!(old.sa_flags & SA_SIGINFO));
    if (sigsetjmp(program_jump, 1) == 0) {
        *(volatile char *)bad = 1;
        FAULT_RESULT("the store went through", 1);
    } else {
        FAULT_RESULT("the program's handler got its fault, code", program_code);
        FAULT_RESULT("at the address stored to", program_addr == bad);
    }
    if (sigsetjmp(program_jump, 1) == 0) {
        raise(sig);
        FAULT_RESULT("raise returned without the handler", 1);
    } else {
        FAULT_RESULT("the handler got the sent signal, code", program_code);
    }
    act.sa_flags = SA_SIGINFO | SA_RESETHAND;
    sigaction(sig, &act, NULL);
    if (sigsetjmp(program_jump, 1) == 0)
        raise(sig);
    FAULT_RESULT("after a SA_RESETHAND handler ran, SIG_DFL", sigaction(sig, NULL, &old));
    FAULT_RESULT("handler is SIG_DFL", old.sa_handler == SIG_DFL);
    signal(sig, SIG_IGN);
    FAULT_RESULT("a sent signal under SIG_IGN is ignored", raise(sig));
    FAULT_RESULT("SIG_IGN, a program started by posix_spawn ignores it too", spawned_ignores(sig));
    signal(sig, SIG_DFL);
}

static void program_faults(void)
{
    char path[4200];
    int fd = fresh("mapped", 16384, path, sizeof(path));
    char *map = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    result("faults: mmap", map == MAP_FAILED || ro == MAP_FAILED ? -1 : 0);
    if (map == MAP_FAILED || ro == MAP_FAILED)
        return;
    result("faults: ftruncate to 4096", ftruncate(fd, 4096));
    program_fault(SIGBUS, "sigbus", map + 8192);
    program_fault(SIGSEGV, "sigsegv", ro);
    munmap(ro, 4096);
    munmap(map, 16384);
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--cutter") == 0)
        return cutter_main();
    if (argc == 3 && strcmp(argv[1], "--ignores") == 0) {
        struct sigaction now;
        return sigaction(atoi(argv[2]), NULL, &now) == 0 && now.sa_handler == SIG_IGN ? 0 : 1;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: cut DIR\n");
        return 2;
    }
    snprintf(dir, sizeof(dir), "%s", argv[1]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    start_cutter(); /* before any file is open: a fork hands open files to the kernel */
    program_faults();
    reads_after_a_cut();
    writes_after_a_cut();
    unpublished_then_cut();
    appended_after_our_cut(0);
    appended_after_our_cut(5);
    fork_after_cuts();
    fclose(to_cutter);
    int st;
    wait(&st);
    return 0;
}
