import { serviceKeyId } from '../../ipvs/keys.ts';
import type { ClusterEvent } from './informers.ts';
import {
  type EndpointSliceView,
  type NodePortRange,
  type NodeView,
  type ServiceView,
  type TranslationWarning,
  parseEndpointSlice,
  parseNode,
  parseService,
} from './objects.ts';
import { type NodeContext, type ReservedAddresses, type ServiceTranslation, type Translation, assemble, compareServiceViews, nodeContext, translateService } from './translate.ts';

// The controller's view of the cluster: parsed Services, EndpointSlices and our Node, plus one
// cached translation per Service. An event marks only the Services it touches dirty, so
// producing the desired state after a single endpoint change retranslates one Service (the
// join of all cached results stays O(services) but is cheap). No I/O, no timers: the caller
// feeds events and asks for the desired state.

/** EndpointSlice annotation the EndpointSlice controller sets to when the change was triggered. */
export const LAST_CHANGE_TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';

/** A health check node port to serve (kube-proxy's service health server). */
export interface HealthCheckTarget {
  port: number;
  namespace: string;
  name: string;
  /** Ready endpoints of the Service on this node. */
  localEndpoints: number;
}

export interface ClusterStateOptions {
  nodeName: string;
  /** From --node-ip; when absent, our Node's InternalIP/ExternalIP addresses. */
  nodeIPs?: readonly string[];
  /** The cluster's node port range (--node-port-range; default 30000-32767). */
  nodePortRange?: NodePortRange;
  /** Called for warnings not reported before (each distinct warning once while it persists). */
  onWarning?: (w: TranslationWarning) => void;
}

export class ClusterState {
  private readonly opts: ClusterStateOptions;
  private readonly services = new Map<string, ServiceView>();
  private readonly slices = new Map<string, EndpointSliceView>();
  private readonly slicesByService = new Map<string, Set<string>>();
  private readonly translations = new Map<string, ServiceTranslation>();
  private readonly dirty = new Set<string>();
  /** Services that have a health check node port. */
  private readonly healthChecked = new Set<string>();
  /** Parse warnings per object ("Service ns/name"), kept while the object is in that state. */
  private readonly objectWarnings = new Map<string, TranslationWarning[]>();
  /** metadata.uid per object ("Service ns/name"), so a warning's Event names the exact object (kubectl describe matches on it). */
  private readonly uids = new Map<string, string>();
  private node: NodeView | undefined;
  /** Every Node's addresses (no Service may take one as an external IP), by node name. */
  private readonly nodeAddresses = new Map<string, readonly string[]>();
  private reserved: ReservedAddresses = { nodeAddresses: new Set() };
  private context: NodeContext;
  private order: string[] | undefined;
  private reported = new Set<string>();
  private triggerTimes: number[] = [];
  /** The last joined result, when it can be patched (no conflicts, no warnings), with each Service's offset. */
  private last: { out: Translation; offsets: Map<string, number> } | undefined;
  private recordTimesAfter = Number.POSITIVE_INFINITY;
  /** Services (namespace/name) changed since the last desired(): for logs and tests. */
  changes = 0;

  constructor(opts: ClusterStateOptions) {
    this.opts = opts;
    this.context = nodeContext(opts.nodeName, opts.nodeIPs, undefined);
    this.reserved = { nodeAddresses: new Set(this.context.nodeIPs.map((a) => a.address)) };
  }

  /** Start recording change times for the programming-latency metric (call once the informers synced). */
  recordLatencySince(ms: number): void {
    this.recordTimesAfter = ms;
  }

  /** Event times (ms) of changes not yet programmed; the caller observes them once programmed. */
  takeTriggerTimes(): number[] {
    const t = this.triggerTimes;
    this.triggerTimes = [];
    return t;
  }

  /** Puts back times whose sync failed, so their latency includes the retry. */
  restoreTriggerTimes(times: readonly number[]): void {
    this.triggerTimes.push(...times);
  }

  apply(event: ClusterEvent): void {
    this.changes++;
    if (event.kind === 'Service') this.applyService(event);
    else if (event.kind === 'EndpointSlice') this.applySlice(event);
    else this.applyNode(event);
  }

  /**
   * The desired state from everything seen so far. Retranslates only dirty Services; when their virtual
   * servers keep the same keys (an endpoint change), patches the last result in place of a new join, so a
   * single change costs O(that Service) plus two array copies.
   */
  desired(): Translation {
    const patched = this.order && this.last ? this.patch(this.last) : undefined;
    if (patched) return patched;
    if (!this.order) {
      this.order = [...this.services.values()].sort(compareServiceViews).map((s) => `${s.namespace}/${s.name}`);
    }
    for (const id of this.dirty) this.retranslate(id);
    this.dirty.clear();
    const per: ServiceTranslation[] = [];
    for (const id of this.order) {
      const t = this.translations.get(id);
      if (t) per.push(t);
    }
    const out = assemble(per, this.reserved);
    this.last = undefined;
    if (out.warnings.length === 0) {
      // No conflicts and no translation warnings: each Service's virtual servers sit at a known offset.
      const offsets = new Map<string, number>();
      let at = 0;
      for (const id of this.order) {
        const t = this.translations.get(id);
        if (!t) continue;
        offsets.set(id, at);
        at += t.services.length;
      }
      this.last = { out, offsets };
    }
    return this.finish(out);
  }

