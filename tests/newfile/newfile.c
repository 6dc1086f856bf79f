/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * newfile DIR - short-lived small files, made one after another as a
 * journal is (run under NVMMIO_PATH=DIR, linked with the library). The
 * logs and share blocks they leave are kept by the process as spares and
 * made into the next files' (see log.c and share.c): every file must read
 * back as written, through the library and without it; no file keeps a
 * log or share block once closed and no longer lingering; a forked child makes its own spares and
 * leaves its parent's alone; a second process joins a file whose share
 * block was a spare and sees the first one's writes, and the first its,
 * and when both close it at once, neither leaves its log or block behind;
 * a normal exit leaves no spare behind, and those of a killed process go
 * with the next process that keeps one; the log a killed writer left goes
 * with its file's last link; a small file open alone takes a page of the
 * medium for its log and one for its share block, and a file written by
 * two processes takes a few MiB for its block, not tens.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libnvmmio.h"

#include "../check.h"
#include "pattern.h"

#define ROUNDS 40
#define LEN    100

static const char *dir;
static int failures;

/* The file's bytes read without the library (raw system calls). */
static ssize_t raw_read(const char *path, char *buf, size_t n)
{
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t got = syscall(SYS_read, fd, buf, n);
    syscall(SYS_close, fd);
    return got;
}

/* Entries of DIR/.nvmmio whose name starts with prefix and ends with
 * suffix. */
static int count_entries(const char *prefix, const char *suffix)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/.nvmmio", dir);
    DIR *d = opendir(p);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    size_t ls = strlen(suffix);
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (!strncmp(e->d_name, prefix, strlen(prefix)) && l >= ls &&
            !strcmp(e->d_name + l - ls, suffix))
            n++;
    }
    closedir(d);
    return n;
}

/* Whether no closed file keeps its log or share block (spares aside). */
static bool none_kept(void)
{
    return count_entries("", ".log") == 0 &&
           count_entries("", ".share") == count_entries(".spare-", ".share");
}

/* none_kept once the files this process closed a moment ago stopped
 * lingering (src/core/nvfile.h): waits up to 2 s for it. */
static bool none_kept_after_lingering(void)
{
    for (int i = 0; i < 200 && !none_kept(); i++)
        usleep(10 * 1000);
    return none_kept();
}

static int count_spares_of(pid_t pid)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), ".spare-%d-", (int)pid);
    return count_entries(prefix, "");
}

/* Makes file `name` anew (or empties it), writes LEN bytes tagged `tag`
 * in one or two writes, fsyncs when asked, closes it and checks it. */
static void make_file(const char *name, int tag, bool do_fsync)
{
    char path[512], buf[LEN], got[LEN + 1];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fill(buf, LEN, tag);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
    if (fd < 0)
        return;
    CHECK(nvmmio_is_managed(fd) == 1, "%s is not managed", path);
    size_t half = (size_t)(tag % LEN);
    CHECK(write(fd, buf, half) == (ssize_t)half, "write %s", path);
    if (do_fsync)
        CHECK(fsync(fd) == 0, "fsync %s", path);
    CHECK(write(fd, buf + half, LEN - half) == (ssize_t)(LEN - half), "write %s", path);
    CHECK(close(fd) == 0, "close %s", path);
    CHECK(raw_read(path, got, sizeof(got)) == LEN && !memcmp(got, buf, LEN),
          "%s (tag %d) does not read back as written without the library", path, tag);
    fd = open(path, O_RDONLY);
    CHECK(fd >= 0 && read(fd, got, sizeof(got)) == LEN && !memcmp(got, buf, LEN),
          "%s (tag %d) does not read back as written through the library", path, tag);
    if (fd >= 0)
        close(fd);
}

/* Files made, closed and removed in turn; when no other process has a
 * file open (`alone`), none keeps a log or a share block after. */
static void churn(const char *prefix, int rounds, bool alone)
{
    for (int i = 0; i < rounds; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s%d", prefix, i % 3);
        make_file(name, i, i % 4 == 1);
        if (i % 3 == 2) {
            char path[512];
            snprintf(path, sizeof(path), "%s/%s", dir, name);
            CHECK(unlink(path) == 0, "unlink %s", path);
        }
    }
    if (!alone) /* another process has a file open */
        return;
    CHECK(none_kept_after_lingering(), "a closed file kept its log (%d) or share block",
          count_entries("", ".log"));
}

