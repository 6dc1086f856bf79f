/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * util.c - the share tests' common ground: messages, children run under
 * the library or without it (LD_PRELOAD built here, the ASan runtime
 * first when this program has one), lines and bytes from them with a
 * timeout (so a hang fails the test instead of stalling it), the byte
 * pattern, the model of a file's expected bytes and its comparisons, and
 * the five kinds of lock.
 */
#include "share.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct share_run run;

#define FAILS_SHOWN 40

void fail(const char *fmt, ...)
{
    if (++run.failures > FAILS_SHOWN) {
        if (run.failures == FAILS_SHOWN + 1)
            printf("FAIL: ... (further failed checks counted, not shown)\n");
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL: ", stdout);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    va_end(ap);
}

void fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("error: ", stdout);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    va_end(ap);
    exit(2);
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        fatal("out of memory");
    return p;
}

char *root_path(const char *name)
{
    char *p = xcalloc(1, strlen(run.root) + strlen(name) + 2);
    sprintf(p, "%s/%s", run.root, name);
    return p;
}

uint64_t mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t rnd(uint64_t *state)
{
    *state += 1;
    return mix64(*state);
}

size_t words_differ_at(const uint8_t *p, size_t n)
{
    for (size_t i = 8; i + 8 <= n; i += 8)
        if (memcmp(p, p + i, 8))
            return i;
    return 0;
}

void fill(uint8_t *dst, uint64_t key, uint64_t off, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint64_t pos = off + i;
        dst[i] = (uint8_t)(mix64(key ^ ((pos >> 3) * 0xD6E8FEB86659FD93ull)) >> (8 * (pos & 7)));
    }
}

double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- children */

struct asan_search {
    char path[512];
};

static int find_asan(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct asan_search *s = data;
    if (info->dlpi_name && strstr(info->dlpi_name, "/libasan.so")) {
        snprintf(s->path, sizeof(s->path), "%s", info->dlpi_name);
        return 1;
    }
    return 0;
}

/* The environment of children: this one's without preload and roots, and
 * for the library's children the library (after the ASan runtime, when
 * this program has one: the library is then built with it too) and the
 * root. Leak checks are off in children: they are killed or exit with
 * the files open on purpose. */
static char **child_env(bool lib)
{
    extern char **environ;
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = xcalloc(n + 4, sizeof(char *));
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) && strncmp(environ[i], "NVMMIO_PATH=", 12) &&
            strncmp(environ[i], "PMEM_PATH=", 10) && strncmp(environ[i], "ASAN_OPTIONS=", 13))
            env[j++] = environ[i];
    const char *opts = getenv("ASAN_OPTIONS");
    env[j] = xcalloc(1, (opts ? strlen(opts) : 0) + 80);
    sprintf(env[j++], "ASAN_OPTIONS=%s%sdetect_leaks=0:verify_asan_link_order=0", opts ? opts : "",
            opts && *opts ? ":" : "");
    if (lib && run.lib) {
        struct asan_search s = {{0}};
        dl_iterate_phdr(find_asan, &s);
        env[j] = xcalloc(1, strlen(s.path) + strlen(run.lib) + 16);
        sprintf(env[j++], "LD_PRELOAD=%s%s%s", s.path, s.path[0] ? ":" : "", run.lib);
        env[j] = xcalloc(1, strlen(run.root) + 16);
        sprintf(env[j++], "NVMMIO_PATH=%s", run.root);
    }
    return env;
}

void child_start(struct child *c, const char *name, bool lib, char *const args[], int err_fd)
{
    static char self[512];
    if (!self[0] && readlink("/proc/self/exe", self, sizeof(self) - 1) < 0)
        fatal("readlink /proc/self/exe: %s", strerror(errno));
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
        fatal("pipe: %s", strerror(errno));
    char **env = child_env(lib);
    pid_t parent = getpid();
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        fatal("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(9);
        dup2(in[0], 0);
        dup2(out[1], 1);
        if (err_fd >= 0)
            dup2(err_fd, 2);
        signal(SIGPIPE, SIG_DFL);
        execve(self, args, env);
        _exit(127);
    }
    for (size_t i = 0; env[i]; i++)
        if (!strncmp(env[i], "LD_PRELOAD=", 11) || !strncmp(env[i], "NVMMIO_PATH=", 12) ||
            !strncmp(env[i], "ASAN_OPTIONS=", 13))
            free(env[i]);
    free(env);
    close(in[0]);
    close(out[1]);
    c->pid = pid;
    c->to = in[1];
    c->from = out[0];
    c->rlen = 0;
    c->name = name;
}

