import { IpvsError } from '../ipvs/errors.ts';
import type { IpvsApi, VipApi } from '../ipvs/types.ts';
import { svcId } from './compare.ts';
import {
  type ApplyResult,
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
  for (const operation of plan.operations) {
    let result: OperationResult;
    const sid = 'service' in operation ? svcId(operation.service) : undefined;
    if (sid !== undefined && failedServices.has(sid)) {
      result = { operation, outcome: 'failed', error: { code: 'SERVICE_FAILED', message: `not attempted: an earlier operation on ${sid} failed` } };
    } else if (sid !== undefined && goneServices.has(sid) && operation.kind !== 'addService' && operation.kind !== 'updateService') {
      result = { operation, outcome: 'skipped', error: { code: 'NO_SUCH_SERVICE', message: `not attempted: ${sid} is not in the kernel` } };
    } else {
      result = await applyOne(operation, ipvs, vips);
      if (sid !== undefined && result.error?.code === 'NO_SUCH_SERVICE' && operation.kind !== 'deleteService') goneServices.add(sid);
    }
    if (result.outcome === 'failed') {
      failed++;
      if (sid !== undefined) failedServices.add(sid);
    }
    counts[operation.kind][result.outcome]++;
    results.push(result);
    options.onResult?.(result);
  }
  return { results, counts, failedServices, failed };
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
}
