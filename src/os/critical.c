/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * critical.c - the way out of a thread's critical sections (see
 * critical.h).
 */
#include "os/critical.h"

#include <signal.h>

#include "os/sys.h"

__thread struct nv_critical nv_critical_self __attribute__((tls_model("initial-exec")));

void nv_critical_release(void)
{
    /* A signal arriving from here on finds depth 0 and is delivered at
     * once, so it never marks the set being released. */
    uint64_t set = nv_critical_self.deferred;
    __atomic_store_n(&nv_critical_self.deferred, 0, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    sys_sigprocmask(SIG_UNBLOCK, &set, NULL);
}

void nv_critical_restore(unsigned depth)
{
    nv_critical_self.depth = depth + 1;
    nv_critical_leave();
}
