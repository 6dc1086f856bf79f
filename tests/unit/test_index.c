/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_index.c - the DRAM radix index of log records (src/log/index.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "log/index.h"

#define MiB ((uint64_t)1 << 20)

static bool unit_entries_zero(const struct nvidx_region *r)
{
    for (unsigned i = 0; i < NVIDX_MAX_BLOCKS; i++)
        if (r->entries[i].record || r->entries[i].epoch || r->entries[i].kind)
            return false;
    return true;
}

static int setup_index(void **state)
{
    struct nvidx *ix = malloc(sizeof(*ix));
    if (!ix)
        return -1;
    nvidx_init(ix);
    *state = ix;
    return 0;
}

static int teardown_index(void **state)
{
    struct nvidx *ix = *state;
    nvidx_destroy(ix);
    /* destroy leaves an empty index behind, usable again */
    assert_null(ix->root);
    assert_null(ix->regions);
    assert_int_equal(ix->redo_live, 0);
    free(ix);
    return 0;
}

static void init_is_empty(void **state)
{
    struct nvidx *ix = *state;
    assert_null(ix->root);
    assert_null(ix->regions);
    assert_int_equal(ix->redo_live, 0);
    /* Lookups without create allocate nothing. */
    assert_null(nvidx_region(ix, 0, false));
    assert_null(nvidx_region(ix, 5 * MiB, false));
    assert_null(ix->root);
    /* Destroying an empty index is fine, twice. */
    nvidx_destroy(ix);
    nvidx_destroy(ix);
}

static void region_create_and_lookup(void **state)
{
    struct nvidx *ix = *state;
    struct nvidx_region *r = nvidx_region(ix, 5 * MiB + 123, true);
    assert_non_null(r);
    assert_int_equal(r->base, 4 * MiB);
    assert_int_equal(r->shift, NVLOG_MIN_SHIFT);
    assert_int_equal(r->last_epoch, 0);
    assert_int_equal(r->redo_live, 0);
    assert_true(unit_entries_zero(r));

    /* Every offset of the region finds the same region, with or without create. */
    assert_ptr_equal(nvidx_region(ix, 4 * MiB, false), r);
    assert_ptr_equal(nvidx_region(ix, 6 * MiB - 1, false), r);
    assert_ptr_equal(nvidx_region(ix, 4 * MiB + 4096, true), r);
    /* Neighbours are absent until created. */
    assert_null(nvidx_region(ix, 4 * MiB - 1, false));
    assert_null(nvidx_region(ix, 6 * MiB, false));

    struct nvidx_region *r0 = nvidx_region(ix, 0, true);
    assert_non_null(r0);
    assert_ptr_not_equal(r0, r);
    assert_int_equal(r0->base, 0);
    assert_ptr_equal(nvidx_region(ix, NVIDX_REGION_SIZE - 1, false), r0);

    /* Both are on the list of every region. */
    int seen = 0;
    for (struct nvidx_region *p = ix->regions; p; p = p->next_live)
        seen += p == r || p == r0;
    assert_int_equal(seen, 2);

    /* Entries map offsets to blocks of the region's size. */
    assert_ptr_equal(nvidx_entry_at(r, 4 * MiB), &r->entries[0]);
    assert_ptr_equal(nvidx_entry_at(r, 4 * MiB + 4095), &r->entries[0]);
    assert_ptr_equal(nvidx_entry_at(r, 4 * MiB + 4096), &r->entries[1]);
    assert_ptr_equal(nvidx_entry_at(r, 6 * MiB - 1), &r->entries[NVIDX_MAX_BLOCKS - 1]);
}

static void region_offsets_far_apart(void **state)
{
    struct nvidx *ix = *state;
    /* Offsets that differ only in the level-1, level-2 or level-3 index. */
    const uint64_t offs[] = {
        0,
        NVIDX_REGION_SIZE,               /* level 3 */
        NVIDX_REGION_SIZE << 9,          /* level 2 */
        NVIDX_REGION_SIZE << 18,         /* level 1 */
        (NVIDX_REGION_SIZE << 18) * 511, /* last level-1 slot */
        NVIDX_MAX_OFFSET - 1,            /* last byte indexed */
        NVIDX_MAX_OFFSET - NVIDX_REGION_SIZE,
    };
    struct nvidx_region *rs[sizeof(offs) / sizeof(offs[0])];
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        rs[i] = nvidx_region(ix, offs[i], true);
        assert_non_null(rs[i]);
        assert_int_equal(rs[i]->base, offs[i] & ~(NVIDX_REGION_SIZE - 1));
    }
    /* The last two name the same region. */
    assert_ptr_equal(rs[5], rs[6]);
    for (size_t i = 0; i < 6; i++)
        for (size_t j = i + 1; j < 6; j++)
            assert_ptr_not_equal(rs[i], rs[j]);
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
        assert_ptr_equal(nvidx_region(ix, offs[i], false), rs[i]);
}

