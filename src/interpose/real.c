/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * real.c - resolving the C library's versions of wrapped calls (see real.h).
 */
#include "interpose/real.h"

#include <dlfcn.h>
#include <gnu/libc-version.h>

static const char *const names[NV_REAL_COUNT] = {
#define NV_REAL_NAME(name) #name,
    NV_REAL_FUNCS(NV_REAL_NAME)
#undef NV_REAL_NAME
};

static void *resolved[NV_REAL_COUNT];

void *nv_real_resolve(enum nv_real_id id)
{
    void *fn = __atomic_load_n(&resolved[id], __ATOMIC_ACQUIRE);
    if (!fn) {
        fn = dlsym(RTLD_NEXT, names[id]);
        __atomic_store_n(&resolved[id], fn, __ATOMIC_RELEASE);
    }
    return fn;
}

void nv_real_resolve_all(void)
{
    for (int id = 0; id < NV_REAL_COUNT; id++)
        nv_real_resolve((enum nv_real_id)id);
}

bool nv_real_is_libc(enum nv_real_id id)
{
    Dl_info fn, libc;
    void *p = nv_real_resolve(id);
    return p && dladdr(p, &fn) && dladdr((void *)gnu_get_libc_version, &libc) &&
           fn.dli_fbase == libc.dli_fbase;
}
