import { IpvsError } from '../ipvs/errors.ts';
import type { IpvsApi, IpvsOperation, VipApi } from '../ipvs/types.ts';
import { svcId } from './compare.ts';
import {
  type ApplyResult,
  type IpvsStep,
  OPERATION_KINDS,
  type Operation,
  type OperationKind,
  type OperationOutcome,
  type OperationResult,
  type Plan,
} from './types.ts';

// Applying a plan: each operation on its own, so one bad service never blocks the others.
//   add hits EEXIST            -> retried as an update ("converted")
//   update hits ENOENT/ESRCH   -> retried as an add ("converted"): the kernel lost it, put it back
//   delete/drain hits ENOENT/ESRCH -> "skipped": already gone, which is what we wanted
//   anything else              -> "failed", reported; later operations of that service are not attempted
//                                 (they would fail the same way) and the next sync plans them again.

export interface ApplyOptions {
  /** Called after each operation (metrics, logs). */
  onResult?: (result: OperationResult) => void;
  /**
   * Pipeline up to this many IPVS writes per round trip when the client offers `batch()` (the netlink
   * client does). Errors are still handled per operation. Default 512; 1 disables batching.
   */
  batchSize?: number;
}

export function emptyCounts(): Record<OperationKind, Record<OperationOutcome, number>> {
  const counts = {} as Record<OperationKind, Record<OperationOutcome, number>>;
  for (const k of OPERATION_KINDS) counts[k] = { ok: 0, converted: 0, skipped: 0, failed: 0 };
  return counts;
}

export async function apply(
  plan: Pick<Plan, 'operations'>,
  ipvs: IpvsApi,
  vips?: VipApi,
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  const results: OperationResult[] = [];
  const counts = emptyCounts();
  const failedServices = new Set<string>();
  // Services found missing by a destination operation: their other destination operations are pointless.
  const goneServices = new Set<string>();
  let failed = 0;
  const batch = ipvs.batch?.bind(ipvs);
  const batchSize = batch ? Math.max(1, options.batchSize ?? 512) : 1;

  const finish = (operation: Operation, result: OperationResult, sid: string | undefined): void => {
    if (result.outcome === 'failed') {
      failed++;
      if (sid !== undefined) failedServices.add(sid);
    }
    if (sid !== undefined && result.error?.code === 'NO_SUCH_SERVICE' && operation.kind !== 'deleteService') goneServices.add(sid);
    counts[operation.kind][result.outcome]++;
    results.push(result);
    options.onResult?.(result);
  };
  /** The result without asking the kernel, when an earlier operation already decided it. */
  const decided = (operation: Operation, sid: string | undefined): OperationResult | undefined => {
    if (sid === undefined) return undefined;
    if (failedServices.has(sid)) {
      return { operation, outcome: 'failed', error: { code: 'SERVICE_FAILED', message: `not attempted: an earlier operation on ${sid} failed` } };
    }
    if (goneServices.has(sid) && operation.kind !== 'addService' && operation.kind !== 'updateService') {
      return { operation, outcome: 'skipped', error: { code: 'NO_SUCH_SERVICE', message: `not attempted: ${sid} is not in the kernel` } };
    }
    return undefined;
  };

  const ops = plan.operations;
  for (let i = 0; i < ops.length; ) {
    const operation = ops[i];
    const sid = isIpvsStep(operation) ? svcId(operation.service) : undefined;
    if (batch && batchSize > 1 && sid !== undefined) {
      // A run of IPVS writes: pipeline them, then settle each one in order.
      const chunk: IpvsStep[] = [];
      while (i < ops.length && chunk.length < batchSize) {
        const next = ops[i];
        if (!isIpvsStep(next)) break;
        chunk.push(next);
        i++;
      }
      const sent: IpvsStep[] = [];
      const sentIds: string[] = [];
      for (const op of chunk) {
        const id = svcId(op.service);
        const early = decided(op, id);
        if (early) finish(op, early, id);
        else {
          sent.push(op);
          sentIds.push(id);
        }
      }
      let outcomes: ReadonlyArray<Error | undefined>;
      try {
        outcomes = await batch(sent.map(ipvsOperation));
      } catch (err) {
        for (let k = 0; k < sent.length; k++) finish(sent[k], failure(sent[k], err), sentIds[k]);
        continue;
      }
      for (let k = 0; k < sent.length; k++) {
        const op = sent[k];
        const err = outcomes[k];
        if (err === undefined) finish(op, { operation: op, outcome: 'ok' }, sentIds[k]);
        else finish(op, decided(op, sentIds[k]) ?? (await recover(op, err, ipvs)), sentIds[k]);
      }
      continue;
    }
    i++;
    finish(operation, decided(operation, sid) ?? (await applyOne(operation, ipvs, vips)), sid);
  }
  return { results, counts, failedServices, failed };
}

