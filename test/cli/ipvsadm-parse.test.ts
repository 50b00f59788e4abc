import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatSave, type ServiceWithDestinations } from '../../src/cli/ipvsadm/format.ts';
import { opsToEntries, parseRestore, RestoreSyntaxError } from '../../src/cli/ipvsadm/parse.ts';
import { sortDestinationsLikeIpvsadm, sortServicesLikeIpvsadm } from '../../src/cli/ipvsadm/sort.ts';
import { formatAddress, prefixToNetmask } from '../../src/address/address.ts';
import type { Destination, DestinationConfig, Family, Protocol, Service, ServiceKey } from '../../src/ipvs/types.ts';
import { dest, flags, SAMPLE, svc } from './ipvsadm-fixtures.ts';

function sorted(entries: ServiceWithDestinations[]): ServiceWithDestinations[] {
  return sortServicesLikeIpvsadm(entries).map((e) => ({ service: e.service, destinations: sortDestinationsLikeIpvsadm(e.destinations) }));
}

/** Strips what a save does not carry (stats, counters) so entries compare on configuration. */
function configOnly(entries: ServiceWithDestinations[]): ServiceWithDestinations[] {
  return entries.map((e) => ({
    service: { key: e.service.key, config: e.service.config },
    destinations: e.destinations.map((d) => ({ key: d.key, config: d.config })),
  }));
}

function errorOf(text: string): RestoreSyntaxError {
  try {
    parseRestore(text);
  } catch (err) {
    if (err instanceof RestoreSyntaxError) return err;
    throw err;
  }
  throw new Error(`no error for ${JSON.stringify(text)}`);
}

