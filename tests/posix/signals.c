/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * signals.c - signal handlers that call the library on managed files while
 * the thread they interrupt is inside it.
 *
 * Built twice from this source: linked with libnvmmio and plain. The
 * runner (run_signals.sh) runs both on fresh directories, the first with
 * the directory as pmem root, and compares what they print byte for byte.
 *
 *   stress   The main thread cycles through write (appends), pwrite, read,
 *            pread, lseek, fsync, fdatasync, ftruncate, fstat, open/close
 *            and dup/close on two managed files, appending 4 KiB records
 *            to the first one well past 1 MiB (where, on forced pmem, the
 *            helper thread prepares storage ahead of appends). A SIGALRM
 *            timer at 200 us, SIGUSR1 and a queued real-time signal sent by
 *            another thread interrupt it; their handlers make each kind of
 *            call on both files, appending 64-byte records too. Records
 *            carry writer, sequence and checksum. Handlers change the files
 *            only in their first CAP runs, and the program runs until each
 *            handler has run that often, so the files end the same however
 *            the signals fell; the output is their content, with the
 *            interleaved appends sorted by writer and sequence.
 *   semantics  sigaction reports the program's handlers; SA_SIGINFO,
 *            SA_RESETHAND, SA_NODEFER, signal, sysv_signal, sigset,
 *            siginterrupt, the signal mask, fork and exec behave as without
 *            the library; F_SETLKW on a managed file still returns EINTR.
 *
 * Each mode runs in a child watched by the parent, which kills it and
 * fails after WATCHDOG_S seconds (a deadlock in a handler never returns).
 *
 * Usage: nvmmio_signals stress|semantics DIR OUT
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef NVMMIO_LINKED
#include "libnvmmio.h"
#endif

#define WATCHDOG_S 30
/* ThreadSanitizer runs handlers at its own pace, many times slower: the
 * timer must leave the main thread time to get on. */
#ifdef __SANITIZE_THREAD__
#define TIMER_US 2000
#define MAIN_OPS 3000
#define CAP      150
#define RT_EXACT 0 /* it keeps one pending signal of a number: queued ones merge */
#else
#define RT_EXACT 1
#define TIMER_US 200
#define MAIN_OPS 12000 /* main thread's calls */
#define CAP      600   /* runs of each handler that change the files */
#endif
#define BIG      4096       /* main thread's records */
#define SMALL    64         /* handlers' records */
#define SLOTS    8          /* overwritten records per writer */
#define HEAD     (64 << 10) /* A: slots; appends from here */
#define B_SIZE   (128 << 10)
#define RT_SENDS 3000

enum { MAIN, ALRM, USR1, RT, WRITERS };

struct record {
    uint32_t magic, writer, seq, len;
    uint64_t sum;
    uint64_t pad[5];
};

static char dir[256];
static int fd_a, fd_append, fd_b;
static int fd_handlers; /* A, with an offset of the handlers' own */
static int failures;
static volatile sig_atomic_t runs[WRITERS];
static volatile int rt_next, rt_bad;
static int stop_sender, rt_sent; /* atomic: the sender thread's */
static uint32_t appended[WRITERS];

static void fail(const char *what, long a, long b)
{
    char line[160];
    int n = snprintf(line, sizeof(line), "signals: FAILED: %s (%ld, %ld)\n", what, a, b);
    write(2, line, (size_t)n);
    failures++;
}

static uint64_t sum_of(const char *rec, uint32_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < len; i++)
        if (i < 16 || i >= 24)
            h = (h ^ (uint8_t)rec[i]) * 1099511628211ull;
    return h;
}

static void make(char *buf, uint32_t writer, uint32_t seq, uint32_t len)
{
    struct record *r = (struct record *)buf;
    memset(buf, 0, len);
    *r = (struct record){.magic = 0x5349474e, .writer = writer, .seq = seq, .len = len};
    for (uint32_t i = sizeof(*r); i < len; i++)
        buf[i] = (char)(writer * 37 + seq * 11 + i);
    r->sum = sum_of(buf, len);
}

