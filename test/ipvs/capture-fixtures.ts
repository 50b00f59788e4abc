// Captures real kernel conversations for the unit tests: run inside the test VM with
//   VM_RW=test/ipvs/fixtures bash test/kernel/vm/run-in-vm.sh node test/ipvs/capture-fixtures.ts
// Writes test/ipvs/fixtures/kernel-replies.json: per call, the request we sent (sequence
// zeroed) and every datagram the kernel answered. Replaces whatever IPVS state exists.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { NetlinkSocket } from '../../native/netlink-socket.ts';
import { Conn } from '../../src/netlink/conn.ts';
import { NETLINK_GENERIC, NETLINK_ROUTE } from '../../src/netlink/constants.ts';
import type { Transport } from '../../src/netlink/transport.ts';
import { IpvsClient } from '../../src/ipvs/client.ts';
import { VipClient } from '../../src/ipvs/vips.ts';

interface Call {
  name: string;
  requests: string[];
  replies: string[];
  error?: string;
}
const calls: Call[] = [];
let current: Call | undefined;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

class Recording implements Transport {
  private readonly inner: NetlinkSocket;
  constructor(inner: NetlinkSocket) {
    this.inner = inner;
  }
  get portId(): number {
    return this.inner.portId;
  }
  send(data: Uint8Array): void {
    const copy = data.slice();
    copy.fill(0, 8, 12); // sequence: differs per run
    current?.requests.push(hex(copy));
    this.inner.send(data);
  }
  async receive(deadline: number): Promise<Uint8Array | undefined> {
    const d = await this.inner.receive(deadline);
    if (d) current?.replies.push(hex(d));
    return d;
  }
  close(): void {
    this.inner.close();
  }
}

async function record(name: string, fn: () => Promise<unknown>): Promise<void> {
  current = { name, requests: [], replies: [] };
  try {
    await fn();
  } catch (e) {
    current.error = `${(e as Error).name}: ${(e as Error).message}`;
  }
  calls.push(current);
  current = undefined;
}

execFileSync('ipvsadm', ['-C']);
const conn = new Conn(new Recording(new NetlinkSocket(NETLINK_GENERIC)));
let ipvs: IpvsClient | undefined;
await record('resolve IPVS', async () => {
  ipvs = await IpvsClient.create(conn);
});
const c = ipvs as IpvsClient;
const tcp = { kind: 'addr', family: 'inet', protocol: 'tcp', address: '10.0.0.1', port: 80 } as const;
const udp6 = { kind: 'addr', family: 'inet6', protocol: 'udp', address: '2001:db8::1', port: 53 } as const;
const sctp = { kind: 'addr', family: 'inet', protocol: 'sctp', address: '10.0.0.2', port: 3868 } as const;
const fwmark = { kind: 'fwmark', family: 'inet', fwmark: 7 } as const;
const fwmark6 = { kind: 'fwmark', family: 'inet6', fwmark: 4294967295 } as const;
const d1 = { family: 'inet', address: '192.168.1.2', port: 8080 } as const;
const d2 = { family: 'inet', address: '192.168.1.3', port: 8080 } as const;
const d6 = { family: 'inet6', address: '2001:db8::10', port: 53 } as const;

