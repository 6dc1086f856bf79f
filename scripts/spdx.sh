#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Puts the SPDX license line at the top of every source file git tracks (C,
# headers, CMake, shell, Python), above the file's own first comment and
# below a #! line. Files that have it already are left alone, so it can be
# run again after a merge. Run from the top of the checkout.
set -eu
c_line='/* SPDX-License-Identifier: BSD-3-Clause */'
hash_line='# SPDX-License-Identifier: BSD-3-Clause'

has_line() { head -n 3 "$1" | grep -q 'SPDX-License-Identifier:'; }

git ls-files '*.c' '*.h' | while read -r f; do
    has_line "$f" || sed -i "1i $c_line" "$f"
done
git ls-files 'CMakeLists.txt' '*/CMakeLists.txt' '*.cmake' '*.cmake.in' | while read -r f; do
    has_line "$f" || sed -i "1i $hash_line" "$f"
done
git ls-files '*.sh' '*.py' | while read -r f; do
    has_line "$f" && continue
    if head -n 1 "$f" | grep -q '^#!'; then
        sed -i "1a $hash_line" "$f"
    else
        sed -i "1i $hash_line" "$f"
    fi
done
