/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_filelock.c - the three-mode lock of an open file (src/core/filelock.h):
 * when a file turns concurrent, in-place writers against exclusive holders,
 * their counts, and the range locks; and the critical sections its holders
 * are in (src/os/critical.h), which hold signals back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#include "core/filelock.h"
#include "log/index.h"

#define MiB ((uint64_t)1 << 20)

static int setup(void **state)
{
    struct nvlock *l = calloc(1, sizeof(*l));
    if (!l)
        return -1;
    nvlock_init(l);
    *state = l;
    return 0;
}

static int teardown(void **state)
{
    nvlock_destroy(*state);
    free(*state);
    return 0;
}

static void exclusive_alone(void **state)
{
    struct nvlock *l = *state;
    bool contended = true;
    assert_int_equal(nvlock_exclusive(l, &contended), 0);
    assert_false(contended);
    nvlock_unlock_exclusive(l);
    uint64_t writes = 1;
    assert_true(nvlock_try_exclusive(l, &writes));
    assert_int_equal(writes, 0);
    nvlock_unlock_exclusive(l);
    /* Held shared: no exclusive without waiting. */
    nvlock_shared(l);
    assert_false(nvlock_try_exclusive(l, &writes));
    nvlock_unlock_shared(l);
    assert_false(nvlock_is_concurrent(l));
}

static void concurrent_only_when_writers_keep_waiting(void **state)
{
    struct nvlock *l = *state;
    /* Waiting now and then, between many writes that did not wait. */
    for (int round = 0; round < 50; round++) {
        nvlock_note_writer(l, true);
        for (int i = 0; i < 16; i++)
            nvlock_note_writer(l, false);
    }
    assert_false(nvlock_is_concurrent(l));
    /* Writers that keep waiting. */
    for (int i = 0; i < 4; i++)
        nvlock_note_writer(l, true);
    assert_true(nvlock_is_concurrent(l));
    /* For good. */
    for (int i = 0; i < 1000; i++)
        nvlock_note_writer(l, false);
    assert_true(nvlock_is_concurrent(l));
}

static void inplace_counts_and_steps_back(void **state)
{
    struct nvlock *l = *state;
    int lane;
    assert_int_equal(nvlock_go_concurrent(l), 0);
    for (int i = 0; i < 5; i++) {
        assert_true(nvlock_inplace_begin(l, &lane));
        nvlock_inplace_end(l, lane, i != 2); /* one did not write */
    }
    /* The exclusive holder takes the count, once. */
    assert_int_equal(nvlock_exclusive(l, NULL), 4);
    /* While it holds the lock, in-place writers step back. */
    assert_false(nvlock_inplace_begin(l, &lane));
    nvlock_unlock_exclusive(l);
    uint64_t writes = 7;
    assert_true(nvlock_try_exclusive(l, &writes));
    assert_int_equal(writes, 0);
    nvlock_unlock_exclusive(l);
    assert_true(nvlock_inplace_begin(l, &lane));
    nvlock_inplace_end(l, lane, true);
    assert_true(nvlock_try_exclusive(l, &writes));
    assert_int_equal(writes, 1);
    nvlock_unlock_exclusive(l);
}

struct inflight {
    struct nvlock *l;
    int began; /* atomic */
    int ended; /* atomic */
};

static void *slow_writer(void *arg)
{
    struct inflight *w = arg;
    int lane;
    if (!nvlock_inplace_begin(w->l, &lane))
        return NULL;
    __atomic_store_n(&w->began, 1, __ATOMIC_RELEASE);
    struct timespec t = {0, 50 * 1000 * 1000};
    nanosleep(&t, NULL);
    __atomic_store_n(&w->ended, 1, __ATOMIC_RELEASE);
    nvlock_inplace_end(w->l, lane, true);
    return NULL;
}

static void exclusive_waits_for_writers_in_flight(void **state)
{
    struct nvlock *l = *state;
    assert_int_equal(nvlock_go_concurrent(l), 0);
    struct inflight w = {l, 0, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, slow_writer, &w), 0);
    while (!__atomic_load_n(&w.began, __ATOMIC_ACQUIRE))
        sched_yield();
    /* The holder waits the writer out. */
    nvlock_exclusive(l, NULL);
    assert_int_equal(__atomic_load_n(&w.ended, __ATOMIC_ACQUIRE), 1);
    nvlock_unlock_exclusive(l);
    pthread_join(t, NULL);
}

