/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_recovery.c - applying a log to its data file (src/log/recovery.h):
 * recovery after a crash and the checkpoint of a running process.
 *
 * Each test builds a data file and its log by hand through the log API, the
 * way a crashed process would have left them, then recovers and checks the
 * bytes of the data file. Run with the argument "forced" the maps are forced
 * pmem; without, they are ordinary shared mappings synced with msync.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "unit_util.h"

#include "log/recovery.h"

#define BLK       ((uint64_t)4096)
#define DATA_NAME "data"
#define LOG_NAME  "data.log"
#define MAX_BLKS  64

static int expected_kind;

struct fixture {
    struct unit_dir dir;
    struct unit_kept kept;
    int data_fd;
    struct nvlog_identity id;
    struct nvlog log;
    struct pm_map data; /* the data file, MAX_BLKS blocks reserved */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f || unit_dir_make(&f->dir) < 0) {
        free(f);
        return -1;
    }
    f->data_fd = -1;
    nvlog_init(&f->log);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    nvlog_close(&f->log);
    pm_unmap(&f->data);
    if (f->data_fd >= 0)
        close(f->data_fd);
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

/* The byte the data file first holds at off: one letter a block. */
static int orig_byte(uint64_t off)
{
    return 'A' + (int)((off / BLK) % 26);
}

/* Writes the data file, `size` bytes of orig_byte, opens and maps it. */
static void make_data(struct fixture *f, uint64_t size)
{
    char *buf = unit_keep(&f->kept, malloc(size + 1));
    assert_non_null(buf);
    for (uint64_t i = 0; i < size; i++)
        buf[i] = (char)orig_byte(i);
    assert_int_equal(unit_write_file(f->dir.fd, DATA_NAME, buf, size), 0);
    f->data_fd = openat(f->dir.fd, DATA_NAME, O_RDWR | O_CLOEXEC);
    assert_true(f->data_fd >= 0);
    struct stat st;
    assert_int_equal(fstat(f->data_fd, &st), 0);
    f->id = (struct nvlog_identity){
        .dev = st.st_dev, .ino = st.st_ino, .btime_sec = 1700000000, .btime_nsec = 77};
    assert_int_equal(pm_map_file(f->data_fd, 1, MAX_BLKS * BLK, &f->data), 0);
    assert_int_equal(f->data.kind, expected_kind);
}

static struct nvlog *new_log(struct fixture *f, uint64_t committed_size)
{
    assert_int_equal(nvlog_create(&f->log, f->dir.fd, LOG_NAME, &f->id, getuid(), committed_size),
                     0);
    assert_int_equal(f->log.map.kind, expected_kind);
    return &f->log;
}

/* Logs the current bytes of [off, off+len) as an undo record of epoch, the
 * way the core does: data fenced, then the header, then fenced again. */
static struct nvlog_rec log_undo(struct fixture *f, uint64_t epoch, uint64_t off, uint64_t len)
{
    struct nvlog *log = &f->log;
    assert_int_equal(nvlog_reserve(log, nvlog_record_span(len)), 0);
    struct nvlog_rec rec = nvlog_alloc(log, len);
    pm_copy(&log->map, rec.off + sizeof(struct nvlog_record), f->data.base + off, len);
    assert_int_equal(pm_drain(&log->map), 0);
    nvlog_seal(log, rec, NVLOG_UNDO, epoch, off, len, nvlog_data_crc(log, rec, len));
    assert_int_equal(pm_drain(&log->map), 0);
    return rec;
}

/* Logs new contents (len bytes of c) for [off, off+len) as a redo record. */
static struct nvlog_rec log_redo(struct fixture *f, uint64_t epoch, uint64_t off, uint64_t len,
                                 int c)
{
    struct nvlog *log = &f->log;
    assert_int_equal(nvlog_reserve(log, nvlog_record_span(len)), 0);
    struct nvlog_rec rec = nvlog_alloc(log, len);
    pm_fill(&log->map, rec.off + sizeof(struct nvlog_record), c, len);
    nvlog_seal(log, rec, NVLOG_REDO, epoch, off, len, nvlog_data_crc(log, rec, len));
    assert_int_equal(pm_drain(&log->map), 0);
    return rec;
}

/* Writes len bytes of c to the data file in place. */
static void write_home(struct fixture *f, uint64_t off, uint64_t len, int c)
{
    pm_fill(&f->data, off, c, len);
    assert_int_equal(pm_drain(&f->data), 0);
}

/* Recovers as a new process would: the log is closed first. */
static int recover(struct fixture *f, struct nvlog_recovery *out)
{
    nvlog_close(&f->log);
    return nvlog_recover(f->dir.fd, LOG_NAME, f->data_fd, &f->id, getuid(), out);
}

static char *read_data(struct fixture *f, size_t *n)
{
    return slurp(f, DATA_NAME, n);
}

/* Fails, at the caller's line, unless block blk of buf is all c. */
#define assert_block(buf, blk, c)                                                                  \
    do {                                                                                           \
        const char *b_ = (buf) + (blk)*BLK;                                                        \
        if (!unit_all(b_, (c), BLK))                                                               \
            fail_msg("block %llu: expected all 0x%02x, found 0x%02x at its start",                 \
                     (unsigned long long)(blk), (c), (unsigned char)b_[0]);                        \
    } while (0)

#define assert_block_orig(buf, blk) assert_block(buf, blk, orig_byte((blk)*BLK))

/* The data file is its original nblocks blocks, nothing more. */
static void assert_data_orig(struct fixture *f, uint64_t nblocks)
{
    size_t n;
    char *d = read_data(f, &n);
    assert_int_equal(n, nblocks * BLK);
    for (uint64_t b = 0; b < nblocks; b++)
        assert_block_orig(d, b);
}

/* ---- recovery ----------------------------------------------------------- */

static void recover_without_log_is_noop(void **state)
{
    struct fixture *f = *state;
    make_data(f, 3 * BLK);
    struct nvlog_recovery out;
    memset(&out, 0xff, sizeof(out));
    assert_int_equal(recover(f, &out), 0);
    assert_false(out.had_log);
    assert_false(out.stale);
    assert_int_equal(out.undone, 0);
    assert_int_equal(out.redone, 0);
    assert_data_orig(f, 3);
}

