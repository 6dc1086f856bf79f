/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * deadholder.c - a process that dies holding a shared file's lock in the
 * middle of a change leaves no trace of it. A write that is not in place
 * (its blocks not yet logged in the running epoch, or the file growing)
 * holds the file's lock from its first byte to its last (share.h): the
 * next process to take the lock must undo what the dead one half did.
 *
 * The kill loop finds this by chance; here the death comes at a known
 * point. A keeper under the library keeps a file open; a writer under the
 * library writes from a buffer whose middle page is registered with
 * userfaultfd and never filled, so the library's copy stops there with
 * the lock held and half the bytes copied, and a thread of the writer that
 * sees the fault kills the writer with SIGKILL. The write never completed:
 * the keeper must read the file as it was, and after its fsync the kernel
 * must show the same. Each round writes a different way: an overwrite
 * across a 2 MiB boundary, one within a block, an append. Skipped (77)
 * where userfaultfd is not allowed.
 *
 *   deadholder
 */
#include "share.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define FILE_SIZE (4u << 20)
#define PAGE      4096u

/* The writer's rounds: where it writes and how much (the buffer's pages,
 * the middle one never filled). */
static const struct {
    uint64_t off; /* UINT64_MAX: at the end */
    unsigned pages;
    const char *what;
} rounds[] = {
    {(2u << 20) - 5 * PAGE, 9, "an overwrite across 2 MiB"},
    {PAGE + 100, 3, "an overwrite within a block"},
    {UINT64_MAX, 17, "an append"},
};

/* The fault handler's thread: at the first fault the write is stopped
 * inside the library with the file's lock held. */
static void *kill_at_fault(void *arg)
{
    int uffd = *(int *)arg;
    struct pollfd p = {.fd = uffd, .events = POLLIN};
    struct uffd_msg msg;
    while (poll(&p, 1, -1) == 1 && read(uffd, &msg, sizeof(msg)) == (ssize_t)sizeof(msg)) {
        if (msg.event == UFFD_EVENT_PAGEFAULT) {
            if (printf("F\n") < 0 || fflush(stdout) != 0)
                break;
            kill(getpid(), SIGKILL);
        }
    }
    return NULL;
}

/* A buffer of pages whose middle one faults into uffd; -1 when userfaultfd
 * cannot be had here. */
static uint8_t *faulting_buffer(unsigned pages, int *uffd)
{
    *uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
    if (*uffd < 0)
        return NULL;
    struct uffdio_api api = {.api = UFFD_API};
    if (ioctl(*uffd, UFFDIO_API, &api))
        return NULL;
    uint8_t *buf = mmap(NULL, (size_t)pages * PAGE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED)
        return NULL;
    uint8_t *hole = buf + (size_t)(pages / 2) * PAGE;
    struct uffdio_register reg = {.range = {.start = (uintptr_t)hole, .len = PAGE},
                                  .mode = UFFDIO_REGISTER_MODE_MISSING};
    if (ioctl(*uffd, UFFDIO_REGISTER, &reg))
        return NULL;
    memset(buf, 0xA5, (size_t)(pages / 2) * PAGE);
    memset(hole + PAGE, 0x5A, (size_t)(pages - pages / 2 - 1) * PAGE);
    return buf;
}

int deadholder_child(int argc, char **argv)
{
    if (argc != 3)
        fatal("deadholder child: PATH OFFSET PAGES");
    int fd = open(argv[0], O_RDWR);
    if (fd < 0)
        fatal("open %s: %s", argv[0], strerror(errno));
    uint64_t off = strtoull(argv[1], NULL, 10);
    unsigned pages = (unsigned)atoi(argv[2]);
    int uffd;
    uint8_t *buf = faulting_buffer(pages, &uffd);
    if (!buf) {
        printf("S %s\n", strerror(errno));
        return 0;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, kill_at_fault, &uffd))
        fatal("pthread_create failed");
    if (off == UINT64_MAX)
        off = (uint64_t)lseek(fd, 0, SEEK_END);
    ssize_t n = pwrite(fd, buf, (size_t)pages * PAGE, (off_t)off);
    printf("W %zd\n", n); /* never: the write cannot complete */
    return 1;
}

int test_deadholder(int argc, char **argv)
{
    (void)argv;
    if (argc != 0)
        fatal("deadholder takes no arguments");
    char *path = root_path("shared");
    struct child k;
    struct model m = {0};
    actor_start(&k, "the keeper", true, -1);
    if (!actor_do(&k, NULL, "open 0 %s c", path) ||
        !actor_do(&k, NULL, "append 0 %u %llu", FILE_SIZE, 1ull) || !actor_do(&k, NULL, "fsync 0"))
        return 1;
    model_write(&m, 0, FILE_SIZE, 1);
    int rc = 0;
    for (size_t r = 0; r < sizeof(rounds) / sizeof(rounds[0]) && run.failures == 0; r++) {
        char off[32], pages[16];
        snprintf(off, sizeof(off), "%llu", (unsigned long long)rounds[r].off);
        snprintf(pages, sizeof(pages), "%u", rounds[r].pages);
        char *args[] = {"nvmmio_share", "--child", "deadholder", path, off, pages, NULL};
        struct child w;
        child_start(&w, "the writer", true, args, -1);
        char line[128];
        bool told = child_line(&w, line, sizeof(line), 60.0);
        child_kill(&w);
        if (told && line[0] == 'S') {
            printf("deadholder: skipped, userfaultfd is not allowed here: %s\n", line + 2);
            rc = 77;
            break;
        }
        if (!told || line[0] != 'F') {
            fail("%s: the writer did not stop at its buffer's fault (%s)", rounds[r].what,
                 told ? line : "no word");
            break;
        }
        char when[96];
        snprintf(when, sizeof(when), "after a writer died holding the lock in %s", rounds[r].what);
        actor_check_view(&k, 0, &m, when);
        if (!actor_do(&k, NULL, "fsync 0"))
            fail("%s: the keeper's fsync failed", when);
        model_check_kernel(&m, path, when);
        /* The next round starts from a file the keeper changed. */
        uint64_t at = (uint64_t)(r + 1) * 3 * PAGE;
        if (!actor_do(&k, NULL, "pwrite 0 %llu %u %llu", (unsigned long long)at, PAGE,
                      (unsigned long long)(r + 2)) ||
            !actor_do(&k, NULL, "fsync 0"))
            fail("%s: the keeper's write failed", when);
        model_write(&m, at, PAGE, r + 2);
    }
    actor_do(&k, NULL, "close 0");
    child_finish(&k);
    free(m.buf);
    free(path);
    return rc ? rc : run.failures ? 1 : 0;
}
