/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_recent.c - the mappings of files closed a moment ago
 * (src/core/recent.h): an entry is taken back by the next open of its file
 * only while the file looks as it did, at most once; a file with no link
 * is never kept; the oldest goes when there is no room; entries go when
 * their file loses its last link and when they age. An entry freed is
 * unmapped; the descriptor it was kept with stays the caller's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/recent.h"
#include "unit_util.h"

/* The helper thread's part: counted, the test expires by hand. */
static int expire_requests;
void nvhelper_expire_later(void)
{
    expire_requests++;
}

static struct unit_dir dir;

struct kept {
    int fd;
    struct stat st;
    struct pm_map map;
};

/* A file of DIR named name, opened and mapped as the library does. */
static struct kept make(const char *name)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/%s", dir.path, name);
    struct kept k = {.fd = open(p, O_RDWR | O_CREAT, 0644)};
    assert_true(k.fd >= 0);
    assert_int_equal(ftruncate(k.fd, 4096), 0);
    assert_int_equal(fstat(k.fd, &k.st), 0);
    assert_int_equal(pm_map_file(k.fd, 1, 1 << 20, &k.map), 0);
    return k;
}

/* Whether the first page of k's mapping is still mapped. */
static bool mapped(const struct kept *k)
{
    return msync(k->map.base, 4096, MS_ASYNC) == 0;
}

/* What the library does with a file it closes: keeps the mapping (or
 * unmaps it) and closes its descriptor. */
static void keep_reopened(struct kept *k, unsigned reopens)
{
    assert_true(nvrecent_keep(k->fd, &k->map, reopens));
    close(k->fd);
}

static void keep(struct kept *k)
{
    keep_reopened(k, 0);
}

static int setup(void **state)
{
    (void)state;
    return unit_dir_make(&dir);
}

static int teardown(void **state)
{
    (void)state;
    return unit_dir_remove(&dir);
}

static void taken_back_once(void **state)
{
    (void)state;
    struct kept k = make("once");
    keep(&k);
    struct pm_map m = {0};
    unsigned reopens = 7;
    assert_true(nvrecent_take(&k.st, &m, &reopens));
    assert_int_equal(reopens, 0);
    assert_ptr_equal(m.base, k.map.base);
    assert_int_equal(m.reserved, k.map.reserved);
    assert_true(m.idle);
    assert_false(nvrecent_take(&k.st, &m, &reopens));
    pm_unmap(&m);
    assert_false(mapped(&k));
}

static void changed_file_is_not_taken(void **state)
{
    (void)state;
    struct kept k = make("changed");
    keep(&k);
    struct stat other = k.st;
    other.st_mode ^= 0044;
    struct pm_map m;
    unsigned reopens;
    assert_false(nvrecent_take(&other, &m, &reopens));
    /* Let go, not kept for later. */
    assert_false(mapped(&k));
    assert_false(nvrecent_take(&k.st, &m, &reopens));
}

static void file_without_link_is_not_kept(void **state)
{
    (void)state;
    struct kept k = make("gone");
    char p[128];
    snprintf(p, sizeof(p), "%s/gone", dir.path);
    assert_int_equal(unlink(p), 0);
    assert_false(nvrecent_keep(k.fd, &k.map, false));
    assert_true(mapped(&k));
    pm_unmap(&k.map);
    close(k.fd);
}

static void oldest_goes_when_full(void **state)
{
    (void)state;
    struct kept k[5];
    char name[16];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "full%d", i);
        k[i] = make(name);
        keep(&k[i]);
    }
    assert_false(mapped(&k[0]));
    for (int i = 1; i < 5; i++) {
        assert_true(mapped(&k[i]));
        nvrecent_drop(k[i].st.st_dev, k[i].st.st_ino);
        assert_false(mapped(&k[i]));
    }
}

static void same_file_kept_once(void **state)
{
    (void)state;
    struct kept a = make("twice");
    keep(&a);
    struct kept b = make("twice");
    keep_reopened(&b, 3); /* what the next open learns is the last keeper's */
    assert_false(mapped(&a));
    struct pm_map m;
    unsigned reopens = 0;
    assert_true(nvrecent_take(&b.st, &m, &reopens));
    assert_int_equal(reopens, 3);
    assert_ptr_equal(m.base, b.map.base);
    pm_unmap(&m);
}

static void dropped_with_last_link(void **state)
{
    (void)state;
    struct kept k = make("drop");
    keep(&k);
    nvrecent_drop(k.st.st_dev, k.st.st_ino + 1);
    assert_true(mapped(&k));
    nvrecent_drop(k.st.st_dev, k.st.st_ino);
    assert_false(mapped(&k));
}

static void entries_age(void **state)
{
    (void)state;
    int before = expire_requests;
    struct kept k = make("age");
    keep(&k);
    assert_int_equal(expire_requests, before + 1); /* the first entry asks */
    assert_true(nvrecent_expire());
    assert_true(mapped(&k));
    usleep(RECENT_KEEP_NS / 1000 + 50000);
    assert_false(nvrecent_expire());
    assert_false(mapped(&k));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(taken_back_once),
        cmocka_unit_test(changed_file_is_not_taken),
        cmocka_unit_test(file_without_link_is_not_kept),
        cmocka_unit_test(oldest_goes_when_full),
        cmocka_unit_test(same_file_kept_once),
        cmocka_unit_test(dropped_with_last_link),
        cmocka_unit_test(entries_age),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
