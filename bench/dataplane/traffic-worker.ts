// The client pod: a long-lived process in the client namespace that opens TCP connections on
// request (JSON lines on stdin, JSON lines on stdout), so no process start-up lands inside a
// measurement. One connection = connect + one request line + one reply line, then a reset
// (no TIME_WAIT left in the client, so source ports can be reused deliberately).
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import type { WorkerReply, WorkerRequest } from './traffic-protocol.ts';

interface Outcome {
  backend: string;
  us: number;
}

function once(host: string, port: number, timeoutMs: number, localPort?: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const s = connect({ host, port, localPort, noDelay: true });
    let buf = '';
    let done = false;
    const finish = (err: Error | undefined, backend = '') => {
      if (done) return;
      done = true;
      s.resetAndDestroy();
      if (err) reject(err);
      else resolve({ backend, us: Number(process.hrtime.bigint() - t0) / 1000 });
    };
    s.setTimeout(timeoutMs, () => finish(new Error(`timeout after ${timeoutMs} ms to ${host}:${port}`)));
    s.on('connect', () => s.write('GET\n'));
    s.on('data', (b: Buffer) => {
      buf += b.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) finish(undefined, buf.slice(0, nl));
    });
    s.on('error', (e) => finish(e));
    s.on('end', () => finish(new Error(`connection to ${host}:${port} closed without a reply`)));
  });
}

function count(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

async function handle(req: WorkerRequest): Promise<WorkerReply> {
  const backends: Record<string, number> = {};
  const errors: string[] = [];
  if (req.op === 'probe') {
    const latenciesUs: number[] = [];
    for (let i = 0; i < req.count; i++) {
      try {
        const o = await once(req.host, req.port, req.timeoutMs);
        latenciesUs.push(o.us);
        count(backends, o.backend);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    return { id: req.id, op: 'probe', latenciesUs, backends, errors: errors.slice(0, 5), errorCount: errors.length };
  }
  if (req.op === 'rate') {
    const t0 = Date.now();
    const deadline = t0 + req.durationMs;
    let completed = 0;
    let errorCount = 0;
    let next = 0;
    const lane = async () => {
      while (Date.now() < deadline) {
        const t = req.targets[next++ % req.targets.length];
        try {
          const o = await once(t.host, t.port, req.timeoutMs);
          completed++;
          count(backends, o.backend);
        } catch (e) {
          errorCount++;
          if (errors.length < 5) errors.push((e as Error).message);
        }
      }
    };
    await Promise.all(Array.from({ length: req.concurrency }, lane));
    return { id: req.id, op: 'rate', completed, elapsedMs: Date.now() - t0, backends, errors, errorCount };
  }
  // flows: the same source ports every time, so a scheduler that hashes them is seen doing so.
  const result: (string | null)[] = new Array(req.localPorts.length).fill(null);
  let idx = 0;
  let errorCount = 0;
  const lane = async () => {
    while (idx < req.localPorts.length) {
      const i = idx++;
      try {
        result[i] = (await once(req.host, req.port, req.timeoutMs, req.localPorts[i])).backend;
        count(backends, result[i] as string);
      } catch (e) {
        errorCount++;
        if (errors.length < 5) errors.push((e as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: req.concurrency }, lane));
  return { id: req.id, op: 'flows', flows: result, backends, errors, errorCount };
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let req: WorkerRequest;
  try {
    req = JSON.parse(line) as WorkerRequest;
  } catch {
    process.stdout.write(`${JSON.stringify({ id: -1, op: 'error', message: 'bad request line' })}\n`);
    return;
  }
  handle(req).then(
    (reply) => process.stdout.write(`${JSON.stringify(reply)}\n`),
    (e: unknown) => process.stdout.write(`${JSON.stringify({ id: req.id, op: 'error', message: String(e) })}\n`),
  );
});
rl.on('close', () => process.exit(0));
process.stdout.write(`${JSON.stringify({ id: 0, op: 'ready' })}\n`);
