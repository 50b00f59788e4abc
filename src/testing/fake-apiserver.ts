import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

// A Kubernetes API server for tests and benchmarks that speaks the real list/watch protocol over
// HTTP, and is fake only in that it keeps objects in memory:
// - one cluster-wide resourceVersion counter (etcd's revision), set on every write;
// - list (cluster-wide or per namespace) with limit/continue pages served from one snapshot;
// - watch from a resourceVersion: the retained history after it, then live events, as a chunked
//   stream of JSON lines; resourceVersion ""/"0" starts with synthetic ADDED events;
// - a bounded history: watching from before it gets "410 Gone" (as an ERROR event in a 200 stream
//   like the real server, or as an HTTP 410 status), so clients must relist;
// - BOOKMARK events when the client asks (allowWatchBookmarks) or when forced, and timeoutSeconds;
// - test controls: disconnect every watch, compact the history, count requests.
// Writes go through methods (create/update/remove), not HTTP: tests drive the cluster directly. The one
// exception is what a controller itself writes: Events, which it may POST (create) and PATCH (merge or
// strategic-merge patch, the same for an Event's plain fields), with the real server's answers to the
// mistakes a client can make (409 AlreadyExists, 404 NotFound, 400 for a namespace that differs from the URL's).

export interface ResourceType {
  /** "" for the core group. */
  group: string;
  version: string;
  /** Plural, as in URLs: "services". */
  plural: string;
  kind: string;
  namespaced: boolean;
}

