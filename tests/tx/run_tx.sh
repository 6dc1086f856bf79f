#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# run_tx.sh KIND PROGRAM [ARGS...]: runs a transactions test in a fresh
# directory under /dev/shm, removed afterwards.
set -eu
kind=$1
shift
dir=$(mktemp -d /dev/shm/nvmmio-tx-"$kind".XXXXXX)
trap 'rm -rf "$dir"' EXIT
"$@" "$dir"
