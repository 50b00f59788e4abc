// Interop with the real ipvsadm (1.31, Debian), both ways, on a real IPVS kernel:
// - what our client creates, `ipvsadm -Ln` (every view) and `ipvsadm -S -n` print exactly as our
//   formatters do (byte for byte, including ipvsadm's own sort order);
// - what ipvsadm creates, `ipvs-maglev list --json` reads exactly;
// - `ipvs-maglev save | ipvsadm -R` and `ipvsadm -S -n | ipvs-maglev restore` round trips;
// - restore is all or nothing, and --netns acts in the named namespace only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatList, formatSave, type ServiceWithDestinations } from '../../src/cli/ipvsadm/format.ts';
import { toJsonTable } from '../../src/cli/ipvsadm/json.ts';
import { opsToEntries, parseRestore } from '../../src/cli/ipvsadm/parse.ts';
import { readIpvsTable } from '../../src/cli/commands/list.ts';
import { type IpvsClient, openIpvs } from '../../src/ipvs/index.ts';
import { SAMPLE } from '../cli/ipvsadm-fixtures.ts';
import { assertIpvsKernel, clearIpvs, ipvsadm, run, runResult } from './lib/index.ts';

const CLI = ['node', 'bin/ipvs-maglev.mjs'];
const DUMMY = 'h4ipvsadm0';
const NETNS = 'h4ipvsadmns';
// Each CLI run boots node and the whole command tree: tens of seconds under the VM's software emulation.
const CLI_RUN_MS = 600_000;
const CLI_TEST_MS = 1_800_000;

/**
 * A listing as a sorted list of lines. ipvsadm sorts with a comparator that is not transitive
 * (u32 differences truncated to int), so its order depends on the kernel's listing order, which
 * depends on insertion order: a table rebuilt in another order may list in another order.
 */
function lines(text: string): string[] {
  return text.split('\n').sort();
}

function cli(args: string[], input?: string, netns?: string) {
  return runResult([process.execPath, ...CLI.slice(1), ...args], { input, netns, timeoutMs: CLI_RUN_MS });
}

async function ourTable(client: IpvsClient): Promise<ServiceWithDestinations[]> {
  return readIpvsTable(client);
}

/** A deterministic spread of addresses (including pairs > 2^31 apart) to exercise ipvsadm's sort. */
function manyServices(n: number): string {
  let x = 0x12345678;
  const next = (): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x;
  };
  const lines: string[] = [];
  const seen = new Set<string>();
  while (lines.length < n * 2) {
    const v = next();
    const vip = `${(v >>> 24) | 1}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${(v & 0xfe) | 1}`;
    if (seen.has(vip)) continue;
    seen.add(vip);
    const port = (next() % 60000) + 1;
    lines.push(`-A -t ${vip}:${port} -s rr`);
    lines.push(`-a -t ${vip}:${port} -r 10.77.${next() & 0xff}.${(next() & 0xfe) | 1}:${port} -m -w ${next() % 100}`);
  }
  return `${lines.join('\n')}\n`;
}

