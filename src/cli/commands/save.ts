import type { Command } from 'commander';
import { formatSave } from '../ipvsadm/format.ts';
import { netnsOption, withIpvsClient } from '../netns-option.ts';
import { readIpvsTable } from './list.ts';

// `ipvs-maglev save`: the current table in `ipvsadm -S -n` format (feed it to `ipvsadm -R`
// or `ipvs-maglev restore`).

export function registerSave(program: Command): void {
  program
    .command('save')
    .description('Print the IPVS table in `ipvsadm -S -n` format')
    .option('--thresholds', 'also save destination thresholds as -x/-y (ipvsadm -S drops them; ipvsadm -R accepts them)')
    .addOption(netnsOption())
    .action(async (flags: { thresholds?: boolean; netns?: string }) => {
      const text = await withIpvsClient(flags.netns, async (client) => formatSave(await readIpvsTable(client), { thresholds: flags.thresholds }));
      process.stdout.write(text);
    });
}
