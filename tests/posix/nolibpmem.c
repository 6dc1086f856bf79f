/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nolibpmem.c - a process that cannot load libpmem (no address space left
 * for it under RLIMIT_AS at its first managed open) gets its files served
 * by the kernel: the open, writes and reads succeed as without the
 * library, a file the open creates stays, and the library says why once
 * on stderr. Release builds only: the sanitizers' runtimes need far more
 * address space than the limit leaves.
 *
 * Usage: nvmmio_nolibpmem DIR   (DIR is a pmem root; run under the library)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static int check(int ok, const char *what)
{
    if (!ok)
        fprintf(stderr, "nolibpmem: FAILED: %s (errno %d)\n", what, errno);
    return ok ? 0 : 1;
}

/* The address space the process has mapped now, in bytes. */
static long mapped_now(void)
{
    long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld", &pages) != 1)
        pages = -1;
    if (f)
        fclose(f);
    return pages * 4096;
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    char path[4096], buf[16] = {0};
    snprintf(path, sizeof(path), "%s/f", argv[1]);
    long now = mapped_now();
    if (now <= 0)
        return check(0, "reading /proc/self/statm");
    /* 1 MiB more than the process has: libpmem and its libraries need
     * several. */
    struct rlimit r = {(rlim_t)now + (1 << 20), RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &r))
        return check(0, "setrlimit");
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    int bad = check(fd >= 0, "the open succeeds");
    bad |= check(write(fd, "hello", 5) == 5, "the write succeeds");
    bad |= check(pread(fd, buf, sizeof(buf), 0) == 5 && !memcmp(buf, "hello", 5), "it reads back");
    struct stat st;
    bad |= check(stat(path, &st) == 0 && st.st_size == 5, "the file is there, 5 bytes");
    bad |= check(close(fd) == 0, "close");
    r.rlim_cur = RLIM_INFINITY;
    setrlimit(RLIMIT_AS, &r);
    fd = open(path, O_RDWR);
    bad |= check(fd >= 0 && write(fd, "!", 1) == 1, "after the limit is lifted, still served");
    close(fd);
    printf("nolibpmem: %s\n", bad ? "FAILED" : "ok");
    return bad;
}
