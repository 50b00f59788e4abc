import type { IpvsApi, IpvsOperation, IpvsTimeouts } from '../../ipvs/types.ts';
import { formatSave, type ServiceWithDestinations } from './format.ts';
import { type RestoreStep, tableRepairOps } from './plan.ts';

// Applies planned restore steps through the client, pipelining runs of writes with batch().
// On the first refusal it undoes, newest first, every step that took effect. When which writes took
// effect is unknown (a batch failed as a whole: socket error, timeout) or an undo failed, it reads the
// table back and writes whatever differs from the table as it was before the restore, then reads it
// again to check. So a restore applies whole or leaves the table as it found it, counters aside, unless
// the kernel cannot be reached or read at all, which the error then says.

/** What applying needs from the IPVS client (IpvsClient has it; tests pass a fake). */
export interface RestoreTarget extends Pick<IpvsApi, 'zero' | 'setTimeouts'> {
  /** Required here: a restore pipelines each run of writes (see IpvsApi.batch). */
  batch: NonNullable<IpvsApi['batch']>;
  /** The whole table now (for a rollback by comparison); without it such a rollback is not possible. */
  readTable?(): Promise<ServiceWithDestinations[]>;
}

export class RestoreApplyError extends Error {
  readonly code = 'RESTORE_APPLY';
  readonly line: number;
  /** Undo operations that failed; 0 means the table is back as it was, -1 that its state is unknown. */
  readonly rollbackFailures: number;
  constructor(line: number, message: string, rollbackFailures: number) {
    super(`line ${line}: ${message}`);
    this.name = 'RestoreApplyError';
    this.line = line;
    this.rollbackFailures = rollbackFailures;
  }
}

type Undo = { kind: 'write'; ops: IpvsOperation[] } | { kind: 'timeouts'; timeouts: IpvsTimeouts };

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

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
      first ??= messageOf(e);
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
      note(messageOf(e));
    }
  }
  await flush();
  return { failures, first };
}

/** Timeouts back to the oldest value an applied step replaced (the timeouts are not part of a table read). */
async function restoreTimeouts(target: RestoreTarget, undos: Undo[]): Promise<string | undefined> {
  const first = undos.find((u): u is Extract<Undo, { kind: 'timeouts' }> => u.kind === 'timeouts');
  if (!first) return undefined;
  try {
    await target.setTimeouts(first.timeouts);
    return undefined;
  } catch (e) {
    return `timeouts: ${messageOf(e)}`;
  }
}

/**
 * Rollback by comparison: read the table, write what differs from `before`, read again. Returns how it
 * went: 'restored' (the table equals `before`), or why not.
 */
async function repairFromTable(target: RestoreTarget, before: ServiceWithDestinations[] | undefined, undos: Undo[]): Promise<{ restored: boolean; detail: string }> {
  if (!target.readTable || !before) return { restored: false, detail: 'the table cannot be read back here' };
  const want = formatSave(before);
  try {
    const ops = tableRepairOps(before, await target.readTable());
    let refused = 0;
    if (ops.length > 0) for (const r of await target.batch(ops)) if (r) refused++;
    const timeouts = await restoreTimeouts(target, undos);
    const after = formatSave(await target.readTable());
    if (after === want && timeouts === undefined) return { restored: true, detail: `${ops.length} write(s) after reading the table back` };
    return { restored: false, detail: `the table still differs from before the restore (${refused} of ${ops.length} repair write(s) refused${timeouts ? `; ${timeouts}` : ''})` };
  } catch (e) {
    return { restored: false, detail: `the table could not be read back or repaired: ${messageOf(e)}` };
  }
}

async function fail(target: RestoreTarget, undos: Undo[], line: number, reason: string, before: ServiceWithDestinations[] | undefined, zeroed: number): Promise<never> {
  const rb = await rollback(target, undos);
  const undone = undos.length;
  const counters = zeroed > 0 ? `; counters zeroed by ${zeroed} -Z step(s) before it stay zeroed` : '';
  if (rb.failures === 0) {
    throw new RestoreApplyError(line, `${reason}; nothing applied (${undone} operation${undone === 1 ? '' : 's'} rolled back)${counters}`, 0);
  }
  const repair = await repairFromTable(target, before, undos);
  if (repair.restored) {
    throw new RestoreApplyError(line, `${reason}; nothing applied (${rb.failures} undo operation(s) failed, first: ${rb.first}; the table was put back by comparison: ${repair.detail})${counters}`, 0);
  }
  throw new RestoreApplyError(
    line,
    `${reason}; ROLLBACK INCOMPLETE: ${rb.failures} undo operation(s) failed, first: ${rb.first}; ${repair.detail}; check the table with ipvs-maglev list${counters}`,
    rb.failures,
  );
}

/**
 * Applies the steps in order; returns how many kernel writes were made. `before` is the table the steps
 * were planned against: with it (and a target that can read its table), a failure whose effect is unknown
 * is rolled back by comparison.
 */
export async function applyRestore(target: RestoreTarget, steps: RestoreStep[], before?: ServiceWithDestinations[]): Promise<number> {
  const undos: Undo[] = [];
  let writes = 0;
  let zeroed = 0;
  let i = 0;
  while (i < steps.length) {
    const step = steps[i];
    if (step.kind === 'write') {
      const run: Array<Extract<RestoreStep, { kind: 'write' }>> = [];
      while (i < steps.length && steps[i].kind === 'write') run.push(steps[i++] as Extract<RestoreStep, { kind: 'write' }>);
      let results: ReadonlyArray<Error | undefined>;
      try {
        results = await target.batch(run.map((s) => s.op));
      } catch (e) {
        // The batch as a whole failed (socket, timeout): which of its writes landed is unknown, so undoing
        // step by step is blind. Compare with the table as it was instead.
        let repair: { restored: boolean; detail: string };
        if (target.readTable && before) repair = await repairFromTable(target, before, undos);
        else {
          const rb = await rollback(target, undos);
          repair = { restored: false, detail: `the writes before it were undone (${rb.failures} undo failure(s)); the table cannot be read back here` };
        }
        const head = `the kernel connection failed: ${messageOf(e)}`;
        if (repair.restored) throw new RestoreApplyError(run[0].line, `${head}; nothing applied (the table was put back by comparison: ${repair.detail})`, 0);
        throw new RestoreApplyError(run[0].line, `${head}; the table may be partly changed (${repair.detail}): check it with ipvs-maglev list`, -1);
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
      if (failed) await fail(target, undos, failed.line, `the kernel refused it: ${failed.message}`, before, zeroed);
      continue;
    }
    i++;
    try {
      if (step.kind === 'zero') {
        await target.zero(step.service);
        zeroed++;
      } else {
        await target.setTimeouts(step.timeouts);
        undos.push({ kind: 'timeouts', timeouts: step.undo });
      }
      writes++;
    } catch (e) {
      await fail(target, undos, step.line, `the kernel refused it: ${messageOf(e)}`, before, zeroed);
    }
  }
  return writes;
}