static void undo_rolls_back_uncommitted_epoch(void **state)
{
    struct fixture *f = *state;
    make_data(f, 4 * BLK);
    new_log(f, 4 * BLK);
    /* Epoch 1, never committed, changed blocks 1 and 3 in place. */
    log_undo(f, 1, 1 * BLK, BLK);
    log_undo(f, 1, 3 * BLK, BLK);
    write_home(f, 1 * BLK, BLK, 'x');
    write_home(f, 3 * BLK + 100, 200, 'y');

    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    assert_true(out.had_log);
    assert_false(out.stale);
    assert_int_equal(out.undone, 2);
    assert_int_equal(out.redone, 0);
    assert_int_equal(out.size, 4 * BLK);
    assert_false(unit_exists(f->dir.fd, LOG_NAME));
    assert_data_orig(f, 4);
}

static void undo_of_committed_epoch_is_kept(void **state)
{
    struct fixture *f = *state;
    make_data(f, 4 * BLK);
    new_log(f, 4 * BLK);
    /* Epoch 1 changes block 0 and commits (its records stay in the log). */
    log_undo(f, 1, 0, BLK);
    write_home(f, 0, BLK, 'p');
    assert_int_equal(nvlog_commit(&f->log, 1, 1, 4 * BLK, false), 0);
    /* Epoch 2 changes blocks 0 and 2 and crashes. */
    log_undo(f, 2, 0, BLK);
    log_undo(f, 2, 2 * BLK, BLK);
    write_home(f, 0, BLK, 'q');
    write_home(f, 2 * BLK, BLK, 'q');

    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    assert_int_equal(out.undone, 2);
    size_t n;
    char *d = read_data(f, &n);
    assert_block(d, 0, 'p'); /* epoch 1's value, not the original */
    assert_block_orig(d, 1);
    assert_block_orig(d, 2);
    assert_block_orig(d, 3);
}

static void undo_with_growth_truncates_to_committed(void **state)
{
    struct fixture *f = *state;
    make_data(f, 2 * BLK + 100);
    new_log(f, 2 * BLK + 100);
    /* The open epoch rewrote the partial last block (its undo record holds
     * only the bytes the file had), then appended two blocks. */
    log_undo(f, 1, 2 * BLK, 100);
    assert_int_equal(ftruncate(f->data_fd, 5 * BLK), 0);
    write_home(f, 2 * BLK, 3 * BLK, 'n');
    /* A block beyond the size then: an empty undo record. */
    log_undo(f, 1, 4 * BLK, 0);

    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    assert_int_equal(out.size, 2 * BLK + 100);
    assert_int_equal(out.undone, 2);
    size_t n;
    char *d = read_data(f, &n);
    assert_int_equal(n, 2 * BLK + 100);
    assert_block_orig(d, 0);
    assert_block_orig(d, 1);
    assert_true(unit_all(d + 2 * BLK, orig_byte(2 * BLK), 100));
}

static void redo_replayed_in_log_order(void **state)
{
    struct fixture *f = *state;
    make_data(f, 4 * BLK);
    new_log(f, 4 * BLK);
    log_redo(f, 1, 0, BLK, 'r');
    log_redo(f, 1, 1 * BLK, BLK, 's');
    log_redo(f, 2, 0, BLK, 'R'); /* a newer record of block 0 */
    log_redo(f, 2, 2 * BLK, 2 * BLK, 't');
    log_redo(f, 2, 0, BLK, 'T'); /* and a newer one still, same epoch */
    assert_int_equal(nvlog_commit(&f->log, 2, 0, 4 * BLK, false), 0);

    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    assert_int_equal(out.redone, 5);
    assert_int_equal(out.undone, 0);
    assert_false(unit_exists(f->dir.fd, LOG_NAME));
    size_t n;
    char *d = read_data(f, &n);
    assert_int_equal(n, 4 * BLK);
    assert_block(d, 0, 'T');
    assert_block(d, 1, 's');
    assert_block(d, 2, 't');
    assert_block(d, 3, 't');
}

static void redo_uncommitted_or_applied_ignored(void **state)
{
    struct fixture *f = *state;
    make_data(f, 4 * BLK);
    new_log(f, 4 * BLK);
    log_redo(f, 1, 0, BLK, 'a');       /* already home (applied) */
    log_redo(f, 2, 1 * BLK, BLK, 'b'); /* committed, not home */
    log_redo(f, 3, 2 * BLK, BLK, 'c'); /* never committed */
    log_redo(f, 3, 1 * BLK, BLK, 'C'); /* never committed, over a committed one */
    assert_int_equal(nvlog_commit(&f->log, 2, 1, 4 * BLK, false), 0);

    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    assert_int_equal(out.redone, 1);
    size_t n;
    char *d = read_data(f, &n);
    assert_block_orig(d, 0);
    assert_block(d, 1, 'b');
    assert_block_orig(d, 2);
    assert_block_orig(d, 3);
}

static void redo_and_undo_together(void **state)
{
    struct fixture *f = *state;
    make_data(f, 4 * BLK);
    new_log(f, 4 * BLK);
    /* Epoch 1 (redo) committed; epoch 2 (undo) open. */
    log_redo(f, 1, 1 * BLK, BLK, 'r');
    assert_int_equal(nvlog_commit(&f->log, 1, 0, 4 * BLK, false), 0);
    log_undo(f, 2, 3 * BLK, BLK);
    write_home(f, 3 * BLK, BLK, 'u');
    /* Redo records of the open epoch matter neither. */
    log_redo(f, 2, 0, BLK, 'v');

    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    assert_int_equal(out.redone, 1);
    assert_int_equal(out.undone, 1);
    size_t n;
    char *d = read_data(f, &n);
    assert_block_orig(d, 0);
    assert_block(d, 1, 'r');
    assert_block_orig(d, 2);
    assert_block_orig(d, 3);
}

static void size_restored_shrink(void **state)
{
    struct fixture *f = *state;
    make_data(f, 6 * BLK);
    new_log(f, 2 * BLK + 7);
    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    assert_int_equal(out.size, 2 * BLK + 7);
    size_t n;
    char *d = read_data(f, &n);
    assert_int_equal(n, 2 * BLK + 7);
    assert_block_orig(d, 0);
    assert_block_orig(d, 1);
    assert_true(unit_all(d + 2 * BLK, orig_byte(2 * BLK), 7));
}

static void size_restored_grow(void **state)
{
    struct fixture *f = *state;
    make_data(f, BLK + 10);
    new_log(f, 3 * BLK);
    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    assert_int_equal(out.size, 3 * BLK);
    size_t n;
    char *d = read_data(f, &n);
    assert_int_equal(n, 3 * BLK);
    assert_block_orig(d, 0);
    assert_true(unit_all(d + BLK, orig_byte(BLK), 10));
    assert_true(unit_all(d + BLK + 10, 0, 2 * BLK - 10));
}

