#!/usr/bin/env bash
# npm run demo:cluster: three ipvs-maglev load-balancer nodes behind a BGP/ECMP router (real BIRD), one
# of them killed; on screen, how many connections survived and why. Needs IPVS and BIRD 2: on a host
# whose kernel has IPVS (as root) it runs directly (in network namespaces it creates and removes);
# otherwise it boots the project's test VM (a Debian kernel under qemu, see test/kernel/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/node24.sh >/dev/null

has_ipvs() {
  [ "$(id -u)" = 0 ] || return 1
  [ -e /proc/net/ip_vs ] || modprobe -q ip_vs 2>/dev/null || return 1
  [ -e /proc/net/ip_vs ]
}
command -v bird >/dev/null 2>&1 || PATH="$PATH:/usr/sbin" command -v bird >/dev/null 2>&1 || {
  echo "demo:cluster needs BIRD 2: bash scripts/vm-deps.sh (as root) installs it with the VM's packages" >&2
  exit 1
}

if [ "${IPVS_MAGLEV_IN_VM:-}" = 1 ] || { has_ipvs && [ "${IPVS_MAGLEV_DIRECT:-1}" != 0 ]; }; then
  exec node --no-wasm-tier-up --no-wasm-dynamic-tiering scripts/demo/cluster.ts "$@"
else
  echo "This kernel has no IPVS (or we are not root): booting the test VM (qemu, Debian kernel)."
  echo "First run downloads the kernel (~70 MB); then boot takes ~20 s. The demo takes a few minutes."
  VM_SLOTS="${VM_SLOTS:-1}" exec bash test/kernel/vm/run-in-vm.sh --vm bash scripts/demo-cluster.sh "$@"
fi
