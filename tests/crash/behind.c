/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * behind.c - a file changed behind its log's back after a crash.
 *
 *   nvmmio_behindtest --lib LIB --cmd NVMMIO [--kills N] [--seed S] [--lone-only 1]
 *
 * The parent (never preloaded) works in a fresh directory under /dev/shm
 * whose root/ is the pmem root. First, for each policy and each way a
 * program without the library can change a file (overwrite 4 KiB, truncate,
 * append, replace it by rename), a writer under the library is killed in
 * the middle of an epoch (after a fsync and more writes; overwrites only,
 * or appends and a cut in both epochs too), the plain program
 * changes the file and syncs, and then either an open under the library or
 * `nvmmio recover ROOT` comes first: the file must keep the plain program's
 * bytes, the log must be kept aside (said on stderr by the library, in the
 * output of `nvmmio recover` and `nvmmio check`), and never applied.
 * Then the other side: N kills of a lone writer under the library (undo,
 * redo and hybrid in turn; overwrites, appends, truncations, syncs, and its
 * own mapping of the file in every third run), each followed by an open
 * under the library or `nvmmio recover`: the log must be applied every
 * time, never kept aside. Before them, for each policy, one writer killed
 * right after a write that fills pages the file was grown over as a hole
 * and appends past them (pages the library had never mapped in, whose
 * first store would move the mtime): its log must be applied too. And
 * four lone writers for each policy (one of them storing through its own
 * mapping too) that check, after each of 8000 operations, that the watch
 * in their log vouches for no mtime or size the file does not have (a
 * kill there would keep the log aside).
 * --lone-only 1 runs only those (forced pmem,
 * whose appends leave the mtime unwatched until a publication, lets some
 * of the changed files go unseen: README, Logs).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <link.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log/format.h"

#define SIZE  (64 << 10)
#define BLOCK 4096
/* Operations of each lone writer that checks its log's watch. */
#define CHECKED_OPS 8000

static const char *lib, *cmd, *self;
static char preload[2 * PATH_MAX + 2]; /* the sanitizer's runtime first, when this test has one */
static char work[256], root[300];
static int failures;

static void fail(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "behindtest: FAIL: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n");
    failures++;
}

static void die(const char *what)
{
    perror(what);
    exit(3);
}

/* ---- children --------------------------------------------------------- */

static void write_at(int fd, char c, size_t n, off_t off)
{
    char buf[SIZE];
    memset(buf, c, n);
    if (pwrite(fd, buf, n, off) != (ssize_t)n)
        die("pwrite");
}

static void say_ready(void)
{
    if (write(1, "r", 1) != 1)
        die("write");
}

/* Mid-epoch: one durability point, then more writes, then wait for death.
 * grow: both epochs also change the file's size (appends, a cut), which
 * the library does to the file itself. */
static _Noreturn void child_writer(const char *path, bool grow)
{
    int fd = open(path, O_RDWR);
    if (fd < 0)
        die("open");
    write_at(fd, 'B', 4 * BLOCK, 0);
    if (grow)
        write_at(fd, 'G', BLOCK, SIZE);
    if (fsync(fd) < 0)
        die("fsync");
    write_at(fd, 'C', 2 * BLOCK, BLOCK);
    if (grow) {
        write_at(fd, 'H', 3 * BLOCK, SIZE + BLOCK);
        if (ftruncate(fd, SIZE + 3 * BLOCK) < 0)
            die("ftruncate");
        write_at(fd, 'D', 10, 3 * BLOCK);
    }
    say_ready();
    for (;;)
        pause();
}

/* After a durability point (which trims the file to its size, 18 pages), a
 * truncation grows it past a hole, and a write fills the hole's last pages
 * and appends past it: pages never mapped in before. */
