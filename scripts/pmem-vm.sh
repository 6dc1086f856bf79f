#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# pmem-vm.sh - run one command on a real DAX file system, on a machine that
# has no persistent memory.
#
# Usage:
#   scripts/pmem-vm.sh HOSTDIR CMD [ARGS...]
#   scripts/pmem-vm.sh --check
#
# Boots a throw-away QEMU guest (TCG, no KVM needed) with an emulated ACPI
# NVDIMM. Inside the guest the NVDIMM is turned into an fsdax namespace
# (/dev/pmem0), formatted ext4 and mounted with -o dax=always on /mnt/pmem, so
# mmap(MAP_SHARED_VALIDATE|MAP_SYNC) works there as it does on real pmem.
#
# The guest's root is the host's / shared read-only over virtio-9p, so every
# host program and library runs unchanged. HOSTDIR is shared read-write at the
# same path, and CMD runs in it as root, with stdin from /dev/null and only
# HOME, TERM and PATH in its environment; pass anything else explicitly:
#
#   scripts/pmem-vm.sh "$PWD" env LD_PRELOAD="$PWD/build/libnvmmio.so" \
#       NVMMIO_PATH=/mnt/pmem build/some_test /mnt/pmem/file
#
# CMD's stdout and stderr are streamed to ours while it runs. The exit status
# is CMD's; 125 means CMD never ran (the guest could not be set up; the reason
# is printed), 124 that CMD was still running at the time limit, 123 that the
# guest died while CMD was running.
#
# --check only boots a guest and mounts /mnt/pmem: exit 0 when that works
# here, 125 when it does not.
#
# The guest's /tmp, /run, /mnt and /dev/shm are its own tmpfs: host files
# there are hidden (a HOSTDIR below them is still shared). /mnt/pmem is empty
# at every start. The guest CPU is emulated (about 20x slower than native)
# and offers no AVX-512. Paths must not contain newlines.
#
# Missing host packages (qemu-system-x86, busybox-static, cpio, kmod, ndctl,
# e2fsprogs) are installed with apt-get, which needs root. The guest kernel is
# Debian's linux-image-amd64, downloaded with apt-get download and unpacked
# (never installed); it and a small busybox initramfs are cached in
# /var/tmp/nvmmio-pmem-vm (about 10 MB; delete the directory to rebuild).
# The emulated NVDIMM is a sparse file in /dev/shm, removed at exit.
#
# Environment:
#   NVMMIO_VM_PMEM_MB  pmem size in MiB (512)
#   NVMMIO_VM_MEM_MB   guest RAM in MiB (1024)
#   NVMMIO_VM_CPUS     guest CPUs (2)
#   NVMMIO_VM_TIMEOUT  hard limit for the guest's run in seconds (900)
#   NVMMIO_VM_CACHE    kernel/initramfs cache (/var/tmp/nvmmio-pmem-vm)
#   NVMMIO_VM_DEBUG=1  trace the guest's setup and print its console log
#
# The guest console of the last run is kept in $NVMMIO_VM_CACHE/last-console.log.

set -euo pipefail

readonly PMEM_MB=${NVMMIO_VM_PMEM_MB:-512}
readonly MEM_MB=${NVMMIO_VM_MEM_MB:-1024}
readonly CPUS=${NVMMIO_VM_CPUS:-2}
readonly TIME_LIMIT=${NVMMIO_VM_TIMEOUT:-900}
readonly CACHE=${NVMMIO_VM_CACHE:-/var/tmp/nvmmio-pmem-vm}
readonly DEBUG=${NVMMIO_VM_DEBUG:-0}
# Bump when the initramfs layout or its module list changes.
readonly INITRAMFS=$CACHE/initramfs-v1.cpio.gz
readonly KERNEL=$CACHE/vmlinuz
# Guest modules; their dependencies are added in load order.
readonly GUEST_MODULES="nfit nd_pmem crc32c_generic ext4 virtio_pci virtio_console 9pnet_virtio 9p"
readonly SHM_PREFIX=/dev/shm/nvmmio-pmem-vm

export PATH=$PATH:/usr/sbin:/sbin

RUN_DIR=
BOOT_WORK=
PMEM_FILE=
QEMU_PID=
PUMP_PIDS=()

note() { echo "pmem-vm: $*" >&2; }

# Setup failed before CMD could run.
cannot_run() {
    note "$*"
    exit 125
}

