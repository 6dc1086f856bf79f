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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../include/libnvmmio.h"
#include "checker.h"
#include "core/ops.h"
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

/* Ends the run at once. Not _exit: the library's would first settle the
 * workload's files, under the model, and explore crash points of a settle
 * that is no part of the run. */
static void __attribute__((noreturn)) end_now(int code)
{
    sys_call6(SYS_exit_group, code, 0, 0, 0, 0, 0);
    __builtin_unreachable();
}

void driver_stop(struct driver *d, int code)
{
    fflush(stdout);
    fflush(stderr);
    write_stats(d);
    end_now(code);
}

static void on_signal(int sig)
{
    char msg[1400];
    int n = snprintf(msg, sizeof(msg), "\nCRASH MODEL: signal %d (%s) %s\n", sig,
                     sig == SIGALRM ? "recovery or workload hung" : "crash", signal_context);
    if (n > 0)
        sys_write(2, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
    end_now(sig == SIGALRM ? EXIT_HANG : EXIT_CRASH);
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
static uint64_t site_key(const struct nvmodel_point *p, int event, int op, int proc)
{
    uint64_t k = hash2((uint64_t)event, (uint64_t)op);
    if (proc) /* the second process's sites are its own */
        k = hash2(k, (uint64_t)proc);
    for (int i = 0; p && i < p->nframes && i < 4; i++)
        k = hash2(k, (uint64_t)((uintptr_t)p->frames[i] - exe_base()));
    return k;
}

static void crash_point(struct driver *d, const struct nvmodel_point *p, int event)
{
    uint64_t cp = ++d->cp;
    int op = d->in_op ? d->inflight.kind : 0;
    int proc = d->in_op ? d->inflight.proc : 0;
    struct site *s = site_get(d, site_key(p, event, op, proc), p, event);
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

/* ---- a second process ------------------------------------------------------ */

/* A workload that shares a file forks a second process from the driver. It
 * makes the library calls the driver hands it, one at a time while the
 * driver waits, so the calls of both processes are one sequence and the
 * oracle stays the driver's. Its crash points come to the driver through
 * the mailbox while the driver waits, and are explored there: the model's
 * core is shared (nvmodel_new_shared), so the images are the same and
 * every line either process has in flight is in them. The pipes carry one
 * byte each way: 'C' a call is in the mailbox, 'G' go on after a crash
 * point; 'P' a crash point is in the mailbox, 'D' the call is done. */

#define MAIL_DATA (256 * 1024)

enum { CALL_FSTAT = 100, CALL_MANAGED };

struct mailbox {
    int kind, fd, flags;
    uint64_t off, len;
    long ret;
    int err;
    struct nvmodel_point point;
    uint8_t data[MAIL_DATA];
};

/* One library call: in, the path or the bytes to write; out, where to read. */
struct call {
    int kind, fd, flags;
    uint64_t off, len;
    const void *in;
    void *out;
};

/* Makes the call through the library in this process; errno as it leaves. */
static long call_here(const struct call *c)
{
    struct stat st;
    switch (c->kind) {
    case OP_OPEN:
        return open(c->in, c->flags, 0644);
    case OP_CLOSE:
        return close(c->fd);
    case OP_WRITE:
        return write(c->fd, c->in, c->len);
    case OP_PWRITE:
        return pwrite(c->fd, c->in, c->len, (off_t)c->off);
    case OP_READ:
        return pread(c->fd, c->out, c->len, (off_t)c->off);
    case OP_FSYNC:
        return fsync(c->fd);
    case OP_FDATASYNC:
        return fdatasync(c->fd);
    case OP_FTRUNCATE:
        return ftruncate(c->fd, (off_t)c->off);
    case OP_CHECKPOINT:
        return lseek(c->fd, 0, SEEK_DATA);
    case CALL_FSTAT:
        return fstat(c->fd, &st) < 0 ? -1 : st.st_size;
    case CALL_MANAGED:
        return nvmmio_is_managed(c->fd);
    }
    errno = EINVAL;
    return -1;
}

/* One byte through a pipe, past the library's wrappers (the second
 * process sends from inside a library call); -1 at its end. */
static void mail_put(int fd, char b)
{
    while (sys_write(fd, &b, 1) == -EINTR)
        ;
}

static int mail_get(int fd)
{
    char b;
    long r;
    while ((r = sys_call6(SYS_read, fd, (long)&b, 1, 0, 0, 0)) == -EINTR)
        ;
    return r == 1 ? b : -1;
}

/* The second process's hook: its crash point, to the driver. */
static void second_hook(void *arg, const struct nvmodel_point *p)
{
    struct driver *d = arg;
    d->mail->point = *p;
    mail_put(d->from_second, 'P');
    if (mail_get(d->to_second) != 'G')
        sys_call6(SYS_exit_group, EXIT_ERROR, 0, 0, 0, 0, 0);
}

/* The second process: calls until the driver closes its pipe; then its
 * exit as the library's (with the model off: nothing it unmaps then is a
 * file of the workload). */
static void second_main(struct driver *d)
{
    nvmodel_set_hook(d->model, second_hook, d);
    struct mailbox *mb = d->mail;
    while (mail_get(d->to_second) == 'C') {
        struct call c = {mb->kind, mb->fd, mb->flags, mb->off, mb->len, mb->data, mb->data};
        errno = 0;
        mb->ret = call_here(&c);
        mb->err = errno;
        mail_put(d->from_second, 'D');
    }
    nvmodel_activate(NULL);
    nvops_settle_all();
    _exit(0);
}

void d_second_start(struct driver *d)
{
    int a[2], b[2];
    d->mail =
        mmap(NULL, sizeof(*d->mail), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (d->mail == MAP_FAILED || pipe2(a, O_CLOEXEC) < 0 || pipe2(b, O_CLOEXEC) < 0) {
        fprintf(stderr, "crash model: cannot start a second process\n");
        driver_stop(d, EXIT_ERROR);
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        sys_close(a[1]);
        sys_close(b[0]);
        d->to_second = a[0];
        d->from_second = b[1];
        second_main(d);
    }
    sys_close(a[0]);
    sys_close(b[1]);
    d->to_second = a[1];
    d->from_second = b[0];
    d->second_pid = pid;
    if (pid < 0) {
        fprintf(stderr, "crash model: cannot fork a second process\n");
        driver_stop(d, EXIT_ERROR);
    }
}

static void second_stop(struct driver *d)
{
    if (!d->mail)
        return;
    sys_close(d->to_second);
    int status;
    waitpid(d->second_pid, &status, 0);
    sys_close(d->from_second);
    munmap(d->mail, sizeof(*d->mail));
    d->mail = NULL;
}

/* The second process died in a call: its own report is in the output. */
static void second_died(struct driver *d)
{
    int status = 0;
    waitpid(d->second_pid, &status, 0);
    printf("\nCRASH MODEL: the second process died in op #%llu %s (%s %d)\n  replay: %s\n",
           (unsigned long long)d->inflight.index, op_name(d->inflight.kind),
           WIFSIGNALED(status) ? "signal" : "exit",
           WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), replay_command(d));
    d->c.violations++;
    d->mail = NULL;
    driver_stop(d, EXIT_CRASH);
}

/* Makes the call in process proc (0: here), exploring the second
 * process's crash points as they come. */
static long call_in(struct driver *d, int proc, const struct call *c)
{
    if (proc == 0)
        return call_here(c);
    struct mailbox *mb = d->mail;
    size_t in = c->kind == OP_OPEN                            ? strlen(c->in) + 1
                : c->kind == OP_WRITE || c->kind == OP_PWRITE ? (size_t)c->len
                                                              : 0;
    if (in > MAIL_DATA || (c->kind == OP_READ && c->len > MAIL_DATA)) {
        fprintf(stderr, "crash model: a call too big for the second process\n");
        driver_stop(d, EXIT_ERROR);
    }
    mb->kind = c->kind;
    mb->fd = c->fd;
    mb->flags = c->flags;
    mb->off = c->off;
    mb->len = c->len;
    if (in)
        memcpy(mb->data, c->in, in);
    mail_put(d->to_second, 'C');
    for (;;) {
        int b = mail_get(d->from_second);
        if (b == 'D')
            break;
        if (b != 'P')
            second_died(d);
        struct nvmodel_point p = mb->point;
        crash_point(d, &p, p.event);
        mail_put(d->to_second, 'G');
    }
    if (c->kind == OP_READ && mb->ret > 0)
        memcpy(c->out, mb->data, (size_t)mb->ret);
    errno = mb->err;
    return mb->ret;
}

/* ---- operations ---------------------------------------------------------- */

static void op_begin_in(struct driver *d, int kind, int file, uint64_t off, uint64_t len,
                        bool durable, int thread, int proc)
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
    d->inflight = (struct opinfo){d->opno, kind, file, thread, proc, off, len, durable};
    d->recent[d->opno % RECENT_OPS] = d->inflight;
    d->in_op = true;
    if (d->cfg->trace && d->phase == PHASE_CHECK)
        printf("  op #%llu %s(%s, %llu, %llu)%s%s\n", (unsigned long long)d->opno, op_name(kind),
               file >= 0 ? d->files[file].name : "-", (unsigned long long)off,
               (unsigned long long)len, durable ? " durability point" : "",
               proc ? " in the second process" : "");
}

static void op_begin(struct driver *d, int kind, int file, uint64_t off, uint64_t len, bool durable,
                     int thread)
{
    op_begin_in(d, kind, file, off, len, durable, thread, 0);
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

static int open_in(struct driver *d, int file, int extra_flags, int thread, int proc)
{
    struct fstate *f = &d->files[file];
    int flags = O_RDWR | O_CREAT | extra_flags;
    if (d->mode == MODE_SYNC)
        flags |= d->opno & 1 ? O_DSYNC : O_SYNC;
    bool trunc = flags & O_TRUNC;
    op_begin_in(d, OP_OPEN, file, 0, 0, trunc && d->mode == MODE_SYNC, thread, proc);
    if (trunc)
        f->cur.len = 0;
    if (!f->exists) { /* creating a file is durable at once */
        f->exists = true;
        f->dur.len = 0;
    }
    char p[PATH_MAX];
    file_path(d, file, p, sizeof(p));
    int fd = (int)call_in(d, proc, &(struct call){.kind = OP_OPEN, .flags = flags, .in = p});
    if (fd < 0)
        lib_error(d, "open(%s) failed: %s", f->name, strerror(errno));
    if (!call_in(d, proc, &(struct call){.kind = CALL_MANAGED, .fd = fd}))
        lib_error(d, "%s is not managed by the library", f->name);
    if (raw_statx_identity(p, &f->id, &f->dev, &f->ino) < 0)
        lib_error(d, "statx(%s) failed", f->name);
    snprintf(f->logname, sizeof(f->logname), "%llx-%llx.log", (unsigned long long)f->dev,
             (unsigned long long)f->ino);
    int s = slot_new(d);
    d->slots[s] = (struct slot){true, fd, file, flags, proc, 0};
    f->open_fds++;
    op_end(d);
    return s;
}

int d_open(struct driver *d, int file, int extra_flags, int thread)
{
    return open_in(d, file, extra_flags, thread, 0);
}

int d_open_in(struct driver *d, int file, int extra_flags, int proc)
{
    return open_in(d, file, extra_flags, 0, proc);
}

/* A call of the descriptor of slot s, in its process. */
static long slot_call(struct driver *d, const struct slot *s, struct call c)
{
    c.fd = s->fd;
    return call_in(d, s->proc, &c);
}

/* Every call from here to op_end is the slot's process's. */
static void op_begin_slot(struct driver *d, const struct slot *s, int kind, uint64_t off,
                          uint64_t len, bool durable, int thread)
{
    op_begin_in(d, kind, s->file, off, len, durable, thread, s->proc);
}

void d_close(struct driver *d, int slot, int thread)
{
    struct slot *s = &d->slots[slot];
    struct fstate *f = &d->files[s->file];
    op_begin_slot(d, s, OP_CLOSE, 0, 0, true, thread);
    if (slot_call(d, s, (struct call){.kind = OP_CLOSE}) < 0)
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
    op_begin_slot(d, s, kind, off, len, d->mode == MODE_SYNC, thread);
    apply_write(&f->cur, off, buf, len);
    ssize_t r = slot_call(d, s, (struct call){.kind = kind, .off = off, .len = len, .in = buf});
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
    if (d->phase == PHASE_CHECK && s->proc == 0 && nvmmio_get_stats(s->fd, &st) == 0) {
        if (st.policy == NVMMIO_POLICY_UNDO)
            d->c.undo_epochs++;
        else
            d->c.redo_epochs++;
    }
    int kind = data_only ? OP_FDATASYNC : OP_FSYNC;
    op_begin_slot(d, s, kind, 0, 0, true, thread);
    if (slot_call(d, s, (struct call){.kind = kind}) < 0)
        lib_error(d, "fsync failed: %s", strerror(errno));
    op_end(d);
}

void d_ftruncate(struct driver *d, int slot, uint64_t len, int thread)
{
    struct slot *s = &d->slots[slot];
    struct fstate *f = &d->files[s->file];
    op_begin_slot(d, s, OP_FTRUNCATE, len, 0, d->mode == MODE_SYNC, thread);
    size_t old = f->cur.len;
    f->cur.len = len < old ? (size_t)len : old;
    bytes_resize(&f->cur, (size_t)len);
    if (slot_call(d, s, (struct call){.kind = OP_FTRUNCATE, .off = len}) < 0)
        lib_error(d, "ftruncate(%s, %llu) failed: %s", f->name, (unsigned long long)len,
                  strerror(errno));
    op_end(d);
}

void d_read_check(struct driver *d, int slot, uint64_t off, uint64_t len, int thread)
{
    struct slot *s = &d->slots[slot];
    struct fstate *f = &d->files[s->file];
    op_begin_slot(d, s, OP_READ, off, len, false, thread);
    uint8_t *buf = malloc(len ? len : 1);
    ssize_t r = slot_call(d, s, (struct call){.kind = OP_READ, .off = off, .len = len, .out = buf});
    size_t want = off >= f->cur.len ? 0 : f->cur.len - off < len ? f->cur.len - off : len;
    if (r != (ssize_t)want || (want && memcmp(buf, f->cur.p + off, want))) {
        free(buf);
        lib_error(d, "pread(%s, %llu bytes at %llu) does not return what was written", f->name,
                  (unsigned long long)len, (unsigned long long)off);
    }
    free(buf);
    long size = slot_call(d, s, (struct call){.kind = CALL_FSTAT});
    if (size < 0 || (uint64_t)size != f->cur.len)
        lib_error(d, "fstat(%s) reports %ld bytes, the file has %zu", f->name, size, f->cur.len);
    op_end(d);
}

void d_checkpoint(struct driver *d, int slot, int thread)
{
    struct slot *s = &d->slots[slot];
    struct fstate *f = &d->files[s->file];
    op_begin_slot(d, s, OP_CHECKPOINT, 0, 0, false, thread);
    off_t r = slot_call(d, s, (struct call){.kind = OP_CHECKPOINT});
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
    second_stop(d);
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
    second_stop(d);
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
