// A backend pod: answers each request line with its own name, so the client learns which
// endpoint a connection reached. Run inside the pod's network namespace:
//   node bench/dataplane/backend-server.ts <name> <port>
import { createServer } from 'node:net';

const [name, portText] = process.argv.slice(2);
const port = Number(portText);
if (!name || !Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write('usage: backend-server.ts <name> <port>\n');
  process.exit(2);
}
const reply = Buffer.from(`${name}\n`);
const server = createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => {
    // Clients reset connections once they have their answer; nothing to do.
  });
  socket.once('data', () => {
    socket.end(reply);
  });
});
server.on('error', (e) => {
  process.stderr.write(`backend ${name}: ${e.message}\n`);
  process.exit(1);
});
server.listen({ host: '0.0.0.0', port, backlog: 4096 }, () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
