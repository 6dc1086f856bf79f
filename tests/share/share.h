/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * share.h - what the parts of nvmmio_share (the tests of files shared by
 * several processes) offer each other: the test directory, children run
 * under the library or without it, the actor protocol a test drives a
 * child with, the byte pattern and the model of a file's expected bytes,
 * and the five kinds of lock.
 */
#ifndef NVMMIO_SHARE_H
#define NVMMIO_SHARE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- the run (util.c) */

struct share_run {
    const char *lib;    /* the library to preload, NULL: every child plain */
    const char *nvmmio; /* the nvmmio command, or NULL */
    char dir[256];      /* fresh directory under /dev/shm */
    char root[300];     /* dir/root, the pmem root */
    unsigned seed;
    int failures;
};

extern struct share_run run;

/* A failed check: printed with "FAIL: " and counted. */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An error of the test itself (not of the library): printed, exit 2. */
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *xcalloc(size_t n, size_t size);
/* run.root/name */
char *root_path(const char *name);
uint64_t mix64(uint64_t x);
uint64_t rnd(uint64_t *state);

/* Where the 8-byte words of [p, p + n) stop repeating the first one: 0
 * when they all do (one write's words). */
size_t words_differ_at(const uint8_t *p, size_t n);

/* The bytes of the pattern KEY at file offsets [off, off + len). */
void fill(uint8_t *dst, uint64_t key, uint64_t off, size_t len);

/* A child: this program run with args, under the library (lib) or not;
 * its stdin and stdout are pipes (to_child, from_child), its stderr goes
 * to err_fd (or stays the test's when -1). */
struct child {
    pid_t pid;
    int to;   /* its stdin */
    int from; /* its stdout */
    char rbuf[4096];
    size_t rlen;
    const char *name;
};

void child_start(struct child *c, const char *name, bool lib, char *const args[], int err_fd);
/* Kills (SIGKILL) and reaps it. */
void child_kill(struct child *c);
/* Closes its stdin and waits for it; returns its wait status. */
int child_finish(struct child *c);
void describe_status(char *buf, size_t n, int status);
/* One line from the child (without the newline) into line; false at EOF
 * or after timeout_s seconds without one. */
bool child_line(struct child *c, char *line, size_t n, double timeout_s);
/* Exactly n bytes from the child. */
bool child_bytes(struct child *c, void *buf, size_t n, double timeout_s);
double now_s(void);
/* In a child of children_race: opens path read-write, says "ready" and
 * waits for the go; the descriptor, or -1 when the test went away. */
int child_ready(const char *path);
/* Children that say "ready", wait for a byte on stdin, work and say
 * "done": all get ready before any starts, then each must say "done"
 * within timeout_s and end well (failures reported). False when one hung
 * (all are killed then). */
bool children_race(struct child *c, int n, double timeout_s);

/* ---- the model of a file's expected bytes (util.c) */

struct model {
    uint8_t *buf;
    size_t size, cap;
};

void model_write(struct model *m, uint64_t off, size_t len, uint64_t key);
void model_truncate(struct model *m, size_t size);
/* Compares bytes with the model; on a difference fails with what, where
 * and how it differs, and returns false. */
bool model_check(const struct model *m, const uint8_t *got, size_t got_size, const char *what);
/* The file as the kernel shows it (stat size, bytes read) against the model. */
bool model_check_kernel(const struct model *m, const char *path, const char *when);
/* Reads a whole file without the library into *buf; returns its size. */
size_t read_file(const char *path, uint8_t **buf);

/* ---- locks (util.c) */

enum lock_kind { LK_FCNTL, LK_FCNTL_NB, LK_OFD, LK_FLOCK, LK_LOCKF, LK_COUNT };
extern const char *const lock_names[LK_COUNT];
int lock_kind_of(const char *name);
/* Takes (waiting for it) or drops a lock of kind k on [start, start + len)
 * (len 0: to the end; flock: the whole file; lockf: always exclusive).
 * 0 or -errno. */
int lock_take(int fd, int k, bool exclusive, off_t start, off_t len);
int lock_drop(int fd, int k, off_t start, off_t len);

/* ---- the actor (actor.c): a child that runs one call per command line */

int actor_main(void);
/* Starts an actor under the library (lib) or not, its stderr to err_fd. */
void actor_start(struct child *a, const char *name, bool lib, int err_fd);
/* Sends a command (printf format) and reads its reply: "ok ..." gives true
 * and the reply's numbers in out[0..], "err ..." fails the test with the
 * command and the error and gives false. */
bool actor_do(struct child *a, long long *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The actor's view of SLOT: fstat size, SEEK_END and the bytes read() gives
 * from offset 0 to EOF, each checked against the model. */
bool actor_check_view(struct child *a, int slot, const struct model *m, const char *when);
/* What the actor's read() of SLOT gives past `from` until it returns 0
 * (no fstat first, as a reader polling the end): the model's bytes there. */
bool actor_check_readend(struct child *a, int slot, const struct model *m, uint64_t from,
                         const char *when);

/* ---- the tests */

int test_publish(int argc, char **argv);
int test_revalidate(int argc, char **argv);
int test_counter(int argc, char **argv);
int counter_child(int argc, char **argv);
int test_killloop(int argc, char **argv);
int killloop_child(int argc, char **argv);
int test_postcrash(int argc, char **argv);
int test_sharedsync(int argc, char **argv);
int test_deadreader(int argc, char **argv);
int deadreader_child(int argc, char **argv);
int test_deadwriter(int argc, char **argv);
int deadwriter_child(int argc, char **argv);
int test_deadholder(int argc, char **argv);
int deadholder_child(int argc, char **argv);
int test_inplace(int argc, char **argv);
int inplace_child(int argc, char **argv);
int test_nsreader(int argc, char **argv);
int test_idlejoin(int argc, char **argv);
int test_ranges(int argc, char **argv);
int test_holes(int argc, char **argv);
int ranges_child(int argc, char **argv);
int nsreader_child(int argc, char **argv);

#endif
