/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * keptfds.c - the library's own descriptors (see keptfds.h). A bitmap of
 * descriptor numbers under a mutex; lookups read it without the lock while
 * it is empty or the number is below every kept one.
 */
#include "os/keptfds.h"

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

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t *bits;
static int nbits;
static int lowest = -1; /* atomic: lowest kept descriptor, -1 when none */

static int high_base(void)
{
    struct rlimit rl;
    if (sys_call6(SYS_getrlimit, RLIMIT_NOFILE, (long)&rl, 0, 0, 0, 0) < 0 ||
        rl.rlim_cur < 2 * HIGH_HEADROOM)
        return 3;
    rlim_t base = rl.rlim_cur - HIGH_HEADROOM;
    return base > HIGH_BASE_MAX ? HIGH_BASE_MAX : (int)base;
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

int kept_fd(int fd)
{
    if (fd < 0)
        return fd;
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
    nv_mutex_lock(&lock);
    remember(fd);
    nv_mutex_unlock(&lock);
    return fd;
}

void kept_close(int fd)
{
    if (fd < 0)
        return;
    nv_mutex_lock(&lock);
    if (fd < nbits)
        bits[fd / 64] &= ~((uint64_t)1 << (fd % 64));
    update_lowest();
    nv_mutex_unlock(&lock);
    sys_close(fd);
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