static void size_restored_to_zero(void **state)
{
    struct fixture *f = *state;
    make_data(f, 3 * BLK);
    new_log(f, 0);
    log_undo(f, 1, 0, BLK);
    write_home(f, 0, BLK, 'w');
    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    assert_int_equal(out.size, 0);
    assert_int_equal(unit_file_size(f->dir.fd, DATA_NAME), 0);
}

/* Builds a log with work of every kind: committed redo not home, an open
 * undo epoch that changed two blocks and grew the file. */
static void build_mixed(struct fixture *f)
{
    make_data(f, 4 * BLK);
    new_log(f, 4 * BLK);
    log_redo(f, 1, 0, BLK, 'r');
    log_redo(f, 1, 0, BLK, 'R');
    log_redo(f, 1, 2 * BLK, BLK, 's');
    assert_int_equal(nvlog_commit(&f->log, 1, 0, 4 * BLK, false), 0);
    log_undo(f, 2, 1 * BLK, BLK);
    log_undo(f, 2, 3 * BLK, BLK);
    write_home(f, 1 * BLK, BLK, 'w');
    write_home(f, 3 * BLK, BLK, 'w');
    assert_int_equal(ftruncate(f->data_fd, 6 * BLK), 0);
}

static void check_mixed(const char *d, size_t n)
{
    assert_int_equal(n, 4 * BLK);
    assert_block(d, 0, 'R');
    assert_block_orig(d, 1);
    assert_block(d, 2, 's');
    assert_block_orig(d, 3);
}

static void recovery_is_idempotent(void **state)
{
    struct fixture *f = *state;
    build_mixed(f);
    nvlog_close(&f->log);
    size_t log_n, data_n;
    char *log_img = slurp(f, LOG_NAME, &log_n);
    char *data_img = slurp(f, DATA_NAME, &data_n);
    assert_non_null(log_img);
    assert_non_null(data_img);

    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    assert_int_equal(out.redone, 3);
    assert_int_equal(out.undone, 2);
    size_t n1;
    char *d1 = read_data(f, &n1);
    check_mixed(d1, n1);

    /* A crash before the log was retired: the same log again, over the
     * recovered file. */
    assert_int_equal(unit_write_file(f->dir.fd, LOG_NAME, log_img, log_n), 0);
    assert_int_equal(recover(f, &out), 0);
    assert_int_equal(out.redone, 3);
    assert_int_equal(out.undone, 2);
    size_t n2;
    char *d2 = read_data(f, &n2);
    assert_int_equal(n2, n1);
    assert_memory_equal(d2, d1, n1);

    /* The same log over a file recovered halfway: the redo records home,
     * the undo records not yet, and the size not yet restored. */
    assert_int_equal(unit_write_file(f->dir.fd, DATA_NAME, data_img, data_n), 0);
    assert_int_equal(pwrite(f->data_fd, d1, BLK, 0), (ssize_t)BLK);
    assert_int_equal(pwrite(f->data_fd, d1 + 2 * BLK, BLK, 2 * BLK), (ssize_t)BLK);
    assert_int_equal(unit_write_file(f->dir.fd, LOG_NAME, log_img, log_n), 0);
    assert_int_equal(recover(f, &out), 0);
    d2 = read_data(f, &n2);
    assert_int_equal(n2, n1);
    assert_memory_equal(d2, d1, n1);

    /* A crash after recovery retired the records but before it removed the
     * log: nothing is applied again, the size still holds. */
    assert_int_equal(unit_write_file(f->dir.fd, LOG_NAME, log_img, log_n), 0);
    struct nvlog log;
    nvlog_init(&log);
    assert_int_equal(nvlog_attach(&log, f->dir.fd, LOG_NAME, getuid(), &why), 0);
    assert_int_equal(
        nvlog_commit(&log, log.state.committed_epoch, log.state.committed_epoch, 4 * BLK, true), 0);
    nvlog_close(&log);
    assert_int_equal(pwrite(f->data_fd, "\0", 1, 6 * BLK - 1), 1); /* grown again */
    assert_int_equal(recover(f, &out), 0);
    assert_true(out.had_log);
    assert_int_equal(out.redone, 0);
    assert_int_equal(out.undone, 0);
    d2 = read_data(f, &n2);
    assert_int_equal(n2, n1);
    assert_memory_equal(d2, d1, n1);

    /* And the original data file with a re-created copy of the log: the
     * same bytes once more. */
    assert_int_equal(unit_write_file(f->dir.fd, DATA_NAME, data_img, data_n), 0);
    assert_int_equal(unit_write_file(f->dir.fd, LOG_NAME, log_img, log_n), 0);
    assert_int_equal(recover(f, &out), 0);
    d2 = read_data(f, &n2);
    assert_int_equal(n2, n1);
    assert_memory_equal(d2, d1, n1);
}

static void stale_identity_removes_log(void **state)
{
    struct fixture *f = *state;
    make_data(f, 4 * BLK);
    /* A log left by an earlier file with the same inode number: same device
     * and inode, another birth time. */
    struct nvlog_identity real = f->id;
    f->id.btime_sec -= 1000;
    new_log(f, 2 * BLK);
    log_redo(f, 1, 0, BLK, 'z');
    log_undo(f, 2, BLK, BLK);
    assert_int_equal(nvlog_commit(&f->log, 1, 0, 2 * BLK, false), 0);
    f->id = real;

    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    assert_true(out.had_log);
    assert_true(out.stale);
    assert_int_equal(out.redone, 0);
    assert_int_equal(out.undone, 0);
    assert_false(unit_exists(f->dir.fd, LOG_NAME));
    assert_data_orig(f, 4);
}

static void both_slots_corrupted_is_ebadmsg(void **state)
{
    struct fixture *f = *state;
    make_data(f, 4 * BLK);
    new_log(f, 2 * BLK);
    log_redo(f, 1, 0, BLK, 'z');
    assert_int_equal(nvlog_commit(&f->log, 1, 0, 2 * BLK, false), 0);
    f->log.map.base[offsetof(struct nvlog_slot, gen)] ^= 0x02;
    f->log.map.base[NVLOG_SLOT_STRIDE + offsetof(struct nvlog_slot, checksum)] ^= 0x80;
    assert_int_equal(pm_persist(&f->log.map, 0, NVLOG_SLOT_STRIDE * 2), 0);
    nvlog_close(&f->log);
    size_t log_n;
    char *log_img = slurp(f, LOG_NAME, &log_n);
    assert_non_null(log_img);

    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), -EBADMSG);
    /* The log is left in place, unchanged; the data is untouched. */
    size_t n;
    char *again = slurp(f, LOG_NAME, &n);
    assert_non_null(again);
    assert_int_equal(n, log_n);
    assert_memory_equal(again, log_img, n);
    char *d = read_data(f, &n);
    assert_int_equal(n, 4 * BLK);
    for (uint64_t b = 0; b < 4; b++)
        assert_block_orig(d, b);

    /* And again: still refused. */
    assert_int_equal(recover(f, &out), -EBADMSG);
    assert_true(unit_exists(f->dir.fd, LOG_NAME));

    /* A log cut short of its superblock is refused the same way. */
    assert_int_equal(unit_write_file(f->dir.fd, LOG_NAME, log_img, 1000), 0);
    assert_int_equal(recover(f, &out), -EBADMSG);
    assert_true(unit_exists(f->dir.fd, LOG_NAME));
}

