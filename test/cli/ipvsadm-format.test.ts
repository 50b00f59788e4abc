import { describe, expect, it } from 'vitest';
import { formatLargeNum, formatList, formatSave } from '../../src/cli/ipvsadm/format.ts';
import { ntop6 } from '../../src/cli/ipvsadm/inet.ts';
import { glibcMergeSort } from '../../src/cli/ipvsadm/sort.ts';
import { parseAddress } from '../../src/address/address.ts';
import { dest, SAMPLE, svc } from './ipvsadm-fixtures.ts';

// Golden strings produced with Python's printf from ipvsadm 1.31's format strings (ipvsadm.c),
// independently of the code under test; the kernel suite
// test/kernel/ipvsadm-interop.test.ts checks the same functions against the real binary.

const INFO = { version: 0x010201, connTableSize: 4096 };

describe('formatSave (ipvsadm -S -n)', () => {
  it('prints every option in ipvsadm order and sort order', () => {
    expect(formatSave(SAMPLE)).toBe(
      [
        '-A -t 200.0.0.1:80 -s rr',
        '-A -t 10.0.0.1:80 -s mh -b mh-fallback,mh-port',
        '-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 2',
        '-a -t 10.0.0.1:80 -r 10.0.1.2:8080 -m -w 1',
        '-A -u 10.0.0.1:53 -s rr -p 300 -M 255.255.255.0 -o',
        '-a -u 10.0.0.1:53 -r 10.0.1.1:53 -g -w 0',
        '-A --sctp-service 10.0.0.2:3868 -s lc',
        '-a --sctp-service 10.0.0.2:3868 -r 10.0.1.9:3868 -i -w 1 --tun-type gre --tun-nocsum',
        '-A -t [2001:db8::1]:443 -s wrr -p 600 -M 64 --pe sip',
        '-a -t [2001:db8::1]:443 -r 10.9.9.9:443 -i -w 1 --tun-type ipip',
        '-a -t [2001:db8::1]:443 -r [2001:db8::10]:443 -m -w 3',
        '-A -f 7 -s wlc',
        '-a -f 7 -r 10.0.2.1:0 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum',
        '-A -f 8 -6 -s sh -b sh-port',
        '-a -f 8 -6 -r [2001:db8::5]:0 -g -w 1',
        '',
      ].join('\n'),
    );
  });

  it('adds -x/-y only when asked (ipvsadm itself never saves thresholds)', () => {
    const out = formatSave(SAMPLE, { thresholds: true });
    expect(out).toContain('-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 2 -x 100 -y 10\n');
    expect(out).toContain('-a -t 10.0.0.1:80 -r 10.0.1.2:8080 -m -w 1\n');
  });

  it('prints what ipvsadm prints for odd kernel values', () => {
    const odd = [
      {
        service: svc({ kind: 'fwmark', family: 'inet', fwmark: 0x80000001 }, { scheduler: 'mh', flags: { persistent: false, onePacket: false, fallback: false, portHash: false, sched3: true } }),
        destinations: [dest('10.0.0.1', 0, { forwarding: 'bypass' }), dest('10.0.0.2', 0, { forwarding: 'local' })],
      },
    ];
    expect(formatSave(odd)).toBe('-A -f -2147483647 -s mh -b \n-a -f -2147483647 -r 10.0.0.1:0 (null) -w 1\n-a -f -2147483647 -r 10.0.0.2:0 -g -w 1\n');
  });

  it('prints an empty table as nothing', () => {
    expect(formatSave([])).toBe('');
  });
});

