import type { BatchResult, IpvsOperation } from '../../ipvs/client.ts';
import type { IpvsTimeouts, ServiceKey } from '../../ipvs/types.ts';
import type { RestoreStep } from './plan.ts';

// Applies planned restore steps through the client, pipelining runs of writes with batch().
// On the first refusal it undoes, newest first, every step that took effect, so a restore
// either applies whole or leaves the table as it found it (counters aside).

/** What applying needs from the IPVS client (IpvsClient has it; tests pass a fake). */
export interface RestoreTarget {
  batch(ops: readonly IpvsOperation[]): Promise<BatchResult>;
  zero(service?: ServiceKey): Promise<void>;
  setTimeouts(timeouts: IpvsTimeouts): Promise<void>;
}

export class RestoreApplyError extends Error {
  readonly code = 'RESTORE_APPLY';
  readonly line: number;
  /** Undo operations that failed; 0 means the table is back as it was. */
  readonly rollbackFailures: number;
  constructor(line: number, message: string, rollbackFailures: number) {
    super(`line ${line}: ${message}`);
    this.name = 'RestoreApplyError';
    this.line = line;
    this.rollbackFailures = rollbackFailures;
  }
}

type Undo = { kind: 'write'; ops: IpvsOperation[] } | { kind: 'timeouts'; timeouts: IpvsTimeouts };

async function rollback(target: RestoreTarget, undos: Undo[]): Promise<{ failures: number; first?: string }> {
  let failures = 0;
  let first: string | undefined;
  const note = (msg: string): void => {
    failures++;
    first ??= msg;
  };
  let pending: IpvsOperation[] = [];
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const ops = pending;
    pending = [];
    try {
      const results = await target.batch(ops);
      for (const r of results) if (r) note(r.message);
    } catch (e) {
      failures += ops.length;
      first ??= e instanceof Error ? e.message : String(e);
    }
  };
  for (let i = undos.length - 1; i >= 0; i--) {
    const u = undos[i];
    if (u.kind === 'write') {
      pending.push(...u.ops);
      continue;
    }
    await flush();
    try {
      await target.setTimeouts(u.timeouts);
    } catch (e) {
      note(e instanceof Error ? e.message : String(e));
    }
  }
  await flush();
  return { failures, first };
}

async function fail(target: RestoreTarget, undos: Undo[], line: number, reason: string): Promise<never> {
  const rb = await rollback(target, undos);
  const undone = undos.length;
  const tail =
    rb.failures === 0
      ? `nothing applied (${undone} operation${undone === 1 ? '' : 's'} rolled back)`
      : `ROLLBACK INCOMPLETE: ${rb.failures} undo operation(s) failed, first: ${rb.first}; check the table with ipvs-maglev list`;
  throw new RestoreApplyError(line, `${reason}; ${tail}`, rb.failures);
}

/** Applies the steps in order; returns how many kernel writes were made. */
export async function applyRestore(target: RestoreTarget, steps: RestoreStep[]): Promise<number> {
  const undos: Undo[] = [];
  let writes = 0;
  let i = 0;
  while (i < steps.length) {
    const step = steps[i];
    if (step.kind === 'write') {
      const run: Array<Extract<RestoreStep, { kind: 'write' }>> = [];
      while (i < steps.length && steps[i].kind === 'write') run.push(steps[i++] as Extract<RestoreStep, { kind: 'write' }>);
      let results: BatchResult;
      try {
        results = await target.batch(run.map((s) => s.op));
      } catch (e) {
        // The batch as a whole failed (socket, timeout): which writes landed is unknown.
        const msg = e instanceof Error ? e.message : String(e);
        throw new RestoreApplyError(run[0].line, `${msg}; the table may be partly changed: check it with ipvs-maglev list`, -1);
      }
      let failed: { line: number; message: string } | undefined;
      for (let k = 0; k < run.length; k++) {
        const r = results[k];
        if (r) failed ??= { line: run[k].line, message: r.message };
        else {
          undos.push({ kind: 'write', ops: run[k].undo });
          writes++;
        }
      }
      if (failed) await fail(target, undos, failed.line, `the kernel refused it: ${failed.message}`);
      continue;
    }
    i++;
    try {
      if (step.kind === 'zero') await target.zero(step.service);
      else {
        await target.setTimeouts(step.timeouts);
        undos.push({ kind: 'timeouts', timeouts: step.undo });
      }
      writes++;
    } catch (e) {
      await fail(target, undos, step.line, `the kernel refused it: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return writes;
}
