/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * debug.c - diagnostics on stderr (see debug.h). Formats into a buffer and
 * writes with one raw system call so messages from threads do not interleave
 * and never go through the program's stdio.
 */
#include "core/debug.h"

#include <stdarg.h>
#include <stdio.h>

#include "core/config.h"
#include "os/sys.h"

static void emit(const char *fmt, va_list ap)
{
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "libnvmmio: ");
    int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    if (m < 0)
        return;
    n += m;
    if (n > (int)sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    sys_write(2, buf, (size_t)n);
}

void nv_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(fmt, ap);
    va_end(ap);
}

bool nv_debug_enabled(void)
{
    return nv_config()->debug;
}

void nv_debug(const char *fmt, ...)
{
    if (!nv_debug_enabled())
        return;
    va_list ap;
    va_start(ap, fmt);
    emit(fmt, ap);
    va_end(ap);
}
