/*
 * memory.c - the program's own mmap of a managed file. The file is made one
 * with the kernel's view first (committed, redo blocks home), and from then
 * on the library writes it in place, so the program's mapping and the
 * library's reads and writes see the same bytes. Stores through the
 * program's mapping are the program's: durable at msync, not atomic.
 */
#include "interpose/real.h"

#include "core/ops.h"

static void share(int fd, int flags)
{
    if (flags & MAP_ANONYMOUS)
        return;
    struct nvofd *o = nvops_begin(fd);
    if (!o)
        return;
    nvops_share_mapping(o);
    nvops_end(o);
}

NV_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    share(fd, flags);
    return REAL(mmap)(addr, len, prot, flags, fd, off);
}

NV_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
    share(fd, flags);
    return REAL(mmap64)(addr, len, prot, flags, fd, off);
}
