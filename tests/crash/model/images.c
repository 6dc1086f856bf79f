/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * images.c - crash images. At an explored crash point: the persisted image
 * of every file of the root (data files and the logs in .nvmmio/), plus a
 * subset of the lines in flight, whole (64-byte mode) or word by word
 * (8-byte mode, torn lines). Each image is written into a scratch directory
 * that mirrors the root and recovered with the library's recovery; every
 * data file must then hold a state the contract allows. Samples of the
 * images are also recovered twice (the second pass must change nothing),
 * recovered through the library's own open() (then closed: the raw file
 * must match), and crashed again during recovery (every fence of the
 * recovery is a crash point of its own; recovering that image must give the
 * same file).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../include/libnvmmio.h"
#include "checker.h"
#include "log/recovery.h"
#include "log/txrecord.h"
#include "os/sys.h"

#define RECOVERY_TIMEOUT 30 /* seconds */

struct ifile {
    char rel[320];       /* path below the imaged directory */
    const uint8_t *base; /* persisted bytes (or the kernel's, when the model never saw it) */
    size_t size;
    struct bytes owned;    /* the kernel's bytes of a file the model does not track */
    struct bytes work;     /* base with the image's units applied */
    bool touched;          /* the current image changes it */
    int wfile;             /* workload file it is, or -1 */
    uint64_t key;          /* identity and version (or contents) */
    struct timespec mtime; /* a data file's mtime at the crash point: its copies get it */
};

struct point {
    struct driver *d;
    uint64_t cp;
    int event;
    const struct nvmodel_point *np;
    struct nvmodel_snapshot snap;
    struct ifile *f;
    int nf;
    struct nvmodel_unit *u; /* in flight, .file is an index in f */
    uint64_t *uh;           /* identity of each unit */
    size_t nu;
    uint64_t base_key;
};

struct selset {
    uint8_t *masks; /* nsel rows of nu bytes: 0 none, 0xff whole line, else words */
    char (*desc)[96];
    bool *torn;
    int nsel, cap;
    size_t nu;
};

/* ---- selections of in-flight units --------------------------------------- */

static uint8_t *sel_add(struct selset *s, bool torn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static uint8_t *sel_add(struct selset *s, bool torn, const char *fmt, ...)
{
    if (s->nsel == s->cap) {
        int cap = s->cap ? 2 * s->cap : 32;
        uint8_t *m = realloc(s->masks, (size_t)cap * (s->nu ? s->nu : 1));
        char(*desc)[96] = realloc(s->desc, (size_t)cap * sizeof(*desc));
        bool *t = realloc(s->torn, (size_t)cap * sizeof(*t));
        if (m)
            s->masks = m;
        if (desc)
            s->desc = desc;
        if (t)
            s->torn = t;
        if (!m || !desc || !t) {
            fprintf(stderr, "crash model: out of memory\n");
            abort();
        }
        s->cap = cap;
    }
    uint8_t *row = s->masks + (size_t)s->nsel * (s->nu ? s->nu : 1);
    memset(row, 0, s->nu ? s->nu : 1);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->desc[s->nsel], sizeof(s->desc[0]), fmt, ap);
    va_end(ap);
    s->torn[s->nsel] = torn;
    s->nsel++;
    return row;
}

static void sel_free(struct selset *s)
{
    free(s->masks);
    free(s->desc);
    free(s->torn);
    memset(s, 0, sizeof(*s));
}

struct word {
    uint32_t unit;
    uint8_t bit;
};

/* The 8-byte words of the units that differ from the persisted image. */
static size_t words_of(const struct point *pt, struct word **out)
{
    size_t n = 0, cap = 0;
    *out = NULL;
    for (size_t i = 0; i < pt->nu; i++) {
        const struct nvmodel_unit *u = &pt->u[i];
        const uint8_t *base = pt->f[u->file].base + u->off;
        for (unsigned w = 0; w * 8 < u->len; w++) {
            unsigned k = u->len - w * 8 < 8 ? u->len - w * 8 : 8;
            if (!memcmp(base + w * 8, u->data + w * 8, k))
                continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                struct word *p = realloc(*out, cap * sizeof(*p));
                if (!p)
                    return n;
                *out = p;
            }
            (*out)[n++] = (struct word){(uint32_t)i, (uint8_t)(1u << w)};
        }
    }
    return n;
}

static void random_lines(struct selset *s, struct rng *r, unsigned percent)
{
    uint8_t *row = sel_add(s, false, "random %u%% of the %zu in-flight lines", percent, s->nu);
    for (size_t i = 0; i < s->nu; i++)
        row[i] = rng_below(r, 100) < percent ? 0xff : 0;
}

/* The images of one crash point (README.md here): every subset when few
 * lines are in flight; otherwise none, all, the oldest, the newest, all but
 * one, and random subsets; then torn lines at 8-byte granularity. */
