// The client side of the failover measurements, run inside the client namespace. Holds hundreds of
// long-lived TCP connections to a VIP and, on request, asks each for one more answer. Control: one
// JSON request per stdin line, one JSON reply per stdout line:
//   {"op":"open","count":200,"host":"10.100.0.1","port":80,"firstPort":20000}  -> {"opened":[...],"failed":[...]}
//   {"op":"probe","timeoutMs":3000}   -> {"results":[{"id":0,"ok":true,"backend":"b2"},...]}
//   {"op":"fresh","count":50,"host":..,"port":..,"firstPort":..,"timeoutMs":..} -> {"results":[...]}
//   {"op":"close"}                    -> {"closed":N}
// Each connection binds its own source port (firstPort + i) so the flows are reproducible: the ECMP
// hash and Maglev's mh-port both look at it.
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';

interface Flow {
  id: number;
  sport: number;
  sock: Socket;
  backend: string;
  alive: boolean;
  error?: string;
  waiter?: (line: string | Error) => void;
  buf: string;
}

export interface ProbeResult {
  id: number;
  sport: number;
  ok: boolean;
  backend?: string;
  /** The answer came from another backend than the first one (never expected: sockets do not move). */
  moved?: boolean;
  error?: string;
  ms: number;
}

const flows: Flow[] = [];
const CONCURRENCY = 24;

function ask(flow: Flow, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    if (!flow.alive) {
      reject(new Error(flow.error ?? 'closed'));
      return;
    }
    const timer = setTimeout(() => {
      flow.waiter = undefined;
      reject(new Error('ETIMEDOUT'));
    }, timeoutMs);
    flow.waiter = (line) => {
      clearTimeout(timer);
      flow.waiter = undefined;
      if (line instanceof Error) reject(line);
      else resolve(line);
    };
    flow.sock.write('ping\n');
  });
}

function openFlow(id: number, host: string, port: number, sport: number, timeoutMs: number): Promise<Flow> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port, localPort: sport, timeout: 0 });
    const flow: Flow = { id, sport, sock, backend: '', alive: true, buf: '' };
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('ETIMEDOUT'));
    }, timeoutMs);
    sock.setNoDelay(true);
    sock.on('data', (chunk: Buffer) => {
      flow.buf += chunk.toString('latin1');
      let nl = flow.buf.indexOf('\n');
      while (nl >= 0) {
        const line = flow.buf.slice(0, nl);
        flow.buf = flow.buf.slice(nl + 1);
        flow.waiter?.(line);
        nl = flow.buf.indexOf('\n');
      }
    });
    const dead = (why: string) => {
      if (!flow.alive) return;
      flow.alive = false;
      flow.error = why;
      flow.waiter?.(new Error(why));
    };
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      dead(e.code ?? e.message);
      reject(new Error(e.code ?? e.message));
    });
    sock.on('close', () => dead('closed by peer'));
    sock.once('connect', () => {
      clearTimeout(timer);
      ask(flow, timeoutMs).then(
        (backend) => {
          flow.backend = backend;
          resolve(flow);
        },
        (e: Error) => {
          sock.destroy();
          reject(e);
        },
      );
    });
  });
}

async function pool<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

// Probes go out in a fixed shuffled order, not the order the flows were opened in. A scheduler that keeps
// a cursor (rr, wrr) on a node that takes over moved flows hands out backends in the order their
// packets arrive; probed in open order, that replays the dead node's own sequence, and when the two
// cursors happen to be in phase most moved flows land on their old backend by luck (the rr control
// saw 24-27 of 240 break in some runs, 98-123 in others). Real flows' packets keep no such order.
function inProbeOrder<T>(items: readonly T[]): T[] {
  const out = [...items];
  let state = 0x9e3779b9;
  for (let i = out.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const j = Math.floor((state / 2 ** 32) * (i + 1)); // the high bits: an LCG's low bits repeat quickly
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

interface Request {
  op: string;
  count?: number;
  host?: string;
  port?: number;
  firstPort?: number;
  timeoutMs?: number;
}

async function handle(req: Request): Promise<unknown> {
  const timeoutMs = req.timeoutMs ?? 5000;
  switch (req.op) {
    case 'open': {
      const base = flows.length;
      const ids = Array.from({ length: req.count ?? 0 }, (_, i) => base + i);
      const opened: { id: number; sport: number; backend: string }[] = [];
      const failed: { sport: number; error: string }[] = [];
      await pool(ids, async (id) => {
        const sport = (req.firstPort ?? 20000) + (id - base);
        try {
          const f = await openFlow(id, req.host ?? '', req.port ?? 80, sport, timeoutMs);
          flows[id] = f;
          opened.push({ id, sport, backend: f.backend });
        } catch (e) {
          failed.push({ sport, error: (e as Error).message });
        }
      });
      return { opened: opened.sort((a, b) => a.id - b.id), failed };
    }
    case 'probe': {
      const results = await pool(
        inProbeOrder(flows.filter((f) => f !== undefined)),
        async (f): Promise<ProbeResult> => {
          const t0 = performance.now();
          try {
            const backend = await ask(f, timeoutMs);
            return { id: f.id, sport: f.sport, ok: true, backend, moved: backend !== f.backend, ms: performance.now() - t0 };
          } catch (e) {
            return { id: f.id, sport: f.sport, ok: false, error: (e as Error).message, ms: performance.now() - t0 };
          }
        },
      );
      return { results: results.sort((a, b) => a.id - b.id) };
    }
    case 'fresh': {
      const sports = Array.from({ length: req.count ?? 0 }, (_, i) => (req.firstPort ?? 40000) + i);
      const results = await pool(sports, async (sport) => {
        const t0 = performance.now();
        try {
          const f = await openFlow(-1, req.host ?? '', req.port ?? 80, sport, timeoutMs);
          f.sock.destroy();
          return { sport, ok: true, backend: f.backend, ms: performance.now() - t0 };
        } catch (e) {
          return { sport, ok: false, error: (e as Error).message, ms: performance.now() - t0 };
        }
      });
      return { results };
    }
    case 'close': {
      let n = 0;
      for (const f of flows.splice(0)) {
        if (!f) continue;
        f.alive = false;
        f.sock.destroy();
        n++;
      }
      return { closed: n };
    }
    default:
      return { error: `unknown op ${req.op}` };
  }
}

// Requests are served one at a time, in order.
let chain: Promise<void> = Promise.resolve();
createInterface({ input: process.stdin })
  .on('line', (line) => {
    chain = chain.then(async () => {
      let reply: unknown;
      try {
        reply = await handle(JSON.parse(line) as Request);
      } catch (e) {
        reply = { error: (e as Error).message };
      }
      process.stdout.write(`${JSON.stringify(reply)}\n`);
    });
  })
  .on('close', () => process.exit(0));
process.stdout.write('ready\n');
