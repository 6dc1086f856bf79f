/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libpmem.c - the library's persistence table (seam.h): libpmem's own
 * functions, looked up at run time.
 *
 * libpmem comes with the first file mapped, not with the process: a program
 * that never opens a managed file does not carry it, nor what it pulls in
 * (libndctl, libudev, libkmod, libcrypto: about 2 MB of memory and a
 * millisecond of start-up).
 */
#include <dlfcn.h>
#include <errno.h>
#include <libpmem.h>
#include <stdio.h>

#include "pmem/seam.h"

#define PMEM_LIBRARY "libpmem.so.1"

int pm_table_load(struct pm_table *t, char *error, size_t size)
{
    void *h = dlopen(PMEM_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(error, size, "%s", e ? e : PMEM_LIBRARY ": cannot load");
        return -ENOENT;
    }
    const char *missing = NULL;
    /* Through a pointer of libpmem's own type: a header whose signature no
     * longer matches the table's stops the build. */
#define RESOLVE(field, name)                                                                       \
    {                                                                                              \
        __typeof__(&name) fn = (__typeof__(&name))dlsym(h, #name);                                 \
        if (!(t->field = fn))                                                                      \
            missing = #name;                                                                       \
    }
    RESOLVE(memcpy_nodrain, pmem_memcpy_nodrain)
    RESOLVE(memset_nodrain, pmem_memset_nodrain)
    RESOLVE(flush, pmem_flush)
    RESOLVE(drain, pmem_drain)
    RESOLVE(msync, pmem_msync)
    RESOLVE(is_pmem, pmem_is_pmem)
#undef RESOLVE
    if (missing) {
        snprintf(error, size, PMEM_LIBRARY " has no %s", missing);
        return -ENOSYS;
    }
    return 0;
}
