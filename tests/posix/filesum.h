/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * filesum.h - a file's size and FNV-1a, read with the C library's read,
 * for testers whose output a run without the library must match.
 */
#ifndef NVMMIO_TESTS_FILESUM_H
#define NVMMIO_TESTS_FILESUM_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

/* Prints "WHAT N bytes, fnv H", WHAT padded to width. */
static inline void print_file_sum(const char *what, int width, const char *path)
{
    int fd = open(path, O_RDONLY);
    uint64_t h = 14695981039346656037ull, n = 0;
    unsigned char buf[4096];
    ssize_t r;
    while (fd >= 0 && (r = read(fd, buf, sizeof(buf))) > 0)
        for (ssize_t i = 0; i < r; i++, n++)
            h = (h ^ buf[i]) * 1099511628211ull;
    if (fd >= 0)
        close(fd);
    printf("%-*s %llu bytes, fnv %016llx\n", width, what, (unsigned long long)n,
           (unsigned long long)h);
}

#endif
