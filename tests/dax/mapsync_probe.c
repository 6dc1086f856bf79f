/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mapsync_probe - tells whether a file system gives real DAX mappings.
 *
 * usage: mapsync_probe FILE
 *
 * Creates FILE, sizes it to 1 MiB and maps it with
 * MAP_SHARED_VALIDATE | MAP_SYNC, which the kernel only grants on a DAX file
 * system. Prints "MAP_SYNC ok" and exits 0 when the mapping is granted,
 * prints "MAP_SYNC unsupported: <errno>" and exits 1 when it is refused, and
 * exits 2 when FILE cannot be created or sized. FILE is left in place.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

#define PROBE_SIZE (1024 * 1024)

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];

    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        fprintf(stderr, "mapsync_probe: cannot create %s: %s\n", path, strerror(errno));
        return 2;
    }
    if (ftruncate(fd, PROBE_SIZE) != 0) {
        fprintf(stderr, "mapsync_probe: cannot size %s: %s\n", path, strerror(errno));
        close(fd);
        return 2;
    }

    char *map =
        mmap(NULL, PROBE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_SYNC, fd, 0);
    if (map == MAP_FAILED) {
        int err = errno;
        const char *name = strerrorname_np(err);
        printf("MAP_SYNC unsupported: %s (%s)\n", name ? name : "unknown errno", strerror(err));
        close(fd);
        return 1;
    }

    /* Take one write fault so the DAX fault path is exercised too. */
    memset(map, 0xa5, 4096);
    munmap(map, PROBE_SIZE);
    close(fd);
    printf("MAP_SYNC ok\n");
    return 0;
}
