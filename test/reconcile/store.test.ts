import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type ControllerFlags, runController } from '../../src/app/kubernetes.ts';
import { StandaloneLb } from '../../src/app/standalone.ts';
import { parseConfig } from '../../src/sources/file/index.ts';
import { createLogger } from '../../src/log.ts';
import { serviceKeyString } from '../../src/ipvs/keys.ts';
import type { ServiceKey } from '../../src/ipvs/types.ts';
import { FileStateStore, Reconciler, StateFileError, StateFileHealth } from '../../src/reconcile/index.ts';
import { FakeApiServer } from '../../src/testing/fake-apiserver.ts';
import { MemoryIpvs, MemoryVips } from '../../src/testing/memory-ipvs.ts';
import { service } from '../sources/kubernetes/builders.ts';
import { waitFor } from '../sources/kubernetes/wait.ts';

// The state file decides what a sync may delete: it is checked, written safely, and its trouble is loud.

const root = process.geteuid?.() === 0;
const fresh = (): string => mkdtempSync(join(tmpdir(), 'state-'));
const STATE = { services: ['tcp 10.0.0.9:80'], addresses: [], drains: [] };
const stateText = (services: string[]) => `${JSON.stringify({ version: 1, services, addresses: [], drains: [] })}\n`;

/** Polls /readyz until `until(status + body)` holds; returns that last answer. */
async function readyz(port: number, until: (answer: string) => boolean, timeoutMs = 8000): Promise<string> {
  let answer = '';
  await waitFor(() => {
    void fetch(`http://127.0.0.1:${port}/readyz`).then(
      async (r) => {
        answer = `${r.status} ${await r.text()}`;
      },
      () => {},
    );
    return until(answer);
  }, timeoutMs);
  return answer;
}

async function refused(store: FileStateStore): Promise<string> {
  const err = await store.load().catch((e: unknown) => e);
  expect(err).toBeInstanceOf(StateFileError);
  return (err as Error).message;
}

describe('FileStateStore: what it trusts', () => {
  it('refuses a state file writable by others, saying how to fix it', async () => {
    const dir = fresh();
    const path = join(dir, 'state.json');
    writeFileSync(path, stateText([]));
    chmodSync(path, 0o666);
    expect(await refused(new FileStateStore(dir))).toBe(
      `state file ${path} is writable by anyone (mode 0666), and it decides what a sync deletes; check its content, then: chmod 600 ${path}`,
    );
    chmodSync(path, 0o620);
    expect(await refused(new FileStateStore(dir))).toContain('is writable by its group (mode 0620)');
  });

  it.skipIf(!root)('refuses a state file owned by another uid (a forged file)', async () => {
    const dir = fresh();
    const path = join(dir, 'state.json');
    writeFileSync(path, stateText([]), { mode: 0o600 });
    chownSync(path, 4242, 4242);
    expect(await refused(new FileStateStore(dir))).toBe(
      `state file ${path} is owned by uid 4242, not by this process (uid 0): someone else may have written it, and it decides what a sync deletes; check its content, then: chown 0 ${path} && chmod 600 ${path}`,
    );
  });

  it('does not follow a symbolic link as the state file', async () => {
    const dir = fresh();
    const elsewhere = join(fresh(), 'other.json');
    writeFileSync(elsewhere, stateText(['tcp 10.0.0.9:80']), { mode: 0o600 });
    symlinkSync(elsewhere, join(dir, 'state.json'));
    expect(await refused(new FileStateStore(dir))).toMatch(/state file .*state\.json is a symbolic link; it is not followed: the state file must be a regular file; to start afresh, move it away: mv /);
  });

  it('refuses a directory others can write to, and an oversized file', async () => {
    const open = fresh();
    chmodSync(open, 0o777);
    expect(await refused(new FileStateStore(open))).toBe(`state directory ${open} is writable by others (mode 0777): anyone could replace the state file; chmod 700 ${open}`);
    const dir = fresh();
    const path = join(dir, 'state.json');
    writeFileSync(path, '', { mode: 0o600 });
    truncateSync(path, 65 * 1024 * 1024); // sparse
    expect(await refused(new FileStateStore(dir))).toContain('is larger than 64 MiB: it is not one this program wrote; to start afresh, move it away:');
  });

  it('a corrupt file names the command that fixes it', async () => {
    const dir = fresh();
    const path = join(dir, 'state.json');
    writeFileSync(path, '{"version": 1, "services": [', { mode: 0o600 });
    const message = await refused(new FileStateStore(dir));
    expect(message).toMatch(/^state file .* is not valid JSON \(.*\); to start afresh, move it away: mv (\S+) \1\.bad \(services made before are then not ours: left alone, never deleted\)$/);
  });

  it.skipIf(!root)('a forged state file cannot make a resync delete a hand-made service', async () => {
    const ipvs = new MemoryIpvs();
    const handMade: ServiceKey = { kind: 'addr', family: 'inet', protocol: 'tcp', address: '10.0.0.9', port: 80 };
    await ipvs.addService(handMade, { scheduler: 'rr', flags: {}, timeout: 0, netmask: '255.255.255.255' });
    const dir = fresh();
    const path = join(dir, 'state.json');
    writeFileSync(path, stateText([serviceKeyString(handMade)]), { mode: 0o644 });
    chownSync(path, 4242, 4242); // written by another user
    const report = await new Reconciler({ ipvs, store: new FileStateStore(dir), flowMoveEstimator: null }).resync({ services: [] });
    expect(report.mode).toBe('skipped');
    expect(report.errors[0]).toMatchObject({ code: 'STATE_FILE' });
    expect(ipvs.snapshot().has(serviceKeyString(handMade))).toBe(true);
  });
});

