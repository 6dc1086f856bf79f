/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * driver.c - runs one workload in one mode through the library's POSIX
 * calls, keeps the oracle (the driver's own byte model of every file: what
 * the program sees, and what it saw at the file's last completed durability
 * point), numbers the crash points and picks the ones to explore, and
 * asserts durability whenever a durability point returns.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../include/libnvmmio.h"
#include "checker.h"
#include "os/sys.h"

extern char **environ;

/* ---- the library's checkpoint thread ------------------------------------ */

/* The library starts one background thread per process to copy committed
 * redo blocks home. Its timing would make runs irreproducible, so the
 * checker stands in for pthread_create: the library's thread is reported
 * started but never runs (a legal schedule: it is merely slow), and the
 * workloads call lseek(SEEK_DATA), which checkpoints under the file's lock
 * exactly as the thread would, at seeded moments. The checker's own threads
 * are created for real. */
static __thread bool own_thread;
static uint64_t lib_threads;

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    if (!own_thread) {
        __atomic_add_fetch(&lib_threads, 1, __ATOMIC_RELAXED);
        memset(t, 0, sizeof(*t));
        return 0;
    }
    if (!real)
        real = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))dlsym(
            RTLD_NEXT, "pthread_create");
    return real(t, attr, fn, arg);
}

int d_spawn(struct driver *d, pthread_t *t, void *(*fn)(void *), void *arg)
{
    (void)d;
    own_thread = true;
    int rc = pthread_create(t, NULL, fn, arg);
    own_thread = false;
    return rc;
}

/* ---- reporting ---------------------------------------------------------- */

static int stats_fd = -1;
static char signal_context[1024];

/* The command that runs this workload again exactly: the options that
 * shape the workload or its images, and nothing else. */
const char *replay_command(const struct driver *d)
{
    static char buf[PATH_MAX + 256];
    const struct config *cfg = d->cfg;
    int n = snprintf(buf, sizeof(buf), "%s --seed %llu --workload %s --mode %s", cfg->exe,
                     (unsigned long long)cfg->seed, workload_name(d->workload), mode_name(d->mode));
    if (n > 0 && cfg->scale != 1)
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, " --scale %d", cfg->scale);
    if (n > 0 && cfg->exhaustive != 4)
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, " --exhaustive %u", cfg->exhaustive);
    if (n > 0 && cfg->policy)
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, " --policy %s", cfg->policy);
    if (n > 0 && cfg->strict_threads)
        snprintf(buf + n, sizeof(buf) - (size_t)n, " --strict-threads");
    return buf;
}

const char *mode_name(int mode)
{
    return mode == MODE_SYNC ? "sync" : "epoch";
}

const char *op_name(int kind)
{
    static const char *const names[] = {"?",
                                        "open",
                                        "close",
                                        "write",
                                        "pwrite",
                                        "pread",
                                        "fsync",
                                        "fdatasync",
                                        "ftruncate",
                                        "lseek(SEEK_DATA)",
                                        "nvmmio_tx_commit",
                                        "nvmmio_tx_abort"};
    return kind > 0 && kind <= OP_TXABORT ? names[kind] : "?";
}

/* "function (file:line)" of a code address, from addr2line. Started with
 * the C library's posix_spawn, which runs no fork handlers: the library's
 * would settle every open file, in the middle of a workload's call. */
void describe_site(const void *addr, char *out, size_t n)
{
    Dl_info info;
    snprintf(out, n, "%p", addr);
    if (!addr || !dladdr(addr, &info) || !info.dli_fname)
        return;
    char offset[32];
    snprintf(offset, sizeof(offset), "0x%lx",
             (unsigned long)((const char *)addr - (const char *)info.dli_fbase - 1));
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    char *argv[] = {"addr2line", "-f", "-s", "-e", (char *)info.dli_fname, offset, NULL};
    pid_t pid;
    /* The C library's own: the library's wrapper would hand every managed
     * file over first (settle it), in the middle of the workload's call. */
    int (*spawnp)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                  const posix_spawnattr_t *, char *const[], char *const[]) =
        (int (*)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                 const posix_spawnattr_t *, char *const[], char *const[]))dlsym(RTLD_NEXT,
                                                                                "posix_spawnp");
    int rc = spawnp ? spawnp(&pid, "addr2line", &fa, NULL, argv, environ) : -1;
    posix_spawn_file_actions_destroy(&fa);
    sys_close(p[1]);
    char buf[512];
    size_t got = 0;
    for (;;) {
        long r = rc == 0 ? sys_call6(SYS_read, p[0], (long)(buf + got),
                                     (long)(sizeof(buf) - 1 - got), 0, 0, 0)
                         : 0;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got >= sizeof(buf) - 1)
            break;
    }
    sys_close(p[0]);
    if (rc == 0)
        waitpid(pid, NULL, 0);
    buf[got] = '\0';
    char *nl = strchr(buf, '\n');
    if (!got || !nl)
        return;
    *nl = '\0';
    char *loc = nl + 1;
    char *end = strchr(loc, '\n');
    if (end)
        *end = '\0';
    snprintf(out, n, "%s (%s)", buf, loc);
}

