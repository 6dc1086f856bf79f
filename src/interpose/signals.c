/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * signals.c - the program's signal handlers, which may call the library
 * (write, read, fsync... are async-signal-safe) while the thread they
 * interrupt is inside it.
 *
 * The library keeps a copy of every handler the program installs through
 * sigaction, signal, bsd_signal, sysv_signal, __sysv_signal, sigset and
 * siginterrupt, and gives the kernel its own handler in its place, with
 * the program's mask and flags. When a signal arrives on a thread inside a
 * critical section of the library (os/critical.h), the handler defers it:
 * it blocks the signal in the interrupted context, queues it again on the
 * same thread with its siginfo, and returns; the thread lets it in when it
 * leaves its outermost section, and the program's handler runs then, as it
 * would have after the kernel's own call returned. Elsewhere the program's
 * handler runs at once.
 *
 * Synchronous signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS)
 * are never deferred: they belong to the instruction that raised them.
 * SIGFPE, SIGILL, SIGTRAP and SIGSYS are not wrapped at all. SIGBUS and
 * SIGSEGV (the guarded faults) have the library's handler from the first
 * open of a file the library may manage on, whatever the program
 * installs: a copy of the library's through a file's mapping that another
 * program cut shorter raises SIGBUS, and a look at a buffer the program
 * reads into and cannot write raises either; os/mapfault.h catches or
 * heals those. Every other fault goes to the program's handler, or does
 * what its SIG_DFL or SIG_IGN would have done (a fault is never ignored).
 * The handler found in place then, a sanitizer's say, counts as the
 * program's. (Not at load: a sanitizer's runtime may not be ready for
 * calls yet.)
 * sigaction reports the program's own handlers; SA_SIGINFO, SA_RESETHAND
 * (emulated here, so that a deferred signal still finds the handler),
 * SA_NODEFER, SA_RESTART and the handler's mask keep their meaning. exec
 * resets caught signals as usual, and a forked child keeps the table.
 */
#include "interpose/real.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <ucontext.h>

#include "os/critical.h"
#include "os/mapfault.h"
#include "os/sys.h"

#define NSIGNALS 65 /* signal numbers 1..64 */

typedef void (*info_handler)(int, siginfo_t *, void *);

/* A handler as the program installed it. The kernel's table holds the
 * library's handler, mask and flags; what the library must remember is
 * whom to call and how. Read from signal handlers, so without a lock:
 * seq is odd while a writer changes the entry. */
struct program_action {
    unsigned seq;
    void *handler; /* SIG_DFL, SIG_IGN or the program's function */
    int flags;     /* the program's sa_flags */
};

static struct program_action actions[NSIGNALS];
/* The guarded faults, each with the library's handler in place once
 * guarded (nv_signals_guard_faults), and the kernel's entry it replaced,
 * reported until the program sets its own. */
static const int guarded_faults[] = {SIGBUS, SIGSEGV};
#define NFAULTS (sizeof(guarded_faults) / sizeof(guarded_faults[0]))
static struct fault_guard {
    bool guarded;
    struct sigaction before;
    bool set;
} faults[NFAULTS];
static int writers;           /* spin lock of the writers (in a section) */
static uint64_t interrupting; /* siginterrupt(sig, 1): bit sig - 1 */

static bool is_function(void *h)
{
    return h != (void *)SIG_DFL && h != (void *)SIG_IGN && h != (void *)SIG_ERR;
}

/* Signals that belong to the instruction that raised them, delivered
 * wherever the thread is. */
static bool synchronous(int sig)
{
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGTRAP ||
           sig == SIGSYS;
}

/* The guard of sig when it is a guarded fault, else NULL. */
static struct fault_guard *guard_of(int sig)
{
    for (size_t i = 0; i < NFAULTS; i++)
        if (guarded_faults[i] == sig)
            return &faults[i];
    return NULL;
}

/* The C library keeps two real-time signals for itself and refuses them. */
static bool wrapped_signal(int sig)
{
    return guard_of(sig) || (sig >= 1 && sig < NSIGNALS && sig != SIGKILL && sig != SIGSTOP &&
                             !synchronous(sig) && (sig < __SIGRTMIN || sig >= SIGRTMIN));
}

/* Writers change an entry and the kernel's table together. */
static void lock_writers(void)
{
    nv_spin_lock(&writers);
}

