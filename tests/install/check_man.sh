#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The manual pages must lint clean with mandoc (warnings and errors) and
# render through man(1) without a warning.
# usage: check_man.sh MAN_DIR
set -eu
status=0
for page in "$1"/*.[1-9]; do
    if command -v mandoc >/dev/null; then
        out=$(mandoc -T lint -W warning "$page" 2>&1) || true
        [ -z "$out" ] || { echo "$out"; status=1; }
    else
        echo "mandoc is not installed (scripts/deps.sh): lint skipped for $page"
    fi
    out=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null) || { echo "man failed on $page"; status=1; }
    [ -z "$out" ] || { echo "$page: $out"; status=1; }
done
exit $status
