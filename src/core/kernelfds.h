/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kernelfds.h - descriptors of files the library handed to the kernel in
 * this process (standard streams, files shared with a forked child). While
 * one of them is open, the kernel may change the file behind the library's
 * back, so the file is not managed again in this process: a new open of it
 * stays with the kernel too.
 */
#ifndef NVMMIO_CORE_KERNELFDS_H
#define NVMMIO_CORE_KERNELFDS_H

#include <stdbool.h>
#include <sys/types.h>

void nvkfd_add(int fd, dev_t dev, ino_t ino);

/* The fork handlers: the list's lock is held across a fork. */
void nvkfd_before_fork(void);
void nvkfd_after_fork(void);

/* The same for a file that another process serves: its canonical path and
 * log directory are kept, so that if that process ends and leaves the
 * file's log behind, this one recovers the file before going on (see
 * nvops_lock_taken). */
void nvkfd_add_served_elsewhere(int fd, dev_t dev, ino_t ino, const char *path,
                                const char *log_dir);

/* The files served elsewhere, one entry each: *n of them, copied (freed
 * with nvkfd_served_free). */
struct nvkfd_served {
    int fd;
    dev_t dev;
    ino_t ino;
    char *path, *log_dir;
};
struct nvkfd_served *nvkfd_served_elsewhere(size_t *n);
void nvkfd_served_free(struct nvkfd_served *s, size_t n);
/* fd is closed or reused: forget it. */
void nvkfd_forget(int fd);
/* newfd is now a copy of oldfd. */
void nvkfd_dup(int oldfd, int newfd);
/* [first, last] are closed (close_range). */
void nvkfd_forget_range(unsigned first, unsigned last);
bool nvkfd_holds(dev_t dev, ino_t ino);

#endif
