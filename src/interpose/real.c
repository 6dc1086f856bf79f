/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * real.c - resolving the C library's versions of wrapped calls (see real.h).
 */
#include "interpose/real.h"

#include <dlfcn.h>

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
