import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { type ControllerFlags, checkFlags, loadKubeConfig, parseDuration, runController } from '../../src/app/kubernetes.ts';
import { MemoryStateStore } from '../../src/reconcile/store.ts';
import { FakeApiServer } from '../../src/testing/fake-apiserver.ts';
import { MemoryIpvs, MemoryVips } from '../../src/testing/memory-ipvs.ts';
import { service, slice } from '../sources/kubernetes/builders.ts';
import { waitFor } from '../sources/kubernetes/wait.ts';

const base: ControllerFlags = {
  nodeName: 'node-a',
  nodePortRange: '30000-32767',
  minSyncPeriod: '1s',
  syncPeriod: '30s',
  metricsAddress: '127.0.0.1:0',
  healthCheckAddress: '127.0.0.1',
  interface: 'kube-ipvs0',
  masqueradeAll: false,
  masquerade: 'none',
  strictArp: false,
  sysctls: 'set',
  sysctlRoot: '/proc/sys',
  stateDir: '/tmp/nowhere',
  logLevel: 'silent',
};

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['bin/ipvs-maglev.mjs', 'controller', ...args], { encoding: 'utf8', env: { ...process.env, NODE_NAME: '', ...env }, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let server: FakeApiServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe('ipvs-maglev controller flags', () => {
  it('parses durations', () => {
    expect(parseDuration('x', '1s')).toBe(1000);
    expect(parseDuration('x', '250ms')).toBe(250);
    expect(parseDuration('x', '1.5m')).toBe(90_000);
    expect(() => parseDuration('sync-period', '10')).toThrow('--sync-period: "10" is not a duration');
  });

  it.each([
    [{ nodeName: '' }, '--node-name (or NODE_NAME) is required'],
    [{ nodeIp: '10.0.0.1,zz' }, '--node-ip: "zz" is not an IP address'],
    [{ clusterCidr: '10.244.0.0' }, '--cluster-cidr: "10.244.0.0" is not a CIDR'],
    [{ clusterCidr: '::::::/64' }, '--cluster-cidr: "::::::/64" is not a CIDR'],
    [{ clusterCidr: '10.244.0.0/33' }, '--cluster-cidr: "10.244.0.0/33" is not a CIDR'],
    [{ nodePortRange: '22' }, '--node-port-range: "22" is not a port range such as 30000-32767'],
    [{ nodePortRange: '40000-30000' }, '--node-port-range: "40000-30000" is not a port range'],
    [{ minSyncPeriod: 'fast' }, '--min-sync-period: "fast" is not a duration'],
    [{ minSyncPeriod: '10s', syncPeriod: '5s' }, '--sync-period must not be shorter than --min-sync-period'],
    [{ masquerade: 'iptables' }, '--masquerade: "iptables" is not nft or none'],
    [{ sysctls: 'maybe' }, '--sysctls: "maybe" is not set or skip'],
    [{ logLevel: 'loud' }, '--log-level: "loud" is not one of'],
    [{ events: 'maybe' }, '--events: "maybe" is not record or none'],
    [{ metricsAddress: 'nowhere' }, '--metrics-address: bad listen address'],
    [{ healthCheckAddress: 'all' }, '--health-check-address: "all" is not an IP address or "none"'],
  ])('refuses %j', (over, message) => {
    expect(() => checkFlags({ ...base, ...over })).toThrow(message);
  });

  it('reads --kubeconfig bounded: a device or FIFO is refused at once, relative certificate paths still resolve', async () => {
    await expect(loadKubeConfig('/dev/zero')).rejects.toThrow('cannot load the Kubernetes client configuration from /dev/zero: /dev/zero is not a regular file');
    const dir = mkdtempSync(join(tmpdir(), 'kc-'));
    writeFileSync(
      join(dir, 'config'),
      'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:6443", certificate-authority: ca.crt}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n',
    );
    const kc = await loadKubeConfig(join(dir, 'config'));
    expect(kc.getCurrentCluster()?.caFile).toBe(join(dir, 'ca.crt'));
  });

  it('accepts a full set, reading lists', () => {
    expect(checkFlags({ ...base, nodeIp: '192.168.0.1, fd00::1', clusterCidr: '10.244.0.0/16,fd00:10:244::/56' })).toMatchObject({
      nodeIPs: ['192.168.0.1', 'fd00::1'],
      clusterCIDRs: ['10.244.0.0/16', 'fd00:10:244::/56'],
      minSyncMs: 1000,
      syncMs: 30_000,
    });
  });

  it('CLI: bad flags and a bad kubeconfig exit 2 with one clear line, flags come from the environment too', { timeout: 90_000 }, () => {
    const missing = cli([]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toBe('ipvs-maglev: --node-name (or NODE_NAME) is required: the name of the node this controller runs on\n');
    const env = cli([], { NODE_NAME: 'n1', IPVS_MAGLEV_MIN_SYNC_PERIOD: 'soon' });
    expect(env.stderr).toBe('ipvs-maglev: --min-sync-period: "soon" is not a duration such as 500ms, 1s, 2m\n');
    const kc = cli(['--node-name', 'n', '--kubeconfig', '/nonexistent/kubeconfig']);
    expect(kc.status).toBe(2);
    expect(kc.stderr).toMatch(/^ipvs-maglev: cannot load the Kubernetes client configuration from \/nonexistent\/kubeconfig: .*\n$/);
  });

  it.skipIf(existsSync('/proc/net/ip_vs'))('CLI: without IPVS in the kernel it says so and exits 1, touching nothing', { timeout: 60_000 }, async () => {
    server = await new FakeApiServer().start();
    const dir = mkdtempSync(join(tmpdir(), 'k8s-cli-'));
    writeFileSync(join(dir, 'kubeconfig'), server.kubeConfigYaml());
    const r = cli(['--node-name', 'n', '--kubeconfig', join(dir, 'kubeconfig'), '--metrics-address', '127.0.0.1:0', '--state-dir', dir, '--sysctls', 'skip']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^ipvs-maglev: .*(IPVS|ip_vs).*\n$/);
    expect(existsSync(join(dir, 'state.json'))).toBe(false);
  });
});

describe('runController wiring (in-memory kernel)', () => {
  it('sets the sysctls with a log line each, serves /readyz once synced, programs the cluster, stops without flushing', async () => {
    server = await new FakeApiServer().start();
    server.create(service('ns1', 'web', { clusterIP: '10.96.0.10', ports: [{ port: 80 }] }));
    server.create(slice('ns1', 'web', 'web-1', [{ port: 8080 }], [{ ip: '10.1.0.1' }]));
    const dir = mkdtempSync(join(tmpdir(), 'k8s-run-'));
    writeFileSync(join(dir, 'kubeconfig'), server.kubeConfigYaml());
    const sys = join(dir, 'sys');
    for (const k of ['net/ipv4/vs/conntrack', 'net/ipv4/vs/expire_nodest_conn', 'net/ipv4/vs/expire_quiescent_template', 'net/ipv4/ip_forward']) {
      mkdirSync(join(sys, k, '..'), { recursive: true });
      writeFileSync(join(sys, k), '0\n');
    }
    const ipvs = new MemoryIpvs();
    const vips = new MemoryVips();
    let stop: () => void = () => {};
    const until = new Promise<void>((r) => {
      stop = r;
    });
    const port = 20000 + Math.floor(Math.random() * 20000);
    const out: string[] = [];
    const logDestination = new Writable({
      write(chunk, _enc, done) {
        out.push(String(chunk));
        done();
      },
    });
    {
      const status = runController(
        { ...base, kubeconfig: join(dir, 'kubeconfig'), metricsAddress: `127.0.0.1:${port}`, sysctlRoot: sys, logLevel: 'info', minSyncPeriod: '50ms' },
        { openKernel: async () => ({ ipvs: Object.assign(ipvs, { close() {} }), vips: Object.assign(vips, { close() {} }) }), store: new MemoryStateStore(), until, logDestination },
      );
      await waitFor(() => ipvs.snapshot().get('tcp 10.96.0.10:80')?.destinations.length === 1, 8000).catch((e) => {
        throw new Error(`${e.message}; logs: ${out.join('')}`);
      });
      await waitFor(() => out.join('').includes('"msg":"all informers synced; starting syncs"'));
      let ready = 0;
      await waitFor(() => {
        void fetch(`http://127.0.0.1:${port}/readyz`).then((r) => {
          ready = r.status;
        }, () => {});
        return ready === 200;
      }, 8000);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toContain('ipvs_maglev_kubernetes_events_total{kind="Service",type="add"} 1');
      expect(metrics).toContain('ipvs_maglev_network_programming_duration_seconds_bucket');
      stop();
      expect(await status).toBe(0);
    }
    for (const k of ['net/ipv4/vs/conntrack', 'net/ipv4/ip_forward']) expect(readFileSync(join(sys, k), 'utf8')).toBe('1');
    const text = out.join('');
    expect(text).toContain('sysctl net.ipv4.vs.conntrack=1 (was 0): keep conntrack entries for IPVS connections');
    expect(text).toContain('sysctl net.ipv4.vs.expire_nodest_conn=1 (was 0)');
    expect(text).toContain('IPVS, VIPs and masquerade rules are left in place');
    expect(ipvs.snapshot().size).toBe(1);
    expect([...vips.addresses]).toEqual(['10.96.0.10']);
  });

  it('serves kube-proxy\'s health check node port for a LoadBalancer Service with externalTrafficPolicy Local', async () => {
    server = await new FakeApiServer().start();
    const hcPort = 20000 + Math.floor(Math.random() * 20000);
    const lb = (hc: number) =>
      service('ns1', 'edge', {
        type: 'LoadBalancer',
        clusterIP: '10.96.0.20',
        externalTrafficPolicy: 'Local',
        healthCheckNodePort: hc,
        ports: [{ port: 80, nodePort: 30080 }],
      });
    server.create(lb(hcPort));
    server.create(slice('ns1', 'edge', 'edge-1', [{ port: 8080 }], [{ ip: '10.1.0.1', node: 'node-a' }, { ip: '10.1.0.2', node: 'node-b' }, { ip: '10.1.0.3', node: 'node-a', ready: false }]));
    const dir = mkdtempSync(join(tmpdir(), 'k8s-hc-'));
    writeFileSync(join(dir, 'kubeconfig'), server.kubeConfigYaml());
    let stop: () => void = () => {};
    const until = new Promise<void>((r) => {
      stop = r;
    });
    const ipvs = Object.assign(new MemoryIpvs(), { close() {} });
    const vips = Object.assign(new MemoryVips(), { close() {} });
    const status = runController(
      // A free port for the health check is picked at random: let the node port range hold it.
      { ...base, kubeconfig: join(dir, 'kubeconfig'), nodeIp: '192.168.0.10', sysctls: 'skip', minSyncPeriod: '50ms', nodePortRange: '20000-40001' },
      { openKernel: async () => ({ ipvs, vips }), store: new MemoryStateStore(), until },
    );
    const probe = async (port: number) => {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
      return r ? { status: r.status, weight: r.headers.get('x-load-balancing-endpoint-weight'), body: (await r.json()) as unknown } : undefined;
    };
    const until200 = async (fn: () => Promise<boolean>, ms: number): Promise<void> => {
      for (const end = Date.now() + ms; !(await fn()); ) {
        if (Date.now() > end) throw new Error('timed out');
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    let got: Awaited<ReturnType<typeof probe>>;
    await until200(async () => {
      got = await probe(hcPort);
      return got?.status === 200;
    }, 8000);
    // One ready endpoint on this node (the unready one and node-b's do not count).
    expect(got).toEqual({ status: 200, weight: '1', body: { service: { namespace: 'ns1', name: 'edge' }, localEndpoints: 1, serviceProxyHealthy: true } });
    // The local pod goes away: 503, so the cloud load balancer stops sending this node traffic.
    server.update(slice('ns1', 'edge', 'edge-1', [{ port: 8080 }], [{ ip: '10.1.0.2', node: 'node-b' }]));
    await until200(async () => (await probe(hcPort))?.status === 503, 8000);
    expect((await probe(hcPort))?.body).toMatchObject({ localEndpoints: 0 });
    // The port moves: the old one closes, the new one answers.
    server.update(lb(hcPort + 1));
    await until200(async () => (await probe(hcPort + 1))?.status === 503 && (await probe(hcPort)) === undefined, 8000);
    stop();
    expect(await status).toBe(0);
    expect(await probe(hcPort + 1)).toBeUndefined();
  });
});
