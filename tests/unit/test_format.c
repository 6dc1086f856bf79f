/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_format.c - the on-media format: CRC-32C, commit slots, record headers,
 * record spans and file identities (src/log/format.h, checksum.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "log/checksum.h"
#include "log/format.h"

/* ---- checksum ----------------------------------------------------------- */

static void crc32c_known_values(void **state)
{
    (void)state;
    /* The CRC-32C check value and an RFC 3720 (iSCSI) test vector. */
    assert_int_equal(nv_crc32c(0, "123456789", 9), 0xE3069283u);
    unsigned char zeros[32] = {0};
    assert_int_equal(nv_crc32c(0, zeros, sizeof(zeros)), 0x8A9136AAu);
    assert_int_equal(nv_crc32c(0, "", 0), 0u);
    /* Chaining: the CRC of a whole equals the CRC continued over its parts. */
    assert_int_equal(nv_crc32c(nv_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
}

/* Bit by bit, from the definition: the reference both paths must meet. */
static uint32_t crc32c_bitwise(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    }
    return ~c;
}

static void crc32c_paths_agree(void **state)
{
    (void)state;
    /* Lengths around every lane size of the three-stream loop and its
     * rounds, at every alignment of the start. */
    enum { MAX = 3 * 4096 * 2 + 200 };
    static unsigned char buf[MAX + 8];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof(buf); i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 16);
    }
    static const size_t lens[] = {0,    1,    7,     8,     9,     63,    64,    191,  192,  193,
                                  255,  767,  768,   769,   1000,  3071,  3072,  3073, 4095, 4096,
                                  4097, 8192, 12287, 12288, 12289, 24576, 24600, MAX};
    for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
        for (size_t a = 0; a < 8; a += 3) {
            uint32_t want = crc32c_bitwise(buf + a, lens[l]);
            assert_int_equal(nv_crc32c(0, buf + a, lens[l]), want);
            assert_int_equal(nv_crc32c_portable(0, buf + a, lens[l]), want);
            /* Continued over two parts, split anywhere. */
            size_t half = lens[l] / 3;
            assert_int_equal(nv_crc32c(nv_crc32c(0, buf + a, half), buf + a + half, lens[l] - half),
                             want);
        }
    }
}

/* ---- commit slots ------------------------------------------------------- */

static struct nvlog_slot make_slot(uint64_t seq)
{
    struct nvlog_slot s;
    memset(&s, 0, sizeof(s));
    s.seq = seq;
    s.id = (struct nvlog_identity){
        .dev = 0x801, .ino = 12345, .btime_sec = 1700000000, .btime_nsec = 42};
    s.committed_epoch = 7 + seq;
    s.applied_epoch = 5;
    s.committed_size = 8192 * (seq + 1);
    s.gen = 3;
    nvlog_slot_seal(&s);
    return s;
}

/* A 4 KiB superblock holding slot a at 0 and slot b at NVLOG_SLOT_STRIDE. */
struct superblock {
    _Alignas(64) unsigned char bytes[NVLOG_HEADER_SIZE];
};

static void put_slots(struct superblock *sb, const struct nvlog_slot *a, const struct nvlog_slot *b)
{
    memset(sb, 0, sizeof(*sb));
    if (a)
        memcpy(sb->bytes, a, sizeof(*a));
    if (b)
        memcpy(sb->bytes + NVLOG_SLOT_STRIDE, b, sizeof(*b));
}

/* Recomputes a slot's checksum without touching magic, version or size. */
static void checksum_slot_raw(struct nvlog_slot *s)
{
    s->checksum = 0;
    s->checksum = nv_crc32c(0, s, sizeof(*s));
}

