/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * model.h - the crash model of the persistence module (README.md here): the
 * persistence table (src/pmem/seam.h) of the crash checker's copies of the
 * library, built in place of libpmem's (never into the production library).
 *
 * A killed process loses nothing from the CPU cache, so no real run shows a
 * missing flush or fence. The model keeps, for every file mapped through
 * persist.c, a persisted image: the bytes a power failure would leave right
 * now. A flush records the covered 64-byte lines as they are at that moment,
 * per thread; a fence moves the fencing thread's recorded lines into the
 * persisted image. Lines stored or flushed but not yet fenced are in flight:
 * a crash may keep any subset of them, whole or torn at 8 bytes. Kernel
 * metadata calls (ftruncate, fallocate, unlink, rename, fsync) count as
 * durable at once: an image has the file's current size, zeros in its holes.
 *
 * A checker creates a model, activates it, and gets a callback at every
 * crash point (a fence, or an unmapping) with the model paused. From the
 * callback it may take a snapshot: the persisted image of every file and the
 * in-flight units, in the order they were flushed.
 */
#ifndef NVMMIO_CRASH_MODEL_H
#define NVMMIO_CRASH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NVMODEL_LINE   64u
#define NVMODEL_FRAMES 8

enum nvmodel_event {
    NVMODEL_FENCE = 1, /* pm_drain: before the thread's lines become persistent */
    NVMODEL_UNMAP = 2, /* pm_unmap: before the mapping goes */
};

/* frames: the point's call stack from persist.c's pm_drain, pm_persist or
 * pm_unmap out: then its caller, and so on. */
struct nvmodel_point {
    int event; /* enum nvmodel_event */
    void *frames[NVMODEL_FRAMES];
    int nframes;
};

struct nvmodel;
typedef void (*nvmodel_hook)(void *arg, const struct nvmodel_point *p);

struct nvmodel *nvmodel_new(nvmodel_hook hook, void *arg);
void nvmodel_free(struct nvmodel *m);

/* A model whose files, images and flushed lines live in memory shared with
 * the processes forked after it is made: a fence in any of them persists
 * its own thread's lines into the images all of them see, and a snapshot in
 * any of them has every process's lines in flight. Each process keeps its
 * own mappings and hook (a forked child sets its own). Freed by the
 * process that made it, after the others are gone. */
struct nvmodel *nvmodel_new_shared(nvmodel_hook hook, void *arg);
void nvmodel_set_hook(struct nvmodel *m, nvmodel_hook hook, void *arg);

/* Makes m the model that the table reports to (NULL: none); returns the one
 * that was active. While a hook runs, no model is active. */
struct nvmodel *nvmodel_activate(struct nvmodel *m);

/* Brings every file's size and holes up to date: the kernel's own changes
 * (a hole punched, a file shrunk and grown) are durable at once, but a page
 * can turn from hole to data (zeros) without a store through persist.c, by
 * a load through the mapping. Call between calls of the library. */
void nvmodel_sync(struct nvmodel *m);

/* A fence of the calling thread outside pm_drain: a locked instruction
 * (such as a lock release) orders the thread's earlier flushes on x86. */
void nvmodel_fence_thread(struct nvmodel *m);

struct nvmodel_file {
    uint64_t dev, ino;
    char path[4096];        /* current name; "" when unlinked */
    uint64_t size;          /* the kernel's size */
    const uint8_t *image;   /* persisted image, size bytes */
    uint64_t image_version; /* changes whenever the image changes */
};

enum nvmodel_unit_kind {
    NVMODEL_FLUSHED = 1, /* flushed, not fenced: the contents at flush time */
    NVMODEL_DIRTY = 2,   /* stored, differs from the persisted image */
};

struct nvmodel_unit {
    uint32_t file;    /* index in the snapshot's files */
    uint32_t len;     /* bytes of the line inside the file (64 but at EOF) */
    uint64_t off;     /* file offset of the line */
    uint64_t seq;     /* flush order (dirty units: after every flushed one) */
    const void *site; /* the flush's caller (dirty units: the last flush of the line, or NULL) */
    int kind;         /* enum nvmodel_unit_kind */
    int thread;       /* flushing thread (index), -1 for dirty units */
    uint8_t data[NVMODEL_LINE];
};

struct nvmodel_snapshot {
    struct nvmodel_file *files;
    size_t nfiles;
    struct nvmodel_unit *units; /* in flight, oldest flush first */
    size_t nunits;
};

/* Brings sizes and holes up to date and lists files and in-flight units.
 * Call with the model paused (from a hook, or while not active). The
 * images stay valid until the model runs again. Returns 0 or -ENOMEM. */
int nvmodel_snapshot(struct nvmodel *m, struct nvmodel_snapshot *s);
void nvmodel_snapshot_free(struct nvmodel_snapshot *s);

/* Durability check: the lines of file (dev, ino) that are flushed but not
 * fenced, or differ from the persisted image. Returns their number; *first
 * gets the one at the lowest offset. */
size_t nvmodel_unclean(struct nvmodel *m, uint64_t dev, uint64_t ino, struct nvmodel_unit *first);

struct nvmodel_stats {
    uint64_t flushes, fences, unmaps, lines_flushed;
};
void nvmodel_get_stats(const struct nvmodel *m, struct nvmodel_stats *st);

#endif