// Everything ipvsadm can set: IPv4/IPv6, tcp/udp/sctp, fwmark v4/v6, persistence + netmask,
// one-packet, sh/mh flags, flag-N, masq/DR/tunnel (ipip, gue + csum, gre + remcsum), weights,
// thresholds, the 10.x/200.x pair that sorts "backwards".
const IPVSADM_RULES = `-A -t 10.0.0.1:80 -s mh -b mh-fallback,mh-port
-a -t 10.0.0.1:80 -r 10.77.1.1:8080 -m -w 2 -x 100 -y 10
-a -t 10.0.0.1:80 -r 10.77.1.2:8080 -m -w 1
-A -t 200.0.0.1:80 -s rr
-a -t 200.0.0.1:80 -r 10.77.1.3 -g -w 0
-A -u 10.0.0.1:53 -s sh -b sh-port,sh-fallback -p 600 -M 255.255.0.0 -o
-a -u 10.0.0.1:53 -r 10.77.1.1:53 -g -w 5
-a -u 10.0.0.1:53 -r 10.77.1.4:53 -i -w 3 --tun-type gue --tun-port 6080 --tun-remcsum
-A --sctp-service 10.0.0.2:3868 -s lc
-a --sctp-service 10.0.0.2:3868 -r 10.77.1.9:3868 -i -w 1 --tun-type gre --tun-csum
-A -t [2001:db8::1]:443 -s wrr -p 60 -M 64
-a -t [2001:db8::1]:443 -r [2001:db8:77::10]:8443 -m -w 7
-a -t [2001:db8::1]:443 -r 10.77.2.2 -i -w 1 --tun-type ipip
-A -f 7 -s wlc -b flag-1,flag-3
-a -f 7 -r 10.77.3.1:0 -g -w 1
-A -f 8 -6 -s rr -p
-a -f 8 -6 -r [2001:db8:77::5]:0 -g -w 4 -x 0 -y 0
-A -t 10.0.0.3:0 -s wlc -p 30
-a -t 10.0.0.3:0 -r 10.77.1.5:0 -m
`;

