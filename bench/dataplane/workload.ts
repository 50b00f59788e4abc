// The benchmark's model of Kubernetes services: N ClusterIP service ports with E endpoints each,
// many services sharing the same backend pods (as on a real cluster, where one Deployment backs
// several Services). Pure: no I/O.

export type BenchProtocol = 'tcp' | 'udp' | 'sctp';

export interface BenchEndpoint {
  readonly ip: string;
  readonly port: number;
}

export interface BenchService {
  readonly namespace: string;
  readonly name: string;
  /** Empty for an unnamed port: kube-proxy then names the service port "ns/name" (no ":port"). */
  readonly portName: string;
  readonly protocol: BenchProtocol;
  readonly clusterIP: string;
  readonly port: number;
  readonly endpoints: readonly BenchEndpoint[];
}

export class WorkloadError extends Error {
  readonly code = 'WORKLOAD_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'WorkloadError';
  }
}

/** kube-proxy's ServicePortName.String(): "ns/name:port", or "ns/name" for an unnamed port. */
export function servicePortName(svc: Pick<BenchService, 'namespace' | 'name' | 'portName'>): string {
  return svc.portName === '' ? `${svc.namespace}/${svc.name}` : `${svc.namespace}/${svc.name}:${svc.portName}`;
}

export interface WorkloadOptions {
  services: number;
  /** Pod IPs of the backends; every service uses `endpointsPerService` of them, rotating. */
  pods: readonly string[];
  endpointsPerService: number;
  targetPort: number;
  servicePort: number;
  /** First three octets' base of the service CIDR, e.g. 172.30 -> 172.30.0.1 upwards. */
  serviceCidrBase?: readonly [number, number];
}

/** Cluster IP of service index i: 172.30.0.1, 172.30.0.2, ... skipping .0 and .255 host parts. */
export function clusterIpOf(i: number, base: readonly [number, number] = [172, 30]): string {
  const hostsPerBlock = 254;
  const third = Math.floor(i / hostsPerBlock);
  const fourth = (i % hostsPerBlock) + 1;
  if (third > 255) throw new WorkloadError(`service index ${i} does not fit in ${base[0]}.${base[1]}.0.0/16`);
  return `${base[0]}.${base[1]}.${third}.${fourth}`;
}

export function serviceName(i: number): string {
  return `svc-${String(i).padStart(5, '0')}`;
}

export function makeWorkload(opts: WorkloadOptions): BenchService[] {
  if (!Number.isInteger(opts.services) || opts.services < 1) throw new WorkloadError(`services must be a positive integer, got ${opts.services}`);
  if (!Number.isInteger(opts.endpointsPerService) || opts.endpointsPerService < 1) {
    throw new WorkloadError(`endpoints per service must be a positive integer, got ${opts.endpointsPerService}`);
  }
  if (opts.pods.length < opts.endpointsPerService) {
    throw new WorkloadError(`${opts.endpointsPerService} endpoints per service need at least as many pods, got ${opts.pods.length}`);
  }
  const out: BenchService[] = [];
  for (let i = 0; i < opts.services; i++) {
    const endpoints: BenchEndpoint[] = [];
    // Rotating the start spreads services over the pods when there are more pods than endpoints.
    for (let e = 0; e < opts.endpointsPerService; e++) {
      endpoints.push({ ip: opts.pods[(i + e) % opts.pods.length], port: opts.targetPort });
    }
    out.push({
      namespace: 'bench',
      name: serviceName(i),
      portName: '',
      protocol: 'tcp',
      clusterIP: clusterIpOf(i, opts.serviceCidrBase),
      port: opts.servicePort,
      endpoints,
    });
  }
  return out;
}
