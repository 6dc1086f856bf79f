/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * workloads.c - the workloads of the crash model. Each is a seeded,
 * deterministic sequence of POSIX calls on files of the managed root, run
 * the same in epoch mode and in sync mode (descriptors opened with O_SYNC or
 * O_DSYNC). Besides writes and durability points they read back (which also
 * steers the hybrid policy toward undo logging for the next epoch), and call
 * lseek(SEEK_DATA), which copies committed redo blocks home as the library's
 * checkpoint thread would.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checker.h"

#define KiB 1024ull

void fill_random(uint8_t *buf, size_t n, uint64_t seed)
{
    uint64_t s = seed;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = mix64(s++);
        memcpy(buf + i, &w, 8);
    }
    if (i < n) {
        uint64_t w = mix64(s);
        memcpy(buf + i, &w, n - i);
    }
}

struct wctx {
    struct driver *d;
    struct rng r;
    uint8_t *buf;
};

static const uint8_t *data(struct wctx *w, uint64_t len)
{
    fill_random(w->buf, (size_t)len, rng_next(&w->r));
    return w->buf;
}

static uint64_t chance(struct wctx *w, uint64_t percent)
{
    return rng_below(&w->r, 100) < percent;
}

/* A few reads through the library, each checked against the oracle. */
static void read_burst(struct wctx *w, int slot, int file, uint64_t n, uint64_t maxlen)
{
    for (uint64_t i = 0; i < n; i++) {
        uint64_t size = d_size(w->d, file);
        uint64_t off = rng_below(&w->r, size + 1);
        d_read_check(w->d, slot, off, rng_range(&w->r, 1, maxlen), 0);
    }
}

/* Closes the slot and opens the file again, in the slot's process. */
static int reopen(struct wctx *w, int slot, int file, int flags)
{
    int proc = w->d->slots[slot].proc;
    d_close(w->d, slot, 0);
    return d_open_in(w->d, file, flags, proc);
}

/* 4 KiB appends, fsync after every 8. */
static void w_append(struct wctx *w, int scale)
{
    int s = d_open(w->d, 0, O_APPEND, 0);
    int n = 48 * scale;
    for (int i = 0; i < n; i++) {
        d_write(w->d, s, data(w, 4096), 4096, 0);
        if ((i + 1) % 8 == 0)
            d_fsync(w->d, s, false, 0);
        if (chance(w, 15))
            read_burst(w, s, 0, 3, 4096);
        if (chance(w, 8))
            d_checkpoint(w->d, s, 0);
        if (i == n / 2)
            s = reopen(w, s, 0, i % 2 ? O_APPEND : 0);
    }
    d_close(w->d, s, 0);
}

/* Random block-aligned overwrites of a 256 KiB file. */
static void w_overwrite(struct wctx *w, int scale)
{
    int s = d_open(w->d, 0, 0, 0);
    d_pwrite(w->d, s, 0, data(w, 256 * KiB), 256 * KiB, 0);
    d_fsync(w->d, s, false, 0);
    for (int i = 0; i < 60 * scale; i++) {
        uint64_t r = rng_below(&w->r, 100);
        if (r < 55) {
            uint64_t len = 4096 * rng_range(&w->r, 1, 4);
            d_pwrite(w->d, s, 4096 * rng_below(&w->r, 64), data(w, len), len, 0);
        } else if (r < 68) {
            d_fsync(w->d, s, false, 0);
        } else if (r < 80) {
            read_burst(w, s, 0, 5, 8192);
        } else if (r < 88) {
            d_checkpoint(w->d, s, 0);
        } else if (r < 93) {
            s = reopen(w, s, 0, 0);
        } else {
            d_fsync(w->d, s, true, 0);
        }
    }
    d_close(w->d, s, 0);
}