describe('ipvsadm interop', () => {
  let client: IpvsClient;

  beforeAll(async () => {
    assertIpvsKernel();
    await clearIpvs();
    // Destinations must be routable: a dummy link holding 10.0.0.0/8 and 2001:db8::/32.
    await run(['ip', 'link', 'add', DUMMY, 'type', 'dummy']).catch(() => {});
    await run(['ip', 'link', 'set', DUMMY, 'up']);
    await run(['ip', 'addr', 'replace', '10.255.255.254/8', 'dev', DUMMY]);
    await run(['ip', '-6', 'addr', 'replace', '2001:db8:ffff::fe/32', 'dev', DUMMY, 'nodad']);
    client = await openIpvs();
  });

  afterAll(async () => {
    client?.close();
    await clearIpvs().catch(() => {});
    await run(['ip', 'link', 'del', DUMMY]).catch(() => {});
    await run(['ip', 'netns', 'del', NETNS]).catch(() => {});
  });

  it('ipvsadm -S -n and every -Ln view print exactly what our formatters print for a table our client made', async () => {
    await clearIpvs();
    const ops = SAMPLE.flatMap((e) => [
      { op: 'addService' as const, service: e.service.key, config: e.service.config },
      ...e.destinations.map((d) => ({ op: 'addDestination' as const, service: e.service.key, destination: d.key, config: d.config })),
    ]);
    const results = await client.batch(ops);
    expect(results.filter(Boolean).map((e) => e?.message)).toEqual([]);
    await ipvsadm(['-R'], { input: manyServices(60) });

    const table = await ourTable(client);
    const info = await client.getInfo();
    expect(await ipvsadm(['-S', '-n'])).toBe(formatSave(table));
    // And what we asked for is what ipvsadm saw (SAMPLE is a subset of the table).
    const saved = await ipvsadm(['-S', '-n']);
    for (const line of formatSave(SAMPLE).split('\n').filter(Boolean)) expect(saved).toContain(`${line}\n`);

    for (const [flag, opts] of [
      [[], {}],
      [['--stats'], { stats: true }],
      [['--rate'], { rate: true }],
      [['--thresholds'], { thresholds: true }],
      [['--persistent-conn'], { persistentConn: true }],
      [['--tun-info'], { tunInfo: true }],
      [['--stats', '--exact'], { stats: true, exact: true }],
    ] as const) {
      expect(await ipvsadm(['-L', '-n', ...flag]), `ipvsadm -Ln ${flag.join(' ')}`).toBe(formatList(table, info, opts));
    }
  });

  it('ipvs-maglev list --json reads exactly what ipvsadm created', async () => {
    await clearIpvs();
    await ipvsadm(['-R'], { input: IPVSADM_RULES });
    const r = await cli(['list', '--json']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const doc = JSON.parse(r.stdout);
    const info = await client.getInfo();
    expect(doc).toEqual(JSON.parse(JSON.stringify(toJsonTable(opsToEntries(parseRestore(IPVSADM_RULES)), info))));
    // Spot checks written out by hand, independent of the parser.
    const mh = doc.services.find((s: { key: { address?: string; port?: number } }) => s.key.address === '10.0.0.1' && s.key.port === 80);
    expect(mh.config).toEqual({
      scheduler: 'mh',
      flags: { persistent: false, onePacket: false, fallback: true, portHash: true, sched3: false },
      timeout: 0,
      netmask: '255.255.255.255',
      persistenceEngine: null,
    });
    expect(mh.destinations.map((d: { key: unknown; config: unknown }) => [d.key, d.config])).toEqual([
      [{ family: 'inet', address: '10.77.1.1', port: 8080 }, { forwarding: 'masq', weight: 2, upperThreshold: 100, lowerThreshold: 10, tunnel: null }],
      [{ family: 'inet', address: '10.77.1.2', port: 8080 }, { forwarding: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0, tunnel: null }],
    ]);
    const udp = doc.services.find((s: { key: { protocol?: string } }) => s.key.protocol === 'udp');
    expect(udp.config.flags).toEqual({ persistent: true, onePacket: true, fallback: true, portHash: true, sched3: false });
    expect(udp.config.netmask).toBe('255.255.0.0');
    expect(udp.destinations[1].config.tunnel).toEqual({ type: 'gue', port: 6080, flags: 2 });
    const fw6 = doc.services.find((s: { key: { fwmark?: number; family: string } }) => s.key.fwmark === 8);
    expect(fw6.key).toEqual({ kind: 'fwmark', family: 'inet6', fwmark: 8 });
    expect(fw6.config.timeout).toBe(360); // a bare -p: IPVS_SVC_PERSISTENT_TIMEOUT
    expect(fw6.destinations[0].key).toEqual({ family: 'inet6', address: '2001:db8:77::5', port: 0 });
    const v6 = doc.services.find((s: { key: { address?: string } }) => s.key.address === '2001:db8::1');
    expect(v6.destinations.map((d: { key: { address: string }; config: { tunnel: unknown } }) => [d.key.address, d.config.tunnel])).toEqual([
      ['10.77.2.2', { type: 'ipip', port: 0, flags: 0 }],
      ['2001:db8:77::10', null],
    ]);
    // The text view agrees with ipvsadm's too (the other views are compared in-process above).
    expect((await cli(['list', '--stats'])).stdout).toBe(await ipvsadm(['-L', '-n', '--stats']));
  }, CLI_TEST_MS);

  it('ipvs-maglev save | ipvsadm -R restores the same table', async () => {
    await clearIpvs();
    await ipvsadm(['-R'], { input: IPVSADM_RULES + manyServices(20) });
    const before = await ipvsadm(['-S', '-n']);
    const saved = await cli(['save']);
    // Taken now, from the table ipvsadm built (a trip through plain save drops the thresholds).
    const withThresholds = await cli(['save', '--thresholds']);
    expect(saved.exitCode).toBe(0);
    expect(saved.stdout).toBe(before);
    await clearIpvs();
    await ipvsadm(['-R'], { input: saved.stdout });
    expect(lines(await ipvsadm(['-S', '-n']))).toEqual(lines(before));
    // With --thresholds the thresholds survive the trip through ipvsadm too.
    await clearIpvs();
    await ipvsadm(['-R'], { input: withThresholds.stdout });
    // ipvsadm prints "  -> %-28s %-10u %-10u": the widths are not what this asserts, the numbers are.
    expect(await ipvsadm(['-L', '-n', '--thresholds'])).toMatch(/\n {2}-> 10\.77\.1\.1:8080 +100 +10 +\d/);
  }, CLI_TEST_MS);

  it('ipvsadm -S -n | ipvs-maglev restore restores the same table', async () => {
    await clearIpvs();
    await ipvsadm(['-R'], { input: IPVSADM_RULES + manyServices(20) });
    const before = await ipvsadm(['-S', '-n']);
    const thresholdsBefore = await ipvsadm(['-L', '-n', '--thresholds']);
    await clearIpvs();
    const r = await cli(['restore'], before);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(lines(await ipvsadm(['-S', '-n']))).toEqual(lines(before));
    // ipvsadm -S does not carry thresholds, so restore from it leaves them at 0 as ipvsadm -R would.
    expect(thresholdsBefore).toContain('100        10');
    // Hand-written input with the thresholds restores them.
    await clearIpvs();
    expect((await cli(['restore'], IPVSADM_RULES + manyServices(20))).exitCode).toBe(0);
    expect(lines(await ipvsadm(['-L', '-n', '--thresholds']))).toEqual(lines(thresholdsBefore));
  }, CLI_TEST_MS);

  it('restore is all or nothing: a pre-check conflict changes nothing', async () => {
    await clearIpvs();
    await ipvsadm(['-R'], { input: IPVSADM_RULES });
    const before = await ipvsadm(['-S', '-n']);
    const r = await cli(['restore'], '-A -t 10.1.1.1:80 -s rr\n-a -t 10.1.1.1:80 -r 10.77.9.9 -m\n-A -t 10.0.0.1:80 -s rr\n');
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/line 3: service tcp 10\.0\.0\.1:80 already exists; nothing applied/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(lines(await ipvsadm(['-S', '-n']))).toEqual(lines(before));
  }, CLI_TEST_MS);

  it('restore is all or nothing: a kernel refusal part-way is rolled back', async () => {
    await clearIpvs();
    await ipvsadm(['-R'], { input: IPVSADM_RULES });
    const before = await ipvsadm(['-S', '-n']);
    const input = [
      '-A -t 10.1.1.1:80 -s rr',
      '-a -t 10.1.1.1:80 -r 10.77.9.9 -m',
      '-D -t 200.0.0.1:80',
      '-e -t 10.0.0.1:80 -r 10.77.1.2:8080 -m -w 50',
      '-E -u 10.0.0.1:53 -s rr',
      '-A -t 10.1.1.2:80 -s nosuchscheduler',
      '-a -t 10.1.1.2:80 -r 10.77.9.9 -m',
    ].join('\n');
    const r = await cli(['restore'], input);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/line 6: the kernel refused it/);
    expect(r.stderr).toMatch(/nothing applied \(\d+ operations rolled back\)/);
    expect(lines(await ipvsadm(['-S', '-n']))).toEqual(lines(before));
  }, CLI_TEST_MS);

  it('a syntax error anywhere names its line and changes nothing', async () => {
    await clearIpvs();
    const r = await cli(['restore'], '-A -t 10.1.1.1:80 -s rr\n-a -t 10.1.1.1:80 -r 10.77.9.9 -m -w lots\n');
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/^ipvs-maglev: restore: stdin line 2: illegal weight "lots"/);
    expect(await ipvsadm(['-S', '-n'])).toBe('');
  }, CLI_TEST_MS);

  it('--netns acts in the named namespace only', async () => {
    await clearIpvs();
    await run(['ip', 'netns', 'add', NETNS]);
    const r = await cli(['restore', '--netns', NETNS], '-A -t 10.5.5.5:80 -s rr\n');
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(await ipvsadm(['-S', '-n'])).toBe('');
    expect(await ipvsadm(['-S', '-n'], { netns: NETNS })).toBe('-A -t 10.5.5.5:80 -s rr\n');
    expect((await cli(['list', '--netns', NETNS])).stdout).toBe(await ipvsadm(['-L', '-n'], { netns: NETNS }));
  }, CLI_TEST_MS);
});
