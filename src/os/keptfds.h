/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * keptfds.h - the library's own long-lived descriptors (its descriptor of
 * each managed file, each log, each lock file). They are moved to high
 * numbers, out of the way of programs that dup2 onto a number they think is
 * free, and remembered, so that a program closing every descriptor (a
 * daemon's close loop, close_range) does not close them.
 */
#ifndef NVMMIO_OS_KEPTFDS_H
#define NVMMIO_OS_KEPTFDS_H

#include <stdbool.h>

/* Moves fd high (close-on-exec), remembers it and returns its new number;
 * on failure returns fd as it was, remembered all the same. */
int kept_fd(int fd);

/* Forgets and closes a kept descriptor. */
void kept_close(int fd);

/* The fork handlers: the table's lock is held across a fork, taken last
 * (every other lock of the library may be held while it is taken). */
void kept_before_fork(void);
void kept_after_fork(void);

/* True when fd is one of the library's own. */
bool kept_is(int fd);

/* The lowest kept descriptor in [first, last], or -1. */
int kept_first_in(unsigned first, unsigned last);

/* The process's descriptor limit now (RLIMIT_NOFILE, soft): new
 * descriptors are numbered below it. */
int kept_limit(void);

/* How many descriptors of one kind the library may keep: a `share`th of
 * the descriptor limit, from `least` to `most`, so that a program keeps
 * all but a few of its descriptors whatever the limit. */
int kept_budget(int share, int least, int most);

/* The library holds a few spare descriptors (kept, refilled whenever it
 * keeps or closes one) so that it can still open what it needs for a
 * moment when the program holds every other number. With an open's result
 * rc: true when rc is EMFILE and a spare was handed back, so the open is
 * to be tried again. */
bool kept_retry(long rc);

/* Whether every spare is held (taking back those handed out where it
 * can): when not, the program holds nearly every descriptor, and a new
 * file is better left to the kernel than served without room. */
bool kept_spares_held(void);

#endif
