/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lingerthreads DIR - threads opening, writing and closing the same few
 * files over and over, as threads of a server do with shared files (run
 * under NVMMIO_PATH=DIR, linked with the library, so TSan and ASan see
 * both sides). A file closed and opened again at once lingers for its next
 * open (src/core/nvfile.h): here its last close, the next open of another
 * thread, the helper thread letting it go as it ages, a removal of the
 * file and a fork all meet. Each thread writes its own slot of each file,
 * a record naming thread, sequence and checksum; at the end every slot
 * must hold its thread's last record, read without the library.
 *
 * Usage: lingerthreads DIR [threads] [rounds]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libnvmmio.h"

#define FILES       3
#define MAX_THREADS 8
#define RECORD      256

struct record {
    uint32_t thread, seq;
    uint64_t sum;
    char fill[RECORD - 16];
};

static const char *dir;
static int nthreads = 4, rounds = 400;
static int failures; /* atomic */
static uint32_t last_seq[MAX_THREADS][FILES];

static uint64_t sum_of(const struct record *r)
{
    uint64_t s = (uint64_t)r->thread * 1000003u + r->seq;
    for (size_t i = 0; i < sizeof(r->fill); i++)
        s = s * 31 + (unsigned char)r->fill[i];
    return s;
}

static void make_record(struct record *r, uint32_t thread, uint32_t seq)
{
    r->thread = thread;
    r->seq = seq;
    memset(r->fill, 'a' + (int)((thread + seq) % 26), sizeof(r->fill));
    r->sum = sum_of(r);
}

static void fail(const char *what, long a, long b)
{
    fprintf(stderr, "FAIL %s (%ld, %ld): %s\n", what, a, b, strerror(errno));
    __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
}

static void path_of(char *p, size_t n, int file)
{
    snprintf(p, n, "%s/shared%d", dir, file);
}

/* A few ms now and then, so that lingering files age and go between two
 * opens, and at once most of the time, so that they are taken up. */
static void pause_now_and_then(unsigned *seed)
{
    if (rand_r(seed) % 8 == 0) {
        struct timespec t = {0, (long)(rand_r(seed) % 30) * 1000000L};
        nanosleep(&t, NULL);
    }
}

static void *worker(void *arg)
{
    uint32_t me = (uint32_t)(uintptr_t)arg;
    unsigned seed = me * 7919u + 1;
    char p[512], scratch[512];
    snprintf(scratch, sizeof(scratch), "%s/scratch", dir);
    for (uint32_t seq = 1; seq <= (uint32_t)rounds; seq++) {
        int file = rand_r(&seed) % FILES;
        path_of(p, sizeof(p), file);
        int fd = open(p, O_RDWR | O_CREAT, 0644);
        if (fd < 0) {
            fail("open", me, file);
            continue;
        }
        struct record r;
        make_record(&r, me, seq);
        if (pwrite(fd, &r, sizeof(r), (off_t)me * RECORD) != (ssize_t)sizeof(r))
            fail("pwrite", me, seq);
        else
            last_seq[me][file] = seq;
        if (seq % 16 == 0 && fdatasync(fd) < 0)
            fail("fdatasync", me, seq);
        if (close(fd) < 0)
            fail("close", me, seq);
        /* A file every thread writes and thread 0 removes now and then:
         * its last link goes while another thread may just reopen it. */
        fd = open(scratch, O_RDWR | O_CREAT, 0644);
        if (fd >= 0) {
            if (pwrite(fd, &r, sizeof(r), (off_t)me * RECORD) != (ssize_t)sizeof(r))
                fail("pwrite scratch", me, seq);
            close(fd);
        }
        if (me == 0 && seq % 25 == 0 && unlink(scratch) < 0 && errno != ENOENT)
            fail("unlink scratch", me, seq);
        /* A fork lets every lingering file go, whatever the others do. */
        if (me == 1 && seq % 100 == 0) {
            pid_t pid = fork();
            if (pid == 0)
                _exit(0);
            int status;
            if (pid < 0 || waitpid(pid, &status, 0) != pid)
                fail("fork", me, seq);
        }
        pause_now_and_then(&seed);
    }
    return NULL;
}

/* Every slot of every file holds its thread's last record (raw reads). */
static void verify(void)
{
    for (int file = 0; file < FILES; file++) {
        char p[512];
        path_of(p, sizeof(p), file);
        int fd = (int)syscall(SYS_openat, AT_FDCWD, p, O_RDONLY);
        if (fd < 0) {
            fail("raw open", file, 0);
            continue;
        }
        for (int t = 0; t < nthreads; t++) {
            struct record r;
            long got = syscall(SYS_pread64, fd, &r, sizeof(r), (long)t * RECORD);
            uint32_t want = last_seq[t][file];
            if (want == 0)
                continue;
            if (got != (long)sizeof(r) || r.thread != (uint32_t)t || r.seq != want ||
                r.sum != sum_of(&r))
                fail("a slot lacks its thread's last record", t, file);
        }
        syscall(SYS_close, fd);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [threads] [rounds]\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    if (argc > 2)
        nthreads = atoi(argv[2]);
    if (argc > 3)
        rounds = atoi(argv[3]);
    if (nthreads < 2 || nthreads > MAX_THREADS || rounds < 1) {
        fprintf(stderr, "threads: 2 to %d; rounds: at least 1\n", MAX_THREADS);
        return 2;
    }
    pthread_t t[MAX_THREADS];
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 2;
        }
    for (int i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    verify();
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("ok: %d threads, %d rounds each\n", nthreads, rounds);
    return 0;
}
