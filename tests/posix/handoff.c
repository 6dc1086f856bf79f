/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * handoff.c - files the process hands to other programs, or takes from
 * them, as the kernel would:
 *  - positions: a program started with two descriptors of one description
 *    (a dup) writes through both, and the writes of the process that
 *    started it, before and after, follow them; the same when this
 *    process goes on serving the file it shares with a program it starts
 *    with posix_spawn;
 *  - programs written by this process: a script written, closed, made
 *    executable and run at once, and one run while this process keeps it
 *    open for reading (neither may fail with ETXTBSY);
 *  - freopen of a stream on a managed file, onto another file and (NULL
 *    path) onto the same file in another mode, and onto a path that
 *    cannot be opened;
 *  - leases (F_SETLEASE), read and write, on a file written a moment ago;
 *  - a descriptor sent to a started program over a Unix socket
 *    (SCM_RIGHTS), written by both in turn;
 *  - a thread writing lines through a descriptor while the main thread
 *    forks children that write a line each through it too (where the
 *    children's lines fall is timing: only the counts are compared);
 *  - programs started at once with one description, which all write
 *    lines through it, then all read records from it: no line may be
 *    lost and no record read twice (the kernel moves the position for
 *    each call at once; counts are compared).
 * Prints every result; run_same.sh runs it plainly and under the library
 * and compares the lines and the files.
 *
 * Usage: handoff DIR   (handoff child N, handoff nowhere 0, handoff receive
 * SOCKET, handoff lines N, handoff records 0: the started programs)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void die(const char *what)
{
    perror(what);
    exit(2);
}

/* Starts argv with posix_spawn and returns its exit status (or 128 + an
 * errno when it could not start). */
static int run(char *const argv[])
{
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
    if (rc != 0)
        return 128 + rc;
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        die("waitpid");
    return WEXITSTATUS(status);
}

static void put(int fd, const char *s)
{
    if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
        die("write");
}

static void show(const char *name)
{
    char buf[256] = "";
    int fd = open(name, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (n < 0)
        die(name);
    buf[n] = 0;
    printf("%-8s %s\n", name, buf);
    close(fd);
}

/* name opened for writing as descriptor 3 (stdin, stdout and stderr are
 * open, so the lowest free one is 3 or above). */
static void open_as_3(const char *name)
{
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || (fd != 3 && (dup2(fd, 3) != 3 || close(fd) < 0)))
        die(name);
}

static void positions(const char *self)
{
    open_as_3("dups");
    if (dup2(3, 4) != 4)
        die("dup2");
    put(3, "[");
    printf("dups child %d\n", run((char *[]){(char *)self, "child", "3", NULL}));
    put(4, "]");
    close(3);
    close(4);
    show("dups");

    open_as_3("spawned");
    put(3, "parent-");
    usleep(20000); /* served a while: its share block made */
    printf("spawned child %d\n", run((char *[]){(char *)self, "child", "1", NULL}));
    put(3, "-parent");
    close(3);
    show("spawned");
}

static void scripts(void)
{
    int fd = open("script", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die("script");
    put(fd, "#!/bin/sh\nexit 7\n");
    close(fd);
    if (chmod("script", 0755) < 0)
        die("chmod");
    printf("script written, then run: %d\n", run((char *[]){"./script", NULL}));
    fd = open("script", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die("script");
    printf("script held open, run: %d\n", run((char *[]){"./script", NULL}));
    close(fd);
}

/* A freopen that cannot open its path closes the stream; the C
 * library's keeps the object, which LeakSanitizer would report at exit:
 * the started program that tries it ends with _exit. */
static int reopen_nowhere(void)
{
    FILE *f = fopen("stream", "r+");
    errno = 0;
    f = f ? freopen("no-such-dir/x", "r", f) : NULL;
    printf("freopen nowhere: %s, errno %d\n", f ? "opened" : "NULL", errno);
    fflush(stdout);
    _exit(0);
}

static void streams(const char *self)
{
    int fd = open("other", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    put(fd, "other's line\n");
    close(fd);
    FILE *f = fopen("stream", "w");
    if (!f || fputs("first\n", f) < 0)
        die("fopen");
    f = freopen("other", "r", f);
    char line[64] = "";
    printf("freopen other: %s", f && fgets(line, sizeof(line), f) ? line : "failed\n");
    f = f ? freopen(NULL, "a", f) : NULL;
    printf("freopen same, append: %s\n", f && fputs("appended\n", f) >= 0 ? "ok" : "failed");
    if (f)
        fclose(f);
    printf("nowhere child %d\n", run((char *[]){(char *)self, "nowhere", "0", NULL}));
    show("stream");
    show("other");
}

static void leases(void)
{
    int fd = open("leased", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    put(fd, "leased\n");
    close(fd);
    const struct {
        int flags;
        int lease;
    } ways[] = {{O_RDONLY, F_RDLCK}, {O_RDWR, F_WRLCK}};
    for (int i = 0; i < 2; i++) {
        fd = open("leased", ways[i].flags | O_CLOEXEC);
        int rc = fd < 0 ? -1 : fcntl(fd, F_SETLEASE, ways[i].lease);
        printf("lease %s: %s\n", i ? "write" : "read", rc == 0 ? "granted" : strerror(errno));
        if (rc == 0 && i == 1)
            put(fd, "again\n");
        if (rc == 0 && fcntl(fd, F_SETLEASE, F_UNLCK) < 0)
            die("F_UNLCK");
        close(fd);
    }
    show("leased");
}

/* The started program's end: receives a descriptor on socket sock, writes
 * through it, says so. */
static int receive_and_write(int sock)
{
    char byte, control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control,
                         .msg_controllen = sizeof(control)};
    if (recvmsg(sock, &msg, 0) != 1 || !CMSG_FIRSTHDR(&msg))
        return 3;
    int fd;
    memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(fd));
    put(fd, "-received-");
    return write(sock, "k", 1) == 1 ? 0 : 4;
}

static void send_descriptor(const char *self)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        die("socketpair");
    char arg[16];
    snprintf(arg, sizeof(arg), "%d", sv[1]);
    pid_t pid;
    if (posix_spawn(&pid, self, NULL, NULL, (char *[]){(char *)self, "receive", arg, NULL},
                    environ))
        die("posix_spawn");
    close(sv[1]);
    int fd = open("sent", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die("sent");
    put(fd, "sender");
    char byte = 'x', control[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control,
                         .msg_controllen = sizeof(control)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(fd));
    if (sendmsg(sv[0], &msg, 0) != 1 || read(sv[0], &byte, 1) != 1)
        die("sendmsg");
    put(fd, "sender");
    int status;
    waitpid(pid, &status, 0);
    printf("sent child %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    close(fd);
    close(sv[0]);
    show("sent");
}

static int lined;

static void *write_lines(void *arg)
{
    (void)arg;
    char line[32];
    for (int i = 0; i < 2000; i++)
        put(lined, (snprintf(line, sizeof(line), "thread %04d\n", i), line));
    return NULL;
}

/* Lines of the file that are whole thread or child lines, and the others. */
static void count_lines(const char *name)
{
    FILE *f = fopen(name, "r");
    char line[64];
    int thread = 0, child = 0, other = 0, n;
    while (f && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "thread %d\n", &n) == 1 && strlen(line) == 12)
            thread++;
        else if (sscanf(line, "child %d\n", &n) == 1 && strlen(line) == 9)
            child++;
        else
            other++;
    }
    if (f)
        fclose(f);
    printf("%s: %d thread lines, %d child lines, %d others\n", name, thread, child, other);
}

static void fork_beside_writer(void)
{
    lined = open("forked", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pthread_t t;
    if (lined < 0 || pthread_create(&t, NULL, write_lines, NULL))
        die("forked");
    for (int k = 0; k < 20; k++) {
        pid_t pid = fork();
        if (pid == 0) {
            char line[16];
            snprintf(line, sizeof(line), "child %02d\n", k);
            put(lined, line);
            _exit(0);
        }
        waitpid(pid, NULL, 0);
        usleep(500);
    }
    pthread_join(t, NULL);
    close(lined);
    count_lines("forked");
}

/* Lines of this length, records when read back. */
#define LINE_BYTES 14
#define AT_ONCE    4

/* handoff lines N: 1000 lines through descriptor 3. */
static int write_lines_at_once(int n)
{
    char line[LINE_BYTES + 1];
    for (int i = 0; i < 1000; i++) {
        snprintf(line, sizeof(line), "writer %d %04d\n", n, i);
        if (write(3, line, LINE_BYTES) != LINE_BYTES)
            return 3;
    }
    return 0;
}

/* handoff records 0: records read through descriptor 3 until its end,
 * their count and the sum of their numbers on stdout. */
static int read_records_at_once(void)
{
    char rec[LINE_BYTES + 1] = {0};
    long count = 0, sum = 0;
    ssize_t got;
    while ((got = read(3, rec, LINE_BYTES)) == LINE_BYTES) {
        count++;
        sum += atol(rec + 9) + 1000 * atol(rec + 7);
    }
    printf("%ld %ld\n", count, sum);
    return got == 0 ? 0 : 3;
}

/* AT_ONCE programs started with descriptor 3 (and, when out >= 0, their
 * stdout on out), each with argv[1] what and argv[2] its number. */
static void start_at_once(char *self, const char *what, int out, pid_t *pids)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (out >= 0)
        posix_spawn_file_actions_adddup2(&fa, out, 1);
    for (int k = 0; k < AT_ONCE; k++) {
        char n[8];
        snprintf(n, sizeof(n), "%d", k);
        char *av[] = {self, (char *)what, n, NULL};
        if (posix_spawn(&pids[k], self, &fa, NULL, av, environ) != 0)
            die("posix_spawn");
    }
    posix_spawn_file_actions_destroy(&fa);
}

static void at_once(char *self)
{
    /* Descriptor 3 is what the started programs use: inherited. */
    int fd = open("atonce", O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || (fd != 3 && (dup2(fd, 3) != 3 || close(fd) < 0)))
        die("atonce");
    if (write(3, "written first\n", LINE_BYTES) != LINE_BYTES)
        die("atonce write");
    pid_t pids[AT_ONCE];
    start_at_once(self, "lines", -1, pids);
    int failed = 0;
    for (int k = 0; k < AT_ONCE; k++) {
        int status;
        failed += waitpid(pids[k], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status);
    }
    printf("at once: %d writers failed\n", failed);
    struct stat st;
    if (fstat(3, &st) < 0)
        die("atonce fstat");
    printf("at once: %lld bytes written, position %lld\n", (long long)st.st_size,
           (long long)lseek(3, 0, SEEK_CUR));
    FILE *lines = fopen("atonce", "r");
    char line[64];
    int writers = 0, others = 0;
    while (lines && fgets(line, sizeof(line), lines))
        if (strlen(line) == LINE_BYTES && strncmp(line, "writer ", 7) == 0)
            writers++;
        else
            others++;
    if (lines)
        fclose(lines);
    printf("at once: %d writers' lines, %d others\n", writers, others);
    int out[2];
    if (lseek(3, LINE_BYTES, SEEK_SET) != LINE_BYTES || pipe(out) < 0)
        die("atonce read");
    start_at_once(self, "records", out[1], pids);
    close(out[1]);
    for (int k = 0; k < AT_ONCE; k++)
        waitpid(pids[k], NULL, 0);
    FILE *results = fdopen(out[0], "r");
    long count, sum, total = 0, total_sum = 0;
    while (results && fscanf(results, "%ld %ld", &count, &sum) == 2) {
        total += count;
        total_sum += sum;
    }
    if (results)
        fclose(results);
    printf("at once: %ld records read, numbers summing to %ld\n", total, total_sum);
    close(3);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "lines") == 0)
        return write_lines_at_once(atoi(argv[2]));
    if (argc == 3 && strcmp(argv[1], "records") == 0)
        return read_records_at_once();
    if (argc == 3 && strcmp(argv[1], "receive") == 0)
        return receive_and_write(atoi(argv[2]));
    if (argc == 3 && strcmp(argv[1], "nowhere") == 0)
        return reopen_nowhere();
    if (argc == 3 && strcmp(argv[1], "child") == 0) {
        /* Writes through descriptor 3, and 4 when asked for both. */
        put(3, "one");
        if (atoi(argv[2]) == 3)
            put(4, "two");
        return 0;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    char *self = realpath(argv[0], NULL);
    if (!self || chdir(argv[1]) < 0)
        die(argv[1]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    positions(self);
    scripts();
    streams(self);
    leases();
    send_descriptor(self);
    fork_beside_writer();
    at_once(self);
    free(self);
    return 0;
}