static void torn_last_record_is_ignored(void **state)
{
    struct fixture *f = *state;
    make_data(f, 4 * BLK);
    new_log(f, 4 * BLK);
    log_undo(f, 1, 0, BLK);
    struct nvlog_rec torn = log_undo(f, 1, BLK, BLK);
    write_home(f, 0, BLK, 'm'); /* only block 0 changed when the crash hit */
    /* The second record's header never fully reached the media. */
    memset(f->log.map.base + torn.off + 32, 0, 32);
    assert_int_equal(pm_persist(&f->log.map, torn.off, 64), 0);

    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    assert_int_equal(out.undone, 1);
    size_t n;
    char *d = read_data(f, &n);
    for (uint64_t b = 0; b < 4; b++)
        assert_block_orig(d, b);
}

/* Committed redo for bytes past the data file's current end, inside the
 * committed size. Recovery grows the file to the committed size, but
 * applies the records before growing it and clips them to the old end, so
 * the committed bytes are lost. A first recovery interrupted after its
 * ftruncate and run again applies them: the result depends on where the
 * crash came, against nvlog_recover's idempotence contract. */
static void redo_past_old_eof_survives_grow(void **state)
{
    struct fixture *f = *state;
    make_data(f, BLK);
    new_log(f, BLK);
    log_redo(f, 1, BLK, BLK, 'R');
    assert_int_equal(nvlog_commit(&f->log, 1, 0, 2 * BLK, false), 0);
    nvlog_close(&f->log);
    size_t log_n;
    char *log_img = slurp(f, LOG_NAME, &log_n);
    assert_non_null(log_img);

    /* A recovery interrupted after it grew the file, then run again. */
    assert_int_equal(ftruncate(f->data_fd, 2 * BLK), 0);
    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    size_t n;
    char *interrupted = read_data(f, &n);
    assert_int_equal(n, 2 * BLK);
    assert_block_orig(interrupted, 0);
    assert_block(interrupted, 1, 'R');

    /* The same log and file, recovered in one go. */
    assert_int_equal(ftruncate(f->data_fd, BLK), 0);
    assert_int_equal(unit_write_file(f->dir.fd, LOG_NAME, log_img, log_n), 0);
    assert_int_equal(recover(f, &out), 0);
    assert_int_equal(out.size, 2 * BLK);
    char *direct = read_data(f, &n);
    assert_int_equal(n, 2 * BLK);
    assert_block_orig(direct, 0);
    assert_block(direct, 1, 'R');
    assert_int_equal(out.redone, 1);
}

/* ---- checkpoint --------------------------------------------------------- */

static void checkpoint_copies_committed_redo_and_resets(void **state)
{
    struct fixture *f = *state;
    make_data(f, 4 * BLK);
    struct nvlog *log = new_log(f, 4 * BLK);
    log_redo(f, 1, 0, BLK, 'r');
    log_redo(f, 1, BLK, BLK, 's');
    log_redo(f, 2, 0, BLK, 'R');
    assert_int_equal(nvlog_commit(log, 2, 0, 4 * BLK, false), 0);
    uint64_t seq = log->state.seq;

    assert_int_equal(nvlog_checkpoint(log, &f->data, 4 * BLK, NULL), 3);
    assert_int_equal(log->state.applied_epoch, 2);
    assert_int_equal(log->state.committed_epoch, 2);
    assert_int_equal(log->state.committed_size, 4 * BLK);
    assert_int_equal(log->state.seq, seq + 1);
    /* Nothing live: a new generation, the log empty. */
    assert_int_equal(log->state.gen, 2);
    assert_int_equal(log->tail, NVLOG_HEADER_SIZE);
    assert_int_equal(nvlog_used(log), 0);

    size_t n;
    char *d = read_data(f, &n);
    assert_block(d, 0, 'R');
    assert_block(d, 1, 's');
    assert_block_orig(d, 2);

    /* Nothing more to do. */
    assert_int_equal(nvlog_checkpoint(log, &f->data, 4 * BLK, NULL), 0);
    assert_int_equal(log->state.seq, seq + 1);

    /* The state is durable: a recovery now applies nothing. */
    write_home(f, 0, BLK, 'h');
    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    assert_int_equal(out.redone, 0);
    d = read_data(f, &n);
    assert_block(d, 0, 'h');
}

/* Says in rec's header that its epoch wrote [lo, hi) of its block. */
static void set_written(struct fixture *f, struct nvlog_rec rec, uint64_t lo, uint64_t hi)
{
    struct nvlog_record r;
    memcpy(&r, f->log.map.base + rec.off, sizeof(r));
    r.written = NVLOG_WRITTEN(lo, hi);
    nvlog_record_seal(&r);
    memcpy(f->log.map.base + rec.off, &r, sizeof(r));
    assert_int_equal(pm_persist(&f->log.map, rec.off, sizeof(r)), 0);
}

/* Block 0 is c but [lo, hi), which is w. */
static void assert_block_but(struct fixture *f, int c, uint64_t lo, uint64_t hi, int w)
{
    size_t n;
    char *d = read_data(f, &n);
    for (uint64_t i = 0; i < BLK; i++)
        if (d[i] != (i >= lo && i < hi ? w : c))
            fail_msg("byte %llu is 0x%02x", (unsigned long long)i, (unsigned char)d[i]);
}

/* A redo record goes home by the bytes its epoch wrote: another program
 * may have written the rest of the block since the record was made. */