static int reap(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return status;
}

static void child_close(struct child *c)
{
    if (c->to >= 0)
        close(c->to);
    if (c->from >= 0)
        close(c->from);
    c->to = c->from = -1;
    c->pid = 0;
}

int child_ready(const char *path)
{
    int fd = open(path, O_RDWR);
    if (fd < 0)
        fatal("open %s: %s", path, strerror(errno));
    printf("ready\n");
    fflush(stdout);
    char go;
    return read(0, &go, 1) == 1 ? fd : -1;
}

bool children_race(struct child *c, int n, double timeout_s)
{
    for (int i = 0; i < n; i++) {
        char line[256];
        if (!child_line(&c[i], line, sizeof(line), 60) || strcmp(line, "ready"))
            fatal("%s did not get ready", c[i].name);
    }
    for (int i = 0; i < n; i++)
        if (write(c[i].to, "g", 1) != 1)
            fatal("cannot start %s", c[i].name);
    for (int i = 0; i < n; i++) {
        char line[256];
        /* No progress report: a child that takes this long is stuck. */
        if (!child_line(&c[i], line, sizeof(line), timeout_s)) {
            fail("%s did not finish (a hang on its lock?)", c[i].name);
            for (int k = 0; k < n; k++)
                child_kill(&c[k]);
            return false;
        }
        if (strcmp(line, "done"))
            fail("%s: %s", c[i].name, line);
        int st = child_finish(&c[i]);
        if (st) {
            char status[64];
            describe_status(status, sizeof(status), st);
            fail("%s %s", c[i].name, status);
        }
    }
    return true;
}

void child_kill(struct child *c)
{
    if (c->pid <= 0)
        return;
    kill(c->pid, SIGKILL);
    reap(c->pid);
    child_close(c);
}

