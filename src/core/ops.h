/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ops.h - the POSIX semantics of the calls the interposer hands down for
 * managed descriptors and paths: which files are managed, offsets, access
 * modes, O_APPEND, sync mode and the errno values the kernel would give.
 * Every function returns a value >= 0 or a negative errno and never touches
 * errno itself.
 */
#ifndef NVMMIO_CORE_OPS_H
#define NVMMIO_CORE_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

struct nvofd;

/* True when the process may manage any file (a root is set, or the caller
 * passed O_ATOMIC). Cheap: decides whether an open needs a second look. */
bool nvops_may_manage(int flags);

/* The flags the kernel should see for an open with these flags: O_ATOMIC
 * and, for a file that may be managed, O_TRUNC (the library truncates
 * inside the epoch instead) are removed. */
int nvops_kernel_open_flags(int dirfd, const char *path, int flags);

/* After the kernel opened kfd for (dirfd, path, flags): takes the
 * descriptor over when the file is managed, and otherwise carries out an
 * O_TRUNC the library held back. O_CREAT | O_EXCL in flags says the open
 * made the file; canonical, that path is the file's canonical path (the
 * kernel walked it from the root without a symlink). 0, or a negative
 * errno (the caller closes kfd and fails the open). */
int nvops_adopt(int kfd, int dirfd, const char *path, int flags, bool canonical);

/* Detaches a managed fd before the kernel closes it; returns the
 * description to finish with nvops_close_finish, or NULL (not managed). */
struct nvofd *nvops_close_begin(int fd);
/* Durability point of the close; releases the file. 0 or a negative errno. */
int nvops_close_finish(struct nvofd *o);

/* Returned by a data or size call that the library cannot serve: the file
 * would grow past NVFILE_MAX_SIZE (NVOPS_TO_KERNEL), or no memory or
 * address space is left for what the library needs for it (a log's
 * mapping under a tight RLIMIT_AS, for one: NVOPS_NO_MEMORY), or no
 * descriptor for its log (NVOPS_NO_DESCRIPTOR), or the file was handed to
 * the kernel while the call waited (a fork, the process's exit:
 * NVOPS_HANDED). The caller hands the file to the kernel (nvops_give_up,
 * once the call has ended) and makes the kernel's call. */
#define NVOPS_TO_KERNEL     (-4096 - 1)
#define NVOPS_NO_MEMORY     (-4096 - 2)
#define NVOPS_NO_DESCRIPTOR (-4096 - 3)
#define NVOPS_HANDED        (-4096 - 4)

static inline bool nvops_unservable(long r)
{
    return r == NVOPS_TO_KERNEL || r == NVOPS_NO_MEMORY || r == NVOPS_NO_DESCRIPTOR ||
           r == NVOPS_HANDED;
}

/* Hands the file of fd to the kernel after a call returned `code`, one of
 * the two above. */
void nvops_give_up(int fd, long code);

/* Hands the file of fd to the kernel in this process: settled, and every
 * descriptor of it the kernel's from then on. why goes to the debug log. */
void nvops_to_kernel(int fd, const char *why);
/* Every managed descriptor of the process to the kernel, each file settled
 * at its last: the process ends, and what its other threads or the C
 * library's exit (stdio buffers, destructors of other libraries) write
 * from now on goes through the kernel, kept as the kernel keeps it, and
 * so do the files they open. */
void nvops_all_to_kernel(void);
/* The main thread calls pthread_exit: see nvhelper_main_thread_exits. */
void nvops_main_thread_exits(void);
/* The program asks for a lease on fd's file (fcntl F_SETLEASE): the file
 * goes to the kernel, whose leases count the library's own descriptor. */
void nvops_lease_taking(int fd);

/* The program set a file size limit (RLIMIT_FSIZE): every managed file
 * goes to the kernel, which enforces it; files opened under the limit stay
 * there too. */
void nvops_file_size_limited(void);

/* The process's effective user becomes euid (not root): every managed
 * file of another user goes to the kernel, settled first, and the spare
 * logs and share blocks made so far go. */
void nvops_user_changing(uid_t euid);

/* The program makes system call `number` with arguments args[0..5]
 * through syscall(2), bare: a file it names (a descriptor of the read,
 * write, size, sync and copy calls, or of an iocb that io_submit passes)
 * that the library manages goes to the kernel first, which then serves
 * the call as it has the file. */
void nvops_bare_call(long number, const long args[6]);

/* fd became 0, 1 or 2 (dup2 onto a standard stream): the file it refers
 * to is handed to the kernel (stdio's own calls cannot be intercepted). */
void nvops_standard_stream(int fd);

/* A call of the program's that makes a descriptor met EMFILE: the
 * library gives back the descriptors it can do without for now (see
 * nvpark_all). True when it gave back any, so the call is worth trying
 * again. errno is kept. */
bool nvops_make_room(void);

/* The kernel closed [first, last] (close_range): finishes the managed ones. */
void nvops_forget_range(unsigned first, unsigned last);

/* newfd now refers to what oldfd refers to (dup, dup2, dup3, F_DUPFD).
 * Returns what newfd referred to before when that needs closing, or NULL. */
struct nvofd *nvops_dup(int oldfd, int newfd);

/* The description of a managed fd (one call in progress), or NULL; its
 * file has taken in what a lock taken since its last call lets in. */
