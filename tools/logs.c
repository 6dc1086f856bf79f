/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * logs.c - check, recover and status (see logs.h). A log is
 * DIR/.nvmmio/DEV-INO.log (hexadecimal device and inode of its file): the
 * roots' log directories, or one beside an O_ATOMIC file. A log that
 * recovery kept aside, because its file was changed behind its back, is
 * DEV-INO.log.aside-TIMESTAMP: reported, never applied. Its file is
 * found by walking the root for that device and inode; checking and
 * recovering are the library's own (nvlog_inspect, nvlog_recover), under
 * the ownership lock a running process holds on the files it serves.
 */
#include "logs.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/owner.h"
#include "log/recovery.h"
#include "pmem/persist.h"

#define LOG_DIR_NAME ".nvmmio"

struct log_entry {
    char dir[PATH_MAX]; /* the log directory */
    char name[128];     /* DEV-INO.log, or DEV-INO.log.aside-TIMESTAMP */
    bool aside;         /* a log recovery kept aside */
    dev_t dev;
    ino_t ino;
    char *path; /* the file the log names; NULL when none was found */
};

struct log_list {
    struct log_entry *v;
    size_t n, cap;
};

/* nftw passes no argument to its callback. */
static struct log_list *walk_list;

#define ASIDE_MARK ".aside-"

/* Reads DEV and INO from a log's name, and whether it was kept aside; false
 * for other names. */
static bool parse_log_name(const char *name, dev_t *dev, ino_t *ino, bool *aside)
{
    unsigned long long d, i;
    int end = 0;
    if (sscanf(name, "%llx-%llx.log%n", &d, &i, &end) != 2)
        return false;
    *aside = !strncmp(name + end, ASIDE_MARK, strlen(ASIDE_MARK));
    if (name[end] != '\0' && !*aside)
        return false;
    *dev = (dev_t)d;
    *ino = (ino_t)i;
    return true;
}

static struct log_entry *add_entry(struct log_list *l, const char *dir, const char *name)
{
    dev_t dev;
    ino_t ino;
    bool aside;
    if (!parse_log_name(name, &dev, &ino, &aside) || strlen(name) >= sizeof(l->v->name))
        return NULL;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        struct log_entry *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        l->v = v;
        l->cap = cap;
    }
    struct log_entry *e = &l->v[l->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "%s", dir);
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->aside = aside;
    e->dev = dev;
    e->ino = ino;
    return e;
}

static void add_logs_of_dir(struct log_list *l, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)))
        add_entry(l, dir, de->d_name);
    closedir(d);
}

static bool is_log_dir(const char *path, int base)
{
    return !strcmp(path + base, LOG_DIR_NAME);
}

static int collect_logs(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    if (type != FTW_D || !is_log_dir(path, ftw->base))
        return FTW_CONTINUE;
    add_logs_of_dir(walk_list, path);
    return FTW_SKIP_SUBTREE;
}

static int match_files(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    if (type == FTW_D && is_log_dir(path, ftw->base))
        return FTW_SKIP_SUBTREE;
    if (type != FTW_F || !S_ISREG(st->st_mode))
        return FTW_CONTINUE;
    for (size_t i = 0; i < walk_list->n; i++) {
        struct log_entry *e = &walk_list->v[i];
        if (!e->path && e->dev == st->st_dev && e->ino == st->st_ino)
            e->path = strdup(path);
    }
    return FTW_CONTINUE;
}

/* Every log under root, each with its file when the walk finds it. */
static int scan_root(struct log_list *l, const char *root)
{
    walk_list = l;
    size_t before = l->n;
    if (nftw(root, collect_logs, 32, FTW_PHYS | FTW_ACTIONRETVAL) < 0)
        return -errno;
    if (l->n > before && nftw(root, match_files, 32, FTW_PHYS | FTW_ACTIONRETVAL) < 0)
        return -errno;
    return 0;
}

/* The log of one file: in .nvmmio of the nearest directory above it that
 * has one for it (its root's, or its own for an O_ATOMIC file). */
