/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * actor.c - a child that makes one file call per command it reads, so a
 * test can put a process under the library through an exact sequence and
 * look at the file from outside between any two calls. Commands, one a
 * line on stdin (SLOT 0-3 names a descriptor; KEY chooses the pattern):
 *
 *   open SLOT PATH MODE      MODE letters: c O_CREAT, t O_TRUNC, r read-only
 *   close SLOT
 *   pwrite SLOT OFF LEN KEY
 *   append SLOT LEN KEY      lseek to the end, write; replies the offset
 *   trunc SLOT SIZE
 *   fsync SLOT | fdatasync SLOT
 *   lock SLOT KIND START LEN [shared] | unlock SLOT KIND START LEN
 *   view SLOT                fstat size, SEEK_END, then the bytes read()
 *                            gives from offset 0 to EOF
 *   managed SLOT             replies 1 when the library serves it, else 0
 *   exit                     replies, then exits normally
 *
 * Replies "ok [NUMBERS]" (view: then the bytes) or "err ERRNO CALL".
 * And the test's side of it: actor_do, actor_check_view.
 */
#include "share.h"

#include "libnvmmio.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SLOTS      4
#define REPLY_WAIT 60.0 /* seconds: an actor silent for longer hangs */

static int slots[SLOTS] = {-1, -1, -1, -1};

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    line[n++] = '\n';
    if (write(1, line, (size_t)n) != n)
        _exit(3);
}

static bool write_all(int fd, const uint8_t *p, size_t n, off_t off, bool positional)
{
    while (n > 0) {
        ssize_t w = positional ? pwrite(fd, p, n, off) : write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
        off += w;
    }
    return true;
}

static void do_write(int fd, bool append, long long off, size_t len, uint64_t key)
{
    if (append && (off = lseek(fd, 0, SEEK_END)) < 0) {
        reply("err %d lseek", errno);
        return;
    }
    uint8_t *buf = xcalloc(1, len);
    fill(buf, key, (uint64_t)off, len);
    bool ok = write_all(fd, buf, len, (off_t)off, !append);
    free(buf);
    if (ok)
        reply("ok %lld", off);
    else
        reply("err %d write", errno);
}

/* owrite: write() on a descriptor opened with O_APPEND, of the bytes the
 * test expects at `expect` (the end as it knows it); the reply gives the
 * offset where they landed. */
static void do_append_write(int fd, long long expect, size_t len, uint64_t key)
{
    uint8_t *buf = xcalloc(1, len);
    fill(buf, key, (uint64_t)expect, len);
    bool ok = write_all(fd, buf, len, 0, false);
    free(buf);
    off_t end = ok ? lseek(fd, 0, SEEK_CUR) : -1;
    if (end < 0)
        reply("err %d write", errno);
    else
        reply("ok %lld", (long long)end - (long long)len);
}

/* Reads fd until a read gives 0: with read() from the offset when from is
 * negative, else with pread() from `from` on (as a reader polling the end:
 * no fstat first). The bytes in *out (the caller frees them), their count
 * in *len; -1 with errno on an error. */
