/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * checksum.h - CRC-32C (Castagnoli) of log headers and of the data of every
 * log record.
 */
#ifndef NVMMIO_LOG_CHECKSUM_H
#define NVMMIO_LOG_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of n bytes, continuing crc (0 to start). The CPU's crc32
 * instruction where it has one, in three interleaved streams for long
 * buffers; a table otherwise. */
uint32_t nv_crc32c(uint32_t crc, const void *data, size_t n);

/* The same value computed by the table alone, for tests. */
uint32_t nv_crc32c_portable(uint32_t crc, const void *data, size_t n);

#endif
