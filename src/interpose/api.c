/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * api.c - the public calls of libnvmmio.h, and the counters of stats.h
 * laid out as struct nvmmio_stats.
 */
#include <errno.h>
#include <string.h>

#include "../include/libnvmmio.h"
#include "core/fdtable.h"
#include "core/nvfile.h"
#include "core/ops.h"
#include "core/stats.h"
#include "core/tx.h"
#include "os/sys.h"

#define API __attribute__((visibility("default")))

API int nvmmio_is_managed(int fd)
{
    return nvfd_is_managed(fd);
}

static void put_counters(const struct nvstats *s, struct nvmmio_stats *st)
{
    struct nvstats c;
    nvstats_read(s, &c);
    st->reads = c.calls[NVSTAT_READ];
    st->read_bytes = c.bytes[NVSTAT_READ];
    st->writes = c.calls[NVSTAT_WRITE];
    st->write_bytes = c.bytes[NVSTAT_WRITE];
    st->fsyncs = c.calls[NVSTAT_FSYNC];
    st->truncates = c.calls[NVSTAT_TRUNCATE];
    st->fallocates = c.calls[NVSTAT_FALLOCATE];
    st->fallocate_bytes = c.bytes[NVSTAT_FALLOCATE];
    st->mmaps = c.calls[NVSTAT_MMAP];
    st->copies = c.calls[NVSTAT_COPY];
    st->copy_bytes = c.bytes[NVSTAT_COPY];
    st->epochs_committed = c.epochs;
    st->undo_records = c.undo_records;
    st->redo_records = c.redo_records;
    st->checkpoints = c.checkpoints;
    st->home_records = c.home_records;
    st->commit_ns = c.commit_ns;
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
    put_counters(&o->file->stats, st);
    nvofd_end(o);
    return 0;
}

API int nvmmio_sync_all(void)
{
    /* Its files' durability point is the transaction's commit. */
    int rc = nvtx_open() ? -EBUSY : nvops_settle_all();
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    return 0;
}

static int api_result(int rc)
{
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    return 0;
}

API int nvmmio_tx_begin(void)
{
    return api_result(nvtx_begin());
}

API int nvmmio_tx_commit(void)
{
    return api_result(nvtx_commit());
}

API int nvmmio_tx_abort(void)
{
    return api_result(nvtx_abort());
}

static size_t iov_bytes(const struct iovec *iov, int iovcnt)
{
    size_t n = 0;
    for (int i = 0; iov && i < iovcnt; i++)
        n += iov[i].iov_len;
    return n;
}

/* One write of a one-shot transaction; a short write is ENOSPC. */
static int write_one(const struct nvmmio_write *w)
{
    if (w->offset < 0)
        return -EINVAL;
    struct nvofd *o = nvops_begin(w->fd);
    if (!o) /* a descriptor of the kernel's, or none */
        return sys_fcntl(w->fd, F_GETFD, 0) < 0 ? -EBADF : -EXDEV;
    ssize_t r = nvops_writev(o, w->iov, w->iovcnt, w->offset, 0);
    nvops_end(o);
    if (r >= 0 && (size_t)r < iov_bytes(w->iov, w->iovcnt))
        return -ENOSPC;
    return r < 0 ? (int)r : 0;
}

API int nvmmio_pwritev_atomic(const struct nvmmio_write *ops, int n)
{
    if (!ops || n < 1)
        return api_result(-EINVAL);
    int rc = nvtx_begin();
    if (rc < 0)
        return api_result(rc);
    for (int i = 0; rc == 0 && i < n; i++)
        rc = write_one(&ops[i]);
    if (rc == 0)
        rc = nvtx_commit();
    if (rc < 0)
        nvtx_abort();
    return api_result(rc);
}
