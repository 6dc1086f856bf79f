#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# evaluation/apps/rocksdb.sh - RocksDB's db_bench: fillseq, fillrandom and
# overwrite with sync=1 and sync=0, readrandom and readseq with a 1 MiB
# block cache, kernel vs library on both media, data checked with ldb (see
# rocksdb.py). Extra option: --num N keys for sync=1, 20 N for the others
# (5000; --quick 2000).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
apps_main rocksdb "rocksdb-tools" "db_bench ldb" "RocksDB db_bench" "$@"
