/*
 * log.h - the persistent log of one data file: creating, growing and
 * removing the log file, appending records, committing a state, and walking
 * the records back. What the records mean is the caller's business (the core
 * writes them, recovery.c and the checkpoint apply them).
 */
#ifndef NVMMIO_LOG_LOG_H
#define NVMMIO_LOG_LOG_H

#include <stdbool.h>
#include <stdint.h>

#include "log/format.h"
#include "pmem/persist.h"

/* A new log file's size (the superblock and room for two 4 KiB records);
 * it doubles as it fills (64 MiB steps at most). */
#define NVLOG_INITIAL_SIZE ((uint64_t)16 << 10)

struct nvlog {
    int fd;              /* -1 while the data file has no log */
    struct pm_map map;   /* the whole log file */
    uint64_t size;       /* bytes allocated to the log file */
    uint64_t tail;       /* offset of the next record */
    uint64_t next_index; /* index of the next record in this generation */
    uint64_t live_from;  /* records before this offset are dead or home */
    uint64_t live_from_index;
    struct nvlog_slot state; /* the durable state, as last committed */
};

struct nvlog_rec {
    uint64_t off;   /* offset of the record header in the log */
    uint64_t index; /* position in the generation */
};

static inline bool nvlog_exists(const struct nvlog *log)
{
    return log->fd >= 0;
}

void nvlog_init(struct nvlog *log);

/* Creates the log `name` in directory dirfd for a data file of the given
 * identity and committed size, durably and atomically (a crash leaves no
 * half-made log under that name). Returns 0 or a negative errno. */
int nvlog_create(struct nvlog *log, int dirfd, const char *name, const struct nvlog_identity *id,
                 uint64_t committed_size);

/* Opens an existing log. -ENOENT when there is none; -EBADMSG when neither
 * commit slot is valid. On success log->state is the current slot and the
 * tail is not yet known (see nvlog_walk). */
int nvlog_attach(struct nvlog *log, int dirfd, const char *name);

/* Unmaps and closes; the file stays. */
void nvlog_close(struct nvlog *log);

/* Makes room for records totalling `bytes` (use nvlog_record_span) beyond
 * the tail, growing the file. Returns 0, -ENOSPC or another negative errno;
 * nothing changes on failure. */
int nvlog_reserve(struct nvlog *log, uint64_t bytes);

/* Takes the next record place of data_len bytes; room must be reserved. */
struct nvlog_rec nvlog_alloc(struct nvlog *log, uint64_t data_len);

static inline char *nvlog_data(struct nvlog *log, uint64_t rec_off)
{
    return log->map.base + rec_off + sizeof(struct nvlog_record);
}

/* Writes and flushes a record header; not fenced. */
void nvlog_seal(struct nvlog *log, struct nvlog_rec rec, int kind, uint64_t epoch,
                uint64_t file_offset, uint64_t data_len);

/* Commits a new state durably. With `reset`, every record becomes dead and
 * the next one goes to the start of the log (a new generation). The caller
 * has drained the data the state depends on. Returns 0 or a negative errno. */
int nvlog_commit(struct nvlog *log, uint64_t committed_epoch, uint64_t applied_epoch,
                 uint64_t committed_size, bool reset);

/* Calls visit for every counting record from offset `from` (whose index is
 * from_index) up to `limit`, in log order, stopping at the first record that
 * does not count. Stores where the walk ended. A non-zero return of visit
 * stops the walk and is returned. */
typedef int (*nvlog_visit_fn)(void *arg, const struct nvlog_record *r, const char *data);
int nvlog_walk(struct nvlog *log, uint64_t from, uint64_t from_index, uint64_t limit,
               nvlog_visit_fn visit, void *arg, struct nvlog_rec *end);

/* Bytes of records between live_from and the tail. */
static inline uint64_t nvlog_used(const struct nvlog *log)
{
    return log->fd >= 0 ? log->tail - NVLOG_HEADER_SIZE : 0;
}

#endif
