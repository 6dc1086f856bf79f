/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * txrecord.c - the transaction record: writing it, and what recovery makes
 * of it (see txrecord.h).
 */
#include "log/txrecord.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log/checksum.h"
#include "mutants.h"
#include "os/keptfds.h"
#include "os/sys.h"

#define RECORD_BYTES (sizeof(struct nvtxrec_header) + NVTXREC_MAX * sizeof(struct nvtxrec_entry))
#define RECORD_FILE  ((RECORD_BYTES + 4095) & ~(size_t)4095)

struct record_image {
    struct nvtxrec_header h;
    struct nvtxrec_entry e[NVTXREC_MAX];
};

void nvtxrec_init(struct nvtxrec *r)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
}

static uint32_t record_checksum(const struct nvtxrec_header *h, const struct nvtxrec_entry *e)
{
    struct nvtxrec_header copy = *h;
    copy.checksum = 0;
    uint32_t crc = nv_crc32c(0, &copy, sizeof(copy));
    return nv_crc32c(crc, e, (size_t)h->count * sizeof(*e));
}

bool nvtxrec_valid(const struct nvtxrec_header *h, const struct nvtxrec_entry *e, size_t n)
{
    return n >= sizeof(*h) && h->magic == NVTXREC_MAGIC && h->version == NVTXREC_VERSION &&
           h->count >= 1 && h->count <= NVTXREC_MAX &&
           n >= sizeof(*h) + (size_t)h->count * sizeof(*e) && h->checksum == record_checksum(h, e);
}

static bool record_valid(const struct record_image *img, size_t n)
{
    return nvtxrec_valid(&img->h, img->e, n);
}

/* ---- the writer's side -------------------------------------------------- */

/* An OFD lock on the whole record says its process is alive. */
static int lock_record(int fd, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET};
    return sys_fcntl(fd, F_OFD_SETLK, (long)&fl);
}

int nvtxrec_create(struct nvtxrec *r, int dirfd)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char tmp[48];
    snprintf(r->name, sizeof(r->name), "tx-%x-%llx.rec", (unsigned)sys_gettid(),
             (unsigned long long)now.tv_sec * 1000000000ull + (unsigned long long)now.tv_nsec);
    snprintf(tmp, sizeof(tmp), ".%s.tmp", r->name);
    int fd = sys_openat(dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return fd;
    int rc = sys_fallocate(fd, 0, 0, RECORD_FILE);
    if (rc == 0)
        rc = lock_record(fd, F_WRLCK);
    if (rc == 0)
        rc = pm_map_file(fd, 1, RECORD_FILE, &r->map);
    /* The name appears once the file is whole and durable: zeros, which
     * name no transaction. */
    if (rc == 0)
        rc = sys_fsync(fd);
    if (rc == 0)
        rc = sys_renameat(dirfd, tmp, dirfd, r->name);
    if (rc == 0)
        rc = sys_fsync(dirfd);
    if (rc < 0) {
        if (r->map.base)
            pm_unmap(&r->map);
        sys_close(fd);
        sys_unlinkat(dirfd, tmp, 0);
        nvtxrec_init(r);
        return rc;
    }
    pm_populate(&r->map, 0, RECORD_FILE);
    r->fd = kept_fd(fd);
    nvtxrec_prune(dirfd, sys_geteuid());
    return 0;
}

void nvtxrec_close(struct nvtxrec *r, int dirfd)
{
    if (r->fd < 0)
        return;
    if (dirfd >= 0)
        sys_unlinkat(dirfd, r->name, 0);
    pm_unmap(&r->map);
    kept_close(r->fd);
    nvtxrec_init(r);
}

int nvtxrec_entry_fill(struct nvtxrec_entry *e, const struct nvlog *log, const char *name,
                       uint64_t epoch, uint64_t size, bool reset)
{
    memset(e, 0, sizeof(*e));
    if (strlen(name) >= sizeof(e->name))
        return -ENAMETOOLONG;
    e->file = log->state.id;
    e->instance = log->state.instance;
    strcpy(e->name, name);
    e->epoch = epoch;
    e->applied = reset ? epoch : log->state.applied_epoch;
    e->size = size;
    e->gen = log->state.gen;
    e->records = log->next_index;
    e->reset = reset;
    return 0;
}

void nvtxrec_seal(struct nvtxrec_header *h, const struct nvtxrec_entry *e)
{
    h->magic = NVTXREC_MAGIC;
    h->version = NVTXREC_VERSION;
    h->checksum = record_checksum(h, e);
}

int nvtxrec_write(struct nvtxrec *r, const struct nvtxrec_entry *e, uint32_t n)
{
    struct nvtxrec_header h = {
        .count = MUTANT(17) ? 1 : n, /* mutant 17: the record names one file only */
        .seq = ++r->seq,
    };
    nvtxrec_seal(&h, e);
    size_t body = (size_t)n * sizeof(*e);
    pm_copy(&r->map, sizeof(h), e, body);
    pm_copy(&r->map, 0, &h, sizeof(h));
    return pm_drain(&r->map);
}

