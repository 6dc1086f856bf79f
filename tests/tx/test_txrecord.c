/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_txrecord.c - the transaction record (src/log/txrecord.h) under
 * recovery: two files whose epoch 1 changed one block each (undo records,
 * new bytes home), and a record that names both epochs or not. Recovery of
 * each file alone rolls forward from the record and back without it; a
 * torn record, a record of another log of the same file (its instance) or
 * an epoch already committed is no commit; completing is idempotent; stale
 * records are removed only when no log needs them and no process holds
 * them. Argument "forced" or "msync" as in tests/unit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "../unit/unit_util.h"

#include "log/recovery.h"
#include "log/txrecord.h"

#define BLK ((uint64_t)4096)

static const char *const data_name[2] = {"a", "b"};
static const char *const log_name[2] = {"a.log", "b.log"};

struct file {
    int fd;
    struct nvlog_identity id;
    struct nvlog log;
    struct pm_map data;
};

struct fixture {
    struct unit_dir dir;
    struct file f[2];
};

static int setup(void **state)
{
    struct fixture *x = calloc(1, sizeof(*x));
    if (!x || unit_dir_make(&x->dir) < 0) {
        free(x);
        return -1;
    }
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *x = *state;
    for (int i = 0; i < 2; i++) {
        nvlog_close(&x->f[i].log);
        pm_unmap(&x->f[i].data);
        if (x->f[i].fd > 0)
            close(x->f[i].fd);
    }
    int rc = unit_dir_remove(&x->dir);
    free(x);
    return rc;
}

/* File i: two blocks of 'o' committed (epoch 0), then epoch 1 writes 'n'
 * over its first block in place, logged with undo, drained: what a
 * transaction leaves before its record is written. */
static void make_file(struct fixture *x, int i)
{
    struct file *f = &x->f[i];
    char buf[2 * BLK];
    memset(buf, 'o', sizeof(buf));
    assert_int_equal(unit_write_file(x->dir.fd, data_name[i], buf, sizeof(buf)), 0);
    f->fd = openat(x->dir.fd, data_name[i], O_RDWR | O_CLOEXEC);
    assert_true(f->fd >= 0);
    struct stat st;
    assert_int_equal(fstat(f->fd, &st), 0);
    f->id = (struct nvlog_identity){.dev = st.st_dev, .ino = st.st_ino, .btime_sec = 1 + i};
    assert_int_equal(pm_map_file(f->fd, 1, 16 * BLK, &f->data), 0);
    nvlog_init(&f->log);
    assert_int_equal(nvlog_create(&f->log, x->dir.fd, log_name[i], &f->id, getuid(), 2 * BLK), 0);
    assert_int_equal(nvlog_reserve(&f->log, nvlog_record_span(BLK)), 0);
    struct nvlog_rec rec = nvlog_alloc(&f->log, BLK);
    pm_copy(&f->log.map, rec.off + sizeof(struct nvlog_record), f->data.base, BLK);
    assert_int_equal(pm_drain(&f->log.map), 0);
    nvlog_seal(&f->log, rec, NVLOG_UNDO, 1, 0, BLK, nvlog_data_crc(&f->log, rec, BLK));
    assert_int_equal(pm_drain(&f->log.map), 0);
    pm_fill(&f->data, 0, 'n', BLK);
    assert_int_equal(pm_drain(&f->data), 0);
}

/* The record of a transaction that commits epoch 1 of the first n files,
 * each at size 2 blocks. */
static void write_record(struct fixture *x, struct nvtxrec *r, uint32_t n)
{
    struct nvtxrec_entry e[2];
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(nvtxrec_entry_fill(&e[i], &x->f[i].log, log_name[i], 1, 2 * BLK, true), 0);
    nvtxrec_init(r);
    assert_int_equal(nvtxrec_create(r, x->dir.fd), 0);
    assert_int_equal(nvtxrec_write(r, e, n), 0);
}

/* Recovers file i as a new process would and returns its first byte. */
static char recover(struct fixture *x, int i)
{
    struct file *f = &x->f[i];
    nvlog_close(&f->log);
    struct nvlog_recovery out;
    assert_int_equal(nvlog_recover(x->dir.fd, log_name[i], f->fd, &f->id, getuid(), &out), 0);
    assert_int_equal(out.size, 2 * BLK);
    char c = 0;
    assert_int_equal(pread(f->fd, &c, 1, 0), 1);
    return c;
}