/* Writes of 1-300 bytes across line (64 B) and block (4 KiB) edges. */
static void w_unaligned(struct wctx *w, int scale)
{
    int s = d_open(w->d, 0, 0, 0);
    d_pwrite(w->d, s, 0, data(w, 64 * KiB), 64 * KiB, 0);
    d_fsync(w->d, s, false, 0);
    for (int i = 0; i < 90 * scale; i++) {
        uint64_t r = rng_below(&w->r, 100);
        if (r < 60) {
            uint64_t unit = chance(w, 50) ? 64 : 4096;
            int64_t edge = (int64_t)(unit * rng_below(&w->r, 80 * KiB / unit + 1));
            int64_t off = edge + (int64_t)rng_below(&w->r, 601) - 300;
            if (off < 0)
                off = 0;
            uint64_t len = rng_range(&w->r, 1, 300);
            d_pwrite(w->d, s, (uint64_t)off, data(w, len), len, 0);
        } else if (r < 72) {
            d_fsync(w->d, s, false, 0);
        } else if (r < 82) {
            read_burst(w, s, 0, 5, 300);
        } else if (r < 88) {
            d_checkpoint(w->d, s, 0);
        } else if (r < 92) {
            s = reopen(w, s, 0, 0);
        } else {
            d_fsync(w->d, s, true, 0);
        }
    }
    d_close(w->d, s, 0);
}

/* Writes of 64-256 KiB spanning many blocks. */
static void w_multiblock(struct wctx *w, int scale)
{
    int s = d_open(w->d, 0, 0, 0);
    int since_open = 0;
    for (int i = 0; i < 22 * scale; i++) {
        uint64_t r = rng_below(&w->r, 100);
        if (r < 55) {
            uint64_t len = rng_range(&w->r, 64 * KiB, 256 * KiB);
            uint64_t off = rng_below(&w->r, 1024 * KiB);
            if (chance(w, 50)) {
                off &= ~(uint64_t)4095;
                len = (len + 4095) & ~(uint64_t)4095;
            }
            d_pwrite(w->d, s, off, data(w, len), len, 0);
            since_open++;
        } else if (r < 75) {
            d_fsync(w->d, s, false, 0);
        } else if (r < 85) {
            read_burst(w, s, 0, 2, 128 * KiB);
        } else if (r < 93) {
            d_checkpoint(w->d, s, 0);
        }
        if (since_open >= 6 || r >= 93) { /* keeps the log (and the images) small */
            s = reopen(w, s, 0, 0);
            since_open = 0;
        }
    }
    d_close(w->d, s, 0);
}

/* Writes, ftruncate both ways, fsync, close and reopen (sometimes O_TRUNC). */
static void w_truncate(struct wctx *w, int scale)
{
    int s = d_open(w->d, 0, 0, 0);
    for (int i = 0; i < 60 * scale; i++) {
        uint64_t size = d_size(w->d, 0);
        uint64_t r = rng_below(&w->r, 100);
        if (r < 35) {
            uint64_t len = rng_range(&w->r, 1, 8 * KiB);
            d_pwrite(w->d, s, rng_below(&w->r, size + 8 * KiB), data(w, len), len, 0);
        } else if (r < 55) {
            uint64_t to =
                chance(w, 50) ? rng_below(&w->r, size + 1) : size + rng_range(&w->r, 1, 64 * KiB);
            if (to > 160 * KiB)
                to = rng_below(&w->r, 160 * KiB);
            d_ftruncate(w->d, s, to, 0);
        } else if (r < 70) {
            d_fsync(w->d, s, false, 0);
        } else if (r < 80) {
            s = reopen(w, s, 0, chance(w, 30) ? O_TRUNC : 0);
        } else if (r < 90) {
            read_burst(w, s, 0, 3, 8 * KiB);
        } else {
            d_checkpoint(w->d, s, 0);
        }
    }
    d_close(w->d, s, 0);
}

/* Two files written in turn: a durability point of one says nothing of the
 * other. */
