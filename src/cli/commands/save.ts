import type { Command } from 'commander';
import { formatSave, type ServiceWithDestinations } from '../ipvsadm/format.ts';
import { netnsOption, withIpvsClient } from '../netns-option.ts';
import { readIpvsTable } from './list.ts';

// `ipvs-maglev save`: the current table in `ipvsadm -S -n` format (feed it to `ipvsadm -R`
// or `ipvs-maglev restore`).

/**
 * The table as `save --kernel-order` writes it: services as the kernel dumps them, each one's destinations in
 * the order they were added (the kernel's list reversed: new destinations go to its head), so that restoring
 * the file, one add after the other, rebuilds the same lists — and the same `mh` tables.
 */
export function inAdditionOrder(table: readonly ServiceWithDestinations[]): ServiceWithDestinations[] {
  return table.map((e) => ({ service: e.service, destinations: [...e.destinations].reverse() }));
}

export function registerSave(program: Command): void {
  program
    .command('save')
    .description('Print the IPVS table in `ipvsadm -S -n` format')
    .option('--thresholds', 'also save destination thresholds as -x/-y (ipvsadm -S drops them; ipvsadm -R accepts them)')
    .option(
      '--kernel-order',
      "keep the kernel's order instead of ipvsadm's sort: destinations in the order they were added, so restoring the file rebuilds the same mh tables (what `audit` compares)",
    )
    .addOption(netnsOption())
    .action(async (flags: { thresholds?: boolean; kernelOrder?: boolean; netns?: string }) => {
      const text = await withIpvsClient(flags.netns, async (client) => {
        const table = await readIpvsTable(client);
        if (flags.kernelOrder) return formatSave(inAdditionOrder(table), { thresholds: flags.thresholds, noSort: true });
        return formatSave(table, { thresholds: flags.thresholds });
      });
      process.stdout.write(text);
    });
}
