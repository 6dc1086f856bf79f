/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * api.c - the public calls of libnvmmio.h.
 */
#include <errno.h>
#include <string.h>

#include "../include/libnvmmio.h"
#include "core/fdtable.h"
#include "core/nvfile.h"
#include "core/ops.h"

#define API __attribute__((visibility("default")))

API int nvmmio_is_managed(int fd)
{
    return nvfd_is_managed(fd);
}

API int nvmmio_get_stats(int fd, struct nvmmio_stats *st)
{
    if (!st) {
        errno = EINVAL;
        return -1;
    }
    struct nvofd *o = nvfd_begin(fd);
    if (!o) {
        errno = EBADF;
        return -1;
    }
    nvfile_stats(o->file, st);
    st->sync_mode = nvfile_sync_mode(o->flags);
    nvofd_end(o);
    return 0;
}

API int nvmmio_sync_all(void)
{
    int rc = nvops_settle_all();
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    return 0;
}
