// The test backends of a topology, all served by this ONE process (started by topology.ts in the root
// namespace): for each backend, sockets created inside its network namespace (src/testing/netns-socket.ts).
//   node backend-server.ts '{"backends":[{"name":"b1","netns":"km-b1","ports":[80]}]}'
// On each port, TCP (HTTP/1.x) and UDP, IPv4 and IPv6, a backend answers with who it is and who asked:
//   {"backend":"b1","local":"10.210.0.11:80","peer":"10.200.3.4:40001","proto":"tcp"}
// HTTP: GET /healthz -> 200, or 503 after the "health" control below; any other path -> 200 + identity.
// A TCP client that sends no request still gets the identity line after 150 ms.
// Control, JSON lines on stdin: {"id":1,"op":"stop"|"start"|"health","name":"b1","ok":false}
//   -> stdout {"id":1} or {"id":1,"error":"..."}. "stop" closes the backend's sockets (connections
//   are then refused), "start" opens them again. Prints "ready" once every socket listens.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { socketInNetns } from '../../../src/testing/netns-socket.ts';

interface BackendSpec {
  name: string;
  netns: string;
  ports: number[];
}

interface Running {
  spec: BackendSpec;
  healthy: boolean;
  servers: Server[];
  udp: UdpSocket[];
}

function endpoint(addr: string | undefined, port: number | undefined): string {
  const a = (addr ?? '').replace(/^::ffff:/, ''); // dual-stack socket: IPv4 shows as ::ffff:a.b.c.d
  return a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`;
}

function identity(name: string, proto: string, local: string, peer: string): string {
  return `${JSON.stringify({ backend: name, local, peer, proto })}\n`;
}

function answerHttp(b: Running, sock: Socket, head: string): void {
  const [method = 'GET', target = '/'] = head.split('\r\n', 1)[0].split(' ');
  let path = '/';
  try {
    path = new URL(target, 'http://backend').pathname;
  } catch {
    // a malformed target: answer as for "/"
  }
  let status = 200;
  let body = identity(b.spec.name, 'tcp', endpoint(sock.localAddress, sock.localPort), endpoint(sock.remoteAddress, sock.remotePort));
  if (path === '/healthz') {
    status = b.healthy ? 200 : 503;
    body = b.healthy ? 'ok\n' : 'unhealthy\n';
  }
  const reason = status === 200 ? 'OK' : 'Service Unavailable';
  sock.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Backend: ${b.spec.name}\r\nConnection: close\r\n\r\n${method === 'HEAD' ? '' : body}`,
  );
}

function serveTcp(b: Running, sock: Socket): void {
  sock.on('error', () => {});
  const plain = () =>
    sock.end(identity(b.spec.name, 'tcp', endpoint(sock.localAddress, sock.localPort), endpoint(sock.remoteAddress, sock.remotePort)));
  let buf = '';
  const silent = setTimeout(plain, 150);
  sock.on('close', () => clearTimeout(silent));
  sock.on('data', (chunk: Buffer) => {
    buf += chunk.toString('latin1');
    if (buf.includes('\r\n\r\n') || buf.length > 16_384) {
      clearTimeout(silent);
      sock.removeAllListeners('data');
      answerHttp(b, sock, buf);
    } else if (!/^[A-Z]+ /.test(buf) && buf.length >= 8) {
      clearTimeout(silent); // not HTTP: the identity line at once
      sock.removeAllListeners('data');
      plain();
    }
  });
}

async function open(b: Running): Promise<void> {
  for (const port of b.spec.ports) {
    const tcpFd = socketInNetns(b.spec.netns, 'tcp', port);
    const server = createServer((sock) => serveTcp(b, sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd: tcpFd }, () => resolve());
    });
    b.servers.push(server);

    const udpFd = socketInNetns(b.spec.netns, 'udp', port);
    const udp = createSocket({ type: 'udp6' });
    udp.on('message', (_msg, rinfo) => {
      const body = identity(b.spec.name, 'udp', `[::]:${port}`, endpoint(rinfo.address, rinfo.port));
      udp.send(body, rinfo.port, rinfo.address);
    });
    udp.on('error', (e) => process.stderr.write(`${b.spec.name}: udp ${port}: ${e.message}\n`));
    await new Promise<void>((resolve) => udp.bind({ fd: udpFd }, () => resolve()));
    b.udp.push(udp);
  }
}

async function close(b: Running): Promise<void> {
  const servers = b.servers.splice(0);
  const udp = b.udp.splice(0);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  for (const u of udp) u.close();
}

const specArg = process.argv[2];
if (!specArg) {
  process.stderr.write('usage: backend-server.ts \'{"backends":[{"name":..,"netns":..,"ports":[..]}]}\'\n');
  process.exit(2);
}
const specs = (JSON.parse(specArg) as { backends: BackendSpec[] }).backends;
const running = new Map<string, Running>(specs.map((s) => [s.name, { spec: s, healthy: true, servers: [], udp: [] }]));

async function control(line: string): Promise<Record<string, unknown>> {
  const msg = JSON.parse(line) as { id?: number; op?: string; name?: string; ok?: boolean };
  const b = running.get(msg.name ?? '');
  if (!b) return { id: msg.id, error: `no backend ${msg.name}` };
  switch (msg.op) {
    case 'stop':
      await close(b);
      return { id: msg.id };
    case 'start':
      if (b.servers.length === 0) await open(b);
      return { id: msg.id };
    case 'health':
      b.healthy = msg.ok !== false;
      return { id: msg.id };
    default:
      return { id: msg.id, error: `unknown op ${msg.op}` };
  }
}

try {
  for (const b of running.values()) await open(b);
} catch (e) {
  process.stderr.write(`backend-server: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
createInterface({ input: process.stdin })
  .on('line', (line) => {
    control(line)
      .catch((e: unknown) => ({ id: -1, error: e instanceof Error ? e.message : String(e) }))
      .then((reply) => process.stdout.write(`${JSON.stringify(reply)}\n`));
  })
  .on('close', () => process.exit(0));
process.stdout.write('ready\n');
