/*
 * checksum.c - CRC-32C, table driven; the table is built on first use.
 * Headers are a few dozen bytes, so a byte-at-a-time loop is plenty.
 */
#include "log/checksum.h"

#include <pthread.h>

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void build_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t nv_crc32c(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, build_table);
    const uint8_t *p = data;
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}
