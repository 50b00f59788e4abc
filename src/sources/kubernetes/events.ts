import { createHash } from 'node:crypto';
import type { CoreV1Event, KubeConfig } from '@kubernetes/client-node';
import type { StructuredLogger as Logger } from '../../structured-logger.ts';
import type { TranslationWarning } from './objects.ts';
import type { WarningRecorder } from './warnings.ts';

// Translation warnings as core/v1 Events on the object they name, corrected the way client-go's
// tools/record EventCorrelator does (events_cache.go), with its constants:
// - aggregation: events that differ only in message (same source, object, type, reason) seen more than
//   10 times in 10 minutes collapse into one Event "(combined from similar events): <latest message>";
// - deduplication: a repeat of an Event already written is a PATCH of count, lastTimestamp and message,
//   not a new object (LRU of 4096 keys);
// - spam filter: a token bucket per source + object, 25 at once then one per 5 minutes (LRU of 4096).
// On top of client-go, because a tenant controls its own objects and this runs on every node:
// - an Event goes only into the namespace of the object it is about (cluster-scoped Nodes: "default"),
//   and only Services, EndpointSlices and Nodes get one; a bucket per namespace (50, then one per 30 s)
//   keeps one namespace's thousands of broken objects from using the whole node's share, and a bucket per
//   node (200, then one per 2 s) bounds what it sends in all;
// - the Event's name is derived from what it says (object, reason, and the message unless aggregated),
//   not from a timestamp as in client-go, so the controllers of N nodes that see the same warning make
//   one Event: the first creates it, the others get 409 AlreadyExists and leave it alone;
// - a bounded queue (1000, as client-go's broadcaster) with one writer; when it is full new Events are
//   dropped, never waited for. Everything is also logged (logWarnings), so nothing is lost but the Event.
//
// core/v1 rather than events.k8s.io/v1: the correlator above is client-go's core/v1 recorder
// (count/lastTimestamp), `kubectl describe` shows both, and core/v1 Events exist on every cluster.

export const EVENT_COMPONENT = 'ipvs-maglev';
const MAX_MESSAGE = 1024;
const MAX_NAME = 253;

export interface EventLimits {
  /** Keys remembered by the aggregator, the deduplicator and each spam filter (client-go: 4096). */
  cacheEntries: number;
  /** Similar events (differing only in message) before they are combined (client-go: 10)... */
  aggregateMaxEvents: number;
  /** ...within this window (client-go: 600 s). */
  aggregateIntervalMs: number;
  /** Per source + object (client-go: burst 25, one per 300 s). */
  objectBurst: number;
  objectRefillMs: number;
  /** Per namespace. */
  namespaceBurst: number;
  namespaceRefillMs: number;
  /** Per node, all namespaces. */
  totalBurst: number;
  totalRefillMs: number;
  /** Events waiting to be written; beyond it new ones are dropped (client-go: 1000). */
  queueLength: number;
  /** Attempts per write when the API server cannot be reached or answers 429/5xx (client-go: 12). */
  maxAttempts: number;
  /** First retry delay; doubles per attempt. */
  retryDelayMs: number;
}

export const EVENT_LIMITS: EventLimits = {
  cacheEntries: 4096,
  aggregateMaxEvents: 10,
  aggregateIntervalMs: 600_000,
  objectBurst: 25,
  objectRefillMs: 300_000,
  namespaceBurst: 50,
  namespaceRefillMs: 30_000,
  totalBurst: 200,
  totalRefillMs: 2000,
  queueLength: 1000,
  maxAttempts: 5,
  retryDelayMs: 1000,
};

/** What becomes of a warning: written (created/patched), refused by a limit, or lost to errors. */
export type EventOutcome = 'created' | 'patched' | 'exists' | 'filtered' | 'unsupported' | 'dropped' | 'failed';

