/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * memory.c - the program's own mmap of a managed file. The file is made one
 * with the kernel's view first (committed, redo blocks home), and from then
 * on the library writes it in place and takes no byte past its own writes
 * to be zero, so the program's mapping and the library's reads and writes
 * see the same bytes, for as long as the process lives (a mapping outlives
 * the descriptor it was made through). Stores through the program's
 * mapping are the program's: not logged, part of the file's next
 * durability point.
 */
#include <errno.h>
#include <stdbool.h>

#include "interpose/real.h"

#include "core/ops.h"

/* Makes the file of fd, if managed, one with the kernel's view; false with
 * errno set when that failed (the mapping is then refused). */
static bool share(int fd, int flags)
{
    if (flags & MAP_ANONYMOUS)
        return true;
    struct nvofd *o = nvops_begin(fd);
    if (!o)
        return true;
    int rc = nvops_share_mapping(o);
    nvops_end(o);
    if (rc < 0)
        errno = -rc;
    return rc == 0;
}

NV_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return share(fd, flags) ? REAL(mmap)(addr, len, prot, flags, fd, off) : MAP_FAILED;
}

NV_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
    return share(fd, flags) ? REAL(mmap64)(addr, len, prot, flags, fd, off) : MAP_FAILED;
}
