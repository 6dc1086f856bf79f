/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * txpair.c - an example: two files updated together in a transaction.
 *
 *   txpair init DIR TOTAL        makes DIR/a holding TOTAL and DIR/b holding 0
 *   txpair transfer DIR [COUNT]  moves random amounts between them, COUNT
 *                                times (default: for ever), one transaction
 *                                each
 *   txpair check DIR             prints both balances; exit 1 unless they
 *                                are at the same transfer and add up to TOTAL
 *
 * Each file holds one account record. A transfer writes both records
 * between nvmmio_tx_begin and nvmmio_tx_commit: after a crash at any
 * moment, both files are at the same transfer, the last committed one or
 * an earlier one, never one file ahead of the other. A transfer that
 * would overdraw an account is written and then taken back with
 * nvmmio_tx_abort: neither write stays. Without the library, a crash
 * between the two writes leaves money created or lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libnvmmio.h>

#define MAGIC 0x72696170u /* "pair" */

struct account {
    uint32_t magic;
    uint32_t pad;
    uint64_t transfer; /* transfers committed so far */
    int64_t balance;
    int64_t total; /* what both accounts hold together */
};

static int open_account(const char *dir, const char *name, int flags)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_ATOMIC | flags, 0644);
    if (fd < 0)
        fprintf(stderr, "txpair: %s: %s\n", path, strerror(errno));
    else if (!nvmmio_is_managed(fd))
        fprintf(stderr, "txpair: %s is not managed by the library\n", path);
    return fd;
}

static int read_account(int fd, struct account *a)
{
    if (pread(fd, a, sizeof(*a), 0) != (ssize_t)sizeof(*a) || a->magic != MAGIC) {
        fprintf(stderr, "txpair: not an account record\n");
        return -1;
    }
    return 0;
}

static int write_account(int fd, const struct account *a)
{
    return pwrite(fd, a, sizeof(*a), 0) == (ssize_t)sizeof(*a) ? 0 : -1;
}

static int init(const char *dir, int64_t total)
{
    int fa = open_account(dir, "a", O_CREAT | O_TRUNC),
        fb = open_account(dir, "b", O_CREAT | O_TRUNC);
    struct account a = {MAGIC, 0, 0, total, total}, b = {MAGIC, 0, 0, 0, total};
    int rc = fa < 0 || fb < 0 || nvmmio_tx_begin() < 0 ? -1 : 0;
    if (rc == 0) {
        rc = write_account(fa, &a) == 0 && write_account(fb, &b) == 0 ? nvmmio_tx_commit() : -1;
        if (rc < 0)
            nvmmio_tx_abort();
    }
    if (rc < 0)
        fprintf(stderr, "txpair: init: %s\n", strerror(errno));
    return rc < 0;
}

/* One transfer of amount from a to b (negative: from b to a): committed,
 * or aborted when it would overdraw. 0, or -1 with errno. */
static int transfer(int fa, int fb, int64_t amount, uint64_t *aborted)
{
    struct account a, b;
    if (read_account(fa, &a) < 0 || read_account(fb, &b) < 0 || nvmmio_tx_begin() < 0)
        return -1;
    a.transfer = b.transfer = a.transfer + 1;
    a.balance -= amount;
    b.balance += amount;
    if (write_account(fa, &a) < 0 || write_account(fb, &b) < 0) {
        int saved = errno;
        nvmmio_tx_abort();
        errno = saved;
        return -1;
    }
    if (a.balance < 0 || b.balance < 0) {
        ++*aborted;
        return nvmmio_tx_abort();
    }
    return nvmmio_tx_commit();
}

static int run(const char *dir, long long count)
{
    int fa = open_account(dir, "a", 0), fb = open_account(dir, "b", 0);
    struct account a;
    if (fa < 0 || fb < 0 || read_account(fa, &a) < 0)
        return 1;
    srand((unsigned)getpid());
    uint64_t aborted = 0;
    for (long long i = 0; count < 0 || i < count; i++) {
        int64_t amount = (int64_t)(rand() % (2 * a.total + 1)) - a.total;
        if (transfer(fa, fb, amount, &aborted) < 0) {
            fprintf(stderr, "txpair: transfer: %s\n", strerror(errno));
            return 1;
        }
        if (i == 0) {
            printf("transfers running\n");
            fflush(stdout);
        }
    }
    printf("%lld transfers, %" PRIu64 " aborted\n", count, aborted);
    return 0;
}

static int check(const char *dir)
{
    int fa = open_account(dir, "a", 0), fb = open_account(dir, "b", 0);
    struct account a, b;
    if (fa < 0 || fb < 0 || read_account(fa, &a) < 0 || read_account(fb, &b) < 0)
        return 1;
    printf("transfer %" PRIu64 ": a %" PRId64 ", b %" PRId64 "\n", a.transfer, a.balance,
           b.balance);
    if (a.transfer != b.transfer || a.total != b.total || a.balance + b.balance != a.total ||
        a.balance < 0 || b.balance < 0) {
        printf("txpair: the accounts disagree: transfers %" PRIu64 " and %" PRIu64
               ", total %" PRId64 "\n",
               a.transfer, b.transfer, a.total);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "init") == 0)
        return init(argv[2], strtoll(argv[3], NULL, 10));
    if ((argc == 3 || argc == 4) && strcmp(argv[1], "transfer") == 0)
        return run(argv[2], argc == 4 ? strtoll(argv[3], NULL, 10) : -1);
    if (argc == 3 && strcmp(argv[1], "check") == 0)
        return check(argv[2]);
    fprintf(stderr, "usage: txpair init DIR TOTAL | transfer DIR [COUNT] | check DIR\n");
    return 2;
}
