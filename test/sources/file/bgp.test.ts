import { describe, expect, it } from 'vitest';
import { ConfigError, formatIssue, parseConfig } from '../../../src/sources/file/index.ts';

// The scale-out sections of lb.yaml: every mistake with file:line:column and the field.

function problems(text: string): string[] {
  try {
    parseConfig(text, 'lb.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map(formatIssue);
    throw e;
  }
  return [];
}

describe('bgp section', () => {
  it('managed mode: peers, timers, BFD and password, with defaults for the BIRD paths', () => {
    const c = parseConfig(
      [
        'services: []',
        'bgp:',
        '  localAsn: 4200000001',
        '  routerId: 10.0.0.11',
        '  gracePeriod: 10s',
        '  peers:',
        '    - { name: tor1, address: 10.0.0.1, asn: 65000, holdTime: 9s, keepalive: 3s, bfd: true, password: "p w" }',
        '    - { address: "2001:db8::1", asn: 65000 }',
      ].join('\n'),
      'lb.yaml',
    );
    expect(c.bgp).toEqual({
      speaker: 'bird',
      mode: 'managed',
      localAsn: 4_200_000_001,
      routerId: '10.0.0.11',
      gracePeriodMs: 10_000,
      takeOverFlows: true,
      peers: [
        { name: 'tor1', address: '10.0.0.1', asn: 65000, holdTimeS: 9, keepaliveS: 3, bfd: true, password: 'p w' },
        { name: 'peer2', address: '2001:db8::1', asn: 65000, holdTimeS: 90, bfd: false },
      ],
      bird: { config: '/run/ipvs-maglev/bird.conf', routes: '/run/ipvs-maglev/bird-routes.conf', socket: '/run/bird/bird.ctl', bird: 'bird', birdc: 'birdc' },
    });
  });

  it('include mode: the operator\'s BIRD configuration, no peers here', () => {
    const c = parseConfig('services: []\nbgp:\n  takeOverFlows: false\n  bird: { config: /etc/bird/bird.conf, routes: /run/x/routes.conf }\n', 'lb.yaml');
    expect(c.bgp).toMatchObject({ mode: 'include', peers: [], takeOverFlows: false, bird: { config: '/etc/bird/bird.conf', routes: '/run/x/routes.conf' } });
  });

  it('reports every mistake with its position', () => {
    expect(
      problems(
        [
          'services: []',
          'bgp:',
          '  localAsn: 0',
          '  routerId: fe80::1',
          '  peers:',
          '    - { name: 9bad, address: 10.0.0.1, asn: 65000, holdTime: 2s }',
          '    - { address: nowhere, asn: 65000, keepalive: 1500ms }',
          '    - { address: 10.0.0.1, asn: 70000000000, password: "a\\"b" }',
          '  bird: { socket: relative/bird.ctl, birdc: "birdc -x" }',
          '  gracePeriod: forever',
        ].join('\n'),
      ),
    ).toEqual([
      'lb.yaml:3:13: bgp.localAsn: 0 is out of range: must be from 1 to 4294967295',
      'lb.yaml:4:13: bgp.routerId: "fe80::1" is not an IPv4 address (a BGP router id is written as one)',
      'lb.yaml:6:15: bgp.peers[0].name: "9bad" is not valid: letters, digits and _ (up to 32), starting with a letter or _',
      'lb.yaml:6:62: bgp.peers[0].holdTime: 2000 ms is out of range: must be from 3000 ms to 65535000 ms',
      'lb.yaml:7:18: bgp.peers[1].address: "nowhere" is not an IPv4 or IPv6 address',
      'lb.yaml:7:50: bgp.peers[1].keepalive: BGP timers are whole seconds',
      'lb.yaml:8:33: bgp.peers[2].asn: 70000000000 is out of range: must be from 1 to 4294967295',
      'lb.yaml:8:56: bgp.peers[2].password: "a\\"b" is not valid: up to 80 characters, without quotes, backslashes or line breaks',
      'lb.yaml:9:19: bgp.bird.socket: "relative/bird.ctl" is not valid: an absolute path without quotes, backslashes or line breaks',
      'lb.yaml:9:45: bgp.bird.birdc: "birdc -x" is not valid: a command name or path without spaces or quotes',
      'lb.yaml:10:16: bgp.gracePeriod: must be a duration such as 5s, 500ms, 2m or a number of seconds, got the string "forever"',
    ]);
  });

  it('says which mode is missing what', () => {
    expect(problems('services: []\nbgp:\n  peers: [{ address: 10.0.0.1, asn: 1 }]\n')).toEqual([
      'lb.yaml:3:3: bgp: missing required field "localAsn" (this node\'s AS number; needed with "peers")',
      'lb.yaml:3:3: bgp: missing required field "routerId" (an IPv4 address naming this node; needed with "peers")',
    ]);
    expect(problems('services: []\nbgp:\n  localAsn: 65001\n')).toEqual([
      'lb.yaml:3:3: bgp.localAsn: "localAsn" is used only with "peers"; without peers, BIRD\'s own configuration (bird.config) sets it',
      'lb.yaml:3:3: bgp: either "peers" (ipvs-maglev writes the BIRD configuration) or "bird.config" (your BIRD configuration, which includes bird.routes)',
    ]);
    expect(problems('services: []\nbgp:\n  peer: []\n')[0]).toBe('lb.yaml:3:3: bgp.peer: unknown field "peer" (did you mean "peers"?); allowed: speaker, localAsn, routerId, peers, gracePeriod, takeOverFlows, bird');
  });
});

describe('connectionSync section', () => {
  it('one daemon per role; both = master and backup', () => {
    expect(parseConfig('services: []\nconnectionSync: { role: both, interface: eth1, syncId: 7, port: 8849, group: 224.0.0.82, ttl: 2 }\n').connectionSync).toEqual([
      { role: 'master', interface: 'eth1', syncId: 7, port: 8849, group: '224.0.0.82', ttl: 2 },
      { role: 'backup', interface: 'eth1', syncId: 7, port: 8849, group: '224.0.0.82', ttl: 2 },
    ]);
  });
  it('reports bad fields with positions', () => {
    expect(problems('services: []\nconnectionSync: { role: primary, interface: a-very-long-interface, syncId: 256, group: 10.0.0.1 }\n')).toEqual([
      'lb.yaml:2:25: connectionSync.role: unknown sync role "primary"; expected one of master, backup, both',
      'lb.yaml:2:45: connectionSync.interface: "a-very-long-interface" is not valid: an interface name of up to 15 characters',
      'lb.yaml:2:76: connectionSync.syncId: 256 is out of range: must be from 0 to 255',
      'lb.yaml:2:88: connectionSync.group: "10.0.0.1" is not a multicast address (224.0.0.0/4 or ff00::/8)',
    ]);
  });
});

describe('examples/scale-out.yaml', () => {
  it('is valid and says what the README says', async () => {
    const { loadConfigFile } = await import('../../../src/sources/file/index.ts');
    const c = await loadConfigFile('examples/scale-out.yaml');
    expect(c.bgp).toMatchObject({ mode: 'managed', localAsn: 65001, gracePeriodMs: 5000, takeOverFlows: true, peers: [{ name: 'tor1', holdTimeS: 9, keepaliveS: 3 }] });
    expect(c.desired.services[0].destinations.map((d) => d.config.forwarding)).toEqual(['tunnel', 'tunnel', 'droute']);
  });
});