static bool wait_ok(pid_t pid)
{
    int st;
    return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* A process killed with spares leaves them; the next one to keep a spare
 * in the directory removes them. */
static void killed_spares(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        churn("killed", 6, true);
        kill(getpid(), SIGKILL);
        _exit(1);
    }
    int st;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFSIGNALED(st), "the child was not killed");
    CHECK(count_spares_of(pid) > 0, "the killed child had no spares");
    churn("reaper", 3, true);
    CHECK(count_spares_of(pid) == 0, "the spares of a killed process stay");
}

/* The log a killed writer left for `name`, a file this process never
 * opens, goes when the file loses its last link: by unlink, or by a
 * rename over it (`by_rename`). */
static void killed_log_goes_with_file(const char *name, bool by_rename)
{
    char path[512], log[600], other[520];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, "x", 1) != 1)
            _exit(1);
        kill(getpid(), SIGKILL);
        _exit(1);
    }
    int st;
    CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFSIGNALED(st), "the writer was not killed");
    struct stat sb;
    CHECK(stat(path, &sb) == 0, "stat %s", path);
    snprintf(log, sizeof(log), "%s/.nvmmio/%llx-%llx.log", dir, (unsigned long long)sb.st_dev,
             (unsigned long long)sb.st_ino);
    CHECK(access(log, F_OK) == 0, "the killed writer left no log for %s", name);
    if (by_rename) {
        snprintf(other, sizeof(other), "%s.new", path);
        int fd = (int)syscall(SYS_openat, AT_FDCWD, other, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        CHECK(fd >= 0, "create %s", other);
        if (fd >= 0)
            syscall(SYS_close, fd);
        CHECK(rename(other, path) == 0, "rename over %s", path);
        unlink(path);
    } else {
        CHECK(unlink(path) == 0, "unlink %s", path);
    }
    CHECK(access(log, F_OK) != 0, "the log of %s stays after its last link went", name);
}

/* A child makes files of its own: its spares are its, its parent's stay. */
static void forked_child(void)
{
    none_kept_after_lingering(); /* a fork would let them go, into spares */
    int before = count_spares_of(getpid());
    pid_t pid = fork();
    if (pid == 0) {
        churn("child", ROUNDS / 2, true);
        exit(failures ? 1 : 0);
    }
    CHECK(pid > 0 && wait_ok(pid), "the forked child failed");
    CHECK(count_spares_of(pid) == 0, "the child's exit left its spares");
    CHECK(count_spares_of(getpid()) == before, "the child took its parent's spares");
    churn("after", ROUNDS / 2, true);
}

/* Process `me` of two opening DIR/name: the second once the first tells
 * it to. The descriptor, managed, or -1. */
static int open_in_turn(const char *name, int me, int hear)
{
    char path[512], c;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (me == 1 && read(hear, &c, 1) != 1)
        return -1;
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    CHECK(fd >= 0 && nvmmio_is_managed(fd) == 1, "open %s", path);
    return fd;
}

/* Process `me` of two sharing one file, whose share block was made from a
 * spare: the first opens it and writes its byte, the second opens it,
 * writes its own and must see the first's, then the first must see the
 * second's. */
static int share_side(int me, int tell, int hear)
{
    churn(me ? "warm1-" : "warm0-", 4, false); /* spares to make the block from */
    char c;
    int fd = open_in_turn("shared", me, hear);
    if (fd < 0)
        return 1;
    char mine = (char)('A' + me), other = 0;
    CHECK(pwrite(fd, &mine, 1, me) == 1, "pwrite by %d", me);
    if (me == 0 && (write(tell, "x", 1) != 1 || read(hear, &c, 1) != 1))
        return 1;
    CHECK(pread(fd, &other, 1, 1 - me) == 1 && other == 'A' + (1 - me),
          "process %d does not see the other's write", me);
    if (write(tell, "x", 1) != 1 || read(hear, &c, 1) != 1)
        return 1;
    if (me == 1 && write(tell, "x", 1) != 1)
        return 1;
    CHECK(close(fd) == 0, "close by %d", me);
    return failures ? 1 : 0;
}

/* Runs side(0, ...) and side(1, ...) in two children, each telling the
 * other through a pipe; whether both succeeded. */