static void write_stats(struct driver *d)
{
    if (stats_fd < 0 || !d)
        return;
    struct nvmodel_stats ms;
    if (d->model) {
        nvmodel_get_stats(d->model, &ms);
        d->c.fences += ms.fences;
        d->c.flushes += ms.flushes;
        d->c.lines += ms.lines_flushed;
    }
    d->c.lib_threads = lib_threads;
    d->c.sites = d->nsites;
    sys_write(stats_fd, &d->c, sizeof(d->c));
    stats_fd = -1;
}

void driver_stop(struct driver *d, int code)
{
    fflush(stdout);
    fflush(stderr);
    write_stats(d);
    _exit(code);
}

static void on_signal(int sig)
{
    char msg[1400];
    int n = snprintf(msg, sizeof(msg), "\nCRASH MODEL: signal %d (%s) %s\n", sig,
                     sig == SIGALRM ? "recovery or workload hung" : "crash", signal_context);
    if (n > 0)
        sys_write(2, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
    _exit(sig == SIGALRM ? EXIT_HANG : EXIT_CRASH);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGALRM};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
}

static void lib_error(struct driver *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void lib_error(struct driver *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("\nLIBRARY ERROR: ");
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n  run: workload %s, mode %s, seed %llu, op #%llu %s\n", workload_name(d->workload),
           mode_name(d->mode), (unsigned long long)d->cfg->seed,
           (unsigned long long)d->inflight.index, op_name(d->inflight.kind));
    printf("  replay: %s\n", replay_command(d));
    d->c.errors++;
    d->c.violations++;
    driver_stop(d, EXIT_FOUND);
}

void report_failure(struct driver *d)
{
    if (!d->cfg->keep_going)
        driver_stop(d, EXIT_FOUND);
}

/* ---- the oracle ---------------------------------------------------------- */

static void apply_write(struct bytes *b, uint64_t off, const void *buf, uint64_t len)
{
    if (off + len > b->len)
        bytes_resize(b, (size_t)(off + len));
    memcpy(b->p + off, buf, (size_t)len);
}

uint64_t d_size(const struct driver *d, int file)
{
    return d->files[file].cur.len;
}

static void file_path(const struct driver *d, int file, char *out, size_t n)
{
    snprintf(out, n, "%s/%s", d->root, d->files[file].name);
}

static void log_path(const struct driver *d, int file, char *out, size_t n)
{
    snprintf(out, n, "%s/.nvmmio/%s", d->root, d->files[file].logname);
}

/* ---- crash points -------------------------------------------------------- */

static uintptr_t exe_base(void)
{
    static uintptr_t base;
    if (!base) {
        Dl_info info;
        if (dladdr((void *)exe_base, &info))
            base = (uintptr_t)info.dli_fbase;
    }
    return base;
}

static struct site *site_get(struct driver *d, uint64_t key, const struct nvmodel_point *p,
                             int event)
{
    for (size_t i = 0; i < d->nsites; i++)
        if (d->sites[i].key == key)
            return &d->sites[i];
    if (d->nsites == d->capsites) {
        size_t cap = d->capsites ? 2 * d->capsites : 64;
        struct site *s = realloc(d->sites, cap * sizeof(*s));
        if (!s)
            return NULL;
        d->sites = s;
        d->capsites = cap;
    }
    struct site *s = &d->sites[d->nsites++];
    memset(s, 0, sizeof(*s));
    s->key = key;
    s->event = event;
    for (int i = 0; p && i < 4 && i < p->nframes; i++)
        s->frames[i] = p->frames[i];
    return s;
}

