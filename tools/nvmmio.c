/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * nvmmio.c - the nvmmio command: runs a program under the library (run) and
 * looks after the logs the library leaves under its roots (check, recover,
 * status, in logs.c). Options, help texts and exit codes live here.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "logs.h"

/* run's own failures, as env(1) and timeout(1) report theirs. */
enum {
    RUN_FAILED = 125,
    RUN_CANNOT_EXEC = 126,
    RUN_NOT_FOUND = 127,
};

static const char usage_main[] =
    "usage: nvmmio COMMAND [OPTION]... [ARG]...\n"
    "Runs programs under libnvmmio and looks after its logs.\n"
    "\n"
    "commands:\n"
    "  run      run a program with the library preloaded\n"
    "  check    verify the logs under roots or of files, changing nothing\n"
    "  recover  recover every file that has a log\n"
    "  status   list the managed files that have logs\n"
    "\n"
    "'nvmmio COMMAND --help' describes each command and its exit codes.\n";

static const char usage_run[] =
    "usage: nvmmio run [--root DIR]... [--sync] [--policy hybrid|undo|redo]\n"
    "                  [--stats[=FILE]] -- PROGRAM [ARG]...\n"
    "Runs PROGRAM with libnvmmio preloaded (LD_PRELOAD, ahead of any preload\n"
    "already set): regular files under the roots are managed.\n"
    "\n"
    "  --root DIR     a pmem root (NVMMIO_PATH); repeat for several. Without\n"
    "                 it, NVMMIO_PATH (or PMEM_PATH) of the environment stays\n"
    "  --sync         sync mode for every managed file (NVMMIO_SYNC=1)\n"
    "  --policy P     logging policy: hybrid, undo or redo (NVMMIO_POLICY)\n"
    "  --stats[=FILE] at the program's normal exit, its statistics (NVMMIO_STATS):\n"
    "                 one line per managed file and a total, on stderr or\n"
    "                 appended to FILE\n"
    "  --help         this text\n"
    "\n"
    "The library is looked for next to this command: " NVMMIO_BIN_TO_LIB "/ from its\n"
    "directory (installed), then its directory itself (build tree).\n"
    "\n"
    "exit status: PROGRAM's; 125 when nvmmio itself fails (bad option, no\n"
    "library), 126 when PROGRAM cannot be run, 127 when it is not found.\n";

static const char usage_check[] =
    "usage: nvmmio check [ROOT|FILE]...\n"
    "Verifies the logs under each ROOT (ROOT/.nvmmio and the log directories\n"
    "of O_ATOMIC files below it) or the log of each FILE as recovery would\n"
    "(commit slots, record headers, data checksums, the file the log names,\n"
    "ownership and modes), without changing anything. A log whose file a\n"
    "running process serves is live and is only reported. Without arguments,\n"
    "the roots of NVMMIO_PATH (or PMEM_PATH).\n"
    "\n"
    "exit status: 0 clean (no log, or only live ones), 1 recovery pending,\n"
    "2 a log is corrupt, foreign, untrusted or has no file (one message\n"
    "each), 3 usage or system error.\n";

static const char usage_recover[] =
    "usage: nvmmio recover [ROOT|FILE]...\n"
    "Recovers every file that has a log under each ROOT, or each FILE, as the\n"
    "library does when it opens the file: rolls back the uncommitted epoch,\n"
    "replays committed redo records, restores the committed size, removes the\n"
    "log. Idempotent. A log that fails its checks is refused and left with its\n"
    "file untouched; a file a running process serves is left to it (recovery\n"
    "takes the same ownership lock). Reports one line per log. Without\n"
    "arguments, the roots of NVMMIO_PATH (or PMEM_PATH).\n"
    "\n"
    "exit status: 0 everything recovered (or nothing to do), 1 a file was\n"
    "left to the running process that serves it, 2 a log was refused,\n"
    "3 usage or system error.\n";

static const char usage_status[] =
    "usage: nvmmio status [ROOT|FILE]...\n"
    "Lists the managed files that have logs: path, size, committed size,\n"
    "committed epoch, policy of the records the log holds, log bytes, and the\n"
    "process that holds the file ('held' when the kernel does not tell which,\n"
    "'-' when none). Changes nothing. Without arguments, the roots of\n"
    "NVMMIO_PATH (or PMEM_PATH).\n"
    "\n"
    "exit status: 0, or 3 on a usage or system error.\n";

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    return false;
}

/* ---- run ---------------------------------------------------------------- */

struct run_opts {
    char roots[8192];
    const char *policy;
    bool sync;
    char stats[PATH_MAX]; /* NVMMIO_STATS: "1" or an absolute path */
};

static int add_root(struct run_opts *o, const char *dir)
{
    char real[PATH_MAX];
    if (!realpath(dir, real)) {
        fprintf(stderr, "nvmmio run: root %s: %s\n", dir, strerror(errno));
        return -1;
    }
    if (strchr(real, ':')) {
        fprintf(stderr, "nvmmio run: root %s: a ':' cannot be given in NVMMIO_PATH\n", real);
        return -1;
    }
    size_t used = strlen(o->roots);
    int n = snprintf(o->roots + used, sizeof(o->roots) - used, "%s%s", used ? ":" : "", real);
    if (n < 0 || (size_t)n >= sizeof(o->roots) - used) {
        fprintf(stderr, "nvmmio run: too many roots\n");
        return -1;
    }
    return 0;
}

/* --stats: stderr, or FILE made absolute (the program may change its
 * directory before it exits; and a file named 1 stays a file). */
