/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * process.c - the process's life: fork keeps the library's locks
 * consistent, and a normal exit is a durability point for every managed
 * file (committed, copied home, trimmed to its logical size), and so is
 * an _exit, whose descriptors the kernel closes; exec and
 * spawn hand every managed file over to the new image the same way. At
 * load the library only registers its fork hooks and, when a pmem root is
 * set, takes over descriptors of managed files the process inherited.
 */
#include "interpose/real.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>

#include "core/ops.h"
#include "core/tx.h"
#include "os/critical.h"
#include "os/sys.h"

/* The fork handlers hold the library's locks across the fork; the child
 * drops them without unlocking, so it takes up the critical-section depth
 * of the moment before (os/critical.h). */
static __thread unsigned depth_before_fork;

static void before_fork(void)
{
    depth_before_fork = nv_critical_depth();
    nvops_before_fork();
}

static void after_fork_parent(void)
{
    nvops_after_fork(false);
}

static void after_fork_child(void)
{
    nvops_after_fork(true);
    nv_critical_restore(depth_before_fork);
}

/* Every managed file durable and as the kernel shows it, at the end of
 * the process. */
static void files_end(void)
{
    nvtx_abort_all(); /* ended without a commit */
    nvops_all_to_kernel();
    nvops_settle_all(); /* the files left: mapped by the program only */
}

/* A normal end of the process: exit (the library's destructor) or
 * quick_exit (its at_quick_exit handlers, which run no destructor). */
static void process_ends(void)
{
    files_end();
    nvstats_report();
}

__attribute__((constructor)) static void nvmmio_load(void)
{
    nvstats_configure();
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
    /* Registered first, so it runs after the program's own handlers. */
    at_quick_exit(process_ends);
    if (nvops_adopt_inherited())
        nv_signals_guard_faults();
}

__attribute__((destructor)) static void nvmmio_unload(void)
{
    process_ends();
}

/* The process ends when its last thread does; the library's helper thread
 * must not be that one (see nvops_main_thread_exits). */
NV_EXPORT void pthread_exit(void *ret)
{
    if (sys_gettid() == getpid())
        nvops_main_thread_exits();
    REAL(pthread_exit)(ret);
    __builtin_unreachable();
}

/* ---- exec and spawn: the new image reads files through the kernel ------- */

/* The C library declares the path and argument vector of exec and spawn
 * nonnull. The kernel takes a NULL vector as an empty one, and refuses a
 * NULL path with EFAULT, also where the C library's own search or spawn
 * would fault on it. */
static char *const *kernel_argv(char *const argv[])
{
    static char *const no_args[] = {NULL};
    return nv_null(argv) ? no_args : argv;
}

/* Files and signals as the new image must find them. */
static void before_exec(void)
{
    nvops_hand_over();
    nv_signals_exec_begin();
}

/* The exec failed and returned rc, or a spawn returned: the process goes
 * on. */
static int exec_returned(int rc)
{
    int saved = errno;
    nv_signals_exec_returned();
    errno = saved;
    return rc;
}

static int exec_path(const char *path, char *const argv[], char *const envp[])
{
    before_exec();
    if (nv_null(path) || nv_null(argv)) /* the C library's execve is the kernel's */
        return exec_returned(
            (int)nv_ret(sys_call6(SYS_execve, (long)path, (long)argv, (long)envp, 0, 0, 0)));
    return exec_returned(REAL(execve)(path, argv, envp));
}

static int exec_search(const char *file, char *const argv[], char *const envp[])
{
    if (nv_null(file))
        return exec_path(file, argv, envp);
    before_exec();
    return exec_returned(REAL(execvpe)(file, kernel_argv(argv), envp));
}

NV_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    return exec_path(path, argv, envp);
}

/* execv and execvp are the C library's execve and execvpe on environ. */
NV_EXPORT int execv(const char *path, char *const argv[])
{
    return exec_path(path, argv, environ);
}

NV_EXPORT int execvp(const char *file, char *const argv[])
{
    return exec_search(file, argv, environ);
}

NV_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    return exec_search(file, argv, envp);
}

