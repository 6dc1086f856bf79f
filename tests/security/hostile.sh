#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# hostile.sh LIB
#
# Logs and log directories tampered with between a crash and the next open:
# a log swapped with another file's, replaced by a symbolic link, writable
# by others, owned by another user, cut short, or with damaged record data;
# a log directory that is a symbolic link or writable by all without the
# sticky bit. Each must be refused with a message on stderr, nothing
# applied, the file and the log left as they are; put back, the log
# recovers the file. The open fails, but for a log of another owner, which
# the kernel serves the file past. Works in a fresh directory under /dev/shm.
set -u
if [ $# -ne 1 ]; then
    echo "usage: $0 LIB" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /dev/shm/nvmmio-hostile.XXXXXX) || exit 2
trap 'rm -rf -- "$T"' EXIT
preload=$1
asan=$(ldd "$1" 2>/dev/null | awk '/libasan\.so/ { print $3; exit }')
[ -z "$asan" ] || preload="$asan:$1"
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0
ops="python3 $here/fsops.py"
R=$T/root
mkdir "$R"
lib() { env LD_PRELOAD="$preload" NVMMIO_PATH="$R" "$@"; }

. "$here/checks.sh"
log_of() { printf '%s/.nvmmio/%x-%x.log' "$R" "$(stat -c '%d' "$1")" "$(stat -c '%i' "$1")"; }

# h1 and h2 each crash with an uncommitted write over a committed one.
for f in h1 h2; do
    lib $ops write "$R/$f" "$f committed"
    lib $ops crash "$R/$f" "${f^^} UNCOMMITTED" 2>/dev/null
done
L1=$(log_of "$R/h1")
L2=$(log_of "$R/h2")
cp -p "$R/h1" "$T/h1.raw"
cp -p "$L1" "$T/l1.saved"

# refused WHY: opening h1 fails with a message saying WHY, and neither h1
# nor its log (or what stands in its place) changes.
refused() {
    local why=$1 before after
    before=$(cat "$L1" 2>/dev/null | md5sum)
    lib $ops cat "$R/h1" >/dev/null 2>"$T/err" && {
        echo "  the open succeeded"
        return 1
    }
    grep -q "refusing.*$why" "$T/err" || {
        echo "  stderr: $(cat "$T/err")"
        return 1
    }
    after=$(cat "$L1" 2>/dev/null | md5sum)
    cmp -s "$R/h1" "$T/h1.raw" && [ "$before" = "$after" ]
}
restore() {
    rm -f "$L1"
    cp -p "$T/l1.saved" "$L1"
}

mv "$L1" "$T/swap" && mv "$L2" "$L1" && mv "$T/swap" "$L2"
check "a log swapped with another file's is refused" refused "belongs to another file"
mv "$L1" "$T/swap" && mv "$L2" "$L1" && mv "$T/swap" "$L2"

mv "$L1" "$L1.real" && ln -s "$L1.real" "$L1"
check "a symbolic link in place of the log is refused" refused "symbolic link"
rm "$L1" && mv "$L1.real" "$L1"

chmod 666 "$L1"
check "a log others may write is refused" refused "may write it"
chmod 620 "$L1"
check "a log the group may write is refused" refused "may write it"
chmod 600 "$L1"

# served WHY: h1 opens, through the kernel, with a message saying WHY;
# neither h1 nor its log changes. A log neither the file's owner nor root
# owns was made by another user (or is a former owner's): never applied,
# and no reason to lock the owner out.
served() {
    local why=$1 before after
    before=$(md5sum <"$L1")
    lib $ops cat "$R/h1" >"$T/out" 2>"$T/err" || {
        echo "  the open failed: $(cat "$T/err")"
        return 1
    }
    grep -q "refusing.*$why.*the kernel serves the file" "$T/err" || {
        echo "  stderr: $(cat "$T/err")"
        return 1
    }
    after=$(md5sum <"$L1")
    cmp -s "$T/out" "$T/h1.raw" && cmp -s "$R/h1" "$T/h1.raw" && [ "$before" = "$after" ]
}
chown 65534 "$L1" 2>/dev/null && {
    check "a log of another owner is refused, the file served by the kernel" served \
        "not owned by the data file's owner"
    chown 0 "$L1"
}

truncate -s 100 "$L1"
check "a log cut short of its header is refused" refused "shorter than its header"
restore

ln "$L1" "$T/second-link"
check "a log with a second link is refused" refused "other links"
rm "$T/second-link"

# The first record's data (the undo record of the crashed write).
printf '\x5a' | dd of="$L1" bs=1 seek=$((4096 + 64 + 3)) conv=notrunc status=none
check "a log whose record data is damaged is refused" refused "checksum (record at log offset 4096)"
restore

check "put back, the log recovers h1" [ "$(lib $ops cat "$R/h1")" = "h1 committed" ]
check "and h2" [ "$(lib $ops cat "$R/h2")" = "h2 committed" ]
check "both logs are gone then" [ ! -e "$L1" ] && [ ! -e "$L2" ]

# Log directories.
mkdir "$T/elsewhere"
for kind in link open; do
    D=$T/$kind
    mkdir "$D"
    if [ $kind = link ]; then
        ln -s "$T/elsewhere" "$D/.nvmmio"
    else
        mkdir -m 777 "$D/.nvmmio" && chmod 777 "$D/.nvmmio"
    fi
    env LD_PRELOAD="$preload" NVMMIO_PATH="$D" $ops write "$D/f" "x" 2>"$T/err"
    check "log directory ($kind): the open is refused" [ $? -ne 0 ]
    check "log directory ($kind): with a message" grep -q "refusing the log directory" "$T/err"
    check "log directory ($kind): no file left behind" [ ! -e "$D/f" ]
done
check "nothing was made through the link" [ -z "$(ls -A "$T/elsewhere")" ]

checks_done hostile
