/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mapfault.c - catching and healing SIGBUS in the library's copies through
 * a file's mapping (see mapfault.h).
 */
#include "os/mapfault.h"

#include <string.h>
#include <ucontext.h>

#include "os/sys.h"

/* The smallest page: the unit in which a mapping past the end faults. */
#define FAULT_PAGE ((uint64_t)4096)
#define MAX_ARMED  4

/* Initial-exec: the handler reads them, and must not allocate. */
static __thread struct nv_mapfault_catch *catching __attribute__((tls_model("initial-exec")));
static __thread struct nv_mapfault_area *armed[MAX_ARMED]
    __attribute__((tls_model("initial-exec")));
/* The look at a program's buffer in progress on this thread, or NULL. */
struct userbuf_look {
    sigjmp_buf env;
    const char *lo, *hi; /* the buffer */
    const char *fault;   /* where it faulted */
    uint64_t mask;       /* the thread's signal mask then */
};
static __thread struct userbuf_look *looking __attribute__((tls_model("initial-exec")));
/* The last address healed by another thread's fallocate, tried once more. */
static __thread const char *retried __attribute__((tls_model("initial-exec")));

void nv_mapfault_area_init(struct nv_mapfault_area *a, char *const *base, const size_t *reserved,
                           const int *fd)
{
    a->base = base;
    a->reserved = reserved;
    a->fd = fd;
    a->cut = NV_MAPFAULT_NO_CUT;
}

static void signal_fence(void)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void nv_mapfault_catch(struct nv_mapfault_catch *c, const struct nv_mapfault_area *area)
{
    c->area = area;
    c->outer = catching;
    signal_fence();
    catching = c;
    signal_fence();
}

void nv_mapfault_release(struct nv_mapfault_catch *c)
{
    signal_fence();
    catching = c->outer;
    signal_fence();
}

void nv_mapfault_caught(struct nv_mapfault_catch *c)
{
    nv_mapfault_release(c);
    /* The jump left the handler's mask (SIGBUS and the handler's own set)
     * in place: back to the one the copy ran with. */
    sys_sigprocmask(SIG_SETMASK, &c->mask, NULL);
}

/* A thread holding more files takes the place of the one it armed
 * longest ago: the fork handlers lock every file and settle each right
 * after its lock, so the latest is the one its copies reach. */
static __thread unsigned next_evicted __attribute__((tls_model("initial-exec")));

void nv_mapfault_arm(struct nv_mapfault_area *a)
{
    int slot = -1;
    for (int i = 0; i < MAX_ARMED && slot < 0; i++)
        if (!armed[i])
            slot = i;
    if (slot < 0)
        slot = (int)(next_evicted++ % MAX_ARMED);
    __atomic_store_n(&armed[slot], a, __ATOMIC_RELAXED);
    signal_fence();
}

void nv_mapfault_disarm(struct nv_mapfault_area *a)
{
    signal_fence();
    for (int i = 0; i < MAX_ARMED; i++)
        if (armed[i] == a) {
            __atomic_store_n(&armed[i], NULL, __ATOMIC_RELAXED);
            return;
        }
}

static void store_min(uint64_t *p, uint64_t v)
{
    uint64_t now = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (now > v &&
           !__atomic_compare_exchange_n(p, &now, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

uint64_t nv_mapfault_take_cut(struct nv_mapfault_area *a)
{
    return __atomic_exchange_n(&a->cut, NV_MAPFAULT_NO_CUT, __ATOMIC_RELAXED);
}

static bool inside(const struct nv_mapfault_area *a, const char *addr)
{
    const char *base = __atomic_load_n(a->base, __ATOMIC_RELAXED);
    return base && addr >= base &&
           (size_t)(addr - base) < __atomic_load_n(a->reserved, __ATOMIC_RELAXED);
}

/* Gives the page at addr back to the file when it lies past the end. */
static bool heal(struct nv_mapfault_area *a, const char *addr)
{
    int fd = __atomic_load_n(a->fd, __ATOMIC_RELAXED);
    uint64_t page = (uint64_t)(addr - *a->base) & ~(FAULT_PAGE - 1);
    long end = fd < 0 ? -1 : sys_lseek(fd, 0, SEEK_END);
    if (end < 0)
        return false;
    if ((uint64_t)end > page) {
        /* Another thread of the process may have healed it meanwhile: once
         * more, then the fault is not a cut. */
        bool again = retried != addr;
        retried = again ? addr : NULL;
        return again;
    }
    if (sys_fallocate(fd, 0, (off_t)page, (off_t)FAULT_PAGE) < 0)
        return false;
    retried = NULL;
    store_min(&a->cut, (uint64_t)end);
    return true;
}

#define PAGE_OF(p) ((const char *)((uintptr_t)(p) & ~(uintptr_t)(FAULT_PAGE - 1)))

/* Back to a catch's sigsetjmp, with the mask the faulting code ran with
 * kept for its caller to put back (the jump leaves the handler's). */
static __attribute__((noreturn)) void jump_back(sigjmp_buf env, uint64_t *mask, void *context)
{
    memcpy(mask, &((ucontext_t *)context)->uc_sigmask, sizeof(*mask));
    siglongjmp(env, 1);
}

/* One byte of each page of [lo, hi), by an atomic add of 0. Out of line:
 * nothing of its own lives in registers across the jump back. */
__attribute__((noinline)) static void touch_pages(const char *lo, const char *hi)
{
    for (const char *p = lo; p < hi; p = PAGE_OF(p) + FAULT_PAGE)
        __atomic_fetch_add((char *)p, 0, __ATOMIC_RELAXED);
}

size_t nv_userbuf_writable(void *buf, size_t n)
{
    if (n == 0)
        return 0;
    struct userbuf_look l = {.lo = buf, .hi = (const char *)buf + n};
    if (sigsetjmp(l.env, 0)) {
        signal_fence();
        looking = NULL;
        signal_fence();
        sys_sigprocmask(SIG_SETMASK, &l.mask, NULL);
        return (size_t)(l.fault - l.lo);
    }
    looking = &l;
    signal_fence();
    touch_pages(l.lo, l.hi);
    signal_fence();
    looking = NULL;
    signal_fence();
    return (size_t)(l.hi - l.lo);
}

bool nv_mapfault_handle(int sig, const siginfo_t *info, void *context)
{
    if (info->si_code <= 0) /* sent by a program, not raised by an access */
        return false;
    const char *addr = info->si_addr;
    struct userbuf_look *l = looking;
    if (l && addr >= l->lo && addr < l->hi) {
        l->fault = PAGE_OF(addr) > l->lo ? PAGE_OF(addr) : l->lo;
        jump_back(l->env, &l->mask, context);
    }
    if (sig != SIGBUS) /* the mapping's faults below are all SIGBUS */
        return false;
    struct nv_mapfault_catch *c = catching;
    if (c && inside(c->area, addr))
        jump_back(c->env, &c->mask, context);
    for (int i = 0; i < MAX_ARMED; i++) {
        struct nv_mapfault_area *a = __atomic_load_n(&armed[i], __ATOMIC_RELAXED);
        if (a && inside(a, addr))
            return heal(a, addr);
    }
    return false;
}