  /** The last result with the dirty Services' new translations written over their old ones, if they fit. */
  private patch(last: { out: Translation; offsets: Map<string, number> }): Translation | undefined {
    const updates: [number, ServiceTranslation][] = [];
    for (const id of this.dirty) {
      const before = this.translations.get(id);
      const at = last.offsets.get(id);
      this.retranslate(id);
      const after = this.translations.get(id);
      this.dirty.delete(id);
      if (!before || !after || at === undefined || !sameShape(before, after)) {
        this.last = undefined;
        return undefined; // a full join follows (this Service is already retranslated)
      }
      updates.push([at, after]);
    }
    if (updates.length === 0) return this.finish(last.out);
    const services = last.out.state.services.slice();
    const vips = last.out.vips.slice();
    for (const [at, t] of updates) {
      for (let i = 0; i < t.services.length; i++) {
        services[at + i] = t.services[i];
        vips[at + i] = t.vips[i];
      }
    }
    const out: Translation = { state: { services }, vips, warnings: last.out.warnings };
    last.out = out;
    return this.finish(out);
  }

  private retranslate(id: string): void {
    const svc = this.services.get(id);
    if (!svc) {
      this.translations.delete(id);
      return;
    }
    const slices: EndpointSliceView[] = [];
    for (const sid of this.slicesByService.get(id) ?? []) {
      const s = this.slices.get(sid);
      if (s) slices.push(s);
    }
    this.translations.set(id, translateService(svc, slices, this.context));
  }

  /** Adds the objects' own parse warnings and reports new ones. */
  private finish(out: Translation): Translation {
    const warnings = this.objectWarnings.size === 0 ? out.warnings : [...[...this.objectWarnings.values()].flat(), ...out.warnings];
    this.report(warnings);
    return { state: out.state, vips: out.vips, warnings };
  }

  /**
   * The health checks kube-proxy would serve on this node: one per LoadBalancer Service with
   * externalTrafficPolicy Local and a healthCheckNodePort, with its ready endpoints on this node.
   */
  healthChecks(): HealthCheckTarget[] {
    const out: HealthCheckTarget[] = [];
    for (const id of this.healthChecked) {
      const svc = this.services.get(id);
      if (!svc || svc.healthCheckNodePort === 0) continue;
      const local = new Set<string>();
      for (const sid of this.slicesByService.get(id) ?? []) {
        for (const ep of this.slices.get(sid)?.endpoints ?? []) {
          if (ep.ready && ep.nodeName === this.opts.nodeName) local.add(ep.address);
        }
      }
      out.push({ port: svc.healthCheckNodePort, namespace: svc.namespace, name: svc.name, localEndpoints: local.size });
    }
    return out.sort((a, b) => a.port - b.port || compareServiceViews(a, b));
  }

  get serviceCount(): number {
    return this.services.size;
  }

  private applyService(e: ClusterEvent): void {
    const parsed = parseService(e.object, { nodePortRange: this.opts.nodePortRange });
    const id = objectId(e.object);
    if (!id) {
      this.setWarnings('Service ?', parsed.warnings);
      return;
    }
    this.setWarnings(`Service ${id}`, e.type === 'delete' ? [] : parsed.warnings);
    this.noteUid(`Service ${id}`, e);
    const existed = this.services.has(id);
    if (e.type === 'delete' || !parsed.value) {
      // A Service that became headless/ExternalName/invalid stops being programmed, like a deletion.
      this.services.delete(id);
      if (existed) this.order = undefined;
    } else {
      this.services.set(id, parsed.value);
      if (!existed) this.order = undefined;
    }
    if (this.services.get(id)?.healthCheckNodePort) this.healthChecked.add(id);
    else this.healthChecked.delete(id);
    this.dirty.add(id);
    this.noteTime(e, undefined);
  }

  private applySlice(e: ClusterEvent): void {
    const parsed = parseEndpointSlice(e.object);
    const sid = objectId(e.object);
    if (!sid) {
      this.setWarnings('EndpointSlice ?', parsed.warnings);
      return;
    }
    this.setWarnings(`EndpointSlice ${sid}`, e.type === 'delete' ? [] : parsed.warnings);
    this.noteUid(`EndpointSlice ${sid}`, e);
    const old = this.slices.get(sid);
    if (old) this.unindex(sid, old);
    if (e.type === 'delete' || !parsed.value) this.slices.delete(sid);
    else {
      this.slices.set(sid, parsed.value);
      const svc = `${parsed.value.namespace}/${parsed.value.serviceName}`;
      const set = this.slicesByService.get(svc);
      if (set) set.add(sid);
      else this.slicesByService.set(svc, new Set([sid]));
      this.dirty.add(svc);
    }
    this.noteTime(e, triggerTime(e.object));
  }

