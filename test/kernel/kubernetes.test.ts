// Kubernetes mode against the real kernel: the `ipvs-maglev controller` process, fed by the
// fake API server over HTTP (real client-node informers), programs real IPVS + nftables; real
// traffic from a client namespace reaches "pods" (backend namespaces) through a ClusterIP and a
// NodePort; scaling the EndpointSlice adds and drains destinations without resetting existing
// connections; a controller restart changes nothing.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeApiServer, type KubeObject } from '../../src/testing/fake-apiserver.ts';
import { assertIpvsKernel, clearIpvs, createTopology, ipvsadm, run, type Topology } from './lib/index.ts';

const NODE = 'node-a';
const NODE_IP = '10.220.0.1'; // the root namespace's address on the client side
const CLUSTER_IP = '10.96.0.10';
const LOCAL_IP = '10.96.0.20';
const LB_IP = '203.0.113.50';
const ECHO_PORT = 9000;
const METRICS = '127.0.0.1:19477';

// A long-lived TCP echo server for each backend (the topology's servers close after one answer).
const ECHO_SERVER = `
const net = require('net');
net.createServer((s) => { s.setEncoding('utf8'); s.on('data', (d) => s.write(process.env.NAME + ':' + d)); s.on('error', () => {}); })
  .listen(${ECHO_PORT}, '0.0.0.0', () => console.log('ready'));`;

// Holds client connections open: stdin {"op":"open"|"ping"|"close","id",...} -> stdout {"id",...}.
const LONG_CLIENT = `
const net = require('net'); const rl = require('readline').createInterface({ input: process.stdin });
const socks = new Map(); const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
rl.on('line', (line) => { const m = JSON.parse(line);
  if (m.op === 'open') { const s = net.connect({ host: m.dst, port: m.port, localAddress: m.src }); s.setEncoding('utf8');
    socks.set(m.id, s); s.on('connect', () => out({ id: m.id, open: true })); s.on('data', (d) => out({ id: m.id, reply: d.trim() }));
    s.on('error', (e) => out({ id: m.id, error: e.code || e.message })); s.on('close', () => out({ id: m.id, closed: true })); }
  else if (m.op === 'ping') socks.get(m.id).write('ping\\n');
  else if (m.op === 'close') socks.get(m.id).end(); });
console.log(JSON.stringify({ ready: true }));`;

