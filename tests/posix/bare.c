/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bare.c - calls the library does not serve as wrappers, made on files it
 * manages: Linux AIO as libaio submits it (io_setup, io_submit and
 * io_getevents through syscall(2)) writing past the end the library knows,
 * and the data and size calls through syscall(2). Prints every result and
 * the files' sizes and checksums; run_bare.sh runs it plainly and under
 * the library and compares the two, and the files' bytes.
 *
 * Usage: bare DIR
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "filesum.h"

static char path[4096];

static void result(const char *what, long r)
{
    printf("%-40s %ld%s%s\n", what, r, r < 0 ? " " : "", r < 0 ? strerror(errno) : "");
}

/* Size and FNV-1a of the file at `path`. */
static void summary(const char *what)
{
    print_file_sum(what, 40, path);
}

static void aio_past_the_end(const char *dir)
{
    snprintf(path, sizeof(path), "%s/aio", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    result("aio: open", fd);
    result("aio: write 5 bytes", write(fd, "hello", 5));
    aio_context_t ctx = 0;
    result("aio: io_setup", syscall(SYS_io_setup, 8, &ctx));
    static char buf[4096];
    memset(buf, 'A', sizeof(buf));
    struct iocb cb = {.aio_fildes = (uint32_t)fd,
                      .aio_lio_opcode = IOCB_CMD_PWRITE,
                      .aio_buf = (uint64_t)(uintptr_t)buf,
                      .aio_nbytes = sizeof(buf),
                      .aio_offset = 8192};
    struct iocb *cbs[1] = {&cb};
    result("aio: io_submit, a bad iocb array", syscall(SYS_io_submit, ctx, 1, (void *)8));
    result("aio: io_submit a write at 8192", syscall(SYS_io_submit, ctx, 1, cbs));
    struct io_event ev = {0};
    result("aio: io_getevents", syscall(SYS_io_getevents, ctx, 1, 1, &ev, NULL));
    result("aio: the write's result", (long)ev.res);
    struct stat st;
    result("aio: fstat", fstat(fd, &st));
    result("aio: size", (long)st.st_size);
    char back[4] = {0};
    result("aio: pread at 8192", pread(fd, back, sizeof(back), 8192));
    result("aio: its bytes are the write's", memcmp(back, "AAAA", 4) == 0);
    result("aio: write 3 more", write(fd, "end", 3));
    result("aio: fsync", fsync(fd));
    result("aio: io_destroy", syscall(SYS_io_destroy, ctx));
    result("aio: close", close(fd));
    summary("aio: the file");
}

static void bare_calls(const char *dir)
{
    snprintf(path, sizeof(path), "%s/bare", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    result("bare: open", fd);
    result("bare: write 100 bytes", write(fd, memset((char[100]){0}, 'w', 100), 100));
    result("bare: pwrite64 at 20000", syscall(SYS_pwrite64, fd, "past", 4, 20000));
    result("bare: ftruncate to 15000", syscall(SYS_ftruncate, fd, 15000));
    result("bare: lseek to the end", syscall(SYS_lseek, fd, 0, SEEK_END));
    result("bare: write after it", write(fd, "tail", 4));
    char back[8] = {0};
    result("bare: read at 0", syscall(SYS_pread64, fd, back, sizeof(back), 0));
    struct stat st;
    result("bare: fstat", fstat(fd, &st));
    result("bare: size", (long)st.st_size);
    result("bare: fsync", syscall(SYS_fsync, fd));
    result("bare: close", close(fd));
    summary("bare: the file");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    aio_past_the_end(argv[1]);
    bare_calls(argv[1]);
    return 0;
}