static void slot_seal_and_valid(void **state)
{
    (void)state;
    struct nvlog_slot s = make_slot(4);
    assert_true(nvlog_slot_valid(&s));
    assert_true(s.magic == NVLOG_MAGIC);
    assert_int_equal(s.version, NVLOG_VERSION);
    assert_int_equal(s.slot_size, sizeof(struct nvlog_slot));
    assert_int_not_equal(s.checksum, 0);

    /* Every field is covered: changing any one invalidates the slot. */
    struct nvlog_slot t = s;
    t.committed_epoch++;
    assert_false(nvlog_slot_valid(&t));
    t = s;
    t.id.btime_nsec ^= 1;
    assert_false(nvlog_slot_valid(&t));
    t = s;
    t.reserved[1] = 1;
    assert_false(nvlog_slot_valid(&t));
    t = s;
    t.instance++;
    assert_false(nvlog_slot_valid(&t));
    t = s;
    t.records++;
    assert_false(nvlog_slot_valid(&t));
    /* Resealing after a change makes it valid again. */
    nvlog_slot_seal(&t);
    assert_true(nvlog_slot_valid(&t));

    /* Wrong magic, version or size, even with a checksum that matches. */
    t = s;
    t.version = NVLOG_VERSION + 1;
    checksum_slot_raw(&t);
    assert_false(nvlog_slot_valid(&t));
    t = s;
    t.magic ^= 0x100;
    checksum_slot_raw(&t);
    assert_false(nvlog_slot_valid(&t));
    t = s;
    t.slot_size = 256;
    checksum_slot_raw(&t);
    assert_false(nvlog_slot_valid(&t));
    /* The raw checksum itself agrees with the seal's. */
    t = s;
    checksum_slot_raw(&t);
    assert_int_equal(t.checksum, s.checksum);

    /* An all-zero slot is not valid. */
    struct nvlog_slot z;
    memset(&z, 0, sizeof(z));
    assert_false(nvlog_slot_valid(&z));
}

static void slot_every_bit_flip_detected(void **state)
{
    (void)state;
    struct nvlog_slot s = make_slot(9);
    unsigned char *p = (unsigned char *)&s;
    for (size_t i = 0; i < sizeof(s); i++) {
        for (int bit = 0; bit < 8; bit++) {
            p[i] ^= (unsigned char)(1u << bit);
            assert_false(nvlog_slot_valid(&s));
            p[i] ^= (unsigned char)(1u << bit);
        }
    }
    assert_true(nvlog_slot_valid(&s));
}

static void slot_current_picks_higher_seq(void **state)
{
    (void)state;
    struct superblock sb;
    struct nvlog_slot s4 = make_slot(4), s5 = make_slot(5);

    put_slots(&sb, &s4, &s5);
    const struct nvlog_slot *cur = nvlog_slot_current(sb.bytes);
    assert_ptr_equal(cur, (const void *)(sb.bytes + NVLOG_SLOT_STRIDE));
    assert_int_equal(cur->seq, 5);

    /* The newer slot may sit at either place. */
    put_slots(&sb, &s5, &s4);
    cur = nvlog_slot_current(sb.bytes);
    assert_ptr_equal(cur, (const void *)sb.bytes);
    assert_int_equal(cur->seq, 5);
    assert_int_equal(cur->committed_epoch, 12);

    /* Large sequence numbers compare as numbers. */
    struct nvlog_slot big = make_slot(UINT64_C(1) << 40),
                      bigger = make_slot((UINT64_C(1) << 40) + 1);
    put_slots(&sb, &bigger, &big);
    assert_int_equal(nvlog_slot_current(sb.bytes)->seq, (UINT64_C(1) << 40) + 1);
}

