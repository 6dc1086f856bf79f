#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Installs the Debian 12 packages the project needs to build, test and run
# its demo, when any is missing. Sourced by test.sh and demo.sh.
nvmmio_install_deps() {
    pkgs="build-essential cmake pkg-config libpmem-dev libcmocka-dev fio clang-format \
          sqlite3 git python3 gnuplot-nox hyperfine time clang libclang-rt-14-dev util-linux rsync mandoc \
          rocksdb-tools redis-server redis-tools"
    missing=""
    for p in $pkgs; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null
}