static void unlock_writers(void)
{
    nv_spin_unlock(&writers);
}

/* A fork must not leave the child a writer that does not exist there. */
static void before_fork(void)
{
    lock_writers();
}

static void after_fork(void)
{
    unlock_writers();
}

__attribute__((constructor)) static void signals_load(void)
{
    pthread_atfork(before_fork, after_fork, after_fork);
}

/* Sequentially consistent throughout: a reader's loads of the fields stay
 * between its two loads of seq. */
static void store_action(int sig, void *handler, int flags)
{
    struct program_action *a = &actions[sig];
    __atomic_store_n(&a->seq, a->seq + 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&a->handler, handler, __ATOMIC_SEQ_CST);
    __atomic_store_n(&a->flags, flags, __ATOMIC_SEQ_CST);
    __atomic_store_n(&a->seq, a->seq + 1, __ATOMIC_SEQ_CST);
}

static struct program_action load_action(int sig)
{
    const struct program_action *a = &actions[sig];
    for (;;) {
        unsigned seq = __atomic_load_n(&a->seq, __ATOMIC_SEQ_CST);
        struct program_action copy = {seq, __atomic_load_n(&a->handler, __ATOMIC_SEQ_CST),
                                      __atomic_load_n(&a->flags, __ATOMIC_SEQ_CST)};
        if (!(seq & 1) && __atomic_load_n(&a->seq, __ATOMIC_SEQ_CST) == seq)
            return copy;
        sched_yield(); /* a writer on another thread is half-way */
    }
}

static void deliver(int sig, siginfo_t *info, void *context);
static void fault(int sig, siginfo_t *info, void *context);

/* The kernel's entry for a guarded fault with the program's mask and flags. */
static struct sigaction fault_entry(const struct sigaction *program)
{
    struct sigaction k = *program;
    k.sa_sigaction = fault;
    k.sa_flags = (program->sa_flags | SA_SIGINFO) & ~SA_RESETHAND;
    return k;
}

static bool is_ours(const struct sigaction *k)
{
    return (k->sa_flags & SA_SIGINFO) && (k->sa_sigaction == deliver || k->sa_sigaction == fault);
}

/* SA_RESETHAND: the kernel would have put back the default as it
 * delivered the signal; the library does it before calling the handler,
 * keeping mask and flags as the kernel does. */
static void reset_to_default(int sig, void *handler)
{
    lock_writers();
    struct program_action a = load_action(sig);
    struct sigaction k;
    if (a.handler == handler && REAL(sigaction)(sig, NULL, &k) == 0 && is_ours(&k)) {
        store_action(sig, (void *)SIG_DFL, a.flags);
        if (!guard_of(sig)) { /* a fault's handler stays the library's */
            k.sa_handler = SIG_DFL;
            k.sa_flags = a.flags;
            REAL(sigaction)(sig, &k, NULL);
        }
    }
    unlock_writers();
}

/* Inside a section: held back until the thread leaves it (see the top). */
static void defer(int sig, siginfo_t *info, ucontext_t *uc)
{
    uint64_t bit = (uint64_t)1 << (sig - 1);
    sigaddset(&uc->uc_sigmask, sig);
    /* Under SA_NODEFER the signal is not blocked while this runs. */
    sys_sigprocmask(SIG_BLOCK, &bit, NULL);
    nv_critical_defer(sig);
    sys_tgsigqueueinfo(sys_getpid(), sys_gettid(), sig, info);
}

/* The program's handler for a signal that may run now. */
static void run_program_handler(int sig, struct program_action a, siginfo_t *info, void *context)
{
    uint64_t outer = nv_critical_stash();
    if (a.flags & SA_RESETHAND)
        reset_to_default(sig, a.handler);
    if (a.flags & SA_SIGINFO)
        ((info_handler)a.handler)(sig, info, context);
    else
        ((void (*)(int))a.handler)(sig);
    nv_critical_unstash(outer);
}

/* The kernel's handler of every wrapped signal with a program handler. */
static void deliver(int sig, siginfo_t *info, void *context)
{
    if (nv_critical_inside()) {
        defer(sig, info, context);
        return;
    }
    struct program_action a = load_action(sig);
    if (!is_function(a.handler)) {
        /* Another thread is putting SIG_DFL or SIG_IGN in place: the signal
         * waits for it (an ignored one is simply dropped). */
        if (a.handler == (void *)SIG_DFL)
            sys_tgsigqueueinfo(sys_getpid(), sys_gettid(), sig, info);
        return;
    }
    run_program_handler(sig, a, info, context);
}

