/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ops_internal.h - what the files behind ops.h share among themselves and
 * nothing else sees: where a managed file's logs live, which descriptors
 * the library may manage, the access modes as the kernel reads them, and
 * the answer for a change the file object cannot hold.
 */
#ifndef NVMMIO_CORE_OPS_INTERNAL_H
#define NVMMIO_CORE_OPS_INTERNAL_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../include/libnvmmio.h"
#include "core/config.h"
#include "core/fdtable.h"
#include "core/ops.h"
#include "os/sys.h"

#define LOG_DIR_NAME ".nvmmio"

/* The C library's stdin, stdout and stderr read and write descriptors 0, 1
 * and 2 through internal calls a preload cannot see: the library manages
 * descriptors from 3 up. */
#define FIRST_MANAGED_FD 3

static inline int canonical_path(int kfd, char *out, size_t n)
{
    char self[64];
    snprintf(self, sizeof(self), "/proc/self/fd/%d", kfd);
    long len = sys_readlinkat(AT_FDCWD, self, out, n - 1);
    if (len < 0 || (size_t)len >= n - 1)
        return len < 0 ? (int)len : -ENAMETOOLONG;
    out[len] = '\0';
    return out[0] == '/' ? 0 : -ENOENT; /* anonymous or deleted objects */
}

/* The directory that holds the logs of the files under root. */
static inline int root_log_dir(const char *root, char *out, size_t n)
{
    int len = snprintf(out, n, "%s/%s", root[1] ? root : "", LOG_DIR_NAME);
    return len < (int)n ? 0 : -ENAMETOOLONG;
}

/* The directory that holds the logs of the file at canonical path, or ""
 * when the file is not managed. */
static inline int log_dir_of(const char *canon, int flags, char *out, size_t n)
{
    const char *root = nv_config_root_of(canon);
    int len;
    if (root) {
        size_t rl = strlen(root);
        const char *rest = canon + (rl == 1 ? 0 : rl);
        /* The logs themselves are never managed. */
        if (!strncmp(rest, "/" LOG_DIR_NAME "/", sizeof(LOG_DIR_NAME) + 1))
            return 0;
        return root_log_dir(root, out, n);
    } else if (flags & O_ATOMIC) {
        const char *slash = strrchr(canon, '/');
        len = snprintf(out, n, "%.*s/%s", (int)(slash - canon), canon, LOG_DIR_NAME);
    } else {
        return 0;
    }
    return len < (int)n ? 0 : -ENAMETOOLONG;
}

/* The access mode as the kernel reads it: O_RDONLY reads, O_WRONLY writes,
 * O_RDWR both, and the fourth mode (O_RDWR | O_WRONLY) neither. */
static inline bool can_read(const struct nvofd *o)
{
    int mode = o->flags & O_ACCMODE;
    return mode == O_RDONLY || mode == O_RDWR;
}

static inline bool can_write(const struct nvofd *o)
{
    int mode = o->flags & O_ACCMODE;
    return mode == O_WRONLY || mode == O_RDWR;
}

/* A change the file object cannot hold (past NVFILE_MAX_SIZE), or that
 * finds no memory, address space or descriptor left for the library's part
 * (its log), goes to the kernel, which gives its own answer: tmpfs, for
 * one, takes larger files, and the kernel's write needs no mapping and no
 * descriptor more. */
static inline long beyond_mapping(long rc)
{
    return rc == -EFBIG                     ? NVOPS_TO_KERNEL
           : rc == -ENOMEM                  ? NVOPS_NO_MEMORY
           : rc == -EMFILE || rc == -ENFILE ? NVOPS_NO_DESCRIPTOR
                                            : rc;
}

/* Under f's write lock: the kernel shows the file as the library does (no
 * preallocated tail that a write through the kernel could land in and a
 * later settle cut), and every write that takes the lock after goes
 * through the kernel's descriptor. 0 or a negative errno. */
int nvops_expose_to_kernel(struct nvfile *f);

/* Leaves fd to the kernel with its offset when it is a descriptor of f (of
 * any file, f NULL); the last descriptor of a file settles it. */
void nvops_descriptor_to_kernel(int fd, const struct nvfile *f);

/* The process ends: opens from now on are the kernel's. */
void nvops_process_ending(void);

#endif
