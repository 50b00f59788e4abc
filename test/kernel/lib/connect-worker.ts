// The client side of connectBatch (connect.ts): ONE long-lived node process inside the client network
// namespace, because starting a process per connection costs ~0.5 s under the VM's software emulation.
// Protocol, JSON lines: stdin {id, items: ConnectTarget[], concurrency} -> stdout {id, results: ConnectResult[]}.
import { createSocket } from 'node:dgram';
import { isIPv6, connect as tcpConnect } from 'node:net';
import { createInterface } from 'node:readline';

interface Target {
  src?: string;
  sport?: number;
  dst: string;
  dport: number;
  proto?: 'tcp' | 'udp';
  timeoutMs?: number;
  path?: string;
}

interface Result {
  ok: boolean;
  backend?: string;
  local?: string;
  peer?: string;
  status?: number;
  body?: string;
  error?: string;
  ms: number;
}

function parseIdentity(text: string, r: Result): Result {
  r.body = text;
  try {
    const j = JSON.parse(text.trim()) as { backend?: unknown; local?: unknown; peer?: unknown };
    if (typeof j.backend === 'string') r.backend = j.backend;
    if (typeof j.local === 'string') r.local = j.local;
    if (typeof j.peer === 'string') r.peer = j.peer;
  } catch {
    // not one of our backends: the raw body is all we have
  }
  return r;
}

function errorName(e: unknown): string {
  if (e && typeof e === 'object' && 'code' in e && typeof e.code === 'string') return e.code;
  return e instanceof Error ? e.message : String(e);
}

function tcp(t: Target): Promise<Result> {
  const started = performance.now();
  return new Promise((resolve) => {
    let done = false;
    const chunks: Buffer[] = [];
    const finish = (r: Omit<Result, 'ms'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ ...r, ms: Math.round(performance.now() - started) });
    };
    const sock = tcpConnect({
      host: t.dst,
      port: t.dport,
      localAddress: t.src,
      localPort: t.sport,
      family: isIPv6(t.dst) ? 6 : 4,
    });
    const timer = setTimeout(() => finish({ ok: false, error: 'ETIMEDOUT' }), t.timeoutMs ?? 10_000);
    sock.on('connect', () => {
      const host = isIPv6(t.dst) ? `[${t.dst}]` : t.dst;
      sock.write(`GET ${t.path ?? '/'} HTTP/1.0\r\nHost: ${host}:${t.dport}\r\n\r\n`);
    });
    sock.on('data', (b: Buffer) => chunks.push(b));
    sock.on('error', (e) => finish({ ok: false, error: errorName(e) }));
    sock.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (!text.startsWith('HTTP/') || split < 0) {
        finish(parseIdentity(text, { ok: text.length > 0, ms: 0, ...(text.length ? {} : { error: 'EMPTY' }) }));
        return;
      }
      const status = Number(text.slice(9, 12));
      finish(parseIdentity(text.slice(split + 4), { ok: true, status, ms: 0 }));
    });
  });
}

function udp(t: Target): Promise<Result> {
  const started = performance.now();
  return new Promise((resolve) => {
    const sock = createSocket(isIPv6(t.dst) ? 'udp6' : 'udp4');
    let done = false;
    const finish = (r: Omit<Result, 'ms'>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      resolve({ ...r, ms: Math.round(performance.now() - started) });
    };
    const timer = setTimeout(() => finish({ ok: false, error: 'ETIMEDOUT' }), t.timeoutMs ?? 10_000);
    sock.on('error', (e) => finish({ ok: false, error: errorName(e) }));
    sock.on('message', (msg) => finish(parseIdentity(msg.toString('utf8'), { ok: true, ms: 0 })));
    sock.bind({ address: t.src, port: t.sport ?? 0 }, () => {
      sock.send('identify\n', t.dport, t.dst, (e) => {
        if (e) finish({ ok: false, error: errorName(e) });
      });
    });
  });
}

async function batch(items: Target[], concurrency: number): Promise<Result[]> {
  const results = new Array<Result>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      const t = items[i];
      try {
        results[i] = await (t.proto === 'udp' ? udp(t) : tcp(t));
      } catch (e) {
        results[i] = { ok: false, error: errorName(e), ms: 0 };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, lane));
  return results;
}

const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let msg: { id: number; items: Target[]; concurrency?: number };
  try {
    msg = JSON.parse(line);
  } catch {
    process.stdout.write(`${JSON.stringify({ id: -1, error: 'bad request line' })}\n`);
    return;
  }
  batch(msg.items, msg.concurrency ?? 16).then((results) => {
    process.stdout.write(`${JSON.stringify({ id: msg.id, results })}\n`);
  });
});
rl.on('close', () => process.exit(0));
process.stdout.write('ready\n');
