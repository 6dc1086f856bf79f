#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Builds the Debian package with cpack, installs it into a throwaway root
# with dpkg --root and checks what it holds and declares.
# usage: check_deb.sh BUILD_DIR LIBDIR (the install's, relative to the prefix)
set -eu
build=$1 lib=/usr/$2
work=$(mktemp -d /dev/shm/nvmmio-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT

cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" ||
    { cat "$work/cpack.log"; exit 1; }
deb=$(ls "$work"/out/libnvmmio_*.deb)

dpkg-deb -f "$deb" Depends | grep -q 'libpmem1' || { echo "the package does not depend on libpmem1"; exit 1; }

root=$work/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
: >"$root/var/lib/dpkg/status"
# libpmem1 is not in the throwaway root's database; nothing runs there.
dpkg --root="$root" --force-depends --force-not-root --force-script-chrootless \
    --no-triggers -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; exit 1; }
dpkg --root="$root" -s libnvmmio | grep -q '^Status: install ok' ||
    { echo "dpkg does not list libnvmmio as installed"; exit 1; }

# Every file the package must hold, and nothing outside /usr.
dpkg --root="$root" -L libnvmmio >"$work/files"
for f in $lib/libnvmmio.so.0 $lib/libnvmmio.a /usr/include/libnvmmio.h \
    $lib/pkgconfig/libnvmmio.pc $lib/cmake/libnvmmio/libnvmmioConfig.cmake \
    $lib/cmake/libnvmmio/libnvmmioTargets.cmake /usr/share/man/man1/nvmmio.1 \
    /usr/share/man/man3/libnvmmio.3 /usr/share/man/man7/libnvmmio.7 \
    /usr/lib/systemd/system/nvmmio-recover.service; do
    grep -qx "$f" "$work/files" || { echo "missing from the package: $f"; exit 1; }
    [ -e "$root$f" ] || { echo "not installed from the package: $f"; exit 1; }
done
if grep -v '^/usr\(/\|$\)' "$work/files" | grep -v '^/\.$'; then
    echo "files outside /usr"
    exit 1
fi
grep -qx 'ExecStart=/usr/bin/nvmmio recover' "$root/usr/lib/systemd/system/nvmmio-recover.service" ||
    { echo "the packaged unit does not run /usr/bin/nvmmio recover"; exit 1; }
echo "deb: $(basename "$deb"), $(wc -l <"$work/files") paths"
