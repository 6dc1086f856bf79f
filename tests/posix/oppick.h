/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * oppick.h - the seeded random stream and the parameter choices (lengths,
 * offsets, truncation lengths, fallocate ranges, iovec layouts) that the
 * differential testers share: difftest.c (one process, both sides in
 * lockstep), mpdiff.c (several processes) and tests/tx/tx_diff.c
 * (transactions). They draw every choice from one splitmix64 stream and
 * from the size and position of the file on the plain side, so a seed
 * always replays the same sequence. Also the small helpers they use: a
 * call's captured result, iovecs over a buffer, a byte hash, numbers from
 * the command line, and copies to or from a mapping that may raise SIGBUS.
 */
#ifndef NVMMIO_TESTS_OPPICK_H
#define NVMMIO_TESTS_OPPICK_H

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

/* One call's result, and errno when it failed: what a differential tester
 * compares between its two sides (check_res in each tester). */
struct res {
    long long ret;
    int err; /* errno, only when ret < 0 */
};

/* Runs one call and captures its result and errno. */
#define CALL(expr)                                                                                 \
    ({                                                                                             \
        errno = 0;                                                                                 \
        long long r_ = (long long)(expr);                                                          \
        int e_ = errno;                                                                            \
        (struct res){r_, r_ < 0 ? e_ : 0};                                                         \
    })

#define KIB (1024LL)
#define MIB (1024LL * KIB)
#define GIB (1024LL * MIB)

#define PAGE          (4 * KIB)  /* small alignment unit */
#define HUGE_PAGE     (2 * MIB)  /* large alignment unit */
#define SPARSE_MAX_IO (64 * KIB) /* sparse writes are small */
#define FAR_MAX_IO    (4 * KIB)  /* writes at a position past max_file */
#define FALLOC_MAX    (4 * MIB)  /* length of one fallocate */
#define MAX_IOV       8          /* iovecs of one vectored call */
#define VEC_MAX       (1 * MIB)  /* bytes of one vectored call */

/* The random stream and the bounds the choices keep to. */
struct pick {
    uint64_t rng;
    long long max_file;    /* dense writes keep files at most this long */
    long long max_io;      /* longest single read or write */
    long long sparse_base; /* sparse writes land in [sparse_base, +sparse_span) */
    long long sparse_span;
};

static inline uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n); 0 when n is 0. */
static inline uint64_t rnd(struct pick *p, uint64_t n)
{
    return n ? splitmix64(&p->rng) % n : 0;
}

/* Uniform in [lo, hi]; lo when hi < lo. */
static inline long long rnd_range(struct pick *p, long long lo, long long hi)
{
    if (hi <= lo)
        return lo;
    return lo + (long long)rnd(p, (uint64_t)(hi - lo) + 1);
}

static inline bool chance(struct pick *p, unsigned permille)
{
    return rnd(p, 1000) < permille;
}

static inline int log2ll(long long v)
{
    return 63 - __builtin_clzll((unsigned long long)v);
}

/* Log-distributed in [lo, hi], 1 <= lo <= hi. */
static inline long long log_uniform(struct pick *p, long long lo, long long hi)
{
    int e = (int)rnd_range(p, log2ll(lo), log2ll(hi));
    long long a = 1LL << e, b = (a << 1) - 1;
    if (a < lo)
        a = lo;
    if (b > hi)
        b = hi;
    return rnd_range(p, a, b);
}

static inline long long min_ll(long long a, long long b)
{
    return a < b ? a : b;
}

static inline long long max_ll(long long a, long long b)
{
    return a > b ? a : b;
}

/* Length of one read or write: mostly small, some page multiples, a few up
 * to max_io. */
static inline long long pick_len(struct pick *p)
{
    unsigned k = (unsigned)rnd(p, 100);
    if (k < 1)
        return 0;
    if (k < 48)
        return log_uniform(p, 1, PAGE);
    if (k < 63)
        return PAGE * rnd_range(p, 1, 16);
    if (k < 88)
        return log_uniform(p, PAGE, 256 * KIB);
    if (k < 97)
        return log_uniform(p, 256 * KIB, min_ll(2 * MIB, p->max_io));
    return log_uniform(p, min_ll(2 * MIB, p->max_io), p->max_io);
}

/* Bounds a dense write at position `at` so the file stays within max_file;
 * past max_file (a sparse region) only small writes are allowed. */
static inline long long bound_len(struct pick *p, long long at, long long len)
{
    if (at + len <= p->max_file)
        return len;
    if (at >= p->max_file)
        return min_ll(len, FAR_MAX_IO);
    return p->max_file - at;
}

