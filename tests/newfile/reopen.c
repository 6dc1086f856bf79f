/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * reopen DIR - a file closed and opened again at once, as SQLite does with
 * its journal (run under NVMMIO_PATH=DIR, linked with the library). The
 * library keeps its mapping of a file closed a moment ago for the next
 * open (src/core/recent.h); whatever happens to the file in
 * between, the next open must see the file as the kernel has it: bytes and
 * size changed by a program without the library, a truncation, another
 * process of the library's, a forked child, a change of mode. A file whose
 * last link goes, here or in another process, must not stay held by the
 * library's mapping (its blocks would not come back), and a file closed
 * gives back every descriptor its open took. A file closed again a
 * moment after its last close lingers whole for its next open
 * (src/core/nvfile.h): a writer killed then leaves the file as it closed
 * it. A script written and closed, kept either way, runs at once, through
 * system and popen too.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libnvmmio.h"

#include "../check.h"
#include "pattern.h"

#define LEN 3000

extern char **environ;

static const char *dir;
static int failures;

static void path_of(char *p, size_t n, const char *name)
{
    snprintf(p, n, "%s/%s", dir, name);
}

/* Writes n bytes of tag at off through the library, and closes. */
static void write_closed(const char *path, off_t off, size_t n, int tag)
{
    char buf[LEN * 2];
    fill(buf, n, tag);
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0 && nvmmio_is_managed(fd), "%s: open: %s or not managed", path, strerror(errno));
    CHECK(pwrite(fd, buf, n, off) == (ssize_t)n, "%s: pwrite", path);
    CHECK(close(fd) == 0, "%s: close", path);
}

/* The same through raw system calls: a program without the library. */
static void raw_write(const char *path, off_t off, size_t n, int tag)
{
    char buf[LEN * 2];
    fill(buf, n, tag);
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDWR);
    CHECK(fd >= 0, "%s: raw open", path);
    CHECK(syscall(SYS_pwrite64, fd, buf, n, off) == (long)n, "%s: raw pwrite", path);
    syscall(SYS_close, fd);
}

/* The file, opened through the library, holds want (n bytes) and no more. */
static void expect(const char *path, const char *want, size_t n, const char *when)
{
    char got[LEN * 2 + 1];
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0 && nvmmio_is_managed(fd), "%s: %s: open or not managed", path, when);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && st.st_size == (off_t)n, "%s: %s: size %lld, want %zu", path, when,
          (long long)st.st_size, n);
    ssize_t r = pread(fd, got, sizeof(got), 0);
    CHECK(r == (ssize_t)n && memcmp(got, want, n) == 0, "%s: %s: read %zd bytes, want %zu", path,
          when, r, n);
    close(fd);
}

/* Descriptors and mappings of this process on a file of DIR with no link
 * left. */
static int deleted_held(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[300], target[512];
        snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
        ssize_t l = readlink(p, target, sizeof(target) - 1);
        if (l > 0) {
            target[l] = '\0';
            n += strstr(target, dir) && strstr(target, " (deleted)");
        }
    }
    if (d)
        closedir(d);
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[1024];
    while (maps && fgets(line, sizeof(line), maps))
        n += strstr(line, dir) && strstr(line, " (deleted)");
    if (maps)
        fclose(maps);
    return n;
}