describe('formatList (ipvsadm -L -n)', () => {
  it('default layout', () => {
    const out = formatList(SAMPLE.slice(0, 2), INFO);
    expect(out).toBe(
      'IP Virtual Server version 1.2.1 (size=4096)\n' +
        'Prot LocalAddress:Port Scheduler Flags\n' +
        '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n' +
        'TCP  10.0.0.1:80 mh (mh-fallback,mh-port)\n' +
        '  -> 10.0.1.1:8080                Masq    2      1          0         \n' +
        '  -> 10.0.1.2:8080                Masq    1      3          7         \n' +
        'UDP  10.0.0.1:53 rr persistent 300 mask 255.255.255.0 ops\n' +
        '  -> 10.0.1.1:53                  Route   0      0          0         \n',
    );
  });

  it('IPv6, fwmark and persistence engine', () => {
    const out = formatList(SAMPLE.slice(2, 5), INFO);
    expect(out.split('\n').slice(3)).toEqual([
      'TCP  [2001:db8::1]:443 wrr persistent 600 mask 64 pe sip',
      '  -> 10.9.9.9:443                 Tunnel  1      0          0         ',
      '  -> [2001:db8::10]:443           Masq    3      0          0         ',
      'FWM  7 wlc',
      '  -> 10.0.2.1:0                   Tunnel  1      0          0         ',
      'FWM  8 IPv6 sh (sh-port)',
      '  -> [2001:db8::5]:0              Route   1      0          0         ',
      '',
    ]);
  });

  it('--stats', () => {
    const out = formatList(SAMPLE.slice(0, 1), INFO, { stats: true });
    expect(out).toBe(
      'IP Virtual Server version 1.2.1 (size=4096)\n' +
        'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n' +
        '  -> RemoteAddress:Port\n' +
        'TCP  10.0.0.1:80                         5       10       15      500     5000\n' +
        '  -> 10.0.1.1:8080                       3        6        9      300     3000\n' +
        '  -> 10.0.1.2:8080                       2        4        6      200     2000\n',
    );
  });

  it('--rate', () => {
    const out = formatList(SAMPLE.slice(0, 1), INFO, { rate: true });
    expect(out).toBe(
      'IP Virtual Server version 1.2.1 (size=4096)\n' +
        'Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n' +
        '  -> RemoteAddress:Port\n' +
        'TCP  10.0.0.1:80                         5        5        5       50      100\n' +
        '  -> 10.0.1.1:8080                       3        3        3       30       60\n' +
        '  -> 10.0.1.2:8080                       2        2        2       20       40\n',
    );
  });

  it('--thresholds, --persistent-conn and --tun-info', () => {
    expect(formatList(SAMPLE.slice(0, 1), INFO, { thresholds: true }).split('\n').slice(1, 5)).toEqual([
      'Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn ',
      '  -> RemoteAddress:Port',
      'TCP  10.0.0.1:80 mh (mh-fallback,mh-port)',
      '  -> 10.0.1.1:8080                100        10         1          0         ',
    ]);
    expect(formatList(SAMPLE.slice(0, 1), INFO, { persistentConn: true }).split('\n').slice(1, 5)).toEqual([
      'Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn ',
      '  -> RemoteAddress:Port',
      'TCP  10.0.0.1:80 mh (mh-fallback,mh-port)',
      '  -> 10.0.1.1:8080                2         0           1          0         ',
    ]);
    expect(formatList(SAMPLE.slice(2, 3), INFO, { tunInfo: true }).split('\n').slice(1, 5)).toEqual([
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn',
      'FWM  7 wlc',
      '  -> 10.0.2.1:0                   Tunnel  gue:6080:+c   1      0          0         ',
    ]);
  });

  it('an empty table has the header only', () => {
    expect(formatList([], { version: 0x010201, connTableSize: 1048576 })).toBe(
      'IP Virtual Server version 1.2.1 (size=1048576)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n',
    );
  });
});

describe('print_largenum', () => {
  it('switches units at ipvsadm thresholds', () => {
    expect(formatLargeNum(0n)).toBe('        0');
    expect(formatLargeNum(99999999n)).toBe(' 99999999');
    expect(formatLargeNum(100000000n)).toBe('  100000K');
    expect(formatLargeNum(999999999n)).toBe('  999999K');
    expect(formatLargeNum(1000000000n)).toBe('    1000M');
    expect(formatLargeNum(100000000000n)).toBe('     100G');
    expect(formatLargeNum(100000000000000n)).toBe('     100T');
    expect(formatLargeNum(18446744073709551615n)).toBe('18446744T');
  });
  it('--exact widens the column', () => {
    expect(formatLargeNum(5n, true)).toBe('        5');
    expect(formatLargeNum(123456789n, true)).toBe(' 123456789');
  });
});

describe('glibc inet_ntop for IPv6', () => {
  const cases: [string, string][] = [
    ['2001:db8::1', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['::102:304', '::1.2.3.4'],
    ['1:0:0:1:0:0:0:1', '1:0:0:1::1'],
    ['1:0:1:0:1:0:1:0', '1:0:1:0:1:0:1:0'],
    ['fe80::', 'fe80::'],
  ];
  for (const [input, want] of cases) {
    it(`${input} -> ${want}`, () => expect(ntop6(parseAddress(input).bytes)).toBe(want));
  }
});

describe('glibc merge sort', () => {
  it('is stable and sorts', () => {
    const items = [3, 1, 2, 1, 5, 0].map((v, i) => ({ v, i }));
    expect(glibcMergeSort(items, (a, b) => a.v - b.v).map((x) => x.i)).toEqual([5, 1, 3, 2, 0, 4]);
  });
  it('sorts addresses with the u32-difference comparator like ipvsadm', () => {
    const order = (addrs: string[]): string[] =>
      formatSave(
        addrs.map((a) => ({ service: svc({ kind: 'addr', family: 'inet', protocol: 'tcp', address: a, port: 80 }), destinations: [] })),
      )
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ')[2]);
    // 10.0.0.1 - 200.0.0.1 wraps to a positive int: ipvsadm lists 200.0.0.1 first.
    expect(order(['10.0.0.1', '200.0.0.1'])).toEqual(['200.0.0.1:80', '10.0.0.1:80']);
    // With a third address the merge order decides: [10] merged with sorted [100, 200].
    expect(order(['10.0.0.1', '200.0.0.1', '100.0.0.1'])).toEqual(['10.0.0.1:80', '100.0.0.1:80', '200.0.0.1:80']);
  });
});
