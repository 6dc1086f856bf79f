/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * debug.h - diagnostics: messages on stderr, prefixed "libnvmmio:".
 * nv_warn always prints (bad settings, logs that fail their checks);
 * nv_debug only with NVMMIO_DEBUG=1.
 */
#ifndef NVMMIO_CORE_DEBUG_H
#define NVMMIO_CORE_DEBUG_H

#include <stdbool.h>

void nv_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void nv_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool nv_debug_enabled(void);

#endif
