/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * txrecord.h - the commit point of a transaction over several files: a
 * record, in the log directory the files' logs share, that names each
 * file's log and the epoch its commit makes durable.
 *
 * A transaction's commit drains every file's records and home bytes, then
 * persists its record (the commit point), then writes each log's commit
 * slot. Recovery of any one of the files consults the live records of its
 * directory: a durable record naming the log's next epoch means that every
 * file's data was durable when the commit point passed, so the epoch is
 * committed from the record (roll forward); without one, the epoch is
 * undone as any uncommitted epoch is. Each file is decided alone, so
 * recovering one file now and the others later, in other processes, or a
 * crash during recovery, comes to the same outcome.
 *
 * On media, TXDIR/tx-NONCE.rec: one header and its entries, CRC-32C over
 * both. A record stays valid after its commit (it is dead once every log
 * it names committed its epoch) and is overwritten by its thread's next
 * transaction; a torn overwrite fails the checksum, which is harmless then,
 * since no slot of the new transaction is written before its record is
 * durable. The writing process holds an OFD lock on the file; a record whose
 * owner is gone and that no log needs any more is removed when a process
 * makes its own record file in the directory. Recovery never removes one:
 * the other files it names may be recovered later.
 */
#ifndef NVMMIO_LOG_TXRECORD_H
#define NVMMIO_LOG_TXRECORD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "log/format.h"
#include "log/log.h"
#include "pmem/persist.h"

#define NVTXREC_MAGIC    0x43455258544d564eULL /* "NVMTXREC" */
#define NVTXREC_VERSION  1u
#define NVTXREC_MAX      64u /* files in one transaction */
#define NVTXREC_NAME_MAX 40u

struct nvtxrec_entry {
    struct nvlog_identity file;  /* the data file, as its log's slot names it */
    uint64_t instance;           /* the log's (nvlog_slot.instance) */
    char name[NVTXREC_NAME_MAX]; /* the log's name in the directory */
    uint64_t epoch;              /* the epoch the commit makes durable */
    uint64_t applied;            /* the slot's fields as the commit writes them */
    uint64_t size;
    uint64_t gen;     /* the generation the epoch's records are in */
    uint64_t records; /* records of that generation the commit counts */
    uint32_t reset;   /* the commit retires every record (undo epoch) */
    uint32_t reserved;
};

struct nvtxrec_header {
    uint64_t magic;
    uint32_t version;
    uint32_t count;
    uint64_t seq;
    uint64_t reserved[4];
    uint32_t reserved32;
    uint32_t checksum; /* of header and entries, this field taken as zero */
};

_Static_assert(sizeof(struct nvtxrec_entry) == 128, "entry layout");
_Static_assert(sizeof(struct nvtxrec_header) == 64, "header layout");

/* A record file of this process, mapped for writing. */
struct nvtxrec {
    int fd; /* -1: none yet */
    struct pm_map map;
    uint64_t seq;
    char name[32];
};

void nvtxrec_init(struct nvtxrec *r);

/* Makes a new record file in dirfd, durably, locked as this process's, and
 * removes the records there that no process holds and no log needs. 0 or a
 * negative errno. */
int nvtxrec_create(struct nvtxrec *r, int dirfd);

/* Closes the record file; with dirfd >= 0 it is removed too. */
void nvtxrec_close(struct nvtxrec *r, int dirfd);

/* The entry for the commit of log's running epoch `epoch` with the file at
 * `size` (the log named `name`, drained: see nvjournal_prepare). */
int nvtxrec_entry_fill(struct nvtxrec_entry *e, const struct nvlog *log, const char *name,
                       uint64_t epoch, uint64_t size, bool reset);

/* Fills h's magic, version and checksum over h and its h->count entries. */
void nvtxrec_seal(struct nvtxrec_header *h, const struct nvtxrec_entry *e);

/* Whether the n bytes read of a record file (header h, entries e after it)
 * are a whole, sealed record. */
bool nvtxrec_valid(const struct nvtxrec_header *h, const struct nvtxrec_entry *e, size_t n);

/* The commit point: writes and persists the record of n entries. */
int nvtxrec_write(struct nvtxrec *r, const struct nvtxrec_entry *e, uint32_t n);

/* Recovery, log attached read-write from dirfd: when a valid record in
 * dirfd (owned by `owner` or root, see nvlog_file_check) names this log with the epoch after its
 * committed one, commits that epoch from the record. 1 when it did, 0 when no record asks it, or a
 * negative errno. */
int nvtxrec_complete(int dirfd, struct nvlog *log, uid_t owner);

/* The entry of a valid record in dirfd (owned by `owner` or root) that
 * names the log whose current slot is `state` with the epoch after its
 * committed one: 1 with *e, 0 when there is none, or a negative errno. */
int nvtxrec_find(int dirfd, const struct nvlog_slot *state, uid_t owner, struct nvtxrec_entry *e);

/* What the commit an entry names makes of the slot (for a read-only look:
 * nvlog_inspect). */
void nvtxrec_apply(struct nvlog_slot *state, const struct nvtxrec_entry *e);

/* Removes the records of dirfd owned by `owner` or root that no process
 * holds and no log needs any more. */
void nvtxrec_prune(int dirfd, uid_t owner);

#endif
