// A scale-out cluster on one kernel, in network namespaces: the topology of issue 12 and of the README's
// "Scale-out" diagram. Used by the kernel suite (test/kernel/scale-out.test.ts), `ipvs-maglev bench
// failover` and `npm run demo:cluster`.
//
//   client ns  ---- router ns (BIRD, ECMP: merge paths, fib_multipath_hash_policy=1) ---- LAN bridge
//   10.30.0.2       10.30.0.1 | 10.31.0.1                                                    |
//                                 +-- LB node i: its own IPVS, BIRD and `ipvs-maglev run` (10.31.0.1i)
//                                 +-- backend j: tunl0 (IPIP) / fou (GUE), VIP on lo (10.31.0.10j),
//                                     replies straight to the router (direct server return)
//
// Every node runs the same lb.yaml but its own BIRD peer address and router id; the router peers with
// every possible node (4), so a node joins by starting.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ipBatch, run, runResult } from '../../src/testing/exec.ts';
import type { ProbeResult } from './flow-client.ts';

export type { ProbeResult } from './flow-client.ts';

export const VIP = '10.100.0.1';
export const GUE_VIP = '10.100.0.2';
export const DR_VIP = '10.100.0.3';
export const ROUTER_ASN = 65000;
export const NODE_ASN = 65001;
export const GUE_PORT = 6080;
const MAX_NODES = 4;

export type Scheduler = 'mh' | 'rr';

export interface ClusterOptions {
  /** Namespace prefix, 2-4 lower-case letters (default "so"). */
  prefix?: string;
  backends?: number;
  scheduler?: Scheduler;
  /** bgp.takeOverFlows: the sloppy_tcp/sloppy_sctp sysctls (default true). */
  takeOverFlows?: boolean;
  /** Also serve GUE_VIP over GUE tunnels and DR_VIP by direct routing (default false). */
  extraModes?: boolean;
  /** Where configs, BIRD sockets and logs go (default $IPVS_MAGLEV_CLUSTER_LOGS or /tmp, + /ipvs-maglev-cluster-<prefix>). */
  dir?: string;
  /** bgp.gracePeriod in ms (default 5000). */
  gracePeriodMs?: number;
}

const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '..', '..');
const NODE_FLAGS = ['--no-wasm-tier-up', '--no-wasm-dynamic-tiering'];

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface FreshResult {
  sport: number;
  ok: boolean;
  backend?: string;
  error?: string;
  ms: number;
}

/** The JSON-lines client in the client namespace (flow-client.ts); also used by test/kernel/mh-order.test.ts. */
export class FlowClient {
  private readonly child: ChildProcess;
  private buf = '';
  private waiters: ((line: string) => void)[] = [];
  private exited = '';

  constructor(netns: string) {
    this.child = spawn('ip', ['netns', 'exec', netns, process.execPath, ...NODE_FLAGS, join(here, 'flow-client.ts')], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (b: Buffer) => {
      this.buf += b.toString('utf8');
      let nl = this.buf.indexOf('\n');
      while (nl >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        this.waiters.shift()?.(line);
        nl = this.buf.indexOf('\n');
      }
    });
    let err = '';
    this.child.stderr?.on('data', (b: Buffer) => {
      err = (err + b.toString('utf8')).slice(-2000);
    });
    this.child.on('exit', (code, sig) => {
      this.exited = `flow client exited (${sig ?? code}): ${err}`;
      for (const w of this.waiters.splice(0)) w(JSON.stringify({ error: this.exited }));
    });
  }

  private next(): Promise<string> {
    if (this.exited) return Promise.reject(new Error(this.exited));
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async ready(): Promise<void> {
    const line = await this.next();
    if (line !== 'ready') throw new Error(`flow client: ${line}`);
  }

  async request<T>(req: object): Promise<T> {
    const reply = this.next();
    this.child.stdin?.write(`${JSON.stringify(req)}\n`);
    const parsed = JSON.parse(await reply) as T & { error?: string };
    if (parsed.error) throw new Error(`flow client: ${parsed.error}`);
    return parsed;
  }

  kill(): void {
    this.child.stdin?.end();
    this.child.kill('SIGKILL');
  }
}

export interface NodeState {
  index: number;
  netns: string;
  address: string;
  dir: string;
  lb?: ChildProcess;
  bird?: ChildProcess;
  lbExit?: Promise<number | null>;
}

export class Cluster {
  readonly prefix: string;
  readonly dir: string;
  readonly router: string;
  readonly clientNs: string;
  readonly backends: { name: string; netns: string; address: string }[];
  readonly nodes: NodeState[] = [];
  private readonly opts: Required<ClusterOptions>;
  /** BIRD control sockets: always on a local filesystem (a 9p share, as VM_RW dirs are, cannot hold sockets). */
  readonly sockets: string;
  private routerBird?: ChildProcess;
  private backendServer?: ChildProcess;
  private client?: FlowClient;
  /** Backends listed in the configuration (a subset after removeBackend). */
  private configured: string[];

