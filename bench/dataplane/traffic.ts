// Starts the backend pods and the client worker inside their namespaces and talks to the worker.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { BenchError } from './exec.ts';
import type { FlowsReply, FlowsRequest, ProbeReply, ProbeRequest, RateReply, RateRequest, Target, WorkerReply } from './traffic-protocol.ts';

const BACKEND = fileURLToPath(new URL('./backend-server.ts', import.meta.url));
const WORKER = fileURLToPath(new URL('./traffic-worker.ts', import.meta.url));

// --no-wasm-*: see bin/ipvs-maglev.mjs (V8 crashed tiering up the TypeScript stripper under emulation).
function spawnInNs(ns: string, script: string, args: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, process.execPath, '--no-warnings', '--no-wasm-tier-up', '--no-wasm-dynamic-tiering', script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Resolves with the first stdout line, or rejects if the process exits or stays silent. */
function firstLine(child: ChildProcess, what: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    const timer = setTimeout(() => reject(new BenchError('START_TIMEOUT', `${what} did not start within ${timeoutMs} ms ${stderr.trim()}`)), timeoutMs);
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (line) => {
      clearTimeout(timer);
      rl.close();
      resolve(line);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new BenchError('START_FAILED', `${what} exited with ${code}: ${stderr.trim()}`));
    });
  });
}

export interface Pods {
  stop(): void;
}

export async function startPods(namespaces: readonly string[], names: readonly string[], port: number): Promise<Pods> {
  const children = namespaces.map((ns, i) => spawnInNs(ns, BACKEND, [names[i], String(port)]));
  const stop = () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  };
  try {
    await Promise.all(children.map((c, i) => firstLine(c, `backend ${names[i]}`, 60_000)));
  } catch (e) {
    stop();
    throw e;
  }
  return { stop };
}

export interface Client {
  probe(req: Omit<ProbeRequest, 'op'>): Promise<ProbeReply>;
  rate(req: Omit<RateRequest, 'op'>): Promise<RateReply>;
  flows(req: Omit<FlowsRequest, 'op'>): Promise<FlowsReply>;
  stop(): void;
}

export async function startClient(ns: string): Promise<Client> {
  const child = spawnInNs(ns, WORKER, []);
  await firstLine(child, 'client worker', 60_000);
  const pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  const rl = createInterface({ input: child.stdout! });
  rl.on('line', (line) => {
    let msg: WorkerReply | { id: number; op: 'error'; message: string };
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.op === 'error') p.reject(new BenchError('CLIENT_FAILED', msg.message));
    else p.resolve(msg);
  });
  child.once('exit', (code) => {
    for (const p of pending.values()) p.reject(new BenchError('CLIENT_EXITED', `client worker exited with ${code}`));
    pending.clear();
  });
  const ask = <R extends WorkerReply>(req: ProbeRequest | RateRequest | FlowsRequest): Promise<R> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: resolve as (r: WorkerReply) => void, reject });
      child.stdin!.write(`${JSON.stringify({ ...req, id })}\n`);
    });
  return {
    probe: (req) => ask<ProbeReply>({ ...req, op: 'probe' }),
    rate: (req) => ask<RateReply>({ ...req, op: 'rate' }),
    flows: (req) => ask<FlowsReply>({ ...req, op: 'flows' }),
    stop: () => {
      if (child.exitCode === null) child.stdin!.end();
      setTimeout(() => {
        if (child.exitCode === null) child.kill('SIGTERM');
      }, 2000).unref();
    },
  };
}

export type { Target };