static int whole(const char *buf, uint32_t len)
{
    const struct record *r = (const struct record *)buf;
    return r->magic == 0x5349474e && r->len == len && r->sum == sum_of(buf, len);
}

static void path_of(char *out, const char *name)
{
    strcpy(out, dir);
    strcat(out, "/");
    strcat(out, name);
}

/* ---- the calls, shared by the main thread and the handlers -------------- */

/* Reads the record at off and checks it is whole (or never written). */
static void check_slot(int fd, off_t off)
{
    char buf[BIG];
    const struct record *r = (const struct record *)buf;
    ssize_t n = pread(fd, buf, BIG, off);
    if (n < SMALL)
        fail("pread of a record", n, errno);
    else if (r->magic && (r->len > (size_t)n || !whole(buf, r->len)))
        fail("torn record", (long)off, r->len);
}

static off_t slot_of(int writer, uint32_t seq)
{
    uint32_t len = writer == MAIN ? BIG : SMALL;
    off_t base = writer == MAIN ? 0 : (32 << 10) + (writer - 1) * SLOTS * SMALL;
    return base + (off_t)(seq % SLOTS) * len;
}

static void put_slot(int fd, int writer, uint32_t seq)
{
    char buf[BIG];
    uint32_t len = writer == MAIN ? BIG : SMALL;
    make(buf, (uint32_t)writer, seq, len);
    if (pwrite(fd, buf, len, slot_of(writer, seq)) != (ssize_t)len)
        fail("pwrite of a slot", writer, errno);
}

static void append(int writer)
{
    char buf[BIG];
    uint32_t len = writer == MAIN ? BIG : SMALL;
    make(buf, (uint32_t)writer, appended[writer]++, len);
    if (write(fd_append, buf, len) != (ssize_t)len)
        fail("append", writer, errno);
}

static void reopen(const char *name, off_t min_size)
{
    char p[300];
    path_of(p, name);
    int fd = open(p, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || st.st_size < min_size)
        fail("reopen", fd, errno);
    check_slot(fd, 0);
    if (fd >= 0 && close(fd) != 0)
        fail("close", fd, errno);
}

static void with_dup(int fd, off_t min_size)
{
    int d = dup(fd);
    struct stat st;
    if (d < 0 || fstat(d, &st) != 0 || st.st_size < min_size || close(d) != 0)
        fail("dup", d, errno);
}

/* Grows a file and takes the growth back: no trace in the end. */
static void grow_and_shrink(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || ftruncate(fd, st.st_size + 12345) != 0 ||
        ftruncate(fd, st.st_size) != 0)
        fail("ftruncate", fd, errno);
}

static void read_back(int fd)
{
    char buf[SMALL];
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < HEAD || lseek(fd, 0, SEEK_SET) != 0 || read(fd, buf, SMALL) != SMALL)
        fail("lseek/read", end, errno);
    lseek(fd, 0, SEEK_END);
}

/* One call of each kind in turn; `changes` false: only those that leave
 * the files as they are. */
static void one_call(int writer, uint32_t seq, int kind, int changes)
{
    int other = writer == MAIN ? fd_b : (seq & 1 ? fd_a : fd_b);
    switch (kind % 10) {
    case 0:
        if (changes)
            append(writer);
        else
            check_slot(fd_a, HEAD);
        break;
    case 1:
        if (changes)
            put_slot(fd_a, writer, seq);
        check_slot(fd_a, slot_of(writer, seq));
        break;
    case 2:
        if (changes)
            put_slot(fd_b, writer, seq);
        check_slot(fd_b, slot_of(writer, seq));
        break;
    case 3:
        read_back(writer == MAIN ? fd_a : fd_handlers);
        break;
    case 4:
        if (fsync(fd_a) != 0 || fdatasync(fd_b) != 0)
            fail("fsync", writer, errno);
        break;
    case 5:
        if (writer != MAIN || changes)
            grow_and_shrink(writer == MAIN ? fd_b : other);
        break;
    case 6:
        reopen(seq & 1 ? "a" : "b", HEAD);
        break;
    case 7:
        with_dup(other, HEAD);
        break;
    case 8: {
        struct stat st;
        if (fstat(fd_a, &st) != 0 || st.st_size < HEAD || fstat(fd_b, &st) != 0)
            fail("fstat", writer, errno);
        break;
    }
    default:
        check_slot(other, slot_of(MAIN, seq));
        break;
    }
}