NV_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    if (nv_null(argv)) { /* as the C library's */
        errno = EINVAL;
        return -1;
    }
    before_exec();
    return exec_returned(REAL(fexecve)(fd, argv, envp));
}

NV_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
                       int flags)
{
    before_exec();
    if (nv_null(path) || nv_null(argv)) /* the C library's execveat is the kernel's */
        return exec_returned((int)nv_ret(
            sys_call6(SYS_execveat, dirfd, (long)path, (long)argv, (long)envp, flags, 0)));
    return exec_returned(REAL(execveat)(dirfd, path, argv, envp, flags));
}

/* The execl forms gather their arguments and go the way of execv and
 * execvp (the C library's own execl calls its internal execve). */
#define GATHER_ARGS(first, last_arg, argv)                                                         \
    size_t n_ = 1;                                                                                 \
    va_list ap_;                                                                                   \
    va_start(ap_, last_arg);                                                                       \
    while (va_arg(ap_, char *))                                                                    \
        n_++;                                                                                      \
    va_end(ap_);                                                                                   \
    char *argv[n_ + 1];                                                                            \
    argv[0] = (char *)(first);                                                                     \
    va_start(ap_, last_arg);                                                                       \
    for (size_t i_ = 1; i_ <= n_; i_++)                                                            \
        argv[i_] = va_arg(ap_, char *);

NV_EXPORT int execl(const char *path, const char *arg, ...)
{
    GATHER_ARGS(arg, arg, argv);
    va_end(ap_);
    return exec_path(path, argv, environ);
}

NV_EXPORT int execlp(const char *file, const char *arg, ...)
{
    GATHER_ARGS(arg, arg, argv);
    va_end(ap_);
    return exec_search(file, argv, environ);
}

NV_EXPORT int execle(const char *path, const char *arg, ...)
{
    GATHER_ARGS(arg, arg, argv);
    char *const *envp = va_arg(ap_, char *const *);
    va_end(ap_);
    return exec_path(path, argv, envp);
}

/* The started program finds files and signals as an exec leaves them (an
 * ignored SIGBUS ignored: the C library's child sets a caught one back to
 * the default). A NULL path fails at the exec, which posix_spawn reports. */
NV_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                          const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    if (nv_null(path))
        return EFAULT;
    before_exec();
    int rc = REAL(posix_spawn)(pid, path, actions, attr, kernel_argv(argv), envp);
    return exec_returned(rc);
}

NV_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                           const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    if (nv_null(file))
        return EFAULT;
    before_exec();
    int rc = REAL(posix_spawnp)(pid, file, actions, attr, kernel_argv(argv), envp);
    return exec_returned(rc);
}

/* system and popen start a shell through the C library's own spawn, past
 * the wrappers above: the shell and what it runs find files and signals
 * as posix_spawn leaves them (a script the program wrote, closed and made
 * executable runs rather than fail with ETXTBSY on what the library kept
 * of it open for writing). */
NV_EXPORT int system(const char *command)
{
    before_exec();
    int rc = REAL(system)(command);
    return exec_returned(rc);
}

NV_EXPORT FILE *popen(const char *command, const char *type)
{
    before_exec();
    FILE *fp = REAL(popen)(command, type);
    exec_returned(0);
    return fp;
}

/* _exit and _Exit end the process without exit's handlers, and the
 * kernel closes its descriptors then: to the program, each is closed, a
 * durability point (a forked child that writes a file and calls _exit).
 * Not from inside the library (a handler of a fault raised in it), whose
 * locks this thread may hold; no statistics, as no exit handler runs. */
static void exits_now(void)
{
    if (!nv_critical_inside())
        files_end();
}

NV_EXPORT void _exit(int status)
{
    exits_now();
    REAL(_exit)(status);
}

NV_EXPORT void _Exit(int status)
{
    exits_now();
    REAL(_Exit)(status);
}

/* A vfork child shares the parent's memory and would run the library on
 * it; a fork gives it its own copy and runs the fork handlers. Programs
 * that use vfork correctly (exec or _exit next) cannot tell. */
NV_EXPORT pid_t vfork(void)
{
    return REAL(fork)();
}
