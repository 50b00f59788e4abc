// Many client connections from one network namespace, through one long-lived worker process
// (connect-worker.ts): which backend answered each connection, or why it failed.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NO_WASM_TIER_UP } from './backend-process.ts';

export interface ConnectTarget {
  /** Source address (any address the namespace owns, e.g. one of the topology's client sources). */
  src?: string;
  /** Source port (0/absent: the kernel picks). Reusing a (src, sport, dst, dport) that IPVS still
   *  remembers sends the packet to the same backend as before, whatever the scheduler says now. */
  sport?: number;
  dst: string;
  dport: number;
  proto?: 'tcp' | 'udp';
  /** Bound on this one connection (default 10 s: the VM can be slow when the host is busy). */
  timeoutMs?: number;
  /** HTTP path for TCP (default "/"). */
  path?: string;
}

export interface ConnectResult {
  ok: boolean;
  /** Name of the backend that answered (our backend-server.ts), when it was one of ours. */
  backend?: string;
  /** The backend's own address:port for the connection, and the client address:port it saw. */
  local?: string;
  peer?: string;
  /** HTTP status (TCP to an HTTP server). */
  status?: number;
  body?: string;
  /** Errno-style code: ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, EMPTY, ... */
  error?: string;
  ms: number;
}

export interface ConnectClient {
  readonly netns: string | undefined;
  /** False once the worker process has exited (crashed, or closed). */
  alive(): boolean;
  batch(items: readonly ConnectTarget[], opts?: { concurrency?: number }): Promise<ConnectResult[]>;
  close(): Promise<void>;
}

export class ConnectWorkerError extends Error {
  readonly code = 'CONNECT_WORKER_FAILED';
  constructor(message: string) {
    super(message);
    this.name = 'ConnectWorkerError';
  }
}

const workerPath = fileURLToPath(new URL('./connect-worker.ts', import.meta.url));

/** Starts a worker inside `netns` (undefined: this namespace). */
export function openConnectClient(netns: string | undefined): Promise<ConnectClient> {
  const argv = netns
    ? ['ip', 'netns', 'exec', netns, process.execPath, ...NO_WASM_TIER_UP, workerPath]
    : [process.execPath, ...NO_WASM_TIER_UP, workerPath];
  const child: ChildProcessWithoutNullStreams = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let buffered = '';
  let exited = false;
  let nextId = 1;
  const waiting = new Map<number, { resolve: (r: ConnectResult[]) => void; reject: (e: Error) => void }>();
  let onReady: ((e?: Error) => void) | undefined;

  const failAll = (e: Error) => {
    for (const w of waiting.values()) w.reject(e);
    waiting.clear();
    onReady?.(e);
  };
  child.stderr.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString('utf8')).slice(-4000);
  });
  child.stdout.on('data', (b: Buffer) => {
    buffered += b.toString('utf8');
    let nl = buffered.indexOf('\n');
    while (nl >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      nl = buffered.indexOf('\n');
      if (line === 'ready') {
        onReady?.();
        continue;
      }
      const msg = JSON.parse(line) as { id: number; results?: ConnectResult[]; error?: string };
      const w = waiting.get(msg.id);
      if (!w) continue;
      waiting.delete(msg.id);
      if (msg.results) w.resolve(msg.results);
      else w.reject(new ConnectWorkerError(msg.error ?? 'bad worker reply'));
    }
  });
  child.on('error', (e) => failAll(new ConnectWorkerError(`cannot start the connect worker: ${e.message}`)));
  child.on('exit', (code, signal) => {
    exited = true;
    failAll(new ConnectWorkerError(`connect worker in ${netns ?? 'this namespace'} exited (${signal ?? code}): ${stderr.trim()}`));
  });
  child.stdin.on('error', () => {});

  const client: ConnectClient = {
    netns,
    alive: () => !exited,
    batch(items, opts = {}) {
      if (exited) return Promise.reject(new ConnectWorkerError('connect worker has exited'));
      if (items.length === 0) return Promise.resolve([]);
      const id = nextId++;
      const concurrency = opts.concurrency ?? 16;
      const perItem = Math.max(...items.map((t) => t.timeoutMs ?? 10_000));
      const bound = Math.ceil(items.length / concurrency) * (perItem + 1000) + 15_000;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new ConnectWorkerError(`connect batch of ${items.length} did not finish within ${bound} ms`));
        }, bound);
        waiting.set(id, {
          resolve: (r) => {
            clearTimeout(timer);
            resolve(r);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        child.stdin.write(`${JSON.stringify({ id, items, concurrency })}\n`);
      });
    },
    close() {
      if (exited) return Promise.resolve();
      return new Promise((resolve) => {
        const kill = setTimeout(() => child.kill('SIGKILL'), 2000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.stdin.end();
      });
    },
  };

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new ConnectWorkerError(`connect worker in ${netns ?? 'this namespace'} did not start within 30 s`));
    }, 30_000);
    onReady = (e) => {
      onReady = undefined;
      clearTimeout(timer);
      if (e) reject(e);
      else resolve(client);
    };
  });
}

const clients = new Map<string, Promise<ConnectClient>>();

/** Runs the connections from `netns` (a shared worker per namespace, started on first use); results
 *  are in the order of `items`. Each connection is bounded by its timeoutMs. */
export async function connectBatch(
  netns: string | undefined,
  items: readonly ConnectTarget[],
  opts: { concurrency?: number } = {},
): Promise<ConnectResult[]> {
  const key = netns ?? '';
  let c = clients.get(key);
  if (c && !(await c.catch(() => undefined))?.alive()) c = undefined;
  if (!c) {
    c = openConnectClient(netns);
    clients.set(key, c);
    c.catch(() => clients.delete(key));
  }
  return (await c).batch(items, opts);
}

/** Stops the shared workers of connectBatch (all, or the one of `netns`). */
export async function closeConnectClients(netns?: string): Promise<void> {
  for (const [key, c] of [...clients]) {
    if (netns !== undefined && key !== netns) continue;
    clients.delete(key);
    await c.then((x) => x.close()).catch(() => {});
  }
}
