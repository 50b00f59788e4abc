// A small data-plane topology for kernel suites. IPVS lives in the root namespace (the director):
//
//   client ns <prefix>-client                 root ns (IPVS)                    backend ns <prefix>-b1..N
//   eth0 10.220.0.2/30, fd00:220::2/64 ---- <prefix>c 10.220.0.1        <prefix>br 10.210.0.1/24 ---- eth0 10.210.0.11+i
//   sources: 10.200.0.0/16, fd00:200::/64     <prefix>vip (dummy): VIPs      fd00:210::1/64             fd00:210::11+i
//   (AnyIP: every address in them is local,   ip_forward on, routes to the   backend-server.ts on each port
//    so tests choose source address + port)   client source ranges           (HTTP + UDP, answers its name)
//
// Backends route back via the root namespace, so IPVS NAT (masq), DR-free setups work as is.
import { readdir } from 'node:fs/promises';
import { type BackendServer, startBackendServer } from './backend-process.ts';
import { type ConnectResult, type ConnectTarget, closeConnectClients, connectBatch } from './connect.ts';
import { ipBatch, run, sysctl } from './exec.ts';

export interface TopologyOptions {
  /** Names every namespace/interface (<= 6 chars; default "km"). Re-creating a prefix first removes leftovers. */
  prefix?: string;
  /** Backend count (names b1..bN) or explicit names (default 3). */
  backends?: number | readonly string[];
  /** Ports each backend serves, TCP and UDP (default [80]). */
  ports?: readonly number[];
  /** Addresses to put on the VIP dummy interface now (default ["10.100.0.1", "fd00:100::1"]). */
  vips?: readonly string[];
}

export interface TopologyBackend {
  readonly name: string;
  readonly netns: string;
  readonly ip: string;
  readonly ip6: string;
  /** Kill / restart its server process (connections then get refused / answered again). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** What GET /healthz answers (200 or 503). */
  setHealthy(ok: boolean): Promise<void>;
}

export interface Topology {
  readonly prefix: string;
  readonly backends: readonly TopologyBackend[];
  readonly ports: readonly number[];
  /** The dummy interface holding the VIPs (in the root namespace), the backends' bridge and gateway. */
  readonly vipDevice: string;
  readonly bridge: string;
  readonly gateway: string;
  readonly gateway6: string;
  readonly vips: readonly string[];
  readonly client: {
    readonly netns: string;
    /** The i-th client source address (i >= 0): 10.200.(i>>8).(i&255) skipping .0, or fd00:200::<i+1>. */
    src(i: number): string;
    src6(i: number): string;
  };
  backend(name: string): TopologyBackend;
  addVip(addr: string): Promise<void>;
  removeVip(addr: string): Promise<void>;
  /** connectBatch from the client namespace. */
  connect(items: readonly ConnectTarget[], opts?: { concurrency?: number }): Promise<ConnectResult[]>;
  /** Removes namespaces, interfaces, routes and processes. Safe to call twice. */
  cleanup(): Promise<void>;
}

function plen(addr: string): string {
  return addr.includes(':') ? `${addr}/128` : `${addr}/32`;
}

function clientSrc(i: number): string {
  const n = i + 1; // skip 10.200.0.0
  if (n > 65_534) throw new RangeError(`client source index ${i} out of range`);
  return `10.200.${n >> 8}.${n & 255}`;
}

async function removeLeftovers(prefix: string): Promise<void> {
  const ns = (await readdir('/run/netns').catch(() => [] as string[])).filter((n) => n.startsWith(`${prefix}-`));
  // Deleting a namespace deletes its veth ends, and with them their peers here.
  const lines = [...ns.map((n) => `netns del ${n}`), ...[`${prefix}br`, `${prefix}vip`, `${prefix}c`].map((d) => `link del ${d}`)];
  await ipBatch(lines, { force: true });
}

