/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * plumbing.c - calls that reach a managed file past the usual wrappers, as
 * the kernel answers them:
 *  - closefrom (the C library closes with its internal close_range) and
 *    close through syscall(2), then a pipe and a file that take the freed
 *    numbers;
 *  - a file opened with openat2 through syscall(2) (the C library has no
 *    wrapper), read and written beside a descriptor of the library's;
 *  - POSIX AIO reads and writes (the C library's threads use its internal
 *    pread and pwrite) after writes through the library;
 *  - splice and sendfile from a managed file into a pipe with less room
 *    than asked for, and with SPLICE_F_NONBLOCK into a full pipe and from
 *    an empty one;
 *  - the position of a stream opened for appending ("a"), and "a+"; what
 *    a stream's buffer lets another reader see while it writes, and how
 *    far its reads move the descriptor;
 *  - copy_file_range to a file on another file system (EXDEV), when the
 *    temporary directory is one;
 *  - wide-character streams (fputws, fwprintf, fputwc, fgetwc, ungetwc,
 *    fgetws, fwide) in UTF-8;
 *  - one thread forking and another spawning, 300 times each, while a
 *    third appends to a managed file (a hang is the alarm's failure);
 *  - threads cancelled while they loop over calls on a managed file (reads
 *    only; writes, fsync, opens and closes), 100 times each at varying
 *    moments: each is cancelled (the calls are cancellation points), and
 *    the file answers the next calls (a hang is the alarm's failure);
 *  - a process that ends (exit, return from main) with a stream it never
 *    closed (the C library flushes it after every destructor), one that
 *    ends with quick_exit, children that end with _exit and _Exit with a
 *    file written past its end and a new one still open, one whose thread makes new files while it
 * ends, and one that ends while another thread writes: every byte written, and every record whose
 * write returned, is in the file after;
 *  - a main thread that ends with pthread_exit, alone and beside a thread
 *    that writes later: the process ends, and the files are whole;
 *  - dprintf between writes (the C library's writes past the wrappers);
 *  - writes and truncates of files opened under a descriptor limit of 10
 *    (the library may open fewer of them, but a call on one it opened
 *    never fails for want of a descriptor of its own).
 * Prints every result; run_same.sh runs it plainly and under the library
 * and compares the lines and the files.
 *
 * Usage: plumbing DIR
 */
#define _GNU_SOURCE
#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <locale.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

static const char *dir;

static char *path_of(const char *name)
{
    static char buf[4][4096];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 4096, "%s/%s", dir, name);
    return p;
}

static void result(const char *what, long r)
{
    printf("%s: %ld%s%s\n", what, r, r < 0 ? " " : "", r < 0 ? strerrorname_np(errno) : "");
}

static int make(const char *name, const char *bytes)
{
    int fd = open(path_of(name), O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, bytes, strlen(bytes)) != (ssize_t)strlen(bytes)) {
        perror(name);
        exit(2);
    }
    return fd;
}

/* Numbers freed behind the wrappers' backs, taken again by a pipe and a
 * file. */
static void closes(bool through_syscall)
{
    const char *name = through_syscall ? "closed-syscall" : "closed-closefrom";
    int fd = make(name, "hello\n");
    if (through_syscall)
        result("syscall close", syscall(SYS_close, fd));
    else
        closefrom(3);
    result("write to the closed number", write(fd, "X", 1));
    int p[2];
    result("pipe", pipe(p));
    result("pipe write", write(p[1], "pipe", 4));
    char b[16] = {0};
    result("pipe read", read(p[0], b, sizeof(b) - 1));
    printf("pipe bytes: %s\n", b);
    int g = open(path_of(through_syscall ? "after-syscall" : "after-closefrom"),
                 O_RDWR | O_CREAT | O_TRUNC, 0644);
    result("write to a new file", write(g, "gee\n", 4));
    close(p[0]);
    close(p[1]);
    close(g);
}

static void openat2_beside(void)
{
    int fd = make("openat2", "0123456789");
    result("fsync", fsync(fd));
    result("pwrite", pwrite(fd, "AB", 2, 2));
    struct open_how how = {.flags = O_RDWR, .resolve = RESOLVE_NO_SYMLINKS};
    int g = (int)syscall(SYS_openat2, AT_FDCWD, path_of("openat2"), &how, sizeof(how));
    result("openat2", g >= 0 ? 0 : -1);
    char b[32] = {0};
    result("pread through it", pread(g, b, sizeof(b) - 1, 0));
    printf("bytes: %s\n", b);
    result("pwrite through it", pwrite(g, "g", 1, 0));
    result("lseek end through it", lseek(g, 0, SEEK_END));
    result("write at its end", write(g, "!", 1));
    memset(b, 0, sizeof(b));
    result("pread through the first", pread(fd, b, sizeof(b) - 1, 0));
    printf("bytes: %s\n", b);
    close(g);
    close(fd);
}

static long aio_wait(struct aiocb *cb, int (*op)(struct aiocb *))
{
    if (op(cb) < 0)
        return -1;
    const struct aiocb *list[1] = {cb};
    while (aio_error(cb) == EINPROGRESS)
        aio_suspend(list, 1, NULL);
    return aio_return(cb);
}

static void posix_aio(bool new_epoch)
{
    int fd = make(new_epoch ? "aio-synced" : "aio", "0123456789");
    if (new_epoch)
        fsync(fd);
    pwrite(fd, "ab", 2, 3);
    char b[64] = {0};
    struct aiocb rd = {.aio_fildes = fd, .aio_buf = b, .aio_nbytes = 50, .aio_offset = 0};
    result("aio_read", aio_wait(&rd, aio_read));
    printf("bytes: %s\n", b);
    struct aiocb wr = {.aio_fildes = fd, .aio_buf = "AIO", .aio_nbytes = 3, .aio_offset = 8};
    result("aio_write", aio_wait(&wr, aio_write));
    struct stat st;
    result("fstat size", fstat(fd, &st) == 0 ? st.st_size : -1);
    memset(b, 0, sizeof(b));
    result("pread", pread(fd, b, 50, 0));
    printf("bytes: %s\n", b);
    close(fd);
}

static void into_pipes(void)
{
    static char big[200000];
    memset(big, 's', sizeof(big));
    int fd = make("spliced", "");
    if (write(fd, big, sizeof(big)) != (ssize_t)sizeof(big))
        exit(2);
    int p[2];
    if (pipe(p))
        exit(2);
    lseek(fd, 0, SEEK_SET);
    result("splice into a 64 KiB pipe", splice(fd, NULL, p[1], NULL, sizeof(big), 0));
    result("position", lseek(fd, 0, SEEK_CUR));
    result("splice NONBLOCK into the full pipe",
           splice(fd, NULL, p[1], NULL, 100, SPLICE_F_NONBLOCK));
    static char drain[65536];
    result("drain", read(p[0], drain, sizeof(drain)));
    result("sendfile into the pipe", sendfile(p[1], fd, NULL, sizeof(big)));
    result("position", lseek(fd, 0, SEEK_CUR));
    result("drain", read(p[0], drain, sizeof(drain)));
    result("splice NONBLOCK from the empty pipe",
           splice(p[0], NULL, fd, NULL, 100, SPLICE_F_NONBLOCK));
    close(p[0]);
    close(p[1]);
    close(fd);
}

static void append_streams(void)
{
    FILE *f = fopen(path_of("appended"), "w");
    fputs("hello\n", f);
    fclose(f);
    f = fopen(path_of("appended"), "a");
    result("ftell after fopen a", ftell(f));
    fputs("x", f);
    result("ftell after a write", ftell(f));
    fclose(f);
    f = fopen(path_of("appended"), "a+");
    result("ftell after fopen a+", ftell(f));
    fclose(f);
}

static void stream_buffers(void)
{
    static char buf[5000];
    memset(buf, 'x', sizeof(buf));
    FILE *f = fopen(path_of("buffered"), "w");
    fwrite(buf, 1, sizeof(buf), f);
    struct stat st;
    result("size seen while the stream writes", stat(path_of("buffered"), &st) ? -1 : st.st_size);
    fclose(f);
    f = fopen(path_of("buffered"), "r");
    result("fread", (long)fread(buf, 1, 10, f));
    result("descriptor position after it", lseek(fileno(f), 0, SEEK_CUR));
    fclose(f);
}

static void across_file_systems(void)
{
    char other[] = "/tmp/nvmmio-plumbing.XXXXXX";
    int out = mkstemp(other);
    struct stat a, b;
    int in = make("crossing", "0123456789");
    lseek(in, 0, SEEK_SET);
    if (out < 0 || fstat(in, &a) || fstat(out, &b) || a.st_dev == b.st_dev) {
        printf("copy_file_range across file systems: not tried here\n");
    } else {
        result("copy_file_range across file systems", copy_file_range(in, NULL, out, NULL, 10, 0));
        result("input position", lseek(in, 0, SEEK_CUR));
    }
    if (out >= 0) {
        close(out);
        unlink(other);
    }
    close(in);
}

/* In the C locale, what ASCII lacks is transliterated. */
static void wide_streams_ascii(void)
{
    FILE *f = fopen(path_of("wide-ascii"), "w");
    result("fputws in the C locale", fputws(L"caf\u00e9 \u20ac\n", f));
    result("fwprintf in the C locale", fwprintf(f, L"%d\n", 42));
    result("fputwc in the C locale", (long)fputwc(L'\u00e9', f));
    result("ferror", ferror(f));
    fclose(f);
}

static void wide_streams(void)
{
    wide_streams_ascii();
    if (!setlocale(LC_ALL, "C.UTF-8")) {
        printf("wide streams: no C.UTF-8 locale here\n");
        return;
    }
    FILE *f = fopen(path_of("wide"), "w");
    result("fwide of a new stream", fwide(f, 0));
    result("fputws", fputws(L"h\u00e9llo\n", f));
    result("fwprintf", fwprintf(f, L"%d %ls\n", 42, L"\u00fcber"));
    result("fputwc", (long)fputwc(L'\u20ac', f));
    result("fwide after them", fwide(f, 0));
    fclose(f);
    f = fopen(path_of("wide"), "r");
    result("fgetwc", (long)fgetwc(f));
    wint_t second = fgetwc(f);
    result("fgetwc", (long)second);
    result("ungetwc", (long)ungetwc(second, f));
    wchar_t line[64];
    while (fgetws(line, 64, f))
        printf("fgetws: %ls", line);
    result("feof", feof(f));
    fclose(f);
    setlocale(LC_ALL, "C");
}

extern char **environ;
static int appended;
static volatile int appending;

static void *appender(void *arg)
{
    (void)arg;
    while (__atomic_load_n(&appending, __ATOMIC_RELAXED))
        if (write(appended, "line\n", 5) != 5)
            exit(2);
    return NULL;
}

static void *forker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 300; i++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        waitpid(pid, NULL, 0);
    }
    return NULL;
}

