#!/usr/bin/env bash
# The project's one test command (`npm test`): type check, lint, unit tests, then the suites
# that need a real IPVS kernel (booted in a VM here; see test/kernel/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/node24.sh
# The unit tests use real servers too (dnsmasq, openssl-made TLS), so the packages come first.
bash scripts/vm-deps.sh
echo "== type check"; npx tsc --noEmit -p .
echo "== lint"; npx biome lint src native test bench
echo "== unit tests"; npx vitest run
echo "== real-kernel suites"; bash test/kernel/vm/run-suite.sh