static void region_rejects_offsets_beyond_2_48(void **state)
{
    struct nvidx *ix = *state;
    assert_null(nvidx_region(ix, NVIDX_MAX_OFFSET, true));
    assert_null(nvidx_region(ix, NVIDX_MAX_OFFSET + 4096, true));
    assert_null(nvidx_region(ix, UINT64_MAX, true));
    assert_null(nvidx_region(ix, NVIDX_MAX_OFFSET, false));
    /* No region was made; in particular none aliasing offset 0. */
    assert_null(ix->regions);
    assert_null(nvidx_region(ix, 0, false));
    /* An offset that would alias region 0 modulo 2^48 still is refused
     * once region 0 exists. */
    struct nvidx_region *r0 = nvidx_region(ix, 0, true);
    assert_non_null(r0);
    assert_null(nvidx_region(ix, NVIDX_MAX_OFFSET, false));
    assert_null(nvidx_region(ix, NVIDX_MAX_OFFSET, true));
}

static void region_shift_adoption(void **state)
{
    struct nvidx *ix = *state;
    struct nvidx_region *r = nvidx_region(ix, 0, true);
    assert_non_null(r);

    /* A fresh region adopts whatever the first request wants. */
    assert_int_equal(nvidx_region_shift(r, 1, 16), 16);
    assert_int_equal(r->shift, 16);
    /* Asking again for the same is a no-op. */
    assert_int_equal(nvidx_region_shift(r, 1, 16), 16);

    /* An undo entry of epoch 1: the size stays for the rest of epoch 1. */
    struct nvidx_entry *e = nvidx_entry_at(r, 65536 * 3);
    assert_ptr_equal(e, &r->entries[3]);
    nvidx_set_undo(ix, r, e, 4096, 1);
    assert_int_equal(r->last_epoch, 1);
    assert_int_equal(nvidx_region_shift(r, 1, 12), 16);
    assert_int_equal(nvidx_region_shift(r, 1, 21), 16);
    assert_int_equal(r->entries[3].record, 4096);

    /* Epoch 2: the undo entry is dead, the region adopts 4 KiB and forgets it. */
    assert_int_equal(nvidx_region_shift(r, 2, 12), 12);
    assert_int_equal(r->entries[3].record, 0);
    assert_true(unit_entries_zero(r));

    /* A redo entry pins the size across epochs until it is dropped. */
    e = nvidx_entry_at(r, 8192);
    nvidx_set_redo(ix, r, e, 8192, 2);
    assert_int_equal(nvidx_region_shift(r, 3, 21), 12);
    assert_int_equal(nvidx_region_shift(r, 9, 13), 12);
    assert_int_equal(r->entries[2].record, 8192);
    nvidx_drop_redo(ix, 8192, 8192);
    assert_int_equal(r->redo_live, 0);
    /* Same epoch as the last one logged: still kept. */
    assert_int_equal(nvidx_region_shift(r, 2, 21), 12);
    /* A later epoch with nothing live: adopted. */
    assert_int_equal(nvidx_region_shift(r, 3, 21), 21);
    assert_ptr_equal(nvidx_entry_at(r, NVIDX_REGION_SIZE - 1), &r->entries[0]);

    /* An epoch older than the last one never changes the size. */
    nvidx_set_undo(ix, r, &r->entries[0], 4096, 5);
    assert_int_equal(nvidx_region_shift(r, 4, 12), 21);
    assert_int_equal(nvidx_region_shift(r, 5, 12), 21);
    assert_int_equal(nvidx_region_shift(r, 6, 12), 12);
}

