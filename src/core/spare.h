/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spare.h - pages of a managed file that the library allocated for itself
 * (whole 2 MiB chunks over holes, so later writes there need no system call)
 * and the program never wrote. They read as zeros; the kernel would have
 * left them holes, so they are punched when the file is published (see
 * nvfile.h), and the program's space stays what it would be without the
 * library.
 *
 * A set of 4 KiB pages kept as one bitmap per 2 MiB chunk, in a hash table
 * by chunk: cheap to test and clear from the write path, and small for the
 * usual case of a few chunks.
 */
#ifndef NVMMIO_CORE_SPARE_H
#define NVMMIO_CORE_SPARE_H

#include <stdbool.h>
#include <stdint.h>

#define NVSPARE_PAGE  ((uint64_t)4096)
#define NVSPARE_CHUNK ((uint64_t)2 << 20)

struct nvspare_chunk {
    uint64_t key; /* chunk index + 1; 0: a free slot */
    uint64_t bits[NVSPARE_CHUNK / NVSPARE_PAGE / 64];
};

struct nvspare {
    struct nvspare_chunk *slots; /* open addressing, linear probing */
    uint32_t cap;                /* a power of two, or 0 */
    uint32_t used;               /* slots taken, live or emptied */
    uint64_t pages;              /* pages in the set */
};

static inline bool nvspare_empty(const struct nvspare *s)
{
    return s->pages == 0;
}

/* Adds the pages of [lo, hi) (page aligned). -ENOMEM leaves the set as it
 * was for the pages not added: they are simply kept, never lost. */
int nvspare_add(struct nvspare *s, uint64_t lo, uint64_t hi);

/* Removes every page that [lo, hi) touches (any byte of it). */
void nvspare_take(struct nvspare *s, uint64_t lo, uint64_t hi);

/* Whether any page that [lo, hi) touches is in the set. */
bool nvspare_touches(const struct nvspare *s, uint64_t lo, uint64_t hi);

/* Calls fn for each run of pages below `end` in the set (chunk by chunk,
 * in no particular order), then empties the set. Stops at the first error
 * fn returns and gives it back; the runs not yet passed are forgotten. */
int nvspare_drain(struct nvspare *s, uint64_t end, int (*fn)(void *arg, uint64_t lo, uint64_t hi),
                  void *arg);

/* Empties the set; nvspare_destroy also frees it. */
void nvspare_clear(struct nvspare *s);
void nvspare_destroy(struct nvspare *s);

#endif
