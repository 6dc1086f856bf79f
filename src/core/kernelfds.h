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
/* fd is closed or reused: forget it. */
void nvkfd_forget(int fd);
/* newfd is now a copy of oldfd. */
void nvkfd_dup(int oldfd, int newfd);
/* [first, last] are closed (close_range). */
void nvkfd_forget_range(unsigned first, unsigned last);
bool nvkfd_holds(dev_t dev, ino_t ino);

#endif
