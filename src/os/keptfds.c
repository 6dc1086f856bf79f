/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * keptfds.c - the library's own descriptors (see keptfds.h). A bitmap of
 * descriptor numbers under a mutex; lookups read it without the lock while
 * it is empty or the number is below every kept one.
 */
#include "os/keptfds.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "os/critical.h"
#include "os/sys.h"

/* Kept descriptors go at or above this number when the limit allows. */
#define HIGH_BASE_MAX 4096
#define HIGH_HEADROOM 256

#define SPARES 3

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int spares[SPARES] = {-1, -1, -1};
static uint64_t *bits;
static int nbits;
static int lowest = -1; /* atomic: lowest kept descriptor, -1 when none */

static rlim_t fd_limit(void)
{
    struct rlimit rl;
    if (sys_call6(SYS_getrlimit, RLIMIT_NOFILE, (long)&rl, 0, 0, 0, 0) < 0)
        return 0;
    return rl.rlim_cur;
}

static int high_base(void)
{
    rlim_t limit = fd_limit();
    if (limit < 2 * HIGH_HEADROOM)
        return 3;
    rlim_t base = limit - HIGH_HEADROOM;
    return base > HIGH_BASE_MAX ? HIGH_BASE_MAX : (int)base;
}

int kept_limit(void)
{
    rlim_t limit = fd_limit();
    return limit > INT_MAX ? INT_MAX : (int)limit;
}

int kept_budget(int share, int least, int most)
{
    rlim_t n = fd_limit() / (rlim_t)share;
    return n < (rlim_t)least ? least : n > (rlim_t)most ? most : (int)n;
}

static void update_lowest(void)
{
    int low = -1;
    for (int w = 0; w < nbits / 64; w++) {
        if (bits[w]) {
            low = w * 64 + __builtin_ctzll(bits[w]);
            break;
        }
    }
    __atomic_store_n(&lowest, low, __ATOMIC_RELEASE);
}

static void remember(int fd)
{
    if (fd >= nbits) {
        int n = nbits ? nbits : 1024;
        while (n <= fd)
            n *= 2;
        uint64_t *b = realloc(bits, (size_t)n / 8);
        if (!b)
            return;
        memset(b + nbits / 64, 0, (size_t)(n - nbits) / 8);
        bits = b;
        nbits = n;
    }
    bits[fd / 64] |= (uint64_t)1 << (fd % 64);
    int low = __atomic_load_n(&lowest, __ATOMIC_ACQUIRE);
    if (low < 0 || fd < low)
        __atomic_store_n(&lowest, fd, __ATOMIC_RELEASE);
}

/* The base is worked out once; a limit lowered since makes the move fail,
 * and it is worked out again. */
static int base = -1; /* atomic */

/* A descriptor moved high. */
static int moved(int fd)
{
    int b = __atomic_load_n(&base, __ATOMIC_RELAXED);
    if (b < 0)
        __atomic_store_n(&base, b = high_base(), __ATOMIC_RELAXED);
    int high = sys_fcntl(fd, F_DUPFD_CLOEXEC, b);
    if (high == -EINVAL) {
        __atomic_store_n(&base, b = high_base(), __ATOMIC_RELAXED);
        high = sys_fcntl(fd, F_DUPFD_CLOEXEC, b);
    }
    if (high >= 0) {
        sys_close(fd);
        fd = high;
    }
    return fd;
}

/* lock held. Takes back the spares handed out, where numbers are free. */
static void refill(void)
{
    for (int i = 0; i < SPARES; i++) {
        if (spares[i] >= 0)
            continue;
        int fd = sys_openat(AT_FDCWD, "/", O_PATH | O_CLOEXEC, 0);
        if (fd < 0)
            return;
        spares[i] = moved(fd);
        remember(spares[i]);
    }
}

int kept_fd(int fd)
{
    if (fd < 0)
        return fd;
    fd = moved(fd);
    nv_mutex_lock(&lock);
    remember(fd);
    refill();
    nv_mutex_unlock(&lock);
    return fd;
}

bool kept_spares_held(void)
{
    nv_mutex_lock(&lock);
    refill();
    bool held = true;
    for (int i = 0; i < SPARES; i++)
        held = held && spares[i] >= 0;
    nv_mutex_unlock(&lock);
    return held;
}

bool kept_retry(long rc)
{
    if (rc != -EMFILE)
        return false;
    bool handed = false;
    nv_mutex_lock(&lock);
    for (int i = 0; i < SPARES && !handed; i++) {
        if (spares[i] >= 0) {
            if (spares[i] < nbits)
                bits[spares[i] / 64] &= ~((uint64_t)1 << (spares[i] % 64));
            update_lowest();
            sys_close(spares[i]);
            spares[i] = -1;
            handed = true;
        }
    }
    nv_mutex_unlock(&lock);
    return handed;
}

void kept_before_fork(void)
{
    nv_mutex_lock(&lock);
}

void kept_after_fork(void)
{
    nv_mutex_unlock(&lock);
}

void kept_close(int fd)
{
    if (fd < 0)
        return;
    nv_mutex_lock(&lock);
    if (fd < nbits)
        bits[fd / 64] &= ~((uint64_t)1 << (fd % 64));
    update_lowest();
    sys_close(fd);
    refill();
    nv_mutex_unlock(&lock);
}

bool kept_is(int fd)
{
    int low = __atomic_load_n(&lowest, __ATOMIC_ACQUIRE);
    if (low < 0 || fd < low)
        return false;
    nv_mutex_lock(&lock);
    bool kept = fd < nbits && (bits[fd / 64] >> (fd % 64) & 1);
    nv_mutex_unlock(&lock);
    return kept;
}

int kept_first_in(unsigned first, unsigned last)
{
    int low = __atomic_load_n(&lowest, __ATOMIC_ACQUIRE);
    if (low < 0 || (unsigned)low > last)
        return -1;
    int found = -1;
    nv_mutex_lock(&lock);
    for (unsigned fd = first > (unsigned)low ? first : (unsigned)low;
         fd <= last && fd < (unsigned)nbits; fd++) {
        if (bits[fd / 64] >> (fd % 64) & 1) {
            found = (int)fd;
            break;
        }
    }
    nv_mutex_unlock(&lock);
    return found;
}
