/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * unit_util.h - helpers shared by the unit tests: a scratch directory in
 * /dev/shm, whole-file reads and writes, and the choice of persistence path.
 * Header only; every function is static so each test links alone.
 */
#ifndef NVMMIO_TESTS_UNIT_UTIL_H
#define NVMMIO_TESTS_UNIT_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/checksum.h"
#include "log/log.h"
#include "pmem/persist.h"

/* The data checksum of a record whose data_len bytes are in place. */
static inline uint32_t nvlog_data_crc(struct nvlog *log, struct nvlog_rec rec, uint64_t data_len)
{
    return nv_crc32c(0, nvlog_data(log, rec.off), (size_t)data_len);
}

/* Where a refusal's reason goes when a test does not look at it. */
static const char *why __attribute__((unused));

/* Chooses the persistence path before the first libpmem call: "forced" sets
 * PMEM_IS_PMEM_FORCE=1 (libpmem flushes and fences), anything else unsets it
 * (ordinary shared mappings, msync). Returns the pm_kind a map of a /dev/shm
 * file gets. libpmem reads the variable once, on its first pmem_is_pmem. */
static inline int unit_select_pmem(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "forced") == 0) {
        setenv("PMEM_IS_PMEM_FORCE", "1", 1);
        return PM_KIND_FORCED;
    }
    unsetenv("PMEM_IS_PMEM_FORCE");
    return PM_KIND_MSYNC;
}

/* A fresh directory in /dev/shm and a descriptor of it. */
struct unit_dir {
    char path[64];
    int fd;
};

static inline int unit_dir_make(struct unit_dir *d)
{
    snprintf(d->path, sizeof(d->path), "/dev/shm/nvmmio-unit.XXXXXX");
    if (!mkdtemp(d->path))
        return -errno;
    d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return d->fd < 0 ? -errno : 0;
}

static int unit_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline int unit_dir_remove(struct unit_dir *d)
{
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
    return nftw(d->path, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline int unit_write_file(int dirfd, const char *name, const void *buf, size_t n)
{
    int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    ssize_t w = n ? pwrite(fd, buf, n, 0) : 0;
    int rc = w == (ssize_t)n ? 0 : -EIO;
    close(fd);
    return rc;
}

/* Reads a whole file into a malloc'd buffer (at least one byte); NULL when
 * it cannot be opened. *n receives its size. */
/* Buffers a test keeps until its teardown, which frees them even after a
 * failed assertion. */
#define UNIT_KEPT_MAX 32
struct unit_kept {
    void *buf[UNIT_KEPT_MAX];
    int n;
};

/* Keeps buf; NULL (buf freed) when it is NULL or there is no room. */
static inline void *unit_keep(struct unit_kept *k, void *buf)
{
    if (!buf || k->n == UNIT_KEPT_MAX) {
        free(buf);
        return NULL;
    }
    return k->buf[k->n++] = buf;
}

static inline void unit_kept_free(struct unit_kept *k)
{
    for (int i = 0; i < k->n; i++)
        free(k->buf[i]);
    k->n = 0;
}

static inline char *unit_read_file(int dirfd, const char *name, size_t *n)
{
    *n = 0;
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) == 0) {
        buf = malloc((size_t)st.st_size + 1);
        if (buf && pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
            free(buf);
            buf = NULL;
        }
        *n = (size_t)st.st_size;
    }
    close(fd);
    return buf;
}

static inline int unit_exists(int dirfd, const char *name)
{
    return faccessat(dirfd, name, F_OK, 0) == 0;
}

static inline int64_t unit_file_size(int dirfd, const char *name)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, 0) != 0)
        return -errno;
    return st.st_size;
}

/* True when n bytes at p all equal c. */
static inline int unit_all(const void *p, int c, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)c)
            return 0;
    return 1;
}

#endif