  private constructor(opts: Required<ClusterOptions>) {
    this.opts = opts;
    this.prefix = opts.prefix;
    this.dir = opts.dir;
    this.sockets = `/run/ipvs-maglev-cluster-${opts.prefix}`;
    this.router = `${this.prefix}-r`;
    this.clientNs = `${this.prefix}-c`;
    this.backends = Array.from({ length: opts.backends }, (_, j) => ({ name: `b${j + 1}`, netns: `${this.prefix}-b${j + 1}`, address: `10.31.0.${101 + j}` }));
    this.configured = this.backends.map((b) => b.address);
    for (let i = 1; i <= MAX_NODES; i++) {
      this.nodes.push({ index: i, netns: `${this.prefix}-lb${i}`, address: `10.31.0.${10 + i}`, dir: join(this.dir, `lb${i}`) });
    }
  }

  static async create(options: ClusterOptions = {}): Promise<Cluster> {
    const prefix = options.prefix ?? 'so';
    if (!/^[a-z]{2,4}$/.test(prefix)) throw new Error(`cluster prefix "${prefix}": 2-4 letters a-z`);
    const c = new Cluster({
      prefix,
      backends: options.backends ?? 4,
      scheduler: options.scheduler ?? 'mh',
      takeOverFlows: options.takeOverFlows ?? true,
      extraModes: options.extraModes ?? false,
      // IPVS_MAGLEV_CLUSTER_LOGS: keep configs and logs somewhere the host sees (a VM_RW directory).
      dir: options.dir ?? join(process.env.IPVS_MAGLEV_CLUSTER_LOGS ?? '/tmp', `ipvs-maglev-cluster-${prefix}`),
      gracePeriodMs: options.gracePeriodMs ?? 5000,
    });
    try {
      await c.build();
    } catch (e) {
      await c.cleanup();
      throw e;
    }
    return c;
  }

  node(i: number): NodeState {
    const n = this.nodes[i - 1];
    if (!n) throw new Error(`no node ${i}`);
    return n;
  }

  private async removeLeftovers(): Promise<void> {
    const ns = (await readdir('/run/netns').catch(() => [] as string[])).filter((n) => n.startsWith(`${this.prefix}-`));
    await ipBatch(ns.map((n) => `netns del ${n}`), { force: true });
  }