static int scan_file(struct log_list *l, const char *file, const struct stat *st)
{
    char real[PATH_MAX], name[64];
    if (!realpath(file, real))
        return -errno;
    snprintf(name, sizeof(name), "%llx-%llx.log", (unsigned long long)st->st_dev,
             (unsigned long long)st->st_ino);
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", real);
    char *slash;
    while ((slash = strrchr(dir, '/'))) {
        *slash = '\0';
        char log_dir[PATH_MAX + 16], log[PATH_MAX + 96];
        snprintf(log_dir, sizeof(log_dir), "%s/" LOG_DIR_NAME, dir);
        snprintf(log, sizeof(log), "%s/%s", log_dir, name);
        struct stat lst;
        if (lstat(log, &lst) == 0) {
            struct log_entry *e = add_entry(l, log_dir, name);
            if (!e)
                return -ENOMEM;
            e->path = strdup(real);
            return 0;
        }
    }
    return 0;
}

/* ---- one log ------------------------------------------------------------- */

static int worse(int a, int b)
{
    return a > b ? a : b;
}

/* Opens the entry's file and checks it is the one the log names. */
static int open_data(const struct log_entry *e, int mode, struct stat *st)
{
    int fd = open(e->path, mode | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fstat(fd, st) < 0 || st->st_dev != e->dev || st->st_ino != e->ino) {
        close(fd);
        return -ESTALE;
    }
    return fd;
}

static const char *label(const struct log_entry *e)
{
    return e->path ? e->path : e->name;
}

static void print_refusal(const char *what, const struct log_entry *e, int rc,
                          const struct nvlog_recovery *r)
{
    printf("%s: %s: ", label(e), what);
    if (r->why)
        printf("%s", r->why);
    else
        printf("%s", strerror(-rc));
    if (r->bad_offset)
        printf(" (record at log offset %" PRIu64 ")", r->bad_offset);
    printf(" (log %s/%s)\n", e->dir, e->name);
}

/* The log directory, checked as the library checks it. */
static int open_log_dir(const struct log_entry *e, uid_t uid)
{
    const char *why = NULL;
    int dirfd = nvlog_dir_open(e->dir, uid, false, &why);
    if (dirfd < 0)
        printf("%s: refusing the log directory %s: %s\n", label(e), e->dir,
               why ? why : strerror(-dirfd));
    return dirfd;
}

/* Whether a process serves the file: 1 (reported), 0, or a negative errno. */
static int served(const struct log_entry *e, uid_t uid, pid_t *pid)
{
    *pid = -1;
    return nvowner_probe(e->dir, uid, e->dev, e->ino, pid);
}

static void print_holder(const char *what, const struct log_entry *e, pid_t pid)
{
    if (pid > 0)
        printf("%s: %s: process %d serves it\n", label(e), what, (int)pid);
    else
        printf("%s: %s: a running process serves it\n", label(e), what);
}

/* Inspects a log nobody serves, reporting what recovery would do. */
static int inspect_one(const struct log_entry *e, int fd, const struct stat *st)
{
    int dirfd = open_log_dir(e, st->st_uid);
    if (dirfd < 0)
        return dirfd == -EACCES ? LOGS_BAD : LOGS_ERROR;
    struct nvlog_identity id;
    struct nvlog_recovery r = {0};
    struct nvlog_slot slot;
    uint64_t size;
    int rc = nvlog_identity_read(fd, &id, &size);
    if (rc == 0)
        rc = nvlog_inspect(dirfd, e->name, st, &id, st->st_uid, &r, &slot);
    close(dirfd);
    if (rc == -EBADMSG || (rc == -EACCES && r.why)) {
        print_refusal("log refused", e, rc, &r);
        return LOGS_BAD;
    }
    if (rc < 0) {
        printf("%s: %s\n", e->path, strerror(-rc));
        return LOGS_ERROR;
    }
    if (r.stale) {
        printf("%s: recovery pending: a stale log of an earlier file with this inode "
               "(recover removes it)\n",
               e->path);
        return LOGS_PENDING;
    }
    if (r.emptied) {
        printf("%s: recovery pending: the file changed since the log's last look, but the log "
               "holds nothing to apply (recover removes it)\n",
               e->path);
        return LOGS_PENDING;
    }
    if (!r.had_log)
        return LOGS_CLEAN;
    if (r.changed) {
        printf("%s: changed behind its log's back (%s): recovery keeps the log aside and "
               "applies nothing (log %s/%s)\n",
               e->path, r.why, e->dir, e->name);
        return LOGS_BAD;
    }
    printf("%s: recovery pending: %" PRIu64 " blocks to roll back, %" PRIu64
           " to replay, size %" PRIu64 " (log %s/%s)\n",
           e->path, r.undone, r.redone, r.size, e->dir, e->name);
    return LOGS_PENDING;
}