struct nvofd *nvops_begin(int fd);
void nvops_end(struct nvofd *o);

ssize_t nvops_read(struct nvofd *o, void *buf, size_t n);
ssize_t nvops_pread(struct nvofd *o, void *buf, size_t n, off_t off);
ssize_t nvops_write(struct nvofd *o, const void *buf, size_t n);
ssize_t nvops_pwrite(struct nvofd *o, const void *buf, size_t n, off_t off);
off_t nvops_lseek(struct nvofd *o, off_t off, int whence);
int nvops_fsync(struct nvofd *o);
int nvops_ftruncate(struct nvofd *o, off_t len);
/* sync_file_range: checks its arguments, then commits like fsync. */
int nvops_sync_range(struct nvofd *o, off_t off, off_t n, unsigned flags);
/* Vectored forms; off < 0 means the description's offset. rwf_flags as
 * preadv2/pwritev2 (RWF_APPEND, RWF_DSYNC, RWF_SYNC honoured). */
ssize_t nvops_readv(struct nvofd *o, const struct iovec *iov, int iovcnt, off_t off, int rwf_flags);
ssize_t nvops_writev(struct nvofd *o, const struct iovec *iov, int iovcnt, off_t off,
                     int rwf_flags);
int nvops_fallocate(struct nvofd *o, int mode, off_t off, off_t len);
/* The program maps the file: make its mapping and the library's one. */
int nvops_share_mapping(struct nvofd *o);
/* True when the process serves some file (read without a lock). */
bool nvops_serving(void);
/* Commits every managed file of the process (sync, syncfs). */
int nvops_commit_all(void);
/* A record, OFD, flock or lockf lock is about to be released: every
 * managed file of the process is exposed (see nvfile_expose), since a
 * lock on one file may guard others (a lock file, SQLite's WAL index).
 * 0 or the first negative errno. */
int nvops_lock_releasing(void);
/* Such a lock was just taken: every managed file takes in what others
 * changed (see nvfile_revalidate) before its next call (nvops_begin,
 * nvfile_take_in). 0 or a negative errno. */
int nvops_lock_taken(void);
/* Record locks (fcntl F_SETLK/F_SETLKW, lockf): closing any descriptor of
 * a file drops every one the process holds on it, so the library keeps
 * its own descriptors of a file that may be locked (core/recordlocks.h).
 * Called before the program takes such a lock through fd. */
void nvops_record_lock_taking(int fd);
/* Before the program closes fd, or unlocks its whole file: true, with the
 * file's device and inode, when the program may hold record locks on it
 * or a descriptor of the library's waits for them to go. */
bool nvops_record_locks_going(int fd, dev_t *dev, ino_t *ino);
/* After that close or unlock: the kernel dropped the locks. */
void nvops_record_locks_gone(dev_t dev, ino_t ino);
/* Closes fd, a descriptor the library opened for the program's call (a
 * truncate by path), whose file the program may hold record locks on: the
 * kernel descriptor waits for them to go. 0 or a negative errno. */
int nvops_close_keeping_locks(int fd, dev_t dev, ino_t ino);
/* fd is about to go to another process (SCM_RIGHTS): its position is the
 * kernel's from now on. */
void nvops_descriptor_sent(int fd);
/* Files this process reaches through the kernel because another process
 * served them: those whose server ended and left a log are recovered now
 * (see nvops_lock_taken, which calls it). */
void nvops_recover_orphans(void);
/* Before exec or spawn: every managed file settled and the kernel's offsets
 * brought up to the library's, so the new image reads the right bytes. */
void nvops_hand_over(void);
/* Takes over regular files under a root that the process inherited open
 * (a shell's redirections, say); true when it took any. */
bool nvops_adopt_inherited(void);

/* Mirrors F_SETFL on the description (O_APPEND may change). */
void nvops_setfl(struct nvofd *o, int flags);

/* Corrects a stat result of a file this process has open: the logical size
 * and no preallocated blocks. With may_publish, returns true, and corrects
 * nothing, when the file had changes the kernel did not show yet (its
 * times): they are published now and the caller must stat again, then
 * correct without publishing (another thread or a signal handler may have
 * changed the file in between, and the second result must be corrected
 * all the same). */
bool nvops_fix_stat(dev_t dev, ino_t ino, off_t *size, blkcnt_t *blocks, bool may_publish);
/* The program is about to set the times of fd (when fd >= 0) or of the
 * file at (dirfd, path) with utimensat's at_flags: when this process
 * manages it, what would change them later (the library's reserved space
 * given back, pending times brought up) is done now, so they stay as set. */
void nvops_before_set_times(int fd, int dirfd, const char *path, int at_flags);

/* A path of a regular file is about to lose its last link (unlink, or a
 * rename over it): remembers the file (last_link) and its log (valid) so
 * nvops_forget_log can let go of the one and remove the other. */
struct nvops_doomed {
    bool last_link;
    bool valid;
    char log_path[4096];
    dev_t dev;
    ino_t ino;
};
void nvops_doom(int dirfd, const char *path, struct nvops_doomed *d);
void nvops_forget_log(const struct nvops_doomed *d);

/* Every managed file made durable, home and trimmed, as at exit. */
int nvops_settle_all(void);

/* Fork: keep the library's locks consistent across it. */
void nvops_before_fork(void);
void nvops_after_fork(bool child);

#endif