/* A fault that is not the library's (os/mapfault.h), under the program's
 * SIG_DFL or SIG_IGN: the kernel ends the process for a fault even when
 * it is ignored, and for a sent signal unless it is. */
static void fault_by_default(int sig, siginfo_t *info, void *handler)
{
    bool sent = info->si_code <= 0;
    if (sent && handler == (void *)SIG_IGN)
        return;
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    REAL(sigaction)(sig, &dfl, NULL);
    /* A fault runs its instruction again and meets the default; a sent
     * signal is sent again, and arrives when this handler returns. */
    if (sent)
        sys_tgsigqueueinfo(sys_getpid(), sys_gettid(), sig, info);
}

static void fault(int sig, siginfo_t *info, void *context)
{
    if (nv_mapfault_handle(sig, info, context))
        return;
    struct program_action a = load_action(sig);
    if (is_function(a.handler))
        run_program_handler(sig, a, info, context);
    else
        fault_by_default(sig, info, a.handler);
}

/* sigaction for a wrapped signal. */
static int wrapped_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    struct sigaction kact, kold;
    struct fault_guard *g = guard_of(sig);
    if (act) {
        kact = *act;
        if (g) {
            kact = fault_entry(act);
        } else if (is_function((void *)act->sa_handler)) {
            nv_real_resolve_all();
            kact.sa_sigaction = deliver;
            kact.sa_flags = (act->sa_flags | SA_SIGINFO) & ~SA_RESETHAND;
        }
    }
    lock_writers();
    if (g && !g->guarded) { /* the kernel's alone until then */
        int rc = REAL(sigaction)(sig, act, old);
        unlock_writers();
        return rc;
    }
    struct program_action prev = load_action(sig);
    bool before_set = g && !g->set;
    if (g && act)
        g->set = true;
    /* The entry changes first: a signal that finds the new kernel handler
     * must find the program's new one too. */
    if (act)
        store_action(sig, (void *)act->sa_handler, act->sa_flags);
    int rc = REAL(sigaction)(sig, act ? &kact : NULL, &kold);
    if (rc < 0 && act) {
        store_action(sig, prev.handler, prev.flags);
        if (before_set)
            g->set = false;
    }
    unlock_writers();
    if (rc == 0 && old && before_set && is_ours(&kold)) {
        *old = g->before;
    } else if (rc == 0 && old) {
        *old = kold;
        if (is_ours(&kold)) {
            old->sa_handler = (void (*)(int))prev.handler;
            old->sa_flags = (kold.sa_flags & ~(SA_SIGINFO | SA_RESETHAND)) |
                            (prev.flags & (SA_SIGINFO | SA_RESETHAND));
        }
    }
    return rc;
}

static int any_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    if (!wrapped_signal(sig))
        return REAL(sigaction)(sig, act, old);
    return wrapped_sigaction(sig, act, old);
}

void nv_signals_exec_begin(void)
{
    /* An ignored signal stays ignored in the new image, and a caught one
     * goes back to the default: the faults are caught by the library alone. */
    for (size_t i = 0; i < NFAULTS; i++) {
        int sig = guarded_faults[i];
        if (__atomic_load_n(&faults[i].guarded, __ATOMIC_ACQUIRE) &&
            load_action(sig).handler == (void *)SIG_IGN) {
            struct sigaction ign = {.sa_handler = SIG_IGN};
            sigemptyset(&ign.sa_mask);
            REAL(sigaction)(sig, &ign, NULL);
        }
    }
}

void nv_signals_exec_returned(void)
{
    lock_writers();
    for (size_t i = 0; i < NFAULTS; i++) {
        struct sigaction k;
        int sig = guarded_faults[i];
        if (faults[i].guarded && REAL(sigaction)(sig, NULL, &k) == 0 && !is_ours(&k)) {
            k = fault_entry(&k);
            REAL(sigaction)(sig, &k, NULL);
        }
    }
    unlock_writers();
}

static bool all_guarded(void)
{
    for (size_t i = 0; i < NFAULTS; i++)
        if (!__atomic_load_n(&faults[i].guarded, __ATOMIC_ACQUIRE))
            return false;
    return true;
}