export const RESOURCE_TYPES: readonly ResourceType[] = [
  { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true },
  { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false },
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
  { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices', kind: 'EndpointSlice', namespaced: true },
  { group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true },
];

/** Resources clients may write over HTTP. */
const WRITABLE = new Set(['events']);
const MAX_BODY_BYTES = 1024 * 1024;

export type KubeObject = Record<string, unknown> & {
  kind?: string;
  metadata: Record<string, unknown> & { name: string; namespace?: string; resourceVersion?: string };
};

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

interface HistoryEvent {
  rv: number;
  plural: string;
  namespace: string;
  type: EventType;
  object: KubeObject;
}

interface Watcher {
  plural: string;
  namespace: string | undefined;
  res: ServerResponse;
  bookmarks: boolean;
  timer: ReturnType<typeof setInterval> | undefined;
  deadline: ReturnType<typeof setTimeout> | undefined;
}

export interface FakeApiServerOptions {
  /** Events retained for watches; older ones are compacted away. Default 100 000. */
  historyLimit?: number;
  /** Interval of BOOKMARK events on watches that allow them. Default 1000 ms. */
  bookmarkIntervalMs?: number;
  /** Send bookmarks even when the client did not ask (keeps idle streams alive). Default false. */
  forceBookmarks?: boolean;
  /** How "too old resourceVersion" is reported on a watch. Default 'event' (what the real server does). */
  expired?: 'event' | 'status';
}

export interface RequestCounts {
  list: Record<string, number>;
  watch: Record<string, number>;
  /** POST and PATCH requests by plural, whatever their answer. */
  create: Record<string, number>;
  patch: Record<string, number>;
  expired: number;
}

export class FakeApiServer {
  private readonly server: Server;
  private readonly options: Required<FakeApiServerOptions>;
  private readonly store = new Map<string, Map<string, KubeObject>>();
  private history: HistoryEvent[] = [];
  /** Watches from a resourceVersion below this one are too old. */
  private compactedRv = 0;
  private rv = 1;
  private readonly watchers = new Set<Watcher>();
  private readonly snapshots = new Map<string, { items: KubeObject[]; rv: number }>();
  private port = 0;
  readonly counts: RequestCounts = { list: {}, watch: {}, create: {}, patch: {}, expired: 0 };
  /** Test hook: return an HTTP status to fail a request with (e.g. 500), or undefined to serve it. */
  fault: ((req: { plural: string; watch: boolean; method: string }) => number | undefined) | undefined;

  constructor(options: FakeApiServerOptions = {}) {
    this.options = {
      historyLimit: options.historyLimit ?? 100_000,
      bookmarkIntervalMs: options.bookmarkIntervalMs ?? 1000,
      forceBookmarks: options.forceBookmarks ?? false,
      expired: options.expired ?? 'event',
    };
    for (const t of RESOURCE_TYPES) this.store.set(t.plural, new Map());
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
  }

  async start(port = 0, host = '127.0.0.1'): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A client-node KubeConfig pointing at this server (plain HTTP, no auth). */
  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'fake' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
      currentContext: 'fake',
    });
    return kc;
  }

  /** The same as a kubeconfig file's YAML (for a controller in another process). */
  kubeConfigYaml(): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: fake, cluster: {server: "' + this.url + '", insecure-skip-tls-verify: true}}]',
      'users: [{name: fake, user: {}}]',
      'contexts: [{name: fake, context: {cluster: fake, user: fake}}]',
      'current-context: fake',
      '',
    ].join('\n');
  }

  async stop(): Promise<void> {
    this.disconnectWatches();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  get resourceVersion(): string {
    return String(this.rv);
  }

  // ---- writes (the "cluster") ----

  create(obj: KubeObject): KubeObject {
    const t = this.typeOf(obj);
    const key = this.keyOf(t, obj);
    if (this.store.get(t.plural)?.has(key)) throw new Error(`${t.kind} ${key} already exists`);
    const stored = this.stamp(t, structuredClone(obj), true);
    this.store.get(t.plural)?.set(key, stored);
    this.record(t, 'ADDED', stored);
    return structuredClone(stored);
  }

  update(obj: KubeObject): KubeObject {
    const t = this.typeOf(obj);
    const key = this.keyOf(t, obj);
    const old = this.store.get(t.plural)?.get(key);
    if (!old) throw new Error(`${t.kind} ${key} not found`);
    const next = structuredClone(obj);
    next.metadata.uid = old.metadata.uid;
    next.metadata.creationTimestamp = old.metadata.creationTimestamp;
    const stored = this.stamp(t, next, false);
    this.store.get(t.plural)?.set(key, stored);
    this.record(t, 'MODIFIED', stored);
    return structuredClone(stored);
  }

  /** Create or update. */
  apply(obj: KubeObject): KubeObject {
    const t = this.typeOf(obj);
    return this.store.get(t.plural)?.has(this.keyOf(t, obj)) ? this.update(obj) : this.create(obj);
  }

  remove(kind: string, namespace: string | undefined, name: string): void {
    const t = this.typeByKind(kind);
    const key = t.namespaced ? `${namespace ?? 'default'}/${name}` : name;
    const old = this.store.get(t.plural)?.get(key);
    if (!old) throw new Error(`${kind} ${key} not found`);
    this.store.get(t.plural)?.delete(key);
    const gone = structuredClone(old);
    this.rv++;
    gone.metadata.resourceVersion = String(this.rv);
    this.record(t, 'DELETED', gone);
  }

  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const t = this.typeByKind(kind);
    const o = this.store.get(t.plural)?.get(t.namespaced ? `${namespace ?? 'default'}/${name}` : name);
    return o ? structuredClone(o) : undefined;
  }

  list(kind: string): KubeObject[] {
    return [...(this.store.get(this.typeByKind(kind).plural)?.values() ?? [])].map((o) => structuredClone(o));
  }

  // ---- test controls ----

  /** Ends every open watch: `abrupt` destroys the sockets (a network failure), else a clean end of stream. */
  disconnectWatches(abrupt = false): number {
    const n = this.watchers.size;
    for (const w of [...this.watchers]) this.endWatch(w, abrupt);
    return n;
  }

  /** Forgets the event history: any watch from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.history = [];
    this.compactedRv = this.rv;
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  // ---- HTTP ----

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'POST' && method !== 'PATCH') {
      this.status(res, 405, 'MethodNotAllowed', `${method} is not supported by the fake API server`);
      return;
    }
    const route = this.route(url.pathname);
    if (!route) {
      this.status(res, 404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
      return;
    }
    const { type, namespace, name } = route;
    const watching = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1';
    if (method !== 'GET') {
      const counts = method === 'POST' ? this.counts.create : this.counts.patch;
      counts[type.plural] = (counts[type.plural] ?? 0) + 1;
    }
    const failWith = this.fault?.({ plural: type.plural, watch: watching, method });
    if (failWith !== undefined) {
      this.status(res, failWith, 'InternalError', `injected failure ${failWith}`);
      return;
    }
    if (method !== 'GET') {
      if (!WRITABLE.has(type.plural)) {
        this.status(res, 405, 'MethodNotAllowed', `${method} on ${type.plural} is not supported by the fake API server`);
        return;
      }
      void this.write(req, res, method, type, namespace, name);
      return;
    }
    if (name !== undefined) {
      const o = this.store.get(type.plural)?.get(type.namespaced ? `${namespace}/${name}` : name);
      if (!o) {
        this.status(res, 404, 'NotFound', `${type.plural} "${name}" not found`);
        return;
      }
      this.json(res, 200, o);
      return;
    }
    if (watching) {
      this.watch(req, res, type, namespace, url.searchParams);
      return;
    }
    this.listResponse(res, type, namespace, url.searchParams);
  }

  private route(path: string): { type: ResourceType; namespace: string | undefined; name: string | undefined } | undefined {
    const parts = path.split('/').filter(Boolean);
    let rest: string[];
    let group: string;
    let version: string;
    if (parts[0] === 'api') {
      group = '';
      version = parts[1];
      rest = parts.slice(2);
    } else if (parts[0] === 'apis') {
      group = parts[1];
      version = parts[2];
      rest = parts.slice(3);
    } else return undefined;
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const type = RESOURCE_TYPES.find((t) => t.group === group && t.version === version && t.plural === rest[0]);
    if (!type || rest.length > 2 || (namespace !== undefined && !type.namespaced)) return undefined;
    return { type, namespace, name: rest[1] };
  }

  private async write(req: IncomingMessage, res: ServerResponse, method: string, type: ResourceType, namespace: string | undefined, name: string | undefined): Promise<void> {
    const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim();
    if (method === 'PATCH' && contentType !== 'application/merge-patch+json' && contentType !== 'application/strategic-merge-patch+json') {
      this.status(res, 415, 'UnsupportedMediaType', `the fake API server takes merge and strategic-merge patches, not ${contentType || 'no content type'}`);
      return;
    }
    let body: unknown;
    try {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          this.status(res, 413, 'RequestEntityTooLarge', 'request body too large');
          req.destroy();
          return;
        }
        chunks.push(chunk);
      }
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch (err) {
      this.status(res, 400, 'BadRequest', `cannot parse the request body: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      this.status(res, 400, 'BadRequest', 'the request body is not an object');
      return;
    }
    const ns = namespace ?? 'default';
    if (method === 'POST') {
      const obj = body as KubeObject;
      const meta = obj.metadata;
      if (name !== undefined || typeof meta !== 'object' || meta === null || typeof meta.name !== 'string' || meta.name === '') {
        this.status(res, 400, 'BadRequest', 'POST goes to a collection, with metadata.name set');
        return;
      }
      if (meta.namespace !== undefined && meta.namespace !== ns) {
        this.status(res, 400, 'BadRequest', `the namespace of the provided object (${String(meta.namespace)}) does not match the namespace sent on the request (${ns})`);
        return;
      }
      if (this.store.get(type.plural)?.has(`${ns}/${meta.name}`)) {
        this.status(res, 409, 'AlreadyExists', `${type.plural} "${meta.name}" already exists`);
        return;
      }
      this.json(res, 201, this.create({ ...obj, kind: type.kind, metadata: { ...meta, namespace: ns } }));
      return;
    }
    const old = name === undefined ? undefined : this.store.get(type.plural)?.get(`${ns}/${name}`);
    if (!old) {
      this.status(res, 404, 'NotFound', `${type.plural} "${name ?? ''}" not found`);
      return;
    }
    const patched = mergePatch(structuredClone(old), body) as KubeObject;
    patched.metadata.name = old.metadata.name;
    patched.metadata.namespace = old.metadata.namespace;
    this.json(res, 200, this.update({ ...patched, kind: type.kind }));
  }

  private listResponse(res: ServerResponse, type: ResourceType, namespace: string | undefined, q: URLSearchParams): void {
    this.counts.list[type.plural] = (this.counts.list[type.plural] ?? 0) + 1;
    const limit = Number(q.get('limit') ?? 0);
    const token = q.get('continue');
    let snapshot: { items: KubeObject[]; rv: number };
    let offset = 0;
    if (token) {
      const [id, off] = token.split(':');
      const s = this.snapshots.get(id);
      if (!s) {
        this.status(res, 410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.');
        return;
      }
      snapshot = s;
      offset = Number(off);
    } else {
      const items = [...(this.store.get(type.plural)?.values() ?? [])].filter((o) => namespace === undefined || o.metadata.namespace === namespace);
      snapshot = { items, rv: this.rv };
    }
    const end = limit > 0 ? Math.min(offset + limit, snapshot.items.length) : snapshot.items.length;
    const metadata: Record<string, unknown> = { resourceVersion: String(snapshot.rv) };
    if (end < snapshot.items.length) {
      const id = token ? token.split(':')[0] : randomUUID();
      this.snapshots.set(id, snapshot);
      metadata.continue = `${id}:${end}`;
      metadata.remainingItemCount = snapshot.items.length - end;
    } else if (token) this.snapshots.delete(token.split(':')[0]);
    this.json(res, 200, {
      kind: `${type.kind}List`,
      apiVersion: type.group ? `${type.group}/${type.version}` : type.version,
      metadata,
      items: snapshot.items.slice(offset, end),
    });
  }

  private watch(req: IncomingMessage, res: ServerResponse, type: ResourceType, namespace: string | undefined, q: URLSearchParams): void {
    this.counts.watch[type.plural] = (this.counts.watch[type.plural] ?? 0) + 1;
    const rvParam = q.get('resourceVersion') ?? '';
    const from = rvParam === '' || rvParam === '0' ? undefined : Number(rvParam);
    if (from !== undefined && (!Number.isInteger(from) || from < 0)) {
      this.status(res, 400, 'BadRequest', `invalid resourceVersion ${JSON.stringify(rvParam)}`);
      return;
    }
    const tooOld = from !== undefined && from < this.compactedRv;
    if (tooOld && this.options.expired === 'status') {
      this.counts.expired++;
      this.status(res, 410, 'Expired', `too old resource version: ${from} (${this.compactedRv})`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache' });
    res.flushHeaders();
    if (tooOld) {
      this.counts.expired++;
      res.end(
        JSON.stringify({
          type: 'ERROR',
          object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${from} (${this.compactedRv})`, reason: 'Expired', code: 410 },
        }) + '\n',
      );
      return;
    }
    const w: Watcher = { plural: type.plural, namespace, res, bookmarks: q.get('allowWatchBookmarks') === 'true' || this.options.forceBookmarks, timer: undefined, deadline: undefined };
    this.watchers.add(w);
    const lines: string[] = [];
    if (from === undefined) {
      for (const o of this.store.get(type.plural)?.values() ?? []) if (namespace === undefined || o.metadata.namespace === namespace) lines.push(JSON.stringify({ type: 'ADDED', object: o }));
    } else {
      for (const e of this.history) if (e.rv > from && e.plural === type.plural && (namespace === undefined || e.namespace === namespace)) lines.push(JSON.stringify({ type: e.type, object: e.object }));
    }
    if (lines.length > 0) res.write(lines.join('\n') + '\n');
    if (w.bookmarks) {
      w.timer = setInterval(() => {
        const apiVersion = type.group ? `${type.group}/${type.version}` : type.version;
        res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: type.kind, apiVersion, metadata: { resourceVersion: String(this.rv) } } }) + '\n');
      }, this.options.bookmarkIntervalMs);
    }
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    if (timeout > 0) w.deadline = setTimeout(() => this.endWatch(w, false), timeout * 1000);
    const cleanup = (): void => {
      this.forget(w);
    };
    req.on('close', cleanup);
    res.on('close', cleanup);
  }

  private endWatch(w: Watcher, abrupt: boolean): void {
    this.forget(w);
    if (abrupt) w.res.destroy();
    else w.res.end();
  }

  private forget(w: Watcher): void {
    if (w.timer) clearInterval(w.timer);
    if (w.deadline) clearTimeout(w.deadline);
    this.watchers.delete(w);
  }

  private record(t: ResourceType, type: EventType, object: KubeObject): void {
    const e: HistoryEvent = { rv: this.rv, plural: t.plural, namespace: object.metadata.namespace ?? '', type, object };
    this.history.push(e);
    if (this.history.length > this.options.historyLimit) {
      const drop = this.history.length - this.options.historyLimit;
      this.compactedRv = this.history[drop - 1].rv;
      this.history = this.history.slice(drop);
    }
    const line = JSON.stringify({ type, object }) + '\n';
    for (const w of this.watchers) if (w.plural === t.plural && (w.namespace === undefined || w.namespace === e.namespace)) w.res.write(line);
  }

  private stamp(t: ResourceType, obj: KubeObject, creating: boolean): KubeObject {
    this.rv++;
    obj.apiVersion = t.group ? `${t.group}/${t.version}` : t.version;
    obj.kind = t.kind;
    if (t.namespaced) obj.metadata.namespace = obj.metadata.namespace ?? 'default';
    else delete obj.metadata.namespace;
    obj.metadata.resourceVersion = String(this.rv);
    if (creating) {
      obj.metadata.uid = randomUUID();
      obj.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    }
    return obj;
  }

  private typeOf(obj: KubeObject): ResourceType {
    if (typeof obj.kind !== 'string') throw new Error('object has no kind');
    return this.typeByKind(obj.kind);
  }

  private typeByKind(kind: string): ResourceType {
    const t = RESOURCE_TYPES.find((r) => r.kind === kind);
    if (!t) throw new Error(`kind ${kind} is not served by the fake API server`);
    return t;
  }

  private keyOf(t: ResourceType, obj: KubeObject): string {
    return t.namespaced ? `${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}` : obj.metadata.name;
  }

  private json(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    this.json(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  }
}

/** RFC 7386 JSON merge patch (what a strategic-merge patch of plain fields does too). */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? (target as Record<string, unknown>) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}
