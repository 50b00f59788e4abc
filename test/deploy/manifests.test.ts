import { existsSync, readFileSync } from 'node:fs';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, ServiceAccount } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { checkFlags } from '../../src/app/kubernetes.ts';
import { CONTROLLER_ENV } from '../../src/cli/commands/controller.ts';
import { kubeProxySysctls } from '../../src/sources/kubernetes/sysctl.ts';

// The manifests in deploy/ checked against the Kubernetes API schemas (kubernetes-models'
// JSON-schema validation), plus the properties the issue asks of them.

type Obj = Record<string, unknown> & { kind: string; metadata: { name: string; namespace?: string } };

function load(file: string): Obj[] {
  return parseAllDocuments(readFileSync(`deploy/${file}`, 'utf8')).map((d) => {
    expect(d.errors).toEqual([]);
    return d.toJS() as Obj;
  });
}

const kustomization = load('kustomization.yaml')[0] as unknown as { resources: string[]; namespace: string };
const all = kustomization.resources.flatMap((f) => load(f));
const byKind = (kind: string) => all.filter((o) => o.kind === kind);
// biome-ignore lint/suspicious/noExplicitAny: test access into a parsed manifest
const daemonSet = byKind('DaemonSet')[0] as any;

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  DaemonSet,
  ClusterRole,
  ClusterRoleBinding,
  ConfigMap,
  Namespace,
  ServiceAccount,
};