describe('parseRestore', () => {
  it('reads back the sample save output exactly', () => {
    const text = formatSave(SAMPLE, { thresholds: true });
    expect(opsToEntries(parseRestore(text))).toEqual(configOnly(sorted(SAMPLE)));
  });

  it('applies ipvsadm defaults', () => {
    const ops = parseRestore('-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.1.1\n');
    expect(ops).toEqual([
      { op: 'addService', line: 1, key: { kind: 'addr', family: 'inet', protocol: 'tcp', address: '10.0.0.1', port: 80 }, config: { scheduler: 'wlc', flags: flags(), timeout: 0, netmask: '255.255.255.255' } },
      {
        op: 'addDestination',
        line: 2,
        service: { kind: 'addr', family: 'inet', protocol: 'tcp', address: '10.0.0.1', port: 80 },
        key: { family: 'inet', address: '10.0.1.1', port: 80 },
        config: { forwarding: 'droute', weight: 1, upperThreshold: 0, lowerThreshold: 0 },
      },
    ]);
  });

  it('accepts hand-written forms: long options, --opt=value, clusters, -p without value, comments, "ipvsadm" prefix', () => {
    const text = [
      '# a comment line',
      '',
      'ipvsadm --add-service --udp-service=[2001:DB8:0::1]:53 --scheduler rr --persistent --netmask 64 --ops   # trailing comment',
      '-a -u [2001:db8::1]:53 -r [2001:db8::2]:5353 -mw 5 --u-threshold=10 -y 2',
      '-A -f 9 -6 -s mh -b mh-port -p 60',
    ].join('\n');
    const ops = parseRestore(text);
    expect(ops.map((o) => o.line)).toEqual([3, 4, 5]);
    expect(ops[0]).toMatchObject({
      op: 'addService',
      key: { family: 'inet6', protocol: 'udp', address: '2001:db8::1', port: 53 },
      config: { scheduler: 'rr', timeout: 360, netmask: '64', flags: flags({ persistent: true, onePacket: true }) },
    });
    expect(ops[1]).toMatchObject({ key: { address: '2001:db8::2', port: 5353 }, config: { forwarding: 'masq', weight: 5, upperThreshold: 10, lowerThreshold: 2 } });
    expect(ops[2]).toMatchObject({ key: { kind: 'fwmark', family: 'inet6', fwmark: 9 }, config: { scheduler: 'mh', timeout: 60, netmask: '128', flags: flags({ persistent: true, portHash: true }) } });
  });

  it('gives DR and tunnel destinations the service port, like ipvsadm', () => {
    const ops = parseRestore('-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -g\n-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m\n-a -f 1 -r 10.0.1.1:8080 -g\n');
    expect(ops.map((o) => (o.op === 'addDestination' ? o.key.port : -1))).toEqual([80, 8080, 8080]);
  });

  it('parses the other commands', () => {
    const ops = parseRestore('-C\n--set 900 120 300\n-Z\n-Z -t 10.0.0.1:80\n-D -u 10.0.0.1:53\n-d -t 10.0.0.1:80 -r 10.0.1.1:80\n-E -t 10.0.0.1:80 -s rr\n-e -t 10.0.0.1:80 -r 10.0.1.1 -m -w 0\n');
    expect(ops.map((o) => o.op)).toEqual(['flush', 'setTimeouts', 'zero', 'zero', 'deleteService', 'deleteDestination', 'editService', 'editDestination']);
    expect(ops[1]).toMatchObject({ timeouts: { tcp: 900, tcpFin: 120, udp: 300 } });
    expect(ops[5]).toMatchObject({ key: { address: '10.0.1.1', port: 80 } });
  });

  it('reads back a negative fwmark (ipvsadm prints marks >= 2^31 with %d)', () => {
    expect(parseRestore('-A -f -2147483647 -s rr\n')[0]).toMatchObject({ key: { fwmark: 0x80000001 } });
  });

  const bad: [string, number, RegExp][] = [
    ['-A -t 10.0.0.1:80\n-A -t www.example.com:80', 2, /host names are not resolved/],
    ['-A -t 10.0.0.1:http', 1, /service names are not resolved/],
    ['-A -t 10.0.0.1:70000', 1, /illegal virtual server port/],
    ['-A -t 10.0.0.1', 1, /Zero port specified for non-persistent service/],
    ['-A -t 10.0.0.1:80 -o', 1, /only for UDP/],
    ['-A -t 10.0.0.1:80 -s rr -b mh-port', 1, /incompatible scheduler flag 'mh-port'/],
    ['-A -t 10.0.0.1:80 -b bogus', 1, /invalid scheduler flag 'bogus'/],
    ['-A -t 10.0.0.1:80 -p 0', 1, /invalid timeout value/],
    ['-A -t 10.0.0.1:80 -p 2678401', 1, /invalid timeout value/],
    ['-A -t [::1]:80 -p 60 -M 129', 1, /illegal ipv6 netmask/],
    ['-A -t 10.0.0.1:80 -p 60 -M 255.255.255', 1, /persistent mask/],
    ['-A -t 10.0.0.1:80 -s averyveryverylongname', 1, /invalid scheduler name/],
    ['-A -t 10.0.0.1:80 -r 10.0.0.2', 1, /Illegal 'real-server' option with the 'add-service' command/],
    ['-a -t 10.0.0.1:80', 1, /You need to supply the 'real-server' option/],
    ['-a -t 10.0.0.1:80 -r 10.0.0.2 -w 65536', 1, /illegal weight/],
    ['-a -t 10.0.0.1:80 -r 10.0.0.2 -w -1', 1, /illegal weight/],
    ['-a -t 10.0.0.1:80 -r 10.0.0.2 -x 2147483648', 1, /illegal u_threshold/],
    ['-a -t 10.0.0.1:80 -r 10.0.0.2 -m -m', 1, /multiple 'forwarding-method' options/],
    ['-a -t 10.0.0.1:80 -r 10.0.0.2 -m -g', 1, /multiple 'forwarding-method' options/],
    ['-a -t 10.0.0.1:80 -r [::2]:80 -m', 1, /Different address family/],
    ['-a -t 10.0.0.1:80 -r 10.0.0.2 -m --tun-type gue', 1, /Tunnel options conflict/],
    ['-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gue', 1, /tun-port' option for the 'gue'/],
    ['-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type ipip --tun-csum', 1, /Illegal 'tun-csum' option with the 'ipip'/],
    ['-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gue --tun-port 1 --tun-csum --tun-nocsum', 1, /conflicts/],
    ['-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type vxlan', 1, /illegal tunnel type/],
    ['-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gre --tun-remcsum', 1, /Illegal 'tun-remcsum' option with the 'gre'/],
    ['-a -t 10.0.0.1:80 -r 10.0.0.2 -i --tun-type gre --tun-port 5', 1, /Illegal 'tun-port' option with the 'gre'/],
    ['-A -t 10.0.0.1:80 -E -t 10.0.0.1:80', 1, /multiple commands/],
    ['-t 10.0.0.1:80', 1, /no command/],
    ['-L -n', 1, /'list' command is not allowed/],
    ['-R', 1, /'restore' command is not allowed/],
    ['-A -t 10.0.0.1:80 extra', 1, /unexpected argument extra/],
    ['--set 1 2', 1, /requires 3 timeout values/],
    ['-A -6 -f 1', 1, /-6 used before -f/],
    ['-A -f 0', 1, /invalid fwmark/],
    ['-A -t 10.0.0.1:80 --bogus', 1, /invalid option "--bogus"/],
    ['-A -t', 1, /needs a value/],
    ['\n\n-A -t 10.0.0.1:80 -q', 3, /invalid option -q/],
  ];
  for (const [text, line, re] of bad) {
    it(`rejects ${JSON.stringify(text)} at line ${line}`, () => {
      const err = errorOf(text);
      expect(err.code).toBe('RESTORE_SYNTAX');
      expect(err.line).toBe(line);
      expect(err.message).toMatch(new RegExp(`^line ${line}: `));
      expect(err.message).toMatch(re);
    });
  }

  it('opsToEntries refuses duplicates and orphans with the line number', () => {
    expect(() => opsToEntries(parseRestore('-A -t 10.0.0.1:80\n-A -t 10.0.0.1:80\n'))).toThrow(/line 2: service tcp 10.0.0.1:80 is added twice/);
    expect(() => opsToEntries(parseRestore('-a -t 10.0.0.1:80 -r 10.0.0.2\n'))).toThrow(/line 1: destination for service/);
  });
});

// ---- property: parse(format(x)) == x for everything ipvsadm -S can express ----

const u8 = fc.integer({ min: 0, max: 255 });
const ipv4 = fc.tuple(u8, u8, u8, u8).map((b) => b.join('.'));
const ipv6 = fc
  .array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 })
  .chain((words) => fc.constantFrom(words, words.map((w, i) => (i > 1 && i < 6 ? 0 : w))))
  .map((words) => {
    const bytes = new Uint8Array(16);
    words.forEach((w, i) => {
      bytes[i * 2] = w >> 8;
      bytes[i * 2 + 1] = w & 0xff;
    });
    return formatAddress('inet6', bytes);
  });