static void redo_goes_home_by_written_bytes(void **state)
{
    struct fixture *f = *state;
    make_data(f, 4 * BLK);
    struct nvlog *log = new_log(f, 4 * BLK);
    set_written(f, log_redo(f, 1, 0, BLK, 'r'), 100, 300);
    assert_int_equal(nvlog_commit(log, 1, 0, 4 * BLK, false), 0);
    write_home(f, 0, BLK, 'o');
    assert_int_equal(nvlog_checkpoint(log, &f->data, 4 * BLK, NULL), 1);
    assert_block_but(f, 'o', 100, 300, 'r');

    /* After a crash, recovery replays it the same way. */
    set_written(f, log_redo(f, 2, 0, BLK, 'R'), 0, 10);
    assert_int_equal(nvlog_commit(log, 2, 1, 4 * BLK, false), 0);
    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    assert_int_equal(out.redone, 1);
    size_t n;
    char *d = read_data(f, &n);
    assert_true(unit_all(d, 'R', 10) && d[10] == 'o' && d[100] == 'r');
}

static void checkpoint_keeps_open_epoch_live(void **state)
{
    struct fixture *f = *state;
    make_data(f, 4 * BLK);
    struct nvlog *log = new_log(f, 4 * BLK);
    log_redo(f, 1, 0, BLK, 'r');
    assert_int_equal(nvlog_commit(log, 1, 0, 4 * BLK, false), 0);
    struct nvlog_rec open = log_redo(f, 2, BLK, BLK, 'o');
    log_redo(f, 2, 2 * BLK, BLK, 'p');
    uint64_t tail = log->tail;

    assert_int_equal(nvlog_checkpoint(log, &f->data, 4 * BLK, NULL), 1);
    assert_int_equal(log->state.applied_epoch, 1);
    assert_int_equal(log->state.gen, 1);
    assert_int_equal(log->tail, tail);
    assert_int_equal(log->live_from, open.off);
    assert_int_equal(log->live_from_index, open.index);
    size_t n;
    char *d = read_data(f, &n);
    assert_block(d, 0, 'r');
    assert_block_orig(d, 1);
    assert_block_orig(d, 2);

    /* Epoch 2 commits; the next checkpoint copies it and empties the log. */
    assert_int_equal(nvlog_commit(log, 2, 1, 4 * BLK, false), 0);
    assert_int_equal(nvlog_checkpoint(log, &f->data, 4 * BLK, NULL), 2);
    assert_int_equal(log->state.applied_epoch, 2);
    assert_int_equal(log->state.gen, 2);
    assert_int_equal(log->tail, NVLOG_HEADER_SIZE);
    d = read_data(f, &n);
    assert_block(d, 0, 'r');
    assert_block(d, 1, 'o');
    assert_block(d, 2, 'p');
    assert_block_orig(d, 3);
}

static void checkpoint_then_crash_recovers_open_epoch(void **state)
{
    struct fixture *f = *state;
    make_data(f, 4 * BLK);
    struct nvlog *log = new_log(f, 4 * BLK);
    log_redo(f, 1, 0, BLK, 'r');
    assert_int_equal(nvlog_commit(log, 1, 0, 4 * BLK, false), 0);
    /* Epoch 2 is an undo epoch, open when the checkpoint runs. */
    log_undo(f, 2, 3 * BLK, BLK);
    assert_int_equal(nvlog_checkpoint(log, &f->data, 4 * BLK, NULL), 1);
    write_home(f, 3 * BLK, BLK, 'u');
    write_home(f, 0, BLK, 'v'); /* in place over the checkpointed block */

    /* The checkpointed redo is not applied again; the open undo rolls back. */
    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    assert_int_equal(out.redone, 0);
    assert_int_equal(out.undone, 1);
    size_t n;
    char *d = read_data(f, &n);
    assert_block(d, 0, 'v');
    assert_block_orig(d, 3);
}

static void checkpoint_drops_index_entries(void **state)
{
    struct fixture *f = *state;
    make_data(f, 4 * BLK);
    struct nvlog *log = new_log(f, 4 * BLK);
    struct nvidx ix;
    nvidx_init(&ix);
    struct nvidx_region *r = nvidx_region(&ix, 0, true);
    assert_non_null(r);
    unsigned shift = nvidx_region_shift(r, 1, nvidx_shift_for(BLK));
    assert_int_equal((uint64_t)1 << shift, BLK);
    struct nvlog_rec a = log_redo(f, 1, 0, BLK, 'a');
    nvidx_set_redo(&ix, r, nvidx_entry_at(r, 0), a.off, 1);
    struct nvlog_rec b = log_redo(f, 1, BLK, BLK, 'b');
    nvidx_set_redo(&ix, r, nvidx_entry_at(r, BLK), b.off, 1);
    struct nvlog_rec c = log_redo(f, 2, 0, BLK, 'c'); /* replaces a */
    nvidx_set_redo(&ix, r, nvidx_entry_at(r, 0), c.off, 2);
    assert_int_equal(nvlog_commit(log, 2, 0, 4 * BLK, false), 0);
    struct nvlog_rec d = log_redo(f, 3, 2 * BLK, BLK, 'd'); /* open epoch */
    nvidx_set_redo(&ix, r, nvidx_entry_at(r, 2 * BLK), d.off, 3);
    assert_int_equal(ix.redo_live, 3);

    assert_int_equal(nvlog_checkpoint(log, &f->data, 4 * BLK, &ix), 3);
    /* The blocks that went home read from home; the open one still logs. */
    assert_int_equal(ix.redo_live, 1);
    assert_int_equal(nvidx_entry_at(r, 0)->record, 0);
    assert_int_equal(nvidx_entry_at(r, BLK)->record, 0);
    assert_int_equal(nvidx_entry_at(r, 2 * BLK)->record, d.off);
    size_t n;
    char *data = read_data(f, &n);
    assert_block(data, 0, 'c');
    assert_block(data, 1, 'b');
    assert_block_orig(data, 2);
    nvidx_destroy(&ix);
}

static void checkpoint_bounded_by_data_size(void **state)
{
    struct fixture *f = *state;
    make_data(f, 2 * BLK);
    struct nvlog *log = new_log(f, 2 * BLK);
    log_redo(f, 1, BLK, 2 * BLK, 'b'); /* straddles the end */
    log_redo(f, 1, 3 * BLK, BLK, 'c'); /* wholly beyond */
    assert_int_equal(nvlog_commit(log, 1, 0, 2 * BLK, false), 0);
    assert_int_equal(nvlog_checkpoint(log, &f->data, 2 * BLK, NULL), 1);
    size_t n;
    char *d = read_data(f, &n);
    assert_int_equal(n, 2 * BLK);
    assert_block_orig(d, 0);
    assert_block(d, 1, 'b');
}

/* ---- damaged and hostile logs ---------------------------------------------
 * Each test leaves a log that must be refused: recovery returns the error,
 * says why, applies nothing and leaves the log where it was. */

