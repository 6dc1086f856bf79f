/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * cmd_writer.c - the program the nvmmio command's tests run under it.
 *
 *   cmd_writer probe FILE   opens FILE and says whether the library manages
 *                           it ("managed": exit 0, "not managed": exit 1)
 *   cmd_writer hold FILE    makes FILE 256 KiB of 'A' (durable), then
 *                           overwrites 64 KiB at 64 KiB with 'B' and appends
 *                           4 KiB of 'C' without a durability point, says
 *                           "ready" and waits to be killed
 *   cmd_writer hold-atomic FILE   the same, FILE opened with O_ATOMIC
 *   cmd_writer commit-kill FILE   makes FILE 256 KiB of 'A' (durable),
 *                           overwrites 64 KiB at 64 KiB with 'B' in one
 *                           RWF_DSYNC write (a durability point that, unlike
 *                           fsync, leaves redo blocks in the log) and kills
 *                           itself with SIGKILL before any close: under the
 *                           redo policy the 'B' blocks are committed in the
 *                           log and not yet home
 *
 * The library is found with dlsym, not linked, so the program also runs
 * without it (and then manages nothing).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "libnvmmio.h"

#define SIZE (256 << 10)

static int fill(int fd, char c, size_t len, off_t off)
{
    static char buf[SIZE];
    memset(buf, c, len);
    return pwrite(fd, buf, len, off) == (ssize_t)len ? 0 : -1;
}

static int probe(int fd)
{
    int (*is_managed)(int) = (int (*)(int))dlsym(RTLD_DEFAULT, "nvmmio_is_managed");
    int managed = is_managed && is_managed(fd) == 1;
    printf("%s\n", managed ? "managed" : "not managed");
    return managed ? 0 : 1;
}

static int hold(int fd)
{
    if (fill(fd, 'A', SIZE, 0) < 0 || fsync(fd) < 0)
        return 2;
    if (fill(fd, 'B', 64 << 10, 64 << 10) < 0 || fill(fd, 'C', 4 << 10, SIZE) < 0)
        return 2;
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}

static int commit_kill(int fd)
{
    if (fill(fd, 'A', SIZE, 0) < 0 || fsync(fd) < 0)
        return 2;
    static char b[64 << 10];
    memset(b, 'B', sizeof(b));
    struct iovec iov = {b, sizeof(b)};
    if (pwritev2(fd, &iov, 1, 64 << 10, RWF_DSYNC) != (ssize_t)sizeof(b))
        return 2;
    raise(SIGKILL);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: cmd_writer probe|hold|hold-atomic|commit-kill FILE\n");
        return 2;
    }
    bool atomic = !strcmp(argv[1], "hold-atomic");
    int fd = open(argv[2], O_RDWR | O_CREAT | (atomic ? O_ATOMIC : 0), 0644);
    if (fd < 0) {
        perror(argv[2]);
        return 2;
    }
    if (!strcmp(argv[1], "probe"))
        return probe(fd);
    if (atomic || !strcmp(argv[1], "hold"))
        return hold(fd);
    if (!strcmp(argv[1], "commit-kill"))
        return commit_kill(fd);
    return 2;
}
