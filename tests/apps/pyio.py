#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""pyio.py DIR - the python scenario of run_app.sh: reads, writes, appends,
seeks and truncations on files under DIR through Python's io stack (buffered
and raw), os-level calls and several descriptors of one file. Prints what it
sees (offsets, sizes, digests); run_app.sh compares it with a plain run."""
import hashlib
import io
import os
import random
import sys


def h(b):
    return hashlib.sha256(b).hexdigest()[:16]


def say(*a):
    print(*a, flush=True)


def file_digest(path):
    with open(path, "rb") as f:
        return h(f.read())


def main(d):
    os.chdir(d)
    rng = random.Random(7)
    src = open("in.bin", "rb").read()
    say("in.bin", len(src), h(src))

    # Chunked reads with tell(), buffered and raw.
    with open("in.bin", "rb") as f:
        parts = []
        while True:
            c = f.read(65537)
            if not c:
                break
            parts.append(h(c))
        say("chunks", len(parts), parts[0], parts[-1], f.tell())
    with open("in.bin", "rb", buffering=0) as f:
        f.seek(-4096, io.SEEK_END)
        say("raw tail", f.tell(), h(f.read()))
        f.seek(12345)
        b = bytearray(1000)
        say("readinto", f.readinto(b), h(bytes(b)), f.tell())

    # Write a new file in pieces, then overwrite at offsets.
    with open("out.bin", "wb") as f:
        for i in range(0, len(src), 300000):
            f.write(src[i:i + 300000])
        say("written", f.tell())
    with open("out.bin", "r+b") as f:
        for _ in range(50):
            off = rng.randrange(0, 3 * 1024 * 1024)
            data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 9000)))
            f.seek(off)
            f.write(data)
        f.flush()
        say("after offset writes", f.seek(0, io.SEEK_END), f.tell())
        f.seek(100)
        say("read back", h(f.read(50000)))
        f.truncate(2500000)
        say("truncated", f.seek(0, io.SEEK_END), os.fstat(f.fileno()).st_size)
        f.seek(3000000)
        f.write(b"past the end")
        f.flush()
        say("gap", os.fstat(f.fileno()).st_size)
        f.seek(2499990)
        say("gap bytes", f.read(30))
    say("out.bin", os.path.getsize("out.bin"), file_digest("out.bin"))

    # Appending: 'a' mode, several descriptors.
    with open("log.txt", "a") as f:
        for i in range(1000):
            f.write("record %d %s\n" % (i, "x" * (i % 50)))
    a = open("log.txt", "ab")
    b = open("log.txt", "ab", buffering=0)
    for i in range(100):
        (a if i % 2 else b).write(b"interleaved %d\n" % i)
        if i % 10 == 0:
            a.flush()
    a.close()
    b.close()
    say("log.txt", os.path.getsize("log.txt"), file_digest("log.txt"))
    with open("log.txt") as f:
        lines = f.readlines()
        say("lines", len(lines), lines[0].strip(), lines[-1].strip())

    # Text mode with seek/tell cookies, readline.
    with open("in.txt", "r+") as f:
        f.readline()
        pos = f.tell()
        line = f.readline()
        f.seek(pos)
        say("readline again", f.readline() == line)
        f.seek(0, io.SEEK_END)
        f.write("appended via r+\n")
    say("in.txt", file_digest("in.txt"))

    # os-level calls: pread/pwrite, lseek, ftruncate, two descriptors.
    fd = os.open("raw.bin", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    fd2 = os.open("raw.bin", os.O_RDONLY)
    say("pwrite", os.pwrite(fd, src[:1 << 20], 4096))
    say("pread other fd", h(os.pread(fd2, 8192, 1 << 19)))
    say("lseek end", os.lseek(fd, 0, os.SEEK_END), os.lseek(fd2, 0, os.SEEK_END))
    os.ftruncate(fd, 700000)
    say("fstat", os.fstat(fd).st_size, os.fstat(fd2).st_size, os.stat("raw.bin").st_size)
    os.lseek(fd, 1 << 21, os.SEEK_SET)
    say("write past end", os.write(fd, b"Z" * 10000))
    os.fsync(fd)
    os.lseek(fd2, 699990, os.SEEK_SET)
    say("read gap", os.read(fd2, 20))
    os.truncate("raw.bin", 1 << 20)
    say("truncate by path", os.fstat(fd2).st_size, os.lseek(fd2, 0, os.SEEK_END))
    os.close(fd)
    os.close(fd2)
    say("raw.bin", os.path.getsize("raw.bin"), file_digest("raw.bin"))

    # Rewrite a file in place through a temporary name and rename.
    with open("out.bin.tmp", "wb") as f:
        f.write(src[::-1][:1500000])
        f.flush()
        os.fsync(f.fileno())
    os.replace("out.bin.tmp", "out.bin")
    say("replaced", file_digest("out.bin"))

    # Read and write on one r+ stream, mixed.
    with open("mixed.bin", "w+b") as f:
        f.write(src[:200000])
        f.seek(1000)
        first = f.read(100)
        f.write(b"M" * 5000)
        f.seek(0)
        say("mixed", h(first), h(f.read()), f.tell())


if __name__ == "__main__":
    main(sys.argv[1])
