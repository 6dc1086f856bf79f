/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * checker.h - the crash-model checker (see README.md in this directory).
 *
 * The checker links the library's sources compiled in model mode, so the
 * POSIX calls its workloads make (open, pwrite, fsync, ...) are the
 * library's own wrappers. Each run executes one workload in one mode twice:
 * a counting pass that numbers the crash points, then a checking pass that
 * explores a deterministic sample of them. At an explored point it writes
 * crash images (persisted bytes plus a subset of the in-flight lines) into a
 * scratch directory, recovers them with the library's recovery and compares
 * each file with the states the contract allows, which the driver's own
 * byte model of every file gives (driver.c).
 */
#ifndef NVMMIO_CRASHMODEL_CHECKER_H
#define NVMMIO_CRASHMODEL_CHECKER_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log/format.h"
#include "model.h"

#define MAX_FILES  2
#define MAX_SLOTS  8
#define RECENT_OPS 8
#define EXIT_CLEAN 0
#define EXIT_ERROR 2 /* the checker itself failed */
#define EXIT_FOUND 3 /* a contract violation or a durability failure */
#define EXIT_CRASH 4 /* a crash (signal) in the library or its recovery */
#define EXIT_HANG  5 /* recovery did not finish in time */

/* ---- deterministic randomness ----------------------------------------- */

static inline uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static inline uint64_t hash2(uint64_t a, uint64_t b)
{
    return mix64(a ^ mix64(b + 0x632BE59BD9B4E019ull));
}

struct rng {
    uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
    r->s += 0x9E3779B97F4A7C15ull;
    return mix64(r->s);
}

static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
    return n ? rng_next(r) % n : 0;
}

static inline uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi)
{
    return lo + rng_below(r, hi - lo + 1);
}

/* ---- configuration ------------------------------------------------------ */

enum mode { MODE_EPOCH = 0, MODE_SYNC = 1 };

struct config {
    uint64_t seed;
    int scale;           /* workload length multiplier */
    uint64_t points;     /* crash points to explore per run (budget) */
    unsigned first_k;    /* occurrences of each crash site always explored */
    unsigned exhaustive; /* every subset of up to this many lines or words */
    unsigned nested_pct; /* share of images also crashed during recovery */
    unsigned full_pct;   /* share recovered through the library's open */
    unsigned twice_pct;  /* share recovered twice */
    bool strict_threads; /* no fence at the end of a call (see README) */
    bool no_durability;  /* skip the deterministic durability assertion */
    bool keep_going;     /* do not stop a run at its first violation */
    bool verbose;
    bool list_sites; /* print the crash sites of each run */
    bool trace;      /* print every call of the checking pass */
    /* replay of one image: crash point, image, nested point, nested image */
    bool replay;
    uint64_t replay_cp, replay_img, replay_ncp, replay_nimg;
    bool replay_nested;
    const char *keep_dir; /* replay: where the image is left */
    const char *exe;      /* argv[0], for replay commands */
    const char *policy;   /* NVMMIO_POLICY given, or NULL */
};

/* ---- counters of a run --------------------------------------------------- */

struct counts {
    uint64_t ops, points, explored, sites;
    uint64_t images64, images8, deduped;
    uint64_t recoveries, twice, full, nested_runs, nested_points, nested_images;
    uint64_t images_nested; /* images also crashed during their recovery */
    uint64_t durability_checks;
    uint64_t violations, durability_failures, errors;
    uint64_t fences, flushes, lines, undo_epochs, redo_epochs, lib_threads;
    double seconds;
};

/* ---- the oracle: the driver's model of each file ------------------------- */

struct bytes {
    uint8_t *p;
    size_t len, cap;
};

struct fstate {
    char name[16];
    bool exists;
    struct bytes cur;     /* what the program sees now */
    struct bytes dur;     /* at the last completed durability point */
    uint64_t dur_op;      /* op that completed it (0: creation) */
    uint64_t dur_version; /* bumps with every durability point */
    struct nvlog_identity id;
    uint64_t dev, ino;
    char logname[64];
    int open_fds;
};

struct slot {
    bool used;
    int fd, file, flags;
    int proc;     /* the process whose descriptor fd is: 0 the driver, 1 the second */
    uint64_t pos; /* the descriptor's offset, as the driver expects it */
};

enum op_kind {
    OP_OPEN = 1,
    OP_CLOSE,
    OP_WRITE,
    OP_PWRITE,
    OP_READ,
    OP_FSYNC,
    OP_FDATASYNC,
    OP_FTRUNCATE,
    OP_CHECKPOINT,
    OP_TXCOMMIT, /* nvmmio_tx_commit: a durability point of every file in tx_files */
    OP_TXABORT,
};

