/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * main.c - the crash-model checker's command line: which workloads, modes
 * and seed; runs each (workload, mode) in a child process of its own (a
 * fresh library state, several at a time with --jobs), and prints the
 * counts. See README.md in this directory.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checker.h"
#include "os/sys.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: nvmmio_crashmodel [options]\n"
            "  --seed S            everything derives from it (default 1)\n"
            "  --seeds N           seeds S .. S+N-1, every run of each (default 1)\n"
            "  --workload NAME     one workload (default: all; --list shows them)\n"
            "  --mode epoch|sync|both   (default both)\n"
            "  --scale N           workload length multiplier (default 1)\n"
            "  --points N          crash points explored per run (default 400)\n"
            "  --first-k K         occurrences of each crash site always explored (default 3)\n"
            "  --exhaustive N      every subset of up to N in-flight lines or words (default 4)\n"
            "  --nested-pct P      %% of images crashed again during recovery (default 15)\n"
            "  --twice-pct P       %% of images recovered twice (default 20)\n"
            "  --full-pct P        %% of images recovered through open() (default 10)\n"
            "  --jobs N            runs at a time (default 1)\n"
            "  --timeout SECONDS   a run taking longer is killed and counted a hang (600)\n"
            "  --min-images N      fail unless at least N crash images were checked\n"
            "  --expect-violation  mutation gate: succeed at the first violation found\n"
            "  --replay CP:IMG[:NCP:NIMG]  check only that image (needs --workload, --mode)\n"
            "  --keep DIR          with --replay: leave the image in DIR\n"
            "  --strict-threads    no fence at the end of a call in threaded workloads\n"
            "  --no-durability     skip the durability assertion\n"
            "  --keep-going        do not stop a run at its first violation\n"
            "  --list-sites        print each run's crash sites\n"
            "  --trace             print every call of the workload\n"
            "  --policy P          NVMMIO_POLICY for the library (default hybrid)\n"
            "  --verbose\n");
    exit(EXIT_ERROR);
}

struct run {
    uint64_t seed;
    int workload, mode;
    pid_t pid;
    int slot;
    int stats_fd;
    struct counts c;
    int code;
    double started;
    bool done, killed;
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void print_file(const char *path)
{
    struct bytes b = {0};
    if (raw_read_path(path, &b) == 0 && b.len)
        fwrite(b.p, 1, b.len, stdout);
    bytes_free(&b);
    fflush(stdout);
}

static void add(struct counts *t, const struct counts *c)
{
    uint64_t *a = (uint64_t *)t;
    const uint64_t *b = (const uint64_t *)c;
    size_t n = offsetof(struct counts, seconds) / sizeof(uint64_t);
    for (size_t i = 0; i < n; i++)
        a[i] += b[i];
    t->seconds += c->seconds;
}

static void row(const char *w, const char *m, const struct counts *c, const char *status)
{
    printf(
        "%-17s %-5s %6llu %7llu %6llu %8llu %7llu %7llu %7llu %6llu %5llu %7llu %4llu %7.1f  %s\n",
        w, m, (unsigned long long)c->ops, (unsigned long long)c->points,
        (unsigned long long)c->explored, (unsigned long long)c->images64,
        (unsigned long long)c->images8, (unsigned long long)c->deduped,
        (unsigned long long)c->nested_images, (unsigned long long)c->twice,
        (unsigned long long)c->full, (unsigned long long)c->durability_checks,
        (unsigned long long)c->violations, c->seconds, status);
    fflush(stdout);
}

static const char *status_of(int code)
{
    switch (code) {
    case EXIT_CLEAN:
        return "ok";
    case EXIT_FOUND:
        return "VIOLATION";
    case EXIT_CRASH:
        return "CRASH";
    case EXIT_HANG:
        return "HANG";
    default:
        return "ERROR";
    }
}

/* The first line of a report in a run's output, for the gate's table. */
static void first_report(const char *path, char *out, size_t n)
{
    struct bytes b = {0};
    out[0] = '\0';
    if (raw_read_path(path, &b) < 0)
        return;
    bytes_resize(&b, b.len + 1);
    const char *keys[] = {"CONTRACT VIOLATION", "DURABILITY FAILURE", "LIBRARY ERROR",
                          "CRASH MODEL: signal"};
    const char *best = NULL;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *p = strstr((char *)b.p, keys[i]);
        if (p && (!best || p < best))
            best = p;
    }
    if (best) {
        const char *end = strchr(best, '\n');
        size_t len = end ? (size_t)(end - best) : strlen(best);
        snprintf(out, n, "%.*s", (int)len, best);
    }
    bytes_free(&b);
}

