import { type KubernetesListObject, type KubernetesObject, makeInformer } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeApiServer } from '../../../src/testing/fake-apiserver.ts';
import { service } from './builders.ts';
import { waitFor } from './wait.ts';

// The fake API server speaks the protocol the real informers expect.

let server: FakeApiServer;
afterEach(async () => {
  await server?.stop();
});

async function get(path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(server.url + path);
  return { status: r.status, body: await r.text() };
}

/** Reads a watch stream until `n` JSON lines arrived (or the stream ends). */
async function watchLines(path: string, n: number): Promise<{ type: string; object: Record<string, unknown> }[]> {
  const ctrl = new AbortController();
  const r = await fetch(server.url + path, { signal: ctrl.signal });
  const out: { type: string; object: Record<string, unknown> }[] = [];
  let buf = '';
  const reader = r.body?.getReader();
  if (!reader) throw new Error('no body');
  const dec = new TextDecoder();
  while (out.length < n) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value);
    let i = buf.indexOf('\n');
    while (i >= 0) {
      out.push(JSON.parse(buf.slice(0, i)));
      buf = buf.slice(i + 1);
      i = buf.indexOf('\n');
    }
  }
  ctrl.abort();
  return out;
}

const svc = (name: string, ns = 'ns1') => service(ns, name, { clusterIP: '10.96.0.1', ports: [{ port: 80 }] });

describe('fake API server protocol', () => {
  it('lists with a resourceVersion, pages with limit/continue from one snapshot, per namespace', async () => {
    server = await new FakeApiServer().start();
    for (let i = 0; i < 5; i++) server.create(svc(`s${i}`));
    server.create(svc('other', 'ns2'));
    const page1 = JSON.parse((await get('/api/v1/services?limit=4')).body);
    expect(page1.kind).toBe('ServiceList');
    expect(page1.items).toHaveLength(4);
    expect(page1.metadata.remainingItemCount).toBe(2);
    server.create(svc('late'));
    const page2 = JSON.parse((await get(`/api/v1/services?limit=4&continue=${page1.metadata.continue}`)).body);
    expect(page2.items.map((o: KubernetesObject) => o.metadata?.name)).toEqual(['s4', 'other']);
    expect(page2.metadata.resourceVersion).toBe(page1.metadata.resourceVersion);
    const ns2 = JSON.parse((await get('/api/v1/namespaces/ns2/services')).body);
    expect(ns2.items.map((o: KubernetesObject) => o.metadata?.name)).toEqual(['other']);
    expect((await get('/api/v1/namespaces/ns1/services/s0')).status).toBe(200);
    expect((await get('/api/v1/namespaces/ns1/services/nope')).status).toBe(404);
    expect((await get('/api/v1/configmaps')).status).toBe(404);
  });

  it('watch replays history after a resourceVersion, then streams live events', async () => {
    server = await new FakeApiServer().start();
    server.create(svc('a'));
    const rv = server.resourceVersion;
    server.update({ ...svc('a'), metadata: { ...svc('a').metadata, labels: { x: 'y' } } });
    const pending = watchLines(`/api/v1/services?watch=true&resourceVersion=${rv}`, 3);
    await new Promise((r) => setTimeout(r, 50));
    server.create(svc('b'));
    server.remove('Service', 'ns1', 'a');
    const events = await pending;
    expect(events.map((e) => `${e.type} ${(e.object.metadata as { name: string }).name}`)).toEqual(['MODIFIED a', 'ADDED b', 'DELETED a']);
    const rvs = events.map((e) => Number((e.object.metadata as { resourceVersion: string }).resourceVersion));
    expect(rvs).toEqual([...rvs].sort((x, y) => x - y));
  });

  it('watch without resourceVersion starts with synthetic ADDED events', async () => {
    server = await new FakeApiServer().start();
    server.create(svc('a'));
    server.create(svc('b'));
    const events = await watchLines('/api/v1/services?watch=true', 2);
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'ADDED']);
  });

  it('sends bookmarks when allowed', async () => {
    server = await new FakeApiServer({ bookmarkIntervalMs: 20 }).start();
    const [e] = await watchLines(`/api/v1/services?watch=true&allowWatchBookmarks=true&resourceVersion=${server.resourceVersion}`, 1);
    expect(e.type).toBe('BOOKMARK');
    expect(e.object).toEqual({ kind: 'Service', apiVersion: 'v1', metadata: { resourceVersion: server.resourceVersion } });
  });

  it('a watch from a compacted resourceVersion gets 410 Gone, as an ERROR event or as a status', async () => {
    server = await new FakeApiServer().start();
    server.create(svc('a'));
    const old = server.resourceVersion;
    server.create(svc('b'));
    server.compact();
    const [e] = await watchLines(`/api/v1/services?watch=true&resourceVersion=${Number(old) - 1}`, 1);
    expect(e).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } });
    await server.stop();
    server = await new FakeApiServer({ expired: 'status' }).start();
    server.create(svc('a'));
    server.compact();
    expect((await get('/api/v1/services?watch=true&resourceVersion=1')).status).toBe(410);
  });

  it('drives the real client-node informer: list, watch, relist after 410 reporting vanished objects as deleted', async () => {
    server = await new FakeApiServer().start();
    server.create(svc('a'));
    server.create(svc('b'));
    const kc = server.kubeConfig();
    const seen: string[] = [];
    const informer = makeInformer(kc, '/api/v1/services', async () => {
      const r = await fetch(`${server.url}/api/v1/services`);
      return (await r.json()) as KubernetesListObject<KubernetesObject>;
    });
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata?.name}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    await informer.start();
    await waitFor(() => server.openWatches === 1);
    server.create(svc('c'));
    await waitFor(() => seen.includes('add c'));
    // A gap the history cannot cover: the informer must relist and notice that b is gone.
    server.disconnectWatches();
    server.remove('Service', 'ns1', 'b');
    server.compact();
    await waitFor(() => seen.includes('delete b'), 5000);
    expect(server.counts.list.services).toBe(2); // the first list and the relist after 410
    expect(server.counts.expired).toBeGreaterThanOrEqual(1);
    expect(seen.slice(0, 3).sort()).toEqual(['add a', 'add b', 'add c']);
    await informer.stop();
  });
});