/* A crash site: the event and four frames from the persistence module's
 * out, as offsets in the executable (the same in every run). */
static uint64_t site_key(const struct nvmodel_point *p, int event, int op)
{
    uint64_t k = hash2((uint64_t)event, (uint64_t)op);
    for (int i = 0; p && i < p->nframes && i < 4; i++)
        k = hash2(k, (uint64_t)((uintptr_t)p->frames[i] - exe_base()));
    return k;
}

static void crash_point(struct driver *d, const struct nvmodel_point *p, int event)
{
    uint64_t cp = ++d->cp;
    int op = d->in_op ? d->inflight.kind : 0;
    struct site *s = site_get(d, site_key(p, event, op), p, event);
    if (!s)
        return;
    if (d->phase == PHASE_COUNT) {
        s->count++;
        return;
    }
    d->c.points++;
    s->seen++;
    const struct config *cfg = d->cfg;
    if (cfg->replay) {
        if (cp != cfg->replay_cp)
            return;
    } else if (s->seen > cfg->first_k) {
        double u = (double)(hash2(cfg->seed * 7919 + 17, cp) >> 11) / (double)(1ull << 53);
        if (u >= d->sample_p)
            return;
    }
    d->c.explored++;
    /* Paused while the point is explored (points between calls do not come
     * through the model's own hook, which pauses it). */
    struct nvmodel *was = nvmodel_activate(NULL);
    explore_point(d, p, event);
    nvmodel_activate(was);
}

static void live_hook(void *arg, const struct nvmodel_point *p)
{
    crash_point(arg, p, p->event);
}

#define EVENT_BOUNDARY 3

/* ---- operations ---------------------------------------------------------- */

static void op_begin(struct driver *d, int kind, int file, uint64_t off, uint64_t len, bool durable,
                     int thread)
{
    d->opno++;
    d->c.ops++;
    /* Inside a transaction a file's durability point is the commit. */
    if (d->in_tx && kind != OP_TXCOMMIT)
        durable = false;
    if (d->in_tx && (kind == OP_WRITE || kind == OP_PWRITE || kind == OP_FTRUNCATE))
        d->tx_files |= 1u << file;
    nvmodel_sync(d->model);
    /* A crash between two calls: every earlier call has returned. */
    struct nvmodel_point p = {.event = EVENT_BOUNDARY};
    d->in_op = false;
    crash_point(d, &p, EVENT_BOUNDARY);
    d->inflight = (struct opinfo){d->opno, kind, file, thread, off, len, durable};
    d->recent[d->opno % RECENT_OPS] = d->inflight;
    d->in_op = true;
    if (d->cfg->trace && d->phase == PHASE_CHECK)
        printf("  op #%llu %s(%s, %llu, %llu)%s\n", (unsigned long long)d->opno, op_name(kind),
               file >= 0 ? d->files[file].name : "-", (unsigned long long)off,
               (unsigned long long)len, durable ? " durability point" : "");
}

static void durability_check(struct driver *d, int file);

static void made_durable(struct driver *d, int file)
{
    struct fstate *f = &d->files[file];
    bytes_set(&f->dur, f->cur.p, f->cur.len);
    f->dur_op = d->inflight.index;
    f->dur_version++;
    if (!d->cfg->no_durability && d->phase == PHASE_CHECK)
        durability_check(d, file);
}

bool d_tx_commit_covers(const struct driver *d, int file)
{
    return d->in_op && d->inflight.kind == OP_TXCOMMIT && (d->tx_files >> file & 1);
}

static void op_end(struct driver *d)
{
    struct opinfo *o = &d->inflight;
    d->in_op = false;
    if (o->durable && o->file >= 0)
        made_durable(d, o->file);
    for (int k = 0; o->kind == OP_TXCOMMIT && k < MAX_FILES; k++)
        if (d->tx_files >> k & 1)
            made_durable(d, k);
    /* The call released the file's lock: on x86 a locked instruction, which
     * completes the thread's flushes. Modelled in the threaded workloads
     * (where it matters) unless --strict-threads. */
    if (d->threaded && !d->cfg->strict_threads)
        nvmodel_fence_thread(d->model);
}

