/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * journal.c - the undo/redo record protocol of one file: which blocks a
 * change logs, the order their records are made durable in, where the
 * program's bytes go, and the commit (see journal.h).
 */
#include "log/journal.h"

#include <errno.h>
#include <string.h>

#include "log/checksum.h"
#include "mutants.h"
#include "os/pages.h"

static uint64_t round_down(uint64_t v, uint64_t a)
{
    return v & ~(a - 1);
}

void nvjournal_init(struct nvjournal *j, int policy)
{
    nvlog_init(&j->log);
    nvidx_init(&j->index);
    j->epoch = 1;
    j->policy = policy;
}

void nvjournal_destroy(struct nvjournal *j)
{
    nvlog_close(&j->log);
    nvidx_destroy(&j->index);
}

int nvjournal_create(struct nvjournal *j, int dirfd, const char *name,
                     const struct nvlog_identity *id, uid_t owner, uint64_t committed_size)
{
    int rc = nvlog_create(&j->log, dirfd, name, id, owner, committed_size);
    if (rc == 0)
        j->epoch = j->log.state.committed_epoch + 1;
    return rc;
}

/* ---- which blocks are logged -------------------------------------------- */

/* Does the block with entry e need a record now? */
static bool needs_record(const struct nvjournal *j, const struct nvidx_entry *e)
{
    if (MUTANT(12) && j->policy == NVLOG_UNDO) /* a later pre-image replaces the first */
        return true;
    return !(e->record && e->kind == j->policy && e->epoch == j->epoch);
}

/* Is the block logged at all in this epoch (as opposed to written home)? */
static bool block_is_logged(const struct nvjournal_home *h, uint64_t start,
                            const struct nvidx_entry *e)
{
    if (start < h->committed_size)
        return true;
    return e->record && e->kind == NVLOG_REDO;
}

static unsigned wanted_shift(const struct nvjournal *j, uint64_t len)
{
    return j->small_blocks ? NVLOG_MIN_SHIFT : nvidx_shift_for(len);
}

/* Walks the blocks of [off, end) that are logged, calling fn for each. */
typedef int (*block_fn)(struct nvjournal *j, const struct nvjournal_home *h, struct nvidx_region *r,
                        struct nvidx_entry *e, uint64_t start, uint64_t span, void *arg);

static int for_logged_blocks(struct nvjournal *j, const struct nvjournal_home *h, uint64_t off,
                             uint64_t end, block_fn fn, void *arg)
{
    unsigned want_shift = wanted_shift(j, end - off);
    while (off < end) {
        bool may_log = off < h->committed_size || j->index.redo_live;
        struct nvidx_region *r = may_log ? nvidx_region(&j->index, off, true) : NULL;
        if (may_log && !r)
            return -ENOMEM;
        if (!r) {
            off = round_down(off, NVIDX_REGION_SIZE) + NVIDX_REGION_SIZE;
            continue;
        }
        if (j->small_blocks)
            nvidx_region_refine(r, NVLOG_MIN_SHIFT);
        unsigned shift = nvidx_region_shift(r, j->epoch, want_shift);
        uint64_t span = (uint64_t)1 << shift;
        uint64_t start = round_down(off, span);
        struct nvidx_entry *e = nvidx_entry_at(r, start);
        if (block_is_logged(h, start, e)) {
            int rc = fn(j, h, r, e, start, span, arg);
            if (rc)
                return rc;
        }
        off = start + span;
    }
    return 0;
}

bool nvjournal_placed_only(struct nvjournal *j, const struct nvjournal_home *h, uint64_t off,
                           uint64_t end)
{
    unsigned want = wanted_shift(j, end - off);
    while (off < end) {
        bool may_log = off < h->committed_size || j->index.redo_live;
        struct nvidx_region *r = may_log ? nvidx_region(&j->index, off, false) : NULL;
        if (may_log && !r)
            return false;
        if (!r) {
            off = round_down(off, NVIDX_REGION_SIZE) + NVIDX_REGION_SIZE;
            continue;
        }
        if (r->redo_live == 0 && r->last_epoch < j->epoch && r->shift != want)
            return false;
        uint64_t span = (uint64_t)1 << r->shift;
        uint64_t start = round_down(off, span);
        struct nvidx_entry *e = nvidx_entry_at(r, start);
        if (block_is_logged(h, start, e) && needs_record(j, e))
            return false;
        off = start + span;
    }
    return true;
}

/* ---- planning and writing records --------------------------------------- */

