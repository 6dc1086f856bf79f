/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * filecost DIR N [churn M]: the cost of a file. Opens N new files in DIR,
 * writes 100 bytes to each and keeps them all open, then fsyncs and closes
 * them; stops opening at the first failure (EMFILE...). Then, with churn M,
 * makes M more files one at a time: open, write 100 bytes, close. Prints
 * one line of key=value pairs: files opened (and of them served by the
 * library, when it is preloaded), the errno that stopped it (0:
 * none), microseconds per file for open + write, fsync, close, and churn,
 * the descriptors and memory mappings the process held with every file
 * open, beyond the program's own, peak RSS in KiB, and the KiB of DIR's
 * file system in use with every file open, beyond what it was before (the
 * medium the files and the library's own files take: on tmpfs, memory;
 * another program writing to that file system at the time counts too).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Open descriptors, counted through fd_dir (opened at the start: at the
 * limit no descriptor is left to open it with). */
static DIR *fd_dir;

static long count_fds(void)
{
    long n = 0;
    rewinddir(fd_dir);
    while (readdir(fd_dir))
        n++;
    return n - 3; /* ., .. and the directory's own descriptor */
}

/* Mappings, counted through maps_file (opened at the start too). */
static FILE *maps_file;

static long count_maps(void)
{
    long n = 0;
    int c;
    rewind(maps_file);
    while ((c = getc(maps_file)) != EOF)
        n += c == '\n';
    return n;
}

/* KiB in use on the file system of dir; -1 when it cannot be asked. */
static long used_kb(const char *dir)
{
    struct statvfs s;
    if (statvfs(dir, &s) != 0)
        return -1;
    return (long)((s.f_blocks - s.f_bfree) * (s.f_frsize / 1024));
}

/* The library's, when it is preloaded: whether it serves a descriptor. */
extern int nvmmio_is_managed(int fd) __attribute__((weak));

static int make_file(const char *dir, long i, const char *buf)
{
    char name[4096];
    snprintf(name, sizeof(name), "%s/f%ld", dir, i);
    int fd = open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0 && write(fd, buf, 100) != 100) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    if (argc != 3 && !(argc == 5 && !strcmp(argv[3], "churn"))) {
        fprintf(stderr, "usage: filecost DIR N [churn M]\n");
        return 2;
    }
    const char *dir = argv[1];
    long n = atol(argv[2]), churn = argc == 5 ? atol(argv[4]) : 0;
    int *fds = calloc((size_t)n + 1, sizeof(int));
    char buf[100];
    memset(buf, 'x', sizeof(buf));
    fd_dir = opendir("/proc/self/fd");
    if (!fd_dir) {
        perror("/proc/self/fd");
        return 1;
    }
    maps_file = fopen("/proc/self/maps", "r");
    if (!maps_file) {
        perror("/proc/self/maps");
        return 1;
    }
    long fds_before = count_fds();
    long maps_before = count_maps();
    long used_before = used_kb(dir);

    long opened = 0;
    int stop = 0;
    double t0 = now_us();
    for (; opened < n; opened++) {
        fds[opened] = make_file(dir, opened, buf);
        if (fds[opened] < 0) {
            stop = errno;
            break;
        }
    }
    double t1 = now_us();
    long fds_held = count_fds() - fds_before;
    long maps_held = count_maps() - maps_before;
    long managed = 0;
    for (long i = 0; nvmmio_is_managed && i < opened; i++)
        managed += nvmmio_is_managed(fds[i]) == 1;
    for (long i = 0; i < opened; i++)
        if (fsync(fds[i]) != 0)
            perror("fsync");
    double t2 = now_us();
    long used_held = used_kb(dir) - used_before;
    for (long i = 0; i < opened; i++)
        if (close(fds[i]) != 0)
            perror("close");
    double t3 = now_us();
    for (long i = 0; i < churn; i++) {
        int fd = make_file(dir, n + i, buf);
        if (fd < 0 || close(fd) != 0) {
            perror("churn");
            return 1;
        }
    }
    double t4 = now_us();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double per = opened ? 1.0 / (double)opened : 0;
    printf("opened=%ld managed=%ld stop=%d open_write_us=%.2f fsync_us=%.2f close_us=%.2f "
           "churn_us=%.2f extra_fds=%ld extra_maps=%ld maxrss_kb=%ld medium_kb=%ld\n",
           opened, managed, stop, (t1 - t0) * per, (t2 - t1) * per, (t3 - t2) * per,
           churn ? (t4 - t3) / (double)churn : 0.0, fds_held, maps_held, ru.ru_maxrss, used_held);
    free(fds);
    return 0;
}
