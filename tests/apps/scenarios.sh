# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash disable=SC2016
# scenarios.sh - the application scenarios of run_app.sh (sourced by bash).
#
# Scenario NAME is two functions, both run with the work directory as the
# current directory ($D, its absolute path):
#   setup_NAME   makes the inputs, always without the library (deterministic:
#                gen.py with fixed seeds, fixed mtimes where they matter);
#   run_NAME     the programs under test: plainly on side A, with libnvmmio
#                preloaded (and $D the pmem root) on side B. Everything it
#                prints on stdout is compared; stderr is kept but not compared.
# and optionally nondet_NAME, which prints an extended regex of paths (as
# find prints them, relative to $D) whose bytes differ from run to run even
# without the library; run_app.sh leaves their sha256 out of the comparison
# of the two sides (their listing line, size included, stays), and
# `run_app.sh none NAME` (both sides plain) shows that they do differ.
#
# Available: $D, $SCRATCH (a per-side directory that is not compared, for
# logs with timings), $APPS (this directory), $PY (python3), gen (gen.py).
# `step LABEL CMD...` runs CMD and prints "LABEL: rc=N", so a failing step
# shows up in the stdout comparison without ending the scenario.

# The programs scenario NAME runs, beyond python3 (every scenario's inputs
# come from gen.py), bash, coreutils, findutils, diffutils and awk.
needs_of() {
    case $1 in
    tar) echo tar gzip ;;
    inplace) echo sed perl ;;
    fallocate) echo fallocate ;;
    git) echo git ;;
    sqlite_*) echo sqlite3 ;;
    fio_*) echo fio ;;
    times) echo tar rsync ;;
    esac
}

step() {
    local label=$1
    shift
    "$@"
    echo "$label: rc=$?"
}

gen() {
    "$PY" "$APPS/gen.py" "$@"
}

# Sizes of files as this process sees them (stat under the library).
sizes() {
    stat -c '%s %n' "$@"
}

# ---- coreutils ------------------------------------------------------------

SCENARIOS="cp cp_sparse cat dd sha256sum split sort head_tail truncate append"

setup_cp() {
    mkdir in out
    gen bin in/a.bin 3M 1
    gen bin in/b.bin 1048699 2
    gen bin in/small 100 3
    : >in/empty
    gen bin out/existing_big 4M 4
    gen bin out/existing_small 10K 5
    gen bin out/same_size 1048699 6
}