/** Whether a plan step writes IPVS (rather than a VIP). */
export function isIpvsStep(op: Operation): op is IpvsStep {
  return op.kind !== 'bindAddress' && op.kind !== 'unbindAddress';
}

/** The kernel write a plan step stands for (a drain is an update to weight 0). */
export function ipvsOperation(op: IpvsStep): IpvsOperation {
  switch (op.kind) {
    case 'addService':
    case 'updateService':
      return { op: op.kind, service: op.service, config: op.config };
    case 'deleteService':
      return { op: 'deleteService', service: op.service };
    case 'addDestination':
    case 'updateDestination':
      return { op: op.kind, service: op.service, destination: op.destination, config: op.config };
    case 'drainDestination':
      return { op: 'updateDestination', service: op.service, destination: op.destination, config: op.config };
    case 'deleteDestination':
      return { op: 'deleteDestination', service: op.service, destination: op.destination };
  }
}

function codeOf(err: unknown): string {
  if (err instanceof IpvsError) return err.code;
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return 'ERROR';
}

function failure(operation: Operation, err: unknown, outcome: OperationOutcome = 'failed'): OperationResult {
  return { operation, outcome, error: { code: codeOf(err), message: err instanceof Error ? err.message : String(err) } };
}

const GONE = new Set(['NO_SUCH_SERVICE', 'NO_SUCH_DESTINATION']);

async function applyOne(op: Operation, ipvs: IpvsApi, vips: VipApi | undefined): Promise<OperationResult> {
  try {
    switch (op.kind) {
      case 'addService':
        await ipvs.addService(op.service, op.config);
        break;
      case 'updateService':
        await ipvs.updateService(op.service, op.config);
        break;
      case 'deleteService':
        await ipvs.deleteService(op.service);
        break;
      case 'addDestination':
        await ipvs.addDestination(op.service, op.destination, op.config);
        break;
      case 'updateDestination':
      case 'drainDestination':
        await ipvs.updateDestination(op.service, op.destination, op.config);
        break;
      case 'deleteDestination':
        await ipvs.deleteDestination(op.service, op.destination);
        break;
      case 'bindAddress':
        if (!vips) throw new IpvsError('INVALID_ARGUMENT', 'no VIP interface configured');
        await vips.addAddress(op.address);
        break;
      case 'unbindAddress':
        if (!vips) throw new IpvsError('INVALID_ARGUMENT', 'no VIP interface configured');
        await vips.removeAddress(op.address);
        break;
    }
    return { operation: op, outcome: 'ok' };
  } catch (err) {
    return recover(op, err, ipvs);
  }
}

/** What to make of an error: convert (add<->update), skip (already gone), or fail. */
async function recover(op: Operation, err: unknown, ipvs: IpvsApi): Promise<OperationResult> {
  const code = codeOf(err);
  try {
    if (op.kind === 'addService' && code === 'SERVICE_EXISTS') {
      await ipvs.updateService(op.service, op.config);
      return { operation: op, outcome: 'converted' };
    }
    if (op.kind === 'addDestination' && code === 'DESTINATION_EXISTS') {
      await ipvs.updateDestination(op.service, op.destination, op.config);
      return { operation: op, outcome: 'converted' };
    }
    if (op.kind === 'updateService' && code === 'NO_SUCH_SERVICE') {
      await ipvs.addService(op.service, op.config);
      return { operation: op, outcome: 'converted' };
    }
    if (op.kind === 'updateDestination' && code === 'NO_SUCH_DESTINATION') {
      await ipvs.addDestination(op.service, op.destination, op.config);
      return { operation: op, outcome: 'converted' };
    }
  } catch (err2) {
    return failure(op, err2);
  }
  if ((op.kind === 'deleteService' || op.kind === 'deleteDestination' || op.kind === 'drainDestination') && GONE.has(code)) {
    return failure(op, err, 'skipped');
  }
  if ((op.kind === 'addDestination' || op.kind === 'updateDestination') && code === 'NO_SUCH_SERVICE') {
    // The service vanished under us (deleted by hand): nothing to add to; the reconciler re-reads it.
    return failure(op, err, 'skipped');
  }
  return failure(op, err);
}