  private async build(): Promise<void> {
    await this.removeLeftovers();
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
    rmSync(this.sockets, { recursive: true, force: true });
    mkdirSync(this.sockets, { recursive: true });
    const p = this.prefix;
    const r = this.router;
    // Before the namespaces exist: ipip gives every namespace made after loading it a tunl0.
    await runResult(['modprobe', 'ipip']); // built in on some kernels; backend-dsr.sh checks for tunl0
    await ipBatch([
      `netns add ${r}`,
      `netns add ${this.clientNs}`,
      ...this.backends.map((b) => `netns add ${b.netns}`),
      `link add ${p}-rc netns ${r} type veth peer name eth0 netns ${this.clientNs}`,
      ...this.backends.map((b, j) => `link add ${p}-rb${j + 1} netns ${r} type veth peer name eth0 netns ${b.netns}`),
    ]);
    await ipBatch([
      'link set lo up',
      `link add ${p}-lan type bridge`,
      `link set ${p}-lan up`,
      `addr add 10.31.0.1/24 dev ${p}-lan`,
      `addr add 10.30.0.1/24 dev ${p}-rc`,
      `link set ${p}-rc up`,
      ...this.backends.flatMap((_, j) => [`link set ${p}-rb${j + 1} master ${p}-lan`, `link set ${p}-rb${j + 1} up`]),
    ], { netns: r });
    await ipBatch(['link set lo up', 'addr add 10.30.0.2/24 dev eth0', 'link set eth0 up', 'route add default via 10.30.0.1'], { netns: this.clientNs });
    await run(['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.fib_multipath_hash_policy=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0'], { netns: r });
    for (const b of this.backends) await this.prepareBackend(b.netns, b.address);
    this.writeRouterBird();
    const routerLog = createWriteStream(join(this.dir, 'router-bird.log'), { flags: 'a' });
    this.routerBird = spawn('ip', ['netns', 'exec', r, 'bird', '-f', '-c', join(this.dir, 'router.conf'), '-s', join(this.sockets, 'router.ctl')], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.routerBird.stdout?.pipe(routerLog);
    this.routerBird.stderr?.pipe(routerLog);
    this.backendServer = spawn(process.execPath, [...NODE_FLAGS, join(here, 'backend-server.ts'), JSON.stringify(this.backends.map((b) => ({ name: b.name, netns: b.netns, port: 80 })))], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      this.backendServer?.stdout?.once('data', () => resolve());
      this.backendServer?.once('exit', (code) => reject(new Error(`backend server exited ${code}`)));
    });
    this.client = new FlowClient(this.clientNs);
    await this.client.ready();
  }

  /** A backend host: its address, then scripts/backend-dsr.sh (what a real backend runs for DSR). */
  private async prepareBackend(netns: string, address: string): Promise<void> {
    await ipBatch(['link set lo up', `addr add ${address}/24 dev eth0`, 'link set eth0 up', 'route add default via 10.31.0.1'], { netns });
    const vips = this.opts.extraModes ? [VIP, GUE_VIP, DR_VIP] : [VIP];
    const gue = this.opts.extraModes ? ['--gue-port', String(GUE_PORT)] : [];
    await run(['bash', join(root, 'scripts/backend-dsr.sh'), 'up', ...gue, ...vips], { netns });
  }

  private writeRouterBird(): void {
    const peers = this.nodes.map((n) => `protocol bgp lb${n.index} from lbs { neighbor ${n.address} as ${NODE_ASN}; }`);
    writeFileSync(
      join(this.dir, 'router.conf'),
      [
        'router id 10.31.0.1;',
        'protocol device { scan time 2; }',
        // One kernel route with a next hop per node announcing the VIP: ECMP.
        'protocol kernel { ipv4 { import none; export all; }; merge paths on; }',
        `template bgp lbs { local as ${ROUTER_ASN}; hold time 3; keepalive time 1; connect retry time 1; error wait time 1, 2; ipv4 { import all; export none; }; }`,
        ...peers,
        '',
      ].join('\n'),
    );
  }

  /** The lb.yaml every node runs (the same services; only the BGP identity differs). */
  configText(n: NodeState): string {
    const dests = (fwd: string) => this.configured.map((a) => `      - { address: ${a}, ${fwd} }`);
    const sched = this.opts.scheduler;
    const svc = (name: string, vip: string, fwd: string) => [
      `  - name: ${name}`,
      `    address: ${vip}`,
      '    port: 80',
      `    scheduler: ${sched}`,
      '    healthCheck: { type: tcp, interval: 2s, timeout: 1s, rise: 1, fall: 2 }',
      '    destinations:',
      ...dests(fwd),
    ];
    return [
      'settings: { minSyncInterval: 200ms, resyncInterval: 30s, drainTimeout: 120s }',
      'bgp:',
      `  localAsn: ${NODE_ASN}`,
      `  routerId: ${n.address}`,
      `  gracePeriod: ${this.opts.gracePeriodMs}ms`,
      `  takeOverFlows: ${this.opts.takeOverFlows}`,
      `  peers: [{ name: tor, address: 10.31.0.1, asn: ${ROUTER_ASN}, holdTime: 3s, keepalive: 1s }]`,
      `  bird: { config: ${n.dir}/bird.conf, routes: ${n.dir}/bird-routes.conf, socket: ${this.socketOf(n)} }`,
      'services:',
      ...svc('web', VIP, 'forwarding: tunnel'),
      ...(this.opts.extraModes ? [...svc('web-gue', GUE_VIP, `forwarding: tunnel, tunnelType: gue, tunnelPort: ${GUE_PORT}`), ...svc('web-dr', DR_VIP, 'forwarding: droute')] : []),
      '',
    ].join('\n');
  }