usage() {
    cat >&2 <<'EOF'
usage: pmem-vm.sh HOSTDIR CMD [ARGS...]
       pmem-vm.sh --check
EOF
    exit 125
}

# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
    local pid
    # Only our own children: the timeout wrapper passes the signal on to qemu.
    if [ -n "$QEMU_PID" ]; then
        kill "$QEMU_PID" 2>/dev/null || true
        wait "$QEMU_PID" 2>/dev/null || true
    fi
    for pid in "${PUMP_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    [ -z "$PMEM_FILE" ] || rm -f "$PMEM_FILE"
    [ -z "$RUN_DIR" ] || rm -rf "$RUN_DIR"
    [ -z "$BOOT_WORK" ] || rm -rf "$BOOT_WORK"
}

# ---------------------------------------------------------------- host packages

# Runs a command, showing its output only when it fails.
quietly() {
    local log status=0
    log=$(mktemp)
    "$@" >"$log" 2>&1 || status=$?
    [ "$status" -eq 0 ] || cat "$log" >&2
    rm -f "$log"
    return "$status"
}

is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
have() { command -v "$1" >/dev/null 2>&1; }

ensure_packages() {
    local missing=()
    have qemu-system-x86_64 || missing+=(qemu-system-x86)
    is_installed busybox-static || missing+=(busybox-static)
    have cpio || missing+=(cpio)
    { have depmod && have modprobe; } || missing+=(kmod)
    have ndctl || missing+=(ndctl)
    have mkfs.ext4 || missing+=(e2fsprogs)
    [ ${#missing[@]} -gt 0 ] || return 0

    [ "$(id -u)" -eq 0 ] || cannot_run "missing packages ${missing[*]}; installing them needs root"
    have apt-get || cannot_run "missing packages ${missing[*]} and no apt-get"
    note "installing ${missing[*]}"
    quietly apt-get update || true
    DEBIAN_FRONTEND=noninteractive quietly apt-get install -y --no-install-recommends \
        "${missing[@]}" || cannot_run "apt-get install ${missing[*]} failed"
}

# ------------------------------------------------------- guest kernel + initramfs

# The versioned package that linux-image-amd64 currently points at.
kernel_package() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1
}

# Unpacks the kernel package into $1/root and prints the kernel release.
fetch_kernel() {
    local work=$1 pkg
    pkg=$(kernel_package)
    if [ -z "$pkg" ]; then
        quietly apt-get update || true
        pkg=$(kernel_package)
    fi
    [ -n "$pkg" ] || cannot_run "apt-cache knows no linux-image-amd64 package"
    note "downloading guest kernel $pkg"
    (cd "$work" && quietly apt-get download "$pkg") || cannot_run "apt-get download $pkg failed"
    dpkg-deb -x "$work"/*.deb "$work/root" || cannot_run "cannot unpack $pkg"
    rm -f "$work"/*.deb
    ls "$work/root/lib/modules"
}

# Prints the module files for GUEST_MODULES, dependencies first, each once.
module_files() {
    local root=$1 release=$2 mod
    for mod in $GUEST_MODULES; do
        modprobe --dirname="$root" --set-version="$release" --config=/dev/null \
            --show-depends "$mod" || cannot_run "module $mod not found in $release"
    done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }'
}

# The first program the guest runs: loads the modules, then hands over to the
# per-run script that pmem-vm.sh puts into the control share.
write_guest_init() {
    cat >"$1" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r ko; do
    insmod "/modules/$ko" || echo "pmem-vm init: insmod $ko failed"
done </modules/load-order
mkdir -p /ctl
if mount -t 9p -o trans=virtio,version=9p2000.L ctl /ctl && [ -r /ctl/stage2 ]; then
    exec /bin/sh /ctl/stage2
fi
echo "pmem-vm init: no control share"
poweroff -f
EOF
    chmod 755 "$1"
}

build_initramfs() {
    local root=$1 release=$2 out=$3 tree=$1/initramfs ko name
    mkdir -p "$tree"/{bin,dev,proc,sys,modules}
    cp /bin/busybox "$tree/bin/busybox"
    module_files "$root" "$release" >"$root/modules.list" || return 1
    while read -r ko; do
        name=$(basename "$ko")
        case $name in
        *.xz) xz -dc "$ko" >"$tree/modules/${name%.xz}"; name=${name%.xz} ;;
        *.zst) zstd -qdc "$ko" >"$tree/modules/${name%.zst}"; name=${name%.zst} ;;
        *) cp "$ko" "$tree/modules/" ;;
        esac
        echo "$name" >>"$tree/modules/load-order"
    done <"$root/modules.list"
    write_guest_init "$tree/init"
    (cd "$tree" && find . | cpio -o -H newc --quiet | gzip -6) >"$out"
}

ensure_boot_files() {
    local lock work release
    [ -s "$KERNEL" ] && [ -s "$INITRAMFS" ] && return 0
    { mkdir -p "$CACHE" 2>/dev/null && [ -w "$CACHE" ]; } || cannot_run "cannot write to $CACHE"
    exec {lock}>"$CACHE/.lock"
    flock "$lock" # another run may be building the same files
    if [ ! -s "$KERNEL" ] || [ ! -s "$INITRAMFS" ]; then
        work=$(mktemp -d "$CACHE/build.XXXXXX")
        BOOT_WORK=$work
        release=$(fetch_kernel "$work") || exit 125
        depmod --basedir="$work/root" "$release" || cannot_run "depmod failed"
        build_initramfs "$work/root" "$release" "$work/initramfs.cpio.gz" ||
            cannot_run "cannot build the initramfs"
        cp "$work/root/boot/vmlinuz-$release" "$work/vmlinuz"
        echo "$release" >"$CACHE/kernel-release"
        mv "$work/vmlinuz" "$KERNEL"
        mv "$work/initramfs.cpio.gz" "$INITRAMFS"
        rm -rf "$work"
        BOOT_WORK=
        note "guest kernel $release cached in $CACHE"
    fi
    exec {lock}>&-
}

# ------------------------------------------------------------ per-run guest side

# Runs in the guest's initramfs shell: builds the root (host / read-only plus
# HOSTDIR read-write), turns the NVDIMM into fsdax, mounts /mnt/pmem, runs CMD.
# Anything that fails before CMD leaves a reason in /ctl/why.
write_stage2() {
    cat >"$1" <<'EOF'
R=/newroot
C=/ctl
P9=trans=virtio,version=9p2000.L,msize=262144
# For the host programs run through chroot (ndctl, mkfs.ext4).
export PATH=/bin:/usr/sbin:/usr/bin:/sbin
grep -q pmemvm.debug /proc/cmdline && set -x

shut_down() {
    umount $R/mnt/pmem 2>/dev/null
    sync
    poweroff -f
}
give_up() {
    echo "pmem-vm guest: $*"
    echo "$*" >$C/why
    shut_down
}
wait_for_pmem0() {
    i=0
    while [ ! -b /dev/pmem0 ]; do
        i=$((i + 1))
        [ $i -le 100 ] || return 1
        sleep 0.1
    done
}
# Device name of the virtio serial port called $1.
port_named() {
    i=0
    while [ $i -le 50 ]; do
        for p in /sys/class/virtio-ports/*; do
            [ "$(cat "$p/name" 2>/dev/null)" = "$1" ] && { basename "$p"; return 0; }
        done
        i=$((i + 1))
        sleep 0.1
    done
    return 1
}

read -r HOSTDIR <$C/hostdir

mkdir -p $R
mount -t 9p -o $P9,ro,cache=loose hostroot $R || give_up "cannot mount the host root"
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
for d in tmp run mnt; do mount -t tmpfs -o mode=1777 tmpfs $R/$d; done
mkdir -p $R/dev/shm $R/dev/pts $R/run/pmem-vm $R/mnt/pmem
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
mount -t devpts devpts $R/dev/pts
# devtmpfs lacks these; bash process substitution needs /dev/fd.
ln -sf /proc/self/fd $R/dev/fd
ln -sf /proc/self/fd/0 $R/dev/stdin
ln -sf /proc/self/fd/1 $R/dev/stdout
ln -sf /proc/self/fd/2 $R/dev/stderr
mount --bind $C $R/run/pmem-vm || give_up "cannot bind the control share"
mkdir -p "$R$HOSTDIR" 2>/dev/null
mount -t 9p -o $P9,cache=mmap hostdir "$R$HOSTDIR" || give_up "cannot mount $HOSTDIR"

# QEMU's NVDIMM has no labels and comes up as a raw namespace, which has no
# struct pages and hence no file-system DAX; reconfigure it as fsdax with its
# page map on the device itself.
wait_for_pmem0 || give_up "no /dev/pmem0 appeared (NFIT NVDIMM missing?)"
chroot $R ndctl create-namespace --force --reconfig=namespace0.0 --mode=fsdax --map=dev \
    >$C/ndctl.out 2>&1 || give_up "ndctl create-namespace failed: $(cat $C/ndctl.out)"
wait_for_pmem0 || give_up "/dev/pmem0 did not come back in fsdax mode"
# The backing file starts out as zeroes (sparse), so inode tables and journal
# need no zeroing: that keeps a large pmem cheap in host memory.
chroot $R mkfs.ext4 -q -F -b 4096 -E lazy_itable_init=1,lazy_journal_init=1 /dev/pmem0 ||
    give_up "mkfs.ext4 /dev/pmem0 failed"
# ext4 refuses dax=always on a device without DAX support.
mount -t ext4 -o dax=always,noinit_itable /dev/pmem0 $R/mnt/pmem ||
    give_up "mount -o dax=always failed"
grep -q "^/dev/pmem0 $R/mnt/pmem ext4 .*dax=always" /proc/mounts ||
    give_up "/mnt/pmem is not mounted dax=always"

out=$(port_named stdout) || give_up "virtio serial port stdout missing"
err=$(port_named stderr) || give_up "virtio serial port stderr missing"
cut -d' ' -f1 /proc/uptime >$C/uptime-at-cmd
chroot $R /usr/bin/env -i HOME=/root TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/bash /run/pmem-vm/cmd </dev/null >/dev/$out 2>/dev/$err
echo $? >$C/rc
shut_down
EOF
}

# CMD as a bash script, run by the guest in HOSTDIR. The marker file tells the
# host that CMD itself was started.
write_cmd() {
    local file=$1 dir=$2
    shift 2
    {
        printf 'cd -- %q || { echo "cannot cd to %q" >/run/pmem-vm/why; exit 125; }\n' "$dir" "$dir"
        printf ': >/run/pmem-vm/started\n'
        printf 'exec'
        printf ' %q' "$@"
        printf '\n'
    } >"$file"
}

# --------------------------------------------------------------------- the run

# QEMU option values escape a comma by doubling it.
qemu_escape() { printf '%s' "${1//,/,,}"; }

# Sparse pmem files of runs that were killed with SIGKILL.
remove_stale_pmem_files() {
    local f pid
    for f in "$SHM_PREFIX".*; do
        [ -e "$f" ] || continue
        pid=${f#"$SHM_PREFIX".}
        pid=${pid%%.*}
        [ -d "/proc/$pid" ] || rm -f "$f"
    done
}

# Copies the guest's stdout/stderr ports to ours. The FIFOs are also held open
# here for writing, so neither the readers nor QEMU block on opening them;
# closing our end after QEMU is gone lets the readers drain and see EOF.
start_output_pumps() {
    mkfifo "$RUN_DIR/stdout" "$RUN_DIR/stderr"
    exec {HOLD_OUT}<>"$RUN_DIR/stdout" {HOLD_ERR}<>"$RUN_DIR/stderr"
    cat "$RUN_DIR/stdout" {HOLD_OUT}>&- {HOLD_ERR}>&- &
    PUMP_PIDS+=($!)
    cat "$RUN_DIR/stderr" {HOLD_OUT}>&- {HOLD_ERR}>&- >&2 &
    PUMP_PIDS+=($!)
}

finish_output_pumps() {
    exec {HOLD_OUT}>&- {HOLD_ERR}>&-
    wait "${PUMP_PIDS[@]}" 2>/dev/null || true
    PUMP_PIDS=()
}

boot_guest() {
    local hostdir=$1 cmdline="console=ttyS0 rdinit=/init panic=-1 mitigations=off"
    if [ "$DEBUG" = 1 ]; then cmdline+=" loglevel=7 pmemvm.debug"; else cmdline+=" loglevel=3"; fi
    timeout --kill-after=10 "$TIME_LIMIT" \
        qemu-system-x86_64 -accel tcg -cpu max -smp "$CPUS" \
        -machine pc,nvdimm=on -m "${MEM_MB}M,slots=2,maxmem=$((MEM_MB + PMEM_MB))M" \
        -object "memory-backend-file,id=pmem-mem,share=on,mem-path=$(qemu_escape "$PMEM_FILE"),size=${PMEM_MB}M" \
        -device nvdimm,id=nvdimm0,memdev=pmem-mem \
        -kernel "$KERNEL" -initrd "$INITRAMFS" -append "$cmdline" \
        -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
        -virtfs "local,path=$(qemu_escape "$hostdir"),mount_tag=hostdir,security_model=none,multidevs=remap" \
        -virtfs "local,path=$(qemu_escape "$RUN_DIR/ctl"),mount_tag=ctl,security_model=none" \
        -device virtio-serial-pci,id=vser \
        -chardev "file,id=cmd-out,path=$(qemu_escape "$RUN_DIR/stdout")" \
        -device virtserialport,bus=vser.0,chardev=cmd-out,name=stdout \
        -chardev "file,id=cmd-err,path=$(qemu_escape "$RUN_DIR/stderr")" \
        -device virtserialport,bus=vser.0,chardev=cmd-err,name=stderr \
        -serial "file:$RUN_DIR/console.log" \
        -display none -monitor none -nodefaults -no-reboot \
        </dev/null {HOLD_OUT}>&- {HOLD_ERR}>&- &
    QEMU_PID=$!
    local status=0
    wait "$QEMU_PID" || status=$?
    QEMU_PID=
    return "$status"
}

show_console_tail() {
    if [ -s "$RUN_DIR/console.log" ]; then
        note "end of the guest console:"
        tail -n 20 "$RUN_DIR/console.log" >&2
    elif [ "$DEBUG" != 1 ]; then
        note "the guest console is empty; NVMMIO_VM_DEBUG=1 shows the kernel log"
    fi
}

# Turns what the guest left in the control share into our exit status.
report() {
    local qemu_status=$1 ctl=$RUN_DIR/ctl
    cp "$RUN_DIR/console.log" "$CACHE/last-console.log" 2>/dev/null || true
    if [ "$DEBUG" = 1 ]; then
        note "guest console:"
        cat "$RUN_DIR/console.log" >&2
        [ ! -s "$ctl/uptime-at-cmd" ] || note "guest uptime when CMD started: $(cat "$ctl/uptime-at-cmd") s"
    fi
    if [ "$qemu_status" -eq 124 ] || [ "$qemu_status" -eq 137 ]; then
        note "time limit of $TIME_LIMIT s (NVMMIO_VM_TIMEOUT) reached; guest stopped"
        [ -e "$ctl/started" ] && return 124
        return 125
    fi
    if [ -e "$ctl/started" ]; then
        [ -s "$ctl/rc" ] && return "$(cat "$ctl/rc")"
        note "the guest stopped while CMD was running (qemu status $qemu_status)"
        show_console_tail
        return 123
    fi
    if [ -s "$ctl/why" ]; then
        note "guest setup failed: $(cat "$ctl/why")"
    else
        note "the guest did not get to run CMD (qemu status $qemu_status)"
        show_console_tail
    fi
    return 125
}

main() {
    local check=0 hostdir status=0 qemu_status=0
    if [ "${1:-}" = --check ]; then
        check=1
        shift
        [ $# -eq 0 ] || usage
    else
        [ $# -ge 2 ] || usage
        hostdir=$(realpath -e -- "$1" 2>/dev/null) || cannot_run "no such directory: $1"
        [ -d "$hostdir" ] || cannot_run "not a directory: $hostdir"
        [ "$hostdir" != / ] || cannot_run "HOSTDIR must not be /"
        case $hostdir in *$'\n'*) cannot_run "HOSTDIR must not contain a newline" ;; esac
        shift
    fi

    trap cleanup EXIT
    trap 'cannot_run "unexpected failure in line $LINENO"' ERR
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
    ensure_packages
    ensure_boot_files

    RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/nvmmio-pmem-vm.XXXXXX")
    mkdir "$RUN_DIR/ctl"
    if [ "$check" = 1 ]; then
        hostdir=$RUN_DIR/ctl
        set -- true
    fi
    case $RUN_DIR in *$'\n'*) cannot_run "TMPDIR must not contain a newline" ;; esac

    remove_stale_pmem_files
    PMEM_FILE=$(mktemp "$SHM_PREFIX.$$.XXXXXX")
    truncate -s "${PMEM_MB}M" "$PMEM_FILE"

    printf '%s\n' "$hostdir" >"$RUN_DIR/ctl/hostdir"
    write_stage2 "$RUN_DIR/ctl/stage2"
    write_cmd "$RUN_DIR/ctl/cmd" "$hostdir" "$@"

    start_output_pumps
    boot_guest "$hostdir" || qemu_status=$?
    finish_output_pumps
    report "$qemu_status" || status=$?
    if [ "$check" = 1 ]; then
        [ "$status" -eq 0 ] || exit 125
        note "ok: guest boots, /mnt/pmem is ext4 with dax=always"
    fi
    exit "$status"
}

main "$@"