static int plan_block(struct nvjournal *j, const struct nvjournal_home *h, struct nvidx_region *r,
                      struct nvidx_entry *e, uint64_t start, uint64_t span, void *arg)
{
    struct nvjournal_plan *p = arg;
    if (!needs_record(j, e))
        return 0;
    if (p->n == p->cap) {
        size_t cap = 2 * p->cap;
        struct nvjournal_block *b =
            p->blocks == p->local
                ? nv_pages_alloc(cap * sizeof(*b))
                : nv_pages_realloc(p->blocks, p->cap * sizeof(*b), cap * sizeof(*b));
        if (!b)
            return -ENOMEM;
        if (p->blocks == p->local)
            memcpy(b, p->local, sizeof(p->local));
        p->blocks = b;
        p->cap = cap;
    }
    uint64_t len = span;
    if (j->policy == NVLOG_UNDO)
        len = start >= h->real_size ? 0 : start + span > h->real_size ? h->real_size - start : span;
    bool covered = p->off <= start && start + span <= p->end;
    p->blocks[p->n++] = (struct nvjournal_block){r, e, start, len, span, covered, {0, 0}, 0};
    p->bytes += nvlog_record_span(len);
    return 0;
}

int nvjournal_plan(struct nvjournal *j, const struct nvjournal_home *h, const char *src,
                   uint64_t off, uint64_t end, struct nvjournal_plan *p)
{
    p->src = src;
    p->blocks = p->local;
    p->n = 0;
    p->cap = NVJOURNAL_PLAN_ON_STACK;
    p->bytes = 0;
    p->off = off;
    p->end = end;
    return for_logged_blocks(j, h, off, end, plan_block, p);
}

bool nvjournal_plan_span(const struct nvjournal_plan *p, const struct nvjournal_home *h,
                         uint64_t *lo, uint64_t *hi)
{
    if (!p->n)
        return false;
    *lo = p->blocks[0].start;
    *hi = p->blocks[p->n - 1].start + p->blocks[p->n - 1].span;
    if (*hi > h->real_size)
        *hi = h->real_size;
    return *lo < *hi;
}

void nvjournal_plan_free(struct nvjournal_plan *p)
{
    if (p->blocks != p->local)
        nv_pages_free(p->blocks, p->cap * sizeof(*p->blocks));
}

/* The block's current contents as the program sees them (a redo record of
 * an earlier epoch, or home), up to the real size; zeros beyond. */
static void snapshot_block(struct nvjournal *j, const struct nvjournal_home *h,
                           const struct nvjournal_block *b, char *dst)
{
    uint64_t home = b->start >= h->real_size            ? 0
                    : b->start + b->span > h->real_size ? h->real_size - b->start
                                                        : b->span;
    if (b->entry->record && b->entry->kind == NVLOG_REDO) {
        memcpy(dst, nvlog_data(&j->log, b->entry->record), b->span);
        return;
    }
    memcpy(dst, h->map->base + b->start, home);
    memset(dst + home, 0, b->span - home);
}

/* Undo records are fenced twice (data, then headers) before anything
 * changes home. Redo records need no fence until the commit, and their
 * data changes until then: a block the change covers gets its header once
 * its bytes are placed, sealed with the checksum of the program's buffer
 * (see put_redo_block); the others are sealed now and given their final
 * checksum at the commit. A failure takes the plan's records back. */
static int write_records(struct nvjournal *j, const struct nvjournal_home *h,
                         struct nvjournal_plan *p)
{
    uint64_t tail = j->log.tail, next_index = j->log.next_index;
    for (size_t i = 0; i < p->n; i++) {
        struct nvjournal_block *b = &p->blocks[i];
        b->rec = nvlog_alloc(&j->log, b->len);
        if (j->policy == NVLOG_UNDO) {
            pm_copy(&j->log.map, b->rec.off + sizeof(struct nvlog_record), h->map->base + b->start,
                    b->len);
            b->data_checksum = nv_crc32c(0, h->map->base + b->start, b->len);
        } else if (!b->covered) { /* a covered block is written whole by the put */
            snapshot_block(j, h, b, nvlog_data(&j->log, b->rec.off));
            if (!MUTANT(1)) /* the log data is not flushed */
                pm_flush(&j->log.map, b->rec.off + sizeof(struct nvlog_record), b->len);
        }
    }
    if (j->policy == NVLOG_UNDO && p->n) {
        int rc = pm_drain(&j->log.map);
        if (rc < 0) {
            j->log.tail = tail;
            j->log.next_index = next_index;
            return rc;
        }
    }
    for (size_t i = 0; i < p->n; i++) {
        struct nvjournal_block *b = &p->blocks[i];
        if (j->policy == NVLOG_UNDO) {
            nvlog_seal(&j->log, b->rec, NVLOG_UNDO, j->epoch, b->start, b->len, b->data_checksum);
            nvidx_set_undo(&j->index, b->region, b->entry, b->rec.off, j->epoch);
            continue;
        }
        if (!b->covered || !p->src)
            nvlog_seal(&j->log, b->rec, NVLOG_REDO, j->epoch, b->start, b->len, 0);
        nvidx_set_redo(&j->index, b->region, b->entry, b->rec.off, j->epoch);
    }
    if (j->policy == NVLOG_UNDO && p->n)
        return pm_drain(&j->log.map);
    return 0;
}

