/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_log.c - the log file of one data file (src/log/log.h) and the
 * persistence module under it (src/pmem/persist.h). Each test works in a
 * fresh directory under /dev/shm. Run with the argument "forced" the maps
 * are forced pmem (libpmem flushes and fences); without, they are ordinary
 * shared mappings synced with msync.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <sys/resource.h>

#include "unit_util.h"

#include "log/log.h"

#define MiB      ((uint64_t)1 << 20)
#define INIT     NVLOG_INITIAL_SIZE
#define LOG_NAME "801-12345.log"

static int expected_kind;

static const struct nvlog_identity test_id = {
    .dev = 0x801, .ino = 12345, .btime_sec = 1700000000, .btime_nsec = 5};

struct fixture {
    struct unit_dir dir;
    struct rlimit fsize; /* restored by teardown when fsize_set */
    bool fsize_set;
    struct unit_kept kept;
    struct nvlog log;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f || unit_dir_make(&f->dir) < 0) {
        free(f);
        return -1;
    }
    nvlog_init(&f->log);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    nvlog_close(&f->log);
    if (f->fsize_set) {
        setrlimit(RLIMIT_FSIZE, &f->fsize);
        signal(SIGXFSZ, SIG_DFL);
    }
    int rc = unit_dir_remove(&f->dir);
    unit_kept_free(&f->kept);
    free(f);
    return rc;
}

/* Reads a whole file of the test directory; the buffer lives until teardown. */
static char *slurp(struct fixture *f, const char *name, size_t *n)
{
    char *buf = unit_keep(&f->kept, unit_read_file(f->dir.fd, name, n));
    assert_non_null(buf);
    return buf;
}

/* Creates the test log with a committed size of 8192. */
static struct nvlog *create_log(struct fixture *f)
{
    assert_int_equal(nvlog_create(&f->log, f->dir.fd, LOG_NAME, &test_id, getuid(), 8192), 0);
    return &f->log;
}

/* Appends one record of data_len bytes, each byte `fill`, sealed (not
 * fenced). Room is reserved first. */
static struct nvlog_rec append(struct nvlog *log, int kind, uint64_t epoch, uint64_t file_offset,
                               uint64_t data_len, int fill)
{
    assert_int_equal(nvlog_reserve(log, nvlog_record_span(data_len)), 0);
    struct nvlog_rec rec = nvlog_alloc(log, data_len);
    pm_fill(&log->map, rec.off + sizeof(struct nvlog_record), fill, data_len);
    nvlog_seal(log, rec, kind, epoch, file_offset, data_len, nvlog_data_crc(log, rec, data_len));
    return rec;
}

/* What a walk saw. */
struct seen {
    int n;
    int stop_at; /* visit returns 7 at this record; -1 never */
    struct nvlog_record rec[32];
    int first_byte[32];
    int data_ok[32]; /* every data byte equals the first */
};

static int collect(void *arg, const struct nvlog_record *r, const char *data)
{
    struct seen *s = arg;
    if (s->n == s->stop_at)
        return 7;
    assert_true(s->n < 32);
    assert_ptr_equal(data, (const char *)(r + 1));
    s->rec[s->n] = *r;
    s->first_byte[s->n] = r->data_len ? (unsigned char)data[0] : -1;
    s->data_ok[s->n] = r->data_len ? unit_all(data, data[0], r->data_len) : 1;
    s->n++;
    return 0;
}

static int walk_all(struct nvlog *log, struct seen *s, struct nvlog_rec *end)
{
    memset(s, 0, sizeof(*s));
    s->stop_at = -1;
    return nvlog_walk(log, NVLOG_HEADER_SIZE, 0, log->size, collect, s, end);
}

/* ---- persistence -------------------------------------------------------- */

