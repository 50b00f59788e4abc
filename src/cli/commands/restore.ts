import type { Command } from 'commander';
import { applyRestore } from '../ipvsadm/apply.ts';
import { parseRestore } from '../ipvsadm/parse.ts';
import { planRestore } from '../ipvsadm/plan.ts';
import { netnsOption, withIpvsClient } from '../netns-option.ts';
import { readIpvsTable } from './list.ts';

// `ipvs-maglev restore`: reads `ipvsadm -R` input on stdin and applies it. The whole input is
// parsed and checked against the current table before the first write; a kernel refusal
// part-way rolls back what was applied.

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new Error('restore reads rules on stdin, e.g. `ipvsadm -S -n | ipvs-maglev restore` or `ipvs-maglev restore < rules`');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

export function registerRestore(program: Command): void {
  program
    .command('restore')
    .description('Apply `ipvsadm -R` input from stdin (e.g. `ipvsadm -S -n | ipvs-maglev restore`): all or nothing')
    .option('--dry-run', 'parse and check against the current table, print what would be done, change nothing')
    .addOption(netnsOption())
    .action(async (flags: { dryRun?: boolean; netns?: string }) => {
      const text = await readStdin();
      let ops: ReturnType<typeof parseRestore>;
      try {
        ops = parseRestore(text);
      } catch (e) {
        throw new Error(`restore: stdin ${e instanceof Error ? e.message : String(e)}`);
      }
      await withIpvsClient(flags.netns, async (client) => {
        const [table, timeouts] = await Promise.all([readIpvsTable(client), client.getTimeouts()]);
        let steps: ReturnType<typeof planRestore>;
        try {
          steps = planRestore(ops, table, timeouts);
        } catch (e) {
          throw new Error(`restore: stdin ${e instanceof Error ? e.message : String(e)}; nothing applied`);
        }
        if (flags.dryRun) {
          process.stdout.write(`restore: ${ops.length} command(s) checked, ${steps.length} kernel operation(s) would be applied\n`);
          return;
        }
        try {
          await applyRestore(client, steps);
        } catch (e) {
          throw new Error(`restore: stdin ${e instanceof Error ? e.message : String(e)}`);
        }
      });
    });
}
