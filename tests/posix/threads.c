/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * threads.c - threads sharing managed files.
 *
 * Linked directly against libnvmmio (so the same program runs under TSan).
 * Writer threads each own a range of one shared file and a file of their
 * own; they write self-describing records (thread, sequence, checksum) with
 * pwrite and write, fsync now and then, while reader threads read the whole
 * shared file and check that every record they see is whole: never torn,
 * never from the future. Their own files grow past the size where the
 * helper thread prepares storage ahead of appends, and now and then lose
 * their last record to ftruncate and get it back, so the file changes shape
 * while the thread works on it. At the end every range must hold its
 * writer's last records, through the library and through the kernel after
 * close.
 *
 * Usage: nvmmio_threads [writers] [records per writer] [parent directory,
 * default /dev/shm]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "libnvmmio.h"

#define RECORD      512
#define SLOTS       64 /* records a writer's range holds */
#define MAX_WRITERS 8

struct record {
    uint32_t thread;
    uint32_t seq;
    uint64_t sum;
    char fill[RECORD - 16];
};

static char dir[64];
static int shared_fd;
static int writers = 4, per_writer = 4000;
static int failures;
static uint32_t done_seq[MAX_WRITERS]; /* atomic: highest seq written */
static int stop_readers;               /* atomic */

static uint64_t sum_of(const struct record *r)
{
    uint64_t h = 1469598103934665603ull ^ r->thread ^ ((uint64_t)r->seq << 32);
    for (size_t i = 0; i < sizeof(r->fill); i++)
        h = (h ^ (uint8_t)r->fill[i]) * 1099511628211ull;
    return h;
}

static void make_record(struct record *r, uint32_t thread, uint32_t seq)
{
    r->thread = thread;
    r->seq = seq;
    for (size_t i = 0; i < sizeof(r->fill); i++)
        r->fill[i] = (char)(thread * 31 + seq * 7 + i);
    r->sum = sum_of(r);
}

static void fail(const char *what, long a, long b)
{
    fprintf(stderr, "threads: FAILED: %s (%ld, %ld)\n", what, a, b);
    __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
}

static void *writer(void *arg)
{
    uint32_t t = (uint32_t)(uintptr_t)arg;
    char path[128];
    snprintf(path, sizeof(path), "%s/own%u", dir, t);
    int own = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (own < 0 || !nvmmio_is_managed(own)) {
        fail("own file not managed", own, errno);
        return NULL;
    }
    struct record r;
    for (uint32_t seq = 1; seq <= (uint32_t)per_writer; seq++) {
        make_record(&r, t, seq);
        off_t at = ((off_t)t * SLOTS + seq % SLOTS) * RECORD;
        if (pwrite(shared_fd, &r, RECORD, at) != RECORD)
            fail("pwrite", seq, errno);
        if (write(own, &r, RECORD) != RECORD)
            fail("write", seq, errno);
        off_t last = (off_t)(seq - 1) * RECORD;
        if (seq % 301 == 0 &&
            (ftruncate(own, last) != 0 || pwrite(own, &r, RECORD, last) != RECORD))
            fail("truncate and rewrite", seq, errno);
        __atomic_store_n(&done_seq[t], seq, __ATOMIC_RELEASE);
        if (seq % 97 == 0 && (fsync(shared_fd) != 0 || fdatasync(own) != 0))
            fail("fsync", seq, errno);
    }
    /* lseek, not fstat: TSan's own fstat interceptor goes past the library. */
    off_t end = lseek(own, 0, SEEK_END);
    if (end != (off_t)per_writer * RECORD)
        fail("own size", (long)end, (long)per_writer * RECORD);
    if (close(own) != 0)
        fail("close", t, errno);
    return NULL;
}

static void check_record(const struct record *r, off_t at)
{
    if (r->thread == 0 && r->seq == 0 && r->sum == 0)
        return; /* not written yet */
    uint32_t owner = (uint32_t)(at / RECORD / SLOTS);
    if (r->thread != owner || r->sum != sum_of(r))
        fail("torn or misplaced record", (long)at, r->thread);
    else if (r->seq > __atomic_load_n(&done_seq[owner], __ATOMIC_ACQUIRE) + 1)
        fail("record from the future", r->seq, owner);
}

static void *reader(void *arg)
{
    (void)arg;
    static __thread struct record buf[SLOTS];
    while (!__atomic_load_n(&stop_readers, __ATOMIC_ACQUIRE)) {
        for (int t = 0; t < writers; t++) {
            off_t base = (off_t)t * SLOTS * RECORD;
            ssize_t n = pread(shared_fd, buf, sizeof(buf), base);
            for (ssize_t i = 0; i < n / RECORD; i++)
                check_record(&buf[i], base + i * RECORD);
        }
    }
    return NULL;
}

typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);

/* The kernel's pread, past the library's wrapper. */
static ssize_t kernel_pread(int fd, void *buf, size_t n, off_t off)
{
    return syscall(SYS_pread64, fd, buf, n, off);
}

static int verify_final(int fd, pread_fn read_at)
{
    struct record r, want;
    for (int t = 0; t < writers; t++) {
        for (uint32_t k = 0; k < SLOTS; k++) {
            /* the last sequence number that went to slot k */
            uint32_t seq = (uint32_t)per_writer - (((uint32_t)per_writer - k) % SLOTS);
            off_t at = ((off_t)t * SLOTS + k) * RECORD;
            make_record(&want, (uint32_t)t, seq);
            if (read_at(fd, &r, RECORD, at) != RECORD || memcmp(&r, &want, RECORD) != 0) {
                fail("final record", (long)at, r.seq);
                return -1;
            }
        }
    }
    return 0;
}

/* The test directory goes on every way out. */
static void remove_dir(void)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "threads: could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        writers = atoi(argv[1]);
    if (argc > 2)
        per_writer = atoi(argv[2]);
    if (writers < 1 || writers > MAX_WRITERS || per_writer < SLOTS ||
        (argc > 3 && strlen(argv[3]) > sizeof(dir) - 32)) {
        fprintf(stderr, "usage: %s [writers 1-%d] [records >= %d] [parent directory]\n", argv[0],
                MAX_WRITERS, SLOTS);
        return 2;
    }
    snprintf(dir, sizeof(dir), "%s/nvmmio-threads.XXXXXX", argc > 3 ? argv[3] : "/dev/shm");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    atexit(remove_dir);
    setenv("NVMMIO_PATH", dir, 1);
    char path[128];
    snprintf(path, sizeof(path), "%s/shared", dir);
    shared_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (shared_fd < 0 || !nvmmio_is_managed(shared_fd)) {
        fprintf(stderr, "threads: shared file not managed\n");
        return 1;
    }
    pthread_t w[MAX_WRITERS], rd[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&rd[i], NULL, reader, NULL);
    for (int t = 0; t < writers; t++)
        pthread_create(&w[t], NULL, writer, (void *)(uintptr_t)t);
    for (int t = 0; t < writers; t++)
        pthread_join(w[t], NULL);
    __atomic_store_n(&stop_readers, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++)
        pthread_join(rd[i], NULL);
    verify_final(shared_fd, pread);
    if (close(shared_fd) != 0)
        fail("close shared", 0, errno);
    /* Through the kernel, as a program without the library sees it. */
    int raw = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (raw < 0 || verify_final(raw, kernel_pread) != 0)
        fail("raw file after close", raw, errno);
    syscall(SYS_close, raw);
    printf("threads: %d writers x %d records, 2 readers: %s\n", writers, per_writer,
           failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
