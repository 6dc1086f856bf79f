/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * config.h - the library's settings, read once from the environment.
 *
 *   NVMMIO_PATH     colon list of pmem roots (PMEM_PATH is an alias)
 *   NVMMIO_SYNC     1: every write is a durability point
 *   NVMMIO_POLICY   hybrid | undo | redo
 *   NVMMIO_DEBUG    how much to say, NVMMIO_DEBUG_FILE where (debug.h)
 *   NVMMIO_KERNEL_APPENDS  0: appends always store through the mapping
 *
 * A bad value gives one message on stderr and the default.
 */
#ifndef NVMMIO_CORE_CONFIG_H
#define NVMMIO_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct nv_config {
    char **roots; /* canonical absolute paths, no trailing slash */
    size_t *root_len;
    size_t nroots;
    bool sync;
    int policy;          /* enum nvpolicy_setting */
    bool kernel_appends; /* appends may go by the kernel's write (storage.h) */
};

/* The settings; read from the environment on first use, thread-safely. */
const struct nv_config *nv_config(void);

/* The root that holds the canonical absolute path, or NULL. */
const char *nv_config_root_of(const char *path);

#endif