const address = (family: Family): fc.Arbitrary<string> => (family === 'inet' ? ipv4 : ipv6);
const family = fc.constantFrom<Family>('inet', 'inet6');

const serviceKey: fc.Arbitrary<ServiceKey> = fc.oneof(
  family.chain((f) =>
    fc.record({
      kind: fc.constant('addr' as const),
      family: fc.constant(f),
      protocol: fc.constantFrom<Protocol>('tcp', 'udp', 'sctp'),
      address: address(f),
      port: fc.integer({ min: 0, max: 65535 }),
    }),
  ),
  fc.record({ kind: fc.constant('fwmark' as const), family, fwmark: fc.integer({ min: 1, max: 0xffffffff }) }),
);

function serviceFor(key: ServiceKey): fc.Arbitrary<Service> {
  return fc
    .record({
      scheduler: fc.constantFrom('rr', 'wrr', 'lc', 'wlc', 'sh', 'mh', 'sed'),
      persistent: key.kind === 'addr' && key.port === 0 ? fc.constant(true) : fc.boolean(),
      onePacket: key.kind === 'fwmark' || key.protocol === 'udp' ? fc.boolean() : fc.constant(false),
      b1: fc.boolean(),
      b2: fc.boolean(),
      b3: fc.boolean(),
      timeout: fc.integer({ min: 1, max: 86400 * 31 }),
      prefix: key.family === 'inet' ? fc.integer({ min: 0, max: 32 }) : fc.integer({ min: 1, max: 128 }),
      pe: fc.option(fc.constant('sip'), { nil: undefined }),
    })
    .map((r) => {
      const named = r.scheduler === 'sh' || r.scheduler === 'mh';
      const netmask = !r.persistent ? (key.family === 'inet' ? '255.255.255.255' : '128') : key.family === 'inet' ? prefixToNetmask(r.prefix) : String(r.prefix);
      const s = svc(key, {
        scheduler: r.scheduler,
        timeout: r.persistent ? r.timeout : 0,
        netmask,
        flags: flags({ persistent: r.persistent, onePacket: r.onePacket, fallback: r.b1, portHash: r.b2, sched3: named ? false : r.b3 }),
      });
      if (r.pe) s.config.persistenceEngine = r.pe;
      return s;
    });
}