/* ---- stress ------------------------------------------------------------- */

static void handler_body(int writer)
{
    int saved = errno;
    uint32_t seq = (uint32_t)runs[writer];
    one_call(writer, seq, (int)seq, seq < CAP);
    one_call(writer, seq, (int)seq + 5, seq < CAP);
    runs[writer] = (sig_atomic_t)(seq + 1);
    errno = saved;
}

static void on_alarm(int sig)
{
    (void)sig;
    handler_body(ALRM);
}

static void on_usr1(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)info;
    (void)ctx;
    handler_body(USR1);
}

/* Queued real-time signals: every value once, whatever was deferred. */
static void on_rt(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)ctx;
    if (info->si_code != SI_QUEUE)
        rt_bad++;
    rt_next += info->si_value.sival_int;
    handler_body(RT);
}

static pthread_t main_thread;

static void *sender(void *arg)
{
    (void)arg;
    struct timespec pause = {0, TIMER_US * 750};
    for (int sent = 0; !__atomic_load_n(&stop_sender, __ATOMIC_RELAXED);) {
        pthread_kill(main_thread, SIGUSR1);
        /* Values 1, 2, 3...: each one that was queued. */
        if (sent < RT_SENDS &&
            pthread_sigqueue(main_thread, SIGRTMIN + 1, (union sigval){.sival_int = sent + 1}) == 0)
            __atomic_store_n(&rt_sent, ++sent, __ATOMIC_RELAXED);
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void handle(int sig, void (*fn)(int, siginfo_t *, void *), void (*plain)(int))
{
    struct sigaction sa = {.sa_flags = SA_RESTART};
    if (fn) {
        sa.sa_sigaction = fn;
        sa.sa_flags |= SA_SIGINFO;
    } else {
        sa.sa_handler = plain;
    }
    /* One handler at a time: each changes the files as a unit. */
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGALRM);
    sigaddset(&sa.sa_mask, SIGUSR1);
    sigaddset(&sa.sa_mask, SIGRTMIN + 1);
    if (sigaction(sig, &sa, NULL) != 0)
        fail("sigaction", sig, errno);
}

static int open_file(const char *name, int flags)
{
    char p[300];
    path_of(p, name);
    int fd = open(p, flags, 0644);
    if (fd < 0)
        fail("open", flags, errno);
    return fd;
}

/* The files as the output shows them: slots as they are, appends sorted. */
static void dump(FILE *out)
{
    struct stat st;
    fstat(fd_a, &st);
    char *a = malloc((size_t)st.st_size);
    if (!a || pread(fd_a, a, (size_t)st.st_size, 0) != st.st_size) {
        fail("read of a", st.st_size, errno);
        return;
    }
    fwrite(a, 1, HEAD, out);
    uint32_t next[WRITERS] = {0};
    for (off_t off = HEAD; off < st.st_size;) {
        const struct record *r = (const struct record *)(a + off);
        if (off + SMALL > st.st_size || r->writer >= WRITERS || off + r->len > st.st_size ||
            !whole(a + off, r->len) || r->seq != next[r->writer]) {
            fail("append area broken at", (long)off, r->writer);
            break;
        }
        next[r->writer]++;
        off += r->len;
    }
    for (int w = 0; w < WRITERS; w++) {
        fprintf(out, "\nwriter %d: %u appends\n", w, next[w]);
        for (uint32_t s = 0; s < next[w]; s++) {
            char buf[BIG];
            make(buf, (uint32_t)w, s, w == MAIN ? BIG : SMALL);
            fwrite(buf, 1, w == MAIN ? BIG : SMALL, out);
        }
    }
    free(a);
    fstat(fd_b, &st);
    char b[B_SIZE];
    fprintf(out, "\nb: %lld bytes\n", (long long)st.st_size);
    if (pread(fd_b, b, B_SIZE, 0) == B_SIZE)
        fwrite(b, 1, B_SIZE, out);
}

static int stress(FILE *out)
{
    main_thread = pthread_self();
    fd_a = open_file("a", O_RDWR | O_CREAT | O_TRUNC);
    fd_append = open_file("a", O_WRONLY | O_APPEND);
    fd_b = open_file("b", O_RDWR | O_CREAT | O_TRUNC);
    fd_handlers = open_file("a", O_RDONLY);
#ifdef NVMMIO_LINKED
    if (!nvmmio_is_managed(fd_a) || !nvmmio_is_managed(fd_b))
        fail("files not managed", fd_a, fd_b);
#endif
    if (ftruncate(fd_a, HEAD) != 0 || ftruncate(fd_b, B_SIZE) != 0)
        fail("setup", 0, errno);
    handle(SIGALRM, NULL, on_alarm);
    handle(SIGUSR1, on_usr1, NULL);
    handle(SIGRTMIN + 1, on_rt, NULL);

    /* The sender's signals go to the main thread only. */
    sigset_t mine, old;
    sigemptyset(&mine);
    sigaddset(&mine, SIGALRM);
    sigaddset(&mine, SIGUSR1);
    sigaddset(&mine, SIGRTMIN + 1);
    pthread_sigmask(SIG_BLOCK, &mine, &old);
    pthread_t t;
    pthread_create(&t, NULL, sender, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    struct itimerval fast = {{0, TIMER_US}, {0, TIMER_US}}, off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &fast, NULL);

    for (uint32_t i = 0; i < MAIN_OPS; i++)
        one_call(MAIN, i / 10, (int)i, 1);
    while (runs[ALRM] < CAP || runs[USR1] < CAP || runs[RT] < CAP)
        one_call(MAIN, 0, 8, 0);

    __atomic_store_n(&stop_sender, 1, __ATOMIC_RELAXED);
    pthread_join(t, NULL);
    while (RT_EXACT && runs[RT] < rt_sent)
        one_call(MAIN, 0, 3, 0);
    setitimer(ITIMER_REAL, &off, NULL);
    pthread_sigmask(SIG_BLOCK, &mine, NULL);
    if (rt_bad)
        fail("queued signal without its siginfo", rt_bad, 0);
    /* Values 1..n in some order: each came once. */
    long n = runs[RT];
    if (RT_EXACT && (n != rt_sent || rt_next != n * (n + 1) / 2))
        fail("queued values", rt_next, n);
    dump(out);
    close(fd_handlers);
    close(fd_append);
    close(fd_a);
    close(fd_b);
    return failures;
}

/* ---- semantics ---------------------------------------------------------- */

static volatile int hits, depth, max_depth;

static void count(int sig)
{
    (void)sig;
    hits++;
}

static void nested(int sig)
{
    hits++;
    depth++;
    if (depth > max_depth)
        max_depth = depth;
    if (hits == 1)
        raise(sig);
    depth--;
}

static void show_action(FILE *out, const char *what, int sig)
{
    struct sigaction sa;
    sigaction(sig, NULL, &sa);
    const char *h = sa.sa_handler == SIG_DFL   ? "default"
                    : sa.sa_handler == SIG_IGN ? "ignore"
                    : sa.sa_handler == count   ? "count"
                    : sa.sa_handler == nested  ? "nested"
                                               : "other";
    const int known = SA_SIGINFO | SA_RESTART | SA_NODEFER | SA_RESETHAND | SA_ONSTACK;
    fprintf(out, "%s: %s flags %#x mask usr2 %d\n", what, h, sa.sa_flags & known,
            sigismember(&sa.sa_mask, SIGUSR2));
}

static void on_lock_alarm(int sig)
{
    (void)sig;
}

/* F_SETLKW on a managed file held by another process: the signal
 * interrupts it (no SA_RESTART), as without the library. */
static void lock_interrupted(FILE *out)
{
    int ready[2], done[2];
    if (pipe(ready) || pipe(done))
        fail("pipe", 0, errno);
    pid_t holder = fork();
    if (holder == 0) {
        close(ready[0]);
        close(done[1]);
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1};
        fcntl(fd_a, F_SETLK, &fl);
        write(ready[1], "x", 1);
        char c;
        read(done[0], &c, 1);
        _exit(0);
    }
    char c;
    read(ready[0], &c, 1);
    struct sigaction sa = {.sa_handler = on_lock_alarm};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval once = {{0, 0}, {0, 100000}};
    setitimer(ITIMER_REAL, &once, NULL);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_len = 1};
    int rc = fcntl(fd_a, F_SETLKW, &fl);
    fprintf(out, "F_SETLKW: %d %s\n", rc, rc < 0 && errno == EINTR ? "EINTR" : "other");
    if (rc != -1 || errno != EINTR)
        fail("F_SETLKW not interrupted", rc, errno);
    write(done[1], "x", 1);
    waitpid(holder, NULL, 0);
}

