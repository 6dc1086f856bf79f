/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * postcrash.c - a log is never applied to a file changed behind its back.
 * A writer under the library overwrites and appends, fsyncs, writes more
 * (an overwrite of 128 KiB, an append, a small write) and is killed with
 * SIGKILL before its next durability point, leaving a log. A process
 * without the library then overwrites 4 KiB inside what the killed epoch
 * changed and fsyncs. From then on the file must stay byte for byte as
 * the kernel had it after that fsync:
 *
 *   open     the next open under the library succeeds, reads exactly that,
 *            leaves the file so and says on stderr what it did (naming the
 *            file); then `nvmmio recover ROOT` reports the log kept aside
 *            and changes nothing;
 *   recover  `nvmmio recover ROOT` first: changes nothing and reports the
 *            log kept aside; then the library's open reads exactly that
 *            (and need not say anything).
 *
 * Run under the undo policy, recovery would roll the killed epoch's
 * overwrite back over the plain write; under redo, it would replay the
 * committed epoch's records (not yet home when the writer died) over it.
 *
 * "Reports the log kept aside": a line of its output says "aside".
 *
 * sharedsync: an fsync by one process makes every process's completed
 * writes durable. Two processes under the library write the file (an
 * overwrite and an append, an overwrite), the second fsyncs, then both are
 * killed with SIGKILL: the library's next open, and the kernel after it,
 * must show both processes' writes.
 *
 *   postcrash open|recover
 *   sharedsync
 */
#include "share.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#define PLAIN_AT  (128 << 10)
#define PLAIN_LEN 4096
#define PLAIN_KEY 0x504C41494Eull

static bool has_log(void)
{
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/.nvmmio", run.root);
    DIR *d = opendir(dir);
    bool found = false;
    struct dirent *e;
    while (d && (e = readdir(d)))
        found |= strlen(e->d_name) > 4 && !strcmp(e->d_name + strlen(e->d_name) - 4, ".log");
    if (d)
        closedir(d);
    return found;
}

/* The writer's life: durable state, then an epoch in flight, then SIGKILL. */
static void crashed_writer(const char *path)
{
    struct child a;
    actor_start(&a, "the writer under the library", true, -1);
    actor_do(&a, NULL, "open 0 %s", path);
    actor_do(&a, NULL, "pwrite 0 100000 50000 11");
    actor_do(&a, NULL, "append 0 65536 12");
    actor_do(&a, NULL, "fsync 0");
    actor_do(&a, NULL, "pwrite 0 65536 131072 13");
    actor_do(&a, NULL, "append 0 8192 14");
    actor_do(&a, NULL, "pwrite 0 3 10 15");
    child_kill(&a);
}

/* A process without the library writes 4 KiB and fsyncs. */
static void plain_write(const char *path)
{
    uint8_t buf[PLAIN_LEN];
    fill(buf, PLAIN_KEY, PLAIN_AT, PLAIN_LEN);
    int fd = open(path, O_RDWR);
    if (fd < 0 || pwrite(fd, buf, PLAIN_LEN, PLAIN_AT) != PLAIN_LEN || fsync(fd) || close(fd))
        fatal("the plain write to %s: %s", path, strerror(errno));
}

/* The plain write's bytes in the kernel's file, on their own. */
static void check_plain_bytes(const char *path, const char *when)
{
    uint8_t want[PLAIN_LEN], *got;
    fill(want, PLAIN_KEY, PLAIN_AT, PLAIN_LEN);
    size_t size = read_file(path, &got);
    size_t differ = 0;
    for (size_t i = 0; i < PLAIN_LEN; i++)
        differ += PLAIN_AT + i >= size || got[PLAIN_AT + i] != want[i];
    if (differ)
        fail("%s: %zu of the %d bytes a process without the library wrote at %d and fsynced "
             "are gone",
             when, differ, PLAIN_LEN, PLAIN_AT);
    free(got);
}

