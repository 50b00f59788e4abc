import type { KubeObject } from '../../../src/testing/fake-apiserver.ts';

// Small builders for Kubernetes objects as the API server returns them (plain JSON).

export interface PortSpec {
  name?: string;
  port: number;
  protocol?: string;
  nodePort?: number;
  targetPort?: number;
}

export function service(ns: string, name: string, spec: Record<string, unknown>, extra: { annotations?: Record<string, string>; status?: unknown } = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: ns, name, resourceVersion: '1', ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: { type: 'ClusterIP', sessionAffinity: 'None', ...spec },
    ...(extra.status ? { status: extra.status } : {}),
  };
}

export interface EndpointSpec {
  ip: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  node?: string;
  zones?: string[];
}

export function slice(
  ns: string,
  svcName: string,
  sliceName: string,
  ports: { name?: string; port: number; protocol?: string }[],
  endpoints: EndpointSpec[],
  addressType = 'IPv4',
): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: ns, name: sliceName, labels: { 'kubernetes.io/service-name': svcName }, resourceVersion: '1' },
    addressType,
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: {
        ...(e.ready === undefined ? {} : { ready: e.ready }),
        ...(e.serving === undefined ? {} : { serving: e.serving }),
        ...(e.terminating === undefined ? {} : { terminating: e.terminating }),
      },
      ...(e.node ? { nodeName: e.node } : {}),
      ...(e.zones ? { hints: { forZones: e.zones.map((z) => ({ name: z })) } } : {}),
    })),
  };
}

export function node(name: string, addresses: { type: string; address: string }[], zone?: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, resourceVersion: '1', labels: zone ? { 'topology.kubernetes.io/zone': zone } : {} },
    status: { addresses },
  };
}
