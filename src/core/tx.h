/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tx.h - transactions of a thread over several managed files: begin,
 * commit as one unit (through a transaction record, log/txrecord.h), abort.
 *
 * A file takes part from the first change the thread makes to it inside the
 * transaction (nvtx_join): its epoch so far is committed, and its running
 * epoch, logged with undo, becomes the transaction's. Until the commit or
 * abort the file's durability points (fsync, close, lock releases, sync-mode
 * writes, by any thread) commit nothing (nvfile_commit asks nvtx_holds), and
 * the transaction keeps the file object alive. Other threads' changes to
 * the file meanwhile fall into the same epoch: a transaction gives
 * atomicity and durability, not isolation.
 */
#ifndef NVMMIO_CORE_TX_H
#define NVMMIO_CORE_TX_H

#include <stdbool.h>

struct nvfile;
struct nvtx;

/* 0, -EBUSY when the thread has one open, -ENOMEM. */
int nvtx_begin(void);

/* 0; -EINVAL without a transaction; -ECANCELED when the process aborted
 * it (fork, exec, spawn); or the errno of a commit that failed before its
 * commit point, the transaction left open (abort it). */
int nvtx_commit(void);

/* 0 (also for a transaction the process aborted); -EINVAL without one. */
int nvtx_abort(void);

/* True while the calling thread has a transaction open. */
bool nvtx_open(void);

/* fd is not managed: -EXDEV when the calling thread has a transaction open
 * and fd is a regular file under a root that the kernel serves for this
 * process (core/kernelfds.h), else 0. */
int nvtx_refuse_kernel_fd(int fd);

/* No lock held. The calling thread is about to change f: inside its
 * transaction the file joins it first. 0, -EBUSY (f is in another
 * thread's transaction), -EXDEV (f cannot take part: shared with another
 * process, or its log lives in another directory than the others'),
 * -ENOSPC (too many files), or the errno of committing f's epoch so far. */
int nvtx_join(struct nvfile *f);

/* Sets the calling thread's transaction aside until nvtx_step_back(the
 * result): changes made meanwhile join nothing and fall into the files'
 * running epochs, as the documentation has it for truncation by name. */
struct nvtx *nvtx_step_out(void);
void nvtx_step_back(struct nvtx *t);

/* Write lock held. True while f takes part in a transaction that is not
 * being committed: its durability points wait for the transaction. */
bool nvtx_holds(const struct nvfile *f);

/* Aborts every open transaction of the process (exec, spawn, fork, exit:
 * the files go to the kernel, or the program ends without a commit). */
void nvtx_abort_all(void);

/* In a forked child: forgets the parent's transactions and record files. */
void nvtx_forget_all(void);

#endif
