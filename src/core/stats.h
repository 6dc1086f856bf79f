/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stats.h - what the library did, counted per managed file and for the
 * process: calls and bytes by kind, epochs, log records, checkpoints, time
 * in commits, and descriptors left to the kernel by reason. Reported by
 * nvmmio_get_stats and, with NVMMIO_STATS, at normal exit.
 *
 * Counters sit in the file object and cost a load and a store where the
 * caller holds the file's lock exclusively, an atomic add where it holds it
 * shared or not at all. A file's counters join the process's list of files
 * seen when its object is freed, so files closed before the exit are
 * reported too. Nothing here takes memory from malloc (a signal handler may
 * close a file).
 */
#ifndef NVMMIO_CORE_STATS_H
#define NVMMIO_CORE_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/debug.h"

enum nvstat_kind {
    NVSTAT_READ,
    NVSTAT_WRITE,
    NVSTAT_FSYNC,
    NVSTAT_TRUNCATE,
    NVSTAT_FALLOCATE,
    NVSTAT_MMAP,
    NVSTAT_COPY,
    NVSTAT_KINDS
};

/* Why a descriptor of a file under a root is served by the kernel. */
enum nvstat_fallback {
    NVSTAT_FB_OTHER_USER,       /* the file is another user's */
    NVSTAT_FB_OTHER_PROCESS,    /* another process serves it */
    NVSTAT_FB_THROUGH_KERNEL,   /* this process has it open through the kernel */
    NVSTAT_FB_NO_DESCRIPTOR,    /* no descriptor left for the library's own */
    NVSTAT_FB_STD_STREAM,       /* it became descriptor 0, 1 or 2 */
    NVSTAT_FB_FORK,             /* shared with a forked child */
    NVSTAT_FB_FSIZE_LIMIT,      /* a file size limit (RLIMIT_FSIZE) */
    NVSTAT_FB_TOO_LARGE,        /* larger than the library maps */
    NVSTAT_FB_NO_ACCESS,        /* the library may not open it as the program did */
    NVSTAT_FB_UNMAPPED_LOG_DIR, /* its log directory's owner is unmapped here */
    NVSTAT_FB_BARE_CALL,        /* a bare system call (syscall(2), Linux AIO) reached it */
    NVSTAT_FB_NO_MEMORY,        /* no memory or address space left for the library */
    NVSTAT_FB_EXECUTABLE,       /* an executable opened for reading only */
    NVSTAT_FB_LEASE,            /* the program took a lease on it */
    NVSTAT_FB_NO_LIBPMEM,       /* libpmem could not be loaded */
    NVSTAT_FB_FOREIGN_LOG,      /* its log is neither its owner's nor root's */
    NVSTAT_FB_NO_LOG_DIR,       /* this user may not make logs in its log directory */
    NVSTAT_FALLBACKS
};

struct nvstats {
    char *path; /* canonical, in pages of its own */
    int pid;    /* the process whose counts these are */
    uint64_t calls[NVSTAT_KINDS];
    uint64_t bytes[NVSTAT_KINDS];
    uint64_t epochs;       /* commits of a changed epoch */
    uint64_t undo_records; /* records logged */
    uint64_t redo_records;
    uint64_t checkpoints;  /* checkpoints that copied records home */
    uint64_t home_records; /* redo records they copied home */
    uint64_t commit_ns;    /* time spent in commits */
};

/* Reads NVMMIO_STATS; called once, when the settings are read. */
void nvstats_configure(void);

/* The counters of a new file object, named by its canonical path. */
void nvstats_init(struct nvstats *s, const char *path);

/* The object is freed: its counters join the process's files. */
void nvstats_retire(struct nvstats *s);

/* In a forked child, before anything else is freed: the counters so far,
 * those of the objects inherited too, are the parent's. */
void nvstats_forget_all(void);

/* At normal exit: the report NVMMIO_STATS asks for, if any. */
void nvstats_report(void);

void nvstats_trace(const struct nvstats *s, enum nvstat_kind kind, uint64_t bytes);

static inline void nvstats_bump(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

/* A call of the file, with the exclusive lock held. */
static inline void nvstats_count(struct nvstats *s, enum nvstat_kind kind, uint64_t bytes)
{
    nvstats_bump(&s->calls[kind], 1);
    nvstats_bump(&s->bytes[kind], bytes);
    if (__builtin_expect(nv_debug_level() >= NV_DEBUG_CALLS, 0))
        nvstats_trace(s, kind, bytes);
}

/* A call of the file with its lock held shared, or not held. */
static inline void nvstats_count_shared(struct nvstats *s, enum nvstat_kind kind, uint64_t bytes)
{
    __atomic_fetch_add(&s->calls[kind], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->bytes[kind], bytes, __ATOMIC_RELAXED);
    if (__builtin_expect(nv_debug_level() >= NV_DEBUG_CALLS, 0))
        nvstats_trace(s, kind, bytes);
}

/* Exclusive lock held: n records logged under policy redo or undo. */
static inline void nvstats_logged(struct nvstats *s, bool redo, uint64_t n)
{
    nvstats_bump(redo ? &s->redo_records : &s->undo_records, n);
}

/* Exclusive lock held: a commit that began at nvstats_now() == t0. */
void nvstats_committed(struct nvstats *s, uint64_t t0);

/* Exclusive lock held: a checkpoint that copied n records home. */
static inline void nvstats_checkpointed(struct nvstats *s, long n)
{
    if (n > 0) {
        nvstats_bump(&s->checkpoints, 1);
        nvstats_bump(&s->home_records, (uint64_t)n);
    }
}

uint64_t nvstats_now(void);

/* A descriptor left to the kernel (no lock held); _if when `yes`, _fd when
 * fd is managed (before it goes). */
void nvstats_fallback(enum nvstat_fallback why);
void nvstats_fallback_if(bool yes, enum nvstat_fallback why);
void nvstats_fallback_fd(int fd, enum nvstat_fallback why);

/* The reason an open leaves a file to the kernel at once: a reason found
 * (the file too large, or a file size limit), or none (open through the
 * kernel in this process). */
enum nvstat_fallback nvstats_why_kernel_only(bool reason, bool too_large);

/* A copy call moved n bytes into or out of the managed descriptors among
 * in and out. */
void nvstats_copied(int in, int out, uint64_t n);

/* A consistent-enough snapshot of the counters (any lock or none). */
void nvstats_read(const struct nvstats *s, struct nvstats *out);

#endif