/* Offset and length of a pwrite given the current (plain) size. */
static inline void pick_write(struct pick *p, long long size, long long *offp, long long *lenp)
{
    long long len = min_ll(*lenp, p->max_file), off;
    long long dsize = min_ll(size, p->max_file);
    unsigned k = (unsigned)rnd(p, 1000);
    if (k < 5) { /* sparse, far past the dense part */
        off = p->sparse_base + (long long)rnd(p, (uint64_t)p->sparse_span);
        if (chance(p, 500))
            off &= ~(PAGE - 1);
        *offp = off;
        *lenp = min_ll(len, SPARSE_MAX_IO);
        return;
    }
    if (k < 10) { /* negative offset: EINVAL */
        *offp = -rnd_range(p, 1, 4096);
        *lenp = min_ll(len, 4096);
        return;
    }
    if (k < 110) { /* across a page or 2 MiB boundary */
        long long unit = chance(p, 500) ? PAGE : HUGE_PAGE;
        long long nb = p->max_file / unit;
        long long bound = unit * rnd_range(p, 1, max_ll(1, nb - 1));
        len = max_ll(len, 2);
        off = bound - rnd_range(p, 1, len - 1);
    } else if (k < 500) {
        off = rnd_range(p, 0, dsize);
    } else if (k < 620) {
        off = dsize - rnd_range(p, 0, min_ll(dsize, 64 * KIB));
    } else if (k < 720) {
        off = dsize + rnd_range(p, 1, 64 * KIB); /* leaves a hole */
    } else if (k < 850) {
        off = PAGE * rnd_range(p, 0, dsize / PAGE);
    } else {
        off = rnd_range(p, 0, p->max_file);
    }
    len = min_ll(len, p->max_file);
    if (off < 0)
        off = 0;
    if (off + len > p->max_file) {
        if (off < p->max_file && chance(p, 500))
            len = p->max_file - off;
        else
            off = rnd_range(p, 0, p->max_file - len);
    }
    *offp = off;
    *lenp = len;
}

/* Offset of a pread given the current (plain) size. */
static inline long long pick_read_off(struct pick *p, long long size, long long len)
{
    unsigned k = (unsigned)rnd(p, 100);
    if (k < 50)
        return rnd_range(p, 0, size + 64 * KIB);
    if (k < 70)
        return max_ll(0, size - rnd_range(p, 0, len));
    if (k < 80)
        return size + rnd_range(p, 0, 64 * KIB);
    if (k < 90)
        return PAGE * rnd_range(p, 0, size / PAGE);
    if (k < 97)
        return max_ll(0, HUGE_PAGE * rnd_range(p, 0, size / HUGE_PAGE) - rnd_range(p, 0, len));
    if (k < 98)
        return -rnd_range(p, 1, 4096);
    return p->sparse_base + (long long)rnd(p, (uint64_t)p->sparse_span);
}

/* Length for ftruncate/truncate given the current (plain) size. */
static inline long long pick_trunc_len(struct pick *p, long long size)
{
    long long dsize = min_ll(size, p->max_file);
    unsigned k = (unsigned)rnd(p, 1000);
    if (k < 300)
        return rnd_range(p, 0, dsize);
    if (k < 450)
        return min_ll(p->max_file, dsize + rnd_range(p, 1, 64 * KIB));
    if (k < 550)
        return PAGE * rnd_range(p, 0, dsize / PAGE);
    if (k < 650)
        return rnd_range(p, 0, p->max_file);
    if (k < 720)
        return dsize;
    if (k < 790)
        return 0;
    if (k < 900)
        return dsize - rnd_range(p, 0, min_ll(dsize, PAGE));
    if (k < 985)
        return -rnd_range(p, 1, MIB);
    return p->sparse_base + (long long)rnd(p, (uint64_t)p->sparse_span);
}

/* Offset and length of an fallocate near the file: within max_file, or
 * small and far (sparse). */
static inline void pick_falloc(struct pick *p, long long size, long long *offp, long long *lenp)
{
    long long dsize = min_ll(size, p->max_file), off, len;
    unsigned k = (unsigned)rnd(p, 100);
    if (k < 40)
        len = log_uniform(p, 1, PAGE);
    else if (k < 75)
        len = PAGE * rnd_range(p, 1, 64);
    else
        len = log_uniform(p, PAGE, FALLOC_MAX);
    k = (unsigned)rnd(p, 100);
    if (k < 40)
        off = rnd_range(p, 0, dsize);
    else if (k < 60)
        off = PAGE * rnd_range(p, 0, dsize / PAGE);
    else if (k < 75)
        off = dsize + rnd_range(p, 0, 64 * KIB);
    else if (k < 90)
        off = max_ll(0, dsize - rnd_range(p, 0, len));
    else if (k < 97)
        off = rnd_range(p, 0, p->max_file);
    else {
        *offp = p->sparse_base + (long long)rnd(p, (uint64_t)p->sparse_span);
        *lenp = min_ll(len, SPARSE_MAX_IO);
        return;
    }
    if (off >= p->max_file)
        off = rnd_range(p, 0, p->max_file - 1);
    *offp = off;
    *lenp = min_ll(len, p->max_file - off);
}

