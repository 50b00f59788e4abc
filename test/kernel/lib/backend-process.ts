// Host side of backend-server.ts: starts the one server process of a topology and drives it.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface BackendSpec {
  name: string;
  netns: string;
  ports: readonly number[];
}

export interface BackendServer {
  control(op: 'stop' | 'start' | 'health', name: string, ok?: boolean): Promise<void>;
  /** Kills the process (its sockets close with it). */
  kill(): Promise<void>;
}

const serverPath = fileURLToPath(new URL('./backend-server.ts', import.meta.url));
// Node strips our TypeScript with a WebAssembly module whose tier-up crashed V8 now and then under emulation
// (see bin/ipvs-maglev.mjs): baseline WebAssembly only.
export const NO_WASM_TIER_UP = ['--no-wasm-tier-up', '--no-wasm-dynamic-tiering'];

export function startBackendServer(specs: readonly BackendSpec[]): Promise<BackendServer> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [...NO_WASM_TIER_UP, serverPath, JSON.stringify({ backends: specs })], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  let out = '';
  let exited = false;
  let nextId = 1;
  const waiting = new Map<number, (error?: string) => void>();
  let onReady: ((e?: Error) => void) | undefined;

  child.stderr.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString('utf8')).slice(-4000);
  });
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString('utf8');
    let nl = out.indexOf('\n');
    while (nl >= 0) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      nl = out.indexOf('\n');
      if (line === 'ready') {
        onReady?.();
        continue;
      }
      const msg = JSON.parse(line) as { id: number; error?: string };
      waiting.get(msg.id)?.(msg.error);
      waiting.delete(msg.id);
    }
  });
  child.stdin.on('error', () => {});
  child.on('exit', (code, signal) => {
    exited = true;
    const why = `backend server exited (${signal ?? code}): ${stderr.trim()}`;
    for (const w of waiting.values()) w(why);
    waiting.clear();
    onReady?.(new Error(why));
  });

  const server: BackendServer = {
    control(op, name, ok) {
      if (exited) return Promise.reject(new Error(`backend server has exited: ${stderr.trim()}`));
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`backend server: no answer to ${op} ${name} within 30 s`));
        }, 30_000);
        waiting.set(id, (error) => {
          clearTimeout(timer);
          if (error) reject(new Error(`backend ${name}: ${op}: ${error}`));
          else resolve();
        });
        child.stdin.write(`${JSON.stringify({ id, op, name, ok })}\n`);
      });
    },
    kill() {
      if (exited) return Promise.resolve();
      return new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    },
  };

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`backend server did not start within 60 s: ${stderr.trim()}`));
    }, 60_000);
    onReady = (e) => {
      onReady = undefined;
      clearTimeout(timer);
      if (e) reject(e);
      else resolve(server);
    };
  });
}
