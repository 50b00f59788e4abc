#!/usr/bin/env bash
# npm run demo: Maglev load balancing with Linux IPVS, end to end, in a few minutes.
# On a host whose kernel has IPVS (and as root) it runs in a throwaway network namespace;
# otherwise it boots the project's test VM (a Debian kernel under qemu, see test/kernel/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/node24.sh >/dev/null

has_ipvs() {
  [ "$(id -u)" = 0 ] || return 1
  [ -e /proc/net/ip_vs ] || modprobe -q ip_vs 2>/dev/null || return 1
  [ -e /proc/net/ip_vs ]
}

if [ "${IPVS_MAGLEV_IN_VM:-}" = 1 ]; then
  # Inside the VM: the whole machine is throwaway.
  exec node --no-wasm-tier-up --no-wasm-dynamic-tiering scripts/demo/demo.ts "$@"
elif has_ipvs && [ "${IPVS_MAGLEV_DIRECT:-1}" != 0 ]; then
  ns="ipvsm-demo-$$"
  echo "This kernel has IPVS: running the demo in a throwaway network namespace ($ns)."
  ip netns add "$ns"
  trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
  ip -n "$ns" link set lo up
  ip netns exec "$ns" node --no-wasm-tier-up --no-wasm-dynamic-tiering scripts/demo/demo.ts "$@"
else
  echo "This kernel has no IPVS (or we are not root): booting the test VM (qemu, Debian kernel)."
  echo "First run downloads the kernel (~70 MB); then boot takes ~20 s."
  exec bash test/kernel/vm/run-in-vm.sh --vm bash scripts/demo.sh "$@"
fi
