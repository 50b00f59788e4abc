import { release } from 'node:os';
import { dirname } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { canonicalize } from '../address/address.ts';
import { quote, readBoundedFile } from '../bounded-read.ts';
import { LOG_LEVELS, createLogger, isLogLevel } from '../log.ts';
import { LbMetrics, exposureWarning, parseListenAddress, startMetricsServer } from '../metrics/index.ts';
import type { MetricsServer } from '../metrics/index.ts';
import { NftMasquerade, cidrFamily } from '../nat/index.ts';
import { FileStateStore } from '../reconcile/index.ts';
import type { StateStore } from '../reconcile/index.ts';
import { HealthCheckServers } from '../sources/kubernetes/health-check-server.ts';
import { DEFAULT_NODE_PORT_RANGE, type NodePortRange, parseNodePortRange } from '../sources/kubernetes/objects.ts';
import { applySysctls, kubeProxySysctls } from '../sources/kubernetes/sysctl.ts';
import { EXIT_KERNEL, EXIT_USAGE, kernelErrorMessage } from './exit.ts';
import { type Kernel, openKernel } from './kernel.ts';
import type { KubernetesController } from './kubernetes-controller.ts';

// The Kubernetes program (`ipvs-maglev controller`): flags checked before anything is touched, then the
// metrics port, the kernel, kube-proxy's sysctls and the controller (kubernetes-controller.ts) until
// SIGTERM/SIGINT, which leave IPVS, VIPs and masquerade rules in place.

export interface ControllerFlags {
  kubeconfig?: string;
  nodeName?: string;
  nodeIp?: string;
  nodePortRange: string;
  minSyncPeriod: string;
  syncPeriod: string;
  metricsAddress: string;
  healthCheckAddress: string;
  interface: string;
  clusterCidr?: string;
  masqueradeAll: boolean;
  masquerade: string;
  strictArp: boolean;
  sysctls: string;
  sysctlRoot: string;
  stateDir: string;
  logLevel: string;
  /** record (default) or none. */
  events?: string;
  /** Serve /status and /status.json on the metrics port (default off). */
  statusPage?: boolean;
}

export class FlagError extends Error {
  readonly code = 'BAD_FLAG';
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}