static void w_twofiles(struct wctx *w, int scale)
{
    int s[2] = {d_open(w->d, 0, 0, 0), d_open(w->d, 1, 0, 0)};
    for (int i = 0; i < 70 * scale; i++) {
        int f = (int)rng_below(&w->r, 2);
        uint64_t size = d_size(w->d, f);
        uint64_t r = rng_below(&w->r, 100);
        if (r < 45) {
            uint64_t len = rng_range(&w->r, 1, 16 * KiB);
            d_pwrite(w->d, s[f], rng_below(&w->r, size + 4 * KiB), data(w, len), len, 0);
        } else if (r < 60) {
            d_fsync(w->d, s[f], false, 0);
        } else if (r < 67) {
            d_ftruncate(w->d, s[f], rng_below(&w->r, size + 16 * KiB), 0);
        } else if (r < 77) {
            read_burst(w, s[f], f, 3, 16 * KiB);
        } else if (r < 84) {
            d_checkpoint(w->d, s[f], 0);
        } else if (r < 92) {
            s[f] = reopen(w, s[f], f, 0);
        } else {
            d_fsync(w->d, s[f], true, 0);
        }
    }
    d_close(w->d, s[0], 0);
    d_close(w->d, s[1], 0);
}

/* Transactions over two files: writes and truncations of both, reads, and
 * fsyncs that a transaction defers, then a commit (or, one time in five,
 * an abort). Each file is made durable before a transaction begins, so the
 * state an abort returns to is its last durability point. */
static void w_tx(struct wctx *w, int scale)
{
    int s[2] = {d_open(w->d, 0, 0, 0), d_open(w->d, 1, 0, 0)};
    for (int f = 0; f < 2; f++) {
        d_pwrite(w->d, s[f], 0, data(w, 32 * KiB), 32 * KiB, 0);
        d_fsync(w->d, s[f], false, 0);
    }
    for (int t = 0; t < 14 * scale; t++) {
        d_tx_begin(w->d);
        uint64_t ops = rng_range(&w->r, 2, 7);
        for (uint64_t i = 0; i < ops; i++) {
            int f = i < 2 ? (int)i : (int)rng_below(&w->r, 2);
            uint64_t size = d_size(w->d, f);
            uint64_t r = rng_below(&w->r, 100);
            if (r < 65) {
                uint64_t len = rng_range(&w->r, 1, 12 * KiB);
                d_pwrite(w->d, s[f], rng_below(&w->r, size + 4 * KiB), data(w, len), len, 0);
            } else if (r < 80) {
                d_ftruncate(w->d, s[f], rng_below(&w->r, size + 12 * KiB), 0);
            } else if (r < 90) {
                read_burst(w, s[f], f, 2, 8 * KiB);
            } else {
                d_fsync(w->d, s[f], r & 1, 0);
            }
        }
        if (chance(w, 20))
            d_tx_abort(w->d);
        else
            d_tx_commit(w->d);
        int f = (int)rng_below(&w->r, 2);
        if (chance(w, 30)) { /* a write outside, committed on its own */
            uint64_t len = rng_range(&w->r, 1, 8 * KiB);
            d_pwrite(w->d, s[f], rng_below(&w->r, d_size(w->d, f) + 1), data(w, len), len, 0);
        }
        if (chance(w, 20))
            d_checkpoint(w->d, s[f], 0);
        for (int k = 0; k < 2; k++)
            d_fsync(w->d, s[k], false, 0);
    }
    d_close(w->d, s[0], 0);
    d_close(w->d, s[1], 0);
}

/* ---- two threads writing self-describing records ------------------------ */

#define RECORD_MAGIC 0x5254564eu /* "NVTR" */

/* A record: magic, thread, sequence, length, then bytes that depend on all
 * three, so any record in a file says who wrote it and whether it is whole. */
struct record_head {
    uint32_t magic, thread, seq, len;
};

static void make_record(uint8_t *buf, uint32_t thread, uint32_t seq, uint32_t len)
{
    struct record_head h = {RECORD_MAGIC, thread, seq, len};
    memcpy(buf, &h, sizeof(h));
    fill_random(buf + sizeof(h), len - sizeof(h), hash2(thread, seq));
}

bool workload_has_records(int w)
{
    return w == 6 || w == 7;
}

/* The records of a file around offset `at`: who wrote each that covers it,
 * and whether it is whole. */
