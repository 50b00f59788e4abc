#!/usr/bin/env bash
# Run the real-kernel vitest suites (vitest.kernel.config.ts) in the VM, or directly on a host whose
# kernel has IPVS (see run-in-vm.sh). Arguments go to vitest: files, -t filters, --reporter ...
#   bash test/kernel/vm/run-suite.sh                          # every test/kernel/**/*.test.ts
#   bash test/kernel/vm/run-suite.sh test/kernel/smoke.test.ts
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
cd "$HERE/../../.."
# The whole suite under software emulation takes well over run-in-vm's default 40 min limit.
export VM_TIMEOUT="${VM_TIMEOUT:-75m}"
exec bash "$HERE/run-in-vm.sh" node_modules/.bin/vitest run --config vitest.kernel.config.ts "$@"
