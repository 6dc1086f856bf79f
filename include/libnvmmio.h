/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libnvmmio.h - public interface of libnvmmio.
 *
 * The library works without any of this: preload it and every regular file
 * under a pmem root (NVMMIO_PATH) is served from a memory mapping with
 * failure-atomic epochs. A program that links the library directly can in
 * addition ask for one file with O_ATOMIC, force a durability point, and read
 * what the library is doing with a descriptor.
 */
#ifndef LIBNVMMIO_H
#define LIBNVMMIO_H

#include <stdint.h>
#include <fcntl.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Open flag: manage this file even when it is outside every pmem root.
 * The library strips it before the kernel sees the flags; a bit the kernel
 * does not use for open(2), so it is harmless if the library is absent.
 */
#define O_ATOMIC 0x40000000

enum nvmmio_policy {
    NVMMIO_POLICY_UNDO = 0,
    NVMMIO_POLICY_REDO = 1,
};

enum nvmmio_persist_kind {
    NVMMIO_PERSIST_MAP_SYNC = 0, /* DAX mapping with MAP_SYNC: flushes from user space */
    NVMMIO_PERSIST_FORCED = 1,   /* PMEM_IS_PMEM_FORCE: treated as pmem (testing) */
    NVMMIO_PERSIST_MSYNC = 2,    /* ordinary shared mapping persisted with msync */
};

struct nvmmio_stats {
    uint64_t logical_size;   /* the size the program sees */
    uint64_t committed_size; /* the size at the last durability point */
    uint64_t epoch;          /* epochs committed since the log was created */
    uint64_t log_bytes;      /* bytes of log space in use */
    uint64_t redo_pending;   /* committed redo blocks not yet copied home */
    uint32_t policy;         /* enum nvmmio_policy of the running epoch */
    uint32_t persist;        /* enum nvmmio_persist_kind of the data mapping */
    uint32_t sync_mode;      /* 1 when every write is a durability point */
    uint32_t reserved;
    /* What this process did with the file since it opened it (while any
     * descriptor keeps it open); NVMMIO_STATS reports the same at exit.
     * Fields are only ever added at the end (see CHANGELOG.md). */
    uint64_t reads, read_bytes;   /* read family, bytes read */
    uint64_t writes, write_bytes; /* write family, bytes written */
    uint64_t fsyncs;              /* fsync, fdatasync, sync_file_range */
    uint64_t truncates;           /* ftruncate, truncate */
    uint64_t fallocates, fallocate_bytes;
    uint64_t mmaps;              /* the program's mappings of the file */
    uint64_t copies, copy_bytes; /* copy_file_range, sendfile, splice */
    uint64_t epochs_committed;   /* durability points that committed changes */
    uint64_t undo_records;       /* log records written */
    uint64_t redo_records;
    uint64_t checkpoints;  /* checkpoints that copied redo records home */
    uint64_t home_records; /* redo records they copied */
    uint64_t commit_ns;    /* time spent in commits */
};

/* 1 when fd is served by the library, 0 otherwise (including bad fds). */
int nvmmio_is_managed(int fd);

/* Fills *st for a managed fd; -1 with errno EBADF (not a managed fd) or
 * EINVAL (st is NULL). */
int nvmmio_get_stats(int fd, struct nvmmio_stats *st);

/* Makes every managed file of the process durable and copies every committed
 * redo block home, as a normal exit would. Returns 0, or -1 with errno. */
int nvmmio_sync_all(void);

/*
 * Transactions (see libnvmmio(3)): between nvmmio_tx_begin and
 * nvmmio_tx_commit, every write, pwrite, vectored write, ftruncate and
 * fallocate the calling thread makes on managed files belongs to the
 * transaction; the commit makes all of them durable as one unit (after a
 * crash at any moment, all of them are in place or none), the abort undoes
 * them. Each returns 0, or -1 with errno: EBUSY (begin inside a
 * transaction), EINVAL (commit or abort without one), ECANCELED (commit of
 * a transaction the process aborted at fork, exec or spawn). The calls of
 * a transaction fail with EXDEV on a file that cannot take part (served by
 * the kernel, shared with another process, logged in another root).
 */
int nvmmio_tx_begin(void);
int nvmmio_tx_commit(void);
int nvmmio_tx_abort(void);

/* One write of nvmmio_pwritev_atomic: iovcnt buffers of iov at offset of fd. */
struct nvmmio_write {
    int fd;
    off_t offset;
    const struct iovec *iov;
    int iovcnt;
};

/* Writes n writes as one transaction: 0 when every byte of them is
 * durable, or -1 with errno and none of them in place (EBUSY inside a
 * transaction, EINVAL for n < 1 or a NULL ops, and the errors of pwritev,
 * EXDEV for a descriptor that cannot take part). */
int nvmmio_pwritev_atomic(const struct nvmmio_write *ops, int n);

#ifdef __cplusplus
}
#endif

#endif /* LIBNVMMIO_H */
