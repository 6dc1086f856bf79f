/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * applog.c - an example: a crash-safe append-only log on libnvmmio.
 *
 *   applog append FILE [GROUP]  appends numbered records to FILE for ever,
 *                               fsync after every GROUP of them (default 4)
 *   applog verify FILE          checks FILE is whole records numbered from
 *                               0; prints their count; exit 1 if not
 *
 * FILE is opened with O_ATOMIC, so the library manages it wherever it is,
 * and every change since the last fsync is one failure-atomic unit. Each
 * record is written with two write calls (its header, then its payload):
 * a crash between them, or anywhere else, takes the file back to its last
 * fsync, which always ends on a record boundary. The next open of the file
 * (by either mode, or `nvmmio recover`) makes that so before it reads.
 * Without the library the same program can leave a torn record behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libnvmmio.h>

#define MAGIC       0x676f6c61u /* "alog" */
#define MAX_PAYLOAD 3000

struct record {
    uint32_t magic;
    uint32_t len; /* payload bytes after the header */
    uint64_t seq; /* 0, 1, 2... */
    uint32_t sum; /* FNV-1a of the payload */
    uint32_t pad;
};

static uint32_t fnv1a(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* Record seq's payload: a length and bytes that depend on seq only. */
static size_t payload(uint64_t seq, unsigned char *buf)
{
    size_t len = 1 + (size_t)(seq * 7919 % MAX_PAYLOAD);
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(seq + i * 31);
    return len;
}

static int open_log(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_ATOMIC, 0644);
    if (fd < 0)
        fprintf(stderr, "applog: %s: %s\n", path, strerror(errno));
    return fd;
}

/* Reads the log from the start: the number of whole, valid records, or -1
 * when something else follows them (a torn or foreign record). */
static int64_t scan(int fd)
{
    unsigned char want[MAX_PAYLOAD], got[MAX_PAYLOAD];
    struct record r;
    uint64_t seq = 0;
    off_t off = 0;
    for (;;) {
        ssize_t n = pread(fd, &r, sizeof(r), off);
        if (n == 0)
            return (int64_t)seq;
        size_t len = payload(seq, want);
        if (n != (ssize_t)sizeof(r) || r.magic != MAGIC || r.seq != seq || r.len != len ||
            pread(fd, got, len, off + (off_t)sizeof(r)) != (ssize_t)len || memcmp(got, want, len) ||
            r.sum != fnv1a(got, len))
            return -1;
        off += (off_t)(sizeof(r) + len);
        seq++;
    }
}

static int append(int fd, unsigned group)
{
    int64_t next = scan(fd);
    if (next < 0) {
        fprintf(stderr, "applog: the log is not whole records\n");
        return 1;
    }
    printf("%s, %" PRId64 " records\n", nvmmio_is_managed(fd) ? "managed" : "not managed", next);
    fflush(stdout);
    unsigned char buf[MAX_PAYLOAD];
    for (uint64_t seq = (uint64_t)next;; seq++) {
        size_t len = payload(seq, buf);
        struct record r = {MAGIC, (uint32_t)len, seq, fnv1a(buf, len), 0};
        if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r) || write(fd, buf, len) != (ssize_t)len)
            break;
        if ((seq + 1) % group == 0 && fsync(fd) < 0)
            break;
    }
    fprintf(stderr, "applog: append: %s\n", strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "append") && strcmp(argv[1], "verify"))) {
        fprintf(stderr, "usage: applog append FILE [GROUP] | applog verify FILE\n");
        return 2;
    }
    int fd = open_log(argv[2]);
    if (fd < 0)
        return 2;
    if (!strcmp(argv[1], "append")) {
        int group = argc > 3 ? atoi(argv[3]) : 4;
        return append(fd, group > 0 ? (unsigned)group : 4);
    }
    int64_t n = scan(fd);
    if (n < 0) {
        printf("not whole records\n");
        return 1;
    }
    printf("%" PRId64 " records\n", n);
    return close(fd) == 0 ? 0 : 1;
}