static bool wait_ok(pid_t pid)
{
    int status;
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Closed and opened again, changed by a program without the library in
 * between: bytes in place, growth, a cut, a cut to nothing and a rewrite. */
static void changed_by_kernel(void)
{
    char p[512], want[LEN * 2];
    path_of(p, sizeof(p), "kernel");
    write_closed(p, 0, LEN, 1);
    fill(want, LEN, 1);
    expect(p, want, LEN, "written");

    raw_write(p, 100, 500, 2);
    fill(want + 100, 500, 2);
    expect(p, want, LEN, "rewritten by the kernel");

    raw_write(p, LEN, LEN, 3);
    fill(want + LEN, LEN, 3);
    expect(p, want, 2 * LEN, "grown by the kernel");

    CHECK(syscall(SYS_truncate, p, (long)LEN / 2) == 0, "truncate");
    expect(p, want, LEN / 2, "cut by the kernel");

    CHECK(syscall(SYS_truncate, p, 0L) == 0, "truncate to 0");
    raw_write(p, 0, 700, 4);
    fill(want, 700, 4);
    expect(p, want, 700, "cut to nothing and rewritten by the kernel");

    /* And the library's own writes after all that. */
    write_closed(p, 650, 100, 5);
    fill(want + 650, 100, 5);
    expect(p, want, 750, "written again through the library");
    unlink(p);
}

/* Another process of the library's writes the file between a close and
 * the next open here, serving it alone meanwhile: a program started anew
 * (self with --write), or a forked child of this one. */
static void changed_by_another_process(const char *self, bool forked)
{
    char p[512], want[LEN];
    path_of(p, sizeof(p), forked ? "forked" : "other");
    write_closed(p, 0, LEN, 6);
    pid_t pid = fork();
    if (pid == 0 && forked) {
        write_closed(p, 10, 20, 7);
        _exit(failures ? 1 : 0);
    }
    if (pid == 0) {
        execl(self, self, dir, "--write", p, (char *)NULL);
        _exit(127);
    }
    CHECK(pid > 0 && wait_ok(pid), "the other process failed");
    fill(want, LEN, 6);
    fill(want + 10, 20, 7);
    expect(p, want, LEN, forked ? "written by a forked child" : "written by another process");
    unlink(p);
}

/* A change of mode between the close and the open. */
static void mode_changed(void)
{
    char p[512], want[LEN];
    path_of(p, sizeof(p), "mode");
    write_closed(p, 0, LEN, 10);
    CHECK(chmod(p, 0600) == 0, "chmod");
    write_closed(p, 0, 10, 11);
    fill(want, LEN, 10);
    fill(want, 10, 11);
    expect(p, want, LEN, "after a chmod");
    unlink(p);
}

/* The owner of the log of file p, or -1. */
static long log_owner(const char *p)
{
    struct stat st, lst;
    char log[512], name[64];
    if (stat(p, &st) < 0)
        return -1;
    snprintf(name, sizeof(name), ".nvmmio/%llx-%llx.log", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    path_of(log, sizeof(log), name);
    return stat(log, &lst) == 0 ? (long)lst.st_uid : -1;
}

/* Given to another user while it lingers (root only): the next open
 * serves it as that user's, whose log and ownership lock these are, not
 * with the lingering object made for the old owner. */
static void owner_changed(void)
{
    if (geteuid() != 0)
        return;
    char p[512], want[LEN];
    path_of(p, sizeof(p), "owner");
    for (int i = 0; i < 3; i++) /* opened again twice at once: it lingers */
        write_closed(p, 0, LEN, 18);
    CHECK(chown(p, 65534, 65534) == 0, "chown");
    int fd = open(p, O_RDWR);
    CHECK(fd >= 0 && nvmmio_is_managed(fd), "owner: open or not managed");
    fill(want, 10, 19);
    CHECK(pwrite(fd, want, 10, 0) == 10, "owner: pwrite");
    long owner = log_owner(p);
    CHECK(owner == 65534, "the log of a file given to user 65534 while it lingered is user %ld's",
          owner);
    close(fd);
    fill(want, LEN, 18);
    fill(want, 10, 19);
    expect(p, want, LEN, "after a chown");
    unlink(p);
}

/* The last link goes here: the file is let go at once. Another process
 * removes it: it is let go within a second or two. */
static void removed(const char *self)
{
    char p[512];
    path_of(p, sizeof(p), "removed");
    write_closed(p, 0, LEN, 12);
    CHECK(unlink(p) == 0, "unlink");
    CHECK(deleted_held() == 0, "a file removed here is still held");

    write_closed(p, 0, LEN, 13);
    pid_t pid = fork();
    if (pid == 0) {
        execl(self, self, dir, "--unlink", p, (char *)NULL);
        _exit(127);
    }
    CHECK(pid > 0 && wait_ok(pid), "the other process failed");
    int held = -1;
    for (int i = 0; i < 40 && held != 0; i++) {
        held = deleted_held();
        if (held)
            usleep(100 * 1000);
    }
    CHECK(held == 0, "a file removed by another process is still held after 4 s");
}

/* Entries of DIR/.nvmmio whose name contains part. */
static int log_dir_entries(const char *part)
{
    char p[512];
    path_of(p, sizeof(p), ".nvmmio");
    DIR *d = opendir(p);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, part) != NULL;
    if (d)
        closedir(d);
    return n;
}

/* A process killed while a file it closed lingers (src/core/nvfile.h),
 * its log still there: the close was a durability point, so the file is
 * as it was closed, without the library and through it, and the log goes
 * at the next open without a word (none kept aside). */
static void killed_while_lingering(void)
{
    char p[512], want[LEN], got[LEN + 1];
    path_of(p, sizeof(p), "killed");
    pid_t pid = fork();
    if (pid == 0) {
        write_closed(p, 0, LEN, 16);
        write_closed(p, 0, LEN, 16);
        write_closed(p, 100, 200, 17); /* opened again twice at once: it lingers */
        kill(getpid(), SIGKILL);
        _exit(1);
    }
    int status;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFSIGNALED(status),
          "the child was not killed");
    CHECK(log_dir_entries(".log") == 1, "the killed process's file did not linger");
    fill(want, LEN, 16);
    fill(want + 100, 200, 17);
    int fd = (int)syscall(SYS_openat, AT_FDCWD, p, O_RDONLY);
    ssize_t r = syscall(SYS_read, fd, got, sizeof(got));
    syscall(SYS_close, fd);
    CHECK(r == LEN && memcmp(got, want, LEN) == 0, "killed: %zd bytes without the library", r);
    expect(p, want, LEN, "after its writer was killed while it lingered");
    CHECK(log_dir_entries(".aside") == 0, "the lingering file's log was kept aside");
    unlink(p);
    CHECK(log_dir_entries(".log") == 0, "the log stayed after the file was removed");
}

