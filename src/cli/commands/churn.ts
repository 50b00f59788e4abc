// `ipvs-maglev churn`: how much of the table (so of the flows) a change of destinations moves,
// against the least any algorithm would have to move.

import { type Command, InvalidArgumentError } from 'commander';
import { diffTables } from '../../maglev/index.ts';
import { buildTable, collect, DEST_HELP, flavorOption, parseDests, sizeOption, type Flavor } from './table.ts';

interface ChurnFlags {
  flavor: Flavor;
  size?: number;
  before: string[];
  after: string[];
  json?: boolean;
}

export function registerChurn(program: Command): void {
  program
    .command('churn')
    .description('Share of slots a change of destinations moves, and the minimum possible')
    .addOption(flavorOption())
    .addOption(sizeOption())
    .option('--before <dests>', `destinations before: ${DEST_HELP}`, collect, [])
    .option('--after <dests>', 'destinations after, same form', collect, [])
    .option('--json', 'print JSON')
    .action((flags: ChurnFlags) => {
      const before = parseDests(flags.before, '--before');
      const after = parseDests(flags.after, '--after');
      if (flags.flavor === 'maglev' && (before.length === 0 || after.length === 0)) {
        throw new InvalidArgumentError('the maglev flavour needs at least one destination in --before and in --after');
      }
      const d = diffTables(buildTable(flags.flavor, before, flags.size), buildTable(flags.flavor, after, flags.size));
      const overMinimum = d.minimumSlots > 0 ? d.changedSlots / d.minimumSlots : d.changedSlots === 0 ? 1 : null;
      const report = { flavor: flags.flavor, ...d, overMinimum };
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(report)}\n`);
        return;
      }
      const pct = (f: number): string => `${(f * 100).toFixed(3)}%`;
      process.stdout.write(
        `changed ${pct(d.changedFraction)} of slots (${d.changedSlots} of ${d.size})\n` +
          `minimum ${pct(d.minimumFraction)} (${d.minimumSlots})\n` +
          `ratio   ${overMinimum === null ? 'n/a (the minimum is 0)' : `${overMinimum.toFixed(2)}x the minimum`}\n` +
          (d.drainedSlots > 0 ? `drained ${pct(d.drainedFraction)} of slots (${d.drainedSlots}) keep a destination that takes no new connections\n` : ''),
      );
    });
}