/* ---- the recovery side -------------------------------------------------- */

/* Called with each record file of a directory as read (n bytes of it); a
 * non-zero return stops the walk and is returned. */
typedef int (*record_fn)(void *arg, int dirfd, const char *name, const struct record_image *img,
                         size_t n);

static int read_record(int dirfd, const char *name, uid_t owner, struct record_image *img,
                       size_t *n)
{
    int fd = sys_openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    struct stat st;
    const char *why;
    int rc = nvlog_file_check(fd, owner, &st, &why);
    long got = rc < 0 ? rc : sys_pread(fd, img, sizeof(*img), 0);
    sys_close(fd);
    if (got < 0)
        return (int)got;
    *n = (size_t)got;
    return 0;
}

struct each_record {
    int dirfd;
    uid_t owner;
    record_fn fn;
    void *arg;
};

static int visit_record(const char *name, void *arg)
{
    struct each_record *e = arg;
    struct record_image img;
    size_t len = strlen(name), got = 0;
    if (strncmp(name, "tx-", 3) != 0 || len < 8 || strcmp(name + len - 4, ".rec") != 0)
        return 0;
    return read_record(e->dirfd, name, e->owner, &img, &got) == 0
               ? e->fn(e->arg, e->dirfd, name, &img, got)
               : 0;
}

static int for_each_record(int dirfd, uid_t owner, record_fn fn, void *arg)
{
    int dir = sys_openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (dir < 0)
        return dir;
    struct each_record e = {dirfd, owner, fn, arg};
    int rc = sys_dir_each(dir, visit_record, &e);
    sys_close(dir);
    return rc;
}

/* Whether the entry asks the log whose current slot is s to commit. */
static bool entry_pending(const struct nvtxrec_entry *e, const struct nvlog_slot *s)
{
    return nvlog_identity_equal(&e->file, &s->id) && e->instance == s->instance &&
           e->gen == s->gen && e->epoch == s->committed_epoch + 1;
}

struct search {
    const struct nvlog_slot *state;
    struct nvtxrec_entry *found;
};

static int find_in(void *arg, int dirfd, const char *name, const struct record_image *img, size_t n)
{
    (void)dirfd;
    (void)name;
    struct search *s = arg;
    if (!record_valid(img, n))
        return 0;
    for (uint32_t i = 0; i < img->h.count; i++)
        if (entry_pending(&img->e[i], s->state)) {
            *s->found = img->e[i];
            return 1;
        }
    return 0;
}

int nvtxrec_find(int dirfd, const struct nvlog_slot *state, uid_t owner, struct nvtxrec_entry *e)
{
    struct search s = {state, e};
    return for_each_record(dirfd, owner, find_in, &s);
}

void nvtxrec_apply(struct nvlog_slot *state, const struct nvtxrec_entry *e)
{
    state->committed_epoch = e->epoch;
    state->applied_epoch = e->applied;
    state->committed_size = e->size;
    state->records = e->reset ? 0 : e->records;
    state->gen += e->reset != 0;
}

int nvtxrec_complete(int dirfd, struct nvlog *log, uid_t owner)
{
    struct nvtxrec_entry e;
    int rc = nvtxrec_find(dirfd, &log->state, owner, &e);
    if (rc <= 0)
        return rc;
    log->next_index = e.records;
    rc = nvlog_commit(log, e.epoch, e.applied, e.size, e.reset != 0);
    return rc < 0 ? rc : 1;
}

/* Whether the log an entry names still waits for its commit. */
static bool entry_needed(int dirfd, const struct nvtxrec_entry *e)
{
    char name[NVTXREC_NAME_MAX];
    memcpy(name, e->name, sizeof(name));
    name[sizeof(name) - 1] = '\0';
    int fd = sys_openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd == -ENOENT)
        return false;
    if (fd < 0)
        return true;
    char super[NVLOG_HEADER_SIZE];
    long got = sys_pread(fd, super, sizeof(super), 0);
    sys_close(fd);
    if (got != (long)sizeof(super))
        return got >= 0 ? false : true;
    const struct nvlog_slot *s = nvlog_slot_current(super);
    return s && entry_pending(e, s);
}

static int prune_one(void *arg, int dirfd, const char *name, const struct record_image *img,
                     size_t n)
{
    (void)arg;
    if (record_valid(img, n))
        for (uint32_t i = 0; i < img->h.count; i++)
            if (entry_needed(dirfd, &img->e[i]))
                return 0;
    int fd = sys_openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    if (lock_record(fd, F_WRLCK) == 0) /* its process is gone */
        sys_unlinkat(dirfd, name, 0);
    sys_close(fd);
    return 0;
}

void nvtxrec_prune(int dirfd, uid_t owner)
{
    for_each_record(dirfd, owner, prune_one, NULL);
}