static void slot_current_torn_falls_back(void **state)
{
    (void)state;
    struct superblock sb;
    struct nvlog_slot s6 = make_slot(6), s7 = make_slot(7);

    /* A flipped byte in the newer slot: the older one is the state. */
    put_slots(&sb, &s6, &s7);
    sb.bytes[NVLOG_SLOT_STRIDE + offsetof(struct nvlog_slot, committed_size)] ^= 0x40;
    const struct nvlog_slot *cur = nvlog_slot_current(sb.bytes);
    assert_non_null(cur);
    assert_int_equal(cur->seq, 6);
    assert_ptr_equal(cur, (const void *)sb.bytes);

    /* A zeroed checksum in the newer slot (the write never reached it). */
    put_slots(&sb, &s7, &s6);
    memset(sb.bytes + offsetof(struct nvlog_slot, checksum), 0, sizeof(uint32_t));
    cur = nvlog_slot_current(sb.bytes);
    assert_non_null(cur);
    assert_int_equal(cur->seq, 6);
    assert_ptr_equal(cur, (const void *)(sb.bytes + NVLOG_SLOT_STRIDE));

    /* A slot half written: its second half still holds zeros. */
    put_slots(&sb, &s6, &s7);
    memset(sb.bytes + NVLOG_SLOT_STRIDE + sizeof(s7) / 2, 0, sizeof(s7) / 2);
    cur = nvlog_slot_current(sb.bytes);
    assert_non_null(cur);
    assert_int_equal(cur->seq, 6);

    /* The older slot damaged: the newer is still chosen. */
    put_slots(&sb, &s6, &s7);
    sb.bytes[3] ^= 0xff;
    cur = nvlog_slot_current(sb.bytes);
    assert_non_null(cur);
    assert_int_equal(cur->seq, 7);

    /* Only one slot ever written. */
    put_slots(&sb, NULL, &s6);
    assert_int_equal(nvlog_slot_current(sb.bytes)->seq, 6);
    put_slots(&sb, &s7, NULL);
    assert_int_equal(nvlog_slot_current(sb.bytes)->seq, 7);
}

static void slot_current_both_invalid(void **state)
{
    (void)state;
    struct superblock sb;
    struct nvlog_slot s1 = make_slot(1), s2 = make_slot(2);

    put_slots(&sb, NULL, NULL);
    assert_null(nvlog_slot_current(sb.bytes));

    put_slots(&sb, &s1, &s2);
    sb.bytes[offsetof(struct nvlog_slot, gen)] ^= 1;
    memset(sb.bytes + NVLOG_SLOT_STRIDE + offsetof(struct nvlog_slot, checksum), 0,
           sizeof(uint32_t));
    assert_null(nvlog_slot_current(sb.bytes));

    /* A foreign magic in both. */
    s1.magic ^= 1;
    s2.magic ^= 1;
    put_slots(&sb, &s1, &s2);
    assert_null(nvlog_slot_current(sb.bytes));
}

static void slot_offset_alternates(void **state)
{
    (void)state;
    assert_int_equal(nvlog_slot_offset(0), 0);
    assert_int_equal(nvlog_slot_offset(1), NVLOG_SLOT_STRIDE);
    assert_int_equal(nvlog_slot_offset(2), 0);
    assert_int_equal(nvlog_slot_offset(UINT64_MAX), NVLOG_SLOT_STRIDE);
    /* The two slots never overlap and fit the superblock. */
    assert_true(sizeof(struct nvlog_slot) <= NVLOG_SLOT_STRIDE);
    assert_true(NVLOG_SLOT_STRIDE + sizeof(struct nvlog_slot) <= NVLOG_HEADER_SIZE);
}

/* ---- records ------------------------------------------------------------ */

static struct nvlog_record make_record(int kind, uint64_t gen, uint64_t index)
{
    struct nvlog_record r;
    memset(&r, 0, sizeof(r));
    r.kind = (uint8_t)kind;
    r.gen = gen;
    r.index = index;
    r.epoch = 11;
    r.file_offset = 3 * 4096;
    r.data_len = 4096;
    nvlog_record_seal(&r);
    return r;
}

static void record_seal_and_valid(void **state)
{
    (void)state;
    struct nvlog_record u = make_record(NVLOG_UNDO, 2, 0);
    struct nvlog_record d = make_record(NVLOG_REDO, 2, 17);
    assert_int_equal(u.magic, NVLOG_RECORD_MAGIC);
    assert_true(nvlog_record_valid(&u, 2, 0));
    assert_true(nvlog_record_valid(&d, 2, 17));
}

