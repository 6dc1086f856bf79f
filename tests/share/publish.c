/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * publish.c - the kernel's view of a file against the library's, both ways.
 *
 * publish: a process under the library appends to a new file, overwrites
 * it (several epochs, so the hybrid policy turns to redo) and cuts it
 * shorter, keeping it open, and after each step reaches one publication
 * point: fsync, fdatasync, the release of a lock it took for the step
 * (fcntl F_UNLCK, F_SETLK polled, OFD F_UNLCK, flock LOCK_UN, lockf
 * F_ULOCK), or the close of a second descriptor. Right then, the test (a
 * process without the library) must find the stat size and every byte
 * equal to what was written. Last, after the process exits.
 *
 * revalidate: a process under the library keeps a file open and has
 * written and synced it; a process without it (the test, under the same
 * kind of lock) appends, overwrites, truncates shorter or longer and
 * fsyncs. When the library's process then takes the lock (each kind) or
 * opens the file again, fstat, SEEK_END and read() must give the new size
 * and bytes; it writes under the lock and releases it, and the kernel must
 * show that too. Last, with no lock at all, as a reader polling a log
 * (tail -f): the library's process reads past the old end (read() alone,
 * no fstat first) and must find what was appended, then its view; a
 * write() on a descriptor it opened with O_APPEND must land at the end the
 * file has now (a log rotated by copytruncate); it publishes its writes
 * with fsync. And with no lock and no look first: it writes at its old end
 * and appends at SEEK_END, which must find the end the file has now; its
 * fsync must keep what the other program wrote past the old end.
 *
 * The policy and sync mode come from the environment (NVMMIO_POLICY,
 * NVMMIO_SYNC), as the library reads them.
 */
#include "share.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *mode_name(void)
{
    static char name[64];
    const char *p = getenv("NVMMIO_POLICY"), *s = getenv("NVMMIO_SYNC");
    snprintf(name, sizeof(name), "policy %s%s", p && *p ? p : "hybrid",
             s && !strcmp(s, "1") ? ", sync mode" : "");
    return name;
}

/* ---- publish */

enum point { P_FSYNC, P_FDATASYNC, P_LOCK0 /* + lock kind */, P_CLOSE = P_LOCK0 + LK_COUNT };

static const char *point_name(int p)
{
    static const char *const names[] = {"fsync", "fdatasync"};
    if (p < P_LOCK0)
        return names[p];
    if (p == P_CLOSE)
        return "close of a second descriptor";
    static char name[64];
    snprintf(name, sizeof(name), "release of a %s lock", lock_names[p - P_LOCK0]);
    return name;
}

struct pub {
    struct child actor;
    struct model m;
    char *path;
    int point;
    uint64_t key, rng;
};

static void step_begin(struct pub *p)
{
    if (p->point >= P_LOCK0 && p->point < P_CLOSE)
        actor_do(&p->actor, NULL, "lock 0 %s 0 0", lock_names[p->point - P_LOCK0]);
}

/* Ends a step at its publication point and looks from outside. */
static void step_end(struct pub *p, const char *step)
{
    if (p->point == P_FSYNC)
        actor_do(&p->actor, NULL, "fsync 0");
    else if (p->point == P_FDATASYNC)
        actor_do(&p->actor, NULL, "fdatasync 0");
    else if (p->point == P_CLOSE && actor_do(&p->actor, NULL, "close 1"))
        actor_do(&p->actor, NULL, "open 1 %s", p->path);
    else if (p->point != P_CLOSE)
        actor_do(&p->actor, NULL, "unlock 0 %s 0 0", lock_names[p->point - P_LOCK0]);
    char when[256];
    snprintf(when, sizeof(when), "%s, %s, right after the %s", mode_name(), step,
             point_name(p->point));
    model_check_kernel(&p->m, p->path, when);
}

static void pub_append(struct pub *p, size_t len)
{
    uint64_t key = ++p->key;
    long long off[3];
    if (actor_do(&p->actor, off, "append 0 %zu %llu", len, (unsigned long long)key))
        model_write(&p->m, (uint64_t)off[0], len, key);
}

static void pub_pwrite(struct pub *p, uint64_t off, size_t len)
{
    uint64_t key = ++p->key;
    if (actor_do(&p->actor, NULL, "pwrite 0 %llu %zu %llu", (unsigned long long)off, len,
                 (unsigned long long)key))
        model_write(&p->m, off, len, key);
}

static void pub_truncate(struct pub *p, size_t size)
{
    if (actor_do(&p->actor, NULL, "trunc 0 %zu", size))
        model_truncate(&p->m, size);
}

/* A write length: a few bytes, a block or so, or up to 128 KiB. */
static size_t some_len(uint64_t *rng)
{
    uint64_t c = rnd(rng) % 4;
    if (c == 0)
        return 1 + rnd(rng) % 64;
    if (c == 1)
        return 4096;
    if (c == 2)
        return 1 + rnd(rng) % 8192;
    return 1 + rnd(rng) % (128 << 10);
}

