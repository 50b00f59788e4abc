// The published package, as a consumer gets it: `npm pack` (which builds dist/ through "prepack"), the
// tarball extracted into a fresh node_modules, and the checkout's installed packages linked beside it (no
// network), except the ones only the benchmarks use: the shipped code must not need them. Then
// `import('ipvs-maglev')` and the packed bin run there, from dist/, with no src/ in sight.
// Also the container image's tree (deploy/Dockerfile: src/ run directly, production packages, no bench/).
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as library from '../src/index.ts';
import { buildMaglevTable, maglevLookup } from '../src/maglev/index.ts';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
// devDependencies the benchmarks use (charts, progress bars): left out of the consumer's node_modules.
const BENCH_ONLY = ['vega', 'vega-lite', '@resvg', 'cli-progress'];

const backends = [
  { address: '10.0.0.1', port: 80 },
  { address: '10.0.0.2', port: 80 },
  { address: '10.0.0.3', port: 80 },
];
const flow = { srcAddress: '192.0.2.7', dstAddress: '198.51.100.1', srcPort: 40000, dstPort: 80, protocol: 6 };

// Runs in the consumer's directory: what the package exports and computes, as JSON.
const consumer = `
const m = await import('ipvs-maglev');
const three = ${JSON.stringify(backends.map((b) => ({ ...b, weight: 1 })))};
const kernel = m.buildKernelTable(three);
const paper = m.buildMaglevTable(three, 251);
const { startMetricsServer } = await import('./node_modules/ipvs-maglev/dist/src/metrics/server.js');
const { Registry } = await import('prom-client');
const server = await startMetricsServer('127.0.0.1:0', new Registry(), () => ({ ready: true }), { status: async () => ({}) });
const css = await (await fetch('http://' + server.address + '/status/page.css')).text();
await server.close();
console.log(JSON.stringify({
  resolved: import.meta.resolve('ipvs-maglev'),
  names: Object.keys(m).sort(),
  kernelSize: kernel.size,
  kernel: m.kernelLookup(kernel, '192.168.1.100', 40000, { portHash: false, fallback: false }),
  kernelPortHash: m.kernelLookup(kernel, '192.168.1.100', 40000, { portHash: true, fallback: false }),
  paper: m.maglevLookup(paper, ${JSON.stringify(flow)}),
  canonical: m.canonicalAddress('::FFFF:10.0.0.1'),
  css,
}));
`;