/* ---- placing the program's bytes ---------------------------------------- */

struct put_ctx {
    const char *src; /* NULL: zeros */
    uint64_t off, end;
    uint64_t home_from; /* bytes before this went to the log */
    /* The plan whose records the change just wrote (NULL in place), and
     * its first block not yet met. */
    const struct nvjournal_plan *plan;
    size_t next;
};

static void put_bytes(struct pm_map *m, uint64_t at, const char *src, uint64_t n)
{
    if (src)
        pm_copy(m, at, src, n);
    else
        pm_fill(m, at, 0, n);
}

/* The block at start when the change just made its record and covers it
 * whole with bytes from the program: its header waits for its checksum. */
static const struct nvjournal_block *unsealed_block(struct put_ctx *c, uint64_t start)
{
    const struct nvjournal_plan *p = c->plan;
    if (!p || !c->src)
        return NULL;
    while (c->next < p->n && p->blocks[c->next].start < start)
        c->next++;
    if (c->next == p->n || p->blocks[c->next].start != start || !p->blocks[c->next].covered)
        return NULL;
    return &p->blocks[c->next];
}

/* Redo: the part of the change that falls in a logged block goes to its
 * record; every other byte goes home. A record that waits for its header
 * gets it now; any other record's data checksum is sealed at the commit:
 * taken from the program's buffer, still in cache, when this change
 * replaced the whole block; read back from the record otherwise. */
static int put_redo_block(struct nvjournal *j, const struct nvjournal_home *h,
                          struct nvidx_region *r, struct nvidx_entry *e, uint64_t start,
                          uint64_t span, void *arg)
{
    (void)r;
    struct put_ctx *c = arg;
    uint64_t lo = start > c->off ? start : c->off;
    uint64_t hi = start + span < c->end ? start + span : c->end;
    if (lo > c->home_from)
        put_bytes(h->map, c->home_from, c->src ? c->src + (c->home_from - c->off) : NULL,
                  lo - c->home_from);
    const char *src = c->src ? c->src + (lo - c->off) : NULL;
    nvidx_add_written(e, lo - start, hi - start, span);
    put_bytes(&j->log.map, e->record + sizeof(struct nvlog_record) + (lo - start), src, hi - lo);
    e->data_known = src && lo == start && hi == start + span;
    if (e->data_known)
        e->data_checksum = nv_crc32c(0, src, span);
    const struct nvjournal_block *b = unsealed_block(c, start);
    if (b)
        nvlog_seal(&j->log, b->rec, NVLOG_REDO, j->epoch, start, span, e->data_checksum);
    else
        __atomic_store_n(&j->headers_stale, true, __ATOMIC_RELAXED);
    c->home_from = hi;
    return 0;
}

static void put(struct nvjournal *j, const struct nvjournal_home *h, const char *src, uint64_t off,
                uint64_t end, const struct nvjournal_plan *p)
{
    if (j->policy == NVLOG_UNDO || !j->index.redo_live) {
        put_bytes(h->map, off, src, end - off);
        return;
    }
    struct put_ctx c = {src, off, end, off, p, 0};
    for_logged_blocks(j, h, off, end, put_redo_block, &c);
    if (c.home_from < end)
        put_bytes(h->map, c.home_from, src ? src + (c.home_from - off) : NULL, end - c.home_from);
}

void nvjournal_put(struct nvjournal *j, const struct nvjournal_home *h, const char *src,
                   uint64_t off, uint64_t end)
{
    put(j, h, src, off, end, NULL);
}

int nvjournal_write(struct nvjournal *j, const struct nvjournal_home *h, struct nvjournal_plan *p)
{
    int rc = nvlog_reserve(&j->log, p->bytes);
    if (rc == 0)
        rc = write_records(j, h, p);
    if (rc == 0)
        put(j, h, p->src, p->off, p->end, p);
    return rc;
}

/* ---- reading records ---------------------------------------------------- */

