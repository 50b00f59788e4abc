import { destId, svcId } from './compare.ts';
import type { ActualService, OperationResult } from './types.ts';

// The reconciler's memory of the kernel: what it last read plus what it has applied since. Event-driven syncs
// plan against it so a single change costs O(1) kernel requests instead of a dump of everything.

export class KernelView {
  /** Every service in the kernel (owned or not), by serviceKeyString. Unowned ones carry no destinations. */
  readonly services = new Map<string, ActualService>();
  /** Addresses on the VIP interface, or undefined when not managed / not readable. */
  boundAddresses: Set<string> | undefined;
  /** Services whose cached state may be wrong (a failed or surprising operation): re-read before planning. */
  readonly stale = new Set<string>();

  replaceAll(services: readonly ActualService[], bound: readonly string[] | undefined): void {
    this.services.clear();
    this.stale.clear();
    for (const s of services) this.services.set(svcId(s.service.key), s);
    this.boundAddresses = bound ? new Set(bound) : undefined;
  }

  /** Folds the outcome of one applied operation into the view. */
  record(result: OperationResult): void {
    const op = result.operation;
    if (op.kind === 'bindAddress' || op.kind === 'unbindAddress') {
      if (result.outcome === 'failed' || !this.boundAddresses) return;
      if (op.kind === 'bindAddress') this.boundAddresses.add(op.address);
      else this.boundAddresses.delete(op.address);
      return;
    }
    const id = svcId(op.service);
    if (result.outcome === 'failed') {
      this.stale.add(id);
      return;
    }
    if (result.outcome === 'skipped' && (op.kind === 'addDestination' || op.kind === 'updateDestination')) {
      // The service was not there: our view of it is wrong.
      this.stale.add(id);
      this.services.delete(id);
      return;
    }
    switch (op.kind) {
      case 'addService':
      case 'updateService': {
        const s = this.services.get(id);
        if (s) s.service = { key: op.service, config: op.config };
        else this.services.set(id, { service: { key: op.service, config: op.config }, destinations: [] });
        return;
      }
      case 'deleteService':
        this.services.delete(id);
        return;
      case 'addDestination':
      case 'updateDestination':
      case 'drainDestination': {
        const s = this.services.get(id);
        if (!s) {
          this.stale.add(id);
          return;
        }
        const did = destId(op.destination);
        const i = s.destinations.findIndex((d) => destId(d.key) === did);
        if (i >= 0) s.destinations[i] = { ...s.destinations[i], config: op.config };
        else if (op.kind === 'addDestination') s.destinations.unshift({ key: op.destination, config: op.config });
        else this.stale.add(id);
        return;
      }
      case 'deleteDestination': {
        const s = this.services.get(id);
        if (!s) return;
        const did = destId(op.destination);
        s.destinations = s.destinations.filter((d) => destId(d.key) !== did);
        return;
      }
    }
  }
}
