// The demo behind `npm run demo:cluster` (started by scripts/demo-cluster.sh inside the VM, or on a host
// with IPVS): three load-balancer nodes behind a BGP/ECMP router, one of them killed, and in plain words
// how many connections survived and why. Then the same with round-robin, to show what Maglev buys.
import { Cluster, VIP } from '../../bench/failover/cluster.ts';

const FLOWS = Number(process.env.DEMO_FLOWS ?? 200);
const CONTROL = process.env.DEMO_CONTROL !== '0';
const color = process.stdout.isTTY === true && process.env.NO_COLOR === undefined && process.env.IPVS_MAGLEV_IN_VM !== '1';
const bold = (s: string): string => (color ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s = ''): void => void process.stdout.write(`${s}\n`);
const heading = (s: string): void => say(`\n${bold(s)}`);

async function act(scheduler: 'mh' | 'rr'): Promise<{ survived: number; total: number }> {
  const c = await Cluster.create({ prefix: scheduler === 'mh' ? 'dm' : 'dr', scheduler });
  try {
    say(`   building: a router (BIRD, ECMP over its BGP routes), 3 load-balancer nodes, 4 backends...`);
    await Promise.all([1, 2, 3].map((i) => c.startNode(i)));
    say('   each node runs `ipvs-maglev run` (scheduler ' + (scheduler === 'mh' ? 'mh = Maglev' : 'rr = round-robin') + ') and its own BIRD, which announces the VIP once the node serves it');
    await c.waitNexthops(3, 300_000);
    say(`   the router now reaches ${VIP} over three equal paths: ${(await c.nexthops()).join(', ')}`);

    const { opened } = await c.open(FLOWS, 20000);
    const perNode = await Promise.all([1, 2, 3].map((i) => c.establishedOn(i)));
    const perBackend = new Map<string, number>();
    for (const o of opened) perBackend.set(o.backend, (perBackend.get(o.backend) ?? 0) + 1);
    say(`   ${opened.length} long-lived connections opened. The router spread them: ${perNode.map((n, i) => `node ${i + 1}: ${n}`).join(', ')};`);
    say(`   the nodes sent them to: ${[...perBackend].sort().map(([b, n]) => `${b}: ${n}`).join(', ')} (the backends answer the client directly)`);

    heading(`   Node 3 dies: its cable is cut, its ipvs-maglev and BIRD are killed (${perNode[2]} connections were going through it).`);
    const t0 = Date.now();
    await c.killNode(3);
    await c.waitNexthops(2, 120_000);
    say(`   ${((Date.now() - t0) / 1000).toFixed(1)} s later the router gave up on it (BGP hold time 3 s) and sends everything to nodes 1 and 2.`);
    const after = await c.probe();
    const ok = after.filter((r) => r.ok && !r.moved).length;
    say(`   Every connection is asked for one more answer: ${bold(`${ok} of ${after.length} answered`)}${ok === after.length ? ', each by the same backend as before' : ''}.`);
    return { survived: ok, total: after.length };
  } finally {
    await c.cleanup();
  }
}

heading('Three load balancers, one dies: what happens to the connections?');
const mh = await act('mh');
say();
say('   Why they survived: when a node disappears, the router re-hashes flows over the paths that are left, so');
say('   connections land on a node that never saw them start. That node still sends each one to the right');
say('   backend because (1) every node builds the same Maglev table from the same backends, so a flow maps to');
say('   the same backend wherever it lands, (2) net.ipv4.vs.sloppy_tcp=1 (set by ipvs-maglev at start) lets IPVS');
say('   pick up a connection mid-stream, and (3) the backends reply straight to the client (IPIP tunnel, direct');
say('   server return), so no node holds state the others would need.');
if (CONTROL) {
  heading('The same with round-robin (rr) instead of Maglev');
  const rr = await act('rr');
  say();
  say(`   With rr a node that picks up someone else's connection chooses a backend by turn, usually the wrong one,`);
  say(`   which has never heard of the connection and resets it: ${rr.total - rr.survived} of ${rr.total} connections broke (Maglev: ${mh.total - mh.survived}).`);
}
say();