static void ranges(void **state)
{
    struct nvlock *l = *state;
    /* Not concurrent: nothing to take. */
    assert_int_equal(nvlock_range(l, 0, 4096, true), 0);
    assert_int_equal(nvlock_go_concurrent(l), 0);
    uint64_t r = NVIDX_REGION_SIZE;
    uint64_t held = nvlock_range(l, 0, 4096, true);
    assert_int_equal(held, 1);
    nvlock_unrange(l, held);
    held = nvlock_range(l, r - 1, r + 1, true); /* straddles two regions */
    assert_int_equal(held, 3);
    nvlock_unrange(l, held);
    held = nvlock_range(l, NVLOCK_STRIPES * r + 5, NVLOCK_STRIPES * r + 6, true);
    assert_int_equal(held, 1); /* modulo the number of stripes */
    nvlock_unrange(l, held);
    held = nvlock_range(l, 3 * r, 3 * r + 200 * r, false); /* more regions than stripes */
    assert_int_equal(held, UINT64_MAX);
    /* Readers share; a writer of an overlapping range must wait. */
    uint64_t again = nvlock_range(l, 5 * r, 5 * r + 10, false);
    assert_int_equal(again, (uint64_t)1 << 5);
    assert_int_not_equal(pthread_rwlock_trywrlock(&l->stripes[5].lock), 0);
    nvlock_unrange(l, again);
    nvlock_unrange(l, held);
    assert_int_equal(pthread_rwlock_trywrlock(&l->stripes[5].lock), 0);
    pthread_rwlock_unlock(&l->stripes[5].lock);
    /* An empty range takes nothing. */
    assert_int_equal(nvlock_range(l, 10 * r, 10 * r, true), 0);
}

/* Holding the lock in any mode is a critical section, and only the
 * outermost one counts. */
static void holders_are_in_a_section(void **state)
{
    struct nvlock *l = *state;
    assert_false(nv_critical_inside());
    nvlock_shared(l);
    assert_true(nv_critical_inside());
    nvlock_unlock_shared(l);
    assert_false(nv_critical_inside());
    nvlock_exclusive(l, NULL);
    nv_critical_enter();
    nv_critical_leave();
    assert_true(nv_critical_inside());
    nvlock_unlock_exclusive(l);
    assert_false(nv_critical_inside());
    uint64_t writes;
    assert_true(nvlock_try_exclusive(l, &writes));
    assert_false(nvlock_try_exclusive(l, &writes)); /* taken: no section left behind */
    nvlock_unlock_exclusive(l);
    assert_false(nv_critical_inside());
}

static volatile sig_atomic_t caught;

static void catch (int sig)
{
    (void)sig;
    caught++;
}

/* A signal deferred inside (blocked and pending, as the interposer's
 * handler leaves it) comes in when the outermost section ends. */
static void deferred_signal_comes_at_the_end(void **state)
{
    struct nvlock *l = *state;
    struct sigaction sa = {.sa_handler = catch}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, &old);
    sigset_t one, mask;
    sigemptyset(&one);
    sigaddset(&one, SIGUSR1);
    caught = 0;
    nvlock_exclusive(l, NULL);
    pthread_sigmask(SIG_BLOCK, &one, NULL);
    raise(SIGUSR1);
    nv_critical_defer(SIGUSR1);
    nv_critical_enter();
    nv_critical_leave(); /* not the outermost */
    assert_int_equal(caught, 0);
    nvlock_unlock_exclusive(l);
    /* (ThreadSanitizer hands signals over in its interceptors only.) */
    pthread_sigmask(SIG_SETMASK, NULL, &mask);
    assert_false(sigismember(&mask, SIGUSR1));
    assert_int_equal(caught, 1);
    sigaction(SIGUSR1, &old, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(exclusive_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_only_when_writers_keep_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(inplace_counts_and_steps_back, setup, teardown),
        cmocka_unit_test_setup_teardown(exclusive_waits_for_writers_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(holders_are_in_a_section, setup, teardown),
        cmocka_unit_test_setup_teardown(deferred_signal_comes_at_the_end, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