static int exec_check(FILE *out)
{
    show_action(out, "after exec, caught before", SIGUSR1);
    show_action(out, "after exec, ignored before", SIGUSR2);
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, NULL, &now);
    fprintf(out, "after exec, winch blocked %d\n", sigismember(&now, SIGWINCH));
    return 0;
}

static int semantics(FILE *out, const char *self, const char *out_path)
{
    fd_a = open_file("a", O_RDWR | O_CREAT | O_TRUNC);
    char buf[SMALL];
    make(buf, 0, 0, SMALL);

    struct sigaction sa = {.sa_handler = count, .sa_flags = SA_RESTART}, old;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaction(SIGUSR1, &sa, &old);
    fprintf(out, "old handler is default: %d\n", old.sa_handler == SIG_DFL);
    show_action(out, "installed", SIGUSR1);
    sa.sa_handler = nested;
    sa.sa_flags = SA_NODEFER;
    sigaction(SIGUSR1, &sa, &old);
    fprintf(out, "old handler is count: %d\n", old.sa_handler == count);

    /* SA_NODEFER: the handler's own raise nests. */
    hits = max_depth = 0;
    raise(SIGUSR1);
    fprintf(out, "nodefer: hits %d depth %d\n", hits, max_depth);
    sa.sa_flags = 0;
    sigaction(SIGUSR1, &sa, NULL);
    hits = max_depth = 0;
    raise(SIGUSR1);
    fprintf(out, "defer: hits %d depth %d\n", hits, max_depth);

    /* SA_RESETHAND: once, then the default (ignore, for SIGWINCH). */
    sa.sa_handler = count;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGWINCH, &sa, NULL);
    hits = 0;
    raise(SIGWINCH);
    raise(SIGWINCH);
    fprintf(out, "resethand: hits %d\n", hits);
    show_action(out, "after resethand", SIGWINCH);

    /* The one-call forms. */
    sighandler_t prev = signal(SIGUSR2, count);
    fprintf(out, "signal: old default %d\n", prev == SIG_DFL);
    show_action(out, "signal", SIGUSR2);
    siginterrupt(SIGUSR2, 1);
    show_action(out, "siginterrupt", SIGUSR2);
    prev = sysv_signal(SIGUSR2, count);
    fprintf(out, "sysv_signal: old count %d\n", prev == count);
    show_action(out, "sysv_signal", SIGUSR2);
    hits = 0;
    raise(SIGUSR2);
    show_action(out, "sysv_signal after one", SIGUSR2);
    fprintf(out, "sysv_signal: hits %d\n", hits);
    prev = sigset(SIGUSR2, count);
    fprintf(out, "sigset: old default %d\n", prev == SIG_DFL);
    prev = sigset(SIGUSR2, SIG_HOLD);
    fprintf(out, "sigset hold: old count %d\n", prev == count);
    prev = sigset(SIGUSR2, SIG_IGN);
    fprintf(out, "sigset ignore: old hold %d\n", prev == SIG_HOLD);
    fprintf(out, "bad signal: %d\n", sigaction(SIGKILL, &sa, NULL) == -1 && errno == EINVAL);

    /* The program's mask holds a signal through calls on a managed file. */
    sa.sa_handler = count;
    sa.sa_flags = 0;
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &one, NULL);
    hits = 0;
    raise(SIGUSR1);
    for (int i = 0; i < 100; i++)
        if (pwrite(fd_a, buf, SMALL, i * SMALL) != SMALL || fsync(fd_a) != 0)
            fail("pwrite", i, errno);
    fprintf(out, "blocked: hits %d\n", hits);
    pthread_sigmask(SIG_UNBLOCK, &one, NULL);
    fprintf(out, "unblocked: hits %d\n", hits);

    /* A forked child keeps the handlers. */
    pid_t child = fork();
    if (child == 0) {
        hits = 0;
        raise(SIGUSR1);
        _exit(hits == 1 && write(fd_a, buf, SMALL) == SMALL ? 0 : 1);
    }
    int status;
    waitpid(child, &status, 0);
    fprintf(out, "fork: child status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);

    lock_interrupted(out);

    /* exec: caught signals back to the default, ignored and blocked ones
     * stay so. */
    fflush(out);
    signal(SIGUSR2, SIG_IGN);
    sigemptyset(&one);
    sigaddset(&one, SIGWINCH);
    pthread_sigmask(SIG_BLOCK, &one, NULL);
    child = fork();
    if (child == 0) {
        execl(self, self, "exec-check", dir, out_path, (char *)NULL);
        _exit(127);
    }
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("exec check", status, 0);
    close(fd_a);
    return failures;
}