static void describe_unit(const struct nvmodel_unit *u, char *out, size_t n)
{
    char site[300];
    describe_site(u->site, site, sizeof(site));
    if (u->kind == NVMODEL_FLUSHED)
        snprintf(out, n, "flushed but not fenced (flushed in %s)", site);
    else if (u->site)
        snprintf(out, n, "stored but not flushed since its last flush (in %s)", site);
    else
        snprintf(out, n, "stored but never flushed");
}

static void unclean_report(struct driver *d, int file, const char *which, uint64_t dev,
                           uint64_t ino)
{
    struct nvmodel_unit u;
    size_t n = nvmodel_unclean(d->model, dev, ino, &u);
    if (!n)
        return;
    char what[400];
    describe_unit(&u, what, sizeof(what));
    printf("\nDURABILITY FAILURE: %s(%s) returned, but %zu line(s) of %s are not persistent\n",
           op_name(d->inflight.kind), d->files[file].name, n, which);
    printf("  first at offset %llu: %s\n", (unsigned long long)u.off, what);
    printf("  run: workload %s, mode %s, seed %llu, op #%llu\n", workload_name(d->workload),
           mode_name(d->mode), (unsigned long long)d->cfg->seed,
           (unsigned long long)d->inflight.index);
    printf("  replay: %s\n", replay_command(d));
    d->c.durability_failures++;
    d->c.violations++;
    report_failure(d);
}

/* When a durability point returns, nothing of the file or its log may be in
 * flight (the deterministic durability check of README.md here). */
static void durability_check(struct driver *d, int file)
{
    struct fstate *f = &d->files[file];
    d->c.durability_checks++;
    char name[PATH_MAX + 32];
    snprintf(name, sizeof(name), "%s (the data file)", f->name);
    unclean_report(d, file, name, f->dev, f->ino);
    char lp[PATH_MAX];
    log_path(d, file, lp, sizeof(lp));
    struct nvlog_identity id;
    uint64_t dev, ino;
    if (raw_statx_identity(lp, &id, &dev, &ino) == 0) {
        snprintf(name, sizeof(name), "its log %s", f->logname);
        unclean_report(d, file, name, dev, ino);
    }
}

/* After the last close: the raw file is the program's view, and no log is
 * left. */
static void raw_check(struct driver *d, int file)
{
    struct fstate *f = &d->files[file];
    char p[PATH_MAX];
    struct bytes b = {0};
    file_path(d, file, p, sizeof(p));
    int rc = raw_read_path(p, &b);
    if (rc < 0 || b.len != f->cur.len || (b.len && memcmp(b.p, f->cur.p, b.len))) {
        char diff[2048];
        hexdump_diff(b.p, b.len, f->cur.p, f->cur.len, diff, sizeof(diff));
        printf("\nCONTRACT VIOLATION: after the last close of %s the raw file differs from what "
               "the program wrote\n%s",
               f->name, diff);
        printf("  run: workload %s, mode %s, seed %llu, op #%llu\n", workload_name(d->workload),
               mode_name(d->mode), (unsigned long long)d->cfg->seed, (unsigned long long)d->opno);
        printf("  replay: %s\n", replay_command(d));
        d->c.violations++;
        bytes_free(&b);
        report_failure(d);
        return;
    }
    bytes_free(&b);
    log_path(d, file, p, sizeof(p));
    if (raw_exists(p)) {
        printf("\nCONTRACT VIOLATION: %s is closed but its log %s is still there\n", f->name,
               f->logname);
        d->c.violations++;
        report_failure(d);
    }
}

static int slot_new(struct driver *d)
{
    for (int i = 0; i < MAX_SLOTS; i++)
        if (!d->slots[i].used)
            return i;
    fprintf(stderr, "crash model: out of descriptor slots\n");
    driver_stop(d, EXIT_ERROR);
    return -1;
}

int d_open(struct driver *d, int file, int extra_flags, int thread)
{
    struct fstate *f = &d->files[file];
    int flags = O_RDWR | O_CREAT | extra_flags;
    if (d->mode == MODE_SYNC)
        flags |= d->opno & 1 ? O_DSYNC : O_SYNC;
    bool trunc = flags & O_TRUNC;
    op_begin(d, OP_OPEN, file, 0, 0, trunc && d->mode == MODE_SYNC, thread);
    if (trunc)
        f->cur.len = 0;
    if (!f->exists) { /* creating a file is durable at once */
        f->exists = true;
        f->dur.len = 0;
    }
    char p[PATH_MAX];
    file_path(d, file, p, sizeof(p));
    int fd = open(p, flags, 0644);
    if (fd < 0)
        lib_error(d, "open(%s) failed: %s", f->name, strerror(errno));
    if (!nvmmio_is_managed(fd))
        lib_error(d, "%s is not managed by the library", f->name);
    if (raw_statx_identity(p, &f->id, &f->dev, &f->ino) < 0)
        lib_error(d, "statx(%s) failed", f->name);
    snprintf(f->logname, sizeof(f->logname), "%llx-%llx.log", (unsigned long long)f->dev,
             (unsigned long long)f->ino);
    int s = slot_new(d);
    d->slots[s] = (struct slot){true, fd, file, flags, 0};
    f->open_fds++;
    op_end(d);
    return s;
}