describe('fake API server: the Events a controller writes', () => {
  const send = async (method: string, path: string, body: unknown, contentType = 'application/json') => {
    const r = await fetch(server.url + path, { method, headers: { 'content-type': contentType }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };
  const ev = (name: string, namespace?: string) => ({ apiVersion: 'v1', kind: 'Event', metadata: { name, ...(namespace ? { namespace } : {}) }, reason: 'X', message: 'm', count: 1 });

  it('answers create, patch and their mistakes as the real server does', async () => {
    server = await new FakeApiServer().start();
    const created = await send('POST', '/api/v1/namespaces/ns1/events', ev('e1'));
    expect(created.status).toBe(201);
    expect((created.body.metadata as Record<string, unknown>).namespace).toBe('ns1');
    expect((await send('POST', '/api/v1/namespaces/ns1/events', ev('e1'))).status).toBe(409);
    expect((await send('POST', '/api/v1/namespaces/ns1/events', ev('e2', 'ns2'))).status).toBe(400);
    expect((await send('POST', '/api/v1/namespaces/ns1/events', '{not json')).status).toBe(400);
    expect((await send('POST', '/api/v1/namespaces/ns1/services', service('ns1', 'web', {}))).status).toBe(405);
    const patched = await send('PATCH', '/api/v1/namespaces/ns1/events/e1', { count: 2, message: 'again', metadata: { namespace: 'elsewhere' } }, 'application/strategic-merge-patch+json');
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ count: 2, message: 'again', reason: 'X', metadata: { name: 'e1', namespace: 'ns1' } });
    expect((await send('PATCH', '/api/v1/namespaces/ns1/events/e1', [{ op: 'replace', path: '/count', value: 3 }], 'application/json-patch+json')).status).toBe(415);
    expect((await send('PATCH', '/api/v1/namespaces/ns1/events/nope', { count: 2 }, 'application/merge-patch+json')).status).toBe(404);
    expect(server.list('Event').map((e) => [e.metadata.namespace, e.metadata.name, e.count])).toEqual([['ns1', 'e1', 2]]);
    expect(server.counts.create.events).toBe(4);
    expect(server.counts.patch.events).toBe(3);
  });
});