static void pm_map_copy_fill_drain(void **state)
{
    struct fixture *f = *state;
    char buf[3 * 4096];
    memset(buf, 'x', sizeof(buf));
    assert_int_equal(unit_write_file(f->dir.fd, "data", buf, sizeof(buf)), 0);
    int fd = openat(f->dir.fd, "data", O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);

    struct pm_map m;
    memset(&m, 0, sizeof(m));
    assert_int_equal(pm_map_file(fd, 1, 4 * 4096, &m), 0);
    assert_non_null(m.base);
    assert_int_equal(m.reserved, 4 * 4096);
    assert_int_equal(m.kind, expected_kind);
    assert_int_equal(m.writable, 1);
    assert_true(m.dirty_hi <= m.dirty_lo); /* nothing dirty */

    pm_copy(&m, 100, "hello", 5);
    pm_fill(&m, 5000, 'z', 3000);
    memcpy(m.base + 9000, "plain", 5);
    pm_flush(&m, 9000, 5);
    if (m.kind == PM_KIND_MSYNC) {
        assert_int_equal(m.dirty_lo, 100);
        assert_int_equal(m.dirty_hi, 9005);
    }
    assert_int_equal(pm_drain(&m), 0);
    assert_true(m.dirty_hi <= m.dirty_lo);
    /* A drain with nothing dirty is fine. */
    assert_int_equal(pm_drain(&m), 0);
    assert_int_equal(pm_persist(&m, 0, 1), 0);

    /* The file holds what the mapping was given. */
    char back[sizeof(buf)];
    assert_int_equal(pread(fd, back, sizeof(back), 0), (ssize_t)sizeof(back));
    assert_memory_equal(back + 100, "hello", 5);
    assert_true(unit_all(back + 5000, 'z', 3000));
    assert_memory_equal(back + 9000, "plain", 5);
    assert_true(unit_all(back, 'x', 100));
    assert_true(unit_all(back + 8000, 'x', 1000));

    /* Growing keeps the contents and what is still dirty. */
    pm_copy(&m, 200, "dirty", 5);
    assert_int_equal(pm_map_grow(fd, 64 * 4096, &m), 0);
    assert_int_equal(m.reserved, 64 * 4096);
    assert_int_equal(m.writable, 1);
    assert_int_equal(m.kind, expected_kind);
    if (m.kind == PM_KIND_MSYNC) {
        assert_int_equal(m.dirty_lo, 200);
        assert_int_equal(m.dirty_hi, 205);
    }
    assert_memory_equal(m.base + 100, "hello", 5);
    assert_memory_equal(m.base + 200, "dirty", 5);
    assert_int_equal(pm_drain(&m), 0);
    pm_unmap(&m);
    assert_null(m.base);
    assert_int_equal(m.reserved, 0);
    pm_unmap(&m); /* twice is harmless */

    /* A read-only map sees the same bytes. */
    struct pm_map ro;
    assert_int_equal(pm_map_file(fd, 0, sizeof(buf), &ro), 0);
    assert_int_equal(ro.writable, 0);
    assert_memory_equal(ro.base + 200, "dirty", 5);
    pm_unmap(&ro);
    close(fd);
}

/* ---- create, attach ----------------------------------------------------- */

static void create_then_attach_same_state(void **state)
{
    struct fixture *f = *state;
    struct nvlog *log = create_log(f);
    assert_true(nvlog_exists(log));
    assert_int_equal(log->map.kind, expected_kind);
    assert_int_equal(log->size, INIT);
    assert_int_equal(unit_file_size(f->dir.fd, LOG_NAME), (int64_t)INIT);
    assert_int_equal(log->tail, NVLOG_HEADER_SIZE);
    assert_int_equal(log->next_index, 0);
    assert_int_equal(log->live_from, NVLOG_HEADER_SIZE);
    assert_int_equal(log->live_from_index, 0);
    assert_int_equal(nvlog_used(log), 0);
    assert_true(nvlog_slot_valid(&log->state));
    assert_true(nvlog_identity_equal(&log->state.id, &test_id));
    assert_int_equal(log->state.gen, 1);
    assert_int_equal(log->state.seq, 1);
    assert_int_equal(log->state.committed_epoch, 0);
    assert_int_equal(log->state.applied_epoch, 0);
    assert_int_equal(log->state.committed_size, 8192);
    /* No temporary name is left behind. */
    assert_false(unit_exists(f->dir.fd, "." LOG_NAME ".tmp"));

    /* Both slots are on the media and valid, seq 0 and seq 1. */
    size_t n;
    char *img = slurp(f, LOG_NAME, &n);
    assert_non_null(img);
    const struct nvlog_slot *s0 = (const void *)img;
    const struct nvlog_slot *s1 = (const void *)(img + NVLOG_SLOT_STRIDE);
    assert_true(nvlog_slot_valid(s0));
    assert_true(nvlog_slot_valid(s1));
    assert_int_equal(s0->seq, 0);
    assert_int_equal(s1->seq, 1);
    assert_ptr_equal(nvlog_slot_current(img), s1);
    assert_memory_equal(s1, &log->state, sizeof(*s1));
    /* Records area starts zeroed. */
    assert_true(unit_all(img + NVLOG_HEADER_SIZE, 0, n - NVLOG_HEADER_SIZE));

    struct nvlog_slot created = log->state;
    nvlog_close(log);
    assert_false(nvlog_exists(log));

    struct nvlog again;
    nvlog_init(&again);
    assert_false(nvlog_exists(&again));
    assert_int_equal(nvlog_used(&again), 0);
    assert_int_equal(nvlog_attach(&again, f->dir.fd, LOG_NAME, getuid(), &why), 0);
    assert_true(nvlog_exists(&again));
    assert_memory_equal(&again.state, &created, sizeof(created));
    assert_int_equal(again.size, INIT);
    assert_int_equal(again.tail, NVLOG_HEADER_SIZE);
    assert_int_equal(again.next_index, 0);
    assert_int_equal(again.map.kind, expected_kind);

    /* A commit is what the next attach finds. */
    assert_int_equal(nvlog_commit(&again, 3, 2, 65536, false), 0);
    struct nvlog_slot committed = again.state;
    assert_int_equal(committed.seq, 2);
    assert_int_equal(committed.gen, 1);
    nvlog_close(&again);
    assert_int_equal(nvlog_attach(log, f->dir.fd, LOG_NAME, getuid(), &why), 0);
    assert_memory_equal(&log->state, &committed, sizeof(committed));
    assert_int_equal(log->state.committed_epoch, 3);
    assert_int_equal(log->state.applied_epoch, 2);
    assert_int_equal(log->state.committed_size, 65536);
}