void d_close(struct driver *d, int slot, int thread)
{
    struct slot *s = &d->slots[slot];
    struct fstate *f = &d->files[s->file];
    op_begin(d, OP_CLOSE, s->file, 0, 0, true, thread);
    if (close(s->fd) < 0)
        lib_error(d, "close(%s) failed: %s", f->name, strerror(errno));
    s->used = false;
    f->open_fds--;
    op_end(d);
    if (f->open_fds == 0)
        raw_check(d, s->file);
}

static void write_common(struct driver *d, int slot, int kind, uint64_t off, const void *buf,
                         uint64_t len, int thread)
{
    struct slot *s = &d->slots[slot];
    struct fstate *f = &d->files[s->file];
    if (kind == OP_WRITE)
        off = s->flags & O_APPEND ? f->cur.len : s->pos;
    op_begin(d, kind, s->file, off, len, d->mode == MODE_SYNC, thread);
    apply_write(&f->cur, off, buf, len);
    ssize_t r = kind == OP_WRITE ? write(s->fd, buf, len) : pwrite(s->fd, buf, len, (off_t)off);
    if (r != (ssize_t)len)
        lib_error(d, "%s(%s, %llu bytes at %llu) returned %zd: %s", op_name(kind), f->name,
                  (unsigned long long)len, (unsigned long long)off, r,
                  r < 0 ? strerror(errno) : "short");
    if (kind == OP_WRITE)
        s->pos = off + len;
    op_end(d);
}

void d_pwrite(struct driver *d, int slot, uint64_t off, const void *buf, uint64_t len, int thread)
{
    write_common(d, slot, OP_PWRITE, off, buf, len, thread);
}

void d_write(struct driver *d, int slot, const void *buf, uint64_t len, int thread)
{
    write_common(d, slot, OP_WRITE, 0, buf, len, thread);
}

void d_fsync(struct driver *d, int slot, bool data_only, int thread)
{
    struct slot *s = &d->slots[slot];
    struct nvmmio_stats st;
    if (d->phase == PHASE_CHECK && nvmmio_get_stats(s->fd, &st) == 0) {
        if (st.policy == NVMMIO_POLICY_UNDO)
            d->c.undo_epochs++;
        else
            d->c.redo_epochs++;
    }
    op_begin(d, data_only ? OP_FDATASYNC : OP_FSYNC, s->file, 0, 0, true, thread);
    if ((data_only ? fdatasync(s->fd) : fsync(s->fd)) < 0)
        lib_error(d, "fsync failed: %s", strerror(errno));
    op_end(d);
}

void d_ftruncate(struct driver *d, int slot, uint64_t len, int thread)
{
    struct slot *s = &d->slots[slot];
    struct fstate *f = &d->files[s->file];
    op_begin(d, OP_FTRUNCATE, s->file, len, 0, d->mode == MODE_SYNC, thread);
    size_t old = f->cur.len;
    f->cur.len = len < old ? (size_t)len : old;
    bytes_resize(&f->cur, (size_t)len);
    if (ftruncate(s->fd, (off_t)len) < 0)
        lib_error(d, "ftruncate(%s, %llu) failed: %s", f->name, (unsigned long long)len,
                  strerror(errno));
    op_end(d);
}