int main(int argc, char **argv)
{
    struct config cfg = {
        .seed = 1,
        .scale = 1,
        .points = 400,
        .first_k = 3,
        .exhaustive = 4,
        .nested_pct = 15,
        .twice_pct = 20,
        .full_pct = 10,
        .exe = argv[0],
    };
    const char *only = NULL, *policy = NULL;
    int modes = 3, jobs = 1, nseeds = 1;
    double timeout = 600;
    uint64_t min_images = 0;
    bool expect = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (!strcmp(a, name) && v && (i++, 1))
        if (ARG("--seed"))
            cfg.seed = strtoull(v, NULL, 0);
        else if (ARG("--seeds"))
            nseeds = atoi(v);
        else if (ARG("--workload"))
            only = strcmp(v, "all") ? v : NULL;
        else if (ARG("--mode"))
            modes = !strcmp(v, "epoch") ? 1 : !strcmp(v, "sync") ? 2 : 3;
        else if (ARG("--scale"))
            cfg.scale = atoi(v);
        else if (ARG("--points"))
            cfg.points = strtoull(v, NULL, 0);
        else if (ARG("--first-k"))
            cfg.first_k = (unsigned)atoi(v);
        else if (ARG("--exhaustive"))
            cfg.exhaustive = (unsigned)atoi(v);
        else if (ARG("--nested-pct"))
            cfg.nested_pct = (unsigned)atoi(v);
        else if (ARG("--twice-pct"))
            cfg.twice_pct = (unsigned)atoi(v);
        else if (ARG("--full-pct"))
            cfg.full_pct = (unsigned)atoi(v);
        else if (ARG("--jobs"))
            jobs = atoi(v);
        else if (ARG("--timeout"))
            timeout = atof(v);
        else if (ARG("--min-images"))
            min_images = strtoull(v, NULL, 0);
        else if (ARG("--keep"))
            cfg.keep_dir = v;
        else if (ARG("--policy"))
            policy = v;
        else if (ARG("--replay")) {
            unsigned long long x[4] = {0};
            int n = sscanf(v, "%llu:%llu:%llu:%llu", &x[0], &x[1], &x[2], &x[3]);
            if (n != 2 && n != 4)
                usage();
            cfg.replay = true;
            cfg.replay_cp = x[0];
            cfg.replay_img = x[1];
            cfg.replay_nested = n == 4;
            cfg.replay_ncp = x[2];
            cfg.replay_nimg = x[3];
        } else if (!strcmp(a, "--expect-violation"))
            expect = true;
        else if (!strcmp(a, "--strict-threads"))
            cfg.strict_threads = true;
        else if (!strcmp(a, "--no-durability"))
            cfg.no_durability = true;
        else if (!strcmp(a, "--keep-going"))
            cfg.keep_going = true;
        else if (!strcmp(a, "--list-sites"))
            cfg.list_sites = true;
        else if (!strcmp(a, "--trace"))
            cfg.trace = true;
        else if (!strcmp(a, "--verbose"))
            cfg.verbose = true;
        else if (!strcmp(a, "--list")) {
            for (int w = 0; w < workload_count(); w++)
                printf("%s\n", workload_name(w));
            return 0;
        } else
            usage();
#undef ARG
    }
    if (jobs < 1 || jobs > 64 || cfg.scale < 1 || nseeds < 1 || cfg.exhaustive > 12 ||
        (only && workload_find(only) < 0))
        usage();
    if (cfg.replay && (!only || modes == 3))
        usage();

    /* Crash images are built in big buffers again and again: keep the heap
     * rather than give it back and fault it in anew each time. */
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);

    /* The roots must be in the environment before the library reads it
     * (at the first open of anything). */
    char base[] = "/dev/shm/nvmmio-crashmodel.XXXXXX";
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return EXIT_ERROR;
    }
    char roots[8192] = "";
    for (int j = 0; j < jobs; j++) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/root%d", base, j);
        raw_mkdir(p);
        snprintf(roots + strlen(roots), sizeof(roots) - strlen(roots), "%s%s", j ? ":" : "", p);
        snprintf(p, sizeof(p), "%s/scratch%d", base, j);
        raw_mkdir(p);
    }
    setenv("NVMMIO_PATH", roots, 1);
    unsetenv("PMEM_PATH");
    unsetenv("NVMMIO_SYNC");
    unsetenv("NVMMIO_DEBUG");
    cfg.policy = policy;
    /* A replay looks at one image: what other points might show does not
     * stop it, and the durability assertion has nothing to say about it. */
    if (cfg.replay) {
        cfg.keep_going = true;
        cfg.no_durability = true;
    }
    if (policy)
        setenv("NVMMIO_POLICY", policy, 1);
    else
        unsetenv("NVMMIO_POLICY");
    if (cfg.keep_dir)
        raw_mkdir(cfg.keep_dir);

    int maxruns = nseeds * workload_count() * 2, nruns = 0;
    struct run *runs = calloc((size_t)maxruns, sizeof(*runs));
    if (!runs)
        return EXIT_ERROR;
    for (int k = 0; k < nseeds; k++) {
        for (int w = 0; w < workload_count(); w++) {
            if (only && strcmp(only, workload_name(w)))
                continue;
            for (int m = 0; m < 2; m++)
                if (modes >> m & 1)
                    runs[nruns++] = (struct run){
                        .seed = cfg.seed + (uint64_t)k, .workload = w, .mode = m, .pid = -1};
        }
    }

    printf("crash model: seed %llu%s, %d run(s), %llu crash points per run, scale %d%s\n",
           (unsigned long long)cfg.seed, nseeds > 1 ? " and on" : "", nruns,
           (unsigned long long)cfg.points, cfg.scale, expect ? ", expecting a violation" : "");
    printf("%-17s %-5s %6s %7s %6s %8s %7s %7s %7s %6s %5s %7s %4s %7s\n", "workload", "mode",
           "ops", "points", "explrd", "images64", "images8", "deduped", "nested", "twice", "full",
           "dur.chk", "viol", "seconds");
    fflush(stdout);

    double t0 = now();
    int next = 0, active = 0, caught = -1;
    bool slot_busy[256] = {false};
    struct counts total = {0};
    int bad = 0, crashes = 0;
    while (next < nruns || active > 0) {
        while (active < jobs && next < nruns && caught < 0) {
            struct run *r = &runs[next++];
            int slot = 0;
            while (slot_busy[slot])
                slot++;
            slot_busy[slot] = true;
            r->slot = slot;
            char root[PATH_MAX], scratch[PATH_MAX], out[PATH_MAX];
            snprintf(root, sizeof(root), "%s/root%d", base, slot);
            snprintf(scratch, sizeof(scratch), "%s/scratch%d", base, slot);
            snprintf(out, sizeof(out), "%s/out%d.txt", base, slot);
            int p[2];
            if (pipe(p) < 0) {
                perror("pipe");
                return EXIT_ERROR;
            }
            fflush(stdout);
            r->started = now();
            pid_t pid = fork();
            if (pid == 0) {
                close(p[0]);
                int ofd = raw_open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
                if (!cfg.replay) {
                    dup2(ofd, 1);
                    dup2(ofd, 2);
                }
                raw_close(ofd);
                driver_set_stats_fd(p[1]);
                cfg.seed = r->seed;
                struct counts c = {0};
                int code = run_one(&cfg, r->workload, r->mode, root, scratch, &c);
                sys_write(p[1], &c, sizeof(c));
                fflush(stdout);
                fflush(stderr);
                exit(code);
            }
            close(p[1]);
            if (pid < 0) {
                perror("fork");
                return EXIT_ERROR;
            }
            r->pid = pid;
            r->stats_fd = p[0];
            active++;
        }
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid == 0) { /* a run that outlives --timeout is a hang */
            for (int i = 0; i < nruns; i++)
                if (runs[i].pid > 0 && !runs[i].done && !runs[i].killed &&
                    now() - runs[i].started > timeout) {
                    kill(runs[i].pid, SIGKILL);
                    runs[i].killed = true;
                }
            usleep(20000);
            continue;
        }
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        struct run *r = NULL;
        for (int i = 0; i < nruns; i++)
            if (runs[i].pid == pid && !runs[i].done)
                r = &runs[i];
        if (!r)
            continue;
        r->done = true;
        active--;
        slot_busy[r->slot] = false;
        long got = sys_call6(SYS_read, r->stats_fd, (long)&r->c, sizeof(r->c), 0, 0, 0);
        close(r->stats_fd);
        if (got != (long)sizeof(r->c))
            memset(&r->c, 0, sizeof(r->c));
        r->c.seconds = now() - r->started;
        r->code = r->killed ? EXIT_HANG : WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_CRASH;
        char out[PATH_MAX], root[PATH_MAX], scratch[PATH_MAX];
        snprintf(out, sizeof(out), "%s/out%d.txt", base, r->slot);
        snprintf(root, sizeof(root), "%s/root%d", base, r->slot);
        snprintf(scratch, sizeof(scratch), "%s/scratch%d", base, r->slot);
        if (!cfg.replay && (r->code != EXIT_CLEAN || cfg.verbose || cfg.list_sites))
            print_file(out);
        char note[600] = "";
        if (r->code != EXIT_CLEAN)
            first_report(out, note, sizeof(note));
        if (r->killed)
            snprintf(note, sizeof(note), "no result after %.0f s: killed", timeout);
        else if (!WIFEXITED(status))
            snprintf(note, sizeof(note), "killed by signal %d", WTERMSIG(status));
        char wname[64];
        snprintf(wname, sizeof(wname), nseeds > 1 ? "%s/%llu" : "%s", workload_name(r->workload),
                 (unsigned long long)r->seed);
        row(wname, mode_name(r->mode), &r->c, status_of(r->code));
        if (note[0])
            printf("  -> %s\n", note);
        add(&total, &r->c);
        if (r->code != EXIT_CLEAN)
            bad++;
        if (r->code == EXIT_CRASH || r->code == EXIT_HANG)
            crashes++;
        if (expect && (r->code == EXIT_FOUND || r->code == EXIT_CRASH || r->code == EXIT_HANG) &&
            caught < 0)
            caught = (int)(r - runs);
        /* a fresh root and scratch for the next run in this slot */
        raw_rmtree(root);
        raw_mkdir(root);
        raw_rmtree(scratch);
        raw_mkdir(scratch);
        sys_unlinkat(AT_FDCWD, out, 0);
    }
    double secs = now() - t0;
    raw_rmtree(base);

    uint64_t images = total.images64 + total.images8;
    printf("%-17s %-5s %6llu %7llu %6llu %8llu %7llu %7llu %7llu %6llu %5llu %7llu %4llu %7.1f\n",
           "total", "", (unsigned long long)total.ops, (unsigned long long)total.points,
           (unsigned long long)total.explored, (unsigned long long)total.images64,
           (unsigned long long)total.images8, (unsigned long long)total.deduped,
           (unsigned long long)total.nested_images, (unsigned long long)total.twice,
           (unsigned long long)total.full, (unsigned long long)total.durability_checks,
           (unsigned long long)total.violations, secs);
    printf("crash model: %llu crash images (%llu whole-line, %llu torn at 8 bytes) at %llu of "
           "%llu crash points; %llu of them (%.1f%%) crashed again during recovery, at %llu "
           "recovery crash points giving %llu more images; %llu recoveries in all, %llu "
           "recovered twice, %llu through open(); %llu durability checks; %llu fences, %llu "
           "flushes modelled; epochs at fsync: %llu undo, %llu redo\n",
           (unsigned long long)images, (unsigned long long)total.images64,
           (unsigned long long)total.images8, (unsigned long long)total.explored,
           (unsigned long long)total.points, (unsigned long long)total.images_nested,
           images ? 100.0 * (double)total.images_nested / (double)images : 0.0,
           (unsigned long long)total.nested_points, (unsigned long long)total.nested_images,
           (unsigned long long)total.recoveries, (unsigned long long)total.twice,
           (unsigned long long)total.full, (unsigned long long)total.durability_checks,
           (unsigned long long)total.fences, (unsigned long long)total.flushes,
           (unsigned long long)total.undo_epochs, (unsigned long long)total.redo_epochs);
    printf("crash model: %llu contract violations, %llu durability failures, %d recovery "
           "crashes or hangs, %d failed run(s), %.1f s\n",
           (unsigned long long)(total.violations - total.durability_failures),
           (unsigned long long)total.durability_failures, crashes, bad, secs);
    if (expect) {
        if (caught >= 0) {
            printf("crash model: violation found (workload %s, mode %s)\n",
                   workload_name(runs[caught].workload), mode_name(runs[caught].mode));
            free(runs);
            return 0;
        }
        printf("crash model: NO VIOLATION FOUND\n");
        free(runs);
        return 1;
    }
    free(runs);
    if (cfg.replay)
        return bad ? EXIT_FOUND : 0;
    if (min_images && images < min_images) {
        printf("crash model: FAILED: %llu crash images, fewer than the required %llu\n",
               (unsigned long long)images, (unsigned long long)min_images);
        return 1;
    }
    if (min_images && total.images_nested * 10 < images) {
        printf("crash model: FAILED: only %llu of %llu images were crashed again during "
               "recovery (10%% required)\n",
               (unsigned long long)total.images_nested, (unsigned long long)images);
        return 1;
    }
    return bad ? 1 : 0;
}