/* A log with a committed redo record of block 0 (epoch 1) and an undo
 * record of block 2 in the open epoch 2, whose write reached home; closed.
 * Stores the two records' offsets. */
static void build_two_kinds(struct fixture *f, uint64_t *redo_off, uint64_t *undo_off)
{
    make_data(f, 4 * BLK);
    new_log(f, 4 * BLK);
    *redo_off = log_redo(f, 1, 0, BLK, 'r').off;
    assert_int_equal(nvlog_commit(&f->log, 1, 0, 4 * BLK, false), 0);
    *undo_off = log_undo(f, 2, 2 * BLK, BLK).off;
    write_home(f, 2 * BLK, BLK, 'u');
    nvlog_close(&f->log);
}

/* Fails unless the file `name` holds the n bytes at want. */
static void assert_file_is(struct fixture *f, const char *name, const char *want, size_t n)
{
    size_t got_n;
    char *got = unit_read_file(f->dir.fd, name, &got_n);
    assert_non_null(got);
    bool same = got_n == n && memcmp(got, want, n) == 0;
    free(got);
    assert_true(same);
}

/* Recovers, expecting rc, a reason, and neither file changed. */
static void assert_refused(struct fixture *f, int rc)
{
    size_t dn, ln;
    char *data = unit_read_file(f->dir.fd, DATA_NAME, &dn);
    char *log = unit_read_file(f->dir.fd, LOG_NAME, &ln);
    assert_non_null(data);
    assert_non_null(log);
    struct nvlog_recovery out;
    int got = nvlog_recover(f->dir.fd, LOG_NAME, f->data_fd, &f->id, getuid(), &out);
    assert_file_is(f, DATA_NAME, data, dn);
    assert_file_is(f, LOG_NAME, log, ln);
    free(data);
    free(log);
    assert_int_equal(got, rc);
    assert_non_null(out.why);
}

/* XORs a byte of the closed log. */
static void flip_log_byte(struct fixture *f, uint64_t off, int mask)
{
    int fd = openat(f->dir.fd, LOG_NAME, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    unsigned char b;
    assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
    b ^= (unsigned char)mask;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
    close(fd);
}

static void damaged_committed_redo_refused(void **state)
{
    struct fixture *f = *state;
    static const size_t fields[] = {
        offsetof(struct nvlog_record, magic),    offsetof(struct nvlog_record, kind),
        offsetof(struct nvlog_record, gen),      offsetof(struct nvlog_record, index),
        offsetof(struct nvlog_record, epoch),    offsetof(struct nvlog_record, file_offset),
        offsetof(struct nvlog_record, data_len), offsetof(struct nvlog_record, data_checksum),
        offsetof(struct nvlog_record, checksum), sizeof(struct nvlog_record),
        sizeof(struct nvlog_record) + BLK - 1,
    };
    uint64_t redo, undo;
    build_two_kinds(f, &redo, &undo);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        flip_log_byte(f, redo + fields[i], 0x04);
        assert_refused(f, -EBADMSG);
        flip_log_byte(f, redo + fields[i], 0x04);
    }
    /* Put back, the log recovers: block 0 replayed, block 2 rolled back. */
    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    assert_int_equal(out.redone, 1);
    assert_int_equal(out.undone, 1);
    size_t n;
    char *d = read_data(f, &n);
    assert_block(d, 0, 'r');
    assert_block_orig(d, 2);
}

static void damaged_undo_data_refused(void **state)
{
    struct fixture *f = *state;
    uint64_t redo, undo;
    build_two_kinds(f, &redo, &undo);
    flip_log_byte(f, undo + sizeof(struct nvlog_record) + 100, 0x80);
    assert_refused(f, -EBADMSG);
}

/* A header changed and sealed again (a forged record) whose block lies out
 * of bounds: the scan stops short of the committed records. */
static void forged_header_out_of_bounds_refused(void **state)
{
    struct fixture *f = *state;
    uint64_t redo, undo;
    build_two_kinds(f, &redo, &undo);
    int fd = openat(f->dir.fd, LOG_NAME, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    struct nvlog_record good, r;
    assert_int_equal(pread(fd, &good, sizeof(good), (off_t)redo), sizeof(good));
    for (int what = 0; what < 4; what++) {
        r = good;
        if (what == 0)
            r.file_offset = 100; /* not a block's start */
        else if (what == 1)
            r.file_offset = UINT64_MAX - 4095; /* would wrap */
        else if (what == 2)
            r.data_len = (uint64_t)1 << 40; /* past the log */
        else
            r.kind = 9;
        nvlog_record_seal(&r);
        assert_int_equal(pwrite(fd, &r, sizeof(r), (off_t)redo), sizeof(r));
        assert_refused(f, -EBADMSG);
    }
    close(fd);
}

static void truncated_log_refused(void **state)
{
    struct fixture *f = *state;
    uint64_t redo, undo;
    build_two_kinds(f, &redo, &undo);
    /* Cut inside the committed record's data. */
    int fd = openat(f->dir.fd, LOG_NAME, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)(redo + 1000)), 0);
    close(fd);
    assert_refused(f, -EBADMSG);
}

static void symlinked_log_refused(void **state)
{
    struct fixture *f = *state;
    uint64_t redo, undo;
    build_two_kinds(f, &redo, &undo);
    assert_int_equal(renameat(f->dir.fd, LOG_NAME, f->dir.fd, "elsewhere"), 0);
    assert_int_equal(symlinkat("elsewhere", f->dir.fd, LOG_NAME), 0);
    size_t n;
    char *target = slurp(f, "elsewhere", &n);
    assert_refused(f, -EACCES);
    assert_file_is(f, "elsewhere", target, n);
}

static void hard_linked_log_refused(void **state)
{
    struct fixture *f = *state;
    uint64_t redo, undo;
    build_two_kinds(f, &redo, &undo);
    assert_int_equal(linkat(f->dir.fd, LOG_NAME, f->dir.fd, "second", 0), 0);
    assert_refused(f, -EACCES);
}

static void writable_by_others_refused(void **state)
{
    struct fixture *f = *state;
    uint64_t redo, undo;
    build_two_kinds(f, &redo, &undo);
    static const mode_t modes[] = {0602, 0620, 0666};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        assert_int_equal(fchmodat(f->dir.fd, LOG_NAME, modes[i], 0), 0);
        assert_refused(f, -EACCES);
    }
    /* Readable by others is no reason to refuse it. */
    assert_int_equal(fchmodat(f->dir.fd, LOG_NAME, 0644, 0), 0);
    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    assert_int_equal(out.redone, 1);
}