  socketOf(n: NodeState): string {
    return join(this.sockets, `lb${n.index}.ctl`);
  }

  private async createNodeNamespace(n: NodeState): Promise<void> {
    const p = this.prefix;
    if (existsSync(`/run/netns/${n.netns}`)) return;
    await ipBatch([`netns add ${n.netns}`, `link add ${p}-rl${n.index} netns ${this.router} type veth peer name eth0 netns ${n.netns}`]);
    await ipBatch([`link set ${p}-rl${n.index} master ${p}-lan`, `link set ${p}-rl${n.index} up`], { netns: this.router });
    await ipBatch(['link set lo up', `addr add ${n.address}/24 dev eth0`, 'link set eth0 up', 'route add default via 10.31.0.1'], { netns: n.netns });
    await run(['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0'], { netns: n.netns });
  }

  /** Starts node i: namespace and link (first time), `ipvs-maglev run`, then its BIRD. */
  async startNode(i: number): Promise<void> {
    const n = this.node(i);
    mkdirSync(n.dir, { recursive: true });
    await this.createNodeNamespace(n);
    writeFileSync(join(n.dir, 'lb.yaml'), this.configText(n));
    await this.startLb(n);
    // ipvs-maglev writes BIRD's configuration (managed mode) before it touches the kernel.
    const conf = join(n.dir, 'bird.conf');
    // Under software emulation with several nodes starting at once, Node alone takes tens of seconds.
    for (let t = 0; !existsSync(conf); t++) {
      if (n.lb?.exitCode !== null) throw new Error(`node ${i}: ipvs-maglev exited (${n.lb?.exitCode}): ${this.lbLog(i).slice(-2000)}`);
      if (t > 2400) throw new Error(`node ${i}: ${conf} was not written within 240 s: ${this.lbLog(i).slice(-2000)}`);
      await sleep(100);
    }
    if (!n.bird || n.bird.exitCode !== null || n.bird.signalCode !== null) await this.startBird(n);
  }

