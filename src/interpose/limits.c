/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * limits.c - wrappers of the calls that set resource limits: setrlimit,
 * prlimit and their 64-bit forms. A file size limit (RLIMIT_FSIZE) is the
 * kernel's to enforce, with EFBIG, short writes and SIGXFSZ: managed files
 * go to the kernel before it takes effect, so the storage the library
 * reserves ahead and its logs never run into it.
 *
 * The sanitizer runtimes call setrlimit while they start, before code
 * they instrument may run: this file is built without them (CMakeLists.txt)
 * and sets limits with the kernel's prlimit64, as the C library does.
 */
#include "interpose/real.h"

#include <sys/resource.h>

#include "core/ops.h"
#include "os/sys.h"

_Static_assert(sizeof(struct rlimit) == sizeof(struct rlimit64), "one layout of limits");

static int set_limit(pid_t pid, int resource, const struct rlimit64 *rl, struct rlimit64 *old)
{
    if (resource == RLIMIT_FSIZE && !nv_null(rl) && rl->rlim_cur != RLIM64_INFINITY &&
        (pid == 0 || pid == getpid()))
        nvops_file_size_limited();
    long r = sys_call6(SYS_prlimit64, pid, resource, (long)rl, (long)old, 0, 0);
    if (r < 0) {
        errno = (int)-r;
        return -1;
    }
    return 0;
}

NV_EXPORT int setrlimit(__rlimit_resource_t resource, const struct rlimit *rl)
{
    return set_limit(0, resource, (const struct rlimit64 *)rl, NULL);
}

NV_EXPORT int setrlimit64(__rlimit_resource_t resource, const struct rlimit64 *rl)
{
    return set_limit(0, resource, rl, NULL);
}

NV_EXPORT int prlimit(pid_t pid, enum __rlimit_resource resource, const struct rlimit *rl,
                      struct rlimit *old)
{
    return set_limit(pid, resource, (const struct rlimit64 *)rl, (struct rlimit64 *)old);
}

NV_EXPORT int prlimit64(pid_t pid, enum __rlimit_resource resource, const struct rlimit64 *rl,
                        struct rlimit64 *old)
{
    return set_limit(pid, resource, rl, old);
}