static void create_replaces_leftover_tmp(void **state)
{
    struct fixture *f = *state;
    /* A temporary file left by a crash during an earlier create. */
    assert_int_equal(unit_write_file(f->dir.fd, "." LOG_NAME ".tmp", "junk", 4), 0);
    create_log(f);
    assert_false(unit_exists(f->dir.fd, "." LOG_NAME ".tmp"));
    assert_true(unit_exists(f->dir.fd, LOG_NAME));
    assert_int_equal(f->log.state.committed_size, 8192);
}

static void create_name_too_long(void **state)
{
    struct fixture *f = *state;
    char name[300];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = 0;
    assert_int_equal(nvlog_create(&f->log, f->dir.fd, name, &test_id, getuid(), 0), -ENAMETOOLONG);
    assert_false(nvlog_exists(&f->log));
}

static void attach_half_made_log_is_absent(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(nvlog_attach(&f->log, f->dir.fd, LOG_NAME, getuid(), &why), -ENOENT);
    assert_false(nvlog_exists(&f->log));

    /* A complete log that never got its name (the crash came before the
     * rename): only the temporary file exists. */
    create_log(f);
    nvlog_close(&f->log);
    assert_int_equal(renameat(f->dir.fd, LOG_NAME, f->dir.fd, "." LOG_NAME ".tmp"), 0);
    assert_int_equal(nvlog_attach(&f->log, f->dir.fd, LOG_NAME, getuid(), &why), -ENOENT);
    assert_false(nvlog_exists(&f->log));

    /* A crash right after open: an empty temporary file. */
    assert_int_equal(unit_write_file(f->dir.fd, "." LOG_NAME ".tmp", NULL, 0), 0);
    assert_int_equal(nvlog_attach(&f->log, f->dir.fd, LOG_NAME, getuid(), &why), -ENOENT);
    assert_false(nvlog_exists(&f->log));
}