run_cp() {
    step cp_new cp in/a.bin out/a.bin
    step cp_small cp in/small out/small
    step cp_empty cp in/empty out/empty
    step cp_over_bigger cp in/b.bin out/existing_big
    step cp_over_smaller cp in/a.bin out/existing_small
    step cp_over_same_size cp in/b.bin out/same_size
    step cp_again cp in/a.bin out/a.bin
    step cp_r cp -r in out/tree
    step cp_from_copy cp out/a.bin out/a2.bin
    step cmp_a cmp in/a.bin out/a.bin
    step cmp_a2 cmp in/a.bin out/a2.bin
    step cmp_existing_big cmp in/b.bin out/existing_big
    step cmp_existing_small cmp in/a.bin out/existing_small
    step cmp_same_size cmp in/b.bin out/same_size
    step cmp_tree_a cmp in/a.bin out/tree/a.bin
    sizes out/* out/tree/*
}

setup_cp_sparse() {
    mkdir in out
    # holes at the start, in the middle and at the end
    gen sparse in/holes_end 8M 11 1M:64K 3M+100:200K 5M:4K
    gen sparse in/data_end 6M 12 0:4K 2M:1M 5M:1M
    # dense file with runs of zeros that --sparse=always turns into holes
    "$PY" - <<'EOF'
import random
r = random.Random(13)
with open("in/zero_runs", "wb") as f:
    for i in range(48):
        f.write(bytes(65536) if i % 3 == 1 else r.getrandbits(8 * 65536).to_bytes(65536, "little"))
    f.write(bytes(12345))
EOF
    gen bin out/existing 5M 14
}

run_cp_sparse() {
    step cp_holes_end cp --sparse=always in/holes_end out/holes_end
    step cp_data_end cp --sparse=always in/data_end out/data_end
    step cp_zero_runs cp --sparse=always in/zero_runs out/zero_runs
    step cp_over_existing cp --sparse=always in/holes_end out/existing
    step cp_auto cp --sparse=auto in/holes_end out/auto
    step cp_never cp --sparse=never in/data_end out/never
    for f in holes_end data_end zero_runs; do
        step "cmp_$f" cmp in/$f out/$f
    done
    step cmp_existing cmp in/holes_end out/existing
    sizes out/*
}

setup_cat() {
    mkdir in out
    gen bin in/p1 1M 21
    gen bin in/p2 333333 22
    : >in/p3
    gen text in/p4 500K 23
    gen bin out/old 3M 24
}

run_cat() {
    step cat_new sh -c 'cat in/p1 in/p2 in/p3 in/p4 >out/all'
    step cat_over_bigger sh -c 'cat in/p2 in/p4 >out/old'
    step cat_append sh -c 'cat in/p2 in/p1 >>out/all'
    step cat_stdin_mix sh -c 'cat in/p1 - in/p2 <in/p4 >out/mix'
    step cat_of_written sh -c 'cat out/all out/old >out/again'
    sizes out/*
}

setup_dd() {
    mkdir in out
    gen bin in/src 2M 31
    gen bin out/target 1M 32
    gen bin out/t2 512K 33
    gen bin out/t3 100K 34
}

run_dd() {
    step dd_notrunc dd if=in/src of=out/target bs=4096 seek=3 skip=5 count=100 conv=notrunc status=none
    step dd_notrunc_extend dd if=in/src of=out/target bs=1000 seek=2000 skip=7 count=50 conv=notrunc status=none
    step dd_trunc dd if=in/src of=out/t2 bs=4096 seek=10 count=5 status=none
    step dd_new dd if=in/src of=out/new bs=64K count=7 status=none
    step dd_hole dd if=in/src of=out/hole bs=512 seek=10000 count=3 status=none
    step dd_append dd if=in/src of=out/t3 bs=10000 count=3 oflag=append conv=notrunc status=none
    step dd_dsync dd if=in/src of=out/t2 bs=8192 seek=3 skip=1 count=20 oflag=dsync conv=notrunc status=none
    step dd_fsync dd if=in/src of=out/t4 bs=100000 count=3 conv=fsync status=none
    step dd_fdatasync dd if=in/src of=out/t4 bs=4096 seek=1 count=9 conv=fdatasync,notrunc status=none
    step dd_copy_written dd if=out/target of=out/target2 bs=1M status=none
    step dd_stdout sh -c 'dd if=out/target bs=3000 skip=100 count=5 status=none | od -An -tx1 | head -3'
    sizes out/*
}

setup_sha256sum() {
    mkdir in out
    gen bin in/a 3M 41
    gen bin in/b 1 42
    : >in/c
    gen text in/d 700K 43
}

run_sha256sum() {
    sha256sum in/a in/b in/c in/d
    echo "rc=$?"
    step sums_to_file sh -c 'sha256sum in/* >out/SUMS'
    step check sha256sum -c out/SUMS
    step stdin sh -c 'sha256sum <in/a'
    step of_written sh -c 'cp in/a out/a && sha256sum out/a'
}

setup_split() {
    mkdir in out
    gen bin in/a.bin 2600000 51
    gen text in/text 1M 52
}

run_split() {
    step split_b split -b 300000 in/a.bin out/b.
    step split_b_1M split -b 1M -d in/a.bin out/d.
    step split_l split -l 1000 in/text out/l.
    step split_n split -n 3 in/a.bin out/n.
    step split_C split -C 100K in/text out/c.
    step rejoin sh -c 'cat out/b.* >out/rejoined'
    step cmp_rejoined cmp in/a.bin out/rejoined
    find out -type f | wc -l
    sizes out/n.* out/d.*
}

setup_sort() {
    mkdir in out tmp
    gen text in/text 1536K 61
    gen text in/text2 400K 62
    gen bin out/existing 2M 63
    cp in/text2 in/text3
}

run_sort() {
    step sort_in_place sort -o in/text in/text
    step sort_new sort -o out/new in/text2
    step sort_redirect sh -c 'sort in/text2 >out/redir'
    step sort_over_bigger sort -o out/existing in/text2
    step sort_external sort -S 64K -T tmp -o out/external in/text3
    step sort_unique_in_place sort -u -o in/text3 in/text3
    step is_sorted sort -c in/text
    sizes in/* out/*
}

setup_head_tail() {
    mkdir in out
    gen bin in/a.bin 3M 71
    gen text in/text 600K 72
    gen bin out/existing 2M 73
}

run_head_tail() {
    step head_c sh -c 'head -c 1000000 in/a.bin >out/h1'
    step head_c_neg sh -c 'head -c -12345 in/a.bin >out/h2'
    step tail_c sh -c 'tail -c 777777 in/a.bin >out/t1'
    step tail_c_plus sh -c 'tail -c +1000001 in/a.bin >out/t2'
    step head_n sh -c 'head -n 100 in/text >out/hn'
    step tail_n sh -c 'tail -n 100 in/text >out/tn'
    step head_append sh -c 'head -c 5000 in/a.bin >>out/h1'
    step tail_over_bigger sh -c 'tail -c 100000 in/a.bin >out/existing'
    step tail_of_written sh -c 'tail -c 4096 out/h1 | od -An -tx1 | tail -2'
    sizes out/*
}

setup_truncate() {
    mkdir f
    gen bin f/f1 1M 81
    gen bin f/f2 3M 82
    gen bin f/f3 100K 83
    gen bin f/f4 10K 84
}

run_truncate() {
    step grow truncate -s 5M f/f1
    sizes f/f1
    step shrink truncate -s 1000 f/f2
    sizes f/f2
    step plus truncate -s +12345 f/f3
    sizes f/f3
    step minus truncate -s -100 f/f3
    sizes f/f3
    step round_up truncate -s %4096 f/f3
    sizes f/f3
    step at_most truncate -s '<500' f/f2
    sizes f/f2
    step new truncate -s 2M f/new
    step no_create truncate -c -s 10 f/absent
    step reference truncate -r f/f3 f/f4
    step zero truncate -s 0 f/f2
    step regrow truncate -s 70000 f/f2
    sizes f/*
    step read_back sh -c 'od -An -tx1 -j 4090 -N 16 f/f3; tail -c 8 f/f1 | od -An -tx1'
}

setup_append() {
    mkdir in out
    printf 'existing line\n' >out/log
    gen bin in/data 300K 91
    gen text in/text 50K 92
}

run_append() {
    echo "builtin echo" >>out/log
    printf 'builtin printf %s\n' one two three >>out/log
    for i in $(seq 1 200); do echo "entry $i" >>out/log; done
    step cat_append sh -c 'cat in/data >>out/log'
    echo "after cat" >>out/log
    step tee_a sh -c 'tee -a out/log out/log2 <in/text >out/tee_stdout'
    step tee_a_again sh -c 'echo "tee again" | tee -a out/log2 >/dev/null'
    { echo "group start"; cat in/data; echo "group end"; } >>out/group
    exec 3>>out/fd3
    echo one >&3
    cat in/text >&3
    echo two >&3
    exec 3>&-
    step tail_log sh -c 'tail -c 40 out/log | od -c | head -3'
    sizes out/*
}

SCENARIOS="$SCENARIOS shell_redirect"

setup_shell_redirect() {
    mkdir in out
    gen bin in/data 300K 95
    gen text in/text 50K 96
    gen bin out/big1 1M 97
    gen bin out/big2 1M 98
    gen bin out/big3 1M 99
    gen bin out/rw 200K 100
}

# The shell opens (managed in its own process), then a builtin writes
# through its stdout stream, or an external program through the inherited
# descriptor.
run_shell_redirect() {
    echo short >out/big1
    printf '%s\n' one two >out/big2
    step external_over_bigger sh -c 'head -c 1000 in/data >out/big3'
    exec 3<>out/rw
    echo one >&3
    step external_on_rw_fd sh -c 'cat in/text >&3'
    echo two >&3
    step read_rw_fd sh -c 'head -c 16 <&3 | od -An -c'
    exec 3>&-
    exec 4>out/new
    echo first >&4
    cat in/data >&4
    echo last >&4
    exec 4>&-
    {
        echo "grouped builtin"
        head -c 5000 in/data
    } >out/big1
    sizes out/*
}

# ---- in-place editors ------------------------------------------------------

SCENARIOS="$SCENARIOS inplace"

setup_inplace() {
    mkdir in
    gen text in/t1 800K 141
    gen text in/t2 300K 142
    cp in/t1 in/t3
}

# sed -i and perl -pi read the file (managed), write a temporary file made
# with mkostemp (glibc opens it internally, so the library never manages
# it) and rename it over the original, which the library must let go of.
run_inplace() {
    step sed_i sed -i 's/alpha/ALPHA/g; /zulu/d' in/t1
    step sed_i_twice sed -i -e '1i first line' -e '$a last line' in/t1
    step perl_pi perl -pi -e 's/(\d)/<$1>/g' in/t2
    step perl_pi_bak perl -pi.bak -e '$_ = uc' in/t3
    step sed_n sh -c 'sed -n "100,110p" in/t1 >in/t1.part'
    sizes in/*
}

# ---- tar --------------------------------------------------------------------

SCENARIOS="$SCENARIOS tar"

setup_tar() {
    mkdir -p src/dir1/dir2 src/dir3 out x1 x2 x3 x4
    gen bin src/a.bin 1M 101
    gen text src/dir1/b.txt 200K 102
    gen bin src/dir1/dir2/c.bin 300K 103
    : >src/dir3/empty
    gen sparse src/sparse 6M 104 4K:100K 4M:64K
    ln -s dir1/b.txt src/link
    find src -exec touch -h -d @1700000000 {} +
}

run_tar() {
    step tar_cf tar --sort=name -cf out/t.tar src
    step tar_cSf tar --sort=name -cSf out/ts.tar src
    step tar_czf tar --sort=name -czf out/t.tgz src
    step tar_tvf sh -c 'tar -tvf out/t.tar | sed "s/  */ /g"'
    step tar_df tar -df out/t.tar
    step tar_xf tar -xf out/t.tar -C x1
    step tar_xf_sparse tar -xf out/ts.tar -C x2
    step tar_xzf tar -xzf out/t.tgz -C x3
    step tar_x_over tar -xf out/t.tar -C x1
    step tar_pipe sh -c 'tar -cf - src | tar -xf - -C x4'
    for x in x1 x2 x3 x4; do
        step "diff_$x" diff -r src $x/src
    done
    sizes x2/src/sparse
}

