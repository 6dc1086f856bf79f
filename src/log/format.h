/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * format.h - the on-media format of a log file. Offsets only, no pointers.
 *
 * A log file belongs to one data file and lives in ROOT/.nvmmio/ under the
 * name DEV-INO.log. Layout:
 *
 *   [0, 4096)      superblock: two commit slots, at 0 and 256. The valid slot
 *                  (magic, version, checksum) with the higher seq is the
 *                  state; a commit writes the other slot, so a torn commit
 *                  leaves the previous state in force.
 *   [4096, ...)    records, back to back, each a 64-byte header and its data
 *                  padded to 64 bytes. A record counts only if its header
 *                  checksum holds, its gen equals the slot's gen and its
 *                  index equals its position in the sequence; the scan stops
 *                  at the first record that does not count. The header
 *                  holds the CRC-32C of the record's data too; recovery
 *                  checks it for every record it would apply before it
 *                  applies any. A slot counts the records its commit
 *                  covers: a scan that stops short of them meets damage,
 *                  not the torn tail of an epoch that never committed.
 *
 * Undo records hold the first pre-image of a block in an epoch; they matter
 * while their epoch is above committed_epoch. Redo records hold the new
 * contents of a block; they matter while applied_epoch < epoch <=
 * committed_epoch. A slot names the file it belongs to (device, inode and
 * birth time), so a log left behind by a deleted file is never applied to a
 * new file that reuses the inode number.
 *
 * The superblock also holds the watch, at NVLOG_WATCH_OFFSET: two entries
 * written alternately as the slots are (the valid one with the higher seq
 * counts), each the data file's size and mtime as the library last left
 * them, which of the two it vouches for, and the boot they were taken in.
 * Recovery in that same boot keeps the log aside, unapplied, when the file
 * no longer matches: another program changed it since. A log with no valid
 * entry (zeros: a log of a library without the watch) is applied unwatched,
 * so the version stays 2.
 *
 * Version 2 added the data checksum (a version 1 record's data had none) and
 * the slot's record count; a version 1 log fails the slot check.
 */
#ifndef NVMMIO_LOG_FORMAT_H
#define NVMMIO_LOG_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NVLOG_MAGIC        0x474f4c4f4d4d564eULL /* "NVMMOLOG" */
#define NVLOG_VERSION      2u
#define NVLOG_SLOT_STRIDE  256u
#define NVLOG_HEADER_SIZE  4096u
#define NVLOG_RECORD_MAGIC 0x4352564eu /* "NVRC" */
#define NVLOG_ALIGN        64u

#define NVLOG_MIN_SHIFT 12 /* 4 KiB blocks */
#define NVLOG_MAX_SHIFT 21 /* 2 MiB blocks, also the size of an index region */

enum nvlog_kind {
    NVLOG_UNDO = 1,
    NVLOG_REDO = 2,
};

struct nvlog_identity {
    uint64_t dev;
    uint64_t ino;
    int64_t btime_sec;
    uint32_t btime_nsec;
    uint32_t reserved;
};

struct nvlog_slot {
    uint64_t magic;
    uint32_t version;
    uint32_t slot_size;
    uint64_t seq;
    struct nvlog_identity id;
    uint64_t committed_epoch;
    uint64_t applied_epoch;
    uint64_t committed_size;
    uint64_t gen;
    uint64_t records;  /* records of generation gen that the commit covers */
    uint64_t instance; /* set when the log is made: tells it from a later log of the file */
    uint64_t reserved[2];
    uint32_t reserved32;
    uint32_t checksum;
};

struct nvlog_record {
    uint32_t magic;
    uint8_t kind;
    uint8_t reserved8;
    uint16_t reserved16;
    uint64_t gen;
    uint64_t index;
    uint64_t epoch;
    uint64_t file_offset;
    uint64_t data_len;
    /* A redo record's bytes that its epoch wrote, [lo, hi) from
     * file_offset as lo | hi << 32 (NVLOG_WRITTEN); 0: all of them. Only
     * those go home: the rest is what the block held when the record was
     * made, which another program may have changed since. */
    uint64_t written;
    uint32_t data_checksum; /* CRC-32C of the data_len bytes of data */
    uint32_t checksum;      /* of the header, this field taken as zero */
};

#define NVLOG_WRITTEN(lo, hi) ((uint64_t)(lo) | (uint64_t)(hi) << 32)
#define NVLOG_WRITTEN_LO(w)   ((w)&UINT32_MAX)
#define NVLOG_WRITTEN_HI(w)   ((w) >> 32)

#define NVLOG_WATCH_OFFSET 1024u
#define NVLOG_WATCH_MAGIC  0x484354415756564eULL /* "NVVWATCH" */

enum nvlog_watch_flags {
    NVLOG_WATCH_SIZE = 1,       /* the size is the file's, as the library left it */
    NVLOG_WATCH_MTIME = 2,      /* and so is the mtime: the library cannot move it unseen */
    NVLOG_WATCH_MTIME_LOST = 4, /* the library may move it unseen for the rest of the log */
};

struct nvlog_watch {
    uint64_t magic;
    uint64_t seq;
    uint64_t size;
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    uint32_t flags;
    uint8_t boot_id[16]; /* the kernel's boot id when the entry was written */
    uint32_t reserved;
    uint32_t checksum;
};

_Static_assert(sizeof(struct nvlog_slot) == 128, "slot layout");
_Static_assert(sizeof(struct nvlog_watch) == 64, "watch layout");
_Static_assert(sizeof(struct nvlog_record) == NVLOG_ALIGN, "record layout");

/* Seals a slot: fills magic, version, size and checksum. */
void nvlog_slot_seal(struct nvlog_slot *s);
bool nvlog_slot_valid(const struct nvlog_slot *s);

/* Picks the state among the two slots at the head of a log; NULL when
 * neither is valid. */
const struct nvlog_slot *nvlog_slot_current(const void *superblock);

/* Offset of the slot a commit with sequence seq writes. */
static inline size_t nvlog_slot_offset(uint64_t seq)
{
    return (size_t)(seq & 1) * NVLOG_SLOT_STRIDE;
}

void nvlog_record_seal(struct nvlog_record *r);

/* True when r counts in generation gen at position index. */
bool nvlog_record_valid(const struct nvlog_record *r, uint64_t gen, uint64_t index);

/* True when r's block lies where a block may lie: aligned to the smallest
 * block, no longer than the largest, inside the offsets the index covers. */
bool nvlog_record_bounded(const struct nvlog_record *r);

/* True when the data_len bytes at data match r's data checksum. */
bool nvlog_record_data_valid(const struct nvlog_record *r, const void *data);

/* Bytes a record with data_len bytes of data occupies. */
static inline size_t nvlog_record_span(size_t data_len)
{
    return sizeof(struct nvlog_record) +
           ((data_len + NVLOG_ALIGN - 1) & ~(size_t)(NVLOG_ALIGN - 1));
}

void nvlog_watch_seal(struct nvlog_watch *w);
bool nvlog_watch_valid(const struct nvlog_watch *w);

/* The watch entry in force in a superblock; NULL when neither is valid. */
const struct nvlog_watch *nvlog_watch_current(const void *superblock);

/* Offset of the watch entry with sequence seq. */
static inline size_t nvlog_watch_offset(uint64_t seq)
{
    return NVLOG_WATCH_OFFSET + (size_t)(seq & 1) * sizeof(struct nvlog_watch);
}

bool nvlog_identity_equal(const struct nvlog_identity *a, const struct nvlog_identity *b);

#endif
