/* SPDX-License-Identifier: BSD-3-Clause */
/* openread FILE: opens FILE, reads it to the end, closes it. The trivial
 * program of evaluation/startup: what one plain open/read/close costs a
 * process with and without libnvmmio preloaded. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char buf[4096];
    ssize_t n;
    int fd;

    if (argc != 2) {
        fprintf(stderr, "usage: openread FILE\n");
        return 2;
    }
    fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    while ((n = read(fd, buf, sizeof buf)) > 0)
        ;
    if (n < 0 || close(fd) != 0) {
        perror(argv[1]);
        return 1;
    }
    return 0;
}