# ---- git --------------------------------------------------------------------

SCENARIOS="$SCENARIOS git"

setup_git() {
    mkdir -p home files
    gen text files/readme 20K 111
    gen bin files/blob1 500K 112
    gen text files/log1 300K 113
    gen bin files/blob2 1M 114
}

# The index holds stat data (times, inode numbers) and so differs between
# any two runs; the reflogs and packs made by gc are compared.
nondet_git() {
    echo '^repo/\.git/index$'
}

git_commit() {
    GIT_AUTHOR_DATE="$1 +0000" GIT_COMMITTER_DATE="$1 +0000" git commit -q -m "$2"
    echo "commit '$2': rc=$?"
}

run_git() {
    step init git init -q -b main repo
    cd repo || return 1
    git config user.name "App Test"
    git config user.email "app@test.invalid"
    # one delta-search thread: with several, the pack gc writes may differ
    # from run to run
    git config pack.threads 1
    git config --global core.fsync all
    cp ../files/readme README
    cp ../files/blob1 blob1
    mkdir -p dir/sub
    cp ../files/log1 dir/log
    step add1 git add -A
    git_commit 1700000000 first
    cat ../files/readme >>dir/log
    head -c 1234 ../files/blob2 >dir/sub/small
    step add2 git add -A
    git_commit 1700000100 second
    git mv blob1 dir/blob1
    git rm -q README
    cp ../files/blob2 big
    step add3 git add -A
    git_commit 1700000200 third
    truncate -s 100000 big
    printf 'tail\n' >>dir/sub/small
    step add4 git add -A
    git_commit 1700000300 fourth
    for i in 1 2 3 4 5 6; do
        echo "line $i" >>notes
        git add notes
        git_commit $((1700000400 + i)) "note $i"
    done
    git log --format='%H %T %s'
    step fsck1 sh -c 'git fsck --full --strict 2>&1'
    step gc git gc -q
    step fsck2 sh -c 'git fsck --full --strict 2>&1'
    git log --format='%H %T %s'
    git count-objects -v | grep -v size
    git ls-files -s
    step status git status --porcelain
    step checkout_old git checkout -q HEAD~5
    git ls-files -z | xargs -0 sha256sum
    step checkout_main git checkout -q main
    step reset_hard git reset -q --hard HEAD~1
    git rev-parse HEAD
    step diff_stat git diff --stat HEAD~3
    step cat_file sh -c 'git cat-file -p HEAD~2:big | sha256sum'
}