describe('deploy/ manifests', () => {
  it('kustomization lists existing files and every object validates against its API schema', () => {
    for (const f of kustomization.resources) expect(existsSync(`deploy/${f}`), f).toBe(true);
    expect(all.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'Namespace', 'ServiceAccount']);
    for (const o of all) {
      const Model = MODELS[o.kind];
      expect(() => new Model(o as never).validate(), `${o.kind} ${o.metadata.name}`).not.toThrow();
    }
  });

  it('the schema check is real: a broken DaemonSet is rejected', () => {
    const broken = structuredClone(daemonSet);
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'metrics';
    expect(() => new DaemonSet(broken).validate()).toThrow();
    const noSelector = structuredClone(daemonSet);
    delete noSelector.spec.selector;
    expect(() => new DaemonSet(noSelector).validate()).toThrow();
  });

  it('namespaced objects are in the kustomization namespace', () => {
    for (const o of all) if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind)) expect(o.metadata.namespace).toBe(kustomization.namespace);
  });

  it('DaemonSet: host network, controller with CAP_NET_ADMIN only, not privileged', () => {
    const pod = daemonSet.spec.template.spec;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.serviceAccountName).toBe('ipvs-maglev');
    const [c] = pod.containers;
    expect(pod.containers).toHaveLength(1);
    expect(c.securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['NET_ADMIN'] });
    expect(c.securityContext.privileged ?? false).toBe(false);
    expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(c.env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    expect(daemonSet.spec.selector.matchLabels).toEqual(daemonSet.spec.template.metadata.labels);
  });

  it('DaemonSet: the modules it needs are loaded by a one-shot init container with CAP_SYS_MODULE only', () => {
    const [init] = daemonSet.spec.template.spec.initContainers;
    expect(init.command.slice(0, 2)).toEqual(['modprobe', '-a']);
    expect(init.command).toEqual(expect.arrayContaining(['ip_vs', 'ip_vs_mh', 'nf_conntrack', 'nft_masq']));
    expect(init.securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['SYS_MODULE'] });
  });

  it('DaemonSet: liveness on /healthz and readiness on /readyz on the metrics port', () => {
    const [c] = daemonSet.spec.template.spec.containers;
    expect(c.ports).toContainEqual(expect.objectContaining({ name: 'metrics', containerPort: 9477 }));
    // On loopback: the host network is shared, and /metrics names every namespace's services.
    expect(c.livenessProbe.httpGet).toEqual({ host: '127.0.0.1', path: '/healthz', port: 'metrics' });
    expect(c.readinessProbe.httpGet).toEqual({ host: '127.0.0.1', path: '/readyz', port: 'metrics' });
    const cm = byKind('ConfigMap')[0] as unknown as { data: Record<string, string> };
    expect(cm.data.IPVS_MAGLEV_METRICS_ADDRESS).toBe('127.0.0.1:9477');
    expect(c.envFrom).toEqual([{ configMapRef: { name: 'ipvs-maglev' } }]);
    // Nothing invites a scraper to a port it cannot reach.
    expect(daemonSet.spec.template.metadata.annotations?.['prometheus.io/scrape']).toBeUndefined();
    expect(c.ports.every((p: { hostPort?: number }) => p.hostPort === undefined)).toBe(true);
  });

  it('DaemonSet: only the host\'s /proc/sys/net is mounted, where the sysctl root expects it, and it covers every sysctl set', () => {
    const pod = daemonSet.spec.template.spec;
    const hostPaths = pod.volumes.filter((v: { hostPath?: unknown }) => v.hostPath).map((v: { name: string; hostPath: { path: string } }) => [v.name, v.hostPath.path]);
    expect(hostPaths.map(([, path]: string[]) => path).sort()).toEqual(['/lib/modules', '/proc/sys/net', '/var/lib/ipvs-maglev']);
    const cm = byKind('ConfigMap')[0] as unknown as { data: Record<string, string> };
    const [c] = pod.containers;
    const procMount = c.volumeMounts.find((m: { name: string }) => m.name === hostPaths.find(([, path]: string[]) => path === '/proc/sys/net')[0]);
    expect(procMount.mountPath).toBe(`${cm.data.IPVS_MAGLEV_SYSCTL_ROOT}/net`);
    expect(procMount.readOnly ?? false).toBe(false);
    for (const s of kubeProxySysctls({ kernelRelease: '5.4.0', strictArp: true })) expect(s.key.startsWith('net/'), s.key).toBe(true);
  });

  it('DaemonSet: seccomp RuntimeDefault, read-only root filesystems, no privilege escalation, in every container', () => {
    const pod = daemonSet.spec.template.spec;
    expect(pod.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    for (const c of [...pod.initContainers, ...pod.containers]) {
      expect(c.securityContext.readOnlyRootFilesystem, c.name).toBe(true);
      expect(c.securityContext.allowPrivilegeEscalation, c.name).toBe(false);
      expect(c.securityContext.privileged ?? false, c.name).toBe(false);
      expect(c.securityContext.capabilities.drop, c.name).toEqual(['ALL']);
      // The image is not root by default: whoever needs root says so.
      expect(c.securityContext.runAsUser, c.name).toBe(0);
    }
  });

  it('image references: every container uses the one image kustomize rewrites (pin it by digest there), never :latest', () => {
    const images = (load('kustomization.yaml')[0] as unknown as { images: { name: string; newTag?: string; digest?: string }[] }).images;
    expect(images).toHaveLength(1);
    const pod = daemonSet.spec.template.spec;
    for (const c of [...pod.initContainers, ...pod.containers]) {
      expect(c.image.split(/[:@]/)[0], c.name).toBe(images[0].name);
      expect(c.image, c.name).not.toMatch(/:latest$/);
    }
    expect(images[0].newTag ?? images[0].digest).not.toBe('latest');
    expect(readFileSync('deploy/README.md', 'utf8')).toContain('kustomize edit set image');
  });

  it('ClusterRole: get/list/watch on exactly services, nodes and endpointslices, and only create/patch on events', () => {
    const role = byKind('ClusterRole')[0] as unknown as { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
    const grants = role.rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${g || 'core'}/${res}:${[...r.verbs].sort().join(',')}`)));
    expect(grants.sort()).toEqual(['core/events:create,patch', 'core/nodes:get,list,watch', 'core/services:get,list,watch', 'discovery.k8s.io/endpointslices:get,list,watch']);
    const binding = byKind('ClusterRoleBinding')[0] as unknown as { roleRef: { name: string }; subjects: { name: string; namespace: string }[] };
    expect(binding.roleRef.name).toBe('ipvs-maglev');
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'ipvs-maglev', namespace: 'ipvs-maglev' }]);
  });

  it('every ConfigMap key is a controller flag variable, and the values pass the flag checks', () => {
    const cm = byKind('ConfigMap')[0] as unknown as { data: Record<string, string> };
    const known = new Set(Object.values(CONTROLLER_ENV));
    for (const key of Object.keys(cm.data)) expect(known.has(key), key).toBe(true);
    const flagOf = Object.fromEntries(Object.entries(CONTROLLER_ENV).map(([flag, env]) => [env, flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())]));
    const flags: Record<string, unknown> = { nodeName: 'node-a', masquerade: 'nft', sysctls: 'set', masqueradeAll: false, strictArp: false };
    for (const [key, value] of Object.entries(cm.data)) flags[flagOf[key]] = value;
    expect(() => checkFlags(flags as never)).not.toThrow();
  });

  it('Dockerfile copies paths that exist and runs the controller', () => {
    const text = readFileSync('deploy/Dockerfile', 'utf8');
    for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) for (const p of m[1].split(' ')) expect(existsSync(p), p).toBe(true);
    expect(text).toContain('ENTRYPOINT ["node", "/app/bin/ipvs-maglev.mjs"]');
    expect(text).toContain('CMD ["controller"]');
    expect(text).toMatch(/apt-get install .*nftables/);
    // A USER that is not root, after the last step that needs root.
    const lines = text.split('\n');
    const user = lines.findLastIndex((l) => l.startsWith('USER '));
    expect(user).toBeGreaterThan(lines.findLastIndex((l) => l.startsWith('RUN ')));
    expect(lines[user]).toMatch(/^USER [1-9]\d*(:[1-9]\d*)?$/);
  });
});
