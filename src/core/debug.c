/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * debug.c - diagnostics (see debug.h). Formats into a buffer and writes
 * with one raw system call, so messages from threads do not interleave,
 * never go through the program's stdio and take no memory: a signal
 * handler may be the caller.
 */
#include "core/debug.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "os/keptfds.h"
#include "os/sys.h"

int nv_debug_level_set = NV_DEBUG_ERRORS;
static int log_fd = 2; /* atomic: stderr, or the library's own descriptor */

static int parse_level(const char *v)
{
    if (!v || !*v)
        return NV_DEBUG_ERRORS;
    if (!strcmp(v, "0") || !strcmp(v, "1") || !strcasecmp(v, "errors"))
        return NV_DEBUG_ERRORS;
    /* yes, true and on meant what 2 means now */
    if (!strcmp(v, "2") || !strcasecmp(v, "decisions") || !strcasecmp(v, "yes") ||
        !strcasecmp(v, "true") || !strcasecmp(v, "on"))
        return NV_DEBUG_DECISIONS;
    if (!strcmp(v, "3") || !strcasecmp(v, "calls"))
        return NV_DEBUG_CALLS;
    nv_warn("NVMMIO_DEBUG=%s is not 0, 1, 2 or 3; using 1", v);
    return NV_DEBUG_ERRORS;
}

void nv_debug_configure(void)
{
    const char *file = getenv("NVMMIO_DEBUG_FILE");
    if (file && *file) {
        int fd = sys_openat(AT_FDCWD, file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0)
            __atomic_store_n(&log_fd, kept_fd(fd), __ATOMIC_RELAXED);
        else
            nv_warn("NVMMIO_DEBUG_FILE=%s cannot be opened (%s); messages go to stderr", file,
                    strerror(-fd));
    }
    __atomic_store_n(&nv_debug_level_set, parse_level(getenv("NVMMIO_DEBUG")), __ATOMIC_RELAXED);
}

void nv_debug_write(const char *buf, unsigned long len)
{
    sys_write(__atomic_load_n(&log_fd, __ATOMIC_RELAXED), buf, len);
}

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
    nv_debug_write(buf, (unsigned long)n);
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
    nv_config(); /* the level is read with the settings */
    return nv_debug_level() >= NV_DEBUG_DECISIONS;
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
