/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * policy.c - the hybrid undo/redo decision (see policy.h).
 */
#include "log/policy.h"

#include "log/format.h"

int nvpolicy_next(int setting, int current, uint64_t reads, uint64_t writes)
{
    if (setting == NVPOLICY_UNDO)
        return NVLOG_UNDO;
    if (setting == NVPOLICY_REDO)
        return NVLOG_REDO;
    uint64_t calls = reads + writes;
    if (calls == 0)
        return current;
    return writes * 100 > calls * NVPOLICY_REDO_WRITE_PERCENT ? NVLOG_REDO : NVLOG_UNDO;
}