  private unindex(sid: string, old: EndpointSliceView): void {
    const svc = `${old.namespace}/${old.serviceName}`;
    const set = this.slicesByService.get(svc);
    set?.delete(sid);
    if (set && set.size === 0) this.slicesByService.delete(svc);
    this.dirty.add(svc);
  }

  private applyNode(e: ClusterEvent): void {
    const parsed = parseNode(e.object);
    if (parsed.value) this.noteNodeAddresses(parsed.value.name, e.type === 'delete' ? [] : parsed.value.addresses.map((a) => a.address));
    if (!parsed.value || parsed.value.name !== this.opts.nodeName) return; // only our Node's context matters
    this.setWarnings(`Node ${parsed.value.name}`, e.type === 'delete' ? [] : parsed.warnings);
    this.noteUid(`Node ${parsed.value.name}`, e);
    const next = e.type === 'delete' ? undefined : parsed.value;
    const before = JSON.stringify(this.context);
    this.node = next;
    this.context = nodeContext(this.opts.nodeName, this.opts.nodeIPs, this.node);
    if (JSON.stringify(this.context) !== before) {
      for (const id of this.services.keys()) this.dirty.add(id);
      this.noteTime(e, undefined);
    }
    this.refreshReserved();
  }

  /** Any Node's addresses changed: the reserved set is recomputed (a full join re-checks external IPs). */
  private noteNodeAddresses(name: string, addresses: readonly string[]): void {
    const before = this.nodeAddresses.get(name) ?? [];
    if (addresses.length === 0) this.nodeAddresses.delete(name);
    else this.nodeAddresses.set(name, addresses);
    if (before.length !== addresses.length || before.some((a, i) => a !== addresses[i])) this.refreshReserved();
  }

  private refreshReserved(): void {
    const all = new Set<string>();
    for (const list of this.nodeAddresses.values()) for (const a of list) all.add(a);
    for (const a of this.context.nodeIPs) all.add(a.address);
    const old = this.reserved.nodeAddresses;
    if (old.size === all.size && [...all].every((a) => old.has(a))) return;
    this.reserved = { nodeAddresses: all };
    // The last join was checked against the old set: the next desired() joins afresh.
    this.last = undefined;
  }

  private noteTime(e: ClusterEvent, trigger: number | undefined): void {
    if (e.receivedAt < this.recordTimesAfter) return;
    // As kube-proxy: measure from when the change was triggered when the object says so.
    this.triggerTimes.push(trigger !== undefined && trigger >= this.recordTimesAfter && trigger <= e.receivedAt ? trigger : e.receivedAt);
  }

  private setWarnings(key: string, warnings: TranslationWarning[]): void {
    if (warnings.length === 0) this.objectWarnings.delete(key);
    else this.objectWarnings.set(key, warnings);
  }

  private noteUid(key: string, e: ClusterEvent): void {
    const uid = (e.object as { metadata?: { uid?: unknown } } | null)?.metadata?.uid;
    if (e.type === 'delete' || typeof uid !== 'string') this.uids.delete(key);
    else this.uids.set(key, uid);
  }

  private report(warnings: TranslationWarning[]): void {
    const now = new Set<string>();
    for (const w of warnings) {
      const k = `${w.kind}|${w.object}|${w.reason}|${w.message}`;
      now.add(k);
      if (this.reported.has(k)) continue;
      const uid = w.object ? this.uids.get(`${w.kind} ${w.object}`) : undefined;
      this.opts.onWarning?.(uid ? { ...w, uid } : w);
    }
    this.reported = now;
  }
}

/** Same virtual servers (keys, in order) and no warnings before or after: the new result fits the old slots. */
function sameShape(a: ServiceTranslation, b: ServiceTranslation): boolean {
  if (a.services.length !== b.services.length || a.warnings.length > 0 || b.warnings.length > 0) return false;
  for (let i = 0; i < a.services.length; i++) {
    if (serviceKeyId(a.services[i].key) !== serviceKeyId(b.services[i].key)) return false;
  }
  return true;
}

function objectId(obj: unknown): string | undefined {
  if (typeof obj !== 'object' || obj === null) return undefined;
  const meta = (obj as { metadata?: { name?: unknown; namespace?: unknown } }).metadata;
  if (!meta || typeof meta.name !== 'string') return undefined;
  return `${typeof meta.namespace === 'string' ? meta.namespace : 'default'}/${meta.name}`;
}

function triggerTime(obj: unknown): number | undefined {
  const annotations = (obj as { metadata?: { annotations?: Record<string, unknown> } }).metadata?.annotations;
  const raw = annotations?.[LAST_CHANGE_TRIGGER_TIME];
  if (typeof raw !== 'string') return undefined;
  const t = Date.parse(raw);
  return Number.isNaN(t) ? undefined : t;
}