static _Noreturn void child_hole_writer(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        die("open");
    write_at(fd, 'a', 16 * BLOCK, 0);
    write_at(fd, 'a', 2 * BLOCK, 16 * BLOCK);
    if (fsync(fd) < 0)
        die("fsync");
    if (ftruncate(fd, 20 * BLOCK + 259) < 0)
        die("ftruncate");
    write_at(fd, 'b', 2 * BLOCK + 3 * 1024, 18 * BLOCK + 1420);
    say_ready();
    for (;;)
        pause();
}

static uint64_t next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Whether the watch in the log of the file at path vouches for an mtime or
 * a size the file does not have: what a kill at that moment would make
 * recovery keep aside. The file's status comes from the kernel itself: the
 * library answers stat with its own view, and may publish the file's
 * times first. */
static bool watch_drifted(const char *path)
{
    struct statx stx;
    if (syscall(SYS_statx, AT_FDCWD, path, 0, STATX_SIZE | STATX_MTIME | STATX_INO, &stx) < 0)
        die("statx");
    char log[PATH_MAX];
    const char *slash = strrchr(path, '/');
    snprintf(log, sizeof(log), "%.*s/.nvmmio/%llx-%llx.log", (int)(slash - path), path,
             (unsigned long long)makedev(stx.stx_dev_major, stx.stx_dev_minor),
             (unsigned long long)stx.stx_ino);
    int lfd = open(log, O_RDONLY);
    if (lfd < 0)
        return false; /* no log yet */
    static char head[NVLOG_WATCH_OFFSET + 2 * sizeof(struct nvlog_watch)];
    ssize_t n = pread(lfd, head, sizeof(head), 0);
    close(lfd);
    const struct nvlog_watch *w = n == (ssize_t)sizeof(head) ? nvlog_watch_current(head) : NULL;
    if (!w)
        return false;
    bool size_off = (w->flags & NVLOG_WATCH_SIZE) && stx.stx_size != w->size;
    bool mtime_off = (w->flags & NVLOG_WATCH_MTIME) && (stx.stx_mtime.tv_sec != w->mtime_sec ||
                                                        stx.stx_mtime.tv_nsec != w->mtime_nsec);
    if (!size_off && !mtime_off)
        return false;
    fprintf(stderr,
            "the watch (flags %u) says mtime %lld.%09u size %llu, the file has %lld.%09u size "
            "%llu\n",
            w->flags, (long long)w->mtime_sec, w->mtime_nsec, (unsigned long long)w->size,
            (long long)stx.stx_mtime.tv_sec, stx.stx_mtime.tv_nsec,
            (unsigned long long)stx.stx_size);
    return true;
}

/* A lone writer: random overwrites, appends, truncations and syncs, and
 * stores through its own mapping when asked, until it is killed; or, with
 * `checked` operations to do, checking the log's watch after each one
 * (exit status 4 when it vouches for what the file does not show). */
static _Noreturn void child_loop(const char *path, uint64_t seed, bool mapped, long checked)
{
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0)
        die("open");
    bool ready = false;
    for (uint64_t s = seed;;) {
        off_t size = lseek(fd, 0, SEEK_END);
        unsigned op = (unsigned)(next(&s) % 10);
        size_t len = 1 + next(&s) % (3 * BLOCK);
        off_t at = size > 0 ? (off_t)(next(&s) % (uint64_t)size) : 0;
        if (op < 4) {
            write_at(fd, (char)('a' + op), len, at);
        } else if (op < 6 && size < (1 << 20)) {
            write_at(fd, 'z', len, size);
        } else if (op == 6) {
            if (ftruncate(fd, (off_t)(next(&s) % (SIZE * 2))) < 0)
                die("ftruncate");
        } else if (op == 7 && mapped && size > 0) {
            char *m = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
            if (m == MAP_FAILED)
                die("mmap");
            m[at] = 'M';
            munmap(m, (size_t)size);
        } else if (op == 8) {
            if (fsync(fd) < 0)
                die("fsync");
        } else if (fdatasync(fd) < 0) {
            die("fdatasync");
        }
        if (checked > 0 && watch_drifted(path)) {
            fprintf(stderr, "after operation %u (%ld to go)\n", op, checked);
            exit(4);
        }
        if (checked > 0 && --checked == 0)
            exit(0);
        if (!ready && checked == 0)
            say_ready();
        ready = true;
    }
}