static void make_selections(const struct point *pt, struct selset *s, uint64_t seed, bool nested)
{
    size_t n = pt->nu;
    struct rng r = {seed};
    s->nu = n;
    /* one fewer during recovery, which has many more points */
    size_t exhaustive = pt->d->cfg->exhaustive - (nested && pt->d->cfg->exhaustive > 1);
    if (n == 0) {
        sel_add(s, false, "nothing in flight");
        return;
    }
    if (n <= exhaustive) {
        for (unsigned m = 0; m < 1u << n; m++) {
            uint8_t *row = sel_add(s, false, "lines %#x of the %zu in flight", m, n);
            for (size_t i = 0; i < n; i++)
                row[i] = m >> i & 1 ? 0xff : 0;
        }
    } else if (nested) {
        sel_add(s, false, "none of the %zu in-flight lines", n);
        memset(sel_add(s, false, "all %zu in-flight lines", n), 0xff, n);
        memset(sel_add(s, false, "all but the newest of %zu lines", n), 0xff, n - 1);
        random_lines(s, &r, 50);
    } else {
        sel_add(s, false, "none of the %zu in-flight lines", n);
        memset(sel_add(s, false, "all %zu in-flight lines", n), 0xff, n);
        memset(sel_add(s, false, "the oldest of %zu lines", n), 0xff, 1);
        memset(sel_add(s, false, "the oldest half of %zu lines", n), 0xff, n / 2);
        size_t k[] = {1, 2, n / 2};
        for (int i = 0; i < 3; i++)
            memset(sel_add(s, false, "the newest %zu of %zu lines", k[i], n) + n - k[i], 0xff,
                   k[i]);
        size_t drop[] = {0, n - 1, 1 + rng_below(&r, n - 2)};
        for (int i = 0; i < 3; i++) {
            uint8_t *row = sel_add(s, false, "all but line %zu of %zu", drop[i], n);
            memset(row, 0xff, n);
            row[drop[i]] = 0;
        }
        random_lines(s, &r, 50);
        random_lines(s, &r, 25);
        random_lines(s, &r, 75);
    }

    /* 8-byte granularity: torn lines. */
    struct word *w;
    size_t nw = words_of(pt, &w);
    if (nw == 0) {
        free(w);
        return;
    }
    if (nw <= exhaustive) {
        for (unsigned m = 1; m < 1u << nw; m++) {
            uint8_t *row = sel_add(s, true, "8-byte: words %#x of the %zu in flight", m, nw);
            for (size_t i = 0; i < nw; i++)
                if (m >> i & 1)
                    row[w[i].unit] |= w[i].bit;
        }
    } else {
        int rounds = nested ? 1 : 2;
        for (int k = 0; k < rounds; k++) {
            uint8_t *row = sel_add(s, true, "8-byte: random half of %zu in-flight words", nw);
            for (size_t i = 0; i < nw; i++)
                if (rng_below(&r, 2))
                    row[w[i].unit] |= w[i].bit;
        }
        if (!nested) {
            /* every line whole but one, torn */
            uint32_t victims[2] = {w[nw - 1].unit, w[rng_below(&r, nw)].unit};
            for (int k = 0; k < 2; k++) {
                uint8_t *row =
                    sel_add(s, true, "8-byte: all lines, line %u of %zu torn", victims[k], n);
                memset(row, 0xff, n);
                row[victims[k]] = 0;
                for (size_t i = 0; i < nw; i++)
                    if (w[i].unit == victims[k] && rng_below(&r, 2))
                        row[victims[k]] |= w[i].bit;
            }
            uint8_t *row = sel_add(s, true, "8-byte: the oldest half of %zu words", nw);
            for (size_t i = 0; i < nw / 2; i++)
                row[w[i].unit] |= w[i].bit;
        }
    }
    free(w);
}

/* ---- building images ------------------------------------------------------ */

static void point_add_file(struct point *pt, const char *dir, const char *rel, int wfile)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    struct nvlog_identity id;
    uint64_t dev, ino;
    if (raw_statx_identity(path, &id, &dev, &ino) < 0)
        return;
    struct ifile *n = realloc(pt->f, (size_t)(pt->nf + 1) * sizeof(*n));
    if (!n)
        return;
    pt->f = n;
    struct ifile *f = &pt->f[pt->nf];
    memset(f, 0, sizeof(*f));
    snprintf(f->rel, sizeof(f->rel), "%s", rel);
    f->wfile = wfile;
    struct statx stx;
    if (wfile >= 0 && sys_statx(AT_FDCWD, path, 0, STATX_MTIME, &stx) == 0)
        f->mtime = (struct timespec){stx.stx_mtime.tv_sec, stx.stx_mtime.tv_nsec};
    for (size_t i = 0; i < pt->snap.nfiles; i++) {
        const struct nvmodel_file *s = &pt->snap.files[i];
        if (s->dev == dev && s->ino == ino) {
            f->base = s->image;
            f->size = (size_t)s->size;
            f->key = hash2(hash2(hash2(dev, ino), s->image_version), s->size);
            break;
        }
    }
    if (!f->base) {
        if (raw_read_path(path, &f->owned) < 0)
            return;
        f->base = f->owned.p;
        f->size = f->owned.len;
        f->key = hash_bytes(f->owned.p, f->owned.len, 0);
    }
    f->key = hash2(f->key, hash_bytes(rel, strlen(rel), 0));
    pt->nf++;
}

/* The files of the image of dir: the named data files and every file in
 * dir/.nvmmio. */
static void point_collect(struct point *pt, const char *dir, const char *const *names,
                          const int *wfiles, int nnames)
{
    for (int i = 0; i < nnames; i++)
        point_add_file(pt, dir, names[i], wfiles[i]);
    char logdir[PATH_MAX];
    snprintf(logdir, sizeof(logdir), "%s/.nvmmio", dir);
    int fd = raw_open(logdir, O_RDONLY | O_DIRECTORY, 0);
    if (fd >= 0) {
        char buf[8192];
        for (;;) {
            long n = sys_call6(SYS_getdents64, fd, (long)buf, sizeof(buf), 0, 0, 0);
            if (n <= 0)
                break;
            for (long at = 0; at < n;) {
                struct {
                    uint64_t ino;
                    int64_t off;
                    unsigned short reclen;
                    unsigned char type;
                    char name[];
                } *e = (void *)(buf + at);
                at += e->reclen;
                if (e->type != 8 /* DT_REG */)
                    continue;
                char rel[320];
                snprintf(rel, sizeof(rel), ".nvmmio/%s", e->name);
                point_add_file(pt, dir, rel, -1);
            }
        }
        raw_close(fd);
    }
    /* The snapshot's units, in the image's terms. */
    pt->u = malloc((pt->snap.nunits ? pt->snap.nunits : 1) * sizeof(*pt->u));
    pt->uh = malloc((pt->snap.nunits ? pt->snap.nunits : 1) * sizeof(*pt->uh));
    pt->nu = 0;
    for (size_t i = 0; pt->u && pt->uh && i < pt->snap.nunits; i++) {
        const struct nvmodel_unit *su = &pt->snap.units[i];
        const struct nvmodel_file *sf = &pt->snap.files[su->file];
        for (int k = 0; k < pt->nf; k++) {
            if (pt->f[k].base != sf->image || !sf->image)
                continue;
            struct nvmodel_unit *u = &pt->u[pt->nu];
            *u = *su;
            u->file = (uint32_t)k;
            pt->uh[pt->nu] = hash_bytes(u->data, u->len, hash2(pt->f[k].key, u->off));
            pt->nu++;
            break;
        }
    }
    pt->base_key = 0;
    for (int k = 0; k < pt->nf; k++)
        pt->base_key = hash2(pt->base_key, pt->f[k].key);
}