/** "1s", "250ms", "2m", "1h" -> ms. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new FlagError(`--${flag}: ${JSON.stringify(text)} is not a duration such as 500ms, 1s, 2m`);
  const n = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(n);
}

export interface CheckedFlags {
  nodeName: string;
  nodeIPs: string[] | undefined;
  nodePortRange: NodePortRange;
  minSyncMs: number;
  syncMs: number;
  clusterCIDRs: string[];
  logLevel: (typeof LOG_LEVELS)[number];
}

/** Every flag checked before anything is touched. */
export function checkFlags(flags: ControllerFlags): CheckedFlags {
  const nodeName = flags.nodeName?.trim();
  if (!nodeName) throw new FlagError('--node-name (or NODE_NAME) is required: the name of the node this controller runs on');
  const list = (s: string | undefined) => (s ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '');
  const nodeIPs = list(flags.nodeIp);
  for (const ip of nodeIPs) if (!canonicalize(ip)) throw new FlagError(`--node-ip: ${JSON.stringify(ip)} is not an IP address`);
  const nodePortRange = parseNodePortRange(flags.nodePortRange ?? `${DEFAULT_NODE_PORT_RANGE.min}-${DEFAULT_NODE_PORT_RANGE.max}`);
  if (!nodePortRange) throw new FlagError(`--node-port-range: ${quote(flags.nodePortRange)} is not a port range such as 30000-32767`);
  const clusterCIDRs = list(flags.clusterCidr);
  for (const c of clusterCIDRs) {
    try {
      cidrFamily(c);
    } catch (err) {
      throw new FlagError(err instanceof Error ? err.message : String(err));
    }
  }
  const minSyncMs = parseDuration('min-sync-period', flags.minSyncPeriod);
  const syncMs = parseDuration('sync-period', flags.syncPeriod);
  if (syncMs > 0 && syncMs < minSyncMs) throw new FlagError('--sync-period must not be shorter than --min-sync-period');
  if (!['nft', 'none'].includes(flags.masquerade)) throw new FlagError(`--masquerade: ${JSON.stringify(flags.masquerade)} is not nft or none`);
  if (flags.events !== undefined && !['record', 'none'].includes(flags.events)) throw new FlagError(`--events: ${JSON.stringify(flags.events)} is not record or none`);
  if (!['set', 'skip'].includes(flags.sysctls)) throw new FlagError(`--sysctls: ${JSON.stringify(flags.sysctls)} is not set or skip`);
  if (!isLogLevel(flags.logLevel)) throw new FlagError(`--log-level: ${JSON.stringify(flags.logLevel)} is not one of ${LOG_LEVELS.join(', ')}`);
  const hc = flags.healthCheckAddress;
  if (hc !== undefined && hc !== 'none' && canonicalize(hc) === undefined) {
    throw new FlagError(`--health-check-address: ${JSON.stringify(hc)} is not an IP address or "none"`);
  }
  try {
    parseListenAddress(flags.metricsAddress);
  } catch (err) {
    throw new FlagError(`--metrics-address: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { nodeName, nodeIPs: nodeIPs.length > 0 ? nodeIPs : undefined, nodePortRange, minSyncMs, syncMs, clusterCIDRs, logLevel: flags.logLevel };
}

const MAX_KUBECONFIG_BYTES = 4 * 1024 * 1024;

// client-node is loaded only when the controller runs: importing it costs ~0.8 s of CPU (minutes under
// the test VM's emulation), which every other command would otherwise pay at start.
export async function loadKubeConfig(file: string | undefined): Promise<KubeConfig> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  try {
    if (file) {
      // As loadFromFile, but bounded: a kubeconfig with its certificates inline is tens of KB.
      kc.loadFromString(await readBoundedFile(file, { maxBytes: MAX_KUBECONFIG_BYTES, what: file, regularOnly: true }));
      kc.makePathsAbsolute(dirname(file));
    } else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
    else kc.loadFromDefault();
  } catch (err) {
    throw new FlagError(`cannot load the Kubernetes client configuration${file ? ` from ${file}` : ''}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!kc.getCurrentCluster()) throw new FlagError(`no current cluster in the Kubernetes client configuration${file ? ` ${file}` : ''}`);
  return kc;
}

export interface ControllerDeps {
  openKernel?: (flags: ControllerFlags) => Promise<Kernel>;
  store?: StateStore;
  /** Resolves when the controller should stop (default: SIGTERM/SIGINT). */
  until?: Promise<unknown>;
  /** Where JSON log lines go (default stdout). */
  logDestination?: NodeJS.WritableStream;
}

/** Runs until SIGTERM/SIGINT; resolves to the exit status. */
export async function runController(flags: ControllerFlags, deps: ControllerDeps = {}): Promise<number> {
  let checked: CheckedFlags;
  let kubeConfig: KubeConfig;
  try {
    checked = checkFlags(flags);
    kubeConfig = await loadKubeConfig(flags.kubeconfig);
  } catch (err) {
    process.stderr.write(`ipvs-maglev: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_USAGE;
  }
  const log = createLogger({ level: checked.logLevel, destination: deps.logDestination });
  const metrics = new LbMetrics();
  let server: MetricsServer | undefined;
  let kernel: Kernel | undefined;
  let controller: KubernetesController | undefined;
  try {
    // The metrics port first: failing on it must not leave a half-started controller behind.
    server = await startMetricsServer(flags.metricsAddress, metrics.registry, () => controller?.readiness() ?? { ready: false, reason: 'starting' }, {
      status: flags.statusPage ? () => (controller ? controller.status() : Promise.reject(new Error('the controller is starting'))) : undefined,
    });
    if (server.exposed) log.warn({ metrics: server.address }, exposureWarning(server));
    kernel = await (deps.openKernel ?? ((f: ControllerFlags) => openKernel({ interfaceName: f.interface })))(flags);
    if (flags.sysctls === 'set') await applySysctls(kubeProxySysctls({ kernelRelease: release(), strictArp: flags.strictArp }), log, flags.sysctlRoot);
    const { KubernetesController } = await import('./kubernetes-controller.ts');
    const { apiEventSink } = await import('../sources/kubernetes/events.ts');
    controller = new KubernetesController({
      kubeConfig,
      nodeName: checked.nodeName,
      nodeIPs: checked.nodeIPs,
      nodePortRange: checked.nodePortRange,
      ipvs: kernel.ipvs,
      vips: kernel.vips,
      store: deps.store ?? new FileStateStore(flags.stateDir),
      logger: log,
      minSyncIntervalMs: checked.minSyncMs,
      fullResyncIntervalMs: checked.syncMs,
      metrics,
      events: flags.events === 'none' ? undefined : { sink: apiEventSink(kubeConfig) },
      masquerade:
        flags.masquerade === 'nft' ? { applier: new NftMasquerade(), clusterCIDRs: checked.clusterCIDRs, masqueradeAll: flags.masqueradeAll } : undefined,
      healthChecks:
        flags.healthCheckAddress === 'none'
          ? undefined
          : new HealthCheckServers({ logger: log, host: flags.healthCheckAddress, proxyHealthy: () => controller?.readiness().ready ?? false }),
    });
    controller.start();
    log.info(
      { node: checked.nodeName, cluster: kubeConfig.getCurrentCluster()?.server, metrics: server.address, interface: flags.interface, stateDir: flags.stateDir },
      'controller running',
    );
  } catch (err) {
    await controller?.stop();
    kernel?.ipvs.close();
    kernel?.vips.close();
    await server?.close();
    const message = kernelErrorMessage(err) ?? (err instanceof Error ? err.message : String(err));
    process.stderr.write(`ipvs-maglev: ${message}\n`);
    return EXIT_KERNEL;
  }
  const why = await (deps.until ??
    new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    }));
  log.info({ why }, 'stopping; IPVS, VIPs and masquerade rules are left in place (connections keep flowing)');
  await controller.stop();
  kernel.ipvs.close();
  kernel.vips.close();
  await server.close();
  return 0;
}