const char *nvjournal_redo_bytes(struct nvjournal *j, uint64_t off, uint64_t *n)
{
    struct nvidx_region *r = nvidx_region(&j->index, off, false);
    if (!r) {
        uint64_t left = NVIDX_REGION_SIZE - (off & (NVIDX_REGION_SIZE - 1));
        if (*n > left)
            *n = left;
        return NULL;
    }
    struct nvidx_entry *e = nvidx_entry_at(r, off);
    uint64_t bs = (uint64_t)1 << r->shift;
    uint64_t in_block = off & (bs - 1);
    if (*n > bs - in_block)
        *n = bs - in_block;
    if (e->record && e->kind == NVLOG_REDO)
        return nvlog_data(&j->log, e->record) + in_block;
    return NULL;
}

int nvjournal_redo_blocks(struct nvjournal *j, uint64_t lo, uint64_t hi, nvjournal_range_fn fn,
                          void *arg)
{
    for (struct nvidx_region *r = j->index.regions; r && j->index.redo_live; r = r->next_live) {
        if (!r->redo_live || r->base >= hi || r->base + NVIDX_REGION_SIZE <= lo)
            continue;
        uint64_t span = (uint64_t)1 << r->shift;
        for (uint64_t blk = r->base; blk < r->base + NVIDX_REGION_SIZE; blk += span) {
            struct nvidx_entry *e = nvidx_entry_at(r, blk);
            uint64_t a = blk > lo ? blk : lo, b = blk + span < hi ? blk + span : hi;
            if (a < b && e->record && e->kind == NVLOG_REDO) {
                int rc = fn(arg, a, b);
                if (rc)
                    return rc;
            }
        }
    }
    return 0;
}

/* ---- the commit --------------------------------------------------------- */

struct taken_records {
    struct nvjournal *j;
    int rc;
};

static int take_record(void *arg, const struct nvlog_record *r, const char *data)
{
    (void)data;
    struct taken_records *t = arg;
    struct nvjournal *j = t->j;
    if (r->kind != NVLOG_UNDO || r->epoch != j->epoch)
        return 0;
    uint64_t rec = (uint64_t)((const char *)r - j->log.map.base);
    uint64_t span = (uint64_t)1 << NVLOG_MIN_SHIFT;
    for (uint64_t off = r->file_offset; off < r->file_offset + r->data_len; off += span) {
        struct nvidx_region *reg = nvidx_region(&j->index, off, true);
        if (!reg) {
            t->rc = -ENOMEM;
            return 1;
        }
        nvidx_region_refine(reg, NVLOG_MIN_SHIFT);
        nvidx_region_shift(reg, j->epoch, NVLOG_MIN_SHIFT);
        nvidx_set_undo(&j->index, reg, nvidx_entry_at(reg, off), rec, j->epoch);
    }
    return 0;
}

int nvjournal_take_records(struct nvjournal *j, uint64_t from, uint64_t from_index)
{
    struct taken_records t = {j, 0};
    struct nvlog_rec end;
    if (from < j->log.tail)
        nvlog_walk(&j->log, from, from_index, j->log.tail, take_record, &t, &end);
    return t.rc;
}

int nvjournal_prepare(struct nvjournal *j, struct pm_map *home)
{
    /* The running epoch's records are all of its policy: an undo epoch
     * sealed each one as it wrote it, and so did a redo epoch whose every
     * change covered its blocks whole; they have nothing to walk here. */
    if (j->policy == NVLOG_REDO && __atomic_load_n(&j->headers_stale, __ATOMIC_RELAXED)) {
        nvlog_seal_redo_data(&j->log, &j->index);
        __atomic_store_n(&j->headers_stale, false, __ATOMIC_RELAXED);
    }
    if (MUTANT(2)) /* no fence before the commit */
        return 0;
    int rc = pm_drain(home);
    return rc < 0 ? rc : pm_drain(&j->log.map);
}

bool nvjournal_commit_resets(const struct nvjournal *j)
{
    return j->policy == NVLOG_UNDO && j->log.state.applied_epoch == j->log.state.committed_epoch;
}

int nvjournal_commit(struct nvjournal *j, struct pm_map *home, uint64_t size, int next_policy)
{
    int rc = nvjournal_prepare(j, home);
    if (rc < 0)
        return rc;
    uint64_t applied = j->log.state.applied_epoch;
    /* An undo epoch leaves nothing live once committed, unless redo blocks
     * of an earlier epoch still wait to go home. */
    bool reset = nvjournal_commit_resets(j);
    rc = nvlog_commit(&j->log, j->epoch, reset ? j->epoch : applied, size, reset);
    if (rc < 0)
        return rc;
    j->epoch++;
    j->policy = next_policy;
    return 0;
}
