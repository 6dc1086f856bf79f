/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * killloop.c - one sharer killed while others run. Two writers and a
 * reader share one file under fcntl locks; writer 0 (the victim) is killed
 * with SIGKILL at random moments and started again, writer 1 (the
 * survivor) and the reader run throughout.
 *
 * The file is a row of 200-byte records (writer, sequence, version, a
 * payload and a checksum), so they straddle blocks. A writer appends its
 * next record under a whole-file write lock (at SEEK_END), or rewrites one
 * of its own with the next version under a lock of that record's range;
 * it fsyncs now and then, and reports each operation once it has
 * released the lock. A restarted writer reads the file under a read lock
 * and goes on from its last record. The reader reads the whole file under
 * a read lock again and again.
 *
 * Checked: every record read, by the reader, a writer or the test at the
 * end (through the kernel and through the library), is whole, and each
 * writer's sequence numbers run 1, 2, 3... in the file; what the reader
 * saw stays (the file only grows, a record keeps its place and its version
 * never goes back); nothing the survivor reported is lost, nor any
 * operation the victim reported before it was killed (the operation each
 * of its lives had in flight may be there or not); no process makes no
 * progress for 30 s (a watchdog: a hang on a lock the dead one held). Now
 * and then the victim is killed before it has opened the file and read it,
 * in its recovery. The library processes are killed in the middle of the
 * library's work, between its durability points.
 *
 *   killloop KILLS [RECORD-SIZE]
 */
#include "share.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REC_MAX     256
#define REC_MAGIC   0x4B4C5252u
#define MAX_RECORDS 15000 /* then writers only rewrite */
#define STALL_S     30.0  /* no progress for this long: a hang */

/* The record size: 200 bytes, so records straddle pages and blocks. The
 * self-check without the library takes 256: the kernel itself tears a
 * write across a page boundary when SIGKILL comes between the pages. */
static size_t rec = 200;

struct rec {
    uint32_t magic, writer;
    uint64_t seq, ver, sum;
    uint8_t payload[REC_MAX - 32]; /* the first rec - 32 bytes are used */
};

static uint64_t rec_sum(const struct rec *r)
{
    uint64_t h = mix64(r->magic ^ ((uint64_t)r->writer << 32));
    h = mix64(h ^ r->seq);
    h = mix64(h ^ r->ver);
    for (size_t i = 0; i + 8 <= rec - 32; i += 8) {
        uint64_t w;
        memcpy(&w, r->payload + i, 8);
        h = mix64(h ^ w);
    }
    return h;
}

static void rec_make(struct rec *r, uint32_t writer, uint64_t seq, uint64_t ver)
{
    r->magic = REC_MAGIC;
    r->writer = writer;
    r->seq = seq;
    r->ver = ver;
    fill(r->payload, mix64(writer * 0x10000000000ull + seq) ^ ver, 0, rec - 32);
    r->sum = rec_sum(r);
}

/* ---- a file's records */

struct writer_state {
    uint64_t n;    /* its records: sequence numbers 1..n */
    uint64_t *off; /* [seq - 1] */
    uint64_t *ver; /* [seq - 1] */
    uint64_t alloc;
};

struct scan {
    uint64_t records;
    struct writer_state w[2];
};

static void writer_push(struct writer_state *w, uint64_t off, uint64_t ver)
{
    if (w->n == w->alloc) {
        w->alloc = w->alloc ? 2 * w->alloc : 1024;
        w->off = realloc(w->off, w->alloc * sizeof(uint64_t));
        w->ver = realloc(w->ver, w->alloc * sizeof(uint64_t));
        if (!w->off || !w->ver)
            fatal("out of memory");
    }
    w->off[w->n] = off;
    w->ver[w->n] = ver;
    w->n++;
}

static void scan_free(struct scan *s)
{
    for (int i = 0; i < 2; i++) {
        free(s->w[i].off);
        free(s->w[i].ver);
    }
    memset(s, 0, sizeof(*s));
}