static void foreign_owner_refused(void **state)
{
    struct fixture *f = *state;
    if (geteuid() != 0)
        skip(); /* only root can give a file away */
    uint64_t redo, undo;
    build_two_kinds(f, &redo, &undo);
    assert_int_equal(fchownat(f->dir.fd, LOG_NAME, 65534, 65534, 0), 0);
    assert_refused(f, -EACCES);
    /* A log owned by root is trusted for another user's file. */
    assert_int_equal(fchownat(f->dir.fd, LOG_NAME, 0, 0, 0), 0);
    struct nvlog_recovery out;
    assert_int_equal(nvlog_recover(f->dir.fd, LOG_NAME, f->data_fd, &f->id, 65534, &out), 0);
    assert_int_equal(out.redone, 1);
}

/* The log of another file moved under this file's name. */
static void swapped_log_refused(void **state)
{
    struct fixture *f = *state;
    uint64_t redo, undo;
    build_two_kinds(f, &redo, &undo);
    f->id.ino ^= 0x100; /* this file is another inode than the log names */
    assert_refused(f, -EBADMSG);
}

/* ---- inspection: recovery's checks, nothing changed ---------------------- */

/* Inspects the closed log, expecting rc, and that neither file changed. */
static void inspect_unchanged(struct fixture *f, int rc, struct nvlog_recovery *out,
                              struct nvlog_slot *slot)
{
    size_t dn, ln;
    char *data = unit_read_file(f->dir.fd, DATA_NAME, &dn);
    char *log = unit_read_file(f->dir.fd, LOG_NAME, &ln);
    assert_non_null(data);
    assert_non_null(log);
    struct stat st;
    assert_int_equal(fstat(f->data_fd, &st), 0);
    int got = nvlog_inspect(f->dir.fd, LOG_NAME, &st, &f->id, getuid(), out, slot);
    assert_file_is(f, DATA_NAME, data, dn);
    assert_file_is(f, LOG_NAME, log, ln);
    free(data);
    free(log);
    assert_int_equal(got, rc);
}

static void inspect_counts_what_recovery_applies(void **state)
{
    struct fixture *f = *state;
    uint64_t redo, undo;
    build_two_kinds(f, &redo, &undo);
    struct nvlog_recovery out;
    struct nvlog_slot slot;
    inspect_unchanged(f, 0, &out, &slot);
    assert_true(out.had_log);
    assert_false(out.stale);
    assert_int_equal(out.undone, 1);
    assert_int_equal(out.redone, 1);
    assert_int_equal(out.logged[0], 1);
    assert_int_equal(out.logged[1], 1);
    assert_int_equal(out.size, 4 * BLK);
    assert_int_equal(slot.committed_epoch, 1);
    assert_int_equal(slot.committed_size, 4 * BLK);
    /* The inspected log still recovers, to the same counts. */
    assert_int_equal(recover(f, &out), 0);
    assert_int_equal(out.undone, 1);
    assert_int_equal(out.redone, 1);
    struct stat st;
    assert_int_equal(fstat(f->data_fd, &st), 0);
    assert_int_equal(nvlog_inspect(f->dir.fd, LOG_NAME, &st, &f->id, getuid(), &out, &slot), 0);
    assert_false(out.had_log);
}

static void inspect_refuses_what_recovery_refuses(void **state)
{
    struct fixture *f = *state;
    uint64_t redo, undo;
    build_two_kinds(f, &redo, &undo);
    flip_log_byte(f, undo + sizeof(struct nvlog_record) + 100, 0x80);
    struct nvlog_recovery out;
    struct nvlog_slot slot;
    inspect_unchanged(f, -EBADMSG, &out, &slot);
    assert_non_null(out.why);
    assert_int_equal(out.bad_offset, undo);
}

static void inspect_tells_a_stale_log_and_keeps_it(void **state)
{
    struct fixture *f = *state;
    uint64_t redo, undo;
    build_two_kinds(f, &redo, &undo);
    f->id.btime_nsec++; /* a later file with the same inode number */
    struct nvlog_recovery out;
    struct nvlog_slot slot;
    inspect_unchanged(f, 0, &out, &slot);
    assert_true(out.stale);
    assert_int_equal(out.undone + out.redone, 0);
}

/* ---- a file changed behind the log's back -------------------------------- */

