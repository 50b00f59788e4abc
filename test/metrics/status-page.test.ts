import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { buildKernelTable } from '../../src/maglev/index.ts';
import { CHROMIUM, type Chromium, chromiumAvailable, launchChromium } from '../support/chromium.ts';
import { type DemoBackend, type DemoService, type StatusDemo, startStatusDemo } from '../support/status-demo.ts';

// The status page end to end: the standalone load balancer (in-memory IPVS, real health checks, real
// reconciler) serves /status, headless Chromium loads it, and the page must show the services and follow a
// weight change, a drain and a failed health check, with each backend's share of the Maglev strip equal to
// what an independent kernel-table build from the IPVS model's list order and last weights says.

const SVC = 'tcp 192.0.2.10:80';
const web = (b: DemoBackend[], weights: (number | undefined)[], which = [0, 1, 2]): DemoService[] => [
  { name: 'web', address: '192.0.2.10', port: 80, dests: which.map((i) => ({ backend: b[i], weight: weights[i] })) },
  { name: 'api', address: '192.0.2.11', port: 443, scheduler: 'wrr', dests: [{ backend: b[0] }, { backend: b[1] }] },
  { name: 'shop', address: '192.0.2.12', port: 80, quorum: 2, sorryServer: b[3], dests: [{ backend: b[2] }, { backend: b[0] }] },
];
const SHOP = 'tcp 192.0.2.12:80';

/** The little of the DOM the page functions use (the project compiles without the DOM library). */
interface BrowserGlobals {
  document: { querySelector(s: string): { getAttribute(a: string): string | null } | null; querySelectorAll(s: string): { length: number } };
}

interface Row {
  destination: string;
  weight: number;
  state: string;
  slots: number;
}

const available = chromiumAvailable();