/* Checks a file's bytes; "" when good, else what is wrong (in err). */
static bool scan_bytes(const uint8_t *buf, size_t size, struct scan *s, char *err, size_t n)
{
    memset(s, 0, sizeof(*s));
    if (size % rec) {
        snprintf(err, n, "the size %zu is not a whole number of %zu-byte records", size, rec);
        return false;
    }
    for (size_t off = 0; off < size; off += rec) {
        struct rec r;
        memcpy(&r, buf + off, rec);
        if (r.magic != (ssize_t)REC_MAGIC || r.writer > 1 || r.sum != rec_sum(&r)) {
            snprintf(err, n,
                     "the record at offset %zu (#%zu of %zu) is torn or foreign: "
                     "magic %08x writer %u seq %llu ver %llu, checksum %s",
                     off, off / rec, size / rec, r.magic, r.writer, (unsigned long long)r.seq,
                     (unsigned long long)r.ver, r.sum == rec_sum(&r) ? "good" : "bad");
            return false;
        }
        struct writer_state *w = &s->w[r.writer];
        if (r.seq != w->n + 1) {
            snprintf(err, n,
                     "the record at offset %zu is writer %u's sequence %llu, after its %llu", off,
                     r.writer, (unsigned long long)r.seq, (unsigned long long)w->n);
            return false;
        }
        writer_push(w, off, r.ver);
        s->records++;
    }
    return true;
}

/* The whole file through fd (under whatever lock the caller holds). */
static uint8_t *read_fd(int fd, size_t *size)
{
    struct stat st;
    if (fstat(fd, &st))
        fatal("fstat: %s", strerror(errno));
    uint8_t *buf = xcalloc(1, (size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            fatal("pread: %s", strerror(errno));
        if (r == 0)
            break;
        got += (size_t)r;
    }
    *size = got;
    return buf;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (len > (int)sizeof(line) - 2)
        len = (int)sizeof(line) - 2;
    line[len++] = '\n';
    if (write(1, line, (size_t)len) != len)
        _exit(3);
}

static bool told_to_stop(void)
{
    struct pollfd p = {.fd = 0, .events = POLLIN};
    return poll(&p, 1, 0) > 0;
}

static void must_lock(int fd, short type, off_t start, off_t len)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    while (fcntl(fd, type == F_UNLCK ? F_SETLK : F_SETLKW, &fl))
        if (errno != EINTR) {
            say("E fcntl lock: %s", strerror(errno));
            exit(1);
        }
}

/* ---- the children */

static int writer_child(uint32_t id, const char *path, uint64_t seed)
{
    int fd = open(path, O_RDWR);
    if (fd < 0) {
        say("E open: %s", strerror(errno));
        return 1;
    }
    must_lock(fd, F_RDLCK, 0, 0);
    size_t size;
    uint8_t *buf = read_fd(fd, &size);
    must_lock(fd, F_UNLCK, 0, 0);
    struct scan s;
    char err[512];
    if (!scan_bytes(buf, size, &s, err, sizeof(err))) {
        say("E at its start: %s", err);
        return 1;
    }
    free(buf);
    struct writer_state *me = &s.w[id];
    say("S %llu", (unsigned long long)me->n);
    uint64_t rng = seed;
    struct rec r, old;
    while (!told_to_stop()) {
        bool sync = rnd(&rng) % 4 == 0;
        if (me->n == 0 || (s.records < MAX_RECORDS && rnd(&rng) % 100 < 40)) {
            must_lock(fd, F_WRLCK, 0, 0);
            off_t end = lseek(fd, 0, SEEK_END);
            if (end < 0 || end % rec) {
                say("E the end of the file is at %lld, not after a whole record", (long long)end);
                return 1;
            }
            rec_make(&r, id, me->n + 1, 0);
            if (pwrite(fd, &r, rec, end) != (ssize_t)rec || (sync && fsync(fd))) {
                say("E append: %s", strerror(errno));
                return 1;
            }
            must_lock(fd, F_UNLCK, 0, 0);
            writer_push(me, (uint64_t)end, 0);
            s.records = (uint64_t)end / rec + 1;
            say("A %llu", (unsigned long long)me->n);
            continue;
        }
        uint64_t seq = 1 + rnd(&rng) % me->n, off = me->off[seq - 1];
        must_lock(fd, F_WRLCK, (off_t)off, rec);
        if (pread(fd, &old, rec, (off_t)off) != (ssize_t)rec || old.magic != (ssize_t)REC_MAGIC ||
            old.writer != id || old.seq != seq || old.ver != me->ver[seq - 1] ||
            old.sum != rec_sum(&old)) {
            say("E its record %llu (version %llu) at offset %llu reads as writer %u seq %llu "
                "version %llu, checksum %s",
                (unsigned long long)seq, (unsigned long long)me->ver[seq - 1],
                (unsigned long long)off, old.writer, (unsigned long long)old.seq,
                (unsigned long long)old.ver, old.sum == rec_sum(&old) ? "good" : "bad");
            return 1;
        }
        rec_make(&r, id, seq, me->ver[seq - 1] + 1);
        if (pwrite(fd, &r, rec, (off_t)off) != (ssize_t)rec || (sync && fsync(fd))) {
            say("E rewrite: %s", strerror(errno));
            return 1;
        }
        must_lock(fd, F_UNLCK, (off_t)off, rec);
        me->ver[seq - 1]++;
        say("U %llu %llu", (unsigned long long)seq, (unsigned long long)me->ver[seq - 1]);
    }
    close(fd);
    return 0;
}

