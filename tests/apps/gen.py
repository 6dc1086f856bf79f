#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""gen.py - deterministic inputs for the application scenarios.

  gen.py bin    FILE SIZE SEED           random bytes (a seeded PRNG)
  gen.py text   FILE SIZE SEED           lines of words, about SIZE bytes
  gen.py sparse FILE SIZE SEED EXTENT... data extents OFF:LEN, holes elsewhere
                                         (SIZE is the final size)

Every size may carry a K or M suffix (KiB, MiB). The same arguments give the
same bytes on every machine (random.Random with an integer seed is stable
across Python 3 versions for randbytes and randrange).
"""
import random
import sys


def size(s):
    mult = {"K": 1 << 10, "M": 1 << 20}.get(s[-1:].upper(), 1)
    return int(s[:-1] if mult > 1 else s) * mult


def rbytes(rng, n):
    # randbytes appeared in 3.9; getrandbits is stable and older.
    if n == 0:
        return b""
    return rng.getrandbits(8 * n).to_bytes(n, "little")


WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima "
         "mike november oscar papa quebec romeo sierra tango uniform victor whiskey "
         "xray yankee zulu 0 1 2 3 4 5 6 7 8 9 pmem log epoch undo redo").split()


def main(argv):
    kind, path, n, seed = argv[1], argv[2], size(argv[3]), int(argv[4])
    rng = random.Random(seed)
    if kind == "bin":
        with open(path, "wb") as f:
            f.write(rbytes(rng, n))
    elif kind == "text":
        out, total = [], 0
        while total < n:
            line = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 12))) + "\n"
            out.append(line)
            total += len(line)
        with open(path, "w") as f:
            f.write("".join(out))
    elif kind == "sparse":
        with open(path, "wb") as f:
            for ext in argv[5:]:
                off, ln = (size(x) for x in ext.split(":"))
                f.seek(off)
                f.write(rbytes(rng, ln))
            f.truncate(n)
    else:
        sys.exit("gen.py: unknown kind " + kind)


if __name__ == "__main__":
    main(sys.argv)
