/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * checksum.c - CRC-32C, three ways that give the same value:
 *  - with AVX-512 and VPCLMULQDQ, buffers of 256 bytes and more are folded
 *    by carry-less multiplication, 256 bytes a step in four 64-byte
 *    accumulators, down to 16 bytes that the crc32 instruction finishes;
 *  - with SSE4.2, three interleaved streams of crc32 instructions (one
 *    instruction's latency is three of its throughput), joined by shifting
 *    the earlier streams over the bytes that followed them; short tails run
 *    as one stream;
 *  - otherwise a byte table.
 */
#include "log/checksum.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
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
static int have_sse42, have_vpclmul;

/* Folding: 16 bytes X followed, dist bytes after X's start, by 16 bytes T
 * contribute to the CRC as T ^ clmul(X_lo, K_lo) ^ clmul(X_hi, K_hi) alone
 * would, with K_lo = x^(8 dist + 31) and K_hi = x^(8 dist - 33) mod P (bit
 * reflected: the first 8 bytes lie 64 bits further from T). */
enum { FOLD_256, FOLD_64, FOLD_48, FOLD_32, FOLD_16, NFOLDS };
static const unsigned fold_dist[NFOLDS] = {256, 64, 48, 32, 16};
static uint64_t fold_k[NFOLDS][2];

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

/* x^n mod P, bit reflected. */
static uint64_t xpow_mod(unsigned n)
{
    uint32_t c = 0x80000000u; /* the polynomial 1 */
    while (n--)
        c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
    return c;
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
    for (int f = 0; f < NFOLDS; f++) {
        fold_k[f][0] = xpow_mod(8 * fold_dist[f] + 31);
        fold_k[f][1] = xpow_mod(8 * fold_dist[f] - 33);
    }
#if defined(__x86_64__)
    have_sse42 = __builtin_cpu_supports("sse4.2");
    have_vpclmul = have_sse42 && __builtin_cpu_supports("avx512f") &&
                   __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("vpclmulqdq");
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

#define FOLD_TARGET __attribute__((target("sse4.2,pclmul,avx512f,avx512vl,vpclmulqdq")))

/* x folded over 64 bytes onto next, in each 16-byte lane. */
FOLD_TARGET static inline __m512i fold512(__m512i x, __m512i k, __m512i next)
{
    return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
                                     _mm512_clmulepi64_epi128(x, k, 0x11), next, 0x96);
}

FOLD_TARGET static inline __m128i fold128(__m128i x, int f, __m128i onto)
{
    __m128i k = _mm_set_epi64x((long long)fold_k[f][1], (long long)fold_k[f][0]);
    return _mm_xor_si128(
        _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), onto);
}

FOLD_TARGET static inline __m512i fold_constant(int f)
{
    return _mm512_set_epi64((long long)fold_k[f][1], (long long)fold_k[f][0],
                            (long long)fold_k[f][1], (long long)fold_k[f][0],
                            (long long)fold_k[f][1], (long long)fold_k[f][0],
                            (long long)fold_k[f][1], (long long)fold_k[f][0]);
}

/* n >= 256. The register enters as the first four bytes' partner: a
 * reflected CRC adds its register to the data that follows. */
FOLD_TARGET static uint32_t fold_update(uint32_t reg, const uint8_t *p, size_t n)
{
    __m512i x0 = _mm512_xor_si512(_mm512_loadu_si512(p),
                                  _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)reg)));
    __m512i x1 = _mm512_loadu_si512(p + 64), x2 = _mm512_loadu_si512(p + 128),
            x3 = _mm512_loadu_si512(p + 192);
    const __m512i k256 = fold_constant(FOLD_256), k64 = fold_constant(FOLD_64);
    for (p += 256, n -= 256; n >= 256; p += 256, n -= 256) {
        x0 = fold512(x0, k256, _mm512_loadu_si512(p));
        x1 = fold512(x1, k256, _mm512_loadu_si512(p + 64));
        x2 = fold512(x2, k256, _mm512_loadu_si512(p + 128));
        x3 = fold512(x3, k256, _mm512_loadu_si512(p + 192));
    }
    x3 = fold512(fold512(fold512(x0, k64, x1), k64, x2), k64, x3);
    __m128i acc = _mm512_extracti32x4_epi32(x3, 3);
    acc = fold128(_mm512_extracti32x4_epi32(x3, 0), FOLD_48, acc);
    acc = fold128(_mm512_extracti32x4_epi32(x3, 1), FOLD_32, acc);
    acc = fold128(_mm512_extracti32x4_epi32(x3, 2), FOLD_16, acc);
    uint64_t r = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(acc));
    r = _mm_crc32_u64(r, (uint64_t)_mm_extract_epi64(acc, 1));
    return hw_update((uint32_t)r, p, n);
}
#endif

uint32_t nv_crc32c(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, init);
#if defined(__x86_64__)
    if (have_vpclmul && n >= 256)
        return ~fold_update(~crc, data, n);
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