/** The two API calls an Event recorder makes. Errors carry the HTTP status as `code` (client-node's ApiException). */
export interface EventSink {
  create(namespace: string, event: CoreV1Event): Promise<void>;
  /** A strategic-merge patch of count, lastTimestamp and message. */
  patch(namespace: string, name: string, patch: { count: number; lastTimestamp: Date; message: string }): Promise<void>;
}

/** The sink that talks to the API server through client-node (loaded when first used). */
export function apiEventSink(kubeConfig: KubeConfig): EventSink {
  let api: Promise<{ core: import('@kubernetes/client-node').CoreV1Api; options: import('@kubernetes/client-node').ConfigurationOptions }> | undefined;
  const load = () => {
    api ??= import('@kubernetes/client-node').then((k) => ({
      core: kubeConfig.makeApiClient(k.CoreV1Api),
      options: k.setHeaderOptions('Content-Type', k.PatchStrategy.StrategicMergePatch),
    }));
    return api;
  };
  return {
    async create(namespace, body) {
      const { core } = await load();
      await core.createNamespacedEvent({ namespace, body });
    },
    async patch(namespace, name, body) {
      const { core, options } = await load();
      await core.patchNamespacedEvent({ namespace, name, body }, options);
    },
  };
}

export interface EventRecorderOptions {
  sink: EventSink;
  /** source.host and reportingInstance: the node this controller runs on. */
  nodeName: string;
  logger: Logger;
  limits?: Partial<EventLimits>;
  /** ms since the epoch (tests). */
  now?: () => number;
  onOutcome?: (outcome: EventOutcome) => void;
}

interface Involved {
  kind: string;
  apiVersion: string;
  namespace: string;
  name: string;
  uid: string | undefined;
}

interface Written {
  name: string;
  namespace: string;
  /** The Event as first created (what a patch does not carry). */
  template: CoreV1Event;
  count: number;
  firstTimestamp: number;
  /** On the API server (created by us), so a repeat is a patch. */
  created: boolean;
  /** Created by another node's controller (409 on create): left to it. */
  foreign: boolean;
}

interface Job {
  entry: Written;
  message: string;
  at: number;
}

const API_VERSIONS: Readonly<Record<string, string>> = { Service: 'v1', EndpointSlice: 'discovery.k8s.io/v1', Node: 'v1' };

/** The object a warning is about, or undefined when it names none an Event can be attached to. */
export function involvedObject(w: TranslationWarning): Involved | undefined {
  const apiVersion = API_VERSIONS[w.kind];
  if (!apiVersion || !w.object) return undefined;
  if (w.kind === 'Node') return isName(w.object, MAX_NAME) ? { kind: w.kind, apiVersion, namespace: '', name: w.object, uid: w.uid } : undefined;
  const slash = w.object.indexOf('/');
  const namespace = w.object.slice(0, slash);
  const name = w.object.slice(slash + 1);
  if (slash < 0 || !isName(namespace, 63) || !isName(name, MAX_NAME)) return undefined;
  return { kind: w.kind, apiVersion, namespace, name, uid: w.uid };
}

// The API server has validated these names; checked again because they become URL path segments.
function isName(s: string, max: number): boolean {
  return s.length > 0 && s.length <= max && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(s);
}

/** Records translation warnings as Warning Events. It logs nothing itself: the controller also hands each warning to logWarnings. */
export class EventRecorder implements WarningRecorder {
  private readonly opts: EventRecorderOptions;
  private readonly limits: EventLimits;
  private readonly now: () => number;
  private readonly aggregates: Lru<{ messages: Set<string>; last: number }>;
  private readonly written: Lru<Written>;
  private readonly objectBuckets: Lru<TokenBucket>;
  private readonly namespaceBuckets: Lru<TokenBucket>;
  private readonly total: TokenBucket;
  private readonly queue: Job[] = [];
  private writing: Promise<void> | undefined;
  private stopped = false;
  /** Retry waits in progress, so stop() can end them. */
  private readonly sleeping = new Map<ReturnType<typeof setTimeout>, () => void>();