static void publish_one(int point)
{
    struct pub p = {.point = point, .rng = run.seed * 1000u + (unsigned)point};
    char name[32];
    snprintf(name, sizeof(name), "pub-%d", point);
    p.path = root_path(name);
    actor_start(&p.actor, "the library's process", true, -1);
    actor_do(&p.actor, NULL, "open 0 %s c", p.path);
    if (point == P_CLOSE)
        actor_do(&p.actor, NULL, "open 1 %s", p.path);

    static const size_t appends[] = {4096, 1, 8191, 65536, 100000, 300000, (512 << 10) + 77};
    step_begin(&p);
    for (size_t i = 0; i < sizeof(appends) / sizeof(appends[0]); i++)
        pub_append(&p, appends[i]);
    step_end(&p, "appending 1 MiB to a new file");

    for (int epoch = 0; epoch < 4; epoch++) {
        step_begin(&p);
        for (int i = 0; i < 12; i++) {
            size_t len = some_len(&p.rng);
            pub_pwrite(&p, rnd(&p.rng) % (p.m.size - len), len);
        }
        char step[64];
        snprintf(step, sizeof(step), "overwriting (epoch %d)", epoch + 1);
        step_end(&p, step);
    }

    step_begin(&p);
    pub_truncate(&p, p.m.size * 2 / 3 + 123);
    step_end(&p, "truncating shorter");

    step_begin(&p);
    pub_pwrite(&p, 1000, 70000);
    pub_truncate(&p, 70001);
    pub_append(&p, 5000);
    step_end(&p, "overwriting, truncating into the write and appending");

    actor_do(&p.actor, NULL, "exit");
    char status[64], when[160];
    int st = child_finish(&p.actor);
    if (st) {
        describe_status(status, sizeof(status), st);
        fail("the library's process %s", status);
    }
    snprintf(when, sizeof(when), "%s, after the process exited", mode_name());
    model_check_kernel(&p.m, p.path, when);
    free(p.m.buf);
    free(p.path);
}

int test_publish(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    for (int point = 0; point <= P_CLOSE; point++)
        publish_one(point);
    return 0;
}

/* ---- revalidate */

/* How the library's process learns of the change: a lock kind, LK_COUNT
 * for opening the file again, POLLING: reading past the end, or SEEKING:
 * not at all before it writes at its old end and appends at SEEK_END. */
#define POLLING (LK_COUNT + 1)
#define SEEKING (LK_COUNT + 2)

struct reval {
    struct child actor;
    struct model m;
    char *path;
    int how;
    uint64_t key;
};

static const char *how_name(int how)
{
    static char name[64];
    if (how == LK_COUNT)
        return "opening the file again";
    if (how == POLLING)
        return "reading past the end, with no lock";
    if (how == SEEKING)
        return "writing at its old end and at SEEK_END, with no lock";
    snprintf(name, sizeof(name), "taking a %s lock", lock_names[how]);
    return name;
}

/* The change of round r, made without the library (under the same kind of
 * lock, as a cooperating program would), then fsynced. */
static void plain_change(struct reval *v, int round, const char **what)
{
    int fd = open(v->path, O_RDWR);
    if (fd < 0)
        fatal("open %s: %s", v->path, strerror(errno));
    if (v->how < LK_COUNT && lock_take(fd, v->how, true, 0, 0))
        fatal("the test's own %s lock: %s", lock_names[v->how], strerror(errno));
    struct {
        uint64_t off;
        size_t len; /* 0: truncate to off */
    } ops[4] = {{0}};
    switch (round) {
    case 0:
        *what = "an append of 50000 bytes";
        ops[0].off = v->m.size, ops[0].len = 50000;
        break;
    case 1:
        *what = "three overwrites";
        ops[0].off = 10, ops[0].len = 100;
        ops[1].off = 8192, ops[1].len = 4096;
        ops[2].off = 20000, ops[2].len = 70000;
        break;
    case 2:
        *what = "a truncation shorter";
        ops[0].off = 100007;
        break;
    case 3:
        *what = "a truncation shorter and an append";
        ops[0].off = 5000;
        ops[1].off = 5000, ops[1].len = 300000;
        break;
    default:
        *what = "a truncation longer (a hole) and a write past it";
        ops[0].off = v->m.size + 200000;
        ops[1].off = v->m.size + 300000, ops[1].len = 1000;
        break;
    }
    for (int i = 0; i < 4 && (ops[i].off || ops[i].len); i++) {
        if (!ops[i].len) {
            if (ftruncate(fd, (off_t)ops[i].off))
                fatal("ftruncate: %s", strerror(errno));
            model_truncate(&v->m, ops[i].off);
            continue;
        }
        uint64_t key = ++v->key;
        uint8_t *buf = xcalloc(1, ops[i].len);
        fill(buf, key, ops[i].off, ops[i].len);
        if (pwrite(fd, buf, ops[i].len, (off_t)ops[i].off) != (ssize_t)ops[i].len)
            fatal("pwrite: %s", strerror(errno));
        free(buf);
        model_write(&v->m, ops[i].off, ops[i].len, key);
    }
    if (fsync(fd))
        fatal("fsync: %s", strerror(errno));
    if (v->how < LK_COUNT && lock_drop(fd, v->how, 0, 0))
        fatal("unlock: %s", strerror(errno));
    close(fd);
}