/** Builds the topology and starts the backend servers. Call cleanup() in afterAll. */
export async function createTopology(opts: TopologyOptions = {}): Promise<Topology> {
  const prefix = opts.prefix ?? 'km';
  if (!/^[a-z][a-z0-9]{0,5}$/.test(prefix)) throw new Error(`topology prefix "${prefix}": 1-6 chars [a-z0-9]`);
  const names =
    typeof opts.backends === 'object' ? [...opts.backends] : Array.from({ length: opts.backends ?? 3 }, (_, i) => `b${i + 1}`);
  if (names.length > 200) throw new Error('at most 200 backends');
  const ports = opts.ports ?? [80];
  const bridge = `${prefix}br`;
  const vipDevice = `${prefix}vip`;
  const clientNs = `${prefix}-client`;
  const vips: string[] = [];

  await removeLeftovers(prefix);
  await sysctl('net.ipv4.ip_forward', 1);
  await sysctl('net.ipv6.conf.all.forwarding', 1);
  // IPVS-NAT replies leave with the VIP as source; strict reverse-path filtering would drop odd cases.
  await sysctl('net.ipv4.conf.all.rp_filter', 0);

  const backends: TopologyBackend[] = [];
  let server: BackendServer | undefined;
  const serverOf = () => {
    if (!server) throw new Error(`topology ${prefix}: backend server not running`);
    return server;
  };

  const backendAddr = (i: number) => `10.210.0.${11 + i}`;
  const backendAddr6 = (i: number) => `fd00:210::${(11 + i).toString(16)}`;
  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const ns = `${prefix}-${name}`;
    const addr = backendAddr(i);
    backends.push({
      name,
      netns: ns,
      ip: addr,
      ip6: backendAddr6(i),
      stop: () => serverOf().control('stop', name),
      start: () => serverOf().control('start', name),
      setHealthy: (ok) => serverOf().control('health', name, ok),
    });
  }

  // Few processes: one `ip -batch` for the root namespace, then one per namespace, in parallel.
  const build = async () => {
    const c = `${prefix}c`;
    await ipBatch([
      ...backends.map((b) => `netns add ${b.netns}`),
      `netns add ${clientNs}`,
      `link add ${bridge} type bridge`,
      `addr add 10.210.0.1/24 dev ${bridge}`,
      `addr add fd00:210::1/64 dev ${bridge} nodad`,
      `link set ${bridge} up`,
      `link add ${vipDevice} type dummy`,
      `link set ${vipDevice} up`,
      ...backends.flatMap((b, i) => [
        `link add ${prefix}b${i + 1} type veth peer name eth0 netns ${b.netns}`,
        `link set ${prefix}b${i + 1} master ${bridge} up`,
      ]),
      `link add ${c} type veth peer name eth0 netns ${clientNs}`,
      `addr add 10.220.0.1/30 dev ${c}`,
      `addr add fd00:220::1/64 dev ${c} nodad`,
      `link set ${c} up`,
      'route add 10.200.0.0/16 via 10.220.0.2',
      'route add fd00:200::/64 via fd00:220::2',
      ...(opts.vips ?? ['10.100.0.1', 'fd00:100::1']).map((v) => `addr add ${plen(v)} dev ${vipDevice}${v.includes(':') ? ' nodad' : ''}`),
    ]);
    vips.push(...(opts.vips ?? ['10.100.0.1', 'fd00:100::1']));
    const nsUp = (addr: string, addr6: string, plen4: number) => [
      'link set lo up',
      `addr add ${addr}/${plen4} dev eth0`,
      `addr add ${addr6}/64 dev eth0 nodad`,
      'link set eth0 up',
    ];
    await Promise.all([
      ...backends.map((b) =>
        ipBatch([...nsUp(b.ip, b.ip6, 24), 'route add default via 10.210.0.1', 'route add ::/0 via fd00:210::1'], {
          netns: b.netns,
        }),
      ),
      ipBatch(
        [
          ...nsUp('10.220.0.2', 'fd00:220::2', 30),
          // AnyIP: every address of the source ranges is local here, so tests bind any of them.
          'route add local 10.200.0.0/16 dev lo',
          'route add local fd00:200::/64 dev lo',
          'route add default via 10.220.0.1 src 10.220.0.2',
          'route add ::/0 via fd00:220::1',
        ],
        { netns: clientNs },
      ),
      // IPv6 bind() checks addresses, not routes: AnyIP needs non-local binding for IPv6.
      sysctl('net.ipv6.ip_nonlocal_bind', 1, clientNs),
    ]);
  };

  const topo: Topology = {
    prefix,
    backends,
    ports,
    vipDevice,
    bridge,
    gateway: '10.210.0.1',
    gateway6: 'fd00:210::1',
    vips,
    client: {
      netns: clientNs,
      src: clientSrc,
      src6: (i) => `fd00:200::${(i + 1).toString(16)}`,
    },
    backend(name) {
      const b = backends.find((x) => x.name === name);
      if (!b) throw new Error(`no backend ${name} in topology ${prefix}`);
      return b;
    },
    async addVip(addr) {
      await run(['ip', 'addr', 'add', plen(addr), 'dev', vipDevice, ...(addr.includes(':') ? ['nodad'] : [])]);
      vips.push(addr);
    },
    async removeVip(addr) {
      await run(['ip', 'addr', 'del', plen(addr), 'dev', vipDevice]);
      vips.splice(vips.indexOf(addr), 1);
    },
    connect: (items, o) => connectBatch(clientNs, items, o),
    async cleanup() {
      await closeConnectClients(clientNs);
      await closeConnectClients(undefined);
      await server?.kill();
      server = undefined;
      await removeLeftovers(prefix);
      vips.length = 0;
    },
  };

  try {
    await build();
    server = await startBackendServer(backends.map((b) => ({ name: b.name, netns: b.netns, ports })));
  } catch (e) {
    await topo.cleanup();
    throw e;
  }
  return topo;
}
