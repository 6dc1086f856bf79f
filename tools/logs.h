/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * logs.h - the nvmmio command's log subcommands: finding the logs under
 * roots or of files and the files they belong to, then checking,
 * recovering or listing them through the library's own log code.
 */
#ifndef NVMMIO_TOOLS_LOGS_H
#define NVMMIO_TOOLS_LOGS_H

enum logs_action {
    LOGS_CHECK,
    LOGS_RECOVER,
    LOGS_STATUS,
};

/* Exit statuses, worst wins. */
enum {
    LOGS_CLEAN = 0,
    LOGS_PENDING = 1, /* check: recovery pending; recover: a file is busy */
    LOGS_BAD = 2,     /* a log is corrupt, foreign, untrusted or orphaned */
    LOGS_ERROR = 3,   /* usage or system error */
};

/* Runs the action on each of the n ROOT or FILE arguments (the roots of
 * NVMMIO_PATH or PMEM_PATH when n is 0); returns the exit status. */
int logs_run(enum logs_action action, int n, char **args);

#endif
