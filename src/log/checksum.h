/*
 * checksum.h - CRC-32C (Castagnoli) of log headers and records.
 */
#ifndef NVMMIO_LOG_CHECKSUM_H
#define NVMMIO_LOG_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

uint32_t nv_crc32c(uint32_t crc, const void *data, size_t n);

#endif