class LongClient {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiters: ((m: Record<string, unknown>) => boolean)[] = [];
  readonly ready: Promise<void>;
  constructor(netns: string) {
    this.child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', LONG_CLIENT]);
    const rl = createInterface({ input: this.child.stdout });
    let ready: () => void = () => {};
    this.ready = new Promise((r) => {
      ready = r;
    });
    rl.on('line', (line) => {
      const m = JSON.parse(line) as Record<string, unknown>;
      if (m.ready) ready();
      for (let i = 0; i < this.waiters.length; i++) {
        if (this.waiters[i](m)) {
          this.waiters.splice(i, 1);
          break;
        }
      }
    });
  }
  private next(id: string, key: string, send: object, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`connection ${id}: no ${key} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((m) => {
        if (m.id !== id || (!(key in m) && !('error' in m))) return false;
        clearTimeout(t);
        resolve(m);
        return true;
      });
      this.child.stdin.write(JSON.stringify(send) + '\n');
    });
  }
  async open(id: string, src: string, dst: string, port: number): Promise<void> {
    const m = await this.next(id, 'open', { op: 'open', id, src, dst, port });
    if (m.error) throw new Error(`connection ${id}: ${String(m.error)}`);
  }
  /** The backend that answers on this (still open) connection. */
  async ping(id: string): Promise<string> {
    const m = await this.next(id, 'reply', { op: 'ping', id });
    if (m.error) throw new Error(`connection ${id}: ${String(m.error)}`);
    return String(m.reply).split(':')[0];
  }
  close(id: string): void {
    this.child.stdin.write(JSON.stringify({ op: 'close', id }) + '\n');
  }
  kill(): void {
    this.child.kill('SIGKILL');
  }
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

describe('Kubernetes controller on a real kernel', () => {
  let topo: Topology;
  let api: FakeApiServer;
  let dir: string;
  let controller: ChildProcessWithoutNullStreams | undefined;
  let controllerLog = '';
  const echo: ChildProcessWithoutNullStreams[] = [];
  let clients: LongClient;

  const startController = async (): Promise<void> => {
    controller = spawn(process.execPath, [
      'bin/ipvs-maglev.mjs', 'controller',
      '--kubeconfig', join(dir, 'kubeconfig'),
      '--node-name', NODE,
      '--node-ip', NODE_IP,
      '--interface', 'k8sipvs0',
      '--cluster-cidr', '10.210.0.0/24',
      '--min-sync-period', '100ms',
      '--sync-period', '2s',
      '--metrics-address', METRICS,
      '--state-dir', dir,
      '--log-level', 'debug',
    ]);
    controller.stdout.on('data', (b: Buffer) => {
      controllerLog = (controllerLog + b.toString()).slice(-20_000);
    });
    controller.stderr.on('data', (b: Buffer) => {
      controllerLog = (controllerLog + b.toString()).slice(-20_000);
    });
    const proc = controller;
    const exited = new Promise<never>((_, reject) => proc.once('exit', (code, signal) => reject(new Error(`the controller exited with ${code ?? signal}`))));
    // Generous: Node's start-up alone takes tens of seconds under TCG on a busy host.
    const ready = waitFor('the controller to be ready', async () => {
      const r = await fetch(`http://${METRICS}/readyz`).catch(() => undefined);
      return r?.status === 200 ? true : undefined;
    }, 300_000);
    exited.catch(() => {});
    await Promise.race([ready, exited]).catch((err: Error) => {
      throw new Error(`${err.message}\n--- controller log ---\n${controllerLog}`);
    });
  };

  const stopController = async (): Promise<void> => {
    const c = controller;
    controller = undefined;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
    });
  };

  const epSlice = (names: string[], terminating: string[] = []): KubeObject => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: 'shop', name: 'web-abc', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'echo', port: ECHO_PORT, protocol: 'TCP' }],
    endpoints: [
      ...names.map((n) => ({ addresses: [topo.backend(n).ip], conditions: { ready: true, serving: true, terminating: false }, nodeName: n === 'b1' ? NODE : 'node-b' })),
      ...terminating.map((n) => ({ addresses: [topo.backend(n).ip], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'node-b' })),
    ],
  });

  const save = async () => (await ipvsadm(['-S', '-n'])).trim();

  beforeAll(async () => {
    assertIpvsKernel();
    await clearIpvs();
    await run(['nft', 'delete', 'table', 'inet', 'ipvs-maglev']).catch(() => {});
    topo = await createTopology({ prefix: 'k8s', backends: 3, ports: [80], vips: [] });
    for (const b of topo.backends) {
      const child = spawn('ip', ['netns', 'exec', b.netns, process.execPath, '-e', ECHO_SERVER], { env: { ...process.env, NAME: b.name } });
      echo.push(child);
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child.once('exit', (code) => reject(new Error(`echo server ${b.name} exited ${code}`)));
      });
    }
    clients = new LongClient(topo.client.netns);
    await clients.ready;
    api = await new FakeApiServer().start();
    dir = mkdtempSync(join(tmpdir(), 'k8s-kernel-'));
    writeFileSync(join(dir, 'kubeconfig'), api.kubeConfigYaml());
    api.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: NODE }, status: { addresses: [{ type: 'InternalIP', address: NODE_IP }] } });
    api.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { namespace: 'shop', name: 'web' },
      spec: {
        type: 'NodePort',
        clusterIP: CLUSTER_IP,
        clusterIPs: [CLUSTER_IP],
        ports: [
          { name: 'http', port: 80, targetPort: 80, nodePort: 30080, protocol: 'TCP' },
          { name: 'echo', port: ECHO_PORT, targetPort: ECHO_PORT, nodePort: 30900, protocol: 'TCP' },
        ],
      },
    });
    // Same pods, but only the ones on this node, and the client address kept (no masquerade).
    api.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { namespace: 'shop', name: 'web-local' },
      spec: { type: 'NodePort', clusterIP: LOCAL_IP, externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, nodePort: 30081, protocol: 'TCP' }] },
    });
    // A LoadBalancer Service open only to 10.200.1.0/24 (client sources src(256..510)).
    api.create({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { namespace: 'shop', name: 'web-lb' },
      spec: { type: 'LoadBalancer', clusterIP: '10.96.0.30', loadBalancerSourceRanges: ['10.200.1.0/24'], ports: [{ name: 'http', port: 80, nodePort: 30082, protocol: 'TCP' }] },
      status: { loadBalancer: { ingress: [{ ip: LB_IP }] } },
    });
    const lb = epSlice(['b1', 'b2']);
    lb.metadata = { namespace: 'shop', name: 'web-lb-1', labels: { 'kubernetes.io/service-name': 'web-lb' } };
    api.create(lb);
    api.create(epSlice(['b1', 'b2']));
    const local = epSlice(['b1', 'b2']);
    local.metadata = { namespace: 'shop', name: 'web-local-1', labels: { 'kubernetes.io/service-name': 'web-local' } };
    api.create(local);
    await startController();
  }, 600_000);

  afterAll(async () => {
    clients?.kill();
    await stopController();
    for (const c of echo) c.kill('SIGKILL');
    await api?.stop();
    await clearIpvs().catch(() => {});
    await run(['ip', 'link', 'del', 'k8sipvs0']).catch(() => {});
    await run(['nft', 'delete', 'table', 'inet', 'ipvs-maglev']).catch(() => {});
    await topo?.cleanup();
  }, 60_000);

  it('programs the virtual servers kube-proxy would, binds the cluster IPs and sets the sysctls', async () => {
    const rules = await save();
    expect(rules).toContain(`-A -t ${CLUSTER_IP}:80 -s mh -b mh-fallback,mh-port`);
    expect(rules).toContain(`-A -t ${NODE_IP}:30080 -s mh -b mh-fallback,mh-port`);
    expect(rules).toContain(`-a -t ${CLUSTER_IP}:80 -r ${topo.backend('b1').ip}:80 -m -w 1`);
    expect(rules).toContain(`-a -t ${NODE_IP}:30081 -r ${topo.backend('b1').ip}:80 -m -w 1`);
    expect(rules).not.toContain(`-a -t ${NODE_IP}:30081 -r ${topo.backend('b2').ip}:80`); // b2 is on another node
    const addrs = await run(['ip', '-br', 'addr', 'show', 'dev', 'k8sipvs0']);
    expect(addrs).toContain(`${CLUSTER_IP}/32`);
    expect(addrs).toContain(`${LOCAL_IP}/32`);
    expect((await run(['sysctl', '-n', 'net.ipv4.vs.conntrack'])).trim()).toBe('1');
    expect((await run(['sysctl', '-n', 'net.ipv4.vs.expire_nodest_conn'])).trim()).toBe('1');
    expect(await run(['nft', 'list', 'set', 'inet', 'ipvs-maglev', 'node-ports'])).toMatch(/tcp \. 30080/);
    const metrics = await (await fetch(`http://${METRICS}/metrics`)).text();
    expect(metrics).toMatch(/ipvs_maglev_network_programming_duration_seconds_count \d+/);
  });

  it('real traffic to the ClusterIP and the NodePort reaches the pods, masqueraded (client outside the cluster CIDR)', async () => {
    const n = 16;
    for (const [dst, port] of [[CLUSTER_IP, 80], [NODE_IP, 30080]] as const) {
      const results = await topo.connect(Array.from({ length: n }, (_, i) => ({ src: topo.client.src(i), sport: 30_000 + i, dst, dport: port })));
      const failed = results.filter((r) => !r.ok);
      expect(failed, `${dst}:${port} ${JSON.stringify(failed.slice(0, 2))}\n${controllerLog.slice(-3000)}`).toEqual([]);
      expect(new Set(results.map((r) => r.backend))).toEqual(new Set(['b1', 'b2']));
      // Masqueraded by our nftables rules: the pod sees the node's bridge address, not the client.
      for (const r of results) expect(r.peer?.startsWith(`${topo.gateway}:`), JSON.stringify(r)).toBe(true);
    }
  });

  it('externalTrafficPolicy Local: the node port reaches only this node’s pod and keeps the client address', async () => {
    const results = await topo.connect(Array.from({ length: 6 }, (_, i) => ({ src: topo.client.src(100 + i), sport: 31_000 + i, dst: NODE_IP, dport: 30081 })));
    expect(results.every((r) => r.ok), JSON.stringify(results.filter((r) => !r.ok))).toBe(true);
    expect(new Set(results.map((r) => r.backend))).toEqual(new Set(['b1']));
    for (const [i, r] of results.entries()) expect(r.peer).toBe(`${topo.client.src(100 + i)}:${31_000 + i}`);
  });

  it('loadBalancerSourceRanges: the load-balancer IP answers clients inside the ranges only', async () => {
    const allowed = await topo.connect(Array.from({ length: 6 }, (_, i) => ({ src: topo.client.src(300 + i), sport: 34_000 + i, dst: LB_IP, dport: 80 })));
    expect(allowed.every((r) => r.ok), JSON.stringify(allowed.filter((r) => !r.ok))).toBe(true);
    expect(new Set(allowed.map((r) => r.backend))).toEqual(new Set(['b1', 'b2']));
    const denied = await topo.connect(Array.from({ length: 4 }, (_, i) => ({ src: topo.client.src(20 + i), sport: 34_100 + i, dst: LB_IP, dport: 80, timeoutMs: 3000 })));
    expect(denied.filter((r) => r.ok)).toEqual([]);
    // The same clients still reach the Service's cluster IP: the ranges guard the load-balancer IP only.
    const cluster = await topo.connect(Array.from({ length: 4 }, (_, i) => ({ src: topo.client.src(20 + i), sport: 34_200 + i, dst: '10.96.0.30', dport: 80 })));
    expect(cluster.every((r) => r.ok), JSON.stringify(cluster.filter((r) => !r.ok))).toBe(true);
  });

  it('scaling the EndpointSlice adds and drains destinations without resetting existing connections', { timeout: 400_000 }, async () => {
    // Long-lived connections first, spread over b1 and b2.
    const ids = Array.from({ length: 8 }, (_, i) => `c${i}`);
    const before = new Map<string, string>();
    for (const [i, id] of ids.entries()) {
      await clients.open(id, topo.client.src(200 + i), CLUSTER_IP, ECHO_PORT);
      before.set(id, await clients.ping(id));
    }
    expect(new Set(before.values())).toEqual(new Set(['b1', 'b2']));

    // Scale up to three pods: new connections reach b3; the open ones stay where they were.
    api.update(epSlice(['b1', 'b2', 'b3']));
    await waitFor('b3 in IPVS', async () => ((await save()).includes(`-r ${topo.backend('b3').ip}:${ECHO_PORT}`) ? true : undefined));
    const fresh = await topo.connect(Array.from({ length: 24 }, (_, i) => ({ src: topo.client.src(300 + i), sport: 32_000 + i, dst: CLUSTER_IP, dport: 80 })));
    expect(fresh.every((r) => r.ok)).toBe(true);
    expect(new Set(fresh.map((r) => r.backend))).toEqual(new Set(['b1', 'b2', 'b3']));
    for (const id of ids) expect(await clients.ping(id)).toBe(before.get(id));

    // Scale down: b1 terminates. Its destination drains (weight 0) while connections to it live on.
    api.update(epSlice(['b2', 'b3'], ['b1']));
    const b1Echo = `-a -t ${CLUSTER_IP}:${ECHO_PORT} -r ${topo.backend('b1').ip}:${ECHO_PORT} -m -w 0`;
    await waitFor('b1 drained to weight 0', async () => ((await save()).includes(b1Echo) ? true : undefined));
    for (const id of ids) expect(await clients.ping(id)).toBe(before.get(id));
    const after = await topo.connect(Array.from({ length: 24 }, (_, i) => ({ src: topo.client.src(400 + i), sport: 33_000 + i, dst: CLUSTER_IP, dport: 80 })));
    expect(after.every((r) => r.ok)).toBe(true);
    expect(after.some((r) => r.backend === 'b1')).toBe(false);

    // The pod is gone from the slice; once its connections end (closed, then IPVS's 2 min TIME_WAIT),
    // a full resync deletes the drained destination.
    api.update(epSlice(['b2', 'b3']));
    for (const [id, b] of before) if (b === 'b1') clients.close(id);
    await waitFor('b1 deleted after its connections ended', async () => (!(await save()).includes(`-r ${topo.backend('b1').ip}:${ECHO_PORT}`) ? true : undefined), 240_000);
    for (const [id, b] of before) if (b !== 'b1') expect(await clients.ping(id)).toBe(b);
  });

  it('a controller restart leaves IPVS untouched and keeps connections alive', { timeout: 600_000 }, async () => {
    // Let earlier drains finish first (their TIME_WAIT entries expire), so only the restart can change anything.
    await waitFor('no draining destinations', async () => (/ -w 0$/m.test(await save()) ? undefined : true), 240_000);
    await clients.open('r1', topo.client.src(500), CLUSTER_IP, ECHO_PORT);
    const backend = await clients.ping('r1');
    const rules = await save();
    await stopController();
    expect(await save()).toBe(rules); // stop flushes nothing
    expect(await clients.ping('r1')).toBe(backend);
    await startController();
    await new Promise((r) => setTimeout(r, 3000));
    expect(await save()).toBe(rules);
    expect(await clients.ping('r1')).toBe(backend);
  });
});