void describe_records(const uint8_t *p, size_t n, size_t at, char *out, size_t outn)
{
    size_t used = 0;
    out[0] = '\0';
    uint8_t *want = malloc(2048);
    size_t from = at > 2048 ? at - 2048 : 0;
    for (size_t o = from; o <= at && o + sizeof(struct record_head) <= n && want; o++) {
        struct record_head h;
        memcpy(&h, p + o, sizeof(h));
        if (h.magic != RECORD_MAGIC || h.thread > 1 || h.len < 64 || h.len > 2048 ||
            o + h.len <= at)
            continue;
        make_record(want, h.thread, h.seq, h.len);
        size_t k = 0, len = o + h.len <= n ? h.len : n - o;
        while (k < len && p[o + k] == want[k])
            k++;
        int w = snprintf(out + used, outn - used,
                         "      record of thread %u, op %u, %u bytes at %zu: %s", h.thread, h.seq,
                         h.len, o, k == h.len ? "whole\n" : "torn at byte ");
        if (w > 0)
            used += (size_t)w < outn - used ? (size_t)w : outn - used - 1;
        if (k != h.len && used < outn) {
            w = snprintf(out + used, outn - used, "%zu\n", o + k);
            if (w > 0)
                used += (size_t)w < outn - used ? (size_t)w : outn - used - 1;
        }
    }
    free(want);
}

struct tctx {
    struct driver *d;
    int thread, scale, shared_slot;
    bool overlap;
    uint64_t seed;
};

static void *thread_main(void *arg)
{
    struct tctx *t = arg;
    struct driver *d = t->d;
    struct rng r = {hash2(t->seed, (uint64_t)t->thread)};
    uint8_t *buf = malloc(2048);
    int ops = 30 * t->scale;
    d_baton_take(d, t->thread);
    int s = t->overlap ? t->shared_slot : d_open(d, 0, 0, t->thread);
    d_baton_pass(d, t->thread, false);
    for (int i = 0; i < ops; i++) {
        d_baton_take(d, t->thread);
        uint64_t x = rng_below(&r, 100);
        if (x < 60) {
            uint32_t len = (uint32_t)rng_range(&r, 64, 2048);
            uint64_t off = t->overlap ? rng_below(&r, 96 * KiB)
                                      : (uint64_t)t->thread * 128 * KiB +
                                            2048 * rng_below(&r, 128 * KiB / 2048);
            make_record(buf, (uint32_t)t->thread, (uint32_t)i, len);
            d_pwrite(d, s, off, buf, len, t->thread);
        } else if (x < 78) {
            d_fsync(d, s, x & 1, t->thread);
        } else if (x < 88) {
            uint64_t size = d_size(d, 0);
            d_read_check(d, s, rng_below(&r, size + 1), rng_range(&r, 1, 4096), t->thread);
        } else {
            d_checkpoint(d, s, t->thread);
        }
        d_baton_pass(d, t->thread, false);
    }
    d_baton_take(d, t->thread);
    if (!t->overlap)
        d_close(d, s, t->thread);
    d_baton_pass(d, t->thread, true);
    free(buf);
    return NULL;
}

