// The backends of the scale-out cluster, all served by this ONE process (socketInNetns: a listening
// socket created inside each backend's namespace). Line protocol on every TCP connection: each line
// the client sends is answered with one line, the backend's name. Health checks just connect.
//   node backend-server.ts '[{"name":"b1","netns":"so-b1","port":80}]'
// Prints "ready" once every socket listens; exits when stdin closes.
import { createServer, type Socket } from 'node:net';
import { socketInNetns } from '../../src/testing/netns-socket.ts';

interface Spec {
  name: string;
  netns: string;
  port: number;
}

/** A client line longer than this is not ours: drop the connection rather than buffer it. */
const MAX_LINE = 1024;

function serve(name: string, sock: Socket): void {
  sock.on('error', () => {});
  sock.setNoDelay(true);
  let pending = '';
  sock.on('data', (chunk: Buffer) => {
    pending += chunk.toString('latin1');
    let nl = pending.indexOf('\n');
    while (nl >= 0) {
      pending = pending.slice(nl + 1);
      sock.write(`${name}\n`);
      nl = pending.indexOf('\n');
    }
    if (pending.length > MAX_LINE) sock.destroy();
  });
}

const specs = JSON.parse(process.argv[2] ?? '[]') as Spec[];
for (const s of specs) {
  const fd = socketInNetns(s.netns, 'tcp', s.port);
  const server = createServer((sock) => serve(s.name, sock));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd }, () => resolve());
  });
}
process.stdout.write('ready\n');
process.stdin.on('data', () => {});
process.stdin.on('end', () => process.exit(0));