/* What the reader saw last must stay: it may only grow. */
static bool still_there(const struct scan *was, const struct scan *now, char *err, size_t n)
{
    for (int w = 0; w < 2; w++) {
        if (now->w[w].n < was->w[w].n) {
            snprintf(err, n, "writer %d's records went from %llu to %llu", w,
                     (unsigned long long)was->w[w].n, (unsigned long long)now->w[w].n);
            return false;
        }
        for (uint64_t i = 0; i < was->w[w].n; i++)
            if (now->w[w].off[i] != was->w[w].off[i] || now->w[w].ver[i] < was->w[w].ver[i]) {
                snprintf(err, n,
                         "writer %d's record %llu was at offset %llu version %llu, now at %llu "
                         "version %llu",
                         w, (unsigned long long)i + 1, (unsigned long long)was->w[w].off[i],
                         (unsigned long long)was->w[w].ver[i], (unsigned long long)now->w[w].off[i],
                         (unsigned long long)now->w[w].ver[i]);
                return false;
            }
    }
    return true;
}

static int reader_child(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        say("E open: %s", strerror(errno));
        return 1;
    }
    struct scan was = {0}, now;
    char err[512];
    while (!told_to_stop()) {
        must_lock(fd, F_RDLCK, 0, 0);
        size_t size;
        uint8_t *buf = read_fd(fd, &size);
        must_lock(fd, F_UNLCK, 0, 0);
        bool ok = scan_bytes(buf, size, &now, err, sizeof(err)) &&
                  still_there(&was, &now, err, sizeof(err));
        free(buf);
        if (!ok) {
            say("E %s", err);
            return 1;
        }
        scan_free(&was);
        was = now;
        say("R %llu", (unsigned long long)now.records);
    }
    return 0;
}

int killloop_child(int argc, char **argv)
{
    if (argc != 2 && argc != 4)
        fatal("killloop child: REC PATH [ID SEED]");
    rec = strtoul(argv[0], NULL, 10);
    if (argc == 2)
        return reader_child(argv[1]);
    return writer_child((uint32_t)atoi(argv[2]), argv[1], strtoull(argv[3], NULL, 10));
}

/* ---- the test */

enum { VICTIM, SURVIVOR, READER, NPROC };
static const char *const proc_names[NPROC] = {"writer 0 (the victim)", "writer 1 (the survivor)",
                                              "the reader"};

struct loop {
    struct child c[NPROC];
    double progress[NPROC];      /* when each last said something */
    struct writer_state done[2]; /* what each writer reported: versions by seq */
    /* The victim's kills so far when it reported each of its records (by
     * seq - 1): every life killed since may have left one more rewrite of
     * it unreported, which the life after went on from. */
    uint64_t *victim_kills_at, victim_kills_cap;
    char *path;
    uint64_t rng, kills, recovery_kills, starts, ops, reads;
    bool victim_started; /* this life of the victim has read the file */
    uint64_t victim_ops;
};

static struct loop L;

static _Noreturn void give_up(void)
{
    for (int i = 0; i < NPROC; i++)
        child_kill(&L.c[i]);
    exit(1);
}

static void start_proc(int i)
{
    char seed[32], id[8], size[16];
    snprintf(seed, sizeof(seed), "%llu", (unsigned long long)(run.seed * 7919u + L.starts++));
    snprintf(id, sizeof(id), "%d", i);
    snprintf(size, sizeof(size), "%zu", rec);
    char *wargs[] = {"nvmmio_share", "--child", "killloop", size, L.path, id, seed, NULL};
    char *rargs[] = {"nvmmio_share", "--child", "killloop", size, L.path, NULL};
    child_start(&L.c[i], proc_names[i], true, i == READER ? rargs : wargs, -1);
    L.progress[i] = now_s();
}