static void both_forward_in_either_order(void **state)
{
    struct fixture *x = *state;
    make_file(x, 0);
    make_file(x, 1);
    struct nvtxrec r;
    write_record(x, &r, 2);
    nvtxrec_close(&r, -1); /* the writer is gone, its record stays */
    assert_int_equal(recover(x, 1), 'n');
    /* The other file is recovered later: the record is still there. */
    nvtxrec_prune(x->dir.fd, getuid());
    assert_int_equal(recover(x, 0), 'n');
    /* Now no log needs it: the next record file made there removes it. */
    struct nvtxrec again;
    nvtxrec_init(&again);
    assert_int_equal(nvtxrec_create(&again, x->dir.fd), 0);
    assert_false(unit_exists(x->dir.fd, r.name));
    nvtxrec_close(&again, x->dir.fd);
}

static void no_record_rolls_back(void **state)
{
    struct fixture *x = *state;
    make_file(x, 0);
    make_file(x, 1);
    assert_int_equal(recover(x, 0), 'o');
    assert_int_equal(recover(x, 1), 'o');
}

/* A record that names one file only commits that file alone: what the
 * library must never write (mutant 17). */
static void record_names_its_files_only(void **state)
{
    struct fixture *x = *state;
    make_file(x, 0);
    make_file(x, 1);
    struct nvtxrec r;
    write_record(x, &r, 1);
    assert_int_equal(recover(x, 0), 'n');
    assert_int_equal(recover(x, 1), 'o');
    nvtxrec_close(&r, x->dir.fd);
}

static void torn_record_is_no_commit(void **state)
{
    struct fixture *x = *state;
    make_file(x, 0);
    make_file(x, 1);
    struct nvtxrec r;
    write_record(x, &r, 2);
    r.map.base[sizeof(struct nvtxrec_header) + 100] ^= 1;
    assert_int_equal(pm_persist(&r.map, 0, 4096), 0);
    assert_int_equal(recover(x, 0), 'o');
    assert_int_equal(recover(x, 1), 'o');
    nvtxrec_close(&r, x->dir.fd);
}

static void complete_is_idempotent_and_exact(void **state)
{
    struct fixture *x = *state;
    make_file(x, 0);
    struct nvtxrec r;
    write_record(x, &r, 1);
    struct nvlog *log = &x->f[0].log;
    struct nvtxrec_entry e;
    assert_int_equal(nvtxrec_find(x->dir.fd, &log->state, getuid(), &e), 1);
    assert_int_equal(e.epoch, 1);
    assert_int_equal(nvtxrec_complete(x->dir.fd, log, getuid()), 1);
    assert_int_equal(log->state.committed_epoch, 1);
    assert_int_equal(log->state.committed_size, 2 * BLK);
    /* Committed now: the record asks nothing more of this log. */
    assert_int_equal(nvtxrec_complete(x->dir.fd, log, getuid()), 0);
    /* The record is the writer's while it holds it: never pruned. */
    nvtxrec_prune(x->dir.fd, getuid());
    assert_true(unit_exists(x->dir.fd, r.name));
    nvtxrec_close(&r, x->dir.fd);
}

/* A later log of the same file (made anew, its epochs from 1 again) is
 * another instance: an old record never commits its epoch. */
static void later_log_is_not_named(void **state)
{
    struct fixture *x = *state;
    make_file(x, 0);
    struct nvtxrec r;
    write_record(x, &r, 1);
    struct file *f = &x->f[0];
    nvlog_close(&f->log);
    assert_int_equal(unlinkat(x->dir.fd, log_name[0], 0), 0);
    assert_int_equal(nvlog_create(&f->log, x->dir.fd, log_name[0], &f->id, getuid(), 2 * BLK), 0);
    struct nvtxrec_entry e;
    assert_int_equal(nvtxrec_find(x->dir.fd, &f->log.state, getuid(), &e), 0);
    nvtxrec_close(&r, x->dir.fd);
}

int main(int argc, char **argv)
{
    unit_select_pmem(argc, argv);
    (void)why; /* unit_util.h's, for tests that read refusals */
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(both_forward_in_either_order),     T(no_record_rolls_back),
        T(record_names_its_files_only),      T(torn_record_is_no_commit),
        T(complete_is_idempotent_and_exact), T(later_log_is_not_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