/* The iovecs of one vectored call: lengths (some 0) and where each lies in
 * the buffer. Entries are laid out in a shuffled order with small gaps, so
 * that gathering and scattering in iovec order matters. */
struct vec {
    int n;
    long long len[MAX_IOV];
    long long start[MAX_IOV];
    long long total; /* sum of len */
    long long span;  /* buffer bytes the layout covers */
};

static inline long long pick_iov_len(struct pick *p)
{
    unsigned k = (unsigned)rnd(p, 100);
    if (k < 15)
        return 0;
    if (k < 55)
        return log_uniform(p, 1, PAGE);
    if (k < 70)
        return PAGE * rnd_range(p, 1, 4);
    if (k < 93)
        return log_uniform(p, PAGE, 128 * KIB);
    return log_uniform(p, 128 * KIB, 512 * KIB);
}

static inline void pick_vec(struct pick *p, struct vec *v)
{
    v->n = chance(p, 10) ? 0 : (int)rnd_range(p, 1, MAX_IOV);
    v->total = 0;
    for (int i = 0; i < v->n; i++) {
        v->len[i] = min_ll(pick_iov_len(p), VEC_MAX - v->total);
        v->total += v->len[i];
    }
    int perm[MAX_IOV];
    for (int i = 0; i < v->n; i++)
        perm[i] = i;
    for (int i = v->n - 1; i > 0; i--) {
        int j = (int)rnd(p, (uint64_t)i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    long long at = 0;
    for (int j = 0; j < v->n; j++) {
        at += (long long)rnd(p, 65);
        v->start[perm[j]] = at;
        at += v->len[perm[j]];
    }
    v->span = at;
}

/* Cuts the iovecs down to total bytes, the last entries first. */
static inline void trim_vec(struct vec *v, long long total)
{
    long long left = max_ll(total, 0);
    v->total = 0;
    for (int i = 0; i < v->n; i++) {
        v->len[i] = min_ll(v->len[i], left);
        left -= v->len[i];
        v->total += v->len[i];
    }
}

/* Fills buf with len bytes determined by (seed, op index, salt). */
static inline void fill_bytes(unsigned char *buf, long long len, uint64_t seed, long long op,
                              uint64_t salt)
{
    uint64_t s = seed * 0xd1342543de82ef95ULL ^ (uint64_t)op * 0x9e3779b97f4a7c15ULL ^
                 salt * 0xbf58476d1ce4e5b9ULL;
    long long i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t v = splitmix64(&s);
        __builtin_memcpy(buf + i, &v, 8);
    }
    if (i < len) {
        uint64_t v = splitmix64(&s);
        __builtin_memcpy(buf + i, &v, (size_t)(len - i));
    }
}

static inline long long page_up(long long v)
{
    return (v + PAGE - 1) & ~(PAGE - 1);
}

static inline void make_iov(const struct vec *v, unsigned char *base, struct iovec *iov)
{
    for (int i = 0; i < v->n; i++) {
        iov[i].iov_base = base + v->start[i];
        iov[i].iov_len = (size_t)v->len[i];
    }
}

static inline uint64_t hash_bytes(const unsigned char *p, long long n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (long long i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static inline unsigned long long parse_num(const char *prog, const char *opt, const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
        fprintf(stderr, "%s: bad number for %s: %s\n", prog, opt, s);
        exit(2);
    }
    return v;
}

/* The tester's SIGBUS handler jumps back to guarded_copy while it is armed. */
static sigjmp_buf bus_env;
static volatile sig_atomic_t bus_armed;

/* Copies len bytes to or from a mapping; false when touching it raised
 * SIGBUS. */
static inline bool guarded_copy(void *dst, const void *src, long long len)
{
    bool ok = true;
    if (sigsetjmp(bus_env, 1) == 0) {
        bus_armed = 1;
        memcpy(dst, src, (size_t)len);
    } else {
        ok = false;
    }
    bus_armed = 0;
    return ok;
}

#endif