/* Runs `nvmmio recover ROOT` without the library; its output into out. */
static int nvmmio_recover(char *out, size_t n)
{
    char log[400];
    snprintf(log, sizeof(log), "%s/recover.out", run.dir);
    int fd = open(log, O_RDWR | O_CREAT | O_TRUNC, 0644);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        unsetenv("LD_PRELOAD");
        unsetenv("NVMMIO_PATH");
        unsetenv("PMEM_PATH");
        execl(run.nvmmio, "nvmmio", "recover", run.root, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ssize_t got = pread(fd, out, n - 1, 0);
    out[got > 0 ? got : 0] = 0;
    close(fd);
    return status;
}

static void check_recover(const char *path, const struct model *snap, const char *when)
{
    char out[4096], what[256];
    int status = nvmmio_recover(out, sizeof(out));
    printf("$ nvmmio recover ROOT (%s): wait status %d\n%s", when, status, out);
    if (!strcasestr(out, "aside"))
        fail("nvmmio recover, %s, does not report the log kept aside", when);
    snprintf(what, sizeof(what), "after nvmmio recover (%s)", when);
    model_check_kernel(snap, path, what);
    check_plain_bytes(path, what);
}

static void check_library_open(const char *path, const struct model *snap, const char *when,
                               bool must_say)
{
    char errpath[400], what[256], msg[4096] = "";
    snprintf(errpath, sizeof(errpath), "%s/open.err", run.dir);
    int err = open(errpath, O_RDWR | O_CREAT | O_TRUNC, 0644);
    struct child a;
    actor_start(&a, "the library's next open", true, err);
    snprintf(what, sizeof(what), "the library's open %s", when);
    if (actor_do(&a, NULL, "open 0 %s", path))
        actor_check_view(&a, 0, snap, what);
    actor_do(&a, NULL, "exit");
    child_finish(&a);
    ssize_t got = pread(err, msg, sizeof(msg) - 1, 0);
    msg[got > 0 ? got : 0] = 0;
    close(err);
    printf("stderr of the library's open (%s):\n%s", when, msg);
    const char *name = strrchr(path, '/') + 1;
    if (must_say && !strstr(msg, name))
        fail("the library's open %s says nothing on stderr about the file \"%s\"", when, name);
    snprintf(what, sizeof(what), "after the library's open %s", when);
    model_check_kernel(snap, path, what);
    check_plain_bytes(path, what);
}

int test_sharedsync(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char *path = root_path("synced");
    struct model m = {0};
    model_write(&m, 0, 256 << 10, 1);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
    if (fd < 0 || pwrite(fd, m.buf, m.size, 0) != (ssize_t)m.size || fsync(fd) || close(fd))
        fatal("writing %s: %s", path, strerror(errno));

    struct child a, b, c;
    long long at[3];
    actor_start(&a, "the first writer under the library", true, -1);
    actor_start(&b, "the second writer under the library", true, -1);
    actor_do(&a, NULL, "open 0 %s", path);
    actor_do(&b, NULL, "open 0 %s", path);
    if (actor_do(&a, NULL, "pwrite 0 10000 50000 2"))
        model_write(&m, 10000, 50000, 2);
    if (actor_do(&a, at, "append 0 20000 3"))
        model_write(&m, (uint64_t)at[0], 20000, 3);
    if (actor_do(&b, NULL, "pwrite 0 200000 3000 4"))
        model_write(&m, 200000, 3000, 4);
    actor_do(&b, NULL, "fsync 0");
    child_kill(&a);
    child_kill(&b);

    actor_start(&c, "the library's next open", true, -1);
    actor_do(&c, NULL, "open 0 %s", path);
    actor_check_view(&c, 0, &m, "after one process's fsync and a crash of both writers");
    actor_do(&c, NULL, "exit");
    child_finish(&c);
    model_check_kernel(&m, path, "after one process's fsync, a crash of both writers and an open");
    free(m.buf);
    free(path);
    return 0;
}

int test_postcrash(int argc, char **argv)
{
    if (argc != 1 || (strcmp(argv[0], "open") && strcmp(argv[0], "recover")) || !run.nvmmio ||
        !run.lib)
        fatal("postcrash open|recover, with --lib and --nvmmio");
    bool open_first = !strcmp(argv[0], "open");
    char *path = root_path("crashed");
    struct model start = {0};
    model_write(&start, 0, 512 << 10, 1);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
    if (fd < 0 || pwrite(fd, start.buf, start.size, 0) != (ssize_t)start.size || fsync(fd) ||
        close(fd))
        fatal("writing %s: %s", path, strerror(errno));
    free(start.buf);

    crashed_writer(path);
    if (!has_log())
        fatal("the killed writer left no log in %s/.nvmmio: nothing to recover", run.root);
    plain_write(path);
    struct model snap = {0};
    snap.size = snap.cap = read_file(path, &snap.buf);

    if (open_first) {
        check_library_open(path, &snap, "after the crash and the plain write", true);
        check_recover(path, &snap, "after the library's open");
    } else {
        check_recover(path, &snap, "after the crash and the plain write");
        check_library_open(path, &snap, "after nvmmio recover", false);
    }
    free(snap.buf);
    free(path);
    return 0;
}