static void attach_rejects_bad_logs(void **state)
{
    struct fixture *f = *state;
    /* Shorter than the superblock. */
    char small[100] = {0};
    assert_int_equal(unit_write_file(f->dir.fd, LOG_NAME, small, sizeof(small)), 0);
    assert_int_equal(nvlog_attach(&f->log, f->dir.fd, LOG_NAME, getuid(), &why), -EBADMSG);
    assert_false(nvlog_exists(&f->log));

    /* All zeros. */
    char *zeros = unit_keep(&f->kept, calloc(1, 64 * 1024));
    assert_non_null(zeros);
    assert_int_equal(unit_write_file(f->dir.fd, LOG_NAME, zeros, 64 * 1024), 0);
    assert_int_equal(nvlog_attach(&f->log, f->dir.fd, LOG_NAME, getuid(), &why), -EBADMSG);
    assert_false(nvlog_exists(&f->log));

    /* A real log with both slots damaged. */
    assert_int_equal(unlinkat(f->dir.fd, LOG_NAME, 0), 0);
    create_log(f);
    nvlog_close(&f->log);
    size_t n;
    char *img = slurp(f, LOG_NAME, &n);
    assert_non_null(img);
    img[offsetof(struct nvlog_slot, seq)] ^= 0x10;
    img[NVLOG_SLOT_STRIDE + offsetof(struct nvlog_slot, committed_size)] ^= 0x01;
    assert_int_equal(unit_write_file(f->dir.fd, LOG_NAME, img, n), 0);
    assert_int_equal(nvlog_attach(&f->log, f->dir.fd, LOG_NAME, getuid(), &why), -EBADMSG);
    assert_false(nvlog_exists(&f->log));

    /* Only the newer slot damaged: the older one is the state. */
    img[offsetof(struct nvlog_slot, seq)] ^= 0x10;
    assert_int_equal(unit_write_file(f->dir.fd, LOG_NAME, img, n), 0);
    assert_int_equal(nvlog_attach(&f->log, f->dir.fd, LOG_NAME, getuid(), &why), 0);
    assert_int_equal(f->log.state.seq, 0);
    assert_int_equal(f->log.state.committed_size, 8192);
    nvlog_close(&f->log);

    /* A good log cut short inside its superblock (both slots intact). */
    img = slurp(f, LOG_NAME, &n);
    assert_true(nvlog_slot_current(img) != NULL);
    assert_int_equal(unit_write_file(f->dir.fd, LOG_NAME, img, NVLOG_HEADER_SIZE - 1), 0);
    assert_int_equal(nvlog_attach(&f->log, f->dir.fd, LOG_NAME, getuid(), &why), -EBADMSG);
    assert_false(nvlog_exists(&f->log));
}

/* ---- reserve and alloc -------------------------------------------------- */

static void reserve_grows_the_file(void **state)
{
    struct fixture *f = *state;
    struct nvlog *log = create_log(f);
    char *base = log->map.base;

    /* What fits needs nothing. */
    assert_int_equal(nvlog_reserve(log, 0), 0);
    assert_int_equal(nvlog_reserve(log, INIT - NVLOG_HEADER_SIZE), 0);
    assert_int_equal(log->size, INIT);
    assert_int_equal(unit_file_size(f->dir.fd, LOG_NAME), (int64_t)INIT);

    /* One byte more: the file doubles (a step of its size). */
    assert_int_equal(nvlog_reserve(log, INIT - NVLOG_HEADER_SIZE + 1), 0);
    assert_int_equal(log->size, 2 * INIT);
    assert_int_equal(unit_file_size(f->dir.fd, LOG_NAME), (int64_t)(2 * INIT));

    /* A request beyond the step gets exactly what it needs, page-rounded. */
    assert_int_equal(nvlog_reserve(log, 5 * MiB + 1), 0);
    assert_int_equal(log->size, NVLOG_HEADER_SIZE + 5 * MiB + 4096);
    assert_int_equal(unit_file_size(f->dir.fd, LOG_NAME), (int64_t)log->size);
    /* The mapping's reservation covered it: same addresses. */
    assert_ptr_equal(log->map.base, base);

    /* The last byte reserved is writable and reaches the file. */
    pm_fill(&log->map, log->size - 1, 0x5a, 1);
    assert_int_equal(pm_drain(&log->map), 0);
    int fd = openat(f->dir.fd, LOG_NAME, O_RDONLY | O_CLOEXEC);
    unsigned char last = 0;
    assert_int_equal(pread(fd, &last, 1, (off_t)log->size - 1), 1);
    close(fd);
    assert_int_equal(last, 0x5a);

    /* A reserve counts from the tail, not from the start. */
    uint64_t size = log->size;
    struct nvlog_rec r = nvlog_alloc(log, size - NVLOG_HEADER_SIZE - 64 - 4096);
    assert_int_equal(r.off, NVLOG_HEADER_SIZE);
    assert_int_equal(log->tail, size - 4096);
    assert_int_equal(nvlog_reserve(log, 4096), 0);
    assert_int_equal(log->size, size);
    assert_int_equal(nvlog_reserve(log, 4097), 0);
    assert_int_equal(log->size, size + (size < 64 * MiB ? size : 64 * MiB));
}

