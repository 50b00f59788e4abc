import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseObjectsText } from '../../../src/sources/kubernetes/file.ts';

const FIXTURE = 'test/sources/kubernetes/fixtures/cluster.yaml';

function cli(args: string[], input?: string, stdin?: number) {
  const r = spawnSync(process.execPath, ['bin/ipvs-maglev.mjs', 'k8s', 'translate', ...args], { encoding: 'utf8', input, stdio: stdin === undefined ? 'pipe' : [stdin, 'pipe', 'pipe'] });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'k8s-cli-'));

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

describe('k8s translate --strict on objects the API server itself would reject', () => {
  it('nodePort: 22 and endpoints 127.0.0.1 / 0.0.0.0 / 169.254.169.254 are warnings, exit 2, and none of them is programmed', () => {
    const yaml = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: ssh, namespace: x}
  spec: {type: NodePort, clusterIP: 10.96.0.22, ports: [{port: 22, nodePort: 22}]}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: ssh-1, namespace: x, labels: {kubernetes.io/service-name: ssh}}
  addressType: IPv4
  ports: [{port: 22}]
  endpoints:
  - addresses: [127.0.0.1]
  - addresses: [0.0.0.0]
  - addresses: [169.254.169.254]
  - addresses: [10.244.0.9]
`;
    const r = cli(['-f', '-', '--node-name', 'n', '--node-ip', '10.0.0.5', '--strict'], yaml);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('-A -t 10.96.0.22:22 -s mh -b mh-fallback,mh-port\n-a -t 10.96.0.22:22 -r 10.244.0.9:22 -m -w 1\n');
    expect(r.stderr).toContain('warning: Service x/ssh: spec.ports[0].nodePort 22 is outside the node port range 30000-32767 (--node-port-range); no node port for it');
    expect(r.stderr).toContain('warning: EndpointSlice x/ssh-1: endpoints[0] address 127.0.0.1 is a loopback address; endpoint skipped');
    expect(r.stderr).toContain('warning: EndpointSlice x/ssh-1: endpoints[1] address 0.0.0.0 is a unspecified address; endpoint skipped');
    expect(r.stderr).toContain('warning: EndpointSlice x/ssh-1: endpoints[2] address 169.254.169.254 is a link-local address; endpoint skipped');
    const wide = cli(['-f', '-', '--node-name', 'n', '--node-ip', '10.0.0.5', '--node-port-range', '1-32767'], yaml);
    expect(wide.stdout).toContain('-A -t 10.0.0.5:22 ');
    expect(cli(['-f', '-', '--node-name', 'n', '--node-port-range', '5-1'], yaml).stderr).toContain('"5-1" is not a port range such as 30000-32767');
  });

  it('an external IP equal to the cluster DNS address or the node address is refused (--strict exits 2)', () => {
    const yaml = `kind: List
items:
- {kind: Service, metadata: {name: kube-dns, namespace: kube-system}, spec: {clusterIP: 10.96.0.10, ports: [{port: 53, protocol: UDP}]}}
- {kind: Service, metadata: {name: evil, namespace: attacker}, spec: {clusterIP: 10.96.9.9, externalIPs: [10.96.0.10, 10.0.0.5], ports: [{port: 53, protocol: UDP}, {port: 10250}]}}
`;
    const r = cli(['-f', '-', '--node-name', 'n', '--node-ip', '10.0.0.5', '--strict'], yaml);
    expect(r.status).toBe(2);
    expect(r.stdout).not.toMatch(/-A -[tu] 10\.0\.0\.5:/);
    expect(r.stdout.match(/-A -u 10\.96\.0\.10:53/g)).toHaveLength(1);
    expect(r.stderr).toContain('warning: Service attacker/evil: external IP 10.96.0.10 is the cluster IP of kube-system/kube-dns; refused');
    expect(r.stderr).toContain("warning: Service attacker/evil: external IP 10.0.0.5 is a node address; refused (it would capture the node's own ports)");
  });
});

describe('k8s translate reads bounded input', () => {
  it('refuses a file over --max-input-size, and endless stdin (/dev/zero) at the limit', () => {
    const path = join(dir, 'big.yaml');
    writeFileSync(path, `kind: List\nitems: []\n${'#'.repeat(4096)}\n`);
    const r = cli(['-f', path, '--node-name', 'n', '--max-input-size', '1KiB']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`ipvs-maglev: ${path} is 4 KiB, more than the limit of 1 KiB; raise it with --max-input-size SIZE (e.g. --max-input-size 4KiB)\n`);
    // stdin is /dev/zero itself, as with `k8s translate -f - < /dev/zero`.
    const zero = cli(['-f', '-', '--node-name', 'n', '--max-input-size', '1MiB'], undefined, openSync('/dev/zero', 'r'));
    expect(zero.status).toBe(1);
    expect(zero.stderr).toBe('ipvs-maglev: stdin is larger than the limit of 1 MiB; raise it with --max-input-size SIZE (e.g. --max-input-size 4MiB)\n');
    const dev = cli(['-f', '/dev/zero', '--node-name', 'n', '--max-input-size', '1MiB']);
    expect(dev.stderr).toBe('ipvs-maglev: /dev/zero is larger than the limit of 1 MiB; raise it with --max-input-size SIZE (e.g. --max-input-size 4MiB)\n');
  });

  it('refuses more values than the size limit allows ([1,1,1,...]) before parsing', () => {
    const r = cli(['-f', '-', '--node-name', 'n', '--max-input-size', '12KiB'], `{"kind": "List", "items": [${'1,'.repeat(5000)}1]}`);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('ipvs-maglev: stdin has more than 1,024 values (the size limit of 12 KiB allows one per 12 bytes); raise it with --max-input-size SIZE\n');
  });

  it('reads a FIFO whose writer comes late (process substitution, named pipes)', async () => {
    const fifo = join(dir, 'objects.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const writer = spawn('sh', ['-c', `sleep 0.5; cat "${FIXTURE}" > "${fifo}"`]);
    const written = new Promise((r) => writer.once('close', r));
    const child = spawn(process.execPath, ['bin/ipvs-maglev.mjs', 'k8s', 'translate', '-f', fifo, '--node-name', 'node-a']);
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const status = await new Promise<number | null>((r) => child.once('close', r));
    await written;
    expect(status).toBe(0);
    expect(out).toContain('-A -t 10.96.20.7:80 ');
  });

  it('lists at most 1000 warnings and counts the rest; quotes a bounded slice of a huge bad value', () => {
    const items = Array.from({ length: 1500 }, (_, i) => `{"kind": "Service", "metadata": {"name": "s${i}"}, "spec": {"clusterIP": "bad-${'x'.repeat(i === 0 ? 100_000 : 1)}"}}`);
    const r = cli(['-f', '-', '--node-name', 'n'], `{"kind": "List", "items": [${items.join(',')}]}`);
    expect(r.status).toBe(0);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1001);
    expect(lines[1000]).toBe('... and 500 more');
    expect(lines[0]).toBe(`warning: Service default/s0: spec.clusterIPs has "bad-${'x'.repeat(60)}"... (99940 more characters), which is not an IP address; the Service is skipped`);
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

  it('reads JSON with JSON.parse and reports YAML errors with line:column', () => {
    const json = JSON.stringify({ kind: 'List', items: [{ kind: 'Service', metadata: { name: 'a' } }, { kind: 'Node', metadata: { name: 'n' } }] });
    const r = parseObjectsText(json);
    expect(r.objects.services).toHaveLength(1);
    expect(r.objects.nodes).toHaveLength(1);
    expect(() => parseObjectsText('kind: List\nitems:\n  - a: 1\n  a: 2\n', 'f.yaml')).toThrow(/^f\.yaml:4:3: /);
    // Broken JSON falls back to the YAML parser, which says where.
    expect(() => parseObjectsText('{"kind": "List", "items": [}', 'f.json')).toThrow(/^f\.json:1:\d+: /);
  });

  it('refuses YAML aliases (kubectl never writes them; each could multiply the work) and Lists nested too deep', () => {
    expect(() => parseObjectsText('a: &x [1]\nb: *x\n', 'f.yaml')).toThrow('f.yaml:2:5: YAML aliases (*name) are not accepted in object files (kubectl never writes them)');
    let nested: unknown = { kind: 'Service', metadata: { name: 'deep' } };
    for (let i = 0; i < 6; i++) nested = { kind: 'List', items: [nested] };
    const r = parseObjectsText(JSON.stringify(nested));
    expect(r.objects.services).toEqual([]);
    expect(r.warnings.map((w) => w.message)).toEqual(['the document items[0] items[0] items[0] items[0] nests Lists more than 4 deep; skipped']);
  });
});
