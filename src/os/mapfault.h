/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mapfault.h - SIGBUS in the library's own loads and stores through a
 * managed file's mapping.
 *
 * Another program may cut a managed file shorter at any moment (truncate,
 * a log rotated by copytruncate) and take no lock the library would see.
 * A load or store through the mapping past the file's new end then raises
 * SIGBUS, where the kernel's read would have met the end and its write
 * would have grown the file. The library's SIGBUS handler
 * (interpose/signals.c) asks this module first, and the program's handler,
 * or the default, gets every other SIGBUS:
 *
 * - A thread reading under a catch (nv_mapfault_catch) jumps back to it:
 *   the read takes in the new size and reads again.
 * - A thread changing the file (its write lock, or a write in place) has
 *   the file's area armed here: the page that faulted is given back to the
 *   file by fallocate, which only ever grows it, and the copy goes on, as
 *   if the change came after the cut. The area notes the cut, and the
 *   writer takes it in before it lets the file go (nvfile.c).
 *
 * Only pages at or past the end the kernel reports are taken for a cut: a
 * fault inside the file (a memory error, a full tmpfs) stays the
 * program's. The data path pays a thread-local store or two, no system
 * call.
 *
 * A buffer the program reads into may not be its to write (unmapped,
 * read-only, a mapping of its own past the end of a file), where the
 * kernel's read would return EFAULT, or the bytes before the first page it
 * cannot reach. The library looks at one byte of each page of the part a
 * read will fill before it copies (nv_userbuf_writable): a fault there,
 * SIGSEGV or SIGBUS, jumps back, and the read fills what comes before that
 * page. (Writes are not looked at: see the README, "Bad buffers and
 * EFAULT".)
 */
#ifndef NVMMIO_OS_MAPFAULT_H
#define NVMMIO_OS_MAPFAULT_H

#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* No cut seen (struct nv_mapfault_area.cut). */
#define NV_MAPFAULT_NO_CUT UINT64_MAX

/* One file's mapping, followed through remaps and parked descriptors. */
struct nv_mapfault_area {
    char *const *base;
    const size_t *reserved;
    const int *fd; /* may grow the file */
    uint64_t cut;  /* atomic: the shortest end a fault found */
};

void nv_mapfault_area_init(struct nv_mapfault_area *a, char *const *base, const size_t *reserved,
                           const int *fd);

/* A thread's read from an area; nested catches are allowed. */
struct nv_mapfault_catch {
    sigjmp_buf env;
    const struct nv_mapfault_area *area;
    struct nv_mapfault_catch *outer;
    unsigned depth; /* critical sections (os/critical.h) at the catch */
    uint64_t mask;  /* the thread's signal mask when the fault came */
};

/* Usage, with the sigsetjmp in the caller's own frame:
 *
 *     struct nv_mapfault_catch c;
 *     nv_mapfault_catch(&c, area);
 *     if (sigsetjmp(c.env, 0) == 0) {
 *         ...loads through the mapping...
 *         nv_mapfault_release(&c);
 *     } else {
 *         nv_mapfault_caught(&c); ...the file was cut under the read...
 *     }
 *
 * Nothing between the two may take a lock or enter a critical section
 * that the jump would skip the end of. */
void nv_mapfault_catch(struct nv_mapfault_catch *c, const struct nv_mapfault_area *area);
void nv_mapfault_release(struct nv_mapfault_catch *c);
void nv_mapfault_caught(struct nv_mapfault_catch *c);

/* The calling thread changes the file of area until nv_mapfault_disarm. A
 * thread keeps the last few it armed; faults in older ones are not
 * healed. */
void nv_mapfault_arm(struct nv_mapfault_area *a);
void nv_mapfault_disarm(struct nv_mapfault_area *a);

/* Whether a fault found a cut since the last nv_mapfault_take_cut. */
static inline bool nv_mapfault_cut_seen(const struct nv_mapfault_area *a)
{
    return __atomic_load_n(&a->cut, __ATOMIC_RELAXED) != NV_MAPFAULT_NO_CUT;
}

/* The shortest end found since the last call, or NV_MAPFAULT_NO_CUT. */
uint64_t nv_mapfault_take_cut(struct nv_mapfault_area *a);

/* How many bytes from buf on the program may write (n when all of them):
 * the bytes before the first page it cannot, looked at with an atomic add
 * of 0, which changes no byte, not even one another thread stores
 * meanwhile. Call only with the library's handler in place
 * (interpose/signals.c). */
size_t nv_userbuf_writable(void *buf, size_t n);

/* From the SIGBUS or SIGSEGV handler: true when the fault was the
 * library's and is healed (return, and the store runs again); jumps to a
 * catch without returning; false when the signal is the program's. */
bool nv_mapfault_handle(int sig, const siginfo_t *info, void *context);

#endif