describe.skipIf(!available)(`status page in headless Chromium${available ? '' : ` (skipped: ${CHROMIUM} is absent; scripts/vm-deps.sh installs Debian's chromium)`}`, () => {
  let demo: StatusDemo;
  let browser: Chromium;
  let page: Page;

  beforeAll(async () => {
    demo = await startStatusDemo(4, (b) => web(b, []));
    browser = await launchChromium();
    page = await browser.context.newPage();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
  });

  const rows = (service: string): Promise<Row[]> =>
    page.$$eval(`section[data-service="${service}"] tr[data-destination]`, (trs) =>
      trs.map((tr) => ({
        destination: tr.getAttribute('data-destination') ?? '',
        weight: Number(tr.getAttribute('data-weight')),
        state: tr.getAttribute('data-state') ?? '',
        slots: Number(tr.getAttribute('data-slots') ?? Number.NaN),
      })),
    );

  /** Slots per destination ("127.0.0.1:port") of the table the kernel would build from the model's list. */
  const expectedSlots = (service = SVC): Record<string, number> => {
    const list = demo.ipvs.snapshot().get(service)?.destinations ?? [];
    const [, vip, vport] = /^tcp (.+):(\d+)$/.exec(service) ?? [];
    const key = { kind: 'addr', family: 'inet', protocol: 'tcp', address: vip, port: Number(vport) } as const;
    const dests = list.map((d) => {
      const [address, port] = [d.key.slice(0, d.key.lastIndexOf(':')), Number(d.key.slice(d.key.lastIndexOf(':') + 1))];
      return { address, port, weight: d.config.weight, lastWeight: demo.ipvs.lastWeight(key, { family: 'inet', address, port }) };
    });
    const table = buildKernelTable([...dests].reverse(), 4093);
    const out: Record<string, number> = {};
    table.dests.forEach((d, i) => {
      out[`${d.address}:${d.port}`] = 0;
      for (let s = 0; s < table.size; s++) if (table.slots[s] === i) out[`${d.address}:${d.port}`]++;
    });
    return out;
  };

  /** Waits until the page (re-rendered every 2 s) shows `value` in an attribute. */
  const waitForAttr = (selector: string, attr: string, value: string) =>
    page.waitForFunction(([sel, a, v]) => (globalThis as unknown as BrowserGlobals).document.querySelector(sel)?.getAttribute(a) === v, [selector, attr, value] as const, { timeout: 15_000 });

  const slotsOf = (rs: Row[]) => Object.fromEntries(rs.map((r) => [r.destination, r.slots]));
  const dest = (i: number) => `127.0.0.1:${demo.backends[i].port}`;

  it('shows every service, its destinations, and the mh table as a strip with exact shares', async () => {
    await page.goto(`${demo.url}/status`);
    await page.waitForSelector(`section[data-service="${SVC}"] tr[data-state="serving"]`);
    await page.waitForFunction(() => (globalThis as unknown as BrowserGlobals).document.querySelectorAll('tr[data-state="serving"]').length === 7, undefined, { timeout: 15_000 });
    expect(await page.textContent('#summary')).toMatch(/^3 services, 7 destinations, as of /);
    expect(await page.getAttribute(`section[data-service="${SHOP}"] p.quorum`, 'data-quorum')).toBe('up');
    const r = await rows(SVC);
    expect(r.map((x) => x.destination).sort()).toEqual([dest(0), dest(1), dest(2)].sort());
    expect(r.every((x) => x.weight === 1 && x.state === 'serving')).toBe(true);
    expect(slotsOf(r)).toEqual(expectedSlots());
    expect(r.reduce((n, x) => n + x.slots, 0)).toBe(4093);
    // The strip: one colour per destination, and the wrr service has no strip.
    const colours = await page.$$eval(`section[data-service="${SVC}"] svg.strip rect[data-dest]`, (rs) => new Set(rs.map((x) => x.getAttribute('fill'))).size);
    expect(colours).toBe(3);
    expect(await page.$$(`section[data-service="tcp 192.0.2.11:443"] svg.strip`)).toHaveLength(0);
    expect(await page.textContent(`section[data-service="tcp 192.0.2.11:443"] h2`)).toContain('wrr');
  });

  it('follows a weight change: the heavier backend gets more of the strip', async () => {
    const before = slotsOf(await rows(SVC));
    await demo.configure(web(demo.backends, [3, 1, 1]));
    await waitForAttr(`tr[data-destination="${dest(0)}"]`, 'data-weight', '3');
    const after = slotsOf(await rows(SVC));
    expect(after).toEqual(expectedSlots());
    // 3:1:1 is 60/20/20 of the 4093 slots (Maglev keeps shares within a few slots of the weights).
    expect(before[dest(0)] / 4093).toBeCloseTo(1 / 3, 1);
    expect(after[dest(0)] / 4093).toBeCloseTo(0.6, 1);
    expect(after[dest(1)] / 4093).toBeCloseTo(0.2, 1);
  });

  it('follows a drain: the drained backend keeps its slots (last-weight rule), drawn faded, and is marked draining', async () => {
    const key = { kind: 'addr', family: 'inet', protocol: 'tcp', address: '192.0.2.10', port: 80 } as const;
    // Open connections keep it draining instead of being deleted at once.
    demo.ipvs.setConnections(key, { family: 'inet', address: '127.0.0.1', port: demo.backends[1].port }, 7, 2);
    const before = slotsOf(await rows(SVC));
    await demo.configure(web(demo.backends, [3, 1, 1], [0, 2]));
    await waitForAttr(`tr[data-destination="${dest(1)}"]`, 'data-state', 'draining');
    const r = await rows(SVC);
    const drained = r.find((x) => x.destination === dest(1));
    expect(drained).toMatchObject({ weight: 0, state: 'draining' });
    expect(slotsOf(r)).toEqual(before);
    expect(slotsOf(r)).toEqual(expectedSlots());
    const row = page.locator(`tr[data-destination="${dest(1)}"]`);
    expect(await row.locator('td').nth(3).textContent()).toMatch(/^draining \d+ s$/);
    expect(await row.locator('td').nth(4).textContent()).toBe('7');
    const index = r.findIndex((x) => x.destination === dest(1));
    const faded = await page.$$eval(`section[data-service="${SVC}"] svg.strip rect[data-dest="${index}"]`, (rs) => rs.map((x) => x.getAttribute('opacity')));
    expect(faded.length).toBeGreaterThan(0);
    expect(faded.every((o) => o === '0.35')).toBe(true);
  });

  it('follows a failed health check: the backend shows down at weight 0, keeping its slots as the kernel does', async () => {
    const before = slotsOf(await rows(SVC));
    demo.backends[2].status = 500;
    await waitForAttr(`tr[data-destination="${dest(2)}"]`, 'data-state', 'down');
    const r = await rows(SVC);
    expect(r.find((x) => x.destination === dest(2))).toMatchObject({ weight: 0, state: 'down' });
    expect(slotsOf(r)).toEqual(before);
    expect(slotsOf(r)).toEqual(expectedSlots());
    // shop had 2 of its quorum of 2 and lost one: its sorry server takes new connections, and shows.
    await waitForAttr(`section[data-service="${SHOP}"] p.quorum`, 'data-sorry', 'active');
    expect(await page.getAttribute(`section[data-service="${SHOP}"] p.quorum`, 'data-quorum')).toBe('down');
    expect(await page.textContent(`section[data-service="${SHOP}"] p.quorum`)).toBe('short of quorum (available weight 1): the sorry server takes new connections');
    const shop = await rows(SHOP);
    expect(shop.find((x) => x.destination === dest(3))).toMatchObject({ state: 'serving' });
    // Weight-0 destinations keep the slots of their last weight (which depends on whether the health checks
    // passed before the quorum first counted them); the sorry server has a share of its own.
    expect(slotsOf(shop)).toEqual(expectedSlots(SHOP));
    expect(shop.find((x) => x.destination === dest(3))?.slots).toBeGreaterThan(0);
    demo.backends[2].status = 200;
  });

  it('loads nothing from elsewhere: every request the page makes goes to the metrics port', async () => {
    const fresh = await browser.context.newPage();
    const urls: string[] = [];
    fresh.on('request', (req) => urls.push(req.url()));
    await fresh.goto(`${demo.url}/status`);
    await fresh.waitForSelector(`section[data-service="${SVC}"]`);
    await fresh.close();
    expect(urls.length).toBeGreaterThanOrEqual(4);
    expect(urls.every((u) => u.startsWith(`${demo.url}/`))).toBe(true);
  });
});