await record('getInfo', () => c.getInfo());
await record('getTimeouts', () => c.getTimeouts());
await record('setTimeouts', () => c.setTimeouts({ tcp: 901, tcpFin: 121, udp: 301 }));
await record('addService tcp mh', () => c.addService(tcp, { scheduler: 'mh', flags: { portHash: true, fallback: true }, timeout: 0, netmask: '255.255.255.255' }));
await record('addService tcp again (EEXIST)', () => c.addService(tcp, { scheduler: 'rr', flags: {}, timeout: 0, netmask: '255.255.255.255' }));
await record('addService udp6 sh persistent', () => c.addService(udp6, { scheduler: 'sh', flags: { persistent: true, portHash: true }, timeout: 300, netmask: '64' }));
await record('addService sctp wlc sip', () => c.addService(sctp, { scheduler: 'wlc', flags: { persistent: true, onePacket: true, sched3: true }, timeout: 60, netmask: '255.255.255.0' }));
await record('addService fwmark', () => c.addService(fwmark, { scheduler: 'wrr', flags: { onePacket: true }, timeout: 0, netmask: '255.255.255.255' }));
await record('addService fwmark6', () => c.addService(fwmark6, { scheduler: 'rr', flags: {}, timeout: 0, netmask: '128' }));
await record('addService unknown scheduler (ENOENT)', () => c.addService({ ...tcp, port: 81 }, { scheduler: 'nosuch', flags: {}, timeout: 0, netmask: '255.255.255.255' }));
await record('updateService tcp', () => c.updateService(tcp, { scheduler: 'mh', flags: { portHash: true }, timeout: 0, netmask: '255.255.255.255' }));
await record('updateService missing (ESRCH)', () => c.updateService({ ...tcp, port: 81 }, { scheduler: 'rr', flags: {}, timeout: 0, netmask: '255.255.255.255' }));
await record('addDestination droute', () => c.addDestination(tcp, d1, { forwarding: 'droute', weight: 3, upperThreshold: 0, lowerThreshold: 0 }));
await record('addDestination tunnel gue', () => c.addDestination(tcp, d2, { forwarding: 'tunnel', weight: 2147483647, upperThreshold: 100, lowerThreshold: 10, tunnelType: 'gue', tunnelPort: 6080, tunnelFlags: 0 }));
await record('addDestination again (EEXIST)', () => c.addDestination(tcp, d1, { forwarding: 'droute', weight: 3, upperThreshold: 0, lowerThreshold: 0 }));
await record('addDestination thresholds (ERANGE)', () => c.addDestination(tcp, { ...d1, port: 9 }, { forwarding: 'masq', weight: 1, upperThreshold: 5, lowerThreshold: 6 }));
await record('addDestination masq v6', () => c.addDestination(udp6, d6, { forwarding: 'masq', weight: 0, upperThreshold: 0, lowerThreshold: 0 }));
await record('updateDestination', () => c.updateDestination(tcp, d1, { forwarding: 'droute', weight: 5, upperThreshold: 0, lowerThreshold: 0 }));
await record('updateDestination missing (ENOENT)', () => c.updateDestination(tcp, { ...d1, port: 1 }, { forwarding: 'droute', weight: 5, upperThreshold: 0, lowerThreshold: 0 }));
await record('listServices', () => c.listServices());
await record('getService tcp', () => c.getService(tcp));
await record('getService missing', () => c.getService({ ...tcp, port: 81 }));
await record('listDestinations tcp', () => c.listDestinations(tcp));
await record('listDestinations udp6', () => c.listDestinations(udp6));
await record('listDestinations missing', () => c.listDestinations({ ...tcp, port: 81 }));
await record('zero tcp', () => c.zero(tcp));
await record('zero all', () => c.zero());
await record('deleteDestination', () => c.deleteDestination(tcp, d2));
await record('deleteDestination missing (ENOENT)', () => c.deleteDestination(tcp, d2));
await record('deleteService', () => c.deleteService(sctp));
await record('deleteService missing (ESRCH)', () => c.deleteService(sctp));
await record('batch', () =>
  c.batch([
    { op: 'addService', service: sctp, config: { scheduler: 'rr', flags: {}, timeout: 0, netmask: '255.255.255.255' } },
    { op: 'addService', service: sctp, config: { scheduler: 'rr', flags: {}, timeout: 0, netmask: '255.255.255.255' } },
    { op: 'addDestination', service: sctp, destination: d1, config: { forwarding: 'masq', weight: 1, upperThreshold: 0, lowerThreshold: 0 } },
    { op: 'deleteDestination', service: sctp, destination: d2 },
    { op: 'updateService', service: sctp, config: { scheduler: 'wrr', flags: {}, timeout: 0, netmask: '255.255.255.255' } },
    { op: 'updateDestination', service: sctp, destination: d1, config: { forwarding: 'masq', weight: 4, upperThreshold: 0, lowerThreshold: 0 } },
    { op: 'deleteService', service: sctp },
  ]),
);
await record('flush', () => c.flush({ allServicesInNamespace: true }));
await record('setTimeouts restore', () => c.setTimeouts({ tcp: 900, tcpFin: 120, udp: 300 }));
c.close();

const rconn = new Conn(new Recording(new NetlinkSocket(NETLINK_ROUTE)));
const v = new VipClient(rconn, 'ipvs0');
await record('getLink missing', () => v.getLink());
await record('ensureInterface create', () => v.ensureInterface());
await record('ensureInterface existing', () => v.ensureInterface());
await record('addAddress v4', () => v.addAddress('10.0.0.1'));
await record('addAddress v4 again', () => v.addAddress('10.0.0.1'));
await record('addAddress v6', () => v.addAddress('2001:db8::1'));
await record('listAddresses', () => v.listAddresses());
await record('removeAddress v4', () => v.removeAddress('10.0.0.1'));
await record('removeAddress v4 again', () => v.removeAddress('10.0.0.1'));
v.close();

writeFileSync(new URL('./fixtures/kernel-replies.json', import.meta.url), `${JSON.stringify({ kernel: execFileSync('uname', ['-r']).toString().trim(), calls }, null, 1)}\n`);
for (const call of calls) console.log(call.name.padEnd(40), call.error ?? 'ok');
