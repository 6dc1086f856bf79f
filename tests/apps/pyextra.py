#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""pyextra.py DIR SECTION... - the python_calls, python_fork and
python_dupfd scenarios of run_app.sh: the calls
beyond read/write/lseek that programs use on files, each mixed with plain
reads and writes of the same file in the same process: mmap (both ways),
vectored IO (readv/writev/preadv/pwritev, pwritev2 flags), sendfile,
copy_file_range, posix_fallocate and fallocate (keep size, punch hole,
zero range, through ctypes), descriptors shared with a forked child and
with an exec'd program, and dup2 onto a number the program never opened.
Prints what it sees."""
import ctypes
import hashlib
import mmap
import os
import random
import subprocess
import sys


def h(b):
    return hashlib.sha256(bytes(b)).hexdigest()[:16]


def say(*a):
    print(*a, flush=True)


def whole(path):
    with open(path, "rb") as f:
        return f.read()


DATA = random.Random(11).getrandbits(8 * (1 << 20)).to_bytes(1 << 20, "little")


def sec_mmap(data):
    """mmap after writes through the descriptor, then both ways."""
    fd = os.open("m.bin", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    for i in range(0, len(data), 4096):
        os.write(fd, data[i:i + 4096])
    os.pwrite(fd, b"A" * 10000, 5000)  # overwrite: logged
    m = mmap.mmap(fd, len(data))
    say("mmap sees writes", h(m[:]), h(data[:5000] + b"A" * 10000 + data[15000:]))
    m[100:200] = b"B" * 100
    m.flush()
    say("pread sees mmap store", os.pread(fd, 4, 98))
    os.pwrite(fd, b"C" * 50, 300)
    say("mmap sees pwrite", bytes(m[298:302]))
    m.close()
    os.ftruncate(fd, 3 << 19)
    m = mmap.mmap(fd, 3 << 19)
    say("mmap after grow", bytes(m[(1 << 20) - 2:(1 << 20) + 2]), len(m))
    m.close()
    os.close(fd)
    say("m.bin", os.path.getsize("m.bin"), h(whole("m.bin")))


def sec_vector(data):
    """Vectored IO, with the pwritev2/preadv2 flags."""
    fd = os.open("v.bin", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    say("writev", os.writev(fd, [data[:1000], b"", data[1000:70000], data[70000:70001]]))
    say("lseek cur", os.lseek(fd, 0, os.SEEK_CUR))
    say("pwritev", os.pwritev(fd, [b"x" * 4096, b"y" * 5000], 200000))
    os.lseek(fd, 500, os.SEEK_SET)
    bufs = [bytearray(300), bytearray(0), bytearray(70000)]
    say("readv", os.readv(fd, bufs), h(bufs[0]), h(bufs[2]), os.lseek(fd, 0, os.SEEK_CUR))
    bufs = [bytearray(4000), bytearray(6000)]
    say("preadv", os.preadv(fd, bufs, 199000), h(bufs[0]), h(bufs[1]))
    if hasattr(os, "RWF_DSYNC"):
        say("pwritev2 dsync", os.pwritev(fd, [b"z" * 777], 1234, os.RWF_DSYNC))
        say("pwritev2 append", os.pwritev(fd, [b"end"], 0, os.RWF_APPEND))
        say("preadv2 hipri", os.preadv(fd, [bytearray(10)], 1230, os.RWF_HIPRI))
    say("size", os.fstat(fd).st_size)
    os.close(fd)
    say("v.bin", os.path.getsize("v.bin"), h(whole("v.bin")))


def sec_copy(data):
    """sendfile and copy_file_range between managed files, the source
    written in this process and still open."""
    src = os.open("src.bin", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(src, data)
    os.pwrite(src, b"D" * 3000, 1000)
    dst = os.open("sf.bin", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(dst, b"head")
    say("sendfile", os.sendfile(dst, src, 500, 600000), os.lseek(dst, 0, os.SEEK_CUR))
    say("sendfile sees", h(os.pread(dst, 600004, 0)), h(b"head" + (data[:1000] + b"D" * 3000 + data[4000:])[500:600500]))
    os.lseek(src, 10, os.SEEK_SET)
    cf = os.open("cfr.bin", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    if hasattr(os, "copy_file_range"):
        say("copy_file_range", os.copy_file_range(src, cf, 300000))
        say("offsets", os.lseek(src, 0, os.SEEK_CUR), os.lseek(cf, 0, os.SEEK_CUR))
        say("copy_file_range at", os.copy_file_range(src, cf, 5000, 2000, 1 << 20))
        say("cfr sees", h(os.pread(cf, 2 << 20, 0)), os.fstat(cf).st_size)
    os.close(src)
    os.close(dst)
    os.close(cf)
    say("sf.bin", h(whole("sf.bin")), "cfr.bin", h(whole("cfr.bin")))


def sec_fallocate(data):
    """posix_fallocate, and fallocate through ctypes."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
    fd = os.open("fa.bin", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data[:300000])
    os.posix_fallocate(fd, 250000, 200000)
    say("posix_fallocate size", os.fstat(fd).st_size, os.lseek(fd, 0, os.SEEK_END))
    say("tail zeros", os.pread(fd, 8, 449992))
    say("keep_size", libc.fallocate(fd, 1, 0, 1 << 20), os.fstat(fd).st_size)
    say("punch", libc.fallocate(fd, 3, 4096, 8192), h(os.pread(fd, 16384, 0)))
    say("zero range", libc.fallocate(fd, 0x10, 100000, 5000), h(os.pread(fd, 10000, 98000)))
    os.pwrite(fd, b"after", 449998)
    say("size after", os.fstat(fd).st_size)
    os.close(fd)
    say("fa.bin", os.path.getsize("fa.bin"), h(whole("fa.bin")))


