/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * aligned_alloc_shim.c - preloaded ahead of the ASan runtime by run_app.sh
 * when the library under test is an ASan build. GCC 12's ASan aborts on
 * aligned_alloc(4096, n) when n is not a multiple of 4096 (C11's wording);
 * glibc accepts it (C17, DR 460), and coreutils' dd and split rely on that.
 * posix_memalign has no such rule and is the ASan allocator's too, so
 * memory stays checked and free() stays right.
 */
#include <errno.h>
#include <stdlib.h>

void *aligned_alloc(size_t alignment, size_t size)
{
    void *p = NULL;
    int rc = posix_memalign(&p, alignment < sizeof(void *) ? sizeof(void *) : alignment, size);
    if (rc != 0) {
        errno = rc;
        return NULL;
    }
    return p;
}
