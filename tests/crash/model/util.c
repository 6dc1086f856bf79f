/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * util.c - the checker's own file IO, through raw system calls (os/sys.h)
 * so that it never passes through the library under test; byte buffers,
 * hashing and a readable byte difference.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checker.h"
#include "log/log.h"
#include "os/sys.h"

int raw_open(const char *path, int flags, int mode)
{
    return sys_openat(AT_FDCWD, path, flags | O_CLOEXEC, (mode_t)mode);
}

int raw_close(int fd)
{
    return sys_close(fd);
}

static long raw_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return sys_call6(SYS_pwrite64, fd, (long)buf, (long)n, off, 0, 0);
}

static bool page_zero(const uint8_t *p, size_t n)
{
    static const uint8_t zeros[4096];
    return !memcmp(p, zeros, n < sizeof(zeros) ? n : sizeof(zeros));
}

/* Writes buf as the whole of dirfd/name (replacing any file there). With
 * sparse, pages of zeros are left as holes. */
int raw_write_file(int dirfd, const char *name, const uint8_t *buf, size_t n, bool sparse)
{
    sys_unlinkat(dirfd, name, 0);
    int fd = sys_openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return fd;
    int rc = sys_ftruncate(fd, (off_t)n);
    const size_t page = 4096;
    for (size_t off = 0; rc == 0 && off < n;) {
        size_t end = off;
        if (sparse) {
            while (off < n && page_zero(buf + off, n - off < page ? n - off : page))
                off += page;
            end = off;
            while (end < n && !page_zero(buf + end, n - end < page ? n - end : page))
                end += page;
        } else {
            end = n;
        }
        if (end > n)
            end = n;
        while (off < end) {
            long w = raw_pwrite(fd, buf + off, end - off, (off_t)off);
            if (w <= 0) {
                rc = w < 0 ? (int)w : -EIO;
                break;
            }
            off += (size_t)w;
        }
    }
    sys_close(fd);
    return rc;
}

int raw_read_file(int fd, struct bytes *b)
{
    struct stat st;
    int rc = sys_fstat(fd, &st);
    if (rc < 0)
        return rc;
    bytes_resize(b, (size_t)st.st_size);
    size_t done = 0;
    while (done < b->len) {
        long got = sys_pread(fd, b->p + done, b->len - done, (off_t)done);
        if (got < 0)
            return (int)got;
        if (got == 0)
            break;
        done += (size_t)got;
    }
    b->len = done;
    return 0;
}

int raw_read_path(const char *path, struct bytes *b)
{
    int fd = raw_open(path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    int rc = raw_read_file(fd, b);
    sys_close(fd);
    return rc;
}

int raw_mkdir(const char *path)
{
    int rc = sys_mkdirat(AT_FDCWD, path, 0700);
    return rc == -EEXIST ? 0 : rc;
}

bool raw_exists(const char *path)
{
    struct statx stx;
    return sys_statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, 0, &stx) == 0;
}

void raw_rmtree(const char *path)
{
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *e;
        while ((e = readdir(dir))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[PATH_MAX];
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            if (e->d_type == DT_DIR)
                raw_rmtree(sub);
            else
                sys_unlinkat(AT_FDCWD, sub, 0);
        }
        closedir(dir);
    }
    sys_unlinkat(AT_FDCWD, path, AT_REMOVEDIR);
}

/* The identity the library gives a file (nvfile.c read_identity). */
int raw_statx_identity(const char *path, struct nvlog_identity *id, uint64_t *dev, uint64_t *ino)
{
    int fd = sys_openat(AT_FDCWD, path, O_PATH | O_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    uint64_t size;
    int rc = nvlog_identity_read(fd, id, &size);
    sys_close(fd);
    *dev = id->dev;
    *ino = id->ino;
    return rc;
}

void bytes_resize(struct bytes *b, size_t n)
{
    if (n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            fprintf(stderr, "crash model: out of memory\n");
            abort();
        }
        b->p = p;
        b->cap = cap;
    }
    if (n > b->len)
        memset(b->p + b->len, 0, n - b->len);
    b->len = n;
}

void bytes_set(struct bytes *b, const uint8_t *p, size_t n)
{
    b->len = 0;
    bytes_resize(b, n);
    if (n)
        memcpy(b->p, p, n);
}

void bytes_free(struct bytes *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

uint64_t hash_bytes(const void *p, size_t n, uint64_t h)
{
    const uint8_t *s = p;
    size_t i = 0;
    uint64_t acc = h ^ (n * 0x9E3779B97F4A7C15ull);
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        acc = (acc ^ w) * 0x100000001B3ull;
        acc ^= acc >> 29;
    }
    for (; i < n; i++)
        acc = (acc ^ s[i]) * 0x100000001B3ull;
    return mix64(acc);
}

bool hashset_add(struct hashset *s, uint64_t k)
{
    if (k == 0)
        k = 1;
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 4096;
        uint64_t *n = calloc(cap, sizeof(*n));
        if (!n)
            return true;
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->k[i])
                continue;
            size_t j = s->k[i] & (cap - 1);
            while (n[j])
                j = (j + 1) & (cap - 1);
            n[j] = s->k[i];
        }
        free(s->k);
        s->k = n;
        s->cap = cap;
    }
    size_t j = k & (s->cap - 1);
    while (s->k[j]) {
        if (s->k[j] == k)
            return false;
        j = (j + 1) & (s->cap - 1);
    }
    s->k[j] = k;
    s->n++;
    return true;
}

void hashset_free(struct hashset *s)
{
    free(s->k);
    memset(s, 0, sizeof(*s));
}

static size_t put(char *out, size_t n, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static size_t put(char *out, size_t n, size_t at, const char *fmt, ...)
{
    if (at >= n)
        return at;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(out + at, n - at, fmt, ap);
    va_end(ap);
    return w < 0 ? at : at + (size_t)w;
}

/* The difference between two files: sizes, the differing ranges (up to 6),
 * and both sides of the first one in hex. */
void hexdump_diff(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len,
                  char *out, size_t n)
{
    size_t at = 0;
    if (n)
        out[0] = '\0';
    if (got_len != want_len)
        at = put(out, n, at, "      size: recovered %zu bytes, expected %zu\n", got_len, want_len);
    size_t common = got_len < want_len ? got_len : want_len, ranges = 0, total = 0;
    size_t first = SIZE_MAX;
    for (size_t i = 0; i < common;) {
        if (got[i] == want[i]) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < common && (got[j] != want[j] || (j + 1 < common && got[j + 1] != want[j + 1])))
            j++;
        if (first == SIZE_MAX)
            first = i;
        total += j - i;
        if (ranges++ < 6)
            at = put(out, n, at, "      bytes [%zu, %zu) differ (%zu bytes)\n", i, j, j - i);
        i = j;
    }
    if (ranges > 6)
        at = put(out, n, at, "      ... %zu differing ranges, %zu bytes in all\n", ranges, total);
    if (first != SIZE_MAX) {
        size_t lo = first & ~(size_t)15, hi = lo + 48;
        if (hi > common)
            hi = common;
        for (int side = 0; side < 2; side++) {
            at = put(out, n, at, "      %s @%zu:", side ? "expected " : "recovered", lo);
            for (size_t i = lo; i < hi; i++)
                at = put(out, n, at, "%s%02x", i % 8 ? "" : " ", side ? want[i] : got[i]);
            at = put(out, n, at, "\n");
        }
    }
}
