/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * config.c - reading the settings from the environment (see config.h).
 */
#include "core/config.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/debug.h"
#include "log/policy.h"
#include "os/critical.h"

static struct nv_config config;
static pthread_once_t config_once = PTHREAD_ONCE_INIT;
static bool config_loaded; /* atomic */

static bool parse_bool(const char *name, bool fallback)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return fallback;
    if (!strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcasecmp(v, "on"))
        return true;
    if (!strcmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcasecmp(v, "off"))
        return false;
    nv_warn("%s=%s is not 0 or 1; using %d", name, v, fallback);
    return fallback;
}

static int parse_policy(void)
{
    const char *v = getenv("NVMMIO_POLICY");
    if (!v || !*v || !strcasecmp(v, "hybrid"))
        return NVPOLICY_HYBRID;
    if (!strcasecmp(v, "undo"))
        return NVPOLICY_UNDO;
    if (!strcasecmp(v, "redo"))
        return NVPOLICY_REDO;
    nv_warn("NVMMIO_POLICY=%s is not hybrid, undo or redo; using hybrid", v);
    return NVPOLICY_HYBRID;
}

/* The canonical form of a root: realpath when it exists, otherwise the
 * absolute path with "//", "/./" and a trailing slash removed. */
static char *canonical_root(const char *entry)
{
    char *real = realpath(entry, NULL);
    if (real)
        return real;
    char buf[PATH_MAX];
    size_t n = 0;
    if (entry[0] != '/') {
        if (!getcwd(buf, sizeof(buf)))
            return NULL;
        n = strlen(buf);
    }
    for (const char *p = entry; *p;) {
        while (*p == '/')
            p++;
        const char *end = strchrnul(p, '/');
        size_t len = (size_t)(end - p);
        if (len == 0 || (len == 1 && p[0] == '.')) {
            p = end;
            continue;
        }
        if (n + len + 2 > sizeof(buf))
            return NULL;
        buf[n++] = '/';
        memcpy(buf + n, p, len);
        n += len;
        p = end;
    }
    if (n == 0)
        buf[n++] = '/';
    buf[n] = '\0';
    return strdup(buf);
}

static void add_root(const char *entry)
{
    char *root = canonical_root(entry);
    if (!root) {
        nv_warn("pmem root '%s' cannot be resolved; ignored", entry);
        return;
    }
    size_t len = strlen(root);
    if (len > 1 && root[len - 1] == '/')
        root[--len] = '\0';
    char **roots = realloc(config.roots, (config.nroots + 1) * sizeof(*roots));
    size_t *lens = realloc(config.root_len, (config.nroots + 1) * sizeof(*lens));
    if (roots)
        config.roots = roots;
    if (lens)
        config.root_len = lens;
    if (!roots || !lens) {
        free(root);
        return;
    }
    config.roots[config.nroots] = root;
    config.root_len[config.nroots] = len;
    config.nroots++;
}

static void load(void)
{
    nv_debug_configure();
    config.sync = parse_bool("NVMMIO_SYNC", false);
    config.policy = parse_policy();
    config.kernel_appends = parse_bool("NVMMIO_KERNEL_APPENDS", true);
    const char *paths = getenv("NVMMIO_PATH");
    if (!paths || !*paths)
        paths = getenv("PMEM_PATH");
    if (!paths)
        return;
    char *copy = strdup(paths);
    if (!copy)
        return;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save))
        if (*tok)
            add_root(tok);
    free(copy);
}

const struct nv_config *nv_config(void)
{
    /* Loading allocates, and a signal handler calling the library on the
     * same thread would wait for it forever: loading is a critical
     * section (os/critical.h), and once done costs a load. */
    if (!__atomic_load_n(&config_loaded, __ATOMIC_ACQUIRE)) {
        nv_critical_enter();
        pthread_once(&config_once, load);
        __atomic_store_n(&config_loaded, true, __ATOMIC_RELEASE);
        nv_critical_leave();
    }
    return &config;
}

const char *nv_config_root_of(const char *path)
{
    const struct nv_config *c = nv_config();
    for (size_t i = 0; i < c->nroots; i++) {
        size_t len = c->root_len[i];
        if (len == 1) /* the root "/" holds every absolute path */
            return c->roots[i];
        if (!strncmp(path, c->roots[i], len) && (path[len] == '/' || path[len] == '\0'))
            return c->roots[i];
    }
    return NULL;
}