/* A log recovery kept aside: reported, never applied. */
static void print_aside(const struct log_entry *e, const char *what)
{
    printf("%s: %s: a log kept aside after the file changed behind its back; never applied "
           "(log %s/%s)\n",
           label(e), what, e->dir, e->name);
}

static int check_one(const struct log_entry *e)
{
    if (e->aside) {
        print_aside(e, "needs a look");
        return LOGS_BAD;
    }
    if (!e->path) {
        printf("%s/%s: no file with device %llx inode %llx was found for this log\n", e->dir,
               e->name, (unsigned long long)e->dev, (unsigned long long)e->ino);
        return LOGS_BAD;
    }
    struct stat st;
    int fd = open_data(e, O_RDONLY, &st);
    if (fd < 0) {
        printf("%s: %s\n", e->path, strerror(-fd));
        return LOGS_ERROR;
    }
    pid_t pid;
    int held = served(e, st.st_uid, &pid);
    int status = LOGS_CLEAN;
    if (held > 0) {
        print_holder("live log", e, pid);
    } else if (held < 0) {
        printf("%s: the ownership lock cannot be read: %s\n", e->path, strerror(-held));
        status = LOGS_BAD;
    } else {
        status = inspect_one(e, fd, &st);
    }
    close(fd);
    return status;
}

/* Recovers an open file under its ownership lock. */
static int recover_locked(const struct log_entry *e, int fd, uid_t uid)
{
    int dirfd = open_log_dir(e, uid);
    if (dirfd < 0)
        return dirfd == -EACCES ? LOGS_BAD : LOGS_ERROR;
    struct nvlog_identity id;
    struct nvlog_recovery r = {0};
    uint64_t size;
    int rc = nvlog_identity_read(fd, &id, &size);
    if (rc == 0)
        rc = nvlog_recover(dirfd, e->name, fd, &id, uid, &r);
    close(dirfd);
    if (rc == -EBADMSG || (rc == -EACCES && r.why)) {
        print_refusal("refused", e, rc, &r);
        printf("%s: nothing applied, the file is left as it is\n", e->path);
        return LOGS_BAD;
    }
    if (rc < 0) {
        printf("%s: recovery failed: %s\n", e->path, strerror(-rc));
        return LOGS_ERROR;
    }
    if (r.changed) {
        printf("%s: kept aside: %s since the log's last look; the log is now %s/%s, never "
               "applied; nothing applied, the file is left as it is\n",
               e->path, r.why, e->dir, r.aside);
        return LOGS_BAD;
    }
    if (r.stale)
        printf("%s: stale log removed (an earlier file with this inode left it)\n", e->path);
    else if (r.emptied)
        printf("%s: log removed: the file changed since its last look, and it held nothing to "
               "apply\n",
               e->path);
    else if (r.had_log)
        printf("%s: recovered: rolled back %" PRIu64 " blocks, replayed %" PRIu64 ", size %" PRIu64
               "; log removed\n",
               e->path, r.undone, r.redone, r.size);
    else
        printf("%s: nothing to do (the log is gone)\n", e->path);
    return LOGS_CLEAN;
}