static void point_free(struct point *pt)
{
    for (int k = 0; k < pt->nf; k++) {
        bytes_free(&pt->f[k].owned);
        bytes_free(&pt->f[k].work);
    }
    free(pt->f);
    free(pt->u);
    free(pt->uh);
    nvmodel_snapshot_free(&pt->snap);
    memset(pt, 0, sizeof(*pt));
}

/* Applies a selection to the files' work buffers. */
static void compose(struct point *pt, const uint8_t *mask)
{
    for (int k = 0; k < pt->nf; k++)
        pt->f[k].touched = false;
    for (size_t i = 0; i < pt->nu; i++) {
        if (!mask[i])
            continue;
        const struct nvmodel_unit *u = &pt->u[i];
        struct ifile *f = &pt->f[u->file];
        if (!f->touched) {
            bytes_set(&f->work, f->base, f->size);
            f->touched = true;
        }
        if (u->off + u->len > f->size)
            continue;
        if (mask[i] == 0xff) {
            memcpy(f->work.p + u->off, u->data, u->len);
            continue;
        }
        for (unsigned w = 0; w * 8 < u->len; w++)
            if (mask[i] >> w & 1)
                memcpy(f->work.p + u->off + w * 8, u->data + w * 8,
                       u->len - w * 8 < 8 ? u->len - w * 8 : 8);
    }
}

static const uint8_t *content(const struct ifile *f, size_t *n)
{
    *n = f->touched ? f->work.len : f->size;
    return f->touched ? f->work.p : f->base;
}

/* A copy of a data file stands for the file as the kernel kept it at the
 * crash point: its size, and its mtime too, which the log's watch holds. */
static int write_data_copy(int dfd, const char *rel, const struct ifile *data)
{
    size_t n;
    const uint8_t *c = content(data, &n);
    int rc = raw_write_file(dfd, rel, c, n, true);
    const struct timespec t[2] = {{0, UTIME_OMIT}, data->mtime};
    return rc < 0 || data->wfile < 0 ? rc : sys_utimensat(dfd, rel, t, 0);
}

/* Writes the composed image into dir (made afresh): the data files and
 * the log directory, as the imaged directory holds them. */
static int write_image(const struct point *pt, const char *dir)
{
    raw_rmtree(dir);
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/.nvmmio", dir);
    int rc = raw_mkdir(dir);
    if (rc == 0)
        rc = raw_mkdir(p);
    int dfd = rc < 0 ? rc : raw_open(dir, O_RDONLY | O_DIRECTORY, 0);
    if (dfd < 0)
        return dfd;
    for (int k = 0; k < pt->nf && rc == 0; k++)
        rc = write_data_copy(dfd, pt->f[k].rel, &pt->f[k]);
    raw_close(dfd);
    return rc;
}

static uint64_t image_key(const struct point *pt, const uint8_t *mask, uint64_t allowed_key)
{
    uint64_t k = hash2(pt->base_key, allowed_key);
    for (size_t i = 0; i < pt->nu; i++)
        if (mask[i])
            k = hash2(k, pt->uh[i] ^ mask[i]);
    return k;
}

/* ---- recovery ------------------------------------------------------------- */

static void set_context(struct point *pt, const char *stage, uint64_t img, const char *extra)
{
    struct driver *d = pt->d;
    char text[1024];
    snprintf(text, sizeof(text),
             "while %s (workload %s, mode %s, seed %llu, crash point %llu, image %llu%s)\n"
             "  replay: %s --replay %llu:%llu%s",
             stage, workload_name(d->workload), mode_name(d->mode),
             (unsigned long long)d->cfg->seed, (unsigned long long)pt->cp, (unsigned long long)img,
             extra, replay_command(d), (unsigned long long)pt->cp, (unsigned long long)img, extra);
    driver_set_context(text);
}

/* Recovers dir/name from its log dir/.nvmmio/logname as the library's open
 * would, and reads the result. */
static int recover_at(const char *dir, const char *name, const char *logname,
                      const struct nvlog_identity *id, struct bytes *out, bool *had_log)
{
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    int dfd = raw_open(p, O_RDWR, 0);
    if (dfd < 0)
        return dfd;
    snprintf(p, sizeof(p), "%s/.nvmmio", dir);
    int lfd = raw_open(p, O_RDONLY | O_DIRECTORY, 0);
    int rc = 0;
    *had_log = false;
    if (lfd >= 0) {
        struct nvlog_recovery r;
        alarm(RECOVERY_TIMEOUT);
        rc = nvlog_recover(lfd, logname, dfd, id, geteuid(), &r);
        alarm(0);
        *had_log = r.had_log;
        raw_close(lfd);
    }
    int rc2 = raw_read_file(dfd, out);
    raw_close(dfd);
    return rc < 0 ? rc : rc2;
}

static bool same(const struct bytes *a, const uint8_t *p, size_t n)
{
    return a->len == n && (!n || !memcmp(a->p, p, n));
}

/* 0: the durable state; 1: the state after the durability point in flight;
 * -1: neither. */
static int allowed(const struct driver *d, int k, const struct bytes *got)
{
    const struct fstate *f = &d->files[k];
    if (same(got, f->dur.p, f->dur.len))
        return 0;
    if (d->in_op && ((d->inflight.durable && d->inflight.file == k) || d_tx_commit_covers(d, k)) &&
        same(got, f->cur.p, f->cur.len))
        return 1;
    return -1;
}