/* The victim reported its record seq now. */
static void victim_reported(uint64_t seq)
{
    if (seq > L.victim_kills_cap) {
        L.victim_kills_cap = seq > 2 * L.victim_kills_cap ? seq : 2 * L.victim_kills_cap;
        L.victim_kills_at = realloc(L.victim_kills_at, L.victim_kills_cap * sizeof(uint64_t));
        if (!L.victim_kills_at)
            fatal("out of memory");
    }
    L.victim_kills_at[seq - 1] = L.kills;
}

/* One line from process i. */
static void handle(int i, const char *line)
{
    unsigned long long a = 0, b = 0;
    L.progress[i] = now_s();
    struct writer_state *d = i < READER ? &L.done[i] : NULL;
    if (line[0] == 'R') {
        L.reads++;
    } else if (line[0] == 'S' && d) {
        sscanf(line + 2, "%llu", &a);
        /* The restarted victim finds its records: all it reported, maybe
         * one more in flight when it died. */
        if (a < d->n || a > d->n + 1)
            fail("%s started again and found its records 1..%llu; it had reported 1..%llu",
                 proc_names[i], a, (unsigned long long)d->n);
        while (d->n < a) {
            writer_push(d, 0, 0);
            if (i == VICTIM)
                victim_reported(d->n);
        }
        L.victim_started |= i == VICTIM;
    } else if (line[0] == 'A' && d) {
        sscanf(line + 2, "%llu", &a);
        if (a != d->n + 1)
            fatal("%s appended its record %llu after %llu", proc_names[i], a,
                  (unsigned long long)d->n);
        writer_push(d, 0, 0);
        if (i == VICTIM)
            victim_reported(a);
        L.ops++;
        L.victim_ops += i == VICTIM;
    } else if (line[0] == 'U' && d) {
        sscanf(line + 2, "%llu %llu", &a, &b);
        if (a < 1 || a > d->n)
            fatal("%s rewrote a record it does not have: %s", proc_names[i], line);
        d->ver[a - 1] = b;
        if (i == VICTIM)
            victim_reported(a);
        L.ops++;
        L.victim_ops += i == VICTIM;
    } else {
        fail("%s: %s", proc_names[i], line);
        give_up();
    }
}

/* Reads what the processes said, for up to timeout_s; fails a stalled one. */
static void pump(double timeout_s)
{
    struct pollfd p[NPROC];
    for (int i = 0; i < NPROC; i++)
        p[i] = (struct pollfd){.fd = L.c[i].pid > 0 ? L.c[i].from : -1, .events = POLLIN};
    if (poll(p, NPROC, (int)(timeout_s * 1000)) < 0 && errno != EINTR)
        fatal("poll: %s", strerror(errno));
    for (int i = 0; i < NPROC; i++) {
        char line[1100];
        int status;
        if (p[i].revents && child_line(&L.c[i], line, sizeof(line), 0.5))
            handle(i, line);
        else if (p[i].revents && waitpid(L.c[i].pid, &status, WNOHANG) == L.c[i].pid) {
            describe_status(line, sizeof(line), status);
            L.c[i].pid = 0;
            fail("%s %s on its own", proc_names[i], line);
            give_up();
        }
        while (L.c[i].pid > 0 && memchr(L.c[i].rbuf, '\n', L.c[i].rlen) &&
               child_line(&L.c[i], line, sizeof(line), 0))
            handle(i, line);
        if (L.c[i].pid > 0 && now_s() - L.progress[i] > STALL_S) {
            fail("%s made no progress for %.0f s (a hang on a lock?)", proc_names[i], STALL_S);
            give_up();
        }
    }
}

/* Kills the victim; what it said before it died counts. */
static void kill_victim(void)
{
    struct child *v = &L.c[VICTIM];
    kill(v->pid, SIGKILL);
    int status;
    while (waitpid(v->pid, &status, 0) < 0 && errno == EINTR)
        ;
    char line[1100];
    while (child_line(v, line, sizeof(line), 5))
        handle(VICTIM, line);
    v->pid = 0;
    close(v->to);
    close(v->from);
    L.kills++;
}

