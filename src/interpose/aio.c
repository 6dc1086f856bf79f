/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * aio.c - wrappers of POSIX AIO (aio_read, aio_write, aio_fsync,
 * lio_listio). The C library carries the requests out on threads of its
 * own with its internal read and write, which the library does not see:
 * each managed file a request names is handed to the kernel first, as for
 * a bare system call (nvops_bare_call), so that both see the same bytes.
 */
#include "interpose/real.h"

#include <aio.h>

#include "core/ops.h"

static void to_kernel(const struct aiocb *cb)
{
    if (nv_null(cb))
        return;
    nvstats_fallback_fd(cb->aio_fildes, NVSTAT_FB_BARE_CALL);
    nvops_to_kernel(cb->aio_fildes, "is reached by POSIX AIO");
}

NV_EXPORT int aio_read(struct aiocb *cb)
{
    to_kernel(cb);
    return REAL(aio_read)(cb);
}

NV_EXPORT int aio_read64(struct aiocb64 *cb)
{
    to_kernel((const struct aiocb *)cb);
    return REAL(aio_read64)(cb);
}

NV_EXPORT int aio_write(struct aiocb *cb)
{
    to_kernel(cb);
    return REAL(aio_write)(cb);
}

NV_EXPORT int aio_write64(struct aiocb64 *cb)
{
    to_kernel((const struct aiocb *)cb);
    return REAL(aio_write64)(cb);
}

NV_EXPORT int aio_fsync(int op, struct aiocb *cb)
{
    to_kernel(cb);
    return REAL(aio_fsync)(op, cb);
}

NV_EXPORT int aio_fsync64(int op, struct aiocb64 *cb)
{
    to_kernel((const struct aiocb *)cb);
    return REAL(aio_fsync64)(op, cb);
}

NV_EXPORT int lio_listio(int mode, struct aiocb *const list[], int n, struct sigevent *sev)
{
    for (int i = 0; i < n && !nv_null(list); i++)
        to_kernel(list[i]);
    return REAL(lio_listio)(mode, list, n, sev);
}

NV_EXPORT int lio_listio64(int mode, struct aiocb64 *const list[], int n, struct sigevent *sev)
{
    for (int i = 0; i < n && !nv_null(list); i++)
        to_kernel((const struct aiocb *)list[i]);
    return REAL(lio_listio64)(mode, list, n, sev);
}
