/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * policy.h - choosing undo or redo logging for the next epoch.
 *
 * Undo copies a block's old bytes to the log and writes in place: reads stay
 * plain loads from the file. Redo writes the new bytes to the log and a
 * background thread copies them home later: one copy on the write path, but
 * reads of those blocks go through the index. The hybrid policy picks redo
 * when writes were more than 40% of the data calls of the epoch just ended.
 */
#ifndef NVMMIO_LOG_POLICY_H
#define NVMMIO_LOG_POLICY_H

#include <stdint.h>

enum nvpolicy_setting {
    NVPOLICY_HYBRID = 0,
    NVPOLICY_UNDO = 1,
    NVPOLICY_REDO = 2,
};

#define NVPOLICY_REDO_WRITE_PERCENT 40

/* Returns NVLOG_UNDO or NVLOG_REDO for the next epoch given the counts of
 * the epoch that ended; `current` is kept when the epoch did no data call. */
int nvpolicy_next(int setting, int current, uint64_t reads, uint64_t writes);

#endif
