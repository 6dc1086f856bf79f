/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stats.c - the counters of managed files and of the process, and the
 * report NVMMIO_STATS asks for at normal exit (see stats.h): one line per
 * file (its objects' counters summed by path), then a total line.
 */
#include "core/stats.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/fdtable.h"
#include "core/filetable.h"
#include "core/nvfile.h"
#include "os/critical.h"
#include "os/pages.h"
#include "os/sys.h"

/* NVMMIO_STATS: off, stderr, or appended to a file. */
enum { REPORT_OFF, REPORT_STDERR, REPORT_FILE };
static int report_to;
static char report_path[PATH_MAX];

/* Files whose objects were freed, one entry per path (seen_lock). */
static struct nvstats *seen;
static size_t seen_count, seen_cap;
static int seen_lock;

static uint64_t fallbacks[NVSTAT_FALLBACKS]; /* atomic */
static int counting_pid;                     /* whose counters are kept */

static const char *const kind_names[NVSTAT_KINDS] = {
    [NVSTAT_READ] = "read",         [NVSTAT_WRITE] = "write",         [NVSTAT_FSYNC] = "fsync",
    [NVSTAT_TRUNCATE] = "truncate", [NVSTAT_FALLOCATE] = "fallocate", [NVSTAT_MMAP] = "mmap",
    [NVSTAT_COPY] = "copy",
};

/* The report's names of the call counts. */
static const char *const call_names[NVSTAT_KINDS] = {
    [NVSTAT_READ] = "reads",         [NVSTAT_WRITE] = "writes",         [NVSTAT_FSYNC] = "fsyncs",
    [NVSTAT_TRUNCATE] = "truncates", [NVSTAT_FALLOCATE] = "fallocates", [NVSTAT_MMAP] = "mmaps",
    [NVSTAT_COPY] = "copies",
};

/* Kinds whose bytes are counted. */
static bool moves_bytes(int kind)
{
    return kind == NVSTAT_READ || kind == NVSTAT_WRITE || kind == NVSTAT_FALLOCATE ||
           kind == NVSTAT_COPY;
}

static const char *const fallback_names[NVSTAT_FALLBACKS] = {
    [NVSTAT_FB_OTHER_USER] = "other_user",
    [NVSTAT_FB_OTHER_PROCESS] = "other_process",
    [NVSTAT_FB_THROUGH_KERNEL] = "through_kernel",
    [NVSTAT_FB_NO_DESCRIPTOR] = "no_descriptor",
    [NVSTAT_FB_STD_STREAM] = "std_stream",
    [NVSTAT_FB_FORK] = "fork",
    [NVSTAT_FB_FSIZE_LIMIT] = "fsize_limit",
    [NVSTAT_FB_TOO_LARGE] = "too_large",
    [NVSTAT_FB_NO_ACCESS] = "no_access",
    [NVSTAT_FB_UNMAPPED_LOG_DIR] = "unmapped_log_dir",
    [NVSTAT_FB_BARE_CALL] = "bare_call",
    [NVSTAT_FB_NO_MEMORY] = "no_memory",
    [NVSTAT_FB_EXECUTABLE] = "executable",
    [NVSTAT_FB_LEASE] = "lease",
    [NVSTAT_FB_NO_LIBPMEM] = "no_libpmem",
    [NVSTAT_FB_FOREIGN_LOG] = "foreign_log",
    [NVSTAT_FB_NO_LOG_DIR] = "no_log_dir",
};

void nvstats_configure(void)
{
    counting_pid = sys_getpid();
    const char *v = getenv("NVMMIO_STATS");
    if (!v || !*v || !strcmp(v, "0"))
        return;
    if (!strcmp(v, "1")) {
        report_to = REPORT_STDERR;
        return;
    }
    /* A relative name is the start's directory's: the program may move. */
    char cwd[PATH_MAX];
    bool relative = v[0] != '/';
    int n =
        snprintf(report_path, sizeof(report_path), "%s%s%s",
                 relative ? (getcwd(cwd, sizeof(cwd)) ? cwd : ".") : "", relative ? "/" : "", v);
    if (n < 0 || (size_t)n >= sizeof(report_path)) {
        nv_warn("NVMMIO_STATS: the path is too long; no statistics");
        return;
    }
    report_to = REPORT_FILE;
}

/* ---- the counters ------------------------------------------------------- */

static char *path_copy(const char *path)
{
    size_t len = strlen(path) + 1;
    char *p = nv_pages_alloc(len);
    if (p)
        memcpy(p, path, len);
    return p;
}

static void path_free(char *p)
{
    if (p)
        nv_pages_free(p, strlen(p) + 1);
}

void nvstats_init(struct nvstats *s, const char *path)
{
    memset(s, 0, sizeof(*s));
    /* The path names the file in the exit report and the traces of calls
     * only: without them, a file costs no page for it. */
    bool named = report_to != REPORT_OFF || nv_debug_level() >= NV_DEBUG_CALLS;
    s->path = named ? path_copy(path) : NULL;
    s->pid = counting_pid;
}

uint64_t nvstats_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

void nvstats_committed(struct nvstats *s, uint64_t t0)
{
    nvstats_bump(&s->epochs, 1);
    nvstats_bump(&s->commit_ns, nvstats_now() - t0);
}

void nvstats_read(const struct nvstats *s, struct nvstats *out)
{
    const uint64_t *from = (const uint64_t *)&s->calls;
    uint64_t *to = (uint64_t *)&out->calls;
    size_t n = (sizeof(*s) - offsetof(struct nvstats, calls)) / sizeof(uint64_t);
    for (size_t i = 0; i < n; i++)
        to[i] = __atomic_load_n(&from[i], __ATOMIC_RELAXED);
    out->path = s->path;
}

static void add_counters(struct nvstats *to, const struct nvstats *from)
{
    struct nvstats snap;
    nvstats_read(from, &snap);
    uint64_t *t = (uint64_t *)&to->calls;
    const uint64_t *f = (const uint64_t *)&snap.calls;
    size_t n = (sizeof(*to) - offsetof(struct nvstats, calls)) / sizeof(uint64_t);
    for (size_t i = 0; i < n; i++)
        t[i] += f[i];
}

void nvstats_trace(const struct nvstats *s, enum nvstat_kind kind, uint64_t bytes)
{
    const char *path = s->path ? s->path : "?";
    if (moves_bytes(kind))
        nv_debug("%s: %s, %" PRIu64 " bytes", path, kind_names[kind], bytes);
    else
        nv_debug("%s: %s", path, kind_names[kind]);
}

void nvstats_fallback(enum nvstat_fallback why)
{
    __atomic_fetch_add(&fallbacks[why], 1, __ATOMIC_RELAXED);
}

void nvstats_fallback_if(bool yes, enum nvstat_fallback why)
{
    if (yes)
        nvstats_fallback(why);
}

void nvstats_fallback_fd(int fd, enum nvstat_fallback why)
{
    nvstats_fallback_if(nvfd_is_managed(fd), why);
}

enum nvstat_fallback nvstats_why_kernel_only(bool reason, bool too_large)
{
    if (!reason)
        return NVSTAT_FB_THROUGH_KERNEL;
    return too_large ? NVSTAT_FB_TOO_LARGE : NVSTAT_FB_FSIZE_LIMIT;
}

void nvstats_copied(int in, int out, uint64_t n)
{
    struct nvfile *done = NULL;
    const int fds[2] = {in, out};
    for (int i = 0; i < 2; i++) {
        struct nvofd *o = nvfd_begin(fds[i]);
        if (!o)
            continue;
        if (o->file != done) /* a copy within one file counts once */
            nvstats_count_shared(&o->file->stats, NVSTAT_COPY, n);
        done = o->file;
        nvofd_end(o);
    }
}

/* ---- the files seen ----------------------------------------------------- */

/* seen_lock held. The entry of path in list[0..*count), added when new
 * (its path then taken from `owned`, or copied); NULL without memory. */
static struct nvstats *entry_of(struct nvstats **list, size_t *count, size_t *cap, const char *path,
                                char **owned)
{
    for (size_t i = 0; i < *count; i++)
        if (!strcmp((*list)[i].path, path))
            return &(*list)[i];
    if (*count == *cap) {
        size_t grown = *cap ? 2 * *cap : 16;
        struct nvstats *l = nv_pages_realloc(*list, *cap * sizeof(**list), grown * sizeof(**list));
        if (!l)
            return NULL;
        *list = l;
        *cap = grown;
    }
    char *p = owned && *owned ? *owned : path_copy(path);
    if (!p)
        return NULL;
    if (owned)
        *owned = NULL;
    struct nvstats *e = &(*list)[(*count)++];
    memset(e, 0, sizeof(*e));
    e->path = p;
    return e;
}

void nvstats_retire(struct nvstats *s)
{
    if (!s->path)
        return;
    /* A forked child frees its parent's; without a report, a closed file
     * leaves nothing behind. */
    if (s->pid != counting_pid || report_to == REPORT_OFF) {
        path_free(s->path);
        s->path = NULL;
        return;
    }
    nv_spin_lock(&seen_lock);
    char *owned = s->path;
    struct nvstats *e = entry_of(&seen, &seen_count, &seen_cap, s->path, &owned);
    if (e)
        add_counters(e, s);
    nv_spin_unlock(&seen_lock);
    path_free(owned);
    s->path = NULL;
}

static void free_list(struct nvstats *list, size_t count, size_t cap)
{
    for (size_t i = 0; i < count; i++)
        path_free(list[i].path);
    if (list)
        nv_pages_free(list, cap * sizeof(*list));
}

void nvstats_forget_all(void)
{
    seen_lock = 0; /* a thread of the parent may have held it at the fork */
    counting_pid = sys_getpid();
    free_list(seen, seen_count, seen_cap);
    seen = NULL;
    seen_count = seen_cap = 0;
    memset(fallbacks, 0, sizeof(fallbacks));
}

/* ---- the report --------------------------------------------------------- */

struct report {
    struct nvstats *list;
    size_t count, cap;
};

static void add_open_file(struct nvfile *f, void *arg)
{
    struct report *r = arg;
    if (!f->stats.path)
        return;
    struct nvstats *e = entry_of(&r->list, &r->count, &r->cap, f->stats.path, NULL);
    if (e)
        add_counters(e, &f->stats);
}

/* The files seen and those still open, one entry per path. */
static void collect(struct report *r)
{
    nv_spin_lock(&seen_lock);
    for (size_t i = 0; i < seen_count; i++) {
        struct nvstats *e = entry_of(&r->list, &r->count, &r->cap, seen[i].path, NULL);
        if (e)
            add_counters(e, &seen[i]);
    }
    nv_spin_unlock(&seen_lock);
    nvtable_lock();
    nvtable_for_each(add_open_file, r);
    nvtable_unlock();
}

static int put(char *buf, size_t cap, int n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int put(char *buf, size_t cap, int n, const char *fmt, ...)
{
    if (n < 0 || (size_t)n >= cap)
        return n;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
    return m < 0 ? -1 : n + m;
}

static int put_counters(char *buf, size_t cap, int n, const struct nvstats *s)
{
    for (int k = 0; k < NVSTAT_KINDS; k++) {
        n = put(buf, cap, n, " %s=%" PRIu64, call_names[k], s->calls[k]);
        if (moves_bytes(k))
            n = put(buf, cap, n, " %s_bytes=%" PRIu64, kind_names[k], s->bytes[k]);
    }
    return put(buf, cap, n,
               " epochs=%" PRIu64 " undo_records=%" PRIu64 " redo_records=%" PRIu64
               " checkpoints=%" PRIu64 " home_records=%" PRIu64 " commit_us=%" PRIu64,
               s->epochs, s->undo_records, s->redo_records, s->checkpoints, s->home_records,
               s->commit_ns / 1000);
}

/* Writes the line in buf (n bytes, or cut short), ending it. */
static void emit_line(int fd, char *buf, size_t cap, int n)
{
    if (n < 0)
        return;
    if ((size_t)n >= cap - 1)
        n = (int)cap - 2;
    for (int i = 0; i < n; i++) /* one line per file, whatever its name */
        if (buf[i] == '\n')
            buf[i] = '?';
    buf[n++] = '\n';
    sys_write(fd, buf, (size_t)n);
}

static void write_report(int fd, const struct report *r)
{
    char buf[PATH_MAX + 1024];
    struct nvstats total = {0};
    for (size_t i = 0; i < r->count; i++) {
        int n = put(buf, sizeof(buf), 0, "nvmmio-stats file");
        n = put_counters(buf, sizeof(buf), n, &r->list[i]);
        n = put(buf, sizeof(buf), n, " path=%s", r->list[i].path);
        emit_line(fd, buf, sizeof(buf), n);
        add_counters(&total, &r->list[i]);
    }
    int n = put(buf, sizeof(buf), 0, "nvmmio-stats total files=%zu", r->count);
    n = put_counters(buf, sizeof(buf), n, &total);
    uint64_t all = 0;
    for (int i = 0; i < NVSTAT_FALLBACKS; i++)
        all += __atomic_load_n(&fallbacks[i], __ATOMIC_RELAXED);
    n = put(buf, sizeof(buf), n, " fallbacks=%" PRIu64, all);
    for (int i = 0; i < NVSTAT_FALLBACKS; i++)
        n = put(buf, sizeof(buf), n, " fallback_%s=%" PRIu64, fallback_names[i],
                __atomic_load_n(&fallbacks[i], __ATOMIC_RELAXED));
    emit_line(fd, buf, sizeof(buf), n);
}

void nvstats_report(void)
{
    if (report_to == REPORT_OFF)
        return;
    int fd = 2;
    if (report_to == REPORT_FILE) {
        fd = sys_openat(AT_FDCWD, report_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
            nv_warn("NVMMIO_STATS=%s cannot be opened (%s); no statistics", report_path,
                    strerror(-fd));
            return;
        }
    }
    struct report r = {0};
    collect(&r);
    write_report(fd, &r);
    free_list(r.list, r.count, r.cap);
    if (fd != 2)
        sys_close(fd);
}