static bool run_pair(int (*side)(int me, int tell, int hear))
{
    int a[2], b[2];
    if (pipe(a) < 0 || pipe(b) < 0)
        return false;
    pid_t p0 = fork();
    if (p0 == 0)
        exit(side(0, a[1], b[0]));
    pid_t p1 = fork();
    if (p1 == 0)
        exit(side(1, b[1], a[0]));
    bool ok0 = wait_ok(p0), ok1 = wait_ok(p1);
    close(a[0]), close(a[1]), close(b[0]), close(b[1]);
    return p0 > 0 && p1 > 0 && ok0 && ok1;
}

static void shared_file(void)
{
    CHECK(run_pair(share_side), "a process sharing a file failed");
    char path[512], got[2];
    snprintf(path, sizeof(path), "%s/shared", dir);
    CHECK(raw_read(path, got, 2) == 2 && got[0] == 'A' && got[1] == 'B',
          "the shared file lost a write");
    CHECK(none_kept_after_lingering(),
          "two processes that closed a shared file at once left its log or share block");
}

/* The size in bytes of the one entry of DIR/.nvmmio that ends with suffix
 * and is not a spare, waiting up to 2 s for it when asked; -1 when there
 * is none. */
static long long entry_size(const char *suffix, bool wait)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/.nvmmio", dir);
    for (int tries = 0; tries < (wait ? 200 : 1); tries++, usleep(10 * 1000)) {
        DIR *d = opendir(p);
        if (!d)
            continue;
        long long size = -1;
        struct dirent *e;
        size_t ls = strlen(suffix);
        while ((e = readdir(d)) && size < 0) {
            size_t l = strlen(e->d_name);
            struct stat st;
            if (e->d_name[0] == '.' || l < ls || strcmp(e->d_name + l - ls, suffix) ||
                fstatat(dirfd(d), e->d_name, &st, 0) != 0)
                continue;
            /* The blocks the medium gives it, or its size when it has holes. */
            size = (long long)st.st_blocks * 512 > st.st_size ? (long long)st.st_blocks * 512
                                                              : (long long)st.st_size;
        }
        closedir(d);
        if (size >= 0)
            return size;
    }
    return -1;
}

/* Process `me` of two writing one new file in turn: the first alone until
 * the helper thread has made the file's share block, then the second. */
static int medium_side(int me, int tell, int hear)
{
    char c;
    int fd = open_in_turn("medium", me, hear);
    if (fd < 0)
        return 1;
    char buf[LEN];
    fill(buf, LEN, me);
    CHECK(pwrite(fd, buf, LEN, me * LEN) == LEN && fsync(fd) == 0, "write by %d", me);
    if (me == 0) {
        long long block = entry_size(".share", true), log = entry_size(".log", false);
        CHECK(block > 0 && block <= 4096, "a file open alone has a share block of %lld bytes",
              block);
        CHECK(log <= 4096, "a new file's log takes %lld bytes", log);
        if (write(tell, "x", 1) != 1 || read(hear, &c, 1) != 1)
            return 1;
        long long shared = entry_size(".share", true);
        CHECK(shared > 0 && shared <= (4 << 20),
              "a file written by two processes has a share block of %lld bytes", shared);
    } else if (write(tell, "x", 1) != 1) {
        return 1;
    }
    CHECK(close(fd) == 0, "close by %d", me);
    return failures ? 1 : 0;
}

static void medium_taken(void)
{
    none_kept_after_lingering();
    CHECK(run_pair(medium_side), "a process writing the file failed");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: newfile DIR\n");
        return 2;
    }
    dir = argv[1];
    /* The whole run in a child, so that its exit can be checked. */
    pid_t pid = fork();
    if (pid == 0) {
        killed_spares();
        killed_log_goes_with_file("doomed", false);
        killed_log_goes_with_file("replaced", true);
        churn("f", ROUNDS, true);
        CHECK(count_spares_of(getpid()) > 0, "the process keeps no spare");
        forked_child();
        shared_file();
        medium_taken();
        exit(failures ? 1 : 0);
    }
    CHECK(pid > 0 && wait_ok(pid), "the run failed");
    CHECK(count_entries(".spare-", "") == 0, "a normal exit left spares");
    if (failures)
        return 1;
    printf("ok\n");
    return 0;
}