# ---- python -----------------------------------------------------------------

SCENARIOS="$SCENARIOS python"

setup_python() {
    mkdir work
    gen bin work/in.bin 2M 121
    gen text work/in.txt 300K 122
}

run_python() {
    "$PY" -B "$APPS/pyio.py" work
    echo "rc=$?"
}

SCENARIOS="$SCENARIOS python_calls fallocate python_fork python_dupfd"

# pyextra.py: mmap, vectored IO, sendfile/copy_file_range, each mixed with
# reads and writes of the same open file.
setup_python_calls() { mkdir work; }
run_python_calls() {
    "$PY" -B "$APPS/pyextra.py" work mmap vector copy
    echo "rc=$?"
}

# fallocate(1) of util-linux, then posix_fallocate and fallocate modes from
# python on a file it has open and writes.
setup_fallocate() {
    mkdir work
    gen bin work/f1 1M 131
    gen bin work/f2 3M 132
    gen sparse work/f3 4M 133 0:64K 1M:256K 3M:512K
}
run_fallocate() {
    step new fallocate -l 5M work/new
    step grow fallocate -o 1M -l 2M work/f1
    step keep_size fallocate -n -o 0 -l 8M work/f1
    step punch fallocate -p -o 4096 -l 100000 work/f2
    step dig fallocate -d work/f3
    step zero fallocate -z -o 10000 -l 50000 work/f2
    step collapse fallocate -c -o 0 -l 1M work/f2
    step insert fallocate -i -o 0 -l 1M work/f2
    sizes work/*
    "$PY" -B "$APPS/pyextra.py" work fallocate
    echo "rc=$?"
}

# A descriptor shared with a forked child and with an exec'd program.
setup_python_fork() { mkdir work; }
run_python_fork() {
    "$PY" -B "$APPS/pyextra.py" work fork
    echo "rc=$?"
}

# dup2 onto a descriptor number the program never opened.
setup_python_dupfd() { mkdir work; }
run_python_dupfd() {
    "$PY" -B "$APPS/pyextra.py" work dupfd
    echo "rc=$?"
}

# ---- sqlite3 ----------------------------------------------------------------

SCENARIOS="$SCENARIOS sqlite_delete sqlite_truncate sqlite_persist sqlite_wal sqlite_off sqlite_mmap"

sqlite_build() {
    local mode=$1
    sqlite3 db.sqlite <<EOF
PRAGMA journal_mode=$mode;
CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT, c REAL);
BEGIN;
WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 100000)
INSERT INTO t SELECT i, printf('%08x-%s', (i * 2654435761) % 4294967296,
                               substr('abcdefghijklmnopqrstuvwxyz', 1 + i % 26)),
                     i * 0.5 FROM r;
COMMIT;
CREATE INDEX tb ON t(b);
UPDATE t SET c = c * 3 WHERE a % 7 = 0;
DELETE FROM t WHERE a % 13 = 0;
EOF
    echo "build rc=$?"
    local i
    for i in $(seq 1 40); do
        echo "PRAGMA journal_mode=$mode; INSERT INTO t(b, c) VALUES ('late $i', $i); UPDATE t SET b = b || '+' WHERE a % 1000 = $i;"
    done | sqlite3 db.sqlite | sort | uniq -c
    echo "small transactions rc=$?"
}

sqlite_check() {
    sqlite3 db.sqlite <<'EOF'
PRAGMA integrity_check;
SELECT count(*), sum(length(b)), total(a), total(c) FROM t;
SELECT a, b, c FROM t WHERE a IN (1, 7, 13, 99999, 100000) OR b LIKE 'late %' ORDER BY a LIMIT 10;
SELECT count(*) FROM t WHERE b > '8';
EOF
    echo "check rc=$?"
}

sqlite_rollback() {
    local mode=$1
    sqlite3 db.sqlite <<EOF
PRAGMA journal_mode=$mode;
BEGIN;
DELETE FROM t WHERE a % 2 = 0;
UPDATE t SET b = 'x';
ROLLBACK;
SELECT count(*), sum(length(b)) FROM t;
EOF
    echo "rollback rc=$?"
}

# A rollback journal in mode MODE: the journal is made and removed each
# transaction (DELETE), cut to nothing (TRUNCATE) or kept with its header
# zeroed (PERSIST), closed and opened again twice a transaction in the
# last two (the library keeps the file whole between: lingering).
sqlite_rollback_journal() {
    local mode=$1
    sqlite_build "$mode"
    sqlite_rollback "$mode"
    sqlite_check
    step vacuum sqlite3 db.sqlite "PRAGMA journal_mode=$mode; VACUUM;"
    sqlite_check
    ls
}

setup_sqlite_delete() { :; }
run_sqlite_delete() { sqlite_rollback_journal DELETE; }

setup_sqlite_truncate() { :; }
run_sqlite_truncate() { sqlite_rollback_journal TRUNCATE; }

# The kept journal's page records carry SQLite's random nonce of their
# transaction, so its bytes differ between any two runs: its size and its
# zeroed header are compared instead.
setup_sqlite_persist() { :; }
run_sqlite_persist() {
    sqlite_rollback_journal PERSIST
    echo "journal: $(stat -c %s db.sqlite-journal) bytes, header" \
        "$(head -c 28 db.sqlite-journal | od -An -tx1 | tr -d ' \n')"
}
nondet_sqlite_persist() { echo '^db\.sqlite-journal$'; }

setup_sqlite_wal() { :; }
run_sqlite_wal() {
    sqlite_build WAL
    sqlite_rollback WAL
    sqlite_check
    step checkpoint sqlite3 db.sqlite 'PRAGMA wal_checkpoint(TRUNCATE);'
    sqlite_check
    ls
}

setup_sqlite_off() { :; }
run_sqlite_off() {
    sqlite_build OFF
    sqlite_check
    step vacuum sqlite3 db.sqlite 'PRAGMA journal_mode=OFF; VACUUM;'
    sqlite_check
    ls
}

# Rollback journal, the database read through sqlite's own mmap of it
# (mmap_size) while it writes with pwrite.
setup_sqlite_mmap() { :; }
run_sqlite_mmap() {
    sqlite_build "DELETE; PRAGMA mmap_size=268435456"
    sqlite_rollback "DELETE; PRAGMA mmap_size=268435456"
    sqlite_check
    step vacuum sqlite3 db.sqlite 'PRAGMA mmap_size=268435456; VACUUM;'
    sqlite_check
    ls
}

# ---- fio ----------------------------------------------------------------------

SCENARIOS="$SCENARIOS fio_psync fio_sync fio_vsync fio_pvsync2"

# fio puts a verify header in every block with the time it was written, so
# its data file differs between any two runs: its raw bytes are not
# compared, but fio_check.py's summary of it is (blocks at their place,
# digest with the times zeroed), and so is its size.
fio_nondet() {
    echo '^fio/v\.0\.0$'
}

fio_run() {
    local engine=$1
    fio --name=v --directory="$D/fio" --size=16m --bs=4k --rw=randwrite --verify=crc32c \
        --do_verify=1 --ioengine="$engine" --fallocate=none --output="$SCRATCH/fio.out"
    echo "fio $engine rc=$?"
    # What must not depend on the library: the job's error, the verify
    # errors and the amount written and read back.
    grep -oE 'err= *[0-9]+' "$SCRATCH/fio.out"
    echo "verify lines: $(grep -ci 'verify' "$SCRATCH/fio.out")"
    grep -oE '(READ|WRITE): bw=[^,]*, [^,]*, io=[0-9.]+[KMG]iB' "$SCRATCH/fio.out" |
        sed 's/bw=.*, io=/io=/'
    "$PY" -B "$APPS/fio_check.py" fio/v.0.0 4096
    sizes fio/*
}

for e in psync sync vsync pvsync2; do
    eval "setup_fio_$e() { mkdir fio; }"
    eval "run_fio_$e() { fio_run $e; }"
    eval "nondet_fio_$e() { fio_nondet; }"
done
unset e

# ---- times that programs set ------------------------------------------------

# cp -p, tar xp and rsync -t set the times of the files they write (cp and
# tar while the file is still open); the library's own work at close must
# leave them as set. The inputs' times are fixed, so both sides print the
# same mtimes (and cp's atimes) to the nanosecond. Sizes cover an empty
# file, a sparse one and one that grows past the library's first steps.
SCENARIOS="$SCENARIOS times"

setup_times() {
    mkdir in
    gen bin in/big 3M 11
    gen bin in/small 5000 12
    gen bin in/over 5000 13
    : >in/empty
    truncate -s 5M in/sparse && printf 'tail' | dd of=in/sparse bs=1 seek=4M conv=notrunc status=none
    touch -m -d '2001-02-03 04:05:06.123456789' in/big in/small in/over
    touch -a -d '2002-03-04 05:06:07.987654321' in/big in/small in/over
    touch -d '1999-12-31 23:59:59.5' in/empty in/sparse
    tar -cf in.tar -C in big small empty sparse
    # An existing, larger file that a copy overwrites in place.
    mkdir cp_over
    gen bin cp_over/over 9000 14
}

# mtime (and with a second argument atime) of every file below $1.
times_of() {
    (cd "$1" && find . -type f -printf '%P\n' | LC_ALL=C sort | while read -r f; do
        stat -c "%n mtime %y${2:+ atime %x}" "$f"
    done)
}

# atime only where the kernel's own run is repeatable: cp -p of one file
# (copying several, cp reads the copies' atimes after the read moved them).
run_times() {
    mkdir cp_out tar_out
    step "cp -p" cp -p in/big in/small in/empty in/sparse cp_out/
    times_of cp_out
    step "cp -p over" cp -p in/over cp_over/over
    times_of cp_over atime
    step "tar xpf" tar -xpf in.tar -C tar_out
    times_of tar_out
    step "rsync -t" rsync -t in/big in/small in/empty in/sparse rsync_out/
    times_of rsync_out
}