/* The entries of the test directory whose names start with prefix. */
static int count_named(struct fixture *f, const char *prefix)
{
    DIR *d = opendir(f->dir.path);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* A log whose watch saw the data file at its committed size. */
static void watch_then_grow(struct fixture *f)
{
    make_data(f, 4 * BLK);
    new_log(f, 4 * BLK);
    assert_true(nvlog_watch_record(&f->log, f->data_fd, NVLOG_MTIME_NEVER, NULL) >= 0);
    if (nvlog_watch_suspended(&f->log))
        skip(); /* no boot identifier: the watch is off */
}

/* The other program grows the file by a block of 'z', then the log is
 * recovered: out says how. */
static void grow_behind_and_recover(struct fixture *f, struct nvlog_recovery *out)
{
    assert_int_equal(ftruncate(f->data_fd, 5 * BLK), 0);
    write_home(f, 4 * BLK, BLK, 'z');
    assert_int_equal(recover(f, out), 0);
}

static void changed_file_with_records_keeps_log_aside(void **state)
{
    struct fixture *f = *state;
    watch_then_grow(f);
    log_undo(f, 1, 0, BLK);
    struct nvlog_recovery out;
    grow_behind_and_recover(f, &out);
    assert_true(out.changed);
    assert_false(out.emptied);
    assert_non_null(out.why);
    assert_int_equal(count_named(f, LOG_NAME ".aside-"), 1);
    assert_false(unit_exists(f->dir.fd, LOG_NAME));
    size_t n;
    char *d = read_data(f, &n);
    assert_int_equal(n, 5 * BLK);
    assert_block(d, 4, 'z');
}

static void changed_file_with_recordless_log_removes_it(void **state)
{
    struct fixture *f = *state;
    watch_then_grow(f);
    struct nvlog_recovery out;
    grow_behind_and_recover(f, &out);
    assert_false(out.changed);
    assert_true(out.emptied);
    assert_int_equal(count_named(f, LOG_NAME), 0);
    size_t n;
    char *d = read_data(f, &n);
    assert_int_equal(n, 5 * BLK);
    for (uint64_t b = 0; b < 4; b++)
        assert_block_orig(d, b);
    assert_block(d, 4, 'z');
}

/* The committed size differs from what the watch saw (a truncation the
 * library committed but had not made yet): the log is kept aside. */
static void changed_file_with_other_committed_size_keeps_log_aside(void **state)
{
    struct fixture *f = *state;
    watch_then_grow(f);
    assert_int_equal(nvlog_commit(&f->log, 1, 1, 2 * BLK, true), 0);
    struct nvlog_recovery out;
    grow_behind_and_recover(f, &out);
    assert_true(out.changed);
    assert_false(out.emptied);
    assert_int_equal(count_named(f, LOG_NAME ".aside-"), 1);
    assert_int_equal(unit_file_size(f->dir.fd, DATA_NAME), 5 * BLK);
}

/* A size the caller knows is recorded as it is, without a look at the
 * file: a later growth by the library recorded so is no change behind the
 * log's back, and one by another program after it is. */
static void known_size_is_recorded_as_given(void **state)
{
    struct fixture *f = *state;
    watch_then_grow(f);
    uint64_t grown = 5 * BLK;
    assert_int_equal(ftruncate(f->data_fd, (off_t)grown), 0);
    assert_int_equal(nvlog_watch_record(&f->log, f->data_fd, NVLOG_MTIME_NOT_YET, &grown), 0);
    log_undo(f, 1, 0, BLK);
    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    assert_false(out.changed);
    assert_int_equal(unit_file_size(f->dir.fd, DATA_NAME), 4 * BLK);

    watch_then_grow(f);
    grown = 4 * BLK; /* as the library left it; then another program grows it */
    assert_int_equal(nvlog_watch_record(&f->log, f->data_fd, NVLOG_MTIME_NOT_YET, &grown), 0);
    log_undo(f, 1, 0, BLK);
    grow_behind_and_recover(f, &out);
    assert_true(out.changed);
    assert_int_equal(unit_file_size(f->dir.fd, DATA_NAME), 5 * BLK);
}

/* A log whose watch vouches for the file's mtime; skipped where it cannot
 * (no boot identifier, or a file system whose mtime stores may move). */
static void watch_mtime(struct fixture *f)
{
    make_data(f, 4 * BLK);
    new_log(f, 4 * BLK);
    if (nvlog_watch_record(&f->log, f->data_fd, NVLOG_MTIME_STEADY, NULL) <= 0)
        skip();
}

/* A record for the size only while the library's stores may still move
 * the mtime leaves the next record free to vouch for it again; one for
 * the size only for good does not. */
static void size_only_for_now_is_not_for_good(void **state)
{
    struct fixture *f = *state;
    watch_mtime(f);
    assert_false(nvlog_watch_improvable(&f->log));
    nvlog_watch_suspend(&f->log, false);
    assert_true(nvlog_watch_suspended(&f->log));
    assert_true(nvlog_watch_improvable(&f->log));
    assert_int_equal(nvlog_watch_record(&f->log, f->data_fd, NVLOG_MTIME_NOT_YET, NULL), 0);
    assert_false(nvlog_watch_suspended(&f->log));
    assert_true(nvlog_watch_improvable(&f->log));
    assert_true(nvlog_watch_mtime_kept(&f->log));
    assert_int_equal(nvlog_watch_record(&f->log, f->data_fd, NVLOG_MTIME_STEADY, NULL), 1);
    assert_false(nvlog_watch_improvable(&f->log));
    assert_int_equal(nvlog_watch_record(&f->log, f->data_fd, NVLOG_MTIME_NEVER, NULL), 0);
    assert_false(nvlog_watch_mtime_kept(&f->log));
    assert_false(nvlog_watch_improvable(&f->log));
    assert_int_equal(nvlog_watch_record(&f->log, f->data_fd, NVLOG_MTIME_STEADY, NULL), 0);
}

/* Another program overwrites a block, keeping the size: where the watch
 * vouches for the mtime, the log is kept aside and the block stays. */
static void same_size_write_keeps_log_aside(void **state)
{
    struct fixture *f = *state;
    watch_mtime(f);
    log_undo(f, 1, 0, BLK);
    char block[BLK];
    memset(block, 'p', sizeof(block));
    assert_int_equal(pwrite(f->data_fd, block, BLK, 0), BLK);
    struct nvlog_recovery out;
    assert_int_equal(recover(f, &out), 0);
    assert_true(out.changed);
    assert_int_equal(count_named(f, LOG_NAME ".aside-"), 1);
    size_t n;
    char *d = read_data(f, &n);
    assert_int_equal(n, 4 * BLK);
    assert_block(d, 0, 'p');
}

int main(int argc, char **argv)
{
    expected_kind = unit_select_pmem(argc, argv);
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        T(recover_without_log_is_noop),
        T(undo_rolls_back_uncommitted_epoch),
        T(undo_of_committed_epoch_is_kept),
        T(undo_with_growth_truncates_to_committed),
        T(redo_replayed_in_log_order),
        T(redo_uncommitted_or_applied_ignored),
        T(redo_and_undo_together),
        T(size_restored_shrink),
        T(size_restored_grow),
        T(size_restored_to_zero),
        T(recovery_is_idempotent),
        T(stale_identity_removes_log),
        T(both_slots_corrupted_is_ebadmsg),
        T(torn_last_record_is_ignored),
        T(redo_past_old_eof_survives_grow),
        T(checkpoint_copies_committed_redo_and_resets),
        T(redo_goes_home_by_written_bytes),
        T(checkpoint_keeps_open_epoch_live),
        T(checkpoint_then_crash_recovers_open_epoch),
        T(checkpoint_drops_index_entries),
        T(checkpoint_bounded_by_data_size),
        T(damaged_committed_redo_refused),
        T(damaged_undo_data_refused),
        T(forged_header_out_of_bounds_refused),
        T(truncated_log_refused),
        T(symlinked_log_refused),
        T(hard_linked_log_refused),
        T(writable_by_others_refused),
        T(foreign_owner_refused),
        T(swapped_log_refused),
        T(inspect_counts_what_recovery_applies),
        T(inspect_refuses_what_recovery_refuses),
        T(inspect_tells_a_stale_log_and_keeps_it),
        T(changed_file_with_records_keeps_log_aside),
        T(changed_file_with_recordless_log_removes_it),
        T(changed_file_with_other_committed_size_keeps_log_aside),
        T(known_size_is_recorded_as_given),
        T(size_only_for_now_is_not_for_good),
        T(same_size_write_keeps_log_aside),
    };
    /* clang-format on */
#undef T
    return cmocka_run_group_tests_name(expected_kind == PM_KIND_FORCED ? "recovery (forced pmem)"
                                                                       : "recovery (msync)",
                                       tests, NULL, NULL);
}