static void record_rejects_wrong_gen_index_kind(void **state)
{
    (void)state;
    struct nvlog_record r = make_record(NVLOG_REDO, 5, 9);
    /* Another generation or another position. */
    assert_false(nvlog_record_valid(&r, 4, 9));
    assert_false(nvlog_record_valid(&r, 6, 9));
    assert_false(nvlog_record_valid(&r, 5, 8));
    assert_false(nvlog_record_valid(&r, 5, 10));
    assert_false(nvlog_record_valid(&r, 0, 0));

    /* A kind that is neither undo nor redo, even correctly sealed. */
    for (int kind = 0; kind < 256; kind++) {
        struct nvlog_record k = make_record(kind, 5, 9);
        bool known = kind == NVLOG_UNDO || kind == NVLOG_REDO;
        assert_int_equal(nvlog_record_valid(&k, 5, 9), known);
    }

    /* A foreign magic, correctly checksummed. */
    struct nvlog_record m = r;
    m.magic = 0x12345678u;
    m.checksum = 0;
    m.checksum = nv_crc32c(0, &m, sizeof(m));
    assert_false(nvlog_record_valid(&m, 5, 9));

    /* An all-zero header (never written) does not count at index 0. */
    struct nvlog_record z;
    memset(&z, 0, sizeof(z));
    assert_false(nvlog_record_valid(&z, 0, 0));
}

static void record_every_bit_flip_detected(void **state)
{
    (void)state;
    struct nvlog_record r = make_record(NVLOG_UNDO, 1, 3);
    unsigned char *p = (unsigned char *)&r;
    for (size_t i = 0; i < sizeof(r); i++) {
        for (int bit = 0; bit < 8; bit++) {
            p[i] ^= (unsigned char)(1u << bit);
            assert_false(nvlog_record_valid(&r, 1, 3));
            p[i] ^= (unsigned char)(1u << bit);
        }
    }
    assert_true(nvlog_record_valid(&r, 1, 3));
}

static void record_data_checksum(void **state)
{
    (void)state;
    static unsigned char data[4096];
    memset(data, 'q', sizeof(data));
    struct nvlog_record r = make_record(NVLOG_REDO, 1, 0);
    r.data_checksum = nv_crc32c(0, data, sizeof(data));
    nvlog_record_seal(&r);
    assert_true(nvlog_record_valid(&r, 1, 0));
    assert_true(nvlog_record_data_valid(&r, data));
    /* Any flipped bit of the data is seen; the header alone stays valid. */
    for (size_t i = 0; i < sizeof(data); i += 97) {
        data[i] ^= 0x10;
        assert_false(nvlog_record_data_valid(&r, data));
        data[i] ^= 0x10;
    }
    /* The data checksum is covered by the header's. */
    r.data_checksum ^= 1;
    assert_false(nvlog_record_valid(&r, 1, 0));
}

static void record_bounds(void **state)
{
    (void)state;
    struct nvlog_record r = make_record(NVLOG_UNDO, 1, 0);
    assert_true(nvlog_record_bounded(&r));
    r.data_len = ((uint64_t)1 << NVLOG_MAX_SHIFT) + 1;
    assert_false(nvlog_record_bounded(&r));
    r.data_len = 4096;
    r.file_offset = 4096 + 512; /* not at a block's start */
    assert_false(nvlog_record_bounded(&r));
    r.file_offset = UINT64_MAX - 4095; /* would wrap */
    assert_false(nvlog_record_bounded(&r));
    r.file_offset = (uint64_t)1 << 48;
    assert_false(nvlog_record_bounded(&r));
    r.file_offset = ((uint64_t)1 << 48) - 4096;
    assert_true(nvlog_record_bounded(&r));
}

static void record_span(void **state)
{
    (void)state;
    assert_int_equal(nvlog_record_span(0), 64);
    assert_int_equal(nvlog_record_span(1), 128);
    assert_int_equal(nvlog_record_span(63), 128);
    assert_int_equal(nvlog_record_span(64), 128);
    assert_int_equal(nvlog_record_span(65), 192);
    assert_int_equal(nvlog_record_span(4096), 4096 + 64);
    assert_int_equal(nvlog_record_span(4097), 4096 + 128);
    assert_int_equal(nvlog_record_span((size_t)1 << NVLOG_MAX_SHIFT), (2u << 20) + 64);
    for (size_t n = 0; n < 1000; n++) {
        size_t s = nvlog_record_span(n);
        assert_int_equal(s % NVLOG_ALIGN, 0);
        assert_true(s >= sizeof(struct nvlog_record) + n);
        assert_true(s < sizeof(struct nvlog_record) + n + NVLOG_ALIGN);
    }
}

