import {
  CoreV1Api,
  DiscoveryV1Api,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  makeInformer,
} from '@kubernetes/client-node';
import type { StructuredLogger as Logger } from '../../structured-logger.ts';

// List+watch of the three resources the controller reads, through client-node's informers.
// What client-node does: list, then watch from the list's resourceVersion; on a clean end of
// the stream (or its 30 s idle timeout) re-watch from the last resourceVersion seen; on 410 Gone
// relist (and report objects that vanished meanwhile as deletions). What it does NOT do is come
// back after an error (connection refused, reset, 5xx): the informer just stops. So this module
// restarts a failed informer with backoff, which re-watches from where it was (or relists on 410).
// Lists are paged (limit/continue) so a large cluster is not one giant response.

export type ResourceKind = 'Service' | 'EndpointSlice' | 'Node';
export type EventType = 'add' | 'update' | 'delete';

export interface ClusterEvent {
  kind: ResourceKind;
  type: EventType;
  object: unknown;
  /** ms since the epoch when the event reached us. */
  receivedAt: number;
}

export interface ClusterWatchOptions {
  kubeConfig: KubeConfig;
  onEvent: (event: ClusterEvent) => void;
  logger: Logger;
  /** Objects per list page. Default 500 (client-go's reflector default). */
  pageSize?: number;
  /** First restart delay after an informer error, doubled up to 30 s. Default 1000 ms. */
  restartDelayMs?: number;
  /** Called with each informer error (metrics). */
  onError?: (kind: ResourceKind, err: unknown) => void;
  /** Called after every completed (re)list of a kind. */
  onListed?: (kind: ResourceKind, items: number) => void;
}

const MAX_RESTART_DELAY_MS = 30_000;

interface Watched {
  kind: ResourceKind;
  informer: Informer<KubernetesObject>;
  synced: boolean;
  restartDelay: number;
  restartTimer: ReturnType<typeof setTimeout> | undefined;
}

type Page = KubernetesListObject<KubernetesObject>;

export class ClusterWatch {
  private readonly opts: ClusterWatchOptions;
  private readonly watched: Watched[] = [];
  private stopped = false;
  private syncedResolve: (() => void) | undefined;
  /** Resolves once every informer has completed its first list. */
  readonly synced: Promise<void>;

  constructor(opts: ClusterWatchOptions) {
    this.opts = opts;
    this.synced = new Promise((resolve) => {
      this.syncedResolve = resolve;
    });
    const core = opts.kubeConfig.makeApiClient(CoreV1Api);
    const discovery = opts.kubeConfig.makeApiClient(DiscoveryV1Api);
    const limit = opts.pageSize ?? 500;
    this.add('Service', '/api/v1/services', (cont) => core.listServiceForAllNamespaces({ limit, _continue: cont }) as Promise<Page>);
    this.add('EndpointSlice', '/apis/discovery.k8s.io/v1/endpointslices', (cont) => discovery.listEndpointSliceForAllNamespaces({ limit, _continue: cont }) as Promise<Page>);
    this.add('Node', '/api/v1/nodes', (cont) => core.listNode({ limit, _continue: cont }) as Promise<Page>);
  }

  /** True once every informer has listed at least once (its cache is complete). */
  get isSynced(): boolean {
    return this.watched.every((w) => w.synced);
  }

  start(): void {
    for (const w of this.watched) void this.startOne(w);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.watched) {
      if (w.restartTimer) clearTimeout(w.restartTimer);
      await w.informer.stop();
    }
  }

  private add(kind: ResourceKind, path: string, listPage: (cont: string | undefined) => Promise<Page>): void {
    const w: Watched = { kind, informer: undefined as unknown as Informer<KubernetesObject>, synced: false, restartDelay: this.opts.restartDelayMs ?? 1000, restartTimer: undefined };
    const listAll = async (): Promise<Page> => {
      const first = await listPage(undefined);
      const items = [...first.items];
      let cont = first.metadata?._continue;
      while (cont) {
        const page = await listPage(cont);
        items.push(...page.items);
        cont = page.metadata?._continue;
      }
      // The informer stores the items right after this promise settles (same microtask run);
      // the macrotask below runs after it, so "synced" means the cache is complete.
      setImmediate(() => {
        w.restartDelay = this.opts.restartDelayMs ?? 1000;
        this.opts.onListed?.(kind, items.length);
        if (!w.synced) {
          w.synced = true;
          this.opts.logger.info({ kind, items: items.length }, 'informer synced');
          if (this.isSynced) this.syncedResolve?.();
        }
      });
      return { ...first, items, metadata: { ...first.metadata, _continue: undefined } };
    };
    w.informer = makeInformer(this.opts.kubeConfig, path, listAll);
    const emit = (type: EventType) => (object: KubernetesObject) => {
      this.opts.onEvent({ kind, type, object, receivedAt: Date.now() });
    };
    w.informer.on('add', emit('add'));
    w.informer.on('update', emit('update'));
    w.informer.on('delete', emit('delete'));
    w.informer.on('error', (err: unknown) => {
      this.opts.onError?.(kind, err);
      if (this.stopped) return;
      const delay = w.restartDelay;
      w.restartDelay = Math.min(w.restartDelay * 2, MAX_RESTART_DELAY_MS);
      this.opts.logger.warn({ kind, err: describe(err), retryInMs: delay }, 'list/watch failed; restarting the informer');
      if (w.restartTimer) clearTimeout(w.restartTimer);
      w.restartTimer = setTimeout(() => {
        w.restartTimer = undefined;
        void this.startOne(w);
      }, delay);
    });
    this.watched.push(w);
  }

  private async startOne(w: Watched): Promise<void> {
    if (this.stopped) return;
    try {
      await w.informer.start();
    } catch (err) {
      // start() reports list failures through 'error'; anything thrown here is unexpected but must not kill us.
      this.opts.logger.error({ kind: w.kind, err: describe(err) }, 'informer start failed');
    }
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown; statusCode?: unknown }).statusCode ?? (err as { code?: unknown }).code;
    return code === undefined ? err.message : `${err.message} (${String(code)})`;
  }
  return String(err);
}