static void *spawner(void *arg)
{
    (void)arg;
    char *argv[] = {"true", NULL};
    for (int i = 0; i < 300; i++) {
        pid_t pid;
        if (posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ) == 0)
            waitpid(pid, NULL, 0);
    }
    return NULL;
}

static void fork_and_spawn(void)
{
    appended = open(path_of("forkspawn"), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    appending = 1;
    pthread_t w, f, sp;
    pthread_create(&w, NULL, appender, NULL);
    pthread_create(&f, NULL, forker, NULL);
    pthread_create(&sp, NULL, spawner, NULL);
    pthread_join(f, NULL);
    pthread_join(sp, NULL);
    __atomic_store_n(&appending, 0, __ATOMIC_RELAXED);
    pthread_join(w, NULL);
    struct stat st;
    result("fork and spawn beside an appender: whole lines",
           fstat(appended, &st) == 0 && st.st_size % 5 == 0);
    close(appended);
}

static int cancelled_fd;

/* The looping threads' buffers are not on their stacks: a cancel unwinds
 * a frame without taking its redzones away, which AddressSanitizer would
 * find when the thread's stack is reused. One thread runs at a time. */
static char loop_buf[8192];

static void *reading(void *arg)
{
    (void)arg;
    char *buf = loop_buf;
    for (off_t off = 0;; off = (off + 4096) % (1 << 20))
        if (pread(cancelled_fd, buf, 4096, off) != 4096)
            exit(2);
    return NULL;
}

static void *changing(void *arg)
{
    (void)arg;
    char *buf = loop_buf;
    memset(buf, 'c', sizeof(loop_buf));
    for (unsigned i = 0;; i++) {
        if (pwrite(cancelled_fd, buf, sizeof(loop_buf), (off_t)(i * 4096 % (1 << 20))) !=
            sizeof(loop_buf))
            exit(2);
        if (i % 4 == 0 && fsync(cancelled_fd) != 0)
            exit(2);
        if (i % 8 == 0) {
            int fd = open(path_of("cancelled"), O_RDWR);
            if (fd < 0 || write(fd, buf, 100) != 100 || close(fd) != 0)
                exit(2);
        }
    }
    return NULL;
}

/* Each thread cancelled after 0 to 900 µs of its loop; then the calls
 * that a cancel unwinding with the library's locks held would hang. */
static void cancelled_threads(void)
{
    cancelled_fd = make("cancelled", "");
    if (ftruncate(cancelled_fd, 1 << 20) != 0)
        exit(2);
    void *(*loops[])(void *) = {reading, changing};
    const char *names[] = {"reads", "changes"};
    for (int kind = 0; kind < 2; kind++) {
        int cancelled = 0, answered = 0;
        for (int round = 0; round < 100; round++) {
            pthread_t t;
            if (pthread_create(&t, NULL, loops[kind], NULL) != 0)
                exit(2);
            usleep((useconds_t)(round % 10 * 100));
            pthread_cancel(t);
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 10;
            void *ret;
            if (pthread_timedjoin_np(t, &ret, &until) != 0) {
                printf("a thread looping over %s was not cancelled\n", names[kind]);
                return;
            }
            cancelled += ret == PTHREAD_CANCELED;
            char c;
            answered += pwrite(cancelled_fd, "x", 1, 0) == 1 &&
                        pread(cancelled_fd, &c, 1, 0) == 1 && c == 'x' && fsync(cancelled_fd) == 0;
        }
        printf("threads looping over %s: %d cancelled, the file answered after %d\n", names[kind],
               cancelled, answered);
    }
    close(cancelled_fd);
}

/* The records a thread wrote, and whose writes returned, before its
 * process ended. */
static unsigned *records_done;
static int records_fd;

static void record_of(unsigned i, char *rec)
{
    memset(rec, 'a' + (char)(i % 26), 4096);
    memcpy(rec, &i, sizeof(i));
}

static void *writing_records(void *arg)
{
    (void)arg;
    char rec[4096];
    for (unsigned i = 0;; i++) {
        record_of(i, rec);
        if (pwrite(records_fd, rec, sizeof(rec), (off_t)i * 4096 % (64 << 20)) != sizeof(rec))
            _exit(2);
        __atomic_store_n(records_done, i + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* New files, each written whole and left open, one after another until
 * the process ends: records_done counts those written. */
static void *making_files(void *arg)
{
    (void)arg;
    static char text[3000];
    for (unsigned i = 0;; i++) {
        char name[32];
        snprintf(name, sizeof(name), "exiting-%u", i);
        memset(text, 'a' + (char)(i % 26), sizeof(text));
        int fd = open(path_of(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, text, sizeof(text)) != sizeof(text))
            _exit(2);
        __atomic_store_n(records_done, i + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* The files making_files wrote whole that are not so now. */
static int files_lost(unsigned made)
{
    int lost = 0;
    for (unsigned i = 0; i < made; i++) {
        char name[32], text[3001];
        snprintf(name, sizeof(name), "exiting-%u", i);
        int fd = open(path_of(name), O_RDONLY);
        ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof(text));
        lost += n != 3000 || text[0] != 'a' + (char)(i % 26) || text[2999] != text[0];
        if (fd >= 0)
            close(fd);
        unlink(path_of(name));
    }
    return lost;
}

static void exits(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        FILE *fp = fopen(path_of("exited-stream"), "w");
        for (int i = 0; fp && i < 1000; i++)
            fprintf(fp, "line %d\n", i);
        exit(0);
    }
    waitpid(pid, NULL, 0);
    struct stat st;
    result("a stream never closed, its size after exit",
           stat(path_of("exited-stream"), &st) == 0 ? st.st_size : -1);
    pid = fork();
    if (pid == 0) {
        int fd = open(path_of("exited-quick"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || write(fd, "hello\n", 6) != 6)
            _exit(2);
        quick_exit(0);
    }
    waitpid(pid, NULL, 0);
    result("a file written before quick_exit, its size",
           stat(path_of("exited-quick"), &st) == 0 ? st.st_size : -1);
    /* _exit and _Exit, after which the kernel closes the descriptors: a
     * write past the end of a file and a new file, kept open. */
    int old = open(path_of("exited-underscore"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char fill[10000];
    memset(fill, 'a', sizeof(fill));
    if (old < 0 || write(old, fill, sizeof(fill)) != (ssize_t)sizeof(fill) || close(old) != 0)
        exit(2);
    for (int which = 0; which < 2; which++) {
        const char *fresh = which ? "exited-Exit-new" : "exited-_exit-new";
        pid = fork();
        if (pid == 0) {
            int fd = open(path_of("exited-underscore"), O_RDWR);
            int nf = open(path_of(fresh), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || pwrite(fd, "0123456789", 10, 10100 + which * 20) != 10 || nf < 0 ||
                write(nf, "hello\n", 6) != 6)
                _exit(2);
            if (which)
                _Exit(0);
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        result(which ? "_Exit: the child's status" : "_exit: the child's status", status);
        result(which ? "_Exit: a file written past its end, its size"
                     : "_exit: a file written past its end, its size",
               stat(path_of("exited-underscore"), &st) == 0 ? st.st_size : -1);
        result(which ? "_Exit: a new file, its size" : "_exit: a new file, its size",
               stat(path_of(fresh), &st) == 0 ? st.st_size : -1);
    }
    records_done = mmap(NULL, sizeof(*records_done), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (records_done == MAP_FAILED)
        exit(2);
    int lost = 0;
    for (int round = 0; round < 10; round++) {
        *records_done = 0;
        pid = fork();
        if (pid == 0) {
            pthread_t t;
            if (pthread_create(&t, NULL, making_files, NULL) != 0)
                _exit(2);
            while (__atomic_load_n(records_done, __ATOMIC_ACQUIRE) < 5 + (unsigned)round)
                sched_yield();
            exit(0);
        }
        waitpid(pid, NULL, 0);
        lost += files_lost(__atomic_load_n(records_done, __ATOMIC_ACQUIRE));
    }
    result("files made while their processes ended, lost", lost);
    lost = 0;
    for (int round = 0; round < 20; round++) {
        *records_done = 0;
        unlink(path_of("exited-records"));
        pid = fork();
        if (pid == 0) {
            records_fd = open(path_of("exited-records"), O_RDWR | O_CREAT, 0644);
            pthread_t t;
            if (records_fd < 0 || pthread_create(&t, NULL, writing_records, NULL) != 0)
                _exit(2);
            while (__atomic_load_n(records_done, __ATOMIC_ACQUIRE) < 50 + (unsigned)round * 10)
                sched_yield();
            exit(0);
        }
        waitpid(pid, NULL, 0);
        unsigned done = __atomic_load_n(records_done, __ATOMIC_ACQUIRE);
        int fd = open(path_of("exited-records"), O_RDONLY);
        char rec[4096], want[4096];
        /* The records wrap around at 16384; the write in flight when the
         * process ended (record `done`, not counted) may have replaced the
         * oldest, which a slow exit (a sanitizer's) leaves time to reach. */
        for (unsigned i = done > 16383 ? done - 16383 : 0; i < done; i++) {
            record_of(i, want);
            if (pread(fd, rec, sizeof(rec), (off_t)i * 4096 % (64 << 20)) != sizeof(rec) ||
                memcmp(rec, want, sizeof(rec)) != 0) {
                lost++;
                break;
            }
        }
        close(fd);
    }
    result("processes that ended while a thread wrote, with a returned write lost", lost);
    munmap(records_done, sizeof(*records_done));
}

static void *writing_late(void *arg)
{
    (void)arg;
    usleep(50000);
    int fd = open(path_of("exited-thread-late"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "late\n", 5) != 5)
        _exit(2);
    return NULL;
}

/* A main thread that ends with pthread_exit, alone and before another
 * thread: the process ends when the last one does (killed after 10 s). */
static void main_thread_exits(void)
{
    for (int with_thread = 0; with_thread < 2; with_thread++) {
        pid_t pid = fork();
        if (pid == 0) {
            int fd = open(path_of("exited-thread"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || write(fd, "hello\n", 6) != 6)
                _exit(2);
            pthread_t t;
            if (with_thread && pthread_create(&t, NULL, writing_late, NULL) != 0)
                _exit(2);
            pthread_exit(NULL);
        }
        int status = 0, waited = 0;
        while (waitpid(pid, &status, WNOHANG) == 0 && waited++ < 1000)
            usleep(10000);
        if (waited > 1000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
        }
        printf("pthread_exit from main%s: %s\n", with_thread ? " beside a thread" : "",
               WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "the process ended" : "hung");
    }
}

/* dprintf formats with the C library's internal write. */
static void formatted(void)
{
    int fd = open(path_of("dprinted"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    result("write", write(fd, "hello\n", 6));
    result("dprintf", dprintf(fd, "dprintf %d\n", 42));
    result("write", write(fd, "after\n", 6));
    result("the position after them", lseek(fd, 0, SEEK_CUR));
    close(fd);
}

/* In a child, 10 rounds: a descriptor limit of 10, and files opened under
 * it until the limit refuses one; the calls on those it opened that failed
 * are counted. */
static void few_descriptors(void)
{
    int failed = 0;
    for (int round = 0; round < 10; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            struct rlimit r = {10, 10};
            setrlimit(RLIMIT_NOFILE, &r);
            int bad = 0;
            for (int i = 0; i < 8; i++) {
                char name[32];
                snprintf(name, sizeof(name), "few-%d-%d", round, i);
                int fd = open(path_of(name), O_RDWR | O_CREAT, 0644);
                if (fd < 0)
                    break;
                bad += write(fd, "data\n", 5) != 5;
                bad += ftruncate(fd, 100) != 0;
            }
            _exit(bad);
        }
        int status;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
            exit(2);
        failed += WEXITSTATUS(status);
    }
    result("calls failed under a descriptor limit of 10", failed);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    dir = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(60); /* a splice that waits forever fails the test */
    openat2_beside();
    posix_aio(false);
    posix_aio(true);
    into_pipes();
    append_streams();
    stream_buffers();
    across_file_systems();
    few_descriptors();
    wide_streams();
    fork_and_spawn();
    cancelled_threads();
    exits();
    main_thread_exits();
    formatted();
    closes(true);
    closes(false); /* last: it closes stdio's descriptors above 2 too */
    return 0;
}
