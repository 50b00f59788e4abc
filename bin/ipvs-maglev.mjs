#!/usr/bin/env node
// Plain JavaScript on purpose: this file must run on any Node to say clearly when Node is too old.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  process.stderr.write(
    `ipvs-maglev needs Node.js >= 22.19 (Node 24 LTS recommended); this is ${process.version}.\n` +
      'Install Node 24, or in a checkout run: . scripts/node24.sh  (puts a Node 24 from npm first on PATH)\n',
  );
  process.exit(1);
}
// Node runs our TypeScript through its type stripper, a WebAssembly module. Under software emulation (the
// test VM) V8 crashed now and then while tiering that module up (Runtime_WasmTriggerTierUp -> a stack walk
// -> "Check failed: it->second.Size() > offset", or SIGSEGV; cores in .cache/cores). Baseline-compiled
// WebAssembly only: the stripper runs once per file at start-up, so nothing hot is lost.
(await import('node:v8')).setFlagsFromString('--no-wasm-tier-up --no-wasm-dynamic-tiering');
// `ipvs-maglev predict ... | head -1`: when the reader goes away, stop as the Unix tools do, with success
// and no stack trace (Node reports EPIPE on stdout as an unhandled 'error' event).
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
// In a checkout, run the TypeScript itself; an installed package runs the JavaScript that scripts/build.ts
// made at pack time (Node strips no types under node_modules), and has no src/.
const { existsSync } = await import('node:fs');
const source = new URL('../src/cli/main.ts', import.meta.url);
const { main } = await import(existsSync(source) ? source.href : new URL('../dist/src/cli/main.js', import.meta.url).href);
main(process.argv).catch((err) => {
  process.stderr.write(`ipvs-maglev: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