describe('FileStateStore: how it writes', () => {
  it('creates the file with mode 0600, whatever stale files lie there, and leaves no temp file', async () => {
    const dir = fresh();
    const path = join(dir, 'state.json');
    writeFileSync(path, stateText([]));
    chmodSync(path, 0o666);
    // A temp file left by a crash under the old predictable name, 0666: opened with 'w' it kept its mode.
    const stale = join(dir, `state.json.${process.pid}.tmp`);
    writeFileSync(stale, '');
    chmodSync(stale, 0o666);
    const old = process.umask(0); // even with no umask at all
    try {
      await new FileStateStore(dir).save(STATE);
    } finally {
      process.umask(old);
    }
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual(['state.json', `state.json.${process.pid}.tmp`]); // ours left no temp file
    expect(await new FileStateStore(dir).load()).toEqual(STATE);
  });

  it('never writes through a symlink planted at a temp file name (the old name was predictable: state.json.<pid>.tmp)', async () => {
    const dir = fresh();
    const victim = join(fresh(), 'victim');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, join(dir, `state.json.${process.pid}.tmp`));
    await new FileStateStore(dir).save(STATE);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lstatSync(join(dir, 'state.json')).isFile()).toBe(true);
    expect(await new FileStateStore(dir).load()).toEqual(STATE);
  });

  it('replaces a symlink at state.json with a file of its own instead of writing through it', async () => {
    const dir = fresh();
    const victim = join(fresh(), 'victim');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, join(dir, 'state.json'));
    await new FileStateStore(dir).save(STATE);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lstatSync(join(dir, 'state.json')).isFile()).toBe(true);
  });

  it('creates a missing state directory with mode 0700', async () => {
    const dir = join(fresh(), 'a', 'b');
    await new FileStateStore(dir).save(STATE);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('a write that fails is a StateFileError, with no temp file left', async () => {
    const dir = fresh();
    mkdirSync(join(dir, 'state.json')); // a directory where the file should go: rename fails
    const err = await new FileStateStore(dir).save(STATE).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateFileError);
    expect((err as Error).message).toMatch(/^cannot write state file .*; nothing new is created until it can be written$/);
    expect(readdirSync(dir)).toEqual(['state.json']);
  });
});

