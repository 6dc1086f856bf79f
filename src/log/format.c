/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * format.c - sealing and checking slots and records (see format.h).
 */
#include "log/format.h"

#include "log/checksum.h"
#include "mutants.h"

#include <string.h>

static uint32_t slot_checksum(const struct nvlog_slot *s)
{
    struct nvlog_slot copy = *s;
    copy.checksum = 0;
    return nv_crc32c(0, &copy, sizeof(copy));
}

void nvlog_slot_seal(struct nvlog_slot *s)
{
    s->magic = NVLOG_MAGIC;
    s->version = NVLOG_VERSION;
    s->slot_size = sizeof(*s);
    s->checksum = slot_checksum(s);
}

bool nvlog_slot_valid(const struct nvlog_slot *s)
{
    if (MUTANT(8)) /* a commit slot is trusted as if written atomically */
        return s->magic == NVLOG_MAGIC && s->version == NVLOG_VERSION;
    return s->magic == NVLOG_MAGIC && s->version == NVLOG_VERSION && s->slot_size == sizeof(*s) &&
           s->checksum == slot_checksum(s);
}

const struct nvlog_slot *nvlog_slot_current(const void *superblock)
{
    const struct nvlog_slot *a = superblock;
    const struct nvlog_slot *b =
        (const struct nvlog_slot *)((const char *)superblock + NVLOG_SLOT_STRIDE);
    bool va = nvlog_slot_valid(a), vb = nvlog_slot_valid(b);
    if (va && vb)
        return a->seq > b->seq ? a : b;
    return va ? a : vb ? b : NULL;
}

static uint32_t record_checksum(const struct nvlog_record *r)
{
    struct nvlog_record copy = *r;
    copy.checksum = 0;
    return nv_crc32c(0, &copy, sizeof(copy));
}

void nvlog_record_seal(struct nvlog_record *r)
{
    r->magic = NVLOG_RECORD_MAGIC;
    r->checksum = record_checksum(r);
}

bool nvlog_record_valid(const struct nvlog_record *r, uint64_t gen, uint64_t index)
{
    return r->magic == NVLOG_RECORD_MAGIC && r->gen == gen && r->index == index &&
           (r->kind == NVLOG_UNDO || r->kind == NVLOG_REDO) && r->checksum == record_checksum(r);
}

bool nvlog_record_bounded(const struct nvlog_record *r)
{
    const uint64_t max_offset = (uint64_t)1 << 48; /* the index's reach */
    return r->data_len <= ((uint64_t)1 << NVLOG_MAX_SHIFT) && r->file_offset < max_offset &&
           (r->file_offset & (((uint64_t)1 << NVLOG_MIN_SHIFT) - 1)) == 0;
}

bool nvlog_record_data_valid(const struct nvlog_record *r, const void *data)
{
    if (MUTANT(13)) /* a record's data checksum is never checked */
        return true;
    return nv_crc32c(0, data, (size_t)r->data_len) == r->data_checksum;
}

static uint32_t watch_checksum(const struct nvlog_watch *w)
{
    struct nvlog_watch copy = *w;
    copy.checksum = 0;
    return nv_crc32c(0, &copy, sizeof(copy));
}

void nvlog_watch_seal(struct nvlog_watch *w)
{
    w->magic = NVLOG_WATCH_MAGIC;
    w->checksum = watch_checksum(w);
}

bool nvlog_watch_valid(const struct nvlog_watch *w)
{
    return w->magic == NVLOG_WATCH_MAGIC && w->checksum == watch_checksum(w);
}

const struct nvlog_watch *nvlog_watch_current(const void *superblock)
{
    const char *base = superblock;
    const struct nvlog_watch *a = (const void *)(base + nvlog_watch_offset(0));
    const struct nvlog_watch *b = (const void *)(base + nvlog_watch_offset(1));
    bool va = nvlog_watch_valid(a), vb = nvlog_watch_valid(b);
    if (va && vb)
        return a->seq > b->seq ? a : b;
    return va ? a : vb ? b : NULL;
}

bool nvlog_identity_equal(const struct nvlog_identity *a, const struct nvlog_identity *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->btime_sec == b->btime_sec &&
           a->btime_nsec == b->btime_nsec;
}
