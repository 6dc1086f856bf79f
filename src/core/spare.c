/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spare.c - pages the library allocated and the program never wrote (see
 * spare.h).
 */
#include "core/spare.h"

#include <errno.h>
#include <string.h>

#include "os/pages.h"

#define PAGES_PER_CHUNK (NVSPARE_CHUNK / NVSPARE_PAGE)
#define WORDS           (PAGES_PER_CHUNK / 64)

static uint32_t slot_of(const struct nvspare *s, uint64_t key)
{
    return (uint32_t)((key * 0x9e3779b97f4a7c15ULL) >> 32) & (s->cap - 1);
}

static struct nvspare_chunk *find(const struct nvspare *s, uint64_t chunk)
{
    if (!s->cap)
        return NULL;
    uint64_t key = chunk + 1;
    for (uint32_t i = slot_of(s, key);; i = (i + 1) & (s->cap - 1)) {
        if (s->slots[i].key == key)
            return &s->slots[i];
        if (s->slots[i].key == 0)
            return NULL;
    }
}

static bool chunk_empty(const struct nvspare_chunk *c)
{
    for (unsigned w = 0; w < WORDS; w++)
        if (c->bits[w])
            return false;
    return true;
}

/* Places a chunk in a table known to have room and not to hold its key. */
static struct nvspare_chunk *place(struct nvspare *s, uint64_t key)
{
    uint32_t i = slot_of(s, key);
    while (s->slots[i].key)
        i = (i + 1) & (s->cap - 1);
    s->slots[i].key = key;
    s->used++;
    return &s->slots[i];
}

/* Rebuilds the table with room for more chunks; emptied chunks go. */
static int grow(struct nvspare *s)
{
    uint32_t cap = s->cap ? s->cap * 2 : 8;
    struct nvspare_chunk *old = s->slots;
    uint32_t old_cap = s->cap;
    s->slots = nv_pages_alloc((size_t)cap * sizeof(*s->slots));
    if (!s->slots) {
        s->slots = old;
        return -ENOMEM;
    }
    s->cap = cap;
    s->used = 0;
    for (uint32_t i = 0; i < old_cap; i++)
        if (old[i].key && !chunk_empty(&old[i]))
            memcpy(place(s, old[i].key)->bits, old[i].bits, sizeof(old[i].bits));
    nv_pages_free(old, (size_t)old_cap * sizeof(*old));
    return 0;
}

static struct nvspare_chunk *find_or_add(struct nvspare *s, uint64_t chunk)
{
    struct nvspare_chunk *c = find(s, chunk);
    if (c)
        return c;
    if ((s->used + 1) * 4 > s->cap * 3 && grow(s) < 0)
        return NULL;
    return place(s, chunk + 1);
}

/* Applies fn to the bits of pages [p0, p1) of one chunk's bitmap: set,
 * clear or test. Returns the number of pages whose bit changed (or, for a
 * test, that are set). */
enum bit_op { BITS_SET, BITS_CLEAR, BITS_TEST };

static uint64_t bits_apply(uint64_t *bits, uint64_t p0, uint64_t p1, enum bit_op op)
{
    uint64_t n = 0;
    while (p0 < p1) {
        unsigned w = (unsigned)(p0 / 64), b = (unsigned)(p0 % 64);
        uint64_t span = 64 - b < p1 - p0 ? 64 - b : p1 - p0;
        uint64_t mask = (span == 64 ? ~0ULL : ((1ULL << span) - 1)) << b;
        uint64_t hit = op == BITS_SET ? mask & ~bits[w] : bits[w] & mask;
        n += (uint64_t)__builtin_popcountll(hit);
        if (op == BITS_SET)
            bits[w] |= mask;
        else if (op == BITS_CLEAR)
            bits[w] &= ~mask;
        p0 += span;
    }
    return n;
}

int nvspare_add(struct nvspare *s, uint64_t lo, uint64_t hi)
{
    for (uint64_t p = lo / NVSPARE_PAGE, end = hi / NVSPARE_PAGE; p < end;) {
        uint64_t chunk = p / PAGES_PER_CHUNK, stop = (chunk + 1) * PAGES_PER_CHUNK;
        if (stop > end)
            stop = end;
        struct nvspare_chunk *c = find_or_add(s, chunk);
        if (!c)
            return -ENOMEM;
        uint64_t base = chunk * PAGES_PER_CHUNK;
        s->pages += bits_apply(c->bits, p - base, stop - base, BITS_SET);
        p = stop;
    }
    return 0;
}

/* Walks the chunks that pages [lo, hi) (rounded out) touch, applying op. */
static uint64_t over_range(struct nvspare *s, uint64_t lo, uint64_t hi, enum bit_op op)
{
    uint64_t n = 0;
    uint64_t p = lo / NVSPARE_PAGE, end = (hi + NVSPARE_PAGE - 1) / NVSPARE_PAGE;
    while (p < end && (op != BITS_TEST || n == 0)) {
        uint64_t chunk = p / PAGES_PER_CHUNK, stop = (chunk + 1) * PAGES_PER_CHUNK;
        if (stop > end)
            stop = end;
        struct nvspare_chunk *c = find(s, chunk);
        if (c) {
            uint64_t base = chunk * PAGES_PER_CHUNK;
            n += bits_apply(c->bits, p - base, stop - base, op);
        }
        p = stop;
    }
    return n;
}

void nvspare_take(struct nvspare *s, uint64_t lo, uint64_t hi)
{
    if (s->pages == 0 || lo >= hi)
        return;
    s->pages -= over_range(s, lo, hi, BITS_CLEAR);
    if (s->pages == 0)
        nvspare_clear(s);
}

bool nvspare_touches(const struct nvspare *s, uint64_t lo, uint64_t hi)
{
    if (s->pages == 0 || lo >= hi)
        return false;
    return over_range((struct nvspare *)s, lo, hi, BITS_TEST) > 0;
}

int nvspare_drain(struct nvspare *s, uint64_t end, int (*fn)(void *arg, uint64_t lo, uint64_t hi),
                  void *arg)
{
    int rc = 0;
    for (uint32_t i = 0; i < s->cap && s->pages && rc == 0; i++) {
        struct nvspare_chunk *c = &s->slots[i];
        if (!c->key)
            continue;
        uint64_t base = (c->key - 1) * NVSPARE_CHUNK;
        for (uint64_t p = 0; p < PAGES_PER_CHUNK && rc == 0;) {
            if (!(c->bits[p / 64] >> (p % 64) & 1)) {
                p++;
                continue;
            }
            uint64_t q = p;
            while (q < PAGES_PER_CHUNK && (c->bits[q / 64] >> (q % 64) & 1))
                q++;
            uint64_t lo = base + p * NVSPARE_PAGE, hi = base + q * NVSPARE_PAGE;
            if (hi > end)
                hi = end;
            if (lo < hi)
                rc = fn(arg, lo, hi);
            p = q;
        }
    }
    nvspare_clear(s);
    return rc;
}

void nvspare_clear(struct nvspare *s)
{
    if (s->used)
        memset(s->slots, 0, (size_t)s->cap * sizeof(*s->slots));
    s->used = 0;
    s->pages = 0;
}

void nvspare_destroy(struct nvspare *s)
{
    nv_pages_free(s->slots, (size_t)s->cap * sizeof(*s->slots));
    memset(s, 0, sizeof(*s));
}