/* The library's process writes (an overwrite and an append) through slot. */
static void actor_writes(struct reval *v, int slot)
{
    uint64_t key = ++v->key;
    size_t off = v->m.size / 3;
    if (actor_do(&v->actor, NULL, "pwrite %d %zu 3000 %llu", slot, off, (unsigned long long)key))
        model_write(&v->m, off, 3000, key);
    key = ++v->key;
    long long at[3];
    if (actor_do(&v->actor, at, "append %d 7000 %llu", slot, (unsigned long long)key))
        model_write(&v->m, (uint64_t)at[0], 7000, key);
}

static void revalidate_one(int how)
{
    struct reval v = {.how = how, .key = 1000u * (unsigned)how};
    char name[32], when[256];
    snprintf(name, sizeof(name), "reval-%d", how);
    v.path = root_path(name);
    model_write(&v.m, 0, (200 << 10) + 333, ++v.key);
    int fd = open(v.path, O_RDWR | O_CREAT | O_EXCL, 0644);
    if (fd < 0 || pwrite(fd, v.m.buf, v.m.size, 0) != (ssize_t)v.m.size || fsync(fd) || close(fd))
        fatal("writing %s: %s", v.path, strerror(errno));

    actor_start(&v.actor, "the library's process", true, -1);
    actor_do(&v.actor, NULL, "open 0 %s", v.path);
    if (how == POLLING)
        actor_do(&v.actor, NULL, "open 2 %s wa", v.path);
    snprintf(when, sizeof(when), "%s, at its first open", mode_name());
    actor_check_view(&v.actor, 0, &v.m, when);
    actor_writes(&v, 0);
    actor_do(&v.actor, NULL, "fsync 0");
    snprintf(when, sizeof(when), "%s, after the library's fsync", mode_name());
    model_check_kernel(&v.m, v.path, when);

    for (int round = 0; round < 5; round++) {
        const char *what;
        uint64_t end_before = v.m.size;
        plain_change(&v, round, &what);
        snprintf(when, sizeof(when), "%s, %s after %s by a process without the library",
                 mode_name(), how_name(how), what);
        int slot = 0;
        if (how == LK_COUNT) {
            actor_do(&v.actor, NULL, "open 1 %s", v.path);
            actor_check_view(&v.actor, 1, &v.m, when);
            slot = 1;
        } else if (how == POLLING) {
            uint64_t key = ++v.key;
            long long at[3] = {-1, 0, 0};
            if (actor_do(&v.actor, at, "owrite 2 %zu 4000 %llu", v.m.size,
                         (unsigned long long)key)) {
                if (at[0] != (long long)v.m.size)
                    fail("%s: an O_APPEND write landed at %lld, not at the end (%zu)", when, at[0],
                         v.m.size);
                model_write(&v.m, (uint64_t)at[0], 4000, key);
            }
            actor_check_readend(&v.actor, 0, &v.m, end_before, when);
        } else if (how == SEEKING) {
            /* Its own writes first: the growth they make must not hide
             * what the other program wrote past the old end. */
            uint64_t key = ++v.key;
            if (actor_do(&v.actor, NULL, "pwrite 0 %llu 1000 %llu", (unsigned long long)end_before,
                         (unsigned long long)key))
                model_write(&v.m, end_before, 1000, key);
            actor_writes(&v, slot);
        } else {
            actor_do(&v.actor, NULL, "lock 0 %s 0 0", lock_names[how]);
        }
        actor_check_view(&v.actor, 0, &v.m, when);
        if (how != SEEKING)
            actor_writes(&v, slot);
        if (how == LK_COUNT)
            actor_do(&v.actor, NULL, "close 1");
        else if (how == POLLING || how == SEEKING)
            actor_do(&v.actor, NULL, "fsync 0");
        else
            actor_do(&v.actor, NULL, "unlock 0 %s 0 0", lock_names[how]);
        snprintf(when, sizeof(when), "%s, after the library's process wrote and released (%s)",
                 mode_name(),
                 how == LK_COUNT                    ? "close"
                 : how == POLLING || how == SEEKING ? "fsync"
                                                    : lock_names[how]);
        model_check_kernel(&v.m, v.path, when);
    }
    actor_do(&v.actor, NULL, "exit");
    int st = child_finish(&v.actor);
    if (st) {
        char status[64];
        describe_status(status, sizeof(status), st);
        fail("the library's process %s", status);
    }
    free(v.m.buf);
    free(v.path);
}

int test_revalidate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    for (int how = 0; how <= SEEKING; how++)
        revalidate_one(how);
    return 0;
}
