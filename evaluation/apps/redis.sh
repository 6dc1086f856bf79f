#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# evaluation/apps/redis.sh - Redis with appendonly yes, appendfsync always
# and everysec, redis-benchmark SET and GET on loopback; the server under the
# library with its data on the medium, kernel vs library on both media, the
# data reloaded without the library and compared (see redis.py). Extra
# option: --n N requests with always, 5 N with everysec (20000; --quick 2000).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
apps_main redis "redis-server redis-tools" "redis-server redis-cli redis-benchmark" "Redis" "$@"
