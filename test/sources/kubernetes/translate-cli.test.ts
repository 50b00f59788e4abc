import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseObjectsText } from '../../../src/sources/kubernetes/file.ts';

const FIXTURE = 'test/sources/kubernetes/fixtures/cluster.yaml';

function cli(args: string[], input?: string) {
  const r = spawnSync(process.execPath, ['bin/ipvs-maglev.mjs', 'k8s', 'translate', ...args], { encoding: 'utf8', input });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('ipvs-maglev k8s translate', () => {
  it('prints ipvsadm -S -n rules for a kubectl List, node ports on the given node IPs', () => {
    const r = cli(['-f', FIXTURE, '--node-name', 'node-a', '--node-ip', '10.0.0.5,fd00::5']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      [
        '-A -t 10.0.0.5:30080 -s mh -p 600 -b mh-fallback',
        '-a -t 10.0.0.5:30080 -r 10.244.1.5:8080 -m -w 1',
        '-a -t 10.0.0.5:30080 -r 10.244.2.8:8080 -m -w 1',
        '-A -t 10.96.0.1:443 -s mh -b mh-fallback,mh-port',
        '-a -t 10.96.0.1:443 -r 192.168.0.10:6443 -m -w 1',
        '-A -t 10.96.20.7:80 -s mh -p 600 -b mh-fallback',
        '-a -t 10.96.20.7:80 -r 10.244.1.5:8080 -m -w 1',
        '-a -t 10.96.20.7:80 -r 10.244.2.8:8080 -m -w 1',
        '-A -t [fd00::5]:30080 -s mh -p 600 -b mh-fallback',
        '-a -t [fd00::5]:30080 -r [fd00:10:244:1::5]:8080 -m -w 1',
        '-A -t [fd00:10:96::7]:80 -s mh -p 600 -b mh-fallback',
        '-a -t [fd00:10:96::7]:80 -r [fd00:10:244:1::5]:8080 -m -w 1',
        '',
      ].join('\n'),
    );
    expect(r.stderr).toBe('note: ignored objects translation does not read: 1 Pod\n');
  });

  it('uses the Node object addresses without --node-ip, and reads stdin with -f -', () => {
    const r = cli(['-f', '-', '--node-name', 'node-a'], readFileSync(FIXTURE, 'utf8'));
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('-A -t 192.168.0.11:30080 -s mh -p 600 -b mh-fallback\n');
    expect(r.stdout).toContain('-A -t [fd00::11]:30080 ');
  });

  it('reports invalid values as warnings on stderr and exits 2 with --strict', () => {
    const yaml = `apiVersion: v1
kind: Service
metadata: {name: a, namespace: x, annotations: {ipvs-maglev.io/scheduler: magic}}
spec: {clusterIP: 10.96.0.9, ports: [{port: 80}, {port: 99999}]}
`;
    const r = cli(['-f', '-', '--node-name', 'n', '--strict'], yaml);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('-A -t 10.96.0.9:80 -s mh -b mh-fallback,mh-port\n');
    expect(r.stderr).toContain('warning: Service x/a: ipvs-maglev.io/scheduler: "magic" is not an IPVS scheduler');
    expect(r.stderr).toContain('warning: Service x/a: spec.ports[1].port 99999 is not a port number (1-65535); port skipped');
  });

  it.each([
    [['-f', 'missing.yaml', '--node-name', 'n'], undefined, 'ipvs-maglev: cannot read missing.yaml: no such file'],
    [['-f', '-', '--node-name', 'n'], 'a: [\n', 'ipvs-maglev: stdin:2:1: '],
    [['-f', FIXTURE, '--node-name', 'n', '--node-ip', '1.2.3'], undefined, 'ipvs-maglev: --node-ip: "1.2.3" is not an IP address'],
    [['-f', FIXTURE], undefined, "required option '--node-name <name>' not specified"],
  ])('bad input %j -> clear message, non-zero exit, no stack trace', (args, input, message) => {
    const r = cli(args, input);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe('');
  });
});

describe('objects file parsing', () => {
  it('accepts multi-document YAML, nested typed Lists and JSON', () => {
    const text = `kind: ServiceList
items:
- {kind: Service, metadata: {name: a}}
---
---
{"kind": "Node", "metadata": {"name": "n"}}
---
- just a list
---
kind: NodeList
items: [{kind: Node, metadata: {name: m}}, {metadata: {name: nokind}}]
`;
    const r = parseObjectsText(text);
    expect(r.objects.services).toHaveLength(1);
    expect(r.objects.nodes).toHaveLength(2);
    expect(r.warnings.map((w) => w.message)).toEqual(['document 4 is not a Kubernetes object; skipped', 'document 5 items[1] has no kind; skipped']);
  });
});
