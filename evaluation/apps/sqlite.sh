#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# evaluation/apps/sqlite.sh - the sqlite3 shell, Mobibench-style, in the
# DELETE, TRUNCATE, PERSIST, WAL and OFF journal modes, kernel vs library on
# both media (see sqlite.py). Extra option: --n N rows per phase (2000;
# --quick 100).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# The guest runs about 20 times slower: fewer rows there.
APPS_DAX_ARGS=${APPS_DAX_ARGS:---n 200}
apps_main sqlite "sqlite3" "sqlite3" "sqlite3 $(sqlite3 -version 2>/dev/null | cut -d' ' -f1)" "$@"
