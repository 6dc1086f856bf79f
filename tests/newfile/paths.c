/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * paths DIR - which files the library manages when it takes the program's
 * path for the file's canonical path (run under NVMMIO_PATH=DIR, linked
 * with the library). An open that makes a file, or that opens one by a
 * path a managed file had lately, walks refusing symlinks
 * (src/core/canonpaths.h); what it must still get right: a path into the
 * root through a symlink is managed, a path out of it through one is not,
 * nor is a path that was a managed file's until its directory was moved
 * out of the root and a symlink put in its place; relative, "." and ".."
 * paths are read back from the kernel as before. All of it again where a
 * seccomp filter refuses openat2 (EPERM, or ENOSYS as an old kernel).
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libnvmmio.h"

#include "../check.h"

static int failures;

/* Opens path with flags, writes and reads back a few bytes, and checks that
 * the library serves it (or not). */
static void expect(const char *path, int flags, bool managed)
{
    int fd = open(path, flags, 0644);
    CHECK(fd >= 0, "%s: open: %s", path, strerror(errno));
    if (fd < 0)
        return;
    CHECK(nvmmio_is_managed(fd) == (managed ? 1 : 0), "%s: %s by the library", path,
          managed ? "not served" : "served");
    char out[64], in[64] = {0};
    int n = snprintf(out, sizeof(out), "bytes of %s", path);
    CHECK(pwrite(fd, out, (size_t)n, 0) == n, "%s: pwrite", path);
    CHECK(pread(fd, in, (size_t)n, 0) == n && memcmp(in, out, (size_t)n) == 0, "%s: read back",
          path);
    CHECK(close(fd) == 0, "%s: close", path);
}

/* The checks, with root a directory under the library's root (or it) and
 * out one beside it, outside, on the same file system. */
static void checks(const char *root, const char *out)
{
    char p[PATH_MAX], q[PATH_MAX];
    CHECK(mkdir(out, 0700) == 0, "mkdir %s: %s", out, strerror(errno));

    snprintf(p, sizeof(p), "%s/a", root);
    expect(p, O_RDWR | O_CREAT | O_EXCL, true);
    expect(p, O_RDWR, true); /* by a path noted at the first open */
    expect(p, O_RDWR | O_CREAT, true);

    /* Into the root through a symlink: managed, its canonical path is in. */
    snprintf(p, sizeof(p), "%s/in", out);
    CHECK(symlink(root, p) == 0, "symlink %s: %s", p, strerror(errno));
    snprintf(p, sizeof(p), "%s/in/b", out);
    expect(p, O_RDWR | O_CREAT | O_EXCL, true);
    expect(p, O_RDWR, true);

    /* Out of the root through a symlink: not managed. */
    snprintf(p, sizeof(p), "%s/out", root);
    CHECK(symlink(out, p) == 0, "symlink %s: %s", p, strerror(errno));
    snprintf(p, sizeof(p), "%s/out/c", root);
    expect(p, O_RDWR | O_CREAT | O_EXCL, false);
    expect(p, O_RDWR, false);

    /* A path noted for a managed file whose directory then moved out of
     * the root, a symlink to it left in its place: the same string, the
     * same inode, and no longer the canonical path. */
    snprintf(p, sizeof(p), "%s/dir", root);
    CHECK(mkdir(p, 0700) == 0, "mkdir %s", p);
    snprintf(p, sizeof(p), "%s/dir/h", root);
    expect(p, O_RDWR | O_CREAT | O_EXCL, true);
    expect(p, O_RDWR, true);
    snprintf(p, sizeof(p), "%s/dir", root);
    snprintf(q, sizeof(q), "%s/moved", out);
    CHECK(rename(p, q) == 0 && symlink(q, p) == 0, "moving %s out: %s", p, strerror(errno));
    snprintf(p, sizeof(p), "%s/dir/h", root);
    expect(p, O_RDWR, false);

    /* A file moved into the root is managed by its new path. */
    snprintf(p, sizeof(p), "%s/k", out);
    expect(p, O_RDWR | O_CREAT | O_EXCL, false);
    snprintf(q, sizeof(q), "%s/k", root);
    CHECK(rename(p, q) == 0, "rename %s: %s", p, strerror(errno));
    expect(q, O_RDWR, true);

    /* Paths that are not canonical as written. */
    snprintf(p, sizeof(p), "%s/./e", root);
    expect(p, O_RDWR | O_CREAT | O_EXCL, true);
    snprintf(p, sizeof(p), "%s/dir/../f", root); /* dir leads out: so does this */
    expect(p, O_RDWR | O_CREAT | O_EXCL, false);
    snprintf(p, sizeof(p), "%s//g", root);
    expect(p, O_RDWR | O_CREAT | O_EXCL, true);
    CHECK(chdir(root) == 0, "chdir %s", root);
    expect("rel", O_RDWR | O_CREAT | O_EXCL, true);
    expect("rel", O_RDWR, true);

    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", out);
    CHECK(system(cmd) == 0, "removing %s", out);
}

/* The checks again in a child whose openat2 a seccomp filter refuses with
 * err, as container runtimes and old kernels do: the library must fall
 * back to reading paths back. */
static void checks_refused(const char *root, int err)
{
    char sub[PATH_MAX / 2], out[PATH_MAX / 2];
    snprintf(sub, sizeof(sub), "%s/refused%d", root, err);
    snprintf(out, sizeof(out), "%s.refused%d", root, err);
    CHECK(mkdir(sub, 0700) == 0, "mkdir %s: %s", sub, strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        struct sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
            fprintf(stderr, "FAIL: seccomp: %s\n", strerror(errno));
            _exit(1);
        }
        struct open_how how = {.flags = O_RDONLY};
        CHECK(syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how)) < 0 && errno == err,
              "the filter lets openat2 by");
        checks(sub, out);
        _exit(failures ? 1 : 0);
    }
    int status;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
              WEXITSTATUS(status) == 0,
          "with openat2 refused (%s)", strerror(err));
}

int main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] != '/' || strlen(argv[1]) > PATH_MAX / 4) {
        fprintf(stderr, "usage: paths ABSOLUTE_DIR\n");
        return 2;
    }
    const char *root = argv[1];
    char out[PATH_MAX / 2];
    /* A directory beside the root, on the same file system. */
    snprintf(out, sizeof(out), "%s.out", root);
    checks_refused(root, EPERM);
    checks_refused(root, ENOSYS);
    checks(root, out);
    if (failures)
        return 1;
    printf("ok\n");
    return 0;
}