  async startLb(n: NodeState): Promise<void> {
    const log = createWriteStream(join(n.dir, 'lb.log'), { flags: 'a' });
    const child = spawn(
      'ip',
      ['netns', 'exec', n.netns, process.execPath, ...NODE_FLAGS, join(root, 'bin/ipvs-maglev.mjs'), 'run', '-c', join(n.dir, 'lb.yaml'), '--state-dir', join(n.dir, 'state'), '--log-level', 'info'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
    );
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    n.lb = child;
    n.lbExit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  async startBird(n: NodeState): Promise<void> {
    const log = createWriteStream(join(n.dir, 'bird.log'), { flags: 'a' });
    const child = spawn('ip', ['netns', 'exec', n.netns, 'bird', '-f', '-c', join(n.dir, 'bird.conf'), '-s', this.socketOf(n)], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    n.bird = child;
  }

  lbLog(i: number): string {
    const f = join(this.node(i).dir, 'lb.log');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  /** Waits until node i's log holds at least `count` matches of the global regexp `re`. */
  async waitLogCount(i: number, re: RegExp, count: number, timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    const g = new RegExp(re.source, 'g');
    while ((this.lbLog(i).match(g)?.length ?? 0) < count) {
      if (Date.now() > end) throw new Error(`node ${i}: fewer than ${count} log lines matching ${re} within ${timeoutMs} ms; log tail:\n${this.lbLog(i).slice(-3000)}`);
      await sleep(200);
    }
  }

  /** Waits for a line in node i's log matching `re`. */
  async waitLog(i: number, re: RegExp, timeoutMs = 60_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!re.test(this.lbLog(i))) {
      if (Date.now() > end) throw new Error(`node ${i}: no log line matching ${re} within ${timeoutMs} ms; log tail:\n${this.lbLog(i).slice(-3000)}`);
      await sleep(200);
    }
  }

  /** A machine dying: its link cut, then its ipvs-maglev and BIRD SIGKILLed. */
  async killNode(i: number): Promise<void> {
    const n = this.node(i);
    await ipBatch([`link set ${this.prefix}-rl${i} down`], { netns: this.router });
    n.lb?.kill('SIGKILL');
    n.bird?.kill('SIGKILL');
    await n.lbExit;
  }

  /** Brings a killed node's link back (its processes stay dead until startNode). */
  async reconnectNode(i: number): Promise<void> {
    await ipBatch([`link set ${this.prefix}-rl${i} up`], { netns: this.router });
  }

  /** Sends a signal to node i's ipvs-maglev and resolves with its exit code. */
  async signalLb(i: number, signal: NodeJS.Signals): Promise<number | null> {
    const n = this.node(i);
    n.lb?.kill(signal);
    return (await n.lbExit) ?? null;
  }

  killBird(i: number): void {
    this.node(i).bird?.kill('SIGKILL');
  }

  /** Next hops of the router's kernel route to the VIP (the ECMP set). */
  async nexthops(vip = VIP): Promise<string[]> {
    const out = await run(['ip', '-n', this.router, '-4', 'route', 'show', `${vip}/32`]);
    return [...out.matchAll(/via (\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]).sort();
  }

  /** Polls until the router routes the VIP over exactly these node addresses; resolves with the wait in ms. */
  async waitNexthops(count: number, timeoutMs = 60_000, vip = VIP): Promise<number> {
    const t0 = Date.now();
    for (;;) {
      const hops = await this.nexthops(vip);
      if (hops.length === count) return Date.now() - t0;
      if (Date.now() - t0 > timeoutMs) throw new Error(`router: ${hops.length} next hop(s) for ${vip} (${hops.join(', ')}), waited for ${count} over ${timeoutMs} ms`);
      await sleep(100);
    }
  }

  open(count: number, firstPort: number, host = VIP): Promise<{ opened: { id: number; sport: number; backend: string }[]; failed: { sport: number; error: string }[] }> {
    return this.clientOf().request({ op: 'open', count, host, port: 80, firstPort, timeoutMs: 10_000 });
  }

  async probe(timeoutMs = 4000): Promise<ProbeResult[]> {
    return (await this.clientOf().request<{ results: ProbeResult[] }>({ op: 'probe', timeoutMs })).results;
  }

  async fresh(count: number, firstPort: number, host = VIP, timeoutMs = 6000): Promise<FreshResult[]> {
    return (await this.clientOf().request<{ results: FreshResult[] }>({ op: 'fresh', count, host, port: 80, firstPort, timeoutMs })).results;
  }

  closeFlows(): Promise<unknown> {
    return this.clientOf().request({ op: 'close' });
  }

  private clientOf(): FlowClient {
    if (!this.client) throw new Error('cluster client not running');
    return this.client;
  }

  /** ESTABLISHED entries in node i's IPVS connection table (how many flows it carries). */
  async establishedOn(i: number): Promise<number> {
    const r = await runResult(['ipvsadm', '-Lnc'], { netns: this.node(i).netns });
    return r.stdout.split('\n').filter((l) => /ESTABLISHED/.test(l)).length;
  }

  /** The kernel's destination list of the VIP's service on node i, in list order (`--nosort`). */
  async destinationOrder(i: number, vip = VIP): Promise<string[]> {
    const out = await run(['ipvsadm', '-Ln', '--nosort', '-t', `${vip}:80`], { netns: this.node(i).netns });
    return out.split('\n').filter((l) => /->\s+\d/.test(l)).map((l) => l.trim().split(/\s+/).slice(1, 4).join(' '));
  }

  /** Drops a backend from every running node's configuration (they reload on file change). */
  removeBackend(address: string): void {
    this.configured = this.configured.filter((a) => a !== address);
    for (const n of this.nodes) if (existsSync(join(n.dir, 'lb.yaml'))) writeFileSync(join(n.dir, 'lb.yaml'), this.configText(n));
    for (const n of this.nodes) n.lb?.kill('SIGHUP');
  }

  async cleanup(): Promise<void> {
    this.client?.kill();
    for (const n of this.nodes) {
      n.lb?.kill('SIGKILL');
      n.bird?.kill('SIGKILL');
    }
    this.routerBird?.kill('SIGKILL');
    this.backendServer?.stdin?.end();
    this.backendServer?.kill('SIGKILL');
    await sleep(200);
    await this.removeLeftovers();
    rmSync(this.sockets, { recursive: true, force: true });
  }
}
