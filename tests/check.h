/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * check.h - the failed-check macro of the test programs that count their
 * failures in `failures` and give up after 20 of them.
 */
#ifndef NVMMIO_TESTS_CHECK_H
#define NVMMIO_TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>

/* Unless cond holds: "FAIL file:line: " and the printf-style message. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            if (++failures > 20)                                                                   \
                exit(1);                                                                           \
        }                                                                                          \
    } while (0)

#endif