static int set_stats(struct run_opts *o, const char *file)
{
    if (!file) {
        strcpy(o->stats, "1");
        return 0;
    }
    char cwd[PATH_MAX];
    int n = file[0] == '/'             ? snprintf(o->stats, sizeof(o->stats), "%s", file)
            : getcwd(cwd, sizeof(cwd)) ? snprintf(o->stats, sizeof(o->stats), "%s/%s", cwd, file)
                                       : -1;
    if (!*file || n < 0 || (size_t)n >= sizeof(o->stats)) {
        fprintf(stderr, "nvmmio run: --stats=%s: not a usable file name\n", file);
        return -1;
    }
    return 0;
}

/* Parses run's options; returns the index of PROGRAM in argv, 0 after
 * --help, or -1. */
static int parse_run(int argc, char **argv, struct run_opts *o)
{
    static const struct option longopts[] = {
        {"root", required_argument, NULL, 'r'},   {"sync", no_argument, NULL, 's'},
        {"policy", required_argument, NULL, 'p'}, {"stats", optional_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            fputs(usage_run, stdout);
            return 0;
        case 'r':
            if (add_root(o, optarg) < 0)
                return -1;
            break;
        case 's':
            o->sync = true;
            break;
        case 'p':
            if (strcmp(optarg, "hybrid") && strcmp(optarg, "undo") && strcmp(optarg, "redo")) {
                fprintf(stderr, "nvmmio run: --policy must be hybrid, undo or redo\n");
                return -1;
            }
            o->policy = optarg;
            break;
        case 'S':
            if (set_stats(o, optarg) < 0)
                return -1;
            break;
        default:
            fputs(usage_run, stderr);
            return -1;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "nvmmio run: no program given\n");
        return -1;
    }
    return optind;
}

/* The shared library beside this command's executable, in `out`. */
static int find_library(char *out, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (len < 0)
        return -1;
    exe[len] = '\0';
    *strrchr(exe, '/') = '\0';
    const char *dirs[] = {NVMMIO_BIN_TO_LIB, "."};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char dir[2 * PATH_MAX], real[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/%s", exe, dirs[i]);
        if (!realpath(dir, real))
            continue;
        int w = snprintf(out, n, "%s/" NVMMIO_LIB_SONAME, real);
        if (w > 0 && (size_t)w < n && access(out, R_OK) == 0)
            return 0;
    }
    return -1;
}

static int setenv_or_fail(const char *name, const char *value)
{
    if (setenv(name, value, 1) == 0)
        return 0;
    fprintf(stderr, "nvmmio run: cannot set %s: %s\n", name, strerror(errno));
    return -1;
}

/* LD_PRELOAD with the library first and what was there after it. */
static int set_preload(const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    size_t n = strlen(lib) + (old ? strlen(old) : 0) + 2;
    char *v = malloc(n);
    if (!v)
        return -1;
    snprintf(v, n, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "");
    int rc = setenv_or_fail("LD_PRELOAD", v);
    free(v);
    return rc;
}

static int cmd_run(int argc, char **argv)
{
    struct run_opts o = {.roots = "", .stats = ""};
    int prog = parse_run(argc, argv, &o);
    if (prog <= 0)
        return prog < 0 ? RUN_FAILED : 0;
    char lib[PATH_MAX];
    if (find_library(lib, sizeof(lib)) < 0) {
        fprintf(stderr, "nvmmio run: " NVMMIO_LIB_SONAME " not found next to this command\n");
        return RUN_FAILED;
    }
    if (set_preload(lib) < 0 || (o.roots[0] && setenv_or_fail("NVMMIO_PATH", o.roots) < 0) ||
        (o.sync && setenv_or_fail("NVMMIO_SYNC", "1") < 0) ||
        (o.policy && setenv_or_fail("NVMMIO_POLICY", o.policy) < 0) ||
        (o.stats[0] && setenv_or_fail("NVMMIO_STATS", o.stats) < 0))
        return RUN_FAILED;
    if (!getenv("NVMMIO_PATH") && !getenv("PMEM_PATH"))
        fprintf(stderr, "nvmmio run: no root (--root, NVMMIO_PATH): only O_ATOMIC files are "
                        "managed\n");
    execvp(argv[prog], argv + prog);
    int err = errno;
    fprintf(stderr, "nvmmio run: %s: %s\n", argv[prog], strerror(err));
    return err == ENOENT ? RUN_NOT_FOUND : RUN_CANNOT_EXEC;
}

/* ---- the log commands --------------------------------------------------- */

static int cmd_logs(enum logs_action action, const char *usage, int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    int first = 1;
    if (first < argc && !strcmp(argv[first], "--"))
        first++;
    else if (first < argc && argv[first][0] == '-') {
        fprintf(stderr, "nvmmio: unknown option %s\n%s", argv[first], usage);
        return LOGS_ERROR;
    }
    return logs_run(action, argc - first, argv + first);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        return LOGS_ERROR;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "check"))
        return cmd_logs(LOGS_CHECK, usage_check, argc - 1, argv + 1);
    if (!strcmp(cmd, "recover"))
        return cmd_logs(LOGS_RECOVER, usage_recover, argc - 1, argv + 1);
    if (!strcmp(cmd, "status"))
        return cmd_logs(LOGS_STATUS, usage_status, argc - 1, argv + 1);
    fprintf(stderr, "nvmmio: unknown command %s\n%s", cmd, usage_main);
    return LOGS_ERROR;
}