function destinationFor(key: ServiceKey): fc.Arbitrary<Destination> {
  const servicePort = key.kind === 'addr' ? key.port : undefined;
  return fc
    .record({
      forwarding: fc.constantFrom<DestinationConfig['forwarding']>('masq', 'droute', 'tunnel'),
      otherFamily: fc.boolean(),
      port: fc.integer({ min: 0, max: 65535 }),
      weight: fc.integer({ min: 0, max: 65535 }),
      upper: fc.integer({ min: 0, max: 2147483647 }),
      lower: fc.integer({ min: 0, max: 2147483647 }),
      tunnelType: fc.constantFrom<'ipip' | 'gue' | 'gre'>('ipip', 'gue', 'gre'),
      tunnelPort: fc.integer({ min: 1, max: 65535 }),
      tunnelFlags: fc.integer({ min: 0, max: 2 }),
    })
    .chain((r) => {
      const fam: Family = r.forwarding === 'tunnel' && r.otherFamily ? (key.family === 'inet' ? 'inet6' : 'inet') : key.family;
      return address(fam).map((addr) => {
        const port = servicePort !== undefined && r.forwarding !== 'masq' ? servicePort : r.port;
        const config: DestinationConfig = { forwarding: r.forwarding, weight: r.weight, upperThreshold: r.upper, lowerThreshold: r.lower };
        if (r.forwarding === 'tunnel') {
          config.tunnelType = r.tunnelType;
          config.tunnelPort = r.tunnelType === 'gue' ? r.tunnelPort : 0;
          config.tunnelFlags = r.tunnelType === 'ipip' ? 0 : r.tunnelType === 'gre' ? r.tunnelFlags % 2 : r.tunnelFlags;
        }
        return dest(addr, port, config);
      });
    });
}

const keyString = (k: ServiceKey): string => (k.kind === 'fwmark' ? `f${k.family}${k.fwmark}` : `${k.family}${k.protocol}${k.address}:${k.port}`);

const table: fc.Arbitrary<ServiceWithDestinations[]> = fc
  .uniqueArray(serviceKey, { maxLength: 8, selector: keyString })
  .chain((keys) =>
    fc.tuple(
      ...keys.map((k) =>
        fc.record({
          service: serviceFor(k),
          destinations: fc.uniqueArray(destinationFor(k), { maxLength: 5, selector: (d) => `${d.key.address}:${d.key.port}` }),
        }),
      ),
    ),
  );

describe('round trip', () => {
  it('parseRestore(formatSave(x, {thresholds})) == x, in ipvsadm order', () => {
    fc.assert(
      fc.property(table, (entries) => {
        expect(opsToEntries(parseRestore(formatSave(entries, { thresholds: true })))).toEqual(sorted(entries));
      }),
      { numRuns: 300 },
    );
  });

  it('formatSave is a fixed point through parse (as a set of lines)', () => {
    // Not as a sequence: ipvsadm's comparator is not transitive (u32 differences truncated to
    // int), so its order depends on the input order, which here is the order of the first save.
    const lines = (text: string): string[] => text.split('\n').sort();
    fc.assert(
      fc.property(table, (entries) => {
        const once = formatSave(entries);
        expect(lines(formatSave(opsToEntries(parseRestore(once))))).toEqual(lines(once));
      }),
      { numRuns: 200 },
    );
  });

  it('never throws anything but RestoreSyntaxError on garbage', () => {
    const token = fc.oneof(
      fc.constantFrom('-A', '-a', '-E', '-e', '-d', '-D', '-t', '-u', '-f', '-r', '-s', '-p', '-M', '-b', '-w', '-x', '-y', '-i', '-g', '-m', '-6', '-o', '--tun-type', '--tun-port', '--pe', '--set', 'gue', 'mh', 'mh-port', '10.0.0.1:80', '[::1]:80', '::1', '0', '80', '#'),
      fc.string({ maxLength: 6 }),
    );
    fc.assert(
      fc.property(fc.array(fc.array(token, { maxLength: 8 }).map((t) => t.join(' ')), { maxLength: 4 }), (lines) => {
        try {
          parseRestore(lines.join('\n'));
        } catch (err) {
          expect(err).toBeInstanceOf(RestoreSyntaxError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