int child_finish(struct child *c)
{
    close(c->to);
    c->to = -1;
    /* A child that does not exit within a minute hangs: kill it. */
    for (int i = 0; i < 6000; i++) {
        int status;
        pid_t r = waitpid(c->pid, &status, WNOHANG);
        if (r == c->pid) {
            child_close(c);
            return status;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fail("%s did not exit within 60 s of being told to: killed", c->name);
    kill(c->pid, SIGKILL);
    int status = reap(c->pid);
    child_close(c);
    return status;
}

void describe_status(char *buf, size_t n, int status)
{
    if (WIFEXITED(status))
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, n, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, n, "wait status 0x%x", status);
}

/* More bytes from the child into its buffer; false at EOF or timeout. */
static bool child_fill(struct child *c, double deadline)
{
    for (;;) {
        double left = deadline - now_s();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = c->from, .events = POLLIN};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        ssize_t got = read(c->from, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return false;
        c->rlen += (size_t)got;
        return true;
    }
}

bool child_line(struct child *c, char *line, size_t n, double timeout_s)
{
    double deadline = now_s() + timeout_s;
    for (;;) {
        char *nl = memchr(c->rbuf, '\n', c->rlen);
        if (nl) {
            size_t len = (size_t)(nl - c->rbuf);
            snprintf(line, n, "%.*s", (int)len, c->rbuf);
            c->rlen -= len + 1;
            memmove(c->rbuf, nl + 1, c->rlen);
            return true;
        }
        if (c->rlen == sizeof(c->rbuf))
            fatal("%s sent a line longer than %zu bytes", c->name, sizeof(c->rbuf));
        if (!child_fill(c, deadline))
            return false;
    }
}

bool child_bytes(struct child *c, void *buf, size_t n, double timeout_s)
{
    double deadline = now_s() + timeout_s;
    uint8_t *dst = buf;
    while (n > 0) {
        if (c->rlen == 0 && !child_fill(c, deadline))
            return false;
        size_t take = c->rlen < n ? c->rlen : n;
        memcpy(dst, c->rbuf, take);
        c->rlen -= take;
        memmove(c->rbuf, c->rbuf + take, c->rlen);
        dst += take;
        n -= take;
    }
    return true;
}

/* ---- the model */

void model_truncate(struct model *m, size_t size)
{
    if (size > m->cap) {
        size_t cap = m->cap ? m->cap : 1 << 16;
        while (cap < size)
            cap *= 2;
        m->buf = realloc(m->buf, cap);
        if (!m->buf)
            fatal("out of memory");
        m->cap = cap;
    }
    if (size > m->size)
        memset(m->buf + m->size, 0, size - m->size);
    m->size = size;
}

void model_write(struct model *m, uint64_t off, size_t len, uint64_t key)
{
    if (off + len > m->size)
        model_truncate(m, off + len);
    fill(m->buf + off, key, off, len);
}

/* The bytes both have in common against the model's. */
static bool bytes_check(const struct model *m, const uint8_t *got, size_t got_size,
                        const char *what)
{
    size_t common = got_size < m->size ? got_size : m->size;
    size_t first = common, last = 0, count = 0;
    for (size_t i = 0; i < common; i++) {
        if (got[i] == m->buf[i])
            continue;
        if (first == common)
            first = i;
        last = i;
        count++;
    }
    if (count)
        fail("%s: %zu of the %zu bytes both have differ, from offset %zu to %zu; at %zu 0x%02x, "
             "expected 0x%02x",
             what, count, common, first, last, first, got[first], m->buf[first]);
    return count == 0;
}

bool model_check(const struct model *m, const uint8_t *got, size_t got_size, const char *what)
{
    bool ok = got_size == m->size;
    if (!ok)
        fail("%s: %zu bytes, expected %zu", what, got_size, m->size);
    return bytes_check(m, got, got_size, what) && ok;
}

size_t read_file(const char *path, uint8_t **buf)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        fatal("open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, got = 0;
    *buf = xcalloc(1, cap);
    for (;;) {
        if (got == cap) {
            cap *= 2;
            *buf = realloc(*buf, cap);
            if (!*buf)
                fatal("out of memory");
        }
        ssize_t r = read(fd, *buf + got, cap - got);
        if (r < 0)
            fatal("read %s: %s", path, strerror(errno));
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    return got;
}

bool model_check_kernel(const struct model *m, const char *path, const char *when)
{
    struct stat st;
    if (stat(path, &st))
        fatal("stat %s: %s", path, strerror(errno));
    bool ok = (size_t)st.st_size == m->size;
    if (!ok)
        fail("%s: the kernel's stat size is %lld, expected %zu", when, (long long)st.st_size,
             m->size);
    uint8_t *buf;
    size_t n = read_file(path, &buf);
    char what[512];
    snprintf(what, sizeof(what), "%s: the bytes a process without the library reads", when);
    if (n != (size_t)st.st_size) {
        fail("%s: %zu bytes, and stat says %lld", what, n, (long long)st.st_size);
        ok = false;
    }
    ok = bytes_check(m, buf, n, what) && ok;
    free(buf);
    return ok;
}

/* ---- locks */

const char *const lock_names[LK_COUNT] = {"fcntl", "fcntl-nb", "ofd", "flock", "lockf"};

int lock_kind_of(const char *name)
{
    for (int k = 0; k < LK_COUNT; k++)
        if (!strcmp(name, lock_names[k]))
            return k;
    fatal("unknown lock kind %s", name);
}

static int record_lock(int fd, int cmd, short type, off_t start, off_t len)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    return fcntl(fd, cmd, &fl);
}

static int lockf_at(int fd, int cmd, off_t start, off_t len)
{
    if (lseek(fd, start, SEEK_SET) < 0)
        return -1;
    return lockf(fd, cmd, len);
}

int lock_take(int fd, int k, bool exclusive, off_t start, off_t len)
{
    short type = exclusive ? F_WRLCK : F_RDLCK;
    int r;
    do {
        switch (k) {
        case LK_FCNTL:
            r = record_lock(fd, F_SETLKW, type, start, len);
            break;
        case LK_FCNTL_NB:
            r = record_lock(fd, F_SETLK, type, start, len);
            if (r && (errno == EAGAIN || errno == EACCES)) {
                struct timespec ts = {0, 100 * 1000};
                nanosleep(&ts, NULL);
                errno = EINTR;
            }
            break;
        case LK_OFD:
            r = record_lock(fd, F_OFD_SETLKW, type, start, len);
            break;
        case LK_FLOCK:
            r = flock(fd, exclusive ? LOCK_EX : LOCK_SH);
            break;
        default:
            r = lockf_at(fd, F_LOCK, start, len);
            break;
        }
    } while (r && errno == EINTR);
    return r ? -errno : 0;
}

int lock_drop(int fd, int k, off_t start, off_t len)
{
    int r;
    switch (k) {
    case LK_FCNTL:
    case LK_FCNTL_NB:
        r = record_lock(fd, F_SETLK, F_UNLCK, start, len);
        break;
    case LK_OFD:
        r = record_lock(fd, F_OFD_SETLK, F_UNLCK, start, len);
        break;
    case LK_FLOCK:
        r = flock(fd, LOCK_UN);
        break;
    default:
        r = lockf_at(fd, F_ULOCK, start, len);
        break;
    }
    return r ? -errno : 0;
}
