import type { Command } from 'commander';
import { reportConfigError } from '../../app/config.ts';
import { DEFAULT_INTERFACE, DEFAULT_STATE_DIR } from '../../app/defaults.ts';
import { EXIT_KERNEL, kernelErrorMessage } from '../../app/exit.ts';
import { destinationKeyString, openIpvs, openVips, serviceKeyString } from '../../ipvs/index.ts';
import type { DestinationConfig, ServiceConfig, VipApi } from '../../ipvs/index.ts';
import { FileStateStore, Reconciler } from '../../reconcile/index.ts';
import type { Operation, Plan } from '../../reconcile/index.ts';
import { loadConfigFile } from '../../sources/file/index.ts';
import { maxConfigSizeOption } from './validate.ts';

// `ipvs-maglev plan --config lb.yaml`: a dry run. Reads the kernel (and the ownership state file),
// prints the operations `run` would apply and, per mh service, the share of flows they would move.
// Nothing is written: not the kernel, not the VIP interface, not the state file.

/** A VIP binder that reads but never writes: the dry run must not even create the interface. */
export function readOnlyVips(real: VipApi): VipApi {
  return {
    ensureInterface: async () => {},
    listAddresses: async () => {
      try {
        return await real.listAddresses();
      } catch {
        return []; // no interface yet: nothing bound
      }
    },
    addAddress: async () => {
      throw new Error('dry run: no address is bound');
    },
    removeAddress: async () => {
      throw new Error('dry run: no address is unbound');
    },
  };
}

function flagNames(c: ServiceConfig): string {
  const f = c.flags;
  const names: string[] = [];
  const sched = c.scheduler === 'sh' ? 'sh' : 'mh';
  if (f.portHash) names.push(`${sched}-port`);
  if (f.fallback) names.push(`${sched}-fallback`);
  if (f.onePacket) names.push('one-packet');
  if (f.persistent) names.push(`persistent ${c.timeout}s`);
  return names.length > 0 ? ` [${names.join(', ')}]` : '';
}

function destText(c: DestinationConfig): string {
  return `weight ${c.weight}, ${c.forwarding}`;
}

export function describeOperation(op: Operation): string {
  switch (op.kind) {
    case 'addService':
      return `+ service     ${op.name} (${serviceKeyString(op.service)}) scheduler ${op.config.scheduler}${flagNames(op.config)}`;
    case 'updateService':
      return `~ service     ${op.name} (${serviceKeyString(op.service)}) -> scheduler ${op.config.scheduler}${flagNames(op.config)}`;
    case 'deleteService':
      return `- service     ${op.name} (${serviceKeyString(op.service)})`;
    case 'addDestination':
      return `+ destination ${op.name} -> ${destinationKeyString(op.destination)} (${destText(op.config)})${op.reorder ? ' re-added at the head: canonical mh order' : ''}`;
    case 'updateDestination':
      return `~ destination ${op.name} -> ${destinationKeyString(op.destination)} (${destText(op.config)})`;
    case 'drainDestination':
      return `~ destination ${op.name} -> ${destinationKeyString(op.destination)} drain (weight 0 until its connections end)`;
    case 'deleteDestination':
      return op.reason === 'reorder'
        ? `- destination ${op.name} -> ${destinationKeyString(op.destination)} (reorder: re-added by the next operation)`
        : `- destination ${op.name} -> ${destinationKeyString(op.destination)} (${op.reason})`;
    case 'bindAddress':
      return `+ address     ${op.address}`;
    case 'unbindAddress':
      return `- address     ${op.address}`;
  }
}

export function formatPlan(plan: Plan, interfaceName: string): string {
  const lines: string[] = [];
  if (plan.operations.length === 0) lines.push('No changes: the kernel already matches the configuration.');
  else {
    lines.push(`${plan.operations.length} operation${plan.operations.length === 1 ? '' : 's'} (in the order run would apply them):`);
    for (const op of plan.operations) lines.push(`  ${describeOperation(op).replace(/^([+~-] address\s+\S+)$/, `$1 on ${interfaceName}`)}`);
  }
  if (plan.flowMoves.length > 0) {
    lines.push('', 'Flows moved, per mh service (kernel-exact Maglev, kernel destination order):');
    for (const m of plan.flowMoves) {
      lines.push(`  ${m.name} (${m.service}): ${pct(m.changedFraction)} of flows move; the least any consistent hash could move: ${pct(m.minimumFraction)}`);
    }
  }
  if (plan.conflicts.length > 0) {
    lines.push('', 'Left alone (exists in the kernel but not made by ipvs-maglev):');
    for (const c of plan.conflicts) lines.push(`  ${c.name} (${c.service}): ${c.reason}`);
  }
  if (plan.draining > 0) lines.push('', `${plan.draining} destination(s) draining.`);
  return `${lines.join('\n')}\n`;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('dry run: show the IPVS operations `run` would apply for a configuration and the share of flows they move; changes nothing')
    .requiredOption('-c, --config <file>', 'the configuration file')
    .option('--state-dir <dir>', 'where run keeps its ownership state (read only here)', DEFAULT_STATE_DIR)
    .option('--interface <name>', 'dummy interface that holds the VIPs', DEFAULT_INTERFACE)
    .option('--netns <name>', 'network namespace (/var/run/netns/NAME) whose IPVS to read')
    .option('--json', 'print the plan as JSON')
    .addOption(maxConfigSizeOption())
    .action(async (opts: { config: string; stateDir: string; interface: string; netns?: string; json?: boolean; maxConfigSize: number }) => {
      let config: Awaited<ReturnType<typeof loadConfigFile>>;
      try {
        config = await loadConfigFile(opts.config, { maxBytes: opts.maxConfigSize });
      } catch (err) {
        reportConfigError(err);
        return;
      }
      let ipvs: Awaited<ReturnType<typeof openIpvs>> | undefined;
      let vips: Awaited<ReturnType<typeof openVips>> | undefined;
      try {
        ipvs = await openIpvs({ netns: opts.netns });
        vips = await openVips({ interfaceName: opts.interface, netns: opts.netns });
        const reconciler = new Reconciler({
          ipvs,
          vips: readOnlyVips(vips),
          store: new FileStateStore(opts.stateDir),
          drainTimeoutMs: config.settings.drainTimeoutMs,
        });
        // Health is not probed in a dry run: every backend counts as healthy.
        const plan = await reconciler.preview(config.desired);
        if (opts.json) process.stdout.write(`${JSON.stringify({ operations: plan.operations, flowMoves: plan.flowMoves, conflicts: plan.conflicts, draining: plan.draining }, null, 2)}\n`);
        else process.stdout.write(formatPlan(plan, opts.interface));
      } catch (err) {
        const message = kernelErrorMessage(err);
        if (message === undefined) throw err;
        process.stderr.write(`ipvs-maglev: ${message}\n`);
        process.exitCode = EXIT_KERNEL;
      } finally {
        ipvs?.close();
        vips?.close();
      }
    });
}