static uint64_t allowed_key(const struct driver *d)
{
    uint64_t k = d->in_op && d->inflight.durable ? hash2(d->inflight.index, d->inflight.file) : 0;
    for (int i = 0; i < MAX_FILES; i++)
        k = hash2(k, d->files[i].dur_version);
    return k;
}

static void describe_point(struct point *pt, char *out, size_t n)
{
    struct driver *d = pt->d;
    char where[700] = "";
    if (pt->event == NVMODEL_FENCE || pt->event == NVMODEL_UNMAP) {
        char a[300] = "?", b[300] = "?";
        if (pt->np->nframes > 1)
            describe_site(pt->np->frames[1], a, sizeof(a));
        if (pt->np->nframes > 2)
            describe_site(pt->np->frames[2], b, sizeof(b));
        snprintf(where, sizeof(where), "%s in %s <- %s",
                 pt->event == NVMODEL_FENCE ? "fence" : "unmapping", a, b);
    } else {
        snprintf(where, sizeof(where), "between two calls");
    }
    const struct opinfo *o = &d->inflight;
    if (d->in_op)
        snprintf(out, n, "%s, during op #%llu %s(%s, off %llu, len %llu)%s", where,
                 (unsigned long long)o->index, op_name(o->kind),
                 o->file >= 0 ? d->files[o->file].name : "-", (unsigned long long)o->off,
                 (unsigned long long)o->len, o->durable ? ", a durability point" : "");
    else
        snprintf(out, n, "%s, after op #%llu returned", where, (unsigned long long)d->opno - 1);
}

static void print_recent(const struct driver *d)
{
    printf("  recent ops:");
    uint64_t from = d->opno > RECENT_OPS - 1 ? d->opno - (RECENT_OPS - 1) : 1;
    for (uint64_t i = from; i <= d->opno; i++) {
        const struct opinfo *o = &d->recent[i % RECENT_OPS];
        if (o->index != i)
            continue;
        printf(" #%llu %s(%s%s%llu+%llu)", (unsigned long long)i, op_name(o->kind),
               o->file >= 0 ? d->files[o->file].name : "-", ", ", (unsigned long long)o->off,
               (unsigned long long)o->len);
    }
    printf("\n");
}

struct verdict {
    const char *what;
    const struct bytes *got;
    const struct bytes *want; /* NULL: the allowed states */
    const char *nested;       /* nested point description */
    char replay_extra[64];
};

static void violation(struct point *pt, uint64_t img, const char *desc, int k,
                      const struct verdict *v)
{
    struct driver *d = pt->d;
    const struct fstate *f = &d->files[k];
    char where[1200];
    describe_point(pt, where, sizeof(where));
    size_t flushed = 0, dirty = 0;
    for (size_t i = 0; i < pt->nu; i++)
        pt->u[i].kind == NVMODEL_FLUSHED ? flushed++ : dirty++;
    printf("\nCONTRACT VIOLATION: %s\n", v->what);
    printf("  run: workload %s, mode %s, seed %llu\n", workload_name(d->workload),
           mode_name(d->mode), (unsigned long long)d->cfg->seed);
    printf("  crash point %llu: %s\n", (unsigned long long)pt->cp, where);
    printf("  image %llu: %s (%zu lines in flight: %zu flushed, %zu dirty)\n",
           (unsigned long long)img, desc, pt->nu, flushed, dirty);
    if (v->nested)
        printf("  %s\n", v->nested);
    const struct bytes *want = v->want;
    char diff[4096];
    if (want) {
        int a = allowed(d, k, v->got);
        printf("  file %s: got %zu bytes, expected %zu (the first recovery's result); what was "
               "got is %s\n",
               f->name, v->got->len, want->len,
               a == 0   ? "the state at the last durability point"
               : a == 1 ? "the state after the durability point in flight"
                        : "no state the contract allows");
        hexdump_diff(v->got->p, v->got->len, want->p, want->len, diff, sizeof(diff));
        printf("%s", diff);
    } else {
        bool pending = d->in_op && d->inflight.durable && d->inflight.file == k;
        printf("  file %s: recovered %zu bytes; the contract allows the state at op #%llu "
               "(%zu bytes)",
               f->name, v->got->len, (unsigned long long)f->dur_op, f->dur.len);
        if (pending)
            printf(" or after op #%llu (%zu bytes)", (unsigned long long)d->inflight.index,
                   f->cur.len);
        printf("\n  difference from the state at op #%llu:\n", (unsigned long long)f->dur_op);
        hexdump_diff(v->got->p, v->got->len, f->dur.p, f->dur.len, diff, sizeof(diff));
        printf("%s", diff);
        if (workload_has_records(d->workload)) {
            size_t first = 0;
            while (first < v->got->len && first < f->dur.len && v->got->p[first] == f->dur.p[first])
                first++;
            describe_records(v->got->p, v->got->len, first, diff, sizeof(diff));
            if (diff[0])
                printf("    the records there:\n%s", diff);
        }
        if (pending) {
            printf("  difference from the state after op #%llu:\n",
                   (unsigned long long)d->inflight.index);
            hexdump_diff(v->got->p, v->got->len, f->cur.p, f->cur.len, diff, sizeof(diff));
            printf("%s", diff);
        }
    }
    print_recent(d);
    printf("  replay: %s --replay %llu:%llu%s --keep /tmp/nvmmio-replay\n", replay_command(d),
           (unsigned long long)pt->cp, (unsigned long long)img, v->replay_extra);
    fflush(stdout);
    d->c.violations++;
    report_failure(d);
}

/* ---- crash during recovery ------------------------------------------------ */

struct nested {
    struct point *outer;
    uint64_t img;
    const char *desc;
    int k;
    const struct bytes *r1;
    uint64_t ncp;
    char dir[PATH_MAX];
    struct nvmodel *model;
    struct hashset seen;
};