static void reserve_out_of_space(void **state)
{
    struct fixture *f = *state;
    struct nvlog *log = create_log(f);
    /* Files may not grow past 1 MiB + 64 KiB: fallocate fails with EFBIG. */
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &f->fsize), 0);
    f->fsize_set = true;
    struct rlimit lim = f->fsize;
    lim.rlim_cur = MiB + 64 * 1024;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);

    /* The exact need fits under the limit. */
    assert_int_equal(nvlog_reserve(log, MiB - NVLOG_HEADER_SIZE + 1), 0);
    assert_int_equal(log->size, MiB + 4096);
    assert_int_equal(unit_file_size(f->dir.fd, LOG_NAME), (int64_t)(MiB + 4096));

    /* Beyond the limit: -ENOSPC and nothing changes. */
    struct nvlog before = *log;
    assert_int_equal(nvlog_reserve(log, 2 * MiB), -ENOSPC);
    assert_memory_equal(log, &before, sizeof(before));
    assert_int_equal(unit_file_size(f->dir.fd, LOG_NAME), (int64_t)(MiB + 4096));
    /* What still fits is granted, exactly. */
    assert_int_equal(nvlog_reserve(log, MiB + 32 * 1024), 0);
    assert_int_equal(log->size, NVLOG_HEADER_SIZE + MiB + 32 * 1024);
    assert_int_equal(unit_file_size(f->dir.fd, LOG_NAME), (int64_t)log->size);
}

static void alloc_places_records_back_to_back(void **state)
{
    struct fixture *f = *state;
    struct nvlog *log = create_log(f);
    assert_int_equal(nvlog_reserve(log, 3 * 4096), 0);

    struct nvlog_rec a = nvlog_alloc(log, 100);
    struct nvlog_rec b = nvlog_alloc(log, 0);
    struct nvlog_rec c = nvlog_alloc(log, 4096);
    struct nvlog_rec d = nvlog_alloc(log, 64);
    assert_int_equal(a.off, NVLOG_HEADER_SIZE);
    assert_int_equal(a.index, 0);
    assert_int_equal(b.off, NVLOG_HEADER_SIZE + 64 + 128);
    assert_int_equal(b.index, 1);
    assert_int_equal(c.off, b.off + 64);
    assert_int_equal(c.index, 2);
    assert_int_equal(d.off, c.off + 64 + 4096);
    assert_int_equal(d.index, 3);
    assert_int_equal(log->tail, d.off + 128);
    assert_int_equal(log->next_index, 4);
    assert_int_equal(nvlog_used(log), log->tail - NVLOG_HEADER_SIZE);
    assert_ptr_equal(nvlog_data(log, c.off), log->map.base + c.off + 64);
    /* Every record header is aligned. */
    assert_int_equal(a.off % NVLOG_ALIGN, 0);
    assert_int_equal(b.off % NVLOG_ALIGN, 0);
    assert_int_equal(c.off % NVLOG_ALIGN, 0);
    assert_int_equal(d.off % NVLOG_ALIGN, 0);
}

static void seal_writes_the_header(void **state)
{
    struct fixture *f = *state;
    struct nvlog *log = create_log(f);
    struct nvlog_rec rec = append(log, NVLOG_REDO, 4, 3 * 4096, 4096, 'q');
    assert_int_equal(pm_drain(&log->map), 0);
    const struct nvlog_record *r = (const void *)(log->map.base + rec.off);
    assert_true(nvlog_record_valid(r, log->state.gen, 0));
    assert_int_equal(r->kind, NVLOG_REDO);
    assert_int_equal(r->gen, 1);
    assert_int_equal(r->index, 0);
    assert_int_equal(r->epoch, 4);
    assert_int_equal(r->file_offset, 3 * 4096);
    assert_int_equal(r->data_len, 4096);
    assert_true(unit_all(nvlog_data(log, rec.off), 'q', 4096));

    /* On the media too. */
    size_t n;
    char *img = slurp(f, LOG_NAME, &n);
    assert_non_null(img);
    assert_memory_equal(img + rec.off, r, sizeof(*r));
    assert_true(unit_all(img + rec.off + 64, 'q', 4096));
}

/* ---- commit ------------------------------------------------------------- */