void nv_signals_guard_faults(void)
{
    if (all_guarded())
        return;
    lock_writers();
    for (size_t i = 0; i < NFAULTS; i++) {
        struct fault_guard *g = &faults[i];
        int sig = guarded_faults[i];
        struct sigaction k;
        if (!g->guarded && REAL(sigaction)(sig, NULL, &k) == 0) {
            g->before = k;
            store_action(sig, (void *)k.sa_handler, k.sa_flags);
            k = fault_entry(&g->before);
            if (REAL(sigaction)(sig, &k, NULL) == 0)
                __atomic_store_n(&g->guarded, true, __ATOMIC_RELEASE);
        }
    }
    unlock_writers();
}

NV_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
    return any_sigaction(sig, act, old);
}

/* The one-call forms, with the C library's meanings. */
static sighandler_t install(int sig, sighandler_t handler, int flags, bool block_self)
{
    struct sigaction act = {.sa_handler = handler, .sa_flags = flags}, old;
    sigemptyset(&act.sa_mask);
    if (handler == SIG_ERR || sig < 1 || sig >= NSIGNALS ||
        (block_self && sigaddset(&act.sa_mask, sig) < 0)) {
        errno = EINVAL;
        return SIG_ERR;
    }
    return any_sigaction(sig, &act, &old) < 0 ? SIG_ERR : old.sa_handler;
}

/* BSD semantics: restarting calls unless siginterrupt said otherwise, the
 * signal blocked in its handler. */
static sighandler_t bsd_install(int sig, sighandler_t handler)
{
    bool interrupts = sig >= 1 && sig < NSIGNALS &&
                      (__atomic_load_n(&interrupting, __ATOMIC_RELAXED) >> (sig - 1) & 1);
    return install(sig, handler, interrupts ? 0 : SA_RESTART, true);
}

NV_EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    return bsd_install(sig, handler);
}

sighandler_t bsd_signal(int sig, sighandler_t handler);

NV_EXPORT sighandler_t bsd_signal(int sig, sighandler_t handler)
{
    return bsd_install(sig, handler);
}

/* System V semantics: one shot, not blocked in its handler. */
NV_EXPORT sighandler_t sysv_signal(int sig, sighandler_t handler)
{
    return install(sig, handler, SA_RESETHAND | SA_NODEFER, false);
}

NV_EXPORT sighandler_t __sysv_signal(int sig, sighandler_t handler)
{
    return install(sig, handler, SA_RESETHAND | SA_NODEFER, false);
}

NV_EXPORT int siginterrupt(int sig, int flag)
{
    struct sigaction act;
    if (sig < 1 || sig >= NSIGNALS) {
        errno = EINVAL;
        return -1;
    }
    if (any_sigaction(sig, NULL, &act) < 0)
        return -1;
    uint64_t bit = (uint64_t)1 << (sig - 1);
    if (flag) {
        __atomic_or_fetch(&interrupting, bit, __ATOMIC_RELAXED);
        act.sa_flags &= ~SA_RESTART;
    } else {
        __atomic_and_fetch(&interrupting, ~bit, __ATOMIC_RELAXED);
        act.sa_flags |= SA_RESTART;
    }
    return any_sigaction(sig, &act, NULL);
}

/* System V sigset, SIG_HOLD included: the old disposition, or SIG_HOLD
 * when the signal was blocked. */
NV_EXPORT sighandler_t sigset(int sig, sighandler_t disp)
{
    sigset_t set, oset;
    struct sigaction act = {.sa_handler = disp}, oact;
    sigemptyset(&set);
    if (sig < 1 || sig >= NSIGNALS || sigaddset(&set, sig) < 0) {
        errno = EINVAL;
        return SIG_ERR;
    }
    if (disp == SIG_HOLD) {
        if (pthread_sigmask(SIG_BLOCK, &set, &oset) != 0)
            return SIG_ERR;
        if (sigismember(&oset, sig))
            return SIG_HOLD;
        return any_sigaction(sig, NULL, &oact) < 0 ? SIG_ERR : oact.sa_handler;
    }
    sigemptyset(&act.sa_mask);
    if (any_sigaction(sig, &act, &oact) < 0 || pthread_sigmask(SIG_UNBLOCK, &set, &oset) != 0)
        return SIG_ERR;
    return sigismember(&oset, sig) ? SIG_HOLD : oact.sa_handler;
}