struct opinfo {
    uint64_t index;
    int kind, file, thread;
    int proc; /* the process that makes the call */
    uint64_t off, len;
    bool durable; /* a durability point for its file */
};

/* Deduplication of images by a hash of their contents. */
struct hashset {
    uint64_t *k;
    size_t cap, n;
};

enum phase { PHASE_COUNT, PHASE_CHECK };

struct site {
    uint64_t key;
    uint64_t count, seen;
    const void *frames[4];
    int event;
};

struct driver {
    const struct config *cfg;
    int workload, mode;
    char root[PATH_MAX];
    char scratch[PATH_MAX];
    struct fstate files[MAX_FILES];
    int nfiles;
    struct slot slots[MAX_SLOTS];
    struct nvmodel *model;
    int phase;

    uint64_t opno;
    bool in_op;
    struct opinfo inflight;
    struct opinfo recent[RECENT_OPS];

    uint64_t cp; /* crash points so far in this pass */
    struct site *sites;
    size_t nsites, capsites;
    double sample_p;

    struct hashset seen;
    struct counts c;
    const char *context; /* what a signal handler should say */

    /* two-thread workloads: one thread runs a call at a time */
    bool threaded;
    /* a transaction is open (nvmmio_tx_begin), and the files it changed */
    bool in_tx;
    unsigned tx_files;
    pthread_mutex_t baton;
    pthread_cond_t baton_cv;
    int turn, nthreads_live;
    struct rng sched;

    /* the second process of a workload that shares a file (driver.c) */
    struct mailbox *mail;
    int to_second, from_second;
    int second_pid;
};

/* driver.c */
int run_one(const struct config *cfg, int workload, int mode, const char *root, const char *scratch,
            struct counts *out);
void report_failure(struct driver *d);
const char *mode_name(int mode);
const char *op_name(int kind);
void describe_site(const void *addr, char *out, size_t n);
void driver_stop(struct driver *d, int code);
void driver_set_stats_fd(int fd);
void driver_set_context(const char *text);
const char *replay_command(const struct driver *d);

/* driver primitives used by the workloads; each is one library call */
int d_open(struct driver *d, int file, int extra_flags, int thread);
int d_open_in(struct driver *d, int file, int extra_flags, int proc);
void d_second_start(struct driver *d);
void d_close(struct driver *d, int slot, int thread);
void d_pwrite(struct driver *d, int slot, uint64_t off, const void *buf, uint64_t len, int thread);
void d_write(struct driver *d, int slot, const void *buf, uint64_t len, int thread);
void d_fsync(struct driver *d, int slot, bool data_only, int thread);
void d_ftruncate(struct driver *d, int slot, uint64_t len, int thread);
void d_read_check(struct driver *d, int slot, uint64_t off, uint64_t len, int thread);
void d_checkpoint(struct driver *d, int slot, int thread);
void d_tx_begin(struct driver *d);
void d_tx_commit(struct driver *d);
void d_tx_abort(struct driver *d);
bool d_tx_commit_covers(const struct driver *d, int file);
uint64_t d_size(const struct driver *d, int file);
void d_baton_take(struct driver *d, int thread);
void d_baton_pass(struct driver *d, int thread, bool done);
int d_spawn(struct driver *d, pthread_t *t, void *(*fn)(void *), void *arg);

/* workloads.c */
int workload_count(void);
const char *workload_name(int w);
int workload_find(const char *name);
void workload_run(struct driver *d, int w, uint64_t seed);
void fill_random(uint8_t *buf, size_t n, uint64_t seed);
bool workload_has_records(int w);
void describe_records(const uint8_t *p, size_t n, size_t at, char *out, size_t outn);

/* images.c */
void explore_point(struct driver *d, const struct nvmodel_point *p, int event);

/* util.c: raw file IO that never goes through the library's wrappers */
int raw_open(const char *path, int flags, int mode);
int raw_close(int fd);
int raw_write_file(int dirfd, const char *name, const uint8_t *buf, size_t n, bool sparse);
int raw_read_file(int fd, struct bytes *b);
int raw_read_path(const char *path, struct bytes *b);
int raw_mkdir(const char *path);
void raw_rmtree(const char *path);
bool raw_exists(const char *path);
int raw_statx_identity(const char *path, struct nvlog_identity *id, uint64_t *dev, uint64_t *ino);
void bytes_set(struct bytes *b, const uint8_t *p, size_t n);
void bytes_resize(struct bytes *b, size_t n);
void bytes_free(struct bytes *b);
uint64_t hash_bytes(const void *p, size_t n, uint64_t h);
bool hashset_add(struct hashset *s, uint64_t k);
void hashset_free(struct hashset *s);
void hexdump_diff(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len,
                  char *out, size_t n);

#endif