static void commit_alternates_slots(void **state)
{
    struct fixture *f = *state;
    struct nvlog *log = create_log(f);
    for (uint64_t i = 2; i < 8; i++) {
        assert_int_equal(nvlog_commit(log, i, i - 1, 4096 * i, false), 0);
        assert_int_equal(log->state.seq, i);
        assert_true(nvlog_slot_valid(&log->state));
        /* The slot this commit wrote holds the state; the other the one before. */
        const struct nvlog_slot *w = (const void *)(log->map.base + nvlog_slot_offset(i));
        const struct nvlog_slot *o = (const void *)(log->map.base + nvlog_slot_offset(i - 1));
        assert_memory_equal(w, &log->state, sizeof(*w));
        assert_true(nvlog_slot_valid(o));
        assert_int_equal(o->seq, i - 1);
        assert_ptr_equal(nvlog_slot_current(log->map.base), w);
    }
    assert_int_equal(log->state.committed_epoch, 7);
    assert_int_equal(log->state.applied_epoch, 6);
    assert_int_equal(log->state.committed_size, 4096 * 7);
    assert_int_equal(log->state.gen, 1);
}

static void torn_commit_keeps_previous_state(void **state)
{
    struct fixture *f = *state;
    struct nvlog *log = create_log(f);
    assert_int_equal(nvlog_commit(log, 1, 0, 10000, false), 0);
    struct nvlog_slot before = log->state;
    assert_int_equal(nvlog_commit(log, 2, 0, 20000, false), 0);
    /* The second commit's slot is torn on the media. */
    size_t off = nvlog_slot_offset(log->state.seq);
    log->map.base[off + offsetof(struct nvlog_slot, committed_size)] ^= 0x04;
    assert_int_equal(pm_persist(&log->map, off, sizeof(struct nvlog_slot)), 0);
    nvlog_close(log);

    assert_int_equal(nvlog_attach(log, f->dir.fd, LOG_NAME, getuid(), &why), 0);
    assert_memory_equal(&log->state, &before, sizeof(before));
    assert_int_equal(log->state.committed_size, 10000);

    /* The next commit goes on from the surviving state, to the torn slot. */
    assert_int_equal(nvlog_commit(log, 2, 0, 30000, false), 0);
    assert_int_equal(log->state.seq, before.seq + 1);
    assert_int_equal(nvlog_slot_offset(log->state.seq), off);
    nvlog_close(log);
    assert_int_equal(nvlog_attach(log, f->dir.fd, LOG_NAME, getuid(), &why), 0);
    assert_int_equal(log->state.committed_size, 30000);
}

/* ---- walk --------------------------------------------------------------- */

