/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * main.c - nvmmio_share: tests of managed files shared by several
 * processes, some under the library and some not (README, "The contract";
 * each test's file says what it checks).
 *
 *   nvmmio_share --lib LIB|none [--nvmmio CMD] [--seed N] [--dir BASE] [--keep] TEST [ARG]...
 *
 *   publish                    kernel view at every publication point
 *   revalidate                 kernel changes seen at lock and open
 *   counter KIND lib|mixed N   a counter under each kind of lock
 *   ranges lib|mixed ROUNDS    disjoint halves under their own locks
 *   holes                      a write into a hole keeps another's in others
 *   killloop KILLS             one sharer killed while the others run
 *   postcrash open|recover     a log never applied over a later plain write
 *   sharedsync                 one process's fsync makes every process's
 *                              writes durable
 *   deadreader KILLS           a reader killed in a read holds up no writer
 *   deadwriter KILLS           a write in place killed halfway is finished
 *   deadholder                 a write killed holding the lock is undone
 *   inplace SECONDS            writes in place are atomic to each other and reads
 *   nsreader ROUNDS            a reader in another PID namespace is waited for
 *   idlejoin ROUNDS            a process joins one that opened the file and idles
 *
 * The test itself runs without the library, in a fresh directory under
 * BASE (default /dev/shm; root/ in it is the pmem root), removed at the
 * end (--keep keeps it). Children that the tests put under the library get LIB
 * preloaded; with "none" they run without it (the tests' self-check).
 * Exit 0 when every check passed, 1 on a failed one (each printed with
 * what differed), 2 on an error of the test itself.
 */
#include "share.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool keep;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void cleanup(void)
{
    if (keep)
        printf("kept %s\n", run.dir);
    else if (run.dir[0])
        nftw(run.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int child_main(int argc, char **argv)
{
    const char *role = argv[0];
    if (!strcmp(role, "actor"))
        return actor_main();
    if (!strcmp(role, "counter"))
        return counter_child(argc - 1, argv + 1);
    if (!strcmp(role, "killloop"))
        return killloop_child(argc - 1, argv + 1);
    if (!strcmp(role, "deadreader"))
        return deadreader_child(argc - 1, argv + 1);
    if (!strcmp(role, "deadwriter"))
        return deadwriter_child(argc - 1, argv + 1);
    if (!strcmp(role, "deadholder"))
        return deadholder_child(argc - 1, argv + 1);
    if (!strcmp(role, "inplace"))
        return inplace_child(argc - 1, argv + 1);
    if (!strcmp(role, "ranges"))
        return ranges_child(argc - 1, argv + 1);
    if (!strcmp(role, "nsreader"))
        return nsreader_child(argc - 1, argv + 1);
    fatal("unknown child role %s", role);
}

static _Noreturn void usage(void)
{
    fprintf(stderr,
            "usage: nvmmio_share --lib LIB|none [--nvmmio CMD] [--seed N] [--dir BASE] [--keep] "
            "publish|revalidate|counter|ranges|holes|killloop|postcrash|sharedsync|deadreader|"
            "deadwriter|deadholder|inplace|nsreader|"
            "idlejoin "
            "[ARG]...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "--child"))
        return child_main(argc - 2, argv + 2);
    setvbuf(stdout, NULL, _IOLBF, 0);
    run.seed = 1;
    const char *base = "/dev/shm";
    int i = 1;
    for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
        if (!strcmp(argv[i], "--keep"))
            keep = true;
        else if (i + 1 >= argc)
            usage();
        else if (!strcmp(argv[i], "--lib"))
            run.lib = strcmp(argv[++i], "none") ? realpath(argv[i], NULL) : NULL;
        else if (!strcmp(argv[i], "--nvmmio"))
            run.nvmmio = argv[++i];
        else if (!strcmp(argv[i], "--seed"))
            run.seed = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir"))
            base = argv[++i];
        else
            usage();
    }
    if (i >= argc)
        usage();
    snprintf(run.dir, sizeof(run.dir), "%s/nvmmio-share.XXXXXX", base);
    if (!mkdtemp(run.dir))
        fatal("mkdtemp: %m");
    atexit(cleanup);
    snprintf(run.root, sizeof(run.root), "%s/root", run.dir);
    if (mkdir(run.root, 0755))
        fatal("mkdir %s: %m", run.root);

    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } tests[] = {{"publish", test_publish},       {"revalidate", test_revalidate},
                 {"counter", test_counter},       {"killloop", test_killloop},
                 {"postcrash", test_postcrash},   {"sharedsync", test_sharedsync},
                 {"deadreader", test_deadreader}, {"nsreader", test_nsreader},
                 {"deadwriter", test_deadwriter}, {"deadholder", test_deadholder},
                 {"inplace", test_inplace},       {"idlejoin", test_idlejoin},
                 {"ranges", test_ranges},         {"holes", test_holes}};
    for (size_t t = 0; t < sizeof(tests) / sizeof(tests[0]); t++) {
        if (strcmp(argv[i], tests[t].name))
            continue;
        int rc = tests[t].fn(argc - i - 1, argv + i + 1);
        if (rc == 77)
            return rc; /* skipped: the test said why */
        if (rc == 0 && run.failures == 0) {
            printf("%s: ok\n", argv[i]);
            return 0;
        }
        printf("%s: FAILED (%d failed checks)\n", argv[i], run.failures);
        return 1;
    }
    usage();
}
