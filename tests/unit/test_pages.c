/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_pages.c - memory in whole pages (src/os/pages.h): blocks come
 * zeroed whether fresh, kept from an earlier free or given back to the
 * kernel meanwhile, small blocks share a few mappings, a moved block keeps
 * its bytes, and blocks given back by one thread are taken by another
 * without a race (the kernel hands out an address again after an unmap
 * that ThreadSanitizer does not see: src/os/sys.h tells it).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "os/pages.h"

#define PAGE 4096u

static bool all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void blocks_come_zeroed(void **state)
{
    (void)state;
    /* 1 page is kept for reuse when freed; 40 pages go back to the kernel. */
    size_t sizes[] = {100, PAGE, 3 * PAGE + 1, 40 * PAGE};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (int round = 0; round < 3; round++) {
            unsigned char *p = nv_pages_alloc(sizes[i]);
            assert_non_null(p);
            assert_true(all_zero(p, sizes[i]));
            memset(p, 0xa5, sizes[i]);
            nv_pages_free(p, sizes[i]);
        }
    }
}

/* More blocks freed than the pool keeps as they are: those given back to
 * the kernel come zeroed too. */
#define MANY 200

static void given_back_blocks_come_zeroed(void **state)
{
    (void)state;
    static unsigned char *blocks[MANY];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < MANY; i++) {
            blocks[i] = nv_pages_alloc(8 * PAGE);
            assert_non_null(blocks[i]);
            assert_true(all_zero(blocks[i], 8 * PAGE));
            memset(blocks[i], 0x5a, 8 * PAGE);
        }
        for (int i = 0; i < MANY; i++)
            nv_pages_free(blocks[i], 8 * PAGE);
    }
}

static long mappings(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    long n = 0;
    for (int c; (c = fgetc(f)) != EOF;)
        n += c == '\n';
    fclose(f);
    return n;
}

/* Small blocks share a few mappings, whatever is mapped between them (a
 * file's mappings are made between its index's blocks): a process with
 * many open files must not run out of mappings for their indexes. */
#define SMALL_BLOCKS 2000

static void small_blocks_share_mappings(void **state)
{
    (void)state;
    static void *blocks[SMALL_BLOCKS], *between[SMALL_BLOCKS];
    long before = mappings();
    assert_true(before > 0);
    for (int i = 0; i < SMALL_BLOCKS; i++) {
        blocks[i] = nv_pages_alloc(i % 3 ? PAGE : 2 * PAGE);
        assert_non_null(blocks[i]);
        memset(blocks[i], 1, 64);
        between[i] = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert_true(between[i] != MAP_FAILED);
    }
    long during = mappings();
    for (int i = 0; i < SMALL_BLOCKS; i++) {
        nv_pages_free(blocks[i], i % 3 ? PAGE : 2 * PAGE);
        munmap(between[i], PAGE);
    }
    /* Each mapping between is one line, or none where it merged. */
    assert_true(during - before <= SMALL_BLOCKS + 16);
    assert_true(mappings() - before < 16);
}

static void moved_block_keeps_its_bytes(void **state)
{
    (void)state;
    unsigned char *p = nv_pages_alloc(PAGE);
    assert_non_null(p);
    memset(p, 7, PAGE);
    unsigned char *q = nv_pages_realloc(p, PAGE, 5 * PAGE);
    assert_non_null(q);
    for (size_t i = 0; i < PAGE; i++)
        assert_int_equal(q[i], 7);
    assert_true(all_zero(q + PAGE, 4 * PAGE));
    nv_pages_free(q, 5 * PAGE);
}

/* Each thread takes blocks of sizes that are kept and that are not, fills
 * them and gives them back, so addresses pass from thread to thread. */
#define THREADS 4
#define ROUNDS  400

static void *churn(void *arg)
{
    size_t seed = (size_t)arg;
    for (int i = 0; i < ROUNDS; i++) {
        size_t pages = 1 + (seed * 7 + (size_t)i * 13) % 24;
        unsigned char *p = nv_pages_alloc(pages * PAGE);
        if (!p || !all_zero(p, pages * PAGE))
            return (void *)1;
        memset(p, (int)seed + 1, pages * PAGE);
        if (i % 5 == 0) {
            unsigned char *q = nv_pages_realloc(p, pages * PAGE, (pages + 9) * PAGE);
            if (!q)
                return (void *)1;
            p = q;
            memset(p, (int)seed + 2, (pages + 9) * PAGE);
            pages += 9;
        }
        nv_pages_free(p, pages * PAGE);
    }
    return NULL;
}

static void blocks_pass_between_threads(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    for (size_t i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, churn, (void *)i), 0);
    for (size_t i = 0; i < THREADS; i++) {
        void *failed;
        assert_int_equal(pthread_join(t[i], &failed), 0);
        assert_null(failed);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blocks_come_zeroed),
        cmocka_unit_test(given_back_blocks_come_zeroed),
        cmocka_unit_test(small_blocks_share_mappings),
        cmocka_unit_test(moved_block_keeps_its_bytes),
        cmocka_unit_test(blocks_pass_between_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