  constructor(opts: EventRecorderOptions) {
    this.opts = opts;
    this.limits = { ...EVENT_LIMITS, ...opts.limits };
    this.now = opts.now ?? Date.now;
    const n = this.limits.cacheEntries;
    this.aggregates = new Lru(n);
    this.written = new Lru(n);
    this.objectBuckets = new Lru(n);
    this.namespaceBuckets = new Lru(n);
    this.total = new TokenBucket(this.limits.totalBurst, this.limits.totalRefillMs, this.now());
  }

  record(w: TranslationWarning): void {
    if (this.stopped) return;
    const obj = involvedObject(w);
    if (!obj) {
      this.outcome('unsupported');
      return;
    }
    const now = this.now();
    const namespace = obj.namespace || 'default';
    const objectKey = [obj.kind, obj.apiVersion, obj.namespace, obj.name, obj.uid ?? ''].join('\u0000');
    const message = truncate(w.message, MAX_MESSAGE);
    // Aggregation (client-go EventAggregate): the key leaves out the message.
    const aggregateKey = `${objectKey}\u0000Warning\u0000${w.reason}`;
    let agg = this.aggregates.get(aggregateKey);
    if (!agg || now - agg.last > this.limits.aggregateIntervalMs) {
      agg = { messages: new Set(), last: now };
      this.aggregates.set(aggregateKey, agg);
    }
    agg.last = now;
    let key = `${aggregateKey}\u0000${message}`;
    let text = message;
    if (!agg.messages.has(message)) {
      if (agg.messages.size >= this.limits.aggregateMaxEvents - 1) {
        key = aggregateKey;
        text = truncate(`(combined from similar events): ${message}`, MAX_MESSAGE);
      } else agg.messages.add(message);
    }
    // Deduplication (client-go eventObserve): a repeat is counted even when the spam filter then holds it
    // back, so the next write carries the true count.
    let entry = this.written.get(key);
    if (!entry) {
      const name = eventName(obj.name, key);
      const template: CoreV1Event = {
        metadata: { name, namespace },
        involvedObject: { kind: obj.kind, apiVersion: obj.apiVersion, name: obj.name, ...(obj.namespace ? { namespace: obj.namespace } : {}), ...(obj.uid ? { uid: obj.uid } : {}) },
        type: 'Warning',
        reason: truncate(w.reason, 128),
        source: { component: EVENT_COMPONENT, host: this.opts.nodeName },
        reportingComponent: EVENT_COMPONENT,
        reportingInstance: truncate(`${EVENT_COMPONENT}-${this.opts.nodeName}`, 128),
      };
      entry = { name, namespace, template, count: 0, firstTimestamp: now, created: false, foreign: false };
      this.written.set(key, entry);
    }
    entry.count++;
    if (!this.admit(objectKey, namespace, now)) {
      this.outcome('filtered');
      return;
    }
    if (entry.foreign) {
      this.outcome('exists');
      return;
    }
    if (this.queue.length >= this.limits.queueLength) {
      this.outcome('dropped');
      return;
    }
    this.queue.push({ entry, message: text, at: now });
    this.pump();
  }

  /** Resolves when every queued Event has been written or given up on. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Stops accepting warnings, abandons retries and waits for the write in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.length = 0;
    for (const [t, wake] of this.sleeping) {
      clearTimeout(t);
      wake();
    }
    this.sleeping.clear();
    await this.flush();
  }

  /** Events waiting to be written (tests, metrics). */
  get pending(): number {
    return this.queue.length;
  }

  private admit(objectKey: string, namespace: string, now: number): boolean {
    const l = this.limits;
    const obj = this.objectBuckets.get(objectKey) ?? this.objectBuckets.set(objectKey, new TokenBucket(l.objectBurst, l.objectRefillMs, now));
    const ns = this.namespaceBuckets.get(namespace) ?? this.namespaceBuckets.set(namespace, new TokenBucket(l.namespaceBurst, l.namespaceRefillMs, now));
    // Check all three before taking from any: a refused event must not spend the others' tokens.
    if (!obj.has(now) || !ns.has(now) || !this.total.has(now)) return false;
    obj.take();
    ns.take();
    this.total.take();
    return true;
  }