/* Reads the file under the library and sends its bytes back. */
static int child_read(const char *path)
{
    int fd = open(path, O_RDWR);
    if (fd < 0)
        die("open");
    char buf[1 << 16];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (write(1, buf, (size_t)n) != n)
            die("write");
    return n < 0 || close(fd) < 0 ? 3 : 0;
}

/* ---- the parent's tools ------------------------------------------------- */

static int find_asan(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    const char *name = info->dlpi_name;
    if (!name || (!strstr(name, "/libasan.so") && !strstr(name, "libclang_rt.asan")))
        return 0;
    snprintf(data, PATH_MAX, "%s", name);
    return 1;
}

/* LD_PRELOAD for the children under the library: in a sanitizer build the
 * library needs the sanitizer's runtime loaded first. */
static void set_preload(void)
{
    char asan[PATH_MAX] = "";
    dl_iterate_phdr(find_asan, asan);
    snprintf(preload, sizeof(preload), "%s%s%s", asan, asan[0] ? ":" : "", lib);
}

/* Starts argv, under the library with policy when given, stdout to a pipe
 * (*out) and stderr to the file err. */
static pid_t start(char *const argv[], const char *policy, int *out, const char *err)
{
    int p[2];
    if (pipe(p) < 0)
        die("pipe");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (e < 0 || dup2(p[1], 1) < 0 || dup2(e, 2) < 0)
            _exit(127);
        close(p[0]);
        if (policy) {
            setenv("LD_PRELOAD", preload, 1);
            setenv("ASAN_OPTIONS", "detect_leaks=0", 1); /* killed, or exiting with files open */
            setenv("NVMMIO_PATH", root, 1);
            setenv("NVMMIO_POLICY", policy, 1);
        } else {
            unsetenv("LD_PRELOAD");
        }
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    *out = p[0];
    return pid;
}

static size_t read_all(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n < cap && (r = read(fd, buf + n, cap - n)) > 0)
        n += (size_t)r;
    return n;
}

static int finish(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) < 0)
        die("waitpid");
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Runs argv to its end: its exit status, stdout in out (NUL-ended). */
static int run(char *const argv[], const char *policy, char *out, size_t cap, const char *err)
{
    int fd;
    pid_t pid = start(argv, policy, &fd, err);
    size_t n = read_all(fd, out, cap - 1);
    out[n] = '\0';
    char rest[4096];
    while (read(fd, rest, sizeof(rest)) > 0) /* what does not fit is not needed */
        ;
    close(fd);
    return finish(pid);
}

static bool file_has(const char *path, const char *text)
{
    char buf[8192];
    int fd = open(path, O_RDONLY);
    size_t n = fd < 0 ? 0 : read_all(fd, buf, sizeof(buf) - 1);
    buf[n] = '\0';
    if (fd >= 0)
        close(fd);
    return strstr(buf, text) != NULL;
}

static size_t read_raw(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        die(path);
    size_t n = read_all(fd, buf, cap);
    close(fd);
    return n;
}

/* Logs in root/.nvmmio: kept aside, and still in place. */
static void count_logs(int *aside, int *live)
{
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/.nvmmio", root);
    *aside = *live = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        *aside += strstr(e->d_name, ".log.aside-") != NULL;
        size_t n = strlen(e->d_name);
        *live += n > 4 && !strcmp(e->d_name + n - 4, ".log");
    }
    if (d)
        closedir(d);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void fresh_root(void)
{
    nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (mkdir(root, 0755) < 0)
        die("mkdir");
}

static void kill_writer(pid_t pid, int out)
{
    char c;
    if (read(out, &c, 1) != 1)
        fail("a writer under the library did not start%s%s", "", "");
    kill(pid, SIGKILL);
    finish(pid);
    close(out);
}