static int recover_one(const struct log_entry *e)
{
    if (e->aside) {
        print_aside(e, "kept aside earlier");
        return LOGS_CLEAN;
    }
    if (!e->path) {
        printf("%s/%s: refused: no file with device %llx inode %llx was found for this log\n",
               e->dir, e->name, (unsigned long long)e->dev, (unsigned long long)e->ino);
        return LOGS_BAD;
    }
    struct stat st;
    int fd = open_data(e, O_RDWR, &st);
    if (fd < 0) {
        printf("%s: refused: cannot open it for writing: %s\n", e->path, strerror(-fd));
        return LOGS_ERROR;
    }
    uid_t me = geteuid();
    int status;
    struct nvowner owner = {.fd = -1};
    int rc = me == 0 || me == st.st_uid ? 0 : -EPERM;
    if (rc == 0)
        rc = nvowner_acquire(e->dir, st.st_uid, e->dev, e->ino, true, &owner);
    if (rc == -EPERM) {
        printf("%s: refused: it belongs to user %u; only its owner or root recovers it\n", e->path,
               (unsigned)st.st_uid);
        status = LOGS_BAD;
    } else if (rc == -EBUSY) {
        pid_t pid = -1;
        served(e, st.st_uid, &pid);
        print_holder("left alone", e, pid);
        status = LOGS_PENDING;
    } else if (rc < 0) {
        printf("%s: refused: the ownership lock cannot be taken: %s\n", e->path, strerror(-rc));
        status = rc == -EACCES ? LOGS_BAD : LOGS_ERROR;
    } else {
        status = recover_locked(e, fd, st.st_uid);
        nvowner_release(&owner);
    }
    close(fd);
    return status;
}

/* The policy of the records the log holds. */
static const char *policy_of(const struct nvlog_recovery *r)
{
    if (r->logged[0] && r->logged[1])
        return "mixed";
    return r->logged[0] ? "undo" : r->logged[1] ? "redo" : "-";
}

/* Who serves the file, for the status table. */
static void describe_holder(const struct log_entry *e, const struct stat *st, char *out, size_t n,
                            int *held)
{
    pid_t pid;
    *held = served(e, st->st_uid, &pid);
    if (*held > 0 && pid > 0)
        snprintf(out, n, "pid %d", (int)pid);
    else
        snprintf(out, n, "%s", *held > 0 ? "held" : *held == 0 ? "-" : "?");
}

/* nvlog_inspect without messages: a live log may be caught mid-record. */
static int inspect_quietly(const struct log_entry *e, int fd, const struct stat *st,
                           struct nvlog_recovery *r, struct nvlog_slot *slot)
{
    const char *why = NULL;
    int dirfd = nvlog_dir_open(e->dir, st->st_uid, false, &why);
    if (dirfd < 0)
        return dirfd;
    struct nvlog_identity id;
    uint64_t size;
    int rc = nvlog_identity_read(fd, &id, &size);
    if (rc == 0)
        rc = nvlog_inspect(dirfd, e->name, st, &id, st->st_uid, r, slot);
    close(dirfd);
    return rc;
}

#define STATUS_ROW "%-40s %12s %12s %8s %6s %10s %s%s\n"

static int status_one(const struct log_entry *e)
{
    char log[PATH_MAX + 160], log_bytes[24] = "?";
    snprintf(log, sizeof(log), "%s/%s", e->dir, e->name);
    struct stat lst, st;
    if (lstat(log, &lst) == 0)
        snprintf(log_bytes, sizeof(log_bytes), "%lld", (long long)lst.st_size);
    int fd = e->path ? open_data(e, O_RDONLY, &st) : -ENOENT;
    if (e->aside) {
        if (fd >= 0)
            close(fd);
        printf(STATUS_ROW, label(e), "-", "-", "-", "-", log_bytes, "-", " (kept aside)");
        return LOGS_CLEAN;
    }
    if (fd < 0) {
        printf(STATUS_ROW, label(e), "?", "?", "?", "?", log_bytes,
               e->path ? strerror(-fd) : "(no file)", "");
        return LOGS_CLEAN;
    }
    char holder[32], size[24], committed[24] = "?", epoch[24] = "?";
    int held;
    describe_holder(e, &st, holder, sizeof(holder), &held);
    struct nvlog_recovery r = {0};
    struct nvlog_slot slot = {0};
    int rc = inspect_quietly(e, fd, &st, &r, &slot);
    close(fd);
    snprintf(size, sizeof(size), "%lld", (long long)st.st_size);
    if (r.had_log && !r.stale) {
        snprintf(committed, sizeof(committed), "%" PRIu64, slot.committed_size);
        snprintf(epoch, sizeof(epoch), "%" PRIu64, slot.committed_epoch);
    }
    const char *note = rc < 0 && held <= 0 ? " (log fails its checks: see check)"
                       : r.stale           ? " (stale)"
                       : r.changed         ? " (file changed behind the log: see check)"
                                           : "";
    printf(STATUS_ROW, e->path, size, committed, epoch, rc == 0 ? policy_of(&r) : "?", log_bytes,
           holder, note);
    return LOGS_CLEAN;
}

