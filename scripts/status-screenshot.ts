// Takes the README's screenshot of the status page (docs/status-page.png) with the same harness as its
// browser test (test/metrics/status-page.test.ts): the standalone load balancer on an in-memory IPVS
// model with real health checks against local HTTP backends, Debian's chromium through playwright-core.
// The state shown: one backend at weight 2, one draining with open connections, one failing its check, which
// takes the service "shop" below its quorum so that its sorry server serves.
//
//   node scripts/status-screenshot.ts [out.png]
import { resolve } from 'node:path';
import { launchChromium } from '../test/support/chromium.ts';
import { type DemoBackend, type DemoService, startStatusDemo } from '../test/support/status-demo.ts';

const out = resolve(process.argv[2] ?? 'docs/status-page.png');
const services = (b: DemoBackend[], drained: boolean): DemoService[] => [
  {
    name: 'web',
    address: '192.0.2.10',
    port: 80,
    dests: [{ backend: b[0], weight: 2 }, ...(drained ? [] : [{ backend: b[1] }]), { backend: b[2] }, { backend: b[3] }],
  },
  { name: 'api', address: '192.0.2.11', port: 443, dests: [{ backend: b[0] }, { backend: b[2] }] },
  { name: 'shop', address: '192.0.2.12', port: 80, quorum: 2, sorryServer: b[5], dests: [{ backend: b[3] }, { backend: b[4] }] },
];

const demo = await startStatusDemo(6, (b) => services(b, false));
const browser = await launchChromium({ width: 1000, height: 600 });
try {
  const key = { kind: 'addr', family: 'inet', protocol: 'tcp', address: '192.0.2.10', port: 80 } as const;
  demo.ipvs.setConnections(key, { family: 'inet', address: '127.0.0.1', port: demo.backends[1].port }, 12, 30);
  demo.ipvs.setConnections(key, { family: 'inet', address: '127.0.0.1', port: demo.backends[0].port }, 41, 96);
  await demo.configure(services(demo.backends, true));
  demo.backends[3].status = 503;
  const page = await browser.context.newPage();
  await page.goto(`${demo.url}/status`);
  await page.waitForSelector('tr[data-state="draining"]');
  await page.waitForSelector('tr[data-state="down"]', { timeout: 15_000 });
  await page.waitForSelector('p.quorum[data-sorry="active"]', { timeout: 15_000 });
  await page.screenshot({ path: out, fullPage: true });
  process.stdout.write(`wrote ${out}\n`);
} finally {
  await browser.close();
  await demo.stop();
}
