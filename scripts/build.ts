// Builds the published package's JavaScript: Node refuses to strip types from .ts files under
// node_modules, so an installed ipvs-maglev runs dist/, not src/. A checkout never needs this (bin/
// runs src/ directly); `npm pack` / `npm publish` run it as "prepack".
//
//   node scripts/build.ts
//
// tsconfig.build.json compiles src/ and native/ (not src/testing) to dist/src and dist/native, .js and
// .d.ts, with the relative `.ts` imports rewritten to `.js`; the tree keeps its shape, so src/'s imports of
// native/ still resolve. Files that the code reads at run time (the status page's HTML/JS/CSS, located by
// `new URL(..., import.meta.url)`) are copied next to the modules that read them.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
// What tsconfig.build.json leaves out; its files must not reach dist/ even when copied as assets.
const excluded = [join(root, 'src', 'testing')];

function fail(message: string): never {
  process.stderr.write(`build: ${message}\n`);
  process.exit(1);
}

rmSync(dist, { recursive: true, force: true });
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
if (!existsSync(tsc)) fail(`no TypeScript at ${relative(root, tsc)}: run npm ci first`);
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (r.status !== 0) fail(`tsc exited with ${r.status ?? r.signal}`);

// Production code does not import src/testing: had it, tsc would have followed the import and emitted it.
if (existsSync(join(dist, 'src', 'testing'))) fail('src/testing was compiled: something under src/ (or native/) imports it');

/** Files under dir that are neither TypeScript nor documentation: assets the code reads at run time. */
function assets(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (excluded.includes(p)) continue;
    if (e.isDirectory()) out.push(...assets(p));
    else if (!['.ts', '.md'].includes(extname(e.name))) out.push(p);
  }
  return out;
}

const copied = [...assets(join(root, 'src')), ...assets(join(root, 'native'))];
for (const file of copied) cpSync(file, join(dist, relative(root, file)), { force: true });
if (!existsSync(join(dist, 'src', 'index.js')) || !existsSync(join(dist, 'src', 'cli', 'main.js'))) fail('dist/src/index.js or dist/src/cli/main.js is missing');
process.stderr.write(`build: dist/ from src/ and native/; copied ${copied.length} asset(s): ${copied.map((f) => relative(root, f)).join(', ')}\n`);