/* ---- the arguments ------------------------------------------------------- */

static int gather(struct log_list *l, const char *arg)
{
    struct stat st;
    if (stat(arg, &st) < 0) {
        fprintf(stderr, "nvmmio: %s: %s\n", arg, strerror(errno));
        return LOGS_ERROR;
    }
    int rc = S_ISDIR(st.st_mode)   ? scan_root(l, arg)
             : S_ISREG(st.st_mode) ? scan_file(l, arg, &st)
                                   : -EINVAL;
    if (rc < 0) {
        fprintf(stderr, "nvmmio: %s: %s\n", arg,
                rc == -EINVAL ? "neither a directory nor a regular file" : strerror(-rc));
        return LOGS_ERROR;
    }
    return LOGS_CLEAN;
}

/* The roots of the environment, as the library reads them. */
static char *env_roots(void)
{
    const char *v = getenv("NVMMIO_PATH");
    if (!v || !*v)
        v = getenv("PMEM_PATH");
    return v && *v ? strdup(v) : NULL;
}

static int act(enum logs_action action, const struct log_entry *e)
{
    switch (action) {
    case LOGS_CHECK:
        return check_one(e);
    case LOGS_RECOVER:
        return recover_one(e);
    default:
        return status_one(e);
    }
}

int logs_run(enum logs_action action, int n, char **args)
{
    /* Preloaded, the library would serve (and recover) the files this
     * command opens, and hold the locks it takes. */
    if (dlsym(RTLD_DEFAULT, "nvmmio_is_managed")) {
        fprintf(stderr, "nvmmio: libnvmmio is loaded in this process; run nvmmio without it "
                        "in LD_PRELOAD\n");
        return LOGS_ERROR;
    }
    char *roots = NULL;
    int status = LOGS_CLEAN;
    struct log_list l = {0};
    if (n == 0) {
        roots = env_roots();
        if (!roots) {
            fprintf(stderr, "nvmmio: no ROOT or FILE given and no NVMMIO_PATH set\n");
            return LOGS_ERROR;
        }
        char *save, *root;
        for (root = strtok_r(roots, ":", &save); root; root = strtok_r(NULL, ":", &save))
            status = worse(status, gather(&l, root));
    }
    for (int i = 0; i < n; i++)
        status = worse(status, gather(&l, args[i]));
    free(roots);
    bool loaded = l.n == 0 || pm_init() == 0;
    if (!loaded) {
        fprintf(stderr, "nvmmio: cannot load libpmem: %s\n", pm_init_error());
        status = LOGS_ERROR;
    } else if (l.n == 0) {
        printf("no logs\n");
    } else if (action == LOGS_STATUS) {
        printf("%-40s %12s %12s %8s %6s %10s %s\n", "PATH", "SIZE", "COMMITTED", "EPOCH", "POLICY",
               "LOG_BYTES", "HOLDER");
    }
    for (size_t i = 0; i < l.n; i++) {
        if (loaded)
            status = worse(status, act(action, &l.v[i]));
        free(l.v[i].path);
    }
    free(l.v);
    return status;
}