void d_read_check(struct driver *d, int slot, uint64_t off, uint64_t len, int thread)
{
    struct slot *s = &d->slots[slot];
    struct fstate *f = &d->files[s->file];
    op_begin(d, OP_READ, s->file, off, len, false, thread);
    uint8_t *buf = malloc(len ? len : 1);
    ssize_t r = pread(s->fd, buf, len, (off_t)off);
    size_t want = off >= f->cur.len ? 0 : f->cur.len - off < len ? f->cur.len - off : len;
    if (r != (ssize_t)want || (want && memcmp(buf, f->cur.p + off, want))) {
        free(buf);
        lib_error(d, "pread(%s, %llu bytes at %llu) does not return what was written", f->name,
                  (unsigned long long)len, (unsigned long long)off);
    }
    free(buf);
    struct stat st;
    if (fstat(s->fd, &st) < 0 || (uint64_t)st.st_size != f->cur.len)
        lib_error(d, "fstat(%s) reports %lld bytes, the file has %zu", f->name,
                  (long long)st.st_size, f->cur.len);
    op_end(d);
}

void d_checkpoint(struct driver *d, int slot, int thread)
{
    struct slot *s = &d->slots[slot];
    struct fstate *f = &d->files[s->file];
    op_begin(d, OP_CHECKPOINT, s->file, 0, 0, false, thread);
    off_t r = lseek(s->fd, 0, SEEK_DATA);
    if (r < 0 && errno != ENXIO) /* ENXIO: no data at all (a sparse file) */
        lib_error(d, "lseek(%s, SEEK_DATA) failed: %s", f->name, strerror(errno));
    /* the descriptor's offset moved */
    if (r >= 0)
        s->pos = (uint64_t)r;
    op_end(d);
}

/* ---- transactions ---------------------------------------------------------- */

void d_tx_begin(struct driver *d)
{
    if (nvmmio_tx_begin() < 0)
        lib_error(d, "nvmmio_tx_begin failed: %s", strerror(errno));
    d->in_tx = true;
    d->tx_files = 0;
}

void d_tx_commit(struct driver *d)
{
    op_begin(d, OP_TXCOMMIT, -1, 0, 0, true, 0);
    if (nvmmio_tx_commit() < 0)
        lib_error(d, "nvmmio_tx_commit failed: %s", strerror(errno));
    op_end(d);
    d->in_tx = false;
}

/* Every file goes back to its state at the begin (the workload makes each
 * one durable before it begins). */
void d_tx_abort(struct driver *d)
{
    op_begin(d, OP_TXABORT, -1, 0, 0, false, 0);
    if (nvmmio_tx_abort() < 0)
        lib_error(d, "nvmmio_tx_abort failed: %s", strerror(errno));
    for (int k = 0; k < MAX_FILES; k++)
        if (d->tx_files >> k & 1)
            bytes_set(&d->files[k].cur, d->files[k].dur.p, d->files[k].dur.len);
    op_end(d);
    d->in_tx = false;
}

/* ---- two threads --------------------------------------------------------- */

void d_baton_take(struct driver *d, int thread)
{
    pthread_mutex_lock(&d->baton);
    while (d->turn != thread)
        pthread_cond_wait(&d->baton_cv, &d->baton);
    pthread_mutex_unlock(&d->baton);
}

/* Hands the next call to a live thread chosen by the seeded schedule. */
void d_baton_pass(struct driver *d, int thread, bool done)
{
    pthread_mutex_lock(&d->baton);
    if (done)
        d->nthreads_live &= ~(1 << thread);
    int live = d->nthreads_live;
    if (live) {
        int n = __builtin_popcount((unsigned)live);
        int pick = (int)rng_below(&d->sched, (uint64_t)n);
        for (int t = 0; t < 32; t++) {
            if (!(live >> t & 1))
                continue;
            if (pick-- == 0) {
                d->turn = t;
                break;
            }
        }
    } else {
        d->turn = -1;
    }
    pthread_cond_broadcast(&d->baton_cv);
    pthread_mutex_unlock(&d->baton);
}

/* ---- a run ---------------------------------------------------------------- */

static void reset_files(struct driver *d)
{
    for (int i = 0; i < MAX_FILES; i++) {
        struct fstate *f = &d->files[i];
        char p[PATH_MAX];
        if (f->name[0]) {
            file_path(d, i, p, sizeof(p));
            sys_unlinkat(AT_FDCWD, p, 0);
            if (f->logname[0]) {
                log_path(d, i, p, sizeof(p));
                sys_unlinkat(AT_FDCWD, p, 0);
            }
        }
        bytes_free(&f->cur);
        bytes_free(&f->dur);
        memset(f, 0, sizeof(*f));
        snprintf(f->name, sizeof(f->name), "f%d", i);
    }
    memset(d->slots, 0, sizeof(d->slots));
}

