/*
 * checksum.c - CRC-32C. With SSE4.2, long buffers run as three interleaved
 * streams of crc32 instructions (one instruction's latency is three of its
 * throughput), whose values are then joined by shifting the earlier streams
 * over the bytes that followed them; short tails run as one stream. Without
 * it, a byte table. Both give the same value.
 */
#include "log/checksum.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#define POLY 0x82F63B78u /* reflected Castagnoli polynomial */

/* Lane lengths of the three-stream loop, longest first: a buffer takes as
 * many rounds of the longest as fit, then of the next, and so on. */
static const size_t lane_bytes[] = {4096, 1024, 256, 64};
#define NLANES (sizeof(lane_bytes) / sizeof(lane_bytes[0]))

static uint32_t crc_table[256];
/* shift_table[l][j][v]: the register v << 8j after lane_bytes[l] zero bytes. */
static uint32_t shift_table[NLANES][4][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int have_sse42;

static uint32_t table_update(uint32_t reg, const uint8_t *p, size_t n)
{
    while (n--)
        reg = crc_table[(reg ^ *p++) & 0xff] ^ (reg >> 8);
    return reg;
}

static uint32_t zeros_update(uint32_t reg, size_t n)
{
    while (n--)
        reg = crc_table[reg & 0xff] ^ (reg >> 8);
    return reg;
}

/* The register after zero bytes is linear in the register: 32 basis values
 * give every entry. */
static void init_shift_table(uint32_t t[4][256], size_t n)
{
    uint32_t basis[32];
    for (int b = 0; b < 32; b++)
        basis[b] = zeros_update(1u << b, n);
    for (int j = 0; j < 4; j++) {
        for (uint32_t v = 0; v < 256; v++) {
            uint32_t r = 0;
            for (int k = 0; k < 8; k++)
                if (v & (1u << k))
                    r ^= basis[8 * j + k];
            t[j][v] = r;
        }
    }
}

static void init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        crc_table[i] = c;
    }
    for (size_t l = 0; l < NLANES; l++)
        init_shift_table(shift_table[l], lane_bytes[l]);
#if defined(__x86_64__)
    have_sse42 = __builtin_cpu_supports("sse4.2");
#endif
}

#if defined(__x86_64__)
static uint32_t shift_reg(uint32_t t[4][256], uint32_t reg)
{
    return t[0][reg & 0xff] ^ t[1][(reg >> 8) & 0xff] ^ t[2][(reg >> 16) & 0xff] ^ t[3][reg >> 24];
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

__attribute__((target("sse4.2"))) static uint32_t hw_one_stream(uint32_t reg, const uint8_t *p,
                                                                size_t n)
{
    uint64_t r = reg;
    for (; n >= 8; n -= 8, p += 8)
        r = _mm_crc32_u64(r, load64(p));
    reg = (uint32_t)r;
    while (n--)
        reg = _mm_crc32_u8(reg, *p++);
    return reg;
}

__attribute__((target("sse4.2"))) static uint32_t hw_update(uint32_t reg, const uint8_t *p,
                                                            size_t n)
{
    for (size_t l = 0; l < NLANES; l++) {
        size_t lane = lane_bytes[l];
        while (n >= 3 * lane) {
            uint64_t a = reg, b = 0, c = 0;
            for (size_t i = 0; i < lane; i += 8) {
                a = _mm_crc32_u64(a, load64(p + i));
                b = _mm_crc32_u64(b, load64(p + lane + i));
                c = _mm_crc32_u64(c, load64(p + 2 * lane + i));
            }
            reg = shift_reg(shift_table[l], shift_reg(shift_table[l], (uint32_t)a) ^ (uint32_t)b) ^
                  (uint32_t)c;
            p += 3 * lane;
            n -= 3 * lane;
        }
    }
    return hw_one_stream(reg, p, n);
}
#endif

uint32_t nv_crc32c(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, init);
#if defined(__x86_64__)
    if (have_sse42)
        return ~hw_update(~crc, data, n);
#endif
    return ~table_update(~crc, data, n);
}

uint32_t nv_crc32c_portable(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, init);
    return ~table_update(~crc, data, n);
}