/* ---- the watchdog ------------------------------------------------------- */

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s stress|semantics|exec-check DIR OUT\n", argv[0]);
        return 2;
    }
    snprintf(dir, sizeof(dir), "%s", argv[2]);
    const char *mode = argv[1];
    if (!strcmp(mode, "exec-check")) {
        FILE *out = fopen(argv[3], "a");
        return out ? exec_check(out) | fclose(out) : 1;
    }
    pid_t child = fork();
    if (child == 0) {
        setpgid(0, 0);                    /* the watchdog ends its children too */
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* and a watchdog killed ends it */
        FILE *out = fopen(argv[3], "w");
        if (!out)
            _exit(2);
        int rc = !strcmp(mode, "stress") ? stress(out) : semantics(out, argv[0], argv[3]);
        fclose(out);
        _exit(rc ? 1 : 0);
    }
    struct timespec tick = {0, 20000000};
    for (int waited = 0; waited < WATCHDOG_S * 50; waited++) {
        int status;
        if (waitpid(child, &status, WNOHANG) == child) {
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
            fprintf(stderr, "signals: %s failed (status %#x)\n", mode, status);
            return 1;
        }
        nanosleep(&tick, NULL);
    }
    kill(-child, SIGKILL);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    fprintf(stderr,
            "signals: %s hung for %d s (a handler waiting on the thread it "
            "interrupted?)\n",
            mode, WATCHDOG_S);
    return 1;
}