/* ---- a file changed behind the log's back ------------------------------ */

static void plain_change(const char *variant, const char *path)
{
    int fd;
    if (!strcmp(variant, "replace")) {
        char tmp[420], buf[5 * BLOCK];
        snprintf(tmp, sizeof(tmp), "%s.new", path);
        memset(buf, 'R', sizeof(buf));
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) || fsync(fd) < 0 ||
            rename(tmp, path) < 0)
            die("replace");
    } else {
        fd = open(path, O_WRONLY | (!strcmp(variant, "append") ? O_APPEND : 0));
        if (fd < 0)
            die("open");
        if (!strcmp(variant, "truncate")) {
            if (ftruncate(fd, 3 * BLOCK) < 0)
                die("ftruncate");
        } else {
            write_at(fd, 'P', BLOCK, 2 * BLOCK); /* O_APPEND puts it at the end */
        }
        if (fsync(fd) < 0)
            die("fsync");
    }
    close(fd);
}

static void changed_case(const char *policy, const char *variant, bool tool_first, bool grow)
{
    char path[400], err[400], label[96], out[16384];
    static char before[2 * SIZE], got[2 * SIZE];
    snprintf(label, sizeof(label), "%s/%s/%s first%s", policy, variant,
             tool_first ? "nvmmio recover" : "open", grow ? "/the writer grew the file" : "");
    snprintf(path, sizeof(path), "%s/f", root);
    snprintf(err, sizeof(err), "%s/stderr", work);
    fresh_root();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        die("create");
    write_at(fd, 'A', SIZE, 0);
    fsync(fd);
    close(fd);
    char *writer[] = {(char *)self, grow ? "--writer-grow" : "--writer", path, NULL};
    int wout;
    pid_t pid = start(writer, policy, &wout, err);
    kill_writer(pid, wout);
    /* A file system with coarse timestamps moves mtime once per tick. */
    nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    plain_change(variant, path);
    size_t nbefore = read_raw(path, before, sizeof(before));
    bool replaced = !strcmp(variant, "replace");
    char *recover[] = {(char *)cmd, "recover", root, NULL};
    char *reader[] = {(char *)self, "--read", path, NULL};
    if (tool_first) {
        int rc = run(recover, NULL, out, sizeof(out), err);
        if (rc != 2 || !strstr(out, replaced ? "no file" : "kept aside: another program"))
            fail("%s: nvmmio recover does not report the log it keeps aside:\n%s", label, out);
    }
    int rfd;
    pid = start(reader, policy, &rfd, err);
    size_t ngot = read_all(rfd, got, sizeof(got));
    close(rfd);
    if (finish(pid) != 0)
        fail("%s: the open under the library fails%s", label, "");
    if (ngot != nbefore || memcmp(got, before, ngot))
        fail("%s: the plain program's bytes are gone%s", label, "");
    if (!tool_first && !replaced && !file_has(err, "is kept aside as"))
        fail("%s: the library does not say that it kept the log aside%s", label, "");
    if (!read_raw(path, got, sizeof(got)) || memcmp(got, before, nbefore))
        fail("%s: the raw file changed%s", label, "");
    int aside, live;
    count_logs(&aside, &live);
    if (aside != !replaced || live != replaced)
        fail("%s: the log is not kept aside%s", label, "");
    char *check[] = {(char *)cmd, "check", root, NULL};
    int rc = run(check, NULL, out, sizeof(out), err);
    if (rc != 2 || !strstr(out, replaced ? "no file" : "kept aside after the file changed"))
        fail("%s: nvmmio check does not report the log:\n%s", label, out);
    char *status[] = {(char *)cmd, "status", root, NULL};
    if (!replaced &&
        (run(status, NULL, out, sizeof(out), err) != 0 || !strstr(out, "(kept aside)")))
        fail("%s: nvmmio status does not list the log kept aside:\n%s", label, out);
    if (!tool_first && !replaced) {
        rc = run(recover, NULL, out, sizeof(out), err);
        if (rc != 0 || !strstr(out, "kept aside earlier"))
            fail("%s: nvmmio recover does not list the log kept aside:\n%s", label, out);
    }
}

