#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Writes the seed inputs of fuzz_recovery: small logs of each kind that
recovery meets (see fuzz_recovery.c for the input's layout: one byte of
switches, then the log file). Usage: make_corpus.py OUTDIR"""
import os
import struct
import sys

POLY = 0x82F63B78
TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ POLY if c & 1 else c >> 1
    TABLE.append(c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


MAGIC = 0x474F4C4F4D4D564E
VERSION = 2
RECORD_MAGIC = 0x4352564E
UNDO, REDO = 1, 2
HEADER = 4096
STRIDE = 256
SLOT = "<QIIQQQqIIQQQQQ3QII"
RECORD = "<IBBHQQQQQQII"


def slot(seq, committed, applied, size, gen, records):
    # The identity stays zero: the fuzzer's switch 1 writes the real one.
    fields = [MAGIC, VERSION, 128, seq, 0, 0, 0, 0, 0, committed, applied, size, gen, records,
              0, 0, 0, 0, 0]
    raw = struct.pack(SLOT, *fields)
    fields[-1] = crc32c(raw)
    return struct.pack(SLOT, *fields)


def record(kind, gen, index, epoch, offset, data):
    fields = [RECORD_MAGIC, kind, 0, 0, gen, index, epoch, offset, len(data), 0, crc32c(data), 0]
    raw = struct.pack(RECORD, *fields)
    fields[-1] = crc32c(raw)
    pad = (-len(data)) % 64
    return struct.pack(RECORD, *fields) + data + b"\0" * pad


def log(slot_args, records):
    head = bytearray(HEADER)
    a = slot(0, *slot_args)
    b = slot(1, *slot_args)
    head[0:128] = a
    head[STRIDE:STRIDE + 128] = b
    body = b"".join(record(*r) for r in records)
    return bytes(head) + body


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    size = 64 << 10
    seeds = {
        "empty": (7, log((0, 0, size, 1, 0), [])),
        "undo_open_epoch": (7, log((0, 0, size, 1, 0), [
            (UNDO, 1, 0, 1, 4096, b"u" * 200),
            (UNDO, 1, 1, 1, 8192, b"v" * 64)])),
        "redo_committed": (7, log((2, 0, size + 4096, 1, 2), [
            (REDO, 1, 0, 1, 0, b"r" * 300),
            (REDO, 1, 1, 2, size, b"s" * 100)])),
        "mixed": (7, log((2, 1, size, 1, 3), [
            (REDO, 1, 0, 1, 4096, b"a" * 128),
            (REDO, 1, 1, 2, 12288, b"b" * 128),
            (UNDO, 1, 2, 3, 0, b"c" * 128)])),
        "shrunk": (7, log((1, 0, 5000, 1, 1), [(REDO, 1, 0, 1, 0, b"x" * 64)])),
        "header_only": (1, log((0, 0, 0, 1, 0), [])[:HEADER]),
        "short": (0, b"NVMMOLOG" + b"\0" * 100),
        "raw_records": (0, log((1, 0, size, 1, 1), [(REDO, 1, 0, 1, 0, b"y" * 64)])),
    }
    for name, (switches, body) in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([switches]) + body)


main()
