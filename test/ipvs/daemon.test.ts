import { describe, expect, it } from 'vitest';
import { decodeDaemon, daemonValues, encodeDaemonRequest, sameDaemon } from '../../src/ipvs/daemon.ts';
import { IpvsCmd } from '../../src/ipvs/schema.ts';
import { Encoder } from '../../src/netlink/attribute.ts';
import { beginGenl } from '../../src/netlink/genetlink.ts';
import { parseMessages } from '../../src/netlink/message.ts';
import { encodeAttributes, defineAttributeSet } from '../../src/netlink/schema.ts';

// The sync-daemon codec: requests carry IPVS_CMD_ATTR_DAEMON with the kernel's attribute numbers and
// byte orders; replies (NEW_DAEMON messages of a GET_DAEMON dump) decode back. Interop with ipvsadm
// and the kernel itself: test/kernel/scale-out.test.ts.

describe('IPVS sync daemon codec', () => {
  it('encodes a NEW_DAEMON request: nested attribute 3 holding state, interface, sync id, port, group, ttl', () => {
    const bytes = encodeDaemonRequest(0x21, IpvsCmd.NEW_DAEMON, 0, daemonValues({ role: 'backup', interface: 'eth0', syncId: 7, port: 8849, group: '224.0.0.82', ttl: 2 }));
    const hex = Buffer.from(bytes).toString('hex');
    expect(bytes[16]).toBe(IpvsCmd.NEW_DAEMON); // genlmsghdr.cmd
    expect(hex).toContain('08000100' + '02000000'); // STATE = backup (2), host order
    expect(hex).toContain('090002006574683000'); // MCAST_IFN "eth0\0"
    expect(hex).toContain('08000300' + '07000000'); // SYNC_ID 7
    expect(hex).toContain('06000700' + '9122'); // MCAST_PORT 8849 (0x2291), host order
    expect(hex).toContain('08000500' + 'e0000052'); // MCAST_GROUP 224.0.0.82, network order
    expect(hex).toContain('05000800' + '02'); // MCAST_TTL 2
  });

  it('decodes what the kernel sends back', () => {
    const nested = defineAttributeSet('t', { daemon: { type: 3, kind: 'nested', set: defineAttributeSet('d', { state: { type: 1, kind: 'u32' }, ifn: { type: 2, kind: 'string' }, id: { type: 3, kind: 'u32' }, maxlen: { type: 4, kind: 'u16' }, port: { type: 7, kind: 'u16' }, ttl: { type: 8, kind: 'u8' }, group: { type: 5, kind: 'bytes' } }) } });
    const e = new Encoder(256);
    const at = beginGenl(e, 0x21, IpvsCmd.NEW_DAEMON, 1, 0);
    encodeAttributes(nested, e, { daemon: { state: 1, ifn: 'eth1', id: 3, maxlen: 1472, port: 8848, ttl: 1, group: new Uint8Array([224, 0, 0, 81]) } });
    e.endMessage(at);
    const [msg] = parseMessages(e.copy());
    expect(decodeDaemon(msg)).toEqual({ role: 'master', interface: 'eth1', syncId: 3, maxLength: 1472, port: 8848, ttl: 1, group: '224.0.0.81' });
  });

  it('refuses bad input before sending it, and compares only what the configuration sets', () => {
    expect(() => daemonValues({ role: 'master', interface: 'a-name-that-is-too-long', syncId: 1 })).toThrow(/1\.\.15 characters/);
    expect(() => daemonValues({ role: 'master', interface: 'eth0', syncId: 300 })).toThrow(/sync id must be an integer in 0\.\.255/);
    expect(sameDaemon({ role: 'master', interface: 'eth0', syncId: 1, port: 8848, ttl: 1 }, { role: 'master', interface: 'eth0', syncId: 1 })).toBe(true);
    expect(sameDaemon({ role: 'master', interface: 'eth0', syncId: 1, port: 8848 }, { role: 'master', interface: 'eth0', syncId: 1, port: 9000 })).toBe(false);
  });
});
