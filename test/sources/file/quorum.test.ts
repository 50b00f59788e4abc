import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/sources/file/index.ts';
import { errorOf } from './bad-input.ts';

// quorum, hysteresis and sorryServer in lb.yaml: what a valid service yields, and where bad ones are refused.

const web = (extra: string, scheduler = ''): string =>
  `services:\n  - name: web\n    address: 192.0.2.10\n    port: 80\n${scheduler}    destinations:\n      - { address: 10.0.0.1, weight: 2 }\n      - { address: 10.0.0.2 }\n${extra}`;

describe('YAML config: quorum and sorry server', () => {
  it('reads quorum, hysteresis and a sorry server (destination defaults: service port, masq, weight 1)', () => {
    const c = parseConfig(web('    quorum: 2\n    hysteresis: 1\n    sorryServer: { address: 10.0.0.9 }\n'));
    expect(c.quorum).toEqual([
      {
        service: { kind: 'addr', family: 'inet', protocol: 'tcp', address: '192.0.2.10', port: 80 },
        serviceName: 'web',
        quorum: 2,
        hysteresis: 1,
        sorryServer: { key: { family: 'inet', address: '10.0.0.9', port: 80 }, config: { forwarding: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0 } },
      },
    ]);
    // The sorry server is not one of the destinations programmed while quorum holds.
    expect(c.desired.services[0].destinations.map((d) => d.key.address)).toEqual(['10.0.0.1', '10.0.0.2']);
  });

  it('defaults as keepalived: quorum 1, hysteresis 0; a service setting none of them has no policy', () => {
    expect(parseConfig(web('    sorryServer: { address: 10.0.0.9, port: 8080 }\n')).quorum[0]).toMatchObject({ quorum: 1, hysteresis: 0, sorryServer: { key: { port: 8080 } } });
    expect(parseConfig(web('')).quorum).toEqual([]);
  });

  it.each([
    { name: 'quorum 0', extra: '    quorum: 0\n', line: 8, column: 13, path: 'services[web].quorum', message: /0 is out of range: must be from 1 to 2147483647/ },
    { name: 'quorum as text', extra: '    quorum: half\n', line: 8, column: 13, path: 'services[web].quorum', message: /must be an integer/ },
    { name: 'negative hysteresis', extra: '    hysteresis: -1\n', line: 8, column: 17, path: 'services[web].hysteresis', message: /-1 is out of range: must be from 0/ },
    { name: 'sorry server health-checked', extra: '    sorryServer: { address: 10.0.0.9, healthCheck: { type: tcp } }\n', line: 8, column: 39, path: 'services[web].sorryServer.healthCheck', message: /a sorry server is not health-checked/ },
    { name: 'sorry server is a destination', extra: '    sorryServer: { address: 10.0.0.2 }\n', line: 8, column: 18, path: 'services[web].sorryServer', message: /10\.0\.0\.2:80 is also a destination of this service/ },
    { name: 'sorry server bad address', extra: '    sorryServer: { address: sorry.example }\n', line: 8, column: 29, path: 'services[web].sorryServer.address', message: /"sorry.example" is not an IPv4 or IPv6 address/ },
    { name: 'sorry server unknown field', extra: '    sorryServer: { address: 10.0.0.9, wieght: 1 }\n', line: 8, column: 39, path: 'services[web].sorryServer.wieght', message: /unknown field "wieght" \(did you mean "weight"\?\)/ },
  ])('$name -> file:line:column and the field', (c) => {
    const err = errorOf(web(c.extra));
    expect(err.issues[0]).toMatchObject({ line: c.line, column: c.column, path: c.path });
    expect(err.issues[0].message).toMatch(c.message);
    expect(err.message).toContain(`lb.yaml:${c.line}:${c.column}: ${c.path}: `);
  });

  it('mh or sh without their fallback flag: refused, since flows hashed to a real destination at weight 0 would be dropped', () => {
    const err = errorOf(web('    sorryServer: { address: 10.0.0.9 }\n', '    flags: [mh-port]\n'));
    expect(err.issues[0]).toMatchObject({ line: 9, column: 18, path: 'services[web].sorryServer' });
    expect(err.issues[0].message).toMatch(/needs the mh-fallback flag/);
    expect(errorOf(web('    sorryServer: { address: 10.0.0.9 }\n', '    scheduler: sh\n')).issues[0].message).toMatch(/needs the sh-fallback flag/);
    expect(parseConfig(web('    sorryServer: { address: 10.0.0.9 }\n', '    scheduler: wlc\n')).quorum).toHaveLength(1);
  });
});
