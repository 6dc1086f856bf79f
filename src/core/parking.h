/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * parking.h - the library's own descriptors of managed files, within a
 * budget. Each managed file has a descriptor of the library's (f->fd, see
 * nvfile.h) besides the program's; a program with thousands of files open
 * would lose half its descriptors to them. So at most NVPARK_BUDGET of them
 * (a 64th of the descriptor limit when that is lower, at least 4) stay
 * open: the least recently used idle file's is closed ("parked") to make
 * room, and opened again, through one of the program's descriptors of the
 * file, when its file's lock is next taken (nvfile_lock). f->fd is only
 * ever closed under the file's exclusive lock, so whoever holds the lock in
 * either mode may use it once nvpark_fd has returned.
 */
#ifndef NVMMIO_CORE_PARKING_H
#define NVMMIO_CORE_PARKING_H

struct nvfile;

#define NVPARK_BUDGET 48

/* f is open as the program's descriptor kfd (a new object or one more
 * descriptor of it): kfd is where its descriptor is found again, and a
 * new object's descriptor starts to count against the budget. */
void nvpark_adopted(struct nvfile *f, int kfd);

/* f->fd, opened again if it was parked (the caller holds f's lock), or a
 * negative errno when no descriptor of the file can be had. */
int nvpark_fd(struct nvfile *f);

/* f is going away: its descriptor no longer counts, and is never parked
 * again (nvpark_fd still opens it when needed). */
void nvpark_forget(struct nvfile *f);

/* f has no descriptor of the program's left for now (it lingers, see
 * nvfile.h): its descriptor no longer counts and is never parked, until
 * nvpark_adopted counts it again. */
void nvpark_idle(struct nvfile *f);

/* The program needs a descriptor and the kernel has no number left
 * (EMFILE): every idle file's descriptor that the program could have (one
 * below the limit: a limit lowered since leaves others above it) is
 * parked, to be opened again when its file is next used. Returns how many
 * were closed. */
int nvpark_all(void);

/* In a forked child, before its files are abandoned. */
void nvpark_after_fork_child(void);

#endif