static void w_threads(struct wctx *w, int scale, bool overlap)
{
    struct driver *d = w->d;
    int shared = overlap ? d_open(d, 0, 0, 0) : -1;
    if (!overlap) { /* each thread writes its own half of a file that exists */
        int s = d_open(d, 0, 0, 0);
        d_ftruncate(d, s, 256 * KiB, 0);
        d_fsync(d, s, false, 0);
        d_close(d, s, 0);
    }
    d->threaded = true;
    d->sched.s = rng_next(&w->r);
    d->nthreads_live = 3;
    d->turn = (int)rng_below(&d->sched, 2);
    struct tctx t[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        t[i] = (struct tctx){d, i, scale, shared, overlap, rng_next(&w->r)};
        if (d_spawn(d, &th[i], thread_main, &t[i]) != 0) {
            fprintf(stderr, "crash model: cannot start a thread\n");
            driver_stop(d, EXIT_ERROR);
        }
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    d->threaded = false;
    if (overlap)
        d_close(d, shared, 0);
}

/* Small files made anew, as a journal is: two files in turn emptied
 * (O_TRUNC) or kept, a few small writes, sometimes an fsync between them,
 * then a close. Each close lets the file's log go and the next first
 * write makes one, so crashes fall before and after the first durability
 * point of a file with nothing committed, with logs made from the spare
 * of a file closed before. */
static void w_smallfiles(struct wctx *w, int scale)
{
    for (int i = 0; i < 24 * scale; i++) {
        int f = i % 2;
        int s = d_open(w->d, f, chance(w, 70) ? O_TRUNC : 0, 0);
        int writes = (int)rng_range(&w->r, 1, 4);
        for (int k = 0; k < writes; k++) {
            uint64_t len = rng_range(&w->r, 1, 300);
            d_write(w->d, s, data(w, len), len, 0);
            if (chance(w, 40))
                d_fsync(w->d, s, false, 0);
        }
        if (chance(w, 20))
            read_burst(w, s, f, 2, 300);
        d_close(w->d, s, 0);
    }
}

/* Two processes serve one file through the library (the README's
 * "Processes sharing a file"): the driver and a second process forked
 * before either opens it, taking turns in a seeded order, one call at a
 * time. Writes, appends, truncations, fsyncs and reads of either process;
 * now and then one closes and opens again while the other keeps the file
 * open, so it stays shared; a durability point of either commits the
 * writes of both. */
static void w_share(struct wctx *w, int scale)
{
    struct driver *d = w->d;
    d_second_start(d);
    int s[2] = {d_open_in(d, 0, 0, 0), d_open_in(d, 0, 0, 1)};
    for (int i = 0; i < 70 * scale; i++) {
        int p = (int)rng_below(&w->r, 2);
        uint64_t size = d_size(d, 0);
        uint64_t r = rng_below(&w->r, 100);
        if (r < 40 && !(d->slots[s[p]].flags & O_APPEND)) { /* pwrite appends there */
            uint64_t len = rng_range(&w->r, 1, 12 * KiB);
            d_pwrite(d, s[p], rng_below(&w->r, size + 4 * KiB), data(w, len), len, 0);
        } else if (r < 47) {
            uint64_t len = rng_range(&w->r, 1, 6 * KiB);
            d_write(d, s[p], data(w, len), len, 0);
        } else if (r < 60) {
            d_fsync(d, s[p], r & 1, 0);
        } else if (r < 68) {
            uint64_t to = rng_below(&w->r, size + 16 * KiB);
            d_ftruncate(d, s[p], to < 128 * KiB ? to : rng_below(&w->r, 64 * KiB), 0);
        } else if (r < 80) {
            read_burst(w, s[p], 0, 2, 12 * KiB);
        } else if (r < 88) {
            d_checkpoint(d, s[p], 0);
        } else {
            uint64_t how = rng_below(&w->r, 10);
            s[p] = reopen(w, s[p], 0, how < 3 ? O_APPEND : how < 5 ? O_TRUNC : 0);
        }
    }
    d_close(d, s[0], 0);
    d_close(d, s[1], 0);
}

/* ---- table ---------------------------------------------------------------- */

static const char *const names[] = {
    "append",           "overwrite",       "unaligned", "multiblock", "truncate", "twofiles",
    "threads_disjoint", "threads_overlap", "tx",        "smallfiles", "share",
};

int workload_count(void)
{
    return (int)(sizeof(names) / sizeof(names[0]));
}

const char *workload_name(int w)
{
    return w >= 0 && w < workload_count() ? names[w] : "?";
}

int workload_find(const char *name)
{
    for (int i = 0; i < workload_count(); i++)
        if (!strcmp(names[i], name))
            return i;
    return -1;
}

void workload_run(struct driver *d, int w, uint64_t seed)
{
    struct wctx c = {d, {seed}, malloc(256 * KiB)};
    int scale = d->cfg->scale;
    switch (w) {
    case 0:
        w_append(&c, scale);
        break;
    case 1:
        w_overwrite(&c, scale);
        break;
    case 2:
        w_unaligned(&c, scale);
        break;
    case 3:
        w_multiblock(&c, scale);
        break;
    case 4:
        w_truncate(&c, scale);
        break;
    case 5:
        w_twofiles(&c, scale);
        break;
    case 6:
        w_threads(&c, scale, false);
        break;
    case 7:
        w_threads(&c, scale, true);
        break;
    case 8:
        w_tx(&c, scale);
        break;
    case 9:
        w_smallfiles(&c, scale);
        break;
    case 10:
        w_share(&c, scale);
        break;
    }
    free(c.buf);
}
