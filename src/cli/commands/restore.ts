import type { Command } from 'commander';
import { readBoundedStdin } from '../../bounded-read.ts';
import { applyRestore } from '../ipvsadm/apply.ts';
import { parseRestore } from '../ipvsadm/parse.ts';
import { planRestore } from '../ipvsadm/plan.ts';
import { netnsOption, withIpvsClient } from '../netns-option.ts';
import { maxSizeOption } from '../size-option.ts';
import { readIpvsTable } from './list.ts';

// `ipvs-maglev restore`: reads `ipvsadm -R` input on stdin and applies it. The whole input is
// parsed and checked against the current table before the first write; a kernel refusal
// part-way rolls back what was applied (see ../ipvsadm/apply.ts for what "all or nothing" covers).

/** Default limit of restore's stdin: ~1.5 million rules. */
const DEFAULT_MAX_RESTORE_INPUT = 64 * 1024 * 1024;

const HELP_AFTER = `
All or nothing, and where that ends:
  - Every line is parsed and checked against the current table before the first write.
  - A write the kernel refuses rolls back, newest first, everything already applied.
  - If the kernel connection fails mid-way, or an undo fails, the table is read back and whatever
    differs from the table before the restore is written back, then checked again.
  - -Z (zero counters) cannot be undone: zeroing runs last, after every other line took effect, so a
    restore that rolls back has zeroed nothing (a failing -Z itself rolls back the rules; counters it
    zeroed before failing stay zero).
  - Left as is by a rollback: packet and byte counters, and the order of a destination that was removed
    and re-added (an mh table is built from that order).
  - If the kernel cannot be reached or read at all, the error says the table may be partly changed.
`;

async function readStdin(maxBytes: number): Promise<string> {
  if (process.stdin.isTTY) throw new Error('restore reads rules on stdin, e.g. `ipvsadm -S -n | ipvs-maglev restore` or `ipvs-maglev restore < rules`');
  return readBoundedStdin({ maxBytes, what: 'restore: stdin', raiseWith: '--max-input-size' });
}

export function registerRestore(program: Command): void {
  program
    .command('restore')
    .description('Apply `ipvsadm -R` input from stdin (e.g. `ipvsadm -S -n | ipvs-maglev restore`): all or nothing')
    .option('--dry-run', 'parse and check against the current table, print what would be done, change nothing')
    .addOption(maxSizeOption('--max-input-size', 'restore input', DEFAULT_MAX_RESTORE_INPUT))
    .addOption(netnsOption())
    .addHelpText('after', HELP_AFTER)
    .action(async (flags: { dryRun?: boolean; netns?: string; maxInputSize: number }) => {
      const text = await readStdin(flags.maxInputSize);
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
          const target = {
            batch: (o: Parameters<typeof client.batch>[0]) => client.batch(o),
            zero: (s?: Parameters<typeof client.zero>[0]) => client.zero(s),
            setTimeouts: (t: Parameters<typeof client.setTimeouts>[0]) => client.setTimeouts(t),
            readTable: () => readIpvsTable(client),
          };
          await applyRestore(target, steps, table);
        } catch (e) {
          throw new Error(`restore: stdin ${e instanceof Error ? e.message : String(e)}`);
        }
      });
    });
}