static void nested_hook(void *arg, const struct nvmodel_point *p)
{
    struct nested *nx = arg;
    struct point *outer = nx->outer;
    struct driver *d = outer->d;
    const struct config *cfg = d->cfg;
    /* Only fences: recovery's unmappings follow a fence with nothing in
     * between that a crash image could tell apart. */
    if (p->event != NVMODEL_FENCE)
        return;
    uint64_t ncp = ++nx->ncp;
    if (cfg->replay && cfg->replay_nested && ncp != cfg->replay_ncp)
        return;
    d->c.nested_points++;
    const struct fstate *f = &d->files[nx->k];
    struct point pt = {.d = d, .cp = outer->cp, .event = p->event, .np = p};
    if (nvmodel_snapshot(nx->model, &pt.snap) < 0)
        return;
    const char *names[] = {f->name};
    int wf[] = {nx->k};
    point_collect(&pt, nx->dir, names, wf, 1);
    struct selset s = {0};
    make_selections(&pt, &s, hash2(hash2(cfg->seed, outer->cp), hash2(nx->img, ncp)), true);
    char n2[PATH_MAX];
    snprintf(n2, sizeof(n2), "%s/n2", d->scratch);
    struct bytes got = {0};
    for (int j = 0; j < s.nsel; j++) {
        if (cfg->replay && cfg->replay_nested && (uint64_t)j != cfg->replay_nimg)
            continue;
        const uint8_t *mask = s.masks + (size_t)j * (s.nu ? s.nu : 1);
        if (!cfg->replay && !hashset_add(&nx->seen, image_key(&pt, mask, 0)))
            continue;
        compose(&pt, mask);
        if (write_image(&pt, n2) < 0) {
            fprintf(stderr, "crash model: cannot write an image under %s\n", n2);
            driver_stop(d, EXIT_ERROR);
        }
        char extra[64];
        snprintf(extra, sizeof(extra), ":%llu:%d", (unsigned long long)ncp, j);
        set_context(outer, "recovering an image crashed during recovery", nx->img, extra);
        bool had;
        int rc = recover_at(n2, f->name, f->logname, &f->id, &got, &had);
        d->c.nested_images++;
        d->c.recoveries++;
        if (rc < 0 || !same(&got, nx->r1->p, nx->r1->len)) {
            char what[200], nested[400];
            snprintf(what, sizeof(what),
                     rc < 0 ? "after a crash during recovery, recovery fails (%s)"
                            : "after a crash during recovery, recovering again gives a "
                              "different file%s",
                     rc < 0 ? strerror(-rc) : "");
            char where[700] = "between two calls";
            if (p->nframes > 1)
                describe_site(p->frames[1], where, sizeof(where));
            snprintf(nested, sizeof(nested),
                     "recovery crashed at its point %llu (%s in %s), nested image %d: %s",
                     (unsigned long long)ncp, p->event == NVMODEL_FENCE ? "fence" : "unmapping",
                     where, j, s.desc[j]);
            struct verdict v = {what, &got, nx->r1, nested, ""};
            snprintf(v.replay_extra, sizeof(v.replay_extra), "%s", extra);
            violation(outer, nx->img, nx->desc, nx->k, &v);
        }
        if (cfg->keep_dir && cfg->replay_nested) {
            char cmd[PATH_MAX];
            snprintf(cmd, sizeof(cmd), "%s/nested-image", cfg->keep_dir);
            write_image(&pt, cmd);
            printf("  nested image %llu:%d left in %s\n", (unsigned long long)ncp, j, cmd);
        }
    }
    bytes_free(&got);
    sel_free(&s);
    point_free(&pt);
}

static void nested_check(struct point *pt, uint64_t img, const char *desc, int k,
                         const struct bytes *r1)
{
    struct driver *d = pt->d;
    const struct fstate *f = &d->files[k];
    struct nested nx = {.outer = pt, .img = img, .desc = desc, .k = k, .r1 = r1};
    snprintf(nx.dir, sizeof(nx.dir), "%s/n1", d->scratch);
    if (write_image(pt, nx.dir) < 0)
        driver_stop(d, EXIT_ERROR);
    d->c.nested_runs++;
    nx.model = nvmodel_new(nested_hook, &nx);
    struct nvmodel *was = nvmodel_activate(nx.model);
    struct bytes got = {0};
    bool had;
    set_context(pt, "recovering with the model on (crash during recovery)", img, "");
    int rc = recover_at(nx.dir, f->name, f->logname, &f->id, &got, &had);
    nvmodel_activate(was);
    nvmodel_free(nx.model);
    hashset_free(&nx.seen);
    if (rc < 0 || !same(&got, r1->p, r1->len)) {
        struct verdict v = {"the same image recovers differently the second time", &got, r1, NULL,
                            ""};
        violation(pt, img, desc, k, &v);
    }
    bytes_free(&got);
}

/* ---- recovery through the library's open() -------------------------------- */

/* The image's log names the original file (device, inode, birth time); the
 * copy is another inode, so the log is renamed and its valid slots restamped
 * with the copy's identity before the library opens the copy. */
static void transplant(uint8_t *log, size_t n, const struct nvlog_identity *id)
{
    for (size_t off = 0; off + sizeof(struct nvlog_slot) <= n && off <= NVLOG_SLOT_STRIDE;
         off += NVLOG_SLOT_STRIDE) {
        struct nvlog_slot s;
        memcpy(&s, log + off, sizeof(s));
        if (!nvlog_slot_valid(&s))
            continue;
        s.id = *id;
        nvlog_slot_seal(&s);
        memcpy(log + off, &s, sizeof(s));
    }
}

/* The transaction records of the image, in the directory ldir, with the
 * entries that name the original log renamed and restamped as transplant
 * does with the log itself. */
