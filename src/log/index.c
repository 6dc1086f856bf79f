/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * index.c - the radix index of log records (see index.h).
 */
#include "log/index.h"

#include <string.h>

#include "os/pages.h"

#define LEVEL_BITS  9
#define LEVEL_SIZE  (1u << LEVEL_BITS)
#define LEVEL_MASK  (LEVEL_SIZE - 1)
#define TABLE_BYTES (LEVEL_SIZE * sizeof(void *))

void nvidx_init(struct nvidx *ix)
{
    memset(ix, 0, sizeof(*ix));
}

void nvidx_destroy(struct nvidx *ix)
{
    if (ix->root) {
        for (unsigned i = 0; i < LEVEL_SIZE; i++) {
            void **l2 = ix->root[i];
            if (!l2)
                continue;
            for (unsigned j = 0; j < LEVEL_SIZE; j++)
                nv_pages_free(l2[j], TABLE_BYTES); /* level 3; regions are freed below */
            nv_pages_free(l2, TABLE_BYTES);
        }
        nv_pages_free(ix->root, TABLE_BYTES);
    }
    struct nvidx_region *r = ix->regions;
    while (r) {
        struct nvidx_region *next = r->next_live;
        nv_pages_free(r, sizeof(*r));
        r = next;
    }
    memset(ix, 0, sizeof(*ix));
}

static void **child(void **table, unsigned i, bool create)
{
    if (!table[i] && create)
        table[i] = nv_pages_alloc(TABLE_BYTES);
    return table[i];
}

struct nvidx_region *nvidx_region(struct nvidx *ix, uint64_t off, bool create)
{
    if (off >= NVIDX_MAX_OFFSET)
        return NULL;
    uint64_t n = off >> NVIDX_REGION_SHIFT;
    unsigned i1 = (n >> (2 * LEVEL_BITS)) & LEVEL_MASK;
    unsigned i2 = (n >> LEVEL_BITS) & LEVEL_MASK;
    unsigned i3 = n & LEVEL_MASK;
    if (!ix->root) {
        if (!create)
            return NULL;
        ix->root = nv_pages_alloc(TABLE_BYTES);
        if (!ix->root)
            return NULL;
    }
    void **l2 = child(ix->root, i1, create);
    if (!l2)
        return NULL;
    void **l3 = child(l2, i2, create);
    if (!l3)
        return NULL;
    struct nvidx_region *r = l3[i3];
    if (!r && create) {
        r = nv_pages_alloc(sizeof(*r));
        if (!r)
            return NULL;
        r->base = n << NVIDX_REGION_SHIFT;
        r->shift = NVLOG_MIN_SHIFT;
        r->next_live = ix->regions;
        ix->regions = r;
        l3[i3] = r;
    }
    return r;
}

unsigned nvidx_region_shift(struct nvidx_region *r, uint64_t epoch, unsigned wanted)
{
    if (r->redo_live == 0 && r->last_epoch < epoch && r->shift != wanted) {
        memset(r->entries, 0, sizeof(r->entries));
        r->shift = (uint8_t)wanted;
    }
    return r->shift;
}

void nvidx_set_redo(struct nvidx *ix, struct nvidx_region *r, struct nvidx_entry *e,
                    uint64_t record, uint64_t epoch)
{
    if (e->record == 0 || e->kind != NVLOG_REDO) {
        r->redo_live++;
        ix->redo_live++;
    }
    e->record = record;
    e->epoch = epoch;
    e->kind = NVLOG_REDO;
    e->data_known = false;
    __atomic_store_n(&e->written, 0, __ATOMIC_RELAXED);
    r->last_epoch = epoch;
}

void nvidx_set_undo(struct nvidx *ix, struct nvidx_region *r, struct nvidx_entry *e,
                    uint64_t record, uint64_t epoch)
{
    if (e->record != 0 && e->kind == NVLOG_REDO) {
        r->redo_live--;
        ix->redo_live--;
    }
    e->record = record;
    e->epoch = epoch;
    e->kind = NVLOG_UNDO;
    r->last_epoch = epoch;
}

void nvidx_drop_redo(struct nvidx *ix, uint64_t off, uint64_t record)
{
    struct nvidx_region *r = nvidx_region(ix, off, false);
    if (!r)
        return;
    struct nvidx_entry *e = nvidx_entry_at(r, off);
    if (e->record == record && e->kind == NVLOG_REDO) {
        e->record = 0;
        r->redo_live--;
        ix->redo_live--;
    }
}

unsigned nvidx_shift_for(uint64_t len)
{
    unsigned s = NVLOG_MIN_SHIFT;
    while (s < NVLOG_MAX_SHIFT && ((uint64_t)1 << s) < len)
        s++;
    return s;
}

void nvidx_region_refine(struct nvidx_region *r, unsigned shift)
{
    if (r->shift <= shift)
        return;
    unsigned k = r->shift - shift;
    for (uint32_t i = (uint32_t)(NVIDX_REGION_SIZE >> r->shift); i-- > 0;) {
        struct nvidx_entry e = r->entries[i];
        for (uint32_t m = 0; m < (1u << k); m++)
            r->entries[(i << k) + m] = e;
    }
    r->shift = (uint8_t)shift;
}

void nvidx_add_written(struct nvidx_entry *e, uint64_t lo, uint64_t hi, uint64_t span)
{
    uint64_t was = __atomic_load_n(&e->written, __ATOMIC_RELAXED), now;
    /* A write of the whole block stores plainly: nothing can widen it, and
     * a locked instruction here would wait for the streaming stores that
     * just filled the record (a fifth of a random 4 KiB overwrite). */
    if (lo == 0 && hi == span) {
        if (was != NVLOG_WRITTEN(0, span))
            __atomic_store_n(&e->written, NVLOG_WRITTEN(0, span), __ATOMIC_RELAXED);
        return;
    }
    do {
        uint64_t was_lo = NVLOG_WRITTEN_LO(was), was_hi = NVLOG_WRITTEN_HI(was);
        now = was == 0 ? NVLOG_WRITTEN(lo, hi)
                       : NVLOG_WRITTEN(lo < was_lo ? lo : was_lo, hi > was_hi ? hi : was_hi);
    } while (now != was && !__atomic_compare_exchange_n(&e->written, &was, now, true,
                                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}
