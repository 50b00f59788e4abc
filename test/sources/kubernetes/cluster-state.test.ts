// ClusterState answers desired() after each event by patching its last result when only endpoints moved.
// Whatever the events, that answer must equal a fresh translation of the same objects (the `k8s translate`
// path), and unchanged virtual servers must keep their object identity (the reconciler relies on it).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serviceKeyString } from '../../../src/ipvs/keys.ts';
import { ClusterState } from '../../../src/sources/kubernetes/cluster-state.ts';
import type { ClusterEvent } from '../../../src/sources/kubernetes/informers.ts';
import { translate } from '../../../src/sources/kubernetes/translate.ts';
import type { KubeObject } from '../../../src/testing/fake-apiserver.ts';
import { node, service, slice } from './builders.ts';

const NODE = 'node-a';
const SERVICES = ['a', 'b', 'c', 'd'];

function svc(name: string, variant: number): KubeObject {
  const ports = [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080, ...(variant === 1 ? { nodePort: 30000 + name.charCodeAt(0) } : {}) }];
  if (variant === 2) ports.push({ name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 });
  const ip = `10.96.0.${name.charCodeAt(0)}`;
  // Variants 3 and 4 contest addresses: "a"'s cluster IP, one external IP several Services want, the node's address.
  const externalIPs = variant === 3 ? ['10.96.0.97', '203.0.113.9'] : variant === 4 ? ['192.168.0.10', '203.0.113.9'] : undefined;
  return service('ns', name, { type: variant === 1 ? 'NodePort' : 'ClusterIP', clusterIP: ip, clusterIPs: [ip], ports, ...(externalIPs ? { externalIPs } : {}) });
}

function eps(name: string, ips: number[], bad: boolean): KubeObject {
  const s = slice('ns', name, `${name}-1`, [{ name: 'http', port: 8080 }, { name: 'dns', port: 53, protocol: 'UDP' }], ips.map((i) => ({ ip: `10.1.${name.charCodeAt(0)}.${i}`, ready: i % 3 !== 0, serving: true, terminating: i % 3 === 0 })));
  // An endpoint with a bad address: a parse warning on the object (the patch path must step aside).
  if (bad) (s.endpoints as { addresses: string[] }[]).push({ addresses: ['not-an-ip'] });
  return s;
}

const event = fc.oneof(
  fc.record({ kind: fc.constant('Service' as const), name: fc.constantFrom(...SERVICES), variant: fc.constantFrom(0, 1, 2, 3, 4), del: fc.boolean() }),
  fc.record({ kind: fc.constant('EndpointSlice' as const), name: fc.constantFrom(...SERVICES), ips: fc.subarray([1, 2, 3, 4, 5, 6]), bad: fc.boolean(), del: fc.boolean() }),
);

describe('ClusterState', () => {
  it('after any events, desired() equals a fresh translation, and unchanged virtual servers keep their identity', () => {
    fc.assert(
      fc.property(fc.array(fc.array(event, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 10 }), (batches) => {
        const state = new ClusterState({ nodeName: NODE, nodeIPs: ['192.168.0.10'] });
        const objects = new Map<string, KubeObject>();
        const put = (e: ClusterEvent): void => state.apply(e);
        put({ kind: 'Node', type: 'add', object: node(NODE, [{ type: 'InternalIP', address: '192.168.0.10' }]), receivedAt: 0 });
        let before = state.desired();
        for (const batch of batches) {
          const touched = new Set<string>();
          for (const e of batch) {
            const id = `${e.kind}/${e.name}`;
            touched.add(e.name);
            const object = e.kind === 'Service' ? svc(e.name, e.variant) : eps(e.name, e.ips, e.bad);
            const existed = objects.has(id);
            if (e.del) {
              if (!existed) continue;
              put({ kind: e.kind, type: 'delete', object: objects.get(id) as KubeObject, receivedAt: 0 });
              objects.delete(id);
            } else {
              put({ kind: e.kind, type: existed ? 'update' : 'add', object, receivedAt: 0 });
              objects.set(id, object);
            }
          }
          const got = state.desired();
          const all = [...objects.values()];
          const fresh = translate(
            { services: all.filter((o) => o.kind === 'Service'), endpointSlices: all.filter((o) => o.kind === 'EndpointSlice'), nodes: [node(NODE, [{ type: 'InternalIP', address: '192.168.0.10' }])] },
            { nodeName: NODE, nodeIPs: ['192.168.0.10'] },
          );
          expect(got.state).toEqual(fresh.state);
          expect(got.vips).toEqual(fresh.vips);
          expect(got.warnings.map((w) => w.message).sort()).toEqual(fresh.warnings.map((w) => w.message).sort());
          // Virtual servers of Services no event touched are the very same objects as before.
          // (By name and key: a Service's external IPs share one name, and a contested key can change hands.)
          const id = (s: { name: string; key: Parameters<typeof serviceKeyString>[0] }) => `${s.name}|${serviceKeyString(s.key)}`;
          const previous = new Map(before.state.services.map((s) => [id(s), s]));
          for (const s of got.state.services) {
            if (!touched.has(s.name.split('/')[1]?.split(/[: ]/)[0] ?? '')) {
              const p = previous.get(id(s));
              if (p) expect(s).toBe(p);
            }
          }
          before = got;
        }
      }),
      { numRuns: 200 },
    );
  });
});