  private pump(): void {
    if (this.writing || this.stopped) return;
    this.writing = (async () => {
      try {
        for (let job = this.queue.shift(); job; job = this.queue.shift()) await this.write(job);
      } finally {
        this.writing = undefined;
      }
    })();
  }

  private async write(job: Job): Promise<void> {
    const e = job.entry;
    for (let attempt = 1; ; attempt++) {
      // A job queued before the 409 that made the entry another node's.
      if (e.foreign) {
        this.outcome('exists');
        return;
      }
      const creating = !e.created;
      try {
        if (creating) {
          await this.opts.sink.create(e.namespace, { ...e.template, message: job.message, count: e.count, firstTimestamp: new Date(e.firstTimestamp), lastTimestamp: new Date(job.at) });
          e.created = true;
          this.outcome('created');
        } else {
          await this.opts.sink.patch(e.namespace, e.name, { count: e.count, lastTimestamp: new Date(job.at), message: job.message });
          this.outcome('patched');
        }
        return;
      } catch (err) {
        const code = statusOf(err);
        if (creating && code === 409) {
          e.created = true;
          e.foreign = true;
          this.outcome('exists');
          return;
        }
        if (!creating && code === 404) {
          // Expired (the API server keeps Events an hour) or deleted: written afresh, as client-go does.
          e.created = false;
          e.firstTimestamp = job.at;
          continue;
        }
        const retriable = code === undefined || code === 429 || code >= 500;
        if (!retriable || attempt >= this.limits.maxAttempts) {
          this.outcome('failed');
          this.opts.logger.debug({ namespace: e.namespace, event: e.name, status: code ?? null, err: describe(err) }, 'cannot write the Kubernetes Event; the warning stays in the log');
          return;
        }
        // A retry stop() abandons records nothing, whether stop() came during the wait or during this attempt.
        if (this.stopped) return;
        await this.sleep(this.limits.retryDelayMs * 2 ** (attempt - 1));
        if (this.stopped) return;
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.sleeping.delete(t);
        resolve();
      }, ms);
      this.sleeping.set(t, resolve);
    });
  }

  private outcome(o: EventOutcome): void {
    this.opts.onOutcome?.(o);
  }
}

/** "<object name>.<16 hex digits of the key's hash>", at most 253 characters. */
function eventName(objectName: string, key: string): string {
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 16);
  return `${objectName.slice(0, MAX_NAME - 17).replace(/[.-]+$/, '')}.${hash}`;
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 3)}...`;
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' && code >= 100 && code < 600 ? code : undefined;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message.slice(0, 300) : String(err).slice(0, 300);
}

/** A bounded map that forgets the least recently used key (groupcache/lru, as client-go). */
export class Lru<V> {
  private readonly max: number;
  private readonly map = new Map<string, V>();

  constructor(max: number) {
    this.max = max;
  }

  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: string, value: V): V {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
    return value;
  }

  get size(): number {
    return this.map.size;
  }
}

/** client-go's flowcontrol token bucket: `burst` tokens, one more every `refillMs`. */
export class TokenBucket {
  private tokens: number;
  private at: number;
  private readonly burst: number;
  private readonly refillMs: number;

  constructor(burst: number, refillMs: number, now: number) {
    this.burst = burst;
    this.refillMs = refillMs;
    this.tokens = burst;
    this.at = now;
  }

  has(now: number): boolean {
    if (now > this.at) {
      this.tokens = Math.min(this.burst, this.tokens + (now - this.at) / this.refillMs);
      this.at = now;
    }
    return this.tokens >= 1;
  }

  take(): void {
    this.tokens -= 1;
  }
}