/* ---- a lone writer's own crashes ----------------------------------------- */

static void hole_case(const char *policy)
{
    char path[400], err[400], label[96], out[16384];
    static char got[2 * SIZE];
    snprintf(path, sizeof(path), "%s/h", root);
    snprintf(err, sizeof(err), "%s/stderr", work);
    snprintf(label, sizeof(label), "%s/a write into pages grown as a hole", policy);
    fresh_root();
    char *writer[] = {(char *)self, "--hole-writer", path, NULL};
    int wout;
    pid_t pid = start(writer, policy, &wout, err);
    kill_writer(pid, wout);
    char *recover[] = {(char *)cmd, "recover", root, NULL};
    int rc = run(recover, NULL, out, sizeof(out), err);
    if (rc != 0 || !strstr(out, "recovered") || strstr(out, "kept aside"))
        fail("%s: nvmmio recover does not recover the file:\n%s", label, out);
    size_t n = read_raw(path, got, sizeof(got));
    bool whole = n == 18 * BLOCK;
    for (size_t i = 0; whole && i < n; i++)
        whole = got[i] == 'a';
    if (!whole)
        fail("%s: the file is not as it was at its durability point%s", label, "");
}

/* A lone writer that checks its log's watch after each of its operations
 * (child_loop): no kill needed to see a moment when one would make
 * recovery keep the log aside. One that maps the file itself leaves the
 * watch its size only, which is checked then. */
static void checked_case(const char *policy, uint64_t seed, bool mapped)
{
    char path[400], err[400], label[96], out[256], seedarg[32], ops[16];
    snprintf(path, sizeof(path), "%s/w", root);
    snprintf(err, sizeof(err), "%s/stderr", work);
    snprintf(label, sizeof(label), "%s, seed %llu%s", policy, (unsigned long long)seed,
             mapped ? ", its own mapping too" : "");
    snprintf(seedarg, sizeof(seedarg), "%llu", (unsigned long long)seed);
    snprintf(ops, sizeof(ops), "%d", CHECKED_OPS);
    fresh_root();
    char *writer[] = {(char *)self, mapped ? "--loop-checked-mapped" : "--loop-checked",
                      path,         seedarg,
                      ops,          NULL};
    int rc = run(writer, policy, out, sizeof(out), err);
    char said[1024];
    said[read_raw(err, said, sizeof(said) - 1)] = '\0';
    if (rc == 4)
        fail("%s: the watch vouches for what the file does not show:\n%s", label, said);
    else if (rc != 0)
        fail("%s: the checked writer fails:\n%s", label, said);
}

/* Returns whether the kill left a log to recover. */
static bool own_crash(int i, uint64_t seed)
{
    static const char *policies[] = {"undo", "redo", "hybrid"};
    const char *policy = policies[i % 3];
    char path[400], err[400], label[96], out[16384];
    snprintf(path, sizeof(path), "%s/g", root);
    snprintf(err, sizeof(err), "%s/stderr", work);
    snprintf(label, sizeof(label), "kill %d (%s)", i, policy);
    char seedarg[32];
    snprintf(seedarg, sizeof(seedarg), "%llu", (unsigned long long)(seed * 1000003 + (uint64_t)i));
    char *writer[] = {(char *)self, (i / 3) % 3 == 2 ? "--loop-mapped" : "--loop", path, seedarg,
                      NULL};
    int wout;
    pid_t pid = start(writer, policy, &wout, err);
    uint64_t s = seed + (uint64_t)i;
    nanosleep(&(struct timespec){0, (long)(next(&s) % 15) * 1000 * 1000}, NULL);
    kill_writer(pid, wout);
    int aside, live;
    count_logs(&aside, &live);
    bool had_log = live > 0;
    int rc;
    if (i % 4 == 3) {
        char *recover[] = {(char *)cmd, "recover", root, NULL};
        rc = run(recover, NULL, out, sizeof(out), err);
        if (rc != 0 || strstr(out, "kept aside"))
            fail("%s: nvmmio recover does not recover the file:\n%s", label, out);
    } else {
        char *reader[] = {(char *)self, "--read", path, NULL};
        rc = run(reader, policy, out, sizeof(out), err);
        if (rc != 0 || file_has(err, "kept aside") || file_has(err, "refusing"))
            fail("%s: the open under the library does not recover the file (stderr: %s)", label,
                 err);
    }
    count_logs(&aside, &live);
    if (aside || live)
        fail("%s: a log is kept aside or left after recovery%s", label, "");
    return had_log;
}

