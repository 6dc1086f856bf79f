/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pattern.h - the bytes the newfile tests write: n letters that depend on
 * a tag and on their place, so a byte from another write or another place
 * shows.
 */
#ifndef NVMMIO_TESTS_NEWFILE_PATTERN_H
#define NVMMIO_TESTS_NEWFILE_PATTERN_H

#include <stddef.h>

static inline void fill(char *buf, size_t n, int tag)
{
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)('a' + (tag * 7 + (int)i) % 26);
}

#endif
