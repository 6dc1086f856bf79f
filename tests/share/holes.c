/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * holes.c - a write into a hole does not cost another program its writes
 * into the other holes: a process under the library writes 100 bytes into
 * a hole of a sparse file (the library reserves the blocks around it, to
 * give back the ones the program leaves alone at its next publication);
 * a process without the library then writes records into holes near it
 * and far from it, each under an fcntl lock of its own range; then the
 * library process fsyncs, writes again and closes. Every record of both
 * must be in the file as the kernel shows it, and the file must take the
 * blocks the kernel's would.
 *
 *   holes
 */
#include "share.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SIZE (1 << 20)
#define LEN  100

/* The plain writer's records: before the library's page, in the blocks the
 * library reserves around it, and far off. */
static const uint64_t plain_at[] = {4096, 61440, 69632 + 50, 73728, 81920, 131072, 500000};

/* Runs the sequence on path, with the library in the first process (lib)
 * or in neither; returns the file's st_blocks. */
static long long run_on(const char *path, bool lib, struct model *m)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
    if (fd < 0 || ftruncate(fd, SIZE) || close(fd))
        fatal("creating %s: %s", path, strerror(errno));
    model_truncate(m, SIZE);
    struct child l, p;
    actor_start(&l, lib ? "a writer under the library" : "a plain writer", lib, -1);
    actor_start(&p, "a writer without the library", false, -1);
    actor_do(&l, NULL, "open 0 %s", path);
    actor_do(&l, NULL, "pwrite 0 65536 %d 1", LEN);
    model_write(m, 65536, LEN, 1);
    actor_do(&p, NULL, "open 0 %s", path);
    for (size_t i = 0; i < sizeof(plain_at) / sizeof(plain_at[0]); i++) {
        actor_do(&p, NULL, "lock 0 fcntl %llu %d", (unsigned long long)plain_at[i], LEN);
        actor_do(&p, NULL, "pwrite 0 %llu %d %zu", (unsigned long long)plain_at[i], LEN, i + 2);
        actor_do(&p, NULL, "unlock 0 fcntl %llu %d", (unsigned long long)plain_at[i], LEN);
        model_write(m, plain_at[i], LEN, i + 2);
    }
    actor_do(&l, NULL, "fsync 0");
    actor_do(&l, NULL, "pwrite 0 66000 %d 9", LEN);
    model_write(m, 66000, LEN, 9);
    actor_do(&l, NULL, "close 0");
    for (struct child *c = &l; c; c = c == &l ? &p : NULL) {
        actor_do(c, NULL, "exit");
        child_finish(c);
    }
    struct stat st;
    if (stat(path, &st))
        fatal("stat %s: %s", path, strerror(errno));
    return (long long)st.st_blocks;
}

int test_holes(int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        fatal("holes takes no arguments");
    struct model m = {0};
    char *path = root_path("holes");
    long long blocks = run_on(path, run.lib != NULL, &m);
    model_check_kernel(&m, path, "after the library's fsync, write and close");
    /* The same calls with every process plain, on a path outside the
     * library's roots: the blocks the kernel takes. */
    char plain[4200];
    snprintf(plain, sizeof(plain), "%s/holes-plain", run.dir);
    long long want = run_on(plain, false, &m);
    if (blocks != want)
        fail("the file takes %lld blocks of 512 bytes, the kernel's %lld", blocks, want);
    printf("holes: %zu records kept, %lld blocks\n", sizeof(plain_at) / sizeof(plain_at[0]) + 2,
           blocks);
    free(m.buf);
    free(path);
    return 0;
}