static int read_to_end(int fd, long long from, uint8_t **out, size_t *len)
{
    size_t cap = 65536, got = 0;
    uint8_t *buf = xcalloc(1, cap);
    for (;;) {
        if (got == cap && !(buf = realloc(buf, cap *= 2)))
            _exit(3);
        ssize_t r = from < 0 ? read(fd, buf + got, cap - got)
                             : pread(fd, buf + got, cap - got, (off_t)(from + (long long)got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    *out = buf;
    *len = got;
    return 0;
}

/* Replies "ok" with the numbers of `line`, then the bytes. */
static void reply_bytes(const char *line, uint8_t *buf, size_t len)
{
    reply("ok %s", line);
    if (len && !write_all(1, buf, len, 0, false))
        _exit(3);
    free(buf);
}

/* The end of the file as the library knows it after a call that takes in
 * only what a lock or an open let in: a read of the first byte (the files
 * are longer), then nvmmio_get_stats, which takes nothing in (looked up,
 * as an actor without the library has none). SEEK_END where the library
 * does not serve fd. */
static off_t known_end(int fd)
{
    int (*get_stats)(int, struct nvmmio_stats *) =
        (int (*)(int, struct nvmmio_stats *))dlsym(RTLD_DEFAULT, "nvmmio_get_stats");
    struct nvmmio_stats st;
    char first;
    if (get_stats && pread(fd, &first, 1, 0) == 1 && get_stats(fd, &st) == 0)
        return (off_t)st.logical_size;
    return lseek(fd, 0, SEEK_END);
}

/* view: the known end, the bytes read() gives from 0 to the end, then
 * fstat: the end is what a lock or an open took in (a stat, a SEEK_END or
 * a read that meets the end takes in more). */
static void do_view(int fd)
{
    off_t end = known_end(fd);
    if (end < 0 || lseek(fd, 0, SEEK_SET) != 0) {
        reply("err %d lseek", errno);
        return;
    }
    uint8_t *buf;
    size_t got;
    if (read_to_end(fd, -1, &buf, &got)) {
        reply("err %d read", errno);
        return;
    }
    struct stat st;
    if (fstat(fd, &st)) {
        free(buf);
        reply("err %d fstat", errno);
        return;
    }
    char line[96];
    snprintf(line, sizeof(line), "%lld %lld %zu", (long long)st.st_size, (long long)end, got);
    reply_bytes(line, buf, got);
}

/* readend: the bytes past off, read as tail -f does. */
static void do_readend(int fd, long long off)
{
    uint8_t *buf;
    size_t got;
    char line[32];
    if (read_to_end(fd, off, &buf, &got)) {
        reply("err %d pread", errno);
        return;
    }
    snprintf(line, sizeof(line), "%zu", got);
    reply_bytes(line, buf, got);
}

static int open_mode(const char *mode)
{
    int flags = strchr(mode, 'r') ? O_RDONLY : O_RDWR;
    if (strchr(mode, 'c'))
        flags |= O_CREAT;
    if (strchr(mode, 't'))
        flags |= O_TRUNC;
    if (strchr(mode, 'a'))
        flags |= O_APPEND;
    return flags;
}

static void do_lock(int fd, bool take, const char *kind, long long start, long long len,
                    const char *shared)
{
    int k = lock_kind_of(kind);
    int r = take ? lock_take(fd, k, strcmp(shared, "shared") != 0, start, len)
                 : lock_drop(fd, k, start, len);
    if (r)
        reply("err %d %s", -r, take ? "lock" : "unlock");
    else
        reply("ok");
}

static void command(char *line)
{
    char cmd[16] = "", a2[512] = "", a3[32] = "", a5[16] = "";
    int slot = 0;
    long long n1 = 0, n2 = 0;
    unsigned long long key = 0;
    sscanf(line, "%15s %d", cmd, &slot);
    if (!strcmp(cmd, "exit")) {
        reply("ok");
        exit(0);
    }
    if (slot < 0 || slot >= SLOTS)
        fatal("actor: bad slot in %s", line);
    int fd = slots[slot];
    if (!strcmp(cmd, "open")) {
        sscanf(line, "%*s %*d %511s %31s", a2, a3);
        slots[slot] = open(a2, open_mode(a3), 0644);
        if (slots[slot] < 0)
            reply("err %d open", errno);
        else
            reply("ok");
    } else if (!strcmp(cmd, "close")) {
        slots[slot] = -1;
        if (close(fd))
            reply("err %d close", errno);
        else
            reply("ok");
    } else if (!strcmp(cmd, "pwrite")) {
        sscanf(line, "%*s %*d %lld %lld %llu", &n1, &n2, &key);
        do_write(fd, false, n1, (size_t)n2, key);
    } else if (!strcmp(cmd, "append")) {
        sscanf(line, "%*s %*d %lld %llu", &n2, &key);
        do_write(fd, true, 0, (size_t)n2, key);
    } else if (!strcmp(cmd, "owrite")) {
        sscanf(line, "%*s %*d %lld %lld %llu", &n1, &n2, &key);
        do_append_write(fd, n1, (size_t)n2, key);
    } else if (!strcmp(cmd, "trunc")) {
        sscanf(line, "%*s %*d %lld", &n1);
        if (ftruncate(fd, n1))
            reply("err %d ftruncate", errno);
        else
            reply("ok");
    } else if (!strcmp(cmd, "fsync") || !strcmp(cmd, "fdatasync")) {
        if (cmd[1] == 's' ? fsync(fd) : fdatasync(fd))
            reply("err %d %s", errno, cmd);
        else
            reply("ok");
    } else if (!strcmp(cmd, "lock") || !strcmp(cmd, "unlock")) {
        sscanf(line, "%*s %*d %511s %lld %lld %15s", a2, &n1, &n2, a5);
        do_lock(fd, cmd[0] == 'l', a2, n1, n2, a5);
    } else if (!strcmp(cmd, "view")) {
        do_view(fd);
    } else if (!strcmp(cmd, "readend")) {
        sscanf(line, "%*s %*d %lld", &n1);
        do_readend(fd, n1);
    } else if (!strcmp(cmd, "spawn")) {
        /* A program started by posix_spawn (no fork handlers), which
         * inherits the slot's descriptor and ends at once. */
        extern char **environ;
        pid_t pid;
        int status;
        int r = posix_spawn(&pid, "/bin/true", NULL, NULL, (char *[]){"true", NULL}, environ);
        if (r)
            reply("err %d posix_spawn", r);
        else if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
            reply("err %d spawned program", ECHILD);
        else
            reply("ok");
    } else if (!strcmp(cmd, "managed")) {
        /* Looked up: an actor without the library has none. */
        int (*is_managed)(int) = (int (*)(int))dlsym(RTLD_DEFAULT, "nvmmio_is_managed");
        reply("ok %d", is_managed ? is_managed(fd) : 0);
    } else {
        fatal("actor: unknown command %s", line);
    }
}

int actor_main(void)
{
    char buf[4096];
    size_t len = 0;
    for (;;) {
        char *nl;
        while ((nl = memchr(buf, '\n', len))) {
            *nl = 0;
            command(buf);
            len -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, len);
        }
        ssize_t r = read(0, buf + len, sizeof(buf) - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        len += (size_t)r;
    }
}

/* ---- the test's side */

void actor_start(struct child *a, const char *name, bool lib, int err_fd)
{
    char *args[] = {"nvmmio_share", "--child", "actor", NULL};
    child_start(a, name, lib, args, err_fd);
}

/* A hung or dead actor ends the test (said even past the failures shown). */
static _Noreturn void actor_lost(struct child *a, const char *cmd)
{
    int status;
    char how[96];
    pid_t gone = 0;
    /* Its pipe closes a little before it can be waited for. */
    for (int i = 0; i < 100 && gone != a->pid; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        if ((gone = waitpid(a->pid, &status, WNOHANG)) != a->pid)
            nanosleep(&ts, NULL);
    }
    if (gone == a->pid) {
        describe_status(how, sizeof(how), status);
        a->pid = 0;
        printf("FAIL: %s %s at \"%s\"\n", a->name, how, cmd);
    } else {
        printf("FAIL: %s gave no reply to \"%s\" within %.0f s (hung): killed\n", a->name, cmd,
               REPLY_WAIT);
        child_kill(a);
    }
    printf("FAILED (%d failed checks before)\n", run.failures);
    exit(1);
}

bool actor_do(struct child *a, long long *out, const char *fmt, ...)
{
    char cmd[600], line[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof(cmd) - 1, fmt, ap);
    va_end(ap);
    cmd[n] = '\n';
    if (write(a->to, cmd, (size_t)n + 1) != n + 1)
        actor_lost(a, cmd);
    cmd[n] = 0;
    if (!child_line(a, line, sizeof(line), REPLY_WAIT))
        actor_lost(a, cmd);
    if (!strncmp(line, "err ", 4)) {
        int e = atoi(line + 4);
        fail("%s: \"%s\" failed: %s (%s)", a->name, cmd, strerror(e), line);
        return false;
    }
    if (strncmp(line, "ok", 2))
        fatal("%s: unexpected reply to \"%s\": %s", a->name, cmd, line);
    if (out)
        sscanf(line + 2, "%lld %lld %lld", &out[0], &out[1], &out[2]);
    return true;
}

bool actor_check_readend(struct child *a, int slot, const struct model *m, uint64_t from,
                         const char *when)
{
    long long got[3] = {0, 0, 0};
    if (!actor_do(a, got, "readend %d %llu", slot, (unsigned long long)from))
        return false;
    uint8_t *buf = xcalloc(1, (size_t)got[0] + 1);
    if (!child_bytes(a, buf, (size_t)got[0], REPLY_WAIT))
        actor_lost(a, "readend");
    size_t want = m->size > from ? m->size - from : 0;
    bool ok = (size_t)got[0] == want;
    if (!ok)
        fail("%s: %s reads %lld bytes past %llu, expected %zu", when, a->name, got[0],
             (unsigned long long)from, want);
    if (ok && want && memcmp(buf, m->buf + from, want) != 0) {
        fail("%s: %s reads other bytes past %llu than were written", when, a->name,
             (unsigned long long)from);
        ok = false;
    }
    free(buf);
    return ok;
}

bool actor_check_view(struct child *a, int slot, const struct model *m, const char *when)
{
    long long v[3] = {0, 0, 0};
    if (!actor_do(a, v, "view %d", slot))
        return false;
    uint8_t *buf = xcalloc(1, (size_t)v[2]);
    if (!child_bytes(a, buf, (size_t)v[2], REPLY_WAIT))
        actor_lost(a, "view");
    bool ok = true;
    if (v[0] != (long long)m->size || v[1] != (long long)m->size) {
        fail("%s: %s sees fstat size %lld and SEEK_END %lld, expected %zu", when, a->name, v[0],
             v[1], m->size);
        ok = false;
    }
    char what[512];
    snprintf(what, sizeof(what), "%s: the bytes %s reads", when, a->name);
    ok = model_check(m, buf, (size_t)v[2], what) && ok;
    free(buf);
    return ok;
}