static void transplant_records(const struct point *pt, const char *ldir, const char *logname,
                               const struct nvlog_identity *from, const char *newname,
                               const struct nvlog_identity *to)
{
    int lfd = raw_open(ldir, O_RDONLY | O_DIRECTORY, 0);
    for (int i = 0; lfd >= 0 && i < pt->nf; i++) {
        const char *rel = pt->f[i].rel;
        if (strncmp(rel, ".nvmmio/tx-", 11) != 0)
            continue;
        size_t n;
        const uint8_t *c = content(&pt->f[i], &n);
        struct bytes b = {0};
        bytes_set(&b, c, n);
        struct nvtxrec_header *h = (void *)b.p;
        struct nvtxrec_entry *e = (void *)(b.p + sizeof(*h));
        if (nvtxrec_valid(h, e, b.len)) {
            for (uint32_t j = 0; j < h->count; j++)
                if (!strcmp(e[j].name, logname) && nvlog_identity_equal(&e[j].file, from)) {
                    e[j].file = *to;
                    snprintf(e[j].name, sizeof(e[j].name), "%s", newname);
                }
            nvtxrec_seal(h, e);
        }
        raw_write_file(lfd, rel + strlen(".nvmmio/"), b.p, b.len, true);
        bytes_free(&b);
    }
    if (lfd >= 0)
        raw_close(lfd);
}

static const struct ifile *find_rel(const struct point *pt, const char *rel)
{
    for (int k = 0; k < pt->nf; k++)
        if (!strcmp(pt->f[k].rel, rel))
            return &pt->f[k];
    return NULL;
}

/* The share block the crashed processes left (the kernel's bytes at the
 * crash point: maybe in the middle of a change, its lock held by a process
 * that is gone), renamed for the copy: the first process to open a file
 * after a crash makes its block anew, whatever the file holds. Returns the
 * copy's path in out, "" when the image has none. */
static void transplant_block(const struct point *pt, const char *ldir, const char *logname,
                             uint64_t dev, uint64_t ino, char *out, size_t n)
{
    char rel[320];
    out[0] = '\0';
    snprintf(rel, sizeof(rel), ".nvmmio/%.*s.share", (int)(strlen(logname) - strlen(".log")),
             logname);
    const struct ifile *b = find_rel(pt, rel);
    if (!b)
        return;
    size_t len;
    const uint8_t *c = content(b, &len);
    char name[64];
    snprintf(name, sizeof(name), "%llx-%llx.share", (unsigned long long)dev,
             (unsigned long long)ino);
    int lfd = raw_open(ldir, O_RDONLY | O_DIRECTORY, 0);
    if (lfd >= 0 && raw_write_file(lfd, name, c, len, true) == 0)
        snprintf(out, n, "%s/%s", ldir, name);
    if (lfd >= 0)
        raw_close(lfd);
}

