#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""fio_check.py FILE BS - what must not vary in a file fio wrote with
--verify (crc32c and the like, one verify header per block of BS bytes):
the number of blocks, how many lack the header magic, how many carry a
header naming another offset (a block written at the wrong place; fio's own
verify cannot see that when the reads are misplaced the same way), and the
sha256 of the file with the header fields that differ from run to run
zeroed (the time the block was written and the header's crc over it).

Layout of fio's struct verify_header (verify.h): u16 magic 0xacca, u16
verify_type, u32 len, u64 rand_seed, u64 offset, u32 time_sec,
u32 time_nsec, u16 thread, u16 numberio, u32 crc32."""
import hashlib
import struct
import sys


def main(path, bs):
    bs = int(bs)
    digest = hashlib.sha256()
    blocks = no_magic = misplaced = 0
    with open(path, "rb") as f:
        pos = 0
        while True:
            block = f.read(bs)
            if not block:
                break
            blocks += 1
            b = bytearray(block)
            if len(b) >= 40 and struct.unpack_from("<H", b, 0)[0] == 0xACCA:
                if struct.unpack_from("<Q", b, 16)[0] != pos:
                    misplaced += 1
                b[24:32] = bytes(8)
                b[36:40] = bytes(4)
            else:
                no_magic += 1
            digest.update(b)
            pos += len(block)
    print("blocks %d, without header %d, misplaced %d, normalised sha256 %s"
          % (blocks, no_magic, misplaced, digest.hexdigest()))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
