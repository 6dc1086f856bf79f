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
    int rc = nvops_settle_all();
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    return 0;
}
