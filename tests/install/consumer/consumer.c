/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * consumer.c - a program built against an installed libnvmmio: a file
 * opened with O_ATOMIC must be managed, and its stats must follow a write.
 */
#include <libnvmmio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC | O_ATOMIC, 0600);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    struct nvmmio_stats st;
    int ok = nvmmio_is_managed(fd) == 1 && write(fd, "hello", 5) == 5 &&
             nvmmio_get_stats(fd, &st) == 0 && st.logical_size == 5 && nvmmio_is_managed(-1) == 0 &&
             nvmmio_sync_all() == 0;
    close(fd);
    if (!ok) {
        fprintf(stderr, "consumer: the installed library does not manage %s\n", argv[1]);
        return 1;
    }
    puts("consumer: managed");
    return 0;
}
