/*
 * checkpointer.h - the process's one background thread that copies committed
 * redo blocks home, file by file, so the writer does not wait for it. The
 * thread starts with the first file that needs it, and again in a forked
 * child when needed there.
 */
#ifndef NVMMIO_CORE_CHECKPOINTER_H
#define NVMMIO_CORE_CHECKPOINTER_H

struct nvfile;

/* Queues f (its lock held by the caller, who just committed redo blocks). */
void nvckpt_schedule(struct nvfile *f);

/* Takes f off the queue and waits while the thread works on it; after this
 * the thread never touches f again. */
void nvckpt_forget(struct nvfile *f);

/* In a forked child: the thread did not come along. */
void nvckpt_after_fork_child(void);
void nvckpt_before_fork(void);
void nvckpt_after_fork_parent(void);

#endif