describe('a bad state file is loud: log with the fix, metric, /readyz', () => {
  it('StateFileHealth logs once per distinct problem and clears', () => {
    const lines: string[] = [];
    const log = { debug() {}, info: (_o: object, m?: string) => lines.push(`info ${m}`), warn() {}, error: (_o: object, m?: string) => lines.push(`error ${m}`) };
    const h = new StateFileHealth(log);
    const e = { code: 'STATE_FILE', message: 'state file /x is not valid JSON; mv /x /x.bad' };
    h.observe([e]);
    h.observe([e]);
    expect(h.problem).toBe(e.message);
    h.observe([]);
    expect(h.problem).toBeUndefined();
    expect(lines).toEqual(['error state file problem; syncs change nothing until it is fixed: state file /x is not valid JSON; mv /x /x.bad', 'info state file usable again']);
  });

  it('the controller with a corrupt state file: nothing programmed, /readyz 503 with the reason, a metric, the fix in the log; then it recovers', async () => {
    const server = await new FakeApiServer().start();
    try {
      server.create(service('ns1', 'web', { clusterIP: '10.96.0.10', ports: [{ port: 80 }] }));
      const dir = fresh();
      writeFileSync(join(dir, 'kubeconfig'), server.kubeConfigYaml());
      const stateDir = join(dir, 'state');
      mkdirSync(stateDir, { mode: 0o700 });
      writeFileSync(join(stateDir, 'state.json'), 'garbage', { mode: 0o600 });
      const ipvs = Object.assign(new MemoryIpvs(), { close() {} });
      const vips = Object.assign(new MemoryVips(), { close() {} });
      const out: string[] = [];
      const logDestination = new Writable({
        write(chunk, _enc, done) {
          out.push(String(chunk));
          done();
        },
      });
      let stop: () => void = () => {};
      const until = new Promise<void>((r) => {
        stop = r;
      });
      const port = 20000 + Math.floor(Math.random() * 20000);
      const flags: ControllerFlags = {
        nodeName: 'node-a',
        nodePortRange: '30000-32767',
        minSyncPeriod: '50ms',
        syncPeriod: '30s',
        metricsAddress: `127.0.0.1:${port}`,
        healthCheckAddress: 'none',
        interface: 'kube-ipvs0',
        masqueradeAll: false,
        masquerade: 'none',
        strictArp: false,
        sysctls: 'skip',
        sysctlRoot: '/proc/sys',
        stateDir,
        logLevel: 'info',
        kubeconfig: join(dir, 'kubeconfig'),
      };
      const status = runController(flags, { openKernel: async () => ({ ipvs, vips }), until, logDestination });
      const body = await readyz(port, (a) => a.includes('is not valid JSON'));
      expect(body).toMatch(/^503 not ready: state file .*state\.json is not valid JSON .*; to start afresh, move it away: mv .*state\.json .*state\.json\.bad/);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/ipvs_maglev_last_sync_errors\{code="STATE_FILE"\} 1/);
      expect(ipvs.snapshot().size).toBe(0);
      const errorLines = out.filter((l) => l.includes('"level":50'));
      expect(errorLines.length).toBeGreaterThanOrEqual(1);
      expect(errorLines[0]).toContain('state file problem; syncs change nothing until it is fixed');
      expect(errorLines[0]).toContain(`mv ${join(stateDir, 'state.json')} ${join(stateDir, 'state.json')}.bad`);
      // The operator runs the command: the next sync (retried with backoff) programs and /readyz turns 200.
      const { renameSync } = await import('node:fs');
      renameSync(join(stateDir, 'state.json'), join(stateDir, 'state.json.bad'));
      await waitFor(() => ipvs.snapshot().has('tcp 10.96.0.10:80'), 15_000);
      await readyz(port, (a) => a.startsWith('200'));
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).not.toContain('ipvs_maglev_last_sync_errors{');
      stop();
      expect(await status).toBe(0);
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('the standalone load balancer: a state directory others can write to keeps /readyz at 503 with the fix', async () => {
    const stateDir = fresh();
    chmodSync(stateDir, 0o777);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const config = parseConfig('settings: {minSyncInterval: 10ms}\nservices:\n  - {name: web, address: 192.0.2.10, port: 80, destinations: [{address: 10.0.0.1}]}\n', 'lb.yaml');
    const ipvs = Object.assign(new MemoryIpvs(), { close() {} });
    const vips = Object.assign(new MemoryVips(), { close() {} });
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    const lb = new StandaloneLb(
      { config: 'lb.yaml', metricsAddress: `127.0.0.1:${port}`, stateDir, interface: 'ipvs0', logLevel: 'silent', watch: false },
      config,
      createLogger({ level: 'silent', destination: sink }),
      { openKernel: async () => ({ ipvs, vips }), store: new FileStateStore(stateDir) },
    );
    await lb.start();
    try {
      const body = await readyz(port, (a) => a.startsWith('503') && a.includes('chmod 700'));
      expect(body).toBe(`503 not ready: state directory ${stateDir} is writable by others (mode 0777): anyone could replace the state file; chmod 700 ${stateDir}\n`);
      expect(ipvs.snapshot().size).toBe(0);
    } finally {
      await lb.stop();
    }
  });
});
