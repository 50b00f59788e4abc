import { type Command, Option } from 'commander';
import { DEFAULT_METRICS_ADDRESS, DEFAULT_MIN_SYNC_MS, DEFAULT_STATE_DIR, KUBE_PROXY_INTERFACE, KUBERNETES_RESYNC_MS, durationText } from '../../app/defaults.ts';
import { type ControllerFlags, runController } from '../../app/kubernetes.ts';
import { LOG_LEVELS } from '../../log.ts';
import { DEFAULT_NODE_PORT_RANGE } from '../../sources/kubernetes/objects.ts';

// `ipvs-maglev controller`: Kubernetes mode, one per node (deploy/daemonset.yaml), from its flags; the
// program is src/app/kubernetes.ts. Every flag also reads an IPVS_MAGLEV_* environment variable so the
// DaemonSet's ConfigMap can set it.

/** Flag -> environment variable (the ConfigMap's keys; checked by test/deploy). */
export const CONTROLLER_ENV: Readonly<Record<string, string>> = {
  kubeconfig: 'KUBECONFIG',
  'node-name': 'NODE_NAME',
  'node-ip': 'IPVS_MAGLEV_NODE_IP',
  'node-port-range': 'IPVS_MAGLEV_NODE_PORT_RANGE',
  'min-sync-period': 'IPVS_MAGLEV_MIN_SYNC_PERIOD',
  'sync-period': 'IPVS_MAGLEV_SYNC_PERIOD',
  'metrics-address': 'IPVS_MAGLEV_METRICS_ADDRESS',
  'health-check-address': 'IPVS_MAGLEV_HEALTH_CHECK_ADDRESS',
  interface: 'IPVS_MAGLEV_INTERFACE',
  'cluster-cidr': 'IPVS_MAGLEV_CLUSTER_CIDR',
  'masquerade-all': 'IPVS_MAGLEV_MASQUERADE_ALL',
  masquerade: 'IPVS_MAGLEV_MASQUERADE',
  'strict-arp': 'IPVS_MAGLEV_STRICT_ARP',
  sysctls: 'IPVS_MAGLEV_SYSCTLS',
  'sysctl-root': 'IPVS_MAGLEV_SYSCTL_ROOT',
  'state-dir': 'IPVS_MAGLEV_STATE_DIR',
  'log-level': 'IPVS_MAGLEV_LOG_LEVEL',
  events: 'IPVS_MAGLEV_EVENTS',
  'status-page': 'IPVS_MAGLEV_STATUS_PAGE',
};

export function registerController(program: Command): void {
  const opt = (flags: string, description: string, name: string): Option => new Option(flags, description).env(CONTROLLER_ENV[name]);
  program
    .command('controller')
    .description('run the Kubernetes controller: program IPVS on this node from Services and EndpointSlices (a DaemonSet, see deploy/)')
    .addOption(opt('--kubeconfig <file>', 'kubeconfig file (default: in-cluster config, else ~/.kube/config)', 'kubeconfig'))
    .addOption(opt('--node-name <name>', 'this node\'s name (the DaemonSet passes spec.nodeName)', 'node-name'))
    .addOption(opt('--node-ip <ips>', 'node addresses for node ports, comma separated (default: the Node\'s InternalIP/ExternalIP)', 'node-ip'))
    .addOption(
      opt('--node-port-range <min-max>', 'the cluster\'s node port range (the API server\'s --service-node-port-range): node ports outside it are refused', 'node-port-range').default(
        `${DEFAULT_NODE_PORT_RANGE.min}-${DEFAULT_NODE_PORT_RANGE.max}`,
      ),
    )
    .addOption(opt('--min-sync-period <duration>', 'least time between two syncs (bursts coalesce)', 'min-sync-period').default(durationText(DEFAULT_MIN_SYNC_MS)))
    .addOption(opt('--sync-period <duration>', 'full resync period (drift repair, drains)', 'sync-period').default(durationText(KUBERNETES_RESYNC_MS)))
    .addOption(opt('--metrics-address <host:port>', '/metrics, /healthz, /readyz', 'metrics-address').default(DEFAULT_METRICS_ADDRESS))
    .addOption(
      opt('--health-check-address <address>', 'address for the health check node ports of LoadBalancer Services with externalTrafficPolicy Local ("none" = not served)', 'health-check-address').default('0.0.0.0'),
    )
    .addOption(opt('--interface <name>', 'dummy interface for cluster, external and load-balancer IPs', 'interface').default(KUBE_PROXY_INTERFACE))
    .addOption(opt('--cluster-cidr <cidrs>', 'pod CIDRs, comma separated: cluster-IP traffic from elsewhere is masqueraded', 'cluster-cidr'))
    .addOption(opt('--masquerade-all', 'masquerade all cluster-IP traffic', 'masquerade-all').default(false))
    .addOption(opt('--masquerade <mode>', 'masquerade rules: nft (nftables table inet ipvs-maglev) or none', 'masquerade').default('nft'))
    .addOption(opt('--strict-arp', 'set arp_ignore=1/arp_announce=2 (needed with MetalLB-style L2 VIPs)', 'strict-arp').default(false))
    .addOption(opt('--sysctls <mode>', 'set kube-proxy\'s IPVS-mode sysctls at start: set or skip', 'sysctls').default('set'))
    .addOption(opt('--sysctl-root <dir>', 'where the host\'s /proc/sys is mounted', 'sysctl-root').default('/proc/sys'))
    .addOption(opt('--state-dir <dir>', 'where ownership of IPVS services is recorded across restarts', 'state-dir').default(DEFAULT_STATE_DIR))
    .addOption(opt('--events <mode>', 'translation warnings as Kubernetes Events on the objects they name (record) or in the logs only (none)', 'events').default('record'))
    .addOption(opt('--status-page', 'serve a read-only status page on the metrics port (/status: virtual servers, destinations, drains, Maglev tables)', 'status-page').default(false))
    .addOption(opt('--log-level <level>', `one of ${LOG_LEVELS.join(', ')}`, 'log-level').default('info'))
    .action(async (flags: ControllerFlags) => {
      process.exitCode = await runController(flags);
    });
}

