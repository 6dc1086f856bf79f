/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_recovery.c - a libFuzzer target over the log parser and recovery
 * (src/log): any bytes in a log file must give a clear refusal or a correct
 * recovery, never a crash, a hang or an access out of bounds.
 *
 * An input is one byte of switches, then the bytes of the log file. Random
 * bytes seldom pass a checksum, so the switches let the fuzzer reach past
 * each check: bit 0 writes the data file's identity into both commit slots
 * and reseals them; bit 1 makes each record header in turn count (magic,
 * generation, index) and reseals it; bit 2 also seals each record's data
 * checksum. The data file is the same 64 KiB each run. After a recovery
 * that reports success, the file must have the committed size of the slot
 * in force.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log/checksum.h"
#include "log/recovery.h"

#define DATA_SIZE  ((size_t)64 << 10)
#define LOG_NAME   "f.log"
#define DATA_NAME  "data"
#define MAX_LOG    ((size_t)1 << 20)
#define FIX_SLOTS  1u
#define FIX_HEADER 2u
#define FIX_DATA   4u

static char dir[64];
static int dirfd_ = -1;

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_dir(void)
{
    if (dir[0])
        nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    unsetenv("PMEM_IS_PMEM_FORCE");
    snprintf(dir, sizeof(dir), "/dev/shm/nvmmio-fuzz.XXXXXX");
    if (!mkdtemp(dir) || (dirfd_ = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        perror("fuzz_recovery: scratch directory");
        exit(2);
    }
    atexit(remove_dir);
    return 0;
}

static char pattern[DATA_SIZE];

static int make_data(struct nvlog_identity *id)
{
    for (size_t i = 0; i < DATA_SIZE; i++)
        pattern[i] = (char)('A' + (i >> 12) % 26);
    unlinkat(dirfd_, DATA_NAME, 0);
    int fd = openat(dirfd_, DATA_NAME, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || pwrite(fd, pattern, DATA_SIZE, 0) != (ssize_t)DATA_SIZE)
        abort();
    struct statx stx;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_BTIME, &stx) < 0)
        abort();
    *id = (struct nvlog_identity){
        .dev = makedev(stx.stx_dev_major, stx.stx_dev_minor),
        .ino = stx.stx_ino,
        .btime_sec = (stx.stx_mask & STATX_BTIME) ? stx.stx_btime.tv_sec : 0,
        .btime_nsec = (stx.stx_mask & STATX_BTIME) ? stx.stx_btime.tv_nsec : 0,
    };
    return fd;
}

static void fix_slots(uint8_t *log, size_t n, const struct nvlog_identity *id)
{
    for (size_t off = 0; off <= NVLOG_SLOT_STRIDE; off += NVLOG_SLOT_STRIDE) {
        if (off + sizeof(struct nvlog_slot) > n)
            return;
        struct nvlog_slot s;
        memcpy(&s, log + off, sizeof(s));
        s.id = *id;
        nvlog_slot_seal(&s);
        memcpy(log + off, &s, sizeof(s));
    }
}

static void fix_records(uint8_t *log, size_t n, unsigned switches)
{
    if (n < NVLOG_HEADER_SIZE)
        return;
    const struct nvlog_slot *cur = nvlog_slot_current(log);
    uint64_t gen = cur ? cur->gen : 0;
    size_t off = NVLOG_HEADER_SIZE;
    for (uint64_t index = 0; off + sizeof(struct nvlog_record) <= n; index++) {
        struct nvlog_record r;
        memcpy(&r, log + off, sizeof(r));
        r.gen = gen;
        r.index = index;
        size_t room = n - off - sizeof(r);
        if (r.data_len > room)
            r.data_len = room;
        if (switches & FIX_DATA)
            r.data_checksum = nv_crc32c(0, log + off + sizeof(r), (size_t)r.data_len);
        nvlog_record_seal(&r);
        memcpy(log + off, &r, sizeof(r));
        off += nvlog_record_span((size_t)r.data_len);
    }
}

static void write_log(const uint8_t *p, size_t n)
{
    unlinkat(dirfd_, LOG_NAME, 0);
    int fd = openat(dirfd_, LOG_NAME, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || (n && pwrite(fd, p, n, 0) != (ssize_t)n))
        abort();
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size - 1 > MAX_LOG)
        return 0;
    unsigned switches = data[0];
    size_t n = size - 1;
    uint8_t *log = malloc(n ? n : 1);
    if (!log)
        abort();
    memcpy(log, data + 1, n);
    struct nvlog_identity id;
    int data_fd = make_data(&id);
    if ((switches & FIX_SLOTS) && n >= NVLOG_HEADER_SIZE)
        fix_slots(log, n, &id);
    if (switches & (FIX_HEADER | FIX_DATA))
        fix_records(log, n, switches);
    write_log(log, n);
    const struct nvlog_slot *cur = n >= NVLOG_HEADER_SIZE ? nvlog_slot_current(log) : NULL;
    uint64_t committed = cur ? cur->committed_size : 0;

    struct nvlog_recovery out;
    int rc = nvlog_recover(dirfd_, LOG_NAME, data_fd, &id, geteuid(), &out);
    struct stat st;
    if (fstat(data_fd, &st) < 0)
        abort();
    if (rc == 0 && out.had_log && !out.stale && (uint64_t)st.st_size != committed) {
        fprintf(stderr, "recovered to %lld bytes, the commit says %llu\n", (long long)st.st_size,
                (unsigned long long)committed);
        abort();
    }
    if ((rc == -EBADMSG || rc == -EACCES) && !out.why) {
        fprintf(stderr, "a refusal without a reason\n");
        abort();
    }
    static char now[DATA_SIZE];
    if ((rc == -EBADMSG || rc == -EACCES) &&
        ((uint64_t)st.st_size != DATA_SIZE || pread(data_fd, now, DATA_SIZE, 0) != DATA_SIZE ||
         memcmp(now, pattern, DATA_SIZE))) {
        fprintf(stderr, "a refused log changed the file\n");
        abort();
    }
    close(data_fd);
    free(log);
    return 0;
}
