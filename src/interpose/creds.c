/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * creds.c - wrappers of the calls that change the process's effective user:
 * setuid, seteuid, setreuid and setresuid. The library serves only the
 * files of the process's user (root: everyone's), and a file's log and lock
 * belong to its owner. A process that gives root up (a daemon that opened
 * its files as root) could neither remove the logs it made as root nor make
 * logs that the file's owner would accept, so before the change takes
 * effect every managed file of another user is settled, while the process
 * still may, and handed to the kernel, which decides what the new user may
 * do with descriptors already open. A raw system call goes unseen (see the
 * README's Known gaps).
 */
#include "interpose/real.h"

#include "core/ops.h"

/* euid: the effective user the call asks for, -1 when it keeps the
 * current one. */
static void user_changing(uid_t euid)
{
    if (euid != (uid_t)-1 && euid != 0)
        nvops_user_changing(euid);
}

NV_EXPORT int setuid(uid_t uid)
{
    user_changing(uid);
    return REAL(setuid)(uid);
}

NV_EXPORT int seteuid(uid_t euid)
{
    user_changing(euid);
    return REAL(seteuid)(euid);
}

NV_EXPORT int setreuid(uid_t ruid, uid_t euid)
{
    user_changing(euid);
    return REAL(setreuid)(ruid, euid);
}

NV_EXPORT int setresuid(uid_t ruid, uid_t euid, uid_t suid)
{
    user_changing(euid);
    return REAL(setresuid)(ruid, euid, suid);
}