/* ---- identities --------------------------------------------------------- */

static void identity_equal(void **state)
{
    (void)state;
    struct nvlog_identity a = {.dev = 1, .ino = 2, .btime_sec = 3, .btime_nsec = 4};
    struct nvlog_identity b = a;
    assert_true(nvlog_identity_equal(&a, &b));
    assert_true(nvlog_identity_equal(&a, &a));

    /* The reserved word is not part of the identity. */
    b.reserved = 99;
    assert_true(nvlog_identity_equal(&a, &b));

    b = a;
    b.dev++;
    assert_false(nvlog_identity_equal(&a, &b));
    b = a;
    b.ino++;
    assert_false(nvlog_identity_equal(&a, &b));
    b = a;
    b.btime_sec = -3;
    assert_false(nvlog_identity_equal(&a, &b));
    b = a;
    b.btime_nsec++;
    assert_false(nvlog_identity_equal(&a, &b));
    /* Same inode number, later birth: a new file reusing the inode. */
    b = a;
    b.btime_sec++;
    b.btime_nsec = 0;
    assert_false(nvlog_identity_equal(&a, &b));
}

/* ---- the watch ---------------------------------------------------------- */

static struct nvlog_watch watch_entry(uint64_t seq, uint64_t size)
{
    struct nvlog_watch w = {.seq = seq, .size = size, .flags = NVLOG_WATCH_SIZE};
    nvlog_watch_seal(&w);
    return w;
}

static void watch_current_picks_higher_seq_and_survives_a_tear(void **state)
{
    (void)state;
    static unsigned char sb[NVLOG_HEADER_SIZE];
    memset(sb, 0, sizeof(sb));
    assert_null(nvlog_watch_current(sb)); /* a log without a watch */
    struct nvlog_watch a = watch_entry(1, 100), b = watch_entry(2, 200);
    assert_int_equal(nvlog_watch_offset(1), NVLOG_WATCH_OFFSET + sizeof(a));
    assert_int_equal(nvlog_watch_offset(2), NVLOG_WATCH_OFFSET);
    memcpy(sb + nvlog_watch_offset(a.seq), &a, sizeof(a));
    memcpy(sb + nvlog_watch_offset(b.seq), &b, sizeof(b));
    assert_int_equal(nvlog_watch_current(sb)->size, 200);
    /* The commit slots do not overlap it. */
    assert_true(NVLOG_SLOT_STRIDE + sizeof(struct nvlog_slot) <= NVLOG_WATCH_OFFSET);
    for (size_t bit = 0; bit < 8 * sizeof(b); bit++) {
        unsigned char *p = sb + nvlog_watch_offset(b.seq);
        p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        assert_int_equal(nvlog_watch_current(sb)->size, 100);
        p[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32c_known_values),
        cmocka_unit_test(crc32c_paths_agree),
        cmocka_unit_test(slot_seal_and_valid),
        cmocka_unit_test(slot_every_bit_flip_detected),
        cmocka_unit_test(slot_current_picks_higher_seq),
        cmocka_unit_test(slot_current_torn_falls_back),
        cmocka_unit_test(slot_current_both_invalid),
        cmocka_unit_test(slot_offset_alternates),
        cmocka_unit_test(record_seal_and_valid),
        cmocka_unit_test(record_rejects_wrong_gen_index_kind),
        cmocka_unit_test(record_every_bit_flip_detected),
        cmocka_unit_test(record_span),
        cmocka_unit_test(record_data_checksum),
        cmocka_unit_test(record_bounds),
        cmocka_unit_test(identity_equal),
        cmocka_unit_test(watch_current_picks_higher_seq_and_survives_a_tear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