def sec_fork(data):
    """A descriptor shared with a forked child, then with an exec'd
    program: the parent goes on with the offset and size they left."""
    fd = os.open("shared.txt", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b"parent 1\n" * 1000)
    pid = os.fork()
    if pid == 0:
        os.write(fd, b"child\n")
        os.pwrite(fd, b"CHILD", 0)
        os._exit(0)
    os.waitpid(pid, 0)
    say("after fork", os.lseek(fd, 0, os.SEEK_CUR), os.fstat(fd).st_size, os.pread(fd, 9, 0))
    os.write(fd, b"parent 2\n")
    r = subprocess.run(["sh", "-c", "echo exec >&%d; tail -c 9 <&%d" % (fd, fd)], pass_fds=(fd,),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    say("exec child", r.returncode, r.stdout)
    say("after exec", os.lseek(fd, 0, os.SEEK_CUR), os.fstat(fd).st_size)
    os.write(fd, b"parent 3\n")
    os.lseek(fd, -40, os.SEEK_END)
    say("tail", os.read(fd, 100))
    os.close(fd)
    say("shared.txt", os.path.getsize("shared.txt"), h(whole("shared.txt")))


def sec_dupfd(data):
    """dup2 onto a descriptor number the program has never used, as shells
    do for `exec 4>file`."""
    a = os.open("dup_a.bin", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(a, b"A" * 5000)
    x = os.open("dup_x.bin", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(x, b"X" * 100000)
    # a was the lowest free number; run_app.sh closes inherited ones.
    free = next(n for n in range(a + 1, 1024) if n != x)
    say("dup2 onto unused", os.dup2(x, free) == free)
    os.write(a, b"B" * 3000000)
    os.fsync(a)
    os.close(a)
    os.close(free)
    os.close(x)
    say("dup_a.bin", os.path.getsize("dup_a.bin"), h(whole("dup_a.bin")))
    say("dup_x.bin", os.path.getsize("dup_x.bin"), h(whole("dup_x.bin")))


SECTIONS = {"mmap": sec_mmap, "vector": sec_vector, "copy": sec_copy,
            "fallocate": sec_fallocate, "fork": sec_fork, "dupfd": sec_dupfd}


def main(argv):
    os.chdir(argv[1])
    for name in argv[2:]:
        say("==", name)
        SECTIONS[name](DATA)


if __name__ == "__main__":
    main(sys.argv)