/* How a script is started: the program's own fork and exec, posix_spawn,
 * and the C library's system and popen (whose spawn passes the library's
 * wrappers by). */
static const char *const starts[] = {"fork and exec", "posix_spawn", "system", "popen"};

/* Runs the script p the way starts[how] names: its exit status, or -1. */
static int run(const char *p, int how)
{
    pid_t pid = -1;
    char *argv[] = {(char *)p, NULL};
    int status = -1;
    if (how == 0 && (pid = fork()) == 0) {
        execv(p, argv);
        _exit(errno == ETXTBSY ? 126 : 127);
    }
    if (how == 1 && posix_spawn(&pid, p, NULL, NULL, argv, environ) != 0)
        return -1;
    if (how < 2 && (pid < 0 || waitpid(pid, &status, 0) != pid))
        return -1;
    if (how == 2)
        status = system(p);
    if (how == 3) {
        FILE *out = popen(p, "r");
        status = out ? pclose(out) : -1;
    }
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A script written and closed once (its mapping kept, recent.h) or three
 * times (the third close lingers), then made executable and run at once: what
 * the library keeps of it, open for writing, must not make the exec fail
 * with ETXTBSY, however the program starts it. */
static void run_after_close(void)
{
    char p[512];
    path_of(p, sizeof(p), "script.sh");
    const char *text = "#!/bin/sh\nexit 3\n";
    for (int how = 0; how < 4; how++) {
        for (int closes = 1; closes <= 3; closes += 2) {
            for (int i = 0; i < closes; i++) {
                int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
                CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text),
                      "script: write");
                CHECK(close(fd) == 0, "script: close");
            }
            CHECK(chmod(p, 0755) == 0, "script: chmod");
            int rc = run(p, how);
            CHECK(rc == 3, "the script written and closed %d times ran with status %d by %s",
                  closes, rc, starts[how]);
            CHECK(chmod(p, 0644) == 0, "script: chmod back");
        }
    }
    unlink(p);
}

/* Many closes and opens in a row, read back without the library. */
static void many(void)
{
    char p[512], want[LEN], got[LEN];
    path_of(p, sizeof(p), "many");
    for (int i = 0; i < 200; i++)
        write_closed(p, (i * 37) % (LEN - 64), 64, i);
    int fd = (int)syscall(SYS_openat, AT_FDCWD, p, O_RDONLY);
    ssize_t r = syscall(SYS_read, fd, got, sizeof(got));
    syscall(SYS_close, fd);
    memset(want, 0, sizeof(want));
    size_t end = 0;
    for (int i = 0; i < 200; i++) {
        size_t off = (size_t)((i * 37) % (LEN - 64));
        fill(want + off, 64, i);
        end = off + 64 > end ? off + 64 : end;
    }
    CHECK(r == (ssize_t)end && memcmp(got, want, end) == 0, "many: read %zd of %zu", r, end);
    unlink(p);
}

/* Descriptors the process can still have under its limit: taken with dup
 * until EMFILE, then given back. */
static int descriptors_left(void)
{
    static int fds[1024];
    int n = 0;
    while (n < 1024 && (fds[n] = dup(0)) >= 0)
        n++;
    for (int i = 0; i < n; i++)
        close(fds[i]);
    return n;
}

/* A file closed gives the program back every descriptor its open took:
 * what is kept of it holds none. */
static void descriptors_come_back(void)
{
    char p[512];
    path_of(p, sizeof(p), "emfile");
    struct rlimit rl = {1024, 1024}, old;
    CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0 && setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit");
    write_closed(p, 0, LEN, 14); /* whatever the library keeps for good is made */
    int before = descriptors_left();
    write_closed(p, 0, LEN, 15);
    int after = descriptors_left();
    CHECK(after == before, "%d descriptors left after a file was opened and closed, %d before",
          after, before);
    setrlimit(RLIMIT_NOFILE, &old);
    unlink(p);
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[2], "--write")) {
        dir = argv[1];
        write_closed(argv[3], 10, 20, 7);
        return failures ? 1 : 0;
    }
    if (argc == 4 && !strcmp(argv[2], "--unlink"))
        return unlink(argv[3]) == 0 ? 0 : 1;
    if (argc != 2) {
        fprintf(stderr, "usage: reopen DIR\n");
        return 2;
    }
    dir = argv[1];
    changed_by_kernel();
    changed_by_another_process(argv[0], false);
    changed_by_another_process(argv[0], true);
    mode_changed();
    owner_changed();
    removed(argv[0]);
    many();
    descriptors_come_back();
    killed_while_lingering();
    run_after_close();
    if (failures)
        return 1;
    printf("ok\n");
    return 0;
}