static void walk_visits_records_in_order(void **state)
{
    struct fixture *f = *state;
    struct nvlog *log = create_log(f);
    struct nvlog_rec recs[5];
    recs[0] = append(log, NVLOG_UNDO, 1, 0, 4096, 'a');
    recs[1] = append(log, NVLOG_UNDO, 1, 8192, 100, 'b');
    recs[2] = append(log, NVLOG_REDO, 2, 4096, 0, 0);
    recs[3] = append(log, NVLOG_REDO, 2, 4096, 8192, 'd');
    recs[4] = append(log, NVLOG_REDO, 3, 1 << 21, 1 << 21, 'e');
    assert_int_equal(pm_drain(&log->map), 0);

    struct seen s;
    struct nvlog_rec end;
    assert_int_equal(walk_all(log, &s, &end), 0);
    assert_int_equal(s.n, 5);
    assert_int_equal(end.off, log->tail);
    assert_int_equal(end.index, 5);
    const int kinds[] = {NVLOG_UNDO, NVLOG_UNDO, NVLOG_REDO, NVLOG_REDO, NVLOG_REDO};
    const uint64_t epochs[] = {1, 1, 2, 2, 3};
    const uint64_t offs[] = {0, 8192, 4096, 4096, 1 << 21};
    const uint64_t lens[] = {4096, 100, 0, 8192, 1 << 21};
    const int fills[] = {'a', 'b', -1, 'd', 'e'};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(s.rec[i].index, i);
        assert_int_equal(s.rec[i].kind, kinds[i]);
        assert_int_equal(s.rec[i].epoch, epochs[i]);
        assert_int_equal(s.rec[i].file_offset, offs[i]);
        assert_int_equal(s.rec[i].data_len, lens[i]);
        assert_int_equal(s.first_byte[i], fills[i]);
        assert_true(s.data_ok[i]);
    }

    /* A walk can start in the middle, at a known record and index. */
    memset(&s, 0, sizeof(s));
    s.stop_at = -1;
    assert_int_equal(nvlog_walk(log, recs[2].off, 2, log->tail, collect, &s, &end), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.rec[0].index, 2);
    assert_int_equal(end.off, log->tail);
    /* Starting with the wrong index finds nothing. */
    memset(&s, 0, sizeof(s));
    s.stop_at = -1;
    assert_int_equal(nvlog_walk(log, recs[2].off, 3, log->tail, collect, &s, &end), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(end.off, recs[2].off);
    assert_int_equal(end.index, 3);

    /* A limit that cuts a record short leaves it out. */
    memset(&s, 0, sizeof(s));
    s.stop_at = -1;
    assert_int_equal(
        nvlog_walk(log, NVLOG_HEADER_SIZE, 0, recs[4].off + 64 + 4096, collect, &s, &end), 0);
    assert_int_equal(s.n, 4);
    assert_int_equal(end.off, recs[4].off);
    assert_int_equal(end.index, 4);
    /* A limit of exactly a record's end includes it. */
    memset(&s, 0, sizeof(s));
    s.stop_at = -1;
    assert_int_equal(nvlog_walk(log, NVLOG_HEADER_SIZE, 0, recs[4].off, collect, &s, NULL), 0);
    assert_int_equal(s.n, 4);

    /* The visitor can stop the walk; its value comes back. */
    memset(&s, 0, sizeof(s));
    s.stop_at = 3;
    assert_int_equal(nvlog_walk(log, NVLOG_HEADER_SIZE, 0, log->size, collect, &s, &end), 7);
    assert_int_equal(s.n, 3);
    assert_int_equal(end.off, recs[3].off);
    assert_int_equal(end.index, 3);

    /* After close and attach the records are found in the file. */
    nvlog_close(log);
    assert_int_equal(nvlog_attach(log, f->dir.fd, LOG_NAME, getuid(), &why), 0);
    assert_int_equal(walk_all(log, &s, &end), 0);
    assert_int_equal(s.n, 5);
    assert_int_equal(end.off, recs[4].off + nvlog_record_span(1 << 21));
    assert_true(s.data_ok[4]);
}