int main(int argc, char **argv)
{
    self = argv[0];
    if (argc >= 3 && !strncmp(argv[1], "--writer", 8))
        child_writer(argv[2], !strcmp(argv[1], "--writer-grow"));
    if (argc >= 5 && !strncmp(argv[1], "--loop-checked", 14))
        child_loop(argv[2], strtoull(argv[3], NULL, 10), !strcmp(argv[1], "--loop-checked-mapped"),
                   atol(argv[4]));
    if (argc >= 4 && !strncmp(argv[1], "--loop", 6))
        child_loop(argv[2], strtoull(argv[3], NULL, 10), !strcmp(argv[1], "--loop-mapped"), 0);
    if (argc >= 3 && !strcmp(argv[1], "--read"))
        return child_read(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "--hole-writer"))
        child_hole_writer(argv[2]);
    int kills = 240;
    bool lone_only = false;
    uint64_t seed = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--lib"))
            lib = argv[i + 1];
        else if (!strcmp(argv[i], "--cmd"))
            cmd = argv[i + 1];
        else if (!strcmp(argv[i], "--kills"))
            kills = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed"))
            seed = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--lone-only"))
            lone_only = atoi(argv[i + 1]) != 0;
    }
    if (!lib || !cmd) {
        fprintf(stderr, "usage: %s --lib LIB --cmd NVMMIO [--kills N] [--seed S] [--lone-only 1]\n",
                argv[0]);
        return 3;
    }
    set_preload();
    snprintf(work, sizeof(work), "/dev/shm/nvmmio-behind.XXXXXX");
    if (!mkdtemp(work))
        die("mkdtemp");
    snprintf(root, sizeof(root), "%s/root", work);
    static const char *policies[] = {"undo", "redo", "hybrid"};
    static const char *variants[] = {"overwrite", "truncate", "append", "replace"};
    for (int p = 0; p < 3 && !lone_only; p++)
        for (int v = 0; v < 4; v++)
            for (int first = 0; first < 4; first++)
                changed_case(policies[p], variants[v], first & 1, first & 2);
    for (int p = 0; p < 3; p++) {
        hole_case(policies[p]);
        for (uint64_t k = 0; k < 4; k++)
            checked_case(policies[p], seed * 100 + k, k == 3);
    }
    fresh_root();
    int recovered = 0;
    for (int i = 0; i < kills && failures < 10; i++)
        recovered += own_crash(i, seed);
    /* Most kills come mid-epoch: the writer syncs often but never closes. */
    char count[16];
    snprintf(count, sizeof(count), "%d", recovered);
    if (recovered < kills / 4)
        fail("only %s of the kills left a log to recover%s", count, "");
    if (failures == 0)
        nftw(work, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    else
        fprintf(stderr, "behindtest: the directory %s is kept\n", work);
    printf("behindtest: %d files changed behind their logs, 3 writes into a hole, %d kills of a "
           "lone writer (%d left a log): %d failures\n",
           lone_only ? 0 : 48, kills, recovered, failures);
    return failures ? 1 : 0;
}
