import type { Command } from 'commander';
import { reportConfigError, summary } from '../../app/config.ts';
import { DEFAULT_MAX_CONFIG_BYTES, loadConfigFile } from '../../sources/file/index.ts';
import { maxSizeOption } from '../size-option.ts';

// `ipvs-maglev validate --config lb.yaml`: read and check a configuration, change nothing.
// Exit 0 when valid, 2 when not (every problem listed with file:line:column and field path).

/** `--max-config-size` for every command that reads a configuration file (validate, plan, run). */
export function maxConfigSizeOption() {
  return maxSizeOption('--max-config-size', 'a configuration file', DEFAULT_MAX_CONFIG_BYTES);
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check a load-balancer configuration file (YAML) and report every problem; changes nothing')
    .requiredOption('-c, --config <file>', 'the configuration file (see examples/README.md)')
    .option('--json', 'print the desired state the file describes as JSON')
    .addOption(maxConfigSizeOption())
    .action(async (opts: { config: string; json?: boolean; maxConfigSize: number }) => {
      try {
        const config = await loadConfigFile(opts.config, { maxBytes: opts.maxConfigSize });
        if (opts.json) process.stdout.write(`${JSON.stringify({ desired: config.desired, health: config.health, quorum: config.quorum, settings: config.settings }, null, 2)}\n`);
        else process.stdout.write(`${opts.config}: valid (${summary(config)})\n`);
      } catch (err) {
        reportConfigError(err);
      }
    });
}