describe('the packed package', () => {
  let dir = '';
  let files: string[] = [];
  let pkg = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ipvs-maglev-pack-'));
    await run('npm', ['pack', '--pack-destination', dir, '--no-audit', '--no-fund'], { cwd: root, maxBuffer: 16 << 20 });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack made no tarball in ${dir}`);
    files = (await run('tar', ['-tzf', join(dir, tarball)], { maxBuffer: 16 << 20 })).stdout.split('\n').filter(Boolean);
    const modules = join(dir, 'node_modules');
    pkg = join(modules, 'ipvs-maglev');
    mkdirSync(pkg, { recursive: true });
    await run('tar', ['-xzf', join(dir, tarball), '-C', pkg, '--strip-components=1']);
    const installed = realpathSync(join(root, 'node_modules'));
    for (const name of readdirSync(installed)) {
      if (name === 'ipvs-maglev' || BENCH_ONLY.includes(name)) continue;
      symlinkSync(join(installed, name), join(modules, name));
    }
    writeFileSync(join(dir, 'package.json'), '{ "type": "module", "private": true }\n');
  }, 120_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('holds bin, dist (with the status page) and the examples, and neither src, bench nor test', () => {
    const wanted = ['bin/ipvs-maglev.mjs', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/main.js', 'dist/native/netlink-socket.js'];
    wanted.push(...['index.html', 'page.js', 'page.css'].map((f) => `dist/src/metrics/status-page/${f}`), 'examples/lb.yaml');
    expect(files).toEqual(expect.arrayContaining(wanted.map((f) => `package/${f}`)));
    expect(files.filter((f) => /^package\/(src|bench|test|scripts)\//.test(f) || /\/(bench|test|testing)\//.test(f))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('is what import("ipvs-maglev") resolves to: builds Maglev tables and finds the known destinations', async () => {
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', consumer], { cwd: dir, timeout: 30_000 });
    const got = JSON.parse(stdout) as Record<string, unknown>;
    expect(got.resolved).toBe(`file://${realpathSync(pkg)}/dist/src/index.js`);
    expect(got.names).toEqual(Object.keys(library).sort());
    // The kernel-checked vector (test/maglev/kernel.test.ts): 192.168.1.100 -> 10.0.0.2, with mh-port -> 10.0.0.3.
    expect(got.kernelSize).toBe(4093);
    expect(got.kernel).toBe(1);
    expect(got.kernelPortHash).toBe(2);
    expect(got.paper).toBe(maglevLookup(buildMaglevTable(backends, 251), flow));
    expect(got.canonical).toBe('::ffff:10.0.0.1');
    // The status page's assets are found next to the built module that serves them.
    expect(got.css).toBe(readFileSync(join(root, 'src/metrics/status-page/page.css'), 'utf8'));
  }, 60_000);

  it('runs its bin from dist/: table --help, validate, and bench says the benchmarks need a checkout', async () => {
    const bin = join('node_modules', 'ipvs-maglev', 'bin', 'ipvs-maglev.mjs');
    const help = await run(process.execPath, [bin, 'table', '--help'], { cwd: dir, timeout: 30_000 });
    expect(help.stdout).toMatch(/^Usage: ipvs-maglev table \[options\]/);
    writeFileSync(
      join(dir, 'lb.yaml'),
      'services:\n  - name: web\n    address: 192.0.2.10\n    port: 80\n    scheduler: mh\n' +
        '    destinations: [{ address: 10.0.0.1, port: 8080 }, { address: 10.0.0.2, port: 8080 }]\n',
    );
    const valid = await run(process.execPath, [bin, 'validate', '--config', 'lb.yaml'], { cwd: dir, timeout: 30_000 });
    expect(valid.stdout).toMatch(/^lb\.yaml: valid \(1 services?, 2 destinations/);
    const bench = await run(process.execPath, [bin, 'bench', 'maglev', '--quick'], { cwd: dir, timeout: 30_000 }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(bench.code).not.toBe(0);
    expect(bench.stderr).toMatch(/the benchmarks run from a source checkout/);
  }, 60_000);
});

// deploy/Dockerfile ships the TypeScript itself (Node strips the types; no build) with the production
// packages only (npm ci --omit=dev), and no bench/ or test/: the same tree, from its own COPY lines, runs.
describe('the container image layout', () => {
  let dir = '';

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs validate and a clear bench refusal from bin, src and native with the production packages', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ipvs-maglev-image-'));
    const copies = [...readFileSync(join(root, 'deploy/Dockerfile'), 'utf8').matchAll(/^COPY (?!--)(\S+) \.\/\S*$/gm)].map((m) => m[1]);
    expect(copies).toEqual(expect.arrayContaining(['bin', 'src', 'native', 'package.json']));
    expect(copies.filter((c) => /^(bench|test)\b/.test(c))).toEqual([]);
    for (const c of copies) cpSync(join(root, c), join(dir, c), { recursive: true });
    mkdirSync(join(dir, 'node_modules'));
    const installed = realpathSync(join(root, 'node_modules'));
    for (const name of readdirSync(installed)) if (!BENCH_ONLY.includes(name)) symlinkSync(join(installed, name), join(dir, 'node_modules', name));
    const valid = await run(process.execPath, ['bin/ipvs-maglev.mjs', 'validate', '--config', join(root, 'examples/lb.yaml')], { cwd: dir, timeout: 30_000 });
    expect(valid.stdout).toMatch(/lb\.yaml: valid \(/);
    const bench = await run(process.execPath, ['bin/ipvs-maglev.mjs', 'bench'], { cwd: dir, timeout: 30_000 }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(bench.code).toBe(1);
    expect(bench.stderr).toMatch(/the benchmarks run from a source checkout/);
  }, 60_000);
});
