#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Small file-system actions for the security tests, run under the library
(LD_PRELOAD) or without it; each prints one line per result so two runs can
be compared.

  fsops.py probe FILE...     open/creat/truncate/read of each file
  fsops.py write FILE TEXT   write TEXT at 0, fsync, close
  fsops.py crash FILE TEXT   write TEXT at 0 and die by SIGKILL before any
                             durability point
  fsops.py cat FILE          print the file's bytes
  fsops.py dropuser HOW FILE [OWN]
                             as root, open FILE and write to it, give root
                             up for user 65534 (HOW: libc, or raw for the
                             system calls alone) and write, fsync and close
                             it; with OWN, write OWN (a file of the user's)
                             and die by SIGKILL instead of the fsync
  fsops.py made DIR          files made in DIR with modes that deny their
                             maker what its descriptor may do, written
                             through that descriptor
  fsops.py secondfile FIRST SECOND TEXT
                             write FIRST and close it, so that its log and
                             share block stay spares of this process; then
                             write TEXT to SECOND (mode 0600), fsync, write
                             it over and die by SIGKILL, leaving TEXT in
                             SECOND's undo log
  fsops.py hold FILE [synced]
                             write AAAAAAAAAA to FILE, fsync, write bbbb
                             at 0 (not with synced), print "ready" and wait
                             for a line on stdin; then print what it reads
                             and close
"""
import time
import ctypes
import errno
import os
import signal
import sys

USER = 65534


def result(f, *args):
    try:
        r = f(*args)
        if isinstance(r, int) and f is os.open:
            os.close(r)
            return "ok"
        return "ok" if r is None else repr(r)
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def read_all(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 1 << 20)
    finally:
        os.close(fd)


def probe(paths):
    for p in paths:
        name = os.path.basename(p)
        print(name, "open-rdonly", result(os.open, p, os.O_RDONLY))
        print(name, "open-rdwr", result(os.open, p, os.O_RDWR))
        print(name, "open-wronly-append", result(os.open, p, os.O_WRONLY | os.O_APPEND))
        print(name, "read", result(read_all, p))
        print(name, "truncate-5", result(os.truncate, p, 5))
        print(name, "read", result(read_all, p))
        print(name, "creat", result(os.open, p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
        print(name, "read", result(read_all, p))
        print(name, "exists", os.path.lexists(p))


def made(d):
    """Each step's result: the kernel lets a descriptor do what its open
    allowed, whatever the file's mode became."""
    def step(label, f, *args):
        print(label, result(f, *args))

    ro = os.path.join(d, "made0444")
    fd = os.open(ro, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o444)
    step("0444: write", os.write, fd, b"hello")
    step("0444: fsync", os.fsync, fd)
    step("0444: pread", os.pread, fd, 16, 0)
    step("0444: close", os.close, fd)
    step("0444: open rdwr again", os.open, ro, os.O_RDWR)
    step("0444: read", read_all, ro)
    wo = os.path.join(d, "made0200")
    fd = os.open(wo, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o200)
    step("0200: write", os.write, fd, b"hello")
    step("0200: close", os.close, fd)
    fd = os.open(wo, os.O_WRONLY | os.O_APPEND)
    step("0200: append", os.write, fd, b" world")
    step("0200: fsync", os.fsync, fd)
    step("0200: close", os.close, fd)
    step("0200: read", read_all, wo)
    ch = os.path.join(d, "chmodded")
    fd = os.open(ch, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    step("chmod: write", os.write, fd, b"abc")
    step("chmod: fchmod 0444", os.fchmod, fd, 0o444)
    rd = os.open(ch, os.O_RDONLY)
    step("chmod: write after", os.write, fd, b"def")
    step("chmod: read by the second", os.pread, rd, 16, 0)
    os.close(rd)
    step("chmod: close", os.close, fd)
    step("chmod: read", read_all, ch)


def dropuser(how, path, own):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b"root part;")
    if how == "raw":
        # this thread alone, as the kernel's calls do: the library's
        # wrappers and the C library's broadcast to every thread are passed by
        libc = ctypes.CDLL(None, use_errno=True)
        SYS_setresgid, SYS_setresuid = 119, 117
        if libc.syscall(SYS_setresgid, USER, USER, USER) or libc.syscall(SYS_setresuid, USER, USER, USER):
            sys.exit("setresuid: " + os.strerror(ctypes.get_errno()))
    else:
        os.setresgid(USER, USER, USER)
        os.setresuid(USER, USER, USER)
    print("write", result(os.write, fd, b"user part;"))
    if own:
        ofd = os.open(own, os.O_RDWR | os.O_CREAT, 0o644)
        os.write(ofd, b"own committed")
        os.fsync(ofd)
        os.pwrite(ofd, b"OWN", 0)
        os.kill(os.getpid(), signal.SIGKILL)
    print("fsync", result(os.fsync, fd))
    print("close", result(os.close, fd))


def secondfile(first, second, text):
    fd = os.open(first, os.O_RDWR)
    os.write(fd, b"first file;")
    time.sleep(0.05)  # long enough for the file to get its share block
    os.close(fd)
    fd = os.open(second, os.O_RDWR | os.O_CREAT, 0o600)
    os.write(fd, text.encode())
    os.fsync(fd)
    os.pwrite(fd, b"x" * len(text), 0)
    time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGKILL)


def hold(path, synced):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.pwrite(fd, b"AAAAAAAAAA", 0)
    os.fsync(fd)
    if not synced:
        os.pwrite(fd, b"bbbb", 0)
    time.sleep(0.05)  # long enough for the file to get its share block
    print("ready", flush=True)
    sys.stdin.readline()
    print(os.pread(fd, 100, 0).decode(), flush=True)
    os.close(fd)


def write(path, text, crash):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, text.encode())
    if crash:
        os.kill(os.getpid(), signal.SIGKILL)
    os.fsync(fd)
    os.close(fd)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "probe":
        probe(args)
    elif cmd in ("write", "crash"):
        write(args[0], args[1], cmd == "crash")
    elif cmd == "dropuser":
        dropuser(args[0], args[1], args[2] if len(args) > 2 else None)
    elif cmd == "secondfile":
        secondfile(args[0], args[1], args[2])
    elif cmd == "hold":
        hold(args[0], len(args) > 1)
    elif cmd == "made":
        made(args[0])
    elif cmd == "cat":
        sys.stdout.write(read_all(args[0]).decode(errors="replace"))
    else:
        sys.exit("unknown command " + cmd)


main()
