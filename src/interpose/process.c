/*
 * process.c - the process's life: fork keeps the library's locks
 * consistent, and a normal exit is a durability point for every managed
 * file (committed, copied home, trimmed to its logical size). Nothing is
 * allocated at load: a process that never opens a managed file only pays
 * for registering these hooks.
 */
#include "interpose/real.h"

#include <pthread.h>
#include <stdbool.h>

#include "core/ops.h"

static void before_fork(void)
{
    nvops_before_fork();
}

static void after_fork_parent(void)
{
    nvops_after_fork(false);
}

static void after_fork_child(void)
{
    nvops_after_fork(true);
}

__attribute__((constructor)) static void nvmmio_load(void)
{
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

__attribute__((destructor)) static void nvmmio_unload(void)
{
    nvops_settle_all();
}