static void full_check(struct point *pt, uint64_t img, const char *desc, int k,
                       const struct ifile *data, const struct ifile *log, const struct bytes *r1)
{
    struct driver *d = pt->d;
    char dir[PATH_MAX], p[PATH_MAX], lp[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/full", d->scratch);
    snprintf(p, sizeof(p), "%s/.nvmmio", dir);
    raw_mkdir(dir);
    raw_mkdir(p);
    int dfd = raw_open(dir, O_RDONLY | O_DIRECTORY, 0);
    size_t n;
    if (dfd < 0 || write_data_copy(dfd, "f", data) < 0)
        driver_stop(d, EXIT_ERROR);
    raw_close(dfd);
    snprintf(p, sizeof(p), "%s/f", dir);
    struct nvlog_identity id;
    uint64_t dev, ino;
    raw_statx_identity(p, &id, &dev, &ino);
    snprintf(lp, sizeof(lp), "%s/.nvmmio/%llx-%llx.log", dir, (unsigned long long)dev,
             (unsigned long long)ino);
    if (log) {
        struct bytes b = {0};
        const uint8_t *lc = content(log, &n);
        bytes_set(&b, lc, n);
        transplant(b.p, b.len, &id);
        char ldir[PATH_MAX];
        snprintf(ldir, sizeof(ldir), "%s/.nvmmio", dir);
        int lfd = raw_open(ldir, O_RDONLY | O_DIRECTORY, 0);
        const char *slash = strrchr(lp, '/');
        raw_write_file(lfd, slash + 1, b.p, b.len, true);
        raw_close(lfd);
        bytes_free(&b);
        transplant_records(pt, ldir, d->files[k].logname, &d->files[k].id, slash + 1, &id);
    }
    char block[PATH_MAX], ldir[PATH_MAX];
    snprintf(ldir, sizeof(ldir), "%s/.nvmmio", dir);
    transplant_block(pt, ldir, d->files[k].logname, dev, ino, block, sizeof(block));
    set_context(pt, "recovering through open()", img, "");
    d->c.full++;
    struct bytes got = {0};
    const char *what = NULL;
    alarm(RECOVERY_TIMEOUT);
    int fd = open(p, O_RDWR | O_ATOMIC);
    alarm(0);
    if (fd < 0 || !nvmmio_is_managed(fd)) {
        what = fd < 0 ? "open() through the library fails on a crash image"
                      : "the library does not manage the crash image";
    } else {
        struct stat st;
        if (fstat(fd, &st) == 0) {
            bytes_resize(&got, (size_t)st.st_size);
            size_t done = 0;
            while (done < got.len) {
                ssize_t r = pread(fd, got.p + done, got.len - done, (off_t)done);
                if (r <= 0)
                    break;
                done += (size_t)r;
            }
            got.len = done;
        }
        if (!same(&got, r1->p, r1->len))
            what = "open() through the library shows another file than recovery gives";
    }
    if (fd >= 0 && close(fd) < 0 && !what)
        what = "close() of a recovered crash image fails";
    if (!what) {
        raw_read_path(p, &got);
        if (!same(&got, r1->p, r1->len))
            what = "after open() and close() the raw file differs from the recovered state";
        else if (raw_exists(lp))
            what = "after open() and close() of a crash image its log is still there";
    }
    sys_unlinkat(AT_FDCWD, lp, 0);
    if (block[0])
        sys_unlinkat(AT_FDCWD, block, 0);
    for (int i = 0; i < pt->nf; i++)
        if (!strncmp(pt->f[i].rel, ".nvmmio/tx-", 11)) {
            snprintf(lp, sizeof(lp), "%s/%s", dir, pt->f[i].rel);
            sys_unlinkat(AT_FDCWD, lp, 0);
        }
    if (what) {
        struct verdict v = {what, &got, r1, NULL, ""};
        violation(pt, img, desc, k, &v);
    }
    bytes_free(&got);
}

/* ---- a damaged log ---------------------------------------------------------- */

/* The log offset of a data byte of a record that recovery would apply (the
 * middle one), or 0 when it would apply none. */
static size_t applied_data_byte(const uint8_t *log, size_t n)
{
    if (n < NVLOG_HEADER_SIZE)
        return 0;
    const struct nvlog_slot *s = nvlog_slot_current(log);
    if (!s)
        return 0;
    size_t off = NVLOG_HEADER_SIZE;
    for (uint64_t i = 0; off + sizeof(struct nvlog_record) <= n; i++) {
        struct nvlog_record r;
        memcpy(&r, log + off, sizeof(r));
        if (!nvlog_record_valid(&r, s->gen, i) || r.data_len > n - off - sizeof(r))
            return 0;
        bool applied = r.kind == NVLOG_UNDO
                           ? r.epoch > s->committed_epoch
                           : r.epoch > s->applied_epoch && r.epoch <= s->committed_epoch;
        if (applied && r.data_len > 0)
            return off + sizeof(r) + (size_t)r.data_len / 2;
        off += nvlog_record_span((size_t)r.data_len);
    }
    return 0;
}

/* The image once more with one byte of an applied record's data flipped:
 * recovery must refuse the log and leave the file as the image has it. */
static void damaged_check(struct point *pt, uint64_t img, const char *desc, int k, const char *dir,
                          const struct ifile *data, const struct ifile *log)
{
    struct driver *d = pt->d;
    const struct fstate *f = &d->files[k];
    size_t n, dn;
    const uint8_t *c = content(log, &n);
    size_t at = applied_data_byte(c, n);
    if (!at)
        return;
    struct bytes b = {0}, got = {0};
    bytes_set(&b, c, n);
    b.p[at] ^= 0x5a;
    const uint8_t *dc = content(data, &dn);
    int dfd = raw_open(dir, O_RDONLY | O_DIRECTORY, 0);
    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/.nvmmio", dir);
    int lfd = raw_open(p, O_RDONLY | O_DIRECTORY, 0);
    if (dfd < 0 || lfd < 0 || write_data_copy(dfd, f->name, data) < 0 ||
        raw_write_file(lfd, f->logname, b.p, b.len, true) < 0)
        driver_stop(d, EXIT_ERROR);
    raw_close(dfd);
    set_context(pt, "recovering a damaged log", img, "");
    bool had;
    int rc = recover_at(dir, f->name, f->logname, &f->id, &got, &had);
    d->c.recoveries++;
    sys_unlinkat(lfd, f->logname, 0);
    raw_close(lfd);
    const char *what = rc != -EBADMSG        ? "a log whose record data is damaged is not refused"
                       : !same(&got, dc, dn) ? "a refused log changed the file"
                                             : NULL;
    if (what) {
        struct bytes want = {0};
        bytes_set(&want, dc, dn);
        struct verdict v = {what, &got, &want, NULL, ""};
        violation(pt, img, desc, k, &v);
        bytes_free(&want);
    }
    bytes_free(&b);
    bytes_free(&got);
}

/* ---- a file changed behind the log's back -------------------------------- */

/* Drops a log's watch, as recovery suspends it before it changes the file:
 * applied again, the log must give the same file. */
static void unwatch(struct bytes *log)
{
    if (log->len >= NVLOG_HEADER_SIZE)
        memset(log->p + NVLOG_WATCH_OFFSET, 0, 2 * sizeof(struct nvlog_watch));
}

/* True when the log's watch vouches for its file's size. */
static bool watched(const struct ifile *log)
{
    size_t n;
    const uint8_t *c = content(log, &n);
    const struct nvlog_watch *w = n >= NVLOG_HEADER_SIZE ? nvlog_watch_current(c) : NULL;
    return w && (w->flags & NVLOG_WATCH_SIZE);
}

/* The image once more, after a program without the library appended 4 KiB
 * to the data file: recovery must keep the log aside (renamed, never
 * applied) and leave the file exactly as that program left it. */
static void behind_check(struct point *pt, uint64_t img, const char *desc, int k,
                         const struct ifile *data, const struct ifile *log)
{
    struct driver *d = pt->d;
    const struct fstate *f = &d->files[k];
    size_t dn, ln;
    const uint8_t *dc = content(data, &dn);
    const uint8_t *lc = content(log, &ln);
    struct bytes want = {0}, got = {0};
    bytes_set(&want, dc, dn);
    bytes_resize(&want, dn + 4096);
    memset(want.p + dn, 'Z', 4096);
    char dir[PATH_MAX], p[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/behind", d->scratch);
    snprintf(p, sizeof(p), "%s/.nvmmio", dir);
    raw_rmtree(dir);
    if (raw_mkdir(dir) < 0 || raw_mkdir(p) < 0)
        driver_stop(d, EXIT_ERROR);
    int dfd = raw_open(dir, O_RDONLY | O_DIRECTORY, 0);
    int lfd = raw_open(p, O_RDONLY | O_DIRECTORY, 0);
    if (dfd < 0 || lfd < 0 || raw_write_file(dfd, f->name, want.p, want.len, true) < 0 ||
        raw_write_file(lfd, f->logname, lc, ln, true) < 0)
        driver_stop(d, EXIT_ERROR);
    raw_close(dfd);
    raw_close(lfd);
    set_context(pt, "recovering a file changed behind its log's back", img, "");
    bool had;
    int rc = recover_at(dir, f->name, f->logname, &f->id, &got, &had);
    d->c.recoveries++;
    snprintf(p, sizeof(p), "%s/.nvmmio/%s", dir, f->logname);
    const char *what = rc < 0 ? "recovery fails on a file changed behind its log's back"
                       : !same(&got, want.p, want.len)
                           ? "a log is applied to a file another program changed since"
                       : raw_exists(p) ? "a log whose file changed behind its back stays in place"
                                       : NULL;
    if (what) {
        struct verdict v = {what, &got, &want, NULL, ""};
        violation(pt, img, desc, k, &v);
    }
    bytes_free(&want);
    bytes_free(&got);
}

/* ---- one image ------------------------------------------------------------ */

static void check_image(struct point *pt, uint64_t img, const char *desc)
{
    struct driver *d = pt->d;
    const struct config *cfg = d->cfg;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/img", d->scratch);
    if (write_image(pt, dir) < 0) {
        fprintf(stderr, "crash model: cannot write an image under %s\n", dir);
        driver_stop(d, EXIT_ERROR);
    }
    if (cfg->keep_dir) {
        char keep[PATH_MAX];
        snprintf(keep, sizeof(keep), "%s/image", cfg->keep_dir);
        write_image(pt, keep);
        printf("  crash point %llu image %llu (%s) left in %s\n", (unsigned long long)pt->cp,
               (unsigned long long)img, desc, keep);
    }
    struct bytes r1 = {0}, r2 = {0};
    bool nested = false;
    int tx_outcome = -1; /* the state the files of a commit in flight came back in */
    /* Files of a transaction are recovered one after the other, each on
     * its own: in one order for even images, in the other for odd ones. */
    for (int j = 0; j < pt->nf; j++) {
        int i = img & 1 ? pt->nf - 1 - j : j;
        const struct ifile *data = &pt->f[i];
        int k = data->wfile;
        if (k < 0)
            continue;
        const struct fstate *f = &d->files[k];
        char rel[320];
        snprintf(rel, sizeof(rel), ".nvmmio/%s", f->logname);
        const struct ifile *log = find_rel(pt, rel);
        bool had;
        set_context(pt, "recovering", img, "");
        int rc = recover_at(dir, f->name, f->logname, &f->id, &r1, &had);
        d->c.recoveries++;
        if (rc < 0) {
            char what[200];
            snprintf(what, sizeof(what), "recovery of a crash image fails (%s)", strerror(-rc));
            struct verdict v = {what, &r1, NULL, NULL, ""};
            violation(pt, img, desc, k, &v);
            continue;
        }
        int a = allowed(d, k, &r1);
        if (a < 0) {
            struct verdict v = {"the recovered file is not a state the contract allows", &r1, NULL,
                                NULL, ""};
            violation(pt, img, desc, k, &v);
            continue;
        }
        if (d_tx_commit_covers(d, k) && !same(&f->dur, f->cur.p, f->cur.len)) {
            if (tx_outcome >= 0 && a != tx_outcome) {
                struct verdict v = {"the files of one transaction came back from different "
                                    "sides of its commit",
                                    &r1, NULL, NULL, ""};
                violation(pt, img, desc, k, &v);
                continue;
            }
            tx_outcome = a;
        }
        uint64_t h = hash2(hash2(cfg->seed, pt->cp), img * 4 + (uint64_t)k);
        bool all = cfg->replay;
        if (had && log && (all || h % 100 < cfg->twice_pct)) {
            /* the log once more, over the recovered file */
            snprintf(rel, sizeof(rel), "%s/.nvmmio", dir);
            int lfd = raw_open(rel, O_RDONLY | O_DIRECTORY, 0);
            size_t n;
            const uint8_t *c = content(log, &n);
            struct bytes again = {0};
            bytes_set(&again, c, n);
            unwatch(&again);
            raw_write_file(lfd, f->logname, again.p, again.len, true);
            bytes_free(&again);
            raw_close(lfd);
            set_context(pt, "recovering twice", img, "");
            rc = recover_at(dir, f->name, f->logname, &f->id, &r2, &had);
            d->c.twice++;
            d->c.recoveries++;
            if (rc < 0 || !same(&r2, r1.p, r1.len)) {
                struct verdict v = {"recovering the same crash image twice changes the file", &r2,
                                    &r1, NULL, ""};
                violation(pt, img, desc, k, &v);
            }
        }
        if (had && log && (all || hash2(hash2(cfg->seed, pt->cp), img) % 100 < cfg->nested_pct)) {
            nested_check(pt, img, desc, k, &r1);
            nested = true;
        }
        if ((all || (h >> 32) % 100 < cfg->full_pct) && !(d->in_op && d->inflight.kind == OP_OPEN))
            full_check(pt, img, desc, k, data, log, &r1);
        if (had && log && (all || (h >> 16) % 100 < cfg->twice_pct))
            damaged_check(pt, img, desc, k, dir, data, log);
        if (had && log && watched(log) && (all || (h >> 48) % 100 < cfg->twice_pct))
            behind_check(pt, img, desc, k, data, log);
    }
    d->c.images_nested += nested;
    bytes_free(&r1);
    bytes_free(&r2);
}

void explore_point(struct driver *d, const struct nvmodel_point *p, int event)
{
    struct point pt = {.d = d, .cp = d->cp, .event = event, .np = p};
    if (nvmodel_snapshot(d->model, &pt.snap) < 0) {
        fprintf(stderr, "crash model: out of memory\n");
        driver_stop(d, EXIT_ERROR);
    }
    const char *names[MAX_FILES];
    int wf[MAX_FILES], n = 0;
    for (int k = 0; k < MAX_FILES; k++) {
        if (!d->files[k].exists)
            continue;
        names[n] = d->files[k].name;
        wf[n++] = k;
    }
    point_collect(&pt, d->root, names, wf, n);
    struct selset s = {0};
    make_selections(&pt, &s, hash2(d->cfg->seed, pt.cp), false);
    uint64_t akey = allowed_key(d);
    for (int j = 0; j < s.nsel; j++) {
        if (d->cfg->replay && (uint64_t)j != d->cfg->replay_img)
            continue;
        const uint8_t *mask = s.masks + (size_t)j * (s.nu ? s.nu : 1);
        if (!d->cfg->replay && !hashset_add(&d->seen, image_key(&pt, mask, akey))) {
            d->c.deduped++;
            continue;
        }
        if (s.torn[j])
            d->c.images8++;
        else
            d->c.images64++;
        compose(&pt, mask);
        check_image(&pt, (uint64_t)j, s.desc[j]);
    }
    sel_free(&s);
    point_free(&pt);
}
