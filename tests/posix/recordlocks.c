/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * recordlocks.c - record locks (fcntl F_SETLK/F_SETLKW, lockf) that the
 * program holds on a file must outlive whatever the library does with its
 * own descriptors of that file: the kernel drops every such lock of a
 * process as soon as it closes any descriptor of the file. Each case takes
 * a lock, does something after which the kernel would still hold it (a
 * fork, a truncate by path, a file size limit, a change of user and back,
 * sixty more files open, which parks the library's descriptors), and then
 * asks another process whether the lock is held; then unlocks or closes,
 * which drops it for the kernel too, and asks again.
 *
 * Each case runs in a process of its own (posix_spawn of this program,
 * which runs no fork handler), and so does the question (F_GETLK), which
 * inherits none of the files (close-on-exec). Prints
 * one line per answer; run_recordlocks.sh runs it plainly and under the
 * library and compares the lines and the files.
 *
 * Usage: recordlocks DIR
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *self;
static const char *dir;

static int spawn_and_wait(char *const argv[])
{
    pid_t pid;
    int rc = posix_spawn(&pid, self, NULL, NULL, argv, environ);
    if (rc != 0) {
        fprintf(stderr, "posix_spawn: %s\n", strerror(rc));
        exit(2);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        exit(2);
    return WEXITSTATUS(status);
}

/* Another process asks whether a write lock on the file would conflict. */
static void ask(const char *name, const char *when)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    printf("%-10s %-14s %s\n", name, when,
           spawn_and_wait((char *[]){(char *)self, "probe", path, NULL}) == 0 ? "held"
                                                                              : "not held");
    fflush(stdout);
}

static int probe(const char *path)
{
    int fd = open(path, O_RDWR);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fd < 0 || fcntl(fd, F_GETLK, &fl) < 0)
        return 2;
    return fl.l_type == F_UNLCK ? 1 : 0;
}

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static int make(const char *name)
{
    int fd = open(name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || pwrite(fd, "record locks\n", 13, 0) != 13)
        die(name);
    return fd;
}

static void lock_whole(int fd, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET};
    if (fcntl(fd, F_SETLKW, &fl) < 0)
        die("fcntl");
}

static void many_files(int n)
{
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "many.%d", i);
        int fd = open(name, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0 || pwrite(fd, name, strlen(name), 0) < 0)
            die(name);
    }
}

/* One case: lock, act, ask; then release the kernel's way, ask again. */
static void run_case(const char *name)
{
    int fd = make(name);
    lock_whole(fd, F_WRLCK);
    if (strcmp(name, "fork") == 0) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        waitpid(pid, NULL, 0);
        if (pwrite(fd, "after fork\n", 11, 13) != 11)
            die("pwrite");
    } else if (strcmp(name, "vfork") == 0) {
        pid_t pid = vfork();
        if (pid == 0)
            _exit(0);
        waitpid(pid, NULL, 0);
    } else if (strcmp(name, "truncate") == 0) {
        if (truncate(name, 100) < 0)
            die("truncate");
    } else if (strcmp(name, "fsizelimit") == 0) {
        struct rlimit r = {1 << 30, 1 << 30};
        if (setrlimit(RLIMIT_FSIZE, &r) < 0)
            die("setrlimit");
        if (pwrite(fd, "under a limit\n", 14, 13) != 14)
            die("pwrite");
    } else if (strcmp(name, "seteuid") == 0) {
        /* As root only; otherwise the case is the plain one. */
        if (geteuid() == 0 && (seteuid(65534) < 0 || seteuid(0) < 0))
            die("seteuid");
    } else if (strcmp(name, "manyfiles") == 0) {
        many_files(60);
        if (pwrite(fd, "after many\n", 11, 13) != 11)
            die("pwrite");
    } else if (strcmp(name, "lockfparked") == 0) {
        /* The file's descriptor of the library's is parked first, then
         * the lock taken, then the file used (its descriptor opened
         * again) while sixty others are. */
        lock_whole(fd, F_UNLCK);
        many_files(60);
        if (lseek(fd, 0, SEEK_SET) != 0 || lockf(fd, F_LOCK, 0) < 0)
            die("lockf");
        many_files(60);
        char b[4];
        if (pread(fd, b, 4, 0) != 4 || pwrite(fd, "lockf\n", 6, 13) != 6)
            die("pread");
    }
    ask(name, "after");
    if (strcmp(name, "closedup") == 0) {
        int dup_fd = dup(fd);
        if (dup_fd < 0 || close(dup_fd) < 0)
            die("dup");
        ask(name, "dup closed");
    } else {
        lock_whole(fd, F_UNLCK);
        ask(name, "unlocked");
        lock_whole(fd, F_RDLCK);
        ask(name, "read-locked");
        if (close(fd) < 0)
            die("close");
        ask(name, "closed");
    }
}

int main(int argc, char **argv)
{
    self = argv[0][0] == '/' ? argv[0] : realpath(argv[0], NULL);
    if (argc == 3 && strcmp(argv[1], "probe") == 0)
        return probe(argv[2]);
    if (argc == 4 && strcmp(argv[1], "case") == 0) {
        dir = argv[3];
        if (chdir(dir) < 0)
            die(dir);
        run_case(argv[2]);
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    static const char *const cases[] = {"none",      "fork",        "vfork",
                                        "truncate",  "fsizelimit",  "seteuid",
                                        "manyfiles", "lockfparked", "closedup"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (spawn_and_wait((char *[]){(char *)self, "case", (char *)cases[i], argv[1], NULL}) != 0)
            return 1;
    return 0;
}