static void set_undo_redo_counts(void **state)
{
    struct nvidx *ix = *state;
    struct nvidx_region *a = nvidx_region(ix, 0, true);
    struct nvidx_region *b = nvidx_region(ix, 10 * MiB, true);
    assert_non_null(a);
    assert_non_null(b);
    struct nvidx_entry *a0 = &a->entries[0], *a1 = &a->entries[1], *b0 = &b->entries[0];

    nvidx_set_redo(ix, a, a0, 4096, 1);
    assert_int_equal(a->redo_live, 1);
    assert_int_equal(ix->redo_live, 1);
    assert_int_equal(a0->kind, NVLOG_REDO);
    assert_int_equal(a0->record, 4096);
    assert_int_equal(a0->epoch, 1);
    assert_int_equal(a->last_epoch, 1);

    /* A newer redo record of the same block replaces it; counts unchanged. */
    nvidx_set_redo(ix, a, a0, 8256, 2);
    assert_int_equal(a->redo_live, 1);
    assert_int_equal(ix->redo_live, 1);
    assert_int_equal(a0->record, 8256);
    assert_int_equal(a0->epoch, 2);

    nvidx_set_redo(ix, a, a1, 12416, 2);
    nvidx_set_redo(ix, b, b0, 16576, 2);
    assert_int_equal(a->redo_live, 2);
    assert_int_equal(b->redo_live, 1);
    assert_int_equal(ix->redo_live, 3);

    /* Undo over a redo entry takes it out of the counts. */
    nvidx_set_undo(ix, a, a1, 20736, 3);
    assert_int_equal(a1->kind, NVLOG_UNDO);
    assert_int_equal(a1->record, 20736);
    assert_int_equal(a->redo_live, 1);
    assert_int_equal(ix->redo_live, 2);
    /* Undo over undo changes nothing. */
    nvidx_set_undo(ix, a, a1, 24896, 4);
    assert_int_equal(a->redo_live, 1);
    assert_int_equal(ix->redo_live, 2);
    assert_int_equal(a1->epoch, 4);
    /* Redo over undo counts again. */
    nvidx_set_redo(ix, a, a1, 29056, 5);
    assert_int_equal(a->redo_live, 2);
    assert_int_equal(ix->redo_live, 3);

    /* Undo on an empty entry counts nothing. */
    struct nvidx_entry *b5 = &b->entries[5];
    nvidx_set_undo(ix, b, b5, 33216, 5);
    assert_int_equal(b->redo_live, 1);
    assert_int_equal(ix->redo_live, 3);
}

static void drop_redo(void **state)
{
    struct nvidx *ix = *state;
    struct nvidx_region *a = nvidx_region(ix, 0, true);
    struct nvidx_region *b = nvidx_region(ix, 2 * MiB, true);
    struct nvidx_region *c = nvidx_region(ix, 64 * MiB, true);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    /* Regions of different block sizes: 4 KiB, 8 KiB, 2 MiB. */
    assert_int_equal(nvidx_region_shift(b, 1, 13), 13);
    assert_int_equal(nvidx_region_shift(c, 1, 21), 21);

    uint64_t a_last = NVIDX_REGION_SIZE - 4096, b_mid = 2 * MiB + NVIDX_REGION_SIZE / 2 - 8192;
    nvidx_set_redo(ix, a, &a->entries[0], 64, 1);
    nvidx_set_redo(ix, a, &a->entries[NVIDX_MAX_BLOCKS - 1], 128, 3);
    nvidx_set_redo(ix, b, nvidx_entry_at(b, b_mid), 192, 2);
    nvidx_set_redo(ix, c, &c->entries[0], 256, 1);
    nvidx_set_undo(ix, a, &a->entries[7], 320, 2);
    assert_int_equal(ix->redo_live, 4);

    /* A record the entry no longer names (a newer one replaced it) and
     * offsets without a region change nothing. */
    nvidx_drop_redo(ix, 0, 4096);
    nvidx_drop_redo(ix, 100 * MiB, 64);
    nvidx_drop_redo(ix, NVIDX_MAX_OFFSET, 64);
    assert_int_equal(ix->redo_live, 4);
    /* Undo entries are not the business of drop_redo. */
    nvidx_drop_redo(ix, 7 * 4096, 320);
    assert_int_equal(a->entries[7].record, 320);
    assert_int_equal(ix->redo_live, 4);

    nvidx_drop_redo(ix, 0, 64);
    nvidx_drop_redo(ix, 64 * MiB + 12345, 256); /* any offset in a 2 MiB block */
    assert_int_equal(ix->redo_live, 2);
    assert_int_equal(a->redo_live, 1);
    assert_int_equal(c->redo_live, 0);
    assert_int_equal(a->entries[0].record, 0);
    assert_int_equal(c->entries[0].record, 0);
    assert_int_equal(a->entries[NVIDX_MAX_BLOCKS - 1].record, 128);

    nvidx_drop_redo(ix, b_mid, 192);
    assert_int_equal(ix->redo_live, 1);
    assert_int_equal(b->redo_live, 0);
    assert_int_equal(nvidx_entry_at(b, b_mid)->record, 0);

    /* Dropped twice: counted once. */
    nvidx_drop_redo(ix, a_last, 128);
    nvidx_drop_redo(ix, a_last, 128);
    assert_int_equal(ix->redo_live, 0);
    assert_int_equal(a->redo_live, 0);
    assert_int_equal(a->entries[NVIDX_MAX_BLOCKS - 1].record, 0);
    assert_int_equal(a->entries[7].record, 320);
}

