#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# multiuser.sh LIB DIFFTEST KILLTEST
#
# A pmem root shared by root and an unprivileged user (65534, through
# setpriv): root uses the library under the root first, then the user
#  - gets from open, creat and truncate exactly what the kernel gives it
#    (the same calls without the library, on a twin set of files), and a
#    failed call leaves no file behind; so does a file it made with a mode
#    that denies it what its descriptor may do (git's objects are 0444);
#  - can neither read nor change root's log, lock file or data, and its own
#    logs are its own, mode 0600; a log or share block that root's process
#    keeps for reuse from one user's file serves only that user's files;
#  - recovers its own file after SIGKILL, and root recovers it as well (the
#    log root makes for the user's file is the user's);
#  - root without CAP_CHOWN, CAP_FOWNER and CAP_DAC_OVERRIDE (a service's
#    bounded set) gets the kernel's results on the user's files, and so
#    does root inside the user's own user namespace on root's files;
#  - a process that opened root's file as root and then became the user
#    (through the C library, or the bare system calls) gets the kernel's
#    results, leaves no log that would hold or cut the file later, and its
#    own files recover after a SIGKILL;
#  - a file given to another owner while a process serves it (chown, both
#    ways) keeps every write of that process, and others reach it meanwhile
#    through the kernel;
#  - a write by the owner takes set-user-ID and set-group-ID bits away as
#    the kernel's does (root keeps them);
#  - a log another user planted under a file's log name is never applied,
#    and the file's owner is not locked out (the kernel serves it);
#  - a user who may not make logs in a root's log directory gets the
#    kernel's results for its files, with one message;
#  - passes the differential tester under the shared root and a SIGKILL
#    loop of its own.
# Everything lives in a fresh directory under /dev/shm, removed at the end.
# Skipped (77) unless run as root with setpriv.
set -u
if [ $# -ne 3 ]; then
    echo "usage: $0 LIB DIFFTEST KILLTEST" >&2
    exit 2
fi
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
    echo "skipped: needs root and setpriv (it runs an unprivileged user)"
    exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
U=65534
T=$(mktemp -d /dev/shm/nvmmio-users.XXXXXX) || exit 2
trap 'rm -rf -- "$T"' EXIT
chmod 755 "$T"
# The user must reach the binaries: copies in a directory anyone may read.
mkdir "$T/bin"
cp "$1" "$2" "$3" "$here/fsops.py" "$T/bin/" || exit 2
chmod -R a+rX "$T/bin"
lib=$T/bin/$(basename "$1")
difftest=$T/bin/$(basename "$2")
killtest=$T/bin/$(basename "$3")
preload=$lib
asan=$(ldd "$lib" 2>/dev/null | awk '/libasan\.so/ { print $3; exit }')
[ -z "$asan" ] || preload="$asan:$lib"
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0
R=$T/root
mkdir -m 1777 "$R"

lib_root() { env LD_PRELOAD="$preload" NVMMIO_PATH="$R" "$@"; }
user() { setpriv --reuid=$U --regid=$U --clear-groups env HOME="$T" "$@"; }
lib_user() { user env LD_PRELOAD="$preload" NVMMIO_PATH="$R" "$@"; }
ops="python3 $T/bin/fsops.py"

. "$here/checks.sh"
owner_mode() { stat -c '%U %a' "$1"; }
log_of() { # the log name of a file: DEV-INO.log in hex
    printf '%s/.nvmmio/%x-%x.log' "$R" "$(stat -c '%d' "$1")" "$(stat -c '%i' "$1")"
}
is() { [ "$1" = "$2" ] || { echo "  got '$1', want '$2'"; return 1; }; }
fails() { ! "$@" 2>/dev/null; }

echo "== root uses the root first"
lib_root $ops write "$R/r600" "root secret" && chmod 600 "$R/r600"
lib_root $ops write "$R/rcrash" "root committed"
lib_root $ops crash "$R/rcrash" "ROOT UNCOMMITTED" 2>/dev/null
rootlog=$(log_of "$R/rcrash")
check "the log directory is root's, sticky and open to all" is "$(owner_mode "$R/.nvmmio")" "root 1777"
check "root's crashed file has a log, root's, mode 0600" is "$(owner_mode "$rootlog")" "root 600"
check "root's lock file is root's, mode 0600" is "$(owner_mode "$R/.nvmmio/owners.0")" "root 600"

echo "== open, creat and truncate: the kernel's results"
for side in lib plain; do
    mkdir -m 1777 "$R/$side"
    mkdir -m 755 "$R/$side/rootdir"
    for m in 600 640 644 666; do
        printf 'root file %s\n' $m >"$R/$side/r$m"
        chmod $m "$R/$side/r$m"
    done
    user sh -c "printf 'user file\n' >'$R/$side/u644'"
    user sh -c "printf 'user file\n' >'$R/$side/u444' && chmod 444 '$R/$side/u444'"
done
files() { for f in r600 r640 r644 r666 u644 u444 rootdir/new new; do echo "$R/$1/$f"; done; }
mapfile -t lf < <(files lib)
mapfile -t pf < <(files plain)
lib_user $ops probe "${lf[@]}" >"$T/lib.out" 2>"$T/lib.err"
user $ops probe "${pf[@]}" >"$T/plain.out"
check "each call gives what the kernel gives ($(wc -l <"$T/plain.out") results)" \
    diff -u --label kernel --label library "$T/plain.out" "$T/lib.out"
check "no warning from the library" is "$(cat "$T/lib.err")" ""
for f in r600 r640 r644 r666 u644 u444 new; do
    check "$f: the same bytes as under the kernel" cmp -s "$R/lib/$f" "$R/plain/$f"
done
mkdir -m 1777 "$R/lib/made" "$R/plain/made"
lib_user $ops made "$R/lib/made" >"$T/lib.made" 2>"$T/lib.made.err"
user $ops made "$R/plain/made" >"$T/plain.made"
check "files made with modes that deny their maker: the kernel's results" \
    diff -u --label kernel --label library "$T/plain.made" "$T/lib.made"
check "and no warning" is "$(cat "$T/lib.made.err")" ""
check "the user's lock file is the user's, mode 0600" \
    is "$(owner_mode "$R/.nvmmio/owners.$U")" "nobody 600"

echo "== the user and root's logs"
check "the user cannot read root's log" fails user cat "$rootlog"
check "the user cannot write root's log" fails user sh -c "echo x >>'$rootlog'"
check "the user cannot remove root's log" fails user rm -f "$rootlog"
check "the user cannot rename root's log" fails user mv "$rootlog" "$R/.nvmmio/mine.log"
check "the user cannot lock root's files" fails user sh -c "exec 3<>'$R/.nvmmio/owners.0'"
check "root's log is still there" test -f "$rootlog"
check "root recovers its file" is "$(lib_root $ops cat "$R/rcrash")" "root committed"
check "root's log is gone then" fails test -e "$rootlog"

echo "== logs and share blocks kept for reuse keep their owners"
# Root's process closes one file (its log and share block stay as spares)
# and then writes another user's file: that file's log and block must not
# be the first file's owner's, nor hold the first file's bytes.
share_of() { local l; l=$(log_of "$1"); echo "${l%.log}.share"; }
for order in user-then-root root-then-user; do
    d=$R/spares-$order
    mkdir -m 1777 "$d"
    printf 'root first\n' >"$d/rootfile"
    user sh -c "printf 'user first\n' >'$d/userfile'"
    if [ $order = user-then-root ]; then
        first=$d/userfile second=$d/rootsecret owner=root
        lib_root $ops secondfile "$first" "$second" "ROOTSECRET" 2>/dev/null
    else
        printf 'x' >"$d/usersecret" && chown $U "$d/usersecret"
        first=$d/rootfile second=$d/usersecret owner=nobody
        lib_root $ops secondfile "$first" "$second" "USERSECRET" 2>/dev/null
    fi
    check "$order: the second file's log is its owner's" \
        is "$(stat -c %U "$(log_of "$second")")" $owner
    if [ -e "$(share_of "$second")" ]; then
        check "$order: and its share block" is "$(stat -c %U "$(share_of "$second")")" $owner
    fi
    check "$order: the user reads nobody else's bytes in the log directory" \
        is "$(user grep -l -a ROOTSECRET "$R"/.nvmmio/* 2>/dev/null)" ""
    [ $order = user-then-root ] || check "$order: no root-owned file there holds the user's bytes" \
        is "$(find "$R/.nvmmio" -user root -type f -exec grep -l -a USERSECRET {} + 2>/dev/null)" ""
    check "$order: the second file recovers" is "$(lib_root $ops cat "$second")" \
        "$([ $order = user-then-root ] && echo ROOTSECRET || echo USERSECRET)"
done

echo "== SIGKILL of the user's process under the shared root"
lib_user $ops write "$R/ucrash" "user committed"
lib_user $ops crash "$R/ucrash" "USER UNCOMMITTED" 2>/dev/null
ulog=$(log_of "$R/ucrash")
check "the user's log is the user's, mode 0600" is "$(owner_mode "$ulog")" "nobody 600"
check "the user recovers its file" is "$(lib_user $ops cat "$R/ucrash")" "user committed"
check "the user's log is gone then" fails test -e "$ulog"
lib_user $ops crash "$R/ucrash" "USER AGAIN" 2>/dev/null
check "root recovers the user's file" is "$(lib_root $ops cat "$R/ucrash")" "user committed"
lib_root $ops crash "$R/ucrash" "ROOT IN USER FILE" 2>/dev/null
check "a log root makes for the user's file is the user's" is "$(owner_mode "$ulog")" "nobody 600"
check "the user recovers from it" is "$(lib_user $ops cat "$R/ucrash")" "user committed"

echo "== a process that gives root up"
# It opened and wrote its file as root; the user it becomes may neither
# remove the log made as root nor make one the owner accepts.
for how in libc raw; do
    [ $how = libc ] || [ "$(uname -m)" = x86_64 ] || continue
    mkdir -m 1777 "$R/drop-$how" "$R/drop-$how-plain"
    lib_root $ops dropuser $how "$R/drop-$how/f" >"$T/drop.lib" 2>"$T/drop.err"
    python3 "$T/bin/fsops.py" dropuser $how "$R/drop-$how-plain/f" >"$T/drop.plain"
    check "$how: every call as the kernel answers it" \
        diff -u --label kernel --label library "$T/drop.plain" "$T/drop.lib"
    check "$how: the bytes" is "$(cat "$R/drop-$how/f")" "root part;user part;"
    check "$how: no warning" is "$(cat "$T/drop.err")" ""
    printf 'appended' >>"$R/drop-$how/f"
    check "$how: root's next open reads what another program appended since" \
        is "$(lib_root $ops cat "$R/drop-$how/f")" "root part;user part;appended"
    check "$how: and leaves no log" is "$(ls "$R/.nvmmio" | grep -c '\.log$')" 0
done
mkdir -m 1777 "$R/dropkill"
lib_root $ops dropuser libc "$R/dropkill/f" "$R/dropkill/own" >/dev/null 2>&1
check "killed after giving root up: root's file reads as the kernel left it" \
    is "$(lib_root $ops cat "$R/dropkill/f")" "root part;user part;"
check "the user's own file recovers" is "$(lib_user $ops cat "$R/dropkill/own")" "own committed"
check "and no log is left" is "$(ls "$R/.nvmmio" | grep -c '\.log$')" 0

echo "== root without the capabilities to act for other users"
# A service's bounded set: root may not give a log to the file's owner.
capless() { setpriv --bounding-set=-chown,-fowner,-dac_override,-dac_read_search "$@"; }
for side in lib plain; do
    mkdir -m 1777 "$R/cap-$side"
    user sh -c "printf 'user file\n' >'$R/cap-$side/u666' && chmod 666 '$R/cap-$side/u666'"
    user sh -c "printf 'user file\n' >'$R/cap-$side/u644'"
done
capless env LD_PRELOAD="$preload" NVMMIO_PATH="$R" $ops probe \
    "$R/cap-lib/u666" "$R/cap-lib/u644" "$R/cap-lib/new" >"$T/cap.lib" 2>"$T/cap.err"
capless $ops probe "$R/cap-plain/u666" "$R/cap-plain/u644" "$R/cap-plain/new" >"$T/cap.plain"
check "each call gives what the kernel gives" \
    diff -u --label kernel --label library "$T/cap.plain" "$T/cap.lib"
check "no warning" is "$(cat "$T/cap.err")" ""
for f in u666 u644 new; do
    check "$f: the same bytes as under the kernel" cmp -s "$R/cap-lib/$f" "$R/cap-plain/$f"
done

echo "== the user's own user namespace (a rootless container)"
# Root inside, with every capability there; root's files outside show as
# the overflow user, to whom nothing can be given.
if user unshare -r true 2>/dev/null; then
    for side in lib plain; do
        mkdir -m 1777 "$R/ns-$side"
        printf 'root file\n' >"$R/ns-$side/r666" && chmod 666 "$R/ns-$side/r666"
    done
    user unshare -r env LD_PRELOAD="$preload" NVMMIO_PATH="$R" $ops probe \
        "$R/ns-lib/r666" "$R/ns-lib/new" >"$T/ns.lib" 2>"$T/ns.err"
    user unshare -r $ops probe "$R/ns-plain/r666" "$R/ns-plain/new" >"$T/ns.plain"
    check "each call gives what the kernel gives" \
        diff -u --label kernel --label library "$T/ns.plain" "$T/ns.lib"
    check "no warning" is "$(cat "$T/ns.err")" ""
    for f in r666 new; do
        check "$f: the same bytes as under the kernel" cmp -s "$R/ns-lib/$f" "$R/ns-plain/$f"
    done
else
    echo "skipped: this machine gives users no user namespace (unshare -r)"
fi

echo "== a failed open leaves nothing behind"
rm -f "$R/.nvmmio/owners.$U"
ln -s /etc/passwd "$R/.nvmmio/owners.$U"
lib_user python3 -c "import os; os.open('$R/made', os.O_WRONLY | os.O_CREAT, 0o644)" \
    2>"$T/made.err"
check "creating a file is refused when its lock file is planted" is "$?" 1
check "with a message" grep -q "refusing the lock file" "$T/made.err"
check "and the file is not there" fails test -e "$R/made"
rm -f "$R/.nvmmio/owners.$U"

echo "== a file given to another owner while a process serves it"
# The holder wrote bbbb over AAAAAAAAAA after its fsync; the file goes to
# the other owner; a process of the new owner (or root) reads it.
for way in root-to-user user-to-root; do
    f=$R/chown-$way
    if [ $way = root-to-user ]; then
        coproc HOLD { lib_root $ops hold "$f"; }
    else
        coproc HOLD { lib_user $ops hold "$f"; }
    fi
    read -r -t 30 word <&"${HOLD[0]}"
    check "$way: the holder is ready" is "$word" ready
    if [ $way = root-to-user ]; then chown $U "$f"; else chown 0 "$f"; fi
    check "$way: root reads the holder's write" is "$(lib_root $ops cat "$f" 2>&1)" bbbbAAAAAA
    [ $way = root-to-user ] &&
        check "$way: so does the new owner" is "$(lib_user $ops cat "$f" 2>&1)" bbbbAAAAAA
    echo >&"${HOLD[1]}"
    read -r -t 30 word <&"${HOLD[0]}"
    check "$way: the holder reads its own write" is "$word" bbbbAAAAAA
    wait "$HOLD_PID"
    check "$way: and it stays after the holder's close" is "$(cat "$f")" bbbbAAAAAA
done
# Nothing in flight: no log, but the share block is the former owner's.
f=$R/chown-synced
coproc HOLD { lib_root $ops hold "$f" synced; }
read -r -t 30 word <&"${HOLD[0]}"
chown $U "$f"
lib_root python3 -c "import os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR); time.sleep(0.05); os.pwrite(fd, b'cc', 0); os.close(fd)" "$f"
check "synced: root's write beside the holder is there" is "$(lib_root $ops cat "$f")" ccAAAAAAAA
echo >&"${HOLD[1]}"
read -r -t 30 word <&"${HOLD[0]}"
check "synced: the holder reads it" is "$word" ccAAAAAAAA
wait "$HOLD_PID"
check "synced: so does the kernel after the holder's close" is "$(cat "$f")" ccAAAAAAAA

echo "== a write takes set-user-ID and set-group-ID bits away as the kernel's"
poke() { "$@" python3 -c "import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY); os.pwrite(fd, b'X', 100); print(oct(os.fstat(fd).st_mode & 0o7777)); os.close(fd)" "$f"; }
for m in 6755 2745 4700; do
    for side in plain lib; do
        f=$R/suid-$side-$m
        head -c 8192 /dev/zero >"$f" && chown $U "$f" && chmod $m "$f"
    done
    f=$R/suid-plain-$m
    want=$(poke user)
    f=$R/suid-lib-$m
    check "mode $m: as the kernel's, while open" is "$(poke lib_user)" "$want"
    check "mode $m: and after" is "$(stat -c %a "$f")" "$(stat -c %a "$R/suid-plain-$m")"
done
f=$R/suid-root
head -c 8192 /dev/zero >"$f" && chmod 6755 "$f"
check "root keeps them (CAP_FSETID)" is "$(poke lib_root)" 0o6755

echo "== a log planted by another user"
lib_root $ops write "$R/planted" "root data"
user touch "$(log_of "$R/planted")"
check "root's file opens, through the kernel, with the log refused" \
    is "$(lib_root $ops cat "$R/planted" 2>"$T/plant.err")" "root data"
check "with a message" grep -q "refusing the log.*the kernel serves the file" "$T/plant.err"
rm -f "$(log_of "$R/planted")"

echo "== a user who may not make logs in the log directory"
# A root whose log directory is root's, mode 0755: the user's own files
# are the kernel's.
R2=$T/root2
mkdir -m 755 "$R2" "$R2/.nvmmio" && mkdir "$R2/home" && chown $U "$R2/home"
user env LD_PRELOAD="$preload" NVMMIO_PATH="$R2" sh -c \
    "echo hello >'$R2/home/f' && cat '$R2/home/f'" >"$T/nolog.out" 2>"$T/nolog.err"
check "the user writes and reads its file" is "$(cat "$T/nolog.out")" hello
check "with one message a process (sh and cat)" is "$(grep -c "may not make logs" "$T/nolog.err")" 2
rm -rf "$R2/.nvmmio"
user env LD_PRELOAD="$preload" NVMMIO_PATH="$R2" sh -c \
    "echo again >'$R2/home/g' && cat '$R2/home/g'" >"$T/nolog.out" 2>/dev/null
check "also where it may not make the directory" is "$(cat "$T/nolog.out")" again

echo "== the differential tester as the user, under the shared root"
mkdir "$T/uplain" && chown $U "$T/uplain"
user mkdir "$R/udiff"
lib_user "$difftest" --seed 11 --ops 20000 --managed "$R/udiff" --plain "$T/uplain" \
    >"$T/diff.out" 2>&1
check "difftest passes" is "$?" 0 || tail -n 30 "$T/diff.out"

echo "== a SIGKILL loop as the user"
mkdir "$T/ukill" && chown $U "$T/ukill"
user "$killtest" --lib "$lib" --kills 40 --seed 5 --dir "$T/ukill" >"$T/kill.out" 2>&1
check "killtest passes" is "$?" 0 || tail -n 30 "$T/kill.out"

checks_done multiuser