static void sleep_us(uint64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* One life of the victim: killed after some operations or, now and then,
 * in its start (the library's open and recovery). */
static void victim_life(void)
{
    bool in_start = rnd(&L.rng) % 8 == 0;
    L.victim_started = false;
    start_proc(VICTIM);
    if (in_start) {
        sleep_us(rnd(&L.rng) % 20000);
        L.recovery_kills++;
        kill_victim();
        return;
    }
    uint64_t target = rnd(&L.rng) % 40, ops0 = L.victim_ops;
    while (!L.victim_started || L.victim_ops - ops0 < target)
        pump(0.05);
    sleep_us(rnd(&L.rng) % 500);
    kill_victim();
}

static void finish_all(void)
{
    for (int i = 0; i < NPROC; i++)
        close(L.c[i].to), L.c[i].to = -1;
    for (int i = 0; i < NPROC; i++) {
        char line[1100];
        while (child_line(&L.c[i], line, sizeof(line), 60))
            handle(i, line);
        int status;
        while (waitpid(L.c[i].pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (status) {
            char s[64];
            describe_status(s, sizeof(s), status);
            fail("%s %s at the end", proc_names[i], s);
        }
        close(L.c[i].from);
        L.c[i].pid = 0;
    }
}

/* The file at the end against what the writers reported. */
static void final_check(const uint8_t *buf, size_t size, const char *how)
{
    struct scan s;
    char err[512];
    if (!scan_bytes(buf, size, &s, err, sizeof(err))) {
        fail("the file at the end, %s: %s", how, err);
        return;
    }
    for (int w = 0; w < 2; w++) {
        const struct writer_state *d = &L.done[w], *f = &s.w[w];
        if (f->n != d->n)
            fail("the file at the end, %s: %s has records 1..%llu, it reported 1..%llu", how,
                 proc_names[w], (unsigned long long)f->n, (unsigned long long)d->n);
        uint64_t lost = 0, first = 0;
        for (uint64_t i = 0; i < d->n && i < f->n; i++) {
            /* A rewrite the victim had in flight when it died may be
             * there, one for each life killed since it reported this
             * record (the next life goes on from the version it finds). */
            uint64_t lives = w == VICTIM ? L.kills - L.victim_kills_at[i] : 0;
            bool ok = f->ver[i] >= d->ver[i] && f->ver[i] - d->ver[i] <= lives;
            if (!ok && !lost++)
                first = i;
        }
        if (lost)
            fail("the file at the end, %s: %llu of %s's records are not at the version it "
                 "reported; the first, %llu, is at version %llu, reported %llu",
                 how, (unsigned long long)lost, proc_names[w], (unsigned long long)first + 1,
                 (unsigned long long)f->ver[first], (unsigned long long)d->ver[first]);
    }
    scan_free(&s);
}

int test_killloop(int argc, char **argv)
{
    if (argc != 1 && argc != 2)
        fatal("killloop KILLS [RECORD-SIZE]");
    uint64_t kills = strtoull(argv[0], NULL, 10);
    if (argc == 2)
        rec = strtoul(argv[1], NULL, 10);
    if (rec < 40 || rec > REC_MAX || rec % 8)
        fatal("a record is 40 to %d bytes, a multiple of 8", REC_MAX);
    L.path = root_path("records");
    L.rng = run.seed;
    int fd = open(L.path, O_RDWR | O_CREAT | O_EXCL, 0644);
    if (fd < 0 || close(fd))
        fatal("creating %s: %s", L.path, strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    /* The survivor opens the file first, then the reader: a library that
     * lets one process serve a file must give it to a writer. */
    start_proc(SURVIVOR);
    while (L.done[SURVIVOR].n == 0)
        pump(0.05);
    start_proc(READER);
    while (L.reads == 0)
        pump(0.05);
    while (L.kills < kills)
        victim_life();
    L.victim_started = false;
    start_proc(VICTIM);
    uint64_t ops0 = L.victim_ops;
    while (!L.victim_started || L.victim_ops - ops0 < 100)
        pump(0.05);
    finish_all();

    uint8_t *buf;
    size_t size = read_file(L.path, &buf);
    final_check(buf, size, "read through the kernel");
    struct child a;
    struct model m = {0};
    model_truncate(&m, size);
    memcpy(m.buf, buf, size);
    actor_start(&a, "a reader under the library", true, -1);
    actor_do(&a, NULL, "open 0 %s r", L.path);
    actor_check_view(&a, 0, &m, "the file at the end read through the library");
    actor_do(&a, NULL, "exit");
    child_finish(&a);
    free(m.buf);
    free(buf);
    printf("killloop: %llu kills (%llu in the victim's start), %llu operations, %llu reads, "
           "%zu records\n",
           (unsigned long long)L.kills, (unsigned long long)L.recovery_kills,
           (unsigned long long)L.ops, (unsigned long long)L.reads, size / rec);
    return 0;
}