static void shift_for_boundaries(void **state)
{
    (void)state;
    assert_int_equal(nvidx_shift_for(0), 12);
    assert_int_equal(nvidx_shift_for(1), 12);
    assert_int_equal(nvidx_shift_for(4096), 12);
    assert_int_equal(nvidx_shift_for(4097), 13);
    assert_int_equal(nvidx_shift_for(8192), 13);
    assert_int_equal(nvidx_shift_for(8193), 14);
    assert_int_equal(nvidx_shift_for(MiB), 20);
    assert_int_equal(nvidx_shift_for(MiB + 1), 21);
    assert_int_equal(nvidx_shift_for(2 * MiB), 21);
    assert_int_equal(nvidx_shift_for(2 * MiB + 1), 21);
    assert_int_equal(nvidx_shift_for(4 * MiB), 21);
    assert_int_equal(nvidx_shift_for(UINT64_MAX), 21);
}

static void destroy_many_regions(void **state)
{
    struct nvidx *ix = *state;
    /* 1500 regions spread over level-1, level-2 and level-3 tables, some with
     * live entries; teardown destroys them and ASan/LSan checks for leaks. */
    size_t made = 0;
    for (uint64_t i = 0; i < 1500; i++) {
        uint64_t l1 = i * 7919 % 512, l2 = (i / 512) * 37 % 512, l3 = i % 512;
        uint64_t off = (l1 << 39 | l2 << 30 | l3 << 21) + (i % 512) * 4096;
        struct nvidx_region *r = nvidx_region(ix, off, true);
        assert_non_null(r);
        if (i % 3 == 0)
            nvidx_set_redo(ix, r, nvidx_entry_at(r, off), 64 * (i + 1), i + 1);
        made++;
    }
    size_t listed = 0;
    for (struct nvidx_region *p = ix->regions; p; p = p->next_live)
        listed++;
    assert_int_equal(listed, made);
    assert_true(ix->redo_live > 0);
    nvidx_destroy(ix);
    assert_null(ix->regions);
    /* Usable again after destroy. */
    assert_non_null(nvidx_region(ix, 3 * MiB, true));
    assert_int_equal(ix->redo_live, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(init_is_empty, setup_index, teardown_index),
        cmocka_unit_test_setup_teardown(region_create_and_lookup, setup_index, teardown_index),
        cmocka_unit_test_setup_teardown(region_offsets_far_apart, setup_index, teardown_index),
        cmocka_unit_test_setup_teardown(region_rejects_offsets_beyond_2_48, setup_index,
                                        teardown_index),
        cmocka_unit_test_setup_teardown(region_shift_adoption, setup_index, teardown_index),
        cmocka_unit_test_setup_teardown(set_undo_redo_counts, setup_index, teardown_index),
        cmocka_unit_test_setup_teardown(drop_redo, setup_index, teardown_index),
        cmocka_unit_test(shift_for_boundaries),
        cmocka_unit_test_setup_teardown(destroy_many_regions, setup_index, teardown_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
