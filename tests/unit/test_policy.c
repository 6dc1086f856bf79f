/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_policy.c - choosing undo or redo for the next epoch (src/log/policy.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "log/format.h"
#include "log/policy.h"

static void pinned_undo(void **state)
{
    (void)state;
    assert_int_equal(nvpolicy_next(NVPOLICY_UNDO, NVLOG_UNDO, 0, 0), NVLOG_UNDO);
    assert_int_equal(nvpolicy_next(NVPOLICY_UNDO, NVLOG_REDO, 0, 0), NVLOG_UNDO);
    assert_int_equal(nvpolicy_next(NVPOLICY_UNDO, NVLOG_REDO, 0, 1000), NVLOG_UNDO);
    assert_int_equal(nvpolicy_next(NVPOLICY_UNDO, NVLOG_UNDO, 1000, 0), NVLOG_UNDO);
}

static void pinned_redo(void **state)
{
    (void)state;
    assert_int_equal(nvpolicy_next(NVPOLICY_REDO, NVLOG_REDO, 0, 0), NVLOG_REDO);
    assert_int_equal(nvpolicy_next(NVPOLICY_REDO, NVLOG_UNDO, 0, 0), NVLOG_REDO);
    assert_int_equal(nvpolicy_next(NVPOLICY_REDO, NVLOG_UNDO, 1000, 0), NVLOG_REDO);
    assert_int_equal(nvpolicy_next(NVPOLICY_REDO, NVLOG_REDO, 0, 1000), NVLOG_REDO);
}

static void hybrid_idle_epoch_keeps_current(void **state)
{
    (void)state;
    assert_int_equal(nvpolicy_next(NVPOLICY_HYBRID, NVLOG_UNDO, 0, 0), NVLOG_UNDO);
    assert_int_equal(nvpolicy_next(NVPOLICY_HYBRID, NVLOG_REDO, 0, 0), NVLOG_REDO);
}

static void hybrid_threshold_is_40_percent(void **state)
{
    (void)state;
    assert_int_equal(NVPOLICY_REDO_WRITE_PERCENT, 40);
    /* Exactly 40% writes: not more than 40%, so undo. */
    assert_int_equal(nvpolicy_next(NVPOLICY_HYBRID, NVLOG_REDO, 60, 40), NVLOG_UNDO);
    assert_int_equal(nvpolicy_next(NVPOLICY_HYBRID, NVLOG_UNDO, 60, 40), NVLOG_UNDO);
    assert_int_equal(nvpolicy_next(NVPOLICY_HYBRID, NVLOG_REDO, 3, 2), NVLOG_UNDO);
    /* 41%: redo. */
    assert_int_equal(nvpolicy_next(NVPOLICY_HYBRID, NVLOG_UNDO, 59, 41), NVLOG_REDO);
    assert_int_equal(nvpolicy_next(NVPOLICY_HYBRID, NVLOG_REDO, 59, 41), NVLOG_REDO);
    /* Just above and below 40% with large counts. */
    assert_int_equal(nvpolicy_next(NVPOLICY_HYBRID, NVLOG_UNDO, 599999, 400001), NVLOG_REDO);
    assert_int_equal(nvpolicy_next(NVPOLICY_HYBRID, NVLOG_REDO, 600001, 399999), NVLOG_UNDO);
    /* All reads, all writes. */
    assert_int_equal(nvpolicy_next(NVPOLICY_HYBRID, NVLOG_REDO, 1, 0), NVLOG_UNDO);
    assert_int_equal(nvpolicy_next(NVPOLICY_HYBRID, NVLOG_UNDO, 0, 1), NVLOG_REDO);
}

static void hybrid_sweep_matches_rule(void **state)
{
    (void)state;
    /* writes / (reads + writes) > 40%, i.e. 100 * writes > 40 * calls. */
    for (uint64_t reads = 0; reads <= 60; reads++) {
        for (uint64_t writes = 0; writes <= 60; writes++) {
            uint64_t calls = reads + writes;
            int want = calls == 0 ? NVLOG_UNDO : 5 * writes > 2 * calls ? NVLOG_REDO : NVLOG_UNDO;
            assert_int_equal(nvpolicy_next(NVPOLICY_HYBRID, NVLOG_UNDO, reads, writes), want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pinned_undo),
        cmocka_unit_test(pinned_redo),
        cmocka_unit_test(hybrid_idle_epoch_keeps_current),
        cmocka_unit_test(hybrid_threshold_is_40_percent),
        cmocka_unit_test(hybrid_sweep_matches_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
