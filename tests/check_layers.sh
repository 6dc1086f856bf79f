#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# The library's layers (README, Architecture): interpose -> core -> log ->
# pmem, with os below them all; calls flow down only, and src/mutants.h and
# the public header are for every layer. Fails when a source file includes a
# header of a layer above its own, or when an object file uses a symbol that
# a layer above its own defines: a call back up, including a call of a libc
# name the interposer exports, which would come back through its wrapper.
#
#   check_layers.sh SRC_DIR [OBJECT...]
#
# SRC_DIR is the library's src/; the OBJECTs (files, or ;-separated lists)
# are the library's object files. Without them only the includes are
# checked.
set -u
src=$(cd "${1:?usage: $0 SRC_DIR [OBJECT...]}" && pwd) || exit 2
shift

# The height of each layer.
declare -A height=([os]=0 [pmem]=1 [log]=2 [core]=3 [interpose]=4)

# rank PATH: sets layer to the directory under src/ that PATH (a source, or
# an object named after its source) is in, and rank to its height: -1 when
# that is no layer.
rank() {
    layer=- rank=-1
    [[ $1 =~ /src/([^/]+)/[^/]+$ ]] && layer=${BASH_REMATCH[1]}
    rank=${height[$layer]:--1}
}

violations=0
report() {
    echo "$*"
    violations=$((violations + 1))
}

# ---- includes ---------------------------------------------------------------
inc_re='^([^:]+):([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)"'
while IFS= read -r hit; do
    [[ $hit =~ $inc_re ]] || continue
    file=${BASH_REMATCH[1]} line=${BASH_REMATCH[2]} header=${BASH_REMATCH[3]}
    where=src${file#"$src"}:$line
    case $header in
    mutants.h | ../include/libnvmmio.h) continue ;;
    esac
    rank "$file"
    if [ "$rank" -lt 0 ]; then
        report "$where: not in a layer (includes \"$header\")"
        continue
    fi
    to=${header%%/*}
    if [ -z "$to" ] || [ "$to" = "$header" ] || [ -z "${height[$to]:-}" ]; then
        report "$where: \"$header\" is no layer's header"
    elif [ "${height[$to]}" -gt "$rank" ]; then
        report "$where: $layer includes \"$header\", a header of $to above it"
    fi
done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$src" --include='*.c' --include='*.h')

# ---- symbols ----------------------------------------------------------------
objects=()
for arg in "$@"; do
    IFS=';' read -ra list <<<"$arg"
    objects+=("${list[@]}")
done
declare -A owner # global symbol -> the object that defines it
for o in "${objects[@]}"; do
    rank "$o"
    [ "$rank" -ge 0 ] || continue
    while read -r sym; do
        owner[$sym]=$o
    done < <(nm --defined-only "$o" | awk '$2 ~ /^[BDGRSTVWi]$/ { print $3 }')
done
for o in "${objects[@]}"; do
    rank "$o"
    from=$layer from_rank=$rank
    [ "$from_rank" -ge 0 ] || continue
    while read -r sym; do
        def=${owner[$sym]:-}
        [ -n "$def" ] || continue
        rank "$def"
        if [ "$rank" -gt "$from_rank" ]; then
            report "src/$from/$(basename "$o" .o): $from uses $sym, which $layer defines" \
                "(src/$layer/$(basename "$def" .o))"
        fi
    done < <(nm --undefined-only "$o" | awk '{ print $NF }')
done

if [ $violations -gt 0 ]; then
    echo "layers: $violations violation(s)"
    exit 1
fi
echo "layers: every include and call goes down (${#objects[@]} objects)"