static void end_pass(struct driver *d)
{
    for (int i = 0; i < MAX_SLOTS; i++)
        if (d->slots[i].used)
            d_close(d, i, 0);
}

static void print_sites(struct driver *d)
{
    printf("  crash sites of %s/%s (event, count, frames above the persistence module):\n",
           workload_name(d->workload), mode_name(d->mode));
    for (size_t i = 0; i < d->nsites; i++) {
        struct site *s = &d->sites[i];
        printf("   %-8s %6llu ",
               s->event == NVMODEL_FENCE   ? "fence"
               : s->event == NVMODEL_UNMAP ? "unmap"
                                           : "between",
               (unsigned long long)s->count);
        for (int k = 1; k < 3 && s->frames[k]; k++) {
            char buf[300];
            describe_site(s->frames[k], buf, sizeof(buf));
            printf("%s%s", k > 1 ? " <- " : "", buf);
        }
        printf("\n");
    }
}

int run_one(const struct config *cfg, int workload, int mode, const char *root, const char *scratch,
            struct counts *out)
{
    struct driver *d = calloc(1, sizeof(*d));
    if (!d)
        return EXIT_ERROR;
    d->cfg = cfg;
    d->workload = workload;
    d->mode = mode;
    snprintf(d->root, sizeof(d->root), "%s", root);
    snprintf(d->scratch, sizeof(d->scratch), "%s", scratch);
    d->threaded = false;
    pthread_mutex_init(&d->baton, NULL);
    pthread_cond_init(&d->baton_cv, NULL);
    snprintf(signal_context, sizeof(signal_context),
             "in workload %s, mode %s, seed %llu\n  replay: %s", workload_name(workload),
             mode_name(mode), (unsigned long long)cfg->seed, replay_command(d));
    install_signals();
    uint64_t seed = hash2(hash2(cfg->seed, (uint64_t)workload), (uint64_t)mode);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    /* Pass 1: count the crash points of every site. */
    reset_files(d);
    d->phase = PHASE_COUNT;
    d->model = nvmodel_new_shared(live_hook, d);
    nvmodel_activate(d->model);
    workload_run(d, workload, seed);
    end_pass(d);
    nvmodel_activate(NULL);
    nvmodel_free(d->model);
    uint64_t total = 0, always = 0;
    for (size_t i = 0; i < d->nsites; i++) {
        total += d->sites[i].count;
        always += d->sites[i].count < cfg->first_k ? d->sites[i].count : cfg->first_k;
    }
    d->sample_p = total <= cfg->points ? 1.0
                  : cfg->points <= always
                      ? 0.0
                      : (double)(cfg->points - always) / (double)(total - always);
    if (cfg->verbose)
        printf("  %s/%s: %llu crash points at %zu sites, sampling %.3f\n", workload_name(workload),
               mode_name(mode), (unsigned long long)total, d->nsites, d->sample_p);

    /* Pass 2: the same run again, exploring the chosen points. */
    reset_files(d);
    d->phase = PHASE_CHECK;
    d->cp = 0;
    d->opno = 0;
    d->c.ops = 0;
    d->model = nvmodel_new_shared(live_hook, d);
    nvmodel_activate(d->model);
    workload_run(d, workload, seed);
    end_pass(d);
    nvmodel_activate(NULL);
    if (cfg->list_sites)
        print_sites(d);

    clock_gettime(CLOCK_MONOTONIC, &t1);
    d->c.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    struct nvmodel_stats ms;
    nvmodel_get_stats(d->model, &ms);
    d->c.fences = ms.fences;
    d->c.flushes = ms.flushes;
    d->c.lines = ms.lines_flushed;
    d->c.lib_threads = lib_threads;
    d->c.sites = d->nsites;
    *out = d->c;
    nvmodel_free(d->model);
    d->model = NULL;
    reset_files(d);
    hashset_free(&d->seen);
    free(d->sites);
    pthread_mutex_destroy(&d->baton);
    pthread_cond_destroy(&d->baton_cv);
    int code = d->c.violations ? EXIT_FOUND : EXIT_CLEAN;
    free(d);
    return code;
}

void driver_set_stats_fd(int fd)
{
    stats_fd = fd;
}

void driver_set_context(const char *text)
{
    snprintf(signal_context, sizeof(signal_context), "%s", text);
}
