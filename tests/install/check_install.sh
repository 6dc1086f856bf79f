#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Installs the build into a fresh prefix and builds two programs against it,
# one with pkg-config and one with find_package (shared and static), then
# runs them: the installed files must be complete and usable as they are.
# usage: check_install.sh BUILD_DIR SOURCE_DIR CC "EXTRA_CFLAGS"
set -eu
build=$1 src=$2 cc=$3 cflags=$4
work=$(mktemp -d /dev/shm/nvmmio-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >"$work/install.log"
libdir=$(cd "$(dirname "$(find "$prefix" -name libnvmmio.pc)")/.." && pwd)
for f in include/libnvmmio.h share/man/man1/nvmmio.1 share/man/man3/libnvmmio.3 \
    share/man/man7/libnvmmio.7 lib/systemd/system/nvmmio-recover.service; do
    [ -f "$prefix/$f" ] || { echo "not installed: $f"; exit 1; }
done
for f in libnvmmio.so.0 libnvmmio.a cmake/libnvmmio/libnvmmioConfig.cmake; do
    [ -e "$libdir/$f" ] || { echo "not installed: lib/$f"; exit 1; }
done
unit=$prefix/lib/systemd/system/nvmmio-recover.service
grep -q "^ExecStart=$prefix/bin/nvmmio recover\$" "$unit" ||
    { echo "the unit does not run $prefix/bin/nvmmio recover"; exit 1; }
if command -v systemd-analyze >/dev/null; then
    # The command is installed only when it is part of the build.
    out=$(systemd-analyze verify --man=no "$unit" 2>&1 |
        grep -v "Command $prefix/bin/nvmmio is not executable") || true
    [ -z "$out" ] || { echo "systemd-analyze verify: $out"; exit 1; }
fi

# pkg-config, with the flags a user would take from it.
export PKG_CONFIG_PATH="$libdir/pkgconfig"
[ "$(pkg-config --modversion libnvmmio)" = "$(sed -n 's/^project(libnvmmio VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")" ] ||
    { echo "libnvmmio.pc has the wrong version"; exit 1; }
# shellcheck disable=SC2046,SC2086
$cc $cflags -o "$work/consumer_pc" "$src/tests/install/consumer/consumer.c" \
    $(pkg-config --cflags --libs libnvmmio)
LD_LIBRARY_PATH=$libdir "$work/consumer_pc" "$work/pc.data"

# find_package, from a project configured against the prefix.
cmake -S "$src/tests/install/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$cflags" >"$work/consumer.log" ||
    { cat "$work/consumer.log"; exit 1; }
cmake --build "$work/consumer" >>"$work/consumer.log" || { cat "$work/consumer.log"; exit 1; }
"$work/consumer/consumer_shared" "$work/shared.data"
# A sanitizer's runtime comes first in a sanitized link and its
# interceptors (write, read...) take the calls the archive would have given.
case $cflags in
*-fsanitize*) echo "static consumer not run in a sanitized build" ;;
*) "$work/consumer/consumer_static" "$work/static.data" ;;
esac
ldd "$work/consumer/consumer_shared" | grep -q "$libdir.*libnvmmio.so.0" ||
    { echo "consumer_shared does not use the installed library"; exit 1; }
echo "install: pkg-config and find_package consumers run"
