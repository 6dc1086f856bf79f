/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * helper.h - the process's one helper thread, which takes work off the
 * program's threads: it copies committed redo blocks home for files left
 * idle, allocates and maps storage ahead of files being appended, makes
 * the share blocks that files put off at their open, and frees what the
 * files closed a moment ago left for a reopen (recent.h), lingering files
 * included (nvfile.h). It
 * starts with the first file that needs it, and again in a forked child when
 * needed there.
 */
#ifndef NVMMIO_CORE_HELPER_H
#define NVMMIO_CORE_HELPER_H

#include <stdbool.h>

struct nvfile;

/* Queues f for a checkpoint once it goes idle (the caller holds its lock
 * and just committed redo blocks). */
void nvhelper_checkpoint(struct nvfile *f);

/* Whether the thread is there to prepare storage ahead of appends (not
 * when it cannot start, nor in the crash-model build). */
bool nvhelper_available(void);

/* Queues f for storage ahead of its end: the window it just posted (the
 * caller holds its lock). */
void nvhelper_prepare(struct nvfile *f);

/* Queues f, just opened by the first process to serve it, to have its
 * share block made a moment later (nvfile_share_now); false when there is
 * no thread to do it (the caller makes the block now). */
bool nvhelper_share_later(struct nvfile *f);

/* Has the thread free the entries of recent.h and let go of the lingering
 * files (nvfile.h) as they age, from about delay_ns from now on while some
 * remain. Without a thread, recent.h's entries go at the next keep or take
 * (and no file lingers). */
void nvhelper_expire_later(long delay_ns);

/* Takes f off the queues and waits while the thread works on it; after this
 * the thread never touches f again. */
void nvhelper_forget(struct nvfile *f);

/* The main thread ends with pthread_exit (the process goes on with its
 * other threads): once they have ended too, the helper thread ends, and
 * with it the process, as it would without the library. */
void nvhelper_main_thread_exits(void);

/* Around fork: the thread does not come along to the child. */
void nvhelper_before_fork(void);
void nvhelper_after_fork_parent(void);
void nvhelper_after_fork_child(void);

#endif