static void walk_stops_at_bad_records(void **state)
{
    struct fixture *f = *state;
    struct nvlog *log = create_log(f);
    /* Room for any record the tests below forge, so only the checks under
     * test stop the walk. */
    assert_int_equal(nvlog_reserve(log, 4 * MiB), 0);
    struct nvlog_rec recs[4];
    for (int i = 0; i < 4; i++)
        recs[i] = append(log, NVLOG_REDO, 1, 4096 * (uint64_t)i, 4096, 'A' + i);
    assert_int_equal(pm_drain(&log->map), 0);
    struct nvlog_record *r2 = (void *)(log->map.base + recs[2].off);
    const struct nvlog_record good = *r2;
    struct seen s;
    struct nvlog_rec end;

    /* A flipped bit in a header: a bad checksum. */
    r2->file_offset ^= 1 << 12;
    assert_int_equal(walk_all(log, &s, &end), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(end.off, recs[2].off);
    assert_int_equal(end.index, 2);
    *r2 = good;
    assert_int_equal(walk_all(log, &s, &end), 0);
    assert_int_equal(s.n, 4);

    /* A zeroed checksum (a header whose last line never reached the media). */
    r2->checksum = 0;
    assert_int_equal(walk_all(log, &s, &end), 0);
    assert_int_equal(s.n, 2);
    *r2 = good;

    /* A correctly sealed record of another generation. */
    struct nvlog_record other = good;
    other.gen = log->state.gen + 1;
    nvlog_record_seal(&other);
    *r2 = other;
    assert_int_equal(walk_all(log, &s, &end), 0);
    assert_int_equal(s.n, 2);
    other.gen = log->state.gen - 1;
    nvlog_record_seal(&other);
    *r2 = other;
    assert_int_equal(walk_all(log, &s, &end), 0);
    assert_int_equal(s.n, 2);

    /* A correctly sealed record out of sequence. */
    other = good;
    other.index = 3;
    nvlog_record_seal(&other);
    *r2 = other;
    assert_int_equal(walk_all(log, &s, &end), 0);
    assert_int_equal(s.n, 2);

    /* A correctly sealed record that claims more data than a block holds. */
    other = good;
    other.data_len = ((uint64_t)1 << NVLOG_MAX_SHIFT) + 1;
    nvlog_record_seal(&other);
    *r2 = other;
    assert_int_equal(walk_all(log, &s, &end), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(end.off, recs[2].off);

    /* A correctly sealed record running past the end of the log. */
    other = good;
    other.data_len = (uint64_t)1 << NVLOG_MAX_SHIFT;
    nvlog_record_seal(&other);
    *r2 = other;
    memset(&s, 0, sizeof(s));
    s.stop_at = -1;
    assert_int_equal(
        nvlog_walk(log, NVLOG_HEADER_SIZE, 0, recs[3].off + 64 + 4096, collect, &s, &end), 0);
    assert_int_equal(s.n, 2);
    *r2 = good;
    assert_int_equal(walk_all(log, &s, &end), 0);
    assert_int_equal(s.n, 4);
    assert_int_equal(end.off, log->tail);
}

static void commit_reset_starts_new_generation(void **state)
{
    struct fixture *f = *state;
    struct nvlog *log = create_log(f);
    struct nvlog_rec recs[3];
    for (int i = 0; i < 3; i++)
        recs[i] = append(log, NVLOG_REDO, 1, 4096 * (uint64_t)i, 4096, 'a' + i);
    assert_int_equal(pm_drain(&log->map), 0);
    uint64_t tail = log->tail;

    /* A commit without reset keeps the records and the tail. */
    assert_int_equal(nvlog_commit(log, 1, 0, 3 * 4096, false), 0);
    assert_int_equal(log->state.gen, 1);
    assert_int_equal(log->tail, tail);
    assert_int_equal(log->next_index, 3);
    struct seen s;
    struct nvlog_rec end;
    assert_int_equal(walk_all(log, &s, &end), 0);
    assert_int_equal(s.n, 3);

    /* With reset: generation 2, the tail back at the start, no record counts. */
    assert_int_equal(nvlog_commit(log, 1, 1, 3 * 4096, true), 0);
    assert_int_equal(log->state.gen, 2);
    assert_int_equal(log->state.applied_epoch, 1);
    assert_int_equal(log->tail, NVLOG_HEADER_SIZE);
    assert_int_equal(log->next_index, 0);
    assert_int_equal(log->live_from, NVLOG_HEADER_SIZE);
    assert_int_equal(log->live_from_index, 0);
    assert_int_equal(nvlog_used(log), 0);
    assert_int_equal(walk_all(log, &s, &end), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(end.off, NVLOG_HEADER_SIZE);

    /* A new record overwrites the first old one; the old second one, now
     * at the new record's successor position, does not count. */
    struct nvlog_rec n0 = append(log, NVLOG_UNDO, 2, 0, 4096, 'z');
    assert_int_equal(n0.off, recs[0].off);
    assert_int_equal(n0.index, 0);
    assert_int_equal(pm_drain(&log->map), 0);
    assert_int_equal(walk_all(log, &s, &end), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.rec[0].gen, 2);
    assert_int_equal(s.first_byte[0], 'z');
    assert_int_equal(end.off, recs[1].off);
    assert_int_equal(end.index, 1);

    /* The same after attach. */
    nvlog_close(log);
    assert_int_equal(nvlog_attach(log, f->dir.fd, LOG_NAME, getuid(), &why), 0);
    assert_int_equal(log->state.gen, 2);
    assert_int_equal(walk_all(log, &s, &end), 0);
    assert_int_equal(s.n, 1);
}

int main(int argc, char **argv)
{
    expected_kind = unit_select_pmem(argc, argv);
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        T(pm_map_copy_fill_drain),
        T(create_then_attach_same_state),
        T(create_replaces_leftover_tmp),
        T(create_name_too_long),
        T(attach_half_made_log_is_absent),
        T(attach_rejects_bad_logs),
        T(reserve_grows_the_file),
        T(reserve_out_of_space),
        T(alloc_places_records_back_to_back),
        T(seal_writes_the_header),
        T(commit_alternates_slots),
        T(torn_commit_keeps_previous_state),
        T(walk_visits_records_in_order),
        T(walk_stops_at_bad_records),
        T(commit_reset_starts_new_generation),
    };
    /* clang-format on */
#undef T
    return cmocka_run_group_tests_name(
        expected_kind == PM_KIND_FORCED ? "log (forced pmem)" : "log (msync)", tests, NULL, NULL);
}
