/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * debug.h - diagnostics, prefixed "libnvmmio:", on stderr or in the file
 * NVMMIO_DEBUG_FILE names. NVMMIO_DEBUG sets how much:
 *   1 errors     (the default; 0 is the same) bad settings, logs that fail
 *                their checks: nv_warn, which always prints
 *   2 decisions  each managed open, recovery, and each descriptor left to
 *                the kernel with its reason: nv_debug
 *   3 calls      also every counted call on a managed file (stats.h)
 */
#ifndef NVMMIO_CORE_DEBUG_H
#define NVMMIO_CORE_DEBUG_H

#include <stdbool.h>

enum nv_debug_level {
    NV_DEBUG_ERRORS = 1,
    NV_DEBUG_DECISIONS = 2,
    NV_DEBUG_CALLS = 3,
};

extern int nv_debug_level_set; /* atomic; written once, when the settings are read */

static inline int nv_debug_level(void)
{
    return __atomic_load_n(&nv_debug_level_set, __ATOMIC_RELAXED);
}

/* Reads NVMMIO_DEBUG and NVMMIO_DEBUG_FILE; called once, when the settings
 * are read. */
void nv_debug_configure(void);

void nv_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void nv_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool nv_debug_enabled(void);

/* Writes len bytes as they are, where the messages go. */
void nv_debug_write(const char *buf, unsigned long len);

#endif
