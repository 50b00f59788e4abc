#!/usr/bin/env bash
# One-time set-up for a fresh Linux machine: Node 24 + project dependencies.
# The Debian packages for the real-kernel VM suite are installed by scripts/vm-deps.sh
# (called by `npm run test:kernel` and `npm run demo` when needed).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/node24.sh
node --version
npm ci --no-audit --no-fund
