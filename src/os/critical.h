/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * critical.h - the calling thread's critical sections: stretches of library
 * code during which a program's signal handler must not run on this thread.
 * A handler may call the library again (write is async-signal-safe, and
 * programs log from handlers); if it interrupted the thread while it held a
 * lock or had a call in progress on a descriptor, it would wait for itself.
 *
 * Every lock of the library and every call in progress on a managed
 * descriptor counts one level. The interposer's signal handler
 * (src/interpose/signals.c) defers an asynchronous signal that arrives
 * inside a section: it leaves the signal blocked in the interrupted context
 * and pending on the thread, and marks it here; leaving the outermost
 * section unblocks what was marked, and the kernel delivers it at once.
 * The cost on the data path is a thread-local counter, no system call.
 *
 * Thread cancellation: the library's own calls that are cancellation
 * points of the C library (nv_nap, nv_cond_wait, the msync of persist.c)
 * are made with locks held, and a cancel acted on in one would unwind the
 * thread with them held: every later call on the file would wait forever.
 * They hold cancellation off (nv_cancel_hold); a cancel that arrives
 * meanwhile acts at the thread's next cancellation point. The wrappers of
 * the calls that are cancellation points act on one at their entry
 * (nv_cancellation_point). Reads and writes through the mapping make no
 * such call and pay nothing for it.
 */
#ifndef NVMMIO_OS_CRITICAL_H
#define NVMMIO_OS_CRITICAL_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct nv_critical {
    unsigned depth;    /* sections the thread is inside */
    uint64_t deferred; /* signals held back: bit sig - 1 */
};

/* Initial-exec: one load from the thread pointer, and no allocation on a
 * thread's first touch (which a signal handler could not afford). */
extern __thread struct nv_critical nv_critical_self __attribute__((tls_model("initial-exec")));

/* A signal handler may run between any two instructions of the thread and
 * looks at these fields: the compiler must keep the accesses in order. */
static inline void nv_critical_enter(void)
{
    __atomic_store_n(&nv_critical_self.depth, nv_critical_self.depth + 1, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* Lets the deferred signals in (depth 0). */
void nv_critical_release(void);

static inline void nv_critical_leave(void)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    unsigned depth = nv_critical_self.depth - 1;
    __atomic_store_n(&nv_critical_self.depth, depth, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (depth == 0 && __atomic_load_n(&nv_critical_self.deferred, __ATOMIC_RELAXED))
        nv_critical_release();
}

static inline bool nv_critical_inside(void)
{
    return __atomic_load_n(&nv_critical_self.depth, __ATOMIC_RELAXED) > 0;
}

/* From the signal handler, inside a section: sig is blocked in the
 * interrupted context and pending again; release it at the way out. */
static inline void nv_critical_defer(int sig)
{
    nv_critical_self.deferred |= (uint64_t)1 << (sig - 1);
}

/* From the signal handler, at depth 0, before it runs the program's
 * handler: the signals deferred so far belong to the interrupted context,
 * where they are blocked, and only that context may let them in. A release
 * inside the handler would unblock them in the handler's own mask, which
 * the kernel replaces with the interrupted one when the handler returns:
 * they would stay blocked for good. So the handler starts with none, and
 * gives them back when it is done. */
static inline uint64_t nv_critical_stash(void)
{
    uint64_t outer = nv_critical_self.deferred;
    __atomic_store_n(&nv_critical_self.deferred, 0, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return outer;
}

static inline void nv_critical_unstash(uint64_t outer)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    nv_critical_self.deferred |= outer;
}

/* A forked child runs on with the depth its parent had when fork began
 * (the fork handlers hold locks the child never unlocks). */
static inline unsigned nv_critical_depth(void)
{
    return nv_critical_self.depth;
}

void nv_critical_restore(unsigned depth);

/* The entry of a wrapper whose call is a cancellation point of the C
 * library (read, write, fsync, open, close...): a cancel pending acts
 * here, before the library changed anything, as it would in the C
 * library's call. */
static inline void nv_cancellation_point(void)
{
    pthread_testcancel();
}

/* Cancellation held off over a stretch of library work that must not stop
 * half-way (taking a file over, giving it up, a wait with locks held): the
 * state to give back to nv_cancel_allow. */
static inline int nv_cancel_hold(void)
{
    int state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
    return state;
}

static inline void nv_cancel_allow(int state)
{
    pthread_setcancelstate(state, NULL);
}

/* The library's waits, which may hold its locks: no cancel acts in them. */
static inline void nv_nap(long ns)
{
    struct timespec nap = {ns / 1000000000L, ns % 1000000000L};
    int cancel = nv_cancel_hold();
    nanosleep(&nap, NULL);
    nv_cancel_allow(cancel);
}

static inline void nv_cond_wait(pthread_cond_t *cond, pthread_mutex_t *mutex)
{
    int cancel = nv_cancel_hold();
    pthread_cond_wait(cond, mutex);
    nv_cancel_allow(cancel);
}

/* One turn of a wait for a lock held for a short while: the CPU is told
 * the thread spins. */
static inline void nv_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* A spin lock for short stretches that a signal handler may also need
 * (the handler table, the page cache): the holder is inside a section, so
 * no handler of its own thread can spin on it. */
static inline void nv_spin_lock(int *lock)
{
    nv_critical_enter();
    while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE))
        sched_yield();
}

static inline void nv_spin_unlock(int *lock)
{
    __atomic_store_n(lock, 0, __ATOMIC_RELEASE);
    nv_critical_leave();
}

/* The library's mutexes: each holder is inside a section. */
static inline void nv_mutex_lock(pthread_mutex_t *m)
{
    nv_critical_enter();
    pthread_mutex_lock(m);
}

static inline void nv_mutex_unlock(pthread_mutex_t *m)
{
    pthread_mutex_unlock(m);
    nv_critical_leave();
}

#endif
